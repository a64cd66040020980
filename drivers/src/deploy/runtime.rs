//! Entries of a deployed module at run time, on every placement at once.
//!
//! Every entry is validated against the module and the table's other entries
//! first; then each placement's maps move from the old to the new entry set
//! (a diff through the layout). A refusal at any point — validation, an
//! unbound port, the kernel — leaves every placement's tables as they were.

use super::state::{Roots, State, TableState};
use super::{module_of, open_gen_maps, placement_layout, table_fds, DeployError};
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

/// The first table (and why) whose new entries some placement's program has
/// no room for: more counter slots or tuple-space masks than it was built
/// with (programs are sized to their entries, see `deploy::sized_target`).
fn outgrown(
    st: &State,
    m: &Module,
    lists: &BTreeMap<String, Vec<(Entry, u32, bool)>>,
) -> Option<String> {
    for pl in &st.placements {
        let layout = placement_layout(m, pl);
        for (tname, list) in lists {
            let Some(t) = m.table_by_name(tname) else {
                continue;
            };
            let tl = layout.table(t.id);
            let need = tl.need(t, list.iter().map(|(e, s, _)| (e, *s)));
            if !tl.holds(t, need) {
                return Some(format!(
                    "table {tname} on {}: {} counter slots / {} masks needed, the program has {} / {}",
                    pl.iface,
                    need.slots,
                    need.masks,
                    tl.counter_room(),
                    tl.mask_room()
                ));
            }
        }
    }
    None
}

/// Moves the running version to a program with room for `lists` (every
/// other table keeps what it has): a hitless re-apply of the same module
/// text on the same placements, entries keeping their counter slots and
/// counters carried over, exactly as `apply` replaces a version. All or
/// none: a refusal leaves the running program and its entries as they were.
fn rebuild_with_room(
    roots: &Roots,
    st: &State,
    m: &Module,
    lists: &BTreeMap<String, Vec<(Entry, u32, bool)>>,
    batch: bool,
) -> Result<BTreeMap<String, WriteReport>, DeployError> {
    let entries: BTreeMap<String, Vec<Entry>> = m
        .tables
        .iter()
        .map(|t| {
            let list = match lists.get(&t.name) {
                Some(l) => l.iter().map(|(e, _, _)| e.clone()).collect(),
                None => table_entries(st, &t.name)
                    .into_iter()
                    .map(|(e, _, _)| e)
                    .collect(),
            };
            (t.name.clone(), list)
        })
        .collect();
    let offload_profile = st
        .placements
        .iter()
        .find(|p| p.mode == crate::load::Mode::Offload)
        .and_then(|p| offload_core::plan::Profile::by_name(&p.profile));
    let req = super::apply::HostRequest {
        module: m.clone(),
        source: st.source.clone(),
        source_path: st.source_path.clone(),
        on: st.placements.iter().map(|p| p.iface.clone()).collect(),
        ports: st.ports.clone(),
        modes: st
            .placements
            .first()
            .map(|p| vec![p.mode])
            .unwrap_or_default(),
        iface_modes: st
            .placements
            .iter()
            .map(|p| (p.iface.clone(), vec![p.mode]))
            .collect(),
        entries: Some(entries),
        replace_foreign: false,
        batch,
        roots: roots.clone(),
        offload_profile,
    };
    let mut staged = super::apply::prepare(req)?;
    if let Err(e) = staged.commit() {
        staged.rollback();
        return Err(e);
    }
    Ok(staged.finish()?.writes)
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
    /// Where the time went (phase, milliseconds), in order.
    pub phases: Vec<(&'static str, f64)>,
}

/// Phase timer: each `lap` records the time since the previous one.
struct Phases(Vec<(&'static str, f64)>, std::time::Instant);

impl Phases {
    fn start() -> Phases {
        Phases(Vec::new(), std::time::Instant::now())
    }

    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.0.push((name, (now - self.1).as_secs_f64() * 1e3));
        self.1 = now;
    }
}

/// The tables after adding `new_entries` to what `st` records (every entry
/// validated against the table's entries and those added before it), and the
/// counter slots the new entries take (the lowest free one each). Linear in
/// the table size: hash sets of keys, priorities and slots, built once per
/// table — a scan per new entry made `entries load` of 10^4 routes take
/// seconds and 10^6 most of a day.
#[allow(clippy::type_complexity)]
pub fn plan_add(
    m: &Module,
    st: &State,
    new_entries: &[(String, Entry)],
) -> Result<
    (
        BTreeMap<String, Vec<(Entry, u32, bool)>>,
        BTreeMap<String, Vec<u32>>,
    ),
    DeployError,
> {
    plan_write(m, st, new_entries, false)
}

/// [`plan_add`], where with `replace` an entry whose matches a table already
/// holds takes that entry's place (same priority required, same counter
/// slot, so its counters go on) instead of being refused as a duplicate:
/// written over the same map key, a replacement is hitless.
#[allow(clippy::type_complexity)]
pub fn plan_write(
    m: &Module,
    st: &State,
    new_entries: &[(String, Entry)],
    replace: bool,
) -> Result<
    (
        BTreeMap<String, Vec<(Entry, u32, bool)>>,
        BTreeMap<String, Vec<u32>>,
    ),
    DeployError,
> {
    struct Table {
        list: Vec<(Entry, u32, bool)>,
        checker: entries::Checker,
        slots: entries::SlotAllocator,
        /// Matches → index in `list` (only when replacing).
        at: std::collections::HashMap<Vec<KeyMatch>, usize>,
    }
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut fresh: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (tname, e) in new_entries {
        let t = entries::table(m, tname)?;
        let tb = tables.entry(tname.clone()).or_insert_with(|| {
            let list = table_entries(st, tname);
            Table {
                checker: entries::Checker::new(list.iter().map(|(e, _, _)| e)),
                slots: entries::SlotAllocator::new(list.iter().map(|(_, s, _)| *s)),
                at: if replace {
                    list.iter()
                        .enumerate()
                        .map(|(i, (e, _, _))| (e.matches.clone(), i))
                        .collect()
                } else {
                    Default::default()
                },
                list,
            }
        });
        if let Some(&i) = tb.at.get(&e.matches) {
            entries::validate_shape(m, t, e)?;
            if tb.list[i].0.priority != e.priority {
                return Err(EntryError::Invalid {
                    table: t.name.clone(),
                    message:
                        "a replacement keeps the entry's priority (delete and add to change it)"
                            .into(),
                }
                .into());
            }
            tb.list[i].0 = e.clone();
            tb.list[i].2 = true;
            continue;
        }
        tb.checker.check(m, t, e)?;
        let slot = tb.slots.take(t.size).ok_or_else(|| EntryError::Full {
            table: t.name.clone(),
            size: t.size,
        })?;
        if replace {
            tb.at.insert(e.matches.clone(), tb.list.len());
        }
        tb.list.push((e.clone(), slot, true));
        fresh.entry(tname.clone()).or_default().push(slot);
    }
    Ok((
        tables.into_iter().map(|(k, t)| (k, t.list)).collect(),
        fresh,
    ))
}

/// Adds entries (all or none).
pub fn add(
    roots: &Roots,
    module: Option<&str>,
    new_entries: &[(String, Entry)],
    batch: bool,
) -> Result<EntriesReport, DeployError> {
    add_reporting(roots, module, new_entries, batch, &mut |_| {})
}

/// [`add`], calling `on_phase` as each phase starts (`validate`, `diff`,
/// `map write`, `state save`): a long load shows where it is.
pub fn add_reporting(
    roots: &Roots,
    module: Option<&str>,
    new_entries: &[(String, Entry)],
    batch: bool,
    on_phase: &mut dyn FnMut(&'static str),
) -> Result<EntriesReport, DeployError> {
    write_reporting(roots, module, new_entries, batch, false, on_phase)
}

/// [`add_reporting`]; with `replace`, entries whose matches exist take their
/// place (see [`plan_write`]): e.g. a group's buckets given new members,
/// each bucket's map element overwritten in place, none ever missing.
pub fn write_reporting(
    roots: &Roots,
    module: Option<&str>,
    new_entries: &[(String, Entry)],
    batch: bool,
    replace: bool,
    on_phase: &mut dyn FnMut(&'static str),
) -> Result<EntriesReport, DeployError> {
    let mut phases = Phases::start();
    let mut st = super::pick_module(roots, module)?;
    let m = module_of(&st)?;
    phases.lap("state read");
    on_phase("validate");
    let (lists, fresh) = plan_write(&m, &st, new_entries, replace)?;
    phases.lap("validate");
    on_phase("diff");
    // Ports the new entries send to must be bound.
    let bound = super::ports::resolve(&m, &st.ports)?;
    let plain: BTreeMap<String, Vec<Entry>> = lists
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|(e, _, _)| e.clone()).collect()))
        .collect();
    super::ports::check_bound(&m, &bound, &super::ports::used_ports(&m, &plain))?;
    if let Some(why) = outgrown(&st, &m, &lists) {
        phases.lap("diff");
        on_phase("rebuild with more room");
        tracing::info!(module = %st.module, %why, "rebuilding the program with more room");
        let writes = rebuild_with_room(roots, &st, &m, &lists, batch)?;
        phases.lap("rebuild with more room");
        return Ok(EntriesReport {
            module: st.module.clone(),
            added: new_entries.len(),
            deleted: 0,
            placements: st.placements.len(),
            writes,
            phases: phases.0,
        });
    }
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
    phases.lap("diff");
    on_phase("map write");
    let writes = apply_changes(roots, &st, &m, &changes, batch)?;
    phases.lap("map write");
    on_phase("state save");
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
    phases.lap("state save");
    Ok(EntriesReport {
        module: st.module.clone(),
        added: new_entries.len(),
        deleted: 0,
        placements: st.placements.len(),
        writes,
        phases: phases.0,
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
        phases: Vec::new(),
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
            // One batch update for all of them: a syscall per slot was a
            // second per 10^6 entries.
            if let (Some(cfd), Some(name)) = (fds.counters, &tl.counters_map) {
                if !c.fresh.is_empty() {
                    let zero = vec![0u8; counter_value_size(sys, cfd)];
                    let elems: Vec<(Vec<u8>, Vec<u8>)> = c
                        .fresh
                        .iter()
                        .map(|s| (s.to_ne_bytes().to_vec(), zero.clone()))
                        .collect();
                    write::write_elements(sys, name, cfd, &elems, batch && elems.len() > 1)
                        .map_err(|source| DeployError::Fill {
                            module: st.module.clone(),
                            iface: pl.iface.clone(),
                            source,
                        })?;
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
    let outgrown_by = outgrown(&st, &m, &lists);
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
        // Hash sets, not scans (tables hold up to 10^6 entries).
        let old_slots: std::collections::HashSet<u32> = old.iter().map(|(_, s)| *s).collect();
        let fresh: Vec<u32> = new
            .iter()
            .filter(|(_, s)| !old_slots.contains(s))
            .map(|(_, s)| *s)
            .collect();
        let old_set: std::collections::HashSet<_> = old.iter().map(ident).collect();
        let new_set: std::collections::HashSet<_> = new.iter().map(ident).collect();
        added += new.iter().filter(|x| !old_set.contains(&ident(x))).count();
        deleted += old.iter().filter(|x| !new_set.contains(&ident(x))).count();
        changes.push(Change {
            table: t.clone(),
            old,
            new,
            fresh,
        });
    }
    if let Some(why) = outgrown_by {
        tracing::info!(module = %st.module, %why, "rebuilding the program with more room");
        let writes = rebuild_with_room(roots, &st, &m, &lists, batch)?;
        return Ok(EntriesReport {
            module: st.module.clone(),
            added,
            deleted,
            placements: st.placements.len(),
            writes,
            phases: Vec::new(),
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
        phases: Vec::new(),
    })
}

/// What makes an entry the same element in a table image: matches,
/// priority, action and counter slot (not where its text came from).
type Ident<'a> = (
    &'a [KeyMatch],
    Option<u32>,
    &'a offload_core::ir::ActionCall,
    u32,
);

fn ident((e, s): &(Entry, u32)) -> Ident<'_> {
    (&e.matches, e.priority, &e.action, *s)
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

/// Bytes of one counter slot as user space writes it: (packets, bytes) per
/// possible CPU for a per-CPU array, one pair for a shared (offloaded) one.
fn counter_value_size(sys: &dyn sys::Bpf, fd: std::os::fd::BorrowedFd<'_>) -> usize {
    match sys::map_info(sys, fd) {
        Ok(i) if i.map_type != sys::map_type::PERCPU_ARRAY => i.value_size as usize,
        _ => 16 * sys::possible_cpus(),
    }
}
