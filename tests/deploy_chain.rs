//! A service chain as a deployment, on a veth lab, through `offloadctl` as a
//! user runs it: `deploy.toml` with `modules = ["ddos-filter.toml",
//! "edge-router.toml"]` on a host interface (XDP generic) and a Tofino
//! bundle (the chain's one TNA pipeline, compile only).
//!
//! - live traffic through the fused program agrees with
//!   `semantics::run_chain` frame by frame, and the counters read back per
//!   `module.table` equal the reference's;
//! - `entries add --table edge-router.routes` changes forwarding;
//! - `status` shows both modules with their digests;
//! - replacing the second module's version under traffic loses no packet and
//!   the first module's counters continue;
//! - drift: an entry deleted from a fused map is repaired; a program swapped
//!   onto our link is reported and left alone; once the link is gone,
//!   `reconcile` reloads the chain;
//! - `detach` leaves no program and no pin.

mod deploy_common;

use deploy_common::targets::second_version;
use deploy_common::traffic::loss_during;
use deploy_common::*;
use offload_core::ir::chain::{fuse, Fused};
use offload_core::ir::Module;
use offload_core::semantics::{CounterSlot, Verdict};
use offload_drivers::lab::compare::{run_probe_chain, Probe, Taps};
use offload_drivers::lab::frames::{Ipv4Frame, TCP, UDP};
use offload_drivers::load::{attach, observe, program, Mode};
use offload_drivers::sys::{self, Kernel};
use offload_drivers::testenv::require_root;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_offloadctl");
const DDOS: &str = include_str!("../examples/ddos-filter.toml");
/// The chain's own name (`name = ...` in deploy.toml).
const CHAIN: &str = "edge-chain";
/// A chain's name when deploy.toml gives none.
const JOINED: &str = "ddos-filter+edge-router";

struct Ctl {
    state: PathBuf,
    dir: PathBuf,
}

impl Ctl {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("OFFLOAD_STATE_DIR", &self.state)
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "offloadctl {args:?}: {:?}\nstdout:\n{out}\nstderr:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        // Whatever the test left deployed goes (a failed assert included).
        let _ = self.run(&["detach", "--module", CHAIN]);
    }
}

fn chain_of(ddos: &str, router: &str) -> (Vec<Module>, Fused) {
    let m = vec![
        offload_core::spec::compile(ddos).unwrap(),
        offload_core::spec::compile(router).unwrap(),
    ];
    let f = fuse(&m).unwrap();
    (m, f)
}

/// Frames for the ddos-filter's rules (the router's probes cover the rest).
fn ddos_probes(rl: &RouterLab) -> Vec<Probe> {
    let mk = |n: u16, label: &str, src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16| {
        let marker = format!("offload-chain-{n:03}").into_bytes();
        Probe {
            label: label.into(),
            from: rl.uplink(),
            frame: Ipv4Frame {
                dst_mac: rl.up.outer_mac,
                src_mac: rl.up.mac,
                src: Ipv4Addr::from(src),
                dst: Ipv4Addr::from(dst),
                ttl: 64,
                proto,
                sport,
                dport: 5000,
                payload: marker.clone(),
            }
            .emit(),
            marker,
        }
    };
    vec![
        mk(
            1,
            "botnet source",
            [203, 0, 113, 9],
            [192, 168, 1, 2],
            UDP,
            4000,
        ),
        mk(
            2,
            "dns amplification",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            UDP,
            53,
        ),
        mk(
            3,
            "our resolver",
            [198, 51, 100, 53],
            [192, 168, 1, 2],
            UDP,
            53,
        ),
        mk(4, "honeypot udp", [10, 0, 1, 2], [192, 0, 2, 66], UDP, 4000),
        mk(
            5,
            "memcached reflection",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            UDP,
            11211,
        ),
        mk(
            6,
            "tcp to a server",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            TCP,
            4001,
        ),
    ]
}

fn udp_to(rl: &RouterLab, n: u16, dst: [u8; 4]) -> Probe {
    let marker = format!("offload-chain-route-{n:03}").into_bytes();
    Probe {
        label: format!("udp to {}", Ipv4Addr::from(dst)),
        from: rl.uplink(),
        frame: Ipv4Frame {
            dst_mac: rl.up.outer_mac,
            src_mac: rl.up.mac,
            src: Ipv4Addr::new(10, 0, 1, 2),
            dst: Ipv4Addr::from(dst),
            ttl: 64,
            proto: UDP,
            sport: 4100 + n,
            dport: 5000,
            payload: marker.clone(),
        }
        .emit(),
        marker,
    }
}

/// Counter hits of the reference: (fused table, entry slot or default) → (packets, bytes).
type Hits = BTreeMap<(String, Option<usize>), (u64, u64)>;

/// Sends every probe, compares with `run_chain`; returns the reference's
/// counter hits per (fused table, slot).
fn probe_all(
    mode: &str,
    modules: &[Module],
    fused: &Fused,
    taps: &Taps,
    probes: &[Probe],
) -> (Hits, Vec<Verdict>) {
    let mut hits = BTreeMap::new();
    let mut failures = Vec::new();
    let mut verdicts = Vec::new();
    for p in probes {
        let r = run_probe_chain(
            modules,
            fused,
            taps,
            p,
            mode != "tc",
            Duration::from_millis(60),
        )
        .unwrap();
        if let Some(m) = &r.mismatch {
            if mode == "native" && r.expected == Verdict::Tx {
                // XDP_TX on a veth in driver mode reaches the peer only when
                // the peer runs XDP itself (validate's live runs attach a
                // pass-all there); the lab's hosts do not. The frame still ran
                // through the chain: its counters are compared with the rest.
                eprintln!(
                    "native: {}: XDP_TX not observable on this veth lab ({m})",
                    r.label
                );
            } else {
                failures.push(format!("{}: expected {:?}: {m}", r.label, r.expected));
            }
        }
        verdicts.push(r.outcome.verdict);
        for h in &r.outcome.counters {
            let slot = match h.slot {
                CounterSlot::Entry(i) => Some(i),
                CounterSlot::Default => None,
            };
            let e: &mut (u64, u64) = hits
                .entry((fused.module.table(h.table).name.clone(), slot))
                .or_default();
            e.0 += 1;
            e.1 += h.bytes;
        }
    }
    assert!(
        failures.is_empty(),
        "live traffic through the chain differs from run_chain:\n{}",
        failures.join("\n")
    );
    (hits, verdicts)
}

/// `status --json` of the chain deployment.
fn status(ctl: &Ctl) -> (i32, serde_json::Value) {
    let o = ctl.run(&["status", "--module", CHAIN, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v[0].clone())
}

/// Packets counted in one table (entries and default) on the host placement.
fn packets(st: &serde_json::Value, table: &str) -> u64 {
    let host = st["placements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["placement"].as_str().unwrap().starts_with("host:"))
        .unwrap();
    let t = &host["tables"][table];
    assert!(!t.is_null(), "no table {table} in {host:#}");
    let entries: u64 = t["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_u64().unwrap())
        .sum();
    entries + t["default_counter"][0].as_u64().unwrap_or(0)
}

/// deploy.toml: the chain `modules` (named `name`) on the uplink in `mode`,
/// and a Tofino bundle.
fn write_deploy(dir: &Path, rl: &RouterLab, mode: &str, modules: &[&str], name: Option<&str>) {
    let list: Vec<String> = modules.iter().map(|m| format!("{m:?}")).collect();
    let name = name.map(|n| format!("name = {n:?}\n")).unwrap_or_default();
    let deploy = format!(
        r#"modules = [{}]
{name}
[ports]
uplink = "{}"
servers = "{}"
backup = "{}"

[[host]]
iface = "{}"
mode = "{mode}"

[[bundle]]
name = "tofino"
arch = "tna"
out = "bundle"
"#,
        list.join(", "),
        rl.up.outer,
        rl.srv.outer,
        rl.bak.outer,
        rl.up.outer
    );
    std::fs::write(dir.join("deploy.toml"), deploy).unwrap();
}

const BOTH: &[&str] = &["ddos-filter.toml", "edge-router.toml"];

/// A module that drops every frame: nothing after it in a chain ever runs.
const DROPPER: &str = "[module]\nname = \"dropper\"\ndefault = \"drop\"\n\n[[table]]\nname = \"all\"\nkeys = [{ field = \"eth.type\", match = \"exact\" }]\nactions = [\"kill\"]\ndefault_action = \"kill\"\n\n[action.kill]\ndo = [\"drop\"]\n";

#[test]
fn chain_deployment_end_to_end_xdp_generic() {
    if !require_root("chain_deployment_end_to_end_xdp_generic") {
        return;
    }
    end_to_end("generic", true);
}

#[test]
fn chain_deployment_end_to_end_xdp_native() {
    if !require_root("chain_deployment_end_to_end_xdp_native") {
        return;
    }
    end_to_end("native", false);
}

#[test]
fn chain_deployment_end_to_end_tc() {
    if !require_root("chain_deployment_end_to_end_tc") {
        return;
    }
    end_to_end("tc", false);
}

/// The whole life of a chain deployment in one mode; `drift`: the
/// out-of-band changes too (XDP generic only: the intruder is an XDP program).
fn end_to_end(mode: &str, drift: bool) {
    let rl = routable_lab(&format!("ch{mode}"));
    let dir = rl.roots.state.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ddos-filter.toml"), DDOS).unwrap();
    std::fs::write(dir.join("edge-router.toml"), EDGE_ROUTER).unwrap();
    write_deploy(&dir, &rl, mode, BOTH, Some(CHAIN));
    let ctl = Ctl {
        state: rl.roots.state.join("run"),
        dir: dir.clone(),
    };

    // Apply the chain.
    let t0 = Instant::now();
    let out = ctl.ok(&["apply", "deploy.toml"]);
    eprintln!(
        "{mode}: apply chain (host {mode} + TNA bundle): {:.1} ms\n{out}",
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert!(
        out.contains(&format!("host:{}: {CHAIN} v1", rl.up.outer)),
        "{out}"
    );
    assert!(out.contains("bundle:tofino"), "{out}");
    // The bundle holds the chain's one pipeline, tables module_table.
    let p4 = std::fs::read_to_string(dir.join("bundle").join(format!("{CHAIN}.p4"))).unwrap();
    assert!(out.contains(&format!("mode {mode}")), "{out}");
    assert!(
        p4.contains("ddos_filter_blocklist") && p4.contains("edge_router_routes"),
        "the bundle is not the chain's pipeline:\n{}",
        &p4[..p4.len().min(2000)]
    );
    let (code, st) = status(&ctl);
    assert_eq!(code, 0, "drift right after apply: {st:#}");

    // Live traffic agrees with run_chain, counters per module.table too.
    let (modules, fused) = chain_of(DDOS, EDGE_ROUTER);
    let taps = Taps::open(&rl.wires()).unwrap();
    let mut probes = ddos_probes(&rl);
    probes.extend(rl.probes());
    let (hits, verdicts) = probe_all(mode, &modules, &fused, &taps, &probes);
    let dropped_by_ddos = verdicts[..3]
        .iter()
        .filter(|v| **v == Verdict::Drop)
        .count();
    assert_eq!(dropped_by_ddos, 2, "{verdicts:?}");
    assert_eq!(verdicts[3], Verdict::Tx, "the honeypot reflects");
    let (_, st) = status(&ctl);
    let mut want_tables: BTreeMap<String, u64> = BTreeMap::new();
    for ((t, _), (p, _)) in &hits {
        *want_tables.entry(t.clone()).or_default() += p;
    }
    for t in fused.module.tables.iter().filter(|t| t.counters) {
        let want = want_tables.get(&t.name).copied().unwrap_or(0);
        assert_eq!(packets(&st, &t.name), want, "counters of {}", t.name);
    }
    assert!(want_tables["ddos-filter.blocklist"] > 0);
    eprintln!(
        "{mode}: {} frames through the chain agree with run_chain; counters {:?}",
        probes.len(),
        want_tables
    );

    // status shows both modules, their digests and tables.
    let text = ctl.ok(&["status", "--module", CHAIN]);
    eprintln!("{text}");
    assert!(
        text.contains("a service chain of 2 modules")
            && text.contains("module 1 of 2: ddos-filter (ddos-filter.toml, digest")
            && text.contains("module 2 of 2: edge-router (edge-router.toml, digest")
            && text.contains("table edge-router.routes"),
        "{text}"
    );
    let chain = st["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    let ddos_digest = chain[0]["digest"].as_str().unwrap().to_string();
    let router_digest = chain[1]["digest"].as_str().unwrap().to_string();

    // entries add on edge-router.routes changes forwarding.
    let probe = udp_to(&rl, 1, [10, 9, 1, 1]);
    let (_, v) = probe_all(mode, &modules, &fused, &taps, std::slice::from_ref(&probe));
    assert_eq!(v[0], Verdict::Pass, "no route yet: to the host");
    let out = ctl.ok(&[
        "entries",
        "add",
        "--module",
        CHAIN,
        "--table",
        "edge-router.routes",
        "--match",
        "ipv4.dst=10.9.0.0/16",
        "--action",
        "route",
        "--arg",
        "port=servers",
        "--arg",
        "dmac=02:00:00:00:00:02",
        "--arg",
        "smac=02:00:00:00:00:01",
    ]);
    eprintln!("{out}");
    let routed = EDGE_ROUTER.replace(
        "[[entry.routes]]\nmatch = { \"ipv4.dst\" = \"192.168.1.0/24\" }",
        "[[entry.routes]]\nmatch = { \"ipv4.dst\" = \"10.9.0.0/16\" }\naction = { route = { port = \"servers\", dmac = \"02:00:00:00:00:02\", smac = \"02:00:00:00:00:01\" } }\n\n[[entry.routes]]\nmatch = { \"ipv4.dst\" = \"192.168.1.0/24\" }",
    );
    assert_ne!(routed, EDGE_ROUTER);
    let (modules_r, fused_r) = chain_of(DDOS, &routed);
    let (_, v) = probe_all(
        mode,
        &modules_r,
        &fused_r,
        &taps,
        std::slice::from_ref(&probe),
    );
    let servers = fused.module.port_by_name("servers").unwrap().id;
    assert_eq!(v[0], Verdict::Forward(servers), "the new route forwards");
    // entries load: a file of [[entry."module.table"]]s; list shows them.
    std::fs::write(
        dir.join("more.toml"),
        "[[entry.\"edge-router.routes\"]]\nmatch = { \"ipv4.dst\" = \"10.10.0.0/16\" }\naction = \"deny\"\n",
    )
    .unwrap();
    let out = ctl.ok(&["entries", "load", "--module", CHAIN, "more.toml", "--quiet"]);
    eprintln!("{out}");
    let list = ctl.ok(&["entries", "list", "--module", CHAIN]);
    assert!(
        list.contains("edge-router.routes") && list.contains("10.10.0.0/16"),
        "{list}"
    );
    let o = ctl.run(&[
        "entries",
        "del",
        "--module",
        CHAIN,
        "--table",
        "edge-router.routes",
        "--match",
        "ipv4.dst=10.10.0.0/16",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A table that is not the chain's is refused, naming it.
    let o = ctl.run(&[
        "entries",
        "add",
        "--module",
        CHAIN,
        "--table",
        "routes",
        "--match",
        "ipv4.dst=10.8.0.0/16",
        "--action",
        "deny",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("routes"), "{err}");

    // Replace the second module's version under traffic: no packet lost,
    // the first module's counters continue.
    let (_, st) = status(&ctl);
    let before = packets(&st, "ddos-filter.blocklist");
    std::fs::write(dir.join("edge-router.toml"), second_version(EDGE_ROUTER)).unwrap();
    let mut apply_ms = 0.0;
    let (sent, received) = loss_during(&rl.up, &rl.srv, || {
        let t0 = Instant::now();
        let out = ctl.ok(&["apply", "deploy.toml"]);
        apply_ms = t0.elapsed().as_secs_f64() * 1e3;
        assert!(out.contains(&format!("{CHAIN} v2")), "{out}");
    });
    eprintln!(
        "{mode}: replace edge-router mid-chain under traffic: {apply_ms:.1} ms, sent {sent}, received {received}, lost {}",
        sent - received
    );
    assert!(sent > 100, "too little traffic to tell: {sent}");
    assert_eq!(
        sent, received,
        "packets lost during the mid-chain replacement"
    );
    let (code, st) = status(&ctl);
    assert_eq!(code, 0, "drift after the replacement: {st:#}");
    let after = packets(&st, "ddos-filter.blocklist");
    assert_eq!(
        after,
        before + u64::from(sent),
        "ddos-filter.blocklist counted {before} before, {after} after {sent} packets"
    );
    let chain = st["chain"].as_array().unwrap();
    assert_eq!(
        chain[0]["digest"],
        ddos_digest.as_str(),
        "ddos-filter unchanged"
    );
    assert_ne!(
        chain[1]["digest"],
        router_digest.as_str(),
        "edge-router changed"
    );
    // A re-apply refused half-way (the host cannot build a chain whose second
    // module never runs) leaves the running version: same digest, in sync.
    std::fs::write(dir.join("dropper.toml"), DROPPER).unwrap();
    write_deploy(
        &dir,
        &rl,
        mode,
        &["dropper.toml", "edge-router.toml"],
        Some(CHAIN),
    );
    let o = ctl.run(&["apply", "deploy.toml"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the old version runs everywhere"), "{err}");
    let (code, st_after) = status(&ctl);
    assert_eq!(code, 0, "drift after a refused re-apply: {st_after:#}");
    assert_eq!(st_after["digest"], st["digest"], "another version runs");
    write_deploy(&dir, &rl, mode, BOTH, Some(CHAIN));
    // The runtime route survived the new version.
    let (modules2, fused2) = chain_of(DDOS, &second_version(&routed));
    let probe = udp_to(&rl, 2, [10, 9, 2, 2]);
    let (_, v) = probe_all(
        mode,
        &modules2,
        &fused2,
        &taps,
        std::slice::from_ref(&probe),
    );
    assert_eq!(v[0], Verdict::Forward(servers));
    let mut all = ddos_probes(&rl);
    all.extend(rl.probes());
    probe_all(mode, &modules2, &fused2, &taps, &all);

    let iface_dir = PathBuf::from("/sys/fs/bpf/offload")
        .join(CHAIN)
        .join(&rl.up.outer);
    if drift {
        drift_repaired(&ctl, &rl, &taps, &modules2, &fused2, &iface_dir);
    }

    // Take ddos-filter out: re-apply the chain without it (same name, so the
    // same deployment), hitless, edge-router's counters continuous.
    let (_, st) = status(&ctl);
    let acl_before = packets(&st, "edge-router.acl");
    write_deploy(&dir, &rl, mode, &["edge-router.toml"], Some(CHAIN));
    let (sent, received) = loss_during(&rl.up, &rl.srv, || {
        let t0 = Instant::now();
        let out = ctl.ok(&["apply", "deploy.toml"]);
        apply_ms = t0.elapsed().as_secs_f64() * 1e3;
        assert!(out.contains(&format!("{CHAIN} v3")), "{out}");
    });
    eprintln!(
        "{mode}: take ddos-filter out of the chain under traffic: {apply_ms:.1} ms, sent {sent}, received {received}, lost {}",
        sent - received
    );
    assert!(sent > 100, "too little traffic to tell: {sent}");
    assert_eq!(sent, received, "packets lost taking ddos-filter out");
    let (code, st) = status(&ctl);
    assert_eq!(code, 0, "drift after taking ddos-filter out: {st:#}");
    assert_eq!(st["chain"].as_array().unwrap().len(), 1);
    assert!(st["placements"][0]["tables"]["ddos-filter.blocklist"].is_null());
    assert_eq!(
        packets(&st, "edge-router.acl"),
        acl_before + u64::from(sent),
        "edge-router.acl not continuous"
    );
    let router2 = offload_core::spec::compile(&second_version(&routed)).unwrap();
    let fused1 = fuse(std::slice::from_ref(&router2)).unwrap();
    let mut all = ddos_probes(&rl);
    all.extend(rl.probes());
    let (_, v) = probe_all(mode, std::slice::from_ref(&router2), &fused1, &taps, &all);
    assert_ne!(
        v[0],
        Verdict::Drop,
        "the botnet source passes without ddos-filter"
    );

    // detach leaves nothing: no program on the interface, no pins, no record.
    let out = ctl.ok(&["detach", "--module", CHAIN]);
    assert!(
        out.contains(&format!("host:{}: detached {CHAIN}", rl.up.outer)),
        "{out}"
    );
    let seen = observe::observe(&rl.up.outer).unwrap();
    assert!(
        seen.all().next().is_none(),
        "a program is left on {}",
        rl.up.outer
    );
    assert!(!iface_dir.exists(), "pins left in {}", iface_dir.display());
    assert!(
        !PathBuf::from("/sys/fs/bpf/offload").join(CHAIN).exists()
            || std::fs::read_dir(PathBuf::from("/sys/fs/bpf/offload").join(CHAIN))
                .unwrap()
                .next()
                .is_some(),
        "the chain's pin folder is left empty"
    );
    let o = ctl.run(&["status", "--module", CHAIN]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing deployed") || !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn chain_deployment_refusals_name_placement_and_module() {
    if !require_root("chain_deployment_refusals_name_placement_and_module") {
        return;
    }
    let rl = router_lab("chainbad");
    let dir = rl.roots.state.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ddos-filter.toml"), DDOS).unwrap();
    write_deploy(&dir, &rl, "generic", BOTH, None);
    let ctl = Ctl {
        state: rl.roots.state.join("run"),
        dir: dir.clone(),
    };
    let fails = |what: &str| {
        let o = ctl.run(&["apply", "deploy.toml"]);
        assert_eq!(o.status.code(), Some(1), "{what}");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            !Path::new("/sys/fs/bpf/offload")
                .join(JOINED)
                .join(&rl.up.outer)
                .exists(),
            "{what}: something was loaded"
        );
        err
    };
    // A module with a mistake: file:line:column, and which module of the chain.
    std::fs::write(
        dir.join("edge-router.toml"),
        EDGE_ROUTER.replace("default_action = \"to_host\"", "default_action = \"nope\""),
    )
    .unwrap();
    let err = fails("a module with a mistake");
    assert!(
        err.contains("edge-router.toml:") && err.contains("module 2 of the chain"),
        "{err}"
    );
    // Two modules that disagree on ports: the chain's refusal at the port.
    let other = EDGE_ROUTER.replace("uplink = 1", "uplink = 7");
    std::fs::write(dir.join("edge-router.toml"), &other).unwrap();
    let chain2 = format!("{DDOS}\n[ports]\nuplink = 1\nservers = 2\nbackup = 3\n");
    std::fs::write(dir.join("ddos-filter.toml"), &chain2).unwrap();
    let err = fails("ports disagree");
    assert!(
        err.contains("cannot run as one chain") && err.contains("uplink"),
        "{err}"
    );
    // Both `module` and `modules`.
    std::fs::write(dir.join("ddos-filter.toml"), DDOS).unwrap();
    std::fs::write(dir.join("edge-router.toml"), EDGE_ROUTER).unwrap();
    let text = std::fs::read_to_string(dir.join("deploy.toml")).unwrap();
    std::fs::write(
        dir.join("deploy.toml"),
        format!("module = \"edge-router.toml\"\n{text}"),
    )
    .unwrap();
    let err = fails("module and modules");
    assert!(err.contains("both `module` and `modules`"), "{err}");
    // A chain name that cannot name a pin folder.
    std::fs::write(dir.join("deploy.toml"), format!("name = \"../x\"\n{text}")).unwrap();
    let err = fails("bad name");
    assert!(err.contains("name \"../x\""), "{err}");
    // A module after one that never passes a packet on: refused by name.
    std::fs::write(dir.join("dropper.toml"), DROPPER).unwrap();
    std::fs::write(
        dir.join("deploy.toml"),
        text.replace("\"ddos-filter.toml\"", "\"dropper.toml\""),
    )
    .unwrap();
    let o = ctl.run(&["apply", "deploy.toml"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`edge-router` of the chain never runs") && err.contains("dropper"),
        "{err}"
    );
    assert!(
        !Path::new("/sys/fs/bpf/offload")
            .join("dropper+edge-router")
            .join(&rl.up.outer)
            .exists(),
        "the dead chain was loaded"
    );
    // A port bound that the chain does not have: names the placement.
    std::fs::write(
        dir.join("deploy.toml"),
        text.replace("[ports]\n", "[ports]\nmgmt = \"lo\"\n"),
    )
    .unwrap();
    let err = fails("unknown port");
    assert!(
        err.contains("placement host") && err.contains("mgmt"),
        "{err}"
    );
}

/// Out-of-band changes to a running chain, found and repaired (or left alone).
fn drift_repaired(
    ctl: &Ctl,
    rl: &RouterLab,
    taps: &Taps,
    modules2: &[Module],
    fused2: &Fused,
    iface_dir: &Path,
) {
    // Drift 1: an entry deleted from a fused map behind offload's back.
    delete_one_element(iface_dir, fused2, "ddos-filter.honeypot");
    let o = ctl.run(&["status", "--module", CHAIN]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(
        text.contains("table ddos-filter.honeypot: entry missing"),
        "{text}"
    );
    let t0 = Instant::now();
    let out = ctl.ok(&["reconcile", "--module", CHAIN]);
    eprintln!(
        "entry drift in ddos-filter.honeypot repaired: {:.1} ms\n{out}",
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(status(ctl).0, 0, "drift after reconcile");

    // Drift 2: a foreign program swapped onto our link: reported, left alone.
    let link = iface_dir.join("link");
    let obj = pass_object("intruder");
    let l = program::load(&obj, "intruder", Mode::Generic).unwrap();
    attach::replace(&Kernel, &link, l.prog.as_fd(), None).unwrap();
    let o = ctl.run(&["status", "--module", CHAIN]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(text.contains("offload does not own"), "{text}");
    let out = ctl.run(&["reconcile", "--module", CHAIN]);
    let _ = out;
    let seen = observe::observe(&rl.up.outer).unwrap();
    assert_eq!(
        seen.all().next().map(|(_, p)| p.id),
        Some(l.info.id),
        "reconcile removed a program it does not own"
    );
    // The intruder goes with the link (unpinned and detached behind our back):
    // the chain no longer runs; reconcile loads it again.
    let (link_fd, _) = attach::pinned_link(&Kernel, &link).unwrap();
    sys::link_detach(&Kernel, link_fd.as_fd()).unwrap();
    drop(link_fd);
    std::fs::remove_file(&link).unwrap();
    drop(l);
    let o = ctl.run(&["status", "--module", CHAIN]);
    assert_eq!(o.status.code(), Some(3));
    let t0 = Instant::now();
    let out = ctl.ok(&["reconcile", "--module", CHAIN]);
    eprintln!(
        "chain reloaded after its link was removed: {:.1} ms\n{out}",
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert!(out.contains("reloaded"), "{out}");
    assert_eq!(status(ctl).0, 0, "drift after the reload");
    let mut all = ddos_probes(rl);
    all.extend(rl.probes());
    probe_all("generic", modules2, fused2, taps, &all);
}

/// Deletes one element of a fused table's exact-match map behind offload's
/// back (the generation pinned under `iface_dir`).
fn delete_one_element(iface_dir: &Path, fused: &Fused, table: &str) {
    let gen = std::fs::read_dir(iface_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with('g'))
        .unwrap();
    let honeypot = fused.module.table_by_name(table).unwrap();
    let map = std::fs::read_dir(&gen)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(&format!("t{}_", honeypot.id.0)) && n.contains("_e")
        })
        .unwrap_or_else(|| {
            panic!(
                "no exact map of table {} in {}",
                honeypot.id.0,
                gen.display()
            )
        });
    let fd = sys::obj_get(&Kernel, &map).unwrap();
    let info = sys::map_info(&Kernel, fd.as_fd()).unwrap();
    let mut key = vec![0u8; info.key_size as usize];
    assert!(sys::map_next_key(&Kernel, fd.as_fd(), None, &mut key).unwrap());
    assert!(sys::map_delete(&Kernel, fd.as_fd(), &key).unwrap());
}

fn pass_object(name: &str) -> Vec<u8> {
    use offload_ebpf::elf::{write_object, ObjectSpec, ProgramSection};
    let code: Vec<u8> = [[0xb7u8, 0, 0, 0, 2, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]].concat();
    write_object(&ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: name,
        insns: &code,
        map_relocs: vec![],
        maps: vec![],
        license: "GPL",
    })
    .unwrap()
}

/// A chain on a BMv2 switch placement: one pipeline
/// (`offload_p4::compile_chain`) compiled by p4c-bm2-ss, tables
/// `module_table`, read back by `module.table` without drift; a new version
/// of the second module applied and read back. Needs the
/// P4 toolchain: without it the test says it skipped (and fails under
/// OFFLOAD_REQUIRE_P4=1).
#[test]
fn chain_on_a_bmv2_switch_beside_the_host() {
    use offload_core::spec::chain::{frame, MemberSource};
    use offload_core::state::{self, deployment::SwitchSpec, Desired};
    use offload_drivers::p4rt::tools::GrpcTools;
    use offload_drivers::target::switch::{canonical_desired, SwitchTarget};
    use offload_drivers::testkit_bmv2::GrpcSwitch;
    let tag = "chain_on_a_bmv2_switch_beside_the_host";
    if !require_root(tag) {
        return;
    }
    let Some(tools) = offload_drivers::testenv::require_p4(tag, GrpcTools::find()) else {
        return;
    };
    let rl = router_lab("chsw");
    let switch = GrpcSwitch::start(
        &tools,
        None,
        &[
            (1, rl.up.outer.clone()),
            (2, rl.srv.outer.clone()),
            (3, rl.bak.outer.clone()),
        ],
        1,
        &rl.roots.state.join("bmv2"),
    )
    .unwrap();
    let spec = SwitchSpec {
        name: "bmv2-chain".into(),
        grpc: switch.addr.clone(),
        device_id: 1,
        election_id: 1,
        ports: BTreeMap::from([
            ("uplink".into(), 1),
            ("servers".into(), 2),
            ("backup".into(), 3),
        ]),
        switch_ports: vec![1, 2, 3],
        replace: false,
    };
    // The switch owns the lab's outer veths here, so the chain runs on the
    // switch alone (host + switch transactions are deploy_switch's subject).
    let desired = |router: &str, n: u64| {
        let text = frame(
            Some(CHAIN),
            &[
                MemberSource {
                    file: "ddos-filter.toml".into(),
                    source: DDOS.into(),
                },
                MemberSource {
                    file: "edge-router.toml".into(),
                    source: router.into(),
                },
            ],
        );
        let p = offload_core::spec::chain::compile_program(&text).unwrap();
        canonical_desired(&Desired::from_module(p.module, &text, n, vec![]))
    };
    let v1 = desired(EDGE_ROUTER, 1);
    let mut sw = SwitchTarget::new(&spec, rl.roots.clone());
    let t0 = Instant::now();
    state::apply(&mut [&mut sw], &v1).unwrap();
    eprintln!(
        "chain on BMv2: applied in {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let obs = state::Target::observe(&mut sw, &v1).unwrap();
    assert!(obs[0].tables.contains_key("edge-router.routes"), "{obs:?}");
    assert!(state::diff(&v1, &obs[0]).is_empty(), "{obs:?}");
    let v2 = desired(&second_version(EDGE_ROUTER), 2);
    state::apply(&mut [&mut sw], &v2).unwrap();
    let obs = state::Target::observe(&mut sw, &v2).unwrap();
    assert!(state::diff(&v2, &obs[0]).is_empty(), "{obs:?}");
}

/// A single module's deployment becomes a chain on the same interface: under
/// another name it is refused, naming the deployment that holds the hook;
/// under the module's own name (`name = "edge-router"`) the fused chain
/// replaces it hitlessly.
#[test]
fn a_single_module_becomes_a_chain_in_place() {
    if !require_root("a_single_module_becomes_a_chain_in_place") {
        return;
    }
    let rl = routable_lab("chinplace");
    let dir = rl.roots.state.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ddos-filter.toml"), DDOS).unwrap();
    std::fs::write(dir.join("edge-router.toml"), EDGE_ROUTER).unwrap();
    let ctl = Ctl {
        state: rl.roots.state.join("run"),
        dir: dir.clone(),
    };
    // The single module's deployment goes too, whatever happens below.
    struct DetachEdgeRouter<'a>(&'a Ctl);
    impl Drop for DetachEdgeRouter<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["detach", "--module", "edge-router"]);
        }
    }
    let _guard = DetachEdgeRouter(&ctl);
    write_deploy(&dir, &rl, "generic", BOTH, None);
    let chain_text = std::fs::read_to_string(dir.join("deploy.toml")).unwrap();
    let single = chain_text.replace(
        "modules = [\"ddos-filter.toml\", \"edge-router.toml\"]",
        "module = \"edge-router.toml\"",
    );
    assert_ne!(single, chain_text);
    std::fs::write(dir.join("deploy.toml"), &single).unwrap();
    let out = ctl.ok(&["apply", "deploy.toml"]);
    assert!(out.contains("edge-router v1"), "{out}");

    // Under its default name the chain is another deployment: refused, named.
    std::fs::write(dir.join("deploy.toml"), &chain_text).unwrap();
    let o = ctl.run(&["apply", "deploy.toml"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already runs offload's deployment edge-router")
            && err.contains("name = \"edge-router\""),
        "{err}"
    );

    // Under the module's name: the chain takes its place without a loss.
    std::fs::write(
        dir.join("deploy.toml"),
        format!("name = \"edge-router\"\n{chain_text}"),
    )
    .unwrap();
    let (sent, received) = loss_during(&rl.up, &rl.srv, || {
        let out = ctl.ok(&["apply", "deploy.toml"]);
        assert!(out.contains("edge-router v2"), "{out}");
    });
    eprintln!(
        "edge-router → chain ddos-filter → edge-router in place under traffic: sent {sent}, lost {}",
        sent - received
    );
    assert!(sent > 100, "too little traffic to tell: {sent}");
    assert_eq!(
        sent, received,
        "packets lost turning the module into a chain"
    );
    let text = ctl.ok(&["status", "--module", "edge-router"]);
    assert!(
        text.contains("a service chain of 2 modules")
            && text.contains("table ddos-filter.blocklist"),
        "{text}"
    );
    ctl.ok(&["detach", "--module", "edge-router"]);
    let seen = observe::observe(&rl.up.outer).unwrap();
    assert!(
        seen.all().next().is_none(),
        "a program is left on {}",
        rl.up.outer
    );
    assert!(!PathBuf::from("/sys/fs/bpf/offload")
        .join("edge-router")
        .join(&rl.up.outer)
        .exists());
}

/// The agent (offloadd) repairs a chain like a module: the same state model.
/// offloadctl's commands go through its socket; an element deleted from a
/// fused map behind offload's back is put back by the agent's loop.
#[test]
fn the_agent_repairs_a_chain() {
    if !require_root("the_agent_repairs_a_chain") {
        return;
    }
    let rl = routable_lab("chagent");
    let dir = rl.roots.state.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ddos-filter.toml"), DDOS).unwrap();
    std::fs::write(dir.join("edge-router.toml"), EDGE_ROUTER).unwrap();
    write_deploy(&dir, &rl, "generic", BOTH, Some(CHAIN));
    let ctl = Ctl {
        state: rl.roots.state.join("run"),
        dir: dir.clone(),
    };
    std::fs::create_dir_all(&ctl.state).unwrap();
    let log = std::fs::File::create(rl.roots.state.join("offloadd.log")).unwrap();
    let metrics = 20000 + (std::process::id() % 20000) as u16;
    let child = Command::new(env!("CARGO_BIN_EXE_offloadd"))
        .args([
            "--interval-ms",
            "200",
            "--metrics",
            &format!("127.0.0.1:{metrics}"),
        ])
        .env("OFFLOAD_STATE_DIR", &ctl.state)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    struct Agentd(std::process::Child);
    impl Drop for Agentd {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Agentd(child);
    let sock = ctl.state.join("offloadd.sock");
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "offloadd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deploy = dir.join("deploy.toml");
    let out = ctl.ok(&["apply", deploy.to_str().unwrap()]);
    assert!(out.contains(&format!("{CHAIN} v1")), "{out}");
    assert_eq!(status(&ctl).0, 0);
    let (_, fused) = chain_of(DDOS, EDGE_ROUTER);
    let iface_dir = PathBuf::from("/sys/fs/bpf/offload")
        .join(CHAIN)
        .join(&rl.up.outer);
    let t0 = Instant::now();
    delete_one_element(&iface_dir, &fused, "edge-router.routes");
    // The agent's loop finds and repairs it; status (through the agent too)
    // then reads the kernel in sync.
    loop {
        let (code, _) = status(&ctl);
        if code == 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the agent did not repair the chain's routes within 10 s: {}",
            std::fs::read_to_string(rl.roots.state.join("offloadd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "agent: element of edge-router.routes deleted behind offload's back, in sync again after {:.0} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let log = std::fs::read_to_string(rl.roots.state.join("offloadd.log")).unwrap_or_default();
    assert!(
        log.contains("repaired"),
        "no repair in the agent's log:\n{log}"
    );
}
