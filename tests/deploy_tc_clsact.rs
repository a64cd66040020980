//! The pre-6.6 tc path (clsact + cls_bpf, no tcx link), forced on this kernel
//! with `OFFLOAD_TC_CLSACT=1`: traffic equals the reference, status sees the
//! filter, a re-apply replaces it, detach removes it. (Its own test binary:
//! the environment variable is process-wide.)

mod deploy_common;

use deploy_common::*;
use offload_drivers::deploy::{self, status};
use offload_drivers::lab::compare::{run_probe, Taps};
use offload_drivers::load::{observe, Mode};
use offload_drivers::testenv::require_root;
use std::time::Duration;

#[test]
fn clsact_cls_bpf_path() {
    if !require_root("clsact_cls_bpf_path") {
        return;
    }
    std::env::set_var("OFFLOAD_TC_CLSACT", "1");
    let rl = router_lab("clsact");
    let source = rl.source();
    let first = deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Tc])).unwrap();
    let filters = observe::cls_bpf_filters(&rl.up.outer);
    assert_eq!(filters.len(), 1, "{filters:?}");
    assert_eq!(filters[0].prog.id, first.placements[0].prog_id);
    let taps = Taps::open(&rl.wires()).unwrap();
    for p in rl.probes() {
        let r = run_probe(&rl.module, &taps, &p, false, Duration::from_millis(60)).unwrap();
        assert!(r.ok, "{}: {:?}", r.label, r.mismatch);
    }
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");
    assert_eq!(
        st.placements[0].observed.as_ref().unwrap().1.id,
        first.placements[0].prog_id
    );
    // A new version: our own filter is not "foreign"; afterwards one filter, the new one.
    let v2 = format!("# v2\n{source}");
    let m2 = offload_core::spec::compile(&v2).unwrap();
    let second = deploy::apply(&rl.request(&v2, &m2, vec![Mode::Tc])).unwrap();
    let filters = observe::cls_bpf_filters(&rl.up.outer);
    assert_eq!(filters.len(), 1, "{filters:?}");
    assert_eq!(filters[0].prog.id, second.placements[0].prog_id);
    deploy::detach(&rl.roots, Some(&rl.module.name)).unwrap();
    assert!(observe::cls_bpf_filters(&rl.up.outer).is_empty());
    std::env::remove_var("OFFLOAD_TC_CLSACT");
}
