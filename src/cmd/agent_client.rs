//! offloadctl beside offloadd: when the agent answers on
//! `<state dir>/offloadd.sock`, the deployment commands (apply of a
//! `deploy.toml`, status, entries, detach, reconcile) are sent to it and it
//! runs them (it is the only writer); when it does not, they run here under
//! the state lock (`agent::lock`), which the agent holds for its whole life —
//! so there are never two writers at once.

use crate::agent::lock::StateLock;
use crate::agent::proto::{self, Request};
use crate::cli::args::Command;
use crate::cmd::entries::EntriesCommand;
use std::time::Duration;

/// How long a request may take (an apply compiles and loads; entry loads of
/// 10^5 entries take seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

fn request(cmd: &Command) -> Option<Request> {
    Some(match cmd {
        Command::Apply(a) if super::deployment::is_deployment_file(&a.file) => Request::Apply {
            file: std::fs::canonicalize(&a.file).unwrap_or_else(|_| a.file.clone()),
            json: a.json,
            replace: a.replace,
            no_batch: a.no_batch,
        },
        Command::Status(a) => Request::Status {
            module: a.module.clone(),
            json: a.json,
        },
        Command::Entries(a) => {
            let mut command = a.command.clone();
            if let EntriesCommand::Load { file, .. } = &mut command {
                // The agent has another working directory.
                if let Ok(abs) = std::fs::canonicalize(&*file) {
                    *file = abs;
                }
            }
            Request::Entries {
                module: a.module.clone(),
                command,
            }
        }
        Command::Detach(a) => Request::Detach {
            module: a.module.clone(),
        },
        Command::Reconcile(a) => Request::Reconcile {
            module: a.module.clone(),
        },
        _ => return None,
    })
}

/// `Some(exit code)` when the agent ran the command.
pub fn forward(cmd: &Command) -> Option<anyhow::Result<i32>> {
    let req = request(cmd)?;
    let state = super::deployed::roots().state;
    let reply = proto::call(&state, &req, REQUEST_TIMEOUT)?;
    Some(match reply {
        Ok(r) => {
            if let Command::Reconcile(a) = cmd {
                if a.watch {
                    eprintln!(
                        "offloadd runs and reconciles on its own; this ran one pass through it"
                    );
                }
            }
            Ok(r.print())
        }
        Err(e) => Err(anyhow::anyhow!(
            "offloadd at {}: {e}",
            proto::socket_path(&state).display()
        )),
    })
}

/// The state lock for a command that changes deployments (`None` for the
/// others, and without root, where the command itself says what is missing).
pub fn lock_for(cmd: &Command) -> anyhow::Result<Option<StateLock>> {
    let verb = match cmd {
        Command::Apply(_) => "apply",
        Command::Entries(a) if !matches!(a.command, EntriesCommand::List { .. }) => "entries",
        Command::Detach(_) => "detach",
        Command::Reconcile(_) => "reconcile",
        _ => return Ok(None),
    };
    if offload_drivers::testenv::missing_privilege().is_some() {
        return Ok(None);
    }
    let state = super::deployed::roots().state;
    Ok(Some(StateLock::acquire(
        &state,
        &format!("offloadctl {verb}"),
        Duration::from_secs(10),
    )?))
}
