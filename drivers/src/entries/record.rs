//! A lossless, serde form of an IR entry (values as hex strings, since JSON
//! numbers cannot hold 128 bits), with its counter slot.

use offload_core::ir::{ActionCall, ActionId, Entry, KeyMatch, MeterRate};
use offload_core::Span;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MatchRecord {
    Exact { value: String },
    Lpm { value: String, prefix_len: u32 },
    Ternary { value: String, mask: String },
    Range { lo: String, hi: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryRecord {
    pub matches: Vec<MatchRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    pub action: u32,
    pub args: Vec<String>,
    /// Counter slot.
    pub slot: u32,
    /// Added at run time (kept across module versions), not from the module file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub runtime: bool,
    /// The entry's own meter `[rate, burst]` (absent: the table's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<[u64; 2]>,
}

fn hex(v: u128) -> String {
    format!("{v:#x}")
}

fn unhex(s: &str) -> Option<u128> {
    u128::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

impl EntryRecord {
    pub fn from_entry(e: &Entry, slot: u32) -> EntryRecord {
        EntryRecord {
            matches: e
                .matches
                .iter()
                .map(|m| match *m {
                    KeyMatch::Exact(v) => MatchRecord::Exact { value: hex(v) },
                    KeyMatch::Lpm { value, prefix_len } => MatchRecord::Lpm {
                        value: hex(value),
                        prefix_len,
                    },
                    KeyMatch::Ternary { value, mask } => MatchRecord::Ternary {
                        value: hex(value),
                        mask: hex(mask),
                    },
                    KeyMatch::Range { lo, hi } => MatchRecord::Range {
                        lo: hex(lo),
                        hi: hex(hi),
                    },
                })
                .collect(),
            priority: e.priority,
            action: e.action.action.0,
            args: e.action.args.iter().map(|a| hex(*a)).collect(),
            slot,
            runtime: false,
            meter: e.meter.map(|r| [r.rate, r.burst]),
        }
    }

    /// The entry back; `None` if the record was edited into nonsense.
    pub fn to_entry(&self) -> Option<(Entry, u32)> {
        let mut matches = Vec::with_capacity(self.matches.len());
        for m in &self.matches {
            matches.push(match m {
                MatchRecord::Exact { value } => KeyMatch::Exact(unhex(value)?),
                MatchRecord::Lpm { value, prefix_len } => KeyMatch::Lpm {
                    value: unhex(value)?,
                    prefix_len: *prefix_len,
                },
                MatchRecord::Ternary { value, mask } => KeyMatch::Ternary {
                    value: unhex(value)?,
                    mask: unhex(mask)?,
                },
                MatchRecord::Range { lo, hi } => KeyMatch::Range {
                    lo: unhex(lo)?,
                    hi: unhex(hi)?,
                },
            });
        }
        let args = self
            .args
            .iter()
            .map(|a| unhex(a))
            .collect::<Option<Vec<_>>>()?;
        Some((
            Entry {
                meter: self.meter.map(|[rate, burst]| MeterRate { rate, burst }),
                matches,
                priority: self.priority,
                action: ActionCall {
                    action: ActionId(self.action),
                    args,
                },
                span: Span::new(0, 0),
            },
            self.slot,
        ))
    }
}
