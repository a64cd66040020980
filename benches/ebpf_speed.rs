//! eBPF backend speed (issue 3): `cargo bench --bench ebpf_speed`.
//!
//! One run prints, side by side with ratios:
//! 1. code generation time per example (median) vs `clang -O2 -g -target bpf`
//!    compiling a hand-written C equivalent of `edge-router`
//!    (`benches/c/edge_router.c`, wall time of the process);
//! 2. ns per packet under BPF_PROG_TEST_RUN of the generated XDP program vs
//!    the C program, same packets, same entries (the C program uses the same
//!    map names and key/value bytes; checked against our layout first), and
//!    each packet's verdict and output bytes checked against the reference
//!    interpreter for both programs;
//! 3. instruction counts (object, translated, verifier-processed, JIT bytes);
//! 4. ternary lookup cost for 16, 256 and 2,048 entries over 4 masks (and
//!    2,048 entries over 1, 4 and 16 masks) vs a rule-by-rule linear scan
//!    (`benches/c/linear_scan.c`).
//!
//! Parts 2–4 need root (CAP_BPF); the C parts need clang and libbpf-dev.
//! Without them those parts are skipped with the reason printed. This is a
//! benchmark, not a test: nothing here asserts on times.
//!
//! Environment: `OFFLOAD_BENCH_ROUNDS` (default 7) rounds per figure, the
//! median is printed; `OFFLOAD_BENCH_KEEP=DIR` keeps the objects there;
//! `OFFLOAD_BENCH_ONLY=codegen,packets,ternary` runs only those parts
//! (`packets` also prints the instruction counts); `CLANG` picks the compiler.

use aya::maps::{Map, MapData};
use aya::programs::Xdp;
use aya::{Ebpf, EbpfLoader, TestRun, TestRunOptions};
use offload_core::ir::{Module, PortId};
use offload_core::semantics::{self, Verdict};
use offload_drivers::sys::{self, Kernel};
use offload_ebpf::codegen::{self, Compiled, Target};
use offload_ebpf::layout::MapRole;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs per BPF_PROG_TEST_RUN call (the issue asks for ≥ 10^5).
const REPEAT: u32 = 100_000;
/// TTL of the routed packets: `dec_ttl` persists across repetitions of one
/// BPF_PROG_TEST_RUN call (the kernel reuses the frame), so one call may run
/// the routed path at most TTL - 1 times before the packet goes to the host.
const ROUTED_TTL: u8 = 255;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and
    // a test run must not spend minutes measuring.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ebpf_speed is a benchmark: run `cargo bench --bench ebpf_speed`");
        return;
    }
    let rounds: usize = std::env::var("OFFLOAD_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(7);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = match std::env::var_os("OFFLOAD_BENCH_KEEP") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("offload-ebpf-speed-{}", std::process::id())),
    };
    if let Err(e) = std::fs::create_dir_all(&work) {
        println!("cannot create {}: {e}", work.display());
        return;
    }
    let clang = Clang::find(&root.join("benches/c"));
    if let Err(why) = &clang {
        println!("C comparison skipped: {why}");
    }
    let clang = clang.ok();

    println!("# eBPF backend speed ({rounds} rounds per figure, medians)\n");
    // OFFLOAD_BENCH_ONLY=codegen,packets,ternary (default: all).
    let only = std::env::var("OFFLOAD_BENCH_ONLY").unwrap_or_default();
    let want = |part: &str| only.is_empty() || only.split(',').any(|p| p.trim() == part);
    let examples = load_examples(&root.join("examples"));
    let c_edge = if want("codegen") {
        codegen_speed(&examples, clang.as_ref(), &work, rounds)
    } else {
        clang.as_ref().and_then(|c| {
            c.compile("edge_router.c", &work.join("edge_router.o"))
                .map_err(|e| println!("{e}"))
                .ok()
                .map(|(o, _)| o)
        })
    };

    let kernel_ok = match offload_drivers::testenv::missing_privilege() {
        Some(why) => {
            println!("\nParts 2-4 (BPF_PROG_TEST_RUN) skipped: {why}");
            false
        }
        None => true,
    };
    if kernel_ok {
        let edge = examples
            .iter()
            .find(|(n, _)| n == "edge-router")
            .map(|(_, m)| m);
        match edge {
            Some(m) if want("packets") => {
                packet_speed(m, &Target::xdp(), c_edge.as_deref(), rounds, &work);
                // As `apply` builds it: counters and masks sized to the
                // example's entries; the C built with the same room.
                let sized = sized_target(m);
                let c_sized = clang.as_ref().and_then(|c| {
                    let tl = |t: &str| {
                        let layout = codegen::layout_for(m, &sized);
                        layout.table(m.table_by_name(t).expect("table").id).clone()
                    };
                    let (acl, routes) = (tl("acl"), tl("routes"));
                    let defines = [
                        ("MAX_MASKS", acl.mask_room()),
                        ("ACL_COUNTERS", acl.counter_room() + 1),
                        ("ROUTE_COUNTERS", routes.counter_room() + 1),
                    ];
                    println!(
                        "\n# As `apply` builds it: sized to the example's entries ({})",
                        defines
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    c.compile_with("edge_router.c", &work.join("edge_router_sized.o"), &defines)
                        .map_err(|e| println!("{e}"))
                        .ok()
                        .map(|(o, _)| o)
                });
                packet_speed(m, &sized, c_sized.as_deref(), rounds, &work);
            }
            Some(_) => {}
            None => println!("\nexamples/edge-router.toml missing: parts 2-3 skipped"),
        }
        let linear = clang.as_ref().map(|c| {
            c.compile("linear_scan.c", &work.join("linear_scan.o"))
                .map(|(o, _)| o)
        });
        let linear = match linear {
            Some(Ok(o)) => Some(o),
            Some(Err(e)) => {
                println!("linear scan program not built: {e}");
                None
            }
            None => None,
        };
        if want("ternary") {
            ternary_speed(linear.as_deref(), rounds);
        }
    }
    if std::env::var_os("OFFLOAD_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("\nobjects kept in {}", work.display());
    }
}

// ---------------------------------------------------------------------------
// Helpers: timing, examples, clang.

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_dur(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Median ns of `f` over enough runs to fill about `budget` (at least 20).
fn time_median<T>(budget: Duration, mut f: impl FnMut() -> T) -> (f64, usize) {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 20 || (start.elapsed() < budget && samples.len() < 100_000) {
        let t = Instant::now();
        std::hint::black_box(f());
        samples.push(t.elapsed().as_nanos() as f64);
    }
    let n = samples.len();
    (median(samples), n)
}

fn load_examples(dir: &Path) -> Vec<(String, Module)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        println!("no examples in {}", dir.display());
        return out;
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let name = p
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let src = match std::fs::read_to_string(&p) {
            Ok(s) => s,
            Err(e) => {
                println!("{}: {e}", p.display());
                continue;
            }
        };
        match offload_core::spec::compile(&src) {
            Ok(m) => out.push((name, m)),
            Err(d) => println!("{}: does not compile: {d:?}", p.display()),
        }
    }
    out
}

/// clang able to build BPF objects against libbpf's headers.
struct Clang {
    bin: String,
    src_dir: PathBuf,
}

impl Clang {
    fn find(src_dir: &Path) -> Result<Clang, String> {
        let bin = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
        let out = Command::new(&bin).arg("--version").output().map_err(|e| {
            format!("`{bin}` not runnable ({e}); apt-get install -y clang libbpf-dev")
        })?;
        if !out.status.success() {
            return Err(format!("`{bin} --version` failed"));
        }
        if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
            return Err(
                "libbpf headers missing (/usr/include/bpf); apt-get install -y libbpf-dev".into(),
            );
        }
        Ok(Clang {
            bin,
            src_dir: src_dir.to_path_buf(),
        })
    }

    fn version(&self) -> String {
        Command::new(&self.bin)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_default()
    }

    fn command(&self, file: &str, out: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(["-O2", "-g", "-target", "bpf"])
            // Debian's clang does not look in the multiarch dir for BPF.
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg("-c")
            .arg(self.src_dir.join(file))
            .arg("-o")
            .arg(out);
        c
    }

    /// Compiles once: (object bytes, wall time).
    fn compile(&self, file: &str, out: &Path) -> Result<(Vec<u8>, Duration), String> {
        self.compile_with(file, out, &[])
    }

    /// [`Clang::compile`] with `-D` definitions.
    fn compile_with(
        &self,
        file: &str,
        out: &Path,
        defines: &[(&str, u32)],
    ) -> Result<(Vec<u8>, Duration), String> {
        let t = Instant::now();
        let mut cmd = self.command(file, out);
        for (k, v) in defines {
            cmd.arg(format!("-D{k}={v}"));
        }
        let o = cmd.output().map_err(|e| format!("running clang: {e}"))?;
        let wall = t.elapsed();
        if !o.status.success() {
            return Err(format!(
                "clang failed on {file}:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let bytes = std::fs::read(out).map_err(|e| format!("{}: {e}", out.display()))?;
        Ok((bytes, wall))
    }
}

// ---------------------------------------------------------------------------
// Part 1: code generation.

/// Returns clang's edge-router object when it built.
fn codegen_speed(
    examples: &[(String, Module)],
    clang: Option<&Clang>,
    work: &Path,
    rounds: usize,
) -> Option<Vec<u8>> {
    println!("## 1. Code generation (XDP, median per compile)\n");
    println!("| example | insns | IR → object | listing (on demand) | source → object |");
    println!("|---|---:|---:|---:|---:|");
    let mut edge = None;
    for (name, module) in examples {
        let target = Target::xdp();
        let compiled = match codegen::compile(module, &target) {
            Ok(c) => c,
            Err(e) => {
                println!("| {name} | does not compile: {e} | | | |");
                continue;
            }
        };
        let insns = compiled.program.insns.len();
        // The annotated listing is built only for `--emit listing`; shown for reference.
        let (listing_ns, _) = time_median(Duration::from_millis(200), || {
            codegen::annotated_listing(&compiled.program, &compiled.insn_spans).len()
        });
        let (ir_ns, n) = time_median(Duration::from_millis(400), || {
            codegen::compile(module, &target).map(|c| c.object.len())
        });
        let src = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.toml")),
        )
        .unwrap_or_default();
        let (src_ns, _) = time_median(Duration::from_millis(400), || {
            offload_core::spec::compile(&src)
                .ok()
                .and_then(|m| codegen::compile(&m, &target).ok())
                .map(|c| c.object.len())
        });
        println!(
            "| {name} | {insns} | {} ({n} runs) | {} | {} |",
            fmt_dur(ir_ns),
            fmt_dur(listing_ns),
            fmt_dur(src_ns)
        );
        if name == "edge-router" {
            edge = Some((ir_ns, src_ns));
        }
    }
    let clang = clang?;
    let out = work.join("edge_router.o");
    let mut walls = Vec::new();
    let mut object = None;
    for _ in 0..rounds.max(5) {
        match clang.compile("edge_router.c", &out) {
            Ok((o, t)) => {
                walls.push(t.as_nanos() as f64);
                object = Some(o);
            }
            Err(e) => {
                println!("\n{e}");
                return None;
            }
        }
    }
    let c_ns = median(walls);
    println!(
        "\nclang (`{}`), `clang -O2 -g -target bpf -c edge_router.c`: {} wall (median of {})",
        clang.version(),
        fmt_dur(c_ns),
        rounds.max(5)
    );
    if let Some((ir, src)) = edge {
        println!(
            "edge-router: codegen is {:.0}× faster than clang (IR → object), {:.0}× (source → object)",
            c_ns / ir,
            c_ns / src
        );
    }
    object
}

// ---------------------------------------------------------------------------
// Loading and filling.

fn map_data(map: &Map) -> Option<&MapData> {
    match map {
        Map::Array(m)
        | Map::HashMap(m)
        | Map::PerCpuArray(m)
        | Map::LpmTrie(m)
        | Map::DevMap(m) => Some(m),
        _ => None,
    }
}

/// Loads program `name` of `object` as XDP.
fn load_xdp(object: &[u8], name: &str) -> Result<Ebpf, String> {
    let mut ebpf = EbpfLoader::new()
        .btf(None)
        .load(object)
        .map_err(|e| format!("aya refused the object: {e}"))?;
    let prog: &mut Xdp = ebpf
        .program_mut(name)
        .ok_or_else(|| format!("no program {name}"))?
        .try_into()
        .map_err(|e| format!("{name} is not XDP: {e}"))?;
    prog.load()
        .map_err(|e| offload_drivers::load::program::program_error_detail(&e))?;
    Ok(ebpf)
}

fn update(ebpf: &Ebpf, name: &str, key: &[u8], value: &[u8]) -> Result<(), String> {
    let m = ebpf
        .map(name)
        .and_then(map_data)
        .ok_or_else(|| format!("no map {name}"))?;
    sys::map_update(&Kernel, m.fd().as_fd(), key, value, 0).map_err(|e| format!("map {name}: {e}"))
}

/// The C program's maps must be ours: every map of our layout that entries
/// are written to, with the same
/// type, key and value size, entries and flags as the kernel created ours
/// (compared kernel to kernel: the kernel adds flags of its own, e.g.
/// BPF_F_RDONLY_PROG on a DEVMAP).
fn check_same_maps(theirs: &Ebpf, ours: &Ebpf, c: &Compiled) -> Result<(), String> {
    let info = |e: &Ebpf, name: &str, who: &str| {
        let m = e
            .map(name)
            .and_then(map_data)
            .ok_or_else(|| format!("{who} program has no map {name}"))?;
        let i = sys::map_info(&Kernel, m.fd().as_fd()).map_err(|e| e.to_string())?;
        Ok::<_, String>((i.map_type, i.key_size, i.value_size, i.max_entries, i.flags))
    };
    // The maps entries are written to; program-private maps are the
    // generator's business.
    for spec in c.layout.maps.iter().filter(|m| {
        matches!(
            m.role,
            MapRole::Entries(_)
                | MapRole::Masks(_)
                | MapRole::Default(_)
                | MapRole::Counters(_)
                | MapRole::Ports
                | MapRole::InPorts
        )
    }) {
        let want = info(ours, &spec.name, "our")?;
        let got = info(theirs, &spec.name, "the C")?;
        if got != want {
            return Err(format!(
                "map {}: (type, key, value, entries, flags) C {got:?}, ours {want:?}",
                spec.name
            ));
        }
    }
    Ok(())
}

/// Writes the module's entries, defaults and ports (all to `lo`) through our layout.
fn fill(ebpf: &Ebpf, module: &Module, c: &Compiled) -> Result<(), String> {
    for t in &module.tables {
        let tl = c.layout.table(t.id);
        let entries: Vec<_> = t
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e, i as u32))
            .collect();
        let image = tl.encode_entries(t, &entries).map_err(|e| e.to_string())?;
        for (k, v) in &image.entries {
            update(ebpf, &tl.entries_map, k, v)?;
        }
        if let Some(m) = &tl.masks_map {
            for (k, v) in &image.masks {
                update(ebpf, m, k, v)?;
            }
        }
        let (k, v) = tl.encode_default(t);
        update(ebpf, &tl.default_map, &k, &v)?;
    }
    if let Some(ports) = &c.layout.ports_map {
        let size = c.layout.map(ports).map(|s| s.value_size).unwrap_or(4) as usize;
        for p in &module.ports {
            // lo (ifindex 1) exists everywhere; BPF_PROG_TEST_RUN does not
            // perform the redirect, the helper only looks the slot up.
            let mut v = 1u32.to_ne_bytes().to_vec();
            v.resize(size, 0);
            update(ebpf, ports, &u32::from(p.id.0).to_ne_bytes(), &v)?;
        }
    }
    Ok(())
}

fn prog<'a>(ebpf: &'a mut Ebpf, name: &str) -> &'a mut Xdp {
    ebpf.program_mut(name)
        .and_then(|p| p.try_into().ok())
        .expect("loaded above as XDP")
}

/// One run: (XDP return code, output bytes).
fn run_once(ebpf: &mut Ebpf, name: &str, pkt: &[u8]) -> Result<(u32, Vec<u8>), String> {
    let mut out = vec![0u8; pkt.len() + 256];
    let r = prog(ebpf, name)
        .test_run(TestRunOptions {
            data_in: Some(pkt),
            data_out: Some(&mut out),
            repeat: 1,
            ..Default::default()
        })
        .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))?;
    out.truncate(r.data_size_out as usize);
    Ok((r.return_value, out))
}

/// Mean ns per run over `calls` calls of `repeat` runs each (the kernel's
/// own per-call timing, which excludes the syscall).
fn ns_per_packet(
    ebpf: &mut Ebpf,
    name: &str,
    pkt: &[u8],
    repeat: u32,
    calls: u32,
) -> Result<f64, String> {
    let mut total = 0f64;
    for _ in 0..calls {
        let r = prog(ebpf, name)
            .test_run(TestRunOptions {
                data_in: Some(pkt),
                repeat,
                ..Default::default()
            })
            .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))?;
        total += r.duration.as_nanos() as f64 * f64::from(repeat);
    }
    Ok(total / (f64::from(repeat) * f64::from(calls)))
}

fn xdp_code(v: Verdict) -> u32 {
    match v {
        Verdict::Drop => 1,
        Verdict::Pass => 2,
        Verdict::Tx => 3,
        Verdict::Forward(_) => 4,
    }
}

// ---------------------------------------------------------------------------
// Packets.

fn csum16(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(out: &mut Vec<u8>, vlan: Option<u16>, ethertype: u16) {
    out.extend([0x02, 0, 0, 0, 0, 0x10, 0x02, 0, 0, 0, 0, 0x20]);
    if let Some(tci) = vlan {
        out.extend(0x8100u16.to_be_bytes());
        out.extend(tci.to_be_bytes());
    }
    out.extend(ethertype.to_be_bytes());
}

/// Ethernet (+ optional 802.1Q tag) + IPv4 + TCP/UDP with a 16-byte payload.
fn ipv4(vlan: Option<u16>, src: [u8; 4], dst: [u8; 4], proto: u8, dport: u16, ttl: u8) -> Vec<u8> {
    let l4len = if proto == 6 { 20 } else { 8 } + 16;
    let mut p = Vec::new();
    eth(&mut p, vlan, 0x0800);
    let mut ip = vec![0x45, 0];
    ip.extend(((20 + l4len) as u16).to_be_bytes());
    ip.extend([0x12, 0x34, 0x40, 0x00, ttl, proto, 0, 0]);
    ip.extend(src);
    ip.extend(dst);
    let c = csum16(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(ip);
    p.extend(40000u16.to_be_bytes());
    p.extend(dport.to_be_bytes());
    if proto == 6 {
        p.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        p.extend(((8 + 16) as u16).to_be_bytes());
        p.extend([0, 0]);
    }
    p.extend([0xabu8; 16]);
    p
}

fn ipv6_tcp(dport: u16) -> Vec<u8> {
    let mut p = Vec::new();
    eth(&mut p, None, 0x86dd);
    p.extend([0x60, 0, 0, 0]);
    p.extend(36u16.to_be_bytes());
    p.extend([6, 64]);
    p.extend(
        [0x20, 0x01, 0x0d, 0xb8]
            .iter()
            .chain([0u8; 11].iter())
            .chain([1].iter()),
    );
    p.extend(
        [0x20, 0x01, 0x0d, 0xb8]
            .iter()
            .chain([0u8; 11].iter())
            .chain([2].iter()),
    );
    p.extend(40000u16.to_be_bytes());
    p.extend(dport.to_be_bytes());
    p.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend([0xabu8; 16]);
    p
}

struct Kind {
    name: &'static str,
    packet: Vec<u8>,
    /// Modifies the packet (TTL): repetitions are capped, see [`ROUTED_TTL`].
    routed: bool,
}

fn edge_router_packets() -> Vec<Kind> {
    let outside = [203, 0, 113, 5];
    vec![
        Kind {
            name: "ACL deny (TCP/22 from outside)",
            packet: ipv4(None, outside, [192, 168, 1, 10], 6, 22, 64),
            routed: false,
        },
        Kind {
            name: "routed hit (UDP to 192.168.1.10)",
            packet: ipv4(None, outside, [192, 168, 1, 10], 17, 53, ROUTED_TTL),
            routed: true,
        },
        Kind {
            name: "routed hit, 802.1Q tagged",
            packet: ipv4(Some(100), outside, [192, 168, 1, 10], 17, 53, ROUTED_TTL),
            routed: true,
        },
        Kind {
            name: "route miss → host (UDP to 8.8.8.8)",
            packet: ipv4(None, outside, [8, 8, 8, 8], 17, 53, 64),
            routed: false,
        },
        Kind {
            name: "IPv6 TCP/22 (no stage applies)",
            packet: ipv6_tcp(22),
            routed: false,
        },
    ]
}

// ---------------------------------------------------------------------------
// Parts 2 and 3: per-packet cost and instruction counts.

struct Loaded {
    ebpf: Ebpf,
    name: String,
}

/// A program under test: label, loaded object, its object bytes.
struct Contender {
    label: &'static str,
    loaded: Loaded,
    /// Instruction slots in the object.
    object_insns: Option<u32>,
    /// Our code generator's (true) or clang's.
    ours: bool,
}

/// Our program for `target`, loaded and filled.
fn load_ours(
    module: &Module,
    target: &Target,
    label: &'static str,
    work: &Path,
) -> Result<(Contender, Compiled), String> {
    let compiled = codegen::compile(module, target).map_err(|e| format!("{label}: {e}"))?;
    let file = format!(
        "{}_{}.o",
        compiled.program_name,
        label.replace([' ', ','], "_")
    );
    let _ = std::fs::write(work.join(file), &compiled.object);
    let ebpf = load_xdp(&compiled.object, &compiled.program_name)
        .map_err(|e| format!("{label} does not load: {e}"))?;
    fill(&ebpf, module, &compiled).map_err(|e| format!("{label}: filling maps: {e}"))?;
    Ok((
        Contender {
            label,
            loaded: Loaded {
                ebpf,
                name: compiled.program_name.clone(),
            },
            object_insns: Some(compiled.program.insns.len() as u32),
            ours: true,
        },
        compiled,
    ))
}

/// The target `apply` compiles `module` for on XDP (generic or native):
/// every table's room sized to the module's own entries, by the same
/// `offload_drivers::deploy::sized_target` a deployment uses.
fn sized_target(module: &Module) -> Target {
    let entries = module
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.entries.iter().zip(0u32..).collect()))
        .collect();
    offload_drivers::deploy::sized_target(
        module,
        offload_drivers::load::Mode::Generic,
        None,
        &entries,
    )
}

fn packet_speed(
    module: &Module,
    base: &Target,
    c_object: Option<&[u8]>,
    rounds: usize,
    work: &Path,
) {
    println!("\n## 2. ns per packet under BPF_PROG_TEST_RUN (edge-router, XDP)\n");
    let mut progs: Vec<Contender> = Vec::new();
    let (first, compiled) = match load_ours(module, base, "ours", work) {
        Ok(x) => x,
        Err(e) => {
            println!("{e}");
            return;
        }
    };
    progs.push(first);
    // The same module with the tuple-space masks probed by straight-line
    // code (the offload profiles' form) instead of the bounded loop.
    let unrolled = Target {
        unroll_masks: !base.unroll_masks,
        ..base.clone()
    };
    let label = if unrolled.unroll_masks {
        "ours, unrolled masks"
    } else {
        "ours, mask loop"
    };
    match load_ours(module, &unrolled, label, work) {
        Ok((c, _)) => progs.push(c),
        Err(e) => println!("{e}"),
    }
    if let Some(o) = c_object {
        match load_xdp(o, "edge_router") {
            Err(e) => println!("the C program does not load: {e}"),
            Ok(ebpf) => {
                match check_same_maps(&ebpf, &progs[0].loaded.ebpf, &compiled)
                    .and_then(|_| fill(&ebpf, module, &compiled))
                {
                    Ok(()) => progs.push(Contender {
                        label: "clang -O2 (C)",
                        loaded: Loaded {
                            ebpf,
                            name: "edge_router".into(),
                        },
                        object_insns: program_section_insns(o),
                        ours: false,
                    }),
                    Err(e) => println!("C program not comparable: {e}"),
                }
            }
        }
    }
    let c_index = progs.iter().position(|p| !p.ours);

    let mut head = String::from("| packet | reference |");
    let mut rule = String::from("|---|---|");
    for p in &progs {
        head.push_str(&format!(" {} |", p.label));
        rule.push_str("---:|");
    }
    if c_index.is_some() {
        for p in progs.iter().filter(|p| p.ours) {
            head.push_str(&format!(" {} / C |", p.label));
            rule.push_str("---:|");
        }
    }
    println!("{head}\n{rule}");
    let mut sums = vec![0f64; progs.len()];
    for kind in edge_router_packets() {
        let want = semantics::run(module, PortId(1), &kind.packet);
        let expect = (xdp_code(want.verdict), want.packet.clone());
        let notes: Vec<String> = progs
            .iter_mut()
            .map(
                |p| match run_once(&mut p.loaded.ebpf, &p.loaded.name, &kind.packet) {
                    Ok(got) if got == expect => String::new(),
                    Ok((rc, _)) => format!(" **≠ reference (rc {rc})**"),
                    Err(e) => format!(" **{e}**"),
                },
            )
            .collect();
        // Routed packets: TTL 255 → 254 routed runs per call.
        let (repeat, calls) = if kind.routed {
            let r = u32::from(ROUTED_TTL) - 1;
            (r, REPEAT.div_ceil(r))
        } else {
            (REPEAT, 1)
        };
        let mut samples = vec![Vec::new(); progs.len()];
        let mut err = None;
        for round in 0..rounds {
            // Rotate who goes first, so no one always runs on a warm cache.
            for k in 0..progs.len() {
                let i = (k + round) % progs.len();
                let l = &mut progs[i].loaded;
                match ns_per_packet(&mut l.ebpf, &l.name, &kind.packet, repeat, calls) {
                    Ok(v) => samples[i].push(v),
                    Err(e) => err = Some(e),
                }
            }
        }
        if let Some(e) = err {
            println!("| {} | {e} |", kind.name);
            continue;
        }
        let med: Vec<f64> = samples.into_iter().map(median).collect();
        let verdict = format!("{:?}", want.verdict).to_lowercase();
        let mut row = format!("| {} | {verdict} |", kind.name);
        for (i, m) in med.iter().enumerate() {
            sums[i] += m;
            row.push_str(&format!(" {m:.1}{} |", notes[i]));
        }
        if let Some(c) = c_index {
            for (i, p) in progs.iter().enumerate().filter(|(_, p)| p.ours) {
                let _ = p;
                row.push_str(&format!(" {:.2}× |", med[i] / med[c]));
            }
        }
        println!("{row}");
    }
    let mut row = String::from("| **sum over the kinds** | |");
    for s in &sums {
        row.push_str(&format!(" {s:.1} |"));
    }
    if let Some(c) = c_index {
        for (i, _) in progs.iter().enumerate().filter(|(_, p)| p.ours) {
            row.push_str(&format!(" {:.2}× |", sums[i] / sums[c]));
        }
    }
    println!("{row}");
    let r = u32::from(ROUTED_TTL) - 1;
    println!(
        "\n{REPEAT} runs per figure and round ({} for routed packets: {} calls × {r} runs, TTL {ROUTED_TTL}); \
         ns from the kernel's own timing of BPF_PROG_TEST_RUN.",
        REPEAT.div_ceil(r) * r,
        REPEAT.div_ceil(r),
    );

    println!("\n## 3. Instructions (edge-router, XDP)\n");
    let mut head = String::from("| |");
    let mut rule = String::from("|---|");
    for p in &progs {
        head.push_str(&format!(" {} |", p.label));
        rule.push_str("---:|");
    }
    if c_index.is_some() {
        for p in progs.iter().filter(|p| p.ours) {
            head.push_str(&format!(" {} / C |", p.label));
            rule.push_str("---:|");
        }
    }
    println!("{head}\n{rule}");
    let infos: Vec<_> = progs
        .iter_mut()
        .map(|p| prog(&mut p.loaded.ebpf, &p.loaded.name).info().ok())
        .collect();
    let ours_idx: Vec<usize> = (0..progs.len()).filter(|i| progs[*i].ours).collect();
    let row = |label: &str, vals: Vec<Option<u32>>| {
        let f = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "–".into());
        let mut r = format!("| {label} |");
        for v in &vals {
            r.push_str(&format!(" {} |", f(*v)));
        }
        if let Some(c) = c_index {
            for i in &ours_idx {
                r.push_str(&match (vals[*i], vals[c]) {
                    (Some(a), Some(b)) if b > 0 => {
                        format!(" {:.2}× |", f64::from(a) / f64::from(b))
                    }
                    _ => " – |".into(),
                });
            }
        }
        println!("{r}");
    };
    row(
        "in the object (8-byte slots)",
        progs.iter().map(|p| p.object_insns).collect(),
    );
    row(
        "translated by the kernel (xlated)",
        infos
            .iter()
            .map(|i| i.as_ref().and_then(|i| i.size_translated()).map(|b| b / 8))
            .collect(),
    );
    row(
        "processed by the verifier",
        infos
            .iter()
            .map(|i| i.as_ref().and_then(|i| i.verified_instruction_count()))
            .collect(),
    );
    row(
        "JIT code bytes",
        infos
            .iter()
            .map(|i| i.as_ref().map(|i| i.size_jitted()))
            .collect(),
    );
    println!("\nstack: ours {} bytes", compiled.stack_bytes);
}

/// Instruction slots in the object's `xdp` section (ELF64 LE, by hand: the
/// root package does not depend on an ELF reader).
fn program_section_insns(obj: &[u8]) -> Option<u32> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(obj.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(obj.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(obj.get(o..o + 8)?.try_into().ok()?));
    let shoff = u64_at(0x28)? as usize;
    let shentsize = u16_at(0x3a)? as usize;
    let shnum = u16_at(0x3c)? as usize;
    let shstrndx = u16_at(0x3e)? as usize;
    let strtab = u64_at(shoff + shstrndx * shentsize + 0x18)? as usize;
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        let name = strtab + u32_at(sh)? as usize;
        let end = obj.get(name..)?.iter().position(|b| *b == 0)?;
        if &obj[name..name + end] == b"xdp" {
            return Some((u64_at(sh + 0x20)? / 8) as u32);
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Part 4: ternary scaling.

/// A one-table module: ternary on ipv4.src, `entries` rules spread evenly over
/// `masks` masks (/32, /31, … — rules of a longer mask get higher
/// priorities), all `deny`; a miss continues to the default verdict pass.
fn ternary_module(entries: u32, masks: u32) -> (String, Vec<(u32, u32, u32)>) {
    let mut src = String::from(
        "[module]\nname = \"tern\"\ndefault = \"pass\"\n\n\
         [[table]]\nname = \"filter\"\n\
         keys = [{ field = \"ipv4.src\", match = \"ternary\" }]\n\
         actions = [\"deny\", \"allow\"]\ndefault_action = \"allow\"\nsize = 2048\n\n\
         [action.deny]\ndo = [\"drop\"]\n\n[action.allow]\ndo = []\n\n",
    );
    let mut rules = Vec::new();
    let per = entries / masks;
    for i in 0..entries {
        let g = (i / per).min(masks - 1);
        let j = i - g * per;
        let plen = 32 - g;
        let mask = u32::MAX << (32 - plen);
        let value = (0x0a00_0000 | (j << (32 - plen))) & mask;
        let prio = entries - i;
        rules.push((value, mask, prio));
        src.push_str(&format!(
            "[[entry.filter]]\nmatch = {{ \"ipv4.src\" = \"{} &&& {}\" }}\npriority = {prio}\naction = \"deny\"\n\n",
            std::net::Ipv4Addr::from(value),
            std::net::Ipv4Addr::from(mask)
        ));
    }
    (src, rules)
}

/// The linear-scan program's single `rules` element: n, pad, (value, mask)…
fn linear_rules(rules: &[(u32, u32, u32)]) -> Vec<u8> {
    let mut sorted = rules.to_vec();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.2));
    let mut v = Vec::with_capacity(8 + 2048 * 8);
    v.extend((sorted.len() as u32).to_ne_bytes());
    v.extend(0u32.to_ne_bytes());
    for (value, mask, _) in &sorted {
        // Network order, as the program loads the address from the packet.
        v.extend(value.to_be_bytes());
        v.extend(mask.to_be_bytes());
    }
    v.resize(8 + 2048 * 8, 0);
    v
}

fn ternary_speed(linear: Option<&[u8]>, rounds: usize) {
    println!("\n## 4. Ternary lookup cost: tuple-space search vs linear scan (ns/packet)\n");
    println!(
        "Table: ternary on ipv4.src. `miss` matches no rule (every mask / every rule is tried); \
         `last` matches only the lowest-priority rule.\n"
    );
    println!("| entries | masks | ours: miss | ours: last | linear: miss | linear: last | linear / ours (miss) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (entries, masks) in [(16, 4), (256, 4), (2048, 4), (2048, 1), (2048, 16)] {
        let (src, rules) = ternary_module(entries, masks);
        let module = match offload_core::spec::compile(&src) {
            Ok(m) => m,
            Err(d) => {
                println!("| {entries} | {masks} | module does not compile: {d:?} | | | | |");
                continue;
            }
        };
        let compiled = match codegen::compile(&module, &Target::xdp()) {
            Ok(c) => c,
            Err(e) => {
                println!("| {entries} | {masks} | {e} | | | | |");
                continue;
            }
        };
        let mut ours = match load_xdp(&compiled.object, &compiled.program_name)
            .and_then(|e| fill(&e, &module, &compiled).map(|_| e))
        {
            Ok(e) => Loaded {
                ebpf: e,
                name: compiled.program_name.clone(),
            },
            Err(e) => {
                println!("| {entries} | {masks} | {e} | | | | |");
                continue;
            }
        };
        let mut lin = linear.and_then(|o| match load_xdp(o, "linear_scan") {
            Ok(e) => match update(&e, "rules", &0u32.to_ne_bytes(), &linear_rules(&rules)) {
                Ok(()) => Some(Loaded {
                    ebpf: e,
                    name: "linear_scan".into(),
                }),
                Err(err) => {
                    println!("linear scan: {err}");
                    None
                }
            },
            Err(err) => {
                println!("linear scan does not load: {err}");
                None
            }
        });
        let lowest = rules.iter().min_by_key(|r| r.2).expect("entries > 0");
        let miss = ipv4(None, [192, 0, 2, 1], [192, 168, 1, 1], 17, 53, 64);
        let last = ipv4(None, lowest.0.to_be_bytes(), [192, 168, 1, 1], 17, 53, 64);
        let mut cells = Vec::new();
        let mut progs: Vec<&mut Loaded> = vec![&mut ours];
        if let Some(l) = lin.as_mut() {
            progs.push(l);
        }
        let mut figures = vec![vec![Vec::new(); 2]; progs.len()];
        let mut note = String::new();
        for l in progs.iter_mut() {
            for pkt in [&miss, &last] {
                let want = xdp_code(semantics::run(&module, PortId(1), pkt).verdict);
                match run_once(&mut l.ebpf, &l.name, pkt) {
                    Ok((rc, _)) if rc == want => {}
                    Ok((rc, _)) => note.push_str(&format!(" **{} rc {rc} ≠ {want}**", l.name)),
                    Err(e) => note.push_str(&format!(" **{e}**")),
                }
            }
        }
        for round in 0..rounds {
            if round % 2 == 1 {
                progs.reverse();
                figures.reverse();
            }
            for (pi, l) in progs.iter_mut().enumerate() {
                for (pk, pkt) in [&miss, &last].into_iter().enumerate() {
                    if let Ok(v) = ns_per_packet(&mut l.ebpf, &l.name, pkt, REPEAT, 1) {
                        figures[pi][pk].push(v);
                    }
                }
            }
            if round % 2 == 1 {
                progs.reverse();
                figures.reverse();
            }
        }
        for f in &figures {
            for v in f {
                cells.push(median(v.clone()));
            }
        }
        let fmt = |v: Option<&f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
        let ratio = match (cells.first(), cells.get(2)) {
            (Some(o), Some(l)) => format!("{:.1}×", l / o),
            _ => "–".into(),
        };
        println!(
            "| {entries} | {masks} | {} | {} | {} | {} | {ratio} |{note}",
            fmt(cells.first()),
            fmt(cells.get(1)),
            fmt(cells.get(2)),
            fmt(cells.get(3)),
        );
    }
}
