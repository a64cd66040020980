//! A P4 syntax sanity check that needs no compiler: brackets balance, and
//! every identifier the program uses is declared in it, is a keyword, or is
//! declared by the architecture's include files.
//!
//! It is deliberately simple (a tokenizer and a few declaration patterns),
//! not a parser: its job is to catch a broken generator in the normal test
//! run — a renamed field, a missing action, an unbalanced block — where p4c
//! is not installed. p4c remains the real judge.

use crate::arch::Arch;
use std::collections::BTreeSet;

const KEYWORDS: &[&str] = &[
    "action",
    "actions",
    "apply",
    "bit",
    "bool",
    "const",
    "control",
    "default",
    "default_action",
    "else",
    "exact",
    "false",
    "header",
    "if",
    "in",
    "inout",
    "key",
    "lpm",
    "out",
    "parser",
    "range",
    "return",
    "select",
    "size",
    "state",
    "struct",
    "table",
    "ternary",
    "transition",
    "true",
    "typedef",
    "varbit",
    "counters",
    "accept",
    "reject",
    "error",
];

/// Identifiers of core.p4 that every program may use.
const CORE: &[&str] = &[
    "packet_in",
    "packet_out",
    "extract",
    "emit",
    "lookahead",
    "advance",
    "isValid",
    "setValid",
    "setInvalid",
    "apply",
    "hit",
    "miss",
    "NoAction",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num,
    Punct(char),
}

fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let t = line.trim_start();
        if t.starts_with('#') {
            out.push('\n');
            continue;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn tokenize(src: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let cs: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let s = i;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Ident(cs[s..i].iter().collect()));
        } else if c.is_ascii_digit() {
            // Sized literals like 104w0xc0 are one number.
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Num);
        } else {
            toks.push(Tok::Punct(c));
            i += 1;
        }
    }
    toks
}

/// Checks `source`; `Err` lists every problem found.
pub fn check(source: &str, arch: Arch) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let code = strip_comments(source);

    // Brackets.
    let mut stack: Vec<(char, usize)> = Vec::new();
    for (ln, line) in code.lines().enumerate() {
        for c in line.chars() {
            match c {
                '(' | '{' | '[' => stack.push((c, ln + 1)),
                ')' | '}' | ']' => {
                    let want = match c {
                        ')' => '(',
                        '}' => '{',
                        _ => '[',
                    };
                    match stack.pop() {
                        Some((o, _)) if o == want => {}
                        Some((o, l)) => problems.push(format!(
                            "line {}: `{c}` closes `{o}` opened on line {l}",
                            ln + 1
                        )),
                        None => problems.push(format!("line {}: `{c}` closes nothing", ln + 1)),
                    }
                }
                _ => {}
            }
        }
    }
    for (o, l) in stack {
        problems.push(format!("line {l}: `{o}` is never closed"));
    }

    // Declarations.
    let toks = tokenize(&code);
    let ident = |i: usize| match toks.get(i) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let punct = |i: usize, c: char| matches!(toks.get(i), Some(Tok::Punct(p)) if *p == c);
    let mut declared: BTreeSet<String> = BTreeSet::new();
    for i in 0..toks.len() {
        let Some(id) = ident(i) else { continue };
        match id {
            "header" | "struct" | "action" | "table" | "state" | "parser" | "control" => {
                if let Some(n) = ident(i + 1) {
                    declared.insert(n.to_string());
                }
            }
            "typedef" | "const" => {
                // The name is the last identifier before `(`, `;` or `=`.
                let mut j = i + 1;
                let mut last = None;
                while j < toks.len() && !punct(j, '(') && !punct(j, ';') && !punct(j, '=') {
                    if let Some(n) = ident(j) {
                        last = Some(n);
                    }
                    j += 1;
                }
                if let Some(n) = last {
                    declared.insert(n.to_string());
                }
            }
            _ => {}
        }
        // `<type> name` followed by `;` `,` `)` or `=` (not `==`): a field,
        // parameter, local or constant.
        let before_is_type = i > 0
            && (matches!(toks[i - 1], Tok::Ident(ref p) if !matches!(p.as_str(), "return" | "transition" | "else"))
                || punct(i - 1, '>')
                || punct(i - 1, ']'));
        let after_ends = punct(i + 1, ';')
            || punct(i + 1, ',')
            || punct(i + 1, ')')
            || (punct(i + 1, '=') && !punct(i + 2, '='));
        if before_is_type && after_ends {
            declared.insert(id.to_string());
        }
        // `Extern(args) name;`: an instance.
        if i > 0 && punct(i - 1, ')') && punct(i + 1, ';') {
            declared.insert(id.to_string());
        }
    }

    let known = |s: &str| {
        declared.contains(s)
            || KEYWORDS.contains(&s)
            || CORE.contains(&s)
            || arch.builtins().contains(&s)
    };
    let mut unknown: BTreeSet<&str> = BTreeSet::new();
    for t in &toks {
        if let Tok::Ident(s) = t {
            if !known(s) {
                unknown.insert(s);
            }
        }
    }
    for u in unknown {
        problems.push(format!("`{u}` is used but never declared"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "#include <core.p4>\nheader h_t { bit<8> f; }\nstruct s_t { h_t h; }\n\
        control C(inout s_t hdr) {\n    action a(bit<8> v) { hdr.h.f = v; }\n    apply { if (hdr.h.isValid()) { a(8w1); } }\n}\n";

    #[test]
    fn accepts_a_small_program() {
        check(OK, Arch::V1model).unwrap();
    }

    #[test]
    fn finds_undeclared_names_and_unbalanced_blocks() {
        let bad = OK.replace("hdr.h.f = v", "hdr.h.g = v");
        let errs = check(&bad, Arch::V1model).unwrap_err();
        assert!(errs.iter().any(|e| e.contains("`g`")), "{errs:?}");
        let bad = OK.replacen('}', "", 1);
        assert!(check(&bad, Arch::V1model).is_err());
        let bad = OK.replace("a(8w1)", "b(8w1)");
        let errs = check(&bad, Arch::V1model).unwrap_err();
        assert!(errs.iter().any(|e| e.contains("`b`")), "{errs:?}");
    }
}
