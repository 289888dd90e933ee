//! Flume's RPC wire protocols, shared by the sources that receive them and the sinks that send
//! them (sources and sinks never import each other; both import this layer).
//!
//! * [`frame`]: Avro IPC's Netty framing (serial, buffer count, length-prefixed buffers);
//! * [`ipc`]: the Avro RPC payloads of Flume's `AvroSourceProtocol` — the stateful handshake,
//!   `append`/`appendBatch` of `AvroFlumeEvent`, `Status` — encoded by the `apache-avro` crate;
//! * [`deflate`]: `compression-type = deflate`, one sync-flushed zlib stream per direction;
//! * [`settings`]: the properties the source and the sink read alike;
//! * [`tls`]: Flume's TLS keys (a source's key store, the sink's trust store, the order of TLS
//!   and deflate), shared with the other listening sources;
//! * [`thrift`]: Flume's Thrift RPC (`ThriftSourceProtocol`, framed, compact or binary), for the
//!   thrift source and sink, encoded by Apache's `thrift` crate;
//! * [`client`]: an RPC sink's connect and per-call deadline;
//! * [`lenient`]: numbers the RPC clients read as Flume's `AbstractRpcClient` does.
//!
//! Nothing here but [`client`]'s connect does I/O: the avro source drives these on tokio, the
//! avro sink on blocking sockets with timeouts; [`deflate::ZlibStream`] wraps either kind of
//! stream.

pub mod client;
pub mod deflate;
pub mod frame;
pub mod ipc;
pub mod lenient;
pub mod settings;
pub mod thrift;
pub mod tls;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RpcError {
    #[error("bad Avro RPC framing: {0}")]
    Frame(String),
    #[error("cannot read the Avro RPC payload: {0}")]
    Decode(String),
    #[error("cannot encode the Avro RPC payload: {0}")]
    Encode(String),
    #[error("No such remote message: {0}")]
    NoSuchMessage(String),
    #[error("deflate stream: {0}")]
    Deflate(String),
}
