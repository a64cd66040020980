//! Running a loaded program on a frame with `BPF_PROG_TEST_RUN`, and watching
//! where frames come out.
//!
//! - [`run`]: the program on one frame, without side effects: the return code
//!   (XDP action / tc verdict) and the frame as the program left it.
//! - [`run_live`]: XDP only, with `BPF_F_TEST_XDP_LIVE_FRAMES`: the kernel
//!   carries the verdict out as a driver would — `XDP_PASS` injects the frame
//!   into the stack of the ingress interface, `XDP_TX` sends it back out of
//!   it, `XDP_REDIRECT` sends it out of the DEVMAP's interface. Nothing is
//!   returned; the frame is observed where it lands (see [`Capture`]).
//! - [`Capture`]: an AF_PACKET socket that gives frames back as they were on
//!   the wire, outer VLAN tag included (the receive path moves it into
//!   metadata before packet sockets see the frame; the socket's auxdata
//!   gives it back).
//!
//! The context given to the program names the ingress interface; for live
//! runs it must exist in the calling thread's network namespace.

use crate::load::program::Loaded;
use crate::load::Mode;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    #[error("program {name:?} was not loaded through aya (hardware offload?): no test runs")]
    NoHandle { name: String },
    #[error("program {name:?}: {detail}")]
    Program { name: String, detail: String },
    #[error("live frames are an XDP feature; program {name:?} is loaded for {mode}")]
    NotXdp { name: String, mode: Mode },
    #[error("the kernel refused the test run of {name:?} on a {len}-byte frame: {detail}")]
    Refused {
        name: String,
        len: usize,
        detail: String,
    },
}

/// What one test run returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// `enum xdp_action` for XDP, the `TC_ACT_*` code for tc.
    pub retval: u32,
    /// The frame after the program (head adjustments included).
    pub data: Vec<u8>,
}

/// `struct xdp_md` for a frame of `len` bytes arriving on `ifindex`.
pub fn xdp_ctx(len: usize, ifindex: u32) -> Vec<u8> {
    let mut c = vec![0u8; 24];
    // data = 0, data_end = len, data_meta = 0, ingress_ifindex, rx_queue_index = 0
    c[4..8].copy_from_slice(&(len as u32).to_ne_bytes());
    c[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    c
}

/// `struct __sk_buff` (the part a test run accepts) with `ingress_ifindex`.
pub fn skb_ctx(ifindex: u32) -> Vec<u8> {
    let mut c = vec![0u8; 192];
    c[36..40].copy_from_slice(&ifindex.to_ne_bytes());
    c
}

fn program(loaded: &Loaded) -> Result<&aya::programs::Program, TestRunError> {
    loaded
        .ebpf
        .as_ref()
        .ok_or_else(|| TestRunError::NoHandle {
            name: loaded.name.clone(),
        })?
        .program(&loaded.name)
        .ok_or_else(|| TestRunError::Program {
            name: loaded.name.clone(),
            detail: "not in its object any more".into(),
        })
}

/// Runs `loaded` once on `frame` arriving on `ifindex` (0: none given).
pub fn run(loaded: &Loaded, frame: &[u8], ifindex: u32) -> Result<RunOutcome, TestRunError> {
    run_timed(loaded, frame, ifindex, 1).map(|(o, _)| o)
}

/// [`run`] `repeat` times in one BPF_PROG_TEST_RUN call (the kernel reuses
/// the frame: rewrites accumulate), with the kernel's mean time per run.
pub fn run_timed(
    loaded: &Loaded,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> Result<(RunOutcome, Duration), TestRunError> {
    use aya::programs::{SchedClassifier, TestRun, TestRunOptions, Xdp};
    let prog = program(loaded)?;
    // Room for head growth (push_vlan) and then some.
    let mut out = vec![0u8; frame.len() + 256];
    let ctx = if loaded.mode.is_xdp() {
        xdp_ctx(frame.len(), ifindex)
    } else {
        skb_ctx(ifindex)
    };
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ctx_in: Some(&ctx),
        repeat,
        ..Default::default()
    };
    let bad = |e: aya::programs::ProgramError| TestRunError::Program {
        name: loaded.name.clone(),
        detail: e.to_string(),
    };
    let r = if loaded.mode.is_xdp() {
        <&Xdp>::try_from(prog).map_err(bad)?.test_run(opts)
    } else {
        <&SchedClassifier>::try_from(prog)
            .map_err(bad)?
            .test_run(opts)
    };
    let r = r.map_err(|e| TestRunError::Refused {
        name: loaded.name.clone(),
        len: frame.len(),
        detail: crate::load::program::program_error_detail(&e),
    })?;
    out.truncate(r.data_size_out as usize);
    Ok((
        RunOutcome {
            retval: r.return_value,
            data: out,
        },
        r.duration,
    ))
}

/// Mean nanoseconds per run of `loaded` on `frame`, measured by the kernel
/// over `repeat` runs in one `BPF_PROG_TEST_RUN` (for benchmarks): the
/// time of [`run_timed`] (the kernel times the runs, not the copy-out).
pub fn time_ns(
    loaded: &Loaded,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> Result<f64, TestRunError> {
    run_timed(loaded, frame, ifindex, repeat).map(|(_, d)| d.as_nanos() as f64)
}

/// Runs an XDP program once on `frame` in live-frames mode, arriving on
/// `ifindex` (an interface of the calling thread's namespace): the verdict
/// is carried out by the kernel.
pub fn run_live(loaded: &Loaded, frame: &[u8], ifindex: u32) -> Result<(), TestRunError> {
    use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp};
    if !loaded.mode.is_xdp() {
        return Err(TestRunError::NotXdp {
            name: loaded.name.clone(),
            mode: loaded.mode,
        });
    }
    let prog = program(loaded)?;
    let ctx = xdp_ctx(frame.len(), ifindex);
    let opts = TestRunOptions {
        data_in: Some(frame),
        ctx_in: Some(&ctx),
        repeat: 1,
        attrs: TestRunAttrs::new().xdp_live_frames(1),
        ..Default::default()
    };
    let xdp = <&Xdp>::try_from(prog).map_err(|e| TestRunError::Program {
        name: loaded.name.clone(),
        detail: e.to_string(),
    })?;
    xdp.test_run(opts)
        .map_err(|e| TestRunError::Refused {
            name: loaded.name.clone(),
            len: frame.len(),
            detail: crate::load::program::program_error_detail(&e),
        })
        .map(|_| ())
}

/// Whether this kernel runs XDP live frames (`BPF_F_TEST_XDP_LIVE_FRAMES`):
/// `loaded` (an XDP program whose verdict for an all-zero 60-byte frame is
/// harmless where it lands, e.g. a pass-everything program) is run once on
/// `ifindex`. `Ok(false)` only for the kernel's EPERM (a 6.18 Firecracker
/// build refuses live frames even to root); any other failure is an error.
pub fn live_frames_supported(loaded: &Loaded, ifindex: u32) -> Result<bool, String> {
    match run_live(loaded, &[0u8; 60], ifindex) {
        Ok(()) => Ok(true),
        Err(TestRunError::Refused { detail, .. })
            if detail.contains("Operation not permitted") || detail.contains("os error 1)") =>
        {
            tracing::warn!("the kernel refuses XDP live frames (EPERM): {detail}");
            Ok(false)
        }
        Err(e) => Err(e.to_string()),
    }
}

const ETH_P_ALL: u16 = 0x0003;
const PACKET_AUXDATA: libc::c_int = 8;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// `struct tpacket_auxdata`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct AuxData {
    status: u32,
    len: u32,
    snaplen: u32,
    mac: u16,
    net: u16,
    vlan_tci: u16,
    vlan_tpid: u16,
}

/// Frames arriving on one interface (of the namespace the socket was opened
/// in), as they were on the wire.
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    ifindex: u32,
    /// Frames the interface sends instead of those it receives.
    outgoing: bool,
}

impl Capture {
    /// Opens a capture on `ifindex` of the calling thread's namespace. The
    /// socket stays bound to that namespace wherever it is used later.
    pub fn open(ifindex: u32) -> io::Result<Capture> {
        Capture::open_direction(ifindex, false)
    }

    /// Like [`Capture::open`], but for the frames the interface *sends*
    /// (what a program or a switch transmits on it), seen before the far
    /// side's receive path can drop or alter them (Linux drops a VLAN-tagged
    /// frame with fewer than 6 bytes after the TPID on receive).
    pub fn open_outgoing(ifindex: u32) -> io::Result<Capture> {
        Capture::open_direction(ifindex, true)
    }

    fn open_direction(ifindex: u32, outgoing: bool) -> io::Result<Capture> {
        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ALL.to_be()),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        // SAFETY: valid option pointer and length.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_AUXDATA,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let size: libc::c_int = 8 << 20;
        // SAFETY: valid option pointer and length (best effort).
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &size as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        // SAFETY: sockaddr_ll is plain data; zeroed is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Capture {
            fd,
            ifindex,
            outgoing,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends `frame` out of the interface as is.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: frame is valid for its length.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The next incoming frame (not the socket's own outgoing ones; for
    /// [`Capture::open_outgoing`], the next outgoing one), waiting at most
    /// `timeout`. The outer VLAN tag is put back where it was.
    pub fn recv(&self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(60_000) as i32) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if rc == 0 {
                return Ok(None);
            }
            // SAFETY: plain data.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut cbuf = [0u64; 16];
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            // SAFETY: plain data; fields set below.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = &mut sll as *mut libc::sockaddr_ll as *mut libc::c_void;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            // SAFETY: msg points at live buffers of the lengths given.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) {
                    continue;
                }
                return Err(e);
            }
            if (sll.sll_pkttype == libc::PACKET_OUTGOING) != self.outgoing {
                continue;
            }
            let mut frame = buf[..n as usize].to_vec();
            if let Some(aux) = auxdata(&msg) {
                if aux.status & TP_STATUS_VLAN_VALID != 0 && frame.len() >= 12 {
                    let tpid = if aux.status & TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.vlan_tpid
                    } else {
                        0x8100
                    };
                    let mut tag = tpid.to_be_bytes().to_vec();
                    tag.extend(aux.vlan_tci.to_be_bytes());
                    frame.splice(12..12, tag);
                }
            }
            return Ok(Some(frame));
        }
    }

    /// Frames until `quiet` passes without one.
    pub fn drain(&self, quiet: Duration) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(f) = self.recv(quiet)? {
            out.push(f);
        }
        Ok(out)
    }
}

fn auxdata(msg: &libc::msghdr) -> Option<AuxData> {
    // SAFETY: msg was filled by recvmsg; the CMSG macros walk its control
    // buffer within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                let p = libc::CMSG_DATA(c) as *const AuxData;
                return Some(std::ptr::read_unaligned(p));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}
