//! What a placement reports, read back from the device itself (kernel maps
//! and links, switch tables and pipeline cookie) — never from our own records.

use super::desired::PlacementId;
use crate::ir::{ActionCall, Entry};
use std::collections::BTreeMap;

/// The program a placement runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramState {
    /// Nothing of ours and nothing foreign.
    Absent,
    /// Ours: the module version digest it was built from, and how the device
    /// names it (program id and tag, pipeline cookie).
    Ours { digest: String, identity: String },
    /// Our program is loaded but no longer attached (the link is gone).
    Detached { identity: String },
    /// Something offload did not put there.
    Foreign { identity: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableObserved {
    pub entries: Vec<Entry>,
    /// `None` where the device cannot say (the default is then not diffed).
    pub default: Option<ActionCall>,
    /// Packets and bytes per entry (same order as `entries`) and for the
    /// default action, where the table counts.
    pub counters: Vec<(u64, u64)>,
    pub default_counter: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub placement: PlacementId,
    pub program: ProgramState,
    /// Tables as the device holds them (empty when the program is not ours).
    pub tables: BTreeMap<String, TableObserved>,
}
