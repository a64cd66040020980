//! Meters held to the reference packet for packet: frames with explicit
//! arrival times run under BPF_PROG_TEST_RUN on XDP and tc, the program's
//! `clock` map set to each frame's time before its run, and every verdict,
//! output and counter compared with `semantics::run_timed` over one
//! `MeterState` (the buckets carry over from frame to frame on both sides).
//!
//! - the example `ddos-mitigator` with its rates scaled down so buckets run
//!   dry within the run (red drop and red pass both seen);
//! - a fixture with every red action and both units;
//! - random modules with meters (`ModuleConfig::meters`), random entry
//!   rates and random timestamps (`testgen::timestamps`: gaps, repeats and
//!   clocks going back).
//!
//! Needs root; skips with a reason otherwise (a failure with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1).

use offload_core::ir::{Color, MeterRate, MeterUnit, Module, MIN_BYTES_BURST};
use offload_core::semantics::{self, MeterState};
use offload_core::testgen::{self, EntryConfig, Frame, ModuleConfig};
use offload_drivers::testenv::require_root;
use offload_drivers::testrun;
use offload_drivers::validate::bpf::{self as vbpf, add_counters, code, skb_run_may_refuse};
use offload_ebpf::layout::Hook;
use std::collections::BTreeMap;

const LO: u32 = 1;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Default, Debug)]
struct Totals {
    modules: usize,
    runs: usize,
    green: usize,
    red: usize,
    refused: usize,
    profile_refusals: usize,
    mismatches: Vec<String>,
}

impl Totals {
    fn add(&mut self, o: Totals) {
        self.modules += o.modules;
        self.runs += o.runs;
        self.green += o.green;
        self.red += o.red;
        self.refused += o.refused;
        self.profile_refusals += o.profile_refusals;
        self.mismatches.extend(o.mismatches);
    }
    fn report(&self, name: &str) {
        eprintln!(
            "{name}: {} module loads ({} refused by the tc profile for other reasons), {} timed test runs ({} metered hits green, {} red), {} frames refused by the skb test run, {} mismatches",
            self.modules,
            self.profile_refusals,
            self.runs,
            self.green,
            self.red,
            self.refused,
            self.mismatches.len()
        );
    }
    fn assert_clean(&self) {
        assert!(
            self.mismatches.is_empty(),
            "{} mismatches over {} runs; first ones:\n{}",
            self.mismatches.len(),
            self.runs,
            self.mismatches
                .iter()
                .take(6)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Runs `frames` at `times` through `module` on `hook` and the reference.
fn timed(name: &str, module: &Module, hook: Hook, frames: &[Frame], times: &[u64]) -> Totals {
    let mut t = Totals {
        modules: 1,
        ..Totals::default()
    };
    let (c, loaded) = match vbpf::load(module, hook, &|_| LO) {
        Ok(x) => x,
        // A refusal by name for a reason other than meters (tc's pop_vlan
        // rule): counted, not a mismatch. A meter refusal is a failure.
        Err(vbpf::LoadError::Refused(e)) if !e.contains("meter") => {
            t.modules = 0;
            t.profile_refusals = 1;
            return t;
        }
        Err(e) => {
            t.mismatches.push(format!("{name} {hook:?}: load: {e}"));
            return t;
        }
    };
    let mut state = MeterState::new();
    let mut expected = BTreeMap::new();
    for (i, (f, now)) in frames.iter().zip(times).enumerate() {
        if f.bytes.len() < 14 || (hook == Hook::Tc && skb_run_may_refuse(&f.bytes)) {
            // The kernel refuses these skb test runs; the reference would
            // still spend tokens, so they are left out on both sides.
            t.refused += 1;
            continue;
        }
        vbpf::set_in_port(&c, &loaded, LO, f.in_port).expect("in_ports");
        if c.layout.clock_map.is_some() {
            vbpf::set_clock(&c, &loaded, *now).expect("clock");
        }
        let trace = semantics::run_timed_traced(module, f.in_port, &f.bytes, *now, &mut state);
        for (_, _, color) in &trace.meters {
            match color {
                Color::Green => t.green += 1,
                Color::Red => t.red += 1,
            }
        }
        let want = trace.outcome;
        let got = match testrun::run(&loaded, &f.bytes, LO) {
            Ok(r) => r,
            Err(e) => {
                t.mismatches
                    .push(format!("{name} {hook:?} frame {i}: test run failed: {e}"));
                continue;
            }
        };
        t.runs += 1;
        add_counters(&c, &want, &mut expected);
        if got.retval != code(hook, &want.verdict) || got.data != want.packet {
            t.mismatches.push(format!(
                "{name} {hook:?} frame {i} at {now} ns: want {:?} (code {}), got code {}; meters {:?}\n  in   {}\n  want {}\n  got  {}",
                want.verdict,
                code(hook, &want.verdict),
                got.retval,
                trace.meters,
                hex(&f.bytes),
                hex(&want.packet),
                hex(&got.data)
            ));
        }
    }
    let got = vbpf::read_counters(module, &c, &loaded).expect("counters");
    if got != expected {
        t.mismatches.push(format!(
            "{name} {hook:?}: counters differ\n  want {expected:?}\n  got  {got:?}"
        ));
    }
    t
}

fn compile(path: &str) -> Module {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    offload_core::spec::compile(&src).unwrap_or_else(|d| panic!("{}", d.render_plain(path, &src)))
}

/// Every metered entry's rate divided so its bucket empties within a few
/// hundred frames a few µs apart.
fn scaled_down(mut m: Module) -> Module {
    fn small(unit: MeterUnit, r: MeterRate) -> MeterRate {
        MeterRate {
            rate: (r.rate / 1000).max(1),
            burst: match unit {
                MeterUnit::Packets => (r.burst / 2000).max(1),
                MeterUnit::Bytes => MIN_BYTES_BURST * 2,
            },
        }
    }
    for t in &mut m.tables {
        let Some(meter) = &mut t.meter else { continue };
        meter.default = small(meter.unit, meter.default);
        let (unit, default) = (meter.unit, meter.default);
        for e in &mut t.entries {
            e.meter = e.meter.map(|r| small(unit, r)).filter(|r| *r != default);
        }
    }
    m
}

#[test]
fn the_ddos_mitigator_agrees_with_run_timed_on_xdp_and_tc() {
    if !require_root("the_ddos_mitigator_agrees_with_run_timed_on_xdp_and_tc") {
        return;
    }
    let m = scaled_down(compile("examples/ddos-mitigator.toml"));
    let frames = testgen::frames(0xdd05, &m, 600);
    // Dense arrivals: 1-20 µs apart.
    let times: Vec<u64> = (0..frames.len() as u64)
        .scan(1_000u64, |t, i| {
            *t += 1_000 + (i * 7919) % 19_000;
            Some(*t)
        })
        .collect();
    let mut total = Totals::default();
    for hook in [Hook::Xdp, Hook::Tc] {
        total.add(timed("ddos-mitigator", &m, hook, &frames, &times));
    }
    total.report("ddos-mitigator (rates / 1000), timed BPF_PROG_TEST_RUN");
    total.assert_clean();
    assert!(
        total.red > 0 && total.green > 0,
        "{total:?}: both colors must be seen"
    );
}

#[test]
fn every_red_action_and_unit_agrees_with_run_timed() {
    if !require_root("every_red_action_and_unit_agrees_with_run_timed") {
        return;
    }
    let m = compile("tests/fixtures/meters/red-actions.toml");
    let frames = testgen::frames(0x4ed, &m, 800);
    let times = testgen::timestamps(0x7135, frames.len());
    let mut total = Totals::default();
    for hook in [Hook::Xdp, Hook::Tc] {
        total.add(timed("red-actions", &m, hook, &frames, &times));
    }
    total.report("red-actions fixture, timed BPF_PROG_TEST_RUN");
    total.assert_clean();
    assert!(
        total.red > 0 && total.green > 0,
        "{total:?}: both colors must be seen"
    );
}

#[test]
fn random_metered_modules_agree_with_run_timed_on_xdp_and_tc() {
    if !require_root("random_metered_modules_agree_with_run_timed_on_xdp_and_tc") {
        return;
    }
    let modules: u64 = std::env::var("OFFLOAD_DIFF_METER_MODULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let mc = ModuleConfig {
        meters: true,
        ..ModuleConfig::default()
    };
    let mut total = Totals::default();
    let mut metered = 0;
    for k in 0..modules {
        let seed = 0x3e7e_0000 + k;
        let case = testgen::case_with(seed, &mc, &EntryConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        if case.module.tables.iter().any(|t| t.meter.is_some()) {
            metered += 1;
        }
        let frames = testgen::frames(seed ^ 0xf4a3e5, &case.module, 200);
        let times = testgen::timestamps(seed ^ 0x71e, frames.len());
        for hook in [Hook::Xdp, Hook::Tc] {
            let t = timed(
                &format!("seed {seed:#x}"),
                &case.module,
                hook,
                &frames,
                &times,
            );
            if !t.mismatches.is_empty() {
                eprintln!("--- failing case {seed:#x} ---\n{}", case.source);
            }
            total.add(t);
        }
    }
    total.report(&format!(
        "random modules with meters ({metered} of {modules} metered), timed BPF_PROG_TEST_RUN"
    ));
    total.assert_clean();
    assert!(
        metered > modules / 2,
        "the generator must give most modules a meter"
    );
    assert!(
        total.red > 0 && total.green > 0,
        "{total:?}: both colors must be seen"
    );
}

/// Not a pass/fail figure: ns/packet of the example with its meters
/// against the same module with every meter removed, measured in the same
/// run (ratios, never asserted), plus instructions and verifier-processed
/// instructions. The frame hits a metered entry of `ratelimit` (kernel
/// clock: the clock map is 0, as deployed). Printed for the README.
#[test]
fn meter_cost_per_packet_against_the_same_tables_without_meters() {
    if !require_root("meter_cost_per_packet_against_the_same_tables_without_meters") {
        return;
    }
    let metered = compile("examples/ddos-mitigator.toml");
    let mut plain = metered.clone();
    for t in &mut plain.tables {
        t.meter = None;
        for e in &mut t.entries {
            e.meter = None;
        }
    }
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 1, 2, 3], [192, 0, 2, 1], 64)
        .tcp(40000, 443, 1, 65535)
        .write(&mut f, &[0u8; 26])
        .unwrap();
    let mut report = String::new();
    for hook in [Hook::Xdp, Hook::Tc] {
        let mut loaded = Vec::new();
        for (name, m) in [("without meters", &plain), ("with meters", &metered)] {
            let (c, l) = vbpf::load(m, hook, &|_| LO).expect("load");
            let verified = aya::programs::loaded_programs()
                .filter_map(Result::ok)
                .find(|p| p.id() == l.info.id)
                .and_then(|p| p.verified_instruction_count());
            let want = semantics::run(m, offload_core::ir::PortId(1), &f);
            let got = testrun::run(&l, &f, LO).unwrap();
            assert_eq!(got.retval, code(hook, &want.verdict), "{name} {hook:?}");
            report.push_str(&format!(
                "{hook:?} {name}: {} instructions, {} processed by the verifier\n",
                c.program.insns.len(),
                verified.map_or("?".into(), |v| v.to_string())
            ));
            loaded.push((name, l, Vec::new()));
        }
        // Alternate the two programs so both see the same machine load.
        for _ in 0..40 {
            for (_, l, ns) in &mut loaded {
                ns.push(testrun::run_timed(l, &f, LO, 200).unwrap().1.as_nanos());
            }
        }
        let mut medians = Vec::new();
        for (name, _, ns) in &mut loaded {
            ns.sort();
            medians.push(ns[ns.len() / 2]);
            report.push_str(&format!(
                "{hook:?} {name}: {} ns/packet (median of 40 × 200 runs)\n",
                ns[ns.len() / 2]
            ));
        }
        report.push_str(&format!(
            "{hook:?}: metered / plain = {:.2}\n",
            medians[1] as f64 / medians[0].max(1) as f64
        ));
    }
    eprint!("{report}");
}
