//! `offloadctl plan FILE [--on IFACE ...] [--json] [--system DIR] [--mode M] [--strict]`:
//! where the module would run on each device of a host, and why every more
//! offloaded target was rejected. Exit 0 when every device has a placement,
//! 1 when one is refused (forced mode / --strict / nothing fits).

use super::load_module_or_report;
use super::probe::probe_host;
use offload_core::ir::Module;
use offload_core::plan::{
    self, DevicePlan, Need, Options, Plan, Profile, Refusal, SplitPlan, Target, Unmet,
};
use offload_drivers::probe::plan_devices;
use offload_hwdb::Hwdb;
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `--mode`: `auto` (None) or a forced target. A newtype, because clap treats
/// a bare `Option` field as "flag may be absent".
#[derive(Debug, Clone, Copy)]
pub struct Mode(pub Option<Target>);

fn parse_mode(s: &str) -> Result<Mode, String> {
    if s == "auto" {
        return Ok(Mode(None));
    }
    Target::from_name(s).map(|t| Mode(Some(t))).ok_or_else(|| {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        format!(
            "unknown mode {s:?}; use auto or one of {}",
            names.join(", ")
        )
    })
}

/// Options of `offloadctl plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The module file (TOML)
    pub file: PathBuf,
    /// Only these devices (interface names, `switch-<pci address>`, `bmv2`); repeatable
    #[arg(long = "on", value_name = "IFACE")]
    pub on: Vec<String>,
    /// JSON output
    #[arg(long)]
    pub json: bool,
    /// Plan against a recorded host (see `offloadctl probe --record`)
    #[arg(long, value_name = "DIR")]
    pub system: Option<PathBuf>,
    /// auto, or force one target: xdp-offload, xdp-native, xdp-generic, tc, p4-v1model, p4-tna
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    pub mode: Mode,
    /// Refuse any placement below the best target the device has (no quiet fallback)
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let loaded = match load_module_or_report(&args.file)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let hwdb = Hwdb::builtin()?;
    let report = probe_host(args.system.as_ref(), &hwdb)?;
    let devices = plan_devices(&report, &hwdb, &args.on).map_err(|e| anyhow::anyhow!(e))?;
    if devices.is_empty() {
        anyhow::bail!("{} has no device to place the module on", report.view);
    }
    let req = loaded.module.requirements();
    let opts = Options {
        mode: args.mode.0,
        strict: args.strict,
    };
    let verify = |t: Target, p: &Profile| compile_check(&loaded.module, t, p);
    let p = plan::plan_with(&req, &devices, opts, &verify);
    let splits = splits_for(&loaded.module, &devices, &p);
    if args.json {
        let doc = json!({
            "module": loaded.module.name,
            "host": report.view,
            "options": opts,
            "requirements": req,
            "plan": p,
            "splits": splits,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", plan_text(&loaded.module.name, &report.view, &p));
        for sp in &splits {
            print!("{}", split_text(sp));
        }
    }
    Ok(if p.is_complete() { 0 } else { 1 })
}

/// Compiles the module for an eBPF target with the offered profile: the
/// planner's requirement check models the backend, this asks it. P4 targets
/// are generated for the switch's own compiler and are not compiled here.
pub fn compile_check(module: &Module, t: Target, profile: &Profile) -> Vec<Unmet> {
    use offload_ebpf::codegen;
    use offload_ebpf::layout::Hook;
    let hook = match t {
        Target::Tc => Hook::Tc,
        Target::XdpOffload | Target::XdpNative | Target::XdpGeneric => Hook::Xdp,
        Target::P4Tna | Target::P4V1model => return Vec::new(),
    };
    match codegen::compile(module, &codegen::Target::new(hook, profile.clone())) {
        Ok(_) => Vec::new(),
        Err(codegen::CompileError::Profile { reasons, .. }) => reasons
            .into_iter()
            .map(|r| Unmet {
                need: Need::Compile,
                message: r,
                source: format!("offload-ebpf compilation for {}", profile.title),
            })
            .collect(),
        Err(e) => vec![Unmet {
            need: Need::Compile,
            message: e.to_string(),
            source: format!("offload-ebpf compilation for {}", profile.title),
        }],
    }
}

/// The split the planner proposes (or why none) on every device where the
/// whole module does not fit an available NIC offload.
pub fn splits_for(module: &Module, devices: &[plan::DeviceCaps], p: &Plan) -> Vec<SplitPlan> {
    let verify = |m: &Module, t: Target, prof: &Profile| compile_check(m, t, prof);
    p.devices
        .iter()
        .filter_map(|d| {
            let caps = devices.iter().find(|c| c.device == d.device)?;
            plan::propose_split(module, caps, d, &verify)
        })
        .collect()
}

/// A split proposal in words.
pub fn split_text(sp: &SplitPlan) -> String {
    let mut s = String::new();
    match sp {
        SplitPlan::Proposed(x) => {
            let _ = writeln!(
                s,
                "\n{}  split proposed: the first {} of {} stages in the NIC, the rest on the host",
                x.device,
                x.at,
                x.at + x.host_stages.len()
            );
            let _ = writeln!(
                s,
                "  nic  ({}, profile {}): {}",
                x.nic_target,
                x.nic_profile,
                x.nic_stages.join(", ")
            );
            let _ = writeln!(s, "  host ({}, profile {}):", x.host_target, x.host_profile);
            for h in &x.host_stages {
                let _ = writeln!(s, "    {}", h.stage);
                for u in &h.reasons {
                    let _ = writeln!(s, "      - {}\n          ({})", u.message, u.source);
                }
                if let Some(f) = &h.follows {
                    let _ = writeln!(
                        s,
                        "      - fits the NIC alone, but runs after {f}, a host stage (stages run in order; the NIC runs a prefix)"
                    );
                }
            }
            let _ = writeln!(s, "  travels: {}", x.travels);
            let _ = writeln!(
                s,
                "  apply it: offloadctl apply FILE --on {} --mode split",
                x.device
            );
        }
        SplitPlan::None {
            device,
            first_stage,
            reasons,
        } => {
            let _ = writeln!(
                s,
                "\n{device}  no split: not even the first stage, {first_stage}, can go in the NIC"
            );
            for u in reasons {
                let _ = writeln!(s, "    - {}\n        ({})", u.message, u.source);
            }
        }
    }
    s
}

fn refusal_text(d: &DevicePlan, r: &Refusal) -> String {
    match r {
        Refusal::ForcedModeUnmet { target } => format!("refused: the forced mode {target} cannot hold on {}", d.device),
        Refusal::StrictBestUnmet { best } => format!(
            "refused (--strict): the best target of {}, {best}, cannot hold and falling back is not allowed",
            d.device
        ),
        Refusal::NothingFits => format!("refused: no target of {} can run the module", d.device),
    }
}

/// The readable plan.
pub fn plan_text(module: &str, host: &str, p: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "module {module} on {host}");
    for d in &p.devices {
        let _ = writeln!(s, "\n{}  {}", d.device, d.description);
        match (&d.chosen, &d.refusal) {
            (Some(t), _) => {
                let _ = writeln!(
                    s,
                    "  -> {t} (profile {})",
                    d.profile.as_deref().unwrap_or("?")
                );
            }
            (None, Some(r)) => {
                let _ = writeln!(s, "  -> {}", refusal_text(d, r));
            }
            (None, None) => {}
        }
        for r in &d.rejected {
            let _ = writeln!(s, "  rejected {}:", r.target);
            for u in &r.reasons {
                let _ = writeln!(s, "    - {}\n        ({})", u.message, u.source);
            }
        }
        for w in &d.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    }
    s
}
