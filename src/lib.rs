//! The root package's library: the command code shared by its two binaries.
//!
//! - [`cli`]: offloadctl's flags and logging set-up.
//! - [`cmd`]: one module per offloadctl verb (deployment commands write into a
//!   [`cmd::Reply`] so that offloadd can run them for a socket request).
//! - [`agent`]: offloadd — state lock, control socket, reconcile loop,
//!   metrics, the etcd fleet side.
//! - [`render`]: diagnostics rendering.
//! - [`frames`]: frames from hex text and pcap/pcapng captures (run, validate).

// First, with macro_use: its `say!`/`complain!` are used by `agent` too.
#[macro_use]
pub mod cmd;
pub mod agent;
pub mod cli;
pub mod frames;
pub mod render;
