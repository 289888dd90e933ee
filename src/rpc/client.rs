//! What an RPC sink does with its blocking socket whatever the protocol: connect to the first
//! address of `hostname` that answers within `connect-timeout`, and bound each read and write by
//! what is left of `request-timeout`.
//!
//! The thrift sink uses these; the avro sink has its own copies (it predates this module).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

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
