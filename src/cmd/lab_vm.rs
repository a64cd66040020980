//! `offloadctl lab vm`: runs the offload lab VM (see `offload_drivers::vmlab`) with this very
//! offloadctl binary inside the guest, prints the check × outcome matrix and the run's figures,
//! and exits non-zero when any check failed.

use anyhow::Context as _;
use offload_drivers::vmlab::{self, LabOptions, Outcome};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `offloadctl lab vm`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Cache for the guest kernel build and helpers, outside the repo
    /// [default: $OFFLOAD_LAB_CACHE, else ~/.cache/offload-lab]
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// The lab's files: kernel.config, init.sh, offload-smoke.c, scenarios/, modules/
    /// [default: lab/vm of the source tree offloadctl was built from]
    #[arg(long, value_name = "DIR")]
    pub lab_dir: Option<PathBuf>,
    /// Kernel source tarball [default: the newest /usr/src/linux-source-*.tar.xz]
    #[arg(long, value_name = "FILE")]
    pub kernel_source: Option<PathBuf>,
    /// Kill the guest after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 240)]
    pub timeout: u64,
    /// Parallel jobs for a kernel build (`make -j`)
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub jobs: u32,
    /// Print the guest's console while it runs
    #[arg(long)]
    pub console: bool,
    /// A test executable to run inside the guest as root on its 6.1 kernel, as `PATH` or
    /// `PATH::ARGS` (libtest arguments, e.g. a filter); repeatable
    #[arg(long, value_name = "PATH[::ARGS]")]
    pub guest_test: Vec<String>,
    /// Kill a guest test executable after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub guest_test_timeout: u64,
    /// A host directory to copy into the guest at the same absolute path (data that guest
    /// tests read, e.g. the repo's examples/); repeatable
    #[arg(long, value_name = "DIR")]
    pub mirror: Vec<PathBuf>,
    /// Print the results as JSON (checks with outcome, detail and output; kernel; timings)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let me =
        std::env::current_exe().context("finding the offloadctl binary to put in the guest")?;
    let mut opts = LabOptions::new(me);
    if let Some(c) = &args.cache {
        opts.cache = c.clone();
    }
    if let Some(d) = &args.lab_dir {
        opts.lab_dir = d.clone();
    }
    opts.tarball = args.kernel_source.clone();
    opts.timeout = Duration::from_secs(args.timeout.max(1));
    opts.jobs = args.jobs.max(1);
    opts.guest_test_timeout = Duration::from_secs(args.guest_test_timeout.max(1));
    for spec in &args.guest_test {
        opts.guest_tests
            .push(vmlab::GuestTest::parse(spec).map_err(anyhow::Error::msg)?);
    }
    for d in &args.mirror {
        opts.mirror
            .push(std::path::absolute(d).with_context(|| format!("--mirror {}", d.display()))?);
    }

    let mut progress = |l: &str| eprintln!("lab vm: {l}");
    let mut echo = |l: &str| eprintln!("  | {l}");
    let console: Option<&mut dyn FnMut(&str)> = if args.console { Some(&mut echo) } else { None };
    let run = vmlab::run(&opts, &mut progress, console).context("offload lab VM")?;

    let r = &run.report;
    let (pass, fail, known, skip) = (
        r.count(Outcome::Pass),
        r.count(Outcome::Fail),
        r.count(Outcome::Known),
        r.count(Outcome::Skip),
    );
    if args.json {
        let doc = serde_json::json!({
            "kernel": r.info("kernel"),
            "bzimage": run.kernel.bzimage,
            "kernel_built_secs": run.kernel.built_in.map(|t| t.as_secs_f64()),
            "initramfs_bytes": run.initramfs_bytes,
            "vm_wall_secs": run.vm_wall.as_secs_f64(),
            "uptime_at_init": run.uptime_at_init,
            "uptime_at_end": run.uptime_at_end,
            "timed_out": run.timed_out,
            "console_log": run.serial_log,
            "passed": pass,
            "failed": fail,
            "known_failures": known,
            "skipped": skip,
            "checks": r.checks,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(if fail > 0 { 1 } else { 0 });
    }
    println!("{}", r.matrix());
    let kernel_note = match run.kernel.built_in {
        Some(t) => format!("built in {:.0} s", t.as_secs_f64()),
        None => "cached".to_string(),
    };
    println!(
        "guest kernel {} ({kernel_note}, {}); initramfs {:.1} MB",
        r.info("kernel").unwrap_or("?"),
        run.kernel.bzimage.display(),
        run.initramfs_bytes as f64 / 1e6
    );
    let secs = |o: Option<f64>| o.map_or("?".to_string(), |v| format!("{v:.2} s"));
    let scenarios = match (run.uptime_at_init, run.uptime_at_end) {
        (Some(a), Some(b)) => format!("{:.2} s", b - a),
        _ => "?".to_string(),
    };
    println!(
        "VM wall time {:.2} s: boot to /init {}, scenarios {scenarios}{}",
        run.vm_wall.as_secs_f64(),
        secs(run.uptime_at_init),
        if run.timed_out { " (timed out)" } else { "" }
    );
    println!(
        "netdevsim never runs offloaded programs on packets: these checks prove the offload control \
         path (verify, load, maps, attach, entries, replace, detach, refusals), not packet behaviour."
    );
    println!("console log: {}", run.serial_log.display());
    for c in r.fixed_known() {
        println!("note: {} {}", c.name, c.detail);
    }
    println!("lab vm: {pass} checks passed, {fail} failed, {known} known failures, {skip} skipped");
    if fail > 0 {
        eprintln!("{}", r.failures());
        return Ok(1);
    }
    Ok(0)
}
