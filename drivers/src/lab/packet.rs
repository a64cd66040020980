//! Raw frames in and out of an interface with AF_PACKET sockets.
//!
//! Sending writes the exact bytes given (no stack involved), so a test knows
//! the frame the program saw; capturing returns frames as they arrived,
//! skipping the socket's own outgoing ones.

use super::{netns::in_netns, LabError};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// An AF_PACKET socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

const ETH_P_ALL: u16 = 0x0003;

fn open_here(iface: &str) -> io::Result<PacketSocket> {
    let ifindex = super::ifindex(iface);
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {iface}"),
        ));
    }
    // SAFETY: plain socket(2) call; the result is checked.
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
    // SAFETY: raw is a fresh, valid descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: sll is a valid sockaddr_ll of the given size.
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
    // A big receive buffer: bursts of test traffic must not be lost here.
    let size: libc::c_int = 8 << 20;
    // SAFETY: valid option pointer and length.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
    Ok(PacketSocket { fd, ifindex })
}

impl PacketSocket {
    /// Opens a socket on `iface` in the current namespace.
    pub fn open(iface: &str) -> Result<PacketSocket, LabError> {
        open_here(iface).map_err(|source| LabError::Netns {
            netns: "(current)".into(),
            source,
        })
    }

    /// Opens a socket on `iface` inside netns `netns`.
    pub fn open_in(netns: &str, iface: &str) -> Result<PacketSocket, LabError> {
        let iface = iface.to_string();
        let ns = netns.to_string();
        in_netns(netns, move || open_here(&iface))?
            .map_err(|source| LabError::Netns { netns: ns, source })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one frame as is.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: frame is a valid buffer of its length.
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

    /// Receives one incoming frame, waiting at most `timeout`.
    pub fn recv(&self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.recv_any(timeout)? {
                Some((true, _)) => continue,
                Some((false, f)) => return Ok(Some(f)),
                None => return Ok(None),
            }
        }
    }

    /// Receives one frame either way: `(outgoing, bytes)`.
    pub fn recv_any(&self, timeout: Duration) -> io::Result<Option<(bool, Vec<u8>)>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
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
            // SAFETY: sockaddr_ll is plain data.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buf and sll are valid for the lengths passed.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    &mut sll as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                    &mut len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let outgoing = sll.sll_pkttype == libc::PACKET_OUTGOING;
            return Ok(Some((outgoing, buf[..n as usize].to_vec())));
        }
    }

    /// Every incoming frame until `quiet` passes without one.
    pub fn drain(&self, quiet: Duration) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(f) = self.recv(quiet)? {
            out.push(f);
        }
        Ok(out)
    }
}
