//! The single-writer guarantee: an exclusive `flock` on
//! `<state dir>/offload.lock`. offloadd holds it for its whole life; a
//! standalone offloadctl holds it for each mutating command. The kernel drops
//! it when the holder dies (even on kill -9), so a crash never leaves it stale.

use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the state lock {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the state lock {path} is held by pid {holder} ({what}); {hint}")]
    Held {
        path: String,
        holder: String,
        what: String,
        hint: &'static str,
    },
}

/// Held until dropped (the fd closes, the kernel releases the lock).
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

pub fn lock_path(state: &Path) -> PathBuf {
    state.join("offload.lock")
}

impl StateLock {
    /// Tries for up to `wait`; `who` is written into the file for the
    /// message another process shows when it cannot take the lock.
    pub fn acquire(state: &Path, who: &str, wait: Duration) -> Result<StateLock, LockError> {
        let path = lock_path(state);
        let shown = path.display().to_string();
        let open_err = |source| LockError::Open {
            path: shown.clone(),
            source,
        };
        std::fs::create_dir_all(state).map_err(open_err)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(open_err)?;
        let until = Instant::now() + wait;
        loop {
            // SAFETY: flock on an fd we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            if Instant::now() >= until {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let (holder, what) = text
                    .trim()
                    .split_once(' ')
                    .map(|(p, w)| (p.to_string(), w.to_string()))
                    .unwrap_or_else(|| ("?".into(), "unknown".into()));
                let hint = if what.starts_with("offloadd") {
                    "offloadd owns this state: send commands to its socket (offloadctl does when the agent answers)"
                } else {
                    "another offloadctl is changing the deployments; try again when it is done"
                };
                return Err(LockError::Held {
                    path: shown,
                    holder,
                    what,
                    hint,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{} {who}", std::process::id());
        let _ = file.flush();
        Ok(StateLock { _file: file, path })
    }
}
