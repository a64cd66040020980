//! The probe on recorded hosts: facts and their sources, the hwdb fallback on
//! old kernels, and clear errors (never panics) on broken recordings.

use offload_drivers::probe::{self, DeviceClass, FixtureSystem, ProbeError, ProbeReport};
use offload_hwdb::Hwdb;
use std::path::{Path, PathBuf};

fn hosts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts")
}

fn probe_fixture(name: &str) -> ProbeReport {
    let view = FixtureSystem::open(&hosts().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    probe::probe(&view, &Hwdb::builtin().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn try_probe(dir: &Path) -> Result<ProbeReport, ProbeError> {
    let view = FixtureSystem::open(dir)?;
    probe::probe(&view, &Hwdb::builtin().unwrap())
}

#[test]
fn every_recorded_host_probes() {
    let mut n = 0;
    for e in std::fs::read_dir(hosts()).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let r = probe_fixture(&name);
        assert!(
            r.devices.iter().any(|d| d.name == "lo"),
            "{name}: no loopback"
        );
        assert!(
            e.path().join("README.md").is_file(),
            "{name}: a recorded host says where its facts come from"
        );
        n += 1;
    }
    assert!(n >= 7, "{n} recorded hosts");
}

#[test]
fn nfp_host_offers_hardware_offload_from_xdp_features_and_a_trial_load() {
    let r = probe_fixture("nfp-agilio-cx");
    let d = r.device("enp3s0np0").unwrap();
    assert_eq!(d.class.value, DeviceClass::Pci);
    let pci = &d.pci.as_ref().unwrap().value;
    assert_eq!((pci.vendor, pci.device), (0x19ee, 0x4000));
    assert_eq!(pci.address, "0000:03:00.0");
    assert_eq!(pci.names.vendor, Some("Netronome Systems, Inc."));
    assert_eq!(d.driver.as_ref().unwrap().value, "nfp");
    assert_eq!(d.driver.as_ref().unwrap().from, "ethtool GDRVINFO");
    assert!(d.firmware.as_ref().unwrap().value.ends_with("ebpf"));
    assert_eq!(d.xdp.hw_offload.value, Some(true));
    assert!(d.xdp.hw_offload.from.starts_with("netlink netdev"));
    assert_eq!(d.xdp.redirect.value, Some(false));
    assert!(d.xdp.trial.as_ref().unwrap().value.loaded);
    assert_eq!(
        d.hwdb.as_ref().unwrap().offload_profile.as_deref(),
        Some("nfp")
    );
    assert!(r.kernel.netdev_family.value);
}

#[test]
fn old_kernel_facts_come_from_the_hwdb_and_say_so() {
    let r = probe_fixture("ixgbe-kernel-5.15");
    assert!(!r.kernel.netdev_family.value);
    assert_eq!(r.kernel.version, Some((5, 15)));
    let d = r.device("ens2f0").unwrap();
    assert!(d.xdp.features.is_none());
    assert_eq!(d.xdp.native.value, Some(true));
    assert!(
        d.xdp.native.from.starts_with("hwdb intel.toml"),
        "{}",
        d.xdp.native.from
    );
    assert_eq!(d.xdp.hw_offload.value, Some(false));
    let v = r.device("veth0").unwrap();
    assert_eq!(v.class.value, DeviceClass::Veth);
    assert!(v.pci.is_none());
    assert!(v.xdp.native.from.starts_with("hwdb virtual.toml"));
    // Nobody knows anything about the loopback's XDP: unknown, not "no".
    assert_eq!(r.device("lo").unwrap().xdp.native.value, None);
}

#[test]
fn netdevsim_on_61_is_offload_capable_through_hwdb_and_trial() {
    let r = probe_fixture("netdevsim-kernel-6.1");
    let d = r.device("eni1np1").unwrap();
    assert_eq!(d.class.value, DeviceClass::Netdevsim);
    assert_eq!(d.xdp.hw_offload.value, Some(true));
    assert!(d.xdp.hw_offload.from.starts_with("hwdb virtual.toml"));
    assert!(d.xdp.trial.as_ref().unwrap().value.loaded);
    assert!(r.kernel.bpffs.value.is_empty());
}

#[test]
fn virtio_pci_ids_come_from_the_parent_device() {
    let r = probe_fixture("virtio-vm");
    let d = r.device("eth0").unwrap();
    assert_eq!(d.class.value, DeviceClass::Virtio);
    let pci = d.pci.as_ref().unwrap();
    assert_eq!((pci.value.vendor, pci.value.device), (0x1af4, 0x1041));
    assert!(pci.from.contains("PCI parent of"), "{}", pci.from);
    assert_eq!(pci.value.names.device, Some("Virtio 1.0 network device"));
    assert_eq!(d.hwdb.as_ref().unwrap().key, "1af4:1041");
}

#[test]
fn tofino_is_found_as_a_switch_with_its_architecture() {
    let r = probe_fixture("tofino-switch");
    assert_eq!(r.switches.len(), 1);
    let s = &r.switches[0];
    assert_eq!(s.arch.value, "tna");
    assert!(s.arch.from.starts_with("hwdb barefoot.toml"));
    assert_eq!(s.pci.value.names.device, Some("Tofino 1"));
    assert!(!r.kernel.btf.value);
    // igb is not in the hwdb and 5.4 has no xdp-features: unknown.
    assert_eq!(r.device("enp4s0").unwrap().xdp.native.value, None);
}

/// A copy of a recorded host in a scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn copy_of(host: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("offload-fixture-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(hosts().join(host))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success());
        Scratch(dir)
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err_of(s: &Scratch) -> String {
    match try_probe(&s.0) {
        Ok(_) => panic!("a broken recording was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_answers_file_says_how_to_make_one() {
    let s = Scratch::copy_of("ice-e810");
    std::fs::remove_file(s.path("answers.json")).unwrap();
    let e = err_of(&s);
    assert!(e.contains("answers.json") && e.contains("--record"), "{e}");
}

#[test]
fn malformed_answers_name_line_and_column() {
    let s = Scratch::copy_of("ice-e810");
    std::fs::write(s.path("answers.json"), "{\n  \"source\": 3\n}\n").unwrap();
    let e = err_of(&s);
    assert!(e.contains("answers.json line 2"), "{e}");
    std::fs::write(s.path("answers.json"), "{ not json").unwrap();
    assert!(err_of(&s).contains("answers.json line 1"));
}

#[test]
fn garbage_in_sysfs_files_is_a_clear_error() {
    let s = Scratch::copy_of("ice-e810");
    std::fs::write(s.path("sys/class/net/ens1f0/ifindex"), "two\n").unwrap();
    let e = err_of(&s);
    assert!(e.contains("ens1f0/ifindex") && e.contains("\"two\""), "{e}");

    let s = Scratch::copy_of("ice-e810");
    std::fs::write(
        s.path("sys/devices/pci0000:00/0000:17:00.0/vendor"),
        "intel\n",
    )
    .unwrap();
    let e = err_of(&s);
    assert!(e.contains("vendor") && e.contains("hex"), "{e}");
}

#[test]
fn missing_sysfs_files_are_named() {
    let s = Scratch::copy_of("ice-e810");
    std::fs::remove_file(s.path("sys/class/net/ens1f0/ifindex")).unwrap();
    let e = err_of(&s);
    assert!(
        e.contains("ifindex of ens1f0") && e.contains("missing"),
        "{e}"
    );

    let s = Scratch::copy_of("ice-e810");
    std::fs::remove_file(s.path("proc/sys/kernel/osrelease")).unwrap();
    assert!(err_of(&s).contains("kernel release"));

    let s = Scratch::copy_of("ice-e810");
    std::fs::remove_dir_all(s.path("sys/class")).unwrap();
    assert!(err_of(&s).contains("not a recorded host"));
}

#[test]
fn a_device_without_an_ethtool_answer_is_named() {
    let s = Scratch::copy_of("ice-e810");
    let text = std::fs::read_to_string(s.path("answers.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["ethtool"].as_object_mut().unwrap().remove("ens1f0");
    std::fs::write(s.path("answers.json"), v.to_string()).unwrap();
    let e = err_of(&s);
    assert!(e.contains("no ethtool answer for ens1f0"), "{e}");
}

#[test]
fn a_symlink_leaving_the_recording_is_refused() {
    let s = Scratch::copy_of("ice-e810");
    let link = s.path("sys/class/net/ens1f0");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/sys/class/net/lo", &link).unwrap();
    let e = err_of(&s);
    assert!(e.contains("outside the fixture"), "{e}");
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let e = try_probe(Path::new("/nonexistent/offload/host"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot open the directory"), "{e}");
}

#[test]
fn no_garbage_in_any_recorded_file_makes_the_probe_panic() {
    // Every regular file of a recording, replaced in turn by each of a few
    // kinds of garbage: the probe answers or errs, it never panics.
    let s = Scratch::copy_of("nfp-agilio-cx");
    let mut files = Vec::new();
    let mut stack = vec![s.0.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                files.push(e.path());
            }
        }
    }
    assert!(files.len() > 20);
    let garbage: [&[u8]; 6] = [
        b"",
        b"\xff\xfe\x00",
        b"0x",
        b"-1\n",
        b"99999999999999999999\n",
        b"{\"source\": []}",
    ];
    let mut errors = 0;
    for f in &files {
        let orig = std::fs::read(f).unwrap();
        for g in garbage {
            std::fs::write(f, g).unwrap();
            if try_probe(&s.0).is_err() {
                errors += 1;
            }
        }
        std::fs::write(f, orig).unwrap();
    }
    assert!(errors > 0, "garbage was never noticed");
    assert!(try_probe(&s.0).is_ok(), "restored recording probes again");
}
