//! One pipeline stage: skip rule, key on the stack, lookup (exact, lpm,
//! tuple-space search), counters, dispatch to the action.

use super::frame::*;
use super::parse::bit;
use super::Gen;
use crate::asm::{AluOp, AtomicOp, Helper, Insn, JmpOp, Label, MapRef, Reg, Reg::*, Size};
use crate::layout::{KeyPart, TableKind, TableLayout, PRIORITY_OFF, SLOT_OFF};
use offload_core::ir::{Field, HashKey, Header, Table};

/// Where a field's header starts: base register and offset from it (callers
/// add the field's byte offset within its header).
pub fn field_base(field: Field) -> (Reg, i16) {
    let info = field.info();
    match info.header {
        // `eth.type` is the two bytes before L3 (after any tags): a virtual
        // 14-byte header ending at R8, so that its bit offset (96) lands there.
        Header::Eth if field == Field::EthType => (R8, -14),
        Header::Eth => (R7, 0),
        // The outer tag: TPID at 12, TCI at 14.
        Header::Vlan => (R7, 12),
        Header::Ipv4 | Header::Ipv6 => (R8, 0),
        _ => (R9, 0),
    }
}

/// A hash key's fields in runs of one header each (one validity gate per run).
fn runs(h: &HashKey) -> Vec<(Header, Vec<Field>)> {
    let mut out: Vec<(Header, Vec<Field>)> = Vec::new();
    for f in &h.fields {
        match out.last_mut() {
            Some((hd, fs)) if *hd == f.header() => fs.push(*f),
            _ => out.push((f.header(), vec![*f])),
        }
    }
    out
}

fn round8(n: u32) -> u32 {
    n.div_ceil(8) * 8
}

/// Stack bytes the key buffers of a table need.
pub fn key_stack_bytes(tl: &TableLayout) -> u32 {
    match tl.kind {
        TableKind::Exact => round8(tl.key.padded),
        TableKind::Lpm => round8(4 + tl.key.bytes),
        TableKind::TupleSpace { .. } => round8(tl.key.padded) + 2 * round8(tl.key.padded),
    }
}

impl Gen<'_> {
    /// Jumps to `end` unless every header the table's keys name is valid.
    fn emit_applies(&mut self, table: &Table, end: Label) {
        let headers = table.required_headers();
        // `vlan` validity follows the tag count, the others the parse bits.
        let required: i32 = headers
            .iter()
            .filter(|h| **h != Header::Vlan)
            .map(|h| bit(*h))
            .sum();
        if headers.contains(&Header::Vlan) {
            self.p.ldx(Size::DW, R1, R10, TAGS);
            self.p.jmp_imm(JmpOp::Eq, R1, 0, end);
        }
        if required != 0 {
            self.p.ldx(Size::DW, R1, R10, FLAGS);
            self.p.alu64_imm(AluOp::And, R1, required);
            self.p.jmp_imm(JmpOp::Ne, R1, required, end);
        }
    }

    pub(super) fn emit_table(&mut self, table: &Table, end: Label) {
        let tl = self.layout.table(table.id).clone();
        self.emit_applies(table, end);
        if let Some(h) = table.hash_key() {
            // The bucket first, into TMP (free until an action runs). The
            // unpark splits into every parse shape, this table's impossible
            // ones included: the check again ends those for the verifier
            // (at run time the state is what it was, and the check passes).
            self.emit_hash_parked(h, TMP);
            self.emit_applies(table, end);
        }
        let keys = self.keys_base;
        match tl.kind {
            TableKind::Exact => {
                self.zero_stack(keys, round8(tl.key.padded));
                self.emit_key(&tl.key.parts, keys);
                self.lookup(&tl.entries_map, keys);
            }
            TableKind::Lpm => {
                self.zero_stack(keys, round8(4 + tl.key.bytes));
                self.p.st(Size::W, R10, keys, (tl.key.bytes * 8) as i32);
                self.emit_key(&tl.key.parts, keys + 4);
                self.lookup(&tl.entries_map, keys);
            }
            TableKind::TupleSpace { max_masks } => {
                self.emit_tuple_space(&tl, max_masks);
            }
        }
        // R0: value or NULL (miss) → default action value.
        let have = self.p.label();
        self.p.jmp_imm(JmpOp::Ne, R0, 0, have);
        self.p.st(Size::W, R10, SCRATCH, 0);
        self.lookup(&tl.default_map, SCRATCH);
        self.p.jmp_imm(JmpOp::Eq, R0, 0, end);
        self.p.bind(have);
        self.p.stx(Size::DW, R10, VAL, R0);
        if let Some(c) = &tl.counters_map {
            let skip = self.p.label();
            self.p.ldx(Size::W, R1, R0, SLOT_OFF as i16);
            self.p.stx(Size::W, R10, SCRATCH, R1);
            self.lookup(c, SCRATCH);
            self.p.jmp_imm(JmpOp::Eq, R0, 0, skip);
            let percpu =
                self.layout.map(c).map(|m| m.map_type) == Some(crate::elf::map_type::PERCPU_ARRAY);
            if percpu {
                // This CPU's slot: plain adds.
                self.p.ldx(Size::DW, R1, R0, 0).alu64_imm(AluOp::Add, R1, 1);
                self.p.stx(Size::DW, R0, 0, R1);
                self.p.ldx(Size::DW, R1, R0, 8).ldx(Size::DW, R2, R10, LEN);
                self.p
                    .alu64_reg(AluOp::Add, R1, R2)
                    .stx(Size::DW, R0, 8, R1);
            } else {
                // Shared slot: atomic adds.
                self.p.mov64_imm(R1, 1);
                self.p
                    .emit(Insn::atomic(Size::DW, AtomicOp::Add, R0, 0, R1));
                self.p.ldx(Size::DW, R1, R10, LEN);
                self.p
                    .emit(Insn::atomic(Size::DW, AtomicOp::Add, R0, 8, R1));
            }
            self.p.bind(skip);
            self.p.ldx(Size::DW, R0, R10, VAL);
        }
        self.emit_meter(table, &tl, end);
        // Dispatch on the action id.
        self.p.ldx(Size::W, R1, R0, 0);
        let mut bodies = Vec::new();
        for (id, _) in &tl.value.actions {
            let l = self.p.label();
            self.p.jmp_imm(JmpOp::Eq, R1, id.0 as i32, l);
            bodies.push((*id, l));
        }
        self.p.ja(end);
        for (id, l) in bodies {
            self.p.bind(l);
            let start = self.p.len();
            self.emit_action(table, &tl, id, end);
            let action = self.module.action(id);
            self.mark(start, Some(table), Some(action.name.clone()), action.span);
        }
    }

    /// `R0 = bpf_map_lookup_elem(&map, R10 + key)`.
    pub(super) fn lookup(&mut self, map: &str, key: i16) {
        self.p.ld_map(R1, &MapRef::new(map));
        self.p
            .mov64_reg(R2, R10)
            .alu64_imm(AluOp::Add, R2, i32::from(key));
        self.p.call(Helper::MapLookupElem);
    }

    pub(super) fn zero_stack(&mut self, at: i16, bytes: u32) {
        let mut o = 0;
        while o < bytes {
            self.p.st(Size::DW, R10, at + o as i16, 0);
            o += 8;
        }
    }

    /// Writes every key part (network order) into the stack buffer at `buf`.
    fn emit_key(&mut self, parts: &[KeyPart], buf: i16) {
        for part in parts {
            let dst = buf + part.offset as i16;
            let info = part.field.info();
            if part.field == Field::MetaInPort {
                self.p.ldx(Size::W, R1, R10, IN_PORT);
                self.store_number_be(R1, dst, 2);
                continue;
            }
            if part.field == Field::MetaGroup {
                self.p.ldx(Size::W, R1, R10, GROUP);
                self.store_number_be(R1, dst, 2);
                continue;
            }
            if part.field == Field::Hash {
                // Computed before the key (emit_table), kept in TMP.
                self.p.ldx(Size::H, R4, R10, TMP);
                self.store_number_be(R4, dst, 2);
                continue;
            }
            let (base, off) = field_base(part.field);
            let start = off + (info.bit_offset / 8) as i16;
            if info.bit_offset.is_multiple_of(8) && info.width.is_multiple_of(8) {
                // Whole bytes: copy as they are, in chunks aligned on the stack.
                self.copy_bytes(base, start, R10, dst, part.len);
            } else {
                // Sub-byte field: extract the number, store it big-endian.
                let skip = info.bit_offset % 8;
                let span = (skip + info.width).div_ceil(8);
                let tail = span * 8 - skip - info.width;
                match span {
                    1 => {
                        self.p.ldx(Size::B, R1, base, start);
                    }
                    _ => {
                        self.p.ldx(Size::H, R1, base, start);
                        self.p.emit(crate::asm::Insn::be16(R1));
                    }
                }
                if tail > 0 {
                    self.p.alu64_imm(AluOp::Rsh, R1, tail as i32);
                }
                self.p
                    .alu64_imm(AluOp::And, R1, ((1u64 << info.width) - 1) as i32);
                self.store_number_be(R1, dst, part.len);
            }
        }
    }

    /// The hash key's bucket as a u16 at stack `dst`, with the
    /// parse state parked (kernel targets): the input bytes of the valid
    /// fields are gathered into the scratch value, the CRC runs as a bounded
    /// loop over them (so the verifier checks it once, not once per parse
    /// path: ~45 instructions per byte times every path would exceed its
    /// budget), a byte at a time through the 256-entry table of the `crc32`
    /// map (12 instructions per byte), and the parse state comes back as
    /// after a mask loop.
    fn emit_hash_parked(&mut self, h: &HashKey, dst: i16) {
        use crate::layout::{SCRATCH_HASH_BUF, SCRATCH_HASH_CRC, SCRATCH_HASH_LEN};
        self.emit_park();
        // R0: the scratch value. R5: bytes gathered so far (a constant on
        // each parse path).
        self.p.mov64_imm(R5, 0);
        for (header, fields) in runs(h) {
            let skip = self.p.label();
            self.require_valid(header, skip);
            for f in fields {
                let info = f.info();
                let (base, hoff) = field_base(f);
                let start = hoff + (info.bit_offset / 8) as i16;
                self.p.mov64_reg(R3, R0).alu64_reg(AluOp::Add, R3, R5);
                for b in 0..(info.width / 8) as i16 {
                    self.p.ldx(Size::B, R1, base, start + b);
                    self.p.stx(Size::B, R3, SCRATCH_HASH_BUF + b, R1);
                }
                self.p.alu64_imm(AluOp::Add, R5, (info.width / 8) as i32);
            }
            self.p.bind(skip);
        }
        self.p.stx(Size::W, R0, SCRATCH_HASH_LEN, R5);
        // The CRC table (R9; R7–R9 are derived again after the unpark),
        // checked to be the one the loader writes: without it every packet
        // that reaches the table is dropped rather than put in a wrong bucket.
        let crc32 = self
            .layout
            .crc32_map
            .clone()
            .expect("a parked hash key has a crc32 map");
        self.p.mov64_reg(R8, R0);
        self.p.st(Size::W, R10, SCRATCH, 0);
        self.lookup(&crc32, SCRATCH);
        self.p.jmp_imm(JmpOp::Eq, R0, 0, self.exits.drop);
        self.p.mov64_reg(R9, R0).mov64_reg(R0, R8);
        self.p.ldx(Size::W, R1, R9, 4);
        self.p
            .jmp32_imm(JmpOp::Ne, R1, 0x7707_3096, self.exits.drop);
        // From here to the unpark nothing differs between parse paths: the
        // length is read back from the map (unknown to the verifier).
        self.p.ldx(Size::W, R3, R0, SCRATCH_HASH_LEN);
        let max = h.max_bytes() as i32;
        let done = self.p.label();
        let top = self.p.label();
        self.p.jmp_imm(JmpOp::Gt, R3, max, self.exits.drop);
        self.p.st(Size::W, R0, SCRATCH_HASH_CRC, -1);
        self.p.mov64_imm(R5, 0);
        self.p.bind(top);
        self.p.jmp_reg(JmpOp::Ge, R5, R3, done);
        // The CRC lives in the map between bytes: at `done` every exit of
        // the loop is then the same state to the verifier (it prunes them).
        // One byte: crc = table[(crc ^ b) & 0xff] ^ (crc >> 8).
        self.p.ldx(Size::W, R4, R0, SCRATCH_HASH_CRC);
        self.p.mov64_reg(R1, R0).alu64_reg(AluOp::Add, R1, R5);
        self.p.ldx(Size::B, R1, R1, SCRATCH_HASH_BUF);
        self.p.emit(Insn::mov32_reg(R2, R4));
        self.p.alu32_reg(AluOp::Xor, R2, R1);
        self.p.alu64_imm(AluOp::And, R2, 0xff);
        self.p.alu64_imm(AluOp::Lsh, R2, 2);
        self.p.alu64_reg(AluOp::Add, R2, R9);
        self.p.ldx(Size::W, R2, R2, 0);
        self.p.alu32_imm(AluOp::Rsh, R4, 8);
        self.p.alu32_reg(AluOp::Xor, R4, R2);
        self.p.stx(Size::W, R0, SCRATCH_HASH_CRC, R4);
        self.p.alu64_imm(AluOp::Add, R5, 1);
        self.p.ja(top);
        self.p.bind(done);
        self.p.ldx(Size::W, R4, R0, SCRATCH_HASH_CRC);
        self.p.alu32_imm(AluOp::Xor, R4, -1);
        self.p.alu32_imm(AluOp::And, R4, (h.buckets - 1) as i32);
        self.p.stx(Size::H, R10, dst, R4);
        self.emit_unpark();
    }

    /// Stores the low `len` (1 or 2) bytes of number `r` big-endian at stack `dst`.
    pub(super) fn store_number_be(&mut self, r: Reg, dst: i16, len: u32) {
        if len == 1 {
            self.p.stx(Size::B, R10, dst, r);
        } else if dst % 2 == 0 {
            self.p.emit(crate::asm::Insn::be16(r));
            self.p.stx(Size::H, R10, dst, r);
        } else {
            self.p.stx(Size::B, R10, dst + 1, r);
            self.p.alu64_imm(AluOp::Rsh, r, 8);
            self.p.stx(Size::B, R10, dst, r);
        }
    }

    /// Copies `len` bytes from `src + so` to `dst + d`, chunk sizes chosen so
    /// stack accesses are naturally aligned (the verifier insists on it).
    pub(super) fn copy_bytes(&mut self, src: Reg, so: i16, dst: Reg, d: i16, len: u32) {
        let mut i = 0u32;
        while i < len {
            let left = len - i;
            let a = |o: i16| -> u32 {
                let o = o as i32;
                if o % 8 == 0 {
                    8
                } else if o % 4 == 0 {
                    4
                } else if o % 2 == 0 {
                    2
                } else {
                    1
                }
            };
            let mut align = 8;
            if src == R10 {
                align = align.min(a(so + i as i16));
            }
            if dst == R10 {
                align = align.min(a(d + i as i16));
            }
            let n = [8u32, 4, 2, 1]
                .into_iter()
                .find(|&n| n <= left && n <= align)
                .unwrap_or(1);
            let size = Size::for_bytes(n).expect("1, 2, 4 or 8");
            self.p.ldx(size, R1, src, so + i as i16);
            self.p.stx(size, dst, d + i as i16, R1);
            i += n;
        }
    }

    /// Tuple-space search: probe the entries hash once per listed mask, in
    /// the masks array's order, keeping the highest priority; stops at the
    /// end of the list or when the best hit outranks every remaining mask.
    /// Leaves the best value (or NULL) in R0. A bounded loop on the kernel;
    /// straight-line code (one block per mask slot) where loops are not
    /// accepted.
    fn emit_tuple_space(&mut self, tl: &TableLayout, max_masks: u32) {
        let k = tl.key.padded;
        let raw = self.keys_base;
        let probe = raw + round8(k) as i16; // mask ‖ masked key
        self.zero_stack(raw, round8(k));
        self.emit_key(&tl.key.parts, raw);
        let masks = tl
            .masks_map
            .clone()
            .expect("tuple-space table has a masks map");
        self.p.mov64_imm(R1, 0);
        self.p.stx(Size::DW, R10, BEST, R1);
        self.p.stx(Size::DW, R10, BEST_PRIO, R1);
        let done = self.p.label();
        // The layout has a scratch map only where parking is needed.
        let park = !self.unroll_masks && self.layout.scratch_map.is_some();
        if self.unroll_masks {
            for i in 0..max_masks {
                let next = self.p.label();
                self.p.st(Size::W, R10, SCRATCH, i as i32);
                self.emit_probe(tl, &masks, raw, probe, next, done);
                self.p.bind(next);
            }
        } else {
            if park {
                self.emit_park();
            }
            self.p.mov64_imm(R1, 0);
            self.p.stx(Size::DW, R10, IDX, R1);
            let top = self.p.label();
            let next = self.p.label();
            self.p.bind(top);
            self.p.ldx(Size::DW, R1, R10, IDX);
            self.p.jmp_imm(JmpOp::Ge, R1, max_masks as i32, done);
            self.p.stx(Size::W, R10, SCRATCH, R1);
            self.emit_probe(tl, &masks, raw, probe, next, done);
            self.p.bind(next);
            self.p.ldx(Size::DW, R1, R10, IDX);
            self.p.alu64_imm(AluOp::Add, R1, 1);
            self.p.stx(Size::DW, R10, IDX, R1);
            self.p.ja(top);
        }
        self.p.bind(done);
        if park {
            self.emit_unpark();
        }
        self.p.ldx(Size::DW, R0, R10, BEST);
    }

    /// Before a mask loop: moves the parse state (validity bits, tag count,
    /// L4 offset) into the per-CPU scratch map, so that during the loop no
    /// live register or stack slot differs between parse paths. The kernel
    /// verifier then checks the loop once, not once per parse path (which
    /// multiplies with every earlier table's outcomes and can exceed its
    /// one-million-instruction budget).
    fn emit_park(&mut self) {
        let scratch = self
            .layout
            .scratch_map
            .clone()
            .expect("mask loop has a scratch map");
        self.p.st(Size::W, R10, SCRATCH, 0);
        self.lookup(&scratch, SCRATCH);
        self.p.jmp_imm(JmpOp::Eq, R0, 0, self.exits.drop);
        for (slot, off) in [(FLAGS, 0), (TAGS, 8), (L4OFF, 16)] {
            self.p.ldx(Size::DW, R1, R10, slot);
            self.p.stx(Size::DW, R0, off, R1);
        }
    }

    /// After a mask loop: reads the parse state back and splits once more
    /// into one path per possible (validity bits, tag count), each storing
    /// constants again, then re-derives the header registers with their
    /// bounds checks — exactly the state the parser left.
    fn emit_unpark(&mut self) {
        let scratch = self
            .layout
            .scratch_map
            .clone()
            .expect("mask loop has a scratch map");
        let drop = self.exits.drop;
        self.p.st(Size::W, R10, SCRATCH, 0);
        self.lookup(&scratch, SCRATCH);
        self.p.jmp_imm(JmpOp::Eq, R0, 0, drop);
        self.p.ldx(Size::DW, R3, R0, 16);
        self.p.ldx(Size::DW, R1, R0, 0);
        self.p.ldx(Size::DW, R2, R0, 8);
        let anchored = self.p.label();
        // Every (validity bits, tag count) the parser can produce, the
        // common ones first (this is a chain of compares at run time).
        let eth = bit(Header::Eth);
        let (v4, v6) = (bit(Header::Ipv4), bit(Header::Ipv6));
        let (tcp, udp) = (
            bit(Header::Tcp) | bit(Header::L4),
            bit(Header::Udp) | bit(Header::L4),
        );
        let shapes = [
            eth | v4 | tcp,
            eth | v4 | udp,
            eth | v6 | tcp,
            eth | v6 | udp,
            eth | v4 | bit(Header::Icmp),
            eth | v6 | bit(Header::Icmpv6),
            eth | v4,
            eth | v6,
            eth,
        ];
        let mut combos: Vec<(i32, i32)> = Vec::new();
        for tags in 0..=2 {
            combos.extend(shapes.iter().map(|f| (*f, tags)));
        }
        combos.push((0, 0));
        for (flags, tags) in combos {
            let next = self.p.label();
            let l3off = 14 + 4 * tags;
            self.p.jmp_imm(JmpOp::Ne, R1, flags, next);
            self.p.jmp_imm(JmpOp::Ne, R2, tags, next);
            self.p.mov64_imm(R4, flags).stx(Size::DW, R10, FLAGS, R4);
            self.p.mov64_imm(R4, tags).stx(Size::DW, R10, TAGS, R4);
            self.p.mov64_imm(R4, l3off).stx(Size::DW, R10, L3OFF, R4);
            // The L4 offset as the parser bounds it: IPv4 20..=60 bytes
            // after L3 (IHL), IPv6 40, none: L3 itself.
            if flags & bit(Header::Ipv4) != 0 {
                self.p.jmp_imm(JmpOp::Lt, R3, l3off + 20, drop);
                self.p.jmp_imm(JmpOp::Gt, R3, l3off + 60, drop);
                self.p.stx(Size::DW, R10, L4OFF, R3);
            } else {
                let l4off = if flags & bit(Header::Ipv6) != 0 {
                    l3off + 40
                } else {
                    l3off
                };
                self.p.mov64_imm(R4, l4off).stx(Size::DW, R10, L4OFF, R4);
            }
            self.p.ja(anchored);
            self.p.bind(next);
        }
        self.p.ja(drop);
        self.p.bind(anchored);
        self.emit_reanchor();
    }

    /// One probe, mask number at `SCRATCH`: on to `next`, or to `done` when
    /// the list ends or cannot beat the best hit.
    fn emit_probe(
        &mut self,
        tl: &TableLayout,
        masks: &str,
        raw: i16,
        probe: i16,
        next: Label,
        done: Label,
    ) {
        let k = tl.key.padded;
        self.lookup(masks, SCRATCH);
        let p = &mut self.p;
        p.jmp_imm(JmpOp::Eq, R0, 0, done);
        p.ldx(Size::W, R1, R0, 0);
        p.jmp_imm(JmpOp::Eq, R1, 0, done);
        // Stop when the best so far is at least this mask's top priority.
        let go = p.label();
        p.ldx(Size::DW, R2, R10, BEST);
        p.jmp_imm(JmpOp::Eq, R2, 0, go);
        p.ldx(Size::W, R1, R0, 4);
        p.ldx(Size::DW, R2, R10, BEST_PRIO);
        p.jmp_reg(JmpOp::Ge, R2, R1, done);
        p.bind(go);
        let mut o = 0;
        while o < k {
            let o16 = o as i16;
            p.ldx(Size::W, R1, R0, 8 + o16);
            p.stx(Size::W, R10, probe + o16, R1);
            p.ldx(Size::W, R2, R10, raw + o16);
            p.alu64_reg(AluOp::And, R2, R1);
            p.stx(Size::W, R10, probe + k as i16 + o16, R2);
            o += 4;
        }
        self.lookup(&tl.entries_map, probe);
        let p = &mut self.p;
        p.jmp_imm(JmpOp::Eq, R0, 0, next);
        p.ldx(Size::W, R1, R0, PRIORITY_OFF as i16);
        let take = p.label();
        p.ldx(Size::DW, R2, R10, BEST);
        p.jmp_imm(JmpOp::Eq, R2, 0, take);
        p.ldx(Size::DW, R2, R10, BEST_PRIO);
        p.jmp_reg(JmpOp::Ge, R2, R1, next);
        p.bind(take);
        p.stx(Size::DW, R10, BEST, R0);
        p.stx(Size::DW, R10, BEST_PRIO, R1);
    }
}
