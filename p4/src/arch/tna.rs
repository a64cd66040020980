//! TNA (Tofino): intrinsic metadata, `drop_ctl`, `ucast_egress_port`, the
//! `Checksum` extern in parser and deparser, `Pipeline` + `Switch`.
//!
//! Facts this relies on (bf-p4c p4include/tofino1_base.p4, tofino1_arch.p4,
//! tofino1_specs.p4): the ingress parser starts with the 64-bit port metadata
//! after `ingress_intrinsic_metadata_t` (`PORT_METADATA_SIZE`); `drop_ctl`
//! bit 0 disables unicast; `DirectCounter.count()` is called by each action of
//! its table; `Checksum.subtract_all_and_deposit` leaves a residual that
//! `Checksum.update` completes in the deparser.

use crate::ast::*;
use crate::lower::ChecksumUse;

pub(super) fn parser_params() -> Vec<Param> {
    vec![
        Param::new("", Type::Named("packet_in".into()), "pkt"),
        Param::new("out", Type::Named("headers_t".into()), "hdr"),
        Param::new("out", Type::Named("metadata_t".into()), "meta"),
        Param::new(
            "out",
            Type::Named("ingress_intrinsic_metadata_t".into()),
            "ig_intr_md",
        ),
    ]
}

pub(super) fn parser_locals(l4_residual: bool) -> Vec<Local> {
    if !l4_residual {
        return vec![];
    }
    vec![Local::Instance {
        ty: "Checksum".into(),
        args: vec![],
        name: "l4_checksum".into(),
        comment: Some(
            "TCP/UDP checksum residual: everything but the fields the module may rewrite.".into(),
        ),
    }]
}

/// Intrinsic metadata, port metadata, and explicit zeroes for our metadata
/// (Tofino does not promise zero-initialised metadata).
pub(super) fn parser_start(meta_fields: &[FieldDecl]) -> Vec<Stmt> {
    let mut v = vec![
        Stmt::Call(e::call("pkt.extract", vec![e::path("ig_intr_md")])),
        Stmt::Call(e::call("pkt.advance", vec![e::path("PORT_METADATA_SIZE")])),
    ];
    for f in meta_fields {
        if let Type::Bit(w) = f.ty {
            v.push(Stmt::Assign(
                e::path(format!("meta.{}", f.name)),
                e::int(w, 0),
            ));
        } else if let Type::Named(_) = f.ty {
            v.push(Stmt::Assign(
                e::path(format!("meta.{}", f.name)),
                e::int(9, 0),
            ));
        }
    }
    v
}

pub(super) fn ingress_params() -> Vec<Param> {
    vec![
        Param::new("inout", Type::Named("headers_t".into()), "hdr"),
        Param::new("inout", Type::Named("metadata_t".into()), "meta"),
        Param::new(
            "in",
            Type::Named("ingress_intrinsic_metadata_t".into()),
            "ig_intr_md",
        ),
        Param::new(
            "in",
            Type::Named("ingress_intrinsic_metadata_from_parser_t".into()),
            "ig_prsr_md",
        ),
        Param::new(
            "inout",
            Type::Named("ingress_intrinsic_metadata_for_deparser_t".into()),
            "ig_dprsr_md",
        ),
        Param::new(
            "inout",
            Type::Named("ingress_intrinsic_metadata_for_tm_t".into()),
            "ig_tm_md",
        ),
    ]
}

pub(super) fn commit_verdict() -> Vec<Stmt> {
    let v = |n: &str| e::eq(e::path("meta.verdict"), e::path(n));
    vec![Stmt::If {
        cond: v("VERDICT_DROP"),
        then: vec![Stmt::Assign(e::path("ig_dprsr_md.drop_ctl"), e::int(3, 1))],
        otherwise: vec![Stmt::If {
            cond: v("VERDICT_PASS"),
            then: vec![Stmt::Assign(
                e::path("ig_tm_md.ucast_egress_port"),
                e::path("CPU_PORT"),
            )],
            otherwise: vec![Stmt::If {
                cond: v("VERDICT_FORWARD"),
                then: vec![Stmt::Assign(
                    e::path("ig_tm_md.ucast_egress_port"),
                    e::path("meta.out_port"),
                )],
                otherwise: vec![
                    Stmt::Comment("VERDICT_TX: back out of the ingress port".into()),
                    Stmt::Assign(
                        e::path("ig_tm_md.ucast_egress_port"),
                        e::path("ig_intr_md.ingress_port"),
                    ),
                ],
            }],
        }],
    }]
}

/// Tofino matches parser selects on narrow match registers, so select on the
/// data-offset nibble of a 13-byte lookahead only.
pub(super) fn tcp_data_offset_select() -> (Expr, Vec<SelectCase>) {
    let key = e::slice(e::call("pkt.lookahead<bit<104>>", vec![]), 7, 4);
    let cases = vec![
        SelectCase {
            patterns: vec![Pattern::Masked(e::int(4, 0), e::hex(4, 0xc))],
            next: "accept".into(),
            comment: Some("data offset 0..3: not a TCP header".into()),
        },
        SelectCase {
            patterns: vec![Pattern::Value(e::int(4, 4))],
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

pub(super) fn l3_parse_hook(l3: &str, csum: &ChecksumUse) -> Vec<Stmt> {
    if !csum.l4 {
        return vec![];
    }
    vec![Stmt::Call(e::call(
        "l4_checksum.subtract",
        vec![Expr::List(vec![
            e::path(format!("hdr.{l3}.src")),
            e::path(format!("hdr.{l3}.dst")),
        ])],
    ))]
}

pub(super) fn l4_parse_hook(l4: &str, csum: &ChecksumUse) -> Vec<Stmt> {
    if !csum.l4 {
        return vec![];
    }
    vec![
        Stmt::Call(e::call(
            "l4_checksum.subtract",
            vec![Expr::List(vec![
                e::path(format!("hdr.{l4}.checksum")),
                e::path(format!("hdr.{l4}.src_port")),
                e::path(format!("hdr.{l4}.dst_port")),
            ])],
        )),
        Stmt::Call(e::call(
            "l4_checksum.subtract_all_and_deposit",
            vec![e::path("meta.l4_residual")],
        )),
    ]
}

/// The deparser may only test metadata flags, so decide here which checksum
/// each packet needs.
pub(super) fn checksum_flags(csum: &ChecksumUse) -> Vec<Stmt> {
    let mut out = Vec::new();
    if csum.l4 {
        let dirty = e::eq(e::path("meta.l4_csum_dirty"), e::int(1, 1));
        let flag = |l4: &str, l3: &str, extra: Option<Expr>| {
            let mut c = e::and(
                e::valid(&format!("hdr.{l4}")),
                e::valid(&format!("hdr.{l3}")),
            );
            if let Some(x) = extra {
                c = e::and(c, x);
            }
            Stmt::If {
                cond: c,
                then: vec![Stmt::Assign(
                    e::path(format!("meta.csum_{l4}_{l3}")),
                    e::int(1, 1),
                )],
                otherwise: vec![],
            }
        };
        let udp_nonzero = || Some(e::ne(e::path("hdr.udp.checksum"), e::int(16, 0)));
        out.push(Stmt::Comment(
            "UDP checksum 0 means \"none\" and stays 0.".into(),
        ));
        out.push(Stmt::If {
            cond: dirty,
            then: vec![
                flag("tcp", "ipv4", None),
                flag("tcp", "ipv6", None),
                flag("udp", "ipv4", udp_nonzero()),
                flag("udp", "ipv6", udp_nonzero()),
            ],
            otherwise: vec![],
        });
    }
    out
}

pub(super) fn tail(headers: &[(String, bool)], csum: &ChecksumUse) -> Vec<Item> {
    let mut locals = Vec::new();
    let mut apply = Vec::new();
    if csum.ipv4 {
        locals.push(Local::Instance {
            ty: "Checksum".into(),
            args: vec![],
            name: "ipv4_checksum".into(),
            comment: Some("Recomputes the IPv4 header checksum of a rewritten header.".into()),
        });
        let mut fields: Vec<Expr> = [
            "version",
            "ihl",
            "dscp",
            "ecn",
            "total_len",
            "identification",
            "flags",
            "frag_offset",
            "ttl",
            "protocol",
            "src",
            "dst",
        ]
        .iter()
        .map(|f| e::path(format!("hdr.ipv4.{f}")))
        .collect();
        for i in 0..10 {
            fields.push(e::path(format!("hdr.ipv4_options[{i}].word")));
        }
        apply.push(Stmt::If {
            cond: e::eq(e::path("meta.ipv4_csum_dirty"), e::int(1, 1)),
            then: vec![Stmt::Assign(
                e::path("hdr.ipv4.hdr_checksum"),
                e::call("ipv4_checksum.update", vec![Expr::List(fields)]),
            )],
            otherwise: vec![],
        });
    }
    if csum.l4 {
        locals.push(Local::Instance {
            ty: "Checksum".into(),
            args: vec![],
            name: "l4_checksum".into(),
            comment: Some("Finishes TCP/UDP checksums from the parser's residual.".into()),
        });
        for l4 in ["tcp", "udp"] {
            for l3 in ["ipv4", "ipv6"] {
                let mut args = vec![Expr::List(vec![
                    e::path(format!("hdr.{l3}.src")),
                    e::path(format!("hdr.{l3}.dst")),
                    e::path(format!("hdr.{l4}.src_port")),
                    e::path(format!("hdr.{l4}.dst_port")),
                    e::path("meta.l4_residual"),
                ])];
                if l4 == "udp" {
                    // A computed zero is sent as 0xFFFF.
                    args.push(Expr::Bool(true));
                }
                apply.push(Stmt::If {
                    cond: e::eq(e::path(format!("meta.csum_{l4}_{l3}")), e::int(1, 1)),
                    then: vec![Stmt::Assign(
                        e::path(format!("hdr.{l4}.checksum")),
                        e::call("l4_checksum.update", args),
                    )],
                    otherwise: vec![],
                });
            }
        }
    }
    for (h, _) in headers {
        apply.push(Stmt::Call(e::call(
            "pkt.emit",
            vec![e::path(format!("hdr.{h}"))],
        )));
    }
    let empty_struct = |n: &str| {
        Item::Struct(StructType {
            name: n.into(),
            doc: None,
            fields: vec![],
        })
    };
    vec![
        Item::Control(Control {
            name: "IngressDeparserImpl".into(),
            params: vec![
                Param::new("", Type::Named("packet_out".into()), "pkt"),
                Param::new("inout", Type::Named("headers_t".into()), "hdr"),
                Param::new("in", Type::Named("metadata_t".into()), "meta"),
                Param::new(
                    "in",
                    Type::Named("ingress_intrinsic_metadata_for_deparser_t".into()),
                    "ig_dprsr_md",
                ),
            ],
            locals,
            actions: vec![],
            tables: vec![],
            apply,
        }),
        Item::Comment(vec![
            "Egress does nothing: the ingress control decides everything.".into(),
        ]),
        empty_struct("egress_headers_t"),
        empty_struct("egress_metadata_t"),
        Item::Parser(Parser {
            name: "EgressParserImpl".into(),
            params: vec![
                Param::new("", Type::Named("packet_in".into()), "pkt"),
                Param::new("out", Type::Named("egress_headers_t".into()), "hdr"),
                Param::new("out", Type::Named("egress_metadata_t".into()), "meta"),
                Param::new(
                    "out",
                    Type::Named("egress_intrinsic_metadata_t".into()),
                    "eg_intr_md",
                ),
            ],
            locals: vec![],
            states: vec![State {
                name: "start".into(),
                doc: None,
                body: vec![Stmt::Call(e::call(
                    "pkt.extract",
                    vec![e::path("eg_intr_md")],
                ))],
                transition: Transition::To("accept".into()),
            }],
        }),
        Item::Control(Control {
            name: "EgressImpl".into(),
            params: vec![
                Param::new("inout", Type::Named("egress_headers_t".into()), "hdr"),
                Param::new("inout", Type::Named("egress_metadata_t".into()), "meta"),
                Param::new(
                    "in",
                    Type::Named("egress_intrinsic_metadata_t".into()),
                    "eg_intr_md",
                ),
                Param::new(
                    "in",
                    Type::Named("egress_intrinsic_metadata_from_parser_t".into()),
                    "eg_prsr_md",
                ),
                Param::new(
                    "inout",
                    Type::Named("egress_intrinsic_metadata_for_deparser_t".into()),
                    "eg_dprsr_md",
                ),
                Param::new(
                    "inout",
                    Type::Named("egress_intrinsic_metadata_for_output_port_t".into()),
                    "eg_oport_md",
                ),
            ],
            locals: vec![],
            actions: vec![],
            tables: vec![],
            apply: vec![],
        }),
        Item::Control(Control {
            name: "EgressDeparserImpl".into(),
            params: vec![
                Param::new("", Type::Named("packet_out".into()), "pkt"),
                Param::new("inout", Type::Named("egress_headers_t".into()), "hdr"),
                Param::new("in", Type::Named("egress_metadata_t".into()), "meta"),
                Param::new(
                    "in",
                    Type::Named("egress_intrinsic_metadata_for_deparser_t".into()),
                    "eg_dprsr_md",
                ),
            ],
            locals: vec![],
            actions: vec![],
            tables: vec![],
            apply: vec![Stmt::Call(e::call("pkt.emit", vec![e::path("hdr")]))],
        }),
        Item::Package {
            ty: "Pipeline".into(),
            args: [
                "IngressParserImpl()",
                "IngressImpl()",
                "IngressDeparserImpl()",
                "EgressParserImpl()",
                "EgressImpl()",
                "EgressDeparserImpl()",
            ]
            .iter()
            .map(|s| Expr::Raw(s.to_string()))
            .collect(),
            name: "pipe".into(),
        },
        Item::Package {
            ty: "Switch".into(),
            args: vec![e::path("pipe")],
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
    "PortId_t",
    "PORT_METADATA_SIZE",
    "ingress_intrinsic_metadata_t",
    "ingress_intrinsic_metadata_from_parser_t",
    "ingress_intrinsic_metadata_for_deparser_t",
    "ingress_intrinsic_metadata_for_tm_t",
    "egress_intrinsic_metadata_t",
    "egress_intrinsic_metadata_from_parser_t",
    "egress_intrinsic_metadata_for_deparser_t",
    "egress_intrinsic_metadata_for_output_port_t",
    "ingress_port",
    "ucast_egress_port",
    "drop_ctl",
    "parser_err",
    "Checksum",
    "Hash",
    "HashAlgorithm_t",
    "CRC32",
    "get",
    "subtract",
    "subtract_all_and_deposit",
    "update",
    "DirectCounter",
    "Counter",
    "CounterType_t",
    "PACKETS_AND_BYTES",
    "Pipeline",
    "Switch",
    "NoAction",
];
