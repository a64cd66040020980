//! The shipped example modules, compiled from their TOML and run by the
//! reference interpreter on packets built with etherparse.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice, VlanId};
use offload_core::ir::{Module, PortId};
use offload_core::semantics::{run, CounterSlot, Step, Verdict};

fn example(name: &str) -> Module {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap();
    offload_core::spec::compile(&src).unwrap_or_else(|d| panic!("{path}: {d:?}"))
}

fn port(m: &Module, name: &str) -> PortId {
    m.port_by_name(name).unwrap().id
}

const PAYLOAD: &[u8] = b"offload example payload";

fn tcp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, ttl: u8, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 1])
        .ipv4(src, dst, ttl)
        .tcp(sport, dport, 1, 1024);
    let b = if syn { b.syn() } else { b.ack(5) };
    let mut v = Vec::new();
    b.write(&mut v, PAYLOAD).unwrap();
    v
}

fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 1])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, PAYLOAD).unwrap();
    v
}

/// IPv4 and TCP/UDP checksums are all correct (full recompute by etherparse).
fn checksums_ok(frame: &[u8]) -> bool {
    let s = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &s.net else {
        return true;
    };
    let h = ip.header();
    let ip_ok = h.to_header().calc_header_checksum() == h.header_checksum();
    let l4_ok = match &s.transport {
        Some(TransportSlice::Tcp(t)) => {
            t.calc_checksum_ipv4(h.source(), h.destination()).unwrap() == t.checksum()
        }
        Some(TransportSlice::Udp(u)) => {
            u.checksum() == 0
                || u.to_header()
                    .calc_checksum_ipv4(&h.to_header(), u.payload())
                    .unwrap()
                    == u.checksum()
        }
        _ => true,
    };
    ip_ok && l4_ok
}

#[test]
fn edge_router() {
    let m = example("edge-router.toml");
    let up = port(&m, "uplink");
    // SSH from the management network: allowed, routed to servers with MAC rewrite + TTL.
    let pkt = tcp4([10, 0, 0, 5], [192, 168, 1, 20], 40000, 22, 64, true);
    let o = run(&m, up, &pkt);
    assert_eq!(o.verdict, Verdict::Forward(port(&m, "servers")));
    assert_eq!(&o.packet[..12], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    assert_eq!(o.packet[14 + 8], 63);
    assert!(checksums_ok(&o.packet));
    // SSH from elsewhere: denied by the lower-priority rule.
    let o = run(
        &m,
        up,
        &tcp4([172, 16, 0, 5], [192, 168, 1, 20], 40000, 22, 64, true),
    );
    assert_eq!(o.verdict, Verdict::Drop);
    // NetBIOS over UDP: denied.
    assert_eq!(
        run(&m, up, &udp4([1, 1, 1, 1], [192, 168, 1, 20], 5, 138)).verdict,
        Verdict::Drop
    );
    // Longest prefix: /24 beats /16; /16 alone → backup.
    let o = run(&m, up, &udp4([1, 1, 1, 1], [192, 168, 7, 7], 5, 53));
    assert_eq!(o.verdict, Verdict::Forward(port(&m, "backup")));
    assert!(checksums_ok(&o.packet));
    // TTL 1: to the host, unchanged TTL.
    let o = run(
        &m,
        up,
        &tcp4([1, 1, 1, 1], [192, 168, 1, 1], 5, 443, 1, false),
    );
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.packet[14 + 8], 1);
    // No route: to the host. ICMP skips the acl (l4 key) and is routed.
    assert_eq!(
        run(&m, up, &udp4([1, 1, 1, 1], [8, 8, 8, 8], 5, 53)).verdict,
        Verdict::Pass
    );
    let mut icmp = Vec::new();
    PacketBuilder::ethernet2([2; 6], [3; 6])
        .ipv4([1, 1, 1, 1], [192, 168, 1, 9], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut icmp, PAYLOAD)
        .unwrap();
    let o = run(&m, up, &icmp);
    assert!(matches!(o.steps[0], Step::Skipped { .. }));
    assert_eq!(o.verdict, Verdict::Forward(port(&m, "servers")));
}

#[test]
fn l2_switch() {
    let m = example("l2-switch.toml");
    let frame = |dst: [u8; 6]| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 1, 1], dst)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2)
            .write(&mut v, PAYLOAD)
            .unwrap();
        v
    };
    // access1 → access2: tagged with VLAN 10 on the way in, untagged on the way out.
    let pkt = frame([2, 0, 0, 0, 1, 2]);
    let o = run(&m, port(&m, "access1"), &pkt);
    assert_eq!(o.verdict, Verdict::Forward(port(&m, "access2")));
    assert_eq!(o.packet, pkt, "push then pop gives back the frame");
    // access3 → trunk: leaves with VLAN 0x14.
    let o = run(&m, port(&m, "access3"), &frame([2, 0, 0, 0, 0x0f, 1]));
    assert_eq!(o.verdict, Verdict::Forward(port(&m, "trunk")));
    let s = SlicedPacket::from_ethernet(&o.packet).unwrap();
    let Some(etherparse::VlanSlice::SingleVlan(tag)) = s.vlan else {
        panic!("tagged")
    };
    assert_eq!(tag.vlan_identifier(), VlanId::try_new(0x14).unwrap());
    // Unknown destination: to the host (default action), counted on the default slot.
    let o = run(&m, port(&m, "access1"), &frame([2, 0, 0, 0, 9, 9]));
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.counters[0].slot, CounterSlot::Default);
    // A tagged frame on the trunk to access1: popped and forwarded.
    let mut tagged = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 7], [2, 0, 0, 0, 1, 1])
        .single_vlan(VlanId::try_new(10).unwrap())
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1, 2)
        .write(&mut tagged, PAYLOAD)
        .unwrap();
    let o = run(&m, port(&m, "trunk"), &tagged);
    assert_eq!(o.verdict, Verdict::Forward(port(&m, "access1")));
    assert_eq!(o.packet.len(), tagged.len() - 4);
}

#[test]
fn ddos_filter() {
    let m = example("ddos-filter.toml");
    let p = PortId(0);
    // Botnet range: blocked whatever the protocol.
    assert_eq!(
        run(&m, p, &udp4([203, 0, 113, 9], [192, 0, 2, 1], 1, 2)).verdict,
        Verdict::Drop
    );
    // DNS responses: blocked, except from our resolver (priority 200).
    assert_eq!(
        run(&m, p, &udp4([8, 8, 8, 8], [192, 0, 2, 1], 53, 999)).verdict,
        Verdict::Drop
    );
    let o = run(&m, p, &udp4([198, 51, 100, 53], [192, 0, 2, 1], 53, 999));
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.counters[0].slot, CounterSlot::Entry(4));
    // memcached reflection.
    assert_eq!(
        run(&m, p, &udp4([8, 8, 8, 8], [192, 0, 2, 1], 11211, 9)).verdict,
        Verdict::Drop
    );
    // SYN to 443: dropped; SYN to 22: host; ACK to 443: allowed.
    assert_eq!(
        run(&m, p, &tcp4([1, 2, 3, 4], [192, 0, 2, 1], 5, 443, 64, true)).verdict,
        Verdict::Drop
    );
    assert_eq!(
        run(&m, p, &tcp4([1, 2, 3, 4], [192, 0, 2, 1], 5, 22, 64, true)).verdict,
        Verdict::Pass
    );
    let o = run(
        &m,
        p,
        &tcp4([1, 2, 3, 4], [192, 0, 2, 1], 5, 443, 64, false),
    );
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.counters.len(), 3, "all three tables counted (defaults)");
    // Honeypot: reflected.
    assert_eq!(
        run(&m, p, &udp4([1, 2, 3, 4], [192, 0, 2, 66], 5, 9)).verdict,
        Verdict::Tx
    );
}
