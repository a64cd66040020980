//! Random frames biased to hit a module's entries.
//!
//! A frame is planned first — the field values one chosen entry needs (plus
//! values other entries use), then a header stack consistent with them —
//! and then built, so most frames reach and hit tables. The rest of the
//! space is covered on purpose: 0–3 VLAN tags (802.1Q and 802.1ad), IPv4
//! with options, fragments (first and non-first), IHL < 5, wrong versions,
//! IPv6 with and without an extension header, TCP (data offset < 5, with
//! options), UDP (zero checksum), ICMP/ICMPv6, unknown protocols, TTL
//! 0/1/2, valid and wrong checksums, and truncation at every length.
//! Some frames travel in a VXLAN tunnel ([`wrap_vxlan`]: outer IPv4 or
//! IPv6, UDP 4789, mostly with the I flag, sometimes cut short), half of
//! them for a module that reads tunnel headers, one in ten otherwise.

use super::rng::Rng;
use crate::ir::{Field, Header, KeyMatch, Module, PortId};
use std::collections::BTreeMap;

/// One generated frame and the logical port it arrives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    /// A declared port, or `PortId(0xffff)` (an interface that is no port).
    pub in_port: PortId,
    /// What the generator aimed at (for statistics): `(table, entry)`.
    pub target: Option<(usize, usize)>,
}

/// Values the module's entries match on, per field, and per (field, kind) the
/// matches themselves (so a frame can be put just inside or outside them).
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    values: BTreeMap<Field, Vec<u128>>,
    /// The module reads tunnel headers or decapsulates: more VXLAN frames.
    tunnel: bool,
}

impl Candidates {
    pub fn new(module: &Module) -> Candidates {
        let mut values: BTreeMap<Field, Vec<u128>> = BTreeMap::new();
        for t in &module.tables {
            for e in &t.entries {
                for (k, m) in t.keys.iter().zip(&e.matches) {
                    let v = values.entry(k.field).or_default();
                    let max = k.field.max_value();
                    match *m {
                        KeyMatch::Exact(x) => v.push(x),
                        KeyMatch::Lpm { value, .. } => v.push(value),
                        // The value, and one that differs in the lowest
                        // cared-for bit (just outside the match).
                        KeyMatch::Ternary { value, mask } => {
                            v.extend([value, value ^ (mask & mask.wrapping_neg() & max)])
                        }
                        KeyMatch::Range { lo, hi } => {
                            v.extend([lo, hi, lo.saturating_sub(1), (hi + 1) & max])
                        }
                    }
                }
            }
        }
        let req = module.requirements();
        Candidates {
            values,
            tunnel: req.vxlan_parse || req.vxlan_decap,
        }
    }
}

/// A value of `field` that satisfies `m` (random inside it).
pub fn satisfying(rng: &mut Rng, field: Field, m: &KeyMatch) -> u128 {
    let w = field.width();
    match *m {
        KeyMatch::Exact(v) => v,
        KeyMatch::Lpm { value, prefix_len } => {
            value | (rng.bits(w) & !crate::ir::prefix_mask(w, prefix_len))
        }
        KeyMatch::Ternary { value, mask } => value | (rng.bits(w) & !mask),
        KeyMatch::Range { lo, hi } => match rng.below(4) {
            0 => lo,
            1 => hi,
            _ => lo + (rng.u128() % (hi - lo + 1)),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L3 {
    V4,
    V6,
    /// Another EtherType (ARP, or whatever an entry asked for).
    Other(u16),
}

/// Generates one frame for `module` (whose tables hold their entries).
pub fn frame(rng: &mut Rng, module: &Module, cands: &Candidates) -> Frame {
    let mut f = plain_frame(rng, module, cands);
    if rng.chance(1, if cands.tunnel { 2 } else { 10 }) {
        let vni = match cands.values.get(&Field::VxlanVni) {
            Some(vs) if rng.chance(3, 4) => *rng.pick(vs) as u32,
            _ => rng.bits(24) as u32,
        };
        f.bytes = wrap_vxlan(rng, &f.bytes, vni);
        // The inner fields entries match on, where the wrapped frame has them.
        let parsed = crate::semantics::parse(&f.bytes);
        for (field, vs) in &cands.values {
            if field.is_tunnel() && *field != Field::VxlanVni && rng.chance(1, 2) {
                if let Some(base) = parsed.offset(field.header()) {
                    let at = base * 8 + field.info().bit_offset as usize;
                    put_bits(&mut f.bytes, at, field.width(), *rng.pick(vs));
                }
            }
        }
    }
    f
}

/// `inner` in a VXLAN tunnel: outer Ethernet (0 or 1 tag), IPv4 (checksum
/// right) or IPv6, UDP to 4789 (one in ten to 4790; checksum 0 or random),
/// VXLAN with the I flag (one in eight random flags) and `vni`; one in ten
/// cut at a random length.
pub fn wrap_vxlan(rng: &mut Rng, inner: &[u8], vni: u32) -> Vec<u8> {
    let mut p = rng.bytes(12);
    p[0] &= 0xfe;
    if rng.chance(1, 6) {
        p.extend(0x8100u16.to_be_bytes());
        p.extend(rng.bytes(2));
    }
    let v6 = rng.chance(1, 4);
    p.extend(if v6 { 0x86ddu16 } else { 0x0800 }.to_be_bytes());
    let l3 = p.len();
    let udp_len = (8 + 8 + inner.len()) as u16;
    if v6 {
        p.push(0x60);
        p.extend(rng.bytes(3));
        p.extend(udp_len.to_be_bytes());
        p.push(17);
        p.push(64);
        p.extend(rng.bytes(32));
    } else {
        p.push(0x45);
        p.push(0);
        p.extend((udp_len + 20).to_be_bytes());
        p.extend(rng.bytes(2));
        p.extend(0x4000u16.to_be_bytes());
        p.push(*rng.pick(&[1u8, 2, 64]));
        p.push(17);
        p.extend([0, 0]);
        p.extend(rng.bytes(8));
        let c = csum(&p[l3..l3 + 20], 0);
        p[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    p.extend(rng.bytes(2));
    let dport: u16 = if rng.chance(1, 10) { 4790 } else { 4789 };
    p.extend(dport.to_be_bytes());
    p.extend(udp_len.to_be_bytes());
    if rng.chance(1, 3) {
        p.extend(rng.bytes(2));
    } else {
        p.extend([0, 0]);
    }
    let flags = if rng.chance(1, 8) {
        rng.next_u64() as u8
    } else {
        0x08
    };
    let v = vni.to_be_bytes();
    p.extend([flags, 0, 0, 0, v[1], v[2], v[3], 0]);
    p.extend_from_slice(inner);
    if rng.chance(1, 10) {
        let cut = rng.below(p.len() as u64 + 1) as usize;
        p.truncate(cut);
    }
    p
}

/// A frame without a tunnel (see the module doc).
fn plain_frame(rng: &mut Rng, module: &Module, cands: &Candidates) -> Frame {
    // 1. The values to aim for.
    let mut want: BTreeMap<Field, u128> = BTreeMap::new();
    let mut target = None;
    let mut need: Vec<Header> = Vec::new();
    let with_entries: Vec<usize> = (0..module.tables.len())
        .filter(|&t| !module.tables[t].entries.is_empty())
        .collect();
    if !with_entries.is_empty() && rng.chance(3, 4) {
        let t = *rng.pick(&with_entries);
        let table = &module.tables[t];
        let e = rng.below(table.entries.len() as u64) as usize;
        for (k, m) in table.keys.iter().zip(&table.entries[e].matches) {
            want.insert(k.field, satisfying(rng, k.field, m));
        }
        need = table.required_headers();
        target = Some((t, e));
    } else if !module.tables.is_empty() && rng.chance(1, 2) {
        // Reach a table (but not a chosen entry): its headers only.
        need = rng.pick(&module.tables).required_headers();
    }
    // Values other entries use; with a target they must not change the
    // header stack it needs (no structural fields, no new headers).
    let aimed = target.is_some();
    let structural = |f: &Field| {
        matches!(
            f,
            Field::EthType | Field::Ipv4Protocol | Field::Ipv6NextHeader
        )
    };
    for (f, vs) in &cands.values {
        let fits = !aimed || (!structural(f) && need.contains(&f.header()));
        if !want.contains_key(f) && fits && rng.chance(1, 2) {
            want.insert(*f, *rng.pick(vs));
        }
    }
    let has = |h: Header| need.contains(&h) || want.keys().any(|f| f.header() == h);

    // 2. The header stack.
    let needs_l3 = need
        .iter()
        .any(|h| !matches!(h, Header::Eth | Header::Vlan | Header::Meta));
    let mut tags = if has(Header::Vlan) {
        rng.range(1, 2) as usize
    } else if aimed && needs_l3 {
        *rng.pick(&[0usize, 0, 0, 1, 1, 2])
    } else {
        *rng.pick(&[0usize, 0, 0, 0, 1, 1, 2, 3])
    };
    let v4ish = has(Header::Ipv4) || has(Header::Icmp);
    let v6ish = has(Header::Ipv6) || has(Header::Icmpv6);
    let mut l3 = match (v4ish, v6ish) {
        (true, false) => L3::V4,
        (false, true) => L3::V6,
        _ => *rng.pick(&[L3::V4, L3::V4, L3::V4, L3::V6, L3::V6, L3::Other(0x0806)]),
    };
    if let Some(&t) = want.get(&Field::EthType) {
        match t as u16 {
            0x0800 => l3 = L3::V4,
            0x86dd => l3 = L3::V6,
            0x8100 | 0x88a8 => tags = 3,
            other => l3 = L3::Other(other),
        }
    }
    let proto_field = if l3 == L3::V6 {
        Field::Ipv6NextHeader
    } else {
        Field::Ipv4Protocol
    };
    let proto: u8 = if let Some(&p) = want.get(&proto_field) {
        p as u8
    } else if has(Header::Tcp) {
        6
    } else if has(Header::Udp) {
        17
    } else if has(Header::L4) {
        *rng.pick(&[6u8, 17])
    } else if has(Header::Icmp) {
        1
    } else if has(Header::Icmpv6) {
        58
    } else if l3 == L3::V6 {
        *rng.pick(&[6u8, 6, 17, 17, 58, 0, 43, 44, 60, 59])
    } else {
        *rng.pick(&[6u8, 6, 17, 17, 1, 47])
    };
    // Malformations are rarer when aiming at an entry.
    let odd = |rng: &mut Rng, n: u64| rng.chance(1, if target.is_some() { n * 3 } else { n });

    // 3. Bytes.
    let mut p = rng.bytes(12);
    if rng.chance(1, 2) {
        p[0] &= 0xfe; // mostly unicast destinations
    }
    for i in 0..tags {
        let tpid: u16 = if i == 0 && rng.chance(1, 3) {
            0x88a8
        } else {
            0x8100
        };
        p.extend(tpid.to_be_bytes());
        p.extend(rng.bytes(2));
    }
    let ethertype: u16 = match l3 {
        L3::V4 => 0x0800,
        L3::V6 => 0x86dd,
        L3::Other(t) => t,
    };
    // With three tags the third TPID is what `eth.type` reads.
    if tags == 3 {
        let t = want.get(&Field::EthType).map_or(0x8100, |&t| t as u16);
        let n = p.len();
        p[n - 4..n - 2].copy_from_slice(&t.to_be_bytes());
    }
    p.extend(ethertype.to_be_bytes());
    let l3_at = p.len();
    let ttl = *rng.pick(&[0u8, 1, 2, 3, 64, 255]);
    match l3 {
        L3::V4 => {
            let opts = if rng.chance(1, 4) {
                rng.range(1, 10) as usize
            } else {
                0
            };
            let ihl = if odd(rng, 25) {
                rng.below(5) as u8
            } else {
                5 + opts as u8
            };
            let version = if odd(rng, 30) {
                *rng.pick(&[0u8, 6, 15])
            } else {
                4
            };
            let frag: u16 = match rng.below(12) {
                0 => rng.range(1, 0x1fff) as u16 | (rng.below(2) as u16) << 13,
                1 => 0x2000,     // first fragment, more to come
                2 | 3 => 0x4000, // don't fragment
                _ => 0,
            };
            p.push((version << 4) | (ihl & 0x0f));
            p.push(rng.next_u64() as u8);
            p.extend([0, 0]); // total length, below
            p.extend(rng.bytes(2));
            p.extend(frag.to_be_bytes());
            p.push(ttl);
            p.push(proto);
            p.extend([0, 0]); // checksum, below
            p.extend(rng.bytes(8));
            p.extend(rng.bytes(4 * opts));
        }
        L3::V6 => {
            let version = if odd(rng, 30) { 4 } else { 6 };
            p.push((version << 4) | (rng.next_u64() as u8 & 0x0f));
            p.extend(rng.bytes(3));
            p.extend([0, 0]); // payload length, below
            p.push(proto);
            p.push(ttl);
            p.extend(rng.bytes(32));
            if matches!(proto, 0 | 43 | 44 | 60) {
                // One extension header (not walked by the parser), then L4.
                p.push(*rng.pick(&[6u8, 17, 58]));
                p.push(0);
                p.extend(rng.bytes(6));
            }
        }
        L3::Other(_) => p.extend(rng.bytes(28)),
    }
    let l4_at = p.len();
    match proto {
        6 => {
            let doff = if odd(rng, 20) {
                rng.below(5) as u8
            } else {
                *rng.pick(&[5u8, 5, 5, 6, 8, 15])
            };
            let mut h = rng.bytes(20);
            h[12] = (doff << 4) | (h[12] & 0x0f);
            p.extend(h);
            let opt = (usize::from(doff.max(5)) - 5) * 4;
            p.extend(rng.bytes(opt.min(12)));
        }
        17 => p.extend(rng.bytes(8)),
        _ => p.extend(rng.bytes(8)),
    }
    let payload = rng.below(24) as usize;
    p.extend(rng.bytes(payload));

    // 4. Field values (where their header is valid in this frame).
    let parsed = crate::semantics::parse(&p);
    for (f, v) in &want {
        if matches!(
            f,
            Field::MetaInPort | Field::EthType | Field::Ipv4Protocol | Field::Ipv6NextHeader
        ) {
            continue;
        }
        if let Some(base) = parsed.offset(f.header()) {
            put_bits(
                &mut p,
                base * 8 + f.info().bit_offset as usize,
                f.width(),
                *v,
            );
        }
    }

    // 5. Lengths and checksums (usually right, sometimes not).
    let end = p.len();
    if l3 == L3::V4 && end >= l3_at + 20 {
        let total = (end - l3_at) as u16;
        p[l3_at + 2..l3_at + 4].copy_from_slice(&total.to_be_bytes());
    }
    if l3 == L3::V6 && end >= l3_at + 40 {
        let len = (end - l3_at - 40) as u16;
        p[l3_at + 4..l3_at + 6].copy_from_slice(&len.to_be_bytes());
    }
    if parsed.is_valid(Header::Udp) {
        let l4_at = parsed.l4_offset();
        let len = (end - l4_at) as u16;
        p[l4_at + 4..l4_at + 6].copy_from_slice(&len.to_be_bytes());
    }
    if rng.chance(4, 5) {
        fix_checksums(&mut p, &parsed);
    }
    if proto == 17 && parsed.is_valid(Header::Udp) && rng.chance(1, 6) {
        let at = parsed.l4_offset() + 6;
        p[at..at + 2].copy_from_slice(&[0, 0]);
    }

    // 6. Truncation, at any length.
    if odd(rng, 7) {
        let cut = match rng.below(2) {
            0 => rng.below(p.len() as u64 + 1) as usize,
            // Around the header boundaries, where the parser decides.
            _ => {
                let b = *rng.pick(&[14usize, l3_at, l3_at + 20, l4_at, l4_at + 8, l4_at + 20]);
                (b + rng.below(3) as usize).saturating_sub(1).min(p.len())
            }
        };
        p.truncate(cut);
    }

    let in_port = match want.get(&Field::MetaInPort) {
        Some(&v) if rng.chance(7, 8) => PortId(v as u16),
        _ if !module.ports.is_empty() && rng.chance(2, 3) => rng.pick(&module.ports).id,
        _ => PortId(0xffff),
    };
    Frame {
        bytes: p,
        in_port,
        target,
    }
}

/// Writes the low `width` bits of `value` at bit `start` (bits past the
/// end of the frame are left out: the field is cut by the frame's end).
fn put_bits(p: &mut [u8], start: usize, width: u32, value: u128) {
    for i in 0..width as usize {
        let bit = ((value >> (width as usize - 1 - i)) & 1) as u8;
        let pos = start + i;
        if let Some(b) = p.get_mut(pos / 8) {
            let sh = 7 - pos % 8;
            *b = (*b & !(1 << sh)) | (bit << sh);
        }
    }
}

fn csum(data: &[u8], initial: u32) -> u16 {
    let mut acc = initial;
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Correct IPv4 header and TCP/UDP checksums for the frame as it is.
fn fix_checksums(p: &mut [u8], parsed: &crate::semantics::Parsed) {
    let l3 = parsed.l3_offset();
    if parsed.is_valid(Header::Ipv4) {
        let n = parsed.l3_len;
        p[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
        let c = csum(&p[l3..l3 + n], 0);
        p[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let l4 = parsed.l4_offset();
    let at = if parsed.is_valid(Header::Tcp) {
        l4 + 16
    } else if parsed.is_valid(Header::Udp) {
        l4 + 6
    } else {
        return;
    };
    let seg_len = p.len() - l4;
    let proto = if parsed.is_valid(Header::Tcp) {
        6u32
    } else {
        17
    };
    let mut pseudo = proto + seg_len as u32;
    let addrs = if parsed.is_valid(Header::Ipv4) {
        l3 + 12..l3 + 20
    } else {
        l3 + 8..l3 + 40
    };
    for c in p[addrs].chunks(2) {
        pseudo += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    p[at..at + 2].copy_from_slice(&[0, 0]);
    let mut c = csum(&p[l4..], pseudo);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
}
