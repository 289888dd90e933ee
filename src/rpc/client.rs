//! What an RPC sink does with its blocking socket whatever the protocol: connect to the first
//! address of `hostname` that answers within `connect-timeout`, and bound each read and write by
//! what is left of `request-timeout`.
//!
//! The avro and thrift sinks use these.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::tls::TrustSettings;

/// The words a call that ran out of `request-timeout` fails with (Flume's "Append call timeout").
pub const TIMED_OUT: &str = "Append call timeout: no answer within request-timeout";

/// Connects to `host:port`, trying each address in turn within `timeout`; the error says what
/// the last attempt met.
pub fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    let mut last = String::from("the host name resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// What is left until `deadline`, or the timeout's words when nothing is.
pub fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(TIMED_OUT.into())
    } else {
        Ok(left)
    }
}

/// An I/O error in words, a socket timeout as the call's timeout.
pub fn io_words(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => TIMED_OUT.into(),
        _ => e.to_string(),
    }
}

/// A connection whose socket bounds each read and write (the layers over it vary by protocol).
pub trait Socket: Read + Write {
    /// The socket, for its timeouts and its shutdown.
    fn tcp(&self) -> &TcpStream;
}

/// Writes all of `out` (and flushes it through the layers) within what is left until `deadline`.
pub fn send(stream: &mut impl Socket, out: &[u8], deadline: Instant) -> Result<(), String> {
    stream
        .tcp()
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(out)
        .and_then(|_| stream.flush())
        .map_err(io_words)
}

/// Reads what arrives next into `buf` within what is left until `deadline`; a closed connection
/// is an error, since the caller still waits for an answer.
pub fn receive(
    stream: &mut impl Socket,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, String> {
    stream
        .tcp()
        .set_read_timeout(Some(remaining(deadline)?))
        .map_err(|e| e.to_string())?;
    match stream.read(buf).map_err(io_words)? {
        0 => Err("the connection was closed before the answer".into()),
        n => Ok(n),
    }
}

/// A TLS handshake's failure in words.
pub fn handshake_words<S>(e: native_tls::HandshakeError<S>) -> String {
    match e {
        native_tls::HandshakeError::Failure(e) => e.to_string(),
        // A blocking socket reports its timeout as "would block" in the middle of the handshake.
        native_tls::HandshakeError::WouldBlock(_) => {
            "no TLS handshake within connect-timeout".into()
        }
    }
}

/// A sink's connection: the socket, or TLS over it (`ssl = true`).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Stream {
    /// Puts TLS on `stream` when `tls` is set, the handshake bounded by `timeout` (the sink's
    /// `connect-timeout`). `host` is the name the sink was given (for SNI; as Flume's clients,
    /// the certificate is not checked against it, see [`TrustSettings::connector`]).
    pub fn secure(
        stream: TcpStream,
        tls: Option<&TrustSettings>,
        host: &str,
        timeout: Duration,
    ) -> Result<Stream, String> {
        let Some(tls) = tls else {
            return Ok(Stream::Plain(stream));
        };
        let connector = tls.connector()?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| e.to_string())?;
        match connector.connect(host, stream) {
            Ok(tls) => Ok(Stream::Tls(Box::new(tls))),
            Err(e) => Err(handshake_words(e)),
        }
    }

    /// Closes the connection (a TLS close_notify first, as a polite client does).
    pub fn close(mut self) {
        if let Stream::Tls(t) = &mut self {
            let _ = t.shutdown();
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl Socket for Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => t.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}
