//! Service chains compiled into one program: a chain of one is the module's
//! own program byte for byte, fused chains are deterministic, map names stay
//! unique and name each module's tables, the tc VLAN rule holds across
//! modules, and every segment after the first parses the frame again.

use offload_core::ir::chain::{fuse, Fused};
use offload_ebpf::codegen::{compile, compile_chain, CompileError, Target};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn example(name: &str) -> offload_core::ir::Module {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{name}.toml"));
    offload_core::spec::compile(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn chain(names: &[&str]) -> Fused {
    fuse(&names.iter().map(|n| example(n)).collect::<Vec<_>>()).unwrap()
}

#[test]
fn a_chain_of_one_is_the_module_program() {
    for name in [
        "ddos-filter",
        "edge-router",
        "basic-forwarding",
        "l2-switch",
    ] {
        let m = example(name);
        for target in [Target::xdp(), Target::tc()] {
            match (
                compile(&m, &target),
                compile_chain(&Fused::single(&m), &target),
            ) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.object, b.object, "{name}");
                    assert_eq!(a.listing(), b.listing(), "{name}");
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{name}: {:?} vs {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}

#[test]
fn fused_chains_are_deterministic_with_unique_maps_per_module() {
    let f = chain(&["ddos-filter", "edge-router"]);
    for target in [Target::xdp(), Target::tc()] {
        let a = compile_chain(&f, &target).unwrap();
        let b = compile_chain(&f, &target).unwrap();
        assert_eq!(a.object, b.object);
        let names: Vec<&str> = a.layout.maps.iter().map(|m| m.name.as_str()).collect();
        let set: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(set.len(), names.len(), "map names unique: {names:?}");
        assert!(names.iter().all(|n| n.len() <= 15), "{names:?}");
        // The control plane finds a module's table by `module.table`.
        let acl = f.table("edge-router", "acl").unwrap();
        let tl = a.layout.table(acl.id);
        assert_eq!(tl.name, "edge-router.acl");
        assert!(tl.entries_map.starts_with(&format!("t{}_e_", acl.id.0)));
        assert_eq!(
            names.iter().filter(|n| **n == "ports").count(),
            1,
            "one port map for the chain"
        );
        // Two parses: one per module; the listing names both modules' tables.
        let listing = a.listing();
        assert!(
            listing.contains("; table ddos-filter.blocklist"),
            "{listing}"
        );
        assert!(listing.contains("; table edge-router.routes"));
        let single = compile(&example("edge-router"), &target).unwrap();
        let ddos = compile(&example("ddos-filter"), &target).unwrap();
        assert!(a.program.insns.len() > single.program.insns.len());
        // About the sum of the two programs: a second parse, and the parse
        // state parked around each mask loop (the chain has several).
        assert!(
            a.program.insns.len() < (single.program.insns.len() + ddos.program.insns.len()) * 3 / 2,
            "{} vs {} + {}",
            a.program.insns.len(),
            single.program.insns.len(),
            ddos.program.insns.len()
        );
    }
}

#[test]
fn tc_refuses_a_pop_after_a_push_in_an_earlier_module() {
    // l2-switch pushes at ingress; a module after it that pops cannot keep
    // the reference's bytes on tc (skb_vlan_pop needs a VLAN skb->protocol).
    let pusher = offload_core::spec::compile(
        "[module]\nname = \"pusher\"\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = [\"push_vlan(5)\"]\n",
    )
    .unwrap();
    let popper = offload_core::spec::compile(
        "[module]\nname = \"popper\"\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = [\"pop_vlan\"]\n",
    )
    .unwrap();
    let f = fuse(&[pusher.clone(), popper.clone()]).unwrap();
    match compile_chain(&f, &Target::tc()) {
        Err(CompileError::Unsupported { table, reason, .. }) => {
            assert_eq!(table, "popper.t");
            assert!(reason.contains("pusher.t"), "{reason}");
        }
        other => panic!("{:?}", other.map(|c| c.program.insns.len())),
    }
    compile_chain(&f, &Target::xdp()).expect("XDP has no such limit");
    // Each alone compiles on tc, and so does pop then push.
    compile_chain(&fuse(&[popper, pusher]).unwrap(), &Target::tc()).unwrap();
}

#[test]
fn a_chain_over_the_kernels_map_limit_is_refused_by_name() {
    let ddos = example("ddos-filter");
    let mut modules: Vec<_> = (0..7)
        .map(|i| {
            let mut m = ddos.clone();
            m.name = format!("ddos-{i}");
            m
        })
        .collect();
    modules.push(example("edge-router"));
    let f = fuse(&modules).unwrap();
    match compile_chain(&f, &Target::xdp()) {
        Err(CompileError::TooManyMaps { maps, limit: 64 }) => assert_eq!(maps, 86),
        other => panic!("{:?}", other.map(|c| c.layout.maps.len())),
    }
    // Four fit.
    let f = fuse(&modules[4..]).unwrap();
    assert!(compile_chain(&f, &Target::xdp()).unwrap().layout.maps.len() <= 64);
}
