//! Instruction encodings as raw bytes (disassembly in comments), builders
//! checked by a table, the printer pinned, and label resolution.

use offload_ebpf::asm::*;
use Reg::*;

/// (builder output, expected bytes, expected disassembly)
fn table() -> Vec<(Insn, [u8; 8], &'static str)> {
    vec![
        // r1 = r6
        (
            Insn::mov64_reg(R1, R6),
            [0xbf, 0x61, 0, 0, 0, 0, 0, 0],
            "r1 = r6",
        ),
        // r0 = 2
        (
            Insn::mov64_imm(R0, 2),
            [0xb7, 0x00, 0, 0, 2, 0, 0, 0],
            "r0 = 2",
        ),
        // w0 = 1
        (
            Insn::mov32_imm(R0, 1),
            [0xb4, 0x00, 0, 0, 1, 0, 0, 0],
            "w0 = 1",
        ),
        // w2 = w3
        (
            Insn::mov32_reg(R2, R3),
            [0xbc, 0x32, 0, 0, 0, 0, 0, 0],
            "w2 = w3",
        ),
        // r2 += -8
        (
            Insn::alu64_imm(AluOp::Add, R2, -8),
            [0x07, 0x02, 0, 0, 0xf8, 0xff, 0xff, 0xff],
            "r2 += -8",
        ),
        // r3 += r4
        (
            Insn::alu64_reg(AluOp::Add, R3, R4),
            [0x0f, 0x43, 0, 0, 0, 0, 0, 0],
            "r3 += r4",
        ),
        // r1 -= r2
        (
            Insn::alu64_reg(AluOp::Sub, R1, R2),
            [0x1f, 0x21, 0, 0, 0, 0, 0, 0],
            "r1 -= r2",
        ),
        // r1 &= 15
        (
            Insn::alu64_imm(AluOp::And, R1, 15),
            [0x57, 0x01, 0, 0, 15, 0, 0, 0],
            "r1 &= 15",
        ),
        // w1 &= 65535
        (
            Insn::alu32_imm(AluOp::And, R1, 0xffff),
            [0x54, 0x01, 0, 0, 0xff, 0xff, 0, 0],
            "w1 &= 65535",
        ),
        // r1 |= r2
        (
            Insn::alu64_reg(AluOp::Or, R1, R2),
            [0x4f, 0x21, 0, 0, 0, 0, 0, 0],
            "r1 |= r2",
        ),
        // r1 ^= -1
        (
            Insn::alu64_imm(AluOp::Xor, R1, -1),
            [0xa7, 0x01, 0, 0, 0xff, 0xff, 0xff, 0xff],
            "r1 ^= -1",
        ),
        // r1 <<= 2
        (
            Insn::alu64_imm(AluOp::Lsh, R1, 2),
            [0x67, 0x01, 0, 0, 2, 0, 0, 0],
            "r1 <<= 2",
        ),
        // r1 >>= 16
        (
            Insn::alu64_imm(AluOp::Rsh, R1, 16),
            [0x77, 0x01, 0, 0, 16, 0, 0, 0],
            "r1 >>= 16",
        ),
        // w1 >>= 4
        (
            Insn::alu32_imm(AluOp::Rsh, R1, 4),
            [0x74, 0x01, 0, 0, 4, 0, 0, 0],
            "w1 >>= 4",
        ),
        // r1 s>>= 1
        (
            Insn::alu64_imm(AluOp::Arsh, R1, 1),
            [0xc7, 0x01, 0, 0, 1, 0, 0, 0],
            "r1 s>>= 1",
        ),
        // r1 *= 3
        (
            Insn::alu64_imm(AluOp::Mul, R1, 3),
            [0x27, 0x01, 0, 0, 3, 0, 0, 0],
            "r1 *= 3",
        ),
        // r1 = -r1
        (Insn::neg64(R1), [0x87, 0x01, 0, 0, 0, 0, 0, 0], "r1 = -r1"),
        // r1 = be16 r1
        (
            Insn::be16(R1),
            [0xdc, 0x01, 0, 0, 16, 0, 0, 0],
            "r1 = be16 r1",
        ),
        // r2 = be32 r2
        (
            Insn::be32(R2),
            [0xdc, 0x02, 0, 0, 32, 0, 0, 0],
            "r2 = be32 r2",
        ),
        // r3 = be64 r3
        (
            Insn::be64(R3),
            [0xdc, 0x03, 0, 0, 64, 0, 0, 0],
            "r3 = be64 r3",
        ),
        // r1 = le16 r1
        (
            Insn::le16(R1),
            [0xd4, 0x01, 0, 0, 16, 0, 0, 0],
            "r1 = le16 r1",
        ),
        // r2 = *(u32 *)(r1 + 0)   (xdp_md->data)
        (
            Insn::ldx(Size::W, R2, R1, 0),
            [0x61, 0x12, 0, 0, 0, 0, 0, 0],
            "r2 = *(u32 *)(r1 + 0)",
        ),
        // r1 = *(u16 *)(r6 + 12)
        (
            Insn::ldx(Size::H, R1, R6, 12),
            [0x69, 0x61, 12, 0, 0, 0, 0, 0],
            "r1 = *(u16 *)(r6 + 12)",
        ),
        // r1 = *(u8 *)(r7 + 9)
        (
            Insn::ldx(Size::B, R1, R7, 9),
            [0x71, 0x71, 9, 0, 0, 0, 0, 0],
            "r1 = *(u8 *)(r7 + 9)",
        ),
        // r1 = *(u64 *)(r0 + 8)
        (
            Insn::ldx(Size::DW, R1, R0, 8),
            [0x79, 0x01, 8, 0, 0, 0, 0, 0],
            "r1 = *(u64 *)(r0 + 8)",
        ),
        // *(u32 *)(r10 - 4) = r1
        (
            Insn::stx(Size::W, R10, -4, R1),
            [0x63, 0x1a, 0xfc, 0xff, 0, 0, 0, 0],
            "*(u32 *)(r10 - 4) = r1",
        ),
        // *(u64 *)(r10 - 16) = r2
        (
            Insn::stx(Size::DW, R10, -16, R2),
            [0x7b, 0x2a, 0xf0, 0xff, 0, 0, 0, 0],
            "*(u64 *)(r10 - 16) = r2",
        ),
        // *(u16 *)(r6 + 12) = r3
        (
            Insn::stx(Size::H, R6, 12, R3),
            [0x6b, 0x36, 12, 0, 0, 0, 0, 0],
            "*(u16 *)(r6 + 12) = r3",
        ),
        // *(u8 *)(r6 + 0) = r3
        (
            Insn::stx(Size::B, R6, 0, R3),
            [0x73, 0x36, 0, 0, 0, 0, 0, 0],
            "*(u8 *)(r6 + 0) = r3",
        ),
        // *(u32 *)(r10 - 8) = 0
        (
            Insn::st(Size::W, R10, -8, 0),
            [0x62, 0x0a, 0xf8, 0xff, 0, 0, 0, 0],
            "*(u32 *)(r10 - 8) = 0",
        ),
        // *(u64 *)(r10 - 8) = 7
        (
            Insn::st(Size::DW, R10, -8, 7),
            [0x7a, 0x0a, 0xf8, 0xff, 7, 0, 0, 0],
            "*(u64 *)(r10 - 8) = 7",
        ),
        // lock *(u64 *)(r0 + 0) += r1
        (
            Insn::atomic(Size::DW, AtomicOp::Add, R0, 0, R1),
            [0xdb, 0x10, 0, 0, 0, 0, 0, 0],
            "lock *(u64 *)(r0 + 0) += r1",
        ),
        // lock *(u32 *)(r0 + 4) += r2
        (
            Insn::atomic(Size::W, AtomicOp::Add, R0, 4, R2),
            [0xc3, 0x20, 4, 0, 0, 0, 0, 0],
            "lock *(u32 *)(r0 + 4) += r2",
        ),
        // goto +3
        (Insn::ja(3), [0x05, 0x00, 3, 0, 0, 0, 0, 0], "goto +3"),
        // goto -2
        (
            Insn::ja(-2),
            [0x05, 0x00, 0xfe, 0xff, 0, 0, 0, 0],
            "goto -2",
        ),
        // if r1 != 0x800 goto +5
        (
            Insn::jmp_imm(JmpOp::Ne, R1, 0x800, 5),
            [0x55, 0x01, 5, 0, 0x00, 0x08, 0, 0],
            "if r1 != 0x800 goto +5",
        ),
        // if r1 == 0x0 goto +1
        (
            Insn::jmp_imm(JmpOp::Eq, R1, 0, 1),
            [0x15, 0x01, 1, 0, 0, 0, 0, 0],
            "if r1 == 0x0 goto +1",
        ),
        // if r2 > r3 goto +7
        (
            Insn::jmp_reg(JmpOp::Gt, R2, R3, 7),
            [0x2d, 0x32, 7, 0, 0, 0, 0, 0],
            "if r2 > r3 goto +7",
        ),
        // if r1 >= 0x5 goto +1
        (
            Insn::jmp_imm(JmpOp::Ge, R1, 5, 1),
            [0x35, 0x01, 1, 0, 5, 0, 0, 0],
            "if r1 >= 0x5 goto +1",
        ),
        // if r1 < 0x5 goto +1
        (
            Insn::jmp_imm(JmpOp::Lt, R1, 5, 1),
            [0xa5, 0x01, 1, 0, 5, 0, 0, 0],
            "if r1 < 0x5 goto +1",
        ),
        // if r1 <= r2 goto +1
        (
            Insn::jmp_reg(JmpOp::Le, R1, R2, 1),
            [0xbd, 0x21, 1, 0, 0, 0, 0, 0],
            "if r1 <= r2 goto +1",
        ),
        // if r1 & 0x1fff goto +4
        (
            Insn::jmp_imm(JmpOp::Set, R1, 0x1fff, 4),
            [0x45, 0x01, 4, 0, 0xff, 0x1f, 0, 0],
            "if r1 & 0x1fff goto +4",
        ),
        // if r1 s> -1 goto +2
        (
            Insn::jmp_imm(JmpOp::Sgt, R1, -1, 2),
            [0x65, 0x01, 2, 0, 0xff, 0xff, 0xff, 0xff],
            "if r1 s> -1 goto +2",
        ),
        // if w1 != 0x800 goto +5
        (
            Insn::jmp32_imm(JmpOp::Ne, R1, 0x800, 5),
            [0x56, 0x01, 5, 0, 0x00, 0x08, 0, 0],
            "if w1 != 0x800 goto +5",
        ),
        // if w1 == w2 goto -1
        (
            Insn::jmp32_reg(JmpOp::Eq, R1, R2, -1),
            [0x1e, 0x21, 0xff, 0xff, 0, 0, 0, 0],
            "if w1 == w2 goto -1",
        ),
        // call bpf_map_lookup_elem#1
        (
            Insn::call(Helper::MapLookupElem),
            [0x85, 0, 0, 0, 1, 0, 0, 0],
            "call bpf_map_lookup_elem#1",
        ),
        // call bpf_redirect_map#51
        (
            Insn::call(Helper::RedirectMap),
            [0x85, 0, 0, 0, 51, 0, 0, 0],
            "call bpf_redirect_map#51",
        ),
        // call bpf_xdp_adjust_head#44
        (
            Insn::call(Helper::XdpAdjustHead),
            [0x85, 0, 0, 0, 44, 0, 0, 0],
            "call bpf_xdp_adjust_head#44",
        ),
        // exit
        (Insn::exit(), [0x95, 0, 0, 0, 0, 0, 0, 0], "exit"),
    ]
}

#[test]
fn encodings_match_the_kernel_abi() {
    for (insn, bytes, text) in table() {
        assert_eq!(insn.encode(), bytes, "encoding of `{text}`");
        assert_eq!(Insn::decode(bytes), insn, "decoding of `{text}`");
        assert_eq!(format_one(&insn), text, "printing of {bytes:02x?}");
    }
}

#[test]
fn ld_imm64_takes_two_slots() {
    // r1 = 0x1122334455667788 ll
    let [a, b] = Insn::ld_imm64(R1, 0x1122_3344_5566_7788);
    assert_eq!(a.encode(), [0x18, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55]);
    assert_eq!(b.encode(), [0x00, 0x00, 0, 0, 0x44, 0x33, 0x22, 0x11]);
    let (text, used) = format_at(&[a, b], 0, &[]);
    assert_eq!((text.as_str(), used), ("r1 = 0x1122334455667788 ll", 2));
}

#[test]
fn ld_map_is_a_relocation_not_an_fd() {
    let mut p = Program::new();
    p.mov64_imm(R0, 0);
    p.ld_map(R1, &MapRef::new("acl"));
    p.exit();
    let a = p.finish().unwrap();
    // r1 = map[acl] ll: src = BPF_PSEUDO_MAP_FD, imm left 0 for the loader
    assert_eq!(&a.bytes[8..16], &[0x18, 0x11, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&a.bytes[16..24], &[0; 8]);
    assert_eq!(
        a.map_relocs,
        vec![MapReloc {
            insn_index: 1,
            map: "acl".into()
        }]
    );
    assert_eq!(a.insns.len(), 4);
    assert_eq!(a.bytes.len(), 32);
}

#[test]
fn labels_resolve_forward_and_backward() {
    let mut p = Program::new();
    let top = p.label();
    let out = p.label();
    p.bind(top);
    p.mov64_imm(R0, 0); // 0
    p.jmp_imm(JmpOp::Eq, R1, 0, out); // 1 -> 5: off +3
    p.ld_imm64(R2, 1); // 2,3 (two slots count)
    p.ja(top); // 4 -> 0: off -5
    p.bind(out);
    p.exit(); // 5
    let a = p.finish().unwrap();
    assert_eq!(a.insns[1].off, 3);
    assert_eq!(a.insns[4].off, -5);
}

#[test]
fn unbound_duplicate_and_far_labels_are_errors() {
    let mut p = Program::new();
    let l = p.label();
    p.ja(l);
    p.exit();
    assert_eq!(
        p.finish(),
        Err(AsmError::UnboundLabel { label: 0, insn: 0 })
    );

    let mut p = Program::new();
    let l = p.label();
    p.bind(l);
    p.exit();
    p.bind(l);
    p.exit();
    assert!(matches!(
        p.finish(),
        Err(AsmError::DuplicateLabel {
            label: 0,
            first: 0,
            second: 1
        })
    ));

    let mut p = Program::new();
    let l = p.label();
    p.ja(l);
    for _ in 0..40_000 {
        p.mov64_imm(R0, 0);
    }
    p.bind(l);
    p.exit();
    assert!(matches!(
        p.finish(),
        Err(AsmError::JumpOutOfRange {
            insn: 0,
            target: 40_001,
            ..
        })
    ));

    let mut p = Program::new();
    let l = p.label();
    p.ja(l);
    p.bind(l);
    assert!(matches!(p.finish(), Err(AsmError::LabelPastEnd { .. })));

    assert_eq!(Program::new().finish(), Err(AsmError::Empty));
}

#[test]
fn printer_listing_is_pinned() {
    let mut p = Program::new();
    let drop = p.label();
    p.ldx(Size::W, R2, R1, 0) // data
        .ldx(Size::W, R3, R1, 4) // data_end
        .mov64_reg(R4, R2)
        .alu64_imm(AluOp::Add, R4, 14);
    p.jmp_reg(JmpOp::Gt, R4, R3, drop);
    p.ldx(Size::H, R5, R2, 12).emit(Insn::be16(R5));
    p.jmp_imm(JmpOp::Ne, R5, 0x800, drop);
    p.ld_map(R1, &MapRef::new("ports"));
    p.mov64_imm(R2, 1)
        .mov64_imm(R3, 0)
        .call(Helper::RedirectMap)
        .exit();
    p.bind(drop);
    p.mov64_imm(R0, 1).exit();
    let a = p.finish().unwrap();
    let expected = r"
    0: r2 = *(u32 *)(r1 + 0)
    1: r3 = *(u32 *)(r1 + 4)
    2: r4 = r2
    3: r4 += 14
    4: if r4 > r3 goto +9
    5: r5 = *(u16 *)(r2 + 12)
    6: r5 = be16 r5
    7: if r5 != 0x800 goto +6
    8: r1 = map[ports] ll
   10: r2 = 1
   11: r3 = 0
   12: call bpf_redirect_map#51
   13: exit
   14: r0 = 1
   15: exit
";
    assert_eq!(listing(&a), &expected[1..]);
}

#[test]
fn opcode_fields_round_trip() {
    for op in [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mov,
        AluOp::End,
        AluOp::Arsh,
        AluOp::Xor,
    ] {
        assert_eq!(AluOp::of(op as u8 | 0x07), op);
    }
    for op in [
        JmpOp::Ja,
        JmpOp::Eq,
        JmpOp::Sle,
        JmpOp::Call,
        JmpOp::Exit,
        JmpOp::Set,
    ] {
        assert_eq!(JmpOp::of(op as u8 | 0x05), op);
        assert_eq!(op.negate().negate(), op);
    }
    for s in [Size::B, Size::H, Size::W, Size::DW] {
        assert_eq!(Size::of(s as u8), s);
        assert_eq!(Size::for_bytes(s.bytes()), Some(s));
    }
    for h in Helper::ALL {
        assert_eq!(Helper::from_id(h.id()), Some(h));
    }
    assert_eq!(Reg::from_num(10), Some(R10));
    assert_eq!(Reg::from_num(11), None);
}
