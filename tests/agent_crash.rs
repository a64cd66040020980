//! offloadd killed for real, on a veth lab:
//!
//! - SIGKILL and restart of the agent while a steady UDP stream crosses the
//!   deployed module (uplink host → XDP on the uplink veth → redirect to the
//!   servers host): no packet lost, and the restarted agent adopts what runs
//!   (same program, no reload, no duplicate entries, metrics and status
//!   agreeing with the record).
//! - The agent killed in the middle of an apply made through its socket,
//!   between the two placements' commits (`OFFLOAD_TEST_PAUSE_AFTER_COMMIT_MS`
//!   in the agent's environment, as for `offloadctl apply`): the restarted
//!   agent's loop brings every placement back to the recorded version.

mod deploy_common;

use deploy_common::traffic::loss_during;
use deploy_common::{routable_lab, router_lab, RouterLab};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agent process, killed (SIGKILL) when dropped.
struct Agentd {
    child: Child,
    log: PathBuf,
}
impl Drop for Agentd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(state: &Path, metrics: u16, interval_ms: u64, env: &[(&str, &str)]) -> Agentd {
    let log = state.with_extension(format!("log{metrics}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_offloadd"));
    cmd.args([
        "--interval-ms",
        &interval_ms.to_string(),
        "--metrics",
        &format!("127.0.0.1:{metrics}"),
    ])
    .env("OFFLOAD_STATE_DIR", state)
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let a = Agentd {
        child: cmd.spawn().unwrap(),
        log,
    };
    let sock = state.join("offloadd.sock");
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "offloadd did not open {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(20));
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

/// The value of the first sample whose line starts with `prefix` and
/// contains `with`.
fn metric(text: &str, prefix: &str, with: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix) && l.contains(with))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The agent's own view (pid, passes, deployments).
fn agent_view(state: &Path) -> serde_json::Value {
    let r = offload::agent::proto::call(
        state,
        &offload::agent::proto::Request::Agent,
        Duration::from_secs(10),
    )
    .unwrap()
    .unwrap();
    serde_json::from_str(&r.out).unwrap()
}

/// Waits until the agent has finished `n` passes more than now (bounded).
fn wait_passes(state: &Path, n: u64) {
    let p0 = agent_view(state)["passes"].as_u64().unwrap();
    let t0 = Instant::now();
    while agent_view(state)["passes"].as_u64().unwrap() < p0 + n {
        assert!(t0.elapsed() < Duration::from_secs(20), "no pass in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(state: &Path) -> (Option<i32>, serde_json::Value) {
    let out = ctl(state, &["status", "--json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn write_deploy(rl: &RouterLab, dir: &Path, source: &str, bundle: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("module.toml"), source).unwrap();
    let f = dir.join("deploy.toml");
    let mut text = format!(
        "module = \"module.toml\"\n[ports]\nuplink = \"{}\"\nservers = \"{}\"\nbackup = \"{}\"\n[[host]]\niface = \"{}\"\nmode = \"generic\"\n",
        rl.up.outer, rl.srv.outer, rl.bak.outer, rl.up.outer
    );
    if bundle {
        text.push_str("[[bundle]]\nname = \"tofino\"\nout = \"bundle\"\n");
    }
    std::fs::write(&f, text).unwrap();
    f
}

fn routes_entries(v: &serde_json::Value) -> u64 {
    v[0]["placements"][0]["tables"]["routes"]["entries"]
        .as_u64()
        .unwrap()
}

#[test]
fn agent_kill_9_under_traffic_loses_nothing_and_adopts() {
    if !offload_drivers::testenv::require_root("agent_crash") {
        return;
    }
    let rl = routable_lab("akt");
    let state = rl.roots.state.clone();
    let file = write_deploy(&rl, &state.join("work"), &rl.source(), false);
    let port = 20464 + (std::process::id() % 500) as u16;
    let interval = 200;
    let agent = start(&state, port, interval, &[]);
    let out = ctl(&state, &["apply", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_passes(&state, 1);
    let (code, before) = status(&state);
    assert_eq!(code, Some(0), "{before}");
    let prog = before[0]["placements"][0]["program"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(prog.contains("id"), "{prog}");
    let entries = routes_entries(&before);
    let version = before[0]["version"].as_u64().unwrap();
    let first_pid = agent.child.id();

    let mut agent = Some(agent);
    let mut second = None;
    let mut gap_ms = 0.0;
    let (sent, got) = loss_during(&rl.up, &rl.srv, || {
        let t0 = Instant::now();
        drop(agent.take()); // SIGKILL, reaped
        let a = start(&state, port + 1, interval, &[]);
        wait_passes(&state, 2);
        gap_ms = t0.elapsed().as_secs_f64() * 1e3;
        second = Some(a);
    });
    let second = second.unwrap();
    eprintln!(
        "FIGURE agent kill -9 + restart under traffic ({gap_ms:.0} ms to the restarted agent's 2nd pass): {} of {sent} packets lost",
        sent - got
    );
    assert!(sent > 1000, "the stream did not run: {sent} sent");
    assert_eq!(got, sent, "packets lost while the agent was killed");

    // Adopted: another pid, same program (id), no reload, no duplicates.
    let view = agent_view(&state);
    assert_ne!(view["pid"].as_u64(), Some(u64::from(first_pid)));
    let (code, after) = status(&state);
    assert_eq!(code, Some(0), "{after}");
    assert_eq!(
        after[0]["placements"][0]["program"].as_str(),
        Some(prog.as_str()),
        "{after}"
    );
    assert_eq!(routes_entries(&after), entries, "{after}");
    assert_eq!(after[0]["version"].as_u64(), Some(version));
    let m = scrape(port + 1);
    assert_eq!(metric(&m, "offload_repairs_total", ""), Some(0.0), "{m}");
    assert_eq!(
        metric(&m, "offload_drift_events_total", ""),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "offload_deployment_version{", ""),
        Some(version as f64),
        "{m}"
    );
    assert_eq!(metric(&m, "offload_placement_in_sync{", ""), Some(1.0));
    assert_eq!(
        metric(&m, "offload_table_entries{", "table=\"routes\""),
        Some(entries as f64),
        "{m}"
    );
    // The kernel's counters kept counting through the kill: the routes
    // table counted at least every packet received.
    let counted = metric(&m, "offload_table_packets{", "table=\"routes\"").unwrap();
    assert!(counted >= f64::from(got), "{counted} < {got}\n{m}");
    let d = &view["deployments"][&rl.module.name];
    assert_eq!(d["drift"].as_u64(), Some(0), "{view}");
    assert_eq!(d["version"].as_u64(), Some(version), "{view}");
    assert!(d["last_repair"].is_null(), "{view}");
    let log = std::fs::read_to_string(&second.log).unwrap_or_default();
    assert!(log.contains("adopted what runs"), "{log}");
    assert!(!log.contains("repaired"), "{log}");
    let out = ctl(&state, &["detach"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn agent_killed_between_commits_of_an_apply_ends_on_one_version() {
    if !offload_drivers::testenv::require_root("agent_crash") {
        return;
    }
    let rl = router_lab("akc");
    let state = rl.roots.state.clone();
    let dir = state.join("work");
    let file = write_deploy(&rl, &dir, &rl.source(), true);
    let port = 20964 + (std::process::id() % 500) as u16;
    let interval = 200;
    let pause = [("OFFLOAD_TEST_PAUSE_AFTER_COMMIT_MS", "1500")];
    let agent = start(&state, port, interval, &pause);
    let out = ctl(&state, &["apply", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, v1) = status(&state);
    assert_eq!(code, Some(0), "{v1}");
    let d1 = v1[0]["digest"].as_str().unwrap().to_string();
    let places = v1[0]["placements"].as_array().unwrap().len();
    assert_eq!(places, 2, "host + bundle: {v1}");
    // The agent honours the pause: one line per placement's commit.
    let log = std::fs::read_to_string(&agent.log).unwrap();
    let pauses = log.matches("test pause: committed").count();
    assert_eq!(pauses, 2, "{log}");

    // v2 through the socket; the agent is killed in the pause after the
    // first placement's commit.
    write_deploy(
        &rl,
        &dir,
        &rl.source().replace("198.51.100.7", "198.51.100.77"),
        true,
    );
    let client = Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .args(["apply", file.to_str().unwrap()])
        .env("OFFLOAD_STATE_DIR", &state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::fs::read_to_string(&agent.log)
        .unwrap_or_default()
        .matches("test pause: committed")
        .count()
        < pauses + 1
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no commit of v2 in 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(agent); // SIGKILL inside the pause: one placement switched, one not
    let out = client.wait_with_output_bounded();
    assert!(
        !out.0.success(),
        "the client saw the apply succeed: {}",
        out.1
    );
    let (code, torn) = status(&state);
    eprintln!(
        "after the kill (standalone status, exit {code:?}): {}",
        torn[0]["placements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{} {}", p["placement"], p["program"]))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    assert_eq!(code, Some(3), "one placement should run v2: {torn}");
    assert_eq!(torn[0]["digest"].as_str(), Some(d1.as_str()), "{torn}");

    // Restarted (no pause): its loop brings every placement to the record.
    let t0 = Instant::now();
    let agent = start(&state, port + 1, interval, &[]);
    let mut v = status(&state);
    while v.0 != Some(0) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "not one version 20 s after the restart: {}",
            v.1
        );
        std::thread::sleep(Duration::from_millis(50));
        v = status(&state);
    }
    eprintln!(
        "FIGURE agent killed between commits: one version again {:.0} ms after the restart",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let v = v.1;
    assert_eq!(v[0]["digest"].as_str(), Some(d1.as_str()), "{v}");
    for p in v[0]["placements"].as_array().unwrap() {
        assert!(
            p["program"].as_str().unwrap().contains(&d1),
            "{} runs {}, the record is {d1}",
            p["placement"],
            p["program"]
        );
        assert!(p["drift"].as_array().unwrap().is_empty(), "{v}");
    }
    let m = scrape(port + 1);
    assert!(
        metric(&m, "offload_repairs_total", "").unwrap() >= 1.0,
        "{m}"
    );
    assert_eq!(metric(&m, "offload_repair_failures_total", ""), Some(0.0));
    let log = std::fs::read_to_string(&agent.log).unwrap_or_default();
    assert!(log.contains("reloaded version"), "{log}");
    // And v2 applies cleanly afterwards through the agent.
    let out = ctl(&state, &["apply", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, v) = status(&state);
    assert_eq!(code, Some(0), "{v}");
    assert_ne!(v[0]["digest"].as_str(), Some(d1.as_str()));
    let out = ctl(&state, &["detach"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

trait WaitBounded {
    fn wait_with_output_bounded(self) -> (std::process::ExitStatus, String);
}
impl WaitBounded for Child {
    /// Waits at most 20 s (then kills it) and returns its status and stderr.
    fn wait_with_output_bounded(mut self) -> (std::process::ExitStatus, String) {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (s, err);
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = self.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
