//! Deployments (`deploy.toml`): one module on every kind of target at once.
//! The wiring between the file, the planner (for `mode = "auto"`), core's
//! transaction and reconciler, and the drivers' targets.

use super::deployed::roots;
use anyhow::Context as _;
use offload_core::ir::Module;
use offload_core::state::{self, DeploymentSpec, Desired, Drift, HostMode, TableDesired, Target};
use offload_drivers::deployment::{self as dep, Context, HostModes, Record};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use super::Reply;

/// A deployment file names a `module` (or a chain's `modules`) at its top
/// level; a module file has a `[module]` table.
pub fn is_deployment_file(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| {
            matches!(t.get("module"), Some(toml::Value::String(_)))
                || matches!(t.get("modules"), Some(toml::Value::Array(_)))
        })
}

/// What a deployment runs, loaded: one module, or a chain fused (its
/// source is then the chain source, `offload_core::spec::chain`).
pub struct Program {
    pub module: Module,
    pub source: String,
}

/// Loads the deployment's module file(s); a refusal is rendered into `r`
/// (file:line:column, naming the module) and gives `Ok(None)`.
fn load_program(
    r: &mut Reply,
    shown: &str,
    base: &Path,
    spec: &DeploymentSpec,
) -> anyhow::Result<Option<Program>> {
    let files = spec.module_files();
    let mut loaded = Vec::new();
    for (i, f) in files.iter().enumerate() {
        match super::load_module(&base.join(f)).with_context(|| {
            if spec.is_chain() {
                format!("{shown}: module {} of the chain", i + 1)
            } else {
                format!("{shown}: module")
            }
        })? {
            Ok(l) => loaded.push(l),
            Err(rej) => {
                complain!(r, "{}", rej.render(false).trim_end());
                if spec.is_chain() {
                    complain!(
                        r,
                        "error: {shown}: module {} of the chain ({}) refused: {} error(s); nothing was applied",
                        i + 1,
                        rej.file,
                        rej.diagnostics.len()
                    );
                } else {
                    complain!(
                        r,
                        "error: {} refused: {} error(s)",
                        rej.file,
                        rej.diagnostics.len()
                    );
                }
                return Ok(None);
            }
        }
    }
    if !spec.is_chain() {
        let l = loaded.remove(0);
        return Ok(Some(Program {
            module: l.module,
            source: l.source,
        }));
    }
    let fused = match super::fuse_loaded(&loaded) {
        Ok(f) => f,
        Err(super::ChainRejected(rej)) => {
            complain!(r, "{}", rej.render(false).trim_end());
            complain!(
                r,
                "error: {shown}: the modules {} cannot run as one chain; nothing was applied",
                files.join(" → ")
            );
            return Ok(None);
        }
    };
    let members: Vec<offload_core::spec::chain::MemberSource> = files
        .iter()
        .zip(&loaded)
        .map(|(f, l)| offload_core::spec::chain::MemberSource {
            file: f.to_string(),
            source: l.source.clone(),
        })
        .collect();
    let mut module = fused.module;
    if let Some(n) = &spec.name {
        module.name = n.clone();
    }
    Ok(Some(Program {
        module,
        source: offload_core::spec::chain::frame(spec.name.as_deref(), &members),
    }))
}

/// Host modes for `auto` placements, from the planner.
fn host_modes(spec: &DeploymentSpec, module: &Module) -> anyhow::Result<Result<HostModes, String>> {
    let mut out = HostModes::new();
    for h in spec.host.iter().filter(|h| h.mode == HostMode::Auto) {
        match super::apply::modes_for("auto", module, std::slice::from_ref(&h.iface))? {
            Ok(m) => {
                out.insert(h.iface.clone(), m);
            }
            Err(refusal) => return Ok(Err(format!("placement host:{}: {refusal}", h.iface))),
        }
    }
    Ok(Ok(out))
}

pub struct Opened {
    pub desired: Desired,
    pub targets: Vec<Box<dyn Target>>,
}

impl Opened {
    pub fn refs(&mut self) -> Vec<&mut dyn Target> {
        self.targets
            .iter_mut()
            .map(|t| t.as_mut() as &mut dyn Target)
            .collect()
    }
}

/// The targets of a recorded deployment, with its desired state.
pub fn open(rec: &Record, batch: bool) -> anyhow::Result<Opened> {
    let (spec, desired) = rec.desired()?;
    let file = PathBuf::from(&rec.file);
    let base = file.parent().unwrap_or(Path::new("."));
    let modes = match host_modes(&spec, &desired.module)? {
        Ok(m) => m,
        Err(e) => anyhow::bail!(e),
    };
    let cx = Context {
        roots: roots(),
        base,
        host_modes: modes,
        batch,
        replace_foreign: false,
        module: &desired.module,
    };
    let targets = dep::targets(&spec, &cx)?;
    Ok(Opened { desired, targets })
}

/// Entries added at run time in `rec` (not in its module file) that the new
/// module still accepts: they survive a new version, as on the host.
fn runtime_entries(rec: &Record, new: &Module) -> BTreeMap<String, Vec<offload_core::ir::Entry>> {
    let mut out = BTreeMap::new();
    let Ok((_, old)) = rec.desired() else {
        return out;
    };
    for (name, td) in &old.tables {
        let (Some(ot), Some(nt)) = (old.module.table_by_name(name), new.table_by_name(name)) else {
            continue;
        };
        for e in &td.entries {
            let in_file = ot.entries.iter().any(|f| {
                f.matches == e.matches && f.priority == e.priority && f.action == e.action
            });
            if in_file || nt.keys.len() != ot.keys.len() || !nt.actions.contains(&e.action.action) {
                continue;
            }
            let existing: Vec<_> = nt.entries.clone();
            if offload_drivers::entries::validate(new, nt, &existing, e).is_ok() {
                out.entry(name.clone())
                    .or_insert_with(Vec::new)
                    .push(e.clone());
            }
        }
    }
    out
}

pub fn apply(path: &Path, json: bool, replace: bool, no_batch: bool) -> anyhow::Result<i32> {
    let mut r = Reply::default();
    let code = apply_into(&mut r, path, json, replace, no_batch);
    r.print();
    code
}

/// [`apply`], its output into `r` (offloadd runs the same code for a request
/// on its control socket).
pub fn apply_into(
    r: &mut Reply,
    path: &Path,
    json: bool,
    replace: bool,
    no_batch: bool,
) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let file =
        std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {shown}"))?;
    let spec = match DeploymentSpec::parse(&shown, &text) {
        Ok(s) => s,
        Err(e) => {
            complain!(r, "error: {e}");
            return Ok(1);
        }
    };
    let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let loaded = match load_program(r, &shown, &base, &spec)? {
        Some(p) => p,
        None => return Ok(1),
    };
    let errs = spec.check(&shown, &loaded.module);
    if !errs.is_empty() {
        for e in &errs {
            complain!(r, "error: {e}");
        }
        complain!(
            r,
            "error: {shown} refused: {} error(s); nothing was applied",
            errs.len()
        );
        return Ok(1);
    }
    if let Some(line) = super::deployed::missing_root("apply") {
        complain!(r, "{line}");
        return Ok(2);
    }
    let linked_state = offload_drivers::deploy::linked::load_state(&roots(), &loaded.module.name)?;
    if spec.link == offload_core::state::ChainLink::TailCall {
        return apply_linked(r, &shown, &base, &spec, &loaded.module.name, json);
    }
    if linked_state.is_some() {
        complain!(
            r,
            "error: {shown}: {} runs linked by tail calls; a fused chain under the same name is another layout: `offloadctl detach --module {}` first (or keep `link = \"tail-call\"`)",
            loaded.module.name,
            loaded.module.name
        );
        return Ok(1);
    }
    let modes = match host_modes(&spec, &loaded.module)? {
        Ok(m) => m,
        Err(e) => {
            complain!(r, "error: {shown}: {e}");
            return Ok(1);
        }
    };
    let roots = roots();
    let old = Record::load(&roots, &loaded.module.name)?;
    let placements = spec.placements().iter().map(|p| p.id()).collect();
    let number = old.as_ref().map_or(1, |r| r.version + 1);
    let mut desired =
        Desired::from_module(loaded.module.clone(), &loaded.source, number, placements);
    if let Some(rec) = &old {
        for (t, list) in runtime_entries(rec, &loaded.module) {
            if let Some(td) = desired.tables.get_mut(&t) {
                td.entries.extend(list);
            }
        }
    }
    let cx = Context {
        roots: roots.clone(),
        base: &base,
        host_modes: modes,
        batch: !no_batch,
        replace_foreign: replace,
        module: &loaded.module,
    };
    let mut targets = dep::targets(&spec, &cx)?;
    // Tests stop a transaction between two placements' commits (then kill
    // the process there): OFFLOAD_TEST_PAUSE_AFTER_COMMIT_MS.
    if let Some(ms) = std::env::var("OFFLOAD_TEST_PAUSE_AFTER_COMMIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        targets = targets
            .into_iter()
            .map(|t| {
                Box::new(PauseAfterCommit(t, std::time::Duration::from_millis(ms)))
                    as Box<dyn Target>
            })
            .collect();
    }
    let mut refs: Vec<&mut dyn Target> = targets
        .iter_mut()
        .map(|t| t.as_mut() as &mut dyn Target)
        .collect();
    // Same program and placements: only entries can differ (hitless everywhere).
    let same_program = old
        .as_ref()
        .is_some_and(|r| r.source == loaded.source && r.spec_text == text);
    let outcome = if same_program {
        let (_, before) = old.as_ref().expect("checked").desired()?;
        desired.version = before.version.clone();
        state::change_entries(&mut refs, &before, &desired)
            .map(|ops| format!("{} entry change(s), program unchanged", ops.len()))
    } else {
        state::apply(&mut refs, &desired).map(|o| {
            format!(
                "version {} committed on {} placement(s)",
                desired.version.number,
                o.committed.len()
            )
        })
    };
    drop(refs);
    match outcome {
        Ok(what) => {
            Record::from_desired(&file.display().to_string(), &text, &desired).save(&roots)?;
            if json {
                let v = serde_json::json!({
                    "module": desired.module.name,
                    "version": desired.version.number,
                    "digest": desired.version.digest,
                    "placements": spec.placements().iter().map(|p| p.id().0).collect::<Vec<_>>(),
                    "elapsed_us": t0.elapsed().as_micros() as u64,
                });
                say!(r, "{}", serde_json::to_string_pretty(&v)?);
            } else {
                for p in spec.placements() {
                    let id = p.id();
                    let how = match p {
                        state::PlacementSpec::Host(h) => {
                            format!("host kernel, mode {:?}", h.mode).to_lowercase()
                        }
                        state::PlacementSpec::Switch(s) => {
                            format!("BMv2 over P4Runtime at {} (device {})", s.grpc, s.device_id)
                        }
                        state::PlacementSpec::Bundle(b) => format!(
                            "Tofino bundle written to {} — not loaded: load it with the Tofino SDE",
                            base.join(&b.out).display()
                        ),
                    };
                    say!(
                        r,
                        "{id}: {} v{} ({how})",
                        desired.module.name,
                        desired.version.number
                    );
                }
                say!(
                    r,
                    "{what}; applied in {:.1} ms",
                    t0.elapsed().as_secs_f64() * 1e3
                );
            }
            Ok(0)
        }
        Err(e) => {
            complain!(r, "error: {shown}: {e}");
            Ok(1)
        }
    }
}

/// The records to act on: one module or all.
pub fn records(module: Option<&str>) -> anyhow::Result<Vec<Record>> {
    let roots = roots();
    Ok(match module {
        Some(m) => Record::load(&roots, m)?.into_iter().collect(),
        None => Record::all(&roots)?,
    })
}

/// Per placement: what it runs and its drift.
pub fn status(recs: &[Record], json: bool) -> anyhow::Result<i32> {
    let mut r = Reply::default();
    let code = status_into(&mut r, recs, json);
    r.print();
    code
}

/// [`status`], its output into `r`.
pub fn status_into(r: &mut Reply, recs: &[Record], json: bool) -> anyhow::Result<i32> {
    let mut any_drift = false;
    let mut out = Vec::new();
    for rec in recs {
        let mut o = open(rec, true)?;
        let desired = offload_drivers::target::switch::canonical_desired(&o.desired);
        let mut places = Vec::new();
        for t in o.targets.iter_mut() {
            match t.observe(&desired) {
                Ok(obs) => {
                    for ob in obs {
                        let drift: Vec<Drift> = state::diff(&desired, &ob);
                        any_drift |= !drift.is_empty();
                        places.push((ob, drift));
                    }
                }
                Err(e) => {
                    any_drift = true;
                    places.push((
                        state::Observed {
                            placement: e.placement.clone(),
                            program: state::ProgramState::Absent,
                            tables: BTreeMap::new(),
                        },
                        vec![],
                    ));
                    complain!(r, "error: {e}");
                }
            }
        }
        // One module, or each module of the chain with its own digest.
        let members = offload_core::spec::chain::compile_program(&rec.source)
            .map(|p| p.members)
            .unwrap_or_default();
        let chain = offload_core::spec::chain::is_chain(&rec.source);
        if json {
            out.push(serde_json::json!({
                "module": rec.module,
                "version": rec.version,
                "digest": desired.version.digest,
                "file": rec.file,
                "chain": members.iter().filter(|_| chain).map(|m| serde_json::json!({
                    "module": m.name,
                    "file": m.file,
                    "digest": m.digest,
                    "tables": m.tables,
                })).collect::<Vec<_>>(),
                "placements": places.iter().map(|(ob, drift)| serde_json::json!({
                    "placement": ob.placement.0,
                    "program": format!("{:?}", ob.program),
                    "tables": ob.tables.iter().map(|(k, t)| (k.clone(), serde_json::json!({
                        "entries": t.entries.len(),
                        "counters": t.counters,
                        "default_counter": t.default_counter,
                    }))).collect::<BTreeMap<_, _>>(),
                    "drift": drift.iter().map(|d| d.describe(&desired.module)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        say!(
            r,
            "deployment {} v{} (digest {}) from {}",
            rec.module,
            rec.version,
            desired.version.digest,
            rec.file
        );
        if chain {
            say!(
                r,
                "  a service chain of {} module{}, one fused program per placement: {}",
                members.len(),
                if members.len() == 1 { "" } else { "s" },
                members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            );
        }
        for (ob, drift) in &places {
            let prog = match &ob.program {
                state::ProgramState::Ours { identity, .. } => identity.clone(),
                state::ProgramState::Absent => "nothing runs".into(),
                state::ProgramState::Detached { identity } => format!("{identity}, not attached"),
                state::ProgramState::Foreign { identity } => format!("not ours: {identity}"),
            };
            say!(r, "  {}: {prog}", ob.placement);
            let table_line = |r: &mut Reply, indent: &str, name: &str, t: &state::TableObserved| {
                let pk: u64 = t.counters.iter().map(|c| c.0).sum::<u64>()
                    + t.default_counter.map_or(0, |c| c.0);
                say!(
                    r,
                    "{indent}table {name}: {} entries, {pk} packets counted",
                    t.entries.len()
                );
            };
            if chain {
                for (i, m) in members.iter().enumerate() {
                    say!(
                        r,
                        "    module {} of {}: {} ({}, digest {})",
                        i + 1,
                        members.len(),
                        m.name,
                        m.file,
                        m.digest
                    );
                    for name in &m.tables {
                        if let Some(t) = ob.tables.get(name) {
                            table_line(r, "      ", name, t);
                        }
                    }
                }
            } else {
                for (name, t) in &ob.tables {
                    table_line(r, "    ", name, t);
                }
            }
            if drift.is_empty() {
                say!(r, "    in sync");
            }
            for d in drift {
                say!(r, "    drift: {}", d.describe(&desired.module));
            }
        }
    }
    if json {
        say!(r, "{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if any_drift { 3 } else { 0 })
}

/// Changes a recorded deployment's entries on every placement (or none).
pub fn change_entries(
    rec: &Record,
    change: impl FnOnce(&Module, &mut BTreeMap<String, TableDesired>) -> Result<(), String>,
) -> anyhow::Result<Result<usize, String>> {
    let mut o = open(rec, true)?;
    let before = o.desired.clone();
    let mut tables = before.tables.clone();
    if let Err(e) = change(&before.module, &mut tables) {
        return Ok(Err(e));
    }
    let after = before.with_tables(tables);
    let mut refs = o.refs();
    match state::change_entries(&mut refs, &before, &after) {
        Ok(ops) => {
            drop(refs);
            Record::from_desired(&rec.file, &rec.spec_text, &after).save(&roots())?;
            Ok(Ok(ops.len()))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// A target that sleeps after its commit (see `OFFLOAD_TEST_PAUSE_AFTER_COMMIT_MS`).
struct PauseAfterCommit(Box<dyn Target>, std::time::Duration);

impl Target for PauseAfterCommit {
    fn placements(&self) -> Vec<state::PlacementId> {
        self.0.placements()
    }
    fn prepare(&mut self, d: &Desired) -> Result<(), state::TargetError> {
        self.0.prepare(d)
    }
    fn commit(&mut self) -> Result<(), state::TargetError> {
        let r = self.0.commit();
        eprintln!("test pause: committed {:?}", self.0.placements());
        std::thread::sleep(self.1);
        r
    }
    fn rollback(&mut self) {
        self.0.rollback()
    }
    fn finish(&mut self) -> Result<(), state::TargetError> {
        self.0.finish()
    }
    fn observe(&mut self, d: &Desired) -> Result<Vec<state::Observed>, state::TargetError> {
        self.0.observe(d)
    }
    fn write_entries(
        &mut self,
        d: &Desired,
        ops: &[state::EntryOp],
    ) -> Result<(), state::TargetError> {
        self.0.write_entries(d, ops)
    }
}

/// `link = "tail-call"`: the chain on its host interface as one program per
/// module linked by tail calls (`offload_drivers::deploy::linked`); a module
/// whose file changed is one slot update.
fn apply_linked(
    r: &mut Reply,
    shown: &str,
    base: &Path,
    spec: &DeploymentSpec,
    name: &str,
    json: bool,
) -> anyhow::Result<i32> {
    use offload_core::state::HostMode;
    use offload_drivers::deploy::linked::{self, LinkedRequest, ModuleSource};
    use offload_drivers::load::Mode;
    if !spec.is_chain() {
        complain!(r, "error: {shown}: `link = \"tail-call\"` links the modules of a chain (`modules = [...]`); one module has nothing to link");
        return Ok(1);
    }
    if !spec.switch.is_empty() || !spec.bundle.is_empty() {
        complain!(r, "error: {shown}: a switch or bundle runs a chain as one pipeline whatever `link` says, and linked deployments are host-only here: put switches and bundles in a fused deployment (`link = \"fused\"`, the default)");
        return Ok(1);
    }
    if spec.host.len() != 1 {
        complain!(r, "error: {shown}: a linked chain is deployed on exactly one [[host]] interface here ({} given)", spec.host.len());
        return Ok(1);
    }
    let h = &spec.host[0];
    let mode = match h.mode {
        HostMode::Native => Mode::Native,
        HostMode::Generic => Mode::Generic,
        HostMode::Tc => Mode::Tc,
        HostMode::Auto | HostMode::Offload => {
            complain!(r, "error: {shown}: host {}: a chain linked by tail calls runs in the host kernel: mode must be native, generic or tc (offload JITs have no bpf_tail_call; `auto` is not planned for linked chains yet)", h.iface);
            return Ok(1);
        }
    };
    if super::deployment::records(Some(name))?
        .iter()
        .any(|rec| rec.module == name)
    {
        complain!(r, "error: {shown}: {name} runs as a fused chain; a linked chain under the same name is another layout: `offloadctl detach --module {name}` first");
        return Ok(1);
    }
    let mut modules = Vec::new();
    for f in spec.module_files() {
        let source = std::fs::read_to_string(base.join(f))
            .with_context(|| format!("{shown}: cannot read {f}"))?;
        modules.push(ModuleSource {
            file: f.to_string(),
            source,
        });
    }
    let req = LinkedRequest {
        name: name.into(),
        modules,
        iface: h.iface.clone(),
        mode,
        ports: spec.ports.clone(),
        roots: roots(),
    };
    match linked::apply(&req) {
        Ok(rep) => {
            if json {
                say!(r, "{}", serde_json::to_string_pretty(&rep)?);
            } else {
                say!(
                    r,
                    "host:{}: {name} linked by tail calls, mode {mode}: dispatcher program id {}",
                    h.iface,
                    rep.entry_prog_id
                );
                for (k, (m, id, loaded)) in rep.modules.iter().enumerate() {
                    say!(
                        r,
                        "  slot {k}: {m} program id {id}{}",
                        if *loaded {
                            " (loaded now)"
                        } else {
                            " (unchanged)"
                        }
                    );
                }
                if !rep.kept_counters.is_empty() {
                    say!(r, "  counters kept: {}", rep.kept_counters.join(", "));
                }
            }
            Ok(0)
        }
        Err(e) => {
            complain!(
                r,
                "error: {shown}: host:{}: {e}; nothing was changed",
                h.iface
            );
            Ok(1)
        }
    }
}

/// `status --module NAME` of a linked chain; `None` when NAME is not one.
pub fn linked_status(name: &str, json: bool) -> anyhow::Result<Option<i32>> {
    use offload_drivers::deploy::linked;
    if linked::load_state(&roots(), name)?.is_none() {
        return Ok(None);
    }
    let s = linked::status(&roots(), name)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "deployment {} on {} ({}), linked by tail calls: dispatcher program id {}, link runs {}",
            s.name,
            s.iface,
            s.mode,
            s.entry_prog_id,
            s.link_prog_id.map_or("nothing".to_string(), |i| format!("program id {i}"))
        );
        for m in &s.modules {
            println!(
                "  slot {}: {} ({}, digest {}) program id {}, slot holds {}",
                m.index,
                m.name,
                m.file,
                m.digest,
                m.prog_id,
                m.slot_prog_id
                    .map_or("nothing".to_string(), |i| format!("program id {i}"))
            );
            for (t, p) in &m.packets {
                println!("    table {}.{t}: {p} packets counted", m.name);
            }
        }
        if s.drift.is_empty() {
            println!("  in sync");
        }
        for d in &s.drift {
            println!("  drift: {d}");
        }
    }
    Ok(Some(if s.drift.is_empty() { 0 } else { 3 }))
}
