//! `offloadctl status [--module NAME] [--json]`: what runs where, read back
//! from the kernel (attach mode, program id and tag per interface, entries and
//! counters from the maps); differences from what offload recorded are drift.

use super::deployed::{missing_root, roots, status_text};
use offload_drivers::deploy::status;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only this module
    #[arg(long)]
    pub module: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if let Some(line) = missing_root("status") {
        eprintln!("{line}");
        return Ok(2);
    }
    if let Some(name) = &args.module {
        if let Some(code) = super::deployment::linked_status(name, args.json)? {
            return Ok(code);
        }
    }
    let recs = super::deployment::records(args.module.as_deref())?;
    if !recs.is_empty() {
        // A deployment's placements, every kind of target, from the devices.
        return super::deployment::status(&recs, args.json);
    }
    let all = status::status(&roots(), args.module.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else if all.is_empty() {
        println!("nothing deployed");
    } else {
        for (i, st) in all.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{}", status_text(st));
        }
    }
    // Drift is worth a non-zero exit for scripts.
    Ok(if all.iter().any(|s| s.has_drift()) {
        3
    } else {
        0
    })
}
