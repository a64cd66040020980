//! Every example module compiles for both architectures, passes the sanity
//! check, and matches its golden files in tests/golden/p4/ (refresh with
//! OFFLOAD_BLESS=1).

use offload_p4::{compile, sanity, Arch, Options};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn examples() -> Vec<(String, offload_core::ir::Module)> {
    let mut v = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let src = std::fs::read_to_string(&p).unwrap();
        let m =
            offload_core::spec::compile(&src).unwrap_or_else(|d| panic!("{}: {d:?}", p.display()));
        v.push((p.file_stem().unwrap().to_string_lossy().into_owned(), m));
    }
    assert!(v.len() >= 3, "expected the example modules in examples/");
    v
}

fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden/p4").join(name);
    if std::env::var("OFFLOAD_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with OFFLOAD_BLESS=1", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{} differs from the generated output at line {} (OFFLOAD_BLESS=1 refreshes it)\nexpected: {:?}\nactual:   {:?}",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn examples_match_golden_files_and_pass_the_sanity_check() {
    for (name, module) in examples() {
        for arch in Arch::ALL {
            let out = compile(&module, &Options::new(arch))
                .unwrap_or_else(|e| panic!("{name} on {arch}: {e}"));
            if let Err(problems) = sanity::check(&out.source, arch) {
                panic!(
                    "{name} on {arch}: sanity check failed:\n{}",
                    problems.join("\n")
                );
            }
            golden(&format!("{name}.{arch}.p4"), &out.source);
            golden(
                &format!("{name}.{arch}.names.json"),
                &(out.names.to_json() + "\n"),
            );
            golden(&format!("{name}.{arch}.entries.txt"), &out.cli);
            golden(&format!("{name}.{arch}.p4rt.json"), &out.p4runtime);
        }
    }
}

#[test]
fn output_is_deterministic() {
    for (_, module) in examples() {
        for arch in Arch::ALL {
            let a = compile(&module, &Options::new(arch)).unwrap();
            let b = compile(&module, &Options::new(arch)).unwrap();
            assert_eq!(a, b);
        }
    }
}
