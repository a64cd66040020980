//! Module entries ↔ P4Runtime table entries.
//!
//! Names go module → naming map (offload-p4's [`NamingMap`]: table runtime
//! name `IngressImpl.acl`, key expression `hdr.ipv4.src`, action
//! `IngressImpl.route`, parameter `port`) → P4Info (ids, bit widths). These
//! are the names p4c writes into the P4Info: a table or action by its fully
//! qualified name, a match field by its key expression, a parameter by its
//! name.
//!
//! Both directions produce the canonical form, so that an entry read back
//! from the switch compares equal to the one written:
//! - bytestrings are the shortest big-endian strings ([`super::bytestr`]);
//! - LPM values have their host bits cleared, ternary values are masked;
//! - wildcards are left out of `match` (ternary mask 0, LPM length 0, the
//!   full range), as the spec requires, and an absent field reads back as
//!   the module's explicit wildcard (`Ternary{0,0}`, `Lpm{0,0}`, `Range{0,max}`);
//! - the P4Runtime priority is the module priority + 1
//!   ([`offload_p4::entries::p4runtime_priority`]), 0 for tables without priorities;
//! - action arguments of type `port` are switch ports on the wire, logical
//!   ports in the module (the naming map's port table; identity otherwise);
//!   key values are not translated, like the generated program does.

use super::bytestr::{self, BytestrError};
use super::p4info::{self, MatchType, P4Info};
use super::proto::{self, field_match, table_action, FieldMatch, TableEntry, Update};
use offload_core::diag::Span;
use offload_core::ir::{
    mask_of_width, prefix_mask, ActionCall, Entry, KeyMatch, MatchKind, Module, ParamType, Table,
    TableId,
};
use offload_p4::entries::{p4runtime_priority, P4RUNTIME_MAX_PRIORITY};
use offload_p4::names::TableName;
use offload_p4::NamingMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error("the module has no table #{table}")]
    NoTable { table: u32 },
    #[error("table `{table}` has no P4 name in the naming map")]
    NoName { table: String },
    #[error("table `{table}`: the P4Info has no table `{p4}`")]
    TableNotInP4Info { table: String, p4: String },
    #[error("the P4Info has no table with id {id:#x}")]
    UnknownTableId { id: u32 },
    #[error("P4Info table `{p4}` is not a table of module `{module}`")]
    TableNotInModule { p4: String, module: String },
    #[error("table `{table}`: an entry has {got} key matches for {want} keys")]
    KeyCount {
        table: String,
        got: usize,
        want: usize,
    },
    #[error("table `{table}`: the P4Info table `{p4}` has no match field `{field}`")]
    NoMatchField {
        table: String,
        p4: String,
        field: String,
    },
    #[error(
        "table `{table}` key `{field}`: the module matches it {module}, the P4Info says {p4info}"
    )]
    KindMismatch {
        table: String,
        field: String,
        module: String,
        p4info: String,
    },
    #[error("table `{table}` key `{field}`: {what}")]
    BadMatch {
        table: String,
        field: String,
        what: String,
    },
    #[error("table `{table}` key `{field}`: {source}")]
    KeyValue {
        table: String,
        field: String,
        #[source]
        source: BytestrError,
    },
    #[error("table `{table}`: match on field id {field_id}, which the table does not have")]
    UnknownField { table: String, field_id: u32 },
    #[error("table `{table}`: field `{field}` is matched twice")]
    DuplicateField { table: String, field: String },
    #[error("table `{table}`: the exact key `{field}` is missing")]
    MissingExact { table: String, field: String },
    #[error("table `{table}`: priority {priority} does not fit P4Runtime (module priorities go up to {max})")]
    PriorityRange {
        table: String,
        priority: u32,
        max: u32,
    },
    #[error("table `{table}`: P4Runtime priority {priority} is invalid for this table ({why})")]
    BadPriority {
        table: String,
        priority: i32,
        why: &'static str,
    },
    #[error("table `{table}`: the module has no action #{action}")]
    NoAction { table: String, action: u32 },
    #[error(
        "table `{table}`: action `{action}` is not one of the table's actions in the naming map"
    )]
    ActionNotInTable { table: String, action: String },
    #[error("table `{table}`: the P4Info has no action `{p4}`")]
    ActionNotInP4Info { table: String, p4: String },
    #[error(
        "table `{table}`: the entry has no direct action (action profiles are not used by offload)"
    )]
    NoDirectAction { table: String },
    #[error("table `{table}`: the P4Info has no action with id {id:#x}")]
    UnknownActionId { table: String, id: u32 },
    #[error("table `{table}`: P4 action `{p4}` is not an action of the module's table")]
    ForeignAction { table: String, p4: String },
    #[error("table `{table}` action `{action}`: {got} arguments for {want} parameters")]
    ArgCount {
        table: String,
        action: String,
        got: usize,
        want: usize,
    },
    #[error("table `{table}` action `{action}`: the P4Info has no parameter `{param}`")]
    NoParam {
        table: String,
        action: String,
        param: String,
    },
    #[error("table `{table}` action `{action}`: parameter `{param}` is missing")]
    MissingParam {
        table: String,
        action: String,
        param: String,
    },
    #[error("table `{table}` action `{action}` parameter `{param}`: {source}")]
    ParamValue {
        table: String,
        action: String,
        param: String,
        #[source]
        source: BytestrError,
    },
    #[error("table `{table}`: the naming map names no {what}")]
    NoCounter { table: String, what: &'static str },
    #[error("table `{table}`: the P4Info has no {what} `{p4}`")]
    CounterNotInP4Info {
        table: String,
        what: &'static str,
        p4: String,
    },
}

/// The pieces needed to translate: module, naming map, P4Info.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub module: &'a Module,
    pub names: &'a NamingMap,
    pub p4info: &'a P4Info,
}

struct Resolved<'a> {
    table: &'a Table,
    tn: &'a TableName,
    p4t: &'a p4info::Table,
}

fn resolve<'a>(n: &Names<'a>, table: TableId) -> Result<Resolved<'a>, TranslateError> {
    let t = n
        .module
        .tables
        .get(table.0 as usize)
        .ok_or(TranslateError::NoTable { table: table.0 })?;
    let tn = n
        .names
        .table(&t.name)
        .ok_or_else(|| TranslateError::NoName {
            table: t.name.clone(),
        })?;
    let p4t = n
        .p4info
        .table(&tn.runtime)
        .ok_or_else(|| TranslateError::TableNotInP4Info {
            table: t.name.clone(),
            p4: tn.runtime.clone(),
        })?;
    Ok(Resolved { table: t, tn, p4t })
}

fn match_type_of(k: MatchKind) -> MatchType {
    match k {
        MatchKind::Exact => MatchType::Exact,
        MatchKind::Lpm => MatchType::Lpm,
        MatchKind::Ternary => MatchType::Ternary,
        MatchKind::Range => MatchType::Range,
    }
}

fn kind_name(m: i32) -> String {
    MatchType::try_from(m)
        .map(|t| format!("{t:?}").to_lowercase())
        .unwrap_or_else(|_| format!("match type {m}"))
}

/// The P4Info id of a module table.
pub fn table_id(n: &Names, table: TableId) -> Result<u32, TranslateError> {
    Ok(resolve(n, table)?.p4t.id())
}

/// The P4Info id of the indexed counter that counts a table's misses (its
/// default action): one cell, index 0.
pub fn miss_counter_id(n: &Names, table: TableId) -> Result<u32, TranslateError> {
    let r = resolve(n, table)?;
    let name =
        r.tn.miss_counter
            .as_ref()
            .ok_or_else(|| TranslateError::NoCounter {
                table: r.table.name.clone(),
                what: "miss counter",
            })?;
    n.p4info
        .counter(name)
        .map(|c| c.id())
        .ok_or_else(|| TranslateError::CounterNotInP4Info {
            table: r.table.name.clone(),
            what: "counter",
            p4: name.clone(),
        })
}

/// The P4Info id of a table's direct counter.
pub fn direct_counter_id(n: &Names, table: TableId) -> Result<u32, TranslateError> {
    let r = resolve(n, table)?;
    let name =
        r.tn.direct_counter
            .as_ref()
            .ok_or_else(|| TranslateError::NoCounter {
                table: r.table.name.clone(),
                what: "direct counter",
            })?;
    n.p4info
        .direct_counter(name)
        .map(|c| c.id())
        .ok_or_else(|| TranslateError::CounterNotInP4Info {
            table: r.table.name.clone(),
            what: "direct counter",
            p4: name.clone(),
        })
}

/// The `TableEntry` that inserts (or, as an update of another type,
/// modifies/deletes) `entry` of module table `table`.
pub fn table_entry(n: &Names, table: TableId, entry: &Entry) -> Result<TableEntry, TranslateError> {
    let r = resolve(n, table)?;
    let t = r.table;
    if entry.matches.len() != t.keys.len() {
        return Err(TranslateError::KeyCount {
            table: t.name.clone(),
            got: entry.matches.len(),
            want: t.keys.len(),
        });
    }
    let mut matches = Vec::new();
    for ((key, km), kn) in t.keys.iter().zip(&entry.matches).zip(&r.tn.keys) {
        let mf = r
            .p4t
            .match_field(&kn.p4)
            .ok_or_else(|| TranslateError::NoMatchField {
                table: t.name.clone(),
                p4: r.tn.runtime.clone(),
                field: kn.p4.clone(),
            })?;
        if mf.match_type != match_type_of(key.kind) as i32 {
            return Err(TranslateError::KindMismatch {
                table: t.name.clone(),
                field: kn.field.clone(),
                module: key.kind.to_string(),
                p4info: kind_name(mf.match_type),
            });
        }
        let width = mf.bitwidth.clamp(0, 128) as u32;
        let val = |v: u128| {
            bytestr::encode_checked(v, width).map_err(|source| TranslateError::KeyValue {
                table: t.name.clone(),
                field: kn.field.clone(),
                source,
            })
        };
        let bad = |what: String| TranslateError::BadMatch {
            table: t.name.clone(),
            field: kn.field.clone(),
            what,
        };
        let fmt = match (key.kind, *km) {
            (MatchKind::Exact, KeyMatch::Exact(v)) => {
                Some(field_match::FieldMatchType::Exact(field_match::Exact {
                    value: val(v)?,
                }))
            }
            (MatchKind::Lpm, KeyMatch::Lpm { prefix_len: 0, .. }) => None,
            (MatchKind::Lpm, KeyMatch::Lpm { value, prefix_len }) => {
                if prefix_len > width {
                    return Err(bad(format!("prefix length {prefix_len} > width {width}")));
                }
                Some(field_match::FieldMatchType::Lpm(field_match::Lpm {
                    value: val(value & prefix_mask(width, prefix_len))?,
                    prefix_len: prefix_len as i32,
                }))
            }
            (MatchKind::Ternary, KeyMatch::Ternary { value, mask }) => {
                // Mask bits beyond the field are refused by val(mask).
                if mask == 0 {
                    None
                } else {
                    Some(field_match::FieldMatchType::Ternary(field_match::Ternary {
                        value: val(value & mask)?,
                        mask: val(mask)?,
                    }))
                }
            }
            (MatchKind::Range, KeyMatch::Range { lo, hi }) => {
                if lo > hi {
                    return Err(bad(format!("empty range {lo}..{hi}")));
                }
                if lo == 0 && hi == mask_of_width(width) {
                    None
                } else {
                    Some(field_match::FieldMatchType::Range(field_match::Range {
                        low: val(lo)?,
                        high: val(hi)?,
                    }))
                }
            }
            (kind, m) => return Err(bad(format!("a {kind} key given the match {m:?}"))),
        };
        if let Some(fmt) = fmt {
            matches.push(FieldMatch {
                field_id: mf.id,
                field_match_type: Some(fmt),
            });
        }
    }
    let priority = if t.needs_priority() {
        let p = entry.priority.unwrap_or(0);
        p4runtime_priority(p).ok_or_else(|| TranslateError::PriorityRange {
            table: t.name.clone(),
            priority: p,
            max: P4RUNTIME_MAX_PRIORITY,
        })?
    } else {
        0
    };
    Ok(TableEntry {
        table_id: r.p4t.id(),
        r#match: matches,
        action: Some(action(n, &r, &entry.action)?),
        priority,
        ..Default::default()
    })
}

/// The default entry of module table `table` (its `default_action`): write
/// it as a MODIFY (a table always has a default entry).
pub fn default_entry(n: &Names, table: TableId) -> Result<TableEntry, TranslateError> {
    let r = resolve(n, table)?;
    Ok(TableEntry {
        table_id: r.p4t.id(),
        action: Some(action(n, &r, &r.table.default_action)?),
        is_default_action: true,
        ..Default::default()
    })
}

/// Every table's default action (MODIFY) and entries (INSERT), in table order:
/// one batch that programs a freshly loaded pipeline.
pub fn module_updates(n: &Names) -> Result<Vec<Update>, TranslateError> {
    let mut out = Vec::new();
    for t in &n.module.tables {
        out.push(Update::modify(default_entry(n, t.id)?));
        for e in &t.entries {
            out.push(Update::insert(table_entry(n, t.id, e)?));
        }
    }
    Ok(out)
}

fn switch_port(names: &NamingMap, logical: u128) -> u128 {
    names
        .ports
        .iter()
        .find(|p| u128::from(p.id) == logical)
        .map(|p| u128::from(p.switch_port))
        .unwrap_or(logical)
}

fn logical_port(names: &NamingMap, switch: u128) -> u128 {
    names
        .ports
        .iter()
        .find(|p| u128::from(p.switch_port) == switch)
        .map(|p| u128::from(p.id))
        .unwrap_or(switch)
}

fn param_p4_name(names: &NamingMap, action: &str, index: usize, module_name: &str) -> String {
    names
        .actions
        .iter()
        .find(|a| a.module == action)
        .and_then(|a| a.params.get(index))
        .map(|p| p.p4.clone())
        .unwrap_or_else(|| offload_p4::names::ident(module_name))
}

fn action(
    n: &Names,
    r: &Resolved,
    call: &ActionCall,
) -> Result<proto::TableAction, TranslateError> {
    let t = r.table;
    let a = n
        .module
        .actions
        .get(call.action.0 as usize)
        .ok_or(TranslateError::NoAction {
            table: t.name.clone(),
            action: call.action.0,
        })?;
    let runtime =
        r.tn.actions
            .iter()
            .find(|x| x.module == a.name)
            .ok_or_else(|| TranslateError::ActionNotInTable {
                table: t.name.clone(),
                action: a.name.clone(),
            })?;
    let pa =
        n.p4info
            .action(&runtime.runtime)
            .ok_or_else(|| TranslateError::ActionNotInP4Info {
                table: t.name.clone(),
                p4: runtime.runtime.clone(),
            })?;
    if call.args.len() != a.params.len() {
        return Err(TranslateError::ArgCount {
            table: t.name.clone(),
            action: a.name.clone(),
            got: call.args.len(),
            want: a.params.len(),
        });
    }
    let mut params = Vec::new();
    for (i, (p, v)) in a.params.iter().zip(&call.args).enumerate() {
        let p4name = param_p4_name(n.names, &a.name, i, &p.name);
        let pp = pa.param(&p4name).ok_or_else(|| TranslateError::NoParam {
            table: t.name.clone(),
            action: a.name.clone(),
            param: p4name.clone(),
        })?;
        let v = if p.ty == ParamType::Port {
            switch_port(n.names, *v)
        } else {
            *v
        };
        let value =
            bytestr::encode_checked(v, pp.bitwidth.clamp(0, 128) as u32).map_err(|source| {
                TranslateError::ParamValue {
                    table: t.name.clone(),
                    action: a.name.clone(),
                    param: p.name.clone(),
                    source,
                }
            })?;
        params.push(proto::action::Param {
            param_id: pp.id,
            value,
        });
    }
    Ok(proto::TableAction::action(proto::Action {
        action_id: pa.id(),
        params,
    }))
}

/// A table entry read from the switch, as a module entry (canonical form,
/// `span` empty). Default entries are refused: use [`default_from_p4rt`].
pub fn entry_from_p4rt(n: &Names, te: &TableEntry) -> Result<(TableId, Entry), TranslateError> {
    let (r, call) = reverse_common(n, te)?;
    let t = r.table;
    let mut seen = std::collections::BTreeSet::new();
    for fm in &te.r#match {
        let mf =
            r.p4t
                .match_field_by_id(fm.field_id)
                .ok_or_else(|| TranslateError::UnknownField {
                    table: t.name.clone(),
                    field_id: fm.field_id,
                })?;
        if !seen.insert(fm.field_id) {
            return Err(TranslateError::DuplicateField {
                table: t.name.clone(),
                field: mf.name.clone(),
            });
        }
        if !r.tn.keys.iter().any(|k| k.p4 == mf.name) {
            return Err(TranslateError::UnknownField {
                table: t.name.clone(),
                field_id: fm.field_id,
            });
        }
    }
    let mut matches = Vec::new();
    for (key, kn) in t.keys.iter().zip(&r.tn.keys) {
        let mf = r
            .p4t
            .match_field(&kn.p4)
            .ok_or_else(|| TranslateError::NoMatchField {
                table: t.name.clone(),
                p4: r.tn.runtime.clone(),
                field: kn.p4.clone(),
            })?;
        let width = mf.bitwidth.clamp(0, 128) as u32;
        let val = |b: &[u8]| {
            bytestr::decode(b, width).map_err(|source| TranslateError::KeyValue {
                table: t.name.clone(),
                field: kn.field.clone(),
                source,
            })
        };
        let bad = |what: String| TranslateError::BadMatch {
            table: t.name.clone(),
            field: kn.field.clone(),
            what,
        };
        let fm = te.r#match.iter().find(|f| f.field_id == mf.id);
        use field_match::FieldMatchType as F;
        let km = match (key.kind, fm.and_then(|f| f.field_match_type.as_ref())) {
            (MatchKind::Exact, None) => {
                return Err(TranslateError::MissingExact {
                    table: t.name.clone(),
                    field: kn.field.clone(),
                })
            }
            (MatchKind::Lpm, None) => KeyMatch::Lpm {
                value: 0,
                prefix_len: 0,
            },
            (MatchKind::Ternary, None) => KeyMatch::Ternary { value: 0, mask: 0 },
            (MatchKind::Range, None) => KeyMatch::Range {
                lo: 0,
                hi: mask_of_width(width),
            },
            (MatchKind::Exact, Some(F::Exact(e))) => KeyMatch::Exact(val(&e.value)?),
            (MatchKind::Lpm, Some(F::Lpm(l))) => {
                let len = u32::try_from(l.prefix_len)
                    .ok()
                    .filter(|len| *len <= width)
                    .ok_or_else(|| bad(format!("prefix length {}", l.prefix_len)))?;
                KeyMatch::Lpm {
                    value: if len == 0 {
                        0
                    } else {
                        val(&l.value)? & prefix_mask(width, len)
                    },
                    prefix_len: len,
                }
            }
            (MatchKind::Ternary, Some(F::Ternary(x))) => {
                let mask = val(&x.mask)?;
                KeyMatch::Ternary {
                    value: val(&x.value)? & mask,
                    mask,
                }
            }
            (MatchKind::Range, Some(F::Range(x))) => {
                let (lo, hi) = (val(&x.low)?, val(&x.high)?);
                if lo > hi {
                    return Err(bad(format!("empty range {lo}..{hi}")));
                }
                KeyMatch::Range { lo, hi }
            }
            (kind, Some(other)) => {
                return Err(bad(format!("a {kind} key read back as {other:?}")));
            }
        };
        matches.push(km);
    }
    let priority = if t.needs_priority() {
        if te.priority < 1 {
            return Err(TranslateError::BadPriority {
                table: t.name.clone(),
                priority: te.priority,
                why: "ternary and range tables need priorities >= 1",
            });
        }
        Some(te.priority as u32 - 1)
    } else {
        if te.priority != 0 {
            return Err(TranslateError::BadPriority {
                table: t.name.clone(),
                priority: te.priority,
                why: "the table has no ternary or range key",
            });
        }
        None
    };
    Ok((
        t.id,
        Entry {
            meter: None,
            matches,
            priority,
            action: call,
            span: Span::default(),
        },
    ))
}

/// A default entry read from the switch, as the module's action call.
pub fn default_from_p4rt(
    n: &Names,
    te: &TableEntry,
) -> Result<(TableId, ActionCall), TranslateError> {
    let (r, call) = reverse_common(n, te)?;
    Ok((r.table.id, call))
}

fn reverse_common<'a>(
    n: &Names<'a>,
    te: &TableEntry,
) -> Result<(Resolved<'a>, ActionCall), TranslateError> {
    let p4t = n
        .p4info
        .table_by_id(te.table_id)
        .ok_or(TranslateError::UnknownTableId { id: te.table_id })?;
    let tn = n
        .names
        .tables
        .iter()
        .find(|t| t.runtime == p4t.name())
        .ok_or_else(|| TranslateError::TableNotInModule {
            p4: p4t.name().to_string(),
            module: n.module.name.clone(),
        })?;
    let table =
        n.module
            .table_by_name(&tn.module)
            .ok_or_else(|| TranslateError::TableNotInModule {
                p4: p4t.name().to_string(),
                module: n.module.name.clone(),
            })?;
    let r = Resolved { table, tn, p4t };
    let call = action_from_p4rt(n, &r, te)?;
    Ok((r, call))
}

fn action_from_p4rt(
    n: &Names,
    r: &Resolved,
    te: &TableEntry,
) -> Result<ActionCall, TranslateError> {
    let t = r.table;
    let Some(table_action::Type::Action(pa)) = te.action.as_ref().and_then(|a| a.r#type.as_ref())
    else {
        return Err(TranslateError::NoDirectAction {
            table: t.name.clone(),
        });
    };
    let info = n
        .p4info
        .action_by_id(pa.action_id)
        .ok_or(TranslateError::UnknownActionId {
            table: t.name.clone(),
            id: pa.action_id,
        })?;
    let runtime =
        r.tn.actions
            .iter()
            .find(|a| a.runtime == info.name())
            .ok_or_else(|| TranslateError::ForeignAction {
                table: t.name.clone(),
                p4: info.name().to_string(),
            })?;
    let a =
        n.module
            .action_by_name(&runtime.module)
            .ok_or_else(|| TranslateError::ForeignAction {
                table: t.name.clone(),
                p4: info.name().to_string(),
            })?;
    let mut args = Vec::new();
    for (i, p) in a.params.iter().enumerate() {
        let p4name = param_p4_name(n.names, &a.name, i, &p.name);
        let pp = info.param(&p4name).ok_or_else(|| TranslateError::NoParam {
            table: t.name.clone(),
            action: a.name.clone(),
            param: p4name.clone(),
        })?;
        let given = pa
            .params
            .iter()
            .find(|x| x.param_id == pp.id)
            .ok_or_else(|| TranslateError::MissingParam {
                table: t.name.clone(),
                action: a.name.clone(),
                param: p.name.clone(),
            })?;
        let v =
            bytestr::decode(&given.value, pp.bitwidth.clamp(0, 128) as u32).map_err(|source| {
                TranslateError::ParamValue {
                    table: t.name.clone(),
                    action: a.name.clone(),
                    param: p.name.clone(),
                    source,
                }
            })?;
        args.push(if p.ty == ParamType::Port {
            logical_port(n.names, v)
        } else {
            v
        });
    }
    Ok(ActionCall { action: a.id, args })
}

/// `entry` in the canonical form [`entry_from_p4rt`] produces: LPM host bits
/// and unmasked ternary bits cleared, masks within the key's width, a
/// priority only where the table has priorities, no span. Compare a desired
/// entry with an observed one through this on both sides.
pub fn canonical(table: &Table, entry: &Entry) -> Entry {
    let matches = table
        .keys
        .iter()
        .zip(&entry.matches)
        .map(|(k, m)| {
            let w = k.field.width();
            match *m {
                KeyMatch::Exact(v) => KeyMatch::Exact(v & mask_of_width(w)),
                KeyMatch::Lpm { value, prefix_len } => {
                    let len = prefix_len.min(w);
                    KeyMatch::Lpm {
                        value: value & prefix_mask(w, len),
                        prefix_len: len,
                    }
                }
                KeyMatch::Ternary { value, mask } => {
                    let mask = mask & mask_of_width(w);
                    KeyMatch::Ternary {
                        value: value & mask,
                        mask,
                    }
                }
                KeyMatch::Range { lo, hi } => KeyMatch::Range { lo, hi },
            }
        })
        .collect();
    Entry {
        meter: None,
        matches,
        priority: table.needs_priority().then(|| entry.priority.unwrap_or(0)),
        action: entry.action.clone(),
        span: Span::default(),
    }
}

#[cfg(test)]
mod tests;
