//! A module as an XDP or tc program under `BPF_PROG_TEST_RUN`: compiled by
//! our backend, loaded through the production path (aya), tables filled
//! through the layout ([`crate::entries::write`]), ports bound, then every
//! frame run once and compared with the reference on verdict and bytes,
//! and the counters on totals at the end. The egress *port* of a forward is
//! not visible to a test run (the kernel only says "redirect"): [`super::live`]
//! observes it.

use super::{FrameResult, Mismatch, Probe, Progress, TargetRun};
use crate::entries::write::{self, TableFds};
use crate::load::program::{load as load_object, Loaded};
use crate::load::Mode;
use crate::sys::{self, Kernel};
use crate::testrun;
use offload_core::ir::chain::Fused;
use offload_core::ir::{Module, PortId};
use offload_core::semantics::{self, CounterSlot, Outcome, Verdict};
use offload_ebpf::codegen::linked::{compile_linked, Linked};
use offload_ebpf::codegen::{compile, compile_chain, CompileError, Compiled, Target};
use offload_ebpf::layout::Hook;
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::Instant;

/// Why a module could not be loaded for a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The backend refuses the module for this target, naming why (e.g. a
    /// `pop_vlan` after another VLAN change on tc): no program, by design.
    Refused(String),
    /// Anything else: compile error, verifier refusal, map writes.
    Failed(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Refused(s) => write!(f, "refused by the target profile: {s}"),
            LoadError::Failed(s) => f.write_str(s),
        }
    }
}

/// The codegen target of a hook on the host kernel (with the test-only
/// generator bug when [`super::CORRUPT_REWRITE_ENV`] asks for it).
pub fn target(hook: Hook) -> Target {
    let mut t = match hook {
        Hook::Xdp => Target::xdp(),
        Hook::Tc => Target::tc(),
    };
    t.test_corrupt_rewrite = super::corrupt_rewrite();
    t
}

/// The attach mode test runs use for a hook.
pub fn mode(hook: Hook) -> Mode {
    match hook {
        Hook::Xdp => Mode::Generic,
        Hook::Tc => Mode::Tc,
    }
}

/// Compiles and loads `module` for `hook`; fills its tables and defaults
/// through the layout; logical port `p` maps to `port_ifindex(p)`.
pub fn load(
    module: &Module,
    hook: Hook,
    port_ifindex: &dyn Fn(PortId) -> u32,
) -> Result<(Compiled, Loaded), LoadError> {
    load_with(module, hook, port_ifindex, &|t| compile(module, t))
}

/// [`load`] compiled for `target` instead of the host kernel's profile —
/// e.g. a NIC offload profile (`Target::xdp_offload(Profile::nfp())`),
/// whose program (shared atomic counters, unrolled mask probes) then runs
/// under the host's verifier and test run, as the differential tests run
/// NIC variants; split placement runs its NIC half this way.
pub fn load_for(
    module: &Module,
    target: &Target,
    port_ifindex: &dyn Fn(PortId) -> u32,
) -> Result<(Compiled, Loaded), LoadError> {
    load_with(module, target.hook, port_ifindex, &|_| {
        compile(module, target)
    })
}

/// [`load`] for a service chain: the fused program (one program for the
/// whole chain), its tables filled from every module's entries.
pub fn load_chain(
    fused: &Fused,
    hook: Hook,
    port_ifindex: &dyn Fn(PortId) -> u32,
) -> Result<(Compiled, Loaded), LoadError> {
    load_with(&fused.module, hook, port_ifindex, &|t| {
        compile_chain(fused, t)
    })
}

type CompileFn<'a> = dyn Fn(&Target) -> Result<Compiled, CompileError> + 'a;

fn load_with(
    module: &Module,
    hook: Hook,
    port_ifindex: &dyn Fn(PortId) -> u32,
    compile: &CompileFn<'_>,
) -> Result<(Compiled, Loaded), LoadError> {
    let m = module;
    let c = compile(&target(hook)).map_err(|e| match e {
        CompileError::Unsupported { .. }
        | CompileError::Profile { .. }
        | CompileError::TooManyMaps { .. } => LoadError::Refused(e.to_string()),
        e => LoadError::Failed(format!("compile: {e}")),
    })?;
    let loaded = load_object(&c.object, &c.program_name, mode(hook))
        .map_err(|e| verifier_failure(&c, &e.to_string()))?;
    fill(m, &c, &loaded, port_ifindex)?;
    Ok((c, loaded))
}

/// A verifier refusal, naming the module node behind the last instruction
/// the log mentions.
fn verifier_failure(c: &Compiled, s: &str) -> LoadError {
    let node = s
        .lines()
        .rev()
        .find_map(|l| l.split_once(':')?.0.trim().parse::<usize>().ok())
        .and_then(|i| c.node_at(i))
        .map(|n| n.describe())
        .unwrap_or_default();
    let tail: Vec<&str> = s.lines().rev().take(30).collect();
    LoadError::Failed(format!(
        "load ({node}): {}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

/// Fills a loaded program's tables, defaults, CRC table and ports from `m`.
fn fill(
    m: &Module,
    c: &Compiled,
    loaded: &Loaded,
    port_ifindex: &dyn Fn(PortId) -> u32,
) -> Result<(), LoadError> {
    for t in m.tables.iter().filter(|t| !c.dead_tables.contains(&t.id)) {
        let tl = c.layout.table(t.id);
        let fds = TableFds::find(tl, &loaded.maps).map_err(|e| LoadError::Failed(e.to_string()))?;
        let entries: Vec<_> = t
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u32))
            .collect();
        write::fill(&Kernel, tl, t, fds, &entries, true)
            .map_err(|e| LoadError::Failed(format!("table {}: {e}", t.name)))?;
    }
    if let Some(name) = &c.layout.crc32_map {
        let map = loaded
            .map(name)
            .ok_or_else(|| LoadError::Failed("no crc32 map".into()))?;
        sys::map_update(
            &Kernel,
            map.fd.as_fd(),
            &0u32.to_ne_bytes(),
            &offload_ebpf::layout::crc32_table_value(),
            sys::BPF_ANY,
        )
        .map_err(|e| LoadError::Failed(format!("crc32: {e}")))?;
    }
    if let Some(name) = &c.layout.ports_map {
        let map = loaded
            .map(name)
            .ok_or_else(|| LoadError::Failed("no ports map".into()))?;
        for p in &m.ports {
            let mut v = port_ifindex(p.id).to_ne_bytes().to_vec();
            v.resize(map.info.value_size as usize, 0);
            sys::map_update(
                &Kernel,
                map.fd.as_fd(),
                &u32::from(p.id.0).to_ne_bytes(),
                &v,
                sys::BPF_ANY,
            )
            .map_err(|e| LoadError::Failed(format!("ports: {e}")))?;
        }
    }
    Ok(())
}

/// A chain linked by tail calls, loaded for test runs: run `entry`.
pub struct LinkedRun {
    pub linked: Linked,
    pub entry: Loaded,
    /// Module k's program (in slot k), with its compiled form.
    pub modules: Vec<(Compiled, Loaded)>,
    pub prog_array: std::os::fd::OwnedFd,
}

/// [`load`] for a chain linked by tail calls: the dispatcher and one program
/// per module, each module's tables filled from its own entries, every slot
/// set. The PROG_ARRAY is pinned only while the programs load.
pub fn load_linked(
    modules: &[Module],
    hook: Hook,
    port_ifindex: &dyn Fn(PortId) -> u32,
) -> Result<LinkedRun, LoadError> {
    let linked = compile_linked(modules, &target(hook)).map_err(|e| match e.compile_error() {
        Some(
            CompileError::Unsupported { .. }
            | CompileError::Profile { .. }
            | CompileError::TooManyMaps { .. }
            | CompileError::TooManyTailCalls { .. },
        ) => LoadError::Refused(crate::load::program::error_chain(&e)),
        _ => LoadError::Failed(format!(
            "compile: {}",
            crate::load::program::error_chain(&e)
        )),
    })?;
    crate::load::bpffs::ensure_mounted().map_err(|e| LoadError::Failed(e.to_string()))?;
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let pin = std::path::PathBuf::from(crate::load::bpffs::BPFFS_ROOT).join(format!(
        "offload_linked_run_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let loaded = crate::load::linked::load(&linked, mode(hook), &pin);
    let _ = std::fs::remove_file(&pin);
    let loaded = loaded.map_err(|e| LoadError::Failed(format!("linked load: {e}")))?;
    let crate::load::linked::LoadedLinked {
        entry,
        modules: progs,
        prog_array,
    } = loaded;
    let mut out = Vec::with_capacity(progs.len());
    for ((m, c), l) in modules.iter().zip(&linked.modules).zip(progs) {
        fill(m, c, &l, port_ifindex)?;
        out.push((c.clone(), l));
    }
    for (k, (_, l)) in out.iter().enumerate().rev() {
        crate::load::linked::set_slot(prog_array.as_fd(), k as u32, l.prog.as_fd())
            .map_err(|e| LoadError::Failed(format!("slot {k}: {e}")))?;
    }
    Ok(LinkedRun {
        linked,
        entry,
        modules: out,
        prog_array,
    })
}

impl LinkedRun {
    /// Sets `meta.in_port` for `ifindex` in every module's program.
    pub fn set_in_port(&self, ifindex: u32, port: PortId) -> Result<(), String> {
        for (c, l) in &self.modules {
            set_in_port(c, l, ifindex, port)?;
        }
        Ok(())
    }
}

/// Tells the program which logical port `ifindex` is (`0xffff`: none).
pub fn set_in_port(
    c: &Compiled,
    loaded: &Loaded,
    ifindex: u32,
    port: PortId,
) -> Result<(), String> {
    let Some(name) = &c.layout.in_ports_map else {
        return Ok(());
    };
    let fd = loaded
        .map(name)
        .ok_or("the program has no in_ports map")?
        .fd
        .as_fd();
    if port.0 == 0xffff {
        let _ = sys::map_delete(&Kernel, fd, &ifindex.to_ne_bytes());
        Ok(())
    } else {
        sys::map_update(
            &Kernel,
            fd,
            &ifindex.to_ne_bytes(),
            &u32::from(port.0).to_ne_bytes(),
            sys::BPF_ANY,
        )
        .map_err(|e| format!("in_ports update: {e}"))
    }
}

/// The return code a verdict has on a hook.
pub fn code(hook: Hook, v: &Verdict) -> u32 {
    match (hook, v) {
        (Hook::Xdp, Verdict::Drop) => 1,
        (Hook::Xdp, Verdict::Pass) => 2,
        (Hook::Xdp, Verdict::Tx) => 3,
        (Hook::Xdp, Verdict::Forward(_)) => 4,
        (Hook::Tc, Verdict::Drop) => 2,
        (Hook::Tc, Verdict::Pass) => 0,
        (Hook::Tc, Verdict::Tx | Verdict::Forward(_)) => 7,
    }
}

/// A return code in words (`XDP_TX (3)`).
pub fn code_name(hook: Hook, code: u32) -> String {
    let name = match (hook, code) {
        (Hook::Xdp, 0) => "XDP_ABORTED",
        (Hook::Xdp, 1) => "XDP_DROP",
        (Hook::Xdp, 2) => "XDP_PASS",
        (Hook::Xdp, 3) => "XDP_TX",
        (Hook::Xdp, 4) => "XDP_REDIRECT",
        (Hook::Tc, 0) => "TC_ACT_OK",
        (Hook::Tc, 2) => "TC_ACT_SHOT",
        (Hook::Tc, 7) => "TC_ACT_REDIRECT",
        _ => "unknown",
    };
    format!("{name} ({code})")
}

/// Counter totals per (map, slot).
pub type Counters = BTreeMap<(String, u32), (u64, u64)>;

/// Adds the counters the reference says `want` hits.
pub fn add_counters(c: &Compiled, want: &Outcome, into: &mut Counters) {
    for hit in &want.counters {
        let tl = c.layout.table(hit.table);
        let slot = match hit.slot {
            CounterSlot::Entry(e) => e as u32,
            CounterSlot::Default => tl.size,
        };
        let Some(map) = tl.counters_map.clone() else {
            continue;
        };
        let e = into.entry((map, slot)).or_default();
        e.0 += 1;
        e.1 += hit.bytes;
    }
}

/// Every non-zero counter of the loaded program.
pub fn read_counters(m: &Module, c: &Compiled, loaded: &Loaded) -> Result<Counters, String> {
    let mut out = BTreeMap::new();
    for t in m.tables.iter().filter(|t| !c.dead_tables.contains(&t.id)) {
        let tl = c.layout.table(t.id);
        let fds = TableFds::find(tl, &loaded.maps).map_err(|e| e.to_string())?;
        if let Some(v) = write::read_counters(&Kernel, tl, fds).map_err(|e| e.to_string())? {
            for (slot, pb) in v.into_iter().enumerate() {
                if pb != (0, 0) {
                    if let Some(map) = &tl.counters_map {
                        out.insert((map.clone(), slot as u32), pb);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Counter differences in words.
pub fn counter_mismatches(want: &Counters, got: &Counters) -> Vec<String> {
    let mut keys: Vec<&(String, u32)> = want.keys().chain(got.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let w = want.get(k).copied().unwrap_or_default();
            let g = got.get(k).copied().unwrap_or_default();
            (w != g).then(|| {
                format!(
                    "counter map {} slot {}: the reference counts {} packets / {} bytes, the target {} / {}",
                    k.0, k.1, w.0, w.1, g.0, g.1
                )
            })
        })
        .collect()
}

/// The kernel's skb test run refuses a frame whose EtherType promises an IP
/// header that is not there; nothing runs, so there is nothing to compare.
pub fn skb_run_may_refuse(frame: &[u8]) -> bool {
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    match et {
        0x0800 => frame.len() < 14 + 20,
        0x86dd => frame.len() < 14 + 40,
        _ => false,
    }
}

/// The interface test runs name as the ingress (loopback: always there).
const LO: u32 = 1;

/// Runs every probe through `module` on `hook` under `BPF_PROG_TEST_RUN`.
/// `Err` is why the target cannot run at all.
pub fn run(
    module: &Module,
    hook: Hook,
    probes: &[Probe],
    progress: Progress,
) -> Result<TargetRun, String> {
    let t0 = Instant::now();
    let (c, loaded) = load(module, hook, &|_| LO).map_err(|e| e.to_string())?;
    let mut out = TargetRun {
        setup_secs: t0.elapsed().as_secs_f64(),
        ..TargetRun::default()
    };
    let t1 = Instant::now();
    let mut expected = Counters::new();
    for (i, p) in probes.iter().enumerate() {
        progress(i, probes.len());
        if p.bytes.len() < 14 {
            out.frames.push(FrameResult::NotRun(
                "shorter than an Ethernet header: the kernel's test run refuses it".into(),
            ));
            continue;
        }
        set_in_port(&c, &loaded, LO, p.in_port)?;
        let want = semantics::run(module, p.in_port, &p.bytes);
        let got = match testrun::run(&loaded, &p.bytes, LO) {
            Ok(r) => r,
            Err(_) if hook == Hook::Tc && skb_run_may_refuse(&p.bytes) => {
                out.frames.push(FrameResult::NotRun(
                    "the skb test run refuses an IP EtherType without a whole IP header".into(),
                ));
                continue;
            }
            Err(e) => {
                out.frames.push(FrameResult::Fail(Mismatch {
                    what: format!("the test run failed: {e}"),
                    got_verdict: None,
                    got_bytes: None,
                }));
                continue;
            }
        };
        add_counters(&c, &want, &mut expected);
        let want_code = code(hook, &want.verdict);
        let mut what = Vec::new();
        if got.retval != want_code {
            what.push(format!(
                "verdict: the reference says {:?} ({}), the program returned {}",
                want.verdict,
                code_name(hook, want_code),
                code_name(hook, got.retval)
            ));
        }
        if got.data != want.packet {
            what.push(first_diff(&want.packet, &got.data));
        }
        out.frames.push(if what.is_empty() {
            FrameResult::Pass
        } else {
            FrameResult::Fail(Mismatch {
                what: what.join("; "),
                got_verdict: Some(code_name(hook, got.retval)),
                got_bytes: Some(got.data),
            })
        });
    }
    progress(probes.len(), probes.len());
    out.run_secs = t1.elapsed().as_secs_f64();
    let got = read_counters(module, &c, &loaded)?;
    out.counters_checked = expected
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    out.counter_mismatches = counter_mismatches(&expected, &got);
    Ok(out)
}

/// `bytes: 60 expected, 60 got, first difference at byte 5 (…)`.
pub fn first_diff(want: &[u8], got: &[u8]) -> String {
    let i = want
        .iter()
        .zip(got)
        .position(|(x, y)| x != y)
        .unwrap_or(want.len().min(got.len()));
    let w = &want[i.min(want.len())..(i + 8).min(want.len())];
    let g = &got[i.min(got.len())..(i + 8).min(got.len())];
    format!(
        "bytes: {} expected, {} got, first difference at byte {i} (expected {}…, got {}…)",
        want.len(),
        got.len(),
        super::hex(w),
        super::hex(g)
    )
}

/// Sets a metered program's `clock` override to `ns` (0: back to the
/// kernel's clock), so the next test runs see that arrival time (see
/// `offload_ebpf::layout`, "Meters"). An error if the module has no meter.
pub fn set_clock(c: &Compiled, loaded: &Loaded, ns: u64) -> Result<(), String> {
    let name = c
        .layout
        .clock_map
        .as_ref()
        .ok_or_else(|| "the module has no meter, so no clock map".to_string())?;
    let map = loaded
        .map(name)
        .ok_or_else(|| format!("map {name} was not loaded"))?;
    sys::map_update(
        &Kernel,
        map.fd.as_fd(),
        &0u32.to_ne_bytes(),
        &ns.to_ne_bytes(),
        sys::BPF_ANY,
    )
    .map_err(|e| format!("clock: {e}"))
}
