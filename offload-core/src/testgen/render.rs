//! IR → module source, so a generated case is a file a person can rerun
//! (`offloadctl run`, `offloadctl compile`) and [`crate::spec::compile`]
//! can check it is valid. Uses the spec's own printers for values.

use crate::ir::{ActionCall, DefaultVerdict, Module};
use crate::spec::print;
use std::fmt::Write;

fn call(module: &Module, c: &ActionCall) -> String {
    let a = module.action(c.action);
    if a.params.is_empty() {
        return format!("\"{}\"", a.name);
    }
    let args: Vec<String> = a
        .params
        .iter()
        .zip(&c.args)
        .map(|(p, v)| format!("{} = \"{}\"", p.name, print::arg(module, p.ty, *v)))
        .collect();
    format!("{{ {} = {{ {} }} }}", a.name, args.join(", "))
}

/// The whole module, entries included, in the module language.
pub fn render(module: &Module) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "[module]\nname = \"{}\"", module.name);
    let _ = writeln!(
        s,
        "default = \"{}\"\n",
        match module.default_verdict {
            DefaultVerdict::Pass => "pass",
            DefaultVerdict::Drop => "drop",
        }
    );
    if !module.ports.is_empty() {
        let _ = writeln!(s, "[ports]");
        for p in &module.ports {
            let _ = writeln!(s, "{} = {}", p.name, p.id.0);
        }
        s.push('\n');
    }
    for t in &module.tables {
        let _ = writeln!(s, "[[table]]\nname = \"{}\"", t.name);
        let keys: Vec<String> = t.keys.iter().map(print::key).collect();
        let _ = writeln!(s, "keys = [{}]", keys.join(", "));
        let actions: Vec<String> = t
            .actions
            .iter()
            .map(|a| format!("\"{}\"", module.action(*a).name))
            .collect();
        let _ = writeln!(s, "actions = [{}]", actions.join(", "));
        let _ = writeln!(s, "default_action = {}", call(module, &t.default_action));
        let _ = writeln!(s, "size = {}\ncounters = {}", t.size, t.counters);
        if let Some(m) = &t.meter {
            let _ = writeln!(
                s,
                "meter = {{ unit = \"{}\", rate = {}, burst = {}, red = \"{}\" }}",
                m.unit.name(),
                m.default.rate,
                m.default.burst,
                m.red.name()
            );
        }
        s.push('\n');
    }
    for a in &module.actions {
        let _ = writeln!(s, "[action.{}]", a.name);
        if !a.params.is_empty() {
            let ps: Vec<String> = a
                .params
                .iter()
                .map(|p| format!("{} = \"{}\"", p.name, p.ty))
                .collect();
            let _ = writeln!(s, "params = {{ {} }}", ps.join(", "));
        }
        let prims: Vec<String> = a
            .body
            .iter()
            .map(|p| format!("\"{}\"", print::primitive(module, a, p)))
            .collect();
        let _ = writeln!(s, "do = [{}]\n", prims.join(", "));
    }
    for t in &module.tables {
        for e in &t.entries {
            let _ = writeln!(s, "[[entry.{}]]", t.name);
            let ms: Vec<String> = t
                .keys
                .iter()
                .zip(&e.matches)
                .map(|(k, m)| format!("\"{}\" = \"{}\"", k.field, print::key_match(k.field, m)))
                .collect();
            let _ = writeln!(s, "match = {{ {} }}", ms.join(", "));
            if let Some(p) = e.priority {
                let _ = writeln!(s, "priority = {p}");
            }
            if let Some(r) = e.meter {
                let _ = writeln!(s, "meter = {{ rate = {}, burst = {} }}", r.rate, r.burst);
            }
            let _ = writeln!(s, "action = {}\n", call(module, &e.action));
        }
    }
    s
}
