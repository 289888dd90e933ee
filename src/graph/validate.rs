//! Flume's validation rules that look across components, applied after each component was built:
//! batch sizes against their channels' transaction capacities, channels nothing is connected to,
//! components configured but never listed, and sink groups.

use std::collections::BTreeMap;

use super::layout::RawAgent;
use super::AgentConfig;
use crate::config::Diagnostics;

pub fn sinkgroups(cfg: &AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let Some(groups) = &raw.sinkgroups else {
        return;
    };
    for g in &groups.names {
        let processor = raw
            .sinkgroup_props
            .get(g)
            .and_then(|c| c.value("processor.type"))
            .unwrap_or("default");
        let sinks = raw
            .sinkgroup_props
            .get(g)
            .and_then(|c| c.value("sinks"))
            .unwrap_or("");
        diags.error(
            groups.line,
            format!("{}.sinkgroups", cfg.agent),
            format!("sink group {g} (processor {processor}) is not supported yet; its sinks ({sinks}) run independently, each taking from its channel"),
            Some("remove the sink group, or keep this agent on Flume until rflume supports failover/load_balance".to_string()),
        );
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
        for ch in s.channels.iter().chain(&s.optional_channels) {
            if let Some(tx) = tx_of(ch) {
                if s.settings.spec().batch_size() > tx {
                    diags.error(
                        line_of(&s.lines, "batchSize", ch),
                        format!("{prefix}.sources.{}.batchSize", s.name),
                        format!("Incompatible source and channel settings defined. source's batch size is greater than the channels transaction capacity. Source: {}, batch size = {}, channel {ch}, transaction capacity = {tx}; the source is dropped", s.name, s.settings.spec().batch_size()),
                        Some(format!("set batchSize <= {tx} or raise {prefix}.channels.{ch}.transactionCapacity")),
                    );
                    dropped.push((format!("source {}", s.name), "batch size over transactionCapacity".to_string()));
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
                dropped.push((format!("sink {}", k.name), "batch size over transactionCapacity".to_string()));
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
        let used = sources
            .iter()
            .any(|s| s.channels.contains(&c.name) || s.optional_channels.contains(&c.name))
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
            dropped.push((
                format!("channel {}", c.name),
                "nothing connected".to_string(),
            ));
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
