//! The one desired state with a real BMv2 switch (`simple_switch_grpc`,
//! over our P4Runtime client) beside the host kernel: multi-placement apply,
//! a failure in the switch's commit rolling the host back (and the
//! reverse), entries on all placements or none, out-of-band changes on the
//! switch found and repaired, bad input naming the placement, and the
//! figures issue 10 asks for (apply latency, entry latency per kind, packets
//! lost during a program change on BMv2 and on XDP, time to repair).
//!
//! Needs root and the P4 toolchain (`simple_switch_grpc`, `p4c-bm2-ss` on
//! PATH or under OFFLOAD_P4_DIR): without it every test here announces its
//! skip, and fails under OFFLOAD_REQUIRE_P4=1.

mod deploy_common;

use deploy_common::targets::{drift, running, second_version, FailingCommit};
use deploy_common::traffic::loss_during;
use deploy_common::{routable_lab, RouterLab};
use offload_core::ir::{ActionCall, Entry, KeyMatch};
use offload_core::state::deployment::SwitchSpec;
use offload_core::state::{self, Desired, Drift, Target, TxError};
use offload_drivers::lab::{Host, Lab};
use offload_drivers::load::Mode;
use offload_drivers::p4rt::tools::GrpcTools;
use offload_drivers::target::host::HostTarget;
use offload_drivers::target::switch::{canonical_desired, SwitchTarget};
use offload_drivers::testkit_bmv2::GrpcSwitch;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The host lab of deploy_common, plus a second set of hosts wired to a
/// BMv2 switch's ports 1..3 (uplink, servers, backup).
struct Both {
    rl: RouterLab,
    sw_lab: Lab,
    sw_up: Host,
    sw_srv: Host,
    switch: GrpcSwitch,
    spec: SwitchSpec,
}

fn setup(tag: &str) -> Option<Both> {
    if !offload_drivers::testenv::require_root(tag) {
        return None;
    }
    let tools = offload_drivers::testenv::require_p4(tag, GrpcTools::find())?;
    // Routable host lab too (the XDP loss figure sends real UDP through it).
    let rl = routable_lab(tag);
    let mut sw_lab = Lab::new(&format!("{tag}sw"));
    let up = sw_lab
        .add_host("up", Ipv4Addr::new(10, 0, 1, 2), 24)
        .unwrap();
    sw_lab
        .add_host("srv", Ipv4Addr::new(192, 168, 1, 2), 24)
        .unwrap();
    sw_lab
        .add_host("bak", Ipv4Addr::new(192, 168, 2, 2), 16)
        .unwrap();
    // The MACs the module's routes rewrite to, and static gateways.
    let srv = sw_lab.set_host_mac("srv", [2, 0, 0, 0, 0, 2]).unwrap();
    let bak = sw_lab.set_host_mac("bak", [2, 0, 0, 0, 0, 3]).unwrap();
    sw_lab
        .add_route(&up, "default", Ipv4Addr::new(10, 0, 1, 1), &up.outer_mac)
        .unwrap();
    sw_lab
        .add_route(
            &srv,
            "default",
            Ipv4Addr::new(192, 168, 1, 1),
            &srv.outer_mac,
        )
        .unwrap();
    let dir = rl.roots.state.join("bmv2");
    let switch = GrpcSwitch::start(
        &tools,
        None,
        &[
            (1, up.outer.clone()),
            (2, srv.outer.clone()),
            (3, bak.outer.clone()),
        ],
        1,
        &dir,
    )
    .unwrap();
    let spec = SwitchSpec {
        name: format!("bmv2-{tag}"),
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
    Some(Both {
        rl,
        sw_lab,
        sw_up: up,
        sw_srv: srv,
        switch,
        spec,
    })
}

impl Both {
    fn host(&self) -> HostTarget {
        HostTarget::new(
            self.rl.roots.clone(),
            vec![(self.rl.up.outer.clone(), vec![Mode::Generic])],
            self.rl.ports(),
        )
    }
    fn switch(&self) -> SwitchTarget {
        SwitchTarget::new(&self.spec, self.rl.roots.clone())
    }
}

fn desired(source: &str, n: u64) -> Desired {
    let m = offload_core::spec::compile(source).unwrap();
    canonical_desired(&Desired::from_module(m, source, n, vec![]))
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[test]
fn host_and_switch_one_transaction_rollback_both_ways() {
    let Some(b) = setup("dsw1") else { return };
    let (mut h, mut s) = (b.host(), b.switch());
    let v1 = desired(&b.rl.source(), 1);
    let v2d = desired(&second_version(&b.rl.source()), 2);
    let t0 = Instant::now();
    state::apply(&mut [&mut h, &mut s], &v1).unwrap();
    eprintln!("FIGURE apply host + BMv2 (first): {:.0} ms", ms(t0));
    assert!(
        drift(&mut [&mut h, &mut s], &v1).is_empty(),
        "{:?}",
        drift(&mut [&mut h, &mut s], &v1)
    );

    // The switch's commit fails after the host committed: both on v1.
    let mut fs = FailingCommit(b.switch());
    let err = state::apply(&mut [&mut h, &mut fs], &v2d).unwrap_err();
    assert!(matches!(err, TxError::Commit { .. }), "{err}");
    let d1 = Some(v1.version.digest.clone());
    assert_eq!(
        running(&mut [&mut h, &mut fs], &v1),
        vec![d1.clone(), d1.clone()]
    );
    assert!(
        drift(&mut [&mut h, &mut s], &v1).is_empty(),
        "{:?}",
        drift(&mut [&mut h, &mut s], &v1)
    );

    // The host's commit fails after the switch committed: the switch gets
    // its previous pipeline and entries back.
    let mut fh = FailingCommit(b.host());
    let err = state::apply(&mut [&mut s, &mut fh], &v2d).unwrap_err();
    assert!(matches!(err, TxError::Commit { .. }), "{err}");
    assert_eq!(running(&mut [&mut s, &mut fh], &v1), vec![d1.clone(), d1]);
    assert!(
        drift(&mut [&mut h, &mut s], &v1).is_empty(),
        "{:?}",
        drift(&mut [&mut h, &mut s], &v1)
    );

    let t0 = Instant::now();
    state::apply(&mut [&mut h, &mut s], &v2d).unwrap();
    eprintln!("FIGURE apply host + BMv2 (new version): {:.0} ms", ms(t0));
    assert!(drift(&mut [&mut h, &mut s], &v2d).is_empty());
    drop(b.sw_lab);
}

fn route(action: offload_core::ir::ActionId, dst: u32, len: u32, port: u128) -> Entry {
    Entry {
        meter: None,
        matches: vec![KeyMatch::Lpm {
            value: u128::from(dst),
            prefix_len: len,
        }],
        priority: None,
        action: ActionCall {
            action,
            args: vec![port, 0x0200_0000_0002, 0x0200_0000_0001],
        },
        span: Default::default(),
    }
}

#[test]
fn entries_on_all_placements_or_none_and_switch_drift_is_repaired() {
    let Some(b) = setup("dsw2") else { return };
    let (mut h, mut s) = (b.host(), b.switch());
    let v1 = desired(&b.rl.source(), 1);
    state::apply(&mut [&mut h, &mut s], &v1).unwrap();
    let route_id = v1.module.action_by_name("route").unwrap().id;
    let servers = u128::from(v1.module.port_by_name("servers").unwrap().id.0);

    // One entry on both.
    let mut t = v1.tables.clone();
    t.get_mut("routes")
        .unwrap()
        .entries
        .push(route(route_id, 0x0a09_0000, 16, servers));
    let v1b = v1.with_tables(t);
    let t0 = Instant::now();
    state::change_entries(&mut [&mut h, &mut s], &v1, &v1b).unwrap();
    eprintln!("FIGURE entry change host + BMv2: {:.2} ms", ms(t0));
    assert!(drift(&mut [&mut h, &mut s], &v1b).is_empty());
    for (name, target) in [
        ("host", &mut h as &mut dyn Target),
        ("BMv2", &mut s as &mut dyn Target),
    ] {
        let mut t = v1b.tables.clone();
        t.get_mut("routes")
            .unwrap()
            .entries
            .push(route(route_id, 0x0a0b_0000, 16, servers));
        let after = v1b.with_tables(t);
        let t0 = Instant::now();
        state::change_entries(&mut [target], &v1b, &after).unwrap();
        eprintln!("FIGURE entry add on {name} alone: {:.2} ms", ms(t0));
        state::change_entries(&mut [target], &after, &v1b).unwrap();
    }

    // Refused by the host (a port nothing is bound to) after the switch
    // wrote it: undone on the switch.
    let mut t = v1b.tables.clone();
    t.get_mut("routes")
        .unwrap()
        .entries
        .push(route(route_id, 0x0a0a_0000, 16, 99));
    let bad = v1b.with_tables(t);
    let err = state::change_entries(&mut [&mut s, &mut h], &v1b, &bad).unwrap_err();
    assert!(
        matches!(err, TxError::Entries { ref undone, .. } if undone.len() == 1),
        "{err}"
    );
    assert!(
        drift(&mut [&mut h, &mut s], &v1b).is_empty(),
        "{:?}",
        drift(&mut [&mut h, &mut s], &v1b)
    );

    // Out of band on the switch: another controller (higher election id)
    // deletes an entry and leaves.
    {
        let mut other = b.switch.connect(10, Duration::from_secs(5)).unwrap();
        let entries = other.read_table_entries(0, false).unwrap();
        assert!(!entries.is_empty());
        let victim = entries[0].clone();
        other
            .write(
                vec![offload_drivers::p4rt::Update::delete(victim)],
                offload_drivers::p4rt::Atomicity::ContinueOnError,
            )
            .unwrap();
    }
    let t0 = Instant::now();
    let found = drift(&mut [&mut h, &mut s], &v1b);
    assert!(
        matches!(&found[..], [(p, Drift::EntryMissing { .. })] if p.0.starts_with("switch:")),
        "{found:?}"
    );
    let r = state::reconcile(&mut [&mut h, &mut s], &v1b);
    eprintln!(
        "FIGURE out-of-band delete on BMv2 → found and repaired: {:.1} ms",
        ms(t0)
    );
    assert_eq!(r.repaired.len(), 1, "{r:?}");
    assert!(drift(&mut [&mut h, &mut s], &v1b).is_empty());
    assert!(state::reconcile(&mut [&mut h, &mut s], &v1b).in_sync());
}

#[test]
fn bad_input_names_the_placement_and_changes_nothing() {
    let Some(b) = setup("dsw3") else { return };
    let (mut h, mut s) = (b.host(), b.switch());
    let v1 = desired(&b.rl.source(), 1);
    state::apply(&mut [&mut h, &mut s], &v1).unwrap();
    let v2d = desired(&second_version(&b.rl.source()), 2);

    // Unreachable switch.
    let mut spec = b.spec.clone();
    spec.name = "nowhere".into();
    spec.grpc = "127.0.0.1:1".into();
    let mut gone = SwitchTarget::new(&spec, b.rl.roots.clone());
    let err = state::apply(&mut [&mut h, &mut gone], &v2d).unwrap_err();
    assert!(
        err.to_string().contains("switch:nowhere") && err.to_string().contains("unreachable"),
        "{err}"
    );
    assert!(drift(&mut [&mut h, &mut s], &v1).is_empty());

    // A switch that runs a pipeline offload did not set.
    let mut foreign_spec = b.spec.clone();
    foreign_spec.name = "foreign".into();
    let mut foreign = SwitchTarget::new(&foreign_spec, b.rl.roots.clone());
    let err = state::apply(&mut [&mut h, &mut foreign], &v2d).unwrap_err();
    assert!(
        err.to_string().contains("switch:foreign") && err.to_string().contains("did not set"),
        "{err}"
    );
    assert!(drift(&mut [&mut h, &mut s], &v1).is_empty());

    // A module the v1model backend cannot express (a port beyond 9 bits).
    let wide = b.rl.source().replace("backup = 3", "backup = 600");
    let mut wspec = b.spec.clone();
    wspec.ports.remove("backup");
    let mut ws = SwitchTarget::new(&wspec, b.rl.roots.clone());
    let err = state::apply(&mut [&mut h, &mut ws], &desired(&wide, 3)).unwrap_err();
    assert!(
        err.to_string().contains(&format!("switch:{}", b.spec.name)),
        "{err}"
    );
    assert!(drift(&mut [&mut h, &mut s], &v1).is_empty());
}

#[test]
fn packets_lost_during_a_program_change_on_bmv2_and_on_xdp() {
    let Some(b) = setup("dsw4") else { return };
    let (mut h, mut s) = (b.host(), b.switch());
    let src = b.rl.source();
    let v1 = desired(&src, 1);
    state::apply(&mut [&mut h, &mut s], &v1).unwrap();
    let v2d = desired(&second_version(&src), 2);
    let (sent, got) = loss_during(&b.sw_up, &b.sw_srv, || {
        state::apply(&mut [&mut s], &v2d).unwrap();
    });
    eprintln!(
        "FIGURE BMv2 program change: {} of {sent} packets lost",
        sent - got
    );
    // VERIFY_AND_SAVE + entries + COMMIT swaps to a full pipeline: 0 lost
    // in every run here (VERIFY_AND_COMMIT, empty tables first, lost 4 of
    // 2,904). At most a packet in flight at the swap is allowed.
    assert!(
        got <= sent && sent - got <= 2,
        "{} of {sent} lost",
        sent - got
    );
    // An entry-only change on BMv2 is hitless.
    let mut t = v2d.tables.clone();
    let route_id = v2d.module.action_by_name("route").unwrap().id;
    t.get_mut("routes")
        .unwrap()
        .entries
        .push(route(route_id, 0x0a0c_0000, 16, 2));
    let v2b = v2d.with_tables(t);
    let (sent, got) = loss_during(&b.sw_up, &b.sw_srv, || {
        state::change_entries(&mut [&mut s], &v2d, &v2b).unwrap();
    });
    eprintln!(
        "FIGURE BMv2 entry change: {} of {sent} packets lost",
        sent - got
    );
    assert_eq!(got, sent, "entry changes on BMv2 must be hitless");
    // XDP (generic, on the host lab): the link switches atomically.
    let (sent, got) = loss_during(&b.rl.up, &b.rl.srv, || {
        state::apply(&mut [&mut h], &v2d).unwrap();
    });
    eprintln!(
        "FIGURE XDP program change: {} of {sent} packets lost",
        sent - got
    );
    assert_eq!(got, sent, "a program change on XDP must be hitless");
}

/// `offloadctl apply` of a host + BMv2 deployment killed with SIGKILL at
/// random points and between the two placements' commits: after the next
/// `reconcile` both run one version and `status` finds no drift. And a
/// binding to a port the switch lacks is refused naming the placement,
/// before anything is applied.
#[test]
fn cli_kill_9_with_a_switch_and_bad_bindings() {
    let Some(b) = setup("dsw5") else { return };
    let dir = b.rl.roots.state.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_offloadctl"));
    let rl = &b.rl;
    let write = |source: &str, switch_ports: &str| {
        std::fs::write(dir.join("module.toml"), source).unwrap();
        std::fs::write(
            dir.join("deploy.toml"),
            format!(
                "module = \"module.toml\"\n[ports]\nuplink = \"{}\"\nservers = \"{}\"\nbackup = \"{}\"\n[[host]]\niface = \"{}\"\nmode = \"generic\"\n[[switch]]\nname = \"{}\"\ngrpc = \"{}\"\nports = {{ uplink = 1, servers = 2, backup = 3 }}\nswitch_ports = {switch_ports}\n",
                rl.up.outer, rl.srv.outer, rl.bak.outer, rl.up.outer, b.spec.name, b.spec.grpc
            ),
        )
        .unwrap();
    };
    let ctl = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args(args)
            .env("OFFLOAD_STATE_DIR", &rl.roots.state)
            .output()
            .unwrap()
    };
    let deploy = dir.join("deploy.toml");
    let deploy = deploy.to_str().unwrap();

    write(&rl.source(), "[1, 2]");
    let out = ctl(&["apply", deploy]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("placement switch:{}", b.spec.name)) && err.contains("switch port 3"),
        "{err}"
    );
    assert!(
        !rl.roots.state.join("deployments").exists(),
        "nothing recorded"
    );

    write(&rl.source(), "[1, 2, 3]");
    let out = ctl(&["apply", deploy]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut torn = 0;
    for round in 0..4u64 {
        write(
            &rl.source()
                .replace("198.51.100.7", &format!("198.51.100.{}", 20 + round)),
            "[1, 2, 3]",
        );
        let paused = round % 2 == 1;
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["apply", deploy])
            .env("OFFLOAD_STATE_DIR", &rl.roots.state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if paused {
            cmd.env("OFFLOAD_TEST_PAUSE_AFTER_COMMIT_MS", "2000");
        }
        let mut child = cmd.spawn().unwrap();
        if paused {
            use std::io::BufRead;
            let mut e = std::io::BufReader::new(child.stderr.take().unwrap());
            let mut line = String::new();
            while e.read_line(&mut line).unwrap() > 0 && !line.contains("test pause: committed") {
                line.clear();
            }
            std::thread::sleep(Duration::from_millis(200));
        } else {
            std::thread::sleep(Duration::from_millis(150 + 250 * round));
        }
        let _ = child.kill();
        let _ = child.wait();
        if ctl(&["status"]).status.code() == Some(3) {
            torn += 1;
        }
        let out = ctl(&["reconcile"]);
        assert!(
            out.status.success(),
            "round {round}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let st = ctl(&["status", "--json"]);
        let text = String::from_utf8_lossy(&st.stdout).into_owned();
        assert!(
            st.status.success(),
            "round {round}: drift after reconcile:\n{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let digest = v[0]["digest"].as_str().unwrap().to_string();
        for p in v[0]["placements"].as_array().unwrap() {
            assert!(
                p["program"].as_str().unwrap().contains(&digest),
                "round {round}: {p}"
            );
        }
    }
    assert!(
        torn >= 2,
        "the paused rounds must leave the placements on two versions ({torn})"
    );
    let out = ctl(&["detach", "--module", &rl.module.name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
