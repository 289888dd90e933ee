//! Flume's validation rules that look across components, applied after each component was built:
//! batch sizes against their channels' transaction capacities, channels nothing is connected to,
//! components configured but never listed, and sink groups.

use std::collections::BTreeMap;

use super::layout::RawAgent;
use super::{AgentConfig, DropCause, Dropped};
use crate::config::Diagnostics;

/// Sink groups with a failover or load-balancing processor are not implemented yet. A group with
/// the default processor and one sink is what Flume runs without a group anyway.
pub fn sinkgroups(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let Some(groups) = &raw.sinkgroups else {
        return;
    };
    for g in &groups.names {
        let props = raw.sinkgroup_props.get(g);
        let processor = props
            .and_then(|c| c.value("processor.type"))
            .unwrap_or("default");
        let sinks = props.and_then(|c| c.value("sinks")).unwrap_or("");
        let trivial =
            processor.eq_ignore_ascii_case("default") && sinks.split_whitespace().count() <= 1;
        if trivial {
            continue;
        }
        let line = props
            .and_then(|c| c.line("processor.type").or_else(|| c.first_line()))
            .or(groups.line);
        diags.unsupported(
            line,
            format!("{}.sinkgroups.{g}.processor.type", cfg.agent),
            format!("sink group {g} (processor {processor}) is not supported yet; with --allow-unsupported its sinks ({sinks}) run independently, each taking from its channel"),
            Some("keep this agent on Flume until rflume supports failover/load_balance, or remove the sink group".to_string()),
        );
        cfg.dropped.push(Dropped {
            what: format!("sink group {g}"),
            why: format!("processor {processor} is not implemented; its sinks run independently"),
            line,
            cause: DropCause::Unsupported,
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
