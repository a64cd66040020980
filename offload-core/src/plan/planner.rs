//! Requirements × device capabilities → one placement per device, with reasons.
//!
//! A device offers targets (what its hardware, driver and kernel can run),
//! each with a profile. The planner takes the most offloaded target whose
//! profile meets every requirement and records, for every target it did not
//! take, exactly why. It never changes the module to make it fit.

use super::check::{advise, check, Need, Unmet};
use super::profile::Profile;
use crate::ir::Requirements;
use std::fmt;

/// Where a module can run, most offloaded first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Target {
    #[serde(rename = "xdp-offload")]
    XdpOffload,
    #[serde(rename = "p4-tna")]
    P4Tna,
    #[serde(rename = "p4-v1model")]
    P4V1model,
    #[serde(rename = "xdp-native")]
    XdpNative,
    #[serde(rename = "xdp-generic")]
    XdpGeneric,
    #[serde(rename = "tc")]
    Tc,
}

impl Target {
    pub const ALL: [Target; 6] = [
        Target::XdpOffload,
        Target::P4Tna,
        Target::P4V1model,
        Target::XdpNative,
        Target::XdpGeneric,
        Target::Tc,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Target::XdpOffload => "xdp-offload",
            Target::XdpNative => "xdp-native",
            Target::XdpGeneric => "xdp-generic",
            Target::Tc => "tc",
            Target::P4V1model => "p4-v1model",
            Target::P4Tna => "p4-tna",
        }
    }
    pub fn from_name(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }
    /// Does the packet work happen off the host CPU?
    pub fn is_offload(self) -> bool {
        matches!(self, Target::XdpOffload | Target::P4Tna | Target::P4V1model)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a device can run a target at all, regardless of the module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Availability {
    /// Available; `evidence` says how we know (xdp-features bit, hwdb entry…).
    Yes { evidence: String },
    /// Not available, and why.
    No { reason: String, source: String },
}

/// One target a device offers, with the profile that applies there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Offer {
    pub target: Target,
    pub profile: Profile,
    pub availability: Availability,
    /// Said when this target is chosen for a module that forwards to another
    /// port (e.g. "veth peers need XDP attached to receive redirected frames").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_notes: Vec<String>,
}

/// What the planner knows about one device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceCaps {
    /// Interface name (`eth0`) or switch name.
    pub device: String,
    /// Human description ("Netronome Agilio CX (nfp)").
    pub description: String,
    pub offers: Vec<Offer>,
}

/// How the user wants targets chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Options {
    /// Force one target.
    pub mode: Option<Target>,
    /// Refuse any placement below the best target the device has.
    pub strict: bool,
}

/// A target not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub target: Target,
    pub reasons: Vec<Unmet>,
}

/// Why a device gets no placement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// `--mode X`: X cannot hold on this device.
    ForcedModeUnmet { target: Target },
    /// `--strict`: the best target the device has cannot hold.
    StrictBestUnmet { best: Target },
    /// No target fits.
    NothingFits,
}

/// The placement of the module on one device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DevicePlan {
    pub device: String,
    pub description: String,
    /// The chosen target, or why none.
    pub chosen: Option<Target>,
    pub profile: Option<String>,
    pub refusal: Option<Refusal>,
    /// The best target the device offers (what `--strict` insists on).
    pub best: Option<Target>,
    /// Every target considered and not chosen, with its unmet requirements.
    pub rejected: Vec<Rejection>,
    pub warnings: Vec<String>,
}

impl DevicePlan {
    pub fn reasons_for(&self, t: Target) -> Option<&[Unmet]> {
        self.rejected
            .iter()
            .find(|r| r.target == t)
            .map(|r| r.reasons.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    pub devices: Vec<DevicePlan>,
}

impl Plan {
    /// Every device got a placement.
    pub fn is_complete(&self) -> bool {
        self.devices.iter().all(|d| d.chosen.is_some())
    }
    pub fn device(&self, name: &str) -> Option<&DevicePlan> {
        self.devices.iter().find(|d| d.device == name)
    }
}

fn unavailable(reason: &str, source: &str) -> Unmet {
    Unmet {
        need: Need::Unavailable,
        message: reason.to_string(),
        source: source.to_string(),
    }
}

/// Places a module on each device.
pub fn plan(req: &Requirements, devices: &[DeviceCaps], opts: Options) -> Plan {
    plan_with(req, devices, opts, &|_, _| Vec::new())
}

/// [`plan`] with an extra test run on every target that passes [`check`]:
/// the binary passes the backends' real compilation here, so that what is
/// planned also compiles (the requirement check models the backends; the
/// compiler knows them).
pub fn plan_with(
    req: &Requirements,
    devices: &[DeviceCaps],
    opts: Options,
    verify: &dyn Fn(Target, &Profile) -> Vec<Unmet>,
) -> Plan {
    Plan {
        devices: devices
            .iter()
            .map(|d| plan_device_with(req, d, opts, verify))
            .collect(),
    }
}

/// Places a module on one device.
pub fn plan_device(req: &Requirements, dev: &DeviceCaps, opts: Options) -> DevicePlan {
    plan_device_with(req, dev, opts, &|_, _| Vec::new())
}

/// [`plan_device`] with an extra test (see [`plan_with`]).
pub fn plan_device_with(
    req: &Requirements,
    dev: &DeviceCaps,
    opts: Options,
    verify: &dyn Fn(Target, &Profile) -> Vec<Unmet>,
) -> DevicePlan {
    let mut offers: Vec<&Offer> = dev.offers.iter().collect();
    offers.sort_by_key(|o| o.target);
    let best = offers
        .iter()
        .find(|o| matches!(o.availability, Availability::Yes { .. }))
        .map(|o| o.target);
    let mut rejected = Vec::new();
    let mut chosen: Option<&Offer> = None;
    // Targets below the chosen one are not rejected, just not needed.
    for o in &offers {
        if chosen.is_some() {
            break;
        }
        let mut reasons = match &o.availability {
            Availability::No { reason, source } => vec![unavailable(reason, source)],
            Availability::Yes { .. } => {
                let r = check(req, &o.profile);
                if r.is_empty() {
                    verify(o.target, &o.profile)
                } else {
                    r
                }
            }
        };
        // --mode and --strict combine: a forced mode below the best target
        // is refused under --strict too.
        let policy = match opts.mode {
            Some(m) if o.target != m => Some(format!("not the forced mode (--mode {m})")),
            _ if opts.strict && Some(o.target) != best => Some(format!(
                "below the best target of this device, {} (--strict)",
                best.map(|b| b.name()).unwrap_or("none")
            )),
            _ => None,
        };
        if reasons.is_empty() && policy.is_none() {
            chosen = Some(o);
            continue;
        }
        if let Some(p) = policy {
            reasons.insert(
                0,
                Unmet {
                    need: Need::NotSelected,
                    message: p,
                    source: "command line".into(),
                },
            );
        }
        rejected.push(Rejection {
            target: o.target,
            reasons,
        });
    }
    if let Some(m) = opts.mode {
        if !offers.iter().any(|o| o.target == m) {
            rejected.push(Rejection {
                target: m,
                reasons: vec![unavailable(
                    &format!("{} does not offer {m}", dev.device),
                    "probe",
                )],
            });
        }
    }
    let refusal = if chosen.is_some() {
        None
    } else if let Some(m) = opts.mode {
        Some(Refusal::ForcedModeUnmet { target: m })
    } else if opts.strict {
        best.map(|b| Refusal::StrictBestUnmet { best: b })
            .or(Some(Refusal::NothingFits))
    } else {
        Some(Refusal::NothingFits)
    };
    let mut warnings = chosen.map(|o| advise(req, &o.profile)).unwrap_or_default();
    if req.redirect {
        if let Some(o) = chosen {
            warnings.extend(o.redirect_notes.iter().cloned());
        }
    }
    DevicePlan {
        device: dev.device.clone(),
        description: dev.description.clone(),
        chosen: chosen.map(|o| o.target),
        profile: chosen.map(|o| o.profile.name.clone()),
        refusal,
        best,
        rejected,
        warnings,
    }
}
