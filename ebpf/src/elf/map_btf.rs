//! The `.BTF` content of an object: map definitions and the program's FUNC.
//!
//! A map in `.maps` is a global VAR whose type is an anonymous STRUCT of pointers,
//! the same graph clang emits for libbpf's `__uint(name, value)` / `__type(name, T)`
//! macros (`ebpf/tests/elf_clang.rs` compares them). Ours, from
//! `bpftool btf dump file` (clang numbers the same types in another order):
//!
//! ```text
//! [1] INT 'int' size=4 SIGNED     [2] INT '__ARRAY_SIZE_TYPE__' size=4
//! [3] ARRAY [1] index [2] nr_elems=1     [4] PTR -> [3]       (type = HASH)
//! [5] ARRAY ... nr_elems=4               [6] PTR -> [5]       (key_size = 4)
//! ...
//! [11] STRUCT (anon) size=32: 'type' [4], 'key_size' [6], 'value_size' [8], 'max_entries' [10]
//! [12] VAR 'counters' -> [11], global
//! [13] FWD 'xdp_md'  [14] PTR -> [13]  [15] FUNC_PROTO int (ctx: [14])  [16] FUNC 'prog'
//! [17] DATASEC '.maps' size=32: [12] offset 0 size 32
//! ```
//!
//! An integer field is a pointer to an array whose element count *is* the value (the
//! struct is never read at run time; only its type matters). libbpf
//! (`parse_btf_map_def`) and aya-obj (`parse_btf_map_struct`) both read it this way.

use super::spec::{map_type, DataType, MapDef, ProgramSection};
use super::ElfError;
use crate::btf::{
    Builder, FuncLinkage, IntEncoding, Member, Param, Type, TypeId, VarLinkage, VarSecInfo,
};

/// The `.maps` layout decided while building BTF: each map's offset and size.
pub(crate) struct MapsLayout {
    /// `(offset, size)` of each map of the spec, in spec order.
    pub slots: Vec<(u32, u32)>,
    pub section_size: u32,
}

pub(crate) fn build(
    maps: &[MapDef],
    section: ProgramSection,
    program_name: &str,
) -> Result<(Vec<u8>, MapsLayout), ElfError> {
    let mut b = Builder::new();
    let mut vars = Vec::with_capacity(maps.len());
    let mut slots = Vec::with_capacity(maps.len());
    let mut offset = 0u32;
    for map in maps {
        let (var, size) = map_var(&mut b, map).map_err(|e| e.in_map(&map.name))?;
        vars.push(VarSecInfo { var, offset, size });
        slots.push((offset, size));
        offset += size;
    }

    func(&mut b, section, program_name).map_err(|source| ElfError::Btf {
        what: format!("program `{program_name}`"),
        source,
    })?;

    if !maps.is_empty() {
        b.add(Type::DataSec {
            name: ".maps".into(),
            size: offset,
            vars,
        })
        .map_err(|source| ElfError::Btf {
            what: "DATASEC .maps".into(),
            source,
        })?;
    }
    let bytes = b.encode().map_err(|source| ElfError::Btf {
        what: "the object".into(),
        source,
    })?;
    Ok((
        bytes,
        MapsLayout {
            slots,
            section_size: offset,
        },
    ))
}

/// Errors inside one map, named later by `in_map`.
enum MapErr {
    Btf(crate::btf::BtfError),
    Elf(ElfError),
}

impl From<crate::btf::BtfError> for MapErr {
    fn from(e: crate::btf::BtfError) -> Self {
        MapErr::Btf(e)
    }
}

impl MapErr {
    fn in_map(self, map: &str) -> ElfError {
        match self {
            MapErr::Btf(source) => ElfError::Btf {
                what: format!("map `{map}`"),
                source,
            },
            MapErr::Elf(e) => e,
        }
    }
}

fn int(b: &mut Builder) -> Result<TypeId, crate::btf::BtfError> {
    b.add(Type::Int {
        name: "int".into(),
        size: 4,
        encoding: IntEncoding::Signed,
    })
}

fn array_index(b: &mut Builder) -> Result<TypeId, crate::btf::BtfError> {
    b.add(Type::Int {
        name: "__ARRAY_SIZE_TYPE__".into(),
        size: 4,
        encoding: IntEncoding::Unsigned,
    })
}

/// `int (*name)[value]`: the `__uint(name, value)` encoding.
fn uint_field(b: &mut Builder, value: u32) -> Result<TypeId, crate::btf::BtfError> {
    let elem = int(b)?;
    let index = array_index(b)?;
    let arr = b.add(Type::Array {
        elem,
        index,
        len: value,
    })?;
    b.add(Type::Ptr { target: arr })
}

fn map_var(b: &mut Builder, map: &MapDef) -> Result<(TypeId, u32), MapErr> {
    let mut members = Vec::new();
    let mut push = |name: &str, ty: TypeId| {
        let bit_offset = members.len() as u32 * 64;
        members.push(Member {
            name: name.into(),
            ty,
            bit_offset,
        });
    };
    push("type", uint_field(b, map.map_type)?);
    for (field, size_field, size, ty) in [
        ("key", "key_size", map.key_size, &map.key_type),
        ("value", "value_size", map.value_size, &map.value_type),
    ] {
        match ty {
            None => push(size_field, uint_field(b, size)?),
            Some(dt) => {
                if !map_type::accepts_key_value_btf(map.map_type) {
                    return Err(MapErr::Elf(ElfError::KeyValueBtfNotAccepted {
                        map: map.name.clone(),
                        map_type: map.map_type,
                    }));
                }
                if field == "key"
                    && map.map_type == map_type::LPM_TRIE
                    && !matches!(dt, DataType::Struct { .. })
                {
                    return Err(MapErr::Elf(ElfError::LpmKeyNotStruct {
                        map: map.name.clone(),
                    }));
                }
                let id = data_type(b, dt).map_err(|e| match e {
                    MapErr::Elf(ElfError::BadDataType { reason, .. }) => {
                        MapErr::Elf(ElfError::BadDataType {
                            map: map.name.clone(),
                            reason,
                        })
                    }
                    other => other,
                })?;
                let described = b.size_of(id)?;
                if described != size {
                    return Err(MapErr::Elf(ElfError::SizeMismatch {
                        map: map.name.clone(),
                        field,
                        declared: size,
                        described,
                    }));
                }
                push(field, b.add(Type::Ptr { target: id })?);
            }
        }
    }
    push("max_entries", uint_field(b, map.max_entries)?);
    if map.map_flags != 0 {
        push("map_flags", uint_field(b, map.map_flags)?);
    }
    let size = members.len() as u32 * 8;
    let def = b.add(Type::Struct {
        name: None,
        size,
        members,
    })?;
    let var = b.add(Type::Var {
        name: map.name.clone(),
        ty: def,
        linkage: VarLinkage::GlobalAllocated,
    })?;
    Ok((var, size))
}

fn uint_name(bytes: u32) -> Option<&'static str> {
    Some(match bytes {
        1 => "unsigned char",
        2 => "unsigned short",
        4 => "unsigned int",
        8 => "unsigned long long",
        16 => "unsigned __int128",
        _ => return None,
    })
}

fn bad(reason: String) -> MapErr {
    MapErr::Elf(ElfError::BadDataType {
        map: String::new(),
        reason,
    })
}

fn data_type(b: &mut Builder, dt: &DataType) -> Result<TypeId, MapErr> {
    match dt {
        DataType::Uint { bytes } => {
            let name = uint_name(*bytes).ok_or_else(|| {
                bad(format!(
                    "an unsigned integer of {bytes} bytes (use 1, 2, 4, 8 or 16)"
                ))
            })?;
            Ok(b.add(Type::Int {
                name: name.into(),
                size: *bytes,
                encoding: IntEncoding::Unsigned,
            })?)
        }
        DataType::Bytes { len } => {
            let elem = data_type(b, &DataType::Uint { bytes: 1 })?;
            let index = array_index(b)?;
            Ok(b.add(Type::Array {
                elem,
                index,
                len: *len,
            })?)
        }
        DataType::Struct { name, size, fields } => {
            let mut members = Vec::with_capacity(fields.len());
            let mut end = 0u32;
            for f in fields {
                let ty = data_type(b, &f.ty)?;
                let fsize = b.size_of(ty)?;
                if f.offset < end {
                    return Err(bad(format!(
                        "field `{}` at byte {} overlaps the previous field (fields must be in increasing offset order)",
                        f.name, f.offset
                    )));
                }
                end = f.offset.saturating_add(fsize);
                if end > *size {
                    return Err(bad(format!(
                        "field `{}` ends at byte {end}, past the struct's {size} bytes",
                        f.name
                    )));
                }
                members.push(Member {
                    name: f.name.clone(),
                    ty,
                    bit_offset: f.offset * 8,
                });
            }
            Ok(b.add(Type::Struct {
                name: name.clone(),
                size: *size,
                members,
            })?)
        }
    }
}

/// `int name(struct <ctx> *ctx)`, global, as clang describes a program function.
/// The context struct is only declared (FWD): nothing reads its fields from BTF.
fn func(
    b: &mut Builder,
    section: ProgramSection,
    name: &str,
) -> Result<TypeId, crate::btf::BtfError> {
    let ret = int(b)?;
    let ctx = b.add(Type::Fwd {
        name: section.context_struct().into(),
        union: false,
    })?;
    let ctx_ptr = b.add(Type::Ptr { target: ctx })?;
    let proto = b.add(Type::FuncProto {
        ret,
        params: vec![Param {
            name: "ctx".into(),
            ty: ctx_ptr,
        }],
    })?;
    b.add(Type::Func {
        name: name.into(),
        proto,
        linkage: FuncLinkage::Global,
    })
}
