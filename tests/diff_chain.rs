//! Service chains on the running kernel: random chains of 1–4 generated
//! modules (offload_core::testgen::chain) and chains of the examples, each
//! fused into ONE XDP and ONE tc program (offload_ebpf::codegen::compile_chain),
//! loaded through the production path with every module's entries, run under
//! BPF_PROG_TEST_RUN on generated frames and compared with
//! `semantics::run_chain`: verdict, output bytes, and every module's
//! counters. The egress port of forwards is observed on veths through the
//! live runner `offloadctl validate` uses (drivers::validate::live).
//!
//! Needs root; skips loudly otherwise (a failure with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1). `OFFLOAD_CHAIN_CASES=N` runs N random
//! chains instead of the fixed slice.

use offload_core::ir::chain::{fuse, Fused};
use offload_core::ir::Module;
use offload_core::semantics::{self, CounterSlot, Verdict};
use offload_core::testgen;
use offload_drivers::testenv::require_root;
use offload_drivers::testrun;
use offload_drivers::validate::bpf::{self as vbpf, code, skb_run_may_refuse, Counters};
use offload_ebpf::codegen::Compiled;
use offload_ebpf::layout::Hook;
use std::collections::BTreeMap;
use std::time::Instant;

const LO: u32 = 1;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[derive(Default, Debug)]
struct Totals {
    chains: usize,
    /// Chains per length.
    lengths: BTreeMap<usize, usize>,
    runs: usize,
    /// Runs in which at least two modules ran (a pass continued).
    continued: usize,
    /// Runs in which the last module of a chain of ≥ 2 ran.
    reached_last: usize,
    not_run: usize,
    /// Chains the target refuses with a named reason (tc: a pop_vlan after
    /// a VLAN change, possibly by an earlier module).
    refusals: Vec<String>,
    counters_checked: usize,
    mismatches: Vec<String>,
    verdicts: BTreeMap<&'static str, usize>,
}

fn expected_counters(
    fused: &Fused,
    c: &Compiled,
    o: &semantics::ChainOutcome,
    into: &mut Counters,
) {
    for hit in o.fused_counters(fused) {
        let tl = c.layout.table(hit.table);
        let slot = match hit.slot {
            CounterSlot::Entry(e) => e as u32,
            CounterSlot::Default => tl.size,
        };
        let Some(map) = tl.counters_map.clone() else {
            continue;
        };
        let e = into.entry((map, slot)).or_default();
        e.0 += 1;
        e.1 += hit.bytes;
    }
}

/// One chain on one hook: every frame through the fused program, then the
/// counters of every module's tables.
fn differential(
    label: &str,
    modules: &[Module],
    hook: Hook,
    frames: &[testgen::Frame],
    t: &mut Totals,
) {
    let fused = fuse(modules).unwrap_or_else(|e| panic!("{label}: {e}"));
    let (c, loaded) = match vbpf::load_chain(&fused, hook, &|_| LO) {
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
        vbpf::set_in_port(&c, &loaded, LO, f.in_port).expect("in_ports");
        let want = semantics::run_chain(modules, f.in_port, &f.bytes);
        let got = match testrun::run(&loaded, &f.bytes, LO) {
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
        expected_counters(&fused, &c, &want, &mut expected);
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
    let got = vbpf::read_counters(&fused.module, &c, &loaded).expect("counters");
    t.counters_checked += expected.len();
    for m in vbpf::counter_mismatches(&expected, &got) {
        t.mismatches.push(format!("{label} {hook:?}: {m}"));
    }
}

fn report(name: &str, t: &Totals, secs: f64) {
    eprintln!(
        "{name}: {} fused chains loaded (by length {:?}), {} test runs ({} went on past the first module, {} reached the last), {} counters compared, {} mismatches, {} not run, {} chains refused by the target in {secs:.1}s; verdicts {:?}",
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
            (r.contains("Tc") && r.contains("pop_vlan after a VLAN change"))
                || r.contains("maps, the kernel allows 64 per program"),
            "only tc's VLAN rule and the kernel's map limit may refuse a chain: {r}"
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
fn random_chains_agree_with_the_reference_on_xdp_and_tc() {
    if !require_root("random_chains_agree_with_the_reference_on_xdp_and_tc") {
        return;
    }
    let t0 = Instant::now();
    let n = env_usize("OFFLOAD_CHAIN_CASES").unwrap_or(40) as u64;
    let mut total = Totals::default();
    for seed in 0xc4a1_0000..0xc4a1_0000 + n {
        let modules = chain_modules(seed);
        let fused = fuse(&modules).unwrap();
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
        "random chains, BPF_PROG_TEST_RUN",
        &total,
        t0.elapsed().as_secs_f64(),
    );
    assert_clean(&total);
    // The slice must exercise what is new: every length, passes that go on.
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

/// The example chains that share ports (ddos-filter has none, so it goes in
/// front of any; the others each declare their own).
const EXAMPLE_CHAINS: &[&[&str]] = &[
    &["ddos-filter", "edge-router"],
    &["ddos-filter", "basic-forwarding"],
    &["ddos-filter", "l2-switch"],
    &["l2-switch", "ddos-filter"],
];

#[test]
fn example_chains_agree_with_the_reference_on_xdp_and_tc() {
    if !require_root("example_chains_agree_with_the_reference_on_xdp_and_tc") {
        return;
    }
    let t0 = Instant::now();
    let mut total = Totals::default();
    for names in EXAMPLE_CHAINS {
        let modules: Vec<Module> = names.iter().map(|n| example(n)).collect();
        let fused = fuse(&modules).unwrap();
        let frames = testgen::frames(0xe4a3, &fused.module, 400);
        for hook in [Hook::Xdp, Hook::Tc] {
            differential(&names.join(" -> "), &modules, hook, &frames, &mut total);
        }
    }
    report("example chains", &total, t0.elapsed().as_secs_f64());
    assert_clean(&total);
    // l2-switch pops after its own push: refused on tc alone and in chains.
    assert_eq!(total.refusals.len(), 2, "{:?}", total.refusals);
    assert!(total.reached_last > 200, "{total:?}");
    // Ports that differ are refused before anything is compiled.
    let e = fuse(&[example("edge-router"), example("basic-forwarding")]).unwrap_err();
    assert!(
        e.to_string()
            .contains("module `basic-forwarding` declares port `s1_h1`"),
        "{e}"
    );
}

/// Where forwarded frames of fused chains come out, on veths.
fn live_test(name: &str, hook: Hook) {
    use offload_drivers::validate::{live, FrameResult, Probe};
    if !require_root(name) {
        return;
    }
    let t0 = Instant::now();
    let mut total = Totals::default();
    let mut ports_seen = 0;
    let mut chains: Vec<Vec<Module>> = vec![vec![example("ddos-filter"), example("edge-router")]];
    // Random chains that forward to at least two ports and that the hook
    // takes (tc refuses a pop_vlan after a VLAN change, see diff_random).
    chains.extend(
        (0xc4a2_0000u64..)
            .map(chain_modules)
            .filter(|ms| {
                ms.len() >= 2
                    && ms.iter().any(|m| m.ports.len() >= 2)
                    && ms.iter().any(offload_ebpf::layout::module_forwards)
                    && offload_ebpf::codegen::compile_chain(&fuse(ms).unwrap(), &vbpf::target(hook))
                        .is_ok()
            })
            .take(6),
    );
    for modules in &chains {
        let fused = fuse(modules).unwrap();
        let probes: Vec<Probe> = testgen::frames(0x11fe, &fused.module, 150)
            .into_iter()
            .map(|f| Probe {
                in_port: f.in_port,
                bytes: f.bytes,
            })
            .collect();
        let label = fused.module.name.clone();
        let r = match live::run_chain(&fused, modules, hook, &probes, &mut |_, _| {}) {
            Ok(r) => r,
            Err(e) if e.starts_with("refused by the target profile") => {
                total.refusals.push(format!("{label} {hook:?}: {e}"));
                continue;
            }
            Err(e) => {
                total.mismatches.push(format!("{label} {hook:?} live: {e}"));
                continue;
            }
        };
        total.chains += 1;
        for (i, (p, res)) in probes.iter().zip(&r.frames).enumerate() {
            match res {
                FrameResult::NotRun(_) => {
                    total.not_run += 1;
                    continue;
                }
                FrameResult::Fail(m) => total.mismatches.push(format!(
                    "{label} {hook:?} live frame {i}: {}\n  in {}",
                    m.what,
                    hex(&p.bytes)
                )),
                FrameResult::Pass => {}
            }
            total.runs += 1;
            if let Verdict::Forward(_) = semantics::run_chain(modules, p.in_port, &p.bytes).verdict
            {
                ports_seen += 1;
                *total.verdicts.entry("forward, port observed").or_default() += 1;
            }
        }
    }
    report(name, &total, t0.elapsed().as_secs_f64());
    assert_clean(&total);
    assert!(ports_seen > 50, "too few forwards observed: {ports_seen}");
}

#[test]
fn xdp_fused_chains_forward_out_of_the_port_the_reference_names() {
    live_test(
        "xdp_fused_chains_forward_out_of_the_port_the_reference_names",
        Hook::Xdp,
    );
}

#[test]
fn tc_fused_chains_redirect_out_of_the_port_the_reference_names() {
    live_test(
        "tc_fused_chains_redirect_out_of_the_port_the_reference_names",
        Hook::Tc,
    );
}

/// `OFFLOAD_CHAIN_REPRO=<seed> cargo test --test diff_chain repro -- --ignored --nocapture`
/// loads one random chain on both hooks and prints what the kernel says.
#[test]
#[ignore]
fn repro() {
    let seed = std::env::var("OFFLOAD_CHAIN_REPRO")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .expect("OFFLOAD_CHAIN_REPRO=<hex seed>");
    let modules = chain_modules(seed);
    for m in &modules {
        eprintln!("--- {}\n{}", m.name, offload_core::testgen::render(m));
    }
    // Every contiguous part of the chain, to find the modules that are too much together.
    for a in 0..modules.len() {
        for b in a + 1..=modules.len() {
            let fused = fuse(&modules[a..b]).unwrap();
            for hook in [Hook::Xdp, Hook::Tc] {
                match vbpf::load_chain(&fused, hook, &|_| LO) {
                    Ok((c, _)) => eprintln!(
                        "modules {a}..{b} {hook:?}: loaded, {} insns",
                        c.program.insns.len()
                    ),
                    Err(e) => eprintln!(
                        "modules {a}..{b} {hook:?}: {}",
                        e.to_string().lines().last().unwrap_or_default()
                    ),
                }
            }
        }
    }
}

/// `meta.group` starts at 0 in each module (semantics::chain): a module that
/// sets it to 5 and passes, then one that forwards only group 0.
#[test]
fn meta_group_starts_fresh_in_each_module() {
    if !require_root("meta_group_starts_fresh_in_each_module") {
        return;
    }
    let load = |f: &str| {
        let p = format!("{}/tests/fixtures/chains/{f}", env!("CARGO_MANIFEST_DIR"));
        offload_core::spec::compile(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|d| panic!("{p}: {d:?}"))
    };
    let modules = [load("group-setter.toml"), load("group-reader.toml")];
    let fused = fuse(&modules).unwrap();
    let frames = testgen::frames(0x6e0, &fused.module, 60);
    let forwarded = frames
        .iter()
        .filter(|f| {
            semantics::run_chain(&modules, f.in_port, &f.bytes).verdict
                == Verdict::Forward(offload_core::ir::PortId(2))
        })
        .count();
    assert!(
        forwarded > 10,
        "the reference forwards group 0: {forwarded}"
    );
    let mut total = Totals::default();
    for hook in [Hook::Xdp, Hook::Tc] {
        differential(
            "group-setter -> group-reader",
            &modules,
            hook,
            &frames,
            &mut total,
        );
    }
    assert_eq!(total.chains, 2, "{:?}", total.refusals);
    assert_clean(&total);
}
