//! A small BTF writer (and reader for the same subset) for the `.BTF` section of the
//! objects `crate::elf` writes.
//!
//! The object's BTF describes the maps in `.maps` (how libbpf and aya learn their
//! type, sizes and flags) and the program's FUNC. [`Builder`] hands out stable,
//! deduplicated type ids; [`Builder::encode`] gives the section bytes; [`decode`]
//! reads them back.

mod builder;
mod decode;
mod strings;
mod types;

pub use builder::{is_identifier, Builder};
pub use decode::decode;
pub use types::{FuncLinkage, IntEncoding, Member, Param, Type, TypeId, VarLinkage, VarSecInfo};

/// What went wrong building or reading BTF.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("BTF {kind} (type id {from}) refers to type id {id}, which was never added")]
    DanglingReference {
        kind: &'static str,
        from: u32,
        id: u32,
    },
    #[error("BTF type id {id} is part of a cycle with no size")]
    Cycle { id: u32 },
    #[error(
        "BTF {kind} name `{name}` is not accepted by the kernel (names must be C identifiers)"
    )]
    InvalidName { kind: &'static str, name: String },
    #[error("BTF {kind} has {count} members; BTF allows at most 65535")]
    TooManyMembers { kind: &'static str, count: usize },
    #[error("BTF type id {id} does not exist")]
    UnknownType { id: u32 },
    #[error("BTF type id {id} ({kind}) has no size")]
    NoSize { id: u32, kind: &'static str },
    #[error("size of BTF type id {id} overflows 32 bits")]
    SizeOverflow { id: u32 },
    #[error("not BTF: magic is {found:#06x}, expected 0xeb9f")]
    BadMagic { found: u16 },
    #[error("BTF {what} truncated at byte {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("BTF string at offset {offset} is missing, unterminated or not UTF-8")]
    BadString { offset: u32 },
    #[error("BTF type id {id}: unsupported {what}")]
    Unsupported { id: u32, what: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(b: &mut Builder) -> TypeId {
        b.add(Type::Int {
            name: "int".into(),
            size: 4,
            encoding: IntEncoding::Signed,
        })
        .unwrap()
    }

    #[test]
    fn equal_types_get_one_id_in_insertion_order() {
        let mut b = Builder::new();
        let i = int(&mut b);
        let p1 = b.add(Type::Ptr { target: i }).unwrap();
        let i2 = int(&mut b);
        let p2 = b.add(Type::Ptr { target: i2 }).unwrap();
        assert_eq!(
            (i, p1, i2, p2),
            (TypeId(1), TypeId(2), TypeId(1), TypeId(2))
        );
        assert_eq!(b.types().len(), 2);
    }

    #[test]
    fn forward_references_resolve_at_encode_and_dangling_ones_are_refused() {
        let mut b = Builder::new();
        // PTR -> [2] before [2] exists, as clang emits it.
        assert_eq!(b.add(Type::Ptr { target: TypeId(2) }).unwrap(), TypeId(1));
        assert_eq!(
            b.encode().unwrap_err(),
            BtfError::DanglingReference {
                kind: "PTR",
                from: 1,
                id: 2
            }
        );
        assert_eq!(int(&mut b), TypeId(2));
        assert_eq!(b.size_of(TypeId(1)), Ok(8));
        assert_eq!(decode(&b.encode().unwrap()).unwrap(), b.types());
    }

    #[test]
    fn size_of_a_cycle_is_an_error_not_a_hang() {
        let mut b = Builder::new();
        b.add(Type::Typedef {
            name: "a".into(),
            target: TypeId(2),
        })
        .unwrap();
        b.add(Type::Typedef {
            name: "b".into(),
            target: TypeId(1),
        })
        .unwrap();
        assert!(matches!(b.size_of(TypeId(1)), Err(BtfError::Cycle { .. })));
        let idx = int(&mut b);
        b.add(Type::Array {
            elem: TypeId(4),
            index: idx,
            len: 2,
        })
        .unwrap();
        assert!(matches!(b.size_of(TypeId(4)), Err(BtfError::Cycle { .. })));
    }

    #[test]
    fn names_the_kernel_refuses_are_refused() {
        let mut b = Builder::new();
        let i = int(&mut b);
        let err = b
            .add(Type::Var {
                name: "my-map".into(),
                ty: i,
                linkage: VarLinkage::GlobalAllocated,
            })
            .unwrap_err();
        assert!(matches!(err, BtfError::InvalidName { kind: "VAR", .. }));
        assert!(b
            .add(Type::DataSec {
                name: ".maps".into(),
                size: 0,
                vars: vec![]
            })
            .is_ok());
    }

    #[test]
    fn more_members_than_btf_can_count_are_refused() {
        let mut b = Builder::new();
        let err = b
            .add(Type::DataSec {
                name: ".maps".into(),
                size: 0,
                vars: vec![
                    VarSecInfo {
                        var: TypeId::VOID,
                        offset: 0,
                        size: 0
                    };
                    65536
                ],
            })
            .unwrap_err();
        assert_eq!(
            err,
            BtfError::TooManyMembers {
                kind: "DATASEC",
                count: 65536
            }
        );
    }

    #[test]
    fn size_of_follows_arrays_typedefs_and_pointers() {
        let mut b = Builder::new();
        let i = int(&mut b);
        let idx = b
            .add(Type::Int {
                name: "__ARRAY_SIZE_TYPE__".into(),
                size: 4,
                encoding: IntEncoding::Unsigned,
            })
            .unwrap();
        let a = b
            .add(Type::Array {
                elem: i,
                index: idx,
                len: 3,
            })
            .unwrap();
        let t = b
            .add(Type::Typedef {
                name: "three".into(),
                target: a,
            })
            .unwrap();
        let p = b.add(Type::Ptr { target: t }).unwrap();
        assert_eq!(b.size_of(t), Ok(12));
        assert_eq!(b.size_of(p), Ok(8));
        assert_eq!(b.size_of(TypeId(99)), Err(BtfError::UnknownType { id: 99 }));
    }

    #[test]
    fn header_and_int_encoding_match_the_kernel_layout() {
        let mut b = Builder::new();
        int(&mut b);
        let bytes = b.encode().unwrap();
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0x9f, 0xeb, 1, 0][..],
            &24u32.to_le_bytes(), &0u32.to_le_bytes(), &16u32.to_le_bytes(),
            &16u32.to_le_bytes(), &5u32.to_le_bytes(),
            // name_off 1, info: kind INT (1) << 24, size 4, signed 32 bits
            &1u32.to_le_bytes(), &0x0100_0000u32.to_le_bytes(), &4u32.to_le_bytes(),
            &0x0100_0020u32.to_le_bytes(),
            b"\0int\0",
        ].concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn every_kind_round_trips() {
        let mut b = Builder::new();
        let i = int(&mut b);
        let u = b
            .add(Type::Int {
                name: "unsigned int".into(),
                size: 4,
                encoding: IntEncoding::Unsigned,
            })
            .unwrap();
        let a = b
            .add(Type::Array {
                elem: i,
                index: u,
                len: 7,
            })
            .unwrap();
        let pa = b.add(Type::Ptr { target: a }).unwrap();
        let s = b
            .add(Type::Struct {
                name: None,
                size: 8,
                members: vec![Member {
                    name: "type".into(),
                    ty: pa,
                    bit_offset: 0,
                }],
            })
            .unwrap();
        let f = b
            .add(Type::Fwd {
                name: "xdp_md".into(),
                union: false,
            })
            .unwrap();
        let pf = b.add(Type::Ptr { target: f }).unwrap();
        let td = b
            .add(Type::Typedef {
                name: "__u32".into(),
                target: u,
            })
            .unwrap();
        let proto = b
            .add(Type::FuncProto {
                ret: i,
                params: vec![Param {
                    name: "ctx".into(),
                    ty: pf,
                }],
            })
            .unwrap();
        b.add(Type::Func {
            name: "prog".into(),
            proto,
            linkage: FuncLinkage::Global,
        })
        .unwrap();
        let v = b
            .add(Type::Var {
                name: "m".into(),
                ty: s,
                linkage: VarLinkage::GlobalAllocated,
            })
            .unwrap();
        b.add(Type::Var {
            name: "n".into(),
            ty: td,
            linkage: VarLinkage::Static,
        })
        .unwrap();
        b.add(Type::DataSec {
            name: ".maps".into(),
            size: 8,
            vars: vec![VarSecInfo {
                var: v,
                offset: 0,
                size: 8,
            }],
        })
        .unwrap();
        assert_eq!(decode(&b.encode().unwrap()).unwrap(), b.types());
    }

    #[test]
    fn decode_reports_truncation_and_bad_magic() {
        let mut b = Builder::new();
        int(&mut b);
        let bytes = b.encode().unwrap();
        assert!(matches!(
            decode(&bytes[..30]),
            Err(BtfError::Truncated { .. })
        ));
        let mut bad = bytes.clone();
        bad[0] = 0;
        assert!(matches!(decode(&bad), Err(BtfError::BadMagic { .. })));
    }
}
