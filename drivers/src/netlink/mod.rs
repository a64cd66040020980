//! Minimal netlink: a socket, request/dump round trips, attribute parsing.
//!
//! Only what the probe needs and nothing that changes the system: the netdev
//! generic-netlink family's `dev-get` dump (XDP features) and rtnetlink's
//! `RTM_GETLINK` dump (link kind, current XDP attachment). Hand-written on
//! libc so it builds everywhere aya does and reads the same on every kernel.

pub mod link;
pub mod netdev;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const NETLINK_ROUTE: i32 = 0;
pub const NETLINK_GENERIC: i32 = 16;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | (1 << 14));

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket ({protocol}): {source}")]
    Socket {
        protocol: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("netlink {request}: kernel answered {errno} ({})", io::Error::from_raw_os_error(*.errno))]
    Kernel { request: &'static str, errno: i32 },
    #[error("netlink {request}: malformed answer: {detail}")]
    Malformed {
        request: &'static str,
        detail: String,
    },
}

/// A netlink socket of one protocol.
pub struct Socket {
    fd: OwnedFd,
    protocol: &'static str,
    seq: u32,
}

impl Socket {
    pub fn open(protocol: i32, name: &'static str) -> Result<Socket, NetlinkError> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(NetlinkError::Socket {
                protocol: name,
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: fd is a fresh, owned descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket {
            fd,
            protocol: name,
            seq: 1,
        })
    }

    /// Sends one request (header is filled in here) and collects the payloads
    /// of every answer message until DONE (dump) or the single answer / ACK.
    pub fn request(
        &mut self,
        request: &'static str,
        msg_type: u16,
        flags: u16,
        payload: &[u8],
    ) -> Result<Vec<(u16, Vec<u8>)>, NetlinkError> {
        self.seq += 1;
        let seq = self.seq;
        let len = 16 + payload.len();
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(&(len as u32).to_ne_bytes());
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(payload);
        // SAFETY: sockaddr_nl zeroed is the kernel as destination.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: buf and addr are valid for the given lengths.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(NetlinkError::Socket {
                protocol: self.protocol,
                source: io::Error::last_os_error(),
            });
        }
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: rbuf is valid for its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), rbuf.as_mut_ptr().cast(), rbuf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NetlinkError::Socket {
                    protocol: self.protocol,
                    source: e,
                });
            }
            let mut data = &rbuf[..n as usize];
            while data.len() >= 16 {
                let mlen = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
                let mtype = u16::from_ne_bytes(data[4..6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(data[8..12].try_into().unwrap());
                if mlen < 16 || mlen > data.len() {
                    return Err(NetlinkError::Malformed {
                        request,
                        detail: format!("message length {mlen} with {} bytes left", data.len()),
                    });
                }
                let body = &data[16..mlen];
                data = &data[align4(mlen).min(data.len())..];
                if mseq != seq {
                    continue; // stale answer to an earlier request
                }
                match mtype {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = body
                            .get(0..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                            .unwrap_or(-libc::EIO);
                        if errno == 0 {
                            return Ok(out); // ACK
                        }
                        return Err(NetlinkError::Kernel {
                            request,
                            errno: -errno,
                        });
                    }
                    _ => {
                        out.push((mtype, body.to_vec()));
                        if !dump {
                            return Ok(out);
                        }
                    }
                }
            }
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one attribute (type, payload) with padding.
pub fn put_attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(buf.len()), 0);
}

/// Iterates the attributes of a buffer: (type without flags, payload).
pub fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            return None;
        }
        let payload = &data[4..len];
        data = &data[align4(len).min(data.len())..];
        Some((ty, payload))
    })
}

pub fn attr_u32(p: &[u8]) -> Option<u32> {
    p.get(0..4)
        .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
}

pub fn attr_u64(p: &[u8]) -> Option<u64> {
    p.get(0..8)
        .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
}

pub fn attr_str(p: &[u8]) -> String {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut b = Vec::new();
        put_attr(&mut b, 2, b"netdev\0");
        put_attr(&mut b, 3, &7u64.to_ne_bytes());
        assert_eq!(b.len(), 12 + 12);
        let v: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(v[0].0, 2);
        assert_eq!(attr_str(&v[0].1), "netdev");
        assert_eq!(attr_u64(&v[1].1), Some(7));
    }

    #[test]
    fn truncated_attributes_stop_instead_of_panicking() {
        let b = [0xff, 0x00, 0x01, 0x00, 1, 2];
        assert_eq!(attrs(&b).count(), 0);
        assert_eq!(attrs(&[1, 2]).count(), 0);
    }
}
