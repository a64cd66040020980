//! Differential proof of split placement on the running kernel: a module's
//! NIC half compiled for the NFP offload profile (shared atomic counters,
//! unrolled mask probes — the program the NIC would get) and run under the
//! host's BPF_PROG_TEST_RUN, as the other differential tests run NIC
//! variants; then, when it hands the packet off (XDP_PASS), the host half
//! (XDP and tc, kernel profile) on the NIC half's output bytes. Compared
//! with the reference run of the *whole* module (`semantics::run`, not
//! `run_split`): verdict, bytes, and the counters of both halves merged by
//! table name.
//!
//! Cases: random split cases (`testgen::split_case`) and the example
//! `split-edge` with its own frames and a stated traffic mix, for which the
//! share of packets decided in the NIC is printed. `OFFLOAD_SPLIT_CASES=N`
//! runs more random cases (default 40).
//!
//! Needs root; skips with a reason otherwise (a failure with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1).

use offload_core::ir::split::{split, Split};
use offload_core::ir::{Module, PortId};
use offload_core::plan::Profile;
use offload_core::semantics::{self, CounterHit, CounterSlot, Verdict};
use offload_core::testgen::{self, build, Frame};
use offload_drivers::load::program::Loaded;
use offload_drivers::testenv::require_root;
use offload_drivers::testrun;
use offload_drivers::validate::bpf::{self as vbpf, code, code_name, skb_run_may_refuse};
use offload_ebpf::codegen::{Compiled, Target};
use offload_ebpf::layout::Hook;
use std::collections::BTreeMap;

const LO: u32 = 1;
const XDP_PASS: u32 = 2;

/// Counters by (table name, slot): what `status` merges across the halves.
type Merged = BTreeMap<(String, String), (u64, u64)>;

fn slot_name(s: CounterSlot) -> String {
    match s {
        CounterSlot::Entry(i) => format!("entry {i}"),
        CounterSlot::Default => "default".into(),
    }
}

fn add_expected(m: &Module, hits: &[CounterHit], into: &mut Merged) {
    for h in hits {
        let e = into
            .entry((m.table(h.table).name.clone(), slot_name(h.slot)))
            .or_default();
        e.0 += 1;
        e.1 += h.bytes;
    }
}

/// A half's counters read back from its maps, by table name.
fn read_half(half: &Module, c: &Compiled, loaded: &Loaded, into: &mut Merged) {
    let by_map = vbpf::read_counters(half, c, loaded).expect("counters");
    for t in &half.tables {
        let tl = c.layout.table(t.id);
        let Some(map) = &tl.counters_map else {
            continue;
        };
        for ((m, slot), pb) in &by_map {
            if m != map {
                continue;
            }
            let s = if *slot == tl.default_slot {
                CounterSlot::Default
            } else {
                CounterSlot::Entry(*slot as usize)
            };
            let e = into.entry((t.name.clone(), slot_name(s))).or_default();
            e.0 += pb.0;
            e.1 += pb.1;
        }
    }
}

#[derive(Default, Debug)]
struct Totals {
    cases: usize,
    runs: usize,
    decided_on_nic: usize,
    handed_off: usize,
    /// NIC halves the NFP profile refuses by name (e.g. too many masks).
    nic_refusals: usize,
    host_refusals: usize,
    counters: usize,
    mismatches: Vec<String>,
}

struct Loaded2 {
    nic: (Compiled, Loaded),
    host: (Compiled, Loaded),
}

fn load_halves(s: &Split, hook: Hook, t: &mut Totals) -> Option<Loaded2> {
    let nfp = Target::xdp_offload(Profile::nfp());
    let nic = match vbpf::load_for(&s.nic, &nfp, &|_| LO) {
        Ok(x) => x,
        Err(vbpf::LoadError::Refused(_)) => {
            t.nic_refusals += 1;
            return None;
        }
        Err(e) => {
            t.mismatches
                .push(format!("{}: NIC half does not load: {e}", s.whole.name));
            return None;
        }
    };
    let host = match vbpf::load(&s.host, hook, &|_| LO) {
        Ok(x) => x,
        Err(vbpf::LoadError::Refused(_)) => {
            t.host_refusals += 1;
            return None;
        }
        Err(e) => {
            t.mismatches.push(format!(
                "{}: host half ({hook:?}) does not load: {e}",
                s.whole.name
            ));
            return None;
        }
    };
    Some(Loaded2 { nic, host })
}

/// Every frame through the NIC half then (on XDP_PASS) the host half;
/// compared with the whole module's reference run.
fn differential(s: &Split, hook: Hook, frames: &[Frame], label: &str) -> Totals {
    let mut t = Totals::default();
    let Some(l) = load_halves(s, hook, &mut t) else {
        return t;
    };
    t.cases = 1;
    let (cn, ln) = &l.nic;
    let (ch, lh) = &l.host;
    let mut want = Merged::new();
    for (i, f) in frames.iter().enumerate() {
        if f.bytes.len() < 14 {
            continue;
        }
        vbpf::set_in_port(cn, ln, LO, f.in_port).unwrap();
        vbpf::set_in_port(ch, lh, LO, f.in_port).unwrap();
        let whole = semantics::run(&s.whole, f.in_port, &f.bytes);
        let nic = testrun::run(ln, &f.bytes, LO).expect("NIC half test run");
        // Where the verdict came from: the NIC half (an XDP code) or the host half.
        let (got, on_nic, ran_on) = if nic.retval != XDP_PASS {
            (nic, true, Hook::Xdp)
        } else {
            if hook == Hook::Tc && skb_run_may_refuse(&nic.data) {
                // The skb test run refuses the frame before the host half
                // runs: only the NIC half ran (and counted).
                let so = semantics::run_split(s, f.in_port, &f.bytes);
                add_expected(&s.whole, &so.nic.counters, &mut want);
                continue;
            }
            let host = testrun::run(lh, &nic.data, LO).expect("host half test run");
            (host, false, hook)
        };
        let want_code = code(ran_on, &whole.verdict);
        t.runs += 1;
        if on_nic {
            t.decided_on_nic += 1;
        } else {
            t.handed_off += 1;
        }
        let mut what = Vec::new();
        // A verdict the module reaches on the host must not be decided on the NIC.
        let reference_on_nic = semantics::run_split(s, f.in_port, &f.bytes).decided_on_nic();
        if on_nic != reference_on_nic {
            what.push(format!(
                "decided on the NIC: reference {reference_on_nic}, programs {on_nic}"
            ));
        }
        if got.retval != want_code {
            what.push(format!(
                "verdict: the whole module says {:?} ({}), the halves returned {}",
                whole.verdict,
                code_name(ran_on, want_code),
                code_name(ran_on, got.retval)
            ));
        }
        if got.data != whole.packet {
            what.push(vbpf::first_diff(&whole.packet, &got.data));
        }
        if !what.is_empty() {
            t.mismatches
                .push(format!("{label} {hook:?} frame {i}: {}", what.join("; ")));
        }
        add_expected(&s.whole, &whole.counters, &mut want);
    }
    let mut got = Merged::new();
    read_half(&s.nic, cn, ln, &mut got);
    read_half(&s.host, ch, lh, &mut got);
    t.counters = want.len().max(got.len());
    if want != got {
        t.mismatches.push(format!(
            "{label} {hook:?}: merged counters differ:\n  reference {want:?}\n  halves    {got:?}"
        ));
    }
    t
}

fn add(into: &mut Totals, o: Totals) {
    into.cases += o.cases;
    into.runs += o.runs;
    into.decided_on_nic += o.decided_on_nic;
    into.handed_off += o.handed_off;
    into.nic_refusals += o.nic_refusals;
    into.host_refusals += o.host_refusals;
    into.counters += o.counters;
    into.mismatches.extend(o.mismatches);
}

fn assert_clean(what: &str, t: &Totals) {
    eprintln!(
        "{what}: {} split programs pairs, {} runs ({} decided in the NIC, {} handed off), {} counters, {} NIC halves refused by the NFP profile, {} host halves refused, {} mismatches",
        t.cases, t.runs, t.decided_on_nic, t.handed_off, t.counters, t.nic_refusals, t.host_refusals, t.mismatches.len()
    );
    assert!(
        t.mismatches.is_empty(),
        "{what}: {} mismatches:\n{}",
        t.mismatches.len(),
        t.mismatches
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn random_split_cases_both_halves_in_sequence_equal_the_whole_module() {
    if !require_root("random_split_cases_both_halves_in_sequence_equal_the_whole_module") {
        return;
    }
    let n: u64 = std::env::var("OFFLOAD_SPLIT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut total = Totals::default();
    for seed in 0..n {
        let Some((case, at)) = testgen::split_case(0x5e_0000 + seed).expect("valid case") else {
            continue;
        };
        let s = split(&case.module, at).unwrap();
        let frames = testgen::frames(seed, &case.module, 120);
        for hook in [Hook::Xdp, Hook::Tc] {
            let o = differential(&s, hook, &frames, &format!("seed {:#x} at {at}", case.seed));
            if !o.mismatches.is_empty() {
                eprintln!("--- failing case ---\n{}", case.source);
            }
            add(&mut total, o);
        }
    }
    assert_clean("random split cases", &total);
    // The property must have been exercised both ways.
    assert!(total.cases >= 20, "only {} pairs loaded", total.cases);
    assert!(total.decided_on_nic > 0 && total.handed_off > 0);
}

fn split_edge() -> Split {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/split-edge.toml"),
    )
    .unwrap();
    let m = offload_core::spec::compile(&src).unwrap();
    let at = offload_core::ir::split::carries(&m, 2);
    assert!(at.is_empty(), "{at:?}");
    split(&m, 2).unwrap()
}

/// The stated traffic mix on split-edge's uplink (1,000 frames): 20 %
/// from blocklisted sources, 10 % SSH from outside 10/8 (the ACL denies),
/// 5 % NetBIOS (denied), 5 % SSH from 10/8 (allowed, routed), 45 % UDP/TCP
/// to 192.168.1.0/24 (routed to servers), 10 % to 192.168.0.0/16 (backup),
/// 5 % to 198.51.100.0/24 (blackholed by a route).
/// A traffic class: name, frames, source, destination, protocol, port.
type Class = (&'static str, usize, [u8; 4], [u8; 4], u8, u16);

fn traffic_mix() -> Vec<(&'static str, Frame)> {
    let mut out = Vec::new();
    let v4 = |a: [u8; 4]| u32::from_be_bytes(a);
    let classes: [Class; 7] = [
        (
            "blocklisted source",
            200,
            [203, 0, 113, 66],
            [192, 168, 1, 10],
            17,
            53,
        ),
        (
            "ssh from outside",
            100,
            [192, 0, 2, 7],
            [192, 168, 1, 10],
            6,
            22,
        ),
        ("netbios", 50, [192, 0, 2, 8], [192, 168, 1, 11], 17, 138),
        ("ssh from 10/8", 50, [10, 1, 2, 3], [192, 168, 1, 10], 6, 22),
        (
            "to servers",
            450,
            [192, 0, 2, 9],
            [192, 168, 1, 20],
            17,
            443,
        ),
        ("to backup", 100, [192, 0, 2, 10], [192, 168, 7, 1], 6, 80),
        ("blackholed", 50, [192, 0, 2, 11], [198, 51, 100, 5], 17, 9),
    ];
    for (name, count, src, dst, proto, dport) in classes {
        for i in 0..count {
            let spec = build::Spec {
                l3: build::L3::V4 {
                    src: v4(src),
                    dst: v4(dst),
                },
                proto,
                sport: 1024 + i as u16,
                dport,
                ..build::Spec::default()
            };
            out.push((
                name,
                Frame {
                    bytes: spec.build(),
                    in_port: PortId(1),
                    target: None,
                },
            ));
        }
    }
    out
}

#[test]
fn split_edge_halves_equal_the_module_and_the_nic_decides_its_share() {
    if !require_root("split_edge_halves_equal_the_module_and_the_nic_decides_its_share") {
        return;
    }
    let s = split_edge();
    let mut frames = testgen::frames(0x5ed9e, &s.whole, 600);
    let mix = traffic_mix();
    frames.extend(mix.iter().map(|(_, f)| f.clone()));
    let mut total = Totals::default();
    for hook in [Hook::Xdp, Hook::Tc] {
        add(&mut total, differential(&s, hook, &frames, "split-edge"));
    }
    assert_clean("split-edge", &total);
    assert_eq!(
        total.cases, 2,
        "both pairs load (NIC half on the NFP profile)"
    );

    // The share decided in the NIC for the stated mix, from the reference
    // and from the NIC half's test runs (they must agree).
    let nfp = Target::xdp_offload(Profile::nfp());
    let (cn, ln) = vbpf::load_for(&s.nic, &nfp, &|_| LO).unwrap();
    vbpf::set_in_port(&cn, &ln, LO, PortId(1)).unwrap();
    let mut by_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut nic_ref, mut nic_prog) = (0, 0);
    for (class, f) in &mix {
        let r = semantics::run_split(&s, f.in_port, &f.bytes).decided_on_nic();
        let p = testrun::run(&ln, &f.bytes, LO).unwrap().retval != XDP_PASS;
        nic_ref += usize::from(r);
        nic_prog += usize::from(p);
        let e = by_class.entry(class).or_default();
        e.0 += usize::from(p);
        e.1 += 1;
        let whole = semantics::run(&s.whole, f.in_port, &f.bytes);
        if p {
            assert_eq!(
                whole.verdict,
                Verdict::Drop,
                "{class}: the NIC only drops here"
            );
        }
    }
    assert_eq!(nic_ref, nic_prog);
    eprintln!(
        "split-edge traffic mix: {nic_prog} of {} frames decided in the NIC ({:.1} %); per class (in NIC / sent): {by_class:?}",
        mix.len(),
        100.0 * nic_prog as f64 / mix.len() as f64
    );
    assert_eq!(nic_prog, 200 + 100 + 50, "blocklist + ACL denials");
}
