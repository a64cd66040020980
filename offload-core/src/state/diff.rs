//! Desired vs observed → drift. Canonical on both sides: an entry is known by
//! its match and priority (its identity in every target's table), and is
//! changed when its action, arguments or meter rate differ. Representation differences
//! (wildcards omitted or spelled out, priorities translated per target) are
//! the drivers' job to normalise before they report an [`Observed`].

use super::desired::{Desired, TableDesired};
use super::observed::{Observed, ProgramState, TableObserved};
use crate::ir::{ActionCall, Entry, KeyMatch};

/// One difference between what should run and what runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Nothing runs where the module should.
    ProgramMissing,
    /// Our program runs, but another version of it.
    ProgramOutdated {
        running: String,
    },
    /// Our program is loaded but its link is gone: no traffic reaches it.
    LinkGone {
        identity: String,
    },
    /// Something else took the placement; offload does not own it.
    ProgramReplaced {
        found: String,
    },
    EntryMissing {
        table: String,
        entry: Entry,
    },
    EntryExtra {
        table: String,
        entry: Entry,
    },
    EntryChanged {
        table: String,
        want: Entry,
        have: Entry,
    },
    DefaultChanged {
        table: String,
        want: ActionCall,
        have: ActionCall,
    },
    /// A table the module has and the device does not show.
    TableMissing {
        table: String,
    },
}

impl Drift {
    /// Drift of the program itself (a reload repairs it), not of entries.
    pub fn is_program(&self) -> bool {
        matches!(
            self,
            Drift::ProgramMissing
                | Drift::ProgramOutdated { .. }
                | Drift::LinkGone { .. }
                | Drift::ProgramReplaced { .. }
                | Drift::TableMissing { .. }
        )
    }
}

/// Entries by identity (an entry's identity in its table: its match and
/// priority), for O(1) look-ups (tables hold up to 10^6 entries:
/// a scan per entry made every reconcile pass quadratic).
pub(crate) fn by_identity(
    entries: &[Entry],
) -> std::collections::HashMap<(Option<u32>, &[KeyMatch]), &Entry> {
    let mut m = std::collections::HashMap::with_capacity(entries.len());
    for e in entries {
        // The first of two equal identities wins, as `find` did.
        m.entry((e.priority, e.matches.as_slice())).or_insert(e);
    }
    m
}

/// An order on identities, so that drift comes out in a stable order.
pub(crate) fn identity_key(e: &Entry) -> (Option<u32>, Vec<(u8, u128, u128)>) {
    let m = e
        .matches
        .iter()
        .map(|k| match *k {
            KeyMatch::Exact(v) => (0, v, 0),
            KeyMatch::Lpm { value, prefix_len } => (1, value, u128::from(prefix_len)),
            KeyMatch::Ternary { value, mask } => (2, value, mask),
            KeyMatch::Range { lo, hi } => (3, lo, hi),
        })
        .collect();
    (e.priority, m)
}

/// Drift between one table's desired entries and what the device holds.
pub fn table_drift(name: &str, want: &TableDesired, have: &TableObserved) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut want_sorted: Vec<&Entry> = want.entries.iter().collect();
    want_sorted.sort_by_key(|e| identity_key(e));
    let have_ix = by_identity(&have.entries);
    let want_ix = by_identity(&want.entries);
    for w in want_sorted {
        match have_ix.get(&(w.priority, w.matches.as_slice())).copied() {
            None => out.push(Drift::EntryMissing {
                table: name.into(),
                entry: w.clone(),
            }),
            // A metered entry's rate is part of what it does.
            Some(h) if h.action != w.action || h.meter != w.meter => {
                out.push(Drift::EntryChanged {
                    table: name.into(),
                    want: w.clone(),
                    have: h.clone(),
                })
            }
            Some(_) => {}
        }
    }
    let mut have_sorted: Vec<&Entry> = have.entries.iter().collect();
    have_sorted.sort_by_key(|e| identity_key(e));
    for h in have_sorted {
        if !want_ix.contains_key(&(h.priority, h.matches.as_slice())) {
            out.push(Drift::EntryExtra {
                table: name.into(),
                entry: h.clone(),
            });
        }
    }
    if let Some(d) = &have.default {
        if *d != want.default {
            out.push(Drift::DefaultChanged {
                table: name.into(),
                want: want.default.clone(),
                have: d.clone(),
            });
        }
    }
    out
}

/// Everything that differs between `desired` and one placement's read-back.
/// Program drift comes alone: a reload rewrites every table anyway.
pub fn diff(desired: &Desired, observed: &Observed) -> Vec<Drift> {
    match &observed.program {
        ProgramState::Absent => return vec![Drift::ProgramMissing],
        ProgramState::Foreign { identity } => {
            return vec![Drift::ProgramReplaced {
                found: identity.clone(),
            }]
        }
        ProgramState::Detached { identity } => {
            return vec![Drift::LinkGone {
                identity: identity.clone(),
            }]
        }
        ProgramState::Ours { digest, identity } if *digest != desired.version.digest => {
            return vec![Drift::ProgramOutdated {
                running: format!("{identity} (version {digest})"),
            }]
        }
        ProgramState::Ours { .. } => {}
    }
    let mut out = Vec::new();
    for (name, want) in &desired.tables {
        match observed.tables.get(name) {
            Some(have) => out.extend(table_drift(name, want, have)),
            None => out.push(Drift::TableMissing {
                table: name.clone(),
            }),
        }
    }
    out
}

impl Drift {
    /// The drift in the module's own syntax
    /// (`table routes: entry missing ipv4.dst=10.0.1.0/24 -> route { … }`).
    pub fn describe(&self, module: &crate::ir::Module) -> String {
        let entry = |table: &str, e: &Entry| match module.table_by_name(table) {
            Some(t) => {
                let keys: Vec<String> = t
                    .keys
                    .iter()
                    .zip(&e.matches)
                    .map(|(k, m)| {
                        format!("{}={}", k.field, crate::spec::print::key_match(k.field, m))
                    })
                    .collect();
                let prio = e
                    .priority
                    .map(|p| format!(" priority {p}"))
                    .unwrap_or_default();
                format!(
                    "{}{prio} -> {}",
                    keys.join(" "),
                    crate::spec::print::call(module, &e.action)
                )
            }
            None => short(e),
        };
        match self {
            Drift::EntryMissing { table, entry: e } => {
                format!("table {table}: entry missing: {}", entry(table, e))
            }
            Drift::EntryExtra { table, entry: e } => {
                format!("table {table}: extra entry: {}", entry(table, e))
            }
            Drift::EntryChanged { table, want, have } => format!(
                "table {table}: entry changed: {} (want {})",
                entry(table, have),
                crate::spec::print::call(module, &want.action)
            ),
            Drift::DefaultChanged { table, want, have } => format!(
                "table {table}: default action {} (want {})",
                crate::spec::print::call(module, have),
                crate::spec::print::call(module, want)
            ),
            other => other.to_string(),
        }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::ProgramMissing => write!(f, "program missing"),
            Drift::ProgramOutdated { running } => write!(f, "another version runs: {running}"),
            Drift::LinkGone { identity } => {
                write!(f, "link gone ({identity} loaded, not attached)")
            }
            Drift::ProgramReplaced { found } => {
                write!(f, "program replaced by one offload does not own: {found}")
            }
            Drift::EntryMissing { table, entry } => {
                write!(f, "table {table}: entry missing {}", short(entry))
            }
            Drift::EntryExtra { table, entry } => {
                write!(f, "table {table}: extra entry {}", short(entry))
            }
            Drift::EntryChanged { table, want, have } => write!(
                f,
                "table {table}: entry {} has action {:?}, want {:?}",
                short(want),
                have.action,
                want.action
            ),
            Drift::DefaultChanged { table, want, have } => {
                write!(f, "table {table}: default action {have:?}, want {want:?}")
            }
            Drift::TableMissing { table } => write!(f, "table {table} missing on the device"),
        }
    }
}

fn short(e: &Entry) -> String {
    let m: Vec<String> = e.matches.iter().map(|k| format!("{k:?}")).collect();
    match e.priority {
        Some(p) => format!("[{}] priority {p}", m.join(", ")),
        None => format!("[{}]", m.join(", ")),
    }
}
