//! `offloadctl check FILE`: validates a module and prints what it contains and
//! what it needs from a target. Exit 0 when valid, 1 with diagnostics.
//! `offloadctl check A B …`: the modules as a service chain, in this order —
//! each module, then whether they can form a chain (ports), the fused
//! pipeline's tables by `module.table`, and what each target makes of it.

use super::{fuse_loaded, load_module, ChainRejected, Loaded};
use crate::render;
use offload_core::ir::{self, Module, Requirements};
use offload_core::spec::print;
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Options of `offloadctl check`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The module file (TOML); several files: a service chain, run in this order
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print a JSON document (module summary and requirements, or diagnostics) on stdout
    #[arg(long)]
    pub json: bool,
    /// Also list every entry given in the file
    #[arg(long)]
    pub entries: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if args.files.len() > 1 {
        return run_chain(args);
    }
    match load_module(&args.files[0])? {
        Ok(loaded) => {
            if args.json {
                let doc = serde_json::to_string_pretty(&summary_json(&loaded))?;
                write_stdout(&format!("{doc}\n"))?;
            } else {
                write_stdout(&summary_text(&loaded.module, args.entries))?;
            }
            Ok(0)
        }
        Err(rejected) => {
            if args.json {
                let doc = json!({
                    "ok": false,
                    "file": rejected.file,
                    "diagnostics": rejected.to_json(),
                });
                write_stdout(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
            } else {
                eprint!("{}", rejected.render(render::stderr_wants_color()));
                eprintln!(
                    "error: {} refused: {} error(s)",
                    rejected.file,
                    rejected.diagnostics.len()
                );
            }
            Ok(1)
        }
    }
}

fn report_rejected(rejected: &super::Rejected, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let doc = json!({
            "ok": false,
            "file": rejected.file,
            "diagnostics": rejected.to_json(),
        });
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        eprint!("{}", rejected.render(render::stderr_wants_color()));
        eprintln!(
            "error: {} refused: {} error(s)",
            rejected.file,
            rejected.diagnostics.len()
        );
    }
    Ok(())
}

/// `check` of several files: a service chain.
fn run_chain(args: &Args) -> anyhow::Result<i32> {
    let mut loaded = Vec::new();
    let mut refused = false;
    for f in &args.files {
        match load_module(f)? {
            Ok(l) => loaded.push(l),
            Err(r) => {
                report_rejected(&r, args.json)?;
                refused = true;
            }
        }
    }
    if refused {
        return Ok(1);
    }
    let fused = match fuse_loaded(&loaded) {
        Ok(f) => f,
        Err(ChainRejected(r)) => {
            report_rejected(&r, args.json)?;
            if !args.json {
                eprintln!("error: these modules cannot run as one chain");
            }
            return Ok(1);
        }
    };
    let targets = chain_targets(&fused);
    if args.json {
        let doc = json!({
            "ok": true,
            "chain": {
                "modules": loaded.iter().map(|l| json!({
                    "name": l.module.name,
                    "file": l.path.display().to_string(),
                    "tables": l.module.tables.iter().map(|t| format!("{}.{}", l.module.name, t.name)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "ports": fused.module.ports.iter().map(|p| json!({"name": p.name, "number": p.id.0})).collect::<Vec<_>>(),
                "targets": targets.iter().map(|(t, r)| json!({"target": t, "result": r})).collect::<Vec<_>>(),
            },
            "modules": loaded.iter().map(summary_json).collect::<Vec<_>>(),
        });
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(0);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "chain of {} modules on one placement (a pass goes on to the next module; drop, forward and tx end the chain):",
        loaded.len()
    );
    for (i, l) in loaded.iter().enumerate() {
        let _ = writeln!(
            o,
            "  {}. {} ({}), default {}",
            i + 1,
            l.module.name,
            l.path.display(),
            match l.module.default_verdict {
                ir::DefaultVerdict::Pass => "pass",
                ir::DefaultVerdict::Drop => "drop",
            }
        );
    }
    if fused.module.ports.is_empty() {
        let _ = writeln!(o, "ports: none");
    } else {
        let ps: Vec<String> = fused
            .module
            .ports
            .iter()
            .map(|p| format!("{} = {}", p.name, p.id.0))
            .collect();
        let _ = writeln!(o, "ports (shared by the chain): {}", ps.join(", "));
    }
    let _ = writeln!(
        o,
        "tables of the chain, in the order they run (control-plane names):"
    );
    for t in &fused.module.tables {
        let _ = writeln!(o, "  {}", t.name);
    }
    let _ = writeln!(
        o,
        "targets (one fused program / pipeline for the whole chain):"
    );
    for (t, r) in &targets {
        let _ = writeln!(o, "  {t}: {r}");
    }
    for l in &loaded {
        let _ = writeln!(o, "\n--- {} ---", l.path.display());
        o.push_str(&summary_text(&l.module, args.entries));
    }
    write_stdout(&o)?;
    Ok(0)
}

/// What each target makes of a fused chain: compiled (size) or why not.
fn chain_targets(fused: &ir::chain::Fused) -> Vec<(&'static str, String)> {
    use offload_ebpf::codegen::{compile_chain, Target};
    let mut v = Vec::new();
    for (name, target) in [("xdp", Target::xdp()), ("tc", Target::tc())] {
        v.push((
            name,
            match compile_chain(fused, &target) {
                Ok(c) => format!("one program, {} instructions", c.program.insns.len()),
                Err(e) => format!("refused: {e}"),
            },
        ));
    }
    for (name, arch) in [
        ("p4-v1model", offload_p4::Arch::V1model),
        ("p4-tna", offload_p4::Arch::Tna),
    ] {
        v.push((
            name,
            match offload_p4::compile_chain(fused, &offload_p4::Options::new(arch)) {
                Ok(out) => format!("one pipeline, {} lines of P4", out.source.lines().count()),
                Err(e) => format!("refused: {e}"),
            },
        ));
    }
    v
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn action_signature(a: &ir::Action) -> String {
    if a.params.is_empty() {
        return a.name.clone();
    }
    let ps: Vec<String> = a
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty))
        .collect();
    format!("{}({})", a.name, ps.join(", "))
}

/// The human summary `check` prints for a valid module.
pub fn summary_text(m: &Module, with_entries: bool) -> String {
    let mut o = String::new();
    let default = match m.default_verdict {
        ir::DefaultVerdict::Pass => "pass",
        ir::DefaultVerdict::Drop => "drop",
    };
    let _ = writeln!(o, "module {} (default verdict: {default})", m.name);
    if m.ports.is_empty() {
        let _ = writeln!(o, "ports: none");
    } else {
        let ps: Vec<String> = m
            .ports
            .iter()
            .map(|p| format!("{} = {}", p.name, p.id.0))
            .collect();
        let _ = writeln!(o, "ports: {}", ps.join(", "));
    }
    let _ = writeln!(o, "\ntables (run in this order):");
    for t in &m.tables {
        let _ = writeln!(
            o,
            "  {}. {}  size {}, {} entr{}, counters {}",
            t.id.0 + 1,
            t.name,
            t.size,
            t.entries.len(),
            if t.entries.len() == 1 { "y" } else { "ies" },
            if t.counters { "on" } else { "off" }
        );
        if t.keys.is_empty() {
            let _ = writeln!(o, "     keys: none (always runs its default action)");
        } else {
            let ks: Vec<String> = t
                .keys
                .iter()
                .map(|k| match &k.hash {
                    Some(h) => format!(
                        "hash of {} into {} buckets {} (crc32 & {})",
                        h.fields
                            .iter()
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(" "),
                        h.buckets,
                        k.kind,
                        h.buckets - 1
                    ),
                    None => format!("{} {} ({} bits)", k.field, k.kind, k.field.width()),
                })
                .collect();
            let _ = writeln!(o, "     keys: {}", ks.join(", "));
        }
        let acts: Vec<&str> = t
            .actions
            .iter()
            .map(|a| m.action(*a).name.as_str())
            .collect();
        let _ = writeln!(o, "     actions: {}", acts.join(", "));
        let _ = writeln!(o, "     default: {}", print::call(m, &t.default_action));
        if let Some(mt) = &t.meter {
            let _ = writeln!(
                o,
                "     meter: {} token bucket {}/s, burst {}, red {} (per entry; the default action is not metered)",
                mt.unit.name(),
                mt.default.rate,
                mt.default.burst,
                mt.red.name()
            );
        }
        if with_entries {
            for e in &t.entries {
                let ms: Vec<String> = t
                    .keys
                    .iter()
                    .zip(&e.matches)
                    .map(|(k, km)| format!("{}={}", k.field, print::key_match(k.field, km)))
                    .collect();
                let mut prio = e
                    .priority
                    .map(|p| format!(" priority {p}"))
                    .unwrap_or_default();
                if let Some(r) = e.meter {
                    prio.push_str(&format!(" meter {}/s burst {}", r.rate, r.burst));
                }
                let _ = writeln!(
                    o,
                    "       - {}{prio} -> {}",
                    ms.join(" "),
                    print::call(m, &e.action)
                );
            }
        }
    }
    let _ = writeln!(o, "\nactions:");
    for a in &m.actions {
        let body: Vec<String> = a.body.iter().map(|p| print::primitive(m, a, p)).collect();
        let body = if body.is_empty() {
            "(nothing; continue)".to_string()
        } else {
            body.join("; ")
        };
        let _ = writeln!(o, "  {}: {body}", action_signature(a));
    }
    o.push_str(&requirements_text(&m.requirements()));
    o
}

fn requirements_text(r: &Requirements) -> String {
    let mut o = String::new();
    let kinds: Vec<&str> = r.match_kinds.iter().map(|k| k.name()).collect();
    let headers: Vec<&str> = r.headers.iter().map(|h| h.name()).collect();
    let _ = writeln!(o, "\nrequirements:");
    let _ = writeln!(
        o,
        "  match kinds: {}",
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        }
    );
    let _ = writeln!(o, "  headers: {}", headers.join(", "));
    let _ = writeln!(o, "  max ternary masks per table: {}", r.max_ternary_masks);
    let _ = writeln!(
        o,
        "  verdicts: drop {}, pass {}, tx {}, redirect {}",
        yes(r.drop),
        yes(r.pass),
        yes(r.tx),
        yes(r.redirect)
    );
    let _ = writeln!(
        o,
        "  rewrite {}, ipv4 checksum {}, l4 checksum {}, dec_ttl {}, vlan push {}, vlan pop {}",
        yes(r.rewrite),
        yes(r.ipv4_checksum_rewrite),
        yes(r.l4_checksum_rewrite),
        yes(r.dec_ttl),
        yes(r.vlan_push),
        yes(r.vlan_pop)
    );
    let _ = writeln!(o, "  counters: {}", yes(r.counters));
    let _ = writeln!(o, "  total table size: {}", r.total_table_size);
    for t in &r.tables {
        let kinds: Vec<&str> = t.match_kinds.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            o,
            "  table {}: [{}] key {} B, params {} B, size {}, entries {}, ternary masks {}",
            t.name,
            kinds.join(", "),
            t.key_bytes,
            t.param_bytes,
            t.size,
            t.entries,
            t.ternary_masks
        );
        if t.hash_bytes > 0 {
            let _ = writeln!(o, "    hash key: CRC-32 over at most {} B", t.hash_bytes);
        }
    }
    o
}

/// The `--json` document for a valid module.
pub fn summary_json(l: &Loaded) -> serde_json::Value {
    let m = &l.module;
    let tables: Vec<serde_json::Value> = m
        .tables
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "keys": t.keys.iter().map(|k| match &k.hash {
                    Some(h) => json!({
                        "field": k.field.name(), "match": k.kind, "width": k.field.width(),
                        "hash": h.fields.iter().map(|f| f.name()).collect::<Vec<_>>(),
                        "buckets": h.buckets,
                    }),
                    None => json!({
                        "field": k.field.name(), "match": k.kind, "width": k.field.width(),
                    }),
                }).collect::<Vec<_>>(),
                "actions": t.actions.iter().map(|a| m.action(*a).name.clone()).collect::<Vec<_>>(),
                "default_action": print::call(m, &t.default_action),
                "size": t.size,
                "entries": t.entries.len(),
                "counters": t.counters,
            })
        })
        .collect();
    let actions: Vec<serde_json::Value> = m
        .actions
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "params": a.params.iter().map(|p| json!({"name": p.name, "type": p.ty.to_string()})).collect::<Vec<_>>(),
                "do": a.body.iter().map(|p| print::primitive(m, a, p)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "ok": true,
        "file": l.path.display().to_string(),
        "module": {
            "name": m.name,
            "default": m.default_verdict,
            "ports": m.ports.iter().map(|p| json!({"name": p.name, "number": p.id.0})).collect::<Vec<_>>(),
            "tables": tables,
            "actions": actions,
        },
        "requirements": m.requirements(),
    })
}
