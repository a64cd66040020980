//! offloadd for real, on a veth lab: offloadctl's commands go through the
//! agent's socket; a second writer is refused (the state lock); drift made
//! behind offload's back (a kernel map element deleted) is repaired by the
//! loop within the bound, and the metrics show it; `kill -9` of the agent
//! leaves the program attached, and a restarted agent adopts it (same
//! program id, no reload, no duplicate entries).

mod deploy_common;

use deploy_common::{router_lab, RouterLab};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agent process, killed (SIGKILL) when dropped.
struct Agentd(Child);
impl Drop for Agentd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(state: &Path, metrics: u16, interval_ms: u64) -> Agentd {
    let log = std::fs::File::create(state.with_extension(format!("log{metrics}"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_offloadd"))
        .args([
            "--interval-ms",
            &interval_ms.to_string(),
            "--metrics",
            &format!("127.0.0.1:{metrics}"),
        ])
        .env("OFFLOAD_STATE_DIR", state)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let a = Agentd(child);
    let sock = state.join("offloadd.sock");
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "offloadd did not open {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    a
}

fn ctl(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .args(args)
        .env("OFFLOAD_STATE_DIR", state)
        .output()
        .unwrap()
}

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of the first sample whose line starts with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn write_deploy(rl: &RouterLab, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("module.toml"), rl.source()).unwrap();
    let f = dir.join("deploy.toml");
    std::fs::write(
        &f,
        format!(
            "module = \"module.toml\"\n[ports]\nuplink = \"{}\"\nservers = \"{}\"\nbackup = \"{}\"\n[[host]]\niface = \"{}\"\nmode = \"generic\"\n",
            rl.up.outer, rl.srv.outer, rl.bak.outer, rl.up.outer
        ),
    )
    .unwrap();
    f
}

fn status(state: &Path) -> serde_json::Value {
    let out = ctl(state, &["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn program(v: &serde_json::Value) -> String {
    v[0]["placements"][0]["program"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Deletes one element of the routes map behind offload's back.
fn delete_a_route(rl: &RouterLab) {
    let st = offload_drivers::deploy::State::load(&rl.roots.state_file(&rl.module.name))
        .unwrap()
        .unwrap();
    let pl = st.placement(&rl.up.outer).unwrap();
    let routes = rl.module.table_by_name("routes").unwrap();
    let layout =
        offload_ebpf::codegen::layout_for(&rl.module, &offload_ebpf::codegen::Target::xdp());
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

#[test]
fn agent_serves_offloadctl_repairs_drift_and_survives_kill_9() {
    if !offload_drivers::testenv::require_root("agent") {
        return;
    }
    let rl = router_lab("agd");
    let state = rl.roots.state.clone();
    let file = write_deploy(&rl, &state.join("work"));
    let port = 19464 + (std::process::id() % 500) as u16;
    let interval = 200;
    let agent = start(&state, port, interval);

    // A second writer is refused: another agent on the same state.
    let second = Command::new(env!("CARGO_BIN_EXE_offloadd"))
        .env("OFFLOAD_STATE_DIR", &state)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("held by pid"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // apply / status / entries through the socket.
    let t0 = Instant::now();
    let out = ctl(&state, &["apply", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "apply through the agent: {:.0} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let v = status(&state);
    let prog = program(&v);
    assert!(prog.contains(v[0]["digest"].as_str().unwrap()), "{v}");
    let routes_before = v[0]["placements"][0]["tables"]["routes"]["entries"]
        .as_u64()
        .unwrap();
    let out = ctl(
        &state,
        &[
            "entries",
            "add",
            "--table",
            "routes",
            "--match",
            "ipv4.dst=10.9.0.0/16",
            "--action",
            "route",
            "--arg",
            "port=servers",
            "--arg",
            "dmac=02:00:00:00:00:09",
            "--arg",
            "smac=02:00:00:00:00:01",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let agent_view = {
        let r = offload::agent::proto::call(
            &state,
            &offload::agent::proto::Request::Agent,
            Duration::from_secs(10),
        )
        .unwrap()
        .unwrap();
        serde_json::from_str::<serde_json::Value>(&r.out).unwrap()
    };
    assert_eq!(agent_view["pid"].as_u64(), Some(u64::from(agent.0.id())));

    // Out-of-band drift, repaired by the loop; the metrics move.
    let m0 = scrape(port);
    let repairs0 = metric(&m0, "offload_repairs_total").unwrap_or(0.0);
    delete_a_route(&rl);
    let t_drift = Instant::now();
    loop {
        let m = scrape(port);
        if metric(&m, "offload_repairs_total").unwrap_or(0.0) > repairs0 {
            assert!(
                metric(&m, "offload_drift_events_total").unwrap() >= 1.0,
                "{m}"
            );
            assert!(m.contains("offload_table_entries{"), "{m}");
            assert!(m.contains("offload_apply_seconds_bucket"), "{m}");
            break;
        }
        assert!(
            t_drift.elapsed() < Duration::from_secs(10),
            "drift not repaired in 10 s:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let repair_ms = t_drift.elapsed().as_secs_f64() * 1e3;
    eprintln!("drift to repair (interval {interval} ms): {repair_ms:.0} ms");
    assert!(
        repair_ms < (interval as f64) * 2.0 + 1000.0,
        "{repair_ms} ms"
    );
    let v = status(&state);
    assert!(
        v[0]["placements"][0]["drift"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{v}"
    );

    // kill -9: the program stays attached; offloadctl works standalone.
    drop(agent);
    let v = status(&state);
    assert_eq!(program(&v), prog, "{v}");
    let routes_after = v[0]["placements"][0]["tables"]["routes"]["entries"]
        .as_u64()
        .unwrap();
    assert_eq!(routes_after, routes_before + 1);
    // A restarted agent adopts: same program id, nothing repaired, same entries.
    let agent = start(&state, port + 1, interval);
    std::thread::sleep(Duration::from_millis(interval * 3));
    let m = scrape(port + 1);
    assert_eq!(
        metric(&m, "offload_repairs_total").unwrap_or(0.0),
        0.0,
        "{m}"
    );
    let v = status(&state);
    assert_eq!(program(&v), prog, "{v}");
    assert_eq!(
        v[0]["placements"][0]["tables"]["routes"]["entries"]
            .as_u64()
            .unwrap(),
        routes_before + 1
    );
    // The agent's memory and CPU at idle, for the README.
    let pid = agent.0.id();
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = rss
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("")
        .to_string();
    let cpu0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let cpu = (cpu_ticks(pid) - cpu0) as f64 / 100.0 / 2.0 * 100.0;
    eprintln!("agent at idle (1 deployment, interval {interval} ms): {rss}, CPU {cpu:.1} %");
    let out = ctl(&state, &["detach"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
