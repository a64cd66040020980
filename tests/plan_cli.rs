//! `offloadctl plan`, `probe` and `hwdb` as a user runs them: text, JSON,
//! exit codes, and the errors for bad input.

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

const NFP: &str = "tests/fixtures/hosts/nfp-agilio-cx";

#[test]
fn plan_text_names_the_target_and_every_reason() {
    let o = offloadctl(&[
        "plan",
        "examples/edge-router.toml",
        "--system",
        NFP,
        "--on",
        "enp3s0np0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let t = out(&o);
    assert!(t.contains("-> xdp-generic"), "{t}");
    assert!(t.contains("rejected xdp-offload:"));
    assert!(t.contains("the NFP offload profile has no LPM trie"));
    assert!(t.contains("rejected xdp-native:"));
    assert!(!t.contains("enp3s0np1"), "--on limits the devices");
}

#[test]
fn plan_json_carries_requirements_and_reasons() {
    let o = offloadctl(&[
        "plan",
        "examples/ddos-filter.toml",
        "--system",
        NFP,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["module"], "ddos-filter");
    let devs = v["plan"]["devices"].as_array().unwrap();
    assert_eq!(devs.len(), 2, "loopback is not a placement candidate");
    assert!(devs.iter().all(|d| d["chosen"] == "xdp-offload"));
    assert!(v["requirements"]["tables"].as_array().is_some());
}

#[test]
fn strict_and_forced_modes_that_cannot_hold_exit_1() {
    let o = offloadctl(&[
        "plan",
        "examples/l2-switch.toml",
        "--system",
        NFP,
        "--strict",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains("refused (--strict)"), "{}", out(&o));
    let o = offloadctl(&[
        "plan",
        "examples/l2-switch.toml",
        "--system",
        NFP,
        "--mode",
        "xdp-offload",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = out(&o);
    assert!(
        t.contains("the forced mode xdp-offload cannot hold") && t.contains("no XDP_REDIRECT"),
        "{t}"
    );
    let o = offloadctl(&[
        "plan",
        "examples/edge-router.toml",
        "--system",
        NFP,
        "--mode",
        "tc",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("-> tc"));
    // The requirements fit tc, but the eBPF backend refuses this module on tc
    // (pop_vlan after a VLAN change): the plan asks the compiler, and says so.
    let o = offloadctl(&[
        "plan",
        "examples/l2-switch.toml",
        "--system",
        NFP,
        "--mode",
        "tc",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = out(&o);
    assert!(
        t.contains("rejected tc:") && t.contains("offload-ebpf compilation for tc"),
        "{t}"
    );
}

#[test]
fn bad_plan_input_is_explained() {
    let o = offloadctl(&[
        "plan",
        "examples/l2-switch.toml",
        "--system",
        NFP,
        "--mode",
        "warp",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("unknown mode \"warp\""), "{}", err(&o));
    let o = offloadctl(&[
        "plan",
        "examples/l2-switch.toml",
        "--system",
        NFP,
        "--on",
        "eth9",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("no device named eth9") && err(&o).contains("enp3s0np0"),
        "{}",
        err(&o)
    );
    let o = offloadctl(&[
        "plan",
        "examples/l2-switch.toml",
        "--system",
        "/nonexistent",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("cannot open the directory"), "{}", err(&o));
}

#[test]
fn probe_of_a_recorded_host_as_table_and_json() {
    let o = offloadctl(&["probe", "--system", "tests/fixtures/hosts/tofino-switch"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let t = out(&o);
    assert!(
        t.contains("kernel 5.4.0-150-generic")
            && t.contains("Intel Tofino 1")
            && t.contains("arch tna"),
        "{t}"
    );
    assert!(t.contains("XDP facts from the hwdb"));
    let o = offloadctl(&["probe", "--system", NFP, "--json"]);
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    let d = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "enp3s0np0")
        .unwrap();
    assert_eq!(d["xdp"]["hw_offload"]["value"], true);
    assert_eq!(
        d["xdp"]["hw_offload"]["from"],
        "netlink netdev dev-get xdp-features"
    );
}

#[test]
fn hwdb_lookup_and_list() {
    let o = offloadctl(&["hwdb", "19ee:4000"]);
    assert_eq!(o.status.code(), Some(0));
    let t = out(&o);
    assert!(
        t.contains("Netronome NFP-4000 (Agilio CX)")
            && t.contains("xdp_hw_offload: true (since 4.10)"),
        "{t}"
    );
    assert!(t.contains("source: drivers/net/ethernet/netronome/nfp"));
    let o = offloadctl(&["hwdb", "netdevsim", "--json"]);
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["limits"]["max_entries_per_map"]["value"], 2);
    let o = offloadctl(&["hwdb", "--list"]);
    let t = out(&o);
    for key in [
        "15b3:1017",
        "8086:1592",
        "1af4:1041",
        "1d1c:0010",
        "driver veth",
    ] {
        assert!(t.contains(key), "{key} missing from the list");
    }
    let o = offloadctl(&["hwdb", "dead:beef"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no hwdb entry for dead:beef"));
    let o = offloadctl(&["hwdb", "xyz:1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not a 16-bit hex number"), "{}", err(&o));
}

#[test]
fn netdevsim_takes_a_module_within_its_budget_and_names_the_budget_otherwise() {
    let nsim = "tests/fixtures/hosts/netdevsim-kernel-6.1";
    let o = offloadctl(&[
        "plan",
        "tests/fixtures/plan/nsim-fit.toml",
        "--system",
        nsim,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains("-> xdp-offload (profile netdevsim)"),
        "{}",
        out(&o)
    );

    let src = std::fs::read_to_string("tests/fixtures/plan/nsim-fit.toml").unwrap();
    let big = src.replace("size = 1\n", "size = 3\n");
    assert_ne!(src, big);
    let path = std::env::temp_dir().join(format!("offload-nsim-big-{}.toml", std::process::id()));
    std::fs::write(&path, big).unwrap();
    let o = offloadctl(&["plan", path.to_str().unwrap(), "--system", nsim, "--strict"]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(o.status.code(), Some(1));
    let t = out(&o);
    assert!(t.contains("table drops's entries need 3 entries; the netdevsim offload profile allows at most 2 per map"), "{t}");
    assert!(t.contains("NSIM_BPF_MAX_KEYS"), "{t}");
}
