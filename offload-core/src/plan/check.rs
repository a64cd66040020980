//! The one question every consumer asks: does this module fit this target?
//!
//! [`check`] compares a module's [`Requirements`] with a [`Profile`] and
//! returns every unmet requirement, in words, with the source of the limit.
//! The planner calls it for every candidate target; the eBPF backend calls it
//! before emitting code, and [`check_program`] after, with the real program.

use super::layout::{self, MapSpec};
use super::profile::{EbpfProfile, Family, Helper, MapType, P4Profile, Profile, XdpAction};
use crate::ir::{MatchKind, Requirements};
use std::fmt;

/// Which requirement is unmet (machine-readable; the message says it in words).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "need")]
pub enum Need {
    MatchKind {
        table: String,
        kind: MatchKind,
    },
    Redirect,
    Tx,
    Pass,
    Drop,
    Counters {
        table: String,
    },
    ChecksumRewrite,
    VlanPushPop,
    /// A hash key (CRC-32 over packet fields) the target cannot compute.
    HashKey {
        table: String,
    },
    /// VXLAN (keys on `vxlan.*`/`inner_*`, `vxlan_encap`, `vxlan_decap`)
    /// that the target's backend does not generate: `what` names the use.
    Vxlan {
        what: String,
    },
    /// A meter (per-entry token bucket) the target cannot keep exactly.
    Meter {
        table: String,
    },
    Helper {
        helper: Helper,
    },
    MapType {
        map_type: MapType,
    },
    MapEntries {
        map: String,
        entries: u64,
        limit: u64,
    },
    TotalEntries {
        entries: u64,
        limit: u64,
    },
    KeySize {
        map: String,
        bytes: u32,
        limit: u32,
    },
    ValueSize {
        map: String,
        bytes: u32,
        limit: u32,
    },
    ElemSize {
        map: String,
        bytes: u32,
        limit: u32,
    },
    MapCount {
        maps: u32,
        limit: u32,
    },
    Insns {
        insns: u32,
        limit: u32,
        estimated: bool,
    },
    Stack {
        bytes: u32,
        limit: u32,
    },
    TernaryMasks {
        table: String,
        masks: u32,
        limit: u32,
    },
    MapFlags,
    MapBtf,
    GlobalData,
    /// The target is not available on the device at all (no driver support…).
    Unavailable,
    /// Fits, but the user's options rule it out (`--mode`, `--strict`).
    NotSelected,
    /// The requirements fit, but the backend's compilation for this target failed.
    Compile,
    /// Split placement: a NIC stage's state the host half would need and
    /// the bytes do not carry (`ir::split::Carry`).
    SplitCarry {
        table: String,
    },
}

/// One unmet requirement: what is missing, said in words, and where the limit comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmet {
    #[serde(flatten)]
    pub need: Need,
    /// "table routes uses lpm; the NFP offload profile has no LPM trie"
    pub message: String,
    /// Where the limit comes from (a kernel file, a vendor document, a probe).
    pub source: String,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.source)
    }
}

fn unmet(need: Need, message: String, source: impl Into<String>) -> Unmet {
    Unmet {
        need,
        message,
        source: source.into(),
    }
}

/// Every requirement of `req` that `profile` does not meet. Empty: it fits.
pub fn check(req: &Requirements, profile: &Profile) -> Vec<Unmet> {
    let mut out = match &profile.family {
        Family::Ebpf(e) => check_ebpf(req, profile, e),
        Family::P4(p) => check_p4(req, profile, p),
    };
    if let Family::Ebpf(e) = &profile.family {
        let maps = layout::maps(req, e, max_masks(profile));
        check_budgets(&maps, profile, false, &mut out);
        if let Some(lim) = &profile.limits.max_insns {
            let est = layout::estimate_insns(req, max_masks(profile));
            if est > lim.value {
                out.push(unmet(
                    Need::Insns {
                        insns: est,
                        limit: lim.value,
                        estimated: true,
                    },
                    format!(
                        "the program needs about {est} instructions (estimate); {} allows {}",
                        profile.title, lim.value
                    ),
                    lim.source.clone(),
                ));
            }
        }
    }
    if profile.p4().is_some() {
        check_table_budgets(req, profile, &mut out);
    }
    check_masks(req, profile, &mut out);
    check_vxlan(req, profile, &mut out);
    out
}

/// VXLAN is defined in the reference interpreter only: no backend
/// generates it yet, so every target refuses it by name (never a
/// program that would parse, encapsulate or decapsulate differently).
fn check_vxlan(req: &Requirements, profile: &Profile, out: &mut Vec<Unmet>) {
    let backend = match &profile.family {
        Family::Ebpf(_) => "offload-ebpf",
        Family::P4(_) => "offload-p4",
    };
    // Beyond "not generated yet": what a target would lack even then. The
    // encap's UDP source port is a CRC-32 of the inner flow, which a
    // profile without hash keys (the NIC offload profiles: no loops) cannot
    // compute.
    if let Family::Ebpf(e) = &profile.family {
        if req.vxlan_encap && !e.hash_keys.value {
            out.push(unmet(
                Need::Vxlan {
                    what: "vxlan_encap's UDP source port (CRC-32 of the inner flow)".into(),
                },
                format!(
                    "vxlan_encap computes its UDP source port as a CRC-32 of the inner flow; {} does not compute hash keys",
                    profile.title
                ),
                e.hash_keys.source.clone(),
            ));
        }
    }
    for (used, what) in [
        (
            req.vxlan_parse,
            "VXLAN parsing (keys on vxlan.* or inner_* fields)",
        ),
        (req.vxlan_encap, "vxlan_encap"),
        (req.vxlan_decap, "vxlan_decap"),
    ] {
        if used {
            out.push(unmet(
                Need::Vxlan { what: what.into() },
                format!(
                    "the module uses {what}; {backend} does not generate VXLAN for {} yet (the reference interpreter defines it)",
                    profile.title
                ),
                "offload-core::semantics (VXLAN); README \"VXLAN\"",
            ));
        }
    }
}

/// Entry budgets counted per table (P4 targets: one table, one match unit).
fn check_table_budgets(req: &Requirements, profile: &Profile, out: &mut Vec<Unmet>) {
    let l = &profile.limits;
    if let Some(lim) = &l.max_entries_per_map {
        for t in &req.tables {
            if u64::from(t.size) > lim.value {
                out.push(unmet(
                    Need::MapEntries {
                        map: format!("table {}", t.name),
                        entries: t.size.into(),
                        limit: lim.value,
                    },
                    format!(
                        "table {} needs {} entries; {} allows at most {} per table",
                        t.name, t.size, profile.title, lim.value
                    ),
                    lim.source.clone(),
                ));
            }
        }
    }
    if let Some(lim) = &l.max_total_entries {
        if req.total_table_size > lim.value {
            out.push(unmet(
                Need::TotalEntries {
                    entries: req.total_table_size,
                    limit: lim.value,
                },
                format!(
                    "the module's tables hold {} entries in total; {} allows {}",
                    req.total_table_size, profile.title, lim.value
                ),
                lim.source.clone(),
            ));
        }
    }
}

fn max_masks(profile: &Profile) -> Option<u32> {
    profile.limits.max_ternary_masks.as_ref().map(|s| s.value)
}

fn check_ebpf(req: &Requirements, profile: &Profile, e: &EbpfProfile) -> Vec<Unmet> {
    let mut out = Vec::new();
    let title = &profile.title;
    if !e.hash_keys.value {
        for t in &req.hash_tables {
            out.push(unmet(
                Need::HashKey { table: t.clone() },
                format!(
                    "table {t} selects by a hash of packet fields (CRC-32, hash-selected groups); {title} does not compute hash keys"
                ),
                e.hash_keys.source.clone(),
            ));
        }
    }
    if !e.meters.value {
        for t in &req.meter_tables {
            out.push(unmet(
                Need::Meter { table: t.clone() },
                format!(
                    "table {t} has a meter (per-entry token buckets: a clock and a shared bucket updated under a lock); {title} has neither"
                ),
                e.meters.source.clone(),
            ));
        }
    }
    // Match kinds: each table's layout needs a map type.
    for t in &req.tables {
        let ty = layout::entries_map_type(&t.match_kinds);
        if !e.has_map(ty) {
            let kind = if ty == MapType::LpmTrie {
                MatchKind::Lpm
            } else {
                *t.match_kinds
                    .iter()
                    .next_back()
                    .unwrap_or(&MatchKind::Exact)
            };
            out.push(unmet(
                Need::MatchKind {
                    table: t.name.clone(),
                    kind,
                },
                format!(
                    "table {} uses {kind}; {title} has no {}",
                    t.name,
                    ty.described()
                ),
                e.map_types.source.clone(),
            ));
        }
        let tuple = t.match_kinds.contains(&MatchKind::Ternary)
            || t.match_kinds.contains(&MatchKind::Range);
        if tuple && !e.has_map(MapType::Array) {
            out.push(unmet(
                Need::MatchKind {
                    table: t.name.clone(),
                    kind: MatchKind::Ternary,
                },
                format!(
                    "table {} uses ternary/range (tuple-space search keeps its masks in an array map); {title} has no array map",
                    t.name
                ),
                e.map_types.source.clone(),
            ));
        }
        if t.counters {
            let cm = e.counter_map();
            if !e.has_map(cm) {
                out.push(unmet(
                    Need::Counters {
                        table: t.name.clone(),
                    },
                    format!(
                        "table {} has counters; {title} has no {}",
                        t.name,
                        cm.described()
                    ),
                    e.map_types.source.clone(),
                ));
            } else if cm == MapType::Array && !e.atomic_add.value {
                out.push(unmet(
                    Need::Counters {
                        table: t.name.clone(),
                    },
                    format!(
                        "table {} has counters; {title} has no per-CPU maps and no atomic add on map values",
                        t.name
                    ),
                    e.atomic_add.source.clone(),
                ));
            }
        }
    }
    // Forwarding to another port needs the return code, the helper and the map.
    if req.redirect {
        let mut missing = Vec::new();
        let mut sources = Vec::new();
        if !e.has_action(XdpAction::Redirect) {
            missing.push("no XDP_REDIRECT".to_string());
            sources.push(e.actions.source.clone());
        }
        if !e.has_helper(Helper::RedirectMap) {
            missing.push(format!("no {} helper", Helper::RedirectMap));
            sources.push(e.helpers.source.clone());
        }
        if !e.has_map(MapType::Devmap) {
            missing.push("no DEVMAP".to_string());
            sources.push(e.map_types.source.clone());
        }
        if !missing.is_empty() {
            sources.dedup();
            out.push(unmet(
                Need::Redirect,
                format!(
                    "the module forwards to another port (forward); {title} has {}",
                    missing.join(", ")
                ),
                sources.join("; "),
            ));
        }
    }
    let acts: &[(bool, XdpAction, Need, &str)] = &[
        (
            req.tx,
            XdpAction::Tx,
            Need::Tx,
            "sends packets back out (tx)",
        ),
        (
            req.pass,
            XdpAction::Pass,
            Need::Pass,
            "passes packets to the host (pass)",
        ),
        (
            req.drop,
            XdpAction::Drop,
            Need::Drop,
            "drops packets (drop)",
        ),
    ];
    for (used, act, need, what) in acts {
        if *used && !e.has_action(*act) {
            out.push(unmet(
                need.clone(),
                format!("the module {what}; {title} has no {}", act.name()),
                e.actions.source.clone(),
            ));
        }
    }
    // Helpers other than the redirect one (reported above).
    for (h, why) in layout::helpers(req, true) {
        if h == Helper::RedirectMap {
            continue;
        }
        if !e.has_helper(h) {
            out.push(unmet(
                Need::Helper { helper: h },
                format!("{why} needs {h}; {title} does not offer it"),
                e.helpers.source.clone(),
            ));
        }
    }
    out
}

/// Why P4 refuses meters (the README's "Meters" section says more).
const SRC_P4_METERS: &str = "v1model direct_meter and TNA DirectMeter are three-color (RFC 2697/2698-like) meters whose buckets refill in the switch's own units and time base; offload-p4 does not generate them, and no p4c/BMv2 was available to prove an equivalent here";

fn check_p4(req: &Requirements, profile: &Profile, p: &P4Profile) -> Vec<Unmet> {
    let mut out = Vec::new();
    let title = &profile.title;
    for t in &req.meter_tables {
        out.push(unmet(
            Need::Meter { table: t.clone() },
            format!(
                "table {t} has a meter (color-blind token buckets with an exact integer refill); {title} is not generated for meters yet"
            ),
            SRC_P4_METERS.to_string(),
        ));
    }
    for t in &req.tables {
        for k in &t.match_kinds {
            if !p.match_kinds.value.contains(k) {
                out.push(unmet(
                    Need::MatchKind {
                        table: t.name.clone(),
                        kind: *k,
                    },
                    format!("table {} uses {k}; {title} has no {k} match kind", t.name),
                    p.match_kinds.source.clone(),
                ));
            }
        }
        if t.counters && !p.direct_counters.value {
            out.push(unmet(
                Need::Counters {
                    table: t.name.clone(),
                },
                format!(
                    "table {} has counters; {title} has no direct counters",
                    t.name
                ),
                p.direct_counters.source.clone(),
            ));
        }
    }
    let flags = [
        (
            req.redirect,
            &p.forward,
            Need::Redirect,
            "forwards to another port",
        ),
        (
            req.tx,
            &p.tx,
            Need::Tx,
            "sends packets back out of their ingress port",
        ),
        (
            req.pass,
            &p.cpu_port,
            Need::Pass,
            "passes packets to the host (CPU port)",
        ),
        (
            req.ipv4_checksum_rewrite || req.l4_checksum_rewrite,
            &p.checksum_update,
            Need::ChecksumRewrite,
            "rewrites checksummed fields",
        ),
        (
            req.vlan_push || req.vlan_pop,
            &p.vlan_push_pop,
            Need::VlanPushPop,
            "pushes or pops VLAN tags",
        ),
    ];
    for (used, cap, need, what) in flags {
        if used && !cap.value {
            out.push(unmet(
                need,
                format!("the module {what}; {title} cannot"),
                cap.source.clone(),
            ));
        }
    }
    out
}

fn check_masks(req: &Requirements, profile: &Profile, out: &mut Vec<Unmet>) {
    let Some(lim) = &profile.limits.max_ternary_masks else {
        return;
    };
    for t in &req.tables {
        if t.ternary_masks as u64 > u64::from(lim.value) {
            out.push(unmet(
                Need::TernaryMasks {
                    table: t.name.clone(),
                    masks: t.ternary_masks as u32,
                    limit: lim.value,
                },
                format!(
                    "table {}'s entries use {} distinct masks; {} holds at most {}",
                    t.name, t.ternary_masks, profile.title, lim.value
                ),
                lim.source.clone(),
            ));
        }
    }
}

/// Budgets over a list of maps (planned or compiled).
fn check_budgets(maps: &[MapSpec], profile: &Profile, report_types: bool, out: &mut Vec<Unmet>) {
    let l = &profile.limits;
    let title = &profile.title;
    if let Some(e) = profile.ebpf() {
        // From requirements, a missing map type was already reported as the
        // match kind / counters / forward that needs it.
        if report_types {
            for m in maps.iter().filter(|m| !e.has_map(m.map_type)) {
                out.push(unmet(
                    Need::MapType {
                        map_type: m.map_type,
                    },
                    format!(
                        "{} is a {}; {title} has none",
                        m.describe(),
                        m.map_type.described()
                    ),
                    e.map_types.source.clone(),
                ));
            }
        }
    }
    let maps: Vec<&MapSpec> = maps
        .iter()
        .filter(|m| profile.ebpf().is_none_or(|e| e.has_map(m.map_type)))
        .collect();
    if let Some(lim) = &l.max_entries_per_map {
        for m in &maps {
            if u64::from(m.max_entries) > lim.value {
                out.push(unmet(
                    Need::MapEntries {
                        map: m.describe(),
                        entries: m.max_entries.into(),
                        limit: lim.value,
                    },
                    format!(
                        "{} need {} entries; {title} allows at most {} per map",
                        m.describe(),
                        m.max_entries,
                        lim.value
                    ),
                    lim.source.clone(),
                ));
            }
        }
    }
    if let Some(lim) = &l.max_total_entries {
        let total: u64 = maps.iter().map(|m| u64::from(m.max_entries)).sum();
        if total > lim.value {
            out.push(unmet(
                Need::TotalEntries {
                    entries: total,
                    limit: lim.value,
                },
                format!(
                    "the module's maps hold {total} entries in total; {title} allows {}",
                    lim.value
                ),
                lim.source.clone(),
            ));
        }
    }
    for m in &maps {
        if let Some(lim) = &l.max_key_bytes {
            if m.key_size > lim.value {
                out.push(unmet(
                    Need::KeySize {
                        map: m.describe(),
                        bytes: m.key_size,
                        limit: lim.value,
                    },
                    format!(
                        "{} have {}-byte keys; {title} allows {} bytes",
                        m.describe(),
                        m.key_size,
                        lim.value
                    ),
                    lim.source.clone(),
                ));
            }
        }
        if let Some(lim) = &l.max_value_bytes {
            if m.value_size > lim.value {
                out.push(unmet(
                    Need::ValueSize {
                        map: m.describe(),
                        bytes: m.value_size,
                        limit: lim.value,
                    },
                    format!(
                        "{} have {}-byte values; {title} allows {} bytes",
                        m.describe(),
                        m.value_size,
                        lim.value
                    ),
                    lim.source.clone(),
                ));
            }
        }
        if let Some(lim) = &l.max_elem_bytes {
            let elem = m.key_size.div_ceil(8) * 8 + m.value_size.div_ceil(8) * 8;
            if elem > lim.value {
                out.push(unmet(
                    Need::ElemSize {
                        map: m.describe(),
                        bytes: elem,
                        limit: lim.value,
                    },
                    format!(
                        "{} need {elem} bytes per element (key and value rounded up to 8); {title} allows {}",
                        m.describe(),
                        lim.value
                    ),
                    lim.source.clone(),
                ));
            }
        }
    }
    if let Some(lim) = &l.max_maps {
        let n = maps.len() as u32;
        if n > lim.value {
            out.push(unmet(
                Need::MapCount {
                    maps: n,
                    limit: lim.value,
                },
                format!("the module needs {n} maps; {title} allows {}", lim.value),
                lim.source.clone(),
            ));
        }
    }
}

/// What a compiled eBPF program actually uses, as the backend knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ProgramFacts {
    pub insns: u32,
    pub stack_bytes: u32,
    pub maps: Vec<MapSpec>,
    pub helpers: Vec<Helper>,
    pub actions: Vec<XdpAction>,
    /// Any map created with flags != 0.
    pub map_flags: bool,
    /// Maps described with BTF key/value types.
    pub map_btf: bool,
    /// `.data`/`.bss`/`.rodata` sections.
    pub global_data: bool,
}

/// Every way a compiled program exceeds `profile`. Empty: it fits.
pub fn check_program(p: &ProgramFacts, profile: &Profile) -> Vec<Unmet> {
    let mut out = Vec::new();
    let title = &profile.title;
    if let Some(e) = profile.ebpf() {
        for h in &p.helpers {
            if !e.has_helper(*h) {
                out.push(unmet(
                    Need::Helper { helper: *h },
                    format!("the program calls {h}; {title} does not offer it"),
                    e.helpers.source.clone(),
                ));
            }
        }
        for a in &p.actions {
            if !e.has_action(*a) {
                out.push(unmet(
                    match a {
                        XdpAction::Redirect => Need::Redirect,
                        XdpAction::Tx => Need::Tx,
                        XdpAction::Pass => Need::Pass,
                        _ => Need::Drop,
                    },
                    format!(
                        "the program returns {}; {title} has no {}",
                        a.name(),
                        a.name()
                    ),
                    e.actions.source.clone(),
                ));
            }
        }
        let flags = [
            (
                p.map_flags,
                &e.map_flags,
                Need::MapFlags,
                "creates maps with flags",
            ),
            (
                p.map_btf,
                &e.map_btf,
                Need::MapBtf,
                "describes maps with BTF key/value types",
            ),
            (
                p.global_data,
                &e.global_data,
                Need::GlobalData,
                "uses global data",
            ),
        ];
        for (used, cap, need, what) in flags {
            if used && !cap.value {
                out.push(unmet(
                    need,
                    format!("the program {what}; {title} refuses that"),
                    cap.source.clone(),
                ));
            }
        }
    }
    check_budgets(&p.maps, profile, true, &mut out);
    if let Some(lim) = &profile.limits.max_insns {
        if p.insns > lim.value {
            out.push(unmet(
                Need::Insns {
                    insns: p.insns,
                    limit: lim.value,
                    estimated: false,
                },
                format!(
                    "the program has {} instructions; {title} allows {}",
                    p.insns, lim.value
                ),
                lim.source.clone(),
            ));
        }
    }
    if let Some(lim) = &profile.limits.max_stack_bytes {
        if p.stack_bytes > lim.value {
            out.push(unmet(
                Need::Stack {
                    bytes: p.stack_bytes,
                    limit: lim.value,
                },
                format!(
                    "the program uses {} bytes of stack; {title} allows {}",
                    p.stack_bytes, lim.value
                ),
                lim.source.clone(),
            ));
        }
    }
    out
}

/// Things that fit but deserve a word (e.g. many ternary masks: one probe each).
pub fn advise(req: &Requirements, profile: &Profile) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(bound) = profile.limits.ternary_mask_warn {
        for t in &req.tables {
            if t.ternary_masks as u32 > bound {
                w.push(format!(
                    "table {} uses {} distinct masks; tuple-space search costs one hash probe per mask (more than {bound} on {})",
                    t.name, t.ternary_masks, profile.title
                ));
            }
        }
    }
    if let Some(lim) = &profile.limits.max_total_entries {
        if let Some(e) = profile.ebpf() {
            let total: u64 = layout::maps(req, e, max_masks(profile))
                .iter()
                .map(|m| u64::from(m.max_entries))
                .sum();
            if total <= lim.value && total * 10 > lim.value * 9 {
                w.push(format!(
                    "the module's maps use {total} of {} entries on {}",
                    lim.value, profile.title
                ));
            }
        }
    }
    if profile.p4().is_some() {
        let total = req.total_table_size;
        if total > 0 {
            w.push(format!(
                "table sizes ({total} entries in total) are checked by the switch compiler, not here"
            ));
        }
    }
    w
}
