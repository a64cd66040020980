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
