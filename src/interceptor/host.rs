//! Host interceptor — Flume's `host` (`org.apache.flume.interceptor.HostInterceptor$Builder`):
//! sets a header (default `host`) to this machine's IP address (`useIP = true`, the default) or
//! host name. The value is computed once, when the source is built.

use std::net::ToSocketAddrs;

use super::{Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSettings {
    pub host_header: String,
    pub use_ip: bool,
    pub preserve_existing: bool,
}

impl HostSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        Some(HostSettings {
            host_header: r.string("hostHeader", "host"),
            use_ip: r.bool("useIP", true),
            preserve_existing: r.bool("preserveExisting", false),
        })
    }
}

impl Describe for HostSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("hostHeader".into(), self.host_header.clone()),
            ("useIP".into(), self.use_ip.to_string()),
            (
                "preserveExisting".into(),
                self.preserve_existing.to_string(),
            ),
        ]
    }
}

/// This machine's host name (`gethostname`).
pub fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Java's `InetAddress.getLocalHost().getHostAddress()`: the host name's first address,
/// IPv4 preferred.
fn local_ip(hostname: &str) -> String {
    let addrs: Vec<_> = (hostname, 0)
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".to_string())
}

impl InterceptorSpec for HostSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(HostInterceptor::new(self))
    }
}

pub struct HostInterceptor {
    header: String,
    value: String,
    preserve_existing: bool,
}

impl HostInterceptor {
    pub fn new(s: &HostSettings) -> Self {
        let name = local_hostname();
        let value = if s.use_ip { local_ip(&name) } else { name };
        HostInterceptor {
            header: s.host_header.clone(),
            value,
            preserve_existing: s.preserve_existing,
        }
    }
}

impl Interceptor for HostInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        for e in &mut events {
            if self.preserve_existing && e.headers.get(&self.header).is_some() {
                continue;
            }
            e.headers.insert(self.header.clone(), self.value.clone());
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_mode_uses_gethostname() {
        let mut i = HostInterceptor::new(&HostSettings {
            host_header: "h".into(),
            use_ip: false,
            preserve_existing: false,
        });
        let out = i.intercept(vec![Event::new("x")]);
        assert_eq!(out[0].headers.get("h"), Some(local_hostname().as_str()));
    }

    #[test]
    fn ip_mode_yields_an_address() {
        let mut i = HostInterceptor::new(&HostSettings {
            host_header: "host".into(),
            use_ip: true,
            preserve_existing: false,
        });
        let out = i.intercept(vec![Event::new("x")]);
        let v = out[0].headers.get("host").expect("set");
        assert!(v.parse::<std::net::IpAddr>().is_ok(), "{v}");
    }
}
