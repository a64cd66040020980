//! `offloadctl run FILE --in-port N (--hex BYTES | --pcap FILE)`: runs the
//! reference interpreter (`offload_core::semantics`) on packets and shows what
//! the module does to each: tables hit/missed/skipped, rewrites (old → new),
//! verdict and egress port, counters. `--json` gives one document for scripts.
//! With several module files it runs them as a service chain
//! (`semantics::run_chain`): each module's part in turn, then the chain's
//! verdict and output.

use super::{load_chain_or_report, load_module_or_report};
use crate::frames::{parse_hex, read_capture, resolve_port, Input};
use anyhow::Context as _;
use offload_core::ir::{Field, FieldKind, Module, PortId};
use offload_core::semantics::{self, CounterSlot, Effect, Event, Step, Trace, Verdict};
use offload_core::spec::literal::{format_value, LitType};
use offload_core::spec::print;
use offload_core::{diag, ir};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Options of `offloadctl run`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["hex", "pcap"])))]
pub struct Args {
    /// The module file (TOML); several files: a service chain, run in this order
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Ingress logical port: a name from `[ports]` or a number
    #[arg(long, value_name = "PORT")]
    pub in_port: String,
    /// A frame as hex, starting at the Ethernet header (spaces, `:`, `-`, `_` and
    /// a `0x` prefix are ignored); repeat for several frames
    #[arg(long, value_name = "BYTES")]
    pub hex: Vec<String>,
    /// A pcap or pcapng capture with Ethernet frames
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if args.files.len() > 1 {
        return run_chain(args);
    }
    let loaded = match load_module_or_report(&args.files[0])? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let m = &loaded.module;
    let in_port = resolve_port(m, &args.in_port)?;
    let inputs = read_inputs(args)?;
    tracing::debug!(
        packets = inputs.len(),
        in_port = in_port.0,
        "running the reference interpreter"
    );

    let mut out = std::io::stdout().lock();
    match report(m, &loaded, in_port, &inputs, args.json, &mut out) {
        Ok(()) => Ok(0),
        // A closed pipe (`offloadctl run ... | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

/// `run` of several files: the chain, module by module.
fn run_chain(args: &Args) -> anyhow::Result<i32> {
    let (loaded, fused) = match load_chain_or_report(&args.files)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let in_port = resolve_port(&fused.module, &args.in_port)?;
    let inputs = read_inputs(args)?;
    let modules: Vec<Module> = loaded.iter().map(|l| l.module.clone()).collect();
    let mut out = std::io::stdout().lock();
    match report_chain(
        &loaded,
        &modules,
        &fused.module,
        in_port,
        &inputs,
        args.json,
        &mut out,
    ) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

fn report_chain(
    loaded: &[super::Loaded],
    modules: &[Module],
    fused: &Module,
    in_port: PortId,
    inputs: &[Input],
    as_json: bool,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    // Totals per (module, table, slot).
    let mut totals: BTreeMap<(usize, ir::TableId, CounterSlot), (u64, u64)> = BTreeMap::new();
    let mut docs = Vec::new();
    for (n, input) in inputs.iter().enumerate() {
        let traces = semantics::run_chain_traced(modules, in_port, &input.bytes);
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut at = input.bytes.clone();
        for (k, t) in traces.iter().enumerate() {
            // Shown with the chain's ports (a module without ports shares them).
            let mut shown = modules[k].clone();
            shown.ports = fused.ports.clone();
            let (m, l) = (&shown, &loaded[k]);
            for c in &t.outcome.counters {
                let e = totals.entry((k, c.table, c.slot)).or_default();
                e.0 += 1;
                e.1 += c.bytes;
            }
            let here = Input {
                origin: format!("{} module {} `{}`", input.origin, k + 1, m.name),
                bytes: at.clone(),
                orig_len: None,
                iface: None,
            };
            if as_json {
                let mut doc = packet_json(m, &l.source, in_port, &here, t);
                doc["module"] = json!(m.name);
                parts.push(doc);
            } else {
                let goes_on = t.outcome.verdict == Verdict::Pass && k + 1 < modules.len();
                for line in packet_text(m, &l.source, in_port, &here, t).lines() {
                    if goes_on && line.starts_with("  verdict: pass") {
                        let _ = writeln!(text, "    verdict: pass -> on to module {}", k + 2);
                    } else {
                        let _ = writeln!(text, "  {line}");
                    }
                }
            }
            at = t.outcome.packet.clone();
        }
        let last = traces.last().map(|t| &t.outcome);
        let verdict = last.map_or(Verdict::Pass, |o| o.verdict);
        let (v, egress) = verdict_text(fused, verdict);
        if as_json {
            docs.push(json!({
                "origin": input.origin,
                "length": input.bytes.len(),
                "modules_run": traces.len(),
                "verdict": verdict_name(verdict),
                "egress_port": egress.map(|p| port_json(fused, p)),
                "changed": at != input.bytes,
                "output": hex(&at),
                "modules": parts,
            }));
        } else {
            if n > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "{}: {} bytes, in on {}, through a chain of {} modules",
                input.origin,
                input.bytes.len(),
                port_label(fused, in_port),
                modules.len()
            )?;
            write!(out, "{text}")?;
            writeln!(
                out,
                "  chain verdict: {v} (after {} of {} modules)",
                traces.len(),
                modules.len()
            )?;
            if at == input.bytes {
                writeln!(out, "  chain output: unchanged ({} bytes)", at.len())?;
            } else {
                writeln!(out, "  chain output: {} bytes: {}", at.len(), hex(&at))?;
            }
        }
    }
    let name = |(k, t, _): &(usize, ir::TableId, CounterSlot)| {
        format!("{}.{}", modules[*k].name, modules[*k].table(*t).name)
    };
    if as_json {
        let counters: Vec<Value> = totals
            .iter()
            .map(|(key, (p, b))| {
                json!({"table": name(key), "slot": slot_name(key.2), "packets": p, "bytes": b})
            })
            .collect();
        let doc = json!({
            "chain": modules.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
            "files": loaded.iter().map(|l| l.path.display().to_string()).collect::<Vec<_>>(),
            "in_port": port_json(fused, in_port),
            "packets": docs,
            "counters": counters,
        });
        writeln!(out, "{doc:#}")?;
    } else if inputs.len() > 1 && !totals.is_empty() {
        writeln!(out, "\ncounters after {} packets:", inputs.len())?;
        for (key, (p, b)) in &totals {
            writeln!(
                out,
                "  {} {}: {p} packets, {b} bytes",
                name(key),
                slot_name(key.2)
            )?;
        }
    }
    out.flush()
}

/// The frames of `--hex` or `--pcap`.
fn read_inputs(args: &Args) -> anyhow::Result<Vec<Input>> {
    Ok(if let Some(path) = &args.pcap {
        read_capture(path)?
    } else {
        args.hex
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let bytes = parse_hex(h).with_context(|| format!("--hex #{}", i + 1))?;
                Ok(Input {
                    origin: format!("hex #{}", i + 1),
                    bytes,
                    orig_len: None,
                    iface: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    })
}

/// Runs every input and writes the per-packet report and the counter totals.
fn report(
    m: &Module,
    loaded: &super::Loaded,
    in_port: PortId,
    inputs: &[Input],
    as_json: bool,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let mut totals: BTreeMap<(ir::TableId, CounterSlot), (u64, u64)> = BTreeMap::new();
    let mut docs = Vec::new();
    for (n, input) in inputs.iter().enumerate() {
        let trace = semantics::run_traced(m, in_port, &input.bytes);
        for c in &trace.outcome.counters {
            let t = totals.entry((c.table, c.slot)).or_default();
            t.0 += 1;
            t.1 += c.bytes;
        }
        if as_json {
            docs.push(packet_json(m, &loaded.source, in_port, input, &trace));
        } else {
            if n > 0 {
                writeln!(out)?;
            }
            write!(
                out,
                "{}",
                packet_text(m, &loaded.source, in_port, input, &trace)
            )?;
        }
    }

    if as_json {
        let counters: Vec<Value> = totals
            .iter()
            .map(|((t, slot), (p, b))| {
                json!({"table": m.table(*t).name, "slot": slot_name(*slot), "packets": p, "bytes": b})
            })
            .collect();
        let doc = json!({
            "module": m.name,
            "file": loaded.path.display().to_string(),
            "in_port": port_json(m, in_port),
            "packets": docs,
            "counters": counters,
        });
        writeln!(out, "{doc:#}")?;
    } else if inputs.len() > 1 && !totals.is_empty() {
        writeln!(out, "\ncounters after {} packets:", inputs.len())?;
        for ((t, slot), (p, b)) in &totals {
            writeln!(
                out,
                "  {} {}: {p} packets, {b} bytes",
                m.table(*t).name,
                slot_name(*slot)
            )?;
        }
    }
    out.flush()
}

fn port_label(m: &Module, p: PortId) -> String {
    match m.port_by_id(p) {
        Some(port) => format!("{} ({})", port.name, p.0),
        None => format!("{} (not declared)", p.0),
    }
}

fn port_json(m: &Module, p: PortId) -> Value {
    json!({"number": p.0, "name": m.port_by_id(p).map(|x| x.name.clone())})
}

fn slot_name(s: CounterSlot) -> String {
    match s {
        CounterSlot::Entry(i) => format!("entry {i}"),
        CounterSlot::Default => "default".into(),
    }
}

/// A field value as the module language writes it.
fn value(m: &Module, f: Field, v: u128) -> String {
    match (f, f.kind()) {
        (Field::EthType, _) => format!("{v:#06x}"),
        (_, FieldKind::Port) => port_label(m, PortId(v as u16)),
        _ => format_value(v, LitType::of_field(f)),
    }
}

fn verdict_text(m: &Module, v: Verdict) -> (String, Option<PortId>) {
    match v {
        Verdict::Drop => ("drop".into(), None),
        Verdict::Pass => ("pass (to the host stack / CPU port)".into(), None),
        Verdict::Tx => ("tx (back out of the ingress port)".into(), None),
        Verdict::Forward(p) => (format!("forward to {}", port_label(m, p)), Some(p)),
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Drop => "drop",
        Verdict::Pass => "pass",
        Verdict::Tx => "tx",
        Verdict::Forward(_) => "forward",
    }
}

/// `entry 2 (line 67): ipv4.dst=192.168.1.0/24 priority 10`
fn entry_text(m: &Module, source: &str, table: ir::TableId, i: usize) -> String {
    let t = m.table(table);
    let Some(e) = t.entries.get(i) else {
        return format!("entry {i}");
    };
    let keys: Vec<String> = t
        .keys
        .iter()
        .zip(&e.matches)
        .map(|(k, km)| format!("{}={}", k.field, print::key_match(k.field, km)))
        .collect();
    let prio = e
        .priority
        .map(|p| format!(" priority {p}"))
        .unwrap_or_default();
    let at = if e.span.end > e.span.start {
        format!(" (line {})", diag::line_col(source, e.span.start).0)
    } else {
        String::new()
    };
    format!("entry {i}{at}: {}{prio}", keys.join(" "))
}

fn effect_text(m: &Module, e: &Effect) -> String {
    match e {
        Effect::Set { field, old, new } if old == new => {
            format!("{field} {} (unchanged)", value(m, *field, *new))
        }
        Effect::Set { field, old, new } => {
            format!(
                "{field} {} -> {}",
                value(m, *field, *old),
                value(m, *field, *new)
            )
        }
        Effect::SetIgnored { field } => {
            format!("set({field}) ignored: no valid {} header", field.header())
        }
        Effect::CopyIgnored { field, from } => {
            format!(
                "set({field}, {from}) ignored: no valid {} header to copy from",
                from.header()
            )
        }
        Effect::TtlExpired { field, value } => {
            format!("dec_ttl: {field} is {value} (<= 1): to the host")
        }
        Effect::DecTtlIgnored => "dec_ttl ignored: no valid ipv4/ipv6 header".into(),
        Effect::PushVlan { vid } => format!("push_vlan: new outer tag, vid {vid}"),
        Effect::PushVlanIgnored { vid } => {
            format!("push_vlan({vid}) ignored: two tags already (or no ethernet header)")
        }
        Effect::PopVlan { vid } => format!("pop_vlan: removed outer tag, vid {vid}"),
        Effect::PopVlanIgnored => "pop_vlan ignored: no tag".into(),
        Effect::VxlanEncap { vni, src_port } => {
            format!("vxlan_encap: outer eth/ipv4/udp/vxlan added, vni {vni}, udp source port {src_port}")
        }
        Effect::VxlanEncapIgnored => "vxlan_encap ignored: no valid eth header".into(),
        Effect::VxlanDecap { vni, removed } => {
            format!("vxlan_decap: removed {removed} outer bytes (vni {vni}); the inner headers are the headers now")
        }
        Effect::VxlanDecapIgnored => "vxlan_decap ignored: no valid vxlan header".into(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn headers(t: &Trace) -> Vec<&'static str> {
    t.parsed
        .valid_headers()
        .into_iter()
        .map(|h| h.name())
        .collect()
}

fn packet_text(m: &Module, source: &str, in_port: PortId, input: &Input, t: &Trace) -> String {
    let mut o = String::new();
    let len = input.bytes.len();
    let cut = input
        .orig_len
        .map(|l| format!(" (captured part of {l})"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "{}: {len} bytes{cut}, in on {}",
        input.origin,
        port_label(m, in_port)
    );
    let _ = writeln!(o, "  headers: {}", headers(t).join(" "));
    for step in &t.outcome.steps {
        let (table, line) = match step {
            Step::Skipped { table, missing } => {
                (*table, format!("skipped (no valid {missing} header)"))
            }
            Step::Hit { table, entry } => {
                let call = &m.table(*table).entries[*entry].action;
                (
                    *table,
                    format!(
                        "hit {} -> {}",
                        entry_text(m, source, *table, *entry),
                        print::call(m, call)
                    ),
                )
            }
            Step::Miss { table } => (
                *table,
                format!(
                    "miss -> default {}",
                    print::call(m, &m.table(*table).default_action)
                ),
            ),
        };
        let _ = writeln!(o, "  table {}: {line}", m.table(table).name);
        if let Some((_, bytes, b)) = t.hashes.iter().find(|(id, _, _)| *id == table) {
            let _ = writeln!(
                o,
                "      hash: crc32({}) = {:#010x}, bucket {b}",
                if bytes.is_empty() {
                    "no bytes".to_string()
                } else {
                    bytes.iter().map(|x| format!("{x:02x}")).collect::<String>()
                },
                offload_core::semantics::crc32(bytes)
            );
        }
        if let Some((_, _, color)) = t.meters.iter().find(|(id, _, _)| *id == table) {
            let mt = m.table(table).meter.as_ref();
            let _ = writeln!(
                o,
                "      meter: {} (a single packet at time 0 with full buckets{})",
                match color {
                    offload_core::ir::Color::Green => "green",
                    offload_core::ir::Color::Red => "red",
                },
                match (color, mt) {
                    (offload_core::ir::Color::Red, Some(mt)) => format!(": red {}", mt.red.name()),
                    _ => String::new(),
                }
            );
        }
        for Event { effect, .. } in t.events.iter().filter(|e| e.table == table) {
            let _ = writeln!(o, "      {}", effect_text(m, effect));
        }
    }
    let (v, _) = verdict_text(m, t.outcome.verdict);
    let _ = writeln!(o, "  verdict: {v}");
    for c in &t.outcome.counters {
        let _ = writeln!(
            o,
            "  counter: {} {} +1 packet, +{} bytes",
            m.table(c.table).name,
            slot_name(c.slot),
            c.bytes
        );
    }
    if t.outcome.packet == input.bytes {
        let _ = writeln!(o, "  output: unchanged ({len} bytes)");
    } else {
        let _ = writeln!(
            o,
            "  output: {} bytes: {}",
            t.outcome.packet.len(),
            hex(&t.outcome.packet)
        );
    }
    o
}

fn packet_json(m: &Module, source: &str, in_port: PortId, input: &Input, t: &Trace) -> Value {
    let steps: Vec<Value> = t
        .outcome
        .steps
        .iter()
        .map(|s| match s {
            Step::Skipped { table, missing } => {
                json!({"table": m.table(*table).name, "result": "skipped", "missing": missing.name()})
            }
            Step::Hit { table, entry } => json!({
                "table": m.table(*table).name,
                "result": "hit",
                "entry": entry,
                "match": entry_text(m, source, *table, *entry),
                "action": print::call(m, &m.table(*table).entries[*entry].action),
            }),
            Step::Miss { table } => json!({
                "table": m.table(*table).name,
                "result": "miss",
                "action": print::call(m, &m.table(*table).default_action),
            }),
        })
        .zip(&t.outcome.steps)
        .map(|(mut v, s)| {
            let id = match s {
                Step::Skipped { table, .. } | Step::Hit { table, .. } | Step::Miss { table } => *table,
            };
            if let Some((_, bytes, b)) = t.hashes.iter().find(|(x, _, _)| *x == id) {
                v["hash"] = json!({
                    "input": bytes.iter().map(|x| format!("{x:02x}")).collect::<String>(),
                    "crc32": offload_core::semantics::crc32(bytes),
                    "bucket": b,
                });
            }
            v
        })
        .collect();
    let effects: Vec<Value> = t
        .events
        .iter()
        .map(|e| {
            let mut v = json!({"table": m.table(e.table).name, "text": effect_text(m, &e.effect)});
            if let Effect::Set { field, old, new } = e.effect {
                v["field"] = json!(field.name());
                v["old"] = json!(value(m, field, old));
                v["new"] = json!(value(m, field, new));
            }
            v["effect"] = serde_json::to_value(&e.effect)
                .ok()
                .and_then(|x| x.get("effect").cloned())
                .unwrap_or(Value::Null);
            v
        })
        .collect();
    let counters: Vec<Value> = t
        .outcome
        .counters
        .iter()
        .map(|c| json!({"table": m.table(c.table).name, "slot": slot_name(c.slot), "packets": 1, "bytes": c.bytes}))
        .collect();
    let (_, egress) = verdict_text(m, t.outcome.verdict);
    json!({
        "origin": input.origin,
        "length": input.bytes.len(),
        "original_length": input.orig_len,
        "in_port": port_json(m, in_port),
        "headers": headers(t),
        "steps": steps,
        "effects": effects,
        "verdict": verdict_name(t.outcome.verdict),
        "egress_port": egress.map(|p| port_json(m, p)),
        "changed": t.outcome.packet != input.bytes,
        "output": hex(&t.outcome.packet),
        "counters": counters,
    })
}
