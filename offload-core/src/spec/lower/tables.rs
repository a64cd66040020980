//! Tables: keys, the action list, the default action, size; action-call arguments.

use super::*;

impl Lowerer<'_> {
    pub(super) fn tables(&mut self, ast: &ModuleAst) {
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

    pub(super) fn table(&mut self, t: &TableAst, name: &Sp<String>) -> TableInfo {
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
        let mut hash_at: Option<Span> = None;
        for k in t.keys.iter().take(MAX_KEYS) {
            let Some(kfield) = &k.field else {
                match self.hash_key(k, name, &mut hash_at) {
                    Some(key) => keys.push(key),
                    None => broken = true,
                }
                continue;
            };
            let field = self.field(&kfield.value, kfield.span);
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
                    .with_label(kfield.span, "second key on this field")
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
                hash: None,
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

        let (meter, meter_broken) = match &t.meter {
            None => (None, false),
            Some(m) => match self.table_meter(m, &name.value, keys.is_empty() && !broken) {
                Ok(m) => (Some(m), false),
                Err(()) => (None, true),
            },
        };
        TableInfo {
            name: name.value.clone(),
            meter,
            meter_broken,
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

    /// A `{ hash = [...], buckets = N, match = "exact" }` key; `None` (and
    /// diagnostics) when any part is wrong.
    fn hash_key(
        &mut self,
        k: &KeyAst,
        table: &Sp<String>,
        hash_at: &mut Option<Span>,
    ) -> Option<ir::Key> {
        let list = k.hash.as_ref()?;
        let mut ok = true;
        if k.kind.value != "exact" {
            ok = false;
            self.push(
                Diagnostic::new(
                    codes::HASH_KEY,
                    format!("a hash key is matched with `exact`, not `{}`", k.kind.value),
                )
                .with_label(k.kind.span, "write `match = \"exact\"`")
                .with_note("each entry of the table names one bucket of the hash (`\"hash\" = 3`)"),
            );
        }
        if let Some(prev) = *hash_at {
            self.push(
                Diagnostic::new(
                    codes::HASH_KEY,
                    format!("table `{}` has two hash keys", table.value),
                )
                .with_label(list.span, "second hash key")
                .with_label(prev, "first hash key")
                .with_note("a table has at most one hash key; hash all the fields in one list"),
            );
            return None;
        }
        *hash_at = Some(list.span);
        if list.value.is_empty() {
            ok = false;
            self.push(
                Diagnostic::new(codes::HASH_FIELD, "a hash key over no fields")
                    .with_label(list.span, "empty")
                    .with_note("name the fields that pick the bucket, e.g. `hash = [\"ipv4.src\", \"ipv4.dst\", \"ipv4.protocol\", \"l4.src_port\", \"l4.dst_port\"]`"),
            );
        }
        let mut fields: Vec<(Field, Span)> = Vec::new();
        for f in &list.value {
            let Some(field) = self.field(&f.value, f.span) else {
                ok = false;
                continue;
            };
            if let Err(why) = field.hashable() {
                ok = false;
                self.push(
                    Diagnostic::new(
                        codes::HASH_FIELD,
                        format!("`{}` cannot be hashed", field.name()),
                    )
                    .with_label(f.span, why)
                    .with_note("a hash key reads whole bytes of header fields: eth.src/dst, ipv4.src/dst/protocol/ttl, ipv6.src/dst/next_header/hop_limit, l4.src_port/dst_port, tcp.flags, icmp/icmpv6 type and code"),
                );
                continue;
            }
            if let Some((_, prev)) = fields.iter().find(|(x, _)| *x == field) {
                ok = false;
                let prev = *prev;
                self.push(
                    Diagnostic::new(
                        codes::HASH_FIELD,
                        format!("`{}` is hashed twice", field.name()),
                    )
                    .with_label(f.span, "second time")
                    .with_label(prev, "first time")
                    .with_note("name each field once"),
                );
                continue;
            }
            fields.push((field, f.span));
        }
        let buckets = match &k.buckets {
            Some(b)
                if b.value >= 2
                    && b.value <= i64::from(ir::MAX_HASH_BUCKETS)
                    && (b.value as u64).is_power_of_two() =>
            {
                b.value as u32
            }
            Some(b) => {
                self.push(
                    Diagnostic::new(
                        codes::HASH_BUCKETS,
                        format!("{} buckets: not a power of two from 2 to {}", b.value, ir::MAX_HASH_BUCKETS),
                    )
                    .with_label(b.span, "must be 2, 4, 8, ..., 4096")
                    .with_note("the bucket is `crc32(fields) & (buckets - 1)`, the same on every target, so `buckets` is a power of two"),
                );
                return None;
            }
            None => return None,
        };
        if !ok {
            return None;
        }
        Some(ir::Key {
            field: Field::Hash,
            kind: MatchKind::Exact,
            span: k.span,
            hash: Some(ir::HashKey {
                fields: fields.into_iter().map(|(f, _)| f).collect(),
                buckets,
            }),
        })
    }

    /// Arguments of a call, in parameter order. `None` if any is wrong.
    pub(super) fn call_args(&mut self, call: &CallAst, id: ActionId) -> Option<Vec<u128>> {
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
}
