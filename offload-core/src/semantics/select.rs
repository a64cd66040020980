//! Entry selection within one table (the rule in [`super`]).

use crate::ir::{KeyMatch, MatchKind, Table};

/// The index of the entry that wins for these key values (one per key, in key
/// order), or `None` on a miss.
///
/// - any `ternary`/`range` key: highest priority among matching entries
///   (priorities are unique; an entry without one counts as 0);
/// - else an `lpm` key: longest prefix among matching entries (first in
///   `entries` order on a tie, which a valid module cannot have);
/// - else: the first entry whose values are all equal.
pub fn select(table: &Table, values: &[u128]) -> Option<usize> {
    let matching = table.entries.iter().enumerate().filter(|(_, e)| {
        e.matches.len() == table.keys.len()
            && e.matches
                .iter()
                .zip(&table.keys)
                .zip(values)
                .all(|((m, k), v)| m.matches(*v, k.field.width()))
    });
    if table.needs_priority() {
        // max_by_key returns the last maximum; reverse keeps the first on ties.
        matching
            .rev()
            .max_by_key(|(_, e)| e.priority.unwrap_or(0))
            .map(|(i, _)| i)
    } else if let Some(k) = table.lpm_key() {
        debug_assert_eq!(table.keys[k].kind, MatchKind::Lpm);
        matching
            .rev()
            .max_by_key(|(_, e)| match e.matches[k] {
                KeyMatch::Lpm { prefix_len, .. } => prefix_len,
                _ => 0,
            })
            .map(|(i, _)| i)
    } else {
        matching.map(|(i, _)| i).next()
    }
}
