//! The flags as parsed by clap. One `Command` variant per verb; each holds the
//! `Args` struct defined next to its implementation in `src/cmd/<verb>.rs`.
//!
//! Adding a subcommand: write `src/cmd/<verb>.rs` with `pub struct Args`
//! (`#[derive(clap::Args)]`) and `pub fn run(args: &Args) -> anyhow::Result<i32>`,
//! add `pub mod <verb>;` to `src/cmd/mod.rs`, one variant here, and one match
//! arm in `src/main.rs`.

use clap::{ArgAction, Parser, Subcommand};

/// offloadctl: one match-action module, placed on SmartNICs, switches or the host kernel.
#[derive(Debug, Parser)]
#[command(name = "offloadctl", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a module file and print its tables, actions and requirements
    Check(crate::cmd::check::Args),
    /// Run the reference interpreter on packets (hex or pcap) and show what the module does
    Run(crate::cmd::run::Args),
    /// The same packets through every target this machine has, against the reference: one matrix
    Validate(crate::cmd::validate::Args),
    /// Labs for testing offload without the hardware (`lab vm`: netdevsim in a QEMU guest)
    Lab(crate::cmd::lab::Args),
    /// Probe the devices, kernel and switches of this host (or a recorded one)
    Probe(crate::cmd::probe::Args),
    /// Compile a module for one target: a BPF object (xdp, tc, xdp-offload) or P4 files (p4-v1model, p4-tna)
    Compile(crate::cmd::compile::Args),
    /// Place a module on the devices of a host: chosen target per device, and why not the others
    Plan(crate::cmd::plan::Args),
    /// Look up the hardware database (PCI id or driver), or list it
    Hwdb(crate::cmd::hwdb::Args),
    /// Deploy a module on interfaces: plan, compile, load, fill tables, attach (hitless when it runs already)
    Apply(crate::cmd::apply::Args),
    /// What runs where, read back from the kernel: mode, program id and tag, entries, counters, drift
    Status(crate::cmd::status::Args),
    /// Table entries of a deployed module at run time: add, del, list, load
    Entries(crate::cmd::entries::Args),
    /// Read every placement of a deployment back and repair drift (only what offload owns); --watch keeps at it
    Reconcile(crate::cmd::reconcile::Args),
    /// Remove a deployed module from its interfaces (only what offload attached)
    Detach(crate::cmd::detach::Args),
    /// Build a veth lab, deploy examples/edge-router.toml, send real traffic, compare with the reference
    Demo(crate::cmd::demo::Args),
    /// The fleet through etcd: desired state per host group, agents' status, staged rollouts
    Fleet(crate::cmd::fleet::Args),
}
