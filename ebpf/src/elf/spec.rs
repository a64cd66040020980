//! What goes into an object: the program, its maps and the map references in its code.

/// The ELF section a program lives in, which tells loaders its program type.
///
/// Only the two names both aya 0.14 and libbpf map to the types we emit: aya refuses
/// `tc`, and `classifier` is what iproute2's `tc … bpf obj X sec classifier` expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramSection {
    /// `BPF_PROG_TYPE_XDP`, context `struct xdp_md`.
    Xdp,
    /// `BPF_PROG_TYPE_SCHED_CLS` (tc), context `struct __sk_buff`.
    Classifier,
}

impl ProgramSection {
    pub fn section_name(self) -> &'static str {
        match self {
            ProgramSection::Xdp => "xdp",
            ProgramSection::Classifier => "classifier",
        }
    }

    /// The context struct the program's single argument points to.
    pub fn context_struct(self) -> &'static str {
        match self {
            ProgramSection::Xdp => "xdp_md",
            ProgramSection::Classifier => "__sk_buff",
        }
    }
}

/// Everything [`super::write_object`] needs. Borrowed so callers keep ownership of
/// their instruction buffer.
#[derive(Debug, Clone)]
pub struct ObjectSpec<'a> {
    pub program_section: ProgramSection,
    /// The program's function symbol (and BTF FUNC) name; a C identifier.
    pub program_name: &'a str,
    /// Raw eBPF instructions, 8 bytes each, little endian, exactly as the kernel
    /// takes them. Map references are `ld_imm64` pairs named in `map_relocs`.
    pub insns: &'a [u8],
    /// Which instructions load which map's address.
    pub map_relocs: Vec<MapReloc>,
    /// Map definitions, written to `.maps` in this order.
    pub maps: Vec<MapDef>,
    /// The `license` section; `"GPL"` for programs calling GPL-only helpers.
    pub license: &'a str,
}

/// "Instruction `insn_index` loads the address of map `map`."
///
/// The instruction must be the first half of an `ld_imm64` (opcode `0x18`) with
/// `src_reg` 0 or `BPF_PSEUDO_MAP_FD` (1) and both immediates 0: the loader writes the
/// map's file descriptor into it and sets `src_reg` to `BPF_PSEUDO_MAP_FD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapReloc {
    /// Index in instructions (8-byte slots), not bytes.
    pub insn_index: usize,
    pub map: String,
}

/// A map, as a BTF-described definition in `.maps`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapDef {
    /// Symbol and BTF VAR name; a C identifier. The kernel keeps its first 15 bytes.
    pub name: String,
    /// `BPF_MAP_TYPE_*` (see [`map_type`]).
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `BPF_F_*` map creation flags (e.g. `BPF_F_NO_PREALLOC` for LPM tries).
    pub map_flags: u32,
    /// Optional BTF description of the key. Without it the definition says only
    /// `key_size`, and the kernel map carries no key type (which every map type
    /// accepts). With it, the size must equal `key_size`.
    pub key_type: Option<DataType>,
    /// Optional BTF description of the value, as `key_type`.
    pub value_type: Option<DataType>,
}

impl MapDef {
    /// A definition described by sizes only (no key/value BTF types).
    pub fn sized(
        name: impl Into<String>,
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Self {
        MapDef {
            name: name.into(),
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
            key_type: None,
            value_type: None,
        }
    }
}

/// A key or value layout, for map definitions that describe their key/value in BTF
/// (so `bpftool map dump` can print fields).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataType {
    /// An unsigned integer of 1, 2, 4, 8 or 16 bytes.
    Uint { bytes: u32 },
    /// `unsigned char[len]`.
    Bytes { len: u32 },
    /// A struct of `size` bytes; fields at byte offsets, in increasing order.
    Struct {
        name: Option<String>,
        size: u32,
        fields: Vec<Field>,
    },
}

/// A struct field at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub offset: u32,
    pub ty: DataType,
}

/// `enum bpf_map_type` values the backend uses (`include/uapi/linux/bpf.h`).
pub mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const LPM_TRIE: u32 = 11;
    pub const DEVMAP: u32 = 14;
    pub const CPUMAP: u32 = 16;
    pub const DEVMAP_HASH: u32 = 25;

    /// Map types whose kernel implementation checks key/value BTF. Others refuse a
    /// map created with key/value type ids (`map_check_no_btf`), or do not look at them.
    pub fn accepts_key_value_btf(map_type: u32) -> bool {
        matches!(
            map_type,
            HASH | ARRAY | PERCPU_HASH | PERCPU_ARRAY | LRU_HASH | LRU_PERCPU_HASH | LPM_TRIE
        )
    }
}

/// `BPF_F_NO_PREALLOC`, required by `LPM_TRIE` maps.
pub const BPF_F_NO_PREALLOC: u32 = 1;
