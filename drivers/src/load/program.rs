//! An object loaded into the kernel with aya 0.14, not yet attached.
//!
//! aya parses the ELF, creates the maps (with their BTF), relocates and loads
//! the program through the verifier. We then hold our own descriptors for the
//! program and each map (found through the program's map ids), so pinning,
//! entries and replacement do not depend on aya's wrappers.

use super::Mode;
use crate::sys::{self, Bpf, MapInfo, ProgInfo, SysError};
use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the object does not parse or its maps cannot be created: {source}")]
    Object {
        #[source]
        source: Box<aya::EbpfError>,
    },
    #[error("the object has no program {name:?} (it has: {available})")]
    NoProgram { name: String, available: String },
    #[error("program {name:?} is a {found} program, {mode} mode needs {wanted}")]
    WrongType {
        name: String,
        found: String,
        wanted: &'static str,
        mode: Mode,
    },
    #[error("the kernel refused program {name:?}: {detail}")]
    Refused { name: String, detail: String },
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    Offload(#[from] super::offload::OffloadError),
}

/// One map of a loaded program.
#[derive(Debug)]
pub struct LoadedMap {
    pub fd: OwnedFd,
    pub info: MapInfo,
}

/// A loaded, verified program and its maps.
#[derive(Debug)]
pub struct Loaded {
    pub mode: Mode,
    /// The program's function name in the object.
    pub name: String,
    pub prog: OwnedFd,
    pub info: ProgInfo,
    /// Maps by the name the kernel keeps (the object's name, at most 15 bytes).
    pub maps: BTreeMap<String, LoadedMap>,
    /// aya's handle, needed to create links; `None` for hardware offload.
    pub(crate) ebpf: Option<aya::Ebpf>,
    /// Where the load's time went.
    pub phases: LoadPhases,
}

/// The two kernel phases of a load: creating the maps (with the object's
/// parse, microseconds of it) and verifying the program (with its JIT).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadPhases {
    pub maps: std::time::Duration,
    pub verify: std::time::Duration,
}

impl Loaded {
    /// A map by its object name (matched on the kernel's 15-byte prefix).
    pub fn map(&self, name: &str) -> Option<&LoadedMap> {
        let short: String = name.chars().take(15).collect();
        self.maps.get(&short)
    }
}

/// Loads program `name` of `object` for `mode` (not offload: see [`super::offload`]).
pub fn load(object: &[u8], name: &str, mode: Mode) -> Result<Loaded, LoadError> {
    load_reusing(object, name, mode, &BTreeMap::new())
}

/// [`load`], but the maps named in `reuse` (object map name → pinned path)
/// are the existing pinned maps instead of new ones. The caller has checked
/// that each one has the type and sizes the object declares.
pub fn load_reusing(
    object: &[u8],
    name: &str,
    mode: Mode,
    reuse: &BTreeMap<String, std::path::PathBuf>,
) -> Result<Loaded, LoadError> {
    // No kernel BTF: our objects have no CO-RE relocations, and parsing
    // /sys/kernel/btf/vmlinux costs more than the whole rest of a load.
    let mut loader = aya::EbpfLoader::new();
    loader.btf(None);
    for (map, path) in reuse {
        // aya would create and pin a missing map there: only existing pins.
        if path.exists() {
            loader.map_pin_path(map.as_str(), path.as_path());
        }
    }
    let t0 = std::time::Instant::now();
    let mut ebpf = loader.load(object).map_err(|e| LoadError::Object {
        source: Box::new(e),
    })?;
    let maps_time = t0.elapsed();
    let available = || {
        let mut v: Vec<String> = ebpf_names(&ebpf);
        v.sort();
        v.join(", ")
    };
    if ebpf.program(name).is_none() {
        return Err(LoadError::NoProgram {
            name: name.into(),
            available: available(),
        });
    }
    let program = ebpf.program_mut(name).expect("checked above");
    let t1 = std::time::Instant::now();
    let refused = |e: aya::programs::ProgramError| LoadError::Refused {
        name: name.into(),
        detail: program_error_detail(&e),
    };
    let prog_fd = match (mode, program) {
        (Mode::Tc, aya::programs::Program::SchedClassifier(p)) => {
            p.load().map_err(refused)?;
            p.fd().map_err(refused)?.as_fd().try_clone_to_owned()
        }
        (m, aya::programs::Program::Xdp(p)) if m.is_xdp() => {
            p.load().map_err(refused)?;
            p.fd().map_err(refused)?.as_fd().try_clone_to_owned()
        }
        (mode, other) => {
            return Err(LoadError::WrongType {
                name: name.into(),
                found: format!("{:?}", other.prog_type()),
                wanted: if mode == Mode::Tc {
                    "a classifier"
                } else {
                    "an xdp"
                },
                mode,
            })
        }
    }
    .map_err(|e| LoadError::Refused {
        name: name.into(),
        detail: format!("cannot duplicate the program descriptor: {e}"),
    })?;
    let verify = t1.elapsed();
    let k = sys::Kernel;
    let info = sys::prog_info(&k, prog_fd.as_fd())?;
    let maps = maps_of(&k, &info)?;
    Ok(Loaded {
        mode,
        name: name.into(),
        prog: prog_fd,
        info,
        maps,
        ebpf: Some(ebpf),
        phases: LoadPhases {
            maps: maps_time,
            verify,
        },
    })
}

fn ebpf_names(ebpf: &aya::Ebpf) -> Vec<String> {
    ebpf.programs().map(|(n, _)| n.to_string()).collect()
}

/// The maps a program uses, opened by id.
pub fn maps_of(sys: &dyn Bpf, info: &ProgInfo) -> Result<BTreeMap<String, LoadedMap>, SysError> {
    let mut maps = BTreeMap::new();
    for id in &info.map_ids {
        let fd = sys::map_fd_by_id(sys, *id)?;
        let info = sys::map_info(sys, fd.as_fd())?;
        maps.insert(info.name.clone(), LoadedMap { fd, info });
    }
    Ok(maps)
}

/// aya's error with the verifier's log lines, if any.
pub fn program_error_detail(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            format!("{io_error}\nverifier log:\n{verifier_log}")
        }
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(e) = src {
                s.push_str(": ");
                s.push_str(&e.to_string());
                src = e.source();
            }
            s
        }
    }
}

/// An error and its sources, joined with `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}
