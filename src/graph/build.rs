//! Building each listed component: its type resolved in its kind's registry, its settings parsed
//! by the component's own parser, and the keys the graph owns (a source's `channels`, selector and
//! interceptors, a sink's `channel`). A component with an error is dropped, as in Flume, and the
//! rest is built.

use std::collections::BTreeMap;

use super::layout::{listed, RawAgent};
use super::{
    or_none, AgentConfig, ChannelConfig, InterceptorConfig, SinkConfig, SourceConfig, TypeRef,
};
use crate::config::reader::{ComponentProps, PropReader};
use crate::config::registry::{self, Support, TypeEntry};
use crate::config::Diagnostics;
use crate::{channel, interceptor, sink, source};

/// What a dropped component's entry in [`AgentConfig::dropped`] says.
const DROPPED_FOR_ERRORS: &str = "configuration errors (see above)";

/// A parsed component: its type, its settings and what the graph read beside them.
struct Parsed<S, X> {
    kind: TypeRef,
    settings: S,
    extra: X,
}

/// Resolves `comp`'s type in `table`, parses its settings with the type's parser and the keys the
/// graph owns with `extra`, then reports every key nobody read. `None` (with the reason in
/// `dropped`) when the component cannot run.
fn parse_component<S, X>(
    comp: &ComponentProps,
    what: &str,
    consequence: &str,
    table: &'static [TypeEntry<S>],
    diags: &mut Diagnostics,
    dropped: &mut Vec<(String, String)>,
    extra: impl FnOnce(&mut PropReader) -> Option<X>,
) -> Option<Parsed<S, X>> {
    let label = format!("{what} {}", comp.name);
    let Some((kind, parse)) = resolve_type(comp, what, consequence, table, diags) else {
        dropped.push((label, "invalid type".into()));
        return None;
    };
    let mut r = PropReader::new(comp, diags);
    r.known("type");
    let extra = extra(&mut r);
    let settings = parse(&mut r);
    let failed = r.failed();
    r.finish(&format!("the {} {what}", kind.name.alias));
    match (settings, extra) {
        (Some(settings), Some(extra)) if !failed => Some(Parsed {
            kind,
            settings,
            extra,
        }),
        _ => {
            dropped.push((label, DROPPED_FOR_ERRORS.into()));
            None
        }
    }
}

/// Resolves `type`, reporting a missing, unknown or unsupported type (and `consequence`, what
/// becomes of it); returns the type and its parser.
fn resolve_type<S>(
    comp: &ComponentProps,
    what: &str,
    consequence: &str,
    table: &'static [TypeEntry<S>],
    diags: &mut Diagnostics,
) -> Option<(TypeRef, registry::ParseFn<S>)> {
    let full = format!("{}type", comp.prefix);
    let Some((written, line)) = comp.props.get("type").map(|(v, l)| (v.clone(), *l)) else {
        diags.error(
            comp.first_line(),
            full,
            format!(
                "Component has no type. Cannot configure {what} {}; {consequence}",
                comp.name
            ),
            Some(format!(
                "add {}type = one of: {}",
                comp.prefix,
                registry::supported_names(table)
            )),
        );
        return None;
    };
    let Some(entry) = registry::resolve(table, &written) else {
        diags.error(
            Some(line),
            full,
            format!("unknown or unsupported {what} type '{written}' (a custom class rflume cannot load); {consequence}"),
            Some(format!("supported: {}", registry::supported_names(table))),
        );
        return None;
    };
    let name = entry.name;
    let parse = match entry.support {
        Support::Yes(parse) => parse,
        Support::No(hint) => {
            diags.error(
                Some(line),
                full,
                format!(
                    "{what} type {} ({}) is not supported by rflume; {consequence}",
                    name.alias, name.class
                ),
                Some(hint.to_string()),
            );
            return None;
        }
    };
    if !name.flume_alias && written.eq_ignore_ascii_case(name.alias) {
        diags.warn(
            Some(line),
            full,
            format!("Flume has no '{written}' alias; Flume itself would reject this file"),
            Some(format!(
                "write type = {} to stay compatible with Flume",
                name.class
            )),
        );
    }
    Some((
        TypeRef {
            written,
            name,
            line: Some(line),
        },
        parse,
    ))
}

fn key_lines(comp: &ComponentProps) -> BTreeMap<String, usize> {
    comp.props
        .iter()
        .map(|(k, (_, l))| (k.clone(), *l))
        .collect()
}

pub fn channels(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let agent = cfg.agent.clone();
    let key = format!("{agent}.channels");
    if raw.channels.as_ref().is_none_or(|l| l.names.is_empty()) {
        diags.error(
            None,
            &key,
            format!(
                "agent '{agent}' does not contain any channels; it is invalid and nothing runs"
            ),
            Some(format!(
                "add {agent}.channels = c1 and {agent}.channels.c1.type = memory"
            )),
        );
        return;
    }
    for comp in listed(
        &raw.channels,
        &raw.channel_props,
        &key,
        "channel",
        &key,
        diags,
    ) {
        let parsed = parse_component(
            comp,
            "channel",
            "it is dropped",
            channel::TYPES,
            diags,
            &mut cfg.dropped,
            |_| Some(()),
        );
        if let Some(p) = parsed {
            cfg.channels.push(ChannelConfig {
                name: comp.name.clone(),
                kind: p.kind,
                settings: p.settings,
                lines: key_lines(comp),
            });
        }
    }
}

/// (channels that survived validation, channels the file lists): a name in the second but not
/// the first was dropped for its own errors, which deserves a different message.
fn channel_names(cfg: &AgentConfig, raw: &RawAgent) -> (Vec<String>, Vec<String>) {
    let valid = cfg.channels.iter().map(|c| c.name.clone()).collect();
    let listed = raw
        .channels
        .as_ref()
        .map(|l| l.names.clone())
        .unwrap_or_default();
    (valid, listed)
}

/// What the graph reads of a source besides its own settings.
struct SourceWiring {
    channels: Vec<String>,
    optional: Vec<String>,
    interceptors: Vec<InterceptorConfig>,
}

pub fn sources(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let key = format!("{}.sources", cfg.agent);
    let (valid_channels, listed_channels) = channel_names(cfg, raw);
    for comp in listed(&raw.sources, &raw.source_props, &key, "source", &key, diags) {
        let parsed = parse_component(
            comp,
            "source",
            "it is dropped",
            source::TYPES,
            diags,
            &mut cfg.dropped,
            |r| {
                let channels = source_channels(r, &valid_channels, &listed_channels);
                let optional = selector(r, &channels);
                let interceptors = interceptors(r, comp);
                Some(SourceWiring {
                    channels: channels?,
                    optional: optional?,
                    interceptors: interceptors?,
                })
            },
        );
        if let Some(p) = parsed {
            let w = p.extra;
            cfg.sources.push(SourceConfig {
                name: comp.name.clone(),
                kind: p.kind,
                interceptors: w.interceptors,
                channels: w
                    .channels
                    .into_iter()
                    .filter(|c| !w.optional.contains(c))
                    .collect(),
                optional_channels: w.optional,
                settings: p.settings,
                lines: key_lines(comp),
            });
        }
    }
}

/// The source's `channels`, intersected with the valid channels. Flume drops unknown names
/// silently; rflume reports each one.
fn source_channels(r: &mut PropReader, valid: &[String], listed: &[String]) -> Option<Vec<String>> {
    let Some((value, line)) = r.raw("channels") else {
        let hint = if r.line("channel").is_some() {
            "a source takes `channels` (plural); `channel` is the sink's key".to_string()
        } else {
            format!("add {} = <channel name>", r.full_key("channels"))
        };
        let component = r.component().to_string();
        r.error(
            "channels",
            None,
            format!("No channels set for {component}; the source is dropped"),
            Some(hint),
        );
        return None;
    };
    let mut out = Vec::new();
    for name in value.split_whitespace() {
        if out.iter().any(|c| c == name) {
            continue;
        }
        if valid.iter().any(|c| c == name) {
            out.push(name.to_string());
        } else if listed.iter().any(|c| c == name) {
            r.error(
                "channels",
                Some(line),
                format!("channel {name} was dropped because of its own errors (see above)"),
                None,
            );
        } else {
            r.error(
                "channels",
                Some(line),
                format!(
                    "channel {name} is not a valid channel of this agent (Flume drops it silently)"
                ),
                Some(format!(
                    "valid channels: {}",
                    or_none(&valid.iter().map(String::as_str).collect::<Vec<_>>())
                )),
            );
        }
    }
    if out.is_empty() {
        let component = r.component().to_string();
        r.error(
            "channels",
            Some(line),
            format!("No Channels configured for {component}; the source is dropped"),
            None,
        );
        return None;
    }
    Some(out)
}

/// The source's interceptor chain, in the listed order (Flume keeps this list's order). An
/// interceptor that cannot run drops its source: running the source without it would change
/// what reaches the channels.
fn interceptors(r: &mut PropReader, comp: &ComponentProps) -> Option<Vec<InterceptorConfig>> {
    r.known_prefix("interceptors.");
    let Some((list, line)) = r.raw("interceptors") else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for name in list.split_whitespace() {
        let prefix = format!("interceptors.{name}.");
        let sub = ComponentProps {
            name: name.to_string(),
            prefix: format!("{}{prefix}", comp.prefix),
            props: r
                .with_prefix(&prefix)
                .into_iter()
                .map(|(k, v, l)| (k, (v, l)))
                .collect(),
        };
        if sub.props.is_empty() {
            r.error(
                "interceptors",
                Some(line),
                format!(
                    "interceptor {name} is listed but has no properties; the source is dropped"
                ),
                Some(format!(
                    "add {}type = {}",
                    sub.prefix,
                    registry::supported_names(interceptor::TYPES)
                )),
            );
            ok = false;
            continue;
        }
        let mut sub_diags = Diagnostics::new(r.file());
        let mut ignored = Vec::new();
        let parsed = parse_component(
            &sub,
            "interceptor",
            "the source is dropped rather than run without it",
            interceptor::TYPES,
            &mut sub_diags,
            &mut ignored,
            |_| Some(()),
        );
        r.absorb(sub_diags);
        match parsed {
            Some(p) => out.push(InterceptorConfig {
                name: name.to_string(),
                kind: p.kind,
                settings: p.settings,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `selector.type` and `selector.optional`: only the replicating selector runs yet.
fn selector(r: &mut PropReader, channels: &Option<Vec<String>>) -> Option<Vec<String>> {
    r.known_prefix("selector.");
    let kind = r.string("selector.type", "replicating");
    if !kind.eq_ignore_ascii_case("replicating")
        && !kind.eq_ignore_ascii_case("org.apache.flume.channel.ReplicatingChannelSelector")
    {
        r.error(
            "selector.type",
            None,
            format!("channel selector '{kind}' is not supported yet; the source is dropped rather than route events differently"),
            Some("supported: replicating".to_string()),
        );
        return None;
    }
    let mut optional = Vec::new();
    if let Some((value, line)) = r.raw("selector.optional") {
        for name in value.split_whitespace() {
            match channels {
                Some(ch) if ch.iter().any(|c| c == name) => optional.push(name.to_string()),
                _ => r.warn(
                    "selector.optional",
                    Some(line),
                    format!("optional channel {name} is not one of the source's channels; ignored"),
                    None,
                ),
            }
        }
    }
    if let Some(ch) = channels {
        if !ch.is_empty() && ch.iter().all(|c| optional.contains(c)) {
            // Flume requires at least one required channel for an event to count as stored.
            r.warn(
                "selector.optional",
                None,
                "every channel of this source is optional: a full channel silently loses events",
                Some("leave at least one channel required".to_string()),
            );
        }
    }
    Some(optional)
}

pub fn sinks(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let key = format!("{}.sinks", cfg.agent);
    let (valid_channels, listed_channels) = channel_names(cfg, raw);
    for comp in listed(&raw.sinks, &raw.sink_props, &key, "sink", &key, diags) {
        let parsed = parse_component(
            comp,
            "sink",
            "it is dropped",
            sink::TYPES,
            diags,
            &mut cfg.dropped,
            |r| sink_channel(r, &comp.name, &valid_channels, &listed_channels),
        );
        if let Some(p) = parsed {
            cfg.sinks.push(SinkConfig {
                name: comp.name.clone(),
                kind: p.kind,
                channel: p.extra,
                settings: p.settings,
                lines: key_lines(comp),
            });
        }
    }
}

/// The sink's one `channel`, which must have survived validation.
fn sink_channel(
    r: &mut PropReader,
    name: &str,
    valid_channels: &[String],
    listed_channels: &[String],
) -> Option<String> {
    match r.raw("channel") {
        None => {
            let hint = if r.line("channels").is_some() {
                "a sink takes `channel` (singular) and exactly one channel".to_string()
            } else {
                format!("add {} = <channel name>", r.full_key("channel"))
            };
            r.error(
                "channel",
                None,
                format!("No channel configured for sink: {name}; the sink is dropped"),
                Some(hint),
            );
            None
        }
        Some((c, line))
            if listed_channels.iter().any(|v| v == c) && !valid_channels.iter().any(|v| v == c) =>
        {
            r.error(
                "channel",
                Some(line),
                format!("channel {c} was dropped because of its own errors (see above); the sink is dropped with it"),
                None,
            );
            None
        }
        Some((c, line)) if !valid_channels.iter().any(|v| v == c) => {
            r.error(
                "channel",
                Some(line),
                format!("Channel {c} not in active set; the sink is dropped"),
                Some(format!(
                    "valid channels: {}",
                    or_none(
                        &valid_channels
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                    )
                )),
            );
            None
        }
        Some((c, _)) => Some(c.to_string()),
    }
}
