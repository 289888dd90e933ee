//! TLS for the listening sources (syslog, http, avro): Flume's `SslContextAwareAbstractSource`
//! keys, parsed and served by [`crate::rpc::tls`], which the avro sink's trust store shares.

pub use crate::rpc::tls::{StoreKind, TlsSettings};
