//! Reads the guest's serial console into results.
//!
//! The guest's `/init` (`lab/vm/init.sh`) prints one marker line per event:
//! `@@LAB info KEY VALUE…`, `@@LAB begin NAME`, `@@LAB result NAME pass|fail|skip DETAIL…`,
//! `@@LAB done`. Lines between `begin` and `result` are that check's output. The host adds
//! checks of its own about the run: the guest reached `/init`, finished every scenario, and its
//! kernel printed no warning, BUG, oops or panic.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Failed, and listed in `lab/vm/known-failures.txt` with the reason: reported, not fatal.
    Known,
    Skip,
}

impl Outcome {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "pass" => Some(Self::Pass),
            "known" => Some(Self::Known),
            "fail" => Some(Self::Fail),
            "skip" => Some(Self::Skip),
            _ => None,
        }
    }
}

/// One check and what it printed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckResult {
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
    pub output: Vec<String>,
    /// Guest seconds the check took (`@@LAB time`), when the guest said.
    pub secs: Option<f64>,
}

/// Everything read from one boot.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<CheckResult>,
    /// `@@LAB info` lines, in order.
    pub info: Vec<(String, String)>,
}

/// Console lines that mean the guest kernel itself went wrong.
const KERNEL_TROUBLE: [&str; 6] = [
    "WARNING: CPU:",
    "BUG:",
    "Oops:",
    "Kernel panic",
    "general protection fault",
    "Call Trace:",
];

impl Report {
    /// Parses the console. `timed_out` comes from the runner (the guest was killed).
    pub fn parse(serial: &str, timed_out: bool) -> Self {
        let mut r = Report::default();
        let mut open: Option<(String, Vec<String>)> = None;
        let mut reached_init = false;
        let mut done = false;
        let mut trouble = Vec::new();
        for line in serial.lines() {
            let Some(marker) = line.trim_start().strip_prefix("@@LAB ") else {
                if KERNEL_TROUBLE.iter().any(|t| line.contains(t)) {
                    trouble.push(line.trim().to_string());
                }
                if let Some((_, out)) = open.as_mut() {
                    out.push(line.to_string());
                }
                continue;
            };
            let mut words = marker.splitn(2, ' ');
            let (kind, rest) = (
                words.next().unwrap_or(""),
                words.next().unwrap_or("").trim(),
            );
            match kind {
                "info" => {
                    reached_init = true;
                    let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                    r.info.push((k.to_string(), v.trim().to_string()));
                }
                "begin" => {
                    reached_init = true;
                    if let Some((name, output)) = open.take() {
                        r.push(
                            name,
                            Outcome::Fail,
                            "no result line before the next check began".into(),
                            output,
                        );
                    }
                    open = Some((rest.to_string(), Vec::new()));
                }
                "result" => {
                    let mut f = rest.splitn(3, ' ');
                    let name = f.next().unwrap_or("").to_string();
                    let outcome = f.next().and_then(Outcome::parse);
                    let detail = f.next().unwrap_or("").trim().to_string();
                    let output = match open.take() {
                        Some((n, out)) if n == name => out,
                        Some((n, out)) => {
                            r.push(
                                n,
                                Outcome::Fail,
                                format!("ended by the result of `{name}`"),
                                out,
                            );
                            Vec::new()
                        }
                        None => Vec::new(),
                    };
                    match outcome {
                        Some(o) => r.push(name, o, detail, output),
                        None => r.push(
                            name,
                            Outcome::Fail,
                            format!("unreadable result line: {marker}"),
                            output,
                        ),
                    }
                }
                "time" => {
                    let (name, secs) = rest.split_once(' ').unwrap_or((rest, ""));
                    if let Some(c) = r.checks.iter_mut().rev().find(|c| c.name == name) {
                        c.secs = secs.trim().parse().ok();
                    }
                }
                "done" => done = true,
                _ => {}
            }
        }
        if let Some((name, output)) = open.take() {
            r.push(
                name,
                Outcome::Fail,
                "the guest stopped during this check (see its output)".into(),
                output,
            );
        }
        let (o, d) = if reached_init {
            (Outcome::Pass, String::new())
        } else {
            (
                Outcome::Fail,
                "no @@LAB line: the guest never ran /init".into(),
            )
        };
        r.checks.insert(
            0,
            CheckResult {
                name: "vm.reached_init".into(),
                outcome: o,
                detail: d,
                output: Vec::new(),
                secs: None,
            },
        );
        let (o, d) = match (done, timed_out) {
            (true, _) => (Outcome::Pass, String::new()),
            (false, true) => (Outcome::Fail, "timed out before `@@LAB done`".into()),
            (false, false) => (
                Outcome::Fail,
                "the guest stopped before `@@LAB done` (crash or panic?)".into(),
            ),
        };
        r.push("vm.all_scenarios_ran".into(), o, d, Vec::new());
        let (o, d) = if trouble.is_empty() {
            (Outcome::Pass, String::new())
        } else {
            (Outcome::Fail, trouble[0].clone())
        };
        r.push("vm.kernel_clean".into(), o, d, trouble);
        r
    }

    fn push(&mut self, name: String, outcome: Outcome, detail: String, output: Vec<String>) {
        self.checks.push(CheckResult {
            name,
            outcome,
            detail,
            output,
            secs: None,
        });
    }

    pub fn count(&self, o: Outcome) -> usize {
        self.checks.iter().filter(|c| c.outcome == o).count()
    }

    /// No check failed.
    pub fn ok(&self) -> bool {
        self.count(Outcome::Fail) == 0
    }

    /// The first value of info `key`.
    pub fn info(&self, key: &str) -> Option<&str> {
        self.info
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Marks the failed checks listed in `known` (pattern, reason) as [`Outcome::Known`], and
    /// notes on passing ones (exact entries only) that the entry can go. A pattern is a check
    /// name, or a prefix ending in `*`.
    pub fn apply_known(&mut self, known: &[(String, String)]) {
        for c in &mut self.checks {
            let Some((pat, why)) = known.iter().find(|(p, _)| pattern_matches(p, &c.name)) else {
                continue;
            };
            match c.outcome {
                Outcome::Fail => {
                    c.outcome = Outcome::Known;
                    c.detail = format!("known: {why} [{}]", c.detail);
                }
                // Only an exact entry is reported as fixed: a prefix entry covers a group
                // whose members may pass or fail from run to run.
                Outcome::Pass if !pat.ends_with('*') => {
                    c.detail = format!("passes now: remove `{pat}` from lab/vm/known-failures.txt");
                }
                _ => {}
            }
        }
    }

    /// Passing checks that are still listed as known failures.
    pub fn fixed_known(&self) -> Vec<&CheckResult> {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Pass && c.detail.starts_with("passes now:"))
            .collect()
    }

    /// The check × outcome matrix, one row per check, failures and skips with their reason.
    pub fn matrix(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:width$}  pass  fail known  skip   secs  detail",
            "check"
        );
        for c in &self.checks {
            let mark = |o| if c.outcome == o { "   x  " } else { "   .  " };
            let secs = c.secs.map_or(String::new(), |t| format!("{t:.1}"));
            let _ = writeln!(
                s,
                "{:width$}{}{}{}{}{:>6}  {}",
                c.name,
                mark(Outcome::Pass),
                mark(Outcome::Fail),
                mark(Outcome::Known),
                mark(Outcome::Skip),
                secs,
                c.detail
            );
        }
        s
    }

    /// The output of every failed check, for the person reading a red run.
    pub fn failures(&self) -> String {
        let mut s = String::new();
        for c in self.checks.iter().filter(|c| c.outcome == Outcome::Fail) {
            let _ = writeln!(s, "--- {} failed: {}", c.name, c.detail);
            for l in c
                .output
                .iter()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                let _ = writeln!(s, "{l}");
            }
        }
        s
    }
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Parses `lab/vm/known-failures.txt`: `PATTERN  REASON` per line, `#` comments. A line without
/// a reason is an error (an unexplained known failure is just a hidden failure).
pub fn parse_known(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match t.split_once(char::is_whitespace) {
            Some((p, why)) if !why.trim().is_empty() => {
                out.push((p.to_string(), why.trim().to_string()))
            }
            _ => {
                return Err(format!(
                    "known-failures.txt:{}: `{t}` needs a reason after the check name",
                    i + 1
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[    0.000000] Linux version 6.1
@@LAB info kernel 6.1.176
@@LAB begin lab.a
$ true
    (exit 0)
@@LAB result lab.a pass
@@LAB time lab.a 0.25
@@LAB begin lab.b
$ false
    boom
    (exit 1)
@@LAB result lab.b fail exit 1: false
@@LAB begin lab.c
@@LAB result lab.c skip offloadctl has no probe yet
@@LAB done
";

    fn outcomes(r: &Report) -> Vec<(&str, Outcome)> {
        r.checks
            .iter()
            .map(|c| (c.name.as_str(), c.outcome))
            .collect()
    }

    #[test]
    fn a_complete_run_is_read_into_checks() {
        let r = Report::parse(CONSOLE, false);
        assert_eq!(
            outcomes(&r),
            vec![
                ("vm.reached_init", Outcome::Pass),
                ("lab.a", Outcome::Pass),
                ("lab.b", Outcome::Fail),
                ("lab.c", Outcome::Skip),
                ("vm.all_scenarios_ran", Outcome::Pass),
                ("vm.kernel_clean", Outcome::Pass),
            ]
        );
        assert_eq!(r.checks[2].detail, "exit 1: false");
        assert_eq!((r.checks[1].secs, r.checks[2].secs), (Some(0.25), None));
        assert_eq!(
            r.checks[2].output,
            vec!["$ false", "    boom", "    (exit 1)"]
        );
        assert_eq!(r.info("kernel"), Some("6.1.176"));
        assert!(!r.ok());
        assert!(r.matrix().contains("lab.c"));
        assert!(r.failures().contains("boom"));
    }

    #[test]
    fn a_guest_that_dies_mid_check_fails_that_check_and_the_run() {
        let serial = "@@LAB info kernel 6.1\n@@LAB begin lab.a\n$ bpftool prog show\nBUG: kernel NULL pointer dereference\nKernel panic - not syncing\n";
        let r = Report::parse(serial, false);
        assert_eq!(
            outcomes(&r),
            vec![
                ("vm.reached_init", Outcome::Pass),
                ("lab.a", Outcome::Fail),
                ("vm.all_scenarios_ran", Outcome::Fail),
                ("vm.kernel_clean", Outcome::Fail),
            ]
        );
        assert!(r.checks[3].detail.starts_with("BUG:"));
    }

    #[test]
    fn known_failures_do_not_fail_the_run_and_fixed_ones_are_noted() {
        let mut r = Report::parse(CONSOLE, false);
        let known = parse_known("# c\nlab.b*  bug 12: refused\nlab.a  was broken\n").unwrap();
        r.apply_known(&known);
        assert!(r.ok());
        assert_eq!(r.checks[2].outcome, Outcome::Known);
        assert_eq!(r.checks[2].detail, "known: bug 12: refused [exit 1: false]");
        assert_eq!(r.fixed_known().len(), 1);
        assert!(r.checks[1].detail.contains("remove `lab.a`"));
        assert!(parse_known("lab.b\n").is_err());
    }

    #[test]
    fn no_markers_at_all_is_a_failed_boot() {
        let r = Report::parse("[qemu] could not load kernel\n", true);
        assert_eq!(r.count(Outcome::Fail), 2);
        assert_eq!(r.checks[0].name, "vm.reached_init");
        assert!(r.checks[1].detail.contains("timed out"));
    }
}
