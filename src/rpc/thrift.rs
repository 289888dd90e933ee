//! Flume's Thrift RPC (`flume-ng-sdk/src/main/thrift/flume.thrift`), the bytes the thrift source
//! and sink exchange with Flume's `ThriftSource`, `ThriftSink` and `ThriftRpcClient`:
//!
//! ```text
//! struct ThriftFlumeEvent { 1: required map<string,string> headers, 2: required binary body }
//! enum Status { OK, FAILED, ERROR, UNKNOWN }
//! service ThriftSourceProtocol {
//!   Status append(1: ThriftFlumeEvent event), Status appendBatch(1: list<ThriftFlumeEvent> events) }
//! ```
//!
//! Transport: Thrift's framed transport (Flume's `TFastFramedTransport` on both ends: a
//! big-endian `int32` length, then one message), at most [`MAX_FRAME_BYTES`] a frame as Java's
//! default. Protocol: `compact` (Flume's default) or `binary` (strict writes, lenient reads, as
//! Java's `TBinaryProtocol.Factory()`).
//!
//! The protocols are Apache's `thrift` crate's (`TCompactInputProtocol`, `TBinaryInputProtocol`,
//! …), used over in-memory frames: the crate's own servers are blocking thread-per-connection,
//! which does not fit the tokio source, so rflume does the framing and the I/O itself and lets
//! the crate do the encoding. Nothing here does I/O.

use ::thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TCompactInputProtocol, TCompactOutputProtocol,
    TFieldIdentifier, TInputProtocol, TListIdentifier, TMapIdentifier, TMessageIdentifier,
    TMessageType, TOutputProtocol, TStructIdentifier, TType,
};
use ::thrift::{ApplicationError, ApplicationErrorKind, TConfiguration};
use bytes::{Buf, Bytes, BytesMut};

use crate::config::reader::PropReader;
use crate::event::{Event, Headers};

/// Java's `TFastFramedTransport.DEFAULT_MAX_LENGTH`: a longer frame is refused (the connection
/// closed) before anything is allocated for it.
pub const MAX_FRAME_BYTES: usize = 16_384_000;

#[derive(Debug, thiserror::Error)]
pub enum ThriftError {
    #[error("a Thrift frame of {0} bytes (more than {MAX_FRAME_BYTES}): not Flume's framed Thrift, or a batch far beyond any batch-size")]
    FrameTooLong(i64),
    #[error("bad Thrift message: {0}")]
    Protocol(String),
    #[error("the server failed the call: {0}")]
    Remote(String),
}

impl From<::thrift::Error> for ThriftError {
    fn from(e: ::thrift::Error) -> Self {
        ThriftError::Protocol(e.to_string())
    }
}

/// `protocol`: Flume's two choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Compact,
    Binary,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Compact => "compact",
            Protocol::Binary => "binary",
        }
    }
}

/// Flume's `Status` enum (its Thrift values are the declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    Error,
    Unknown,
}

impl Status {
    fn value(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::Error => 2,
            Status::Unknown => 3,
        }
    }

    /// Java's `Status.findByValue`: any other value is no status (the client fails the call).
    fn from_value(v: i32) -> Option<Status> {
        Some(match v {
            0 => Status::Ok,
            1 => Status::Failed,
            2 => Status::Error,
            3 => Status::Unknown,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Failed => "FAILED",
            Status::Error => "ERROR",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// `protocol` as Flume's `ThriftSource` and `ThriftRpcClient` read it: absent = compact; the
/// check ignores case, but only the exact word `binary` selects binary. The source refuses
/// another value (`unknown_is_error`), the client warns and uses compact.
pub fn parse_protocol(r: &mut PropReader, unknown_is_error: bool) -> Option<Protocol> {
    let Some((v, line)) = r.raw("protocol") else {
        return Some(Protocol::Compact);
    };
    let v = v.trim();
    if v == "binary" {
        return Some(Protocol::Binary);
    }
    if v == "compact" {
        return Some(Protocol::Compact);
    }
    if v.eq_ignore_ascii_case("binary") || v.eq_ignore_ascii_case("compact") {
        r.warn(
            "protocol",
            Some(line),
            format!("'{v}': Flume accepts it but speaks compact unless the value is exactly 'binary'; rflume does the same (compact)"),
            Some("write protocol = binary or protocol = compact, in lower case".into()),
        );
        return Some(Protocol::Compact);
    }
    if unknown_is_error {
        r.error(
            "protocol",
            Some(line),
            format!(
                "'{v}': binary or compact are the only valid Thrift protocol types to choose from"
            ),
            Some("write protocol = compact (Flume's default) or protocol = binary".into()),
        );
        None
    } else {
        r.warn(
            "protocol",
            Some(line),
            format!("'{v}': 'binary' or 'compact' are the only valid Thrift protocol types; Flume defaults to 'compact', and so does rflume"),
            Some("write protocol = compact or protocol = binary".into()),
        );
        Some(Protocol::Compact)
    }
}

/// Accumulates stream bytes and yields whole frames.
#[derive(Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder::default()
    }

    /// The buffer the caller reads the stream into, so that bytes land in place.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame (a slice of the read buffer, not a copy), `None` until all of it
    /// arrived.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, ThriftError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if len < 0 || len as usize > MAX_FRAME_BYTES {
            return Err(ThriftError::FrameTooLong(len as i64));
        }
        let len = len as usize;
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

/// What a client asked for.
#[derive(Debug)]
pub enum Call {
    Append(Event),
    AppendBatch(Vec<Event>),
    /// A method `ThriftSourceProtocol` does not have: answered with Thrift's `UNKNOWN_METHOD`
    /// exception, as Java's processor does; the connection stays.
    Unknown(String),
}

/// One request: the call and what its answer must repeat.
#[derive(Debug)]
pub struct Request {
    pub name: String,
    pub seq: i32,
    pub call: Call,
}

/// Limits for reading one frame: no string or container can be longer than the frame itself,
/// so a hostile length allocates nothing beyond what arrived.
fn config_for(frame: &[u8]) -> TConfiguration {
    let len = frame.len().max(1);
    TConfiguration::builder()
        .max_message_size(Some(len))
        .max_frame_size(Some(len))
        .max_container_size(Some(len))
        .max_string_size(Some(len))
        .build()
        .unwrap_or_default()
}

fn input<'a>(frame: &'a [u8], protocol: Protocol) -> Box<dyn TInputProtocol + 'a> {
    let config = config_for(frame);
    match protocol {
        Protocol::Compact => Box::new(TCompactInputProtocol::with_config(frame, config)),
        // Java's TBinaryProtocol.Factory(): strictRead = false.
        Protocol::Binary => Box::new(TBinaryInputProtocol::with_config(frame, false, config)),
    }
}

fn output<'a>(out: &'a mut Vec<u8>, protocol: Protocol) -> Box<dyn TOutputProtocol + 'a> {
    match protocol {
        Protocol::Compact => Box::new(TCompactOutputProtocol::new(out)),
        // strictWrite = true, as Java's factory and Python's TBinaryProtocol.
        Protocol::Binary => Box::new(TBinaryOutputProtocol::new(out, true)),
    }
}

fn protocol_error(message: impl Into<String>) -> ThriftError {
    ThriftError::Protocol(message.into())
}

/// Reads one request frame (the server's side).
pub fn read_request(frame: &[u8], protocol: Protocol) -> Result<Request, ThriftError> {
    let mut p = input(frame, protocol);
    let ident = p.read_message_begin()?;
    if !matches!(
        ident.message_type,
        TMessageType::Call | TMessageType::OneWay
    ) {
        return Err(protocol_error(format!(
            "a {:?} message where a call was expected",
            ident.message_type
        )));
    }
    let call = match ident.name.as_str() {
        "append" => Call::Append(
            read_args(&mut *p, TType::Struct, |p| read_event(p))?
                .ok_or_else(|| protocol_error("append without its event (field 1)"))?,
        ),
        "appendBatch" => Call::AppendBatch(
            read_args(&mut *p, TType::List, |p| {
                let list = p.read_list_begin()?;
                if list.element_type != TType::Struct {
                    return Err(protocol_error(format!(
                        "appendBatch: a list of {:?}, not of ThriftFlumeEvent",
                        list.element_type
                    )));
                }
                let count = usize::try_from(list.size).unwrap_or(0);
                // Each event takes at least 3 bytes: the length is not trusted beyond that.
                let mut events = Vec::with_capacity(count.min(frame.len() / 3));
                for _ in 0..count {
                    events.push(read_event(p)?);
                }
                p.read_list_end()?;
                Ok(events)
            })?
            .unwrap_or_default(),
        ),
        other => {
            p.skip(TType::Struct)?;
            Call::Unknown(other.to_string())
        }
    };
    p.read_message_end()?;
    Ok(Request {
        name: ident.name,
        seq: ident.sequence_number,
        call,
    })
}

/// Reads an `_args` struct whose field 1 has `kind`, read by `field`; other fields are skipped
/// (as generated code does).
fn read_args<T>(
    p: &mut dyn TInputProtocol,
    kind: TType,
    mut field: impl FnMut(&mut dyn TInputProtocol) -> Result<T, ThriftError>,
) -> Result<Option<T>, ThriftError> {
    let mut value = None;
    p.read_struct_begin()?;
    loop {
        let f = p.read_field_begin()?;
        if f.field_type == TType::Stop {
            break;
        }
        if f.id == Some(1) && f.field_type == kind {
            value = Some(field(p)?);
        } else {
            p.skip(f.field_type)?;
        }
        p.read_field_end()?;
    }
    p.read_struct_end()?;
    Ok(value)
}

/// One `ThriftFlumeEvent`; both fields are required, as Java's generated `validate()` says.
fn read_event(p: &mut dyn TInputProtocol) -> Result<Event, ThriftError> {
    let mut headers = None;
    let mut body = None;
    p.read_struct_begin()?;
    loop {
        let f = p.read_field_begin()?;
        if f.field_type == TType::Stop {
            break;
        }
        match (f.id, f.field_type) {
            (Some(1), TType::Map) => {
                let map = p.read_map_begin()?;
                let mut h = Headers::new();
                if map.size > 0
                    && (map.key_type != Some(TType::String)
                        || map.value_type != Some(TType::String))
                {
                    return Err(protocol_error(
                        "ThriftFlumeEvent headers are not map<string,string>",
                    ));
                }
                for _ in 0..map.size {
                    let k = p.read_string()?;
                    let v = p.read_string()?;
                    h.insert(k, v);
                }
                p.read_map_end()?;
                headers = Some(h);
            }
            (Some(2), TType::String) => body = Some(p.read_bytes()?),
            (_, other) => p.skip(other)?,
        }
        p.read_field_end()?;
    }
    p.read_struct_end()?;
    match (headers, body) {
        (Some(h), Some(b)) => Ok(Event::with_headers(h, b)),
        (None, _) => Err(protocol_error(
            "Required field 'headers' was not present! Struct: ThriftFlumeEvent",
        )),
        (_, None) => Err(protocol_error(
            "Required field 'body' was not present! Struct: ThriftFlumeEvent",
        )),
    }
}

/// Appends a frame to `out`, its message written by `write`.
fn framed(
    out: &mut Vec<u8>,
    protocol: Protocol,
    write: impl FnOnce(&mut dyn TOutputProtocol) -> ::thrift::Result<()>,
) -> Result<(), ThriftError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    {
        let mut p = output(out, protocol);
        write(&mut *p)?;
        p.flush()?;
    }
    let len = out.len() - start - 4;
    if len > MAX_FRAME_BYTES {
        out.truncate(start);
        return Err(ThriftError::FrameTooLong(len as i64));
    }
    out[start..start + 4].copy_from_slice(&(len as i32).to_be_bytes());
    Ok(())
}

/// The server's answer to `name` (`seq`): its `Status`.
pub fn write_status(
    protocol: Protocol,
    name: &str,
    seq: i32,
    status: Status,
    out: &mut Vec<u8>,
) -> Result<(), ThriftError> {
    framed(out, protocol, |p| {
        p.write_message_begin(&TMessageIdentifier::new(name, TMessageType::Reply, seq))?;
        p.write_struct_begin(&TStructIdentifier::new(format!("{name}_result")))?;
        p.write_field_begin(&TFieldIdentifier::new("success", TType::I32, 0))?;
        p.write_i32(status.value())?;
        p.write_field_end()?;
        p.write_field_stop()?;
        p.write_struct_end()?;
        p.write_message_end()
    })
}

/// The server's answer to a method it does not have (Java's `TBaseProcessor`).
pub fn write_unknown_method(
    protocol: Protocol,
    name: &str,
    seq: i32,
    out: &mut Vec<u8>,
) -> Result<(), ThriftError> {
    framed(out, protocol, |p| {
        p.write_message_begin(&TMessageIdentifier::new(name, TMessageType::Exception, seq))?;
        ::thrift::Error::write_application_error_to_out_protocol(
            &ApplicationError::new(
                ApplicationErrorKind::UnknownMethod,
                format!("Invalid method name: '{name}'"),
            ),
            p,
        )?;
        p.write_message_end()
    })
}

/// The client's `appendBatch(events)` call, framed, appended to `out`.
pub fn write_append_batch(
    protocol: Protocol,
    seq: i32,
    events: &[Event],
    out: &mut Vec<u8>,
) -> Result<(), ThriftError> {
    framed(out, protocol, |p| {
        p.write_message_begin(&TMessageIdentifier::new(
            "appendBatch",
            TMessageType::Call,
            seq,
        ))?;
        p.write_struct_begin(&TStructIdentifier::new("appendBatch_args"))?;
        p.write_field_begin(&TFieldIdentifier::new("events", TType::List, 1))?;
        p.write_list_begin(&TListIdentifier::new(TType::Struct, events.len() as i32))?;
        for e in events {
            write_event(p, e)?;
        }
        p.write_list_end()?;
        p.write_field_end()?;
        p.write_field_stop()?;
        p.write_struct_end()?;
        p.write_message_end()
    })
}

fn write_event(p: &mut dyn TOutputProtocol, e: &Event) -> ::thrift::Result<()> {
    p.write_struct_begin(&TStructIdentifier::new("ThriftFlumeEvent"))?;
    p.write_field_begin(&TFieldIdentifier::new("headers", TType::Map, 1))?;
    p.write_map_begin(&TMapIdentifier::new(
        TType::String,
        TType::String,
        e.headers.len() as i32,
    ))?;
    for (k, v) in e.headers.iter() {
        p.write_string(k)?;
        p.write_string(v)?;
    }
    p.write_map_end()?;
    p.write_field_end()?;
    p.write_field_begin(&TFieldIdentifier::new("body", TType::String, 2))?;
    p.write_bytes(&e.body)?;
    p.write_field_end()?;
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Reads the server's answer to the client's call `seq`: the `Status`, or why there is none.
pub fn read_status(frame: &[u8], protocol: Protocol, seq: i32) -> Result<Status, ThriftError> {
    let mut p = input(frame, protocol);
    let ident = p.read_message_begin()?;
    match ident.message_type {
        TMessageType::Reply => {}
        TMessageType::Exception => {
            let e = ::thrift::Error::read_application_error_from_in_protocol(&mut *p)?;
            return Err(ThriftError::Remote(format!("{:?}: {}", e.kind, e.message)));
        }
        other => return Err(protocol_error(format!("a {other:?} message, not a reply"))),
    }
    if ident.sequence_number != seq {
        return Err(protocol_error(format!(
            "the answer to call {} while waiting for {seq}",
            ident.sequence_number
        )));
    }
    let mut status = None;
    p.read_struct_begin()?;
    loop {
        let f = p.read_field_begin()?;
        if f.field_type == TType::Stop {
            break;
        }
        if f.id == Some(0) && f.field_type == TType::I32 {
            let v = p.read_i32()?;
            status = Some(Status::from_value(v).ok_or_else(|| {
                protocol_error(format!(
                    "status {v}, which Flume's Status enum does not have"
                ))
            })?);
        } else {
            p.skip(f.field_type)?;
        }
        p.read_field_end()?;
    }
    p.read_struct_end()?;
    p.read_message_end()?;
    status.ok_or_else(|| ThriftError::Remote(format!("{} failed: unknown result", ident.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        vec![
            Event::with_headers(
                [("host", "n1"), ("ünï", "çødé")].into_iter().collect(),
                &b"first \x00 line"[..],
            ),
            Event::new(&b""[..]),
        ]
    }

    #[test]
    fn a_batch_round_trips_in_both_protocols() {
        for protocol in [Protocol::Compact, Protocol::Binary] {
            let mut wire = Vec::new();
            write_append_batch(protocol, 7, &events(), &mut wire).unwrap();
            let mut d = FrameDecoder::new();
            // Byte by byte: a frame is whole only once its last byte came.
            for b in &wire[..wire.len() - 1] {
                d.push(&[*b]);
                assert!(d.next_frame().unwrap().is_none());
            }
            d.push(&wire[wire.len() - 1..]);
            let frame = d.next_frame().unwrap().unwrap();
            let r = read_request(&frame, protocol).unwrap();
            assert_eq!((r.name.as_str(), r.seq), ("appendBatch", 7));
            let Call::AppendBatch(got) = r.call else {
                panic!("{:?}", r.call)
            };
            assert_eq!(got.len(), 2);
            for (g, w) in got.iter().zip(events()) {
                assert_eq!((&g.headers, &g.body), (&w.headers, &w.body));
            }
            let mut reply = Vec::new();
            write_status(protocol, "appendBatch", 7, Status::Failed, &mut reply).unwrap();
            assert_eq!(
                read_status(&reply[4..], protocol, 7).unwrap(),
                Status::Failed
            );
            assert!(read_status(&reply[4..], protocol, 8).is_err(), "wrong seq");
        }
    }

    /// Bytes as Python's thrift 0.20 (TBinaryProtocol, strict write) puts them on the wire for
    /// `append(ThriftFlumeEvent({"a": "b"}, b"x"))`, seq 1, written out by hand from the spec.
    #[test]
    fn binary_append_matches_the_reference_layout() {
        let mut frame = vec![0x80, 0x01, 0x00, 0x01];
        frame.extend_from_slice(&6i32.to_be_bytes());
        frame.extend_from_slice(b"append");
        frame.extend_from_slice(&1i32.to_be_bytes());
        frame.extend_from_slice(&[12, 0, 1]); // field 1: struct
        frame.extend_from_slice(&[13, 0, 1, 11, 11, 0, 0, 0, 1]); // headers: map<string,string>, 1
        frame.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']);
        frame.extend_from_slice(&[11, 0, 2, 0, 0, 0, 1, b'x', 0]); // body, stop
        frame.push(0); // args stop
        let r = read_request(&frame, Protocol::Binary).unwrap();
        let Call::Append(e) = r.call else {
            panic!("{:?}", r.call)
        };
        assert_eq!((e.headers.get("a"), &e.body[..]), (Some("b"), &b"x"[..]));
    }

    #[test]
    fn missing_required_fields_and_unknown_methods_are_named() {
        // compact: message header, then appendBatch_args with a list of one empty struct.
        let mut wire = Vec::new();
        framed(&mut wire, Protocol::Compact, |p| {
            p.write_message_begin(&TMessageIdentifier::new(
                "appendBatch",
                TMessageType::Call,
                1,
            ))?;
            p.write_struct_begin(&TStructIdentifier::new("a"))?;
            p.write_field_begin(&TFieldIdentifier::new("events", TType::List, 1))?;
            p.write_list_begin(&TListIdentifier::new(TType::Struct, 1))?;
            p.write_struct_begin(&TStructIdentifier::new("e"))?;
            p.write_field_stop()?;
            p.write_struct_end()?;
            p.write_list_end()?;
            p.write_field_end()?;
            p.write_field_stop()?;
            p.write_struct_end()?;
            p.write_message_end()
        })
        .unwrap();
        let e = read_request(&wire[4..], Protocol::Compact).unwrap_err();
        assert!(e.to_string().contains("'headers'"), "{e}");

        let mut wire = Vec::new();
        framed(&mut wire, Protocol::Compact, |p| {
            p.write_message_begin(&TMessageIdentifier::new("drop", TMessageType::Call, 3))?;
            p.write_struct_begin(&TStructIdentifier::new("a"))?;
            p.write_field_stop()?;
            p.write_struct_end()?;
            p.write_message_end()
        })
        .unwrap();
        let r = read_request(&wire[4..], Protocol::Compact).unwrap();
        assert!(matches!(r.call, Call::Unknown(ref m) if m == "drop"));
        let mut reply = Vec::new();
        write_unknown_method(Protocol::Compact, "drop", 3, &mut reply).unwrap();
        let e = read_status(&reply[4..], Protocol::Compact, 3).unwrap_err();
        assert!(e.to_string().contains("Invalid method name"), "{e}");
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocating() {
        let mut d = FrameDecoder::new();
        d.push(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(ThriftError::FrameTooLong(_))));
        let mut d = FrameDecoder::new();
        d.push(b"GET / HTTP/1.1\r\n");
        assert!(d.next_frame().is_err());
        // A list claiming 2^31 events, and a body claiming 1 GiB, in a 30-byte frame.
        for protocol in [Protocol::Compact, Protocol::Binary] {
            let mut wire = Vec::new();
            write_append_batch(protocol, 1, &events(), &mut wire).unwrap();
            let frame = &mut wire[4..];
            let mut bad = frame.to_vec();
            // Every byte position overwritten with 0xff in turn: an error or a result, never a
            // panic or a huge allocation.
            for i in 0..bad.len() {
                let keep = bad[i];
                bad[i] = 0xff;
                let _ = read_request(&bad, protocol);
                bad[i] = keep;
            }
            let _ = read_request(&frame[..frame.len() / 2], protocol).unwrap_err();
        }
    }
}
