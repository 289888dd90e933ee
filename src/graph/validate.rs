//! Flume's validation rules that look across components, applied after each component was built:
//! batch sizes against their channels' transaction capacities, channels nothing is connected to,
//! components configured but never listed, and sink groups.

use std::collections::BTreeMap;

use super::layout::RawAgent;
use super::{AgentConfig, DropCause, Dropped, SinkGroupConfig};
use crate::config::reader::PropReader;
use crate::config::Diagnostics;
use crate::sink::group::{ProcessorProblem, ProcessorSettings};
// Flume takes groups and their sinks in Java `HashSet` order; the Kafka sink's Avro code has the
// model of that order.
use crate::java::java_hashmap_order;

/// What became of a sink a group names, in Flume's terms.
enum Member {
    /// Built and running.
    Running,
    /// Flume would run it; rflume cannot (unsupported type or channel).
    Unsupported,
    /// Flume's validation drops it before groups are formed: "sink not found", not added.
    NotFound(&'static str),
    /// It passes Flume's validation but fails when Flume creates it (settings errors, batch size
    /// over the channel's transaction capacity, a channel that failed): Flume's
    /// `loadSinkGroups` then throws and the whole configuration is lost.
    FailsAtCreation,
}

fn member_state(cfg: &AgentConfig, raw: &RawAgent, sink: &str) -> Member {
    if cfg.sinks.iter().any(|k| k.name == sink) {
        return Member::Running;
    }
    let listed = raw
        .sinks
        .as_ref()
        .is_some_and(|l| l.names.iter().any(|n| n == sink));
    if !listed {
        return Member::NotFound("it is not in the agent's sinks list");
    }
    let Some(props) = raw.sink_props.get(sink) else {
        return Member::NotFound("it has no properties");
    };
    if props.value("type").is_none() {
        return Member::NotFound("it has no type");
    }
    let Some(channel) = props.value("channel") else {
        return Member::NotFound("it has no channel");
    };
    let channel_declared = raw
        .channels
        .as_ref()
        .is_some_and(|l| l.names.iter().any(|n| n == channel))
        && raw
            .channel_props
            .get(channel)
            .is_some_and(|c| c.value("type").is_some());
    if !channel_declared {
        return Member::NotFound("its channel is not in the active set");
    }
    let unsupported = cfg
        .dropped
        .iter()
        .any(|d| d.what == format!("sink {sink}") && d.cause == DropCause::Unsupported);
    if unsupported {
        Member::Unsupported
    } else {
        Member::FailsAtCreation
    }
}

/// Flume's sink groups: `validateGroups` (a group's sinks must exist, each in one group only; the
/// groups and their sinks are taken in Java `HashSet` order), then `loadSinkGroups` (the
/// processor is created: a failure removes the group *and* its sinks; a sink that failed when it
/// was created loses the whole configuration). Every rule Flume applies silently is reported.
pub fn sinkgroups(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let Some(groups) = &raw.sinkgroups else {
        return;
    };
    let agent = cfg.agent.clone();
    let mut used: Vec<(String, String)> = Vec::new();
    let mut lost_everything: Option<(String, String, Option<usize>)> = None;
    for gi in java_hashmap_order(&groups.names) {
        let g = &groups.names[gi];
        let Some(props) = raw.sinkgroup_props.get(g) else {
            diags.error(
                groups.line,
                format!("{agent}.sinkgroups"),
                format!("sink group {g} is listed but has no properties; it is removed (Flume: \"Configuration error for: {g}.Removed.\")"),
                Some(format!("add {agent}.sinkgroups.{g}.sinks = … and {agent}.sinkgroups.{g}.processor.type = …")),
            );
            continue;
        };
        let line = props.line("processor.type").or_else(|| props.first_line());
        let mut r = PropReader::new(props, diags);
        let Some((list, list_line)) = r.raw("sinks") else {
            r.error(
                "sinks",
                None,
                format!("sink group {g} names no sinks; it is removed"),
                Some(format!("add {}sinks = k1 k2", props.prefix)),
            );
            removed_group(r, cfg, g, "no sinks", line);
            continue;
        };
        let mut names: Vec<String> = Vec::new();
        for n in list.split_whitespace() {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
        let names: Vec<String> = java_hashmap_order(&names)
            .into_iter()
            .map(|i| names[i].clone())
            .collect();
        let mut members: Vec<String> = Vec::new();
        let mut running: Vec<String> = Vec::new();
        for k in &names {
            if let Some((_, other)) = used.iter().find(|(s, _)| s == k) {
                r.dropped_part(
                    "sinks",
                    Some(list_line),
                    format!("sink {k} is in use by another group ({other}): Flume does not add it to {g}"),
                    Some("a sink belongs to one group at most".to_string()),
                );
                continue;
            }
            match member_state(cfg, raw, k) {
                Member::Running => {
                    members.push(k.clone());
                    running.push(k.clone());
                }
                Member::Unsupported => members.push(k.clone()),
                Member::NotFound(why) => {
                    r.warn(
                        "sinks",
                        Some(list_line),
                        format!("sink {k} not found ({why}); Flume does not add it to the group"),
                        None,
                    );
                    continue;
                }
                Member::FailsAtCreation => {
                    members.push(k.clone());
                    if lost_everything.is_none() {
                        lost_everything = Some((g.clone(), k.clone(), Some(list_line)));
                    }
                }
            }
            used.push((k.clone(), g.clone()));
        }
        if members.is_empty() {
            r.error(
                "sinks",
                Some(list_line),
                format!("No available sinks for sinkgroup: {g}. Sinkgroup will be removed"),
                None,
            );
            removed_group(r, cfg, g, "none of its sinks is valid", line);
            continue;
        }
        let processor = ProcessorSettings::parse(&mut r, &members);
        r.finish("a sink group");
        match processor {
            Ok(p) => {
                let runs: Vec<String> = p
                    .sinks(&members)
                    .into_iter()
                    .filter(|k| running.iter().any(|x| x == k))
                    .map(str::to_string)
                    .collect();
                // Sinks the processor leaves out (a failover priority that duplicates another)
                // never run in Flume either.
                let left_out: Vec<String> = running
                    .iter()
                    .filter(|k| !runs.contains(k))
                    .cloned()
                    .collect();
                drop_sinks(cfg, &left_out, &format!("sink group {g} does not run it"));
                if runs.is_empty() {
                    // Its sinks are unsupported, or fail when created (then nothing runs at all,
                    // reported below).
                    let cause = if lost_everything.is_some() {
                        DropCause::ConfigError
                    } else {
                        DropCause::Unsupported
                    };
                    cfg.dropped.push(Dropped {
                        what: format!("sink group {g}"),
                        why: "none of its sinks runs".into(),
                        line,
                        cause,
                    });
                    continue;
                }
                cfg.sinkgroups.push(SinkGroupConfig {
                    name: g.clone(),
                    sinks: runs,
                    processor: p,
                    line,
                });
            }
            Err(ProcessorProblem::ConfigError) => {
                drop_sinks(
                    cfg,
                    &running,
                    &format!("it belongs to sink group {g}, which Flume removes"),
                );
                cfg.dropped.push(Dropped {
                    what: format!("sink group {g}"),
                    why: "its processor cannot be created".into(),
                    line,
                    cause: DropCause::ConfigError,
                });
            }
            Err(ProcessorProblem::Unsupported) => {
                cfg.dropped.push(Dropped {
                    what: format!("sink group {g}"),
                    why: format!(
                        "its processor is not implemented; with --allow-unsupported its sinks ({}) run independently, each taking from its channel",
                        running.join(", ")
                    ),
                    line,
                    cause: DropCause::Unsupported,
                });
            }
        }
    }
    if let Some((g, k, line)) = lost_everything {
        diags.error(
            line,
            format!("{agent}.sinkgroups.{g}.sinks"),
            format!("sink {k} of sink group {g} fails when Flume creates it (see its errors), and Flume then abandons the whole configuration (\"Failed to instantiate component\"): nothing of agent {agent} runs"),
            Some(format!("fix sink {k}, or remove it from the group")),
        );
        let all: Vec<String> = cfg
            .sources
            .iter()
            .map(|s| format!("source {}", s.name))
            .chain(cfg.channels.iter().map(|c| format!("channel {}", c.name)))
            .chain(cfg.sinks.iter().map(|k| format!("sink {}", k.name)))
            .chain(
                cfg.sinkgroups
                    .iter()
                    .map(|x| format!("sink group {}", x.name)),
            )
            .collect();
        for what in all {
            cfg.dropped.push(Dropped {
                what,
                why: format!("sink group {g} cannot be created (sink {k})"),
                line,
                cause: DropCause::ConfigError,
            });
        }
        cfg.sources.clear();
        cfg.channels.clear();
        cfg.sinks.clear();
        cfg.sinkgroups.clear();
    }
}

/// A group removed before its processor was read: its remaining keys are not reported as unknown.
fn removed_group(
    mut r: PropReader,
    cfg: &mut AgentConfig,
    g: &str,
    why: &str,
    line: Option<usize>,
) {
    r.known_prefix("processor.");
    r.finish("a sink group");
    cfg.dropped.push(Dropped {
        what: format!("sink group {g}"),
        why: why.into(),
        line,
        cause: DropCause::ConfigError,
    });
}

fn drop_sinks(cfg: &mut AgentConfig, sinks: &[String], why: &str) {
    for k in sinks {
        let line = cfg
            .sinks
            .iter()
            .find(|s| &s.name == k)
            .and_then(|s| s.kind.line);
        cfg.sinks.retain(|s| &s.name != k);
        cfg.dropped.push(Dropped {
            what: format!("sink {k}"),
            why: why.to_string(),
            line,
            cause: DropCause::ConfigError,
        });
    }
}

/// A channel whose every sink rflume cannot run would only fill up and then stall its sources
/// (and, through a replicating source, the paths that do run): it is not run, and its sources
/// feed their other channels. Nothing of this happens in Flume, which runs those sinks, so these
/// drops count as unsupported.
pub fn prune_channels_of_unsupported_sinks(
    cfg: &mut AgentConfig,
    raw: &RawAgent,
    diags: &mut Diagnostics,
) {
    let agent = cfg.agent.clone();
    let listed_sinks = raw
        .sinks
        .as_ref()
        .map(|l| l.names.clone())
        .unwrap_or_default();
    let sink_is_unsupported = |name: &str| {
        cfg.dropped
            .iter()
            .any(|d| d.what == format!("sink {name}") && d.cause == DropCause::Unsupported)
    };
    let mut orphaned: Vec<(String, Vec<String>, Option<usize>)> = Vec::new();
    for c in &cfg.channels {
        let readers: Vec<String> = listed_sinks
            .iter()
            .filter(|k| {
                raw.sink_props
                    .get(*k)
                    .and_then(|p| p.value("channel"))
                    .is_some_and(|ch| ch == c.name)
            })
            .cloned()
            .collect();
        let running = cfg.sinks.iter().any(|k| k.channel == c.name);
        if !running && !readers.is_empty() && readers.iter().all(|k| sink_is_unsupported(k)) {
            orphaned.push((c.name.clone(), readers, c.kind.line));
        }
    }
    for (channel, readers, line) in orphaned {
        diags.warn(
            line,
            format!("{agent}.channels.{channel}"),
            format!(
                "channel {channel} does not run: its sink(s) {} are not supported, so it would only fill up and stall its sources",
                readers.join(", ")
            ),
            None,
        );
        cfg.channels.retain(|c| c.name != channel);
        cfg.dropped.push(Dropped {
            what: format!("channel {channel}"),
            why: format!("its sink(s) {} are not supported", readers.join(", ")),
            line,
            cause: DropCause::Unsupported,
        });
        let mut emptied = Vec::new();
        for s in &mut cfg.sources {
            let before = s.channels.len();
            s.channels.retain(|c| *c != channel);
            if s.channels.len() < before && !s.selector.has_required(&s.channels) {
                emptied.push((s.name.clone(), s.kind.line));
            }
        }
        for (source, line) in emptied {
            diags.warn(
                line,
                format!("{agent}.sources.{source}.channels"),
                format!("source {source} does not run: it has no required channel left after {channel} (unsupported sinks)"),
                None,
            );
            cfg.sources.retain(|s| s.name != source);
            cfg.dropped.push(Dropped {
                what: format!("source {source}"),
                why: format!("its channels do not run ({channel}: unsupported sinks)"),
                line,
                cause: DropCause::Unsupported,
            });
        }
    }
}

/// Flume 1.9+: a source's batch larger than its channel's transaction capacity, or a sink's, makes
/// every transaction fail; the component is removed at load time.
pub fn batch_sizes(cfg: &mut AgentConfig, diags: &mut Diagnostics) {
    let channels = cfg.channels.clone();
    let tx_of = |name: &str| {
        channels
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.settings.spec().transaction_capacity())
    };
    // The batch-size key's line, or the channel's transactionCapacity line when the batch size
    // is a default that the file never wrote.
    let line_of = |lines: &BTreeMap<String, usize>, key: &str, channel: &str| {
        lines.get(key).copied().or_else(|| {
            channels
                .iter()
                .find(|c| c.name == channel)
                .and_then(|c| c.lines.get("transactionCapacity").copied())
        })
    };
    let prefix = cfg.agent.clone();
    let mut dropped = Vec::new();
    cfg.sources.retain(|s| {
        for ch in &s.channels {
            if let Some(tx) = tx_of(ch) {
                if s.settings.spec().batch_size() > tx {
                    diags.error(
                        line_of(&s.lines, "batchSize", ch),
                        format!("{prefix}.sources.{}.batchSize", s.name),
                        format!("Incompatible source and channel settings defined. source's batch size is greater than the channels transaction capacity. Source: {}, batch size = {}, channel {ch}, transaction capacity = {tx}; the source is dropped", s.name, s.settings.spec().batch_size()),
                        Some(format!("set batchSize <= {tx} or raise {prefix}.channels.{ch}.transactionCapacity")),
                    );
                    dropped.push(Dropped {
                        what: format!("source {}", s.name),
                        why: "batch size over transactionCapacity".to_string(),
                        line: s.kind.line,
                        cause: DropCause::ConfigError,
                    });
                    return false;
                }
            }
        }
        true
    });
    cfg.sinks.retain(|k| {
        if let Some(tx) = tx_of(&k.channel) {
            if k.settings.spec().batch_size() > tx {
                let key = k.settings.spec().batch_size_key(&k.lines);
                diags.error(
                    line_of(&k.lines, key, &k.channel),
                    format!("{prefix}.sinks.{}.{key}", k.name),
                    format!("Incompatible sink and channel settings defined. sink's batch size is greater than the channels transaction capacity. Sink: {}, batch size = {}, channel {}, transaction capacity = {tx}; the sink is dropped", k.name, k.settings.spec().batch_size(), k.channel),
                    Some(format!("set {key} <= {tx} or raise {prefix}.channels.{}.transactionCapacity", k.channel)),
                );
                dropped.push(Dropped {
                    what: format!("sink {}", k.name),
                    why: "batch size over transactionCapacity".to_string(),
                    line: k.kind.line,
                    cause: DropCause::ConfigError,
                });
                return false;
            }
        }
        true
    });
    cfg.dropped.extend(dropped);
}

pub fn prune_unconnected_channels(cfg: &mut AgentConfig, diags: &mut Diagnostics) {
    let sources = cfg.sources.clone();
    let sinks = cfg.sinks.clone();
    let agent = cfg.agent.clone();
    let mut dropped = Vec::new();
    cfg.channels.retain(|c| {
        let used = sources.iter().any(|s| s.channels.contains(&c.name))
            || sinks.iter().any(|k| k.channel == c.name);
        if !used {
            diags.warn(
                c.kind.line,
                format!("{agent}.channels.{}", c.name),
                format!(
                    "Channel {} has no components connected and has been removed",
                    c.name
                ),
                Some("connect a source and a sink to it, or delete it".to_string()),
            );
            dropped.push(Dropped {
                what: format!("channel {}", c.name),
                why: "nothing connected".to_string(),
                line: c.kind.line,
                cause: DropCause::Unused,
            });
        }
        used
    });
    cfg.dropped.extend(dropped);
}

/// Components with properties that no list names: Flume ignores them without a word.
pub fn report_unlisted(raw: &RawAgent, agent: &str, diags: &mut Diagnostics) {
    let sections = [
        ("sources", &raw.sources, &raw.source_props),
        ("channels", &raw.channels, &raw.channel_props),
        ("sinks", &raw.sinks, &raw.sink_props),
        ("sinkgroups", &raw.sinkgroups, &raw.sinkgroup_props),
        ("configfilters", &raw.configfilters, &raw.configfilter_props),
    ];
    for (section, list, props) in sections {
        for (name, comp) in props {
            let in_list = list.as_ref().is_some_and(|l| l.names.contains(name));
            if !in_list {
                diags.warn(
                    comp.first_line(),
                    format!("{agent}.{section}.{name}"),
                    format!("{name} has properties but is not listed in {agent}.{section}; ignored (Flume ignores it silently)"),
                    Some(format!("add {name} to {agent}.{section}, or delete its lines")),
                );
            }
        }
    }
}
