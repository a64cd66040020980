//! Rendering module diagnostics like a compiler does (codespan-reporting):
//! `error[E0302]: …`, the `┌─ file:line:col` location, the source snippet with
//! labels, and `= help:` notes. Also the JSON form for `--json`.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::Buffer};
use offload_core::diag::{line_col, Diagnostic, Diagnostics, Span};
use serde_json::json;
use std::io::IsTerminal;

/// Renders every diagnostic for `file`. `color` adds ANSI colours; tests and
/// golden files use `false`.
pub fn render(file: &str, source: &str, diagnostics: &Diagnostics, color: bool) -> String {
    let files = SimpleFile::new(file, source);
    let config = term::Config::default();
    let mut buf = if color {
        Buffer::ansi()
    } else {
        Buffer::no_color()
    };
    for d in diagnostics {
        let cs = to_codespan(d, source);
        if let Err(e) = term::emit(&mut buf, &config, &files, &cs) {
            // Only an out-of-range span gets here (a bug): fall back to the plain form.
            tracing::warn!("could not render diagnostic {}: {e}", d.code);
            let plain = format!("{}\n", d.render_plain(file, source));
            return String::from_utf8_lossy(buf.as_slice()).into_owned() + &plain;
        }
    }
    String::from_utf8_lossy(buf.as_slice()).into_owned()
}

/// Colours when stderr is a terminal and `NO_COLOR` is not set.
pub fn stderr_wants_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A span clamped into the source and onto char boundaries.
fn fit(span: Span, source: &str) -> std::ops::Range<usize> {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

fn to_codespan(d: &Diagnostic, source: &str) -> CsDiagnostic<()> {
    let labels = d
        .labels
        .iter()
        .enumerate()
        .map(|(i, (span, text))| {
            let range = fit(*span, source);
            let label = if i == 0 {
                Label::primary((), range)
            } else {
                Label::secondary((), range)
            };
            label.with_message(text.clone())
        })
        .collect();
    CsDiagnostic::error()
        .with_code(d.code)
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(d.notes.iter().map(|n| format!("help: {n}")).collect())
}

fn location(source: &str, span: Span) -> serde_json::Value {
    let (line, column) = line_col(source, span.start);
    let (end_line, end_column) = line_col(source, span.end);
    json!({
        "line": line, "column": column, "end_line": end_line, "end_column": end_column,
        "start": span.start, "end": span.end,
    })
}

/// The `--json` form of diagnostics: one object per diagnostic with the
/// primary location flattened in (`file`, `line`, `column`, …).
pub fn to_json(file: &str, source: &str, diagnostics: &Diagnostics) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let span = d.primary_span().unwrap_or_default();
            let (line, column) = line_col(source, span.start);
            let labels: Vec<serde_json::Value> = d
                .labels
                .iter()
                .map(|(s, text)| {
                    let mut l = location(source, *s);
                    l["message"] = json!(text);
                    l
                })
                .collect();
            json!({
                "file": file, "line": line, "column": column,
                "code": d.code, "message": d.message,
                "labels": labels, "notes": d.notes,
            })
        })
        .collect();
    json!(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_snippet_and_help() {
        let src = "[module]\nname = \"x\"\n\n[[table]]\nname = \"t\"\nkeys = [{ field = \"ipv4.scr\", match = \"exact\" }]\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = []\n";
        let ds = offload_core::spec::compile(src).unwrap_err();
        let out = render("m.toml", src, &ds, false);
        assert!(
            out.contains("error[E0302]: header `ipv4` has no field `scr`"),
            "{out}"
        );
        assert!(out.contains("m.toml:6:19"), "{out}");
        assert!(out.contains("help: did you mean `ipv4.src`?"), "{out}");
        assert!(!out.contains('\u{1b}'));
        assert!(render("m.toml", src, &ds, true).contains('\u{1b}'));
        let j = to_json("m.toml", src, &ds);
        assert_eq!(j[0]["line"], 6);
        assert_eq!(j[0]["column"], 19);
        assert_eq!(j[0]["code"], "E0302");
    }

    #[test]
    fn spans_off_char_boundaries_or_past_the_end_do_not_panic() {
        let src = "é = 1";
        let ds = Diagnostics(vec![
            Diagnostic::new("E9999", "x")
                .with_label(Span::new(1, 1), "mid-char")
                .with_note("n"),
            Diagnostic::new("E9999", "y")
                .with_label(Span::new(50, 60), "past end")
                .with_note("n"),
        ]);
        let out = render("f", src, &ds, false);
        assert!(out.contains("E9999"));
    }
}
