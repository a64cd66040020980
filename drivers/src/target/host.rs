//! The host kernel as a target: every interface of a deployment that runs
//! in XDP (hardware offload, native, generic) or tc. An offloaded NIC is this
//! same target with the `offload` mode: the load path differs
//! (`load::offload`: `prog_ifindex`, maps on the device), the state model
//! does not.
//!
//! Prepare/commit/rollback/finish are [`crate::deploy::apply()`]'s phases; the
//! read-back decodes the kernel's maps (never our records) into entries.

use crate::deploy::apply::{self, HostRequest, Staged};
use crate::deploy::{open_gen_maps, placement_layout, runtime, table_fds, Roots, State};
use crate::entries::write;
use crate::load::{attach, observe, Mode};
use crate::sys::{self, Bpf, Kernel};
use offload_core::ir::{Entry, Module, Table};
use offload_core::state::{
    desired::digest, Desired, EntryOp, Observed, PlacementId, ProgramState, TableObserved, Target,
    TargetError,
};
use offload_ebpf::layout::TableLayout;
use std::collections::BTreeMap;

/// The host placements of one deployment.
pub struct HostTarget {
    pub roots: Roots,
    /// Interface → modes to try, most offloaded first.
    pub ifaces: Vec<(String, Vec<Mode>)>,
    /// Logical port → interface.
    pub ports: BTreeMap<String, String>,
    pub replace_foreign: bool,
    pub batch: bool,
    pub offload_profile: Option<offload_core::plan::Profile>,
    staged: Option<Staged>,
    /// The last apply's report (after finish).
    pub last_report: Option<apply::ApplyReport>,
}

impl HostTarget {
    pub fn new(
        roots: Roots,
        ifaces: Vec<(String, Vec<Mode>)>,
        ports: BTreeMap<String, String>,
    ) -> HostTarget {
        HostTarget {
            roots,
            ifaces,
            ports,
            replace_foreign: false,
            batch: true,
            offload_profile: None,
            staged: None,
            last_report: None,
        }
    }

    fn id(iface: &str) -> PlacementId {
        PlacementId(format!("host:{iface}"))
    }

    fn err(&self, e: impl std::fmt::Display) -> TargetError {
        let names: Vec<&str> = self.ifaces.iter().map(|(i, _)| i.as_str()).collect();
        TargetError::new(
            &PlacementId(format!("host:{}", names.join(","))),
            e.to_string(),
        )
    }
}

fn tables_of(d: &Desired) -> BTreeMap<String, Vec<Entry>> {
    d.tables
        .iter()
        .map(|(k, t)| (k.clone(), t.entries.clone()))
        .collect()
}

impl Target for HostTarget {
    fn placements(&self) -> Vec<PlacementId> {
        self.ifaces.iter().map(|(i, _)| Self::id(i)).collect()
    }

    fn prepare(&mut self, d: &Desired) -> Result<(), TargetError> {
        let req = HostRequest {
            module: d.module.clone(),
            source: d.source.clone(),
            source_path: None,
            on: self.ifaces.iter().map(|(i, _)| i.clone()).collect(),
            ports: self.ports.clone(),
            modes: Vec::new(),
            iface_modes: self.ifaces.iter().cloned().collect(),
            entries: Some(tables_of(d)),
            replace_foreign: self.replace_foreign,
            batch: self.batch,
            roots: self.roots.clone(),
            offload_profile: self.offload_profile.clone(),
        };
        self.staged = Some(apply::prepare(req).map_err(|e| self.err(e))?);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), TargetError> {
        let r = match self.staged.as_mut() {
            Some(s) => s.commit(),
            None => return Err(self.err("commit without a prepared version")),
        };
        r.map_err(|e| self.err(e))
    }

    fn rollback(&mut self) {
        if let Some(mut s) = self.staged.take() {
            s.rollback();
        }
    }

    fn finish(&mut self) -> Result<(), TargetError> {
        let s = self
            .staged
            .take()
            .ok_or_else(|| self.err("finish without a committed version"))?;
        let rep = s.finish().map_err(|e| self.err(e))?;
        self.last_report = Some(rep);
        Ok(())
    }

    fn observe(&mut self, d: &Desired) -> Result<Vec<Observed>, TargetError> {
        let st = State::load(&self.roots.state_file(&d.module.name)).map_err(|e| self.err(e))?;
        Ok(self
            .ifaces
            .iter()
            .map(|(iface, _)| observe_iface(&Kernel, &self.roots, st.as_ref(), &d.module, iface))
            .collect())
    }

    fn write_entries(&mut self, d: &Desired, _ops: &[EntryOp]) -> Result<(), TargetError> {
        // Level-based: the tables become the desired ones (the operations
        // are exactly that difference).
        runtime::set_tables(&self.roots, &d.module.name, &tables_of(d), self.batch)
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn repair_entries(
        &mut self,
        d: &Desired,
        placement: &PlacementId,
        _ops: &[EntryOp],
    ) -> Result<(), TargetError> {
        let iface = placement.0.strip_prefix("host:").unwrap_or(&placement.0);
        runtime::resync(&self.roots, &d.module.name, iface)
            .map(|_| ())
            .map_err(|e| TargetError::new(placement, e.to_string()))
    }
}

/// One interface read back from the kernel: the program attached in our
/// hook, our link, and every table decoded from its maps.
pub fn observe_iface(
    sys: &dyn Bpf,
    roots: &Roots,
    st: Option<&State>,
    module: &Module,
    iface: &str,
) -> Observed {
    let placement = PlacementId(format!("host:{iface}"));
    let none = |program| Observed {
        placement: placement.clone(),
        program,
        tables: BTreeMap::new(),
    };
    let seen = observe::observe(iface).ok();
    // A version whose commit was cut short (the journal in the state).
    let pending = st
        .and_then(|s| s.pending.as_ref())
        .and_then(|p| p.progs.get(iface).map(|id| (*id, digest(&p.source))));
    let attached = seen
        .as_ref()
        .and_then(|o| o.all().next().map(|(m, p)| (m, p.clone())));
    if let (Some((id, dg)), Some((m, p))) = (&pending, &attached) {
        if p.id == *id {
            return none(ProgramState::Ours {
                digest: dg.clone(),
                identity: format!("{m} program id {} (interrupted commit)", p.id),
            });
        }
    }
    let (Some(st), Some(pl)) = (st, st.and_then(|s| s.placement(iface))) else {
        // Not ours (yet): anything attached is someone else's.
        return match attached {
            Some((m, p)) => none(ProgramState::Foreign {
                identity: format!("{m} program id {} {:?}", p.id, p.name),
            }),
            None => none(ProgramState::Absent),
        };
    };
    let running = seen
        .as_ref()
        .and_then(|o| o.in_mode(pl.mode).into_iter().next().cloned());
    let identity = format!("{} program id {} tag {}", pl.mode, pl.prog_id, pl.prog_tag);
    let program = match running {
        Some(p) if p.id == pl.prog_id => ProgramState::Ours {
            digest: digest(&st.source),
            identity,
        },
        Some(p) => ProgramState::Foreign {
            identity: format!("{} program id {} {:?}", pl.mode, p.id, p.name),
        },
        None => {
            let link_ok = attach::pinned_link(sys, &roots.link_pin(&st.module, iface)).is_ok();
            if link_ok
                || sys::obj_get(sys, &roots.gen_dir(&st.module, iface, pl.gen).join("prog")).is_ok()
            {
                ProgramState::Detached { identity }
            } else {
                ProgramState::Absent
            }
        }
    };
    if !matches!(program, ProgramState::Ours { .. }) {
        return none(program);
    }
    let mut tables = BTreeMap::new();
    if let Ok(maps) = open_gen_maps(sys, &roots.gen_dir(&st.module, iface, pl.gen)) {
        let layout = placement_layout(module, pl);
        for t in &module.tables {
            let tl = layout.table(t.id);
            let Ok(fds) = table_fds(tl, &maps) else {
                continue;
            };
            let recorded: Vec<(Entry, u32)> = st
                .tables
                .get(&t.name)
                .map(|ts| ts.entries.iter().filter_map(|r| r.to_entry()).collect())
                .unwrap_or_default();
            let base = st
                .tables
                .get(&t.name)
                .map(|ts| ts.base.clone())
                .unwrap_or_default();
            if let Ok(obs) = decode_table(sys, module, t, tl, fds, &recorded, &base) {
                tables.insert(t.name.clone(), obs);
            }
        }
    }
    Observed {
        placement,
        program,
        tables,
    }
}

type Elements = Vec<(Vec<u8>, Vec<u8>)>;

/// A table's maps decoded into entries. Elements are grouped by the counter
/// slot their value carries (every entry has its own slot; a range entry
/// spans several elements): a recorded entry whose elements are all there
/// is present, one whose keys are there with other values is present with
/// the action the kernel holds, and groups of slots nobody recorded are
/// extra entries decoded from their first element.
fn decode_table(
    sys: &dyn Bpf,
    module: &Module,
    t: &Table,
    tl: &TableLayout,
    fds: write::TableFds<'_>,
    recorded: &[(Entry, u32)],
    base: &BTreeMap<u32, (u64, u64)>,
) -> Result<TableObserved, write::WriteError> {
    let found = write::read_elements(sys, tl, fds)?;
    let want = write::image(tl, t, recorded)?;
    let slot_of = |v: &[u8]| tl.decode_value(module, v).ok().map(|(_, s, _)| s);
    let group = |els: &Elements| {
        let mut g: BTreeMap<Option<u32>, Elements> = BTreeMap::new();
        for (k, v) in els {
            g.entry(slot_of(v))
                .or_default()
                .push((k.clone(), v.clone()));
        }
        g
    };
    let found_g = group(&found);
    let want_g = group(&want.entries);
    let counters = write::read_counters(sys, tl, fds)?.unwrap_or_default();
    let count = |slot: u32| {
        let mut c = base.get(&slot).copied().unwrap_or((0, 0));
        if let Some(v) = counters.get(slot as usize) {
            c.0 += v.0;
            c.1 += v.1;
        }
        c
    };
    let mut out = TableObserved::default();
    for (e, slot) in recorded {
        let (Some(f), Some(w)) = (found_g.get(&Some(*slot)), want_g.get(&Some(*slot))) else {
            continue;
        };
        let keys = |x: &Elements| x.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        if f == w {
            out.entries.push(e.clone());
        } else if keys(f) == keys(w) {
            let mut changed = e.clone();
            if let Ok((call, _, _)) = tl.decode_value(module, &f[0].1) {
                changed.action = call;
            }
            out.entries.push(changed);
        } else {
            continue;
        }
        out.counters.push(count(*slot));
    }
    let recorded_slots: std::collections::HashSet<u32> = recorded.iter().map(|(_, s)| *s).collect();
    for (slot, els) in &found_g {
        let known = slot.is_some_and(|s| {
            recorded_slots.contains(&s)
                && want_g.contains_key(&Some(s))
                && found_g
                    .get(&Some(s))
                    .map(|f| f.iter().map(|(k, _)| k).collect::<Vec<_>>())
                    == want_g
                        .get(&Some(s))
                        .map(|w| w.iter().map(|(k, _)| k).collect::<Vec<_>>())
        });
        if known {
            continue;
        }
        let (k, v) = &els[0];
        let (Ok(matches), Ok((call, s, prio))) = (tl.decode_key(t, k), tl.decode_value(module, v))
        else {
            continue;
        };
        out.entries.push(Entry {
            meter: tl.decode_meter(t, v).flatten(),
            matches,
            priority: t.needs_priority().then_some(prio),
            action: call,
            span: Default::default(),
        });
        out.counters.push(count(s));
    }
    out.default = write::read_default(sys, tl, module, fds)?;
    out.default_counter = Some(count(tl.size));
    Ok(out)
}
