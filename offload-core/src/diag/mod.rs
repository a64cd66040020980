//! Diagnostics: what is wrong with a user's module, where, and how to fix it.
//!
//! Spans are byte ranges into the module's source text. Rendering (colours,
//! source snippets) is done by the binary; here a diagnostic is plain data.

pub mod codes;

use std::fmt;

/// A byte range `[start, end)` into the module source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

impl From<std::ops::Range<usize>> for Span {
    fn from(r: std::ops::Range<usize>) -> Self {
        Span::new(r.start, r.end)
    }
}

/// 1-based line and column of a byte offset in `source` (columns count chars).
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let mut line = 1;
    let mut col = 1;
    for (i, ch) in source.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// One mistake in a module. `code` is stable (e.g. `E0101`) so scripts and
/// docs can refer to it; `labels` point into the source; `notes` say how to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<(Span, String)>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push((span, text.into()));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The primary location (first label), if any.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|(s, _)| *s)
    }

    /// `file:line:col: error[code]: message` plus notes, without source snippets.
    /// The binary renders richer output; this form is for logs and tests.
    pub fn render_plain(&self, file: &str, source: &str) -> String {
        let mut out = String::new();
        match self.primary_span() {
            Some(span) => {
                let (l, c) = line_col(source, span.start);
                out.push_str(&format!(
                    "{file}:{l}:{c}: error[{}]: {}",
                    self.code, self.message
                ));
            }
            None => out.push_str(&format!("{file}: error[{}]: {}", self.code, self.message)),
        }
        for (span, text) in self.labels.iter().skip(1) {
            let (l, c) = line_col(source, span.start);
            out.push_str(&format!("\n  {file}:{l}:{c}: {text}"));
        }
        for note in &self.notes {
            out.push_str(&format!("\n  = help: {note}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)
    }
}

/// All the mistakes found in one module (collected, not fail-fast).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} error(s) in module", .0.len())]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Every diagnostic in plain form ([`Diagnostic::render_plain`]), one per line group.
    pub fn render_plain(&self, file: &str, source: &str) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|d| d.render_plain(file, source))
            .collect();
        parts.join("\n")
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
