//! The layout of a Flume file: which keys belong to which agent, list and component.
//!
//! Flume's `FlumeConfiguration` splits `<agent>.<section>.<name>.<property>` keys into one
//! property map per component and ignores what does not fit, silently; rflume reports each key it
//! ignores with its line.

use std::collections::BTreeMap;

use crate::config::properties;
use crate::config::reader::ComponentProps;
use crate::config::Diagnostics;

/// A list value (`a1.sources = r1 r2`) with its line.
#[derive(Default, Debug)]
pub struct ListProp {
    pub names: Vec<String>,
    pub line: Option<usize>,
}

/// One agent's keys, sorted into lists and per-component property maps.
#[derive(Default, Debug)]
pub struct RawAgent {
    pub sources: Option<ListProp>,
    pub channels: Option<ListProp>,
    pub sinks: Option<ListProp>,
    pub sinkgroups: Option<ListProp>,
    pub configfilters: Option<ListProp>,
    pub source_props: BTreeMap<String, ComponentProps>,
    pub channel_props: BTreeMap<String, ComponentProps>,
    pub sink_props: BTreeMap<String, ComponentProps>,
    pub sinkgroup_props: BTreeMap<String, ComponentProps>,
    pub configfilter_props: BTreeMap<String, ComponentProps>,
    /// Other agents the file configures, with their key counts (for "pass one with --name").
    pub other_agents: BTreeMap<String, usize>,
    /// The agent's first key, where an absence that concerns the whole agent is reported.
    pub first_line: Option<usize>,
}

impl RawAgent {
    /// Sorts the keys of `agent`; keys without an agent name and empty values are reported.
    pub fn collect(props: &[properties::Prop], agent: &str, diags: &mut Diagnostics) -> RawAgent {
        let mut raw = RawAgent::default();
        for p in props {
            let Some((name, rest)) = p
                .key
                .split_once('.')
                .filter(|(n, r)| !n.is_empty() && !r.is_empty())
            else {
                diags.warn(
                    Some(p.line),
                    &p.key,
                    "no agent name in key: not a component property (Flume: AGENT_NAME_MISSING); usable only as a ${…} variable",
                    Some("keys look like <agent>.sources.<name>.<property>".to_string()),
                );
                continue;
            };
            if name != agent {
                *raw.other_agents.entry(name.to_string()).or_default() += 1;
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
            raw.first_line = Some(raw.first_line.map_or(p.line, |l| l.min(p.line)));
            raw.add_property(agent, rest, p, diags);
        }
        raw
    }

    /// Nothing in the file is for this agent.
    pub fn is_empty(&self) -> bool {
        self.sources.is_none()
            && self.channels.is_none()
            && self.sinks.is_none()
            && self.source_props.is_empty()
            && self.channel_props.is_empty()
            && self.sink_props.is_empty()
    }

    fn add_property(
        &mut self,
        agent: &str,
        rest: &str,
        p: &properties::Prop,
        diags: &mut Diagnostics,
    ) {
        let list = |diags: &mut Diagnostics| split_list(&p.value, p.line, &p.key, diags);
        match rest {
            "sources" => self.sources = Some(list(diags)),
            "channels" => self.channels = Some(list(diags)),
            "sinks" => self.sinks = Some(list(diags)),
            "sinkgroups" => self.sinkgroups = Some(list(diags)),
            "configfilters" => self.configfilters = Some(list(diags)),
            _ => {
                let (section, tail) = rest.split_once('.').unwrap_or((rest, ""));
                let map = match section {
                    "sources" => &mut self.source_props,
                    "channels" => &mut self.channel_props,
                    "sinks" => &mut self.sink_props,
                    "sinkgroups" => &mut self.sinkgroup_props,
                    "configfilters" => &mut self.configfilter_props,
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
}

/// "No configuration found for agent", naming the agents the file does define.
pub fn report_no_agent(raw: &RawAgent, agent: &str, diags: &mut Diagnostics) {
    let hint = if raw.other_agents.is_empty() {
        "the file defines no agents".to_string()
    } else {
        format!(
            "this file defines agent(s): {}; pass one of them with --name",
            raw.other_agents
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    diags.error(
        None,
        format!("{agent}.*"),
        format!("No configuration found for agent '{agent}'"),
        Some(hint),
    );
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

/// The listed names that have properties; listed names without any are reported.
pub fn listed<'a>(
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
