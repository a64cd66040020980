//! Split placement: when the whole module does not fit a device's NIC
//! offload but a prefix of its stages does, propose running that prefix in
//! the NIC (XDP hardware offload) and the rest on the host (the target the
//! planner chose for the whole module, on the same interface: the kernel
//! keeps an offloaded and a driver/SKB-mode XDP program side by side,
//! `XDP_FLAGS_HW_MODE` beside `DRV_MODE`/`SKB_MODE`; tc ingress also runs
//! after an offloaded program's XDP_PASS).
//!
//! The longest prefix wins (most work in the NIC) among cut points where
//! - the prefix fits the NIC profile ([`super::check()`]) and compiles
//!   (the caller's `verify`, as for whole modules),
//! - nothing but the bytes must travel (`ir::split::carries` is empty):
//!   no NIC profile has a channel for more (`EbpfProfile::xdp_meta`), and
//! - the host half compiles for the host target.
//!
//! Every host stage comes with why it is not in the NIC: the first one with
//! what would break if the prefix took it too (unmet requirements of the
//! longer prefix, or what it would need to carry), later ones with their own
//! unmet requirements on the NIC profile, or "after a host stage" (stages
//! run in order, the NIC runs a prefix).

use super::check::{check, Need, Unmet};
use super::planner::{Availability, DeviceCaps, DevicePlan, Target};
use super::profile::Profile;
use crate::ir::split::{carries, split, stages, Carry};
use crate::ir::{DefaultVerdict, Module};

/// A host stage and why it is not in the NIC.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostStage {
    pub stage: String,
    /// Empty only for a stage that follows another host stage and would
    /// fit alone ([`HostStage::follows`] says which).
    pub reasons: Vec<Unmet>,
    /// The host stage before it, when that alone keeps it off the NIC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follows: Option<String>,
}

/// A proposed split on one device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SplitProposal {
    pub device: String,
    /// The first host stage's index (stages `0..at` in the NIC).
    pub at: usize,
    pub nic_target: Target,
    pub nic_profile: String,
    /// Stages in the NIC, in order.
    pub nic_stages: Vec<String>,
    pub host_target: Target,
    pub host_profile: String,
    pub host_stages: Vec<HostStage>,
    /// What travels from the NIC to the host: always the bytes only today.
    pub travels: String,
}

/// The planner's answer about a split on one device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "split", rename_all = "snake_case")]
pub enum SplitPlan {
    Proposed(SplitProposal),
    /// The device has a NIC offload the module does not fit, and no prefix
    /// fits either: why not even the first stage can go.
    None {
        device: String,
        first_stage: String,
        reasons: Vec<Unmet>,
    },
}

/// Compiles a module (a half) for a target; the binary passes the backend.
pub type Verify<'a> = dyn Fn(&Module, Target, &Profile) -> Vec<Unmet> + 'a;

fn carry_unmet(c: &Carry, profile: &Profile) -> Unmet {
    let (source, has_meta) = profile
        .ebpf()
        .map(|e| (e.xdp_meta.source.clone(), e.xdp_meta.value))
        .unwrap_or_else(|| ("not an eBPF profile".into(), false));
    Unmet {
        need: Need::SplitCarry {
            table: c.table().to_string(),
        },
        message: if has_meta {
            format!("{c}; offload does not generate a metadata hand-off")
        } else {
            format!(
                "{c}; {} has no channel for it besides the bytes (no XDP metadata)",
                profile.title
            )
        },
        source,
    }
}

/// Why stages `0..at` cannot all go in the NIC (empty: they can).
fn prefix_unmet(module: &Module, at: usize, profile: &Profile, verify: &Verify<'_>) -> Vec<Unmet> {
    let nic = stages(module, 0..at, module.name.clone(), DefaultVerdict::Pass);
    let mut out = check(&nic.requirements(), profile);
    if at < module.tables.len() {
        out.extend(carries(module, at).iter().map(|c| carry_unmet(c, profile)));
    }
    if out.is_empty() {
        out = verify(&nic, Target::XdpOffload, profile);
    }
    out
}

/// The split the planner proposes for `module` on `dev`, given the plan of
/// the whole module there. `None`: not a question on this device (no
/// available NIC offload, the whole module fits it, the chosen target is
/// not a host target, or one stage only).
pub fn propose(
    module: &Module,
    dev: &DeviceCaps,
    plan: &DevicePlan,
    verify: &Verify<'_>,
) -> Option<SplitPlan> {
    let offload = dev.offers.iter().find(|o| {
        o.target == Target::XdpOffload && matches!(o.availability, Availability::Yes { .. })
    })?;
    let host_target = plan.chosen?;
    if !matches!(
        host_target,
        Target::XdpNative | Target::XdpGeneric | Target::Tc
    ) || module.tables.len() < 2
    {
        return None;
    }
    let host_offer = dev.offers.iter().find(|o| o.target == host_target)?;
    let nic = &offload.profile;
    let n = module.tables.len();
    // Why each longer prefix fails, longest first; the first cut that works wins.
    let mut longer_fails: Option<Vec<Unmet>> = None;
    for at in (1..n).rev() {
        let unmet = prefix_unmet(module, at, nic, verify);
        if !unmet.is_empty() {
            longer_fails = Some(unmet);
            continue;
        }
        let s = split(module, at).ok()?;
        if !verify(&s.host, host_target, &host_offer.profile).is_empty() {
            continue;
        }
        let first_reasons = longer_fails.unwrap_or_else(|| prefix_unmet(module, n, nic, verify));
        let host_stages = (at..n)
            .map(|j| {
                let name = module.tables[j].name.clone();
                if j == at {
                    return HostStage {
                        stage: name,
                        reasons: first_reasons.clone(),
                        follows: None,
                    };
                }
                let alone = stages(module, j..j + 1, module.name.clone(), DefaultVerdict::Pass);
                let own = check(&alone.requirements(), nic);
                HostStage {
                    stage: name,
                    follows: own.is_empty().then(|| module.tables[j - 1].name.clone()),
                    reasons: own,
                }
            })
            .collect();
        return Some(SplitPlan::Proposed(SplitProposal {
            device: dev.device.clone(),
            at,
            nic_target: Target::XdpOffload,
            nic_profile: nic.name.clone(),
            nic_stages: module.tables[..at].iter().map(|t| t.name.clone()).collect(),
            host_target,
            host_profile: host_offer.profile.name.clone(),
            host_stages,
            travels: "the packet bytes only (rewrites and checksums in place); a packet no NIC stage decided leaves the NIC as XDP_PASS and the host half starts at its first stage".into(),
        }));
    }
    Some(SplitPlan::None {
        device: dev.device.clone(),
        first_stage: module.tables[0].name.clone(),
        reasons: prefix_unmet(module, 1, nic, verify),
    })
}
