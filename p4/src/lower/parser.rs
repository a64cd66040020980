//! The ingress parser: DESIGN §3's header rules as parser states.
//!
//! A header is extracted only when the reference would call it valid:
//! version/IHL and TCP's data offset are checked with `lookahead` first, and
//! IPv4 (with its options) is one extract per IHL value, so a truncated
//! header fails as a whole. A failing extract ends parsing; the header stays
//! invalid and the rest of the frame is payload (see `arch::v1model`).

use super::{meta_fields, Ctx};
use crate::ast::*;

const TPID_8021Q: u128 = 0x8100;
const TPID_8021AD: u128 = 0x88a8;
const ETHERTYPE_IPV4: u128 = 0x0800;
const ETHERTYPE_IPV6: u128 = 0x86dd;

fn case(v: Expr, next: &str, comment: Option<&str>) -> SelectCase {
    SelectCase {
        patterns: vec![Pattern::Value(v)],
        next: next.into(),
        comment: comment.map(String::from),
    }
}

fn default(next: &str) -> SelectCase {
    SelectCase {
        patterns: vec![],
        next: next.into(),
        comment: None,
    }
}

fn extract(h: &str) -> Stmt {
    Stmt::Call(e::call("pkt.extract", vec![e::path(h)]))
}

fn set(l: &str, r: &str) -> Stmt {
    Stmt::Assign(e::path(l), e::path(r))
}

fn state(name: &str, doc: Option<&str>, body: Vec<Stmt>, transition: Transition) -> State {
    State {
        name: name.into(),
        doc: doc.map(String::from),
        body,
        transition,
    }
}

/// The L3 dispatch shared by Ethernet and both tags.
fn l3_cases(tag_next: Option<&str>) -> Vec<SelectCase> {
    let mut v = Vec::new();
    if let Some(n) = tag_next {
        v.push(case(e::hex(16, TPID_8021Q), n, Some("802.1Q")));
        v.push(case(e::hex(16, TPID_8021AD), n, Some("802.1ad")));
    }
    v.push(case(e::hex(16, ETHERTYPE_IPV4), "parse_ipv4", None));
    v.push(case(e::hex(16, ETHERTYPE_IPV6), "parse_ipv6", None));
    v.push(default("accept"));
    v
}

pub(super) fn parser(ctx: &Ctx) -> Item {
    let arch = ctx.arch;
    let mut states = vec![state(
        "start",
        None,
        arch.parser_start(&meta_fields(ctx)),
        Transition::To("parse_ethernet".into()),
    )];
    states.push(state(
        "parse_ethernet",
        Some("Fewer than 14 bytes: extract fails and no header is valid."),
        vec![
            extract("hdr.eth"),
            set("meta.eth_type", "hdr.eth.ether_type"),
        ],
        Transition::Select {
            keys: vec![e::path("hdr.eth.ether_type")],
            cases: l3_cases(Some("parse_vlan")),
        },
    ));
    states.push(state(
        "parse_vlan",
        Some("Outer tag. eth.type becomes the EtherType after it."),
        vec![
            extract("hdr.vlan"),
            set("meta.eth_type", "hdr.vlan.ether_type"),
        ],
        Transition::Select {
            keys: vec![e::path("hdr.vlan.ether_type")],
            cases: l3_cases(Some("parse_vlan_inner")),
        },
    ));
    states.push(state(
        "parse_vlan_inner",
        Some("Second tag. A third tag stops parsing: eth.type is then its TPID."),
        vec![
            extract("hdr.vlan_inner"),
            set("meta.eth_type", "hdr.vlan_inner.ether_type"),
        ],
        Transition::Select {
            keys: vec![e::path("hdr.vlan_inner.ether_type")],
            cases: l3_cases(None),
        },
    ));

    // IPv4: version 4 and IHL >= 5, decided on the first byte before extracting.
    let mut ihl_cases = Vec::new();
    for ihl in 5u128..=15 {
        ihl_cases.push(case(
            e::hex(8, 0x40 | ihl),
            &format!("parse_ipv4_ihl{ihl}"),
            None,
        ));
    }
    ihl_cases.push(SelectCase {
        patterns: vec![],
        next: "accept".into(),
        comment: Some("not version 4, or IHL < 5: not a valid IPv4 header".into()),
    });
    states.push(state(
        "parse_ipv4",
        Some("Version and IHL come first; IHL decides how much to extract."),
        vec![],
        Transition::Select {
            keys: vec![e::call("pkt.lookahead<bit<8>>", vec![])],
            cases: ihl_cases,
        },
    ));
    for ihl in 5u32..=15 {
        let words = ihl - 5;
        let mut body = Vec::new();
        if arch.ipv4_options_varbit() {
            body.push(Stmt::Call(e::call(
                "pkt.extract",
                vec![e::path("hdr.ipv4"), e::int(32, u128::from(words * 32))],
            )));
        } else {
            body.push(extract("hdr.ipv4"));
            for i in 0..words {
                body.push(extract(&format!("hdr.ipv4_options[{i}]")));
            }
        }
        let doc = if words == 0 {
            "No options.".to_string()
        } else {
            format!("{} bytes of options.", words * 4)
        };
        states.push(state(
            &format!("parse_ipv4_ihl{ihl}"),
            Some(&doc),
            body,
            Transition::To("parse_ipv4_payload".into()),
        ));
    }
    let mut body = arch.l3_parse_hook("ipv4", &ctx.csum);
    body.insert(
        0,
        Stmt::Comment("A non-first fragment (offset != 0) has no L4 header.".into()),
    );
    let frag0 = |proto: u128, next: &str| SelectCase {
        patterns: vec![
            Pattern::Value(e::int(13, 0)),
            Pattern::Value(e::int(8, proto)),
        ],
        next: next.into(),
        comment: None,
    };
    states.push(state(
        "parse_ipv4_payload",
        None,
        body,
        Transition::Select {
            keys: vec![
                e::path("hdr.ipv4.frag_offset"),
                e::path("hdr.ipv4.protocol"),
            ],
            cases: vec![
                frag0(1, "parse_icmp"),
                frag0(6, "parse_tcp"),
                frag0(17, "parse_udp"),
                default("accept"),
            ],
        },
    ));

    states.push(state(
        "parse_ipv6",
        Some("Only version 6 is a valid IPv6 header."),
        vec![],
        Transition::Select {
            keys: vec![e::call("pkt.lookahead<bit<4>>", vec![])],
            cases: vec![
                case(e::int(4, 6), "parse_ipv6_header", None),
                default("accept"),
            ],
        },
    ));
    let mut body = vec![extract("hdr.ipv6")];
    body.extend(arch.l3_parse_hook("ipv6", &ctx.csum));
    states.push(state(
        "parse_ipv6_header",
        Some("L4 only when the fixed header's next header is TCP, UDP or ICMPv6."),
        body,
        Transition::Select {
            keys: vec![e::path("hdr.ipv6.next_header")],
            cases: vec![
                case(e::int(8, 6), "parse_tcp", None),
                case(e::int(8, 17), "parse_udp", None),
                case(e::int(8, 58), "parse_icmpv6", None),
                default("accept"),
            ],
        },
    ));

    let (key, cases) = arch.tcp_data_offset_select();
    states.push(state(
        "parse_tcp",
        Some("A TCP header needs 20 bytes and a data offset of at least 5."),
        vec![],
        Transition::Select {
            keys: vec![key],
            cases,
        },
    ));
    let mut body = vec![
        extract("hdr.tcp"),
        set("meta.l4_src_port", "hdr.tcp.src_port"),
        set("meta.l4_dst_port", "hdr.tcp.dst_port"),
    ];
    body.extend(arch.l4_parse_hook("tcp", &ctx.csum));
    states.push(state(
        "parse_tcp_header",
        None,
        body,
        Transition::To("accept".into()),
    ));
    let mut body = vec![
        extract("hdr.udp"),
        set("meta.l4_src_port", "hdr.udp.src_port"),
        set("meta.l4_dst_port", "hdr.udp.dst_port"),
    ];
    body.extend(arch.l4_parse_hook("udp", &ctx.csum));
    states.push(state(
        "parse_udp",
        None,
        body,
        Transition::To("accept".into()),
    ));
    states.push(state(
        "parse_icmp",
        None,
        vec![extract("hdr.icmp")],
        Transition::To("accept".into()),
    ));
    states.push(state(
        "parse_icmpv6",
        None,
        vec![extract("hdr.icmpv6")],
        Transition::To("accept".into()),
    ));

    Item::Parser(Parser {
        name: "IngressParserImpl".into(),
        params: arch.parser_params(),
        locals: arch.parser_locals(ctx.csum.l4),
        states,
    })
}
