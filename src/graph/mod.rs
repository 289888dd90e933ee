//! The agent graph: Flume's properties file → a validated graph of sources, channels and sinks.
//!
//! `config` reads the syntax; this module applies Flume's layout and validation rules
//! (`FlumeConfiguration`, `AbstractConfigurationProvider`) on top of the component registries
//! (`source::TYPES`, `channel::TYPES`, `sink::TYPES`, `interceptor::TYPES`): what Flume would drop,
//! rflume drops too — but every drop and every silently ignored key becomes a [`Diagnostic`] with
//! file, line, key and the fix.
//!
//! * [`layout`]: raw keys → one property map per listed component (`a1.sources.r1.*`);
//! * [`build`]: each component's type resolved in its kind's table and its settings parsed;
//! * [`filters`]: Flume 1.10+ config filters (`${f1['KEY']}` from the environment or a command);
//! * [`validate`]: the rules that look across components (batch sizes against transaction
//!   capacities, unconnected channels, unlisted components, sink groups).
//!
//! The resulting [`AgentConfig`] is plain data (`PartialEq`), so that a reload can diff the old
//! and new graph component by component.

mod build;
mod filters;
mod layout;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use crate::channel::ChannelSettings;
use crate::config::properties::{self, Lookup, PropertiesError, Texts};
use crate::config::registry::TypeName;
use crate::config::source::ConfSource;
pub use crate::config::{Diagnostic, Diagnostics, Severity};
use crate::interceptor::InterceptorSettings;
use crate::sink::group::ProcessorSettings;
use crate::sink::SinkSettings;
use crate::source::selector::SelectorSettings;
use crate::source::SourceSettings;

/// Where a component's type came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeRef {
    /// As written in the file.
    pub written: String,
    pub name: TypeName,
    pub line: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InterceptorConfig {
    pub name: String,
    pub kind: TypeRef,
    pub settings: InterceptorSettings,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SourceConfig {
    pub name: String,
    pub kind: TypeRef,
    /// In the order of `interceptors = …`.
    pub interceptors: Vec<InterceptorConfig>,
    /// Every channel the source feeds (its `channels`, intersected with the valid channels).
    pub channels: Vec<String>,
    /// Which of them get each event.
    pub selector: SelectorSettings,
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

/// A sink group (`sinkgroups`): one runner drives its processor over its sinks.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkGroupConfig {
    pub name: String,
    /// The sinks the processor runs, in Flume's order (each is also in [`AgentConfig::sinks`],
    /// and runs only through this group).
    pub sinks: Vec<String>,
    pub processor: ProcessorSettings,
    /// Where the group is declared (its `processor.type` or first line).
    pub line: Option<usize>,
}

/// Why a component named in the file does not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCause {
    /// A configuration error: Flume drops it too.
    ConfigError,
    /// Flume would run it; rflume cannot (it, or something it needs, is not implemented).
    Unsupported,
    /// Nothing is connected to it (a channel without sources and sinks): Flume removes it too,
    /// and nothing is lost by that.
    Unused,
}

/// A component named in the file that does not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// `source r1`, `channel c1`, …
    pub what: String,
    pub why: String,
    /// Where it is declared (its `type` line).
    pub line: Option<usize>,
    pub cause: DropCause,
}

/// The runnable part of one agent's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    pub agent: String,
    pub file: Arc<Path>,
    pub sources: Vec<SourceConfig>,
    pub channels: Vec<ChannelConfig>,
    pub sinks: Vec<SinkConfig>,
    pub sinkgroups: Vec<SinkGroupConfig>,
    /// Components named in the file that will not run, with the reason.
    pub dropped: Vec<Dropped>,
}

impl AgentConfig {
    pub fn is_runnable(&self) -> bool {
        !self.channels.is_empty() && (!self.sources.is_empty() || !self.sinks.is_empty())
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Components Flume would run and rflume cannot.
    pub fn unsupported(&self) -> impl Iterator<Item = &Dropped> {
        self.dropped
            .iter()
            .filter(|d| d.cause == DropCause::Unsupported)
    }

    /// Whether the file runs as Flume would run it: nothing dropped but unused channels.
    pub fn runs_as_written(&self) -> bool {
        self.is_runnable() && self.dropped.iter().all(|d| d.cause == DropCause::Unused)
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
            let optional = s.selector.optional_for_all();
            if !optional.is_empty() {
                chans.push_str(&format!(" (optional: {})", optional.join(", ")));
            }
            out.push_str(&format!(
                "  source {} [{}] -> channels: {}\n",
                s.name, s.kind.name.alias, chans
            ));
            fmt_settings(&mut out, s.settings.spec().describe());
            if s.selector != SelectorSettings::default() {
                fmt_settings(&mut out, s.selector.describe());
            }
            for i in &s.interceptors {
                out.push_str(&format!(
                    "    interceptor {} [{}]\n",
                    i.name, i.kind.name.alias
                ));
                fmt_settings(&mut out, i.settings.spec().describe());
            }
        }
        for c in &self.channels {
            let feeders: Vec<&str> = self
                .sources
                .iter()
                .filter(|s| s.channels.contains(&c.name))
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
                c.kind.name.alias,
                or_none(&feeders),
                or_none(&readers)
            ));
            fmt_settings(&mut out, c.settings.spec().describe());
        }
        for k in &self.sinks {
            out.push_str(&format!(
                "  sink {} [{}] <- channel: {}\n",
                k.name, k.kind.name.class, k.channel
            ));
            fmt_settings(&mut out, k.settings.spec().describe());
        }
        for g in &self.sinkgroups {
            out.push_str(&format!(
                "  sinkgroup {} [{}] sinks: {}\n",
                g.name,
                g.processor.kind(),
                g.sinks.join(", ")
            ));
            fmt_settings(&mut out, g.processor.describe());
        }
        for d in &self.dropped {
            let tag = match d.cause {
                DropCause::ConfigError => "DROPPED",
                DropCause::Unsupported => "NOT RUN (unsupported)",
                DropCause::Unused => "REMOVED (unused)",
            };
            let at = d.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            out.push_str(&format!("  {tag} {}{at}: {}\n", d.what, d.why));
        }
        out
    }
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
    let texts = Texts::read(&[ConfSource::File(file.to_path_buf())], None)?;
    load_texts(&texts, agent, system)
}

/// Loads agent `agent` from the texts of several sources (a later key replaces an earlier one,
/// as in Flume 1.11).
pub fn load_texts(
    texts: &Texts,
    agent: &str,
    system: &HashMap<String, String>,
) -> Result<Loaded, PropertiesError> {
    let (props, diags) = properties::parse_all(texts)?;
    Ok(finish(props, agent, system, diags))
}

/// Loads from text (tests and `rflume check` on stdin).
pub fn load_str(text: &str, file: &Path, agent: &str) -> Result<Loaded, PropertiesError> {
    let mut diags = Diagnostics::new(Arc::from(file));
    let props = properties::parse(text, file, &mut diags)?;
    Ok(finish(props, agent, &HashMap::new(), diags))
}

fn finish(
    mut props: Vec<properties::Prop>,
    agent: &str,
    system: &HashMap<String, String>,
    mut diags: Diagnostics,
) -> Loaded {
    let env = |k: &str| std::env::var(k).ok();
    properties::substitute(&mut props, &Lookup { system, env: &env }, &mut diags);
    let config = build_agent(&props, agent, &mut diags);
    Loaded {
        config,
        diagnostics: diags,
    }
}

/// Flume's order: channels first (sources and sinks refer to them), then the rules across
/// components.
fn build_agent(props: &[properties::Prop], agent: &str, diags: &mut Diagnostics) -> AgentConfig {
    let mut raw = layout::RawAgent::collect(props, agent, diags);
    let mut cfg = AgentConfig {
        agent: agent.to_string(),
        file: diags.file().clone(),
        sources: vec![],
        channels: vec![],
        sinks: vec![],
        sinkgroups: vec![],
        dropped: vec![],
    };
    if raw.is_empty() {
        layout::report_no_agent(&raw, agent, diags);
        return cfg;
    }
    filters::apply(&mut raw, agent, diags);
    build::channels(&mut cfg, &raw, diags);
    build::sources(&mut cfg, &raw, diags);
    build::sinks(&mut cfg, &raw, diags);
    validate::prune_channels_of_unsupported_sinks(&mut cfg, &raw, diags);
    validate::batch_sizes(&mut cfg, diags);
    // After the drops Flume makes when it creates sinks: a group naming one of those is Flume's
    // "Failed to instantiate component".
    validate::sinkgroups(&mut cfg, &raw, diags);
    validate::prune_unconnected_channels(&mut cfg, diags);
    validate::report_unlisted(&raw, agent, diags);
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

#[cfg(test)]
mod extreme_tests;
#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod routing_tests;
#[cfg(test)]
mod tests;
