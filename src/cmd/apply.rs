//! `offloadctl apply FILE --on IFACE [--port NAME=IFACE]... [--mode …]`:
//! plan, compile, load, fill the tables and attach — all interfaces or none;
//! a module already running is replaced without dropping a packet.

use super::deployed::{missing_root, roots};
use super::load_module_or_report;
use anyhow::Context as _;
use offload_core::plan::{self, Options, Target};
use offload_drivers::deploy::{self, ApplyRequest};
use offload_drivers::load::Mode;
use offload_hwdb::Hwdb;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The module file (with --on), or a deployment file (`deploy.toml`:
    /// a module on host interfaces, BMv2 switches and Tofino bundles at once)
    pub file: PathBuf,
    /// Interface to run on (repeat for several); not with a deployment file
    #[arg(long = "on", value_name = "IFACE")]
    pub on: Vec<String>,
    /// Bind a logical port to an interface: NAME=IFACE (repeatable)
    #[arg(long = "port", value_name = "NAME=IFACE")]
    pub ports: Vec<String>,
    /// A TOML file of port bindings (`uplink = "eth0"`, optionally under `[bind]`)
    #[arg(long, value_name = "FILE")]
    pub bind: Option<PathBuf>,
    /// auto (the planner's choice, falling back on refusal), offload, native, generic, tc, or
    /// split (the planner's split: a prefix of the stages offloaded, the rest on the host)
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// Take over an interface that runs a program offload did not attach
    #[arg(long)]
    pub replace: bool,
    /// Write entries one at a time instead of with batch map operations
    #[arg(long)]
    pub no_batch: bool,
    /// Machine-readable report
    #[arg(long)]
    pub json: bool,
}

/// Port bindings from `--bind FILE` then `--port` flags (flags win).
pub fn bindings(
    bind: Option<&PathBuf>,
    flags: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(f) = bind {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let v: toml::Table = text
            .parse()
            .with_context(|| format!("{}: not TOML", f.display()))?;
        let table = match v.get("bind") {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => v,
        };
        for (k, val) in table {
            let iface = val.as_str().with_context(|| {
                format!(
                    "{}: binding {k} must be an interface name (a string)",
                    f.display()
                )
            })?;
            out.insert(k, iface.to_string());
        }
    }
    for p in flags {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .with_context(|| format!("--port {p}: write NAME=IFACE, e.g. --port uplink=eth0"))?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Modes to try, and the offload profile of the device (if it has one).
type ModeChoice = (Vec<Mode>, Option<plan::Profile>);

/// The modes to try per interface — a forced one, or the planner's choice
/// followed by the host targets it did not reject (refusals print why) — and
/// the device's offload profile when offload is among them. A forced
/// `offload` the planner refuses is an error with its reasons (exit 1).
pub fn modes_for(
    mode: &str,
    module: &offload_core::ir::Module,
    on: &[String],
) -> anyhow::Result<Result<ModeChoice, String>> {
    let forced = if mode == "auto" {
        None
    } else {
        Some(
            Mode::from_name(mode)
                .or_else(|| Mode::from_target_name(mode))
                .with_context(|| {
                    format!("--mode {mode}: use auto, offload, native, generic or tc")
                })?,
        )
    };
    if let Some(m) = forced.filter(|m| *m != Mode::Offload) {
        return Ok(Ok((vec![m], None)));
    }
    let fallback = vec![Mode::Offload, Mode::Native, Mode::Generic, Mode::Tc];
    let hwdb = Hwdb::builtin()?;
    let report = match super::probe::probe_host(None, &hwdb) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("probe failed ({e:#}); trying every host target in order");
            return Ok(Ok((forced.map_or(fallback, |m| vec![m]), None)));
        }
    };
    let devices =
        offload_drivers::probe::plan_devices(&report, &hwdb, on).map_err(|e| anyhow::anyhow!(e))?;
    let profile = devices
        .iter()
        .flat_map(|d| d.offers.iter())
        .find(|o| o.target == Target::XdpOffload)
        .map(|o| o.profile.clone());
    let req = module.requirements();
    let verify = |t: Target, p: &plan::Profile| super::plan::compile_check(module, t, p);
    let opts = Options {
        mode: forced.map(|_| Target::XdpOffload),
        ..Options::default()
    };
    let p = plan::plan_with(&req, &devices, opts, &verify);
    if forced.is_some() {
        // --mode offload: the planner's refusal, with its reasons, before anything loads.
        let refused: Vec<String> = p
            .devices
            .iter()
            .filter(|d| d.chosen != Some(Target::XdpOffload))
            .map(|d| {
                let why = d
                    .reasons_for(Target::XdpOffload)
                    .map(|r| {
                        r.iter()
                            .map(|u| u.message.clone())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_else(|| "no offload target on this device".into());
                format!("{}: xdp-offload refused: {why}", d.device)
            })
            .collect();
        if !refused.is_empty() {
            return Ok(Err(refused.join("\n")));
        }
        return Ok(Ok((vec![Mode::Offload], profile)));
    }
    let order = [
        Target::XdpOffload,
        Target::XdpNative,
        Target::XdpGeneric,
        Target::Tc,
    ];
    let mut modes: Vec<Mode> = Vec::new();
    for d in &p.devices {
        if let Some(chosen) = d.chosen {
            if let Some(m) = Mode::from_target_name(chosen.name()) {
                if !modes.contains(&m) {
                    modes.push(m);
                }
            }
        }
        for r in &d.rejected {
            if order.contains(&r.target) {
                eprintln!(
                    "plan: {} not used on {}: {}",
                    r.target,
                    d.device,
                    r.reasons
                        .iter()
                        .map(|u| u.message.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
        }
    }
    // After the choice, the less offloaded host targets the planner did not reject.
    for t in order {
        let rejected = p
            .devices
            .iter()
            .any(|d| d.rejected.iter().any(|r| r.target == t));
        if let Some(m) = Mode::from_target_name(t.name()) {
            if !rejected && !modes.contains(&m) && (modes.is_empty() || m > modes[0]) {
                modes.push(m);
            }
        }
    }
    if modes.is_empty() {
        anyhow::bail!(
            "the planner found no host target for {} on {}",
            module.name,
            on.join(", ")
        );
    }
    Ok(Ok((modes, profile)))
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if super::deployment::is_deployment_file(&args.file) {
        if !args.on.is_empty() || !args.ports.is_empty() || args.bind.is_some() {
            eprintln!("error: {}: a deployment file names its own interfaces and ports; drop --on/--port/--bind", args.file.display());
            return Ok(1);
        }
        return super::deployment::apply(&args.file, args.json, args.replace, args.no_batch);
    }
    if args.on.is_empty() {
        eprintln!("error: {}: a module file needs --on IFACE (or write a deployment file, see README \"Deployments\")", args.file.display());
        return Ok(1);
    }
    let loaded = match load_module_or_report(&args.file)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    if let Some(line) = missing_root("apply") {
        eprintln!("{line}");
        return Ok(2);
    }
    let ports = bindings(args.bind.as_ref(), &args.ports)?;
    if args.mode == "split" {
        return apply_split(args, &loaded, ports);
    }
    let (modes, offload_profile) = match modes_for(&args.mode, &loaded.module, &args.on)? {
        Ok(m) => m,
        Err(refusal) => {
            eprintln!("error: {}: {refusal}", args.file.display());
            return Ok(1);
        }
    };
    let req = ApplyRequest {
        module: &loaded.module,
        source: &loaded.source,
        source_path: Some(args.file.display().to_string()),
        on: args.on.clone(),
        ports,
        modes,
        replace_foreign: args.replace,
        batch: !args.no_batch,
        roots: roots(),
        offload_profile,
    };
    let rep = match deploy::apply(&req) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: {}: {}",
                args.file.display(),
                offload_drivers::load::program::error_chain(&e)
            );
            return Ok(match e {
                deploy::DeployError::Port(_)
                | deploy::DeployError::Entry(_)
                | deploy::DeployError::Foreign { .. } => 1,
                _ => 2,
            });
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(0);
    }
    if rep.rebound_only {
        for p in &rep.placements {
            println!("{}: {} v{} keeps running (prog {}); ports rebound with a map update, nothing reloaded", p.iface, rep.module, rep.version, p.prog_id);
        }
        println!("applied in {:.1} ms", rep.elapsed.as_secs_f64() * 1e3);
        return Ok(0);
    }
    for p in &rep.placements {
        for (t, why) in &p.tried {
            println!("{}: {t} refused: {why}", p.iface);
        }
        println!(
            "{}: {} v{} running in {} mode, prog {} tag {}{}",
            p.iface,
            rep.module,
            rep.version,
            p.mode,
            p.prog_id,
            p.tag,
            if p.hitless {
                " (replaced the previous version atomically)"
            } else {
                ""
            }
        );
    }
    for s in &rep.took_over {
        println!("took over (--replace): {s}");
    }
    for (t, w) in &rep.writes {
        let fb = w
            .fallback
            .as_deref()
            .map(|f| format!(" (batch refused: {f})"))
            .unwrap_or_default();
        println!(
            "table {t}: {} written in batches, {} one by one{fb}",
            w.batched, w.one_by_one
        );
    }
    println!(
        "applied in {:.1} ms ({})",
        rep.elapsed.as_secs_f64() * 1e3,
        rep.phases.line()
    );
    Ok(0)
}

/// `--mode split`: the planner's split proposal for the one interface,
/// applied as two halves (`offload_drivers::deploy::split`).
fn apply_split(
    args: &Args,
    loaded: &super::Loaded,
    ports: BTreeMap<String, String>,
) -> anyhow::Result<i32> {
    use offload_core::plan::SplitPlan;
    let [iface] = args.on.as_slice() else {
        eprintln!(
            "error: --mode split runs on one interface (its NIC and its host side); give one --on"
        );
        return Ok(1);
    };
    let hwdb = Hwdb::builtin()?;
    let report = super::probe::probe_host(None, &hwdb)?;
    let devices = offload_drivers::probe::plan_devices(&report, &hwdb, std::slice::from_ref(iface))
        .map_err(|e| anyhow::anyhow!(e))?;
    let verify = |t: Target, p: &plan::Profile| super::plan::compile_check(&loaded.module, t, p);
    let p = plan::plan_with(
        &loaded.module.requirements(),
        &devices,
        Options::default(),
        &verify,
    );
    let splits = super::plan::splits_for(&loaded.module, &devices, &p);
    let proposal = match splits.into_iter().next() {
        Some(SplitPlan::Proposed(x)) => x,
        Some(none @ SplitPlan::None { .. }) => {
            eprint!(
                "error: {}: no split on {iface}:{}",
                args.file.display(),
                super::plan::split_text(&none)
            );
            return Ok(1);
        }
        None => {
            let why = match p.devices.first().and_then(|d| d.chosen) {
                Some(Target::XdpOffload) => "the whole module fits the NIC: use --mode offload (or auto)".to_string(),
                _ => format!("{iface} offers no XDP hardware offload the planner could use (see `offloadctl plan --on {iface}`)"),
            };
            eprintln!("error: {}: no split on {iface}: {why}", args.file.display());
            return Ok(1);
        }
    };
    let nic_profile = devices
        .iter()
        .flat_map(|d| d.offers.iter())
        .find(|o| o.target == Target::XdpOffload)
        .map(|o| o.profile.clone())
        .context("the offload offer vanished")?;
    let host_mode = Mode::from_target_name(proposal.host_target.name())
        .context("the planner's host target is not a host mode")?;
    let req = offload_drivers::deploy::split::SplitRequest {
        module: &loaded.module,
        source: &loaded.source,
        source_path: Some(args.file.display().to_string()),
        iface: iface.clone(),
        ports,
        at: proposal.at,
        host_mode,
        nic_profile,
        replace_foreign: args.replace,
        batch: !args.no_batch,
        roots: roots(),
    };
    let rep = match offload_drivers::deploy::split::apply_split(&req) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: {}: {}",
                args.file.display(),
                offload_drivers::load::program::error_chain(&e)
            );
            return Ok(2);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(0);
    }
    for (half, r, stages) in [
        ("nic", &rep.nic, &rep.nic_stages),
        ("host", &rep.host, &rep.host_stages),
    ] {
        for pl in &r.placements {
            println!(
                "{}: {} half of {} ({}) running in {} mode as {} v{}, prog {} tag {}",
                pl.iface,
                half,
                rep.module,
                stages.join(", "),
                pl.mode,
                r.module,
                r.version,
                pl.prog_id,
                pl.tag
            );
        }
    }
    println!(
        "split {}: stages 1..{} in the NIC, the rest on the host; `offloadctl status --module {}` merges their counters",
        rep.module, rep.at, rep.module
    );
    Ok(0)
}
