//! `rflume top` as a person uses it: in a real terminal (tmux), reading a running agent.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

/// A tmux server of the test's own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }
    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "top"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }
    fn running(&self) -> bool {
        self.cmd()
            .args(["has-session", "-t", "top"])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

#[test]
fn top_shows_components_rates_and_health_and_quits_on_q() {
    assert!(
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "tmux is needed (scripts/test.sh installs it)"
    );
    let port = free_port();
    let config = "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
        a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
        a1.channels.c1.type = memory\na1.channels.c1.capacity = 1000\n\
        a1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n";
    let port_flag = format!("-Dflume.monitoring.port={port}");
    let mut agent =
        Agent::start_with_args(config, "a1", &["-Dflume.monitoring.type=http", &port_flag]);
    agent.wait_for_log(DEADLINE, "serving metrics on");
    let tmux = Tmux {
        socket: format!("rflume-top-{}", std::process::id()),
    };
    let top = format!(
        "{} top --url http://127.0.0.1:{port} --interval 0.5",
        rflume_bin().display()
    );
    let started = tmux
        .cmd()
        .args(["new-session", "-d", "-s", "top", "-x", "150", "-y", "30"])
        .arg(&top)
        .status()
        .expect("tmux new-session");
    assert!(started.success());
    let mut screen = String::new();
    let shows_rates = |s: &str| {
        s.lines().any(|l| {
            l.contains("SOURCE.r1")
                && l.contains("seq")
                && l.split_whitespace()
                    .any(|w| w.parse::<f64>().is_ok_and(|v| v > 0.0))
        })
    };
    agent.wait_until(DEADLINE, "top shows the agent with non-zero rates", || {
        screen = tmux.screen();
        screen.contains("health: UP") && screen.contains("CHANNEL.c1") && shows_rates(&screen)
    });
    assert!(
        screen.contains("SINK.k1") && screen.contains("null"),
        "{screen}"
    );
    assert!(
        screen.contains("EVENTS/S") && screen.contains("FILL"),
        "{screen}"
    );
    assert!(
        screen.contains("/ 1000"),
        "the channel's size and capacity: {screen}"
    );
    tmux.cmd()
        .args(["send-keys", "-t", "top", "q"])
        .status()
        .expect("send-keys");
    agent.wait_until(DEADLINE, "top quits on q", || !tmux.running());
    agent.stop_cleanly();
}
