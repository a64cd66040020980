//! `offloadd`: the agent (see `offload::agent`). Exit codes: 0 stopped on a
//! signal, 2 an operational error (no root, state lock held, socket).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = offload::agent::Args::parse();
    match offload::agent::run(args) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("offloadd: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
