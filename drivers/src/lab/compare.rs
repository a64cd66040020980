//! Live traffic against the reference interpreter.
//!
//! Each probe is a frame sent from the host behind one logical port; every
//! host captures what reaches it, and the ingress interface is tapped in the
//! root namespace. What arrived is compared with what
//! `offload_core::semantics::run` says must happen:
//! - `forward(p)`: the output bytes arrive at the host of port `p`, once, and
//!   nowhere else;
//! - `tx`: the output bytes come back to the sender;
//! - `drop`: nothing arrives anywhere;
//! - `pass`: nothing arrives at a host; with XDP (whose verdict runs before
//!   the kernel's packet taps) the frame is seen entering the host stack.
//!   tc runs after the taps, so there `pass` and `drop` are told apart only
//!   by the module's counters.

use super::packet::PacketSocket;
use super::{frames::has_marker, Host, LabError};
use offload_core::ir::{Module, PortId};
use offload_core::semantics::{self, Outcome, Verdict};
use std::time::Duration;

/// One logical port wired to a lab host.
#[derive(Debug, Clone)]
pub struct Wire {
    pub port: PortId,
    pub port_name: String,
    pub host: Host,
}

/// A frame to send and a marker found in its payload (and in any rewrite of it).
#[derive(Debug, Clone)]
pub struct Probe {
    pub label: String,
    pub from: PortId,
    pub frame: Vec<u8>,
    pub marker: Vec<u8>,
}

/// Where a frame was seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Seen {
    /// Arrived at the host behind this port.
    Host { port: String, bytes: Vec<u8> },
    /// Entered the host stack on the ingress interface (XDP pass).
    Stack { bytes: Vec<u8> },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeResult {
    pub label: String,
    pub from: String,
    pub expected: Verdict,
    pub seen: Vec<Seen>,
    pub ok: bool,
    /// Why not, in words.
    pub mismatch: Option<String>,
    #[serde(skip)]
    pub outcome: Outcome,
}

/// Sockets for a lab: one in each host, one tap per outer interface.
pub struct Taps {
    hosts: Vec<(Wire, PacketSocket)>,
    outer: Vec<(PortId, PacketSocket)>,
}

impl Taps {
    pub fn open(wires: &[Wire]) -> Result<Taps, LabError> {
        let mut hosts = Vec::new();
        let mut outer = Vec::new();
        for w in wires {
            hosts.push((
                w.clone(),
                PacketSocket::open_in(&w.host.netns, &w.host.iface)?,
            ));
            outer.push((w.port, PacketSocket::open(&w.host.outer)?));
        }
        Ok(Taps { hosts, outer })
    }

    /// Drops anything queued (e.g. frames from an earlier probe).
    pub fn flush(&self) {
        for (_, s) in &self.hosts {
            let _ = s.drain(Duration::from_millis(1));
        }
        for (_, s) in &self.outer {
            let _ = s.drain(Duration::from_millis(1));
        }
    }
}

fn port_name(module: &Module, p: PortId) -> String {
    module
        .port_by_id(p)
        .map_or_else(|| p.0.to_string(), |x| x.name.clone())
}

/// Sends one probe, waits `quiet` after the last frame, compares.
pub fn run_probe(
    module: &Module,
    taps: &Taps,
    probe: &Probe,
    xdp: bool,
    quiet: Duration,
) -> Result<ProbeResult, LabError> {
    let outcome = semantics::run(module, probe.from, &probe.frame);
    let Some((_, sender)) = taps.hosts.iter().find(|(w, _)| w.port == probe.from) else {
        return Err(LabError::NoInterface {
            iface: format!("no host behind port {}", port_name(module, probe.from)),
        });
    };
    taps.flush();
    sender
        .send(&probe.frame)
        .map_err(|source| LabError::Netns {
            netns: "sender".into(),
            source,
        })?;
    let mut seen = Vec::new();
    std::thread::sleep(quiet);
    for (w, s) in &taps.hosts {
        for f in s.drain(Duration::from_millis(5)).unwrap_or_default() {
            if has_marker(&f, &probe.marker) {
                seen.push(Seen::Host {
                    port: w.port_name.clone(),
                    bytes: f,
                });
            }
        }
    }
    for (p, s) in &taps.outer {
        for f in s.drain(Duration::from_millis(5)).unwrap_or_default() {
            if *p == probe.from && has_marker(&f, &probe.marker) {
                seen.push(Seen::Stack { bytes: f });
            }
        }
    }
    let mismatch = judge(module, probe, &outcome, &seen, xdp);
    Ok(ProbeResult {
        label: probe.label.clone(),
        from: port_name(module, probe.from),
        expected: outcome.verdict,
        ok: mismatch.is_none(),
        mismatch,
        seen,
        outcome,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn first_diff(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!(
        "first difference at byte {i} (expected {} bytes {}…, got {} bytes {}…)",
        a.len(),
        hex(&a[i.min(a.len())..(i + 8).min(a.len())]),
        b.len(),
        hex(&b[i.min(b.len())..(i + 8).min(b.len())])
    )
}

fn judge(
    module: &Module,
    probe: &Probe,
    outcome: &Outcome,
    seen: &[Seen],
    xdp: bool,
) -> Option<String> {
    let at_hosts: Vec<(&String, &Vec<u8>)> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Host { port, bytes } => Some((port, bytes)),
            _ => None,
        })
        .collect();
    let at_stack: Vec<&Vec<u8>> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Stack { bytes } => Some(bytes),
            _ => None,
        })
        .collect();
    let expect_at = |port: String| -> Option<String> {
        match at_hosts.as_slice() {
            [(p, b)] if **p == port => (b.as_slice() != outcome.packet.as_slice()).then(|| {
                format!(
                    "arrived at {port} with different bytes: {}",
                    first_diff(&outcome.packet, b)
                )
            }),
            [] => Some(format!("expected at {port}, arrived nowhere")),
            more => Some(format!(
                "expected once at {port}, arrived at {}",
                more.iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    };
    match outcome.verdict {
        Verdict::Forward(p) => {
            let r = expect_at(port_name(module, p));
            if r.is_none() && xdp && !at_stack.is_empty() {
                return Some("forwarded, but also entered the host stack".into());
            }
            r
        }
        Verdict::Tx => expect_at(port_name(module, probe.from)),
        Verdict::Drop => {
            if !at_hosts.is_empty() {
                Some(format!("expected dropped, arrived at {}", at_hosts[0].0))
            } else if xdp && !at_stack.is_empty() {
                Some("expected dropped, entered the host stack".into())
            } else {
                None
            }
        }
        Verdict::Pass => {
            if !at_hosts.is_empty() {
                Some(format!(
                    "expected passed to the host stack, arrived at {}",
                    at_hosts[0].0
                ))
            } else if xdp {
                match at_stack.as_slice() {
                    [b] if b.as_slice() == outcome.packet.as_slice() => None,
                    [b] => Some(format!(
                        "entered the host stack with different bytes: {}",
                        first_diff(&outcome.packet, b)
                    )),
                    [] => Some("expected passed to the host stack, not seen there".into()),
                    _ => Some("entered the host stack more than once".into()),
                }
            } else {
                None
            }
        }
    }
}
