//! `offloadctl check A B` and `offloadctl run A B`: several module files are
//! a service chain. What a user sees for a valid chain, a chain whose ports
//! disagree (file:line:column), a repeated module, and a frame through it.

use serde_json::Value;
use std::process::{Command, Output};

fn offloadctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const DDOS: &str = "examples/ddos-filter.toml";
const ROUTER: &str = "examples/edge-router.toml";
/// UDP 10.0.1.2 -> 192.168.1.10: ddos-filter passes it, edge-router routes it.
const ROUTED: &str =
    "02000000000102000000000a080045000020000100004011ae180a000102c0a8010a9c400035000c000070696e67";
/// The same from 203.0.113.5: ddos-filter's blocklist drops it.
const BLOCKED: &str =
    "02000000000102000000000a0800450000200001000040117c70cb0071050a0000019c400035000c000070696e67";

#[test]
fn check_shows_the_chain_its_tables_and_targets() {
    let o = offloadctl(&["check", DDOS, ROUTER]);
    assert!(o.status.success(), "{}", err(&o));
    let s = out(&o);
    assert!(s.starts_with("chain of 2 modules on one placement"), "{s}");
    assert!(s.contains("  1. ddos-filter (examples/ddos-filter.toml), default pass"));
    assert!(s.contains("ports (shared by the chain): uplink = 1, servers = 2, backup = 3"));
    let tables: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.starts_with("tables of the chain"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(
        tables,
        [
            "ddos-filter.blocklist",
            "ddos-filter.syn_guard",
            "ddos-filter.honeypot",
            "edge-router.acl",
            "edge-router.routes"
        ]
    );
    for t in [
        "xdp: one program",
        "tc: one program",
        "p4-v1model: one pipeline",
        "p4-tna: one pipeline",
    ] {
        assert!(s.contains(t), "{t} in {s}");
    }
    // --json: the same for scripts.
    let o = offloadctl(&["check", DDOS, ROUTER, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["chain"]["modules"][1]["tables"][1], "edge-router.routes");
    assert_eq!(v["modules"].as_array().unwrap().len(), 2);
    // What a target refuses, it says why.
    let o = offloadctl(&["check", "examples/l2-switch.toml", DDOS]);
    assert!(o.status.success());
    let s = out(&o);
    assert!(s.contains("tc: refused: table `l2-switch.fdb`"), "{s}");
    assert!(
        s.contains("p4-v1model: refused: module `l2-switch` can pop a VLAN tag"),
        "{s}"
    );
}

#[test]
fn ports_that_disagree_are_refused_with_file_line_column() {
    let o = offloadctl(&["check", ROUTER, "examples/basic-forwarding.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(e.contains("error[E0602]: module `basic-forwarding` declares port `s1_h1` (1) and module `edge-router` does not"), "{e}");
    assert!(e.contains("┌─ examples/basic-forwarding.toml:16:1"), "{e}");
    assert!(e.contains("these modules cannot run as one chain"), "{e}");
    let o = offloadctl(&["check", ROUTER, "examples/basic-forwarding.toml", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["file"], "examples/basic-forwarding.toml");
    // The same module twice.
    let o = offloadctl(&["run", DDOS, DDOS, "--in-port", "1", "--hex", ROUTED]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains("error[E0603]: modules 1 and 2 of the chain are both named `ddos-filter`"),
        "{e}"
    );
    assert!(e.contains("┌─ examples/ddos-filter.toml:6:8"), "{e}");
    // A broken module in a chain is reported as for a single module.
    let o = offloadctl(&["check", DDOS, "Cargo.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("Cargo.toml:"), "{}", err(&o));
}

#[test]
fn run_shows_each_module_in_turn_and_the_chains_verdict() {
    let o = offloadctl(&[
        "run",
        DDOS,
        ROUTER,
        "--in-port",
        "uplink",
        "--hex",
        ROUTED,
        "--hex",
        BLOCKED,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let s = out(&o);
    assert!(
        s.contains("hex #1: 46 bytes, in on uplink (1), through a chain of 2 modules"),
        "{s}"
    );
    assert!(s.contains("    verdict: pass -> on to module 2"), "{s}");
    assert!(
        s.contains("  chain verdict: forward to servers (2) (after 2 of 2 modules)"),
        "{s}"
    );
    assert!(
        s.contains("  chain verdict: drop (after 1 of 2 modules)"),
        "{s}"
    );
    assert!(
        s.contains("  edge-router.routes entry 0: 1 packets, 46 bytes"),
        "{s}"
    );
    assert!(
        s.contains("  ddos-filter.blocklist entry 0: 1 packets, 46 bytes"),
        "{s}"
    );

    let o = offloadctl(&[
        "run",
        DDOS,
        ROUTER,
        "--in-port",
        "uplink",
        "--json",
        "--hex",
        ROUTED,
        "--hex",
        BLOCKED,
    ]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["chain"][0], "ddos-filter");
    let p = &v["packets"];
    assert_eq!(p[0]["verdict"], "forward");
    assert_eq!(p[0]["egress_port"]["name"], "servers");
    assert_eq!(p[0]["modules_run"], 2);
    assert_eq!(p[0]["modules"][1]["module"], "edge-router");
    assert_eq!(p[0]["modules"][0]["verdict"], "pass");
    assert_eq!(p[1]["verdict"], "drop");
    assert_eq!(p[1]["modules_run"], 1);
    // One module stays as it was (no chain wording).
    let o = offloadctl(&["run", ROUTER, "--in-port", "uplink", "--hex", ROUTED]);
    assert!(o.status.success());
    assert!(!out(&o).contains("chain"), "{}", out(&o));
}
