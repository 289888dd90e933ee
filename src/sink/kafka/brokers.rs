//! The brokers at run time (the broker list itself is parsed by `crate::kafka::brokers`):
//! [`BrokerHealth`]: what is wrong with each of them, so that a message about an outage names
//! every broker of the list and its problem instead of librdkafka's "1/1 brokers are down".

use std::ffi::CString;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::{Client, ClientContext};

/// What librdkafka last reported about each broker: one entry per `host:port`, the configured
/// brokers first (in the order of the list), then brokers learned from the cluster's metadata
/// that reported a problem. Fed by the producer's error callback (connection refused, name not
/// resolved, TLS or SASL failures, disconnects); read when a message about brokers is written.
///
/// librdkafka reports a problem, not a recovery: an entry says what went wrong last and when,
/// and messages give its age ("12 s ago"), so an old problem reads as old.
pub(super) struct BrokerHealth {
    brokers: Mutex<Vec<BrokerState>>,
    /// The broker list as librdkafka was given it (`bootstrap.servers`).
    listed: String,
}

struct BrokerState {
    /// `host:port`, without a `proto://` prefix.
    address: String,
    configured: bool,
    /// The last problem and when it was reported.
    problem: Option<(String, Instant)>,
}

impl BrokerHealth {
    /// `configured` is the normalised broker list (see `crate::kafka::brokers::parse_broker_list`).
    pub(super) fn new(configured: &[String]) -> Self {
        BrokerHealth {
            brokers: Mutex::new(
                configured
                    .iter()
                    .map(|b| BrokerState {
                        address: without_scheme(b).to_string(),
                        configured: true,
                        problem: None,
                    })
                    .collect(),
            ),
            listed: configured.join(","),
        }
    }

    /// The broker list as librdkafka was given it.
    pub(super) fn listed(&self) -> &str {
        &self.listed
    }

    /// Records a librdkafka error text `reason` if it is about one broker
    /// (`127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms
    /// in state CONNECT)`); returns the broker's address and the problem in a few words.
    pub(super) fn record(&self, reason: &str) -> Option<(String, String)> {
        let (address, problem) = broker_problem(reason)?;
        let mut brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match brokers
            .iter_mut()
            .find(|b| b.address.eq_ignore_ascii_case(&address))
        {
            Some(b) => b.problem = Some((problem.clone(), now)),
            None => brokers.push(BrokerState {
                address: address.clone(),
                configured: false,
                problem: Some((problem.clone(), now)),
            }),
        }
        Some((address, problem))
    }

    /// Every configured broker and what is wrong with it, then the other brokers that reported a
    /// problem: `127.0.0.1:9092: connection refused (2 s ago); slave2:9092: no problem reported`.
    pub(super) fn describe(&self) -> String {
        let brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        brokers
            .iter()
            .map(|b| {
                let origin = if b.configured { "" } else { " (from metadata)" };
                match &b.problem {
                    Some((problem, at)) => format!(
                        "{}{origin}: {problem} ({} ago)",
                        b.address,
                        ago(now.saturating_duration_since(*at))
                    ),
                    None => format!("{}{origin}: no problem reported", b.address),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The brokers that reported a problem since `since`, with the last one each: for the
    /// line that says delivery has recovered.
    pub(super) fn failed_since(&self, since: Instant) -> Vec<(String, String)> {
        let brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        brokers
            .iter()
            .filter_map(|b| match &b.problem {
                Some((problem, at)) if *at >= since => Some((b.address.clone(), problem.clone())),
                _ => None,
            })
            .collect()
    }

    /// How many brokers the list names.
    pub(super) fn configured(&self) -> usize {
        let brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        brokers.iter().filter(|b| b.configured).count()
    }
}

/// Gives librdkafka the broker list again (`rd_kafka_brokers_add`), which is what its own
/// re-bootstrap does: the listed brokers it had retired once it learned the cluster's brokers
/// are connected again, and the first to answer tells it where the cluster's brokers are now.
///
/// librdkafka 2.12 re-bootstraps by itself when it sees all the brokers it knows go down, but
/// its count of down brokers can drift (when bootstrap brokers are retired while down); it then
/// never sees it, and its timed fallback (`metadata.recovery.rebootstrap.trigger.ms`) starts
/// only with a metadata request, which it does not send without a usable broker. Seen with
/// brokers that advertise the address they were reached at (one broker behind several proxies or
/// load balancers): the one address librdkafka knew was dead, the other listed ones up, and
/// delivery stopped for good. The sink calls this when no broker answered a metadata request.
/// Each call also appends the list to those librdkafka re-adds on its own re-bootstraps, so it is
/// called at most once per outage. Returns how many brokers librdkafka added.
pub(super) fn add_listed_brokers<C: ClientContext>(client: &Client<C>, list: &str) -> i32 {
    let Ok(list) = CString::new(list) else {
        return 0;
    };
    // SAFETY: `native_ptr` is the live handle `client` owns and keeps alive for the whole call;
    // `list` is NUL-terminated and outlives the call (librdkafka copies what it keeps);
    // rd_kafka_brokers_add may be called from any thread.
    unsafe { rdkafka::bindings::rd_kafka_brokers_add(client.native_ptr(), list.as_ptr()) }
}

fn ago(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} s", d.as_secs())
    }
}

fn without_scheme(address: &str) -> &str {
    address.find("://").map_or(address, |i| &address[i + 3..])
}

/// Splits a librdkafka broker error into the broker's address and the problem in a few words.
/// librdkafka writes `NAME: TEXT`, NAME being `[proto://]host:port/ID` or `…/bootstrap`; TEXT
/// ends with `(after Nms in state S[, N identical error(s) suppressed])`, which says nothing an
/// operator acts on.
fn broker_problem(reason: &str) -> Option<(String, String)> {
    let (name, text) = reason.split_once(": ")?;
    let (address, id) = name.rsplit_once('/')?;
    let address = without_scheme(address);
    // `host:port` with a numeric port, and an id that is a number or "bootstrap": anything else
    // (a logical broker such as the group coordinator, or another kind of message) is not one.
    let (host, port) = address.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    if id != "bootstrap" && id.parse::<i32>().is_err() {
        return None;
    }
    let text = match text.rfind(" (after ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text,
    };
    Some((address.to_string(), summarize(text)))
}

/// librdkafka's problem text in the words an operator searches for.
fn summarize(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    // "Connect to ipv4#127.0.0.1:9092 failed: Connection refused" → "connection refused".
    let detail = match text.split_once(" failed: ") {
        Some((_, d)) if lower.starts_with("connect to ") => d,
        _ => text,
    };
    if lower.contains("failed to resolve") {
        let why = text.rsplit_once(": ").map_or("", |(_, w)| w);
        return format!("host name does not resolve ({why})");
    }
    if lower.contains("connection refused") {
        return "connection refused".to_string();
    }
    // "Disconnected" → "disconnected", but "SSL handshake failed" stays as it is.
    let mut chars = detail.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_ascii_uppercase() && second.is_lowercase() => {
            format!("{}{}", first.to_ascii_lowercase(), &detail[1..])
        }
        _ => detail.to_string(),
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;

    #[test]
    fn librdkafka_broker_errors_become_address_and_problem() {
        let cases = [
            (
                "127.0.0.1:41069/111: Connect to ipv4#127.0.0.1:41069 failed: Connection refused \
                 (after 0ms in state CONNECT, 26 identical error(s) suppressed)",
                Some(("127.0.0.1:41069", "connection refused")),
            ),
            (
                "no-such.invalid:9092/bootstrap: Failed to resolve 'no-such.invalid:9092': Name \
                 or service not known (after 3ms in state CONNECT)",
                Some((
                    "no-such.invalid:9092",
                    "host name does not resolve (Name or service not known)",
                )),
            ),
            (
                "ssl://b1:9093/2: SSL handshake failed: certificate verify failed (after 5ms in \
                 state SSL_HANDSHAKE)",
                Some(("b1:9093", "SSL handshake failed: certificate verify failed")),
            ),
            (
                "127.0.0.1:9092/1: Disconnected (after 1234ms in state UP)",
                Some(("127.0.0.1:9092", "disconnected")),
            ),
            ("3/3 brokers are down", None),
            ("GroupCoordinator: something", None),
        ];
        for (reason, want) in cases {
            let got = broker_problem(reason);
            let want = want.map(|(a, p)| (a.to_string(), p.to_string()));
            assert_eq!(got, want, "{reason}");
        }
    }

    #[test]
    fn every_configured_broker_is_described() {
        let h = BrokerHealth::new(&[
            "a:9092".to_string(),
            "SSL://b:9093".to_string(),
            "c:9092".to_string(),
        ]);
        h.record("a:9092/bootstrap: Connect to ipv4#10.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)");
        h.record("d:9092/4: Disconnected (after 5ms in state UP)");
        let text = h.describe();
        assert!(text.starts_with("a:9092: connection refused"), "{text}");
        assert!(text.contains("; b:9093: no problem reported; c:9092: no problem reported; d:9092 (from metadata): disconnected ("), "{text}");
        assert_eq!(h.configured(), 3);
        let since = Instant::now();
        assert!(h.failed_since(since).is_empty());
        h.record("c:9092/3: Connect to ipv4#10.0.0.3:9092 failed: Connection refused (after 0ms in state CONNECT)");
        assert_eq!(h.failed_since(since).len(), 1);
    }
}
