//! `apply`: a module version onto interfaces, all or nothing.
//!
//! 1. Check before touching anything: ports bound, interfaces exist, nothing
//!    foreign attached (unless `replace_foreign`).
//! 2. Prepare every interface: compile, load (trying the given modes in
//!    order; a refusal is recorded and the next mode tried), fill ports,
//!    in_ports and tables, pin program and maps as a new generation.
//! 3. Commit: where our link exists, switch its program atomically
//!    (`LINK_UPDATE` with the old program as the expected one); otherwise
//!    attach a new link and pin it. Any failure rolls the committed interfaces
//!    back and removes the new generation: the old version keeps running.
//! 4. Carry counters of entries present in both versions, drop the old
//!    generation, save the state.

use super::ports::{self, Bound};
use super::state::{Placement, Roots, State, TableState};
use super::{open_gen_maps, placement_layout, sys_err, table_fds, DeployError};
use crate::entries::record::EntryRecord;
use crate::entries::write::{self, WriteReport};
use crate::load::attach::{self, Attachment};
use crate::load::program::Loaded;
use crate::load::{bpffs, observe, offload, program, Mode};
use crate::sys::{self, Bpf, Kernel};
use offload_core::ir::{ActionCall, Entry, KeyMatch, Module};
use offload_ebpf::codegen;
use offload_ebpf::layout::ModuleLayout;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ApplyRequest<'a> {
    pub module: &'a Module,
    pub source: &'a str,
    pub source_path: Option<String>,
    /// Interfaces to run on.
    pub on: Vec<String>,
    /// Logical port name → interface.
    pub ports: BTreeMap<String, String>,
    /// Modes to try on each interface, most offloaded first.
    pub modes: Vec<Mode>,
    /// Take over an interface that runs a program offload did not attach.
    pub replace_foreign: bool,
    /// Use batch map updates for bulk fills.
    pub batch: bool,
    pub roots: Roots,
    /// The device's offload profile (from the planner) for `Mode::Offload`;
    /// `None`: NFP's.
    pub offload_profile: Option<offload_core::plan::Profile>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PlacementReport {
    pub iface: String,
    pub mode: Mode,
    pub prog_id: u32,
    pub tag: String,
    /// The link existed and its program was switched atomically.
    pub hitless: bool,
    /// Modes tried first, and the kernel's reason for each.
    pub tried: Vec<(String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApplyReport {
    pub module: String,
    pub version: u64,
    pub placements: Vec<PlacementReport>,
    /// Per table: how its entries were written (first interface).
    pub writes: BTreeMap<String, WriteReport>,
    #[serde(with = "duration_us")]
    pub elapsed: Duration,
    /// Foreign programs removed because of `replace_foreign`.
    pub took_over: Vec<String>,
    /// Only the port bindings changed: the port maps were updated in place,
    /// nothing was reloaded.
    pub rebound_only: bool,
    /// Tables whose counters map the new version shares with the old one
    /// (unchanged slots): their totals continue without copying.
    pub shared_counters: Vec<String>,
    /// Where the time went: checks, compile, load: maps, load: verify,
    /// fill, pin, attach, state save (ms, summed over interfaces).
    pub phases: super::phases::PhaseTimes,
}

mod duration_us {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }
}

/// One interface, prepared but not committed.
struct Prepared {
    iface: String,
    ifindex: u32,
    loaded: Loaded,
    gen: u64,
    gen_dir: PathBuf,
    tried: Vec<(String, String)>,
    writes: BTreeMap<String, WriteReport>,
    /// The room its program was built with.
    room: BTreeMap<String, super::state::Room>,
}

/// The entries with their counter slots, by table, as the layout sizes them.
type SlotRefs<'e> = BTreeMap<String, Vec<(&'e Entry, u32)>>;

fn slot_refs(entries: &BTreeMap<String, Vec<(Entry, u32, bool)>>) -> SlotRefs<'_> {
    entries
        .iter()
        .map(|(t, v)| (t.clone(), v.iter().map(|(e, s, _)| (e, *s)).collect()))
        .collect()
}

/// What a commit did, to undo it.
enum Committed {
    /// Link program switched; the old program to switch back to.
    Updated {
        link: PathBuf,
        old_prog: OwnedFd,
        new_prog: OwnedFd,
    },
    /// A new link attached (and pinned here).
    Attached { link: PathBuf },
}

/// The entries the new version starts with: its file entries, then runtime
/// entries of the previous version that are still valid (slots: file entries
/// 0.., runtime ones after).
pub fn desired_entries(
    module: &Module,
    old: Option<&State>,
) -> BTreeMap<String, Vec<(Entry, u32, bool)>> {
    let mut out = BTreeMap::new();
    for t in &module.tables {
        let mut list: Vec<(Entry, u32, bool)> = t
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u32, false))
            .collect();
        if let Some(ts) = old.and_then(|s| s.tables.get(&t.name)) {
            // Hash sets of keys, priorities and slots, built once: a copy,
            // scan and sort of the list per runtime entry was quadratic.
            let mut checker = crate::entries::Checker::new(list.iter().map(|(e, _, _)| e));
            let mut slots = crate::entries::SlotAllocator::new(list.iter().map(|(_, s, _)| *s));
            for r in ts.entries.iter().filter(|r| r.runtime) {
                let Some((e, _)) = r.to_entry() else { continue };
                match checker.check(module, t, &e) {
                    Ok(()) => {
                        if let Some(slot) = slots.take(t.size) {
                            list.push((e, slot, true));
                        }
                    }
                    Err(err) => {
                        tracing::warn!(table = %t.name, error = %err, "runtime entry dropped: not valid in the new module version")
                    }
                }
            }
        }
        out.insert(t.name.clone(), list);
    }
    out
}

/// The entries a deployment gives, with counter slots: an entry the running
/// version has keeps its slot (its counters continue), the others take free
/// slots. Entries that are not the module file's are marked runtime.
pub fn given_entries(
    module: &Module,
    old: Option<&State>,
    given: &BTreeMap<String, Vec<Entry>>,
) -> BTreeMap<String, Vec<(Entry, u32, bool)>> {
    let mut out = BTreeMap::new();
    for t in &module.tables {
        let list = given.get(&t.name).cloned().unwrap_or_default();
        let old_slots: Vec<(Entry, u32)> = old
            .and_then(|s| s.tables.get(&t.name))
            .map(|ts| ts.entries.iter().filter_map(|r| r.to_entry()).collect())
            .unwrap_or_default();
        // Hash look-ups, not scans: tables hold up to 10^6 entries and
        // this runs on every pass of the agent (it was quadratic).
        let mut old_ix: std::collections::HashMap<(Option<u32>, &[KeyMatch]), u32> =
            std::collections::HashMap::with_capacity(old_slots.len());
        for (o, s) in &old_slots {
            old_ix
                .entry((o.priority, o.matches.as_slice()))
                .or_insert(*s);
        }
        let mut placed: Vec<(Entry, u32, bool)> = Vec::new();
        let mut used: std::collections::HashSet<u32> = std::collections::HashSet::new();
        let mut later = Vec::new();
        // The module file's own entries (a file may hold 10^6 of them too).
        let from_file: std::collections::HashSet<(&[KeyMatch], Option<u32>, &ActionCall)> = t
            .entries
            .iter()
            .map(|f| (f.matches.as_slice(), f.priority, &f.action))
            .collect();
        for e in list {
            let runtime = !from_file.contains(&(e.matches.as_slice(), e.priority, &e.action));
            match old_ix.get(&(e.priority, e.matches.as_slice())).copied() {
                Some(s) if !used.contains(&s) => {
                    used.insert(s);
                    placed.push((e, s, runtime))
                }
                _ => later.push((e, runtime)),
            }
        }
        // The lowest free slot each time (as `free_slot` finds it): slots are
        // only taken, so it never goes down.
        let mut next = 0u32;
        for (e, runtime) in later {
            while used.contains(&next) {
                next += 1;
            }
            if next < t.size {
                used.insert(next);
                placed.push((e, next, runtime));
            }
        }
        out.insert(t.name.clone(), placed);
    }
    out
}

/// Which program runs on `iface` in the hook we would use, and whether it is ours.
/// The program name libxdp gives its multi-program dispatcher.
pub const LIBXDP_DISPATCHER: &str = "xdp_dispatcher";

fn check_ownership(
    sys: &dyn Bpf,
    roots: &Roots,
    module: &str,
    iface: &str,
    modes: &[Mode],
    recorded: Option<&Placement>,
) -> Result<Option<ForeignProg>, DeployError> {
    let seen = observe::observe(iface).map_err(|source| DeployError::Observe {
        iface: iface.into(),
        source,
    })?;
    // Our link on this interface (any module of ours counts as ours only if it is this module).
    let ours: Option<u32> = attach::pinned_link(sys, &roots.link_pin(module, iface))
        .ok()
        .map(|(_, i)| i.prog_id);
    // Hooks, not modes: an offloaded (HW) XDP program and a driver- or
    // SKB-mode one sit side by side on one interface (split placement runs
    // one of each); driver and SKB mode exclude each other.
    let wants_hw = modes.contains(&Mode::Offload);
    let wants_host_xdp = modes
        .iter()
        .any(|m| matches!(m, Mode::Native | Mode::Generic));
    let wants_tc = modes.contains(&Mode::Tc);
    for (mode, p) in seen.all() {
        let relevant = match mode {
            Mode::Offload => wants_hw,
            Mode::Native | Mode::Generic => wants_host_xdp,
            Mode::Tc => wants_tc,
        };
        // A clsact filter has no link: the program we recorded there is ours.
        let ours_by_record =
            recorded.is_some_and(|r| r.mode == Mode::Tc && mode == Mode::Tc && r.prog_id == p.id);
        if relevant && Some(p.id) != ours && !ours_by_record {
            return Ok(Some(ForeignProg {
                mode,
                id: p.id,
                name: p.name.clone(),
            }));
        }
    }
    Ok(None)
}

struct ForeignProg {
    mode: Mode,
    id: u32,
    name: String,
}

/// Removes a foreign program (only with `--replace`): a BPF link is detached
/// through its id; a netlink-attached XDP program is switched off.
fn take_over(
    sys: &dyn Bpf,
    iface: &str,
    ifindex: u32,
    f: &ForeignProg,
) -> Result<String, DeployError> {
    for id in sys::link_ids(sys).map_err(sys_err("listing BPF links"))? {
        let Ok(fd) = sys::link_fd_by_id(sys, id) else {
            continue;
        };
        let Ok(info) = sys::link_info(sys, fd.as_fd()) else {
            continue;
        };
        if info.prog_id == f.id && info.ifindex == ifindex {
            sys::link_detach(sys, fd.as_fd())
                .map_err(sys_err(format!("detaching foreign link {id} on {iface}")))?;
            return Ok(format!(
                "{} program id {} {:?} (link {id}) on {iface}",
                f.mode, f.id, f.name
            ));
        }
    }
    if f.mode.is_xdp() {
        let flag = match f.mode {
            Mode::Generic => "xdpgeneric",
            Mode::Offload => "xdpoffload",
            _ => "xdpdrv",
        };
        crate::host::run(&["ip", "link", "set", "dev", iface, flag, "off"]).map_err(|e| {
            DeployError::Sys {
                what: format!("removing foreign XDP program {} from {iface}: {e}", f.id),
                source: sys::SysError {
                    call: "netlink",
                    target: iface.into(),
                    errno: 0,
                },
            }
        })?;
        return Ok(format!(
            "{} program id {} {:?} on {iface}",
            f.mode, f.id, f.name
        ));
    }
    Err(DeployError::Foreign {
        iface: iface.into(),
        what: "a tc",
        id: f.id,
        name: format!("{} (a tc filter offload cannot remove; delete it with `tc filter del dev {iface} ingress`)", f.name),
    })
}

fn compile(
    module: &Module,
    chain: Option<&offload_core::ir::chain::Fused>,
    mode: Mode,
    offload_profile: Option<&offload_core::plan::Profile>,
    entries: &SlotRefs<'_>,
    cache: &mut BTreeMap<u8, codegen::Compiled>,
) -> Result<codegen::Compiled, DeployError> {
    // One build per kind of target: host XDP (native and generic), tc, offload.
    let k = match mode {
        Mode::Native | Mode::Generic => 0,
        Mode::Tc => 1,
        Mode::Offload => 2,
    };
    if let Some(c) = cache.get(&k) {
        return Ok(c.clone());
    }
    let target = super::sized_target(module, mode, offload_profile, entries);
    let c = match chain {
        Some(f) => codegen::compile_chain(f, &target),
        None => codegen::compile(module, &target),
    }
    .map_err(|e| DeployError::Compile {
        module: module.name.clone(),
        hook: target.hook,
        detail: crate::load::program::error_chain(&e),
    })?;
    if let (Some(f), Some(dead)) = (chain, c.dead_tables.first()) {
        // A module after one that never passes is not in the program: its
        // tables could not be filled or read back. Refused by name.
        let seg = f
            .origin(*dead)
            .map(|(i, _)| i)
            .unwrap_or(f.segments.len() - 1);
        let before = seg
            .checked_sub(1)
            .map_or("", |i| f.segments[i].module.as_str());
        return Err(DeployError::Compile {
            module: module.name.clone(),
            hook: target.hook,
            detail: format!(
                "module `{}` of the chain never runs: `{before}` before it never passes a packet on; take it out of the chain",
                f.segments[seg].module
            ),
        });
    }
    cache.insert(k, c.clone());
    Ok(c)
}

/// Loads for the first mode the kernel accepts.
/// A loaded program, its layout, and the modes refused before it.
type LoadedFirst = (Loaded, ModuleLayout, Vec<(String, String)>);

#[allow(clippy::too_many_arguments)]
fn load_first(
    module: &Module,
    chain: Option<&offload_core::ir::chain::Fused>,
    iface: &str,
    ifindex: u32,
    modes: &[Mode],
    cache: &mut BTreeMap<u8, codegen::Compiled>,
    reuse: &BTreeMap<String, PathBuf>,
    offload_profile: Option<&offload_core::plan::Profile>,
    entries: &SlotRefs<'_>,
    phases: &mut super::phases::PhaseTimes,
) -> Result<LoadedFirst, DeployError> {
    let mut tried = Vec::new();
    for &mode in modes {
        let c = match phases.time("compile", || {
            compile(module, chain, mode, offload_profile, entries, cache)
        }) {
            Ok(c) => c,
            // The device's profile cannot hold the module: the next target.
            Err(e) if mode == Mode::Offload => {
                tried.push((mode.target_name().to_string(), e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        let r = match mode {
            Mode::Offload => {
                offload::load_offloaded(&Kernel, &c.object, &c.program_name, iface, ifindex)
                    .map_err(|e| e.to_string())
            }
            m => {
                // The verifier answers EAGAIN when it is cut short under load
                // (seen at a load average of 8 on 2 cores): try again.
                let mut r = program::load_reusing(&c.object, &c.program_name, m, reuse)
                    .map_err(|e| e.to_string());
                for _ in 0..3 {
                    match &r {
                        Err(e) if e.contains("(os error 11)") => {
                            tracing::info!(iface, "the verifier answered EAGAIN; loading again");
                            r = program::load_reusing(&c.object, &c.program_name, m, reuse)
                                .map_err(|e| e.to_string());
                        }
                        _ => break,
                    }
                }
                r
            }
        };
        match r {
            Ok(l) => {
                phases.add("load: maps", l.phases.maps);
                phases.add("load: verify", l.phases.verify);
                return Ok((l, c.layout, tried));
            }
            Err(reason) => {
                tracing::info!(iface, mode = %mode, %reason, "target refused; trying the next");
                tried.push((mode.target_name().to_string(), reason));
            }
        }
    }
    Err(DeployError::NoTarget {
        iface: iface.into(),
        tried,
    })
}

/// Writes ports, in_ports and every table of a freshly loaded program.
fn fill(
    sys: &dyn Bpf,
    module: &Module,
    layout: &ModuleLayout,
    loaded: &Loaded,
    bound: &[Bound],
    entries: &BTreeMap<String, Vec<(Entry, u32, bool)>>,
    batch: bool,
) -> Result<BTreeMap<String, WriteReport>, crate::entries::write::WriteError> {
    use crate::entries::write::WriteError;
    write_ports(sys, layout, &loaded.maps, bound)?;
    let mut reps = BTreeMap::new();
    for tl in &layout.tables {
        let table = module.table(tl.table);
        let fds = table_fds(tl, &loaded.maps)?;
        let list: Vec<(Entry, u32)> = entries
            .get(&table.name)
            .map(|v| v.iter().map(|(e, s, _)| (e.clone(), *s)).collect())
            .unwrap_or_default();
        let rep = write::fill(sys, tl, table, fds, &list, batch)?;
        reps.insert(table.name.clone(), rep);
    }
    let _ = WriteError::MissingMap { map: String::new() };
    Ok(reps)
}

/// The port maps: logical port → ifindex (DEVMAP value: ifindex + program fd 0;
/// tc ARRAY: ifindex), ifindex → logical port; and the CRC-32 table of hash
/// keys (`crc32`), which the program checks before it uses it.
pub(crate) fn write_ports(
    sys: &dyn Bpf,
    layout: &ModuleLayout,
    maps: &BTreeMap<String, crate::load::program::LoadedMap>,
    bound: &[Bound],
) -> Result<(), crate::entries::write::WriteError> {
    use crate::entries::write::WriteError;
    if let Some(name) = &layout.ports_map {
        let m = maps
            .get(name.as_str())
            .ok_or_else(|| WriteError::MissingMap { map: name.clone() })?;
        for b in bound {
            let mut v = b.ifindex.to_ne_bytes().to_vec();
            v.resize(m.info.value_size as usize, 0);
            sys::map_update(
                sys,
                m.fd.as_fd(),
                &u32::from(b.id).to_ne_bytes(),
                &v,
                sys::BPF_ANY,
            )
            .map_err(|source| WriteError::Sys {
                map: name.clone(),
                source,
            })?;
        }
    }
    if let Some(name) = &layout.crc32_map {
        let m = maps
            .get(name.as_str())
            .ok_or_else(|| WriteError::MissingMap { map: name.clone() })?;
        sys::map_update(
            sys,
            m.fd.as_fd(),
            &0u32.to_ne_bytes(),
            &offload_ebpf::layout::crc32_table_value(),
            sys::BPF_ANY,
        )
        .map_err(|source| WriteError::Sys {
            map: name.clone(),
            source,
        })?;
    }
    if let Some(name) = &layout.in_ports_map {
        let m = maps
            .get(name.as_str())
            .ok_or_else(|| WriteError::MissingMap { map: name.clone() })?;
        for b in bound {
            sys::map_update(
                sys,
                m.fd.as_fd(),
                &b.ifindex.to_ne_bytes(),
                &u32::from(b.id).to_ne_bytes(),
                sys::BPF_ANY,
            )
            .map_err(|source| WriteError::Sys {
                map: name.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

fn pin_generation(
    sys: &dyn Bpf,
    loaded: &Loaded,
    dir: &std::path::Path,
) -> Result<(), DeployError> {
    let _ = std::fs::remove_dir_all(dir);
    bpffs::create_pin_dir(dir)?;
    sys::obj_pin(sys, loaded.prog.as_fd(), &dir.join("prog"))
        .map_err(sys_err("pinning the program"))?;
    for (name, m) in &loaded.maps {
        sys::obj_pin(sys, m.fd.as_fd(), &dir.join(name))
            .map_err(sys_err(format!("pinning map {name}")))?;
    }
    Ok(())
}

/// [`ApplyRequest`] with everything owned, as a prepared transaction keeps
/// it; `iface_modes` overrides `modes` per interface (a deployment file gives
/// each interface its own mode).
#[derive(Debug, Clone)]
pub struct HostRequest {
    pub module: Module,
    pub source: String,
    pub source_path: Option<String>,
    pub on: Vec<String>,
    pub ports: BTreeMap<String, String>,
    pub modes: Vec<Mode>,
    pub iface_modes: BTreeMap<String, Vec<Mode>>,
    /// The entries to run, by table, when a deployment gives them; `None`:
    /// the module's own entries plus the runtime entries of the running
    /// version that are still valid.
    pub entries: Option<BTreeMap<String, Vec<Entry>>>,
    pub replace_foreign: bool,
    pub batch: bool,
    pub roots: Roots,
    pub offload_profile: Option<offload_core::plan::Profile>,
}

impl ApplyRequest<'_> {
    pub fn to_host_request(&self) -> HostRequest {
        HostRequest {
            module: self.module.clone(),
            source: self.source.to_string(),
            source_path: self.source_path.clone(),
            on: self.on.clone(),
            ports: self.ports.clone(),
            modes: self.modes.clone(),
            iface_modes: BTreeMap::new(),
            entries: None,
            replace_foreign: self.replace_foreign,
            batch: self.batch,
            roots: self.roots.clone(),
            offload_profile: self.offload_profile.clone(),
        }
    }
}

impl HostRequest {
    fn modes_for(&self, iface: &str) -> &[Mode] {
        self.iface_modes.get(iface).unwrap_or(&self.modes)
    }
}

/// What a prepared version change does when committed.
enum Work {
    /// Same module on the same interfaces, other bindings: a map update.
    Rebind,
    /// New programs loaded and filled beside the running ones.
    Full {
        prepared: Vec<Prepared>,
        foreign: Vec<(String, u32, ForeignProg)>,
    },
}

/// A version change prepared on this host's interfaces: loaded, filled and
/// pinned beside the running version, nothing switched yet. [`Staged::commit`]
/// switches traffic, [`Staged::rollback`] undoes a prepare or a commit,
/// [`Staged::finish`] drops the old version and saves the state. Dropping a
/// `Staged` without finishing it leaves the old version's state file in
/// place (the next run adopts what the links point at).
pub struct Staged {
    req: HostRequest,
    t0: Instant,
    old: Option<State>,
    bound: Vec<Bound>,
    entries: BTreeMap<String, Vec<(Entry, u32, bool)>>,
    gen: u64,
    reused: std::collections::BTreeSet<String>,
    work: Work,
    committed: Vec<Committed>,
    reports: Vec<PlacementReport>,
    took_over: Vec<String>,
    phases: super::phases::PhaseTimes,
}

/// Applies a module version; see the module docs for the steps.
pub fn apply(req: &ApplyRequest<'_>) -> Result<ApplyReport, DeployError> {
    let mut staged = prepare(req.to_host_request())?;
    if let Err(e) = staged.commit() {
        staged.rollback();
        return Err(e);
    }
    staged.finish()
}

/// Steps 1 and 2: checks, then every interface loaded, filled and pinned as
/// a new generation. Traffic still reaches the old version.
pub fn prepare(req: HostRequest) -> Result<Staged, DeployError> {
    let t0 = Instant::now();
    let sys = &Kernel;
    let module = &req.module;
    let roots = &req.roots;
    if roots.bpffs == std::path::Path::new(bpffs::BPFFS_ROOT) {
        bpffs::ensure_mounted()?;
    }
    let state_path = roots.state_file(&module.name);
    let old = State::load(&state_path)?;

    // 1. Checks before anything loads.
    let bound = ports::resolve(module, &req.ports)?;
    let entries = match &req.entries {
        Some(given) => given_entries(module, old.as_ref(), given),
        None => desired_entries(module, old.as_ref()),
    };
    let plain: BTreeMap<String, Vec<Entry>> = entries
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|(e, _, _)| e.clone()).collect()))
        .collect();
    ports::check_bound(module, &bound, &ports::used_ports(module, &plain))?;
    let mut ifindexes = Vec::new();
    for iface in &req.on {
        let idx = crate::host::ifindex(iface);
        if idx == 0 {
            return Err(DeployError::NoInterface {
                iface: iface.clone(),
            });
        }
        ifindexes.push(idx);
    }
    let mut foreign = Vec::new();
    for (iface, idx) in req.on.iter().zip(&ifindexes) {
        if let Some(f) = check_ownership(
            sys,
            roots,
            &module.name,
            iface,
            req.modes_for(iface),
            old.as_ref().and_then(|s| s.placement(iface)),
        )? {
            // Another deployment of ours (another module, or a chain under
            // another name) on this hook: say so rather than "foreign".
            if let Some(other) = State::all(roots).ok().and_then(|all| {
                all.into_iter().find(|s| {
                    s.module != module.name && s.placement(iface).is_some_and(|p| p.prog_id == f.id)
                })
            }) {
                return Err(DeployError::OtherDeployment {
                    iface: iface.clone(),
                    id: f.id,
                    other: other.module,
                    module: module.name.clone(),
                });
            }
            // A libxdp dispatcher runs other tools' programs (freplace
            // members): taking it over would remove all of them, the very
            // wiping operators complain about. Refused even with --replace.
            if f.mode.is_xdp() && f.name == LIBXDP_DISPATCHER {
                return Err(DeployError::ForeignDispatcher {
                    iface: iface.clone(),
                    id: f.id,
                });
            }
            if !req.replace_foreign {
                return Err(DeployError::Foreign {
                    iface: iface.clone(),
                    what: if f.mode.is_xdp() { "an XDP" } else { "a tc" },
                    id: f.id,
                    name: f.name,
                });
            }
            foreign.push((iface.clone(), *idx, f));
        }
    }
    let gen = old.as_ref().map_or(1, |s| s.version + 1);
    let mut phases = super::phases::PhaseTimes::default();
    phases.add("checks", t0.elapsed());
    let staged = |work, reused, phases: &super::phases::PhaseTimes| Staged {
        req: req.clone(),
        t0,
        old: old.clone(),
        bound: bound.clone(),
        entries: entries.clone(),
        gen,
        reused,
        work,
        committed: Vec::new(),
        reports: Vec::new(),
        took_over: Vec::new(),
        phases: phases.clone(),
    };

    // Same module text on the same interfaces, other bindings: a map update.
    if old
        .as_ref()
        .is_some_and(|o| o.source == req.source && o.ports != req.ports && same_placements(o, &req))
    {
        return Ok(staged(Work::Rebind, Default::default(), &phases));
    }

    // 2. Prepare.
    let reused = phases.time("checks", || {
        old.as_ref()
            .map(|o| reusable_counters(sys, roots, module, o, &entries, &req))
            .unwrap_or_default()
    });
    let mut cache = BTreeMap::new();
    let refs = slot_refs(&entries);
    let chain = super::chain_of(&req.source, module)?;
    let mut prepared: Vec<Prepared> = Vec::new();
    let cleanup = |prepared: &[Prepared]| {
        for p in prepared {
            let _ = std::fs::remove_dir_all(&p.gen_dir);
        }
    };
    for (iface, &ifindex) in req.on.iter().zip(&ifindexes) {
        // Keep the mode of a running placement when the caller allows it:
        // switching modes cannot be hitless.
        let mut modes = req.modes_for(iface).to_vec();
        if let Some(p) = old.as_ref().and_then(|s| s.placement(iface)) {
            if let Some(i) = modes.iter().position(|m| *m == p.mode) {
                let m = modes.remove(i);
                modes.insert(0, m);
            }
        }
        // Counters whose slots are unchanged stay the same map: creating a
        // large per-CPU array is most of a load's time, and the totals simply
        // continue.
        let reuse: BTreeMap<String, PathBuf> = match old
            .as_ref()
            .and_then(|s| s.placement(iface).map(|p| (s, p)))
        {
            Some((o, p)) => {
                let layout = placement_layout(module, p);
                reused
                    .iter()
                    .filter_map(|t| module.table_by_name(t))
                    .filter_map(|t| layout.table(t.id).counters_map.clone())
                    .map(|m| {
                        let path = roots.gen_dir(&o.module, iface, p.gen).join(&m);
                        (m, path)
                    })
                    .collect()
            }
            None => BTreeMap::new(),
        };
        let r = load_first(
            module,
            chain.as_ref(),
            iface,
            ifindex,
            &modes,
            &mut cache,
            &reuse,
            req.offload_profile.as_ref(),
            &refs,
            &mut phases,
        )
        .and_then(|(loaded, layout, tried)| {
            let writes = phases
                .time("fill", || {
                    fill(sys, module, &layout, &loaded, &bound, &entries, req.batch)
                })
                .map_err(|source| DeployError::Fill {
                    module: module.name.clone(),
                    iface: iface.clone(),
                    source,
                })?;
            let gen_dir = roots.gen_dir(&module.name, iface, gen);
            phases.time("pin", || pin_generation(sys, &loaded, &gen_dir))?;
            Ok(Prepared {
                iface: iface.clone(),
                ifindex,
                loaded,
                gen,
                gen_dir,
                tried,
                writes,
                room: super::state::room_of(module, &layout),
            })
        });
        match r {
            Ok(p) => prepared.push(p),
            Err(e) => {
                cleanup(&prepared);
                let _ = std::fs::remove_dir_all(roots.gen_dir(&module.name, iface, gen));
                return Err(e);
            }
        }
    }
    Ok(staged(Work::Full { prepared, foreign }, reused, &phases))
}

impl Staged {
    /// The version this change installs.
    pub fn version(&self) -> u64 {
        match self.work {
            Work::Rebind => self.old.as_ref().map_or(self.gen, |o| o.version),
            Work::Full { .. } => self.gen,
        }
    }

    /// Program ids and tags of the prepared version, per interface.
    pub fn prepared_programs(&self) -> Vec<(String, u32, String)> {
        match &self.work {
            Work::Rebind => Vec::new(),
            Work::Full { prepared, .. } => prepared
                .iter()
                .map(|p| (p.iface.clone(), p.loaded.info.id, p.loaded.info.tag.clone()))
                .collect(),
        }
    }

    /// Step 3: switch every interface to the new version. On failure the
    /// interfaces already switched are switched back before this returns.
    pub fn commit(&mut self) -> Result<(), DeployError> {
        let t0 = Instant::now();
        let r = self.commit_inner();
        self.phases.add("attach", t0.elapsed());
        r
    }

    fn commit_inner(&mut self) -> Result<(), DeployError> {
        let sys = &Kernel;
        let roots = self.req.roots.clone();
        let module = self.req.module.name.clone();
        match &mut self.work {
            Work::Rebind => {
                let old = self.old.as_ref().expect("a rebind has an old state");
                self.reports = rebind_maps(sys, &roots, &self.req.module, old, &self.bound)?;
                Ok(())
            }
            Work::Full { prepared, foreign } => {
                // Record the programs about to run before any link switches
                // (see `State::pending`).
                let mut journal = self.old.clone().unwrap_or_else(|| State {
                    module: module.clone(),
                    source: self.req.source.clone(),
                    source_path: self.req.source_path.clone(),
                    version: 0,
                    ports: self.req.ports.clone(),
                    placements: Vec::new(),
                    tables: BTreeMap::new(),
                    pending: None,
                });
                journal.pending = Some(super::state::Pending {
                    source: self.req.source.clone(),
                    progs: prepared
                        .iter()
                        .map(|p| (p.iface.clone(), p.loaded.info.id))
                        .collect(),
                });
                journal.save(&roots.state_file(&module))?;
                // Foreign programs go only once everything is ready to take their place.
                for (iface, idx, f) in foreign.iter() {
                    self.took_over.push(take_over(sys, iface, *idx, f)?);
                }
                for p in prepared.iter_mut() {
                    let link_path = roots.link_pin(&module, &p.iface);
                    let old_place = self
                        .old
                        .as_ref()
                        .and_then(|s| s.placement(&p.iface))
                        .cloned();
                    match commit_one(sys, &roots, &module, p, &link_path, old_place.as_ref()) {
                        Ok((c, hitless)) => {
                            self.committed.push(c);
                            self.reports.push(PlacementReport {
                                iface: p.iface.clone(),
                                mode: p.loaded.mode,
                                prog_id: p.loaded.info.id,
                                tag: p.loaded.info.tag.clone(),
                                hitless,
                                tried: p.tried.clone(),
                            });
                        }
                        Err(e) => {
                            rollback(sys, std::mem::take(&mut self.committed));
                            return Err(e);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Undoes [`commit`](Staged::commit) (links switched back to the old
    /// programs, new links removed, old bindings written back) and removes
    /// the prepared generation. Idempotent.
    pub fn rollback(&mut self) {
        let sys = &Kernel;
        rollback(sys, std::mem::take(&mut self.committed));
        match &self.work {
            Work::Rebind => {
                if let Some(old) = &self.old {
                    if !self.reports.is_empty() {
                        let old_bound =
                            ports::resolve(&self.req.module, &old.ports).unwrap_or_default();
                        if let Err(e) =
                            rebind_maps(sys, &self.req.roots, &self.req.module, old, &old_bound)
                        {
                            tracing::error!(error = %e, "rollback: could not restore the previous port bindings");
                        }
                    }
                }
            }
            Work::Full { prepared, .. } => {
                for p in prepared {
                    let _ = std::fs::remove_dir_all(&p.gen_dir);
                }
                // The journal goes: the old state is the truth again.
                let path = self.req.roots.state_file(&self.req.module.name);
                match &self.old {
                    Some(old) => {
                        if let Err(e) = old.save(&path) {
                            tracing::error!(error = %e, "rollback: could not restore the state file");
                        }
                    }
                    None => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
        self.reports.clear();
    }

    /// Step 4: counters carried over, old generations dropped, state saved.
    pub fn finish(mut self) -> Result<ApplyReport, DeployError> {
        let t_finish = Instant::now();
        let sys = &Kernel;
        let req = &self.req;
        let module = &req.module;
        let roots = &req.roots;
        let old = &self.old;
        let state_path = roots.state_file(&module.name);
        let prepared = match self.work {
            Work::Rebind => {
                let mut st = old.clone().expect("a rebind has an old state");
                st.ports = req.ports.clone();
                st.save(&state_path)?;
                return Ok(ApplyReport {
                    module: module.name.clone(),
                    version: st.version,
                    placements: self.reports,
                    writes: BTreeMap::new(),
                    elapsed: self.t0.elapsed(),
                    took_over: Vec::new(),
                    rebound_only: true,
                    shared_counters: Vec::new(),
                    phases: self.phases,
                });
            }
            Work::Full { prepared, .. } => prepared,
        };
        let entries = &self.entries;
        let reused = &self.reused;
        let gen = self.gen;
        let mut tables: BTreeMap<String, TableState> = BTreeMap::new();
        for t in &module.tables {
            let list = &entries[&t.name];
            let mut ts = TableState {
                entries: list
                    .iter()
                    .map(|(e, s, rt)| {
                        let mut r = EntryRecord::from_entry(e, *s);
                        r.runtime = *rt;
                        r
                    })
                    .collect(),
                base: BTreeMap::new(),
            };
            if let Some(old) = old {
                if reused.contains(&t.name) {
                    // Same counters map: its totals continue; the carried base too.
                    ts.base = old
                        .tables
                        .get(&t.name)
                        .map(|o| o.base.clone())
                        .unwrap_or_default();
                } else {
                    carry_counters(sys, roots, old, t, list, &mut ts);
                }
            }
            tables.insert(t.name.clone(), ts);
        }
        if let Some(old) = old {
            for pl in &old.placements {
                let dir = roots.gen_dir(&old.module, &pl.iface, pl.gen);
                let _ = std::fs::remove_dir_all(dir);
                // An interface the new version no longer runs on: detach there.
                if !req.on.contains(&pl.iface) {
                    let _ = attach::detach_pinned(sys, &roots.link_pin(&old.module, &pl.iface));
                    let _ = std::fs::remove_dir_all(roots.iface_dir(&old.module, &pl.iface));
                }
            }
        }
        let mut placements = Vec::new();
        for p in &prepared {
            let link_id = attach::pinned_link(sys, &roots.link_pin(&module.name, &p.iface))
                .map(|(_, i)| i.id)
                .unwrap_or(0);
            placements.push(Placement {
                iface: p.iface.clone(),
                ifindex: p.ifindex,
                mode: p.loaded.mode,
                gen: p.gen,
                prog_id: p.loaded.info.id,
                prog_tag: p.loaded.info.tag.clone(),
                link_id,
                fallbacks: p.tried.clone(),
                profile: if p.loaded.mode == Mode::Offload {
                    req.offload_profile
                        .as_ref()
                        .map_or_else(|| "nfp".to_string(), |pr| pr.name.clone())
                } else {
                    "kernel".to_string()
                },
                room: p.room.clone(),
            });
        }
        let st = State {
            module: module.name.clone(),
            source: req.source.to_string(),
            source_path: req.source_path.clone(),
            version: gen,
            ports: req.ports.clone(),
            placements,
            tables,
            pending: None,
        };
        st.save(&state_path)?;
        self.phases.add("state save", t_finish.elapsed());
        Ok(ApplyReport {
            module: module.name.clone(),
            version: gen,
            placements: self.reports,
            writes: prepared
                .first()
                .map(|p| p.writes.clone())
                .unwrap_or_default(),
            elapsed: self.t0.elapsed(),
            took_over: self.took_over,
            rebound_only: false,
            shared_counters: reused.iter().cloned().collect(),
            phases: self.phases,
        })
    }
}

/// Tables whose counters map the new version can share with the running
/// one: same interfaces and modes, same counter slots for the same entries
/// (so every slot keeps meaning the same entry), and a pinned map of exactly
/// the type and sizes the new layout declares.
fn reusable_counters(
    sys: &dyn Bpf,
    roots: &Roots,
    module: &Module,
    old: &State,
    entries: &BTreeMap<String, Vec<(Entry, u32, bool)>>,
    req: &HostRequest,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if !same_placements(old, req) {
        return out;
    }
    let Ok(old_module) = super::module_of(old) else {
        return out;
    };
    // The new program's layout on each placement (sized to the new
    // entries): a pinned map is shared only if it is exactly what it declares.
    let refs = slot_refs(entries);
    let new_layouts: Vec<ModuleLayout> = old
        .placements
        .iter()
        .map(|pl| {
            let profile = offload_core::plan::Profile::by_name(&pl.profile);
            codegen::layout_for(
                module,
                &super::sized_target(module, pl.mode, profile.as_ref(), &refs),
            )
        })
        .collect();
    'tables: for t in module.tables.iter().filter(|t| t.counters) {
        let Some(ot) = old_module.table_by_name(&t.name) else {
            continue;
        };
        if !ot.counters || ot.size != t.size {
            continue;
        }
        let key = |e: &Entry, s: u32| (s, format!("{:?}/{:?}", e.matches, e.priority));
        let mut new: Vec<_> = entries
            .get(&t.name)
            .into_iter()
            .flatten()
            .map(|(e, s, _)| key(e, *s))
            .collect();
        let mut was: Vec<_> = old
            .tables
            .get(&t.name)
            .into_iter()
            .flat_map(|ts| ts.entries.iter().filter_map(|r| r.to_entry()))
            .map(|(e, s)| key(&e, s))
            .collect();
        new.sort();
        was.sort();
        if new != was {
            continue;
        }
        for (pl, layout) in old.placements.iter().zip(&new_layouts) {
            let Some(name) = layout.table(t.id).counters_map.clone() else {
                continue 'tables;
            };
            let Some(spec) = layout.map(&name) else {
                continue 'tables;
            };
            let path = roots.gen_dir(&old.module, &pl.iface, pl.gen).join(&name);
            let Ok(fd) = sys::obj_get(sys, &path) else {
                continue 'tables;
            };
            let Ok(info) = sys::map_info(sys, fd.as_fd()) else {
                continue 'tables;
            };
            if (
                info.map_type,
                info.key_size,
                info.value_size,
                info.max_entries,
                info.flags,
            ) != (
                spec.map_type,
                spec.key_size,
                spec.value_size,
                spec.max_entries,
                spec.map_flags,
            ) {
                continue 'tables;
            }
        }
        out.insert(t.name.clone());
    }
    out
}

fn same_placements(old: &State, req: &HostRequest) -> bool {
    old.placements.len() == req.on.len()
        && old
            .placements
            .iter()
            .zip(&req.on)
            .all(|(p, on)| p.iface == *on && req.modes_for(on).contains(&p.mode))
}

/// Rebinding ports is a map update on every placement (ports and in_ports),
/// not a reload: the programs and their counters keep running.
fn rebind_maps(
    sys: &dyn Bpf,
    roots: &Roots,
    module: &Module,
    old: &State,
    bound: &[Bound],
) -> Result<Vec<PlacementReport>, DeployError> {
    let old_bound = ports::resolve(module, &old.ports).unwrap_or_default();
    let mut reports = Vec::new();
    for pl in &old.placements {
        let maps = open_gen_maps(sys, &roots.gen_dir(&old.module, &pl.iface, pl.gen))?;
        let layout = placement_layout(module, pl);
        let fill_err = |source| DeployError::Fill {
            module: module.name.clone(),
            iface: pl.iface.clone(),
            source,
        };
        write_ports(sys, &layout, &maps, bound).map_err(fill_err)?;
        // Ports no longer bound: forward to them fails (ifindex 0 / no entry).
        for ob in old_bound
            .iter()
            .filter(|ob| !bound.iter().any(|b| b.id == ob.id))
        {
            if let Some(m) = layout.ports_map.as_deref().and_then(|n| maps.get(n)) {
                let _ = sys::map_delete(sys, m.fd.as_fd(), &u32::from(ob.id).to_ne_bytes());
            }
        }
        for ob in old_bound
            .iter()
            .filter(|ob| !bound.iter().any(|b| b.ifindex == ob.ifindex))
        {
            if let Some(m) = layout.in_ports_map.as_deref().and_then(|n| maps.get(n)) {
                let _ = sys::map_delete(sys, m.fd.as_fd(), &ob.ifindex.to_ne_bytes());
            }
        }
        reports.push(PlacementReport {
            iface: pl.iface.clone(),
            mode: pl.mode,
            prog_id: pl.prog_id,
            tag: pl.prog_tag.clone(),
            hitless: true,
            tried: Vec::new(),
        });
    }
    Ok(reports)
}

fn commit_one(
    sys: &dyn Bpf,
    roots: &Roots,
    module: &str,
    p: &mut Prepared,
    link_path: &std::path::Path,
    old_place: Option<&Placement>,
) -> Result<(Committed, bool), DeployError> {
    let attach_err = |iface: &str| {
        let iface = iface.to_string();
        move |source| DeployError::Attach {
            iface,
            source: Box::new(source),
        }
    };
    if let Some(old) = old_place {
        if let Ok((link_fd, info)) = attach::pinned_link(sys, link_path) {
            if old.mode == p.loaded.mode {
                let old_prog = sys::prog_fd_by_id(sys, info.prog_id).map_err(sys_err(format!(
                    "opening the running program {}",
                    info.prog_id
                )))?;
                attach::replace(
                    sys,
                    link_path,
                    p.loaded.prog.as_fd(),
                    Some(old_prog.as_fd()),
                )
                .map_err(attach_err(&p.iface))?;
                let new_prog = p.loaded.prog.try_clone().map_err(|e| DeployError::Sys {
                    what: "duplicating the program fd".into(),
                    source: sys::SysError {
                        call: "dup",
                        target: p.iface.clone(),
                        errno: e.raw_os_error().unwrap_or(0),
                    },
                })?;
                return Ok((
                    Committed::Updated {
                        link: link_path.to_path_buf(),
                        old_prog,
                        new_prog,
                    },
                    true,
                ));
            }
            // Another mode: the old link must go first (not hitless).
            sys::link_detach(sys, link_fd.as_fd()).map_err(sys_err(format!(
                "detaching the previous {} link on {}",
                old.mode, p.iface
            )))?;
            let _ = std::fs::remove_file(link_path);
        }
    }
    let _ = std::fs::remove_file(link_path);
    bpffs::create_pin_dir(&roots.iface_dir(module, &p.iface))?;
    match attach::attach(sys, &mut p.loaded, &p.iface, p.ifindex).map_err(attach_err(&p.iface))? {
        Attachment::Link(fd) => {
            if let Err(e) = attach::pin(sys, fd.as_fd(), link_path) {
                let _ = sys::link_detach(sys, fd.as_fd());
                return Err(attach_err(&p.iface)(e));
            }
        }
        Attachment::Netlink => {
            // clsact: the new filter (auto priority: ahead of the old one)
            // decides from now on; then the old filter goes.
            if let Some(old) = old_place.filter(|o| o.mode == Mode::Tc) {
                attach::detach_cls_bpf(&p.iface, old.prog_id);
            }
        }
    }
    Ok((
        Committed::Attached {
            link: link_path.to_path_buf(),
        },
        false,
    ))
}

fn rollback(sys: &dyn Bpf, committed: Vec<Committed>) {
    for c in committed.into_iter().rev() {
        match c {
            Committed::Updated {
                link,
                old_prog,
                new_prog,
            } => {
                if let Err(e) =
                    attach::replace(sys, &link, old_prog.as_fd(), Some(new_prog.as_fd()))
                {
                    tracing::error!(link = %link.display(), error = %e, "rollback: could not switch back to the previous program");
                }
            }
            Committed::Attached { link } => {
                let _ = attach::detach_pinned(sys, &link);
            }
        }
    }
}

/// Totals of the old version's counters (all placements, plus what it had
/// carried itself) become the base of the same entries in the new version.
pub fn carry_counters(
    sys: &dyn Bpf,
    roots: &Roots,
    old: &State,
    t: &offload_core::ir::Table,
    list: &[(Entry, u32, bool)],
    ts: &mut TableState,
) {
    let Some(old_ts) = old.tables.get(&t.name) else {
        return;
    };
    let Ok(old_module) = super::module_of(old) else {
        return;
    };
    let Some(old_table) = old_module.table_by_name(&t.name) else {
        return;
    };
    let mut totals: BTreeMap<u32, (u64, u64)> = old_ts.base.clone();
    for pl in &old.placements {
        let dir = roots.gen_dir(&old.module, &pl.iface, pl.gen);
        let Ok(maps) = open_gen_maps(sys, &dir) else {
            continue;
        };
        let layout = placement_layout(&old_module, pl);
        let tl = layout.table(old_table.id);
        let Ok(fds) = table_fds(tl, &maps) else {
            continue;
        };
        if let Ok(Some(c)) = write::read_counters(sys, tl, fds) {
            for (slot, (p, b)) in c.into_iter().enumerate() {
                let e = totals.entry(slot as u32).or_default();
                e.0 += p;
                e.1 += b;
            }
        }
    }
    let old_default_slot = old_table.size;
    // The old slot of each entry by identity, built once: a scan of the old
    // entries per new entry made a re-apply with 10^5 routes take 5 minutes.
    let old_entries: Vec<(Entry, u32)> =
        old_ts.entries.iter().filter_map(|r| r.to_entry()).collect();
    let mut old_slot: std::collections::HashMap<(&[KeyMatch], Option<u32>), u32> =
        std::collections::HashMap::with_capacity(old_entries.len());
    for (oe, os) in &old_entries {
        // The first of two equal identities wins, as the scan found it.
        old_slot
            .entry((oe.matches.as_slice(), oe.priority))
            .or_insert(*os);
    }
    for (e, slot, _) in list {
        let same = old_slot.get(&(e.matches.as_slice(), e.priority)).copied();
        if let Some(os) = same {
            if let Some(v) = totals.get(&os) {
                if *v != (0, 0) {
                    ts.base.insert(*slot, *v);
                }
            }
        }
    }
    if let Some(v) = totals.get(&old_default_slot) {
        if *v != (0, 0) {
            ts.base.insert(t.size, *v);
        }
    }
}

/// Detaches a deployed module from every interface and removes its pins and
/// state. Only what offload attached is touched.
pub fn detach(roots: &Roots, module: Option<&str>) -> Result<State, DeployError> {
    let st = super::pick_module(roots, module)?;
    let sys = &Kernel;
    for pl in &st.placements {
        let link = roots.link_pin(&st.module, &pl.iface);
        match attach::detach_pinned(sys, &link) {
            Ok(()) => {}
            // A clsact attachment has no link: remove our filter.
            Err(e)
                if e.is(nix::errno::Errno::ENOENT)
                    && pl.mode == Mode::Tc
                    && attach::detach_cls_bpf(&pl.iface, pl.prog_id) > 0 => {}
            Err(e) if e.is(nix::errno::Errno::ENOENT) => {
                tracing::warn!(iface = %pl.iface, "no pinned link: already detached");
            }
            Err(e) => {
                return Err(sys_err(format!(
                    "detaching {} from {}",
                    st.module, pl.iface
                ))(e))
            }
        }
    }
    // Only our interfaces' folders; the module folder goes when empty (other
    // deployments of the same module name may live beside them).
    for pl in &st.placements {
        let _ = std::fs::remove_dir_all(roots.iface_dir(&st.module, &pl.iface));
    }
    let _ = std::fs::remove_dir(roots.module_dir(&st.module));
    let _ = std::fs::remove_file(roots.state_file(&st.module));
    Ok(st)
}
