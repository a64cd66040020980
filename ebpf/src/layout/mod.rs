//! Table layouts: how a module's tables, counters and ports live in BPF maps.
//!
//! This is the contract between the generated program and whoever writes
//! entries (the drivers, tests): [`for_module`] describes every map, and
//! [`TableLayout::encode_entries`] / [`TableLayout::encode_default`] give the
//! exact key/value bytes to write. Nothing here touches the system.
//!
//! # Maps (names are ELF symbols; ≤ 15 bytes so the kernel keeps them whole)
//! | name | type | key | value | entries |
//! |---|---|---|---|---|
//! | `t{N}_e_<table>` exact | HASH | key bytes, padded to 4 | [`ValueLayout`] | `size` |
//! | `t{N}_e_<table>` lpm   | LPM_TRIE (`BPF_F_NO_PREALLOC`) | u32 prefix length + exact parts + lpm field | value | `size` |
//! | `t{N}_e_<table>` ternary/range/mixed | HASH | mask bytes ‖ (key & mask) | value | `size × expansion` |
//! | `t{N}_m_<table>` (tuple space only) | ARRAY | u32 index | u32 used, u32 max priority, mask bytes | `max_masks` (or the table's [`Capacity`]) |
//! | `t{N}_d_<table>` | ARRAY | u32 0 | the default action's value | 1 |
//! | `t{N}_c_<table>` (counters = true) | PERCPU_ARRAY (ARRAY + atomic adds where the target has no per-CPU maps) | u32 slot | u64 packets, u64 bytes | capacity + 1 (last = default action; capacity = `size` unless a [`Capacity`] says less) |
//! | `ports` (module forwards) | DEVMAP (xdp) / ARRAY (tc) | u32 logical port | u32 ifindex (+ u32 program fd 0 for DEVMAP) | max port id + 1 |
//! | `in_ports` (module reads `meta.in_port`) | HASH | u32 ifindex | u32 logical port | 256 |
//! | `scratch` (kernel, tuple-space tables) | PERCPU_ARRAY | u32 0 | program-private | 1 |
//! | `t{N}_r_<table>` (metered tables) | ARRAY, BTF-described | u32 slot | [`METER_BUCKET_BYTES`]: `bpf_spin_lock`, u32 pad, u64 deficit, u64 last_ns | `size + 1` |
//! | `clock` (modules with meters) | ARRAY | u32 0 | u64 ns; 0 = `bpf_ktime_get_ns()` | 1 |
//!
//! **Meters**: a metered table's value ends with the entry's rate at
//! [`ValueLayout::meter_off`]: u64 rate (nano-tokens per ns), u64 capacity
//! (`burst × 10^9`), u64 `fill_ns` (`capacity / rate`), host order, written
//! with the entry ([`TableLayout::encode_entries`]); the bucket state lives
//! in the `r` array at the entry's counter slot, all zero = a full bucket
//! (`offload_core::ir::Bucket`). The state is shared by all CPUs and updated
//! under the value's `bpf_spin_lock`, so the kernel's buckets are exactly
//! the reference's. `clock` is always present in a metered module and
//! always 0 in a deployment (nothing writes it): a non-zero value replaces
//! the program's time, which is how tests run timed frames under
//! BPF_PROG_TEST_RUN with the reference's timestamps. It is not a test-only
//! build so that the object tested is the object deployed; the price is one
//! array lookup per metered hit.
//!
//! **Key bytes**: each key field in network byte order, right-aligned in
//! `ceil(width/8)` bytes (a VLAN id 0x123 is `01 23`), fields concatenated in
//! key order (lpm: exact parts first, then the lpm field, so the prefix length
//! `8 × exact bytes + prefix` covers the exact parts). A packet whose ingress
//! interface is not in `in_ports` has `meta.in_port` = 0xffff.
//!
//! **Tuple-space search**: an entry becomes one hash element per combination
//! of its keys' (value, mask) prefixes (ranges expanded with
//! [`range_to_prefixes`]); the program probes the hash once per mask listed
//! in the masks array, in order, and keeps the highest priority. The masks
//! array lists distinct masks sorted by their highest priority (descending),
//! terminated by `used = 0`; the program stops early once its best hit
//! outranks every remaining mask. Two elements with the same key keep the
//! higher priority (the lower can never win on that key).
//!
//! **Default action**: kept in the `t{N}_d_*` array (written at load time
//! from [`TableLayout::encode_default`]), so it can be changed at run time.

mod key;
mod value;

pub use key::{KeyPart, KeyShape};
pub use value::{
    ParamSlot, ValueLayout, ACTION_OFF, METER_CAP, METER_FILL, METER_RATE, PARAMS_OFF,
    PRIORITY_OFF, SLOT_OFF,
};

use crate::elf::{map_type, DataType, Field as ElfField, MapDef, BPF_F_NO_PREALLOC};
use offload_core::ir::{
    prefix_mask, range_to_prefixes, ActionCall, Entry, Field, KeyMatch, MatchKind, Module,
    Primitive, Table, TableId,
};
use std::collections::BTreeMap;
use thiserror::Error;

/// Bound on the masks of one tuple-space table (the masks array size) unless
/// the profile says otherwise.
pub const DEFAULT_MAX_MASKS: u32 = 64;
/// Slots of `in_ports` (ifindex → logical port).
pub const IN_PORTS_ENTRIES: u32 = 256;
/// `meta.in_port` of a packet from an interface not in `in_ports`.
pub const UNKNOWN_IN_PORT: u32 = 0xffff;
/// Bytes of the scratch map's value: u64 validity bits, tag count, L4 offset.
pub const SCRATCH_BYTES: u32 = 24;
/// Where a hash key's input length (u32) sits in the scratch value.
pub const SCRATCH_HASH_LEN: i16 = 24;
/// Where a hash key's CRC in progress (u32) sits in the scratch value.
pub const SCRATCH_HASH_CRC: i16 = 28;
/// Where a hash key's input bytes start in the scratch value.
pub const SCRATCH_HASH_BUF: i16 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Xdp,
    Tc,
}

/// How a table's entries are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableKind {
    /// HASH on the full key.
    Exact,
    /// LPM_TRIE on prefix length + key (exact parts first).
    Lpm,
    /// Tuple-space search: HASH of (mask, masked key) + ARRAY of masks.
    TupleSpace { max_masks: u32 },
}

/// Why a map a layout describes exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MapRole {
    Entries(TableId),
    Masks(TableId),
    Default(TableId),
    Counters(TableId),
    /// logical port → ifindex (DEVMAP for XDP, ARRAY for tc).
    Ports,
    /// ifindex → logical port, for `meta.in_port`.
    InPorts,
    /// Per-CPU scratch the program parks its parse state in around a
    /// tuple-space search loop (see `codegen::table`); never written by drivers.
    Scratch,
    /// The CRC-32 table of hash keys: one element of 256 u32 (host order),
    /// [`crc32_table_value`], written by the loader before the program runs.
    Crc32Table,
    /// A metered table's buckets (one per counter slot), locked values.
    Meters(TableId),
    /// The time override of metered modules (0 = the kernel's clock).
    Clock,
}

/// Bytes of one bucket in a `t{N}_r_*` array.
pub const METER_BUCKET_BYTES: u32 = 24;
/// Where a bucket's `bpf_spin_lock` sits.
pub const BUCKET_LOCK: i16 = 0;
/// Where a bucket's deficit (u64 nano-tokens) sits.
pub const BUCKET_DEFICIT: i16 = 8;
/// Where a bucket's last refill time (u64 ns) sits.
pub const BUCKET_LAST: i16 = 16;

/// The BTF value type of a bucket: the kernel finds the lock through it
/// (`btf_find_spin_lock` needs a top-level `struct bpf_spin_lock` member).
pub fn meter_bucket_type() -> DataType {
    let u64f = |name: &str, offset| ElfField {
        name: name.into(),
        offset,
        ty: DataType::Uint { bytes: 8 },
    };
    DataType::Struct {
        name: Some("meter_bucket".into()),
        size: METER_BUCKET_BYTES,
        fields: vec![
            ElfField {
                name: "lock".into(),
                offset: 0,
                ty: DataType::Struct {
                    name: Some("bpf_spin_lock".into()),
                    size: 4,
                    fields: vec![ElfField {
                        name: "val".into(),
                        offset: 0,
                        ty: DataType::Uint { bytes: 4 },
                    }],
                },
            },
            u64f("deficit", 8),
            u64f("last_ns", 16),
        ],
    }
}

/// The value the `crc32` map holds: the 256 entries of zlib's reflected
/// CRC-32 table (polynomial 0xEDB88320), u32 each in host order.
pub fn crc32_table_value() -> Vec<u8> {
    let mut v = Vec::with_capacity(1024);
    for i in 0..256u32 {
        let t = (0..8).fold(i, |c, _| {
            if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            }
        });
        v.extend_from_slice(&t.to_ne_bytes());
    }
    v
}

/// One map to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    pub role: MapRole,
    /// `BPF_MAP_TYPE_*` (see [`crate::elf::map_type`]).
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

impl MapSpec {
    pub fn to_def(&self) -> MapDef {
        let mut d = MapDef::sized(
            self.name.clone(),
            self.map_type,
            self.key_size,
            self.value_size,
            self.max_entries,
        );
        d.map_flags = self.map_flags;
        if let MapRole::Meters(_) = self.role {
            d.key_type = Some(DataType::Uint { bytes: 4 });
            d.value_type = Some(meter_bucket_type());
        }
        d
    }
}

/// The maps of one table and how its keys and values are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    pub table: TableId,
    pub name: String,
    pub kind: TableKind,
    pub key: KeyShape,
    pub value: ValueLayout,
    pub entries_map: String,
    pub masks_map: Option<String>,
    pub default_map: String,
    pub counters_map: Option<String>,
    /// The buckets of a metered table (indexed by counter slot).
    pub meters_map: Option<String>,
    /// Counter slot of the default action in the counters map (= the
    /// table's counter capacity: its size unless the program was built
    /// with less, see [`Capacity`]). State and status call it slot `size`
    /// whatever the capacity ([`TableLayout::logical_slot`]).
    pub default_slot: u32,
    /// The table's declared size.
    pub size: u32,
}

/// How much of a table's declared room one program is built with. A
/// deployment sizes counters and tuple-space masks to what its entries need
/// (with room to grow) instead of `size` and the profile's mask bound: a
/// 65,537-slot per-CPU counter array took ~50 ms of the kernel's time to
/// create, and the verifier walks the mask loop once per mask slot. `None`
/// is the full room. Entries beyond a capacity need a new program (a
/// hitless re-apply with a larger one), never a silent miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Capacity {
    /// Counter slots for entries (the default action's slot comes after).
    pub counters: Option<u32>,
    /// Masks the tuple-space masks array holds.
    pub masks: Option<u32>,
}

impl Capacity {
    /// The smallest power-of-two room of at least twice `need` and at least
    /// `floor`, never above `max`: growth doubles, so a table filled one
    /// entry at a time is rebuilt O(log n) times.
    pub fn room(need: u32, floor: u32, max: u32) -> u32 {
        need.saturating_mul(2)
            .max(floor)
            .checked_next_power_of_two()
            .unwrap_or(u32::MAX)
            .min(max)
            .max(need.min(max))
    }
}

impl Capacity {
    /// Counter slots a sized program has at least (a 257-slot per-CPU array
    /// is created in well under a millisecond).
    pub const COUNTER_FLOOR: u32 = 256;
    /// Masks a sized program has at least.
    pub const MASK_FLOOR: u32 = 4;
}

/// What a table's entries need of a program (see [`TableLayout::need`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Need {
    /// One more than the highest counter slot an entry uses.
    pub slots: u32,
    /// Distinct tuple-space masks.
    pub masks: u32,
}

/// Capacities by table name (absent: the full room).
pub type Capacities = BTreeMap<String, Capacity>;

/// Every map of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLayout {
    pub hook: Hook,
    pub tables: Vec<TableLayout>,
    pub maps: Vec<MapSpec>,
    /// Name of the port map, if the module forwards.
    pub ports_map: Option<String>,
    /// Name of the ifindex → port map, if the module reads `meta.in_port`.
    pub in_ports_map: Option<String>,
    /// Name of the per-CPU scratch map, if the program uses one.
    pub scratch_map: Option<String>,
    /// Name of the CRC-32 table map (hash keys on kernel targets): the
    /// loader writes [`crc32_table_value`] at key 0.
    pub crc32_map: Option<String>,
    /// Name of the clock override map (modules with meters); see the module doc.
    pub clock_map: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    #[error("table `{table}`: entry {entry} has {got} matches for {want} keys")]
    EntryShape {
        table: String,
        entry: usize,
        got: usize,
        want: usize,
    },
    #[error(
        "table `{table}`: entry {entry} uses action id {action}, not one of the table's actions"
    )]
    UnknownAction {
        table: String,
        entry: usize,
        action: u32,
    },
    #[error(
        "table `{table}`: entry {entry} matches with a {got} key where the table wants {want}"
    )]
    MatchKind {
        table: String,
        entry: usize,
        got: &'static str,
        want: MatchKind,
    },
    #[error("table `{table}` needs {masks} distinct masks but its layout holds {max}; raise the mask bound or merge masks")]
    TooManyMasks {
        table: String,
        masks: usize,
        max: u32,
    },
    #[error("map `{map}`: {what} is {got} bytes, expected {want}")]
    BadBytes {
        map: String,
        what: &'static str,
        got: usize,
        want: usize,
    },
}

/// Map name: `t{id}_{kind}_{table}` cut to 15 bytes, non-identifier chars → `_`.
fn map_name(id: TableId, kind: char, table: &str) -> String {
    let mut s = format!("t{}_{}_", id.0, kind);
    for c in table.chars() {
        s.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    s.truncate(15);
    s
}

impl TableLayout {
    fn new(module: &Module, table: &Table, max_masks: u32, cap: Capacity) -> TableLayout {
        let kind = if table.needs_priority() {
            TableKind::TupleSpace {
                max_masks: cap.masks.map_or(max_masks, |m| m.clamp(1, max_masks)),
            }
        } else if table.lpm_key().is_some() {
            TableKind::Lpm
        } else {
            TableKind::Exact
        };
        let key = KeyShape::new(table, kind);
        let value = ValueLayout::new(module, table);
        let id = table.id;
        TableLayout {
            table: id,
            name: table.name.clone(),
            kind,
            key,
            value,
            entries_map: map_name(id, 'e', &table.name),
            masks_map: matches!(kind, TableKind::TupleSpace { .. })
                .then(|| map_name(id, 'm', &table.name)),
            default_map: map_name(id, 'd', &table.name),
            counters_map: table.counters.then(|| map_name(id, 'c', &table.name)),
            meters_map: table
                .meter
                .is_some()
                .then(|| map_name(id, 'r', &table.name)),
            default_slot: cap.counters.map_or(table.size, |c| c.min(table.size)),
            size: table.size,
        }
    }

    /// Counter slots entries can take in this program (slots `0..this`).
    pub fn counter_room(&self) -> u32 {
        self.default_slot
    }

    /// Masks the masks array holds (0: not a tuple-space table).
    pub fn mask_room(&self) -> u32 {
        match self.kind {
            TableKind::TupleSpace { max_masks } => max_masks,
            _ => 0,
        }
    }

    /// What `entries` (each with its counter slot) need of a program:
    /// counter slots `0..slots` and `masks` distinct tuple-space masks.
    /// Linear in the entries; masks only (no values) for tuple space.
    pub fn need<'e>(
        &self,
        table: &Table,
        entries: impl IntoIterator<Item = (&'e Entry, u32)>,
    ) -> Need {
        let tuple = matches!(self.kind, TableKind::TupleSpace { .. });
        let padded = self.key.padded as usize;
        let mut masks: std::collections::HashSet<Vec<u8>> = Default::default();
        let mut slots = 0u32;
        for (e, slot) in entries {
            slots = slots.max(slot.saturating_add(1));
            if !tuple || e.matches.len() != table.keys.len() {
                continue;
            }
            let mut combos: Vec<Vec<u8>> = vec![vec![0; padded]];
            for part in &self.key.parts {
                let width = table.keys[part.key_index].field.width();
                let alts: Vec<u128> = match e.matches[part.key_index] {
                    KeyMatch::Exact(_) => vec![prefix_mask(width, width)],
                    KeyMatch::Lpm { prefix_len, .. } => vec![prefix_mask(width, prefix_len)],
                    KeyMatch::Ternary { mask, .. } => vec![mask],
                    KeyMatch::Range { lo, hi } => {
                        let mut ms: Vec<u128> = range_to_prefixes(lo, hi, width)
                            .into_iter()
                            .map(|(_, m)| m)
                            .collect();
                        ms.sort_unstable();
                        ms.dedup();
                        ms
                    }
                };
                let mut next = Vec::with_capacity(combos.len() * alts.len());
                for m in &combos {
                    for am in &alts {
                        let mut m = m.clone();
                        part.write(&mut m, *am);
                        next.push(m);
                    }
                }
                combos = next;
            }
            masks.extend(combos);
        }
        Need {
            slots,
            masks: masks.len() as u32,
        }
    }

    /// The room a program built for `need` gets: twice what is needed (a
    /// power of two), at least [`Capacity::COUNTER_FLOOR`] counter slots and
    /// [`Capacity::MASK_FLOOR`] masks, never more than the full room.
    pub fn capacity_for(&self, table: &Table, need: Need) -> Capacity {
        Capacity {
            counters: table
                .counters
                .then(|| Capacity::room(need.slots, Capacity::COUNTER_FLOOR, table.size)),
            masks: match self.kind {
                TableKind::TupleSpace { max_masks } => {
                    Some(Capacity::room(need.masks, Capacity::MASK_FLOOR, max_masks))
                }
                _ => None,
            },
        }
    }

    /// Whether a program built with this layout holds `need`.
    pub fn holds(&self, table: &Table, need: Need) -> bool {
        (!table.counters || need.slots <= self.counter_room())
            && (!matches!(self.kind, TableKind::TupleSpace { .. })
                || need.masks <= self.mask_room())
    }

    /// The slot state and status use for counters-map index `physical`:
    /// the default action's slot is `size` whatever the capacity.
    pub fn logical_slot(&self, physical: u32) -> u32 {
        if physical == self.default_slot {
            self.size
        } else {
            physical
        }
    }

    /// Bytes of the entries map's key.
    pub fn entries_key_size(&self) -> u32 {
        match self.kind {
            TableKind::Exact => self.key.padded,
            TableKind::Lpm => 4 + self.key.bytes,
            TableKind::TupleSpace { .. } => 2 * self.key.padded,
        }
    }

    /// Bytes of one masks-array value: u32 used, u32 max priority, mask.
    pub fn mask_value_size(&self) -> u32 {
        8 + self.key.padded
    }

    fn maps(&self, table: &Table) -> Vec<MapSpec> {
        let mut maps = Vec::new();
        let (ty, flags, entries) = match self.kind {
            TableKind::Exact => (map_type::HASH, 0, table.size),
            TableKind::Lpm => (map_type::LPM_TRIE, BPF_F_NO_PREALLOC, table.size),
            // Ranges expand to several elements per entry; leave room for it.
            TableKind::TupleSpace { .. } => (map_type::HASH, 0, table.size.saturating_mul(4)),
        };
        maps.push(MapSpec {
            name: self.entries_map.clone(),
            role: MapRole::Entries(self.table),
            map_type: ty,
            key_size: self.entries_key_size(),
            value_size: self.value.size,
            max_entries: entries.max(1),
            map_flags: flags,
        });
        if let (Some(m), TableKind::TupleSpace { max_masks }) = (&self.masks_map, self.kind) {
            maps.push(MapSpec {
                name: m.clone(),
                role: MapRole::Masks(self.table),
                map_type: map_type::ARRAY,
                key_size: 4,
                value_size: self.mask_value_size(),
                max_entries: max_masks,
                map_flags: 0,
            });
        }
        maps.push(MapSpec {
            name: self.default_map.clone(),
            role: MapRole::Default(self.table),
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size: self.value.size,
            max_entries: 1,
            map_flags: 0,
        });
        if let Some(c) = &self.counters_map {
            maps.push(MapSpec {
                name: c.clone(),
                role: MapRole::Counters(self.table),
                map_type: map_type::PERCPU_ARRAY,
                key_size: 4,
                value_size: 16,
                max_entries: self.default_slot + 1,
                map_flags: 0,
            });
        }
        if let Some(r) = &self.meters_map {
            maps.push(MapSpec {
                name: r.clone(),
                role: MapRole::Meters(self.table),
                map_type: map_type::ARRAY,
                key_size: 4,
                value_size: METER_BUCKET_BYTES,
                max_entries: table.size + 1,
                map_flags: 0,
            });
        }
        maps
    }

    /// An entry's value with its meter rate (metered tables) written in.
    fn entry_value(&self, table: &Table, e: &Entry, slot: u32, priority: u32) -> Vec<u8> {
        let mut v = self.value.encode(&e.action, slot, priority);
        self.value.write_meter(&mut v, table.meter_rate(e));
        v
    }

    /// The meter rate an entry value holds (`None`: the table is not
    /// metered), in canonical form: `None` inside when it is the table's default.
    pub fn decode_meter(
        &self,
        table: &Table,
        bytes: &[u8],
    ) -> Option<Option<offload_core::ir::MeterRate>> {
        let m = table.meter.as_ref()?;
        let r = self.value.read_meter(bytes)?;
        Some((r != m.default).then_some(r))
    }

    /// The value bytes for running `call` with counter slot `slot` and `priority`.
    pub fn encode_value(&self, call: &ActionCall, slot: u32, priority: u32) -> Vec<u8> {
        self.value.encode(call, slot, priority)
    }

    /// `(key 0u32, value)` for the default-action array.
    pub fn encode_default(&self, table: &Table) -> (Vec<u8>, Vec<u8>) {
        (
            0u32.to_ne_bytes().to_vec(),
            self.value
                .encode(&table.default_action, self.default_slot, 0),
        )
    }

    /// The elements for one table's entries, each with its counter slot.
    /// For tuple-space tables also the masks array content. The whole table
    /// at once, because elements of different entries can share a key (the
    /// higher priority keeps it).
    pub fn encode_entries(
        &self,
        table: &Table,
        entries: &[(&Entry, u32)],
    ) -> Result<TableImage, LayoutError> {
        for (i, (e, _)) in entries.iter().enumerate() {
            if e.matches.len() != table.keys.len() {
                return Err(LayoutError::EntryShape {
                    table: table.name.clone(),
                    entry: i,
                    got: e.matches.len(),
                    want: table.keys.len(),
                });
            }
            if !table.actions.contains(&e.action.action) {
                return Err(LayoutError::UnknownAction {
                    table: table.name.clone(),
                    entry: i,
                    action: e.action.action.0,
                });
            }
        }
        match self.kind {
            TableKind::Exact | TableKind::Lpm => {
                let mut out = Vec::new();
                for (i, (e, slot)) in entries.iter().enumerate() {
                    let key = self.encode_plain_key(table, i, e)?;
                    out.push((
                        key,
                        self.entry_value(table, e, *slot, e.priority.unwrap_or(0)),
                    ));
                }
                Ok(TableImage {
                    entries: out,
                    masks: Vec::new(),
                })
            }
            TableKind::TupleSpace { max_masks } => {
                self.encode_tuple_space(table, entries, max_masks)
            }
        }
    }

    fn encode_plain_key(&self, table: &Table, i: usize, e: &Entry) -> Result<Vec<u8>, LayoutError> {
        let mut data = vec![0u8; self.key.bytes as usize];
        let mut prefix_bits = 0u32;
        for part in &self.key.parts {
            let key = &table.keys[part.key_index];
            let m = e.matches[part.key_index];
            let value = match (m, key.kind) {
                (KeyMatch::Exact(v), MatchKind::Exact) => {
                    prefix_bits += part.len * 8;
                    v
                }
                (KeyMatch::Lpm { value, prefix_len }, MatchKind::Lpm) => {
                    // The field is right-aligned in its bytes: skip the pad bits.
                    prefix_bits += part.len * 8 - key.field.width() + prefix_len;
                    value
                }
                (other, want) => {
                    return Err(LayoutError::MatchKind {
                        table: table.name.clone(),
                        entry: i,
                        got: match_name(&other),
                        want,
                    })
                }
            };
            part.write(&mut data, value);
        }
        Ok(match self.kind {
            TableKind::Lpm => {
                let mut k = prefix_bits.to_ne_bytes().to_vec();
                k.extend_from_slice(&data);
                k
            }
            _ => {
                data.resize(self.key.padded as usize, 0);
                data
            }
        })
    }

    fn encode_tuple_space(
        &self,
        table: &Table,
        entries: &[(&Entry, u32)],
        max_masks: u32,
    ) -> Result<TableImage, LayoutError> {
        let padded = self.key.padded as usize;
        // key bytes (mask ‖ masked value) → (priority, value)
        let mut elems: BTreeMap<Vec<u8>, (u32, Vec<u8>)> = BTreeMap::new();
        // mask bytes → highest priority using it
        let mut masks: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
        for (i, (e, slot)) in entries.iter().enumerate() {
            let prio = e.priority.unwrap_or(0);
            let value = self.entry_value(table, e, *slot, prio);
            // Per key part: alternatives (value, mask).
            let mut combos: Vec<(Vec<u8>, Vec<u8>)> = vec![(vec![0; padded], vec![0; padded])];
            for part in &self.key.parts {
                let key = &table.keys[part.key_index];
                let width = key.field.width();
                let alts: Vec<(u128, u128)> = match e.matches[part.key_index] {
                    KeyMatch::Exact(v) => vec![(v, prefix_mask(width, width))],
                    KeyMatch::Lpm { value, prefix_len } => {
                        vec![(value, prefix_mask(width, prefix_len))]
                    }
                    KeyMatch::Ternary { value, mask } => vec![(value & mask, mask)],
                    KeyMatch::Range { lo, hi } => range_to_prefixes(lo, hi, width),
                };
                let mut next = Vec::with_capacity(combos.len() * alts.len());
                for (v, m) in &combos {
                    for (av, am) in &alts {
                        let (mut v, mut m) = (v.clone(), m.clone());
                        part.write(&mut v, av & am);
                        part.write(&mut m, *am);
                        next.push((v, m));
                    }
                }
                combos = next;
            }
            let _ = i;
            for (v, m) in combos {
                let mut key = m.clone();
                key.extend_from_slice(&v);
                let best = masks.entry(m).or_insert(prio);
                *best = (*best).max(prio);
                match elems.get(&key) {
                    Some((p, _)) if *p >= prio => {}
                    _ => {
                        elems.insert(key, (prio, value.clone()));
                    }
                }
            }
        }
        if masks.len() > max_masks as usize {
            return Err(LayoutError::TooManyMasks {
                table: table.name.clone(),
                masks: masks.len(),
                max: max_masks,
            });
        }
        // Highest max-priority first; ties by mask bytes (deterministic).
        let mut ordered: Vec<(Vec<u8>, u32)> = masks.into_iter().collect();
        ordered.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let masks = ordered
            .into_iter()
            .enumerate()
            .map(|(i, (m, prio))| {
                let mut v = 1u32.to_ne_bytes().to_vec();
                v.extend_from_slice(&prio.to_ne_bytes());
                v.extend_from_slice(&m);
                ((i as u32).to_ne_bytes().to_vec(), v)
            })
            .collect();
        Ok(TableImage {
            entries: elems.into_iter().map(|(k, (_, v))| (k, v)).collect(),
            masks,
        })
    }

    /// Reads a value back: (action call, counter slot, priority).
    pub fn decode_value(
        &self,
        module: &Module,
        bytes: &[u8],
    ) -> Result<(ActionCall, u32, u32), LayoutError> {
        self.value.decode(module, &self.entries_map, bytes)
    }

    /// Reads an exact/lpm key back into per-key matches (key order).
    /// Tuple-space keys decode to `Ternary` (value, mask) per key.
    pub fn decode_key(&self, table: &Table, bytes: &[u8]) -> Result<Vec<KeyMatch>, LayoutError> {
        let want = self.entries_key_size() as usize;
        if bytes.len() != want {
            return Err(LayoutError::BadBytes {
                map: self.entries_map.clone(),
                what: "key",
                got: bytes.len(),
                want,
            });
        }
        let mut out = vec![KeyMatch::Exact(0); table.keys.len()];
        match self.kind {
            TableKind::Exact => {
                for p in &self.key.parts {
                    out[p.key_index] = KeyMatch::Exact(p.read(bytes));
                }
            }
            TableKind::Lpm => {
                let prefix = u32::from_ne_bytes(bytes[0..4].try_into().expect("4 bytes"));
                let data = &bytes[4..];
                let mut bits = prefix;
                for p in &self.key.parts {
                    let key = &table.keys[p.key_index];
                    if key.kind == MatchKind::Lpm {
                        let pad = p.len * 8 - key.field.width();
                        let len = bits.saturating_sub(pad).min(key.field.width());
                        out[p.key_index] = KeyMatch::Lpm {
                            value: p.read(data),
                            prefix_len: len,
                        };
                    } else {
                        bits = bits.saturating_sub(p.len * 8);
                        out[p.key_index] = KeyMatch::Exact(p.read(data));
                    }
                }
            }
            TableKind::TupleSpace { .. } => {
                let n = self.key.padded as usize;
                let (mask, value) = bytes.split_at(n);
                for p in &self.key.parts {
                    out[p.key_index] = KeyMatch::Ternary {
                        value: p.read(value),
                        mask: p.read(mask),
                    };
                }
            }
        }
        Ok(out)
    }
}

fn match_name(m: &KeyMatch) -> &'static str {
    match m {
        KeyMatch::Exact(_) => "exact",
        KeyMatch::Lpm { .. } => "lpm",
        KeyMatch::Ternary { .. } => "ternary",
        KeyMatch::Range { .. } => "range",
    }
}

/// What to write into one table's maps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableImage {
    /// (key, value) for the entries map.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// (index, value) for the masks array (tuple-space tables).
    pub masks: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ModuleLayout {
    pub fn table(&self, id: TableId) -> &TableLayout {
        &self.tables[id.0 as usize]
    }
    pub fn map(&self, name: &str) -> Option<&MapSpec> {
        self.maps.iter().find(|m| m.name == name)
    }
    /// ELF map definitions, in layout order.
    pub fn map_defs(&self) -> Vec<MapDef> {
        self.maps.iter().map(MapSpec::to_def).collect()
    }
    /// Largest logical port id + 1 (size of the port map).
    fn port_slots(module: &Module) -> u32 {
        module
            .ports
            .iter()
            .map(|p| u32::from(p.id.0) + 1)
            .max()
            .unwrap_or(1)
    }
}

/// Uses `forward(port)` in some action a table can run.
pub fn module_forwards(module: &Module) -> bool {
    module.tables.iter().any(|t| {
        t.actions
            .iter()
            .chain(std::iter::once(&t.default_action.action))
            .any(|a| {
                module
                    .action(*a)
                    .body
                    .iter()
                    .any(|p| matches!(p, Primitive::Forward(_)))
            })
    })
}

/// Reads `meta.in_port` in some key.
pub fn module_reads_in_port(module: &Module) -> bool {
    module
        .tables
        .iter()
        .any(|t| t.keys.iter().any(|k| k.field == Field::MetaInPort))
}

/// Choices a target makes about the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutOptions {
    pub hook: Hook,
    /// Masks a tuple-space table can hold (size of its masks array).
    pub max_masks: u32,
    /// Counters in PERCPU_ARRAYs; else in ARRAYs updated with atomic adds
    /// (targets without per-CPU maps, e.g. NIC offload).
    pub percpu_counters: bool,
    /// Tuple-space probes run as a loop (kernel), which parks the parse
    /// state in a per-CPU scratch map; else straight-line code.
    pub mask_loop: bool,
    /// Room per table, where less than the full room (see [`Capacity`]).
    pub capacities: Capacities,
}

/// The layout of every map `module` needs on `hook`, tuple-space tables
/// bounded to `max_masks` masks each, counters per CPU.
pub fn for_module(module: &Module, hook: Hook, max_masks: u32) -> ModuleLayout {
    for_module_with(
        module,
        &LayoutOptions {
            hook,
            max_masks,
            percpu_counters: true,
            mask_loop: true,
            capacities: Capacities::new(),
        },
    )
}

/// [`for_module`] with every choice explicit.
pub fn for_module_with(module: &Module, opts: &LayoutOptions) -> ModuleLayout {
    let (hook, max_masks) = (opts.hook, opts.max_masks);
    let mut tables = Vec::new();
    let mut maps = Vec::new();
    for t in &module.tables {
        let cap = opts.capacities.get(&t.name).copied().unwrap_or_default();
        let tl = TableLayout::new(module, t, max_masks, cap);
        let mut ms = tl.maps(t);
        if !opts.percpu_counters {
            for m in &mut ms {
                if m.role == MapRole::Counters(t.id) {
                    m.map_type = map_type::ARRAY;
                }
            }
        }
        maps.extend(ms);
        tables.push(tl);
    }
    let ports_map = module_forwards(module).then(|| "ports".to_string());
    if let Some(name) = &ports_map {
        maps.push(MapSpec {
            name: name.clone(),
            role: MapRole::Ports,
            map_type: match hook {
                Hook::Xdp => map_type::DEVMAP,
                Hook::Tc => map_type::ARRAY,
            },
            key_size: 4,
            // DEVMAP: `struct bpf_devmap_val` (ifindex, program fd), the size
            // aya 0.14 insists on; tc ARRAY: the ifindex alone.
            value_size: match hook {
                Hook::Xdp => 8,
                Hook::Tc => 4,
            },
            max_entries: ModuleLayout::port_slots(module),
            map_flags: 0,
        });
    }
    let in_ports_map = module_reads_in_port(module).then(|| "in_ports".to_string());
    if let Some(name) = &in_ports_map {
        maps.push(MapSpec {
            name: name.clone(),
            role: MapRole::InPorts,
            map_type: map_type::HASH,
            key_size: 4,
            value_size: 4,
            max_entries: IN_PORTS_ENTRIES,
            map_flags: 0,
        });
    }
    // Parking the parse state around a mask loop (see the codegen's
    // `emit_park`) keeps the verifier's work linear when several mask loops
    // follow each other; with a single one the verifier copes without it, and
    // not parking saves ~40-50 ns per packet.
    let tuple_space_tables = tables
        .iter()
        .filter(|t| matches!(t.kind, TableKind::TupleSpace { .. }))
        .count();
    // A hash key parks the parse state too, around its CRC loop over input
    // bytes gathered into the scratch value (see the codegen's `emit_hash`).
    let hash_bytes = module
        .tables
        .iter()
        .filter_map(|t| t.hash_key())
        .map(|h| h.max_bytes().div_ceil(8) * 8)
        .max()
        .unwrap_or(0);
    let scratch_map = (opts.mask_loop && (tuple_space_tables >= 2 || hash_bytes > 0))
        .then(|| "scratch".to_string());
    if let Some(name) = &scratch_map {
        maps.push(MapSpec {
            name: name.clone(),
            role: MapRole::Scratch,
            map_type: map_type::PERCPU_ARRAY,
            key_size: 4,
            value_size: if hash_bytes > 0 {
                SCRATCH_HASH_BUF as u32 + hash_bytes
            } else {
                SCRATCH_BYTES
            },
            max_entries: 1,
            map_flags: 0,
        });
    }
    let crc32_map = (scratch_map.is_some() && hash_bytes > 0).then(|| "crc32".to_string());
    if let Some(name) = &crc32_map {
        maps.push(MapSpec {
            name: name.clone(),
            role: MapRole::Crc32Table,
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size: 1024,
            max_entries: 1,
            map_flags: 0,
        });
    }
    let clock_map = module
        .tables
        .iter()
        .any(|t| t.meter.is_some())
        .then(|| "clock".to_string());
    if let Some(name) = &clock_map {
        maps.push(MapSpec {
            name: name.clone(),
            role: MapRole::Clock,
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            map_flags: 0,
        });
    }
    ModuleLayout {
        hook,
        tables,
        maps,
        ports_map,
        in_ports_map,
        scratch_map,
        crc32_map,
        clock_map,
    }
}
