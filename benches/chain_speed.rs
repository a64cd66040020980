//! Fused service chains on XDP: ns/packet per chain length, beside the
//! module alone measured in the same run (issue 14, first slice: the fused
//! program only; one program per module linked by tail calls is not built yet).
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

fn main() {
    if let Some(why) = offload_drivers::testenv::missing_privilege() {
        eprintln!("chain_speed: not run: {why}");
        return;
    }
    let routed = hex("02000000000102000000000a080045000020000100004011ae180a000102c0a8010a9c400035000c000070696e67");
    let blocked = hex("02000000000102000000000a0800450000200001000040117c70cb0071050a0000019c400035000c000070696e67");
    let router = example("edge-router");
    let ddos = example("ddos-filter");
    println!("fused XDP chains, ns/packet (median of {ROUNDS} × {REPEAT} BPF_PROG_TEST_RUN runs)");
    println!(
        "{:>6} {:>7} {:>14} {:>10} {:>14} {:>10}",
        "length", "insns", "through all", "ratio", "dropped by 1st", "ratio"
    );
    let (single, loaded_single) = vbpf::load(&router, Hook::Xdp, &|_| LO).expect("edge-router");
    // Baseline of the dropped frame: ddos-filter alone (it drops it).
    let (dc, dl) = vbpf::load(&ddos, Hook::Xdp, &|_| LO).expect("ddos-filter");
    vbpf::set_in_port(&dc, &dl, LO, PortId(1)).unwrap();
    assert_eq!(
        testrun::run(&dl, &blocked, LO).unwrap().retval,
        1,
        "ddos-filter drops it"
    );
    let drop_base = median(
        (0..ROUNDS)
            .map(|_| testrun::time_ns(&dl, &blocked, LO, REPEAT).unwrap())
            .collect(),
    );
    let mut base = 0.0;
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
        let (c, loaded) = if n == 1 {
            (single.clone(), None)
        } else {
            match vbpf::load_chain(&fused, Hook::Xdp, &|_| LO) {
                Ok((c, l)) => (c, Some(l)),
                Err(e) => {
                    println!("{n:>6}  not one program: {e}");
                    continue;
                }
            }
        };
        let l = loaded.as_ref().unwrap_or(&loaded_single);
        vbpf::set_in_port(&c, l, LO, PortId(1)).unwrap();
        let mut figures = Vec::new();
        for frame in [&routed, &blocked] {
            let want = semantics::run_chain(&modules, PortId(1), frame);
            let got = testrun::run(l, frame, LO).unwrap();
            assert_eq!(got.retval, vbpf::code(Hook::Xdp, &want.verdict));
            assert_eq!(got.data, want.packet);
            let ns = median(
                (0..ROUNDS)
                    .map(|_| testrun::time_ns(l, frame, LO, REPEAT).unwrap())
                    .collect(),
            );
            figures.push(ns);
        }
        if n == 1 {
            base = figures[0];
            println!(
                "{n:>6} {:>7} {:>14.1} {:>9.2}x {:>14} {:>10}   (edge-router alone: the baseline)",
                c.program.insns.len(),
                figures[0],
                1.0,
                "-",
                "-"
            );
            println!(
                "{:>6} {:>7} {:>14} {:>10} {:>14.1} {:>9.2}x   (ddos-filter alone: the baseline)",
                "-",
                dc.program.insns.len(),
                "-",
                "-",
                drop_base,
                1.0
            );
            continue;
        }
        println!(
            "{n:>6} {:>7} {:>14.1} {:>9.2}x {:>14.1} {:>9.2}x",
            c.program.insns.len(),
            figures[0],
            figures[0] / base,
            figures[1],
            figures[1] / drop_base
        );
    }
}
