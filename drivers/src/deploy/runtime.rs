//! Entries of a deployed module at run time, on every placement at once.
//!
//! Every entry is validated against the module and the table's other entries
//! first; then each placement's maps move from the old to the new entry set
//! (a diff through the layout). A refusal at any point — validation, an
//! unbound port, the kernel — leaves every placement's tables as they were.

use super::state::{Roots, State, TableState};
use super::{module_of, open_gen_maps, placement_layout, sys_err, table_fds, DeployError};
use crate::entries::record::EntryRecord;
use crate::entries::write::{self, WriteReport};
use crate::entries::{self, EntryError};
use crate::sys::{self, Kernel};
use offload_core::ir::{Entry, KeyMatch, Module};
use std::collections::BTreeMap;

/// One table's change: entries before and after (with slots).
struct Change {
    table: String,
    old: Vec<(Entry, u32)>,
    new: Vec<(Entry, u32)>,
    /// Slots that start counting from zero (new entries).
    fresh: Vec<u32>,
}

fn table_entries(st: &State, table: &str) -> Vec<(Entry, u32, bool)> {
    st.tables
        .get(table)
        .map(|ts| {
            ts.entries
                .iter()
                .filter_map(|r| r.to_entry().map(|(e, s)| (e, s, r.runtime)))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EntriesReport {
    pub module: String,
    pub added: usize,
    pub deleted: usize,
    pub placements: usize,
    /// Per table, the first placement's write report.
    pub writes: BTreeMap<String, WriteReport>,
}

/// Adds entries (all or none).
pub fn add(
    roots: &Roots,
    module: Option<&str>,
    new_entries: &[(String, Entry)],
    batch: bool,
) -> Result<EntriesReport, DeployError> {
    let mut st = super::pick_module(roots, module)?;
    let m = module_of(&st)?;
    let mut lists: BTreeMap<String, Vec<(Entry, u32, bool)>> = BTreeMap::new();
    let mut fresh: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (tname, e) in new_entries {
        let t = entries::table(&m, tname)?;
        let list = lists
            .entry(tname.clone())
            .or_insert_with(|| table_entries(&st, tname));
        let existing: Vec<Entry> = list.iter().map(|(e, _, _)| e.clone()).collect();
        entries::validate(&m, t, &existing, e)?;
        let used: Vec<u32> = list.iter().map(|(_, s, _)| *s).collect();
        let slot = entries::free_slot(&used, t.size).ok_or_else(|| EntryError::Full {
            table: t.name.clone(),
            size: t.size,
        })?;
        list.push((e.clone(), slot, true));
        fresh.entry(tname.clone()).or_default().push(slot);
    }
    // Ports the new entries send to must be bound.
    let bound = super::ports::resolve(&m, &st.ports)?;
    let plain: BTreeMap<String, Vec<Entry>> = lists
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|(e, _, _)| e.clone()).collect()))
        .collect();
    super::ports::check_bound(&m, &bound, &super::ports::used_ports(&m, &plain))?;
    let changes: Vec<Change> = lists
        .iter()
        .map(|(t, list)| Change {
            table: t.clone(),
            old: table_entries(&st, t)
                .into_iter()
                .map(|(e, s, _)| (e, s))
                .collect(),
            new: list.iter().map(|(e, s, _)| (e.clone(), *s)).collect(),
            fresh: fresh.get(t).cloned().unwrap_or_default(),
        })
        .collect();
    let writes = apply_changes(roots, &st, &m, &changes, batch)?;
    for (t, list) in lists {
        let ts = st
            .tables
            .entry(t.clone())
            .or_insert_with(TableState::default);
        for s in fresh.get(&t).into_iter().flatten() {
            ts.base.remove(s);
        }
        ts.entries = list
            .iter()
            .map(|(e, s, rt)| {
                let mut r = EntryRecord::from_entry(e, *s);
                r.runtime = *rt;
                r
            })
            .collect();
    }
    st.save(&roots.state_file(&st.module))?;
    Ok(EntriesReport {
        module: st.module.clone(),
        added: new_entries.len(),
        deleted: 0,
        placements: st.placements.len(),
        writes,
    })
}

/// Deletes the entry of `table` with these matches (and priority, if given).
pub fn delete(
    roots: &Roots,
    module: Option<&str>,
    table: &str,
    matches: &[KeyMatch],
    priority: Option<u32>,
) -> Result<EntriesReport, DeployError> {
    let mut st = super::pick_module(roots, module)?;
    let m = module_of(&st)?;
    let t = entries::table(&m, table)?;
    let list = table_entries(&st, table);
    let pos = list
        .iter()
        .position(|(e, _, _)| {
            e.matches == matches && (priority.is_none() || e.priority == priority)
        })
        .ok_or_else(|| EntryError::NotFound {
            table: t.name.clone(),
            what: t
                .keys
                .iter()
                .zip(matches)
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        k.field,
                        offload_core::spec::print::key_match(k.field, v)
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
        })?;
    let mut new = list.clone();
    let (_, slot, _) = new.remove(pos);
    let changes = vec![Change {
        table: table.into(),
        old: list.iter().map(|(e, s, _)| (e.clone(), *s)).collect(),
        new: new.iter().map(|(e, s, _)| (e.clone(), *s)).collect(),
        fresh: vec![],
    }];
    let writes = apply_changes(roots, &st, &m, &changes, false)?;
    let ts = st.tables.entry(table.into()).or_default();
    ts.base.remove(&slot);
    ts.entries = new
        .iter()
        .map(|(e, s, rt)| {
            let mut r = EntryRecord::from_entry(e, *s);
            r.runtime = *rt;
            r
        })
        .collect();
    st.save(&roots.state_file(&st.module))?;
    Ok(EntriesReport {
        module: st.module.clone(),
        added: 0,
        deleted: 1,
        placements: st.placements.len(),
        writes,
    })
}

/// Writes every change to every placement; on a refusal, placements already
/// changed are moved back.
fn apply_changes(
    roots: &Roots,
    st: &State,
    m: &Module,
    changes: &[Change],
    batch: bool,
) -> Result<BTreeMap<String, WriteReport>, DeployError> {
    let sys = &Kernel;
    let mut done: Vec<(usize, usize)> = Vec::new(); // (placement, change)
    let mut reports = BTreeMap::new();
    let mut result = Ok(());
    'outer: for (pi, pl) in st.placements.iter().enumerate() {
        let maps = open_gen_maps(sys, &roots.gen_dir(&st.module, &pl.iface, pl.gen))?;
        let layout = placement_layout(m, pl);
        for (ci, c) in changes.iter().enumerate() {
            let t = m.table_by_name(&c.table).expect("validated table");
            let tl = layout.table(t.id);
            let fds = table_fds(tl, &maps).map_err(|source| DeployError::Fill {
                module: st.module.clone(),
                iface: pl.iface.clone(),
                source,
            })?;
            // New entries' counter slots start from zero (a reused slot may
            // hold a deleted entry's counts). No entry uses them yet: no race.
            if let (Some(cfd), Some(name)) = (fds.counters, &tl.counters_map) {
                let zero = vec![0u8; 16 * sys::possible_cpus()];
                for s in &c.fresh {
                    sys::map_update(sys, cfd, &s.to_ne_bytes(), &zero, sys::BPF_ANY)
                        .map_err(sys_err(format!("zeroing counter slot {s} of {name}")))?;
                }
            }
            match write::change(sys, tl, t, fds, &c.old, &c.new, batch) {
                Ok(r) => {
                    if pi == 0 {
                        reports.insert(c.table.clone(), r);
                    }
                    done.push((pi, ci));
                }
                Err(source) => {
                    result = Err(DeployError::Fill {
                        module: st.module.clone(),
                        iface: pl.iface.clone(),
                        source,
                    });
                    break 'outer;
                }
            }
        }
    }
    if let Err(e) = result {
        for (pi, ci) in done.into_iter().rev() {
            let pl = &st.placements[pi];
            let c = &changes[ci];
            if let Ok(maps) = open_gen_maps(sys, &roots.gen_dir(&st.module, &pl.iface, pl.gen)) {
                let layout = placement_layout(m, pl);
                let t = m.table_by_name(&c.table).expect("validated table");
                if let Ok(fds) = table_fds(layout.table(t.id), &maps) {
                    let _ = write::change(sys, layout.table(t.id), t, fds, &c.new, &c.old, false);
                }
            }
        }
        return Err(e);
    }
    Ok(reports)
}

/// Makes the deployed entries equal to `tables` (all or none): entries that
/// stay keep their counter slots, the others are added or removed. A
/// deployment's entry change lands here on the host.
pub fn set_tables(
    roots: &Roots,
    module: &str,
    tables: &BTreeMap<String, Vec<Entry>>,
    batch: bool,
) -> Result<EntriesReport, DeployError> {
    let mut st = super::pick_module(roots, Some(module))?;
    let m = module_of(&st)?;
    for (tname, list) in tables {
        let t = entries::table(&m, tname)?;
        let mut seen = entries::Checker::new([]);
        for e in list {
            seen.check(&m, t, e)?;
        }
    }
    let lists = super::apply::given_entries(&m, Some(&st), tables);
    let bound = super::ports::resolve(&m, &st.ports)?;
    let plain: BTreeMap<String, Vec<Entry>> = lists
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|(e, _, _)| e.clone()).collect()))
        .collect();
    super::ports::check_bound(&m, &bound, &super::ports::used_ports(&m, &plain))?;
    let mut changes = Vec::new();
    let (mut added, mut deleted) = (0, 0);
    for (t, list) in &lists {
        let old: Vec<(Entry, u32)> = table_entries(&st, t)
            .into_iter()
            .map(|(e, s, _)| (e, s))
            .collect();
        let new: Vec<(Entry, u32)> = list.iter().map(|(e, s, _)| (e.clone(), *s)).collect();
        if old == new {
            continue;
        }
        let fresh: Vec<u32> = new
            .iter()
            .filter(|(_, s)| !old.iter().any(|(_, os)| os == s))
            .map(|(_, s)| *s)
            .collect();
        added += new.iter().filter(|n| !old.contains(n)).count();
        deleted += old.iter().filter(|o| !new.contains(o)).count();
        changes.push(Change {
            table: t.clone(),
            old,
            new,
            fresh,
        });
    }
    let writes = apply_changes(roots, &st, &m, &changes, batch)?;
    for c in &changes {
        let ts = st.tables.entry(c.table.clone()).or_default();
        for s in &c.fresh {
            ts.base.remove(s);
        }
        ts.entries = lists[&c.table]
            .iter()
            .map(|(e, s, rt)| {
                let mut r = EntryRecord::from_entry(e, *s);
                r.runtime = *rt;
                r
            })
            .collect();
    }
    st.save(&roots.state_file(&st.module))?;
    Ok(EntriesReport {
        module: st.module.clone(),
        added,
        deleted,
        placements: st.placements.len(),
        writes,
    })
}

/// Repairs the tables of one interface to what the state holds (drift found
/// by a read-back): see [`write::resync`].
pub fn resync(roots: &Roots, module: &str, iface: &str) -> Result<usize, DeployError> {
    let st = super::pick_module(roots, Some(module))?;
    let m = module_of(&st)?;
    let sys = &Kernel;
    let pl = st
        .placement(iface)
        .ok_or_else(|| DeployError::NoInterface {
            iface: iface.into(),
        })?;
    let maps = open_gen_maps(sys, &roots.gen_dir(&st.module, &pl.iface, pl.gen))?;
    let layout = placement_layout(&m, pl);
    let mut written = 0;
    for t in &m.tables {
        let tl = layout.table(t.id);
        let fill_err = |source| DeployError::Fill {
            module: st.module.clone(),
            iface: pl.iface.clone(),
            source,
        };
        let fds = table_fds(tl, &maps).map_err(fill_err)?;
        let list: Vec<(Entry, u32)> = table_entries(&st, &t.name)
            .into_iter()
            .map(|(e, s, _)| (e, s))
            .collect();
        let r = write::resync(sys, tl, t, fds, &list).map_err(fill_err)?;
        written += r.batched + r.one_by_one + r.deleted;
    }
    Ok(written)
}
