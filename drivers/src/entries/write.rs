//! Writing table images into maps, and reading them back.
//!
//! Bulk writes use BPF_MAP_UPDATE_BATCH in chunks. Some kernels refuse batch
//! updates for some map types (e.g. ENOMEM from a non-preallocated LPM trie
//! has been reported on 6.18, EINVAL/ENOTSUPP where a map type has no batch
//! ops); the rest is then written one element at a time and the report says
//! so. A full map (E2BIG) is an error either way.

use crate::sys::{self, Bpf, SysError};
use nix::errno::Errno;
use offload_core::ir::{Entry, Table};
use offload_ebpf::layout::{LayoutError, TableImage, TableLayout};
use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;

/// Elements per BPF_MAP_UPDATE_BATCH call (bounds the kernel's copy buffers).
pub const BATCH_CHUNK: usize = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("map {map}: {source}")]
    Sys {
        map: String,
        #[source]
        source: SysError,
    },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("the loaded program has no map {map} (layout and object disagree)")]
    MissingMap { map: String },
    #[error("map {map} is full: {written} of {wanted} elements written, the rest refused (E2BIG); raise the table's size")]
    Full {
        map: String,
        written: usize,
        wanted: usize,
    },
}

/// How a write went.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteReport {
    pub batched: usize,
    pub one_by_one: usize,
    pub deleted: usize,
    /// Why the batch path was left, when it was.
    pub fallback: Option<String>,
}

impl WriteReport {
    fn add(&mut self, o: WriteReport) {
        self.batched += o.batched;
        self.one_by_one += o.one_by_one;
        self.deleted += o.deleted;
        if self.fallback.is_none() {
            self.fallback = o.fallback;
        }
    }
}

/// Kernel answers to a batch update that mean "use single updates instead".
fn batch_unsupported(e: &SysError) -> bool {
    e.is(Errno::ENOMEM)
        || e.is(Errno::EINVAL)
        || e.is(Errno::EOPNOTSUPP)
        || e.errno == sys::ENOTSUPP
        || e.is(Errno::ENOSYS)
}

/// Writes `elems` (all keys `key_size`, values `value_size` bytes) into map `fd`.
pub fn write_elements(
    sys: &dyn Bpf,
    map: &str,
    fd: BorrowedFd<'_>,
    elems: &[(Vec<u8>, Vec<u8>)],
    batch: bool,
) -> Result<WriteReport, WriteError> {
    let mut rep = WriteReport::default();
    let mut start = 0;
    if batch {
        while start < elems.len() {
            let chunk = &elems[start..(start + BATCH_CHUNK).min(elems.len())];
            let keys: Vec<u8> = chunk.iter().flat_map(|(k, _)| k.iter().copied()).collect();
            let values: Vec<u8> = chunk.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            match sys::map_update_batch(sys, fd, &keys, &values, chunk.len() as u32, sys::BPF_ANY) {
                Ok(()) => {
                    rep.batched += chunk.len();
                    start += chunk.len();
                }
                Err(e) if e.source.is(Errno::E2BIG) => {
                    return Err(WriteError::Full {
                        map: map.into(),
                        written: start + e.done as usize,
                        wanted: elems.len(),
                    })
                }
                Err(e) if batch_unsupported(&e.source) => {
                    rep.batched += e.done as usize;
                    start += e.done as usize;
                    tracing::info!(map, error = %e, "batch update refused; writing one element at a time");
                    rep.fallback = Some(e.to_string());
                    break;
                }
                Err(e) => {
                    return Err(WriteError::Sys {
                        map: map.into(),
                        source: e.source,
                    })
                }
            }
        }
    }
    for (i, (k, v)) in elems[start..].iter().enumerate() {
        sys::map_update(sys, fd, k, v, sys::BPF_ANY).map_err(|source| {
            if source.is(Errno::E2BIG) {
                WriteError::Full {
                    map: map.into(),
                    written: start + i,
                    wanted: elems.len(),
                }
            } else {
                WriteError::Sys {
                    map: map.into(),
                    source,
                }
            }
        })?;
        rep.one_by_one += 1;
    }
    Ok(rep)
}

/// Deletes `keys` from map `fd` (absent keys are fine).
pub fn delete_keys(
    sys: &dyn Bpf,
    map: &str,
    fd: BorrowedFd<'_>,
    keys: &[Vec<u8>],
) -> Result<usize, WriteError> {
    let mut n = 0;
    for k in keys {
        if sys::map_delete(sys, fd, k).map_err(|source| WriteError::Sys {
            map: map.into(),
            source,
        })? {
            n += 1;
        }
    }
    Ok(n)
}

/// The descriptors of one table's maps.
#[derive(Debug, Clone, Copy)]
pub struct TableFds<'a> {
    pub entries: BorrowedFd<'a>,
    pub masks: Option<BorrowedFd<'a>>,
    pub default: BorrowedFd<'a>,
    pub counters: Option<BorrowedFd<'a>>,
}

impl<'a> TableFds<'a> {
    /// Looks the layout's map names up in `maps` (kernel names, ≤ 15 bytes).
    pub fn find(
        layout: &TableLayout,
        maps: &'a BTreeMap<String, crate::load::program::LoadedMap>,
    ) -> Result<TableFds<'a>, WriteError> {
        use std::os::fd::AsFd;
        let get = |name: &str| -> Result<BorrowedFd<'a>, WriteError> {
            let short: String = name.chars().take(15).collect();
            maps.get(&short)
                .map(|m| m.fd.as_fd())
                .ok_or_else(|| WriteError::MissingMap { map: name.into() })
        };
        Ok(TableFds {
            entries: get(&layout.entries_map)?,
            masks: layout.masks_map.as_deref().map(get).transpose()?,
            default: get(&layout.default_map)?,
            counters: layout.counters_map.as_deref().map(get).transpose()?,
        })
    }
}

/// The image of a table's entries (each with its counter slot).
pub fn image(
    layout: &TableLayout,
    table: &Table,
    entries: &[(Entry, u32)],
) -> Result<TableImage, WriteError> {
    let refs: Vec<(&Entry, u32)> = entries.iter().map(|(e, s)| (e, *s)).collect();
    Ok(layout.encode_entries(table, &refs)?)
}

/// Fills a fresh table: default action, entries, masks (masks last, so the
/// program never probes a mask whose elements are not there yet).
pub fn fill(
    sys: &dyn Bpf,
    layout: &TableLayout,
    table: &Table,
    fds: TableFds<'_>,
    entries: &[(Entry, u32)],
    batch: bool,
) -> Result<WriteReport, WriteError> {
    let (dk, dv) = layout.encode_default(table);
    sys::map_update(sys, fds.default, &dk, &dv, sys::BPF_ANY).map_err(|source| {
        WriteError::Sys {
            map: layout.default_map.clone(),
            source,
        }
    })?;
    let img = image(layout, table, entries)?;
    let mut rep = write_elements(sys, &layout.entries_map, fds.entries, &img.entries, batch)?;
    if let (Some(m), Some(name)) = (fds.masks, &layout.masks_map) {
        rep.add(write_masks(sys, name, m, &img, 0)?);
    }
    Ok(rep)
}

/// Writes the masks array; slots from `img.masks.len()` up to `old_used` are
/// cleared (`used = 0` ends the probe list).
fn write_masks(
    sys: &dyn Bpf,
    name: &str,
    fd: BorrowedFd<'_>,
    img: &TableImage,
    old_used: usize,
) -> Result<WriteReport, WriteError> {
    let mut elems = img.masks.clone();
    let value_len = elems.first().map(|(_, v)| v.len());
    let n = img.masks.len();
    // Terminate the list (and clear what an older image used beyond it).
    let stop = old_used.max(n + 1);
    for i in n..stop {
        let key = (i as u32).to_ne_bytes().to_vec();
        elems.push((key, vec![0u8; value_len.unwrap_or(0)]));
    }
    // An empty image has no value length to copy: clear slot 0 with the
    // map's own value size.
    if value_len.is_none() {
        let info = sys::map_info(sys, fd).map_err(|source| WriteError::Sys {
            map: name.into(),
            source,
        })?;
        elems = (0..stop.min(info.max_entries as usize))
            .map(|i| {
                (
                    (i as u32).to_ne_bytes().to_vec(),
                    vec![0u8; info.value_size as usize],
                )
            })
            .collect();
    }
    let max = sys::map_info(sys, fd)
        .map(|i| i.max_entries as usize)
        .unwrap_or(usize::MAX);
    elems.retain(|(k, _)| (u32::from_ne_bytes([k[0], k[1], k[2], k[3]]) as usize) < max);
    write_elements(sys, name, fd, &elems, false)
}

/// Moves a live table from `old` to `new` entries: writes new/changed
/// elements, then the masks, then deletes elements only `old` had. If the
/// kernel refuses part-way, the old image is written back before returning
/// the error, so the table is as it was.
pub fn change(
    sys: &dyn Bpf,
    layout: &TableLayout,
    table: &Table,
    fds: TableFds<'_>,
    old: &[(Entry, u32)],
    new: &[(Entry, u32)],
    batch: bool,
) -> Result<WriteReport, WriteError> {
    let old_img = image(layout, table, old)?;
    let new_img = image(layout, table, new)?;
    match apply_diff(sys, layout, fds, &old_img, &new_img, batch) {
        Ok(r) => Ok(r),
        Err(e) => {
            tracing::warn!(table = %table.name, error = %e, "entry change refused by the kernel; restoring the previous entries");
            let _ = apply_diff(sys, layout, fds, &new_img, &old_img, false);
            Err(e)
        }
    }
}

/// Brings a table back to `entries` from whatever its maps hold now (drift
/// repair): elements missing or changed are written, unexpected ones
/// deleted, the masks array and the default action rewritten. Elements
/// already right are not touched, so traffic that hits them never notices.
pub fn resync(
    sys: &dyn Bpf,
    layout: &TableLayout,
    table: &Table,
    fds: TableFds<'_>,
    entries: &[(Entry, u32)],
) -> Result<WriteReport, WriteError> {
    let found = TableImage {
        entries: read_elements(sys, layout, fds)?,
        // Unknown: force the masks to be written.
        masks: vec![(Vec::new(), Vec::new())],
    };
    let want = image(layout, table, entries)?;
    let (k, v) = layout.encode_default(table);
    sys::map_update(sys, fds.default, &k, &v, sys::BPF_ANY).map_err(|source| WriteError::Sys {
        map: layout.default_map.clone(),
        source,
    })?;
    apply_diff(sys, layout, fds, &found, &want, false)
}

/// The default action a table's array holds now.
pub fn read_default(
    sys: &dyn Bpf,
    layout: &TableLayout,
    module: &offload_core::ir::Module,
    fds: TableFds<'_>,
) -> Result<Option<offload_core::ir::ActionCall>, WriteError> {
    let mut v = vec![0u8; layout.value.size as usize];
    let found =
        sys::map_lookup(sys, fds.default, &0u32.to_ne_bytes(), &mut v).map_err(|source| {
            WriteError::Sys {
                map: layout.default_map.clone(),
                source,
            }
        })?;
    if !found {
        return Ok(None);
    }
    Ok(layout
        .decode_value(module, &v)
        .ok()
        .map(|(call, _, _)| call))
}

fn apply_diff(
    sys: &dyn Bpf,
    layout: &TableLayout,
    fds: TableFds<'_>,
    old: &TableImage,
    new: &TableImage,
    batch: bool,
) -> Result<WriteReport, WriteError> {
    let before: BTreeMap<&[u8], &[u8]> = old
        .entries
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let after: BTreeMap<&[u8], &[u8]> = new
        .entries
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let upserts: Vec<(Vec<u8>, Vec<u8>)> = new
        .entries
        .iter()
        .filter(|(k, v)| before.get(k.as_slice()) != Some(&v.as_slice()))
        .cloned()
        .collect();
    let gone: Vec<Vec<u8>> = old
        .entries
        .iter()
        .filter(|(k, _)| !after.contains_key(k.as_slice()))
        .map(|(k, _)| k.clone())
        .collect();
    let mut rep = write_elements(
        sys,
        &layout.entries_map,
        fds.entries,
        &upserts,
        batch && upserts.len() > 1,
    )?;
    if let (Some(m), Some(name)) = (fds.masks, &layout.masks_map) {
        if old.masks != new.masks {
            write_masks(sys, name, m, new, old.masks.len() + 1)?;
        }
    }
    rep.deleted = delete_keys(sys, &layout.entries_map, fds.entries, &gone)?;
    Ok(rep)
}

/// Every element of the entries map (batch lookup, or a key walk where the
/// kernel has no batch lookup for the map type).
pub fn read_elements(
    sys: &dyn Bpf,
    layout: &TableLayout,
    fds: TableFds<'_>,
) -> Result<Vec<sys::KeyValue>, WriteError> {
    let ks = layout.entries_key_size() as usize;
    let vs = layout.value.size as usize;
    let err = |source| WriteError::Sys {
        map: layout.entries_map.clone(),
        source,
    };
    let mut all = match sys::map_dump_batch(sys, fds.entries, ks, vs, 4096) {
        Ok(v) => v,
        Err(e) if batch_unsupported(&e) => {
            sys::map_dump_walk(sys, fds.entries, ks, vs).map_err(err)?
        }
        Err(e) => return Err(err(e)),
    };
    all.sort();
    Ok(all)
}

/// Packets and bytes per counter slot, summed over CPUs; `None` without counters.
pub fn read_counters(
    sys: &dyn Bpf,
    layout: &TableLayout,
    fds: TableFds<'_>,
) -> Result<Option<Vec<(u64, u64)>>, WriteError> {
    let (Some(fd), Some(name)) = (fds.counters, &layout.counters_map) else {
        return Ok(None);
    };
    let err = |source| WriteError::Sys {
        map: name.clone(),
        source,
    };
    // Per-CPU arrays hold one (packets, bytes) pair per possible CPU; a
    // shared array (device offload) one pair.
    let info = sys::map_info(sys, fd).map_err(err)?;
    let cpus = if info.map_type == sys::map_type::PERCPU_ARRAY {
        sys::possible_cpus()
    } else {
        1
    };
    // Indexed by logical slot (the default action's is `size`, wherever the
    // program's capacity put it in the map).
    let slots = layout.default_slot as usize + 1;
    let mut out = vec![(0u64, 0u64); layout.size as usize + 1];
    let per_cpu = 16usize;
    let dump = match sys::map_dump_batch(sys, fd, 4, per_cpu * cpus, 4096) {
        Ok(d) => d,
        // Offloaded maps have no batch lookup (ENOTSUPP): walk the keys.
        Err(e) if batch_unsupported(&e) => {
            sys::map_dump_walk(sys, fd, 4, per_cpu * cpus).map_err(err)?
        }
        Err(e) => return Err(err(e)),
    };
    for (k, v) in dump {
        let slot = u32::from_ne_bytes([k[0], k[1], k[2], k[3]]) as usize;
        if slot >= slots {
            continue;
        }
        let slot = layout.logical_slot(slot as u32) as usize;
        for c in 0..cpus {
            let o = c * per_cpu;
            out[slot].0 += u64::from_ne_bytes(v[o..o + 8].try_into().expect("8 bytes"));
            out[slot].1 += u64::from_ne_bytes(v[o + 8..o + 16].try_into().expect("8 bytes"));
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{attr::MapBatch, Cmd};
    use std::os::fd::AsFd;
    use std::sync::Mutex;

    /// A kernel whose batch updates stop after `accept` elements with `errno`;
    /// single updates succeed and are counted.
    struct BatchRefusing {
        accept: u32,
        errno: i32,
        singles: Mutex<usize>,
        batches: Mutex<usize>,
    }

    impl Bpf for BatchRefusing {
        fn bpf(&self, cmd: Cmd, attr: &mut [u8]) -> Result<i64, i32> {
            match cmd {
                Cmd::MapUpdateBatch => {
                    *self.batches.lock().unwrap() += 1;
                    assert_eq!(attr.len(), std::mem::size_of::<MapBatch>());
                    // `count` (offset 32) reports how many were processed.
                    attr[32..36].copy_from_slice(&self.accept.to_ne_bytes());
                    Err(self.errno)
                }
                Cmd::MapUpdateElem => {
                    *self.singles.lock().unwrap() += 1;
                    Ok(0)
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn elems(n: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| (i.to_ne_bytes().to_vec(), vec![0u8; 8]))
            .collect()
    }

    fn some_fd() -> std::os::fd::OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn enomem_batch_falls_back_to_single_updates_after_progress() {
        let k = BatchRefusing {
            accept: 300,
            errno: Errno::ENOMEM as i32,
            singles: Mutex::new(0),
            batches: Mutex::new(0),
        };
        let fd = some_fd();
        let rep = write_elements(&k, "t0_e_routes", fd.as_fd(), &elems(1000), true).unwrap();
        assert_eq!(rep.batched, 300);
        assert_eq!(rep.one_by_one, 700);
        assert_eq!(*k.singles.lock().unwrap(), 700);
        assert!(rep.fallback.unwrap().contains("ENOMEM"));
    }

    /// Offloaded maps answer batch calls with the kernel-internal ENOTSUPP
    /// (524), which has no libc name: it must still mean "write singly".
    #[test]
    fn enotsupp_524_batch_falls_back() {
        let k = BatchRefusing {
            accept: 0,
            errno: sys::ENOTSUPP,
            singles: Mutex::new(0),
            batches: Mutex::new(0),
        };
        let fd = some_fd();
        let rep = write_elements(&k, "t0_e_x", fd.as_fd(), &elems(20), true).unwrap();
        assert_eq!((rep.batched, rep.one_by_one), (0, 20));
        assert!(rep.fallback.unwrap().contains("ENOTSUPP"));
    }

    /// Like the real kernel for a map type without batch support: the call
    /// fails before any element and leaves `count` as requested.
    struct BatchUnsupported {
        singles: Mutex<usize>,
    }

    impl Bpf for BatchUnsupported {
        fn bpf(&self, cmd: Cmd, _attr: &mut [u8]) -> Result<i64, i32> {
            match cmd {
                Cmd::MapUpdateBatch => Err(sys::ENOTSUPP),
                Cmd::MapUpdateElem => {
                    *self.singles.lock().unwrap() += 1;
                    Ok(0)
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Found by the offload lab on netdevsim: the untouched `count` was read
    /// as "all done", so the fallback wrote nothing and the table stayed empty.
    #[test]
    fn untouched_count_means_nothing_was_batched() {
        let k = BatchUnsupported {
            singles: Mutex::new(0),
        };
        let fd = some_fd();
        let rep = write_elements(&k, "t0_e_x", fd.as_fd(), &elems(2), true).unwrap();
        assert_eq!((rep.batched, rep.one_by_one), (0, 2));
        assert_eq!(*k.singles.lock().unwrap(), 2);
    }

    #[test]
    fn full_map_is_an_error_not_a_fallback() {
        let k = BatchRefusing {
            accept: 100,
            errno: Errno::E2BIG as i32,
            singles: Mutex::new(0),
            batches: Mutex::new(0),
        };
        let fd = some_fd();
        let err = write_elements(&k, "t0_e_acl", fd.as_fd(), &elems(150), true).unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::Full {
                    written: 100,
                    wanted: 150,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(*k.singles.lock().unwrap(), 0);
    }

    #[test]
    fn other_errors_are_reported_with_the_map() {
        let k = BatchRefusing {
            accept: 0,
            errno: Errno::EPERM as i32,
            singles: Mutex::new(0),
            batches: Mutex::new(0),
        };
        let fd = some_fd();
        let err = write_elements(&k, "t1_e_x", fd.as_fd(), &elems(10), true).unwrap_err();
        let s = err.to_string();
        assert!(
            s.contains("t1_e_x") && s.contains("EPERM") && s.contains("root"),
            "{s}"
        );
    }

    #[test]
    fn large_loads_go_in_chunks() {
        let k = BatchRefusing {
            accept: BATCH_CHUNK as u32 - 1,
            errno: Errno::EINVAL as i32,
            singles: Mutex::new(0),
            batches: Mutex::new(0),
        };
        let fd = some_fd();
        let n = BATCH_CHUNK as u32 + 5;
        let rep = write_elements(&k, "m", fd.as_fd(), &elems(n), true).unwrap();
        // The first chunk (never more than BATCH_CHUNK) failed on its last
        // element; that one and the remaining 5 go singly.
        assert_eq!((rep.batched, rep.one_by_one), (BATCH_CHUNK - 1, 6));
        assert_eq!(*k.batches.lock().unwrap(), 1);
    }
}
