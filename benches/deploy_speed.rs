//! Deploy speed on this kernel (needs root; prints figures, asserts nothing):
//! - 10^6 exact and 10^6 LPM entries written with BPF_MAP_UPDATE_BATCH, beside
//!   the same entries written one element at a time (the baseline, same run);
//! - single entry update latency: the raw map update and the whole
//!   `entries add` path (validation, diff, state file), median and p99;
//! - `apply` time from module text to attached program (edge-router, XDP
//!   generic on a veth): first apply and hitless re-apply.
//!
//! `cargo bench --bench deploy_speed` (`OFFLOAD_BENCH_N=100000` for a quick run).

use offload_core::ir::{ActionCall, Entry, KeyMatch, Module};
use offload_core::Span;
use offload_drivers::deploy::{self, runtime, ApplyRequest, Roots};
use offload_drivers::entries::parse::{self, EntryText, Lit};
use offload_drivers::entries::write::{self, TableFds};
use offload_drivers::lab::Lab;
use offload_drivers::load::{program, Mode};
use offload_drivers::sys::{self, Kernel};
use offload_ebpf::codegen;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn module(kind: &str, size: u32) -> Module {
    let src = format!(
        r#"
[module]
name = "bench-{kind}"
default = "pass"

[[table]]
name = "t"
keys = [{{ field = "ipv4.dst", match = "{kind}" }}]
actions = ["deny", "allow"]
default_action = "allow"
size = {size}
counters = true

[action.deny]
do = ["drop"]

[action.allow]
do = []
"#
    );
    offload_core::spec::compile(&src).expect("bench module compiles")
}

fn entries(m: &Module, n: u32, lpm: bool) -> Vec<(Entry, u32)> {
    let deny = m.action_by_name("deny").unwrap().id;
    (0..n)
        .map(|i| {
            let addr = u128::from(0x0a00_0000u32 + i);
            let km = if lpm {
                KeyMatch::Lpm {
                    value: addr,
                    prefix_len: 32,
                }
            } else {
                KeyMatch::Exact(addr)
            };
            (
                Entry {
                    meter: None,
                    matches: vec![km],
                    priority: None,
                    action: ActionCall {
                        action: deny,
                        args: vec![],
                    },
                    span: Span::new(0, 0),
                },
                i,
            )
        })
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn bulk(kind: &str, n: u32) {
    let m = module(kind, n);
    let t = &m.tables[0];
    let es = entries(&m, n, kind == "lpm");
    let c = codegen::compile(&m, &codegen::Target::xdp()).expect("compiles");
    let tl = c.layout.table(t.id);
    let t0 = Instant::now();
    let img = write::image(tl, t, &es).expect("encodes");
    let encode = t0.elapsed();
    let mut times = Vec::new();
    for batch in [true, false] {
        // A fresh program (and maps) for each run.
        let l = program::load(&c.object, &c.program_name, Mode::Generic).expect("loads");
        let fds = TableFds::find(tl, &l.maps).expect("maps");
        let t0 = Instant::now();
        let rep = write::write_elements(&Kernel, &tl.entries_map, fds.entries, &img.entries, batch)
            .expect("writes");
        let d = t0.elapsed();
        assert_eq!(rep.batched + rep.one_by_one, n as usize);
        let how = match (&rep.fallback, batch) {
            (Some(f), _) => format!("batch refused after {} ({f}), rest one by one", rep.batched),
            (None, true) => "batch".to_string(),
            (None, false) => "one by one".to_string(),
        };
        println!(
            "  {kind:<5} {n:>8} entries  {:<11} {:>10}  ({how})",
            if batch { "batch" } else { "one-by-one" },
            secs(d)
        );
        times.push(d);
    }
    println!(
        "  {kind:<5} encode through the layout: {}; batch is {:.1}x the one-by-one speed",
        secs(encode),
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if let Some(why) = offload_drivers::testenv::missing_privilege() {
        println!("deploy_speed skipped: {why}");
        return;
    }
    offload_drivers::load::bpffs::ensure_mounted().expect("bpffs");
    let n: u32 = std::env::var("OFFLOAD_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "kernel {}, {} CPUs",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        sys::possible_cpus()
    );
    if std::env::var("OFFLOAD_BENCH_PHASES_ONLY").is_err() {
        println!("bulk load ({n} entries):");
        bulk("exact", n);
        bulk("lpm", n);
    }

    // Single updates.
    let m = module("exact", 65536);
    let c = codegen::compile(&m, &codegen::Target::xdp()).unwrap();
    let l = program::load(&c.object, &c.program_name, Mode::Generic).unwrap();
    let tl = c.layout.table(m.tables[0].id);
    let fds = TableFds::find(tl, &l.maps).unwrap();
    let img = write::image(tl, &m.tables[0], &entries(&m, 2000, false)).unwrap();
    let mut raw = Vec::new();
    for (k, v) in &img.entries {
        let t0 = Instant::now();
        sys::map_update(&Kernel, fds.entries, k, v, sys::BPF_ANY).unwrap();
        raw.push(t0.elapsed());
    }
    println!(
        "single map update (raw bpf syscall, {} samples): median {:.1} µs, p99 {:.1} µs",
        raw.len(),
        percentile(&mut raw, 0.5).as_secs_f64() * 1e6,
        percentile(&mut raw, 0.99).as_secs_f64() * 1e6
    );
    drop(l);

    // Where apply's time goes: compile, load (maps, verifier), for
    // edge-router built with the full room (table sizes, 64 masks) and as
    // `apply` builds it (sized to its entries), side by side.
    let er = offload_core::spec::compile(include_str!("../examples/edge-router.toml")).unwrap();
    let refs: BTreeMap<String, Vec<(&offload_core::ir::Entry, u32)>> = er
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.entries.iter().zip(0u32..).collect()))
        .collect();
    let sized = deploy::sized_target(&er, Mode::Generic, None, &refs);
    for (label, target) in [
        ("full room", codegen::Target::xdp()),
        ("sized to its entries", sized),
    ] {
        let mut comp = Vec::new();
        let mut maps = Vec::new();
        let mut verify = Vec::new();
        let mut load = Vec::new();
        for _ in 0..7 {
            let t0 = Instant::now();
            let c = codegen::compile(&er, &target).unwrap();
            comp.push(t0.elapsed());
            let t0 = Instant::now();
            let l = program::load(&c.object, &c.program_name, Mode::Generic).unwrap();
            load.push(t0.elapsed());
            maps.push(l.phases.maps);
            verify.push(l.phases.verify);
            if comp.len() == 1 {
                let counters: u32 = c
                    .layout
                    .maps
                    .iter()
                    .filter(|m| matches!(m.role, offload_ebpf::layout::MapRole::Counters(_)))
                    .map(|m| m.max_entries)
                    .sum();
                println!(
                    "edge-router, {label}: {} instructions, {} maps, {counters} counter slots",
                    c.program.insns.len(),
                    l.maps.len(),
                );
            }
        }
        println!(
            "edge-router phases, {label}: compile median {:.2} ms, load median {:.1} ms = maps {:.1} ms + verifier {:.1} ms",
            percentile(&mut comp, 0.5).as_secs_f64() * 1e3,
            percentile(&mut load, 0.5).as_secs_f64() * 1e3,
            percentile(&mut maps, 0.5).as_secs_f64() * 1e3,
            percentile(&mut verify, 0.5).as_secs_f64() * 1e3
        );
    }
    if std::env::var("OFFLOAD_BENCH_PHASES_ONLY").is_ok() {
        return;
    }

    // apply and `entries add` on a veth lab.
    let mut lab = Lab::new("bench");
    let up = lab.add_host("up", Ipv4Addr::new(10, 0, 1, 2), 24).unwrap();
    let srv = lab
        .add_host("srv", Ipv4Addr::new(192, 168, 1, 2), 24)
        .unwrap();
    let bak = lab
        .add_host("bak", Ipv4Addr::new(192, 168, 2, 2), 16)
        .unwrap();
    let source = include_str!("../examples/edge-router.toml").replace(
        "name = \"edge-router\"",
        &format!("name = \"bench-er-{}\"", std::process::id()),
    );
    let roots = Roots {
        bpffs: "/sys/fs/bpf".into(),
        state: std::env::temp_dir().join(format!("offload-bench-{}", std::process::id())),
    };
    let ports: BTreeMap<String, String> = [("uplink", &up), ("servers", &srv), ("backup", &bak)]
        .into_iter()
        .map(|(p, h)| (p.to_string(), h.outer.clone()))
        .collect();
    let mut first = Vec::new();
    let mut again = Vec::new();
    let mut name = String::new();
    // Phases of each kind of apply, summed over its runs.
    let mut first_phases = deploy::phases::PhaseTimes::default();
    let mut again_phases = deploy::phases::PhaseTimes::default();
    for i in 0..21 {
        // Timed from the module text: compile, plan-free apply, attach.
        let t0 = Instant::now();
        let m = offload_core::spec::compile(&source).unwrap();
        let req = ApplyRequest {
            module: &m,
            source: &source,
            source_path: None,
            on: vec![up.outer.clone()],
            ports: ports.clone(),
            modes: vec![Mode::Generic],
            replace_foreign: false,
            batch: true,
            roots: roots.clone(),
            offload_profile: None,
        };
        let rep = deploy::apply(&req).unwrap();
        let d = t0.elapsed();
        name = m.name.clone();
        let sum = |into: &mut deploy::phases::PhaseTimes| {
            for (p, ms) in &rep.phases.0 {
                into.add(p, Duration::from_secs_f64(ms / 1e3));
            }
        };
        if i % 2 == 0 && i > 0 {
            // Every other run starts from nothing: detach first (untimed).
            again.push(d);
            sum(&mut again_phases);
            deploy::detach(&roots, Some(&name)).unwrap();
        } else if rep.placements[0].hitless {
            again.push(d);
            sum(&mut again_phases);
        } else {
            first.push(d);
            sum(&mut first_phases);
        }
    }
    println!(
        "apply edge-router (file text → attached, xdp-generic): first apply median {:.1} ms over {}, hitless re-apply median {:.1} ms (p99 {:.1} ms) over {}",
        percentile(&mut first, 0.5).as_secs_f64() * 1e3,
        first.len(),
        percentile(&mut again, 0.5).as_secs_f64() * 1e3,
        percentile(&mut again, 0.99).as_secs_f64() * 1e3,
        again.len()
    );
    let mean = |p: &deploy::phases::PhaseTimes, n: usize| {
        deploy::phases::PhaseTimes(
            p.0.iter()
                .map(|(k, ms)| (*k, ms / n.max(1) as f64))
                .collect(),
        )
        .line()
    };
    println!(
        "  first apply, mean phases: {}",
        mean(&first_phases, first.len())
    );
    println!(
        "  hitless re-apply, mean phases: {}",
        mean(&again_phases, again.len())
    );
    if deploy::State::load(&roots.state_file(&name))
        .unwrap()
        .is_none()
    {
        let m = offload_core::spec::compile(&source).unwrap();
        deploy::apply(&ApplyRequest {
            module: &m,
            source: &source,
            source_path: None,
            on: vec![up.outer.clone()],
            ports: ports.clone(),
            modes: vec![Mode::Generic],
            replace_foreign: false,
            batch: true,
            roots: roots.clone(),
            offload_profile: None,
        })
        .unwrap();
    }
    let m = offload_core::spec::compile(&source).unwrap();
    let mut adds = Vec::new();
    for i in 0..200u32 {
        let text = EntryText {
            meter: None,
            table: "routes".into(),
            matches: vec![(
                "ipv4.dst".into(),
                Lit::Str(format!("{}/32", Ipv4Addr::from(0x0b00_0000 + i))),
            )],
            priority: None,
            action: "deny".into(),
            args: vec![],
        };
        let e = parse::entry(&m, &text).unwrap();
        let t0 = Instant::now();
        runtime::add(&roots, Some(&name), &[("routes".into(), e)], true).unwrap();
        adds.push(t0.elapsed());
    }
    println!(
        "entries add (validate + diff + map update + state file, {} samples): median {:.2} ms, p99 {:.2} ms",
        adds.len(),
        percentile(&mut adds, 0.5).as_secs_f64() * 1e3,
        percentile(&mut adds, 0.99).as_secs_f64() * 1e3
    );
    deploy::detach(&roots, Some(&name)).unwrap();
    let _ = std::fs::remove_dir_all(&roots.state);
}
