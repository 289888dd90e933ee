//! The tokio runtime a network or process source runs its I/O on.
//!
//! Every such source runs on its own OS thread (see `agent/mod.rs`) and multiplexes its sockets,
//! child pipes and timers on one current-thread runtime: no extra threads per source, and a
//! blocking channel put simply pauses reading, which is the backpressure we want. One
//! constructor keeps the runtime's features and the error a source fails with the same for all.

use tokio::runtime::Runtime;

use super::SourceError;

/// A current-thread runtime with I/O and timers, or the error that fails `source_name`.
pub(crate) fn runtime(source_name: &str) -> Result<Runtime, SourceError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SourceError::Failed {
            source_name: source_name.to_string(),
            message: format!("cannot start runtime: {e}"),
        })
}
