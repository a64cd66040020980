//! Reads a `.BTF` blob back into [`Type`]s: the inverse of [`super::Builder::encode`]
//! for the kinds the backend emits. Used by round-trip tests and to inspect objects;
//! kinds outside that set are reported, not skipped.

use super::builder::{HEADER_LEN, MAGIC};
use super::types::{
    kind, FuncLinkage, IntEncoding, Member, Param, Type, TypeId, VarLinkage, VarSecInfo,
};
use super::BtfError;

/// Decodes a little-endian BTF blob. Element `i` of the result has type id `i + 1`.
pub fn decode(data: &[u8]) -> Result<Vec<Type>, BtfError> {
    let mut hdr = Reader {
        data,
        pos: 0,
        what: "header",
    };
    let magic = u16::from_le_bytes([hdr.u8()?, hdr.u8()?]);
    if magic != MAGIC {
        return Err(BtfError::BadMagic { found: magic });
    }
    let _version = hdr.u8()?;
    let _flags = hdr.u8()?;
    let hdr_len = hdr.u32()?;
    if hdr_len < HEADER_LEN {
        return Err(BtfError::Truncated {
            what: "header",
            offset: 4,
        });
    }
    let type_off = hdr.u32()? as usize;
    let type_len = hdr.u32()? as usize;
    let str_off = hdr.u32()? as usize;
    let str_len = hdr.u32()? as usize;
    let base = hdr_len as usize;
    let section = |off: usize, len: usize, what: &'static str| {
        base.checked_add(off)
            .and_then(|s| Some((s, s.checked_add(len)?)))
            .filter(|(_, e)| *e <= data.len())
            .map(|(s, e)| &data[s..e])
            .ok_or(BtfError::Truncated {
                what,
                offset: base + off,
            })
    };
    let types = section(type_off, type_len, "type section")?;
    let strings = section(str_off, str_len, "string section")?;
    let name = |off: u32| -> Result<String, BtfError> {
        let rest = strings
            .get(off as usize..)
            .ok_or(BtfError::BadString { offset: off })?;
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or(BtfError::BadString { offset: off })?;
        String::from_utf8(rest[..end].to_vec()).map_err(|_| BtfError::BadString { offset: off })
    };

    let mut r = Reader {
        data: types,
        pos: 0,
        what: "type",
    };
    let mut out = Vec::new();
    while r.pos < types.len() {
        let id = out.len() as u32 + 1;
        let name_off = r.u32()?;
        let info = r.u32()?;
        let size_or_type = r.u32()?;
        let vlen = (info & 0xffff) as usize;
        let kflag = info >> 31 == 1;
        let ty = match (info >> 24) & 0x1f {
            kind::INT => {
                let enc = r.u32()?;
                Type::Int {
                    name: name(name_off)?,
                    size: size_or_type,
                    encoding: IntEncoding::from_bits(enc >> 24).ok_or(BtfError::Unsupported {
                        id,
                        what: "INT encoding",
                    })?,
                }
            }
            kind::PTR => Type::Ptr {
                target: TypeId(size_or_type),
            },
            kind::ARRAY => Type::Array {
                elem: TypeId(r.u32()?),
                index: TypeId(r.u32()?),
                len: r.u32()?,
            },
            kind::STRUCT => {
                let mut members = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    members.push(Member {
                        name: name(r.u32()?)?,
                        ty: TypeId(r.u32()?),
                        bit_offset: r.u32()?,
                    });
                }
                Type::Struct {
                    name: Some(name(name_off)?).filter(|n| !n.is_empty()),
                    size: size_or_type,
                    members,
                }
            }
            kind::FWD => Type::Fwd {
                name: name(name_off)?,
                union: kflag,
            },
            kind::TYPEDEF => Type::Typedef {
                name: name(name_off)?,
                target: TypeId(size_or_type),
            },
            kind::FUNC_PROTO => {
                let mut params = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    params.push(Param {
                        name: name(r.u32()?)?,
                        ty: TypeId(r.u32()?),
                    });
                }
                Type::FuncProto {
                    ret: TypeId(size_or_type),
                    params,
                }
            }
            kind::FUNC => Type::Func {
                name: name(name_off)?,
                proto: TypeId(size_or_type),
                linkage: match vlen {
                    0 => FuncLinkage::Static,
                    1 => FuncLinkage::Global,
                    2 => FuncLinkage::Extern,
                    _ => {
                        return Err(BtfError::Unsupported {
                            id,
                            what: "FUNC linkage",
                        })
                    }
                },
            },
            kind::VAR => Type::Var {
                name: name(name_off)?,
                ty: TypeId(size_or_type),
                linkage: match r.u32()? {
                    0 => VarLinkage::Static,
                    1 => VarLinkage::GlobalAllocated,
                    2 => VarLinkage::GlobalExtern,
                    _ => {
                        return Err(BtfError::Unsupported {
                            id,
                            what: "VAR linkage",
                        })
                    }
                },
            },
            kind::DATASEC => {
                let mut vars = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    vars.push(VarSecInfo {
                        var: TypeId(r.u32()?),
                        offset: r.u32()?,
                        size: r.u32()?,
                    });
                }
                Type::DataSec {
                    name: name(name_off)?,
                    size: size_or_type,
                    vars,
                }
            }
            _ => return Err(BtfError::Unsupported { id, what: "kind" }),
        };
        out.push(ty);
    }
    Ok(out)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, BtfError> {
        let b = *self.data.get(self.pos).ok_or(BtfError::Truncated {
            what: self.what,
            offset: self.pos,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, BtfError> {
        let bytes = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or(BtfError::Truncated {
                what: self.what,
                offset: self.pos,
            })?;
        self.pos += 4;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}
