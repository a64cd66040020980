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

/// Examples the P4 backend refuses by name, and the name: VXLAN is
/// defined in the reference only (README "VXLAN").
const REFUSED: &[(&str, &str)] = &[
    ("vxlan-gateway", "VXLAN"),
    ("ddos-mitigator", "has a meter"),
];

/// The refusal of a refused example, checked to be the named one.
fn refused(name: &str, module: &offload_core::ir::Module, arch: Arch) -> bool {
    let Some((_, what)) = REFUSED.iter().find(|(n, _)| *n == name) else {
        return false;
    };
    match compile(module, &Options::new(arch)) {
        Err(e @ (offload_p4::P4Error::Vxlan { .. } | offload_p4::P4Error::Meter { .. })) => {
            assert!(e.to_string().contains(what), "{name} on {arch}: {e}");
            true
        }
        other => panic!("{name} on {arch}: expected the named refusal ({what}), got {other:?}"),
    }
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
            if refused(&name, &module, arch) {
                eprintln!("{name} on {arch}: refused by name, as expected");
                continue;
            }
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
    for (name, module) in examples() {
        for arch in Arch::ALL {
            if refused(&name, &module, arch) {
                continue;
            }
            let a = compile(&module, &Options::new(arch)).unwrap();
            let b = compile(&module, &Options::new(arch)).unwrap();
            assert_eq!(a, b);
        }
    }
}

fn example(name: &str) -> offload_core::ir::Module {
    examples()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, m)| m)
        .unwrap()
}

/// A service chain is ONE pipeline: ddos-filter in front of edge-router,
/// golden on both architectures; tables addressed as `module.table`.
#[test]
fn an_example_chain_is_one_pipeline_matching_its_golden_files() {
    let modules = [example("ddos-filter"), example("edge-router")];
    let fused = offload_core::ir::chain::fuse(&modules).unwrap();
    for arch in Arch::ALL {
        let out = offload_p4::compile_chain(&fused, &Options::new(arch))
            .unwrap_or_else(|e| panic!("chain on {arch}: {e}"));
        if let Err(problems) = sanity::check(&out.source, arch) {
            panic!(
                "chain on {arch}: sanity check failed:\n{}",
                problems.join("\n")
            );
        }
        assert_eq!(out.source.matches("\ncontrol IngressImpl(").count(), 1);
        assert!(out.source.contains("table ddos_filter_blocklist {"));
        assert!(out.source.contains("table edge_router_routes {"));
        assert!(out
            .source
            .contains("A pass of `ddos-filter` goes on to the next module"));
        let t = out
            .names
            .table("edge-router.routes")
            .expect("named by module.table");
        assert!(t.p4.ends_with("edge_router_routes"), "{}", t.p4);
        let name = "chain.ddos-filter+edge-router";
        golden(&format!("{name}.{arch}.p4"), &out.source);
        golden(
            &format!("{name}.{arch}.names.json"),
            &(out.names.to_json() + "\n"),
        );
        golden(&format!("{name}.{arch}.entries.txt"), &out.cli);
        golden(&format!("{name}.{arch}.p4rt.json"), &out.p4runtime);
        assert_eq!(
            out,
            offload_p4::compile_chain(&fused, &Options::new(arch)).unwrap()
        );
    }
    // A chain of one is the module's own program.
    let one = offload_core::ir::chain::Fused::single(&modules[1]);
    for arch in Arch::ALL {
        assert_eq!(
            offload_p4::compile_chain(&one, &Options::new(arch)).unwrap(),
            compile(&modules[1], &Options::new(arch)).unwrap()
        );
    }
}

/// What one P4 parse cannot do for a chain is refused, naming the modules.
#[test]
fn chains_one_pipeline_cannot_keep_are_refused_by_name() {
    let l2 = example("l2-switch");
    let ddos = example("ddos-filter");
    let fused = offload_core::ir::chain::fuse(&[l2.clone(), ddos.clone()]).unwrap();
    let e = offload_p4::compile_chain(&fused, &Options::new(Arch::V1model)).unwrap_err();
    assert!(
        matches!(&e, offload_p4::P4Error::ChainReparse { module, next } if module == "l2-switch" && next == "ddos-filter"),
        "{e}"
    );
    let pusher = offload_core::spec::compile(
        "[module]\nname = \"pusher\"\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = [\"push_vlan(5)\"]\n",
    )
    .unwrap();
    let fused = offload_core::ir::chain::fuse(&[pusher.clone(), ddos]).unwrap();
    let e = offload_p4::compile_chain(&fused, &Options::new(Arch::Tna)).unwrap_err();
    assert!(
        matches!(&e, offload_p4::P4Error::ChainCounterBytes { module, later } if module == "pusher" && later == "ddos-filter"),
        "{e}"
    );
    // The same modules the other way round are fine: the popper/pusher is last.
    let fused = offload_core::ir::chain::fuse(&[example("ddos-filter"), l2]).unwrap();
    offload_p4::compile_chain(&fused, &Options::new(Arch::V1model)).unwrap();
}
