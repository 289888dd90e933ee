//! Command line: `rflume agent | check | version`, flume-ng's flags, and the `flume-ng` mode.
//!
//! Existing start scripts call `flume-ng agent --conf conf/ --name a1 --conf-file f.conf
//! -Dflume.root.logger=INFO,console`, sometimes with JVM options (`-Xmx512m`). rflume accepts that
//! argument list unchanged, under its own name or through a `flume-ng` symlink: JVM options are
//! dropped with a warning, `-Dkey=value` become system properties (`flume.root.logger`,
//! `flume.monitoring.*`, `${sys:key}` substitution).
//!
//! This file holds the argument definitions and the dispatch; `agent/` runs an agent,
//! `check.rs` is `rflume check`.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing::{error, warn};

mod agent;
mod check;
mod systemd;
mod top;

use crate::agent::DEFAULT_DRAIN_TIMEOUT;
use crate::config::properties::Texts;
use crate::config::secret::Secret;
use crate::config::source::{ConfSource, Credentials};
use crate::source::exec::guard::EXEC_GUARD;

pub use agent::ALLOW_UNSUPPORTED_PROPERTY;

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
    /// Print the version (Flume's version block, naming rflume).
    Version,
    /// A live terminal view of a running agent (reads its monitoring server).
    Top(TopArgs),
    /// flume-ng's Avro client; not part of rflume.
    #[command(name = "avro-client", hide = true)]
    AvroClient(Unsupported),
    /// flume-ng's tools (e.g. the file channel integrity tool); not part of rflume.
    #[command(hide = true)]
    Tool(Unsupported),
}

/// Whatever arguments a flume-ng sub-command rflume does not have was given.
#[derive(Args, Debug)]
struct Unsupported {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Where the configuration comes from: Flume's `--conf-file` (repeatable since 1.11, a later
/// file's key replacing an earlier one's) or Flume 1.10+'s `--conf-uri`.
#[derive(Args, Debug)]
struct ConfArgs {
    /// The Flume properties file; give it several times to merge files (a later file wins).
    #[arg(short = 'f', long = "conf-file", required_unless_present = "conf_uri")]
    conf_file: Vec<PathBuf>,
    /// A configuration URI, file:… or http(s)://… (Flume 1.10+); repeatable. When given, as in
    /// Flume, --conf-file is not read.
    #[arg(short = 'u', long = "conf-uri")]
    conf_uri: Vec<String>,
    /// User for HTTP basic authentication of --conf-uri (Flume's -user/--conf-user).
    #[arg(long = "conf-user")]
    conf_user: Option<String>,
    /// Password for HTTP basic authentication of --conf-uri (Flume's -pwd/--conf-password).
    #[arg(long = "conf-password")]
    conf_password: Option<Secret>,
}

impl ConfArgs {
    fn sources(&self) -> Vec<ConfSource> {
        if !self.conf_uri.is_empty() {
            if !self.conf_file.is_empty() {
                warn!("--conf-file is not read when --conf-uri is given (as in Flume)");
            }
            return self.conf_uri.iter().cloned().map(ConfSource::Uri).collect();
        }
        self.conf_file
            .iter()
            .cloned()
            .map(ConfSource::File)
            .collect()
    }

    /// Flume's `BasicAuthorizationProvider`: both or nothing.
    fn credentials(&self) -> Option<Credentials> {
        match (&self.conf_user, &self.conf_password) {
            (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                Some(Credentials {
                    user: user.clone(),
                    password: password.clone(),
                })
            }
            _ => None,
        }
    }

    /// The sources, for messages.
    fn describe(&self) -> String {
        self.sources()
            .iter()
            .map(|s| s.label().display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The configuration's texts, read once (an HTTP source is fetched once per command).
    fn read(&self) -> anyhow::Result<Texts> {
        Texts::read(&self.sources(), self.credentials().as_ref())
            .with_context(|| format!("loading {}", self.describe()))
    }
}

#[derive(Args, Debug)]
struct AgentArgs {
    /// Name of the agent to run (the `a1` in `a1.sources = r1`).
    #[arg(short = 'n', long = "name")]
    name: String,
    #[command(flatten)]
    conf: ConfArgs,
    /// flume-ng's configuration directory; accepted, nothing in it is required.
    #[arg(short = 'c', long = "conf")]
    conf_dir: Option<PathBuf>,
    /// System properties, e.g. -Dflume.root.logger=INFO,console.
    #[arg(short = 'D', value_name = "KEY=VALUE", action = clap::ArgAction::Append)]
    defines: Vec<String>,
    /// Load the configuration once: no reload on file changes, polling or SIGHUP.
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
    /// Seconds between polls of the configuration (Flume's -i; default 30, 300 for http URIs).
    #[arg(short = 'i', long = "poll-interval")]
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
    /// Flume 1.10+'s directory for a backup of the last good configuration; not supported.
    #[arg(short = 'b', long = "backup-directory", hide = true)]
    backup_directory: Option<PathBuf>,
    /// Flume's custom configuration provider class; not supported.
    #[arg(long = "conf-provider", hide = true)]
    conf_provider: Option<String>,
    /// Flume's custom authorization provider class; not supported.
    #[arg(short = 'a', long = "auth-provider", hide = true)]
    auth_provider: Option<String>,
}

#[derive(Args, Debug)]
struct TopArgs {
    /// The agent's monitoring server (started with -Dflume.monitoring.type=http).
    #[arg(long, default_value = "http://127.0.0.1:41414")]
    url: String,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    conf: ConfArgs,
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

/// Exit code for a file that cannot be read or bad usage.
const EXIT_UNREADABLE: i32 = 2;

/// Runs the CLI with the process arguments; returns the exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    run(args)
}

/// Runs the CLI with `args` (argv[0] included).
pub fn run(args: Vec<String>) -> i32 {
    // Internal: the exec source's process-group guard (see source/exec/guard.rs).
    if args.get(1).map(String::as_str) == Some(EXEC_GUARD) {
        let rest = match args.get(2).map(String::as_str) {
            Some("--") => &args[3..],
            _ => &args[2..],
        };
        return crate::source::exec::guard::run(rest);
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
        Command::Agent(a) => agent::run(a, &jvm, false),
        Command::Node(a) => agent::run(a, &jvm, true),
        Command::Check(c) => check::run(c),
        Command::Top(t) => top::run(t),
        Command::Version => {
            print!("{}", version_block());
            Ok(0)
        }
        Command::AvroClient(_) => not_in_rflume(
            "avro-client",
            "send the file with Flume's own flume-ng avro-client, or append it to a file a TAILDIR source follows",
        ),
        Command::Tool(_) => not_in_rflume(
            "tool",
            "Flume's tools work on Flume's own file formats; rflume's file channel has its own",
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let text = error_chain(&e);
            error!("{text}");
            eprintln!("rflume: {text}");
            1
        }
    }
}

/// The error and its causes joined with ": ", leaving out a cause whose text is already shown:
/// many of rflume's errors quote their cause in their own message (so the log line reads whole
/// without `{:#}`), and printing the chain again would repeat it.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `flume-ng version`'s block, in Flume's shape (scripts read its first line), naming rflume.
fn version_block() -> String {
    format!(
        "Flume 1.11.0 compatible: rflume {} (not Apache Flume; runs Flume 1.9-1.11 agent configurations)\n\
         Source code repository: rflume\n\
         Revision: {}\n\
         Compiled by rustc for {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("RFLUME_GIT_REVISION").unwrap_or("unknown"),
        std::env::consts::ARCH,
    )
}

/// A flume-ng sub-command rflume does not have: a clear message and exit 1.
fn not_in_rflume(command: &str, instead: &str) -> anyhow::Result<i32> {
    eprintln!("rflume: flume-ng {command} is not supported by rflume ({instead})");
    Ok(1)
}

/// Flume's options with multi-letter short names (commons-cli allows `-user`), as clap's long
/// names.
const FLUME_MULTI_LETTER_OPTIONS: &[(&str, &str)] = &[
    ("-user", "--conf-user"),
    ("-pwd", "--conf-password"),
    ("-prov", "--conf-provider"),
];

/// Separates JVM options (after argv[0]) from rflume's own arguments, and spells Flume's
/// multi-letter short options the way clap reads them.
fn split_jvm_options(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::new();
    let mut jvm = Vec::new();
    for (i, a) in args.into_iter().enumerate() {
        if i > 0 && is_jvm_option(&a) {
            jvm.push(a);
        } else if let Some((_, long)) = FLUME_MULTI_LETTER_OPTIONS.iter().find(|(s, _)| *s == a) {
            kept.push(long.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let (args, _jvm) = split_jvm_options(args.iter().map(|s| s.to_string()).collect());
        Cli::try_parse_from(args).expect("parses")
    }

    #[test]
    fn an_error_chain_shows_each_message_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("disk on fire")]
        struct Root;
        #[derive(Debug, thiserror::Error)]
        #[error("channel c1: {0}")]
        struct Quoting(#[source] Root);
        let quoted = anyhow::Error::new(Quoting(Root)).context("channel c1: disk on fire");
        assert_eq!(error_chain(&quoted), "channel c1: disk on fire");
        let plain = anyhow::Error::new(Root).context("starting the agent");
        assert_eq!(error_chain(&plain), "starting the agent: disk on fire");
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
        assert_eq!(a.conf.conf_file, [PathBuf::from("flume_kafka.conf")]);
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
