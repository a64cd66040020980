//! Capability probing: what every network device, the kernel and the switches
//! of a host can do, each fact with where it came from.
//!
//! Everything is read through a [`SystemView`] — the live system or a recorded
//! host — so hosts we do not have (NFP, ConnectX-5, E810, Tofino, old kernels)
//! are tested from fixtures. Probing never attaches anything and never changes
//! the system; the only kernel objects it creates are the feature probes'
//! throw-away programs/maps and, for devices that claim hardware offload, a
//! trivial program loaded bound to the device and closed at once.
//!
//! The hwdb fills gaps only where the kernel has no answer (no `xdp-features`
//! before 6.3, switch ASICs), and every such fact says `hwdb …` in its source.

pub mod caps;
mod device;
pub mod ethtool;
pub mod kernel;
pub mod view;

pub use caps::{device_caps, plan_devices};
pub use device::{DeviceClass, DeviceFacts, HwdbRef, PciIdentity, XdpFacts};
pub use kernel::KernelFacts;
pub use view::{
    Answers, BpfSupport, DrvInfo, FixtureSystem, LiveSystem, Recorder, SystemView, TrialLoad,
};

use crate::netlink::NetlinkError;
use offload_hwdb::Hwdb;
use std::collections::BTreeMap;

/// A value and where it came from ("sysfs /sys/class/net/eth0/ifindex",
/// "netlink netdev xdp-features", "hwdb intel.toml: …").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fact<T> {
    pub value: T,
    pub from: String,
}

impl<T> Fact<T> {
    pub fn new(value: T, from: impl Into<String>) -> Self {
        Fact {
            value,
            from: from.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {path} is missing in {view}")]
    Missing {
        what: String,
        path: String,
        view: String,
    },
    #[error("{path} in {view}: {detail}")]
    Malformed {
        path: String,
        view: String,
        detail: String,
    },
    #[error("recorded host {dir}: {detail}")]
    Fixture { dir: String, detail: String },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("ethtool GDRVINFO on {iface}: {source}")]
    Ethtool {
        iface: String,
        #[source]
        source: std::io::Error,
    },
    #[error("hwdb: {0}")]
    Hwdb(#[from] offload_hwdb::HwdbError),
}

/// A switch ASIC found on the PCI bus.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SwitchFacts {
    pub name: String,
    pub pci: Fact<PciIdentity>,
    pub family: Fact<String>,
    /// `tna` / `t2na`, from the hwdb.
    pub arch: Fact<String>,
    pub profile: Option<String>,
    /// Intel P4 Studio tools found on PATH (bf-p4c compiles, bf_switchd runs).
    pub tools: Fact<BTreeMap<String, String>>,
}

/// A software P4 target (BMv2) and the tools found for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SoftSwitchFacts {
    pub name: String,
    pub arch: String,
    /// Binary → path.
    pub binaries: Fact<BTreeMap<String, String>>,
}

/// Everything probed on one host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProbeReport {
    /// "the live system" or "fixture DIR".
    pub view: String,
    pub kernel: KernelFacts,
    pub devices: Vec<DeviceFacts>,
    pub switches: Vec<SwitchFacts>,
    pub soft_switches: Vec<SoftSwitchFacts>,
}

impl ProbeReport {
    pub fn device(&self, name: &str) -> Option<&DeviceFacts> {
        self.devices.iter().find(|d| d.name == name)
    }
}

/// Intel P4 Studio (SDE) binaries looked for on PATH when a Tofino is present.
pub const TOFINO_BINARIES: [&str; 2] = ["bf-p4c", "bf_switchd"];

/// BMv2 binaries looked for on PATH.
pub const BMV2_BINARIES: [&str; 3] = ["simple_switch", "simple_switch_CLI", "p4c"];

/// Probes a host through `view`.
pub fn probe(view: &dyn SystemView, hwdb: &Hwdb) -> Result<ProbeReport, ProbeError> {
    let netdev = view.netdev()?;
    let kernel = kernel::probe_kernel(view, netdev.is_some())?;
    let links = view.links()?;
    let names = view
        .list("/sys/class/net")?
        .ok_or_else(|| ProbeError::Missing {
            what: "network devices".into(),
            path: "/sys/class/net".into(),
            view: view.describe(),
        })?;
    let mut devices = Vec::new();
    for name in names {
        // A device removed between the listing and now (its /sys/class/net
        // entry is gone) is skipped; a recorded entry with missing files is not.
        if view.read_link(&format!("/sys/class/net/{name}"))?.is_none()
            && view.resolve(&format!("/sys/class/net/{name}"))?.is_none()
        {
            continue;
        }
        devices.push(device::probe_device(
            view,
            hwdb,
            &kernel,
            netdev.as_deref(),
            &links,
            &name,
        )?);
    }
    let mut switches = device::probe_switches(view, hwdb)?;
    if !switches.is_empty() {
        let mut tools = BTreeMap::new();
        for b in TOFINO_BINARIES {
            if let Some(p) = view.find_binary(b)? {
                tools.insert(b.to_string(), p);
            }
        }
        for s in &mut switches {
            s.tools = Fact::new(tools.clone(), "PATH lookup");
        }
    }
    let mut found = BTreeMap::new();
    for b in BMV2_BINARIES {
        if let Some(p) = view.find_binary(b)? {
            found.insert(b.to_string(), p);
        }
    }
    let soft_switches = if found.contains_key("simple_switch") {
        vec![SoftSwitchFacts {
            name: "bmv2".into(),
            arch: "v1model".into(),
            binaries: Fact::new(found, "PATH lookup"),
        }]
    } else {
        Vec::new()
    };
    Ok(ProbeReport {
        view: view.describe(),
        kernel,
        devices,
        switches,
        soft_switches,
    })
}
