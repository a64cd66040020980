//! The targets validate knows, which of them this machine has, and running
//! the vectors through each (the runners are in `offload_drivers::validate`
//! and `offload_drivers::p4::diff`).

use super::report::Progress;
use super::vectors::{expected_bytes, Vector};
use anyhow::bail;
use offload_core::ir::Module;
use offload_core::semantics;
use offload_drivers::validate::{FrameResult, Mismatch, Probe, TargetRun};
use offload_ebpf::layout::Hook;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetId {
    Reference,
    XdpTestRun,
    TcTestRun,
    XdpLive,
    TcLive,
    Bmv2,
    Nic,
    Netdevsim,
}

impl TargetId {
    pub const ALL: [TargetId; 8] = [
        TargetId::Reference,
        TargetId::XdpTestRun,
        TargetId::TcTestRun,
        TargetId::XdpLive,
        TargetId::TcLive,
        TargetId::Bmv2,
        TargetId::Nic,
        TargetId::Netdevsim,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TargetId::Reference => "reference",
            TargetId::XdpTestRun => "xdp-test-run",
            TargetId::TcTestRun => "tc-test-run",
            TargetId::XdpLive => "xdp-live",
            TargetId::TcLive => "tc-live",
            TargetId::Bmv2 => "bmv2",
            TargetId::Nic => "nic",
            TargetId::Netdevsim => "netdevsim",
        }
    }

    /// What it is, for the report.
    pub fn what(self) -> &'static str {
        match self {
            TargetId::Reference => "the reference interpreter (offload-core::semantics)",
            TargetId::XdpTestRun => {
                "XDP program under BPF_PROG_TEST_RUN (verdict, bytes, counters)"
            }
            TargetId::TcTestRun => "tc program under BPF_PROG_TEST_RUN (verdict, bytes, counters)",
            TargetId::XdpLive => {
                "XDP live frames on a veth lab (where each frame leaves, and as what)"
            }
            TargetId::TcLive => {
                "tc attached to a veth of a veth lab (where each frame leaves, and as what)"
            }
            TargetId::Bmv2 => {
                "the v1model program on BMv2 simple_switch, veth lab (port, bytes, counters)"
            }
            TargetId::Nic => "a real offload NIC, live on its own interface (--on IFACE)",
            TargetId::Netdevsim => {
                "the netdevsim offload lab VM (control path: load, attach, entries)"
            }
        }
    }

    pub fn needs_root(self) -> bool {
        !matches!(self, TargetId::Reference)
    }

    fn parse(s: &str) -> Option<TargetId> {
        TargetId::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// `--targets`: the list given, or every target but netdevsim (slow: it
/// boots a VM), in the matrix's order.
pub fn select(list: Option<&[String]>) -> anyhow::Result<Vec<TargetId>> {
    let Some(list) = list else {
        return Ok(TargetId::ALL
            .into_iter()
            .filter(|t| *t != TargetId::Netdevsim)
            .collect());
    };
    let mut out = Vec::new();
    for s in list {
        let s = s.trim();
        match TargetId::parse(s) {
            Some(t) => out.push(t),
            None => {
                let names: Vec<&str> = TargetId::ALL.iter().map(|t| t.name()).collect();
                let hint = offload_core::spec::suggest::did_you_mean(s, names.iter().copied())
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                bail!(
                    "--targets: no target `{s}`; {hint}targets are: {}",
                    names.join(", ")
                )
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// One target's answer: its run, or why it did not run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: TargetId,
    pub run: Result<TargetRun, String>,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

const NEEDS_ROOT: &str = "needs root (CAP_BPF/CAP_NET_ADMIN): run validate as root for this target";

/// Runs every target of the matrix: the `wanted` ones for real where this
/// machine has them, the others as "not run" with the reason.
pub fn run_all(
    m: &Module,
    file: &Path,
    vectors: &[Vector],
    wanted: &[TargetId],
    explicit: bool,
    on: Option<&str>,
    progress: &mut Progress,
) -> Vec<Outcome> {
    let probes: Vec<Probe> = vectors
        .iter()
        .map(|v| Probe {
            in_port: v.in_port,
            bytes: v.bytes.clone(),
        })
        .collect();
    TargetId::ALL
        .into_iter()
        .filter(|t| !explicit || wanted.contains(t))
        .map(|t| {
            let run = if !wanted.contains(&t) {
                Err(match t {
                    TargetId::Netdevsim => {
                        "boots a QEMU guest (TCG, ~1-2 min); ask for it with --targets netdevsim"
                            .to_string()
                    }
                    _ => "not asked for (--targets)".to_string(),
                })
            } else if t.needs_root() && !is_root() {
                Err(NEEDS_ROOT.to_string())
            } else {
                progress.start(t.name(), vectors.len());
                let mut tick = |d: usize, n: usize| progress.set(d, n);
                match t {
                    TargetId::Reference => Ok(reference(m, vectors)),
                    TargetId::XdpTestRun => {
                        offload_drivers::validate::bpf::run(m, Hook::Xdp, &probes, &mut tick)
                    }
                    TargetId::TcTestRun => {
                        offload_drivers::validate::bpf::run(m, Hook::Tc, &probes, &mut tick)
                    }
                    TargetId::XdpLive => {
                        offload_drivers::validate::live::run(m, Hook::Xdp, &probes, &mut tick)
                    }
                    TargetId::TcLive => {
                        offload_drivers::validate::live::run(m, Hook::Tc, &probes, &mut tick)
                    }
                    TargetId::Bmv2 => bmv2(m, &probes),
                    TargetId::Nic => nic(m, file, on, vectors.len()),
                    TargetId::Netdevsim => netdevsim(m, file, vectors.len()),
                }
            };
            progress.done(t.name(), &run);
            Outcome { target: t, run }
        })
        .collect()
}

/// The reference against the vectors' expectations (where a file gave
/// them); without expectations it is the judge of the others and passes.
fn reference(m: &Module, vectors: &[Vector]) -> TargetRun {
    let t0 = Instant::now();
    let frames = vectors
        .iter()
        .map(|v| {
            let o = semantics::run(m, v.in_port, &v.bytes);
            let Some(e) = &v.expect else {
                return FrameResult::Pass;
            };
            let mut what = Vec::new();
            if o.verdict != e.verdict {
                what.push(format!(
                    "verdict: the vectors file expects {:?}, the reference says {:?}",
                    e.verdict, o.verdict
                ));
            }
            if let Some(want) = expected_bytes(e, &v.bytes) {
                if want != o.packet.as_slice() {
                    what.push(offload_drivers::validate::bpf::first_diff(want, &o.packet));
                }
            }
            if what.is_empty() {
                FrameResult::Pass
            } else {
                FrameResult::Fail(Mismatch {
                    what: what.join("; "),
                    got_verdict: Some(format!("{:?}", o.verdict)),
                    got_bytes: Some(o.packet),
                })
            }
        })
        .collect();
    TargetRun {
        frames,
        run_secs: t0.elapsed().as_secs_f64(),
        ..TargetRun::default()
    }
}

fn bmv2(m: &Module, probes: &[Probe]) -> Result<TargetRun, String> {
    use offload_drivers::p4::{bmv2, diff};
    let tools = bmv2::Tools::find().map_err(|e| {
        format!("{e} (install the P4 toolchain, see README \"P4 toolchain\", or put it on PATH)")
    })?;
    let t0 = Instant::now();
    let work = std::env::temp_dir().join(format!("offload-validate-bmv2-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let frames: Vec<(offload_core::ir::PortId, Vec<u8>)> = probes
        .iter()
        .map(|p| (p.in_port, p.bytes.clone()))
        .collect();
    let mut rig = diff::Rig::new();
    let mut report = diff::Report::default();
    let r = diff::run_module(&mut rig, &tools, &m.name, m, &frames, &work, &mut report);
    drop(rig);
    let kept = !report.mismatches.is_empty();
    if !kept {
        let _ = std::fs::remove_dir_all(&work);
    }
    r.map_err(|e| e.to_string())?;
    if let Some(why) = report.refused.first() {
        return Err(format!("the P4 backend refuses the module: {why}"));
    }
    let setup_failure = (report.frame_results.is_empty() && !report.mismatches.is_empty())
        .then(|| report.mismatches.join("; "));
    let frames = (0..probes.len())
        .map(|i| {
            if let Some(f) = &setup_failure {
                return FrameResult::Fail(Mismatch {
                    what: f.clone(),
                    got_verdict: None,
                    got_bytes: None,
                });
            }
            match (report.frame_results.get(&i), report.frame_not_run.get(&i)) {
                (Some(Ok(())), _) => FrameResult::Pass,
                (Some(Err(p)), _) => FrameResult::Fail(Mismatch {
                    what: p.clone(),
                    got_verdict: None,
                    got_bytes: None,
                }),
                (None, Some(why)) => FrameResult::NotRun((*why).to_string()),
                (None, None) => FrameResult::NotRun("not sent".into()),
            }
        })
        .collect();
    let total = t0.elapsed().as_secs_f64();
    let mut notes = Vec::new();
    if let Some((_, secs, kib)) = report.compiles.first() {
        notes.push(format!("p4c-bm2-ss {secs:.1} s, {} MiB", kib / 1024));
    }
    if kept {
        notes.push(format!("switch log and program kept in {}", work.display()));
    }
    Ok(TargetRun {
        frames,
        counters_checked: report.counters_checked,
        counter_mismatches: report.counter_mismatches.clone(),
        setup_secs: total - report.run_secs,
        run_secs: report.run_secs,
        notes,
    })
}

/// A real offload NIC, only with `--on IFACE`: the probe must say the
/// device does XDP hardware offload, the module must fit its offload
/// profile; then the control path runs on it as on netdevsim (apply in
/// offload mode, status, entries read back, detach) through this very
/// binary. Frames are not run: a NIC processes what arrives on its wire,
/// and validate drives no traffic peer there.
fn nic(m: &Module, file: &Path, on: Option<&str>, frames: usize) -> Result<TargetRun, String> {
    use offload_core::plan::Profile;
    use offload_drivers::probe::{self, view::LiveSystem};
    use offload_ebpf::codegen::{compile, Target};
    let Some(iface) = on else {
        return Err(
            "no --on IFACE: a real offload NIC is used only on its own interface, when asked"
                .into(),
        );
    };
    if !Path::new("/sys/class/net").join(iface).exists() {
        return Err(format!("--on {iface}: no such interface"));
    }
    let hwdb = offload_hwdb::Hwdb::builtin().map_err(|e| e.to_string())?;
    let report = probe::probe(&LiveSystem, &hwdb).map_err(|e| format!("probe: {e}"))?;
    let dev = report
        .device(iface)
        .ok_or_else(|| format!("--on {iface}: the probe does not list it"))?;
    let driver = dev
        .driver
        .as_ref()
        .map_or("unknown driver".to_string(), |d| d.value.clone());
    let hw = &dev.xdp.hw_offload;
    if hw.value != Some(true) {
        return Err(format!(
            "--on {iface} ({driver}) does no XDP hardware offload ({}: {})",
            match hw.value {
                Some(false) => "no",
                _ => "unknown",
            },
            hw.from
        ));
    }
    let profile = dev
        .hwdb
        .as_ref()
        .and_then(|h| h.offload_profile.as_deref())
        .and_then(Profile::by_name)
        .ok_or_else(|| {
            format!("--on {iface} ({driver}): no offload profile in the hardware database")
        })?;
    if let Err(e) = compile(m, &Target::xdp_offload(profile)) {
        return Err(format!("{iface}'s offload profile refuses the module: {e}"));
    }
    let t0 = Instant::now();
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let module = file.display().to_string();
    let steps: [(&str, Vec<&str>); 4] = [
        (
            "apply_offload",
            vec!["apply", &module, "--on", iface, "--mode", "offload"],
        ),
        ("status_in_sync", vec!["status"]),
        ("entries_read_back", vec!["entries", "list"]),
        ("detach", vec!["detach"]),
    ];
    let mut failed = Vec::new();
    for (name, args) in &steps {
        let out = std::process::Command::new(&me)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            failed.push(format!(
                "control path {name}: `offloadctl {}` exited {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            if *name == "apply_offload" {
                break;
            }
        }
    }
    Ok(TargetRun {
        frames: vec![
            FrameResult::NotRun(format!(
                "frames through {iface} need a traffic peer on its wire, which validate does not drive"
            ));
            frames
        ],
        counters_checked: steps.len(),
        counter_mismatches: failed,
        setup_secs: t0.elapsed().as_secs_f64(),
        run_secs: 0.0,
        notes: vec![format!("control path on {iface} ({driver}): apply in offload mode, status, entries, detach")],
    })
}

/// The control path of `module` on netdevsim, in the offload lab VM: a
/// guest script applies it in offload mode on a netdevsim port and checks
/// what the kernel reports (program and maps offloaded, entries listed,
/// status, detach). netdevsim never runs programs on packets, so every
/// frame is "not run" there; the checks land in the counters/control
/// column.
const NSIM_SCRIPT: &str = r#"#!/bin/sh
# offloadctl validate's netdevsim target (generated; runs in the lab VM).
shift # --test-threads=1
M="$1"
check() {
	name=$1; shift
	if out=$("$@" 2>&1); then echo "test $name ... ok"; else
		printf '%s\n' "$out" | sed 's/^/    /'; echo "test $name ... FAILED"; fi
}
echo "9 1" > /sys/bus/netdevsim/new_device || { echo "test netdevsim_device ... FAILED"; exit 1; }
sleep 1
IF=$(ls /sys/bus/netdevsim/devices/netdevsim9/net/ | head -1)
/usr/sbin/ip link set "$IF" up
check apply_offload offloadctl apply "$M" --on "$IF" --mode offload
check attached_in_hw_mode sh -c "/usr/sbin/ip -d link show dev $IF | grep -q xdpoffload"
check program_offloaded sh -c "bpftool prog show | grep -q 'offloaded_to $IF'"
check maps_offloaded sh -c "! bpftool map show | grep -E '^[0-9]+: ' | grep -v 'offloaded_to $IF' | grep -q ."
check status_in_sync offloadctl status
check entries_read_back offloadctl entries list
check detach offloadctl detach
check nothing_left sh -c "! /usr/sbin/ip -d link show dev $IF | grep -q xdp"
echo 9 > /sys/bus/netdevsim/del_device
"#;

fn netdevsim(m: &Module, file: &Path, frames: usize) -> Result<TargetRun, String> {
    use offload_core::plan::Profile;
    use offload_drivers::vmlab::{self, GuestTest, LabOptions, Outcome};
    use offload_ebpf::codegen::{compile, Target};
    if let Err(e) = compile(m, &Target::xdp_offload(Profile::netdevsim())) {
        return Err(format!(
            "the netdevsim offload profile refuses the module: {e}"
        ));
    }
    let mut opts = LabOptions::new(std::env::current_exe().map_err(|e| e.to_string())?);
    let missing = vmlab::missing_pieces(&opts);
    if !missing.is_empty() {
        return Err(format!(
            "the offload lab VM cannot run here, missing: {}",
            missing.join("; ")
        ));
    }
    let t0 = Instant::now();
    // The module goes into the guest at the same absolute path, alone.
    let dir = std::env::temp_dir().join(format!("offload-validate-nsim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("module")).map_err(|e| e.to_string())?;
    let name = file
        .file_name()
        .map_or("module.toml".into(), |n| n.to_string_lossy().into_owned());
    let module = dir.join("module").join(&name);
    std::fs::copy(file, &module).map_err(|e| format!("{}: {e}", file.display()))?;
    let script = dir.join("validate");
    std::fs::write(&script, NSIM_SCRIPT).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    opts.guest_tests.push(GuestTest {
        name: "validate".into(),
        path: script,
        args: vec![module.display().to_string()],
    });
    opts.mirror.push(dir.join("module"));
    let run = vmlab::run(&opts, &mut |l| eprintln!("validate: netdevsim: {l}"), None);
    let _ = std::fs::remove_dir_all(&dir);
    let run = run.map_err(|e| format!("offload lab VM: {e}"))?;
    let checks: Vec<_> = run
        .report
        .checks
        .iter()
        .filter(|c| c.name.starts_with("kt.validate."))
        .collect();
    if checks.is_empty() {
        return Err(format!(
            "the lab VM ran but reported no validate checks (console log: {})",
            run.serial_log.display()
        ));
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .map(|c| {
            format!(
                "control path {}: {:?} {}{}",
                c.name.trim_start_matches("kt.validate."),
                c.outcome,
                c.detail,
                if c.output.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.output.join(" | "))
                }
            )
        })
        .collect();
    Ok(TargetRun {
        frames: vec![
            FrameResult::NotRun(
                "netdevsim never runs offloaded programs on packets (control path only)".into()
            );
            frames
        ],
        counters_checked: checks.len(),
        counter_mismatches: failed,
        setup_secs: t0.elapsed().as_secs_f64(),
        run_secs: 0.0,
        notes: vec![format!(
            "control path checks in the lab VM: {} ({} s wall, console log {})",
            checks
                .iter()
                .map(|c| c.name.trim_start_matches("kt.validate."))
                .collect::<Vec<_>>()
                .join(", "),
            run.vm_wall.as_secs(),
            run.serial_log.display()
        )],
    })
}
