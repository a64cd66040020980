//! Table entries as runtime commands: `simple_switch_CLI` lines and
//! P4Runtime-style JSON addressed by name.
//!
//! Formats (BMv2 docs/runtime_CLI.md): exact `v`; lpm `v/len`; ternary
//! `v&&&mask`; range `lo->hi`; 48-bit values as MACs, 32-bit addresses dotted,
//! IPv6 in RFC 5952 form. simple_switch_CLI picks the entry with the *smallest*
//! priority number, the module the highest, so the CLI priority is
//! `2147483647 - priority`. P4Runtime picks the highest, but 0 is not a valid
//! P4Runtime priority, so it gets `priority + 1`.

use crate::error::P4Error;
use crate::names::NamingMap;
use offload_core::ir::{
    ActionCall, Entry, FieldKind, KeyMatch, MatchKind, Module, ParamType, Table,
};
use std::fmt::Write;
use std::net::Ipv4Addr;

/// Largest module priority simple_switch_CLI can represent (BMv2 priorities are i32).
pub const CLI_MAX_PRIORITY: u32 = i32::MAX as u32;
/// Largest module priority P4Runtime can represent (`priority + 1` must fit i32).
pub const P4RUNTIME_MAX_PRIORITY: u32 = i32::MAX as u32 - 1;

/// The CLI priority of a module priority (smaller wins in simple_switch_CLI).
pub fn cli_priority(priority: u32) -> Option<i32> {
    (priority <= CLI_MAX_PRIORITY).then(|| (CLI_MAX_PRIORITY - priority) as i32)
}

/// The P4Runtime priority of a module priority (larger wins, must be ≥ 1).
pub fn p4runtime_priority(priority: u32) -> Option<i32> {
    (priority <= P4RUNTIME_MAX_PRIORITY).then(|| priority as i32 + 1)
}

/// A value of a field of this kind and width, as the CLI parses it.
pub fn format_value(kind: FieldKind, width: u32, v: u128) -> String {
    match (kind, width) {
        (FieldKind::Mac, 48) => {
            let b = v.to_be_bytes();
            b[10..16]
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        }
        (FieldKind::Ipv4, 32) => Ipv4Addr::from(v as u32).to_string(),
        // In hex, not `2001:db8::1`: BMv2 1.15's runtime_CLI parses IPv6 text
        // with the Python 2 era `ipaddr` package, which current Python
        // installs lack (the CLI then dies with ModuleNotFoundError);
        // numbers it parses itself.
        (FieldKind::Ipv6, 128) => format!("0x{v:032x}"),
        _ => v.to_string(),
    }
}

/// A mask: addresses like values, integers in hex (bit patterns read better).
fn format_mask(kind: FieldKind, width: u32, m: u128) -> String {
    match kind {
        FieldKind::Mac | FieldKind::Ipv4 | FieldKind::Ipv6 => format_value(kind, width, m),
        _ => format!("0x{m:x}"),
    }
}

/// One key of an entry in simple_switch_CLI syntax. Every key is written,
/// wildcards included (`0&&&0`, `0.0.0.0/0`, `0->65535`).
pub fn format_key_cli(kind: FieldKind, width: u32, m: &KeyMatch) -> String {
    match *m {
        KeyMatch::Exact(v) => format_value(kind, width, v),
        KeyMatch::Lpm { value, prefix_len } => {
            format!("{}/{prefix_len}", format_value(kind, width, value))
        }
        KeyMatch::Ternary { value, mask } => {
            if kind == FieldKind::Int || kind == FieldKind::Port {
                format!("0x{value:x}&&&{}", format_mask(kind, width, mask))
            } else {
                format!(
                    "{}&&&{}",
                    format_value(kind, width, value),
                    format_mask(kind, width, mask)
                )
            }
        }
        KeyMatch::Range { lo, hi } => format!("{lo}->{hi}"),
    }
}

fn switch_port(naming: &NamingMap, logical: u128) -> u128 {
    naming
        .ports
        .iter()
        .find(|p| u128::from(p.id) == logical)
        .map(|p| u128::from(p.switch_port))
        .unwrap_or(logical)
}

/// Action arguments as the runtime wants them: ports become switch ports.
fn args(
    module: &Module,
    naming: &NamingMap,
    call: &ActionCall,
    what: &str,
) -> Result<Vec<(String, ParamType, u128)>, P4Error> {
    let action =
        module
            .actions
            .get(call.action.0 as usize)
            .ok_or_else(|| P4Error::BrokenModule {
                what: format!("{what} calls action #{}", call.action.0),
            })?;
    let mut out = Vec::new();
    for (p, v) in action.params.iter().zip(&call.args) {
        let v = if p.ty == ParamType::Port {
            let sp = switch_port(naming, *v);
            u128::from(naming.arch.check_port(naming.cpu_port, sp, || {
                format!("{what}: argument `{}`", p.name)
            })?)
        } else {
            *v
        };
        out.push((p.name.clone(), p.ty, v));
    }
    Ok(out)
}

fn format_arg(ty: ParamType, v: u128) -> String {
    match ty {
        ParamType::Mac => format_value(FieldKind::Mac, 48, v),
        ParamType::Ipv4 => format_value(FieldKind::Ipv4, 32, v),
        ParamType::Ipv6 => format_value(FieldKind::Ipv6, 128, v),
        _ => v.to_string(),
    }
}

fn table_names<'n>(
    naming: &'n NamingMap,
    table: &Table,
) -> Result<&'n crate::names::TableName, P4Error> {
    naming
        .table(&table.name)
        .ok_or_else(|| P4Error::BrokenModule {
            what: format!("table {} has no P4 name", table.name),
        })
}

fn action_runtime(
    naming: &NamingMap,
    module: &Module,
    table: &Table,
    call: &ActionCall,
) -> Result<String, P4Error> {
    let tn = table_names(naming, table)?;
    let an = &module
        .actions
        .get(call.action.0 as usize)
        .ok_or_else(|| P4Error::BrokenModule {
            what: format!("table {} calls action #{}", table.name, call.action.0),
        })?
        .name;
    tn.actions
        .iter()
        .find(|a| &a.module == an)
        .map(|a| a.runtime.clone())
        .ok_or_else(|| P4Error::BrokenModule {
            what: format!("action {an} is not an action of table {}", table.name),
        })
}

/// `table_add <table> <action> <keys> => <args> [priority]` for one entry.
pub fn table_add(
    module: &Module,
    naming: &NamingMap,
    table: &Table,
    index: usize,
    entry: &Entry,
) -> Result<String, P4Error> {
    let tn = table_names(naming, table)?;
    let action = action_runtime(naming, module, table, &entry.action)?;
    let mut s = format!("table_add {} {action}", tn.runtime);
    for (k, m) in table.keys.iter().zip(&entry.matches) {
        let _ = write!(s, " {}", format_key_cli(k.field.kind(), k.field.width(), m));
    }
    s.push_str(" =>");
    for (_, ty, v) in args(
        module,
        naming,
        &entry.action,
        &format!("table `{}` entry {index}", table.name),
    )? {
        let _ = write!(s, " {}", format_arg(ty, v));
    }
    if table.needs_priority() {
        let p = entry.priority.unwrap_or(0);
        let cli = cli_priority(p).ok_or(P4Error::PriorityOutOfRange {
            table: table.name.clone(),
            entry: index,
            priority: p,
            api: "simple_switch_CLI",
            max: CLI_MAX_PRIORITY,
        })?;
        let _ = write!(s, " {cli}");
    }
    Ok(s)
}

/// `table_set_default <table> <action> <args>`.
pub fn table_set_default(
    module: &Module,
    naming: &NamingMap,
    table: &Table,
) -> Result<String, P4Error> {
    let tn = table_names(naming, table)?;
    let action = action_runtime(naming, module, table, &table.default_action)?;
    let mut s = format!("table_set_default {} {action}", tn.runtime);
    for (_, ty, v) in args(
        module,
        naming,
        &table.default_action,
        &format!("default action of table `{}`", table.name),
    )? {
        let _ = write!(s, " {}", format_arg(ty, v));
    }
    Ok(s)
}

/// Every table's default action and entries, as a simple_switch_CLI script.
pub fn cli_script(module: &Module, naming: &NamingMap) -> Result<String, P4Error> {
    // No comments: simple_switch_CLI would try to run them as commands.
    let mut out = String::new();
    for t in &module.tables {
        out.push_str(&table_set_default(module, naming, t)?);
        out.push('\n');
        for (i, e) in t.entries.iter().enumerate() {
            out.push_str(&table_add(module, naming, t, i, e)?);
            out.push('\n');
        }
    }
    Ok(out)
}

fn hex_bytes(width: u32, v: u128) -> String {
    let n = width.div_ceil(8) as usize;
    let b = v.to_be_bytes();
    let mut s = String::from("0x");
    for x in &b[16 - n..] {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn match_json(kind: MatchKind, width: u32, m: &KeyMatch) -> Option<serde_json::Value> {
    use serde_json::json;
    match *m {
        KeyMatch::Exact(v) => Some(json!({ "exact": { "value": hex_bytes(width, v) } })),
        // P4Runtime leaves wildcards out of the match list.
        KeyMatch::Lpm { prefix_len: 0, .. } => None,
        KeyMatch::Lpm { value, prefix_len } => {
            Some(json!({ "lpm": { "value": hex_bytes(width, value), "prefix_len": prefix_len } }))
        }
        KeyMatch::Ternary { mask: 0, .. } => None,
        KeyMatch::Ternary { value, mask } => Some(
            json!({ "ternary": { "value": hex_bytes(width, value), "mask": hex_bytes(width, mask) } }),
        ),
        KeyMatch::Range { lo, hi }
            if kind == MatchKind::Range
                && lo == 0
                && hi == offload_core::ir::mask_of_width(width) =>
        {
            None
        }
        KeyMatch::Range { lo, hi } => {
            Some(json!({ "range": { "low": hex_bytes(width, lo), "high": hex_bytes(width, hi) } }))
        }
    }
}

fn action_json(
    module: &Module,
    naming: &NamingMap,
    table: &Table,
    call: &ActionCall,
    what: &str,
) -> Result<serde_json::Value, P4Error> {
    let name = action_runtime(naming, module, table, call)?;
    let action = module.action(call.action);
    let params: Vec<serde_json::Value> = args(module, naming, call, what)?
        .into_iter()
        .zip(&action.params)
        .map(|((pname, ty, v), p)| {
            let width = match ty {
                ParamType::Port => naming.arch.port_width(),
                t => t.width(),
            };
            let _ = p;
            serde_json::json!({ "name": crate::names::ident(&pname), "value": hex_bytes(width, v) })
        })
        .collect();
    Ok(serde_json::json!({ "action": name, "params": params }))
}

/// Every table's default action and entries as P4Runtime-style JSON, by name.
/// Values are big-endian byte strings in hex, as wide as the field.
pub fn p4runtime_json(module: &Module, naming: &NamingMap) -> Result<String, P4Error> {
    use serde_json::json;
    let mut defaults = Vec::new();
    let mut entries = Vec::new();
    for t in &module.tables {
        let tn = table_names(naming, t)?;
        defaults.push(json!({
            "table": tn.runtime,
            "is_default_action": true,
            "action": action_json(module, naming, t, &t.default_action, &format!("default action of `{}`", t.name))?,
        }));
        for (i, e) in t.entries.iter().enumerate() {
            let mut m = Vec::new();
            for ((k, km), kn) in t.keys.iter().zip(&e.matches).zip(&tn.keys) {
                if let Some(mut v) = match_json(k.kind, k.field.width(), km) {
                    v["field"] = json!(kn.p4);
                    m.push(v);
                }
            }
            let mut entry = json!({
                "table": tn.runtime,
                "match": m,
                "action": action_json(module, naming, t, &e.action, &format!("table `{}` entry {i}", t.name))?,
            });
            if t.needs_priority() {
                let p = e.priority.unwrap_or(0);
                let rt = p4runtime_priority(p).ok_or(P4Error::PriorityOutOfRange {
                    table: t.name.clone(),
                    entry: i,
                    priority: p,
                    api: "P4Runtime",
                    max: P4RUNTIME_MAX_PRIORITY,
                })?;
                entry["priority"] = json!(rt);
            }
            entries.push(entry);
        }
    }
    let doc = json!({
        "module": module.name,
        "arch": naming.arch.name(),
        "default_entries": defaults,
        "table_entries": entries,
    });
    Ok(serde_json::to_string_pretty(&doc).expect("json serialises") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use FieldKind::*;

    const V6: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;

    #[test]
    fn exact_values_in_each_notation() {
        assert_eq!(
            format_key_cli(Mac, 48, &KeyMatch::Exact(0x0200_0000_0102)),
            "02:00:00:00:01:02"
        );
        assert_eq!(
            format_key_cli(Ipv4, 32, &KeyMatch::Exact(0xc000_0201)),
            "192.0.2.1"
        );
        assert_eq!(
            format_key_cli(Ipv6, 128, &KeyMatch::Exact(V6)),
            "0x20010db8000000000000000000000001"
        );
        assert_eq!(
            format_key_cli(Ipv6, 128, &KeyMatch::Exact(0)),
            "0x00000000000000000000000000000000"
        );
        assert_eq!(format_key_cli(Int, 16, &KeyMatch::Exact(443)), "443");
        assert_eq!(format_key_cli(Port, 16, &KeyMatch::Exact(3)), "3");
    }

    #[test]
    fn lpm_prefixes_including_zero_and_full_length() {
        let m = |value, prefix_len| KeyMatch::Lpm { value, prefix_len };
        assert_eq!(format_key_cli(Ipv4, 32, &m(0x0a00_0000, 8)), "10.0.0.0/8");
        assert_eq!(format_key_cli(Ipv4, 32, &m(0, 0)), "0.0.0.0/0");
        assert_eq!(
            format_key_cli(Ipv4, 32, &m(0xc633_6407, 32)),
            "198.51.100.7/32"
        );
        assert_eq!(
            format_key_cli(Ipv6, 128, &m(0x2001_0db8u128 << 96, 32)),
            "0x20010db8000000000000000000000000/32"
        );
        assert_eq!(
            format_key_cli(Ipv6, 128, &m(V6, 128)),
            "0x20010db8000000000000000000000001/128"
        );
    }

    #[test]
    fn ternary_values_and_masks() {
        let m = |value, mask| KeyMatch::Ternary { value, mask };
        assert_eq!(
            format_key_cli(Ipv4, 32, &m(0xc000_0200, 0xffff_ff00)),
            "192.0.2.0&&&255.255.255.0"
        );
        assert_eq!(format_key_cli(Ipv4, 32, &m(0, 0)), "0.0.0.0&&&0.0.0.0");
        assert_eq!(
            format_key_cli(Mac, 48, &m(0x0100_5e00_0000, 0xffff_ff80_0000)),
            "01:00:5e:00:00:00&&&ff:ff:ff:80:00:00"
        );
        assert_eq!(
            format_key_cli(Ipv6, 128, &m(0xfe80u128 << 112, 0xffc0u128 << 112)),
            "0xfe800000000000000000000000000000&&&0xffc00000000000000000000000000000"
        );
        assert_eq!(format_key_cli(Int, 8, &m(0x02, 0x12)), "0x2&&&0x12");
        assert_eq!(format_key_cli(Int, 8, &m(0, 0)), "0x0&&&0x0");
    }

    #[test]
    fn ranges_including_single_values_and_the_full_range() {
        let m = |lo, hi| KeyMatch::Range { lo, hi };
        assert_eq!(format_key_cli(Int, 16, &m(22, 22)), "22->22");
        assert_eq!(format_key_cli(Int, 16, &m(0, 65535)), "0->65535");
        assert_eq!(format_key_cli(Int, 16, &m(137, 139)), "137->139");
        assert_eq!(format_key_cli(Int, 8, &m(0, 0)), "0->0");
    }

    #[test]
    fn priorities_are_inverted_for_the_cli_and_shifted_for_p4runtime() {
        assert_eq!(cli_priority(0), Some(i32::MAX));
        assert_eq!(cli_priority(1), Some(i32::MAX - 1));
        assert_eq!(cli_priority(i32::MAX as u32), Some(0));
        assert_eq!(cli_priority(i32::MAX as u32 + 1), None);
        assert_eq!(cli_priority(u32::MAX), None);
        // Higher module priority → smaller CLI number (wins there).
        assert!(cli_priority(20).unwrap() < cli_priority(10).unwrap());
        assert_eq!(p4runtime_priority(0), Some(1));
        assert_eq!(p4runtime_priority(i32::MAX as u32 - 1), Some(i32::MAX));
        assert_eq!(p4runtime_priority(i32::MAX as u32), None);
    }

    #[test]
    fn p4runtime_bytes_and_wildcards() {
        assert_eq!(hex_bytes(12, 10), "0x000a");
        assert_eq!(hex_bytes(48, 0x0200_0000_0001), "0x020000000001");
        assert_eq!(hex_bytes(128, V6), "0x20010db8000000000000000000000001");
        assert_eq!(
            match_json(
                MatchKind::Ternary,
                32,
                &KeyMatch::Ternary { value: 0, mask: 0 }
            ),
            None
        );
        assert_eq!(
            match_json(
                MatchKind::Lpm,
                32,
                &KeyMatch::Lpm {
                    value: 0,
                    prefix_len: 0
                }
            ),
            None
        );
        assert_eq!(
            match_json(MatchKind::Range, 16, &KeyMatch::Range { lo: 0, hi: 65535 }),
            None
        );
        assert!(match_json(MatchKind::Range, 16, &KeyMatch::Range { lo: 0, hi: 65534 }).is_some());
        let v = match_json(
            MatchKind::Lpm,
            128,
            &KeyMatch::Lpm {
                value: V6,
                prefix_len: 128,
            },
        )
        .unwrap();
        assert_eq!(v["lpm"]["prefix_len"], 128);
        assert_eq!(v["lpm"]["value"], "0x20010db8000000000000000000000001");
    }
}
