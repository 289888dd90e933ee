//! Building each listed component: its type resolved in its kind's registry, its settings parsed
//! by the component's own parser, and the keys the graph owns (a source's `channels`, selector and
//! interceptors, a sink's `channel`). A component with an error is dropped, as in Flume, and the
//! rest is built.

use std::collections::BTreeMap;

use super::layout::{listed, RawAgent};
use super::{
    or_none, AgentConfig, ChannelConfig, DropCause, Dropped, InterceptorConfig, SinkConfig,
    SourceConfig, TypeRef,
};
use crate::config::reader::{ComponentProps, PropReader};
use crate::config::registry::{self, Support, TypeEntry};
use crate::config::Diagnostics;
use crate::source::selector::SelectorSettings;
use crate::{channel, interceptor, sink, source};

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
    dropped: &mut Vec<Dropped>,
    extra: impl FnOnce(&mut PropReader) -> Option<X>,
) -> Option<Parsed<S, X>> {
    let label = format!("{what} {}", comp.name);
    let line = comp.line("type").or_else(|| comp.first_line());
    let (kind, parse) = match resolve_type(comp, what, consequence, table, diags) {
        Ok(found) => found,
        Err(cause) => {
            if cause == DropCause::Unsupported {
                // The graph-owned parts (interceptors, selector, channels) are still read, so
                // that every part rflume lacks is listed at once, not one per start attempt.
                // The component's own keys are not reported as unknown: its parser never ran.
                let mut r = PropReader::new(comp, diags);
                r.known("type");
                let _ = extra(&mut r);
            }
            dropped.push(Dropped {
                what: label,
                why: match cause {
                    DropCause::Unsupported => "rflume does not implement its type".into(),
                    _ => "invalid type".into(),
                },
                line,
                cause,
            });
            return None;
        }
    };
    let mut r = PropReader::new(comp, diags);
    r.known("type");
    let extra = extra(&mut r);
    let settings = parse(&mut r);
    let failed = r.failed();
    let unsupported = r.is_unsupported();
    r.finish(&format!("the {} {what}", kind.name.alias));
    match (settings, extra) {
        (Some(settings), Some(extra)) if !failed => Some(Parsed {
            kind,
            settings,
            extra,
        }),
        _ => {
            let (why, cause) = if unsupported {
                (
                    "it needs something rflume does not implement",
                    DropCause::Unsupported,
                )
            } else {
                ("configuration errors", DropCause::ConfigError)
            };
            dropped.push(Dropped {
                what: label,
                why: why.into(),
                line,
                cause,
            });
            None
        }
    }
}

/// Resolves `type`, reporting a missing, unknown or unsupported type (and `consequence`, what
/// becomes of it); returns the type and its parser. A missing type is a configuration error
/// (Flume drops the component too); a type or class rflume does not implement is unsupported
/// (Flume would run it).
fn resolve_type<S>(
    comp: &ComponentProps,
    what: &str,
    consequence: &str,
    table: &'static [TypeEntry<S>],
    diags: &mut Diagnostics,
) -> Result<(TypeRef, registry::ParseFn<S>), DropCause> {
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
        return Err(DropCause::ConfigError);
    };
    let Some(entry) = registry::resolve(table, &written) else {
        let hint = match registry::did_you_mean(table, &written) {
            Some(name) => format!(
                "did you mean {name}? supported: {}",
                registry::supported_names(table)
            ),
            None => format!("supported: {}", registry::supported_names(table)),
        };
        diags.unsupported(
            Some(line),
            full,
            format!(
                "unknown {what} type '{written}': a custom class rflume cannot load; {consequence}"
            ),
            Some(hint),
        );
        return Err(DropCause::Unsupported);
    };
    let name = entry.name;
    let parse = match entry.support {
        Support::Yes(parse) => parse,
        Support::No(hint) => {
            diags.unsupported(
                Some(line),
                full,
                format!(
                    "{what} type {} ({}) is not supported by rflume; {consequence}",
                    name.alias, name.class
                ),
                Some(hint.to_string()),
            );
            return Err(DropCause::Unsupported);
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
    Ok((
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
        let line = raw
            .channels
            .as_ref()
            .and_then(|l| l.line)
            .or(raw.first_line);
        diags.error(
            line,
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

/// What became of each channel the file lists, for the sources and sinks that name one.
struct ChannelIndex {
    valid: Vec<String>,
    /// Listed channels that were dropped: (name, line of its declaration, cause).
    dropped: Vec<(String, Option<usize>, DropCause)>,
}

enum ChannelState<'a> {
    Valid,
    Dropped(Option<usize>, DropCause),
    Unknown(&'a [String]),
}

impl ChannelIndex {
    fn new(cfg: &AgentConfig, raw: &RawAgent) -> Self {
        let listed = raw
            .channels
            .as_ref()
            .map(|l| l.names.as_slice())
            .unwrap_or(&[]);
        let dropped = listed
            .iter()
            .filter(|n| !cfg.channels.iter().any(|c| &c.name == *n))
            .map(|n| {
                let entry = cfg
                    .dropped
                    .iter()
                    .find(|d| d.what == format!("channel {n}"));
                (
                    n.clone(),
                    entry.and_then(|d| d.line),
                    entry.map_or(DropCause::ConfigError, |d| d.cause),
                )
            })
            .collect();
        ChannelIndex {
            valid: cfg.channels.iter().map(|c| c.name.clone()).collect(),
            dropped,
        }
    }

    fn state(&self, name: &str) -> ChannelState<'_> {
        if self.valid.iter().any(|c| c == name) {
            return ChannelState::Valid;
        }
        match self.dropped.iter().find(|(n, _, _)| n == name) {
            Some((_, line, cause)) => ChannelState::Dropped(*line, *cause),
            None => ChannelState::Unknown(&self.valid),
        }
    }
}

/// "see line 12" for a cause reported at a line, so that no message points "above" at
/// something printed below it.
fn see(line: Option<usize>) -> String {
    line.map_or_else(|| "see its errors".to_string(), |l| format!("see line {l}"))
}

fn valid_list(valid: &[String]) -> String {
    format!(
        "valid channels: {}",
        or_none(&valid.iter().map(String::as_str).collect::<Vec<_>>())
    )
}

/// What the graph reads of a source besides its own settings.
struct SourceWiring {
    channels: Vec<String>,
    selector: SelectorSettings,
    interceptors: Vec<InterceptorConfig>,
}

pub fn sources(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let key = format!("{}.sources", cfg.agent);
    let index = ChannelIndex::new(cfg, raw);
    for comp in listed(&raw.sources, &raw.source_props, &key, "source", &key, diags) {
        let parsed = parse_component(
            comp,
            "source",
            "it is dropped",
            source::TYPES,
            diags,
            &mut cfg.dropped,
            |r| {
                let channels = source_channels(r, &index);
                let selector = channels
                    .as_ref()
                    .and_then(|(valid, not_running)| selector(r, valid, not_running));
                let interceptors = interceptors(r, comp);
                Some(SourceWiring {
                    channels: channels?.0,
                    selector: selector?,
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
                channels: w.channels,
                selector: w.selector,
                settings: p.settings,
                lines: key_lines(comp),
            });
        }
    }
}

/// The source's `channels`, intersected with the valid channels, as Flume does
/// (`channels.retainAll(channelSet)`): the source runs on the channels that remain, and is
/// dropped only when none does. Flume drops an unknown name silently; rflume reports it. Also
/// returns the listed channels that Flume would run and rflume does not (unsupported).
fn source_channels(r: &mut PropReader, index: &ChannelIndex) -> Option<(Vec<String>, Vec<String>)> {
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
    let component = r.component().to_string();
    let mut out = Vec::new();
    let mut not_running = Vec::new();
    // Why channels were left out: the source's own drop is a consequence of these.
    let mut unsupported_cause = false;
    let mut caused_elsewhere = false;
    for name in value.split_whitespace() {
        if out.iter().any(|c| c == name) {
            continue;
        }
        match index.state(name) {
            ChannelState::Valid => out.push(name.to_string()),
            ChannelState::Dropped(at, cause) => {
                caused_elsewhere = true;
                unsupported_cause |= cause == DropCause::Unsupported;
                if cause == DropCause::Unsupported {
                    not_running.push(name.to_string());
                }
                r.warn(
                    "channels",
                    Some(line),
                    format!(
                        "channel {name} does not run ({}); {component} does not feed it",
                        see(at)
                    ),
                    None,
                );
            }
            ChannelState::Unknown(valid) => r.dropped_part(
                "channels",
                Some(line),
                format!("channel {name} is not a channel of this agent; {component} runs without it (Flume drops it silently)"),
                Some(valid_list(valid)),
            ),
        }
    }
    if out.is_empty() {
        let message = format!("No Channels configured for {component}; the source is dropped");
        if caused_elsewhere {
            r.fails_because("channels", Some(line), message, None, unsupported_cause);
        } else {
            r.error("channels", Some(line), message, None);
        }
        return None;
    }
    Some((out, not_running))
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
        let mut sub_diags = r.child_diagnostics();
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

/// The source's channel selector (`selector.*`), parsed by the source layer's selector module
/// over the channels the source feeds.
fn selector(
    r: &mut PropReader,
    channels: &[String],
    not_running: &[String],
) -> Option<SelectorSettings> {
    SelectorSettings::parse(r, channels, not_running)
}

pub fn sinks(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let key = format!("{}.sinks", cfg.agent);
    let index = ChannelIndex::new(cfg, raw);
    for comp in listed(&raw.sinks, &raw.sink_props, &key, "sink", &key, diags) {
        let parsed = parse_component(
            comp,
            "sink",
            "it is dropped",
            sink::TYPES,
            diags,
            &mut cfg.dropped,
            |r| sink_channel(r, &comp.name, &index),
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
fn sink_channel(r: &mut PropReader, name: &str, index: &ChannelIndex) -> Option<String> {
    let Some((c, line)) = r.raw("channel") else {
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
        return None;
    };
    match index.state(c) {
        ChannelState::Valid => Some(c.to_string()),
        ChannelState::Dropped(at, cause) => {
            r.fails_because(
                "channel",
                Some(line),
                format!(
                    "channel {c} does not run ({}); the sink is dropped with it",
                    see(at)
                ),
                None,
                cause == DropCause::Unsupported,
            );
            None
        }
        ChannelState::Unknown(valid) => {
            r.error(
                "channel",
                Some(line),
                format!("Channel {c} not in active set; the sink is dropped"),
                Some(valid_list(valid)),
            );
            None
        }
    }
}
