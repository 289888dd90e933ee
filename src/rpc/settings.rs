//! The properties the avro source and the avro sink read alike (Flume's `AvroSource` and
//! `NettyAvroRpcClient` read them the same way): the port, `compression-type`, and the TLS keys.

use crate::config::reader::PropReader;

/// A required TCP port (`port`); 0 is refused when `allow_zero` is false.
pub fn port(r: &mut PropReader, hint: &str, allow_zero: bool) -> Option<u16> {
    let p = r.required("port", hint)?;
    match p.trim().parse::<u16>() {
        Ok(n) if n > 0 || allow_zero => Some(n),
        _ => {
            let line = r.line("port");
            r.error(
                "port",
                line,
                format!("'{p}' is not a TCP port"),
                Some("use 1-65535".into()),
            );
            None
        }
    }
}

/// `compression-type`: whether it is `deflate` (any case, as Flume's `equalsIgnoreCase`);
/// anything else means uncompressed in Flume, with a warning here unless it says `none`.
pub fn deflate(r: &mut PropReader) -> bool {
    match r.raw("compression-type") {
        None => false,
        Some((v, _)) if v.trim().eq_ignore_ascii_case("deflate") => true,
        Some((v, line)) => {
            if !v.trim().eq_ignore_ascii_case("none") {
                r.warn(
                    "compression-type",
                    Some(line),
                    format!(
                        "'{v}' is not deflate: Flume does not compress, and neither does rflume"
                    ),
                    Some("write none or deflate (on both ends)".into()),
                );
            }
            false
        }
    }
}

/// The keys of Flume's TLS setup besides `ssl` (its `store`: `keystore` for a source,
/// `truststore` for a sink).
const TLS_KEYS: &[&str] = &["-password", "-type"];
const PROTOCOL_KEYS: &[&str] = &[
    "exclude-protocols",
    "include-protocols",
    "exclude-cipher-suites",
    "include-cipher-suites",
];

/// `ssl` and its keys. TLS is not implemented yet: `ssl = true` makes the component unsupported
/// (the agent refuses to start rather than send or accept in the clear what the file says to
/// encrypt); the other keys are accepted, as they mean nothing without it.
pub fn ssl(r: &mut PropReader, store: &str, extra: &[&str], what: &str, hint: &str) -> bool {
    let ssl = r.bool("ssl", false);
    r.known(store);
    for suffix in TLS_KEYS {
        r.known(&format!("{store}{suffix}"));
    }
    for key in PROTOCOL_KEYS.iter().chain(extra) {
        r.known(key);
    }
    if ssl {
        r.unsupported(
            "ssl",
            None,
            format!("TLS for the {what} is not implemented in rflume yet"),
            Some(hint.into()),
        );
    }
    ssl
}
