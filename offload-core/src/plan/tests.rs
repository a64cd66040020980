//! Unit tests of the fit check and the planner on hand-built requirements.

use super::*;
use crate::ir::{MatchKind, Requirements, TableRequirements};
use std::collections::BTreeSet;

fn table(name: &str, kinds: &[MatchKind], size: u32) -> TableRequirements {
    TableRequirements {
        name: name.into(),
        match_kinds: kinds.iter().copied().collect(),
        size,
        entries: 0,
        key_bytes: 4,
        param_bytes: 2,
        ternary_masks: 0,
        counters: false,
        hash_bytes: 0,
    }
}

fn req(tables: Vec<TableRequirements>) -> Requirements {
    let mut r = Requirements {
        match_kinds: tables
            .iter()
            .flat_map(|t| t.match_kinds.iter().copied())
            .collect(),
        total_table_size: tables.iter().map(|t| u64::from(t.size)).sum(),
        max_ternary_masks: tables.iter().map(|t| t.ternary_masks).max().unwrap_or(0),
        counters: tables.iter().any(|t| t.counters),
        tables,
        ..Requirements::default()
    };
    r.drop = true;
    r.pass = true;
    r
}

fn ebpf_offers(offload: Profile) -> Vec<Offer> {
    let yes = || Availability::Yes {
        evidence: "test".into(),
    };
    vec![
        Offer {
            target: Target::Tc,
            profile: Profile::kernel(),
            availability: yes(),
            redirect_notes: Vec::new(),
        },
        Offer {
            target: Target::XdpOffload,
            profile: offload,
            availability: yes(),
            redirect_notes: Vec::new(),
        },
        Offer {
            target: Target::XdpNative,
            profile: Profile::kernel(),
            availability: yes(),
            redirect_notes: Vec::new(),
        },
        Offer {
            target: Target::XdpGeneric,
            profile: Profile::kernel(),
            availability: yes(),
            redirect_notes: Vec::new(),
        },
    ]
}

fn dev(offload: Profile) -> DeviceCaps {
    DeviceCaps {
        device: "eth0".into(),
        description: "test NIC".into(),
        offers: ebpf_offers(offload),
    }
}

#[test]
fn lpm_on_nfp_names_the_table_and_the_source() {
    let r = req(vec![table("routes", &[MatchKind::Lpm], 1024)]);
    let u = check(&r, &Profile::nfp());
    assert_eq!(u.len(), 1, "{u:#?}");
    assert_eq!(
        u[0].message,
        "table routes uses lpm; the NFP offload profile has no LPM trie"
    );
    assert!(
        u[0].source.contains("kernel/bpf/offload.c"),
        "{}",
        u[0].source
    );
    assert!(check(&r, &Profile::kernel()).is_empty());
    assert!(check(&r, &Profile::v1model()).is_empty());
}

#[test]
fn redirect_is_one_reason_listing_every_missing_piece() {
    let mut r = req(vec![table("fwd", &[MatchKind::Exact], 16)]);
    r.redirect = true;
    let u = check(&r, &Profile::nfp());
    assert_eq!(u.len(), 1, "{u:#?}");
    assert_eq!(u[0].need, Need::Redirect);
    assert!(u[0].message.contains("no XDP_REDIRECT"), "{}", u[0].message);
    assert!(u[0].message.contains("no DEVMAP"));
    assert!(u[0].source.contains("jit.c"));
    assert!(check(&r, &Profile::kernel()).is_empty());
}

#[test]
fn netdevsim_refuses_a_table_of_three() {
    let small = req(vec![table("acl", &[MatchKind::Exact], 2)]);
    assert!(check(&small, &Profile::netdevsim()).is_empty());
    let big = req(vec![table("acl", &[MatchKind::Exact], 3)]);
    let u = check(&big, &Profile::netdevsim());
    assert_eq!(u.len(), 1, "{u:#?}");
    assert!(matches!(
        u[0].need,
        Need::MapEntries {
            entries: 3,
            limit: 2,
            ..
        }
    ));
    assert!(u[0].source.contains("drivers/net/netdevsim/bpf.c"));
}

#[test]
fn nfp_counters_use_plain_arrays_and_kernel_per_cpu() {
    let mut t = table("acl", &[MatchKind::Exact], 8);
    t.counters = true;
    let r = req(vec![t]);
    let nfp = Profile::nfp();
    let maps = layout::maps(&r, nfp.ebpf().unwrap(), None);
    assert!(maps
        .iter()
        .any(|m| m.role == MapRole::Counters("acl".into()) && m.map_type == MapType::Array));
    let k = Profile::kernel();
    let maps = layout::maps(&r, k.ebpf().unwrap(), None);
    assert!(maps.iter().any(|m| m.map_type == MapType::PercpuArray));
    assert!(check(&r, &nfp).is_empty());
}

#[test]
fn ternary_masks_over_the_bound_are_refused_and_warned() {
    let mut t = table("acl", &[MatchKind::Ternary], 100);
    t.ternary_masks = 9;
    let r = req(vec![t]);
    let u = check(&r, &Profile::nfp());
    assert!(
        u.iter().any(|u| matches!(
            u.need,
            Need::TernaryMasks {
                masks: 9,
                limit: 8,
                ..
            }
        )),
        "{u:#?}"
    );
    let w = advise(&r, &Profile::kernel());
    assert!(w.is_empty(), "9 masks is under the kernel's warning bound");
    let mut t = table("acl", &[MatchKind::Ternary], 100);
    t.ternary_masks = 20;
    let w = advise(&req(vec![t]), &Profile::kernel());
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("one hash probe per mask"));
}

#[test]
fn oversized_keys_break_the_nfp_element_budget() {
    let mut t = table("v6", &[MatchKind::Exact], 8);
    t.key_bytes = 80;
    let u = check(&req(vec![t]), &Profile::nfp());
    assert!(
        u.iter()
            .any(|u| matches!(u.need, Need::KeySize { bytes: 80, .. })),
        "{u:#?}"
    );
}

#[test]
fn total_entries_budget_counts_every_map() {
    let r = req(vec![
        table("a", &[MatchKind::Exact], 2_000_000),
        table("b", &[MatchKind::Exact], 2_000_000),
    ]);
    let u = check(&r, &Profile::nfp());
    assert!(
        u.iter().any(|u| matches!(
            u.need,
            Need::TotalEntries {
                entries: 4_000_000,
                ..
            }
        )),
        "{u:#?}"
    );
}

#[test]
fn planner_prefers_offload_then_falls_back_with_reasons() {
    let ok = req(vec![table("acl", &[MatchKind::Exact], 16)]);
    let p = plan_device(&ok, &dev(Profile::nfp()), Options::default());
    assert_eq!(p.chosen, Some(Target::XdpOffload));
    assert!(p.rejected.is_empty());

    let lpm = req(vec![table("routes", &[MatchKind::Lpm], 16)]);
    let p = plan_device(&lpm, &dev(Profile::nfp()), Options::default());
    assert_eq!(p.chosen, Some(Target::XdpNative));
    let why = p.reasons_for(Target::XdpOffload).unwrap();
    assert_eq!(why.len(), 1);
    assert!(why[0]
        .to_string()
        .starts_with("table routes uses lpm; the NFP offload profile has no LPM trie ("));
}

#[test]
fn strict_refuses_falling_back() {
    let lpm = req(vec![table("routes", &[MatchKind::Lpm], 16)]);
    let opts = Options {
        strict: true,
        mode: None,
    };
    let p = plan_device(&lpm, &dev(Profile::nfp()), opts);
    assert_eq!(p.chosen, None);
    assert_eq!(
        p.refusal,
        Some(Refusal::StrictBestUnmet {
            best: Target::XdpOffload
        })
    );
    let ok = req(vec![table("acl", &[MatchKind::Exact], 16)]);
    assert_eq!(
        plan_device(&ok, &dev(Profile::nfp()), opts).chosen,
        Some(Target::XdpOffload)
    );
}

#[test]
fn forced_mode_that_cannot_hold_gets_the_reasons() {
    let lpm = req(vec![table("routes", &[MatchKind::Lpm], 16)]);
    let opts = Options {
        mode: Some(Target::XdpOffload),
        strict: false,
    };
    let p = plan_device(&lpm, &dev(Profile::nfp()), opts);
    assert_eq!(p.chosen, None);
    assert_eq!(
        p.refusal,
        Some(Refusal::ForcedModeUnmet {
            target: Target::XdpOffload
        })
    );
    assert!(p.reasons_for(Target::XdpOffload).unwrap()[0]
        .message
        .contains("LPM trie"));

    let opts = Options {
        mode: Some(Target::XdpGeneric),
        strict: false,
    };
    let p = plan_device(&lpm, &dev(Profile::nfp()), opts);
    assert_eq!(p.chosen, Some(Target::XdpGeneric));
    assert_eq!(
        p.reasons_for(Target::XdpNative).unwrap()[0].need,
        Need::NotSelected
    );

    let opts = Options {
        mode: Some(Target::P4Tna),
        strict: false,
    };
    let p = plan_device(&lpm, &dev(Profile::nfp()), opts);
    assert_eq!(p.chosen, None);
    assert_eq!(
        p.reasons_for(Target::P4Tna).unwrap()[0].need,
        Need::Unavailable
    );
}

#[test]
fn unavailable_targets_are_rejected_with_the_probe_reason() {
    let mut d = dev(Profile::nfp());
    d.offers[1].availability = Availability::No {
        reason: "driver ixgbe has no hardware offload".into(),
        source: "xdp-features".into(),
    };
    let ok = req(vec![table("acl", &[MatchKind::Exact], 16)]);
    let p = plan_device(&ok, &d, Options::default());
    assert_eq!(p.chosen, Some(Target::XdpNative));
    assert_eq!(p.best, Some(Target::XdpNative));
    assert_eq!(
        p.reasons_for(Target::XdpOffload).unwrap()[0].need,
        Need::Unavailable
    );
}

#[test]
fn program_facts_check_catches_btf_and_flags() {
    let facts = ProgramFacts {
        insns: 3000,
        stack_bytes: 600,
        maps: vec![MapSpec {
            role: MapRole::Entries("x".into()),
            map_type: MapType::LpmTrie,
            key_size: 8,
            value_size: 8,
            max_entries: 4,
        }],
        helpers: vec![Helper::RedirectMap],
        actions: vec![XdpAction::Pass, XdpAction::Redirect],
        map_flags: true,
        map_btf: true,
        global_data: false,
    };
    let u = check_program(&facts, &Profile::nfp());
    let needs: BTreeSet<String> = u.iter().map(|u| format!("{:?}", u.need)).collect();
    for n in ["Redirect", "MapFlags", "MapBtf", "Stack"] {
        assert!(
            needs.iter().any(|x| x.starts_with(n)),
            "{n} missing in {needs:?}"
        );
    }
    assert!(u.iter().any(|u| matches!(
        u.need,
        Need::Insns {
            insns: 3000,
            estimated: false,
            ..
        }
    )));
    assert!(u.iter().any(|u| matches!(
        u.need,
        Need::MapType {
            map_type: MapType::LpmTrie
        }
    )));
    assert!(u.iter().any(|u| matches!(
        u.need,
        Need::Helper {
            helper: Helper::RedirectMap
        }
    )));
    let facts = ProgramFacts {
        stack_bytes: 600,
        ..facts
    };
    let u = check_program(&facts, &Profile::kernel());
    assert_eq!(u.len(), 1, "{u:#?}");
}

#[test]
fn every_profile_names_sources() {
    for name in Profile::NAMES {
        let p = Profile::by_name(name).unwrap();
        let l = &p.limits;
        for s in [
            l.max_entries_per_map.as_ref().map(|s| &s.source),
            l.max_total_entries.as_ref().map(|s| &s.source),
            l.max_insns.as_ref().map(|s| &s.source),
        ]
        .into_iter()
        .flatten()
        {
            assert!(!s.is_empty());
        }
        if let Some(e) = p.ebpf() {
            assert!(!e.map_types.source.is_empty() && !e.helpers.source.is_empty());
        }
    }
}

#[test]
fn hash_keys_are_refused_by_the_offload_profiles_with_the_table_named() {
    let mut r = req(vec![table("ecmp", &[MatchKind::Exact], 2)]);
    r.hash_tables = vec!["ecmp".into()];
    for p in [Profile::nfp(), Profile::netdevsim()] {
        let u = check(&r, &p);
        assert_eq!(u.len(), 1, "{u:#?}");
        assert_eq!(
            u[0].need,
            Need::HashKey {
                table: "ecmp".into()
            }
        );
        assert!(
            u[0].message.starts_with("table ecmp selects by a hash"),
            "{}",
            u[0].message
        );
        assert!(u[0].source.contains("instructions per hashed byte"));
    }
    for p in [Profile::kernel(), Profile::v1model(), Profile::tna()] {
        assert!(check(&r, &p).is_empty(), "{}", p.name);
    }
    // The planner falls back from offload to the kernel, saying why.
    let m = crate::spec::compile(include_str!("../../../examples/l3-router-ecmp.toml")).unwrap();
    assert_eq!(m.requirements().hash_tables, ["ecmp"]);
}

#[test]
fn meters_are_refused_by_nfp_netdevsim_and_p4_with_the_table_named() {
    let mut r = req(vec![table("ratelimit", &[MatchKind::Exact], 2)]);
    r.meter_tables = vec!["ratelimit".into()];
    for (p, why) in [
        (Profile::nfp(), "no bpf_ktime_get_ns"),
        (Profile::netdevsim(), "offloaded maps refuse BTF"),
        (Profile::v1model(), "three-color"),
        (Profile::tna(), "three-color"),
    ] {
        let u = check(&r, &p);
        assert_eq!(u.len(), 1, "{}: {u:#?}", p.name);
        assert_eq!(
            u[0].need,
            Need::Meter {
                table: "ratelimit".into()
            }
        );
        assert!(
            u[0].message.starts_with("table ratelimit has a meter"),
            "{}",
            u[0].message
        );
        assert!(u[0].source.contains(why), "{}: {}", p.name, u[0].source);
    }
    assert!(check(&r, &Profile::kernel()).is_empty());
    let m = crate::spec::compile(include_str!("../../../examples/ddos-mitigator.toml")).unwrap();
    assert_eq!(m.requirements().meter_tables, ["ratelimit", "dns_budget"]);
}
