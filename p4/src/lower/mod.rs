//! IR → P4 syntax tree, as a fixed list of steps:
//! `types` (headers, metadata), `parser`, `ingress` (actions, tables, the
//! apply block), then the architecture's `tail` (checksum blocks, deparser,
//! egress, package). Each step is a function of the module, the options and
//! the names chosen up front, so output is deterministic.
//!
//! How the module's meaning maps onto P4 (the reference interpreter in
//! `offload_core::semantics` is the definition):
//! - Header validity is P4 header validity: the parser only extracts a header
//!   when the reference would call it valid (version/IHL/data-offset checks
//!   use `lookahead` before `extract`), and a truncated header makes
//!   `extract` fail, which leaves it invalid and the rest of the frame payload.
//! - `meta.verdict` holds the pipeline's decision; a table is applied only
//!   while it is `VERDICT_CONTINUE` and every header its keys name is valid
//!   (the skip rule). After the last table the verdict, or the module's
//!   default, becomes the architecture's forwarding decision.
//! - `set` on an invalid header writes into that invalid header, which the
//!   deparser never emits: a no-op on the wire, as the reference says.
//! - Actions hold straight-line code. `dec_ttl`, `push_vlan` (and on TNA
//!   `pop_vlan`) need conditions, so they and everything after them in the
//!   action run right after the table in the apply block: the action records
//!   its arguments in `meta.arg_<action>_<param>` and sets `meta.run`.

mod ingress;
mod parser;
mod prims;

use crate::arch::{Arch, ChecksumStyle};
use crate::ast::*;
use crate::error::P4Error;
use crate::names::{self, Namespace, NamingMap};
use crate::Options;
use offload_core::ir::chain::Segment;
use offload_core::ir::{Action, ActionId, Field, Module, Primitive, TableId};
use std::collections::BTreeMap;

/// Which checksums the module's rewrites touch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumUse {
    pub ipv4: bool,
    pub l4: bool,
}

/// Names chosen for the module's objects, fixed before any code is built.
pub(crate) struct Names {
    pub tables: BTreeMap<TableId, String>,
    /// Per (table, action): the P4 action name.
    pub table_actions: BTreeMap<(TableId, ActionId), String>,
    /// Shared action names (v1model) or the module action's base name.
    pub actions: BTreeMap<ActionId, String>,
    /// Per action, its parameters' P4 names.
    pub params: BTreeMap<ActionId, Vec<String>>,
    /// `PORT_<NAME>` per logical port id.
    pub ports: BTreeMap<u16, String>,
    /// `RUN_<ACTION>` per action.
    pub runs: BTreeMap<ActionId, String>,
}

pub(crate) struct Ctx<'m> {
    pub module: &'m Module,
    pub arch: Arch,
    pub names: Names,
    pub csum: ChecksumUse,
    /// Logical port → switch port.
    pub port_map: BTreeMap<u16, u32>,
    pub cpu_port: u32,
    /// The modules of a service chain (one segment for a single module).
    pub segments: Vec<Segment>,
}

impl Ctx<'_> {
    /// Switch port of a logical port (identity unless mapped).
    pub fn switch_port(&self, logical: u16) -> u32 {
        self.port_map
            .get(&logical)
            .copied()
            .unwrap_or(u32::from(logical))
    }

    /// Index of the first primitive that must run after the table (see the module doc).
    pub fn split_point(&self, action: &Action) -> usize {
        action
            .body
            .iter()
            .position(|p| match p {
                Primitive::DecTtl | Primitive::PushVlan(_) => true,
                Primitive::PopVlan => self.arch.defers_pop_vlan(),
                _ => false,
            })
            .unwrap_or(action.body.len())
    }

    pub fn has_deferred(&self, action: &Action) -> bool {
        self.split_point(action) < action.body.len()
    }

    pub fn run_const(&self, action: ActionId) -> String {
        self.names.runs[&action].clone()
    }
}

pub(crate) fn lower(module: &Module, options: &Options) -> Result<(Program, NamingMap), P4Error> {
    let whole = Segment {
        module: module.name.clone(),
        tables: 0..module.tables.len(),
        actions: 0..module.actions.len(),
        default_verdict: module.default_verdict,
    };
    lower_segments(module, vec![whole], options)
}

/// Whether some action a table of `seg` can run has a primitive `pred` holds for.
fn segment_does(module: &Module, seg: &Segment, pred: fn(&Primitive) -> bool) -> bool {
    module.tables[seg.tables.clone()].iter().any(|t| {
        t.actions
            .iter()
            .chain(std::iter::once(&t.default_action.action))
            .any(|a| module.action(*a).body.iter().any(pred))
    })
}

/// VXLAN is refused by name (see [`P4Error::Vxlan`]): the first use found.
fn check_vxlan(module: &Module) -> Result<(), P4Error> {
    let req = module.requirements();
    for (used, what) in [
        (
            req.vxlan_parse,
            "VXLAN parsing (keys on vxlan.* or inner_* fields)",
        ),
        (req.vxlan_encap, "vxlan_encap"),
        (req.vxlan_decap, "vxlan_decap"),
    ] {
        if used {
            return Err(P4Error::Vxlan { what: what.into() });
        }
    }
    Ok(())
}

/// What one P4 pipeline cannot do for a service chain (see the crate's
/// chain notes in `compile_chain`): refused, naming the modules.
fn check_chain(module: &Module, segments: &[Segment]) -> Result<(), P4Error> {
    for (k, seg) in segments.iter().enumerate() {
        let Some(next) = segments.get(k + 1) else {
            break;
        };
        if segment_does(module, seg, |p| matches!(p, Primitive::PopVlan)) {
            return Err(P4Error::ChainReparse {
                module: seg.module.clone(),
                next: next.module.clone(),
            });
        }
        let resizes = |p: &Primitive| matches!(p, Primitive::PushVlan(_) | Primitive::PopVlan);
        if segment_does(module, seg, resizes) {
            if let Some(later) = segments[k + 1..]
                .iter()
                .find(|s| module.tables[s.tables.clone()].iter().any(|t| t.counters))
            {
                return Err(P4Error::ChainCounterBytes {
                    module: seg.module.clone(),
                    later: later.module.clone(),
                });
            }
        }
    }
    Ok(())
}

pub(crate) fn lower_segments(
    module: &Module,
    segments: Vec<Segment>,
    options: &Options,
) -> Result<(Program, NamingMap), P4Error> {
    check_chain(module, &segments)?;
    check_vxlan(module)?;
    let arch = options.arch;
    if let Some(t) = module.tables.iter().find(|t| t.meter.is_some()) {
        return Err(P4Error::Meter {
            table: t.name.clone(),
            arch,
        });
    }
    let max_port = (1u32 << arch.port_width()) - 1;
    let cpu_port = options
        .cpu_port
        .map(u32::from)
        .unwrap_or(arch.default_cpu_port());
    if cpu_port > max_port {
        return Err(P4Error::BadCpuPort {
            port: cpu_port,
            arch,
            reason: "it does not fit the port field",
        });
    }
    if Some(cpu_port) == arch.reserved_port() {
        return Err(P4Error::BadCpuPort {
            port: cpu_port,
            arch,
            reason: "simple_switch drops packets sent to port 511",
        });
    }
    let port_map: BTreeMap<u16, u32> = options
        .port_map
        .iter()
        .map(|(l, p)| (*l, u32::from(*p)))
        .collect();
    for port in &module.ports {
        let sp = port_map
            .get(&port.id.0)
            .copied()
            .unwrap_or(u32::from(port.id.0));
        arch.check_port(cpu_port, u128::from(sp), || {
            format!("logical port `{}` ({})", port.name, port.id.0)
        })?;
    }
    for t in &module.tables {
        if t.keys.is_empty() && !t.entries.is_empty() {
            return Err(P4Error::KeylessTableWithEntries {
                table: t.name.clone(),
            });
        }
    }
    let req = module.requirements();
    let csum = ChecksumUse {
        ipv4: req.ipv4_checksum_rewrite,
        l4: req.l4_checksum_rewrite,
    };
    let names = choose_names(module, arch)?;
    let ctx = Ctx {
        module,
        arch,
        names,
        csum,
        port_map,
        cpu_port,
        segments,
    };

    let mut items = Vec::new();
    let what = if ctx.segments.len() > 1 {
        format!(
            "the service chain {}",
            ctx.segments
                .iter()
                .map(|s| format!("\"{}\"", s.module))
                .collect::<Vec<_>>()
                .join(" -> ")
        )
    } else {
        format!("module \"{}\"", module.name)
    };
    items.push(Item::Comment(vec![
        format!(
            "P4_16 program for {what} on {} ({}).",
            arch,
            target_desc(arch)
        ),
        "Generated by offload (offload-p4); regenerate instead of editing.".into(),
        "The reference interpreter (offload_core::semantics) defines what it must do.".into(),
    ]));
    let devs = arch.deviations();
    if !devs.is_empty() {
        let mut lines =
            vec!["Known differences from the reference semantics on this target:".to_string()];
        lines.extend(devs.iter().map(|d| format!("- {d}")));
        items.push(Item::Comment(lines));
    }
    items.extend(arch.includes());
    items.extend(constants(&ctx));
    items.extend(types(&ctx));
    items.push(parser::parser(&ctx));
    items.push(ingress::ingress(&ctx)?);
    items.extend(arch.tail(&deparse_order(arch), &csum));

    let naming = naming_map(&ctx);
    Ok((Program { items }, naming))
}

fn target_desc(arch: Arch) -> &'static str {
    match arch {
        Arch::V1model => "BMv2 simple_switch, compile with p4c-bm2-ss",
        Arch::Tna => "Intel Tofino, compile with the p4c Tofino backend (bf-p4c)",
    }
}

fn choose_names(module: &Module, arch: Arch) -> Result<Names, P4Error> {
    // Tables, actions and their per-table copies share the control's namespace.
    let mut ns = Namespace::default();
    let mut tables = BTreeMap::new();
    for t in &module.tables {
        tables.insert(
            t.id,
            ns.claim(&format!("table {}", t.name), names::ident(&t.name))?,
        );
        if t.counters {
            let n = format!("{}_counter", names::ident(&t.name));
            ns.claim(&format!("counter of table {}", t.name), n)?;
            let n = format!("{}_miss_counter", names::ident(&t.name));
            ns.claim(&format!("miss counter of table {}", t.name), n)?;
        }
        if let (Some(h), Arch::Tna) = (t.hash_key(), arch) {
            for (i, (_, list)) in hash_leaves(h).1.iter().enumerate() {
                if !list.is_empty() {
                    let n = format!("{}_hash_{i}", names::ident(&t.name));
                    ns.claim(&format!("hash of table {}", t.name), n)?;
                }
            }
        }
    }
    let mut actions = BTreeMap::new();
    let mut params = BTreeMap::new();
    for a in &module.actions {
        let mut base = names::ident(&a.name);
        if !arch.per_table_actions() {
            // Tables and actions share the control's namespace: an action
            // named like a table becomes `<name>_action` (see the naming map).
            if ns.is_taken(&base) {
                base.push_str("_action");
            }
            base = ns.claim(&format!("action {}", a.name), base)?;
        }
        actions.insert(a.id, base);
        let mut pns = Namespace::default();
        let mut ps = Vec::new();
        for p in &a.params {
            ps.push(pns.claim(&p.name, names::ident(&p.name))?);
        }
        params.insert(a.id, ps);
    }
    let mut table_actions = BTreeMap::new();
    for t in &module.tables {
        let mut ids: Vec<ActionId> = t.actions.clone();
        if !ids.contains(&t.default_action.action) {
            ids.push(t.default_action.action);
        }
        for a in ids {
            let base = actions
                .get(&a)
                .cloned()
                .ok_or_else(|| P4Error::BrokenModule {
                    what: format!("table {} uses action #{}", t.name, a.0),
                })?;
            let name = if arch.per_table_actions() {
                let n = format!("{}_{}", tables[&t.id], base);
                ns.claim(&format!("action {} of table {}", base, t.name), n)?
            } else {
                base
            };
            table_actions.insert((t.id, a), name);
        }
    }
    let mut ports = BTreeMap::new();
    let mut pns = Namespace::default();
    for p in &module.ports {
        let n = format!(
            "PORT_{}",
            names::ident(&p.name).trim_end_matches('_').to_uppercase()
        );
        ports.insert(p.id.0, pns.claim(&p.name, n)?);
    }
    // Constants are upper case, so `a` and `A` would clash: refused, named.
    let mut runs = BTreeMap::new();
    let mut rns = Namespace::default();
    for a in &module.actions {
        let n = format!("RUN_{}", actions[&a.id].to_uppercase());
        runs.insert(a.id, rns.claim(&format!("action {}", a.name), n)?);
    }
    Ok(Names {
        tables,
        table_actions,
        actions,
        params,
        ports,
        runs,
    })
}

/// Header instances in wire (deparse) order, with whether each is a stack.
fn deparse_order(arch: Arch) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = vec![
        ("eth".into(), false),
        ("vlan".into(), false),
        ("vlan_inner".into(), false),
        ("ipv4".into(), false),
    ];
    if !arch.ipv4_options_varbit() {
        v.push(("ipv4_options".into(), true));
    }
    for h in ["ipv6", "tcp", "udp", "icmp", "icmpv6"] {
        v.push((h.into(), false));
    }
    v
}

pub(crate) const VERDICTS: [(&str, u128, &str); 5] = [
    ("VERDICT_CONTINUE", 0, "no stage has decided yet"),
    ("VERDICT_DROP", 1, "drop"),
    ("VERDICT_PASS", 2, "to the CPU port"),
    ("VERDICT_FORWARD", 3, "out of meta.out_port"),
    ("VERDICT_TX", 4, "back out of the ingress port"),
];

fn constants(ctx: &Ctx) -> Vec<Item> {
    let pt = ctx.arch.port_type();
    let mut items = Vec::new();
    if let Some(td) = ctx.arch.port_typedef() {
        items.push(td);
    }
    items.push(Item::Const {
        ty: Type::Named(pt.into()),
        name: "CPU_PORT".into(),
        value: e::int(9, u128::from(ctx.cpu_port)),
        comment: Some("`pass` sends packets here".into()),
    });
    for p in &ctx.module.ports {
        let sp = ctx.switch_port(p.id.0);
        items.push(Item::Const {
            ty: Type::Named(pt.into()),
            name: ctx.names.ports[&p.id.0].clone(),
            value: e::int(9, u128::from(sp)),
            comment: Some(format!("logical port `{}` (id {})", p.name, p.id.0)),
        });
    }
    for (name, v, what) in VERDICTS {
        items.push(Item::Const {
            ty: Type::Bit(3),
            name: name.into(),
            value: e::int(3, v),
            comment: Some(what.into()),
        });
    }
    let deferred: Vec<&Action> = ctx
        .module
        .actions
        .iter()
        .filter(|a| ctx.has_deferred(a))
        .collect();
    if !deferred.is_empty() {
        items.push(Item::Const {
            ty: Type::Bit(8),
            name: "RUN_NONE".into(),
            value: e::int(8, 0),
            comment: Some("meta.run: which action's second half runs after its table".into()),
        });
        for (i, a) in deferred.iter().enumerate() {
            items.push(Item::Const {
                ty: Type::Bit(8),
                name: ctx.run_const(a.id),
                value: e::int(8, i as u128 + 1),
                comment: Some(format!("action `{}`", a.name)),
            });
        }
    }
    items
}

fn header(name: &str, doc: &str, fields: Vec<FieldDecl>) -> Item {
    Item::Header(HeaderType {
        name: name.into(),
        doc: Some(doc.into()),
        fields,
    })
}

fn types(ctx: &Ctx) -> Vec<Item> {
    let b = Type::Bit;
    let f = FieldDecl::new;
    let fc = FieldDecl::commented;
    let mut items = vec![
        header(
            "ethernet_t",
            "Ethernet II; ether_type is the outer TPID when tagged.",
            vec![
                fc(b(48), "dst", "eth.dst"),
                fc(b(48), "src", "eth.src"),
                f(b(16), "ether_type"),
            ],
        ),
        header(
            "vlan_t",
            "An 802.1Q/802.1ad tag after its TPID: TCI and the next EtherType.",
            vec![
                fc(b(3), "pcp", "vlan.pcp"),
                f(b(1), "dei"),
                fc(b(12), "vid", "vlan.vid"),
                f(b(16), "ether_type"),
            ],
        ),
    ];
    let mut ipv4 = vec![
        f(b(4), "version"),
        f(b(4), "ihl"),
        fc(b(6), "dscp", "ipv4.dscp"),
        f(b(2), "ecn"),
        f(b(16), "total_len"),
        f(b(16), "identification"),
        f(b(3), "flags"),
        f(b(13), "frag_offset"),
        fc(b(8), "ttl", "ipv4.ttl"),
        fc(b(8), "protocol", "ipv4.protocol"),
        f(b(16), "hdr_checksum"),
        fc(b(32), "src", "ipv4.src"),
        fc(b(32), "dst", "ipv4.dst"),
    ];
    if ctx.arch.ipv4_options_varbit() {
        ipv4.push(fc(
            Type::Varbit(320),
            "options",
            "(IHL - 5) * 4 bytes, extracted with the header",
        ));
        items.push(header(
            "ipv4_t",
            "IPv4 with its options: one extract, so a truncated header stays invalid.",
            ipv4,
        ));
    } else {
        items.push(header(
            "ipv4_t",
            "IPv4 fixed header (options follow in ipv4_options).",
            ipv4,
        ));
        items.push(header(
            "ipv4_option_word_t",
            "One 32-bit word of IPv4 options.",
            vec![f(b(32), "word")],
        ));
    }
    items.extend([
        header(
            "ipv6_t",
            "IPv6 fixed header (extension headers are not walked).",
            vec![
                f(b(4), "version"),
                f(b(8), "traffic_class"),
                f(b(20), "flow_label"),
                f(b(16), "payload_len"),
                fc(b(8), "next_header", "ipv6.next_header"),
                fc(b(8), "hop_limit", "ipv6.hop_limit"),
                fc(b(128), "src", "ipv6.src"),
                fc(b(128), "dst", "ipv6.dst"),
            ],
        ),
        header(
            "tcp_t",
            "TCP without options (options stay payload).",
            vec![
                fc(b(16), "src_port", "l4.src_port"),
                fc(b(16), "dst_port", "l4.dst_port"),
                f(b(32), "seq_no"),
                f(b(32), "ack_no"),
                f(b(4), "data_offset"),
                f(b(4), "res"),
                fc(b(8), "flags", "tcp.flags (CWR..FIN)"),
                f(b(16), "window"),
                f(b(16), "checksum"),
                f(b(16), "urgent_ptr"),
            ],
        ),
        header(
            "udp_t",
            "UDP.",
            vec![
                fc(b(16), "src_port", "l4.src_port"),
                fc(b(16), "dst_port", "l4.dst_port"),
                f(b(16), "len"),
                f(b(16), "checksum"),
            ],
        ),
        header(
            "icmp_t",
            "ICMP and ICMPv6: the first 8 bytes.",
            vec![
                fc(b(8), "icmp_type", "icmp.type / icmpv6.type"),
                fc(b(8), "icmp_code", "icmp.code / icmpv6.code"),
                f(b(16), "checksum"),
                f(b(32), "rest"),
            ],
        ),
    ]);
    let mut hfields = vec![
        f(Type::Named("ethernet_t".into()), "eth"),
        fc(
            Type::Named("vlan_t".into()),
            "vlan",
            "outer tag: the module's `vlan`",
        ),
        f(Type::Named("vlan_t".into()), "vlan_inner"),
        f(Type::Named("ipv4_t".into()), "ipv4"),
    ];
    if !ctx.arch.ipv4_options_varbit() {
        hfields.push(f(
            Type::Stack("ipv4_option_word_t".into(), 10),
            "ipv4_options",
        ));
    }
    hfields.extend([
        f(Type::Named("ipv6_t".into()), "ipv6"),
        f(Type::Named("tcp_t".into()), "tcp"),
        f(Type::Named("udp_t".into()), "udp"),
        f(Type::Named("icmp_t".into()), "icmp"),
        f(Type::Named("icmp_t".into()), "icmpv6"),
    ]);
    items.push(Item::Struct(StructType {
        name: "headers_t".into(),
        doc: None,
        fields: hfields,
    }));
    items.push(Item::Struct(StructType {
        name: "metadata_t".into(),
        doc: Some("Pipeline state that is not packet bytes.".into()),
        fields: meta_fields(ctx),
    }));
    items
}

/// The fields of `metadata_t`, in declaration order.
pub(crate) fn meta_fields(ctx: &Ctx) -> Vec<FieldDecl> {
    let b = Type::Bit;
    let fc = FieldDecl::commented;
    let pt = Type::Named(ctx.arch.port_type().into());
    let mut v = vec![
        fc(b(16), "in_port", "meta.in_port: the logical ingress port"),
        fc(
            b(16),
            "eth_type",
            "eth.type: the EtherType after the VLAN tags",
        ),
        fc(b(16), "l4_src_port", "l4.src_port (TCP or UDP)"),
        fc(b(16), "l4_dst_port", "l4.dst_port (TCP or UDP)"),
        fc(b(3), "verdict", "VERDICT_*"),
        fc(pt.clone(), "out_port", "for VERDICT_FORWARD"),
    ];
    if uses_group(ctx.module) {
        v.push(fc(
            b(16),
            "group",
            "meta.group: 0 at ingress, set by actions",
        ));
    }
    if ctx.module.tables.iter().any(|t| t.hash_key().is_some()) {
        v.push(fc(
            b(16),
            "hash",
            "a hash key's bucket, computed before its table applies",
        ));
    }
    if ctx.module.actions.iter().any(|a| ctx.has_deferred(a)) {
        v.push(fc(
            b(8),
            "run",
            "RUN_*: the action whose second half is pending",
        ));
    }
    match ctx.arch.checksum_style() {
        ChecksumStyle::Incremental => {
            if ctx.csum.ipv4 || ctx.csum.l4 {
                v.push(fc(
                    b(16),
                    "old16",
                    "a field's value before a rewrite (checksum update)",
                ));
                v.push(fc(b(32), "old32", "an IPv4 address before a rewrite"));
                v.push(fc(b(128), "old128", "an IPv6 address before a rewrite"));
                v.push(fc(b(16), "csum", "a checksum being updated"));
                v.push(fc(
                    b(32),
                    "csum_sum",
                    "~checksum + the summed terms, before its folds",
                ));
                if ctx.csum.ipv4 {
                    v.push(fc(
                        b(32),
                        "ip_sum",
                        "RFC 1624 terms for the IPv4 header checksum (this block)",
                    ));
                }
                // IPv4 address rewrites touch both checksums.
                if ctx.csum.ipv4 && ctx.csum.l4 {
                    v.push(fc(
                        b(32),
                        "a4_sum",
                        "RFC 1624 terms of IPv4 address rewrites: IPv4 header and TCP/UDP",
                    ));
                }
                if ctx.csum.l4 {
                    v.push(fc(
                        b(32),
                        "l4_sum",
                        "RFC 1624 terms for the TCP/UDP checksum (this block)",
                    ));
                    v.push(fc(
                        b(32),
                        "a6_sum",
                        "RFC 1624 terms of IPv6 address rewrites: TCP/UDP",
                    ));
                }
            }
        }
        ChecksumStyle::Deparser => {
            if ctx.csum.ipv4 {
                v.push(fc(b(1), "ipv4_csum_dirty", "the IPv4 header was rewritten"));
            }
            if ctx.csum.l4 {
                v.push(fc(
                    b(1),
                    "l4_csum_dirty",
                    "addresses or ports were rewritten",
                ));
                v.push(fc(
                    b(16),
                    "l4_residual",
                    "TCP/UDP checksum residual from the parser",
                ));
                for l4 in ["tcp", "udp"] {
                    for l3 in ["ipv4", "ipv6"] {
                        v.push(fc(
                            b(1),
                            &format!("csum_{l4}_{l3}"),
                            "deparser: finish this checksum",
                        ));
                    }
                }
            }
        }
    }
    for a in &ctx.module.actions {
        if !ctx.has_deferred(a) {
            continue;
        }
        for i in prims::deferred_params(a, ctx.split_point(a)) {
            let name = format!(
                "arg_{}_{}",
                ctx.names.actions[&a.id], ctx.names.params[&a.id][i]
            );
            v.push(fc(
                prims::param_type(ctx, a.params[i].ty),
                &name,
                &format!("argument `{}` of `{}`", a.params[i].name, a.name),
            ));
        }
    }
    v
}

/// The P4 expression that reads a module field.
pub(crate) fn field_expr(f: Field) -> Expr {
    e::path(field_path(f))
}

pub(crate) fn field_path(f: Field) -> &'static str {
    match f {
        Field::MetaInPort => "meta.in_port",
        Field::EthDst => "hdr.eth.dst",
        Field::EthSrc => "hdr.eth.src",
        Field::EthType => "meta.eth_type",
        Field::VlanVid => "hdr.vlan.vid",
        Field::VlanPcp => "hdr.vlan.pcp",
        Field::Ipv4Src => "hdr.ipv4.src",
        Field::Ipv4Dst => "hdr.ipv4.dst",
        Field::Ipv4Protocol => "hdr.ipv4.protocol",
        Field::Ipv4Ttl => "hdr.ipv4.ttl",
        Field::Ipv4Dscp => "hdr.ipv4.dscp",
        Field::Ipv6Src => "hdr.ipv6.src",
        Field::Ipv6Dst => "hdr.ipv6.dst",
        Field::Ipv6NextHeader => "hdr.ipv6.next_header",
        Field::Ipv6HopLimit => "hdr.ipv6.hop_limit",
        Field::L4SrcPort => "meta.l4_src_port",
        Field::L4DstPort => "meta.l4_dst_port",
        Field::TcpFlags => "hdr.tcp.flags",
        Field::IcmpType => "hdr.icmp.icmp_type",
        Field::IcmpCode => "hdr.icmp.icmp_code",
        Field::Icmpv6Type => "hdr.icmpv6.icmp_type",
        Field::Icmpv6Code => "hdr.icmpv6.icmp_code",
        Field::MetaGroup => "meta.group",
        Field::Hash => "meta.hash",
        // Named for the naming map only: VXLAN modules are refused
        // (P4Error::Vxlan) before any P4 reads these.
        Field::VxlanVni => "hdr.vxlan.vni",
        Field::InnerEthDst => "hdr.inner_eth.dst",
        Field::InnerEthSrc => "hdr.inner_eth.src",
        Field::InnerEthType => "hdr.inner_eth.eth_type",
        Field::InnerIpv4Src => "hdr.inner_ipv4.src",
        Field::InnerIpv4Dst => "hdr.inner_ipv4.dst",
        Field::InnerIpv4Protocol => "hdr.inner_ipv4.protocol",
        Field::InnerIpv4Ttl => "hdr.inner_ipv4.ttl",
        Field::InnerIpv6Src => "hdr.inner_ipv6.src",
        Field::InnerIpv6Dst => "hdr.inner_ipv6.dst",
        Field::InnerIpv6NextHeader => "hdr.inner_ipv6.next_header",
        Field::InnerIpv6HopLimit => "hdr.inner_ipv6.hop_limit",
        Field::InnerL4SrcPort => "meta.inner_l4_src_port",
        Field::InnerL4DstPort => "meta.inner_l4_dst_port",
    }
}

/// One combination of valid P4 headers and the hash list it gives.
pub(crate) type HashLeaf = (Vec<&'static str>, Vec<Expr>);

/// A hash key's input, per combination of header validity: p4c-bm2-ss
/// copies the fields of a `hash()` list into temporaries (seen with p4c
/// 1.2.4.8), so BMv2's rule of leaving out invalid headers' fields never
/// applies to them, and what Tofino does is not known. So the generated code
/// decides validity itself: one `if` per P4 header the key reads (`l4.*`
/// reads `tcp` or `udp`), and in each leaf a hash over exactly the fields
/// of the valid headers, the reference's bytes on any target. Leaves: the
/// set of valid headers and the field list (empty: no bytes, bucket 0).
pub(crate) fn hash_leaves(h: &offload_core::ir::HashKey) -> (Vec<&'static str>, Vec<HashLeaf>) {
    use offload_core::ir::Header as H;
    // The P4 headers a field can come from, in first-use order.
    let atoms_of = |f: Field| -> Vec<&'static str> {
        match f.header() {
            H::L4 => vec!["tcp", "udp"],
            H::Eth => vec!["eth"],
            H::Ipv4 => vec!["ipv4"],
            H::Ipv6 => vec!["ipv6"],
            H::Tcp => vec!["tcp"],
            H::Udp => vec!["udp"],
            H::Icmp => vec!["icmp"],
            H::Icmpv6 => vec!["icmpv6"],
            H::Vlan => vec!["vlan"],
            H::Meta => vec![],
            // Refused before lowering (P4Error::Vxlan).
            H::Vxlan => vec!["vxlan"],
            H::InnerEth => vec!["inner_eth"],
            H::InnerIpv4 => vec!["inner_ipv4"],
            H::InnerIpv6 => vec!["inner_ipv6"],
            H::InnerL4 => vec!["inner_tcp", "inner_udp"],
        }
    };
    let mut atoms: Vec<&'static str> = Vec::new();
    for f in &h.fields {
        for a in atoms_of(*f) {
            if !atoms.contains(&a) {
                atoms.push(a);
            }
        }
    }
    // Headers that are never valid together (the parser takes one branch).
    let clash = |a: &str, b: &str| {
        let pair = |x: &str, y: &str| (a == x && b == y) || (a == y && b == x);
        pair("tcp", "udp")
            || pair("ipv4", "ipv6")
            || pair("icmp", "icmpv6")
            || ["tcp", "udp"]
                .iter()
                .any(|l| pair(l, "icmp") || pair(l, "icmpv6"))
            || pair("ipv4", "icmpv6")
            || pair("ipv6", "icmp")
    };
    let mut combos: Vec<Vec<&'static str>> = vec![Vec::new()];
    for a in &atoms {
        let mut next = Vec::new();
        for c in combos {
            if !c.iter().any(|x| clash(x, a)) {
                let mut with = c.clone();
                with.push(*a);
                next.push(with);
            }
            next.push(c);
        }
        combos = next;
    }
    let leaves = combos
        .into_iter()
        .map(|valid| {
            let mut list = Vec::new();
            for f in &h.fields {
                let port = match f {
                    Field::L4SrcPort => Some("src_port"),
                    Field::L4DstPort => Some("dst_port"),
                    _ => None,
                };
                match port {
                    Some(p) => {
                        if let Some(l4) = ["tcp", "udp"].into_iter().find(|x| valid.contains(x)) {
                            list.push(e::path(format!("hdr.{l4}.{p}")));
                        }
                    }
                    None => {
                        if atoms_of(*f).iter().all(|a| valid.contains(a)) {
                            list.push(field_expr(*f));
                        }
                    }
                }
            }
            (valid, list)
        })
        .collect();
    (atoms, leaves)
}

/// Whether the module reads or writes `meta.group`.
pub(crate) fn uses_group(module: &Module) -> bool {
    module
        .tables
        .iter()
        .any(|t| t.keys.iter().any(|k| k.field == Field::MetaGroup))
        || module.actions.iter().flat_map(|a| &a.body).any(|p| {
            matches!(
                p,
                Primitive::Set {
                    field: Field::MetaGroup,
                    ..
                }
            ) || matches!(p, Primitive::Copy { field, from }
                    if *field == Field::MetaGroup || *from == Field::MetaGroup)
        })
}

/// The P4 condition "this module header is valid".
pub(crate) fn valid_expr(h: offload_core::ir::Header) -> Expr {
    use offload_core::ir::Header as H;
    match h {
        H::Meta => Expr::Bool(true),
        H::Eth => e::valid("hdr.eth"),
        H::Vlan => e::valid("hdr.vlan"),
        H::Ipv4 => e::valid("hdr.ipv4"),
        H::Ipv6 => e::valid("hdr.ipv6"),
        H::L4 => e::bin("||", e::valid("hdr.tcp"), e::valid("hdr.udp")),
        H::Tcp => e::valid("hdr.tcp"),
        H::Udp => e::valid("hdr.udp"),
        H::Icmp => e::valid("hdr.icmp"),
        H::Icmpv6 => e::valid("hdr.icmpv6"),
        // Refused before lowering (P4Error::Vxlan).
        H::Vxlan => e::valid("hdr.vxlan"),
        H::InnerEth => e::valid("hdr.inner_eth"),
        H::InnerIpv4 => e::valid("hdr.inner_ipv4"),
        H::InnerIpv6 => e::valid("hdr.inner_ipv6"),
        H::InnerL4 => e::bin("||", e::valid("hdr.inner_tcp"), e::valid("hdr.inner_udp")),
    }
}

fn naming_map(ctx: &Ctx) -> NamingMap {
    use crate::names::*;
    let control = "IngressImpl".to_string();
    let rt = |n: &str| format!("{}{control}.{n}", ctx.arch.runtime_prefix());
    let tables = ctx
        .module
        .tables
        .iter()
        .map(|t| {
            let tn = ctx.names.tables[&t.id].clone();
            let mut acts: Vec<TableActionName> = Vec::new();
            let mut ids = t.actions.clone();
            if !ids.contains(&t.default_action.action) {
                ids.push(t.default_action.action);
            }
            for a in ids {
                let p4 = ctx.names.table_actions[&(t.id, a)].clone();
                acts.push(TableActionName {
                    module: ctx.module.action(a).name.clone(),
                    runtime: rt(&p4),
                    p4: format!("{control}.{p4}"),
                });
            }
            TableName {
                module: t.name.clone(),
                p4: format!("{control}.{tn}"),
                runtime: rt(&tn),
                keys: t
                    .keys
                    .iter()
                    .map(|k| KeyName {
                        field: k.field.name().to_string(),
                        p4: field_path(k.field).to_string(),
                        kind: k.kind.name().to_string(),
                        width: k.field.width(),
                    })
                    .collect(),
                actions: acts,
                direct_counter: t.counters.then(|| rt(&format!("{tn}_counter"))),
                miss_counter: t.counters.then(|| rt(&format!("{tn}_miss_counter"))),
                needs_priority: t.needs_priority(),
            }
        })
        .collect();
    let actions = ctx
        .module
        .actions
        .iter()
        .map(|a| ActionName {
            module: a.name.clone(),
            params: a
                .params
                .iter()
                .zip(&ctx.names.params[&a.id])
                .map(|(p, n)| ParamName {
                    module: p.name.clone(),
                    p4: n.clone(),
                    width: prims::param_width(ctx, p.ty),
                })
                .collect(),
        })
        .collect();
    NamingMap {
        module: ctx.module.name.clone(),
        arch: ctx.arch,
        control,
        cpu_port: ctx.cpu_port,
        ports: ctx
            .module
            .ports
            .iter()
            .map(|p| PortName {
                module: p.name.clone(),
                id: p.id.0,
                p4_const: ctx.names.ports[&p.id.0].clone(),
                switch_port: ctx.switch_port(p.id.0),
            })
            .collect(),
        fields: Field::ALL
            .iter()
            .filter(|f| **f != Field::MetaGroup || uses_group(ctx.module))
            // No P4 program holds them (VXLAN is refused by name).
            .filter(|f| !f.is_tunnel())
            .map(|f| FieldName {
                module: f.name().to_string(),
                p4: field_path(*f).to_string(),
                width: f.width(),
            })
            .collect(),
        tables,
        actions,
        deviations: ctx
            .arch
            .deviations()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}
