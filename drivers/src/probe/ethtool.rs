//! ethtool `ETHTOOL_GDRVINFO` through the `SIOCETHTOOL` ioctl: driver name,
//! driver version, firmware version, bus address. Read-only.

use super::view::DrvInfo;
use super::ProbeError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x3;

/// `struct ethtool_drvinfo` (include/uapi/linux/ethtool.h).
#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// `struct ifreq` with the `ifr_data` member.
#[repr(C)]
struct IfreqData {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// GDRVINFO for `iface`; `None` when the driver has no ethtool support (EOPNOTSUPP).
pub fn drvinfo(iface: &str) -> Result<Option<DrvInfo>, ProbeError> {
    if iface.len() >= libc::IFNAMSIZ {
        return Err(ProbeError::Ethtool {
            iface: iface.into(),
            source: io::Error::from_raw_os_error(libc::ENAMETOOLONG),
        });
    }
    // SAFETY: plain socket(2), checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(ProbeError::Ethtool {
            iface: iface.into(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid EthtoolDrvinfo.
    let mut info: EthtoolDrvinfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    let mut req = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: (&mut info as *mut EthtoolDrvinfo).cast(),
        _pad: [0; 16],
    };
    req.name[..iface.len()].copy_from_slice(iface.as_bytes());
    // SAFETY: req points at a valid ifreq whose data points at a valid drvinfo;
    // GDRVINFO only reads device information.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
    if r < 0 {
        let e = io::Error::last_os_error();
        // No ethtool ops, or the device went away since it was listed.
        if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENODEV)) {
            return Ok(None);
        }
        return Err(ProbeError::Ethtool {
            iface: iface.into(),
            source: e,
        });
    }
    Ok(Some(DrvInfo {
        driver: cstr(&info.driver),
        version: cstr(&info.version),
        fw_version: cstr(&info.fw_version),
        bus_info: cstr(&info.bus_info),
    }))
}
