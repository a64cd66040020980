//! The P4 branch of `offloadctl compile FILE --target p4-v1model|p4-tna -o DIR`:
//! writes the program, its naming map and its entries.
//!
//! Files, named after the module (`edge-router.p4`, ...):
//! - `<module>.p4`: the P4_16 program (v1model: `p4c-bm2-ss <module>.p4`;
//!   TNA: the p4c Tofino backend);
//! - `<module>.names.json`: module table/action/field/port → P4 and runtime names;
//! - `<module>.entries.txt`: default actions and entries as `simple_switch_CLI`
//!   commands (`simple_switch_CLI < <module>.entries.txt`; on TNA the same
//!   commands with BF Runtime names, for reading or scripting);
//! - `<module>.p4rt.json`: the same entries as P4Runtime-style JSON, by name.

use anyhow::Context as _;
use offload_core::ir::Module;
use offload_p4::{Arch, Options};
use std::path::{Path, PathBuf};

/// Generates and writes the files for `arch` into `out_dir` (created if
/// needed), printing one line per file written.
#[allow(dead_code)] // called by `offloadctl compile` once its p4 targets are wired
pub fn compile_p4(module: &Module, arch: Arch, out_dir: &Path) -> anyhow::Result<()> {
    for path in write_p4(module, &Options::new(arch), out_dir)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// [`compile_p4`] with every option (CPU port, port map); returns the files written.
#[allow(dead_code)]
pub fn write_p4(
    module: &Module,
    options: &Options,
    out_dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let out = offload_p4::compile(module, options).with_context(|| {
        format!(
            "module `{}` cannot be compiled for {}",
            module.name,
            options.arch.target_name()
        )
    })?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let files = [
        (format!("{}.p4", module.name), out.source),
        (
            format!("{}.names.json", module.name),
            out.names.to_json() + "\n",
        ),
        (format!("{}.entries.txt", module.name), out.cli),
        (format!("{}.p4rt.json", module.name), out.p4runtime),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = out_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
