//! Service chains on XDP, fused (one program) beside linked (a dispatcher
//! and one program per module, tail calls): ns/packet per chain length, in
//! one run, beside the modules alone measured in the same run.
//!
//! Chains of length n: n − 1 copies of examples/ddos-filter.toml (renamed,
//! so the chain is valid) in front of examples/edge-router.toml. Two frames:
//! one every module passes and the router forwards (it crosses the whole
//! chain), and one the first module's blocklist drops. Every result is
//! checked against `semantics::run_chain` before it is timed.
//!
//! `cargo bench --bench chain_speed` (root; prints figures, asserts none).

use offload_core::ir::chain::fuse;
use offload_core::ir::{Module, PortId};
use offload_core::semantics;
use offload_drivers::load::program::Loaded;
use offload_drivers::testrun;
use offload_drivers::validate::bpf as vbpf;
use offload_ebpf::layout::Hook;
use std::path::Path;

const LO: u32 = 1;
const REPEAT: u32 = 20_000;
const ROUNDS: usize = 7;

fn example(name: &str) -> Module {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.toml"));
    offload_core::spec::compile(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time(l: &Loaded, frame: &[u8]) -> f64 {
    median(
        (0..ROUNDS)
            .map(|_| testrun::time_ns(l, frame, LO, REPEAT).unwrap())
            .collect(),
    )
}

/// Checks `l` against the reference on both frames, then times them.
fn measure(l: &Loaded, modules: &[Module], frames: [&[u8]; 2]) -> [f64; 2] {
    frames.map(|frame| {
        let want = semantics::run_chain(modules, PortId(1), frame);
        let got = testrun::run(l, frame, LO).unwrap();
        assert_eq!(got.retval, vbpf::code(Hook::Xdp, &want.verdict));
        assert_eq!(got.data, want.packet);
        time(l, frame)
    })
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

fn main() {
    if let Some(why) = offload_drivers::testenv::missing_privilege() {
        eprintln!("chain_speed: not run: {why}");
        return;
    }
    let routed = hex("02000000000102000000000a080045000020000100004011ae180a000102c0a8010a9c400035000c000070696e67");
    let blocked = hex("02000000000102000000000a0800450000200001000040117c70cb0071050a0000019c400035000c000070696e67");
    let router = example("edge-router");
    let ddos = example("ddos-filter");
    let (rc, rl) = vbpf::load(&router, Hook::Xdp, &|_| LO).expect("edge-router");
    vbpf::set_in_port(&rc, &rl, LO, PortId(1)).unwrap();
    let alone = time(&rl, &routed);
    let (dc, dl) = vbpf::load(&ddos, Hook::Xdp, &|_| LO).expect("ddos-filter");
    vbpf::set_in_port(&dc, &dl, LO, PortId(1)).unwrap();
    assert_eq!(testrun::run(&dl, &blocked, LO).unwrap().retval, 1);
    let drop_alone = time(&dl, &blocked);
    let ddos_pass = time(&dl, &routed);
    println!(
        "XDP chains, ns/packet (median of {ROUNDS} x {REPEAT} BPF_PROG_TEST_RUN runs); n-1 ddos-filters in front of edge-router"
    );
    println!("baselines in this run: edge-router alone {alone:.1} ns (frame routed); ddos-filter alone {ddos_pass:.1} ns (frame passed), {drop_alone:.1} ns (frame dropped)");
    println!(
        "{:>6} | {:>11} {:>8} {:>8} {:>7} | {:>11} {:>8} {:>8} {:>7} | {:>13}",
        "length",
        "fused insns",
        "through",
        "dropped",
        "thr/alone",
        "linked insns",
        "through",
        "dropped",
        "thr/alone",
        "linked/fused"
    );
    for n in [1usize, 2, 4, 8] {
        let mut modules: Vec<Module> = (1..n)
            .map(|i| {
                let mut m = ddos.clone();
                m.name = format!("ddos-{i}");
                m
            })
            .collect();
        modules.push(router.clone());
        let fused = fuse(&modules).unwrap();
        let (fused_insns, fused_ns) = match vbpf::load_chain(&fused, Hook::Xdp, &|_| LO) {
            Ok((c, l)) => {
                vbpf::set_in_port(&c, &l, LO, PortId(1)).unwrap();
                (
                    c.program.insns.len().to_string(),
                    Some(measure(&l, &modules, [&routed, &blocked])),
                )
            }
            Err(e) => {
                let e = e.to_string();
                let why = if e.contains("maps") {
                    "refused: maps > 64".to_string()
                } else {
                    e
                };
                (why, None)
            }
        };
        let run = vbpf::load_linked(&modules, Hook::Xdp, &|_| LO).expect("linked");
        run.set_in_port(LO, PortId(1)).unwrap();
        let linked_insns: usize = run.linked.entry.insns
            + run
                .modules
                .iter()
                .map(|(c, _)| c.program.insns.len())
                .sum::<usize>();
        let linked_ns = measure(&run.entry, &modules, [&routed, &blocked]);
        // What a frame through all of them costs if the modules ran alone.
        let sum_alone = (n - 1) as f64 * ddos_pass + alone;
        println!(
            "{n:>6} | {:>11} {:>8} {:>8} {:>7} | {:>11} {:>8.1} {:>8.1} {:>6.2}x | {:>13}",
            fused_insns,
            cell(fused_ns.map(|f| f[0])),
            cell(fused_ns.map(|f| f[1])),
            fused_ns
                .map(|f| format!("{:.2}x", f[0] / sum_alone))
                .unwrap_or_else(|| "-".into()),
            linked_insns,
            linked_ns[0],
            linked_ns[1],
            linked_ns[0] / sum_alone,
            fused_ns
                .map(|f| format!("{:.2}x / {:.2}x", linked_ns[0] / f[0], linked_ns[1] / f[1]))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!("thr/alone: the frame through every module vs the sum of the modules alone (n-1 ddos-filters + edge-router, this run); linked/fused: through / dropped");
}
