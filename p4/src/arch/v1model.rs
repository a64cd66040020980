//! v1model (BMv2 `simple_switch`): `standard_metadata`, `mark_to_drop`, the
//! six-block `V1Switch` package.
//!
//! Facts this relies on (BMv2 docs/simple_switch.md, p4c p4include/v1model.p4):
//! - a packet whose parser fails (e.g. `PacketTooShort` on a truncated header)
//!   is not dropped: ingress runs with the headers extracted so far, and the
//!   unparsed bytes stay payload, so header validity matches the reference;
//! - `egress_spec` starts at 0, so every packet gets an explicit decision;
//! - simple_switch drops a packet whose `egress_spec` is 511 (`mark_to_drop`).

use crate::ast::*;

pub(super) fn parser_params() -> Vec<Param> {
    vec![
        Param::new("", Type::Named("packet_in".into()), "pkt"),
        Param::new("out", Type::Named("headers_t".into()), "hdr"),
        Param::new("inout", Type::Named("metadata_t".into()), "meta"),
        Param::new(
            "inout",
            Type::Named("standard_metadata_t".into()),
            "standard_metadata",
        ),
    ]
}

pub(super) fn ingress_params() -> Vec<Param> {
    vec![
        Param::new("inout", Type::Named("headers_t".into()), "hdr"),
        Param::new("inout", Type::Named("metadata_t".into()), "meta"),
        Param::new(
            "inout",
            Type::Named("standard_metadata_t".into()),
            "standard_metadata",
        ),
    ]
}

pub(super) fn commit_verdict() -> Vec<Stmt> {
    let v = |n: &str| e::eq(e::path("meta.verdict"), e::path(n));
    vec![Stmt::If {
        cond: v("VERDICT_DROP"),
        then: vec![Stmt::Call(e::call(
            "mark_to_drop",
            vec![e::path("standard_metadata")],
        ))],
        otherwise: vec![Stmt::If {
            cond: v("VERDICT_PASS"),
            then: vec![Stmt::Assign(
                e::path("standard_metadata.egress_spec"),
                e::path("CPU_PORT"),
            )],
            otherwise: vec![Stmt::If {
                cond: v("VERDICT_FORWARD"),
                then: vec![Stmt::Assign(
                    e::path("standard_metadata.egress_spec"),
                    e::path("meta.out_port"),
                )],
                otherwise: vec![
                    Stmt::Comment("VERDICT_TX: back out of the ingress port".into()),
                    Stmt::Assign(
                        e::path("standard_metadata.egress_spec"),
                        e::path("standard_metadata.ingress_port"),
                    ),
                ],
            }],
        }],
    }]
}

/// `pkt.lookahead<bit<104>>()` covers the TCP header up to its data offset
/// (bits 7..4 of the 13th byte); masks on the whole lookahead keep the select
/// key a plain lookahead, which BMv2's parser supports directly.
pub(super) fn tcp_data_offset_select() -> (Expr, Vec<SelectCase>) {
    let key = e::call("pkt.lookahead<bit<104>>", vec![]);
    let cases = vec![
        SelectCase {
            patterns: vec![Pattern::Masked(e::hex(104, 0x00), e::hex(104, 0xc0))],
            next: "accept".into(),
            comment: Some("data offset 0..3: not a TCP header".into()),
        },
        SelectCase {
            patterns: vec![Pattern::Masked(e::hex(104, 0x40), e::hex(104, 0xf0))],
            next: "accept".into(),
            comment: Some("data offset 4: not a TCP header".into()),
        },
        SelectCase {
            patterns: vec![],
            next: "parse_tcp_header".into(),
            comment: None,
        },
    ];
    (key, cases)
}

/// Checksum verification, egress, checksum update (all empty: checksums are
/// updated incrementally by the actions), the deparser and the package.
pub(super) fn tail(headers: &[(String, bool)]) -> Vec<Item> {
    let hm = |dir: &'static str| {
        vec![
            Param::new(dir, Type::Named("headers_t".into()), "hdr"),
            Param::new("inout", Type::Named("metadata_t".into()), "meta"),
        ]
    };
    let empty = |name: &str, params: Vec<Param>| {
        Item::Control(Control {
            name: name.into(),
            params,
            locals: vec![],
            actions: vec![],
            tables: vec![],
            apply: vec![],
        })
    };
    let mut egress_params = hm("inout");
    egress_params.push(Param::new(
        "inout",
        Type::Named("standard_metadata_t".into()),
        "standard_metadata",
    ));
    let emits = headers
        .iter()
        .map(|(h, _)| Stmt::Call(e::call("pkt.emit", vec![e::path(format!("hdr.{h}"))])))
        .collect();
    vec![
        Item::Comment(vec![
            "Checksums are not verified: the module's semantics ignore them.".into(),
        ]),
        empty("VerifyChecksumImpl", hm("inout")),
        Item::Comment(vec![
            "Nothing happens at egress: the ingress control decides everything.".into(),
        ]),
        empty("EgressImpl", egress_params),
        Item::Comment(vec![
            "The actions keep checksums correct incrementally (RFC 1624), so nothing".into(),
            "is recomputed here: a checksum that arrived wrong stays exactly as wrong.".into(),
        ]),
        empty("ComputeChecksumImpl", hm("inout")),
        Item::Comment(vec![
            "Valid headers go out in wire order; unparsed bytes follow as payload.".into(),
        ]),
        Item::Control(Control {
            name: "DeparserImpl".into(),
            params: vec![
                Param::new("", Type::Named("packet_out".into()), "pkt"),
                Param::new("in", Type::Named("headers_t".into()), "hdr"),
            ],
            locals: vec![],
            actions: vec![],
            tables: vec![],
            apply: emits,
        }),
        Item::Package {
            ty: "V1Switch".into(),
            args: [
                "IngressParserImpl()",
                "VerifyChecksumImpl()",
                "IngressImpl()",
                "EgressImpl()",
                "ComputeChecksumImpl()",
                "DeparserImpl()",
            ]
            .iter()
            .map(|s| Expr::Raw(s.to_string()))
            .collect(),
            name: "main".into(),
        },
    ]
}

pub(super) const BUILTINS: &[&str] = &[
    "packet_in",
    "packet_out",
    "extract",
    "emit",
    "lookahead",
    "advance",
    "isValid",
    "setValid",
    "setInvalid",
    "apply",
    "hit",
    "miss",
    "count",
    "standard_metadata_t",
    "standard_metadata",
    "ingress_port",
    "egress_spec",
    "mark_to_drop",
    "direct_counter",
    "counter",
    "CounterType",
    "packets_and_bytes",
    "V1Switch",
    "NoAction",
    "hash",
    "HashAlgorithm",
    "crc32",
];
