//! Entries: match values in canonical form, priorities, duplicates, sizes, calls.

use super::*;

impl Lowerer<'_> {
    pub(super) fn entries(&mut self, ast: &ModuleAst) {
        // `[[group.T]]` sections become entries of T, after its `[[entry.T]]`.
        let mut lists: Vec<EntriesAst> = ast.entries.clone();
        let before = self.diags.len();
        for g in &ast.groups {
            let expanded = self.expand_groups(ast, g);
            if expanded.is_empty() {
                continue;
            }
            match lists.iter_mut().find(|l| l.table.value == g.table.value) {
                Some(l) => l.entries.extend(expanded),
                None => lists.push(EntriesAst {
                    table: g.table.clone(),
                    entries: expanded,
                }),
            }
        }
        for group in &lists {
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
        // A group's buckets share its span and members: a mistake in one is
        // the same mistake in the others, reported once.
        if !ast.groups.is_empty() {
            let mut tail: Vec<Diagnostic> = Vec::new();
            for d in self.diags.drain(before..) {
                if !tail.contains(&d) {
                    tail.push(d);
                }
            }
            self.diags.extend(tail);
        }
    }

    /// The entries a table's groups stand for: per group, one entry per
    /// bucket of the table's hash key, bucket `i` running member `i mod n`.
    fn expand_groups(&mut self, ast: &ModuleAst, g: &GroupsAst) -> Vec<EntryAst> {
        let Some(t) = self.tables.iter().find(|t| t.name == g.table.value) else {
            if !ast
                .tables
                .iter()
                .any(|t| t.name.as_ref().is_some_and(|n| n.value == g.table.value))
            {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_TABLE,
                    format!("groups for unknown table `{}`", g.table.value),
                )
                .with_label(g.table.span, "no [[table]] has this name");
                if let Some(best) =
                    did_you_mean(&g.table.value, self.tables.iter().map(|t| t.name.as_str()))
                {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                let names: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
                self.push(d.with_note(format!("tables: {}", names.join(", "))));
            }
            return Vec::new();
        };
        let tname = t.name.clone();
        let Some(buckets) = t
            .keys
            .iter()
            .find_map(|k| k.hash.as_ref())
            .map(|h| h.buckets)
        else {
            if !t.keys_broken {
                self.push(
                    Diagnostic::new(codes::BAD_GROUP, format!("table `{tname}` has no hash key, so it cannot hold groups"))
                        .with_label(g.table.span, "groups need a hash key")
                        .with_note("add a key `{ hash = [\"ipv4.src\", \"ipv4.dst\"], buckets = 16, match = \"exact\" }`: each group is one entry per bucket"),
                );
            }
            return Vec::new();
        };
        if t.keys
            .iter()
            .any(|k| matches!(k.kind, MatchKind::Ternary | MatchKind::Range))
        {
            self.push(
                Diagnostic::new(codes::BAD_GROUP, format!("table `{tname}` has ternary or range keys, so its entries need priorities a group cannot give"))
                    .with_label(g.table.span, "groups need exact or lpm keys")
                    .with_note("match the group on exact or lpm keys, or write the bucket entries as `[[entry]]` with priorities"),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for group in &g.groups {
            let Some(members) = &group.members else {
                continue;
            };
            let n = members.value.len();
            if n == 0 {
                self.push(
                    Diagnostic::new(codes::BAD_GROUP, "a group without members")
                        .with_label(members.span, "empty")
                        .with_note("list the actions the buckets run, e.g. `members = [{ set_nhop = { ... } }, { set_nhop = { ... } }]`"),
                );
                continue;
            }
            if n > buckets as usize {
                self.push(
                    Diagnostic::new(codes::BAD_GROUP, format!("a group of {n} members in a table of {buckets} buckets"))
                        .with_label(members.value[buckets as usize].span, "never chosen")
                        .with_note(format!("bucket i runs member i mod {n}: raise the hash key's `buckets` to at least {n}, or remove members")),
                );
                continue;
            }
            if let Some((k, _)) = group.matches.iter().find(|(k, _)| k.value == "hash") {
                self.push(
                    Diagnostic::new(codes::BAD_GROUP, "a group gives every bucket itself")
                        .with_label(k.span, "remove `hash` here")
                        .with_note("a group's `match` names the table's other keys; its buckets are all of `hash`'s values"),
                );
                continue;
            }
            for b in 0..buckets {
                let mut matches = group.matches.clone();
                matches.push((
                    Sp::new("hash".to_string(), group.span),
                    Sp::new(Lit::Int(i64::from(b)), group.span),
                ));
                out.push(EntryAst {
                    span: group.span,
                    matches,
                    priority: None,
                    action: Some(members.value[b as usize % n].clone()),
                    meter: None,
                });
            }
        }
        out
    }

    pub(super) fn entry(
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
            let r = match (r, &key.hash) {
                (Ok(KeyMatch::Exact(v)), Some(h)) if v >= u128::from(h.buckets) => {
                    Err(Diagnostic::new(
                        codes::BUCKET_RANGE,
                        format!("bucket {v} of a hash key with {} buckets", h.buckets),
                    )
                    .with_label(lit.span, format!("must be 0..={}", h.buckets - 1)))
                }
                (r, _) => r,
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
        let meter = match &e.meter {
            None => Ok(None),
            Some(m) => self.entry_meter(ti, m),
        };
        if !ok {
            return None;
        }
        Some(ir::Entry {
            matches: matches.into_iter().collect::<Option<Vec<_>>>()?,
            priority,
            action: action?,
            meter: meter.ok()?,
            span: e.span,
        })
    }
}
