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
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    match &args.command {
        LabCommand::Vm(a) => super::lab_vm::run(a),
    }
}
