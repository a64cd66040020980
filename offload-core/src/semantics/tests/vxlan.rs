//! VXLAN (RFC 7348): parsing the tunnel and the inner headers, `vxlan_decap`
//! (the inner headers become the headers) and `vxlan_encap` (the outer
//! headers are built exactly, checked with etherparse).

use super::*;
use crate::ir::VxlanEncap;

const VNI: u32 = 0x00ab_cdef;
const OUTER_SMAC: [u8; 6] = [2, 0, 0, 0, 0xaa, 1];
const OUTER_DMAC: [u8; 6] = [2, 0, 0, 0, 0xaa, 2];

/// The 8 VXLAN bytes: flags, 3 reserved, VNI, 1 reserved.
fn vxlan_header(flags: u8, vni: u32) -> Vec<u8> {
    let v = vni.to_be_bytes();
    vec![flags, 0, 0, 0, v[1], v[2], v[3], 0]
}

/// `inner` carried in outer eth/ipv4/udp(dport)/vxlan(flags, vni).
fn tunnel4(inner: &[u8], dport: u16, flags: u8, vni: u32) -> Vec<u8> {
    let mut payload = vxlan_header(flags, vni);
    payload.extend_from_slice(inner);
    PacketBuilder::ethernet2(OUTER_SMAC, OUTER_DMAC)
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64)
        .udp(50000, dport)
        .write_to_vec(&payload)
}

fn tunnel6(inner: &[u8]) -> Vec<u8> {
    let mut payload = vxlan_header(0x08, VNI);
    payload.extend_from_slice(inner);
    PacketBuilder::ethernet2(OUTER_SMAC, OUTER_DMAC)
        .ipv6(A6, B6, 64)
        .udp(50000, 4789)
        .write_to_vec(&payload)
}

fn read(p: &Parsed, pkt: &[u8], f: Field) -> Option<u128> {
    field_value(p, pkt, IN, f)
}

#[test]
fn a_vxlan_frame_parses_the_tunnel_and_the_inner_headers() {
    let inner = tcp4(40000, 443);
    let pkt = tunnel4(&inner, 4789, 0x08, VNI);
    let p = parse(&pkt);
    for h in [
        Header::Eth,
        Header::Ipv4,
        Header::Udp,
        Header::L4,
        Header::Vxlan,
        Header::InnerEth,
        Header::InnerIpv4,
        Header::InnerL4,
    ] {
        assert!(p.is_valid(h), "{h} should be valid");
    }
    assert!(!p.is_valid(Header::InnerIpv6));
    assert_eq!(read(&p, &pkt, Field::VxlanVni), Some(u128::from(VNI)));
    assert_eq!(read(&p, &pkt, Field::L4DstPort), Some(4789));
    assert_eq!(read(&p, &pkt, Field::InnerEthSrc), Some(0x0200_0000_0001));
    assert_eq!(read(&p, &pkt, Field::InnerEthType), Some(0x0800));
    assert_eq!(
        read(&p, &pkt, Field::InnerIpv4Src),
        Some(ip4("192.168.1.10"))
    );
    assert_eq!(read(&p, &pkt, Field::InnerIpv4Dst), Some(ip4("10.1.2.3")));
    assert_eq!(read(&p, &pkt, Field::InnerIpv4Protocol), Some(6));
    assert_eq!(read(&p, &pkt, Field::InnerIpv4Ttl), Some(64));
    assert_eq!(read(&p, &pkt, Field::InnerL4SrcPort), Some(40000));
    assert_eq!(read(&p, &pkt, Field::InnerL4DstPort), Some(443));
    // The outer headers are still the plain ones.
    assert_eq!(read(&p, &pkt, Field::Ipv4Src), Some(ip4("172.16.0.1")));

    let inner6 = udp6(5353, 53);
    let pkt = tunnel4(&inner6, 4789, 0x08, 7);
    let p = parse(&pkt);
    assert!(p.is_valid(Header::InnerIpv6) && !p.is_valid(Header::InnerIpv4));
    assert_eq!(
        read(&p, &pkt, Field::InnerIpv6Dst),
        Some(ip6("2001:db8:1::b"))
    );
    assert_eq!(read(&p, &pkt, Field::InnerIpv6NextHeader), Some(17));
    assert_eq!(read(&p, &pkt, Field::InnerL4DstPort), Some(53));

    // Over an IPv6 outer header too.
    let pkt = tunnel6(&inner);
    let p = parse(&pkt);
    assert!(p.is_valid(Header::Ipv6) && p.is_valid(Header::InnerIpv4));
    assert_eq!(read(&p, &pkt, Field::VxlanVni), Some(u128::from(VNI)));
}

#[test]
fn not_vxlan_without_the_i_flag_the_port_or_the_bytes() {
    let inner = tcp4(40000, 443);
    for (pkt, why) in [
        (tunnel4(&inner, 4789, 0x00, VNI), "no I flag"),
        (tunnel4(&inner, 4789, 0xf7, VNI), "every flag but I"),
        (tunnel4(&inner, 4790, 0x08, VNI), "another port"),
        (tcp4(40000, 4789), "TCP to 4789"),
    ] {
        let p = parse(&pkt);
        assert!(!p.is_valid(Header::Vxlan), "{why}");
        assert!(!p.is_valid(Header::InnerEth), "{why}");
        assert_eq!(read(&p, &pkt, Field::VxlanVni), None, "{why}");
    }
    // Reserved bits are ignored on receipt (RFC 7348 §5): any flags with I.
    assert!(parse(&tunnel4(&inner, 4789, 0xff, VNI)).is_valid(Header::Vxlan));
    // The VXLAN header cut short: plain UDP.
    let full = tunnel4(&inner, 4789, 0x08, VNI);
    let vx = 14 + 20 + 8;
    assert!(!parse(&full[..vx + 7]).is_valid(Header::Vxlan));
    // Complete VXLAN header, inner Ethernet cut: the tunnel without inner headers.
    let p = parse(&full[..vx + 8 + 13]);
    assert!(p.is_valid(Header::Vxlan) && !p.is_valid(Header::InnerEth));
    // Inner Ethernet complete, inner IPv4 cut: inner_eth only.
    let p = parse(&full[..vx + 8 + 14 + 19]);
    assert!(p.is_valid(Header::InnerEth) && !p.is_valid(Header::InnerIpv4));
    // A tagged inner frame: inner tags are not parsed, no inner L3.
    let tagged = build(eth().single_vlan(vid(5)).ipv4(A4, B4, 64).udp(1, 2));
    let pkt = tunnel4(&tagged, 4789, 0x08, VNI);
    let p = parse(&pkt);
    assert!(p.is_valid(Header::InnerEth) && !p.is_valid(Header::InnerIpv4));
    assert_eq!(read(&p, &pkt, Field::InnerEthType), Some(0x8100));
}

fn encap_module(then: Vec<Primitive>) -> Module {
    let mut body = vec![Primitive::VxlanEncap(VxlanEncap {
        dmac: Operand::Param(0),
        smac: Operand::Param(1),
        src: Operand::Param(2),
        dst: Operand::Param(3),
        vni: Operand::Param(4),
    })];
    body.extend(then);
    one_action(
        body,
        &[
            ParamType::Mac,
            ParamType::Mac,
            ParamType::Ipv4,
            ParamType::Ipv4,
            ParamType::Uint(24),
        ],
        &[
            0x0200_0000_bb02,
            0x0200_0000_bb01,
            ip4("198.51.100.1"),
            ip4("203.0.113.9"),
            u128::from(VNI),
        ],
    )
}

#[test]
fn encap_builds_the_outer_headers_exactly() {
    let inner = tcp4(40000, 443);
    let out = run(&encap_module(vec![Primitive::Tx]), IN, &inner);
    assert_eq!(out.verdict, Verdict::Tx);
    let pkt = &out.packet;
    assert_eq!(pkt.len(), inner.len() + 50);
    assert_eq!(&pkt[50..], &inner[..], "the old frame is carried unchanged");
    assert_eq!(&pkt[0..6], &[2, 0, 0, 0, 0xbb, 2]);
    assert_eq!(&pkt[6..12], &[2, 0, 0, 0, 0xbb, 1]);
    let s = SlicedPacket::from_ethernet(pkt).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &s.net else {
        panic!("outer IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(h.calc_header_checksum(), h.header_checksum, "IPv4 checksum");
    assert_eq!(h.time_to_live, 64);
    assert!(h.dont_fragment && !h.more_fragments);
    assert_eq!(h.identification, 0);
    assert_eq!(usize::from(h.total_len), inner.len() + 36);
    assert_eq!(h.source, [198, 51, 100, 1]);
    assert_eq!(h.destination, [203, 0, 113, 9]);
    let Some(TransportSlice::Udp(u)) = &s.transport else {
        panic!("outer UDP")
    };
    assert_eq!(u.destination_port(), 4789);
    assert_eq!(u.checksum(), 0);
    assert_eq!(usize::from(u.length()), inner.len() + 16);
    // Source port: 0xC000 | crc32(inner ipv4 src, dst, protocol, ports) & 0x3FFF.
    let mut flow = Vec::new();
    flow.extend(A4);
    flow.extend(B4);
    flow.push(6);
    flow.extend(40000u16.to_be_bytes());
    flow.extend(443u16.to_be_bytes());
    assert_eq!(
        u.source_port(),
        0xC000 | (crc32(&flow) & 0x3FFF) as u16,
        "source port from the inner 5-tuple"
    );
    assert_eq!(&pkt[42..50], &vxlan_header(0x08, VNI)[..]);
    // IPv6 inner flows hash their addresses and next header; a non-IP
    // frame hashes nothing (crc32 of no bytes is 0: port 0xC000).
    let out6 = run(&encap_module(vec![Primitive::Tx]), IN, &udp6(5353, 53));
    let mut flow6 = Vec::new();
    flow6.extend(A6);
    flow6.extend(B6);
    flow6.push(17);
    flow6.extend(5353u16.to_be_bytes());
    flow6.extend(53u16.to_be_bytes());
    let sport = u16::from_be_bytes([out6.packet[34], out6.packet[35]]);
    assert_eq!(sport, 0xC000 | (crc32(&flow6) & 0x3FFF) as u16);
    let arp = {
        let mut f = inner[..14].to_vec();
        f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        f.extend([0u8; 28]);
        f
    };
    let out = run(&encap_module(vec![Primitive::Tx]), IN, &arp);
    assert_eq!(&out.packet[34..36], &0xC000u16.to_be_bytes());
}

#[test]
fn after_encap_later_tables_see_outer_headers_and_the_old_ones_as_inner() {
    // encap, then dec_ttl: the outer TTL (64 -> 63), with its checksum.
    let inner = udp4(A4, B4, 1234, 80, 9);
    let out = run(
        &encap_module(vec![Primitive::DecTtl, Primitive::Tx]),
        IN,
        &inner,
    );
    assert_eq!(out.packet[14 + 8], 63);
    assert_eq!(checks(&out.packet).ipv4, Some(true));
    assert_eq!(&out.packet[50..], &inner[..], "inner TTL untouched");

    // A second table keyed on vxlan.vni and inner_ipv4.src sees the tunnel.
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let enc = mb.action(
        "enc",
        &[],
        vec![Primitive::VxlanEncap(VxlanEncap {
            dmac: Operand::Const(0x0200_0000_bb02),
            smac: Operand::Const(0x0200_0000_bb01),
            src: Operand::Const(ip4("198.51.100.1")),
            dst: Operand::Const(ip4("203.0.113.9")),
            vni: Operand::Const(42),
        })],
    );
    let tx = mb.action("tx", &[], vec![Primitive::Tx]);
    let nop = mb.action("nop", &[], vec![]);
    mb.table(&[], call(enc, &[]), false, vec![]);
    mb.table(
        &[
            (Field::VxlanVni, MatchKind::Exact),
            (Field::InnerIpv4Src, MatchKind::Exact),
            (Field::Ipv4Dst, MatchKind::Exact),
        ],
        call(nop, &[]),
        false,
        vec![(
            vec![
                KeyMatch::Exact(42),
                KeyMatch::Exact(u128::from(u32::from_be_bytes(A4))),
                KeyMatch::Exact(ip4("203.0.113.9")),
            ],
            None,
            call(tx, &[]),
        )],
    );
    let m = mb.done();
    let out = run(&m, IN, &inner);
    assert_eq!(out.verdict, Verdict::Tx);
    assert!(matches!(out.steps[1], Step::Hit { entry: 0, .. }));
    // An ARP frame is encapsulated too, but has no inner IPv4: skipped.
    let mut arp = inner[..14].to_vec();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    arp.extend([0u8; 28]);
    let out = run(&m, IN, &arp);
    assert_eq!(out.verdict, Verdict::Drop);
    assert!(matches!(
        out.steps[1],
        Step::Skipped {
            missing: Header::InnerIpv4,
            ..
        }
    ));
    // No valid Ethernet header: nothing to encapsulate.
    let t = run_traced(&encap_module(vec![Primitive::Tx]), IN, &inner[..13]);
    assert_eq!(t.outcome.packet, &inner[..13]);
    assert!(matches!(t.events[0].effect, Effect::VxlanEncapIgnored));
}

#[test]
fn decap_makes_the_inner_headers_the_headers() {
    let inner = tcp4(40000, 443);
    let pkt = tunnel4(&inner, 4789, 0x08, VNI);
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let dec = mb.action("dec", &[], vec![Primitive::VxlanDecap]);
    let tx = mb.action("tx", &[], vec![Primitive::Tx]);
    let nop = mb.action("nop", &[], vec![]);
    mb.table(&[], call(dec, &[]), false, vec![]);
    // After the decap: `ipv4.dst` is the inner destination, vxlan is gone.
    mb.table(
        &[(Field::VxlanVni, MatchKind::Exact)],
        call(tx, &[]),
        false,
        vec![],
    );
    mb.table(
        &[
            (Field::Ipv4Dst, MatchKind::Exact),
            (Field::L4DstPort, MatchKind::Exact),
        ],
        call(nop, &[]),
        false,
        vec![(
            vec![KeyMatch::Exact(ip4("10.1.2.3")), KeyMatch::Exact(443)],
            None,
            call(tx, &[]),
        )],
    );
    let m = mb.done();
    let t = run_traced(&m, IN, &pkt);
    assert_eq!(t.outcome.verdict, Verdict::Tx);
    assert_eq!(t.outcome.packet, inner, "exactly the inner frame");
    assert!(matches!(
        t.outcome.steps[1],
        Step::Skipped {
            missing: Header::Vxlan,
            ..
        }
    ));
    assert!(matches!(t.outcome.steps[2], Step::Hit { entry: 0, .. }));
    assert!(matches!(
        t.events[0].effect,
        Effect::VxlanDecap {
            vni: VNI,
            removed: 50
        }
    ));
    // Not a tunnel: decap does nothing.
    let t = run_traced(&m, IN, &inner);
    assert_eq!(t.outcome.packet, inner);
    assert!(matches!(t.events[0].effect, Effect::VxlanDecapIgnored));
    // An outer VLAN tag and an IPv6 outer header are removed as well.
    let mut payload = vxlan_header(0x08, VNI);
    payload.extend_from_slice(&inner);
    let tagged = PacketBuilder::ethernet2(OUTER_SMAC, OUTER_DMAC)
        .single_vlan(vid(100))
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64)
        .udp(50000, 4789)
        .write_to_vec(&payload);
    assert_eq!(run(&m, IN, &tagged).packet, inner);
    assert_eq!(run(&m, IN, &tunnel6(&inner)).packet, inner);
    // A tagged inner frame: after the decap `eth.type` is its TPID and no
    // L3 header is valid (inner tags are not parsed, and nothing is reparsed).
    let inner_tagged = build(eth().single_vlan(vid(5)).ipv4(A4, B4, 64).udp(1, 2));
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let dec = mb.action("dec", &[], vec![Primitive::VxlanDecap]);
    let tx = mb.action("tx", &[], vec![Primitive::Tx]);
    mb.table(&[], call(dec, &[]), false, vec![]);
    mb.table(
        &[(Field::Ipv4Dst, MatchKind::Lpm)],
        call(tx, &[]),
        false,
        vec![],
    );
    let out = run(&mb.done(), IN, &tunnel4(&inner_tagged, 4789, 0x08, VNI));
    assert_eq!(out.verdict, Verdict::Drop);
    assert_eq!(out.packet, inner_tagged);
}

#[test]
fn decap_of_an_encap_is_the_frame_and_push_vlan_keeps_the_tunnel() {
    for inner in [tcp4(1, 2), udp6(3, 4), icmp4(), icmp6()] {
        let m = encap_module(vec![Primitive::VxlanDecap, Primitive::Tx]);
        assert_eq!(run(&m, IN, &inner).packet, inner);
    }
    // push_vlan before a key on the inner headers: the tunnel moved by 4 bytes.
    let inner = tcp4(40000, 443);
    let pkt = tunnel4(&inner, 4789, 0x08, VNI);
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let push = mb.action("push", &[], vec![Primitive::PushVlan(Operand::Const(9))]);
    let tx = mb.action("tx", &[], vec![Primitive::Tx]);
    let dec_tx = mb.action("dec_tx", &[], vec![Primitive::VxlanDecap, Primitive::Tx]);
    mb.table(&[], call(push, &[]), false, vec![]);
    mb.table(
        &[(Field::InnerL4DstPort, MatchKind::Exact)],
        call(tx, &[]),
        false,
        vec![(vec![KeyMatch::Exact(443)], None, call(dec_tx, &[]))],
    );
    let out = run(&mb.done(), IN, &pkt);
    assert_eq!(out.verdict, Verdict::Tx);
    assert_eq!(out.packet, inner);
}

/// Random modules with VXLAN keys, encaps and decaps (testgen with
/// `vxlan: true`) on random frames, many of them tunnelled: the rendered
/// module compiles back (the front end accepts what the generator writes),
/// the interpreter never panics, and every encap/decap path is taken.
#[test]
fn random_vxlan_modules_run_on_random_tunnelled_frames() {
    use crate::testgen;
    let mc = testgen::ModuleConfig {
        vxlan: true,
        ..Default::default()
    };
    let (mut encaps, mut decaps, mut tunnelled, mut frames, mut inner_hits) = (0, 0, 0, 0, 0);
    for seed in 0..150u64 {
        let case = testgen::case_with(seed, &mc, &testgen::EntryConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        for f in testgen::frames(seed ^ 0xf00d, &case.module, 60) {
            frames += 1;
            tunnelled += usize::from(parse(&f.bytes).is_valid(Header::Vxlan));
            let t = run_traced(&case.module, f.in_port, &f.bytes);
            for e in &t.events {
                match e.effect {
                    Effect::VxlanEncap { .. } => encaps += 1,
                    Effect::VxlanDecap { .. } => decaps += 1,
                    _ => {}
                }
            }
            for s in &t.outcome.steps {
                if let Step::Hit { table, .. } = s {
                    let tbl = &case.module.tables[table.0 as usize];
                    inner_hits += usize::from(tbl.keys.iter().any(|k| k.field.is_tunnel()));
                }
            }
        }
    }
    eprintln!(
        "{frames} frames, {tunnelled} tunnelled, {encaps} encaps, {decaps} decaps, {inner_hits} hits on tunnel keys"
    );
    assert!(tunnelled > frames / 5, "{tunnelled} of {frames}");
    assert!(
        encaps > 100 && decaps > 100,
        "{encaps} encaps, {decaps} decaps"
    );
    assert!(inner_hits > 20, "{inner_hits} hits on tunnel keys");
}
