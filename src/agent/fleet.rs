//! The fleet through etcd, the agent's side.
//!
//! Keys (one value per module and host group; JSON):
//! - `/offload/desired/<group>/<module>`: a [`FleetDesired`] — the release to
//!   run, the one before it, and which hosts take the new one (a rollout's
//!   waves); written by `offloadctl fleet` with compare-and-swap on its
//!   `mod_revision`.
//! - `/offload/status/<group>/<host>/<module>`: a [`HostStatus`], written by
//!   the agent under a lease (a dead agent's status expires).
//!
//! The agent reads the prefix, then watches it from the revision after the
//! one it read (no update missed); on any error it reconnects and reads again
//! (level-triggered: what counts is the latest value, not the events). A value
//! that does not parse or does not apply is reported in the status and the
//! last good version keeps running (the apply is one transaction).
//!
//! etcd is reached through our client, [`offload_drivers::etcd`]: one member
//! at a time (the first of `--etcd` that answers), every call bounded by a
//! request timeout, so a member without quorum ends the session instead of
//! hanging it.

use super::Agent;
use offload_drivers::etcd::{Client, ConnectOptions, EtcdError, EventType, KeepAlive};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub fn desired_prefix(group: &str) -> String {
    format!("/offload/desired/{group}/")
}
pub fn status_prefix(group: &str) -> String {
    format!("/offload/status/{group}/")
}

/// One version of a deployment: its `deploy.toml` (may hold `${NAME}`, filled
/// per host by the agent's `--var`) and the files it names (the module).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Release {
    pub deploy: String,
    /// File name (no directories) → text; `module = "..."` names one.
    pub files: BTreeMap<String, String>,
    /// The module's version digest (what agents report running).
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetDesired {
    pub module: String,
    pub current: Release,
    /// What hosts outside `wave_hosts` keep running during a rollout.
    pub previous: Option<Release>,
    /// `None`: every host runs `current`.
    pub wave_hosts: Option<Vec<String>>,
    /// Set while a rollout is in progress (who, since when): a second
    /// operator's rollout or apply is refused unless forced.
    pub rollout: Option<String>,
}

impl FleetDesired {
    /// The release `host` should run, if any.
    pub fn release_for(&self, host: &str) -> Option<&Release> {
        match &self.wave_hosts {
            None => Some(&self.current),
            Some(h) if h.iter().any(|x| x == host) => Some(&self.current),
            Some(_) => self.previous.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostStatus {
    pub host: String,
    pub module: String,
    /// The desired key's mod_revision this status answers.
    pub revision: i64,
    /// Digest of the version running (read back), "" when none.
    pub running: String,
    pub version: u64,
    pub placements: Vec<super::PlacementView>,
    pub drift: usize,
    pub last_repair: Option<String>,
    /// Why the desired state at `revision` is not what runs.
    pub error: Option<String>,
    pub updated_ms: u64,
}

/// Per module: the revision acted on and its error.
#[derive(Default)]
struct Acted {
    revision: i64,
    error: Option<String>,
}

fn host_name(agent: &Agent) -> String {
    agent.args.host.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    })
}

fn vars(agent: &Agent) -> Result<BTreeMap<String, String>, String> {
    agent
        .args
        .vars
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("--var {v}: write NAME=VALUE"))
        })
        .collect()
}

/// `${NAME}` replaced by this host's value; an unknown name is an error
/// (a half-filled deployment file is never applied).
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else {
            return Err("an unclosed ${ in the deployment file".into());
        };
        let name = &after[..j];
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => {
                return Err(format!(
                    "the deployment file uses ${{{name}}}, which this agent has no --var for"
                ))
            }
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Writes a release's files under the state dir (one folder per digest and
/// deploy text, so the running version's files are never overwritten) and
/// applies it through the same code as `offloadctl apply`.
fn apply_release(agent: &Agent, module: &str, rel: &Release) -> Result<(), String> {
    let deploy = substitute(&rel.deploy, &vars(agent)?)?;
    let tag = offload_core::state::Version::of(&format!("{deploy}\n{:?}", rel.files), 0).digest;
    let dir = agent.state.join("fleet").join(module).join(tag);
    let io = |e: std::io::Error| format!("writing {}: {e}", dir.display());
    std::fs::create_dir_all(&dir).map_err(io)?;
    for (name, text) in &rel.files {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(format!(
                "file name {name:?} in the release: names only, no folders"
            ));
        }
        std::fs::write(dir.join(name), text).map_err(io)?;
    }
    let file = dir.join("deploy.toml");
    std::fs::write(&file, &deploy).map_err(io)?;
    let r = agent.apply(&file, false, false, false);
    if r.code == 0 {
        Ok(())
    } else {
        Err(r
            .err
            .trim()
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// Acts on one desired value (blocking: it may apply).
fn on_desired(
    agent: &Agent,
    host: &str,
    key: &str,
    value: &[u8],
    revision: i64,
) -> (String, Acted) {
    let module_from_key = key.rsplit('/').next().unwrap_or(key).to_string();
    let d: FleetDesired = match serde_json::from_slice(value) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(key, revision, error = %e, "malformed desired state in etcd: keeping the last good version");
            return (
                module_from_key,
                Acted {
                    revision,
                    error: Some(format!("desired state at {key} (revision {revision}) is malformed: {e}; the last good version keeps running")),
                },
            );
        }
    };
    let Some(rel) = d.release_for(host) else {
        return (
            d.module,
            Acted {
                revision,
                error: None,
            },
        );
    };
    tracing::info!(key, revision, digest = %rel.digest, "desired state from etcd");
    let error = apply_release(agent, &d.module, rel).err().map(|e| {
        tracing::error!(key, revision, error = %e, "desired state refused: keeping the last good version");
        format!("revision {revision} not applied: {e}")
    });
    (d.module, Acted { revision, error })
}

async fn publish(
    client: &Client,
    agent: &Agent,
    host: &str,
    lease: i64,
    acted: &BTreeMap<String, Acted>,
) -> Result<(), EtcdError> {
    let view = agent.view.lock().unwrap().clone();
    let mut modules: Vec<&String> = view.keys().collect();
    modules.extend(acted.keys().filter(|m| !view.contains_key(*m)));
    for m in modules {
        let v = view.get(m).cloned().unwrap_or_default();
        let a = acted.get(m);
        let st = HostStatus {
            host: host.into(),
            module: m.clone(),
            revision: a.map_or(0, |a| a.revision),
            running: if v.placements.iter().all(|p| p.program.starts_with("ours"))
                && !v.placements.is_empty()
            {
                v.digest.clone()
            } else {
                String::new()
            },
            version: v.version,
            placements: v.placements.clone(),
            drift: v.placements.iter().map(|p| p.drift).sum(),
            last_repair: v.last_repair.clone(),
            error: a.and_then(|a| a.error.clone()).or(v.error.clone()),
            updated_ms: super::unix_ms(),
        };
        let key = format!("{}{host}/{m}", status_prefix(&agent.args.group));
        let text = serde_json::to_string(&st).unwrap_or_default();
        client.put(key, text, lease).await?;
    }
    Ok(())
}

/// One connection's life: read, watch, publish; returns on any etcd error
/// (the caller reconnects). `from` is the next revision to watch.
async fn session(
    agent: &Arc<Agent>,
    host: &str,
    acted: &mut BTreeMap<String, Acted>,
    from: &mut i64,
) -> Result<(), EtcdError> {
    let opts = ConnectOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        keep_alive: Some(KeepAlive {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
        }),
    };
    let client = Client::connect_any(&agent.args.etcd, &opts).await?;
    let lease = client.lease_grant(agent.args.lease_ttl_s).await?.id;
    let mut keeper = client.lease_keep_alive(lease).await?;
    let prefix = desired_prefix(&agent.args.group);
    let got = client.get_prefix(&prefix).await?;
    let read_at = got.header.as_ref().map_or(0, |h| h.revision);
    for kv in got.kvs {
        let key = kv.key_str().unwrap_or_default().to_string();
        let module = key.rsplit('/').next().unwrap_or_default().to_string();
        // Already acted on this exact revision (a reconnect): nothing new.
        if acted
            .get(&module)
            .is_some_and(|a| a.revision == kv.mod_revision)
        {
            continue;
        }
        let (a, v, rev, h) = (agent.clone(), kv.value, kv.mod_revision, host.to_string());
        let (m, done) = tokio::task::spawn_blocking(move || on_desired(&a, &h, &key, &v, rev))
            .await
            .expect("desired handler");
        acted.insert(m, done);
    }
    *from = read_at + 1;
    publish(&client, agent, host, lease, acted).await?;
    let mut watch = client.watch_prefix(&prefix, *from).await?;
    let every = Duration::from_millis(agent.args.interval_ms.clamp(200, 2000));
    let mut tick = tokio::time::interval(every);
    let keepalive = Duration::from_secs((agent.args.lease_ttl_s as u64 / 3).max(1));
    let mut last_keep = std::time::Instant::now();
    loop {
        tokio::select! {
            // A canceled watch (compacted) or an ended stream is an error.
            msg = watch.next() => {
                let resp = msg?;
                for ev in resp.events {
                    let kind = ev.kind();
                    let Some(kv) = ev.kv else { continue };
                    *from = kv.mod_revision + 1;
                    match kind {
                        Ok(EventType::Put) => {}
                        Ok(EventType::Delete) => {
                            tracing::warn!(key = %kv.key_str().unwrap_or_default(), "desired state deleted in etcd: what runs stays (detach it with offloadctl)");
                            continue;
                        }
                        Err(raw) => {
                            tracing::warn!(key = %kv.key_str().unwrap_or_default(), kind = raw, "etcd event of an unknown kind: ignored");
                            continue;
                        }
                    }
                    let key = kv.key_str().unwrap_or_default().to_string();
                    let (a, v, rev, h) = (agent.clone(), kv.value, kv.mod_revision, host.to_string());
                    let (m, done) = tokio::task::spawn_blocking(move || on_desired(&a, &h, &key, &v, rev))
                        .await
                        .expect("desired handler");
                    acted.insert(m, done);
                }
                publish(&client, agent, host, lease, acted).await?;
            }
            _ = tick.tick() => {
                if last_keep.elapsed() >= keepalive {
                    // Waits for etcd's answer: a lease that is gone (expired
                    // while etcd was away) ends the session; the next one
                    // grants a new lease and writes the status again.
                    keeper.keep_alive().await?;
                    last_keep = std::time::Instant::now();
                }
                publish(&client, agent, host, lease, acted).await?;
            }
        }
    }
}

/// The fleet side of the agent: never returns; etcd being away only stops
/// the fleet updates (the local reconcile loop keeps the last good version).
pub async fn run(agent: Arc<Agent>) {
    let host = host_name(&agent);
    tracing::info!(host, group = %agent.args.group, etcd = ?agent.args.etcd, "following the fleet's desired state");
    let mut acted = BTreeMap::new();
    let mut from = 0;
    loop {
        if let Err(e) = session(&agent, &host, &mut acted, &mut from).await {
            tracing::warn!(error = %e, "etcd: reconnecting in 1 s (the local state keeps being reconciled)");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
