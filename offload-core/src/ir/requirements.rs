//! What a module needs from a target, summarised once from the IR.
//!
//! The planner compares this with a target's capabilities, and both backends
//! check it against their target profile, so "passes planning" and "compiles"
//! are the same question.

use super::{range_to_prefixes, Header, KeyMatch, MatchKind, Module, Primitive};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableRequirements {
    pub name: String,
    pub match_kinds: BTreeSet<MatchKind>,
    pub size: u32,
    /// Entries given in the module file.
    pub entries: usize,
    /// Bytes of the key as the fields' widths add up (rounded up per field to bytes).
    pub key_bytes: u32,
    /// Bytes of the largest action's parameters.
    pub param_bytes: u32,
    /// Distinct masks over the ternary/range keys of the given entries, after
    /// expanding ranges to prefixes (tuple-space search costs one probe each).
    pub ternary_masks: usize,
    pub counters: bool,
    /// Bytes a hash key of this table reads at most (0: no hash key).
    pub hash_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Requirements {
    pub match_kinds: BTreeSet<MatchKind>,
    /// Headers the module reads or writes (parser depth needed).
    pub headers: BTreeSet<Header>,
    pub tables: Vec<TableRequirements>,
    /// Largest `ternary_masks` over all tables.
    pub max_ternary_masks: usize,
    /// `forward(port)` is used: redirect to another port.
    pub redirect: bool,
    /// `tx` is used: back out of the ingress port.
    pub tx: bool,
    /// `pass` (to host / CPU port) is used, or implied by `dec_ttl`.
    pub pass: bool,
    pub drop: bool,
    /// A `set` writes a field covered by the IPv4 header checksum.
    pub ipv4_checksum_rewrite: bool,
    /// A `set` writes a field covered by the TCP/UDP checksum (addresses or ports).
    pub l4_checksum_rewrite: bool,
    /// Any `set` at all (packet rewrite).
    pub rewrite: bool,
    pub dec_ttl: bool,
    pub vlan_push: bool,
    pub vlan_pop: bool,
    pub counters: bool,
    /// Sum of table sizes.
    pub total_table_size: u64,
    /// Tables with a hash key (CRC-32 over packet fields), in file order.
    pub hash_tables: Vec<String>,
    /// Keys or hash keys read `vxlan.vni` or `inner_*` fields.
    pub vxlan_parse: bool,
    /// `vxlan_encap` is used.
    pub vxlan_encap: bool,
    /// `vxlan_decap` is used.
    pub vxlan_decap: bool,
    /// Tables with a meter (per-entry token buckets), in file order.
    pub meter_tables: Vec<String>,
}

impl Requirements {
    pub fn of(module: &Module) -> Requirements {
        let mut r = Requirements::default();
        for table in &module.tables {
            let kinds: BTreeSet<MatchKind> = table.keys.iter().map(|k| k.kind).collect();
            r.match_kinds.extend(kinds.iter().copied());
            r.headers
                .extend(table.keys.iter().map(|k| k.field.header()));
            let hash_bytes = table.hash_key().map_or(0, |h| h.max_bytes());
            if let Some(h) = table.hash_key() {
                r.headers.extend(h.headers());
                r.hash_tables.push(table.name.clone());
            }
            if let Some(m) = &table.meter {
                r.meter_tables.push(table.name.clone());
                // A red packet's verdict is one the target must have.
                match m.red {
                    super::RedAction::Drop => r.drop = true,
                    super::RedAction::Pass => r.pass = true,
                    super::RedAction::Continue => {}
                }
            }
            let key_bytes = table.keys.iter().map(|k| k.field.width().div_ceil(8)).sum();
            let param_bytes = table
                .actions
                .iter()
                .map(|a| {
                    module
                        .action(*a)
                        .params
                        .iter()
                        .map(|p| p.ty.width().div_ceil(8))
                        .sum::<u32>()
                })
                .max()
                .unwrap_or(0);
            let masks = ternary_mask_count(table);
            r.max_ternary_masks = r.max_ternary_masks.max(masks);
            r.counters |= table.counters;
            r.total_table_size += u64::from(table.size);
            r.tables.push(TableRequirements {
                name: table.name.clone(),
                match_kinds: kinds,
                size: table.size,
                entries: table.entries.len(),
                key_bytes,
                param_bytes,
                ternary_masks: masks,
                counters: table.counters,
                hash_bytes,
            });
        }
        for action in &module.actions {
            // Only actions some table can run matter.
            let used = module
                .tables
                .iter()
                .any(|t| t.actions.contains(&action.id) || t.default_action.action == action.id);
            if !used {
                continue;
            }
            for p in &action.body {
                match p {
                    Primitive::Drop => r.drop = true,
                    Primitive::Pass => r.pass = true,
                    Primitive::Forward(_) => r.redirect = true,
                    Primitive::Tx => r.tx = true,
                    Primitive::Set { field, .. } => {
                        r.rewrite = true;
                        r.headers.insert(field.header());
                        use super::Field::*;
                        match field {
                            Ipv4Src | Ipv4Dst => {
                                r.ipv4_checksum_rewrite = true;
                                r.l4_checksum_rewrite = true;
                            }
                            Ipv4Ttl | Ipv4Dscp => r.ipv4_checksum_rewrite = true,
                            Ipv6Src | Ipv6Dst | L4SrcPort | L4DstPort => {
                                r.l4_checksum_rewrite = true
                            }
                            _ => {}
                        }
                    }
                    Primitive::Copy { field, from } => {
                        r.rewrite = true;
                        r.headers.insert(field.header());
                        r.headers.insert(from.header());
                        use super::Field::*;
                        match field {
                            Ipv4Src | Ipv4Dst => {
                                r.ipv4_checksum_rewrite = true;
                                r.l4_checksum_rewrite = true;
                            }
                            Ipv4Ttl | Ipv4Dscp => r.ipv4_checksum_rewrite = true,
                            Ipv6Src | Ipv6Dst | L4SrcPort | L4DstPort => {
                                r.l4_checksum_rewrite = true
                            }
                            _ => {}
                        }
                    }
                    Primitive::DecTtl => {
                        r.dec_ttl = true;
                        r.pass = true;
                        r.ipv4_checksum_rewrite = true;
                        r.headers.insert(Header::Ipv4);
                        r.headers.insert(Header::Ipv6);
                    }
                    Primitive::PushVlan(_) => {
                        r.vlan_push = true;
                        r.headers.insert(Header::Vlan);
                    }
                    Primitive::PopVlan => {
                        r.vlan_pop = true;
                        r.headers.insert(Header::Vlan);
                    }
                    Primitive::VxlanEncap(_) => {
                        r.vxlan_encap = true;
                        r.rewrite = true;
                        r.headers.extend([Header::Eth, Header::Vxlan]);
                    }
                    Primitive::VxlanDecap => {
                        r.vxlan_decap = true;
                        r.rewrite = true;
                        r.headers.insert(Header::Vxlan);
                    }
                }
            }
        }
        r.headers.remove(&Header::Meta);
        r.vxlan_parse = r.headers.iter().any(|h| h.is_tunnel());
        r
    }
}

/// Distinct masks (over all ternary/range keys together) among a table's entries.
fn ternary_mask_count(table: &super::Table) -> usize {
    if !table.needs_priority() {
        return 0;
    }
    let mut masks: BTreeSet<Vec<u128>> = BTreeSet::new();
    for e in &table.entries {
        // Each key contributes a set of alternative masks; the entry's masks are
        // their cross product (ranges may expand to several prefixes).
        let mut combos: Vec<Vec<u128>> = vec![Vec::new()];
        for (key, m) in table.keys.iter().zip(&e.matches) {
            let width = key.field.width();
            let alts: Vec<u128> = match *m {
                KeyMatch::Ternary { mask, .. } => vec![mask],
                KeyMatch::Range { lo, hi } => {
                    let mut ms: Vec<u128> = range_to_prefixes(lo, hi, width)
                        .into_iter()
                        .map(|(_, m)| m)
                        .collect();
                    ms.sort();
                    ms.dedup();
                    ms
                }
                KeyMatch::Lpm { prefix_len, .. } => vec![super::prefix_mask(width, prefix_len)],
                KeyMatch::Exact(_) => vec![super::mask_of_width(width)],
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
        masks.extend(combos);
    }
    masks.len()
}
