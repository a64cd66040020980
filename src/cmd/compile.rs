//! `offloadctl compile FILE --target xdp|tc|xdp-offload|p4-v1model|p4-tna -o OUT`:
//! compiles a module without touching the system.
//!
//! eBPF targets write one relocatable BPF object (`OUT`, e.g. `router.o`),
//! loadable by aya, `bpftool prog load`, `ip link … xdp obj` (section `xdp`)
//! and `tc filter … bpf da obj OUT sec classifier`; `--emit listing` also
//! prints the disassembly annotated with the module's table/action names.
//! `xdp-offload` compiles under a NIC profile (`--profile nfp|netdevsim`,
//! default nfp) and refuses, naming the table/action, whatever the NIC cannot
//! run. P4 targets write a directory (see `compile_p4`).

use super::load_module_or_report;
use anyhow::Context as _;
use offload_core::plan::Profile;
use offload_ebpf::codegen::{compile, CompileError, Target};
use offload_ebpf::layout::Hook;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// The annotated disassembly, on stdout
    Listing,
}

/// Options of `offloadctl compile`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The module file (TOML)
    pub file: PathBuf,
    /// xdp, tc, xdp-offload, p4-v1model or p4-tna
    #[arg(long, short)]
    pub target: String,
    /// Output: the object file (eBPF targets) or a directory (P4 targets)
    #[arg(long, short)]
    pub output: PathBuf,
    /// NIC profile for xdp-offload (nfp, netdevsim)
    #[arg(long, default_value = "nfp")]
    pub profile: String,
    /// Also print this
    #[arg(long)]
    pub emit: Option<Emit>,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let loaded = match load_module_or_report(&args.file)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    if let Some(arch) = offload_p4::Arch::from_target_name(&args.target) {
        super::compile_p4::compile_p4(&loaded.module, arch, &args.output)?;
        return Ok(0);
    }
    let target = match args.target.as_str() {
        "xdp" | "xdp-native" | "xdp-generic" => Target::xdp(),
        "tc" => Target::tc(),
        "xdp-offload" => {
            let profile = Profile::by_name(&args.profile).with_context(|| {
                format!("unknown profile `{}` (try nfp or netdevsim)", args.profile)
            })?;
            Target::new(Hook::Xdp, profile)
        }
        other => anyhow::bail!(
            "unknown target `{other}`: use xdp, tc, xdp-offload, p4-v1model or p4-tna"
        ),
    };
    let compiled = match compile(&loaded.module, &target) {
        Ok(c) => c,
        Err(CompileError::Unsupported {
            table,
            action,
            reason,
            span,
        }) => {
            let (l, c) = offload_core::diag::line_col(&loaded.source, span.start);
            eprintln!(
                "{}:{l}:{c}: error: table `{table}`, action `{action}`: {reason}",
                args.file.display()
            );
            return Ok(1);
        }
        Err(e) => {
            eprintln!("{}: error: {e}", args.file.display());
            return Ok(1);
        }
    };
    std::fs::write(&args.output, &compiled.object)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    if args.emit == Some(Emit::Listing) {
        print!("{}", compiled.listing());
    }
    eprintln!(
        "wrote {} ({} section `{}`, program `{}`, {} instructions, {} maps, {} stack bytes)",
        args.output.display(),
        args.target,
        compiled.section,
        compiled.program_name,
        compiled.program.insns.len(),
        compiled.layout.maps.len(),
        compiled.stack_bytes
    );
    Ok(0)
}
