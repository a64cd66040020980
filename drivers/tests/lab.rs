//! The veth/netns lab against the real kernel: it creates what it says, names
//! are unique, and everything goes away on drop, on panic and on teardown.

use offload_drivers::lab::{self, packet::PacketSocket, Lab};
use offload_drivers::testenv::require_root;
use std::net::Ipv4Addr;
use std::time::Duration;

#[test]
fn lab_creates_and_removes_hosts() {
    if !require_root("lab_creates_and_removes_hosts") {
        return;
    }
    let (ns, links) = {
        let mut lab = Lab::new("t");
        let a = lab.add_host("a", Ipv4Addr::new(10, 9, 0, 2), 24).unwrap();
        let b = lab.add_host("b", Ipv4Addr::new(10, 9, 1, 2), 24).unwrap();
        assert!(lab::netns_exists(&a.netns));
        assert!(lab::netns_exists(&b.netns));
        assert!(lab::link_exists(&a.outer), "{}", a.outer);
        assert_ne!(a.outer, b.outer);
        assert_ne!(a.mac, b.mac);
        assert!(a.outer.len() <= 15);
        assert_eq!(lab::ifindex(&a.outer), a.outer_ifindex);
        assert!(lab.add_host("a", Ipv4Addr::new(10, 9, 2, 2), 24).is_err());
        (vec![a.netns, b.netns], vec![a.outer, b.outer])
    };
    for n in &ns {
        assert!(!lab::netns_exists(n), "netns {n} left behind");
    }
    for l in &links {
        assert!(!lab::link_exists(l), "link {l} left behind");
    }
}

#[test]
fn two_labs_have_distinct_names() {
    if !require_root("two_labs_have_distinct_names") {
        return;
    }
    let mut l1 = Lab::new("same");
    let mut l2 = Lab::new("same");
    assert_ne!(l1.name(), l2.name());
    let a = l1.add_host("h", Ipv4Addr::new(10, 8, 0, 2), 24).unwrap();
    let b = l2.add_host("h", Ipv4Addr::new(10, 8, 0, 2), 24).unwrap();
    assert_ne!(a.netns, b.netns);
    assert_ne!(a.outer, b.outer);
}

#[test]
fn lab_is_removed_when_a_test_panics() {
    if !require_root("lab_is_removed_when_a_test_panics") {
        return;
    }
    let r = std::panic::catch_unwind(|| {
        let mut lab = Lab::new("panic");
        let h = lab.add_host("h", Ipv4Addr::new(10, 7, 0, 2), 24).unwrap();
        // Smuggle the names out through the panic payload.
        std::panic::panic_any((h.netns, h.outer));
    });
    let payload = r.expect_err("closure panics");
    let (ns, outer) = payload.downcast_ref::<(String, String)>().unwrap().clone();
    assert!(
        !lab::netns_exists(&ns),
        "netns {ns} left behind after panic"
    );
    assert!(
        !lab::link_exists(&outer),
        "link {outer} left behind after panic"
    );
}

#[test]
fn frames_cross_the_wire_both_ways() {
    if !require_root("frames_cross_the_wire_both_ways") {
        return;
    }
    let mut lab = Lab::new("wire");
    let h = lab.add_host("h", Ipv4Addr::new(10, 6, 0, 2), 24).unwrap();
    let inner = PacketSocket::open_in(&h.netns, &h.iface).unwrap();
    let outer = PacketSocket::open(&h.outer).unwrap();
    // A frame with an unused EtherType: no stack reacts to it.
    let mut frame = Vec::new();
    frame.extend_from_slice(&h.outer_mac);
    frame.extend_from_slice(&h.mac);
    frame.extend_from_slice(&[0x88, 0xb5]);
    frame.extend_from_slice(b"offload lab frame, padded to sixty bytes....");
    inner.send(&frame).unwrap();
    let got = outer.drain(Duration::from_millis(200)).unwrap();
    assert!(
        got.contains(&frame),
        "outer side did not see the frame: {got:?}"
    );
    outer.send(&frame).unwrap();
    let got = inner.drain(Duration::from_millis(200)).unwrap();
    assert!(got.contains(&frame), "inner side did not see the frame");
}
