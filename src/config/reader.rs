//! Typed access to one component's properties (Flume's `Context`), with diagnostics.
//!
//! A component's settings parser asks the reader for each key it understands. The reader records
//! what was asked, so that afterwards every key in the file that nobody asked for can be reported
//! as ignored — together with the list of keys the component does understand. This is how rflume
//! catches `a1.sinks.k1.kafka.flumeBatchSize` (which Flume silently ignores) without a hand-kept
//! list of typos.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use super::diag::Diagnostics;
use super::secret;

/// The properties of one component: `a1.sinks.k1.kafka.topic = t` is stored as `kafka.topic`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ComponentProps {
    pub name: String,
    /// `a1.sinks.k1.` — used to print full keys in diagnostics.
    pub prefix: String,
    pub props: BTreeMap<String, (String, usize)>,
}

/// Values of secret keys (passwords, JAAS lines) print as `******`.
impl std::fmt::Debug for ComponentProps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let props: BTreeMap<&str, (&str, usize)> = self
            .props
            .iter()
            .map(|(k, (v, line))| (k.as_str(), (secret::shown(k, v), *line)))
            .collect();
        f.debug_struct("ComponentProps")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("props", &props)
            .finish()
    }
}

impl ComponentProps {
    /// Sink `k1` of agent `a1` with `pairs`, the n-th pair on line n: a test fixture shared by
    /// the component parsers' unit tests.
    #[cfg(test)]
    pub fn sink_for_test(pairs: &[(&str, &str)]) -> Self {
        ComponentProps {
            name: "k1".into(),
            prefix: "a1.sinks.k1.".into(),
            props: pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (k.to_string(), (v.to_string(), i + 1)))
                .collect(),
        }
    }

    pub fn first_line(&self) -> Option<usize> {
        self.props.values().map(|(_, l)| *l).min()
    }
    pub fn value(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(|(v, _)| v.as_str())
    }
    pub fn line(&self, key: &str) -> Option<usize> {
        self.props.get(key).map(|(_, l)| *l)
    }
}

pub struct PropReader<'a> {
    comp: &'a ComponentProps,
    diags: &'a mut Diagnostics,
    asked: BTreeSet<String>,
    asked_prefixes: BTreeSet<String>,
    /// Keys asked for only to be accepted under another name (deprecated names): they are read,
    /// but the setting they carry is reported under its new name.
    aliases: BTreeSet<String>,
    /// Keys marked understood without being read as a setting ([`PropReader::known`]).
    accepted: BTreeSet<String>,
    failed: bool,
    /// The failure is that rflume cannot run something Flume would (not a config error).
    unsupported: bool,
}

impl<'a> PropReader<'a> {
    pub fn new(comp: &'a ComponentProps, diags: &'a mut Diagnostics) -> Self {
        PropReader {
            comp,
            diags,
            asked: BTreeSet::new(),
            asked_prefixes: BTreeSet::new(),
            aliases: BTreeSet::new(),
            accepted: BTreeSet::new(),
            failed: false,
            unsupported: false,
        }
    }

    pub fn component(&self) -> &str {
        &self.comp.name
    }

    pub fn full_key(&self, key: &str) -> String {
        format!("{}{}", self.comp.prefix, key)
    }

    pub fn line(&self, key: &str) -> Option<usize> {
        self.comp.line(key)
    }

    /// Whether an error was reported: the component cannot be built.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Whether the component cannot be built because rflume lacks something Flume has (it is
    /// not a configuration error).
    pub fn is_unsupported(&self) -> bool {
        self.unsupported
    }

    /// The line a diagnostic about `key` points at: the key's own line, else the component's
    /// `type` line (a missing key is reported where the component is declared), else its first.
    pub fn location(&self, key: &str, line: Option<usize>) -> Option<usize> {
        line.or_else(|| self.comp.line(key))
            .or_else(|| self.comp.line("type"))
            .or_else(|| self.comp.first_line())
    }

    /// `FILE:LINE` of `line` (a line this reader returned), for an error the component reports
    /// at run time about a setting (e.g. a lookup at start that fails).
    pub fn file_line(&self, line: Option<usize>) -> String {
        self.diags.location(line)
    }

    /// Marks `key` as understood without reading it (keys handled elsewhere, e.g. `type`).
    pub fn known(&mut self, key: &str) {
        self.asked.insert(key.to_string());
        self.accepted.insert(key.to_string());
    }

    /// Marks every key under `prefix` as understood.
    pub fn known_prefix(&mut self, prefix: &str) {
        self.asked_prefixes.insert(prefix.to_string());
    }

    /// A key that is accepted but carries no setting (Flume ignores it too, or it names a
    /// deprecated mechanism): returns its value and line so that the caller can warn.
    pub fn ignored(&mut self, key: &str) -> Option<(&'a str, usize)> {
        self.known(key);
        self.comp.props.get(key).map(|(v, l)| (v.as_str(), *l))
    }

    pub fn raw(&mut self, key: &str) -> Option<(&'a str, usize)> {
        self.asked.insert(key.to_string());
        self.comp.props.get(key).map(|(v, l)| (v.as_str(), *l))
    }

    pub fn opt_string(&mut self, key: &str) -> Option<String> {
        self.raw(key).map(|(v, _)| v.to_string())
    }

    pub fn string(&mut self, key: &str, default: &str) -> String {
        self.opt_string(key).unwrap_or_else(|| default.to_string())
    }

    /// A required key: reports "missing" with `hint` when absent.
    pub fn required(&mut self, key: &str, hint: &str) -> Option<String> {
        let v = self.opt_string(key);
        if v.is_none() {
            let line = self.location(key, None);
            let full = self.full_key(key);
            self.failed = true;
            self.diags.error(
                line,
                full,
                "required property is missing",
                Some(hint.to_string()),
            );
        }
        v
    }

    /// A value parsed with `FromStr`; an unparsable value is an error naming what was expected.
    pub fn parse<T: FromStr>(&mut self, key: &str, expected: &str) -> Option<T> {
        let (v, line) = self.raw(key)?;
        match v.parse::<T>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(key, Some(line), format!("'{v}' is not {expected}"), None);
                None
            }
        }
    }

    pub fn parse_or<T: FromStr>(&mut self, key: &str, expected: &str, default: T) -> T {
        self.parse(key, expected).unwrap_or(default)
    }

    /// A positive integer (Flume's batch sizes, capacities, intervals).
    pub fn positive(&mut self, key: &str, default: u64) -> u64 {
        match self.parse::<i64>(key, "an integer") {
            Some(v) if v > 0 => v as u64,
            Some(v) => {
                let line = self.line(key);
                self.error(
                    key,
                    line,
                    format!("must be greater than 0, got {v}"),
                    Some(format!("Flume's default is {default}")),
                );
                default
            }
            None => default,
        }
    }

    /// A positive Java `int` (Flume's `Context.getInteger`: batch sizes, capacities): a value
    /// beyond 2147483647 is what `Integer.parseInt` refuses, so Flume drops the component and
    /// rflume reports an error.
    pub fn positive_int(&mut self, key: &str, default: u64) -> u64 {
        let v = self.positive(key, default);
        if v > i32::MAX as u64 {
            let line = self.line(key);
            self.error(
                key,
                line,
                format!("{v} is larger than a Java int (2147483647), which Flume cannot read"),
                Some(format!("Flume's default is {default}")),
            );
            return default;
        }
        v
    }

    /// A non-negative integer.
    pub fn non_negative(&mut self, key: &str, default: u64) -> u64 {
        match self.parse::<i64>(key, "an integer") {
            Some(v) if v >= 0 => v as u64,
            Some(v) => {
                let line = self.line(key);
                self.error(
                    key,
                    line,
                    format!("must not be negative, got {v}"),
                    Some(format!("Flume's default is {default}")),
                );
                default
            }
            None => default,
        }
    }

    /// `true`/`false`, any case, as Flume's `Context.getBoolean` reads it
    /// (`Boolean.parseBoolean` of the trimmed value): anything but `true` is `false`. Flume says
    /// nothing about `restart = yes`; rflume runs it the same way and warns.
    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        let Some((v, line)) = self.raw(key) else {
            return default;
        };
        let v = v.trim();
        if v.eq_ignore_ascii_case("true") {
            true
        } else {
            if !v.eq_ignore_ascii_case("false") {
                self.warn(
                    key,
                    Some(line),
                    format!("'{v}' is read as false, as Flume does"),
                    Some("write true or false".to_string()),
                );
            }
            false
        }
    }

    /// A deprecated key: returns its value only when the new key is absent (Flume's
    /// `translateOldProps`), and warns either way.
    pub fn deprecated(&mut self, old: &str, new: &str) -> Option<String> {
        self.aliases.insert(old.to_string());
        let (v, line) = self.raw(old)?;
        let new_present = self.comp.props.contains_key(new);
        let full_new = self.full_key(new);
        if new_present {
            self.warn(
                old,
                Some(line),
                format!("{old} is deprecated and ignored here because {full_new} is also set"),
                Some(format!("delete this line; {full_new} wins")),
            );
            None
        } else {
            self.warn(
                old,
                Some(line),
                format!("{old} is deprecated. Please use the parameter {new}"),
                Some(format!("rename it to {full_new}")),
            );
            Some(v.to_string())
        }
    }

    /// Every key of the component (as written after its `a1.sinks.k1.` prefix), in file order —
    /// for reproducing the order of Flume's `Context`, a `HashMap` filled from the file.
    pub fn keys_in_file_order(&self) -> Vec<&'a str> {
        let mut keys: Vec<(&'a str, usize)> = self
            .comp
            .props
            .iter()
            .map(|(k, (_, line))| (k.as_str(), *line))
            .collect();
        keys.sort_by_key(|(_, line)| *line);
        keys.into_iter().map(|(k, _)| k).collect()
    }

    /// Every key under `prefix`, with the prefix stripped, marked as understood.
    pub fn with_prefix(&mut self, prefix: &str) -> Vec<(String, String, usize)> {
        self.asked_prefixes.insert(prefix.to_string());
        self.comp
            .props
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (v, l))| (k[prefix.len()..].to_string(), v.clone(), *l))
            .collect()
    }

    pub fn error(
        &mut self,
        key: &str,
        line: Option<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.failed = true;
        self.dropped_part(key, line, message, hint);
    }

    /// An error about part of the component that Flume drops while running the rest (e.g. one
    /// unknown channel in a source's list): reported as an error, the component still builds.
    pub fn dropped_part(
        &mut self,
        key: &str,
        line: Option<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let full = self.full_key(key);
        let line = self.location(key, line);
        self.diags.error(line, full, message, hint);
    }

    /// Flume would run this and rflume cannot: the component is not built, and the agent refuses
    /// to start unless the operator opts in to run the rest.
    pub fn unsupported(
        &mut self,
        key: &str,
        line: Option<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.failed = true;
        self.unsupported = true;
        let full = self.full_key(key);
        let line = self.location(key, line);
        self.diags.unsupported(line, full, message, hint);
    }

    /// The component cannot run because of a problem already reported for another one (its only
    /// channel was dropped, …): one cause gives one error, so this is a warning that names the
    /// cause, and the component fails — as unsupported when the cause is.
    pub fn fails_because(
        &mut self,
        key: &str,
        line: Option<usize>,
        message: impl Into<String>,
        hint: Option<String>,
        unsupported: bool,
    ) {
        self.failed = true;
        self.unsupported |= unsupported;
        self.warn(key, line, message, hint);
    }

    pub fn warn(
        &mut self,
        key: &str,
        line: Option<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let full = self.full_key(key);
        let line = self.location(key, line);
        self.diags.warn(line, full, message, hint);
    }

    /// Empty diagnostics for a nested reader (interceptors of a source), for [`PropReader::absorb`].
    pub fn child_diagnostics(&self) -> Diagnostics {
        self.diags.child()
    }

    /// Takes over diagnostics gathered by a nested reader (interceptors of a source); an error
    /// there fails this component too.
    pub fn absorb(&mut self, other: Diagnostics) {
        if other.has_errors() {
            self.failed = true;
        }
        if other.count(super::diag::Severity::Unsupported) > 0 {
            self.unsupported = true;
        }
        self.diags.extend(other);
    }

    /// The settings this reader was asked for, by the name `describe()` must report them under:
    /// (keys, prefixes). Keys marked [`PropReader::known`] only and deprecated names are left out.
    #[cfg(test)]
    pub fn settings_read(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let keys = self
            .asked
            .iter()
            .filter(|k| !self.aliases.contains(*k) && !self.accepted.contains(*k))
            .cloned()
            .collect();
        (keys, self.asked_prefixes.clone())
    }

    /// Reports every key that no parser asked for, naming the keys this component understands.
    pub fn finish(self, what: &str) {
        let known: Vec<String> = self
            .asked
            .iter()
            .cloned()
            .chain(self.asked_prefixes.iter().map(|p| format!("{p}*")))
            .collect();
        for (key, (_, line)) in &self.comp.props {
            if self.asked.contains(key) || self.asked_prefixes.iter().any(|p| key.starts_with(p)) {
                continue;
            }
            let hint = match suggestion(key, &known) {
                Some(s) => format!("did you mean {s}? {what} understands: {}", known.join(", ")),
                None => format!("{what} understands: {}", known.join(", ")),
            };
            self.diags.warn(
                Some(*line),
                format!("{}{}", self.comp.prefix, key),
                format!("unknown property for {what}; ignored"),
                Some(hint),
            );
        }
    }
}

/// A known key that `key` is probably a mistake for: the same but for case or a prefix such as
/// `kafka.` (`kafka.flumeBatchSize`), or within two edits (`kafka.bootstrap.server`,
/// `kafka.topik`).
fn suggestion(key: &str, known: &[String]) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    // Structural keys are too short to be a meaningful suggestion for `x.y.type`.
    let candidates = || {
        known
            .iter()
            .filter(|k| !matches!(k.as_str(), "type" | "channel" | "channels") && !k.ends_with('*'))
    };
    candidates()
        .find(|k| {
            let kl = k.to_ascii_lowercase();
            kl == lower || lower.ends_with(&format!(".{kl}")) || kl.ends_with(&format!(".{lower}"))
        })
        .or_else(|| {
            candidates()
                .map(|k| {
                    (
                        k,
                        strsim::damerau_levenshtein(&lower, &k.to_ascii_lowercase()),
                    )
                })
                .filter(|(k, d)| *d <= 2 && *d * 4 <= k.len())
                .min_by_key(|(_, d)| *d)
                .map(|(k, _)| k)
        })
        .cloned()
}

/// Runs `parse` over `pairs` as sink `k1`'s properties in `f.conf` (the n-th pair on line n)
/// and then, when `finish` names the component, reports the keys it did not read: the fixture
/// the component parsers' unit tests share.
#[cfg(test)]
pub fn parse_for_test<S>(
    pairs: &[(&str, &str)],
    finish: Option<&str>,
    parse: impl FnOnce(&mut PropReader) -> S,
) -> (S, Diagnostics) {
    let comp = ComponentProps::sink_for_test(pairs);
    let mut d = Diagnostics::new(std::sync::Arc::from(std::path::Path::new("f.conf")));
    let s = {
        let mut r = PropReader::new(&comp, &mut d);
        let s = parse(&mut r);
        if let Some(what) = finish {
            r.finish(what);
        }
        s
    };
    (s, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    fn comp(pairs: &[(&str, &str)]) -> ComponentProps {
        ComponentProps::sink_for_test(pairs)
    }

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let c = comp(&[("flumeBatchSize", "5"), ("kafka.flumeBatchSize", "20")]);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        assert_eq!(r.positive("flumeBatchSize", 100), 5);
        r.finish("the Kafka sink");
        assert_eq!(d.items.len(), 1);
        let s = d.items[0].to_string();
        assert!(
            s.starts_with("f.conf:2: a1.sinks.k1.kafka.flumeBatchSize: unknown property"),
            "{s}"
        );
        assert!(s.contains("did you mean flumeBatchSize"), "{s}");
    }

    #[test]
    fn a_mistyped_key_gets_the_nearest_known_key() {
        let known: Vec<String> = [
            "kafka.bootstrap.servers",
            "kafka.topic",
            "type",
            "kafka.producer.*",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            suggestion("kafka.bootstrap.server", &known).as_deref(),
            Some("kafka.bootstrap.servers")
        );
        assert_eq!(
            suggestion("kafka.topik", &known).as_deref(),
            Some("kafka.topic")
        );
        assert_eq!(
            suggestion("tpye", &known),
            None,
            "structural keys are not suggested"
        );
        assert_eq!(suggestion("something.else", &known), None);
    }

    #[test]
    fn deprecated_name_used_only_without_new_name() {
        let c = comp(&[("brokerList", "a:1"), ("topic", "t"), ("kafka.topic", "u")]);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        assert_eq!(
            r.deprecated("brokerList", "kafka.bootstrap.servers")
                .as_deref(),
            Some("a:1")
        );
        assert_eq!(r.deprecated("topic", "kafka.topic"), None);
        assert!(!r.failed());
        assert_eq!(d.items.len(), 2);
    }

    #[test]
    fn bad_numbers_are_errors() {
        let c = comp(&[("batchSize", "x"), ("capacity", "-1")]);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        assert_eq!(r.positive("batchSize", 20), 20);
        assert_eq!(r.positive("capacity", 100), 100);
        assert!(r.failed());
        assert_eq!(d.error_count(), 2);
    }

    /// Flume's `Context.getBoolean` is `Boolean.parseBoolean(value.trim())`.
    #[test]
    fn booleans_read_as_flume_reads_them_with_a_warning_for_anything_else() {
        let c = comp(&[
            ("a", "TRUE"),
            ("b", " true "),
            ("c", "yes"),
            ("d", "1"),
            ("e", "False"),
        ]);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        assert!(r.bool("a", false));
        assert!(r.bool("b", false));
        assert!(!r.bool("c", true));
        assert!(!r.bool("d", true));
        assert!(!r.bool("e", true));
        assert!(r.bool("absent", true));
        assert!(!r.failed());
        let w: Vec<String> = d.items.iter().map(|i| i.to_string()).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("f.conf:3: a1.sinks.k1.c: 'yes' is read as false, as Flume does (write true or false)"), "{w:?}");
    }

    #[test]
    fn a_missing_key_is_reported_at_the_type_line() {
        let c = comp(&[("channel", "c1"), ("type", "logger")]);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        assert!(r.required("command", "e.g. command = tail -F x").is_none());
        assert_eq!(d.items[0].line, Some(2));
    }
}
