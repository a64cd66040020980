//! Target profiles: what a target accepts, as data, each limit with its source.
//!
//! A profile is the single description of a target shared by the planner and
//! the backends: the planner asks [`super::check`] whether a module's
//! requirements fit, and the eBPF backend asks the same question (and
//! [`super::check_program`] after compiling), so "passes planning" and
//! "compiles and loads" are one answer.

use crate::ir::MatchKind;
use std::collections::BTreeSet;
use std::fmt;

/// A value together with where it comes from (kernel file, vendor document, probe).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: String,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: impl Into<String>) -> Self {
        Sourced {
            value,
            source: source.into(),
        }
    }
}

/// BPF map types the backends use (numbers are the kernel's `enum bpf_map_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MapType {
    Hash = 1,
    Array = 2,
    PercpuHash = 5,
    PercpuArray = 6,
    LpmTrie = 11,
    Devmap = 14,
}

impl MapType {
    pub const ALL: [MapType; 6] = [
        MapType::Hash,
        MapType::Array,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::LpmTrie,
        MapType::Devmap,
    ];
    /// The kernel's name (`BPF_MAP_TYPE_*` without the prefix), as bpftool prints it.
    pub fn name(self) -> &'static str {
        match self {
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::PercpuHash => "percpu_hash",
            MapType::PercpuArray => "percpu_array",
            MapType::LpmTrie => "lpm_trie",
            MapType::Devmap => "devmap",
        }
    }
    /// How a person would call the thing that is missing ("an LPM trie").
    pub fn described(self) -> &'static str {
        match self {
            MapType::Hash => "hash map",
            MapType::Array => "array map",
            MapType::PercpuHash => "per-CPU hash map",
            MapType::PercpuArray => "per-CPU array map",
            MapType::LpmTrie => "LPM trie",
            MapType::Devmap => "device map (DEVMAP, needed by bpf_redirect_map)",
        }
    }
    pub fn from_name(s: &str) -> Option<MapType> {
        MapType::ALL.into_iter().find(|m| m.name() == s)
    }
    pub fn kernel_id(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// BPF helpers the backends may call (numbers are the kernel's `BPF_FUNC_*` ids).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    GetPrandomU32 = 7,
    Redirect = 23,
    PerfEventOutput = 25,
    SkbVlanPush = 18,
    SkbVlanPop = 19,
    CsumDiff = 28,
    XdpAdjustHead = 44,
    RedirectMap = 51,
    XdpAdjustTail = 65,
}

impl Helper {
    pub const ALL: [Helper; 12] = [
        Helper::MapLookupElem,
        Helper::MapUpdateElem,
        Helper::MapDeleteElem,
        Helper::GetPrandomU32,
        Helper::SkbVlanPush,
        Helper::SkbVlanPop,
        Helper::Redirect,
        Helper::PerfEventOutput,
        Helper::CsumDiff,
        Helper::XdpAdjustHead,
        Helper::RedirectMap,
        Helper::XdpAdjustTail,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Helper::MapLookupElem => "bpf_map_lookup_elem",
            Helper::MapUpdateElem => "bpf_map_update_elem",
            Helper::MapDeleteElem => "bpf_map_delete_elem",
            Helper::GetPrandomU32 => "bpf_get_prandom_u32",
            Helper::SkbVlanPush => "bpf_skb_vlan_push",
            Helper::SkbVlanPop => "bpf_skb_vlan_pop",
            Helper::Redirect => "bpf_redirect",
            Helper::PerfEventOutput => "bpf_perf_event_output",
            Helper::CsumDiff => "bpf_csum_diff",
            Helper::XdpAdjustHead => "bpf_xdp_adjust_head",
            Helper::RedirectMap => "bpf_redirect_map",
            Helper::XdpAdjustTail => "bpf_xdp_adjust_tail",
        }
    }
    pub fn kernel_id(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for Helper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// XDP return codes (`enum xdp_action`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum XdpAction {
    Aborted = 0,
    Drop = 1,
    Pass = 2,
    Tx = 3,
    Redirect = 4,
}

impl XdpAction {
    pub fn name(self) -> &'static str {
        match self {
            XdpAction::Aborted => "XDP_ABORTED",
            XdpAction::Drop => "XDP_DROP",
            XdpAction::Pass => "XDP_PASS",
            XdpAction::Tx => "XDP_TX",
            XdpAction::Redirect => "XDP_REDIRECT",
        }
    }
}

/// What an eBPF target accepts beyond the generic limits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EbpfProfile {
    pub map_types: Sourced<BTreeSet<MapType>>,
    pub helpers: Sourced<BTreeSet<Helper>>,
    /// Return codes the target implements (a packet verdict the target lacks
    /// cannot be expressed, whatever the verifier says).
    pub actions: Sourced<BTreeSet<XdpAction>>,
    /// Map flags (e.g. `BPF_F_NO_PREALLOC`) may be set; offload devices want 0.
    pub map_flags: Sourced<bool>,
    /// Maps may carry BTF key/value types (offloaded maps refuse them).
    pub map_btf: Sourced<bool>,
    /// `.data`/`.bss`/`.rodata` global data maps are allowed.
    pub global_data: Sourced<bool>,
    /// `BPF_ATOMIC | BPF_ADD` on map values (shared counters without per-CPU maps).
    pub atomic_add: Sourced<bool>,
    /// Hash keys (CRC-32 over packet fields) can be computed.
    pub hash_keys: Sourced<bool>,
    /// The program can write the XDP metadata area in front of the packet
    /// (`bpf_xdp_adjust_meta`, `data_meta`): the only channel an offloaded
    /// program would have to hand state other than the bytes to the host
    /// (split placement, `crate::ir::split::carries`).
    pub xdp_meta: Sourced<bool>,
    /// Meters (per-entry token buckets: a clock, `bpf_spin_lock` in a
    /// BTF-described map value) can be generated.
    pub meters: Sourced<bool>,
}

impl EbpfProfile {
    pub fn has_map(&self, m: MapType) -> bool {
        self.map_types.value.contains(&m)
    }
    pub fn has_helper(&self, h: Helper) -> bool {
        self.helpers.value.contains(&h)
    }
    pub fn has_action(&self, a: XdpAction) -> bool {
        self.actions.value.contains(&a)
    }
    /// Counters live in per-CPU arrays where the target has them, else in a
    /// plain array updated with atomic adds.
    pub fn counter_map(&self) -> MapType {
        if self.has_map(MapType::PercpuArray) {
            MapType::PercpuArray
        } else {
            MapType::Array
        }
    }
}

/// What a P4 architecture accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct P4Profile {
    pub arch: String,
    pub match_kinds: Sourced<BTreeSet<MatchKind>>,
    /// `pass` goes to a CPU port.
    pub cpu_port: Sourced<bool>,
    pub direct_counters: Sourced<bool>,
    pub checksum_update: Sourced<bool>,
    pub vlan_push_pop: Sourced<bool>,
    pub forward: Sourced<bool>,
    pub tx: Sourced<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "family", rename_all = "lowercase")]
pub enum Family {
    Ebpf(EbpfProfile),
    P4(P4Profile),
}

/// Budgets a target imposes. `None`: no limit worth planning for.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Limits {
    /// `max_entries` of any one map / entries of one table.
    pub max_entries_per_map: Option<Sourced<u64>>,
    /// Sum of `max_entries` over all maps of the program.
    pub max_total_entries: Option<Sourced<u64>>,
    pub max_key_bytes: Option<Sourced<u32>>,
    pub max_value_bytes: Option<Sourced<u32>>,
    /// key rounded up to 8 + value rounded up to 8 (the NFP's element budget).
    pub max_elem_bytes: Option<Sourced<u32>>,
    pub max_maps: Option<Sourced<u32>>,
    pub max_insns: Option<Sourced<u32>>,
    pub max_stack_bytes: Option<Sourced<u32>>,
    /// Masks a ternary/range table can hold (tuple-space search: the masks
    /// array's size). Hard limit.
    pub max_ternary_masks: Option<Sourced<u32>>,
    /// Above this many masks a table gets a warning (one hash probe per mask).
    pub ternary_mask_warn: Option<u32>,
}

/// Everything the planner and a backend need to know about one kind of target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    /// Short stable name: `kernel`, `nfp`, `netdevsim`, `v1model`, `tna`.
    pub name: String,
    /// Used in sentences: "the NFP offload profile".
    pub title: String,
    pub family: Family,
    pub limits: Limits,
}

fn set<T: Ord + Copy>(items: &[T]) -> BTreeSet<T> {
    items.iter().copied().collect()
}

const SRC_OFFLOAD_MAPS: &str = "kernel/bpf/offload.c bpf_map_offload_map_alloc: only BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_HASH can be offloaded";
const SRC_OFFLOAD_BTF: &str =
    "kernel/bpf/offload.c: offloaded maps use map_check_no_btf, BTF key/value types are refused (-ENOTSUPP)";
const SRC_NFP_HELPERS: &str = "drivers/net/ethernet/netronome/nfp/bpf/verifier.c nfp_bpf_check_helper_call: adjust_head, adjust_tail, map_lookup/update/delete, get_prandom_u32, perf_event_output; anything else is 'unsupported function id'";
const SRC_NFP_ACTIONS: &str = "drivers/net/ethernet/netronome/nfp/bpf/jit.c nfp_outro_xdp: return codes 0-3 (ABORTED, DROP, PASS, TX); anything larger is treated as ABORTED, so XDP_REDIRECT does not exist";
const SRC_NFP_HASH: &str = "offload-ebpf on offload targets: without loops the CRC-32 is straight-line code, ~40 instructions per hashed byte (a 5-tuple: ~550; over IPv6: ~1,500) on every parse path, against ~2,800 NFP instructions and the host verifier's budget; not generated for offload (not verified on NFP hardware)";
const SRC_NFP_META: &str = "drivers/net/ethernet/netronome/nfp/bpf/verifier.c nfp_bpf_check_helper_call has no bpf_xdp_adjust_meta ('unsupported function id') and nfp/bpf/jit.c mem_ldx_xdp reads only data and data_end of xdp_md (no data_meta)";
const SRC_NFP_METERS: &str = "drivers/net/ethernet/netronome/nfp/bpf/verifier.c nfp_bpf_check_helper_call accepts only map lookup/update/delete, bpf_get_prandom_u32, bpf_perf_event_output and the XDP head/tail adjusts: no bpf_ktime_get_ns (no clock) and no bpf_spin_lock (and offloaded maps refuse the BTF a lock needs, kernel/bpf/offload.c); a shared bucket updated by a read-modify-write of two words cannot be kept exact with atomic adds alone";
const SRC_NSIM_METERS: &str = "kernel/bpf/offload.c: offloaded maps refuse BTF, so no bpf_spin_lock in a map value; netdevsim models the NFP offload path (no clock helper on the device)";
const SRC_NFP_MAPS_FW: &str = "drivers/net/ethernet/netronome/nfp/bpf/offload.c nfp_bpf_map_alloc: map flags must be 0, type must be in the firmware's map type mask (hash, array)";

impl Profile {
    /// The host kernel (XDP native/generic, tc): everything the backend emits.
    pub fn kernel() -> Profile {
        Profile {
            name: "kernel".into(),
            title: "the kernel profile".into(),
            family: Family::Ebpf(EbpfProfile {
                map_types: Sourced::new(
                    set(&MapType::ALL),
                    "include/uapi/linux/bpf.h enum bpf_map_type (LPM trie since 4.11, DEVMAP since 4.14)",
                ),
                helpers: Sourced::new(
                    set(&Helper::ALL),
                    "include/uapi/linux/bpf.h helper list (XDP and tc program types)",
                ),
                actions: Sourced::new(
                    set(&[
                        XdpAction::Aborted,
                        XdpAction::Drop,
                        XdpAction::Pass,
                        XdpAction::Tx,
                        XdpAction::Redirect,
                    ]),
                    "include/uapi/linux/bpf.h enum xdp_action",
                ),
                map_flags: Sourced::new(true, "kernel/bpf/hashtab.c htab_map_alloc_check"),
                map_btf: Sourced::new(true, "kernel/bpf/syscall.c map_check_btf"),
                global_data: Sourced::new(true, "kernel/bpf/verifier.c (global data since 5.2)"),
                atomic_add: Sourced::new(true, "kernel/bpf/verifier.c check_atomic"),
                hash_keys: Sourced::new(
                    true,
                    "offload-ebpf: CRC-32 as a bounded loop (kernel/bpf/verifier.c, bounded loops since 5.3) over bytes gathered in a per-CPU scratch map",
                ),
                xdp_meta: Sourced::new(
                    true,
                    "net/core/filter.c bpf_xdp_adjust_meta (since 4.15; generic XDP and drivers with metadata support)",
                ),
                meters: Sourced::new(
                    true,
                    "kernel/bpf/helpers.c bpf_ktime_get_ns, bpf_spin_lock (in a BTF-described ARRAY value since 5.1, allowed in XDP and tc programs)",
                ),
            }),
            limits: Limits {
                max_insns: Some(Sourced::new(
                    1_000_000,
                    "include/linux/bpf.h BPF_COMPLEXITY_LIMIT_INSNS (privileged loaders, since 5.2)",
                )),
                max_stack_bytes: Some(Sourced::new(512, "include/linux/filter.h MAX_BPF_STACK")),
                max_ternary_masks: Some(Sourced::new(
                    64,
                    "offload-ebpf tuple-space layout: the masks array of a ternary/range table holds at most 64 masks",
                )),
                ternary_mask_warn: Some(16),
                ..Limits::default()
            },
        }
    }

    /// Netronome Agilio (NFP-4000/6000) with the BPF offload firmware.
    ///
    /// The element, map and instruction budgets are read from the firmware at
    /// run time by the driver; the numbers here are Netronome's published
    /// figures for the Agilio CX eBPF firmware and the driver's checks.
    pub fn nfp() -> Profile {
        Profile {
            name: "nfp".into(),
            title: "the NFP offload profile".into(),
            family: Family::Ebpf(EbpfProfile {
                map_types: Sourced::new(
                    set(&[MapType::Hash, MapType::Array]),
                    format!("{SRC_OFFLOAD_MAPS}; {SRC_NFP_MAPS_FW}"),
                ),
                helpers: Sourced::new(
                    set(&[
                        Helper::MapLookupElem,
                        Helper::MapUpdateElem,
                        Helper::MapDeleteElem,
                        Helper::GetPrandomU32,
                        Helper::PerfEventOutput,
                        Helper::XdpAdjustHead,
                        Helper::XdpAdjustTail,
                    ]),
                    SRC_NFP_HELPERS,
                ),
                actions: Sourced::new(
                    set(&[XdpAction::Aborted, XdpAction::Drop, XdpAction::Pass, XdpAction::Tx]),
                    SRC_NFP_ACTIONS,
                ),
                map_flags: Sourced::new(false, SRC_NFP_MAPS_FW),
                map_btf: Sourced::new(false, SRC_OFFLOAD_BTF),
                global_data: Sourced::new(
                    false,
                    "global data needs BPF_MAP_TYPE_ARRAY with BPF_F_RDONLY_PROG/mmap flags, which offload refuses (nfp_bpf_map_alloc: flags must be 0)",
                ),
                atomic_add: Sourced::new(
                    true,
                    "drivers/net/ethernet/netronome/nfp/bpf/jit.c mem_xadd4/mem_xadd8 (atomic add on map values)",
                ),
                hash_keys: Sourced::new(false, SRC_NFP_HASH),
                xdp_meta: Sourced::new(false, SRC_NFP_META),
                meters: Sourced::new(false, SRC_NFP_METERS),
            }),
            limits: Limits {
                max_entries_per_map: None,
                max_total_entries: Some(Sourced::new(
                    3_072_000,
                    "Netronome Agilio eBPF firmware: 3,072,000 map entries in total (firmware-reported max_elems, checked in nfp/bpf/offload.c nfp_bpf_map_alloc)",
                )),
                max_key_bytes: Some(Sourced::new(
                    64,
                    "firmware-reported max_key_sz, checked in nfp/bpf/offload.c nfp_bpf_map_alloc (64 B on the Agilio eBPF firmware)",
                )),
                max_value_bytes: Some(Sourced::new(
                    64,
                    "firmware-reported max_val_sz, checked in nfp/bpf/offload.c nfp_bpf_map_alloc (64 B on the Agilio eBPF firmware)",
                )),
                max_elem_bytes: Some(Sourced::new(
                    128,
                    "firmware-reported max_elem_sz (round_up(key,8)+round_up(value,8)), nfp/bpf/offload.c nfp_bpf_map_alloc",
                )),
                max_maps: Some(Sourced::new(
                    64,
                    "firmware-reported max_maps, nfp/bpf/offload.c nfp_bpf_map_alloc ('too many maps for a device')",
                )),
                max_insns: Some(Sourced::new(
                    2_800,
                    "NFP_NET_CFG_BPF_MAX_LEN read in nfp/bpf/offload.c nfp_net_bpf_load ('program too long'); ~2,800 NFP instructions on Agilio CX",
                )),
                max_stack_bytes: Some(Sourced::new(
                    512,
                    "NFP_NET_CFG_BPF_STACK_SZ × 64 read in nfp/bpf/offload.c nfp_net_bpf_load ('stack too large')",
                )),
                max_ternary_masks: Some(Sourced::new(
                    8,
                    "offload-ebpf tuple-space layout on NFP: the unrolled mask probes must fit the instruction budget, so at most 8 masks",
                )),
                ternary_mask_warn: Some(4),
            },
        }
    }

    /// The kernel's simulated offload device (drivers/net/netdevsim/bpf.c).
    pub fn netdevsim() -> Profile {
        let src_maps = "drivers/net/netdevsim/bpf.c nsim_bpf_map_alloc";
        Profile {
            name: "netdevsim".into(),
            title: "the netdevsim offload profile".into(),
            family: Family::Ebpf(EbpfProfile {
                map_types: Sourced::new(set(&[MapType::Hash, MapType::Array]), SRC_OFFLOAD_MAPS),
                helpers: Sourced::new(
                    set(&[
                        Helper::MapLookupElem,
                        Helper::MapUpdateElem,
                        Helper::MapDeleteElem,
                        Helper::XdpAdjustHead,
                        Helper::XdpAdjustTail,
                    ]),
                    "drivers/net/netdevsim/bpf.c nsim_bpf_verify_insn accepts every instruction the kernel verifier accepts; redirect helpers need DEVMAP, which cannot be offloaded",
                ),
                actions: Sourced::new(
                    set(&[XdpAction::Aborted, XdpAction::Drop, XdpAction::Pass, XdpAction::Tx]),
                    "offloaded programs cannot redirect: DEVMAP maps cannot be created on the device (kernel/bpf/offload.c bpf_map_offload_map_alloc)",
                ),
                map_flags: Sourced::new(false, format!("{src_maps}: map_flags must be 0 (-EINVAL)")),
                map_btf: Sourced::new(false, SRC_OFFLOAD_BTF),
                global_data: Sourced::new(
                    false,
                    "global data maps carry flags and BTF, which offloaded maps refuse",
                ),
                atomic_add: Sourced::new(true, "kernel verifier (netdevsim never runs the program)"),
                hash_keys: Sourced::new(false, SRC_NFP_HASH),
                xdp_meta: Sourced::new(
                    false,
                    "netdevsim stands in for the NFP (same offload profile shape): the kernel verifier would accept data_meta for a device-bound program (net/core/filter.c xdp_is_valid_access), but netdevsim never runs an offloaded program on packets (drivers/net/netdevsim/bpf.c), so no hand-off through it could be observed",
                ),
                meters: Sourced::new(false, SRC_NSIM_METERS),
            }),
            limits: Limits {
                max_entries_per_map: Some(Sourced::new(
                    2,
                    format!("{src_maps}: max_entries > NSIM_BPF_MAX_KEYS (2) is refused with -ENOMEM"),
                )),
                max_ternary_masks: Some(Sourced::new(
                    2,
                    format!("{src_maps}: the masks array is a map too, at most 2 entries"),
                )),
                max_insns: Some(Sourced::new(
                    1_000_000,
                    "include/linux/bpf.h BPF_COMPLEXITY_LIMIT_INSNS (netdevsim adds no limit)",
                )),
                max_stack_bytes: Some(Sourced::new(512, "include/linux/filter.h MAX_BPF_STACK")),
                ternary_mask_warn: Some(2),
                ..Limits::default()
            },
        }
    }

    /// BMv2 `simple_switch` with the v1model architecture.
    pub fn v1model() -> Profile {
        Profile {
            name: "v1model".into(),
            title: "the v1model (BMv2) profile".into(),
            family: Family::P4(P4Profile {
                arch: "v1model".into(),
                match_kinds: Sourced::new(
                    set(&[MatchKind::Exact, MatchKind::Lpm, MatchKind::Ternary, MatchKind::Range]),
                    "p4include/core.p4 (exact, ternary, lpm) and p4include/v1model.p4 (range)",
                ),
                cpu_port: Sourced::new(
                    true,
                    "BMv2 simple_switch --cpu-port / standard_metadata.egress_spec (docs/simple_switch.md)",
                ),
                direct_counters: Sourced::new(true, "p4include/v1model.p4 direct_counter"),
                checksum_update: Sourced::new(
                    true,
                    "p4include/v1model.p4 update_checksum / update_checksum_with_payload",
                ),
                vlan_push_pop: Sourced::new(true, "P4_16 spec: header setValid()/setInvalid()"),
                forward: Sourced::new(true, "p4include/v1model.p4 standard_metadata.egress_spec"),
                tx: Sourced::new(
                    true,
                    "p4include/v1model.p4 egress_spec = standard_metadata.ingress_port",
                ),
            }),
            limits: Limits::default(),
        }
    }

    /// Intel Tofino with the TNA architecture.
    pub fn tna() -> Profile {
        Profile {
            name: "tna".into(),
            title: "the TNA (Tofino) profile".into(),
            family: Family::P4(P4Profile {
                arch: "tna".into(),
                match_kinds: Sourced::new(
                    set(&[MatchKind::Exact, MatchKind::Lpm, MatchKind::Ternary, MatchKind::Range]),
                    "p4include/tna.p4 / Tofino Native Architecture spec: exact, ternary, lpm, range",
                ),
                cpu_port: Sourced::new(true, "TNA spec: ig_intr_md_for_tm.ucast_egress_port = CPU port"),
                direct_counters: Sourced::new(true, "TNA spec: DirectCounter extern"),
                checksum_update: Sourced::new(
                    true,
                    "TNA spec: Checksum extern in the deparser (IPv4) and parser residuals (L4)",
                ),
                vlan_push_pop: Sourced::new(true, "P4_16 spec: header setValid()/setInvalid()"),
                forward: Sourced::new(true, "TNA spec: ig_intr_md_for_tm.ucast_egress_port"),
                tx: Sourced::new(true, "TNA spec: ucast_egress_port = ig_intr_md.ingress_port"),
            }),
            limits: Limits::default(),
        }
    }

    /// A built-in profile by its name.
    pub fn by_name(name: &str) -> Option<Profile> {
        match name {
            "kernel" => Some(Profile::kernel()),
            "nfp" => Some(Profile::nfp()),
            "netdevsim" => Some(Profile::netdevsim()),
            "v1model" => Some(Profile::v1model()),
            "tna" => Some(Profile::tna()),
            _ => None,
        }
    }

    pub const NAMES: [&'static str; 5] = ["kernel", "nfp", "netdevsim", "v1model", "tna"];

    pub fn ebpf(&self) -> Option<&EbpfProfile> {
        match &self.family {
            Family::Ebpf(e) => Some(e),
            Family::P4(_) => None,
        }
    }
    pub fn p4(&self) -> Option<&P4Profile> {
        match &self.family {
            Family::P4(p) => Some(p),
            Family::Ebpf(_) => None,
        }
    }

    /// This profile with its map types narrowed to those a probed kernel
    /// accepts (e.g. an old kernel without LPM tries).
    pub fn restrict_maps(mut self, supported: &BTreeSet<MapType>, source: &str) -> Profile {
        if let Family::Ebpf(e) = &mut self.family {
            let before = e.map_types.value.clone();
            let kept: BTreeSet<MapType> = before.intersection(supported).copied().collect();
            if kept != before {
                e.map_types = Sourced::new(
                    kept,
                    format!("{}; narrowed by {source}", e.map_types.source),
                );
            }
        }
        self
    }

    /// This profile with its helpers narrowed to those a probed kernel accepts.
    pub fn restrict_helpers(mut self, supported: &BTreeSet<Helper>, source: &str) -> Profile {
        if let Family::Ebpf(e) = &mut self.family {
            let before = e.helpers.value.clone();
            let kept: BTreeSet<Helper> = before.intersection(supported).copied().collect();
            if kept != before {
                e.helpers =
                    Sourced::new(kept, format!("{}; narrowed by {source}", e.helpers.source));
            }
        }
        self
    }
}
