//! Service chains: several modules on one placement, run one after the other,
//! and the fusion pass that turns a chain into one pipeline for the backends.
//!
//! The meaning of a chain is defined by [`crate::semantics::run_chain`]; this
//! module checks that a list of modules can form a chain ([`fuse`]) and
//! builds the [`Fused`] pipeline every backend compiles (one XDP/tc program,
//! one P4 pipeline).
//!
//! # What may form a chain
//! - At least one module; module names are unique (they qualify table names).
//! - Ports agree: every module that declares `[ports]` declares the same
//!   names with the same ids (a module without ports fits any chain). A
//!   chain runs on one placement, so a logical port is one interface or
//!   switch port for all its modules; two meanings of `uplink` could not
//!   both hold. Refusals name the module and the port and point at it
//!   ([`ChainError::diagnostic`]).
//!
//! # The fused pipeline
//! [`Fused::module`] holds every module's tables and actions in chain order,
//! renamed `module.table` and `module.action` (so they stay unique and the
//! control plane addresses `ddos-filter.blocklist`), with ids and entries
//! renumbered; ports are the chain's shared ports. [`Fused::segments`] says
//! which tables belong to which module and each module's default verdict.
//! **The fused module alone is not the chain's meaning** — between two
//! segments the packet is parsed again and a `pass` continues — so backends
//! compile `Fused` as a whole, and `semantics::run(&fused.module, …)` would
//! be wrong: the reference is [`crate::semantics::run_chain`] over the
//! modules themselves. Spans of fused tables and actions point into their
//! own module's source.
//!
//! Why an IR pass and not one chain compiler per backend: renaming and
//! renumbering is the same for every backend, the layout code (BPF maps, P4
//! names, entry translation) then works unchanged on the fused module, and
//! the only thing a backend adds is what happens at a segment boundary.

use super::{ActionCall, ActionId, DefaultVerdict, Module, Port, TableId};
use crate::diag::{codes, Diagnostic, Span};
use std::ops::Range;

/// One module's part of a fused pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The module's own name (its tables are `name.table` in the fused module).
    pub module: String,
    /// Its tables, as indices into the fused module's tables.
    pub tables: Range<usize>,
    /// Its actions, as indices into the fused module's actions.
    pub actions: Range<usize>,
    /// The module's verdict when none of its tables decides.
    pub default_verdict: DefaultVerdict,
}

/// A chain compiled into one pipeline (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fused {
    pub module: Module,
    /// One per module, in chain order; together they cover every table.
    pub segments: Vec<Segment>,
}

/// Why a list of modules cannot form a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("a chain needs at least one module")]
    Empty,
    #[error("modules {} and {} of the chain are both named `{name}`; module names qualify table names (`{name}.TABLE`) and must be unique", first + 1, second + 1)]
    DuplicateModule {
        name: String,
        /// Chain positions (0-based).
        first: usize,
        second: usize,
    },
    #[error("module `{module}` gives port `{port}` id {id}, module `{other}` gives it id {other_id}; the modules of a chain must agree on ports")]
    PortId {
        /// Chain position of the module the error points into.
        index: usize,
        module: String,
        port: String,
        id: u16,
        span: Span,
        other: String,
        other_id: u16,
    },
    #[error("module `{module}` declares port `{port}` ({id}) and module `{other}` does not; the modules of a chain must agree on ports (or declare none)")]
    PortMissing {
        index: usize,
        module: String,
        port: String,
        id: u16,
        span: Span,
        other: String,
    },
}

impl ChainError {
    /// Chain position of the module whose file the error points into.
    pub fn module_index(&self) -> Option<usize> {
        match self {
            ChainError::Empty => None,
            ChainError::DuplicateModule { second, .. } => Some(*second),
            ChainError::PortId { index, .. } | ChainError::PortMissing { index, .. } => {
                Some(*index)
            }
        }
    }

    /// The error as a diagnostic on the file of [`Self::module_index`].
    /// `name_span` is where that module's `name` is (for a duplicate name;
    /// see [`crate::spec::module_name_span`]).
    pub fn diagnostic(&self, name_span: Option<Span>) -> Diagnostic {
        match self {
            ChainError::Empty => Diagnostic::new(codes::EMPTY, self.to_string()),
            ChainError::DuplicateModule { first, .. } => {
                let d = Diagnostic::new(codes::CHAIN_DUPLICATE_MODULE, self.to_string()).with_note(
                    format!("rename one of them, or drop the repeat (module {first} already runs)"),
                );
                match name_span {
                    Some(s) => d.with_label(s, "this name is already in the chain"),
                    None => d,
                }
            }
            ChainError::PortId {
                span,
                other,
                other_id,
                port,
                ..
            } => Diagnostic::new(codes::CHAIN_PORT_ID, self.to_string())
                .with_label(*span, format!("`{other}` has `{port} = {other_id}`"))
                .with_note(format!(
                    "use `{port} = {other_id}` here, or rename the port if it is another one"
                )),
            ChainError::PortMissing { span, other, .. } => {
                Diagnostic::new(codes::CHAIN_PORT_MISSING, self.to_string())
                    .with_label(*span, format!("not a port of `{other}`"))
                    .with_note(
                        "declare the same [ports] in every module of the chain that has ports",
                    )
            }
        }
    }
}

/// The ports every module of the chain agrees on (see the module doc).
fn shared_ports(modules: &[Module]) -> Result<Vec<Port>, ChainError> {
    let Some(first) = modules.iter().position(|m| !m.ports.is_empty()) else {
        return Ok(Vec::new());
    };
    let base = &modules[first];
    for (i, m) in modules.iter().enumerate().skip(first + 1) {
        if m.ports.is_empty() {
            continue;
        }
        for p in &m.ports {
            match base.port_by_name(&p.name) {
                Some(q) if q.id != p.id => {
                    return Err(ChainError::PortId {
                        index: i,
                        module: m.name.clone(),
                        port: p.name.clone(),
                        id: p.id.0,
                        span: p.span,
                        other: base.name.clone(),
                        other_id: q.id.0,
                    })
                }
                Some(_) => {}
                None => {
                    return Err(ChainError::PortMissing {
                        index: i,
                        module: m.name.clone(),
                        port: p.name.clone(),
                        id: p.id.0,
                        span: p.span,
                        other: base.name.clone(),
                    })
                }
            }
        }
        if let Some(q) = base
            .ports
            .iter()
            .find(|q| m.port_by_name(&q.name).is_none())
        {
            return Err(ChainError::PortMissing {
                index: first,
                module: base.name.clone(),
                port: q.name.clone(),
                id: q.id.0,
                span: q.span,
                other: m.name.clone(),
            });
        }
    }
    Ok(base.ports.clone())
}

/// Checks that `modules` can run as a chain and fuses them (see the module doc).
pub fn fuse(modules: &[Module]) -> Result<Fused, ChainError> {
    if modules.is_empty() {
        return Err(ChainError::Empty);
    }
    for (j, m) in modules.iter().enumerate() {
        if let Some(i) = modules[..j].iter().position(|o| o.name == m.name) {
            return Err(ChainError::DuplicateModule {
                name: m.name.clone(),
                first: i,
                second: j,
            });
        }
    }
    let ports = shared_ports(modules)?;
    let mut fused = Module {
        name: modules
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        default_verdict: modules[modules.len() - 1].default_verdict,
        ports,
        tables: Vec::new(),
        actions: Vec::new(),
    };
    let mut segments = Vec::new();
    for m in modules {
        let (t0, a0) = (fused.tables.len(), fused.actions.len());
        let remap = |c: &ActionCall| ActionCall {
            action: ActionId(c.action.0 + a0 as u32),
            args: c.args.clone(),
        };
        for a in &m.actions {
            let mut a = a.clone();
            a.id = ActionId(a.id.0 + a0 as u32);
            a.name = format!("{}.{}", m.name, a.name);
            fused.actions.push(a);
        }
        for t in &m.tables {
            let mut t = t.clone();
            t.id = TableId(t.id.0 + t0 as u32);
            t.name = format!("{}.{}", m.name, t.name);
            t.actions = t
                .actions
                .iter()
                .map(|a| ActionId(a.0 + a0 as u32))
                .collect();
            t.default_action = remap(&t.default_action);
            for e in &mut t.entries {
                e.action = remap(&e.action);
            }
            fused.tables.push(t);
        }
        segments.push(Segment {
            module: m.name.clone(),
            tables: t0..fused.tables.len(),
            actions: a0..fused.actions.len(),
            default_verdict: m.default_verdict,
        });
    }
    Ok(Fused {
        module: fused,
        segments,
    })
}

impl Fused {
    /// A single module as a chain of one: names unchanged (not qualified),
    /// so the backends compile a module and a chain through one path.
    pub fn single(module: &Module) -> Fused {
        Fused {
            module: module.clone(),
            segments: vec![Segment {
                module: module.name.clone(),
                tables: 0..module.tables.len(),
                actions: 0..module.actions.len(),
                default_verdict: module.default_verdict,
            }],
        }
    }

    /// Which segment a fused table belongs to, and its id in its own module.
    pub fn origin(&self, table: TableId) -> Option<(usize, TableId)> {
        let t = table.0 as usize;
        self.segments
            .iter()
            .position(|s| s.tables.contains(&t))
            .map(|i| (i, TableId((t - self.segments[i].tables.start) as u32)))
    }

    /// The fused id of table `local` of segment `segment`.
    pub fn table_id(&self, segment: usize, local: TableId) -> TableId {
        TableId((self.segments[segment].tables.start + local.0 as usize) as u32)
    }

    /// The fused table named `module.table`.
    pub fn table(&self, module: &str, table: &str) -> Option<&super::Table> {
        self.module.table_by_name(&format!("{module}.{table}"))
    }
}
