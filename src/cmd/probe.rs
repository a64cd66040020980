//! `offloadctl probe [--json] [--system DIR] [--record DIR]`: what every device,
//! the kernel and the switches of a host can do, and where each fact comes from.

use anyhow::Context as _;
use offload_drivers::probe::{
    self, Fact, FixtureSystem, LiveSystem, ProbeReport, Recorder, SystemView,
};
use offload_hwdb::Hwdb;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Options of `offloadctl probe`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// JSON output (every fact with its source)
    #[arg(long)]
    pub json: bool,
    /// Read a recorded host (a directory written by --record) instead of this system
    #[arg(long, value_name = "DIR")]
    pub system: Option<PathBuf>,
    /// Also write what was read into DIR, so the host can be replayed with --system DIR
    #[arg(long, value_name = "DIR", conflicts_with = "system")]
    pub record: Option<PathBuf>,
}

/// Probes the live system or a recorded one.
pub fn probe_host(system: Option<&PathBuf>, hwdb: &Hwdb) -> anyhow::Result<ProbeReport> {
    Ok(match system {
        Some(dir) => {
            let view = FixtureSystem::open(dir)?;
            probe::probe(&view, hwdb)?
        }
        None => probe::probe(&LiveSystem, hwdb)?,
    })
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let hwdb = Hwdb::builtin()?;
    let report = match &args.record {
        Some(dir) => {
            let rec = Recorder::new(LiveSystem, dir);
            let report = probe::probe(&rec, &hwdb)?;
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            rec.write(&format!(
                "recorded with `offloadctl probe --record` on {} (kernel {})",
                host.trim(),
                report.kernel.release.value
            ))
            .with_context(|| format!("writing the recording to {}", dir.display()))?;
            eprintln!(
                "recorded {} into {} (replay: offloadctl probe --system {})",
                rec.describe(),
                dir.display(),
                dir.display()
            );
            report
        }
        None => probe_host(args.system.as_ref(), &hwdb)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report_text(&report));
    }
    Ok(0)
}

fn yn(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

fn fact<T: std::fmt::Display>(f: &Fact<T>) -> String {
    format!("{}  [{}]", f.value, f.from)
}

/// The readable report: a device table, then every fact with its source.
pub fn report_text(r: &ProbeReport) -> String {
    let mut s = String::new();
    let k = &r.kernel;
    let _ = writeln!(s, "host: {}", r.view);
    let _ = writeln!(
        s,
        "kernel {}: BTF {}, bpffs {}, JIT {}, netdev xdp-features {}",
        k.release.value,
        if k.btf.value { "yes" } else { "no" },
        if k.bpffs.value.is_empty() {
            "not mounted".to_string()
        } else {
            k.bpffs.value.join(",")
        },
        match k.jit.value {
            Some(0) => "off",
            Some(_) => "on",
            None => "?",
        },
        if k.netdev_family.value {
            "yes"
        } else {
            "no (kernel < 6.3: XDP facts from the hwdb)"
        }
    );
    let b = &k.bpf.value;
    let missing: Vec<&String> = b
        .program_types
        .iter()
        .chain(b.map_types.iter())
        .chain(b.helpers.iter())
        .filter(|(_, v)| !**v)
        .map(|(n, _)| n)
        .collect();
    let _ = writeln!(
        s,
        "bpf: {} program types, {} map types, {} helpers probed; refused: {}",
        b.program_types.len(),
        b.map_types.len(),
        b.helpers.len(),
        if missing.is_empty() {
            "none".to_string()
        } else {
            missing
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if let Some(e) = &b.error {
        let _ = writeln!(s, "bpf probes: {e}");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<16} {:<9} {:<11} {:<10} {:<6} {:<8} {:<7} {:<8} {:<9} FAMILY",
        "DEVICE", "CLASS", "DRIVER", "PCI", "NATIVE", "REDIRECT", "OFFLOAD", "ZC", "ATTACHED"
    );
    for d in &r.devices {
        let family = d
            .hwdb
            .as_ref()
            .map(|h| h.family.clone())
            .or_else(|| {
                d.pci
                    .as_ref()
                    .and_then(|p| p.value.names.device.map(String::from))
            })
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:<16} {:<9} {:<11} {:<10} {:<6} {:<8} {:<7} {:<8} {:<9} {}",
            d.name,
            d.class.value.name(),
            d.driver.as_ref().map(|x| x.value.as_str()).unwrap_or("-"),
            d.pci
                .as_ref()
                .map(|p| format!("{:04x}:{:04x}", p.value.vendor, p.value.device))
                .unwrap_or_else(|| "-".into()),
            yn(d.xdp.native.value),
            yn(d.xdp.redirect.value),
            yn(d.xdp.hw_offload.value),
            yn(d.xdp.zero_copy.value),
            d.xdp.attached.value.mode,
            family
        );
    }
    for sw in &r.switches {
        let _ = writeln!(
            s,
            "{:<16} {:<9} {:<11} {:<10} {}  arch {}",
            sw.name,
            "switch",
            sw.pci.value.pci_driver.as_deref().unwrap_or("-"),
            format!("{:04x}:{:04x}", sw.pci.value.vendor, sw.pci.value.device),
            sw.family.value,
            sw.arch.value
        );
    }
    for sw in &r.soft_switches {
        let _ = writeln!(
            s,
            "{:<16} {:<9} {}",
            sw.name,
            "p4-soft",
            sw.binaries
                .value
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let _ = writeln!(s, "\nfacts and their sources:");
    for d in &r.devices {
        let _ = writeln!(s, "{} (ifindex {})", d.name, fact(&d.ifindex));
        let _ = writeln!(s, "  class: {:?}  [{}]", d.class.value, d.class.from);
        if let Some(p) = &d.pci {
            let v = &p.value;
            let _ = writeln!(
                s,
                "  pci: {:04x}:{:04x}{} at {} ({} / {})  [{}; names from pci-ids]",
                v.vendor,
                v.device,
                v.subsystem
                    .map(|(a, b)| format!(" subsystem {a:04x}:{b:04x}"))
                    .unwrap_or_default(),
                v.address,
                v.names.vendor.unwrap_or("?"),
                v.names.device.unwrap_or("not in pci.ids"),
                p.from
            );
        }
        for (label, f) in [
            ("driver", &d.driver),
            ("driver version", &d.driver_version),
            ("firmware", &d.firmware),
            ("bus", &d.bus_info),
        ] {
            if let Some(f) = f {
                let _ = writeln!(s, "  {label}: {}", fact(f));
            }
        }
        if let Some(h) = &d.hwdb {
            let _ = writeln!(s, "  hwdb: {} ({}, hwdb/data/{})", h.family, h.key, h.file);
        }
        let x = &d.xdp;
        if let Some(f) = &x.features {
            let _ = writeln!(
                s,
                "  xdp-features: {}  [{}]",
                if f.value.is_empty() {
                    "none".into()
                } else {
                    f.value.join(" ")
                },
                f.from
            );
        }
        if let Some(f) = &x.rx_metadata {
            let _ = writeln!(
                s,
                "  xdp-rx-metadata-features: {}  [{}]",
                if f.value.is_empty() {
                    "none".into()
                } else {
                    f.value.join(" ")
                },
                f.from
            );
        }
        for (label, f) in [
            ("native", &x.native),
            ("redirect", &x.redirect),
            ("ndo-xmit", &x.ndo_xmit),
            ("zero-copy", &x.zero_copy),
            ("hw-offload", &x.hw_offload),
        ] {
            let _ = writeln!(s, "  xdp {label}: {}  [{}]", yn(f.value), f.from);
        }
        let a = &x.attached.value;
        let ids: Vec<String> = [
            ("prog", a.prog_id),
            ("drv", a.drv_prog_id),
            ("skb", a.skb_prog_id),
            ("hw", a.hw_prog_id),
        ]
        .iter()
        .filter_map(|(n, v)| v.map(|v| format!("{n} {v}")))
        .collect();
        let _ = writeln!(
            s,
            "  xdp attached: {}{}  [{}]",
            a.mode,
            if ids.is_empty() {
                String::new()
            } else {
                format!(" ({})", ids.join(", "))
            },
            x.attached.from
        );
        if let Some(t) = &x.trial {
            let _ = writeln!(
                s,
                "  offload trial load: {} — {}  [{}]",
                if t.value.loaded { "loaded" } else { "refused" },
                t.value.detail,
                t.from
            );
        }
    }
    for sw in &r.switches {
        let _ = writeln!(
            s,
            "{}: {}  [{}]; arch {}  [{}]; SDE tools on PATH: {}",
            sw.name,
            sw.family.value,
            sw.family.from,
            sw.arch.value,
            sw.arch.from,
            if sw.tools.value.is_empty() {
                "none".to_string()
            } else {
                sw.tools.value.keys().cloned().collect::<Vec<_>>().join(" ")
            }
        );
    }
    s
}
