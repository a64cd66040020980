//! Tables, entry selection, the skip rule, verdicts and counters.

use super::*;

/// Actions used by most tests: `fwd(port)`, `drop`, `pass`, `nop`, `tx`.
struct Acts {
    fwd: ActionId,
    drop: ActionId,
    pass: ActionId,
    nop: ActionId,
    tx: ActionId,
}

fn acts(mb: &mut Mb) -> Acts {
    Acts {
        fwd: mb.action(
            "fwd",
            &[ParamType::Port],
            vec![Primitive::Forward(Operand::Param(0))],
        ),
        drop: mb.action("drop", &[], vec![Primitive::Drop]),
        pass: mb.action("pass", &[], vec![Primitive::Pass]),
        nop: mb.action("nop", &[], vec![]),
        tx: mb.action("tx", &[], vec![Primitive::Tx]),
    }
}

fn fwd(a: &Acts, p: u16) -> ActionCall {
    call(a.fwd, &[p.into()])
}

#[test]
fn lpm_longest_prefix_wins_whatever_the_order() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let a = acts(&mut mb);
    let lpm = |v: &str, l| {
        vec![KeyMatch::Lpm {
            value: ip4(v),
            prefix_len: l,
        }]
    };
    mb.table(
        &[(Field::Ipv4Dst, MatchKind::Lpm)],
        call(a.pass, &[]),
        true,
        vec![
            (lpm("10.1.0.0", 16), None, fwd(&a, 2)),
            (lpm("0.0.0.0", 0), None, fwd(&a, 9)),
            (lpm("10.1.2.0", 24), None, fwd(&a, 3)),
            (lpm("10.0.0.0", 8), None, fwd(&a, 1)),
            (lpm("10.1.2.3", 32), None, fwd(&a, 4)),
        ],
    );
    let m = mb.done();
    let cases = [
        ("10.1.2.3", 4, 4),
        ("10.1.2.4", 3, 2),
        ("10.1.3.1", 2, 0),
        ("10.200.0.1", 1, 3),
        ("11.0.0.1", 9, 1),
    ];
    for (dst, port, entry) in cases {
        let d: std::net::Ipv4Addr = dst.parse().unwrap();
        let pkt = udp4(A4, d.octets(), 1, 2, 64);
        let o = run(&m, IN, &pkt);
        assert_eq!(o.verdict, Verdict::Forward(PortId(port)), "{dst}");
        assert_eq!(
            o.steps,
            vec![Step::Hit {
                table: TableId(0),
                entry
            }]
        );
        assert_eq!(o.packet, pkt, "forwarding alone does not change bytes");
    }
}

#[test]
fn lpm_with_exact_parts_and_ipv6() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let a = acts(&mut mb);
    mb.table(
        &[
            (Field::MetaInPort, MatchKind::Exact),
            (Field::Ipv6Dst, MatchKind::Lpm),
        ],
        call(a.drop, &[]),
        false,
        vec![
            (
                vec![
                    KeyMatch::Exact(1),
                    KeyMatch::Lpm {
                        value: ip6("2001:db8::"),
                        prefix_len: 32,
                    },
                ],
                None,
                fwd(&a, 2),
            ),
            (
                vec![
                    KeyMatch::Exact(2),
                    KeyMatch::Lpm {
                        value: ip6("2001:db8:1::"),
                        prefix_len: 48,
                    },
                ],
                None,
                fwd(&a, 3),
            ),
        ],
    );
    let m = mb.done();
    let pkt = udp6(1, 2);
    // The /48 is longer but its exact part (in_port 2) does not match.
    assert_eq!(
        run(&m, PortId(1), &pkt).verdict,
        Verdict::Forward(PortId(2))
    );
    assert_eq!(
        run(&m, PortId(2), &pkt).verdict,
        Verdict::Forward(PortId(3))
    );
    assert_eq!(run(&m, PortId(3), &pkt).verdict, Verdict::Drop);
}

#[test]
fn ternary_and_range_highest_priority_wins() {
    let mut mb = Mb::new(DefaultVerdict::Pass);
    let a = acts(&mut mb);
    let any_src = KeyMatch::Ternary { value: 0, mask: 0 };
    let net10 = KeyMatch::Ternary {
        value: ip4("10.0.0.0"),
        mask: 0xff00_0000,
    };
    let host = KeyMatch::Ternary {
        value: ip4("10.1.2.3"),
        mask: u32::MAX.into(),
    };
    let all_ports = KeyMatch::Range { lo: 0, hi: 65535 };
    let ssh = KeyMatch::Range { lo: 22, hi: 22 };
    let high = KeyMatch::Range {
        lo: 1024,
        hi: 65535,
    };
    mb.table(
        &[
            (Field::Ipv4Src, MatchKind::Ternary),
            (Field::L4DstPort, MatchKind::Range),
        ],
        call(a.nop, &[]),
        true,
        vec![
            (vec![net10, ssh], Some(10), call(a.drop, &[])),
            (vec![host, all_ports], Some(20), fwd(&a, 2)),
            (vec![any_src, high], Some(5), call(a.tx, &[])),
            (vec![any_src, ssh], Some(1), fwd(&a, 3)),
        ],
    );
    let m = mb.done();
    let go = |src: &str, dport| {
        let s: std::net::Ipv4Addr = src.parse().unwrap();
        run(&m, IN, &udp4(s.octets(), B4, 1, dport, 64))
    };
    assert_eq!(
        go("10.1.2.3", 22).verdict,
        Verdict::Forward(PortId(2)),
        "20 beats 10"
    );
    assert_eq!(go("10.9.9.9", 22).verdict, Verdict::Drop, "10 beats 1");
    assert_eq!(go("192.0.2.1", 22).verdict, Verdict::Forward(PortId(3)));
    assert_eq!(go("192.0.2.1", 1024).verdict, Verdict::Tx);
    assert_eq!(go("192.0.2.1", 65535).verdict, Verdict::Tx);
    let miss = go("192.0.2.1", 80);
    assert_eq!(
        miss.verdict,
        Verdict::Pass,
        "miss runs nop, then the module default"
    );
    assert_eq!(miss.steps, vec![Step::Miss { table: TableId(0) }]);
    assert_eq!(miss.counters[0].slot, CounterSlot::Default);
    assert_eq!(go("192.0.2.1", 1023).verdict, Verdict::Pass);
}

#[test]
fn exact_match_on_several_keys() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let a = acts(&mut mb);
    mb.table(
        &[
            (Field::Ipv4Protocol, MatchKind::Exact),
            (Field::L4DstPort, MatchKind::Exact),
            (Field::EthSrc, MatchKind::Exact),
        ],
        call(a.drop, &[]),
        false,
        vec![
            (
                vec![
                    KeyMatch::Exact(17),
                    KeyMatch::Exact(53),
                    KeyMatch::Exact(0x0200_0000_0001),
                ],
                None,
                fwd(&a, 1),
            ),
            (
                vec![
                    KeyMatch::Exact(6),
                    KeyMatch::Exact(53),
                    KeyMatch::Exact(0x0200_0000_0001),
                ],
                None,
                fwd(&a, 2),
            ),
        ],
    );
    let m = mb.done();
    assert_eq!(
        run(&m, IN, &udp4(A4, B4, 9, 53, 64)).verdict,
        Verdict::Forward(PortId(1))
    );
    assert_eq!(
        run(&m, IN, &tcp4(9, 53)).verdict,
        Verdict::Forward(PortId(2))
    );
    assert_eq!(run(&m, IN, &udp4(A4, B4, 9, 54, 64)).verdict, Verdict::Drop);
    let mut other_mac = udp4(A4, B4, 9, 53, 64);
    other_mac[11] = 7;
    assert_eq!(run(&m, IN, &other_mac).verdict, Verdict::Drop);
}

#[test]
fn skip_rule_l4_table_never_sees_icmp() {
    let mut mb = Mb::new(DefaultVerdict::Pass);
    let a = acts(&mut mb);
    // A table on l4.dst_port whose default drops everything it sees…
    mb.table(
        &[(Field::L4DstPort, MatchKind::Exact)],
        call(a.drop, &[]),
        true,
        vec![],
    );
    // …then one on ipv4.dst.
    mb.table(
        &[(Field::Ipv4Dst, MatchKind::Exact)],
        call(a.pass, &[]),
        true,
        vec![(vec![KeyMatch::Exact(ip4("10.1.2.3"))], None, fwd(&a, 2))],
    );
    let m = mb.done();
    let o = run(&m, IN, &icmp4());
    assert_eq!(o.verdict, Verdict::Forward(PortId(2)));
    assert_eq!(
        o.steps,
        vec![
            Step::Skipped {
                table: TableId(0),
                missing: Header::L4
            },
            Step::Hit {
                table: TableId(1),
                entry: 0
            },
        ]
    );
    assert_eq!(o.counters.len(), 1, "a skipped table counts nothing");
    assert_eq!(o.counters[0].table, TableId(1));
    // UDP reaches the l4 table and is dropped there; the second never runs.
    let o = run(&m, IN, &udp4(A4, B4, 1, 2, 64));
    assert_eq!(o.verdict, Verdict::Drop);
    assert_eq!(o.steps, vec![Step::Miss { table: TableId(0) }]);
    // IPv6 skips the ipv4 table, reports the first missing header.
    let o = run(&m, IN, &icmp6());
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(
        o.steps[1],
        Step::Skipped {
            table: TableId(1),
            missing: Header::Ipv4
        }
    );
}

#[test]
fn default_verdict_when_no_stage_decides() {
    for (dv, v) in [
        (DefaultVerdict::Pass, Verdict::Pass),
        (DefaultVerdict::Drop, Verdict::Drop),
    ] {
        let mut mb = Mb::new(dv);
        let a = acts(&mut mb);
        mb.table(
            &[(Field::EthType, MatchKind::Exact)],
            call(a.nop, &[]),
            false,
            vec![],
        );
        let m = mb.done();
        assert_eq!(run(&m, IN, &tcp4(1, 2)).verdict, v);
        assert_eq!(run(&m, IN, &[1, 2, 3]).verdict, v, "a 3-byte frame too");
    }
    // No tables at all.
    let m = Mb::new(DefaultVerdict::Drop).done();
    assert_eq!(run(&m, IN, &tcp4(1, 2)).verdict, Verdict::Drop);
}

#[test]
fn terminating_primitives_end_the_pipeline() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let a = acts(&mut mb);
    let mark = mb.action(
        "mark",
        &[],
        vec![Primitive::Set {
            field: Field::EthSrc,
            value: Operand::Const(0x0200_0000_00ee),
        }],
    );
    mb.table(
        &[(Field::MetaInPort, MatchKind::Exact)],
        call(a.nop, &[]),
        true,
        vec![
            (vec![KeyMatch::Exact(1)], None, call(a.tx, &[])),
            (vec![KeyMatch::Exact(2)], None, call(a.pass, &[])),
            (vec![KeyMatch::Exact(3)], None, fwd(&a, 1)),
            (vec![KeyMatch::Exact(4)], None, call(a.drop, &[])),
            (vec![KeyMatch::Exact(5)], None, call(mark, &[])),
        ],
    );
    mb.table(&[], call(mark, &[]), true, vec![]);
    let m = mb.done();
    let pkt = tcp4(1, 2);
    for (port, verdict) in [
        (1, Verdict::Tx),
        (2, Verdict::Pass),
        (3, Verdict::Forward(PortId(1))),
        (4, Verdict::Drop),
    ] {
        let o = run(&m, PortId(port), &pkt);
        assert_eq!(o.verdict, verdict);
        assert_eq!(o.steps.len(), 1, "the second table never runs");
        assert_eq!(o.packet, pkt, "mark never ran");
    }
    let o = run(&m, PortId(5), &pkt);
    assert_eq!(o.verdict, Verdict::Drop, "module default");
    assert_eq!(o.steps.len(), 2);
    assert_eq!(&o.packet[6..12], &[2, 0, 0, 0, 0, 0xee]);
}

#[test]
fn drop_reports_the_bytes_as_dropped() {
    let m = one_action(
        vec![
            Primitive::Set {
                field: Field::Ipv4Ttl,
                value: Operand::Const(9),
            },
            Primitive::Drop,
        ],
        &[],
        &[],
    );
    let pkt = udp4(A4, B4, 1, 2, 64);
    let o = run(&m, IN, &pkt);
    assert_eq!(o.verdict, Verdict::Drop);
    assert_eq!(o.packet[14 + 8], 9);
}

#[test]
fn counters_count_ingress_bytes() {
    let mut mb = Mb::new(DefaultVerdict::Pass);
    let a = acts(&mut mb);
    let push = mb.action("push", &[], vec![Primitive::PushVlan(Operand::Const(5))]);
    mb.table(
        &[(Field::L4DstPort, MatchKind::Exact)],
        call(a.nop, &[]),
        true,
        vec![(vec![KeyMatch::Exact(80)], None, call(push, &[]))],
    );
    mb.table(
        &[(Field::L4DstPort, MatchKind::Exact)],
        call(a.nop, &[]),
        false,
        vec![],
    );
    mb.table(
        &[(Field::VlanVid, MatchKind::Exact)],
        call(a.tx, &[]),
        true,
        vec![],
    );
    let m = mb.done();
    let pkt = tcp4(1, 80);
    let o = run(&m, IN, &pkt);
    assert_eq!(o.packet.len(), pkt.len() + 4);
    assert_eq!(
        o.counters,
        vec![
            CounterHit {
                table: TableId(0),
                slot: CounterSlot::Entry(0),
                bytes: pkt.len() as u64
            },
            CounterHit {
                table: TableId(2),
                slot: CounterSlot::Default,
                bytes: pkt.len() as u64
            },
        ],
        "no hit for the counter-less table; ingress length after a push"
    );
    let o = run(&m, IN, &tcp4(1, 81));
    assert_eq!(
        o.counters.len(),
        1,
        "the vlan table is skipped on untagged frames"
    );
    assert_eq!(o.counters[0].slot, CounterSlot::Default);
    assert_eq!(o.verdict, Verdict::Pass);
}

#[test]
fn default_action_with_arguments() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let a = acts(&mut mb);
    mb.table(
        &[(Field::Ipv4Dst, MatchKind::Lpm)],
        fwd(&a, 3),
        false,
        vec![],
    );
    let m = mb.done();
    assert_eq!(
        run(&m, IN, &tcp4(1, 2)).verdict,
        Verdict::Forward(PortId(3))
    );
}

#[test]
fn smoke_forward_with_rewrite_and_lpm() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let route = mb.action(
        "route",
        &[ParamType::Port, ParamType::Mac],
        vec![
            Primitive::Set {
                field: Field::EthDst,
                value: Operand::Param(1),
            },
            Primitive::DecTtl,
            Primitive::Forward(Operand::Param(0)),
        ],
    );
    let host = mb.action("host", &[], vec![Primitive::Pass]);
    mb.table(
        &[(Field::Ipv4Dst, MatchKind::Lpm)],
        call(host, &[]),
        true,
        vec![
            (
                vec![KeyMatch::Lpm {
                    value: ip4("10.0.0.0"),
                    prefix_len: 8,
                }],
                None,
                call(route, &[2, 0x0200_0000_0009]),
            ),
            (
                vec![KeyMatch::Lpm {
                    value: ip4("10.1.0.0"),
                    prefix_len: 16,
                }],
                None,
                call(route, &[3, 0x0200_0000_000a]),
            ),
        ],
    );
    let m = mb.done();
    let pkt = udp4([1, 1, 1, 1], [10, 1, 2, 3], 1000, 53, 64);
    let t = run_traced(&m, IN, &pkt);
    assert_eq!(t.outcome.verdict, Verdict::Forward(PortId(3)));
    assert_eq!(&t.outcome.packet[..6], &[2, 0, 0, 0, 0, 0x0a]);
    assert_eq!(t.outcome.packet[14 + 8], 63);
    assert_eq!(
        checks(&t.outcome.packet),
        Checks {
            ipv4: Some(true),
            l4: Some(true)
        }
    );
    assert_eq!(t.events.len(), 2);
    assert_eq!(
        t.events[1].effect,
        Effect::Set {
            field: Field::Ipv4Ttl,
            old: 64,
            new: 63
        }
    );
}
