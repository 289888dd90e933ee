//! Flume 1.10+ config filters (`FlumeConfiguration.runFiltersThroughConfigs`): values of source,
//! channel, sink and sink-group properties may name a filter and a key,
//! `${f1['KEY']}`, `${f1["KEY"]}` or `${f1[KEY]}` (KEY of letters, digits, `-` and `_`), and
//! the filter supplies the text — so that a password need not be written in the file:
//!
//! ```text
//! a1.configfilters = f1
//! a1.configfilters.f1.type = env            # EnvironmentVariableConfigFilter: $KEY
//! a1.configfilters.f2.type = external       # ExternalProcessConfigFilter: the first line
//! a1.configfilters.f2.command = /usr/bin/vault-get   # that `command KEY` prints
//! a1.sinks.k1.kafka.producer.sasl.jaas.config = … password="${f1['KAFKA_PASSWORD']}";
//! ```
//!
//! A reference the filter cannot resolve stays as written, as in Flume, and is reported. The
//! Hadoop credential-store filter and custom filter classes are not supported (they would need a
//! JVM); a file that uses one is reported as unsupported. Resolved values are never logged.

use std::collections::HashMap;
use std::process::{Command, Stdio};

use regex::Regex;
use tracing::{error, warn};

use super::layout::RawAgent;
use crate::config::reader::ComponentProps;
use crate::config::Diagnostics;

/// One configured filter.
enum Filter {
    Env,
    External { argv: Vec<String> },
}

impl Filter {
    fn filter(&self, name: &str, key: &str) -> Option<String> {
        match self {
            Filter::Env => std::env::var(key).ok(),
            Filter::External { argv } => run_external(name, argv, key),
        }
    }
}

/// ExternalProcessConfigFilter: `command` split on whitespace, the key appended; a zero exit
/// status and the first line of standard output.
fn run_external(name: &str, argv: &[String], key: &str) -> Option<String> {
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .arg(key)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut lines = text.lines();
            let first = lines.next().map(str::to_string);
            if first.is_none() {
                warn!("config filter {name}: {} {key} printed nothing", argv[0]);
            } else if lines.next().is_some() {
                warn!(
                    "config filter {name}: {} {key} printed more than one line; only the first is used",
                    argv[0]
                );
            }
            first
        }
        Ok(o) => {
            error!(
                "config filter {name}: {} {key} exited with {}: {}",
                argv[0],
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            error!("config filter {name}: cannot run {}: {e}", argv[0]);
            None
        }
    }
}

/// Builds the listed filters (reporting what cannot be built) and applies them to every
/// component's values.
pub fn apply(raw: &mut RawAgent, agent: &str, diags: &mut Diagnostics) {
    let Some(list) = raw.configfilters.as_ref() else {
        return;
    };
    let mut filters: Vec<(String, Filter, Regex)> = Vec::new();
    for name in &list.names {
        let key = format!("{agent}.configfilters.{name}");
        let Some(comp) = raw.configfilter_props.get(name) else {
            diags.error(
                list.line,
                &key,
                format!("config filter {name} is listed but has no properties; references to it stay as written"),
                Some(format!("add {key}.type = env or external")),
            );
            continue;
        };
        let Some(filter) = build(comp, &key, diags) else {
            continue;
        };
        filters.push((name.clone(), filter, reference_pattern(name)));
    }
    if filters.is_empty() {
        return;
    }
    // One lookup per (filter, key), however many values use it: an external command runs once.
    let mut cache: HashMap<(String, String), Option<String>> = HashMap::new();
    let maps = [
        &mut raw.source_props,
        &mut raw.channel_props,
        &mut raw.sink_props,
        &mut raw.sinkgroup_props,
    ];
    for map in maps {
        for comp in map.values_mut() {
            for (prop, (value, line)) in comp.props.iter_mut() {
                if !value.contains("${") {
                    continue;
                }
                for (name, filter, pattern) in &filters {
                    let mut unresolved = Vec::new();
                    let replaced = pattern.replace_all(value, |c: &regex::Captures<'_>| {
                        let k = c
                            .get(1)
                            .or_else(|| c.get(2))
                            .or_else(|| c.get(3))
                            .map_or("", |m| m.as_str());
                        let found = cache
                            .entry((name.clone(), k.to_string()))
                            .or_insert_with(|| filter.filter(name, k));
                        match found {
                            Some(v) => v.clone(),
                            None => {
                                unresolved.push(k.to_string());
                                c[0].to_string()
                            }
                        }
                    });
                    let replaced = replaced.into_owned();
                    *value = replaced;
                    for k in unresolved {
                        diags.warn(
                            Some(*line),
                            format!("{}{prop}", comp.prefix),
                            format!("config filter {name} has no value for {k}; the text is kept as written, as in Flume"),
                            None,
                        );
                    }
                }
            }
        }
    }
}

/// `${NAME['KEY']}`, `${NAME["KEY"]}` or `${NAME[KEY]}` (Flume's pattern, whose back-reference
/// becomes three alternatives here).
fn reference_pattern(name: &str) -> Regex {
    const KEY: &str = "[-_a-zA-Z0-9]+";
    Regex::new(&format!(
        r#"\$\{{{}\[(?:'({KEY})'|"({KEY})"|({KEY}))\]\}}"#,
        regex::escape(name)
    ))
    .expect("the pattern of a quoted name is valid")
}

fn build(comp: &ComponentProps, key: &str, diags: &mut Diagnostics) -> Option<Filter> {
    let type_line = comp.line("type").or_else(|| comp.first_line());
    let Some(kind) = comp.value("type") else {
        diags.error(
            type_line,
            format!("{key}.type"),
            "config filter has no type; references to it stay as written",
            Some("type = env or external".to_string()),
        );
        return None;
    };
    let is = |alias: &str, class: &str| {
        kind.eq_ignore_ascii_case(alias) || kind.eq_ignore_ascii_case(class)
    };
    if is(
        "env",
        "org.apache.flume.configfilter.EnvironmentVariableConfigFilter",
    ) {
        return Some(Filter::Env);
    }
    if is(
        "external",
        "org.apache.flume.configfilter.ExternalProcessConfigFilter",
    ) {
        let Some(command) = comp.value("command").filter(|c| !c.trim().is_empty()) else {
            diags.error(
                type_line,
                format!("{key}.command"),
                "command must be set for ExternalProcessConfigFilter; references to it stay as written",
                Some(format!("{key}.command = /path/to/program (run with the key as its last argument)")),
            );
            return None;
        };
        if let Some(charset) = comp.value("charset") {
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                diags.warn(
                    comp.line("charset"),
                    format!("{key}.charset"),
                    format!("charset {charset}: rflume reads the command's output as UTF-8"),
                    None,
                );
            }
        }
        let argv = command.split_whitespace().map(String::from).collect();
        return Some(Filter::External { argv });
    }
    let what = if is(
        "hadoop",
        "org.apache.flume.configfilter.HadoopCredentialStoreConfigFilter",
    ) {
        "the Hadoop credential-store config filter needs Hadoop's Java libraries".to_string()
    } else {
        format!("config filter type '{kind}' is a class rflume cannot load")
    };
    diags.unsupported(
        type_line,
        format!("{key}.type"),
        format!("{what}; the values that use it cannot be resolved"),
        Some("use type = env (the value from an environment variable) or type = external (from a command's output)".to_string()),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_in_flumes_three_quotings() {
        let p = reference_pattern("f1");
        let text = r#"a=${f1['A']} b=${f1["B-2"]} c=${f1[C_3]} d=${f1['D"]} e=${f2['E']}"#;
        let keys: Vec<String> = p
            .captures_iter(text)
            .map(|c| {
                c.get(1)
                    .or_else(|| c.get(2))
                    .or_else(|| c.get(3))
                    .unwrap()
                    .as_str()
                    .to_string()
            })
            .collect();
        assert_eq!(
            keys,
            ["A", "B-2", "C_3"],
            "mismatched quotes and other filters are not ours"
        );
    }
}
