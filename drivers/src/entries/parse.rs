//! Entry text → IR entries, in the module language's syntax:
//!
//! ```toml
//! [[entry.routes]]
//! match = { "ipv4.dst" = "10.1.0.0/16" }
//! action = { route = { port = "servers", dmac = "02:00:00:00:00:02", smac = "02:00:00:00:00:01" } }
//! ```
//!
//! The same literals as in a module file (offload-core's `spec::literal`);
//! exact keys are required, a left-out lpm/ternary/range key is a wildcard.
//! Command-line flags (`--match F=V --action A --arg P=V --priority N`) build
//! the same [`EntryText`].

use super::{table, EntryError};
use offload_core::ir::{
    ActionCall, Entry, KeyMatch, MatchKind, MeterRate, MeterUnit, Module, Table, MAX_METER_VALUE,
    MIN_BYTES_BURST,
};
use offload_core::spec::literal::{self, LitType, Ports};
use offload_core::Span;

/// A literal as written: TOML strings and integers are both accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lit {
    Str(String),
    Int(i64),
}

/// One entry before it is read against the module.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryText {
    pub table: String,
    pub matches: Vec<(String, Lit)>,
    pub priority: Option<i64>,
    pub action: String,
    pub args: Vec<(String, Lit)>,
    /// `(rate, burst)`: the entry's own meter (metered tables only);
    /// `None`: the table's default.
    pub meter: Option<(i64, i64)>,
}

struct ModulePorts<'m>(&'m Module);

impl Ports for ModulePorts<'_> {
    fn by_name(&self, name: &str) -> Option<u16> {
        self.0.port_by_name(name).map(|p| p.id.0)
    }
    fn has_number(&self, n: u16) -> bool {
        self.0.port_by_id(offload_core::ir::PortId(n)).is_some()
    }
    fn names(&self) -> Vec<String> {
        self.0.ports.iter().map(|p| p.name.clone()).collect()
    }
}

/// An entry's own meter, checked as the module language checks it
/// (E0316/E0317/E0520 there); `None` when it is the table's default.
fn entry_meter(t: &Table, rate: i64, burst: i64) -> Result<Option<MeterRate>, EntryError> {
    let Some(m) = &t.meter else {
        return Err(bad(
            t,
            format!("table `{}` has no meter: an entry cannot give one", t.name),
        ));
    };
    let max = MAX_METER_VALUE as i64;
    if !(1..=max).contains(&rate) {
        return Err(bad(
            t,
            format!("meter rate {rate} is not between 1 and {max}"),
        ));
    }
    let min = match m.unit {
        MeterUnit::Packets => 1,
        MeterUnit::Bytes => MIN_BYTES_BURST as i64,
    };
    if !(min..=max).contains(&burst) {
        return Err(bad(
            t,
            format!(
                "meter burst {burst} is not between {min} and {max} ({})",
                m.unit.name()
            ),
        ));
    }
    let r = MeterRate {
        rate: rate as u64,
        burst: burst as u64,
    };
    Ok((r != m.default).then_some(r))
}

fn bad(table: &Table, message: String) -> EntryError {
    EntryError::Invalid {
        table: table.name.clone(),
        message,
    }
}

/// Reads `text` against `module`: the IR entry (not yet checked against the
/// table's other entries; see [`super::validate`]).
pub fn entry(module: &Module, text: &EntryText) -> Result<Entry, EntryError> {
    let t = table(module, &text.table)?;
    let ports = ModulePorts(module);
    let full = matches(module, t, &text.matches)?;
    // In a chain's fused module a table `m.t` has actions `m.a`; the
    // action may be given as `a` (its own module's name for it).
    let qualified = text
        .table
        .split_once('.')
        .map(|(m, _)| format!("{m}.{}", text.action));
    let by_name = module
        .action_by_name(&text.action)
        .or_else(|| qualified.as_deref().and_then(|q| module.action_by_name(q)));
    let Some(action) = by_name else {
        let allowed: Vec<&str> = t
            .actions
            .iter()
            .map(|a| module.action(*a).name.as_str())
            .collect();
        return Err(bad(
            t,
            format!(
                "no action {:?} (this table's actions: {})",
                text.action,
                allowed.join(", ")
            ),
        ));
    };
    let mut args = Vec::with_capacity(action.params.len());
    for p in &action.params {
        let Some((_, lit)) = text.args.iter().find(|(n, _)| *n == p.name) else {
            return Err(bad(
                t,
                format!(
                    "action {} needs argument {} ({})",
                    action.name, p.name, p.ty
                ),
            ));
        };
        let ty = LitType::of_param(p.ty);
        let v = match lit {
            Lit::Str(s) => literal::parse_scalar(s, ty, &ports),
            Lit::Int(n) => literal::scalar_from_int(*n, ty, &ports, n.to_string().len()),
        }
        .map_err(|e| bad(t, format!("argument {}: {}", p.name, e.message)))?;
        args.push(v);
    }
    if let Some((extra, _)) = text
        .args
        .iter()
        .find(|(n, _)| !action.params.iter().any(|p| p.name == *n))
    {
        return Err(bad(
            t,
            format!("action {} has no parameter {extra}", action.name),
        ));
    }
    let priority = match text.priority {
        None => None,
        Some(p) => Some(
            u32::try_from(p)
                .map_err(|_| bad(t, format!("priority {p} is not between 0 and {}", u32::MAX)))?,
        ),
    };
    let meter = match text.meter {
        None => None,
        Some((rate, burst)) => entry_meter(t, rate, burst)?,
    };
    let e = Entry {
        meter,
        matches: full,
        priority,
        action: ActionCall {
            action: action.id,
            args,
        },
        span: Span::new(0, 0),
    };
    super::validate_shape(module, t, &e)?;
    Ok(e)
}

/// The full, canonical matches of `given` (field, literal) pairs on `t`:
/// exact keys must be given, others default to wildcards.
pub fn matches(
    module: &Module,
    t: &Table,
    given: &[(String, Lit)],
) -> Result<Vec<KeyMatch>, EntryError> {
    let ports = ModulePorts(module);
    let mut matches: Vec<Option<KeyMatch>> = vec![None; t.keys.len()];
    for (field, lit) in given {
        let Some(i) = t.keys.iter().position(|k| k.field.name() == field) else {
            let keys: Vec<&str> = t.keys.iter().map(|k| k.field.name()).collect();
            return Err(bad(
                t,
                format!(
                    "{field} is not a key of this table (keys: {})",
                    keys.join(", ")
                ),
            ));
        };
        if matches[i].is_some() {
            return Err(bad(t, format!("{field} is matched twice")));
        }
        let key = &t.keys[i];
        let ty = LitType::of_field(key.field);
        let m = match lit {
            Lit::Str(s) => literal::parse_match(s, key.kind, ty, &ports),
            Lit::Int(n) => literal::match_from_int(*n, key.kind, ty, &ports, n.to_string().len()),
        }
        .map_err(|e| {
            bad(
                t,
                format!(
                    "{field}: {}{}",
                    e.message,
                    if e.note.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", e.note)
                    }
                ),
            )
        })?;
        if let (Some(h), KeyMatch::Exact(v)) = (&key.hash, m) {
            if v >= u128::from(h.buckets) {
                return Err(bad(
                    t,
                    format!(
                        "{field}: bucket {v} of a hash key with {} buckets (0..={})",
                        h.buckets,
                        h.buckets - 1
                    ),
                ));
            }
        }
        matches[i] = Some(m);
    }
    let mut full = Vec::with_capacity(t.keys.len());
    for (key, m) in t.keys.iter().zip(matches) {
        let width = key.field.width();
        full.push(match (m, key.kind) {
            (Some(m), _) => m,
            (None, MatchKind::Exact) => {
                return Err(bad(t, format!("exact key {} needs a value", key.field)));
            }
            (None, MatchKind::Lpm) => KeyMatch::Lpm {
                value: 0,
                prefix_len: 0,
            },
            (None, MatchKind::Ternary) => KeyMatch::Ternary { value: 0, mask: 0 },
            (None, MatchKind::Range) => KeyMatch::Range {
                lo: 0,
                hi: offload_core::ir::mask_of_width(width),
            },
        });
    }
    Ok(full)
}

/// Why an entries file does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{file}: not valid TOML: {detail}")]
    Toml { file: String, detail: String },
    #[error("{file}: {where_}: {message}")]
    Shape {
        file: String,
        where_: String,
        message: String,
    },
    #[error("{file}: {where_}: {source}")]
    Entry {
        file: String,
        where_: String,
        #[source]
        source: EntryError,
    },
}

fn lit(v: &toml9::Value) -> Option<Lit> {
    match v {
        toml9::Value::String(s) => Some(Lit::Str(s.clone())),
        toml9::Value::Integer(i) => Some(Lit::Int(*i)),
        _ => None,
    }
}

/// An action and its arguments, as written.
type CallText = (String, Vec<(String, Lit)>);

/// `"name"` or `{ name = { param = value } }`: the action and its arguments.
fn call(v: &toml9::Value) -> Result<CallText, &'static str> {
    match v {
        toml9::Value::String(s) => Ok((s.clone(), Vec::new())),
        toml9::Value::Table(t) if t.len() == 1 => {
            let (a, params) = t.iter().next().expect("one");
            let params = params
                .as_table()
                .ok_or("action = { name = { param = value } }")?;
            let mut args = Vec::with_capacity(params.len());
            for (p, val) in params {
                args.push((
                    p.clone(),
                    lit(val).ok_or("argument values are strings or integers")?,
                ));
            }
            Ok((a.clone(), args))
        }
        _ => Err("action = \"name\" or { name = { param = value } }"),
    }
}

/// `[[group.T]]` arrays: each group stands for one entry of T per bucket of
/// its hash key, bucket `i` running member `i mod n` (as in a module file).
fn groups_section(
    module: &Module,
    name: &str,
    groups: &toml9::Value,
    out: &mut PerTable,
) -> Result<(), FileError> {
    let shape = |where_: String, message: &str| FileError::Shape {
        file: name.into(),
        where_,
        message: message.into(),
    };
    let tables = groups
        .as_table()
        .ok_or_else(|| shape("group".into(), "write groups as [[group.TABLE]]"))?;
    for (tname, list) in tables {
        let list = list.as_array().ok_or_else(|| {
            shape(
                format!("group.{tname}"),
                "write groups as [[group.TABLE]] (an array of tables)",
            )
        })?;
        let t = table(module, tname).map_err(|source| FileError::Entry {
            file: name.into(),
            where_: format!("group.{tname}"),
            source,
        })?;
        let Some(h) = t.hash_key() else {
            return Err(shape(
                format!("group.{tname}"),
                "the table has no hash key, so it cannot hold groups",
            ));
        };
        let buckets = h.buckets;
        let done = out.entry(tname.clone()).or_default();
        for (i, g) in list.iter().enumerate() {
            let where_ = || format!("group.{tname}[{i}]");
            let g = g
                .as_table()
                .ok_or_else(|| shape(where_(), "a group is a table with match and members"))?;
            let mut matches = Vec::new();
            let mut members = Vec::new();
            for (k, v) in g {
                match k.as_str() {
                    "match" => {
                        let m = v.as_table().ok_or_else(|| {
                            shape(where_(), "match = { \"field\" = \"value\", ... }")
                        })?;
                        for (f, val) in m {
                            if f == "hash" {
                                return Err(shape(
                                    where_(),
                                    "a group gives every bucket itself: leave `hash` out of its match",
                                ));
                            }
                            let l = lit(val).ok_or_else(|| {
                                shape(where_(), "match values are strings or integers")
                            })?;
                            matches.push((f.clone(), l));
                        }
                    }
                    "members" => {
                        let arr = v.as_array().ok_or_else(|| {
                            shape(
                                where_(),
                                "members = [\"name\", { name = { param = value } }, ...]",
                            )
                        })?;
                        for m in arr {
                            members.push(call(m).map_err(|e| shape(where_(), e))?);
                        }
                    }
                    other => {
                        return Err(shape(
                            where_(),
                            &format!("unknown key {other:?} (a group has match, members)"),
                        ));
                    }
                }
            }
            if members.is_empty() {
                return Err(shape(where_(), "a group needs members"));
            }
            if members.len() > buckets as usize {
                return Err(shape(
                    where_(),
                    &format!(
                        "{} members but {buckets} buckets: some members would never be chosen",
                        members.len()
                    ),
                ));
            }
            for b in 0..buckets {
                let (action, args) = members[b as usize % members.len()].clone();
                let mut text = EntryText {
                    meter: None,
                    table: tname.clone(),
                    matches: matches.clone(),
                    priority: None,
                    action,
                    args,
                };
                text.matches.push(("hash".into(), Lit::Int(i64::from(b))));
                let parsed = entry(module, &text).map_err(|source| FileError::Entry {
                    file: name.into(),
                    where_: format!("{} bucket {b}", where_()),
                    source,
                })?;
                done.push(parsed);
            }
        }
    }
    Ok(())
}

/// Entries per table (tables in name order, entries in file order).
type PerTable = std::collections::BTreeMap<String, Vec<Entry>>;

/// An entries file: `[[entry.TABLE]]` arrays as in a module. Returns entries
/// per table in file order (tables in name order).
///
/// Large files (a routing table of 10^6 prefixes is ~75 MB of TOML) are cut
/// at their `[[entry.T]]` headers and the pieces read on every CPU: the TOML
/// parser is most of the time of an `entries load`. Cutting is exact only for
/// files of plain headers (see `pieces`); others, and any file with an
/// error (so that the error is the one the whole file gives), are read whole.
pub fn file(module: &Module, name: &str, source: &str) -> Result<Vec<(String, Entry)>, FileError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = match pieces(source, PIECE_ENTRIES) {
        Some(p) if p.len() > 1 && threads > 1 => p,
        _ => return document(module, name, source, &PerTableBase::new()).map(flatten),
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Slot = std::sync::Mutex<Option<Result<PerTable, FileError>>>;
    let results: Vec<Slot> = parts.iter().map(|_| Slot::new(None)).collect();
    std::thread::scope(|sc| {
        for _ in 0..threads.min(parts.len()) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(p) = parts.get(i) else { break };
                let r = document(module, name, p.text, &p.base);
                *results[i].lock().expect("no panic while held") = Some(r);
            });
        }
    });
    let mut all = PerTable::new();
    for r in results {
        match r.into_inner().expect("no panic while held") {
            Some(Ok(t)) => {
                for (k, mut v) in t {
                    all.entry(k).or_default().append(&mut v);
                }
            }
            // The whole file's own error (location, order), not a piece's.
            _ => return document(module, name, source, &PerTableBase::new()).map(flatten),
        }
    }
    Ok(flatten(all))
}

fn flatten(t: PerTable) -> Vec<(String, Entry)> {
    t.into_iter()
        .flat_map(|(k, v)| v.into_iter().map(move |e| (k.clone(), e)))
        .collect()
}

/// Entries before a piece, per table (its `entry.T[i]` indices start there).
type PerTableBase = std::collections::BTreeMap<String, usize>;

/// Headers per piece of a cut file.
const PIECE_ENTRIES: usize = 8192;

/// One piece of an entries file: whole `[[entry.T]]` elements.
struct Piece<'a> {
    text: &'a str,
    base: PerTableBase,
}

/// `[[entry.NAME]]` (bare NAME, optional trailing comment) → NAME.
fn plain_header(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("[[entry.")?;
    let end = rest.find("]]")?;
    let name = &rest[..end];
    let after = rest[end + 2..].trim_start();
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && (after.is_empty() || after.starts_with('#')))
    .then_some(name)
}

/// Cuts `source` before every `per`-th header, or `None` where cutting could
/// change what the file means: a multi-line string (a header-like line could
/// be inside it), any other line that starts with `[` (another kind of
/// header, or a multi-line array), or anything but comments before the first
/// header (a later piece would not see it). Each piece is then a TOML
/// document whose elements are exactly those the whole file has there.
fn pieces(source: &str, per: usize) -> Option<Vec<Piece<'_>>> {
    if source.contains("\"\"\"") || source.contains("'''") {
        return None;
    }
    let mut out = Vec::new();
    let mut base = PerTableBase::new();
    let mut piece_start = 0usize;
    let mut piece_base = PerTableBase::new();
    let mut in_piece = 0usize;
    let mut seen_header = false;
    let mut offset = 0usize;
    for line in source.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            let name = plain_header(line)?;
            if in_piece == per {
                out.push(Piece {
                    text: &source[piece_start..offset],
                    base: std::mem::replace(&mut piece_base, base.clone()),
                });
                piece_start = offset;
                in_piece = 0;
            }
            *base.entry(name.to_string()).or_default() += 1;
            in_piece += 1;
            seen_header = true;
        } else if !(seen_header || t.is_empty() || t.starts_with('#')) {
            return None;
        }
        offset += line.len();
    }
    out.push(Piece {
        text: &source[piece_start..],
        base: piece_base,
    });
    Some(out)
}

/// Reads one TOML document of `[[entry.T]]` arrays; element `i` of table T
/// is named `entry.T[base[T] + i]` in errors.
fn document(
    module: &Module,
    name: &str,
    source: &str,
    base: &PerTableBase,
) -> Result<PerTable, FileError> {
    let v: toml9::Table = source
        .parse()
        .map_err(|e: toml9::de::Error| FileError::Toml {
            file: name.into(),
            detail: e.to_string(),
        })?;
    let shape = |where_: String, message: &str| FileError::Shape {
        file: name.into(),
        where_,
        message: message.into(),
    };
    let mut out = PerTable::new();
    for (k, _) in v.iter() {
        if k != "entry" && k != "group" {
            return Err(shape(
                format!("[{k}]"),
                "an entries file holds only [[entry.TABLE]] and [[group.TABLE]] arrays",
            ));
        }
    }
    if let Some(groups) = v.get("group") {
        groups_section(module, name, groups, &mut out)?;
    }
    let Some(section) = v.get("entry") else {
        return Ok(out);
    };
    let Some(tables) = section.as_table() else {
        return Err(shape("entry".into(), "write entries as [[entry.TABLE]]"));
    };
    for (tname, list) in tables {
        let Some(list) = list.as_array() else {
            return Err(shape(
                format!("entry.{tname}"),
                "write entries as [[entry.TABLE]] (an array of tables)",
            ));
        };
        let first = base.get(tname).copied().unwrap_or(0);
        let done = out.entry(tname.clone()).or_default();
        done.reserve(list.len());
        for (i, e) in list.iter().enumerate() {
            let where_ = || format!("entry.{tname}[{}]", first + i);
            let Some(e) = e.as_table() else {
                return Err(shape(
                    where_(),
                    "an entry is a table with match, action (and priority)",
                ));
            };
            let mut text = EntryText {
                table: tname.clone(),
                ..Default::default()
            };
            for (k, v) in e {
                match k.as_str() {
                    "match" => {
                        let Some(m) = v.as_table() else {
                            return Err(shape(where_(), "match = { \"field\" = \"value\", ... }"));
                        };
                        for (f, val) in m {
                            let Some(l) = lit(val) else {
                                return Err(shape(
                                    where_(),
                                    "match values are strings or integers",
                                ));
                            };
                            text.matches.push((f.clone(), l));
                        }
                    }
                    "priority" => {
                        text.priority = Some(
                            v.as_integer()
                                .ok_or_else(|| shape(where_(), "priority is an integer"))?,
                        );
                    }
                    "action" => {
                        (text.action, text.args) = call(v).map_err(|m| shape(where_(), m))?;
                    }
                    "meter" => {
                        let hint = "meter = { rate = N, burst = N } (integers)";
                        let m = v.as_table().ok_or_else(|| shape(where_(), hint))?;
                        let get = |k: &str| m.get(k).and_then(|x| x.as_integer());
                        if m.keys().any(|k| k != "rate" && k != "burst") {
                            return Err(shape(where_(), hint));
                        }
                        // One left out is the table's default.
                        let t = table(module, tname).ok();
                        let d = t.and_then(|t| t.meter.as_ref()).map(|m| m.default);
                        let rate = get("rate").or(d.map(|d| d.rate as i64));
                        let burst = get("burst").or(d.map(|d| d.burst as i64));
                        text.meter = Some((rate.unwrap_or(0), burst.unwrap_or(0)));
                    }
                    other => {
                        return Err(shape(
                            where_(),
                            &format!(
                                "unknown key {other:?} (an entry has match, priority, action, meter)"
                            ),
                        ));
                    }
                }
            }
            if text.action.is_empty() {
                return Err(shape(where_(), "the entry has no action"));
            }
            let parsed = entry(module, &text).map_err(|source| FileError::Entry {
                file: name.into(),
                where_: where_(),
                source,
            })?;
            done.push(parsed);
        }
    }
    Ok(out)
}

/// `FIELD=VALUE` → (field, literal); an all-digit value is read as an integer.
pub fn flag_pair(s: &str) -> Option<(String, Lit)> {
    let (k, v) = s.split_once('=')?;
    let k = k.trim();
    let v = v.trim();
    if k.is_empty() {
        return None;
    }
    let lit = match v.parse::<i64>() {
        Ok(n) if !v.starts_with('+') => Lit::Int(n),
        _ => Lit::Str(v.to_string()),
    };
    Some((k.to_string(), lit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Module {
        offload_core::spec::compile(include_str!("../../../examples/edge-router.toml"))
            .expect("example compiles")
    }

    /// `n` routes and, every 7th element, an ACL entry: two tables interleaved.
    fn big(n: usize) -> String {
        let mut s = String::from("# routes\n\n");
        for i in 0..n {
            let a = 0x0b00_0000u32 + (i as u32) * 256;
            s.push_str(&format!(
                "[[entry.routes]]\nmatch = {{ \"ipv4.dst\" = \"{}/24\" }}\naction = \"deny\"\n",
                std::net::Ipv4Addr::from(a)
            ));
            if i % 7 == 0 {
                s.push_str(&format!(
                    "[[entry.acl]]  # acl\nmatch = {{ \"ipv4.protocol\" = 17, \"l4.dst_port\" = \"{i}\" }}\npriority = {}\naction = \"deny\"\n",
                    1000 + i
                ));
            }
        }
        s
    }

    #[test]
    fn a_cut_file_reads_as_the_whole_file() {
        let m = router();
        let src = big(3 * PIECE_ENTRIES);
        let p = pieces(&src, PIECE_ENTRIES).expect("plain headers are cut");
        assert!(p.len() > 3, "{} pieces", p.len());
        let whole = flatten(document(&m, "r.toml", &src, &PerTableBase::new()).unwrap());
        let cut = file(&m, "r.toml", &src).unwrap();
        assert_eq!(
            cut.len(),
            3 * PIECE_ENTRIES + (3 * PIECE_ENTRIES).div_ceil(7)
        );
        assert_eq!(cut, whole);
        // The pieces' bases count the elements before them, per table.
        let last = p.last().unwrap();
        let before: usize = last.base.values().sum();
        assert_eq!(before, (p.len() - 1) * PIECE_ENTRIES);
    }

    #[test]
    fn errors_in_a_late_piece_name_the_element_of_the_whole_file() {
        let m = router();
        let src = big(2 * PIECE_ENTRIES + 10);
        // Host bits set in route 2 * PIECE_ENTRIES + 3.
        let i = 2 * PIECE_ENTRIES + 3;
        let a = std::net::Ipv4Addr::from(0x0b00_0000u32 + (i as u32) * 256);
        let bad = src.replace(&format!("\"{a}/24\""), &format!("\"{a}/4\""));
        let err = file(&m, "r.toml", &bad).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("r.toml: entry.routes[{i}]")),
            "{err}"
        );
        // A TOML error: the location in the whole file.
        let broken = format!("{src}[[entry.routes]]\nmatch = {{ \n");
        let err = file(&m, "r.toml", &broken).unwrap_err().to_string();
        let lines = broken.lines().count();
        assert!(err.contains(&format!("line {lines}")), "{err}");
    }

    #[test]
    fn files_whose_meaning_a_cut_could_change_are_read_whole() {
        let body =
            "[[entry.routes]]\nmatch = { \"ipv4.dst\" = \"10.0.0.0/8\" }\naction = \"deny\"\n";
        assert!(pieces(body, 1).is_some());
        for bad in [
            format!("x = 1\n{body}"),
            format!("{body}[entry]\n"),
            format!("{body}[[entry.\"routes\"]]\n"),
            format!("{body}note = \"\"\"\n[[entry.routes]]\n\"\"\"\n"),
            format!("{body}args = [\n  [1]]\n"),
        ] {
            assert!(pieces(&bad, 1).is_none(), "{bad}");
        }
    }

    #[test]
    fn groups_in_an_entries_file_are_one_entry_per_bucket() {
        let m = offload_core::spec::compile(include_str!("../../../examples/l3-router-ecmp.toml"))
            .expect("example compiles");
        let src = r#"
[[group.ecmp]]
match = { "meta.group" = 3 }
members = [
  { set_nhop = { dmac = "02:00:00:00:03:01", port = "spine1" } },
  { set_nhop = { dmac = "02:00:00:00:03:02", port = "spine3" } },
]
[[entry.routes]]
match = { "ipv4.dst" = "172.16.0.0/12" }
action = { to_group = { group = 3 } }
"#;
        let es = file(&m, "g.toml", src).unwrap();
        let ecmp: Vec<&Entry> = es
            .iter()
            .filter(|(t, _)| t == "ecmp")
            .map(|(_, e)| e)
            .collect();
        assert_eq!(ecmp.len(), 16);
        for (b, e) in ecmp.iter().enumerate() {
            assert_eq!(e.matches, [KeyMatch::Exact(3), KeyMatch::Exact(b as u128)]);
            // Member b mod 2: spine1 (port 2) or spine3 (port 4).
            assert_eq!(e.action.args[1], if b % 2 == 0 { 2 } else { 4 });
        }
        assert_eq!(es.iter().filter(|(t, _)| t == "routes").count(), 1);
        // Mistakes name the group (and the bucket where an entry is wrong).
        for (bad, want) in [
            (
                src.replace("members = [", "members = [\"to_host\", "),
                "g.toml: group.ecmp[0] bucket 0",
            ),
            (
                src.replace("[[group.ecmp]]", "[[group.routes]]"),
                "no hash key",
            ),
            (
                src.replace("\"meta.group\" = 3", "\"meta.group\" = 3, \"hash\" = 1"),
                "leave `hash` out",
            ),
        ] {
            let err = file(&m, "g.toml", &bad).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        // A bucket outside the hash key is refused in plain entries too.
        let err = file(
            &m,
            "g.toml",
            "[[entry.ecmp]]\nmatch = { \"meta.group\" = 1, \"hash\" = 16 }\naction = { set_nhop = { dmac = \"02:00:00:00:00:09\", port = \"host\" } }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("bucket 16 of a hash key with 16 buckets"),
            "{err}"
        );
    }

    #[test]
    fn entry_meters_are_checked_and_canonical() {
        let m = offload_core::spec::compile(include_str!("../../../examples/ddos-mitigator.toml"))
            .expect("example compiles");
        let text = |table: &str, meter| EntryText {
            table: table.into(),
            matches: vec![("ipv4.src".into(), Lit::Str("10.20.0.0/16".into()))],
            action: if table == "blocklist" {
                "block"
            } else {
                "allow"
            }
            .into(),
            meter,
            ..Default::default()
        };
        let e = entry(&m, &text("ratelimit", Some((500, 50)))).unwrap();
        assert_eq!(
            e.meter,
            Some(MeterRate {
                rate: 500,
                burst: 50
            })
        );
        // The table's default is no meter of its own (canonical).
        let e = entry(&m, &text("ratelimit", Some((100_000, 20_000)))).unwrap();
        assert_eq!(e.meter, None);
        for (t, meter, why) in [
            ("blocklist", Some((5, 5)), "has no meter"),
            ("ratelimit", Some((0, 5)), "rate 0"),
            ("ratelimit", Some((5, 0)), "burst 0"),
        ] {
            let err = entry(&m, &text(t, meter)).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        // A file's `meter` takes the table's value for a key it leaves out.
        let f = file(
            &m,
            "e.toml",
            "[[entry.ratelimit]]\nmatch = { \"ipv4.src\" = \"10.30.0.0/16\" }\nmeter = { rate = 7 }\naction = \"allow\"\n",
        )
        .unwrap();
        assert_eq!(
            f[0].1.meter,
            Some(MeterRate {
                rate: 7,
                burst: 20_000
            })
        );
    }
}
