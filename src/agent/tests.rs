//! Tests of the whole agent: started from a configuration, judged through its public API.

use std::time::Duration;

use super::Agent;

fn agent_of(text: &str) -> Agent {
    let loaded =
        crate::graph::load_str(text, std::path::Path::new("test.conf"), "a1").expect("parses");
    Agent::start(&loaded.config).expect("starts")
}

/// A source that cannot bind is started again, as Flume's supervisor does
/// (`source::supervisor`): its runner stays alive and waits, so the watchdog check passes
/// and systemd does not restart the whole agent over it, while it is reported failing with
/// the error. Once the port is free it runs again.
#[test]
fn a_source_that_cannot_bind_is_retried_and_reported_failing_not_dead() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let config = format!(
        "a1.sources = r1 r2\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n\
         a1.sources.r2.type = netcat\na1.sources.r2.bind = 127.0.0.1\n\
         a1.sources.r2.port = {port}\na1.sources.r2.channels = c1\n"
    );
    let agent = agent_of(&config);
    let r2 = agent.registry.source("r2");
    crate::testing::wait_for("r2 is reported failing", || {
        r2.runner.failing_for().is_some()
    });
    assert!(
        r2.runner
            .last_error()
            .is_some_and(|e| e.contains("cannot listen")),
        "{:?}",
        r2.runner.last_error()
    );
    assert!(!r2.runner.has_ended(), "the runner waits to start it again");
    assert_eq!(agent.check_responsive(Duration::from_secs(60)), Ok(()));
    drop(taken);
    crate::testing::wait_for("r2 listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    agent.stop(Duration::from_secs(1));
}
