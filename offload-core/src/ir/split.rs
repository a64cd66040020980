//! Split placement: a module's stages cut in two — a prefix for the NIC,
//! the rest for the host — and what would have to travel between them.
//!
//! The meaning of a split is defined by [`crate::semantics::run_split`];
//! this module builds the two halves ([`split`]) and says which state the
//! host half would need from the NIC half that the packet bytes do not
//! carry ([`carries`]). The planner refuses a cut point with a non-empty
//! [`carries`] on targets that have no channel for that state (every NIC
//! profile today: the NFP's offload JIT has no `bpf_xdp_adjust_meta` and
//! no `data_meta` context access, see `plan::profile`).
//!
//! # The halves
//! - [`Split::nic`]: stages `0..at`, the actions they use (renumbered), the
//!   module's ports, and `default = "pass"`: a packet no NIC stage decided
//!   is handed to the host (XDP_PASS out of the offloaded program).
//! - [`Split::host`]: stages `at..n` renumbered from 0, the actions they
//!   use, the module's ports, and the module's own default verdict.
//!
//! Table names stay as the module names them, so entries of `blocklist`
//! go to the NIC half and entries of `routes` to the host half by name.
//!
//! # Why the bytes are enough when [`carries`] is empty
//! The host half parses the frame afresh and starts with `meta.group = 0`.
//! That equals the one-place run exactly when:
//! - no NIC stage can end with `pass` (the host could not tell a decided
//!   `pass` from a hand-off; both leave the NIC as XDP_PASS) —
//!   [`Carry::PassDecision`];
//! - no NIC stage writes `meta.group` that a host stage reads —
//!   [`Carry::MetaGroup`];
//! - no NIC stage pushes or pops a VLAN tag: validity is decided once at
//!   ingress and counters count the frame's length as it arrived, while a
//!   fresh parse of a changed tag stack can see other headers and another
//!   length — [`Carry::TagStack`].
//!
//! Every other primitive writes only fields the parser does not look at
//! (addresses, ports, TTL, DSCP, VLAN id/priority; the parse-deciding
//! fields `eth.type`, `ipv4.protocol`, `ipv6.next_header` are read-only),
//! so a fresh parse of the NIC's output finds the same headers, and
//! `meta.in_port` is the same interface on both halves.

use super::{ActionCall, ActionId, DefaultVerdict, Field, Module, Primitive, Table, TableId};
use std::collections::BTreeMap;
use std::fmt;

/// Which half of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Half {
    Nic,
    Host,
}

/// A module cut at stage `at` (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The module as written (what the split must mean).
    pub whole: Module,
    /// Stages `0..at`, default verdict `pass` (the hand-off).
    pub nic: Module,
    /// Stages `at..n`, renumbered from 0, the module's default verdict.
    pub host: Module,
    /// The first stage on the host.
    pub at: usize,
}

impl Split {
    /// The module's table id of table `t` of `half`.
    pub fn original(&self, half: Half, t: TableId) -> TableId {
        match half {
            Half::Nic => t,
            Half::Host => TableId(t.0 + self.at as u32),
        }
    }
    /// Which half holds the module's table `t`, and its id there.
    pub fn half_of(&self, t: TableId) -> (Half, TableId) {
        if (t.0 as usize) < self.at {
            (Half::Nic, t)
        } else {
            (Half::Host, TableId(t.0 - self.at as u32))
        }
    }
    /// The half module that holds table `name`.
    pub fn half_for_table(&self, name: &str) -> Option<Half> {
        let t = self.whole.table_by_name(name)?;
        Some(self.half_of(t.id).0)
    }
    pub fn module(&self, half: Half) -> &Module {
        match half {
            Half::Nic => &self.nic,
            Half::Host => &self.host,
        }
    }
}

/// The name of a half module: `<module>-nic` / `<module>-host`.
pub fn half_name(module: &str, half: Half) -> String {
    match half {
        Half::Nic => format!("{module}-nic"),
        Half::Host => format!("{module}-host"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("module {module} has {stages} stage(s): a split needs a cut point in 1..{stages} (both halves non-empty), not {at}")]
    CutPoint {
        module: String,
        stages: usize,
        at: usize,
    },
}

/// Builds the two halves of `module` cut before stage `at` (1 ≤ at < n).
/// Does not check [`carries`]: that is the planner's question.
pub fn split(module: &Module, at: usize) -> Result<Split, SplitError> {
    let n = module.tables.len();
    if at == 0 || at >= n {
        return Err(SplitError::CutPoint {
            module: module.name.clone(),
            stages: n,
            at,
        });
    }
    Ok(Split {
        whole: module.clone(),
        nic: half(
            module,
            &module.tables[..at],
            half_name(&module.name, Half::Nic),
            DefaultVerdict::Pass,
        ),
        host: half(
            module,
            &module.tables[at..],
            half_name(&module.name, Half::Host),
            module.default_verdict,
        ),
        at,
    })
}

/// Actions a table can run: its listed actions and its default.
fn table_actions(t: &Table) -> impl Iterator<Item = ActionId> + '_ {
    t.actions
        .iter()
        .copied()
        .chain(std::iter::once(t.default_action.action))
}

/// Stages `range` of `module` alone, as a module named `name` with
/// `default` (the planner checks a single stage against a NIC profile
/// with it).
pub fn stages(
    module: &Module,
    range: std::ops::Range<usize>,
    name: String,
    default: DefaultVerdict,
) -> Module {
    half(module, &module.tables[range], name, default)
}

/// A module of `tables` (renumbered from 0) and the actions they use
/// (renumbered in declaration order), keeping every invariant of the IR.
fn half(module: &Module, tables: &[Table], name: String, default: DefaultVerdict) -> Module {
    let mut used: Vec<ActionId> = tables.iter().flat_map(table_actions).collect();
    used.sort();
    used.dedup();
    let renum: BTreeMap<ActionId, ActionId> = used
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, ActionId(i as u32)))
        .collect();
    let call = |c: &ActionCall| ActionCall {
        action: renum[&c.action],
        args: c.args.clone(),
    };
    let actions = used
        .iter()
        .map(|a| {
            let mut act = module.action(*a).clone();
            act.id = renum[a];
            act
        })
        .collect();
    let tables = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut t = t.clone();
            t.id = TableId(i as u32);
            t.actions = t.actions.iter().map(|a| renum[a]).collect();
            t.default_action = call(&t.default_action);
            for e in &mut t.entries {
                e.action = call(&e.action);
            }
            t
        })
        .collect();
    Module {
        name,
        default_verdict: default,
        ports: module.ports.clone(),
        tables,
        actions,
    }
}

/// State the host half would need from the NIC half that the bytes do not
/// carry (see the module doc for why each matters).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "carry", rename_all = "snake_case")]
pub enum Carry {
    /// NIC stage `table` can end the pipeline with `pass` through `action`
    /// (a `pass` primitive, or `dec_ttl` at TTL/hop limit ≤ 1).
    PassDecision {
        table: String,
        action: String,
        dec_ttl: bool,
    },
    /// NIC stage `table` writes `meta.group` (action `action`) and host
    /// stage `read_by` reads it.
    MetaGroup {
        table: String,
        action: String,
        read_by: String,
    },
    /// NIC stage `table` changes the VLAN tag stack through `action`.
    TagStack {
        table: String,
        action: String,
        push: bool,
    },
}

impl Carry {
    /// The NIC stage the carried state comes from.
    pub fn table(&self) -> &str {
        match self {
            Carry::PassDecision { table, .. }
            | Carry::MetaGroup { table, .. }
            | Carry::TagStack { table, .. } => table,
        }
    }
}

impl fmt::Display for Carry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Carry::PassDecision { table, action, dec_ttl } => write!(
                f,
                "stage {table} can decide `pass` on the NIC (action {action}{}); the host half would have to be told that decision apart from a packet handed on to it",
                if *dec_ttl { ", dec_ttl at TTL ≤ 1" } else { "" }
            ),
            Carry::MetaGroup { table, action, read_by } => write!(
                f,
                "stage {table} sets meta.group on the NIC (action {action}) and stage {read_by} on the host reads it; meta.group is not in the packet bytes"
            ),
            Carry::TagStack { table, action, push } => write!(
                f,
                "stage {table} {} a VLAN tag on the NIC (action {action}); the host half would parse the changed tag stack afresh and count its new length, where the module decides headers and counter bytes at ingress",
                if *push { "pushes" } else { "pops" }
            ),
        }
    }
}

/// Whether a table reads `meta.group` (a key, a hash input, or a copy from it).
fn reads_group(module: &Module, t: &Table) -> bool {
    t.keys.iter().any(|k| {
        k.field == Field::MetaGroup
            || k.hash
                .as_ref()
                .is_some_and(|h| h.fields.contains(&Field::MetaGroup))
    }) || table_actions(t).any(|a| {
        module.action(a).body.iter().any(|p| {
            matches!(
                p,
                Primitive::Copy {
                    from: Field::MetaGroup,
                    ..
                }
            )
        })
    })
}

/// Every piece of state that would have to travel from stages `0..at` to
/// stages `at..n` (empty: the bytes carry everything). In stage order.
pub fn carries(module: &Module, at: usize) -> Vec<Carry> {
    let at = at.min(module.tables.len());
    let (nic, host) = module.tables.split_at(at);
    let group_reader = host
        .iter()
        .find(|t| reads_group(module, t))
        .map(|t| t.name.clone());
    let mut out = Vec::new();
    for t in nic {
        let mut acts: Vec<ActionId> = table_actions(t).collect();
        acts.sort();
        acts.dedup();
        for a in acts {
            let act = module.action(a);
            for p in &act.body {
                let c = match p {
                    Primitive::Pass | Primitive::DecTtl => Carry::PassDecision {
                        table: t.name.clone(),
                        action: act.name.clone(),
                        dec_ttl: *p == Primitive::DecTtl,
                    },
                    Primitive::Set { field, .. } | Primitive::Copy { field, .. }
                        if *field == Field::MetaGroup =>
                    {
                        match &group_reader {
                            Some(r) => Carry::MetaGroup {
                                table: t.name.clone(),
                                action: act.name.clone(),
                                read_by: r.clone(),
                            },
                            None => continue,
                        }
                    }
                    Primitive::PushVlan(_) | Primitive::PopVlan => Carry::TagStack {
                        table: t.name.clone(),
                        action: act.name.clone(),
                        push: matches!(p, Primitive::PushVlan(_)),
                    },
                    _ => continue,
                };
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}
