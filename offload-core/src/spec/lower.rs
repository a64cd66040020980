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

    // ---- actions ----------------------------------------------------------

    fn actions(&mut self, ast: &ModuleAst) {
        // Register names first so primitives and tables can refer to any action.
        if ast.actions.len() > MAX_ACTIONS {
            self.limit(
                "actions",
                MAX_ACTIONS,
                ast.actions.len(),
                ast.actions[MAX_ACTIONS].name.span,
            );
        }
        let ast_actions = &ast.actions[..ast.actions.len().min(MAX_ACTIONS)];
        for a in ast_actions {
            self.action_ids
                .insert(a.name.value.clone(), ActionId(self.actions.len() as u32));
            self.actions.push(ActionInfo {
                name: a.name.value.clone(),
                params: Vec::new(),
                params_broken: a.params_broken,
                body: Vec::new(),
                span: a.name.span,
            });
        }
        for (i, a) in ast_actions.iter().enumerate() {
            if self.saturated() {
                break;
            }
            self.check_name(&a.name, "action", false);
            if a.params.len() > MAX_PARAMS {
                self.limit(
                    "parameters in one action",
                    MAX_PARAMS,
                    a.params.len(),
                    a.params[MAX_PARAMS].0.span,
                );
                self.actions[i].params_broken = true;
                continue;
            }
            if a.body.len() > MAX_PRIMITIVES {
                self.limit(
                    "primitives in one action",
                    MAX_PRIMITIVES,
                    a.body.len(),
                    a.body[MAX_PRIMITIVES].span,
                );
                continue;
            }
            let mut params = Vec::new();
            let mut broken = a.params_broken;
            for (pname, pty) in &a.params {
                let ok_name = self.check_name(pname, "parameter", false);
                match parse_param_type(&pty.value) {
                    Some(ty) if ok_name => params.push(Param {
                        name: pname.value.clone(),
                        ty,
                    }),
                    Some(_) => broken = true,
                    None => {
                        broken = true;
                        let mut d = Diagnostic::new(
                            codes::BAD_PARAM_TYPE,
                            format!("`{}` is not a parameter type", pty.value),
                        )
                        .with_label(pty.span, "unknown type");
                        if let Some(best) = did_you_mean(
                            &pty.value,
                            ["port", "mac", "ipv4", "ipv6", "u8", "u16", "u32"],
                        ) {
                            d = d.with_note(format!("did you mean `{best}`?"));
                        }
                        self.push(d.with_note(
                            "parameter types: port, mac, ipv4, ipv6, or uN for an N-bit unsigned integer (N 1..=32)",
                        ));
                    }
                }
            }
            let body = self.body(a, &params, broken);
            let info = &mut self.actions[i];
            info.params = params;
            info.params_broken = broken;
            info.body = body;
        }
    }

    fn body(&mut self, a: &ActionAst, params: &[Param], params_broken: bool) -> Vec<Primitive> {
        let mut out = Vec::new();
        let mut terminator: Option<(Span, String)> = None;
        let mut reported_after = false;
        for text in &a.body {
            if self.saturated() {
                break;
            }
            let span_of =
                |s: &Self, r: std::ops::Range<usize>| s.sub_span(text.span, &text.value, r);
            let p = match prim::split(&text.value) {
                Ok(p) => p,
                Err(e) => {
                    let at = span_of(self, e.at);
                    self.push(
                        Diagnostic::new(codes::BAD_PRIMITIVE, format!("malformed primitive: {}", e.message))
                            .with_label(at, "here")
                            .with_note("write a primitive as `name` or `name(arg, ...)`, e.g. `set(eth.dst, dmac)`"),
                    );
                    continue;
                }
            };
            if let Some((tspan, tname)) = &terminator {
                if !reported_after {
                    reported_after = true;
                    let at = span_of(self, p.all.clone());
                    self.push(
                        Diagnostic::new(
                            codes::AFTER_TERMINATOR,
                            format!(
                                "`{}` can never run: `{tname}` ends the pipeline before it",
                                p.name
                            ),
                        )
                        .with_label(at, "unreachable")
                        .with_label(*tspan, format!("`{tname}` ends the pipeline here"))
                        .with_note(format!(
                            "move `{tname}` to the end of `do`, or remove what follows it"
                        )),
                    );
                }
                continue;
            }
            let name_at = span_of(self, p.name_at.clone());
            let Some((_, arg_names)) = PRIMITIVES.iter().find(|(n, _)| *n == p.name) else {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_PRIMITIVE,
                    format!("unknown primitive `{}`", p.name),
                )
                .with_label(name_at, "unknown primitive");
                if let Some(best) = did_you_mean(p.name, PRIMITIVES.iter().map(|(n, _)| *n)) {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                self.push(d.with_note(
                    "primitives: drop, pass, tx, forward(port), set(field, value), dec_ttl, push_vlan(vid), pop_vlan",
                ));
                continue;
            };
            if p.args.len() != arg_names.len() {
                let usage = if arg_names.is_empty() {
                    p.name.to_string()
                } else {
                    format!("{}({})", p.name, arg_names.join(", "))
                };
                let at = span_of(self, p.all.clone());
                self.push(
                    Diagnostic::new(
                        codes::BAD_PRIMITIVE,
                        format!(
                            "`{}` takes {} argument(s), found {}",
                            p.name,
                            arg_names.len(),
                            p.args.len()
                        ),
                    )
                    .with_label(at, "wrong number of arguments")
                    .with_note(format!("write `{usage}`")),
                );
                continue;
            }
            let arg = |i: usize| (p.args[i].0, span_of(self, p.args[i].1.clone()));
            let prim = match p.name {
                "drop" => Some(Primitive::Drop),
                "pass" => Some(Primitive::Pass),
                "tx" => Some(Primitive::Tx),
                "dec_ttl" => Some(Primitive::DecTtl),
                "pop_vlan" => Some(Primitive::PopVlan),
                "forward" => {
                    let (t, at) = arg(0);
                    self.forward_operand(t, at, params, params_broken)
                        .map(Primitive::Forward)
                }
                "set" => {
                    let (ft, fat) = arg(0);
                    let (vt, vat) = arg(1);
                    match self.field(ft, fat) {
                        Some(field) if !field.info().writable => {
                            let writable: Vec<&str> = Field::ALL
                                .iter()
                                .filter(|f| f.info().writable)
                                .map(|f| f.name())
                                .collect();
                            self.push(
                                Diagnostic::new(
                                    codes::NOT_WRITABLE,
                                    format!("`{ft}` cannot be written"),
                                )
                                .with_label(fat, "read-only field")
                                .with_note(format!("writable fields: {}", writable.join(", "))),
                            );
                            None
                        }
                        Some(field) => self
                            .value_operand(vt, vat, field, params, params_broken)
                            .map(|value| Primitive::Set { field, value }),
                        None => None,
                    }
                }
                "push_vlan" => {
                    let (t, at) = arg(0);
                    self.value_operand(t, at, Field::VlanVid, params, params_broken)
                        .map(Primitive::PushVlan)
                }
                _ => unreachable!("PRIMITIVES lists only names handled above"),
            };
            if let Some(prim) = prim {
                if prim.terminates() {
                    terminator = Some((name_at, p.name.to_string()));
                }
                out.push(prim);
            } else if matches!(p.name, "forward") {
                // Still ends the pipeline even though its argument was wrong.
                terminator = Some((name_at, p.name.to_string()));
            }
        }
        out
    }

    fn param_index(params: &[Param], name: &str) -> Option<usize> {
        params.iter().position(|p| p.name == name)
    }

    fn unknown_name(&mut self, t: &str, at: Span, params: &[Param], what: &str, also_ports: bool) {
        let mut candidates: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
        if also_ports {
            candidates.extend(self.ports.names());
        }
        let mut d = Diagnostic::new(codes::UNKNOWN_PARAM, format!("`{t}` is not {what}"))
            .with_label(at, "unknown name");
        if let Some(best) = did_you_mean(t, candidates.iter().map(String::as_str)) {
            d = d.with_note(format!("did you mean `{best}`?"));
        }
        let params_list: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        d = d.with_note(if params_list.is_empty() {
            "this action has no parameters; declare one with `params = { name = \"type\" }`"
                .to_string()
        } else {
            format!("parameters of this action: {}", params_list.join(", "))
        });
        self.push(d);
    }

    fn forward_operand(
        &mut self,
        t: &str,
        at: Span,
        params: &[Param],
        params_broken: bool,
    ) -> Option<Operand> {
        let param = Self::param_index(params, t);
        let port = self.ports.by_name(t);
        match (param, port) {
            (Some(_), Some(_)) => {
                self.push(
                    Diagnostic::new(
                        codes::AMBIGUOUS_NAME,
                        format!("`{t}` is both a parameter and a port"),
                    )
                    .with_label(at, "ambiguous")
                    .with_note("rename the parameter or the port so `forward` has one meaning"),
                );
                None
            }
            (Some(i), None) => {
                let ty = params[i].ty;
                if ty != ParamType::Port {
                    self.push(
                        Diagnostic::new(
                            codes::PARAM_TYPE_MISMATCH,
                            format!("`forward` needs a port, but parameter `{t}` has type {ty}"),
                        )
                        .with_label(at, format!("this is {ty}"))
                        .with_note(format!("declare it as `{t} = \"port\"`")),
                    );
                    return None;
                }
                Some(Operand::Param(i))
            }
            (None, Some(n)) => Some(Operand::Const(u128::from(n))),
            (None, None) if t.starts_with(|c: char| c.is_ascii_digit()) => {
                match literal::parse_scalar(t, LitType::Port, &self.ports) {
                    Ok(v) => Some(Operand::Const(v)),
                    Err(e) => {
                        let d = Diagnostic::new(e.code, e.message)
                            .with_label(at, e.label)
                            .with_note(e.note);
                        self.push(d);
                        None
                    }
                }
            }
            (None, None) => {
                if !params_broken {
                    self.unknown_name(
                        t,
                        at,
                        params,
                        "a parameter of this action or a declared port",
                        true,
                    );
                }
                None
            }
        }
    }

    /// A `set`/`push_vlan` value: a parameter that fits `field`, or a literal of its type.
    fn value_operand(
        &mut self,
        t: &str,
        at: Span,
        field: Field,
        params: &[Param],
        params_broken: bool,
    ) -> Option<Operand> {
        let looks_like_name = t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if let Some(i) = Self::param_index(params, t) {
            let ty = params[i].ty;
            if !ty.fits(field) {
                self.push(
                    Diagnostic::new(
                        codes::PARAM_TYPE_MISMATCH,
                        format!(
                            "parameter `{t}` has type {ty}, which does not fit `{}`",
                            field.name()
                        ),
                    )
                    .with_label(at, format!("this is {ty}"))
                    .with_note(format!(
                        "`{}` takes {}; declare the parameter as `{t} = \"{}\"`",
                        field.name(),
                        param_type_for(field),
                        param_type_for(field)
                    )),
                );
                return None;
            }
            return Some(Operand::Param(i));
        }
        if looks_like_name {
            if !params_broken {
                self.unknown_name(t, at, params, "a parameter of this action", false);
            }
            return None;
        }
        match literal::parse_scalar(t, LitType::of_field(field), &self.ports) {
            Ok(v) => Some(Operand::Const(v)),
            Err(e) => {
                let d = Diagnostic::new(e.code, format!("{} (for `{}`)", e.message, field.name()))
                    .with_label(at, e.label)
                    .with_note(e.note);
                self.push(d);
                None
            }
        }
    }

    // ---- tables -----------------------------------------------------------

    fn tables(&mut self, ast: &ModuleAst) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        if ast.tables.len() > MAX_TABLES {
            self.limit(
                "tables",
                MAX_TABLES,
                ast.tables.len(),
                ast.tables[MAX_TABLES].span,
            );
        }
        for t in ast.tables.iter().take(MAX_TABLES) {
            if self.saturated() {
                break;
            }
            let Some(name) = &t.name else { continue };
            self.check_name(name, "table", false);
            if let Some(prev) = seen.get(&name.value) {
                self.push(
                    Diagnostic::new(
                        codes::DUPLICATE_NAME,
                        format!("two tables are named `{}`", name.value),
                    )
                    .with_label(name.span, "second definition")
                    .with_label(*prev, "first definition")
                    .with_note("give each table its own name"),
                );
                continue;
            }
            seen.insert(name.value.clone(), name.span);
            let info = self.table(t, name);
            self.tables.push(info);
        }
    }

    fn table(&mut self, t: &TableAst, name: &Sp<String>) -> TableInfo {
        let mut keys: Vec<ir::Key> = Vec::new();
        let mut broken = t.keys_broken;
        let mut lpm: Option<Span> = None;
        if t.keys.len() > MAX_KEYS {
            broken = true;
            self.limit(
                "keys in one table",
                MAX_KEYS,
                t.keys.len(),
                t.keys[MAX_KEYS].span,
            );
        }
        for k in t.keys.iter().take(MAX_KEYS) {
            let field = self.field(&k.field.value, k.field.span);
            let kind = MatchKind::from_name(&k.kind.value);
            if kind.is_none() {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_MATCH,
                    format!("unknown match kind `{}`", k.kind.value),
                )
                .with_label(k.kind.span, "unknown match kind");
                if let Some(best) =
                    did_you_mean(&k.kind.value, ["exact", "lpm", "ternary", "range"])
                {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                self.push(d.with_note("match kinds: exact, lpm, ternary, range"));
            }
            let (Some(field), Some(kind)) = (field, kind) else {
                broken = true;
                continue;
            };
            if !field.allows(kind) {
                broken = true;
                let why = match kind {
                    MatchKind::Lpm => "lpm matches only IPv4/IPv6 address fields; use ternary with `value &&& mask` instead",
                    MatchKind::Range => "range matches only integer fields of up to 16 bits (ports, ttl, vid, ...); use ternary instead",
                    _ => "use another match kind",
                };
                self.push(
                    Diagnostic::new(
                        codes::MATCH_NOT_ALLOWED,
                        format!("`{}` cannot be matched with `{kind}`", field.name()),
                    )
                    .with_label(k.kind.span, format!("`{kind}` not allowed on this field"))
                    .with_note(why),
                );
                continue;
            }
            if let Some(prev) = keys.iter().find(|x| x.field == field) {
                broken = true;
                let prev = prev.span;
                self.push(
                    Diagnostic::new(
                        codes::DUPLICATE_KEY,
                        format!("`{}` is a key twice", field.name()),
                    )
                    .with_label(k.field.span, "second key on this field")
                    .with_label(prev, "first key")
                    .with_note("a field may appear once among a table's keys"),
                );
                continue;
            }
            if kind == MatchKind::Lpm {
                if let Some(prev) = lpm {
                    broken = true;
                    self.push(
                        Diagnostic::new(codes::TWO_LPM, format!("table `{}` has two lpm keys", name.value))
                            .with_label(k.kind.span, "second lpm key")
                            .with_label(prev, "first lpm key")
                            .with_note("a table has at most one lpm key; make the other ternary, or split the table in two"),
                    );
                    continue;
                }
                lpm = Some(k.kind.span);
            }
            keys.push(ir::Key {
                field,
                kind,
                span: k.span,
            });
        }

        let mut actions = Vec::new();
        match &t.actions {
            Some(list) if list.value.is_empty() => self.push(
                Diagnostic::new(codes::NO_ACTIONS, format!("table `{}` lists no actions", name.value))
                    .with_label(list.span, "empty")
                    .with_note("list the actions its entries and default may run, e.g. `actions = [\"allow\", \"deny\"]`"),
            ),
            Some(list) => {
                if list.value.len() > MAX_TABLE_ACTIONS {
                    let at = list.value[MAX_TABLE_ACTIONS].span;
                    self.limit("actions in one table", MAX_TABLE_ACTIONS, list.value.len(), at);
                }
                for a in list.value.iter().take(MAX_TABLE_ACTIONS) {
                    if self.saturated() {
                        break;
                    }
                    let Some(id) = self.action_id(a) else { continue };
                    if actions.contains(&id) {
                        self.push(
                            Diagnostic::new(codes::DUPLICATE_ACTION, format!("`{}` is listed twice", a.value))
                                .with_label(a.span, "listed again")
                                .with_note("list each action once"),
                        );
                        continue;
                    }
                    actions.push(id);
                }
            }
            None => {}
        }

        let default_action = t.default_action.as_ref().and_then(|call| {
            let id = self.action_id(&call.name)?;
            let listed = actions.contains(&id) || t.actions.is_none();
            if !listed {
                let names: Vec<&str> = actions
                    .iter()
                    .map(|a| self.actions[a.0 as usize].name.as_str())
                    .collect();
                self.push(
                    Diagnostic::new(
                        codes::DEFAULT_NOT_LISTED,
                        format!(
                            "default action `{}` is not one of the table's actions",
                            call.name.value
                        ),
                    )
                    .with_label(call.name.span, "not in `actions`")
                    .with_note(format!(
                        "add `{}` to `actions` (now: {}), or pick one of those",
                        call.name.value,
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )),
                );
            }
            let args = self.call_args(call, id)?;
            Some(ActionCall { action: id, args })
        });

        let size = match &t.size {
            None => DEFAULT_TABLE_SIZE,
            Some(s) if (1..=MAX_TABLE_SIZE).contains(&s.value) => s.value as u32,
            Some(s) => {
                self.push(
                    Diagnostic::new(codes::SIZE_RANGE, format!("table size {} is out of range", s.value))
                        .with_label(s.span, format!("must be 1..={MAX_TABLE_SIZE}"))
                        .with_note(format!(
                            "`size` is the most entries the table holds, from 1 to {MAX_TABLE_SIZE} (default {DEFAULT_TABLE_SIZE})"
                        )),
                );
                DEFAULT_TABLE_SIZE
            }
        };

        TableInfo {
            name: name.value.clone(),
            keys,
            keys_broken: broken,
            actions,
            default_action,
            size,
            counters: t.counters.as_ref().is_some_and(|c| c.value),
            span: t.span,
            entries: Vec::new(),
        }
    }

    /// Arguments of a call, in parameter order. `None` if any is wrong.
    fn call_args(&mut self, call: &CallAst, id: ActionId) -> Option<Vec<u128>> {
        let action = &self.actions[id.0 as usize];
        if action.params_broken {
            return None;
        }
        let params = action.params.clone();
        let aname = action.name.clone();
        let mut values: Vec<Option<u128>> = vec![None; params.len()];
        let mut ok = true;
        for (arg, lit) in &call.args {
            if self.saturated() {
                return None;
            }
            let Some(i) = Self::param_index(&params, &arg.value) else {
                ok = false;
                let mut d = Diagnostic::new(
                    codes::EXTRA_ARG,
                    format!("action `{aname}` has no parameter `{}`", arg.value),
                )
                .with_label(arg.span, "unknown parameter");
                if let Some(best) = did_you_mean(&arg.value, params.iter().map(|p| p.name.as_str()))
                {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                self.push(d.with_note(if names.is_empty() {
                    format!("`{aname}` takes no parameters; write `action = \"{aname}\"`")
                } else {
                    format!("parameters of `{aname}`: {}", names.join(", "))
                }));
                continue;
            };
            let ty = LitType::of_param(params[i].ty);
            let r = match &lit.value {
                Lit::Str(s) => literal::parse_scalar(s, ty, &self.ports)
                    .map_err(|e| self.lit_diag(e, lit.span, Some(s))),
                Lit::Int(n) => literal::scalar_from_int(*n, ty, &self.ports, 0)
                    .map_err(|e| self.lit_diag(e, lit.span, None)),
            };
            match r {
                Ok(v) => values[i] = Some(v),
                Err(d) => {
                    ok = false;
                    self.push(d.with_note(format!(
                        "parameter `{}` of `{aname}` has type {}",
                        params[i].name, params[i].ty
                    )));
                }
            }
        }
        let missing: Vec<&str> = params
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(p, _)| p.name.as_str())
            .filter(|n| !call.args.iter().any(|(a, _)| a.value == *n))
            .collect();
        if !missing.is_empty() {
            ok = false;
            let example: Vec<String> = params.iter().map(|p| format!("{} = ...", p.name)).collect();
            self.push(
                Diagnostic::new(
                    codes::MISSING_ARG,
                    format!(
                        "call of `{aname}` gives no value for {}",
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_label(call.span, "missing arguments")
                .with_note(format!(
                    "write `{{ {aname} = {{ {} }} }}`",
                    example.join(", ")
                )),
            );
        }
        if !ok {
            return None;
        }
        Some(
            values
                .into_iter()
                .map(|v| v.expect("all present"))
                .collect(),
        )
    }

    // ---- entries ----------------------------------------------------------

    fn entries(&mut self, ast: &ModuleAst) {
        for group in &ast.entries {
            if self.saturated() {
                break;
            }
            let Some(ti) = self.tables.iter().position(|t| t.name == group.table.value) else {
                if ast.tables.iter().any(|t| {
                    t.name
                        .as_ref()
                        .is_some_and(|n| n.value == group.table.value)
                }) {
                    continue; // a duplicate or broken table, already reported
                }
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_TABLE,
                    format!("entries for unknown table `{}`", group.table.value),
                )
                .with_label(group.table.span, "no [[table]] has this name");
                if let Some(best) = did_you_mean(
                    &group.table.value,
                    self.tables.iter().map(|t| t.name.as_str()),
                ) {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                let names: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
                self.push(d.with_note(format!("tables: {}", names.join(", "))));
                continue;
            };
            if self.tables[ti].keys.is_empty() && !self.tables[ti].keys_broken {
                if let Some(first) = group.entries.first() {
                    self.push(
                        Diagnostic::new(
                            codes::KEYLESS_ENTRY,
                            format!("table `{}` has no keys, so it cannot hold entries", group.table.value),
                        )
                        .with_label(first.span, "entry for a keyless table")
                        .with_note("a keyless table always runs its default action; add keys, or remove the entries"),
                    );
                }
                continue;
            }
            let size = self.tables[ti].size as usize;
            if group.entries.len() > size {
                self.push(
                    Diagnostic::new(
                        codes::TOO_MANY_ENTRIES,
                        format!(
                            "table `{}` has {} entries but its size is {size}",
                            group.table.value,
                            group.entries.len()
                        ),
                    )
                    .with_label(
                        group.entries[size].span,
                        format!("entry {} does not fit", size + 1),
                    )
                    .with_note(format!(
                        "raise `size` to at least {}, or remove entries",
                        group.entries.len()
                    )),
                );
            }
            let mut priorities: HashMap<u32, Span> = HashMap::new();
            let mut seen: HashMap<Vec<KeyMatch>, Span> = HashMap::new();
            for e in &group.entries {
                if self.saturated() {
                    break;
                }
                if let Some(entry) = self.entry(ti, e, &mut priorities) {
                    if let Some(prev) = seen.get(&entry.matches) {
                        self.push(
                            Diagnostic::new(codes::DUPLICATE_ENTRY, "duplicate entry: same match as an earlier entry")
                                .with_label(e.span, "duplicate")
                                .with_label(*prev, "first entry with this match")
                                .with_note("two entries cannot have the same match; remove one or change its match"),
                        );
                        continue;
                    }
                    seen.insert(entry.matches.clone(), e.span);
                    self.tables[ti].entries.push(entry);
                }
            }
        }
    }

    fn entry(
        &mut self,
        ti: usize,
        e: &EntryAst,
        priorities: &mut HashMap<u32, Span>,
    ) -> Option<ir::Entry> {
        let (keys, keys_broken, tname) = {
            let t = &self.tables[ti];
            (t.keys.clone(), t.keys_broken, t.name.clone())
        };
        let mut ok = true;
        let mut matches: Vec<Option<KeyMatch>> = vec![None; keys.len()];
        for (fname, lit) in &e.matches {
            if self.saturated() {
                return None;
            }
            let Some(ki) = keys.iter().position(|k| k.field.name() == fname.value) else {
                ok = false;
                if keys_broken {
                    continue;
                }
                let key_names: Vec<&str> = keys.iter().map(|k| k.field.name()).collect();
                if Field::from_name(&fname.value).is_some() {
                    self.push(
                        Diagnostic::new(
                            codes::NOT_A_KEY,
                            format!("`{}` is not a key of table `{tname}`", fname.value),
                        )
                        .with_label(fname.span, "not a key")
                        .with_note(format!("keys of `{tname}`: {}", key_names.join(", "))),
                    );
                } else if let Some(best) = did_you_mean(&fname.value, key_names.iter().copied()) {
                    self.push(
                        Diagnostic::new(
                            codes::UNKNOWN_FIELD,
                            format!("unknown field `{}`", fname.value),
                        )
                        .with_label(fname.span, "unknown field")
                        .with_note(format!("did you mean `{best}`?"))
                        .with_note(format!("keys of `{tname}`: {}", key_names.join(", "))),
                    );
                } else {
                    self.field(&fname.value, fname.span);
                }
                continue;
            };
            let key = &keys[ki];
            let ty = LitType::of_field(key.field);
            let r = match &lit.value {
                Lit::Str(s) => literal::parse_match(s, key.kind, ty, &self.ports)
                    .map_err(|err| self.lit_diag(err, lit.span, Some(s))),
                Lit::Int(n) => literal::match_from_int(*n, key.kind, ty, &self.ports, 0)
                    .map_err(|err| self.lit_diag(err, lit.span, None)),
            };
            match r {
                Ok(m) => matches[ki] = Some(m),
                Err(d) => {
                    ok = false;
                    self.push(d.with_note(format!(
                        "key `{}` of `{tname}` is matched with `{}`",
                        key.field.name(),
                        key.kind
                    )));
                }
            }
        }
        // Omitted keys: exact is an error, the others are wildcards.
        let mut missing = Vec::new();
        for (k, m) in keys.iter().zip(matches.iter_mut()) {
            if m.is_some() || e.matches.iter().any(|(f, _)| f.value == k.field.name()) {
                continue;
            }
            *m = match k.kind {
                MatchKind::Exact => {
                    missing.push(k.field.name());
                    None
                }
                MatchKind::Lpm => Some(KeyMatch::Lpm {
                    value: 0,
                    prefix_len: 0,
                }),
                MatchKind::Ternary => Some(KeyMatch::Ternary { value: 0, mask: 0 }),
                MatchKind::Range => Some(KeyMatch::Range {
                    lo: 0,
                    hi: k.field.max_value(),
                }),
            };
        }
        if !missing.is_empty() && !keys_broken {
            ok = false;
            self.push(
                Diagnostic::new(
                    codes::MISSING_EXACT,
                    format!(
                        "entry gives no value for exact key {}",
                        missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with_label(e.span, "incomplete match")
                .with_note(format!(
                    "an entry gives every exact key of `{tname}`; add e.g. `\"{}\" = ...` to `match`",
                    missing[0]
                )),
            );
        }
        let needs_priority = keys
            .iter()
            .any(|k| matches!(k.kind, MatchKind::Ternary | MatchKind::Range));
        let priority = match (&e.priority, needs_priority) {
            (None, true) => {
                ok = false;
                self.push(
                    Diagnostic::new(codes::MISSING_PRIORITY, "entry needs a priority")
                        .with_label(e.span, "no `priority`")
                        .with_note(format!(
                            "table `{tname}` has ternary or range keys, so entries may overlap; add `priority = N` (higher wins)"
                        )),
                );
                None
            }
            (Some(p), false) => {
                ok = false;
                self.push(
                    Diagnostic::new(codes::UNEXPECTED_PRIORITY, format!("table `{tname}` does not use priorities"))
                        .with_label(p.span, "remove this")
                        .with_note("only tables with ternary or range keys order entries by priority; exact and lpm entries cannot overlap ambiguously"),
                );
                None
            }
            (Some(p), true) => match u32::try_from(p.value) {
                Ok(v) => {
                    if let Some(prev) = priorities.get(&v) {
                        ok = false;
                        self.push(
                            Diagnostic::new(codes::DUPLICATE_PRIORITY, format!("priority {v} is used twice in `{tname}`"))
                                .with_label(p.span, "second use")
                                .with_label(*prev, "first use")
                                .with_note("priorities decide which overlapping entry wins, so each must be unique in its table"),
                        );
                    } else {
                        priorities.insert(v, p.span);
                    }
                    Some(v)
                }
                Err(_) => {
                    ok = false;
                    self.push(
                        Diagnostic::new(
                            codes::TOO_WIDE,
                            format!("priority {} is out of range", p.value),
                        )
                        .with_label(p.span, "must be 0..=4294967295")
                        .with_note("priorities are unsigned 32-bit numbers; higher wins"),
                    );
                    None
                }
            },
            (None, false) => None,
        };
        let action = e.action.as_ref().and_then(|call| {
            let id = self.action_id(&call.name)?;
            if !self.tables[ti].actions.contains(&id) {
                let names: Vec<&str> = self.tables[ti]
                    .actions
                    .iter()
                    .map(|a| self.actions[a.0 as usize].name.as_str())
                    .collect();
                self.push(
                    Diagnostic::new(
                        codes::ACTION_NOT_LISTED,
                        format!(
                            "action `{}` is not listed for table `{tname}`",
                            call.name.value
                        ),
                    )
                    .with_label(call.name.span, "not in the table's `actions`")
                    .with_note(format!(
                        "`{tname}` allows: {}; add `{}` to its `actions` or use one of those",
                        names.join(", "),
                        call.name.value
                    )),
                );
                return None;
            }
            let args = self.call_args(call, id)?;
            Some(ActionCall { action: id, args })
        });
        if !ok {
            return None;
        }
        Some(ir::Entry {
            matches: matches.into_iter().collect::<Option<Vec<_>>>()?,
            priority,
            action: action?,
            span: e.span,
        })
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
