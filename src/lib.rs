//! rflume: a small, fast, loss-free replacement for Apache Flume's `flume-ng agent`.
//!
//! Flume's model is the architecture — Source → ChannelProcessor → Channel → SinkRunner →
//! Sink, with put and take transactions — and Flume's configuration files are the interface.
//! Start reading at `agent/mod.rs` (wiring and lifecycle) and `config/mod.rs` (file → graph).

pub mod agent;
pub mod channel;
pub mod cli;
pub mod config;
pub mod durable;
pub mod event;
pub mod graph;
pub mod interceptor;
pub mod java;
pub mod kafka;
mod layers;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod rpc;
pub mod shutdown;
pub mod sink;
pub mod source;
#[cfg(test)]
mod testing;
