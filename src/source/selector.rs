//! Channel selectors: which of a source's channels get each event (Flume's
//! `org.apache.flume.channel.ReplicatingChannelSelector` and `MultiplexingChannelSelector`).
//!
//! * **replicating** (the default): every event to every channel of the source; the channels in
//!   `selector.optional` are best effort.
//! * **multiplexing**: by the value of one header (`selector.header`, default
//!   `flume.selector.header`): `selector.mapping.<value> = c1 c2` names the required channels of a
//!   value, `selector.optional.<value>` its optional ones, `selector.default` the required channels
//!   of every other value and of events without the header (or with a blank one).
//!
//! [`SelectorSettings`] is what the graph parses from `selector.*` with Flume's rules;
//! [`Selector`] is what the `ChannelProcessor` runs: it splits a batch into one put per channel.
//!
//! Where rflume differs on purpose: Flume drops an event silently when its header value is not
//! mapped and there is no `selector.default`. rflume drops it too (routing it anywhere else would
//! change where data goes), but counts it (`SourceCounter::unrouted`), logs it rate-limited, and
//! `rflume check` warns about the missing default.

use std::collections::HashMap;
use std::sync::Arc;

use crate::channel::Channel;
use crate::config::reader::PropReader;
use crate::event::Event;

/// Flume's `MultiplexingChannelSelector.DEFAULT_MULTIPLEX_HEADER`.
pub const DEFAULT_MULTIPLEX_HEADER: &str = "flume.selector.header";

const REPLICATING_CLASS: &str = "org.apache.flume.channel.ReplicatingChannelSelector";
const MULTIPLEXING_CLASS: &str = "org.apache.flume.channel.MultiplexingChannelSelector";
const LOAD_BALANCING_CLASS: &str = "org.apache.flume.channel.LoadBalancingChannelSelector";

/// A source's selector as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorSettings {
    /// `selector.optional`: channels whose put may fail without failing the batch.
    Replicating {
        optional: Vec<String>,
    },
    Multiplexing(MultiplexingSettings),
}

impl Default for SelectorSettings {
    fn default() -> Self {
        SelectorSettings::Replicating {
            optional: Vec::new(),
        }
    }
}

/// Flume's multiplexing selector configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiplexingSettings {
    pub header: String,
    /// `mapping.<value>`: the required channels of each header value, in key order.
    pub mapping: Vec<(String, Vec<String>)>,
    /// `optional.<value>`: the optional channels of each value, without the value's required
    /// ones (Flume removes them).
    pub optional: Vec<(String, Vec<String>)>,
    /// `default`: the required channels of unmapped values and events without the header.
    pub default: Vec<String>,
}

impl SelectorSettings {
    /// Reads `selector.*` of a source whose usable channels are `channels` (the source's list
    /// intersected with the agent's valid channels). `not_running` are channels of the source's
    /// list that exist in Flume but do not run in rflume (unsupported): naming them is no error,
    /// events for them are not delivered (see [`Selector`]).
    pub fn parse(r: &mut PropReader, channels: &[String], not_running: &[String]) -> Option<Self> {
        let kind = r.opt_string("selector.type");
        let kind = kind.as_deref().map(str::trim).unwrap_or("");
        let is = |alias: &str, class: &str| {
            kind.eq_ignore_ascii_case(alias) || kind.eq_ignore_ascii_case(class)
        };
        if kind.is_empty() || is("replicating", REPLICATING_CLASS) {
            return Some(Self::parse_replicating(r, channels));
        }
        if is("multiplexing", MULTIPLEXING_CLASS) {
            return parse_multiplexing(r, channels, not_running).map(Self::Multiplexing);
        }
        let what = if is("load_balancing", LOAD_BALANCING_CLASS) {
            "the load_balancing channel selector (Flume 1.10+) is not supported yet"
        } else {
            "a custom channel selector class cannot be loaded by rflume"
        };
        r.unsupported(
            "selector.type",
            None,
            format!(
                "{what} ('{kind}'); the source is dropped rather than route events differently"
            ),
            Some("supported: replicating, multiplexing".to_string()),
        );
        None
    }

    fn parse_replicating(r: &mut PropReader, channels: &[String]) -> Self {
        let mut optional = Vec::new();
        if let Some((value, line)) = r.raw("selector.optional") {
            for name in value.split_whitespace() {
                if channels.iter().any(|c| c == name) {
                    if !optional.iter().any(|o| o == name) {
                        optional.push(name.to_string());
                    }
                } else {
                    r.warn(
                        "selector.optional",
                        Some(line),
                        format!(
                            "optional channel {name} is not one of the source's channels; ignored"
                        ),
                        None,
                    );
                }
            }
        }
        if !channels.is_empty() && channels.iter().all(|c| optional.contains(c)) {
            // Flume requires at least one required channel for an event to count as stored.
            r.warn(
                "selector.optional",
                None,
                "every channel of this source is optional: a full channel silently loses events",
                Some("leave at least one channel required".to_string()),
            );
        }
        SelectorSettings::Replicating { optional }
    }

    /// Whether an event can be stored at all: some channel is required for some events.
    pub fn has_required(&self, channels: &[String]) -> bool {
        match self {
            SelectorSettings::Replicating { optional } => {
                channels.iter().any(|c| !optional.contains(c))
            }
            SelectorSettings::Multiplexing(m) => m
                .mapping
                .iter()
                .flat_map(|(_, cs)| cs)
                .chain(&m.default)
                .any(|c| channels.contains(c)),
        }
    }

    /// The channels whose put may fail without failing the batch, for every event.
    pub fn optional_for_all(&self) -> &[String] {
        match self {
            SelectorSettings::Replicating { optional } => optional,
            SelectorSettings::Multiplexing(_) => &[],
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SelectorSettings::Replicating { .. } => "replicating",
            SelectorSettings::Multiplexing(_) => "multiplexing",
        }
    }

    /// What `rflume check` prints, by Flume's key names.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![("selector.type".to_string(), self.kind().to_string())];
        match self {
            SelectorSettings::Replicating { optional } => {
                if !optional.is_empty() {
                    out.push(("selector.optional".into(), optional.join(" ")));
                }
            }
            SelectorSettings::Multiplexing(m) => {
                out.push(("selector.header".into(), m.header.clone()));
                for (value, chans) in &m.mapping {
                    out.push((format!("selector.mapping.{value}"), chans.join(" ")));
                }
                for (value, chans) in &m.optional {
                    out.push((format!("selector.optional.{value}"), chans.join(" ")));
                }
                let default = if m.default.is_empty() {
                    "(none: events of other values are dropped, as in Flume)".to_string()
                } else {
                    m.default.join(" ")
                };
                out.push(("selector.default".into(), default));
            }
        }
        out
    }

    /// The running selector of a source feeding `channels`, over the channels `lookup` finds
    /// (channels that do not run are left out: their events are not delivered there).
    pub fn build(
        &self,
        channels: &[String],
        lookup: impl Fn(&str) -> Option<Arc<dyn Channel>>,
    ) -> Selector {
        match self {
            SelectorSettings::Replicating { optional } => {
                Selector::Replicating(ReplicatingSelector {
                    required: channels
                        .iter()
                        .filter(|c| !optional.contains(c))
                        .filter_map(|c| lookup(c))
                        .collect(),
                    optional: optional.iter().filter_map(|c| lookup(c)).collect(),
                })
            }
            SelectorSettings::Multiplexing(m) => {
                Selector::Multiplexing(MultiplexingSelector::new(m, lookup))
            }
        }
    }
}

/// Flume's `getChannelListFromNames`: the value is split on single spaces and every name must
/// be a channel of the source ("Selector channel not found" drops the source). Names of channels
/// that do not run in rflume are accepted.
fn channel_list(
    r: &mut PropReader,
    key: &str,
    value: &str,
    line: usize,
    channels: &[String],
    not_running: &[String],
) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for name in value.split(' ') {
        if name.is_empty() || name.contains(char::is_whitespace) {
            r.error(
                key,
                Some(line),
                format!("'{value}': Flume splits selector channel lists on single spaces, and this list has an empty or tab-separated name (Flume: \"Selector channel not found\"); the source is dropped"),
                Some("separate the channel names with one space".to_string()),
            );
            return None;
        }
        if channels.iter().any(|c| c == name) || not_running.iter().any(|c| c == name) {
            if !out.iter().any(|c| c == name) {
                out.push(name.to_string());
            }
        } else {
            ok = false;
            r.error(
                key,
                Some(line),
                format!("Selector channel not found: {name} (it is not one of the source's channels); Flume removes the source, and so does rflume"),
                Some(format!("the source's channels: {}", channels.join(" "))),
            );
        }
    }
    ok.then_some(out)
}

fn parse_multiplexing(
    r: &mut PropReader,
    channels: &[String],
    not_running: &[String],
) -> Option<MultiplexingSettings> {
    let header = r.string("selector.header", DEFAULT_MULTIPLEX_HEADER);
    let mut ok = true;
    let default = match r.raw("selector.default") {
        Some((value, line)) => {
            channel_list(r, "selector.default", value, line, channels, not_running).unwrap_or_else(
                || {
                    ok = false;
                    Vec::new()
                },
            )
        }
        None => Vec::new(),
    };
    let mut mapping = Vec::new();
    for (value, list, line) in r.with_prefix("selector.mapping.") {
        let key = format!("selector.mapping.{value}");
        match channel_list(r, &key, &list, line, channels, not_running) {
            Some(chans) => mapping.push((value, chans)),
            None => ok = false,
        }
    }
    let mut optional = Vec::new();
    for (value, list, line) in r.with_prefix("selector.optional.") {
        let key = format!("selector.optional.{value}");
        match channel_list(r, &key, &list, line, channels, not_running) {
            Some(mut chans) => {
                // Flume: a value's optional channels never include its required ones.
                let required = mapping
                    .iter()
                    .find(|(v, _)| *v == value)
                    .map(|(_, c)| c)
                    .filter(|c| !c.is_empty())
                    .unwrap_or(&default);
                chans.retain(|c| !required.contains(c));
                optional.push((value, chans));
            }
            None => ok = false,
        }
    }
    if let Some((_, line)) = r.ignored("selector.optional") {
        r.warn(
            "selector.optional",
            Some(line),
            "the multiplexing selector reads selector.optional.<header value>, not selector.optional; ignored (as in Flume)",
            Some("write selector.optional.<value> = channels".to_string()),
        );
    }
    if !ok {
        return None;
    }
    if default.is_empty() {
        let line = r.line("selector.type");
        let mapped: Vec<&str> = mapping.iter().map(|(v, _)| v.as_str()).collect();
        r.warn(
            "selector.default",
            line,
            format!(
                "no selector.default: events whose header {header} is missing or not one of [{}] are dropped (Flume drops them silently; rflume counts them as unrouted and logs them)",
                mapped.join(", ")
            ),
            Some(format!("add {} = <channel> to keep them", r.full_key("selector.default"))),
        );
    }
    let used: Vec<&String> = mapping
        .iter()
        .flat_map(|(_, c)| c)
        .chain(optional.iter().flat_map(|(_, c)| c))
        .chain(&default)
        .collect();
    for c in channels {
        if !used.contains(&c) {
            let line = r.line("channels");
            r.warn(
                "channels",
                line,
                format!("channel {c} is one of the source's channels, but no selector.mapping, selector.optional or selector.default names it: it never receives an event of this source"),
                None,
            );
        }
    }
    Some(MultiplexingSettings {
        header,
        mapping,
        optional,
        default,
    })
}

/// Flume's replicating selector: every event to every required channel; optional channels get
/// it on a best-effort basis.
pub struct ReplicatingSelector {
    pub required: Vec<Arc<dyn Channel>>,
    pub optional: Vec<Arc<dyn Channel>>,
}

/// The channels of one header value: indexes into [`MultiplexingSelector::channels`].
#[derive(Clone, Debug, Default)]
struct Route {
    required: Vec<usize>,
    optional: Vec<usize>,
}

/// Flume's multiplexing selector at run time.
pub struct MultiplexingSelector {
    header: String,
    channels: Vec<Arc<dyn Channel>>,
    routes: HashMap<String, Route>,
    default: Route,
}

impl MultiplexingSelector {
    fn new(m: &MultiplexingSettings, lookup: impl Fn(&str) -> Option<Arc<dyn Channel>>) -> Self {
        let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
        let index = |name: &str, channels: &mut Vec<Arc<dyn Channel>>| -> Option<usize> {
            if let Some(i) = channels.iter().position(|c| c.name() == name) {
                return Some(i);
            }
            let c = lookup(name)?;
            channels.push(c);
            Some(channels.len() - 1)
        };
        let default = Route {
            required: m
                .default
                .iter()
                .filter_map(|c| index(c, &mut channels))
                .collect(),
            optional: Vec::new(),
        };
        let mut routes: HashMap<String, Route> = HashMap::new();
        for (value, chans) in &m.mapping {
            let required = chans
                .iter()
                .filter_map(|c| index(c, &mut channels))
                .collect();
            routes.insert(
                value.clone(),
                Route {
                    required,
                    optional: Vec::new(),
                },
            );
        }
        for (value, chans) in &m.optional {
            let optional: Vec<usize> = chans
                .iter()
                .filter_map(|c| index(c, &mut channels))
                .collect();
            // A value with optional channels but no mapping keeps the default's required ones.
            routes
                .entry(value.clone())
                .or_insert_with(|| default.clone())
                .optional = optional;
        }
        MultiplexingSelector {
            header: m.header.clone(),
            channels,
            routes,
            default,
        }
    }

    /// Flume's `getRequiredChannels` + `getOptionalChannels` for one event.
    fn route(&self, e: &Event) -> &Route {
        match e.headers.get(&self.header) {
            Some(v) if !v.trim().is_empty() => self.routes.get(v).unwrap_or(&self.default),
            // A blank value still finds its optional channels in Flume (`optionalChannels.get`
            // of the raw value), but no mapping can be blank: the default is all there is.
            _ => &self.default,
        }
    }
}

/// The running selector of a source.
pub enum Selector {
    Replicating(ReplicatingSelector),
    Multiplexing(MultiplexingSelector),
}

impl From<ReplicatingSelector> for Selector {
    fn from(r: ReplicatingSelector) -> Self {
        Selector::Replicating(r)
    }
}

/// A batch split by destination: one put per channel.
pub struct Routed {
    pub required: Vec<(Arc<dyn Channel>, Vec<Event>)>,
    pub optional: Vec<(Arc<dyn Channel>, Vec<Event>)>,
    /// Events no channel was selected for (dropped).
    pub unrouted: usize,
    /// The header value of one unrouted event, for the log.
    pub unrouted_value: Option<String>,
    /// Whether every required put carries the same events (replicating): what a put that never
    /// commits loses is then one batch, not the sum of the puts.
    pub same_events: bool,
}

impl Selector {
    /// Channels a put may go to as a required channel (for the largest batch a put may carry).
    pub fn required_channels(&self) -> Vec<&Arc<dyn Channel>> {
        match self {
            Selector::Replicating(r) => r.required.iter().collect(),
            Selector::Multiplexing(m) => m.channels.iter().collect(),
        }
    }

    /// Splits `events` into one batch per channel. Optional copies carry no delivery receipt:
    /// their loss is accepted by configuration.
    pub fn route(&self, mut events: Vec<Event>) -> Routed {
        match self {
            Selector::Replicating(r) => {
                let optional = r
                    .optional
                    .iter()
                    .map(|c| (c.clone(), without_receipts(&events)))
                    .collect();
                // The last required put takes the batch itself, so the common single-channel
                // case moves the events instead of cloning them.
                let mut required = Vec::with_capacity(r.required.len());
                if let Some((last, others)) = r.required.split_last() {
                    for c in others {
                        required.push((c.clone(), events.clone()));
                    }
                    required.push((last.clone(), std::mem::take(&mut events)));
                }
                let unrouted = if r.required.is_empty() && r.optional.is_empty() {
                    events.len()
                } else {
                    0
                };
                Routed {
                    required,
                    optional,
                    unrouted,
                    unrouted_value: None,
                    same_events: true,
                }
            }
            Selector::Multiplexing(m) => {
                let n = m.channels.len();
                let mut required: Vec<Vec<Event>> = (0..n).map(|_| Vec::new()).collect();
                let mut optional: Vec<Vec<Event>> = (0..n).map(|_| Vec::new()).collect();
                let mut unrouted = 0;
                let mut unrouted_value = None;
                for e in events {
                    let route = m.route(&e);
                    for &i in &route.optional {
                        let mut copy = e.clone();
                        copy.receipt = None;
                        optional[i].push(copy);
                    }
                    match route.required.split_last() {
                        Some((&last, others)) => {
                            for &i in others {
                                required[i].push(e.clone());
                            }
                            required[last].push(e);
                        }
                        None if route.optional.is_empty() => {
                            unrouted += 1;
                            if unrouted_value.is_none() {
                                unrouted_value = Some(
                                    e.headers
                                        .get(&m.header)
                                        .map_or("(no header)".to_string(), |v| format!("'{v}'")),
                                );
                            }
                        }
                        None => {}
                    }
                }
                let pair = |(i, batch): (usize, Vec<Event>)| {
                    (!batch.is_empty()).then(|| (m.channels[i].clone(), batch))
                };
                Routed {
                    required: required.into_iter().enumerate().filter_map(pair).collect(),
                    optional: optional.into_iter().enumerate().filter_map(pair).collect(),
                    unrouted,
                    unrouted_value,
                    same_events: false,
                }
            }
        }
    }
}

fn without_receipts(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .map(|e| Event {
            headers: e.headers.clone(),
            body: e.body.clone(),
            receipt: None,
        })
        .collect()
}
