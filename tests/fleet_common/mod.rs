//! Shared by the fleet tests (fleet_etcd, fleet_scale): a 3-member etcd
//! cluster on loopback (`offload_drivers::testkit_etcd`; members killed and
//! restarted on their data dirs), agents with their own veth labs, and the
//! `offloadctl fleet` helpers.
#![allow(dead_code)]

use super::deploy_common::RouterLab;
use offload_drivers::testkit_etcd;
pub use offload_drivers::testkit_etcd::{Cluster, Proc};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn agent_bin() -> PathBuf {
    std::env::var_os("OFFLOAD_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_offloadd")))
}

/// Local status through the host's agent socket: (exit code, digest run by
/// every placement or "").
pub fn local(h: &Host) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .args(["status", "--json"])
        .env("OFFLOAD_STATE_DIR", &h.rl.roots.state)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let d = v[0]["digest"].as_str().unwrap_or_default().to_string();
    let all = v[0]["placements"].as_array().is_some_and(|ps| {
        !ps.is_empty()
            && ps
                .iter()
                .all(|p| p["program"].as_str().unwrap_or_default().contains(&d))
    });
    (out.status.code(), if all { d } else { String::new() })
}

/// The etcd members (`offload_drivers::testkit_etcd`), failing the test
/// when one cannot start.
pub fn cluster(base: u16, tag: &str) -> Cluster {
    testkit_etcd::cluster(base, tag).expect("etcd cluster")
}

/// `--initial-cluster` of `cluster(base, _)`.
pub fn initial(base: u16) -> Vec<String> {
    testkit_etcd::initial(base)
}

/// Member `i` of `cluster(base, _)`, e.g. started again after a kill.
pub fn member(dir: &Path, base: u16, i: u16, initial: &[String]) -> Proc {
    testkit_etcd::member(dir, base, i, initial).expect("etcd member")
}

pub struct Host {
    pub rl: RouterLab,
    pub name: String,
    pub agent: Option<Proc>,
}

pub fn start_agent(h: &Host, etcd: &str, group: &str, extra: &[&str]) -> Proc {
    let state = &h.rl.roots.state;
    std::fs::create_dir_all(state).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.with_extension("log"))
        .unwrap();
    let c = Command::new(agent_bin())
        .args([
            "--etcd",
            etcd,
            "--group",
            group,
            "--host",
            &h.name,
            "--lease-ttl-s",
            "5",
        ])
        .args(extra)
        .args(["--var", &format!("up={}", h.rl.up.outer)])
        .args(["--var", &format!("srv={}", h.rl.srv.outer)])
        .args(["--var", &format!("bak={}", h.rl.bak.outer)])
        .env("OFFLOAD_STATE_DIR", state)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(c)
}

pub fn fleet(etcd: &str, group: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .arg("fleet")
        .args(args)
        .args(["--etcd", etcd, "--group", group])
        .output()
        .unwrap()
}

pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A release of the module named `name` (the same on every host: the
/// interfaces come from each agent's --var); `n` varies the program.
pub fn write_release(dir: &Path, source: &str, n: u32, mode: &str) -> PathBuf {
    let d = dir.join(format!("r{n}-{mode}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("module.toml"),
        source.replace("198.51.100.7", &format!("198.51.100.{}", 10 + n)),
    )
    .unwrap();
    let f = d.join("deploy.toml");
    std::fs::write(
        &f,
        format!("module = \"module.toml\"\n[ports]\nuplink = \"${{up}}\"\nservers = \"${{srv}}\"\nbackup = \"${{bak}}\"\n[[host]]\niface = \"${{up}}\"\nmode = \"{mode}\"\n"),
    )
    .unwrap();
    f
}

pub fn digest_of(dir: &Path) -> String {
    offload_core::state::Version::of(
        &std::fs::read_to_string(dir.parent().unwrap().join("module.toml")).unwrap(),
        0,
    )
    .digest
}

pub fn hosts_status(etcd: &str, group: &str) -> serde_json::Value {
    let o = fleet(etcd, group, &["status", "--json"]);
    serde_json::from_slice(&o.stdout).unwrap_or_default()
}

/// Waits until every host reports running `digest` (bounded).
pub fn wait_all(
    etcd: &str,
    group: &str,
    n: usize,
    digest: &str,
    within: Duration,
) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let v = hosts_status(etcd, group);
        let ok = v["hosts"].as_array().map_or(0, |h| {
            h.iter()
                .filter(|s| s["running"] == digest && s["drift"] == 0)
                .count()
        });
        if ok == n {
            return v;
        }
        assert!(
            t0.elapsed() < within,
            "not all {n} hosts on {digest} after {within:?}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
