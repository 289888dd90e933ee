//! Numbers Flume's RPC clients read leniently (`AbstractRpcClient.parseBatchSize`,
//! `request-timeout`, `reset-connection-interval`): unreadable or out of range means Flume's
//! default, which rflume uses too, with a warning where Flume only logs.
//!
//! The avro and thrift sinks both read their numbers through these.

use crate::config::reader::PropReader;

/// Flume refuses timeouts under 1 s (it uses the default instead).
pub const MIN_TIMEOUT_MS: u64 = 1_000;

/// `key` as a whole number in `min..=max`, else `default` with a warning.
pub fn number(r: &mut PropReader, key: &str, default: u64, min: u64, max: u64) -> u64 {
    let Some((v, line)) = r.raw(key) else {
        return default;
    };
    match v.trim().parse::<i64>() {
        Ok(n) if n >= min as i64 && n as u64 <= max => n as u64,
        _ => {
            r.warn(
                key,
                Some(line),
                format!("'{v}' is not valid here ({min}..{max}); Flume uses its default, {default}, and so does rflume"),
                None,
            );
            default
        }
    }
}

/// A timeout in ms: under 1 s or unreadable, `default`.
pub fn timeout_ms(r: &mut PropReader, key: &str, default: u64) -> u64 {
    let Some((v, line)) = r.raw(key) else {
        return default;
    };
    match v.trim().parse::<i64>() {
        Ok(n) if n >= MIN_TIMEOUT_MS as i64 => n as u64,
        _ => {
            r.warn(
                key,
                Some(line),
                format!("'{v}' ms is not a timeout of at least 1 s; Flume uses its default, {default} ms, and so does rflume"),
                None,
            );
            default
        }
    }
}
