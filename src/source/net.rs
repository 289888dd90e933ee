//! What the listening sources (syslog, netcat UDP, HTTP) share: the address they bind (Flume's
//! `host`/`bind`: none means every interface, as Java's wildcard address), a port read as Java
//! reads it, client addresses written as Java writes them, the client host name with a cached
//! reverse lookup, and the UDP receive loop.
//!
//! UDP has no backpressure: a sender does not wait. So datagrams are received into a bounded
//! queue by one task and put into the channel by the source's thread; when the channel is full
//! and the queue with it, further datagrams are dropped — counted (`EventReadFail`) and logged
//! at WARN with the count, never silently (Flume logs each failed put and drops it too).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::runtime::runtime;
use super::{ChannelProcessor, PutOutcome, SourceError};
use crate::config::reader::PropReader;
use crate::event::Event;
use crate::shutdown::Shutdown;

/// `port`: required, a TCP/UDP port (Flume's `Integer.parseInt`; 0 would pick a random one).
pub fn port(r: &mut PropReader, key: &str) -> Option<u16> {
    let p = r.required(key, &format!("e.g. {key} = 5140"))?;
    match p.trim().parse::<u16>() {
        Ok(p) if p > 0 => Some(p),
        _ => {
            r.error(
                key,
                None,
                format!("'{p}' is not a port"),
                Some("use 1-65535".to_string()),
            );
            None
        }
    }
}

/// The host to bind: `key` as written, or `None` (Flume binds the wildcard address, every
/// interface; rflume does the same and says so).
pub fn bind_host(r: &mut PropReader, key: &str, what: &str) -> Option<String> {
    let host = r.opt_string(key).map(|h| h.trim().to_string());
    if host.is_none() {
        let line = r.line("type");
        r.warn(
            key,
            line,
            format!("not set: {what} listens on every interface, as Flume does"),
            Some(format!(
                "set {key} = 127.0.0.1 (or an interface address) to restrict it"
            )),
        );
    }
    host
}

/// The addresses to try for `host:port`: the host as given, or the wildcard (IPv6 first, which
/// also accepts IPv4 on Linux, as Java's wildcard does; then IPv4).
pub fn bind_addrs(host: Option<&str>, port: u16) -> Vec<String> {
    match host {
        Some(h) if h.contains(':') && !h.starts_with('[') => vec![format!("[{h}]:{port}")],
        Some(h) => vec![format!("{h}:{port}")],
        None => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
    }
}

/// Java's `InetAddress.getHostAddress()`: dotted IPv4 (also for IPv4 clients of a dual-stack
/// socket), IPv6 as eight uncompressed lowercase groups.
pub fn java_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

/// Java's `SocketAddress.toString()` for a client (`/127.0.0.1:5555`): netcatudp's header.
pub fn java_socket_address(a: SocketAddr) -> String {
    format!("/{}:{}", java_ip(a.ip()), a.port())
}

/// How long a reverse lookup is reused, and how many are kept.
const DNS_TTL: Duration = Duration::from_secs(60);
const DNS_CACHE: usize = 1024;

/// Java's `InetSocketAddress.getHostName()`: the reverse lookup of the client's address, or the
/// address itself when there is none. Cached, so a busy client costs one lookup a minute.
#[derive(Clone, Default)]
pub struct HostNames(Arc<Mutex<HashMap<IpAddr, (String, Instant)>>>);

impl HostNames {
    pub fn lookup(&self, ip: IpAddr) -> String {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if let Ok(cache) = self.0.lock() {
            if let Some((name, at)) = cache.get(&ip) {
                if at.elapsed() < DNS_TTL {
                    return name.clone();
                }
            }
        }
        let name = reverse_lookup(ip).unwrap_or_else(|| java_ip(ip));
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= DNS_CACHE {
                cache.clear();
            }
            cache.insert(ip, (name.clone(), Instant::now()));
        }
        name
    }
}

fn reverse_lookup(ip: IpAddr) -> Option<String> {
    let sa: SocketAddr = (ip, 0).into();
    let (storage, len) = match sa {
        SocketAddr::V4(a) => {
            // SAFETY: a zeroed sockaddr_in is valid; the fields are set below.
            let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: sockaddr_storage is large enough for sockaddr_in.
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in, s) };
            (st, std::mem::size_of::<libc::sockaddr_in>())
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_addr.s6_addr = a.ip().octets();
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in6, s) };
            (st, std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the pointers and lengths describe valid buffers owned by this frame.
    let rc = unsafe {
        libc::getnameinfo(
            &storage as *const _ as *const libc::sockaddr,
            len as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Events received but not yet in the channel, at most: bounds memory while the channel is
/// full (a datagram is at most 64 KiB).
pub const UDP_QUEUE: usize = 1024;
/// How often a UDP source that drops datagrams repeats its warning.
const DROP_WARNING_EVERY: Duration = Duration::from_secs(30);

/// Binds a UDP socket for `host:port`.
pub async fn bind_udp(
    name: &str,
    host: Option<&str>,
    port: u16,
) -> Result<tokio::net::UdpSocket, SourceError> {
    let mut last = String::new();
    for addr in bind_addrs(host, port) {
        match tokio::net::UdpSocket::bind(&addr).await {
            Ok(s) => {
                info!(source = %name, "listening for UDP datagrams on {addr}");
                return Ok(s);
            }
            Err(e) => last = format!("cannot listen on {addr}: {e}"),
        }
    }
    Err(SourceError::Failed {
        source_name: name.to_string(),
        message: last,
    })
}

/// The UDP sources' loop: `parse` turns each datagram into events; they are put into the
/// channel in batches by this thread while a task keeps receiving. Returns on stop, after the
/// queue was put (within the drain deadline).
pub fn run_udp(
    name: &str,
    host: Option<&str>,
    port: u16,
    mut processor: ChannelProcessor,
    shutdown: &Shutdown,
    mut parse: impl FnMut(&[u8], SocketAddr, &mut Vec<Event>) + Send + 'static,
) -> Result<(), SourceError> {
    let rt = runtime(name)?;
    let socket = rt.block_on(bind_udp(name, host, port))?;
    let (tx, mut rx) = mpsc::channel::<Vec<Event>>(UDP_QUEUE);
    let counter = processor.counter().clone();
    let stop = shutdown.clone();
    let source = name.to_string();
    let receiver = std::thread::spawn(move || {
        rt.block_on(async move {
            let mut buf = vec![0u8; 65536];
            let mut dropped: u64 = 0;
            let mut last_warning: Option<Instant> = None;
            loop {
                let (n, from) = tokio::select! {
                    _ = stop.stopped() => break,
                    r = socket.recv_from(&mut buf) => match r {
                        Ok(x) => x,
                        Err(e) => {
                            warn!(source = %source, "receiving a datagram failed: {e}");
                            continue;
                        }
                    },
                };
                let mut events = Vec::new();
                parse(&buf[..n], from, &mut events);
                if events.is_empty() {
                    continue;
                }
                if let Err(mpsc::error::TrySendError::Full(lost)) = tx.try_send(events) {
                    dropped += lost.len() as u64;
                    counter.event_read_fail.add(lost.len() as u64);
                    let now = Instant::now();
                    if last_warning.is_none_or(|t| now.duration_since(t) >= DROP_WARNING_EVERY) {
                        last_warning = Some(now);
                        warn!(source = %source, "the channel is full and {UDP_QUEUE} datagrams wait: {dropped} event(s) dropped so far (UDP senders cannot be slowed down; Flume drops them too). Make the channel larger or the sinks faster");
                    }
                }
            }
        });
    });
    let max = processor.max_batch().max(1);
    let mut pending: Vec<Event> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        pending.extend(first);
        while pending.len() < max {
            match rx.try_recv() {
                Ok(more) => pending.extend(more),
                Err(_) => break,
            }
        }
        while !pending.is_empty() {
            let rest = if pending.len() > max {
                pending.split_off(max)
            } else {
                Vec::new()
            };
            let batch = std::mem::replace(&mut pending, rest);
            if let PutOutcome::Abandoned { lost } = processor.put_blocking(batch, shutdown) {
                warn!(source = %name, "{lost} received events were not stored before the drain deadline");
                pending.clear();
                rx.close();
            }
        }
    }
    let _ = receiver.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn addresses_as_java_writes_them() {
        assert_eq!(java_ip("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(java_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), "0:0:0:0:0:0:0:1");
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(java_ip(mapped), "10.1.2.3");
        assert_eq!(
            java_socket_address("127.0.0.1:5555".parse().unwrap()),
            "/127.0.0.1:5555"
        );
    }

    #[test]
    fn loopback_has_a_name() {
        let h = HostNames::default();
        let name = h.lookup("127.0.0.1".parse().unwrap());
        assert!(!name.is_empty());
        assert_eq!(h.lookup("127.0.0.1".parse().unwrap()), name, "cached");
    }
}
