//! Golden rendered diagnostics: `offloadctl check` on every module in
//! `tests/fixtures/bad/` must exit 1 and print exactly
//! `tests/golden/diagnostics/<name>.txt` on stderr (no colour: stderr is a pipe).
//! `OFFLOAD_BLESS=1 cargo test --test spec_diagnostics` rewrites the golden files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(rel: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .current_dir(root())
        .env_remove("RUST_LOG")
        .args(["check", rel])
        .output()
        .expect("run offloadctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Does `text` contain `file:LINE:COL` with numbers?
fn has_location(text: &str, file: &str) -> bool {
    text.match_indices(&format!("{file}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[line.len()..];
        !line.is_empty()
            && after.starts_with(':')
            && after[1..].starts_with(|c: char| c.is_ascii_digit())
    })
}

#[test]
fn bad_modules_match_golden_diagnostics() {
    let bless = std::env::var_os("OFFLOAD_BLESS").is_some_and(|v| v == "1");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/bad"))
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 10, "fixtures missing");
    let mut failures = Vec::new();
    for path in &fixtures {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let rel = format!("tests/fixtures/bad/{name}.toml");
        let (code, stdout, stderr) = check(&rel);
        assert_eq!(code, 1, "{rel}: exit code {code}\n{stderr}");
        assert!(
            stdout.is_empty(),
            "{rel}: diagnostics go to stderr, stdout had:\n{stdout}"
        );
        assert!(
            has_location(&stderr, &rel),
            "{rel}: no file:line:col in\n{stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "{rel}: colour codes in piped output"
        );
        assert!(stderr.contains("help:"), "{rel}: no hint in\n{stderr}");
        let golden = root()
            .join("tests/golden/diagnostics")
            .join(format!("{name}.txt"));
        if bless {
            std::fs::write(&golden, &stderr).expect("write golden");
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == stderr => {}
            Ok(want) => failures.push(format!(
                "{rel}: output differs from {}\n--- want\n{want}\n--- got\n{stderr}",
                golden.display()
            )),
            Err(_) => failures.push(format!(
                "{rel}: no golden file {} (run with OFFLOAD_BLESS=1)",
                golden.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_file_has_a_fixture() {
    for e in std::fs::read_dir(root().join("tests/golden/diagnostics")).expect("golden dir") {
        let p = e.expect("entry").path();
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            Path::new(&root().join(format!("tests/fixtures/bad/{stem}.toml"))).exists(),
            "stale golden file {}",
            p.display()
        );
    }
}
