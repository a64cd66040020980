//! What differs between P4 architectures, kept in one place (p4c keeps such
//! differences in a backend's `Target`).
//!
//! Everything else in `lower` is shared: headers, the parser's states, the
//! tables and the module's actions look the same on every architecture.

mod tna;
mod v1model;

use crate::ast::*;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// BMv2 `simple_switch` (p4c `p4c-bm2-ss`).
    V1model,
    /// Intel Tofino Native Architecture (p4c's Tofino backend, `bf-p4c`).
    Tna,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the backend keeps checksums right after a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStyle {
    /// RFC 1624 updates computed in the actions, word by word, exactly like
    /// the reference interpreter (so a wrong checksum stays as wrong).
    Incremental,
    /// The actions mark the checksum dirty and the deparser's `Checksum`
    /// extern recomputes it (IPv4) or finishes it from the parser's residual
    /// (TCP/UDP). See [`Arch::deviations`].
    Deparser,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::V1model, Arch::Tna];

    pub fn name(self) -> &'static str {
        match self {
            Arch::V1model => "v1model",
            Arch::Tna => "tna",
        }
    }

    /// `p4-v1model` / `p4-tna`, the names `offloadctl` uses for targets.
    pub fn target_name(self) -> &'static str {
        match self {
            Arch::V1model => "p4-v1model",
            Arch::Tna => "p4-tna",
        }
    }

    pub fn from_target_name(s: &str) -> Option<Arch> {
        Arch::ALL
            .into_iter()
            .find(|a| a.target_name() == s || a.name() == s)
    }

    /// Width of an egress/ingress port number.
    pub fn port_width(self) -> u32 {
        9
    }

    /// The P4 type used for ports (`PortId_t` is declared by tna.p4).
    pub fn port_type(self) -> &'static str {
        match self {
            Arch::V1model => "port_t",
            Arch::Tna => "PortId_t",
        }
    }

    /// The CPU port used for `pass` unless the caller chooses one.
    /// v1model: 510 (simple_switch drops on 511, its default `--drop-port`);
    /// TNA: 64, the PCIe CPU port of a 2-pipe Tofino (use 320 on 4-pipe parts).
    pub fn default_cpu_port(self) -> u32 {
        match self {
            Arch::V1model => 510,
            Arch::Tna => 64,
        }
    }

    /// A port number the target reserves (simple_switch drops packets sent to 511).
    pub fn reserved_port(self) -> Option<u32> {
        match self {
            Arch::V1model => Some(511),
            Arch::Tna => None,
        }
    }

    /// Checks that a port a packet may be forwarded to (`what` names it for
    /// the error) fits, is not reserved, and is not the CPU port.
    pub fn check_port(
        self,
        cpu_port: u32,
        port: u128,
        what: impl FnOnce() -> String,
    ) -> Result<u32, crate::P4Error> {
        let max = (1u32 << self.port_width()) - 1;
        let Some(p) = u32::try_from(port).ok().filter(|p| *p <= max) else {
            return Err(crate::P4Error::PortOutOfRange {
                what: what(),
                port: u32::try_from(port).unwrap_or(u32::MAX),
                arch: self,
                width: self.port_width(),
                max,
            });
        };
        if Some(p) == self.reserved_port() {
            return Err(crate::P4Error::ReservedPort {
                what: what(),
                port: p,
                arch: self,
                reason: "simple_switch drops packets sent to port 511",
            });
        }
        if p == cpu_port {
            return Err(crate::P4Error::ReservedPort {
                what: what(),
                port: p,
                arch: self,
                reason: "it is the CPU port, where `pass` sends packets (choose another CPU port or port map)",
            });
        }
        Ok(p)
    }

    pub fn checksum_style(self) -> ChecksumStyle {
        match self {
            Arch::V1model => ChecksumStyle::Incremental,
            Arch::Tna => ChecksumStyle::Deparser,
        }
    }

    /// `pop_vlan` needs a conditional; v1model writes it with `?:` inside the
    /// action, Tofino actions are single VLIW instructions, so TNA runs it
    /// (and what follows) after the table, in the control's apply block.
    pub fn defers_pop_vlan(self) -> bool {
        matches!(self, Arch::Tna)
    }

    /// One copy of each action per table: TNA direct counters are counted by
    /// `count()` calls inside the actions, so an action can serve one table only.
    pub fn per_table_actions(self) -> bool {
        matches!(self, Arch::Tna)
    }

    /// IPv4 options as one `varbit` field (v1model) or a stack of 32-bit words (TNA).
    pub fn ipv4_options_varbit(self) -> bool {
        matches!(self, Arch::V1model)
    }

    /// The names a runtime uses for a control-level object (`IngressImpl.acl`):
    /// BF Runtime prefixes them with the pipeline instance.
    pub fn runtime_prefix(self) -> &'static str {
        match self {
            Arch::V1model => "",
            Arch::Tna => "pipe.",
        }
    }

    /// Where the target differs from the reference semantics on purpose, as
    /// notes for the naming map and the generated source.
    pub fn deviations(self) -> Vec<&'static str> {
        match self {
            Arch::V1model => vec![],
            Arch::Tna => vec![
                "IPv4 header checksum: recomputed by the deparser's Checksum extern after a rewrite, so a packet that arrived with a wrong IPv4 checksum leaves with a correct one (the reference keeps it exactly as wrong)",
                "TCP/UDP checksum: finished in the deparser from the parser's residual, which preserves a wrong checksum like the reference except for the representation of zero (0x0000 vs 0xFFFF) in corner cases",
                "IPv4 with truncated options: Tofino's parser raises PARTIAL_HDR after the fixed header was extracted, so the fixed header stays valid (the reference treats the whole IPv4 header as invalid)",
                "truncated headers: like on BMv2, a packet whose parse stops early is assumed to go on into ingress with the headers parsed so far (Tofino's handling of parser errors was not verified)",
                "checked with p4test (p4c's front and mid end) against Tofino's tna.p4; not compiled with bf-p4c or run on Tofino hardware or its model",
            ],
        }
    }

    pub(crate) fn includes(self) -> Vec<Item> {
        match self {
            Arch::V1model => vec![
                Item::Include("core.p4".into()),
                Item::Include("v1model.p4".into()),
            ],
            Arch::Tna => vec![
                Item::Include("core.p4".into()),
                Item::Include("tna.p4".into()),
            ],
        }
    }

    /// Port typedef (v1model only; tna.p4 declares `PortId_t`).
    pub(crate) fn port_typedef(self) -> Option<Item> {
        match self {
            Arch::V1model => Some(Item::Typedef {
                name: "port_t".into(),
                width: 9,
            }),
            Arch::Tna => None,
        }
    }

    /// The ingress parser's parameters.
    pub(crate) fn parser_params(self) -> Vec<Param> {
        match self {
            Arch::V1model => v1model::parser_params(),
            Arch::Tna => tna::parser_params(),
        }
    }

    /// Parser locals (TNA: the checksum units).
    pub(crate) fn parser_locals(self, l4_residual: bool) -> Vec<Local> {
        match self {
            Arch::V1model => vec![],
            Arch::Tna => tna::parser_locals(l4_residual),
        }
    }

    /// The body of the parser's `start` state (before `transition parse_ethernet`).
    pub(crate) fn parser_start(self, meta_fields: &[FieldDecl]) -> Vec<Stmt> {
        match self {
            Arch::V1model => vec![],
            Arch::Tna => tna::parser_start(meta_fields),
        }
    }

    pub(crate) fn ingress_params(self) -> Vec<Param> {
        match self {
            Arch::V1model => v1model::ingress_params(),
            Arch::Tna => tna::ingress_params(),
        }
    }

    pub(crate) fn ingress_port(self) -> Expr {
        match self {
            Arch::V1model => e::path("standard_metadata.ingress_port"),
            Arch::Tna => e::path("ig_intr_md.ingress_port"),
        }
    }

    /// Statements that turn the final verdict into the architecture's forwarding decision.
    pub(crate) fn commit_verdict(self) -> Vec<Stmt> {
        match self {
            Arch::V1model => v1model::commit_verdict(),
            Arch::Tna => tna::commit_verdict(),
        }
    }

    /// The extern instance a hash key needs (TNA: one `Hash` per use).
    pub(crate) fn hash_local(self, name: &str) -> Option<Local> {
        match self {
            Arch::V1model => None,
            Arch::Tna => Some(Local::Instance {
                ty: "Hash<bit<32>>".into(),
                args: vec![Expr::Raw("HashAlgorithm_t.CRC32".into())],
                name: name.into(),
                comment: None,
            }),
        }
    }

    /// `out = crc32(fields) & (buckets - 1)` (`out` is 16 bits), over
    /// fields the caller knows to be valid (see `lower::hash_leaves`).
    /// v1model: `hash()`, which BMv2 computes as base + crc32 % max with
    /// zlib's CRC-32; TNA: `Hash.get()` of this leaf's instance.
    pub(crate) fn hash_stmt(
        self,
        out: &str,
        instance: &str,
        fields: Vec<Expr>,
        buckets: u32,
    ) -> Stmt {
        match self {
            Arch::V1model => Stmt::Call(e::call(
                "hash",
                vec![
                    e::path(out),
                    Expr::Raw("HashAlgorithm.crc32".into()),
                    e::int(16, 0),
                    Expr::List(fields),
                    e::int(32, u128::from(buckets)),
                ],
            )),
            Arch::Tna => Stmt::Assign(
                e::path(out),
                e::cast(
                    16,
                    e::bin(
                        "&",
                        e::call(format!("{instance}.get"), vec![Expr::List(fields)]),
                        e::int(32, u128::from(buckets - 1)),
                    ),
                ),
            ),
        }
    }

    /// A direct counter instance for a table and its table property.
    pub(crate) fn direct_counter(self, name: &str) -> Local {
        match self {
            Arch::V1model => Local::Instance {
                ty: "direct_counter".into(),
                args: vec![Expr::Raw("CounterType.packets_and_bytes".into())],
                name: name.into(),
                comment: None,
            },
            Arch::Tna => Local::Instance {
                ty: "DirectCounter<bit<64>>".into(),
                args: vec![Expr::Raw("CounterType_t.PACKETS_AND_BYTES".into())],
                name: name.into(),
                comment: None,
            },
        }
    }

    /// The one-slot counter that counts a table's misses (its default action).
    pub(crate) fn miss_counter(self, name: &str) -> Local {
        match self {
            Arch::V1model => Local::Instance {
                ty: "counter".into(),
                args: vec![
                    e::int(32, 1),
                    Expr::Raw("CounterType.packets_and_bytes".into()),
                ],
                name: name.into(),
                comment: None,
            },
            Arch::Tna => Local::Instance {
                ty: "Counter<bit<64>, bit<1>>".into(),
                args: vec![
                    e::num(1),
                    Expr::Raw("CounterType_t.PACKETS_AND_BYTES".into()),
                ],
                name: name.into(),
                comment: None,
            },
        }
    }

    pub(crate) fn miss_count(self, name: &str) -> Stmt {
        match self {
            Arch::V1model => Stmt::Call(e::call(format!("{name}.count"), vec![e::int(32, 0)])),
            Arch::Tna => Stmt::Call(e::call(format!("{name}.count"), vec![e::int(1, 0)])),
        }
    }

    /// A statement inside an action that makes a direct counter count (TNA only).
    pub(crate) fn direct_count_in_action(self, name: &str) -> Option<Stmt> {
        match self {
            Arch::V1model => None,
            Arch::Tna => Some(Stmt::Call(e::call(format!("{name}.count"), vec![]))),
        }
    }

    /// Everything after the ingress control: checksum/deparser/egress/package.
    pub(crate) fn tail(
        self,
        headers: &[(String, bool)],
        csum: &crate::lower::ChecksumUse,
    ) -> Vec<Item> {
        match self {
            Arch::V1model => v1model::tail(headers),
            Arch::Tna => tna::tail(headers, csum),
        }
    }

    /// Statements run in the parser state that extracted TCP/UDP (TNA residuals).
    pub(crate) fn l4_parse_hook(self, l4: &str, csum: &crate::lower::ChecksumUse) -> Vec<Stmt> {
        match self {
            Arch::V1model => vec![],
            Arch::Tna => tna::l4_parse_hook(l4, csum),
        }
    }

    /// Statements run in the IP parser states (TNA: subtract the pseudo-header addresses).
    pub(crate) fn l3_parse_hook(self, l3: &str, csum: &crate::lower::ChecksumUse) -> Vec<Stmt> {
        match self {
            Arch::V1model => vec![],
            Arch::Tna => tna::l3_parse_hook(l3, csum),
        }
    }

    /// End-of-ingress statements that tell the deparser which checksums to redo (TNA).
    pub(crate) fn checksum_flags(self, csum: &crate::lower::ChecksumUse) -> Vec<Stmt> {
        match self {
            Arch::V1model => vec![],
            Arch::Tna => tna::checksum_flags(csum),
        }
    }

    /// The select key that checks TCP's data offset before extracting it.
    pub(crate) fn tcp_data_offset_select(self) -> (Expr, Vec<SelectCase>) {
        match self {
            Arch::V1model => v1model::tcp_data_offset_select(),
            Arch::Tna => tna::tcp_data_offset_select(),
        }
    }

    /// Identifiers the architecture's include files declare (for the sanity check).
    pub fn builtins(self) -> &'static [&'static str] {
        match self {
            Arch::V1model => v1model::BUILTINS,
            Arch::Tna => tna::BUILTINS,
        }
    }
}
