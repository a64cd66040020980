//! Property tests: no input bytes make the interpreter panic, and its
//! rewrites keep checksums correct on well-formed packets.

use super::*;
use proptest::prelude::*;

/// A module that exercises every primitive and match kind, keyed on fields of
/// every header.
fn everything() -> Module {
    let mut mb = Mb::new(DefaultVerdict::Pass);
    let rewrite = mb.action(
        "rewrite",
        &[ParamType::Ipv4, ParamType::Uint(16)],
        vec![
            Primitive::Set {
                field: Field::Ipv4Src,
                value: Operand::Param(0),
            },
            Primitive::Set {
                field: Field::L4DstPort,
                value: Operand::Param(1),
            },
            Primitive::Set {
                field: Field::Ipv6Dst,
                value: Operand::Const(ip6("fd00::1")),
            },
            Primitive::Set {
                field: Field::VlanVid,
                value: Operand::Const(9),
            },
            Primitive::Set {
                field: Field::Ipv4Dscp,
                value: Operand::Const(10),
            },
            Primitive::DecTtl,
        ],
    );
    let vlans = mb.action(
        "vlans",
        &[],
        vec![
            Primitive::PopVlan,
            Primitive::PushVlan(Operand::Const(5)),
            Primitive::PushVlan(Operand::Const(6)),
        ],
    );
    let nop = mb.action("nop", &[], vec![]);
    let out = mb.action(
        "out",
        &[ParamType::Port],
        vec![Primitive::Forward(Operand::Param(0))],
    );
    mb.table(
        &[
            (Field::Ipv4Src, MatchKind::Ternary),
            (Field::L4DstPort, MatchKind::Range),
        ],
        call(rewrite, &[ip4("10.9.8.7"), 4242]),
        true,
        vec![(
            vec![
                KeyMatch::Ternary { value: 0, mask: 0 },
                KeyMatch::Range { lo: 0, hi: 10 },
            ],
            Some(1),
            call(nop, &[]),
        )],
    );
    mb.table(
        &[(Field::EthType, MatchKind::Exact)],
        call(vlans, &[]),
        true,
        vec![],
    );
    mb.table(
        &[(Field::Ipv6Dst, MatchKind::Lpm)],
        call(rewrite, &[ip4("1.1.1.1"), 1]),
        false,
        vec![],
    );
    mb.table(
        &[
            (Field::IcmpType, MatchKind::Exact),
            (Field::TcpFlags, MatchKind::Ternary),
        ],
        call(nop, &[]),
        false,
        vec![],
    );
    mb.table(
        &[(Field::VlanPcp, MatchKind::Exact)],
        call(out, &[2]),
        true,
        vec![],
    );
    mb.done()
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        tcp4(1, 2),
        udp4(A4, B4, 3, 4, 2),
        udp6(5, 6),
        tcp6(7, 8),
        icmp4(),
        icmp6(),
        build(eth().double_vlan(vid(1), vid(2)).ipv4(A4, B4, 64).udp(1, 2)),
        build(eth().single_vlan(vid(1)).ipv6(A6, B6, 64).tcp(1, 2, 3, 4)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), port in 0u16..5) {
        let m = everything();
        let o = run(&m, PortId(port), &bytes);
        prop_assert!(o.packet.len() <= bytes.len() + 8);
    }

    /// Valid packets with a few bytes overwritten and a random cut.
    #[test]
    fn mutated_packets_never_panic(
        which in 0usize..8,
        edits in proptest::collection::vec((0usize..120, any::<u8>()), 0..6),
        cut in 0usize..130,
    ) {
        let mut pkt = seeds()[which].clone();
        for (at, b) in edits {
            if at < pkt.len() {
                pkt[at] = b;
            }
        }
        pkt.truncate(cut.max(1));
        let o = run(&everything(), IN, &pkt);
        prop_assert!(o.packet.len() <= pkt.len() + 8);
    }

    /// Any sequence of writes keeps all checksums correct on valid packets.
    #[test]
    fn rewrites_keep_checksums_correct(
        which in 0usize..4,
        src in any::<u32>(),
        port in any::<u16>(),
        ttl in 2u8..=255,
        dscp in 0u8..64,
    ) {
        let pkt = [tcp4(1000, 2000), udp4(A4, B4, 3, 4, 9), tcp6(5, 6), udp6(7, 8)][which].clone();
        let m = one_action(
            vec![
                Primitive::Set { field: Field::Ipv4Src, value: Operand::Const(src.into()) },
                Primitive::Set { field: Field::Ipv6Src, value: Operand::Const(u128::from(src) << 64 | 7) },
                Primitive::Set { field: Field::L4SrcPort, value: Operand::Const(port.into()) },
                Primitive::Set { field: Field::Ipv4Ttl, value: Operand::Const(ttl.into()) },
                Primitive::Set { field: Field::Ipv4Dscp, value: Operand::Const(dscp.into()) },
                Primitive::DecTtl,
                Primitive::Tx,
            ],
            &[],
            &[],
        );
        let o = run(&m, IN, &pkt);
        let c = checks(&o.packet);
        prop_assert!(c.ipv4.unwrap_or(true) && c.l4 == Some(true), "{c:?}");
    }
}
