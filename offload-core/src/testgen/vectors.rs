//! Test vectors drawn from a module's own tables, in classes, for
//! `offloadctl validate`: frames built to **hit** each entry, frames on the
//! **edges** of its ranges, prefixes and masks (just inside and just
//! outside), frames that **miss** every entry, and **malformed** frames
//! (truncated at header boundaries, bad IHL or version, short tags). Random
//! frames from [`super::frames`] fill up to the count asked for, classed by
//! what the reference does with them ([`classify`]).
//!
//! Deterministic: same module, count and seed, same vectors.

use super::build::Spec;
use super::rng::Rng;
use crate::ir::{Field, Header, KeyMatch, Module, PortId};
use crate::semantics::{self, Step};

/// What a vector is meant to exercise; the columns of validate's matrix.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Hit,
    Miss,
    Edge,
    Malformed,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Hit, Class::Miss, Class::Edge, Class::Malformed];

    pub fn name(self) -> &'static str {
        match self {
            Class::Hit => "hit",
            Class::Miss => "miss",
            Class::Edge => "edge",
            Class::Malformed => "malformed",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// One test vector: a frame, the logical port it arrives on, its class and
/// why it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    pub class: Class,
    pub in_port: PortId,
    pub bytes: Vec<u8>,
    /// `hits routes entry 2`, `range lo - 1 of acl entry 0 (l4.dst_port)`.
    pub why: String,
}

/// The class the reference gives a frame: malformed when a header its
/// EtherType or protocol promises is not valid, hit when any table hit an
/// entry, else miss (edges are known only to whoever built the frame).
pub fn classify(module: &Module, in_port: PortId, bytes: &[u8]) -> Class {
    if is_malformed(bytes) {
        return Class::Malformed;
    }
    let o = semantics::run(module, in_port, bytes);
    if o.steps.iter().any(|s| matches!(s, Step::Hit { .. })) {
        Class::Hit
    } else {
        Class::Miss
    }
}

/// A frame whose headers stop short of what they announce.
pub fn is_malformed(bytes: &[u8]) -> bool {
    if bytes.len() < 14 {
        return true;
    }
    let p = semantics::parse(bytes);
    // EtherType after up to two tags.
    let mut at = 12;
    let mut tags = 0;
    let mut et = u16::from_be_bytes([bytes[12], bytes[13]]);
    while matches!(et, 0x8100 | 0x88a8) && tags < 2 {
        if bytes.len() < at + 6 {
            return true;
        }
        at += 4;
        tags += 1;
        et = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    }
    match et {
        0x0800 if !p.is_valid(Header::Ipv4) => return true,
        0x86dd if !p.is_valid(Header::Ipv6) => return true,
        _ => {}
    }
    let l3 = at + 2;
    let proto = if p.is_valid(Header::Ipv4) {
        let frag = u16::from_be_bytes([bytes[l3 + 6], bytes[l3 + 7]]) & 0x1fff;
        (frag == 0).then_some(bytes[l3 + 9])
    } else if p.is_valid(Header::Ipv6) {
        Some(bytes[l3 + 6])
    } else {
        None
    };
    match proto {
        Some(6) => !p.is_valid(Header::Tcp),
        Some(17) => !p.is_valid(Header::Udp),
        Some(1) if p.is_valid(Header::Ipv4) => !p.is_valid(Header::Icmp),
        Some(58) if p.is_valid(Header::Ipv6) => !p.is_valid(Header::Icmpv6),
        _ => false,
    }
}

/// A frame whose key fields take `values` (in `table`'s key order), on the
/// module's first port unless a value sets `meta.in_port`.
fn frame_with(module: &Module, values: &[(Field, u128)]) -> (PortId, Vec<u8>) {
    let mut spec = Spec::default();
    let mut port = module.ports.first().map(|p| p.id).unwrap_or(PortId(0xffff));
    for (f, v) in values {
        if matches!(f, Field::L4SrcPort | Field::L4DstPort) && !matches!(spec.proto, 6 | 17) {
            spec.proto = 6;
        }
        spec.apply(*f, &KeyMatch::Exact(*v), &mut port);
    }
    (port, spec.build())
}

fn entry_values(rng: &mut Rng, keys: &[(Field, &KeyMatch)]) -> Vec<(Field, u128)> {
    keys.iter()
        .map(|(f, m)| (*f, super::packet::satisfying(rng, *f, m)))
        .collect()
}

/// The edge values of one match: (value, what it is).
fn edges(field: Field, m: &KeyMatch) -> Vec<(u128, &'static str)> {
    let max = field.max_value();
    let w = field.width();
    match *m {
        // The neighbour that differs in the lowest bit: just outside.
        KeyMatch::Exact(v) => vec![(v ^ 1, "exact value with its lowest bit flipped")],
        KeyMatch::Range { lo, hi } => {
            let mut v = vec![(lo, "range lo"), (hi, "range hi")];
            if lo > 0 {
                v.push((lo - 1, "range lo - 1"));
            }
            if hi < max {
                v.push((hi + 1, "range hi + 1"));
            }
            v
        }
        KeyMatch::Lpm { value, prefix_len } => {
            let host = !crate::ir::prefix_mask(w, prefix_len) & max;
            let first = value & !host;
            let last = first | host;
            let mut v = vec![(first, "prefix first"), (last, "prefix last")];
            if first > 0 && prefix_len > 0 {
                v.push((first - 1, "prefix first - 1"));
            }
            if last < max && prefix_len > 0 {
                v.push((last + 1, "prefix last + 1"));
            }
            v
        }
        KeyMatch::Ternary { value, mask } => {
            if mask & max == 0 {
                return vec![];
            }
            let low = mask & mask.wrapping_neg() & max;
            vec![
                (value | (!mask & max), "ternary don't-care bits set"),
                (value ^ low, "ternary lowest cared-for bit flipped"),
            ]
        }
    }
}

/// Malformed variants of a well-formed frame.
fn malformed_of(bytes: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    let mut out = Vec::new();
    let p = semantics::parse(bytes);
    let l3 = p.l3_offset();
    out.push((
        bytes[..bytes.len().min(13)].to_vec(),
        "shorter than Ethernet",
    ));
    if p.is_valid(Header::Ipv4) || p.is_valid(Header::Ipv6) {
        out.push((bytes[..l3 + 10].to_vec(), "L3 header cut short"));
    }
    if p.is_valid(Header::Tcp) || p.is_valid(Header::Udp) {
        let l4 = p.l4_offset();
        out.push((bytes[..l4 + 4].to_vec(), "L4 header cut short"));
    }
    if p.is_valid(Header::Ipv4) {
        let mut b = bytes.to_vec();
        b[l3] = 0x44; // IHL 4
        out.push((b, "IPv4 IHL < 5"));
        let mut b = bytes.to_vec();
        b[l3] = 0x65; // version 6 behind EtherType 0x0800
        out.push((b, "IPv4 EtherType, version 6"));
    }
    if bytes.len() >= 14 {
        // A VLAN TPID with the tag cut off.
        let mut b = bytes[..12].to_vec();
        b.extend([0x81, 0x00, 0x00]);
        out.push((b, "VLAN tag cut short"));
    }
    out
}

/// Miss vectors drawn per table with keys.
const MISSES_PER_TABLE: usize = 8;

/// `n` vectors for `module`: every entry's hits and edges, misses and
/// malformed frames first (interleaved by class, so a small `n` still has
/// all four), then random frames classed by the reference.
pub fn generate(module: &Module, n: usize, seed: u64) -> Vec<Vector> {
    let mut rng = Rng::new(seed);
    let mut by_class: [Vec<Vector>; 4] = Default::default();
    let push = |by: &mut [Vec<Vector>; 4], v: Vector| by[v.class as usize].push(v);
    for t in &module.tables {
        for (i, e) in t.entries.iter().enumerate() {
            let keys: Vec<(Field, &KeyMatch)> =
                t.keys.iter().map(|k| k.field).zip(&e.matches).collect();
            let values = entry_values(&mut rng, &keys);
            let (port, bytes) = frame_with(module, &values);
            for (b, what) in malformed_of(&bytes) {
                push(
                    &mut by_class,
                    Vector {
                        class: Class::Malformed,
                        in_port: port,
                        bytes: b,
                        why: format!("{what} (from a hit of {} entry {i})", t.name),
                    },
                );
            }
            push(
                &mut by_class,
                Vector {
                    class: Class::Hit,
                    in_port: port,
                    bytes,
                    why: format!("hits {} entry {i}", t.name),
                },
            );
            for (k, (f, m)) in keys.iter().enumerate() {
                for (v, what) in edges(*f, m) {
                    let mut vals = values.clone();
                    vals[k].1 = v;
                    let (port, bytes) = frame_with(module, &vals);
                    push(
                        &mut by_class,
                        Vector {
                            class: Class::Edge,
                            in_port: port,
                            bytes,
                            why: format!("{what} of {} entry {i} ({f})", t.name),
                        },
                    );
                }
            }
        }
    }
    // Misses: random key values until each table with keys has a few the
    // reference misses on (bounded tries).
    for t in module.tables.iter().filter(|t| !t.keys.is_empty()) {
        let mut found = 0;
        for _ in 0..400 {
            if found == MISSES_PER_TABLE {
                break;
            }
            let values: Vec<(Field, u128)> = t
                .keys
                .iter()
                .map(|k| (k.field, rng.bits(k.field.width())))
                .collect();
            let (port, bytes) = frame_with(module, &values);
            let o = semantics::run(module, port, &bytes);
            if o.steps.contains(&Step::Miss { table: t.id }) {
                push(
                    &mut by_class,
                    Vector {
                        class: Class::Miss,
                        in_port: port,
                        bytes,
                        why: format!("misses every entry of {}", t.name),
                    },
                );
                found += 1;
            }
        }
    }
    // Interleave the classes.
    let mut out = Vec::with_capacity(n);
    let mut iters: Vec<std::vec::IntoIter<Vector>> =
        by_class.into_iter().map(|v| v.into_iter()).collect();
    while out.len() < n {
        let mut any = false;
        for it in iters.iter_mut() {
            if out.len() < n {
                if let Some(v) = it.next() {
                    out.push(v);
                    any = true;
                }
            }
        }
        if !any {
            break;
        }
    }
    // Random frames for the rest.
    let left = n - out.len();
    for (k, f) in super::frames(rng.next_u64(), module, left)
        .into_iter()
        .enumerate()
    {
        let class = classify(module, f.in_port, &f.bytes);
        out.push(Vector {
            class,
            in_port: f.in_port,
            bytes: f.bytes,
            why: format!("random frame {}", k + 1),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Module {
        let src = std::fs::read_to_string(format!(
            "{}/../examples/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        crate::spec::compile(&src).unwrap()
    }

    #[test]
    fn every_class_is_drawn_and_hits_hit() {
        for name in ["edge-router", "ddos-filter", "l2-switch"] {
            let m = example(name);
            let v = generate(&m, 200, 7);
            assert_eq!(v.len(), 200, "{name}");
            for c in Class::ALL {
                assert!(v.iter().any(|x| x.class == c), "{name}: no {c:?} vector");
            }
            for x in v.iter().filter(|x| x.class == Class::Malformed) {
                assert!(is_malformed(&x.bytes), "{name}: {} is not malformed", x.why);
            }
            let built_hits: Vec<&Vector> = v
                .iter()
                .filter(|x| x.class == Class::Hit && x.why.starts_with("hits "))
                .collect();
            let really = built_hits
                .iter()
                .filter(|x| classify(&m, x.in_port, &x.bytes) == Class::Hit)
                .count();
            assert!(
                really * 10 >= built_hits.len() * 9,
                "{name}: {really} of {} built hits hit",
                built_hits.len()
            );
            for x in v
                .iter()
                .filter(|x| x.class == Class::Miss && x.why.starts_with("misses"))
            {
                assert!(!x.bytes.is_empty());
            }
            // Deterministic.
            assert_eq!(v, generate(&m, 200, 7));
        }
    }

    #[test]
    fn small_counts_still_cover_the_classes() {
        let m = example("edge-router");
        let v = generate(&m, 8, 1);
        assert_eq!(v.len(), 8);
        for c in Class::ALL {
            assert!(v.iter().any(|x| x.class == c), "no {c:?}");
        }
    }

    #[test]
    fn range_and_prefix_edges() {
        let e = edges(Field::L4DstPort, &KeyMatch::Range { lo: 10, hi: 20 });
        let vals: Vec<u128> = e.iter().map(|x| x.0).collect();
        assert_eq!(vals, vec![10, 20, 9, 21]);
        let e = edges(
            Field::Ipv4Dst,
            &KeyMatch::Lpm {
                value: 0x0a00_0000,
                prefix_len: 8,
            },
        );
        let vals: Vec<u128> = e.iter().map(|x| x.0).collect();
        assert_eq!(
            vals,
            vec![0x0a00_0000, 0x0aff_ffff, 0x09ff_ffff, 0x0b00_0000]
        );
        assert!(is_malformed(&[0u8; 10]));
    }
}
