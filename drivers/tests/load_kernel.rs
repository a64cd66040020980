//! Loading and attaching on veths: XDP native, XDP generic and tc (tcx), what
//! the kernel reports back, pins that outlive their process, atomic
//! replacement under traffic with zero loss, detach.

mod common;

use common::*;
use offload_drivers::lab::{netns::in_netns, packet::PacketSocket, Host, Lab};
use offload_drivers::load::{attach, bpffs, observe, program, Mode};
use offload_drivers::sys::{self, Kernel};
use offload_drivers::testenv::require_root;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The port map's value for `ifindex`: the ifindex, padded to the map's value
/// size (a DEVMAP value is `struct bpf_devmap_val`, 8 bytes, under aya 0.14).
fn port_value(m: &program::LoadedMap, ifindex: u32) -> Vec<u8> {
    let mut v = ifindex.to_ne_bytes().to_vec();
    v.resize(m.info.value_size as usize, 0);
    v
}

fn two_hosts(tag: &str) -> (Lab, Host, Host) {
    let mut lab = Lab::new(tag);
    let a = lab.add_host("a", Ipv4Addr::new(10, 1, 0, 2), 24).unwrap();
    let b = lab.add_host("b", Ipv4Addr::new(10, 2, 0, 2), 24).unwrap();
    (lab, a, b)
}

/// Veth delivers XDP-redirected frames only to a peer that runs XDP itself
/// (or has GRO on): give the far host a pass-everything program.
fn xdp_pass_on_peer(b: &Host) {
    let obj = xdp_pass("peer_pass");
    let ns = b.netns.clone();
    in_netns(&ns, move || {
        let mut l = program::load(&obj, "peer_pass", Mode::Native).unwrap();
        let idx = offload_drivers::lab::ifindex("eth0");
        let att = attach::attach(&Kernel, &mut l, "eth0", idx).unwrap();
        // Leak the link: it lives as long as the namespace's veth.
        std::mem::forget(att);
    })
    .unwrap();
}

fn forward_test(mode: Mode) {
    let (_lab, a, b) = two_hosts(&format!("fw{}", mode.name()));
    if mode == Mode::Native {
        xdp_pass_on_peer(&b);
    }
    let (obj, name) = match mode {
        Mode::Tc => (tc_forwarder("fwd_tc"), "fwd_tc"),
        _ => (xdp_forwarder("fwd_xdp"), "fwd_xdp"),
    };
    let mut l = program::load(&obj, name, mode).unwrap();
    let ports = l.map("ports").expect("ports map");
    sys::map_update(
        &Kernel,
        ports.fd.as_fd(),
        &0u32.to_ne_bytes(),
        &port_value(ports, b.outer_ifindex),
        0,
    )
    .unwrap();
    let link = match attach::attach(&Kernel, &mut l, &a.outer, a.outer_ifindex).unwrap() {
        attach::Attachment::Link(fd) => fd,
        attach::Attachment::Netlink => panic!("6.6+ kernel must give a link"),
    };
    // What the kernel reports is what we attached, in the mode we asked for.
    let seen = observe::observe(&a.outer).unwrap();
    let progs = seen.in_mode(mode);
    assert_eq!(progs.len(), 1, "{seen:?}");
    assert_eq!(progs[0].id, l.info.id);
    assert_eq!(progs[0].tag, l.info.tag);
    assert_eq!(progs[0].name, name);
    let li = sys::link_info(&Kernel, link.as_fd()).unwrap();
    assert_eq!((li.prog_id, li.ifindex), (l.info.id, a.outer_ifindex));

    let tx = PacketSocket::open_in(&a.netns, &a.iface).unwrap();
    let rx = PacketSocket::open_in(&b.netns, &b.iface).unwrap();
    for seq in 0..50 {
        tx.send(&test_frame(&a.outer_mac, &a.mac, seq)).unwrap();
    }
    let got: Vec<u32> = rx
        .drain(Duration::from_millis(300))
        .unwrap()
        .iter()
        .filter_map(|f| frame_seq(f))
        .collect();
    assert_eq!(
        got,
        (0..50).collect::<Vec<_>>(),
        "{mode}: frames forwarded a → b"
    );
    drop(link);
    // Unpinned link closed: detached.
    assert!(observe::observe(&a.outer).unwrap().in_mode(mode).is_empty());
}

#[test]
fn forward_xdp_native() {
    if require_root("forward_xdp_native") {
        forward_test(Mode::Native);
    }
}

#[test]
fn forward_xdp_generic() {
    if require_root("forward_xdp_generic") {
        forward_test(Mode::Generic);
    }
}

#[test]
fn forward_tc() {
    if require_root("forward_tc") {
        forward_test(Mode::Tc);
    }
}

#[test]
fn xdp_program_in_tc_mode_is_a_typed_error() {
    if !require_root("xdp_program_in_tc_mode_is_a_typed_error") {
        return;
    }
    let err = program::load(&xdp_pass("p"), "p", Mode::Tc).unwrap_err();
    assert!(matches!(err, program::LoadError::WrongType { .. }), "{err}");
    let err = program::load(&xdp_pass("p"), "nope", Mode::Native).unwrap_err();
    assert!(err.to_string().contains("has no program \"nope\""), "{err}");
}

#[test]
fn hardware_offload_on_a_veth_is_refused_by_the_device() {
    if !require_root("hardware_offload_on_a_veth_is_refused_by_the_device") {
        return;
    }
    let (_lab, a, _b) = two_hosts("hw");
    let err = offload_drivers::load::offload::load_offloaded(
        &Kernel,
        &xdp_forwarder("fwd_hw"),
        "fwd_hw",
        &a.outer,
        a.outer_ifindex,
    )
    .unwrap_err();
    eprintln!("{err}");
    assert!(err.device_refused(), "{err}");
    assert!(err.to_string().contains(&a.outer));
    assert!(
        err.to_string().contains("EINVAL") || err.to_string().contains("EOPNOTSUPP"),
        "{err}"
    );
}

/// Pins outlive the process that made them: a child process attaches and
/// pins, exits, and the program is still attached and found through the pin.
#[test]
fn pins_survive_process_exit() {
    if !require_root("pins_survive_process_exit") {
        return;
    }
    if let Ok(dir) = std::env::var("OFFLOAD_TEST_PIN_CHILD") {
        // Child: attach and pin, then exit without detaching.
        let iface = std::env::var("OFFLOAD_TEST_IFACE").unwrap();
        let idx = offload_drivers::lab::ifindex(&iface);
        let mut l = program::load(&xdp_pass("pinned_pass"), "pinned_pass", Mode::Generic).unwrap();
        let attach::Attachment::Link(link) = attach::attach(&Kernel, &mut l, &iface, idx).unwrap()
        else {
            panic!("no link")
        };
        let dir = std::path::PathBuf::from(dir);
        attach::pin(&Kernel, link.as_fd(), &dir.join("link")).unwrap();
        attach::pin(&Kernel, l.prog.as_fd(), &dir.join("prog")).unwrap();
        return;
    }
    bpffs::ensure_mounted().unwrap();
    let (_lab, a, _b) = two_hosts("pin");
    let dir = bpffs::pin_dir(
        std::path::Path::new(bpffs::BPFFS_ROOT),
        &format!("pintest{}", std::process::id()),
        &a.outer,
    );
    bpffs::create_pin_dir(&dir).unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "pins_survive_process_exit", "--nocapture"])
        .env("OFFLOAD_TEST_PIN_CHILD", &dir)
        .env("OFFLOAD_TEST_IFACE", &a.outer)
        .status()
        .unwrap();
    assert!(status.success());
    let (_fd, info) = attach::pinned_link(&Kernel, &dir.join("link")).unwrap();
    let seen = observe::observe(&a.outer).unwrap();
    assert_eq!(seen.in_mode(Mode::Generic)[0].id, info.prog_id, "{seen:?}");
    assert_eq!(seen.in_mode(Mode::Generic)[0].name, "pinned_pass");
    attach::detach_pinned(&Kernel, &dir.join("link")).unwrap();
    assert!(observe::observe(&a.outer).unwrap().xdp.is_empty());
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// Traffic flows a → b through the forwarder while the link's program is
/// replaced 100 times: every frame arrives.
fn replace_under_traffic(mode: Mode) {
    let (_lab, a, b) = two_hosts(&format!("rp{}", mode.name()));
    if mode == Mode::Native {
        xdp_pass_on_peer(&b);
    }
    let make = |i: usize| {
        let name = format!("fwd_v{}", i % 2);
        let obj = if mode == Mode::Tc {
            tc_forwarder(&name)
        } else {
            xdp_forwarder(&name)
        };
        let l = program::load(&obj, &name, mode).unwrap();
        let ports = l.map("ports").unwrap();
        sys::map_update(
            &Kernel,
            ports.fd.as_fd(),
            &0u32.to_ne_bytes(),
            &port_value(ports, b.outer_ifindex),
            0,
        )
        .unwrap();
        l
    };
    bpffs::ensure_mounted().unwrap();
    let dir = bpffs::pin_dir(
        std::path::Path::new(bpffs::BPFFS_ROOT),
        &format!("rptest{}{}", std::process::id(), mode.name()),
        &a.outer,
    );
    bpffs::create_pin_dir(&dir).unwrap();
    let link_path = dir.join("link");
    let mut current = make(0);
    let attach::Attachment::Link(link) =
        attach::attach(&Kernel, &mut current, &a.outer, a.outer_ifindex).unwrap()
    else {
        panic!()
    };
    attach::pin(&Kernel, link.as_fd(), &link_path).unwrap();
    drop(link);

    let rx = PacketSocket::open_in(&b.netns, &b.iface).unwrap();
    let tx = PacketSocket::open_in(&a.netns, &a.iface).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (amac, aomac) = (a.mac, a.outer_mac);
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seq = 0u32;
            while !stop.load(Ordering::Relaxed) {
                tx.send(&test_frame(&aomac, &amac, seq)).unwrap();
                seq += 1;
                // Paced (about 20k frames/s): fast enough that every
                // replacement happens mid-stream, slow enough that no queue
                // on the way (veth backlog, socket buffer) overflows.
                if seq.is_multiple_of(16) {
                    std::thread::sleep(Duration::from_micros(800));
                }
            }
            seq
        })
    };
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut idle_since: Option<Instant> = None;
        loop {
            match rx.recv(Duration::from_millis(50)).unwrap() {
                Some(f) => {
                    if let Some(s) = frame_seq(&f) {
                        got.push(s);
                    }
                    idle_since = None;
                }
                None => {
                    let t = *idle_since.get_or_insert_with(Instant::now);
                    if t.elapsed() > Duration::from_millis(500) {
                        return got;
                    }
                }
            }
        }
    });
    for i in 1..=100 {
        let next = make(i);
        attach::replace(
            &Kernel,
            &link_path,
            next.prog.as_fd(),
            Some(current.prog.as_fd()),
        )
        .unwrap();
        let (_fd, info) = attach::pinned_link(&Kernel, &link_path).unwrap();
        assert_eq!(info.prog_id, next.info.id);
        current = next;
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let got = receiver.join().unwrap();
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    eprintln!(
        "{mode}: sent {sent}, received {} across 100 replacements",
        got.len()
    );
    assert!(sent > 1000, "too little traffic to mean anything: {sent}");
    assert_eq!(
        sorted.len(),
        sent as usize,
        "lost {} frames",
        sent as usize - sorted.len()
    );
    assert_eq!(got.len(), sent as usize, "duplicates");
    attach::detach_pinned(&Kernel, &link_path).unwrap();
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn replace_100_times_under_traffic_xdp_generic() {
    if require_root("replace_100_times_under_traffic_xdp_generic") {
        replace_under_traffic(Mode::Generic);
    }
}

#[test]
fn replace_100_times_under_traffic_xdp_native() {
    if require_root("replace_100_times_under_traffic_xdp_native") {
        replace_under_traffic(Mode::Native);
    }
}

#[test]
fn replace_100_times_under_traffic_tc() {
    if require_root("replace_100_times_under_traffic_tc") {
        replace_under_traffic(Mode::Tc);
    }
}
