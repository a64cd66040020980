//! Table entries at run time: parsed and validated against the module (a
//! refused entry changes nothing), encoded through `offload-ebpf`'s table
//! layout, written with batch map operations (one by one where the kernel
//! refuses a batch), read back, and counted.
//!
//! - [`parse`]: entry text (the module language's `[[entry.T]]` syntax, from
//!   files or command-line flags) → IR [`Entry`];
//! - [`validate`] here: the rules the module compiler applies to file entries,
//!   applied to runtime ones;
//! - [`record`]: a lossless serde form, for the deployment state;
//! - [`mod@write`]: images → maps (batch, fallback, diffs), read-back, counters.

pub mod parse;
pub mod record;
pub mod write;

use offload_core::ir::{Entry, KeyMatch, MatchKind, Module, ParamType, PortId, Table};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("no table {table:?} in module {module} (tables: {known})")]
    UnknownTable {
        module: String,
        table: String,
        known: String,
    },
    #[error("table {table}: {message}")]
    Invalid { table: String, message: String },
    #[error("table {table}: an entry with the same match{} already exists", if *.priority { " and priority" } else { "" })]
    Duplicate { table: String, priority: bool },
    #[error("table {table}: priority {priority} is already used by another entry (priorities are unique)")]
    DuplicatePriority { table: String, priority: u32 },
    #[error("table {table} is full ({size} entries)")]
    Full { table: String, size: u32 },
    #[error("table {table}: no entry matches {what}")]
    NotFound { table: String, what: String },
}

/// The table named `name`, or an error listing the module's tables.
pub fn table<'m>(module: &'m Module, name: &str) -> Result<&'m Table, EntryError> {
    module
        .table_by_name(name)
        .ok_or_else(|| EntryError::UnknownTable {
            module: module.name.clone(),
            table: name.into(),
            known: module
                .tables
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn invalid(table: &Table, message: String) -> EntryError {
    EntryError::Invalid {
        table: table.name.clone(),
        message,
    }
}

/// Checks `entry` as a new entry of `table` next to `existing` entries:
/// shape, canonical matches, priority rules, action and arguments, size.
pub fn validate(
    module: &Module,
    table: &Table,
    existing: &[Entry],
    entry: &Entry,
) -> Result<(), EntryError> {
    validate_shape(module, table, entry)?;
    if existing.len() as u64 >= u64::from(table.size) {
        return Err(EntryError::Full {
            table: table.name.clone(),
            size: table.size,
        });
    }
    for e in existing {
        if same_key(e, entry) {
            return Err(EntryError::Duplicate {
                table: table.name.clone(),
                priority: entry.priority.is_some(),
            });
        }
        if let (Some(a), Some(b)) = (e.priority, entry.priority) {
            if a == b {
                return Err(EntryError::DuplicatePriority {
                    table: table.name.clone(),
                    priority: b,
                });
            }
        }
    }
    Ok(())
}

/// [`validate`] for many entries added one after another (each checked
/// against the existing ones and those accepted before it) in O(1) per entry:
/// hash sets of the keys and priorities instead of a scan of the table (an
/// `entries load` of 10^5 entries was quadratic, minutes in a debug build).
/// A key and a priority both taken report the duplicate key.
pub struct Checker {
    keys: std::collections::HashSet<Vec<KeyMatch>>,
    priorities: std::collections::HashSet<u32>,
    len: usize,
}

impl Checker {
    pub fn new<'a>(existing: impl IntoIterator<Item = &'a Entry>) -> Checker {
        let mut c = Checker {
            keys: Default::default(),
            priorities: Default::default(),
            len: 0,
        };
        for e in existing {
            c.record(e);
        }
        c
    }

    fn record(&mut self, e: &Entry) {
        self.keys.insert(e.matches.clone());
        if let Some(p) = e.priority {
            self.priorities.insert(p);
        }
        self.len += 1;
    }

    /// The rules of [`validate`]; an accepted entry counts from then on.
    pub fn check(
        &mut self,
        module: &Module,
        table: &Table,
        entry: &Entry,
    ) -> Result<(), EntryError> {
        validate_shape(module, table, entry)?;
        if self.len as u64 >= u64::from(table.size) {
            return Err(EntryError::Full {
                table: table.name.clone(),
                size: table.size,
            });
        }
        if self.keys.contains(&entry.matches) {
            return Err(EntryError::Duplicate {
                table: table.name.clone(),
                priority: entry.priority.is_some(),
            });
        }
        if let Some(p) = entry.priority.filter(|p| self.priorities.contains(p)) {
            return Err(EntryError::DuplicatePriority {
                table: table.name.clone(),
                priority: p,
            });
        }
        self.record(entry);
        Ok(())
    }
}

/// Two entries address the same element: equal matches (and, for tables with
/// priorities, equal priority too counts as a duplicate via the priority rule).
pub fn same_key(a: &Entry, b: &Entry) -> bool {
    a.matches == b.matches
}

/// Everything about one entry on its own (no neighbours).
pub fn validate_shape(module: &Module, table: &Table, entry: &Entry) -> Result<(), EntryError> {
    if entry.matches.len() != table.keys.len() {
        return Err(invalid(
            table,
            format!(
                "the entry has {} matches, the table has {} keys",
                entry.matches.len(),
                table.keys.len()
            ),
        ));
    }
    for (key, m) in table.keys.iter().zip(&entry.matches) {
        let w = key.field.width();
        let max = key.field.max_value();
        let ok = match (key.kind, *m) {
            (MatchKind::Exact, KeyMatch::Exact(v)) => match &key.hash {
                Some(h) => v < u128::from(h.buckets),
                None => v <= max,
            },
            (MatchKind::Lpm, KeyMatch::Lpm { value, prefix_len }) => {
                prefix_len <= w && value & !offload_core::ir::prefix_mask(w, prefix_len) == 0
            }
            (MatchKind::Ternary, KeyMatch::Ternary { value, mask }) => {
                mask <= max && value & !mask == 0
            }
            (MatchKind::Range, KeyMatch::Range { lo, hi }) => lo <= hi && hi <= max,
            _ => false,
        };
        if !ok {
            return Err(invalid(
                table,
                format!(
                    "key {} ({}) has a value that is not a canonical {} match of a {}-bit field",
                    key.field, key.kind, key.kind, w
                ),
            ));
        }
    }
    match (table.needs_priority(), entry.priority) {
        (true, None) => {
            return Err(invalid(
                table,
                "entries of this table need a priority (it has ternary/range keys)".into(),
            ))
        }
        (false, Some(_)) => {
            return Err(invalid(
                table,
                "entries of this table take no priority (no ternary/range keys)".into(),
            ))
        }
        _ => {}
    }
    if !table.actions.contains(&entry.action.action) {
        let name = module
            .actions
            .get(entry.action.action.0 as usize)
            .map_or("?", |a| a.name.as_str());
        let allowed: Vec<&str> = table
            .actions
            .iter()
            .map(|a| module.action(*a).name.as_str())
            .collect();
        return Err(invalid(
            table,
            format!(
                "action {name} is not one of the table's actions ({})",
                allowed.join(", ")
            ),
        ));
    }
    let action = module.action(entry.action.action);
    if entry.action.args.len() != action.params.len() {
        return Err(invalid(
            table,
            format!(
                "action {} takes {} arguments, the entry gives {}",
                action.name,
                action.params.len(),
                entry.action.args.len()
            ),
        ));
    }
    for (p, v) in action.params.iter().zip(&entry.action.args) {
        let fits = *v <= offload_core::ir::mask_of_width(p.ty.width());
        let port_ok = p.ty != ParamType::Port
            || u16::try_from(*v)
                .ok()
                .and_then(|n| module.port_by_id(PortId(n)))
                .is_some();
        if !fits || !port_ok {
            return Err(invalid(
                table,
                format!("argument {} = {v} does not fit its type {}", p.name, p.ty),
            ));
        }
    }
    Ok(())
}

/// Counter slots: entry `i` of a table uses `slots[i]`; a new entry takes the
/// lowest free slot below the table size (the default action's is `size`).
pub fn free_slot(used: &[u32], size: u32) -> Option<u32> {
    let mut taken: Vec<u32> = used.to_vec();
    taken.sort_unstable();
    let mut want = 0;
    for s in taken {
        if s == want {
            want += 1;
        } else if s > want {
            break;
        }
    }
    (want < size).then_some(want)
}

/// Counter slots handed out lowest-free-first (what [`free_slot`]
/// finds), in O(1) amortised per slot: slots are only taken while adding,
/// so the lowest free one never goes down. `take(size)` is the slot, or
/// `None` when every slot below `size` is taken.
pub struct SlotAllocator {
    used: std::collections::HashSet<u32>,
    next: u32,
}

impl SlotAllocator {
    pub fn new(used: impl IntoIterator<Item = u32>) -> SlotAllocator {
        SlotAllocator {
            used: used.into_iter().collect(),
            next: 0,
        }
    }

    pub fn take(&mut self, size: u32) -> Option<u32> {
        while self.used.contains(&self.next) {
            self.next += 1;
        }
        (self.next < size).then(|| {
            self.used.insert(self.next);
            self.next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse::{self, EntryText, Lit};
    use super::*;

    fn router() -> Module {
        offload_core::spec::compile(include_str!("../../../examples/edge-router.toml"))
            .expect("example compiles")
    }

    fn route(dst: &str) -> EntryText {
        EntryText {
            meter: None,
            table: "routes".into(),
            matches: vec![("ipv4.dst".into(), Lit::Str(dst.into()))],
            priority: None,
            action: "route".into(),
            args: vec![
                ("port".into(), Lit::Str("servers".into())),
                ("dmac".into(), Lit::Str("02:00:00:00:00:02".into())),
                ("smac".into(), Lit::Str("02:00:00:00:00:01".into())),
            ],
        }
    }

    #[test]
    fn a_route_parses_and_validates() {
        let m = router();
        let e = parse::entry(&m, &route("10.20.0.0/16")).unwrap();
        assert_eq!(
            e.matches,
            vec![KeyMatch::Lpm {
                value: 0x0a14_0000,
                prefix_len: 16
            }]
        );
        let t = table(&m, "routes").unwrap();
        validate(&m, t, &t.entries, &e).unwrap();
    }

    #[test]
    fn refusals_name_the_problem() {
        let m = router();
        let t = table(&m, "routes").unwrap();
        // Same prefix as a file entry.
        let dup = parse::entry(&m, &route("192.168.1.0/24")).unwrap();
        assert!(matches!(
            validate(&m, t, &t.entries, &dup),
            Err(EntryError::Duplicate { .. })
        ));
        // Host bits set.
        let err = parse::entry(&m, &route("10.20.0.1/16")).unwrap_err();
        assert!(err.to_string().contains("ipv4.dst"), "{err}");
        // Unknown port name.
        let mut r = route("10.0.0.0/8");
        r.args[0].1 = Lit::Str("nowhere".into());
        let err = parse::entry(&m, &r).unwrap_err().to_string();
        assert!(err.contains("port"), "{err}");
        // Action not in the table.
        let mut r = route("10.0.0.0/8");
        r.action = "allow".into();
        r.args.clear();
        let err = parse::entry(&m, &r).unwrap_err().to_string();
        assert!(err.contains("not one of the table's actions"), "{err}");
        // A table that does not exist.
        let mut r = route("10.0.0.0/8");
        r.table = "rutes".into();
        let err = parse::entry(&m, &r).unwrap_err().to_string();
        assert!(err.contains("tables: acl, routes"), "{err}");
    }

    #[test]
    fn acl_entries_need_unique_priorities() {
        let m = router();
        let t = table(&m, "acl").unwrap();
        let text = EntryText {
            meter: None,
            table: "acl".into(),
            matches: vec![
                ("ipv4.protocol".into(), Lit::Int(17)),
                ("l4.dst_port".into(), Lit::Str("53".into())),
            ],
            priority: Some(20),
            action: "deny".into(),
            args: vec![],
        };
        let e = parse::entry(&m, &text).unwrap();
        assert!(matches!(
            validate(&m, t, &t.entries, &e),
            Err(EntryError::DuplicatePriority { priority: 20, .. })
        ));
        let mut text = text;
        text.priority = None;
        assert!(parse::entry(&m, &text)
            .unwrap_err()
            .to_string()
            .contains("need a priority"));
        text.matches.retain(|(f, _)| f != "ipv4.protocol");
        text.priority = Some(7);
        assert!(parse::entry(&m, &text)
            .unwrap_err()
            .to_string()
            .contains("exact key ipv4.protocol needs a value"));
    }

    #[test]
    fn entries_file_reads_like_a_module() {
        let m = router();
        let src = r#"
[[entry.routes]]
match = { "ipv4.dst" = "10.1.0.0/16" }
action = { route = { port = "backup", dmac = "02:00:00:00:00:09", smac = "02:00:00:00:00:01" } }

[[entry.acl]]
match = { "ipv4.protocol" = 17, "l4.dst_port" = "5000..5999" }
priority = 3
action = "deny"
"#;
        let es = parse::file(&m, "extra.toml", src).unwrap();
        assert_eq!(es.len(), 2);
        let bad = src.replace("5000..5999", "5999..5000");
        let err = parse::file(&m, "extra.toml", &bad).unwrap_err().to_string();
        assert!(err.starts_with("extra.toml: entry.acl[0]"), "{err}");
        let err = parse::file(&m, "x.toml", "[[entry.routes]]\nmatch = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("entry.routes[0]"), "{err}");
        assert!(parse::file(&m, "x.toml", "not toml = = =").is_err());
    }

    #[test]
    fn records_round_trip() {
        let m = router();
        for t in &m.tables {
            for (i, e) in t.entries.iter().enumerate() {
                let r = record::EntryRecord::from_entry(e, i as u32);
                let json = serde_json::to_string(&r).unwrap();
                let back: record::EntryRecord = serde_json::from_str(&json).unwrap();
                let (e2, slot) = back.to_entry().unwrap();
                assert_eq!(
                    (e2.matches, e2.priority, e2.action, slot),
                    (e.matches.clone(), e.priority, e.action.clone(), i as u32)
                );
            }
        }
    }

    #[test]
    fn the_slot_allocator_gives_what_free_slot_finds() {
        let mut used = vec![0, 1, 3, 7];
        let mut a = SlotAllocator::new(used.clone());
        for _ in 0..5 {
            let want = free_slot(&used, 8);
            assert_eq!(a.take(8), want);
            used.extend(want);
        }
        assert_eq!(a.take(8), None);
    }

    #[test]
    fn free_slots() {
        assert_eq!(free_slot(&[], 4), Some(0));
        assert_eq!(free_slot(&[0, 1, 3], 4), Some(2));
        assert_eq!(free_slot(&[3, 0, 2, 1], 4), None);
    }
}
