//! Our map and program BTF against what clang 14 emits for the same C, and our BTF
//! reader/writer on clang's BTF.
//!
//! `elf_clang_hash_map.btf` is the `.BTF` section of this program, built with
//! `clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c x.c` (Debian 12,
//! clang 14, libbpf-dev 1.1) and extracted with
//! `llvm-objcopy --dump-section .BTF=elf_clang_hash_map.btf x.o`:
//!
//! ```c
//! #include <linux/bpf.h>
//! #include <bpf/bpf_helpers.h>
//! struct {
//!     __uint(type, BPF_MAP_TYPE_HASH);
//!     __uint(key_size, 4);
//!     __uint(value_size, 8);
//!     __uint(max_entries, 16);
//! } counters SEC(".maps");
//!
//! SEC("xdp")
//! int prog(struct xdp_md *ctx)
//! {
//!     __u32 k = 7;
//!     __u64 *v = bpf_map_lookup_elem(&counters, &k);
//!     if (v) __sync_fetch_and_add(v, 1);
//!     return XDP_PASS;
//! }
//! char _license[] SEC("license") = "GPL";
//! ```

use object::read::elf::ElfFile64;
use object::{Object, ObjectSection};
use offload_ebpf::btf::{self, Builder, Type, TypeId, VarLinkage};
use offload_ebpf::elf::{map_type, write_object, MapDef, MapReloc, ObjectSpec, ProgramSection};

const CLANG_BTF: &[u8] = include_bytes!("elf_clang_hash_map.btf");

fn get(types: &[Type], id: TypeId) -> &Type {
    &types[id.0 as usize - 1]
}

/// What a loader reads from a map VAR: (name, linkage, [(member, bit offset, value)]).
fn map_description(types: &[Type], var: &str) -> (String, VarLinkage, Vec<(String, u32, u32)>) {
    let (ty, linkage) = types
        .iter()
        .find_map(|t| match t {
            Type::Var { name, ty, linkage } if name == var => Some((*ty, *linkage)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no VAR {var}"));
    let Type::Struct {
        name: None,
        members,
        ..
    } = get(types, ty)
    else {
        panic!("{var} is not an anonymous struct")
    };
    let members = members
        .iter()
        .map(|m| {
            let Type::Ptr { target } = get(types, m.ty) else {
                panic!("{} not PTR", m.name)
            };
            let Type::Array { len, elem, index } = get(types, *target) else {
                panic!("{} not PTR to ARRAY", m.name)
            };
            let elem = get(types, *elem);
            let index = get(types, *index);
            assert!(
                matches!(elem, Type::Int { name, size: 4, .. } if name == "int"),
                "{elem:?}"
            );
            assert!(
                matches!(index, Type::Int { name, .. } if name == "__ARRAY_SIZE_TYPE__"),
                "{index:?}"
            );
            (m.name.clone(), m.bit_offset, *len)
        })
        .collect();
    (var.to_owned(), linkage, members)
}

/// (func name, return type name, [(param name, name of the struct it points to)]).
fn func_description(types: &[Type], func: &str) -> (String, String, Vec<(String, String)>) {
    let proto = types
        .iter()
        .find_map(|t| match t {
            Type::Func { name, proto, .. } if name == func => Some(*proto),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no FUNC {func}"));
    let Type::FuncProto { ret, params } = get(types, proto) else {
        panic!("not FUNC_PROTO")
    };
    let Type::Int { name: ret, .. } = get(types, *ret) else {
        panic!("ret not INT")
    };
    let params = params
        .iter()
        .map(|p| {
            let Type::Ptr { target } = get(types, p.ty) else {
                panic!("param not PTR")
            };
            // clang has the full struct, we only declare it: both name the same struct.
            let pointee = match get(types, *target) {
                Type::Struct { name: Some(n), .. }
                | Type::Fwd {
                    name: n,
                    union: false,
                } => n.clone(),
                other => panic!("param points to {other:?}"),
            };
            (p.name.clone(), pointee)
        })
        .collect();
    (func.to_owned(), ret.clone(), params)
}

fn ours() -> Vec<Type> {
    // The same program's shape: one map load, return XDP_PASS.
    let insns = [
        [0x18, 0x01, 0, 0, 0, 0, 0, 0],
        [0; 8],
        [0xb7, 0x00, 0, 0, 2, 0, 0, 0],
        [0x95, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    let bytes = write_object(&ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: "prog",
        insns: &insns,
        map_relocs: vec![MapReloc {
            insn_index: 0,
            map: "counters".into(),
        }],
        maps: vec![MapDef::sized("counters", map_type::HASH, 4, 8, 16)],
        license: "GPL",
    })
    .unwrap();
    let file = ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
    btf::decode(file.section_by_name(".BTF").unwrap().data().unwrap()).unwrap()
}

#[test]
fn map_definition_matches_clang() {
    let clang = btf::decode(CLANG_BTF).expect("our reader reads clang's BTF");
    let ours = ours();
    assert_eq!(
        map_description(&ours, "counters"),
        map_description(&clang, "counters")
    );
    assert_eq!(
        map_description(&ours, "counters").2,
        [
            ("type".to_owned(), 0, 1),
            ("key_size".to_owned(), 64, 4),
            ("value_size".to_owned(), 128, 8),
            ("max_entries".to_owned(), 192, 16),
        ]
    );
}

#[test]
fn program_func_matches_clang() {
    let clang = btf::decode(CLANG_BTF).unwrap();
    assert_eq!(
        func_description(&ours(), "prog"),
        func_description(&clang, "prog")
    );
}

#[test]
fn maps_datasec_matches_clang_once_libbpf_fixes_clangs_sizes() {
    let datasec = |types: &[Type]| -> (u32, Vec<(String, u32, u32)>) {
        let Some((size, vars)) = types.iter().find_map(|t| match t {
            Type::DataSec { name, size, vars } if name == ".maps" => Some((*size, vars.clone())),
            _ => None,
        }) else {
            panic!("no .maps DATASEC")
        };
        let vars = vars
            .iter()
            .map(|v| match get(types, v.var) {
                Type::Var { name, .. } => (name.clone(), v.offset, v.size),
                other => panic!("{other:?}"),
            })
            .collect();
        (size, vars)
    };
    // clang leaves the section size 0 for libbpf/aya to fill in from the ELF
    // section; we write the real size, so no fix-up is needed.
    assert_eq!(
        datasec(&btf::decode(CLANG_BTF).unwrap()),
        (0, vec![("counters".to_owned(), 0, 32)])
    );
    assert_eq!(datasec(&ours()), (32, vec![("counters".to_owned(), 0, 32)]));
}

/// Rebuilding clang's types with our builder gives the same ids and types back.
#[test]
fn builder_reproduces_clangs_types() {
    let clang = btf::decode(CLANG_BTF).unwrap();
    let mut b = Builder::new();
    for (i, t) in clang.iter().enumerate() {
        assert_eq!(b.add(t.clone()).unwrap(), TypeId(i as u32 + 1), "{t:?}");
    }
    assert_eq!(btf::decode(&b.encode().unwrap()).unwrap(), clang);
}
