//! offload-p4: the P4_16 backend. Pure and deterministic: a module (IR) and
//! options in, P4 source, a naming map and entry scripts out; no files, no
//! clock, no environment.
//!
//! Layout (p4c style): [`lower`](crate::lower) turns the IR into a small P4
//! syntax tree ([`ast`]), [`print`] is the only place that writes P4 text,
//! [`arch`] holds what differs between v1model and TNA, [`entries`] writes
//! runtime commands, [`names`] the naming map, [`sanity`] a syntax check that
//! needs no compiler.

//!
//! ```
//! let module = offload_core::spec::compile(
//!     r#"
//! [module]
//! name = "tiny"
//! [ports]
//! out = 2
//! [[table]]
//! name = "fwd"
//! keys = [{ field = "eth.dst", match = "exact" }]
//! actions = ["send", "to_host"]
//! default_action = "to_host"
//! [action.send]
//! do = ["forward(out)"]
//! [action.to_host]
//! do = ["pass"]
//! [[entry.fwd]]
//! match = { "eth.dst" = "02:00:00:00:00:02" }
//! action = "send"
//! "#,
//! )
//! .unwrap();
//! let out = offload_p4::compile(&module, &offload_p4::Options::new(offload_p4::Arch::V1model)).unwrap();
//! assert!(out.source.contains("table fwd {"));
//! assert_eq!(
//!     out.cli,
//!     "table_set_default IngressImpl.fwd IngressImpl.to_host\n\
//!      table_add IngressImpl.fwd IngressImpl.send 02:00:00:00:00:02 =>\n"
//! );
//! offload_p4::sanity::check(&out.source, offload_p4::Arch::V1model).unwrap();
//! ```

pub mod arch;
pub mod ast;
pub mod entries;
mod error;
mod lower;
pub mod names;
pub mod print;
pub mod sanity;

pub use arch::Arch;
pub use error::P4Error;
pub use names::NamingMap;

use offload_core::ir::chain::Fused;
use offload_core::ir::Module;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub arch: Arch,
    /// Switch port for `pass`; `None` = the architecture's default
    /// ([`Arch::default_cpu_port`]).
    pub cpu_port: Option<u16>,
    /// Logical port id → switch port number; ports not listed map to the
    /// same number (identity).
    pub port_map: BTreeMap<u16, u16>,
}

impl Options {
    pub fn new(arch: Arch) -> Options {
        Options {
            arch,
            cpu_port: None,
            port_map: BTreeMap::new(),
        }
    }
}

/// Everything generated for one module and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The `.p4` program.
    pub source: String,
    pub names: NamingMap,
    /// The module's default actions and entries as simple_switch_CLI commands.
    pub cli: String,
    /// The same as P4Runtime-style JSON, by name.
    pub p4runtime: String,
}

/// The P4 program as a syntax tree (what [`compile`] prints), with its naming
/// map: for tools that inspect or interpret the program.
pub fn program(module: &Module, options: &Options) -> Result<(ast::Program, NamingMap), P4Error> {
    lower::lower(module, options)
}

/// [`program`] for a fused service chain (`offload_core::ir::chain`): one
/// pipeline for the whole chain.
pub fn program_chain(
    fused: &Fused,
    options: &Options,
) -> Result<(ast::Program, NamingMap), P4Error> {
    lower::lower_segments(&fused.module, fused.segments.clone(), options)
}

/// Generates ONE P4 pipeline for a fused service chain: the modules' tables
/// in chain order, named `module_table` (the naming map keeps the
/// `module.table` names for the control plane). After each module but the
/// last, its default verdict applies and a `pass` becomes "continue" for the
/// next module. One parse serves the whole chain, and switch counters count
/// the length at ingress, so two chains are refused with a named reason
/// ([`P4Error::ChainReparse`], [`P4Error::ChainCounterBytes`]): a module
/// that pops a VLAN tag followed by another module, and a module that pushes
/// or pops followed by a module with counters. Every other chain means on
/// the switch what `semantics::run_chain` says.
pub fn compile_chain(fused: &Fused, options: &Options) -> Result<Output, P4Error> {
    let (program, names) = program_chain(fused, options)?;
    let module = &fused.module;
    let source = print::print(&program);
    let cli = entries::cli_script(module, &names)?;
    let p4runtime = entries::p4runtime_json(module, &names)?;
    Ok(Output {
        source,
        names,
        cli,
        p4runtime,
    })
}

/// Generates the P4 program, naming map and entries for `module`.
pub fn compile(module: &Module, options: &Options) -> Result<Output, P4Error> {
    let (program, names) = lower::lower(module, options)?;
    let source = print::print(&program);
    let cli = entries::cli_script(module, &names)?;
    let p4runtime = entries::p4runtime_json(module, &names)?;
    Ok(Output {
        source,
        names,
        cli,
        p4runtime,
    })
}
