//! Java-properties syntax, as `java.util.Properties.load` reads a Flume configuration file.
//!
//! The syntax itself (separators `=`, `:` or whitespace, `#`/`!` comments, backslash continuation,
//! `\uXXXX` escapes) is the `java-properties` crate's. This module adds what Flume adds on top and
//! what rflume needs for its diagnostics: the line of every key, UTF-8 decoding (so that Chinese
//! comments and values survive, unlike Flume 1.11's ISO-8859-1), trimming of keys and values,
//! "last duplicate wins" with a warning instead of silence, and `${…}` substitution as in Flume 1.11.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use super::diag::Diagnostics;
use super::source::{self, ConfSource, Credentials, ReadError};

/// One `key = value` line after trimming and substitution.
#[derive(Clone, PartialEq, Eq)]
pub struct Prop {
    pub key: String,
    pub value: String,
    /// 1-based line where the key starts.
    pub line: usize,
}

/// The value of a secret key (a password, a JAAS line) prints as `******`.
impl std::fmt::Debug for Prop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prop")
            .field("key", &self.key)
            .field("value", &super::secret::shown(&self.key, &self.value))
            .field("line", &self.line)
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum PropertiesError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}:{line}: not a valid properties line: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
}

/// Parses properties text. Later duplicates replace earlier ones (as `Properties` does) and each
/// replacement is reported, because a silently shadowed key is a classic copy-paste bug.
pub fn parse(
    text: &str,
    path: &Path,
    diags: &mut Diagnostics,
) -> Result<Vec<Prop>, PropertiesError> {
    parse_at(text, path, 0, diags)
}

/// [`parse`] for a file whose lines are numbered after `lines_before` lines of earlier files.
fn parse_at(
    text: &str,
    path: &Path,
    lines_before: usize,
    diags: &mut Diagnostics,
) -> Result<Vec<Prop>, PropertiesError> {
    let iter =
        java_properties::PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8);
    let mut props: Vec<Prop> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in iter {
        let line = line.map_err(|e| PropertiesError::Syntax {
            path: path.display().to_string(),
            line: e.line_number().unwrap_or(0),
            message: e.to_string(),
        })?;
        let number = line.line_number() + lines_before;
        let java_properties::LineContent::KVPair(key, value) = line.consume_content() else {
            continue;
        };
        // Flume trims both (FlumeConfiguration.addRawProperty); Properties keeps trailing blanks.
        let key = key.trim().to_string();
        let value = value.trim().to_string();
        if key.is_empty() {
            continue;
        }
        match index.get(&key) {
            Some(&i) => {
                let earlier = diags.locate(props[i].line).1;
                diags.warn(
                    Some(number),
                    &key,
                    format!(
                        "duplicate key: this value replaces the one on line {earlier} (last one wins, as in Flume)"
                    ),
                    Some("delete one of the two lines".to_string()),
                );
                props[i] = Prop {
                    key,
                    value,
                    line: number,
                };
            }
            None => {
                index.insert(key.clone(), props.len());
                props.push(Prop {
                    key,
                    value,
                    line: number,
                });
            }
        }
    }
    Ok(props)
}

/// Reads and parses a file; a missing file gets Flume's own message.
pub fn load(path: &Path, diags: &mut Diagnostics) -> Result<Vec<Prop>, PropertiesError> {
    let bytes = source::read(&ConfSource::File(path.to_path_buf()), None)?;
    let text = decode(bytes, 1, diags);
    parse(&text, path, diags)
}

/// Text of a configuration: UTF-8, or else ISO-8859-1, which is what Java's
/// `Properties.load(InputStream)` reads, so such a file still loads exactly as under Flume 1.11.
fn decode(bytes: Vec<u8>, first_line: usize, diags: &mut Diagnostics) -> String {
    match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            diags.warn(
                Some(first_line),
                "(file)",
                "file is not valid UTF-8; decoded as ISO-8859-1 like Java's Properties.load",
                Some("save the file as UTF-8".to_string()),
            );
            e.into_bytes().iter().map(|&b| b as char).collect()
        }
    }
}

/// The bytes of each source, read once, in order (see [`parse_all`]). Comparable, so that a
/// reload can tell whether anything changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Texts(Vec<(Arc<Path>, Vec<u8>)>);

impl Texts {
    pub fn read(
        sources: &[ConfSource],
        credentials: Option<&Credentials>,
    ) -> Result<Texts, PropertiesError> {
        let mut out = Vec::with_capacity(sources.len());
        for s in sources {
            out.push((s.label(), source::read(s, credentials)?));
        }
        Ok(Texts(out))
    }

    /// One in-memory text (tests, stdin).
    pub fn one(label: &Path, text: &str) -> Texts {
        Texts(vec![(Arc::from(label), text.as_bytes().to_vec())])
    }
}

/// Parses every text in order into one list of properties, numbered through all of them (see
/// [`Diagnostics::for_files`]); a key of a later text replaces the same key of an earlier one, as
/// Flume 1.11 loads them all into one `Properties`. Returns the properties and diagnostics that
/// know the files.
pub fn parse_all(texts: &Texts) -> Result<(Vec<Prop>, Diagnostics), PropertiesError> {
    let mut files = Vec::new();
    let mut lines_before = 0;
    for (label, bytes) in &texts.0 {
        files.push((label.clone(), lines_before));
        lines_before += bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    }
    let mut diags = Diagnostics::for_files(files.clone());
    let mut merged: Vec<Prop> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for ((label, bytes), (_, before)) in texts.0.iter().zip(files) {
        let text = decode(bytes.clone(), before + 1, &mut diags);
        for p in parse_at(&text, label, before, &mut diags)? {
            match index.get(&p.key) {
                // A later file overrides an earlier one on purpose: no warning.
                Some(&i) => merged[i] = p,
                None => {
                    index.insert(p.key.clone(), merged.len());
                    merged.push(p);
                }
            }
        }
    }
    Ok((merged, diags))
}

/// Where `${…}` references are looked up.
pub struct Lookup<'a> {
    /// `-Dkey=value` system properties given on the command line (`${sys:key}`).
    pub system: &'a HashMap<String, String>,
    /// The process environment (`${env:VAR}`, and plain `${VAR}` as a fallback).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Flume 1.11 substitution (`MapResolver`, commons-text's `StringSubstitutor`): `${env:VAR}`,
/// `${sys:prop}`, and plain `${name}`, which is another key of the same configuration (top-level
/// `NAME = value` lines included) or, failing that, an environment variable (Flume 1.9's
/// `EnvVarResolverProperties`). As in commons-text: references nest (`${${env:STAGE}_CH}`),
/// resolved values are substituted again, `${name:-default}` gives a default, and `$${…}` is a
/// literal `${…}`. An unresolved reference stays verbatim (as in Flume) and is reported, because
/// an empty broker list is worse than a visible `${…}`. References of the form `${f1['KEY']}`
/// belong to config filters and are left to them.
pub fn substitute(props: &mut [Prop], lookup: &Lookup<'_>, diags: &mut Diagnostics) {
    let by_key: HashMap<String, String> = props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    for p in props.iter_mut() {
        if !p.value.contains('$') {
            continue;
        }
        let mut unresolved = Vec::new();
        let mut r = Resolver {
            by_key: &by_key,
            lookup,
            unresolved: &mut unresolved,
            stack: vec![p.key.clone()],
        };
        p.value = r.expand(&p.value, 0);
        for name in unresolved {
            diags.warn(
                Some(p.line),
                &p.key,
                format!("${{{name}}} is not defined; the text is kept as written"),
                Some(
                    "define the environment variable, pass -Dname=value, or use ${env:VAR}"
                        .to_string(),
                ),
            );
        }
    }
}

/// How deep references may nest or chain before the text is kept as written (a cycle).
const MAX_DEPTH: usize = 16;

struct Resolver<'a, 'b> {
    by_key: &'a HashMap<String, String>,
    lookup: &'a Lookup<'b>,
    unresolved: &'a mut Vec<String>,
    /// Keys being expanded, to stop a cycle (`a = ${b}`, `b = ${a}`).
    stack: Vec<String>,
}

/// A config filter reference, `name[key]`, `name['key']` or `name["key"]`.
fn is_filter_reference(name: &str) -> bool {
    let Some(open) = name.find('[') else {
        return false;
    };
    name.ends_with(']')
        && open > 0
        && name[..open]
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

impl Resolver<'_, '_> {
    fn expand(&mut self, value: &str, depth: usize) -> String {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find('$') {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            if let Some(escaped) = after.strip_prefix("$${") {
                // commons-text's escape: `$${x}` is the literal `${x}`.
                out.push_str("${");
                rest = escaped;
                continue;
            }
            let Some(body) = after.strip_prefix("${") else {
                out.push('$');
                rest = &after[1..];
                continue;
            };
            let Some(end) = matching_brace(body) else {
                out.push_str(after);
                return out;
            };
            let written = &after[..2 + end + 1];
            let inner = &body[..end];
            rest = &body[end + 1..];
            if depth >= MAX_DEPTH {
                out.push_str(written);
                continue;
            }
            // Substitution in variable names: `${${env:STAGE}_CH}`.
            let name = if inner.contains("${") {
                self.expand(inner, depth + 1)
            } else {
                inner.to_string()
            };
            let (name, default) = match name.split_once(":-") {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (name, None),
            };
            if is_filter_reference(&name) {
                out.push_str(written);
                continue;
            }
            match self.resolve(&name) {
                Some(v) if self.stack.contains(&name) => {
                    // A cycle: keep the text and report it once.
                    let _ = v;
                    self.unresolved.push(name);
                    out.push_str(written);
                }
                Some(v) => {
                    self.stack.push(name);
                    let expanded = self.expand(&v, depth + 1);
                    self.stack.pop();
                    out.push_str(&expanded);
                }
                None => match default {
                    Some(d) => {
                        let expanded = self.expand(&d, depth + 1);
                        out.push_str(&expanded);
                    }
                    None => {
                        self.unresolved.push(name);
                        out.push_str(written);
                    }
                },
            }
        }
        out.push_str(rest);
        out
    }

    fn resolve(&self, name: &str) -> Option<String> {
        if let Some(var) = name.strip_prefix("env:") {
            (self.lookup.env)(var)
        } else if let Some(prop) = name.strip_prefix("sys:") {
            self.lookup.system.get(prop).cloned()
        } else {
            self.by_key
                .get(name)
                .cloned()
                .or_else(|| self.lookup.system.get(name).cloned())
                .or_else(|| (self.lookup.env)(name))
        }
    }
}

/// The index in `body` (the text after `${`) of the `}` that closes it, counting nested `${`.
fn matching_brace(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn diags() -> Diagnostics {
        Diagnostics::new(Arc::from(Path::new("t.conf")))
    }

    fn parse_ok(text: &str) -> (Vec<Prop>, Diagnostics) {
        let mut d = diags();
        let p = parse(text, Path::new("t.conf"), &mut d).expect("parses");
        (p, d)
    }

    #[test]
    fn all_separators_comments_and_continuations() {
        let text = "# comment\n! also comment\na1.x = 1\na1.y:2\na1.z 3\n  a1.w=4 \\\n   5\na1.u=\\u00e9t\\u00e9\n";
        let (p, d) = parse_ok(text);
        let kv: Vec<(&str, &str, usize)> = p
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str(), p.line))
            .collect();
        assert_eq!(
            kv,
            vec![
                ("a1.x", "1", 3),
                ("a1.y", "2", 4),
                ("a1.z", "3", 5),
                ("a1.w", "4 5", 6),
                ("a1.u", "été", 8),
            ]
        );
        assert!(d.items.is_empty());
    }

    #[test]
    fn utf8_comments_and_trailing_blanks() {
        let (p, _) =
            parse_ok("#tail -F 根据文件名进行追踪\na1.sources.r1.command = tail -F /x.log   \n");
        assert_eq!(p[0].value, "tail -F /x.log");
        assert_eq!(p[0].line, 2);
    }

    #[test]
    fn last_duplicate_wins_with_warning() {
        let (p, d) = parse_ok("a1.k = 1\na1.k = 2\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].value, "2");
        assert_eq!(p[0].line, 2);
        assert!(d.items[0].message.contains("line 1"));
    }

    #[test]
    fn substitution_env_sys_key_and_unresolved() {
        let (mut p, mut d) = parse_ok(
            "a1.host = broker1\na1.a = ${a1.host}:9092\na1.b = ${env:RFLUME_T}\na1.c = ${sys:p}\na1.d = ${NOPE}\na1.e = ${RFLUME_T}\n",
        );
        let system: HashMap<String, String> = [("p".to_string(), "sysval".to_string())].into();
        let env = |k: &str| (k == "RFLUME_T").then(|| "envval".to_string());
        substitute(
            &mut p,
            &Lookup {
                system: &system,
                env: &env,
            },
            &mut d,
        );
        let v: Vec<&str> = p.iter().map(|p| p.value.as_str()).collect();
        assert_eq!(
            v,
            vec![
                "broker1",
                "broker1:9092",
                "envval",
                "sysval",
                "${NOPE}",
                "envval"
            ]
        );
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].line, Some(5));
    }

    fn substituted(text: &str, env: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
        let (mut p, mut d) = parse_ok(text);
        let system = HashMap::new();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |k: &str| env.get(k).cloned();
        substitute(
            &mut p,
            &Lookup {
                system: &system,
                env: &lookup,
            },
            &mut d,
        );
        (
            p.into_iter().map(|p| p.value).collect(),
            d.items.into_iter().map(|i| i.message).collect(),
        )
    }

    /// commons-text's StringSubstitutor, as Flume 1.11's MapResolver configures it.
    #[test]
    fn nested_references_defaults_escapes_and_cycles() {
        let (v, warnings) = substituted(
            "prod_CH = c-prod\na1.ch = ${${env:STAGE}_CH}\na1.d = ${env:MISSING:-fallback}\n\
             a1.e = $${env:STAGE}\na1.f = ${a1.g}\na1.g = ${a1.f}\na1.h = ${f1['password']}\n\
             a1.i = 100$\n",
            &[("STAGE", "prod")],
        );
        assert_eq!(
            v,
            [
                "c-prod",
                "c-prod",
                "fallback",
                "${env:STAGE}",
                // The cycle stops where it closes (commons-text throws and Flume then loads
                // no configuration at all).
                "${a1.f}",
                "${a1.g}",
                "${f1['password']}",
                "100$"
            ]
        );
        assert_eq!(warnings.len(), 2, "the cycle, once per key: {warnings:?}");
    }
}
