//! Figures of offloadd on a veth lab, printed with a `FIGURE` prefix (never
//! asserted as absolute times): RSS and CPU at idle with the default
//! interval, the same with 10^5 entries loaded, drift-to-repair time at the
//! default interval. `OFFLOAD_AGENT_BIN=target/release/offloadd` measures a
//! release build of the agent (the README's figures); by default the test
//! runs the debug build cargo made.

mod deploy_common;

use deploy_common::router_lab;
use offload_core::ir::Module;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Agentd(Child);
impl Drop for Agentd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent_bin() -> PathBuf {
    std::env::var_os("OFFLOAD_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_offloadd")))
}

fn start(state: &Path, metrics: u16) -> Agentd {
    let log = std::fs::File::create(state.with_extension("log")).unwrap();
    // The default interval: no --interval-ms.
    let child = Command::new(agent_bin())
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .env("OFFLOAD_STATE_DIR", state)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let a = Agentd(child);
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(state.join("offloadd.sock")).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    a
}

fn ctl(state: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .args(args)
        .env("OFFLOAD_STATE_DIR", state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "offloadctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn passes(state: &Path) -> u64 {
    let r = offload::agent::proto::call(
        state,
        &offload::agent::proto::Request::Agent,
        Duration::from_secs(30),
    )
    .unwrap()
    .unwrap();
    serde_json::from_str::<serde_json::Value>(&r.out).unwrap()["passes"]
        .as_u64()
        .unwrap()
}

fn wait_passes(state: &Path, n: u64) {
    let p0 = passes(state);
    let t0 = Instant::now();
    while passes(state) < p0 + n {
        assert!(t0.elapsed() < Duration::from_secs(60), "no pass in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
}

/// (RSS MB, CPU % of one core over `secs`, mean pass ms over the window).
fn idle(pid: u32, port: u16, secs: u64) -> (f64, f64, f64) {
    let m0 = scrape(port);
    let c0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(secs));
    let c1 = cpu_ticks(pid);
    let m1 = scrape(port);
    let rss_kb: f64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let sum = |m: &str| metric(m, "offload_reconcile_pass_seconds_sum").unwrap_or(0.0);
    let count = |m: &str| metric(m, "offload_reconcile_pass_seconds_count").unwrap_or(0.0);
    let n = (count(&m1) - count(&m0)).max(1.0);
    (
        rss_kb / 1024.0,
        (c1 - c0) as f64 / 100.0 / secs as f64 * 100.0,
        (sum(&m1) - sum(&m0)) / n * 1e3,
    )
}

/// Deletes one element of the routes map behind offload's back.
fn delete_a_route(rl: &deploy_common::RouterLab, module: &Module) {
    let st = offload_drivers::deploy::State::load(&rl.roots.state_file(&module.name))
        .unwrap()
        .unwrap();
    let pl = st.placement(&rl.up.outer).unwrap();
    let routes = module.table_by_name("routes").unwrap();
    let layout = offload_ebpf::codegen::layout_for(module, &offload_ebpf::codegen::Target::xdp());
    let tl = layout.table(routes.id);
    let path = rl
        .roots
        .gen_dir(&st.module, &pl.iface, pl.gen)
        .join(&tl.entries_map[..tl.entries_map.len().min(15)]);
    let fd = offload_drivers::sys::obj_get(&offload_drivers::sys::Kernel, &path).unwrap();
    let e = &routes.entries[0];
    let img = tl.encode_entries(routes, &[(e, 0)]).unwrap();
    use std::os::fd::AsFd;
    assert!(offload_drivers::sys::map_delete(
        &offload_drivers::sys::Kernel,
        fd.as_fd(),
        &img.entries[0].0
    )
    .unwrap());
}

/// Deletes a route behind offload's back, returns ms until the agent's
/// repairs counter moved.
fn drift_to_repair(rl: &deploy_common::RouterLab, module: &Module, port: u16) -> f64 {
    let r0 = metric(&scrape(port), "offload_repairs_total").unwrap_or(0.0);
    delete_a_route(rl, module);
    let t0 = Instant::now();
    while metric(&scrape(port), "offload_repairs_total").unwrap_or(0.0) <= r0 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "drift not repaired in 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    t0.elapsed().as_secs_f64() * 1e3
}

const ENTRIES: usize = 100_000;

#[test]
fn agent_figures_idle_entries_and_drift_repair() {
    if !offload_drivers::testenv::require_root("agent_figures") {
        return;
    }
    let build = if std::env::var_os("OFFLOAD_AGENT_BIN").is_some() {
        "OFFLOAD_AGENT_BIN"
    } else {
        "debug"
    };
    let rl = router_lab("agf");
    let state = rl.roots.state.clone();
    let dir = state.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let deploy = dir.join("deploy.toml");
    std::fs::write(
        &deploy,
        format!(
            "module = \"module.toml\"\n[ports]\nuplink = \"{}\"\nservers = \"{}\"\nbackup = \"{}\"\n[[host]]\niface = \"{}\"\nmode = \"generic\"\n",
            rl.up.outer, rl.srv.outer, rl.bak.outer, rl.up.outer
        ),
    )
    .unwrap();
    std::fs::write(dir.join("module.toml"), rl.source()).unwrap();
    let port = 21464 + (std::process::id() % 500) as u16;
    let agent = start(&state, port);
    let pid = agent.0.id();
    ctl(&state, &["apply", deploy.to_str().unwrap()]);
    wait_passes(&state, 2);
    let (rss, cpu, pass) = idle(pid, port, 5);
    eprintln!(
        "FIGURE agent idle ({build}, default interval, 1 deployment, edge-router {} routes slots): RSS {rss:.1} MB, CPU {cpu:.1} % of one core, pass {pass:.0} ms",
        rl.module.table_by_name("routes").unwrap().size
    );
    let mut ms: Vec<f64> = (0..3)
        .map(|_| drift_to_repair(&rl, &rl.module, port))
        .collect();
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "FIGURE drift to repair ({build}, default interval): {:.0} / {:.0} / {:.0} ms (3 runs, sorted)",
        ms[0], ms[1], ms[2]
    );

    // 10^5 entries: routes sized for them, then loaded through the agent.
    let big_src = rl.source().replace("size = 65536", "size = 131072");
    let big = offload_core::spec::compile(&big_src).unwrap();
    std::fs::write(dir.join("module.toml"), &big_src).unwrap();
    ctl(&state, &["apply", deploy.to_str().unwrap()]);
    let mut text = String::with_capacity(ENTRIES * 160);
    for i in 0..ENTRIES {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "[[entry.routes]]\nmatch = {{ \"ipv4.dst\" = \"10.{}.{}.{}/32\" }}\naction = {{ route = {{ port = \"servers\", dmac = \"02:00:00:00:00:02\", smac = \"02:00:00:00:00:01\" }} }}",
            100 + i / 65536,
            (i / 256) % 256,
            i % 256
        );
    }
    let file = dir.join("many.toml");
    std::fs::write(&file, text).unwrap();
    let t0 = Instant::now();
    ctl(&state, &["entries", "load", file.to_str().unwrap()]);
    let load_s = t0.elapsed().as_secs_f64();
    wait_passes(&state, 2);
    let st = ctl(&state, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let n = v[0]["placements"][0]["tables"]["routes"]["entries"]
        .as_u64()
        .unwrap();
    assert!(n >= ENTRIES as u64, "{n} routes");
    let (rss, cpu, pass) = idle(pid, port, 5);
    eprintln!("FIGURE entries load of {ENTRIES} routes through the agent ({build}): {load_s:.1} s");
    eprintln!(
        "FIGURE agent idle ({build}, default interval, {n} routes entries in a 131072-slot lpm table): RSS {rss:.1} MB, CPU {cpu:.1} % of one core, pass {pass:.0} ms"
    );
    let ms = drift_to_repair(&rl, &big, port);
    eprintln!("FIGURE drift to repair ({build}, default interval, {n} entries): {ms:.0} ms");
    ctl(&state, &["detach"]);
}
