//! `set` and `dec_ttl`: field writes and checksum upkeep, checked by full
//! recomputation with etherparse.

use super::parsing::{fragment, with_ipv6_ext};
use super::*;
use crate::wire::checksum;

const GOOD: Checks = Checks {
    ipv4: Some(true),
    l4: Some(true),
};
const GOOD6: Checks = Checks {
    ipv4: None,
    l4: Some(true),
};

/// Writes `field := value` and checks the value reads back, only the field's
/// bytes and the checksums changed, and every checksum is correct.
fn check_set(pkt: &[u8], field: Field, value: u128, expect: Checks) {
    assert!(
        checks(pkt).l4.unwrap_or(true) && checks(pkt).ipv4.unwrap_or(true),
        "input is correct"
    );
    let t = set_tx(pkt, field, value);
    let out = &t.outcome.packet;
    let old = field_value(&parse(pkt), pkt, IN, field).unwrap();
    assert_eq!(
        t.events,
        vec![Event {
            table: TableId(0),
            effect: Effect::Set {
                field,
                old,
                new: value
            }
        }]
    );
    assert_eq!(
        field_value(&parse(out), out, IN, field),
        Some(value),
        "{field}"
    );
    assert_eq!(checks(out), expect, "{field} := {value:#x}");
    assert_eq!(out.len(), pkt.len());
}

#[test]
fn set_every_writable_field_keeps_checksums_correct() {
    let v4 = [tcp4(40000, 443), udp4(A4, B4, 5000, 53, 64)];
    for pkt in &v4 {
        check_set(pkt, Field::Ipv4Src, ip4("203.0.113.77"), GOOD);
        check_set(pkt, Field::Ipv4Dst, ip4("198.51.100.1"), GOOD);
        check_set(pkt, Field::Ipv4Ttl, 3, GOOD);
        check_set(pkt, Field::Ipv4Dscp, 46, GOOD);
        check_set(pkt, Field::L4SrcPort, 12345, GOOD);
        check_set(pkt, Field::L4DstPort, 0xffff, GOOD);
        check_set(pkt, Field::L4DstPort, 0, GOOD);
        check_set(pkt, Field::EthDst, 0xffff_ffff_ffff, GOOD);
        check_set(pkt, Field::EthSrc, 0x0200_dead_beef, GOOD);
    }
    for pkt in [tcp6(40000, 443), udp6(5000, 53)] {
        check_set(&pkt, Field::Ipv6Src, ip6("fd00::1234:5678"), GOOD6);
        check_set(&pkt, Field::Ipv6Dst, ip6("::1"), GOOD6);
        check_set(&pkt, Field::Ipv6HopLimit, 1, GOOD6);
        check_set(&pkt, Field::L4SrcPort, 7, GOOD6);
        check_set(&pkt, Field::L4DstPort, 8, GOOD6);
    }
    // Behind a VLAN tag (offsets shift by 4).
    let tagged = build(eth().single_vlan(vid(3)).ipv4(A4, B4, 64).tcp(1, 2, 3, 4));
    check_set(&tagged, Field::Ipv4Dst, ip4("1.2.3.4"), GOOD);
    check_set(&tagged, Field::L4DstPort, 9999, GOOD);
}

#[test]
fn set_dscp_keeps_ecn() {
    let mut pkt = udp4(A4, B4, 1, 2, 64);
    pkt[15] = 0x03; // ECN CE
    fix_ipv4_checksum(&mut pkt, 14);
    let out = set_tx(&pkt, Field::Ipv4Dscp, 0x2e).outcome.packet;
    assert_eq!(out[15], (0x2e << 2) | 3);
    assert_eq!(checks(&out), GOOD);
}

#[test]
fn set_masks_the_value_to_the_field_width() {
    let out = set_tx(&udp4(A4, B4, 1, 2, 64), Field::Ipv4Dscp, 0xff)
        .outcome
        .packet;
    assert_eq!(out[15], 0xfc);
    assert_eq!(checks(&out), GOOD);
}

#[test]
fn options_do_not_confuse_checksum_updates() {
    let mut pkt = udp4(A4, B4, 1111, 2222, 64);
    let opts = [1u8, 1, 1, 0];
    pkt.splice(34..34, opts);
    pkt[14] = 0x46;
    pkt[17] += 4;
    fix_ipv4_checksum(&mut pkt, 14);
    assert_eq!(checks(&pkt), GOOD);
    check_set(&pkt, Field::Ipv4Src, ip4("9.9.9.9"), GOOD);
    check_set(&pkt, Field::L4DstPort, 4444, GOOD);
}

/// The ones-complement sum over a region including its checksum: 0xffff when
/// correct; an incremental update keeps it (a wrong checksum stays as wrong).
fn residual(data: &[u8]) -> u16 {
    checksum::sum(data)
}

#[test]
fn wrong_checksums_stay_exactly_as_wrong() {
    let mut pkt = tcp4(1, 2);
    pkt[14 + 10] ^= 0x5a; // break the IPv4 checksum
    pkt[14 + 20 + 17] ^= 0x33; // and the TCP one
    let ip_before = residual(&pkt[14..34]);
    assert_ne!(ip_before, 0xffff);
    let tcp_sum = |p: &[u8]| {
        let ph = checksum::pseudo_header(
            &std::net::Ipv4Addr::from([p[26], p[27], p[28], p[29]]).into(),
            &std::net::Ipv4Addr::from([p[30], p[31], p[32], p[33]]).into(),
            6,
            (p.len() - 34) as u32,
        );
        checksum::combine(&[ph, checksum::sum(&p[34..])])
    };
    let tcp_before = tcp_sum(&pkt);
    assert_ne!(tcp_before, 0xffff);
    for (field, value) in [
        (Field::Ipv4Src, ip4("1.2.3.4")),
        (Field::L4DstPort, 999),
        (Field::Ipv4Ttl, 5),
    ] {
        let out = set_tx(&pkt, field, value).outcome.packet;
        assert_eq!(residual(&out[14..34]), ip_before, "{field}");
        assert_eq!(tcp_sum(&out), tcp_before, "{field}");
        assert_eq!(
            checks(&out),
            Checks {
                ipv4: Some(false),
                l4: Some(false)
            }
        );
    }
}

fn udp_zero(pkt: &[u8], at: usize) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[at] = 0;
    p[at + 1] = 0;
    p
}

#[test]
fn udp_zero_checksum_stays_zero() {
    let v4 = udp_zero(&udp4(A4, B4, 1, 2, 64), 14 + 20 + 6);
    for (f, v) in [
        (Field::Ipv4Src, ip4("8.8.8.8")),
        (Field::L4DstPort, 77),
        (Field::L4SrcPort, 1),
    ] {
        let out = set_tx(&v4, f, v).outcome.packet;
        assert_eq!(&out[40..42], &[0, 0], "{f}");
        assert_eq!(checks(&out).ipv4, Some(true));
    }
    // IPv6 (where a zero checksum is not allowed on the wire): it stays 0 too.
    let v6 = udp_zero(&udp6(1, 2), 14 + 40 + 6);
    for (f, v) in [(Field::Ipv6Dst, ip6("fe80::9")), (Field::L4DstPort, 77)] {
        let out = set_tx(&v6, f, v).outcome.packet;
        assert_eq!(&out[60..62], &[0, 0], "{f}");
    }
}

#[test]
fn udp_incremental_zero_becomes_ffff() {
    // Pick a destination port that makes the full checksum come out as 0.
    let pkt = udp4(A4, B4, 1, 0, 64);
    let l4 = 34;
    let mut probe = pkt.clone();
    probe[l4 + 6] = 0;
    probe[l4 + 7] = 0;
    let ph = checksum::pseudo_header(
        &std::net::Ipv4Addr::from(A4).into(),
        &std::net::Ipv4Addr::from(B4).into(),
        17,
        (pkt.len() - l4) as u32,
    );
    let rest = checksum::combine(&[ph, checksum::sum(&probe[l4..])]);
    let port = !rest; // rest + port = 0xffff → checksum field !0xffff = 0
    assert_ne!(port, 0);
    let out = set_tx(&pkt, Field::L4DstPort, port.into()).outcome.packet;
    assert_eq!(u16::from_be_bytes([out[l4 + 2], out[l4 + 3]]), port);
    assert_eq!(&out[l4 + 6..l4 + 8], &[0xff, 0xff]);
    assert_eq!(checks(&out), GOOD, "0xffff is the valid encoding");
}

#[test]
fn icmp_checksums_are_never_touched() {
    let pkt = icmp4();
    let out = set_tx(&pkt, Field::Ipv4Src, ip4("7.7.7.7")).outcome.packet;
    assert_eq!(&out[34..], &pkt[34..], "ICMP bytes unchanged");
    assert_eq!(
        checks(&out),
        Checks {
            ipv4: Some(true),
            l4: Some(true)
        },
        "ICMPv4 has no pseudo-header"
    );
    let pkt6 = icmp6();
    let out = set_tx(&pkt6, Field::Ipv6Src, ip6("fe80::7")).outcome.packet;
    assert_eq!(&out[54..], &pkt6[54..]);
    assert_eq!(
        checks(&out).l4,
        Some(false),
        "so ICMPv6's pseudo-header checksum goes stale"
    );
}

#[test]
fn non_first_fragment_l4_bytes_untouched() {
    let pkt = fragment(&udp4(A4, B4, 1, 2, 64), false, 1);
    let out = set_tx(&pkt, Field::Ipv4Dst, ip4("4.4.4.4")).outcome.packet;
    assert_eq!(&out[34..], &pkt[34..]);
    let ip = etherparse::Ipv4HeaderSlice::from_slice(&out[14..]).unwrap();
    assert_eq!(ip.to_header().calc_header_checksum(), ip.header_checksum());
    // A first fragment's L4 checksum is updated like any packet's.
    let first = fragment(&udp4(A4, B4, 1, 2, 64), true, 0);
    let out = set_tx(&first, Field::Ipv4Dst, ip4("4.4.4.4"))
        .outcome
        .packet;
    assert_ne!(&out[40..42], &first[40..42]);
    // l4 fields on a later fragment: header not valid → no-op.
    let t = set_tx(&pkt, Field::L4DstPort, 5);
    assert_eq!(t.outcome.packet, pkt);
    assert_eq!(
        t.events[0].effect,
        Effect::SetIgnored {
            field: Field::L4DstPort
        }
    );
}

#[test]
fn ipv6_extension_header_l4_checksum_not_updated() {
    let pkt = with_ipv6_ext(&udp6(1, 2), 0);
    let out = set_tx(&pkt, Field::Ipv6Src, ip6("2001:db8::99"))
        .outcome
        .packet;
    assert_eq!(&out[54..], &pkt[54..]);
    assert_eq!(
        checks(&out).l4,
        Some(false),
        "the hidden UDP checksum is now stale"
    );
}

#[test]
fn set_on_invalid_header_is_a_no_op() {
    let cases: Vec<(Vec<u8>, Field)> = vec![
        (icmp4(), Field::L4DstPort),
        (tcp4(1, 2), Field::Ipv6Src),
        (udp6(1, 2), Field::Ipv4Ttl),
        (tcp4(1, 2), Field::VlanVid),
        (vec![0u8; 10], Field::EthDst),
    ];
    for (pkt, f) in cases {
        let t = set_tx(&pkt, f, 1);
        assert_eq!(t.outcome.packet, pkt, "{f}");
        assert_eq!(t.events[0].effect, Effect::SetIgnored { field: f });
        assert_eq!(t.outcome.verdict, Verdict::Tx, "the action goes on");
    }
}

fn dec_then_forward() -> Module {
    one_action(
        vec![Primitive::DecTtl, Primitive::Forward(Operand::Const(2))],
        &[],
        &[],
    )
}

#[test]
fn dec_ttl_ipv4() {
    let m = dec_then_forward();
    for ttl in [2u8, 64, 255] {
        let pkt = udp4(A4, B4, 1, 2, ttl);
        let o = run(&m, IN, &pkt);
        assert_eq!(o.verdict, Verdict::Forward(PortId(2)));
        assert_eq!(o.packet[22], ttl - 1);
        assert_eq!(checks(&o.packet), GOOD);
        let mut expect = pkt.clone();
        expect[22] = ttl - 1;
        fix_ipv4_checksum(&mut expect, 14);
        assert_eq!(o.packet, expect, "only TTL and checksum change");
    }
    for ttl in [0u8, 1] {
        let pkt = udp4(A4, B4, 1, 2, ttl);
        let t = run_traced(&m, IN, &pkt);
        assert_eq!(
            t.outcome.verdict,
            Verdict::Pass,
            "ttl {ttl} goes to the host"
        );
        assert_eq!(t.outcome.packet, pkt, "unchanged");
        assert_eq!(
            t.events[0].effect,
            Effect::TtlExpired {
                field: Field::Ipv4Ttl,
                value: ttl
            }
        );
    }
}

#[test]
fn dec_ttl_ipv6_and_non_ip() {
    let m = dec_then_forward();
    let pkt = udp6(1, 2);
    let o = run(&m, IN, &pkt);
    assert_eq!(o.verdict, Verdict::Forward(PortId(2)));
    assert_eq!(o.packet[14 + 7], 63);
    assert_eq!(checks(&o.packet), GOOD6, "hop limit is not checksummed");
    for hl in [0u8, 1] {
        let mut p = udp6(1, 2);
        p[14 + 7] = hl;
        let o = run(&m, IN, &p);
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(o.packet, p);
    }
    let mut p = udp6(1, 2);
    p[14 + 7] = 2;
    assert_eq!(run(&m, IN, &p).packet[14 + 7], 1);
    // Not IP: no-op, the action continues.
    let arp = {
        let mut a = vec![0u8; 42];
        a[12] = 8;
        a[13] = 6;
        a
    };
    let t = run_traced(&m, IN, &arp);
    assert_eq!(t.outcome.verdict, Verdict::Forward(PortId(2)));
    assert_eq!(t.outcome.packet, arp);
    assert_eq!(t.events[0].effect, Effect::DecTtlIgnored);
    // An IPv4 header with IHL < 5 is not valid: no-op too.
    let mut bad = udp4(A4, B4, 1, 2, 1);
    bad[14] = 0x44;
    assert_eq!(run(&m, IN, &bad).verdict, Verdict::Forward(PortId(2)));
}

#[test]
fn vlan_fields_write_the_outer_tag() {
    let two = build(
        eth()
            .double_vlan(vid(10), vid(20))
            .ipv4(A4, B4, 64)
            .udp(1, 2),
    );
    let out = set_tx(&two, Field::VlanVid, 0xabc).outcome.packet;
    assert_eq!(&out[14..16], &[0x0a, 0xbc]);
    assert_eq!(&out[18..20], &two[18..20], "inner tag untouched");
    let out = set_tx(&out, Field::VlanPcp, 7).outcome.packet;
    assert_eq!(&out[14..16], &[0xea, 0xbc]);
    assert_eq!(&out[..14], &two[..14]);
    assert_eq!(&out[16..], &two[16..]);
    let s = SlicedPacket::from_ethernet(&out).unwrap();
    let Some(etherparse::VlanSlice::DoubleVlan(d)) = s.vlan else {
        panic!()
    };
    assert_eq!(d.outer().vlan_identifier().value(), 0xabc);
    assert_eq!(d.outer().priority_code_point().value(), 7);
    assert_eq!(d.inner().vlan_identifier().value(), 20);
}

#[test]
fn writing_the_current_value_changes_no_byte() {
    // Even with a UDP checksum of 0xffff (a computed 0), where a blind
    // RFC 1624 update with m == m' would produce 0x0000.
    let mut pkt = udp4(A4, B4, 1, 2, 64);
    pkt[40] = 0xff;
    pkt[41] = 0xff;
    for (f, v) in [
        (Field::L4DstPort, 2),
        (Field::Ipv4Src, u32::from_be_bytes(A4).into()),
        (Field::Ipv4Ttl, 64),
    ] {
        assert_eq!(set_tx(&pkt, f, v).outcome.packet, pkt, "{f}");
    }
}

#[test]
fn ethernet_padding_is_ignored_by_updates() {
    // A minimum-size frame: 14 + 20 + 8 + 2 payload bytes, padded to 60.
    let mut pkt = Vec::new();
    PacketBuilder::ethernet2(SMAC, DMAC)
        .ipv4(A4, B4, 64)
        .udp(1, 2)
        .write(&mut pkt, b"hi")
        .unwrap();
    pkt.resize(60, 0);
    check_set(&pkt, Field::Ipv4Dst, ip4("10.10.10.10"), GOOD);
    check_set(&pkt, Field::L4SrcPort, 4321, GOOD);
}

/// `body` then `tx` on one packet: the frame out.
fn run_body(pkt: &[u8], body: Vec<Primitive>) -> Trace {
    let mut body = body;
    body.push(Primitive::Tx);
    run_traced(&one_action(body, &[], &[]), IN, pkt)
}

#[test]
fn copy_reads_the_field_as_earlier_primitives_left_it() {
    // The P4 tutorials' forwarding step: the old destination MAC becomes the
    // source, then the destination is written.
    let pkt = tcp4(40000, 443);
    let (dst0, src0) = (
        field_value(&parse(&pkt), &pkt, IN, Field::EthDst).unwrap(),
        field_value(&parse(&pkt), &pkt, IN, Field::EthSrc).unwrap(),
    );
    assert_ne!(dst0, src0);
    let t = run_body(
        &pkt,
        vec![
            Primitive::Copy {
                field: Field::EthSrc,
                from: Field::EthDst,
            },
            Primitive::Set {
                field: Field::EthDst,
                value: Operand::Const(0x02aa_bbcc_ddee),
            },
        ],
    );
    let out = &t.outcome.packet;
    assert_eq!(field_value(&parse(out), out, IN, Field::EthSrc), Some(dst0));
    assert_eq!(
        field_value(&parse(out), out, IN, Field::EthDst),
        Some(0x02aa_bbcc_ddee)
    );
    // The other order copies the new value.
    let t = run_body(
        &pkt,
        vec![
            Primitive::Set {
                field: Field::EthDst,
                value: Operand::Const(0x02aa_bbcc_ddee),
            },
            Primitive::Copy {
                field: Field::EthSrc,
                from: Field::EthDst,
            },
        ],
    );
    let out = &t.outcome.packet;
    assert_eq!(
        field_value(&parse(out), out, IN, Field::EthSrc),
        Some(0x02aa_bbcc_ddee)
    );
}

#[test]
fn copies_keep_checksums_correct() {
    let copy = |field: Field, from: Field| vec![Primitive::Copy { field, from }];
    for pkt in [tcp4(40000, 443), udp4(A4, B4, 5000, 53, 64)] {
        for (field, from) in [
            (Field::Ipv4Src, Field::Ipv4Dst),
            (Field::Ipv4Dst, Field::Ipv4Src),
            (Field::L4SrcPort, Field::L4DstPort),
            (Field::L4DstPort, Field::Ipv4Ttl),
            (Field::Ipv4Ttl, Field::Ipv4Dscp),
            (Field::Ipv4Dscp, Field::VlanPcp),
        ] {
            let t = run_body(&pkt, copy(field, from));
            let out = &t.outcome.packet;
            assert_eq!(checks(out), GOOD, "{field} <- {from}");
            let want = field_value(&parse(&pkt), &pkt, IN, from);
            let got = field_value(&parse(out), out, IN, field);
            match want {
                Some(v) => assert_eq!(got, Some(v), "{field} <- {from}"),
                // No VLAN tag: nothing to copy, nothing changes.
                None => {
                    assert_eq!(out, &pkt, "{field} <- {from}");
                    assert!(matches!(t.events[0].effect, Effect::CopyIgnored { .. }));
                }
            }
        }
    }
    for pkt in [tcp6(40000, 443), udp6(5000, 53)] {
        let t = run_body(&pkt, copy(Field::Ipv6Dst, Field::Ipv6Src));
        let out = &t.outcome.packet;
        assert_eq!(checks(out), GOOD6);
        assert_eq!(
            field_value(&parse(out), out, IN, Field::Ipv6Dst),
            field_value(&parse(&pkt), &pkt, IN, Field::Ipv6Src)
        );
    }
}

#[test]
fn a_copy_into_an_invalid_header_changes_nothing() {
    // An IPv6 packet: ipv4.ttl's header is not valid.
    let pkt = tcp6(40000, 443);
    let t = run_body(
        &pkt,
        vec![Primitive::Copy {
            field: Field::Ipv4Ttl,
            from: Field::Ipv6HopLimit,
        }],
    );
    assert_eq!(t.outcome.packet, pkt);
    assert_eq!(
        t.events[0].effect,
        Effect::SetIgnored {
            field: Field::Ipv4Ttl
        }
    );
}
