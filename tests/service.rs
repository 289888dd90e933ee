//! rflume as a system service: systemd's notify protocol over a real socket, the unit file as
//! `systemd-analyze verify` judges it, the packages' layout as `dpkg` would install it, and the
//! static OpenSSL build serving `--conf-uri https:`.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

const NULL_PIPELINE: &str = "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
    a1.sources.r1.type = seq\na1.sources.r1.channels = c1\na1.sources.r1.totalEvents = 1000000000\n\
    a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n";

/// Datagrams received on the notify socket, in order.
struct NotifySocket {
    socket: UnixDatagram,
    seen: Vec<String>,
    /// The socket's directory, removed with it.
    dir: Option<tempfile::TempDir>,
}

impl NotifySocket {
    fn bind(path: &Path) -> NotifySocket {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        NotifySocket {
            socket,
            seen: Vec::new(),
            dir: None,
        }
    }

    /// Waits for a datagram containing `line` (a whole `KEY=VALUE` line); returns it.
    fn wait_for(&mut self, line: &str, agent: &Agent) -> String {
        let end = Instant::now() + DEADLINE;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let d = String::from_utf8_lossy(&buf[..n]).to_string();
                self.seen.push(d.clone());
                if d.lines().any(|l| l == line) {
                    return d;
                }
            }
        }
        panic!("no {line} datagram; got {:?}\n{}", self.seen, agent.log());
    }
}

/// The agent under a watchdog of one second (pings every half second), its notify socket bound
/// by the test in a directory of its own; the agent runs in `dir` from `config` (`flume.conf`)
/// with `extra` arguments.
fn start_notified(dir: tempfile::TempDir, config: &str, extra: &[String]) -> (Agent, NotifySocket) {
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock_path = sock_dir.path().join("notify.sock");
    let mut notify = NotifySocket::bind(&sock_path);
    notify.dir = Some(sock_dir);
    let conf = dir.path().join("flume.conf");
    std::fs::write(&conf, config).expect("write");
    let mut cmd = Command::new(rflume_bin());
    cmd.args([
        "agent",
        "--name",
        "a1",
        "-Dflume.root.logger=INFO,console",
        "--conf-file",
    ])
    .arg(&conf)
    .args(extra)
    .env("NOTIFY_SOCKET", &sock_path)
    .env("WATCHDOG_USEC", "1000000");
    (Agent::spawn(dir, cmd), notify)
}

fn notify_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rflume-notify-")
        .tempdir()
        .expect("tempdir")
}

#[test]
fn notify_socket_gets_ready_watchdog_reloading_and_stopping() {
    let (mut agent, mut notify) = start_notified(notify_dir(), NULL_PIPELINE, &[]);
    let ready = notify.wait_for("READY=1", &agent);
    assert!(
        ready.contains("STATUS=running 1 source(s), 1 channel(s), 1 sink(s)"),
        "{ready}"
    );
    // WatchdogSec=1: pings every half second while the sink goes round.
    notify.wait_for("WATCHDOG=1", &agent);
    notify.wait_for("WATCHDOG=1", &agent);
    std::fs::write(
        agent.conf_path(),
        NULL_PIPELINE.replace("type = null", "type = null\na1.sinks.k1.batchSize = 10"),
    )
    .expect("edit");
    let reloading = notify.wait_for("RELOADING=1", &agent);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    notify.wait_for("READY=1", &agent);
    agent.stop_cleanly();
    let stopping = notify.wait_for("STOPPING=1", &agent);
    assert!(stopping.contains("STATUS=stopping"), "{stopping}");
    // The order systemd needs: READY before RELOADING before the second READY before STOPPING.
    let pos = |what: &str, from: usize| {
        notify.seen[from..]
            .iter()
            .position(|d| d.lines().any(|l| l == what))
            .map(|p| p + from)
            .unwrap_or_else(|| panic!("{what} missing in {:?}", notify.seen))
    };
    let r1 = pos("READY=1", 0);
    let rl = pos("RELOADING=1", r1);
    let r2 = pos("READY=1", rl);
    pos("STOPPING=1", r2);
}

/// A source that cannot start (a netcat source added by a reload finds its port taken: the test
/// holds it) is started again, as Flume's supervisor does, and its runner stays alive meanwhile:
/// the watchdog keeps pinging — a systemd restart would lose a memory channel's events over one
/// port — while the log says what failed and when it is tried again. Once the port is free the
/// source listens and answers `OK`.
#[test]
fn a_source_that_cannot_start_is_retried_and_the_watchdog_keeps_pinging() {
    let (mut agent, mut notify) = start_notified(notify_dir(), NULL_PIPELINE, &[]);
    notify.wait_for("READY=1", &agent);
    notify.wait_for("WATCHDOG=1", &agent);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let with_blocked_source = format!(
        "{}a1.sources.r2.type = netcat\na1.sources.r2.bind = 127.0.0.1\n\
         a1.sources.r2.port = {port}\na1.sources.r2.channels = c1\n",
        NULL_PIPELINE.replace("a1.sources = r1", "a1.sources = r1 r2")
    );
    std::fs::write(agent.conf_path(), with_blocked_source).expect("edit");
    notify.wait_for("RELOADING=1", &agent);
    agent.wait_for_log(DEADLINE, "source r2 is started again in 3 s");
    // The rounds that follow (every half second) keep confirming liveness.
    let from = notify.seen.len();
    notify.wait_for("WATCHDOG=1", &agent);
    notify.wait_for("WATCHDOG=1", &agent);
    let triggers: Vec<&String> = notify.seen[from..]
        .iter()
        .filter(|d| d.contains("WATCHDOG=trigger"))
        .collect();
    assert!(
        triggers.is_empty(),
        "the watchdog gave up on a retrying source: {triggers:?}"
    );
    drop(taken);
    // The next attempts come 3 s, then 6 s after a failure.
    let answered = || {
        use std::io::{BufRead, BufReader, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reply = String::new();
        s.write_all(b"hello\n").is_ok()
            && BufReader::new(&s).read_line(&mut reply).is_ok()
            && reply.trim_end() == "OK"
    };
    agent.wait_until(
        Duration::from_secs(30),
        "source r2 listens and answers OK",
        answered,
    );
    agent.wait_for_log(DEADLINE, "source r2 runs again");
    agent.stop_cleanly();
}

/// Sources that wait for input are healthy however long the input takes: an exec `tail -F` and
/// a TAILDIR source that read a line and then see nothing more keep the pings going past the
/// watchdog's limit for a silent runner (10 s), and the next line still flows.
#[test]
fn idle_exec_and_taildir_sources_keep_the_watchdog_pinging() {
    let dir = notify_dir();
    let quiet = dir.path().join("quiet.log");
    std::fs::write(&quiet, "first\n").expect("write");
    let port = free_port();
    let config = format!(
        "a1.sources = r1 r2\na1.channels = c1\na1.sinks = k1\n\
             a1.sources.r1.type = exec\na1.sources.r1.command = tail -F {quiet}\n\
             a1.sources.r1.channels = c1\n\
             a1.sources.r2.type = TAILDIR\na1.sources.r2.filegroups = f1\n\
             a1.sources.r2.filegroups.f1 = {quiet}\n\
             a1.sources.r2.positionFile = {pos}\na1.sources.r2.channels = c1\n\
             a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n",
        quiet = quiet.display(),
        pos = dir.path().join("positions.json").display()
    );
    let metrics = [
        "-Dflume.monitoring.type=http".to_string(),
        format!("-Dflume.monitoring.port={port}"),
    ];
    let (mut agent, mut notify) = start_notified(dir, &config, &metrics);
    notify.wait_for("READY=1", &agent);
    let accepted = |n: &str| {
        common::http::metrics_json(port).is_some_and(|m| {
            m["SOURCE.r1"]["EventAcceptedCount"] == n && m["SOURCE.r2"]["EventAcceptedCount"] == n
        })
    };
    // Each source woke for the first line, worked, and now waits.
    agent.wait_until(DEADLINE, "both sources take the first line", || {
        accepted("1")
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(13) {
        notify.wait_for("WATCHDOG=1", &agent);
    }
    let refused: Vec<&String> = notify
        .seen
        .iter()
        .filter(|d| d.contains("WATCHDOG=trigger"))
        .collect();
    assert!(refused.is_empty(), "{refused:?}\n{}", agent.log());
    // Still reading: the line reaches both sources.
    common::append_lines(&quiet, ["woken"]);
    agent.wait_until(DEADLINE, "both sources take the line", || accepted("2"));
    agent.stop_cleanly();
}

/// Installs a Debian package's tool when it is missing (the test script does the same).
fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    assert!(
        have("systemd-analyze"),
        "systemd-analyze is needed (scripts/test.sh installs it)"
    );
    // verify checks that ExecStart's binary exists: give it a root with the binary in place.
    let root = tempfile::tempdir().expect("tempdir");
    let unit_dir = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(&unit_dir).expect("mkdir");
    std::fs::create_dir_all(root.path().join("usr/bin")).expect("mkdir");
    std::fs::copy(rflume_bin(), root.path().join("usr/bin/rflume")).expect("copy");
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/rflume@.service");
    std::fs::copy(&unit, unit_dir.join("rflume@.service")).expect("copy unit");
    // …and the system's own units the unit refers to (sysinit.target, network-online.target).
    let system_units = root.path().join("usr/lib/systemd");
    std::fs::create_dir_all(&system_units).expect("mkdir");
    let (ok, out) = run(Command::new("cp")
        .arg("-a")
        .arg("/usr/lib/systemd/system")
        .arg(&system_units));
    assert!(ok, "{out}");
    let (ok, out) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg("rflume@a1.service"));
    let problems: Vec<&str> = out.lines().filter(|l| l.contains("rflume@")).collect();
    assert!(ok && problems.is_empty(), "systemd-analyze verify:\n{out}");
    let text = std::fs::read_to_string(&unit).expect("unit");
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "ExecStartPre=/usr/bin/rflume check",
        "ExecReload=/usr/bin/rflume check",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "User=rflume",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/rflume",
        "NoNewPrivileges=yes",
    ] {
        assert!(text.contains(needed), "the unit lacks {needed}");
    }
}

#[test]
fn the_deb_installs_the_binary_unit_config_and_state_dir() {
    assert!(have("dpkg-deb"), "dpkg-deb is needed");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, log) = run(Command::new("bash")
        .arg(manifest.join("scripts/package.sh"))
        .arg("--binary")
        .arg(rflume_bin())
        .arg("--out")
        .arg(out_dir.path())
        .arg("--version")
        .arg("0.0.0-test")
        .arg("--fast"));
    assert!(ok, "package.sh failed:\n{log}");
    let deb = out_dir.path().join("rflume_0.0.0-test_amd64.deb");
    assert!(deb.exists(), "no .deb:\n{log}");
    let root = tempfile::tempdir().expect("tempdir");
    let (ok, out) = run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path()));
    assert!(ok, "{out}");
    let r = root.path();
    let bin = r.join("usr/bin/rflume");
    assert!(bin.is_file());
    let (ok, version) = run(Command::new(&bin).arg("version"));
    assert!(ok && version.contains("rflume"), "{version}");
    assert!(r.join("usr/lib/systemd/system/rflume@.service").is_file());
    assert!(r.join("etc/rflume/example.conf").is_file());
    assert!(r.join("var/lib/rflume").is_dir());
    // The flume-ng name is inert until opted in: off the PATH, never /usr/bin/flume-ng.
    assert!(!r.join("usr/bin/flume-ng").exists());
    assert_eq!(
        std::fs::read_link(r.join("usr/lib/rflume/bin/flume-ng")).expect("symlink"),
        Path::new("/usr/bin/rflume")
    );
    // The example configuration is valid.
    let (ok, out) = run(Command::new(&bin)
        .args(["check", "--name", "example", "--conf-file"])
        .arg(r.join("etc/rflume/example.conf")));
    assert!(ok, "example.conf does not pass rflume check:\n{out}");
    // Control data: glibc (and libgcc) only; the service account is made by postinst.
    let (ok, depends) = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends"));
    assert!(ok, "{depends}");
    assert!(depends.starts_with("libc6 (>= 2."), "{depends}");
    assert!(
        !depends.contains("libssl") && !depends.contains("zlib"),
        "{depends}"
    );
    let (ok, conffiles) = run(Command::new("dpkg-deb")
        .args(["-I"])
        .arg(&deb)
        .arg("conffiles"));
    assert!(
        ok && conffiles.contains("/etc/rflume/example.conf"),
        "{conffiles}"
    );
    let (ok, postinst) = run(Command::new("dpkg-deb")
        .args(["-I"])
        .arg(&deb)
        .arg("postinst"));
    assert!(
        ok && postinst.contains("chown rflume:rflume /var/lib/rflume"),
        "{postinst}"
    );
    // The binary itself needs nothing beyond glibc: OpenSSL and zlib are linked in.
    let (ok, dynamic) = run(Command::new("objdump").arg("-p").arg(&bin));
    assert!(ok, "{dynamic}");
    for needed in dynamic
        .lines()
        .filter(|l| l.trim_start().starts_with("NEEDED"))
    {
        let lib = needed.split_whitespace().nth(1).unwrap_or("");
        assert!(
            [
                "libc.so.6",
                "libm.so.6",
                "libgcc_s.so.1",
                "ld-linux-x86-64.so.2"
            ]
            .contains(&lib),
            "the binary needs {lib}"
        );
    }
    // The .rpm, when rpmbuild is there (scripts/test.sh installs it).
    if have("rpmbuild") {
        let rpm = std::fs::read_dir(out_dir.path())
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "rpm"))
            .unwrap_or_else(|| panic!("no .rpm:\n{log}"));
        let (ok, files) = run(Command::new("rpm").args(["-qlp"]).arg(&rpm));
        assert!(ok, "{files}");
        for f in [
            "/usr/bin/rflume",
            "/usr/lib/systemd/system/rflume@.service",
            "/etc/rflume/example.conf",
            "/var/lib/rflume",
        ] {
            assert!(
                files.lines().any(|l| l == f),
                "{f} not in the rpm:\n{files}"
            );
        }
        let (_, requires) = run(Command::new("rpm").args(["-qp", "--requires"]).arg(&rpm));
        assert!(requires.contains("glibc >= 2."), "{requires}");
        assert!(!requires.contains("libssl"), "{requires}");
    }
}

#[test]
fn conf_uri_https_works_with_the_static_openssl() {
    assert!(
        have("openssl") && have("python3"),
        "openssl and python3 are needed"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (ok, out) = run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(d.join("key.pem"))
        .arg("-out")
        .arg(d.join("cert.pem")));
    assert!(ok, "{out}");
    std::fs::write(d.join("flume.conf"), NULL_PIPELINE).expect("write");
    let port = free_port();
    let server = format!(
        "import http.server, ssl, functools\n\
         h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='{dir}')\n\
         s = http.server.HTTPServer(('127.0.0.1', {port}), h)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('{dir}/cert.pem', '{dir}/key.pem')\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         s.serve_forever()\n",
        dir = d.display()
    );
    let mut py = common::process::Supervised::spawn(
        "https server",
        {
            let mut c = Command::new("python3");
            c.arg("-c").arg(server);
            c
        },
        &d.join("server.log"),
    );
    common::process::wait_listening(&mut py, port, DEADLINE).expect("https server listens");
    let url = format!("https://127.0.0.1:{port}/flume.conf");
    // Trusted through the standard OpenSSL variable: the check reads the file over TLS.
    let mut check = Command::new(rflume_bin());
    check
        .args(["check", "--name", "a1", "--conf-uri", &url])
        .env("SSL_CERT_FILE", d.join("cert.pem"));
    let (ok, out) = run(&mut check);
    assert!(ok && out.contains("agent a1: OK"), "{out}");
    // Not trusted: a clear error, never a panic.
    let mut untrusted = Command::new(rflume_bin());
    untrusted
        .args(["check", "--name", "a1", "--conf-uri", &url])
        .env("SSL_CERT_FILE", "/nonexistent");
    let (ok, out) = run(&mut untrusted);
    assert!(
        !ok && out.contains("cannot read the configuration at"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    py.kill();
}

/// The unit's sandbox still lets the agent work. systemd is not PID 1 here, so the sandbox is
/// rebuilt from what the unit asks for: a private mount namespace whose whole file system is
/// read-only (`ProtectSystem=strict`) except the state directory (`ReadWritePaths`), the agent
/// run as an unprivileged user in group `adm` (`User=`, `SupplementaryGroups=adm`) with no new
/// privileges and no capabilities (`NoNewPrivileges`, `CapabilityBoundingSet=`), `UMask=0027`.
/// In it the agent tails a `root:adm 0640` log, keeps its TAILDIR positions and a file channel
/// in the state directory, and delivers every line to Kafka; a write anywhere else fails.
#[test]
fn the_units_sandbox_still_lets_the_agent_work() {
    use std::os::unix::fs::{chown, PermissionsExt};
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/rflume@.service"),
    )
    .expect("read the unit");
    for line in [
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/rflume /var/log/rflume",
        "SupplementaryGroups=adm",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "UMask=0027",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "the unit changed ({line}): update this test's sandbox"
        );
    }
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !have("unshare") || !have("setpriv") {
        let in_ci = in_ci();
        assert!(
            !in_ci,
            "CI must run the sandbox test: it needs root, unshare and setpriv"
        );
        eprintln!("SKIPPED: the sandbox test needs root, unshare and setpriv");
        return;
    }
    const NOBODY: u32 = 65534;
    const ADM: u32 = 4;
    let broker = Broker::start();
    broker.create_topic("sandboxed", 1);
    let top = tempfile::Builder::new()
        .prefix("rflume-sandbox-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let logs = top.path().join("logs");
    let state = top.path().join("state");
    std::fs::create_dir(&logs).unwrap();
    std::fs::create_dir(&state).unwrap();
    let log = logs.join("app.log");
    std::fs::write(&log, "").unwrap();
    chown(&log, Some(0), Some(ADM)).unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o640)).unwrap();
    chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let conf_path = top.path().join("agent.conf");
    let config = taildir_to_kafka(
        &logs,
        &state.join("taildir_position.json"),
        &broker.bootstrap(),
        "sandboxed",
        &[
            ("channels.c1.type", "file"),
            (
                "channels.c1.checkpointDir",
                &state.join("fc/checkpoint").display().to_string(),
            ),
            (
                "channels.c1.dataDirs",
                &state.join("fc/data").display().to_string(),
            ),
            ("channels.c1.minimumRequiredSpace", "1048576"),
            (
                "sinks.k1.rflume.deadLetter.directory",
                &state.join("dead-letter").display().to_string(),
            ),
        ],
    );
    std::fs::write(&conf_path, config).unwrap();
    // The sandbox, then `cmd` in it as nobody:adm.
    let sandboxed = |cmd: &str| {
        let script = format!(
            "set -e; mount --bind {s} {s}; mount -o remount,bind,ro /; \
             mount -o remount,bind,rw {s}; umask 0027; \
             exec setpriv --reuid={NOBODY} --regid={NOBODY} --groups={ADM} --no-new-privs \
             --inh-caps=-all --bounding-set=-all -- {cmd}",
            s = state.display()
        );
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
        c
    };
    let probe = sandboxed(&format!("touch {}/outside", top.path().display()))
        .output()
        .expect("run the probe");
    assert!(
        !probe.status.success() && String::from_utf8_lossy(&probe.stderr).contains("Read-only"),
        "outside the state directory nothing is writable: {probe:?}"
    );
    let agent_log = top.path().join("agent.log");
    let mut child = sandboxed(&format!(
        "{} agent --conf-file {} --name a1",
        rflume_bin().display(),
        conf_path.display()
    ))
    .stdout(std::fs::File::create(&agent_log).unwrap())
    .stderr(std::fs::File::create(&agent_log).unwrap())
    .spawn()
    .expect("start the sandboxed agent");
    let lines: Vec<String> = (0..200).map(|i| format!("sandboxed line {i:03}")).collect();
    append_lines(&log, &lines);
    let log_text = || std::fs::read_to_string(&agent_log).unwrap_or_default();
    let position = state.join("taildir_position.json");
    let delivered = poll_until(DEADLINE, || {
        consume_all(
            &broker.bootstrap(),
            "sandboxed",
            1,
            lines.len(),
            Duration::from_secs(2),
        )
        .len()
            >= lines.len()
            && std::fs::read_to_string(&position).is_ok_and(|p| p.contains("\"pos\":"))
    });
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().expect("wait");
    assert!(delivered, "not delivered from the sandbox:\n{}", log_text());
    assert!(
        status.success(),
        "stops cleanly: {status:?}\n{}",
        log_text()
    );
    let records = consume_all(&broker.bootstrap(), "sandboxed", 1, lines.len(), DEADLINE);
    let values: Vec<String> = records.iter().map(|r| r.value_str().to_string()).collect();
    assert_eq!(values, lines, "every line, once, in order");
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&position).unwrap().uid();
    assert_eq!(owner, NOBODY, "the position file is the service user's");
}
