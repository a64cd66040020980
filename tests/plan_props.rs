//! Property: the planner never picks a target whose capabilities miss a
//! requirement. The oracle below restates the requirements independently of
//! `plan::check` (necessary conditions only), so a planner or check bug that
//! lets an unfit target through shows up here.

use offload_core::ir::{MatchKind, Requirements, TableRequirements};
use offload_core::plan::{
    self, Availability, DeviceCaps, Family, Helper, MapType, Offer, Options, Profile, Sourced,
    Target, XdpAction,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn kinds() -> impl Strategy<Value = BTreeSet<MatchKind>> {
    prop::collection::btree_set(
        prop::sample::select(vec![
            MatchKind::Exact,
            MatchKind::Lpm,
            MatchKind::Ternary,
            MatchKind::Range,
        ]),
        1..3,
    )
}

fn table() -> impl Strategy<Value = TableRequirements> {
    (
        kinds(),
        prop_oneof![1u32..4, 1u32..5000, 1u32..2_000_000],
        1u32..80,
        0u32..40,
        0usize..20,
        any::<bool>(),
    )
        .prop_map(|(k, size, key, param, masks, counters)| {
            let tuple = k.contains(&MatchKind::Ternary) || k.contains(&MatchKind::Range);
            TableRequirements {
                name: "t".into(),
                match_kinds: k,
                size,
                entries: 0,
                key_bytes: key,
                param_bytes: param,
                ternary_masks: if tuple { masks } else { 0 },
                counters,
                hash_bytes: 0,
            }
        })
}

fn requirements() -> impl Strategy<Value = Requirements> {
    (
        prop::collection::vec(table(), 0..4),
        prop::collection::vec(any::<bool>(), 9),
    )
        .prop_map(|(mut tables, f)| {
            for (i, t) in tables.iter_mut().enumerate() {
                t.name = format!("t{i}");
            }
            let hash_tables: Vec<String> = if f[8] {
                tables.first().map(|t| t.name.clone()).into_iter().collect()
            } else {
                Vec::new()
            };
            Requirements {
                match_kinds: tables
                    .iter()
                    .flat_map(|t| t.match_kinds.iter().copied())
                    .collect(),
                max_ternary_masks: tables.iter().map(|t| t.ternary_masks).max().unwrap_or(0),
                counters: tables.iter().any(|t| t.counters),
                total_table_size: tables.iter().map(|t| u64::from(t.size)).sum(),
                tables,
                redirect: f[0],
                tx: f[1],
                pass: f[2],
                drop: f[3],
                vlan_push: f[4],
                vlan_pop: f[5],
                ipv4_checksum_rewrite: f[6],
                l4_checksum_rewrite: f[7],
                rewrite: f[6] || f[7],
                // A hash key on the first table, now and then.
                hash_tables,
                ..Requirements::default()
            }
        })
}

/// A built-in profile with random capabilities taken away and random limits.
fn profile() -> impl Strategy<Value = Profile> {
    (
        prop::sample::select(Profile::NAMES.to_vec()),
        prop::collection::vec(any::<bool>(), 25),
        prop::option::of(1u64..10_000),
        prop::option::of(1u64..1_000_000),
        prop::option::of(1u32..64),
        prop::option::of(0u32..12),
    )
        .prop_map(|(name, drop, per_map, total, key, masks)| {
            let mut p = Profile::by_name(name).unwrap();
            match &mut p.family {
                Family::Ebpf(e) => {
                    for (i, m) in MapType::ALL.iter().enumerate() {
                        if drop[i] {
                            e.map_types.value.remove(m);
                        }
                    }
                    for (i, h) in [
                        Helper::RedirectMap,
                        Helper::XdpAdjustHead,
                        Helper::MapLookupElem,
                    ]
                    .iter()
                    .enumerate()
                    {
                        if drop[6 + i] {
                            e.helpers.value.remove(h);
                        }
                    }
                    for (i, a) in [
                        XdpAction::Tx,
                        XdpAction::Redirect,
                        XdpAction::Pass,
                        XdpAction::Drop,
                    ]
                    .iter()
                    .enumerate()
                    {
                        if drop[9 + i] {
                            e.actions.value.remove(a);
                        }
                    }
                    if drop[13] {
                        e.atomic_add.value = false;
                    }
                    if drop[24] {
                        e.hash_keys.value = false;
                    }
                }
                Family::P4(x) => {
                    for (i, k) in [
                        MatchKind::Exact,
                        MatchKind::Lpm,
                        MatchKind::Ternary,
                        MatchKind::Range,
                    ]
                    .iter()
                    .enumerate()
                    {
                        if drop[14 + i] {
                            x.match_kinds.value.remove(k);
                        }
                    }
                    x.forward.value = !drop[18];
                    x.tx.value = !drop[19];
                    x.cpu_port.value = !drop[20];
                    x.checksum_update.value = !drop[21];
                    x.vlan_push_pop.value = !drop[22];
                    x.direct_counters.value = !drop[23];
                }
            }
            let l = &mut p.limits;
            if per_map.is_some() {
                l.max_entries_per_map = per_map.map(|v| Sourced::new(v, "test"));
            }
            if total.is_some() {
                l.max_total_entries = total.map(|v| Sourced::new(v, "test"));
            }
            if key.is_some() {
                l.max_key_bytes = key.map(|v| Sourced::new(v, "test"));
            }
            if masks.is_some() {
                l.max_ternary_masks = masks.map(|v| Sourced::new(v, "test"));
            }
            p
        })
}

fn device() -> impl Strategy<Value = DeviceCaps> {
    prop::collection::vec(
        (
            prop::sample::select(Target::ALL.to_vec()),
            profile(),
            any::<bool>(),
        ),
        1..6,
    )
    .prop_map(|offers| {
        let mut seen = BTreeSet::new();
        DeviceCaps {
            device: "dev".into(),
            description: "generated".into(),
            offers: offers
                .into_iter()
                .filter(|(t, _, _)| seen.insert(*t))
                .map(|(target, profile, up)| Offer {
                    target,
                    profile,
                    availability: if up {
                        Availability::Yes {
                            evidence: "test".into(),
                        }
                    } else {
                        Availability::No {
                            reason: "down".into(),
                            source: "test".into(),
                        }
                    },
                    redirect_notes: Vec::new(),
                })
                .collect(),
        }
    })
}

fn options() -> impl Strategy<Value = Options> {
    (
        prop::option::of(prop::sample::select(Target::ALL.to_vec())),
        any::<bool>(),
    )
        .prop_map(|(mode, strict)| Options { mode, strict })
}

/// Independent restatement of what a target must have: `Some(why)` when the
/// profile visibly misses a requirement.
fn oracle(req: &Requirements, p: &Profile) -> Option<String> {
    let l = &p.limits;
    for t in &req.tables {
        if let Some(m) = &l.max_entries_per_map {
            if u64::from(t.size) > m.value {
                return Some(format!("{} has {} entries > {}", t.name, t.size, m.value));
            }
        }
        if let Some(m) = &l.max_ternary_masks {
            if t.ternary_masks as u64 > u64::from(m.value) {
                return Some(format!("{} masks", t.name));
            }
        }
    }
    if let Some(m) = &l.max_total_entries {
        if req.total_table_size > m.value {
            return Some("total entries".into());
        }
    }
    match &p.family {
        Family::Ebpf(e) => {
            if !req.hash_tables.is_empty() && !e.hash_keys.value {
                return Some("hash keys".into());
            }
            if let Some(m) = &l.max_key_bytes {
                if req.tables.iter().any(|t| t.key_bytes > m.value) {
                    return Some("key size".into());
                }
            }
            for t in &req.tables {
                let tuple = t.match_kinds.contains(&MatchKind::Ternary)
                    || t.match_kinds.contains(&MatchKind::Range);
                if tuple && !(e.has_map(MapType::Hash) && e.has_map(MapType::Array)) {
                    return Some("tuple space needs hash + array".into());
                }
                if !tuple && t.match_kinds.contains(&MatchKind::Lpm) && !e.has_map(MapType::LpmTrie)
                {
                    return Some("lpm needs an LPM trie".into());
                }
                if !tuple && !t.match_kinds.contains(&MatchKind::Lpm) && !e.has_map(MapType::Hash) {
                    return Some("exact needs a hash".into());
                }
                if t.counters
                    && !(e.has_map(MapType::PercpuArray)
                        || (e.has_map(MapType::Array) && e.atomic_add.value))
                {
                    return Some("counters".into());
                }
            }
            if !req.tables.is_empty() && !e.has_helper(Helper::MapLookupElem) {
                return Some("lookups".into());
            }
            if req.redirect
                && !(e.has_action(XdpAction::Redirect)
                    && e.has_helper(Helper::RedirectMap)
                    && e.has_map(MapType::Devmap))
            {
                return Some("redirect".into());
            }
            if (req.tx && !e.has_action(XdpAction::Tx))
                || (req.pass && !e.has_action(XdpAction::Pass))
                || (req.drop && !e.has_action(XdpAction::Drop))
            {
                return Some("verdict".into());
            }
            if (req.vlan_push || req.vlan_pop) && !e.has_helper(Helper::XdpAdjustHead) {
                return Some("vlan".into());
            }
        }
        Family::P4(x) => {
            if !req.match_kinds.is_subset(&x.match_kinds.value) {
                return Some("match kinds".into());
            }
            let bad = (req.redirect && !x.forward.value)
                || (req.tx && !x.tx.value)
                || (req.pass && !x.cpu_port.value)
                || ((req.ipv4_checksum_rewrite || req.l4_checksum_rewrite)
                    && !x.checksum_update.value)
                || ((req.vlan_push || req.vlan_pop) && !x.vlan_push_pop.value)
                || (req.counters && !x.direct_counters.value);
            if bad {
                return Some("p4 capability".into());
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn planner_never_picks_a_target_missing_a_requirement(req in requirements(), dev in device(), opts in options()) {
        let p = plan::plan_device(&req, &dev, opts);
        if let Some(t) = p.chosen {
            let offer = dev.offers.iter().find(|o| o.target == t).unwrap();
            prop_assert!(matches!(offer.availability, Availability::Yes { .. }), "picked an unavailable target");
            prop_assert_eq!(oracle(&req, &offer.profile), None, "picked {} although it misses a requirement", t);
            prop_assert!(plan::check(&req, &offer.profile).is_empty());
            if let Some(m) = opts.mode {
                prop_assert_eq!(t, m);
            }
            if opts.strict {
                prop_assert_eq!(Some(t), p.best);
            }
            // Every better target was rejected with at least one reason.
            for o in dev.offers.iter().filter(|o| o.target < t) {
                let r = p.reasons_for(o.target);
                prop_assert!(r.is_some_and(|r| !r.is_empty()), "{} better than {} not explained", o.target, t);
            }
        } else {
            prop_assert!(p.refusal.is_some());
            if opts.mode.is_none() && !opts.strict {
                // Nothing fits: every available target has a reason.
                for o in &dev.offers {
                    prop_assert!(p.reasons_for(o.target).is_some_and(|r| !r.is_empty()));
                }
            }
        }
    }

    #[test]
    fn check_finds_at_least_what_the_oracle_finds(req in requirements(), prof in profile()) {
        if oracle(&req, &prof).is_some() {
            prop_assert!(!plan::check(&req, &prof).is_empty());
        }
    }
}
