//! Service chains: the meaning of several modules on one placement.
//!
//! A chain is an ordered list of modules that [`crate::ir::chain::fuse`]
//! accepts (unique names, ports that agree). [`run_chain`] defines what it
//! does to a frame; every backend's fused program must agree with it.
//!
//! # Rules
//! - **Verdicts.** The first module runs on the frame as it arrived. A
//!   module's `pass` verdict — however it is reached: a `pass` primitive,
//!   `dec_ttl` at TTL/hop limit ≤ 1, or the module's `default = "pass"` —
//!   means "on to the next module"; the last module's `pass` goes to the
//!   host (CPU port) as for a single module. `drop`, `forward(port)` and
//!   `tx` end the chain at once: later modules do not run, and their
//!   counters do not move. So a `dec_ttl` expiry in a router that is not
//!   last continues with the next module (which sees the TTL ≤ 1 unchanged);
//!   put routers last to keep "expired → host".
//! - **Bytes.** Each module runs on the frame exactly as the previous one
//!   left it, and parses it afresh by the rules in [`super`]: rewrites,
//!   incrementally updated checksums, pushed and popped VLAN tags all carry
//!   over, exactly as if the modules ran one after the other on separate
//!   hooks. (So after a `pop_vlan` a third tag that the earlier module saw
//!   only as payload is a parsed tag for the next one.)
//! - **Metadata.** `meta.in_port` is the chain's ingress port for every
//!   module: it describes how the frame arrived, not a module's state, and
//!   no primitive writes it. Nothing else carries from one module to the
//!   next: a module's meaning must not depend on which module ran before it
//!   (each is written, versioned and replaced on its own), so `meta.group`
//!   starts at 0 in each module (every backend resets it at the boundary;
//!   `tests/diff_chain.rs` and `tests/p4_model.rs` check it), and any
//!   per-module state a later IR adds starts fresh likewise.
//! - **Counters.** Each module's tables keep their own counters, as if the
//!   module ran alone; bytes are the length of the frame as it arrived *at
//!   that module* (after earlier modules' pushes and pops).
//! - **Ports.** Modules share the chain's logical ports (same names and ids,
//!   or none): `forward(uplink)` means the same interface in every module.

use super::{run_traced, Outcome, Trace, Verdict};
use crate::ir::chain::Fused;
use crate::ir::{Module, PortId};

/// What a chain did to one frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainOutcome {
    /// The chain's verdict: the first non-`pass` verdict, else `pass`.
    pub verdict: Verdict,
    /// The frame as it leaves the chain (for `drop`: as it was when dropped).
    pub packet: Vec<u8>,
    /// One per module that ran, in chain order: its own outcome, with table
    /// ids and counter hits of that module (not of the fused pipeline).
    /// Shorter than the chain when a module ended it.
    pub modules: Vec<Outcome>,
}

impl ChainOutcome {
    /// Counter hits with the table ids of the fused pipeline of the same
    /// chain (what a fused program's counter maps hold).
    pub fn fused_counters(&self, fused: &Fused) -> Vec<super::CounterHit> {
        self.modules
            .iter()
            .enumerate()
            .flat_map(|(i, o)| {
                o.counters.iter().map(move |h| super::CounterHit {
                    table: fused.table_id(i, h.table),
                    ..*h
                })
            })
            .collect()
    }
}

/// Runs the chain `modules` on one frame arriving on `in_port` (the rules
/// are in the module doc). Never panics on any input bytes.
pub fn run_chain(modules: &[Module], in_port: PortId, packet: &[u8]) -> ChainOutcome {
    let traces = run_chain_traced(modules, in_port, packet);
    let last = traces.last().map(|t| &t.outcome);
    ChainOutcome {
        verdict: last.map_or(Verdict::Pass, |o| o.verdict),
        packet: last.map_or_else(|| packet.to_vec(), |o| o.packet.clone()),
        modules: traces.into_iter().map(|t| t.outcome).collect(),
    }
}

/// [`run_chain`] with each module's [`Trace`] (for `offloadctl run`): one per
/// module that ran.
pub fn run_chain_traced(modules: &[Module], in_port: PortId, packet: &[u8]) -> Vec<Trace> {
    let mut traces: Vec<Trace> = Vec::with_capacity(modules.len());
    for m in modules {
        let input = traces
            .last()
            .map_or(packet, |t: &Trace| t.outcome.packet.as_slice());
        let t = run_traced(m, in_port, input);
        let go_on = t.outcome.verdict == Verdict::Pass;
        traces.push(t);
        if !go_on {
            break;
        }
    }
    traces
}
