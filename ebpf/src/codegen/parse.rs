//! The parser: header validity bits, L3/L4 offsets and the header registers.
//!
//! Emits exactly the reference rules (offload_core::semantics): eth ≥ 14
//! bytes; up to two tags, each only if TCI and the next EtherType are
//! complete; IPv4: 20 bytes, version 4, IHL ≥ 5, IHL × 4 bytes present, no
//! L4 behind a non-first fragment; IPv6: 40 bytes, version 6, L4 only for a
//! direct next header 6/17/58; TCP ≥ 20 bytes with data offset ≥ 5; UDP,
//! ICMP, ICMPv6 ≥ 8 bytes. Every bounds check is against `data_end` through
//! the register the header is then read from, so the verifier sees it.

use super::frame::*;
use super::Gen;
use crate::asm::{AluOp, JmpOp, Reg::*, Size};
use offload_core::ir::Header;

pub fn bit(h: Header) -> i32 {
    1 << (h as u8)
}

/// Raw (little-endian load) value of a network-order u16.
pub fn raw16(v: u16) -> i32 {
    i32::from(v.swap_bytes())
}

impl Gen<'_> {
    /// Entry: saves ctx, computes the frame length and `meta.in_port`, parses.
    pub(super) fn emit_prologue_and_parse(&mut self) {
        let f = self.flavor;
        self.p.mov64_reg(R6, R1);
        if let Some(map) = self.layout.in_ports_map.clone() {
            // meta.in_port = in_ports[ingress ifindex], else UNKNOWN_IN_PORT.
            let unknown = self.p.label();
            let done = self.p.label();
            self.p.ldx(Size::W, R1, R6, f.ingress_ifindex_off());
            self.p.stx(Size::W, R10, SCRATCH, R1);
            self.p
                .st(Size::W, R10, IN_PORT, crate::layout::UNKNOWN_IN_PORT as i32);
            self.p.ld_map(R1, &crate::asm::MapRef::new(map));
            self.p
                .mov64_reg(R2, R10)
                .alu64_imm(AluOp::Add, R2, SCRATCH as i32);
            self.p.call(crate::asm::Helper::MapLookupElem);
            self.p.jmp_imm(JmpOp::Eq, R0, 0, unknown);
            self.p.ldx(Size::W, R1, R0, 0);
            self.p.stx(Size::W, R10, IN_PORT, R1);
            self.p.bind(unknown);
            self.p.ja(done);
            self.p.bind(done);
        }
        self.emit_reparse();
    }

    /// At a chain's module boundary: every stack slot zeroed except
    /// `meta.in_port`, so that all paths out of the previous module reach
    /// the next one in the same verifier state (and are verified once).
    pub(super) fn emit_boundary_reset(&mut self) {
        let bottom = self.copy_buf.min(self.keys_base);
        let mut off = -8i16;
        while off >= bottom {
            if off != IN_PORT {
                self.p.st(Size::DW, R10, off, 0);
            } else {
                // `meta.in_port` is the chain's (kept); `meta.group`, the
                // slot's upper half, starts at 0 in each module.
                self.p.st(Size::W, R10, GROUP, 0);
            }
            off -= 8;
        }
    }

    /// Where a module of a chain starts: the packet as the previous module
    /// left it (pointers, frame length for counters), parsed afresh.
    pub(super) fn emit_reparse(&mut self) {
        let f = self.flavor;
        self.p.ldx(Size::W, R7, R6, f.data_off());
        self.p.ldx(Size::W, R2, R6, f.data_end_off());
        match f.len_off() {
            Some(off) => {
                self.p.ldx(Size::W, R1, R6, off);
            }
            None => {
                self.p.mov64_reg(R1, R2).alu64_reg(AluOp::Sub, R1, R7);
            }
        }
        self.p.stx(Size::DW, R10, LEN, R1);
        self.emit_parse();
    }

    /// R0 accumulates validity bits, R3 = L3 offset, R4 = L4 offset,
    /// R2 = data_end; R8/R9 the L3/L4 pointers.
    fn emit_parse(&mut self) {
        let p = &mut self.p;
        let done = p.label();
        let l3 = p.label();
        let tag1 = p.label();
        let tag2 = p.label();
        let ipv4 = p.label();
        let ipv6 = p.label();
        let tcp = p.label();
        let udp = p.label();
        let icmp = p.label();
        let icmp6 = p.label();

        p.mov64_imm(R0, 0).mov64_imm(R3, 14).mov64_imm(R4, 14);
        p.mov64_reg(R8, R7).mov64_reg(R9, R7);
        p.mov64_reg(R1, R7).alu64_imm(AluOp::Add, R1, 14);
        p.jmp_reg(JmpOp::Gt, R1, R2, done);
        p.mov64_imm(R0, bit(Header::Eth));
        p.ldx(Size::H, R1, R7, 12);
        p.jmp_imm(JmpOp::Eq, R1, raw16(0x8100), tag1);
        p.jmp_imm(JmpOp::Eq, R1, raw16(0x88a8), tag1);
        p.ja(l3);
        for (lbl, end, next) in [(tag1, 18, Some(tag2)), (tag2, 22, None)] {
            p.bind(lbl);
            p.mov64_reg(R5, R7).alu64_imm(AluOp::Add, R5, end);
            p.jmp_reg(JmpOp::Gt, R5, R2, l3);
            // One more tag: L3 starts after it, its inner EtherType is at end - 2.
            p.mov64_imm(R3, end).mov64_imm(R4, end);
            p.ldx(Size::H, R1, R7, (end - 2) as i16);
            if let Some(next) = next {
                p.jmp_imm(JmpOp::Eq, R1, raw16(0x8100), next);
                p.jmp_imm(JmpOp::Eq, R1, raw16(0x88a8), next);
                p.ja(l3);
            }
        }
        p.bind(l3);
        // R3 is a constant on every path, so R8 keeps a constant offset.
        p.mov64_reg(R8, R7).alu64_reg(AluOp::Add, R8, R3);
        p.jmp_imm(JmpOp::Eq, R1, raw16(0x0800), ipv4);
        p.jmp_imm(JmpOp::Eq, R1, raw16(0x86dd), ipv6);
        p.ja(done);

        p.bind(ipv4);
        p.mov64_reg(R5, R8).alu64_imm(AluOp::Add, R5, 20);
        p.jmp_reg(JmpOp::Gt, R5, R2, done);
        p.ldx(Size::B, R5, R8, 0);
        p.mov64_reg(R1, R5).alu64_imm(AluOp::Rsh, R1, 4);
        p.jmp_imm(JmpOp::Ne, R1, 4, done);
        p.alu64_imm(AluOp::And, R5, 15);
        p.jmp_imm(JmpOp::Lt, R5, 5, done);
        p.alu64_imm(AluOp::Lsh, R5, 2);
        p.mov64_reg(R1, R8).alu64_reg(AluOp::Add, R1, R5);
        p.jmp_reg(JmpOp::Gt, R1, R2, done);
        p.alu64_imm(AluOp::Or, R0, bit(Header::Ipv4));
        p.mov64_reg(R9, R1);
        p.mov64_reg(R4, R3).alu64_reg(AluOp::Add, R4, R5);
        // Fragment offset (low 13 bits of bytes 6..8) ≠ 0: no L4.
        p.ldx(Size::H, R5, R8, 6);
        p.jmp_imm(JmpOp::Set, R5, raw16(0x1fff), done);
        p.ldx(Size::B, R5, R8, 9);
        p.jmp_imm(JmpOp::Eq, R5, 6, tcp);
        p.jmp_imm(JmpOp::Eq, R5, 17, udp);
        p.jmp_imm(JmpOp::Eq, R5, 1, icmp);
        p.ja(done);

        p.bind(ipv6);
        p.mov64_reg(R5, R8).alu64_imm(AluOp::Add, R5, 40);
        p.jmp_reg(JmpOp::Gt, R5, R2, done);
        p.ldx(Size::B, R1, R8, 0);
        p.alu64_imm(AluOp::Rsh, R1, 4);
        p.jmp_imm(JmpOp::Ne, R1, 6, done);
        p.alu64_imm(AluOp::Or, R0, bit(Header::Ipv6));
        p.mov64_reg(R9, R5);
        p.mov64_reg(R4, R3).alu64_imm(AluOp::Add, R4, 40);
        p.ldx(Size::B, R5, R8, 6);
        p.jmp_imm(JmpOp::Eq, R5, 6, tcp);
        p.jmp_imm(JmpOp::Eq, R5, 17, udp);
        p.jmp_imm(JmpOp::Eq, R5, 58, icmp6);
        p.ja(done);

        p.bind(tcp);
        p.mov64_reg(R5, R9).alu64_imm(AluOp::Add, R5, 20);
        p.jmp_reg(JmpOp::Gt, R5, R2, done);
        p.ldx(Size::B, R5, R9, 12);
        p.alu64_imm(AluOp::Rsh, R5, 4);
        p.jmp_imm(JmpOp::Lt, R5, 5, done);
        p.alu64_imm(AluOp::Or, R0, bit(Header::Tcp) | bit(Header::L4));
        p.ja(done);
        for (lbl, bits) in [
            (udp, bit(Header::Udp) | bit(Header::L4)),
            (icmp, bit(Header::Icmp)),
            (icmp6, bit(Header::Icmpv6)),
        ] {
            p.bind(lbl);
            p.mov64_reg(R5, R9).alu64_imm(AluOp::Add, R5, 8);
            p.jmp_reg(JmpOp::Gt, R5, R2, done);
            p.alu64_imm(AluOp::Or, R0, bits);
            p.ja(done);
        }

        p.bind(done);
        p.stx(Size::DW, R10, FLAGS, R0);
        p.stx(Size::DW, R10, L3OFF, R3);
        p.stx(Size::DW, R10, L4OFF, R4);
        p.alu64_imm(AluOp::Sub, R3, 14).alu64_imm(AluOp::Rsh, R3, 2);
        p.stx(Size::DW, R10, TAGS, R3);
    }

    /// Re-derives R7/R8/R9 after the packet moved, from the saved offsets,
    /// with one bounds check per valid header (they cannot fail: the packet
    /// grew or shrank by exactly the tag; they are for the verifier).
    pub(super) fn emit_reanchor(&mut self) {
        let f = self.flavor;
        let drop = self.exits.drop;
        let p = &mut self.p;
        p.ldx(Size::W, R7, R6, f.data_off());
        p.ldx(Size::W, R2, R6, f.data_end_off());
        p.ldx(Size::DW, R3, R10, L3OFF);
        p.mov64_reg(R8, R7).alu64_reg(AluOp::Add, R8, R3);
        p.jmp_reg(JmpOp::Gt, R8, R2, drop);
        p.ldx(Size::DW, R4, R10, L4OFF);
        p.mov64_reg(R9, R7).alu64_reg(AluOp::Add, R9, R4);
        p.ldx(Size::DW, R1, R10, FLAGS);
        for (h, reg, need) in [
            (Header::Ipv4, R8, 20),
            (Header::Ipv6, R8, 40),
            (Header::Tcp, R9, 20),
            (Header::Udp, R9, 8),
            (Header::Icmp, R9, 8),
            (Header::Icmpv6, R9, 8),
        ] {
            let skip = p.label();
            p.mov64_reg(R5, R1).alu64_imm(AluOp::And, R5, bit(h));
            p.jmp_imm(JmpOp::Eq, R5, 0, skip);
            p.mov64_reg(R5, reg).alu64_imm(AluOp::Add, R5, need);
            p.jmp_reg(JmpOp::Gt, R5, R2, drop);
            p.bind(skip);
        }
    }
}
