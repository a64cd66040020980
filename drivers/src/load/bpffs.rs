//! The BPF filesystem: where programs, links and maps are pinned so they
//! outlive the process that loaded them.
//!
//! A fresh machine often has no bpffs at `/sys/fs/bpf`. As root we mount it;
//! otherwise the error says the exact command to run.

use std::io;
use std::path::{Path, PathBuf};

/// Where bpffs is expected.
pub const BPFFS_ROOT: &str = "/sys/fs/bpf";
/// offload's folder inside bpffs: `offload/<module>/<interface>/`.
pub const OFFLOAD_DIR: &str = "offload";

/// `statfs(2)` magic of bpffs (include/uapi/linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

#[derive(Debug, thiserror::Error)]
pub enum BpffsError {
    #[error("{path} is not a BPF filesystem and mounting it failed ({source}); run as root: `mount -t bpf bpf {path}`")]
    MountFailed {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a BPF filesystem; run as root: `mount -t bpf bpf {path}`")]
    NotMounted { path: String },
    #[error("cannot create pin folder {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Whether `path` lives on a bpffs.
pub fn is_bpffs(path: &Path) -> bool {
    match nix::sys::statfs::statfs(path) {
        // The field's integer type differs between libc targets; compare as i64.
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => st.filesystem_type().0 as i64 == BPF_FS_MAGIC,
        Err(_) => false,
    }
}

/// Makes sure bpffs is mounted at [`BPFFS_ROOT`], mounting it when we may.
/// Returns `true` when this call mounted it.
pub fn ensure_mounted() -> Result<bool, BpffsError> {
    ensure_mounted_at(Path::new(BPFFS_ROOT))
}

pub fn ensure_mounted_at(root: &Path) -> Result<bool, BpffsError> {
    if is_bpffs(root) {
        return Ok(false);
    }
    let path = root.display().to_string();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(BpffsError::NotMounted { path });
    }
    std::fs::create_dir_all(root).map_err(|source| BpffsError::MountFailed {
        path: path.clone(),
        source,
    })?;
    nix::mount::mount(
        Some("bpf"),
        root,
        Some("bpf"),
        nix::mount::MsFlags::empty(),
        Some("mode=0700"),
    )
    .map_err(|e| BpffsError::MountFailed {
        path: path.clone(),
        source: io::Error::from(e),
    })?;
    if !is_bpffs(root) {
        return Err(BpffsError::NotMounted { path });
    }
    Ok(true)
}

/// `/sys/fs/bpf/offload/<module>/<iface>/`.
pub fn pin_dir(root: &Path, module: &str, iface: &str) -> PathBuf {
    root.join(OFFLOAD_DIR).join(module).join(iface)
}

/// Creates the pin folder (and parents) on the bpffs.
pub fn create_pin_dir(dir: &Path) -> Result<(), BpffsError> {
    std::fs::create_dir_all(dir).map_err(|source| BpffsError::CreateDir {
        path: dir.display().to_string(),
        source,
    })
}
