//! The typed view of a module file: what the author wrote, with spans, before
//! names are resolved or values checked. Built by [`super::read`], consumed by
//! [`super::lower`]. Optional fields are `None` when absent or malformed (the
//! reader has already reported why).

use crate::diag::Span;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Span) -> Self {
        Sp { value, span }
    }
}

/// A match value or action argument as written: TOML string or integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lit {
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, Default)]
pub struct ModuleAst {
    /// Span of the `[module]` section, when present.
    pub module_span: Option<Span>,
    pub name: Option<Sp<String>>,
    pub default: Option<Sp<String>>,
    pub ports: Vec<PortAst>,
    /// A top-level `table` key exists (even if malformed).
    pub table_key: bool,
    pub tables: Vec<TableAst>,
    pub actions: Vec<ActionAst>,
    pub entries: Vec<EntriesAst>,
    /// `[[group.TABLE]]` arrays, in file order.
    pub groups: Vec<GroupsAst>,
}

#[derive(Debug, Clone)]
pub struct PortAst {
    pub name: Sp<String>,
    pub number: Sp<i64>,
}

#[derive(Debug, Clone)]
pub struct TableAst {
    pub span: Span,
    pub name: Option<Sp<String>>,
    pub keys: Vec<KeyAst>,
    /// Some key could not be read; entries of this table are not checked
    /// against its keys (that would only repeat the same mistake).
    pub keys_broken: bool,
    pub actions: Option<Sp<Vec<Sp<String>>>>,
    pub default_action: Option<CallAst>,
    pub size: Option<Sp<i64>>,
    pub counters: Option<Sp<bool>>,
    /// `meter = { unit, rate, burst, red }`.
    pub meter: Option<MeterAst>,
}

/// `meter = { ... }` on a table (`unit`, `rate`, `burst`, `red`) or an
/// entry (`rate`, `burst`), as written.
#[derive(Debug, Clone)]
pub struct MeterAst {
    pub span: Span,
    pub unit: Option<Sp<String>>,
    pub rate: Option<Sp<i64>>,
    pub burst: Option<Sp<i64>>,
    pub red: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct KeyAst {
    pub span: Span,
    /// `field = "ipv4.dst"`; `None` for a hash key.
    pub field: Option<Sp<String>>,
    /// `hash = ["ipv4.src", ...]`: a hash key over these fields.
    pub hash: Option<Sp<Vec<Sp<String>>>>,
    /// `buckets = 16` (hash keys only).
    pub buckets: Option<Sp<i64>>,
    pub kind: Sp<String>,
}

#[derive(Debug, Clone)]
pub struct ActionAst {
    pub span: Span,
    pub name: Sp<String>,
    pub params: Vec<(Sp<String>, Sp<String>)>,
    /// Some parameter could not be read; calls are not checked against them.
    pub params_broken: bool,
    /// The `do` strings.
    pub body: Vec<Sp<String>>,
}

/// `"name"` or `{ name = { param = value, ... } }`.
#[derive(Debug, Clone)]
pub struct CallAst {
    pub span: Span,
    pub name: Sp<String>,
    pub args: Vec<(Sp<String>, Sp<Lit>)>,
}

/// The `[[entry.TABLE]]` array of one table.
#[derive(Debug, Clone)]
pub struct EntriesAst {
    pub table: Sp<String>,
    pub entries: Vec<EntryAst>,
}

#[derive(Debug, Clone)]
pub struct EntryAst {
    pub span: Span,
    /// `match = { "field" = value }`, in written order.
    pub matches: Vec<(Sp<String>, Sp<Lit>)>,
    pub priority: Option<Sp<i64>>,
    pub action: Option<CallAst>,
    /// `meter = { rate, burst }`: this entry's own bucket.
    pub meter: Option<MeterAst>,
}

/// The `[[group.TABLE]]` array of one table.
#[derive(Debug, Clone)]
pub struct GroupsAst {
    pub table: Sp<String>,
    pub groups: Vec<GroupAst>,
}

/// One hash-selected group: entries for every bucket of the table's hash
/// key, bucket `i` running member `i mod members.len()`.
#[derive(Debug, Clone)]
pub struct GroupAst {
    pub span: Span,
    /// `match = { ... }`: the table's other keys.
    pub matches: Vec<(Sp<String>, Sp<Lit>)>,
    /// `members = [ call, ... ]`, with the span of the array.
    pub members: Option<Sp<Vec<CallAst>>>,
}
