//! The veth/netns lab: hosts in their own network namespaces, each wired by a
//! veth pair to an interface in the current (root) namespace, where offload
//! attaches its programs.
//!
//! ```text
//!   netns <lab>-h1            root netns                 netns <lab>-h2
//!   [eth0 10.0.1.2] ─veth─ [ofXXXX0]  (XDP/tc)  [ofXXXX1] ─veth─ [eth0 192.168.1.2]
//! ```
//!
//! Names are unique per process and lab (pid + counter), so tests run in
//! parallel. Everything a lab creates is removed when it is dropped, also
//! while unwinding from a panic, and by [`cleanup_registered`] which the
//! Ctrl-C handler of `offloadctl` calls.
//!
//! iproute2's `ip` does the configuration (it is on every machine that has
//! netns at all); packets are sent and captured with AF_PACKET sockets from
//! threads that entered the host's namespace ([`netns`], [`packet`]).

pub mod compare;
pub mod frames;
pub mod netns;
pub mod packet;
pub mod traffic;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("cannot run `{cmd}`: {source} (is iproute2 installed?)")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interface {iface} not found after creating it")]
    NoInterface { iface: String },
    #[error("netns {netns}: {source}")]
    Netns {
        netns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("host name {name:?} already used in lab {lab}")]
    DuplicateHost { lab: String, name: String },
}

/// One host: a namespace with one interface, wired to `outer` in the root namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Short name given by the caller (`h1`, `servers`, …).
    pub name: String,
    /// Network namespace (`ip netns` name).
    pub netns: String,
    /// The host's interface inside its namespace.
    pub iface: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The interface in the root namespace (where programs attach).
    pub outer: String,
    pub outer_ifindex: u32,
    pub outer_mac: [u8; 6],
}

/// Everything a lab must remove, kept apart so the Ctrl-C path can reach it.
#[derive(Debug, Default, Clone)]
struct Owned {
    namespaces: Vec<String>,
    /// Root-namespace veth ends (deleting one deletes its peer).
    links: Vec<String>,
    /// Extra folders (e.g. pins of a demo) removed recursively.
    paths: Vec<std::path::PathBuf>,
}

static REGISTRY: Mutex<BTreeMap<String, Owned>> = Mutex::new(BTreeMap::new());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lab topology; dropped = removed.
#[derive(Debug)]
pub struct Lab {
    name: String,
    /// Short id used in interface names (≤ 15 bytes in total).
    short: String,
    hosts: Vec<Host>,
    keep: bool,
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = Vec::new();
    loop {
        s.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).expect("ascii digits")
}

/// Runs a command and returns its stdout, or an error with its stderr.
pub(crate) fn run(argv: &[&str]) -> Result<String, LabError> {
    let cmd = argv.join(" ");
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|source| LabError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            cmd,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_mac(path: &str) -> Option<[u8; 6]> {
    let s = std::fs::read_to_string(path).ok()?;
    parse_mac(s.trim())
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub use crate::host::ifindex;

impl Lab {
    /// A new, empty lab. `tag` only makes names readable (`demo`, `test`).
    pub fn new(tag: &str) -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let short = format!("o{}{}", base36(u64::from(pid)), base36(u64::from(n)));
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let name = format!("offload-{tag}-{pid}-{n}");
        REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), Owned::default());
        Lab {
            name,
            short,
            hosts: Vec::new(),
            keep: false,
        }
    }

    /// A lab with a fixed name (for `offloadctl lab up NAME`); removing it is
    /// then the job of `offloadctl lab down NAME` ([`Lab::keep`]).
    pub fn named(name: &str) -> Lab {
        let mut lab = Lab::new(name);
        let short: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(9)
            .collect();
        lab.short = format!("o{short}");
        let old = std::mem::replace(&mut lab.name, format!("offload-{name}"));
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        reg.remove(&old);
        reg.insert(lab.name.clone(), Owned::default());
        lab
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Leave everything in place when dropped (for `lab up`).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    fn own(&self, f: impl FnOnce(&mut Owned)) {
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        f(reg.entry(self.name.clone()).or_default());
    }

    /// Also remove `path` (recursively) when the lab goes away.
    pub fn remove_on_teardown(&self, path: std::path::PathBuf) {
        self.own(|o| o.paths.push(path));
    }

    /// Adds a host: namespace `<lab>-<name>`, its `eth0` with `ip/prefix_len`,
    /// wired to a new interface in the root namespace (up, no address, IPv6 off so
    /// that no neighbour discovery noise crosses the lab).
    pub fn add_host(&mut self, name: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<Host, LabError> {
        if self.host(name).is_some() {
            return Err(LabError::DuplicateHost {
                lab: self.name.clone(),
                name: name.into(),
            });
        }
        let idx = self.hosts.len();
        let netns = format!("{}-{}", self.name, name);
        let outer = format!("{}x{}", self.short, idx);
        let tmp_inner = format!("{}y{}", self.short, idx);
        run(&["ip", "netns", "add", &netns])?;
        self.own(|o| o.namespaces.push(netns.clone()));
        run(&[
            "ip", "link", "add", &outer, "type", "veth", "peer", "name", &tmp_inner,
        ])?;
        self.own(|o| o.links.push(outer.clone()));
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{outer}/disable_ipv6"), "1");
        run(&[
            "ip", "link", "set", &tmp_inner, "netns", &netns, "name", "eth0",
        ])?;
        let ns = |args: &[&str]| {
            let mut argv = vec!["ip", "netns", "exec", netns.as_str()];
            argv.extend_from_slice(args);
            run(&argv)
        };
        ns(&[
            "sysctl",
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
            "net.ipv6.conf.eth0.disable_ipv6=1",
        ])?;
        let cidr = format!("{ip}/{prefix_len}");
        run(&["ip", "-n", &netns, "addr", "add", &cidr, "dev", "eth0"])?;
        run(&["ip", "-n", &netns, "link", "set", "eth0", "up"])?;
        run(&["ip", "-n", &netns, "link", "set", "lo", "up"])?;
        run(&["ip", "link", "set", &outer, "up"])?;
        let outer_ifindex = ifindex(&outer);
        if outer_ifindex == 0 {
            return Err(LabError::NoInterface { iface: outer });
        }
        let outer_mac = read_mac(&format!("/sys/class/net/{outer}/address")).ok_or_else(|| {
            LabError::NoInterface {
                iface: outer.clone(),
            }
        })?;
        let mac_text = ns(&["cat", "/sys/class/net/eth0/address"])?;
        let mac = parse_mac(mac_text.trim()).ok_or_else(|| LabError::NoInterface {
            iface: format!("{netns}/eth0"),
        })?;
        // Native XDP redirects into a veth are delivered only when the
        // receiving end runs NAPI, which veth does with GRO on (or an XDP
        // program of its own): turn GRO on for the host side.
        let gro_ns = netns.clone();
        // Real sockets on a veth leave TCP/UDP checksums to "hardware"
        // (CHECKSUM_PARTIAL); an XDP redirect drops that note and the far side
        // would see bad checksums. A NIC receives complete checksums, so the
        // lab's hosts compute them in software.
        netns::in_netns(&netns, || {
            set_gro("eth0", true).and_then(|()| set_tx_csum("eth0", false))
        })?
        .map_err(|source| LabError::Netns {
            netns: gro_ns,
            source,
        })?;
        let host = Host {
            name: name.into(),
            netns,
            iface: "eth0".into(),
            mac,
            ip,
            prefix_len,
            outer,
            outer_ifindex,
            outer_mac,
        };
        self.hosts.push(host.clone());
        Ok(host)
    }

    /// Adds a route in a host's namespace (`via` must be on its subnet) and a
    /// static neighbour entry for the gateway, so hosts send without ARP.
    pub fn add_route(
        &self,
        host: &Host,
        dst: &str,
        via: Ipv4Addr,
        via_mac: &[u8; 6],
    ) -> Result<(), LabError> {
        let via_s = via.to_string();
        let mac = format_mac(via_mac);
        run(&[
            "ip",
            "-n",
            &host.netns,
            "neigh",
            "replace",
            &via_s,
            "lladdr",
            &mac,
            "dev",
            &host.iface,
            "nud",
            "permanent",
        ])?;
        run(&[
            "ip",
            "-n",
            &host.netns,
            "route",
            "replace",
            dst,
            "via",
            &via_s,
            "dev",
            &host.iface,
        ])?;
        Ok(())
    }

    /// Gives a host's interface a fixed MAC address (e.g. the one a module's
    /// route entries rewrite to), and adds addresses beside its own.
    pub fn set_host_mac(&mut self, host: &str, mac: [u8; 6]) -> Result<Host, LabError> {
        let h = self
            .hosts
            .iter_mut()
            .find(|h| h.name == host)
            .ok_or_else(|| LabError::NoInterface { iface: host.into() })?;
        run(&[
            "ip",
            "-n",
            &h.netns,
            "link",
            "set",
            &h.iface,
            "address",
            &format_mac(&mac),
        ])?;
        h.mac = mac;
        Ok(h.clone())
    }

    /// Adds a secondary address (`a.b.c.d/len`) on a host.
    pub fn add_address(&self, host: &Host, cidr: &str) -> Result<(), LabError> {
        run(&[
            "ip",
            "-n",
            &host.netns,
            "addr",
            "add",
            cidr,
            "dev",
            &host.iface,
        ])?;
        Ok(())
    }

    /// Removes everything now (also done on drop).
    pub fn teardown(&mut self) {
        let owned = REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.name);
        if let Some(o) = owned {
            remove(&o);
        }
        self.hosts.clear();
    }

    /// Removes a lab left by `offloadctl lab up NAME`: every namespace named
    /// `offload-NAME-*` and every root interface `o<NAME>x*`.
    pub fn down_named(name: &str) -> Result<usize, LabError> {
        let prefix = format!("offload-{name}-");
        let short: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(9)
            .collect();
        let link_prefix = format!("o{short}x");
        let mut o = Owned::default();
        for line in run(&["ip", "netns", "list"])?.lines() {
            let ns = line.split_whitespace().next().unwrap_or("");
            if ns.starts_with(&prefix) {
                o.namespaces.push(ns.to_string());
            }
        }
        if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&link_prefix) {
                    o.links.push(n);
                }
            }
        }
        let count = o.namespaces.len() + o.links.len();
        remove(&o);
        Ok(count)
    }
}

fn remove(o: &Owned) {
    // Errors are ignored: teardown is best effort and must never panic (it
    // runs in Drop and in the signal path); each step is independent.
    for l in &o.links {
        let _ = run(&["ip", "link", "del", l]);
    }
    for ns in &o.namespaces {
        let _ = run(&["ip", "netns", "del", ns]);
    }
    for p in &o.paths {
        let _ = std::fs::remove_dir_all(p);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep {
            REGISTRY
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.name);
        } else {
            self.teardown();
        }
    }
}

/// Removes every lab of this process that is still alive (the Ctrl-C path).
pub fn cleanup_registered() {
    let all: Vec<Owned> = std::mem::take(&mut *REGISTRY.lock().unwrap_or_else(|e| e.into_inner()))
        .into_values()
        .collect();
    for o in &all {
        remove(o);
    }
}

/// Turns GRO on or off with the ethtool ioctl (ETHTOOL_SGRO), in the
/// current namespace.
pub fn set_gro(iface: &str, on: bool) -> std::io::Result<()> {
    ethtool_set(iface, 0x2c, on)
}

/// Turns transmit checksum offload on or off (ETHTOOL_STXCSUM; TSO/GSO
/// follow, as they depend on it).
pub fn set_tx_csum(iface: &str, on: bool) -> std::io::Result<()> {
    ethtool_set(iface, 0x17, on)
}

fn ethtool_set(iface: &str, cmd: u32, on: bool) -> std::io::Result<()> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    let mut v = EthtoolValue {
        cmd,
        data: u32::from(on),
    };
    // SAFETY: ifreq is plain data; zeroed is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(iface.bytes().take(15)) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = &mut v as *mut EthtoolValue as *mut libc::c_char;
    // SAFETY: a plain datagram socket for the ioctl; checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ifr points at a valid ifreq whose data points at `v`.
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut ifr) };
    let err = std::io::Error::last_os_error();
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(err);
    }
    Ok(())
}

/// Whether a namespace of this name exists.
pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/var/run/netns").join(name).exists()
}

/// Whether an interface of this name exists in the current namespace.
pub fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}
