//! `offloadctl fleet apply|status|rollout`: the fleet's desired state in etcd
//! (keys in `agent::fleet`), from any machine.
//!
//! - `apply FILE`: every host of the group runs this deployment now.
//! - `rollout FILE --waves 1,10%,100%`: the new release goes to a growing set
//!   of hosts; each wave waits until every host in it reports the new version
//!   running, in sync, without error (and `--validate CMD` passes); any
//!   failure or timeout halts and rolls every host back to the previous one.
//! - `status`: the desired revision and what each live agent reports.
//!
//! Every write is a compare-and-swap on the key's `mod_revision`, and a
//! rollout marks the value as taken while it runs, so two operators cannot
//! interleave (the second is refused; `--force` takes over a dead one's).

use crate::agent::fleet::{desired_prefix, status_prefix, FleetDesired, HostStatus, Release};
use anyhow::Context as _;
use offload_drivers::etcd::{
    Client, Compare, ConnectOptions, EtcdError, PutRequest, RequestOp, TxnRequest,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// etcd endpoints, comma-separated
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    pub etcd: Vec<String>,
    /// Host group
    #[arg(long, global = true, default_value = "default")]
    pub group: String,
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum FleetCommand {
    /// Every host of the group runs this deployment (no waves)
    Apply {
        file: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Staged rollout in waves gated on the agents' status; halts and rolls back on failure
    Rollout {
        file: PathBuf,
        /// Cumulative wave sizes: host counts or percentages of the group's live hosts
        #[arg(long, default_value = "1,10%,100%")]
        waves: String,
        /// Time a wave may take to converge
        #[arg(long, default_value_t = 60)]
        wave_timeout_s: u64,
        /// A command run after each wave (env OFFLOAD_FLEET_WAVE, OFFLOAD_FLEET_HOSTS); non-zero fails it
        #[arg(long)]
        validate: Option<String>,
        /// Take over a rollout marked in progress (its operator is gone)
        #[arg(long)]
        force: bool,
    },
    /// The desired revision and each live agent's report
    Status {
        #[arg(long)]
        module: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// The release a deployment file describes: its text and the module file.
pub fn release(file: &Path) -> anyhow::Result<(String, Release)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{}: not TOML", file.display()))?;
    if table.get("modules").is_some() {
        anyhow::bail!(
            "{}: a service chain (`modules = [...]`): `fleet apply` takes one module for now; apply a chain on each host with `offloadctl apply`",
            file.display()
        );
    }
    let module_file = table
        .get("module")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{}: no `module = \"FILE\"`", file.display()))?
        .to_string();
    let name = Path::new(&module_file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("module file name")?;
    let base = file.parent().unwrap_or(Path::new("."));
    let source = std::fs::read_to_string(base.join(&module_file))
        .with_context(|| format!("cannot read the module {module_file}"))?;
    let module = offload_core::spec::compile(&source).map_err(|d| {
        anyhow::anyhow!(
            "{module_file}: the module does not compile ({} errors): `offloadctl check` it",
            d.0.len()
        )
    })?;
    // Agents get the file by its bare name beside deploy.toml.
    let deploy = text.replace(&format!("\"{module_file}\""), &format!("\"{name}\""));
    Ok((
        module.name.clone(),
        Release {
            deploy,
            files: BTreeMap::from([(name, source.clone())]),
            digest: offload_core::state::Version::of(&source, 0).digest,
        },
    ))
}

async fn connect(args: &Args) -> anyhow::Result<Client> {
    let opts = ConnectOptions {
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(5),
        keep_alive: None,
    };
    Client::connect_any(&args.etcd, &opts)
        .await
        .with_context(|| format!("cannot reach etcd at {}", args.etcd.join(",")))
}

/// Reads are retried this long (a leader election takes a few seconds);
/// past it the cluster most likely has no quorum.
const READ_RETRY: Duration = Duration::from_secs(10);

fn no_answer(e: EtcdError, t0: std::time::Instant) -> anyhow::Error {
    anyhow::anyhow!(
        "etcd did not answer for {:.0} s (retried): most likely no quorum (a majority of the members must be up and elect a leader); last error: {e}",
        t0.elapsed().as_secs_f64()
    )
}

/// The desired value and its mod_revision (0: no key).
async fn read(c: &Client, key: &str) -> anyhow::Result<(Option<FleetDesired>, i64)> {
    // Reads are retried through a leader election (a member just died).
    let t0 = std::time::Instant::now();
    let r = loop {
        match c.get(key).await {
            Ok(r) => break r,
            Err(e) if t0.elapsed() < READ_RETRY => {
                tracing::debug!(error = %e, "etcd read: retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(no_answer(e, t0)),
        }
    };
    match r.kvs.first() {
        None => Ok((None, 0)),
        Some(kv) => Ok((
            // A malformed value is replaced by whatever is written next.
            serde_json::from_slice(&kv.value).ok(),
            kv.mod_revision,
        )),
    }
}

/// Compare-and-swap: written only if the key is still at `expect`.
async fn cas(c: &Client, key: &str, expect: i64, d: &FleetDesired) -> anyhow::Result<i64> {
    let txn = TxnRequest {
        compare: vec![Compare::mod_revision_equal(key, expect)],
        success: vec![RequestOp::put(PutRequest {
            key: key.into(),
            value: serde_json::to_vec(d)?,
            lease: 0,
        })],
        failure: vec![],
    };
    let r = c.txn(txn).await?;
    if !r.succeeded {
        let (_, now) = read(c, key).await?;
        anyhow::bail!(
            "{key} changed under us (expected revision {expect}, now {now}): another operator wrote it; nothing written"
        );
    }
    Ok(r.header.map_or(0, |h| h.revision))
}

/// Every live agent's status in the group (their leases keep them there).
async fn statuses(c: &Client, group: &str) -> anyhow::Result<Vec<HostStatus>> {
    let t0 = std::time::Instant::now();
    let r = loop {
        match c.get_prefix(status_prefix(group)).await {
            Ok(r) => break r,
            Err(e) if t0.elapsed() < READ_RETRY => {
                tracing::debug!(error = %e, "etcd read: retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(no_answer(e, t0)),
        }
    };
    Ok(r.kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect())
}

fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!(
        "offloadctl pid {} on {} at {}",
        std::process::id(),
        host.trim(),
        crate::agent::unix_ms()
    )
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: &Args) -> anyhow::Result<i32> {
    let c = connect(args).await?;
    match &args.command {
        FleetCommand::Apply { file, force } => {
            let (module, rel) = release(file)?;
            let key = format!("{}{module}", desired_prefix(&args.group));
            let (old, rev) = read(&c, &key).await?;
            if let Some(o) = old.as_ref().and_then(|o| o.rollout.as_ref()) {
                if !force {
                    eprintln!("error: {key}: a rollout is in progress ({o}); --force to override");
                    return Ok(1);
                }
            }
            let d = FleetDesired {
                module: module.clone(),
                previous: old.map(|o| o.current).filter(|p| *p != rel),
                current: rel,
                wave_hosts: None,
                rollout: None,
            };
            let new = cas(&c, &key, rev, &d).await?;
            println!(
                "{key}: revision {new} (was {rev}): every host of {} runs {} {}",
                args.group, module, d.current.digest
            );
            Ok(0)
        }
        FleetCommand::Status { module, json } => {
            let r = c.get_prefix(desired_prefix(&args.group)).await?;
            let mut desired = BTreeMap::new();
            for kv in &r.kvs {
                let key = kv.key_str().unwrap_or_default().to_string();
                let m = key.rsplit('/').next().unwrap_or_default().to_string();
                if module.as_ref().is_some_and(|x| *x != m) {
                    continue;
                }
                desired.insert(
                    m,
                    (
                        kv.mod_revision,
                        serde_json::from_slice::<FleetDesired>(&kv.value).ok(),
                    ),
                );
            }
            let sts: Vec<HostStatus> = statuses(&c, &args.group)
                .await?
                .into_iter()
                .filter(|s| module.as_ref().is_none_or(|m| *m == s.module))
                .collect();
            let mut bad = false;
            for s in &sts {
                let want = desired
                    .get(&s.module)
                    .and_then(|(_, d)| d.as_ref())
                    .and_then(|d| d.release_for(&s.host))
                    .map(|r| r.digest.clone());
                bad |= s.error.is_some() || s.drift > 0 || want.is_some_and(|w| w != s.running);
            }
            if *json {
                let v = serde_json::json!({
                    "desired": desired.iter().map(|(m, (rev, d))| (m.clone(), serde_json::json!({"revision": rev, "value": d}))).collect::<BTreeMap<_, _>>(),
                    "hosts": sts,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (m, (rev, d)) in &desired {
                    match d {
                        Some(d) => println!(
                            "{m}: desired revision {rev}: {}{}{}",
                            d.current.digest,
                            d.wave_hosts.as_ref().map(|h| format!(" on {} host(s), the rest on {}", h.len(), d.previous.as_ref().map_or("nothing", |p| p.digest.as_str()))).unwrap_or_default(),
                            d.rollout.as_ref().map(|o| format!(" (rollout by {o})")).unwrap_or_default()
                        ),
                        None => println!("{m}: desired revision {rev}: MALFORMED (agents keep their last good version)"),
                    }
                }
                for s in &sts {
                    println!(
                        "  {} {}: running {} v{} (answers revision {}), {} placement(s), drift {}{}{}",
                        s.host,
                        s.module,
                        if s.running.is_empty() { "-" } else { &s.running },
                        s.version,
                        s.revision,
                        s.placements.len(),
                        s.drift,
                        s.last_repair.as_ref().map(|r| format!(", last repair {r}")).unwrap_or_default(),
                        s.error.as_ref().map(|e| format!("\n    error: {e}")).unwrap_or_default()
                    );
                }
                if sts.is_empty() {
                    println!("  no live agent in group {}", args.group);
                }
            }
            Ok(if bad { 3 } else { 0 })
        }
        FleetCommand::Rollout {
            file,
            waves,
            wave_timeout_s,
            validate,
            force,
        } => {
            rollout(
                &c,
                args,
                file,
                waves,
                Duration::from_secs(*wave_timeout_s),
                validate.as_deref(),
                *force,
            )
            .await
        }
    }
}

/// Cumulative host counts of `1,10%,100%` over `n` hosts (each at least one
/// more than the last, the last all of them).
pub fn wave_sizes(spec: &str, n: usize) -> anyhow::Result<Vec<usize>> {
    let mut out: Vec<usize> = Vec::new();
    for w in spec.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let k = if let Some(p) = w.strip_suffix('%') {
            let p: f64 = p
                .parse()
                .with_context(|| format!("--waves: {w} is not a percentage"))?;
            ((n as f64) * p / 100.0).ceil() as usize
        } else {
            w.parse()
                .with_context(|| format!("--waves: {w} is not a host count"))?
        };
        let k = k.clamp(1, n);
        if out.last().is_none_or(|l| k > *l) {
            out.push(k);
        }
    }
    if out.last() != Some(&n) {
        out.push(n);
    }
    Ok(out)
}

/// Waits until every host in `hosts` answers `revision` running `digest`, in
/// sync; `Err` names the first failing host.
async fn converge(
    c: &Client,
    group: &str,
    module: &str,
    hosts: &[String],
    revision: i64,
    digest: &str,
    timeout: Duration,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        let sts = statuses(c, group).await.map_err(|e| format!("etcd: {e}"))?;
        let mut waiting = Vec::new();
        for h in hosts {
            let s = sts.iter().find(|s| s.host == *h && s.module == module);
            match s {
                Some(s) if s.revision >= revision && s.error.is_some() => {
                    return Err(format!("{h}: {}", s.error.as_deref().unwrap_or_default()))
                }
                Some(s) if s.revision >= revision && s.running == digest && s.drift == 0 => {}
                Some(s) => waiting.push(format!(
                    "{h} (answers {}, runs {})",
                    s.revision,
                    if s.running.is_empty() {
                        "-"
                    } else {
                        &s.running
                    }
                )),
                None => waiting.push(format!("{h} (no status: agent down?)")),
            }
        }
        if waiting.is_empty() {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > timeout {
            return Err(format!(
                "not converged after {timeout:?}: {}",
                waiting.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn rollout(
    c: &Client,
    args: &Args,
    file: &Path,
    waves: &str,
    timeout: Duration,
    validate: Option<&str>,
    force: bool,
) -> anyhow::Result<i32> {
    let t_all = Instant::now();
    let (module, rel) = release(file)?;
    let key = format!("{}{module}", desired_prefix(&args.group));
    let (old, mut rev) = read(c, &key).await?;
    if let Some(o) = old.as_ref().and_then(|o| o.rollout.as_ref()) {
        if !force {
            eprintln!("error: {key}: a rollout is in progress ({o}); --force to take it over");
            return Ok(1);
        }
    }
    let mut hosts: Vec<String> = statuses(c, &args.group)
        .await?
        .into_iter()
        .map(|s| s.host)
        .collect();
    hosts.sort();
    hosts.dedup();
    if hosts.is_empty() {
        eprintln!(
            "error: no live agent in group {}: nothing to roll out to",
            args.group
        );
        return Ok(1);
    }
    let previous = old.as_ref().map(|o| o.current.clone());
    let sizes = wave_sizes(waves, hosts.len())?;
    println!(
        "rollout of {module} {} to {} host(s) in waves {sizes:?} (key {key}, revision {rev})",
        rel.digest,
        hosts.len()
    );
    let who = owner();
    let mut failure = None;
    for (i, &k) in sizes.iter().enumerate() {
        let last = i + 1 == sizes.len();
        let d = FleetDesired {
            module: module.clone(),
            current: rel.clone(),
            previous: previous.clone(),
            wave_hosts: if last {
                None
            } else {
                Some(hosts[..k].to_vec())
            },
            rollout: if last { None } else { Some(who.clone()) },
        };
        rev = match cas(c, &key, rev, &d).await {
            Ok(r) => r,
            Err(e) => {
                // Someone else owns the key now: do not roll back over them.
                eprintln!("error: wave {}: {e:#}; halted", i + 1);
                return Ok(1);
            }
        };
        match converge(
            c,
            &args.group,
            &module,
            &hosts[..k],
            rev,
            &rel.digest,
            timeout,
        )
        .await
        {
            Ok(t) => println!(
                "wave {}: {k} host(s) on {} in {:.2} s (revision {rev})",
                i + 1,
                rel.digest,
                t.as_secs_f64()
            ),
            Err(e) => {
                failure = Some(format!("wave {} failed: {e}", i + 1));
                break;
            }
        }
        if let Some(cmd) = validate {
            let st = std::process::Command::new("sh")
                .args(["-c", cmd])
                .env("OFFLOAD_FLEET_WAVE", (i + 1).to_string())
                .env("OFFLOAD_FLEET_HOSTS", hosts[..k].join(","))
                .status();
            if !st.as_ref().is_ok_and(|s| s.success()) {
                failure = Some(format!(
                    "wave {}: validation `{cmd}` failed ({st:?})",
                    i + 1
                ));
                break;
            }
        }
    }
    let Some(why) = failure else {
        println!(
            "rollout done: {} host(s) on {} in {:.2} s",
            hosts.len(),
            rel.digest,
            t_all.elapsed().as_secs_f64()
        );
        return Ok(0);
    };
    eprintln!("error: {why}; halting and rolling back");
    let Some(prev) = previous else {
        // Nothing ran before: stop the rollout where it is.
        let d = FleetDesired {
            module: module.clone(),
            current: rel.clone(),
            previous: None,
            wave_hosts: Some(vec![]),
            rollout: None,
        };
        cas(c, &key, rev, &d).await?;
        eprintln!("no previous release to return to: hosts that took the new one keep it, no other host gets it");
        return Ok(1);
    };
    let d = FleetDesired {
        module: module.clone(),
        current: prev.clone(),
        previous: None,
        wave_hosts: None,
        rollout: None,
    };
    let back = cas(c, &key, rev, &d).await?;
    match converge(c, &args.group, &module, &hosts, back, &prev.digest, timeout).await {
        Ok(t) => eprintln!(
            "rolled back: {} host(s) on {} in {:.2} s (revision {back})",
            hosts.len(),
            prev.digest,
            t.as_secs_f64()
        ),
        Err(e) => eprintln!("rollback written (revision {back}) but not converged: {e}"),
    }
    Ok(1)
}
