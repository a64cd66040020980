//! Every example compiles for XDP and tc; listings are pinned as golden files
//! (`OFFLOAD_BLESS=1` rewrites them); output is deterministic.

use offload_ebpf::codegen::{compile, Target};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn examples() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(root().join("examples"))
        .expect("examples/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no examples found");
    v
}

#[test]
fn examples_compile_deterministically_and_match_golden_listings() {
    let bless = std::env::var_os("OFFLOAD_BLESS").is_some();
    let mut mismatches = Vec::new();
    for (name, src) in examples() {
        let module = offload_core::spec::compile(&src)
            .unwrap_or_else(|d| panic!("example {name} does not compile: {d:?}"));
        for (hook, target) in [("xdp", Target::xdp()), ("tc", Target::tc())] {
            let a = compile(&module, &target).unwrap_or_else(|e| panic!("{name}/{hook}: {e}"));
            let b = compile(&module, &target).unwrap();
            assert_eq!(
                a.object, b.object,
                "{name}/{hook}: object bytes differ between runs"
            );
            assert_eq!(a.listing, b.listing);
            assert_eq!(a.program.bytes.len(), a.program.insns.len() * 8);
            assert!(a.stack_bytes <= 512);
            // Every table has an annotated range, and every action of every table too.
            for t in &module.tables {
                assert!(
                    a.insn_spans
                        .iter()
                        .any(|s| s.table.as_deref() == Some(&t.name) && s.action.is_none()),
                    "{name}/{hook}: no span for table {}",
                    t.name
                );
                assert!(a.listing.contains(&format!("; table {}", t.name)));
            }
            let path = root()
                .join("tests/golden/ebpf")
                .join(format!("{name}.{hook}.txt"));
            if bless {
                std::fs::write(&path, &a.listing).unwrap();
            } else {
                match std::fs::read_to_string(&path) {
                    Ok(g) if g == a.listing => {}
                    Ok(_) => mismatches.push(format!("{} differs", path.display())),
                    Err(_) => mismatches.push(format!("{} missing", path.display())),
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden listings out of date (rerun with OFFLOAD_BLESS=1 and review the diff):\n{}",
        mismatches.join("\n")
    );
}
