//! [`ModuleAst`] → [`ir::Module`]: resolves names, checks values, and puts
//! entries in canonical form, collecting every diagnostic on the way.
//!
//! Order of work: module header, ports, actions (ids = declaration order),
//! tables (ids = file order), then entries. Something that failed early keeps
//! its name (so later references still resolve) but is marked broken, so one
//! mistake is reported once, not again at every use.

use super::ast::*;
use super::literal::{self, LitError, LitType, Ports};
use super::prim::{self, PRIMITIVES};
use super::suggest::did_you_mean;
use crate::diag::{codes, Diagnostic, Span};
use crate::ir::{
    self, ActionCall, ActionId, DefaultVerdict, Field, FieldKind, Header, KeyMatch, MatchKind,
    Operand, Param, ParamType, PortId, Primitive, TableId,
};
use std::collections::HashMap;

mod actions;
mod entries;
mod meters;
mod tables;

/// Default `size` of a table that does not give one.
pub const DEFAULT_TABLE_SIZE: u32 = 1024;
/// Largest `size` a table may declare.
pub const MAX_TABLE_SIZE: i64 = 1_000_000;
/// Longest name (module, port, table, action, parameter).
pub const MAX_NAME_LEN: usize = 64;
/// Counts the language allows. Far above what a real module uses (and what
/// targets can hold), they keep every check linear on hostile input.
pub const MAX_TABLES: usize = 256;
pub const MAX_ACTIONS: usize = 1024;
pub const MAX_KEYS: usize = 16;
pub const MAX_TABLE_ACTIONS: usize = 256;
pub const MAX_PARAMS: usize = 32;
pub const MAX_PRIMITIVES: usize = 256;
/// Lowering stops early once this many diagnostics are collected: only the
/// first [`super::MAX_DIAGNOSTICS`] are shown, and it bounds the work
/// (suggestions cost a scan of the candidates each).
const STOP_AFTER: usize = 2 * super::MAX_DIAGNOSTICS;

#[derive(Default)]
struct DeclaredPorts {
    list: Vec<(String, u16)>,
    by_name: HashMap<String, u16>,
    numbers: std::collections::HashSet<u16>,
}

impl DeclaredPorts {
    fn add(&mut self, name: &str, n: u16) {
        self.list.push((name.to_string(), n));
        self.by_name.insert(name.to_string(), n);
        self.numbers.insert(n);
    }
}

impl Ports for DeclaredPorts {
    fn by_name(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }
    fn has_number(&self, n: u16) -> bool {
        self.numbers.contains(&n)
    }
    fn names(&self) -> Vec<String> {
        self.list.iter().map(|(n, _)| n.clone()).collect()
    }
}

struct ActionInfo {
    name: String,
    params: Vec<Param>,
    /// Some parameter was malformed: calls are not checked against the list.
    params_broken: bool,
    body: Vec<Primitive>,
    span: Span,
}

struct TableInfo {
    name: String,
    keys: Vec<ir::Key>,
    keys_broken: bool,
    actions: Vec<ActionId>,
    default_action: Option<ActionCall>,
    size: u32,
    counters: bool,
    meter: Option<ir::Meter>,
    /// The table's `meter` was malformed (reported): entry meters are not checked against it.
    meter_broken: bool,
    span: Span,
    entries: Vec<ir::Entry>,
}

pub struct Lowerer<'s> {
    src: &'s str,
    pub diags: Vec<Diagnostic>,
    ports: DeclaredPorts,
    port_spans: Vec<Span>,
    actions: Vec<ActionInfo>,
    action_ids: HashMap<String, ActionId>,
    tables: Vec<TableInfo>,
}

/// Field names grouped for "did you mean" and notes.
fn field_names() -> impl Iterator<Item = &'static str> {
    Field::ALL.iter().map(|f| f.name())
}

fn is_ident(s: &str, allow_dash: bool) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_dash && c == '-'))
        && s.len() <= MAX_NAME_LEN
}

/// The parameter type that fits a field, as written in `params`.
fn param_type_for(field: Field) -> String {
    match field.kind() {
        FieldKind::Mac => "mac".into(),
        FieldKind::Ipv4 => "ipv4".into(),
        FieldKind::Ipv6 => "ipv6".into(),
        FieldKind::Int => format!("u{}", field.width()),
        FieldKind::Port => "port".into(),
    }
}

fn parse_param_type(s: &str) -> Option<ParamType> {
    Some(match s {
        "port" => ParamType::Port,
        "mac" => ParamType::Mac,
        "ipv4" => ParamType::Ipv4,
        "ipv6" => ParamType::Ipv6,
        _ => {
            let n: u32 = s.strip_prefix('u')?.parse().ok()?;
            if !(1..=32).contains(&n) || s.starts_with("u0") || s.contains('+') {
                return None;
            }
            ParamType::Uint(n)
        }
    })
}

impl<'s> Lowerer<'s> {
    /// `prior` are diagnostics found before lowering (by the reader); lowering
    /// adds to them and only succeeds if there are none at all.
    pub fn new(src: &'s str, prior: Vec<Diagnostic>) -> Self {
        Lowerer {
            src,
            diags: prior,
            ports: DeclaredPorts::default(),
            port_spans: Vec::new(),
            actions: Vec::new(),
            action_ids: HashMap::new(),
            tables: Vec::new(),
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Enough mistakes found: stop looking for more (see [`STOP_AFTER`]).
    fn saturated(&self) -> bool {
        self.diags.len() >= STOP_AFTER
    }

    /// Reports a count over its limit at the first item past it.
    fn limit(&mut self, what: &str, limit: usize, found: usize, at: Span) {
        self.push(
            Diagnostic::new(
                codes::LIMIT,
                format!("{found} {what}; the limit is {limit}"),
            )
            .with_label(at, format!("number {} is one too many", limit + 1))
            .with_note(format!(
                "a module may have at most {limit} {what}; split or simplify it"
            )),
        );
    }

    /// The span of bytes `r` inside the string value written at `span`, when
    /// the source holds the value verbatim between quotes (no escapes);
    /// otherwise the whole string.
    fn sub_span(&self, span: Span, value: &str, r: std::ops::Range<usize>) -> Span {
        let raw = self.src.get(span.start..span.end).unwrap_or("");
        let verbatim = raw.len() == value.len() + 2
            && (raw.starts_with('"') || raw.starts_with('\''))
            && raw.get(1..raw.len() - 1) == Some(value);
        if verbatim && r.end <= value.len() && r.start <= r.end {
            Span::new(span.start + 1 + r.start, span.start + 1 + r.end)
        } else {
            span
        }
    }

    fn lit_diag(&self, e: LitError, span: Span, text: Option<&str>) -> Diagnostic {
        let at = match text {
            Some(t) => self.sub_span(span, t, e.at.clone()),
            None => span,
        };
        Diagnostic::new(e.code, e.message)
            .with_label(at, e.label)
            .with_note(e.note)
    }

    fn check_name(&mut self, name: &Sp<String>, what: &str, allow_dash: bool) -> bool {
        if is_ident(&name.value, allow_dash) {
            return true;
        }
        let chars = if allow_dash {
            "letters, digits, `_` and `-`"
        } else {
            "letters, digits and `_`"
        };
        self.push(
            Diagnostic::new(codes::BAD_NAME, format!("`{}` is not a valid {what} name", name.value))
                .with_label(name.span, "invalid name")
                .with_note(format!(
                    "a {what} name starts with a letter or `_`, continues with {chars}, and has at most {MAX_NAME_LEN} characters"
                )),
        );
        false
    }

    /// Resolves a field name, explaining an unknown header or field.
    fn field(&mut self, name: &str, at: Span) -> Option<Field> {
        if let Some(f) = Field::from_name(name) {
            return Some(f);
        }
        let d = match name.split_once('.') {
            Some((h, f)) if Header::from_name(h).is_some() => {
                let header = Header::from_name(h).expect("checked");
                let fields: Vec<&str> = Field::ALL
                    .iter()
                    .filter(|x| x.header() == header)
                    .map(|x| x.name().split_once('.').map_or(x.name(), |p| p.1))
                    .collect();
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_FIELD,
                    format!("header `{h}` has no field `{f}`"),
                )
                .with_label(at, "unknown field");
                if let Some(best) = did_you_mean(f, fields.iter().copied()) {
                    d = d.with_note(format!("did you mean `{h}.{best}`?"));
                }
                d.with_note(format!("fields of `{h}`: {}", fields.join(", ")))
            }
            Some((h, _)) => {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_FIELD,
                    format!("unknown header `{h}` in `{name}`"),
                )
                .with_label(at, "unknown header");
                if let Some(best) = did_you_mean(name, field_names()) {
                    d = d.with_note(format!("did you mean `{best}`?"));
                } else if let Some(best) = did_you_mean(h, Header::ALL.iter().map(|x| x.name())) {
                    d = d.with_note(format!("did you mean header `{best}`?"));
                }
                let hs: Vec<&str> = Header::ALL.iter().map(|x| x.name()).collect();
                d.with_note(format!("headers: {}", hs.join(", ")))
            }
            None => {
                let mut d =
                    Diagnostic::new(codes::UNKNOWN_FIELD, format!("unknown field `{name}`"))
                        .with_label(at, "unknown field");
                if let Some(best) = did_you_mean(name, field_names()) {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                d.with_note(
                    "fields are written `header.field`, e.g. `ipv4.dst`, `eth.src`, `l4.dst_port`",
                )
            }
        };
        self.push(d);
        None
    }

    fn action_id(&mut self, name: &Sp<String>) -> Option<ActionId> {
        if let Some(id) = self.action_ids.get(&name.value) {
            return Some(*id);
        }
        let mut d = Diagnostic::new(
            codes::UNKNOWN_ACTION,
            format!("unknown action `{}`", name.value),
        )
        .with_label(name.span, "no [action.NAME] section defines this");
        if let Some(best) = did_you_mean(&name.value, self.actions.iter().map(|a| a.name.as_str()))
        {
            d = d.with_note(format!("did you mean `{best}`?"));
        }
        d = d.with_note(format!(
            "define it with `[action.{}]` and `do = [...]`",
            name.value
        ));
        self.push(d);
        None
    }

    // ---- module header and ports ------------------------------------------

    fn header(&mut self, ast: &ModuleAst) -> (String, DefaultVerdict) {
        let name = match &ast.name {
            Some(n) => {
                self.check_name(n, "module", true);
                n.value.clone()
            }
            None => String::new(),
        };
        if ast.module_span.is_none() {
            self.push(
                Diagnostic::new(codes::NO_MODULE, "the file has no [module] section")
                    .with_label(Span::new(0, 0), "expected `[module]` here")
                    .with_note("start the file with `[module]` and `name = \"my-module\"`"),
            );
        }
        let verdict = match &ast.default {
            None => DefaultVerdict::Pass,
            Some(d) if d.value == "pass" => DefaultVerdict::Pass,
            Some(d) if d.value == "drop" => DefaultVerdict::Drop,
            Some(d) => {
                let mut diag = Diagnostic::new(
                    codes::BAD_DEFAULT,
                    format!("`{}` is not a default verdict", d.value),
                )
                .with_label(d.span, "expected \"pass\" or \"drop\"");
                if let Some(best) = did_you_mean(&d.value, ["pass", "drop"]) {
                    diag = diag.with_note(format!("did you mean `{best}`?"));
                }
                self.push(diag.with_note(
                    "`default` is what happens when no stage decides: \"pass\" or \"drop\"",
                ));
                DefaultVerdict::Pass
            }
        };
        (name, verdict)
    }

    fn ports(&mut self, ast: &ModuleAst) {
        let mut by_number: HashMap<i64, Span> = HashMap::new();
        for p in &ast.ports {
            self.check_name(&p.name, "port", false);
            let n = p.number.value;
            if !(1..=65535).contains(&n) {
                self.push(
                    Diagnostic::new(
                        codes::PORT_RANGE,
                        format!("port number {n} is out of range"),
                    )
                    .with_label(p.number.span, "must be 1..=65535")
                    .with_note("logical port numbers are 1 to 65535 (0 is reserved)"),
                );
                continue;
            }
            if let Some(prev) = by_number.get(&n) {
                self.push(
                    Diagnostic::new(
                        codes::DUPLICATE_PORT,
                        format!("port number {n} is used twice"),
                    )
                    .with_label(p.number.span, "second use")
                    .with_label(*prev, "first use")
                    .with_note("give each port its own number"),
                );
                continue;
            }
            by_number.insert(n, p.number.span);
            self.ports.add(&p.name.value, n as u16);
            self.port_spans.push(p.name.span);
        }
    }

    /// Runs every step; `Err` carries every diagnostic found.
    pub fn lower(mut self, ast: &ModuleAst) -> Result<ir::Module, Vec<Diagnostic>> {
        let (name, default_verdict) = self.header(ast);
        self.ports(ast);
        self.actions(ast);
        self.tables(ast);
        if ast.tables.is_empty() && !ast.table_key {
            let at = ast.module_span.unwrap_or_default();
            self.push(
                Diagnostic::new(codes::NO_TABLES, "the module has no tables")
                    .with_label(Span::new(at.start, at.start), "no [[table]] in this module")
                    .with_note(
                        "add at least one `[[table]]` with `name`, `actions` and `default_action`",
                    ),
            );
        }
        self.entries(ast);
        if !self.diags.is_empty() {
            return Err(self.diags);
        }
        let ports = self
            .ports
            .list
            .iter()
            .zip(&self.port_spans)
            .map(|((n, p), s)| ir::Port {
                name: n.clone(),
                id: PortId(*p),
                span: *s,
            })
            .collect();
        let actions = self
            .actions
            .into_iter()
            .enumerate()
            .map(|(i, a)| ir::Action {
                id: ActionId(i as u32),
                name: a.name,
                params: a.params,
                body: a.body,
                span: a.span,
            })
            .collect();
        let mut tables = Vec::new();
        for (i, t) in self.tables.into_iter().enumerate() {
            let default_action = t
                .default_action
                .expect("no diagnostics, so every table has a default");
            tables.push(ir::Table {
                id: TableId(i as u32),
                name: t.name,
                keys: t.keys,
                actions: t.actions,
                default_action,
                size: t.size,
                counters: t.counters,
                meter: t.meter,
                entries: t.entries,
                span: t.span,
            });
        }
        Ok(ir::Module {
            name,
            default_verdict,
            ports,
            tables,
            actions,
        })
    }
}
