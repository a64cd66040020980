//! `offloadctl check` end to end: valid examples (text and JSON), exit codes,
//! JSON diagnostics, and hostile files (huge, binary, missing).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn offloadctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .current_dir(root())
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .expect("run offloadctl")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn examples_pass_check() {
    for ex in ["edge-router", "l2-switch", "ddos-filter"] {
        let out = offloadctl(&["check", &format!("examples/{ex}.toml")]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{ex}: {}", text(&out.stderr));
        assert!(stdout.starts_with(&format!("module {ex} ")), "{stdout}");
        assert!(stdout.contains("requirements:") && stdout.contains("tables (run in this order):"));
    }
    let out = offloadctl(&["check", "examples/edge-router.toml"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("1. acl  size 1024, 4 entries, counters on"),
        "{stdout}"
    );
    assert!(stdout.contains("keys: ipv4.src ternary (32 bits), ipv4.protocol exact (8 bits), l4.dst_port range (16 bits)"), "{stdout}");
    assert!(stdout.contains("route(port: port, dmac: mac, smac: mac): set(eth.dst, dmac); set(eth.src, smac); dec_ttl; forward(port)"), "{stdout}");
    assert!(
        stdout.contains("match kinds: exact, lpm, ternary, range"),
        "{stdout}"
    );
    let out = offloadctl(&["check", "--entries", "examples/edge-router.toml"]);
    assert!(text(&out.stdout).contains("- ipv4.dst=192.168.1.0/24 -> route { port = servers, dmac = 02:00:00:00:00:02, smac = 02:00:00:00:00:01 }"));
}

#[test]
fn json_summary_and_json_diagnostics() {
    let out = offloadctl(&["check", "--json", "examples/l2-switch.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], true);
    assert_eq!(v["module"]["name"], "l2-switch");
    assert_eq!(v["module"]["default"], "drop");
    assert_eq!(v["module"]["tables"][1]["name"], "fdb");
    assert_eq!(v["module"]["tables"][1]["entries"], 4);
    assert_eq!(v["module"]["tables"][0]["keys"][0]["field"], "meta.in_port");
    assert_eq!(v["requirements"]["vlan_push"], true);
    assert_eq!(v["module"]["ports"][3]["number"], 4);

    let out = offloadctl(&["check", "--json", "tests/fixtures/bad/canonical.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    let ds = v["diagnostics"].as_array().expect("array");
    assert_eq!(ds.len(), 3);
    assert_eq!(ds[0]["code"], "E0506");
    assert_eq!(ds[0]["file"], "tests/fixtures/bad/canonical.toml");
    assert!(ds[0]["line"].as_u64().unwrap() > 1 && ds[0]["column"].as_u64().unwrap() > 1);
    assert!(!ds[0]["notes"].as_array().unwrap().is_empty());
}

#[test]
fn hostile_files_get_clear_errors_fast() {
    let dir = std::env::temp_dir().join(format!("offload-spec-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 50 MB: refused from its size, without being read.
    let big = dir.join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    let t = Instant::now();
    let out = offloadctl(&["check", big.to_str().unwrap()]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0002"), "{}", text(&out.stderr));
    // Binary garbage.
    let bin = dir.join("garbage.toml");
    std::fs::write(
        &bin,
        [0x7fu8, b'E', b'L', b'F', 2, 1, 1, 0, 0xff, 0xfe, 0x00, 0x80],
    )
    .unwrap();
    let out = offloadctl(&["check", bin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("E0003") && err.contains("garbage.toml:1:"),
        "{err}"
    );
    // Missing file and a directory: operational errors, exit 2.
    let out = offloadctl(&["check", dir.join("nope.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot open module file"),
        "{}",
        text(&out.stderr)
    );
    let out = offloadctl(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn verbose_logs_go_to_stderr() {
    let out = offloadctl(&["-v", "check", "examples/ddos-filter.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("compiling module"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stdout).contains("compiling module"));
}
