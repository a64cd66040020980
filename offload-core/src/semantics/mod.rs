//! The reference interpreter: the definition of what a module does to a packet.
//!
//! `run(module, in_port, packet)` parses the packet (DESIGN §3 parsing rules),
//! runs the tables in file order with the skip rule, executes actions, and
//! reports the verdict, the output bytes and which counters were hit.
//! Every backend must agree with it packet for packet.
//!
//! Entry selection within one table (the rule every backend implements):
//! - a table with any `ternary`/`range` key: among matching entries the highest
//!   priority wins (priorities are unique);
//! - otherwise, with an `lpm` key: the matching entry with the longest prefix wins
//!   (exact parts must all be equal);
//! - otherwise (all `exact`): the one entry whose values are all equal.
//!
//! Counters count packets and bytes, where bytes is the length of the frame as it
//! arrived (before any rewrite, push or pop).

use crate::ir::{PortId, TableId};

/// What happened to the packet in the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "verdict", content = "port")]
pub enum Verdict {
    Drop,
    /// To the host stack (XDP_PASS / TC_ACT_OK) or the switch's CPU port.
    Pass,
    /// Out of this logical port.
    Forward(PortId),
    /// Back out of the ingress port.
    Tx,
}

/// Which counter of a table a packet hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CounterSlot {
    /// Index into `table.entries`.
    Entry(usize),
    /// The table's default action (a miss).
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct CounterHit {
    pub table: TableId,
    pub slot: CounterSlot,
    /// Bytes added to the counter (the ingress frame length); packets add 1.
    pub bytes: u64,
}

/// One table's part in a packet's journey, for `offloadctl run` and debugging.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Step {
    /// The table did not apply: this header (one its keys need) was not valid.
    Skipped { table: TableId, missing: crate::ir::Header },
    Hit { table: TableId, entry: usize },
    Miss { table: TableId },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The packet as it leaves (unchanged bytes for `Drop`).
    pub packet: Vec<u8>,
    /// Counters hit, in pipeline order (only tables with `counters = true`).
    pub counters: Vec<CounterHit>,
    pub steps: Vec<Step>,
}
