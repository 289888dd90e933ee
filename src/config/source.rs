//! Where a configuration comes from: `--conf-file` paths and Flume 1.10+'s `--conf-uri` (`file:`
//! and `http(s):`, with `--conf-user`/`--conf-password` for HTTP basic authentication). Several
//! of them make one configuration, read in order, a later one's key replacing an earlier one's
//! (Flume 1.11's `UriConfigurationProvider` loads them all into one `Properties`).

use super::secret::Secret;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

/// Why a configuration could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("The specified configuration file does not exist: {path}")]
    NotFound { path: String },
    #[error("{path}: cannot read configuration file: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the configuration at {uri}: {message}")]
    Fetch { uri: String, message: String },
    #[error("{uri}: rflume reads configurations from files, file: URIs and http(s): URIs only")]
    UnsupportedUri { uri: String },
}

/// One place a configuration is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfSource {
    File(PathBuf),
    /// `file:…`, `http://…` or `https://…`, as given.
    Uri(String),
}

impl ConfSource {
    /// How diagnostics name it: the path, or the URI as written.
    pub fn label(&self) -> Arc<Path> {
        match self {
            ConfSource::File(p) => Arc::from(p.as_path()),
            ConfSource::Uri(u) => match file_uri_path(u) {
                Some(p) => Arc::from(p.as_path()),
                None => Arc::from(Path::new(u.as_str())),
            },
        }
    }
}

/// HTTP basic-authentication credentials for `http(s):` sources (Flume's
/// `BasicAuthorizationProvider`, used when both `--conf-user` and `--conf-password` are given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    /// Never printed (`Secret`): not in a log line, an error or a panic message.
    pub password: Secret,
}

/// How long fetching a configuration over HTTP may take before the agent gives up.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The bytes of a source. A missing file gets Flume's own message.
pub fn read(source: &ConfSource, credentials: Option<&Credentials>) -> Result<Vec<u8>, ReadError> {
    match source {
        ConfSource::File(path) => read_file(path),
        ConfSource::Uri(uri) => {
            if let Some(path) = file_uri_path(uri) {
                return read_file(&path);
            }
            let lower = uri.to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                return fetch(uri, credentials);
            }
            Err(ReadError::UnsupportedUri { uri: uri.clone() })
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ReadError::NotFound {
                path: path.display().to_string(),
            }
        } else {
            ReadError::Io {
                path: path.display().to_string(),
                source: e,
            }
        }
    })
}

/// `file:/etc/flume/a.conf`, `file:///etc/flume/a.conf` and `file://localhost/etc/…` → the path.
fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri
        .strip_prefix("file:")
        .or_else(|| uri.strip_prefix("FILE:"))?;
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let slash = authority_and_path.find('/')?;
            let host = &authority_and_path[..slash];
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return None;
            }
            &authority_and_path[slash..]
        }
        None => rest,
    };
    Some(PathBuf::from(percent_decode(path)))
}

/// `%20` and friends in a `file:` URI's path.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn fetch(uri: &str, credentials: Option<&Credentials>) -> Result<Vec<u8>, ReadError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(HTTP_TIMEOUT))
        // native-tls (OpenSSL, linked statically) with the system's CA store: ureq's default
        // (Rustls with bundled WebPKI roots) is not compiled in and would panic on https.
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::NativeTls)
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        // A non-2xx answer is read as a response, so that its status is reported.
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(uri);
    if let Some(c) = credentials {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            c.user,
            c.password.expose()
        ));
        request = request.header("Authorization", format!("Basic {token}"));
    }
    let failed = |message: String| ReadError::Fetch {
        uri: uri.to_string(),
        message,
    };
    let mut response = request.call().map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(failed(format!(
            "{status}: authorization failed (give --conf-user and --conf-password)"
        )));
    }
    if !status.is_success() {
        return Err(failed(format!("the server answered {status}")));
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_CONFIG_BYTES)
        .read_to_vec()
        .map_err(|e| failed(e.to_string()))
}

/// A configuration larger than this is not a configuration (and must not fill the memory).
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_name_local_paths() {
        assert_eq!(
            file_uri_path("file:/etc/flume/a.conf"),
            Some(PathBuf::from("/etc/flume/a.conf"))
        );
        assert_eq!(
            file_uri_path("file:///etc/flume/a%20b.conf"),
            Some(PathBuf::from("/etc/flume/a b.conf"))
        );
        assert_eq!(
            file_uri_path("file://localhost/etc/a.conf"),
            Some(PathBuf::from("/etc/a.conf"))
        );
        assert_eq!(file_uri_path("file://otherhost/etc/a.conf"), None);
        assert_eq!(file_uri_path("http://h/a.conf"), None);
    }

    #[test]
    fn credentials_never_show_the_password() {
        let c = Credentials {
            user: "flume".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
