//! The one raw `bpf(2)` path, for what aya 0.14 does not offer: batch map
//! operations, device-bound (hardware offload) program load and map create
//! without BTF, object/link info, pins.
//!
//! Every call goes through the [`Bpf`] trait: [`Kernel`] issues the syscall,
//! tests swap in a fake to check how each kernel answer is handled (the
//! pattern of aya's `sys::Syscall`).

pub mod attr;
mod map;
mod obj;
mod prog;

pub use map::*;
pub use obj::*;
pub use prog::*;

use nix::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd};

/// bpf(2) commands we issue (enum bpf_cmd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Cmd {
    MapCreate = 0,
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    MapGetNextKey = 4,
    ProgLoad = 5,
    ObjPin = 6,
    ObjGet = 7,
    ProgGetNextId = 11,
    ProgGetFdById = 13,
    MapGetFdById = 14,
    ObjGetInfoByFd = 15,
    MapLookupBatch = 24,
    MapUpdateBatch = 26,
    MapDeleteBatch = 27,
    LinkCreate = 28,
    LinkUpdate = 29,
    LinkGetFdById = 30,
    LinkGetNextId = 31,
    LinkDetach = 34,
}

/// Issues bpf(2) commands. `attr` is the command's attribute struct as bytes.
pub trait Bpf: Send + Sync {
    /// Returns the syscall's non-negative result, or its raw errno (raw,
    /// because the kernel's ENOTSUPP, 524, has no libc name).
    fn bpf(&self, cmd: Cmd, attr: &mut [u8]) -> Result<i64, i32>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Kernel;

impl Bpf for Kernel {
    fn bpf(&self, cmd: Cmd, attr: &mut [u8]) -> Result<i64, i32> {
        loop {
            // SAFETY: attr is a valid, writable buffer of attr.len() bytes laid
            // out as the command's `union bpf_attr` member (see `attr`).
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    cmd as u32 as libc::c_long,
                    attr.as_mut_ptr(),
                    attr.len() as libc::c_long,
                )
            };
            if rc >= 0 {
                return Ok(rc);
            }
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            // A signal during a long verifier run: the kernel asks to retry.
            if e != Errno::EINTR as i32 && e != Errno::EAGAIN as i32 {
                return Err(e);
            }
        }
    }
}

/// Calls `cmd` with `attr` (a `#[repr(C)]` struct from [`attr`]).
pub(crate) fn call<T: Copy>(sys: &dyn Bpf, cmd: Cmd, attr: &mut T) -> Result<i64, i32> {
    // SAFETY: T is one of the plain-data `#[repr(C)]` structs of `attr`
    // (no padding holes are read by us; the kernel reads/writes them as bytes).
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(attr as *mut T as *mut u8, std::mem::size_of::<T>())
    };
    sys.bpf(cmd, bytes)
}

/// Wraps a returned descriptor.
pub(crate) fn owned_fd(rc: i64) -> OwnedFd {
    // SAFETY: a successful fd-returning bpf(2) command gives a fresh fd we own.
    unsafe { OwnedFd::from_raw_fd(rc as i32) }
}

/// `ENOTSUPP` (524): the kernel-internal "not supported" some BPF paths return.
pub const ENOTSUPP: i32 = 524;

/// A failed bpf(2) call: which one, on what, and the kernel's errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bpf({call}) on {target}: {} ({}){}", errno_name(*.errno), errno_desc(*.errno), hint(.call, *.errno))]
pub struct SysError {
    pub call: &'static str,
    /// What the call was about (`map "routes"`, `ifindex 7`, `prog id 12`).
    pub target: String,
    /// Raw errno (kept raw: ENOTSUPP 524 has no libc constant).
    pub errno: i32,
}

impl SysError {
    pub fn new(call: &'static str, target: impl Into<String>, errno: i32) -> SysError {
        SysError {
            call,
            target: target.into(),
            errno,
        }
    }
    pub fn is(&self, e: Errno) -> bool {
        self.errno == e as i32
    }
}

pub fn errno_name(e: i32) -> String {
    if e == ENOTSUPP {
        return "ENOTSUPP".into();
    }
    format!("{:?}", Errno::from_raw(e))
}

fn errno_desc(e: i32) -> &'static str {
    if e == ENOTSUPP {
        return "operation not supported by this kernel path";
    }
    Errno::from_raw(e).desc()
}

fn hint(call: &str, e: i32) -> &'static str {
    match Errno::from_raw(e) {
        Errno::EPERM => "; run as root (CAP_BPF + CAP_NET_ADMIN) and check `ulimit -l`",
        Errno::ENOENT if call == "OBJ_GET" => "; nothing is pinned there",
        _ => "",
    }
}

/// Copies a name into a kernel `char[16]` (NUL-terminated, truncated).
pub(crate) fn obj_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().take(15).zip(name.bytes().map(|b| {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            b
        } else {
            b'_'
        }
    })) {
        *o = c;
    }
    out
}

pub(crate) fn name_from(raw: &[u8]) -> String {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}
