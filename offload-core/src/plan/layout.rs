//! The eBPF map layout a module's requirements imply on a profile.
//!
//! This is the planner's model of what `offload-ebpf` emits (DESIGN §5):
//! exact → HASH, lpm → LPM_TRIE (4-byte prefix length + key), ternary/range →
//! tuple-space search (a HASH of masked keys plus an ARRAY of masks), counters
//! → per-CPU ARRAY where the profile has one, else a plain ARRAY updated with
//! atomic adds, `forward` → DEVMAP. The budgets in [`super::check`] count these
//! maps; after compiling, [`super::check_program`] counts the real ones.

use super::profile::{EbpfProfile, Helper, MapType, XdpAction};
use crate::ir::{MatchKind, Requirements, TableRequirements};

/// Slots of the DEVMAP that `forward(port)` redirects through (logical ports are u16,
/// modules declare a handful; the map is sized for 64).
pub const DEVMAP_ENTRIES: u32 = 64;

/// Why a map exists (for messages).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "table")]
pub enum MapRole {
    /// The entries of a table.
    Entries(String),
    /// The mask list of a tuple-space table.
    Masks(String),
    /// Per-entry counters of a table.
    Counters(String),
    /// Logical port → ifindex, for `bpf_redirect_map`.
    Ports,
}

/// One map: what the kernel is asked to create.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MapSpec {
    pub role: MapRole,
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

impl MapSpec {
    pub fn describe(&self) -> String {
        match &self.role {
            MapRole::Entries(t) => format!("table {t}'s entries"),
            MapRole::Masks(t) => format!("table {t}'s mask list"),
            MapRole::Counters(t) => format!("table {t}'s counters"),
            MapRole::Ports => "the port map".to_string(),
        }
    }
}

/// The map type a table's entries live in, given its match kinds.
pub fn entries_map_type(kinds: &std::collections::BTreeSet<MatchKind>) -> MapType {
    if kinds.contains(&MatchKind::Ternary) || kinds.contains(&MatchKind::Range) {
        MapType::Hash // tuple-space search: masked keys in a hash
    } else if kinds.contains(&MatchKind::Lpm) {
        MapType::LpmTrie
    } else {
        MapType::Hash
    }
}

fn round4(n: u32) -> u32 {
    n.div_ceil(4) * 4
}

/// Value of an entries map: action id (4) + parameters (rounded to 4) + counter slot (4).
fn value_size(t: &TableRequirements) -> u32 {
    4 + round4(t.param_bytes) + if t.counters { 4 } else { 0 }
}

/// Masks a tuple-space table is built for: what its given entries need, at
/// least one, at most the profile's bound (the check reports the overflow).
pub fn mask_slots(t: &TableRequirements, max: Option<u32>) -> u32 {
    let need = (t.ternary_masks as u32).max(1);
    match max {
        Some(m) => need.min(m).max(1),
        None => need,
    }
}

/// The maps a module needs on an eBPF profile, in a stable order.
pub fn maps(req: &Requirements, prof: &EbpfProfile, max_masks: Option<u32>) -> Vec<MapSpec> {
    let mut out = Vec::new();
    for t in &req.tables {
        let ty = entries_map_type(&t.match_kinds);
        let tuple = t.match_kinds.contains(&MatchKind::Ternary)
            || t.match_kinds.contains(&MatchKind::Range);
        // Tuple-space keys carry a 4-byte mask index before the masked key;
        // LPM trie keys carry the 4-byte prefix length first.
        let key_size = match ty {
            MapType::LpmTrie => 4 + round4(t.key_bytes),
            _ if tuple => 4 + round4(t.key_bytes),
            _ => round4(t.key_bytes.max(1)),
        };
        out.push(MapSpec {
            role: MapRole::Entries(t.name.clone()),
            map_type: ty,
            key_size,
            value_size: value_size(t),
            max_entries: t.size.max(1),
        });
        if tuple {
            out.push(MapSpec {
                role: MapRole::Masks(t.name.clone()),
                map_type: MapType::Array,
                key_size: 4,
                value_size: round4(t.key_bytes),
                max_entries: mask_slots(t, max_masks),
            });
        }
        if t.counters {
            // One slot per entry plus one for the default action.
            out.push(MapSpec {
                role: MapRole::Counters(t.name.clone()),
                map_type: prof.counter_map(),
                key_size: 4,
                value_size: 16, // packets + bytes, u64 each
                max_entries: t.size.saturating_add(1),
            });
        }
    }
    if req.redirect {
        out.push(MapSpec {
            role: MapRole::Ports,
            map_type: MapType::Devmap,
            key_size: 4,
            value_size: 4,
            max_entries: DEVMAP_ENTRIES,
        });
    }
    out
}

/// Helpers the generated program calls. Checksums are updated inline (RFC 1624
/// arithmetic), so no checksum helper is needed.
pub fn helpers(req: &Requirements, xdp: bool) -> Vec<(Helper, &'static str)> {
    let mut h = Vec::new();
    if !req.tables.is_empty() {
        h.push((Helper::MapLookupElem, "table lookups"));
    }
    if req.redirect {
        h.push((
            if xdp {
                Helper::RedirectMap
            } else {
                Helper::Redirect
            },
            "forward (redirect to another port)",
        ));
    }
    if req.vlan_push || req.vlan_pop {
        if xdp {
            h.push((
                Helper::XdpAdjustHead,
                "push_vlan/pop_vlan (moving the packet start)",
            ));
        } else {
            if req.vlan_push {
                h.push((Helper::SkbVlanPush, "push_vlan"));
            }
            if req.vlan_pop {
                h.push((Helper::SkbVlanPop, "pop_vlan"));
            }
        }
    }
    // The packet start moves by the 50 (or more) outer bytes. On tc it
    // would be bpf_skb_adjust_room / bpf_skb_change_head, which the Helper
    // catalogue does not list yet: VXLAN is refused there by Need::Vxlan.
    if xdp && (req.vxlan_encap || req.vxlan_decap) {
        h.push((
            Helper::XdpAdjustHead,
            "vxlan_encap/vxlan_decap (moving the packet start)",
        ));
    }
    h
}

/// XDP return codes the program returns, with the reason.
pub fn actions(req: &Requirements) -> Vec<(XdpAction, &'static str)> {
    // PASS and DROP are always emitted: default verdicts, parse failures.
    let mut a = vec![
        (XdpAction::Pass, "pass / the default verdict"),
        (XdpAction::Drop, "drop / the default verdict"),
    ];
    if req.tx {
        a.push((XdpAction::Tx, "tx (back out of the ingress port)"));
    }
    if req.redirect {
        a.push((XdpAction::Redirect, "forward (redirect to another port)"));
    }
    a
}

/// A rough instruction count for the program the backend will emit, used to
/// plan against small instruction budgets before compiling. Deliberately
/// generous; the compiled program is checked exactly by `check_program`.
pub fn estimate_insns(req: &Requirements, max_masks: Option<u32>) -> u32 {
    // Parser: Ethernet, up to two VLAN tags, IPv4/IPv6, L4 with bounds checks.
    let mut n: u32 = 40 + 12 * req.headers.len() as u32;
    for t in &req.tables {
        // Key assembly: ~6 instructions per key byte group of 4.
        let key = 6 * t.key_bytes.div_ceil(4).max(1);
        let lookup = 12; // key pointer, map load (2 slots), call, null check
        let probes = if t.match_kinds.contains(&MatchKind::Ternary)
            || t.match_kinds.contains(&MatchKind::Range)
        {
            // Unrolled: per mask, load mask words, AND, look up, compare priority.
            mask_slots(t, max_masks) * (key + lookup + 8)
        } else {
            key + lookup
        };
        let counter = if t.counters { 14 } else { 0 };
        let dispatch = 10 + 4 * t.param_bytes.div_ceil(4);
        n += probes + counter + dispatch;
    }
    if req.rewrite {
        n += 30;
    }
    if req.ipv4_checksum_rewrite || req.l4_checksum_rewrite || req.dec_ttl {
        n += 40;
    }
    if req.vlan_push || req.vlan_pop {
        n += 30;
    }
    if req.redirect {
        n += 10;
    }
    // The sum above counts the work; offload-ebpf's output for the example
    // modules is 1.7–2.7 times that (bounds checks, spills, verdict blocks),
    // so scale to stay above it. `tests/plan_fixtures.rs` keeps this honest.
    n * 3
}
