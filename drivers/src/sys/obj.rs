//! Object info (programs, maps, links), lookups by id, pins, link update.

use super::attr::{
    GetById, InfoByFd, LinkCreate, LinkInfoRaw, LinkUpdate, MapInfoRaw, ObjPath, ProgInfoRaw,
};
use super::{call, name_from, owned_fd, Bpf, Cmd, SysError};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// What the kernel says about a loaded program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgInfo {
    pub id: u32,
    pub prog_type: u32,
    pub name: String,
    /// The kernel's tag (hash of the instructions), as bpftool prints it.
    pub tag: String,
    /// Non-zero: bound to (offloaded onto) this device.
    pub ifindex: u32,
    pub map_ids: Vec<u32>,
    pub xlated_len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MapInfo {
    pub id: u32,
    pub map_type: u32,
    pub name: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub ifindex: u32,
}

/// enum bpf_link_type values we read.
pub mod link_type {
    pub const XDP: u32 = 6;
    pub const TCX: u32 = 11;
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkInfo {
    pub id: u32,
    pub link_type: u32,
    pub prog_id: u32,
    /// For XDP and tcx links: the interface (0 once it is gone).
    pub ifindex: u32,
    /// For tcx links: BPF_TCX_INGRESS (46) or BPF_TCX_EGRESS (47).
    pub attach_type: u32,
}

fn info<T: Copy + Default>(
    sys: &dyn Bpf,
    fd: BorrowedFd<'_>,
    extra: impl FnOnce(&mut T),
) -> Result<T, SysError> {
    let mut raw = T::default();
    extra(&mut raw);
    let mut a = InfoByFd {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<T>() as u32,
        info: &mut raw as *mut T as u64,
    };
    call(sys, Cmd::ObjGetInfoByFd, &mut a)
        .map_err(|e| SysError::new("OBJ_GET_INFO_BY_FD", format!("fd {}", fd.as_raw_fd()), e))?;
    Ok(raw)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn prog_info(sys: &dyn Bpf, fd: BorrowedFd<'_>) -> Result<ProgInfo, SysError> {
    // First ask how many maps, then fetch their ids.
    let first: ProgInfoRaw = info(sys, fd, |_| {})?;
    let mut ids = vec![0u32; first.nr_map_ids as usize];
    let n = ids.len() as u32;
    let ptr = ids.as_mut_ptr() as u64;
    let raw: ProgInfoRaw = info(sys, fd, |r: &mut ProgInfoRaw| {
        r.nr_map_ids = n;
        r.map_ids = if n == 0 { 0 } else { ptr };
    })?;
    ids.truncate(raw.nr_map_ids.min(n) as usize);
    Ok(ProgInfo {
        id: raw.id,
        prog_type: raw.prog_type,
        name: name_from(&raw.name),
        tag: hex(&raw.tag),
        ifindex: raw.ifindex,
        map_ids: ids,
        xlated_len: raw.xlated_prog_len,
    })
}

pub fn map_info(sys: &dyn Bpf, fd: BorrowedFd<'_>) -> Result<MapInfo, SysError> {
    let raw: MapInfoRaw = info(sys, fd, |_| {})?;
    Ok(MapInfo {
        id: raw.id,
        map_type: raw.map_type,
        name: name_from(&raw.name),
        key_size: raw.key_size,
        value_size: raw.value_size,
        max_entries: raw.max_entries,
        flags: raw.map_flags,
        ifindex: raw.ifindex,
    })
}

pub fn link_info(sys: &dyn Bpf, fd: BorrowedFd<'_>) -> Result<LinkInfo, SysError> {
    let raw: LinkInfoRaw = info(sys, fd, |_| {})?;
    let (ifindex, attach_type) = match raw.link_type {
        link_type::XDP => (raw.u[0], 0),
        link_type::TCX => (raw.u[0], raw.u[1]),
        _ => (0, 0),
    };
    Ok(LinkInfo {
        id: raw.id,
        link_type: raw.link_type,
        prog_id: raw.prog_id,
        ifindex,
        attach_type,
    })
}

fn by_id(
    sys: &dyn Bpf,
    cmd: Cmd,
    call_name: &'static str,
    what: &str,
    id: u32,
) -> Result<OwnedFd, SysError> {
    let mut a = GetById {
        id,
        ..Default::default()
    };
    call(sys, cmd, &mut a)
        .map(owned_fd)
        .map_err(|e| SysError::new(call_name, format!("{what} id {id}"), e))
}

pub fn prog_fd_by_id(sys: &dyn Bpf, id: u32) -> Result<OwnedFd, SysError> {
    by_id(sys, Cmd::ProgGetFdById, "PROG_GET_FD_BY_ID", "prog", id)
}
pub fn map_fd_by_id(sys: &dyn Bpf, id: u32) -> Result<OwnedFd, SysError> {
    by_id(sys, Cmd::MapGetFdById, "MAP_GET_FD_BY_ID", "map", id)
}
pub fn link_fd_by_id(sys: &dyn Bpf, id: u32) -> Result<OwnedFd, SysError> {
    by_id(sys, Cmd::LinkGetFdById, "LINK_GET_FD_BY_ID", "link", id)
}

fn cpath(path: &Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    // Paths from our own code never hold NUL; a stray one becomes an ENOENT.
    CString::new(path.as_os_str().as_bytes()).unwrap_or_default()
}

/// Pins an object (prog, map or link) at `path` on a bpffs.
pub fn obj_pin(sys: &dyn Bpf, fd: BorrowedFd<'_>, path: &Path) -> Result<(), SysError> {
    let p = cpath(path);
    let mut a = ObjPath {
        pathname: p.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        file_flags: 0,
    };
    call(sys, Cmd::ObjPin, &mut a)
        .map(drop)
        .map_err(|e| SysError::new("OBJ_PIN", path.display().to_string(), e))
}

/// Opens a pinned object.
pub fn obj_get(sys: &dyn Bpf, path: &Path) -> Result<OwnedFd, SysError> {
    let p = cpath(path);
    let mut a = ObjPath {
        pathname: p.as_ptr() as u64,
        ..Default::default()
    };
    call(sys, Cmd::ObjGet, &mut a)
        .map(owned_fd)
        .map_err(|e| SysError::new("OBJ_GET", path.display().to_string(), e))
}

/// BPF_F_REPLACE for link update: only if the link still runs `old`.
pub const BPF_F_REPLACE: u32 = 4;

/// Atomically switches a link to `new_prog` (if `old_prog` is given, only when
/// the link still runs it).
pub fn link_update(
    sys: &dyn Bpf,
    link: BorrowedFd<'_>,
    new_prog: BorrowedFd<'_>,
    old_prog: Option<BorrowedFd<'_>>,
) -> Result<(), SysError> {
    let mut a = LinkUpdate {
        link_fd: link.as_raw_fd() as u32,
        new_prog_fd: new_prog.as_raw_fd() as u32,
        flags: if old_prog.is_some() { BPF_F_REPLACE } else { 0 },
        old_prog_fd: old_prog.map_or(0, |f| f.as_raw_fd() as u32),
    };
    call(sys, Cmd::LinkUpdate, &mut a)
        .map(drop)
        .map_err(|e| SysError::new("LINK_UPDATE", format!("link fd {}", link.as_raw_fd()), e))
}

/// Ids of every loaded program (BPF_PROG_GET_NEXT_ID walk).
pub fn prog_ids(sys: &dyn Bpf) -> Result<Vec<u32>, SysError> {
    let mut ids = Vec::new();
    let mut id = 0;
    loop {
        let mut a = GetById {
            id,
            ..Default::default()
        };
        match call(sys, Cmd::ProgGetNextId, &mut a) {
            Ok(_) => {
                ids.push(a.next_id);
                id = a.next_id;
            }
            Err(e) if e == nix::errno::Errno::ENOENT as i32 => return Ok(ids),
            Err(e) => {
                return Err(SysError::new(
                    "PROG_GET_NEXT_ID",
                    format!("after id {id}"),
                    e,
                ))
            }
        }
    }
}

/// enum bpf_attach_type values for links on interfaces.
pub mod attach_type {
    pub const XDP: u32 = 37;
    pub const TCX_INGRESS: u32 = 46;
    pub const TCX_EGRESS: u32 = 47;
}

/// XDP attach flags (include/uapi/linux/if_link.h).
pub mod xdp_flags {
    pub const UPDATE_IF_NOEXIST: u32 = 1;
    pub const SKB_MODE: u32 = 2;
    pub const DRV_MODE: u32 = 4;
    pub const HW_MODE: u32 = 8;
}

/// BPF_LINK_CREATE on an interface (XDP with mode flags, or tcx).
pub fn link_create(
    sys: &dyn Bpf,
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: u32,
    flags: u32,
) -> Result<OwnedFd, SysError> {
    let mut a = LinkCreate {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        flags,
        ..Default::default()
    };
    call(sys, Cmd::LinkCreate, &mut a)
        .map(owned_fd)
        .map_err(|e| SysError::new("LINK_CREATE", format!("ifindex {ifindex}"), e))
}

/// BPF_LINK_DETACH: detaches the link's program now, even while pins or other
/// descriptors keep the link object alive.
pub fn link_detach(sys: &dyn Bpf, link: BorrowedFd<'_>) -> Result<(), SysError> {
    let mut a = GetById {
        id: link.as_raw_fd() as u32,
        ..Default::default()
    };
    call(sys, Cmd::LinkDetach, &mut a)
        .map(drop)
        .map_err(|e| SysError::new("LINK_DETACH", format!("link fd {}", link.as_raw_fd()), e))
}

/// Ids of every BPF link (BPF_LINK_GET_NEXT_ID walk).
pub fn link_ids(sys: &dyn Bpf) -> Result<Vec<u32>, SysError> {
    let mut ids = Vec::new();
    let mut id = 0;
    loop {
        let mut a = GetById {
            id,
            ..Default::default()
        };
        match call(sys, Cmd::LinkGetNextId, &mut a) {
            Ok(_) => {
                ids.push(a.next_id);
                id = a.next_id;
            }
            Err(e) if e == nix::errno::Errno::ENOENT as i32 => return Ok(ids),
            Err(e) => {
                return Err(SysError::new(
                    "LINK_GET_NEXT_ID",
                    format!("after id {id}"),
                    e,
                ))
            }
        }
    }
}
