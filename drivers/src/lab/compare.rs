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
    probe_expecting(module, taps, probe, xdp, quiet, outcome)
}

/// [`run_probe`] through a service chain: the reference is
/// `semantics::run_chain` over the chain's modules; the result's counter
/// hits name the fused module's tables (`fused.module`, `module.table`).
pub fn run_probe_chain(
    modules: &[Module],
    fused: &offload_core::ir::chain::Fused,
    taps: &Taps,
    probe: &Probe,
    xdp: bool,
    quiet: Duration,
) -> Result<ProbeResult, LabError> {
    let c = semantics::run_chain(modules, probe.from, &probe.frame);
    let counters = c
        .modules
        .iter()
        .enumerate()
        .flat_map(|(i, o)| {
            o.counters.iter().map(move |h| semantics::CounterHit {
                table: fused.table_id(i, h.table),
                slot: h.slot,
                bytes: h.bytes,
            })
        })
        .collect();
    let outcome = Outcome {
        verdict: c.verdict,
        packet: c.packet,
        counters,
        steps: Vec::new(),
    };
    probe_expecting(&fused.module, taps, probe, xdp, quiet, outcome)
}

fn probe_expecting(
    module: &Module,
    taps: &Taps,
    probe: &Probe,
    xdp: bool,
    quiet: Duration,
    outcome: Outcome,
) -> Result<ProbeResult, LabError> {
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

/// Records every frame of real traffic: what each host sends (the exact bytes
/// the program receives on that port), what each host receives, and what
/// enters the host stack on each outer interface.
pub struct Recorder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<Captured>>>,
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Captured {
    pub at: std::time::Instant,
    pub port: PortId,
    pub kind: CaptureKind,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureKind {
    /// Sent by the host behind the port (enters the program).
    Sent,
    /// Arrived at the host behind the port.
    Arrived,
    /// Seen on the outer interface entering the host stack.
    Stack,
}

impl Recorder {
    pub fn start(wires: &[Wire]) -> Result<Recorder, LabError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for w in wires {
            for outer in [false, true] {
                let sock = if outer {
                    PacketSocket::open(&w.host.outer)?
                } else {
                    PacketSocket::open_in(&w.host.netns, &w.host.iface)?
                };
                let stop = stop.clone();
                let port = w.port;
                threads.push(std::thread::spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        match sock.recv_any(Duration::from_millis(20)) {
                            Ok(Some((outgoing, bytes))) => {
                                let kind = match (outer, outgoing) {
                                    (false, true) => CaptureKind::Sent,
                                    (false, false) => CaptureKind::Arrived,
                                    (true, false) => CaptureKind::Stack,
                                    (true, true) => continue,
                                };
                                out.push(Captured {
                                    at: std::time::Instant::now(),
                                    port,
                                    kind,
                                    bytes,
                                });
                            }
                            Ok(None) => {
                                if stop.load(Ordering::Relaxed) {
                                    return out;
                                }
                            }
                            Err(_) => return out,
                        }
                    }
                }));
            }
        }
        Ok(Recorder { stop, threads })
    }

    /// Stops after the traffic has settled; every captured frame in time order.
    pub fn finish(self) -> Vec<Captured> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut all: Vec<Captured> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|c| c.at);
        all
    }
}

/// The verdict of the reference for one sent frame, and whether the
/// observed traffic agrees.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PacketCheck {
    pub from: String,
    pub len: usize,
    pub expected: Verdict,
    pub ok: bool,
    pub mismatch: Option<String>,
    /// Short description (`10.0.1.2 → 192.168.1.2 udp 5000`).
    pub summary: String,
    /// When it was sent (to group packets by flow).
    #[serde(skip)]
    pub at: Option<std::time::Instant>,
    /// Counters the reference says this packet hits.
    #[serde(skip)]
    pub hits: Vec<offload_core::semantics::CounterHit>,
}

/// Compares every sent frame with the reference: each must have its
/// expected effect (arrival where forwarded, entry into the stack where
/// passed under XDP), and every arrival must be explained by a sent frame.
pub fn reconcile(
    module: &Module,
    captured: &[Captured],
    xdp: bool,
) -> (Vec<PacketCheck>, Vec<String>) {
    use std::collections::BTreeMap;
    let mut arrivals: BTreeMap<PortId, Vec<Vec<u8>>> = BTreeMap::new();
    let mut stack: BTreeMap<PortId, Vec<Vec<u8>>> = BTreeMap::new();
    for c in captured {
        match c.kind {
            CaptureKind::Arrived => arrivals.entry(c.port).or_default().push(c.bytes.clone()),
            CaptureKind::Stack => stack.entry(c.port).or_default().push(c.bytes.clone()),
            CaptureKind::Sent => {}
        }
    }
    let take = |m: &mut BTreeMap<PortId, Vec<Vec<u8>>>, p: PortId, want: &[u8]| -> bool {
        if let Some(v) = m.get_mut(&p) {
            if let Some(i) = v.iter().position(|b| b.as_slice() == want) {
                v.remove(i);
                return true;
            }
        }
        false
    };
    let mut checks = Vec::new();
    for c in captured.iter().filter(|c| c.kind == CaptureKind::Sent) {
        let outcome = semantics::run(module, c.port, &c.bytes);
        let mismatch = match outcome.verdict {
            Verdict::Forward(q) => (!take(&mut arrivals, q, &outcome.packet))
                .then(|| format!("expected at {}, not seen there", port_name(module, q))),
            Verdict::Tx => (!take(&mut arrivals, c.port, &outcome.packet))
                .then(|| "expected back at the sender, not seen".to_string()),
            Verdict::Pass if xdp => (!take(&mut stack, c.port, &outcome.packet))
                .then(|| "expected in the host stack, not seen there".to_string()),
            Verdict::Pass => {
                // Under tc the tap runs first: the frame is there whatever the verdict.
                take(&mut stack, c.port, &c.bytes);
                None
            }
            Verdict::Drop => {
                if !xdp {
                    take(&mut stack, c.port, &c.bytes);
                }
                None
            }
        };
        checks.push(PacketCheck {
            from: port_name(module, c.port),
            len: c.bytes.len(),
            expected: outcome.verdict,
            ok: mismatch.is_none(),
            mismatch,
            summary: summarize(&c.bytes),
            at: Some(c.at),
            hits: outcome.counters.clone(),
        });
    }
    let mut unexplained = Vec::new();
    for (p, v) in &arrivals {
        for b in v {
            unexplained.push(format!(
                "{} arrived at {} without a sent frame that the reference sends there",
                summarize(b),
                port_name(module, *p)
            ));
        }
    }
    if xdp {
        for (p, v) in &stack {
            for b in v {
                unexplained.push(format!(
                    "{} entered the host stack on {} although the reference does not pass it",
                    summarize(b),
                    port_name(module, *p)
                ));
            }
        }
    }
    (checks, unexplained)
}

/// `10.0.1.2 → 192.168.1.2 udp 40001→5000` for IPv4 frames.
pub fn summarize(f: &[u8]) -> String {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] {
        return format!(
            "{} byte frame (ethertype {:02x}{:02x})",
            f.len(),
            f.get(12).unwrap_or(&0),
            f.get(13).unwrap_or(&0)
        );
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let src = std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let l4 = ip.get(ihl..).unwrap_or(&[]);
    let ports = |l: &[u8]| {
        if l.len() >= 4 {
            format!(
                "{}→{}",
                u16::from_be_bytes([l[0], l[1]]),
                u16::from_be_bytes([l[2], l[3]])
            )
        } else {
            String::new()
        }
    };
    match ip[9] {
        1 => format!("{src} → {dst} icmp type {}", l4.first().unwrap_or(&0)),
        6 => format!("{src} → {dst} tcp {}", ports(l4)),
        17 => format!("{src} → {dst} udp {}", ports(l4)),
        p => format!("{src} → {dst} proto {p}"),
    }
}
