//! Coexistence with XDP programs offload did not write (issue 14): offload
//! never removes a program it does not own, and names it.
//!
//! - `xdp-loader` (xdp-tools / libxdp) loads a filter on the uplink; libxdp
//!   tries its multi-program dispatcher first. What happened is printed (on
//!   this kernel the dispatcher's freplace compatibility check fails with
//!   EPERM and libxdp falls back to attaching the program alone; see the
//!   README). Either way `apply` — single module and linked chain — refuses
//!   the hook, naming the program, and the program is still attached after.
//! - A libxdp dispatcher (`xdp_dispatcher`) is refused even with `--replace`
//!   (taking it over would remove every tool's program in it). Since the
//!   real dispatcher cannot run here, a program of that name attached with
//!   iproute2 stands in for it (offload recognises the dispatcher by name,
//!   as `xdp-loader status` does by its BTF/name).
//!
//! Needs root; the xdp-loader part announces a skip without xdp-tools
//! (`.ci/install-deps` installs it).

mod deploy_common;

use deploy_common::*;
use offload_drivers::deploy::linked::{self, LinkedRequest, ModuleSource};
use offload_drivers::deploy::{self, DeployError};
use offload_drivers::load::{observe, Mode};
use offload_drivers::testenv::{announce_skip, require_root};
use std::process::Command;

const DDOS: &str = include_str!("../examples/ddos-filter.toml");
const FILTER_OBJ: &str = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o";

fn xdp_ids(iface: &str) -> Vec<(u32, String)> {
    observe::observe(iface)
        .unwrap()
        .xdp
        .into_iter()
        .map(|(_, p)| (p.id, p.name))
        .collect()
}

fn linked_request(rl: &RouterLab, name: &str) -> LinkedRequest {
    LinkedRequest {
        name: name.into(),
        modules: vec![
            ModuleSource {
                file: "ddos-filter.toml".into(),
                source: DDOS.into(),
            },
            ModuleSource {
                file: "edge-router.toml".into(),
                source: EDGE_ROUTER.into(),
            },
        ],
        iface: rl.up.outer.clone(),
        mode: Mode::Generic,
        ports: rl.ports(),
        roots: rl.roots.clone(),
    }
}

#[test]
fn a_program_xdp_loader_attached_is_named_and_left_alone() {
    let test = "a_program_xdp_loader_attached_is_named_and_left_alone";
    if !require_root(test) {
        return;
    }
    if Command::new("xdp-loader").arg("help").output().is_err()
        || !std::path::Path::new(FILTER_OBJ).exists()
    {
        announce_skip(
            test,
            "xdp-tools is not installed (apt-get install -y xdp-tools)",
        );
        return;
    }
    let rl = router_lab("cx");
    let iface = rl.up.outer.clone();
    let out = Command::new("xdp-loader")
        .args(["load", "-v", "-m", "skb", &iface, FILTER_OBJ])
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "xdp-loader load failed:\n{log}");
    let attached = xdp_ids(&iface);
    assert_eq!(attached.len(), 1, "{attached:?}\n{log}");
    let (id, name) = attached[0].clone();
    let dispatcher = name == deploy::apply::LIBXDP_DISPATCHER;
    let why: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Compatibility check") || l.contains("Falling back"))
        .collect();
    eprintln!(
        "xdp-loader attached program {id} {name:?} on {iface}: {}; libxdp said: {why:?}",
        if dispatcher {
            "libxdp's dispatcher (multiprog)"
        } else {
            "the program alone (libxdp's legacy mode: no dispatcher)"
        }
    );

    // A single module: refused, the program named; with --replace a plain
    // program would be taken over, a dispatcher never.
    let source = rl.source();
    let e = deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Generic])).unwrap_err();
    eprintln!("apply: {e}");
    match &e {
        DeployError::Foreign {
            id: fid,
            name: fname,
            ..
        } if !dispatcher => {
            assert_eq!((*fid, fname.as_str()), (id, name.as_str()));
        }
        DeployError::ForeignDispatcher { id: fid, .. } if dispatcher => assert_eq!(*fid, id),
        other => panic!("wrong refusal: {other}"),
    }
    assert!(e.to_string().contains(&id.to_string()), "{e}");
    // A linked chain: refused the same way.
    let lname = format!("cx-linked-{}", std::process::id());
    let e = linked::apply(&linked_request(&rl, &lname)).unwrap_err();
    eprintln!("linked apply: {e}");
    assert!(
        e.to_string().contains(&id.to_string()),
        "the refusal names the program: {e}"
    );
    assert!(
        linked::status(&rl.roots, &lname).is_err(),
        "nothing recorded"
    );
    assert_eq!(
        xdp_ids(&iface),
        attached,
        "the program is still there, untouched"
    );
    let _ = Command::new("xdp-loader")
        .args(["unload", &iface, "--all"])
        .output();
}

#[test]
fn a_libxdp_dispatcher_is_never_replaced_even_with_replace() {
    let test = "a_libxdp_dispatcher_is_never_replaced_even_with_replace";
    if !require_root(test) {
        return;
    }
    let rl = router_lab("cd");
    let iface = rl.up.outer.clone();
    // A stand-in for libxdp's dispatcher (which cannot load on this kernel):
    // an XDP program of its name, attached by iproute2 (libbpf), not by offload.
    let code: Vec<u8> = [[0xb7u8, 0, 0, 0, 2, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]].concat();
    let obj = offload_ebpf::elf::write_object(&offload_ebpf::elf::ObjectSpec {
        program_section: offload_ebpf::elf::ProgramSection::Xdp,
        program_name: deploy::apply::LIBXDP_DISPATCHER,
        insns: &code,
        map_relocs: vec![],
        maps: vec![],
        license: "GPL",
    })
    .unwrap();
    let path = rl.roots.state.join("dispatcher.o");
    std::fs::create_dir_all(&rl.roots.state).unwrap();
    std::fs::write(&path, obj).unwrap();
    let o = Command::new("ip")
        .args(["link", "set", "dev", &iface, "xdpgeneric", "obj"])
        .arg(&path)
        .args(["sec", "xdp"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let attached = xdp_ids(&iface);
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].1, deploy::apply::LIBXDP_DISPATCHER);
    let source = rl.source();
    let mut req = rl.request(&source, &rl.module, vec![Mode::Generic]);
    req.replace_foreign = true;
    let e = deploy::apply(&req).unwrap_err();
    eprintln!("apply --replace: {e}");
    assert!(
        matches!(e, DeployError::ForeignDispatcher { id, .. } if id == attached[0].0),
        "{e}"
    );
    assert!(e.to_string().contains("not even with --replace"), "{e}");
    let e = linked::apply(&linked_request(
        &rl,
        &format!("cd-linked-{}", std::process::id()),
    ))
    .unwrap_err();
    assert!(matches!(e, DeployError::ForeignDispatcher { .. }), "{e}");
    assert_eq!(xdp_ids(&iface), attached, "the dispatcher is untouched");
    let _ = Command::new("ip")
        .args(["link", "set", "dev", &iface, "xdpgeneric", "off"])
        .output();
}
