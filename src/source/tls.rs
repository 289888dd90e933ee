//! TLS for the listening sources (Flume's `SslContextAwareAbstractSource`: `ssl`, `keystore`,
//! `keystore-password`, `keystore-type`, `include-`/`exclude-protocols`,
//! `include-`/`exclude-cipher-suites`), served by OpenSSL through `native-tls`.
//!
//! Key stores rflume reads: PKCS#12 (`keystore-type = PKCS12`, or a `.p12`/`.pfx` file, as Java
//! loads those whatever the type says) and PEM (`keystore-type = PEM`, rflume's: one file with the
//! certificate chain and the unencrypted private key). A JKS keystore — Flume's default type — is
//! refused with the `keytool` command that converts it. Protocols: TLS 1.2 and newer (SSLv3 is
//! never offered, as Flume excludes it); the cipher-suite lists are not applied (OpenSSL's
//! defaults are used) and `rflume check` says so.

use std::path::PathBuf;

use tokio_native_tls::TlsAcceptor;

use crate::config::reader::PropReader;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Pkcs12,
    Pem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub keystore: PathBuf,
    pub password: Option<String>,
    pub kind: StoreKind,
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
        let keystore = r.opt_string("keystore");
        let password = http
            .then(|| r.deprecated("keystorePassword", "keystore-password"))
            .flatten()
            .or_else(|| r.opt_string("keystore-password"));
        if http {
            let _ = r.deprecated("excludeProtocols", "exclude-protocols");
        }
        let kind_text = r.opt_string("keystore-type");
        for key in [
            "include-protocols",
            "exclude-protocols",
            "include-cipher-suites",
            "exclude-cipher-suites",
        ] {
            if let Some((_, line)) = r.ignored(key) {
                if enabled && key.ends_with("cipher-suites") {
                    r.warn(
                        key,
                        Some(line),
                        "not applied: rflume offers OpenSSL's default cipher suites",
                        None,
                    );
                }
            }
        }
        if !enabled {
            return Some(None);
        }
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
        let lower = keystore.to_ascii_lowercase();
        let kind = match kind_text.as_deref().map(str::to_ascii_uppercase) {
            _ if lower.ends_with(".p12") || lower.ends_with(".pfx") => StoreKind::Pkcs12,
            Some(k) if k == "PKCS12" => StoreKind::Pkcs12,
            Some(k) if k == "PEM" => StoreKind::Pem,
            other => {
                let kind = other.unwrap_or_else(|| "JKS".to_string());
                let line = r.line("keystore");
                r.error(
                    "keystore",
                    line,
                    format!("rflume cannot read a {kind} keystore ({keystore})"),
                    Some(format!(
                        "convert it to PKCS#12: `keytool -importkeystore -srckeystore {keystore} \
                         -destkeystore server.p12 -deststoretype PKCS12`, then set keystore = \
                         server.p12 and keystore-type = PKCS12 (or export PEM with `openssl pkcs12 \
                         -in server.p12 -nodes -out server.pem` and set keystore-type = PEM)"
                    )),
                );
                return None;
            }
        };
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
            password,
            kind,
        }))
    }

    pub fn describe(tls: &Option<TlsSettings>, out: &mut Vec<(String, String)>) {
        out.push(("ssl".into(), tls.is_some().to_string()));
        let (keystore, kind, password) = match tls {
            Some(t) => (
                t.keystore.display().to_string(),
                match t.kind {
                    StoreKind::Pkcs12 => "PKCS12",
                    StoreKind::Pem => "PEM",
                },
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
    }

    /// Loads the key store (when the source starts: the files need not exist on the machine
    /// where `rflume check` runs).
    pub fn acceptor(&self) -> Result<TlsAcceptor, String> {
        let path = self.keystore.display();
        let bytes = std::fs::read(&self.keystore).map_err(|e| format!("keystore {path}: {e}"))?;
        let identity = match self.kind {
            StoreKind::Pkcs12 => {
                native_tls::Identity::from_pkcs12(&bytes, self.password.as_deref().unwrap_or(""))
            }
            StoreKind::Pem => native_tls::Identity::from_pkcs8(&bytes, &bytes),
        }
        .map_err(|e| format!("keystore {path}: {e} (a PEM keystore holds the certificate chain and an unencrypted private key)"))?;
        let acceptor = native_tls::TlsAcceptor::builder(identity)
            .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
            .build()
            .map_err(|e| format!("keystore {path}: {e}"))?;
        Ok(TlsAcceptor::from(acceptor))
    }
}
