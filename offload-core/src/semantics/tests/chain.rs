//! Service chains: which verdicts continue, what carries from one module to
//! the next, counters per module, and the fusion pass.

use super::*;
use crate::ir::chain::{fuse, ChainError};
use crate::spec;

fn m(src: &str) -> Module {
    spec::compile(src).unwrap_or_else(|d| panic!("{}", d.render_plain("t.toml", src)))
}

/// A module with one keyless table whose default action does `body`.
fn does(name: &str, body: &str, default: &str) -> Module {
    m(&format!(
        "[module]\nname = \"{name}\"\ndefault = \"{default}\"\n[ports]\np1 = 1\np2 = 2\n\
         [[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\ncounters = true\n\
         [action.a]\ndo = [{body}]\n"
    ))
}

fn frame() -> Vec<u8> {
    udp4(A4, B4, 1000, 53, 64)
}

#[test]
fn pass_continues_and_every_other_verdict_ends_the_chain() {
    let pass = does("a", "\"pass\"", "pass");
    for (body, want) in [
        ("\"drop\"", Verdict::Drop),
        ("\"forward(p2)\"", Verdict::Forward(PortId(2))),
        ("\"tx\"", Verdict::Tx),
    ] {
        let stop = does("b", body, "pass");
        let last = does("c", "\"tx\"", "pass");
        let o = run_chain(&[pass.clone(), stop, last], IN, &frame());
        assert_eq!(o.verdict, want, "{body}");
        assert_eq!(o.modules.len(), 2, "{body}: the third module does not run");
        assert_eq!(o.modules[1].counters.len(), 1);
    }
    // Only passes: the last module's pass goes to the host.
    let o = run_chain(&[pass.clone(), does("b", "", "pass")], IN, &frame());
    assert_eq!((o.verdict, o.modules.len()), (Verdict::Pass, 2));
    // A module's default verdict `pass` continues; `drop` ends the chain.
    let o = run_chain(&[does("a", "", "drop"), pass.clone()], IN, &frame());
    assert_eq!((o.verdict, o.modules.len()), (Verdict::Drop, 1));
}

#[test]
fn a_chain_of_one_is_the_module() {
    for seed in 0..40u64 {
        let case = crate::testgen::case(seed).unwrap();
        for f in crate::testgen::frames(seed, &case.module, 30) {
            let one = run(&case.module, f.in_port, &f.bytes);
            let chain = run_chain(std::slice::from_ref(&case.module), f.in_port, &f.bytes);
            assert_eq!(chain.verdict, one.verdict);
            assert_eq!(chain.packet, one.packet);
            assert_eq!(chain.modules, vec![one]);
        }
    }
}

#[test]
fn a_chain_equals_the_modules_run_one_after_the_other() {
    // Any two generated modules (ports made to agree by giving the second none).
    for seed in 0..40u64 {
        let a = crate::testgen::case(seed).unwrap().module;
        let mut b = crate::testgen::case(seed + 1000).unwrap().module;
        b.name = format!("{}_b", b.name);
        b.ports.clear();
        for f in crate::testgen::frames(seed, &a, 30) {
            let first = run(&a, f.in_port, &f.bytes);
            let chain = run_chain(&[a.clone(), b.clone()], f.in_port, &f.bytes);
            if first.verdict != Verdict::Pass {
                assert_eq!(chain.modules, vec![first]);
                continue;
            }
            let second = run(&b, f.in_port, &first.packet);
            assert_eq!(chain.verdict, second.verdict);
            assert_eq!(chain.packet, second.packet);
            assert_eq!(chain.modules, vec![first, second]);
        }
    }
}

#[test]
fn rewrites_carry_over_with_correct_checksums() {
    let nat = does("nat", "\"set(ipv4.src, 10.9.9.9)\", \"dec_ttl\"", "pass");
    let acl = m(r#"
[module]
name = "acl"
[[table]]
name = "by_src"
keys = [{ field = "ipv4.src", match = "exact" }, { field = "ipv4.ttl", match = "exact" }]
actions = ["deny"]
default_action = "deny"
counters = true
[action.deny]
do = ["drop"]
[action.ok]
do = ["tx"]
[[entry.by_src]]
match = { "ipv4.src" = "10.9.9.9", "ipv4.ttl" = "63" }
action = "deny"
"#);
    let o = run_chain(&[nat, acl], IN, &frame());
    assert_eq!(o.verdict, Verdict::Drop);
    assert_eq!(
        o.modules[1].steps,
        vec![Step::Hit {
            table: crate::ir::TableId(0),
            entry: 0
        }],
        "the second module matches the address and TTL the first wrote"
    );
    assert_eq!(
        checks(&o.packet),
        Checks {
            ipv4: Some(true),
            l4: Some(true)
        }
    );
}

#[test]
fn the_next_module_parses_the_frame_as_the_previous_left_it() {
    // A pushed tag is a parsed tag for the next module, and its counter
    // bytes include it.
    let push = does("push", "\"push_vlan(7)\"", "pass");
    let by_vid = m(r#"
[module]
name = "by_vid"
[ports]
p1 = 1
p2 = 2
[[table]]
name = "v"
keys = [{ field = "vlan.vid", match = "exact" }]
actions = ["out"]
default_action = "out"
counters = true
[action.out]
do = ["forward(p1)"]
[[entry.v]]
match = { "vlan.vid" = "7" }
action = "out"
"#);
    let f = frame();
    let o = run_chain(&[push, by_vid.clone()], IN, &f);
    assert_eq!(o.verdict, Verdict::Forward(PortId(1)));
    assert_eq!(o.modules[0].counters[0].bytes, f.len() as u64);
    assert_eq!(o.modules[1].counters[0].bytes, f.len() as u64 + 4);
    assert_eq!(o.modules[1].counters[0].slot, CounterSlot::Entry(0));
    assert_eq!(o.packet.len(), f.len() + 4);

    // Three tags: a single module parses two and sees no IPv4; after a
    // pop, the next module parses the third tag and the IPv4 behind it.
    let triple = build(eth().double_vlan(vid(1), vid(2)).ipv4(A4, B4, 64).udp(1, 2));
    let mut three = triple[..12].to_vec();
    three.extend_from_slice(&[0x81, 0x00, 0x00, 0x03]);
    three.extend_from_slice(&triple[12..]);
    let v4 = m(r#"
[module]
name = "v4"
[[table]]
name = "t"
keys = [{ field = "ipv4.src", match = "lpm" }]
actions = ["no"]
default_action = "no"
[action.no]
do = ["drop"]
"#);
    let alone = run(&v4, IN, &three);
    assert!(matches!(alone.steps[0], Step::Skipped { .. }));
    assert_eq!(alone.verdict, Verdict::Pass);
    let pop = does("pop", "\"pop_vlan\"", "pass");
    let o = run_chain(&[pop, v4], IN, &three);
    assert_eq!(o.verdict, Verdict::Drop, "IPv4 is valid after the pop");
}

#[test]
fn dec_ttl_expiry_is_a_pass_and_continues() {
    let router = does("router", "\"dec_ttl\", \"forward(p2)\"", "pass");
    let after = does("after", "\"tx\"", "pass");
    let o = run_chain(&[router, after], IN, &udp4(A4, B4, 1, 2, 1));
    assert_eq!(o.verdict, Verdict::Tx);
    assert_eq!(o.modules.len(), 2);
}

#[test]
fn in_port_is_the_chains_ingress_port_for_every_module() {
    let src = |name: &str| {
        format!(
            "[module]\nname = \"{name}\"\n[ports]\np1 = 1\np2 = 2\n[[table]]\nname = \"t\"\n\
             keys = [{{ field = \"meta.in_port\", match = \"exact\" }}]\nactions = [\"go\", \"stop\"]\n\
             default_action = \"stop\"\ncounters = true\n[action.go]\ndo = []\n[action.stop]\ndo = [\"drop\"]\n\
             [[entry.t]]\nmatch = {{ \"meta.in_port\" = \"p2\" }}\naction = \"go\"\n"
        )
    };
    let o = run_chain(&[m(&src("a")), m(&src("b"))], PortId(2), &frame());
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.modules.len(), 2);
    assert!(o.modules.iter().all(|o| o.steps[0]
        == Step::Hit {
            table: crate::ir::TableId(0),
            entry: 0
        }));
}

#[test]
fn fusion_renames_renumbers_and_keeps_each_module() {
    let a = does("ddos-filter", "\"pass\"", "pass");
    let b = m(r#"
[module]
name = "router"
default = "drop"
[ports]
p1 = 1
p2 = 2
[[table]]
name = "acl"
keys = [{ field = "ipv4.dst", match = "lpm" }]
actions = ["x", "y"]
default_action = "y"
counters = true
[action.x]
do = ["forward(p1)"]
[action.y]
do = ["drop"]
[[entry.acl]]
match = { "ipv4.dst" = "10.0.0.0/8" }
action = "x"
"#);
    let f = fuse(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(f.module.name, "ddos-filter+router");
    let names: Vec<&str> = f.module.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ddos-filter.t", "router.acl"]);
    let acl = f.table("router", "acl").unwrap();
    assert_eq!(acl.id.0, 1);
    assert_eq!(
        f.module.action(acl.entries[0].action.action).name,
        "router.x"
    );
    assert_eq!(f.module.action(acl.default_action.action).name, "router.y");
    assert_eq!(f.segments[1].default_verdict, DefaultVerdict::Drop);
    assert_eq!(f.origin(acl.id), Some((1, crate::ir::TableId(0))));
    assert_eq!(f.table_id(1, crate::ir::TableId(0)), acl.id);
    // Taking a segment back out gives the module (names unqualified).
    for (k, orig) in [a.clone(), b.clone()].iter().enumerate() {
        let s = &f.segments[k];
        for (i, t) in f.module.tables[s.tables.clone()].iter().enumerate() {
            let o = &orig.tables[i];
            assert_eq!(t.name, format!("{}.{}", orig.name, o.name));
            assert_eq!(t.entries.len(), o.entries.len());
            for (e, oe) in t.entries.iter().zip(&o.entries) {
                assert_eq!(e.matches, oe.matches);
                assert_eq!(
                    e.action.action.0 as usize - s.actions.start,
                    oe.action.action.0 as usize
                );
            }
        }
        assert_eq!(s.actions.len(), orig.actions.len());
    }
    // Counter hits in fused ids.
    let o = run_chain(&[a, b], IN, &frame());
    assert_eq!(o.verdict, Verdict::Forward(PortId(1)));
    let hits: Vec<(u32, CounterSlot)> = o
        .fused_counters(&f)
        .iter()
        .map(|h| (h.table.0, h.slot))
        .collect();
    assert_eq!(
        hits,
        [(0, CounterSlot::Default), (1, CounterSlot::Entry(0))]
    );
}

#[test]
fn ports_must_agree() {
    let with = |name: &str, ports: &str| {
        m(&format!(
            "[module]\nname = \"{name}\"\n[ports]\n{ports}\n[[table]]\nname = \"t\"\nactions = [\"a\"]\n\
             default_action = \"a\"\n[action.a]\ndo = []\n"
        ))
    };
    let none = does("none", "", "pass");
    let mut none = none;
    none.ports.clear();
    let a = with("a", "uplink = 1\nservers = 2");
    // The same ports, or none: fine.
    assert!(fuse(&[
        none.clone(),
        a.clone(),
        with("b", "servers = 2\nuplink = 1"),
        {
            let mut n = none.clone();
            n.name = "none2".into();
            n
        }
    ])
    .is_ok());
    // Another id for a name.
    let src_b = "[module]\nname = \"b\"\n[ports]\nuplink = 1\nservers = 3\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = []\n";
    let e = fuse(&[none.clone(), a.clone(), m(src_b)]).unwrap_err();
    assert!(
        matches!(&e, ChainError::PortId { index: 2, port, id: 3, other_id: 2, .. } if port == "servers"),
        "{e:?}"
    );
    let d = e.diagnostic(None);
    assert_eq!(d.code, "E0601");
    let text = d.render_plain("b.toml", src_b);
    assert!(text.starts_with("b.toml:5:1: error[E0601]: module `b` gives port `servers` id 3, module `a` gives it id 2"), "{text}");
    // A port the first lacks, and one the second lacks.
    let e = fuse(&[a.clone(), with("b", "uplink = 1\nservers = 2\nbackup = 3")]).unwrap_err();
    assert!(
        matches!(&e, ChainError::PortMissing { index: 1, port, .. } if port == "backup"),
        "{e:?}"
    );
    assert_eq!(e.diagnostic(None).code, "E0602");
    let e = fuse(&[a.clone(), with("b", "uplink = 1")]).unwrap_err();
    assert!(
        matches!(&e, ChainError::PortMissing { index: 0, port, other, .. } if port == "servers" && other == "b"),
        "{e:?}"
    );
    // Names must be unique; an empty chain is refused.
    let e = fuse(&[a.clone(), none, a.clone()]).unwrap_err();
    assert_eq!(
        e,
        ChainError::DuplicateModule {
            name: "a".into(),
            first: 0,
            second: 2
        }
    );
    assert_eq!(e.diagnostic(None).code, "E0603");
    assert_eq!(fuse(&[]).unwrap_err(), ChainError::Empty);
}

#[test]
fn the_module_name_span_points_at_the_name() {
    let src = "[module]\nname = \"x\"\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = []\n";
    let s = spec::module_name_span(src).unwrap();
    assert_eq!(&src[s.start..s.end], "\"x\"");
}
