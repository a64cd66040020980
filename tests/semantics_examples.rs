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

/// `inner` in outer eth/ipv4/udp 4789/vxlan (I flag, `vni`) from VTEP 192.0.2.20.
fn vxlan_frame(inner: &[u8], vni: u32) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let mut payload = vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0];
    payload.extend_from_slice(inner);
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0xff, 0x20], [2, 0, 0, 0, 0xff, 1])
        .ipv4([192, 0, 2, 20], [192, 0, 2, 1], 64)
        .udp(50123, 4789)
        .write(&mut out, &payload)
        .unwrap();
    out
}

#[test]
fn vxlan_gateway() {
    let m = example("vxlan-gateway.toml");
    let underlay = port(&m, "underlay");
    let tenant_a = port(&m, "tenant_a");
    let tenant_b = port(&m, "tenant_b");

    // From the underlay, VNI 100 (tenant 1) to a local host: decapsulated,
    // routed on the inner destination, delivered with the inner MACs rewritten.
    let inner = udp4([10, 1, 2, 7], [10, 1, 1, 5], 1234, 80);
    let o = run(&m, underlay, &vxlan_frame(&inner, 100));
    assert_eq!(o.verdict, Verdict::Forward(tenant_a));
    assert_eq!(
        o.packet.len(),
        inner.len(),
        "exactly the outer 50 bytes gone"
    );
    assert_eq!(&o.packet[0..6], &[2, 0, 0, 0, 0x0a, 1]);
    assert_eq!(
        &o.packet[6..12],
        &inner[0..6],
        "old inner dst becomes the src"
    );
    assert_eq!(o.packet[14 + 8], 63, "the inner TTL is decremented");
    assert_eq!(&o.packet[12..14], &inner[12..14]);
    assert!(checksums_ok(&o.packet));
    assert_eq!(o.counters.len(), 2);

    // The same inner frame in VNI 200 belongs to tenant 2: its own port.
    let o = run(&m, underlay, &vxlan_frame(&inner, 200));
    assert_eq!(o.verdict, Verdict::Forward(tenant_b));
    // An unknown VNI is dropped by the tunnels table (counted as its default).
    let o = run(&m, underlay, &vxlan_frame(&inner, 300));
    assert_eq!(o.verdict, Verdict::Drop);
    assert_eq!(o.counters[0].slot, CounterSlot::Default);
    // Without the I flag it is no tunnel: plain UDP to 192.0.2.1 from the
    // underlay belongs to no tenant (group 0) and has no route: dropped.
    let mut no_i = vxlan_frame(&inner, 100);
    no_i[42] = 0;
    let o = run(&m, underlay, &no_i);
    assert_eq!(o.verdict, Verdict::Drop);
    assert!(matches!(o.steps[0], Step::Skipped { .. }));

    // From tenant_a towards 10.1.2.0/24: routed, then encapsulated to VTEP
    // 192.0.2.20 in VNI 100 out of the underlay.
    let local = tcp4([10, 1, 1, 5], [10, 1, 2, 7], 40000, 443, 64, true);
    let o = run(&m, tenant_a, &local);
    assert_eq!(o.verdict, Verdict::Forward(underlay));
    assert_eq!(o.packet.len(), local.len() + 50);
    let s = SlicedPacket::from_ethernet(&o.packet).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &s.net else {
        panic!("outer IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(h.calc_header_checksum(), h.header_checksum);
    assert_eq!((h.source, h.destination), ([192, 0, 2, 1], [192, 0, 2, 20]));
    assert_eq!(h.time_to_live, 64);
    assert!(h.dont_fragment);
    let Some(TransportSlice::Udp(u)) = &s.transport else {
        panic!("outer UDP")
    };
    assert_eq!(u.destination_port(), 4789);
    assert_eq!(u.checksum(), 0);
    assert_eq!(u.source_port() & 0xC000, 0xC000);
    assert_eq!(&o.packet[42..50], &[0x08, 0, 0, 0, 0, 0, 100, 0]);
    // The carried frame is the routed one (TTL 63, checksums right).
    let carried = &o.packet[50..];
    assert_eq!(carried[14 + 8], 63);
    assert!(checksums_ok(carried));
    // Sent back to the gateway, the tunnel is taken apart and the inner
    // frame routed again: 10.1.2.0/24 is remote, so it goes out re-encapsulated
    // with the same outer source port (same inner 5-tuple) and TTL 62 inside.
    let back = run(&m, underlay, &o.packet);
    assert_eq!(back.verdict, Verdict::Forward(underlay));
    assert_eq!(&back.packet[34..36], &o.packet[34..36]);
    assert_eq!(back.packet[50 + 14 + 8], 62);
    // Tenant 2's default route: encapsulated in VNI 200 to 192.0.2.30.
    let o = run(&m, tenant_b, &udp4([10, 1, 1, 9], [8, 8, 8, 8], 5, 53));
    assert_eq!(o.verdict, Verdict::Forward(underlay));
    assert_eq!(&o.packet[14 + 16..14 + 20], &[192, 0, 2, 30]);
    assert_eq!(&o.packet[42..50], &[0x08, 0, 0, 0, 0, 0, 200, 0]);
    // The gateway's own address goes to the host.
    let o = run(&m, tenant_a, &udp4([10, 1, 1, 5], [10, 1, 1, 1], 5, 53));
    assert_eq!(o.verdict, Verdict::Pass);
}

/// Every target refuses the VXLAN example by name (Need::Vxlan), so a
/// planner never places it where its meaning would change.
#[test]
fn vxlan_gateway_is_refused_by_name_on_every_target() {
    use offload_core::plan::{check, Need, Profile};
    let req = example("vxlan-gateway.toml").requirements();
    assert!(req.vxlan_parse && req.vxlan_encap && req.vxlan_decap);
    for profile in [
        Profile::kernel(),
        Profile::nfp(),
        Profile::netdevsim(),
        Profile::v1model(),
        Profile::tna(),
    ] {
        let unmet = check(&req, &profile);
        let named: Vec<&Need> = unmet
            .iter()
            .map(|u| &u.need)
            .filter(|n| matches!(n, Need::Vxlan { .. }))
            .collect();
        // Parse, encap, decap; the NIC profiles also cannot compute the
        // encap's CRC-32 source port (no hash keys).
        let want = if profile.name == "nfp" || profile.name == "netdevsim" {
            4
        } else {
            3
        };
        assert_eq!(named.len(), want, "{}: {unmet:?}", profile.title);
    }
}
