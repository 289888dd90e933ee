//! Avro RPC over a stateful connection (`org.apache.avro.ipc.Requestor`/`Responder` as Flume's
//! `NettyTransceiver`/`NettyServer` run them), for Flume's `AvroSourceProtocol`.
//!
//! A request payload is `[HandshakeRequest] meta:map<bytes> name:string params`; a response is
//! `[HandshakeResponse] meta:map<bytes> error:boolean (response | error union)`. The handshake
//! leads only the first call of a connection (until it succeeded):
//!
//! * the client names its protocol by MD5 hash and guesses the server's (its own at first); it
//!   sends its protocol's text only when asked to;
//! * the server answers `BOTH` (it knows the client's protocol and the guess was right), `CLIENT`
//!   (it knows the client's protocol, the guess was wrong: here is mine) or `NONE` (unknown client
//!   hash: here is mine, send yours). After `NONE` the call was not executed and the client
//!   repeats it with its protocol text. Hashes are of each implementation's JSON rendering, so
//!   between Java, avsc and rflume they rarely match: `NONE`/`CLIENT` is the normal path;
//! * an empty message name is a handshake-only ping: nothing but the handshake is answered.
//!
//! The records are encoded and decoded by the `apache-avro` crate from their schemas (Avro 1.11's
//! `HandshakeRequest.avsc`/`HandshakeResponse.avsc`, Flume's `flume.avdl`); this module only puts
//! them in order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use apache_avro::types::Value;
use apache_avro::{from_avro_datum, to_avro_datum, Schema};
use bytes::Bytes;
use md5::{Digest, Md5};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use super::RpcError;
use crate::event::{Event, Headers};

/// Flume 1.11's `AvroSourceProtocol` exactly as its generated class carries it (and as Java's
/// `Protocol.toString()` renders it), so that Flume 1.11 peers find its hash their own (`BOTH`).
pub const PROTOCOL_JSON: &str = include_str!("flume_protocol.json");

/// The message Flume's avro sink calls.
pub const APPEND_BATCH: &str = "appendBatch";
pub const APPEND: &str = "append";

const HANDSHAKE_REQUEST: &str = r#"{"type":"record","name":"HandshakeRequest","namespace":"org.apache.avro.ipc","fields":[
 {"name":"clientHash","type":{"type":"fixed","name":"MD5","size":16}},
 {"name":"clientProtocol","type":["null","string"]},
 {"name":"serverHash","type":"MD5"},
 {"name":"meta","type":["null",{"type":"map","values":"bytes"}]}]}"#;
const HANDSHAKE_RESPONSE: &str = r#"{"type":"record","name":"HandshakeResponse","namespace":"org.apache.avro.ipc","fields":[
 {"name":"match","type":{"type":"enum","name":"HandshakeMatch","symbols":["BOTH","CLIENT","NONE"]}},
 {"name":"serverProtocol","type":["null","string"]},
 {"name":"serverHash","type":["null",{"type":"fixed","name":"MD5","size":16}]},
 {"name":"meta","type":["null",{"type":"map","values":"bytes"}]}]}"#;
const META: &str = r#"{"type":"map","values":"bytes"}"#;
const EVENT: &str = r#"{"type":"record","name":"AvroFlumeEvent","namespace":"org.apache.flume.source.avro","fields":[
 {"name":"headers","type":{"type":"map","values":"string"}},{"name":"body","type":"bytes"}]}"#;
const STATUS: &str = r#"{"type":"enum","name":"Status","namespace":"org.apache.flume.source.avro","symbols":["OK","FAILED","UNKNOWN"]}"#;
/// The error union of a message that declares no errors: Avro's system error, a string.
const ERROR_UNION: &str = r#"["string"]"#;

struct Schemas {
    handshake_request: Schema,
    handshake_response: Schema,
    meta: Schema,
    event: Schema,
    /// `array<AvroFlumeEvent>` with the record inline (serde encoding resolves no named refs).
    events: Schema,
    status: Schema,
    error: Schema,
    boolean: Schema,
    string: Schema,
    hash: [u8; 16],
}

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| {
        // The texts are constants of this file, checked by the unit tests: a parse failure is a
        // bug in rflume, never input.
        let parse = |t: &str| Schema::parse_str(t).expect("built-in Avro schema");
        Schemas {
            handshake_request: parse(HANDSHAKE_REQUEST),
            handshake_response: parse(HANDSHAKE_RESPONSE),
            meta: parse(META),
            event: parse(EVENT),
            events: parse(&format!(r#"{{"type":"array","items":{EVENT}}}"#)),
            status: parse(STATUS),
            error: parse(ERROR_UNION),
            boolean: Schema::Boolean,
            string: Schema::String,
            hash: Md5::digest(PROTOCOL_JSON.as_bytes()).into(),
        }
    })
}

/// The MD5 by which rflume names its protocol in handshakes.
pub fn protocol_hash() -> [u8; 16] {
    schemas().hash
}

/// Flume's `Status` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    Unknown,
}

impl Status {
    fn index(self) -> u32 {
        self as u32
    }
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Failed => "FAILED",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// The outcome of a handshake, Avro's `HandshakeMatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    Both,
    Client,
    None,
}

fn decode(schema: &Schema, input: &mut &[u8], what: &str) -> Result<Value, RpcError> {
    from_avro_datum(schema, input, None).map_err(|e| RpcError::Decode(format!("{what}: {e}")))
}

fn encode(schema: &Schema, value: Value, out: &mut Vec<u8>) -> Result<(), RpcError> {
    let bytes = to_avro_datum(schema, value).map_err(|e| RpcError::Encode(e.to_string()))?;
    out.extend_from_slice(&bytes);
    Ok(())
}

fn field(fields: &mut [(String, Value)], name: &str) -> Value {
    fields
        .iter_mut()
        .find(|(n, _)| n == name)
        .map(|(_, v)| std::mem::replace(v, Value::Null))
        .unwrap_or(Value::Null)
}

fn fixed16(v: Value) -> Option<[u8; 16]> {
    match v {
        Value::Fixed(16, b) => b.try_into().ok(),
        Value::Union(_, inner) => fixed16(*inner),
        _ => None,
    }
}

fn opt_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Union(_, inner) => opt_string(*inner),
        _ => None,
    }
}

/// One call a client made.
#[derive(Debug, PartialEq)]
pub enum Call {
    Append(Event),
    AppendBatch(Vec<Event>),
    /// The empty message name: the handshake was all.
    Ping,
}

/// The protocols a source's connections have learned, by hash (Java's `Responder.protocols`):
/// a client that reconnects is known without sending its text again.
#[derive(Clone, Default)]
pub struct KnownClients(Arc<Mutex<HashSet<[u8; 16]>>>);

impl KnownClients {
    fn contains(&self, h: &[u8; 16]) -> bool {
        self.0.lock().map(|s| s.contains(h)).unwrap_or(false)
    }
    fn insert(&self, h: [u8; 16]) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(h);
        }
    }
}

/// The server side of one connection.
pub struct ServerConnection {
    connected: bool,
    known: KnownClients,
}

impl ServerConnection {
    pub fn new(known: KnownClients) -> Self {
        ServerConnection {
            connected: false,
            known,
        }
    }

    /// Reads one request. The handshake response, when one is due, is written to `reply` first;
    /// `Ok(None)` means the handshake failed (`NONE`) and `reply` is the whole answer. Otherwise
    /// the caller executes the call and appends [`write_status`] or [`write_error`].
    pub fn read_request(
        &mut self,
        payload: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<Option<Call>, RpcError> {
        let s = schemas();
        let mut input = payload;
        if !self.connected {
            let Value::Record(mut fields) =
                decode(&s.handshake_request, &mut input, "handshake request")?
            else {
                return Err(RpcError::Decode("handshake request is not a record".into()));
            };
            let client_hash = fixed16(field(&mut fields, "clientHash"))
                .ok_or_else(|| RpcError::Decode("handshake without a client hash".into()))?;
            let client_protocol = opt_string(field(&mut fields, "clientProtocol"));
            let server_hash = fixed16(field(&mut fields, "serverHash"));
            let mut known = client_hash == s.hash || self.known.contains(&client_hash);
            if !known {
                if let Some(text) = client_protocol {
                    check_client_protocol(&text)?;
                    self.known.insert(client_hash);
                    known = true;
                }
            }
            let m = match (known, server_hash == Some(s.hash)) {
                (false, _) => Match::None,
                (true, true) => Match::Both,
                (true, false) => Match::Client,
            };
            write_handshake_response(m, reply)?;
            if m == Match::None {
                return Ok(None);
            }
            self.connected = true;
        }
        decode(&s.meta, &mut input, "call metadata")?;
        let Value::String(name) = decode(&s.string, &mut input, "message name")? else {
            return Err(RpcError::Decode("message name is not a string".into()));
        };
        match name.as_str() {
            "" => Ok(Some(Call::Ping)),
            APPEND => Ok(Some(Call::Append(event_from_value(decode(
                &s.event, &mut input, "append",
            )?)?))),
            APPEND_BATCH => {
                let Value::Array(items) = decode(&s.events, &mut input, "appendBatch")? else {
                    return Err(RpcError::Decode("appendBatch: not an array".into()));
                };
                let events = items
                    .into_iter()
                    .map(event_from_value)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(Call::AppendBatch(events)))
            }
            other => Err(RpcError::NoSuchMessage(other.to_string())),
        }
    }
}

/// A client's protocol must be Flume's (a protocol with an `appendBatch` of `AvroFlumeEvent`),
/// or its calls could not be read with Flume's schemas; Java's Responder fails those calls later,
/// one by one.
fn check_client_protocol(text: &str) -> Result<(), RpcError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| RpcError::Decode(format!("client protocol is not JSON: {e}")))?;
    let messages = v.get("messages").and_then(|m| m.as_object());
    if messages.is_some_and(|m| m.contains_key(APPEND_BATCH) || m.contains_key(APPEND)) {
        Ok(())
    } else {
        let name = v.get("protocol").and_then(|p| p.as_str()).unwrap_or("?");
        Err(RpcError::Decode(format!(
            "client speaks protocol {name}, not Flume's AvroSourceProtocol"
        )))
    }
}

fn write_handshake_response(m: Match, out: &mut Vec<u8>) -> Result<(), RpcError> {
    let s = schemas();
    let (idx, sym) = match m {
        Match::Both => (0, "BOTH"),
        Match::Client => (1, "CLIENT"),
        Match::None => (2, "NONE"),
    };
    let (protocol, hash) = if m == Match::Both {
        (
            Value::Union(0, Box::new(Value::Null)),
            Value::Union(0, Box::new(Value::Null)),
        )
    } else {
        (
            Value::Union(1, Box::new(Value::String(PROTOCOL_JSON.to_string()))),
            Value::Union(1, Box::new(Value::Fixed(16, s.hash.to_vec()))),
        )
    };
    let record = Value::Record(vec![
        ("match".into(), Value::Enum(idx, sym.into())),
        ("serverProtocol".into(), protocol),
        ("serverHash".into(), hash),
        ("meta".into(), Value::Union(0, Box::new(Value::Null))),
    ]);
    encode(&s.handshake_response, record, out)
}

fn empty_meta(out: &mut Vec<u8>) -> Result<(), RpcError> {
    encode(&schemas().meta, Value::Map(Default::default()), out)
}

/// Appends a successful answer carrying `status`.
pub fn write_status(status: Status, out: &mut Vec<u8>) -> Result<(), RpcError> {
    let s = schemas();
    empty_meta(out)?;
    encode(&s.boolean, Value::Boolean(false), out)?;
    encode(
        &s.status,
        Value::Enum(status.index(), status.symbol().into()),
        out,
    )
}

/// Appends an error answer (an Avro system error: the client's call throws with `message`).
pub fn write_error(message: &str, out: &mut Vec<u8>) -> Result<(), RpcError> {
    let s = schemas();
    empty_meta(out)?;
    encode(&s.boolean, Value::Boolean(true), out)?;
    encode(
        &s.error,
        Value::Union(0, Box::new(Value::String(message.to_string()))),
        out,
    )
}

fn event_from_value(v: Value) -> Result<Event, RpcError> {
    let Value::Record(mut fields) = v else {
        return Err(RpcError::Decode("AvroFlumeEvent is not a record".into()));
    };
    let body = match field(&mut fields, "body") {
        Value::Bytes(b) => Bytes::from(b),
        _ => return Err(RpcError::Decode("AvroFlumeEvent without a body".into())),
    };
    let mut headers = Headers::new();
    if let Value::Map(m) = field(&mut fields, "headers") {
        // The map arrives as a Rust HashMap (random order); sorted, an event prints and encodes
        // the same every time. Flume itself keeps a Java HashMap, whose order rflume reproduces
        // where it is observable (the Kafka sink's Avro encoding).
        let mut kv: Vec<(String, String)> = m
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(v) => Some((k, v)),
                _ => None,
            })
            .collect();
        kv.sort_unstable();
        headers = kv.into_iter().collect();
    }
    Ok(Event::with_headers(headers, body))
}

struct EventsSer<'a>(&'a [Event]);
struct EventSer<'a>(&'a Event);
struct HeadersSer<'a>(&'a Headers);
struct BodySer<'a>(&'a [u8]);

impl Serialize for EventsSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            seq.serialize_element(&EventSer(e))?;
        }
        seq.end()
    }
}

impl Serialize for EventSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("AvroFlumeEvent", 2)?;
        r.serialize_field("headers", &HeadersSer(&self.0.headers))?;
        r.serialize_field("body", &BodySer(&self.0.body))?;
        r.end()
    }
}

impl Serialize for HeadersSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for BodySer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// What the server answered a call.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Status(Status),
    /// The server threw (Avro system error); the message is the server's.
    Error(String),
    /// The server did not know our protocol (`NONE`); the call was not executed. Send it again
    /// (now with the protocol text).
    Resend,
}

/// The client side of one connection.
pub struct ClientConnection {
    connected: bool,
    /// The server's hash as far as we know it (our own until told otherwise, as Java's client).
    server_hash: [u8; 16],
}

impl Default for ClientConnection {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientConnection {
    pub fn new() -> Self {
        ClientConnection {
            connected: false,
            server_hash: protocol_hash(),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Appends an `appendBatch(events)` request to `out` (with the handshake while the
    /// connection is not established; rflume always sends its protocol text then, which saves
    /// the `NONE` round trip on every new connection).
    pub fn write_append_batch(&self, events: &[Event], out: &mut Vec<u8>) -> Result<(), RpcError> {
        let s = schemas();
        if !self.connected {
            let request = Value::Record(vec![
                ("clientHash".into(), Value::Fixed(16, s.hash.to_vec())),
                (
                    "clientProtocol".into(),
                    Value::Union(1, Box::new(Value::String(PROTOCOL_JSON.to_string()))),
                ),
                (
                    "serverHash".into(),
                    Value::Fixed(16, self.server_hash.to_vec()),
                ),
                ("meta".into(), Value::Union(0, Box::new(Value::Null))),
            ]);
            encode(&s.handshake_request, request, out)?;
        }
        empty_meta(out)?;
        encode(&s.string, Value::String(APPEND_BATCH.into()), out)?;
        apache_avro::write_avro_datum_ref(&s.events, &EventsSer(events), out)
            .map_err(|e| RpcError::Encode(e.to_string()))?;
        Ok(())
    }

    /// Reads the answer to the request last written.
    pub fn read_reply(&mut self, payload: &[u8]) -> Result<Reply, RpcError> {
        let s = schemas();
        let mut input = payload;
        if !self.connected {
            let Value::Record(mut fields) =
                decode(&s.handshake_response, &mut input, "handshake response")?
            else {
                return Err(RpcError::Decode(
                    "handshake response is not a record".into(),
                ));
            };
            let m = match field(&mut fields, "match") {
                Value::Enum(0, _) => Match::Both,
                Value::Enum(1, _) => Match::Client,
                Value::Enum(2, _) => Match::None,
                other => {
                    return Err(RpcError::Decode(format!(
                        "handshake match {other:?} is none of BOTH, CLIENT, NONE"
                    )))
                }
            };
            if let Some(h) = fixed16(field(&mut fields, "serverHash")) {
                self.server_hash = h;
            }
            if m == Match::None {
                return Ok(Reply::Resend);
            }
            self.connected = true;
        }
        decode(&s.meta, &mut input, "reply metadata")?;
        match decode(&s.boolean, &mut input, "reply error flag")? {
            Value::Boolean(false) => match decode(&s.status, &mut input, "reply status")? {
                Value::Enum(0, _) => Ok(Reply::Status(Status::Ok)),
                Value::Enum(1, _) => Ok(Reply::Status(Status::Failed)),
                _ => Ok(Reply::Status(Status::Unknown)),
            },
            _ => {
                let msg = match decode(&s.error, &mut input, "reply error")? {
                    Value::Union(_, v) => match *v {
                        Value::String(s) => s,
                        other => format!("{other:?}"),
                    },
                    other => format!("{other:?}"),
                };
                Ok(Reply::Error(msg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(body: &str, headers: &[(&str, &str)]) -> Event {
        Event::with_headers(headers.iter().copied().collect(), body.to_string())
    }

    #[test]
    fn the_protocol_text_is_flume_1_11s() {
        let v: serde_json::Value = serde_json::from_str(PROTOCOL_JSON).unwrap();
        assert_eq!(v["protocol"], "AvroSourceProtocol");
        assert_eq!(v["namespace"], "org.apache.flume.source.avro");
        assert!(v["messages"]["appendBatch"].is_object());
        // The MD5 Flume 1.11 computes for it (Protocol.getMD5 over the same text).
        let hex: String = protocol_hash().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "86aadae2c45474c0fe93ffd0f2350a65");
    }

    /// rflume's client against rflume's server: the first call carries the handshake, the
    /// server knows our hash (BOTH), later calls carry none.
    #[test]
    fn client_and_server_agree_and_the_handshake_happens_once() {
        let mut server = ServerConnection::new(KnownClients::default());
        let mut client = ClientConnection::new();
        let batch = vec![ev("a", &[("k", "v"), ("host", "h1")]), ev("", &[])];
        for round in 0..2 {
            let mut req = Vec::new();
            client.write_append_batch(&batch, &mut req).unwrap();
            let mut reply = Vec::new();
            let call = server.read_request(&req, &mut reply).unwrap().unwrap();
            let mut expected = batch.clone();
            expected[0].headers = [("host", "h1"), ("k", "v")].into_iter().collect();
            assert_eq!(call, Call::AppendBatch(expected), "round {round}");
            write_status(Status::Ok, &mut reply).unwrap();
            assert_eq!(
                client.read_reply(&reply).unwrap(),
                Reply::Status(Status::Ok)
            );
            assert!(client.is_connected());
            if round == 1 {
                // No handshake: meta (empty map = 0), then the name.
                assert_eq!(req[0], 0);
            }
        }
    }

    /// A Java client's first call: its own hash, no protocol text. The server answers NONE with
    /// its protocol; the repeated call with the text gets CLIENT and is executed.
    #[test]
    fn an_unknown_client_is_asked_for_its_protocol() {
        let s = schemas();
        let java_hash = [7u8; 16];
        let handshake = |text: Option<&str>| {
            let mut out = Vec::new();
            let proto = match text {
                Some(t) => Value::Union(1, Box::new(Value::String(t.into()))),
                None => Value::Union(0, Box::new(Value::Null)),
            };
            encode(
                &s.handshake_request,
                Value::Record(vec![
                    ("clientHash".into(), Value::Fixed(16, java_hash.to_vec())),
                    ("clientProtocol".into(), proto),
                    ("serverHash".into(), Value::Fixed(16, java_hash.to_vec())),
                    ("meta".into(), Value::Union(0, Box::new(Value::Null))),
                ]),
                &mut out,
            )
            .unwrap();
            empty_meta(&mut out).unwrap();
            encode(&s.string, Value::String(APPEND.into()), &mut out).unwrap();
            apache_avro::write_avro_datum_ref(&s.event, &EventSer(&ev("x", &[])), &mut out)
                .unwrap();
            out
        };
        let known = KnownClients::default();
        let mut server = ServerConnection::new(known.clone());
        let mut reply = Vec::new();
        assert_eq!(
            server.read_request(&handshake(None), &mut reply).unwrap(),
            None
        );
        let mut r = &reply[..];
        let Value::Record(f) = decode(&s.handshake_response, &mut r, "").unwrap() else {
            panic!()
        };
        assert_eq!(f[0].1, Value::Enum(2, "NONE".into()));
        assert_eq!(
            f[1].1,
            Value::Union(1, Box::new(Value::String(PROTOCOL_JSON.into())))
        );
        assert!(r.is_empty(), "NONE answers the handshake only");

        let mut reply = Vec::new();
        let call = server
            .read_request(&handshake(Some(PROTOCOL_JSON)), &mut reply)
            .unwrap();
        assert_eq!(call, Some(Call::Append(ev("x", &[]))));
        let mut r = &reply[..];
        let Value::Record(f) = decode(&s.handshake_response, &mut r, "").unwrap() else {
            panic!()
        };
        assert_eq!(f[0].1, Value::Enum(1, "CLIENT".into()));
        // A new connection of the same client is known by its hash alone.
        let mut again = ServerConnection::new(known);
        let mut reply = Vec::new();
        assert!(again
            .read_request(&handshake(None), &mut reply)
            .unwrap()
            .is_some());
    }

    #[test]
    fn client_resends_after_none_and_reads_errors() {
        let mut client = ClientConnection::new();
        let mut reply = Vec::new();
        write_handshake_response(Match::None, &mut reply).unwrap();
        assert_eq!(client.read_reply(&reply).unwrap(), Reply::Resend);
        assert!(!client.is_connected());
        let mut reply = Vec::new();
        write_handshake_response(Match::Client, &mut reply).unwrap();
        write_error("channel full", &mut reply).unwrap();
        assert_eq!(
            client.read_reply(&reply).unwrap(),
            Reply::Error("channel full".into())
        );
        let mut reply = Vec::new();
        write_status(Status::Failed, &mut reply).unwrap();
        assert_eq!(
            client.read_reply(&reply).unwrap(),
            Reply::Status(Status::Failed)
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut server = ServerConnection::new(KnownClients::default());
        let mut reply = Vec::new();
        for bad in [&b""[..], b"\x01\x02", &[0xff; 64]] {
            assert!(server.read_request(bad, &mut reply).is_err());
        }
        // A known client calling a message Flume's protocol lacks.
        let mut server = ServerConnection::new(KnownClients::default());
        let client = ClientConnection::new();
        let mut req = Vec::new();
        client.write_append_batch(&[], &mut req).unwrap();
        let name_at = req.len() - 1 - (APPEND_BATCH.len() + 1);
        req.truncate(name_at);
        encode(&Schema::String, Value::String("drop".into()), &mut req).unwrap();
        assert!(matches!(
            server.read_request(&req, &mut Vec::new()),
            Err(RpcError::NoSuchMessage(m)) if m == "drop"
        ));
    }
}
