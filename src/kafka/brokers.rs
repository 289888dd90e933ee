//! The entries of `kafka.bootstrap.servers` (or the deprecated `brokerList`) as librdkafka will be
//! given them, `host:port` with Kafka's default port, each bad entry reported on the user's line
//! instead of surfacing later as a connection failure. Shared by the Kafka sink, source and channel.

use crate::config::reader::PropReader;

/// Kafka's default port, added to broker entries that have none (librdkafka does the same).
const DEFAULT_KAFKA_PORT: u16 = 9092;

/// Splits and normalises the broker list `value`, read from `key` on `line`. Problems are recorded
/// on `r`; `None` when no usable list remains.
pub(crate) fn parse_broker_list(
    r: &mut PropReader,
    key: &str,
    line: Option<usize>,
    value: &str,
) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (n, entry) in value.split(',').enumerate() {
        if entry.trim().is_empty() {
            // Java's client skips empty entries (`a:9092,` or `a:9092,,b:9092`); so does
            // rflume, but it says so.
            r.warn(
                key,
                line,
                format!("entry {} of the broker list is empty; skipped", n + 1),
                Some("remove the extra comma".to_string()),
            );
            continue;
        }
        match normalize_broker(entry) {
            Ok(b) => out.push(b),
            Err(why) => {
                ok = false;
                r.error(
                    key,
                    line,
                    format!(
                        "entry {} of the broker list ('{}'): {why}",
                        n + 1,
                        entry.trim()
                    ),
                    Some("write host:port entries separated by commas".to_string()),
                );
            }
        }
    }
    if ok && out.is_empty() {
        r.error(
            key,
            line,
            "Bootstrap Servers must be specified: the broker list has no entries",
            Some("write host:port entries separated by commas".to_string()),
        );
        return None;
    }
    ok.then_some(out)
}

/// `host[:port]` (or `proto://host[:port]`, `[v6]:port`) → `host:port`, port 9092 by default.
pub(crate) fn normalize_broker(entry: &str) -> Result<String, String> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("empty entry".into());
    }
    let (scheme, rest) = match entry.find("://") {
        Some(i) => (&entry[..i + 3], &entry[i + 3..]),
        None => ("", entry),
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let close = v6.find(']').ok_or("unclosed '[' in an IPv6 address")?;
        let after = &v6[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected '{after}' after the IPv6 address")),
        };
        (&rest[..close + 2], port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err("not a host name".into());
    }
    let port = match port {
        None => DEFAULT_KAFKA_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("'{p}' is not a port number")),
        },
    };
    Ok(format!("{scheme}{host}:{port}"))
}
