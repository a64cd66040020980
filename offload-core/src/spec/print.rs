//! IR → module-language text, for summaries (`offloadctl check`) and messages.
//! What is printed parses back to the same IR.

use super::literal::{format_value, LitType};
use crate::ir::{Action, ActionCall, Field, KeyMatch, Module, Operand, ParamType, Primitive};

fn operand(action: &Action, op: Operand, ty: LitType, module: &Module) -> String {
    match op {
        Operand::Param(i) => action
            .params
            .get(i)
            .map_or_else(|| format!("#{i}"), |p| p.name.clone()),
        Operand::Const(v) if ty == LitType::Port => u16::try_from(v)
            .ok()
            .and_then(|n| module.port_by_id(crate::ir::PortId(n)))
            .map_or_else(|| v.to_string(), |p| p.name.clone()),
        Operand::Const(v) => format_value(v, ty),
    }
}

/// One primitive as written in `do`, e.g. `set(eth.dst, dmac)`.
pub fn primitive(module: &Module, action: &Action, p: &Primitive) -> String {
    match p {
        Primitive::Drop => "drop".into(),
        Primitive::Pass => "pass".into(),
        Primitive::Tx => "tx".into(),
        Primitive::DecTtl => "dec_ttl".into(),
        Primitive::PopVlan => "pop_vlan".into(),
        Primitive::VxlanDecap => "vxlan_decap".into(),
        Primitive::VxlanEncap(e) => {
            let op = |o: Operand, f: Field| operand(action, o, LitType::of_field(f), module);
            format!(
                "vxlan_encap({}, {}, {}, {}, {})",
                op(e.dmac, Field::EthDst),
                op(e.smac, Field::EthSrc),
                op(e.src, Field::Ipv4Src),
                op(e.dst, Field::Ipv4Dst),
                op(e.vni, Field::VxlanVni)
            )
        }
        Primitive::Forward(op) => {
            format!("forward({})", operand(action, *op, LitType::Port, module))
        }
        Primitive::Set { field, value } => format!(
            "set({}, {})",
            field.name(),
            operand(action, *value, LitType::of_field(*field), module)
        ),
        Primitive::Copy { field, from } => format!("set({}, {})", field.name(), from.name()),
        Primitive::PushVlan(op) => {
            format!(
                "push_vlan({})",
                operand(action, *op, LitType::of_field(Field::VlanVid), module)
            )
        }
    }
}

/// A value of a parameter type, as an entry would write it.
pub fn arg(module: &Module, ty: ParamType, v: u128) -> String {
    match ty {
        ParamType::Port => u16::try_from(v)
            .ok()
            .and_then(|n| module.port_by_id(crate::ir::PortId(n)))
            .map_or_else(|| v.to_string(), |p| p.name.clone()),
        other => format_value(v, LitType::of_param(other)),
    }
}

/// `name` or `name { p = v, ... }`.
pub fn call(module: &Module, c: &ActionCall) -> String {
    let a = module.action(c.action);
    if a.params.is_empty() {
        return a.name.clone();
    }
    let args: Vec<String> = a
        .params
        .iter()
        .zip(&c.args)
        .map(|(p, v)| format!("{} = {}", p.name, arg(module, p.ty, *v)))
        .collect();
    format!("{} {{ {} }}", a.name, args.join(", "))
}

/// A key as written in `keys`: `{ field = "ipv4.dst", match = "lpm" }`, or
/// `{ hash = ["ipv4.src", "ipv4.dst"], buckets = 16, match = "exact" }`.
pub fn key(k: &crate::ir::Key) -> String {
    match &k.hash {
        Some(h) => format!(
            "{{ hash = [{}], buckets = {}, match = \"{}\" }}",
            h.fields
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(", "),
            h.buckets,
            k.kind
        ),
        None => format!("{{ field = \"{}\", match = \"{}\" }}", k.field, k.kind),
    }
}

/// A key match in entry syntax, e.g. `10.0.0.0/8`, `0x10 &&& 0xf0`, `1024..2047`, `*`.
pub fn key_match(field: Field, m: &KeyMatch) -> String {
    let ty = LitType::of_field(field);
    let width = field.width();
    match *m {
        KeyMatch::Exact(v) => format_value(v, ty),
        KeyMatch::Lpm { prefix_len: 0, .. } | KeyMatch::Ternary { mask: 0, .. } => "*".into(),
        KeyMatch::Lpm { value, prefix_len } => format!("{}/{prefix_len}", format_value(value, ty)),
        KeyMatch::Ternary { value, mask } if mask == field.max_value() => format_value(value, ty),
        // Address masks that are prefixes read better as CIDR.
        KeyMatch::Ternary { value, mask }
            if matches!(ty, LitType::Ipv4 | LitType::Ipv6)
                && mask == crate::ir::prefix_mask(width, mask.count_ones()) =>
        {
            format!("{}/{}", format_value(value, ty), mask.count_ones())
        }
        KeyMatch::Ternary { value, mask } => {
            format!("{} &&& {}", format_value(value, ty), format_value(mask, ty))
        }
        KeyMatch::Range { lo: 0, hi } if hi == crate::ir::mask_of_width(width) => "*".into(),
        KeyMatch::Range { lo, hi } if lo == hi => format_value(lo, ty),
        KeyMatch::Range { lo, hi } => format!("{}..{}", format_value(lo, ty), format_value(hi, ty)),
    }
}
