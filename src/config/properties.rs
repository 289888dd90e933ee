//! Java-properties syntax, as `java.util.Properties.load` reads a Flume configuration file.
//!
//! The syntax itself (separators `=`, `:` or whitespace, `#`/`!` comments, backslash continuation,
//! `\uXXXX` escapes) is the `java-properties` crate's. This module adds what Flume adds on top and
//! what rflume needs for its diagnostics: the line of every key, UTF-8 decoding (so that Chinese
//! comments and values survive, unlike Flume 1.11's ISO-8859-1), trimming of keys and values,
//! "last duplicate wins" with a warning instead of silence, and `${…}` substitution as in Flume 1.11.

use std::collections::HashMap;
use std::path::Path;

use thiserror::Error;

use super::diag::Diagnostics;

/// One `key = value` line after trimming and substitution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prop {
    pub key: String,
    pub value: String,
    /// 1-based line where the key starts.
    pub line: usize,
}

#[derive(Debug, Error)]
pub enum PropertiesError {
    #[error("The specified configuration file does not exist: {path}")]
    NotFound { path: String },
    #[error("{path}: cannot read configuration file: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
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
        let number = line.line_number();
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
                diags.warn(
                    Some(number),
                    &key,
                    format!(
                        "duplicate key: this value replaces the one on line {} (last one wins, as in Flume)",
                        props[i].line
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
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PropertiesError::NotFound {
                path: path.display().to_string(),
            }
        } else {
            PropertiesError::Io {
                path: path.display().to_string(),
                source: e,
            }
        }
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // Not UTF-8: decode as ISO-8859-1, which is what Java's Properties.load(InputStream)
            // does, so such a file still loads exactly as it would under Flume 1.11.
            let bytes = e.into_bytes();
            diags.warn(
                None,
                "(file)",
                "file is not valid UTF-8; decoded as ISO-8859-1 like Java's Properties.load",
                Some("save the file as UTF-8".to_string()),
            );
            bytes.iter().map(|&b| b as char).collect()
        }
    };
    parse(&text, path, diags)
}

/// Where `${…}` references are looked up.
pub struct Lookup<'a> {
    /// `-Dkey=value` system properties given on the command line (`${sys:key}`).
    pub system: &'a HashMap<String, String>,
    /// The process environment (`${env:VAR}`, and plain `${VAR}` as a fallback).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Flume 1.11 substitution (`MapResolver`): `${env:VAR}`, `${sys:prop}`, and plain `${name}`,
/// which is another key of the same file or, failing that, an environment variable (Flume 1.9's
/// `EnvVarResolverProperties`). Nested references resolve; an unresolved reference stays verbatim
/// (as in 1.11) and is reported, because an empty broker list is worse than a visible `${…}`.
pub fn substitute(props: &mut [Prop], lookup: &Lookup<'_>, diags: &mut Diagnostics) {
    let by_key: HashMap<String, String> = props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    for p in props.iter_mut() {
        if !p.value.contains("${") {
            continue;
        }
        let mut unresolved = Vec::new();
        p.value = expand(&p.value, &by_key, lookup, 0, &mut unresolved);
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

const MAX_DEPTH: usize = 8;

fn expand(
    value: &str,
    by_key: &HashMap<String, String>,
    lookup: &Lookup<'_>,
    depth: usize,
    unresolved: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let resolved = if let Some(var) = name.strip_prefix("env:") {
            (lookup.env)(var)
        } else if let Some(prop) = name.strip_prefix("sys:") {
            lookup.system.get(prop).cloned()
        } else {
            by_key
                .get(name)
                .cloned()
                .or_else(|| lookup.system.get(name).cloned())
                .or_else(|| (lookup.env)(name))
        };
        match resolved {
            Some(v) if depth < MAX_DEPTH && v.contains("${") => {
                out.push_str(&expand(&v, by_key, lookup, depth + 1, unresolved))
            }
            Some(v) => out.push_str(&v),
            None => {
                unresolved.push(name.to_string());
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
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
}
