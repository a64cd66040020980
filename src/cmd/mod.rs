//! One module per verb. Each exposes `Args` (clap) and
//! `run(&Args) -> anyhow::Result<i32>` (the exit code). Shared helpers live here
//! (and in `progress`: the progress display of long commands).

/// A line of output into a [`Reply`] (`say!`: stdout, `complain!`: stderr).
macro_rules! say {
    ($r:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($r.out, $($t)*);
    }};
}
macro_rules! complain {
    ($r:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($r.err, $($t)*);
    }};
}

pub mod agent_client;
pub mod apply;
pub mod check;
pub mod compile;
pub mod compile_p4;
pub mod demo;
pub mod deployed;
pub mod deployment;
pub mod detach;
pub mod entries;
pub mod fleet;
pub mod hwdb;
pub mod lab;
pub mod lab_net;
pub mod lab_vm;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod validate;

use crate::render;
use anyhow::Context as _;
use offload_core::diag::Diagnostics;
use offload_core::{ir, spec};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// What a command says and its exit code. offloadctl prints it; offloadd
/// runs the same command code for a request on its control socket and sends
/// it back, so both say the same thing.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Reply {
    pub fn print(&self) -> i32 {
        print!("{}", self.out);
        eprint!("{}", self.err);
        self.code
    }
}

/// A module file that compiled.
#[derive(Debug)]
#[allow(dead_code)] // `source` is for commands that show snippets (run, apply)
pub struct Loaded {
    pub path: PathBuf,
    pub source: String,
    pub module: ir::Module,
}

/// A module file that was refused, with what is needed to show why.
#[derive(Debug)]
pub struct Rejected {
    /// The path as the user gave it (shown in `file:line:col`).
    pub file: String,
    /// The text the spans point into (lossy for non-UTF-8 input).
    pub source: String,
    pub diagnostics: Diagnostics,
}

impl Rejected {
    /// Compiler-style rendering; `color` for terminals.
    pub fn render(&self, color: bool) -> String {
        render::render(&self.file, &self.source, &self.diagnostics, color)
    }
    pub fn to_json(&self) -> serde_json::Value {
        render::to_json(&self.file, &self.source, &self.diagnostics)
    }
}

/// Reads and compiles a module file. `Err` is an I/O problem (missing file,
/// unreadable); `Ok(Err(_))` is a module with mistakes in it. Files over
/// [`spec::MAX_SOURCE_BYTES`] are refused without being read.
pub fn load_module(path: &Path) -> anyhow::Result<Result<Loaded, Rejected>> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).with_context(|| format!("cannot open module file {file}"))?;
    let meta = f
        .metadata()
        .with_context(|| format!("cannot stat {file}"))?;
    if meta.is_dir() {
        anyhow::bail!("{file} is a directory, not a module file");
    }
    let limit = spec::MAX_SOURCE_BYTES as u64;
    if meta.len() > limit {
        return Ok(Err(Rejected {
            file,
            source: String::new(),
            diagnostics: Diagnostics(vec![spec::too_large(meta.len())]),
        }));
    }
    // Bounded read: the size can change (or be unknown, for a pipe) after stat.
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {file}"))?;
    tracing::debug!(file = %file, bytes = bytes.len(), "compiling module");
    match spec::compile_bytes(&bytes) {
        Ok(module) => {
            // compile_bytes succeeded, so the bytes are UTF-8.
            let source = String::from_utf8(bytes).unwrap_or_default();
            Ok(Ok(Loaded {
                path: path.to_path_buf(),
                source,
                module,
            }))
        }
        Err(diagnostics) => Ok(Err(Rejected {
            file,
            source: String::from_utf8_lossy(&bytes).into_owned(),
            diagnostics,
        })),
    }
}

/// [`load_module`] for commands that only go on with a valid module: prints the
/// rendered diagnostics to stderr and gives exit code 1 when it was refused.
/// Use as `let loaded = match cmd::load_module_or_report(&path)? { Ok(l) => l, Err(code) => return Ok(code) };`
#[allow(dead_code)] // the helper other commands (run, compile, plan, ...) start with
pub fn load_module_or_report(path: &Path) -> anyhow::Result<Result<Loaded, i32>> {
    Ok(match load_module(path)? {
        Ok(l) => Ok(l),
        Err(r) => {
            eprint!("{}", r.render(render::stderr_wants_color()));
            eprintln!(
                "error: {} refused: {} error(s)",
                r.file,
                r.diagnostics.len()
            );
            Err(1)
        }
    })
}

/// Why module files cannot run as a service chain: the file and its text the
/// diagnostic points into.
#[derive(Debug)]
pub struct ChainRejected(pub Rejected);

/// Fuses loaded modules into a chain (`offload_core::ir::chain`). `Err`: the
/// chain's refusal as a diagnostic on the file of the module it names.
pub fn fuse_loaded(loaded: &[Loaded]) -> Result<ir::chain::Fused, ChainRejected> {
    let modules: Vec<ir::Module> = loaded.iter().map(|l| l.module.clone()).collect();
    ir::chain::fuse(&modules).map_err(|e| {
        let at = e.module_index().and_then(|i| loaded.get(i));
        let (file, source) = at
            .map(|l| (l.path.display().to_string(), l.source.clone()))
            .unwrap_or_default();
        let name_span = at.and_then(|l| spec::module_name_span(&l.source));
        ChainRejected(Rejected {
            file,
            source,
            diagnostics: Diagnostics(vec![e.diagnostic(name_span)]),
        })
    })
}

/// Loads every file of a chain and fuses them, printing what is wrong to
/// stderr (exit code 1) like [`load_module_or_report`].
pub fn load_chain_or_report(
    paths: &[PathBuf],
) -> anyhow::Result<Result<(Vec<Loaded>, ir::chain::Fused), i32>> {
    let mut loaded = Vec::new();
    for p in paths {
        match load_module_or_report(p)? {
            Ok(l) => loaded.push(l),
            Err(code) => return Ok(Err(code)),
        }
    }
    match fuse_loaded(&loaded) {
        Ok(f) => Ok(Ok((loaded, f))),
        Err(ChainRejected(r)) => {
            eprint!("{}", r.render(render::stderr_wants_color()));
            eprintln!("error: these modules cannot run as one chain");
            Ok(Err(1))
        }
    }
}
