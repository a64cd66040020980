//! Random valid entries for a module's tables: canonical matches, unique
//! priorities, no two entries with the same match, never more than `size`.
//!
//! Values come from small per-field pools shared by all tables, so entries
//! of different tables (and the packets built from them) meet each other.
//! Tuple-space tables are also kept within what an eBPF layout of the
//! table can hold: at most [`EntryConfig::max_masks`] distinct masks and
//! [`EntryConfig::max_elements_per_size`] × `size` expanded elements.

use super::rng::Rng;
use crate::diag::Span;
use crate::ir::{
    mask_of_width, prefix_mask, range_to_prefixes, ActionCall, Entry, Field, KeyMatch, MatchKind,
    Module, Table,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};

#[derive(Debug, Clone)]
pub struct EntryConfig {
    /// Entries per table at most (besides `size`).
    pub max_entries: usize,
    pub max_masks: usize,
    pub max_elements_per_size: usize,
}

impl Default for EntryConfig {
    fn default() -> Self {
        EntryConfig {
            max_entries: 48,
            max_masks: 32,
            max_elements_per_size: 4,
        }
    }
}

/// Values worth matching on, per field.
#[derive(Debug, Clone, Default)]
pub struct Pools(pub BTreeMap<Field, Vec<u128>>);

impl Pools {
    pub fn new(rng: &mut Rng, module: &Module) -> Pools {
        let mut pools = BTreeMap::new();
        for &f in Field::ALL {
            let n = rng.range(2, 6) as usize;
            let mut v: Vec<u128> = match f {
                Field::MetaInPort => module.ports.iter().map(|p| u128::from(p.id.0)).collect(),
                Field::EthType => vec![0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x1234],
                Field::Ipv4Protocol => vec![1, 6, 17, 47],
                Field::Ipv6NextHeader => vec![6, 17, 58, 0, 44],
                Field::Ipv4Ttl | Field::Ipv6HopLimit => vec![0, 1, 2, 64, 255],
                // Starts at 0; actions set small group numbers.
                Field::MetaGroup => vec![0, 1, 2, 3],
                _ => (0..n).map(|_| rng.bits(f.width())).collect(),
            };
            if f.kind() == crate::ir::FieldKind::Ipv4 {
                // Addresses sharing prefixes make LPM and ternary overlap.
                let base = rng.bits(32) & 0xffff_0000;
                v = (0..n)
                    .map(|i| base | (rng.bits(16) & (0xff << (8 * (i % 2)))))
                    .collect();
            }
            pools.insert(f, v);
        }
        Pools(pools)
    }

    fn value(&self, rng: &mut Rng, f: Field) -> u128 {
        if f == Field::MetaInPort {
            // Port literals must name declared ports (callers check there are some).
            return self
                .0
                .get(&f)
                .filter(|v| !v.is_empty())
                .map_or(0, |v| *rng.pick(v));
        }
        match self.0.get(&f) {
            Some(v) if !v.is_empty() && rng.chance(7, 8) => *rng.pick(v),
            _ => rng.bits(f.width()),
        }
    }
}

/// Fills every table's `entries` (replacing what was there).
pub fn fill(rng: &mut Rng, module: &mut Module, cfg: &EntryConfig) {
    let pools = Pools::new(rng, module);
    let ids: Vec<usize> = (0..module.tables.len()).collect();
    for t in ids {
        let entries = table_entries(rng, module, &module.tables[t], &pools, cfg);
        module.tables[t].entries = entries;
    }
}

/// Per key, the few masks a tuple-space table's entries draw from.
fn mask_pool(rng: &mut Rng, module: &Module, field: Field) -> Vec<u128> {
    let w = field.width();
    let full = mask_of_width(w);
    if field == Field::MetaInPort {
        // Port literals must name declared ports: only full masks or `*`.
        return if module.ports.is_empty() {
            vec![0]
        } else {
            vec![full, 0]
        };
    }
    let mut v = vec![full, 0, prefix_mask(w, rng.range(1, w as u64) as u32)];
    if rng.chance(1, 2) {
        v.push(rng.bits(w));
    }
    v
}

fn gen_match(
    rng: &mut Rng,
    module: &Module,
    field: Field,
    kind: MatchKind,
    pools: &Pools,
    masks: &[u128],
) -> KeyMatch {
    let w = field.width();
    let ports: Vec<u128> = module.ports.iter().map(|p| u128::from(p.id.0)).collect();
    match kind {
        MatchKind::Exact => KeyMatch::Exact(pools.value(rng, field)),
        MatchKind::Lpm => {
            let len = match rng.below(6) {
                0 => 0,
                1 => w,
                2 => (w / 2).min(w),
                _ => rng.range(0, w as u64) as u32,
            };
            let value = pools.value(rng, field) & prefix_mask(w, len);
            KeyMatch::Lpm {
                value,
                prefix_len: len,
            }
        }
        MatchKind::Ternary => {
            let mask = *rng.pick(masks);
            KeyMatch::Ternary {
                value: pools.value(rng, field) & mask,
                mask,
            }
        }
        MatchKind::Range => {
            let full = mask_of_width(w);
            if field == crate::ir::Field::MetaInPort {
                // Endpoints must be declared ports.
                if ports.is_empty() || rng.chance(1, 4) {
                    return KeyMatch::Range { lo: 0, hi: full };
                }
                let a = *rng.pick(&ports);
                let b = *rng.pick(&ports);
                return KeyMatch::Range {
                    lo: a.min(b),
                    hi: a.max(b),
                };
            }
            match rng.below(5) {
                0 => KeyMatch::Range { lo: 0, hi: full },
                1 => {
                    let v = pools.value(rng, field);
                    KeyMatch::Range { lo: v, hi: v }
                }
                2 => {
                    // A small window around a pool value.
                    let v = pools.value(rng, field);
                    let lo = v.saturating_sub(rng.below(8) as u128);
                    let hi = (v + rng.below(8) as u128).min(full);
                    KeyMatch::Range { lo, hi }
                }
                3 => {
                    // An aligned block (one prefix).
                    let bits = rng.range(1, w as u64) as u32;
                    let lo = pools.value(rng, field) & !mask_of_width(bits) & full;
                    KeyMatch::Range {
                        lo,
                        hi: lo | mask_of_width(bits),
                    }
                }
                _ => {
                    let a = rng.bits(w);
                    let b = rng.bits(w);
                    KeyMatch::Range {
                        lo: a.min(b),
                        hi: a.max(b),
                    }
                }
            }
        }
    }
}

/// (masks, elements) one entry expands to in a tuple-space layout.
fn expansion(table: &Table, matches: &[KeyMatch]) -> (BTreeSet<Vec<u128>>, usize) {
    let mut combos: Vec<Vec<u128>> = vec![Vec::new()];
    for (key, m) in table.keys.iter().zip(matches) {
        let w = key.field.width();
        let alts: Vec<u128> = match *m {
            KeyMatch::Exact(_) => vec![mask_of_width(w)],
            KeyMatch::Lpm { prefix_len, .. } => vec![prefix_mask(w, prefix_len)],
            KeyMatch::Ternary { mask, .. } => vec![mask],
            KeyMatch::Range { lo, hi } => range_to_prefixes(lo, hi, w)
                .into_iter()
                .map(|(_, m)| m)
                .collect(),
        };
        combos = combos
            .into_iter()
            .flat_map(|c| {
                alts.iter().map(move |a| {
                    let mut c = c.clone();
                    c.push(*a);
                    c
                })
            })
            .collect();
    }
    let n = combos.len();
    (combos.into_iter().collect(), n)
}

fn table_entries(
    rng: &mut Rng,
    module: &Module,
    table: &Table,
    pools: &Pools,
    cfg: &EntryConfig,
) -> Vec<Entry> {
    let exact_port_without_ports = module.ports.is_empty()
        && table
            .keys
            .iter()
            .any(|k| k.field == Field::MetaInPort && k.kind == MatchKind::Exact);
    if table.keys.is_empty() || exact_port_without_ports {
        return Vec::new();
    }
    let want = rng.below(cfg.max_entries.min(table.size as usize) as u64 + 1) as usize;
    let masks: Vec<Vec<u128>> = table
        .keys
        .iter()
        .map(|k| mask_pool(rng, module, k.field))
        .collect();
    let mut seen: HashSet<Vec<KeyMatch>> = HashSet::new();
    let mut priorities: Vec<u32> = (1..=(4 * want as u32 + 4)).collect();
    rng.shuffle(&mut priorities);
    let mut used_masks: BTreeSet<Vec<u128>> = BTreeSet::new();
    let mut elements = 0usize;
    let budget = cfg.max_elements_per_size * table.size as usize;
    let mut out = Vec::new();
    let mut attempts = 0;
    while out.len() < want && attempts < want * 8 {
        attempts += 1;
        let matches: Vec<KeyMatch> = table
            .keys
            .iter()
            .zip(&masks)
            .map(|(k, ms)| match &k.hash {
                Some(h) => KeyMatch::Exact(u128::from(rng.below(u64::from(h.buckets)) as u32)),
                None => gen_match(rng, module, k.field, k.kind, pools, ms),
            })
            .collect();
        if seen.contains(&matches) {
            continue;
        }
        if table.needs_priority() {
            let (ms, n) = expansion(table, &matches);
            let union: BTreeSet<Vec<u128>> = used_masks.union(&ms).cloned().collect();
            if union.len() > cfg.max_masks || elements + n > budget {
                continue;
            }
            used_masks = union;
            elements += n;
        }
        seen.insert(matches.clone());
        let action = *rng.pick(&table.actions);
        let args = super::module::args_for(rng, module.action(action), &module.ports);
        // Some entries of a metered table get their own rate (canonical:
        // never equal to the table's default).
        let meter = match &table.meter {
            Some(m) if rng.chance(1, 3) => {
                Some(super::module::gen_meter_rate(rng, m.unit)).filter(|r| *r != m.default)
            }
            _ => None,
        };
        out.push(Entry {
            matches,
            priority: table
                .needs_priority()
                .then(|| priorities[out.len() % priorities.len()]),
            action: ActionCall { action, args },
            meter,
            span: Span::default(),
        });
    }
    out
}
