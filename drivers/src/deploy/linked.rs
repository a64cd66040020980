//! A service chain deployed linked by tail calls on one interface: the
//! dispatcher attached to the hook, one program per module in the slots of
//! the shared `chain_progs` PROG_ARRAY (`offload_ebpf::codegen::linked`).
//!
//! What it buys over the fused program: a new version of one module is
//! **one slot update** — its program is loaded and filled beside the running
//! chain, then `chain_progs[k]` is switched (atomic for frames in flight: a
//! frame runs the old module or the new one); the dispatcher, the other
//! modules' programs (same ids) and their maps (counters continuing) are
//! not touched. A module's tables whose entries did not change keep their
//! counters map (it is reused by pin).
//!
//! Layout on bpffs, per deployment and interface
//! (`/sys/fs/bpf/offload/<name>/<iface>/linked/`): `chain_progs`, `entry`
//! (the dispatcher), `link`, and `m<k>-g<gen>/` with module k's program
//! (`prog`) and its maps. The state (modules, sources, digests, program ids)
//! is `<state>/<name>.linked.json`.
//!
//! [`status`] reads every slot back from the kernel (never the record) and
//! reports drift: a slot empty or holding another program, the link gone or
//! running something else. [`reconcile`] repairs exactly those, from the
//! pinned programs. [`detach`] removes only what this deployment pinned.
//!
//! Limits (said in the README): the chain's length, module order and mode
//! are fixed for a deployment (change them by detaching first); entries are
//! the modules' file entries (runtime `entries add` is not wired here).

use super::ports::{self, Bound};
use super::{sys_err, DeployError, Roots};
use crate::entries::write::{self, TableFds};
use crate::load::linked as ll;
use crate::load::program::{LoadError, Loaded};
use crate::load::{attach, bpffs, observe, Mode};
use crate::sys::{self, Kernel};
use offload_core::ir::Module;
use offload_core::state::desired::digest;
use offload_ebpf::codegen::linked::{compile_linked, Linked};
use offload_ebpf::codegen::{Compiled, Target};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// One module of a linked chain: its file name and source.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub file: String,
    pub source: String,
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct LinkedRequest {
    pub name: String,
    pub modules: Vec<ModuleSource>,
    pub iface: String,
    /// Native, generic or tc.
    pub mode: Mode,
    /// Logical port → interface.
    pub ports: BTreeMap<String, String>,
    pub roots: Roots,
}

/// The record of a deployed linked chain.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LinkedState {
    pub name: String,
    pub iface: String,
    pub mode: Mode,
    pub entry_prog_id: u32,
    pub modules: Vec<ModuleState>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleState {
    pub name: String,
    pub file: String,
    pub source: String,
    pub digest: String,
    pub prog_id: u32,
    /// Generation of its pin folder (`m<k>-g<gen>`).
    pub gen: u64,
}

/// What an apply did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkedReport {
    pub entry_prog_id: u32,
    /// Module index → (program id, whether it was (re)loaded now).
    pub modules: Vec<(String, u32, bool)>,
    /// Tables of replaced modules whose counters map was kept.
    pub kept_counters: Vec<String>,
}

fn pin_dir(roots: &Roots, name: &str, iface: &str) -> PathBuf {
    roots.iface_dir(name, iface).join("linked")
}

fn module_dir(dir: &Path, k: usize, gen: u64) -> PathBuf {
    dir.join(format!("m{k}-g{gen}"))
}

fn state_path(roots: &Roots, name: &str) -> PathBuf {
    roots.state.join(format!("{name}.linked.json"))
}

/// The record of deployment `name`, if any.
pub fn load_state(roots: &Roots, name: &str) -> Result<Option<LinkedState>, DeployError> {
    let p = state_path(roots, name);
    match std::fs::read_to_string(&p) {
        Ok(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| DeployError::LinkedRecord {
                path: p.display().to_string(),
                detail: format!("damaged ({e}); detach and apply again"),
            }),
        Err(_) => Ok(None),
    }
}

fn save_state(roots: &Roots, st: &LinkedState) -> Result<(), DeployError> {
    std::fs::create_dir_all(&roots.state).map_err(|e| DeployError::LinkedRecord {
        path: roots.state.display().to_string(),
        detail: e.to_string(),
    })?;
    let p = state_path(roots, &st.name);
    let tmp = p.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(st).expect("state serializes");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, &p))
        .map_err(|e| DeployError::LinkedRecord {
            path: p.display().to_string(),
            detail: e.to_string(),
        })
}

fn hook_target(mode: Mode) -> Target {
    if mode == Mode::Tc {
        Target::tc()
    } else {
        Target::xdp()
    }
}

fn compile_modules(req: &LinkedRequest) -> Result<(Vec<Module>, Linked), DeployError> {
    let mut modules = Vec::new();
    for (i, m) in req.modules.iter().enumerate() {
        let module = offload_core::spec::compile(&m.source).map_err(|d| DeployError::Compile {
            module: m.file.clone(),
            hook: hook_target(req.mode).hook,
            detail: format!(
                "module {} of the chain: {}",
                i + 1,
                d.iter()
                    .map(|x| x.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        })?;
        modules.push(module);
    }
    let linked =
        compile_linked(&modules, &hook_target(req.mode)).map_err(|e| DeployError::Compile {
            module: req.name.clone(),
            hook: hook_target(req.mode).hook,
            detail: crate::load::program::error_chain(&e),
        })?;
    Ok((modules, linked))
}

fn load_err(module: &str, mode: Mode, e: LoadError) -> DeployError {
    DeployError::LinkedLoad {
        module: module.into(),
        mode,
        detail: crate::load::program::error_chain(&e),
    }
}

/// Fills a module program's port maps and tables from its file entries
/// (a counters map taken over from the running version is not written:
/// filling entries never touches counters).
fn fill(
    module: &Module,
    c: &Compiled,
    loaded: &Loaded,
    bound: &[Bound],
    iface: &str,
) -> Result<(), DeployError> {
    let fill_err = |source| DeployError::Fill {
        module: module.name.clone(),
        iface: iface.into(),
        source,
    };
    super::apply::write_ports(&Kernel, &c.layout, &loaded.maps, bound).map_err(fill_err)?;
    for tl in &c.layout.tables {
        let t = module.table(tl.table);
        let fds = TableFds::find(tl, &loaded.maps).map_err(fill_err)?;
        let entries: Vec<_> = t
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u32))
            .collect();
        write::fill(&Kernel, tl, t, fds, &entries, true).map_err(fill_err)?;
    }
    Ok(())
}

fn pin_module(loaded: &Loaded, dir: &Path) -> Result<(), DeployError> {
    bpffs::create_pin_dir(dir)?;
    sys::obj_pin(&Kernel, loaded.prog.as_fd(), &dir.join("prog"))
        .map_err(sys_err(format!("pinning {}", dir.display())))?;
    for (name, m) in &loaded.maps {
        if name == offload_ebpf::codegen::linked::PROG_ARRAY {
            continue;
        }
        let p = dir.join(name);
        if p.exists() {
            continue; // a reused map is pinned there already
        }
        sys::obj_pin(&Kernel, m.fd.as_fd(), &p)
            .map_err(sys_err(format!("pinning {}", p.display())))?;
    }
    Ok(())
}

/// Tables whose counters map a new version of a module can take over from
/// the running one: same table name, same entries (so the same slots), same
/// counters map shape. Object map name → pinned path.
fn reusable_counters(
    old_module: &Module,
    old_c: &Compiled,
    old_dir: &Path,
    new_module: &Module,
    new_c: &Compiled,
) -> (BTreeMap<String, PathBuf>, Vec<String>) {
    let mut reuse = BTreeMap::new();
    let mut names = Vec::new();
    for ntl in &new_c.layout.tables {
        let nt = new_module.table(ntl.table);
        let Some(ot) = old_module.tables.iter().find(|t| t.name == nt.name) else {
            continue;
        };
        let otl = old_c.layout.table(ot.id);
        let (Some(nmap), Some(omap)) = (&ntl.counters_map, &otl.counters_map) else {
            continue;
        };
        let spec = |c: &Compiled, n: &str| c.layout.maps.iter().find(|m| m.name == n).cloned();
        let (Some(ns), Some(os)) = (spec(new_c, nmap), spec(old_c, omap)) else {
            continue;
        };
        if ot.entries != nt.entries
            || ns.max_entries != os.max_entries
            || ns.value_size != os.value_size
            || ns.map_type != os.map_type
        {
            continue;
        }
        let short: String = omap.chars().take(15).collect();
        let path = old_dir.join(short);
        if path.exists() {
            reuse.insert(nmap.clone(), path);
            names.push(format!("{}.{}", new_module.name, nt.name));
        }
    }
    (reuse, names)
}

/// Deploys (or updates) a linked chain on one interface. A first apply
/// loads everything and attaches the dispatcher; a later one reloads only
/// the modules whose source changed, each with one slot update.
pub fn apply(req: &LinkedRequest) -> Result<LinkedReport, DeployError> {
    bpffs::ensure_mounted()?;
    let (modules, linked) = compile_modules(req)?;
    let fused = offload_core::ir::chain::fuse(&modules).map_err(|e| DeployError::Compile {
        module: req.name.clone(),
        hook: hook_target(req.mode).hook,
        detail: e.to_string(),
    })?;
    let bound = ports::resolve(&fused.module, &req.ports)?;
    let ifindex = crate::host::ifindex(&req.iface);
    if ifindex == 0 {
        return Err(DeployError::NoInterface {
            iface: req.iface.clone(),
        });
    }
    let dir = pin_dir(&req.roots, &req.name, &req.iface);
    let old = load_state(&req.roots, &req.name)?;
    match old {
        Some(old)
            if old.iface == req.iface
                && old.mode == req.mode
                && old.modules.len() == modules.len()
                && old
                    .modules
                    .iter()
                    .zip(&modules)
                    .all(|(o, m)| offload_core::spec::compile(&o.source).is_ok_and(|om| om.name == m.name)) =>
        {
            update(req, &modules, &linked, &bound, &dir, old)
        }
        Some(old) => Err(DeployError::LinkedLayout {
            name: req.name.clone(),
            detail: format!(
                "the linked chain runs {} modules in {} mode on {}; a new length, order or mode is a new chain: `offloadctl detach --module {}` first",
                old.modules.len(),
                old.mode,
                old.iface,
                req.name
            ),
        }),
        None => first_apply(req, &modules, &linked, &bound, &dir, ifindex),
    }
}

fn foreign_on(
    iface: &str,
    mode: Mode,
    ours: Option<u32>,
) -> Result<Option<observe::ProgRef>, DeployError> {
    let seen = observe::observe(iface).map_err(|source| DeployError::Observe {
        iface: iface.into(),
        source,
    })?;
    for (m, p) in seen.all() {
        let relevant = (m.is_xdp() && mode.is_xdp()) || (m == Mode::Tc && mode == Mode::Tc);
        if relevant && Some(p.id) != ours {
            return Ok(Some(p.clone()));
        }
    }
    Ok(None)
}

fn first_apply(
    req: &LinkedRequest,
    modules: &[Module],
    linked: &Linked,
    bound: &[Bound],
    dir: &Path,
    ifindex: u32,
) -> Result<LinkedReport, DeployError> {
    // Never over a program offload did not attach (a libxdp dispatcher
    // included): it is named, and left alone.
    if let Some(p) = foreign_on(&req.iface, req.mode, None)? {
        if p.name == super::apply::LIBXDP_DISPATCHER {
            return Err(DeployError::ForeignDispatcher {
                iface: req.iface.clone(),
                id: p.id,
            });
        }
        return Err(DeployError::ForeignLinked {
            iface: req.iface.clone(),
            what: if req.mode == Mode::Tc {
                "a tc"
            } else {
                "an XDP"
            },
            id: p.id,
            name: p.name,
        });
    }
    if dir.exists() {
        // Pins of an earlier run that never recorded its state.
        let _ = std::fs::remove_dir_all(dir);
    }
    bpffs::create_pin_dir(dir)?;
    let result = (|| {
        let pa_pin = dir.join("chain_progs");
        let mut entry = ll::load_entry(linked, req.mode, &pa_pin)
            .map_err(|e| load_err(&req.name, req.mode, e))?;
        sys::obj_pin(&Kernel, entry.prog.as_fd(), &dir.join("entry"))
            .map_err(sys_err("pinning the dispatcher"))?;
        let prog_array = sys::obj_get(&Kernel, &pa_pin).map_err(sys_err("chain_progs"))?;
        let mut states = Vec::new();
        let mut loaded = Vec::new();
        for (k, m) in modules.iter().enumerate() {
            let l = ll::load_module(linked, k, req.mode, &pa_pin, &BTreeMap::new())
                .map_err(|e| load_err(&m.name, req.mode, e))?;
            fill(m, &linked.modules[k], &l, bound, &req.iface)?;
            pin_module(&l, &module_dir(dir, k, 1))?;
            states.push(ModuleState {
                name: m.name.clone(),
                file: req.modules[k].file.clone(),
                source: req.modules[k].source.clone(),
                digest: digest(&req.modules[k].source),
                prog_id: l.info.id,
                gen: 1,
            });
            loaded.push(l);
        }
        for (k, l) in loaded.iter().enumerate().rev() {
            ll::set_slot(prog_array.as_fd(), k as u32, l.prog.as_fd())
                .map_err(sys_err(format!("slot {k}")))?;
        }
        let link = attach::attach(&Kernel, &mut entry, &req.iface, ifindex).map_err(|e| {
            DeployError::Attach {
                iface: req.iface.clone(),
                source: Box::new(e),
            }
        })?;
        let attach::Attachment::Link(link) = link else {
            return Err(DeployError::LinkedLayout {
                name: req.name.clone(),
                detail: "a linked chain needs a BPF link (tcx or XDP link); this kernel attached a cls_bpf filter".into(),
            });
        };
        attach::pin(&Kernel, link.as_fd(), &dir.join("link")).map_err(|e| DeployError::Attach {
            iface: req.iface.clone(),
            source: Box::new(e),
        })?;
        let st = LinkedState {
            name: req.name.clone(),
            iface: req.iface.clone(),
            mode: req.mode,
            entry_prog_id: entry.info.id,
            modules: states,
        };
        save_state(&req.roots, &st)?;
        Ok(LinkedReport {
            entry_prog_id: st.entry_prog_id,
            modules: st
                .modules
                .iter()
                .map(|m| (m.name.clone(), m.prog_id, true))
                .collect(),
            kept_counters: Vec::new(),
        })
    })();
    if result.is_err() {
        // Nothing was attached (the link is the last step): the pins go.
        if let Ok((l, _)) = attach::pinned_link(&Kernel, &dir.join("link")) {
            let _ = sys::link_detach(&Kernel, l.as_fd());
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

fn update(
    req: &LinkedRequest,
    modules: &[Module],
    linked: &Linked,
    bound: &[Bound],
    dir: &Path,
    mut st: LinkedState,
) -> Result<LinkedReport, DeployError> {
    let pa_pin = dir.join("chain_progs");
    let prog_array = sys::obj_get(&Kernel, &pa_pin).map_err(sys_err("chain_progs"))?;
    let target = hook_target(req.mode);
    // Prepare every changed module first (nothing switched yet), then switch
    // their slots: any failure before leaves the running chain as it was.
    let mut staged: Vec<(usize, Loaded, u64, PathBuf)> = Vec::new();
    let mut kept = Vec::new();
    let undo = |staged: &[(usize, Loaded, u64, PathBuf)]| {
        for (_, _, _, d) in staged {
            let _ = std::fs::remove_dir_all(d);
        }
    };
    for (k, m) in modules.iter().enumerate() {
        let old = &st.modules[k];
        if old.digest == digest(&req.modules[k].source) {
            continue;
        }
        let old_module =
            offload_core::spec::compile(&old.source).map_err(|_| DeployError::Source {
                module: old.name.clone(),
                detail: "as recorded for the linked chain".into(),
            })?;
        let old_c =
            offload_ebpf::codegen::linked::compile_module(&old_module, k, modules.len(), &target)
                .map_err(|e| DeployError::Compile {
                module: old.name.clone(),
                hook: target.hook,
                detail: e.to_string(),
            })?;
        let old_dir = module_dir(dir, k, old.gen);
        let (reuse, names) =
            reusable_counters(&old_module, &old_c, &old_dir, m, &linked.modules[k]);
        let gen = old.gen + 1;
        let new_dir = module_dir(dir, k, gen);
        let _ = std::fs::remove_dir_all(&new_dir);
        let r = (|| {
            let l = ll::load_module(linked, k, req.mode, &pa_pin, &reuse)
                .map_err(|e| load_err(&m.name, req.mode, e))?;
            fill(m, &linked.modules[k], &l, bound, &req.iface)?;
            pin_module(&l, &new_dir)?;
            Ok::<_, DeployError>(l)
        })();
        match r {
            Ok(l) => staged.push((k, l, gen, new_dir)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&new_dir);
                undo(&staged);
                return Err(e);
            }
        }
        kept.extend(names);
    }
    // Switch, later modules first. The order does not change any frame's
    // meaning (each module means the same whatever runs around it); a frame
    // in flight during the switches may meet old and new modules mixed,
    // exactly as if they had been updated one after the other.
    for (k, l, _, _) in staged.iter().rev() {
        if let Err(e) = ll::set_slot(prog_array.as_fd(), *k as u32, l.prog.as_fd()) {
            // Put back the ones already switched.
            for (j, _, _, _) in staged.iter().rev().take_while(|(j, ..)| j > k) {
                if let Ok(old) = sys::obj_get(
                    &Kernel,
                    &module_dir(dir, *j, st.modules[*j].gen).join("prog"),
                ) {
                    let _ = ll::set_slot(prog_array.as_fd(), *j as u32, old.as_fd());
                }
            }
            undo(&staged);
            return Err(DeployError::Sys {
                what: format!("switching slot {k}"),
                source: e,
            });
        }
    }
    let mut report = Vec::new();
    let changed: Vec<usize> = staged.iter().map(|(k, ..)| *k).collect();
    for (k, l, gen, _) in &staged {
        let old_dir = module_dir(dir, *k, st.modules[*k].gen);
        let _ = std::fs::remove_dir_all(old_dir);
        let m = &mut st.modules[*k];
        m.gen = *gen;
        m.prog_id = l.info.id;
        m.source = req.modules[*k].source.clone();
        m.file = req.modules[*k].file.clone();
        m.digest = digest(&m.source);
    }
    save_state(&req.roots, &st)?;
    for (k, m) in st.modules.iter().enumerate() {
        report.push((m.name.clone(), m.prog_id, changed.contains(&k)));
    }
    Ok(LinkedReport {
        entry_prog_id: st.entry_prog_id,
        modules: report,
        kept_counters: kept,
    })
}

/// One module as the kernel shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleStatus {
    pub index: usize,
    pub name: String,
    pub file: String,
    pub digest: String,
    /// The program offload pinned for this slot.
    pub prog_id: u32,
    /// What the slot holds now (`None`: empty).
    pub slot_prog_id: Option<u32>,
    /// Table → packets counted (tables with counters).
    pub packets: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkedStatus {
    pub name: String,
    pub iface: String,
    pub mode: Mode,
    pub entry_prog_id: u32,
    /// The program the link runs now (`None`: no link).
    pub link_prog_id: Option<u32>,
    pub modules: Vec<ModuleStatus>,
    /// Differences from the record, in words (empty: in sync).
    pub drift: Vec<String>,
}

/// Reads deployment `name` back from the kernel.
pub fn status(roots: &Roots, name: &str) -> Result<LinkedStatus, DeployError> {
    let st = load_state(roots, name)?.ok_or_else(|| DeployError::NotDeployed {
        module: name.into(),
        path: state_path(roots, name).display().to_string(),
    })?;
    let dir = pin_dir(roots, name, &st.iface);
    let prog_array =
        sys::obj_get(&Kernel, &dir.join("chain_progs")).map_err(sys_err("chain_progs"))?;
    let link_prog_id = attach::pinned_link(&Kernel, &dir.join("link"))
        .ok()
        .map(|(_, i)| i.prog_id);
    let mut drift = Vec::new();
    match link_prog_id {
        None => drift.push(format!("the link on {} is gone", st.iface)),
        Some(id) if id != st.entry_prog_id => drift.push(format!(
            "the link runs program {id}, not the dispatcher {}",
            st.entry_prog_id
        )),
        _ => {}
    }
    let target = hook_target(st.mode);
    let mut modules = Vec::new();
    for (k, m) in st.modules.iter().enumerate() {
        let slot =
            ll::slot_prog_id(prog_array.as_fd(), k as u32).map_err(sys_err(format!("slot {k}")))?;
        if slot != Some(m.prog_id) {
            drift.push(match slot {
                None => format!(
                    "slot {k} ({}) is empty: frames that reach it are dropped",
                    m.name
                ),
                Some(id) => format!(
                    "slot {k} ({}) holds program {id}, not {}",
                    m.name, m.prog_id
                ),
            });
        }
        let mut packets = BTreeMap::new();
        if let Ok(module) = offload_core::spec::compile(&m.source) {
            if let Ok(c) =
                offload_ebpf::codegen::linked::compile_module(&module, k, st.modules.len(), &target)
            {
                let mdir = module_dir(&dir, k, m.gen);
                let maps = super::open_gen_maps(&Kernel, &mdir)?;
                for tl in &c.layout.tables {
                    let t = module.table(tl.table);
                    if let Ok(fds) = TableFds::find(tl, &maps) {
                        if let Ok(Some(v)) = write::read_counters(&Kernel, tl, fds) {
                            packets.insert(t.name.clone(), v.iter().map(|(p, _)| p).sum());
                        }
                    }
                }
            }
        }
        modules.push(ModuleStatus {
            index: k,
            name: m.name.clone(),
            file: m.file.clone(),
            digest: m.digest.clone(),
            prog_id: m.prog_id,
            slot_prog_id: slot,
            packets,
        });
    }
    Ok(LinkedStatus {
        name: st.name.clone(),
        iface: st.iface.clone(),
        mode: st.mode,
        entry_prog_id: st.entry_prog_id,
        link_prog_id,
        modules,
        drift,
    })
}

/// Repairs drift from the pins: a slot emptied or changed behind offload's
/// back gets its module back; a link removed is re-created for the
/// dispatcher. Returns the repairs made (empty: nothing to do). A program
/// on the hook that offload did not attach is reported, never removed.
pub fn reconcile(roots: &Roots, name: &str) -> Result<Vec<String>, DeployError> {
    let s = status(roots, name)?;
    let st = load_state(roots, name)?.expect("status read it");
    let dir = pin_dir(roots, name, &st.iface);
    let prog_array =
        sys::obj_get(&Kernel, &dir.join("chain_progs")).map_err(sys_err("chain_progs"))?;
    let mut done = Vec::new();
    for m in &s.modules {
        if m.slot_prog_id != Some(m.prog_id) {
            let prog = sys::obj_get(
                &Kernel,
                &module_dir(&dir, m.index, st.modules[m.index].gen).join("prog"),
            )
            .map_err(sys_err(format!("module {} pin", m.name)))?;
            ll::set_slot(prog_array.as_fd(), m.index as u32, prog.as_fd())
                .map_err(sys_err(format!("slot {}", m.index)))?;
            done.push(format!(
                "slot {} ({}) set back to program {}",
                m.index, m.name, m.prog_id
            ));
        }
    }
    if s.link_prog_id.is_none() {
        if let Some(p) = foreign_on(&st.iface, st.mode, None)? {
            return Err(DeployError::ForeignLinked {
                iface: st.iface.clone(),
                what: if st.mode == Mode::Tc {
                    "a tc"
                } else {
                    "an XDP"
                },
                id: p.id,
                name: p.name,
            });
        }
        let ifindex = crate::host::ifindex(&st.iface);
        let prog =
            sys::obj_get(&Kernel, &dir.join("entry")).map_err(sys_err("the dispatcher's pin"))?;
        let (atype, flags) = match st.mode {
            Mode::Native => (sys::attach_type::XDP, sys::xdp_flags::DRV_MODE),
            Mode::Generic => (sys::attach_type::XDP, sys::xdp_flags::SKB_MODE),
            Mode::Tc => (sys::attach_type::TCX_INGRESS, 0),
            Mode::Offload => (sys::attach_type::XDP, sys::xdp_flags::HW_MODE),
        };
        let link = sys::link_create(&Kernel, prog.as_fd(), ifindex, atype, flags).map_err(
            sys_err(format!("re-attaching the dispatcher on {}", st.iface)),
        )?;
        let _ = std::fs::remove_file(dir.join("link"));
        attach::pin(&Kernel, link.as_fd(), &dir.join("link")).map_err(|e| DeployError::Attach {
            iface: st.iface.clone(),
            source: Box::new(e),
        })?;
        done.push(format!("the dispatcher re-attached on {}", st.iface));
    }
    Ok(done)
}

/// Removes deployment `name`: its link (the hook is free again), its pins
/// and its record. Nothing else.
pub fn detach(roots: &Roots, name: &str) -> Result<(), DeployError> {
    let st = load_state(roots, name)?.ok_or_else(|| DeployError::NotDeployed {
        module: name.into(),
        path: state_path(roots, name).display().to_string(),
    })?;
    let dir = pin_dir(roots, name, &st.iface);
    let _ = attach::detach_pinned(&Kernel, &dir.join("link"));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir(roots.iface_dir(name, &st.iface));
    let _ = std::fs::remove_dir(roots.module_dir(name));
    let _ = std::fs::remove_file(state_path(roots, name));
    Ok(())
}
