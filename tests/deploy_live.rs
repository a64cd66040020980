//! `deploy::apply` on a veth lab: live traffic through XDP native, XDP
//! generic and tc gives the reference interpreter's outcome for every probe,
//! and the counters read back from the kernel equal the reference's.

mod deploy_common;

use deploy_common::*;
use offload_core::semantics::CounterSlot;
use offload_drivers::deploy::{self, status};
use offload_drivers::lab::compare::{run_probe, Taps};
use offload_drivers::load::Mode;
use offload_drivers::testenv::require_root;
use std::collections::BTreeMap;
use std::time::Duration;

fn live_matches_reference(mode: Mode) {
    let rl = router_lab(&format!("live{}", mode.name()));
    let source = rl.source();
    let rep = deploy::apply(&rl.request(&source, &rl.module, vec![mode])).unwrap();
    assert_eq!(rep.placements[0].mode, mode);
    let taps = Taps::open(&rl.wires()).unwrap();
    let mut expected: BTreeMap<(String, Option<usize>), (u64, u64)> = BTreeMap::new();
    let mut failures = Vec::new();
    for p in rl.probes() {
        let r = run_probe(
            &rl.module,
            &taps,
            &p,
            mode.is_xdp(),
            Duration::from_millis(60),
        )
        .unwrap();
        if let Some(m) = &r.mismatch {
            failures.push(format!("{}: expected {:?}: {m}", r.label, r.expected));
        }
        for hit in &r.outcome.counters {
            let t = &rl.module.table(hit.table).name;
            let slot = match hit.slot {
                CounterSlot::Entry(i) => Some(i),
                CounterSlot::Default => None,
            };
            let e = expected.entry((t.clone(), slot)).or_default();
            e.0 += 1;
            e.1 += hit.bytes;
        }
    }
    assert!(
        failures.is_empty(),
        "{mode}: live traffic differs from the reference:\n{}",
        failures.join("\n")
    );
    // Counters read back from the kernel.
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");
    for t in &st.tables {
        for (i, e) in t.entries.iter().enumerate() {
            let want = expected
                .get(&(t.name.clone(), Some(i)))
                .copied()
                .unwrap_or((0, 0));
            assert_eq!(
                (e.packets.unwrap(), e.bytes.unwrap()),
                want,
                "{mode}: counter of {} entry {i} ({})",
                t.name,
                e.text
            );
        }
        let want = expected
            .get(&(t.name.clone(), None))
            .copied()
            .unwrap_or((0, 0));
        assert_eq!(
            (t.default_packets.unwrap(), t.default_bytes.unwrap()),
            want,
            "{mode}: default counter of {}",
            t.name
        );
    }
    // What the kernel reports is what we attached.
    let pl = &st.placements[0];
    let (m, prog) = pl.observed.clone().expect("observed");
    assert_eq!(m, mode);
    assert_eq!(prog.id, rep.placements[0].prog_id);
    assert_eq!(prog.tag, rep.placements[0].tag);
    deploy::detach(&rl.roots, Some(&rl.module.name)).unwrap();
    assert!(offload_drivers::load::observe::observe(&rl.up.outer)
        .unwrap()
        .all()
        .next()
        .is_none());
}

#[test]
fn live_traffic_matches_reference_xdp_native() {
    if require_root("live_traffic_matches_reference_xdp_native") {
        live_matches_reference(Mode::Native);
    }
}

#[test]
fn live_traffic_matches_reference_xdp_generic() {
    if require_root("live_traffic_matches_reference_xdp_generic") {
        live_matches_reference(Mode::Generic);
    }
}

#[test]
fn live_traffic_matches_reference_tc() {
    if require_root("live_traffic_matches_reference_tc") {
        live_matches_reference(Mode::Tc);
    }
}
