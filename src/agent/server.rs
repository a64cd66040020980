//! The control socket, `<state dir>/offloadd.sock`: mode 0600, and each
//! peer's credentials (SO_PEERCRED) checked — root or the agent's own user
//! only. One JSON request per line, one JSON reply line, then the next.

use super::{proto, Agent};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

/// A request line longer than this is refused (it is a path and flags).
const MAX_REQUEST: u64 = 1 << 20;

pub async fn serve(agent: Arc<Agent>) -> anyhow::Result<PathBuf> {
    let path = proto::socket_path(&agent.state);
    // We hold the state lock, so a socket file left there is a dead agent's.
    let _ = std::fs::remove_file(&path);
    // Created 0600 from the start (umask), then set explicitly.
    // SAFETY: umask only changes this process's file-creation mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = tokio::net::UnixListener::bind(&path);
    unsafe { libc::umask(old) };
    let listener = bound.map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(socket = %path.display(), "control socket listening");
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let uid = stream.peer_cred().map(|c| c.uid()).ok();
            if !matches!(uid, Some(u) if u == 0 || u == me) {
                tracing::warn!(peer_uid = ?uid, "control socket: peer refused (not root, not the agent's user)");
                continue;
            }
            let a = agent.clone();
            tokio::spawn(async move {
                if let Err(e) = session(a, stream).await {
                    tracing::debug!(error = %e, "control session ended");
                }
            });
        }
    });
    Ok(path)
}

async fn session(agent: Arc<Agent>, stream: tokio::net::UnixStream) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd.take(MAX_REQUEST));
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let reply = match serde_json::from_str::<proto::Request>(&line) {
            Ok(req) => {
                tracing::info!(request = ?req, "control request");
                let a = agent.clone();
                tokio::task::spawn_blocking(move || a.handle(req))
                    .await
                    .unwrap_or_else(|e| crate::cmd::Reply {
                        code: 2,
                        out: String::new(),
                        err: format!("error: the agent failed on this request: {e}\n"),
                    })
            }
            Err(e) => crate::cmd::Reply {
                code: 2,
                out: String::new(),
                err: format!("error: not a request offloadd knows: {e}\n"),
            },
        };
        let mut text = serde_json::to_string(&reply).map_err(std::io::Error::other)?;
        text.push('\n');
        wr.write_all(text.as_bytes()).await?;
    }
}
