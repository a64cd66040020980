//! `offloadctl demo`: the whole story on one machine, as root.
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
use offload_drivers::deploy::{self, runtime, status, ApplyRequest, Roots};
use offload_drivers::entries::parse::{self, EntryText, Lit};
use offload_drivers::lab::compare::{reconcile, PacketCheck, Recorder, Wire};
use offload_drivers::lab::traffic::{self, TcpResult};
use offload_drivers::lab::{self, format_mac, Host, Lab};
use offload_drivers::load::{bpffs, Mode};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The module the demo deploys (built in, so it runs from any directory).
const EDGE_ROUTER: &str = include_str!("../../examples/edge-router.toml");

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
        lab::cleanup_registered();
        std::process::exit(130);
    });
    bpffs::ensure_mounted()?;
    let t0 = Instant::now();
    let module = offload_core::spec::compile(EDGE_ROUTER)
        .map_err(|d| anyhow::anyhow!("built-in example does not compile: {d:?}"))?;

    say("[1/6] building the lab: three hosts in their own network namespaces");
    let mut lab = Lab::new("demo");
    let pid = std::process::id();
    let roots = Roots {
        bpffs: PathBuf::from(bpffs::BPFFS_ROOT).join(format!("offload-demo-{pid}")),
        state: PathBuf::from(format!("/run/offload-demo-{pid}")),
    };
    lab.remove_on_teardown(roots.bpffs.clone());
    lab.remove_on_teardown(roots.state.clone());
    let up = lab.add_host("uplink", Ipv4Addr::new(10, 0, 1, 2), 24)?;
    lab.add_host("servers", Ipv4Addr::new(192, 168, 1, 2), 24)?;
    lab.add_host("backup", Ipv4Addr::new(192, 168, 2, 2), 16)?;
    // The hosts take the MACs the module's routes rewrite to.
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

    say(format!(
        "[2/6] deploying {} on {}, {}, {}",
        module.name, up.outer, srv.outer, bak.outer
    ));
    let ports: BTreeMap<String, String> = [("uplink", &up), ("servers", &srv), ("backup", &bak)]
        .into_iter()
        .map(|(p, h)| (p.to_string(), h.outer.clone()))
        .collect();
    let req = ApplyRequest {
        module: &module,
        source: EDGE_ROUTER,
        source_path: Some("examples/edge-router.toml".into()),
        on: vec![up.outer.clone(), srv.outer.clone(), bak.outer.clone()],
        ports,
        modes,
        replace_foreign: false,
        batch: true,
        roots: roots.clone(),
        offload_profile: None,
    };
    let rep = deploy::apply(&req)?;
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
    say(format!(
        "      applied in {:.1} ms",
        rep.elapsed.as_secs_f64() * 1e3
    ));
    let xdp = rep.placements.iter().all(|p| p.mode.is_xdp());

    say("[3/6] adding the return route at run time: 10.0.1.0/24 → uplink");
    let back = parse::entry(
        &module,
        &EntryText {
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
    runtime::add(
        &roots,
        Some(&module.name),
        &[("routes".into(), back.clone())],
        true,
    )?;
    // The reference judges with the same entries the kernel has.
    let mut reference = module.clone();
    let routes = reference
        .table_by_name("routes")
        .map(|t| t.id.0 as usize)
        .context("routes table")?;
    reference.tables[routes].entries.push(back);

    say("[4/6] sending traffic");
    let wires = wires(&module, &up, &srv, &bak);
    let recorder = Recorder::start(&wires)?;
    let flows = run_flows(&up, &srv, &bak)?;
    std::thread::sleep(Duration::from_millis(300));
    let captured = recorder.finish();

    say("[5/6] comparing every packet with the reference interpreter");
    let (checks, unexplained) = reconcile(&reference, &captured, xdp);
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
        let verdicts = verdict_summary(&reference, &mine);
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
    for u in &unexplained {
        say(format!("      ✗ {u}"));
        mismatches += 1;
    }
    say(format!(
        "      {} packets compared: {} as the reference says, {} not",
        checks.len(),
        checks.iter().filter(|c| c.ok).count(),
        checks.iter().filter(|c| !c.ok).count() + unexplained.len()
    ));

    say("[6/6] counters read back from the kernel");
    let st = status::status(&roots, Some(&module.name))?.remove(0);
    for line in status_text(&st).lines() {
        say(format!("      {line}"));
    }
    mismatches += compare_counters(&reference, &st, &checks);

    if args.keep {
        lab.keep();
        say(format!(
            "kept: lab {} and deployment (state in {})",
            lab.name(),
            roots.state.display()
        ));
    } else {
        let _ = deploy::detach(&roots, Some(&module.name));
        lab.teardown();
        say("lab torn down");
    }
    if mismatches == 0 {
        say(format!(
            "demo passed in {:.1} s: the kernel did exactly what the reference interpreter says",
            t0.elapsed().as_secs_f64()
        ));
        Ok(0)
    } else {
        say(format!("demo FAILED: {mismatches} mismatch(es)"));
        Ok(1)
    }
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
