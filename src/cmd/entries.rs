//! `offloadctl entries add|del|list|load`: table entries of a deployed module
//! at run time, on every interface it runs on. Every entry is validated
//! against the module first; a refused entry changes nothing.

use super::deployed::{missing_root, roots, status_text};
use anyhow::Context as _;
use offload_drivers::deploy::{self, runtime, status};
use offload_drivers::entries::parse::{self, flag_pair, EntryText, Lit};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct Args {
    /// The deployed module (needed when several are deployed)
    #[arg(long, global = true)]
    pub module: Option<String>,
    #[command(subcommand)]
    pub command: EntriesCommand,
}

/// `--meter RATE/BURST` → (rate, burst).
fn meter_flag(s: Option<&str>) -> anyhow::Result<Option<(i64, i64)>> {
    let Some(s) = s else { return Ok(None) };
    let parsed = s
        .split_once('/')
        .and_then(|(r, b)| Some((r.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some(p) => Ok(Some(p)),
        None => anyhow::bail!("--meter {s:?}: write RATE/BURST, e.g. --meter 1000/100"),
    }
}

#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct EntryFlags {
    /// The table
    #[arg(long)]
    pub table: String,
    /// FIELD=VALUE, in the module language's syntax (`ipv4.dst=10.0.0.0/8`, `l4.dst_port=22..22`)
    #[arg(long = "match", value_name = "FIELD=VALUE")]
    pub matches: Vec<String>,
    /// Priority (tables with ternary or range keys)
    #[arg(long)]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, clap::Subcommand, serde::Serialize, serde::Deserialize)]
pub enum EntriesCommand {
    /// Add one entry
    Add {
        #[command(flatten)]
        entry: EntryFlags,
        /// The action
        #[arg(long)]
        action: String,
        /// PARAM=VALUE for the action's parameters
        #[arg(long = "arg", value_name = "PARAM=VALUE")]
        args: Vec<String>,
        /// RATE/BURST: the entry's own meter (metered tables; default: the table's)
        #[arg(long, value_name = "RATE/BURST")]
        #[serde(default)]
        meter: Option<String>,
    },
    /// Delete the entry with exactly these matches
    Del {
        #[command(flatten)]
        entry: EntryFlags,
    },
    /// List entries with their counters (read from the kernel)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add every `[[entry.TABLE]]` (and `[[group.TABLE]]`: one entry per bucket) of a file (all
    /// or none), with batch map updates
    Load {
        file: PathBuf,
        /// One element at a time instead of batch updates
        #[arg(long)]
        no_batch: bool,
        /// An entry whose matches the table holds replaces it in place (same priority; its
        /// counters go on) instead of being refused: e.g. new members for a group, hitless
        #[arg(long)]
        #[serde(default)]
        replace: bool,
        /// No progress lines when stderr is not a terminal
        #[arg(long, short)]
        #[serde(default)]
        quiet: bool,
    },
}

fn pairs(flags: &[String], what: &str) -> anyhow::Result<Vec<(String, Lit)>> {
    flags
        .iter()
        .map(|f| flag_pair(f).with_context(|| format!("--{what} {f}: write NAME=VALUE")))
        .collect()
}

/// A split placement (`--module NAME` of a split): an entry goes to the
/// half that holds its table (`NAME-nic` / `NAME-host`); `list` lists both.
/// `None`: not a split.
fn split_entries(roots: &deploy::Roots, args: &Args) -> anyhow::Result<Option<i32>> {
    use offload_core::ir::split::Half;
    use offload_drivers::deploy::split::SplitRecord;
    let Some(name) = args.module.as_deref() else {
        return Ok(None);
    };
    let Some(rec) = SplitRecord::load(roots, name)? else {
        return Ok(None);
    };
    let whole = rec.module()?;
    let at_half = |table: &str| -> anyhow::Result<String> {
        let t = whole
            .table_by_name(table)
            .with_context(|| format!("module {name} has no table {table}"))?;
        let half = if (t.id.0 as usize) < rec.at {
            Half::Nic
        } else {
            Half::Host
        };
        Ok(rec.half(half))
    };
    let halves: Vec<String> = match &args.command {
        EntriesCommand::Add { entry, .. } | EntriesCommand::Del { entry } => {
            vec![at_half(&entry.table)?]
        }
        EntriesCommand::List { .. } => vec![rec.half(Half::Nic), rec.half(Half::Host)],
        EntriesCommand::Load { .. } => anyhow::bail!(
            "{name} runs split in two: load a file into each half with --module {} (tables {}) or --module {}",
            rec.half(Half::Nic),
            whole.tables[..rec.at].iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
            rec.half(Half::Host)
        ),
    };
    let mut code = 0;
    for h in halves {
        let sub = Args {
            module: Some(h),
            command: args.command.clone(),
        };
        code = code.max(run(&sub)?);
    }
    Ok(Some(code))
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if let Some(line) = missing_root("entries") {
        eprintln!("{line}");
        return Ok(2);
    }
    let roots = roots();
    if let Some(code) = split_entries(&roots, args)? {
        return Ok(code);
    }
    let recs = super::deployment::records(args.module.as_deref())?;
    if recs.len() == 1 && !matches!(args.command, EntriesCommand::List { .. }) {
        return deployment_entries(&recs[0], &args.command);
    }
    let st = deploy::pick_module(&roots, args.module.as_deref())?;
    let module = offload_core::spec::chain::module_of(&st.source).map_err(|e| {
        anyhow::anyhow!("the stored source of {} no longer compiles: {e}", st.module)
    })?;
    let refused = |e: deploy::DeployError| -> anyhow::Result<i32> {
        eprintln!("error: {}", offload_drivers::load::program::error_chain(&e));
        Ok(match e {
            deploy::DeployError::Entry(_) | deploy::DeployError::Port(_) => 1,
            _ => 2,
        })
    };
    match &args.command {
        EntriesCommand::Add {
            entry,
            action,
            args: a,
            meter,
        } => {
            let text = EntryText {
                meter: meter_flag(meter.as_deref())?,
                table: entry.table.clone(),
                matches: pairs(&entry.matches, "match")?,
                priority: entry.priority,
                action: action.clone(),
                args: pairs(a, "arg")?,
            };
            let e = match parse::entry(&module, &text) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            match runtime::add(&roots, Some(&st.module), &[(entry.table.clone(), e)], true) {
                Ok(r) => println!(
                    "added 1 entry to {} on {} interface(s)",
                    entry.table, r.placements
                ),
                Err(e) => return refused(e),
            }
        }
        EntriesCommand::Del { entry } => {
            let t = match offload_drivers::entries::table(&module, &entry.table) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            let m = match parse::matches(&module, t, &pairs(&entry.matches, "match")?) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            let prio = entry.priority.map(|p| u32::try_from(p).unwrap_or(u32::MAX));
            match runtime::delete(&roots, Some(&st.module), &entry.table, &m, prio) {
                Ok(r) => println!(
                    "deleted 1 entry from {} on {} interface(s)",
                    entry.table, r.placements
                ),
                Err(e) => return refused(e),
            }
        }
        EntriesCommand::List { json } => {
            let all = status::status(&roots, Some(&st.module))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&all[0].tables)?);
            } else {
                print!("{}", status_text(&all[0]));
            }
        }
        EntriesCommand::Load {
            file,
            no_batch,
            quiet,
            replace,
        } => {
            let t0 = std::time::Instant::now();
            let progress = load_progress(file, *quiet);
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let es = match parse::file(&module, &file.display().to_string(), &text) {
                Ok(es) => es,
                Err(e) => {
                    progress.finish();
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            drop(text);
            let read_ms = t0.elapsed().as_secs_f64() * 1e3;
            let n = es.len();
            let r = runtime::write_reporting(
                &roots,
                Some(&st.module),
                &es,
                !no_batch,
                *replace,
                &mut |p| progress.phase(&format!("{p} ({n} entries)")),
            );
            progress.finish();
            match r {
                Ok(r) => {
                    println!(
                        "loaded {} entries on {} interface(s) in {:.1} ms",
                        r.added,
                        r.placements,
                        t0.elapsed().as_secs_f64() * 1e3
                    );
                    println!(
                        "  phases: file read+parse {read_ms:.1} ms, {}",
                        r.phases
                            .iter()
                            .map(|(p, ms)| format!("{p} {ms:.1} ms"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    for (t, w) in &r.writes {
                        let fb = w
                            .fallback
                            .as_deref()
                            .map(|f| format!(" (batch refused: {f})"))
                            .unwrap_or_default();
                        println!(
                            "  {t}: {} in batches, {} one by one{fb}",
                            w.batched, w.one_by_one
                        );
                    }
                }
                Err(e) => return refused(e),
            }
        }
    }
    Ok(0)
}

/// Progress of `entries load FILE`: only files of 1 MB and more (~13,000
/// routes) are long enough to show it.
fn load_progress(file: &std::path::Path, quiet: bool) -> super::progress::Progress {
    let long = std::fs::metadata(file).is_ok_and(|m| m.len() >= 1 << 20);
    let p = super::progress::Progress::new("entries load", long, quiet);
    p.phase(&format!("reading {}", file.display()));
    p
}

/// Ends a progress display when it goes out of scope (every return path).
struct Finish<'a>(&'a super::progress::Progress);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Entries of a deployment: validated once, then on every placement (host
/// interfaces, switches, bundles) or on none.
fn deployment_entries(
    rec: &offload_drivers::deployment::Record,
    cmd: &EntriesCommand,
) -> anyhow::Result<i32> {
    let mut r = super::Reply::default();
    let code = deployment_entries_into(&mut r, rec, cmd);
    r.print();
    code
}

/// [`deployment_entries`], its output into `out` (offloadd runs the same code).
pub fn deployment_entries_into(
    out: &mut super::Reply,
    rec: &offload_drivers::deployment::Record,
    cmd: &EntriesCommand,
) -> anyhow::Result<i32> {
    let (_, desired) = rec.desired()?;
    let module = desired.module.clone();
    let r = match cmd {
        EntriesCommand::Add {
            entry,
            action,
            args: a,
            meter,
        } => {
            let text = EntryText {
                meter: meter_flag(meter.as_deref())?,
                table: entry.table.clone(),
                matches: pairs(&entry.matches, "match")?,
                priority: entry.priority,
                action: action.clone(),
                args: pairs(a, "arg")?,
            };
            let e = match parse::entry(&module, &text) {
                Ok(e) => e,
                Err(e) => {
                    complain!(out, "error: {e}");
                    return Ok(1);
                }
            };
            let table = entry.table.clone();
            super::deployment::change_entries(rec, move |m, tables| {
                let t = offload_drivers::entries::table(m, &table).map_err(|e| e.to_string())?;
                let td = tables.get_mut(&table).ok_or("no such table")?;
                offload_drivers::entries::validate(m, t, &td.entries, &e)
                    .map_err(|e| e.to_string())?;
                if td.entries.len() as u32 >= t.size {
                    return Err(format!("table {table} is full ({} entries)", t.size));
                }
                td.entries.push(e);
                Ok(())
            })?
        }
        EntriesCommand::Del { entry } => {
            let t = match offload_drivers::entries::table(&module, &entry.table) {
                Ok(t) => t.clone(),
                Err(e) => {
                    complain!(out, "error: {e}");
                    return Ok(1);
                }
            };
            let m = match parse::matches(&module, &t, &pairs(&entry.matches, "match")?) {
                Ok(m) => m,
                Err(e) => {
                    complain!(out, "error: {e}");
                    return Ok(1);
                }
            };
            let prio = entry.priority.map(|p| u32::try_from(p).unwrap_or(u32::MAX));
            let table = entry.table.clone();
            super::deployment::change_entries(rec, move |_, tables| {
                let td = tables.get_mut(&table).ok_or("no such table")?;
                let before = td.entries.len();
                td.entries
                    .retain(|e| !(e.matches == m && (prio.is_none() || e.priority == prio)));
                if td.entries.len() == before {
                    return Err(format!("table {table} has no entry with these matches"));
                }
                Ok(())
            })?
        }
        EntriesCommand::Load {
            file,
            quiet,
            replace,
            ..
        } => {
            let replace = *replace;
            let progress = load_progress(file, *quiet);
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let list = match parse::file(&module, &file.display().to_string(), &text) {
                Ok(l) => l,
                Err(e) => {
                    progress.finish();
                    complain!(out, "error: {e}");
                    return Ok(1);
                }
            };
            drop(text);
            progress.phase(&format!(
                "validating {} entries and writing them on every placement",
                list.len()
            ));
            let _done = Finish(&progress);
            super::deployment::change_entries(rec, move |m, tables| {
                let mut checkers = std::collections::BTreeMap::new();
                for (table, e) in list {
                    let t =
                        offload_drivers::entries::table(m, &table).map_err(|e| e.to_string())?;
                    let td = tables.get_mut(&table).ok_or("no such table")?;
                    if replace {
                        if let Some(old) = td.entries.iter_mut().find(|o| o.matches == e.matches) {
                            offload_drivers::entries::validate_shape(m, t, &e)
                                .map_err(|e| e.to_string())?;
                            if old.priority != e.priority {
                                return Err(format!(
                                    "table {table}: a replacement keeps the entry's priority"
                                ));
                            }
                            *old = e;
                            continue;
                        }
                    }
                    checkers
                        .entry(table.clone())
                        .or_insert_with(|| offload_drivers::entries::Checker::new(&td.entries))
                        .check(m, t, &e)
                        .map_err(|e| e.to_string())?;
                    td.entries.push(e);
                }
                Ok(())
            })?
        }
        // `list` reads the host status (the caller never sends it here).
        EntriesCommand::List { .. } => return Ok(2),
    };
    match r {
        Ok(n) => {
            say!(
                out,
                "{n} entry operation(s) on every placement of {} ({})",
                rec.module,
                desired
                    .placements
                    .iter()
                    .map(|p| p.0.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(0)
        }
        Err(e) => {
            complain!(out, "error: {e}; nothing changed on any placement");
            Ok(1)
        }
    }
}
