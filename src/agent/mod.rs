//! offloadd: the long-running side of offload on one host.
//!
//! - `mod.rs` (here): flags, start-up (state lock, tracing, tokio), the
//!   reconcile loop and the requests it serves — the same command code as
//!   offloadctl (`cmd::deployment`, `cmd::entries`, `cmd::detach`).
//! - [`lock`]: the single-writer `flock` on `<state dir>/offload.lock`.
//! - [`proto`]: the control socket's newline-delimited JSON (client side too).
//! - [`server`]: the control socket (Unix, 0600, peer credentials checked).
//! - [`metrics`]: Prometheus/OpenMetrics text over HTTP.
//! - [`fleet`]: desired state from etcd, status back under a lease.
//!
//! Everything offload runs is pinned (bpffs) or held by the switch, and the
//! deployment records are on disk, so the agent keeps no state of its own
//! that a kill -9 could lose: a restarted agent reads the records, observes
//! every placement and finds them in sync (adopted, nothing reloaded).

pub mod fleet;
pub mod lock;
pub mod metrics;
pub mod proto;
pub mod server;

use crate::cmd::{self, Reply};
use offload_core::state;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// offloadd: keeps the desired state of this host's deployments, repairs drift,
/// serves offloadctl on a control socket, exports metrics, follows etcd.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "offloadd", version, about)]
pub struct Args {
    /// State directory (records, lock, socket); default /run/offload
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Time between reconcile passes: drift is repaired within about this
    /// plus one pass
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Serve metrics (Prometheus text) on this address, e.g. 127.0.0.1:9464
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// etcd endpoints (comma-separated): follow the fleet's desired state
    #[arg(long, value_delimiter = ',', value_name = "URL")]
    pub etcd: Vec<String>,
    /// Host group whose desired state this agent follows
    #[arg(long, default_value = "default")]
    pub group: String,
    /// This host's name in the fleet (default: the hostname)
    #[arg(long)]
    pub host: Option<String>,
    /// A host-specific value substituted for ${NAME} in deployment files from
    /// etcd (interface names): NAME=VALUE, repeatable
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Lease of this agent's status keys in etcd, seconds
    #[arg(long, default_value_t = 10)]
    pub lease_ttl_s: i64,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// What the last pass saw of one deployment (status, metrics, etcd).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ModuleView {
    pub version: u64,
    pub digest: String,
    pub placements: Vec<PlacementView>,
    /// Drift found by the last pass (before its repairs).
    pub drift: usize,
    /// "<unix ms> <what>" of the last repair.
    pub last_repair: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlacementView {
    pub id: String,
    pub program: String,
    pub drift: usize,
}

pub struct Agent {
    pub args: Args,
    pub state: PathBuf,
    /// One writer inside the agent: the loop, socket requests and fleet
    /// applies take turns (the state lock keeps other processes out).
    pub writer: Mutex<()>,
    pub metrics: metrics::Metrics,
    pub view: Mutex<BTreeMap<String, ModuleView>>,
    pub started: Instant,
    pub passes: std::sync::atomic::AtomicU64,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Agent {
    /// One reconcile pass over every recorded deployment (or one module):
    /// read back, diff, repair; the view and the metrics come from the same
    /// read-back (read again only where something was repaired). Returns what `offloadctl reconcile` would print.
    pub fn pass(&self, module: Option<&str>) -> Reply {
        let mut r = Reply::default();
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let t_pass = Instant::now();
        let recs = match cmd::deployment::records(module) {
            Ok(recs) => recs,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the deployment records");
                r.code = 2;
                let _ = std::fmt::Write::write_fmt(&mut r.err, format_args!("error: {e:#}\n"));
                return r;
            }
        };
        let mut seen = Vec::new();
        for rec in recs {
            seen.push(rec.module.clone());
            let mut view = ModuleView {
                version: rec.version,
                ..Default::default()
            };
            let prev_repair = self
                .view
                .lock()
                .unwrap()
                .get(&rec.module)
                .and_then(|v| v.last_repair.clone());
            view.last_repair = prev_repair;
            match cmd::deployment::open(&rec, true) {
                Err(e) => {
                    tracing::error!(module = %rec.module, error = %format!("{e:#}"), "cannot open deployment");
                    view.error = Some(format!("{e:#}"));
                    r.code = 1;
                }
                Ok(mut o) => {
                    let desired = offload_drivers::target::switch::canonical_desired(&o.desired);
                    view.digest = desired.version.digest.clone();
                    let t0 = Instant::now();
                    let mut refs = o.refs();
                    let mut rep = state::reconcile(&mut refs, &desired);
                    drop(refs);
                    let took = t0.elapsed();
                    self.metrics.record_pass(&rec.module, &rep);
                    view.drift = rep.drift.len();
                    for (p, d) in &rep.drift {
                        let what = d.describe(&desired.module);
                        tracing::warn!(module = %rec.module, placement = %p, drift = %what, "drift");
                        let _ = std::fmt::Write::write_fmt(
                            &mut r.out,
                            format_args!("{}: {p}: drift: {what}\n", rec.module),
                        );
                    }
                    for rep in &rep.repaired {
                        let what = match rep {
                            state::Repair::Reload { placement, .. } => {
                                format!("{placement}: reloaded version {}", desired.version.number)
                            }
                            state::Repair::Entries { placement, ops } => {
                                format!("{placement}: {} entry operation(s) written", ops.len())
                            }
                            state::Repair::LeaveAlone { placement, because } => {
                                format!("{placement}: left alone ({because})")
                            }
                        };
                        tracing::info!(module = %rec.module, repair = %what, ms = took.as_secs_f64() * 1e3, "repaired");
                        let _ = std::fmt::Write::write_fmt(
                            &mut r.out,
                            format_args!("{}: repaired {what}\n", rec.module),
                        );
                        view.last_repair = Some(format!("{} {what}", unix_ms()));
                    }
                    for rep in &rep.left_alone {
                        if let state::Repair::LeaveAlone { placement, because } = rep {
                            tracing::warn!(module = %rec.module, placement = %placement, because = %because, "not ours: left alone");
                        }
                    }
                    for e in &rep.failed {
                        tracing::error!(module = %rec.module, error = %e, "repair failed");
                        let _ = std::fmt::Write::write_fmt(
                            &mut r.err,
                            format_args!("{}: repair failed: {e}\n", rec.module),
                        );
                        view.error = Some(e.to_string());
                        r.code = 1;
                    }
                    // What runs now, for status and metrics: the pass's own
                    // observation of a target nothing was written to, a read
                    // back only of those repaired (or not observed).
                    let mut current = std::mem::take(&mut rep.current);
                    for (i, t) in o.targets.iter_mut().enumerate() {
                        let seen = match current.get_mut(i).and_then(Option::take) {
                            Some(obs) => Ok(obs),
                            None => t.observe(&desired),
                        };
                        match seen {
                            Ok(obs) => {
                                for ob in obs {
                                    let drift = state::diff(&desired, &ob).len();
                                    self.metrics.record_placement(&rec.module, &ob, drift);
                                    view.placements.push(PlacementView {
                                        id: ob.placement.0.clone(),
                                        program: match &ob.program {
                                            state::ProgramState::Ours { digest, .. } => {
                                                format!("ours {digest}")
                                            }
                                            other => format!("{other:?}"),
                                        },
                                        drift,
                                    });
                                }
                            }
                            Err(e) => {
                                view.error = Some(e.to_string());
                                view.placements.push(PlacementView {
                                    id: e.placement.0.clone(),
                                    program: format!("unreadable: {e}"),
                                    drift: 1,
                                });
                            }
                        }
                    }
                    self.metrics.deployment_version(&rec.module, rec.version);
                }
            }
            self.view.lock().unwrap().insert(rec.module.clone(), view);
        }
        if module.is_none() {
            self.view.lock().unwrap().retain(|m, _| seen.contains(m));
        }
        self.metrics
            .pass_seconds
            .observe(t_pass.elapsed().as_secs_f64());
        self.passes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if r.out.is_empty() && r.code == 0 {
            r.out.push_str("in sync\n");
        }
        r
    }

    /// Applies a deployment file (socket request or fleet), timed.
    pub fn apply(
        &self,
        file: &std::path::Path,
        json: bool,
        replace: bool,
        no_batch: bool,
    ) -> Reply {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let t0 = Instant::now();
        let mut r = Reply::default();
        r.code = match cmd::deployment::apply_into(&mut r, file, json, replace, no_batch) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fmt::Write::write_fmt(&mut r.err, format_args!("error: {e:#}\n"));
                2
            }
        };
        let secs = t0.elapsed().as_secs_f64();
        self.metrics.apply_seconds.observe(secs);
        tracing::info!(file = %file.display(), code = r.code, ms = secs * 1e3, "apply");
        r
    }

    /// A request from the control socket (blocking: runs on tokio's
    /// blocking pool).
    pub fn handle(&self, req: proto::Request) -> Reply {
        use proto::Request as R;
        let run = |f: &dyn Fn(&mut Reply) -> anyhow::Result<i32>| {
            let mut r = Reply::default();
            r.code = f(&mut r).unwrap_or_else(|e| {
                let _ = std::fmt::Write::write_fmt(&mut r.err, format_args!("error: {e:#}\n"));
                2
            });
            r
        };
        match req {
            R::Apply {
                file,
                json,
                replace,
                no_batch,
            } => self.apply(&file, json, replace, no_batch),
            R::Status { module, json } => run(&|r| {
                let recs = cmd::deployment::records(module.as_deref())?;
                if recs.is_empty() {
                    say!(r, "nothing deployed through offloadd");
                    return Ok(0);
                }
                cmd::deployment::status_into(r, &recs, json)
            }),
            R::Entries { module, command } => run(&|r| {
                let recs = cmd::deployment::records(module.as_deref())?;
                match (&command, recs.as_slice()) {
                    (cmd::entries::EntriesCommand::List { json }, recs) if !recs.is_empty() => {
                        cmd::deployment::status_into(r, recs, *json)
                    }
                    (_, [rec]) => {
                        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
                        cmd::entries::deployment_entries_into(r, rec, &command)
                    }
                    (_, []) => {
                        complain!(
                            r,
                            "error: no deployment{} recorded by offloadd",
                            module
                                .as_deref()
                                .map(|m| format!(" {m}"))
                                .unwrap_or_default()
                        );
                        Ok(1)
                    }
                    (_, many) => {
                        complain!(
                            r,
                            "error: {} deployments: name one with --module",
                            many.len()
                        );
                        Ok(1)
                    }
                }
            }),
            R::Detach { module } => run(&|r| {
                let recs = cmd::deployment::records(module.as_deref())?;
                let [rec] = recs.as_slice() else {
                    complain!(
                        r,
                        "error: {} deployments match: name one with --module",
                        recs.len()
                    );
                    return Ok(1);
                };
                let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
                cmd::detach::detach_deployment_into(r, rec)
            }),
            R::Reconcile { module } => self.pass(module.as_deref()),
            R::Agent => run(&|r| {
                let v = serde_json::json!({
                    "pid": std::process::id(),
                    "state_dir": self.state.display().to_string(),
                    "interval_ms": self.args.interval_ms,
                    "uptime_s": self.started.elapsed().as_secs_f64(),
                    "passes": self.passes.load(std::sync::atomic::Ordering::Relaxed),
                    "deployments": &*self.view.lock().unwrap(),
                });
                say!(r, "{}", serde_json::to_string_pretty(&v)?);
                Ok(0)
            }),
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The agent's main: returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    init_tracing(args.verbose);
    if let Some(line) = offload_drivers::testenv::missing_privilege() {
        eprintln!("offloadd needs root: {line}");
        return Ok(2);
    }
    if let Some(d) = &args.state_dir {
        // Before any thread starts: every command module reads it (roots()).
        std::env::set_var("OFFLOAD_STATE_DIR", d);
    }
    let state = cmd::deployed::roots().state;
    let lock = lock::StateLock::acquire(&state, "offloadd", Duration::from_secs(10))?;
    tracing::info!(state = %state.display(), lock = %lock.path.display(), pid = std::process::id(), "offloadd starting");
    let agent = Arc::new(Agent {
        state: state.clone(),
        writer: Mutex::new(()),
        metrics: metrics::Metrics::new(),
        view: Mutex::new(BTreeMap::new()),
        started: Instant::now(),
        passes: Default::default(),
        args,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // The first pass adopts what runs (it only repairs real drift).
        let a = agent.clone();
        let first = tokio::task::spawn_blocking(move || a.pass(None)).await?;
        tracing::info!(outcome = %first.out.trim(), "first pass: adopted what runs");
        let sock = server::serve(agent.clone()).await?;
        if let Some(addr) = agent.args.metrics {
            metrics::serve(agent.clone(), addr).await?;
        }
        if !agent.args.etcd.is_empty() {
            tokio::spawn(fleet::run(agent.clone()));
        }
        let a = agent.clone();
        let looper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(a.args.interval_ms.max(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let b = a.clone();
                let _ = tokio::task::spawn_blocking(move || b.pass(None)).await;
            }
        });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("offloadd stopping: what runs stays (pinned); a restart adopts it");
        looper.abort();
        let _ = std::fs::remove_file(&sock);
        anyhow::Ok(())
    })?;
    drop(lock);
    Ok(0)
}
