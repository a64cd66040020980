//! What runs where, read back from the kernel: per interface the attach mode,
//! program id and tag the kernel reports (never what the state believes), per
//! table the entries found in the maps and their counters. Differences from
//! the state are reported as drift.

use super::state::{Roots, State};
use super::{module_of, open_gen_maps, placement_layout, table_fds, DeployError};
use crate::entries::write;
use crate::load::{attach, observe, Mode};
use crate::sys::{Bpf, Kernel};
use offload_core::ir::{Entry, Module, Table};
use offload_core::spec::print;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, serde::Serialize)]
pub struct PlacementStatus {
    pub iface: String,
    /// What the state says we attached.
    pub expected_mode: Mode,
    pub expected_prog_id: u32,
    /// What the kernel reports on the interface for our hook (mode, id, name, tag).
    pub observed: Option<(Mode, observe::ProgRef)>,
    /// Our pinned link, as the kernel reports it.
    pub link_id: Option<u32>,
    pub drift: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryStatus {
    /// The entry in module syntax.
    pub text: String,
    pub slot: u32,
    pub runtime: bool,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TableStatus {
    pub name: String,
    pub entries: Vec<EntryStatus>,
    /// Counter of the default action (a miss).
    pub default_action: String,
    pub default_packets: Option<u64>,
    pub default_bytes: Option<u64>,
    /// Elements found in the entries map of each placement.
    pub elements: BTreeMap<String, usize>,
    pub drift: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleStatus {
    pub module: String,
    pub version: u64,
    pub source_path: Option<String>,
    pub ports: BTreeMap<String, String>,
    pub placements: Vec<PlacementStatus>,
    pub tables: Vec<TableStatus>,
}

impl ModuleStatus {
    pub fn has_drift(&self) -> bool {
        self.placements.iter().any(|p| !p.drift.is_empty())
            || self.tables.iter().any(|t| !t.drift.is_empty())
    }
}

/// An entry in module syntax: `ipv4.dst=10.0.0.0/8 prio 3 -> route { … }`.
pub fn entry_text(module: &Module, t: &Table, e: &Entry) -> String {
    let keys: Vec<String> = t
        .keys
        .iter()
        .zip(&e.matches)
        .map(|(k, m)| format!("{}={}", k.field, print::key_match(k.field, m)))
        .collect();
    let mut prio = e
        .priority
        .map(|p| format!(" priority {p}"))
        .unwrap_or_default();
    // A metered table's entries say their bucket (the table's, or their own).
    if let Some(r) = t.meter_rate(e) {
        let own = if e.meter.is_some() {
            ""
        } else {
            " (table default)"
        };
        prio.push_str(&format!(" meter {}/s burst {}{own}", r.rate, r.burst));
    }
    format!(
        "{}{prio} -> {}",
        keys.join(" "),
        print::call(module, &e.action)
    )
}

/// Status of every deployed module (or one).
pub fn status(roots: &Roots, module: Option<&str>) -> Result<Vec<ModuleStatus>, DeployError> {
    let states = match module {
        Some(m) => vec![super::pick_module(roots, Some(m))?],
        None => State::all(roots)?,
    };
    states
        .iter()
        .map(|s| status_of(&Kernel, roots, s))
        .collect()
}

fn status_of(sys: &dyn Bpf, roots: &Roots, st: &State) -> Result<ModuleStatus, DeployError> {
    let module = module_of(st)?;
    let mut placements = Vec::new();
    // Per table, per placement: packets and bytes by slot (None: no counters).
    type Counts = Vec<Option<Vec<(u64, u64)>>>;
    let mut counters: BTreeMap<String, Counts> = BTreeMap::new();
    let mut elements: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut table_drift: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pl in &st.placements {
        let mut drift = Vec::new();
        let observed = match observe::observe(&pl.iface) {
            Ok(o) => {
                let mine = o.in_mode(pl.mode).into_iter().next().cloned();
                if mine.is_none() {
                    if let Some((m, p)) = o.all().next() {
                        drift.push(format!(
                            "the kernel reports {} program id {} {:?} instead of ours ({} mode)",
                            m, p.id, p.name, pl.mode
                        ));
                    } else {
                        drift.push(format!(
                            "no program attached in {} mode (the kernel reports nothing)",
                            pl.mode
                        ));
                    }
                }
                mine.map(|p| (pl.mode, p))
            }
            Err(e) => {
                drift.push(format!("interface gone: {e}"));
                None
            }
        };
        if let Some((_, p)) = &observed {
            if p.id != pl.prog_id {
                drift.push(format!(
                    "program id {} runs, offload attached {}",
                    p.id, pl.prog_id
                ));
            }
            if !pl.prog_tag.is_empty() && p.tag != pl.prog_tag {
                drift.push(format!(
                    "program tag {} differs from ours {}",
                    p.tag, pl.prog_tag
                ));
            }
        }
        let link_id = match attach::pinned_link(sys, &roots.link_pin(&st.module, &pl.iface)) {
            Ok((_, info)) => {
                if info.prog_id != pl.prog_id {
                    drift.push(format!(
                        "our link {} runs program {} instead of {}",
                        info.id, info.prog_id, pl.prog_id
                    ));
                }
                Some(info.id)
            }
            Err(e) => {
                if pl.mode != Mode::Tc
                    || crate::load::observe::observe(&pl.iface)
                        .map(|o| o.tc.is_empty())
                        .unwrap_or(true)
                {
                    drift.push(format!("pinned link missing: {e}"));
                }
                None
            }
        };
        // Tables as the kernel holds them.
        let dir = roots.gen_dir(&st.module, &pl.iface, pl.gen);
        match open_gen_maps(sys, &dir) {
            Ok(maps) => {
                let layout = placement_layout(&module, pl);
                for t in &module.tables {
                    let tl = layout.table(t.id);
                    let Ok(fds) = table_fds(tl, &maps) else {
                        table_drift
                            .entry(t.name.clone())
                            .or_default()
                            .insert(format!("{}: maps missing", pl.iface));
                        continue;
                    };
                    let c = write::read_counters(sys, tl, fds).ok().flatten();
                    counters.entry(t.name.clone()).or_default().push(c);
                    let desired: Vec<(Entry, u32)> = st
                        .tables
                        .get(&t.name)
                        .map(|ts| ts.entries.iter().filter_map(|r| r.to_entry()).collect())
                        .unwrap_or_default();
                    match (
                        write::read_elements(sys, tl, fds),
                        write::image(tl, t, &desired),
                    ) {
                        (Ok(found), Ok(img)) => {
                            elements
                                .entry(t.name.clone())
                                .or_default()
                                .insert(pl.iface.clone(), found.len());
                            let mut want = img.entries.clone();
                            want.sort();
                            if found != want {
                                let f: BTreeSet<&Vec<u8>> = found.iter().map(|(k, _)| k).collect();
                                let w: BTreeSet<&Vec<u8>> = want.iter().map(|(k, _)| k).collect();
                                let missing = w.difference(&f).count();
                                let extra = f.difference(&w).count();
                                let changed = want.len().saturating_sub(missing).saturating_sub(
                                    found
                                        .iter()
                                        .filter(|x| want.binary_search(x).is_ok())
                                        .count(),
                                );
                                table_drift.entry(t.name.clone()).or_default().insert(format!(
                                    "{}: {missing} element(s) missing, {extra} unexpected, {changed} changed out of band",
                                    pl.iface
                                ));
                            }
                        }
                        (Err(e), _) => {
                            table_drift
                                .entry(t.name.clone())
                                .or_default()
                                .insert(format!("{}: cannot read entries: {e}", pl.iface));
                        }
                        (_, Err(e)) => {
                            table_drift
                                .entry(t.name.clone())
                                .or_default()
                                .insert(format!("{}: {e}", pl.iface));
                        }
                    }
                }
            }
            Err(e) => drift.push(format!(
                "pinned maps of generation {} unreadable: {e}",
                pl.gen
            )),
        }
        placements.push(PlacementStatus {
            iface: pl.iface.clone(),
            expected_mode: pl.mode,
            expected_prog_id: pl.prog_id,
            observed,
            link_id,
            drift,
        });
    }
    let mut tables = Vec::new();
    for t in &module.tables {
        let ts = st.tables.get(&t.name).cloned().unwrap_or_default();
        let per = counters.get(&t.name);
        let total = |slot: u32| -> Option<(u64, u64)> {
            let per = per?;
            let mut sum = ts.base.get(&slot).copied().unwrap_or((0, 0));
            let mut any = false;
            for c in per.iter().flatten() {
                if let Some(v) = c.get(slot as usize) {
                    sum.0 += v.0;
                    sum.1 += v.1;
                    any = true;
                }
            }
            (any || t.counters).then_some(sum)
        };
        let entries = ts
            .entries
            .iter()
            .filter_map(|r| {
                let (e, slot) = r.to_entry()?;
                let c = if t.counters { total(slot) } else { None };
                Some(EntryStatus {
                    text: entry_text(&module, t, &e),
                    slot,
                    runtime: r.runtime,
                    packets: c.map(|x| x.0),
                    bytes: c.map(|x| x.1),
                })
            })
            .collect();
        let d = if t.counters { total(t.size) } else { None };
        tables.push(TableStatus {
            name: t.name.clone(),
            entries,
            default_action: print::call(&module, &t.default_action),
            default_packets: d.map(|x| x.0),
            default_bytes: d.map(|x| x.1),
            elements: elements.remove(&t.name).unwrap_or_default(),
            drift: table_drift
                .remove(&t.name)
                .map(|s| s.into_iter().collect())
                .unwrap_or_default(),
        });
    }
    Ok(ModuleStatus {
        module: st.module.clone(),
        version: st.version,
        source_path: st.source_path.clone(),
        ports: st.ports.clone(),
        placements,
        tables,
    })
}
