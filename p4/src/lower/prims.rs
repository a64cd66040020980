//! The module's primitives as P4 statements.
//!
//! A primitive runs either inside a P4 action ([`Place::Action`], straight-line
//! code only) or in the apply block right after its table
//! ([`Place::Deferred`], where `if` is allowed); operands read the action's
//! parameters or their copies in `meta.arg_*` accordingly.

use super::Ctx;
use crate::arch::ChecksumStyle;
use crate::ast::*;
use crate::error::P4Error;
use offload_core::ir::{Action, Field, Operand, ParamType, Primitive};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Action,
    Deferred,
}

pub(super) fn param_width(ctx: &Ctx, ty: ParamType) -> u32 {
    match ty {
        ParamType::Port => ctx.arch.port_width(),
        other => other.width(),
    }
}

pub(super) fn param_type(ctx: &Ctx, ty: ParamType) -> Type {
    match ty {
        ParamType::Port => Type::Named(ctx.arch.port_type().into()),
        other => Type::Bit(other.width()),
    }
}

/// Parameters read by `body[split..]` (they are copied to metadata).
pub(super) fn deferred_params(action: &Action, split: usize) -> Vec<usize> {
    let mut v = Vec::new();
    for p in &action.body[split.min(action.body.len())..] {
        let op = match p {
            Primitive::Forward(op) | Primitive::PushVlan(op) => Some(op),
            Primitive::Set { value, .. } => Some(value),
            _ => None,
        };
        if let Some(Operand::Param(i)) = op {
            if !v.contains(i) && *i < action.params.len() {
                v.push(*i);
            }
        }
    }
    v.sort();
    v
}

pub(super) struct Lowerer<'c, 'm> {
    pub ctx: &'c Ctx<'m>,
    pub action: &'m Action,
    pub place: Place,
}

impl Lowerer<'_, '_> {
    fn param(&self, i: usize) -> Result<(Expr, ParamType), P4Error> {
        let p = self
            .action
            .params
            .get(i)
            .ok_or_else(|| P4Error::BrokenModule {
                what: format!("action {} has no parameter #{i}", self.action.name),
            })?;
        let name = &self.ctx.names.params[&self.action.id][i];
        let x = match self.place {
            Place::Action => e::path(name.clone()),
            Place::Deferred => e::path(format!(
                "meta.arg_{}_{}",
                self.ctx.names.actions[&self.action.id], name
            )),
        };
        Ok((x, p.ty))
    }

    /// An operand as a value of `width` bits.
    fn value(&self, op: Operand, width: u32) -> Result<Expr, P4Error> {
        Ok(match op {
            Operand::Const(c) => e::int(width, c & offload_core::ir::mask_of_width(width)),
            Operand::Param(i) => {
                let (x, ty) = self.param(i)?;
                if param_width(self.ctx, ty) == width {
                    x
                } else {
                    e::cast(width, x)
                }
            }
        })
    }

    fn port(&self, op: Operand) -> Result<Expr, P4Error> {
        let width = self.ctx.arch.port_width();
        match op {
            Operand::Const(c) => {
                let id = u16::try_from(c).map_err(|_| P4Error::BrokenModule {
                    what: format!("action {} forwards to port {c}", self.action.name),
                })?;
                if let Some(name) = self.ctx.names.ports.get(&id) {
                    return Ok(e::path(name.clone()));
                }
                let sp = self.ctx.arch.check_port(
                    self.ctx.cpu_port,
                    u128::from(self.ctx.switch_port(id)),
                    || format!("forward({c}) in action `{}`", self.action.name),
                )?;
                Ok(e::int(width, u128::from(sp)))
            }
            Operand::Param(_) => self.value(op, width),
        }
    }

    /// The statements of a block of primitives (an action body, or the
    /// deferred rest of one). Checksum terms are summed while it runs and
    /// applied once at its end ([`csum_flush`]).
    pub fn lower(&self, prims: &[Primitive]) -> Result<Vec<Stmt>, P4Error> {
        let body = self.lower_seq(prims)?;
        let t = if self.ctx.arch.checksum_style() == ChecksumStyle::Incremental {
            csum_touched(prims)
        } else {
            Touched::default()
        };
        if !t.any() {
            return Ok(body);
        }
        let mut out = vec![Stmt::Comment(
            "checksums: the RFC 1624 terms of every rewrite below are summed, then applied once"
                .into(),
        )];
        for (used, acc) in [
            (t.ip, "meta.ip_sum"),
            (t.l4, "meta.l4_sum"),
            (t.a4, "meta.a4_sum"),
            (t.a6, "meta.a6_sum"),
        ] {
            if used {
                out.push(Stmt::Assign(e::path(acc), e::int(32, 0)));
            }
        }
        out.extend(body);
        out.extend(csum_flush(t));
        Ok(out)
    }

    fn lower_seq(&self, prims: &[Primitive]) -> Result<Vec<Stmt>, P4Error> {
        let mut out = Vec::new();
        for (i, p) in prims.iter().enumerate() {
            match p {
                Primitive::DecTtl => {
                    out.extend(self.dec_ttl()?);
                    let rest = &prims[i + 1..];
                    if !rest.is_empty() {
                        out.push(Stmt::If {
                            cond: e::eq(e::path("meta.verdict"), e::path("VERDICT_CONTINUE")),
                            then: self.lower_seq(rest)?,
                            otherwise: vec![],
                        });
                    }
                    return Ok(out);
                }
                _ => out.extend(self.prim(p)?),
            }
        }
        Ok(out)
    }

    fn verdict(name: &str) -> Stmt {
        Stmt::Assign(e::path("meta.verdict"), e::path(name))
    }

    fn prim(&self, p: &Primitive) -> Result<Vec<Stmt>, P4Error> {
        Ok(match p {
            Primitive::VxlanEncap(_) => {
                return Err(P4Error::Vxlan {
                    what: "vxlan_encap".into(),
                })
            }
            Primitive::VxlanDecap => {
                return Err(P4Error::Vxlan {
                    what: "vxlan_decap".into(),
                })
            }
            Primitive::Drop => vec![Self::verdict("VERDICT_DROP")],
            Primitive::Pass => vec![Self::verdict("VERDICT_PASS")],
            Primitive::Tx => vec![Self::verdict("VERDICT_TX")],
            Primitive::Forward(op) => vec![
                Stmt::Assign(e::path("meta.out_port"), self.port(*op)?),
                Self::verdict("VERDICT_FORWARD"),
            ],
            Primitive::Set { field, value } => {
                let v = self.value(*value, field.width())?;
                self.set(*field, v)
            }
            Primitive::Copy { field, from } => self.copy(*field, *from),
            Primitive::DecTtl => self.dec_ttl()?,
            Primitive::PushVlan(op) => self.push_vlan(*op)?,
            Primitive::PopVlan => self.pop_vlan(),
        })
    }

    fn dec_ttl(&self) -> Result<Vec<Stmt>, P4Error> {
        let branch = |f: Field| {
            let cur = super::field_expr(f);
            Stmt::If {
                cond: e::bin("<=", cur.clone(), e::int(8, 1)),
                then: vec![Self::verdict("VERDICT_PASS")],
                otherwise: self.set(f, e::bin("-", cur, e::int(8, 1))),
            }
        };
        Ok(vec![
            Stmt::Comment(
                "dec_ttl: at TTL/hop limit <= 1 the packet goes to the CPU port unchanged".into(),
            ),
            Stmt::If {
                cond: e::valid("hdr.ipv4"),
                then: vec![branch(Field::Ipv4Ttl)],
                otherwise: vec![Stmt::If {
                    cond: e::valid("hdr.ipv6"),
                    then: vec![branch(Field::Ipv6HopLimit)],
                    otherwise: vec![],
                }],
            },
        ])
    }

    fn push_vlan(&self, op: Operand) -> Result<Vec<Stmt>, P4Error> {
        let vid = self.value(op, 12)?;
        let a = |l: &str, r: Expr| Stmt::Assign(e::path(l), r);
        Ok(vec![
            Stmt::Comment(
                "push_vlan: a new outer 802.1Q tag (PCP 0, DEI 0); no-op with two tags".into(),
            ),
            Stmt::If {
                cond: e::and(e::valid("hdr.eth"), e::not(e::valid("hdr.vlan_inner"))),
                then: vec![
                    a("hdr.vlan_inner", e::path("hdr.vlan")),
                    Stmt::Call(e::call("hdr.vlan.setValid", vec![])),
                    a("hdr.vlan.pcp", e::int(3, 0)),
                    a("hdr.vlan.dei", e::int(1, 0)),
                    a("hdr.vlan.vid", vid),
                    a("hdr.vlan.ether_type", e::path("hdr.eth.ether_type")),
                    a("hdr.eth.ether_type", e::hex(16, 0x8100)),
                ],
                otherwise: vec![],
            },
        ])
    }

    fn pop_vlan(&self) -> Vec<Stmt> {
        let comment = Stmt::Comment("pop_vlan: remove the outer tag (no-op without one)".into());
        match self.place {
            // Straight-line form: with no tag, vlan_inner is invalid too and the
            // copies below change nothing.
            Place::Action => vec![
                comment,
                Stmt::Assign(
                    e::path("hdr.eth.ether_type"),
                    e::cond(
                        e::valid("hdr.vlan"),
                        e::path("hdr.vlan.ether_type"),
                        e::path("hdr.eth.ether_type"),
                    ),
                ),
                Stmt::Assign(e::path("hdr.vlan"), e::path("hdr.vlan_inner")),
                Stmt::Call(e::call("hdr.vlan_inner.setInvalid", vec![])),
            ],
            Place::Deferred => vec![
                comment,
                Stmt::If {
                    cond: e::valid("hdr.vlan"),
                    then: vec![
                        Stmt::Assign(
                            e::path("hdr.eth.ether_type"),
                            e::path("hdr.vlan.ether_type"),
                        ),
                        Stmt::Assign(e::path("hdr.vlan"), e::path("hdr.vlan_inner")),
                        Stmt::Call(e::call("hdr.vlan_inner.setInvalid", vec![])),
                    ],
                    otherwise: vec![],
                },
            ],
        }
    }

    /// `set(field, from)`: `from`'s current value (straight-line code reads
    /// what earlier statements wrote, as the reference does), zero-extended.
    /// Without a valid source header the field is written with its own value:
    /// no change, and no checksum term (old and new words are equal).
    fn copy(&self, field: Field, from: Field) -> Vec<Stmt> {
        let mut v = super::field_expr(from);
        if from.width() != field.width() {
            v = e::cast(field.width(), v);
        }
        if from.header() != offload_core::ir::Header::Meta && from.header() != field.header() {
            v = e::cond(
                super::valid_expr(from.header()),
                v,
                super::field_expr(field),
            );
        }
        self.set(field, v)
    }

    /// `set(field, v)`: the write, and the checksum updates the reference does.
    fn set(&self, field: Field, v: Expr) -> Vec<Stmt> {
        let a = |l: &str, r: Expr| Stmt::Assign(e::path(l), r);
        let p = |s: &str| e::path(s);
        let incremental = self.ctx.arch.checksum_style() == ChecksumStyle::Incremental;
        let mut out = vec![Stmt::Comment(format!("set({}, ...)", field.name()))];
        match field {
            Field::L4SrcPort | Field::L4DstPort => {
                let port = if field == Field::L4SrcPort {
                    "src_port"
                } else {
                    "dst_port"
                };
                let m = format!("meta.l4_{port}");
                if incremental {
                    out.push(a("meta.old16", p(&m)));
                }
                // Only one of TCP/UDP is valid; the write into the other one
                // is never emitted.
                out.push(a(&format!("hdr.tcp.{port}"), v.clone()));
                out.push(a(&format!("hdr.udp.{port}"), v.clone()));
                out.push(a(&m, v));
                if incremental {
                    let words = vec![(p("meta.old16"), p(&m))];
                    out.extend(csum_terms("meta.l4_sum", &words));
                } else {
                    out.push(a("meta.l4_csum_dirty", e::int(1, 1)));
                }
            }
            Field::Ipv4Src | Field::Ipv4Dst | Field::Ipv6Src | Field::Ipv6Dst => {
                let (l3, w) = if matches!(field, Field::Ipv4Src | Field::Ipv4Dst) {
                    ("ipv4", 32)
                } else {
                    ("ipv6", 128)
                };
                let f = super::field_path(field);
                let old = format!("meta.old{w}");
                if incremental {
                    out.push(a(&old, p(f)));
                }
                out.push(a(f, v));
                if incremental {
                    let words: Vec<(Expr, Expr)> = (0..w / 16)
                        .rev()
                        .map(|k| {
                            (
                                e::slice(p(&old), k * 16 + 15, k * 16),
                                e::slice(p(f), k * 16 + 15, k * 16),
                            )
                        })
                        .collect();
                    // Summed once per family; the flush adds them to each
                    // checksum they cover (see `csum_flush`).
                    let acc = if l3 == "ipv4" {
                        "meta.a4_sum"
                    } else {
                        "meta.a6_sum"
                    };
                    out.extend(csum_terms(acc, &words));
                } else {
                    if l3 == "ipv4" {
                        out.push(a("meta.ipv4_csum_dirty", e::int(1, 1)));
                    }
                    out.push(a("meta.l4_csum_dirty", e::int(1, 1)));
                }
            }
            Field::Ipv4Ttl | Field::Ipv4Dscp => {
                let word = || {
                    if field == Field::Ipv4Ttl {
                        e::bin("++", p("hdr.ipv4.ttl"), p("hdr.ipv4.protocol"))
                    } else {
                        e::bin(
                            "++",
                            e::bin(
                                "++",
                                e::bin("++", p("hdr.ipv4.version"), p("hdr.ipv4.ihl")),
                                p("hdr.ipv4.dscp"),
                            ),
                            p("hdr.ipv4.ecn"),
                        )
                    }
                };
                if incremental {
                    out.push(a("meta.old16", word()));
                }
                out.push(a(super::field_path(field), v));
                if incremental {
                    out.extend(csum_terms("meta.ip_sum", &[(p("meta.old16"), word())]));
                } else {
                    out.push(a("meta.ipv4_csum_dirty", e::int(1, 1)));
                }
            }
            _ => out.push(a(super::field_path(field), v)),
        }
        out
    }
}

/// Which accumulators a block of primitives adds terms to.
#[derive(Debug, Default, Clone, Copy)]
struct Touched {
    /// `meta.ip_sum`: TTL and DSCP words (IPv4 header checksum only).
    ip: bool,
    /// `meta.l4_sum`: transport ports (TCP/UDP checksum only).
    l4: bool,
    /// `meta.a4_sum`: IPv4 addresses (both checksums, TCP/UDP when IPv4 is valid).
    a4: bool,
    /// `meta.a6_sum`: IPv6 addresses (TCP/UDP when IPv6 is valid).
    a6: bool,
}

impl Touched {
    fn any(self) -> bool {
        self.ip || self.l4 || self.a4 || self.a6
    }
}

fn csum_touched(prims: &[Primitive]) -> Touched {
    let mut t = Touched::default();
    for p in prims {
        match p {
            Primitive::DecTtl => t.ip = true,
            Primitive::Set { field, .. } | Primitive::Copy { field, .. } => match field {
                Field::Ipv4Ttl | Field::Ipv4Dscp => t.ip = true,
                Field::Ipv4Src | Field::Ipv4Dst => t.a4 = true,
                Field::Ipv6Src | Field::Ipv6Dst => t.a6 = true,
                Field::L4SrcPort | Field::L4DstPort => t.l4 = true,
                _ => {}
            },
            _ => {}
        }
    }
    t
}

/// RFC 1624 eqn. 3 for a changed 16-bit word `o` → `n` contributes
/// `~o + n` to the ones' complement sum `~HC + ...` (HC' is its
/// complement); an unchanged word contributes nothing, like the reference.
/// One statement per word adds that term to `acc` (one of the [`Touched`]
/// accumulators), read at the time of the rewrite.
///
/// Why sums and one update per block (issue 11): p4c's local copy
/// propagation substitutes each assignment into the statements that read
/// it, so a chain `c = f(c, ..)` whose step reads `c` more than once (a
/// fold reads its sum twice) grows exponentially: p4c-bm2-ss's time grew
/// ~4.5x per chained update, past 120 s for one IPv6 address. Here every
/// statement reads the accumulator once, so the code p4c sees grows
/// linearly with the words. p4c's time still follows the size of the code
/// (every pass re-types the whole program), so each word's term is written
/// once: address terms go to a per-family sum that the flush adds to each
/// checksum it covers, instead of once per checksum with a validity gate.
fn csum_terms(acc: &str, words: &[(Expr, Expr)]) -> Vec<Stmt> {
    words
        .iter()
        .map(|(o, n)| {
            let skip = e::eq(o.clone(), n.clone());
            Stmt::Assign(
                e::path(acc),
                e::bin(
                    "+",
                    e::path(acc),
                    e::cond(
                        skip,
                        e::int(32, 0),
                        e::bin(
                            "+",
                            e::cast(32, e::compl(o.clone())),
                            e::cast(32, n.clone()),
                        ),
                    ),
                ),
            )
        })
        .collect()
}

/// `meta.csum_sum = ~hc + acc`, folded twice (end-around carry; two folds
/// suffice for any 32-bit sum), complemented: the checksum after every
/// summed rewrite. Summing all terms first and folding once gives exactly
/// what updating word by word gives (`wire::checksum::update_words`, as the
/// reference does): both are the ones' complement sum, zero only when
/// every part is zero.
fn csum_apply(checksum: Expr, acc: Expr) -> Vec<Stmt> {
    let s = || e::path("meta.csum_sum");
    let mut out = vec![Stmt::Assign(
        s(),
        e::bin("+", e::cast(32, e::compl(checksum)), acc),
    )];
    for _ in 0..2 {
        out.push(Stmt::Assign(
            s(),
            e::bin(
                "+",
                e::bin("&", s(), e::hex(32, 0xffff)),
                e::bin(">>", s(), e::num(16)),
            ),
        ));
    }
    out
}

/// The end of a block: the summed terms applied to each checksum they
/// touch. With nothing summed a checksum stays as it was (~~HC = HC).
/// The transport checksum covers the pseudo-header of the packet's own IP
/// version only, so each family's address terms count there only when its
/// header is valid (a write into the other, invalid header changes
/// nothing). TCP and UDP share one computation from whichever checksum is
/// present; the writes go into both, and only the valid one is emitted.
fn csum_flush(t: Touched) -> Vec<Stmt> {
    let a = |l: &str, r: Expr| Stmt::Assign(e::path(l), r);
    let p = |s: &str| e::path(s);
    let result = || e::compl(e::slice(p("meta.csum_sum"), 15, 0));
    let sum = |parts: Vec<Expr>| {
        parts
            .into_iter()
            .reduce(|x, y| e::bin("+", x, y))
            .unwrap_or_else(|| e::int(32, 0))
    };
    let gated = |h: &str, acc: &str| e::cond(e::valid(h), p(acc), e::int(32, 0));
    let mut out = Vec::new();
    if t.ip || t.a4 {
        let mut parts = Vec::new();
        if t.ip {
            parts.push(p("meta.ip_sum"));
        }
        if t.a4 {
            parts.push(p("meta.a4_sum"));
        }
        out.extend(csum_apply(p("hdr.ipv4.hdr_checksum"), sum(parts)));
        out.push(a("hdr.ipv4.hdr_checksum", result()));
    }
    if t.l4 || t.a4 || t.a6 {
        let mut parts = Vec::new();
        if t.l4 {
            parts.push(p("meta.l4_sum"));
        }
        if t.a4 {
            parts.push(gated("hdr.ipv4", "meta.a4_sum"));
        }
        if t.a6 {
            parts.push(gated("hdr.ipv6", "meta.a6_sum"));
        }
        let hc = e::cond(
            e::valid("hdr.tcp"),
            p("hdr.tcp.checksum"),
            p("hdr.udp.checksum"),
        );
        out.extend(csum_apply(hc, sum(parts)));
        out.push(a("meta.csum", result()));
        out.push(a("hdr.tcp.checksum", p("meta.csum")));
        out.push(Stmt::Comment(
            "UDP: a zero checksum (none) stays zero; a computed zero is sent as 0xFFFF".into(),
        ));
        out.push(a(
            "hdr.udp.checksum",
            e::cond(
                e::eq(p("hdr.udp.checksum"), e::int(16, 0)),
                e::int(16, 0),
                e::cond(
                    e::eq(p("meta.csum"), e::int(16, 0)),
                    e::hex(16, 0xffff),
                    p("meta.csum"),
                ),
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use offload_core::wire::checksum;

    /// A block's checksum code exactly as the generated P4 computes it, in
    /// 32-bit unsigned arithmetic: each rewrite's words add their terms to
    /// the accumulator, then `~(~hc + acc)` with two folds; UDP keeps a zero
    /// and sends a computed zero as 0xFFFF.
    fn p4_block(hc: u16, rewrites: &[Vec<(u16, u16)>], udp: bool) -> u16 {
        let mut acc: u32 = 0;
        for words in rewrites {
            for &(o, n) in words {
                acc += if o == n {
                    0
                } else {
                    u32::from(!o) + u32::from(n)
                };
            }
        }
        let mut s: u32 = u32::from(!hc) + acc;
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        let r = !(s as u16);
        if udp && hc == 0 {
            0
        } else if udp && r == 0 {
            0xffff
        } else {
            r
        }
    }

    /// The reference: `update_words` per rewrite, with the UDP zero rules
    /// after each one (offload_core::semantics::rewrite::set).
    fn reference(hc: u16, rewrites: &[Vec<(u16, u16)>], udp: bool) -> u16 {
        let mut hc = hc;
        for words in rewrites {
            if udp && hc == 0 {
                continue;
            }
            let old: Vec<u8> = words.iter().flat_map(|(o, _)| o.to_be_bytes()).collect();
            let new: Vec<u8> = words.iter().flat_map(|(_, n)| n.to_be_bytes()).collect();
            hc = checksum::update_words(hc, &old, &new);
            if udp && hc == 0 {
                hc = 0xffff;
            }
        }
        hc
    }

    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    const EDGES: [u16; 6] = [0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff];

    /// Mostly edge values, so that zero sums and unchanged words occur.
    fn word(x: &mut u64) -> u16 {
        let r = next(x);
        if r.is_multiple_of(3) {
            (r >> 20) as u16 >> ((r >> 40) % 16)
        } else {
            EDGES[(r % EDGES.len() as u64) as usize]
        }
    }

    #[test]
    fn summed_terms_match_word_by_word_updates() {
        // Every single-word case over the edge values.
        for &hc in &EDGES {
            for &o in &EDGES {
                for &n in &EDGES {
                    for udp in [false, true] {
                        let r = vec![vec![(o, n)]];
                        assert_eq!(
                            p4_block(hc, &r, udp),
                            reference(hc, &r, udp),
                            "hc={hc:#x} o={o:#x} n={n:#x} udp={udp}"
                        );
                    }
                }
            }
        }
        // Blocks of up to six rewrites of 1, 2 or 8 words (ports, IPv4
        // and IPv6 addresses).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            let hc = word(&mut x);
            let n_rewrites = 1 + (next(&mut x) % 6) as usize;
            let rewrites: Vec<Vec<(u16, u16)>> = (0..n_rewrites)
                .map(|_| {
                    let len = [1usize, 2, 8][(next(&mut x) % 3) as usize];
                    (0..len).map(|_| (word(&mut x), word(&mut x))).collect()
                })
                .collect();
            for udp in [false, true] {
                assert_eq!(
                    p4_block(hc, &rewrites, udp),
                    reference(hc, &rewrites, udp),
                    "hc={hc:#x} rewrites={rewrites:x?} udp={udp}"
                );
            }
        }
    }
}
