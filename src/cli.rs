//! Command line: `rflume agent | check | version`, flume-ng's flags, and the `flume-ng` mode.
//!
//! Existing start scripts call `flume-ng agent --conf conf/ --name a1 --conf-file f.conf
//! -Dflume.root.logger=INFO,console`, sometimes with JVM options (`-Xmx512m`). rflume accepts that
//! argument list unchanged, under its own name or through a `flume-ng` symlink: JVM options are
//! dropped with a warning, `-Dkey=value` become system properties (`flume.root.logger`,
//! `flume.monitoring.*`, `${sys:key}` substitution).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use tracing::{error, info, warn};

use crate::agent::{Agent, DEFAULT_DRAIN_TIMEOUT};
use crate::config::{self, Severity};
use crate::graph::{self, DropCause};
use crate::logging;
use crate::source::exec_guard::EXEC_GUARD;

#[derive(Parser, Debug)]
#[command(
    name = "rflume",
    version,
    about = "A small, fast, loss-free drop-in replacement for Apache Flume's flume-ng agent",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an agent (flume-ng agent).
    Agent(AgentArgs),
    /// Deprecated flume-ng alias of `agent`.
    #[command(hide = true)]
    Node(AgentArgs),
    /// Validate a configuration file and print the resolved graph; exit 1 if anything would be
    /// dropped or is unsupported.
    Check(CheckArgs),
    /// Print the version.
    Version,
}

#[derive(Args, Debug)]
struct AgentArgs {
    /// Name of the agent to run (the `a1` in `a1.sources = r1`).
    #[arg(short = 'n', long = "name")]
    name: String,
    /// The Flume properties file.
    #[arg(short = 'f', long = "conf-file")]
    conf_file: PathBuf,
    /// flume-ng's configuration directory; accepted, nothing in it is required.
    #[arg(short = 'c', long = "conf")]
    conf_dir: Option<PathBuf>,
    /// System properties, e.g. -Dflume.root.logger=INFO,console.
    #[arg(short = 'D', value_name = "KEY=VALUE", action = clap::ArgAction::Append)]
    defines: Vec<String>,
    /// Load the configuration once (rflume does not reload yet; accepted for compatibility).
    #[arg(long = "no-reload-conf")]
    no_reload_conf: bool,
    /// Seconds sinks get to drain the channels on SIGTERM/SIGINT.
    #[arg(long = "drain-timeout", value_name = "SECONDS", default_value_t = DEFAULT_DRAIN_TIMEOUT.as_secs_f64())]
    drain_timeout: f64,
    /// flume-ng's classpath option; ignored (nothing to load).
    #[arg(short = 'C', long = "classpath", hide = true)]
    classpath: Option<String>,
    /// flume-ng's plugins path; ignored (rflume cannot load Java plugins).
    #[arg(long = "plugins-path", hide = true)]
    plugins_path: Option<String>,
    /// flume-ng's config polling interval (seconds); accepted.
    #[arg(short = 'i', long = "poll-interval", hide = true)]
    poll_interval: Option<u64>,
    /// flume-ng's ZooKeeper configuration; not supported.
    #[arg(short = 'z', long = "zkConnString", hide = true)]
    zk_conn_string: Option<String>,
    #[arg(short = 'p', long = "zkBasePath", hide = true)]
    zk_base_path: Option<String>,
    /// Print what would run and exit (flume-ng --dryrun); exit 1 when a component would be
    /// dropped.
    #[arg(short = 'd', long = "dryrun")]
    dryrun: bool,
    /// Start even when the file names components rflume cannot run (the rest runs; each missing
    /// component is logged at ERROR at start and every 10 minutes). Also
    /// -Drflume.allowUnsupported=true.
    #[arg(long = "allow-unsupported")]
    allow_unsupported: bool,
}

/// The system property that opts in like `--allow-unsupported` (for start scripts that can only
/// add `-D` options).
pub const ALLOW_UNSUPPORTED_PROPERTY: &str = "rflume.allowUnsupported";

/// How often the components that do not run are logged again while the rest runs.
const UNSUPPORTED_REMINDER: Duration = Duration::from_secs(600);

#[derive(Args, Debug)]
struct CheckArgs {
    /// The Flume properties file.
    #[arg(short = 'f', long = "conf-file")]
    conf_file: PathBuf,
    /// Agent(s) to check; default: every agent the file defines.
    #[arg(short = 'n', long = "name")]
    name: Vec<String>,
    /// System properties for ${sys:key} substitution.
    #[arg(short = 'D', value_name = "KEY=VALUE", action = clap::ArgAction::Append)]
    defines: Vec<String>,
    /// Accepted for symmetry with `agent`.
    #[arg(short = 'c', long = "conf", hide = true)]
    conf_dir: Option<PathBuf>,
}

/// JVM options a flume-ng start script may pass; they mean nothing to rflume.
fn is_jvm_option(a: &str) -> bool {
    a.starts_with("-X")
        || a.starts_with("-agentlib")
        || a.starts_with("-agentpath")
        || a.starts_with("-javaagent")
        || a.starts_with("-verbose:")
        || a == "-server"
}

/// Runs the CLI with the process arguments; returns the exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    run(args)
}

/// Runs the CLI with `args` (argv[0] included).
pub fn run(args: Vec<String>) -> i32 {
    // Internal: the exec source's process-group guard (see source/exec_guard.rs).
    if args.get(1).map(String::as_str) == Some(EXEC_GUARD) {
        let rest = match args.get(2).map(String::as_str) {
            Some("--") => &args[3..],
            _ => &args[2..],
        };
        return crate::source::exec_guard::run(rest);
    }
    let (args, jvm) = split_jvm_options(args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => EXIT_UNREADABLE,
            };
        }
    };
    let result = match cli.command {
        Command::Agent(a) => run_agent(a, &jvm, false),
        Command::Node(a) => run_agent(a, &jvm, true),
        Command::Check(c) => run_check(c),
        Command::Version => {
            println!(
                "rflume {} (reads Apache Flume 1.9/1.11 agent configurations)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(0)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            error!("{e:#}");
            eprintln!("rflume: {e:#}");
            1
        }
    }
}

/// Separates JVM options (after argv[0]) from rflume's own arguments.
fn split_jvm_options(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::new();
    let mut jvm = Vec::new();
    for (i, a) in args.into_iter().enumerate() {
        if i > 0 && is_jvm_option(&a) {
            jvm.push(a);
        } else {
            kept.push(a);
        }
    }
    (kept, jvm)
}

/// `-Dkey=value` → map; a bare `-Dkey` means `key=""` as for Java.
fn system_properties(defines: &[String]) -> HashMap<String, String> {
    defines
        .iter()
        .map(|d| match d.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.to_string()),
            None => (d.trim().to_string(), String::new()),
        })
        .collect()
}

fn run_agent(a: AgentArgs, jvm: &[String], deprecated_node: bool) -> anyhow::Result<i32> {
    let system = system_properties(&a.defines);
    let spec = logging::spec_from_system(&system);
    logging::init(&spec)?;
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
    if let Some(dir) = &a.conf_dir {
        if !dir.is_dir() {
            warn!(
                "--conf {}: not a directory (accepted; rflume needs nothing from it)",
                dir.display()
            );
        }
    }
    if !a.no_reload_conf || a.poll_interval.is_some() {
        info!("configuration is loaded once: rflume does not poll the file for changes yet (restart the agent to apply a change)");
    }
    let monitoring: Vec<(&String, &String)> = system
        .iter()
        .filter(|(k, _)| k.starts_with("flume.monitoring."))
        .collect();
    if !monitoring.is_empty() {
        warn!(
            "flume.monitoring.* is recorded but no metrics endpoint is served yet: {monitoring:?}"
        );
    }
    if !a.drain_timeout.is_finite() || a.drain_timeout < 0.0 {
        bail!("--drain-timeout must be a non-negative number of seconds");
    }
    let drain = Duration::from_secs_f64(a.drain_timeout);
    raise_open_file_limit();

    info!(
        "rflume {} starting agent {} from {}",
        env!("CARGO_PKG_VERSION"),
        a.name,
        a.conf_file.display()
    );
    let loaded = graph::load(&a.conf_file, &a.name, &system)
        .with_context(|| format!("loading {}", a.conf_file.display()))?;
    for d in loaded.diagnostics.sorted() {
        match d.severity {
            Severity::Error | Severity::Unsupported => error!("{}: {d}", d.severity.label()),
            Severity::Warning => warn!("{d}"),
        }
    }
    for d in &loaded.config.dropped {
        match d.cause {
            DropCause::Unused => warn!("{} has been removed: {}", d.what, d.why),
            _ => error!("{} has been removed: {}", d.what, d.why),
        }
    }
    let allow_unsupported = a.allow_unsupported
        || system
            .get(ALLOW_UNSUPPORTED_PROPERTY)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let unsupported: Vec<String> = loaded
        .config
        .unsupported()
        .map(|d| match d.line {
            Some(l) => format!("{}:{l}: {} ({})", a.conf_file.display(), d.what, d.why),
            None => format!("{}: {} ({})", a.conf_file.display(), d.what, d.why),
        })
        .collect();
    if !unsupported.is_empty() && !allow_unsupported {
        let list = unsupported.join("\n  ");
        eprintln!(
            "rflume: agent {} names components that Flume would run and rflume cannot:\n  {list}\n\
             rflume does not start a partial pipeline on its own (the missing components' events \
             would pile up or be lost). Keep this agent on Flume, change the configuration, or \
             start the rest anyway with --allow-unsupported (or -D{ALLOW_UNSUPPORTED_PROPERTY}=true).",
            a.name
        );
        error!(
            "refusing to start agent {}: {} component(s) cannot run in rflume (see above)",
            a.name,
            unsupported.len()
        );
        return Ok(1);
    }
    if !loaded.config.is_runnable() {
        bail!(
            "agent {} in {}: nothing runnable remains after validation ({} error(s) above)",
            a.name,
            a.conf_file.display(),
            loaded.diagnostics.error_count()
        );
    }
    if a.dryrun {
        print!("{}", loaded.config.render());
        return Ok(if loaded.config.runs_as_written() {
            0
        } else {
            1
        });
    }
    let agent = Agent::start(&loaded.config)?;
    wait_for_stop_signal(&unsupported)?;
    let report = agent.stop(drain);
    if crate::agent::fatal_error_occurred() {
        error!(
            "rflume agent {} stopped after an internal failure (see above)",
            a.name
        );
        return Ok(1);
    }
    if report.undelivered.is_empty() {
        info!("rflume agent {} stopped cleanly", a.name);
    }
    Ok(0)
}

/// TAILDIR keeps one descriptor per active file; the usual soft limit of 1024 is too low for a
/// file group of a thousand files, so raise it to the hard limit (what the JVM does by default).
fn raise_open_file_limit() {
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

/// Blocks until SIGTERM or SIGINT. SIGHUP (which would kill the process by default) is logged.
/// Components that do not run (`--allow-unsupported`) are logged again every 10 minutes, so that
/// an operator reading only recent logs still learns that the pipeline is partial.
fn wait_for_stop_signal(not_running: &[String]) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
        let mut reminder = tokio::time::interval_at(
            tokio::time::Instant::now() + UNSUPPORTED_REMINDER,
            UNSUPPORTED_REMINDER,
        );
        loop {
            tokio::select! {
                _ = term.recv() => { info!("received SIGTERM"); return Ok(()); }
                _ = int.recv() => { info!("received SIGINT"); return Ok(()); }
                _ = hup.recv() => warn!("received SIGHUP: configuration reload is not supported yet; the running configuration is kept"),
                _ = reminder.tick(), if !not_running.is_empty() => {
                    for c in not_running {
                        error!("not running (unsupported by rflume, started with --allow-unsupported): {c}");
                    }
                }
            }
        }
    })
}

/// `rflume check` exit codes: 0 — every agent runs as Flume would (warnings allowed); 1 —
/// something would be dropped or is not supported; 2 — the file cannot be read.
fn run_check(c: CheckArgs) -> anyhow::Result<i32> {
    match check_file(&c) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("rflume check: {e:#}");
            Ok(EXIT_UNREADABLE)
        }
    }
}

/// Exit code for a file that cannot be read or bad usage.
const EXIT_UNREADABLE: i32 = 2;

fn check_file(c: &CheckArgs) -> anyhow::Result<i32> {
    let system = system_properties(&c.defines);
    let agents = if c.name.is_empty() {
        agents_in(&c.conf_file)?
    } else {
        c.name.clone()
    };
    if agents.is_empty() {
        println!(
            "{}: no agent definitions found (keys look like <agent>.sources = …)",
            c.conf_file.display()
        );
        return Ok(1);
    }
    let mut failed = false;
    for agent in &agents {
        let loaded = graph::load(&c.conf_file, agent, &system)
            .with_context(|| format!("loading {}", c.conf_file.display()))?;
        let diags = loaded.diagnostics.sorted();
        for d in &diags {
            println!("{}: {d}", d.severity.label());
        }
        print!("{}", loaded.config.render());
        let count = |s| loaded.diagnostics.count(s);
        let (errors, unsupported, warnings) = (
            count(Severity::Error),
            count(Severity::Unsupported),
            count(Severity::Warning),
        );
        // Anything dropped fails the check, also when its only diagnostic is a warning (a
        // consequence of another component's error); an unused channel does not, since Flume
        // removes it too and nothing is lost.
        let ok = errors == 0 && unsupported == 0 && loaded.config.runs_as_written();
        println!(
            "agent {agent}: {} ({errors} error(s), {unsupported} unsupported, {warnings} warning(s))",
            if ok { "OK" } else { "NOT OK" }
        );
        failed |= !ok;
    }
    Ok(if failed { 1 } else { 0 })
}

/// Agent names defined in a file (the text before the first '.' of each key), in file order.
fn agents_in(path: &Path) -> anyhow::Result<Vec<String>> {
    let mut diags = config::Diagnostics::new(std::sync::Arc::from(path));
    let props = config::properties::load(path, &mut diags)?;
    let mut names: Vec<String> = Vec::new();
    for p in props {
        if let Some((agent, rest)) = p.key.split_once('.') {
            if !agent.is_empty()
                && ["sources", "channels", "sinks"].contains(&rest)
                && !names.iter().any(|n| n == agent)
            {
                names.push(agent.to_string());
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let (args, _jvm) = split_jvm_options(args.iter().map(|s| s.to_string()).collect());
        Cli::try_parse_from(args).expect("parses")
    }

    #[test]
    fn flume_ng_start_script_arguments_parse_unchanged() {
        let cli = parse(&[
            "flume-ng",
            "agent",
            "--conf",
            "conf/",
            "--name",
            "a1",
            "--conf-file",
            "flume_kafka.conf",
            "-Dflume.root.logger=INFO,console",
            "-Xmx512m",
        ]);
        let Command::Agent(a) = cli.command else {
            panic!("agent expected")
        };
        assert_eq!(a.name, "a1");
        assert_eq!(a.conf_file, PathBuf::from("flume_kafka.conf"));
        assert_eq!(a.defines, vec!["flume.root.logger=INFO,console"]);
        let sys = system_properties(&a.defines);
        assert_eq!(sys["flume.root.logger"], "INFO,console");
    }

    #[test]
    fn short_flags_and_repeated_defines() {
        let cli = parse(&[
            "rflume",
            "agent",
            "-n",
            "a1",
            "-f",
            "x.conf",
            "-c",
            "conf",
            "-Da=1",
            "-Db=2",
            "--no-reload-conf",
        ]);
        let Command::Agent(a) = cli.command else {
            panic!("agent expected")
        };
        assert!(a.no_reload_conf);
        assert_eq!(a.defines.len(), 2);
    }
}
