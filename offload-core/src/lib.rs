//! offload-core: the module language, its validated IR, the reference semantics
//! (the definition of what a module means), capabilities and the planner.
//!
//! Everything here is pure: it takes `&str`/`&[u8]` and returns values. No files,
//! no syscalls, no clock, no environment. Drivers and backends build on it.

pub mod diag;
pub mod ir;
pub mod plan;
pub mod semantics;
pub mod spec;
pub mod state;
/// Random valid modules, entries and frames for differential tests.
#[doc(hidden)]
pub mod testgen;
pub mod wire;

pub use diag::{Diagnostic, Span};
