//! BPF ELF object writer: program bytes + map definitions → a relocatable object
//! that aya 0.14 and libbpf (bpftool, iproute2) load.
//!
//! What goes in, as seen with clang 14 / libbpf 1.1 / aya 0.14 (DESIGN §5):
//!
//! | section         | content                                                    |
//! |-----------------|------------------------------------------------------------|
//! | `xdp` / `classifier` | the instructions; one global FUNC symbol over all of them |
//! | `.rel<section>` | one `R_BPF_64_64` per map reference, against the map's symbol |
//! | `.maps`         | zeroed bytes; one global OBJECT symbol per map at its offset |
//! | `license`       | NUL-terminated licence string (`_license` symbol)           |
//! | `.BTF`          | map definitions (see [`map_btf`]) and the program's FUNC    |
//! | `.symtab`, `.strtab`, `.shstrtab` | written by the `object` crate           |
//!
//! No `.BTF.ext` and no DWARF: neither loader needs them, and without `.BTF.ext` no
//! func/line info is sent to the kernel, so the FUNC is descriptive only.
//!
//! Pure and deterministic: the same spec always gives the same bytes.
//!
//! ```
//! use offload_ebpf::elf::{map_type, write_object, MapDef, MapReloc, ObjectSpec, ProgramSection};
//!
//! // r1 = map "counters" (ld_imm64, two slots); r0 = 2 (XDP_PASS); exit
//! let insns: Vec<u8> = [
//!     [0x18, 0x01, 0, 0, 0, 0, 0, 0],
//!     [0; 8],
//!     [0xb7, 0x00, 0, 0, 2, 0, 0, 0],
//!     [0x95, 0, 0, 0, 0, 0, 0, 0],
//! ]
//! .concat();
//! let object = write_object(&ObjectSpec {
//!     program_section: ProgramSection::Xdp,
//!     program_name: "edge",
//!     insns: &insns,
//!     map_relocs: vec![MapReloc { insn_index: 0, map: "counters".into() }],
//!     maps: vec![MapDef::sized("counters", map_type::HASH, 4, 8, 1024)],
//!     license: "GPL",
//! })?;
//! assert_eq!(&object[..4], b"\x7fELF");
//! # Ok::<(), offload_ebpf::elf::ElfError>(())
//! ```
//!
//! Loader quirks the caller should know: aya 0.14 creates DEVMAP/DEVMAP_HASH/CPUMAP
//! maps with an 8-byte value (`struct bpf_devmap_val`) whatever the object says, so
//! declare 8 there to get the same map from aya and libbpf; the kernel adds
//! `BPF_F_RDONLY_PROG` to DEVMAPs. `ip link … xdp obj X.o` needs `sec xdp` (its default
//! section is `prog`); `tc … bpf obj X.o` defaults to `classifier`.

mod map_btf;
mod spec;
mod validate;

use object::write::{Object, Relocation, Symbol, SymbolSection};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};

pub use spec::{
    map_type, DataType, Field, MapDef, MapReloc, ObjectSpec, ProgramSection, BPF_F_NO_PREALLOC,
};

/// Size of one eBPF instruction slot.
pub const INSN_SIZE: usize = 8;

/// Why an object could not be written. Every variant names the culprit.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("program `{program}` has no instructions")]
    EmptyProgram { program: String },
    #[error("program `{program}` is {len} bytes long, not a whole number of 8-byte instructions")]
    RaggedProgram { program: String, len: usize },
    #[error("{what} name `{name}` is not a C identifier ([A-Za-z_][A-Za-z0-9_]*), which BTF and the loaders require")]
    InvalidName { what: &'static str, name: String },
    #[error("map `{name}` is defined twice")]
    DuplicateMap { name: String },
    #[error(
        "instruction {insn_index} refers to map `{map}`, which is not among the object's maps"
    )]
    UnknownMap { insn_index: usize, map: String },
    #[error("instruction {insn_index} is referenced twice as a map load")]
    DuplicateReloc { insn_index: usize },
    #[error("map reference at instruction {insn_index}: the program has {count} instructions and an ld_imm64 needs two slots")]
    RelocOutOfRange { insn_index: usize, count: usize },
    #[error("map reference at instruction {insn_index}: {reason}")]
    BadMapLoad { insn_index: usize, reason: String },
    #[error("licence {license:?} must be non-empty and contain no NUL byte")]
    BadLicense { license: String },
    #[error("map `{map}`: {field}_size is {declared} but its BTF type is {described} bytes")]
    SizeMismatch {
        map: String,
        field: &'static str,
        declared: u32,
        described: u32,
    },
    #[error("map `{map}`: map type {map_type} does not accept key/value BTF types; describe it by sizes only")]
    KeyValueBtfNotAccepted { map: String, map_type: u32 },
    #[error("map `{map}`: an LPM_TRIE key described in BTF must be a struct (prefix length then data), as the kernel requires")]
    LpmKeyNotStruct { map: String },
    #[error("map `{map}`: key/value type is {reason}")]
    BadDataType { map: String, reason: String },
    #[error("BTF for {what}")]
    Btf {
        what: String,
        #[source]
        source: crate::btf::BtfError,
    },
    #[error("writing the ELF container")]
    Object {
        #[source]
        source: object::write::Error,
    },
}

/// Writes `spec` as a relocatable little-endian BPF ELF object.
pub fn write_object(spec: &ObjectSpec) -> Result<Vec<u8>, ElfError> {
    validate::check(spec)?;
    let (btf, layout) = map_btf::build(&spec.maps, spec.program_section, spec.program_name)?;

    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let prog_sec = obj.add_section(
        Vec::new(),
        spec.program_section.section_name().as_bytes().to_vec(),
        SectionKind::Text,
    );
    obj.set_section_data(prog_sec, spec.insns.to_vec(), 8);
    obj.add_symbol(Symbol {
        name: spec.program_name.as_bytes().to_vec(),
        value: 0,
        size: spec.insns.len() as u64,
        kind: SymbolKind::Text,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(prog_sec),
        flags: SymbolFlags::None,
    });

    let mut map_symbols = Vec::with_capacity(spec.maps.len());
    if !spec.maps.is_empty() {
        let maps_sec = obj.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
        obj.set_section_data(maps_sec, vec![0u8; layout.section_size as usize], 8);
        for (map, (offset, size)) in spec.maps.iter().zip(&layout.slots) {
            map_symbols.push(obj.add_symbol(Symbol {
                name: map.name.as_bytes().to_vec(),
                value: u64::from(*offset),
                size: u64::from(*size),
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Section(maps_sec),
                flags: SymbolFlags::None,
            }));
        }
    }

    let license_sec = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut license = spec.license.as_bytes().to_vec();
    license.push(0);
    let license_len = license.len() as u64;
    obj.set_section_data(license_sec, license, 1);
    obj.add_symbol(Symbol {
        name: b"_license".to_vec(),
        value: 0,
        size: license_len,
        kind: SymbolKind::Data,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(license_sec),
        flags: SymbolFlags::None,
    });

    let btf_sec = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Other);
    obj.set_section_data(btf_sec, btf, 4);

    // Relocations in instruction order, so the .rel section does not depend on the
    // order the caller listed them in.
    let mut relocs: Vec<&MapReloc> = spec.map_relocs.iter().collect();
    relocs.sort_by_key(|r| r.insn_index);
    for r in relocs {
        // validate::check found every name; stay an error, not a panic, regardless.
        let map_index = spec
            .maps
            .iter()
            .position(|m| m.name == r.map)
            .ok_or_else(|| ElfError::UnknownMap {
                insn_index: r.insn_index,
                map: r.map.clone(),
            })?;
        obj.add_relocation(
            prog_sec,
            Relocation {
                offset: (r.insn_index * INSN_SIZE) as u64,
                symbol: map_symbols[map_index],
                addend: 0,
                flags: RelocationFlags::Elf {
                    r_type: elf::R_BPF_64_64,
                },
            },
        )
        .map_err(|source| ElfError::Object { source })?;
    }
    obj.write().map_err(|source| ElfError::Object { source })
}
