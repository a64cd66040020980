//! A small typed eBPF assembler (in the manner of cilium/ebpf's `asm`).
//!
//! - [`opcode`]: the `code` byte's fields as typed constants, layout in docs;
//! - [`insn`]: [`Reg`], the flat 8-byte [`Insn`] and its builders;
//! - [`program`]: [`Program`] with labels, jump fix-ups and map relocations;
//! - [`print`]: the `r1 = *(u32 *)(r6 + 12)` style printer.

pub mod insn;
pub mod opcode;
pub mod print;
pub mod program;

pub use insn::{Insn, Reg};
pub use opcode::{AluOp, AtomicOp, Class, Endian, Helper, JmpOp, Mode, Size};
pub use print::{format_at, format_one, listing};
pub use program::{AsmError, Assembled, InsnIdx, Label, MapRef, MapReloc, Program};
