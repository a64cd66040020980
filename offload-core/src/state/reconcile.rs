//! Drift → repairs. Level-triggered: observe afresh, diff, repair what differs;
//! running it twice does nothing more. Only what offload owns is repaired: a
//! placement another program took over is reported and left alone.

use super::desired::{Desired, PlacementId};
use super::diff::{diff, Drift};
use super::observed::Observed;
use super::ops::EntryOp;
use super::target::{Target, TargetError};
use super::transaction;

/// What to do about one placement's drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Load the desired version again on this placement (program drift).
    Reload {
        placement: PlacementId,
        because: Vec<Drift>,
    },
    /// Entry operations that bring the tables back.
    Entries {
        placement: PlacementId,
        ops: Vec<EntryOp>,
    },
    /// Not ours to repair (boxed: a drift holds whole entries).
    LeaveAlone {
        placement: PlacementId,
        because: Box<Drift>,
    },
}

/// The repairs for a set of observations (pure).
pub fn plan_repairs(desired: &Desired, observed: &[Observed]) -> Vec<Repair> {
    let mut out = Vec::new();
    for o in observed {
        let drift = diff(desired, o);
        if drift.is_empty() {
            continue;
        }
        if let Some(d) = drift
            .iter()
            .find(|d| matches!(d, Drift::ProgramReplaced { .. }))
        {
            out.push(Repair::LeaveAlone {
                placement: o.placement.clone(),
                because: Box::new(d.clone()),
            });
            continue;
        }
        if drift.iter().any(Drift::is_program) {
            out.push(Repair::Reload {
                placement: o.placement.clone(),
                because: drift,
            });
            continue;
        }
        let ops = drift
            .into_iter()
            .filter_map(|d| match d {
                Drift::EntryMissing { table, entry } => Some(EntryOp::Insert { table, entry }),
                Drift::EntryExtra { table, entry } => Some(EntryOp::Delete { table, entry }),
                Drift::EntryChanged { table, want, have } => Some(EntryOp::Modify {
                    table,
                    entry: want,
                    before: have,
                }),
                Drift::DefaultChanged { table, want, have } => Some(EntryOp::SetDefault {
                    table,
                    action: want,
                    before: have,
                }),
                _ => None,
            })
            .collect::<Vec<_>>();
        // Deletes first, as in `entry_ops`: a full table must make room.
        let mut ops = ops;
        ops.sort_by_key(|op| match op {
            EntryOp::Delete { .. } => 0,
            EntryOp::Modify { .. } | EntryOp::SetDefault { .. } => 1,
            EntryOp::Insert { .. } => 2,
        });
        out.push(Repair::Entries {
            placement: o.placement.clone(),
            ops,
        });
    }
    out
}

/// One pass of reconciliation over every target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    pub drift: Vec<(PlacementId, Drift)>,
    pub repaired: Vec<Repair>,
    pub left_alone: Vec<Repair>,
    pub failed: Vec<TargetError>,
    /// Per target, in order: what the pass observed when nothing was
    /// written to it (no repair, no failure), so that observation is still
    /// what runs and a caller can use it instead of reading back again;
    /// `None` when the caller must read it back.
    pub current: Vec<Option<Vec<Observed>>>,
}

impl RepairReport {
    pub fn in_sync(&self) -> bool {
        self.drift.is_empty()
    }
}

/// Observes every target, repairs what drifted. A target that cannot be
/// observed or repaired is reported; the others are still repaired.
pub fn reconcile(targets: &mut [&mut dyn Target], desired: &Desired) -> RepairReport {
    let mut report = RepairReport::default();
    for t in targets.iter_mut() {
        report.current.push(None);
        let mut observed = match t.observe(desired) {
            Ok(o) => o,
            Err(e) => {
                report.failed.push(e);
                continue;
            }
        };
        for o in &observed {
            for d in diff(desired, o) {
                report.drift.push((o.placement.clone(), d));
            }
        }
        let repairs = plan_repairs(desired, &observed);
        if repairs
            .iter()
            .all(|r| matches!(r, Repair::LeaveAlone { .. }))
        {
            if let Some(c) = report.current.last_mut() {
                // Nothing below reads it: no reload, no entry repair.
                *c = Some(std::mem::take(&mut observed));
            }
        }
        // A target reloads as a whole (its placements share one program
        // version); entry repairs are per placement but written as one batch.
        let reload = repairs.iter().any(|r| matches!(r, Repair::Reload { .. }));
        if reload {
            let mut one: [&mut dyn Target; 1] = [&mut **t];
            match transaction::apply(&mut one, desired) {
                Ok(_) => {
                    for r in repairs {
                        tracing::info!(repair = ?r, "repaired");
                        match r {
                            Repair::LeaveAlone { .. } => report.left_alone.push(r),
                            _ => report.repaired.push(r),
                        }
                    }
                }
                Err(e) => report.failed.push(match e {
                    transaction::TxError::Prepare { error }
                    | transaction::TxError::Commit { error, .. }
                    | transaction::TxError::Entries { error, .. } => error,
                }),
            }
            continue;
        }
        for r in repairs {
            match &r {
                Repair::Entries { ops, placement } => {
                    match t.repair_entries(desired, placement, ops) {
                        Ok(()) => {
                            tracing::info!(%placement, ops = ops.len(), "repaired entries");
                            report.repaired.push(r);
                        }
                        Err(e) => report.failed.push(e),
                    }
                }
                Repair::LeaveAlone { placement, because } => {
                    tracing::warn!(%placement, %because, "drift left alone: offload does not own it");
                    report.left_alone.push(r);
                }
                // Handled above: a target with a reload reloads as a whole.
                Repair::Reload { .. } => {}
            }
        }
    }
    report
}
