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
    let st = deploy::detach(&roots(), args.module.as_deref())?;
    for p in &st.placements {
        println!("detached {} from {}", st.module, p.iface);
    }
    Ok(0)
}
