//! Vendor/device/subsystem names from the PCI ID repository (the `pci-ids`
//! crate embeds pci.ids, so hosts without `/usr/share/misc/pci.ids` get names too).

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PciNames {
    pub vendor: Option<&'static str>,
    pub device: Option<&'static str>,
    pub subsystem: Option<&'static str>,
    pub class: Option<&'static str>,
}

/// Names for a PCI identity; any part pci.ids does not know is `None`.
pub fn pci_names(
    vendor: u16,
    device: u16,
    subsystem: Option<(u16, u16)>,
    class: Option<u32>,
) -> PciNames {
    let v = pci_ids::Vendors::iter().find(|v| v.id() == vendor);
    let d = pci_ids::Device::from_vid_pid(vendor, device);
    let s = match (d, subsystem) {
        (Some(d), Some((sv, sd))) => d
            .subsystems()
            .find(|s| s.subvendor() == sv && s.subdevice() == sd)
            .map(|s| s.name()),
        _ => None,
    };
    // class is 0xCCSSPP (class, subclass, prog-if) as in sysfs.
    let c = class.and_then(|c| {
        pci_ids::Subclass::from_cid_sid((c >> 16) as u8, (c >> 8) as u8).map(|s| s.name())
    });
    PciNames {
        vendor: v.map(|v| v.name()),
        device: d.map(|d| d.name()),
        subsystem: s,
        class: c,
    }
}
