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
use offload_core::ir::{ActionCall, Entry, KeyMatch, MatchKind, Module, Table};
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
    let Some(action) = module.action_by_name(&text.action) else {
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
    let e = Entry {
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

fn lit(v: &toml::Value) -> Option<Lit> {
    match v {
        toml::Value::String(s) => Some(Lit::Str(s.clone())),
        toml::Value::Integer(i) => Some(Lit::Int(*i)),
        _ => None,
    }
}

/// An entries file: `[[entry.TABLE]]` arrays as in a module. Returns entries
/// per table in file order.
pub fn file(module: &Module, name: &str, source: &str) -> Result<Vec<(String, Entry)>, FileError> {
    let v: toml::Table = source
        .parse()
        .map_err(|e: toml::de::Error| FileError::Toml {
            file: name.into(),
            detail: e.to_string(),
        })?;
    let shape = |where_: String, message: &str| FileError::Shape {
        file: name.into(),
        where_,
        message: message.into(),
    };
    let mut out = Vec::new();
    for (k, _) in v.iter() {
        if k != "entry" {
            return Err(shape(
                format!("[{k}]"),
                "an entries file holds only [[entry.TABLE]] arrays",
            ));
        }
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
        for (i, e) in list.iter().enumerate() {
            let where_ = format!("entry.{tname}[{i}]");
            let Some(e) = e.as_table() else {
                return Err(shape(
                    where_,
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
                            return Err(shape(where_, "match = { \"field\" = \"value\", ... }"));
                        };
                        for (f, val) in m {
                            let Some(l) = lit(val) else {
                                return Err(shape(where_, "match values are strings or integers"));
                            };
                            text.matches.push((f.clone(), l));
                        }
                    }
                    "priority" => {
                        text.priority = Some(
                            v.as_integer()
                                .ok_or_else(|| shape(where_.clone(), "priority is an integer"))?,
                        );
                    }
                    "action" => match v {
                        toml::Value::String(s) => text.action = s.clone(),
                        toml::Value::Table(t) if t.len() == 1 => {
                            let (a, params) = t.iter().next().expect("one");
                            text.action = a.clone();
                            let Some(params) = params.as_table() else {
                                return Err(shape(where_, "action = { name = { param = value } }"));
                            };
                            for (p, val) in params {
                                let Some(l) = lit(val) else {
                                    return Err(shape(
                                        where_,
                                        "argument values are strings or integers",
                                    ));
                                };
                                text.args.push((p.clone(), l));
                            }
                        }
                        _ => {
                            return Err(shape(
                                where_,
                                "action = \"name\" or { name = { param = value } }",
                            ))
                        }
                    },
                    other => {
                        return Err(shape(
                            where_,
                            &format!(
                                "unknown key {other:?} (an entry has match, priority, action)"
                            ),
                        ));
                    }
                }
            }
            if text.action.is_empty() {
                return Err(shape(where_, "the entry has no action"));
            }
            let parsed = entry(module, &text).map_err(|source| FileError::Entry {
                file: name.into(),
                where_: where_.clone(),
                source,
            })?;
            out.push((tname.clone(), parsed));
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
