//! The spillable memory channel end to end, with the real `rflume` binary, a real broker, real
//! sockets, files and signals: netcat (whose `OK` means "committed to the channel") → a
//! `SPILLABLEMEMORY` channel holding 100 events in memory → Kafka.
//!
//! * While the broker is unreachable, far more lines than memory holds are acknowledged (they went
//!   to disk); once it is back, every one arrives, once, in order.
//! * `kill -9` with the broker unreachable loses exactly what was in memory (the first 100 lines:
//!   with `overflowTimeout = 0` nothing waits, so lines 100.. spilled), and the restarted agent
//!   delivers every spilled line.
//! * A graceful stop with the broker unreachable moves memory into the overflow: nothing is lost.
//! * TAILDIR into the channel loses nothing across `kill -9`: memory events are read again.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::process::listens_on;
use common::stream::{number_of, numbered, saved_position, taildir_source, Tally, Work, LINE_LEN};
use common::*;

const TOPIC: &str = "spill";
const DEADLINE: Duration = Duration::from_secs(90);
const MEMORY: usize = 100;

/// netcat r1 on `port` → spillable c1 in `dir` → Kafka at `bootstrap` (with `sink` properties).
fn netcat_config_with(port: u16, dir: &Path, bootstrap: &str, sink: &[(&str, &str)]) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1
{channel}{sink}",
        channel = spillable_channel(dir),
        sink = common::stream::kafka_sink(bootstrap, TOPIC, sink),
    )
}

fn spillable_channel(dir: &Path) -> String {
    format!(
        "a1.channels.c1.type = SPILLABLEMEMORY
a1.channels.c1.memoryCapacity = {MEMORY}
a1.channels.c1.overflowTimeout = 0
a1.channels.c1.checkpointDir = {dir}/checkpoint
a1.channels.c1.dataDirs = {dir}/data
a1.channels.c1.minimumRequiredSpace = 1048576
",
        dir = dir.display()
    )
}

/// Starts the agent once it listens (another process may take a port picked as free).
fn start_listening(dir: &Path, bootstrap: &str, extra_args: &[&str]) -> (Agent, u16) {
    start_listening_with(dir, bootstrap, extra_args, &[])
}

fn start_listening_with(
    dir: &Path,
    bootstrap: &str,
    extra_args: &[&str],
    sink: &[(&str, &str)],
) -> (Agent, u16) {
    for _ in 0..5 {
        let port = free_port();
        let config = netcat_config_with(port, dir, bootstrap, sink);
        let agent = Agent::start_with_args(&config, "a1", extra_args);
        let pid = agent.pid();
        agent.wait_until(DEADLINE, "the netcat source listens or gives up", || {
            listens_on(pid, port) || agent.log().contains("cannot listen")
        });
        if listens_on(pid, port) {
            return (agent, port);
        }
    }
    panic!("the netcat source never got a port");
}

/// Sends lines `range` one at a time, each after the previous one's `OK` (its commit).
fn send_acknowledged(port: u16, range: std::ops::Range<usize>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the netcat source");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    for i in range {
        s.write_all(format!("{}\n", numbered(i)).as_bytes())
            .expect("send");
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("reply");
        assert_eq!(reply, "OK\n", "line {i} was committed to the channel");
    }
}

fn line_numbers(records: &[Record]) -> Vec<usize> {
    records.iter().filter_map(|r| number_of(&r.value)).collect()
}

#[test]
fn lines_spill_to_disk_while_the_broker_is_down_and_all_arrive_in_order_after() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let mut proxy = Proxy::start(&broker);
    let dir = tempfile::tempdir().expect("temp dir");
    // Small batches, one at a time: the overflow drains slowly enough for the lines sent after
    // the outage to land in memory while older ones still wait on disk.
    let slow = [("flumeBatchSize", "10"), ("rflume.maxInFlightBatches", "1")];
    let (mut agent, port) = start_listening_with(dir.path(), &proxy.bootstrap(), &[], &slow);
    proxy.kill();
    // Ten times what memory holds is acknowledged while nothing can be delivered.
    send_acknowledged(port, 0..1000);
    agent.wait_for_log(DEADLINE, "puts overflow to disk");
    proxy.restart();
    send_acknowledged(port, 1000..2000);
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 2000, DEADLINE);
    assert!(records.len() >= 2000, "all arrive: {}", records.len());
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 2000, DEADLINE);
    let tally = Tally::of(&records, 2000);
    assert!(
        tally.complete() && tally.duplicates == 0,
        "every line once: {tally}"
    );
    assert_eq!(
        line_numbers(&records),
        (0..2000).collect::<Vec<_>>(),
        "takes keep the put order across memory and disk"
    );
}

#[test]
fn kill_9_loses_exactly_what_was_in_memory_and_the_restart_delivers_the_rest() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let down = ClosedPort::new();
    let (mut agent, port) = start_listening(dir.path(), &down.address(), &[]);
    send_acknowledged(port, 0..500);
    agent.kill9();

    let (mut agent, _) = start_listening(dir.path(), &broker.bootstrap(), &[]);
    agent.wait_for_log(
        DEADLINE,
        "400 events kept in the overflow are delivered first",
    );
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 400, DEADLINE);
    assert!(records.len() >= 400, "the spilled lines arrive");
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 400, DEADLINE);
    assert_eq!(
        line_numbers(&records),
        (MEMORY..500).collect::<Vec<_>>(),
        "lost: exactly the {MEMORY} lines memory held; every spilled line once, in order"
    );
}

#[test]
fn a_graceful_stop_moves_memory_to_disk_and_loses_nothing() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let down = ClosedPort::new();
    let (mut agent, port) = start_listening(dir.path(), &down.address(), &["--drain-timeout", "1"]);
    send_acknowledged(port, 0..300);
    agent.stop_cleanly();
    assert!(
        agent
            .log()
            .contains("moved the 100 events left in memory to the overflow"),
        "{}",
        agent.log()
    );

    let (mut agent, _) = start_listening(dir.path(), &broker.bootstrap(), &[]);
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 300, DEADLINE);
    assert!(
        records.len() >= 300,
        "everything arrives: {}",
        records.len()
    );
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 300, DEADLINE);
    let tally = Tally::of(&records, 300);
    assert!(
        tally.complete() && tally.duplicates == 0,
        "every line once: {tally}"
    );
}

#[test]
fn taildir_into_the_spillable_channel_loses_nothing_across_kill_9() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let w = Work::new();
    let config = |bootstrap: &str| {
        format!(
            "{}{}{}",
            taildir_source(
                &w.log,
                &w.positions,
                &[("batchSize", "50"), ("writePosInterval", "100")],
            ),
            spillable_channel(&w.channel),
            common::stream::kafka_sink(bootstrap, TOPIC, &[])
        )
    };
    let down = ClosedPort::new();
    let mut agent = Agent::start(&config(&down.address()), "a1");
    append_lines(&w.log, (0..3000).map(numbered));
    // Everything but what memory holds is in the overflow's files (bodies alone are 99 bytes a
    // line): the kill lands when the channel holds the whole file.
    let data = w.channel.join("data");
    agent.wait_until(DEADLINE, "the overflow holds all but memory", || {
        dir_bytes(&data) >= ((3000 - MEMORY) * 99) as u64
    });
    // What TAILDIR saves as delivered must never include lines only memory holds, or the kill
    // loses them. Positions are written every 100 ms when they change (and not when they would
    // not): hold for five such intervals from the moment the overflow holds all but memory, and
    // check every saved position meanwhile.
    agent.wait_until(DEADLINE, "TAILDIR saved a position for the file", || {
        saved_position(&w.positions, &w.log).is_some()
    });
    let on_disk = ((3000 - MEMORY) * LINE_LEN) as u64;
    let hold_until = std::time::Instant::now() + Duration::from_millis(500);
    while std::time::Instant::now() < hold_until {
        let pos = saved_position(&w.positions, &w.log).unwrap_or(0);
        assert!(
            pos <= on_disk,
            "TAILDIR saved position {pos}: past the {on_disk} bytes the overflow holds, into lines only memory has"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    agent.kill9();

    let mut agent = Agent::start(&config(&broker.bootstrap()), "a1");
    agent.wait_until(DEADLINE, "every line arrived", || {
        Tally::of(
            &consume_all(&broker.bootstrap(), TOPIC, 1, 0, Duration::from_secs(5)),
            3000,
        )
        .complete()
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 3000, DEADLINE);
    let tally = Tally::of(&records, 3000);
    assert!(
        tally.complete(),
        "nothing lost (duplicates allowed: lines read again): {tally}"
    );
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
