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

    pub fn lower(&self, prims: &[Primitive]) -> Result<Vec<Stmt>, P4Error> {
        let mut out = Vec::new();
        for (i, p) in prims.iter().enumerate() {
            match p {
                Primitive::DecTtl => {
                    out.extend(self.dec_ttl()?);
                    let rest = &prims[i + 1..];
                    if !rest.is_empty() {
                        out.push(Stmt::If {
                            cond: e::eq(e::path("meta.verdict"), e::path("VERDICT_CONTINUE")),
                            then: self.lower(rest)?,
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
                    out.extend(l4_updates(&words, None));
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
                    if l3 == "ipv4" {
                        out.extend(ipv4_updates(&words));
                    }
                    out.extend(l4_updates(&words, Some(l3)));
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
                    out.extend(ipv4_updates(&[(p("meta.old16"), word())]));
                } else {
                    out.push(a("meta.ipv4_csum_dirty", e::int(1, 1)));
                }
            }
            _ => out.push(a(super::field_path(field), v)),
        }
        out
    }
}

/// RFC 1624 eqn. 3 as straight-line code: `meta.csum` starts as `start`
/// and, for every changed 16-bit word `o` → `n`, becomes
/// `HC' = ~(~HC + ~o + n)` in ones' complement arithmetic (32-bit sum, two
/// end-around folds), the same arithmetic as `wire::checksum::update_words`;
/// an unchanged word leaves it alone, like the reference.
///
/// Every statement reads its operands once and writes a metadata field, so
/// the code grows linearly with the words. (A `csum16_update` function called
/// in a chain, `c = f(f(c, ..), ..)`, was inlined by p4c with its argument
/// copied into each of its uses: p4c-bm2-ss's time and memory grew about
/// 4.5x per chained call, past 30 GB for the 8 words of an IPv6 address.)
fn csum_chain(start: Expr, words: &[(Expr, Expr)]) -> Vec<Stmt> {
    let a = |l: &str, r: Expr| Stmt::Assign(e::path(l), r);
    let s = || e::path("meta.csum_sum");
    let c = || e::path("meta.csum");
    let mut out = vec![a("meta.csum", start)];
    for (o, n) in words {
        out.push(a(
            "meta.csum_sum",
            e::bin(
                "+",
                e::bin(
                    "+",
                    e::cast(32, e::compl(c())),
                    e::cast(32, e::compl(o.clone())),
                ),
                e::cast(32, n.clone()),
            ),
        ));
        for _ in 0..2 {
            out.push(a(
                "meta.csum_sum",
                e::bin(
                    "+",
                    e::bin("&", s(), e::hex(32, 0xffff)),
                    e::bin(">>", s(), e::num(16)),
                ),
            ));
        }
        out.push(a(
            "meta.csum",
            e::cond(
                e::eq(o.clone(), n.clone()),
                c(),
                e::compl(e::slice(s(), 15, 0)),
            ),
        ));
    }
    out
}

fn ipv4_updates(words: &[(Expr, Expr)]) -> Vec<Stmt> {
    let mut out = csum_chain(e::path("hdr.ipv4.hdr_checksum"), words);
    out.push(Stmt::Assign(
        e::path("hdr.ipv4.hdr_checksum"),
        e::path("meta.csum"),
    ));
    out
}

/// TCP and UDP checksum updates for changed words. `l3` guards the update
/// for address writes: the transport checksum covers the pseudo-header of
/// the packet's own IP version only. The updates run whether or not TCP or
/// UDP is valid: a write into an invalid header is never emitted.
fn l4_updates(words: &[(Expr, Expr)], l3: Option<&str>) -> Vec<Stmt> {
    let l3_valid = || l3.map(|l3| e::valid(&format!("hdr.{l3}")));
    let mut out = csum_chain(e::path("hdr.tcp.checksum"), words);
    out.push(Stmt::Assign(
        e::path("hdr.tcp.checksum"),
        match l3_valid() {
            Some(v) => e::cond(v, e::path("meta.csum"), e::path("hdr.tcp.checksum")),
            None => e::path("meta.csum"),
        },
    ));
    out.push(Stmt::Comment(
        "UDP: a zero checksum (none) stays zero; a computed zero is sent as 0xFFFF".into(),
    ));
    out.extend(csum_chain(e::path("hdr.udp.checksum"), words));
    let mut keep = e::eq(e::path("hdr.udp.checksum"), e::int(16, 0));
    if let Some(v) = l3_valid() {
        keep = e::bin("||", e::not(v), keep);
    }
    out.push(Stmt::Assign(
        e::path("hdr.udp.checksum"),
        e::cond(
            keep,
            e::path("hdr.udp.checksum"),
            e::cond(
                e::eq(e::path("meta.csum"), e::int(16, 0)),
                e::hex(16, 0xffff),
                e::path("meta.csum"),
            ),
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use offload_core::wire::checksum;

    /// One word of `csum_chain` exactly as the generated P4 computes it, in
    /// 32-bit unsigned arithmetic with two folds.
    fn p4_csum16_update(hc: u16, o: u16, n: u16) -> u16 {
        let mut s: u32 = u32::from(!hc) + u32::from(!o) + u32::from(n);
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        if o == n {
            hc
        } else {
            !(s as u16)
        }
    }

    #[test]
    fn the_generated_arithmetic_matches_the_reference_update() {
        // Two folds always suffice: 3 * 0xffff < 2^18, and after one fold the
        // sum is at most 0xffff + 3.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u16
        };
        let edges = [0u16, 1, 0x7fff, 0x8000, 0xfffe, 0xffff];
        for &hc in &edges {
            for &o in &edges {
                for &n in &edges {
                    let reference = checksum::update_words(hc, &o.to_be_bytes(), &n.to_be_bytes());
                    assert_eq!(
                        p4_csum16_update(hc, o, n),
                        reference,
                        "hc={hc:#x} o={o:#x} n={n:#x}"
                    );
                }
            }
        }
        for _ in 0..200_000 {
            let (hc, o, n) = (next(), next(), next());
            let reference = checksum::update_words(hc, &o.to_be_bytes(), &n.to_be_bytes());
            assert_eq!(
                p4_csum16_update(hc, o, n),
                reference,
                "hc={hc:#x} o={o:#x} n={n:#x}"
            );
        }
    }
}
