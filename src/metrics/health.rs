//! `/health`: whether the agent does what its configuration asks, with the reasons when it does
//! not — for load balancers, `curl -f` checks and orchestrators.
//!
//! Unhealthy (HTTP 503) when any of these holds, each giving one line of `reasons`:
//! * a sink's deliveries have been failing for longer than [`Thresholds::sink_failing`] (a broker
//!   outage; shorter blips are normal and retried);
//! * a source or sink runner ended without being asked to (a command that exited, a crash);
//! * a component named in the configuration is not running (dropped for an error, or not
//!   supported and started with `--allow-unsupported`);
//! * the last configuration reload was rejected, so the agent runs an older configuration than
//!   the file says;
//! * a TAILDIR source cannot save its positions (a restart would ship again everything delivered
//!   since they were last saved).

use std::time::Duration;

use serde::Serialize;

use super::{Group, Registry};

/// Default [`Thresholds::sink_failing`]: long enough for a leader election or a broker restart,
/// short enough that a real outage shows within a scrape or two.
pub const DEFAULT_SINK_FAILING: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Thresholds {
    pub sink_failing: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            sink_failing: DEFAULT_SINK_FAILING,
        }
    }
}

/// One component's state as `/health` and `rflume top` show it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ComponentHealth {
    /// `running`, `failing`, `ended` or `stopped`.
    pub state: &'static str,
    #[serde(rename = "failingSeconds", skip_serializing_if = "Option::is_none")]
    pub failing_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    #[serde(skip)]
    pub ok: bool,
    /// `UP` or `DOWN`.
    pub status: &'static str,
    pub reasons: Vec<String>,
    pub components: std::collections::BTreeMap<String, ComponentHealth>,
}

impl Health {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }
}

pub fn evaluate(registry: &Registry, thresholds: &Thresholds) -> Health {
    let mut reasons = Vec::new();
    let mut components = std::collections::BTreeMap::new();
    for g in registry.groups() {
        let (runner, kind) = match &g {
            Group::Source(_, c) => (&c.runner, "source"),
            Group::Sink(_, c) => (&c.runner, "sink"),
            Group::Channel(..) => continue,
        };
        let name = g.name();
        if let Group::Source(_, c) = &g {
            if c.positions_unsaved.get() > 0 {
                reasons.push(format!(
                    "source {name} cannot save its positions ({} failed writes; see the agent's \
                     log): a restart would ship again what was delivered since they were last saved",
                    c.position_write_fail.get()
                ));
            }
        }
        let failing = runner.failing_for();
        let state = if runner.has_ended() {
            reasons.push(format!(
                "{kind} {name} is not running: its runner ended (see the agent's log)"
            ));
            "ended"
        } else if !runner.is_running() {
            "stopped"
        } else if failing.is_some() {
            "failing"
        } else {
            "running"
        };
        if let Some(f) = failing.filter(|f| *f > thresholds.sink_failing) {
            // A sink fails deliveries; a source fails to start (and is started again).
            let what = if kind == "source" {
                "to start"
            } else {
                "to deliver"
            };
            reasons.push(format!(
                "{kind} {name} has been failing {what} for {}s (threshold {}s): {}",
                f.as_secs(),
                thresholds.sink_failing.as_secs(),
                runner.last_error().unwrap_or_default()
            ));
        }
        components.insert(
            g.key(),
            ComponentHealth {
                state,
                failing_seconds: failing.map(|f| f.as_secs()),
                error: failing.and(runner.last_error()),
            },
        );
    }
    for c in registry.notes.not_running() {
        reasons.push(format!("not running: {c}"));
    }
    if let Some(why) = registry.notes.rejected_reload() {
        reasons.push(format!(
            "the last configuration reload was rejected, the previous configuration still runs: {why}"
        ));
    }
    let ok = reasons.is_empty();
    Health {
        ok,
        status: if ok { "UP" } else { "DOWN" },
        reasons,
        components,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_failing_past_the_threshold_is_unhealthy() {
        let r = Registry::default();
        let k = r.sink("k1");
        k.runner.set_running(true);
        assert!(evaluate(&r, &Thresholds::default()).ok);
        k.runner.failed("all brokers down");
        let t = Thresholds {
            sink_failing: Duration::ZERO,
        };
        crate::testing::wait_for("a millisecond passes", || {
            k.runner.failing_for() > Some(Duration::ZERO)
        });
        let h = evaluate(&r, &t);
        assert!(!h.ok);
        assert!(h.reasons[0].contains("all brokers down"), "{:?}", h.reasons);
        assert_eq!(h.components["SINK.k1"].state, "failing");
        // Below the threshold: failing, but healthy.
        assert!(evaluate(&r, &Thresholds::default()).ok);
        k.runner.recovered();
        assert!(evaluate(&r, &t).ok);
    }

    #[test]
    fn ended_runners_dropped_components_and_rejected_reloads_are_unhealthy() {
        let r = Registry::default();
        r.source("r1").runner.set_ended();
        assert_eq!(evaluate(&r, &Thresholds::default()).reasons.len(), 1);
        r.notes.set_not_running(vec!["sink k9: no channel".into()]);
        r.notes.reload_rejected("line 3: bad".into());
        let h = evaluate(&r, &Thresholds::default());
        assert_eq!(h.reasons.len(), 3, "{:?}", h.reasons);
        let json: serde_json::Value = serde_json::from_str(&h.to_json()).expect("json");
        assert_eq!(json["status"], "DOWN");
        assert_eq!(json["components"]["SOURCE.r1"]["state"], "ended");
    }

    #[test]
    fn positions_that_cannot_be_saved_are_unhealthy_until_saved_again() {
        let r = Registry::default();
        let s = r.source("r1");
        s.runner.set_running(true);
        s.position_write_fail.add(3);
        s.positions_unsaved.set(1);
        let h = evaluate(&r, &Thresholds::default());
        assert!(!h.ok);
        assert!(
            h.reasons[0].contains("source r1 cannot save its positions (3 failed writes"),
            "{:?}",
            h.reasons
        );
        s.positions_unsaved.set(0);
        assert!(evaluate(&r, &Thresholds::default()).ok);
    }
}
