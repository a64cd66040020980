//! `parse(emit(r)) == r` for every `Repr`, and no view panics after
//! `new_checked` on arbitrary bytes.

use super::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}
fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

proptest! {
    #[test]
    fn ethernet_round_trip(d in any::<[u8; 6]>(), s in any::<[u8; 6]>(), t in any::<u16>()) {
        let r = EthernetRepr { dst_addr: EthernetAddress(d), src_addr: EthernetAddress(s), ethertype: t.into() };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut EthernetFrame::new_unchecked(&mut b[..]));
        prop_assert_eq!(EthernetRepr::parse(&EthernetFrame::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn vlan_round_trip(qinq in any::<bool>(), pcp in 0u8..8, dei in any::<bool>(), vid in 0u16..4096) {
        let tpid = if qinq { EtherType::QinQ } else { EtherType::Vlan };
        let r = VlanRepr { tpid, pcp, dei, vid };
        let mut b = [0u8; 4];
        r.emit(&mut VlanTag::new_unchecked(&mut b[..]));
        prop_assert_eq!(VlanRepr::parse(&VlanTag::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn ipv4_round_trip(
        src in v4(), dst in v4(), proto in any::<u8>(), ttl in any::<u8>(), dscp in 0u8..64,
        ecn in 0u8..4, ident in any::<u16>(), df in any::<bool>(), mf in any::<bool>(),
        off in 0u16..8192, payload_len in 0usize..1000,
    ) {
        let r = Ipv4Repr {
            src_addr: src, dst_addr: dst, protocol: proto.into(), ttl, dscp, ecn, ident,
            dont_frag: df, more_frags: mf, frag_offset: off * 8, payload_len,
        };
        let mut b = [0u8; 20];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]));
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn ipv6_round_trip(src in v6(), dst in v6(), nh in any::<u8>(), hl in any::<u8>(),
                       tc in any::<u8>(), fl in 0u32..(1 << 20), len in any::<u16>()) {
        let r = Ipv6Repr { src_addr: src, dst_addr: dst, next_header: nh.into(), hop_limit: hl,
                           traffic_class: tc, flow_label: fl, payload_len: len.into() };
        let mut b = [0u8; 40];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut b[..]));
        prop_assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn tcp_round_trip(sp in any::<u16>(), dp in any::<u16>(), seq in any::<u32>(), ack in any::<u32>(),
                      flags in any::<u8>(), win in any::<u16>(), urg in any::<u16>(),
                      payload in proptest::collection::vec(any::<u8>(), 0..64), s in v6(), d in v6()) {
        let r = TcpRepr { src_port: sp, dst_port: dp, seq_number: seq, ack_number: ack, flags,
                          window_len: win, urgent_at: urg };
        let mut b = vec![0u8; 20];
        b.extend_from_slice(&payload);
        let (s, d) = (IpAddr::V6(s), IpAddr::V6(d));
        r.emit(&mut TcpPacket::new_unchecked(&mut b[..]), &s, &d);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        prop_assert!(p.verify_checksum(&s, &d));
        prop_assert_eq!(TcpRepr::parse(&p).unwrap(), r);
    }

    #[test]
    fn udp_round_trip(sp in any::<u16>(), dp in any::<u16>(),
                      payload in proptest::collection::vec(any::<u8>(), 0..64), s in v4(), d in v4()) {
        let r = UdpRepr { src_port: sp, dst_port: dp };
        let mut b = vec![0u8; 8];
        b.extend_from_slice(&payload);
        let (s, d) = (IpAddr::V4(s), IpAddr::V4(d));
        r.emit(&mut UdpPacket::new_unchecked(&mut b[..]), &s, &d);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        prop_assert_ne!(p.checksum(), 0, "a computed 0 is sent as 0xffff");
        prop_assert!(p.verify_checksum(&s, &d));
        prop_assert_eq!(UdpRepr::parse(&p).unwrap(), r);
    }

    #[test]
    fn icmp_round_trip(t in any::<u8>(), c in any::<u8>(), rest in any::<u32>(),
                       payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let r = IcmpRepr { msg_type: t, code: c, rest_of_header: rest };
        let mut b = vec![0u8; 8];
        b.extend_from_slice(&payload);
        r.emit(&mut IcmpPacket::new_unchecked(&mut b[..]));
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(IcmpRepr::parse(&p).unwrap(), r);
    }

    /// After `new_checked` succeeds every getter is safe; `Repr::parse` never panics.
    #[test]
    fn checked_views_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = Ipv4Packet::new_checked(&b[..]) {
            let _ = (p.options(), p.payload(), p.verify_checksum(), Ipv4Repr::parse(&p));
        }
        if let Ok(p) = Ipv6Packet::new_checked(&b[..]) {
            let _ = (p.payload(), Ipv6Repr::parse(&p));
        }
        if let Ok(p) = TcpPacket::new_checked(&b[..]) {
            let _ = (p.options(), p.payload(), TcpRepr::parse(&p));
        }
        if let Ok(p) = UdpPacket::new_checked(&b[..]) {
            let _ = (p.payload(), UdpRepr::parse(&p));
        }
        if let Ok(p) = IcmpPacket::new_checked(&b[..]) {
            let _ = (p.payload(), IcmpRepr::parse(&p));
        }
        if let Ok(p) = EthernetFrame::new_checked(&b[..]) {
            let _ = (p.payload(), EthernetRepr::parse(&p));
        }
        if let Ok(p) = VlanTag::new_checked(&b[..]) {
            let _ = VlanRepr::parse(&p);
        }
    }

    /// RFC 1624 incremental update equals a full recompute for any change.
    #[test]
    fn incremental_update_equals_recompute(mut data in proptest::collection::vec(any::<u8>(), 2..64),
                                           at in any::<prop::sample::Index>(), new in any::<u16>()) {
        if data.len() % 2 == 1 { data.pop(); }
        let i = at.index(data.len() / 2) * 2;
        let hc = !checksum::sum(&data);
        let old = [data[i], data[i + 1]];
        data[i..i + 2].copy_from_slice(&new.to_be_bytes());
        let inc = checksum::update_words(hc, &old, &data[i..i + 2]);
        // Ones' complement has two zeros; compare as sums (0x0000 ≡ 0xffff).
        let full = !checksum::sum(&data);
        prop_assert!(inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff),
                     "inc {inc:#x} full {full:#x}");
    }
}
