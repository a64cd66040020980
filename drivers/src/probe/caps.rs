//! From probed facts to what the planner needs: per device, the targets it
//! offers, each with its profile and how we know it is available (or why not).

use super::{DeviceClass, DeviceFacts, ProbeReport};
use offload_core::plan::{
    Availability, DeviceCaps, Family, Helper, MapType, Offer, Profile, Sourced, Target, XdpAction,
};
use offload_hwdb::Hwdb;
use std::collections::BTreeSet;

fn yes(evidence: impl Into<String>) -> Availability {
    Availability::Yes {
        evidence: evidence.into(),
    }
}

fn no(reason: impl Into<String>, source: impl Into<String>) -> Availability {
    Availability::No {
        reason: reason.into(),
        source: source.into(),
    }
}

/// The kernel profile narrowed to what this kernel's bpf(2) probes accepted.
fn kernel_profile(report: &ProbeReport) -> Profile {
    let bpf = &report.kernel.bpf.value;
    let mut p = Profile::kernel();
    if !bpf.map_types.is_empty() {
        let ok: BTreeSet<MapType> = MapType::ALL
            .into_iter()
            .filter(|m| bpf.map_types.get(m.name()).copied().unwrap_or(true))
            .collect();
        p = p.restrict_maps(
            &ok,
            &format!(
                "{} on {}",
                report.kernel.bpf.from, report.kernel.release.value
            ),
        );
    }
    if !bpf.helpers.is_empty() {
        let ok: BTreeSet<Helper> = Helper::ALL
            .into_iter()
            .filter(|h| bpf.helpers.get(h.name()).copied().unwrap_or(true))
            .collect();
        p = p.restrict_helpers(
            &ok,
            &format!(
                "{} on {}",
                report.kernel.bpf.from, report.kernel.release.value
            ),
        );
    }
    p
}

/// Removes XDP_REDIRECT from a profile: the device's native XDP cannot redirect.
fn without_redirect(mut p: Profile, dev: &DeviceFacts) -> Profile {
    if let Family::Ebpf(e) = &mut p.family {
        let mut acts = e.actions.value.clone();
        acts.remove(&XdpAction::Redirect);
        let why = match dev.xdp.redirect.value {
            Some(false) => format!(
                "{}: {} has no XDP_REDIRECT in native mode",
                dev.xdp.redirect.from, dev.name
            ),
            _ => format!(
                "{}: unknown whether {} can redirect",
                dev.xdp.redirect.from, dev.name
            ),
        };
        e.actions = Sourced::new(acts, why);
    }
    p.title = format!("native XDP on {}", dev.name);
    p
}

fn hwdb_entry<'a>(hwdb: &'a Hwdb, dev: &DeviceFacts) -> Option<&'a offload_hwdb::Entry> {
    dev.pci
        .as_ref()
        .and_then(|p| hwdb.lookup_pci(p.value.id()))
        .or_else(|| {
            dev.driver
                .as_ref()
                .and_then(|d| hwdb.lookup_driver(&d.value))
        })
}

/// The hwdb names the firmware flavour offload needs (NFP: the BPF
/// application); the running firmware's application name (last word of
/// ethtool's firmware version) must be it.
fn firmware_mismatch(hwdb: &Hwdb, dev: &DeviceFacts) -> Option<String> {
    let e = hwdb_entry(hwdb, dev)?;
    let want = e.firmware_flavour.as_ref()?;
    let fw = dev.firmware.as_ref()?;
    let app = fw.value.split_whitespace().last().unwrap_or("");
    if app.contains(want.value.as_str()) {
        return None;
    }
    Some(format!(
        "{} runs firmware '{}' (application '{app}'), not the {} flavour offload needs ({})",
        dev.name, fw.value, want.value, want.source
    ))
}

/// A device that is not a redirect target right now (no ndo-xmit) drops the
/// frames other devices' native XDP programs redirect to it.
fn native_redirect_notes(dev: &DeviceFacts) -> Vec<String> {
    if dev.xdp.ndo_xmit.value != Some(false) {
        return Vec::new();
    }
    let hint = if dev.class.value == DeviceClass::Veth {
        " (a veth takes redirected frames only while its peer runs an XDP program)"
    } else {
        ""
    };
    vec![format!(
        "{} cannot receive frames redirected by native XDP right now: no ndo-xmit in its xdp-features{hint}",
        dev.name
    )]
}

/// The targets one network device offers.
pub fn device_caps(report: &ProbeReport, hwdb: &Hwdb, dev: &DeviceFacts) -> DeviceCaps {
    let kernel = kernel_profile(report);
    let x = &dev.xdp;
    let mut offers = Vec::new();

    // Hardware offload: the device says so (xdp-features or hwdb), a trial load
    // bound to it succeeded, and the hwdb knows its offload profile.
    let offload = match x.hw_offload.value {
        Some(true) => match hwdb_entry(hwdb, dev).and_then(|e| e.profile()) {
            None => (
                Profile::netdevsim(),
                no(
                    format!(
                        "{} claims hw-offload but the hwdb names no offload profile for it",
                        dev.name
                    ),
                    x.hw_offload.from.clone(),
                ),
            ),
            Some(p) if firmware_mismatch(hwdb, dev).is_some() => (
                p,
                no(
                    firmware_mismatch(hwdb, dev).unwrap_or_default(),
                    "ethtool GDRVINFO firmware version vs hwdb firmware_flavour",
                ),
            ),
            Some(p) => match &x.trial {
                Some(t) if !t.value.loaded => (
                    p,
                    no(
                        format!(
                            "a trial load bound to {} was refused: {}",
                            dev.name, t.value.detail
                        ),
                        t.from.clone(),
                    ),
                ),
                Some(t) => (p, yes(format!("{}; {}", x.hw_offload.from, t.value.detail))),
                None => (p, yes(x.hw_offload.from.clone())),
            },
        },
        Some(false) => (
            Profile::nfp(),
            no(
                format!("{} has no XDP hardware offload", dev.name),
                x.hw_offload.from.clone(),
            ),
        ),
        None => (
            Profile::nfp(),
            no(
                format!("unknown whether {} has XDP hardware offload", dev.name),
                x.hw_offload.from.clone(),
            ),
        ),
    };
    offers.push(Offer {
        target: Target::XdpOffload,
        profile: offload.0,
        availability: offload.1,
        redirect_notes: Vec::new(),
    });

    let native_profile = if x.redirect.value == Some(true) {
        let mut p = kernel.clone();
        p.title = format!("native XDP on {}", dev.name);
        p
    } else {
        without_redirect(kernel.clone(), dev)
    };
    let native = match x.native.value {
        Some(true) => yes(x.native.from.clone()),
        Some(false) => no(
            format!("{} has no native (driver) XDP", dev.name),
            x.native.from.clone(),
        ),
        None => no(
            format!("unknown whether {} has native XDP", dev.name),
            x.native.from.clone(),
        ),
    };
    offers.push(Offer {
        target: Target::XdpNative,
        profile: native_profile,
        availability: native,
        redirect_notes: native_redirect_notes(dev),
    });

    let k = &report.kernel;
    let prog = |name: &str, since: &str| match k.program_supported(name) {
        Some(true) => yes(format!("{} ({name})", k.bpf.from)),
        Some(false) => no(
            format!("the kernel refuses {name} programs"),
            k.bpf.from.clone(),
        ),
        None => {
            if k.bpf.value.error.is_some() {
                no(
                    format!(
                        "could not probe {name} programs: {}",
                        k.bpf.value.error.clone().unwrap_or_default()
                    ),
                    k.bpf.from.clone(),
                )
            } else {
                yes(format!(
                    "assumed: kernel {} is newer than {since}",
                    k.release.value
                ))
            }
        }
    };
    let mut generic = kernel.clone();
    generic.title = "generic XDP".into();
    offers.push(Offer {
        target: Target::XdpGeneric,
        profile: generic,
        availability: prog("xdp", "4.12"),
        redirect_notes: Vec::new(),
    });
    let mut tc = kernel;
    tc.title = "tc (cls_bpf)".into();
    offers.push(Offer {
        target: Target::Tc,
        profile: tc,
        availability: prog("sched_cls", "4.1"),
        redirect_notes: Vec::new(),
    });

    let description = [
        dev.hwdb.as_ref().map(|h| h.family.clone()),
        dev.pci
            .as_ref()
            .and_then(|p| p.value.names.device.map(String::from)),
        Some(dev.class.value.name()),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_default();
    let driver = dev
        .driver
        .as_ref()
        .map(|d| d.value.clone())
        .unwrap_or_else(|| "?".into());
    DeviceCaps {
        device: dev.name.clone(),
        description: format!("{description} ({driver})"),
        offers,
    }
}

/// Every placement candidate of a host: network devices (not loopback),
/// switch ASICs and software switches; `on` restricts to those names.
pub fn plan_devices(
    report: &ProbeReport,
    hwdb: &Hwdb,
    on: &[String],
) -> Result<Vec<DeviceCaps>, String> {
    let mut all = Vec::new();
    for d in &report.devices {
        if d.class.value == DeviceClass::Loopback {
            continue;
        }
        all.push(device_caps(report, hwdb, d));
    }
    for s in &report.switches {
        let profile = s
            .profile
            .as_deref()
            .and_then(Profile::by_name)
            .unwrap_or_else(Profile::tna);
        all.push(DeviceCaps {
            device: s.name.clone(),
            description: format!("{} at {}", s.family.value, s.pci.value.address),
            offers: vec![Offer {
                target: Target::P4Tna,
                profile,
                availability: yes(format!(
                    "{}; arch {} ({}); {}",
                    s.family.from,
                    s.arch.value,
                    s.arch.from,
                    if s.tools.value.contains_key("bf-p4c") {
                        "bf-p4c on PATH".to_string()
                    } else {
                        "bf-p4c not on PATH here: the generated P4 is compiled with the SDE elsewhere".to_string()
                    }
                )),
                redirect_notes: Vec::new(),
            }],
        });
    }
    for s in &report.soft_switches {
        let sw = s
            .binaries
            .value
            .get("simple_switch")
            .cloned()
            .unwrap_or_default();
        all.push(DeviceCaps {
            device: s.name.clone(),
            description: "BMv2 simple_switch (software P4 switch)".into(),
            offers: vec![Offer {
                target: Target::P4V1model,
                profile: Profile::v1model(),
                availability: yes(format!("simple_switch at {sw}")),
                redirect_notes: Vec::new(),
            }],
        });
    }
    if on.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for name in on {
        match all.iter().find(|d| &d.device == name) {
            Some(d) => out.push(d.clone()),
            None => {
                let known: Vec<&str> = all.iter().map(|d| d.device.as_str()).collect();
                return Err(format!(
                    "no device named {name} on {} (devices: {})",
                    report.view,
                    known.join(", ")
                ));
            }
        }
    }
    Ok(out)
}
