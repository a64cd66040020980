//! The pipeline: tables in order, the skip rule, actions, verdicts, counters.

use super::meter::MeterState;
use super::parse::{field_value, parse, Parsed};
use super::rewrite::{self, DecTtl, Effect};
use super::select::select;
use super::{CounterHit, CounterSlot, Outcome, Step, Verdict};
use crate::ir::{
    ActionCall, Color, DefaultVerdict, Field, Module, Operand, PortId, Primitive, RedAction, Table,
    TableId,
};

/// One rewrite done by an action of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub table: TableId,
    pub effect: Effect,
}

/// [`Outcome`] plus what each primitive did and the ingress parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub outcome: Outcome,
    pub events: Vec<Event>,
    /// The parser's view at ingress.
    pub parsed: Parsed,
    /// Per table with a hash key that applied: the bytes it hashed and
    /// the bucket (`crc32(bytes) & (buckets - 1)`), in pipeline order.
    pub hashes: Vec<(TableId, Vec<u8>, u32)>,
    /// Per metered table whose entry was hit: the entry and its color, in
    /// pipeline order.
    pub meters: Vec<(TableId, usize, Color)>,
}

/// Runs `module` on one frame arriving on `in_port`, using each table's
/// `entries`. Never panics on any input bytes.
pub fn run(module: &Module, in_port: PortId, packet: &[u8]) -> Outcome {
    run_traced(module, in_port, packet).outcome
}

/// [`run`], also reporting every rewrite (for `offloadctl run`). Meters
/// see one packet at time 0 with every bucket full.
pub fn run_traced(module: &Module, in_port: PortId, packet: &[u8]) -> Trace {
    run_timed_traced(module, in_port, packet, 0, &mut MeterState::new())
}

/// [`run`] for a frame arriving at `now_ns` (the target's clock, in
/// nanoseconds), with the meters' buckets in `meters` (updated).
pub fn run_timed(
    module: &Module,
    in_port: PortId,
    packet: &[u8],
    now_ns: u64,
    meters: &mut MeterState,
) -> Outcome {
    run_timed_traced(module, in_port, packet, now_ns, meters).outcome
}

/// [`run_timed`], also reporting every rewrite and meter color.
pub fn run_timed_traced(
    module: &Module,
    in_port: PortId,
    packet: &[u8],
    now_ns: u64,
    meters: &mut MeterState,
) -> Trace {
    let ingress = parse(packet);
    let mut colors = Vec::new();
    let mut state = State {
        parsed: ingress,
        packet: packet.to_vec(),
        in_port,
        group: 0,
        events: Vec::new(),
        hashes: Vec::new(),
    };
    let ingress_len = packet.len() as u64;
    let mut counters = Vec::new();
    let mut steps = Vec::new();
    let mut verdict = None;

    for table in &module.tables {
        if let Some(missing) = table
            .required_headers()
            .into_iter()
            .find(|h| !state.parsed.is_valid(*h))
        {
            steps.push(Step::Skipped {
                table: table.id,
                missing,
            });
            continue;
        }
        if let Some(h) = table.hash_key() {
            let bytes = super::hash::hash_input(&state.parsed, &state.packet, h);
            let b = super::hash::crc32(&bytes) & (h.buckets - 1);
            state.hashes.push((table.id, bytes, b));
        }
        let (slot, call) = lookup(&state, table);
        steps.push(match slot {
            CounterSlot::Entry(entry) => Step::Hit {
                table: table.id,
                entry,
            },
            CounterSlot::Default => Step::Miss { table: table.id },
        });
        if table.counters {
            counters.push(CounterHit {
                table: table.id,
                slot,
                bytes: ingress_len,
            });
        }
        // A hit entry of a metered table offers the packet to its bucket;
        // red replaces the entry's action (the counter above still counts).
        if let CounterSlot::Entry(entry) = slot {
            if let Some(color) = meters.offer(module, table.id, entry, ingress_len, now_ns) {
                colors.push((table.id, entry, color));
                if color == Color::Red {
                    match table.meter.as_ref().map(|m| m.red) {
                        Some(RedAction::Drop) => {
                            verdict = Some(Verdict::Drop);
                            break;
                        }
                        Some(RedAction::Pass) => {
                            verdict = Some(Verdict::Pass);
                            break;
                        }
                        Some(RedAction::Continue) | None => continue,
                    }
                }
            }
        }
        if let Some(v) = state.execute(module, table.id, call) {
            verdict = Some(v);
            break;
        }
    }

    let verdict = verdict.unwrap_or(match module.default_verdict {
        DefaultVerdict::Pass => Verdict::Pass,
        DefaultVerdict::Drop => Verdict::Drop,
    });
    Trace {
        outcome: Outcome {
            verdict,
            packet: state.packet,
            counters,
            steps,
        },
        events: state.events,
        parsed: ingress,
        hashes: state.hashes,
        meters: colors,
    }
}

fn lookup<'m>(state: &State, table: &'m Table) -> (CounterSlot, &'m ActionCall) {
    // Every key's header is valid here, so every value is present.
    let values: Vec<u128> = table
        .keys
        .iter()
        .map(|k| match &k.hash {
            Some(h) => u128::from(super::hash::bucket(&state.parsed, &state.packet, h)),
            None => state.read(k.field).unwrap_or(0),
        })
        .collect();
    match select(table, &values) {
        Some(i) => (CounterSlot::Entry(i), &table.entries[i].action),
        None => (CounterSlot::Default, &table.default_action),
    }
}

struct State {
    parsed: Parsed,
    packet: Vec<u8>,
    in_port: PortId,
    /// `meta.group`.
    group: u16,
    events: Vec<Event>,
    hashes: Vec<(TableId, Vec<u8>, u32)>,
}

impl State {
    /// A field's current value: the packet's, or the pipeline's metadata.
    fn read(&self, field: Field) -> Option<u128> {
        match field {
            Field::MetaGroup => Some(u128::from(self.group)),
            _ => field_value(&self.parsed, &self.packet, self.in_port, field),
        }
    }

    /// `set(field, value)`: into the packet, or into `meta.group`.
    fn write(&mut self, field: Field, value: u128) -> Effect {
        match field {
            Field::MetaGroup => {
                let old = u128::from(self.group);
                self.group = (value & 0xffff) as u16;
                Effect::Set {
                    field,
                    old,
                    new: u128::from(self.group),
                }
            }
            _ => rewrite::set(&self.parsed, &mut self.packet, field, value),
        }
    }

    /// Runs an action; `Some(verdict)` if it ends the pipeline.
    fn execute(&mut self, module: &Module, table: TableId, call: &ActionCall) -> Option<Verdict> {
        let Some(action) = module.actions.get(call.action.0 as usize) else {
            // A broken IR (the validator never produces one): treat as no-op.
            return None;
        };
        // An operand naming a missing argument is a broken IR too: read as 0.
        let arg = |op: &Operand| match *op {
            Operand::Param(i) => call.args.get(i).copied().unwrap_or(0),
            Operand::Const(v) => v,
        };
        for prim in &action.body {
            let effect = match prim {
                Primitive::Drop => return Some(Verdict::Drop),
                Primitive::Pass => return Some(Verdict::Pass),
                Primitive::Tx => return Some(Verdict::Tx),
                Primitive::Forward(op) => return Some(Verdict::Forward(PortId(arg(op) as u16))),
                Primitive::Set { field, value } => self.write(*field, arg(value)),
                // Zero-extended (the spec only lets integers into fields at
                // least as wide); nothing happens without a valid source.
                Primitive::Copy { field, from } => match self.read(*from) {
                    Some(v) => self.write(*field, v),
                    None => Effect::CopyIgnored {
                        field: *field,
                        from: *from,
                    },
                },
                Primitive::DecTtl => match rewrite::dec_ttl(&self.parsed, &mut self.packet) {
                    DecTtl::Continue(e) => e,
                    DecTtl::Expired(e) => {
                        self.events.push(Event { table, effect: e });
                        return Some(Verdict::Pass);
                    }
                },
                Primitive::PushVlan(op) => {
                    rewrite::push_vlan(&mut self.parsed, &mut self.packet, arg(op))
                }
                Primitive::PopVlan => rewrite::pop_vlan(&mut self.parsed, &mut self.packet),
                Primitive::VxlanEncap(e) => {
                    let args = rewrite::EncapArgs {
                        dmac: arg(&e.dmac) as u64,
                        smac: arg(&e.smac) as u64,
                        src: arg(&e.src) as u32,
                        dst: arg(&e.dst) as u32,
                        vni: arg(&e.vni) as u32,
                    };
                    rewrite::vxlan_encap(&mut self.parsed, &mut self.packet, args)
                }
                Primitive::VxlanDecap => rewrite::vxlan_decap(&mut self.parsed, &mut self.packet),
            };
            self.events.push(Event { table, effect });
        }
        None
    }
}
