//! The parsing rules: validity and field values, checked against etherparse.

use super::*;

fn valid(pkt: &[u8]) -> Vec<Header> {
    parse(pkt).valid_headers()
}

fn fv(pkt: &[u8], f: Field) -> Option<u128> {
    field_value(&parse(pkt), pkt, IN, f)
}

use Header::*;

#[test]
fn tcp_over_ipv4_fields_agree_with_etherparse() {
    let pkt = tcp4(40000, 443);
    assert_eq!(valid(&pkt), vec![Meta, Eth, Ipv4, L4, Tcp]);
    let s = SlicedPacket::from_ethernet(&pkt).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &s.net else {
        panic!()
    };
    let Some(TransportSlice::Tcp(t)) = &s.transport else {
        panic!()
    };
    assert_eq!(fv(&pkt, Field::EthDst), Some(0x0200_0000_0002));
    assert_eq!(fv(&pkt, Field::EthSrc), Some(0x0200_0000_0001));
    assert_eq!(fv(&pkt, Field::EthType), Some(0x0800));
    assert_eq!(
        fv(&pkt, Field::Ipv4Src),
        Some(u32::from_be_bytes(ip.header().source()).into())
    );
    assert_eq!(fv(&pkt, Field::Ipv4Dst), Some(ip4("10.1.2.3")));
    assert_eq!(fv(&pkt, Field::Ipv4Protocol), Some(6));
    assert_eq!(fv(&pkt, Field::Ipv4Ttl), Some(ip.header().ttl().into()));
    assert_eq!(
        fv(&pkt, Field::Ipv4Dscp),
        Some(ip.header().dcp().value().into())
    );
    assert_eq!(fv(&pkt, Field::L4SrcPort), Some(t.source_port().into()));
    assert_eq!(fv(&pkt, Field::L4DstPort), Some(443));
    assert_eq!(fv(&pkt, Field::TcpFlags), Some(0x02)); // SYN
    assert_eq!(fv(&pkt, Field::MetaInPort), Some(1));
    for f in [
        Field::VlanVid,
        Field::Ipv6Src,
        Field::IcmpType,
        Field::Icmpv6Code,
    ] {
        assert_eq!(fv(&pkt, f), None, "{f}");
    }
}

#[test]
fn dscp_and_flags_bits() {
    let mut pkt = tcp4(1, 2);
    pkt[15] = 0xb9; // DSCP 46 (EF), ECN 1
    pkt[14 + 20 + 13] = 0x12; // SYN|ACK
    assert_eq!(fv(&pkt, Field::Ipv4Dscp), Some(46));
    assert_eq!(fv(&pkt, Field::TcpFlags), Some(0x12));
}

#[test]
fn ipv6_fields() {
    let pkt = udp6(5353, 53);
    assert_eq!(valid(&pkt), vec![Meta, Eth, Ipv6, L4, Udp]);
    assert_eq!(fv(&pkt, Field::Ipv6Src), Some(ip6("2001:db8::a")));
    assert_eq!(fv(&pkt, Field::Ipv6Dst), Some(ip6("2001:db8:1::b")));
    assert_eq!(fv(&pkt, Field::Ipv6NextHeader), Some(17));
    assert_eq!(fv(&pkt, Field::Ipv6HopLimit), Some(64));
    assert_eq!(fv(&pkt, Field::L4SrcPort), Some(5353));
    assert_eq!(fv(&pkt, Field::EthType), Some(0x86dd));
    assert_eq!(valid(&tcp6(1, 2)), vec![Meta, Eth, Ipv6, L4, Tcp]);
}

#[test]
fn icmp_and_icmpv6() {
    let p4 = icmp4();
    assert_eq!(valid(&p4), vec![Meta, Eth, Ipv4, Icmp]);
    assert_eq!(fv(&p4, Field::IcmpType), Some(8));
    assert_eq!(fv(&p4, Field::IcmpCode), Some(0));
    let p6 = icmp6();
    assert_eq!(valid(&p6), vec![Meta, Eth, Ipv6, Icmpv6]);
    assert_eq!(fv(&p6, Field::Icmpv6Type), Some(128));
    // Protocol 58 over IPv4 and 1 over IPv6 are neither.
    let mut x = icmp4();
    x[14 + 9] = 58;
    assert_eq!(valid(&x), vec![Meta, Eth, Ipv4]);
    let mut y = icmp6();
    y[14 + 6] = 1;
    assert_eq!(valid(&y), vec![Meta, Eth, Ipv6]);
}

/// Truncating a frame at every length: each header is valid exactly when its
/// bytes are all there.
#[test]
fn truncated_at_every_length() {
    type Case = (Vec<u8>, Vec<(Header, usize)>);
    let cases: Vec<Case> = vec![
        (tcp4(1, 2), vec![(Eth, 14), (Ipv4, 34), (Tcp, 54), (L4, 54)]),
        (
            udp4(A4, B4, 1, 2, 9),
            vec![(Eth, 14), (Ipv4, 34), (Udp, 42), (L4, 42)],
        ),
        (icmp4(), vec![(Eth, 14), (Ipv4, 34), (Icmp, 42)]),
        (udp6(1, 2), vec![(Eth, 14), (Ipv6, 54), (Udp, 62), (L4, 62)]),
        (tcp6(1, 2), vec![(Eth, 14), (Ipv6, 54), (Tcp, 74), (L4, 74)]),
        (icmp6(), vec![(Eth, 14), (Ipv6, 54), (Icmpv6, 62)]),
        (
            build(eth().single_vlan(vid(7)).ipv4(A4, B4, 3).udp(1, 2)),
            vec![(Eth, 14), (Vlan, 18), (Ipv4, 38), (Udp, 46), (L4, 46)],
        ),
        (
            build(
                eth()
                    .double_vlan(vid(7), vid(8))
                    .ipv6(A6, B6, 3)
                    .tcp(1, 2, 3, 4),
            ),
            vec![(Eth, 14), (Vlan, 18), (Ipv6, 62), (Tcp, 82), (L4, 82)],
        ),
    ];
    for (pkt, needs) in cases {
        for len in 0..=pkt.len() {
            let p = parse(&pkt[..len]);
            for (h, need) in &needs {
                assert_eq!(
                    p.is_valid(*h),
                    len >= *need,
                    "{h} at length {len} of {}",
                    pkt.len()
                );
            }
            // Values are present exactly when their header is valid; never a panic.
            // (`meta.group` is pipeline state: the pipeline reads it.)
            for f in Field::ALL.iter().filter(|f| **f != Field::MetaGroup) {
                let v = field_value(&p, &pkt[..len], IN, *f);
                assert_eq!(v.is_some(), p.is_valid(f.header()), "{f} at {len}");
            }
        }
    }
}

#[test]
fn ipv4_ihl_below_5_or_wrong_version_is_not_valid() {
    for ihl in 0..5u8 {
        let mut pkt = udp4(A4, B4, 1, 2, 64);
        pkt[14] = 0x40 | ihl;
        assert_eq!(valid(&pkt), vec![Meta, Eth], "ihl {ihl}");
        assert_eq!(fv(&pkt, Field::EthType), Some(0x0800));
    }
    let mut pkt = udp4(A4, B4, 1, 2, 64);
    pkt[14] = 0x65;
    assert_eq!(valid(&pkt), vec![Meta, Eth]);
    // IPv6 with version 4 in its first nibble.
    let mut pkt = udp6(1, 2);
    pkt[14] = 0x40;
    assert_eq!(valid(&pkt), vec![Meta, Eth]);
}

/// Inserts IPv4 options (IHL 5 + n words) into a frame with IPv4 at 14.
fn with_options(pkt: &[u8], options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut out = pkt[..34].to_vec();
    out.extend_from_slice(options);
    out.extend_from_slice(&pkt[34..]);
    out[14] = 0x45 + (options.len() / 4) as u8;
    let total = u16::from_be_bytes([out[16], out[17]]) + options.len() as u16;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut out, 14);
    out
}

#[test]
fn ipv4_options_shift_l4() {
    // Record-route-like option bytes padded with NOP/EOL (etherparse accepts any).
    let pkt = with_options(
        &udp4(A4, B4, 1111, 2222, 64),
        &[7, 7, 4, 0, 0, 0, 0, 0, 1, 1, 1, 0],
    );
    assert_eq!(
        checks(&pkt),
        Checks {
            ipv4: Some(true),
            l4: Some(true)
        }
    );
    assert_eq!(valid(&pkt), vec![Meta, Eth, Ipv4, L4, Udp]);
    assert_eq!(parse(&pkt).l4_offset(), 14 + 32);
    assert_eq!(fv(&pkt, Field::L4SrcPort), Some(1111));
    assert_eq!(fv(&pkt, Field::L4DstPort), Some(2222));
    // IHL × 4 bytes must all be present: cut inside the options.
    assert_eq!(valid(&pkt[..14 + 31]), vec![Meta, Eth]);
    // Maximum IHL 15 with 40 option bytes.
    let pkt = with_options(&tcp4(5, 6), &[1; 40]);
    assert_eq!(valid(&pkt), vec![Meta, Eth, Ipv4, L4, Tcp]);
    assert_eq!(fv(&pkt, Field::L4DstPort), Some(6));
}

/// Sets the IPv4 flags/fragment offset word and fixes the checksum.
pub(super) fn fragment(pkt: &[u8], more: bool, offset_units: u16) -> Vec<u8> {
    let mut out = pkt.to_vec();
    let w = if more { 0x2000 } else { 0 } | offset_units;
    out[20..22].copy_from_slice(&w.to_be_bytes());
    fix_ipv4_checksum(&mut out, 14);
    out
}

#[test]
fn fragments() {
    let base = udp4(A4, B4, 1, 2, 64);
    // First fragment (MF, offset 0): L4 parsed normally.
    let first = fragment(&base, true, 0);
    assert_eq!(valid(&first), vec![Meta, Eth, Ipv4, L4, Udp]);
    // Later fragments: no L4 header at all, whatever the bytes say.
    for (more, off) in [(true, 1), (false, 1), (false, 0x1fff)] {
        let later = fragment(&base, more, off);
        let p = parse(&later);
        assert_eq!(p.valid_headers(), vec![Meta, Eth, Ipv4]);
        assert!(p.non_first_fragment);
        assert_eq!(fv(&later, Field::L4DstPort), None);
    }
    let icmp_later = fragment(&icmp4(), false, 3);
    assert_eq!(valid(&icmp_later), vec![Meta, Eth, Ipv4]);
}

/// Inserts an 8-byte IPv6 extension header of type `kind` after the fixed header.
pub(super) fn with_ipv6_ext(pkt: &[u8], kind: u8) -> Vec<u8> {
    let next = pkt[14 + 6];
    let mut out = pkt[..54].to_vec();
    out.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]); // PadN option
    out.extend_from_slice(&pkt[54..]);
    out[14 + 6] = kind;
    let len = u16::from_be_bytes([out[18], out[19]]) + 8;
    out[18..20].copy_from_slice(&len.to_be_bytes());
    out
}

#[test]
fn ipv6_extension_headers_hide_l4() {
    for kind in [0u8, 43, 60] {
        let pkt = with_ipv6_ext(&udp6(1, 2), kind);
        // etherparse walks the header and finds the (intact) UDP datagram…
        let s = SlicedPacket::from_ethernet(&pkt).unwrap();
        assert!(
            matches!(s.transport, Some(TransportSlice::Udp(_))),
            "kind {kind}"
        );
        // …but the rule is: extension headers are not walked.
        assert_eq!(valid(&pkt), vec![Meta, Eth, Ipv6], "kind {kind}");
        assert_eq!(fv(&pkt, Field::Ipv6NextHeader), Some(kind.into()));
    }
}

#[test]
fn tcp_data_offset() {
    let mut pkt = tcp4(1, 2);
    for off in 0..5u8 {
        pkt[14 + 20 + 12] = off << 4;
        assert_eq!(valid(&pkt), vec![Meta, Eth, Ipv4], "data offset {off}");
    }
    // Data offset 15 with only the 20 fixed bytes present is still valid.
    pkt[14 + 20 + 12] = 15 << 4;
    assert_eq!(valid(&pkt[..54]), vec![Meta, Eth, Ipv4, L4, Tcp]);
}

#[test]
fn vlan_tags() {
    let one = build(eth().single_vlan(vid(100)).ipv4(A4, B4, 64).udp(1, 2));
    let p = parse(&one);
    assert_eq!(p.vlan_tags, 1);
    assert_eq!(p.valid_headers(), vec![Meta, Eth, Vlan, Ipv4, L4, Udp]);
    assert_eq!(fv(&one, Field::VlanVid), Some(100));
    assert_eq!(fv(&one, Field::VlanPcp), Some(0));
    assert_eq!(fv(&one, Field::EthType), Some(0x0800));

    let two = build(
        eth()
            .double_vlan(vid(10), vid(20))
            .ipv4(A4, B4, 64)
            .udp(1, 2),
    );
    assert_eq!(
        u16::from_be_bytes([two[12], two[13]]),
        0x88a8,
        "etherparse's outer TPID"
    );
    let p = parse(&two);
    assert_eq!(p.vlan_tags, 2);
    assert_eq!(p.valid_headers(), vec![Meta, Eth, Vlan, Ipv4, L4, Udp]);
    assert_eq!(fv(&two, Field::VlanVid), Some(10), "vlan is the outer tag");
    assert_eq!(fv(&two, Field::L4DstPort), Some(2));

    // Three tags: two parsed, eth.type is the third TPID, no L3.
    let mut three = two[..12].to_vec();
    three.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    three.extend_from_slice(&two[12..]);
    let p = parse(&three);
    assert_eq!(p.vlan_tags, 2);
    assert_eq!(p.valid_headers(), vec![Meta, Eth, Vlan]);
    // Tags: 0x8100 (vid 5), 0x88a8 (vid 10), then 0x8100 (vid 20) unparsed.
    assert_eq!(fv(&three, Field::EthType), Some(0x8100));
    assert_eq!(fv(&three, Field::VlanVid), Some(5));

    // Priority bits.
    let mut pcp = one.clone();
    pcp[14] = 0xa0; // PCP 5
    assert_eq!(fv(&pcp, Field::VlanPcp), Some(5));
    assert_eq!(fv(&pcp, Field::VlanVid), Some(100));
}

#[test]
fn truncated_vlan_tag_stops_parsing() {
    let one = build(eth().single_vlan(vid(100)).ipv4(A4, B4, 64).udp(1, 2));
    for len in 14..18 {
        let p = parse(&one[..len]);
        assert_eq!(p.valid_headers(), vec![Meta, Eth], "len {len}");
        assert_eq!(
            field_value(&p, &one[..len], IN, Field::EthType),
            Some(0x8100)
        );
    }
    let two = build(
        eth()
            .double_vlan(vid(10), vid(20))
            .ipv4(A4, B4, 64)
            .udp(1, 2),
    );
    for len in 18..22 {
        let p = parse(&two[..len]);
        assert_eq!(p.vlan_tags, 1, "len {len}");
        assert_eq!(
            field_value(&p, &two[..len], IN, Field::EthType),
            Some(0x8100)
        );
    }
}

#[test]
fn non_ip_and_short_frames() {
    let mut arp = vec![0u8; 42];
    arp[12] = 0x08;
    arp[13] = 0x06;
    assert_eq!(valid(&arp), vec![Meta, Eth]);
    assert_eq!(fv(&arp, Field::EthType), Some(0x0806));
    for len in 0..14 {
        assert_eq!(valid(&arp[..len]), vec![Meta]);
        assert_eq!(fv(&arp[..len], Field::MetaInPort), Some(1));
    }
}
