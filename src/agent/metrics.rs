//! Metrics in the Prometheus/OpenMetrics text format (the `prometheus-client`
//! crate), served over plain HTTP on `--metrics ADDR` (any path).
//!
//! Families: `offload_table_entries` and `offload_table_packets` (per module,
//! placement, table; read back from the device), `offload_drift_events`,
//! `offload_repairs`, `offload_repair_failures` (counters per module),
//! `offload_placement_in_sync` (1 or 0), `offload_deployment_version`,
//! `offload_apply_seconds` and `offload_reconcile_pass_seconds` (histograms).

use super::Agent;
use offload_core::state::{Observed, RepairReport};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    entries: Family<Labels, Gauge>,
    packets: Family<Labels, Gauge>,
    drift: Family<Labels, Counter>,
    repairs: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    in_sync: Family<Labels, Gauge>,
    version: Family<Labels, Gauge>,
    pub apply_seconds: Histogram,
    pub pass_seconds: Histogram,
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("offload");
        let m = Metrics {
            entries: Family::default(),
            packets: Family::default(),
            drift: Family::default(),
            repairs: Family::default(),
            failures: Family::default(),
            in_sync: Family::default(),
            version: Family::default(),
            apply_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
            pass_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            registry: Registry::default(),
        };
        registry.register(
            "table_entries",
            "Entries read back per table and placement",
            m.entries.clone(),
        );
        registry.register(
            "table_packets",
            "Packets counted (entries and default) per table and placement",
            m.packets.clone(),
        );
        registry.register(
            "drift_events",
            "Drift found by reconcile passes",
            m.drift.clone(),
        );
        registry.register(
            "repairs",
            "Repairs made by reconcile passes",
            m.repairs.clone(),
        );
        registry.register("repair_failures", "Repairs that failed", m.failures.clone());
        registry.register(
            "placement_in_sync",
            "1 when a placement matches the desired state",
            m.in_sync.clone(),
        );
        registry.register(
            "deployment_version",
            "Recorded version number per deployment",
            m.version.clone(),
        );
        registry.register(
            "apply_seconds",
            "Time of an apply through the agent",
            m.apply_seconds.clone(),
        );
        registry.register(
            "reconcile_pass_seconds",
            "Time of one reconcile pass",
            m.pass_seconds.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn record_pass(&self, module: &str, r: &RepairReport) {
        let k = l(&[("module", module)]);
        self.drift.get_or_create(&k).inc_by(r.drift.len() as u64);
        self.repairs
            .get_or_create(&k)
            .inc_by(r.repaired.len() as u64);
        self.failures
            .get_or_create(&k)
            .inc_by(r.failed.len() as u64);
    }

    pub fn record_placement(&self, module: &str, ob: &Observed, drift: usize) {
        let p = ob.placement.0.as_str();
        self.in_sync
            .get_or_create(&l(&[("module", module), ("placement", p)]))
            .set(i64::from(drift == 0));
        for (name, t) in &ob.tables {
            let k = l(&[("module", module), ("placement", p), ("table", name)]);
            self.entries.get_or_create(&k).set(t.entries.len() as i64);
            let pk: u64 =
                t.counters.iter().map(|c| c.0).sum::<u64>() + t.default_counter.map_or(0, |c| c.0);
            self.packets.get_or_create(&k).set(pk as i64);
        }
    }

    pub fn deployment_version(&self, module: &str, v: u64) {
        self.version
            .get_or_create(&l(&[("module", module)]))
            .set(v as i64);
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = encode(&mut s, &self.registry);
        s
    }
}

pub async fn serve(agent: Arc<Agent>, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("metrics: cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "metrics listening");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let a = agent.clone();
            tokio::spawn(async move {
                // Read the request head (bounded); any path gets the metrics.
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while n < buf.len() {
                    match tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        s.read(&mut buf[n..]),
                    )
                    .await
                    {
                        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                        Ok(Ok(k)) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let body = a.metrics.text();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok(())
}
