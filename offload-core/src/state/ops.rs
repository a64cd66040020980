//! Entry operations: what turns one set of entries into another, on any
//! target; and the inverse, which undoes a change that landed on some
//! placements when a later one refused it.

use super::desired::TableDesired;
use super::diff::{by_identity, identity_key};
use crate::ir::{ActionCall, Entry};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOp {
    Insert {
        table: String,
        entry: Entry,
    },
    Delete {
        table: String,
        entry: Entry,
    },
    /// Same identity, another action: `before` is what runs now.
    Modify {
        table: String,
        entry: Entry,
        before: Entry,
    },
    SetDefault {
        table: String,
        action: ActionCall,
        before: ActionCall,
    },
}

impl EntryOp {
    pub fn table(&self) -> &str {
        match self {
            EntryOp::Insert { table, .. }
            | EntryOp::Delete { table, .. }
            | EntryOp::Modify { table, .. }
            | EntryOp::SetDefault { table, .. } => table,
        }
    }
}

/// The operations that turn `before` into `after`: deletes first (a table
/// that is full must make room), then modifications, then inserts.
pub fn entry_ops(
    before: &BTreeMap<String, TableDesired>,
    after: &BTreeMap<String, TableDesired>,
) -> Vec<EntryOp> {
    let (mut del, mut modi, mut ins) = (Vec::new(), Vec::new(), Vec::new());
    let empty = TableDesired {
        entries: Vec::new(),
        default: ActionCall {
            action: crate::ir::ActionId(0),
            args: Vec::new(),
        },
    };
    for (name, a) in after {
        let b = before.get(name).unwrap_or(&empty);
        let mut a_sorted: Vec<&Entry> = a.entries.iter().collect();
        a_sorted.sort_by_key(|e| identity_key(e));
        let b_ix = by_identity(&b.entries);
        let a_ix = by_identity(&a.entries);
        for e in a_sorted {
            match b_ix.get(&(e.priority, e.matches.as_slice())).copied() {
                None => ins.push(EntryOp::Insert {
                    table: name.clone(),
                    entry: e.clone(),
                }),
                Some(o) if o.action != e.action => modi.push(EntryOp::Modify {
                    table: name.clone(),
                    entry: e.clone(),
                    before: o.clone(),
                }),
                Some(_) => {}
            }
        }
        let mut b_sorted: Vec<&Entry> = b.entries.iter().collect();
        b_sorted.sort_by_key(|e| identity_key(e));
        for o in b_sorted {
            if !a_ix.contains_key(&(o.priority, o.matches.as_slice())) {
                del.push(EntryOp::Delete {
                    table: name.clone(),
                    entry: o.clone(),
                });
            }
        }
        if before.contains_key(name) && a.default != b.default {
            modi.push(EntryOp::SetDefault {
                table: name.clone(),
                action: a.default.clone(),
                before: b.default.clone(),
            });
        }
    }
    del.into_iter().chain(modi).chain(ins).collect()
}

/// The operations that undo `ops` (in reverse order).
pub fn inverse(ops: &[EntryOp]) -> Vec<EntryOp> {
    ops.iter()
        .rev()
        .map(|op| match op.clone() {
            EntryOp::Insert { table, entry } => EntryOp::Delete { table, entry },
            EntryOp::Delete { table, entry } => EntryOp::Insert { table, entry },
            EntryOp::Modify {
                table,
                entry,
                before,
            } => EntryOp::Modify {
                table,
                entry: before,
                before: entry,
            },
            EntryOp::SetDefault {
                table,
                action,
                before,
            } => EntryOp::SetDefault {
                table,
                action: before,
                before: action,
            },
        })
        .collect()
}
