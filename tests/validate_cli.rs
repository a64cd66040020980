//! `offloadctl validate`: vectors files in both formats (text with
//! expectations, pcapng with ports from interface names), the matrix as
//! JSON, JUnit XML read back by a real XML deserialiser (quick-xml + serde,
//! strict structs), the non-root run (as `nobody`: the reference runs, the
//! rest says it needs root), bad input, and — with root — a deliberately
//! injected generator bug (`OFFLOAD_TEST_CORRUPT_REWRITE=1`) that must make
//! validate fail naming the frame, class and target while the reference
//! column passes; the same run without the bug passes on every kernel
//! target; BMv2 where the P4 toolchain is installed.

use offload_drivers::testenv;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROUTER: &str = "examples/edge-router.toml";
/// From the README: UDP 10.0.1.2 → 192.168.1.10 in on uplink, routed to servers.
const IN: &str =
    "02000000000102000000000a080045000020000100004011ae180a000102c0a8010a9c400035000c000070696e67";
const OUT: &str =
    "020000000002020000000001080045000020000100003f11af180a000102c0a8010a9c400035000c000070696e67";

fn offloadctl(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_offloadctl"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d =
            std::env::temp_dir().join(format!("offload-validate-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn target<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {doc:#}"))
}

// --- JUnit, as a CI system reads it -----------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSuites {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@tests")]
    tests: usize,
    #[serde(rename = "@failures")]
    failures: usize,
    #[serde(rename = "@errors")]
    errors: usize,
    #[serde(rename = "@skipped")]
    skipped: usize,
    #[serde(rename = "testsuite", default)]
    suites: Vec<TestSuite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSuite {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@tests")]
    tests: usize,
    #[serde(rename = "@failures")]
    failures: usize,
    #[serde(rename = "@errors")]
    errors: usize,
    #[serde(rename = "@skipped")]
    skipped: usize,
    #[serde(rename = "@time")]
    time: f64,
    #[serde(rename = "testcase", default)]
    cases: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    #[serde(rename = "@classname")]
    classname: String,
    #[serde(rename = "@name")]
    name: String,
    failure: Option<Failure>,
    skipped: Option<Skipped>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Failure {
    #[serde(rename = "@message")]
    message: String,
    #[serde(rename = "$text", default)]
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Skipped {
    #[serde(rename = "@message")]
    message: String,
}

/// Parses JUnit XML and checks that every count agrees with its testcases.
fn junit(path: &str) -> TestSuites {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: TestSuites = quick_xml::de::from_str(&text)
        .unwrap_or_else(|e| panic!("JUnit XML does not parse: {e}\n{text}"));
    let (mut t, mut f, mut s) = (0, 0, 0);
    for suite in &doc.suites {
        assert_eq!(suite.tests, suite.cases.len(), "{}", suite.name);
        let fails = suite.cases.iter().filter(|c| c.failure.is_some()).count();
        let skips = suite.cases.iter().filter(|c| c.skipped.is_some()).count();
        assert_eq!(suite.failures, fails, "{}", suite.name);
        assert_eq!(suite.skipped, skips, "{}", suite.name);
        assert_eq!(suite.errors, 0);
        assert!(suite.time >= 0.0);
        for c in &suite.cases {
            assert!(c.classname.starts_with("validate."), "{}", c.classname);
            assert!(!c.name.is_empty());
            assert!(!(c.failure.is_some() && c.skipped.is_some()));
            if let Some(s) = &c.skipped {
                assert!(s.message.starts_with("not run: "), "{}", s.message);
            }
        }
        t += suite.tests;
        f += fails;
        s += skips;
    }
    assert_eq!(
        (doc.tests, doc.failures, doc.skipped, doc.errors),
        (t, f, s, 0)
    );
    assert!(doc.name.starts_with("offloadctl validate "));
    doc
}

// --- Without privileges ------------------------------------------------------

#[test]
fn text_vectors_with_expectations_judge_the_reference() {
    let s = Scratch::new("txt");
    let v = s.file("v.txt");
    std::fs::write(
        &v,
        format!(
            "# edge-router, from the README\nuplink {IN} -> forward servers {OUT}\nuplink {IN} -> drop class=edge\nuplink 0200 -> pass same\nnone {IN}\n"
        ),
    )
    .unwrap();
    let j = s.file("out.xml");
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--vectors",
            &v,
            "--targets",
            "reference",
            "--json",
            "--junit",
            &j,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["vectors"]["count"], 4);
    assert_eq!(doc["passed"], false);
    let r = target(&doc, "reference");
    assert_eq!(r["status"], "fail");
    let fails = r["failures"].as_array().unwrap();
    assert_eq!(fails.len(), 1, "{fails:#?}");
    // The wrong expectation, by line, with its class from `class=`.
    assert_eq!(fails[0]["origin"], format!("{v}:3"));
    assert_eq!(fails[0]["class"], "edge");
    assert_eq!(fails[0]["frame"], IN);
    assert_eq!(fails[0]["reference"]["output"], OUT);
    assert!(fails[0]["target"]["what"]
        .as_str()
        .unwrap()
        .contains("expects Drop"));
    // Only the reference was asked for.
    assert_eq!(doc["targets"].as_array().unwrap().len(), 1);

    let x = junit(&j);
    assert_eq!(x.suites.len(), 1);
    assert_eq!(x.tests, 4);
    assert_eq!(x.failures, 1);
    let failed: Vec<&TestCase> = x.suites[0]
        .cases
        .iter()
        .filter(|c| c.failure.is_some())
        .collect();
    assert_eq!(failed[0].classname, "validate.reference.edge");
    assert!(
        failed[0].name.ends_with(&format!("{v}:3")),
        "{}",
        failed[0].name
    );
    let f = failed[0].failure.as_ref().unwrap();
    assert!(
        f.text.contains(IN) && f.message.contains("expects Drop"),
        "{f:?}"
    );

    // The same file without the wrong line passes.
    std::fs::write(
        &v,
        format!("uplink {IN} -> forward servers {OUT}\nuplink {IN} -> forward 2 same\n"),
    )
    .unwrap();
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--vectors",
            &v,
            "--targets",
            "reference",
            "--json",
        ],
        &[],
    );
    // `same` means unchanged, and the router rewrites: the second line fails.
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let doc = json(&o);
    let fails = target(&doc, "reference")["failures"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(fails.len(), 1);
    assert_eq!(fails[0]["origin"], format!("{v}:2"));
    std::fs::write(&v, format!("uplink {IN} -> forward servers {OUT}\n")).unwrap();
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--vectors",
            &v,
            "--targets",
            "reference",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("no target disagreed"), "{}", stdout(&o));
}

fn write_pcapng(path: &str, frames: &[(u32, Vec<u8>)], ifaces: &[&str]) {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::{
        InterfaceDescriptionBlock, InterfaceDescriptionOption,
    };
    use pcap_file::pcapng::PcapNgWriter;
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapNgWriter::new(f).unwrap();
    for name in ifaces {
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: pcap_file::DataLink::ETHERNET,
            snaplen: 0,
            options: vec![InterfaceDescriptionOption::IfName((*name).into())],
        })
        .unwrap();
    }
    for (iface, data) in frames {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: *iface,
            timestamp: std::time::Duration::from_secs(1),
            original_len: data.len() as u32,
            data: data.as_slice().into(),
            options: vec![],
        })
        .unwrap();
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn pcapng_vectors_take_the_port_from_the_interface_name() {
    let s = Scratch::new("pcapng");
    let p = s.file("v.pcapng");
    // The README frame on `uplink`, and again on `servers`, where the route
    // is the same but meta.in_port differs (the reference decides).
    write_pcapng(
        &p,
        &[(0, unhex(IN)), (1, unhex(IN))],
        &["uplink", "servers"],
    );
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--vectors",
            &p,
            "--targets",
            "reference",
            "--json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["vectors"]["count"], 2);
    assert_eq!(target(&doc, "reference")["classes"]["hit"]["pass"], 2);
    // A classic pcap names no interfaces: --in-port, else the first port.
    let c = s.file("v.pcap");
    {
        use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
        let f = std::fs::File::create(&c).unwrap();
        let mut w = PcapWriter::with_header(
            f,
            PcapHeader {
                datalink: pcap_file::DataLink::ETHERNET,
                ..Default::default()
            },
        )
        .unwrap();
        let data = unhex(IN);
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_secs(1),
            data.len() as u32,
            &data,
        ))
        .unwrap();
    }
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--vectors",
            &c,
            "--in-port",
            "servers",
            "--targets",
            "reference",
            "--json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(json(&o)["vectors"]["count"], 1);
    assert_eq!(target(&json(&o), "reference")["classes"]["hit"]["pass"], 1);
    // --in-port is resolved against the module for a classic pcap.
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--vectors",
            &c,
            "--in-port",
            "srvers",
            "--targets",
            "reference",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `servers`"),
        "{}",
        stderr(&o)
    );
    // An interface name that is no port is an error saying which frame.
    write_pcapng(&p, &[(0, unhex(IN))], &["eth7"]);
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--vectors",
            &p,
            "--targets",
            "reference",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("#1 was captured on interface `eth7`") && e.contains("uplink"),
        "{e}"
    );
}

#[test]
fn bad_input_says_what_and_where() {
    let s = Scratch::new("bad");
    let v = s.file("v.txt");
    std::fs::write(&v, "uplink 00112233445566778899aabbccdd\nuplnk 0011\n").unwrap();
    let o = offloadctl(&["validate", ROUTER, "--vectors", &v], &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains(&format!("{v}:2:1:")) && e.contains("did you mean `uplink`"),
        "{e}"
    );
    let o = offloadctl(
        &["validate", ROUTER, "--targets", "reference,xdp-tst-run"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `xdp-test-run`"),
        "{}",
        stderr(&o)
    );
    let o = offloadctl(&["validate", ROUTER, "--generate", "0"], &[]);
    assert_eq!(o.status.code(), Some(2));
    // A refused module: its diagnostics, exit 1, nothing run.
    let m = s.file("bad.toml");
    std::fs::write(&m, "[module]\nname = \"x\"\n").unwrap();
    let o = offloadctl(&["validate", &m], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

/// As `nobody`: the reference runs and passes; every other target is "not
/// run" and says it needs root — none of them is a pass.
#[test]
fn as_nobody_the_reference_runs_and_the_rest_needs_root() {
    let test = "as_nobody_the_reference_runs_and_the_rest_needs_root";
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Already unprivileged: run as we are.
        let o = offloadctl(&["validate", ROUTER, "--generate", "40", "--json"], &[]);
        check_unprivileged(&o);
        return;
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        if std::env::var(testenv::REQUIRE_ENV).as_deref() == Ok("1") {
            panic!("{test}: setpriv (util-linux) is missing");
        }
        testenv::announce_skip(test, "setpriv (util-linux) is missing");
        return;
    }
    // Somewhere nobody can read: the binary and the module.
    let s = Scratch::new("nobody");
    let bin = s.file("offloadctl");
    std::fs::copy(env!("CARGO_BIN_EXE_offloadctl"), &bin).unwrap();
    let module = s.file("edge-router.toml");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(ROUTER), &module).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [&s.0.display().to_string(), &bin, &module] {
        let mode = if p == &module { 0o644 } else { 0o755 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let o = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&bin)
        .args(["validate", &module, "--generate", "40", "--json"])
        .env("NO_COLOR", "1")
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .output()
        .unwrap();
    check_unprivileged(&o);
}

fn check_unprivileged(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(o), stderr(o));
    let doc = json(o);
    let r = target(&doc, "reference");
    assert_eq!(r["status"], "pass");
    assert_eq!(r["frames_run"], 40);
    for t in doc["targets"].as_array().unwrap() {
        if t["name"] == "reference" {
            continue;
        }
        assert_eq!(t["status"], "not run", "{t:#}");
        assert_eq!(t["needs_root"], true);
        let why = t["reason"].as_str().unwrap();
        if t["name"] != "netdevsim" {
            assert!(why.contains("needs root (CAP_BPF/CAP_NET_ADMIN)"), "{t:#}");
        }
    }
}

// --- With root: the kernel targets --------------------------------------------

const KERNEL_TARGETS: &str = "reference,xdp-test-run,tc-test-run,xdp-live,tc-live";

#[test]
fn an_injected_generator_bug_fails_with_the_right_frame() {
    let test = "an_injected_generator_bug_fails_with_the_right_frame";
    if !testenv::require_root(test) {
        return;
    }
    let s = Scratch::new("bug");
    let j = s.file("junit.xml");
    // Without the bug: every kernel target agrees.
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--generate",
            "120",
            "--targets",
            KERNEL_TARGETS,
            "--json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    for t in [
        "reference",
        "xdp-test-run",
        "tc-test-run",
        "xdp-live",
        "tc-live",
    ] {
        let t = target(&doc, t);
        assert_eq!(t["status"], "pass", "{t:#}");
        assert!(t["frames_run"].as_u64().unwrap() >= 60, "{t:#}");
    }
    assert!(
        target(&doc, "xdp-test-run")["counters"]["checked"]
            .as_u64()
            .unwrap()
            > 0
    );

    // With it: the eBPF targets fail, the reference does not.
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--generate",
            "120",
            "--targets",
            KERNEL_TARGETS,
            "--json",
            "--junit",
            &j,
        ],
        &[("OFFLOAD_TEST_CORRUPT_REWRITE", "1")],
    );
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    assert_eq!(target(&doc, "reference")["status"], "pass");
    // Frames the reference sends out with a rewritten MAC.
    let rewrites_mac = |f: &Value| {
        let frame = f["frame"].as_str().unwrap();
        let out = f["reference"]["output"].as_str().unwrap();
        frame.len() >= 24 && out.len() >= 24 && frame[..24] != out[..24]
    };
    for name in ["xdp-test-run", "tc-test-run", "xdp-live", "tc-live"] {
        let t = target(&doc, name);
        assert_eq!(t["status"], "fail", "{name}: {t:#}");
        let fails = t["failures"].as_array().unwrap();
        assert!(!fails.is_empty(), "{name}");
        for f in fails {
            // Each failure names its frame and class, the reference's answer
            // and what the target did: the MAC bytes differ.
            assert!(
                rewrites_mac(f),
                "{name}: a failure on a frame without a MAC rewrite: {f:#}"
            );
            assert!(
                f["class"].is_string() && f["origin"].as_str().unwrap().starts_with("generated #")
            );
            let what = f["target"]["what"].as_str().unwrap();
            assert!(what.contains("first difference at byte"), "{name}: {what}");
        }
        // And every frame it ran with a MAC rewrite failed: none slipped through.
        let hits = t["classes"]["hit"].clone();
        assert!(hits["fail"].as_u64().unwrap() > 0, "{name}: {hits}");
    }
    let x = junit(&j);
    let suite = x
        .suites
        .iter()
        .find(|s| s.name.ends_with(" on xdp-test-run"))
        .expect("xdp-test-run suite");
    assert!(suite.failures > 0);
    let case = suite.cases.iter().find(|c| c.failure.is_some()).unwrap();
    assert!(
        case.classname.starts_with("validate.xdp-test-run."),
        "{}",
        case.classname
    );
    assert!(case.name.contains("generated #"), "{}", case.name);
    let refsuite = x
        .suites
        .iter()
        .find(|s| s.name.ends_with(" on reference"))
        .unwrap();
    assert_eq!(refsuite.failures, 0);
    // The text matrix names the failing target and frame.
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--generate",
            "40",
            "--targets",
            "reference,xdp-test-run",
        ],
        &[("OFFLOAD_TEST_CORRUPT_REWRITE", "1")],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("failures on xdp-test-run"), "{text}");
    assert!(text.contains("    frame      "), "{text}");
    assert!(
        text.contains("validate: 1 target disagreed: xdp-test-run"),
        "{text}"
    );
}

#[test]
fn every_example_agrees_on_the_kernel_targets() {
    let test = "every_example_agrees_on_the_kernel_targets";
    if !testenv::require_root(test) {
        return;
    }
    for ex in ["edge-router", "ddos-filter", "l2-switch"] {
        let path = format!("examples/{ex}.toml");
        let o = offloadctl(
            &[
                "validate",
                &path,
                "--generate",
                "100",
                "--targets",
                KERNEL_TARGETS,
                "--json",
            ],
            &[],
        );
        let doc = json(&o);
        assert_eq!(o.status.code(), Some(0), "{ex}: {doc:#}");
        for t in doc["targets"].as_array().unwrap() {
            // l2-switch pops VLANs after another VLAN change: tc refuses it,
            // and says so.
            if ex == "l2-switch" && t["name"].as_str().unwrap().starts_with("tc-") {
                assert_eq!(t["status"], "not run", "{t:#}");
                assert!(t["reason"].as_str().unwrap().contains("pop_vlan"), "{t:#}");
                continue;
            }
            assert_eq!(t["status"], "pass", "{ex}: {t:#}");
        }
    }
}

#[test]
fn bmv2_agrees_where_the_toolchain_is() {
    let test = "bmv2_agrees_where_the_toolchain_is";
    let Some(_tools) = testenv::require_p4(test, offload_drivers::p4::bmv2::Tools::find()) else {
        return;
    };
    if !testenv::require_root(test) {
        return;
    }
    let s = Scratch::new("bmv2");
    let j = s.file("junit.xml");
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--generate",
            "80",
            "--targets",
            "reference,bmv2",
            "--json",
            "--junit",
            &j,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    let b = target(&doc, "bmv2");
    assert_eq!(b["status"], "pass", "{b:#}");
    assert!(b["frames_run"].as_u64().unwrap() >= 50, "{b:#}");
    assert!(b["counters"]["checked"].as_u64().unwrap() > 0, "{b:#}");
    junit(&j);
}

// --- netdevsim: only when asked ------------------------------------------------

#[test]
fn netdevsim_runs_only_when_asked_and_says_why_not() {
    // Not asked: not run, with how to ask (no VM is booted).
    let o = offloadctl(&["validate", ROUTER, "--generate", "10", "--json"], &[]);
    let doc = json(&o);
    let n = target(&doc, "netdevsim");
    assert_eq!(n["status"], "not run");
    assert!(
        n["reason"]
            .as_str()
            .unwrap()
            .contains("--targets netdevsim"),
        "{n:#}"
    );
    // Asked, for a module its offload profile refuses: the profile's reason.
    let o = offloadctl(
        &[
            "validate",
            ROUTER,
            "--generate",
            "10",
            "--targets",
            "netdevsim",
            "--json",
        ],
        &[],
    );
    let doc = json(&o);
    let n = target(&doc, "netdevsim");
    assert_eq!(n["status"], "not run", "{n:#}");
    let why = n["reason"].as_str().unwrap();
    // As root the profile is checked; unprivileged, root comes first.
    assert!(
        why.contains("netdevsim offload profile refuses") || why.contains("needs root"),
        "{why}"
    );
    assert_eq!(o.status.code(), Some(0));
}

/// Boots the offload lab VM (~70 s under TCG once the guest kernel is
/// cached): `OFFLOAD_VALIDATE_NETDEVSIM=1` runs it, and so does
/// `OFFLOAD_REQUIRE_KERNEL_TESTS=1` (CI: no VM test may skip there);
/// otherwise it says so.
#[test]
fn netdevsim_control_path_in_the_lab_vm() {
    let test = "netdevsim_control_path_in_the_lab_vm";
    let asked = |var: &str| std::env::var(var).as_deref() == Ok("1");
    if !asked("OFFLOAD_VALIDATE_NETDEVSIM") && !asked(testenv::REQUIRE_ENV) {
        testenv::announce_skip(
            test,
            "boots the offload lab VM (~70 s); set OFFLOAD_VALIDATE_NETDEVSIM=1 (or OFFLOAD_REQUIRE_KERNEL_TESTS=1) to run it (tests/vm_lab.rs covers the lab itself in every run)",
        );
        return;
    }
    if !testenv::require_root(test) {
        return;
    }
    let o = offloadctl(
        &[
            "validate",
            "lab/vm/modules/drop-fit.toml",
            "--generate",
            "20",
            "--targets",
            "reference,netdevsim",
            "--json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    let n = target(&doc, "netdevsim");
    assert_eq!(n["status"], "pass", "{n:#}");
    assert_eq!(n["counters"]["checked"], 8, "{n:#}");
    assert_eq!(n["classes"]["hit"]["pass"], 0);
    assert!(n["not_run"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.contains("never runs offloaded programs")));
}

// --- a real offload NIC: only with --on, and only if it is one ---------------

/// A veth pair in the root namespace for one test, removed on drop.
struct Veth(String);
impl Veth {
    fn new() -> Veth {
        let a = format!("ovn{}", std::process::id() % 100_000);
        let ok = Command::new("ip")
            .args([
                "link",
                "add",
                &a,
                "type",
                "veth",
                "peer",
                "name",
                &format!("{a}p"),
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip link add {a}");
        Veth(a)
    }
}
impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

#[test]
fn the_nic_target_runs_only_on_an_offload_nic_given_with_on() {
    let test = "the_nic_target_runs_only_on_an_offload_nic_given_with_on";
    if !testenv::require_root(test) {
        return;
    }
    let run = |on: Option<&str>| {
        let mut args = vec![
            "validate",
            "examples/ddos-filter.toml",
            "--generate",
            "10",
            "--targets",
            "reference,nic",
            "--json",
        ];
        if let Some(i) = on {
            args.extend(["--on", i]);
        }
        let o = offloadctl(&args, &[]);
        assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
        let doc = json(&o);
        let n = target(&doc, "nic").clone();
        assert_eq!(n["status"], "not run", "{n:#}");
        n["reason"].as_str().unwrap().to_string()
    };
    assert!(run(None).contains("no --on IFACE"));
    assert!(run(Some("nosuch0")).contains("no such interface"));
    // A veth is no offload NIC: the probe says so, nothing is applied.
    let v = Veth::new();
    let why = run(Some(&v.0));
    assert!(why.contains("(veth) does no XDP hardware offload"), "{why}");
}
