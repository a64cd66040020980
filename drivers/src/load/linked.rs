//! A chain linked by tail calls (`offload_ebpf::codegen::linked`) loaded
//! into the kernel: the dispatcher, one program per module, one shared
//! `chain_progs` PROG_ARRAY.
//!
//! Every program of a chain must reference the same array, so it is pinned
//! (at a path the caller chooses: a deployment's folder, or a scratch pin a
//! test run removes) and every later program is loaded reusing that pin.
//! Slots are not filled here: the caller fills each module's tables first,
//! then [`set_slot`]s them (last module first, so a frame never reaches a
//! module whose tables are still empty).

use super::program::{load_reusing, LoadError, Loaded};
use super::Mode;
use crate::sys::{self, Kernel, SysError};
use offload_ebpf::codegen::linked::{Linked, PROG_ARRAY};
use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// The loaded programs of a linked chain.
#[derive(Debug)]
pub struct LoadedLinked {
    /// `chain_entry`, the program the hook runs.
    pub entry: Loaded,
    /// Module k's program (not yet in slot k).
    pub modules: Vec<Loaded>,
    /// The shared PROG_ARRAY.
    pub prog_array: OwnedFd,
}

/// Loads `linked` for `mode`, its PROG_ARRAY pinned at `prog_array_pin`
/// (reused when a pin exists there: a new module for a running chain).
pub fn load(linked: &Linked, mode: Mode, prog_array_pin: &Path) -> Result<LoadedLinked, LoadError> {
    let entry = load_entry(linked, mode, prog_array_pin)?;
    let mut modules = Vec::with_capacity(linked.modules.len());
    for index in 0..linked.modules.len() {
        modules.push(load_module(
            linked,
            index,
            mode,
            prog_array_pin,
            &BTreeMap::new(),
        )?);
    }
    let prog_array = sys::obj_get(&Kernel, prog_array_pin)?;
    Ok(LoadedLinked {
        entry,
        modules,
        prog_array,
    })
}

/// Loads the dispatcher; pins its PROG_ARRAY at `prog_array_pin` unless one
/// is pinned there already (then it uses that one).
pub fn load_entry(linked: &Linked, mode: Mode, prog_array_pin: &Path) -> Result<Loaded, LoadError> {
    let reuse = reuse(prog_array_pin);
    let entry = load_reusing(
        &linked.entry.object,
        &linked.entry.program_name,
        mode,
        &reuse,
    )?;
    if !prog_array_pin.exists() {
        let map = entry.map(PROG_ARRAY).ok_or_else(|| LoadError::Refused {
            name: linked.entry.program_name.clone(),
            detail: format!("the dispatcher has no {PROG_ARRAY} map"),
        })?;
        sys::obj_pin(&Kernel, map.fd.as_fd(), prog_array_pin)?;
    }
    Ok(entry)
}

/// Loads module `index`'s program (its pass tail-calls into the pinned
/// array); `also` names more of its maps to take from pins (a new version
/// keeping the counters of tables that did not change).
pub fn load_module(
    linked: &Linked,
    index: usize,
    mode: Mode,
    prog_array_pin: &Path,
    also: &BTreeMap<String, std::path::PathBuf>,
) -> Result<Loaded, LoadError> {
    let c = &linked.modules[index];
    let mut reuse = if c.tail_call.is_some() {
        reuse(prog_array_pin)
    } else {
        BTreeMap::new()
    };
    reuse.extend(also.iter().map(|(k, v)| (k.clone(), v.clone())));
    load_reusing(&c.object, &c.program_name, mode, &reuse)
}

fn reuse(pin: &Path) -> BTreeMap<String, std::path::PathBuf> {
    BTreeMap::from([(PROG_ARRAY.to_string(), pin.to_path_buf())])
}

/// Puts `prog` in `slot` (atomic for the frames in flight: a frame runs the
/// old program or the new one).
pub fn set_slot(
    prog_array: BorrowedFd<'_>,
    slot: u32,
    prog: BorrowedFd<'_>,
) -> Result<(), SysError> {
    let fd = prog.as_raw_fd() as u32;
    sys::map_update(
        &Kernel,
        prog_array,
        &slot.to_ne_bytes(),
        &fd.to_ne_bytes(),
        sys::BPF_ANY,
    )
}

/// The id of the program in `slot`, `None` when the slot is empty (a
/// PROG_ARRAY looked up from user space gives the program's id).
pub fn slot_prog_id(prog_array: BorrowedFd<'_>, slot: u32) -> Result<Option<u32>, SysError> {
    let mut v = [0u8; 4];
    if sys::map_lookup(&Kernel, prog_array, &slot.to_ne_bytes(), &mut v)? {
        Ok(Some(u32::from_ne_bytes(v)))
    } else {
        Ok(None)
    }
}

/// Fills slots 0..n with the modules, the last module first.
pub fn fill_slots(l: &LoadedLinked) -> Result<(), SysError> {
    for (k, m) in l.modules.iter().enumerate().rev() {
        set_slot(l.prog_array.as_fd(), k as u32, m.prog.as_fd())?;
    }
    Ok(())
}
