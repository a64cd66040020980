//! One hwdb entry: a device identity and sourced claims about it.

use super::HwdbError;
use offload_core::plan::{Profile, Sourced};
use serde::Deserialize;
use std::fmt;

/// A claim and where it comes from; `since` is the first kernel release where it holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Claim<T> {
    pub value: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Nic,
    Switch,
    Virtual,
}

/// How an entry is found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Key {
    Pci {
        vendor: u16,
        device: Option<u16>,
        subsystem: Option<(u16, u16)>,
    },
    /// Software devices, by the driver name ethtool reports.
    Driver(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Pci {
                vendor,
                device,
                subsystem,
            } => {
                write!(f, "{vendor:04x}")?;
                if let Some(d) = device {
                    write!(f, ":{d:04x}")?;
                }
                if let Some((sv, sd)) = subsystem {
                    write!(f, ":{sv:04x}:{sd:04x}")?;
                }
                Ok(())
            }
            Key::Driver(d) => write!(f, "driver {d}"),
        }
    }
}

/// Offload limits an entry states (override the profile's defaults).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitClaims {
    pub max_entries_per_map: Option<Claim<u64>>,
    pub max_total_entries: Option<Claim<u64>>,
    pub max_key_bytes: Option<Claim<u32>>,
    pub max_value_bytes: Option<Claim<u32>>,
    pub max_elem_bytes: Option<Claim<u32>>,
    pub max_maps: Option<Claim<u32>>,
    pub max_insns: Option<Claim<u32>>,
    pub max_stack_bytes: Option<Claim<u32>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub key: Key,
    pub family: String,
    pub kind: DeviceKind,
    pub driver: Option<Claim<String>>,
    pub xdp_native: Option<Claim<bool>>,
    /// The driver's native XDP implements XDP_REDIRECT.
    pub xdp_redirect: Option<Claim<bool>>,
    pub xdp_zero_copy: Option<Claim<bool>>,
    pub xdp_hw_offload: Option<Claim<bool>>,
    pub offload_profile: Option<Claim<String>>,
    pub switch_arch: Option<Claim<String>>,
    pub firmware_flavour: Option<Claim<String>>,
    pub limits: LimitClaims,
    /// The data file it came from.
    pub file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    device: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    pci: Option<String>,
    driver_name: Option<String>,
    family: String,
    kind: DeviceKind,
    driver: Option<Claim<String>>,
    xdp_native: Option<Claim<bool>>,
    xdp_redirect: Option<Claim<bool>>,
    xdp_zero_copy: Option<Claim<bool>>,
    xdp_hw_offload: Option<Claim<bool>>,
    offload_profile: Option<Claim<String>>,
    switch_arch: Option<Claim<String>>,
    firmware_flavour: Option<Claim<String>>,
    #[serde(default)]
    limits: LimitClaims,
}

pub(crate) fn parse_file(file: &str, text: &str) -> Result<Vec<Entry>, HwdbError> {
    let raw: RawFile = toml::from_str(text).map_err(|source| HwdbError::Toml {
        file: file.to_string(),
        source,
    })?;
    raw.device
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            let invalid = |message: String| HwdbError::Invalid {
                file: file.to_string(),
                index,
                family: r.family.clone(),
                message,
            };
            let key = match (&r.pci, &r.driver_name) {
                (Some(p), None) => parse_key(p).map_err(invalid)?,
                (None, Some(d)) if !d.is_empty() => Key::Driver(d.clone()),
                _ => {
                    return Err(invalid(
                        "needs exactly one of `pci` or `driver_name`".into(),
                    ))
                }
            };
            if let Some(p) = &r.offload_profile {
                if Profile::by_name(&p.value).is_none() {
                    return Err(invalid(format!(
                        "offload_profile '{}' is not one of {:?}",
                        p.value,
                        Profile::NAMES
                    )));
                }
            }
            Ok(Entry {
                key,
                family: r.family,
                kind: r.kind,
                driver: r.driver,
                xdp_native: r.xdp_native,
                xdp_redirect: r.xdp_redirect,
                xdp_zero_copy: r.xdp_zero_copy,
                xdp_hw_offload: r.xdp_hw_offload,
                offload_profile: r.offload_profile,
                switch_arch: r.switch_arch,
                firmware_flavour: r.firmware_flavour,
                limits: r.limits,
                file: file.to_string(),
            })
        })
        .collect()
}

fn parse_key(s: &str) -> Result<Key, String> {
    let hex = |p: &str| {
        if p.len() != 4 {
            return Err(format!("pci '{s}': '{p}' must be 4 hex digits"));
        }
        u16::from_str_radix(p, 16).map_err(|_| format!("pci '{s}': '{p}' is not hex"))
    };
    let parts: Vec<&str> = s.split(':').collect();
    Ok(match parts.as_slice() {
        [v] => Key::Pci {
            vendor: hex(v)?,
            device: None,
            subsystem: None,
        },
        [v, d] => Key::Pci {
            vendor: hex(v)?,
            device: Some(hex(d)?),
            subsystem: None,
        },
        [v, d, sv, sd] => Key::Pci {
            vendor: hex(v)?,
            device: Some(hex(d)?),
            subsystem: Some((hex(sv)?, hex(sd)?)),
        },
        _ => {
            return Err(format!(
                "pci '{s}' must be VENDOR[:DEVICE[:SUBVENDOR:SUBDEVICE]]"
            ))
        }
    })
}

impl Entry {
    /// Every claim with its name, for listing and for the source check.
    pub fn claims(&self) -> Vec<(&'static str, String, &str)> {
        let mut out: Vec<(&'static str, String, &str)> = Vec::new();
        fn push<'a, T: fmt::Debug>(
            out: &mut Vec<(&'static str, String, &'a str)>,
            name: &'static str,
            c: &'a Option<Claim<T>>,
        ) {
            if let Some(c) = c {
                let v = format!("{:?}", c.value).trim_matches('"').to_string();
                let v = match &c.since {
                    Some(s) => format!("{v} (since {s})"),
                    None => v,
                };
                out.push((name, v, c.source.as_str()));
            }
        }
        push(&mut out, "driver", &self.driver);
        push(&mut out, "xdp_native", &self.xdp_native);
        push(&mut out, "xdp_redirect", &self.xdp_redirect);
        push(&mut out, "xdp_zero_copy", &self.xdp_zero_copy);
        push(&mut out, "xdp_hw_offload", &self.xdp_hw_offload);
        push(&mut out, "offload_profile", &self.offload_profile);
        push(&mut out, "switch_arch", &self.switch_arch);
        push(&mut out, "firmware_flavour", &self.firmware_flavour);
        let l = &self.limits;
        push(&mut out, "max_entries_per_map", &l.max_entries_per_map);
        push(&mut out, "max_total_entries", &l.max_total_entries);
        push(&mut out, "max_key_bytes", &l.max_key_bytes);
        push(&mut out, "max_value_bytes", &l.max_value_bytes);
        push(&mut out, "max_elem_bytes", &l.max_elem_bytes);
        push(&mut out, "max_maps", &l.max_maps);
        push(&mut out, "max_insns", &l.max_insns);
        push(&mut out, "max_stack_bytes", &l.max_stack_bytes);
        out
    }

    /// The offload profile this entry names, with its stated limits applied
    /// (each keeps the hwdb's source, prefixed `hwdb:`).
    pub fn profile(&self) -> Option<Profile> {
        let mut p = Profile::by_name(&self.offload_profile.as_ref()?.value)?;
        let l = &self.limits;
        fn set<T: Clone>(dst: &mut Option<Sourced<T>>, c: &Option<Claim<T>>, file: &str) {
            if let Some(c) = c {
                *dst = Some(Sourced::new(
                    c.value.clone(),
                    format!("hwdb {file}: {}", c.source),
                ));
            }
        }
        set(
            &mut p.limits.max_entries_per_map,
            &l.max_entries_per_map,
            &self.file,
        );
        set(
            &mut p.limits.max_total_entries,
            &l.max_total_entries,
            &self.file,
        );
        set(&mut p.limits.max_key_bytes, &l.max_key_bytes, &self.file);
        set(
            &mut p.limits.max_value_bytes,
            &l.max_value_bytes,
            &self.file,
        );
        set(&mut p.limits.max_elem_bytes, &l.max_elem_bytes, &self.file);
        set(&mut p.limits.max_maps, &l.max_maps, &self.file);
        set(&mut p.limits.max_insns, &l.max_insns, &self.file);
        set(
            &mut p.limits.max_stack_bytes,
            &l.max_stack_bytes,
            &self.file,
        );
        Some(p)
    }
}
