//! Action primitives: verdicts, `set` (of a value or of another field) with
//! RFC 1624 checksum updates, `dec_ttl`, `push_vlan`, `pop_vlan`.
//!
//! Checksum arithmetic runs on 16-bit words as loaded little-endian from the
//! packet (byte-swapped): ones-complement sums, complements, folds and
//! equality all commute with a byte swap, so the stored result is exactly
//! the reference's `update_words` (one RFC 1624 step per changed word, in
//! order, equal words skipped) without any swap instructions.

use super::frame::*;
use super::parse::{bit, raw16};
use super::table::field_base;
use super::Gen;
use crate::asm::{AluOp, Helper, Insn, JmpOp, Label, MapRef, Reg, Reg::*, Size};
use crate::layout::{Hook, ParamSlot, TableLayout};
use offload_core::ir::{ActionId, Field, FieldKind, Header, Operand, Primitive, Table};

/// Where a primitive's operand comes from.
#[derive(Debug, Clone, Copy)]
pub enum Src {
    /// A parameter in the current map value (pointer spilled at `VAL`).
    Param(ParamSlot),
    Const(u128),
    /// A u32 number in a stack slot.
    Stack(i16),
    /// An address (MAC, IPv4, IPv6) in network order at this 8-aligned stack
    /// offset, laid out as a parameter slot is (a copied field's bytes).
    StackBytes(i16),
}

impl Gen<'_> {
    pub(super) fn emit_action(
        &mut self,
        table: &Table,
        tl: &TableLayout,
        id: ActionId,
        end: Label,
    ) {
        let action = self.module.action(id).clone();
        let slots = tl.value.params(id).to_vec();
        let src = |op: &Operand| match *op {
            Operand::Param(i) => match slots.get(i) {
                Some(s) => Src::Param(*s),
                None => Src::Const(0),
            },
            Operand::Const(v) => Src::Const(v),
        };
        let _ = table;
        for prim in &action.body {
            match prim {
                Primitive::Drop => {
                    self.p.ja(self.exits.drop);
                }
                Primitive::Pass => {
                    self.p.ja(self.exits.pass);
                }
                Primitive::Tx => {
                    self.p.ja(self.exits.tx);
                }
                Primitive::Forward(op) => self.emit_forward(src(op)),
                Primitive::Set { field, value } => self.emit_set(*field, src(value)),
                Primitive::Copy { field, from } => self.emit_copy(*field, *from),
                Primitive::DecTtl => self.emit_dec_ttl(),
                Primitive::PushVlan(op) => self.emit_push_vlan(src(op)),
                Primitive::PopVlan => self.emit_pop_vlan(),
                // Refused before code generation (plan::check: Need::Vxlan).
                Primitive::VxlanEncap(_) | Primitive::VxlanDecap => {
                    unreachable!("VXLAN modules are refused by the profile check")
                }
            }
            if prim.terminates() {
                return;
            }
        }
        self.p.ja(end);
    }

    /// `dst` = the operand as a number (u32).
    fn load_number(&mut self, dst: Reg, src: Src) {
        match src {
            Src::Param(s) => {
                self.p.ldx(Size::DW, R5, R10, VAL);
                self.p.ldx(Size::W, dst, R5, s.offset as i16);
            }
            Src::Const(v) => {
                self.p.emit(Insn::mov32_imm(dst, v as u32 as i32));
            }
            Src::Stack(off) => {
                self.p.ldx(Size::W, dst, R10, off);
            }
            Src::StackBytes(_) => unreachable!("numbers never come from an address buffer"),
        }
    }

    /// `set(field, from)`: reads `from` as the packet is now (earlier
    /// primitives' writes included), stages it on the stack, and writes it
    /// with [`Self::emit_set`], which patches the checksums. Skipped when
    /// `from`'s header is not valid (`emit_set` checks `field`'s).
    fn emit_copy(&mut self, field: Field, from: Field) {
        if from == Field::MetaGroup {
            self.p.ldx(Size::W, R1, R10, GROUP);
            self.p.stx(Size::W, R10, TMP, R1);
            self.emit_set(field, Src::Stack(TMP));
            return;
        }
        let skip = self.p.label();
        self.require_valid(from.header(), skip);
        let info = from.info();
        let (base, hoff) = field_base(from);
        let fbyte = hoff + (info.bit_offset / 8) as i16;
        match from.kind() {
            FieldKind::Mac | FieldKind::Ipv4 | FieldKind::Ipv6 => {
                let buf = self.copy_buf;
                self.copy_bytes(base, fbyte, R10, buf, info.width / 8);
                self.emit_set(field, Src::StackBytes(buf));
            }
            _ => {
                // An integer: as a number in TMP (emit_set reads Stack as u32).
                let skip_bits = info.bit_offset % 8;
                let span = (skip_bits + info.width).div_ceil(8);
                let tail = span * 8 - skip_bits - info.width;
                if span == 1 {
                    self.p.ldx(Size::B, R1, base, fbyte);
                } else {
                    self.p.ldx(Size::H, R1, base, fbyte);
                    self.p.emit(Insn::be16(R1));
                }
                if tail > 0 {
                    self.p.alu64_imm(AluOp::Rsh, R1, tail as i32);
                }
                if info.width < 16 {
                    self.p
                        .alu64_imm(AluOp::And, R1, ((1u32 << info.width) - 1) as i32);
                }
                self.p.stx(Size::W, R10, TMP, R1);
                self.emit_set(field, Src::Stack(TMP));
            }
        }
        self.p.bind(skip);
    }

    /// Exits through logical port `src`.
    fn emit_forward(&mut self, src: Src) {
        let ports = MapRef::new(
            self.layout
                .ports_map
                .clone()
                .expect("forwarding module has a port map"),
        );
        match self.flavor.hook() {
            Hook::Xdp => {
                self.load_number(R2, src);
                self.p.ld_map(R1, &ports);
                self.p.mov64_imm(R3, super::flavor::XDP_DROP);
                self.p.call(Helper::RedirectMap);
                self.p.exit();
            }
            Hook::Tc => {
                self.load_number(R1, src);
                self.p.stx(Size::W, R10, SCRATCH, R1);
                self.lookup(ports.name(), SCRATCH);
                self.p.jmp_imm(JmpOp::Eq, R0, 0, self.exits.drop);
                self.p.ldx(Size::W, R1, R0, 0);
                self.p.jmp_imm(JmpOp::Eq, R1, 0, self.exits.drop);
                self.p.mov64_imm(R2, 0);
                self.p.call(Helper::Redirect);
                self.p.exit();
            }
        }
    }

    fn emit_set(&mut self, field: Field, src: Src) {
        if field == Field::MetaGroup {
            self.load_number(R1, src);
            self.p.alu64_imm(AluOp::And, R1, 0xffff);
            self.p.stx(Size::W, R10, GROUP, R1);
            return;
        }
        let skip = self.p.label();
        self.require_valid(field.header(), skip);
        let info = field.info();
        let (base, hoff) = field_base(field);
        let fbyte = (info.bit_offset / 8) as i16;
        let ipv4_site = matches!(
            field,
            Field::Ipv4Src | Field::Ipv4Dst | Field::Ipv4Ttl | Field::Ipv4Dscp
        );
        let l4_site = matches!(
            field,
            Field::Ipv4Src
                | Field::Ipv4Dst
                | Field::Ipv6Src
                | Field::Ipv6Dst
                | Field::L4SrcPort
                | Field::L4DstPort
        );
        if !ipv4_site && !l4_site {
            self.write_field(base, hoff + fbyte, field, src);
            if self.corrupt_rewrite && field.kind() == FieldKind::Mac {
                // The test-only generator bug (Target::test_corrupt_rewrite).
                let last = hoff + fbyte + 5;
                self.p.ldx(Size::B, R1, base, last);
                self.p.alu64_imm(AluOp::Xor, R1, 1);
                self.p.stx(Size::B, base, last, R1);
            }
            self.p.bind(skip);
            return;
        }
        // Mirror the 16-bit words holding the field, write it there, patch
        // the checksums from old (packet) vs new (mirror) words, copy back.
        let span = (info.bit_offset % 8 + info.width).div_ceil(8) as i16;
        let w_start = fbyte & !1;
        let w_end = (fbyte + span + 1) & !1;
        let nbytes = (w_end - w_start) as u32;
        let words = nbytes / 2;
        self.copy_bytes(base, hoff + w_start, R10, MIRROR, nbytes);
        self.write_field(R10, MIRROR + (fbyte - w_start), field, src);
        let old = (base, hoff + w_start);
        if ipv4_site {
            self.emit_csum_update((R8, 10), old, words, false);
        }
        if l4_site {
            let not_tcp = self.p.label();
            let after = self.p.label();
            self.p.ldx(Size::DW, R1, R10, FLAGS);
            self.p
                .mov64_reg(R2, R1)
                .alu64_imm(AluOp::And, R2, bit(Header::Tcp));
            self.p.jmp_imm(JmpOp::Eq, R2, 0, not_tcp);
            self.emit_csum_update((R9, 16), old, words, false);
            self.p.ja(after);
            self.p.bind(not_tcp);
            self.p.ldx(Size::DW, R1, R10, FLAGS);
            self.p.alu64_imm(AluOp::And, R1, bit(Header::Udp));
            self.p.jmp_imm(JmpOp::Eq, R1, 0, after);
            self.emit_csum_update((R9, 6), old, words, true);
            self.p.bind(after);
        }
        self.copy_bytes(R10, MIRROR, base, hoff + w_start, nbytes);
        self.p.bind(skip);
    }

    pub(super) fn require_valid(&mut self, h: Header, skip: Label) {
        if h == Header::Meta {
            return;
        }
        if h == Header::Vlan {
            self.p.ldx(Size::DW, R1, R10, TAGS);
            self.p.jmp_imm(JmpOp::Eq, R1, 0, skip);
            return;
        }
        self.p.ldx(Size::DW, R1, R10, FLAGS);
        self.p.alu64_imm(AluOp::And, R1, bit(h));
        self.p.jmp_imm(JmpOp::Eq, R1, 0, skip);
    }

    /// RFC 1624 over `words` words: old at `old`, new in the mirror; the
    /// checksum at `csum`. `udp`: 0 stays 0, a 0 result becomes 0xffff.
    fn emit_csum_update(&mut self, csum: (Reg, i16), old: (Reg, i16), words: u32, udp: bool) {
        let p = &mut self.p;
        let skip = p.label();
        p.ldx(Size::H, R3, csum.0, csum.1);
        if udp {
            p.jmp_imm(JmpOp::Eq, R3, 0, skip);
        }
        for w in 0..words as i16 {
            let same = p.label();
            p.ldx(Size::H, R1, old.0, old.1 + 2 * w);
            p.ldx(Size::H, R2, R10, MIRROR + 2 * w);
            p.jmp_reg(JmpOp::Eq, R1, R2, same);
            p.alu64_imm(AluOp::Xor, R3, 0xffff);
            p.alu64_imm(AluOp::Xor, R1, 0xffff);
            p.alu64_reg(AluOp::Add, R3, R1);
            p.alu64_reg(AluOp::Add, R3, R2);
            for _ in 0..2 {
                p.mov64_reg(R1, R3).alu64_imm(AluOp::Rsh, R1, 16);
                p.alu64_imm(AluOp::And, R3, 0xffff)
                    .alu64_reg(AluOp::Add, R3, R1);
            }
            p.alu64_imm(AluOp::Xor, R3, 0xffff);
            p.bind(same);
        }
        if udp {
            let store = p.label();
            p.jmp_imm(JmpOp::Ne, R3, 0, store);
            p.mov64_imm(R3, 0xffff);
            p.bind(store);
        }
        p.stx(Size::H, csum.0, csum.1, R3);
        p.bind(skip);
    }

    /// Writes `field` (first byte at `base + off`) from `src`.
    fn write_field(&mut self, base: Reg, off: i16, field: Field, src: Src) {
        let info = field.info();
        let aligned = |o: i16, n: i16| base != R10 || o % n == 0;
        if info.bit_offset.is_multiple_of(8) && info.width.is_multiple_of(8) {
            let len = (info.width / 8) as i16;
            match field.kind() {
                FieldKind::Mac | FieldKind::Ipv4 | FieldKind::Ipv6 => {
                    let mut j = 0i16;
                    if let Src::Param(_) = src {
                        self.p.ldx(Size::DW, R5, R10, VAL);
                    }
                    while j < len {
                        let n = [4i16, 2, 1]
                            .into_iter()
                            .find(|&n| n <= len - j && aligned(off + j, n))
                            .unwrap_or(1);
                        let size = Size::for_bytes(n as u32).expect("1, 2 or 4");
                        match src {
                            Src::Param(s) => {
                                self.p.ldx(size, R1, R5, s.offset as i16 + j);
                            }
                            Src::Const(v) => {
                                let bytes = v.to_be_bytes();
                                let first = 16 - len as usize + j as usize;
                                let mut imm = 0u32;
                                for (i, b) in bytes[first..first + n as usize].iter().enumerate() {
                                    imm |= u32::from(*b) << (8 * i);
                                }
                                self.p.emit(Insn::mov32_imm(R1, imm as i32));
                            }
                            Src::StackBytes(off) => {
                                self.p.ldx(size, R1, R10, off + j);
                            }
                            Src::Stack(_) => unreachable!("addresses never come from a u32 slot"),
                        }
                        self.p.stx(size, base, off + j, R1);
                        j += n;
                    }
                }
                _ => {
                    self.load_number(R1, src);
                    self.store_be(R1, base, off, len, aligned(off, 2));
                }
            }
            return;
        }
        // Sub-byte field: read-modify-write the bytes spanning it.
        let skip_bits = info.bit_offset % 8;
        let span = (skip_bits + info.width).div_ceil(8) as i16;
        let tail = span as u32 * 8 - skip_bits - info.width;
        let wmask = (1u32 << info.width) - 1;
        let fmask = wmask << tail;
        let all = if span == 1 { 0xffu32 } else { 0xffff };
        if span == 1 {
            self.p.ldx(Size::B, R2, base, off);
        } else {
            self.p.ldx(Size::H, R2, base, off);
            self.p.emit(Insn::be16(R2));
        }
        self.p.alu64_imm(AluOp::And, R2, (all & !fmask) as i32);
        self.load_number(R1, src);
        self.p.alu64_imm(AluOp::And, R1, wmask as i32);
        if tail > 0 {
            self.p.alu64_imm(AluOp::Lsh, R1, tail as i32);
        }
        self.p.alu64_reg(AluOp::Or, R2, R1);
        self.store_be(R2, base, off, span, aligned(off, 2));
    }

    /// Stores number `r` as `len` (1 or 2) big-endian bytes at `base + off`.
    fn store_be(&mut self, r: Reg, base: Reg, off: i16, len: i16, aligned: bool) {
        if len == 1 {
            self.p.stx(Size::B, base, off, r);
        } else if aligned {
            self.p.emit(Insn::be16(r));
            self.p.stx(Size::H, base, off, r);
        } else {
            self.p.stx(Size::B, base, off + 1, r);
            self.p.alu64_imm(AluOp::Rsh, r, 8);
            self.p.stx(Size::B, base, off, r);
        }
    }

    fn emit_dec_ttl(&mut self) {
        let v6 = self.p.label();
        let out = self.p.label();
        let pass = self.exits.pass;
        self.p.ldx(Size::DW, R1, R10, FLAGS);
        self.p
            .mov64_reg(R2, R1)
            .alu64_imm(AluOp::And, R2, bit(Header::Ipv4));
        self.p.jmp_imm(JmpOp::Eq, R2, 0, v6);
        self.p.ldx(Size::B, R2, R8, 8);
        self.p.jmp_imm(JmpOp::Le, R2, 1, pass);
        self.p.alu64_imm(AluOp::Sub, R2, 1);
        self.p.stx(Size::W, R10, TMP, R2);
        self.emit_set(Field::Ipv4Ttl, Src::Stack(TMP));
        self.p.ja(out);
        self.p.bind(v6);
        self.p.alu64_imm(AluOp::And, R1, bit(Header::Ipv6));
        self.p.jmp_imm(JmpOp::Eq, R1, 0, out);
        self.p.ldx(Size::B, R2, R8, 7);
        self.p.jmp_imm(JmpOp::Le, R2, 1, pass);
        self.p.alu64_imm(AluOp::Sub, R2, 1);
        self.p.stx(Size::B, R8, 7, R2);
        self.p.bind(out);
    }

    /// Adds `delta` to the tag count and both header offsets.
    fn shift_headers(&mut self, tags: i32, bytes: i32) {
        for (slot, d) in [(TAGS, tags), (L3OFF, bytes), (L4OFF, bytes)] {
            self.p.ldx(Size::DW, R1, R10, slot);
            self.p.alu64_imm(AluOp::Add, R1, d);
            self.p.stx(Size::DW, R10, slot, R1);
        }
    }

    fn emit_push_vlan(&mut self, src: Src) {
        let skip = self.p.label();
        let drop = self.exits.drop;
        self.p.ldx(Size::DW, R1, R10, FLAGS);
        self.p.alu64_imm(AluOp::And, R1, bit(Header::Eth));
        self.p.jmp_imm(JmpOp::Eq, R1, 0, skip);
        self.p.ldx(Size::DW, R1, R10, TAGS);
        self.p.jmp_imm(JmpOp::Ge, R1, 2, skip);
        self.load_number(R1, src);
        self.p.alu64_imm(AluOp::And, R1, 0xfff);
        self.p.stx(Size::DW, R10, TMP, R1);
        let (helper, a, b) = self.flavor.grow_head();
        self.p.mov64_reg(R1, R6).mov64_imm(R2, a).mov64_imm(R3, b);
        self.p.call(helper);
        self.p.jmp_imm(JmpOp::Ne, R0, 0, drop);
        let f = self.flavor;
        self.p.ldx(Size::W, R7, R6, f.data_off());
        self.p.ldx(Size::W, R2, R6, f.data_end_off());
        self.p.mov64_reg(R1, R7).alu64_imm(AluOp::Add, R1, 18);
        self.p.jmp_reg(JmpOp::Gt, R1, R2, drop);
        // MACs down by 4 (ascending: the regions overlap).
        for o in [0i16, 4, 8] {
            self.p.ldx(Size::W, R1, R7, o + 4);
            self.p.stx(Size::W, R7, o, R1);
        }
        self.p.st(Size::H, R7, 12, raw16(0x8100));
        self.p.ldx(Size::DW, R1, R10, TMP);
        self.p.emit(Insn::be16(R1));
        self.p.stx(Size::H, R7, 14, R1);
        self.shift_headers(1, 4);
        self.emit_reanchor();
        self.p.bind(skip);
    }

    fn emit_pop_vlan(&mut self) {
        let skip = self.p.label();
        let drop = self.exits.drop;
        self.p.ldx(Size::DW, R1, R10, TAGS);
        self.p.jmp_imm(JmpOp::Eq, R1, 0, skip);
        // With a tag the packet holds at least 18 bytes; say so to the verifier.
        self.p.ldx(Size::W, R2, R6, self.flavor.data_end_off());
        self.p.mov64_reg(R1, R7).alu64_imm(AluOp::Add, R1, 18);
        self.p.jmp_reg(JmpOp::Gt, R1, R2, drop);
        match self.flavor.hook() {
            Hook::Xdp => {
                // MACs up by 4 (descending), then drop the first 4 bytes.
                for o in [8i16, 4, 0] {
                    self.p.ldx(Size::W, R1, R7, o);
                    self.p.stx(Size::W, R7, o + 4, R1);
                }
                self.p.mov64_reg(R1, R6).mov64_imm(R2, 4);
                self.p.call(Helper::XdpAdjustHead);
                self.p.jmp_imm(JmpOp::Ne, R0, 0, drop);
                self.shift_headers(-1, -4);
                self.emit_reanchor();
            }
            Hook::Tc => {
                // Hide an inner TPID so skb_vlan_pop leaves the inner tag in
                // the bytes; put it back after.
                self.p.ldx(Size::H, R1, R7, 16);
                self.p.stx(Size::DW, R10, TMP, R1);
                self.p.st(Size::H, R7, 16, raw16(0x0800));
                self.p.mov64_reg(R1, R6);
                self.p.call(Helper::SkbVlanPop);
                self.p.jmp_imm(JmpOp::Ne, R0, 0, drop);
                self.shift_headers(-1, -4);
                self.emit_reanchor();
                self.p.ldx(Size::DW, R1, R10, TMP);
                self.p.stx(Size::H, R7, 12, R1);
            }
        }
        self.p.bind(skip);
    }
}
