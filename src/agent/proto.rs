//! The control socket's protocol: one JSON request per line, one JSON
//! [`Reply`] line back. offloadctl is the client ([`call`]); the agent's
//! server is in `server.rs`.

use crate::cmd::entries::EntriesCommand;
use crate::cmd::Reply;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A deployment file (absolute path, read by the agent).
    Apply {
        file: PathBuf,
        json: bool,
        replace: bool,
        no_batch: bool,
    },
    Status {
        module: Option<String>,
        json: bool,
    },
    Entries {
        module: Option<String>,
        command: EntriesCommand,
    },
    Detach {
        module: Option<String>,
    },
    /// One reconcile pass now (the loop runs anyway).
    Reconcile {
        module: Option<String>,
    },
    /// The agent's own view: pid, interval, last pass, counters, fleet.
    Agent,
}

pub fn socket_path(state: &Path) -> PathBuf {
    state.join("offloadd.sock")
}

/// `None` when no agent answers on the socket (offloadctl then works
/// standalone); `Some(Err)` when one answered but the exchange failed.
pub fn call(state: &Path, req: &Request, timeout: Duration) -> Option<std::io::Result<Reply>> {
    let mut s = std::os::unix::net::UnixStream::connect(socket_path(state)).ok()?;
    Some((|| {
        s.set_read_timeout(Some(timeout))?;
        let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
        line.push('\n');
        s.write_all(line.as_bytes())?;
        let mut back = String::new();
        BufReader::new(&s).read_line(&mut back)?;
        if back.is_empty() {
            return Err(std::io::Error::other(
                "the agent closed the socket without answering (see its log)",
            ));
        }
        serde_json::from_str(&back).map_err(std::io::Error::other)
    })())
}
