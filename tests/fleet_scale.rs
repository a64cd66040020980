//! The fleet at a larger size and at etcd quorum loss (a 3-member cluster on
//! loopback, N agents each with its own veth lab). Figures printed with a
//! `FIGURE` prefix, never asserted as times: `fleet apply` and a 3-wave
//! rollout on N agents. Quorum loss (2 of 3 members killed in steady state):
//! every agent keeps running and reconciling the last good version, its
//! status writes fail and are retried (logged), `fleet apply` fails with
//! etcd's error; one member back, the fleet applies again and converges.
//! `OFFLOAD_AGENT_BIN` runs another build of the agent (e.g. release).

mod deploy_common;

mod fleet_common;

use deploy_common::router_lab;
use fleet_common::*;

use std::process::Command;
use std::time::{Duration, Instant};

const N: usize = 5;

#[test]
fn fleet_of_n_agents_and_etcd_quorum_loss() {
    if !offload_drivers::testenv::require_root("fleet_scale") {
        return;
    }
    if Command::new("etcd").arg("--version").output().is_err() {
        offload_drivers::testenv::announce_skip(
            "fleet_scale",
            "no etcd binary (apt-get install etcd-server)",
        );
        assert!(
            std::env::var_os("OFFLOAD_REQUIRE_KERNEL_TESTS").is_none(),
            "etcd missing under OFFLOAD_REQUIRE_KERNEL_TESTS=1"
        );
        return;
    }
    let base = 28000 + (std::process::id() % 200) as u16 * 20;
    let mut cl = cluster(base, "scale");
    let etcd = cl.clients.join(",");
    let group = format!("s{}", std::process::id());
    let t0 = Instant::now();
    while !fleet(&etcd, &group, &["status"]).status.success() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "etcd cluster did not come up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = router_lab("fsc0");
    let name = first.module.name.clone();
    let mut labs = vec![first];
    for i in 1..N {
        let mut rl = router_lab(&format!("fsc{i}"));
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
        h.agent = Some(start_agent(h, &etcd, &group, &[]));
    }
    let work = std::env::temp_dir().join(format!("offload-fleet-scale-{}", std::process::id()));
    let build = if std::env::var_os("OFFLOAD_AGENT_BIN").is_some() {
        "OFFLOAD_AGENT_BIN"
    } else {
        "debug"
    };

    let v1 = write_release(&work, &source, 1, "generic");
    let t = Instant::now();
    let o = fleet(&etcd, &group, &["apply", v1.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    wait_all(&etcd, &group, N, &digest_of(&v1), Duration::from_secs(90));
    eprintln!(
        "FIGURE fleet apply on {N} agents ({build}, default interval): {:.2} s to all reporting it",
        t.elapsed().as_secs_f64()
    );
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
        "FIGURE rollout on {N} agents in waves 1,2,100% ({build}): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let d2 = digest_of(&v2);
    wait_all(&etcd, &group, N, &d2, Duration::from_secs(10));

    // Quorum loss: 2 of 3 members killed.
    cl.members[0] = None;
    cl.members[1] = None;
    let t_loss = Instant::now();
    let logs: Vec<usize> = hosts
        .iter()
        .map(|h| {
            std::fs::read_to_string(h.rl.roots.state.with_extension("log"))
                .unwrap_or_default()
                .matches("etcd: reconnecting")
                .count()
        })
        .collect();
    let t = Instant::now();
    let o = fleet(&etcd, &group, &["apply", v1.to_str().unwrap()]);
    let apply_err = text(&o);
    eprintln!(
        "FIGURE fleet apply without quorum: exit {:?} after {:.1} s: {}",
        o.status.code(),
        t.elapsed().as_secs_f64(),
        apply_err.trim()
    );
    assert!(
        !o.status.success(),
        "fleet apply without quorum: {apply_err}"
    );
    assert!(apply_err.contains("no quorum"), "{apply_err}");
    // Every agent still runs v2, in sync (the local loop does not need etcd).
    for h in &hosts {
        assert_eq!(local(h), (Some(0), d2.clone()), "{}", h.name);
    }
    // Status writes fail and are retried: each agent logs its reconnects.
    let t = Instant::now();
    loop {
        let now: Vec<usize> = hosts
            .iter()
            .map(|h| {
                std::fs::read_to_string(h.rl.roots.state.with_extension("log"))
                    .unwrap_or_default()
                    .matches("etcd: reconnecting")
                    .count()
            })
            .collect();
        if now.iter().zip(&logs).all(|(n, b)| n > b) {
            eprintln!(
                "FIGURE quorum loss: every agent reported an etcd error and retried within {:.1} s of the kill",
                t_loss.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "agents did not notice the quorum loss: {now:?} vs {logs:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Still so after the agents' retries.
    for h in &hosts {
        assert_eq!(local(h), (Some(0), d2.clone()), "{}", h.name);
    }

    // One member back: quorum again, the fleet applies and converges.
    cl.members[0] = Some(member(&cl.dir, base, 0, &initial(base)));
    let t = Instant::now();
    loop {
        let o = fleet(&etcd, &group, &["apply", v1.to_str().unwrap()]);
        if o.status.success() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no fleet apply 60 s after a member came back: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let took_apply = t.elapsed().as_secs_f64();
    wait_all(&etcd, &group, N, &digest_of(&v1), Duration::from_secs(60));
    eprintln!(
        "FIGURE quorum back (1 member restarted): fleet apply accepted after {took_apply:.1} s, all {N} agents on it after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for h in hosts.iter_mut() {
        h.agent = None;
    }
    let _ = std::fs::remove_dir_all(&work);
}
