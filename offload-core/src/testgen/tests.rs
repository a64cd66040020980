//! The generators' own guarantees: validity (the front end accepts every
//! case and reads back the same tables and entries), determinism, coverage
//! of the frame shapes, and that frames do hit entries.

use super::*;
use crate::ir::{Header, MatchKind, Primitive};
use crate::semantics::{self, Step};

#[test]
fn every_generated_module_is_valid_and_round_trips() {
    for seed in 0..400u64 {
        let c = case(seed).unwrap_or_else(|e| panic!("{e}"));
        // What compiled prints back to the same text: entries, priorities,
        // arguments and primitives survived the trip unchanged.
        assert_eq!(render(&c.module), c.source, "seed {seed}");
    }
}

#[test]
fn generation_is_deterministic() {
    for seed in [1u64, 77, 0xdead_beef] {
        let a = case(seed).unwrap();
        let b = case(seed).unwrap();
        assert_eq!(a.source, b.source);
        assert_eq!(frames(seed, &a.module, 50), frames(seed, &b.module, 50));
    }
    assert_ne!(case(1).unwrap().source, case(2).unwrap().source);
}

#[test]
fn modules_cover_every_match_kind_and_primitive() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut prims = std::collections::BTreeSet::new();
    let (mut counters, mut no_counters, mut with_entries, mut keyless) = (0, 0, 0, 0);
    for seed in 0..200u64 {
        let m = case(seed).unwrap().module;
        for t in &m.tables {
            kinds.extend(t.keys.iter().map(|k| k.kind));
            if t.counters {
                counters += 1
            } else {
                no_counters += 1
            }
            with_entries += usize::from(!t.entries.is_empty());
            keyless += usize::from(t.keys.is_empty());
        }
        for a in &m.actions {
            for p in &a.body {
                prims.insert(match p {
                    Primitive::Drop => "drop",
                    Primitive::Pass => "pass",
                    Primitive::Forward(crate::ir::Operand::Param(_)) => "forward(param)",
                    Primitive::Forward(_) => "forward(port)",
                    Primitive::Tx => "tx",
                    Primitive::Set {
                        value: crate::ir::Operand::Param(_),
                        ..
                    } => "set(param)",
                    Primitive::Set { .. } => "set(literal)",
                    Primitive::Copy { .. } => "set(field)",
                    Primitive::DecTtl => "dec_ttl",
                    Primitive::PushVlan(_) => "push_vlan",
                    Primitive::PopVlan => "pop_vlan",
                    Primitive::VxlanEncap(_) => "vxlan_encap",
                    Primitive::VxlanDecap => "vxlan_decap",
                });
            }
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(kinds.contains(&MatchKind::Lpm));
    assert_eq!(prims.len(), 11, "{prims:?}");
    assert!(counters > 0 && no_counters > 0 && with_entries > 100 && keyless > 0);
}

#[test]
fn every_writable_field_is_set_by_param_and_literal() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..300u64 {
        for a in &case(seed).unwrap().module.actions {
            for p in &a.body {
                if let Primitive::Set { field, value } = p {
                    seen.insert((*field, matches!(value, crate::ir::Operand::Param(_))));
                }
            }
        }
    }
    for f in module::writable_fields() {
        assert!(seen.contains(&(f, true)), "{f} by parameter");
        assert!(seen.contains(&(f, false)), "{f} by literal");
    }
}

#[test]
fn frames_cover_the_shapes_and_hit_entries() {
    let mut stats = std::collections::BTreeMap::<&str, usize>::new();
    let mut bump = |k: &'static str| *stats.entry(k).or_default() += 1;
    let (mut aimed, mut hit_aimed) = (0usize, 0usize);
    let mut lengths = std::collections::BTreeSet::new();
    for seed in 0..80u64 {
        let m = case(seed).unwrap().module;
        for f in frames(seed, &m, 200) {
            let b = &f.bytes;
            lengths.insert(b.len().min(80));
            let p = semantics::parse(b);
            match p.vlan_tags {
                0 => bump("tags0"),
                1 => bump("tags1"),
                _ if b.len() >= 22 && [b[20], b[21]] == [0x81, 0x00] => bump("tags3"),
                _ => bump("tags2"),
            }
            let l3 = p.l3_offset();
            let et = b.get(l3 - 2..l3).map(|x| u16::from_be_bytes([x[0], x[1]]));
            if p.is_valid(Header::Ipv4) {
                bump("ipv4");
                if p.l3_len > 20 {
                    bump("ipv4 options");
                }
                if p.non_first_fragment {
                    bump("non-first fragment");
                }
                match b[l3 + 8] {
                    0 => bump("ttl0"),
                    1 => bump("ttl1"),
                    2 => bump("ttl2"),
                    _ => {}
                }
            } else if et == Some(0x0800) && b.len() >= l3 + 20 {
                bump("ipv4 malformed");
            }
            if p.is_valid(Header::Ipv6) {
                bump("ipv6");
                if matches!(b[l3 + 6], 0 | 43 | 44 | 60) {
                    bump("ipv6 ext");
                }
            }
            for (h, k) in [
                (Header::Tcp, "tcp"),
                (Header::Udp, "udp"),
                (Header::Icmp, "icmp"),
                (Header::Icmpv6, "icmpv6"),
            ] {
                if p.is_valid(h) {
                    bump(k);
                }
            }
            if p.is_valid(Header::Udp) && b[p.l4_offset() + 6..p.l4_offset() + 8] == [0, 0] {
                bump("udp zero csum");
            }
            if b.len() < 14 {
                bump("shorter than eth");
            }
            if let Some((t, e)) = f.target {
                aimed += 1;
                let out = semantics::run(&m, f.in_port, b);
                let t = crate::ir::TableId(t as u32);
                // The aimed table was reached and hit (that entry or one
                // that outranks it).
                let _ = e;
                let step = out.steps.iter().find(|s| match s {
                    Step::Hit { table, .. } | Step::Miss { table } => *table == t,
                    Step::Skipped { table, .. } => *table == t,
                });
                match step {
                    Some(Step::Hit { .. }) => hit_aimed += 1,
                    Some(Step::Miss { .. }) => bump("aimed: missed"),
                    // Mostly entries that contradict themselves (an
                    // `eth.type` of ARP beside IPv4 keys) or frames an
                    // earlier stage's pop_vlan changed.
                    Some(Step::Skipped { .. }) => bump("aimed: skipped"),
                    None => bump("aimed: not reached"),
                }
            }
        }
    }
    for k in [
        "tags0",
        "tags1",
        "tags2",
        "tags3",
        "ipv4",
        "ipv4 options",
        "non-first fragment",
        "ttl0",
        "ttl1",
        "ttl2",
        "ipv4 malformed",
        "ipv6",
        "ipv6 ext",
        "tcp",
        "udp",
        "icmp",
        "icmpv6",
        "udp zero csum",
        "shorter than eth",
    ] {
        assert!(stats.get(k).copied().unwrap_or(0) > 0, "no {k}: {stats:?}");
    }
    // Truncation reaches every length of short frames.
    assert!((0..70).all(|n| lengths.contains(&n)), "{lengths:?}");
    eprintln!("{stats:?} aimed {aimed} hit {hit_aimed}");
    assert!(
        hit_aimed * 5 > aimed * 2,
        "only {hit_aimed} of {aimed} aimed frames hit"
    );
}

#[test]
fn copies_cover_every_field_kind_and_zero_extension() {
    use crate::ir::FieldKind;
    let mut kinds = std::collections::BTreeSet::new();
    let (mut widened, mut cross_header, mut same_field) = (0, 0, 0);
    for seed in 0..300u64 {
        for a in &case(seed).unwrap().module.actions {
            for p in &a.body {
                if let Primitive::Copy { field, from } = p {
                    assert!(field.copy_fits(*from).is_ok(), "{field:?} <- {from:?}");
                    kinds.insert(format!("{:?}", field.kind()));
                    widened += usize::from(from.width() < field.width());
                    cross_header += usize::from(from.header() != field.header());
                    same_field += usize::from(from == field);
                }
            }
        }
    }
    for k in [
        FieldKind::Mac,
        FieldKind::Ipv4,
        FieldKind::Ipv6,
        FieldKind::Int,
    ] {
        assert!(
            kinds.contains(&format!("{k:?}")),
            "no copy of {k:?}: {kinds:?}"
        );
    }
    assert!(widened > 10 && cross_header > 10 && same_field > 0);
}

#[test]
fn generated_chains_fuse_and_have_every_length() {
    let mut lengths = std::collections::BTreeSet::new();
    let mut portless = 0;
    for seed in 0..60u64 {
        let cases = super::chain(seed, 4).unwrap_or_else(|e| panic!("{e}"));
        lengths.insert(cases.len());
        portless += cases.iter().filter(|c| c.module.ports.is_empty()).count();
        let modules: Vec<_> = cases.into_iter().map(|c| c.module).collect();
        crate::ir::chain::fuse(&modules).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    assert_eq!(lengths.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(portless > 0);
}

#[test]
fn hash_keys_and_meta_group_are_generated_and_their_entries_hit() {
    use crate::ir::Field;
    let mut buckets = std::collections::BTreeSet::new();
    let (mut hash_tables, mut group_keys, mut group_writes) = (0, 0, 0);
    let (mut hash_hits, mut group_hits, mut hashed_fields) = (0, 0, 0);
    for seed in 0..300u64 {
        let m = case(seed).unwrap().module;
        for t in &m.tables {
            if let Some(h) = t.hash_key() {
                hash_tables += 1;
                buckets.insert(h.buckets);
                hashed_fields += h.fields.len();
                assert!(h.fields.iter().all(|f| f.hashable().is_ok()), "{h:?}");
            }
            group_keys += usize::from(t.keys.iter().any(|k| k.field == Field::MetaGroup));
        }
        for a in &m.actions {
            group_writes += a
                .body
                .iter()
                .filter(|p| {
                    matches!(
                        p,
                        Primitive::Set {
                            field: Field::MetaGroup,
                            ..
                        } | Primitive::Copy {
                            field: Field::MetaGroup,
                            ..
                        }
                    )
                })
                .count();
        }
        for f in frames(seed, &m, 40) {
            let out = semantics::run(&m, f.in_port, &f.bytes);
            for s in &out.steps {
                if let Step::Hit { table, .. } = s {
                    let t = m.table(*table);
                    hash_hits += usize::from(t.hash_key().is_some());
                    group_hits += usize::from(t.keys.iter().any(|k| k.field == Field::MetaGroup));
                }
            }
        }
    }
    eprintln!(
        "hash tables {hash_tables} (buckets {buckets:?}, {hashed_fields} fields), hits {hash_hits}; \
         meta.group keys {group_keys}, writes {group_writes}, hits {group_hits}"
    );
    assert!(
        hash_tables > 50 && buckets.len() >= 4,
        "{hash_tables} {buckets:?}"
    );
    assert!(group_keys > 20 && group_writes > 20);
    assert!(
        hash_hits > 200 && group_hits > 50,
        "{hash_hits} {group_hits}"
    );
}

#[test]
fn metered_cases_compile_and_keep_their_meters() {
    let mc = ModuleConfig {
        meters: true,
        ..ModuleConfig::default()
    };
    let mut metered = 0;
    let mut own = 0;
    for seed in 0..200 {
        let case = case_with(seed, &mc, &EntryConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        for t in &case.module.tables {
            if t.meter.is_some() {
                metered += 1;
                own += t.entries.iter().filter(|e| e.meter.is_some()).count();
            }
        }
    }
    assert!(metered > 100, "{metered} metered tables");
    assert!(own > 20, "{own} entries with their own meter");
    // Off by default: the default generator's cases are unchanged.
    assert!((0..50).all(|s| case(s)
        .unwrap()
        .module
        .tables
        .iter()
        .all(|t| t.meter.is_none())));
}
