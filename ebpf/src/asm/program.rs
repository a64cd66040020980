//! The program builder: instructions plus symbolic jumps and map references.
//!
//! Jumps name a [`Label`]; `finish` resolves every label once, rejecting
//! labels that were never bound, bound twice, or out of the 16-bit jump range.
//! Maps are referenced by name ([`MapRef`]) and come out as relocations for
//! the ELF writer — never as file descriptors.

use super::insn::{Insn, Reg};
use super::opcode::{AluOp, Helper, JmpOp, Size};
use thiserror::Error;

/// A jump target, valid only in the [`Program`] that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(u32);

/// Index of an 8-byte instruction slot (`ld_imm64` takes two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsnIdx(pub usize);

/// A map referenced by its name (the ELF symbol the loader relocates against).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapRef(pub String);

impl MapRef {
    pub fn new(name: impl Into<String>) -> MapRef {
        MapRef(name.into())
    }
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// "The `ld_imm64` at slot `insn_index` loads map `map`."
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapReloc {
    pub insn_index: usize,
    pub map: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsmError {
    #[error("label {label} is used by the jump at instruction {insn} but never bound")]
    UnboundLabel { label: u32, insn: usize },
    #[error("label {label} is bound twice (at instructions {first} and {second})")]
    DuplicateLabel {
        label: u32,
        first: usize,
        second: usize,
    },
    #[error("jump at instruction {insn} to {target} is out of range (offset {offset} does not fit 16 bits)")]
    JumpOutOfRange {
        insn: usize,
        target: usize,
        offset: i64,
    },
    #[error("label {label} is bound past the last instruction ({len}); a jump there would leave the program")]
    LabelPastEnd { label: u32, len: usize },
    #[error("program is empty")]
    Empty,
}

/// The finished program: slots, their bytes and map relocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub insns: Vec<Insn>,
    /// `insns` encoded little-endian, 8 bytes each.
    pub bytes: Vec<u8>,
    pub map_relocs: Vec<MapReloc>,
}

#[derive(Debug, Default, Clone)]
pub struct Program {
    insns: Vec<Insn>,
    /// Per label: the slot it is bound to (first binding).
    bound: Vec<Option<usize>>,
    /// Second bindings, reported by `finish`.
    duplicates: Vec<(u32, usize, usize)>,
    /// (jump slot, target label).
    fixups: Vec<(usize, Label)>,
    map_relocs: Vec<MapReloc>,
}

impl Program {
    pub fn new() -> Program {
        Program::default()
    }

    /// Number of slots emitted so far (the index the next one gets).
    pub fn len(&self) -> usize {
        self.insns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
    pub fn here(&self) -> InsnIdx {
        InsnIdx(self.insns.len())
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.bound.push(None);
        Label(self.bound.len() as u32 - 1)
    }
    /// Binds `l` to the next instruction emitted.
    pub fn bind(&mut self, l: Label) {
        let at = self.insns.len();
        match self.bound[l.0 as usize] {
            None => self.bound[l.0 as usize] = Some(at),
            Some(first) => self.duplicates.push((l.0, first, at)),
        }
    }
    /// Whether `l` has been bound (lets code generators skip dead jumps).
    pub fn is_bound(&self, l: Label) -> bool {
        self.bound[l.0 as usize].is_some()
    }
    /// Whether some jump targets `l` (the kernel refuses unreachable code,
    /// so blocks only reached through a label are emitted only when used).
    pub fn is_used(&self, l: Label) -> bool {
        self.fixups.iter().any(|(_, t)| *t == l)
    }

    pub fn emit(&mut self, i: Insn) -> &mut Self {
        self.insns.push(i);
        self
    }
    pub fn emit_all(&mut self, is: &[Insn]) -> &mut Self {
        self.insns.extend_from_slice(is);
        self
    }

    // Convenience forwarding to the instruction builders.
    pub fn mov64_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.emit(Insn::mov64_imm(dst, imm))
    }
    pub fn mov64_reg(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.emit(Insn::mov64_reg(dst, src))
    }
    pub fn alu64_imm(&mut self, op: AluOp, dst: Reg, imm: i32) -> &mut Self {
        self.emit(Insn::alu64_imm(op, dst, imm))
    }
    pub fn alu64_reg(&mut self, op: AluOp, dst: Reg, src: Reg) -> &mut Self {
        self.emit(Insn::alu64_reg(op, dst, src))
    }
    pub fn alu32_imm(&mut self, op: AluOp, dst: Reg, imm: i32) -> &mut Self {
        self.emit(Insn::alu32_imm(op, dst, imm))
    }
    pub fn alu32_reg(&mut self, op: AluOp, dst: Reg, src: Reg) -> &mut Self {
        self.emit(Insn::alu32_reg(op, dst, src))
    }
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.emit(Insn::ldx(size, dst, src, off))
    }
    pub fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.emit(Insn::stx(size, dst, off, src))
    }
    pub fn st(&mut self, size: Size, dst: Reg, off: i16, imm: i32) -> &mut Self {
        self.emit(Insn::st(size, dst, off, imm))
    }
    pub fn ld_imm64(&mut self, dst: Reg, imm: u64) -> &mut Self {
        self.emit_all(&Insn::ld_imm64(dst, imm))
    }
    pub fn call(&mut self, h: Helper) -> &mut Self {
        self.emit(Insn::call(h))
    }
    pub fn exit(&mut self) -> &mut Self {
        self.emit(Insn::exit())
    }

    /// `dst = &map` via `ld_imm64` with a relocation against the map's name.
    pub fn ld_map(&mut self, dst: Reg, map: &MapRef) -> &mut Self {
        self.map_relocs.push(MapReloc {
            insn_index: self.insns.len(),
            map: map.0.clone(),
        });
        self.emit_all(&Insn::ld_map_placeholder(dst))
    }

    /// `goto to`.
    pub fn ja(&mut self, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::ja(0))
    }
    /// `if r op imm goto to` (64-bit).
    pub fn jmp_imm(&mut self, op: JmpOp, r: Reg, imm: i32, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::jmp_imm(op, r, imm, 0))
    }
    /// `if a op b goto to` (64-bit).
    pub fn jmp_reg(&mut self, op: JmpOp, a: Reg, b: Reg, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::jmp_reg(op, a, b, 0))
    }
    /// `if wr op imm goto to` (32-bit).
    pub fn jmp32_imm(&mut self, op: JmpOp, r: Reg, imm: i32, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::jmp32_imm(op, r, imm, 0))
    }
    /// `if wa op wb goto to` (32-bit).
    pub fn jmp32_reg(&mut self, op: JmpOp, a: Reg, b: Reg, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::jmp32_reg(op, a, b, 0))
    }

    /// Resolves every jump and encodes the program. Does not consume
    /// anything it could not report: all label problems come back as errors.
    pub fn finish(self) -> Result<Assembled, AsmError> {
        if self.insns.is_empty() {
            return Err(AsmError::Empty);
        }
        if let Some(&(label, first, second)) = self.duplicates.first() {
            return Err(AsmError::DuplicateLabel {
                label,
                first,
                second,
            });
        }
        let mut insns = self.insns;
        let len = insns.len();
        for (at, label) in self.fixups {
            let target = self.bound[label.0 as usize].ok_or(AsmError::UnboundLabel {
                label: label.0,
                insn: at,
            })?;
            if target >= len {
                return Err(AsmError::LabelPastEnd {
                    label: label.0,
                    len,
                });
            }
            let offset = target as i64 - at as i64 - 1;
            let off = i16::try_from(offset).map_err(|_| AsmError::JumpOutOfRange {
                insn: at,
                target,
                offset,
            })?;
            insns[at].off = off;
        }
        let bytes = insns.iter().flat_map(|i| i.encode()).collect();
        Ok(Assembled {
            insns,
            bytes,
            map_relocs: self.map_relocs,
        })
    }
}
