//! `rflume check`: every problem of the configuration with its file and line, the resolved graph,
//! and an exit code a script can act on.

use super::{system_properties, CheckArgs, EXIT_UNREADABLE};
use crate::config::properties::Texts;
use crate::config::{self, Severity};
use crate::graph;

/// `rflume check` exit codes: 0 — every agent runs as Flume would (warnings allowed); 1 —
/// something would be dropped or is not supported; 2 — the file cannot be read.
pub(super) fn run(c: CheckArgs) -> anyhow::Result<i32> {
    match check_file(&c) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("rflume check: {e:#}");
            Ok(EXIT_UNREADABLE)
        }
    }
}

fn check_file(c: &CheckArgs) -> anyhow::Result<i32> {
    let system = system_properties(&c.defines);
    let texts = c.conf.read()?;
    let agents = if c.name.is_empty() {
        agents_in(&texts)?
    } else {
        c.name.clone()
    };
    if agents.is_empty() {
        println!(
            "{}: no agent definitions found (keys look like <agent>.sources = …)",
            c.conf.describe()
        );
        return Ok(1);
    }
    let mut failed = false;
    for agent in &agents {
        let loaded = graph::load_texts(&texts, agent, &system)?;
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

/// Agent names the configuration defines (the text before the first '.' of each list key), in
/// file order.
fn agents_in(texts: &Texts) -> anyhow::Result<Vec<String>> {
    let (props, _) = config::properties::parse_all(texts)?;
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
