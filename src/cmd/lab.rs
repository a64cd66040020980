//! `offloadctl lab …`: labs for testing offload without the hardware.
//! `vm` boots the offload lab VM (netdevsim, the kernel's offload device, in a QEMU guest).

/// Options of `offloadctl lab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Boot a QEMU guest whose kernel has netdevsim and prove the XDP hardware-offload path
    /// with this offloadctl inside it (check × outcome matrix; non-zero exit on any failure)
    Vm(super::lab_vm::Args),
    /// Build a named veth/netns lab (hosts in namespaces wired to interfaces here) and leave it up
    Up(super::lab_net::UpArgs),
    /// Remove a lab built with `lab up`
    Down(super::lab_net::DownArgs),
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    match &args.command {
        LabCommand::Vm(a) => super::lab_vm::run(a),
        LabCommand::Up(a) => super::lab_net::up(a),
        LabCommand::Down(a) => super::lab_net::down(a),
    }
}
