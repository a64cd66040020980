//! Verifier refusals explained in the module's terms: the failing
//! instruction's table/action and file:line, plus the log lines that matter.

use super::Compiled;
use offload_core::diag::line_col;

/// Instruction index at the start of a verifier log line (`123: (bf) r1 = r6`).
fn insn_of(line: &str) -> Option<usize> {
    let (n, rest) = line.split_once(':')?;
    if !rest.starts_with(" (") {
        return None;
    }
    n.trim().parse().ok()
}

impl Compiled {
    /// A short report for a verifier log: which module node the last
    /// instruction the verifier looked at belongs to (with `file:line` when
    /// the module source is given), then the log's last instruction lines and
    /// its error message — never the whole log.
    pub fn explain_verifier_log(&self, log: &str, source: Option<(&str, &str)>) -> String {
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        let last = lines.iter().rposition(|l| insn_of(l).is_some());
        let mut out = String::new();
        match last.and_then(|i| insn_of(lines[i])) {
            Some(insn) => {
                let node = self.node_at(insn);
                let what = node
                    .map(|n| n.describe())
                    .unwrap_or_else(|| "the prologue".into());
                out.push_str(&format!(
                    "the kernel verifier refused instruction {insn} ({what})"
                ));
                if let (Some(n), Some((file, text))) = (node, source) {
                    if n.span.end > n.span.start {
                        let (l, c) = line_col(text, n.span.start);
                        out.push_str(&format!(" defined at {file}:{l}:{c}"));
                    }
                }
                out.push('\n');
            }
            None => out.push_str("the kernel verifier refused the program\n"),
        }
        // The last few instruction lines and everything after them (the error).
        let from = last
            .map(|i| i.saturating_sub(4))
            .unwrap_or(lines.len().saturating_sub(6));
        for l in &lines[from..] {
            if l.starts_with("verification time")
                || l.starts_with("processed ")
                || l.starts_with("stack depth")
            {
                continue;
            }
            out.push_str("  | ");
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}
