//! Property tests of the module front end: `spec::compile` on mutated example
//! modules and on random text never panics; every refusal carries a location
//! inside the source, a message and a hint; every success obeys the IR
//! invariants documented in `ir/mod.rs`.
//!
//! Cases per property: `PROPTEST_CASES` (default 2000).

use offload_core::diag::line_col;
use offload_core::ir::{mask_of_width, prefix_mask, KeyMatch, Module};
use offload_core::spec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const EXAMPLES: [&str; 3] = [
    include_str!("../../examples/edge-router.toml"),
    include_str!("../../examples/l2-switch.toml"),
    include_str!("../../examples/ddos-filter.toml"),
];

/// Snippets that are likely to matter to the parser or the validator.
const VOCAB: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    ".",
    "\n",
    " ",
    "#",
    "..",
    "&&&",
    "/",
    "*",
    "0",
    "1",
    "65535",
    "65536",
    "4294967296",
    "99999999999999999999999999",
    "-1",
    "0x",
    "0xffff",
    "1e400",
    "nan",
    "inf",
    "true",
    "1979-05-27T07:32:00Z",
    "\\u0000",
    "\\",
    "é",
    "\u{0}",
    "exact",
    "lpm",
    "ternary",
    "range",
    "ipv4.src",
    "ipv6.dst",
    "eth.dst",
    "meta.in_port",
    "l4.dst_port",
    "vlan.vid",
    "tcp.flags",
    "drop",
    "pass",
    "tx",
    "forward(",
    "set(",
    ")",
    "dec_ttl",
    "push_vlan(4095)",
    "pop_vlan",
    "priority = 1\n",
    "priority = 1",
    "size = 0",
    "counters = true",
    "action = \"deny\"",
    "[[entry.acl]]\n",
    "[[table]]\n",
    "[action.x]\n",
    "do = []\n",
    "params = { p = \"u33\" }\n",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "::/0",
    "2001:db8::1/129",
    "02:00:00:00:00:01",
    "1..0",
    "0..65535",
    "0x0f &&& 0xf0",
    "uplink",
    "servers",
    "trunk",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Replace { at: usize, len: usize, text: String },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    DeleteLine { line: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        4 => proptest::sample::select(VOCAB).prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ];
    prop_oneof![
        (any::<usize>(), 1usize..12).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), snippet.clone()).prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 1usize..8, snippet).prop_map(|(at, len, text)| Mutation::Replace {
            at,
            len,
            text
        }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
    ]
}

/// Applies mutations on chars (never splits a UTF-8 sequence).
fn apply(src: &str, ms: &[Mutation]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for m in ms {
        let n = chars.len().max(1);
        match m {
            Mutation::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Mutation::Insert { at, text } => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, text.chars());
            }
            Mutation::Replace { at, len, text } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                if at <= end && at <= chars.len() {
                    chars.splice(at..end, text.chars());
                }
            }
            Mutation::DuplicateLine { line }
            | Mutation::DeleteLine { line }
            | Mutation::SwapLines { a: line, .. } => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<String> = s.split('\n').map(str::to_string).collect();
                let l = line % lines.len();
                match m {
                    Mutation::DuplicateLine { .. } => {
                        let copy = lines[l].clone();
                        lines.insert(l, copy);
                    }
                    Mutation::DeleteLine { .. } => {
                        lines.remove(l);
                    }
                    Mutation::SwapLines { b, .. } => {
                        let b = b % lines.len();
                        lines.swap(l, b);
                    }
                    _ => unreachable!(),
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// The outcome of one compile must be well-formed either way.
fn check(src: &str) -> Result<bool, TestCaseError> {
    match spec::compile(src) {
        Ok(m) => {
            check_invariants(&m)?;
            Ok(true)
        }
        Err(ds) => {
            prop_assert!(!ds.is_empty(), "Err without diagnostics");
            for d in &ds {
                let span = d.primary_span();
                prop_assert!(span.is_some(), "{} has no location: {}", d.code, d.message);
                for (s, _) in &d.labels {
                    prop_assert!(
                        s.start <= s.end && s.end <= src.len(),
                        "{}: span {:?} outside {} bytes",
                        d.code,
                        s,
                        src.len()
                    );
                    prop_assert!(
                        src.is_char_boundary(s.start) && src.is_char_boundary(s.end),
                        "{}: span {:?} splits a char",
                        d.code,
                        s
                    );
                }
                let (line, col) = line_col(src, span.unwrap().start);
                prop_assert!(line >= 1 && col >= 1);
                prop_assert!(!d.message.is_empty());
                prop_assert!(
                    !d.notes.is_empty(),
                    "{} without a hint: {}",
                    d.code,
                    d.message
                );
            }
            Ok(false)
        }
    }
}

/// The invariants backends rely on (see `ir/mod.rs`).
fn check_invariants(m: &Module) -> Result<(), TestCaseError> {
    for (i, t) in m.tables.iter().enumerate() {
        prop_assert_eq!(t.id.0 as usize, i);
        prop_assert!(
            t.keys
                .iter()
                .filter(|k| k.kind == offload_core::ir::MatchKind::Lpm)
                .count()
                <= 1
        );
        prop_assert!(t.keys.iter().all(|k| k.field.allows(k.kind)));
        prop_assert!(t.entries.len() <= t.size as usize);
        prop_assert!(t.actions.contains(&t.default_action.action));
        let mut prios = std::collections::HashSet::new();
        for e in &t.entries {
            prop_assert_eq!(e.matches.len(), t.keys.len());
            prop_assert_eq!(e.priority.is_some(), t.needs_priority());
            if let Some(p) = e.priority {
                prop_assert!(prios.insert(p), "duplicate priority {}", p);
            }
            prop_assert!(t.actions.contains(&e.action.action));
            let a = m.action(e.action.action);
            prop_assert_eq!(e.action.args.len(), a.params.len());
            for (k, km) in t.keys.iter().zip(&e.matches) {
                let w = k.field.width();
                match (*km, k.kind) {
                    (KeyMatch::Exact(v), offload_core::ir::MatchKind::Exact) => {
                        prop_assert!(v <= mask_of_width(w))
                    }
                    (KeyMatch::Lpm { value, prefix_len }, offload_core::ir::MatchKind::Lpm) => {
                        prop_assert!(prefix_len <= w && value & !prefix_mask(w, prefix_len) == 0)
                    }
                    (KeyMatch::Ternary { value, mask }, offload_core::ir::MatchKind::Ternary) => {
                        prop_assert!(value & !mask == 0 && mask <= mask_of_width(w))
                    }
                    (KeyMatch::Range { lo, hi }, offload_core::ir::MatchKind::Range) => {
                        prop_assert!(lo <= hi && hi <= mask_of_width(w))
                    }
                    other => prop_assert!(false, "match {:?} for key kind", other),
                }
            }
        }
    }
    for (i, a) in m.actions.iter().enumerate() {
        prop_assert_eq!(a.id.0 as usize, i);
        for (j, p) in a.body.iter().enumerate() {
            prop_assert!(
                !p.terminates() || j + 1 == a.body.len(),
                "terminator not last in {}",
                a.name
            );
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

fn run<S: Strategy>(name: &str, strategy: S, f: impl Fn(S::Value) -> Result<bool, TestCaseError>) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0u32);
    let result = runner.run(&strategy, |v| {
        if f(v)? {
            accepted.set(accepted.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    // Visible with --nocapture: how many cases ran and how many still compiled.
    println!("{name}: {} cases, {} compiled", cases(), accepted.get());
}

#[test]
fn mutated_examples_never_panic_and_always_locate() {
    let strategy = (
        0usize..EXAMPLES.len(),
        proptest::collection::vec(mutation(), 1..6),
    );
    run("mutated examples", strategy, |(i, ms)| {
        check(&apply(EXAMPLES[i], &ms))
    });
}

#[test]
fn random_text_never_panics() {
    run("random unicode", "\\PC{0,300}", |s: String| check(&s));
    let tomlish = "[\\[\\]{}=\",.a-z0-9_ \n#:/&*'-]{0,300}";
    run("random toml-ish", tomlish, |s: String| check(&s));
}

#[test]
fn random_bytes_never_panic() {
    run(
        "random bytes",
        proptest::collection::vec(any::<u8>(), 0..400),
        |b: Vec<u8>| match spec::compile_bytes(&b) {
            Ok(_) => Ok(true),
            Err(ds) => {
                for d in &ds {
                    let s = d.primary_span().expect("located");
                    prop_assert!(s.end <= b.len().max(1));
                }
                Ok(false)
            }
        },
    );
}

#[test]
fn mutations_keep_examples_mostly_valid_when_harmless() {
    // Sanity check of the harness itself: the unmutated examples compile.
    for e in EXAMPLES {
        assert!(check(e).unwrap());
    }
}
