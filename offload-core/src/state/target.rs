//! The trait one kind of target implements (in `drivers::target`): the host
//! kernel (XDP native/generic, tc), an offloaded NIC, a BMv2 switch over
//! P4Runtime, a Tofino bundle. The transaction and the reconciler in this
//! module drive it; they are tested here against fakes, and in `tests/`
//! against the kernel and BMv2 — the same code.

use super::desired::{Desired, PlacementId};
use super::observed::Observed;
use super::ops::EntryOp;

/// Why a target refused; always names the placement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{placement}: {message}")]
pub struct TargetError {
    pub placement: PlacementId,
    pub message: String,
}

impl TargetError {
    pub fn new(placement: &PlacementId, message: impl Into<String>) -> TargetError {
        TargetError {
            placement: placement.clone(),
            message: message.into(),
        }
    }
}

/// One kind of target holding one or more placements of a deployment.
///
/// The phases of a version change: [`prepare`](Target::prepare) does
/// everything that does not touch traffic (compile, load beside the running
/// version, fill tables); [`commit`](Target::commit) switches traffic to it;
/// [`rollback`](Target::rollback) undoes a prepare or a commit so that the
/// previous version runs again; [`finish`](Target::finish) drops the previous
/// version once every placement committed.
pub trait Target {
    /// The placements this target holds.
    fn placements(&self) -> Vec<PlacementId>;
    fn prepare(&mut self, desired: &Desired) -> Result<(), TargetError>;
    fn commit(&mut self) -> Result<(), TargetError>;
    /// Best effort, never fails: what it cannot undo it logs.
    fn rollback(&mut self);
    fn finish(&mut self) -> Result<(), TargetError>;
    /// Reads every placement back from the device. `desired` gives the
    /// module to decode tables with.
    fn observe(&mut self, desired: &Desired) -> Result<Vec<Observed>, TargetError>;
    /// Applies entry operations as one batch, all of them or none; `desired`
    /// is the state they lead to (a target may simply make its tables equal
    /// to it, which is what the operations do).
    fn write_entries(&mut self, desired: &Desired, ops: &[EntryOp]) -> Result<(), TargetError>;
    /// Repairs the entries of one of this target's placements (the others
    /// are in sync); by default the same as [`write_entries`](Target::write_entries).
    fn repair_entries(
        &mut self,
        desired: &Desired,
        placement: &PlacementId,
        ops: &[EntryOp],
    ) -> Result<(), TargetError> {
        let _ = placement;
        self.write_entries(desired, ops)
    }
    /// Can a version change run without losing packets here? (BMv2: no —
    /// its tables start empty after a pipeline swap.)
    fn hitless_program_change(&self) -> bool {
        true
    }
}
