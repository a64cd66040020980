//! `offloadctl demo`: the whole story on one machine, as root.
//!
//! With the P4 toolchain installed (`simple_switch_grpc`, `p4c-bm2-ss`), the
//! same module also runs on a BMv2 switch beside the host, as one
//! deployment: one transaction, the same runtime entry on both, the same
//! traffic through both compared with the reference, counters from both,
//! and an entry deleted behind offload's back found and repaired. Without
//! it, one line says what was skipped and how to get BMv2.
//!
//! Builds a lab (hosts behind the uplink, servers and backup ports of
//! `examples/edge-router.toml`, each in its own network namespace), deploys
//! the module on the lab's interfaces (the most offloaded target the kernel
//! accepts; on veths the software fallback), adds the return route at run
//! time, sends real traffic (pings, UDP and TCP flows the ACL allows, blocks
//! and routes), prints what happened to each flow, compares every packet with
//! the reference interpreter and the counters with the reference's, and tears
//! everything down — also on Ctrl-C. Exit 0: all agree; 1: a mismatch;
//! 2: could not run (e.g. not root).

use super::deployed::{missing_root, status_text};
use anyhow::Context as _;
use offload_core::ir::Module;
use offload_core::semantics::{CounterSlot, Verdict};
use offload_core::state::{self, Desired, Target};
use offload_drivers::deploy::{self, status, Roots};
use offload_drivers::entries::parse::{self, EntryText, Lit};
use offload_drivers::lab::compare::{reconcile, PacketCheck, Recorder, Wire};
use offload_drivers::lab::traffic::{self, TcpResult};
use offload_drivers::lab::{self, format_mac, Host, Lab};
use offload_drivers::load::{bpffs, Mode};
use offload_drivers::target::host::HostTarget;
use offload_drivers::target::switch::{canonical_desired, SwitchTarget};
use offload_drivers::testkit_bmv2::GrpcSwitch;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The switch process, for the Ctrl-C handler (0: none).
static SWITCH_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The module the demo deploys (built in, so it runs from any directory).
const EDGE_ROUTER: &str = include_str!("../../examples/edge-router.toml");
/// The module the demo puts in front of it in the chain step.
const DDOS_FILTER: &str = include_str!("../../examples/ddos-filter.toml");

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// auto (most offloaded target the kernel accepts), native, generic or tc
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// Leave the lab and deployment in place (inspect with `ip netns`, bpftool)
    #[arg(long)]
    pub keep: bool,
}

fn say(s: impl AsRef<str>) {
    println!("{}", s.as_ref());
    let _ = std::io::stdout().flush();
}

/// One flow: what it is, what the module should do with it, what happened.
struct Flow {
    label: String,
    expect: String,
    result: String,
    ok: bool,
    start: Instant,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if let Some(line) = missing_root("demo") {
        eprintln!("{line}");
        return Ok(2);
    }
    let modes = match args.mode.as_str() {
        "auto" => vec![Mode::Offload, Mode::Native, Mode::Generic, Mode::Tc],
        m => vec![Mode::from_name(m)
            .with_context(|| format!("--mode {m}: use auto, native, generic or tc"))?],
    };
    // Ctrl-C / SIGTERM: remove the lab (and with it the deployment) and leave.
    let _ = ctrlc::set_handler(|| {
        eprintln!("\ninterrupted: tearing the lab down");
        let pid = SWITCH_PID.load(std::sync::atomic::Ordering::SeqCst);
        if pid != 0 {
            // The handler runs on its own thread: a plain `kill` will do.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        lab::cleanup_registered();
        std::process::exit(130);
    });
    bpffs::ensure_mounted()?;
    let t0 = Instant::now();
    let module = offload_core::spec::compile(EDGE_ROUTER)
        .map_err(|d| anyhow::anyhow!("built-in example does not compile: {d:?}"))?;

    say("[1/8] building the lab: three hosts in their own network namespaces");
    let mut lab = Lab::new("demo");
    let pid = std::process::id();
    let roots = Roots {
        bpffs: PathBuf::from(bpffs::BPFFS_ROOT).join(format!("offload-demo-{pid}")),
        state: PathBuf::from(format!("/run/offload-demo-{pid}")),
    };
    lab.remove_on_teardown(roots.bpffs.clone());
    lab.remove_on_teardown(roots.state.clone());
    let (up, srv, bak) = three_hosts(&mut lab)?;
    for h in [&up, &srv, &bak] {
        say(format!(
            "      {:<8} {}/{}  mac {}  netns {}  ↔ {}",
            h.name,
            h.ip,
            h.prefix_len,
            format_mac(&h.mac),
            h.netns,
            h.outer
        ));
    }

    // The BMv2 side: the same three hosts again, wired to a switch's ports.
    let tools = offload_drivers::p4rt::tools::GrpcTools::find();
    let mut sw_lab = None;
    let mut switch = None;
    match &tools {
        Ok(tools) => {
            let mut l = Lab::new("demosw");
            let (u, s, b) = three_hosts(&mut l)?;
            let sw = GrpcSwitch::start(
                tools,
                None,
                &[(1, u.outer.clone()), (2, s.outer.clone()), (3, b.outer.clone())],
                1,
                &roots.state.join("bmv2"),
            )?;
            SWITCH_PID.store(sw.pid(), std::sync::atomic::Ordering::SeqCst);
            say(format!(
                "      and the same three hosts behind a BMv2 switch: simple_switch_grpc ports 1-3 = {}, {}, {}; P4Runtime on {}",
                u.outer, s.outer, b.outer, sw.addr
            ));
            sw_lab = Some((l, u, s, b));
            switch = Some(sw);
        }
        Err(e) => say(format!(
            "      skipped: the BMv2 half of the demo ({e}); build the P4 toolchain as README \"P4 toolchain\" says"
        )),
    }

    let mut host = HostTarget::new(
        roots.clone(),
        [&up, &srv, &bak]
            .iter()
            .map(|h| (h.outer.clone(), modes.clone()))
            .collect(),
        [("uplink", &up), ("servers", &srv), ("backup", &bak)]
            .into_iter()
            .map(|(p, h)| (p.to_string(), h.outer.clone()))
            .collect(),
    );
    let mut sw_target = switch.as_ref().map(|sw| {
        SwitchTarget::new(
            &offload_core::state::deployment::SwitchSpec {
                name: "bmv2-demo".into(),
                grpc: sw.addr.clone(),
                device_id: 1,
                election_id: 1,
                ports: [("uplink", 1), ("servers", 2), ("backup", 3)]
                    .into_iter()
                    .map(|(p, n)| (p.to_string(), n))
                    .collect(),
                switch_ports: vec![1, 2, 3],
                replace: false,
            },
            roots.clone(),
        )
    });
    let desired = canonical_desired(&Desired::from_module(
        module.clone(),
        EDGE_ROUTER,
        1,
        vec![],
    ));
    say(format!(
        "[2/8] deploying {} v1 as one transaction on {}, {}, {}{}",
        module.name,
        up.outer,
        srv.outer,
        bak.outer,
        if sw_target.is_some() {
            " and the BMv2 switch"
        } else {
            ""
        }
    ));
    let t_apply = Instant::now();
    {
        let mut targets: Vec<&mut dyn Target> = vec![&mut host];
        if let Some(s) = sw_target.as_mut() {
            targets.push(s);
        }
        state::apply(&mut targets, &desired)?;
    }
    let apply_ms = t_apply.elapsed().as_secs_f64() * 1e3;
    let rep = host
        .last_report
        .clone()
        .context("the host reports its apply")?;
    for p in &rep.placements {
        for (t, why) in &p.tried {
            say(format!(
                "      {}: {t} not possible: {}",
                p.iface,
                first_line(why)
            ));
        }
        say(format!(
            "      {}: running in {} mode (prog {}, tag {})",
            p.iface,
            p.mode.target_name(),
            p.prog_id,
            p.tag
        ));
    }
    if let (Some(sw), Some(_)) = (&switch, &sw_target) {
        say(format!(
            "      switch:bmv2-demo: v1model program compiled by p4c-bm2-ss, pipeline set over P4Runtime at {} (cookie = version digest {})",
            sw.addr, desired.version.digest
        ));
    }
    say(format!("      applied in {apply_ms:.1} ms"));
    let xdp = rep.placements.iter().all(|p| p.mode.is_xdp());

    say("[3/8] adding the return route at run time on every placement: 10.0.1.0/24 → uplink");
    let back = parse::entry(
        &module,
        &EntryText {
            meter: None,
            table: "routes".into(),
            matches: vec![("ipv4.dst".into(), Lit::Str("10.0.1.0/24".into()))],
            priority: None,
            action: "route".into(),
            args: vec![
                ("port".into(), Lit::Str("uplink".into())),
                ("dmac".into(), Lit::Str(format_mac(&up.mac))),
                ("smac".into(), Lit::Str("02:00:00:00:00:01".into())),
            ],
        },
    )?;
    let mut tables = desired.tables.clone();
    tables
        .get_mut("routes")
        .context("routes table")?
        .entries
        .push(back.clone());
    let desired2 = canonical_desired(&desired.with_tables(tables));
    let t_entry = Instant::now();
    {
        let mut targets: Vec<&mut dyn Target> = vec![&mut host];
        if let Some(s) = sw_target.as_mut() {
            targets.push(s);
        }
        state::change_entries(&mut targets, &desired, &desired2)?;
    }
    say(format!(
        "      on {} placement(s) in {:.1} ms",
        3 + usize::from(sw_target.is_some()),
        t_entry.elapsed().as_secs_f64() * 1e3
    ));
    // The reference judges with the same entries the targets have.
    let mut reference = module.clone();
    let routes = reference
        .table_by_name("routes")
        .map(|t| t.id.0 as usize)
        .context("routes table")?;
    reference.tables[routes].entries.push(back);

    say("[4/8] sending traffic through the host kernel");
    let host_wires = wires(&module, &up, &srv, &bak);
    let recorder = Recorder::start(&host_wires)?;
    let flows = run_flows(&up, &srv, &bak)?;
    std::thread::sleep(Duration::from_millis(300));
    let captured = recorder.finish();

    say("[5/8] comparing every packet with the reference interpreter");
    let (checks, unexplained) = reconcile(&reference, &captured, xdp);
    let mut mismatches = report(&reference, &flows, &checks, &unexplained);

    let mut sw_checks = Vec::new();
    if let Some((_, u, s, b)) = &sw_lab {
        say("      the same traffic through the BMv2 switch:");
        let sw_wires = wires(&module, u, s, b);
        let recorder = Recorder::start(&sw_wires)?;
        let flows = run_flows(u, s, b)?;
        std::thread::sleep(Duration::from_millis(300));
        let captured = recorder.finish();
        // A switch has no host stack: a pass goes to its CPU port.
        let (c, unexplained) = reconcile(&reference, &captured, false);
        mismatches += report(&reference, &flows, &c, &unexplained);
        sw_checks = c;
    }

    say("[6/8] counters read back from every placement");
    let st = status::status(&roots, Some(&module.name))?.remove(0);
    for line in status_text(&st).lines() {
        say(format!("      {line}"));
    }
    mismatches += compare_counters(&reference, &st, &checks);
    if let Some(s) = sw_target.as_mut() {
        let obs = s.observe(&desired2)?;
        mismatches += compare_switch_counters(&reference, &obs[0], &sw_checks);
    }

    say("[7/8] drift: an entry deleted behind offload's back is found and repaired");
    let back = desired2.tables["routes"]
        .entries
        .last()
        .cloned()
        .context("the return route")?;
    mismatches += drift_and_repair(
        &mut host,
        sw_target.as_mut(),
        switch.as_ref(),
        &desired2,
        &roots,
        &back,
    )?;

    say("[8/8] a service chain on the same interfaces: ddos-filter in front of edge-router, one fused program");
    let chain_name = {
        let (n, m) = chain_step(&roots, &modes, &up, &srv, &bak, &module.name)?;
        mismatches += m;
        n
    };

    if args.keep {
        lab.keep();
        if let Some((l, ..)) = sw_lab.as_mut() {
            l.keep();
        }
        if let Some(sw) = switch {
            std::mem::forget(sw);
        }
        say(format!(
            "kept: lab {} and deployment (state in {})",
            lab.name(),
            roots.state.display()
        ));
    } else {
        let _ = deploy::detach(&roots, Some(&module.name));
        let _ = deploy::detach(&roots, Some(&chain_name));
        drop(switch);
        if let Some((mut l, ..)) = sw_lab {
            l.teardown();
        }
        lab.teardown();
        say("lab torn down");
    }
    if mismatches == 0 {
        say(format!(
            "demo passed in {:.1} s: {} did exactly what the reference interpreter says",
            t0.elapsed().as_secs_f64(),
            if sw_target.is_some() {
                "the kernel and the BMv2 switch"
            } else {
                "the kernel"
            }
        ));
        Ok(0)
    } else {
        say(format!("demo FAILED: {mismatches} mismatch(es)"));
        Ok(1)
    }
}

/// Prints each flow's outcome and every packet that disagreed; returns the
/// number of mismatches.
fn report(
    reference: &Module,
    flows: &[Flow],
    checks: &[PacketCheck],
    unexplained: &[String],
) -> usize {
    let mut mismatches = 0;
    for (i, f) in flows.iter().enumerate() {
        // A flow's packets: captured from its start until the next flow's.
        let until = flows.get(i + 1).map(|n| n.start);
        let mine: Vec<&PacketCheck> = checks
            .iter()
            .filter(|c| {
                c.at.is_some_and(|t| t >= f.start && until.is_none_or(|u| t < u))
            })
            .collect();
        let bad = mine.iter().filter(|c| !c.ok).count();
        let verdicts = verdict_summary(reference, &mine);
        say(format!(
            "      {:<44} {:<34} {:<28} {}",
            f.label,
            f.expect,
            f.result,
            if f.ok && bad == 0 {
                format!("ok  ({} pkts: {verdicts})", mine.len())
            } else {
                format!("MISMATCH ({bad} of {} pkts)", mine.len())
            }
        ));
        if !f.ok {
            mismatches += 1;
        }
    }
    for c in checks.iter().filter(|c| !c.ok) {
        say(format!(
            "      ✗ {} from {}: reference says {:?}, but {}",
            c.summary,
            c.from,
            c.expected,
            c.mismatch.as_deref().unwrap_or("")
        ));
        mismatches += 1;
    }
    for u in unexplained {
        say(format!("      ✗ {u}"));
        mismatches += 1;
    }
    say(format!(
        "      {} packets compared: {} as the reference says, {} not",
        checks.len(),
        checks.iter().filter(|c| c.ok).count(),
        checks.iter().filter(|c| !c.ok).count() + unexplained.len()
    ));

    mismatches
}

/// The reason in one line: its first two lines, cut at a readable length.
fn first_line(s: &str) -> String {
    let one: String = s
        .lines()
        .take(2)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    match one.char_indices().nth(150) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

/// Step 8: the edge-router deployment makes way for the chain ddos-filter →
/// edge-router on the same interfaces (one fused program each, hitless
/// where a link exists); frames for the filter's rules and the router's
/// paths are compared with `semantics::run_chain`, counters shown per
/// `module.table`. Returns the chain's name and the mismatches.
fn chain_step(
    roots: &Roots,
    modes: &[Mode],
    up: &Host,
    srv: &Host,
    bak: &Host,
    single: &str,
) -> anyhow::Result<(String, usize)> {
    use offload_core::spec::chain::{compile_program, frame, MemberSource};
    use offload_drivers::lab::compare::{run_probe_chain, Probe, Taps};
    use offload_drivers::lab::frames::{Ipv4Frame, TCP, UDP};
    let text = frame(
        None,
        &[
            MemberSource {
                file: "examples/ddos-filter.toml".into(),
                source: DDOS_FILTER.into(),
            },
            MemberSource {
                file: "examples/edge-router.toml".into(),
                source: EDGE_ROUTER.into(),
            },
        ],
    );
    let program = compile_program(&text).map_err(|e| anyhow::anyhow!("built-in chain: {e}"))?;
    let fused = program.fused.clone().context("a chain has segments")?;
    let modules: Vec<Module> = [DDOS_FILTER, EDGE_ROUTER]
        .iter()
        .map(|s| offload_core::spec::compile(s))
        .collect::<Result<_, _>>()
        .map_err(|d| anyhow::anyhow!("built-in example does not compile: {d:?}"))?;
    let name = program.module.name.clone();
    // One program per hook: the single module's deployment goes first.
    deploy::detach(roots, Some(single))?;
    let mut host = HostTarget::new(
        roots.clone(),
        [up, srv, bak]
            .iter()
            .map(|h| (h.outer.clone(), modes.to_vec()))
            .collect(),
        [("uplink", up), ("servers", srv), ("backup", bak)]
            .into_iter()
            .map(|(p, h)| (p.to_string(), h.outer.clone()))
            .collect(),
    );
    let desired = Desired::from_module(program.module.clone(), &text, 1, vec![]);
    let t = Instant::now();
    state::apply(&mut [&mut host as &mut dyn Target], &desired)?;
    let rep = host
        .last_report
        .clone()
        .context("the host reports its apply")?;
    say(format!(
        "      {name} v1 (digest {}) on {} interface(s) in {:.1} ms: {}",
        desired.version.digest,
        rep.placements.len(),
        t.elapsed().as_secs_f64() * 1e3,
        program
            .members
            .iter()
            .map(|m| format!(
                "{} ({} tables, digest {})",
                m.name,
                m.tables.len(),
                m.digest
            ))
            .collect::<Vec<_>>()
            .join(" → ")
    ));
    let xdp = rep.placements.iter().all(|p| p.mode.is_xdp());
    let uplink = program
        .module
        .port_by_name("uplink")
        .context("the chain's uplink")?
        .id;
    let probe =
        |n: u16, label: &str, src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16| {
            let marker = format!("offload-demo-chain-{n:03}").into_bytes();
            Probe {
                label: label.into(),
                from: uplink,
                frame: Ipv4Frame {
                    dst_mac: up.outer_mac,
                    src_mac: up.mac,
                    src: Ipv4Addr::from(src),
                    dst: Ipv4Addr::from(dst),
                    ttl: 64,
                    proto,
                    sport,
                    dport,
                    payload: marker.clone(),
                }
                .emit(),
                marker,
            }
        };
    let probes = [
        probe(
            1,
            "udp from a botnet range",
            [203, 0, 113, 9],
            [192, 168, 1, 2],
            UDP,
            4000,
            5000,
        ),
        probe(
            2,
            "dns amplification (udp from port 53)",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            UDP,
            53,
            5000,
        ),
        probe(
            3,
            "our own resolver's answer",
            [198, 51, 100, 53],
            [192, 168, 1, 2],
            UDP,
            53,
            5000,
        ),
        probe(
            4,
            "udp to a server",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            UDP,
            4001,
            5000,
        ),
        probe(
            5,
            "udp via the backup route",
            [10, 0, 1, 2],
            [192, 168, 7, 7],
            UDP,
            4002,
            5000,
        ),
        probe(
            6,
            "ssh from outside",
            [172, 16, 0, 5],
            [192, 168, 1, 2],
            TCP,
            4003,
            22,
        ),
        probe(
            7,
            "no route: to the host",
            [10, 0, 1, 2],
            [8, 8, 8, 8],
            UDP,
            4004,
            53,
        ),
    ];
    let taps = Taps::open(&wires(&program.module, up, srv, bak))?;
    let mut mismatches = 0;
    for p in &probes {
        let r = run_probe_chain(&modules, &fused, &taps, p, xdp, Duration::from_millis(60))?;
        let chain = offload_core::semantics::run_chain_traced(&modules, p.from, &p.frame);
        let decided = chain.len();
        let what = match r.outcome.verdict {
            Verdict::Drop => "dropped".to_string(),
            Verdict::Pass => "to the host".to_string(),
            Verdict::Tx => "sent back".to_string(),
            Verdict::Forward(port) => format!(
                "forwarded to {}",
                program
                    .module
                    .port_by_id(port)
                    .map_or_else(|| port.0.to_string(), |x| x.name.clone())
            ),
        };
        match &r.mismatch {
            None => say(format!(
                "      {:<38} {what} by {} — as the reference says",
                p.label,
                modules[decided - 1].name
            )),
            Some(m) => {
                mismatches += 1;
                say(format!("      {:<38} MISMATCH: {m}", p.label));
            }
        }
    }
    let st = status::status(roots, Some(&name))?.remove(0);
    for line in status_text(&st).lines() {
        say(format!("      {line}"));
    }
    if st.has_drift() {
        mismatches += 1;
        say("      MISMATCH: the chain's read-back shows drift");
    }
    Ok((name, mismatches))
}

fn wires(module: &Module, up: &Host, srv: &Host, bak: &Host) -> Vec<Wire> {
    [("uplink", up), ("servers", srv), ("backup", bak)]
        .into_iter()
        .map(|(p, h)| Wire {
            port: module.port_by_name(p).expect("edge-router ports").id,
            port_name: p.into(),
            host: h.clone(),
        })
        .collect()
}

fn verdict_summary(module: &Module, checks: &[&PacketCheck]) -> String {
    let mut n: BTreeMap<String, usize> = BTreeMap::new();
    for c in checks {
        let v = match c.expected {
            Verdict::Drop => "dropped".to_string(),
            Verdict::Pass => "to host".to_string(),
            Verdict::Tx => "tx".to_string(),
            Verdict::Forward(p) => {
                format!("→{}", module.port_by_id(p).map_or("?", |x| x.name.as_str()))
            }
        };
        *n.entry(v).or_default() += 1;
    }
    n.into_iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_flows(up: &Host, srv: &Host, bak: &Host) -> anyhow::Result<Vec<Flow>> {
    let mut flows = Vec::new();
    let me = Ipv4Addr::new(10, 0, 1, 2);
    let server = Ipv4Addr::new(192, 168, 1, 2);
    let mut flow = |label: &str,
                    expect: &str,
                    f: &mut dyn FnMut() -> anyhow::Result<(String, bool)>|
     -> anyhow::Result<()> {
        let start = Instant::now();
        let (result, ok) = f()?;
        say(format!("      {label:<44} {result}"));
        // Let the flow's last packets (and replies) land before the next one.
        std::thread::sleep(Duration::from_millis(250));
        flows.push(Flow {
            label: label.into(),
            expect: expect.into(),
            result,
            ok,
            start,
        });
        Ok(())
    };
    let t = Duration::from_millis(700);
    flow(
        "ping 192.168.1.2 (servers)",
        "routed both ways",
        &mut || {
            let r = traffic::ping(up, server, 3, t)?;
            Ok((format!("{r}/3 replies"), r == 3))
        },
    )?;
    flow(
        "ping 192.168.2.2 (backup route)",
        "routed both ways",
        &mut || {
            let r = traffic::ping(up, Ipv4Addr::new(192, 168, 2, 2), 2, t)?;
            Ok((format!("{r}/2 replies"), r == 2))
        },
    )?;
    flow(
        "udp 10.0.1.2 → servers:5000",
        "allowed, routed",
        &mut || {
            let n = traffic::udp(up, me, Some(srv), server, 5000, 20, None)?;
            Ok((format!("{n}/20 delivered"), n == 20))
        },
    )?;
    flow(
        "tcp 10.0.1.2 → servers:443",
        "allowed, routed",
        &mut || {
            let r = traffic::tcp(up, me, srv, server, 443, Duration::from_millis(1500))?;
            Ok((tcp_text(&r), r == TcpResult::Echoed))
        },
    )?;
    flow(
        "ssh 10.0.1.2 → servers:22 (management)",
        "allowed (acl prio 20)",
        &mut || {
            let r = traffic::tcp(up, me, srv, server, 22, Duration::from_millis(1500))?;
            Ok((tcp_text(&r), r == TcpResult::Echoed))
        },
    )?;
    flow(
        "ssh 172.16.0.5 → servers:22",
        "blocked (acl prio 10)",
        &mut || {
            let r = traffic::tcp(
                up,
                Ipv4Addr::new(172, 16, 0, 5),
                srv,
                server,
                22,
                Duration::from_millis(1200),
            )?;
            Ok((tcp_text(&r), r == TcpResult::TimedOut))
        },
    )?;
    flow(
        "tcp 192.0.2.9 → servers:443",
        "blocked (acl prio 1)",
        &mut || {
            let r = traffic::tcp(
                up,
                Ipv4Addr::new(192, 0, 2, 9),
                srv,
                server,
                443,
                Duration::from_millis(1200),
            )?;
            Ok((tcp_text(&r), r == TcpResult::TimedOut))
        },
    )?;
    flow(
        "udp 10.0.1.2 → servers:137 (netbios)",
        "blocked (acl prio 5)",
        &mut || {
            let n = traffic::udp(up, me, Some(srv), server, 137, 5, None)?;
            Ok((format!("{n}/5 delivered"), n == 0))
        },
    )?;
    flow(
        "udp 10.0.1.2 → 192.168.2.2:6000",
        "routed to backup",
        &mut || {
            let n = traffic::udp(
                up,
                me,
                Some(bak),
                Ipv4Addr::new(192, 168, 2, 2),
                6000,
                10,
                None,
            )?;
            Ok((format!("{n}/10 delivered"), n == 10))
        },
    )?;
    flow(
        "udp 10.0.1.2 → 198.51.100.7 (blackholed)",
        "dropped by routes",
        &mut || {
            traffic::udp(up, me, None, Ipv4Addr::new(198, 51, 100, 7), 9, 3, None)?;
            Ok(("3 sent".into(), true))
        },
    )?;
    flow(
        "udp 10.0.1.2 → 203.0.113.50 (no route)",
        "to the host stack",
        &mut || {
            traffic::udp(up, me, None, Ipv4Addr::new(203, 0, 113, 50), 53, 3, None)?;
            Ok(("3 sent".into(), true))
        },
    )?;
    flow(
        "udp ttl 1 → servers:5000",
        "to the host stack",
        &mut || {
            let n = traffic::udp(up, me, Some(srv), server, 5000, 3, Some(1))?;
            Ok((format!("{n}/3 delivered"), n == 0))
        },
    )?;
    Ok(flows)
}

fn tcp_text(r: &TcpResult) -> String {
    match r {
        TcpResult::Echoed => "connected, echoed".into(),
        TcpResult::TimedOut => "no connection (timed out)".into(),
        TcpResult::Failed(e) => format!("failed: {e}"),
    }
}

/// The counters read back must equal the sum of what the reference says each
/// sent packet hits. Returns the number of differences (printed).
fn compare_counters(module: &Module, st: &status::ModuleStatus, checks: &[PacketCheck]) -> usize {
    let mut want: BTreeMap<(String, Option<usize>), (u64, u64)> = BTreeMap::new();
    for c in checks {
        for h in &c.hits {
            let t = module.table(h.table).name.clone();
            let slot = match h.slot {
                CounterSlot::Entry(i) => Some(i),
                CounterSlot::Default => None,
            };
            let e = want.entry((t, slot)).or_default();
            e.0 += 1;
            e.1 += h.bytes;
        }
    }
    let mut bad = 0;
    for t in &st.tables {
        for (i, e) in t.entries.iter().enumerate() {
            let w = want
                .get(&(t.name.clone(), Some(i)))
                .copied()
                .unwrap_or((0, 0));
            if let (Some(p), Some(b)) = (e.packets, e.bytes) {
                if (p, b) != w {
                    say(format!("      ✗ counter {} [{}]: kernel {p} pkts/{b} bytes, reference {} pkts/{} bytes", t.name, e.text, w.0, w.1));
                    bad += 1;
                }
            }
        }
        let w = want.get(&(t.name.clone(), None)).copied().unwrap_or((0, 0));
        if let (Some(p), Some(b)) = (t.default_packets, t.default_bytes) {
            if (p, b) != w {
                say(format!("      ✗ default counter of {}: kernel {p} pkts/{b} bytes, reference {} pkts/{} bytes", t.name, w.0, w.1));
                bad += 1;
            }
        }
    }
    if bad == 0 {
        say("      every counter equals the reference's");
    }
    bad
}

/// The three hosts of the demo (uplink, servers, backup) with the MACs the
/// module's routes rewrite to (and one fixed for the uplink, which the
/// return route rewrites to) and static gateways.
fn three_hosts(lab: &mut Lab) -> anyhow::Result<(Host, Host, Host)> {
    lab.add_host("uplink", Ipv4Addr::new(10, 0, 1, 2), 24)?;
    lab.add_host("servers", Ipv4Addr::new(192, 168, 1, 2), 24)?;
    lab.add_host("backup", Ipv4Addr::new(192, 168, 2, 2), 16)?;
    // The same MAC for the uplink host of every lab: the return route
    // written at run time rewrites to it on every placement.
    let up = lab.set_host_mac("uplink", [2, 0, 0, 0, 0, 0x0a])?;
    let srv = lab.set_host_mac("servers", [2, 0, 0, 0, 0, 2])?;
    let bak = lab.set_host_mac("backup", [2, 0, 0, 0, 0, 3])?;
    lab.add_address(&up, "172.16.0.5/32")?;
    lab.add_address(&up, "192.0.2.9/32")?;
    lab.add_route(&up, "default", Ipv4Addr::new(10, 0, 1, 1), &up.outer_mac)?;
    lab.add_route(
        &srv,
        "default",
        Ipv4Addr::new(192, 168, 1, 1),
        &srv.outer_mac,
    )?;
    lab.add_route(
        &bak,
        "default",
        Ipv4Addr::new(192, 168, 2, 1),
        &bak.outer_mac,
    )?;
    Ok((up, srv, bak))
}

/// The switch's counters (read over P4Runtime) against the reference's.
fn compare_switch_counters(
    module: &Module,
    obs: &offload_core::state::Observed,
    checks: &[PacketCheck],
) -> usize {
    let mut want: BTreeMap<(String, Option<usize>), (u64, u64)> = BTreeMap::new();
    for c in checks {
        for h in &c.hits {
            let t = module.table(h.table).name.clone();
            let slot = match h.slot {
                CounterSlot::Entry(i) => Some(i),
                CounterSlot::Default => None,
            };
            let e = want.entry((t, slot)).or_default();
            e.0 += 1;
            e.1 += h.bytes;
        }
    }
    let mut bad = 0;
    let mut counted = 0u64;
    for t in module.tables.iter().filter(|t| t.counters) {
        let Some(o) = obs.tables.get(&t.name) else {
            say(format!("      ✗ switch table {} not read back", t.name));
            bad += 1;
            continue;
        };
        for (i, e) in t.entries.iter().enumerate() {
            let w = want
                .get(&(t.name.clone(), Some(i)))
                .copied()
                .unwrap_or((0, 0));
            let got = o
                .entries
                .iter()
                .position(|x| x.matches == e.matches && x.priority == e.priority)
                .and_then(|k| o.counters.get(k).copied());
            counted += got.map_or(0, |g| g.0);
            if got != Some(w) {
                say(format!(
                    "      ✗ switch counter {} entry {i}: {got:?} (pkts, bytes), reference {w:?}",
                    t.name
                ));
                bad += 1;
            }
        }
        let w = want.get(&(t.name.clone(), None)).copied().unwrap_or((0, 0));
        counted += o.default_counter.map_or(0, |g| g.0);
        if o.default_counter != Some(w) {
            say(format!(
                "      ✗ switch default counter of {}: {:?}, reference {w:?}",
                t.name, o.default_counter
            ));
            bad += 1;
        }
    }
    if bad == 0 {
        say(format!(
            "      switch:bmv2-demo: every counter equals the reference's ({counted} packets counted, read over P4Runtime)"
        ));
    }
    bad
}

/// Deletes the return route behind offload's back — on the switch through
/// another P4Runtime controller, or (without BMv2) straight from the
/// kernel map — then shows `status` finding it and `reconcile` repairing it.
fn drift_and_repair(
    host: &mut HostTarget,
    sw_target: Option<&mut SwitchTarget>,
    switch: Option<&GrpcSwitch>,
    desired: &Desired,
    roots: &Roots,
    back: &offload_core::ir::Entry,
) -> anyhow::Result<usize> {
    let t0;
    let mut targets: Vec<&mut dyn Target> = vec![host];
    match (sw_target, switch) {
        (Some(s), Some(sw)) => {
            let mut other = sw.connect(10, Duration::from_secs(5))?;
            let victim = s.p4rt_entry(desired, "routes", back)?;
            other.write(
                vec![offload_drivers::p4rt::Update::delete(victim)],
                offload_drivers::p4rt::Atomicity::ContinueOnError,
            )?;
            drop(other);
            say("      another P4Runtime controller (election id 10) deleted 10.0.1.0/24 from the switch's routes table");
            t0 = Instant::now();
            targets.push(s);
        }
        _ => {
            // Straight from the kernel map, with bpf(2).
            let st = offload_drivers::deploy::State::load(&roots.state_file(&desired.module.name))?
                .context("the host state")?;
            let pl = st.placements.first().context("a host placement")?;
            let routes = desired.module.table_by_name("routes").context("routes")?;
            let layout = offload_ebpf::codegen::layout_for(
                &desired.module,
                &offload_drivers::deploy::target_for(pl.mode, None),
            );
            let tl = layout.table(routes.id);
            let name: String = tl.entries_map.chars().take(15).collect();
            let path = roots.gen_dir(&st.module, &pl.iface, pl.gen).join(name);
            let fd = offload_drivers::sys::obj_get(&offload_drivers::sys::Kernel, &path)?;
            let img = tl.encode_entries(routes, &[(back, 0)])?;
            use std::os::fd::AsFd;
            offload_drivers::sys::map_delete(
                &offload_drivers::sys::Kernel,
                fd.as_fd(),
                &img.entries[0].0,
            )?;
            say(format!(
                "      10.0.1.0/24 deleted from the kernel's routes map on {} with bpf(2), behind offload's back",
                pl.iface
            ));
            t0 = Instant::now();
        }
    }
    let mut found = 0;
    for t in targets.iter_mut() {
        for o in t.observe(desired)? {
            for d in state::diff(desired, &o) {
                say(format!(
                    "      status: {}: drift: {}",
                    o.placement,
                    d.describe(&desired.module)
                ));
                found += 1;
            }
        }
    }
    let r = state::reconcile(&mut targets, desired);
    let after = state::reconcile(&mut targets, desired);
    say(format!(
        "      reconcile: {} repair(s) in {:.1} ms after the change; a second pass finds {}",
        r.repaired.len(),
        t0.elapsed().as_secs_f64() * 1e3,
        if after.in_sync() {
            "everything in sync".to_string()
        } else {
            format!("{} drift(s) left", after.drift.len())
        }
    ));
    Ok(usize::from(
        found == 0 || r.repaired.is_empty() || !after.in_sync(),
    ))
}
