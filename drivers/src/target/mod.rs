//! The product's targets: one implementation of
//! [`offload_core::state::Target`] per kind of target. The decisions (what
//! drifted, what to repair, the transaction) are core's; these only act and
//! read back.
//!
//! | module | kind |
//! |---|---|
//! | [`host`] | the host kernel and offloaded NICs: XDP offload/native/generic, tc (pins, links, maps) |
//! | [`switch`] | a BMv2 switch over P4Runtime (pipeline, tables, counters) |
//! | [`bundle`] | Tofino: compile only; the bundle a lab loads with the SDE |

pub mod bundle;
pub mod host;
pub mod switch;
