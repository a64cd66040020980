//! eBPF opcode fields as typed constants.
//!
//! An instruction's `code` byte is split by class (low three bits):
//!
//! ```text
//! ALU / ALU64 / JMP / JMP32:       LD / LDX / ST / STX:
//!   7     4   3    2   0            7    5  4  3  2   0
//!  +-------+-----+-----+           +------+----+-----+
//!  |  op   | src |class|           | mode |size|class|
//!  +-------+-----+-----+           +------+----+-----+
//! ```
//!
//! `src` is 0 when the second operand is the 32-bit immediate (`K`) and 1
//! when it is the source register (`X`).

use std::fmt;

/// The low three bits of `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Class {
    Ld = 0x00,
    Ldx = 0x01,
    St = 0x02,
    Stx = 0x03,
    /// 32-bit arithmetic (upper half of the destination is zeroed).
    Alu = 0x04,
    Jmp = 0x05,
    /// Jumps comparing the low 32 bits only.
    Jmp32 = 0x06,
    Alu64 = 0x07,
}

impl Class {
    pub fn of(code: u8) -> Class {
        match code & 0x07 {
            0x00 => Class::Ld,
            0x01 => Class::Ldx,
            0x02 => Class::St,
            0x03 => Class::Stx,
            0x04 => Class::Alu,
            0x05 => Class::Jmp,
            0x06 => Class::Jmp32,
            _ => Class::Alu64,
        }
    }
}

/// Bit 3 of an ALU/JMP `code`: where the second operand comes from.
pub const SRC_K: u8 = 0x00;
pub const SRC_X: u8 = 0x08;

/// Access width of a load or store (bits 3..4 of `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Size {
    W = 0x00,
    H = 0x08,
    B = 0x10,
    DW = 0x18,
}

impl Size {
    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
    pub fn of(code: u8) -> Size {
        match code & 0x18 {
            0x00 => Size::W,
            0x08 => Size::H,
            0x10 => Size::B,
            _ => Size::DW,
        }
    }
    /// The size that moves `bytes` bytes (1, 2, 4 or 8).
    pub fn for_bytes(bytes: u32) -> Option<Size> {
        match bytes {
            1 => Some(Size::B),
            2 => Some(Size::H),
            4 => Some(Size::W),
            8 => Some(Size::DW),
            _ => None,
        }
    }
    pub fn c_type(self) -> &'static str {
        match self {
            Size::B => "u8",
            Size::H => "u16",
            Size::W => "u32",
            Size::DW => "u64",
        }
    }
}

/// Addressing mode of a load or store (bits 5..7 of `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Mode {
    Imm = 0x00,
    Abs = 0x20,
    Ind = 0x40,
    Mem = 0x60,
    Atomic = 0xc0,
}

/// ALU operation (bits 4..7 of `code` in the ALU/ALU64 classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AluOp {
    Add = 0x00,
    Sub = 0x10,
    Mul = 0x20,
    Div = 0x30,
    Or = 0x40,
    And = 0x50,
    Lsh = 0x60,
    Rsh = 0x70,
    Neg = 0x80,
    Mod = 0x90,
    Xor = 0xa0,
    Mov = 0xb0,
    Arsh = 0xc0,
    /// Byte swap; see [`Endian`].
    End = 0xd0,
}

impl AluOp {
    pub fn of(code: u8) -> AluOp {
        use AluOp::*;
        [
            Add, Sub, Mul, Div, Or, And, Lsh, Rsh, Neg, Mod, Xor, Mov, Arsh, End,
        ]
        .into_iter()
        .find(|o| *o as u8 == code & 0xf0)
        .unwrap_or(Add)
    }
    /// The C operator the printer uses (`+=`, `<<=`, ...).
    pub fn symbol(self) -> &'static str {
        match self {
            AluOp::Add => "+=",
            AluOp::Sub => "-=",
            AluOp::Mul => "*=",
            AluOp::Div => "/=",
            AluOp::Or => "|=",
            AluOp::And => "&=",
            AluOp::Lsh => "<<=",
            AluOp::Rsh => ">>=",
            AluOp::Neg => "= -",
            AluOp::Mod => "%=",
            AluOp::Xor => "^=",
            AluOp::Mov => "=",
            AluOp::Arsh => "s>>=",
            AluOp::End => "= end",
        }
    }
}

/// Byte order of an `End` instruction (the `src` bit): `ToBe` swaps on
/// little-endian hosts, which is how network-order fields become numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Endian {
    ToLe = 0x00,
    ToBe = 0x08,
}

/// Jump operation (bits 4..7 of `code` in the JMP/JMP32 classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum JmpOp {
    Ja = 0x00,
    Eq = 0x10,
    Gt = 0x20,
    Ge = 0x30,
    Set = 0x40,
    Ne = 0x50,
    Sgt = 0x60,
    Sge = 0x70,
    Call = 0x80,
    Exit = 0x90,
    Lt = 0xa0,
    Le = 0xb0,
    Slt = 0xc0,
    Sle = 0xd0,
}

impl JmpOp {
    pub fn of(code: u8) -> JmpOp {
        use JmpOp::*;
        [
            Ja, Eq, Gt, Ge, Set, Ne, Sgt, Sge, Call, Exit, Lt, Le, Slt, Sle,
        ]
        .into_iter()
        .find(|o| *o as u8 == code & 0xf0)
        .unwrap_or(Ja)
    }
    /// The comparison the printer uses (`if r1 > r2 goto`).
    pub fn symbol(self) -> &'static str {
        match self {
            JmpOp::Eq => "==",
            JmpOp::Gt => ">",
            JmpOp::Ge => ">=",
            JmpOp::Set => "&",
            JmpOp::Ne => "!=",
            JmpOp::Sgt => "s>",
            JmpOp::Sge => "s>=",
            JmpOp::Lt => "<",
            JmpOp::Le => "<=",
            JmpOp::Slt => "s<",
            JmpOp::Sle => "s<=",
            JmpOp::Ja | JmpOp::Call | JmpOp::Exit => "?",
        }
    }
    /// The condition that holds exactly when `self` does not.
    pub fn negate(self) -> JmpOp {
        match self {
            JmpOp::Eq => JmpOp::Ne,
            JmpOp::Ne => JmpOp::Eq,
            JmpOp::Gt => JmpOp::Le,
            JmpOp::Le => JmpOp::Gt,
            JmpOp::Ge => JmpOp::Lt,
            JmpOp::Lt => JmpOp::Ge,
            JmpOp::Sgt => JmpOp::Sle,
            JmpOp::Sle => JmpOp::Sgt,
            JmpOp::Sge => JmpOp::Slt,
            JmpOp::Slt => JmpOp::Sge,
            other => other,
        }
    }
}

/// Atomic operation in the `imm` of a `STX | ATOMIC` instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum AtomicOp {
    /// `lock *(size *)(dst + off) += src` (the classic XADD).
    Add = 0x00,
}

/// `src` of a `ld_imm64` whose immediate is a map (resolved by the loader).
pub const PSEUDO_MAP_FD: u8 = 1;

/// Kernel helper function ids (`enum bpf_func_id`, include/uapi/linux/bpf.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    Redirect = 23,
    SkbVlanPush = 18,
    SkbVlanPop = 19,
    SkbStoreBytes = 9,
    L3CsumReplace = 10,
    L4CsumReplace = 11,
    XdpAdjustHead = 44,
    RedirectMap = 51,
    SkbAdjustRoom = 50,
    SkbChangeHead = 43,
    TailCall = 12,
    KtimeGetNs = 5,
    SpinLock = 93,
    SpinUnlock = 94,
}

impl Helper {
    pub const ALL: [Helper; 17] = [
        Helper::MapLookupElem,
        Helper::MapUpdateElem,
        Helper::MapDeleteElem,
        Helper::SkbStoreBytes,
        Helper::L3CsumReplace,
        Helper::L4CsumReplace,
        Helper::SkbVlanPush,
        Helper::SkbVlanPop,
        Helper::Redirect,
        Helper::SkbChangeHead,
        Helper::XdpAdjustHead,
        Helper::SkbAdjustRoom,
        Helper::RedirectMap,
        Helper::TailCall,
        Helper::KtimeGetNs,
        Helper::SpinLock,
        Helper::SpinUnlock,
    ];
    pub fn id(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            Helper::MapLookupElem => "bpf_map_lookup_elem",
            Helper::MapUpdateElem => "bpf_map_update_elem",
            Helper::MapDeleteElem => "bpf_map_delete_elem",
            Helper::SkbStoreBytes => "bpf_skb_store_bytes",
            Helper::L3CsumReplace => "bpf_l3_csum_replace",
            Helper::L4CsumReplace => "bpf_l4_csum_replace",
            Helper::SkbVlanPush => "bpf_skb_vlan_push",
            Helper::SkbVlanPop => "bpf_skb_vlan_pop",
            Helper::Redirect => "bpf_redirect",
            Helper::SkbChangeHead => "bpf_skb_change_head",
            Helper::XdpAdjustHead => "bpf_xdp_adjust_head",
            Helper::SkbAdjustRoom => "bpf_skb_adjust_room",
            Helper::RedirectMap => "bpf_redirect_map",
            Helper::TailCall => "bpf_tail_call",
            Helper::KtimeGetNs => "bpf_ktime_get_ns",
            Helper::SpinLock => "bpf_spin_lock",
            Helper::SpinUnlock => "bpf_spin_unlock",
        }
    }
    pub fn from_id(id: i32) -> Option<Helper> {
        Helper::ALL.into_iter().find(|h| h.id() == id)
    }
}

impl fmt::Display for Helper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
