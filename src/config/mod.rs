//! Configuration syntax: Flume's properties file read into keys with their lines, typed access to
//! one component's keys, and diagnostics. This layer knows no component: the component kinds own
//! their tables (built on [`registry`]) and `graph` turns the keys into an agent.
//!
//! * [`properties`]: Java-properties syntax, encodings, `${…}` substitution;
//! * [`reader`]: [`reader::PropReader`], a component's keys with "what was read" bookkeeping;
//! * [`diag`]: `FILE:LINE: key: problem (fix)`;
//! * [`registry`]: the shape of a component type table;
//! * [`source`]: where a configuration comes from (files, `file:` and `http(s):` URIs);
//! * [`secret`]: [`secret::Secret`], a value that prints as `******`, and which keys carry one.

pub mod diag;
pub mod properties;
pub mod reader;
pub mod registry;
pub mod secret;
pub mod source;

pub use diag::{Diagnostic, Diagnostics, Severity};
