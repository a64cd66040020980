//! Running code inside a named network namespace.
//!
//! `setns(2)` changes the namespace of the calling thread only, so the work runs
//! on a fresh thread that enters the namespace and ends with it: the caller's
//! own thread never changes namespace. Sockets and BPF links created there stay
//! bound to that namespace and may be used from any thread afterwards.

use super::LabError;
use std::os::fd::AsFd;

/// Runs `f` on a thread inside netns `name` (`/var/run/netns/<name>`).
pub fn in_netns<T, F>(name: &str, f: F) -> Result<T, LabError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = format!("/var/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|source| LabError::Netns {
        netns: name.to_string(),
        source,
    })?;
    let ns = name.to_string();
    let handle = std::thread::spawn(move || -> Result<T, LabError> {
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            LabError::Netns {
                netns: ns,
                source: std::io::Error::from(e),
            }
        })?;
        Ok(f())
    });
    match handle.join() {
        Ok(r) => r,
        // The closure panicked: re-raise it on the caller's thread.
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Like [`in_netns`], but returns at once with the thread's handle, so the
/// caller can do something else (show progress) while `f` runs inside.
pub fn spawn_in<T, F>(
    name: &str,
    f: F,
) -> Result<std::thread::JoinHandle<Result<T, LabError>>, LabError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = format!("/var/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|source| LabError::Netns {
        netns: name.to_string(),
        source,
    })?;
    let ns = name.to_string();
    Ok(std::thread::spawn(move || -> Result<T, LabError> {
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            LabError::Netns {
                netns: ns,
                source: std::io::Error::from(e),
            }
        })?;
        Ok(f())
    }))
}
