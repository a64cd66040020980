//! Split placement: the meaning of a module run in two places — stages
//! `0..at` in the NIC, the rest on the host (`crate::ir::split`).
//!
//! # Rules
//! - **The NIC half** runs stages `0..at` on the frame as it arrived, by the
//!   rules in [`super`]. A verdict it reaches there — `drop`, `tx`,
//!   `forward` — is final: the host half does not run and its counters do
//!   not move. When no NIC stage decides, the packet is **handed off** to
//!   the host half (the offloaded program returns XDP_PASS).
//! - **What travels is the bytes**: the frame as the NIC half left it
//!   (rewrites and checksums in place). Nothing else: the host half parses
//!   afresh, `meta.group` starts at 0, `meta.in_port` is the same
//!   interface, counter bytes are the frame's length as the host sees it.
//! - **The host half** starts at stage `at` — it never re-runs, and so never
//!   re-decides, a NIC stage — and ends with the module's default verdict
//!   when no stage decides.
//! - **Counters** of NIC stages live in the NIC's maps, those of host
//!   stages in the host's; the module's counters are their union (a stage
//!   is on one side only, so nothing is added twice).
//!
//! # When this is the module's meaning
//! [`run_split`] equals [`super::run`] of the whole module — verdict, bytes,
//! every counter — whenever `crate::ir::split::carries(module, at)` is
//! empty; the planner proposes only such cut points (on targets without a
//! metadata channel, which is every NIC profile today). The unit tests
//! check the equality on generated modules at every admissible cut point,
//! and show a counterexample for each kind of carry (why it is refused).

use super::{run, CounterHit, Outcome, Verdict};
use crate::ir::split::{Half, Split};
use crate::ir::PortId;

/// What a split did to one frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SplitOutcome {
    /// The module's verdict: the NIC's if it decided there, else the host's.
    pub verdict: Verdict,
    /// The frame as it leaves (for `drop`: as it was when dropped).
    pub packet: Vec<u8>,
    /// The NIC half's run (its table ids are the NIC half's = the module's).
    pub nic: Outcome,
    /// The host half's run, when the NIC handed the packet off (table ids
    /// of the host half; [`SplitOutcome::counters`] maps them back).
    pub host: Option<Outcome>,
}

impl SplitOutcome {
    /// Decided in the NIC (the host half never ran).
    pub fn decided_on_nic(&self) -> bool {
        self.host.is_none()
    }
    /// Counter hits of both halves, with the whole module's table ids.
    pub fn counters(&self, split: &Split) -> Vec<CounterHit> {
        let nic = self.nic.counters.iter().map(|h| CounterHit {
            table: split.original(Half::Nic, h.table),
            ..*h
        });
        let host = self.host.iter().flat_map(|o| {
            o.counters.iter().map(|h| CounterHit {
                table: split.original(Half::Host, h.table),
                ..*h
            })
        });
        nic.chain(host).collect()
    }
}

/// Runs `split` on one frame arriving on `in_port`: the NIC half, then —
/// when it hands off — the host half on the NIC's output bytes. Never
/// panics on any input bytes.
pub fn run_split(split: &Split, in_port: PortId, packet: &[u8]) -> SplitOutcome {
    let nic = run(&split.nic, in_port, packet);
    // The NIC half's default is `pass`; where carries() is empty no NIC
    // stage can pass, so `pass` here is exactly "no NIC stage decided".
    if nic.verdict != Verdict::Pass {
        return SplitOutcome {
            verdict: nic.verdict,
            packet: nic.packet.clone(),
            nic,
            host: None,
        };
    }
    let host = run(&split.host, in_port, &nic.packet);
    SplitOutcome {
        verdict: host.verdict,
        packet: host.packet.clone(),
        nic,
        host: Some(host),
    }
}
