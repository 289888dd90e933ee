//! Bad values never panic: every numeric property of every supported component, given extreme
//! values (zero, negatives, the edges of Java's int and long, numbers beyond them, garbage, and
//! random integers from proptest), is rejected or accepted with a diagnostic — and whatever is
//! accepted builds and runs a first round without overflowing a deadline or allocating without
//! bound.
//!
//! The first round, for each edge value: channels take a put and a take; every source that
//! needs no outside peer runs on its own port or files, is fed an event, and must return within
//! [`STOPS_WITHIN`] of its shutdown; the sinks that need no peer start, deliver a batch and
//! stop. The random integers (many more cases) only parse and build sources and sinks, to bound
//! the run time; they run rounds of channels and offline sinks, which take microseconds.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::registry_tests::{minimal, parse_minimal, parse_props, MINIMAL};
use crate::channel::{self, memory::MemorySettings, ChannelSettings, TakeTransaction};
use crate::config::registry::{ParseFn, Support, TypeEntry};
use crate::event::Event;
use crate::metrics::{ChannelCounter, SinkCounter};
use crate::shutdown::Shutdown;
use crate::sink::{self, SinkCore};
use crate::{interceptor, source};

/// How long a running source or sink may take to return once told to stop (or, for a sink, to
/// finish its round): far more than any of them needs, so only a hang (a sleep or wait on a
/// huge duration) fails it.
const STOPS_WITHIN: Duration = Duration::from_secs(10);

/// The drain a stopped source is given: what it read stays undelivered (no sink), and some wait
/// all of it for the delivery.
const DRAIN: Duration = Duration::from_millis(100);

/// How long a started source is given to take its first event before it is stopped anyway:
/// some values legitimately keep events from coming (`port = 0`, `totalEvents = 1` after the
/// first), and the test is about surviving the value, not about the event.
const FIRST_EVENT_WITHIN: Duration = Duration::from_secs(2);

/// The largest single allocation any test of this crate may make. A size property turned into a
/// buffer or a `Vec::with_capacity` unchecked asks for gigabytes (`batchSize = 2147483647` is
/// 64 GiB of `Bytes`); whether the system refuses that depends on its memory and overcommit
/// settings, so this allocator refuses it always, naming the thread (the case) first: the
/// process then aborts with "memory allocation of N bytes failed" — a failure, and one that
/// says which value did it.
const MAX_ALLOCATION: usize = 1 << 30;

struct BoundedAllocator;

// SAFETY: every call is forwarded to the system allocator unchanged, or refused (null) before
// it reaches it.
unsafe impl std::alloc::GlobalAlloc for BoundedAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            refused(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            refused(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            refused(new_size);
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// Says which thread asked for `size` bytes, without allocating (a fixed buffer, unbuffered
/// stderr): the threads that run a component are named after the case.
fn refused(size: usize) {
    let mut buf = [0u8; 512];
    let mut w = &mut buf[..];
    let thread = std::thread::current();
    let _ = writeln!(
        w,
        "refused an allocation of {size} bytes (more than {MAX_ALLOCATION}) in thread {}",
        thread.name().unwrap_or("(unnamed)")
    );
    let left = w.len();
    let _ = std::io::stderr().write_all(&buf[..buf.len() - left]);
}

#[global_allocator]
static ALLOCATOR: BoundedAllocator = BoundedAllocator;

/// Values every numeric property is tried with.
const EDGES: &[&str] = &[
    "0",
    "-1",
    "1",
    " 7 ",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "99999999999999999999999",
    "1e3",
    "0x10",
    "lots",
];

/// Parses a component of `kind`/`alias` from its minimal properties with `key = value` added;
/// `Some` only when it parsed without errors. The directory is where its files may go (see
/// `with_temp_dirs`); it must outlive what is built.
fn parse_with<S>(
    parse: ParseFn<S>,
    kind: &str,
    alias: &str,
    extra: Option<(&str, &str)>,
) -> (Option<S>, tempfile::TempDir) {
    let p = parse_minimal(parse, kind, alias, extra);
    let ok = !p.diags.has_errors();
    (p.settings.filter(|_| ok), p.dirs)
}

/// [`parse_with`] from `props` instead of the minimal ones.
fn parse_runnable<S>(
    parse: ParseFn<S>,
    kind: &str,
    alias: &str,
    props: &[(String, String)],
    extra: Option<(&str, &str)>,
) -> (Option<S>, tempfile::TempDir) {
    let props: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p = parse_props(parse, kind, alias, &props, extra);
    let ok = !p.diags.has_errors();
    (p.settings.filter(|_| ok), p.dirs)
}

/// The numeric properties of each supported type: those its `describe()` shows as a number (or
/// as `unlimited`) for its minimal configuration.
fn numeric_keys<S>(
    kind: &'static str,
    table: &'static [TypeEntry<S>],
    describe: impl Fn(&S) -> Vec<(String, String)>,
) -> Vec<(&'static str, ParseFn<S>, String)> {
    let mut out = Vec::new();
    for entry in table {
        let Support::Yes(parse) = entry.support else {
            continue;
        };
        let alias = entry.name.alias;
        let settings = parse_with(parse, kind, alias, None)
            .0
            .unwrap_or_else(|| panic!("{kind} {alias}: its minimal config parses"));
        let keys: BTreeSet<String> = describe(&settings)
            .into_iter()
            .filter(|(_, v)| v.trim().parse::<i128>().is_ok() || v == "unlimited")
            .map(|(k, _)| k)
            .collect();
        out.extend(keys.into_iter().map(|k| (alias, parse, k)));
    }
    out
}

/// Builds what parsed and runs a first round of it, catching a panic.
fn exercise(kind: &str, alias: &str, key: &str, value: &str, run: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(run)) {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{kind} {alias}: {key} = {value:?} panicked: {msg}");
    }
}

fn try_channel(value: &str) {
    for (alias, parse, key) in numeric_keys("channel", channel::TYPES, |s: &ChannelSettings| {
        s.spec().describe()
    }) {
        exercise("channel", alias, &key, value, || {
            let (parsed, _dirs) = parse_with(parse, "channel", alias, Some((&key, value)));
            if let Some(s) = parsed {
                let c = s
                    .spec()
                    .build("c1", Arc::new(ChannelCounter::default()))
                    .unwrap_or_else(|e| {
                        panic!("channel {alias} with {key} = {value} did not open: {e}")
                    });
                if c.kind() == "kafka" {
                    // Its put waits for a broker's acknowledgement (up to message.timeout.ms,
                    // 0 = forever); its put and take run against a broker in
                    // tests/kafka_channel.rs.
                    return;
                }
                let mut batch = vec![Event::new("a"), Event::new("b")];
                let _ = c.put(&mut batch);
                let txn = TakeTransaction::begin(&c, 2, Duration::ZERO);
                txn.commit();
            }
        });
    }
}

/// How a running source gets its first event.
#[derive(Clone, Copy)]
enum Feed {
    /// It makes its own (seq, exec) or reads the file written before it starts (taildir,
    /// spooldir).
    Itself,
    /// These bytes on a TCP connection to its port.
    Tcp(&'static [u8]),
    /// This datagram to its port, resent until it arrives (the socket may not be bound yet).
    Udp(&'static [u8]),
    /// Avro and Thrift speak framed RPC: a connection it accepts is the sign it runs (their
    /// event paths run against real clients in tests/avro_rpc.rs and tests/thrift_rpc.rs).
    Connect,
}

/// A free port on 127.0.0.1 (TCP, or UDP): the sources bind it again at once, and parallel
/// tests never share one.
fn free_port(udp: bool) -> u16 {
    if udp {
        let s = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
        s.local_addr().expect("its address").port()
    } else {
        let l = TcpListener::bind("127.0.0.1:0").expect("a TCP port");
        l.local_addr().expect("its address").port()
    }
}

const SYSLOG_LINE: &[u8] = b"<13>Jan  1 00:00:00 host app: hello\n";
const HTTP_POST: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
Content-Length: 31\r\nConnection: close\r\n\r\n[{\"headers\":{},\"body\":\"hello\"}]";

/// The properties that make source `alias` run here (its own free port, files under `@TMP@`,
/// a command that ends), and how it is fed. `None` for a source that needs an outside peer:
/// Kafka's runs against a broker in tests/kafka_source.rs; here it only builds.
fn runnable_source(alias: &str) -> Option<(Vec<(String, String)>, Feed)> {
    let mut props: Vec<(String, String)> = minimal("source", alias)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut set = |k: &str, v: String| {
        props.retain(|(key, _)| key != k);
        props.push((k.to_string(), v));
    };
    let feed = match alias {
        "seq" => Feed::Itself,
        "exec" => {
            set("command", "echo hello".into());
            // So `restartThrottle` is slept on, after the command ended, when the stop comes.
            set("restart", "true".into());
            Feed::Itself
        }
        "taildir" => {
            set("filegroups.f1", "@TMP@/app.log".into());
            set("positionFile", "@TMP@/taildir_position.json".into());
            Feed::Itself
        }
        "spooldir" => {
            set("spoolDir", "@TMP@/spool".into());
            Feed::Itself
        }
        "netcat" | "syslogtcp" | "http" | "avro" | "thrift" => {
            set("port", free_port(false).to_string());
            match alias {
                "netcat" => Feed::Tcp(b"hello\n"),
                "syslogtcp" => Feed::Tcp(SYSLOG_LINE),
                "http" => Feed::Tcp(HTTP_POST),
                _ => Feed::Connect,
            }
        }
        "multiport_syslogtcp" => {
            set(
                "ports",
                format!("{} {}", free_port(false), free_port(false)),
            );
            Feed::Tcp(SYSLOG_LINE)
        }
        "netcatudp" => {
            set("port", free_port(true).to_string());
            Feed::Udp(b"hello\n")
        }
        "syslogudp" => {
            set("port", free_port(true).to_string());
            Feed::Udp(b"<13>Jan  1 00:00:00 host app: hello")
        }
        _ => return None,
    };
    Some((props, feed))
}

/// The port a source listens on, from its properties (the first of `ports`).
fn port_of(props: &[(String, String)], extra: (&str, &str)) -> Option<u16> {
    let value = |k: &str| {
        if extra.0 == k {
            Some(extra.1.to_string())
        } else {
            props
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        }
    };
    value("port")
        .or_else(|| value("ports"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Writes the files a source reads before it starts.
fn prepare_files(alias: &str, dir: &std::path::Path) {
    match alias {
        "taildir" => std::fs::write(dir.join("app.log"), "hello\n").expect("the tailed file"),
        "spooldir" => {
            std::fs::create_dir_all(dir.join("spool")).expect("the spool directory");
            std::fs::write(dir.join("spool/a.log"), "hello\n").expect("a spooled file");
        }
        _ => {}
    }
}

/// What a panic carried, as text.
fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f` on a thread named `name`; calls `stop` once `started` says so (or after
/// [`FIRST_EVENT_WITHIN`]), then waits [`STOPS_WITHIN`] for `f` to return. A panic in the thread
/// panics here with its message; a thread still running then panics here too. Returns what `f`
/// returned, and whether `started` said so before the stop.
fn run_on_thread<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
    mut started: impl FnMut() -> bool,
    stop: impl FnOnce(),
) -> (T, bool) {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)).map_err(panic_text));
        })
        .expect("a thread");
    let until = Instant::now() + FIRST_EVENT_WITHIN;
    let mut early = None;
    let mut was_started = false;
    while Instant::now() < until && !was_started {
        was_started = started();
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(r) => {
                early = Some(r);
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the thread always sends"),
        }
    }
    stop();
    let result = match early {
        Some(r) => r,
        None => rx
            .recv_timeout(STOPS_WITHIN)
            .unwrap_or_else(|_| panic!("still running {STOPS_WITHIN:?} after it was stopped")),
    };
    (result.unwrap_or_else(|msg| panic!("{msg}")), was_started)
}

/// Runs a built source over a memory channel that takes its batches (as the graph requires),
/// feeds it, stops it, and requires it to return. Whether it took its first event (Avro,
/// Thrift: accepted a connection) before the stop.
fn run_source(
    case: String,
    alias: &str,
    spec: &dyn source::SourceSpec,
    feed: Feed,
    port: Option<u16>,
    dir: &std::path::Path,
) -> bool {
    prepare_files(alias, dir);
    let batch = spec.batch_size().max(100);
    // A full channel (seq fills any) fails a put at once instead of after the 3 s keep-alive:
    // the source then retries, where it watches for the stop.
    let (_channel, processor, counter) = source::processor::memory_pipeline_with(MemorySettings {
        capacity: batch,
        transaction_capacity: batch,
        keep_alive: Duration::ZERO,
        ..MemorySettings::default()
    });
    let running = spec.build("r1");
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let mut conn: Option<TcpStream> = None;
    let udp = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let mut last_send = None::<Instant>;
    let mut started = move || {
        if counter.event_received.get() > 0 || counter.event_accepted.get() > 0 {
            return true;
        }
        let port = match (feed, port) {
            (Feed::Itself, _) => return false,
            (_, Some(port)) if port != 0 => port,
            // `port = 0` (or unparsable): listening where nothing can reach it; stopped as is.
            _ => return true,
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        match feed {
            Feed::Itself => false,
            Feed::Tcp(_) | Feed::Connect => {
                if conn.is_some() {
                    return false;
                }
                let Ok(mut c) = TcpStream::connect_timeout(&addr, Duration::from_millis(100))
                else {
                    return false;
                };
                match feed {
                    Feed::Tcp(bytes) => {
                        let _ = c.write_all(bytes);
                        conn = Some(c);
                        false
                    }
                    _ => true,
                }
            }
            Feed::Udp(bytes) => {
                if last_send.is_none_or(|t| t.elapsed() > Duration::from_millis(50)) {
                    let _ = udp.send_to(bytes, addr);
                    last_send = Some(Instant::now());
                }
                false
            }
        }
    };
    let (result, started) = run_on_thread(
        case,
        move || running.run(processor, shutdown),
        &mut started,
        // A short drain: with no sink, taildir and the like wait out the drain for delivery.
        move || stop.trigger(Instant::now() + DRAIN),
    );
    // A source that could not start (a port taken or privileged) says so and returns: that is
    // a clear message, not a panic.
    let _ = result;
    started
}

fn try_source(value: &str, run: bool) {
    for (alias, parse, key) in
        numeric_keys("source", source::TYPES, |s: &source::SourceSettings| {
            s.spec().describe()
        })
    {
        exercise("source", alias, &key, value, || {
            match runnable_source(alias).filter(|_| run) {
                Some((props, feed)) => {
                    let extra = (key.as_str(), value);
                    let port = port_of(&props, extra);
                    let (parsed, dirs) =
                        parse_runnable(parse, "source", alias, &props, Some(extra));
                    if let Some(s) = parsed {
                        let case = format!("source {alias}: {key} = {value:?}");
                        run_source(case, alias, s.spec(), feed, port, dirs.path());
                    }
                }
                None => {
                    if let (Some(s), _dirs) =
                        parse_with(parse, "source", alias, Some((&key, value)))
                    {
                        let _ = s.spec().batch_size();
                        let _running = s.spec().build("r1");
                    }
                }
            }
        });
    }
}

/// The sinks that deliver without a peer, with the properties that make them write here: HDFS
/// writes to a `file://` path under the temporary directory (its MINIMAL row). The Avro,
/// Thrift and Kafka sinks need a peer: they only build here, and run against real peers in
/// tests/.
fn runnable_sink(alias: &str) -> Option<Vec<(String, String)>> {
    let mut props: Vec<(String, String)> = minimal("sink", alias)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match alias {
        "null" | "logger" | "hdfs" => {}
        "file_roll" => {
            props.retain(|(k, _)| k != "sink.directory");
            props.push(("sink.directory".into(), "@TMP@".into()));
        }
        _ => return None,
    }
    Some(props)
}

/// Starts a built sink over a memory channel holding two events, runs a round and stops it.
/// Whether it built, started and took the events in a round that succeeded.
fn sink_round(case: String, spec: &dyn sink::SinkSpec) -> bool {
    let batch = spec.batch_size().max(100);
    let memory = ChannelSettings::Memory(MemorySettings {
        capacity: batch,
        transaction_capacity: batch,
        ..MemorySettings::default()
    });
    let channel = memory
        .spec()
        .build("c1", Arc::new(ChannelCounter::default()))
        .expect("a memory channel opens");
    channel
        .put(&mut vec![Event::new("a"), Event::new("b")])
        .expect("two events fit");
    let core = SinkCore::new("k1", channel.clone(), Arc::new(SinkCounter::default()));
    let Ok(mut sink) = spec.build(core) else {
        return false;
    };
    let (delivered, _) = run_on_thread(
        case,
        move || {
            // One round: a second, on the empty channel, would only wait for events.
            let delivered = sink.start().is_ok() && sink.process().is_ok();
            sink.stop(Instant::now() + Duration::from_secs(1));
            delivered
        },
        // Nothing to wait for: the round is the thread's whole work.
        || true,
        || {},
    );
    delivered && channel.len_including_in_flight() == 0
}

/// Parses every numeric property of every sink with `value`; `build`: builds each too (every
/// sink, and the ones that need no peer run a round); otherwise only those run a round.
fn try_sink(value: &str, build: bool) {
    let memory = ChannelSettings::Memory(MemorySettings::default());
    for (alias, parse, key) in numeric_keys("sink", sink::TYPES, |s: &sink::SinkSettings| {
        s.spec().describe()
    }) {
        exercise("sink", alias, &key, value, || {
            if let Some(props) = runnable_sink(alias) {
                let extra = Some((key.as_str(), value));
                let (parsed, _dirs) = parse_runnable(parse, "sink", alias, &props, extra);
                if let Some(s) = parsed {
                    sink_round(format!("sink {alias}: {key} = {value:?}"), s.spec());
                }
            } else if let (Some(s), _dirs) = parse_with(parse, "sink", alias, Some((&key, value))) {
                if build {
                    let channel = memory
                        .spec()
                        .build("c1", Arc::new(ChannelCounter::default()))
                        .expect("a memory channel opens");
                    let core = SinkCore::new("k1", channel, Arc::new(SinkCounter::default()));
                    let _ = s.spec().build(core);
                }
            }
        });
    }
}

fn try_interceptor(value: &str) {
    for (alias, parse, key) in numeric_keys(
        "interceptor",
        interceptor::TYPES,
        |s: &interceptor::InterceptorSettings| s.spec().describe(),
    ) {
        exercise("interceptor", alias, &key, value, || {
            if let (Some(s), _dirs) = parse_with(parse, "interceptor", alias, Some((&key, value))) {
                let mut i = s.spec().build();
                let _ = i.intercept(vec![Event::new("x")]);
            }
        });
    }
}

/// The rounds really run: with the values of [`runnable_source`] and [`runnable_sink`] alone,
/// every source takes its first event (Avro, Thrift: accept a connection) and every offline
/// sink delivers its batch; so a case above that survives ran its value rather than failing
/// to start unnoticed.
#[test]
fn the_first_rounds_run_without_extreme_values() {
    for entry in source::TYPES {
        let Support::Yes(parse) = entry.support else {
            continue;
        };
        let alias = entry.name.alias;
        let Some((props, feed)) = runnable_source(alias) else {
            continue;
        };
        let port = port_of(&props, ("", ""));
        let (parsed, dirs) = parse_runnable(parse, "source", alias, &props, None);
        let s = parsed.unwrap_or_else(|| panic!("source {alias}: its runnable config parses"));
        let case = format!("source {alias}");
        assert!(
            run_source(case, alias, s.spec(), feed, port, dirs.path()),
            "source {alias} took no event within {FIRST_EVENT_WITHIN:?}"
        );
    }
    for entry in sink::TYPES {
        let Support::Yes(parse) = entry.support else {
            continue;
        };
        let alias = entry.name.alias;
        let Some(props) = runnable_sink(alias) else {
            continue;
        };
        let (parsed, _dirs) = parse_runnable(parse, "sink", alias, &props, None);
        let s = parsed.unwrap_or_else(|| panic!("sink {alias}: its runnable config parses"));
        assert!(
            sink_round(format!("sink {alias}"), s.spec()),
            "sink {alias} did not deliver its batch"
        );
    }
}

#[test]
fn every_numeric_property_survives_the_edges() {
    assert!(!MINIMAL.is_empty());
    for value in EDGES {
        try_channel(value);
        try_source(value, true);
        // Building a Kafka sink starts a librdkafka client: the edges are enough for it.
        try_sink(value, true);
        try_interceptor(value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_numeric_property_survives_random_integers(v in any::<i64>(), u in any::<u64>()) {
        for value in [v.to_string(), u.to_string()] {
            try_channel(&value);
            try_source(&value, false);
            try_sink(&value, false);
            try_interceptor(&value);
        }
    }
}
