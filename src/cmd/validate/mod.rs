//! `offloadctl validate MODULE [--vectors FILE | --generate N] [--targets LIST]
//! [--junit FILE] [--json]`: the same frames through every target this
//! machine has, each compared with the reference interpreter, as one matrix
//! of targets × vector classes. Exit code 0 when nothing disagreed, 1 when
//! any target (or the reference, against a vectors file's expectations)
//! did; a target that cannot run here is "not run" with the reason, never
//! a pass.
//!
//! - [`vectors`]: the vectors (text format, captures, generated).
//! - [`targets`]: which targets exist and running each.
//! - [`report`]: the matrix, failure details, JSON and JUnit XML.

pub mod report;
pub mod targets;
pub mod vectors;

use super::load_module_or_report;
use anyhow::Context as _;
use std::path::PathBuf;

/// Options of `offloadctl validate`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("input").args(["vectors", "generate"])))]
pub struct Args {
    /// The module file (TOML)
    pub file: PathBuf,
    /// Test vectors: a text file (`PORT HEX [-> VERDICT [PORT] [HEX]]` a line) or a
    /// pcap/pcapng capture (pcapng: the interface name is the ingress port)
    #[arg(long, value_name = "FILE")]
    pub vectors: Option<PathBuf>,
    /// Generate N vectors from the module's own tables (hits, misses, edges of ranges
    /// and prefixes, malformed frames) [default: 200 when no --vectors]
    #[arg(long, value_name = "N")]
    pub generate: Option<usize>,
    /// Seed of the generated vectors
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Ingress port of the frames of a classic pcap (which names no interfaces)
    /// [default: the module's first port]
    #[arg(long, value_name = "PORT")]
    pub in_port: Option<String>,
    /// Targets to run, comma-separated, from: reference, xdp-test-run, tc-test-run,
    /// xdp-live, tc-live, bmv2, nic, netdevsim [default: all but netdevsim]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub targets: Option<Vec<String>>,
    /// A real offload NIC's interface: its target runs only on it, and only when given
    #[arg(long, value_name = "IFACE")]
    pub on: Option<String>,
    /// Also write the results as JUnit XML (for CI systems)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print one JSON document on stdout instead of the matrix
    #[arg(long)]
    pub json: bool,
    /// Failures shown in detail per target (all are in --json and --junit)
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub show: usize,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let loaded = match load_module_or_report(&args.file)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let m = &loaded.module;
    let vectors = match &args.vectors {
        Some(p) => vectors::read(m, p, args.in_port.as_deref())?,
        None => {
            let n = args.generate.unwrap_or(200);
            if n == 0 {
                anyhow::bail!("--generate 0: nothing to validate; give a count of at least 1");
            }
            vectors::generate(m, n, args.seed)
        }
    };
    let wanted = targets::select(args.targets.as_deref())?;
    let mut progress = report::Progress::new();
    let results = targets::run_all(
        m,
        &args.file,
        &vectors,
        &wanted,
        args.targets.is_some(),
        args.on.as_deref(),
        &mut progress,
    );
    progress.finish();
    let summary = report::Summary::new(&loaded, &vectors, &results);
    if let Some(path) = &args.junit {
        std::fs::write(path, summary.junit())
            .with_context(|| format!("cannot write JUnit XML to {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        format!("{:#}\n", summary.json())
    } else {
        summary.text(args.show)
    };
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
    Ok(if summary.failed() { 1 } else { 0 })
}
