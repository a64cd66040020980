//! Deploying a module on this host's interfaces, and everything after:
//! [`apply()`] (plan → compile → load → fill maps → attach, transactional and
//! hitless when a version runs already), [`status`] (read back from the
//! kernel, drift shown), [`runtime`] (entries at run time on every placement),
//! [`detach`]; [`linked`]: a chain linked by tail calls on one interface
//! (one slot update per module); [`split`]: a module's first stages
//! offloaded to the NIC, the rest on the host of the same interface (two
//! deployments and a record).
//!
//! Layout on disk: pins under `/sys/fs/bpf/offload/<module>/<iface>/` (`link`,
//! and `g<N>/` with the program and maps of generation N), the state in
//! `/run/offload/<module>.json` ([`state`]).

pub mod apply;
pub mod linked;
pub mod phases;
pub mod ports;
pub mod runtime;
pub mod split;
pub mod state;
pub mod status;

pub use apply::{apply, detach, ApplyReport, ApplyRequest};
pub use state::{Roots, State};

use crate::entries::write::{TableFds, WriteError};
use crate::load::program::LoadedMap;
use crate::sys::{self, Bpf, SysError};
use offload_core::ir::Module;
use offload_ebpf::layout::{Hook, ModuleLayout};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Bpffs(#[from] crate::load::bpffs::BpffsError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Port(#[from] ports::PortError),
    #[error(transparent)]
    Entry(#[from] crate::entries::EntryError),
    #[error("interface {iface} does not exist")]
    NoInterface { iface: String },
    #[error("{iface} already runs {what} program id {id} {name:?} that offload did not attach; offload never replaces it silently: pass --replace to take it over")]
    Foreign {
        iface: String,
        what: &'static str,
        id: u32,
        name: String,
    },
    #[error("{iface} runs libxdp's dispatcher (program id {id} \"xdp_dispatcher\"), which holds other tools' XDP programs; offload never replaces it, not even with --replace (that would remove every program in it): remove them with `xdp-loader unload {iface} --all` if that is what you want, or deploy on tc")]
    ForeignDispatcher { iface: String, id: u32 },
    #[error("loading module {module} of the linked chain for {mode}: {detail}")]
    LinkedLoad {
        module: String,
        mode: crate::load::Mode,
        detail: String,
    },
    #[error("the linked chain's record {path}: {detail}")]
    LinkedRecord { path: String, detail: String },
    #[error("{name}: {detail}")]
    LinkedLayout { name: String, detail: String },
    #[error("{iface} already runs {what} program id {id} {name:?} that offload did not attach; a linked chain never takes over a hook (remove that program yourself, or deploy on another interface or mode)")]
    ForeignLinked {
        iface: String,
        what: &'static str,
        id: u32,
        name: String,
    },
    #[error("{iface} already runs offload's deployment {other} (program id {id}); a hook holds one program: detach it first (`offloadctl detach --module {other}`), or, to put {module} in its place hitlessly, deploy it under the same name (a chain: `name = \"{other}\"` in deploy.toml)")]
    OtherDeployment {
        iface: String,
        id: u32,
        other: String,
        module: String,
    },
    #[error("compiling {module} for {hook:?}: {detail}")]
    Compile {
        module: String,
        hook: Hook,
        detail: String,
    },
    #[error("no target worked on {iface}:\n{}", tried.iter().map(|(m, r)| format!("  {m}: {r}")).collect::<Vec<_>>().join("\n"))]
    NoTarget {
        iface: String,
        tried: Vec<(String, String)>,
    },
    #[error("filling the maps of {module} on {iface}: {source}")]
    Fill {
        module: String,
        iface: String,
        #[source]
        source: WriteError,
    },
    #[error("attaching on {iface}: {source}; the previous version is left running")]
    Attach {
        iface: String,
        #[source]
        source: Box<crate::load::attach::AttachError>,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: SysError,
    },
    #[error("module {module} is not deployed here (no {path}); `offloadctl apply` first")]
    NotDeployed { module: String, path: String },
    #[error("no module is deployed here; name one with --module")]
    NothingDeployed,
    #[error("several modules are deployed ({names}); pick one with --module")]
    Ambiguous { names: String },
    #[error("the stored module source of {module} no longer compiles: {detail}")]
    Source { module: String, detail: String },
    #[error("observing {iface}: {source}")]
    Observe {
        iface: String,
        #[source]
        source: crate::load::observe::ObserveError,
    },
}

pub(crate) fn sys_err(what: impl Into<String>) -> impl FnOnce(SysError) -> DeployError {
    let what = what.into();
    move |source| DeployError::Sys { what, source }
}

/// Maps of one generation, reopened from their pins.
pub(crate) fn open_gen_maps(
    sys: &dyn Bpf,
    dir: &Path,
) -> Result<BTreeMap<String, LoadedMap>, DeployError> {
    let mut maps = BTreeMap::new();
    let rd = std::fs::read_dir(dir).map_err(|e| DeployError::Sys {
        what: format!("listing {}", dir.display()),
        source: SysError {
            call: "readdir",
            target: dir.display().to_string(),
            errno: e.raw_os_error().unwrap_or(0),
        },
    })?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "prog" {
            continue;
        }
        let fd = sys::obj_get(sys, &e.path()).map_err(sys_err(format!(
            "opening pinned map {}",
            e.path().display()
        )))?;
        let info = sys::map_info(sys, fd.as_fd()).map_err(sys_err("reading map info"))?;
        maps.insert(name, LoadedMap { fd, info });
    }
    Ok(maps)
}

/// The module compiled from a state's stored source (a chain source gives
/// the chain's fused module, tables `module.table`).
pub(crate) fn module_of(st: &State) -> Result<Module, DeployError> {
    offload_core::spec::chain::module_of(&st.source).map_err(|e| DeployError::Source {
        module: st.module.clone(),
        detail: e.to_string(),
    })
}

/// The segments of a chain source, over `module` (the program's module,
/// perhaps with other entries): what `compile_chain` compiles. `Ok(None)`:
/// the source is one module's. A chain source that does not compile is an
/// error, never compiled as one module (that would change its meaning).
pub fn chain_of(
    source: &str,
    module: &Module,
) -> Result<Option<offload_core::ir::chain::Fused>, DeployError> {
    if !offload_core::spec::chain::is_chain(source) {
        return Ok(None);
    }
    let p =
        offload_core::spec::chain::compile_program(source).map_err(|e| DeployError::Source {
            module: module.name.clone(),
            detail: e.to_string(),
        })?;
    Ok(p.fused.map(|f| offload_core::ir::chain::Fused {
        module: module.clone(),
        segments: f.segments,
    }))
}

/// What a placement's program is compiled for: the host kernel's XDP or tc,
/// or a device's offload profile.
pub fn target_for(
    mode: crate::load::Mode,
    offload_profile: Option<&offload_core::plan::Profile>,
) -> offload_ebpf::codegen::Target {
    use offload_ebpf::codegen::Target;
    match mode {
        crate::load::Mode::Offload => Target::xdp_offload(
            offload_profile
                .cloned()
                .unwrap_or_else(offload_core::plan::Profile::nfp),
        ),
        crate::load::Mode::Tc => Target::tc(),
        _ => Target::xdp(),
    }
}

/// The layout of a recorded placement (its profile decides offload layouts).
pub(crate) fn placement_layout(module: &Module, p: &state::Placement) -> ModuleLayout {
    let profile = offload_core::plan::Profile::by_name(&p.profile);
    let mut target = target_for(p.mode, profile.as_ref());
    target.capacities = p.capacities();
    offload_ebpf::codegen::layout_for(module, &target)
}

/// [`target_for`], with every table's room sized to `entries` (by table:
/// entry and counter slot): counters and tuple-space masks get twice what
/// the entries need instead of the table's size and the profile's bound.
/// Creating a 65,537-slot per-CPU counter array was ~50 ms of an apply, and
/// the verifier walks the mask loop once per mask slot.
pub fn sized_target(
    module: &Module,
    mode: crate::load::Mode,
    offload_profile: Option<&offload_core::plan::Profile>,
    entries: &BTreeMap<String, Vec<(&offload_core::ir::Entry, u32)>>,
) -> offload_ebpf::codegen::Target {
    let mut target = target_for(mode, offload_profile);
    let full = offload_ebpf::codegen::layout_for(module, &target);
    target.capacities = full
        .tables
        .iter()
        .map(|tl| {
            let t = module.table(tl.table);
            let list = entries.get(&t.name).map(Vec::as_slice).unwrap_or_default();
            let need = tl.need(t, list.iter().map(|(e, s)| (*e, *s)));
            (t.name.clone(), tl.capacity_for(t, need))
        })
        .collect();
    target
}

pub(crate) fn table_fds<'a>(
    layout: &offload_ebpf::layout::TableLayout,
    maps: &'a BTreeMap<String, LoadedMap>,
) -> Result<TableFds<'a>, WriteError> {
    TableFds::find(layout, maps)
}

/// Resolves which deployed module a command is about.
pub fn pick_module(roots: &Roots, module: Option<&str>) -> Result<State, DeployError> {
    match module {
        Some(m) => State::load(&roots.state_file(m))?.ok_or_else(|| DeployError::NotDeployed {
            module: m.into(),
            path: roots.state_file(m).display().to_string(),
        }),
        None => {
            let mut all = State::all(roots)?;
            match all.len() {
                0 => Err(DeployError::NothingDeployed),
                1 => Ok(all.remove(0)),
                _ => Err(DeployError::Ambiguous {
                    names: all
                        .iter()
                        .map(|s| s.module.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
    }
}
