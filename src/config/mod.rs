//! Configuration: Flume's properties file → a validated agent graph.
//!
//! `properties.rs` reads the syntax, `reader.rs` gives each component typed access to its keys,
//! `registry.rs` maps type names to components, and this file applies Flume's layout and
//! validation rules (`FlumeConfiguration`, `AbstractConfigurationProvider`): what Flume would drop,
//! rflume drops too — but every drop and every silently ignored key becomes a [`Diagnostic`] with
//! file, line, key and the fix.
//!
//! The resulting [`AgentConfig`] is plain data (`PartialEq`), so that a reload can diff the old
//! and new graph component by component.

pub mod diag;
pub mod properties;
pub mod reader;
pub mod registry;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

pub use diag::{Diagnostic, Diagnostics, Severity};
use properties::{Lookup, PropertiesError};
use reader::{ComponentProps, PropReader};
use registry::{Support, TypeEntry};

use crate::channel::memory::MemorySettings;
use crate::interceptor::InterceptorSettings;
use crate::sink::kafka::KafkaSettings;
use crate::sink::logger::LoggerSettings;
use crate::sink::null::NullSettings;
use crate::source::exec::ExecSettings;
use crate::source::netcat::NetcatSettings;
use crate::source::seq::SeqSettings;
use crate::source::taildir::TaildirSettings;

#[derive(Clone, Debug, PartialEq)]
pub enum SourceSettings {
    Exec(ExecSettings),
    Netcat(NetcatSettings),
    Seq(SeqSettings),
    Taildir(TaildirSettings),
}

impl SourceSettings {
    /// Flume's `BatchSizeSupported`: the batch the source puts in one transaction.
    /// Netcat has none in Flume (one event per transaction); rflume batches what one read
    /// delivered, capped at the channel's transactionCapacity.
    pub fn batch_size(&self) -> usize {
        match self {
            SourceSettings::Exec(s) => s.batch_size,
            SourceSettings::Netcat(_) => 1,
            SourceSettings::Seq(s) => s.batch_size,
            SourceSettings::Taildir(s) => s.batch_size,
        }
    }
    pub fn describe(&self) -> Vec<(String, String)> {
        match self {
            SourceSettings::Exec(s) => s.describe(),
            SourceSettings::Netcat(s) => s.describe(),
            SourceSettings::Seq(s) => s.describe(),
            SourceSettings::Taildir(s) => s.describe(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChannelSettings {
    Memory(MemorySettings),
}

impl ChannelSettings {
    pub fn transaction_capacity(&self) -> usize {
        match self {
            ChannelSettings::Memory(s) => s.transaction_capacity,
        }
    }
    pub fn describe(&self) -> Vec<(String, String)> {
        match self {
            ChannelSettings::Memory(s) => s.describe(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SinkSettings {
    Kafka(Box<KafkaSettings>),
    Logger(LoggerSettings),
    Null(NullSettings),
}

impl SinkSettings {
    /// Events the sink takes in one transaction.
    pub fn batch_size(&self) -> usize {
        match self {
            SinkSettings::Kafka(s) => s.batch_size(),
            // Flume's logger takes one event per transaction; rflume's batches of 100 are
            // capped by the channel's transactionCapacity at take time.
            SinkSettings::Logger(_) => 1,
            SinkSettings::Null(s) => s.batch_size,
        }
    }
    pub fn describe(&self) -> Vec<(String, String)> {
        match self {
            SinkSettings::Kafka(s) => s.describe(),
            SinkSettings::Logger(s) => s.describe(),
            SinkSettings::Null(s) => s.describe(),
        }
    }
}

/// Where a component's type came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeRef {
    /// As written in the file.
    pub written: String,
    pub entry: &'static TypeEntry,
    pub line: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SourceConfig {
    pub name: String,
    pub kind: TypeRef,
    /// (name, settings) in the order of `interceptors = …`.
    pub interceptors: Vec<(String, InterceptorSettings)>,
    pub channels: Vec<String>,
    pub optional_channels: Vec<String>,
    pub settings: SourceSettings,
    /// Line of each of the component's keys, for diagnostics found after parsing.
    pub lines: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: TypeRef,
    pub settings: ChannelSettings,
    pub lines: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SinkConfig {
    pub name: String,
    pub kind: TypeRef,
    pub channel: String,
    pub settings: SinkSettings,
    pub lines: BTreeMap<String, usize>,
}

/// The runnable part of one agent's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    pub agent: String,
    pub file: Arc<Path>,
    pub sources: Vec<SourceConfig>,
    pub channels: Vec<ChannelConfig>,
    pub sinks: Vec<SinkConfig>,
    /// Components named in the file that will not run, with the reason.
    pub dropped: Vec<(String, String)>,
}

impl AgentConfig {
    pub fn is_runnable(&self) -> bool {
        !self.channels.is_empty() && (!self.sources.is_empty() || !self.sinks.is_empty())
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The resolved graph with effective settings, for `rflume check`.
    pub fn render(&self) -> String {
        let mut out = format!("agent {} ({})\n", self.agent, self.file.display());
        let fmt_settings = |out: &mut String, settings: Vec<(String, String)>| {
            for (k, v) in settings {
                out.push_str(&format!("      {k} = {v}\n"));
            }
        };
        for s in &self.sources {
            let mut chans = s.channels.join(", ");
            if !s.optional_channels.is_empty() {
                chans.push_str(&format!(" (optional: {})", s.optional_channels.join(", ")));
            }
            out.push_str(&format!(
                "  source {} [{}] -> channels: {}\n",
                s.name, s.kind.entry.alias, chans
            ));
            fmt_settings(&mut out, s.settings.describe());
            for (name, i) in &s.interceptors {
                out.push_str(&format!("    interceptor {name} [{}]\n", i.alias()));
                fmt_settings(&mut out, i.describe());
            }
        }
        for c in &self.channels {
            let feeders: Vec<&str> = self
                .sources
                .iter()
                .filter(|s| s.channels.contains(&c.name) || s.optional_channels.contains(&c.name))
                .map(|s| s.name.as_str())
                .collect();
            let readers: Vec<&str> = self
                .sinks
                .iter()
                .filter(|k| k.channel == c.name)
                .map(|k| k.name.as_str())
                .collect();
            out.push_str(&format!(
                "  channel {} [{}] <- sources: {} -> sinks: {}\n",
                c.name,
                c.kind.entry.alias,
                or_none(&feeders),
                or_none(&readers)
            ));
            fmt_settings(&mut out, c.settings.describe());
        }
        for k in &self.sinks {
            out.push_str(&format!(
                "  sink {} [{}] <- channel: {}\n",
                k.name, k.kind.entry.class, k.channel
            ));
            fmt_settings(&mut out, k.settings.describe());
        }
        for (what, why) in &self.dropped {
            out.push_str(&format!("  DROPPED {what}: {why}\n"));
        }
        out
    }
}

fn key_lines(comp: &ComponentProps) -> BTreeMap<String, usize> {
    comp.props
        .iter()
        .map(|(k, (_, l))| (k.clone(), *l))
        .collect()
}

fn or_none(v: &[&str]) -> String {
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

/// A configuration as loaded: the graph plus everything worth telling the operator.
#[derive(Debug)]
pub struct Loaded {
    pub config: AgentConfig,
    pub diagnostics: Diagnostics,
}

/// Loads `file` for agent `agent`. `system` holds `-Dkey=value` properties (`${sys:key}`).
pub fn load(
    file: &Path,
    agent: &str,
    system: &HashMap<String, String>,
) -> Result<Loaded, PropertiesError> {
    let mut diags = Diagnostics::new(Arc::from(file));
    let mut props = properties::load(file, &mut diags)?;
    let env = |k: &str| std::env::var(k).ok();
    properties::substitute(&mut props, &Lookup { system, env: &env }, &mut diags);
    let config = build(&props, agent, &mut diags);
    Ok(Loaded {
        config,
        diagnostics: diags,
    })
}

/// Loads from text (tests and `rflume check` on stdin).
pub fn load_str(text: &str, file: &Path, agent: &str) -> Result<Loaded, PropertiesError> {
    let mut diags = Diagnostics::new(Arc::from(file));
    let mut props = properties::parse(text, file, &mut diags)?;
    let env = |k: &str| std::env::var(k).ok();
    let system = HashMap::new();
    properties::substitute(
        &mut props,
        &Lookup {
            system: &system,
            env: &env,
        },
        &mut diags,
    );
    let config = build(&props, agent, &mut diags);
    Ok(Loaded {
        config,
        diagnostics: diags,
    })
}

/// A list value (`a1.sources = r1 r2`) with its line.
#[derive(Default, Debug)]
struct ListProp {
    names: Vec<String>,
    line: Option<usize>,
}

#[derive(Default, Debug)]
struct RawAgent {
    sources: Option<ListProp>,
    channels: Option<ListProp>,
    sinks: Option<ListProp>,
    sinkgroups: Option<ListProp>,
    configfilters: Option<ListProp>,
    source_props: BTreeMap<String, ComponentProps>,
    channel_props: BTreeMap<String, ComponentProps>,
    sink_props: BTreeMap<String, ComponentProps>,
    sinkgroup_props: BTreeMap<String, ComponentProps>,
}

/// Flume splits lists on whitespace into a set; rflume keeps the first occurrence's order and
/// reports duplicates.
fn split_list(value: &str, line: usize, key: &str, diags: &mut Diagnostics) -> ListProp {
    let mut names: Vec<String> = Vec::new();
    for n in value.split_whitespace() {
        if names.iter().any(|x| x == n) {
            diags.warn(
                Some(line),
                key,
                format!("{n} is listed twice; it is used once"),
                None,
            );
        } else {
            names.push(n.to_string());
        }
    }
    ListProp {
        names,
        line: Some(line),
    }
}

fn build(props: &[properties::Prop], agent: &str, diags: &mut Diagnostics) -> AgentConfig {
    let mut raw = RawAgent::default();
    let mut other_agents: BTreeMap<String, usize> = BTreeMap::new();
    for p in props {
        let Some((name, rest)) = p
            .key
            .split_once('.')
            .filter(|(n, r)| !n.is_empty() && !r.is_empty())
        else {
            diags.warn(
                Some(p.line),
                &p.key,
                "no agent name in key; ignored (Flume: AGENT_NAME_MISSING)",
                Some("keys look like <agent>.sources.<name>.<property>".to_string()),
            );
            continue;
        };
        if name != agent {
            *other_agents.entry(name.to_string()).or_default() += 1;
            continue;
        }
        if p.value.is_empty() {
            diags.warn(
                Some(p.line),
                &p.key,
                "empty value; the property is ignored (as in Flume)",
                Some("give it a value or delete the line".to_string()),
            );
            continue;
        }
        add_property(&mut raw, agent, rest, p, diags);
    }
    let file = diags.file().clone();
    let mut cfg = AgentConfig {
        agent: agent.to_string(),
        file,
        sources: vec![],
        channels: vec![],
        sinks: vec![],
        dropped: vec![],
    };
    let nothing_for_agent = raw.sources.is_none()
        && raw.channels.is_none()
        && raw.sinks.is_none()
        && raw.source_props.is_empty()
        && raw.channel_props.is_empty()
        && raw.sink_props.is_empty();
    if nothing_for_agent {
        let hint = if other_agents.is_empty() {
            "the file defines no agents".to_string()
        } else {
            format!(
                "this file defines agent(s): {}; pass one of them with --name",
                other_agents.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        diags.error(
            None,
            format!("{agent}.*"),
            format!("No configuration found for agent '{agent}'"),
            Some(hint),
        );
        return cfg;
    }
    if let Some(cf) = &raw.configfilters {
        diags.error(
            cf.line,
            format!("{agent}.configfilters"),
            "config filters are not supported yet; values using them stay unresolved",
            Some("use ${env:VAR} substitution instead".to_string()),
        );
    }
    build_channels(&mut cfg, &raw, diags);
    build_sources(&mut cfg, &raw, diags);
    build_sinks(&mut cfg, &raw, diags);
    build_sinkgroups(&cfg, &raw, diags);
    check_batch_sizes(&mut cfg, diags);
    prune_unconnected_channels(&mut cfg, diags);
    report_unlisted(&raw, agent, diags);
    if !cfg.channels.is_empty() && cfg.sources.is_empty() && cfg.sinks.is_empty() {
        diags.error(
            raw.sources.as_ref().and_then(|l| l.line),
            format!("{agent}.sources"),
            format!("agent '{agent}' has no valid sources and no valid sinks; nothing would run"),
            Some("fix the errors above".to_string()),
        );
    }
    cfg
}

fn add_property(
    raw: &mut RawAgent,
    agent: &str,
    rest: &str,
    p: &properties::Prop,
    diags: &mut Diagnostics,
) {
    let list = |diags: &mut Diagnostics| split_list(&p.value, p.line, &p.key, diags);
    match rest {
        "sources" => raw.sources = Some(list(diags)),
        "channels" => raw.channels = Some(list(diags)),
        "sinks" => raw.sinks = Some(list(diags)),
        "sinkgroups" => raw.sinkgroups = Some(list(diags)),
        "configfilters" => raw.configfilters = Some(list(diags)),
        _ => {
            let (section, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let map = match section {
                "sources" => &mut raw.source_props,
                "channels" => &mut raw.channel_props,
                "sinks" => &mut raw.sink_props,
                "sinkgroups" => &mut raw.sinkgroup_props,
                "configfilters" => return,
                _ => {
                    let fix = match section {
                        "source" => Some(format!("did you mean {agent}.sources.{tail}?")),
                        "channel" => Some(format!("did you mean {agent}.channels.{tail}?")),
                        "sink" => Some(format!("did you mean {agent}.sinks.{tail}?")),
                        "sinkgroup" => Some(format!("did you mean {agent}.sinkgroups.{tail}?")),
                        _ => Some(format!(
                            "valid keys start with {agent}.sources, {agent}.channels, {agent}.sinks or {agent}.sinkgroups"
                        )),
                    };
                    diags.warn(
                        Some(p.line),
                        &p.key,
                        "Invalid property specified; ignored (as in Flume)",
                        fix,
                    );
                    return;
                }
            };
            let Some((name, key)) = tail.split_once('.') else {
                diags.warn(
                    Some(p.line),
                    &p.key,
                    "Invalid property specified: no property name after the component name; ignored",
                    Some(format!("write {agent}.{section}.<name>.<property> = value")),
                );
                return;
            };
            let name = name.trim();
            let comp = map
                .entry(name.to_string())
                .or_insert_with(|| ComponentProps {
                    name: name.to_string(),
                    prefix: format!("{agent}.{section}.{name}."),
                    props: BTreeMap::new(),
                });
            comp.props
                .insert(key.to_string(), (p.value.clone(), p.line));
        }
    }
}

/// Resolves `type`, reporting a missing, unknown or unsupported type.
fn resolve_type(
    comp: &ComponentProps,
    what: &str,
    table: &'static [TypeEntry],
    diags: &mut Diagnostics,
) -> Option<TypeRef> {
    let full = format!("{}type", comp.prefix);
    let Some((written, line)) = comp.props.get("type").map(|(v, l)| (v.clone(), *l)) else {
        diags.error(
            comp.first_line(),
            full,
            format!(
                "Component has no type. Cannot configure {what} {}",
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
            format!("unknown or unsupported {what} type '{written}' (a custom class rflume cannot load)"),
            Some(format!("supported: {}", registry::supported_names(table))),
        );
        return None;
    };
    if let Support::No(hint) = entry.support {
        diags.error(
            Some(line),
            full,
            format!(
                "{what} type {} ({}) is not supported by rflume",
                entry.alias, entry.class
            ),
            Some(hint.to_string()),
        );
        return None;
    }
    if !entry.flume_alias && written.eq_ignore_ascii_case(entry.alias) {
        diags.warn(
            Some(line),
            full,
            format!("Flume has no '{written}' alias; Flume itself would reject this file"),
            Some(format!(
                "write type = {} to stay compatible with Flume",
                entry.class
            )),
        );
    }
    Some(TypeRef {
        written,
        entry,
        line: Some(line),
    })
}

/// The listed names that have properties; listed names without any are reported.
fn listed<'a>(
    list: &Option<ListProp>,
    props: &'a BTreeMap<String, ComponentProps>,
    agent_key: &str,
    what: &str,
    section: &str,
    diags: &mut Diagnostics,
) -> Vec<&'a ComponentProps> {
    let Some(list) = list else {
        return vec![];
    };
    let mut out = vec![];
    for name in &list.names {
        match props.get(name) {
            Some(c) => out.push(c),
            None => diags.error(
                list.line,
                agent_key,
                format!("{what} {name} is listed but has no properties; it is dropped (Flume: \"Configuration empty for: {name}\")"),
                Some(format!("add {section}.{name}.type = …")),
            ),
        }
    }
    out
}

fn build_channels(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
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
        let Some(kind) = resolve_type(comp, "channel", registry::CHANNELS, diags) else {
            cfg.dropped
                .push((format!("channel {}", comp.name), "invalid type".into()));
            continue;
        };
        let mut r = PropReader::new(comp, diags);
        r.known("type");
        let settings = match kind.entry.alias {
            "memory" => MemorySettings::parse(&mut r).map(ChannelSettings::Memory),
            other => unreachable_kind(&mut r, other),
        };
        r.finish(&format!("the {} channel", kind.entry.alias));
        match settings {
            Some(settings) => cfg.channels.push(ChannelConfig {
                name: comp.name.clone(),
                kind,
                settings,
                lines: key_lines(comp),
            }),
            None => cfg.dropped.push((
                format!("channel {}", comp.name),
                "configuration errors (see above)".into(),
            )),
        }
    }
}

/// A supported alias whose parser is not wired: a programming error, reported instead of panicking.
fn unreachable_kind<T>(r: &mut PropReader, alias: &str) -> Option<T> {
    r.error(
        "type",
        None,
        format!("internal error: no parser for type {alias}"),
        None,
    );
    None
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

fn build_sources(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let agent = cfg.agent.clone();
    let key = format!("{agent}.sources");
    let (valid_channels, listed_channels) = channel_names(cfg, raw);
    for comp in listed(&raw.sources, &raw.source_props, &key, "source", &key, diags) {
        let drop = |cfg: &mut AgentConfig, why: &str| {
            cfg.dropped
                .push((format!("source {}", comp.name), why.to_string()))
        };
        let Some(kind) = resolve_type(comp, "source", registry::SOURCES, diags) else {
            drop(cfg, "invalid type");
            continue;
        };
        let mut r = PropReader::new(comp, diags);
        r.known("type");
        let channels = source_channels(&mut r, &valid_channels, &listed_channels);
        let optional = selector(&mut r, &channels);
        let interceptors = interceptors(&mut r, comp);
        let settings = match kind.entry.alias {
            "exec" => ExecSettings::parse(&mut r).map(SourceSettings::Exec),
            "seq" => SeqSettings::parse(&mut r).map(SourceSettings::Seq),
            "netcat" => NetcatSettings::parse(&mut r).map(SourceSettings::Netcat),
            "taildir" => TaildirSettings::parse(&mut r).map(SourceSettings::Taildir),
            other => unreachable_kind(&mut r, other),
        };
        let failed = r.failed();
        r.finish(&format!("the {} source", kind.entry.alias));
        match (settings, channels, optional, interceptors) {
            (Some(settings), Some(channels), Some(optional), Some(interceptors)) if !failed => {
                cfg.sources.push(SourceConfig {
                    name: comp.name.clone(),
                    kind,
                    interceptors,
                    channels: channels
                        .into_iter()
                        .filter(|c| !optional.contains(c))
                        .collect(),
                    optional_channels: optional,
                    settings,
                    lines: key_lines(comp),
                })
            }
            _ => drop(cfg, "configuration errors (see above)"),
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

/// The source's interceptor chain, in the listed order (Flume keeps this list's order).
fn interceptors(
    r: &mut PropReader,
    comp: &ComponentProps,
) -> Option<Vec<(String, InterceptorSettings)>> {
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
                Some(format!("add {}type = timestamp|host|static", sub.prefix)),
            );
            ok = false;
            continue;
        }
        let mut sub_diags = Diagnostics::new(r.file());
        let mut sr = PropReader::new(&sub, &mut sub_diags);
        let parsed = InterceptorSettings::parse(&mut sr);
        let what = parsed
            .as_ref()
            .map(|p| format!("the {} interceptor", p.alias()))
            .unwrap_or_else(|| "this interceptor".to_string());
        sr.finish(&what);
        let failed = sub_diags.has_errors();
        r.absorb(sub_diags);
        match parsed {
            Some(p) if !failed => out.push((name.to_string(), p)),
            _ => ok = false,
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

fn build_sinks(cfg: &mut AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
    let agent = cfg.agent.clone();
    let key = format!("{agent}.sinks");
    let (valid_channels, listed_channels) = channel_names(cfg, raw);
    for comp in listed(&raw.sinks, &raw.sink_props, &key, "sink", &key, diags) {
        let Some(kind) = resolve_type(comp, "sink", registry::SINKS, diags) else {
            cfg.dropped
                .push((format!("sink {}", comp.name), "invalid type".into()));
            continue;
        };
        let mut r = PropReader::new(comp, diags);
        r.known("type");
        let channel = match r.raw("channel") {
            None => {
                let hint = if r.line("channels").is_some() {
                    "a sink takes `channel` (singular) and exactly one channel".to_string()
                } else {
                    format!("add {} = <channel name>", r.full_key("channel"))
                };
                let name = comp.name.clone();
                r.error(
                    "channel",
                    None,
                    format!("No channel configured for sink: {name}; the sink is dropped"),
                    Some(hint),
                );
                None
            }
            Some((c, line))
                if listed_channels.iter().any(|v| v == c)
                    && !valid_channels.iter().any(|v| v == c) =>
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
        };
        let settings = match kind.entry.alias {
            "kafka" => KafkaSettings::parse(&mut r).map(|s| SinkSettings::Kafka(Box::new(s))),
            "logger" => LoggerSettings::parse(&mut r).map(SinkSettings::Logger),
            "null" => NullSettings::parse(&mut r).map(SinkSettings::Null),
            other => unreachable_kind(&mut r, other),
        };
        let failed = r.failed();
        r.finish(&format!("the {} sink", kind.entry.alias));
        match (settings, channel) {
            (Some(settings), Some(channel)) if !failed => cfg.sinks.push(SinkConfig {
                name: comp.name.clone(),
                kind,
                channel,
                settings,
                lines: key_lines(comp),
            }),
            _ => cfg.dropped.push((
                format!("sink {}", comp.name),
                "configuration errors (see above)".into(),
            )),
        }
    }
}

fn build_sinkgroups(cfg: &AgentConfig, raw: &RawAgent, diags: &mut Diagnostics) {
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
fn check_batch_sizes(cfg: &mut AgentConfig, diags: &mut Diagnostics) {
    let channels = cfg.channels.clone();
    let tx_of = |name: &str| {
        channels
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.settings.transaction_capacity())
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
                if s.settings.batch_size() > tx {
                    diags.error(
                        line_of(&s.lines, "batchSize", ch),
                        format!("{prefix}.sources.{}.batchSize", s.name),
                        format!("Incompatible source and channel settings defined. source's batch size is greater than the channels transaction capacity. Source: {}, batch size = {}, channel {ch}, transaction capacity = {tx}; the source is dropped", s.name, s.settings.batch_size()),
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
            if k.settings.batch_size() > tx {
                let key = match k.settings {
                    // The deprecated `batchSize` may be what set it.
                    SinkSettings::Kafka(_) if !k.lines.contains_key("flumeBatchSize") && k.lines.contains_key("batchSize") => "batchSize",
                    SinkSettings::Kafka(_) => "flumeBatchSize",
                    _ => "batchSize",
                };
                diags.error(
                    line_of(&k.lines, key, &k.channel),
                    format!("{prefix}.sinks.{}.{key}", k.name),
                    format!("Incompatible sink and channel settings defined. sink's batch size is greater than the channels transaction capacity. Sink: {}, batch size = {}, channel {}, transaction capacity = {tx}; the sink is dropped", k.name, k.settings.batch_size(), k.channel),
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

fn prune_unconnected_channels(cfg: &mut AgentConfig, diags: &mut Diagnostics) {
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
fn report_unlisted(raw: &RawAgent, agent: &str, diags: &mut Diagnostics) {
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

#[cfg(test)]
mod tests;
