//! `offloadctl reconcile [--module NAME] [--watch] [--interval-ms N]`: reads
//! every placement of every recorded deployment back from its device and
//! repairs drift — only what offload owns — logging each repair. `--watch`
//! keeps doing it until stopped (Ctrl-C, SIGTERM).

use super::deployment::{open, records};
use offload_core::state;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only this deployment's module
    #[arg(long)]
    pub module: Option<String>,
    /// Keep reconciling until stopped
    #[arg(long)]
    pub watch: bool,
    /// Time between passes with --watch
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
}

/// One pass; returns (drift found, repairs, failures).
fn pass(module: Option<&str>) -> anyhow::Result<(usize, usize, usize)> {
    let (mut drift, mut repaired, mut failed) = (0, 0, 0);
    for rec in records(module)? {
        let mut o = open(&rec, true)?;
        let desired = offload_drivers::target::switch::canonical_desired(&o.desired);
        let mut refs = o.refs();
        let t0 = Instant::now();
        let r = state::reconcile(&mut refs, &desired);
        for (p, d) in &r.drift {
            println!(
                "{}: {p}: drift: {}",
                rec.module,
                d.describe(&desired.module)
            );
        }
        for rep in &r.repaired {
            let what = match rep {
                state::Repair::Reload { placement, .. } => {
                    format!("{placement}: reloaded version {}", desired.version.number)
                }
                state::Repair::Entries { placement, ops } => {
                    format!("{placement}: {} entry operation(s) written", ops.len())
                }
                state::Repair::LeaveAlone { placement, because } => {
                    format!("{placement}: left alone ({because})")
                }
            };
            println!(
                "{}: repaired {what} ({:.1} ms)",
                rec.module,
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
        for rep in &r.left_alone {
            if let state::Repair::LeaveAlone { placement, because } = rep {
                println!(
                    "{}: {placement}: not repaired, offload does not own it: {because}",
                    rec.module
                );
            }
        }
        for e in &r.failed {
            eprintln!("{}: repair failed: {e}", rec.module);
        }
        drift += r.drift.len();
        repaired += r.repaired.len();
        failed += r.failed.len();
    }
    Ok((drift, repaired, failed))
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if let Some(line) = super::deployed::missing_root("reconcile") {
        eprintln!("{line}");
        return Ok(2);
    }
    if let Some(name) = args.module.as_deref() {
        let roots = super::deployed::roots();
        if offload_drivers::deploy::linked::load_state(&roots, name)?.is_some() && !args.watch {
            // A linked chain: slots and link read back, repaired from the pins.
            let done = offload_drivers::deploy::linked::reconcile(&roots, name)?;
            if done.is_empty() {
                println!("in sync");
            }
            for d in &done {
                println!("{name}: repaired: {d}");
            }
            return Ok(0);
        }
    }
    if records(args.module.as_deref())?.is_empty() {
        eprintln!(
            "no deployment recorded{}: `offloadctl apply deploy.toml` first",
            args.module
                .as_deref()
                .map(|m| format!(" for {m}"))
                .unwrap_or_default()
        );
        return Ok(1);
    }
    if !args.watch {
        let (drift, _, failed) = pass(args.module.as_deref())?;
        if drift == 0 {
            println!("in sync");
        }
        return Ok(if failed > 0 { 1 } else { 0 });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = pass(args.module.as_deref()) {
            eprintln!("reconcile pass failed: {e:#}");
        }
        let until = Instant::now() + Duration::from_millis(args.interval_ms);
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(0)
}
