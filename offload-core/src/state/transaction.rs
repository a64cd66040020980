//! One transaction across placements: prepare every target, then commit
//! every target; on any failure roll back every target touched, in reverse,
//! so that the old version keeps running everywhere. Entry changes follow the
//! same rule: on every placement or on none (P4Runtime's ROLLBACK_ON_ERROR is
//! the model: each target writes its batch atomically, and a target that
//! refuses makes the others undo theirs).

use super::desired::{Desired, PlacementId};
use super::ops::{inverse, EntryOp};

use super::target::{Target, TargetError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("preparing {}: {error}; nothing was switched, the old version runs everywhere", error.placement)]
    Prepare { error: TargetError },
    #[error("committing {}: {error}; rolled back {rolled_back:?}: the old version runs everywhere", error.placement)]
    Commit {
        error: TargetError,
        rolled_back: Vec<PlacementId>,
    },
    #[error("writing entries on {}: {error}; undone on {undone:?}, nothing changed anywhere{}", error.placement,
        if undo_failed.is_empty() { String::new() } else { format!(" except where the undo failed: {}", undo_failed.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")) })]
    Entries {
        error: TargetError,
        undone: Vec<PlacementId>,
        undo_failed: Vec<TargetError>,
    },
}

/// What a successful apply did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    pub committed: Vec<PlacementId>,
    /// `finish` failures: the new version runs, the old one was not fully
    /// cleaned up (logged, not fatal).
    pub cleanup_errors: Vec<TargetError>,
}

fn ids(targets: &[&mut dyn Target], upto: usize) -> Vec<PlacementId> {
    targets[..upto]
        .iter()
        .flat_map(|t| t.placements())
        .collect()
}

/// Prepare all → commit all | roll back all.
pub fn apply(targets: &mut [&mut dyn Target], desired: &Desired) -> Result<ApplyOutcome, TxError> {
    for i in 0..targets.len() {
        if let Err(error) = targets[i].prepare(desired) {
            // The one that failed cleans up its own half-prepared state too.
            for t in targets[..=i].iter_mut().rev() {
                t.rollback();
            }
            return Err(TxError::Prepare { error });
        }
    }
    for i in 0..targets.len() {
        if let Err(error) = targets[i].commit() {
            // Every target was prepared: roll all of them back (the failing
            // one may have half-committed; the rest only drop what they
            // prepared).
            for t in targets.iter_mut().rev() {
                t.rollback();
            }
            let rolled_back = ids(targets, i);
            tracing::warn!(%error, ?rolled_back, "commit failed; rolled back");
            return Err(TxError::Commit { error, rolled_back });
        }
        tracing::info!(placements = ?targets[i].placements(), version = %desired.version.number, "committed");
    }
    let mut out = ApplyOutcome {
        committed: ids(targets, targets.len()),
        cleanup_errors: Vec::new(),
    };
    for t in targets.iter_mut() {
        if let Err(e) = t.finish() {
            tracing::warn!(error = %e, "cleanup of the previous version failed");
            out.cleanup_errors.push(e);
        }
    }
    Ok(out)
}

/// Moves every target's entries from `before` to `after` (same module
/// version), on every target or on none. Each target gets the operations and
/// the desired state they lead to; a target that refuses makes those already
/// changed apply the inverse, back to `before`.
pub fn change_entries(
    targets: &mut [&mut dyn Target],
    before: &Desired,
    after: &Desired,
) -> Result<Vec<EntryOp>, TxError> {
    let ops = super::ops::entry_ops(&before.tables, &after.tables);
    if ops.is_empty() {
        return Ok(ops);
    }
    for i in 0..targets.len() {
        if let Err(error) = targets[i].write_entries(after, &ops) {
            let undo = inverse(&ops);
            let mut undone = Vec::new();
            let mut undo_failed = Vec::new();
            for t in targets[..i].iter_mut().rev() {
                match t.write_entries(before, &undo) {
                    Ok(()) => undone.extend(t.placements()),
                    Err(e) => undo_failed.push(e),
                }
            }
            return Err(TxError::Entries {
                error,
                undone,
                undo_failed,
            });
        }
    }
    Ok(ops)
}
