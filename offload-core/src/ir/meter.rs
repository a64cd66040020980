//! Meters: per-entry token buckets (color-blind), the integer arithmetic
//! every target computes identically.
//!
//! A metered table (`meter = { unit, rate, burst, red }`) gives each entry a
//! bucket of `burst × 10^9` nano-tokens that refills at `rate` nano-tokens
//! per nanosecond (= `rate` tokens per second) and holds at most its
//! capacity. A packet costs `10^9` (unit `packets`) or `len × 10^9` (unit
//! `bytes`, `len` = the frame's length as it arrived). It is **green** when
//! the bucket holds at least its cost (which is then taken), **red**
//! otherwise (nothing taken). The default action is never metered.
//!
//! The state is kept as a *deficit* (capacity − tokens, 0 = full) and the
//! time of the last refill; an all-zero state is a full bucket, which is
//! what a freshly created BPF map holds. With `rate`, `burst` ≤ u32::MAX
//! every quantity fits a u64 without overflow (see [`Bucket::refill`]), so
//! the formulas below are the exact mathematical ones.

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MeterUnit {
    Packets,
    Bytes,
}

impl MeterUnit {
    pub fn name(self) -> &'static str {
        match self {
            MeterUnit::Packets => "packets",
            MeterUnit::Bytes => "bytes",
        }
    }
    pub fn from_name(s: &str) -> Option<MeterUnit> {
        match s {
            "packets" => Some(MeterUnit::Packets),
            "bytes" => Some(MeterUnit::Bytes),
            _ => None,
        }
    }
}

/// What a red packet does instead of the entry's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedAction {
    /// Ends the pipeline: the packet is discarded.
    Drop,
    /// Ends the pipeline: to the host stack / CPU port.
    Pass,
    /// The entry's action does not run; the next table does.
    Continue,
}

impl RedAction {
    pub fn name(self) -> &'static str {
        match self {
            RedAction::Drop => "drop",
            RedAction::Pass => "pass",
            RedAction::Continue => "continue",
        }
    }
    pub fn from_name(s: &str) -> Option<RedAction> {
        match s {
            "drop" => Some(RedAction::Drop),
            "pass" => Some(RedAction::Pass),
            "continue" => Some(RedAction::Continue),
            _ => None,
        }
    }
}

/// One nano-token scale: a token is `10^9` nano-tokens.
pub const NANO: u64 = 1_000_000_000;
/// Largest `rate` and `burst` (so that `burst × 10^9` and every sum fit a u64).
pub const MAX_METER_VALUE: u64 = u32::MAX as u64;
/// Smallest `burst` of a bytes meter: one full-size frame (1500-byte MTU,
/// Ethernet header and one VLAN tag), so that a bucket can ever pass one.
pub const MIN_BYTES_BURST: u64 = 1518;

/// A bucket's rate and burst (per entry; the table's when an entry gives none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct MeterRate {
    /// Tokens per second, 1..=[`MAX_METER_VALUE`].
    pub rate: u64,
    /// Bucket size in tokens, 1..=[`MAX_METER_VALUE`] (bytes: ≥ [`MIN_BYTES_BURST`]).
    pub burst: u64,
}

impl MeterRate {
    /// Capacity in nano-tokens.
    pub fn capacity(self) -> u64 {
        self.burst * NANO
    }
    /// Nanoseconds after which an empty bucket is full again, rounded down:
    /// an elapsed time above it refills any deficit (see [`Bucket::refill`]).
    pub fn fill_ns(self) -> u64 {
        self.capacity() / self.rate.max(1)
    }
}

/// A table's meter: unit, the default rate of its entries, the red action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub unit: MeterUnit,
    /// Entries without their own `meter` use this.
    pub default: MeterRate,
    pub red: RedAction,
    pub span: crate::diag::Span,
}

impl Meter {
    /// What a packet of `len` bytes costs, in nano-tokens.
    pub fn cost(&self, len: u64) -> u64 {
        match self.unit {
            MeterUnit::Packets => NANO,
            MeterUnit::Bytes => len * NANO,
        }
    }
}

/// A packet's color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Green,
    Red,
}

/// The state of one bucket: deficit (capacity − tokens) and the last time
/// it was refilled. `Bucket::default()` is a full bucket never refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize)]
pub struct Bucket {
    /// Nano-tokens missing from a full bucket.
    pub deficit: u64,
    /// Nanoseconds (the target's clock) of the last refill.
    pub last_ns: u64,
}

impl Bucket {
    /// Refills for the time since `last_ns`. A clock that goes back (or
    /// stands still) refills nothing and leaves `last_ns` where it is.
    ///
    /// Overflow: if `elapsed > fill_ns = capacity / rate` then
    /// `elapsed × rate ≥ (fill_ns + 1) × rate > capacity`, so the deficit
    /// is 0 without multiplying (by definition also when an earlier, larger
    /// rate left a deficit above this capacity); otherwise
    /// `elapsed × rate ≤ capacity < 2^63`.
    pub fn refill(&mut self, rate: MeterRate, now_ns: u64) {
        if now_ns <= self.last_ns {
            return;
        }
        let elapsed = now_ns - self.last_ns;
        self.last_ns = now_ns;
        if elapsed > rate.fill_ns() {
            self.deficit = 0;
        } else {
            self.deficit = self.deficit.saturating_sub(elapsed * rate.rate);
        }
    }

    /// Refills, then takes `cost` if the bucket holds it.
    pub fn offer(&mut self, rate: MeterRate, now_ns: u64, cost: u64) -> Color {
        self.refill(rate, now_ns);
        // tokens = capacity − deficit ≥ cost  ⇔  deficit + cost ≤ capacity
        // (deficit ≤ 2^32 × 10^9 after a rate change, cost ≤ 2^16 × 10^9: no overflow).
        if self.deficit + cost <= rate.capacity() {
            self.deficit += cost;
            Color::Green
        } else {
            Color::Red
        }
    }
}
