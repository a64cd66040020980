//! Round trips `entry_from_p4rt(table_entry(e)) == canonical(e)` over the
//! examples' entries and over generated modules, against a P4Info built from
//! the naming map the way p4c names things (tables and actions by fully
//! qualified name, match fields by key expression, parameters by name). The
//! integration test `drivers/tests/p4rt_bmv2.rs` checks those names against
//! the P4Info the real p4c writes.

use super::*;
use crate::p4rt::p4info::{self, MatchType, P4Info};
use offload_core::ir::{FieldKind, Module};
use offload_p4::{Arch, Options};

fn preamble(id: u32, name: &str) -> Option<p4info::Preamble> {
    Some(p4info::Preamble {
        id,
        name: name.to_string(),
        alias: name.rsplit('.').next().unwrap_or(name).to_string(),
    })
}

/// A P4Info with p4c's names and made-up ids for `names`.
pub(crate) fn fake_p4info(names: &NamingMap) -> P4Info {
    let mut info = P4Info::default();
    let mut action_ids: Vec<(String, String)> = Vec::new(); // (runtime, module)
    for t in &names.tables {
        for a in &t.actions {
            if !action_ids.iter().any(|(r, _)| *r == a.runtime) {
                action_ids.push((a.runtime.clone(), a.module.clone()));
            }
        }
    }
    for (i, (runtime, module)) in action_ids.iter().enumerate() {
        let params = names
            .actions
            .iter()
            .find(|a| a.module == *module)
            .map(|a| {
                a.params
                    .iter()
                    .enumerate()
                    .map(|(j, p)| p4info::Param {
                        id: j as u32 + 1,
                        name: p.p4.clone(),
                        bitwidth: p.width as i32,
                    })
                    .collect()
            })
            .unwrap_or_default();
        info.actions.push(p4info::Action {
            preamble: preamble(0x0100_0001 + i as u32, runtime),
            params,
        });
    }
    for (i, t) in names.tables.iter().enumerate() {
        let id = 0x0200_0001 + i as u32;
        let mut direct = Vec::new();
        if let Some(dc) = &t.direct_counter {
            let dc_id = 0x1300_0001 + i as u32;
            direct.push(dc_id);
            info.direct_counters.push(p4info::DirectCounter {
                preamble: preamble(dc_id, dc),
                spec: Some(p4info::CounterSpec { unit: 3 }),
                direct_table_id: id,
            });
        }
        if let Some(mc) = &t.miss_counter {
            info.counters.push(p4info::Counter {
                preamble: preamble(0x1200_0001 + i as u32, mc),
                spec: Some(p4info::CounterSpec { unit: 3 }),
                size: 1,
            });
        }
        info.tables.push(p4info::Table {
            preamble: preamble(id, &t.runtime),
            match_fields: t
                .keys
                .iter()
                .enumerate()
                .map(|(j, k)| p4info::MatchField {
                    id: j as u32 + 1,
                    name: k.p4.clone(),
                    bitwidth: k.width as i32,
                    match_type: match k.kind.as_str() {
                        "exact" => MatchType::Exact,
                        "lpm" => MatchType::Lpm,
                        "ternary" => MatchType::Ternary,
                        "range" => MatchType::Range,
                        other => panic!("match kind {other}"),
                    } as i32,
                })
                .collect(),
            action_refs: t
                .actions
                .iter()
                .map(|a| p4info::ActionRef {
                    id: 0x0100_0001
                        + action_ids
                            .iter()
                            .position(|(r, _)| *r == a.runtime)
                            .unwrap() as u32,
                })
                .collect(),
            direct_resource_ids: direct,
            size: 1024,
        });
    }
    info
}

fn example(name: &str) -> Module {
    let src = match name {
        "edge-router" => include_str!("../../../../examples/edge-router.toml"),
        "ddos-filter" => include_str!("../../../../examples/ddos-filter.toml"),
        "l2-switch" => include_str!("../../../../examples/l2-switch.toml"),
        _ => unreachable!(),
    };
    offload_core::spec::compile(src).unwrap_or_else(|d| panic!("{name}: {d:?}"))
}

/// The P4Runtime form obeys the spec's rules for what we write.
fn check_wire_form(module: &Module, t: &Table, te: &TableEntry, info: &P4Info) {
    let p4t = info.table_by_id(te.table_id).unwrap();
    let canon = |b: &[u8]| {
        assert!(
            !b.is_empty() && (b.len() == 1 || b[0] != 0),
            "{b:?} not canonical"
        )
    };
    for fm in &te.r#match {
        let mf = p4t.match_field_by_id(fm.field_id).unwrap();
        let w = mf.bitwidth as u32;
        match fm.field_match_type.as_ref().unwrap() {
            field_match::FieldMatchType::Exact(e) => canon(&e.value),
            field_match::FieldMatchType::Lpm(l) => {
                canon(&l.value);
                assert!(l.prefix_len > 0, "wildcard lpm written");
                let v = bytestr::decode(&l.value, w).unwrap();
                assert_eq!(v & !prefix_mask(w, l.prefix_len as u32), 0, "host bits set");
            }
            field_match::FieldMatchType::Ternary(x) => {
                canon(&x.value);
                canon(&x.mask);
                let (v, m) = (
                    bytestr::decode(&x.value, w).unwrap(),
                    bytestr::decode(&x.mask, w).unwrap(),
                );
                assert_ne!(m, 0, "wildcard ternary written");
                assert_eq!(v & !m, 0, "value bits outside the mask");
            }
            field_match::FieldMatchType::Range(x) => {
                canon(&x.low);
                canon(&x.high);
                let (lo, hi) = (
                    bytestr::decode(&x.low, w).unwrap(),
                    bytestr::decode(&x.high, w).unwrap(),
                );
                assert!(lo <= hi);
                assert!(!(lo == 0 && hi == mask_of_width(w)), "full range written");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        te.priority > 0,
        t.needs_priority(),
        "{} priority {}",
        t.name,
        te.priority
    );
    let _ = module;
}

fn round_trip_module(module: &Module) -> usize {
    let out = offload_p4::compile(module, &Options::new(Arch::V1model))
        .unwrap_or_else(|e| panic!("{}: {e}", module.name));
    let info = fake_p4info(&out.names);
    let n = Names {
        module,
        names: &out.names,
        p4info: &info,
    };
    let mut count = 0;
    for t in &module.tables {
        let d = default_entry(&n, t.id).unwrap();
        assert!(d.is_default_action && d.r#match.is_empty());
        assert_eq!(
            default_from_p4rt(&n, &d).unwrap(),
            (t.id, t.default_action.clone())
        );
        for e in &t.entries {
            let te = table_entry(&n, t.id, e)
                .unwrap_or_else(|err| panic!("{} table {}: {err}", module.name, t.name));
            check_wire_form(module, t, &te, &info);
            let (tid, back) = entry_from_p4rt(&n, &te)
                .unwrap_or_else(|err| panic!("{} table {}: {err}\n{te:?}", module.name, t.name));
            assert_eq!(tid, t.id);
            assert_eq!(back, canonical(t, e), "{} table {}", module.name, t.name);
            // The IR's entries are canonical already: only the span differs.
            assert_eq!(
                back,
                Entry {
                    span: Span::default(),
                    ..e.clone()
                }
            );
            count += 1;
        }
    }
    assert_eq!(
        module_updates(&n).unwrap().len(),
        count + module.tables.len()
    );
    count
}

#[test]
fn examples_round_trip() {
    for name in ["edge-router", "ddos-filter", "l2-switch"] {
        let m = example(name);
        let n = round_trip_module(&m);
        assert!(n > 0, "{name} has entries");
    }
}

#[test]
fn generated_modules_round_trip() {
    let mut entries = 0;
    let mut modules = 0;
    for seed in 0..300u64 {
        let case = offload_core::testgen::case(seed).unwrap_or_else(|e| panic!("{e}"));
        // Modules the P4 backend refuses (documented limits) are not ours to test.
        if offload_p4::compile(&case.module, &Options::new(Arch::V1model)).is_err() {
            continue;
        }
        entries += round_trip_module(&case.module);
        modules += 1;
    }
    assert!(
        modules > 200 && entries > 1000,
        "{modules} modules, {entries} entries"
    );
}

fn edge() -> (Module, offload_p4::Output, P4Info) {
    let m = example("edge-router");
    let out = offload_p4::compile(&m, &Options::new(Arch::V1model)).unwrap();
    let info = fake_p4info(&out.names);
    (m, out, info)
}

#[test]
fn edge_router_entries_on_the_wire() {
    let (m, out, info) = edge();
    let n = Names {
        module: &m,
        names: &out.names,
        p4info: &info,
    };
    let routes = m.table_by_name("routes").unwrap();
    // 192.168.1.0/24 => route(servers, 02:00:00:00:00:02, 02:00:00:00:00:01)
    let te = table_entry(&n, routes.id, &routes.entries[0]).unwrap();
    assert_eq!(te.priority, 0);
    let Some(field_match::FieldMatchType::Lpm(l)) = &te.r#match[0].field_match_type else {
        panic!("{te:?}");
    };
    assert_eq!(
        (l.value.as_slice(), l.prefix_len),
        (&[192, 168, 1, 0][..], 24)
    );
    let Some(table_action::Type::Action(a)) = te.action.unwrap().r#type else {
        panic!()
    };
    assert_eq!(
        info.action_by_id(a.action_id).unwrap().name(),
        "IngressImpl.route"
    );
    let vals: Vec<&[u8]> = a.params.iter().map(|p| p.value.as_slice()).collect();
    assert_eq!(
        vals,
        [&[2][..], &[2, 0, 0, 0, 0, 2][..], &[2, 0, 0, 0, 0, 1][..]]
    );

    // acl: 0.0.0.0&&&0.0.0.0 6 22->22 (deny, priority 10): the ternary wildcard is left out.
    let acl = m.table_by_name("acl").unwrap();
    let e = acl
        .entries
        .iter()
        .find(|e| matches!(e.matches[0], KeyMatch::Ternary { mask: 0, .. }))
        .unwrap();
    let te = table_entry(&n, acl.id, e).unwrap();
    assert_eq!(te.priority, e.priority.unwrap() as i32 + 1);
    let ids: Vec<u32> = te.r#match.iter().map(|f| f.field_id).collect();
    assert_eq!(ids, [2, 3], "{te:?}");
    // 192.0.2.0&&&255.255.255.0 6 0->65535: the full range is left out.
    let e = acl
        .entries
        .iter()
        .find(|e| matches!(e.matches[2], KeyMatch::Range { lo: 0, hi: 65535 }))
        .unwrap();
    let te = table_entry(&n, acl.id, e).unwrap();
    assert_eq!(
        te.r#match.iter().map(|f| f.field_id).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn reads_are_normalised() {
    let (m, out, info) = edge();
    let n = Names {
        module: &m,
        names: &out.names,
        p4info: &info,
    };
    let routes = m.table_by_name("routes").unwrap();
    let mut te = table_entry(&n, routes.id, &routes.entries[0]).unwrap();
    // Padded value with host bits set: still 192.168.1.0/24.
    te.r#match[0].field_match_type = Some(field_match::FieldMatchType::Lpm(field_match::Lpm {
        value: vec![0, 192, 168, 1, 77],
        prefix_len: 24,
    }));
    let (_, e) = entry_from_p4rt(&n, &te).unwrap();
    assert_eq!(
        e.matches[0],
        KeyMatch::Lpm {
            value: 0xc0a8_0100,
            prefix_len: 24
        }
    );
    // An explicit wildcard reads like an omitted one.
    te.r#match[0].field_match_type = Some(field_match::FieldMatchType::Lpm(field_match::Lpm {
        value: vec![0],
        prefix_len: 0,
    }));
    let (_, e) = entry_from_p4rt(&n, &te).unwrap();
    assert_eq!(
        e.matches[0],
        KeyMatch::Lpm {
            value: 0,
            prefix_len: 0
        }
    );
    te.r#match.clear();
    assert_eq!(entry_from_p4rt(&n, &te).unwrap().1, e);

    let acl = m.table_by_name("acl").unwrap();
    let mut te = table_entry(&n, acl.id, &acl.entries[0]).unwrap();
    for f in &mut te.r#match {
        if let Some(field_match::FieldMatchType::Ternary(t)) = &mut f.field_match_type {
            // Set every bit outside the mask.
            let (v, m) = (
                bytestr::decode(&t.value, 32).unwrap(),
                bytestr::decode(&t.mask, 32).unwrap(),
            );
            t.value = bytestr::encode(v | (!m & 0xffff_ffff));
        }
    }
    let (_, e) = entry_from_p4rt(&n, &te).unwrap();
    assert_eq!(e, canonical(acl, &acl.entries[0]));
}

#[test]
fn bad_input_is_an_error_naming_the_culprit() {
    let (m, out, info) = edge();
    let n = Names {
        module: &m,
        names: &out.names,
        p4info: &info,
    };
    let routes = m.table_by_name("routes").unwrap();
    let acl = m.table_by_name("acl").unwrap();
    let good = table_entry(&n, routes.id, &routes.entries[0]).unwrap();

    let te = TableEntry {
        table_id: 0x0200_00ff,
        ..good.clone()
    };
    assert_eq!(
        entry_from_p4rt(&n, &te).unwrap_err(),
        TranslateError::UnknownTableId { id: 0x0200_00ff }
    );

    let mut te = good.clone();
    te.r#match[0].field_match_type = Some(field_match::FieldMatchType::Lpm(field_match::Lpm {
        value: vec![1, 0, 0, 0, 0],
        prefix_len: 8,
    }));
    let err = entry_from_p4rt(&n, &te).unwrap_err();
    assert!(
        matches!(&err, TranslateError::KeyValue { table, field, .. } if table == "routes" && field == "ipv4.dst"),
        "{err}"
    );

    let mut te = good.clone();
    te.r#match[0].field_match_type = Some(field_match::FieldMatchType::Exact(field_match::Exact {
        value: vec![1],
    }));
    assert!(matches!(
        entry_from_p4rt(&n, &te).unwrap_err(),
        TranslateError::BadMatch { .. }
    ));

    let mut te = good.clone();
    te.r#match.push(te.r#match[0].clone());
    assert!(matches!(
        entry_from_p4rt(&n, &te).unwrap_err(),
        TranslateError::DuplicateField { .. }
    ));

    let mut te = good.clone();
    te.priority = 3;
    assert!(matches!(
        entry_from_p4rt(&n, &te).unwrap_err(),
        TranslateError::BadPriority { .. }
    ));

    let mut te = table_entry(&n, acl.id, &acl.entries[0]).unwrap();
    te.priority = 0;
    assert!(matches!(
        entry_from_p4rt(&n, &te).unwrap_err(),
        TranslateError::BadPriority { .. }
    ));
    te.r#match.retain(|f| f.field_id != 2); // the exact protocol key
    te.priority = 5;
    let err = entry_from_p4rt(&n, &te).unwrap_err();
    assert_eq!(
        err,
        TranslateError::MissingExact {
            table: "acl".into(),
            field: "ipv4.protocol".into()
        }
    );

    let mut te = good.clone();
    te.action = None;
    assert!(matches!(
        entry_from_p4rt(&n, &te).unwrap_err(),
        TranslateError::NoDirectAction { .. }
    ));
    let mut te = good.clone();
    if let Some(table_action::Type::Action(a)) = te.action.as_mut().and_then(|a| a.r#type.as_mut())
    {
        a.params.pop();
    }
    assert!(
        matches!(entry_from_p4rt(&n, &te).unwrap_err(), TranslateError::MissingParam { ref param, .. } if param == "smac")
    );

    // A priority P4Runtime cannot carry.
    let mut e = acl.entries[0].clone();
    e.priority = Some(u32::MAX);
    assert!(matches!(
        table_entry(&n, acl.id, &e).unwrap_err(),
        TranslateError::PriorityRange { .. }
    ));
    // A port argument that does not fit the 9-bit port type.
    let mut e = routes.entries[0].clone();
    e.action.args[0] = 600;
    assert!(
        matches!(table_entry(&n, routes.id, &e).unwrap_err(), TranslateError::ParamValue { ref param, .. } if param == "port")
    );
    assert_eq!(
        table_entry(&n, TableId(9), &e).unwrap_err(),
        TranslateError::NoTable { table: 9 }
    );
    // A P4Info that lacks the table.
    let empty = P4Info::default();
    let n2 = Names {
        p4info: &empty,
        ..n
    };
    assert!(
        matches!(table_entry(&n2, routes.id, &routes.entries[0]).unwrap_err(), TranslateError::TableNotInP4Info { ref p4, .. } if p4 == "IngressImpl.routes")
    );
}

#[test]
fn ports_are_switch_ports_on_the_wire() {
    let m = example("edge-router");
    let mut opts = Options::new(Arch::V1model);
    opts.port_map.insert(2, 7); // servers = logical 2 → switch port 7
    let out = offload_p4::compile(&m, &opts).unwrap();
    let info = fake_p4info(&out.names);
    let n = Names {
        module: &m,
        names: &out.names,
        p4info: &info,
    };
    let routes = m.table_by_name("routes").unwrap();
    let te = table_entry(&n, routes.id, &routes.entries[0]).unwrap();
    let Some(table_action::Type::Action(a)) = te.action.clone().unwrap().r#type else {
        panic!()
    };
    assert_eq!(a.params[0].value, [7]);
    assert_eq!(entry_from_p4rt(&n, &te).unwrap().1.action.args[0], 2);
    let _ = FieldKind::Port;
}

#[test]
fn counters_by_name() {
    let (m, out, info) = edge();
    let n = Names {
        module: &m,
        names: &out.names,
        p4info: &info,
    };
    let acl = m.table_by_name("acl").unwrap();
    assert_eq!(miss_counter_id(&n, acl.id).unwrap(), 0x1200_0001);
    assert_eq!(direct_counter_id(&n, acl.id).unwrap(), 0x1300_0001);
    assert_eq!(table_id(&n, acl.id).unwrap(), 0x0200_0001);
}
