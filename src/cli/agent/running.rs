//! The running agent between start and stop, and what it does when the loop asks: reload the
//! configuration (or reject it, keeping the running one), and one systemd watchdog round.

use std::collections::HashMap;
use std::time::Duration;

use tracing::{error, info};

use super::report::{located, log_diagnostics, not_running, status_line, unsupported_of};
use super::systemd::Notifier;
use crate::agent::Agent;
use crate::cli::ConfArgs;
use crate::config::properties::Texts;
use crate::graph::{self, DropCause, Loaded};

/// How long a replaced sink may wait for acknowledgements of its in-flight batches.
const RELOAD_SETTLE: Duration = Duration::from_secs(10);
/// The longest a healthy sink round takes (a failure back-off is at most 5 s), and more than a
/// working source's round: the watchdog waits at least this long without a round before it
/// calls a sink or a working source hung.
const LONGEST_SINK_ROUND: Duration = Duration::from_secs(10);

/// The running agent and what a reload needs.
pub(super) struct Running<'a> {
    pub(super) agent: Agent,
    pub(super) conf: &'a ConfArgs,
    pub(super) name: String,
    pub(super) system: HashMap<String, String>,
    pub(super) allow_unsupported: bool,
    /// The texts the running graph was loaded from.
    pub(super) running_texts: Texts,
    /// The texts last looked at (a rejected reload is not retried until they change).
    pub(super) last_seen: Option<Texts>,
    pub(super) notifier: Notifier,
    pub(super) drain: Duration,
    pub(super) reload: bool,
    /// What the running configuration names and rflume cannot run (`--allow-unsupported`),
    /// for the reminder; replaced by each applied reload.
    pub(super) unsupported: Vec<String>,
}

impl Running<'_> {
    /// Reads the configuration and applies it if it changed (`force`: SIGHUP, also when the text
    /// is the same, which then reloads nothing but says so).
    pub(super) fn reload_now(&mut self, force: bool) {
        let texts = match self.conf.read() {
            Ok(t) => t,
            Err(e) => {
                if self.last_seen.is_some() || force {
                    self.reject(format!("{e:#}"));
                }
                return;
            }
        };
        if !force && self.last_seen.as_ref() == Some(&texts) {
            return;
        }
        if texts == self.running_texts {
            if self.agent.registry.notes.rejected_reload().is_some() {
                info!("the configuration is the running one again");
                self.agent.registry.notes.reload_applied();
            } else if force {
                info!("configuration unchanged; nothing to reload");
            }
            self.last_seen = Some(texts);
            return;
        }
        info!("Reloading configuration file: {}", self.conf.describe());
        let loaded = match graph::load_texts(&texts, &self.name, &self.system) {
            Ok(l) => l,
            Err(e) => {
                self.last_seen = Some(texts);
                self.reject(e.to_string());
                return;
            }
        };
        self.last_seen = Some(texts);
        log_diagnostics(&loaded);
        if let Err(why) = self.acceptable(&loaded) {
            self.reject(why);
            return;
        }
        self.notifier.reloading();
        match self.agent.reload(&loaded.config, RELOAD_SETTLE, self.drain) {
            Ok(report) => {
                self.agent
                    .registry
                    .notes
                    .set_not_running(not_running(&loaded));
                self.unsupported = unsupported_of(&loaded);
                self.agent.registry.notes.reload_applied();
                if let Some(t) = self.last_seen.take() {
                    self.running_texts = t;
                }
                info!(
                    "configuration reloaded: restarted [{}] added [{}] removed [{}], unchanged [{}]{}",
                    report.restarted.join(", "),
                    report.added.join(", "),
                    report.removed.join(", "),
                    report.kept.join(", "),
                    if report.moved_events > 0 {
                        format!("; {} events moved into replaced channels", report.moved_events)
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) => {
                error!("reload failed part-way: {e}");
                self.agent.registry.notes.reload_rejected(e.to_string());
            }
        }
        self.notifier.ready(&status_line(&self.agent));
    }

    /// Whether `loaded` may replace the running graph.
    fn acceptable(&self, loaded: &Loaded) -> Result<(), String> {
        let config = &loaded.config;
        if !config.is_runnable() {
            return Err(format!(
                "nothing runnable remains after validation ({} error(s))",
                loaded.diagnostics.error_count()
            ));
        }
        let unsupported = unsupported_of(loaded);
        if !unsupported.is_empty() && !self.allow_unsupported {
            return Err(format!(
                "it names components rflume cannot run: {}",
                unsupported.join("; ")
            ));
        }
        let already: Vec<&str> = self
            .agent
            .config()
            .dropped
            .iter()
            .map(|d| d.what.as_str())
            .collect();
        let newly: Vec<String> = config
            .dropped
            .iter()
            .filter(|d| d.cause == DropCause::ConfigError && !already.contains(&d.what.as_str()))
            .map(|d| located(loaded, d))
            .collect();
        if !newly.is_empty() {
            return Err(format!("it would drop {}", newly.join("; ")));
        }
        Ok(())
    }

    fn reject(&mut self, why: String) {
        error!("configuration reload rejected, the running configuration is kept: {why}");
        self.agent.registry.notes.reload_rejected(why);
        self.notifier.status(&format!(
            "{} (last reload rejected)",
            status_line(&self.agent)
        ));
    }

    /// One watchdog round: ping while every runner is alive and not stuck
    /// ([`Agent::check_responsive`]), say why not otherwise.
    pub(super) fn watchdog(&mut self, interval: Duration) {
        match self
            .agent
            .check_responsive(interval.max(LONGEST_SINK_ROUND))
        {
            Ok(()) => self.notifier.watchdog(),
            Err(why) => {
                error!("watchdog: {why}; not confirming liveness to systemd");
                self.notifier.watchdog_trigger(&why);
            }
        }
    }
}
