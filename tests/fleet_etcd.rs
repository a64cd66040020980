//! The fleet through a real 3-member etcd cluster on loopback: three agents,
//! each with its own veth lab, converge on a staged rollout; an agent
//! killed during a rollout comes back and the rollout completes; an etcd
//! member killed, the fleet keeps working with quorum; a failing wave halts
//! the rollout and rolls every host back; a malformed desired value is
//! reported by every agent, which keep running the last good version.

mod deploy_common;

mod fleet_common;

use deploy_common::router_lab;
use fleet_common::*;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn fleet_rollouts_through_a_3_member_etcd_cluster() {
    if !offload_drivers::testenv::require_root("fleet_etcd") {
        return;
    }
    if Command::new("etcd").arg("--version").output().is_err() {
        offload_drivers::testenv::announce_skip(
            "fleet_etcd",
            "no etcd binary (apt-get install etcd-server)",
        );
        assert!(
            std::env::var_os("OFFLOAD_REQUIRE_KERNEL_TESTS").is_none(),
            "etcd missing under OFFLOAD_REQUIRE_KERNEL_TESTS=1"
        );
        return;
    }
    let base = 24000 + (std::process::id() % 200) as u16 * 20;
    let mut cl = cluster(base, "fleet");
    let etcd = cl.clients.join(",");
    let group = format!("g{}", std::process::id());
    // etcd up (a status read answers).
    let t0 = Instant::now();
    while !fleet(&etcd, &group, &["status"]).status.success() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "etcd cluster did not come up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // One module name for the fleet; each host its own lab (interfaces differ).
    let first = router_lab("flt0");
    let name = first.module.name.clone();
    let mut labs = vec![first];
    for i in 1..3 {
        let mut rl = router_lab(&format!("flt{i}"));
        rl.module =
            offload_core::spec::compile(&rl.source().replace(&rl.module.name, &name)).unwrap();
        labs.push(rl);
    }
    let source = labs[0].source();
    let mut hosts: Vec<Host> = labs
        .into_iter()
        .enumerate()
        .map(|(i, rl)| Host {
            rl,
            name: format!("h{i}"),
            agent: None,
        })
        .collect();
    for h in hosts.iter_mut() {
        h.agent = Some(start_agent(h, &etcd, &group, &["--interval-ms", "300"]));
    }
    let work = std::env::temp_dir().join(format!("offload-fleet-{}", std::process::id()));

    // v1 everywhere at once.
    let v1 = write_release(&work, &source, 1, "generic");
    let o = fleet(&etcd, &group, &["apply", v1.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let t = Instant::now();
    wait_all(&etcd, &group, 3, &digest_of(&v1), Duration::from_secs(60));
    eprintln!(
        "fleet apply v1 on 3 agents: {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // v2 in waves 1, 2, all.
    let v2 = write_release(&work, &source, 2, "generic");
    let t = Instant::now();
    let o = fleet(
        &etcd,
        &group,
        &[
            "rollout",
            v2.to_str().unwrap(),
            "--waves",
            "1,2,100%",
            "--wave-timeout-s",
            "60",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    eprintln!(
        "rollout v2 on 3 agents in 3 waves: {:.2} s\n{}",
        t.elapsed().as_secs_f64(),
        text(&o)
    );
    wait_all(&etcd, &group, 3, &digest_of(&v2), Duration::from_secs(10));

    // An etcd member killed (quorum stays), and an agent killed during a rollout.
    cl.members[0] = None;
    let v3 = write_release(&work, &source, 3, "generic");
    let ro = Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .args([
            "fleet",
            "rollout",
            v3.to_str().unwrap(),
            "--waves",
            "1,100%",
            "--wave-timeout-s",
            "60",
            "--etcd",
            &etcd,
            "--group",
            &group,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    hosts[2].agent = None; // kill -9
    std::thread::sleep(Duration::from_millis(1000));
    hosts[2].agent = Some(start_agent(
        &hosts[2],
        &etcd,
        &group,
        &["--interval-ms", "300"],
    ));
    let out = ro.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rollout with an agent killed and a member down: {}",
        text(&out)
    );
    wait_all(&etcd, &group, 3, &digest_of(&v3), Duration::from_secs(10));

    // A failing wave: mode offload on a veth is refused on the first host.
    let bad = write_release(&work, &source, 4, "offload");
    let o = fleet(
        &etcd,
        &group,
        &[
            "rollout",
            bad.to_str().unwrap(),
            "--waves",
            "1,100%",
            "--wave-timeout-s",
            "30",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("rolled back"), "{}", text(&o));
    wait_all(&etcd, &group, 3, &digest_of(&v3), Duration::from_secs(10));

    // Malformed desired state: every agent reports it, v3 keeps running.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let opts = offload_drivers::etcd::ConnectOptions::default();
        let c = offload_drivers::etcd::Client::connect_any(&cl.clients[1..], &opts)
            .await
            .unwrap();
        c.put(format!("/offload/desired/{group}/{name}"), "{ not json", 0)
            .await
            .unwrap();
    });
    let t0 = Instant::now();
    loop {
        let v = hosts_status(&etcd, &group);
        let hs = v["hosts"].as_array().cloned().unwrap_or_default();
        let reported = hs
            .iter()
            .filter(|s| {
                s["error"].as_str().is_some_and(|e| e.contains("malformed"))
                    && s["running"] == digest_of(&v3)
            })
            .count();
        if reported == 3 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "malformed value not reported by all: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for h in hosts.iter_mut() {
        h.agent = None;
    }
    let _ = std::fs::remove_dir_all(&work);
}
