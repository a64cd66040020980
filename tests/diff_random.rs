//! Differential proof of the eBPF backend on the running kernel: random
//! valid modules (offload_core::testgen) compiled for XDP and tc, loaded
//! through the production path (aya loader, entries written through the
//! layout by drivers::entries), run under BPF_PROG_TEST_RUN on generated
//! frames and compared with the reference interpreter on verdict, output
//! bytes and counters. The egress port of forwards (and tx, pass) is
//! observed on veths: XDP live-frames test runs into a DEVMAP of veths, and
//! the tc program attached to a veth with frames sent through it.
//!
//! Every generated module must compile and pass the verifier. The normal
//! run is a fixed-seed slice; `OFFLOAD_DIFF_PACKETS=N` asks for about N test
//! runs (`OFFLOAD_DIFF_SEED` moves the seeds). A mismatch writes the module
//! source and the frames to `$CARGO_TARGET_TMPDIR/diff-failures/`.
//!
//! Needs root; skips with a reason otherwise (a failure with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1).

use offload_core::ir::{Module, PortId};
use offload_core::semantics::{self, Verdict};
use offload_core::testgen::{self, Case, Frame};
use offload_drivers::load::program::Loaded;
use offload_drivers::testenv::require_root;
use offload_drivers::testrun;
use offload_drivers::validate::bpf::{self as vbpf, add_counters, code, skb_run_may_refuse};
use offload_ebpf::codegen::Compiled;
use offload_ebpf::layout::Hook;
use std::collections::BTreeMap;
use std::time::Instant;

const LO: u32 = 1;
const PROFILE_REFUSAL: &str = "refused by the target profile: ";

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn base_seed() -> u64 {
    std::env::var("OFFLOAD_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0000)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Keeps a failing case for a person: module source + frames.
fn save_failure(case: &Case, hook: Hook, what: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("diff-failures");
    let _ = std::fs::create_dir_all(&dir);
    let base = dir.join(format!("{:x}-{hook:?}", case.seed));
    let _ = std::fs::write(base.with_extension("toml"), &case.source);
    let _ = std::fs::write(base.with_extension("txt"), what);
    base.display().to_string()
}

/// Compiles and loads `case` for `hook` through the drivers' validate path
/// (the one `offloadctl validate` uses); a profile refusal starts with
/// [`PROFILE_REFUSAL`].
fn load_case(
    case: &Case,
    hook: Hook,
    port_ifindex: &dyn Fn(PortId) -> u32,
) -> Result<(Compiled, Loaded), String> {
    vbpf::load(&case.module, hook, port_ifindex).map_err(|e| match e {
        vbpf::LoadError::Refused(s) => format!("{PROFILE_REFUSAL}{s}"),
        vbpf::LoadError::Failed(s) => s,
    })
}

fn set_in_port(c: &Compiled, loaded: &Loaded, ifindex: u32, port: PortId) {
    vbpf::set_in_port(c, loaded, ifindex, port).expect("in_ports update");
}

fn read_counters(m: &Module, c: &Compiled, loaded: &Loaded) -> BTreeMap<(String, u32), (u64, u64)> {
    vbpf::read_counters(m, c, loaded).expect("counters")
}

#[derive(Default, Debug)]
struct Totals {
    modules: usize,
    runs: usize,
    /// Frames under 14 bytes: the kernel's test run refuses them.
    too_short: usize,
    /// Frames the skb test run refuses before the program runs.
    refused: usize,
    /// Modules the target's profile refuses with a named reason.
    profile_refusals: usize,
    mismatches: Vec<String>,
    /// Seconds spent compiling, verifying and filling maps.
    load_secs: f64,
    verdicts: BTreeMap<&'static str, usize>,
}

impl Totals {
    fn add(&mut self, o: Totals) {
        self.modules += o.modules;
        self.runs += o.runs;
        self.too_short += o.too_short;
        self.refused += o.refused;
        self.profile_refusals += o.profile_refusals;
        self.load_secs += o.load_secs;
        self.mismatches.extend(o.mismatches);
        for (k, v) in o.verdicts {
            *self.verdicts.entry(k).or_default() += v;
        }
    }
}

/// One case on one hook: every frame through BPF_PROG_TEST_RUN, then the
/// counters.
fn differential(case: &Case, hook: Hook, frames: &[Frame]) -> Totals {
    let mut t = Totals {
        modules: 1,
        ..Totals::default()
    };
    let m = &case.module;
    let t_load = Instant::now();
    let loaded_case = load_case(case, hook, &|_| LO);
    t.load_secs = t_load.elapsed().as_secs_f64();
    let (c, loaded) = match loaded_case {
        Ok(x) => x,
        Err(e) if e.starts_with(PROFILE_REFUSAL) => {
            t.modules = 0;
            t.profile_refusals = 1;
            return t;
        }
        Err(e) => {
            let at = save_failure(case, hook, &e);
            t.mismatches.push(format!(
                "seed {:#x} {hook:?}: {e}\n  (case in {at}.toml)",
                case.seed
            ));
            return t;
        }
    };
    let mut expected = BTreeMap::new();
    let mut log = String::new();
    for (i, f) in frames.iter().enumerate() {
        if f.bytes.len() < 14 {
            t.too_short += 1;
            continue;
        }
        set_in_port(&c, &loaded, LO, f.in_port);
        let want = semantics::run(m, f.in_port, &f.bytes);
        let got = match testrun::run(&loaded, &f.bytes, LO) {
            Ok(r) => r,
            Err(e) if hook == Hook::Tc && skb_run_may_refuse(&f.bytes) => {
                let _ = e;
                t.refused += 1;
                continue;
            }
            Err(e) => {
                t.mismatches.push(format!(
                    "seed {:#x} {hook:?} frame {i}: test run failed: {e}\n  in {}",
                    case.seed,
                    hex(&f.bytes)
                ));
                continue;
            }
        };
        t.runs += 1;
        *t.verdicts
            .entry(match want.verdict {
                Verdict::Drop => "drop",
                Verdict::Pass => "pass",
                Verdict::Tx => "tx",
                Verdict::Forward(_) => "forward",
            })
            .or_default() += 1;
        add_counters(&c, &want, &mut expected);
        if got.retval != code(hook, &want.verdict) || got.data != want.packet {
            let msg = format!(
                "seed {:#x} {hook:?} frame {i} (in_port {}): want {:?} (code {}), got code {}\n  in   {}\n  want {}\n  got  {}",
                case.seed,
                f.in_port.0,
                want.verdict,
                code(hook, &want.verdict),
                got.retval,
                hex(&f.bytes),
                hex(&want.packet),
                hex(&got.data)
            );
            log.push_str(&msg);
            log.push('\n');
            t.mismatches.push(msg);
        }
    }
    let got = read_counters(m, &c, &loaded);
    if got != expected {
        let msg = format!(
            "seed {:#x} {hook:?}: counters differ\n  want {expected:?}\n  got  {got:?}",
            case.seed
        );
        log.push_str(&msg);
        t.mismatches.push(msg);
    }
    if !log.is_empty() {
        let at = save_failure(case, hook, &log);
        if let Some(first) = t.mismatches.first_mut() {
            first.push_str(&format!("\n  (case in {at}.toml)"));
        }
    }
    t
}

fn report(name: &str, t: &Totals, secs: f64) {
    eprintln!(
        "{name}: {} module loads ({} refused by a target profile), {} test runs, {} mismatches in {secs:.1}s ({:.1}s loading) (not run: {} frames < 14 bytes, {} refused by the skb test run); verdicts {:?}",
        t.modules,
        t.profile_refusals,
        t.runs,
        t.mismatches.len(),
        t.load_secs,
        t.too_short,
        t.refused,
        t.verdicts
    );
}

fn assert_clean(t: &Totals) {
    assert!(
        t.mismatches.is_empty(),
        "{} mismatches over {} runs; first ones:\n{}",
        t.mismatches.len(),
        t.runs,
        t.mismatches
            .iter()
            .take(6)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn random_modules_agree_with_the_reference_on_xdp_and_tc() {
    if !require_root("random_modules_agree_with_the_reference_on_xdp_and_tc") {
        return;
    }
    let t0 = Instant::now();
    // Default: a fixed slice of 32 modules × 2 hooks × 200 frames; a long
    // run uses more frames per module (loading dominates otherwise).
    let long = env_usize("OFFLOAD_DIFF_PACKETS");
    let per_module = env_usize("OFFLOAD_DIFF_FRAMES_PER_MODULE").unwrap_or(if long.is_some() {
        5000
    } else {
        200
    });
    let modules = long.map(|n| n.div_ceil(2 * per_module)).unwrap_or(32);
    let seed0 = base_seed();
    let mut total = Totals::default();
    // A long run goes on until it has that many test runs (refused frames
    // and profile refusals do not count).
    for k in 0.. {
        if k >= modules as u64 && long.is_none_or(|n| total.runs >= n) {
            break;
        }
        let seed = seed0 + k;
        let case = testgen::case(seed).unwrap_or_else(|e| panic!("{e}"));
        let frames = testgen::frames(seed ^ 0xf4a3e5, &case.module, per_module);
        for hook in [Hook::Xdp, Hook::Tc] {
            total.add(differential(&case, hook, &frames));
        }
        if long.is_some() && k % 10 == 9 {
            report("progress", &total, t0.elapsed().as_secs_f64());
        }
    }
    report(
        "random modules, BPF_PROG_TEST_RUN",
        &total,
        t0.elapsed().as_secs_f64(),
    );
    assert_clean(&total);
}

/// Reruns one case by hand: `OFFLOAD_DIFF_REPRO=case.toml
/// OFFLOAD_DIFF_FRAME=<hex> [OFFLOAD_DIFF_IN_PORT=n] cargo test --test
/// diff_random repro -- --ignored --nocapture` prints the reference's and
/// both hooks' results.
#[test]
#[ignore]
fn repro() {
    let path = std::env::var("OFFLOAD_DIFF_REPRO").expect("OFFLOAD_DIFF_REPRO=case.toml");
    let source = std::fs::read_to_string(&path).expect("case file");
    let module = offload_core::spec::compile(&source).expect("valid module");
    let hexs = std::env::var("OFFLOAD_DIFF_FRAME").expect("OFFLOAD_DIFF_FRAME=hex");
    let bytes: Vec<u8> = (0..hexs.len() / 2)
        .map(|i| u8::from_str_radix(&hexs[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let in_port = PortId(env_usize("OFFLOAD_DIFF_IN_PORT").unwrap_or(0xffff) as u16);
    let case = Case {
        seed: 0,
        source,
        module,
    };
    let want = semantics::run_traced(&case.module, in_port, &bytes);
    eprintln!(
        "reference: {:?}\n  steps {:?}\n  events {:?}\n  out {}",
        want.outcome.verdict,
        want.outcome.steps,
        want.events,
        hex(&want.outcome.packet)
    );
    for hook in [Hook::Xdp, Hook::Tc] {
        match load_case(&case, hook, &|_| LO) {
            Ok((c, loaded)) => {
                set_in_port(&c, &loaded, LO, in_port);
                let r = testrun::run(&loaded, &bytes, LO);
                eprintln!("{hook:?}: {r:?}");
                if std::env::var("OFFLOAD_DIFF_LISTING").is_ok() {
                    eprintln!("{}", c.listing());
                }
            }
            Err(e) => eprintln!("{hook:?}: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The egress port, observed: frames come out of veths in a namespace, through
// the same runner `offloadctl validate` uses (drivers::validate::live).

/// Runs `frames` of `case` live (XDP: live test runs; tc: attached to a
/// veth, frames sent through it) and compares where each frame comes out,
/// and as what, with the reference.
fn live(case: &Case, hook: Hook, frames: Vec<Frame>) -> Totals {
    use offload_drivers::validate::{live, FrameResult, Probe};
    let mut t = Totals {
        modules: 1,
        ..Totals::default()
    };
    let probes: Vec<Probe> = frames
        .iter()
        .map(|f| Probe {
            in_port: f.in_port,
            bytes: f.bytes.clone(),
        })
        .collect();
    let r = match live::run(&case.module, hook, &probes, &mut |_, _| {}) {
        Ok(r) => r,
        Err(e) if e.starts_with(PROFILE_REFUSAL) => {
            t.modules = 0;
            t.profile_refusals = 1;
            return t;
        }
        Err(e) => {
            t.mismatches
                .push(format!("seed {:#x} {hook:?} live: {e}", case.seed));
            return t;
        }
    };
    t.load_secs = r.setup_secs;
    for (i, (f, res)) in frames.iter().zip(&r.frames).enumerate() {
        match res {
            FrameResult::NotRun(_) => continue,
            FrameResult::Fail(m) => t.mismatches.push(format!(
                "seed {:#x} {hook:?} live frame {i} (in_port {}): {}\n  in {}",
                case.seed,
                f.in_port.0,
                m.what,
                hex(&f.bytes)
            )),
            FrameResult::Pass => {}
        }
        t.runs += 1;
        let kind = match semantics::run(&case.module, f.in_port, &f.bytes).verdict {
            Verdict::Forward(_) => Some("port"),
            Verdict::Tx => Some("back out"),
            Verdict::Pass if hook == Hook::Xdp => Some("host"),
            _ => None,
        };
        if let Some(k) = kind {
            *t.verdicts.entry(k).or_default() += 1;
        }
    }
    t
}

/// Seeds (from `seed0`) whose module forwards to at least two ports.
fn forwarding_cases(seed0: u64, n: usize) -> Vec<Case> {
    (seed0..)
        .map(|s| testgen::case(s).unwrap_or_else(|e| panic!("{e}")))
        .filter(|c| c.module.ports.len() >= 2 && offload_ebpf::layout::module_forwards(&c.module))
        .take(n)
        .collect()
}

fn live_test(name: &str, hook: Hook) {
    if !require_root(name) {
        return;
    }
    let t0 = Instant::now();
    let n = env_usize("OFFLOAD_DIFF_LIVE_MODULES").unwrap_or(8);
    let per = env_usize("OFFLOAD_DIFF_LIVE_FRAMES").unwrap_or(200);
    let mut total = Totals::default();
    for case in forwarding_cases(base_seed() ^ 0x11fe, n) {
        let frames = testgen::frames(case.seed ^ 0x77, &case.module, per);
        total.add(live(&case, hook, frames));
    }
    report(name, &total, t0.elapsed().as_secs_f64());
    assert!(
        total.verdicts.get("port").copied().unwrap_or(0) > 50,
        "too few forwards observed: {:?}",
        total.verdicts
    );
    assert_clean(&total);
}

#[test]
fn xdp_live_frames_leave_through_the_port_the_reference_names() {
    live_test(
        "xdp_live_frames_leave_through_the_port_the_reference_names",
        Hook::Xdp,
    );
}

#[test]
fn tc_redirects_leave_through_the_port_the_reference_names() {
    live_test(
        "tc_redirects_leave_through_the_port_the_reference_names",
        Hook::Tc,
    );
}

/// Compiles `source`, loads it for `hook` (entries from the module) and runs
/// one frame arriving on no port.
fn run_source(source: &str, hook: Hook, frame: &[u8]) -> Result<testrun::RunOutcome, String> {
    let module = offload_core::spec::compile(source).map_err(|e| format!("{e:?}"))?;
    let case = Case {
        seed: 0,
        source: source.to_string(),
        module,
    };
    let (_c, loaded) = load_case(&case, hook, &|_| LO)?;
    testrun::run(&loaded, frame, LO).map_err(|e| e.to_string())
}

/// Found by the random modules: an `eth.type` key was read 12 bytes past
/// the EtherType (L3 + 10), so the verifier refused tables keyed on it (and
/// where it loaded, lookups missed).
#[test]
fn eth_type_keys_read_the_ethertype_after_the_tags() {
    if !require_root("eth_type_keys_read_the_ethertype_after_the_tags") {
        return;
    }
    let source = r#"
[module]
name = "ethtype"
[[table]]
name = "t0"
keys = [{ field = "vlan.vid", match = "exact" }, { field = "eth.type", match = "ternary" }]
actions = ["back", "nop"]
default_action = "nop"
[action.back]
do = ["tx"]
[action.nop]
do = []
[[entry.t0]]
match = { "vlan.vid" = "2941", "eth.type" = "0x86dd" }
priority = 1
action = "back"
"#;
    // 802.1ad tag, VID 2941, then IPv6.
    let mut frame = vec![
        0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xa8, 0x0b, 0x7d, 0x86, 0xdd,
    ];
    frame.extend([0x60, 0, 0, 0, 0, 0, 59, 64]);
    frame.extend([0u8; 32]);
    let want = semantics::run(
        &offload_core::spec::compile(source).unwrap(),
        PortId(0xffff),
        &frame,
    );
    assert_eq!(want.verdict, Verdict::Tx);
    for hook in [Hook::Xdp, Hook::Tc] {
        let got = run_source(source, hook, &frame).unwrap_or_else(|e| panic!("{hook:?}: {e}"));
        assert_eq!(got.retval, code(hook, &Verdict::Tx), "{hook:?}");
        assert_eq!(got.data, frame, "{hook:?}");
    }
}

/// Found by the random modules (seeds 0x5eed0008, 0x5eed000f): three
/// tuple-space stages whose actions branch (push/pop VLAN, dec_ttl,
/// checksummed sets) made the verifier walk every iteration of every mask
/// loop ("BPF program is too large. Processed 1000001 insn", 30 s) on XDP
/// and tc; fixed in codegen (94fa498). Entries play no part.
#[test]
fn verifier_accepts_three_branching_tuple_space_stages() {
    if !require_root("verifier_accepts_three_branching_tuple_space_stages") {
        return;
    }
    let source = r#"
[module]
name = "three_tss"
[ports]
port0 = 29
[[table]]
name = "t0"
keys = [{ field = "ipv4.src", match = "lpm" }, { field = "eth.dst", match = "ternary" }, { field = "l4.dst_port", match = "range" }, { field = "vlan.pcp", match = "exact" }]
actions = ["a0", "a1"]
default_action = { a0 = { p0 = "20.37.236.243", p1 = "15.183.204.157", p2 = "217.77.96.160" } }
size = 32
counters = true
[[table]]
name = "t1"
keys = [{ field = "meta.in_port", match = "ternary" }]
actions = ["a1", "a2", "a0", "a3"]
default_action = { a3 = { p0 = "10", p1 = "port0" } }
size = 64
counters = true
[[table]]
name = "t2"
keys = [{ field = "vlan.vid", match = "range" }]
actions = ["a0", "a4", "a5", "a1"]
default_action = { a1 = { p0 = "5" } }
size = 4
[action.a0]
params = { p0 = "ipv4", p1 = "ipv4", p2 = "ipv4" }
do = ["set(ipv4.src, p0)", "set(ipv4.ttl, 158)", "set(ipv4.src, p1)", "set(ipv4.dst, p2)"]
[action.a1]
params = { p0 = "u3" }
do = ["push_vlan(p0)", "dec_ttl", "set(eth.dst, 38:f7:65:b2:73:b9)"]
[action.a2]
do = ["dec_ttl", "dec_ttl", "drop"]
[action.a3]
params = { p0 = "u6", p1 = "port" }
do = ["set(vlan.pcp, 0)", "set(ipv4.dscp, p0)", "set(ipv4.src, 89.42.148.140)", "forward(p1)"]
[action.a4]
params = { p0 = "ipv4" }
do = ["set(ipv4.dst, p0)", "set(vlan.vid, 833)", "pass"]
[action.a5]
params = { p0 = "u12" }
do = ["dec_ttl", "set(vlan.vid, p0)", "set(eth.src, 7a:a7:3c:e0:6a:a7)", "tx"]
"#;
    let frame = [0u8; 60];
    for hook in [Hook::Xdp, Hook::Tc] {
        run_source(source, hook, &frame).unwrap_or_else(|e| panic!("{hook:?}: {e}"));
    }
}

/// The cost of a hash-selected group under BPF_PROG_TEST_RUN (XDP): the
/// same routed TCP and ICMP frames through `examples/l3-router-ecmp.toml`
/// (LPM, then the group table with its 5-tuple CRC-32) and through
/// `examples/basic-forwarding.toml` (LPM only, the same next-hop action).
/// Checks each program's verdict and bytes against the reference first;
/// prints the kernel's mean ns per run (a figure, never asserted on).
#[test]
fn ecmp_costs_per_packet_against_basic_forwarding() {
    if !require_root("ecmp_costs_per_packet_against_basic_forwarding") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tcp = |src: [u8; 4], dst: [u8; 4], proto: u8| {
        let mut f = vec![2, 0, 0, 0, 0, 0xee, 2, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
        let l4: &[u8] = if proto == 6 {
            &[
                0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
            ]
        } else {
            &[8, 0, 0, 0, 0x12, 0x34, 0, 1]
        };
        let total = (20 + l4.len()) as u16;
        f.extend([
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            255,
            proto,
            0,
            0,
        ]);
        f.extend(src);
        f.extend(dst);
        f.extend(l4);
        f
    };
    let frames = [
        ("tcp", tcp([172, 16, 5, 6], [10, 0, 1, 1], 6)),
        ("icmp", tcp([172, 16, 5, 6], [10, 0, 1, 1], 1)),
    ];
    let mut report = String::new();
    for name in ["basic-forwarding", "l3-router-ecmp"] {
        let source = std::fs::read_to_string(root.join(format!("examples/{name}.toml"))).unwrap();
        let module = offload_core::spec::compile(&source).unwrap();
        let case = Case {
            seed: 0,
            source,
            module,
        };
        let (c, loaded) = load_case(&case, Hook::Xdp, &|_| LO).unwrap();
        let verified = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .find(|p| p.id() == loaded.info.id)
            .and_then(|p| p.verified_instruction_count());
        report.push_str(&format!(
            "{name}: {} instructions, {} processed by the verifier\n",
            c.program.insns.len(),
            verified.map_or("?".into(), |v| v.to_string())
        ));
        for (kind, f) in &frames {
            let want = semantics::run(&case.module, PortId(1), f);
            assert!(matches!(want.verdict, Verdict::Forward(_)), "{name} {kind}");
            let got = testrun::run(&loaded, f, LO).unwrap();
            assert_eq!(got.retval, code(Hook::Xdp, &want.verdict), "{name} {kind}");
            assert_eq!(hex(&got.data), hex(&want.packet), "{name} {kind}");
            // TTL 255: at most 254 routed runs per call (the frame is reused).
            let mut ns: Vec<u128> = (0..40)
                .map(|_| {
                    testrun::run_timed(&loaded, f, LO, 200)
                        .unwrap()
                        .1
                        .as_nanos()
                })
                .collect();
            ns.sort();
            report.push_str(&format!(
                "{name}, {kind}: {} ns/packet (median of 40 × 200 runs)\n",
                ns[ns.len() / 2]
            ));
        }
    }
    eprint!("{report}");
}

/// The hash code checks the CRC-32 table the loader writes before it uses
/// it: with the table zeroed every packet reaching the hash table is dropped
/// (never put in a wrong bucket); written back, the reference's verdict.
#[test]
fn a_missing_crc32_table_drops_rather_than_misroutes() {
    if !require_root("a_missing_crc32_table_drops_rather_than_misroutes") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("examples/l3-router-ecmp.toml")).unwrap();
    let module = offload_core::spec::compile(&source).unwrap();
    let case = Case {
        seed: 0,
        source,
        module,
    };
    let frame = {
        let mut f = vec![2, 0, 0, 0, 0, 0xee, 2, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
        f.extend([
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 172, 16, 5, 6, 10, 9, 8, 7,
        ]);
        f.extend([0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        f
    };
    for hook in [Hook::Xdp, Hook::Tc] {
        let (c, loaded) = load_case(&case, hook, &|_| LO).unwrap();
        let want = semantics::run(&case.module, PortId(1), &frame);
        assert!(matches!(want.verdict, Verdict::Forward(_)));
        let map = loaded.map(c.layout.crc32_map.as_deref().unwrap()).unwrap();
        let write = |v: &[u8]| {
            offload_drivers::sys::map_update(
                &offload_drivers::sys::Kernel,
                std::os::fd::AsFd::as_fd(&map.fd),
                &0u32.to_ne_bytes(),
                v,
                offload_drivers::sys::BPF_ANY,
            )
            .unwrap()
        };
        write(&[0u8; 1024]);
        let got = testrun::run(&loaded, &frame, LO).unwrap();
        assert_eq!(got.retval, code(hook, &Verdict::Drop), "{hook:?}");
        write(&offload_ebpf::layout::crc32_table_value());
        let got = testrun::run(&loaded, &frame, LO).unwrap();
        assert_eq!(got.retval, code(hook, &want.verdict), "{hook:?}");
        assert_eq!(hex(&got.data), hex(&want.packet), "{hook:?}");
    }
}
