//! The BTF kinds the backend emits, as plain values.
//!
//! Only the kinds a BPF object's `.BTF` needs are modelled: what a map definition in
//! `.maps` is made of (INT, PTR, ARRAY, STRUCT, VAR, DATASEC), what a program's FUNC
//! needs (FUNC, FUNC_PROTO, FWD), and TYPEDEF for readable key/value types. Layout:
//! `Documentation/bpf/btf.rst` in the kernel; kind numbers below are `BTF_KIND_*`.

/// A BTF type id. `TypeId::VOID` (0) is the implicit `void`; every other id is
/// handed out by [`super::Builder::add`] in insertion order, starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u32);

impl TypeId {
    /// `void`: the return type of nothing, the target of `void *`.
    pub const VOID: TypeId = TypeId(0);
}

/// How an INT's bits are read (`BTF_INT_ENCODING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntEncoding {
    Unsigned,
    Signed,
    Char,
    Bool,
}

impl IntEncoding {
    pub(crate) fn bits(self) -> u32 {
        match self {
            IntEncoding::Unsigned => 0,
            IntEncoding::Signed => 1,
            IntEncoding::Char => 2,
            IntEncoding::Bool => 4,
        }
    }

    pub(crate) fn from_bits(bits: u32) -> Option<Self> {
        Some(match bits {
            0 => IntEncoding::Unsigned,
            1 => IntEncoding::Signed,
            2 => IntEncoding::Char,
            4 => IntEncoding::Bool,
            _ => return None,
        })
    }
}

/// Linkage of a FUNC (`btf_func_linkage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuncLinkage {
    Static,
    Global,
    Extern,
}

impl FuncLinkage {
    pub(crate) fn raw(self) -> u32 {
        match self {
            FuncLinkage::Static => 0,
            FuncLinkage::Global => 1,
            FuncLinkage::Extern => 2,
        }
    }
}

/// Linkage of a VAR (`BTF_VAR_*`). Map definitions are `GlobalAllocated`: libbpf
/// refuses other linkages for maps in `.maps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarLinkage {
    Static,
    GlobalAllocated,
    GlobalExtern,
}

impl VarLinkage {
    pub(crate) fn raw(self) -> u32 {
        match self {
            VarLinkage::Static => 0,
            VarLinkage::GlobalAllocated => 1,
            VarLinkage::GlobalExtern => 2,
        }
    }
}

/// One STRUCT member. `bit_offset` counts from the start of the struct.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    pub name: String,
    pub ty: TypeId,
    pub bit_offset: u32,
}

/// One FUNC_PROTO parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: String,
    pub ty: TypeId,
}

/// One DATASEC entry: a VAR placed at `offset` bytes into the section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarSecInfo {
    pub var: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// A BTF type. Names are `None` for anonymous types (PTR, ARRAY and FUNC_PROTO
/// are always anonymous in BTF, so they carry no name at all).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Int {
        name: String,
        /// Size in bytes (1, 2, 4, 8 or 16).
        size: u32,
        encoding: IntEncoding,
    },
    Ptr {
        target: TypeId,
    },
    Array {
        elem: TypeId,
        index: TypeId,
        len: u32,
    },
    Struct {
        name: Option<String>,
        /// Size in bytes.
        size: u32,
        members: Vec<Member>,
    },
    /// A forward declaration of a struct (`union == false`) or union.
    Fwd {
        name: String,
        union: bool,
    },
    Typedef {
        name: String,
        target: TypeId,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param>,
    },
    Func {
        name: String,
        proto: TypeId,
        linkage: FuncLinkage,
    },
    Var {
        name: String,
        ty: TypeId,
        linkage: VarLinkage,
    },
    DataSec {
        name: String,
        /// Size in bytes of the ELF section the entries live in.
        size: u32,
        vars: Vec<VarSecInfo>,
    },
}

/// `BTF_KIND_*` numbers of the kinds above.
pub(crate) mod kind {
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
}

impl Type {
    /// Every type id this type refers to, for the builder's "no forward
    /// references to ids that do not exist" check.
    pub(crate) fn references(&self) -> Vec<TypeId> {
        match self {
            Type::Int { .. } | Type::Fwd { .. } => vec![],
            Type::Ptr { target } | Type::Typedef { target, .. } => vec![*target],
            Type::Array { elem, index, .. } => vec![*elem, *index],
            Type::Struct { members, .. } => members.iter().map(|m| m.ty).collect(),
            Type::FuncProto { ret, params } => std::iter::once(*ret)
                .chain(params.iter().map(|p| p.ty))
                .collect(),
            Type::Func { proto, .. } => vec![*proto],
            Type::Var { ty, .. } => vec![*ty],
            Type::DataSec { vars, .. } => vars.iter().map(|v| v.var).collect(),
        }
    }

    /// The BTF kind name, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Type::Int { .. } => "INT",
            Type::Ptr { .. } => "PTR",
            Type::Array { .. } => "ARRAY",
            Type::Struct { .. } => "STRUCT",
            Type::Fwd { .. } => "FWD",
            Type::Typedef { .. } => "TYPEDEF",
            Type::FuncProto { .. } => "FUNC_PROTO",
            Type::Func { .. } => "FUNC",
            Type::Var { .. } => "VAR",
            Type::DataSec { .. } => "DATASEC",
        }
    }
}
