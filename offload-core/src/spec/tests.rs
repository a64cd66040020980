//! Tests of `compile`: the examples lower to the expected IR, and each kind of
//! mistake gets its code, a span on the culprit, and a hint.

use super::*;
use crate::diag::codes;
use crate::ir::{
    ActionCall, DefaultVerdict, Field, KeyMatch, MatchKind, Operand, ParamType, PortId, Primitive,
};

pub const EDGE_ROUTER: &str = include_str!("../../../examples/edge-router.toml");
pub const L2_SWITCH: &str = include_str!("../../../examples/l2-switch.toml");
pub const DDOS_FILTER: &str = include_str!("../../../examples/ddos-filter.toml");

fn ok(src: &str) -> ir::Module {
    match compile(src) {
        Ok(m) => m,
        Err(ds) => panic!(
            "unexpected diagnostics:\n{}",
            ds.render_plain("test.toml", src)
        ),
    }
}

fn errs(src: &str) -> Vec<Diagnostic> {
    match compile(src) {
        Ok(_) => panic!("compiled, but should not have:\n{src}"),
        Err(ds) => {
            for d in &ds.0 {
                let s = d.primary_span().expect("every diagnostic has a span");
                assert!(
                    s.start <= s.end && s.end <= src.len(),
                    "span {s:?} outside source"
                );
                assert!(!d.notes.is_empty(), "diagnostic without a hint: {d:?}");
            }
            ds.0
        }
    }
}

/// The one diagnostic with `code`; its primary span's text.
fn one<'a>(src: &'a str, code: &str) -> (Diagnostic, &'a str) {
    let ds = errs(src);
    let found: Vec<&Diagnostic> = ds.iter().filter(|d| d.code == code).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {code}, got:\n{}",
        Diagnostics(ds.clone()).render_plain("t.toml", src)
    );
    let d = found[0].clone();
    let s = d.primary_span().unwrap();
    (d, &src[s.start..s.end])
}

const BASE: &str = r#"
[module]
name = "t"
[ports]
uplink = 1
down = 2
[action.drop_it]
do = ["drop"]
[action.fwd]
params = { port = "port", dmac = "mac" }
do = ["set(eth.dst, dmac)", "forward(port)"]
[action.nop]
do = []
"#;

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn edge_router_lowers() {
    let m = ok(EDGE_ROUTER);
    assert_eq!(m.name, "edge-router");
    assert_eq!(m.default_verdict, DefaultVerdict::Pass);
    assert_eq!(
        m.ports
            .iter()
            .map(|p| (p.name.as_str(), p.id.0))
            .collect::<Vec<_>>(),
        [("uplink", 1), ("servers", 2), ("backup", 3)]
    );
    let acl = m.table_by_name("acl").unwrap();
    assert_eq!(acl.id.0, 0);
    assert_eq!(
        acl.keys
            .iter()
            .map(|k| (k.field, k.kind))
            .collect::<Vec<_>>(),
        [
            (Field::Ipv4Src, MatchKind::Ternary),
            (Field::Ipv4Protocol, MatchKind::Exact),
            (Field::L4DstPort, MatchKind::Range)
        ]
    );
    assert!(acl.counters && acl.needs_priority());
    assert_eq!(acl.entries.len(), 4);
    let e0 = &acl.entries[0];
    assert_eq!(
        e0.matches,
        [
            KeyMatch::Ternary {
                value: 0x0a00_0000,
                mask: 0xff00_0000
            },
            KeyMatch::Exact(6),
            KeyMatch::Range { lo: 22, hi: 22 }
        ]
    );
    assert_eq!(e0.priority, Some(20));
    // Omitted ternary key → explicit wildcard.
    assert_eq!(
        acl.entries[1].matches[0],
        KeyMatch::Ternary { value: 0, mask: 0 }
    );
    assert_eq!(
        acl.entries[3].matches[2],
        KeyMatch::Range { lo: 0, hi: 0xffff }
    );
    let routes = m.table_by_name("routes").unwrap();
    assert_eq!(routes.size, 65536);
    assert_eq!(routes.lpm_key(), Some(0));
    let route = m.action_by_name("route").unwrap();
    assert_eq!(
        route.params.iter().map(|p| p.ty).collect::<Vec<_>>(),
        [ParamType::Port, ParamType::Mac, ParamType::Mac]
    );
    assert_eq!(
        route.body,
        [
            Primitive::Set {
                field: Field::EthDst,
                value: Operand::Param(1)
            },
            Primitive::Set {
                field: Field::EthSrc,
                value: Operand::Param(2)
            },
            Primitive::DecTtl,
            Primitive::Forward(Operand::Param(0)),
        ]
    );
    assert_eq!(
        routes.entries[0].matches,
        [KeyMatch::Lpm {
            value: 0xc0a8_0100,
            prefix_len: 24
        }]
    );
    assert_eq!(
        routes.entries[0].action,
        ActionCall {
            action: route.id,
            args: vec![2, 0x0200_0000_0002, 0x0200_0000_0001]
        }
    );
    assert_eq!(
        routes.entries[2].matches,
        [KeyMatch::Lpm {
            value: 0xc633_6407,
            prefix_len: 32
        }]
    );
    assert_eq!(
        routes.default_action.action,
        m.action_by_name("to_host").unwrap().id
    );
    let r = m.requirements();
    assert!(r.match_kinds.contains(&MatchKind::Lpm) && r.match_kinds.contains(&MatchKind::Range));
    assert!(r.redirect && r.dec_ttl && r.rewrite && r.counters && r.drop && r.pass);
    assert!(!r.vlan_push && !r.tx);
    // Entry spans point at the entry.
    let s = acl.entries[0].span;
    assert!(
        EDGE_ROUTER[s.start..s.end].contains("10.0.0.0/8")
            || EDGE_ROUTER[s.start..].starts_with("[[entry.acl]]")
    );
}

#[test]
fn l2_switch_lowers() {
    let m = ok(L2_SWITCH);
    assert_eq!(m.default_verdict, DefaultVerdict::Drop);
    let vlan = m.table_by_name("ingress_vlan").unwrap();
    assert_eq!(vlan.keys[0].field, Field::MetaInPort);
    assert_eq!(
        vlan.entries
            .iter()
            .map(|e| e.matches[0])
            .collect::<Vec<_>>(),
        [KeyMatch::Exact(1), KeyMatch::Exact(2), KeyMatch::Exact(3)]
    );
    assert_eq!(vlan.entries[2].action.args, [20]);
    assert!(!vlan.needs_priority() && vlan.entries.iter().all(|e| e.priority.is_none()));
    let tag = m.action_by_name("tag").unwrap();
    assert_eq!(tag.params[0].ty, ParamType::Uint(12));
    assert_eq!(tag.body, [Primitive::PushVlan(Operand::Param(0))]);
    let fdb = m.table_by_name("fdb").unwrap();
    assert_eq!(fdb.entries[0].matches, [KeyMatch::Exact(0x0200_0000_0101)]);
    assert_eq!(fdb.entries[2].action.args, [3]);
    assert_eq!(
        m.action_by_name("to_trunk").unwrap().body,
        [Primitive::Forward(Operand::Const(4))]
    );
    assert_eq!(m.port_by_id(PortId(4)).unwrap().name, "trunk");
    let r = m.requirements();
    assert!(r.vlan_push && r.vlan_pop && r.redirect && r.pass);
    assert_eq!(
        r.match_kinds.iter().copied().collect::<Vec<_>>(),
        [MatchKind::Exact]
    );
}

#[test]
fn ddos_filter_lowers_and_fits_a_nic_profile() {
    let m = ok(DDOS_FILTER);
    let r = m.requirements();
    assert!(!r.match_kinds.contains(&MatchKind::Lpm));
    assert!(!r.redirect && !r.rewrite && !r.vlan_push && !r.vlan_pop && !r.dec_ttl);
    assert!(r.drop && r.tx && r.pass && r.counters);
    assert!(m.ports.is_empty());
    let bl = m.table_by_name("blocklist").unwrap();
    assert_eq!(bl.entries.len(), 5);
    assert_eq!(
        bl.entries[1].matches,
        [
            KeyMatch::Ternary { value: 0, mask: 0 },
            KeyMatch::Ternary {
                value: 17,
                mask: 0xff
            },
            KeyMatch::Range { lo: 53, hi: 53 }
        ]
    );
    assert!(r.max_ternary_masks >= 2);
    let syn = m.table_by_name("syn_guard").unwrap();
    assert_eq!(
        syn.entries[0].matches,
        [
            KeyMatch::Ternary {
                value: 2,
                mask: 0x12
            },
            KeyMatch::Range { lo: 80, hi: 443 }
        ]
    );
}

#[test]
fn print_round_trips_examples() {
    for src in [EDGE_ROUTER, L2_SWITCH, DDOS_FILTER] {
        let m = ok(src);
        for a in &m.actions {
            for p in &a.body {
                let text = print::primitive(&m, a, p);
                assert!(!text.is_empty());
            }
        }
        for t in &m.tables {
            for e in &t.entries {
                for (k, km) in t.keys.iter().zip(&e.matches) {
                    let text = print::key_match(k.field, km);
                    let back = literal::parse_match(
                        &text,
                        k.kind,
                        literal::LitType::of_field(k.field),
                        &NoPorts,
                    )
                    .unwrap();
                    assert_eq!(&back, km, "{text}");
                }
            }
        }
    }
}

struct NoPorts;
impl literal::Ports for NoPorts {
    fn by_name(&self, _: &str) -> Option<u16> {
        None
    }
    fn has_number(&self, _: u16) -> bool {
        true
    }
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}
