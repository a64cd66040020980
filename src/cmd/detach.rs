//! `offloadctl detach [--module NAME]`: removes what offload attached (links,
//! pins, state). Nothing it did not attach is touched.

use super::deployed::{missing_root, roots};
use offload_drivers::deploy;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The module to detach (needed when several are deployed)
    #[arg(long)]
    pub module: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if let Some(line) = missing_root("detach") {
        eprintln!("{line}");
        return Ok(2);
    }
    if let Some(name) = &args.module {
        if deploy::linked::load_state(&roots(), name)?.is_some() {
            deploy::linked::detach(&roots(), name)?;
            println!("detached {name} (linked chain: dispatcher, every module, chain_progs)");
            return Ok(0);
        }
    }
    if let Some(m) = args.module.as_deref() {
        if deploy::split::SplitRecord::load(&roots(), m)?.is_some() {
            let rec = deploy::split::detach_split(&roots(), m)?;
            println!(
                "detached {m} from {} (host half {}, then NIC half {})",
                rec.iface,
                rec.half(offload_core::ir::split::Half::Host),
                rec.half(offload_core::ir::split::Half::Nic)
            );
            return Ok(0);
        }
    }
    let recs = super::deployment::records(args.module.as_deref())?;
    if recs.len() == 1 {
        return detach_deployment(&recs[0]);
    }
    let st = deploy::detach(&roots(), args.module.as_deref())?;
    for p in &st.placements {
        println!("detached {} from {}", st.module, p.iface);
    }
    Ok(0)
}

/// A deployment: the host placements detached, the switches' tables emptied
/// (P4Runtime cannot unload a pipeline: it stays, with no entries of ours),
/// bundles left where they are (they are files for a lab), the record gone.
fn detach_deployment(rec: &offload_drivers::deployment::Record) -> anyhow::Result<i32> {
    let mut r = super::Reply::default();
    let code = detach_deployment_into(&mut r, rec);
    r.print();
    code
}

/// [`detach_deployment`], its output into `r` (offloadd runs the same code).
pub fn detach_deployment_into(
    r: &mut super::Reply,
    rec: &offload_drivers::deployment::Record,
) -> anyhow::Result<i32> {
    let (spec, _) = rec.desired()?;
    let roots = roots();
    let mut failed = 0;
    if !spec.host.is_empty() {
        match deploy::detach(&roots, Some(&rec.module)) {
            Ok(st) => {
                for p in &st.placements {
                    say!(r, "host:{}: detached {}", p.iface, st.module);
                }
            }
            Err(e) => {
                complain!(r, "error: host: {e}");
                failed += 1;
            }
        }
    }
    for s in &spec.switch {
        match offload_drivers::target::switch::clear(s, &roots) {
            Ok(n) => say!(r,
                "switch:{}: {n} entries deleted; the pipeline stays loaded (P4Runtime has no unload)",
                s.name
            ),
            Err(e) => {
                complain!(r, "error: {e}");
                failed += 1;
            }
        }
    }
    for b in &spec.bundle {
        say!(
            r,
            "bundle:{}: left in place ({}): it is the lab's to load or delete",
            b.name,
            b.out
        );
    }
    if failed == 0 {
        offload_drivers::deployment::Record::remove(&roots, &rec.module);
        Ok(0)
    } else {
        complain!(
            r,
            "the deployment record is kept: run detach again once the placements above answer"
        );
        Ok(1)
    }
}
