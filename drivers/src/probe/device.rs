//! One network device: identity (sysfs, ethtool, pci-ids, hwdb) and XDP facts
//! (netdev netlink, or the hwdb on kernels without `xdp-features`).

use super::kernel::KernelFacts;
use super::view::{SystemView, TrialLoad};
use super::{Fact, ProbeError, SwitchFacts};
use crate::netlink::link::{LinkMsg, XdpAttachment};
use crate::netlink::netdev::NetdevDev;
use offload_hwdb::{pci_names, Claim, DeviceKind, Entry, Hwdb, Key, PciId, PciNames};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    /// A PCI NIC.
    Pci,
    /// A virtio-net device (PCI ids on its parent).
    Virtio,
    Veth,
    Bridge,
    Ifb,
    Dummy,
    Netdevsim,
    Loopback,
    /// Another software device, by its link kind.
    Other(String),
}

impl DeviceClass {
    pub fn is_virtual(&self) -> bool {
        !matches!(self, DeviceClass::Pci)
    }
    pub fn name(&self) -> String {
        match self {
            DeviceClass::Other(k) => k.clone(),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PciIdentity {
    pub vendor: u16,
    pub device: u16,
    pub subsystem: Option<(u16, u16)>,
    /// 0xCCSSPP
    pub class: Option<u32>,
    /// Bus address (`0000:03:00.0`).
    pub address: String,
    /// The driver bound to the PCI function (`nfp`, `virtio-pci`).
    pub pci_driver: Option<String>,
    pub names: PciNames,
}

impl PciIdentity {
    pub fn id(&self) -> PciId {
        PciId {
            vendor: self.vendor,
            device: self.device,
            subsystem: self.subsystem,
        }
    }
}

/// The hwdb entry that matched a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HwdbRef {
    pub key: String,
    pub family: String,
    pub file: String,
    pub offload_profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct XdpFacts {
    /// Raw `xdp-features` names (kernel ≥ 6.3).
    pub features: Option<Fact<Vec<String>>>,
    pub rx_metadata: Option<Fact<Vec<String>>>,
    pub xsk: Option<Fact<Vec<String>>>,
    /// `None`: nobody knows (no xdp-features, no hwdb entry).
    pub native: Fact<Option<bool>>,
    pub redirect: Fact<Option<bool>>,
    /// Can be the target of a redirect right now (veth: only while the peer has XDP).
    pub ndo_xmit: Fact<Option<bool>>,
    pub zero_copy: Fact<Option<bool>>,
    pub hw_offload: Fact<Option<bool>>,
    pub attached: Fact<XdpAttachment>,
    /// For devices claiming hardware offload: a trial load bound to the device.
    pub trial: Option<Fact<TrialLoad>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceFacts {
    pub name: String,
    pub ifindex: Fact<u32>,
    pub class: Fact<DeviceClass>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    pub operstate: Option<String>,
    pub pci: Option<Fact<PciIdentity>>,
    pub driver: Option<Fact<String>>,
    pub driver_version: Option<Fact<String>>,
    pub firmware: Option<Fact<String>>,
    pub bus_info: Option<Fact<String>>,
    pub hwdb: Option<HwdbRef>,
    pub xdp: XdpFacts,
}

fn hex_attr(view: &dyn SystemView, path: &str) -> Result<Option<u32>, ProbeError> {
    let Some(s) = view.read(path)? else {
        return Ok(None);
    };
    let t = s.trim();
    u32::from_str_radix(t.trim_start_matches("0x"), 16)
        .map(Some)
        .map_err(|_| ProbeError::Malformed {
            path: path.into(),
            view: view.describe(),
            detail: format!("expected a hex number like 0x19ee, found {t:?}"),
        })
}

fn basename(s: &str) -> String {
    s.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(s)
        .to_string()
}

/// PCI identity of the function at `dir` (a resolved sysfs device directory).
fn pci_at(view: &dyn SystemView, dir: &str) -> Result<Option<PciIdentity>, ProbeError> {
    let Some(vendor) = hex_attr(view, &format!("{dir}/vendor"))? else {
        return Ok(None);
    };
    let device = hex_attr(view, &format!("{dir}/device"))?.ok_or_else(|| ProbeError::Missing {
        what: "PCI device id".into(),
        path: format!("{dir}/device"),
        view: view.describe(),
    })?;
    let sv = hex_attr(view, &format!("{dir}/subsystem_vendor"))?;
    let sd = hex_attr(view, &format!("{dir}/subsystem_device"))?;
    let class = hex_attr(view, &format!("{dir}/class"))?;
    let subsystem = match (sv, sd) {
        (Some(a), Some(b)) => Some((a as u16, b as u16)),
        _ => None,
    };
    let pci_driver = view
        .read_link(&format!("{dir}/driver"))?
        .map(|t| basename(&t));
    Ok(Some(PciIdentity {
        vendor: vendor as u16,
        device: device as u16,
        subsystem,
        class,
        address: basename(dir),
        pci_driver,
        names: pci_names(vendor as u16, device as u16, subsystem, class),
    }))
}

fn parent(dir: &str) -> Option<&str> {
    dir.rsplit_once('/')
        .map(|(p, _)| p)
        .filter(|p| !p.is_empty())
}

/// A claim from the hwdb, honoured only on kernels at least as new as its `since`.
fn hwdb_claim(
    entry: &Entry,
    c: &Option<Claim<bool>>,
    kernel: &KernelFacts,
) -> Option<Fact<Option<bool>>> {
    let c = c.as_ref()?;
    let old = c
        .since
        .as_deref()
        .and_then(super::kernel::parse_version)
        .is_some_and(|since| kernel.version.is_some_and(|v| v < since));
    if old && c.value {
        return Some(Fact::new(
            Some(false),
            format!(
                "hwdb {}: needs kernel {} or newer, this is {} ({})",
                entry.file,
                c.since.as_deref().unwrap_or("?"),
                kernel.release.value,
                c.source
            ),
        ));
    }
    Some(Fact::new(
        Some(c.value),
        format!("hwdb {}: {}", entry.file, c.source),
    ))
}

pub(super) fn probe_device(
    view: &dyn SystemView,
    hwdb: &Hwdb,
    kernel: &KernelFacts,
    netdev: Option<&[NetdevDev]>,
    links: &[LinkMsg],
    name: &str,
) -> Result<DeviceFacts, ProbeError> {
    let base = format!("/sys/class/net/{name}");
    let ifindex_path = format!("{base}/ifindex");
    let ifindex_text = view
        .read(&ifindex_path)?
        .ok_or_else(|| ProbeError::Missing {
            what: format!("ifindex of {name}"),
            path: ifindex_path.clone(),
            view: view.describe(),
        })?;
    let ifindex: u32 = ifindex_text
        .trim()
        .parse()
        .map_err(|_| ProbeError::Malformed {
            path: ifindex_path.clone(),
            view: view.describe(),
            detail: format!(
                "expected an interface index, found {:?}",
                ifindex_text.trim()
            ),
        })?;
    let ty: Option<u32> = view
        .read(&format!("{base}/type"))?
        .and_then(|s| s.trim().parse().ok());
    let mac = view
        .read(&format!("{base}/address"))?
        .map(|s| s.trim().to_string());
    let mtu = view
        .read(&format!("{base}/mtu"))?
        .and_then(|s| s.trim().parse().ok());
    let operstate = view
        .read(&format!("{base}/operstate"))?
        .map(|s| s.trim().to_string());
    let link = links.iter().find(|l| l.ifindex == ifindex);
    let kind = link.and_then(|l| l.kind.clone());

    // Identity: the device directory, and the PCI function (itself or, for
    // virtio, its parent).
    let devdir = view.resolve(&format!("{base}/device"))?;
    let subsystem = match &devdir {
        Some(d) => view
            .read_link(&format!("{d}/subsystem"))?
            .map(|t| basename(&t)),
        None => None,
    };
    // Only a directory on the pci bus is a PCI function: a virtio device has
    // `vendor`/`device` files too, but they hold virtio ids.
    let mut pci = None;
    if let Some(d) = &devdir {
        if subsystem.as_deref() == Some("pci") {
            pci = pci_at(view, d)?.map(|p| Fact::new(p, format!("sysfs {d}")));
        } else if let Some(p) = parent(d) {
            let psub = view
                .read_link(&format!("{p}/subsystem"))?
                .map(|t| basename(&t));
            if psub.as_deref() == Some("pci") {
                pci = pci_at(view, p)?
                    .map(|id| Fact::new(id, format!("sysfs {p} (the PCI parent of {d})")));
            }
        }
    }
    let drv = view.drvinfo(name)?;
    let sysfs_driver = match &devdir {
        Some(d) => view
            .read_link(&format!("{d}/driver"))?
            .map(|t| basename(&t)),
        None => None,
    };
    let driver = drv
        .as_ref()
        .filter(|i| !i.driver.is_empty())
        .map(|i| Fact::new(i.driver.clone(), "ethtool GDRVINFO"))
        .or_else(|| sysfs_driver.map(|d| Fact::new(d, format!("sysfs {base}/device/driver"))))
        .or_else(|| {
            kind.clone()
                .map(|k| Fact::new(k, "rtnetlink IFLA_INFO_KIND"))
        });
    let nonempty = |s: &str| (!s.is_empty() && s != "N/A").then(|| s.to_string());
    let driver_version = drv
        .as_ref()
        .and_then(|i| nonempty(&i.version))
        .map(|v| Fact::new(v, "ethtool GDRVINFO"));
    let firmware = drv
        .as_ref()
        .and_then(|i| nonempty(&i.fw_version))
        .map(|v| Fact::new(v, "ethtool GDRVINFO"));
    let bus_info = drv
        .as_ref()
        .and_then(|i| nonempty(&i.bus_info))
        .map(|v| Fact::new(v, "ethtool GDRVINFO"));

    let drv_name = driver.as_ref().map(|d| d.value.as_str()).unwrap_or("");
    let class = if ty == Some(772) {
        Fact::new(
            DeviceClass::Loopback,
            format!("sysfs {base}/type (772, ARPHRD_LOOPBACK)"),
        )
    } else if subsystem.as_deref() == Some("virtio") || drv_name == "virtio_net" {
        Fact::new(
            DeviceClass::Virtio,
            format!("sysfs {base}/device/subsystem (virtio bus)"),
        )
    } else if drv_name == "netdevsim" || subsystem.as_deref() == Some("netdevsim") {
        Fact::new(DeviceClass::Netdevsim, "driver netdevsim")
    } else if pci.is_some() {
        Fact::new(
            DeviceClass::Pci,
            format!("sysfs {base}/device (a PCI function)"),
        )
    } else {
        let c = match kind.as_deref().unwrap_or(drv_name) {
            "veth" => DeviceClass::Veth,
            "bridge" => DeviceClass::Bridge,
            "ifb" => DeviceClass::Ifb,
            "dummy" => DeviceClass::Dummy,
            "" => DeviceClass::Other("unknown".into()),
            k => DeviceClass::Other(k.to_string()),
        };
        Fact::new(
            c,
            "rtnetlink IFLA_INFO_KIND (no device in sysfs: a software device)",
        )
    };

    let entry: Option<&Entry> = match &pci {
        Some(p) => hwdb.lookup_pci(p.value.id()),
        None => None,
    }
    .or_else(|| hwdb.lookup_driver(drv_name));
    let hwdb_ref = entry.map(|e| HwdbRef {
        key: e.key.to_string(),
        family: e.family.clone(),
        file: e.file.clone(),
        offload_profile: e.offload_profile.as_ref().map(|p| p.value.clone()),
    });

    let xdp = xdp_facts(view, kernel, netdev, link, entry, name, ifindex)?;
    Ok(DeviceFacts {
        name: name.to_string(),
        ifindex: Fact::new(ifindex, format!("sysfs {ifindex_path}")),
        class,
        mac,
        mtu,
        operstate,
        pci,
        driver,
        driver_version,
        firmware,
        bus_info,
        hwdb: hwdb_ref,
        xdp,
    })
}

fn xdp_facts(
    view: &dyn SystemView,
    kernel: &KernelFacts,
    netdev: Option<&[NetdevDev]>,
    link: Option<&LinkMsg>,
    entry: Option<&Entry>,
    name: &str,
    ifindex: u32,
) -> Result<XdpFacts, ProbeError> {
    let unknown = |why: &str| Fact::new(None, why.to_string());
    let attached = Fact::new(
        link.map(|l| l.xdp.clone())
            .unwrap_or_else(|| XdpAttachment {
                mode: "unknown".into(),
                ..XdpAttachment::default()
            }),
        "rtnetlink RTM_GETLINK IFLA_XDP",
    );
    let mut f = XdpFacts {
        features: None,
        rx_metadata: None,
        xsk: None,
        native: unknown("no xdp-features and no hwdb entry"),
        redirect: unknown("no xdp-features and no hwdb entry"),
        ndo_xmit: unknown("no xdp-features"),
        zero_copy: unknown("no xdp-features and no hwdb entry"),
        hw_offload: unknown("no xdp-features and no hwdb entry"),
        attached,
        trial: None,
    };
    match netdev {
        Some(devs)
            if !devs.iter().any(|d| d.ifindex == ifindex)
                || link.is_some_and(|l| l.name != name) =>
        {
            // sysfs and netlink describe different network namespaces (a
            // thread that entered another netns without remounting /sys):
            // nothing netlink said is about this device.
            let why = format!(
                "{name} (ifindex {ifindex}) is not in this network namespace's netlink answers; sysfs shows another namespace"
            );
            for fact in [
                &mut f.native,
                &mut f.redirect,
                &mut f.ndo_xmit,
                &mut f.zero_copy,
                &mut f.hw_offload,
            ] {
                *fact = Fact::new(None, why.clone());
            }
        }
        Some(devs) => {
            let src = "netlink netdev dev-get xdp-features";
            let d = devs.iter().find(|d| d.ifindex == ifindex);
            let feats: Vec<String> = d.map(|d| d.xdp_features.clone()).unwrap_or_default();
            let has = |n: &str| Some(feats.iter().any(|x| x == n));
            f.native = Fact::new(has("basic"), src);
            f.redirect = Fact::new(has("redirect"), src);
            f.ndo_xmit = Fact::new(has("ndo-xmit"), format!("{src} (a fact of the moment)"));
            f.zero_copy = Fact::new(has("xsk-zerocopy"), src);
            f.hw_offload = Fact::new(has("hw-offload"), src);
            if let Some(d) = d {
                f.features = Some(Fact::new(d.xdp_features.clone(), src));
                f.rx_metadata = Some(Fact::new(
                    d.xdp_rx_metadata_features.clone(),
                    "netlink netdev dev-get xdp-rx-metadata-features",
                ));
                f.xsk = Some(Fact::new(
                    d.xsk_features.clone(),
                    "netlink netdev dev-get xsk-features",
                ));
            }
        }
        None => {
            // Kernel < 6.3: only the hwdb knows.
            if let Some(e) = entry {
                if let Some(c) = hwdb_claim(e, &e.xdp_native, kernel) {
                    f.native = c;
                }
                if let Some(c) = hwdb_claim(e, &e.xdp_redirect, kernel) {
                    f.redirect = c;
                }
                if let Some(c) = hwdb_claim(e, &e.xdp_zero_copy, kernel) {
                    f.zero_copy = c;
                }
                if let Some(c) = hwdb_claim(e, &e.xdp_hw_offload, kernel) {
                    f.hw_offload = c;
                }
            }
        }
    }
    // A device that claims hardware offload is asked for real: load (never
    // attach) a trivial program bound to it.
    if f.hw_offload.value == Some(true) {
        let t = view.offload_trial(name, ifindex)?;
        f.trial = Some(Fact::new(
            t,
            "bpf(2) BPF_PROG_LOAD with prog_ifindex (not attached)",
        ));
    }
    Ok(f)
}

/// Switch ASICs on the PCI bus (by the hwdb's switch entries).
pub(super) fn probe_switches(
    view: &dyn SystemView,
    hwdb: &Hwdb,
) -> Result<Vec<SwitchFacts>, ProbeError> {
    let Some(addrs) = view.list("/sys/bus/pci/devices")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for a in addrs {
        let dir = format!("/sys/bus/pci/devices/{a}");
        // Only the ids are needed to recognise a switch.
        let (Some(v), Some(d)) = (
            hex_attr(view, &format!("{dir}/vendor"))?,
            hex_attr(view, &format!("{dir}/device"))?,
        ) else {
            continue;
        };
        let id = PciId {
            vendor: v as u16,
            device: d as u16,
            subsystem: None,
        };
        let Some(e) = hwdb.lookup_pci(id) else {
            continue;
        };
        if e.kind != DeviceKind::Switch || !matches!(e.key, Key::Pci { .. }) {
            continue;
        }
        let Some(pci) = pci_at(view, &dir)? else {
            continue;
        };
        let Some(arch) = &e.switch_arch else { continue };
        out.push(SwitchFacts {
            name: format!("switch-{a}"),
            pci: Fact::new(pci, format!("sysfs {dir}")),
            family: Fact::new(e.family.clone(), format!("hwdb {} ({})", e.file, e.key)),
            arch: Fact::new(
                arch.value.clone(),
                format!("hwdb {}: {}", e.file, arch.source),
            ),
            profile: e.offload_profile.as_ref().map(|p| p.value.clone()),
            tools: Fact::new(Default::default(), "not looked up yet"),
        });
    }
    Ok(out)
}
