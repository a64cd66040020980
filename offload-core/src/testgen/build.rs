//! A small deterministic frame builder: Ethernet, VLAN tags, IPv4 (with
//! options, fragments) or IPv6, TCP/UDP/ICMP, valid checksums, optional
//! truncation. [`Spec::apply`] makes one key field take a value an entry's
//! match accepts, so frames can be built to hit chosen entries
//! ([`super::vectors`], the BMv2 differential's cases).

use crate::ir::{Field, KeyMatch, PortId};
use crate::wire::checksum;

/// A frame to build (valid checksums unless told otherwise).
#[derive(Debug, Clone)]
pub struct Spec {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub vlans: Vec<(u16, u16)>,
    pub l3: L3,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: u8,
    pub ttl: u8,
    pub dscp: u8,
    pub options_words: u8,
    pub frag: u16,
    pub truncate: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum L3 {
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
    pub fn build(&self) -> Vec<u8> {
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
    pub fn apply(&mut self, field: Field, m: &KeyMatch, in_port: &mut PortId) {
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
            // Pipeline state, not packet bytes: no frame sets them.
            Field::MetaGroup | Field::Hash => {}
            // Tunnel fields: random modules do not use them yet.
            Field::VxlanVni
            | Field::InnerEthDst
            | Field::InnerEthSrc
            | Field::InnerEthType
            | Field::InnerIpv4Src
            | Field::InnerIpv4Dst
            | Field::InnerIpv4Protocol
            | Field::InnerIpv4Ttl
            | Field::InnerIpv6Src
            | Field::InnerIpv6Dst
            | Field::InnerIpv6NextHeader
            | Field::InnerIpv6HopLimit
            | Field::InnerL4SrcPort
            | Field::InnerL4DstPort => {}
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
