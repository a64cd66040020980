//! Shared by the state-model tests on real targets (deploy_state,
//! deploy_switch): a target whose commit fails after the real thing, and
//! read-backs of a set of targets.

use offload_core::state::{
    self, Desired, Drift, EntryOp, Observed, PlacementId, ProgramState, Target, TargetError,
};

/// A real target whose commit reports failure after doing the real thing:
/// the transaction must roll it back like any other.
pub struct FailingCommit<T: Target>(pub T);

impl<T: Target> Target for FailingCommit<T> {
    fn placements(&self) -> Vec<PlacementId> {
        self.0.placements()
    }
    fn prepare(&mut self, d: &Desired) -> Result<(), TargetError> {
        self.0.prepare(d)
    }
    fn commit(&mut self) -> Result<(), TargetError> {
        self.0.commit()?;
        Err(TargetError::new(
            &self.0.placements()[0],
            "injected failure after commit",
        ))
    }
    fn rollback(&mut self) {
        self.0.rollback()
    }
    fn finish(&mut self) -> Result<(), TargetError> {
        self.0.finish()
    }
    fn observe(&mut self, d: &Desired) -> Result<Vec<Observed>, TargetError> {
        self.0.observe(d)
    }
    fn write_entries(&mut self, d: &Desired, ops: &[EntryOp]) -> Result<(), TargetError> {
        self.0.write_entries(d, ops)
    }
}

/// The version digest every placement runs, read back (`None`: not ours).
pub fn running(targets: &mut [&mut dyn Target], d: &Desired) -> Vec<Option<String>> {
    targets
        .iter_mut()
        .flat_map(|t| t.observe(d).unwrap())
        .map(|o| match o.program {
            ProgramState::Ours { digest, .. } => Some(digest),
            _ => None,
        })
        .collect()
}

/// Every drift of every placement against `d` (empty: in sync).
pub fn drift(targets: &mut [&mut dyn Target], d: &Desired) -> Vec<(PlacementId, Drift)> {
    let mut out = Vec::new();
    for t in targets.iter_mut() {
        for o in t.observe(d).unwrap() {
            for dr in state::diff(d, &o) {
                out.push((o.placement.clone(), dr));
            }
        }
    }
    out
}

/// The example with one route changed: another version of the module.
pub fn second_version(src: &str) -> String {
    src.replace("198.51.100.7", "198.51.100.8")
}
