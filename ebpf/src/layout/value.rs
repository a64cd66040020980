//! Value bytes shared by entries and the default action:
//!
//! ```text
//! 0        4             8          12
//! +--------+-------------+----------+----------------------+
//! | action | counter slot| priority | parameters (by action)|
//! +--------+-------------+----------+----------------------+
//! ```
//! u32s in host byte order. Parameters, in declaration order, 4-aligned:
//! `port` and `uN` as a host-order u32; `ipv4` 4 bytes, `mac` 6 bytes (slot
//! of 8), `ipv6` 16 bytes, all three in network order (the bytes `set`
//! writes into the packet).
//!
//! A metered table's value ends with the entry's meter rate at
//! [`ValueLayout::meter_off`] (8-aligned): u64 rate, u64 capacity
//! (`burst × 10^9`), u64 `fill_ns` (`capacity / rate`), host order; zero in
//! the default action's value (a miss is never metered).

use super::LayoutError;
use offload_core::ir::{ActionCall, ActionId, Module, ParamType, Table};

pub const ACTION_OFF: u32 = 0;
pub const SLOT_OFF: u32 = 4;
pub const PRIORITY_OFF: u32 = 8;
pub const PARAMS_OFF: u32 = 12;
/// Offsets within the meter part of a value (from [`ValueLayout::meter_off`]).
pub const METER_RATE: u32 = 0;
pub const METER_CAP: u32 = 8;
pub const METER_FILL: u32 = 16;

/// One parameter's place in the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSlot {
    pub offset: u32,
    pub ty: ParamType,
}

impl ParamSlot {
    /// Bytes the slot occupies.
    pub fn slot_bytes(ty: ParamType) -> u32 {
        match ty {
            ParamType::Port | ParamType::Uint(_) | ParamType::Ipv4 => 4,
            ParamType::Mac => 8,
            ParamType::Ipv6 => 16,
        }
    }
    fn write(&self, buf: &mut [u8], v: u128) {
        let o = self.offset as usize;
        match self.ty {
            ParamType::Port | ParamType::Uint(_) => {
                buf[o..o + 4].copy_from_slice(&(v as u32).to_ne_bytes())
            }
            ParamType::Ipv4 => buf[o..o + 4].copy_from_slice(&(v as u32).to_be_bytes()),
            ParamType::Mac => buf[o..o + 6].copy_from_slice(&(v as u64).to_be_bytes()[2..]),
            ParamType::Ipv6 => buf[o..o + 16].copy_from_slice(&v.to_be_bytes()),
        }
    }
    fn read(&self, buf: &[u8]) -> u128 {
        let o = self.offset as usize;
        let be = |b: &[u8]| b.iter().fold(0u128, |a, x| (a << 8) | u128::from(*x));
        match self.ty {
            ParamType::Port | ParamType::Uint(_) => u128::from(u32::from_ne_bytes(
                buf[o..o + 4].try_into().expect("4 bytes"),
            )),
            ParamType::Ipv4 => be(&buf[o..o + 4]),
            ParamType::Mac => be(&buf[o..o + 6]),
            ParamType::Ipv6 => be(&buf[o..o + 16]),
        }
    }
}

/// Value layout of one table: common header + each action's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueLayout {
    /// Total bytes (multiple of 8).
    pub size: u32,
    /// Per action the table may run (entries or default), its parameter slots.
    pub actions: Vec<(ActionId, Vec<ParamSlot>)>,
    /// Where a metered table's rate, capacity and fill time start.
    pub meter_off: Option<u32>,
}

impl ValueLayout {
    pub fn new(module: &Module, table: &Table) -> ValueLayout {
        let mut ids: Vec<ActionId> = table.actions.clone();
        if !ids.contains(&table.default_action.action) {
            ids.push(table.default_action.action);
        }
        let mut size = PARAMS_OFF;
        let actions = ids
            .into_iter()
            .map(|id| {
                let mut off = PARAMS_OFF;
                let slots = module
                    .action(id)
                    .params
                    .iter()
                    .map(|p| {
                        let s = ParamSlot {
                            offset: off,
                            ty: p.ty,
                        };
                        off += ParamSlot::slot_bytes(p.ty);
                        s
                    })
                    .collect();
                size = size.max(off);
                (id, slots)
            })
            .collect();
        let size = size.div_ceil(8) * 8;
        let meter_off = table.meter.is_some().then_some(size);
        ValueLayout {
            size: size + if meter_off.is_some() { 24 } else { 0 },
            actions,
            meter_off,
        }
    }

    /// Writes an entry's meter rate into its value bytes (no-op without one).
    pub fn write_meter(&self, v: &mut [u8], rate: Option<offload_core::ir::MeterRate>) {
        let (Some(o), Some(r)) = (self.meter_off, rate) else {
            return;
        };
        let o = o as usize;
        for (i, x) in [r.rate, r.capacity(), r.fill_ns()].into_iter().enumerate() {
            v[o + 8 * i..o + 8 * i + 8].copy_from_slice(&x.to_ne_bytes());
        }
    }

    /// The meter rate in value bytes (`None`: not metered or too short).
    pub fn read_meter(&self, v: &[u8]) -> Option<offload_core::ir::MeterRate> {
        let o = self.meter_off? as usize;
        let u = |i: usize| {
            v.get(o + 8 * i..o + 8 * i + 8)
                .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
        };
        let (rate, cap) = (u(0)?, u(1)?);
        Some(offload_core::ir::MeterRate {
            rate,
            burst: cap / offload_core::ir::NANO,
        })
    }

    pub fn params(&self, action: ActionId) -> &[ParamSlot] {
        self.actions
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, s)| s.as_slice())
            .unwrap_or(&[])
    }

    pub fn encode(&self, call: &ActionCall, slot: u32, priority: u32) -> Vec<u8> {
        let mut v = vec![0u8; self.size as usize];
        v[0..4].copy_from_slice(&call.action.0.to_ne_bytes());
        v[4..8].copy_from_slice(&slot.to_ne_bytes());
        v[8..12].copy_from_slice(&priority.to_ne_bytes());
        for (s, arg) in self.params(call.action).iter().zip(&call.args) {
            s.write(&mut v, *arg);
        }
        v
    }

    pub fn decode(
        &self,
        module: &Module,
        map: &str,
        bytes: &[u8],
    ) -> Result<(ActionCall, u32, u32), LayoutError> {
        if bytes.len() != self.size as usize {
            return Err(LayoutError::BadBytes {
                map: map.to_string(),
                what: "value",
                got: bytes.len(),
                want: self.size as usize,
            });
        }
        let u = |o: usize| u32::from_ne_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let action = ActionId(u(0));
        let _ = module;
        let args = self.params(action).iter().map(|s| s.read(bytes)).collect();
        Ok((ActionCall { action, args }, u(4), u(8)))
    }
}
