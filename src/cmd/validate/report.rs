//! What validate shows: progress while it runs (a bar on a terminal, plain
//! lines otherwise), then the matrix of targets × vector classes, each
//! failure with its frame, what the reference said and what the target did,
//! the reasons for everything not run; the same as JSON and as JUnit XML.

use super::targets::{Outcome, TargetId};
use super::vectors::Vector;
use crate::cmd::Loaded;
use offload_core::ir::{Module, PortId};
use offload_core::semantics::{self, Verdict};
use offload_core::testgen::vectors::Class;
use offload_drivers::validate::{FrameResult, TargetRun};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;

/// Progress on stderr: an indicatif bar on a terminal, a plain line per
/// target and per quarter of a long run otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    target: String,
    last_quarter: usize,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            bar: None,
            target: String::new(),
            last_quarter: 0,
        }
    }

    pub fn start(&mut self, target: &str, total: usize) {
        self.target = target.to_string();
        self.last_quarter = 0;
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix:>13} [{bar:30}] {pos}/{len} frames, {elapsed} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(target.to_string());
            self.bar = Some(bar);
        } else {
            eprintln!("validate: {target}: {total} frames");
        }
    }

    pub fn set(&mut self, done: usize, total: usize) {
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        } else if total >= 400 {
            let q = done * 4 / total.max(1);
            if q > self.last_quarter && q < 4 {
                self.last_quarter = q;
                eprintln!("validate: {}: {done}/{total} frames", self.target);
            }
        }
    }

    pub fn done(&mut self, target: &str, run: &Result<TargetRun, String>) {
        let line = match run {
            Ok(r) => {
                let failed = r
                    .frames
                    .iter()
                    .filter(|f| matches!(f, FrameResult::Fail(_)))
                    .count();
                format!(
                    "{} ran, {failed} failed, {} counter mismatches",
                    r.ran(),
                    r.counter_mismatches.len()
                )
            }
            Err(why) => format!("not run: {why}"),
        };
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!("validate: {target}: {line}");
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// A JUnit testcase element and its body: (`failure` / `skipped`, message, text).
type Case = (
    quick_xml::events::BytesStart<'static>,
    Option<(String, String, String)>,
);

/// Counts of one cell of the matrix.
#[derive(Debug, Default, Clone)]
struct Cell {
    pass: usize,
    fail: usize,
    not_run: usize,
}

/// Everything a report is made from.
pub struct Summary<'a> {
    module: &'a Module,
    file: String,
    vectors: &'a [Vector],
    results: &'a [Outcome],
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn port_text(m: &Module, p: PortId) -> String {
    match m.port_by_id(p) {
        Some(x) => format!("{} ({})", x.name, p.0),
        None if p.0 == 0xffff => "no port".into(),
        None => format!("{}", p.0),
    }
}

fn verdict_text(m: &Module, v: Verdict) -> String {
    match v {
        Verdict::Drop => "drop".into(),
        Verdict::Pass => "pass".into(),
        Verdict::Tx => "tx".into(),
        Verdict::Forward(p) => format!("forward to {}", port_text(m, p)),
    }
}

impl<'a> Summary<'a> {
    pub fn new(loaded: &'a Loaded, vectors: &'a [Vector], results: &'a [Outcome]) -> Summary<'a> {
        Summary {
            module: &loaded.module,
            file: loaded.path.display().to_string(),
            vectors,
            results,
        }
    }

    /// Any frame or counter disagreed (not-run never fails).
    pub fn failed(&self) -> bool {
        self.results.iter().any(|o| match &o.run {
            Ok(r) => {
                !r.counter_mismatches.is_empty()
                    || r.frames.iter().any(|f| matches!(f, FrameResult::Fail(_)))
            }
            Err(_) => false,
        })
    }

    fn cells(&self, r: &TargetRun) -> BTreeMap<Class, Cell> {
        let mut out: BTreeMap<Class, Cell> = BTreeMap::new();
        for (v, f) in self.vectors.iter().zip(&r.frames) {
            let c = out.entry(v.class).or_default();
            match f {
                FrameResult::Pass => c.pass += 1,
                FrameResult::Fail(_) => c.fail += 1,
                FrameResult::NotRun(_) => c.not_run += 1,
            }
        }
        out
    }

    fn class_counts(&self) -> BTreeMap<Class, usize> {
        let mut out = BTreeMap::new();
        for v in self.vectors {
            *out.entry(v.class).or_default() += 1;
        }
        out
    }

    fn not_run_reasons(r: &TargetRun) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for f in &r.frames {
            if let FrameResult::NotRun(why) = f {
                *out.entry(why.as_str()).or_default() += 1;
            }
        }
        out
    }

    fn fps(r: &TargetRun) -> Option<f64> {
        (r.run_secs > 0.0 && r.ran() > 0).then(|| r.ran() as f64 / r.run_secs)
    }

    fn reference_text(&self, v: &Vector) -> String {
        let o = semantics::run(self.module, v.in_port, &v.bytes);
        format!(
            "{}, {} bytes {}",
            verdict_text(self.module, o.verdict),
            o.packet.len(),
            if o.packet == v.bytes {
                "(unchanged)".to_string()
            } else {
                hex(&o.packet)
            }
        )
    }

    /// The matrix and the details, for a person.
    pub fn text(&self, show: usize) -> String {
        let mut o = String::new();
        let counts = self.class_counts();
        let by_class: Vec<String> = Class::ALL
            .iter()
            .map(|c| format!("{} {}", c.name(), counts.get(c).copied().unwrap_or(0)))
            .collect();
        let _ = writeln!(
            o,
            "validate {} ({}): {} vectors ({})\n",
            self.module.name,
            self.file,
            self.vectors.len(),
            by_class.join(", ")
        );
        let _ = write!(o, "{:<13}", "target");
        for c in Class::ALL {
            let _ = write!(o, " {:<16}", c.name());
        }
        let _ = writeln!(o, " {:<14} {:>10}", "counters/ctl", "frames/s");
        for out in self.results {
            let _ = write!(o, "{:<13}", out.target.name());
            match &out.run {
                Err(why) => {
                    let _ = writeln!(o, " not run: {why}");
                }
                Ok(r) => {
                    let cells = self.cells(r);
                    for c in Class::ALL {
                        let cell = cells.get(&c).cloned().unwrap_or_default();
                        let ran = cell.pass + cell.fail;
                        let mut s = if ran + cell.not_run == 0 {
                            "-".to_string()
                        } else if ran == 0 {
                            "not run".to_string()
                        } else if cell.fail > 0 {
                            format!("FAIL {}/{ran}", cell.fail)
                        } else {
                            format!("pass {}", cell.pass)
                        };
                        if ran > 0 && cell.not_run > 0 {
                            s.push_str(&format!(" +{}nr", cell.not_run));
                        }
                        let _ = write!(o, " {s:<16}");
                    }
                    let counters = if r.counters_checked == 0 && r.counter_mismatches.is_empty() {
                        "-".to_string()
                    } else if r.counter_mismatches.is_empty() {
                        format!("pass {}", r.counters_checked)
                    } else {
                        format!(
                            "FAIL {}/{}",
                            r.counter_mismatches.len(),
                            r.counters_checked.max(r.counter_mismatches.len())
                        )
                    };
                    let fps = Self::fps(r).map_or("-".to_string(), |f| format!("{f:.0}"));
                    let _ = writeln!(o, " {counters:<14} {fps:>10}");
                }
            }
        }
        let _ = writeln!(
            o,
            "\n(+Nnr: N frames of that class not run on that target; reasons below)"
        );
        // Not-run reasons per target.
        let mut any = false;
        for out in self.results {
            if let Ok(r) = &out.run {
                for (why, n) in Self::not_run_reasons(r) {
                    if !any {
                        let _ = writeln!(o, "\nnot run:");
                        any = true;
                    }
                    let _ = writeln!(o, "  {}: {n} frames: {why}", out.target.name());
                }
                for note in &r.notes {
                    let _ = writeln!(o, "  {}: note: {note}", out.target.name());
                }
            }
        }
        let roots: Vec<&str> = TargetId::ALL
            .iter()
            .filter(|t| t.needs_root())
            .map(|t| t.name())
            .collect();
        let _ = writeln!(
            o,
            "\nneed root (CAP_BPF/CAP_NET_ADMIN): {}",
            roots.join(", ")
        );
        // Failures.
        let mut failing = Vec::new();
        for out in self.results {
            let Ok(r) = &out.run else { continue };
            let fails: Vec<(usize, &offload_drivers::validate::Mismatch)> = r
                .frames
                .iter()
                .enumerate()
                .filter_map(|(i, f)| match f {
                    FrameResult::Fail(m) => Some((i, m)),
                    _ => None,
                })
                .collect();
            if fails.is_empty() && r.counter_mismatches.is_empty() {
                continue;
            }
            failing.push(format!(
                "{} ({} frames{})",
                out.target.name(),
                fails.len(),
                if r.counter_mismatches.is_empty() {
                    String::new()
                } else {
                    format!(", {} counters", r.counter_mismatches.len())
                }
            ));
            let _ = writeln!(
                o,
                "\nfailures on {} ({} frames, {} counters):",
                out.target.name(),
                fails.len(),
                r.counter_mismatches.len()
            );
            for (i, mm) in fails.iter().take(show) {
                let v = &self.vectors[*i];
                let _ = writeln!(
                    o,
                    "  vector {} [{}] {}: in on {}, {} bytes",
                    i + 1,
                    v.class.name(),
                    v.origin,
                    port_text(self.module, v.in_port),
                    v.bytes.len()
                );
                let _ = writeln!(o, "    frame      {}", hex(&v.bytes));
                let _ = writeln!(o, "    reference  {}", self.reference_text(v));
                if let Some(e) = &v.expect {
                    let _ = writeln!(
                        o,
                        "    expected   {} (vectors file)",
                        verdict_text(self.module, e.verdict)
                    );
                }
                let _ = writeln!(
                    o,
                    "    target     {}{}",
                    mm.got_verdict
                        .as_ref()
                        .map(|g| format!("{g}: "))
                        .unwrap_or_default(),
                    mm.what
                );
                if let Some(b) = &mm.got_bytes {
                    let _ = writeln!(o, "    target out {}", hex(b));
                }
            }
            if fails.len() > show {
                let _ = writeln!(
                    o,
                    "  … and {} more (all in --json and --junit; --show N shows more)",
                    fails.len() - show
                );
            }
            for c in &r.counter_mismatches {
                let _ = writeln!(o, "  counters: {c}");
            }
        }
        if failing.is_empty() {
            let _ = writeln!(
                o,
                "\nvalidate: no target disagreed with the reference (not-run targets and frames are not passes)"
            );
        } else {
            let _ = writeln!(
                o,
                "\nvalidate: {} disagreed: {}",
                if failing.len() == 1 {
                    "1 target"
                } else {
                    "targets"
                },
                failing.join(", ")
            );
        }
        o
    }

    fn failure_json(&self, i: usize, m: &offload_drivers::validate::Mismatch) -> Value {
        let v = &self.vectors[i];
        let o = semantics::run(self.module, v.in_port, &v.bytes);
        json!({
            "vector": i + 1,
            "origin": v.origin,
            "class": v.class,
            "in_port": {"number": v.in_port.0, "name": self.module.port_by_id(v.in_port).map(|p| p.name.clone())},
            "frame": hex(&v.bytes),
            "reference": {
                "verdict": verdict_text(self.module, o.verdict),
                "output": hex(&o.packet),
                "counters": o.counters.iter().map(|c| json!({"table": self.module.table(c.table).name, "slot": format!("{:?}", c.slot), "bytes": c.bytes})).collect::<Vec<_>>(),
            },
            "target": {
                "verdict": m.got_verdict,
                "output": m.got_bytes.as_ref().map(|b| hex(b)),
                "what": m.what,
            },
        })
    }

    /// One document for scripts.
    pub fn json(&self) -> Value {
        let counts = self.class_counts();
        let targets: Vec<Value> = self
            .results
            .iter()
            .map(|out| {
                let base = json!({"name": out.target.name(), "what": out.target.what(), "needs_root": out.target.needs_root()});
                let mut t = base;
                match &out.run {
                    Err(why) => {
                        t["status"] = json!("not run");
                        t["reason"] = json!(why);
                    }
                    Ok(r) => {
                        let cells = self.cells(r);
                        let failed = cells.values().any(|c| c.fail > 0) || !r.counter_mismatches.is_empty();
                        t["status"] = json!(if failed { "fail" } else { "pass" });
                        t["classes"] = Class::ALL
                            .iter()
                            .map(|c| {
                                let cell = cells.get(c).cloned().unwrap_or_default();
                                (c.name().to_string(), json!({"pass": cell.pass, "fail": cell.fail, "not_run": cell.not_run}))
                            })
                            .collect::<serde_json::Map<_, _>>()
                            .into();
                        t["counters"] = json!({"checked": r.counters_checked, "mismatches": r.counter_mismatches});
                        t["not_run"] = Self::not_run_reasons(r)
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), json!(v)))
                            .collect::<serde_json::Map<_, _>>()
                            .into();
                        t["frames_run"] = json!(r.ran());
                        t["frames_per_second"] = json!(Self::fps(r));
                        t["setup_secs"] = json!(r.setup_secs);
                        t["run_secs"] = json!(r.run_secs);
                        t["notes"] = json!(r.notes);
                        t["failures"] = r
                            .frames
                            .iter()
                            .enumerate()
                            .filter_map(|(i, f)| match f {
                                FrameResult::Fail(m) => Some(self.failure_json(i, m)),
                                _ => None,
                            })
                            .collect::<Vec<_>>()
                            .into();
                    }
                }
                t
            })
            .collect();
        json!({
            "module": self.module.name,
            "file": self.file,
            "vectors": {
                "count": self.vectors.len(),
                "by_class": Class::ALL.iter().map(|c| (c.name().to_string(), json!(counts.get(c).copied().unwrap_or(0)))).collect::<serde_json::Map<_, _>>(),
            },
            "targets": targets,
            "passed": !self.failed(),
        })
    }

    /// JUnit XML: a testsuite per target, a testcase per vector (classname
    /// `validate.TARGET.CLASS`) and one for the counters; not run =
    /// `<skipped>` with the reason, a mismatch = `<failure>` with the details.
    pub fn junit(&self) -> String {
        use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
        let mut w = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
        let ev = |w: &mut quick_xml::Writer<Vec<u8>>, e: Event| {
            // Writing into a Vec cannot fail.
            let _ = w.write_event(e);
        };
        ev(
            &mut w,
            Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
        );
        let mut totals = (0usize, 0usize, 0usize);
        let mut suites: Vec<(BytesStart, Vec<Case>)> = Vec::new();
        for out in self.results {
            let name = out.target.name();
            let mut cases = Vec::new();
            let (mut tests, mut failures, mut skipped) = (0usize, 0usize, 0usize);
            let mut time = 0.0;
            match &out.run {
                Err(why) => {
                    let mut c = BytesStart::new("testcase");
                    c.push_attribute(("classname", format!("validate.{name}").as_str()));
                    c.push_attribute(("name", "target"));
                    cases.push((
                        c,
                        Some(("skipped".into(), format!("not run: {why}"), String::new())),
                    ));
                    tests += 1;
                    skipped += 1;
                }
                Ok(r) => {
                    time = r.setup_secs + r.run_secs;
                    for (i, (v, f)) in self.vectors.iter().zip(&r.frames).enumerate() {
                        let mut c = BytesStart::new("testcase");
                        c.push_attribute((
                            "classname",
                            format!("validate.{name}.{}", v.class.name()).as_str(),
                        ));
                        c.push_attribute((
                            "name",
                            format!("vector {}: {}", i + 1, v.origin).as_str(),
                        ));
                        tests += 1;
                        let body = match f {
                            FrameResult::Pass => None,
                            FrameResult::NotRun(why) => {
                                skipped += 1;
                                Some(("skipped".into(), format!("not run: {why}"), String::new()))
                            }
                            FrameResult::Fail(m) => {
                                failures += 1;
                                let detail = format!(
                                    "frame {}\nin on {}\nreference {}\ntarget {}{}\n{}",
                                    hex(&v.bytes),
                                    port_text(self.module, v.in_port),
                                    self.reference_text(v),
                                    m.got_verdict.clone().unwrap_or_default(),
                                    m.got_bytes
                                        .as_ref()
                                        .map(|b| format!(" output {}", hex(b)))
                                        .unwrap_or_default(),
                                    m.what
                                );
                                Some(("failure".into(), m.what.clone(), detail))
                            }
                        };
                        cases.push((c, body));
                    }
                    if r.counters_checked > 0 || !r.counter_mismatches.is_empty() {
                        let mut c = BytesStart::new("testcase");
                        c.push_attribute((
                            "classname",
                            format!("validate.{name}.counters").as_str(),
                        ));
                        c.push_attribute(("name", "counters"));
                        tests += 1;
                        let body = (!r.counter_mismatches.is_empty()).then(|| {
                            failures += 1;
                            (
                                "failure".to_string(),
                                format!("{} counter slots differ", r.counter_mismatches.len()),
                                r.counter_mismatches.join("\n"),
                            )
                        });
                        cases.push((c, body));
                    }
                }
            }
            totals.0 += tests;
            totals.1 += failures;
            totals.2 += skipped;
            let mut s = BytesStart::new("testsuite");
            s.push_attribute((
                "name",
                format!("validate {} on {name}", self.module.name).as_str(),
            ));
            s.push_attribute(("tests", tests.to_string().as_str()));
            s.push_attribute(("failures", failures.to_string().as_str()));
            s.push_attribute(("errors", "0"));
            s.push_attribute(("skipped", skipped.to_string().as_str()));
            s.push_attribute(("time", format!("{time:.3}").as_str()));
            suites.push((s, cases));
        }
        let mut root = BytesStart::new("testsuites");
        root.push_attribute((
            "name",
            format!("offloadctl validate {}", self.module.name).as_str(),
        ));
        root.push_attribute(("tests", totals.0.to_string().as_str()));
        root.push_attribute(("failures", totals.1.to_string().as_str()));
        root.push_attribute(("errors", "0"));
        root.push_attribute(("skipped", totals.2.to_string().as_str()));
        ev(&mut w, Event::Start(root));
        for (s, cases) in suites {
            ev(&mut w, Event::Start(s));
            for (c, body) in cases {
                match body {
                    None => ev(&mut w, Event::Empty(c)),
                    Some((kind, message, text)) => {
                        ev(&mut w, Event::Start(c));
                        let mut b = BytesStart::new(kind.as_str());
                        b.push_attribute(("message", message.as_str()));
                        if text.is_empty() {
                            ev(&mut w, Event::Empty(b));
                        } else {
                            ev(&mut w, Event::Start(b));
                            ev(&mut w, Event::Text(BytesText::new(&text)));
                            ev(&mut w, Event::End(BytesEnd::new(kind.as_str())));
                        }
                        ev(&mut w, Event::End(BytesEnd::new("testcase")));
                    }
                }
            }
            ev(&mut w, Event::End(BytesEnd::new("testsuite")));
        }
        ev(&mut w, Event::End(BytesEnd::new("testsuites")));
        let mut s = String::from_utf8(w.into_inner()).unwrap_or_default();
        s.push('\n');
        s
    }
}
