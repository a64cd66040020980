//! Programs sized to their entries (issue 15): a deployed program's counter
//! arrays and tuple-space masks hold twice what its entries need instead of
//! the table's `size` (a 65,537-slot per-CPU array was ~50 ms of an apply),
//! and a runtime change that needs more room moves to a larger program
//! hitlessly — entries and counters carried, no packet lost, no drift.

mod deploy_common;

use deploy_common::traffic::loss_during;
use deploy_common::*;
use offload_drivers::deploy::{self, runtime, status, State};
use offload_drivers::entries::parse::{self, EntryText, Lit};
use offload_drivers::load::Mode;
use offload_drivers::sys::{self, Kernel};
use offload_drivers::testenv::require_root;
use std::os::fd::AsFd;

fn route(i: u32) -> EntryText {
    EntryText {
        table: "routes".into(),
        matches: vec![(
            "ipv4.dst".into(),
            Lit::Str(format!("{}/32", std::net::Ipv4Addr::from(0x0b00_0000 + i))),
        )],
        priority: None,
        action: "deny".into(),
        args: vec![],
        meter: None,
    }
}

fn acl_deny(i: u32) -> EntryText {
    // Sources 172.16.0.0/(12 + i): one more distinct mask per entry.
    EntryText {
        table: "acl".into(),
        matches: vec![
            (
                "ipv4.src".into(),
                Lit::Str(format!("172.16.0.0/{}", 12 + i)),
            ),
            ("ipv4.protocol".into(), Lit::Int(17)),
            ("l4.dst_port".into(), Lit::Str("7".into())),
        ],
        priority: Some(i64::from(100 + i)),
        action: "deny".into(),
        args: vec![],
        meter: None,
    }
}

/// `max_entries` of a table's pinned map (`c` counters, `m` masks).
fn pinned_size(rl: &RouterLab, table: &str, kind: char) -> u32 {
    let st = State::load(&rl.roots.state_file(&rl.module.name))
        .unwrap()
        .unwrap();
    let pl = &st.placements[0];
    let t = rl.module.table_by_name(table).unwrap();
    let layout =
        offload_ebpf::codegen::layout_for(&rl.module, &offload_ebpf::codegen::Target::xdp());
    let tl = layout.table(t.id);
    let name = match kind {
        'c' => tl.counters_map.clone().unwrap(),
        _ => tl.masks_map.clone().unwrap(),
    };
    let path = rl.roots.gen_dir(&st.module, &pl.iface, pl.gen).join(name);
    let fd = sys::obj_get(&Kernel, &path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    sys::map_info(&Kernel, fd.as_fd()).unwrap().max_entries
}

fn routes_status(rl: &RouterLab) -> status::TableStatus {
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");
    st.tables
        .iter()
        .find(|t| t.name == "routes")
        .unwrap()
        .clone()
}

#[test]
fn programs_are_sized_to_their_entries_and_grow_hitlessly() {
    if !require_root("programs_are_sized_to_their_entries_and_grow_hitlessly") {
        return;
    }
    let rl = routable_lab("room");
    let source = rl.source();
    deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Generic])).unwrap();
    let (sent, got) = loss_during(&rl.up, &rl.srv, || {
        std::thread::sleep(std::time::Duration::from_millis(100))
    });
    assert!(
        got > 0 && got == sent,
        "{got} of {sent} reached the servers"
    );
    // edge-router's routes table is declared with 65,536 slots; its three
    // file entries need 3: the program has the floor, 256 (+ the default).
    assert_eq!(pinned_size(&rl, "routes", 'c'), 257);
    assert_eq!(pinned_size(&rl, "acl", 'c'), 257);
    let masks0 = pinned_size(&rl, "acl", 'm');
    assert!(masks0 < 64, "acl masks array not sized: {masks0}");
    let served_before = routes_status(&rl).entries[0].packets.unwrap();
    assert!(served_before > 0, "the servers route counted nothing");
    let v0 = State::load(&rl.roots.state_file(&rl.module.name))
        .unwrap()
        .unwrap();

    // 300 more routes: 303 slots > 256 — a larger program, under traffic.
    let es: Vec<(String, _)> = (0..300)
        .map(|i| {
            (
                "routes".to_string(),
                parse::entry(&rl.module, &route(i)).unwrap(),
            )
        })
        .collect();
    let mut rep = None;
    let (sent, got) = loss_during(&rl.up, &rl.srv, || {
        rep = Some(runtime::add(&rl.roots, Some(&rl.module.name), &es, true).unwrap());
    });
    assert_eq!(got, sent, "packets lost while the program grew");
    let rep = rep.unwrap();
    assert_eq!(rep.added, 300);
    assert!(
        rep.phases
            .iter()
            .any(|(p, _)| *p == "rebuild with more room"),
        "{:?}",
        rep.phases
    );
    assert_eq!(
        pinned_size(&rl, "routes", 'c'),
        1025,
        "303 slots → room 1,024"
    );
    let v1 = State::load(&rl.roots.state_file(&rl.module.name))
        .unwrap()
        .unwrap();
    assert!(v1.version > v0.version);
    assert_ne!(v1.placements[0].prog_id, v0.placements[0].prog_id);
    let routes = routes_status(&rl);
    assert_eq!(routes.entries.len(), 303);
    // Counters carried over: the servers route kept (at least) its count.
    assert!(routes.entries[0].packets.unwrap() >= served_before + u64::from(sent) / 2);
    // One more route fits without a rebuild: a map write.
    let one = parse::entry(&rl.module, &route(300)).unwrap();
    let rep = runtime::add(
        &rl.roots,
        Some(&rl.module.name),
        &[("routes".into(), one)],
        true,
    )
    .unwrap();
    assert!(
        !rep.phases
            .iter()
            .any(|(p, _)| *p == "rebuild with more room"),
        "{:?}",
        rep.phases
    );
    let v2 = State::load(&rl.roots.state_file(&rl.module.name))
        .unwrap()
        .unwrap();
    assert_eq!(v2.placements[0].prog_id, v1.placements[0].prog_id);

    // Masks: each new acl entry brings a mask of its own.
    let mut grew = false;
    for i in 0..12 {
        let e = parse::entry(&rl.module, &acl_deny(i)).unwrap();
        let rep =
            runtime::add(&rl.roots, Some(&rl.module.name), &[("acl".into(), e)], true).unwrap();
        grew |= rep
            .phases
            .iter()
            .any(|(p, _)| *p == "rebuild with more room");
    }
    assert!(grew, "12 new masks never outgrew a {masks0}-mask program");
    assert!(pinned_size(&rl, "acl", 'm') > masks0);
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");
    let acl = st.tables.iter().find(|t| t.name == "acl").unwrap();
    assert_eq!(acl.entries.iter().filter(|e| e.runtime).count(), 12);
    // Traffic still takes the servers route after every rebuild.
    let (sent, got) = loss_during(&rl.up, &rl.srv, || {
        std::thread::sleep(std::time::Duration::from_millis(100))
    });
    assert_eq!(got, sent);
    deploy::detach(&rl.roots, Some(&rl.module.name)).unwrap();
}
