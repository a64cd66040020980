//! `union bpf_attr` pieces, one `#[repr(C)]` struct per command we issue
//! (include/uapi/linux/bpf.h). The kernel zero-extends a shorter attr, so each
//! struct stops after the last field we use.

/// BPF_MAP_CREATE.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapCreate {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
    /// Non-zero: create the map on this device (hardware offload).
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
}

/// BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, BPF_MAP_GET_NEXT_KEY.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapElem {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    /// `value` or `next_key`.
    pub value: u64,
    pub flags: u64,
}

/// BPF_MAP_*_BATCH.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapBatch {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    /// In: elements in the arrays. Out: elements processed.
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

/// BPF_PROG_LOAD.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProgLoad {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    /// Non-zero: load for this device (hardware offload), or with
    /// BPF_F_XDP_DEV_BOUND_ONLY a device-bound host program.
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
}

/// BPF_OBJ_GET_INFO_BY_FD.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct InfoByFd {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

/// BPF_{PROG,MAP,LINK}_GET_FD_BY_ID, BPF_{PROG,MAP,LINK}_GET_NEXT_ID.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct GetById {
    pub id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}

/// BPF_OBJ_PIN, BPF_OBJ_GET.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ObjPath {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
}

/// The start of `struct bpf_prog_info` (up to `ifindex`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ProgInfoRaw {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub flags: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
}

/// The start of `struct bpf_map_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MapInfoRaw {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; 16],
    pub ifindex: u32,
}

/// `struct bpf_link_info` with its union as raw words (xdp/tcx: ifindex first).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkInfoRaw {
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
    pub _pad: u32,
    pub u: [u32; 12],
}

/// BPF_LINK_UPDATE.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkUpdate {
    pub link_fd: u32,
    pub new_prog_fd: u32,
    pub flags: u32,
    pub old_prog_fd: u32,
}

/// BPF_LINK_CREATE (the XDP / tcx flavour: target is an ifindex).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkCreate {
    pub prog_fd: u32,
    pub target_ifindex: u32,
    pub attach_type: u32,
    pub flags: u32,
    /// tcx: relative_fd/id, expected_revision (unused: zero).
    pub _rest: [u64; 4],
}
