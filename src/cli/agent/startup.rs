//! Start-up: what the command line and the `-D` properties ask for, checked before anything
//! starts — Flume's options rflume ignores (said) or cannot honour (refused), the drain timeout,
//! the poll interval, the intervals of the log lines — and the refusal to start a partial
//! pipeline unless the operator opts in.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tracing::{error, warn};

use crate::cli::AgentArgs;

/// The system property that opts in like `--allow-unsupported` (for start scripts that can only
/// add `-D` options).
pub const ALLOW_UNSUPPORTED_PROPERTY: &str = "rflume.allowUnsupported";

/// How often the components that do not run are logged again while the rest runs.
const UNSUPPORTED_REMINDER: Duration = Duration::from_secs(600);
/// `-D` property: seconds between those reminders (0: only at start).
pub const UNSUPPORTED_REMINDER_PROPERTY: &str = "rflume.unsupported.reminderSeconds";
/// `-D` property: seconds between counter lines in the log (0: only at stop).
pub const COUNTERS_INTERVAL_PROPERTY: &str = "rflume.counters.logIntervalSeconds";
const COUNTERS_INTERVAL: Duration = Duration::from_secs(300);

/// The longest `--drain-timeout`: a day is longer than any stop an init system waits for, and
/// keeps deadline arithmetic far from `Instant`'s limits.
const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Flume's `PollingPropertiesFileConfigurationProvider` interval (files).
const FLUME_POLL_SECS: u64 = 30;
/// The longest `--poll-interval` taken as given (a year).
const MAX_POLL_SECS: u64 = 86_400 * 365;

/// Flume 1.11's poll interval for http(s) configuration URIs.
const FLUME_HTTP_POLL_SECS: u64 = 300;

/// Says which of Flume's options rflume ignores, and refuses those it cannot honour (a
/// configuration from ZooKeeper or from a Java class).
pub(super) fn check_flume_options(
    a: &AgentArgs,
    jvm: &[String],
    deprecated_node: bool,
) -> anyhow::Result<()> {
    if deprecated_node {
        warn!("the 'node' command is deprecated in Flume; use 'agent'");
    }
    if !jvm.is_empty() {
        warn!(
            "ignoring JVM options (rflume is not a JVM): {}",
            jvm.join(" ")
        );
    }
    if let Some(cp) = &a.classpath {
        warn!("ignoring --classpath {cp}: rflume cannot load Java classes");
    }
    if let Some(pp) = &a.plugins_path {
        warn!("ignoring --plugins-path {pp}: rflume cannot load Java plugins");
    }
    if a.zk_conn_string.is_some() || a.zk_base_path.is_some() {
        bail!("ZooKeeper-based configuration (-z/--zkConnString, -p/--zkBasePath) is not supported; pass the properties file with --conf-file");
    }
    if let Some(class) = a.conf_provider.as_ref().or(a.auth_provider.as_ref()) {
        bail!("--conf-provider/--auth-provider {class}: rflume cannot load Java classes; give the configuration with --conf-file or --conf-uri (with --conf-user/--conf-password for HTTP basic authentication)");
    }
    if let Some(dir) = &a.backup_directory {
        warn!("--backup-directory {}: rflume keeps no backup of the configuration; if --conf-uri cannot be read at start the agent does not start", dir.display());
    }
    if let Some(dir) = &a.conf_dir {
        if !dir.is_dir() {
            warn!(
                "--conf {}: not a directory (accepted; rflume needs nothing from it)",
                dir.display()
            );
        }
    }
    Ok(())
}

/// `--drain-timeout` in seconds, from 0 to [`MAX_DRAIN_TIMEOUT`].
pub(super) fn drain_timeout(seconds: f64) -> anyhow::Result<Duration> {
    if !seconds.is_finite() || seconds < 0.0 || seconds > MAX_DRAIN_TIMEOUT.as_secs_f64() {
        bail!(
            "--drain-timeout must be a number of seconds from 0 to {} (a day), not {}",
            MAX_DRAIN_TIMEOUT.as_secs(),
            seconds
        );
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `--allow-unsupported`, or its system property.
pub(super) fn allows_unsupported(a: &AgentArgs, system: &HashMap<String, String>) -> bool {
    a.allow_unsupported
        || system
            .get(ALLOW_UNSUPPORTED_PROPERTY)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Says why agent `name` does not start: it names components rflume cannot run.
pub(super) fn refuse_unsupported(name: &str, unsupported: &[String]) {
    let list = unsupported.join("\n  ");
    eprintln!(
        "rflume: agent {name} names components that Flume would run and rflume cannot:\n  {list}\n\
         rflume does not start a partial pipeline on its own (the missing components' events \
         would pile up or be lost). Keep this agent on Flume, change the configuration, or \
         start the rest anyway with --allow-unsupported (or -D{ALLOW_UNSUPPORTED_PROPERTY}=true)."
    );
    error!(
        "refusing to start agent {name}: {} component(s) cannot run in rflume (see above)",
        unsupported.len()
    );
}

/// How often the configuration is read again: `--poll-interval`, or Flume's interval for files
/// and for http(s) URIs.
pub(super) fn poll_interval(a: &AgentArgs) -> Duration {
    match a.poll_interval {
        Some(0) | None if a.conf.conf_uri.iter().any(|u| u.starts_with("http")) => {
            Duration::from_secs(FLUME_HTTP_POLL_SECS)
        }
        Some(0) | None => Duration::from_secs(FLUME_POLL_SECS),
        // A poll slower than a year means "never"; far beyond it the timer's deadline overflowed
        // (`-i 18446744073709551615` panicked), so such a value is clamped, said once.
        Some(secs) if secs > MAX_POLL_SECS => {
            warn!("--poll-interval {secs} is longer than a year: polling every {MAX_POLL_SECS} s instead");
            Duration::from_secs(MAX_POLL_SECS)
        }
        Some(secs) => Duration::from_secs(secs),
    }
}

/// TAILDIR keeps one descriptor per active file; the usual soft limit of 1024 is too low for a
/// file group of a thousand files, so raise it to the hard limit (what the JVM does by default).
pub(super) fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                warn!("could not raise the open-file limit; TAILDIR with many files may run out of descriptors");
            }
        }
    }
}

/// The interval of the counter lines in the log (`None`: only at stop).
pub(super) fn counters_interval(
    system: &HashMap<String, String>,
) -> anyhow::Result<Option<Duration>> {
    seconds_property(system, COUNTERS_INTERVAL_PROPERTY, COUNTERS_INTERVAL)
}

/// The interval of the reminders of what does not run (`None`: only at start).
pub(super) fn reminder_interval(
    system: &HashMap<String, String>,
) -> anyhow::Result<Option<Duration>> {
    seconds_property(system, UNSUPPORTED_REMINDER_PROPERTY, UNSUPPORTED_REMINDER)
}

/// Reads a `-D` property in seconds; `Ok(None)` for 0.
fn seconds_property(
    system: &HashMap<String, String>,
    key: &str,
    default: Duration,
) -> anyhow::Result<Option<Duration>> {
    let Some(v) = system.get(key) else {
        return Ok(Some(default));
    };
    let secs: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .with_context(|| format!("-D{key}={v}: not a number of seconds from 0 to 86400"))?;
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}
