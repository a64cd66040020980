//! Finding `simple_switch_grpc` and `p4c-bm2-ss`: on `PATH`, then under
//! `$OFFLOAD_P4_DIR/bin` and `$OFFLOAD_P4_DIR` (a toolchain prefix such as
//! `/opt/p4`). [`crate::p4::bmv2::Tools`] wants the Thrift CLI as well,
//! which a P4Runtime deployment does not need.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable naming a P4 toolchain prefix (or its `bin/`).
pub const P4_DIR_ENV: &str = "OFFLOAD_P4_DIR";
pub const SWITCH_GRPC: &str = "simple_switch_grpc";
pub const P4C: &str = "p4c-bm2-ss";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{tool} not found (looked in {searched}); install the P4 toolchain or set {P4_DIR_ENV}")]
pub struct ToolMissing {
    pub tool: &'static str,
    pub searched: String,
}

/// Where the P4Runtime switch and its compiler are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcTools {
    pub switch: PathBuf,
    pub p4c: PathBuf,
}

impl GrpcTools {
    pub fn find() -> Result<GrpcTools, ToolMissing> {
        GrpcTools::find_in(
            std::env::var_os("PATH").as_deref(),
            std::env::var_os(P4_DIR_ENV).as_deref(),
        )
    }

    /// [`GrpcTools::find`] with the search path given (for tests).
    pub fn find_in(path: Option<&OsStr>, p4_dir: Option<&OsStr>) -> Result<GrpcTools, ToolMissing> {
        let mut dirs: Vec<PathBuf> = path
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        if let Some(d) = p4_dir {
            let d = PathBuf::from(d);
            dirs.push(d.join("bin"));
            dirs.push(d);
        }
        let find = |tool: &'static str| {
            dirs.iter()
                .map(|d| d.join(tool))
                .find(|p| is_executable(p))
                .ok_or_else(|| ToolMissing {
                    tool,
                    searched: if dirs.is_empty() {
                        "(no PATH, no OFFLOAD_P4_DIR)".into()
                    } else {
                        dirs.iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(":")
                    },
                })
        };
        Ok(GrpcTools {
            switch: find(SWITCH_GRPC)?,
            p4c: find(P4C)?,
        })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_first_then_the_p4_dir() {
        let root = std::env::temp_dir().join(format!("offload-p4rt-tools-{}", std::process::id()));
        let a = root.join("a");
        let prefix = root.join("prefix");
        let bin = prefix.join("bin");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let err = GrpcTools::find_in(Some(a.as_os_str()), Some(prefix.as_os_str())).unwrap_err();
        assert_eq!(err.tool, SWITCH_GRPC);
        assert!(err.searched.contains(&bin.display().to_string()), "{err}");
        let exe = |p: PathBuf| {
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        exe(bin.join(SWITCH_GRPC));
        exe(bin.join(P4C));
        exe(a.join(P4C));
        let t = GrpcTools::find_in(Some(a.as_os_str()), Some(prefix.as_os_str())).unwrap();
        assert_eq!(t.switch, bin.join(SWITCH_GRPC));
        assert_eq!(t.p4c, a.join(P4C));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
