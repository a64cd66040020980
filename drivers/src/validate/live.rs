//! The programs live on a veth lab of their own: a network namespace with
//! `in0` (the ingress interface, peer `in0p`) and one veth `pN` (peer `pNp`)
//! per logical port, the DEVMAP / ifindex map filled with them.
//!
//! - XDP: each frame is run with `BPF_F_TEST_XDP_LIVE_FRAMES` on `in0`, so
//!   the kernel carries the verdict out as a driver would: `XDP_PASS` into
//!   `in0`'s stack (captured there), `XDP_TX` back out (captured on
//!   `in0p`), `XDP_REDIRECT` out of the port's veth (captured on its peer).
//! - tc: the program is attached to `in0` and frames are sent from `in0p`;
//!   redirects are captured on the peers. A passed frame goes up the stack,
//!   which no capture tells apart from a drop (the verdict itself is
//!   checked by the test-run target).
//!
//! Frames go in batches; a batch whose captures differ from the
//! reference's expectations is sent again frame by frame, so every
//! mismatch is pinned to its frame. The namespace is removed on drop.

use super::bpf::{self, LoadError};
use super::{FrameResult, Mismatch, Probe, Progress, TargetRun};
use crate::lab::ifindex;
use crate::load::attach::attach;
use crate::load::Mode;
use crate::sys::Kernel;
use crate::testrun::{self, Capture};
use offload_core::ir::chain::Fused;
use offload_core::ir::{Module, PortId};
use offload_core::semantics::{self, Verdict};
use offload_ebpf::codegen::{compile, Target};
use offload_ebpf::layout::Hook;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A network namespace of this run, removed on drop (also on panic).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Result<Netns, String> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("oval-{tag}-{}-{n}", std::process::id());
        sh(&["ip", "netns", "add", &name])?;
        let ns = Netns(name);
        // No IPv6 (no neighbour discovery noise on the captures).
        sh(&[
            "ip",
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])?;
        Ok(ns)
    }

    /// A veth pair `a`/`b`, both up.
    fn veth(&self, a: &str, b: &str) -> Result<(), String> {
        sh(&[
            "ip", "-n", &self.0, "link", "add", a, "type", "veth", "peer", "name", b,
        ])?;
        for i in [a, b] {
            sh(&["ip", "-n", &self.0, "link", "set", i, "up"])?;
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .output();
    }
}

fn sh(argv: &[&str]) -> Result<(), String> {
    crate::lab::run(argv).map(|_| ()).map_err(|e| e.to_string())
}

/// Where a frame is seen leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sink {
    /// Into the ingress interface's stack (captured on it, incoming).
    Host,
    /// Out of the ingress interface (captured on its peer).
    Back,
    /// Out of a port's interface (captured on its peer).
    Port(u16),
}

impl Sink {
    fn words(self, m: &Module) -> String {
        match self {
            Sink::Host => "into the host stack of the ingress interface".into(),
            Sink::Back => "back out of the ingress interface".into(),
            Sink::Port(p) => format!(
                "out of port {}",
                m.port_by_id(PortId(p))
                    .map_or_else(|| p.to_string(), |x| x.name.clone())
            ),
        }
    }
}

/// The receive path moves an outer tag into metadata and frees a frame whose
/// tag is cut short (skb_vlan_untag wants 6 bytes after the TPID); such
/// frames cannot be observed unchanged on a veth.
pub fn observable(frame: &[u8]) -> bool {
    let tpid = frame.len() >= 14 && matches!([frame[12], frame[13]], [0x81, 0x00] | [0x88, 0xa8]);
    frame.len() >= 14 && (!tpid || frame.len() >= 20)
}

/// What runs: one module, or a service chain as its fused program.
#[derive(Clone)]
enum Subject {
    Module(Module),
    Chain { fused: Fused, modules: Vec<Module> },
}

impl Subject {
    /// The module whose ports and tables the program has.
    fn module(&self) -> &Module {
        match self {
            Subject::Module(m) => m,
            Subject::Chain { fused, .. } => &fused.module,
        }
    }
    /// The reference's verdict and output bytes.
    fn outcome(&self, in_port: PortId, bytes: &[u8]) -> (Verdict, Vec<u8>) {
        match self {
            Subject::Module(m) => {
                let o = semantics::run(m, in_port, bytes);
                (o.verdict, o.packet)
            }
            Subject::Chain { modules, .. } => {
                let o = semantics::run_chain(modules, in_port, bytes);
                (o.verdict, o.packet)
            }
        }
    }
    fn load(
        &self,
        hook: Hook,
        port_ifindex: &dyn Fn(PortId) -> u32,
    ) -> Result<
        (
            offload_ebpf::codegen::Compiled,
            crate::load::program::Loaded,
        ),
        LoadError,
    > {
        match self {
            Subject::Module(m) => bpf::load(m, hook, port_ifindex),
            Subject::Chain { fused, .. } => bpf::load_chain(fused, hook, port_ifindex),
        }
    }
}

/// Runs `probes` through `module` live on `hook`. `Err`: the target cannot run.
pub fn run(
    module: &Module,
    hook: Hook,
    probes: &[Probe],
    progress: Progress,
) -> Result<TargetRun, String> {
    run_subject(Subject::Module(module.clone()), hook, probes, progress)
}

/// [`run`] for a service chain (`modules`, fused as `fused`): its one fused
/// program, against `semantics::run_chain`.
pub fn run_chain(
    fused: &Fused,
    modules: &[Module],
    hook: Hook,
    probes: &[Probe],
    progress: Progress,
) -> Result<TargetRun, String> {
    run_subject(
        Subject::Chain {
            fused: fused.clone(),
            modules: modules.to_vec(),
        },
        hook,
        probes,
        progress,
    )
}

fn run_subject(
    subject: Subject,
    hook: Hook,
    probes: &[Probe],
    progress: Progress,
) -> Result<TargetRun, String> {
    let module = subject.module().clone();
    let t0 = Instant::now();
    let ns = Netns::new(match hook {
        Hook::Xdp => "x",
        Hook::Tc => "t",
    })?;
    ns.veth("in0", "in0p")?;
    let ports: Vec<(PortId, String)> = module
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, format!("p{i}")))
        .collect();
    for (_, name) in &ports {
        ns.veth(name, &format!("{name}p"))?;
    }
    let setup = t0.elapsed().as_secs_f64();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, usize)>();
    let (m, pr) = (subject, probes.to_vec());
    let handle = crate::lab::netns::spawn_in(&ns.0, move || {
        inside(&m, hook, &pr, &ports, &mut |d, n| {
            let _ = tx.send((d, n));
        })
    })
    .map_err(|e| e.to_string())?;
    for (d, n) in rx {
        progress(d, n);
    }
    let r = match handle.join() {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(p) => std::panic::resume_unwind(p),
    };
    drop(ns);
    r.map(|mut t| {
        t.setup_secs += setup;
        t
    })
}

/// What the reference expects of one frame on this hook: `Ok(sink and
/// bytes, or None for nothing observable)`, or `Err(why it is not run)`.
type Want = Result<Option<(Sink, Vec<u8>)>, String>;

fn want_of(m: &Subject, hook: Hook, p: &Probe) -> Want {
    let (verdict, packet) = m.outcome(p.in_port, &p.bytes);
    let want = semantics::Outcome {
        verdict,
        packet,
        counters: Vec::new(),
        steps: Vec::new(),
    };
    if !observable(&p.bytes) {
        return Err("no veth carries it unchanged (shorter than Ethernet, or a VLAN tag cut short: Linux drops it on receive)".into());
    }
    if !observable(&want.packet) {
        return Err("the reference's output is a frame no veth carries unchanged".into());
    }
    let tagged_in = semantics::parse(&p.bytes).vlan_tags > 0
        || matches!([p.bytes[12], p.bytes[13]], [0x81, 0x00] | [0x88, 0xa8]);
    if hook == Hook::Tc && tagged_in {
        return Err("tc on a live interface sees the outer VLAN tag in skb metadata, not in the bytes (a known limit)".into());
    }
    Ok(match want.verdict {
        Verdict::Drop => None,
        Verdict::Pass if hook == Hook::Tc => None,
        Verdict::Pass => Some((Sink::Host, want.packet)),
        Verdict::Tx => Some((Sink::Back, want.packet)),
        Verdict::Forward(q) => Some((Sink::Port(q.0), want.packet)),
    })
}

fn inside(
    subject: &Subject,
    hook: Hook,
    probes: &[Probe],
    ports: &[(PortId, String)],
    progress: Progress,
) -> Result<TargetRun, String> {
    let t0 = Instant::now();
    let m = subject.module();
    let in0 = ifindex("in0");
    // Redirected frames reach a veth peer only while it runs XDP (veth then
    // takes frames on its NAPI ring): an XDP program that passes everything.
    let pass_all = offload_core::spec::compile(
        "[module]\nname = \"pass_all\"\n[[table]]\nname = \"t\"\nactions = [\"go\"]\ndefault_action = \"go\"\n[action.go]\ndo = [\"pass\"]\n",
    )
    .map_err(|_| "pass_all module".to_string())?;
    let pc = compile(&pass_all, &Target::xdp()).map_err(|e| e.to_string())?;
    let mut pass_prog = crate::load::program::load(&pc.object, &pc.program_name, Mode::Native)
        .map_err(|e| format!("pass_all: {e}"))?;
    // Some kernels refuse BPF_F_TEST_XDP_LIVE_FRAMES even to root (EPERM:
    // seen on a 6.18 Firecracker build): then XDP runs as tc does here,
    // attached to in0 with frames sent from in0p — the same frames through
    // the same program on the same interface, carried out by the driver.
    let live_frames = match hook {
        Hook::Xdp => testrun::live_frames_supported(&pass_prog, in0)?,
        Hook::Tc => false,
    };
    let mut links = Vec::new();
    let mut sinks: BTreeMap<Sink, Capture> = BTreeMap::new();
    let mut peers = vec![("in0p".to_string(), Sink::Back)];
    peers.extend(
        ports
            .iter()
            .map(|(id, n)| (format!("{n}p"), Sink::Port(id.0))),
    );
    for (peer, sink) in &peers {
        let idx = ifindex(peer);
        links.push(attach(&Kernel, &mut pass_prog, peer, idx).map_err(|e| e.to_string())?);
        sinks.insert(*sink, Capture::open(idx).map_err(|e| e.to_string())?);
    }
    if hook == Hook::Xdp {
        sinks.insert(Sink::Host, Capture::open(in0).map_err(|e| e.to_string())?);
    }
    let port_if: BTreeMap<u16, u32> = ports.iter().map(|(id, n)| (id.0, ifindex(n))).collect();
    let (c, mut loaded) = subject
        .load(hook, &|p| port_if.get(&p.0).copied().unwrap_or(0))
        .map_err(|e| match e {
            LoadError::Refused(s) => format!("refused by the target profile: {s}"),
            LoadError::Failed(s) => s,
        })?;
    // tc (and XDP without live frames): frames sent from in0p; what comes
    // back out of in0 arrives there.
    let sender = if !live_frames {
        links.push(attach(&Kernel, &mut loaded, "in0", in0).map_err(|e| e.to_string())?);
        Some(sinks.remove(&Sink::Back).ok_or("no capture on in0p")?)
    } else {
        None
    };
    let mut out = TargetRun {
        setup_secs: t0.elapsed().as_secs_f64(),
        ..TargetRun::default()
    };
    if hook == Hook::Xdp && !live_frames {
        out.notes.push(
            "this kernel refuses BPF_F_TEST_XDP_LIVE_FRAMES (EPERM): frames were sent from in0's veth peer into the program attached to in0".into(),
        );
    }
    let t1 = Instant::now();
    let caps: Vec<(Sink, &Capture)> = {
        let mut v: Vec<(Sink, &Capture)> = sinks.iter().map(|(s, c)| (*s, c)).collect();
        if let Some(b) = &sender {
            v.push((Sink::Back, b));
        }
        v
    };
    let send = |p: &Probe| -> Result<(), String> {
        bpf::set_in_port(&c, &loaded, in0, p.in_port)?;
        match &sender {
            Some(s) => s.send(&p.bytes).map_err(|e| e.to_string()),
            None => testrun::run_live(&loaded, &p.bytes, in0).map_err(|e| e.to_string()),
        }
    };
    // What the sinks get: once `expect` frames are in, until `quiet` passes
    // without another (at most `max` in all).
    let collect =
        |expect: usize, quiet: Duration, max: Duration| -> Result<Vec<(Sink, Vec<u8>)>, String> {
            let start = Instant::now();
            let mut last = start;
            let mut got = Vec::new();
            loop {
                let mut any = false;
                for (s, cap) in &caps {
                    while let Some(f) = cap.recv(Duration::ZERO).map_err(|e| e.to_string())? {
                        got.push((*s, f));
                        any = true;
                    }
                }
                let now = Instant::now();
                if any {
                    last = now;
                }
                if (got.len() >= expect && now - last >= quiet) || now - start >= max {
                    return Ok(got);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        };
    let _ = collect(0, Duration::from_millis(5), Duration::from_millis(50))?;
    let wants: Vec<Want> = probes.iter().map(|p| want_of(subject, hook, p)).collect();
    let mut results: Vec<Option<FrameResult>> = vec![None; probes.len()];
    for (i, w) in wants.iter().enumerate() {
        if let Err(why) = w {
            results[i] = Some(FrameResult::NotRun(why.clone()));
        }
    }
    let runnable: Vec<usize> = (0..probes.len())
        .filter(|i| results[*i].is_none())
        .collect();
    let mut done = 0;
    for batch in runnable.chunks(32) {
        progress(done, probes.len());
        for &i in batch {
            if let Err(e) = send(&probes[i]) {
                results[i] = Some(FrameResult::Fail(Mismatch {
                    what: format!("could not send it: {e}"),
                    got_verdict: None,
                    got_bytes: None,
                }));
            }
        }
        let mut want: Vec<(Sink, Vec<u8>)> = batch
            .iter()
            .filter(|i| results[**i].is_none())
            .filter_map(|i| wants[*i].as_ref().ok().cloned().flatten())
            .collect();
        let mut got = collect(
            want.len(),
            Duration::from_millis(15),
            Duration::from_millis(1000),
        )?;
        want.sort();
        got.sort();
        if want == got {
            for &i in batch {
                results[i].get_or_insert(FrameResult::Pass);
            }
        } else {
            // Again, one by one, to pin each difference to its frame.
            let again: Vec<usize> = batch
                .iter()
                .copied()
                .filter(|i| results[*i].is_none())
                .collect();
            for i in again {
                send(&probes[i])?;
                let w = wants[i].clone().ok().flatten();
                let mut got = collect(
                    usize::from(w.is_some()),
                    Duration::from_millis(40),
                    Duration::from_millis(500),
                )?;
                got.sort();
                let ok = match &w {
                    Some(x) => got.len() == 1 && &got[0] == x,
                    None => got.is_empty(),
                };
                results[i] = Some(if ok {
                    FrameResult::Pass
                } else {
                    let expected = match &w {
                        Some((s, _)) => format!("the reference sends it {}", s.words(m)),
                        None if hook == Hook::Tc => {
                            "the reference drops it or passes it to the stack".into()
                        }
                        None => "the reference drops it".into(),
                    };
                    let seen = if got.is_empty() {
                        "it was seen nowhere".to_string()
                    } else {
                        got.iter()
                            .map(|(s, b)| format!("{} bytes {}", b.len(), s.words(m)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let mut what = format!("{expected}; {seen}");
                    if let (Some((ws, wb)), [(gs, gb)]) = (&w, got.as_slice()) {
                        if ws == gs {
                            what = bpf::first_diff(wb, gb);
                        }
                    }
                    FrameResult::Fail(Mismatch {
                        what,
                        got_verdict: Some(match got.as_slice() {
                            [] => "not seen".into(),
                            g => g
                                .iter()
                                .map(|(s, _)| s.words(m))
                                .collect::<Vec<_>>()
                                .join(", "),
                        }),
                        got_bytes: got.first().map(|(_, b)| b.clone()),
                    })
                });
            }
        }
        done += batch.len();
    }
    progress(probes.len(), probes.len());
    out.run_secs = t1.elapsed().as_secs_f64();
    out.frames = results
        .into_iter()
        .map(|r| r.unwrap_or(FrameResult::NotRun("not sent".into())))
        .collect();
    drop(links);
    Ok(out)
}
