//! Disassembly in the usual C-like style (`r1 = *(u32 *)(r6 + 12)`,
//! `if r1 != 0x800 goto +5`), close to the kernel verifier's log and to
//! `llvm-objdump -d`, so listings can be compared with both.
//!
//! ALU immediates print in decimal, jump immediates in hex (as the kernel
//! does); 32-bit operations name `w` registers.

use super::insn::Insn;
use super::opcode::*;
use super::program::{Assembled, MapReloc};
use std::fmt::Write;

/// Text of the instruction starting at `insns[at]`, and how many slots it
/// used (2 for `ld_imm64`). `relocs` names the maps behind `ld_imm64`s.
pub fn format_at(insns: &[Insn], at: usize, relocs: &[MapReloc]) -> (String, usize) {
    let i = insns[at];
    if i.is_ld_imm64() {
        let hi = insns.get(at + 1).map(|n| n.imm as u32).unwrap_or(0);
        let value = (u64::from(hi) << 32) | u64::from(i.imm as u32);
        let text = match relocs.iter().find(|r| r.insn_index == at) {
            Some(r) => format!("r{} = map[{}] ll", i.dst, r.map),
            None if i.src == PSEUDO_MAP_FD => format!("r{} = map_fd[{}] ll", i.dst, i.imm),
            None => format!("r{} = {:#x} ll", i.dst, value),
        };
        return (text, 2);
    }
    (format_one(&i), 1)
}

fn reg(wide: bool, n: u8) -> String {
    if wide {
        format!("r{n}")
    } else {
        format!("w{n}")
    }
}

fn mem(size: Size, base: u8, off: i16) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "*({} *)(r{} {} {})",
        size.c_type(),
        base,
        sign,
        (off as i32).unsigned_abs()
    )
}

/// One slot, on its own (a lone second half of `ld_imm64` prints as raw).
pub fn format_one(i: &Insn) -> String {
    let class = i.class();
    let k = i.code & SRC_X == 0;
    match class {
        Class::Alu | Class::Alu64 => {
            let wide = class == Class::Alu64;
            let d = reg(wide, i.dst);
            let s = if k {
                i.imm.to_string()
            } else {
                reg(wide, i.src)
            };
            match AluOp::of(i.code) {
                AluOp::Mov => format!("{d} = {s}"),
                AluOp::Neg => format!("{d} = -{d}"),
                AluOp::End => {
                    let e = if i.code & Endian::ToBe as u8 != 0 {
                        "be"
                    } else {
                        "le"
                    };
                    format!("r{} = {e}{} r{}", i.dst, i.imm, i.dst)
                }
                op => format!("{d} {} {s}", op.symbol()),
            }
        }
        Class::Ldx => format!("r{} = {}", i.dst, mem(Size::of(i.code), i.src, i.off)),
        Class::Stx if i.code & 0xe0 == Mode::Atomic as u8 => {
            let op = if i.imm == AtomicOp::Add as i32 {
                "+="
            } else {
                "?="
            };
            format!(
                "lock {} {op} r{}",
                mem(Size::of(i.code), i.dst, i.off),
                i.src
            )
        }
        Class::Stx => format!("{} = r{}", mem(Size::of(i.code), i.dst, i.off), i.src),
        Class::St => format!("{} = {}", mem(Size::of(i.code), i.dst, i.off), i.imm),
        Class::Jmp | Class::Jmp32 => {
            let wide = class == Class::Jmp;
            match JmpOp::of(i.code) {
                JmpOp::Ja => format!("goto {:+}", i.off),
                JmpOp::Exit => "exit".to_string(),
                JmpOp::Call => match Helper::from_id(i.imm) {
                    Some(h) => format!("call {}#{}", h.name(), i.imm),
                    None => format!("call #{}", i.imm),
                },
                op => {
                    let s = if k {
                        if i.imm < 0 {
                            i.imm.to_string()
                        } else {
                            format!("{:#x}", i.imm)
                        }
                    } else {
                        reg(wide, i.src)
                    };
                    format!(
                        "if {} {} {s} goto {:+}",
                        reg(wide, i.dst),
                        op.symbol(),
                        i.off
                    )
                }
            }
        }
        Class::Ld => format!(
            "(raw {:#04x} dst={} src={} off={} imm={})",
            i.code, i.dst, i.src, i.off, i.imm
        ),
    }
}

/// The whole program, one instruction per line, prefixed with its slot index:
/// `   4: r1 = *(u32 *)(r6 + 12)`.
pub fn listing(a: &Assembled) -> String {
    let mut out = String::new();
    let mut at = 0;
    while at < a.insns.len() {
        let (text, used) = format_at(&a.insns, at, &a.map_relocs);
        let _ = writeln!(out, "{at:5}: {text}");
        at += used;
    }
    out
}
