//! The shape of a component type table, shared by every kind (sources, channels, sinks,
//! interceptors). Each kind owns its table next to its settings enum (`source/mod.rs`,
//! `channel/mod.rs`, …); this file only knows how a row looks and how Flume matches a `type`
//! value against the rows.
//!
//! Flume matches aliases case-insensitively and otherwise treats the value as a class name;
//! rflume also matches Flume's class names case-insensitively, so `type = exec`, `type = EXEC`
//! and `type = org.apache.flume.source.ExecSource` are the same component.

use super::reader::PropReader;

/// A component's property parser: reads its keys through the reader (which reports every problem
/// with file:line) and returns its settings, or `None` when the component must be dropped.
pub type ParseFn<S> = fn(&mut PropReader) -> Option<S>;

/// How a type is named in a configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeName {
    /// Flume's alias, or a short name for types that have none in Flume.
    pub alias: &'static str,
    /// Flume's fully-qualified class name.
    pub class: &'static str,
    /// Whether the alias is accepted by Flume itself (the Kafka sink has no alias in Flume).
    pub flume_alias: bool,
}

impl TypeName {
    /// The name a user should write to stay compatible with Flume.
    pub fn flume_name(&self) -> &'static str {
        if self.flume_alias {
            self.alias
        } else {
            self.class
        }
    }
}

/// What rflume does with a component type.
pub enum Support<S: 'static> {
    /// rflume runs it; the function parses its properties.
    Yes(ParseFn<S>),
    /// A Flume type that rflume does not run (yet); the text says what to use instead.
    No(&'static str),
}

/// One row of a kind's table.
pub struct TypeEntry<S: 'static> {
    pub name: TypeName,
    pub support: Support<S>,
}

impl<S> TypeEntry<S> {
    /// A supported type with a Flume alias.
    pub const fn yes(alias: &'static str, class: &'static str, parse: ParseFn<S>) -> Self {
        TypeEntry {
            name: TypeName {
                alias,
                class,
                flume_alias: true,
            },
            support: Support::Yes(parse),
        }
    }

    /// A Flume type rflume does not run, with what to use instead.
    pub const fn no(alias: &'static str, class: &'static str, hint: &'static str) -> Self {
        TypeEntry {
            name: TypeName {
                alias,
                class,
                flume_alias: true,
            },
            support: Support::No(hint),
        }
    }

    /// The same row for a type that Flume knows only by its class name: `alias` is rflume's
    /// short name for it (accepted with a warning, since Flume would reject it).
    pub const fn class_only(mut self) -> Self {
        self.name.flume_alias = false;
        self
    }

    pub fn is_supported(&self) -> bool {
        matches!(self.support, Support::Yes(_))
    }
}

/// Finds a type by alias or class name, ignoring case.
pub fn resolve<S>(table: &'static [TypeEntry<S>], name: &str) -> Option<&'static TypeEntry<S>> {
    table.iter().find(|t| {
        t.name.alias.eq_ignore_ascii_case(name) || t.name.class.eq_ignore_ascii_case(name)
    })
}

/// The names a user may write for the supported types of a table, for "what would be valid".
pub fn supported_names<S>(table: &'static [TypeEntry<S>]) -> String {
    table
        .iter()
        .filter(|t| t.is_supported())
        .map(|t| t.name.flume_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A supported type whose name is a near miss of `written` (`exce`, `memroy`, `KafkaSnk`), for a
/// "did you mean" hint: at most two edits from an alias, or from a class's simple name.
pub fn did_you_mean<S>(table: &'static [TypeEntry<S>], written: &str) -> Option<&'static str> {
    let lower = written.to_ascii_lowercase();
    let simple = lower.rsplit('.').next().unwrap_or(&lower).to_string();
    let close = |a: &str, b: &str| {
        // Short names are too easily close to each other to be a meaningful suggestion.
        a.len() >= 3 && strsim::damerau_levenshtein(a, b) <= 2.min(a.len() / 3 + 1)
    };
    table
        .iter()
        .filter(|t| t.is_supported())
        .find(|t| {
            let class = t.name.class.to_ascii_lowercase();
            let class_simple = class.rsplit('.').next().unwrap_or(&class).to_string();
            close(&lower, &t.name.alias.to_ascii_lowercase())
                || close(&simple, &class_simple)
                || close(&lower, &class)
        })
        .map(|t| t.name.flume_name())
}

/// Hint for a Flume type that rflume will run in a later version.
pub const PLANNED: &str = "planned; not available in this version of rflume";
/// Hint for a Flume type that rflume does not intend to run.
pub const NOT_PLANNED: &str =
    "not planned: keep this component on a Flume agent, or send to Kafka and consume from there";

/// Settings common to every kind's settings enum: what `rflume check` prints.
pub trait Describe {
    /// The effective value of every property the component reads, by Flume's key name.
    fn describe(&self) -> Vec<(String, String)>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_unit(_: &mut PropReader) -> Option<()> {
        Some(())
    }

    const TABLE: &[TypeEntry<()>] = &[
        TypeEntry::yes("exec", "org.apache.flume.source.ExecSource", parse_unit),
        TypeEntry::yes("kafka", "org.apache.flume.sink.kafka.KafkaSink", parse_unit).class_only(),
        TypeEntry::no("avro", "org.apache.flume.source.AvroSource", "later"),
    ];

    #[test]
    fn aliases_and_class_names_resolve_case_insensitively() {
        assert_eq!(resolve(TABLE, "EXEC").map(|t| t.name.alias), Some("exec"));
        assert_eq!(
            resolve(TABLE, "org.apache.flume.sink.kafka.kafkasink").map(|t| t.name.alias),
            Some("kafka")
        );
        assert!(resolve(TABLE, "com.example.MySource").is_none());
        assert_eq!(did_you_mean(TABLE, "exce"), Some("exec"));
        assert_eq!(
            did_you_mean(TABLE, "KafkaSnk"),
            Some("org.apache.flume.sink.kafka.KafkaSink")
        );
        assert_eq!(
            did_you_mean(TABLE, "org.apache.flume.sink.kafka.KafkaSinc"),
            Some("org.apache.flume.sink.kafka.KafkaSink")
        );
        assert_eq!(did_you_mean(TABLE, "com.example.MySource"), None);
        assert_eq!(
            did_you_mean(TABLE, "avro"),
            None,
            "unsupported types are not suggested"
        );
        assert_eq!(
            supported_names(TABLE),
            "exec, org.apache.flume.sink.kafka.KafkaSink"
        );
    }
}
