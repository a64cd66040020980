//! The hardware-offload load path: maps created with `map_ifindex` (and no
//! BTF: the kernel refuses BTF on offloaded maps), the program loaded with
//! `prog_ifindex`, attached in XDP HW mode. aya 0.14 sets neither ifindex, so
//! this path parses the same object with `aya-obj`, relocates the map
//! references itself and issues the raw calls through [`crate::sys`].
//!
//! A device without BPF offload refuses at the first step; the error names the
//! step, the device and the kernel's errno so that the caller can record it and
//! try the planner's next target.

use super::program::{Loaded, LoadedMap};
use super::Mode;
use crate::sys::{self, Bpf, MapSpec, ProgLoadError, ProgSpec, SysError};
use std::collections::{BTreeMap, HashSet};
use std::os::fd::{AsFd, AsRawFd};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    #[error("the object does not parse: {detail}")]
    Object { detail: String },
    #[error("the object has no program {name:?}")]
    NoProgram { name: String },
    #[error("map {map:?} cannot be created on {iface} (ifindex {ifindex}): the device refused BPF map offload: {source}")]
    MapRefused {
        map: String,
        iface: String,
        ifindex: u32,
        #[source]
        source: SysError,
    },
    #[error("program {name:?} cannot be loaded for {iface} (ifindex {ifindex}): the device refused BPF program offload: {source}")]
    ProgRefused {
        name: String,
        iface: String,
        ifindex: u32,
        #[source]
        source: SysError,
    },
    #[error("the offload device {iface} rejected program {name:?}: {detail}")]
    Verifier {
        name: String,
        iface: String,
        detail: String,
    },
    #[error("relocating map references failed: {detail}")]
    Relocation { detail: String },
    #[error(transparent)]
    Sys(#[from] SysError),
}

impl OffloadError {
    /// Whether the device (not the program) is the reason: the planner then
    /// moves on to its next target.
    pub fn device_refused(&self) -> bool {
        matches!(
            self,
            OffloadError::MapRefused { .. } | OffloadError::ProgRefused { .. }
        )
    }
}

/// Loads program `name` of `object` onto device `iface` (ifindex `ifindex`).
pub fn load_offloaded(
    sys: &dyn Bpf,
    object: &[u8],
    name: &str,
    iface: &str,
    ifindex: u32,
) -> Result<Loaded, OffloadError> {
    let mut obj = aya_obj::Object::parse(object).map_err(|e| OffloadError::Object {
        detail: e.to_string(),
    })?;
    let program = obj
        .programs
        .get(name)
        .ok_or_else(|| OffloadError::NoProgram { name: name.into() })?;
    let key = program.function_key();
    let license = program.license.to_string_lossy().into_owned();

    // Maps first, on the device, without BTF.
    let mut created = Vec::new();
    let mut names: Vec<&String> = obj.maps.keys().collect();
    names.sort();
    for map_name in names {
        let m = &obj.maps[map_name];
        let spec = MapSpec {
            name: map_name.clone(),
            map_type: m.map_type(),
            key_size: m.key_size(),
            value_size: m.value_size(),
            max_entries: m.max_entries(),
            flags: m.map_flags(),
            ifindex,
        };
        let fd = sys::map_create(sys, &spec).map_err(|source| {
            if sys::is_offload_refusal(source.errno) {
                OffloadError::MapRefused {
                    map: map_name.clone(),
                    iface: iface.into(),
                    ifindex,
                    source,
                }
            } else {
                OffloadError::Sys(source)
            }
        })?;
        created.push((map_name.clone(), fd));
    }
    let maps_for_reloc: Vec<(String, i32, aya_obj::Map)> = created
        .iter()
        .map(|(n, fd)| (n.clone(), fd.as_raw_fd(), obj.maps[n].clone()))
        .collect();
    obj.relocate_maps(
        maps_for_reloc.iter().map(|(n, fd, m)| (n.as_str(), *fd, m)),
        &HashSet::new(),
    )
    .map_err(|e| OffloadError::Relocation {
        detail: e.to_string(),
    })?;
    obj.relocate_calls(&HashSet::new())
        .map_err(|e| OffloadError::Relocation {
            detail: e.to_string(),
        })?;
    let function = obj
        .functions
        .get(&key)
        .ok_or_else(|| OffloadError::NoProgram { name: name.into() })?;
    let insns: Vec<u64> = function
        .instructions
        .iter()
        .map(|i| {
            // SAFETY: bpf_insn is exactly 8 bytes of plain data (the kernel ABI).
            unsafe { std::mem::transmute::<aya_obj::generated::bpf_insn, u64>(*i) }
        })
        .collect();
    let prog = sys::prog_load(
        sys,
        &ProgSpec {
            name,
            prog_type: sys::prog_type::XDP,
            insns: &insns,
            license: &license,
            ifindex,
            expected_attach_type: 0,
        },
    )
    .map_err(|e| match e {
        ProgLoadError::OffloadUnsupported { source, .. } => OffloadError::ProgRefused {
            name: name.into(),
            iface: iface.into(),
            ifindex,
            source,
        },
        ProgLoadError::Refused { source, log } => OffloadError::Verifier {
            name: name.into(),
            iface: iface.into(),
            detail: if log.is_empty() {
                source.to_string()
            } else {
                format!("{source}\n{log}")
            },
        },
        ProgLoadError::BadLicense { name } => OffloadError::Object {
            detail: format!("license of {name} contains NUL"),
        },
    })?;
    let info = sys::prog_info(sys, prog.as_fd())?;
    let mut maps = BTreeMap::new();
    for (_, fd) in created {
        let info = sys::map_info(sys, fd.as_fd())?;
        maps.insert(info.name.clone(), LoadedMap { fd, info });
    }
    Ok(Loaded {
        mode: Mode::Offload,
        name: name.into(),
        prog,
        info,
        maps,
        ebpf: None,
        phases: Default::default(),
    })
}
