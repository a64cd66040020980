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

/// Vocabulary that can stand inside a `"…"` string without breaking the TOML.
fn string_vocab() -> Vec<&'static str> {
    VOCAB
        .iter()
        .copied()
        .filter(|t| !t.contains(['"', '\n', '\\', '\u{0}']))
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        text: String,
    },
    Replace {
        at: usize,
        len: usize,
        text: String,
    },
    DuplicateLine {
        line: usize,
    },
    SwapLines {
        a: usize,
        b: usize,
    },
    DeleteLine {
        line: usize,
    },
    /// Replaces the contents of the n-th `"…"` string: keeps the TOML valid,
    /// so the validator (not the TOML parser) sees the change.
    ReplaceString {
        which: usize,
        text: String,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        4 => proptest::sample::select(VOCAB).prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ];
    prop_oneof![
        1 => (any::<usize>(), 1usize..12).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<usize>(), snippet.clone()).prop_map(|(at, text)| Mutation::Insert { at, text }),
        1 => (any::<usize>(), 1usize..8, snippet)
            .prop_map(|(at, len, text)| Mutation::Replace { at, len, text }),
        1 => any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        1 => any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        3 => (any::<usize>(), proptest::sample::select(string_vocab()))
            .prop_map(|(which, t)| Mutation::ReplaceString { which, text: t.to_string() }),
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
            Mutation::ReplaceString { which, text } => {
                let quotes: Vec<usize> = chars
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '"')
                    .map(|(i, _)| i)
                    .collect();
                let pairs = quotes.len() / 2;
                if pairs > 0 {
                    let k = which % pairs;
                    let (open, close) = (quotes[2 * k], quotes[2 * k + 1]);
                    chars.splice(open + 1..close, text.chars());
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Compiled,
    /// Refused before validation (TOML syntax, size, encoding).
    NotToml,
    /// Valid TOML, refused by the validator.
    Refused,
}

fn check(src: &str) -> Result<Outcome, TestCaseError> {
    match spec::compile(src) {
        Ok(m) => {
            check_invariants(&m)?;
            Ok(Outcome::Compiled)
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
            Ok(if not_toml(ds.0[0].code) {
                Outcome::NotToml
            } else {
                Outcome::Refused
            })
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

// ---- random modules from the grammar ---------------------------------------
//
// Mostly-valid modules: each choice is usually a valid one and sometimes a
// mistake, so both the accepting path (IR invariants) and every refusal path
// get exercised with well-formed TOML.

use offload_core::ir::{Field, FieldKind, MatchKind};

/// Usually `good`, sometimes `bad`.
fn mostly<T: Clone + std::fmt::Debug + 'static>(good: T, bad: &'static [T]) -> BoxedStrategy<T> {
    prop_oneof![12 => Just(good), 1 => proptest::sample::select(bad)].boxed()
}

fn values_for(f: Field, kind: MatchKind) -> Vec<String> {
    let mut v: Vec<&str> = match f.kind() {
        FieldKind::Mac => vec![
            "02:00:00:00:00:01",
            "02:00:00:00:00:02",
            "ff:ff:ff:ff:ff:ff",
        ],
        FieldKind::Ipv4 => vec!["10.0.0.0/8", "10.1.0.0/16", "192.168.1.1", "0.0.0.0/0"],
        FieldKind::Ipv6 => vec!["2001:db8::/32", "2001:db8::1", "::/0", "fe80::/10"],
        FieldKind::Int => vec!["0", "1", "6", "7", "0x3"],
        FieldKind::Port => vec!["uplink", "down", "1"],
    };
    match kind {
        MatchKind::Ternary if f.kind() == FieldKind::Int => v.extend(["0x2 &&& 0x6", "*"]),
        MatchKind::Ternary => v.push("*"),
        MatchKind::Range => v.extend(["0..5", "1..1", "*"]),
        _ => {}
    }
    v.into_iter().map(|s| format!("\"{s}\"")).collect()
}

const BAD_VALUES: &[&str] = &[
    "\"10.0.0.1/8\"",
    "\"7..3\"",
    "\"0x13 &&& 0x06\"",
    "\"02:00:00:00:00\"",
    "\"zz\"",
    "99999",
    "-1",
    "\"*\"",
    "\"2001:db8::1/129\"",
    "\"300\"",
];

#[derive(Debug, Clone)]
struct GenTable {
    name: String,
    keys: Vec<(Field, MatchKind)>,
    text: String,
}

fn gen_key() -> impl Strategy<Value = (Field, MatchKind, String, String)> {
    (
        proptest::sample::select(Field::ALL),
        0usize..4,
        prop_oneof![12 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(f, k, break_it)| {
            let kinds = [
                MatchKind::Exact,
                MatchKind::Lpm,
                MatchKind::Ternary,
                MatchKind::Range,
            ];
            // Prefer a kind the field allows; sometimes keep a wrong one.
            let kind = if f.allows(kinds[k]) || break_it {
                kinds[k]
            } else {
                MatchKind::Ternary
            };
            let field_text = if break_it && k == 0 {
                format!("{}x", f.name())
            } else {
                f.name().to_string()
            };
            (f, kind, field_text, kind.name().to_string())
        })
}

fn gen_table(i: usize) -> impl Strategy<Value = GenTable> {
    (
        prop_oneof![10 => proptest::collection::vec(gen_key(), 1..4), 1 => Just(Vec::new())],
        proptest::sample::subsequence(vec!["b", "c"], 0..=2),
        mostly(1024i64, &[0, 2, 2_000_000]),
        any::<bool>(),
        mostly("", &["extra = 1\n"]),
    )
        .prop_map(move |(keys, more, size, counters, junk)| {
            let name = format!("t{i}");
            let mut seen = std::collections::BTreeSet::new();
            let mut lpm = false;
            let keys: Vec<_> = keys
                .into_iter()
                // Mostly distinct fields and at most one lpm; duplicates stay sometimes.
                .filter(|(f, k, _, _)| {
                    let fresh = seen.insert(*f) || (*f as usize).is_multiple_of(7);
                    let lpm_ok = *k != MatchKind::Lpm || !lpm || (*f as usize).is_multiple_of(5);
                    lpm |= *k == MatchKind::Lpm;
                    fresh && lpm_ok
                })
                .collect();
            let keys_text: Vec<String> =
                keys.iter().map(|(_, _, f, k)| format!("{{ field = \"{f}\", match = \"{k}\" }}")).collect();
            let mut actions = vec!["\"a\"".to_string()];
            actions.extend(more.iter().map(|a| format!("\"{a}\"")));
            let text = format!(
                "[[table]]\nname = \"{name}\"\nkeys = [{}]\nactions = [{}]\ndefault_action = \"a\"\nsize = {size}\ncounters = {counters}\n{junk}",
                keys_text.join(", "),
                actions.join(", ")
            );
            GenTable { name, keys: keys.into_iter().map(|(f, k, _, _)| (f, k)).collect(), text }
        })
}

fn gen_entries(t: GenTable) -> impl Strategy<Value = String> {
    let per_key: Vec<BoxedStrategy<Option<String>>> = t
        .keys
        .iter()
        .map(|(f, k)| {
            let good = proptest::sample::select(values_for(*f, *k));
            let v: BoxedStrategy<String> =
                prop_oneof![15 => good, 1 => proptest::sample::select(BAD_VALUES).prop_map(str::to_string)].boxed();
            // Exact keys are usually given; the others often left out (wildcard).
            let p_some = if *k == MatchKind::Exact { 0.95 } else { 0.6 };
            proptest::option::weighted(p_some, v).boxed()
        })
        .collect();
    let needs_prio = t
        .keys
        .iter()
        .any(|(_, k)| matches!(k, MatchKind::Ternary | MatchKind::Range));
    let keys = t.keys.clone();
    let name = t.name.clone();
    let entry = (
        per_key,
        prop_oneof![20 => Just("\"a\""), 1 => proptest::sample::select(vec!["\"b\"", "\"c\"", "{ b = { p = 1 } }", "{ c = { q = \"uplink\" } }", "\"zz\""])],
        mostly(false, &[true]),
    );
    proptest::collection::vec(entry, 0..5).prop_map(move |es| {
        let mut out = String::new();
        for (i, (vals, action, flip_prio)) in es.into_iter().enumerate() {
            let ms: Vec<String> = keys
                .iter()
                .zip(vals)
                .filter_map(|((f, _), v)| v.map(|v| format!("\"{}\" = {v}", f.name())))
                .collect();
            let prio = if needs_prio != flip_prio {
                format!("priority = {}\n", 10 - i)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "[[entry.{name}]]\nmatch = {{ {} }}\n{prio}action = {action}\n",
                ms.join(", ")
            ));
        }
        out
    })
}

fn gen_action(name: &'static str) -> impl Strategy<Value = String> {
    let prims = proptest::collection::vec(
        prop_oneof![
            10 => proptest::sample::select(vec![
                "dec_ttl",
                "pop_vlan",
                "push_vlan(10)",
                "set(eth.src, 02:00:00:00:00:09)",
                "set(ipv4.ttl, 64)",
                "set(l4.dst_port, 8080)",
                "set(ipv4.dst, 10.9.9.9)",
            ])
            .prop_map(str::to_string),
            1 => proptest::sample::select(vec![
                "set(ipv4.protocol, 1)",
                "push_vlan(9999)",
                "fwd(uplink)",
                "set(eth.dst, p)"
            ])
            .prop_map(str::to_string),
        ],
        0..3,
    );
    let last = proptest::sample::select(vec![
        "",
        "drop",
        "pass",
        "tx",
        "forward(uplink)",
        "forward(down)",
    ]);
    (prims, last, any::<bool>()).prop_map(move |(mut body, last, with_params)| {
        if !last.is_empty() {
            body.push(last.to_string());
        }
        let body: Vec<String> = body.iter().map(|p| format!("\"{p}\"")).collect();
        let params = match (name, with_params) {
            ("b", _) => "params = { p = \"u8\" }\n",
            ("c", true) => "params = { q = \"port\" }\n",
            _ => "",
        };
        format!("[action.{name}]\n{params}do = [{}]\n", body.join(", "))
    })
}

fn module() -> impl Strategy<Value = String> {
    (1usize..4)
        .prop_flat_map(|n| {
            let tables: Vec<_> = (0..n).map(gen_table).collect();
            (
                tables,
                mostly("m", &["9bad", "x y"]),
                mostly(
                    "uplink = 1\ndown = 2\n",
                    &["uplink = 1\ndown = 1\n", "uplink = 0\n"],
                ),
                (gen_action("a"), gen_action("b"), gen_action("c")),
            )
        })
        .prop_flat_map(|(tables, name, ports, actions)| {
            let entries: Vec<_> = tables.iter().cloned().map(gen_entries).collect();
            (
                Just(tables),
                Just(name),
                Just(ports),
                Just(actions),
                entries,
            )
        })
        .prop_map(|(tables, name, ports, (a, b, c), entries)| {
            let mut s = format!("[module]\nname = \"{name}\"\n[ports]\n{ports}");
            for t in &tables {
                s.push_str(&t.text);
            }
            s.push_str(&a);
            s.push_str(&b);
            s.push_str(&c);
            for e in entries {
                s.push_str(&e);
            }
            s
        })
}

#[test]
fn random_modules_from_the_grammar() {
    run("random modules", module(), |s: String| check(&s));
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

fn run<S: Strategy>(
    name: &str,
    strategy: S,
    f: impl Fn(S::Value) -> Result<Outcome, TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let counts = std::cell::Cell::new([0u32; 3]);
    let result = runner.run(&strategy, |v| {
        let o = f(v)?;
        let mut c = counts.get();
        c[o as usize] += 1;
        counts.set(c);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    // Visible with --nocapture: how many cases ran and how many still compiled.
    let [compiled, not_toml, refused] = counts.get();
    println!(
        "{name}: {} cases: {compiled} compiled, {not_toml} refused as TOML/encoding, {refused} refused by validation",
        cases()
    );
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
            Ok(_) => Ok(Outcome::Compiled),
            Err(ds) => {
                for d in &ds {
                    let s = d.primary_span().expect("located");
                    prop_assert!(s.end <= b.len().max(1));
                }
                Ok(if not_toml(ds.0[0].code) {
                    Outcome::NotToml
                } else {
                    Outcome::Refused
                })
            }
        },
    );
}

#[test]
fn unmutated_examples_compile() {
    // Sanity check of the harness itself: the unmutated examples compile.
    for e in EXAMPLES {
        assert_eq!(check(e).unwrap(), Outcome::Compiled);
    }
}

/// Refusals that happen before the module's meaning is looked at.
fn not_toml(code: &str) -> bool {
    use offload_core::diag::codes;
    [
        codes::SYNTAX,
        codes::TOO_LARGE,
        codes::NOT_UTF8,
        codes::EMPTY,
    ]
    .contains(&code)
}
