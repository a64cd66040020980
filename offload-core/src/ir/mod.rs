//! The validated, typed match-action pipeline every backend consumes.
//!
//! An [`Module`] is produced only by [`crate::spec::compile`] (or built by hand
//! in tests) and obeys these invariants, which backends may rely on:
//! - ids are indices: `module.tables[t.id.0] == t`, same for actions and ports;
//! - a table has at most one `lpm` key; each key names a field that allows its kind;
//! - every entry has exactly one [`KeyMatch`] per key, in key order, in canonical
//!   form (values masked, wildcards explicit), and a priority iff the table
//!   [`Table::needs_priority`]; priorities are unique within a table;
//! - every action call names an action listed for its table, with one argument
//!   per parameter, each fitting its parameter type;
//! - a terminating primitive (`drop`, `pass`, `forward`, `tx`) is only ever the
//!   last primitive of an action.
//!
//! Meaning is defined by [`crate::semantics`]. Two IR passes build
//! pipelines from modules: [`chain`] (service chains fused into one) and
//! [`split`] (one module cut into a NIC prefix and a host rest).

pub mod chain;
mod field;
mod meter;
mod requirements;
pub mod split;
mod value;

pub use field::{Field, FieldInfo, FieldKind, Header};
pub use meter::{
    Bucket, Color, Meter, MeterRate, MeterUnit, RedAction, MAX_METER_VALUE, MIN_BYTES_BURST, NANO,
};
pub use requirements::{Requirements, TableRequirements};
pub use value::{mask_of_width, prefix_mask, range_to_prefixes};

use crate::diag::Span;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TableId(pub u32);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ActionId(pub u32);
/// A logical port number, as declared in `[ports]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PortId(pub u16);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    /// Verdict when no stage decides.
    pub default_verdict: DefaultVerdict,
    /// Logical ports in declaration order.
    pub ports: Vec<Port>,
    /// Stages, in file order (the order they run in).
    pub tables: Vec<Table>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultVerdict {
    Pass,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub id: PortId,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    Exact,
    Lpm,
    Ternary,
    Range,
}

impl MatchKind {
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Lpm => "lpm",
            MatchKind::Ternary => "ternary",
            MatchKind::Range => "range",
        }
    }
    pub fn from_name(s: &str) -> Option<MatchKind> {
        [
            MatchKind::Exact,
            MatchKind::Lpm,
            MatchKind::Ternary,
            MatchKind::Range,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

impl fmt::Display for MatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The field matched; [`Field::Hash`] for a hash key.
    pub field: Field,
    pub kind: MatchKind,
    pub span: Span,
    /// `Some` iff `field` is [`Field::Hash`]: what the key's value is computed from.
    pub hash: Option<HashKey>,
}

/// The most buckets a hash key may have (a 12-bit bucket number).
pub const MAX_HASH_BUCKETS: u32 = 4096;

/// A hash key: the table matches `crc32(bytes) & (buckets - 1)`, where
/// `bytes` is the concatenation of `fields` (network order, each its full
/// width in bytes) as the packet holds them when the table applies; a field
/// whose header is not valid adds no bytes. CRC-32 is zlib's (reflected
/// polynomial 0xEDB88320, initial value and final xor 0xFFFFFFFF). See
/// [`crate::semantics`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HashKey {
    /// In the order written; each passes [`Field::hashable`].
    pub fields: Vec<Field>,
    /// A power of two, 2..=[`MAX_HASH_BUCKETS`].
    pub buckets: u32,
}

impl HashKey {
    /// Headers whose fields feed the hash, in first-use order.
    pub fn headers(&self) -> Vec<Header> {
        let mut hs: Vec<Header> = Vec::new();
        for f in &self.fields {
            if !hs.contains(&f.header()) {
                hs.push(f.header());
            }
        }
        hs
    }
    /// The most bytes the hash reads (every header valid).
    pub fn max_bytes(&self) -> u32 {
        self.fields.iter().map(|f| f.width() / 8).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub id: TableId,
    pub name: String,
    pub keys: Vec<Key>,
    /// Actions an entry of this table may use, in declaration order.
    pub actions: Vec<ActionId>,
    /// What runs on a miss.
    pub default_action: ActionCall,
    /// Maximum number of entries.
    pub size: u32,
    /// Per-entry and default-action packet/byte counters.
    pub counters: bool,
    /// Per-entry token buckets (see [`Meter`]); `None`: not metered.
    pub meter: Option<Meter>,
    /// Entries given in the module file (runtime entries use the same type).
    pub entries: Vec<Entry>,
    pub span: Span,
}

impl Table {
    /// Ternary or range keys make entries carry priorities (highest wins).
    pub fn needs_priority(&self) -> bool {
        self.keys
            .iter()
            .any(|k| matches!(k.kind, MatchKind::Ternary | MatchKind::Range))
    }
    /// The table's hash key, if it has one (at most one).
    pub fn hash_key(&self) -> Option<&HashKey> {
        self.keys.iter().find_map(|k| k.hash.as_ref())
    }
    /// The rate an entry's bucket runs at (`None`: the table is not metered).
    pub fn meter_rate(&self, entry: &Entry) -> Option<MeterRate> {
        self.meter
            .as_ref()
            .map(|m| entry.meter.unwrap_or(m.default))
    }
    pub fn lpm_key(&self) -> Option<usize> {
        self.keys.iter().position(|k| k.kind == MatchKind::Lpm)
    }
    /// Headers that must all be valid for the table to apply.
    pub fn required_headers(&self) -> Vec<Header> {
        let mut hs: Vec<Header> = self.keys.iter().map(|k| k.field.header()).collect();
        hs.sort();
        hs.dedup();
        hs.retain(|h| *h != Header::Meta);
        hs
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub id: ActionId,
    pub name: String,
    pub params: Vec<Param>,
    pub body: Vec<Primitive>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
}

/// The type of an action parameter. `Uint(n)`: an unsigned integer of n bits (1..=32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ParamType {
    Port,
    Mac,
    Ipv4,
    Ipv6,
    Uint(u32),
}

impl ParamType {
    pub fn width(self) -> u32 {
        match self {
            ParamType::Port => 16,
            ParamType::Mac => 48,
            ParamType::Ipv4 => 32,
            ParamType::Ipv6 => 128,
            ParamType::Uint(n) => n,
        }
    }
    /// Whether a value of this type may be written to `field` by `set`.
    pub fn fits(self, field: Field) -> bool {
        match (self, field.kind()) {
            (ParamType::Mac, FieldKind::Mac) => true,
            (ParamType::Ipv4, FieldKind::Ipv4) => true,
            (ParamType::Ipv6, FieldKind::Ipv6) => true,
            (ParamType::Uint(n), FieldKind::Int) => n <= field.width(),
            _ => false,
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamType::Port => f.write_str("port"),
            ParamType::Mac => f.write_str("mac"),
            ParamType::Ipv4 => f.write_str("ipv4"),
            ParamType::Ipv6 => f.write_str("ipv6"),
            ParamType::Uint(n) => write!(f, "u{n}"),
        }
    }
}

/// A value used by a primitive: an action parameter (by index) or a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    Param(usize),
    Const(u128),
}

/// One step of an action. See the module language reference for meanings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Primitive {
    /// Ends the pipeline: the packet is discarded.
    Drop,
    /// Ends the pipeline: the packet goes to the host stack / CPU port.
    Pass,
    /// Ends the pipeline: the packet leaves through a logical port (operand is a port id).
    Forward(Operand),
    /// Ends the pipeline: the packet leaves through its ingress port.
    Tx,
    /// Writes a field (no-op when the field's header is not valid), keeping
    /// the IPv4 header checksum and the TCP/UDP checksum correct.
    Set { field: Field, value: Operand },
    /// `set(field, from)`: writes `field` with the current value of `from`
    /// (as earlier primitives of the action left it), keeping checksums
    /// correct like `Set`. A no-op when either field's header is not valid.
    /// Which pairs fit: [`Field::copy_fits`].
    Copy { field: Field, from: Field },
    /// Decrements IPv4 TTL / IPv6 hop limit; at ≤ 1 the packet is passed to the host.
    DecTtl,
    /// Pushes an 802.1Q tag (TPID 0x8100, PCP 0) with this VLAN id as the new outer tag.
    PushVlan(Operand),
    /// Removes the outer VLAN tag.
    PopVlan,
    /// `vxlan_encap(dmac, smac, src, dst, vni)`: wraps the frame in outer
    /// Ethernet + IPv4 + UDP (4789) + VXLAN headers (see `semantics`,
    /// "VXLAN"); later tables see the outer headers as `eth/ipv4/udp/l4`
    /// and the old ones as `inner_*`.
    VxlanEncap(VxlanEncap),
    /// Removes the outer Ethernet + IP + UDP + VXLAN headers: the inner
    /// headers become `eth/ipv4/ipv6/l4/...`, `vxlan` and `inner_*` become
    /// invalid. A no-op without a valid `vxlan` header.
    VxlanDecap,
}

/// The operands of `vxlan_encap`, in the order written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanEncap {
    pub dmac: Operand,
    pub smac: Operand,
    /// Outer IPv4 source and destination.
    pub src: Operand,
    pub dst: Operand,
    /// 24 bits.
    pub vni: Operand,
}

impl Primitive {
    pub fn terminates(&self) -> bool {
        matches!(
            self,
            Primitive::Drop | Primitive::Pass | Primitive::Forward(_) | Primitive::Tx
        )
    }
}

/// An action with its arguments (one value per parameter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionCall {
    pub action: ActionId,
    pub args: Vec<u128>,
}

/// How one key of an entry matches, in canonical form:
/// - `Exact(v)`;
/// - `Lpm { value, prefix_len }` with host bits of `value` cleared (len 0 = wildcard);
/// - `Ternary { value, mask }` with `value & !mask == 0` (mask 0 = wildcard);
/// - `Range { lo, hi }` inclusive (`0..=max` = wildcard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyMatch {
    Exact(u128),
    Lpm { value: u128, prefix_len: u32 },
    Ternary { value: u128, mask: u128 },
    Range { lo: u128, hi: u128 },
}

impl KeyMatch {
    /// Does a field value `v` satisfy this match? (`width` is the field's width.)
    pub fn matches(&self, v: u128, width: u32) -> bool {
        match *self {
            KeyMatch::Exact(x) => v == x,
            KeyMatch::Lpm { value, prefix_len } => v & prefix_mask(width, prefix_len) == value,
            KeyMatch::Ternary { value, mask } => v & mask == value,
            KeyMatch::Range { lo, hi } => lo <= v && v <= hi,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub matches: Vec<KeyMatch>,
    /// Present iff the table needs priorities; higher wins.
    pub priority: Option<u32>,
    pub action: ActionCall,
    /// This entry's own meter rate; `None` on a metered table: the table's
    /// default (canonical: an entry never repeats the default). Always
    /// `None` on a table without a meter.
    pub meter: Option<MeterRate>,
    pub span: Span,
}

impl Module {
    pub fn table(&self, id: TableId) -> &Table {
        &self.tables[id.0 as usize]
    }
    pub fn action(&self, id: ActionId) -> &Action {
        &self.actions[id.0 as usize]
    }
    pub fn table_by_name(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
    pub fn action_by_name(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }
    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }
    pub fn port_by_id(&self, id: PortId) -> Option<&Port> {
        self.ports.iter().find(|p| p.id == id)
    }
    pub fn requirements(&self) -> Requirements {
        Requirements::of(self)
    }
}
