//! Collects BTF types with stable, deduplicated ids and encodes them as a `.BTF` blob.
//!
//! Modelled on cilium/ebpf `btf/marshal.go`: `add` returns the id of an equal type if
//! one was added before, so callers can describe "pointer to array of 16 ints" every
//! time they need it and still get one type. Ids are handed out in insertion order,
//! so the same sequence of `add` calls always gives the same bytes.

use std::collections::HashMap;

use super::types::{kind, Type, TypeId};
use super::{strings::StringTable, BtfError};

/// `BTF_MAGIC`, stored little endian as `9f eb`.
pub(crate) const MAGIC: u16 = 0xeb9f;
pub(crate) const VERSION: u8 = 1;
/// `sizeof(struct btf_header)`.
pub(crate) const HEADER_LEN: u32 = 24;
/// `btf_type.info` keeps member/parameter/entry counts in 16 bits.
const MAX_VLEN: usize = 0xffff;

/// A growing set of BTF types.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    types: Vec<Type>,
    ids: HashMap<Type, TypeId>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `ty` (or finds an equal one) and returns its id.
    ///
    /// `ty` may refer to ids not added yet (BTF allows it, and clang emits
    /// `PTR -> [later id]`); [`Builder::encode`] checks that every reference
    /// resolves. Fails if `ty` carries a name the kernel's BTF checker would refuse.
    pub fn add(&mut self, ty: Type) -> Result<TypeId, BtfError> {
        if let Some(id) = self.ids.get(&ty) {
            return Ok(*id);
        }
        self.check(&ty)?;
        let id = TypeId(self.types.len() as u32 + 1);
        self.ids.insert(ty.clone(), id);
        self.types.push(ty);
        Ok(id)
    }

    /// The type behind `id` (`None` for `void` and unknown ids).
    pub fn get(&self, id: TypeId) -> Option<&Type> {
        (id.0 as usize)
            .checked_sub(1)
            .and_then(|i| self.types.get(i))
    }

    /// All types in id order (the first has id 1).
    pub fn types(&self) -> &[Type] {
        &self.types
    }

    /// Size in bytes of a value of type `id`, following typedefs and arrays.
    pub fn size_of(&self, id: TypeId) -> Result<u32, BtfError> {
        // Each step goes one type deeper; more steps than types means a cycle.
        self.size_of_bounded(id, self.types.len())
    }

    fn size_of_bounded(&self, id: TypeId, depth: usize) -> Result<u32, BtfError> {
        let ty = self.get(id).ok_or(BtfError::UnknownType { id: id.0 })?;
        let deeper = |next: TypeId| match depth.checked_sub(1) {
            Some(d) => self.size_of_bounded(next, d),
            None => Err(BtfError::Cycle { id: id.0 }),
        };
        match ty {
            Type::Int { size, .. } | Type::Struct { size, .. } => Ok(*size),
            Type::Ptr { .. } => Ok(8),
            Type::Array { elem, len, .. } => deeper(*elem)?
                .checked_mul(*len)
                .ok_or(BtfError::SizeOverflow { id: id.0 }),
            Type::Typedef { target, .. } => deeper(*target),
            other => Err(BtfError::NoSize {
                id: id.0,
                kind: other.kind_name(),
            }),
        }
    }

    /// Encodes header, type section and string section (little endian).
    ///
    /// Fails if a type refers to an id that was never added.
    pub fn encode(&self) -> Result<Vec<u8>, BtfError> {
        let count = self.types.len() as u32;
        for (i, ty) in self.types.iter().enumerate() {
            if let Some(r) = ty.references().into_iter().find(|r| r.0 > count) {
                return Err(BtfError::DanglingReference {
                    kind: ty.kind_name(),
                    from: i as u32 + 1,
                    id: r.0,
                });
            }
        }
        let mut strings = StringTable::new();
        let mut type_bytes = Vec::new();
        for ty in &self.types {
            encode_type(ty, &mut strings, &mut type_bytes);
        }
        let string_bytes = strings.into_bytes();

        let mut out =
            Vec::with_capacity(HEADER_LEN as usize + type_bytes.len() + string_bytes.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(VERSION);
        out.push(0); // flags
        put(&mut out, HEADER_LEN);
        put(&mut out, 0); // type_off, relative to the end of the header
        put(&mut out, type_bytes.len() as u32);
        put(&mut out, type_bytes.len() as u32); // str_off: strings follow the types
        put(&mut out, string_bytes.len() as u32);
        out.extend_from_slice(&type_bytes);
        out.extend_from_slice(&string_bytes);
        Ok(out)
    }

    fn check(&self, ty: &Type) -> Result<(), BtfError> {
        let vlen = match ty {
            Type::Struct { members, .. } => members.len(),
            Type::FuncProto { params, .. } => params.len(),
            Type::DataSec { vars, .. } => vars.len(),
            _ => 0,
        };
        if vlen > MAX_VLEN {
            return Err(BtfError::TooManyMembers {
                kind: ty.kind_name(),
                count: vlen,
            });
        }
        let names: Vec<&str> = match ty {
            Type::Int { name, .. }
            | Type::Fwd { name, .. }
            | Type::Typedef { name, .. }
            | Type::Func { name, .. }
            | Type::Var { name, .. } => vec![name],
            Type::Struct { name, members, .. } => name
                .iter()
                .map(String::as_str)
                .chain(members.iter().map(|m| m.name.as_str()))
                .collect(),
            Type::FuncProto { params, .. } => params.iter().map(|p| p.name.as_str()).collect(),
            Type::Ptr { .. } | Type::Array { .. } => vec![],
            Type::DataSec { name, .. } => {
                if name.is_empty() || name.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err(BtfError::InvalidName {
                        kind: ty.kind_name(),
                        name: name.clone(),
                    });
                }
                vec![]
            }
        };
        for name in names {
            // INT names may contain spaces ("unsigned int"); everything else must be
            // a C identifier, as the kernel's btf_name_valid_identifier demands.
            let ok = if matches!(ty, Type::Int { .. }) {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            } else {
                is_identifier(name)
            };
            if !ok {
                return Err(BtfError::InvalidName {
                    kind: ty.kind_name(),
                    name: name.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// `btf_type.info`: vlen in bits 0..16, kind in bits 24..29, kind_flag in bit 31.
fn info(kind: u32, vlen: usize, kflag: bool) -> u32 {
    (vlen as u32 & 0xffff) | (kind << 24) | (u32::from(kflag) << 31)
}

fn encode_type(ty: &Type, strings: &mut StringTable, out: &mut Vec<u8>) {
    match ty {
        Type::Int {
            name,
            size,
            encoding,
        } => {
            put(out, strings.add(name));
            put(out, info(kind::INT, 0, false));
            put(out, *size);
            // encoding << 24 | bit offset (0) << 16 | bit count
            put(out, (encoding.bits() << 24) | (size * 8));
        }
        Type::Ptr { target } => {
            put(out, 0);
            put(out, info(kind::PTR, 0, false));
            put(out, target.0);
        }
        Type::Array { elem, index, len } => {
            put(out, 0);
            put(out, info(kind::ARRAY, 0, false));
            put(out, 0);
            put(out, elem.0);
            put(out, index.0);
            put(out, *len);
        }
        Type::Struct {
            name,
            size,
            members,
        } => {
            put(out, name.as_deref().map_or(0, |n| strings.add(n)));
            put(out, info(kind::STRUCT, members.len(), false));
            put(out, *size);
            for m in members {
                put(out, strings.add(&m.name));
                put(out, m.ty.0);
                put(out, m.bit_offset);
            }
        }
        Type::Fwd { name, union } => {
            put(out, strings.add(name));
            put(out, info(kind::FWD, 0, *union));
            put(out, 0);
        }
        Type::Typedef { name, target } => {
            put(out, strings.add(name));
            put(out, info(kind::TYPEDEF, 0, false));
            put(out, target.0);
        }
        Type::FuncProto { ret, params } => {
            put(out, 0);
            put(out, info(kind::FUNC_PROTO, params.len(), false));
            put(out, ret.0);
            for p in params {
                put(out, strings.add(&p.name));
                put(out, p.ty.0);
            }
        }
        Type::Func {
            name,
            proto,
            linkage,
        } => {
            put(out, strings.add(name));
            // A FUNC's vlen field holds its linkage.
            put(out, info(kind::FUNC, linkage.raw() as usize, false));
            put(out, proto.0);
        }
        Type::Var { name, ty, linkage } => {
            put(out, strings.add(name));
            put(out, info(kind::VAR, 0, false));
            put(out, ty.0);
            put(out, linkage.raw());
        }
        Type::DataSec { name, size, vars } => {
            put(out, strings.add(name));
            put(out, info(kind::DATASEC, vars.len(), false));
            put(out, *size);
            for v in vars {
                put(out, v.var.0);
                put(out, v.offset);
                put(out, v.size);
            }
        }
    }
}
