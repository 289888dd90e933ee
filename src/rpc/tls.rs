//! TLS as Flume configures it, served and spoken by OpenSSL through `native-tls`: the listening
//! sources' key store (Flume's `SslContextAwareAbstractSource`: `ssl`, `keystore`,
//! `keystore-password`, `keystore-type`) and the avro sink's trust store (the Flume SDK's
//! `SSLContextAwareAbstractRpcClient`: `ssl`, `trust-all-certs`, `truststore`,
//! `truststore-password`, `truststore-type`), with the `include-`/`exclude-protocols` and
//! `include-`/`exclude-cipher-suites` lists both read. It lives in this layer because sources
//! (syslog, http, avro) and the avro sink all need it, and they never import each other.
//!
//! As Flume's `SSLUtil`, a key the component does not set falls back to the environment:
//! `FLUME_SSL_KEYSTORE_PATH`, `FLUME_SSL_KEYSTORE_PASSWORD`, `FLUME_SSL_KEYSTORE_TYPE`,
//! `FLUME_SSL_TRUSTSTORE_PATH`, `FLUME_SSL_TRUSTSTORE_PASSWORD`, `FLUME_SSL_TRUSTSTORE_TYPE`,
//! `FLUME_SSL_INCLUDE_PROTOCOLS`, `FLUME_SSL_EXCLUDE_PROTOCOLS` (the `javax.net.ssl.*` system
//! properties they stand for in Java are not read: rflume has no JVM options).
//!
//! Stores rflume reads: PKCS#12 (`*-type = PKCS12`, or a `.p12`/`.pfx` file, as Java loads those
//! whatever the type says) and PEM (`*-type = PEM`, rflume's: a key store is one file with the
//! certificate chain and the unencrypted private key, a trust store one or more CA
//! certificates). A JKS store — Flume's default type — is refused with the `keytool` command
//! that converts it. Protocols: TLS 1.2 and 1.3, narrowed by the include/exclude lists as Flume
//! narrows the JVM's (TLS 1.0/1.1 and SSLv3 are never offered; Java 17 disables them too). The
//! cipher-suite lists are not applied (OpenSSL's defaults are used) and `rflume check` says so.

use std::path::PathBuf;

use native_tls::Protocol;
use tokio_native_tls::TlsAcceptor;

use crate::config::reader::PropReader;
use crate::config::secret::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Pkcs12,
    Pem,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Pkcs12 => "PKCS12",
            StoreKind::Pem => "PEM",
        }
    }
}

/// The TLS versions left after `include-protocols` and `exclude-protocols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols {
    pub tls12: bool,
    pub tls13: bool,
}

impl Protocols {
    fn min(self) -> Protocol {
        if self.tls12 {
            Protocol::Tlsv12
        } else {
            Protocol::Tlsv13
        }
    }
    fn max(self) -> Option<Protocol> {
        (!self.tls13).then_some(Protocol::Tlsv12)
    }
    /// `include-protocols` and `exclude-protocols` as they take effect: what is offered, and
    /// what is not.
    fn describe(protocols: Option<Self>, out: &mut Vec<(String, String)>) {
        let (include, exclude) = match protocols {
            None => ("(unset)", "(unset)"),
            Some(p) => match (p.tls12, p.tls13) {
                (true, true) => ("TLSv1.2 TLSv1.3", "SSLv3 TLSv1 TLSv1.1"),
                (true, false) => ("TLSv1.2", "SSLv3 TLSv1 TLSv1.1 TLSv1.3"),
                _ => ("TLSv1.3", "SSLv3 TLSv1 TLSv1.1 TLSv1.2"),
            },
        };
        out.push(("include-protocols".into(), include.into()));
        out.push(("exclude-protocols".into(), exclude.into()));
    }
}

/// A listening source's key store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub keystore: PathBuf,
    /// Printed as `******` (a settings struct reaches `{:?}` in logs and panics).
    pub password: Option<Secret>,
    pub kind: StoreKind,
    pub protocols: Protocols,
}

/// A key the component sets, else the environment variable Flume's `SSLUtil` falls back to.
fn with_env(r: &mut PropReader, key: &str, env: &str) -> Option<String> {
    r.opt_string(key)
        .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
}

/// Which store a path and type name mean; `None` (reported) for JKS and anything else.
fn store_kind(
    r: &mut PropReader,
    key: &str,
    path: &str,
    kind_text: Option<String>,
    convert_hint: String,
) -> Option<StoreKind> {
    let lower = path.to_ascii_lowercase();
    match kind_text.as_deref().map(str::to_ascii_uppercase) {
        _ if lower.ends_with(".p12") || lower.ends_with(".pfx") => Some(StoreKind::Pkcs12),
        Some(k) if k == "PKCS12" => Some(StoreKind::Pkcs12),
        Some(k) if k == "PEM" => Some(StoreKind::Pem),
        other => {
            let kind = other.unwrap_or_else(|| "JKS".to_string());
            let line = r.line(key);
            r.unsupported(
                key,
                line,
                format!("rflume cannot read a {kind} {key} ({path})"),
                Some(convert_hint),
            );
            None
        }
    }
}

/// `include-protocols`/`exclude-protocols` (space- or comma-separated, as Flume and its
/// environment variables write them) and the cipher-suite lists, which are not applied.
fn protocols(r: &mut PropReader, enabled: bool) -> Option<Protocols> {
    let list = |r: &mut PropReader, key: &str, env: &str| -> Vec<String> {
        with_env(r, key, env)
            .map(|v| {
                v.split([' ', ','])
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let include = list(r, "include-protocols", "FLUME_SSL_INCLUDE_PROTOCOLS");
    let exclude = list(r, "exclude-protocols", "FLUME_SSL_EXCLUDE_PROTOCOLS");
    for key in ["include-cipher-suites", "exclude-cipher-suites"] {
        if let Some((_, line)) = r.ignored(key) {
            if enabled {
                r.warn(
                    key,
                    Some(line),
                    "not applied: rflume offers OpenSSL's default cipher suites",
                    None,
                );
            }
        }
    }
    let allowed = |p: &str| {
        (include.is_empty() || include.iter().any(|i| i == p)) && !exclude.iter().any(|e| e == p)
    };
    let protocols = Protocols {
        tls12: allowed("TLSv1.2"),
        tls13: allowed("TLSv1.3"),
    };
    if !enabled {
        return Some(protocols);
    }
    let old: Vec<&str> = include
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "TLSv1.2" && *p != "TLSv1.3")
        .collect();
    if !old.is_empty() {
        let line = r.line("include-protocols");
        r.warn(
            "include-protocols",
            line,
            format!(
                "{} not offered: rflume speaks TLSv1.2 and TLSv1.3 only (Java 17, which Flume runs on, disables the older ones too)",
                old.join(" ")
            ),
            None,
        );
    }
    if !protocols.tls12 && !protocols.tls13 {
        let line = r.line("include-protocols").or(r.line("exclude-protocols"));
        r.error(
            "exclude-protocols",
            line,
            "no TLS protocol is left to speak: every connection would fail its handshake",
            Some("allow TLSv1.2 or TLSv1.3".into()),
        );
        return None;
    }
    Some(protocols)
}

impl TlsSettings {
    /// `Some(None)`: TLS off; `None`: an error was reported.
    pub fn parse(r: &mut PropReader) -> Option<Option<TlsSettings>> {
        Self::parse_inner(r, false)
    }

    /// The HTTP source's: also Flume's deprecated `enableSSL`, `keystorePassword` and
    /// `excludeProtocols`, used when the new name is absent.
    pub fn parse_http(r: &mut PropReader) -> Option<Option<TlsSettings>> {
        Self::parse_inner(r, true)
    }

    fn parse_inner(r: &mut PropReader, http: bool) -> Option<Option<TlsSettings>> {
        let enabled = match http.then(|| r.deprecated("enableSSL", "ssl")).flatten() {
            Some(v) => v.trim().eq_ignore_ascii_case("true"),
            None => r.bool("ssl", false),
        };
        let keystore = with_env(r, "keystore", "FLUME_SSL_KEYSTORE_PATH");
        let password = http
            .then(|| r.deprecated("keystorePassword", "keystore-password"))
            .flatten()
            .or_else(|| with_env(r, "keystore-password", "FLUME_SSL_KEYSTORE_PASSWORD"));
        if http {
            let _ = r.deprecated("excludeProtocols", "exclude-protocols");
        }
        let kind_text = with_env(r, "keystore-type", "FLUME_SSL_KEYSTORE_TYPE");
        let protocols = protocols(r, enabled);
        if !enabled {
            return Some(None);
        }
        let protocols = protocols?;
        let Some(keystore) = keystore else {
            let line = r.line("ssl");
            r.error(
                "keystore",
                line,
                "keystore must be specified when SSL is enabled",
                Some("set keystore = /path/server.p12 (PKCS#12) or a PEM file with keystore-type = PEM".to_string()),
            );
            return None;
        };
        let kind = store_kind(
            r,
            "keystore",
            &keystore,
            kind_text,
            format!(
                "convert it to PKCS#12: `keytool -importkeystore -srckeystore {keystore} \
                 -destkeystore server.p12 -deststoretype PKCS12`, then set keystore = \
                 server.p12 and keystore-type = PKCS12 (or export PEM with `openssl pkcs12 \
                 -in server.p12 -nodes -out server.pem` and set keystore-type = PEM)"
            ),
        )?;
        if kind == StoreKind::Pkcs12 && password.is_none() {
            let line = r.line("keystore");
            r.error(
                "keystore-password",
                line,
                "keystore-password must be specified when SSL is enabled",
                None,
            );
            return None;
        }
        Some(Some(TlsSettings {
            keystore: PathBuf::from(keystore),
            password: password.map(Secret::new),
            kind,
            protocols,
        }))
    }

    pub fn describe(tls: &Option<TlsSettings>, out: &mut Vec<(String, String)>) {
        out.push(("ssl".into(), tls.is_some().to_string()));
        let (keystore, kind, password) = match tls {
            Some(t) => (
                t.keystore.display().to_string(),
                t.kind.name(),
                if t.password.is_some() {
                    "(set)"
                } else {
                    "(unset)"
                },
            ),
            None => ("(unset)".to_string(), "(unset)", "(unset)"),
        };
        out.push(("keystore".into(), keystore));
        out.push(("keystore-type".into(), kind.into()));
        out.push(("keystore-password".into(), password.into()));
        Protocols::describe(tls.as_ref().map(|t| t.protocols), out);
    }

    /// Loads the key store (when the source starts: the files need not exist on the machine
    /// where `rflume check` runs).
    pub fn acceptor(&self) -> Result<TlsAcceptor, String> {
        let path = self.keystore.display();
        let bytes = std::fs::read(&self.keystore).map_err(|e| format!("keystore {path}: {e}"))?;
        let identity = match self.kind {
            StoreKind::Pkcs12 => {
                native_tls::Identity::from_pkcs12(&bytes, self.password.as_ref().map_or("", Secret::expose))
            }
            StoreKind::Pem => {
                // native-tls wants the key alone and as PKCS#8; the file may hold it in any
                // order with the chain, and as PKCS#1 (`BEGIN RSA PRIVATE KEY`) too.
                let key = openssl::pkey::PKey::private_key_from_pem(&bytes)
                    .and_then(|k| k.private_key_to_pem_pkcs8())
                    .map_err(|e| format!("keystore {path}: no unencrypted private key in it ({e})"))?;
                native_tls::Identity::from_pkcs8(&bytes, &key)
            }
        }
        .map_err(|e| format!("keystore {path}: {e} (a PEM keystore holds the certificate chain and an unencrypted private key)"))?;
        let acceptor = native_tls::TlsAcceptor::builder(identity)
            .min_protocol_version(Some(self.protocols.min()))
            .max_protocol_version(self.protocols.max())
            .build()
            .map_err(|e| format!("keystore {path}: {e}"))?;
        Ok(TlsAcceptor::from(acceptor))
    }
}

/// A trust store file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustStore {
    pub path: PathBuf,
    /// Printed as `******`.
    pub password: Option<Secret>,
    pub kind: StoreKind,
}

/// What the avro sink trusts (Flume's `NettyAvroRpcClient`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustSettings {
    /// `trust-all-certs = true`: any certificate (encrypted, not authenticated).
    pub trust_all: bool,
    /// `None`: the system's CA certificates (Flume: the JVM's `cacerts`).
    pub truststore: Option<TrustStore>,
    pub protocols: Protocols,
}

impl TrustSettings {
    /// `Some(None)`: TLS off; `None`: an error was reported.
    pub fn parse(r: &mut PropReader) -> Option<Option<TrustSettings>> {
        Self::parse_for(r, true)
    }

    /// The thrift sink's reading: Flume's `ThriftRpcClient.createSSLContext` builds its trust
    /// managers from the truststore alone and never looks at `trust-all-certs` (read by the
    /// shared `SSLContextAwareAbstractRpcClient`), so `trust-all-certs = true` is ignored with a
    /// warning and certificates are checked as without it.
    pub fn parse_thrift(r: &mut PropReader) -> Option<Option<TrustSettings>> {
        Self::parse_for(r, false)
    }

    fn parse_for(r: &mut PropReader, honor_trust_all: bool) -> Option<Option<TrustSettings>> {
        let enabled = r.bool("ssl", false);
        let mut trust_all = r.bool("trust-all-certs", false);
        if trust_all && enabled && !honor_trust_all {
            let line = r.line("trust-all-certs");
            r.warn(
                "trust-all-certs",
                line,
                "ignored, as Flume's thrift sink ignores it: the collector's certificate is still \
                 checked against the truststore (or the system's CA certificates)",
                Some(
                    "delete this line, and set truststore to the collector's CA certificate".into(),
                ),
            );
            trust_all = false;
        }
        let path = with_env(r, "truststore", "FLUME_SSL_TRUSTSTORE_PATH");
        let password = with_env(r, "truststore-password", "FLUME_SSL_TRUSTSTORE_PASSWORD");
        let kind_text = with_env(r, "truststore-type", "FLUME_SSL_TRUSTSTORE_TYPE");
        let protocols = protocols(r, enabled);
        if !enabled {
            return Some(None);
        }
        let protocols = protocols?;
        if trust_all {
            // Flume logs this warning too, and ignores the truststore.
            let line = r.line("trust-all-certs");
            r.warn(
                "trust-all-certs",
                line,
                "every server certificate is accepted: the connection is encrypted, but anyone on the path can pose as the collector",
                Some("set truststore to the collector's CA certificate instead".into()),
            );
            return Some(Some(TrustSettings {
                trust_all,
                truststore: None,
                protocols,
            }));
        }
        let truststore = match path {
            None => None,
            Some(path) => {
                let kind = store_kind(
                    r,
                    "truststore",
                    &path,
                    kind_text,
                    format!(
                        "convert it to PKCS#12: `keytool -importkeystore -srckeystore {path} \
                         -destkeystore truststore.p12 -deststoretype PKCS12`, then set \
                         truststore = truststore.p12 and truststore-type = PKCS12 (or export \
                         the CA certificate with `keytool -exportcert -rfc -keystore {path} \
                         -alias ALIAS -file ca.pem` and set truststore-type = PEM)"
                    ),
                )?;
                Some(TrustStore {
                    path: PathBuf::from(path),
                    password: password.map(Secret::new),
                    kind,
                })
            }
        };
        Some(Some(TrustSettings {
            trust_all,
            truststore,
            protocols,
        }))
    }

    pub fn describe(tls: &Option<TrustSettings>, out: &mut Vec<(String, String)>) {
        out.push(("ssl".into(), tls.is_some().to_string()));
        out.push((
            "trust-all-certs".into(),
            tls.as_ref().is_some_and(|t| t.trust_all).to_string(),
        ));
        let store = tls.as_ref().and_then(|t| t.truststore.as_ref());
        let (path, kind, password) = match (tls, store) {
            (Some(_), Some(s)) => (
                s.path.display().to_string(),
                s.kind.name(),
                if s.password.is_some() {
                    "(set)"
                } else {
                    "(unset)"
                },
            ),
            (Some(t), None) if !t.trust_all => (
                "(unset: the system's CA certificates)".to_string(),
                "(unset)",
                "(unset)",
            ),
            _ => ("(unset)".to_string(), "(unset)", "(unset)"),
        };
        out.push(("truststore".into(), path));
        out.push(("truststore-type".into(), kind.into()));
        out.push(("truststore-password".into(), password.into()));
        Protocols::describe(tls.as_ref().map(|t| t.protocols), out);
    }

    /// Builds the client side of TLS, reading the trust store (each connection reads it again,
    /// so a replaced file is used by the next connection).
    ///
    /// Host names are not checked against the certificate, as Flume's `NettyAvroRpcClient`
    /// does not (its `SSLEngine` has no endpoint identification): a certificate the trust store
    /// vouches for is accepted for any host. The sink warns about it when it starts.
    pub fn connector(&self) -> Result<native_tls::TlsConnector, String> {
        let mut builder = native_tls::TlsConnector::builder();
        builder
            .min_protocol_version(Some(self.protocols.min()))
            .max_protocol_version(self.protocols.max())
            .danger_accept_invalid_hostnames(true);
        if self.trust_all {
            builder.danger_accept_invalid_certs(true);
        }
        if let Some(store) = &self.truststore {
            builder.disable_built_in_roots(true);
            for cert in store.certificates()? {
                builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| format!("cannot set up TLS: {e}"))
    }
}

impl TrustStore {
    /// The CA certificates in the store.
    fn certificates(&self) -> Result<Vec<native_tls::Certificate>, String> {
        let path = self.path.display();
        let bytes = std::fs::read(&self.path).map_err(|e| format!("truststore {path}: {e}"))?;
        let certs = match self.kind {
            StoreKind::Pem => native_tls::Certificate::stack_from_pem(&bytes)
                .map_err(|e| format!("truststore {path}: {e}"))?,
            StoreKind::Pkcs12 => {
                let password = self.password.as_ref().map_or("", Secret::expose);
                if password.contains('\0') {
                    return Err(format!(
                        "truststore {path}: the truststore-password holds a NUL character"
                    ));
                }
                let parsed = openssl::pkcs12::Pkcs12::from_der(&bytes)
                    .and_then(|p| p.parse2(password))
                    .map_err(|e| {
                        format!("truststore {path}: {e} (is truststore-password right?)")
                    })?;
                let mut certs = Vec::new();
                for cert in parsed
                    .cert
                    .into_iter()
                    .chain(parsed.ca.into_iter().flatten())
                {
                    let der = cert
                        .to_der()
                        .map_err(|e| format!("truststore {path}: {e}"))?;
                    certs.push(
                        native_tls::Certificate::from_der(&der)
                            .map_err(|e| format!("truststore {path}: {e}"))?,
                    );
                }
                certs
            }
        };
        if certs.is_empty() {
            return Err(format!("truststore {path}: no certificate in it"));
        }
        Ok(certs)
    }
}

/// How TLS and `compression-type = deflate` are stacked on one connection. Flume changed it
/// between versions, so the two ends must agree (rflume's `ssl-deflate-order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layering {
    /// Flume 1.10 and later (Netty 4: the zlib handlers are put first, `SslHandler` last): the
    /// zlib stream is on the wire and carries the TLS records.
    DeflateOutside,
    /// Flume 1.9 and earlier (Netty 3: `SslHandler` put first): TLS is on the wire and carries
    /// the zlib stream.
    TlsOutside,
}

pub const LAYERING_KEY: &str = "ssl-deflate-order";

impl Layering {
    /// `ssl-deflate-order` (rflume's key): `flume-1.10` (the default, also `flume-1.11`) or
    /// `flume-1.9`. It matters only with both `ssl = true` and `compression-type = deflate`.
    pub fn parse(r: &mut PropReader, ssl: bool, deflate: bool) -> Layering {
        let Some((v, line)) = r.raw(LAYERING_KEY) else {
            return Layering::DeflateOutside;
        };
        let layering = match v.trim().to_ascii_lowercase().as_str() {
            "flume-1.10" | "flume-1.11" => Layering::DeflateOutside,
            "flume-1.9" => Layering::TlsOutside,
            _ => {
                r.error(
                    LAYERING_KEY,
                    Some(line),
                    format!("'{v}' is not a layer order"),
                    Some("write flume-1.10 (zlib outside TLS, Flume 1.10 and later; the default) or flume-1.9 (TLS outside zlib, Flume 1.9 and earlier), as the other end runs".into()),
                );
                Layering::DeflateOutside
            }
        };
        if !(ssl && deflate) {
            r.warn(
                LAYERING_KEY,
                Some(line),
                "has no effect: it orders TLS and deflate, and this component does not use both",
                Some("it matters only with ssl = true and compression-type = deflate".into()),
            );
        }
        layering
    }

    pub fn describe(self) -> &'static str {
        match self {
            Layering::DeflateOutside => "flume-1.10",
            Layering::TlsOutside => "flume-1.9",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::{Diagnostics, Severity};
    use crate::config::reader::ComponentProps;
    use std::path::Path;
    use std::sync::Arc;

    fn trust(pairs: &[(&str, &str)]) -> (Option<Option<TrustSettings>>, Diagnostics) {
        let comp = ComponentProps::sink_for_test(pairs);
        let mut diags = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let s = {
            let mut r = PropReader::new(&comp, &mut diags);
            let s = TrustSettings::parse(&mut r);
            r.finish("avro sink");
            s
        };
        (s, diags)
    }

    #[test]
    fn store_passwords_never_print() {
        let (s, d) = trust(&[
            ("ssl", "true"),
            ("truststore", "/t/trust.p12"),
            ("truststore-password", "hunter2-secret"),
        ]);
        let s = s.flatten().unwrap_or_else(|| panic!("{d:?}"));
        let store = s.truststore.as_ref().expect("a trust store");
        assert_eq!(
            store.password.as_ref().map(Secret::expose),
            Some("hunter2-secret")
        );
        let printed = format!("{s:?} {d:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("******"), "{printed}");
    }

    #[test]
    fn a_jks_truststore_is_refused_with_the_keytool_command() {
        let (s, d) = trust(&[("ssl", "true"), ("truststore", "/etc/flume/trust.jks")]);
        assert!(s.is_none());
        let text = format!("{d:?}");
        assert!(text.contains("cannot read a JKS truststore"), "{text}");
        assert!(text.contains("keytool -importkeystore"), "{text}");
        // Flume reads JKS (its default type): rflume's gap, so the agent refuses to start.
        assert!(
            d.items
                .iter()
                .any(|i| i.severity == crate::config::diag::Severity::Unsupported),
            "{text}"
        );
    }

    #[test]
    fn truststore_types_and_trust_all() {
        let (s, d) = trust(&[
            ("ssl", "true"),
            ("truststore", "/t/ca.pem"),
            ("truststore-type", "pem"),
        ]);
        let s = s.flatten().unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(s.truststore.map(|t| t.kind), Some(StoreKind::Pem));
        let (s, _) = trust(&[("ssl", "true"), ("truststore", "/t/trust.p12")]);
        assert_eq!(
            s.flatten().and_then(|s| s.truststore).map(|t| t.kind),
            Some(StoreKind::Pkcs12)
        );
        let (s, d) = trust(&[("ssl", "true"), ("trust-all-certs", "true")]);
        assert!(s.flatten().is_some_and(|s| s.trust_all));
        assert_eq!(d.count(Severity::Warning), 1, "{d:?}");
        let (s, d) = trust(&[("truststore", "/t/trust.jks")]);
        assert_eq!(s, Some(None), "no TLS, nothing to read: {d:?}");
    }

    #[test]
    fn protocols_narrow_as_flumes_lists() {
        let (s, _) = trust(&[("ssl", "true"), ("exclude-protocols", "SSLv3 TLSv1.2")]);
        let p = s.flatten().map(|s| s.protocols);
        assert_eq!(
            p,
            Some(Protocols {
                tls12: false,
                tls13: true
            })
        );
        let (s, _) = trust(&[("ssl", "true"), ("include-protocols", "TLSv1.2")]);
        assert!(matches!(
            s.flatten().map(|s| s.protocols.max()),
            Some(Some(Protocol::Tlsv12))
        ));
        let (s, d) = trust(&[("ssl", "true"), ("exclude-protocols", "TLSv1.2,TLSv1.3")]);
        assert!(s.is_none(), "nothing left: {d:?}");
    }

    #[test]
    fn the_layer_order_key() {
        let parse = |pairs: &[(&str, &str)]| {
            let comp = ComponentProps::sink_for_test(pairs);
            let mut diags = Diagnostics::new(Arc::from(Path::new("f.conf")));
            let l = {
                let mut r = PropReader::new(&comp, &mut diags);
                let l = Layering::parse(&mut r, true, true);
                r.finish("avro sink");
                l
            };
            (l, diags)
        };
        assert_eq!(parse(&[]).0, Layering::DeflateOutside);
        assert_eq!(
            parse(&[(LAYERING_KEY, "flume-1.9")]).0,
            Layering::TlsOutside
        );
        assert_eq!(
            parse(&[(LAYERING_KEY, "Flume-1.11")]).0,
            Layering::DeflateOutside
        );
        let (_, d) = parse(&[(LAYERING_KEY, "1.8")]);
        assert_eq!(d.count(Severity::Error), 1, "{d:?}");
    }
}
