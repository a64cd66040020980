//! The one desired state on the host kernel and a Tofino bundle, for real:
//! one transaction across placements (a failure in either rolls the other
//! back), entry changes on all or none, out-of-band changes in kernel maps
//! found and repaired, and `kill -9` of `offloadctl apply` at random points
//! leaving every placement on one version after the next `reconcile`.
//! (The same with a BMv2 switch is in `tests/deploy_switch.rs`.)

mod deploy_common;

use deploy_common::router_lab;
use deploy_common::targets::{drift, running, second_version, FailingCommit};
use offload_core::ir::{ActionCall, Entry, KeyMatch};
use offload_core::state::{self, Desired, Drift, TxError};
use offload_drivers::load::Mode;
use offload_drivers::target::bundle::BundleTarget;
use offload_drivers::target::host::HostTarget;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn host(rl: &deploy_common::RouterLab) -> HostTarget {
    HostTarget::new(
        rl.roots.clone(),
        vec![(rl.up.outer.clone(), vec![Mode::Generic])],
        rl.ports(),
    )
}

fn bundle(dir: &Path) -> BundleTarget {
    BundleTarget::new("tofino", offload_p4::Arch::Tna, dir.join("bundle"))
}

fn desired(source: &str, n: u64) -> Desired {
    let m = offload_core::spec::compile(source).unwrap();
    Desired::from_module(m, source, n, vec![])
}

#[test]
fn one_transaction_across_host_and_bundle_with_rollback_both_ways() {
    if !offload_drivers::testenv::require_root("deploy_state transaction") {
        return;
    }
    let rl = router_lab("dstx");
    let dir = rl.roots.state.join("out");
    let v1 = desired(&rl.source(), 1);
    let v2 = desired(&second_version(&rl.source()), 2);
    assert_ne!(v1.version.digest, v2.version.digest);
    let (mut h, mut b) = (host(&rl), bundle(&dir));
    let t0 = Instant::now();
    state::apply(&mut [&mut h, &mut b], &v1).unwrap();
    eprintln!(
        "apply host + bundle: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert!(drift(&mut [&mut h, &mut b], &v1).is_empty());

    // The bundle's commit fails after the host committed: the host goes back.
    let mut fb = FailingCommit(bundle(&dir));
    let err = state::apply(&mut [&mut h, &mut fb], &v2).unwrap_err();
    assert!(matches!(err, TxError::Commit { .. }), "{err}");
    let d = v1.version.digest.clone();
    assert_eq!(
        running(&mut [&mut h, &mut fb], &v1),
        vec![Some(d.clone()), Some(d.clone())]
    );
    assert!(drift(&mut [&mut h, &mut b], &v1).is_empty());

    // And the reverse: the host's commit fails after the bundle committed.
    let mut fh = FailingCommit(host(&rl));
    let err = state::apply(&mut [&mut b, &mut fh], &v2).unwrap_err();
    assert!(matches!(err, TxError::Commit { .. }), "{err}");
    assert_eq!(
        running(&mut [&mut b, &mut fh], &v1),
        vec![Some(d.clone()), Some(d)]
    );
    assert!(drift(&mut [&mut h, &mut b], &v1).is_empty());

    // A placement that cannot be prepared (no such interface): nothing changes.
    let mut ghost = HostTarget::new(
        rl.roots.clone(),
        vec![("nosuchif0".into(), vec![Mode::Generic])],
        rl.ports(),
    );
    let err = state::apply(&mut [&mut b, &mut ghost], &v2).unwrap_err();
    assert!(err.to_string().contains("nosuchif0"), "{err}");
    assert!(drift(&mut [&mut h, &mut b], &v1).is_empty());

    // v2 for real, everywhere.
    state::apply(&mut [&mut h, &mut b], &v2).unwrap();
    assert!(drift(&mut [&mut h, &mut b], &v2).is_empty());
}

fn route(dst: u32, len: u32, port: u128) -> Entry {
    Entry {
        meter: None,
        matches: vec![KeyMatch::Lpm {
            value: u128::from(dst),
            prefix_len: len,
        }],
        priority: None,
        action: ActionCall {
            action: offload_core::ir::ActionId(0),
            args: vec![port, 0x0200_0000_0002, 0x0200_0000_0001],
        },
        span: Default::default(),
    }
}

#[test]
fn entries_everywhere_or_nowhere_and_drift_in_kernel_maps_is_repaired() {
    if !offload_drivers::testenv::require_root("deploy_state entries and repair") {
        return;
    }
    let rl = router_lab("dsent");
    let dir = rl.roots.state.join("out");
    let v1 = desired(&rl.source(), 1);
    let (mut h, mut b) = (host(&rl), bundle(&dir));
    state::apply(&mut [&mut h, &mut b], &v1).unwrap();

    let routes = v1.module.table_by_name("routes").unwrap();
    let route_action = v1.module.action_by_name("route").unwrap().id;
    let servers = u128::from(v1.module.port_by_name("servers").unwrap().id.0);
    let mut added = route(0x0a09_0000, 16, servers);
    added.action.action = route_action;
    let mut tables = v1.tables.clone();
    tables
        .get_mut(&routes.name)
        .unwrap()
        .entries
        .push(added.clone());
    let v1b = v1.with_tables(tables);
    let t0 = Instant::now();
    let ops = state::change_entries(&mut [&mut h, &mut b], &v1, &v1b).unwrap();
    eprintln!(
        "entry change on host + bundle: {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(ops.len(), 1);
    assert!(drift(&mut [&mut h, &mut b], &v1b).is_empty());

    // A refused change (an entry the host cannot take: a port nothing is
    // bound to) changes nothing on either placement.
    let mut bad = route(0x0a0a_0000, 16, 99);
    bad.action.action = route_action;
    let mut t2 = v1b.tables.clone();
    t2.get_mut(&routes.name).unwrap().entries.push(bad);
    let v1c = v1b.with_tables(t2);
    let err = state::change_entries(&mut [&mut b, &mut h], &v1b, &v1c).unwrap_err();
    assert!(
        matches!(err, TxError::Entries { ref undone, .. } if undone.len() == 1),
        "{err}"
    );
    assert!(
        drift(&mut [&mut h, &mut b], &v1b).is_empty(),
        "{:?}",
        drift(&mut [&mut h, &mut b], &v1b)
    );

    // Out of band: delete the added route from the kernel map behind offload's back.
    let st = offload_drivers::deploy::State::load(&rl.roots.state_file(&v1.module.name))
        .unwrap()
        .unwrap();
    let pl = st.placement(&rl.up.outer).unwrap();
    let layout =
        offload_ebpf::codegen::layout_for(&v1.module, &offload_ebpf::codegen::Target::xdp());
    let tl = layout.table(routes.id);
    let path = rl
        .roots
        .gen_dir(&st.module, &pl.iface, pl.gen)
        .join(&tl.entries_map[..tl.entries_map.len().min(15)]);
    let fd = offload_drivers::sys::obj_get(&offload_drivers::sys::Kernel, &path).unwrap();
    let img = tl.encode_entries(routes, &[(&added, 0)]).unwrap();
    use std::os::fd::AsFd;
    assert!(offload_drivers::sys::map_delete(
        &offload_drivers::sys::Kernel,
        fd.as_fd(),
        &img.entries[0].0
    )
    .unwrap());
    let t_changed = Instant::now();
    let found = drift(&mut [&mut h, &mut b], &v1b);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        matches!(&found[0].1, Drift::EntryMissing { entry, .. } if entry.matches == added.matches),
        "{found:?}"
    );
    let r = state::reconcile(&mut [&mut h, &mut b], &v1b);
    eprintln!(
        "out-of-band delete to repair: {:.2} ms",
        t_changed.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(r.repaired.len(), 1, "{r:?}");
    assert!(drift(&mut [&mut h, &mut b], &v1b).is_empty());
    // Idempotent: nothing more to do.
    assert!(state::reconcile(&mut [&mut h, &mut b], &v1b).in_sync());

    // An extra element written behind our back is found and removed.
    let mut extra = route(0x0b00_0000, 8, servers);
    extra.action.action = route_action;
    let img = tl.encode_entries(routes, &[(&extra, 7)]).unwrap();
    offload_drivers::sys::map_update(
        &offload_drivers::sys::Kernel,
        fd.as_fd(),
        &img.entries[0].0,
        &img.entries[0].1,
        0,
    )
    .unwrap();
    let found = drift(&mut [&mut h, &mut b], &v1b);
    assert!(
        matches!(&found[..], [(_, Drift::EntryExtra { .. })]),
        "{found:?}"
    );
    state::reconcile(&mut [&mut h, &mut b], &v1b);
    assert!(drift(&mut [&mut h, &mut b], &v1b).is_empty());

    // The bundle's entry files edited by hand: found, and written again.
    let p4rt = dir
        .join("bundle")
        .join(format!("{}.p4rt.json", v1.module.name));
    std::fs::write(&p4rt, "{}").unwrap();
    assert!(!drift(&mut [&mut h, &mut b], &v1b).is_empty());
    state::reconcile(&mut [&mut h, &mut b], &v1b);
    assert!(drift(&mut [&mut h, &mut b], &v1b).is_empty());
}

/// `kill -9` of `offloadctl apply` (host + bundle) at random points: after
/// the next `offloadctl reconcile`, every placement runs one version and
/// `status` finds no drift.
#[test]
fn kill_9_during_apply_leaves_one_version_that_the_next_run_adopts() {
    if !offload_drivers::testenv::require_root("deploy_state kill -9") {
        return;
    }
    let rl = router_lab("dskill");
    let dir = rl.roots.state.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_offloadctl"));
    let write = |source: &str| {
        std::fs::write(dir.join("module.toml"), source).unwrap();
        std::fs::write(
            dir.join("deploy.toml"),
            format!(
                "module = \"module.toml\"\n[ports]\nuplink = \"{}\"\nservers = \"{}\"\nbackup = \"{}\"\n[[host]]\niface = \"{}\"\nmode = \"generic\"\n[[bundle]]\nname = \"tofino\"\nout = \"bundle\"\n",
                rl.up.outer, rl.srv.outer, rl.bak.outer, rl.up.outer
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
    write(&rl.source());
    let out = ctl(&["apply", deploy]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Kill points spread over the apply (it takes ~100-400 ms here).
    let mut seed: u64 = 0x5eed;
    let mut interrupted = 0;
    let mut torn = 0;
    for round in 0..8 {
        // Odd rounds pause 1.5 s after each placement's commit and are
        // killed inside the first pause: host switched, bundle not yet.
        let paused = round % 2 == 1;
        // Every round a new version (the same text again would be an
        // entry-only change, with no program commit to interrupt).
        write(
            &rl.source()
                .replace("198.51.100.7", &format!("198.51.100.{}", 10 + round)),
        );
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(20 + (seed >> 33) % 300);
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["apply", deploy])
            .env("OFFLOAD_STATE_DIR", &rl.roots.state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if paused {
            cmd.env("OFFLOAD_TEST_PAUSE_AFTER_COMMIT_MS", "1500");
        }
        let mut child = cmd.spawn().unwrap();
        if paused {
            // Wait for the first commit's line, then kill in the pause.
            use std::io::BufRead;
            let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
            let mut line = String::new();
            while err.read_line(&mut line).unwrap() > 0 && !line.contains("test pause: committed") {
                line.clear();
            }
            std::thread::sleep(Duration::from_millis(200));
        } else {
            std::thread::sleep(delay);
        }
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let after = ctl(&["status", "--json"]);
        if after.status.code() == Some(3) {
            let st =
                std::fs::read_to_string(rl.roots.state_file(&rl.module.name)).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&st).unwrap_or_default();
            eprintln!(
                "host state after the kill: pending {} placements {}",
                v["pending"]["progs"], v["placements"]
            );
            eprintln!(
                "status: {}",
                String::from_utf8_lossy(&after.stdout)
                    .lines()
                    .filter(|l| l.contains("program"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        eprintln!(
            "round {round}: killed after {delay:?} (apply had {}), status before reconcile exit {:?}",
            if finished { "finished" } else { "not finished" },
            after.status.code()
        );
        if !finished {
            interrupted += 1;
        }
        if after.status.code() == Some(3) {
            torn += 1;
        }
        let out = ctl(&["reconcile"]);

        assert!(
            out.status.success(),
            "round {round}: reconcile: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let st = ctl(&["status", "--json"]);
        let text = String::from_utf8_lossy(&st.stdout);
        assert!(
            st.status.success(),
            "round {round} (killed after {delay:?}): drift after reconcile:\n{text}\n{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let digest = v[0]["digest"].as_str().unwrap().to_string();
        for p in v[0]["placements"].as_array().unwrap() {
            let prog = p["program"].as_str().unwrap();
            assert!(
                prog.contains(&digest),
                "round {round}: {} runs {prog}, the deployment is {digest}",
                p["placement"]
            );
        }
    }
    // The kill points must really fall inside applies, or this proves nothing.
    assert!(
        interrupted >= 4,
        "only {interrupted} of 8 applies were interrupted"
    );
    // The paused rounds leave the host on the new version and the bundle on
    // the old: status must have seen that before reconcile repaired it.
    assert!(
        torn >= 4,
        "only {torn} rounds showed placements on two versions"
    );
    // Runtime entries through the CLI land on every placement of the deployment.
    let out = ctl(&[
        "entries",
        "add",
        "--table",
        "routes",
        "--match",
        "ipv4.dst=10.9.0.0/16",
        "--action",
        "deny",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = ctl(&["status", "--json"]);
    assert!(
        st.status.success(),
        "drift after entries add: {}",
        String::from_utf8_lossy(&st.stdout)
    );
    let bundle = std::fs::read_to_string(
        dir.join("bundle")
            .join(format!("{}.entries.txt", rl.module.name)),
    )
    .unwrap();
    assert!(
        bundle.contains("10.9.0.0/16"),
        "the bundle has the new entry:\n{bundle}"
    );
    // A refused entry (unknown action) changes nothing anywhere.
    let out = ctl(&[
        "entries",
        "add",
        "--table",
        "routes",
        "--match",
        "ipv4.dst=10.10.0.0/16",
        "--action",
        "nosuch",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctl(&["detach", "--module", &rl.module.name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!rl
        .roots
        .state
        .join("deployments")
        .join(format!("{}.json", rl.module.name))
        .exists());
}
