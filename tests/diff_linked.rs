//! Service chains linked by tail calls on the running kernel: random chains
//! of 1–4 generated modules (offload_core::testgen::chain) and chains of the
//! examples, each compiled as a dispatcher plus one XDP (and one tc) program
//! per module (offload_ebpf::codegen::linked), every module's tables filled
//! from its own entries, the PROG_ARRAY populated, and the dispatcher run
//! under BPF_PROG_TEST_RUN (tail calls are followed in test runs) on
//! generated frames, compared with `semantics::run_chain`: verdict, output
//! bytes, and every module's counters (each module's own maps).
//!
//! Needs root; skips loudly otherwise (a failure with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1). `OFFLOAD_CHAIN_CASES=N` runs N random
//! chains instead of the fixed slice.

use offload_core::ir::{Module, PortId};
use offload_core::semantics::{self, CounterSlot, Verdict};
use offload_core::testgen;
use offload_drivers::testenv::require_root;
use offload_drivers::testrun;
use offload_drivers::validate::bpf::{self as vbpf, code, skb_run_may_refuse, Counters};
use offload_ebpf::layout::Hook;
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::Instant;

const LO: u32 = 1;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Default, Debug)]
struct Totals {
    chains: usize,
    lengths: BTreeMap<usize, usize>,
    runs: usize,
    continued: usize,
    reached_last: usize,
    not_run: usize,
    refusals: Vec<String>,
    counters_checked: usize,
    mismatches: Vec<String>,
    verdicts: BTreeMap<&'static str, usize>,
}

/// Counters keyed by "module index:map" (each module has its own maps, so
/// names repeat across modules).
fn expected_counters(run: &vbpf::LinkedRun, o: &semantics::ChainOutcome, into: &mut Counters) {
    for (k, mo) in o.modules.iter().enumerate() {
        let c = &run.modules[k].0;
        for hit in &mo.counters {
            let tl = c.layout.table(hit.table);
            let slot = match hit.slot {
                CounterSlot::Entry(e) => e as u32,
                CounterSlot::Default => tl.default_slot,
            };
            let Some(map) = tl.counters_map.clone() else {
                continue;
            };
            let e = into.entry((format!("{k}:{map}"), slot)).or_default();
            e.0 += 1;
            e.1 += hit.bytes;
        }
    }
}

fn read_counters(modules: &[Module], run: &vbpf::LinkedRun) -> Counters {
    let mut out = Counters::new();
    for (k, (m, (c, l))) in modules.iter().zip(&run.modules).enumerate() {
        for ((map, slot), v) in vbpf::read_counters(m, c, l).expect("counters") {
            out.insert((format!("{k}:{map}"), slot), v);
        }
    }
    out
}

fn differential(
    label: &str,
    modules: &[Module],
    hook: Hook,
    frames: &[testgen::Frame],
    t: &mut Totals,
) {
    let run = match vbpf::load_linked(modules, hook, &|_| LO) {
        Ok(x) => x,
        Err(vbpf::LoadError::Refused(why)) => {
            t.refusals.push(format!("{label} {hook:?}: {why}"));
            return;
        }
        Err(vbpf::LoadError::Failed(e)) => {
            t.mismatches.push(format!("{label} {hook:?}: {e}"));
            return;
        }
    };
    t.chains += 1;
    *t.lengths.entry(modules.len()).or_default() += 1;
    let mut expected = Counters::new();
    for (i, f) in frames.iter().enumerate() {
        if f.bytes.len() < 14 {
            t.not_run += 1;
            continue;
        }
        run.set_in_port(LO, f.in_port).expect("in_ports");
        let want = semantics::run_chain(modules, f.in_port, &f.bytes);
        let got = match testrun::run(&run.entry, &f.bytes, LO) {
            Ok(r) => r,
            Err(_) if hook == Hook::Tc && skb_run_may_refuse(&f.bytes) => {
                t.not_run += 1;
                continue;
            }
            Err(e) => {
                t.mismatches
                    .push(format!("{label} {hook:?} frame {i}: test run failed: {e}"));
                continue;
            }
        };
        t.runs += 1;
        if want.modules.len() >= 2 {
            t.continued += 1;
        }
        if modules.len() >= 2 && want.modules.len() == modules.len() {
            t.reached_last += 1;
        }
        *t.verdicts
            .entry(match want.verdict {
                Verdict::Drop => "drop",
                Verdict::Pass => "pass",
                Verdict::Tx => "tx",
                Verdict::Forward(_) => "forward",
            })
            .or_default() += 1;
        expected_counters(&run, &want, &mut expected);
        if got.retval != code(hook, &want.verdict) || got.data != want.packet {
            t.mismatches.push(format!(
                "{label} {hook:?} frame {i} (in_port {}): want {:?} (code {}) after {} module(s), got code {}\n  in   {}\n  want {}\n  got  {}",
                f.in_port.0,
                want.verdict,
                code(hook, &want.verdict),
                want.modules.len(),
                got.retval,
                hex(&f.bytes),
                hex(&want.packet),
                hex(&got.data)
            ));
        }
    }
    let got = read_counters(modules, &run);
    t.counters_checked += expected.len();
    for m in vbpf::counter_mismatches(&expected, &got) {
        t.mismatches.push(format!("{label} {hook:?}: {m}"));
    }
}

fn report(name: &str, t: &Totals, secs: f64) {
    eprintln!(
        "{name}: {} linked chains loaded (by length {:?}), {} test runs ({} went on past the first module, {} reached the last), {} counters compared, {} mismatches, {} not run, {} chains refused by the target in {secs:.1}s; verdicts {:?}",
        t.chains,
        t.lengths,
        t.runs,
        t.continued,
        t.reached_last,
        t.counters_checked,
        t.mismatches.len(),
        t.not_run,
        t.refusals.len(),
        t.verdicts
    );
}

fn assert_clean(t: &Totals) {
    assert!(
        t.mismatches.is_empty(),
        "{} mismatches over {} runs; first ones:\n{}",
        t.mismatches.len(),
        t.runs,
        t.mismatches
            .iter()
            .take(6)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    for r in &t.refusals {
        assert!(
            r.contains("Tc") && r.contains("pop_vlan after a VLAN change"),
            "only tc's VLAN rule may refuse a linked chain here: {r}"
        );
    }
}

fn chain_modules(seed: u64) -> Vec<Module> {
    testgen::chain(seed, 4)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|c| c.module)
        .collect()
}

#[test]
fn random_linked_chains_agree_with_the_reference_on_xdp_and_tc() {
    if !require_root("random_linked_chains_agree_with_the_reference_on_xdp_and_tc") {
        return;
    }
    let t0 = Instant::now();
    let n = std::env::var("OFFLOAD_CHAIN_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40u64);
    let mut total = Totals::default();
    for seed in 0xc4a1_0000..0xc4a1_0000 + n {
        let modules = chain_modules(seed);
        let fused = offload_core::ir::chain::fuse(&modules).unwrap();
        let frames = testgen::frames(seed ^ 0x5a5a, &fused.module, 150);
        for hook in [Hook::Xdp, Hook::Tc] {
            differential(
                &format!("chain {seed:#x}"),
                &modules,
                hook,
                &frames,
                &mut total,
            );
        }
    }
    report(
        "random linked chains, BPF_PROG_TEST_RUN",
        &total,
        t0.elapsed().as_secs_f64(),
    );
    assert_clean(&total);
    assert_eq!(
        total.lengths.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(total.continued > total.runs / 10, "{total:?}");
    assert!(total.reached_last > 100, "{total:?}");
    assert!(total.counters_checked > 100, "{total:?}");
}

fn example(name: &str) -> Module {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.toml"));
    offload_core::spec::compile(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const EXAMPLE_CHAINS: &[&[&str]] = &[
    &["ddos-filter", "edge-router"],
    &["ddos-filter", "basic-forwarding"],
    &["ddos-filter", "l2-switch"],
    &["l2-switch", "ddos-filter"],
];

#[test]
fn example_linked_chains_agree_with_the_reference_on_xdp_and_tc() {
    if !require_root("example_linked_chains_agree_with_the_reference_on_xdp_and_tc") {
        return;
    }
    let t0 = Instant::now();
    let mut total = Totals::default();
    for names in EXAMPLE_CHAINS {
        let modules: Vec<Module> = names.iter().map(|n| example(n)).collect();
        let fused = offload_core::ir::chain::fuse(&modules).unwrap();
        let frames = testgen::frames(0xe4a3, &fused.module, 400);
        for hook in [Hook::Xdp, Hook::Tc] {
            differential(&names.join(" -> "), &modules, hook, &frames, &mut total);
        }
    }
    report("example linked chains", &total, t0.elapsed().as_secs_f64());
    assert_clean(&total);
    // l2-switch pops after its own push: refused on tc, linked as fused.
    assert_eq!(total.refusals.len(), 2, "{:?}", total.refusals);
    assert!(total.reached_last > 200, "{total:?}");
}

/// Eight modules: fused, 86 maps > 64 is refused; linked, each program has
/// its own maps, so the chain loads and agrees with the reference.
#[test]
fn a_chain_fused_refuses_for_its_maps_runs_linked() {
    if !require_root("a_chain_fused_refuses_for_its_maps_runs_linked") {
        return;
    }
    let ddos = example("ddos-filter");
    let mut modules: Vec<Module> = (1..8)
        .map(|i| {
            let mut m = ddos.clone();
            m.name = format!("ddos-{i}");
            m
        })
        .collect();
    modules.push(example("edge-router"));
    let fused = offload_core::ir::chain::fuse(&modules).unwrap();
    let e = vbpf::load_chain(&fused, Hook::Xdp, &|_| LO).unwrap_err();
    assert!(e.to_string().contains("86 maps"), "{e}");
    let frames = testgen::frames(0x8a8, &fused.module, 300);
    let mut total = Totals::default();
    for hook in [Hook::Xdp, Hook::Tc] {
        differential(
            "7 × ddos-filter -> edge-router",
            &modules,
            hook,
            &frames,
            &mut total,
        );
    }
    report("8 modules linked", &total, 0.0);
    assert_clean(&total);
    assert_eq!(total.chains, 2);
    assert!(total.reached_last > 50, "{total:?}");
}

/// An empty slot drops (fail closed): with module 2's slot deleted, a frame
/// module 1 passes is dropped, not passed; a frame module 1 drops is still
/// dropped by it (its counters move); put back, the chain passes again.
#[test]
fn an_empty_slot_drops_the_frame() {
    if !require_root("an_empty_slot_drops_the_frame") {
        return;
    }
    let modules = [example("ddos-filter"), example("edge-router")];
    for hook in [Hook::Xdp, Hook::Tc] {
        let run = vbpf::load_linked(&modules, hook, &|_| LO).unwrap();
        run.set_in_port(LO, PortId(1)).unwrap();
        let routed = (0..92)
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(&"02000000000102000000000a080045000020000100004011ae180a000102c0a8010a9c400035000c000070696e67"[i..i + 2], 16).unwrap()
            })
            .collect::<Vec<u8>>();
        let want = semantics::run_chain(&modules, PortId(1), &routed);
        assert!(
            matches!(want.verdict, Verdict::Forward(_)),
            "{:?}",
            want.verdict
        );
        assert_eq!(
            testrun::run(&run.entry, &routed, LO).unwrap().retval,
            code(hook, &want.verdict)
        );
        offload_drivers::sys::map_delete(
            &offload_drivers::sys::Kernel,
            run.prog_array.as_fd(),
            &1u32.to_ne_bytes(),
        )
        .unwrap();
        assert_eq!(
            offload_drivers::load::linked::slot_prog_id(run.prog_array.as_fd(), 1).unwrap(),
            None
        );
        assert_eq!(
            testrun::run(&run.entry, &routed, LO).unwrap().retval,
            code(hook, &Verdict::Drop),
            "{hook:?}: a frame with its next module missing is dropped"
        );
        offload_drivers::load::linked::set_slot(
            run.prog_array.as_fd(),
            1,
            run.modules[1].1.prog.as_fd(),
        )
        .unwrap();
        assert_eq!(
            testrun::run(&run.entry, &routed, LO).unwrap().retval,
            code(hook, &want.verdict)
        );
        // The entry's slot 0 empty: everything drops.
        offload_drivers::sys::map_delete(
            &offload_drivers::sys::Kernel,
            run.prog_array.as_fd(),
            &0u32.to_ne_bytes(),
        )
        .unwrap();
        assert_eq!(
            testrun::run(&run.entry, &routed, LO).unwrap().retval,
            code(hook, &Verdict::Drop)
        );
    }
}
