//! Differential testing of the P4 backend: the same frames through BMv2
//! (running the generated v1model program) and the reference interpreter,
//! comparing where each frame leaves (or that it is dropped), its bytes, and
//! the counters afterwards.
//!
//! [`cases_for`] derives frames from a module's entries (one that hits each
//! entry, plus frames that miss, are tagged, truncated, fragmented, carry
//! IPv4 options, are IPv6 or have a TTL of 1), so every stage is exercised.
//! [`run`] needs root and the BMv2 tools; [`expect`] is the pure half.

use super::bmv2::{Bmv2Error, DeployError, Deployment, Tools};
use crate::lab::{packet::PacketSocket, Lab, LabError};
use offload_core::ir::{Field, KeyMatch, Module, PortId};
use offload_core::semantics::{self, CounterSlot, Verdict};
use offload_core::wire::checksum;
use offload_p4::{Arch, NamingMap, Options};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Bmv2(#[from] Bmv2Error),
    #[error(transparent)]
    P4(#[from] offload_p4::P4Error),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error("lab: {0}")]
    Lab(#[from] LabError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// One frame arriving on a logical port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub in_port: PortId,
    pub frame: Vec<u8>,
    /// What the frame is meant to exercise (for reports).
    pub why: String,
}

/// Where a frame should leave the switch: a switch port and bytes, or nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub port: Option<u32>,
    pub bytes: Vec<u8>,
}

/// The reference's answer for one case, as a switch would show it.
pub fn expect(module: &Module, names: &NamingMap, case: &Case) -> (Expected, semantics::Outcome) {
    let outcome = semantics::run(module, case.in_port, &case.frame);
    let sw = |p: PortId| {
        names
            .ports
            .iter()
            .find(|n| n.id == p.0)
            .map(|n| n.switch_port)
            .unwrap_or(u32::from(p.0))
    };
    let port = match outcome.verdict {
        Verdict::Drop => None,
        Verdict::Pass => Some(names.cpu_port),
        Verdict::Forward(p) => Some(sw(p)),
        Verdict::Tx => Some(sw(case.in_port)),
    };
    (
        Expected {
            port,
            bytes: outcome.packet.clone(),
        },
        outcome,
    )
}

/// A small frame builder for the cases (valid checksums unless told otherwise).
#[derive(Debug, Clone)]
struct Spec {
    dst: [u8; 6],
    src: [u8; 6],
    vlans: Vec<(u16, u16)>,
    l3: L3,
    proto: u8,
    sport: u16,
    dport: u16,
    tcp_flags: u8,
    ttl: u8,
    dscp: u8,
    options_words: u8,
    frag: u16,
    truncate: Option<usize>,
}

#[derive(Debug, Clone)]
enum L3 {
    V4 { src: u32, dst: u32 },
    V6 { src: u128, dst: u128 },
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            dst: [0x02, 0, 0, 0, 0x10, 0x01],
            src: [0x02, 0, 0, 0, 0x20, 0x01],
            vlans: vec![],
            l3: L3::V4 {
                src: 0x0a00_0001,
                dst: 0xc0a8_0102,
            },
            proto: 6,
            sport: 40000,
            dport: 80,
            tcp_flags: 0x10,
            ttl: 64,
            dscp: 0,
            options_words: 0,
            frag: 0,
            truncate: None,
        }
    }
}

fn be16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

impl Spec {
    fn build(&self) -> Vec<u8> {
        let payload = b"offload-p4-diff!";
        let mut l4 = Vec::new();
        match self.proto {
            6 => {
                be16(&mut l4, self.sport);
                be16(&mut l4, self.dport);
                l4.extend_from_slice(&[
                    0,
                    0,
                    0,
                    1,
                    0,
                    0,
                    0,
                    0,
                    0x50,
                    self.tcp_flags,
                    0xff,
                    0xff,
                    0,
                    0,
                    0,
                    0,
                ]);
            }
            17 => {
                be16(&mut l4, self.sport);
                be16(&mut l4, self.dport);
                be16(&mut l4, (8 + payload.len()) as u16);
                be16(&mut l4, 0);
            }
            _ => l4.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]),
        }
        l4.extend_from_slice(payload);
        let (mut l3, pseudo) = match self.l3 {
            L3::V4 { src, dst } => {
                let ihl = 5 + self.options_words;
                let total = u16::from(ihl) * 4 + l4.len() as u16;
                let mut h = vec![0x40 | ihl, self.dscp << 2];
                be16(&mut h, total);
                h.extend_from_slice(&[0x12, 0x34]);
                be16(&mut h, self.frag & 0x1fff);
                h.extend_from_slice(&[self.ttl, self.proto, 0, 0]);
                h.extend_from_slice(&src.to_be_bytes());
                h.extend_from_slice(&dst.to_be_bytes());
                for _ in 0..self.options_words {
                    h.extend_from_slice(&[1, 1, 1, 1]); // NOPs
                }
                let c = !checksum::sum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                let mut ph = Vec::new();
                ph.extend_from_slice(&src.to_be_bytes());
                ph.extend_from_slice(&dst.to_be_bytes());
                ph.extend_from_slice(&[0, self.proto]);
                be16(&mut ph, l4.len() as u16);
                (h, ph)
            }
            L3::V6 { src, dst } => {
                let mut h = vec![0x60, 0, 0, 0];
                be16(&mut h, l4.len() as u16);
                h.extend_from_slice(&[self.proto, self.ttl]);
                h.extend_from_slice(&src.to_be_bytes());
                h.extend_from_slice(&dst.to_be_bytes());
                let mut ph = Vec::new();
                ph.extend_from_slice(&src.to_be_bytes());
                ph.extend_from_slice(&dst.to_be_bytes());
                ph.extend_from_slice(&(l4.len() as u32).to_be_bytes());
                ph.extend_from_slice(&[0, 0, 0, self.proto]);
                (h, ph)
            }
        };
        let at = match self.proto {
            6 => Some(16),
            17 => Some(6),
            _ => None,
        };
        if let Some(at) = at {
            let mut all = pseudo.clone();
            all.extend_from_slice(&l4);
            let mut c = !checksum::sum(&all);
            if self.proto == 17 && c == 0 {
                c = 0xffff;
            }
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        let mut f = Vec::new();
        f.extend_from_slice(&self.dst);
        f.extend_from_slice(&self.src);
        for (tpid, vid) in &self.vlans {
            be16(&mut f, *tpid);
            be16(&mut f, *vid & 0xfff);
        }
        be16(
            &mut f,
            if matches!(self.l3, L3::V4 { .. }) {
                0x0800
            } else {
                0x86dd
            },
        );
        f.append(&mut l3);
        f.extend_from_slice(&l4);
        if let Some(n) = self.truncate {
            f.truncate(n);
        }
        f
    }

    /// Makes `field` take a value `m` accepts.
    fn apply(&mut self, field: Field, m: &KeyMatch, in_port: &mut PortId) {
        let v = match *m {
            KeyMatch::Exact(v)
            | KeyMatch::Lpm { value: v, .. }
            | KeyMatch::Ternary { value: v, .. } => v,
            KeyMatch::Range { lo, .. } => lo,
        };
        let mac = |v: u128| {
            let b = v.to_be_bytes();
            let mut m = [0u8; 6];
            m.copy_from_slice(&b[10..16]);
            m
        };
        match field {
            Field::MetaInPort => *in_port = PortId(v as u16),
            Field::EthDst => self.dst = mac(v),
            Field::EthSrc => self.src = mac(v),
            Field::VlanVid => self.vlans = vec![(0x8100, v as u16)],
            Field::VlanPcp => self.vlans = vec![(0x8100, 1 | ((v as u16) << 13))],
            Field::Ipv4Src | Field::Ipv4Dst => {
                let (mut s, mut d) = match self.l3 {
                    L3::V4 { src, dst } => (src, dst),
                    L3::V6 { .. } => (0x0a00_0001, 0xc0a8_0102),
                };
                if field == Field::Ipv4Src {
                    s = v as u32;
                } else {
                    d = v as u32;
                }
                self.l3 = L3::V4 { src: s, dst: d };
            }
            Field::Ipv6Src | Field::Ipv6Dst => {
                let (mut s, mut d) = match self.l3 {
                    L3::V6 { src, dst } => (src, dst),
                    L3::V4 { .. } => (0x2001_0db8u128 << 96 | 1, 0x2001_0db8u128 << 96 | 2),
                };
                if field == Field::Ipv6Src {
                    s = v;
                } else {
                    d = v;
                }
                self.l3 = L3::V6 { src: s, dst: d };
            }
            Field::Ipv4Protocol | Field::Ipv6NextHeader => self.proto = v as u8,
            Field::Ipv4Ttl | Field::Ipv6HopLimit => self.ttl = v as u8,
            Field::Ipv4Dscp => self.dscp = v as u8,
            Field::L4SrcPort => self.sport = v as u16,
            Field::L4DstPort => self.dport = v as u16,
            Field::TcpFlags => {
                self.proto = 6;
                self.tcp_flags = v as u8;
            }
            Field::IcmpType | Field::IcmpCode => self.proto = 1,
            Field::Icmpv6Type | Field::Icmpv6Code => self.proto = 58,
            Field::EthType => {}
        }
    }
}

/// Frames that exercise `module`: one per entry (built to hit it), and a
/// fixed set of frames that miss or are unusual.
pub fn cases_for(module: &Module) -> Vec<Case> {
    let first = module.ports.first().map(|p| p.id).unwrap_or(PortId(1));
    let mut cases = Vec::new();
    for t in &module.tables {
        for (i, e) in t.entries.iter().enumerate() {
            let mut spec = Spec::default();
            let mut port = first;
            for (k, m) in t.keys.iter().zip(&e.matches) {
                if matches!(k.field, Field::L4SrcPort | Field::L4DstPort)
                    && !matches!(spec.proto, 6 | 17)
                {
                    spec.proto = 6;
                }
                spec.apply(k.field, m, &mut port);
            }
            cases.push(Case {
                in_port: port,
                frame: spec.build(),
                why: format!("hits {} entry {i}", t.name),
            });
        }
    }
    let base = Spec::default();
    let mut add = |why: &str, f: &dyn Fn(&mut Spec)| {
        let mut s = base.clone();
        f(&mut s);
        cases.push(Case {
            in_port: first,
            frame: s.build(),
            why: why.into(),
        });
    };
    add("plain IPv4/TCP", &|_| {});
    add("IPv4/UDP", &|s| s.proto = 17);
    add("IPv4/ICMP", &|s| s.proto = 1);
    add("TTL 1", &|s| s.ttl = 1);
    add("IPv4 options", &|s| s.options_words = 3);
    add("non-first fragment", &|s| s.frag = 100);
    add("one VLAN tag", &|s| s.vlans = vec![(0x8100, 10)]);
    add("two VLAN tags", &|s| {
        s.vlans = vec![(0x88a8, 20), (0x8100, 10)]
    });
    add("three VLAN tags", &|s| {
        s.vlans = vec![(0x8100, 1), (0x8100, 2), (0x8100, 3)]
    });
    add("IPv6/UDP", &|s| {
        s.l3 = L3::V6 {
            src: 0x2001_0db8u128 << 96 | 1,
            dst: 0x2001_0db8u128 << 96 | 2,
        };
        s.proto = 17;
    });
    add("truncated TCP", &|s| s.truncate = Some(14 + 20 + 10));
    add("truncated IPv4 options", &|s| {
        s.options_words = 4;
        s.truncate = Some(14 + 24);
    });
    add("Ethernet only", &|s| s.truncate = Some(14));
    cases
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: usize,
    pub counters_checked: usize,
    pub mismatches: Vec<String>,
}

/// Runs `cases` through BMv2 and the reference and compares them. Needs root,
/// netns and the BMv2 tools.
pub fn run(module: &Module, cases: &[Case], work: &Path) -> Result<Report, DiffError> {
    let tools = Tools::find()?;
    let names = offload_p4::compile(module, &Options::new(Arch::V1model))?.names;

    // One lab host per logical port, and one behind the CPU port.
    let mut lab = Lab::new("p4diff");
    let mut hosts: BTreeMap<u32, crate::lab::Host> = BTreeMap::new();
    for (i, p) in names.ports.iter().enumerate() {
        let h = lab.add_host(&format!("p{}", p.id), Ipv4Addr::new(10, 99, i as u8, 2), 24)?;
        hosts.insert(p.switch_port, h);
    }
    let cpu = lab.add_host("cpu", Ipv4Addr::new(10, 98, 0, 2), 24)?;
    hosts.insert(names.cpu_port, cpu);
    let ports: Vec<(u32, String)> = hosts.iter().map(|(p, h)| (*p, h.outer.clone())).collect();
    let deployment = Deployment::start(&tools, module, &Options::new(Arch::V1model), &ports, work)?;
    let out_names = &deployment.names;

    let mut socks = BTreeMap::new();
    for (p, h) in &hosts {
        socks.insert(*p, PacketSocket::open_in(&h.netns, &h.iface)?);
    }
    // Frames the hosts' own kernels send (neighbour discovery, ...) carry their MACs.
    let noise: Vec<[u8; 6]> = hosts.values().map(|h| h.mac).collect();
    let quiet = Duration::from_millis(300);
    let mut report = Report {
        cases: cases.len(),
        ..Report::default()
    };
    let mut want_counters: BTreeMap<(usize, CounterSlot), (u64, u64)> = BTreeMap::new();
    for p in socks.values() {
        let _ = p.drain(Duration::from_millis(50));
    }
    for (ci, case) in cases.iter().enumerate() {
        let (want, outcome) = expect(module, out_names, case);
        for hit in &outcome.counters {
            let c = want_counters
                .entry((hit.table.0 as usize, hit.slot))
                .or_default();
            c.0 += 1;
            c.1 += hit.bytes;
        }
        let in_sw = out_names
            .ports
            .iter()
            .find(|p| p.id == case.in_port.0)
            .map(|p| p.switch_port);
        let Some(sender) = in_sw.and_then(|p| socks.get(&p)) else {
            report.mismatches.push(format!(
                "case {ci} ({}): no host on logical port {}",
                case.why, case.in_port.0
            ));
            continue;
        };
        sender.send(&case.frame).map_err(|source| DiffError::Io {
            what: "send a frame".into(),
            source,
        })?;
        let mut seen = Vec::new();
        for (p, s) in &socks {
            let frames = s.drain(quiet).map_err(|source| DiffError::Io {
                what: "capture".into(),
                source,
            })?;
            for f in frames {
                if f.len() >= 12 && noise.iter().any(|m| f[6..12] == m[..]) {
                    continue;
                }
                // The sender's socket also sees its own frame leave.
                if Some(*p) == in_sw && f == case.frame {
                    continue;
                }
                seen.push((*p, f));
            }
        }
        let ok = match want.port {
            None => seen.is_empty(),
            // A port no lab host is bound to: the switch sends into the void.
            Some(port) if !socks.contains_key(&port) => seen.is_empty(),
            Some(port) => seen.len() == 1 && seen[0].0 == port && seen[0].1 == want.bytes,
        };
        if !ok {
            report.mismatches.push(format!(
                "case {ci} ({}): reference {:?} → port {:?} ({} bytes); BMv2 → {:?}",
                case.why,
                outcome.verdict,
                want.port,
                want.bytes.len(),
                seen.iter().map(|(p, f)| (*p, f.len())).collect::<Vec<_>>()
            ));
        }
    }

    // Counters: entries by handle, misses in the one-slot miss counter.
    let got_counters = deployment.counters(module)?;
    for ((table, slot), got) in &got_counters {
        let want = want_counters
            .get(&(table.0 as usize, *slot))
            .copied()
            .unwrap_or_default();
        report.counters_checked += 1;
        if *got != want {
            let name = &module.table(*table).name;
            report.mismatches.push(format!(
                "table {name} {slot:?}: counters {got:?}, reference {want:?}"
            ));
        }
    }
    deployment.stop()?;
    lab.teardown();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_hit_their_entries_in_the_reference() {
        let src = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/edge-router.toml"
        ))
        .unwrap();
        let m = offload_core::spec::compile(&src).unwrap();
        let names = offload_p4::compile(&m, &Options::new(Arch::V1model))
            .unwrap()
            .names;
        let cases = cases_for(&m);
        assert!(cases.len() > 10);
        let mut hit = 0;
        for c in &cases {
            let (want, outcome) = expect(&m, &names, c);
            if c.why.starts_with("hits ") {
                let entry: usize = c.why.rsplit(' ').next().unwrap().parse().unwrap();
                let table = c.why.split(' ').nth(1).unwrap();
                let tid = m.table_by_name(table).unwrap().id;
                if outcome
                    .steps
                    .contains(&semantics::Step::Hit { table: tid, entry })
                {
                    hit += 1;
                }
            }
            if outcome.verdict == Verdict::Drop {
                assert_eq!(want.port, None);
            }
        }
        // Earlier, higher-priority entries may shadow a few; most must hit.
        let entries: usize = m.tables.iter().map(|t| t.entries.len()).sum();
        assert!(
            hit * 2 >= entries,
            "only {hit} of {entries} entry cases hit their entry"
        );
        // A TTL-1 frame that gets routed goes to the CPU port.
        let ttl1 = cases.iter().find(|c| c.why == "TTL 1").unwrap();
        let (want, _) = expect(&m, &names, ttl1);
        assert_eq!(want.port, Some(names.cpu_port));
    }
}
