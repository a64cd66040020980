//! The value tree → the typed [`ModuleAst`], reporting every shape mistake:
//! unknown keys (with "did you mean"), values of the wrong TOML type, missing
//! required keys. Names and values are checked later by [`super::lower`].

use super::ast::*;
use super::suggest::did_you_mean;
use super::tree::{Key, Kind, Value};
use crate::diag::{codes, Diagnostic, Span};

const TOP_KEYS: &[&str] = &["module", "ports", "table", "action", "entry", "group"];
const MODULE_KEYS: &[&str] = &["name", "default"];
const TABLE_KEYS: &[&str] = &[
    "name",
    "keys",
    "actions",
    "default_action",
    "size",
    "counters",
    "meter",
];
const TABLE_METER_KEYS: &[&str] = &["unit", "rate", "burst", "red"];
const ENTRY_METER_KEYS: &[&str] = &["rate", "burst"];
const KEY_KEYS: &[&str] = &["field", "hash", "buckets", "match"];
const GROUP_KEYS: &[&str] = &["match", "members"];
const ACTION_KEYS: &[&str] = &["params", "do"];
const ENTRY_KEYS: &[&str] = &["match", "priority", "action", "meter"];

type Entries = [(Key, Value)];

pub struct Reader {
    pub diags: Vec<Diagnostic>,
}

impl Reader {
    pub fn new() -> Self {
        Reader { diags: Vec::new() }
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn wrong_type(&mut self, v: &Value, what: &str, expected: &str, hint: &str) {
        self.push(
            Diagnostic::new(
                codes::WRONG_TYPE,
                format!("{what} must be {expected}, found {}", v.kind.type_name()),
            )
            .with_label(v.span, format!("expected {expected}"))
            .with_note(hint.to_string()),
        );
    }

    fn missing(&mut self, at: Span, section: &str, key: &str, hint: &str) {
        self.push(
            Diagnostic::new(codes::MISSING_KEY, format!("{section} has no `{key}`"))
                .with_label(at, format!("`{key}` is missing here"))
                .with_note(hint.to_string()),
        );
    }

    /// Reports keys not in `allowed` and returns a lookup over the rest.
    fn known<'v>(&mut self, entries: &'v Entries, allowed: &[&str], section: &str) -> Known<'v> {
        for (k, _) in entries {
            if !allowed.contains(&k.name.as_str()) {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_KEY,
                    format!("unknown key `{}` in {section}", k.name),
                )
                .with_label(k.span, "not a key of this section");
                if let Some(best) = did_you_mean(&k.name, allowed.iter().copied()) {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                d = d.with_note(format!("{section} takes: {}", allowed.join(", ")));
                self.push(d);
            }
        }
        Known { entries }
    }

    fn as_table<'v>(&mut self, v: &'v Value, what: &str, hint: &str) -> Option<&'v Entries> {
        match &v.kind {
            Kind::Table(t) => Some(t),
            _ => {
                self.wrong_type(v, what, "a table", hint);
                None
            }
        }
    }

    fn as_str(&mut self, v: &Value, what: &str, hint: &str) -> Option<Sp<String>> {
        match &v.kind {
            Kind::Str(s) => Some(Sp::new(s.clone(), v.span)),
            _ => {
                self.wrong_type(v, what, "a string", hint);
                None
            }
        }
    }

    fn as_int(&mut self, v: &Value, what: &str, hint: &str) -> Option<Sp<i64>> {
        match &v.kind {
            Kind::Int(i) => Some(Sp::new(*i, v.span)),
            _ => {
                self.wrong_type(v, what, "an integer", hint);
                None
            }
        }
    }

    fn as_lit(&mut self, v: &Value, what: &str, hint: &str) -> Option<Sp<Lit>> {
        match &v.kind {
            Kind::Str(s) => Some(Sp::new(Lit::Str(s.clone()), v.span)),
            Kind::Int(i) => Some(Sp::new(Lit::Int(*i), v.span)),
            _ => {
                self.wrong_type(v, what, "a string or an integer", hint);
                None
            }
        }
    }

    fn as_array<'v>(&mut self, v: &'v Value, what: &str, hint: &str) -> Option<&'v [Value]> {
        match &v.kind {
            Kind::Array(a) => Some(a),
            _ => {
                self.wrong_type(v, what, "an array", hint);
                None
            }
        }
    }

    fn str_list(&mut self, v: &Value, what: &str, hint: &str) -> Option<Vec<Sp<String>>> {
        let items = self.as_array(v, what, hint)?;
        Some(
            items
                .iter()
                .filter_map(|i| self.as_str(i, &format!("each item of {what}"), hint))
                .collect(),
        )
    }

    /// Reads the whole module. The root value must be a table.
    pub fn module(&mut self, root: &Value) -> ModuleAst {
        let mut ast = ModuleAst::default();
        let Kind::Table(top) = &root.kind else {
            return ast;
        };
        let top = self.known(top, TOP_KEYS, "the module file");
        if let Some((_, v)) = top.get("module") {
            self.module_section(v, &mut ast);
        }
        if let Some((_, v)) = top.get("ports") {
            self.ports(v, &mut ast);
        }
        if let Some((_, v)) = top.get("table") {
            ast.table_key = true;
            let hint = "write each table as a `[[table]]` section (double brackets)";
            if let Some(items) = self.as_array(v, "`table`", hint) {
                for item in items {
                    if let Some(t) = self.table(item) {
                        ast.tables.push(t);
                    }
                }
            }
        }
        if let Some((_, v)) = top.get("action") {
            let hint = "write each action as an `[action.NAME]` section";
            if let Some(actions) = self.as_table(v, "`action`", hint) {
                for (k, v) in actions {
                    if let Some(a) = self.action(k, v) {
                        ast.actions.push(a);
                    }
                }
            }
        }
        if let Some((_, v)) = top.get("entry") {
            let hint = "write each entry as an `[[entry.TABLE]]` section";
            if let Some(groups) = self.as_table(v, "`entry`", hint) {
                for (k, v) in groups {
                    let Some(items) = self.as_array(v, &format!("`entry.{}`", k.name), hint) else {
                        continue;
                    };
                    let entries = items.iter().filter_map(|e| self.entry(e)).collect();
                    ast.entries.push(EntriesAst {
                        table: Sp::new(k.name.clone(), k.span),
                        entries,
                    });
                }
            }
        }
        if let Some((_, v)) = top.get("group") {
            let hint = "write each group as a `[[group.TABLE]]` section";
            if let Some(tables) = self.as_table(v, "`group`", hint) {
                for (k, v) in tables {
                    let Some(items) = self.as_array(v, &format!("`group.{}`", k.name), hint) else {
                        continue;
                    };
                    let groups = items.iter().filter_map(|g| self.group(g)).collect();
                    ast.groups.push(GroupsAst {
                        table: Sp::new(k.name.clone(), k.span),
                        groups,
                    });
                }
            }
        }
        ast
    }

    fn group(&mut self, v: &Value) -> Option<GroupAst> {
        let hint = "write `[[group.TABLE]]` with `match = { ... }` and `members = [{ action = { ... } }, ...]`";
        let t = self.as_table(v, "each group", hint)?;
        let t = self.known(t, GROUP_KEYS, "a group");
        let mut out = GroupAst {
            span: v.span,
            matches: Vec::new(),
            members: None,
        };
        if let Some((_, m)) = t.get("match") {
            if let Some(ms) = self.as_table(m, "`match`", hint) {
                self.match_values(ms, None, &mut out.matches);
            }
        }
        match t.get("members") {
            Some((_, m)) => {
                if let Some(items) = self.as_array(m, "`members`", hint) {
                    let calls = items
                        .iter()
                        .filter_map(|c| self.call(c, "each member"))
                        .collect();
                    out.members = Some(Sp::new(calls, m.span));
                }
            }
            None => self.missing(
                v.span,
                "this group",
                "members",
                "add `members = [\"name\", { name = { param = value } }, ...]`: the actions the buckets run",
            ),
        }
        Some(out)
    }

    fn module_section(&mut self, v: &Value, ast: &mut ModuleAst) {
        let hint = "write `[module]` with `name = \"...\"` under it";
        let Some(t) = self.as_table(v, "`module`", hint) else {
            return;
        };
        ast.module_span = Some(v.span);
        let t = self.known(t, MODULE_KEYS, "[module]");
        match t.get("name") {
            Some((_, v)) => {
                ast.name = self.as_str(v, "the module name", "write `name = \"my-module\"`")
            }
            None => self.missing(v.span, "[module]", "name", "add `name = \"my-module\"`"),
        }
        if let Some((_, v)) = t.get("default") {
            ast.default = self.as_str(
                v,
                "`default`",
                "write `default = \"pass\"` or `default = \"drop\"`",
            );
        }
    }

    fn ports(&mut self, v: &Value, ast: &mut ModuleAst) {
        let hint = "write `[ports]` with one `name = number` line per port";
        let Some(t) = self.as_table(v, "`ports`", hint) else {
            return;
        };
        for (k, v) in t {
            if let Some(n) = self.as_int(
                v,
                &format!("port `{}`", k.name),
                "a port is `name = number`, e.g. `uplink = 1`",
            ) {
                ast.ports.push(PortAst {
                    name: Sp::new(k.name.clone(), k.span),
                    number: n,
                });
            }
        }
    }

    fn table(&mut self, v: &Value) -> Option<TableAst> {
        let t = self.as_table(
            v,
            "each `table` item",
            "write each table as a `[[table]]` section",
        )?;
        let t = self.known(t, TABLE_KEYS, "[[table]]");
        let mut out = TableAst {
            span: v.span,
            name: None,
            keys: Vec::new(),
            keys_broken: false,
            actions: None,
            default_action: None,
            size: None,
            counters: None,
            meter: None,
        };
        match t.get("name") {
            Some((_, n)) => out.name = self.as_str(n, "the table name", "write `name = \"acl\"`"),
            None => self.missing(v.span, "this [[table]]", "name", "add `name = \"...\"`"),
        }
        // Without a name nothing can refer to the table; the rest would only add noise.
        out.name.as_ref()?;
        if let Some((_, ks)) = t.get("keys") {
            let hint = "write `keys = [{ field = \"ipv4.dst\", match = \"lpm\" }]`";
            match self.as_array(ks, "`keys`", hint) {
                Some(items) => {
                    for item in items {
                        match self.key(item) {
                            Some(k) => out.keys.push(k),
                            None => out.keys_broken = true,
                        }
                    }
                }
                None => out.keys_broken = true,
            }
        }
        let actions_hint = "write `actions = [\"name\", ...]` naming `[action.NAME]` sections";
        match t.get("actions") {
            Some((_, a)) => {
                out.actions = self
                    .str_list(a, "`actions`", actions_hint)
                    .map(|l| Sp::new(l, a.span));
            }
            None => self.missing(v.span, "this [[table]]", "actions", actions_hint),
        }
        match t.get("default_action") {
            Some((_, d)) => out.default_action = self.call(d, "`default_action`"),
            None => self.missing(
                v.span,
                "this [[table]]",
                "default_action",
                "add `default_action = \"name\"`: the action that runs when no entry matches",
            ),
        }
        if let Some((_, s)) = t.get("size") {
            out.size = self.as_int(
                s,
                "`size`",
                "write the maximum number of entries, e.g. `size = 1024`",
            );
        }
        if let Some((_, c)) = t.get("counters") {
            match &c.kind {
                Kind::Bool(b) => out.counters = Some(Sp::new(*b, c.span)),
                _ => self.wrong_type(
                    c,
                    "`counters`",
                    "a boolean",
                    "write `counters = true` or `counters = false`",
                ),
            }
        }
        if let Some((_, m)) = t.get("meter") {
            out.meter = self.meter(
                m,
                TABLE_METER_KEYS,
                "a table's `meter`",
                "write `meter = { unit = \"packets\", rate = 1000, burst = 100, red = \"drop\" }`",
            );
        }
        Some(out)
    }

    /// `meter = { ... }` with the keys `allowed` (a table's or an entry's).
    fn meter(
        &mut self,
        v: &Value,
        allowed: &[&str],
        section: &str,
        hint: &str,
    ) -> Option<MeterAst> {
        let t = self.as_table(v, "`meter`", hint)?;
        let t = self.known(t, allowed, section);
        let mut out = MeterAst {
            span: v.span,
            unit: None,
            rate: None,
            burst: None,
            red: None,
        };
        if let Some((_, u)) = t.get("unit") {
            out.unit = self.as_str(
                u,
                "the meter's `unit`",
                "write `unit = \"packets\"` or `unit = \"bytes\"`",
            );
        }
        if let Some((_, r)) = t.get("rate") {
            out.rate = self.as_int(
                r,
                "the meter's `rate`",
                "write `rate = 1000` (tokens per second)",
            );
        }
        if let Some((_, b)) = t.get("burst") {
            out.burst = self.as_int(
                b,
                "the meter's `burst`",
                "write `burst = 100` (the bucket's size in tokens)",
            );
        }
        if let Some((_, r)) = t.get("red") {
            out.red = self.as_str(
                r,
                "the meter's `red`",
                "write `red = \"drop\"`, `\"pass\"` or `\"continue\"`",
            );
        }
        Some(out)
    }

    fn key(&mut self, v: &Value) -> Option<KeyAst> {
        let hint = "write a key as `{ field = \"ipv4.dst\", match = \"lpm\" }`";
        let hash_hint = "write a hash key as `{ hash = [\"ipv4.src\", \"ipv4.dst\"], buckets = 16, match = \"exact\" }`";
        let t = self.as_table(v, "each key", hint)?;
        let t = self.known(t, KEY_KEYS, "a key");
        let mut ok = true;
        let hash = match t.get("hash") {
            Some((_, h)) => match self.str_list(h, "`hash`", hash_hint) {
                Some(l) => Some(Sp::new(l, h.span)),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let buckets = match t.get("buckets") {
            Some((_, b)) => {
                let n = self.as_int(b, "`buckets`", hash_hint);
                ok &= n.is_some();
                n
            }
            None => None,
        };
        let field = match (t.get("field"), t.get("hash")) {
            (Some((_, f)), None) => self.as_str(f, "`field`", hint),
            (Some((fk, _)), Some((hk, _))) => {
                self.push(
                    Diagnostic::new(codes::HASH_KEY, "a key has both `field` and `hash`")
                        .with_label(fk.span, "a field key")
                        .with_label(hk.span, "a hash key")
                        .with_note(
                            "a key matches one field, or a hash of several: keep one of them",
                        ),
                );
                return None;
            }
            (None, Some(_)) => {
                if t.get("buckets").is_none() {
                    self.missing(v.span, "this hash key", "buckets", hash_hint);
                    ok = false;
                }
                None
            }
            (None, None) => {
                self.missing(v.span, "this key", "field", hint);
                None
            }
        };
        if let (Some((bk, _)), None) = (t.get("buckets"), t.get("hash")) {
            self.push(
                Diagnostic::new(codes::HASH_KEY, "`buckets` without `hash`")
                    .with_label(bk.span, "only a hash key has buckets")
                    .with_note(hash_hint),
            );
            return None;
        }
        let kind = match t.get("match") {
            Some((_, m)) => self.as_str(m, "`match`", "one of exact, lpm, ternary, range"),
            None => {
                self.missing(v.span, "this key", "match", hint);
                None
            }
        };
        if field.is_none() && hash.is_none() || !ok {
            return None;
        }
        Some(KeyAst {
            span: v.span,
            field,
            hash,
            buckets,
            kind: kind?,
        })
    }

    fn action(&mut self, k: &Key, v: &Value) -> Option<ActionAst> {
        let hint = "write `[action.NAME]` with `do = [...]` (and `params = {...}`) under it";
        let t = self.as_table(v, &format!("action `{}`", k.name), hint)?;
        let t = self.known(t, ACTION_KEYS, &format!("[action.{}]", k.name));
        let mut out = ActionAst {
            span: v.span,
            name: Sp::new(k.name.clone(), k.span),
            params: Vec::new(),
            params_broken: false,
            body: Vec::new(),
        };
        if let Some((_, p)) = t.get("params") {
            let phint = "write `params = { port = \"port\", dmac = \"mac\" }`";
            match self.as_table(p, "`params`", phint) {
                Some(ps) => {
                    for (pk, pv) in ps {
                        match self.as_str(
                            pv,
                            &format!("the type of `{}`", pk.name),
                            "one of port, mac, ipv4, ipv6, u8, u16, u32, uN",
                        ) {
                            Some(ty) => out.params.push((Sp::new(pk.name.clone(), pk.span), ty)),
                            None => out.params_broken = true,
                        }
                    }
                }
                None => out.params_broken = true,
            }
        }
        match t.get("do") {
            Some((_, d)) => {
                out.body = self
                    .str_list(d, "`do`", "write `do = [\"drop\"]`; `do = []` does nothing")
                    .unwrap_or_default()
            }
            None => self.missing(
                v.span,
                &format!("[action.{}]", k.name),
                "do",
                "add `do = [...]` with the primitives to run; `do = []` does nothing",
            ),
        }
        Some(out)
    }

    /// `"name"` or `{ name = { param = value } }`.
    fn call(&mut self, v: &Value, what: &str) -> Option<CallAst> {
        let hint =
            "write `\"name\"`, or `{ name = { param = value } }` for an action with parameters";
        match &v.kind {
            Kind::Str(s) => Some(CallAst {
                span: v.span,
                name: Sp::new(s.clone(), v.span),
                args: Vec::new(),
            }),
            Kind::Table(t) if t.len() == 1 => {
                let (k, args) = &t[0];
                let args_t =
                    self.as_table(args, &format!("the arguments of `{}`", k.name), hint)?;
                let mut out = CallAst {
                    span: v.span,
                    name: Sp::new(k.name.clone(), k.span),
                    args: Vec::new(),
                };
                for (ak, av) in args_t {
                    if let Some(l) = self.as_lit(
                        av,
                        &format!("argument `{}`", ak.name),
                        "write the value as a string, or an integer for numbers",
                    ) {
                        out.args.push((Sp::new(ak.name.clone(), ak.span), l));
                    }
                }
                Some(out)
            }
            Kind::Table(t) => {
                self.push(
                    Diagnostic::new(
                        codes::WRONG_TYPE,
                        format!("{what} must name exactly one action, found {}", t.len()),
                    )
                    .with_label(v.span, "expected `{ name = { ... } }`")
                    .with_note(hint),
                );
                None
            }
            _ => {
                self.wrong_type(v, what, "a string or a table", hint);
                None
            }
        }
    }

    fn entry(&mut self, v: &Value) -> Option<EntryAst> {
        let t = self.as_table(
            v,
            "each entry",
            "write each entry as an `[[entry.TABLE]]` section",
        )?;
        let t = self.known(t, ENTRY_KEYS, "an entry");
        let mut out = EntryAst {
            span: v.span,
            matches: Vec::new(),
            priority: None,
            action: None,
            meter: None,
        };
        if let Some((_, m)) = t.get("match") {
            let hint = "write `match = { \"ipv4.dst\" = \"10.0.0.0/8\" }`";
            if let Some(ms) = self.as_table(m, "`match`", hint) {
                self.match_values(ms, None, &mut out.matches);
            }
        }
        if let Some((_, p)) = t.get("priority") {
            out.priority = self.as_int(p, "`priority`", "write `priority = 10` (higher wins)");
        }
        match t.get("action") {
            Some((_, a)) => out.action = self.call(a, "`action`"),
            None => self.missing(
                v.span,
                "this entry",
                "action",
                "add `action = \"name\"` or `action = { name = { param = value } }`",
            ),
        }
        if let Some((_, m)) = t.get("meter") {
            out.meter = self.meter(
                m,
                ENTRY_METER_KEYS,
                "an entry's `meter`",
                "write `meter = { rate = 100, burst = 10 }` (the table's `meter` gives unit and red action)",
            );
        }
        Some(out)
    }
}

impl Reader {
    /// `match` values; an unquoted dotted key (`ipv4.src = ...`) is a nested
    /// table in TOML, so it is flattened back into the field name it spells.
    fn match_values(
        &mut self,
        ms: &Entries,
        prefix: Option<&Sp<String>>,
        out: &mut Vec<(Sp<String>, Sp<Lit>)>,
    ) {
        for (mk, mv) in ms {
            let name = match prefix {
                Some(p) => Sp::new(
                    format!("{}.{}", p.value, mk.name),
                    Span::new(p.span.start, mk.span.end.max(p.span.start)),
                ),
                None => Sp::new(mk.name.clone(), mk.span),
            };
            match &mv.kind {
                Kind::Table(inner) if prefix.is_none() => {
                    self.match_values(inner, Some(&name), out)
                }
                _ => {
                    let what = format!("the value of `{}`", name.value);
                    if let Some(l) = self.as_lit(
                        mv,
                        &what,
                        "write the value as a string, or an integer for numbers",
                    ) {
                        out.push((name, l));
                    }
                }
            }
        }
    }
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

/// Entries of a section after unknown keys were reported.
struct Known<'v> {
    entries: &'v Entries,
}

impl<'v> Known<'v> {
    fn get(&self, name: &str) -> Option<&'v (Key, Value)> {
        self.entries.iter().find(|(k, _)| k.name == name)
    }
}
