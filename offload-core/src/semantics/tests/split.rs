//! Split placement: the two halves in sequence mean the module wherever
//! nothing but the bytes must travel, and each kind of carry is a real
//! counterexample (why the planner refuses it).

use super::*;
use crate::ir::split::{carries, split, Carry, Half};
use crate::spec;

fn m(src: &str) -> Module {
    spec::compile(src).unwrap_or_else(|d| panic!("{}", d.render_plain("t.toml", src)))
}

/// `run_split` equals `run`: verdict, bytes, counters with module ids.
fn same(module: &Module, at: usize, in_port: PortId, bytes: &[u8]) -> Result<(), String> {
    let s = split(module, at).unwrap();
    let want = run(module, in_port, bytes);
    let got = run_split(&s, in_port, bytes);
    let got_counters = got.counters(&s);
    if got.verdict != want.verdict || got.packet != want.packet || got_counters != want.counters {
        return Err(format!(
            "at {at}: whole {:?} {:?}, split {:?} {:?}",
            want.verdict, want.counters, got.verdict, got_counters
        ));
    }
    Ok(())
}

#[test]
fn halves_in_sequence_are_the_module_at_every_admissible_cut() {
    let (mut cuts, mut frames, mut on_nic) = (0, 0, 0);
    for seed in 0..400u64 {
        let case = crate::testgen::case(seed).unwrap();
        let module = &case.module;
        for at in 1..module.tables.len() {
            if !carries(module, at).is_empty() {
                continue;
            }
            cuts += 1;
            let s = split(module, at).unwrap();
            for f in crate::testgen::frames(seed ^ at as u64, module, 40) {
                same(module, at, f.in_port, &f.bytes)
                    .unwrap_or_else(|e| panic!("seed {seed:#x}: {e}\n{}", case.source));
                frames += 1;
                on_nic += usize::from(run_split(&s, f.in_port, &f.bytes).decided_on_nic());
            }
        }
    }
    // The generator must reach the property often enough to mean something.
    assert!(cuts >= 40, "only {cuts} admissible cut points");
    assert!(
        on_nic > 0 && on_nic < frames,
        "{on_nic} of {frames} on the NIC"
    );
}

#[test]
fn testgen_split_cases_are_admissible_and_equal() {
    let mut n = 0;
    for seed in 0..200u64 {
        let Some((case, at)) = crate::testgen::split_case(seed).unwrap() else {
            continue;
        };
        assert!(carries(&case.module, at).is_empty(), "seed {seed:#x}");
        for f in crate::testgen::frames(seed, &case.module, 30) {
            same(&case.module, at, f.in_port, &f.bytes)
                .unwrap_or_else(|e| panic!("seed {seed:#x}: {e}\n{}", case.source));
        }
        n += 1;
    }
    assert!(n >= 100, "only {n} of 200 seeds gave a split case");
}

const TWO_STAGES: &str = r#"
[module]
name = "two"
default = "drop"
[ports]
p1 = 1
p2 = 2
[[table]]
name = "first"
keys = [{ field = "ipv4.dst", match = "exact" }]
actions = ["a", "nothing"]
default_action = "nothing"
counters = true
[[table]]
name = "second"
keys = [{ field = "meta.group", match = "exact" }]
actions = ["out", "nothing"]
default_action = "out"
counters = true
[action.nothing]
do = []
[action.out]
do = ["forward(p2)"]
[[entry.first]]
match = { "ipv4.dst" = "10.1.2.3" }
action = "a"
[[entry.second]]
match = { "meta.group" = "7" }
action = "nothing"
"#;

fn two(a_body: &str) -> Module {
    m(&TWO_STAGES.replace(
        "[action.nothing]",
        &format!("[action.a]\ndo = [{a_body}]\n[action.nothing]"),
    ))
}

/// Each carry, shown to change the meaning if the halves ran on bytes alone.
#[test]
fn every_kind_of_carry_is_a_counterexample() {
    let f = udp4(A4, B4, 1000, 53, 64); // to 10.1.2.3 (B4)
                                        // A pass decided on the NIC: the host half would run and forward.
    let pass = two("\"pass\"");
    assert!(matches!(
        carries(&pass, 1)[..],
        [Carry::PassDecision { .. }]
    ));
    assert!(same(&pass, 1, IN, &f).is_err());
    // meta.group set on the NIC, read on the host: it would read 0.
    let group = two("\"set(meta.group, 7)\"");
    assert!(matches!(carries(&group, 1)[..], [Carry::MetaGroup { .. }]));
    assert!(same(&group, 1, IN, &f).is_err());
    // A pushed tag: the host would count 4 more bytes.
    let push = two("\"push_vlan(5)\"");
    assert!(matches!(
        carries(&push, 1)[..],
        [Carry::TagStack { push: true, .. }]
    ));
    assert!(same(&push, 1, IN, &f).is_err());
    // Rewrites of fields the parser does not read travel in the bytes.
    let rw = two("\"set(ipv4.ttl, 9)\", \"set(l4.dst_port, 99)\"");
    assert!(carries(&rw, 1).is_empty());
    same(&rw, 1, IN, &f).unwrap();
}

#[test]
fn the_halves_keep_names_and_renumber() {
    let rw = two("\"set(ipv4.ttl, 9)\"");
    let s = split(&rw, 1).unwrap();
    assert_eq!(s.nic.name, "two-nic");
    assert_eq!(s.host.name, "two-host");
    assert_eq!(s.nic.default_verdict, DefaultVerdict::Pass);
    assert_eq!(s.host.default_verdict, DefaultVerdict::Drop);
    assert_eq!(s.host.tables[0].name, "second");
    assert_eq!(s.host.tables[0].id.0, 0);
    assert_eq!(s.half_for_table("first"), Some(Half::Nic));
    assert_eq!(s.half_for_table("second"), Some(Half::Host));
    // Only the actions a half's tables use, renumbered.
    let names: Vec<&str> = s.host.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["nothing", "out"]);
    // Both halves print back to modules the front end accepts unchanged.
    for half in [&s.nic, &s.host] {
        let text = crate::testgen::render(half);
        let back = m(&text);
        assert_eq!(back.tables.len(), half.tables.len());
        assert_eq!(crate::testgen::render(&back), text);
    }
    assert!(split(&rw, 0).is_err() && split(&rw, 2).is_err());
}
