//! The state model against fakes: tables of (desired, observed, expected).

use super::fake::FakeTarget;
use super::*;
use crate::ir::{ActionCall, Entry, KeyMatch};
use std::collections::BTreeMap;

const MODULE: &str = r#"
[module]
name = "t"
[ports]
up = 1
down = 2
[[table]]
name = "fwd"
keys = [{ field = "ipv4.dst", match = "lpm" }]
actions = ["out", "deny"]
default_action = "deny"
[action.out]
params = { port = "port" }
do = ["forward(port)"]
[action.deny]
do = ["drop"]
[[entry.fwd]]
match = { "ipv4.dst" = "10.0.0.0/8" }
action = { out = { port = "down" } }
[[entry.fwd]]
match = { "ipv4.dst" = "192.168.0.0/16" }
action = { out = { port = "up" } }
"#;

fn desired(source: &str, n: u64, placements: &[&str]) -> Desired {
    let m = crate::spec::compile(source).expect("test module compiles");
    Desired::from_module(
        m,
        source,
        n,
        placements
            .iter()
            .map(|p| PlacementId(p.to_string()))
            .collect(),
    )
}

fn entry(value: u128, len: u32, action: u32, arg: u128) -> Entry {
    Entry {
        meter: None,
        matches: vec![KeyMatch::Lpm {
            value,
            prefix_len: len,
        }],
        priority: None,
        action: ActionCall {
            action: crate::ir::ActionId(action),
            args: if action == 0 { vec![arg] } else { vec![] },
        },
        span: Default::default(),
    }
}

fn observed_in_sync(d: &Desired) -> Observed {
    Observed {
        placement: PlacementId("p".into()),
        program: ProgramState::Ours {
            digest: d.version.digest.clone(),
            identity: "x".into(),
        },
        tables: d
            .tables
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    TableObserved {
                        // Reversed: order on the device is not drift.
                        entries: t.entries.iter().rev().cloned().collect(),
                        default: Some(t.default.clone()),
                        ..Default::default()
                    },
                )
            })
            .collect(),
    }
}

#[test]
fn diff_table() {
    let d = desired(MODULE, 1, &["p"]);
    let base = observed_in_sync(&d);
    let e0 = d.tables["fwd"].entries[0].clone();
    type Case = (&'static str, Box<dyn Fn(&mut Observed)>, Vec<Drift>);
    let cases: Vec<Case> = vec![
        ("in sync", Box::new(|_| {}), vec![]),
        (
            "absent",
            Box::new(|o| o.program = ProgramState::Absent),
            vec![Drift::ProgramMissing],
        ),
        (
            "foreign",
            Box::new(|o| {
                o.program = ProgramState::Foreign {
                    identity: "id 7".into(),
                }
            }),
            vec![Drift::ProgramReplaced {
                found: "id 7".into(),
            }],
        ),
        (
            "detached",
            Box::new(|o| {
                o.program = ProgramState::Detached {
                    identity: "id 8".into(),
                }
            }),
            vec![Drift::LinkGone {
                identity: "id 8".into(),
            }],
        ),
        (
            "outdated",
            Box::new(|o| {
                o.program = ProgramState::Ours {
                    digest: "0000".into(),
                    identity: "id 9".into(),
                }
            }),
            vec![Drift::ProgramOutdated {
                running: "id 9 (version 0000)".into(),
            }],
        ),
        (
            "entry missing",
            Box::new(|o| {
                o.tables.get_mut("fwd").unwrap().entries.pop();
            }),
            // The reversed list's last is the desired first.
            vec![Drift::EntryMissing {
                table: "fwd".into(),
                entry: e0.clone(),
            }],
        ),
        (
            "extra entry",
            Box::new(|o| {
                o.tables
                    .get_mut("fwd")
                    .unwrap()
                    .entries
                    .push(entry(0x0a0a_0000, 16, 1, 0))
            }),
            vec![Drift::EntryExtra {
                table: "fwd".into(),
                entry: entry(0x0a0a_0000, 16, 1, 0),
            }],
        ),
        (
            "entry changed",
            Box::new(|o| {
                let t = o.tables.get_mut("fwd").unwrap();
                let last = t.entries.len() - 1;
                t.entries[last].action.args = vec![1];
            }),
            vec![Drift::EntryChanged {
                table: "fwd".into(),
                want: e0.clone(),
                have: {
                    let mut h = e0.clone();
                    h.action.args = vec![1];
                    h
                },
            }],
        ),
        (
            "meter rate changed",
            Box::new(|o| {
                let t = o.tables.get_mut("fwd").unwrap();
                let last = t.entries.len() - 1;
                t.entries[last].meter = Some(crate::ir::MeterRate { rate: 5, burst: 1 });
            }),
            vec![Drift::EntryChanged {
                table: "fwd".into(),
                want: e0.clone(),
                have: {
                    let mut h = e0.clone();
                    h.meter = Some(crate::ir::MeterRate { rate: 5, burst: 1 });
                    h
                },
            }],
        ),
        (
            "default changed",
            Box::new(|o| {
                o.tables.get_mut("fwd").unwrap().default = Some(ActionCall {
                    action: crate::ir::ActionId(0),
                    args: vec![2],
                })
            }),
            vec![Drift::DefaultChanged {
                table: "fwd".into(),
                want: d.tables["fwd"].default.clone(),
                have: ActionCall {
                    action: crate::ir::ActionId(0),
                    args: vec![2],
                },
            }],
        ),
        (
            "table missing",
            Box::new(|o| {
                o.tables.clear();
            }),
            vec![Drift::TableMissing {
                table: "fwd".into(),
            }],
        ),
    ];
    for (name, change, want) in cases {
        let mut o = base.clone();
        change(&mut o);
        assert_eq!(diff(&d, &o), want, "case {name}");
    }
}

fn apply_ops(
    tables: &BTreeMap<String, TableDesired>,
    ops: &[EntryOp],
) -> BTreeMap<String, TableDesired> {
    let mut t = tables.clone();
    for op in ops {
        let tab = t.get_mut(op.table()).unwrap();
        match op {
            EntryOp::Insert { entry, .. } => tab.entries.push(entry.clone()),
            EntryOp::Delete { entry, .. } => tab
                .entries
                .retain(|e| !(e.matches == entry.matches && e.priority == entry.priority)),
            EntryOp::Modify { entry, .. } => {
                tab.entries
                    .iter_mut()
                    .find(|e| e.matches == entry.matches)
                    .unwrap()
                    .action = entry.action.clone()
            }
            EntryOp::SetDefault { action, .. } => tab.default = action.clone(),
        }
    }
    t
}

fn same_tables(a: &BTreeMap<String, TableDesired>, b: &BTreeMap<String, TableDesired>) -> bool {
    a.keys().eq(b.keys())
        && a.iter().all(|(k, ta)| {
            let tb = &b[k];
            ta.default == tb.default
                && ta.entries.len() == tb.entries.len()
                && ta.entries.iter().all(|e| tb.entries.contains(e))
        })
}

#[test]
fn entry_ops_and_inverse_round_trip() {
    let d = desired(MODULE, 1, &["p"]);
    let before = d.tables.clone();
    let mut after = before.clone();
    let t = after.get_mut("fwd").unwrap();
    t.entries.remove(0);
    t.entries[0].action.args = vec![2];
    t.entries.push(entry(0x0b00_0000, 8, 1, 0));
    t.default = ActionCall {
        action: crate::ir::ActionId(0),
        args: vec![1],
    };
    let ops = entry_ops(&before, &after);
    assert!(
        matches!(ops[0], EntryOp::Delete { .. }),
        "deletes first: {ops:?}"
    );
    assert_eq!(ops.len(), 4);
    assert!(same_tables(&apply_ops(&before, &ops), &after));
    assert!(same_tables(&apply_ops(&after, &inverse(&ops)), &before));
    assert!(entry_ops(&before, &before).is_empty());
}

#[test]
fn apply_commits_everywhere() {
    let d = desired(MODULE, 1, &["a", "b"]);
    let (mut a, mut b) = (FakeTarget::new("a"), FakeTarget::new("b"));
    let out = apply(&mut [&mut a, &mut b], &d).unwrap();
    assert_eq!(out.committed.len(), 2);
    for t in [&a, &b] {
        assert_eq!(t.running_digest(), Some(d.version.digest.as_str()));
        assert_eq!(t.log, ["prepare", "commit", "finish"]);
    }
}

#[test]
fn a_failed_prepare_switches_nothing() {
    let v1 = desired(MODULE, 1, &["a", "b"]);
    let v2 = desired(&MODULE.replace("10.0.0.0/8", "11.0.0.0/8"), 2, &["a", "b"]);
    let (mut a, mut b) = (FakeTarget::new("a"), FakeTarget::new("b"));
    apply(&mut [&mut a, &mut b], &v1).unwrap();
    b.fail_prepare = true;
    let err = apply(&mut [&mut a, &mut b], &v2).unwrap_err();
    assert!(
        matches!(err, TxError::Prepare { ref error } if error.placement.0 == "b"),
        "{err}"
    );
    assert!(err.to_string().contains("old version runs everywhere"));
    assert_eq!(a.running_digest(), Some(v1.version.digest.as_str()));
    assert_eq!(b.running_digest(), Some(v1.version.digest.as_str()));
    assert!(a.log.ends_with(&["prepare".into(), "rollback".into()]));
}

#[test]
fn a_failed_commit_rolls_every_placement_back() {
    let v1 = desired(MODULE, 1, &["a", "b", "c"]);
    let v2 = desired(
        &MODULE.replace("10.0.0.0/8", "11.0.0.0/8"),
        2,
        &["a", "b", "c"],
    );
    for failing in 0..3 {
        let mut t: Vec<FakeTarget> = ["a", "b", "c"].iter().map(|n| FakeTarget::new(n)).collect();
        {
            let mut refs: Vec<&mut dyn Target> =
                t.iter_mut().map(|x| x as &mut dyn Target).collect();
            apply(&mut refs, &v1).unwrap();
        }
        t[failing].fail_commit = true;
        let mut refs: Vec<&mut dyn Target> = t.iter_mut().map(|x| x as &mut dyn Target).collect();
        let err = apply(&mut refs, &v2).unwrap_err();
        let TxError::Commit { error, rolled_back } = err else {
            panic!("commit error expected")
        };
        assert_eq!(error.placement.0, ["a", "b", "c"][failing]);
        assert_eq!(rolled_back.len(), failing);
        drop(refs);
        for x in &t {
            assert_eq!(
                x.running_digest(),
                Some(v1.version.digest.as_str()),
                "{} after failure at {failing}",
                x.id
            );
        }
    }
}

#[test]
fn entry_changes_land_everywhere_or_nowhere() {
    let d = desired(MODULE, 1, &["a", "b"]);
    let (mut a, mut b) = (FakeTarget::new("a"), FakeTarget::new("b"));
    apply(&mut [&mut a, &mut b], &d).unwrap();
    let mut after = d.tables.clone();
    after
        .get_mut("fwd")
        .unwrap()
        .entries
        .push(entry(0x0c00_0000, 8, 1, 0));
    let d2 = d.with_tables(after);
    b.fail_write_at = Some(0);
    let err = change_entries(&mut [&mut a, &mut b], &d, &d2).unwrap_err();
    assert!(
        matches!(err, TxError::Entries { ref undone, .. } if undone.len() == 1),
        "{err}"
    );
    let obs_a = a.observe(&d).unwrap();
    assert!(
        diff(&d, &obs_a[0]).is_empty(),
        "a was undone: {:?}",
        diff(&d, &obs_a[0])
    );
    b.fail_write_at = None;
    let ops = change_entries(&mut [&mut a, &mut b], &d, &d2).unwrap();
    assert_eq!(ops.len(), 1);
    for t in [&mut a, &mut b] {
        let o = t.observe(&d2).unwrap();
        assert!(diff(&d2, &o[0]).is_empty());
    }
}

#[test]
fn reconcile_repairs_only_what_offload_owns_and_is_idempotent() {
    let d = desired(MODULE, 1, &["a", "b", "c"]);
    let (mut a, mut b, mut c) = (
        FakeTarget::new("a"),
        FakeTarget::new("b"),
        FakeTarget::new("c"),
    );
    apply(&mut [&mut a, &mut b, &mut c], &d).unwrap();
    // Out of band: an entry deleted on a, an extra one on b, c taken over.
    a.running
        .as_mut()
        .unwrap()
        .tables
        .get_mut("fwd")
        .unwrap()
        .entries
        .remove(0);
    b.running
        .as_mut()
        .unwrap()
        .tables
        .get_mut("fwd")
        .unwrap()
        .entries
        .push(entry(0x0d00_0000, 8, 1, 0));
    c.foreign = true;
    let r = reconcile(&mut [&mut a, &mut b, &mut c], &d);
    assert_eq!(r.drift.len(), 3, "{r:?}");
    assert_eq!(r.repaired.len(), 2);
    assert_eq!(r.left_alone.len(), 1);
    assert!(r.failed.is_empty());
    // What the pass saw is handed back only where nothing was written (the
    // foreign one): the repaired ones must be read again.
    assert_eq!(r.current.len(), 3);
    assert!(r.current[0].is_none() && r.current[1].is_none(), "{r:?}");
    assert!(r.current[2].is_some(), "{r:?}");
    let again = reconcile(&mut [&mut a, &mut b, &mut c], &d);
    assert!(again.current.iter().all(Option::is_some), "{again:?}");
    assert_eq!(
        again.current[0].as_ref().unwrap()[0],
        a.observe(&d).unwrap()[0],
        "the pass's observation is what a read-back gives"
    );
    assert_eq!(
        again.drift.len(),
        1,
        "only the foreign program is left: {again:?}"
    );
    assert!(again.repaired.is_empty());
    // A placement that lost its program is reloaded.
    c.foreign = false;
    c.running = None;
    let r = reconcile(&mut [&mut a, &mut b, &mut c], &d);
    assert!(matches!(r.repaired[0], Repair::Reload { .. }), "{r:?}");
    assert!(reconcile(&mut [&mut a, &mut b, &mut c], &d).in_sync());
}

#[test]
fn deployment_file_parses_and_names_the_culprit() {
    let ok = r#"
module = "m.toml"
[ports]
up = "veth0"
[[host]]
iface = "veth0"
mode = "native"
[[switch]]
name = "s1"
grpc = "127.0.0.1:50051"
ports = { up = 1, down = 2 }
switch_ports = [1, 2]
[[bundle]]
name = "tofino"
out = "out"
"#;
    let spec = DeploymentSpec::parse("d.toml", ok).unwrap();
    let ids: Vec<String> = spec.placements().iter().map(|p| p.id().0).collect();
    assert_eq!(ids, ["host:veth0", "switch:s1", "bundle:tofino"]);
    assert_eq!(spec.host[0].mode, HostMode::Native);
    let m = crate::spec::compile(MODULE).unwrap();
    assert!(spec.check("d.toml", &m).is_empty());

    let bad_port = ok.replace("down = 2", "down = 3");
    let errs = DeploymentSpec::parse("d.toml", &bad_port)
        .unwrap()
        .check("d.toml", &m);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].to_string().contains("placement switch:s1"),
        "{}",
        errs[0]
    );
    assert!(errs[0].to_string().contains("switch port 3"), "{}", errs[0]);

    let unknown = ok.replace("up = 1,", "uplink = 1,");
    let errs = DeploymentSpec::parse("d.toml", &unknown)
        .unwrap()
        .check("d.toml", &m);
    assert!(errs[0].to_string().contains("\"uplink\""), "{}", errs[0]);

    let e = DeploymentSpec::parse(
        "d.toml",
        &ok.replace("mode = \"native\"", "mode = \"fast\""),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("d.toml:7:"), "{e}");
    let e = DeploymentSpec::parse("d.toml", &format!("{ok}\n[[host]]\niface = \"veth0\"\n"))
        .unwrap_err();
    assert!(e.to_string().contains("host:veth0"), "{e}");
    let e = DeploymentSpec::parse("d.toml", "module = \"m.toml\"\n").unwrap_err();
    assert!(e.to_string().contains("no placement"), "{e}");
}

#[test]
fn deployment_file_names_a_chain() {
    let chain =
        "modules = [\"ddos-filter.toml\", \"edge-router.toml\"]\n[[host]]\niface = \"veth0\"\n";
    let spec = DeploymentSpec::parse("d.toml", chain).unwrap();
    assert!(spec.is_chain());
    assert_eq!(
        spec.module_files(),
        ["ddos-filter.toml", "edge-router.toml"]
    );
    let one =
        DeploymentSpec::parse("d.toml", "module = \"m.toml\"\n[[host]]\niface = \"v\"\n").unwrap();
    assert!(!one.is_chain());
    assert_eq!(one.module_files(), ["m.toml"]);
    let e = DeploymentSpec::parse("d.toml", &format!("module = \"m.toml\"\n{chain}")).unwrap_err();
    assert!(e.to_string().contains("both `module` and `modules`"), "{e}");
    let e = DeploymentSpec::parse("d.toml", "[[host]]\niface = \"v\"\n").unwrap_err();
    assert!(e.to_string().contains("no module"), "{e}");
    let e = DeploymentSpec::parse("d.toml", "modules = []\n[[host]]\niface = \"v\"\n").unwrap_err();
    assert!(e.to_string().contains("no module"), "{e}");
    let e = DeploymentSpec::parse("d.toml", "modules = \"a.toml\"\n[[host]]\niface = \"v\"\n")
        .unwrap_err();
    assert!(e.to_string().starts_with("d.toml:1:"), "{e}");
}

#[test]
fn version_digest_is_stable() {
    // Pinned: the digest is every target's program identity across runs.
    assert_eq!(desired::digest(""), "cbf29ce484222325");
    assert_eq!(desired::digest("a"), "af63dc4c8601ec8c");
    assert_ne!(
        Version::of(MODULE, 1).digest,
        Version::of(&MODULE.replace("10.", "11."), 1).digest
    );
}
