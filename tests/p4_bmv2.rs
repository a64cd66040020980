//! The generated v1model programs on the real BMv2, against the reference
//! interpreter; and the TNA programs through the Tofino backend.
//!
//! These need p4c (`p4c-bm2-ss`), BMv2 (`simple_switch`, `simple_switch_CLI`)
//! on PATH or under OFFLOAD_BMV2_DIR, and root for the veth lab. Where the
//! tools are missing the tests print why and pass: BMv2 is not installed on
//! the CI machines, so a missing BMv2 is not a failure even with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1 (a missing root still is, once the tools exist).

use offload_drivers::p4::{bmv2, diff};
use offload_p4::{Arch, Options};
use std::path::{Path, PathBuf};

fn examples() -> Vec<(String, offload_core::ir::Module)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let m = offload_core::spec::compile(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), m)
        })
        .collect()
}

fn tools(test: &str) -> Option<bmv2::Tools> {
    match bmv2::Tools::find() {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("skipped {test}: {e}");
            None
        }
    }
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("offload-p4-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn p4c_bm2_ss_compiles_every_example() {
    let Some(tools) = tools("p4c_bm2_ss_compiles_every_example") else {
        return;
    };
    for (name, m) in examples() {
        let out = offload_p4::compile(&m, &Options::new(Arch::V1model)).unwrap();
        let dir = workdir(&format!("compile-{name}"));
        let json =
            bmv2::compile(&tools, &out.source, &dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(json.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn bmv2_agrees_with_the_reference_on_the_examples() {
    let test = "bmv2_agrees_with_the_reference_on_the_examples";
    if tools(test).is_none() {
        return;
    }
    if !offload_drivers::testenv::require_root(test) {
        return;
    }
    for (name, m) in examples() {
        let cases = diff::cases_for(&m);
        let dir = workdir(&format!("diff-{name}"));
        let report = diff::run(&m, &cases, &dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.cases, cases.len());
        assert!(
            report.mismatches.is_empty(),
            "{name}: BMv2 differs from the reference:\n{}",
            report.mismatches.join("\n")
        );
        eprintln!(
            "{name}: {} frames and {} counters agree",
            report.cases, report.counters_checked
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The open-source Tofino backend, when installed (`p4c-tofino` or `bf-p4c`).
#[test]
fn the_tofino_backend_compiles_every_example() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .flat_map(|d| ["p4c-tofino", "bf-p4c"].map(|t| d.join(t)))
        .find(|p| p.is_file());
    let Some(compiler) = found else {
        eprintln!("skipped the_tofino_backend_compiles_every_example: neither p4c-tofino nor bf-p4c is on PATH");
        return;
    };
    for (name, m) in examples() {
        let out = offload_p4::compile(&m, &Options::new(Arch::Tna)).unwrap();
        let dir = workdir(&format!("tna-{name}"));
        let p4 = dir.join("program.p4");
        std::fs::write(&p4, &out.source).unwrap();
        let res = std::process::Command::new(&compiler)
            .arg("--target")
            .arg("tofino")
            .arg("--arch")
            .arg("tna")
            .arg("-o")
            .arg(dir.join("out"))
            .arg(&p4)
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
