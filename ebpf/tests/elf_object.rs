//! Structure of the objects `write_object` produces, read back with an independent
//! ELF reader (`object::read`) and with aya-obj, the parser aya 0.14 loads with.
//! The kernel side (aya, bpftool, ip/tc actually loading them) is in
//! `drivers/tests/elf_load.rs`.

use object::read::elf::ElfFile64;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionKind, SymbolKind};
use offload_ebpf::btf::{self, Type, TypeId, VarLinkage};
use offload_ebpf::elf::{
    map_type, write_object, DataType, ElfError, Field, MapDef, MapReloc, ObjectSpec,
    ProgramSection, BPF_F_NO_PREALLOC,
};

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | dst;
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

/// `r1 = map a; r1 = map b; r0 = 2; exit` — two map loads at slots 0 and 2.
fn two_map_program() -> Vec<u8> {
    [
        insn(0x18, 1, 0, 0, 0),
        insn(0, 0, 0, 0, 0),
        insn(0x18, 1, 1, 0, 0),
        insn(0, 0, 0, 0, 0),
        insn(0xb7, 0, 0, 0, 2),
        insn(0x95, 0, 0, 0, 0),
    ]
    .concat()
}

fn spec(insns: &[u8]) -> ObjectSpec<'_> {
    ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: "edge",
        insns,
        // Listed out of order on purpose: the writer sorts by instruction.
        map_relocs: vec![
            MapReloc {
                insn_index: 2,
                map: "routes".into(),
            },
            MapReloc {
                insn_index: 0,
                map: "counters".into(),
            },
        ],
        maps: vec![
            MapDef::sized("counters", map_type::HASH, 4, 8, 16),
            MapDef {
                map_flags: BPF_F_NO_PREALLOC,
                ..MapDef::sized("routes", map_type::LPM_TRIE, 8, 4, 1024)
            },
        ],
        license: "GPL",
    }
}

#[test]
fn sections_symbols_and_relocations_are_what_loaders_expect() {
    let insns = two_map_program();
    let bytes = write_object(&spec(&insns)).unwrap();
    let file = ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
    assert_eq!(file.architecture(), object::Architecture::Bpf);
    assert!(file.is_little_endian());

    let names: Vec<&str> = file.sections().map(|s| s.name().unwrap()).collect();
    assert_eq!(
        names,
        [
            "xdp",
            ".relxdp",
            ".maps",
            "license",
            ".BTF",
            ".symtab",
            ".strtab",
            ".shstrtab"
        ]
    );
    let prog = file.section_by_name("xdp").unwrap();
    assert_eq!(prog.kind(), SectionKind::Text);
    assert_eq!(
        prog.data().unwrap(),
        &insns[..],
        "instructions copied verbatim"
    );
    assert_eq!(
        file.section_by_name("license").unwrap().data().unwrap(),
        b"GPL\0"
    );
    let maps = file.section_by_name(".maps").unwrap();
    // counters: type, key_size, value_size, max_entries = 4 pointers;
    // routes adds map_flags = 5 pointers.
    assert_eq!(maps.data().unwrap(), &[0u8; 72][..]);

    let syms: Vec<(String, SymbolKind, u64, u64, bool, String)> = file
        .symbols()
        .map(|s| {
            let sec = file
                .section_by_index(s.section_index().unwrap())
                .unwrap()
                .name()
                .unwrap()
                .to_owned();
            (
                s.name().unwrap().to_owned(),
                s.kind(),
                s.address(),
                s.size(),
                s.is_global(),
                sec,
            )
        })
        .collect();
    let expect = |n: &str, k, a, z, sec: &str| (n.to_owned(), k, a, z, true, sec.to_owned());
    assert_eq!(
        syms,
        [
            expect("edge", SymbolKind::Text, 0, 48, "xdp"),
            expect("counters", SymbolKind::Data, 0, 32, ".maps"),
            expect("routes", SymbolKind::Data, 32, 40, ".maps"),
            expect("_license", SymbolKind::Data, 0, 4, "license"),
        ]
    );

    let relocs: Vec<(u64, String, u32)> = prog
        .relocations()
        .map(|(off, r)| {
            let RelocationTarget::Symbol(sym) = r.target() else {
                panic!("relocation against a non-symbol: {r:?}")
            };
            let object::RelocationFlags::Elf { r_type } = r.flags() else {
                panic!("not an ELF relocation")
            };
            assert!(!r.has_implicit_addend() || r.addend() == 0);
            (
                off,
                file.symbol_by_index(sym)
                    .unwrap()
                    .name()
                    .unwrap()
                    .to_owned(),
                r_type,
            )
        })
        .collect();
    assert_eq!(
        relocs,
        [
            (0, "counters".to_owned(), object::elf::R_BPF_64_64),
            (16, "routes".to_owned(), object::elf::R_BPF_64_64)
        ]
    );
    assert!(file.section_by_name(".BTF.ext").is_none());
}

#[test]
fn btf_describes_each_map_as_clang_does() {
    let insns = two_map_program();
    let bytes = write_object(&spec(&insns)).unwrap();
    let file = ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
    let types = btf::decode(file.section_by_name(".BTF").unwrap().data().unwrap()).unwrap();
    let get = |id: TypeId| &types[id.0 as usize - 1];
    // An `int (*)[n]` member, read back as n.
    let value_of = |id: TypeId| match get(id) {
        Type::Ptr { target } => match get(*target) {
            Type::Array { len, elem, .. } => {
                assert!(matches!(get(*elem), Type::Int { name, .. } if name == "int"));
                *len
            }
            other => panic!("PTR to {other:?}"),
        },
        other => panic!("{other:?} is not PTR"),
    };

    let Some(Type::DataSec { name, size, vars }) = types.last() else {
        panic!("last type is not a DATASEC")
    };
    assert_eq!((name.as_str(), *size), (".maps", 72));
    let mut maps = Vec::new();
    for v in vars {
        let Type::Var { name, ty, linkage } = get(v.var) else {
            panic!("DATASEC entry is not a VAR")
        };
        assert_eq!(*linkage, VarLinkage::GlobalAllocated);
        let Type::Struct {
            name: None,
            size,
            members,
        } = get(*ty)
        else {
            panic!("map {name} is not an anonymous struct")
        };
        assert_eq!(*size, v.size);
        let fields: Vec<(String, u32, u32)> = members
            .iter()
            .map(|m| (m.name.clone(), m.bit_offset, value_of(m.ty)))
            .collect();
        maps.push((name.clone(), v.offset, fields));
    }
    let f = |n: &str, off, v| (n.to_owned(), off, v);
    assert_eq!(
        maps,
        [
            (
                "counters".to_owned(),
                0,
                vec![
                    f("type", 0, map_type::HASH),
                    f("key_size", 64, 4),
                    f("value_size", 128, 8),
                    f("max_entries", 192, 16)
                ]
            ),
            (
                "routes".to_owned(),
                32,
                vec![
                    f("type", 0, map_type::LPM_TRIE),
                    f("key_size", 64, 8),
                    f("value_size", 128, 4),
                    f("max_entries", 192, 1024),
                    f("map_flags", 256, BPF_F_NO_PREALLOC)
                ]
            ),
        ]
    );
    // The "int (*)[4]" of counters' key_size and of routes' value_size is one type.
    let arrays = types
        .iter()
        .filter(|t| matches!(t, Type::Array { len: 4, .. }))
        .count();
    assert_eq!(arrays, 1, "deduplicated");

    let func = types
        .iter()
        .find_map(|t| match t {
            Type::Func { name, proto, .. } => Some((name.as_str(), *proto)),
            _ => None,
        })
        .expect("a FUNC for the program");
    assert_eq!(func.0, "edge");
    let Type::FuncProto { params, .. } = get(func.1) else {
        panic!("FUNC's type is not FUNC_PROTO")
    };
    let Type::Ptr { target } = get(params[0].ty) else {
        panic!("ctx is not a pointer")
    };
    assert!(matches!(get(*target), Type::Fwd { name, union: false } if name == "xdp_md"));
}

#[test]
fn aya_obj_parses_program_maps_and_relocations() {
    let insns = two_map_program();
    let bytes = write_object(&spec(&insns)).unwrap();
    let obj = aya_obj::Object::parse(&bytes).unwrap();
    assert_eq!(obj.license.to_str().unwrap(), "GPL");
    let prog = &obj.programs["edge"];
    assert!(matches!(prog.section, aya_obj::ProgramSection::Xdp { .. }));
    let func = &obj.functions[&prog.function_key()];
    assert_eq!(func.instructions.len(), 6);

    let counters = &obj.maps["counters"];
    assert!(matches!(counters, aya_obj::Map::Btf(_)));
    assert_eq!(
        (
            counters.map_type(),
            counters.key_size(),
            counters.value_size(),
            counters.max_entries(),
            counters.map_flags()
        ),
        (map_type::HASH, 4, 8, 16, 0)
    );
    let routes = &obj.maps["routes"];
    assert_eq!(
        (
            routes.map_type(),
            routes.key_size(),
            routes.value_size(),
            routes.max_entries(),
            routes.map_flags()
        ),
        (map_type::LPM_TRIE, 8, 4, 1024, BPF_F_NO_PREALLOC)
    );
}

#[test]
fn classifier_section_and_key_value_types() {
    let insns = two_map_program();
    let mut s = spec(&insns);
    s.program_section = ProgramSection::Classifier;
    s.maps[1] = MapDef {
        map_flags: BPF_F_NO_PREALLOC,
        key_type: Some(DataType::Struct {
            name: Some("route_key".into()),
            size: 8,
            fields: vec![
                Field {
                    name: "prefixlen".into(),
                    offset: 0,
                    ty: DataType::Uint { bytes: 4 },
                },
                Field {
                    name: "addr".into(),
                    offset: 4,
                    ty: DataType::Bytes { len: 4 },
                },
            ],
        }),
        value_type: Some(DataType::Uint { bytes: 4 }),
        ..MapDef::sized("routes", map_type::LPM_TRIE, 8, 4, 1024)
    };
    let bytes = write_object(&s).unwrap();
    let obj = aya_obj::Object::parse(&bytes).unwrap();
    assert!(matches!(
        obj.programs["edge"].section,
        aya_obj::ProgramSection::SchedClassifier
    ));
    let routes = &obj.maps["routes"];
    assert_eq!((routes.key_size(), routes.value_size()), (8, 4));
    let aya_obj::Map::Btf(def) = routes else {
        panic!("not a BTF map")
    };
    assert_ne!(def.def.btf_key_type_id, 0, "key type recorded");
    assert_ne!(def.def.btf_value_type_id, 0, "value type recorded");

    let file = ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
    let types = btf::decode(file.section_by_name(".BTF").unwrap().data().unwrap()).unwrap();
    let key = &types[def.def.btf_key_type_id as usize - 1];
    assert!(
        matches!(key, Type::Struct { name: Some(n), size: 8, members } if n == "route_key" && members.len() == 2)
    );
    assert!(types
        .iter()
        .any(|t| matches!(t, Type::Fwd { name, .. } if name == "__sk_buff")));
}

#[test]
fn same_spec_same_bytes() {
    let insns = two_map_program();
    let a = write_object(&spec(&insns)).unwrap();
    let b = write_object(&spec(&insns)).unwrap();
    assert_eq!(a, b);
    // Relocation order in the spec does not matter either.
    let mut s = spec(&insns);
    s.map_relocs.reverse();
    assert_eq!(write_object(&s).unwrap(), a);
}

#[test]
fn object_without_maps_has_no_maps_section() {
    let insns = [insn(0xb7, 0, 0, 0, 2), insn(0x95, 0, 0, 0, 0)].concat();
    let s = ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: "pass",
        insns: &insns,
        map_relocs: vec![],
        maps: vec![],
        license: "Dual MIT/GPL",
    };
    let bytes = write_object(&s).unwrap();
    let file = ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
    assert!(file.section_by_name(".maps").is_none());
    assert!(file.section_by_name(".relxdp").is_none());
    let obj = aya_obj::Object::parse(&bytes).unwrap();
    assert!(obj.maps.is_empty());
    assert_eq!(obj.license.to_str().unwrap(), "Dual MIT/GPL");
}

/// Every mistake is an error naming the culprit, never a panic or a bad object.
#[test]
fn bad_specs_are_refused_with_the_culprit_named() {
    let insns = two_map_program();
    fn check_with<'a>(insns: &'a [u8], edit: &dyn Fn(&mut ObjectSpec<'a>), want: &str) -> ElfError {
        let mut s = spec(insns);
        edit(&mut s);
        let err = write_object(&s).expect_err(want);
        let msg = err.to_string();
        assert!(msg.contains(want), "`{msg}` does not mention `{want}`");
        err
    }
    let check = |edit: &dyn Fn(&mut ObjectSpec<'_>), want: &str| check_with(&insns, edit, want);
    check(&|s| s.insns = &[], "no instructions");
    check_with(&insns, &|s| s.insns = &insns[..13], "13 bytes");
    check(&|s| s.program_name = "my-prog", "my-prog");
    check(&|s| s.maps[1].name = "counters".into(), "defined twice");
    check(&|s| s.maps[0].name = "9lives".into(), "9lives");
    check(&|s| s.map_relocs[0].map = "nope".into(), "nope");
    check(&|s| s.map_relocs[0].insn_index = 5, "instruction 5");
    check(&|s| s.map_relocs[0].insn_index = 4, "opcode is 0xb7");
    check(&|s| s.map_relocs[1].insn_index = 2, "referenced twice");
    check(&|s| s.license = "GP\0L", "licence");
    check(
        &|s| s.maps[0].value_type = Some(DataType::Uint { bytes: 4 }),
        "value_size is 8 but its BTF type is 4 bytes",
    );
    check(
        &|s| s.maps[1].key_type = Some(DataType::Bytes { len: 8 }),
        "must be a struct",
    );
    check(
        &|s| {
            s.maps[0] = MapDef {
                value_type: Some(DataType::Uint { bytes: 4 }),
                ..MapDef::sized("counters", map_type::DEVMAP, 4, 4, 8)
            }
        },
        "does not accept key/value BTF",
    );
    check(
        &|s| s.maps[0].key_type = Some(DataType::Uint { bytes: 3 }),
        "3 bytes",
    );
    let err = check(
        &|s| {
            s.maps[0].key_type = Some(DataType::Struct {
                name: Some("k".into()),
                size: 4,
                fields: vec![Field {
                    name: "x".into(),
                    offset: 2,
                    ty: DataType::Uint { bytes: 4 },
                }],
            })
        },
        "past the struct",
    );
    assert!(matches!(err, ElfError::BadDataType { ref map, .. } if map == "counters"));

    let mut dirty = insns.clone();
    dirty[4] = 9; // imm of the first map load
    let mut s = spec(&dirty);
    s.insns = &dirty;
    assert!(matches!(
        write_object(&s),
        Err(ElfError::BadMapLoad { insn_index: 0, .. })
    ));
}
