//! Deployed modules over time: runtime entries (and refusals that change
//! nothing), ownership of interfaces, the hardware-offload fallback, hitless
//! replacement under traffic with counters carried over, and adoption of pins
//! by a later process.

mod deploy_common;

use deploy_common::*;
use offload_core::semantics::Verdict;
use offload_drivers::deploy::{self, runtime, status, DeployError};
use offload_drivers::entries::parse::{self, EntryText, Lit};
use offload_drivers::lab::compare::{run_probe, Probe, Taps};
use offload_drivers::lab::frames::{Ipv4Frame, UDP};
use offload_drivers::lab::packet::PacketSocket;
use offload_drivers::load::{attach, observe, program, Mode};
use offload_drivers::sys::Kernel;
use offload_drivers::testenv::require_root;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn udp_probe(rl: &RouterLab, n: u16, dst: [u8; 4]) -> Probe {
    let marker = format!("offload-rt-{n:04}").into_bytes();
    Probe {
        label: format!("udp to {}", Ipv4Addr::from(dst)),
        from: rl.uplink(),
        frame: Ipv4Frame {
            dst_mac: rl.up.outer_mac,
            src_mac: rl.up.mac,
            src: Ipv4Addr::new(10, 0, 1, 2),
            dst: Ipv4Addr::from(dst),
            ttl: 64,
            proto: UDP,
            sport: 33000 + n,
            dport: 5000,
            payload: marker.clone(),
        }
        .emit(),
        marker,
    }
}

fn route_text(dst: &str, port: &str) -> EntryText {
    EntryText {
        meter: None,
        table: "routes".into(),
        matches: vec![("ipv4.dst".into(), Lit::Str(dst.into()))],
        priority: None,
        action: "route".into(),
        args: vec![
            ("port".into(), Lit::Str(port.into())),
            ("dmac".into(), Lit::Str("02:00:00:00:00:0b".into())),
            ("smac".into(), Lit::Str("02:00:00:00:00:01".into())),
        ],
    }
}

/// Raw elements of every table of the module, as the kernel holds them.
fn table_dump(rl: &RouterLab) -> Vec<(String, usize, Vec<String>)> {
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    st.tables
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.elements.values().sum(),
                t.entries.iter().map(|e| e.text.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn runtime_entries_route_traffic_and_refusals_change_nothing() {
    if !require_root("runtime_entries_route_traffic_and_refusals_change_nothing") {
        return;
    }
    let rl = router_lab("rtent");
    let source = rl.source();
    deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Generic])).unwrap();
    let taps = Taps::open(&rl.wires()).unwrap();
    let before = run_probe(
        &rl.module,
        &taps,
        &udp_probe(&rl, 1, [10, 9, 1, 1]),
        true,
        Duration::from_millis(60),
    )
    .unwrap();
    assert_eq!(before.expected, Verdict::Pass);
    assert!(before.ok, "{:?}", before.mismatch);

    let e = parse::entry(&rl.module, &route_text("10.9.0.0/16", "backup")).unwrap();
    let rep = runtime::add(
        &rl.roots,
        Some(&rl.module.name),
        &[("routes".into(), e.clone())],
        true,
    )
    .unwrap();
    assert_eq!((rep.added, rep.placements), (1, 1));
    // The reference with the new entry says: to backup, rewritten.
    let mut with = rl.module.clone();
    with.tables[1].entries.push(e.clone());
    let after = run_probe(
        &with,
        &taps,
        &udp_probe(&rl, 2, [10, 9, 1, 1]),
        true,
        Duration::from_millis(60),
    )
    .unwrap();
    assert_eq!(
        after.expected,
        Verdict::Forward(rl.module.port_by_name("backup").unwrap().id)
    );
    assert!(after.ok, "{:?}", after.mismatch);
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    let routes = st.tables.iter().find(|t| t.name == "routes").unwrap();
    let added = routes.entries.iter().find(|x| x.runtime).unwrap();
    assert_eq!(added.packets, Some(1), "{added:?}");
    assert!(!st.has_drift(), "{st:#?}");

    // Refusals: nothing changes in the kernel.
    let snapshot = table_dump(&rl);
    let dup = parse::entry(&rl.module, &route_text("10.9.0.0/16", "servers")).unwrap();
    let err = runtime::add(
        &rl.roots,
        Some(&rl.module.name),
        &[("routes".into(), dup)],
        true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // Two entries, the second invalid: the first must not be written either.
    let ok = parse::entry(&rl.module, &route_text("10.10.0.0/16", "servers")).unwrap();
    let acl_dup_prio = parse::entry(
        &rl.module,
        &EntryText {
            meter: None,
            table: "acl".into(),
            matches: vec![
                ("ipv4.protocol".into(), Lit::Int(17)),
                ("l4.dst_port".into(), Lit::Str("53".into())),
            ],
            priority: Some(20),
            action: "deny".into(),
            args: vec![],
        },
    )
    .unwrap();
    let err = runtime::add(
        &rl.roots,
        Some(&rl.module.name),
        &[("routes".into(), ok), ("acl".into(), acl_dup_prio)],
        true,
    )
    .unwrap_err();
    assert!(matches!(err, DeployError::Entry(_)), "{err}");
    assert_eq!(
        table_dump(&rl),
        snapshot,
        "a refused batch changed the tables"
    );

    // Delete: traffic goes back to the host stack.
    let KeyMatchOf(m) = KeyMatchOf(e.matches.clone());
    runtime::delete(&rl.roots, Some(&rl.module.name), "routes", &m, None).unwrap();
    let gone = run_probe(
        &rl.module,
        &taps,
        &udp_probe(&rl, 3, [10, 9, 1, 1]),
        true,
        Duration::from_millis(60),
    )
    .unwrap();
    assert!(gone.ok, "{:?}", gone.mismatch);
    let err = runtime::delete(&rl.roots, Some(&rl.module.name), "routes", &m, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("no entry matches ipv4.dst=10.9.0.0/16"),
        "{err}"
    );
}

struct KeyMatchOf(Vec<offload_core::ir::KeyMatch>);

#[test]
fn foreign_programs_are_never_replaced_silently() {
    if !require_root("foreign_programs_are_never_replaced_silently") {
        return;
    }
    let rl = router_lab("own");
    // Someone else's XDP program on the uplink interface.
    let obj = pass_object("someone_else");
    let mut l = program::load(&obj, "someone_else", Mode::Generic).unwrap();
    let attach::Attachment::Link(foreign) =
        attach::attach(&Kernel, &mut l, &rl.up.outer, rl.up.outer_ifindex).unwrap()
    else {
        panic!()
    };
    let source = rl.source();
    let err = deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Generic])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("program id {}", l.info.id))
            && msg.contains("someone_else")
            && msg.contains("--replace"),
        "{msg}"
    );
    // Still theirs, untouched.
    assert_eq!(
        observe::observe(&rl.up.outer)
            .unwrap()
            .in_mode(Mode::Generic)[0]
            .id,
        l.info.id
    );
    let mut req = rl.request(&source, &rl.module, vec![Mode::Generic]);
    req.replace_foreign = true;
    let rep = deploy::apply(&req).unwrap();
    assert_eq!(rep.took_over.len(), 1, "{rep:?}");
    assert_eq!(
        observe::observe(&rl.up.outer)
            .unwrap()
            .in_mode(Mode::Generic)[0]
            .id,
        rep.placements[0].prog_id
    );
    drop(foreign);
}

fn pass_object(name: &str) -> Vec<u8> {
    use offload_ebpf::elf::{write_object, ObjectSpec, ProgramSection};
    let code: Vec<u8> = [[0xb7u8, 0, 0, 0, 2, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]].concat();
    write_object(&ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: name,
        insns: &code,
        map_relocs: vec![],
        maps: vec![],
        license: "GPL",
    })
    .unwrap()
}

#[test]
fn hardware_offload_refusal_falls_back_and_is_recorded() {
    if !require_root("hardware_offload_refusal_falls_back_and_is_recorded") {
        return;
    }
    let rl = router_lab("hwfb");
    let source = rl.source();
    // edge-router does not fit the NFP profile (LPM, redirect): refused before
    // the kernel is asked, with the profile's reasons.
    let rep = deploy::apply(&rl.request(
        &source,
        &rl.module,
        vec![Mode::Offload, Mode::Native, Mode::Generic],
    ))
    .unwrap();
    let p = &rep.placements[0];
    assert_eq!(p.mode, Mode::Native);
    assert_eq!(p.tried.len(), 1, "{p:?}");
    assert_eq!(p.tried[0].0, "xdp-offload");
    assert!(p.tried[0].1.contains("uses lpm"), "{}", p.tried[0].1);
    let st = deploy::State::load(&rl.roots.state_file(&rl.module.name))
        .unwrap()
        .unwrap();
    assert_eq!(st.placements[0].fallbacks, p.tried);
    deploy::detach(&rl.roots, Some(&rl.module.name)).unwrap();

    // A module the profile accepts reaches the kernel, and a veth refuses
    // the offload: the kernel's answer is recorded, the next target runs.
    let small = format!(
        "[module]\nname = \"hw-{}\"\ndefault = \"pass\"\n\n[[table]]\nname = \"proto\"\nkeys = [{{ field = \"ipv4.protocol\", match = \"exact\" }}]\nactions = [\"deny\", \"allow\"]\ndefault_action = \"allow\"\nsize = 16\n\n[action.deny]\ndo = [\"drop\"]\n\n[action.allow]\ndo = []\n\n[[entry.proto]]\nmatch = {{ \"ipv4.protocol\" = 17 }}\naction = \"deny\"\n",
        std::process::id()
    );
    let m = offload_core::spec::compile(&small).unwrap();
    let mut req = rl.request(&small, &m, vec![Mode::Offload, Mode::Generic]);
    req.ports.clear();
    let rep = deploy::apply(&req).unwrap();
    let p = &rep.placements[0];
    assert_eq!(p.mode, Mode::Generic);
    assert_eq!(p.tried[0].0, "xdp-offload");
    assert!(
        p.tried[0].1.contains("EINVAL") && p.tried[0].1.contains(&rl.up.outer),
        "{}",
        p.tried[0].1
    );
    deploy::detach(&rl.roots, Some(&m.name)).unwrap();
}

/// The flagship: 100 new versions while traffic flows; nothing lost, and the
/// route's counter (carried across versions) equals what was sent.
#[test]
fn replace_100_versions_under_traffic_zero_loss_counters_add_up() {
    if !require_root("replace_100_versions_under_traffic_zero_loss_counters_add_up") {
        return;
    }
    let rl = router_lab("hitless");
    let source = rl.source();
    let first = deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Native])).unwrap();
    assert!(!first.placements[0].hitless);
    let tx = PacketSocket::open_in(&rl.up.netns, &rl.up.iface).unwrap();
    let rx = PacketSocket::open_in(&rl.srv.netns, &rl.srv.iface).unwrap();
    let probe = udp_probe(&rl, 7, [192, 168, 1, 2]);
    let frame = probe.frame.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tx.send(&frame).unwrap();
                n += 1;
                if n.is_multiple_of(16) {
                    std::thread::sleep(Duration::from_micros(800));
                }
            }
            n
        })
    };
    let marker = probe.marker.clone();
    let receiver = std::thread::spawn(move || {
        let mut got = 0u64;
        let mut idle: Option<Instant> = None;
        loop {
            match rx.recv(Duration::from_millis(50)).unwrap() {
                Some(f) if offload_drivers::lab::frames::has_marker(&f, &marker) => {
                    got += 1;
                    idle = None;
                }
                Some(_) => {}
                None => {
                    if idle.get_or_insert_with(Instant::now).elapsed() > Duration::from_millis(500)
                    {
                        return got;
                    }
                }
            }
        }
    });
    let mut hitless = 0;
    for v in 0..100 {
        // A new version each time: a different comment changes nothing the
        // program does, every other one adds an unrelated ACL entry.
        let mut src = format!("# version {v}\n{source}");
        if v % 2 == 1 {
            src.push_str("\n[[entry.acl]]\nmatch = { \"ipv4.protocol\" = 17, \"l4.dst_port\" = \"6000..6100\" }\npriority = 7\naction = \"deny\"\n");
        }
        let module = offload_core::spec::compile(&src).unwrap();
        let rep = deploy::apply(&rl.request(&src, &module, vec![Mode::Native])).unwrap();
        hitless += usize::from(rep.placements[0].hitless);
        // Routes are the same in every version: their counters map is shared.
        assert!(
            rep.shared_counters.contains(&"routes".to_string()),
            "{rep:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let got = receiver.join().unwrap();
    eprintln!("sent {sent}, received {got}, across 100 versions ({hitless} hitless)");
    assert_eq!(hitless, 100);
    assert!(sent > 1000, "too little traffic: {sent}");
    assert_eq!(got, sent, "lost {} packets", sent - got);
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert_eq!(st.version, 101);
    let routes = st.tables.iter().find(|t| t.name == "routes").unwrap();
    let route = routes
        .entries
        .iter()
        .find(|e| e.text.starts_with("ipv4.dst=192.168.1.0/24"))
        .unwrap();
    assert_eq!(
        route.packets,
        Some(sent),
        "route counter across versions: {route:?}"
    );
    assert_eq!(route.bytes, Some(sent * probe.frame.len() as u64));
    // Old generations are gone: one program, one generation directory.
    let dir = rl.roots.iface_dir(&rl.module.name, &rl.up.outer);
    let gens: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('g'))
        .collect();
    assert_eq!(gens.len(), 1);
}

/// A child process applies and exits; this process finds the deployment
/// through its pins and state, reads it back, changes its entries, detaches.
#[test]
fn a_later_process_adopts_the_deployment() {
    if !require_root("a_later_process_adopts_the_deployment") {
        return;
    }
    if std::env::var("OFFLOAD_TEST_ADOPT_CHILD").is_ok() {
        return;
    }
    let rl = router_lab("adopt");
    let source = rl.source();
    let src_file = rl.roots.state.with_extension("toml");
    std::fs::create_dir_all(&rl.roots.state).unwrap();
    std::fs::write(&src_file, &source).unwrap();
    let status_child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "adopt_child_applies", "--nocapture"])
        .env("OFFLOAD_TEST_ADOPT_CHILD", "1")
        .env("OFFLOAD_TEST_ADOPT_SRC", &src_file)
        .env("OFFLOAD_TEST_ADOPT_STATE", &rl.roots.state)
        .env("OFFLOAD_TEST_ADOPT_IFACE", &rl.up.outer)
        .env(
            "OFFLOAD_TEST_ADOPT_PORTS",
            format!("{},{},{}", rl.up.outer, rl.srv.outer, rl.bak.outer),
        )
        .status()
        .unwrap();
    assert!(status_child.success());
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");
    let (mode, prog) = st.placements[0].observed.clone().unwrap();
    assert_eq!(mode, Mode::Generic);
    assert_eq!(prog.id, st.placements[0].expected_prog_id);
    // Traffic still flows as the module says, and entries can be changed.
    let taps = Taps::open(&rl.wires()).unwrap();
    let r = run_probe(
        &rl.module,
        &taps,
        &udp_probe(&rl, 9, [192, 168, 1, 2]),
        true,
        Duration::from_millis(60),
    )
    .unwrap();
    assert!(r.ok, "{:?}", r.mismatch);
    let e = parse::entry(&rl.module, &route_text("10.77.0.0/16", "servers")).unwrap();
    runtime::add(
        &rl.roots,
        Some(&rl.module.name),
        &[("routes".into(), e)],
        true,
    )
    .unwrap();
    deploy::detach(&rl.roots, Some(&rl.module.name)).unwrap();
    assert!(observe::observe(&rl.up.outer)
        .unwrap()
        .all()
        .next()
        .is_none());
    assert!(!rl.roots.module_dir(&rl.module.name).exists());
}

#[test]
fn adopt_child_applies() {
    if std::env::var("OFFLOAD_TEST_ADOPT_CHILD").is_err() {
        return; // only meaningful as the child of the test above
    }
    let source = std::fs::read_to_string(std::env::var("OFFLOAD_TEST_ADOPT_SRC").unwrap()).unwrap();
    let module = offload_core::spec::compile(&source).unwrap();
    let ports: Vec<String> = std::env::var("OFFLOAD_TEST_ADOPT_PORTS")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let req = deploy::ApplyRequest {
        module: &module,
        source: &source,
        source_path: None,
        on: vec![std::env::var("OFFLOAD_TEST_ADOPT_IFACE").unwrap()],
        ports: [
            ("uplink", &ports[0]),
            ("servers", &ports[1]),
            ("backup", &ports[2]),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.clone()))
        .collect(),
        modes: vec![Mode::Generic],
        replace_foreign: false,
        batch: true,
        roots: deploy::Roots {
            bpffs: "/sys/fs/bpf".into(),
            state: std::env::var("OFFLOAD_TEST_ADOPT_STATE").unwrap().into(),
        },
        offload_profile: None,
    };
    deploy::apply(&req).unwrap();
}

/// Binding a logical port to another interface updates the port maps of the
/// running program: no reload, traffic for that port now leaves elsewhere.
#[test]
fn rebinding_ports_is_a_map_update() {
    if !require_root("rebinding_ports_is_a_map_update") {
        return;
    }
    let rl = router_lab("rebind");
    let source = rl.source();
    let first = deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Generic])).unwrap();
    let mut req = rl.request(&source, &rl.module, vec![Mode::Generic]);
    // servers now reached through the backup host's interface.
    req.ports.insert("servers".into(), rl.bak.outer.clone());
    let rep = deploy::apply(&req).unwrap();
    assert!(rep.rebound_only, "{rep:?}");
    assert_eq!(rep.placements[0].prog_id, first.placements[0].prog_id);
    assert_eq!(rep.version, first.version);
    let mut wires = rl.wires();
    for w in &mut wires {
        if w.port_name == "servers" {
            w.host = rl.bak.clone();
        }
    }
    wires.retain(|w| w.port_name != "backup");
    let taps = Taps::open(&wires).unwrap();
    let r = run_probe(
        &rl.module,
        &taps,
        &udp_probe(&rl, 11, [192, 168, 1, 2]),
        true,
        Duration::from_millis(60),
    )
    .unwrap();
    assert_eq!(
        r.expected,
        Verdict::Forward(rl.module.port_by_name("servers").unwrap().id)
    );
    assert!(r.ok, "{:?} {:?}", r.mismatch, r.seen);
    let st = deploy::State::load(&rl.roots.state_file(&rl.module.name))
        .unwrap()
        .unwrap();
    assert_eq!(st.ports["servers"], rl.bak.outer);
}

/// `entries load --replace` (runtime::write_reporting with replace): an
/// entry with the matches of one the table holds takes its place, written
/// over the same map element (what new members of a hash-selected group
/// are); traffic follows the new action, nothing else changes, no drift.
#[test]
fn a_replacement_takes_the_entrys_place_in_its_map_element() {
    if !require_root("a_replacement_takes_the_entrys_place_in_its_map_element") {
        return;
    }
    let rl = router_lab("rtrep");
    let source = rl.source();
    deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Generic])).unwrap();
    let taps = Taps::open(&rl.wires()).unwrap();
    let to_backup = parse::entry(&rl.module, &route_text("10.9.0.0/16", "backup")).unwrap();
    runtime::add(
        &rl.roots,
        Some(&rl.module.name),
        &[("routes".into(), to_backup.clone())],
        true,
    )
    .unwrap();
    let before = table_dump(&rl);
    // Without replace the same matches are a duplicate.
    let to_servers = parse::entry(&rl.module, &route_text("10.9.0.0/16", "servers")).unwrap();
    let new = [("routes".to_string(), to_servers.clone())];
    assert!(runtime::write_reporting(
        &rl.roots,
        Some(&rl.module.name),
        &new,
        true,
        false,
        &mut |_| {}
    )
    .is_err());
    assert_eq!(table_dump(&rl), before);
    let rep = runtime::write_reporting(
        &rl.roots,
        Some(&rl.module.name),
        &new,
        true,
        true,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(rep.placements, 1);
    let after = table_dump(&rl);
    let routes = |d: &[(String, usize, Vec<String>)]| {
        d.iter().find(|(n, _, _)| n == "routes").cloned().unwrap()
    };
    // Same number of entries and map elements; the one entry's text changed.
    assert_eq!(routes(&after).1, routes(&before).1);
    assert_eq!(routes(&after).2.len(), routes(&before).2.len());
    assert_ne!(routes(&after).2, routes(&before).2);
    let mut with = rl.module.clone();
    with.tables[1].entries.push(to_servers);
    let probe = run_probe(
        &with,
        &taps,
        &udp_probe(&rl, 3, [10, 9, 1, 1]),
        true,
        Duration::from_millis(60),
    )
    .unwrap();
    assert_eq!(
        probe.expected,
        Verdict::Forward(rl.module.port_by_name("servers").unwrap().id)
    );
    assert!(probe.ok, "{:?}", probe.mismatch);
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");
    deploy::detach(&rl.roots, Some(&rl.module.name)).unwrap();
}

/// `entries load --replace` is hitless: the route traffic takes is replaced
/// 100 times (its next-hop MAC alternating, both towards `servers`) while
/// traffic flows; every frame arrives.
#[test]
fn replacing_a_live_entry_100_times_under_traffic_loses_nothing() {
    if !require_root("replacing_a_live_entry_100_times_under_traffic_loses_nothing") {
        return;
    }
    let rl = router_lab("rtrplt");
    let source = rl.source();
    deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Native])).unwrap();
    let tx = PacketSocket::open_in(&rl.up.netns, &rl.up.iface).unwrap();
    let rx = PacketSocket::open_in(&rl.srv.netns, &rl.srv.iface).unwrap();
    let probe = udp_probe(&rl, 9, [192, 168, 1, 2]);
    let frame = probe.frame.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tx.send(&frame).unwrap();
                n += 1;
                if n.is_multiple_of(16) {
                    std::thread::sleep(Duration::from_micros(800));
                }
            }
            n
        })
    };
    let marker = probe.marker.clone();
    let receiver = std::thread::spawn(move || {
        let mut got = 0u64;
        let mut idle: Option<Instant> = None;
        loop {
            match rx.recv(Duration::from_millis(50)).unwrap() {
                Some(f) if offload_drivers::lab::frames::has_marker(&f, &marker) => {
                    got += 1;
                    idle = None;
                }
                Some(_) => {}
                None => {
                    if idle.get_or_insert_with(Instant::now).elapsed() > Duration::from_millis(500)
                    {
                        return got;
                    }
                }
            }
        }
    });
    for v in 0..100 {
        let mut text = route_text("192.168.1.0/24", "servers");
        text.args[1].1 = Lit::Str(format!("02:00:00:00:00:{:02x}", 2 + v % 2));
        let e = parse::entry(&rl.module, &text).unwrap();
        runtime::write_reporting(
            &rl.roots,
            Some(&rl.module.name),
            &[("routes".into(), e)],
            true,
            true,
            &mut |_| {},
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let got = receiver.join().unwrap();
    eprintln!("sent {sent}, received {got}, across 100 replacements");
    assert!(sent > 1000, "too little traffic: {sent}");
    assert_eq!(got, sent, "lost {} packets", sent - got);
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");
    deploy::detach(&rl.roots, Some(&rl.module.name)).unwrap();
}
