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
fn one(src: &str, code: &str) -> (Diagnostic, String) {
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
    (d, src[s.start..s.end].to_string())
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

const TABLE_FDB: &str = r#"
[[table]]
name = "fdb"
keys = [{ field = "eth.dst", match = "exact" }]
actions = ["fwd", "drop_it"]
default_action = "drop_it"
size = 4
"#;

const TABLE_ACL: &str = r#"
[[table]]
name = "acl"
keys = [{ field = "ipv4.src", match = "ternary" }, { field = "l4.dst_port", match = "range" }]
actions = ["drop_it", "nop"]
default_action = "nop"
"#;

#[test]
fn base_tables_compile() {
    let m = ok(&with(&format!("{TABLE_FDB}{TABLE_ACL}")));
    assert_eq!(m.tables.len(), 2);
    assert_eq!(m.table_by_name("fdb").unwrap().size, 4);
    assert_eq!(
        m.table_by_name("acl").unwrap().size,
        lower::DEFAULT_TABLE_SIZE
    );
}

#[test]
fn file_level_errors() {
    assert_eq!(errs("")[0].code, codes::EMPTY);
    assert_eq!(errs("   \n# just a comment\n")[0].code, codes::EMPTY);
    assert_eq!(errs("[module\nname = 1")[0].code, codes::SYNTAX);
    let (d, text) = one("[module]\nname = \"x\"\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = []\n[tabel]\n", codes::UNKNOWN_KEY);
    assert_eq!(text, "tabel");
    assert!(d.notes[0].contains("did you mean `table`"), "{:?}", d.notes);
    let (_, text) = one(
        "[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = []\n",
        codes::NO_MODULE,
    );
    assert_eq!(text, "");
    let (_, _) = one("[module]\nname = \"x\"\n", codes::NO_TABLES);
    let (_, text) = one(&with("[module2]\n"), codes::UNKNOWN_KEY);
    assert_eq!(text, "module2");
    let big = "#".repeat(MAX_SOURCE_BYTES + 1);
    assert_eq!(errs(&big)[0].code, codes::TOO_LARGE);
    assert_eq!(
        compile_bytes(b"[module]\nname = \"\xff\"").unwrap_err().0[0].code,
        codes::NOT_UTF8
    );
    assert_eq!(
        compile_bytes(b"[module]\nname = \"\xff\"").unwrap_err().0[0].primary_span(),
        Some(Span::new(17, 18))
    );
}

#[test]
fn shape_errors() {
    let (_, text) = one(&with(&format!("{TABLE_FDB}[[table]]\nname = \"x\"\nactions = [\"nop\"]\ndefault_action = \"nop\"\nsiz = 3\n")), codes::UNKNOWN_KEY);
    assert_eq!(text, "siz");
    let (_, text) = one(
        &with("[[table]]\nname = 5\nactions = [\"nop\"]\ndefault_action = \"nop\"\n"),
        codes::WRONG_TYPE,
    );
    assert_eq!(text, "5");
    let (d, _) = one(&with("[table]\nname = \"t\"\n"), codes::WRONG_TYPE);
    assert!(d.notes[0].contains("[[table]]"));
    let (d, _) = one(
        &with("[[table]]\nname = \"t\"\nactions = [\"nop\"]\n"),
        codes::MISSING_KEY,
    );
    assert!(d.message.contains("default_action"));
    let (_, text) = one(&with("[[table]]\nname = \"t\"\nactions = [\"nop\"]\ndefault_action = \"nop\"\ncounters = \"yes\"\n"), codes::WRONG_TYPE);
    assert_eq!(text, "\"yes\"");
    let (_, text) = one(&with("[[table]]\nname = \"t\"\nactions = [\"nop\"]\ndefault_action = \"nop\"\n[module.extra]\n"), codes::UNKNOWN_KEY);
    assert_eq!(text, "extra");
}

#[test]
fn name_errors() {
    let t = "[[table]]\nname = \"t\"\nactions = [\"nop\"]\ndefault_action = \"nop\"\n";
    let (_, text) = one(
        &format!("{}{t}[action.\"bad name\"]\ndo = []\n", BASE),
        codes::BAD_NAME,
    );
    assert_eq!(text, "\"bad name\"");
    let (_, text) = one(&with(&format!("{t}{t}")), codes::DUPLICATE_NAME);
    assert_eq!(text, "\"t\"");
    let (d, _) = one(
        &BASE
            .replace("name = \"t\"", "name = \"9lives\"")
            .replace("[action.nop]", &format!("{t}[action.nop]")),
        codes::BAD_NAME,
    );
    assert!(d.message.contains("module"));
}

#[test]
fn port_errors() {
    let t = "[[table]]\nname = \"t\"\nactions = [\"nop\"]\ndefault_action = \"nop\"\n";
    let (_, text) = one(
        &with(t).replace("down = 2", "down = 70000"),
        codes::PORT_RANGE,
    );
    assert_eq!(text, "70000");
    let (d, text) = one(
        &with(t).replace("down = 2", "down = 1"),
        codes::DUPLICATE_PORT,
    );
    assert_eq!(text, "1");
    assert_eq!(d.labels.len(), 2);
    let (_, text) = one(
        &with(t).replace("down = 2", "down = \"2\""),
        codes::WRONG_TYPE,
    );
    assert_eq!(text, "\"2\"");
}

#[test]
fn key_errors() {
    let table = |keys: &str| {
        with(&format!("[[table]]\nname = \"t\"\nkeys = [{keys}]\nactions = [\"nop\"]\ndefault_action = \"nop\"\n"))
    };
    let (d, text) = one(
        &table(r#"{ field = "ipv4.scr", match = "exact" }"#),
        codes::UNKNOWN_FIELD,
    );
    assert_eq!(text, "\"ipv4.scr\"");
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("did you mean `ipv4.src`")),
        "{:?}",
        d.notes
    );
    let (d, _) = one(
        &table(r#"{ field = "ipv5.src", match = "exact" }"#),
        codes::UNKNOWN_FIELD,
    );
    assert!(d.message.contains("unknown header `ipv5`"), "{}", d.message);
    assert!(
        d.notes[0].contains("ipv4.src")
            || d.notes[0].contains("ipv4")
            || d.notes[0].contains("ipv6"),
        "{:?}",
        d.notes
    );
    let (d, text) = one(
        &table(r#"{ field = "ipv4.dst", match = "longest" }"#),
        codes::UNKNOWN_MATCH,
    );
    assert_eq!(text, "\"longest\"");
    assert!(d
        .notes
        .last()
        .unwrap()
        .contains("exact, lpm, ternary, range"));
    let (d, _) = one(
        &table(r#"{ field = "ipv4.dst", match = "terniary" }"#),
        codes::UNKNOWN_MATCH,
    );
    assert!(d.notes[0].contains("`ternary`"));
    let (_, text) = one(
        &table(r#"{ field = "eth.dst", match = "lpm" }"#),
        codes::MATCH_NOT_ALLOWED,
    );
    assert_eq!(text, "\"lpm\"");
    one(
        &table(r#"{ field = "ipv4.src", match = "range" }"#),
        codes::MATCH_NOT_ALLOWED,
    );
    let (d, _) = one(
        &table(r#"{ field = "ipv4.src", match = "lpm" }, { field = "ipv4.dst", match = "lpm" }"#),
        codes::TWO_LPM,
    );
    assert_eq!(d.labels.len(), 2);
    one(
        &table(
            r#"{ field = "ipv4.src", match = "exact" }, { field = "ipv4.src", match = "ternary" }"#,
        ),
        codes::DUPLICATE_KEY,
    );
    one(&table(r#"{ field = "ipv4.src" }"#), codes::MISSING_KEY);
    one(
        &table(r#"{ field = "ipv4.src", match = "exact", mask = 1 }"#),
        codes::UNKNOWN_KEY,
    );
}

#[test]
fn table_errors() {
    let tbl = |body: &str| with(&format!("[[table]]\nname = \"t\"\n{body}\n"));
    let (_, text) = one(
        &tbl("actions = [\"nop\"]\ndefault_action = \"nop\"\nsize = 0"),
        codes::SIZE_RANGE,
    );
    assert_eq!(text, "0");
    one(
        &tbl("actions = [\"nop\"]\ndefault_action = \"nop\"\nsize = 1000001"),
        codes::SIZE_RANGE,
    );
    let (d, text) = one(
        &tbl("actions = [\"nop\", \"fwdd\"]\ndefault_action = \"nop\""),
        codes::UNKNOWN_ACTION,
    );
    assert_eq!(text, "\"fwdd\"");
    assert!(d.notes[0].contains("did you mean `fwd`"));
    let (_, text) = one(
        &tbl("actions = [\"nop\"]\ndefault_action = \"drop_it\""),
        codes::DEFAULT_NOT_LISTED,
    );
    assert_eq!(text, "\"drop_it\"");
    one(
        &tbl("actions = []\ndefault_action = \"nop\""),
        codes::NO_ACTIONS,
    );
    one(
        &tbl("actions = [\"nop\", \"nop\"]\ndefault_action = \"nop\""),
        codes::DUPLICATE_ACTION,
    );
    // Default action with arguments.
    let m = ok(&tbl("actions = [\"fwd\"]\ndefault_action = { fwd = { port = \"down\", dmac = \"02:00:00:00:00:09\" } }"));
    assert_eq!(m.tables[0].default_action.args, [2, 0x0200_0000_0009]);
    let (d, _) = one(
        &tbl("actions = [\"fwd\"]\ndefault_action = \"fwd\""),
        codes::MISSING_ARG,
    );
    assert!(d.message.contains("`port`") && d.message.contains("`dmac`"));
    one(
        &tbl("actions = [\"fwd\"]\ndefault_action = { fwd = { port = \"down\" }, nop = {} }"),
        codes::WRONG_TYPE,
    );
    // A keyless table always runs its default.
    let m = ok(&tbl(
        "actions = [\"drop_it\"]\ndefault_action = \"drop_it\"",
    ));
    assert!(m.tables[0].keys.is_empty());
}

fn action_src(params: &str, body: &str) -> String {
    with(&format!(
        "[[table]]\nname = \"t\"\nactions = [\"x\", \"nop\"]\ndefault_action = \"nop\"\n[action.x]\nparams = {{ {params} }}\ndo = [{body}]\n"
    ))
}

#[test]
fn action_errors() {
    let (d, text) = one(&action_src("", r#""drpo""#), codes::UNKNOWN_PRIMITIVE);
    assert_eq!(text, "drpo");
    assert!(d.notes[0].contains("did you mean `drop`"));
    let (_, text) = one(&action_src("", r#""set(eth.dst)""#), codes::BAD_PRIMITIVE);
    assert_eq!(text, "set(eth.dst)");
    one(&action_src("", r#""drop(1)""#), codes::BAD_PRIMITIVE);
    let (_, text) = one(&action_src("", r#""set(eth.dst, 1""#), codes::BAD_PRIMITIVE);
    assert_eq!(text, "(eth.dst, 1");
    let (d, text) = one(
        &action_src("", r#""drop", "pop_vlan""#),
        codes::AFTER_TERMINATOR,
    );
    assert_eq!(text, "pop_vlan");
    assert_eq!(d.labels.len(), 2);
    let (_, text) = one(
        &action_src(r#"p = "u16""#, r#""set(eth.dst, p)""#),
        codes::PARAM_TYPE_MISMATCH,
    );
    assert_eq!(text, "p");
    let (d, _) = one(
        &action_src(r#"p = "u32""#, r#""set(l4.dst_port, p)""#),
        codes::PARAM_TYPE_MISMATCH,
    );
    assert!(d.notes[0].contains("u16"), "{:?}", d.notes);
    ok(&action_src(r#"p = "u12""#, r#""set(l4.dst_port, p)""#));
    let (_, text) = one(
        &action_src(r#"p = "mac""#, r#""forward(p)""#),
        codes::PARAM_TYPE_MISMATCH,
    );
    assert_eq!(text, "p");
    let (_, text) = one(
        &action_src("", r#""set(ipv4.protocol, 6)""#),
        codes::NOT_WRITABLE,
    );
    assert_eq!(text, "ipv4.protocol");
    let (_, text) = one(&action_src("", r#""set(ipv4.ttl, 300)""#), codes::TOO_WIDE);
    assert_eq!(text, "300");
    let (_, text) = one(
        &action_src("", r#""set(eth.src, 02:00:00:00:00)""#),
        codes::BAD_LITERAL,
    );
    assert_eq!(text, "02:00:00:00:00");
    let (d, text) = one(
        &action_src(r#"dmac = "mac""#, r#""set(eth.dst, dmca)""#),
        codes::UNKNOWN_PARAM,
    );
    assert_eq!(text, "dmca");
    assert!(d.notes[0].contains("did you mean `dmac`"));
    let (d, text) = one(&action_src("", r#""forward(uplnk)""#), codes::UNKNOWN_PARAM);
    assert_eq!(text, "uplnk");
    assert!(d.notes[0].contains("did you mean `uplink`"));
    let (_, text) = one(&action_src("", r#""forward(9)""#), codes::UNKNOWN_PORT);
    assert_eq!(text, "9");
    one(
        &action_src(r#"uplink = "port""#, r#""forward(uplink)""#),
        codes::AMBIGUOUS_NAME,
    );
    let (_, text) = one(
        &action_src(r#"p = "u64""#, r#""drop""#),
        codes::BAD_PARAM_TYPE,
    );
    assert_eq!(text, "\"u64\"");
    one(
        &action_src(r#"p = "u0""#, r#""drop""#),
        codes::BAD_PARAM_TYPE,
    );
    one(&action_src("", r#""push_vlan(4096)""#), codes::TOO_WIDE);
    one(
        &action_src(r#"v = "u16""#, r#""push_vlan(v)""#),
        codes::PARAM_TYPE_MISMATCH,
    );
    one(&with("[[table]]\nname = \"t\"\nactions = [\"x\"]\ndefault_action = \"x\"\n[action.x]\nparams = {}\n"), codes::MISSING_KEY);
    // The whole-primitive vocabulary lowers.
    let m = ok(&action_src(
        r#"v = "u12", a = "ipv4", b = "ipv6", q = "u3""#,
        r#""set(ipv4.src, a)", "set(ipv6.dst, b)", "set(vlan.pcp, q)", "set(ipv4.dst, 10.1.2.3)", "set(ipv6.src, 2001:db8::1)", "set(l4.src_port, 0x50)", "push_vlan(v)", "push_vlan(100)", "pop_vlan", "dec_ttl", "forward(2)""#,
    ));
    let body = &m.action_by_name("x").unwrap().body;
    assert_eq!(
        body[3],
        Primitive::Set {
            field: Field::Ipv4Dst,
            value: Operand::Const(0x0a01_0203)
        }
    );
    assert_eq!(
        body[4],
        Primitive::Set {
            field: Field::Ipv6Src,
            value: Operand::Const(0x2001_0db8_0000_0000_0000_0000_0000_0001)
        }
    );
    assert_eq!(
        body[5],
        Primitive::Set {
            field: Field::L4SrcPort,
            value: Operand::Const(80)
        }
    );
    assert_eq!(body[7], Primitive::PushVlan(Operand::Const(100)));
    assert_eq!(body[10], Primitive::Forward(Operand::Const(2)));
    for tx in ["tx", "pass", "drop()"] {
        ok(&action_src("", &format!("\"{tx}\"")));
    }
}

fn fdb_entry(e: &str) -> String {
    with(&format!("{TABLE_FDB}[[entry.fdb]]\n{e}\n"))
}

fn acl_entry(e: &str) -> String {
    with(&format!("{TABLE_ACL}[[entry.acl]]\n{e}\n"))
}

#[test]
fn entry_errors() {
    let fwd = r#"action = { fwd = { port = "uplink", dmac = "02:00:00:00:00:01" } }"#;
    ok(&fdb_entry(&format!(
        "match = {{ \"eth.dst\" = \"02:00:00:00:00:05\" }}\n{fwd}"
    )));
    // Unquoted dotted keys mean the same field.
    ok(&fdb_entry(&format!(
        "match = {{ eth.dst = \"02:00:00:00:00:05\" }}\n{fwd}"
    )));
    let (_, text) = one(
        &fdb_entry(&format!(
            "match = {{ \"eth.dst\" = \"02:00:00:00:00:5\" }}\n{fwd}"
        )),
        codes::BAD_LITERAL,
    );
    assert_eq!(text, "02:00:00:00:00:5");
    let (d, text) = one(
        &fdb_entry(&format!(
            "match = {{ \"eth.dts\" = \"02:00:00:00:00:05\" }}\n{fwd}"
        )),
        codes::UNKNOWN_FIELD,
    );
    assert_eq!(text, "\"eth.dts\"");
    assert!(d.notes[0].contains("did you mean `eth.dst`"));
    let (_, text) = one(&fdb_entry(&format!("match = {{ \"eth.dst\" = \"02:00:00:00:00:05\", \"eth.src\" = \"02:00:00:00:00:05\" }}\n{fwd}")), codes::NOT_A_KEY);
    assert_eq!(text, "\"eth.src\"");
    one(
        &fdb_entry(&format!("match = {{}}\n{fwd}")),
        codes::MISSING_EXACT,
    );
    let (_, text) = one(
        &fdb_entry("match = { \"eth.dst\" = \"02:00:00:00:00:05\" }\naction = \"nop\""),
        codes::ACTION_NOT_LISTED,
    );
    assert_eq!(text, "\"nop\"");
    let (_, text) = one(
        &fdb_entry("match = { \"eth.dst\" = \"02:00:00:00:00:05\" }\naction = \"nope\""),
        codes::UNKNOWN_ACTION,
    );
    assert_eq!(text, "\"nope\"");
    let (_, text) = one(
        &fdb_entry(&format!(
            "match = {{ \"eth.dst\" = \"02:00:00:00:00:05\" }}\npriority = 3\n{fwd}"
        )),
        codes::UNEXPECTED_PRIORITY,
    );
    assert_eq!(text, "3");
    one(&fdb_entry("match = { \"eth.dst\" = \"02:00:00:00:00:05\" }\naction = { fwd = { port = \"uplink\" } }"), codes::MISSING_ARG);
    let (_, text) = one(&fdb_entry("match = { \"eth.dst\" = \"02:00:00:00:00:05\" }\naction = { fwd = { port = \"uplink\", dmac = \"02:00:00:00:00:01\", smac = \"x\" } }"), codes::EXTRA_ARG);
    assert_eq!(text, "smac");
    let (_, text) = one(&fdb_entry("match = { \"eth.dst\" = \"02:00:00:00:00:05\" }\naction = { fwd = { port = \"upl1nk\", dmac = \"02:00:00:00:00:01\" } }"), codes::UNKNOWN_PORT);
    assert_eq!(text, "upl1nk");
    one(&fdb_entry("match = { \"eth.dst\" = \"02:00:00:00:00:05\" }\naction = { fwd = { port = 7, dmac = \"02:00:00:00:00:01\" } }"), codes::UNKNOWN_PORT);
    one(
        &fdb_entry("match = { \"eth.dst\" = \"02:00:00:00:00:05\" }"),
        codes::MISSING_KEY,
    );
    let (_, text) = one(
        &with(&format!(
            "{TABLE_FDB}[[entry.fbd]]\nmatch = {{}}\naction = \"drop_it\"\n"
        )),
        codes::UNKNOWN_TABLE,
    );
    assert_eq!(text, "fbd");
    // Duplicate entries.
    let e = format!("[[entry.fdb]]\nmatch = {{ \"eth.dst\" = \"02:00:00:00:00:05\" }}\n{fwd}\n");
    let (d, _) = one(&with(&format!("{TABLE_FDB}{e}{e}")), codes::DUPLICATE_ENTRY);
    assert_eq!(d.labels.len(), 2);
    // More entries than size (4).
    let many: String = (0..5)
        .map(|i| format!("[[entry.fdb]]\nmatch = {{ \"eth.dst\" = \"02:00:00:00:00:0{i}\" }}\naction = \"drop_it\"\n"))
        .collect();
    let (d, _) = one(
        &with(&format!("{TABLE_FDB}{many}")),
        codes::TOO_MANY_ENTRIES,
    );
    assert!(d.message.contains("5 entries") && d.message.contains("size is 4"));
    // Entries on a keyless table.
    one(&with("[[table]]\nname = \"k\"\nactions = [\"nop\"]\ndefault_action = \"nop\"\n[[entry.k]]\naction = \"nop\"\n"), codes::KEYLESS_ENTRY);
}

#[test]
fn priority_and_canonical_form_errors() {
    ok(&acl_entry(
        "match = { \"ipv4.src\" = \"10.0.0.0/8\" }\npriority = 1\naction = \"drop_it\"",
    ));
    one(
        &acl_entry("match = { \"ipv4.src\" = \"10.0.0.0/8\" }\naction = \"drop_it\""),
        codes::MISSING_PRIORITY,
    );
    let e = "[[entry.acl]]\nmatch = { \"ipv4.src\" = \"10.0.0.0/8\" }\npriority = 1\naction = \"drop_it\"\n[[entry.acl]]\nmatch = { \"ipv4.src\" = \"11.0.0.0/8\" }\npriority = 1\naction = \"drop_it\"\n";
    let (d, text) = one(&with(&format!("{TABLE_ACL}{e}")), codes::DUPLICATE_PRIORITY);
    assert_eq!(text, "1");
    assert_eq!(d.labels.len(), 2);
    // Same match, different priorities: still a duplicate.
    let e = "[[entry.acl]]\nmatch = { \"ipv4.src\" = \"10.0.0.0/8\" }\npriority = 1\naction = \"drop_it\"\n[[entry.acl]]\nmatch = { \"ipv4.src\" = \"10.0.0.0 &&& 255.0.0.0\", \"l4.dst_port\" = \"*\" }\npriority = 2\naction = \"nop\"\n";
    one(&with(&format!("{TABLE_ACL}{e}")), codes::DUPLICATE_ENTRY);
    one(
        &acl_entry("match = {}\npriority = -1\naction = \"drop_it\""),
        codes::TOO_WIDE,
    );
    one(
        &acl_entry("match = {}\npriority = 4294967296\naction = \"drop_it\""),
        codes::TOO_WIDE,
    );
    let (d, text) = one(&acl_entry("match = { \"ipv4.src\" = \"10.0.0.1 &&& 255.0.0.0\" }\npriority = 1\naction = \"drop_it\""), codes::BITS_OUTSIDE_MASK);
    assert_eq!(text, "10.0.0.1 &&& 255.0.0.0");
    assert!(
        d.notes[0].contains("10.0.0.0 &&& 255.0.0.0"),
        "{:?}",
        d.notes
    );
    let (_, text) = one(
        &acl_entry(
            "match = { \"l4.dst_port\" = \"1024..80\" }\npriority = 1\naction = \"drop_it\"",
        ),
        codes::EMPTY_RANGE,
    );
    assert_eq!(text, "1024..80");
    let (_, text) = one(
        &acl_entry(
            "match = { \"l4.dst_port\" = \"80..99999\" }\npriority = 1\naction = \"drop_it\"",
        ),
        codes::TOO_WIDE,
    );
    assert_eq!(text, "99999");
    let (_, text) = one(
        &acl_entry("match = { \"l4.dst_port\" = \"80-90\" }\npriority = 1\naction = \"drop_it\""),
        codes::BAD_LITERAL,
    );
    assert_eq!(text, "80-90");
    let (_, text) = one(
        &acl_entry(
            "match = { \"ipv4.src\" = \"10.0.0.0/40\" }\npriority = 1\naction = \"drop_it\"",
        ),
        codes::BAD_LITERAL,
    );
    assert_eq!(text, "40");
    let (_, text) = one(
        &acl_entry("match = { \"ipv4.src\" = \"10.0.0.300\" }\npriority = 1\naction = \"drop_it\""),
        codes::BAD_LITERAL,
    );
    assert_eq!(text, "10.0.0.300");
    let (_, _) = one(
        &acl_entry("match = { \"l4.dst_port\" = 99999999999 }\npriority = 1\naction = \"drop_it\""),
        codes::TOO_WIDE,
    );
    // Integers too large for TOML itself are a syntax error.
    assert_eq!(errs(&acl_entry("match = { \"l4.dst_port\" = 99999999999999999999999 }\npriority = 1\naction = \"drop_it\""))[0].code, codes::SYNTAX);
    // LPM host bits, on a table of its own.
    let lpm = "[[table]]\nname = \"r\"\nkeys = [{ field = \"ipv6.dst\", match = \"lpm\" }]\nactions = [\"nop\"]\ndefault_action = \"nop\"\n[[entry.r]]\nmatch = { \"ipv6.dst\" = \"2001:db8::1/32\" }\naction = \"nop\"\n";
    let (d, text) = one(&with(lpm), codes::HOST_BITS);
    assert_eq!(text, "2001:db8::1/32");
    assert!(
        d.message.contains("::1") && d.notes[0].contains("2001:db8::/32"),
        "{d:?}"
    );
    let m = ok(&with(&lpm.replace("2001:db8::1/32", "2001:db8::/32")));
    assert_eq!(
        m.tables[0].entries[0].matches,
        [KeyMatch::Lpm {
            value: 0x2001_0db8 << 96,
            prefix_len: 32
        }]
    );
}

#[test]
fn many_mistakes_are_all_reported_in_source_order() {
    let src = with(&format!(
        "{TABLE_FDB}[[table]]\nname = \"b\"\nkeys = [{{ field = \"ipv4.scr\", match = \"exact\" }}]\nactions = [\"nop\"]\ndefault_action = \"nop\"\n[action.y]\ndo = [\"drpo\"]\n[[entry.fdb]]\nmatch = {{ \"eth.dst\" = \"zz\" }}\naction = \"drop_it\"\n"
    ));
    let ds = errs(&src);
    let codes_found: Vec<&str> = ds.iter().map(|d| d.code).collect();
    assert_eq!(
        codes_found,
        [
            codes::UNKNOWN_FIELD,
            codes::UNKNOWN_PRIMITIVE,
            codes::BAD_LITERAL
        ]
    );
    let starts: Vec<usize> = ds.iter().map(|d| d.primary_span().unwrap().start).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn diagnostics_are_capped() {
    let body: String = (0..250).map(|i| format!("\"bad{i}\", ")).collect();
    let src = action_src("", &body);
    let ds = compile(&src).unwrap_err();
    assert_eq!(ds.len(), MAX_DIAGNOSTICS + 1);
    assert_eq!(ds.0.last().unwrap().code, codes::TOO_MANY);
}

#[test]
fn counts_over_their_limits_are_refused() {
    let body: String = (0..300).map(|_| "\"pop_vlan\", ").collect();
    let (d, text) = one(&action_src("", &body), codes::LIMIT);
    assert!(d.message.contains("300 primitives"), "{}", d.message);
    assert_eq!(text, "\"pop_vlan\"");
    let params: String = (0..40).map(|i| format!("p{i} = \"u8\", ")).collect();
    let (d, _) = one(&action_src(params.trim_end_matches(", "), ""), codes::LIMIT);
    assert!(d.message.contains("40 parameters"), "{}", d.message);
    let keys: String = (0..17)
        .map(|i| {
            format!(
                "{{ field = \"{}\", match = \"ternary\" }}, ",
                ir::Field::ALL[i].name()
            )
        })
        .collect();
    let src = with(&format!(
        "[[table]]\nname = \"t\"\nkeys = [{keys}]\nactions = [\"nop\"]\ndefault_action = \"nop\"\n"
    ));
    let (d, _) = one(&src, codes::LIMIT);
    assert!(d.message.contains("17 keys"), "{}", d.message);
}

#[test]
fn field_copies_and_their_errors() {
    // The P4 tutorials' MAC swap parses to a copy, in order.
    let m = ok(&action_src(
        r#"d = "mac""#,
        r#""set(eth.src, eth.dst)", "set(eth.dst, d)""#,
    ));
    let body = &m.actions.iter().find(|a| a.name == "x").unwrap().body;
    assert_eq!(
        body[0],
        ir::Primitive::Copy {
            field: ir::Field::EthSrc,
            from: ir::Field::EthDst
        }
    );
    assert!(matches!(body[1], ir::Primitive::Set { .. }));
    // Integers widen; read-only fields may be sources.
    ok(&action_src("", r#""set(l4.dst_port, ipv4.protocol)""#));
    ok(&action_src("", r#""set(ipv4.ttl, ipv4.dscp)""#));
    // Kinds and widths that do not fit, each pointing at the source.
    for (body, why) in [
        (r#""set(eth.src, ipv4.dst)""#, "is an IPv4 address"),
        (r#""set(ipv4.dst, ipv6.dst)""#, "is an IPv6 address"),
        (r#""set(ipv4.ttl, l4.src_port)""#, "would drop bits"),
        (r#""set(l4.src_port, meta.in_port)""#, "logical port"),
    ] {
        let (d, text) = one(&action_src("", body), codes::COPY_MISMATCH);
        let src_field = body.split(", ").nth(1).unwrap().trim_end_matches(")\"");
        assert_eq!(text, src_field, "{body}");
        assert!(d.labels[0].1.contains(why), "{body}: {:?}", d.labels);
    }
    // A misspelt source field is an unknown field, with a suggestion.
    let (d, text) = one(
        &action_src("", r#""set(eth.src, eth.dts)""#),
        codes::UNKNOWN_FIELD,
    );
    assert_eq!(text, "eth.dts");
    assert!(
        d.notes.iter().any(|n| n.contains("eth.dst")),
        "{:?}",
        d.notes
    );
    // Still written as a literal: an IPv4 address is not a field name.
    ok(&action_src("", r#""set(ipv4.dst, 10.0.0.1)""#));
}

pub const L3_ROUTER_ECMP: &str = include_str!("../../../examples/l3-router-ecmp.toml");

#[test]
fn l3_router_ecmp_lowers_groups_to_one_entry_per_bucket() {
    let m = ok(L3_ROUTER_ECMP);
    let ecmp = m.table_by_name("ecmp").unwrap();
    assert_eq!(ecmp.keys[0].field, Field::MetaGroup);
    let h = ecmp.keys[1].hash.as_ref().expect("a hash key");
    assert_eq!(ecmp.keys[1].field, Field::Hash);
    assert_eq!(h.buckets, 16);
    assert_eq!(
        h.fields,
        [
            Field::Ipv4Src,
            Field::Ipv4Dst,
            Field::Ipv4Protocol,
            Field::L4SrcPort,
            Field::L4DstPort
        ]
    );
    // Group 1 (3 members) then group 2 (2 members): bucket b runs member b mod n.
    assert_eq!(ecmp.entries.len(), 32);
    let nhop = |e: &ir::Entry| e.action.args[1];
    for (i, e) in ecmp.entries.iter().enumerate() {
        let (group, b) = (i / 16 + 1, i % 16);
        assert_eq!(
            e.matches,
            [KeyMatch::Exact(group as u128), KeyMatch::Exact(b as u128)]
        );
        let n = if group == 1 { 3 } else { 2 };
        assert_eq!(nhop(e), (b % n) as u128 + 2, "group {group} bucket {b}");
    }
    // What is printed back parses to the same key.
    assert_eq!(
        print::key(&ecmp.keys[1]),
        r#"{ hash = ["ipv4.src", "ipv4.dst", "ipv4.protocol", "l4.src_port", "l4.dst_port"], buckets = 16, match = "exact" }"#
    );
}

#[test]
fn hash_key_and_group_mistakes_are_spanned() {
    let base = |keys: &str, rest: &str| {
        format!(
            "[module]\nname = \"m\"\n[ports]\na = 1\n[[table]]\nname = \"t\"\nkeys = [{keys}]\n\
             actions = [\"f\"]\ndefault_action = {{ f = {{ p = \"a\" }} }}\n\
             [action.f]\nparams = {{ p = \"port\" }}\ndo = [\"forward(p)\"]\n{rest}"
        )
    };
    let hk = r#"{ hash = ["ipv4.src"], buckets = 4, match = "exact" }"#;
    let cases = [
        (base(r#"{ hash = ["ipv4.dscp"], buckets = 4, match = "exact" }"#, ""), codes::HASH_FIELD, "\"ipv4.dscp\""),
        (base(r#"{ hash = ["ipv4.src"], buckets = 3, match = "exact" }"#, ""), codes::HASH_BUCKETS, "3"),
        (base(r#"{ hash = ["ipv4.src"], buckets = 8192, match = "exact" }"#, ""), codes::HASH_BUCKETS, "8192"),
        (base(r#"{ hash = ["ipv4.src"], buckets = 4, match = "lpm" }"#, ""), codes::HASH_KEY, "\"lpm\""),
        (base(r#"{ hash = ["nope.x"], buckets = 4, match = "exact" }"#, ""), codes::UNKNOWN_FIELD, "\"nope.x\""),
        (base(hk, "[[entry.t]]\nmatch = { \"hash\" = 4 }\naction = { f = { p = \"a\" } }\n"), codes::BUCKET_RANGE, "4"),
        (base(hk, "[[group.t]]\nmembers = []\n"), codes::BAD_GROUP, "[]"),
        (base(r#"{ field = "ipv4.src", match = "exact" }"#, "[[group.t]]\nmembers = [\"f\"]\n"), codes::BAD_GROUP, "t"),
        (base(hk, "[[entry.t]]\nmatch = { \"hash\" = 1 }\naction = { f = { p = \"a\" } }\n[[group.t]]\nmembers = [{ f = { p = \"a\" } }]\n"), codes::DUPLICATE_ENTRY, "[[group.t]]"),
    ];
    for (src, code, at) in cases {
        let (d, text) = one(&src, code);
        assert!(
            text.starts_with(at),
            "{code}: label on {text:?}, want {at:?}\n{src}"
        );
        let _ = d;
    }
}

#[test]
fn set_meta_group_and_keys_on_it_lower() {
    let src = r#"
[module]
name = "g"
[[table]]
name = "a"
keys = [{ field = "ipv4.dst", match = "lpm" }]
actions = ["pick"]
default_action = { pick = { g = 0 } }
[[table]]
name = "b"
keys = [{ field = "meta.group", match = "ternary" }]
actions = ["copy"]
default_action = "copy"
[action.pick]
params = { g = "u16" }
do = ["set(meta.group, g)"]
[action.copy]
do = ["set(l4.src_port, meta.group)", "set(meta.group, l4.dst_port)"]
[[entry.b]]
match = { "meta.group" = "0x10 &&& 0xf0" }
priority = 1
action = "copy"
"#;
    let m = ok(src);
    assert_eq!(
        m.action_by_name("pick").unwrap().body,
        [Primitive::Set {
            field: Field::MetaGroup,
            value: Operand::Param(0)
        }]
    );
    assert_eq!(
        m.action_by_name("copy").unwrap().body[1],
        Primitive::Copy {
            field: Field::MetaGroup,
            from: Field::L4DstPort
        }
    );
    // meta.* is never a header a table needs.
    assert!(m.table_by_name("b").unwrap().required_headers().is_empty());
}
