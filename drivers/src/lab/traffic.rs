//! Real traffic between lab hosts, from inside their namespaces: ICMP echo
//! (raw socket), UDP datagrams, TCP connections. Each call reports what the
//! application saw (replies, datagrams delivered, connection result).

use super::netns::in_netns;
use super::{Host, LabError};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Sends `count` ICMP echo requests from `from` (source `src`) to `dst` and
/// counts the replies (raw ICMP socket; identifiers from the pid).
pub fn ping(from: &Host, dst: Ipv4Addr, count: u16, timeout: Duration) -> Result<u16, LabError> {
    let ns = from.netns.clone();
    in_netns(&from.netns, move || -> std::io::Result<u16> {
        // SAFETY: raw ICMP socket; checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_ICMP,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let id = (std::process::id() & 0xffff) as u16;
        let mut replies = 0;
        for seq in 0..count {
            let mut pkt = vec![8u8, 0, 0, 0];
            pkt.extend_from_slice(&id.to_be_bytes());
            pkt.extend_from_slice(&seq.to_be_bytes());
            pkt.extend_from_slice(b"offload-demo-ping");
            let sum = checksum(&pkt);
            pkt[2..4].copy_from_slice(&sum.to_be_bytes());
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from(dst).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: valid buffer and address.
            let rc = unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    pkt.as_ptr() as *const libc::c_void,
                    pkt.len(),
                    0,
                    &addr as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let deadline = Instant::now() + timeout;
            let mut buf = [0u8; 1500];
            while Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } <= 0 {
                    break;
                }
                // SAFETY: valid buffer.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n < 28 {
                    continue;
                }
                let ihl = usize::from(buf[0] & 0xf) * 4;
                let icmp = &buf[ihl..n as usize];
                if icmp.len() >= 8
                    && icmp[0] == 0
                    && icmp[4..6] == id.to_be_bytes()
                    && icmp[6..8] == seq.to_be_bytes()
                {
                    replies += 1;
                    break;
                }
            }
        }
        Ok(replies)
    })?
    .map_err(|source| LabError::Netns { netns: ns, source })
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Sends `count` datagrams from `src` (an address of `from`) to `dst:port`,
/// optionally with an IP TTL, while `to` listens; returns how many arrived.
/// `to` = `None`: nobody listens (the datagrams go to a router or nowhere).
pub fn udp(
    from: &Host,
    src: Ipv4Addr,
    to: Option<&Host>,
    dst: Ipv4Addr,
    port: u16,
    count: u32,
    ttl: Option<u32>,
) -> Result<u32, LabError> {
    let listener = match to {
        Some(h) => {
            let ns = h.netns.clone();
            Some(
                in_netns(&h.netns, move || {
                    UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
                })?
                .map_err(|source| LabError::Netns { netns: ns, source })?,
            )
        }
        None => None,
    };
    let ns = from.netns.clone();
    in_netns(&from.netns, move || -> std::io::Result<()> {
        let s = UdpSocket::bind(SocketAddrV4::new(src, 0))?;
        if let Some(t) = ttl {
            s.set_ttl(t)?;
        }
        for i in 0..count {
            s.send_to(
                format!("offload-demo-udp-{i}").as_bytes(),
                SocketAddrV4::new(dst, port),
            )?;
        }
        Ok(())
    })?
    .map_err(|source| LabError::Netns { netns: ns, source })?;
    let Some(l) = listener else { return Ok(0) };
    l.set_read_timeout(Some(Duration::from_millis(300)))
        .map_err(|source| LabError::Netns {
            netns: "udp".into(),
            source,
        })?;
    let mut got = 0;
    let mut buf = [0u8; 2048];
    while got < count {
        match l.recv_from(&mut buf) {
            Ok(_) => got += 1,
            Err(_) => break,
        }
    }
    Ok(got)
}

/// What a TCP attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpResult {
    /// Connected, sent a line, got it echoed back.
    Echoed,
    /// No connection within the timeout (packets dropped on the way).
    TimedOut,
    /// Refused or another error.
    Failed(String),
}

/// Connects from `src` (an address of `from`) to `dst:port` where `to`
/// listens and echoes one line.
pub fn tcp(
    from: &Host,
    src: Ipv4Addr,
    to: &Host,
    dst: Ipv4Addr,
    port: u16,
    timeout: Duration,
) -> Result<TcpResult, LabError> {
    let ns = to.netns.clone();
    let listener = in_netns(&to.netns, move || {
        TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
    })?
    .map_err(|source| LabError::Netns { netns: ns, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| LabError::Netns {
            netns: "tcp".into(),
            source,
        })?;
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + timeout + Duration::from_millis(200);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut c, _)) => {
                    let _ = c.set_nonblocking(false);
                    let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                    let mut buf = [0u8; 256];
                    if let Ok(n) = c.read(&mut buf) {
                        let _ = c.write_all(&buf[..n]);
                    }
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let ns = from.netns.clone();
    let r = in_netns(&from.netns, move || -> TcpResult {
        // Bind the source address first (a secondary address of the host).
        let sock = match socket2_connect(src, SocketAddrV4::new(dst, port), timeout) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return TcpResult::TimedOut,
            Err(e) => return TcpResult::Failed(e.to_string()),
        };
        let mut s = sock;
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"offload-demo-tcp\n").is_err() {
            return TcpResult::Failed("write failed".into());
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(n) if &buf[..n] == b"offload-demo-tcp\n" => TcpResult::Echoed,
            Ok(n) => TcpResult::Failed(format!("echo returned {n} bytes")),
            Err(e) => TcpResult::Failed(e.to_string()),
        }
    })
    .map_err(|e| match e {
        LabError::Netns { source, .. } => LabError::Netns { netns: ns, source },
        other => other,
    })?;
    let _ = server.join();
    Ok(r)
}

/// A TCP connect from a chosen source address with a timeout (std's
/// `connect_timeout` cannot bind the source first).
fn socket2_connect(
    src: Ipv4Addr,
    dst: SocketAddrV4,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    // SAFETY: plain socket calls on a descriptor we own; results checked.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let sa = |a: Ipv4Addr, p: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: p.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(a).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        let s = sa(src, 0);
        if libc::bind(fd, &s as *const _ as *const libc::sockaddr, len) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let d = sa(*dst.ip(), dst.port());
        if libc::connect(fd, &d as *const _ as *const libc::sockaddr, len) < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let rc = libc::poll(&mut pfd, 1, timeout.as_millis() as i32);
        if rc == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ));
        }
        let mut err: libc::c_int = 0;
        let mut elen = std::mem::size_of::<libc::c_int>() as u32;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut _ as *mut libc::c_void,
            &mut elen,
        );
        if err != 0 {
            return Err(std::io::Error::from_raw_os_error(err));
        }
        let stream = TcpStream::from(owned);
        stream.set_nonblocking(false)?;
        Ok(stream)
    }
}
