//! The properties the avro source and the avro sink read alike (Flume's `AvroSource` and
//! `NettyAvroRpcClient` read them the same way): the port and `compression-type` (the TLS keys
//! are in `super::tls`).

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
