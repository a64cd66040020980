//! Maps: create (optionally on a device, never with BTF), element and batch
//! operations.

use super::attr::{MapBatch, MapCreate, MapElem};
use super::{call, obj_name, owned_fd, Bpf, Cmd, SysError};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// enum bpf_map_type values we create or read.
pub mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LPM_TRIE: u32 = 11;
    pub const DEVMAP: u32 = 14;
    pub const DEVMAP_HASH: u32 = 25;
}

/// BPF_F_NO_PREALLOC (required for LPM tries).
pub const BPF_F_NO_PREALLOC: u32 = 1;
/// Update flags.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;

/// What to create. `ifindex != 0` binds the map to a device (hardware offload);
/// such maps must be created without BTF, so this path never passes any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub ifindex: u32,
}

pub fn map_create(sys: &dyn Bpf, spec: &MapSpec) -> Result<OwnedFd, SysError> {
    let mut a = MapCreate {
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        map_flags: spec.flags,
        map_name: obj_name(&spec.name),
        map_ifindex: spec.ifindex,
        ..Default::default()
    };
    let target = if spec.ifindex != 0 {
        format!("map {:?} on ifindex {}", spec.name, spec.ifindex)
    } else {
        format!("map {:?}", spec.name)
    };
    call(sys, Cmd::MapCreate, &mut a)
        .map(owned_fd)
        .map_err(|e| SysError::new("MAP_CREATE", target, e))
}

fn elem(fd: BorrowedFd<'_>, key: &[u8], value: u64, flags: u64) -> MapElem {
    MapElem {
        map_fd: fd.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value,
        flags,
        ..Default::default()
    }
}

fn map_target(fd: BorrowedFd<'_>) -> String {
    format!("map fd {}", fd.as_raw_fd())
}

pub fn map_update(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    key: &[u8],
    value: &[u8],
    flags: u64,
) -> Result<(), SysError> {
    let mut a = elem(fd, key, value.as_ptr() as u64, flags);
    call(sys, Cmd::MapUpdateElem, &mut a)
        .map(drop)
        .map_err(|e| SysError::new("MAP_UPDATE_ELEM", map_target(fd), e))
}

/// `Ok(false)` when the key is absent.
pub fn map_lookup(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
) -> Result<bool, SysError> {
    let mut a = elem(fd, key, value.as_mut_ptr() as u64, 0);
    match call(sys, Cmd::MapLookupElem, &mut a) {
        Ok(_) => Ok(true),
        Err(e) if e == Errno::ENOENT as i32 => Ok(false),
        Err(e) => Err(SysError::new("MAP_LOOKUP_ELEM", map_target(fd), e)),
    }
}

/// `Ok(false)` when the key was absent.
pub fn map_delete(sys: &dyn Bpf, fd: BorrowedFd<'_>, key: &[u8]) -> Result<bool, SysError> {
    let mut a = elem(fd, key, 0, 0);
    match call(sys, Cmd::MapDeleteElem, &mut a) {
        Ok(_) => Ok(true),
        Err(e) if e == Errno::ENOENT as i32 => Ok(false),
        Err(e) => Err(SysError::new("MAP_DELETE_ELEM", map_target(fd), e)),
    }
}

/// The key after `key` (`None` = first); `Ok(false)` at the end.
pub fn map_next_key(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    key: Option<&[u8]>,
    next: &mut [u8],
) -> Result<bool, SysError> {
    let mut a = MapElem {
        map_fd: fd.as_raw_fd() as u32,
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value: next.as_mut_ptr() as u64,
        ..Default::default()
    };
    match call(sys, Cmd::MapGetNextKey, &mut a) {
        Ok(_) => Ok(true),
        Err(e) if e == Errno::ENOENT as i32 => Ok(false),
        Err(e) => Err(SysError::new("MAP_GET_NEXT_KEY", map_target(fd), e)),
    }
}

/// One map element as raw bytes.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// A batch call that stopped part-way: `done` elements were processed first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source} after {done} of {total} elements")]
pub struct BatchError {
    pub done: u32,
    pub total: u32,
    #[source]
    pub source: SysError,
}

/// How many elements a failed batch call processed. The kernel writes the
/// progress back into `count` only once it has started on the elements
/// (`generic_map_update_batch` and friends); a map type without batch
/// support (offloaded maps: ENOTSUPP) or a refused attribute fails before
/// that and leaves the requested count in place. A count that was not
/// lowered therefore means "nothing done" — reading it as "all done" made
/// the one-by-one fallback skip every element (found by the offload lab).
fn batch_progress(reported: u32, requested: u32) -> u32 {
    if reported < requested {
        reported
    } else {
        0
    }
}

/// BPF_MAP_UPDATE_BATCH of `count` keys and values laid end to end.
pub fn map_update_batch(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    keys: &[u8],
    values: &[u8],
    count: u32,
    elem_flags: u64,
) -> Result<(), BatchError> {
    let mut a = MapBatch {
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        count,
        map_fd: fd.as_raw_fd() as u32,
        elem_flags,
        ..Default::default()
    };
    match call(sys, Cmd::MapUpdateBatch, &mut a) {
        Ok(_) => Ok(()),
        Err(e) => Err(BatchError {
            done: batch_progress(a.count, count),
            total: count,
            source: SysError::new("MAP_UPDATE_BATCH", map_target(fd), e),
        }),
    }
}

/// BPF_MAP_DELETE_BATCH of `count` keys laid end to end.
pub fn map_delete_batch(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    keys: &[u8],
    count: u32,
) -> Result<(), BatchError> {
    let mut a = MapBatch {
        keys: keys.as_ptr() as u64,
        count,
        map_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    match call(sys, Cmd::MapDeleteBatch, &mut a) {
        Ok(_) => Ok(()),
        Err(e) => Err(BatchError {
            done: batch_progress(a.count, count),
            total: count,
            source: SysError::new("MAP_DELETE_BATCH", map_target(fd), e),
        }),
    }
}

/// Every (key, value) of a map with BPF_MAP_LOOKUP_BATCH, `chunk` per call.
/// `value_size` is the per-call value size (for per-CPU maps: the rounded
/// size × possible CPUs).
pub fn map_dump_batch(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    chunk: u32,
) -> Result<Vec<KeyValue>, SysError> {
    let mut out = Vec::new();
    // The batch token is opaque; hash maps use a u32 bucket, 8 bytes is safe.
    let token_len = key_size.max(8);
    let mut in_tok = vec![0u8; token_len];
    let mut out_tok = vec![0u8; token_len];
    let mut keys = vec![0u8; key_size * chunk as usize];
    let mut values = vec![0u8; value_size * chunk as usize];
    let mut first = true;
    loop {
        let mut a = MapBatch {
            in_batch: if first { 0 } else { in_tok.as_ptr() as u64 },
            out_batch: out_tok.as_mut_ptr() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: chunk,
            map_fd: fd.as_raw_fd() as u32,
            ..Default::default()
        };
        let r = call(sys, Cmd::MapLookupBatch, &mut a);
        let n = a.count as usize;
        let done = match r {
            Ok(_) => false,
            Err(e) if e == Errno::ENOENT as i32 => true,
            Err(e) => return Err(SysError::new("MAP_LOOKUP_BATCH", map_target(fd), e)),
        };
        for i in 0..n.min(chunk as usize) {
            out.push((
                keys[i * key_size..(i + 1) * key_size].to_vec(),
                values[i * value_size..(i + 1) * value_size].to_vec(),
            ));
        }
        if done {
            return Ok(out);
        }
        std::mem::swap(&mut in_tok, &mut out_tok);
        first = false;
    }
}

/// Every (key, value) by walking keys one at a time (works on every map type,
/// incl. LPM tries, which have no batch lookup).
pub fn map_dump_walk(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
) -> Result<Vec<KeyValue>, SysError> {
    let mut out = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    loop {
        let mut next = vec![0u8; key_size];
        if !map_next_key(sys, fd, key.as_deref(), &mut next)? {
            return Ok(out);
        }
        let mut v = vec![0u8; value_size];
        // A key deleted between the two calls is simply skipped.
        if map_lookup(sys, fd, &next, &mut v)? {
            out.push((next.clone(), v));
        }
        key = Some(next);
    }
}

/// Number of possible CPUs (the per-CPU map value multiplier).
pub fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()))
        .unwrap_or(1)
}

/// "0-3,5" → 6 (highest + 1, as the kernel sizes per-CPU copies).
pub fn parse_cpu_list(s: &str) -> Option<usize> {
    let mut max = None;
    for part in s.split(',') {
        let hi = part.rsplit('-').next()?.trim().parse::<usize>().ok()?;
        max = Some(max.map_or(hi, |m: usize| m.max(hi)));
    }
    max.map(|m| m + 1)
}
