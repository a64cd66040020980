//! A service chain deployed linked by tail calls (drivers::deploy::linked)
//! on a veth lab, in XDP generic and tc: ddos-filter → edge-router, the
//! dispatcher on the uplink, one program per module in `chain_progs`.
//!
//! - traffic goes through both modules (the router forwards to `servers`);
//! - a new edge-router replaces slot 1 under traffic: 0 packets lost, the
//!   dispatcher's and ddos-filter's program ids unchanged, ddos-filter's
//!   counters continuous (they count exactly what was sent);
//! - a slot emptied behind offload's back is drift (`status`), the frames
//!   are dropped (an empty slot drops), `reconcile` puts the module back;
//! - a removed link is re-attached by `reconcile`;
//! - `detach` frees the hook.
//!
//! Needs root; skips loudly otherwise.

mod deploy_common;

use deploy_common::targets::second_version;
use deploy_common::traffic::loss_during;
use deploy_common::*;
use offload_drivers::deploy::linked::{self, LinkedRequest, ModuleSource};
use offload_drivers::load::{attach, Mode};
use offload_drivers::sys::{self, Kernel};
use offload_drivers::testenv::require_root;
use std::os::fd::AsFd;
use std::time::Instant;

const DDOS: &str = include_str!("../examples/ddos-filter.toml");

fn request(rl: &RouterLab, name: &str, mode: Mode, router: &str) -> LinkedRequest {
    LinkedRequest {
        name: name.into(),
        modules: vec![
            ModuleSource {
                file: "ddos-filter.toml".into(),
                source: DDOS.into(),
            },
            ModuleSource {
                file: "edge-router.toml".into(),
                source: router.into(),
            },
        ],
        iface: rl.up.outer.clone(),
        mode,
        ports: rl.ports(),
        roots: rl.roots.clone(),
    }
}

struct Detach(offload_drivers::deploy::Roots, String);
impl Drop for Detach {
    fn drop(&mut self) {
        let _ = linked::detach(&self.0, &self.1);
    }
}

fn end_to_end(mode: Mode) {
    let rl = routable_lab(&format!("lk{}", mode.name()));
    let name = format!("linked-{}-{}", mode.name(), std::process::id());
    let _guard = Detach(rl.roots.clone(), name.clone());
    let t0 = Instant::now();
    let r1 = linked::apply(&request(&rl, &name, mode, EDGE_ROUTER)).unwrap();
    eprintln!(
        "{mode}: linked apply {:.1} ms: {r1:?}",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let s = linked::status(&rl.roots, &name).unwrap();
    assert!(s.drift.is_empty(), "{:?}", s.drift);
    assert_eq!(s.link_prog_id, Some(r1.entry_prog_id));
    // What the kernel has on the hook is our dispatcher.
    let seen = offload_drivers::load::observe::observe(&rl.up.outer).unwrap();
    let on_hook: Vec<_> = seen.in_mode(mode).into_iter().map(|p| p.id).collect();
    assert_eq!(on_hook, vec![r1.entry_prog_id], "{seen:?}");

    // Traffic through both modules, then a new edge-router under traffic.
    let before = linked::status(&rl.roots, &name).unwrap();
    let ddos_before = before.modules[0].packets["blocklist"];
    let (sent0, got0) = loss_during(&rl.up, &rl.srv, || {});
    assert!(sent0 > 100 && got0 == sent0, "warm-up: {got0} of {sent0}");
    let mid = linked::status(&rl.roots, &name).unwrap();
    let router_v2 = second_version(EDGE_ROUTER);
    assert_ne!(router_v2, EDGE_ROUTER);
    let mut r2 = None;
    let t1 = Instant::now();
    let (sent, got) = loss_during(&rl.up, &rl.srv, || {
        r2 = Some(linked::apply(&request(&rl, &name, mode, &router_v2)).unwrap());
    });
    let r2 = r2.unwrap();
    eprintln!(
        "{mode}: edge-router replaced (one slot) under traffic in {:.1} ms: {got} of {sent} received; {r2:?}",
        t1.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(got, sent, "packets lost while one module was replaced");
    assert_eq!(r2.entry_prog_id, r1.entry_prog_id, "the dispatcher stays");
    assert_eq!(
        r2.modules[0].1, r1.modules[0].1,
        "ddos-filter's program stays"
    );
    assert!(!r2.modules[0].2 && r2.modules[1].2, "{r2:?}");
    assert_ne!(r2.modules[1].1, r1.modules[1].1, "edge-router is new");
    let after = linked::status(&rl.roots, &name).unwrap();
    assert!(after.drift.is_empty(), "{:?}", after.drift);
    assert_eq!(after.modules[1].slot_prog_id, Some(r2.modules[1].1));
    // ddos-filter's counters continue: exactly what was sent, before and during.
    let ddos_after = after.modules[0].packets["blocklist"];
    eprintln!(
        "{mode}: ddos-filter.blocklist {ddos_before} -> {} -> {ddos_after} (sent {sent0} + {sent})",
        mid.modules[0].packets["blocklist"]
    );
    assert_eq!(ddos_after - ddos_before, u64::from(sent0 + sent));

    // Drift: slot 1 emptied behind offload's back.
    let pa = sys::obj_get(
        &Kernel,
        &rl.roots
            .iface_dir(&name, &rl.up.outer)
            .join("linked/chain_progs"),
    )
    .unwrap();
    sys::map_delete(&Kernel, pa.as_fd(), &1u32.to_ne_bytes()).unwrap();
    let s = linked::status(&rl.roots, &name).unwrap();
    assert!(
        s.drift
            .iter()
            .any(|d| d.contains("slot 1 (edge-router) is empty")),
        "{:?}",
        s.drift
    );
    let (sent_e, got_e) = loss_during(&rl.up, &rl.srv, || {});
    assert_eq!(got_e, 0, "an empty slot drops ({sent_e} sent)");
    let t2 = Instant::now();
    let repairs = linked::reconcile(&rl.roots, &name).unwrap();
    eprintln!(
        "{mode}: reconcile in {:.2} ms: {repairs:?}",
        t2.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    assert!(linked::status(&rl.roots, &name).unwrap().drift.is_empty());
    assert!(
        linked::reconcile(&rl.roots, &name).unwrap().is_empty(),
        "idempotent"
    );
    let (sent_r, got_r) = loss_during(&rl.up, &rl.srv, || {});
    assert_eq!(got_r, sent_r, "repaired");

    // The link removed behind offload's back: reconcile attaches the dispatcher again.
    let link_pin = rl.roots.iface_dir(&name, &rl.up.outer).join("linked/link");
    attach::detach_pinned(&Kernel, &link_pin).unwrap();
    let s = linked::status(&rl.roots, &name).unwrap();
    assert!(s.drift.iter().any(|d| d.contains("link")), "{:?}", s.drift);
    let repairs = linked::reconcile(&rl.roots, &name).unwrap();
    assert!(
        repairs.iter().any(|r| r.contains("re-attached")),
        "{repairs:?}"
    );
    let (sent_l, got_l) = loss_during(&rl.up, &rl.srv, || {});
    assert_eq!(got_l, sent_l);

    linked::detach(&rl.roots, &name).unwrap();
    let seen = offload_drivers::load::observe::observe(&rl.up.outer).unwrap();
    assert!(seen.in_mode(mode).is_empty(), "{seen:?}");
    assert!(linked::status(&rl.roots, &name).is_err());
}

#[test]
fn linked_chain_deployed_xdp_generic() {
    if !require_root("linked_chain_deployed_xdp_generic") {
        return;
    }
    end_to_end(Mode::Generic);
}

#[test]
fn linked_chain_deployed_tc() {
    if !require_root("linked_chain_deployed_tc") {
        return;
    }
    end_to_end(Mode::Tc);
}

const BIN: &str = env!("CARGO_BIN_EXE_offloadctl");

fn ctl(state: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let o = std::process::Command::new(BIN)
        .args(args)
        .env("OFFLOAD_STATE_DIR", state)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// `link = "tail-call"` in deploy.toml: apply, status (exit 3 on drift),
/// re-apply of one changed file (one slot), reconcile, detach — through
/// offloadctl; and the refusals (a mode that cannot tail-call, a bad value).
#[test]
fn linked_chain_through_offloadctl() {
    if !require_root("linked_chain_through_offloadctl") {
        return;
    }
    let rl = routable_lab("lkcli");
    let name = format!("lkcli-{}", std::process::id());
    let state = rl.roots.state.join("run");
    let dir = rl.roots.state.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ddos-filter.toml"), DDOS).unwrap();
    std::fs::write(dir.join("edge-router.toml"), EDGE_ROUTER).unwrap();
    let write = |mode: &str, link: &str| {
        std::fs::write(
            dir.join("deploy.toml"),
            format!(
                "modules = [\"ddos-filter.toml\", \"edge-router.toml\"]\nname = \"{name}\"\nlink = \"{link}\"\n\n[ports]\nuplink = \"{}\"\nservers = \"{}\"\nbackup = \"{}\"\n\n[[host]]\niface = \"{}\"\nmode = \"{mode}\"\n",
                rl.up.outer, rl.srv.outer, rl.bak.outer, rl.up.outer
            ),
        )
        .unwrap();
    };
    struct Gone<'a>(&'a std::path::Path, &'a std::path::Path, &'a str);
    impl Drop for Gone<'_> {
        fn drop(&mut self) {
            let _ = ctl(self.0, self.1, &["detach", "--module", self.2]);
        }
    }
    let _gone = Gone(&state, &dir, &name);
    write("auto", "tail-call");
    let (code, out) = ctl(&state, &dir, &["apply", "deploy.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("mode must be native, generic or tc"), "{out}");
    write("generic", "chained");
    let (code, out) = ctl(&state, &dir, &["apply", "deploy.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("deploy.toml:3:") && out.contains("tail-call"),
        "{out}"
    );

    write("generic", "tail-call");
    let (code, out) = ctl(&state, &dir, &["apply", "deploy.toml"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("linked by tail calls") && out.contains("slot 1: edge-router"),
        "{out}"
    );
    let (code, out) = ctl(&state, &dir, &["status", "--module", &name]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("in sync") && out.contains("table ddos-filter.blocklist"),
        "{out}"
    );
    std::fs::write(dir.join("edge-router.toml"), second_version(EDGE_ROUTER)).unwrap();
    let (code, out) = ctl(&state, &dir, &["apply", "deploy.toml"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ddos-filter program id")
            && out.contains("(unchanged)")
            && out.contains("(loaded now)"),
        "{out}"
    );
    // Drift: slot 0 emptied; status says so (exit 3), reconcile repairs.
    let pa = sys::obj_get(
        &Kernel,
        &rl.roots
            .iface_dir(&name, &rl.up.outer)
            .join("linked/chain_progs"),
    )
    .unwrap();
    sys::map_delete(&Kernel, pa.as_fd(), &0u32.to_ne_bytes()).unwrap();
    let (code, out) = ctl(&state, &dir, &["status", "--module", &name]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("slot 0 (ddos-filter) is empty"), "{out}");
    let (code, out) = ctl(&state, &dir, &["reconcile", "--module", &name]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("repaired: slot 0"), "{out}");
    let (code, out) = ctl(&state, &dir, &["status", "--module", &name]);
    assert_eq!(code, 0, "{out}");
    // A fused apply under the same name is refused while it runs linked.
    write("generic", "fused");
    let (code, out) = ctl(&state, &dir, &["apply", "deploy.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("runs linked by tail calls"), "{out}");
    let (code, out) = ctl(&state, &dir, &["detach", "--module", &name]);
    assert_eq!(code, 0, "{out}");
    let seen = offload_drivers::load::observe::observe(&rl.up.outer).unwrap();
    assert!(seen.xdp.is_empty(), "{seen:?}");
}
