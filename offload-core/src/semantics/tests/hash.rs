//! Hash keys (CRC-32 over fields, invalid headers skipped) and `meta.group`.

use super::*;

const FIVE_TUPLE: [Field; 5] = [
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::Ipv4Protocol,
    Field::L4SrcPort,
    Field::L4DstPort,
];

fn key(fields: &[Field], buckets: u32) -> crate::ir::HashKey {
    crate::ir::HashKey {
        fields: fields.to_vec(),
        buckets,
    }
}

#[test]
fn crc32_is_zlibs() {
    // The CRC-32/ISO-HDLC check value, and zlib.crc32 of a few strings.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"a"), 0xE8B7_BE43);
    assert_eq!(
        crc32(b"The quick brown fox jumps over the lazy dog"),
        0x414F_A339
    );
    assert_eq!(crc32(&[0u8; 4]), 0x2144_DF1C);
}

#[test]
fn the_input_is_the_fields_bytes_in_order() {
    let pkt = tcp4(40000, 443);
    let p = parse(&pkt);
    let mut want = Vec::new();
    want.extend(A4);
    want.extend(B4);
    want.push(6);
    want.extend(40000u16.to_be_bytes());
    want.extend(443u16.to_be_bytes());
    assert_eq!(hash_input(&p, &pkt, &key(&FIVE_TUPLE, 16)), want);
    // Order matters: the same fields reversed hash other bytes.
    let mut rev = FIVE_TUPLE;
    rev.reverse();
    let input = hash_input(&p, &pkt, &key(&rev, 16));
    assert_eq!(input.len(), 13);
    assert_ne!(input, want);
    assert_eq!(bucket(&p, &pkt, &key(&FIVE_TUPLE, 16)), crc32(&want) & 15);
    // UDP ports are `l4.*` too; MACs are 6 bytes each.
    let pkt = udp4(A4, B4, 5000, 53, 64);
    let input = hash_input(
        &parse(&pkt),
        &pkt,
        &key(&[Field::L4DstPort, Field::EthSrc], 4),
    );
    assert_eq!(&input[..2], &53u16.to_be_bytes());
    assert_eq!(&input[2..], &pkt[6..12]);
}

#[test]
fn fields_of_invalid_headers_add_no_bytes() {
    // ICMP: no l4 ports, so the hash is over the addresses and protocol.
    let pkt = icmp4();
    let p = parse(&pkt);
    let mut want = Vec::new();
    want.extend(A4);
    want.extend(B4);
    want.push(1);
    assert_eq!(hash_input(&p, &pkt, &key(&FIVE_TUPLE, 8)), want);
    // IPv6 under an IPv4 5-tuple: only the ports.
    let pkt = tcp6(1234, 80);
    let input = hash_input(&parse(&pkt), &pkt, &key(&FIVE_TUPLE, 8));
    assert_eq!(input, [0x04, 0xd2, 0x00, 0x50]);
    // Nothing valid at all: the CRC of no bytes (0), bucket 0.
    let arp = build_arp();
    let p = parse(&arp);
    assert!(hash_input(&p, &arp, &key(&FIVE_TUPLE, 8)).is_empty());
    assert_eq!(bucket(&p, &arp, &key(&FIVE_TUPLE, 8)), 0);
    // A truncated TCP header is not valid: its ports add nothing either.
    let pkt = tcp4(40000, 443);
    let cut = &pkt[..14 + 20 + 10];
    assert_eq!(hash_input(&parse(cut), cut, &key(&FIVE_TUPLE, 8)).len(), 9);
}

fn build_arp() -> Vec<u8> {
    let mut f = vec![0xffu8; 6];
    f.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend([0u8; 28]);
    f
}

/// A module: `pick` (keyed on a 5-tuple hash, 4 buckets) forwards bucket b
/// to port b + 1 (bucket 3 has no entry: the default drops).
fn ecmp_module() -> Module {
    let mut mb = Mb::new(DefaultVerdict::Pass);
    let fwd = mb.action(
        "fwd",
        &[ParamType::Port],
        vec![Primitive::Forward(Operand::Param(0))],
    );
    let drop = mb.action("drop", &[], vec![Primitive::Drop]);
    let t = mb.table(
        &[(Field::Hash, MatchKind::Exact)],
        call(drop, &[]),
        true,
        (0..3)
            .map(|b| (vec![KeyMatch::Exact(b)], None, call(fwd, &[b + 1])))
            .collect(),
    );
    mb.m.tables[t.0 as usize].keys[0].hash = Some(key(&FIVE_TUPLE, 4));
    mb.done()
}

#[test]
fn a_hash_key_picks_the_entry_of_the_packets_bucket() {
    let m = ecmp_module();
    let mut seen = std::collections::BTreeSet::new();
    for sport in 1000..1040u16 {
        for pkt in [
            tcp4(sport, 80),
            udp4(A4, B4, sport, 53, 64),
            icmp4(),
            tcp6(sport, 80),
        ] {
            let b = bucket(&parse(&pkt), &pkt, &key(&FIVE_TUPLE, 4));
            let out = run(&m, IN, &pkt);
            let want = match b {
                3 => Verdict::Drop,
                b => Verdict::Forward(PortId(b as u16 + 1)),
            };
            assert_eq!(out.verdict, want, "sport {sport}");
            seen.insert(b);
        }
    }
    // Every bucket was reached, so the default and every entry ran.
    assert_eq!(seen.len(), 4);
    // The table applies to a frame with no hashed header valid: bucket 0.
    assert_eq!(
        run(&m, IN, &build_arp()).verdict,
        Verdict::Forward(PortId(1))
    );
}

#[test]
fn the_hash_reads_the_packet_as_earlier_tables_left_it() {
    // t0 rewrites l4.src_port to 7; t1 hashes it.
    let mut m = ecmp_module();
    let id = ActionId(m.actions.len() as u32);
    m.actions.push(Action {
        id,
        name: "rw".into(),
        params: vec![],
        body: vec![Primitive::Set {
            field: Field::L4SrcPort,
            value: Operand::Const(7),
        }],
        span: Span::default(),
    });
    let mut t0 = m.tables[0].clone();
    t0.keys.clear();
    t0.entries.clear();
    t0.actions = vec![id];
    t0.default_action = call(id, &[]);
    t0.counters = false;
    m.tables.insert(0, t0);
    for (i, t) in m.tables.iter_mut().enumerate() {
        t.id = TableId(i as u32);
    }
    let rewritten = tcp4(7, 80);
    let b = bucket(&parse(&rewritten), &rewritten, &key(&FIVE_TUPLE, 4));
    for sport in 2000..2010 {
        let out = run(&m, IN, &tcp4(sport, 80));
        let want = match b {
            3 => Verdict::Drop,
            b => Verdict::Forward(PortId(b as u16 + 1)),
        };
        assert_eq!(out.verdict, want);
    }
}

#[test]
fn meta_group_starts_at_zero_and_set_writes_it() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let pick = mb.action(
        "pick",
        &[ParamType::Uint(16)],
        vec![Primitive::Set {
            field: Field::MetaGroup,
            value: Operand::Param(0),
        }],
    );
    let fwd = mb.action(
        "fwd",
        &[ParamType::Port],
        vec![Primitive::Forward(Operand::Param(0))],
    );
    let none = mb.action("none", &[], vec![]);
    // Stage 1: ipv4.dst 10.1.2.3 → group 2 (else group stays 0).
    mb.table(
        &[(Field::Ipv4Dst, MatchKind::Exact)],
        call(none, &[]),
        false,
        vec![(
            vec![KeyMatch::Exact(ip4("10.1.2.3"))],
            None,
            call(pick, &[2]),
        )],
    );
    // Stage 2: group 0 → port 1, group 2 → port 2.
    mb.table(
        &[(Field::MetaGroup, MatchKind::Exact)],
        call(none, &[]),
        false,
        vec![
            (vec![KeyMatch::Exact(0)], None, call(fwd, &[1])),
            (vec![KeyMatch::Exact(2)], None, call(fwd, &[2])),
        ],
    );
    let m = mb.done();
    let to_b4 = tcp4(1, 2); // dst B4 = 10.1.2.3
    assert_eq!(run(&m, IN, &to_b4).verdict, Verdict::Forward(PortId(2)));
    let other = udp4(B4, A4, 1, 2, 64);
    assert_eq!(run(&m, IN, &other).verdict, Verdict::Forward(PortId(1)));
    // A frame with no IPv4: stage 1 is skipped, group 0.
    assert_eq!(
        run(&m, IN, &build_arp()).verdict,
        Verdict::Forward(PortId(1))
    );
    // The packet's bytes never change for a metadata write.
    assert_eq!(run(&m, IN, &to_b4).packet, to_b4);
    // Copies read and write it like any field (zero-extended).
    let t = run_traced(&m, IN, &to_b4);
    assert!(t.events.iter().any(|e| e.effect
        == rewrite::Effect::Set {
            field: Field::MetaGroup,
            old: 0,
            new: 2
        }));
}
