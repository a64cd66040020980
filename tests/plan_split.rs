//! Split placement in the planner: on a host whose NIC offload cannot hold
//! the whole module, the longest prefix of stages that fits and needs
//! nothing but the bytes to travel goes in the NIC; every host stage says
//! why it is not there. Against recorded hosts (no kernel needed).

use offload_core::ir::Module;
use offload_core::plan::{self, Need, Options, SplitPlan, Target};
use offload_drivers::probe::{self, plan_devices, FixtureSystem};
use offload_hwdb::Hwdb;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn module(text: &str) -> Module {
    offload_core::spec::compile(text).unwrap_or_else(|d| panic!("{}", d.render_plain("t", text)))
}

fn example(name: &str) -> Module {
    module(&std::fs::read_to_string(root().join("examples").join(format!("{name}.toml"))).unwrap())
}

/// The split proposal (or refusal) on the first device of a recorded host.
fn split_on(m: &Module, host: &str) -> Option<SplitPlan> {
    let hwdb = Hwdb::builtin().unwrap();
    let view = FixtureSystem::open(&root().join("tests/fixtures/hosts").join(host)).unwrap();
    let report = probe::probe(&view, &hwdb).unwrap();
    let devices = plan_devices(&report, &hwdb, &[]).unwrap();
    let p = plan::plan(&m.requirements(), &devices, Options::default());
    let d = &p.devices[0];
    let caps = devices.iter().find(|c| c.device == d.device).unwrap();
    plan::propose_split(m, caps, d, &|_, _, _| Vec::new())
}

fn need(u: &plan::Unmet) -> String {
    serde_json::to_value(&u.need).unwrap()["need"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn split_edge_on_an_nfp_puts_blocklist_and_acl_in_the_nic() {
    let Some(SplitPlan::Proposed(p)) = split_on(&example("split-edge"), "nfp-agilio-cx") else {
        panic!("no split proposed");
    };
    assert_eq!(p.at, 2);
    assert_eq!(p.nic_stages, ["blocklist", "acl"]);
    assert_eq!(
        (p.nic_target, p.nic_profile.as_str()),
        (Target::XdpOffload, "nfp")
    );
    // The host target is the one the planner chose for the whole module.
    assert_eq!(p.host_target, Target::XdpGeneric);
    let routes = &p.host_stages[0];
    assert_eq!(routes.stage, "routes");
    let needs: Vec<String> = routes.reasons.iter().map(need).collect();
    assert!(needs.contains(&"match_kind".to_string()), "{needs:?}");
    assert!(needs.contains(&"redirect".to_string()), "{needs:?}");
}

#[test]
fn edge_router_splits_after_its_acl_and_ddos_filter_needs_no_split() {
    let Some(SplitPlan::Proposed(p)) = split_on(&example("edge-router"), "nfp-agilio-cx") else {
        panic!("no split proposed");
    };
    assert_eq!(
        (p.at, p.nic_stages.as_slice()),
        (1, &["acl".to_string()][..])
    );
    // The whole module fits the NIC: nothing to split.
    assert_eq!(split_on(&example("ddos-filter"), "nfp-agilio-cx"), None);
    // No NIC offload on the host: not a question.
    assert_eq!(split_on(&example("split-edge"), "virtio-vm"), None);
}

const CARRY: &str = r#"
[module]
name = "carry"
default = "drop"
[ports]
up = 1
down = 2
[[table]]
name = "first"
keys = [{ field = "ipv4.src", match = "exact" }]
actions = ["block", "go_on"]
default_action = "go_on"
size = 16
[[table]]
name = "second"
keys = [{ field = "ipv4.dst", match = "exact" }]
actions = ["block", "go_on", "SECOND"]
default_action = "go_on"
size = 16
[[table]]
name = "routes"
keys = [{ field = "ipv4.dst", match = "lpm" }]
actions = ["out"]
default_action = "out"
size = 16
[action.block]
do = ["drop"]
[action.go_on]
do = []
[action.out]
do = ["forward(down)"]
"#;

fn carry_module(second_action: &str) -> Module {
    module(&CARRY.replace("\"SECOND\"", "\"second_act\"").replace(
        "[action.block]",
        &format!("[action.second_act]\ndo = [{second_action}]\n[action.block]"),
    ))
}

#[test]
fn state_that_would_have_to_travel_keeps_a_stage_on_the_host_by_name() {
    for (body, carry) in [
        ("\"pass\"", "can decide `pass` on the NIC"),
        ("\"push_vlan(7)\"", "pushes a VLAN tag on the NIC"),
        ("\"dec_ttl\"", "dec_ttl at TTL ≤ 1"),
    ] {
        let Some(SplitPlan::Proposed(p)) = split_on(&carry_module(body), "nfp-agilio-cx") else {
            panic!("{body}: no split proposed");
        };
        assert_eq!(p.nic_stages, ["first"], "{body}");
        let second = &p.host_stages[0];
        assert_eq!(second.stage, "second");
        let u = second
            .reasons
            .iter()
            .find(|u| matches!(&u.need, Need::SplitCarry { table } if table == "second"))
            .unwrap_or_else(|| panic!("{body}: {:?}", second.reasons));
        assert!(u.message.contains(carry), "{body}: {}", u.message);
        assert!(
            u.message.contains("no channel for it besides the bytes"),
            "{}",
            u.message
        );
        assert!(u.source.contains("bpf_xdp_adjust_meta"), "{}", u.source);
        // routes: its own reasons (lpm, redirect), not just "after second".
        assert!(!p.host_stages[1].reasons.is_empty());
    }
    // A rewrite of a field the parser does not read travels in the bytes.
    let Some(SplitPlan::Proposed(p)) =
        split_on(&carry_module("\"set(ipv4.ttl, 3)\""), "nfp-agilio-cx")
    else {
        panic!("no split proposed");
    };
    assert_eq!(p.nic_stages, ["first", "second"]);
}

#[test]
fn a_first_stage_that_does_not_fit_means_no_split_and_says_why() {
    let m = module(
        &CARRY
            .replace(
                "keys = [{ field = \"ipv4.src\", match = \"exact\" }]",
                "keys = [{ field = \"ipv4.src\", match = \"lpm\" }]",
            )
            .replace("\"SECOND\", ", "")
            .replace(", \"SECOND\"", ""),
    );
    match split_on(&m, "nfp-agilio-cx") {
        Some(SplitPlan::None {
            first_stage,
            reasons,
            ..
        }) => {
            assert_eq!(first_stage, "first");
            assert!(
                reasons.iter().any(|u| need(u) == "match_kind"),
                "{reasons:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offloadctl_plan_shows_the_split_in_text_and_json() {
    let run = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_offloadctl"));
        c.args([
            "plan",
            "examples/split-edge.toml",
            "--system",
            "tests/fixtures/hosts/nfp-agilio-cx",
            "--on",
            "enp3s0np0",
        ]);
        if json {
            c.arg("--json");
        }
        let o = c.current_dir(root()).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let t = run(false);
    assert!(
        t.contains("split proposed: the first 2 of 3 stages in the NIC"),
        "{t}"
    );
    assert!(
        t.contains("nic  (xdp-offload, profile nfp): blocklist, acl"),
        "{t}"
    );
    assert!(t.contains("the NFP offload profile has no LPM trie"), "{t}");
    assert!(t.contains("--mode split"), "{t}");
    let v: Value = serde_json::from_str(&run(true)).unwrap();
    let s = &v["splits"][0];
    assert_eq!(s["split"], "proposed");
    assert_eq!(s["at"], 2);
    assert_eq!(s["host_stages"][0]["stage"], "routes");
    assert_eq!(s["host_stages"][0]["reasons"][0]["need"], "match_kind");
}

#[test]
fn apply_mode_split_on_an_interface_without_offload_says_why() {
    let test = "apply_mode_split_on_an_interface_without_offload_says_why";
    if !offload_drivers::testenv::require_root(test) {
        return;
    }
    // An interface of this machine (none has an offload NIC here).
    let mut ifaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    ifaces.sort();
    let Some(iface) = ifaces.first().cloned() else {
        offload_drivers::testenv::announce_skip(test, "no interface besides lo");
        return;
    };
    let apply = |on: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_offloadctl"));
        c.args(["apply", "examples/split-edge.toml", "--mode", "split"]);
        for i in on {
            c.args(["--on", i]);
        }
        c.env(
            "OFFLOAD_STATE_DIR",
            std::env::temp_dir().join("offload-split-none"),
        )
        .current_dir(root())
        .output()
        .unwrap()
    };
    let o = apply(&[&iface]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("no split on {iface}"))
            && err.contains("offers no XDP hardware offload"),
        "{err}"
    );
    // Two interfaces: a split is one interface's NIC and host side.
    let o = apply(&[&iface, &iface]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("one interface"));
}
