//! `offloadctl`: the command-line front of offload. Parses flags, sets up
//! logging, dispatches to `cmd::<verb>::run`, and turns its result into the
//! process exit code (0 ok, 1 the input was refused, 2 an operational error).

use clap::Parser;
use offload::cli::args::{Cli, Command};
use offload::{cli, cmd};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing(cli.verbose);
    // offloadd running: it is the only writer, the command goes to its socket.
    if let Some(r) = cmd::agent_client::forward(&cli.command) {
        return exit_code(r);
    }
    // Standalone: mutating commands hold the state lock while they run.
    let _lock = match cmd::agent_client::lock_for(&cli.command) {
        Ok(l) => l,
        Err(e) => return exit_code(Err(e)),
    };
    let result = match &cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Lab(args) => cmd::lab::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Compile(args) => cmd::compile::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Hwdb(args) => cmd::hwdb::run(args),
        Command::Apply(args) => cmd::apply::run(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Entries(args) => cmd::entries::run(args),
        Command::Detach(args) => cmd::detach::run(args),
        Command::Reconcile(args) => cmd::reconcile::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Fleet(args) => cmd::fleet::run(args),
    };
    exit_code(result)
}

fn exit_code(result: anyhow::Result<i32>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
