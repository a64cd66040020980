//! The raw bpf(2) path against the running kernel: batch operations on HASH
//! and LPM_TRIE maps, info read-back, pins, and the hardware-offload load path
//! refused by a device that cannot offload (a veth).

use nix::errno::Errno;
use offload_drivers::lab::Lab;
use offload_drivers::sys::{self, map_type, Kernel, MapSpec, ProgLoadError, ProgSpec};
use offload_drivers::testenv::require_root;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;

/// `r0 = 2 (XDP_PASS); exit`.
const XDP_PASS: [u64; 2] = [0x0000_0002_0000_00b7, 0x0000_0000_0000_0095];

fn hash_spec(n: u32) -> MapSpec {
    MapSpec {
        name: "t_hash".into(),
        map_type: map_type::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: n,
        flags: 0,
        ifindex: 0,
    }
}

#[test]
fn batch_update_dump_delete_hash() {
    if !require_root("batch_update_dump_delete_hash") {
        return;
    }
    let k = Kernel;
    let fd = sys::map_create(&k, &hash_spec(10_000)).unwrap();
    let n = 5000u32;
    let keys: Vec<u8> = (0..n).flat_map(|i| i.to_ne_bytes()).collect();
    let vals: Vec<u8> = (0..n)
        .flat_map(|i| u64::from(i * 3).to_ne_bytes())
        .collect();
    sys::map_update_batch(&k, fd.as_fd(), &keys, &vals, n, sys::BPF_ANY).unwrap();
    let mut v = [0u8; 8];
    assert!(sys::map_lookup(&k, fd.as_fd(), &4321u32.to_ne_bytes(), &mut v).unwrap());
    assert_eq!(u64::from_ne_bytes(v), 4321 * 3);
    let mut all = sys::map_dump_batch(&k, fd.as_fd(), 4, 8, 256).unwrap();
    all.sort();
    assert_eq!(all.len(), n as usize);
    let walked = sys::map_dump_walk(&k, fd.as_fd(), 4, 8).unwrap();
    assert_eq!(walked.len(), n as usize);
    sys::map_delete_batch(&k, fd.as_fd(), &keys[..4 * 1000], 1000).unwrap();
    assert_eq!(
        sys::map_dump_batch(&k, fd.as_fd(), 4, 8, 4096)
            .unwrap()
            .len(),
        4000
    );
    let info = sys::map_info(&k, fd.as_fd()).unwrap();
    assert_eq!(
        (
            info.map_type,
            info.key_size,
            info.value_size,
            info.name.as_str()
        ),
        (map_type::HASH, 4, 8, "t_hash")
    );
}

#[test]
fn batch_update_into_full_hash_reports_progress() {
    if !require_root("batch_update_into_full_hash_reports_progress") {
        return;
    }
    let k = Kernel;
    let fd = sys::map_create(&k, &hash_spec(100)).unwrap();
    let n = 150u32;
    let keys: Vec<u8> = (0..n).flat_map(|i| i.to_ne_bytes()).collect();
    let vals = vec![0u8; 8 * n as usize];
    let err = sys::map_update_batch(&k, fd.as_fd(), &keys, &vals, n, sys::BPF_ANY).unwrap_err();
    assert_eq!(err.done, 100, "{err}");
    assert!(err.source.is(Errno::E2BIG), "{err}");
}

/// Records what this kernel does with a batch update into a non-preallocated
/// LPM trie (reported to fail with ENOMEM on 6.18): either outcome is handled
/// by the entries layer's fallback, which `entries` tests separately; here we
/// pin down what the kernel answered so a change is noticed.
#[test]
fn batch_update_lpm_trie_outcome() {
    if !require_root("batch_update_lpm_trie_outcome") {
        return;
    }
    let k = Kernel;
    let fd = sys::map_create(
        &k,
        &MapSpec {
            name: "t_lpm".into(),
            map_type: map_type::LPM_TRIE,
            key_size: 8,
            value_size: 8,
            max_entries: 1_000_000,
            flags: sys::BPF_F_NO_PREALLOC,
            ifindex: 0,
        },
    )
    .unwrap();
    let n = 100_000u32;
    let keys: Vec<u8> = (0..n)
        .flat_map(|i| {
            let mut key = 32u32.to_ne_bytes().to_vec();
            key.extend_from_slice(&(0x0a00_0000 + i).to_be_bytes());
            key
        })
        .collect();
    let vals = vec![1u8; 8 * n as usize];
    let r = sys::map_update_batch(&k, fd.as_fd(), &keys, &vals, n, sys::BPF_ANY);
    let walked = sys::map_dump_walk(&k, fd.as_fd(), 8, 8).unwrap();
    match &r {
        Ok(()) => {
            eprintln!("kernel {}: LPM batch update of {n} succeeded", kernel());
            assert_eq!(walked.len(), n as usize);
        }
        Err(e) => {
            eprintln!("kernel {}: LPM batch update of {n}: {e}", kernel());
            assert_eq!(
                walked.len(),
                e.done as usize,
                "progress count must match the map"
            );
        }
    }
    // Batch lookup on an LPM trie: the kernel has no batch ops for it.
    let lookup = sys::map_dump_batch(&k, fd.as_fd(), 8, 8, 128);
    eprintln!(
        "kernel {}: LPM batch lookup: {:?}",
        kernel(),
        lookup.as_ref().map(|v| v.len())
    );
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn prog_load_info_pin_and_get() {
    if !require_root("prog_load_info_pin_and_get") {
        return;
    }
    offload_drivers::load::bpffs::ensure_mounted().unwrap();
    let k = Kernel;
    let fd = sys::prog_load(
        &k,
        &ProgSpec {
            name: "t_pass",
            prog_type: sys::prog_type::XDP,
            insns: &XDP_PASS,
            license: "GPL",
            ifindex: 0,
            expected_attach_type: 0,
        },
    )
    .unwrap();
    let info = sys::prog_info(&k, fd.as_fd()).unwrap();
    assert_eq!(info.name, "t_pass");
    assert_eq!(info.prog_type, sys::prog_type::XDP);
    assert_eq!(info.tag.len(), 16);
    assert_eq!(info.ifindex, 0);
    let dir = std::path::PathBuf::from(format!(
        "/sys/fs/bpf/offload-systest-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let pin = dir.join("prog");
    sys::obj_pin(&k, fd.as_fd(), &pin).unwrap();
    let again = sys::obj_get(&k, &pin).unwrap();
    assert_eq!(sys::prog_info(&k, again.as_fd()).unwrap().id, info.id);
    let by_id = sys::prog_fd_by_id(&k, info.id).unwrap();
    assert_eq!(sys::prog_info(&k, by_id.as_fd()).unwrap().tag, info.tag);
    assert!(sys::prog_ids(&k).unwrap().contains(&info.id));
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = sys::obj_get(&k, &pin).unwrap_err();
    assert!(missing.is(Errno::ENOENT), "{missing}");
}

#[test]
fn offload_to_a_veth_is_refused_with_a_typed_error() {
    if !require_root("offload_to_a_veth_is_refused_with_a_typed_error") {
        return;
    }
    let mut lab = Lab::new("hw");
    let h = lab.add_host("h", Ipv4Addr::new(10, 4, 0, 2), 24).unwrap();
    let k = Kernel;
    let err = sys::prog_load(
        &k,
        &ProgSpec {
            name: "t_hw",
            prog_type: sys::prog_type::XDP,
            insns: &XDP_PASS,
            license: "GPL",
            ifindex: h.outer_ifindex,
            expected_attach_type: 0,
        },
    )
    .unwrap_err();
    eprintln!(
        "kernel {}: PROG_LOAD with prog_ifindex of a veth: {err}",
        kernel()
    );
    match err {
        ProgLoadError::OffloadUnsupported { ifindex, source } => {
            assert_eq!(ifindex, h.outer_ifindex);
            assert!(sys::is_offload_refusal(source.errno), "{source}");
        }
        other => panic!("expected OffloadUnsupported, got {other}"),
    }
    let mut spec = hash_spec(16);
    spec.ifindex = h.outer_ifindex;
    let err = sys::map_create(&k, &spec).unwrap_err();
    eprintln!(
        "kernel {}: MAP_CREATE with map_ifindex of a veth: {err}",
        kernel()
    );
    assert!(sys::is_offload_refusal(err.errno), "{err}");
}
