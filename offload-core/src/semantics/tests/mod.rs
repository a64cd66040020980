//! Unit tests of the interpreter on hand-built IR modules; packets are built
//! with etherparse (an independent implementation) and checked with it.

mod chain;
mod hash;
mod meters;
mod parsing;
mod pipeline;
mod props;
mod rewrites;
mod split;
mod vlan;
mod vxlan;

pub(super) use super::*;
use crate::diag::Span;
pub(super) use crate::ir::{
    Action, ActionCall, ActionId, DefaultVerdict, Entry, Field, Header, Key, KeyMatch, MatchKind,
    Module, Operand, Param, ParamType, Port, Primitive, Table,
};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice, VlanId};

pub(super) const IN: PortId = PortId(1);

/// Builds modules by hand: actions first, then tables naming them.
pub(super) struct Mb {
    pub m: Module,
}

impl Mb {
    pub fn new(default: DefaultVerdict) -> Mb {
        let ports = (1..=3)
            .map(|i| Port {
                name: format!("p{i}"),
                id: PortId(i),
                span: Span::default(),
            })
            .collect();
        Mb {
            m: Module {
                name: "t".into(),
                default_verdict: default,
                ports,
                tables: vec![],
                actions: vec![],
            },
        }
    }
    pub fn action(&mut self, name: &str, params: &[ParamType], body: Vec<Primitive>) -> ActionId {
        let id = ActionId(self.m.actions.len() as u32);
        self.m.actions.push(Action {
            id,
            name: name.into(),
            params: params
                .iter()
                .enumerate()
                .map(|(i, ty)| Param {
                    name: format!("a{i}"),
                    ty: *ty,
                })
                .collect(),
            body,
            span: Span::default(),
        });
        id
    }
    pub fn table(
        &mut self,
        keys: &[(Field, MatchKind)],
        default: ActionCall,
        counters: bool,
        entries: Vec<(Vec<KeyMatch>, Option<u32>, ActionCall)>,
    ) -> TableId {
        let id = TableId(self.m.tables.len() as u32);
        let mut actions: Vec<ActionId> = entries
            .iter()
            .map(|e| e.2.action)
            .chain([default.action])
            .collect();
        actions.sort();
        actions.dedup();
        self.m.tables.push(Table {
            meter: None,
            id,
            name: format!("t{}", id.0),
            keys: keys
                .iter()
                .map(|(f, k)| Key {
                    field: *f,
                    kind: *k,
                    span: Span::default(),
                    hash: None,
                })
                .collect(),
            actions,
            default_action: default,
            size: 1024,
            counters,
            entries: entries
                .into_iter()
                .map(|(matches, priority, action)| Entry {
                    meter: None,
                    matches,
                    priority,
                    action,
                    span: Span::default(),
                })
                .collect(),
            span: Span::default(),
        });
        id
    }
    pub fn done(self) -> Module {
        self.m
    }
}

pub(super) fn call(a: ActionId, args: &[u128]) -> ActionCall {
    ActionCall {
        action: a,
        args: args.to_vec(),
    }
}

pub(super) fn ip4(s: &str) -> u128 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()).into()
}

pub(super) const SMAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub(super) const DMAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub(super) const PAYLOAD: &[u8] = b"hello, offload";

pub(super) fn ip6(s: &str) -> u128 {
    u128::from(s.parse::<std::net::Ipv6Addr>().unwrap())
}

pub(super) fn build<B>(b: etherparse::PacketBuilderStep<B>) -> Vec<u8>
where
    etherparse::PacketBuilderStep<B>: Write,
{
    b.write_to_vec(PAYLOAD)
}

/// The `write`/`size` pair of etherparse's last builder steps, unified.
pub(super) trait Write {
    fn write_to_vec(self, payload: &[u8]) -> Vec<u8>;
}

macro_rules! impl_write {
    ($($t:ty),*) => {$(
        impl Write for etherparse::PacketBuilderStep<$t> {
            fn write_to_vec(self, payload: &[u8]) -> Vec<u8> {
                let mut out = Vec::with_capacity(self.size(payload.len()));
                self.write(&mut out, payload).unwrap();
                out
            }
        }
    )*};
}
impl_write!(
    etherparse::UdpHeader,
    etherparse::TcpHeader,
    etherparse::Icmpv4Header,
    etherparse::Icmpv6Header
);

pub(super) const A4: [u8; 4] = [192, 168, 1, 10];
pub(super) const B4: [u8; 4] = [10, 1, 2, 3];
pub(super) const A6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a,
];
pub(super) const B6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b,
];

pub(super) fn eth() -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2(SMAC, DMAC)
}

pub(super) fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, ttl: u8) -> Vec<u8> {
    build(eth().ipv4(src, dst, ttl).udp(sport, dport))
}

pub(super) fn tcp4(sport: u16, dport: u16) -> Vec<u8> {
    build(eth().ipv4(A4, B4, 64).tcp(sport, dport, 1000, 4096).syn())
}

pub(super) fn udp6(sport: u16, dport: u16) -> Vec<u8> {
    build(eth().ipv6(A6, B6, 64).udp(sport, dport))
}

pub(super) fn tcp6(sport: u16, dport: u16) -> Vec<u8> {
    build(eth().ipv6(A6, B6, 64).tcp(sport, dport, 7, 1024).ack(9))
}

pub(super) fn icmp4() -> Vec<u8> {
    build(eth().ipv4(A4, B4, 64).icmpv4_echo_request(0x1234, 1))
}

pub(super) fn icmp6() -> Vec<u8> {
    build(eth().ipv6(A6, B6, 64).icmpv6_echo_request(0x1234, 1))
}

pub(super) fn vid(v: u16) -> VlanId {
    VlanId::try_new(v).unwrap()
}

/// Recomputes the IPv4 header checksum at `l3` (with etherparse).
pub(super) fn fix_ipv4_checksum(frame: &mut [u8], l3: usize) {
    frame[l3 + 10] = 0;
    frame[l3 + 11] = 0;
    let h = etherparse::Ipv4HeaderSlice::from_slice(&frame[l3..])
        .unwrap()
        .to_header();
    let c = h.calc_header_checksum();
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// Which checksums etherparse finds correct in a frame (None: not present).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Checks {
    pub ipv4: Option<bool>,
    pub l4: Option<bool>,
}

pub(super) fn checks(frame: &[u8]) -> Checks {
    let s = SlicedPacket::from_ethernet(frame).expect("etherparse parses the frame");
    let ipv4 = match &s.net {
        Some(NetSlice::Ipv4(ip)) => {
            Some(ip.header().to_header().calc_header_checksum() == ip.header().header_checksum())
        }
        _ => None,
    };
    let l4 = match (&s.net, &s.transport) {
        (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(t))) => Some(
            t.calc_checksum_ipv4(ip.header().source(), ip.header().destination())
                .unwrap()
                == t.checksum(),
        ),
        (Some(NetSlice::Ipv6(ip)), Some(TransportSlice::Tcp(t))) => Some(
            t.calc_checksum_ipv6(ip.header().source(), ip.header().destination())
                .unwrap()
                == t.checksum(),
        ),
        (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Udp(u))) => Some(
            u.checksum() == 0
                || u.to_header()
                    .calc_checksum_ipv4(&ip.header().to_header(), u.payload())
                    .unwrap()
                    == u.checksum(),
        ),
        (Some(NetSlice::Ipv6(ip)), Some(TransportSlice::Udp(u))) => Some(
            u.to_header()
                .calc_checksum_ipv6(&ip.header().to_header(), u.payload())
                .unwrap()
                == u.checksum(),
        ),
        (_, Some(TransportSlice::Icmpv4(i))) => {
            Some(i.icmp_type().calc_checksum(i.payload()) == i.checksum())
        }
        (Some(NetSlice::Ipv6(ip)), Some(TransportSlice::Icmpv6(i))) => Some(
            i.icmp_type()
                .calc_checksum(ip.header().source(), ip.header().destination(), i.payload())
                .unwrap()
                == i.checksum(),
        ),
        _ => None,
    };
    Checks { ipv4, l4 }
}

/// A module of one keyless table whose default action is `body`.
pub(super) fn one_action(body: Vec<Primitive>, params: &[ParamType], args: &[u128]) -> Module {
    let mut mb = Mb::new(DefaultVerdict::Pass);
    let a = mb.action("a", params, body);
    mb.table(&[], call(a, args), false, vec![]);
    mb.done()
}

/// `set(field, value)` then `tx`, on one packet.
pub(super) fn set_tx(pkt: &[u8], field: Field, value: u128) -> Trace {
    let m = one_action(
        vec![
            Primitive::Set {
                field,
                value: Operand::Const(value),
            },
            Primitive::Tx,
        ],
        &[],
        &[],
    );
    run_traced(&m, IN, pkt)
}
