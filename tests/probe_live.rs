//! The real probe on veth devices this test creates: identity, XDP features
//! as facts of the moment (a veth's ndo-xmit follows its peer's XDP), the
//! current attachment read back over netlink, the refused offload trial, and a
//! recording that replays to the same report.

use offload_drivers::probe::{
    self, kernel, DeviceClass, FixtureSystem, LiveSystem, ProbeReport, Recorder,
};
use offload_drivers::sys::{self, attach_type, prog_load, prog_type, xdp_flags, Kernel, ProgSpec};
use offload_drivers::testenv::require_root;
use offload_hwdb::Hwdb;
use std::os::fd::AsFd;
use std::process::Command;

/// The tests of this file create and remove veths and attach programs while
/// the host probe lists every interface: a device that appears or changes
/// half-way through the record/replay test made the replay differ (seen once
/// in CI). Each test holds this lock, so they run one at a time (~0.2 s in all).
static HOST_NET: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    HOST_NET.lock().unwrap_or_else(|e| e.into_inner())
}

/// A veth pair in the root namespace with unique names, deleted on drop
/// (also while unwinding from a failed assertion).
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new(tag: &str) -> Veth {
        let id = std::process::id() % 100_000;
        let a = format!("op{tag}{id}a");
        let b = format!("op{tag}{id}b");
        let _ = Command::new("ip").args(["link", "del", &a]).output();
        let out = Command::new("ip")
            .args(["link", "add", &a, "type", "veth", "peer", "name", &b])
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip link add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for n in [&a, &b] {
            let out = Command::new("ip")
                .args(["link", "set", n, "up"])
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        Veth { a, b }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.a]).output();
    }
}

fn live() -> ProbeReport {
    probe::probe(&LiveSystem, &Hwdb::builtin().unwrap()).expect("live probe")
}

#[test]
fn veth_identity_and_features() {
    let _serial = one_at_a_time();
    if !require_root("probe on veth") {
        return;
    }
    let v = Veth::new("i");
    let r = live();
    let a = r.device(&v.a).expect("veth a probed");
    assert_eq!(a.class.value, DeviceClass::Veth);
    assert_eq!(a.driver.as_ref().unwrap().value, "veth");
    assert!(a.pci.is_none());
    assert_eq!(a.hwdb.as_ref().unwrap().key, "driver veth");
    let ifindex: u32 = std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", v.a))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(a.ifindex.value, ifindex);
    assert_eq!(a.xdp.attached.value.mode, "none");
    assert_eq!(a.xdp.hw_offload.value, Some(false));
    if r.kernel.netdev_family.value {
        assert_eq!(a.xdp.native.value, Some(true));
        assert_eq!(a.xdp.redirect.value, Some(true));
        assert!(a
            .xdp
            .features
            .as_ref()
            .unwrap()
            .value
            .contains(&"basic".to_string()));
    } else {
        assert!(a.xdp.native.from.starts_with("hwdb"));
    }
    // The kernel facts are real.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(r.kernel.release.value, release.trim());
    assert_eq!(
        r.kernel.btf.value,
        std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
    );
    assert_eq!(r.kernel.program_supported("xdp"), Some(true));
    assert_eq!(
        r.kernel.map_supported(offload_core::plan::MapType::LpmTrie),
        Some(true)
    );
}

#[test]
fn xdp_attachment_and_peer_ndo_xmit_are_read_back() {
    let _serial = one_at_a_time();
    if !require_root("probe of an XDP attachment") {
        return;
    }
    let v = Veth::new("x");
    let before = live();
    let a0 = before.device(&v.a).unwrap();
    let b_ifindex = before.device(&v.b).unwrap().ifindex.value;
    // Attach `return XDP_PASS` to b in driver mode; the probe must see it on b
    // and, on kernels with xdp-features, see a's ndo-xmit come on (veth can
    // only be a redirect target while its peer runs XDP).
    let insns: [u64; 2] = [0x0000_0002_0000_00b7, 0x0000_0000_0000_0095];
    let prog = prog_load(
        &Kernel,
        &ProgSpec {
            name: "probe_test",
            prog_type: prog_type::XDP,
            insns: &insns,
            license: "GPL",
            ifindex: 0,
            expected_attach_type: 0,
        },
    )
    .expect("load");
    let link = sys::link_create(
        &Kernel,
        prog.as_fd(),
        b_ifindex,
        attach_type::XDP,
        xdp_flags::DRV_MODE,
    )
    .expect("attach");
    let after = live();
    let b = after.device(&v.b).unwrap();
    assert_eq!(b.xdp.attached.value.mode, "driver", "{:?}", b.xdp.attached);
    assert!(b.xdp.attached.value.drv_prog_id.is_some());
    if after.kernel.netdev_family.value {
        let a1 = after.device(&v.a).unwrap();
        assert_eq!(a0.xdp.ndo_xmit.value, Some(false), "no XDP on the peer yet");
        assert_eq!(
            a1.xdp.ndo_xmit.value,
            Some(true),
            "peer has XDP now: {:?}",
            a1.xdp.features
        );
    }
    drop(link);
    drop(prog);
    let gone = live();
    assert_eq!(gone.device(&v.b).unwrap().xdp.attached.value.mode, "none");
}

#[test]
fn offload_trial_on_a_veth_is_refused_with_the_kernel_answer() {
    let _serial = one_at_a_time();
    if !require_root("offload trial load") {
        return;
    }
    let v = Veth::new("t");
    let r = live();
    let idx = r.device(&v.a).unwrap().ifindex.value;
    let t = kernel::trial_load(idx);
    assert!(!t.loaded, "veth cannot take an offloaded program: {t:?}");
    assert!(t.detail.contains(&idx.to_string()), "{}", t.detail);
}

#[test]
fn a_recording_replays_to_the_same_report() {
    let _serial = one_at_a_time();
    if !require_root("probe --record round trip") {
        return;
    }
    let v = Veth::new("r");
    let hwdb = Hwdb::builtin().unwrap();
    let dir = std::env::temp_dir().join(format!("offload-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let rec = Recorder::new(LiveSystem, &dir);
    let live_report = probe::probe(&rec, &hwdb).unwrap();
    rec.write("test recording").unwrap();
    let replay = probe::probe(&FixtureSystem::open(&dir).unwrap(), &hwdb).unwrap();
    assert!(replay.device(&v.a).is_some());
    let mut a = serde_json::to_value(&live_report).unwrap();
    let mut b = serde_json::to_value(&replay).unwrap();
    a["view"] = serde_json::Value::Null;
    b["view"] = serde_json::Value::Null;
    assert!(
        a == b,
        "the replay differs from the live probe at {}",
        first_difference(&a, &b, String::new())
    );
}

/// Where two JSON values first differ, as a path with both values.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: String) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (u, v) = (&x.get(k), &y.get(k));
                if u != v {
                    return match (u, v) {
                        (Some(u), Some(v)) => first_difference(u, v, format!("{at}.{k}")),
                        _ => format!("{at}.{k}: live {u:?}, replay {v:?}"),
                    };
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                if u != v {
                    return first_difference(u, v, format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
    format!("{at}: live {a}, replay {b}")
}

#[test]
fn a_probe_from_another_network_namespace_does_not_mix_up_devices() {
    let _serial = one_at_a_time();
    if !require_root("probe across network namespaces") {
        return;
    }
    // A thread inside a fresh netns still sees the root namespace's sysfs:
    // netlink and sysfs disagree, and the probe must say "unknown", not
    // attach another device's facts.
    let v = Veth::new("n");
    let ns = format!("opns{}", std::process::id() % 100_000);
    let out = Command::new("ip")
        .args(["netns", "add", &ns])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    struct Ns(String);
    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
        }
    }
    let _ns = Ns(ns.clone());
    let name = v.a.clone();
    let r = offload_drivers::lab::netns::in_netns(&ns, live).expect("enter netns");
    let a = r
        .device(&name)
        .expect("sysfs still lists the root namespace's veth");
    assert_eq!(a.xdp.native.value, None, "{:?}", a.xdp.native);
    assert!(
        a.xdp.native.from.contains("another namespace"),
        "{}",
        a.xdp.native.from
    );
}
