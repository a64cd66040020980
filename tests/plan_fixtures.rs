//! Plans for every example module on every recorded host, with the reasons
//! for every rejected target.

use offload_core::plan::{self, Need, Options, Plan, Refusal, Target};
use offload_drivers::probe::{self, plan_devices, FixtureSystem};
use offload_hwdb::Hwdb;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn plan_on(example: &str, host: &str, opts: Options) -> Plan {
    let src =
        std::fs::read_to_string(root().join("examples").join(format!("{example}.toml"))).unwrap();
    let module = offload_core::spec::compile(&src).unwrap_or_else(|d| panic!("{example}: {d:?}"));
    let hwdb = Hwdb::builtin().unwrap();
    let view = FixtureSystem::open(&root().join("tests/fixtures/hosts").join(host)).unwrap();
    let report = probe::probe(&view, &hwdb).unwrap();
    let devices = plan_devices(&report, &hwdb, &[]).unwrap();
    plan::plan(&module.requirements(), &devices, opts)
}

fn auto(example: &str, host: &str) -> Plan {
    plan_on(example, host, Options::default())
}

fn needs(p: &Plan, dev: &str, t: Target) -> Vec<String> {
    p.device(dev)
        .unwrap()
        .reasons_for(t)
        .unwrap_or_else(|| panic!("{t} was not rejected on {dev}"))
        .iter()
        .map(|u| {
            serde_json::to_value(&u.need).unwrap()["need"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn chosen(p: &Plan, dev: &str) -> Option<Target> {
    p.device(dev).unwrap().chosen
}

#[test]
fn nfp_ddos_filter_is_offloaded() {
    let p = auto("ddos-filter", "nfp-agilio-cx");
    for dev in ["enp3s0np0", "enp3s0np1"] {
        let d = p.device(dev).unwrap();
        assert_eq!(d.chosen, Some(Target::XdpOffload), "{d:#?}");
        assert_eq!(d.profile.as_deref(), Some("nfp"));
        assert!(d.rejected.is_empty());
    }
}

#[test]
fn nfp_edge_router_is_refused_offload_for_lpm_and_redirect() {
    let p = auto("edge-router", "nfp-agilio-cx");
    let d = p.device("enp3s0np0").unwrap();
    let off = d.reasons_for(Target::XdpOffload).unwrap();
    assert_eq!(
        needs(&p, "enp3s0np0", Target::XdpOffload),
        ["match_kind", "redirect"]
    );
    assert!(
        off[0]
            .message
            .contains("uses lpm; the NFP offload profile has no LPM trie"),
        "{}",
        off[0]
    );
    assert!(off[0].source.contains("kernel/bpf/offload.c"));
    assert!(off[1].message.contains("no XDP_REDIRECT"), "{}", off[1]);
    // The nfp driver's native XDP has no XDP_REDIRECT either (xdp-features lists
    // no `redirect`; nfd3/dp.c handles PASS/TX/DROP only), so forwarding
    // falls back to generic XDP.
    assert_eq!(needs(&p, "enp3s0np0", Target::XdpNative), ["redirect"]);
    assert_eq!(d.chosen, Some(Target::XdpGeneric));
}

#[test]
fn nfp_l2_switch_is_refused_offload_for_redirect_only() {
    let p = auto("l2-switch", "nfp-agilio-cx");
    assert_eq!(needs(&p, "enp3s0np0", Target::XdpOffload), ["redirect"]);
    assert_eq!(needs(&p, "enp3s0np0", Target::XdpNative), ["redirect"]);
    assert_eq!(chosen(&p, "enp3s0np0"), Some(Target::XdpGeneric));
}

#[test]
fn nfp_strict_refuses_the_fallback() {
    let p = plan_on(
        "edge-router",
        "nfp-agilio-cx",
        Options {
            mode: None,
            strict: true,
        },
    );
    let d = p.device("enp3s0np0").unwrap();
    assert_eq!(d.chosen, None);
    assert_eq!(
        d.refusal,
        Some(Refusal::StrictBestUnmet {
            best: Target::XdpOffload
        })
    );
    assert!(!p.is_complete());
    let p = plan_on(
        "ddos-filter",
        "nfp-agilio-cx",
        Options {
            mode: None,
            strict: true,
        },
    );
    assert!(p.is_complete());
}

#[test]
fn forced_offload_gets_the_same_reasons_as_an_error() {
    let opts = Options {
        mode: Some(Target::XdpOffload),
        strict: false,
    };
    let p = plan_on("edge-router", "nfp-agilio-cx", opts);
    let d = p.device("enp3s0np0").unwrap();
    assert_eq!(
        d.refusal,
        Some(Refusal::ForcedModeUnmet {
            target: Target::XdpOffload
        })
    );
    assert_eq!(
        needs(&p, "enp3s0np0", Target::XdpOffload),
        ["match_kind", "redirect"]
    );
    // Forcing tc works and records why the better ones were not taken.
    let p = plan_on(
        "edge-router",
        "nfp-agilio-cx",
        Options {
            mode: Some(Target::Tc),
            strict: false,
        },
    );
    assert_eq!(chosen(&p, "enp3s0np0"), Some(Target::Tc));
    assert_eq!(needs(&p, "enp3s0np1", Target::XdpGeneric), ["not_selected"]);
}

#[test]
fn nics_without_offload_run_every_example_natively() {
    for host in ["mlx5-connectx5", "ice-e810", "virtio-vm"] {
        for ex in ["ddos-filter", "edge-router", "l2-switch"] {
            let p = auto(ex, host);
            let nic = p
                .devices
                .iter()
                .find(|d| {
                    d.description.contains("ConnectX")
                        || d.description.contains("E810")
                        || d.description.contains("virtio")
                })
                .unwrap_or_else(|| panic!("{host}: no NIC in {p:#?}"));
            assert_eq!(
                nic.chosen,
                Some(Target::XdpNative),
                "{ex} on {host}: {nic:#?}"
            );
            assert_eq!(needs(&p, &nic.device, Target::XdpOffload), ["unavailable"]);
        }
    }
}

#[test]
fn old_kernel_plans_from_hwdb_facts() {
    for ex in ["ddos-filter", "edge-router", "l2-switch"] {
        let p = auto(ex, "ixgbe-kernel-5.15");
        for dev in ["ens2f0", "veth0"] {
            assert_eq!(chosen(&p, dev), Some(Target::XdpNative), "{ex} on {dev}");
            let why = &p
                .device(dev)
                .unwrap()
                .reasons_for(Target::XdpOffload)
                .unwrap()[0];
            assert!(why.source.starts_with("hwdb "), "{why}");
        }
    }
}

#[test]
fn tofino_switch_takes_every_example_in_tna() {
    for ex in ["ddos-filter", "edge-router", "l2-switch"] {
        let p = auto(ex, "tofino-switch");
        let sw = p.device("switch-0000:05:00.0").unwrap();
        assert_eq!(sw.chosen, Some(Target::P4Tna), "{ex}");
        assert_eq!(sw.profile.as_deref(), Some("tna"));
        // The management NIC (igb, unknown to the hwdb, kernel 5.4): generic XDP,
        // with "unknown" rather than a guess as the reason against native.
        let nic = p.device("enp4s0").unwrap();
        assert_eq!(nic.chosen, Some(Target::XdpGeneric));
        assert!(nic.reasons_for(Target::XdpNative).unwrap()[0]
            .message
            .starts_with("unknown whether"));
    }
}

#[test]
fn netdevsim_budget_refuses_tables_larger_than_two() {
    let p = auto("ddos-filter", "netdevsim-kernel-6.1");
    let d = p.device("eni1np1").unwrap();
    let off = d.reasons_for(Target::XdpOffload).unwrap();
    assert!(
        off.iter().all(|u| matches!(
            u.need,
            Need::MapEntries { limit: 2, .. } | Need::TernaryMasks { .. }
        )),
        "{off:#?}"
    );
    assert!(
        off[0].source.contains("drivers/net/netdevsim/bpf.c"),
        "{}",
        off[0]
    );
    assert_eq!(d.chosen, Some(Target::XdpNative));
    let p = auto("l2-switch", "netdevsim-kernel-6.1");
    assert!(needs(&p, "eni1np1", Target::XdpOffload).contains(&"redirect".to_string()));
}

#[test]
fn every_example_gets_a_placement_on_every_host() {
    let hosts: Vec<String> = std::fs::read_dir(root().join("tests/fixtures/hosts"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for host in &hosts {
        for ex in ["ddos-filter", "edge-router", "l2-switch"] {
            let p = auto(ex, host);
            assert!(p.is_complete(), "{ex} on {host}: {p:#?}");
            for d in &p.devices {
                // Every rejection carries at least one reason with a source.
                for r in &d.rejected {
                    assert!(
                        !r.reasons.is_empty() && r.reasons.iter().all(|u| !u.source.is_empty())
                    );
                }
            }
        }
    }
}

#[test]
fn nfp_without_the_bpf_firmware_is_not_offered_offload() {
    // A 5.x kernel (no xdp-features, so the hwdb claims hw offload) with the
    // NFP running its plain NIC firmware: the firmware flavour check refuses.
    let dir = std::env::temp_dir().join(format!("offload-nfp-nic-fw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(root().join("tests/fixtures/hosts/nfp-agilio-cx"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(dir.join("answers.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["netdev"] = serde_json::Value::Null;
    for p in ["enp3s0np0", "enp3s0np1"] {
        v["ethtool"][p]["fw_version"] = "0.0.3.5 0.25 nic-2.1.16.1 nic".into();
    }
    std::fs::write(dir.join("answers.json"), v.to_string()).unwrap();
    std::fs::write(dir.join("proc/sys/kernel/osrelease"), "5.15.0-91-generic\n").unwrap();

    let src = std::fs::read_to_string(root().join("examples/ddos-filter.toml")).unwrap();
    let module = offload_core::spec::compile(&src).unwrap();
    let hwdb = Hwdb::builtin().unwrap();
    let report = probe::probe(&FixtureSystem::open(&dir).unwrap(), &hwdb).unwrap();
    let devices = plan_devices(&report, &hwdb, &["enp3s0np0".to_string()]).unwrap();
    let p = plan::plan(&module.requirements(), &devices, Options::default());
    let d = p.device("enp3s0np0").unwrap();
    assert_eq!(d.chosen, Some(Target::XdpNative), "{d:#?}");
    let why = &d.reasons_for(Target::XdpOffload).unwrap()[0];
    assert!(
        why.message.contains("application 'nic'") && why.message.contains("bpf flavour"),
        "{why}"
    );
}

#[test]
fn what_passes_planning_compiles() {
    // The requirement check alone (no compile hook) must already agree with
    // the eBPF backend on every example and host.
    use offload_ebpf::codegen;
    use offload_ebpf::layout::Hook;
    let hwdb = Hwdb::builtin().unwrap();
    for host in std::fs::read_dir(root().join("tests/fixtures/hosts")).unwrap() {
        let host = host.unwrap().path();
        if !host.is_dir() {
            continue;
        }
        let report = probe::probe(&FixtureSystem::open(&host).unwrap(), &hwdb).unwrap();
        let devices = plan_devices(&report, &hwdb, &[]).unwrap();
        for ex in ["ddos-filter", "edge-router", "l2-switch"] {
            let src = std::fs::read_to_string(root().join("examples").join(format!("{ex}.toml")))
                .unwrap();
            let module = offload_core::spec::compile(&src).unwrap();
            let p = plan::plan(&module.requirements(), &devices, Options::default());
            for (d, caps) in p.devices.iter().zip(&devices) {
                let Some(t) = d.chosen else { continue };
                let hook = match t {
                    Target::Tc => Hook::Tc,
                    Target::P4Tna | Target::P4V1model => continue,
                    _ => Hook::Xdp,
                };
                let offer = caps.offers.iter().find(|o| o.target == t).unwrap();
                let r =
                    codegen::compile(&module, &codegen::Target::new(hook, offer.profile.clone()));
                assert!(
                    r.is_ok(),
                    "{ex} on {} {}: planned {t} but: {}",
                    host.display(),
                    d.device,
                    r.err().unwrap()
                );
            }
        }
    }
}

#[test]
fn bmv2_host_offers_the_v1model_software_switch() {
    for ex in ["ddos-filter", "edge-router", "l2-switch"] {
        let p = auto(ex, "bmv2-host");
        let sw = p.device("bmv2").unwrap();
        assert_eq!(sw.chosen, Some(Target::P4V1model), "{ex}");
        assert!(sw
            .warnings
            .iter()
            .any(|w| w.contains("checked by the switch compiler")));
        assert_eq!(chosen(&p, "veth0"), Some(Target::XdpNative));
    }
}

#[test]
fn forwarding_over_a_veth_without_ndo_xmit_is_warned_about() {
    let p = auto("l2-switch", "bmv2-host");
    let d = p.device("veth0").unwrap();
    assert_eq!(d.chosen, Some(Target::XdpNative));
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("no ndo-xmit") && w.contains("peer runs an XDP program")),
        "{:?}",
        d.warnings
    );
    // A module that does not forward gets no such warning.
    let p = auto("ddos-filter", "bmv2-host");
    assert!(p
        .device("veth0")
        .unwrap()
        .warnings
        .iter()
        .all(|w| !w.contains("ndo-xmit")));
}

#[test]
fn the_instruction_estimate_stays_above_the_compiled_program() {
    // The planner budgets instructions before compiling (NFP: ~2,800); its
    // estimate must not undercount what offload-ebpf emits.
    use offload_core::plan::{layout, Profile};
    use offload_ebpf::codegen;
    use offload_ebpf::layout::Hook;
    for ex in ["ddos-filter", "edge-router", "l2-switch"] {
        let src =
            std::fs::read_to_string(root().join("examples").join(format!("{ex}.toml"))).unwrap();
        let m = offload_core::spec::compile(&src).unwrap();
        for p in [Profile::kernel(), Profile::nfp()] {
            let Ok(c) = codegen::compile(&m, &codegen::Target::new(Hook::Xdp, p.clone())) else {
                continue;
            };
            let est = layout::estimate_insns(
                &m.requirements(),
                p.limits.max_ternary_masks.as_ref().map(|s| s.value),
            );
            let real = c.program.insns.len() as u32;
            assert!(
                est >= real,
                "{ex} on {}: estimate {est} < compiled {real}",
                p.name
            );
        }
    }
}
