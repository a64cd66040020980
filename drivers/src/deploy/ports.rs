//! Port bindings: logical ports of the module ↔ interfaces of this host.
//!
//! `forward(port)` redirects through the `ports` map (logical port → ifindex);
//! a packet's `meta.in_port` comes from `in_ports` (ifindex → logical port).
//! Every port an action can send to must be bound before anything loads.

use offload_core::ir::{Module, Operand, ParamType, Primitive};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("--port {port}=…: module {module} has no port {port:?} (its ports: {known})")]
    UnknownPort {
        module: String,
        port: String,
        known: String,
    },
    #[error("--port {port}={iface}: no interface {iface} on this host")]
    NoInterface { port: String, iface: String },
    #[error(
        "port {port} is used by {user} but not bound to an interface; add `--port {port}=IFACE`"
    )]
    Unbound { port: String, user: String },
}

/// A resolved binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub name: String,
    pub id: u16,
    pub iface: String,
    pub ifindex: u32,
}

/// Resolves `bindings` (port name → interface) against the module and host.
pub fn resolve(
    module: &Module,
    bindings: &BTreeMap<String, String>,
) -> Result<Vec<Bound>, PortError> {
    let mut out = Vec::new();
    for (port, iface) in bindings {
        let Some(p) = module.port_by_name(port) else {
            return Err(PortError::UnknownPort {
                module: module.name.clone(),
                port: port.clone(),
                known: module
                    .ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let ifindex = crate::host::ifindex(iface);
        if ifindex == 0 {
            return Err(PortError::NoInterface {
                port: port.clone(),
                iface: iface.clone(),
            });
        }
        out.push(Bound {
            name: port.clone(),
            id: p.id.0,
            iface: iface.clone(),
            ifindex,
        });
    }
    Ok(out)
}

/// Ports the module can send packets to, each with who uses it: literal
/// `forward(P)` in actions, port arguments of entries and default actions.
pub fn used_ports(
    module: &Module,
    entries: &BTreeMap<String, Vec<offload_core::ir::Entry>>,
) -> BTreeMap<u16, String> {
    let mut used: BTreeMap<u16, String> = BTreeMap::new();
    for a in &module.actions {
        for p in &a.body {
            if let Primitive::Forward(Operand::Const(v)) = p {
                used.entry(*v as u16)
                    .or_insert_with(|| format!("action {}", a.name));
            }
        }
    }
    let mut note_call = |call: &offload_core::ir::ActionCall, user: String| {
        let a = module.action(call.action);
        let forwards_param: BTreeSet<usize> = a
            .body
            .iter()
            .filter_map(|p| match p {
                Primitive::Forward(Operand::Param(i)) => Some(*i),
                _ => None,
            })
            .collect();
        for (i, (param, v)) in a.params.iter().zip(&call.args).enumerate() {
            if param.ty == ParamType::Port && forwards_param.contains(&i) {
                used.entry(*v as u16).or_insert_with(|| user.clone());
            }
        }
    };
    for t in &module.tables {
        note_call(
            &t.default_action,
            format!("the default action of table {}", t.name),
        );
        if let Some(es) = entries.get(&t.name) {
            for (i, e) in es.iter().enumerate() {
                note_call(&e.action, format!("entry {i} of table {}", t.name));
            }
        }
    }
    used
}

/// Fails on the first used port that has no binding.
pub fn check_bound(
    module: &Module,
    bound: &[Bound],
    used: &BTreeMap<u16, String>,
) -> Result<(), PortError> {
    for (id, user) in used {
        if !bound.iter().any(|b| b.id == *id) {
            let port = module
                .port_by_id(offload_core::ir::PortId(*id))
                .map_or_else(|| id.to_string(), |p| p.name.clone());
            return Err(PortError::Unbound {
                port,
                user: user.clone(),
            });
        }
    }
    Ok(())
}
