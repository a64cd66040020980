//! The hardware database: what the kernel cannot tell us about a device.
//!
//! Data lives in `hwdb/data/*.toml` (embedded at build time): per PCI
//! vendor[:device[:subvendor:subdevice]] or per driver name, the family, the
//! driver, XDP native / zero-copy / hardware-offload support, the offload
//! profile, the switch architecture and offload limits — each claim with its
//! source. The probe uses it only to fill gaps (old kernels without
//! `xdp-features`, switch ASICs) and says when an answer came from here.
//! Names of PCI vendors and devices come from the `pci-ids` crate.

mod entry;
mod names;

pub use entry::{Claim, DeviceKind, Entry, Key, LimitClaims};
pub use names::{pci_names, PciNames};

use std::fmt;

/// The data files, embedded. (name, text)
pub const DATA: &[(&str, &str)] = &[
    ("netronome.toml", include_str!("../data/netronome.toml")),
    ("mellanox.toml", include_str!("../data/mellanox.toml")),
    ("intel.toml", include_str!("../data/intel.toml")),
    ("barefoot.toml", include_str!("../data/barefoot.toml")),
    ("virtual.toml", include_str!("../data/virtual.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum HwdbError {
    #[error("hwdb file {file}: {source}")]
    Toml {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("hwdb file {file}, entry {index} ({family}): {message}")]
    Invalid {
        file: String,
        index: usize,
        family: String,
        message: String,
    },
    #[error("hwdb: {key} appears twice ({first} and {second})")]
    Duplicate {
        key: String,
        first: String,
        second: String,
    },
}

/// A PCI identity to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PciId {
    pub vendor: u16,
    pub device: u16,
    pub subsystem: Option<(u16, u16)>,
}

impl fmt::Display for PciId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)?;
        if let Some((sv, sd)) = self.subsystem {
            write!(f, ":{sv:04x}:{sd:04x}")?;
        }
        Ok(())
    }
}

/// The loaded database.
#[derive(Debug, Clone)]
pub struct Hwdb {
    entries: Vec<Entry>,
}

impl Hwdb {
    /// The embedded database. The data is checked by this crate's tests, so a
    /// failure here is a build defect.
    pub fn builtin() -> Result<Hwdb, HwdbError> {
        Hwdb::parse(DATA)
    }

    /// Parses data files given as (name, text).
    pub fn parse(files: &[(&str, &str)]) -> Result<Hwdb, HwdbError> {
        let mut entries: Vec<Entry> = Vec::new();
        for (name, text) in files {
            for e in entry::parse_file(name, text)? {
                if let Some(prev) = entries.iter().find(|p| p.key == e.key) {
                    return Err(HwdbError::Duplicate {
                        key: e.key.to_string(),
                        first: prev.file.clone(),
                        second: e.file.clone(),
                    });
                }
                entries.push(e);
            }
        }
        Ok(Hwdb { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The most specific entry for a PCI identity: vendor:device:subsystem,
    /// then vendor:device, then vendor.
    pub fn lookup_pci(&self, id: PciId) -> Option<&Entry> {
        let score = |k: &Key| -> Option<u8> {
            match *k {
                Key::Pci {
                    vendor,
                    device,
                    subsystem,
                } if vendor == id.vendor => match (device, subsystem) {
                    (Some(d), Some(s)) if d == id.device && Some(s) == id.subsystem => Some(3),
                    (Some(d), None) if d == id.device => Some(2),
                    (None, None) => Some(1),
                    _ => None,
                },
                _ => None,
            }
        };
        self.entries
            .iter()
            .filter_map(|e| score(&e.key).map(|s| (s, e)))
            .max_by_key(|(s, _)| *s)
            .map(|(_, e)| e)
    }

    /// The entry for a software device's driver (veth, netdevsim, virtio_net…).
    pub fn lookup_driver(&self, driver: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| matches!(&e.key, Key::Driver(d) if d == driver))
    }

    /// Parses `VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE]` (hex) or a driver name and
    /// finds the entry.
    pub fn lookup_str(&self, query: &str) -> Result<Option<&Entry>, String> {
        if query.contains(':') {
            let id = parse_pci_id(query)?;
            Ok(self.lookup_pci(id))
        } else {
            Ok(self.lookup_driver(query))
        }
    }
}

/// Parses `1af4:1041` or `19ee:4000:19ee:0001` (hex, case-insensitive).
pub fn parse_pci_id(s: &str) -> Result<PciId, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let hex = |p: &str| {
        u16::from_str_radix(p.trim_start_matches("0x"), 16)
            .map_err(|_| format!("'{p}' in '{s}' is not a 16-bit hex number"))
    };
    match parts.as_slice() {
        [v, d] => Ok(PciId {
            vendor: hex(v)?,
            device: hex(d)?,
            subsystem: None,
        }),
        [v, d, sv, sd] => Ok(PciId {
            vendor: hex(v)?,
            device: hex(d)?,
            subsystem: Some((hex(sv)?, hex(sd)?)),
        }),
        _ => Err(format!(
            "'{s}' is not VENDOR:DEVICE or VENDOR:DEVICE:SUBVENDOR:SUBDEVICE (hex, e.g. 19ee:4000)"
        )),
    }
}

#[cfg(test)]
mod tests;
