//! Random valid modules: ports, 1–4 tables keyed on random catalogue fields
//! with match kinds each field allows, actions built from every primitive,
//! default actions with arguments, sizes and counters.

use super::rng::Rng;
use crate::diag::Span;
use crate::ir::{
    Action, ActionCall, ActionId, DefaultVerdict, Field, FieldKind, HashKey, Header, Key,
    MatchKind, Meter, MeterRate, MeterUnit, Module, Operand, Param, ParamType, Port, PortId,
    Primitive, RedAction, Table, TableId, MIN_BYTES_BURST,
};

/// Knobs of the module generator.
#[derive(Debug, Clone)]
pub struct ModuleConfig {
    pub max_tables: usize,
    pub max_keys: usize,
    pub max_actions_per_table: usize,
    /// Non-terminating primitives per action, at most.
    pub max_body: usize,
    pub max_ports: usize,
    /// Largest logical port number (keeps the port map small).
    pub max_port_number: u16,
    /// Also VXLAN: keys on `vxlan.vni` and `inner_*`, `vxlan_encap`,
    /// `vxlan_decap` (off by default: every backend refuses them, so only
    /// the reference's own property tests turn it on).
    pub vxlan: bool,
    /// Give some keyed tables a meter (off by default: a metered module's
    /// verdicts depend on arrival times, so only timed harnesses use it).
    pub meters: bool,
}

impl Default for ModuleConfig {
    fn default() -> Self {
        ModuleConfig {
            max_tables: 4,
            max_keys: 4,
            max_actions_per_table: 4,
            max_body: 4,
            max_ports: 4,
            max_port_number: 40,
            vxlan: false,
            meters: false,
        }
    }
}

/// Fields `set` may write.
pub fn writable_fields() -> Vec<Field> {
    Field::ALL
        .iter()
        .copied()
        .filter(|f| f.info().writable)
        .collect()
}

fn match_kinds(field: Field) -> Vec<MatchKind> {
    [
        MatchKind::Exact,
        MatchKind::Lpm,
        MatchKind::Ternary,
        MatchKind::Range,
    ]
    .into_iter()
    .filter(|k| field.allows(*k))
    .collect()
}

/// A module without entries (see [`super::entries`]); spans are empty.
pub fn module(rng: &mut Rng, cfg: &ModuleConfig, name: &str) -> Module {
    let ports = gen_ports(rng, cfg);
    module_with_ports(rng, cfg, name, ports)
}

/// Random logical ports as [`module`] draws them (for chains, whose modules share them).
pub fn ports(rng: &mut Rng, cfg: &ModuleConfig) -> Vec<Port> {
    gen_ports(rng, cfg)
}

/// [`module`] with the given ports.
pub fn module_with_ports(
    rng: &mut Rng,
    cfg: &ModuleConfig,
    name: &str,
    ports: Vec<Port>,
) -> Module {
    let mut m = Module {
        name: name.to_string(),
        default_verdict: if rng.chance(1, 3) {
            DefaultVerdict::Drop
        } else {
            DefaultVerdict::Pass
        },
        ports,
        tables: Vec::new(),
        actions: Vec::new(),
    };
    let ntables = rng.range(1, cfg.max_tables.max(1) as u64) as usize;
    for t in 0..ntables {
        let keys = gen_keys(rng, cfg);
        // Reuse an earlier table's action now and then (shared actions).
        let nact = rng.range(1, cfg.max_actions_per_table.max(1) as u64) as usize;
        let mut actions: Vec<ActionId> = Vec::new();
        for _ in 0..nact {
            if !m.actions.is_empty() && rng.chance(1, 5) {
                let a = rng.pick(&m.actions).id;
                if !actions.contains(&a) {
                    actions.push(a);
                }
                continue;
            }
            let id = ActionId(m.actions.len() as u32);
            let action = gen_action(rng, cfg, &m.ports, id);
            m.actions.push(action);
            actions.push(id);
        }
        let default = *rng.pick(&actions);
        let default_action = ActionCall {
            action: default,
            args: args_for(rng, &m.actions[default.0 as usize], &m.ports),
        };
        let size = *rng.pick(&[1u32, 2, 3, 4, 8, 16, 32, 64, 256, 1024]);
        // No rng draw unless asked: other generators' streams stay as they were.
        let meter = if cfg.meters && !keys.is_empty() && rng.chance(2, 3) {
            Some(gen_meter(rng))
        } else {
            None
        };
        m.tables.push(Table {
            id: TableId(t as u32),
            name: format!("t{t}"),
            keys,
            actions,
            default_action,
            size,
            counters: rng.chance(2, 3),
            meter,
            entries: Vec::new(),
            span: Span::default(),
        });
    }
    m
}

/// A meter whose buckets run dry within a few frames at test timestamps
/// (1 µs – 10 ms apart): small bursts, rates from 1/s to 10^6/s.
fn gen_meter(rng: &mut Rng) -> Meter {
    let unit = if rng.chance(1, 2) {
        MeterUnit::Packets
    } else {
        MeterUnit::Bytes
    };
    Meter {
        unit,
        default: gen_meter_rate(rng, unit),
        red: *rng.pick(&[RedAction::Drop, RedAction::Pass, RedAction::Continue]),
        span: Span::default(),
    }
}

/// A rate and burst for `unit` (bytes: bursts of one to a few full frames).
pub fn gen_meter_rate(rng: &mut Rng, unit: MeterUnit) -> MeterRate {
    let rate = *rng.pick(&[1u64, 10, 1000, 100_000, 1_000_000]);
    let rate = match unit {
        MeterUnit::Packets => rate,
        MeterUnit::Bytes => rate * 100,
    };
    let burst = match unit {
        MeterUnit::Packets => rng.range(1, 4),
        MeterUnit::Bytes => MIN_BYTES_BURST + rng.below(2000),
    };
    MeterRate { rate, burst }
}

fn gen_ports(rng: &mut Rng, cfg: &ModuleConfig) -> Vec<Port> {
    let n = rng.below(cfg.max_ports as u64 + 1) as usize;
    let mut numbers: Vec<u16> = (1..=cfg.max_port_number.max(1)).collect();
    rng.shuffle(&mut numbers);
    numbers.truncate(n);
    numbers
        .into_iter()
        .enumerate()
        .map(|(i, id)| Port {
            name: format!("port{i}"),
            id: PortId(id),
            span: Span::default(),
        })
        .collect()
}

fn gen_keys(rng: &mut Rng, cfg: &ModuleConfig) -> Vec<Key> {
    // Mostly 1–3 keys; sometimes none (the table always runs its default).
    let n = if rng.chance(1, 12) {
        0
    } else {
        rng.range(1, cfg.max_keys.max(1) as u64) as usize
    };
    // Tunnel fields (`vxlan.*`, `inner_*`) are refused by every backend
    // (Need::Vxlan): random modules for the differential leave them out.
    let mut fields: Vec<Field> = Field::ALL
        .iter()
        .copied()
        .filter(|f| cfg.vxlan || !f.is_tunnel())
        .collect();
    rng.shuffle(&mut fields);
    // Mostly headers one frame can have together (a table keyed on ipv4 and
    // ipv6 fields never applies: allowed, but rarely worth a table).
    if rng.chance(9, 10) {
        let mut chosen: Vec<Header> = Vec::new();
        fields.retain(|f| {
            let h = f.header();
            let ok = chosen.iter().all(|c| compatible(*c, h));
            if ok {
                chosen.push(h);
            }
            ok
        });
    }
    let mut keys = Vec::new();
    let mut has_lpm = false;
    for field in fields.into_iter().take(n) {
        let mut kinds = match_kinds(field);
        if has_lpm {
            kinds.retain(|k| *k != MatchKind::Lpm);
        }
        let kind = *rng.pick(&kinds);
        has_lpm |= kind == MatchKind::Lpm;
        keys.push(Key {
            field,
            kind,
            span: Span::default(),
            hash: None,
        });
    }
    // A hash key now and then (ECMP-style groups): a few hashable fields,
    // few buckets so entries cover them.
    if n > 0 && keys.len() < cfg.max_keys.max(1) && rng.chance(1, 4) {
        let mut hashable: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|f| f.hashable().is_ok() && (cfg.vxlan || !f.is_tunnel()))
            .collect();
        rng.shuffle(&mut hashable);
        hashable.truncate(rng.range(1, 5) as usize);
        let buckets = *rng.pick(&[2u32, 2, 4, 4, 8, 16]);
        let at = rng.below(keys.len() as u64 + 1) as usize;
        keys.insert(
            at,
            Key {
                field: Field::Hash,
                kind: MatchKind::Exact,
                span: Span::default(),
                hash: Some(HashKey {
                    fields: hashable,
                    buckets,
                }),
            },
        );
    }
    keys
}

/// Whether one frame can hold both headers.
fn compatible(a: Header, b: Header) -> bool {
    use Header::*;
    let clash = |x: Header, y: Header| (a == x && b == y) || (a == y && b == x);
    !(clash(Ipv4, Ipv6)
        || clash(Ipv4, Icmpv6)
        || clash(Ipv6, Icmp)
        || clash(Icmp, Icmpv6)
        || clash(Tcp, Udp)
        || [L4, Tcp, Udp]
            .iter()
            .any(|l| clash(*l, Icmp) || clash(*l, Icmpv6)))
}

/// A parameter type that fits `field` (for `set`).
fn param_type_for(rng: &mut Rng, field: Field) -> ParamType {
    match field.kind() {
        FieldKind::Mac => ParamType::Mac,
        FieldKind::Ipv4 => ParamType::Ipv4,
        FieldKind::Ipv6 => ParamType::Ipv6,
        FieldKind::Int | FieldKind::Port => {
            let w = field.width().min(32);
            // Mostly the full width; sometimes narrower (still fits).
            ParamType::Uint(if rng.chance(3, 4) {
                w
            } else {
                rng.range(1, w as u64) as u32
            })
        }
    }
}

fn gen_action(rng: &mut Rng, cfg: &ModuleConfig, ports: &[Port], id: ActionId) -> Action {
    let mut params: Vec<Param> = Vec::new();
    let mut body = Vec::new();
    let new_param = |params: &mut Vec<Param>, ty: ParamType| {
        let i = params.len();
        params.push(Param {
            name: format!("p{i}"),
            ty,
        });
        Operand::Param(i)
    };
    let writable = writable_fields();
    let n = rng.below(cfg.max_body as u64 + 1);
    // A second decap without an encap between is refused (E0411).
    let mut decapped = false;
    for _ in 0..n {
        let prim = match rng.below(if cfg.vxlan { 15 } else { 12 }) {
            12 if !decapped => {
                decapped = true;
                Primitive::VxlanDecap
            }
            12..=14 => {
                decapped = false;
                let vni_w = rng.range(1, 24) as u32;
                let mut op = |params: &mut Vec<Param>, ty: ParamType, w: u32| {
                    if rng.chance(1, 2) {
                        new_param(params, ty)
                    } else {
                        Operand::Const(rng.bits(w))
                    }
                };
                Primitive::VxlanEncap(crate::ir::VxlanEncap {
                    dmac: op(&mut params, ParamType::Mac, 48),
                    smac: op(&mut params, ParamType::Mac, 48),
                    src: op(&mut params, ParamType::Ipv4, 32),
                    dst: op(&mut params, ParamType::Ipv4, 32),
                    vni: op(&mut params, ParamType::Uint(vni_w), vni_w),
                })
            }
            0..=5 => {
                let field = *rng.pick(&writable);
                let value = if rng.chance(1, 2) {
                    let ty = param_type_for(rng, field);
                    new_param(&mut params, ty)
                } else if field == Field::MetaGroup {
                    // Group numbers that entries match (see entries::Pools).
                    Operand::Const(u128::from(rng.below(4)))
                } else {
                    Operand::Const(rng.bits(field.width()))
                };
                Primitive::Set { field, value }
            }
            6 | 7 => Primitive::DecTtl,
            10 | 11 => {
                // A field copy: any source that fits (the field itself
                // included: a write that changes nothing).
                let field = *rng.pick(&writable);
                let sources: Vec<Field> = Field::ALL
                    .iter()
                    .copied()
                    .filter(|f| field.copy_fits(*f).is_ok() && (cfg.vxlan || !f.is_tunnel()))
                    .collect();
                let from = *rng.pick(&sources);
                Primitive::Copy { field, from }
            }
            8 => Primitive::PushVlan(if rng.chance(1, 2) {
                let w = rng.range(1, 12) as u32;
                new_param(&mut params, ParamType::Uint(w))
            } else {
                Operand::Const(rng.bits(12))
            }),
            _ => Primitive::PopVlan,
        };
        body.push(prim);
    }
    // The end: nothing (continue), or one of the terminators.
    let choices: &[u8] = if ports.is_empty() {
        &[0, 0, 1, 2, 3]
    } else {
        &[0, 0, 1, 2, 3, 4, 4, 4]
    };
    match *rng.pick(choices) {
        1 => body.push(Primitive::Drop),
        2 => body.push(Primitive::Pass),
        3 => body.push(Primitive::Tx),
        4 => {
            let op = if rng.chance(2, 3) {
                new_param(&mut params, ParamType::Port)
            } else {
                Operand::Const(u128::from(rng.pick(ports).id.0))
            };
            body.push(Primitive::Forward(op));
        }
        _ => {}
    }
    Action {
        id,
        name: format!("a{}", id.0),
        params,
        body,
        span: Span::default(),
    }
}

/// Random arguments for `action`: ports are declared ones, the rest any
/// value of the parameter's width.
pub fn args_for(rng: &mut Rng, action: &Action, ports: &[Port]) -> Vec<u128> {
    action
        .params
        .iter()
        .map(|p| match p.ty {
            ParamType::Port => u128::from(rng.pick(ports).id.0),
            ty => rng.bits(ty.width()),
        })
        .collect()
}
