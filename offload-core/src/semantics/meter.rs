//! The state meters keep between packets, for [`super::run_timed`].
//!
//! A bucket per (table, entry index); a bucket never seen is full
//! ([`Bucket::default`]), as a freshly created BPF map slot is. What a
//! bucket does with a packet is [`Bucket::offer`] (`ir::meter`).

use crate::ir::{Bucket, Color, Module, TableId};
use std::collections::BTreeMap;

/// Every metered entry's bucket, by table and entry index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterState {
    buckets: BTreeMap<(TableId, usize), Bucket>,
}

impl MeterState {
    /// All buckets full.
    pub fn new() -> MeterState {
        MeterState::default()
    }

    /// The bucket of `entry` in `table` (full if never used).
    pub fn bucket(&self, table: TableId, entry: usize) -> Bucket {
        self.buckets
            .get(&(table, entry))
            .copied()
            .unwrap_or_default()
    }

    /// Offers a packet of `len` bytes arriving at `now_ns` to the bucket of
    /// `entry`; `None` if the table has no meter.
    pub(super) fn offer(
        &mut self,
        module: &Module,
        table: TableId,
        entry: usize,
        len: u64,
        now_ns: u64,
    ) -> Option<Color> {
        let t = module.tables.get(table.0 as usize)?;
        let meter = t.meter.as_ref()?;
        let rate = t.meter_rate(t.entries.get(entry)?)?;
        let b = self.buckets.entry((table, entry)).or_default();
        Some(b.offer(rate, now_ns, meter.cost(len)))
    }
}
