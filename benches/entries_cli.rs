//! `offloadctl entries load` / `entries add` / `apply` through the CLI, at
//! 10^4, 10^5 and ~10^6 routes (needs root; prints figures, asserts nothing).
//!
//! Each size starts from a fresh deployment of edge-router (routes sized
//! 1,000,000) on a veth, XDP generic: `entries load FILE` of N routes
//! (its own per-phase line: file read+parse, state read, validate, diff, map
//! write, state save), then one `entries add` and a hitless re-`apply` with
//! the N routes deployed. The growth ratio between sizes is the point: a
//! linear command grows ~10x per 10x entries (issue 15: it was quadratic,
//! 20,000 routes took 25.7 s).
//!
//! `cargo bench --bench entries_cli` (`OFFLOAD_BENCH_SIZES=10000,100000` for a quick run).

use offload_drivers::lab::Lab;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_offloadctl");

/// Runs offloadctl; its time and stdout (panics on failure: a benchmark of
/// a failing command measures nothing).
fn ctl(state: &Path, args: &[&str]) -> (Duration, String) {
    let t0 = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .env("OFFLOAD_STATE_DIR", state)
        .output()
        .expect("offloadctl runs");
    let d = t0.elapsed();
    assert!(
        out.status.success(),
        "offloadctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (d, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn routes_file(path: &Path, first: usize, n: usize) {
    let mut s = String::with_capacity(n * 80);
    for i in first..first + n {
        let a = 0x0b00_0000u32 + (i as u32) * 256;
        s.push_str(&format!(
            "[[entry.routes]]\nmatch = {{ \"ipv4.dst\" = \"{}/24\" }}\naction = \"deny\"\n",
            Ipv4Addr::from(a)
        ));
    }
    std::fs::write(path, s).expect("routes file written");
}

/// `  phases: file read+parse 1.0 ms, state read 2.0 ms, …` → [(name, ms)].
fn phases(out: &str) -> Vec<(String, f64)> {
    let Some(line) = out.lines().find_map(|l| l.trim().strip_prefix("phases: ")) else {
        return Vec::new();
    };
    line.split(", ")
        .filter_map(|p| {
            let p = p.strip_suffix(" ms")?;
            let (name, ms) = p.rsplit_once(' ')?;
            Some((name.to_string(), ms.parse().ok()?))
        })
        .collect()
}

struct Row {
    n: usize,
    load: Duration,
    phases: Vec<(String, f64)>,
    add: Duration,
    reapply: Duration,
    first_apply: Duration,
}

fn main() {
    if let Some(why) = offload_drivers::testenv::missing_privilege() {
        println!("entries_cli skipped: {why}");
        return;
    }
    offload_drivers::load::bpffs::ensure_mounted().expect("bpffs");
    let sizes: Vec<usize> = std::env::var("OFFLOAD_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 999_996]);
    let dir = std::env::temp_dir().join(format!("offload-bench-entries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let name = format!("bench-routes-{}", std::process::id());
    // edge-router with room for 10^6 routes (3 are in the module file, 1 is added).
    let module = include_str!("../examples/edge-router.toml")
        .replace("name = \"edge-router\"", &format!("name = \"{name}\""))
        .replace("size = 65536", "size = 1000000");
    let module_path = dir.join("module.toml");
    std::fs::write(&module_path, &module).unwrap();
    let module_path = module_path.display().to_string();

    let mut lab = Lab::new("bent");
    let up = lab.add_host("up", Ipv4Addr::new(10, 0, 1, 2), 24).unwrap();
    let srv = lab
        .add_host("srv", Ipv4Addr::new(192, 168, 1, 2), 24)
        .unwrap();
    let bak = lab
        .add_host("bak", Ipv4Addr::new(192, 168, 2, 2), 16)
        .unwrap();
    let ports = [
        format!("uplink={}", up.outer),
        format!("servers={}", srv.outer),
        format!("backup={}", bak.outer),
    ];
    let apply_args: Vec<&str> = [
        "apply",
        module_path.as_str(),
        "--on",
        up.outer.as_str(),
        "--mode",
        "generic",
    ]
    .into_iter()
    .chain(ports.iter().flat_map(|p| ["--port", p.as_str()]))
    .collect();
    println!(
        "kernel {}; entries load / add / apply through offloadctl, edge-router routes (LPM), XDP generic on a veth",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let mut rows = Vec::new();
    for &n in &sizes {
        let file = dir.join(format!("routes-{n}.toml"));
        routes_file(&file, 0, n);
        let (first_apply, _) = ctl(&state, &apply_args);
        let file_s = file.display().to_string();
        let (load, out) = ctl(&state, &["entries", "load", &file_s, "--quiet"]);
        let extra = Ipv4Addr::from(0x0a00_0000u32 + 0x00fe_0000);
        let (add, _) = ctl(
            &state,
            &[
                "entries",
                "add",
                "--table",
                "routes",
                "--match",
                &format!("ipv4.dst={extra}/16"),
                "--action",
                "deny",
            ],
        );
        let (reapply, _) = ctl(&state, &apply_args);
        ctl(&state, &["detach", "--module", &name]);
        let _ = std::fs::remove_file(&file);
        let row = Row {
            n,
            load,
            phases: phases(&out),
            add,
            reapply,
            first_apply,
        };
        println!(
            "  {:>9} routes: entries load {:>8.1} ms ({:.2} M entries/s) [{}]; entries add (1 more) {:.1} ms; hitless re-apply {:.1} ms; first apply (empty) {:.1} ms",
            row.n,
            ms(row.load),
            row.n as f64 / row.load.as_secs_f64() / 1e6,
            row.phases
                .iter()
                .map(|(p, v)| format!("{p} {v:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            ms(row.add),
            ms(row.reapply),
            ms(row.first_apply)
        );
        rows.push(row);
    }
    println!("growth between sizes (time ratio / entries ratio; 1.0 = linear, more = worse than linear):");
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let k = b.n as f64 / a.n as f64;
        let g = |x: Duration, y: Duration| y.as_secs_f64() / x.as_secs_f64() / k;
        println!(
            "  {} → {} ({:.1}x entries): entries load {:.2}, entries add {:.2}, re-apply {:.2}",
            a.n,
            b.n,
            k,
            g(a.load, b.load),
            g(a.add, b.add),
            g(a.reapply, b.reapply)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
