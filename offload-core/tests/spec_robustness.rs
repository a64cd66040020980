//! Hostile input of every kind gets a clear, located error — never a panic,
//! a stack overflow or a hang.

use offload_core::diag::codes;
use offload_core::spec::{self, MAX_SOURCE_BYTES};
use std::time::{Duration, Instant};

fn first_code(src: &str) -> &'static str {
    let ds = spec::compile(src).expect_err("should be refused");
    for d in &ds {
        let s = d.primary_span().expect("located");
        assert!(s.end <= src.len());
    }
    ds.0[0].code
}

/// Runs `f` on a thread with a small stack: deep recursion would overflow it.
/// (Measured in a debug build: toml at its own limit of 80 levels needs 1–2 MiB;
/// our nesting guard keeps it well under 512 KiB.)
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic, no overflow");
}

#[test]
fn empty_and_whitespace() {
    assert_eq!(first_code(""), codes::EMPTY);
    assert_eq!(first_code("\n\n   \t\n"), codes::EMPTY);
    assert_eq!(first_code("# only a comment"), codes::EMPTY);
    assert_eq!(first_code("[module]"), codes::MISSING_KEY);
}

#[test]
fn binary_garbage() {
    let mut garbage = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..100_000 {
        // xorshift: deterministic noise, all byte values
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(x as u8);
    }
    let ds = spec::compile_bytes(&garbage).expect_err("refused");
    assert_eq!(ds.0[0].code, codes::NOT_UTF8);
    // Valid UTF-8 but not TOML: control characters, NULs, an ELF header.
    assert_eq!(first_code("\u{0}\u{1}\u{2}ELF\u{7f}"), codes::SYNTAX);
    let elf_like = String::from_utf8_lossy(&garbage).into_owned();
    assert_eq!(first_code(&elf_like), codes::SYNTAX);
}

#[test]
fn fifty_megabytes_is_refused_at_once() {
    let big =
        "# padding padding padding padding padding padding padding\n".repeat(50 * 1024 * 1024 / 58);
    assert!(big.len() > 49 * 1024 * 1024);
    let t = Instant::now();
    assert_eq!(first_code(&big), codes::TOO_LARGE);
    assert_eq!(
        spec::compile_bytes(big.as_bytes()).unwrap_err().0[0].code,
        codes::TOO_LARGE
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn file_just_under_the_limit_finishes() {
    // The largest accepted input, made of many entries: parse + validation must
    // stay linear. (Timing is printed, not asserted: the machine is shared.)
    let mut src = String::from(
        "[module]\nname = \"big\"\n[[table]]\nname = \"fdb\"\nkeys = [{ field = \"eth.dst\", match = \"exact\" }]\nactions = [\"d\"]\ndefault_action = \"d\"\nsize = 1000000\n[action.d]\ndo = [\"drop\"]\n",
    );
    let mut i: u64 = 0;
    loop {
        let e = format!(
            "[[entry.fdb]]\nmatch = {{ \"eth.dst\" = \"02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\" }}\naction = \"d\"\n",
            (i >> 32) & 0xff,
            (i >> 24) & 0xff,
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        );
        if src.len() + e.len() > MAX_SOURCE_BYTES / 2 {
            break;
        }
        src.push_str(&e);
        i += 1;
    }
    let t = Instant::now();
    let m = spec::compile(&src).expect("valid");
    println!(
        "{} entries, {} bytes compiled in {:?}",
        i,
        src.len(),
        t.elapsed()
    );
    assert_eq!(m.tables[0].entries.len() as u64, i);
}

#[test]
fn deep_nesting_does_not_overflow() {
    on_small_stack(|| {
        for src in [
            format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000)),
            format!("x = {}1{}", "{a = ".repeat(10_000), "}".repeat(10_000)),
            format!("x = {}", "[{a = ".repeat(10_000)),
            format!("[{}]\n", vec!["a"; 10_000].join(".")),
            format!("{} = 1\n", vec!["a"; 10_000].join(".")),
            format!("[[{}]]\n", vec!["a"; 10_000].join(".")),
            // Deep inside a match value.
            format!(
                "[module]\nname = \"x\"\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = []\n[[entry.t]]\nmatch = {{ x = {}1{} }}\naction = \"a\"\n",
                "[".repeat(60),
                "]".repeat(60)
            ),
        ] {
            let ds = spec::compile(&src).expect_err("refused");
            assert!(ds.0[0].primary_span().unwrap().end <= src.len());
        }
    });
}

#[test]
fn huge_numbers() {
    let base = "[module]\nname = \"x\"\n[ports]\np = PORT\n[[table]]\nname = \"t\"\nkeys = [{ field = \"l4.dst_port\", match = \"range\" }]\nactions = [\"a\"]\ndefault_action = \"a\"\nsize = SIZE\n[action.a]\ndo = []\n[[entry.t]]\nmatch = { \"l4.dst_port\" = VALUE }\npriority = PRIO\naction = \"a\"\n";
    let case = |port: &str, size: &str, value: &str, prio: &str| {
        base.replace("PORT", port)
            .replace("SIZE", size)
            .replace("VALUE", value)
            .replace("PRIO", prio)
    };
    assert!(spec::compile(&case("1", "10", "80", "1")).is_ok());
    let huge = "9".repeat(10_000);
    for (src, code) in [
        (case("99999999999999999999", "10", "80", "1"), codes::SYNTAX),
        (
            case("9223372036854775807", "10", "80", "1"),
            codes::PORT_RANGE,
        ),
        (
            case("-9223372036854775808", "10", "80", "1"),
            codes::PORT_RANGE,
        ),
        (
            case("1", "9223372036854775807", "80", "1"),
            codes::SIZE_RANGE,
        ),
        (case("1", "10", "9223372036854775807", "1"), codes::TOO_WIDE),
        (case("1", "10", "-1", "1"), codes::BAD_LITERAL),
        (
            case("1", "10", &format!("\"{huge}\""), "1"),
            codes::BAD_LITERAL,
        ),
        (
            case("1", "10", &format!("\"0x{huge}\""), "1"),
            codes::BAD_LITERAL,
        ),
        (
            case(
                "1",
                "10",
                "\"1..340282366920938463463374607431768211455\"",
                "1",
            ),
            codes::TOO_WIDE,
        ),
        (
            case("1", "10", "80", "9223372036854775807"),
            codes::TOO_WIDE,
        ),
        (case("1", "10", "80", "1e999"), codes::SYNTAX),
        (case("1", "10", "80", "1e300"), codes::WRONG_TYPE),
        (case("1.5", "10", "80", "1"), codes::WRONG_TYPE),
    ] {
        let ds = spec::compile(&src).expect_err("refused");
        assert!(
            ds.iter().any(|d| d.code == code),
            "want {code}, got {:?}",
            ds.iter().map(|d| (d.code, &d.message)).collect::<Vec<_>>()
        );
    }
}

#[test]
fn many_names_do_not_make_suggestions_quadratic() {
    // 20k actions and 20k misspelt references: did-you-mean must stay bounded.
    let mut src = String::from("[module]\nname = \"x\"\n[[table]]\nname = \"t\"\nactions = [");
    for i in 0..20_000 {
        src.push_str(&format!("\"actoin{i}\", "));
    }
    src.push_str("]\ndefault_action = \"action0\"\n");
    for i in 0..20_000 {
        src.push_str(&format!("[action.action{i}]\ndo = []\n"));
    }
    let t = Instant::now();
    let ds = spec::compile(&src).expect_err("refused");
    println!("{} diagnostics in {:?}", ds.len(), t.elapsed());
    assert_eq!(ds.len(), spec::MAX_DIAGNOSTICS + 1);
    assert!(t.elapsed() < Duration::from_secs(60));
}
