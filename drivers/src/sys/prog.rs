//! BPF_PROG_LOAD, with `prog_ifindex` for hardware offload.

use super::attr::ProgLoad;
use super::{call, obj_name, owned_fd, Bpf, Cmd, SysError, ENOTSUPP};
use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::OwnedFd;

pub mod prog_type {
    pub const SCHED_CLS: u32 = 3;
    pub const XDP: u32 = 6;
}

/// A program to load: raw 8-byte instructions, already relocated (map fds in
/// their `ld_imm64`).
#[derive(Debug, Clone)]
pub struct ProgSpec<'a> {
    pub name: &'a str,
    pub prog_type: u32,
    pub insns: &'a [u64],
    pub license: &'a str,
    /// Non-zero: load for this device (hardware offload).
    pub ifindex: u32,
    pub expected_attach_type: u32,
}

/// A refused load, with the verifier's log when the kernel wrote one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgLoadError {
    /// The device (or its driver) cannot take an offloaded program: the
    /// kernel answered EINVAL/EOPNOTSUPP/ENOTSUPP/ENODEV to `prog_ifindex`.
    #[error("ifindex {ifindex} cannot run offloaded BPF programs: {source}")]
    OffloadUnsupported {
        ifindex: u32,
        #[source]
        source: SysError,
    },
    #[error("{source}{}", if log.is_empty() { String::new() } else { format!("\nverifier log:\n{log}") })]
    Refused {
        #[source]
        source: SysError,
        log: String,
    },
    #[error("program {name:?}: license contains a NUL byte")]
    BadLicense { name: String },
}

/// Errnos that mean "this device does not do BPF offload" rather than "this
/// program is wrong" (kernel/bpf/offload.c answers EINVAL for a netdev without
/// an offload-capable driver, drivers EOPNOTSUPP/ENOTSUPP).
pub fn is_offload_refusal(errno: i32) -> bool {
    errno == Errno::EINVAL as i32
        || errno == Errno::EOPNOTSUPP as i32
        || errno == ENOTSUPP
        || errno == Errno::ENODEV as i32
}

pub fn prog_load(sys: &dyn Bpf, spec: &ProgSpec<'_>) -> Result<OwnedFd, ProgLoadError> {
    let license = CString::new(spec.license).map_err(|_| ProgLoadError::BadLicense {
        name: spec.name.into(),
    })?;
    let mut log = vec![0u8; 1 << 20];
    let mut a = ProgLoad {
        prog_type: spec.prog_type,
        insn_cnt: spec.insns.len() as u32,
        insns: spec.insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        // Level 1 only on retry would double the verifier's work; a log of the
        // failing path is what a refusal needs, so ask for it up front.
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: obj_name(spec.name),
        prog_ifindex: spec.ifindex,
        expected_attach_type: spec.expected_attach_type,
        ..Default::default()
    };
    match call(sys, Cmd::ProgLoad, &mut a) {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(e) => {
            let target = if spec.ifindex != 0 {
                format!("program {:?} for ifindex {}", spec.name, spec.ifindex)
            } else {
                format!("program {:?}", spec.name)
            };
            let source = SysError::new("PROG_LOAD", target, e);
            let log = super::name_from(&log).trim_end().to_string();
            if spec.ifindex != 0 && is_offload_refusal(e) && log.is_empty() {
                Err(ProgLoadError::OffloadUnsupported {
                    ifindex: spec.ifindex,
                    source,
                })
            } else {
                Err(ProgLoadError::Refused { source, log })
            }
        }
    }
}
