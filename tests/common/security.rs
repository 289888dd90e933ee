//! Secure brokers for tests: a test CA made with `openssl`, TLS through `stunnel4` in front of a
//! plaintext tansu that advertises the TLS port (tansu's own TLS does not work), and SASL SCRAM
//! against the sqlite-capable tansu (`scripts/install-tansu-libsql.sh`). The recipes are the
//! verified ones of `../shared/kafka-test-infra.md`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use super::free_port;
use super::process::{wait_listening, Supervised};
use super::tansu::tansu_bin;

const START_DEADLINE: Duration = Duration::from_secs(15);
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Runs a command that must succeed (openssl, tansu's admin commands).
#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A certificate authority made for one test, and broker certificates it signs.
pub struct TestCa {
    dir: TempDir,
    name: String,
}

impl TestCa {
    /// A new CA (RSA 2048, valid for two days) named `name`.
    pub fn new(name: &str) -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("rflume-ca-")
            .tempdir()
            .expect("cannot create a temp dir for the CA");
        run(Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-keyout", "ca.key", "-out", "ca.pem"])
            .args(["-subj", &format!("/CN={name}")])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
        // `openssl ca` keeps a small database: it is what allows chosen validity dates (an
        // expired certificate) with OpenSSL 3.0, whose `x509 -req` has no -not_before.
        fs::write(dir.path().join("index.txt"), "").expect("index.txt");
        fs::write(dir.path().join("serial"), "1000\n").expect("serial");
        fs::write(
            dir.path().join("ca.cnf"),
            "[ ca ]\ndefault_ca = test\n[ test ]\ndir = .\ndatabase = index.txt\nserial = serial\n\
             new_certs_dir = .\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n\
             unique_subject = no\n[ any ]\ncommonName = supplied\n",
        )
        .expect("ca.cnf");
        TestCa {
            dir,
            name: name.to_string(),
        }
    }

    /// The CA certificate (PEM), what a client trusts.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A broker certificate for 127.0.0.1 and localhost, signed by this CA, valid from
    /// `start` to `end` (`YYYYMMDDHHMMSSZ`, or `None` for "from now, for two days"). Returns
    /// (certificate, key) in PEM.
    pub fn server_cert(
        &self,
        file_stem: &str,
        validity: Option<(&str, &str)>,
    ) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        let key = format!("{file_stem}.key");
        let csr = format!("{file_stem}.csr");
        let pem = format!("{file_stem}.pem");
        run(Command::new("openssl")
            .current_dir(d)
            .args(["req", "-new", "-newkey", "rsa:2048", "-nodes"])
            .args(["-keyout", &key, "-out", &csr])
            .args(["-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]));
        let mut ca = Command::new("openssl");
        ca.current_dir(d)
            .args(["ca", "-batch", "-notext", "-config", "ca.cnf"])
            .args(["-cert", "ca.pem", "-keyfile", "ca.key"])
            .args(["-in", &csr, "-out", &pem]);
        match validity {
            Some((start, end)) => ca.args(["-startdate", start, "-enddate", end]),
            None => ca.args(["-days", "2"]),
        };
        run(&mut ca);
        (d.join(pem), d.join(key))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A PKCS#12 key store holding `cert` and `key` (what a listening source loads), protected
    /// by `password`.
    pub fn pkcs12(&self, cert: &Path, key: &Path, password: &str) -> PathBuf {
        let out = cert.with_extension("p12");
        run(Command::new("openssl")
            .args(["pkcs12", "-export", "-name", "server"])
            .arg("-in")
            .arg(cert)
            .arg("-inkey")
            .arg(key)
            .arg("-out")
            .arg(&out)
            .args(["-passout", &format!("pass:{password}")]));
        out
    }

    /// A PEM key store: the certificate followed by its unencrypted key, in one file.
    pub fn pem_keystore(&self, cert: &Path, key: &Path) -> PathBuf {
        let out = cert.with_extension("keystore.pem");
        let mut text = fs::read(cert).expect("certificate");
        text.extend(fs::read(key).expect("key"));
        fs::write(&out, text).expect("PEM keystore");
        out
    }

    /// A Java key store (JKS, what Flume loads by default) made by the JDK's `keytool` from
    /// the PKCS#12 store `p12` (password `password`, kept for the JKS).
    pub fn jks_keystore(&self, p12: &Path, password: &str) -> PathBuf {
        let out = p12.with_extension("jks");
        run(Command::new("keytool")
            .args(["-importkeystore", "-noprompt"])
            .arg("-srckeystore")
            .arg(p12)
            .args(["-srcstoretype", "PKCS12", "-srcstorepass", password])
            .arg("-destkeystore")
            .arg(&out)
            .args(["-deststoretype", "JKS", "-deststorepass", password]));
        out
    }

    /// A trust store holding this CA's certificate, made by `keytool`: `store_type` JKS (what
    /// Flume's avro sink loads by default) or PKCS12.
    pub fn truststore(&self, store_type: &str, password: &str) -> PathBuf {
        let out = self
            .dir
            .path()
            .join(format!("truststore.{}", store_type.to_ascii_lowercase()));
        run(Command::new("keytool")
            .args(["-importcert", "-noprompt", "-alias", "ca"])
            .arg("-file")
            .arg(self.cert())
            .arg("-keystore")
            .arg(&out)
            .args(["-storetype", store_type, "-storepass", password]));
        out
    }
}

/// The `stunnel4` binary (Debian's package; scripts/test.sh installs it when missing).
pub fn stunnel_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        for candidate in ["stunnel4", "stunnel"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {candidate}")])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            if let Some(path) = found.filter(|p| !p.is_empty()) {
                return PathBuf::from(path);
            }
        }
        panic!(
            "stunnel4 is not installed: the TLS tests put it in front of the broker \
             (apt-get install -y stunnel4; scripts/test.sh does this)"
        )
    })
}

/// TLS on `accept` in front of plaintext `connect`, with `cert`/`key`, until dropped.
pub struct Stunnel {
    proc: Supervised,
    dir: TempDir,
    accept: u16,
    connect: u16,
}

impl Stunnel {
    pub fn start(accept: u16, connect: u16, cert: &Path, key: &Path) -> Stunnel {
        let dir = tempfile::Builder::new()
            .prefix("rflume-stunnel-")
            .tempdir()
            .expect("cannot create a temp dir for stunnel");
        let proc = Self::spawn(dir.path(), accept, connect, cert, key);
        Stunnel {
            proc,
            dir,
            accept,
            connect,
        }
    }

    fn spawn(dir: &Path, accept: u16, connect: u16, cert: &Path, key: &Path) -> Supervised {
        let conf = dir.join("stunnel.conf");
        fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\ndebug = 5\n[kafka]\naccept = 127.0.0.1:{accept}\n\
                 connect = 127.0.0.1:{connect}\ncert = {}\nkey = {}\n",
                cert.display(),
                key.display()
            ),
        )
        .expect("stunnel.conf");
        let mut proc = Supervised::spawn(
            "stunnel",
            {
                let mut c = Command::new(stunnel_bin());
                c.arg(&conf);
                c
            },
            &dir.join("stunnel.log"),
        );
        if let Err(why) = wait_listening(&mut proc, accept, START_DEADLINE) {
            panic!(
                "stunnel did not listen on {accept}: {why:?}\n{}",
                proc.log()
            );
        }
        proc
    }

    /// Serves another certificate on the same port (a renewed or fixed certificate).
    pub fn restart_with(&mut self, cert: &Path, key: &Path) {
        self.proc.stop(STOP_GRACE);
        self.proc = Self::spawn(self.dir.path(), self.accept, self.connect, cert, key);
    }

    pub fn port(&self) -> u16 {
        self.accept
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_tail(30));
        }
        self.proc.stop(STOP_GRACE);
    }
}

/// A plaintext tansu (`memory://`) that advertises a TLS port, with stunnel on that port: every
/// client connection goes through TLS.
pub struct TlsBroker {
    broker: Supervised,
    pub stunnel: Stunnel,
    plain: u16,
    _dir: TempDir,
}

impl TlsBroker {
    pub fn start(cert: &Path, key: &Path) -> TlsBroker {
        let dir = tempfile::Builder::new()
            .prefix("rflume-tls-broker-")
            .tempdir()
            .expect("cannot create a temp dir for the broker");
        let (plain, tls) = (free_port(), free_port());
        let mut broker = Supervised::spawn(
            "tansu broker",
            tansu(&[
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{plain}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{tls}"),
                "--storage-engine",
                "memory://tansu/",
            ]),
            &dir.path().join("tansu.log"),
        );
        if let Err(why) = wait_listening(&mut broker, plain, START_DEADLINE) {
            panic!("tansu did not listen on {plain}: {why:?}\n{}", broker.log());
        }
        let stunnel = Stunnel::start(tls, plain, cert, key);
        TlsBroker {
            broker,
            stunnel,
            plain,
            _dir: dir,
        }
    }

    /// `127.0.0.1:TLS_PORT`, for `kafka.bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.stunnel.port())
    }

    /// Creates a topic with tansu's own command on the plaintext port (an admin client would be
    /// sent to the advertised TLS port).
    pub fn create_topic(&self, name: &str, partitions: i32) {
        create_topic_with_tansu(tansu_bin(), self.plain, name, partitions);
    }

    pub fn log(&self) -> String {
        self.broker.log()
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.broker.log_tail(30));
        }
        self.broker.stop(STOP_GRACE);
    }
}

fn tansu(args: &[&str]) -> Command {
    tansu_with(tansu_bin(), args)
}

fn tansu_with(bin: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).env("NO_COLOR", "1");
    c
}

fn create_topic_with_tansu(bin: &Path, port: u16, name: &str, partitions: i32) {
    run(&mut tansu_with(
        bin,
        &[
            "topic",
            "create",
            name,
            "--broker",
            &format!("tcp://127.0.0.1:{port}"),
            "--partitions",
            &partitions.to_string(),
        ],
    ));
}

/// The sqlite-capable tansu for SASL SCRAM tests: `$TANSU_LIBSQL`, or the tool cache's
/// `tansu-libsql` that `scripts/install-tansu-libsql.sh` builds. `None` when neither exists.
pub fn tansu_libsql_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TANSU_LIBSQL").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let tools = std::env::var_os("RFLUME_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rflume")))?;
    let p = tools.join("bin/tansu-libsql");
    p.is_file().then_some(p)
}

/// A tansu with `sqlite://` storage that requires SASL (`--authentication`), with one SCRAM user.
/// Started in two phases, as tansu wants: without authentication to create the topic and the
/// user, then again with it on the same port and database. With `tls`, the second phase
/// advertises a TLS port served by stunnel (SASL_SSL).
pub struct SaslBroker {
    proc: Supervised,
    port: u16,
    pub stunnel: Option<Stunnel>,
    dir: TempDir,
}

impl SaslBroker {
    /// `mechanism`: tansu's `scram256` or `scram512`; `tls`: (certificate, key) for SASL_SSL.
    pub fn start(
        bin: &Path,
        topic: &str,
        user: &str,
        password: &str,
        mechanism: &str,
        tls: Option<(&Path, &Path)>,
    ) -> SaslBroker {
        let dir = tempfile::Builder::new()
            .prefix("rflume-sasl-broker-")
            .tempdir()
            .expect("cannot create a temp dir for the broker");
        let port = free_port();
        let tls_port = tls.map(|_| free_port());
        let listener = format!("tcp://127.0.0.1:{port}");
        let spawn = |auth: bool| {
            let advertised = match (auth, tls_port) {
                (true, Some(t)) => format!("tcp://127.0.0.1:{t}"),
                _ => listener.clone(),
            };
            let mut a = vec![
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &advertised,
                "--storage-engine",
                "sqlite://tansu.db",
            ];
            if auth {
                a.push("--authentication");
            }
            let mut cmd = tansu_with(bin, &a);
            cmd.current_dir(dir.path());
            let mut proc =
                Supervised::spawn("tansu sasl broker", cmd, &dir.path().join("tansu.log"));
            if let Err(why) = wait_listening(&mut proc, port, START_DEADLINE) {
                panic!(
                    "sqlite tansu did not listen on {port}: {why:?}\n{}",
                    proc.log()
                );
            }
            proc
        };
        let mut setup = spawn(false);
        create_topic_with_tansu(bin, port, topic, 1);
        let mut user_cmd = tansu_with(
            bin,
            &[
                "user",
                "create",
                user,
                password,
                "--broker",
                &listener,
                "--mechanism",
                mechanism,
            ],
        );
        user_cmd.current_dir(dir.path());
        run(&mut user_cmd);
        setup.stop(STOP_GRACE);
        let proc = spawn(true);
        let stunnel = match (tls, tls_port) {
            (Some((cert, key)), Some(t)) => Some(Stunnel::start(t, port, cert, key)),
            _ => None,
        };
        SaslBroker {
            proc,
            port,
            stunnel,
            dir,
        }
    }

    /// The address clients use: the TLS port with SASL_SSL, else the broker's own.
    pub fn bootstrap(&self) -> String {
        match &self.stunnel {
            Some(s) => format!("127.0.0.1:{}", s.port()),
            None => format!("127.0.0.1:{}", self.port),
        }
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SaslBroker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_tail(30));
        }
        self.proc.stop(STOP_GRACE);
    }
}
