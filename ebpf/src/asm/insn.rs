//! One 8-byte instruction slot and the builders that make them.
//!
//! `Insn` is a flat value mirroring `struct bpf_insn`: the builders here only
//! fill fields; symbolic jumps and map references live in [`super::Program`].
//! `ld_imm64` occupies two slots, so it returns `[Insn; 2]`.

use super::opcode::*;
use std::fmt;

/// An eBPF register. R0 return value / helper result, R1-R5 helper arguments
/// (clobbered by calls), R6-R9 callee-saved, R10 read-only frame pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reg {
    R0 = 0,
    R1 = 1,
    R2 = 2,
    R3 = 3,
    R4 = 4,
    R5 = 5,
    R6 = 6,
    R7 = 7,
    R8 = 8,
    R9 = 9,
    /// Frame pointer (stack grows down from it; 512 bytes).
    R10 = 10,
}

impl Reg {
    pub const ALL: [Reg; 11] = [
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R5,
        Reg::R6,
        Reg::R7,
        Reg::R8,
        Reg::R9,
        Reg::R10,
    ];
    pub fn num(self) -> u8 {
        self as u8
    }
    pub fn from_num(n: u8) -> Option<Reg> {
        Reg::ALL.get(n as usize).copied()
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.num())
    }
}

/// One raw instruction slot: `code`, `dst:4 | src:4`, signed `off`, signed `imm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    pub code: u8,
    /// Destination register number (0..=10; raw because the second slot of
    /// `ld_imm64` carries zeros).
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub const fn raw(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Little-endian encoding (the byte order of every BPF target we emit).
    pub fn encode(&self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.src << 4) | (self.dst & 0x0f),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    pub fn decode(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn class(&self) -> Class {
        Class::of(self.code)
    }

    /// A conditional or unconditional jump whose `off` is a branch target.
    pub fn is_branch(&self) -> bool {
        matches!(self.class(), Class::Jmp | Class::Jmp32)
            && !matches!(JmpOp::of(self.code), JmpOp::Call | JmpOp::Exit)
    }

    /// First slot of a two-slot `ld_imm64`.
    pub fn is_ld_imm64(&self) -> bool {
        self.code == Class::Ld as u8 | Mode::Imm as u8 | Size::DW as u8
    }

    // ---- ALU ----------------------------------------------------------

    fn alu(class: Class, op: AluOp, src_bit: u8, dst: Reg, src: u8, imm: i32) -> Insn {
        Insn::raw(class as u8 | op as u8 | src_bit, dst.num(), src, 0, imm)
    }
    /// `dst op= imm` on 64 bits (`op` = Mov: `dst = imm`, sign-extended).
    pub fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::alu(Class::Alu64, op, SRC_K, dst, 0, imm)
    }
    /// `dst op= src` on 64 bits.
    pub fn alu64_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::alu(Class::Alu64, op, SRC_X, dst, src.num(), 0)
    }
    /// `wdst op= imm` on 32 bits (the upper half of dst becomes 0).
    pub fn alu32_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::alu(Class::Alu, op, SRC_K, dst, 0, imm)
    }
    /// `wdst op= wsrc` on 32 bits.
    pub fn alu32_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::alu(Class::Alu, op, SRC_X, dst, src.num(), 0)
    }
    pub fn mov64_imm(dst: Reg, imm: i32) -> Insn {
        Insn::alu64_imm(AluOp::Mov, dst, imm)
    }
    pub fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu64_reg(AluOp::Mov, dst, src)
    }
    pub fn mov32_imm(dst: Reg, imm: i32) -> Insn {
        Insn::alu32_imm(AluOp::Mov, dst, imm)
    }
    pub fn mov32_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu32_reg(AluOp::Mov, dst, src)
    }
    /// `dst = -dst` (64-bit).
    pub fn neg64(dst: Reg) -> Insn {
        Insn::alu64_imm(AluOp::Neg, dst, 0)
    }
    /// Converts the low `bits` (16, 32, 64) of `dst` to/from network order.
    fn end(e: Endian, dst: Reg, bits: i32) -> Insn {
        Insn::raw(
            Class::Alu as u8 | AluOp::End as u8 | e as u8,
            dst.num(),
            0,
            0,
            bits,
        )
    }
    /// `dst = be16 dst`: the low 16 bits byte-swapped (on little-endian), upper bits cleared.
    pub fn be16(dst: Reg) -> Insn {
        Insn::end(Endian::ToBe, dst, 16)
    }
    pub fn be32(dst: Reg) -> Insn {
        Insn::end(Endian::ToBe, dst, 32)
    }
    pub fn be64(dst: Reg) -> Insn {
        Insn::end(Endian::ToBe, dst, 64)
    }
    pub fn le16(dst: Reg) -> Insn {
        Insn::end(Endian::ToLe, dst, 16)
    }

    // ---- loads and stores --------------------------------------------

    /// `dst = *(size *)(src + off)`.
    pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::raw(
            Class::Ldx as u8 | Mode::Mem as u8 | size as u8,
            dst.num(),
            src.num(),
            off,
            0,
        )
    }
    /// `*(size *)(dst + off) = src`.
    pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::raw(
            Class::Stx as u8 | Mode::Mem as u8 | size as u8,
            dst.num(),
            src.num(),
            off,
            0,
        )
    }
    /// `*(size *)(dst + off) = imm` (sign-extended for DW).
    pub fn st(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::raw(
            Class::St as u8 | Mode::Mem as u8 | size as u8,
            dst.num(),
            0,
            off,
            imm,
        )
    }
    /// `lock *(size *)(dst + off) op= src` (W or DW only).
    pub fn atomic(size: Size, op: AtomicOp, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::raw(
            Class::Stx as u8 | Mode::Atomic as u8 | size as u8,
            dst.num(),
            src.num(),
            off,
            op as i32,
        )
    }
    /// `dst = imm64` in two slots.
    pub fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        Insn::ld_imm64_src(dst, 0, imm)
    }
    /// `dst = map` placeholder: `src = PSEUDO_MAP_FD`, imm 0, patched by the
    /// loader through a relocation against the map's symbol.
    pub fn ld_map_placeholder(dst: Reg) -> [Insn; 2] {
        Insn::ld_imm64_src(dst, PSEUDO_MAP_FD, 0)
    }
    fn ld_imm64_src(dst: Reg, src: u8, imm: u64) -> [Insn; 2] {
        [
            Insn::raw(
                Class::Ld as u8 | Mode::Imm as u8 | Size::DW as u8,
                dst.num(),
                src,
                0,
                imm as u32 as i32,
            ),
            Insn::raw(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }

    // ---- jumps --------------------------------------------------------

    /// `goto +off`.
    pub fn ja(off: i16) -> Insn {
        Insn::raw(Class::Jmp as u8 | JmpOp::Ja as u8, 0, 0, off, 0)
    }
    /// `if dst op imm goto +off` (64-bit compare, imm sign-extended).
    pub fn jmp_imm(op: JmpOp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::raw(Class::Jmp as u8 | op as u8 | SRC_K, dst.num(), 0, off, imm)
    }
    /// `if dst op src goto +off` (64-bit compare).
    pub fn jmp_reg(op: JmpOp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::raw(
            Class::Jmp as u8 | op as u8 | SRC_X,
            dst.num(),
            src.num(),
            off,
            0,
        )
    }
    /// `if wdst op imm goto +off` (32-bit compare).
    pub fn jmp32_imm(op: JmpOp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::raw(
            Class::Jmp32 as u8 | op as u8 | SRC_K,
            dst.num(),
            0,
            off,
            imm,
        )
    }
    /// `if wdst op wsrc goto +off` (32-bit compare).
    pub fn jmp32_reg(op: JmpOp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::raw(
            Class::Jmp32 as u8 | op as u8 | SRC_X,
            dst.num(),
            src.num(),
            off,
            0,
        )
    }
    /// Calls a kernel helper; arguments in R1-R5, result in R0, R1-R5 clobbered.
    pub fn call(helper: Helper) -> Insn {
        Insn::call_id(helper.id())
    }
    pub fn call_id(id: i32) -> Insn {
        Insn::raw(Class::Jmp as u8 | JmpOp::Call as u8, 0, 0, 0, id)
    }
    /// Returns R0.
    pub fn exit() -> Insn {
        Insn::raw(Class::Jmp as u8 | JmpOp::Exit as u8, 0, 0, 0, 0)
    }
}
