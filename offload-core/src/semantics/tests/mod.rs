//! Unit tests of the interpreter on hand-built IR modules; packets are built
//! with etherparse (an independent implementation) and checked with it.

use super::*;
use crate::diag::Span;
use crate::ir::{
    Action, ActionCall, ActionId, DefaultVerdict, Entry, Field, Header, Key, KeyMatch, MatchKind,
    Module, Operand, Param, ParamType, Port, Primitive, Table,
};
use etherparse::PacketBuilder;

const IN: PortId = PortId(1);

/// Builds modules by hand: actions first, then tables naming them.
struct Mb {
    m: Module,
}

impl Mb {
    fn new(default: DefaultVerdict) -> Mb {
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
    fn action(&mut self, name: &str, params: &[ParamType], body: Vec<Primitive>) -> ActionId {
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
    fn table(
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
            id,
            name: format!("t{}", id.0),
            keys: keys
                .iter()
                .map(|(f, k)| Key {
                    field: *f,
                    kind: *k,
                    span: Span::default(),
                })
                .collect(),
            actions,
            default_action: default,
            size: 1024,
            counters,
            entries: entries
                .into_iter()
                .map(|(matches, priority, action)| Entry {
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
    fn done(self) -> Module {
        self.m
    }
}

fn call(a: ActionId, args: &[u128]) -> ActionCall {
    ActionCall {
        action: a,
        args: args.to_vec(),
    }
}

fn ip4(s: &str) -> u128 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()).into()
}

const SMAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DMAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, ttl: u8) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(SMAC, DMAC)
        .ipv4(src, dst, ttl)
        .udp(sport, dport);
    let payload = b"hello";
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).unwrap();
    out
}

#[test]
fn smoke_forward_with_rewrite_and_lpm() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let route = mb.action(
        "route",
        &[ParamType::Port, ParamType::Mac],
        vec![
            Primitive::Set {
                field: Field::EthDst,
                value: Operand::Param(1),
            },
            Primitive::DecTtl,
            Primitive::Forward(Operand::Param(0)),
        ],
    );
    let host = mb.action("host", &[], vec![Primitive::Pass]);
    mb.table(
        &[(Field::Ipv4Dst, MatchKind::Lpm)],
        call(host, &[]),
        true,
        vec![
            (
                vec![KeyMatch::Lpm {
                    value: ip4("10.0.0.0"),
                    prefix_len: 8,
                }],
                None,
                call(route, &[2, 0x0200_0000_0009]),
            ),
            (
                vec![KeyMatch::Lpm {
                    value: ip4("10.1.0.0"),
                    prefix_len: 16,
                }],
                None,
                call(route, &[3, 0x0200_0000_000a]),
            ),
        ],
    );
    let m = mb.done();
    let pkt = udp4([1, 1, 1, 1], [10, 1, 2, 3], 1000, 53, 64);
    let t = run_traced(&m, IN, &pkt);
    assert_eq!(t.outcome.verdict, Verdict::Forward(PortId(3)));
    assert_eq!(&t.outcome.packet[..6], &[2, 0, 0, 0, 0, 0x0a]);
    assert_eq!(
        t.outcome.counters,
        vec![CounterHit {
            table: TableId(0),
            slot: CounterSlot::Entry(1),
            bytes: pkt.len() as u64
        }]
    );
    let sliced = etherparse::SlicedPacket::from_ethernet(&t.outcome.packet).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = sliced.net else {
        panic!("no ipv4")
    };
    assert_eq!(ip.header().ttl(), 63);
    assert_eq!(
        ip.header().to_header().calc_header_checksum(),
        ip.header().header_checksum()
    );
    assert!(t.parsed.is_valid(Header::Udp));
}
