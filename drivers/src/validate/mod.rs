//! Running the same frames through every target this machine has and
//! comparing each with the reference interpreter — the machinery behind
//! `offloadctl validate` (the command renders the matrix, JUnit and JSON).
//!
//! - [`bpf`]: a module compiled for XDP or tc, loaded with its entries and
//!   ports, frames run under `BPF_PROG_TEST_RUN` (verdict, bytes, counters).
//!   Also what `tests/diff_random.rs` loads its random modules with.
//! - [`live`]: the same programs live on veths in a namespace of their own:
//!   XDP live-frames test runs into a DEVMAP of veths, tc attached to a veth
//!   with frames sent through it; where each frame leaves, and as what.
//! - BMv2 lives in [`crate::p4::diff`] (simple_switch on a veth lab).
//!
//! Every runner answers per frame ([`FrameResult`]): pass, fail with what
//! the target did, or not run with the reason (e.g. tc cannot see a live
//! frame's outer VLAN tag). A runner that cannot run at all returns the
//! reason as an error; the command shows it as "not run", never a pass.

pub mod bpf;
pub mod live;

use offload_core::ir::PortId;

/// One frame to run, arriving on a logical port (`PortId(0xffff)`: an
/// interface that is no port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub in_port: PortId,
    pub bytes: Vec<u8>,
}

/// What a target did with one frame when it differed from the reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// What differed, in words (`verdict`, `bytes`, `port`).
    pub what: String,
    /// The target's verdict as it reports it (`XDP_TX (3)`, `left on port 2`).
    pub got_verdict: Option<String>,
    /// The bytes the target left the frame with, where it shows them.
    pub got_bytes: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum FrameResult {
    Pass,
    Fail(Mismatch),
    NotRun(String),
}

/// One target's answers, one per probe, plus the counters compared after
/// the run.
#[derive(Debug, Clone, Default)]
pub struct TargetRun {
    pub frames: Vec<FrameResult>,
    /// Counter slots compared with the reference's totals (for targets that
    /// run no frames — netdevsim, a NIC's control path — the checks made).
    pub counters_checked: usize,
    /// Counter slots (or checks) that differ, in words.
    pub counter_mismatches: Vec<String>,
    /// Seconds spent compiling, loading, filling tables, building labs.
    pub setup_secs: f64,
    /// Seconds spent running the frames (frames per second = run frames / this).
    pub run_secs: f64,
    /// Facts worth showing beside the results.
    pub notes: Vec<String>,
}

impl TargetRun {
    /// Frames that ran (passed or failed).
    pub fn ran(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| !matches!(f, FrameResult::NotRun(_)))
            .count()
    }
}

/// Progress of a long run: called with (frames done, frames in all).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// `OFFLOAD_TEST_CORRUPT_REWRITE=1`, TEST ONLY: compile eBPF programs with
/// the deliberate generator bug of
/// [`offload_ebpf::codegen::Target::test_corrupt_rewrite`], so a test can
/// show that validate catches a wrong rewrite.
pub const CORRUPT_REWRITE_ENV: &str = "OFFLOAD_TEST_CORRUPT_REWRITE";

pub(crate) fn corrupt_rewrite() -> bool {
    std::env::var(CORRUPT_REWRITE_ENV).as_deref() == Ok("1")
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
