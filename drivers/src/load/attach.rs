//! Attaching a loaded program to an interface through a BPF link, pinning,
//! atomic replacement and detaching.
//!
//! XDP links carry the mode in their flags (driver, SKB, hardware); tc uses a
//! tcx ingress link (kernel ≥ 6.6). A link is the unit of ownership: while it
//! (or its pin) exists the program stays attached, nobody can attach over it
//! silently, and `LINK_UPDATE` switches its program atomically — packets see
//! either the old or the new program, never none.
//!
//! Before 6.6 there is no tcx: the program then goes on a clsact qdisc as a
//! cls_bpf filter through aya's netlink path, which has no link to pin.

use super::program::Loaded;
use super::Mode;
use crate::sys::{self, attach_type, xdp_flags, Bpf, LinkInfo, SysError};
use nix::errno::Errno;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("attaching {prog:?} to {iface} in {mode} mode: {source}{}", busy_hint(.source))]
    Link {
        prog: String,
        iface: String,
        mode: Mode,
        #[source]
        source: SysError,
    },
    #[error("attaching {prog:?} to {iface} with clsact + cls_bpf: {detail}")]
    Netlink {
        prog: String,
        iface: String,
        detail: String,
    },
    #[error("pinning at {path}: {source}")]
    Pin {
        path: String,
        #[source]
        source: SysError,
    },
    #[error("replacing the program of the link pinned at {path}: {source}")]
    Replace {
        path: String,
        #[source]
        source: SysError,
    },
}

fn busy_hint(e: &SysError) -> &'static str {
    if e.is(Errno::EBUSY) || e.is(Errno::EEXIST) {
        "; another program is attached there (see `offloadctl status`)"
    } else {
        ""
    }
}

/// How a program is attached.
#[derive(Debug)]
pub enum Attachment {
    /// A BPF link (XDP or tcx).
    Link(OwnedFd),
    /// A cls_bpf filter on clsact (kernels before 6.6): no link.
    Netlink,
}

/// Attaches `loaded` to `iface` in `loaded.mode`.
pub fn attach(
    sys: &dyn Bpf,
    loaded: &mut Loaded,
    iface: &str,
    ifindex: u32,
) -> Result<Attachment, AttachError> {
    let (atype, flags) = match loaded.mode {
        Mode::Offload => (attach_type::XDP, xdp_flags::HW_MODE),
        Mode::Native => (attach_type::XDP, xdp_flags::DRV_MODE),
        Mode::Generic => (attach_type::XDP, xdp_flags::SKB_MODE),
        Mode::Tc => (attach_type::TCX_INGRESS, 0),
    };
    // OFFLOAD_TC_CLSACT=1 takes the pre-6.6 path on any kernel (tests of it).
    if loaded.mode == Mode::Tc
        && std::env::var("OFFLOAD_TC_CLSACT").as_deref() == Ok("1")
        && loaded.ebpf.is_some()
    {
        return attach_clsact(loaded, iface);
    }
    match sys::link_create(sys, loaded.prog.as_fd(), ifindex, atype, flags) {
        Ok(fd) => Ok(Attachment::Link(fd)),
        // No tcx in this kernel (before 6.6): the classic clsact path.
        Err(e) if loaded.mode == Mode::Tc && e.is(Errno::EINVAL) && loaded.ebpf.is_some() => {
            attach_clsact(loaded, iface)
        }
        Err(source) => Err(AttachError::Link {
            prog: loaded.name.clone(),
            iface: iface.into(),
            mode: loaded.mode,
            source,
        }),
    }
}

fn attach_clsact(loaded: &mut Loaded, iface: &str) -> Result<Attachment, AttachError> {
    let err = |detail: String| AttachError::Netlink {
        prog: loaded.name.clone(),
        iface: iface.into(),
        detail,
    };
    // An existing clsact qdisc is fine.
    let _ = aya::programs::tc::qdisc_add_clsact(iface);
    let name = loaded.name.clone();
    let ebpf = loaded
        .ebpf
        .as_mut()
        .ok_or_else(|| err("no aya handle".into()))?;
    let prog: &mut aya::programs::SchedClassifier = ebpf
        .program_mut(&name)
        .ok_or_else(|| err("program vanished".into()))?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| err(e.to_string()))?;
    let id = prog
        .attach_with_options(
            iface,
            aya::programs::TcAttachType::Ingress,
            aya::programs::tc::TcAttachOptions::Netlink(aya::programs::tc::NlOptions::default()),
        )
        .map_err(|e| err(super::program::program_error_detail(&e)))?;
    // Keep the filter after we exit: forget aya's handle to it.
    let link = prog.take_link(id).map_err(|e| err(e.to_string()))?;
    std::mem::forget(link);
    Ok(Attachment::Netlink)
}

/// Pins `fd` (prog, map or link) at `path`, replacing nothing: an existing pin
/// is an error (the caller decides what to remove).
pub fn pin(sys: &dyn Bpf, fd: std::os::fd::BorrowedFd<'_>, path: &Path) -> Result<(), AttachError> {
    sys::obj_pin(sys, fd, path).map_err(|source| AttachError::Pin {
        path: path.display().to_string(),
        source,
    })
}

/// Atomically switches the link pinned at `link_path` from `old_prog` to
/// `new_prog`. Fails (changing nothing) if the link no longer runs `old_prog`.
pub fn replace(
    sys: &dyn Bpf,
    link_path: &Path,
    new_prog: std::os::fd::BorrowedFd<'_>,
    old_prog: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<(), AttachError> {
    let path = link_path.display().to_string();
    let link = sys::obj_get(sys, link_path).map_err(|source| AttachError::Replace {
        path: path.clone(),
        source,
    })?;
    sys::link_update(sys, link.as_fd(), new_prog, old_prog)
        .map_err(|source| AttachError::Replace { path, source })
}

/// The link pinned at `path` and what the kernel says about it.
pub fn pinned_link(sys: &dyn Bpf, path: &Path) -> Result<(OwnedFd, LinkInfo), SysError> {
    let fd = sys::obj_get(sys, path)?;
    let info = sys::link_info(sys, fd.as_fd())?;
    Ok((fd, info))
}

/// Detaches the link pinned at `path` now and removes the pin.
pub fn detach_pinned(sys: &dyn Bpf, path: &Path) -> Result<(), SysError> {
    let fd = sys::obj_get(sys, path)?;
    sys::link_detach(sys, fd.as_fd())?;
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// Removes the cls_bpf filters on `iface` ingress that run program `prog_id`
/// (the clsact attachment has no link: the filter is the attachment).
/// Returns how many were removed.
pub fn detach_cls_bpf(iface: &str, prog_id: u32) -> usize {
    let mut n = 0;
    for f in super::observe::cls_bpf_filters(iface)
        .into_iter()
        .filter(|f| f.prog.id == prog_id)
    {
        let pref = f.pref.to_string();
        let mut argv = vec![
            "tc",
            "filter",
            "del",
            "dev",
            iface,
            "ingress",
            "pref",
            pref.as_str(),
        ];
        if !f.handle.is_empty() {
            argv.extend_from_slice(&["handle", f.handle.as_str(), "bpf"]);
        }
        if crate::host::run(&argv).is_ok() {
            n += 1;
        }
    }
    n
}
