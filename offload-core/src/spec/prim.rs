//! The text of one primitive in an action's `do` list: `name` or `name(arg, ...)`.
//!
//! Only the shape is read here; names and arguments are resolved by
//! [`super::lower`]. Byte ranges are relative to the primitive's text so
//! diagnostics can point inside the string.

use std::ops::Range;

/// The primitives and their argument names, in the order the reference lists them.
pub const PRIMITIVES: &[(&str, &[&str])] = &[
    ("drop", &[]),
    ("pass", &[]),
    ("tx", &[]),
    ("forward", &["port"]),
    ("set", &["field", "value"]),
    ("dec_ttl", &[]),
    ("push_vlan", &["vid"]),
    ("pop_vlan", &[]),
    ("vxlan_encap", &["dmac", "smac", "src", "dst", "vni"]),
    ("vxlan_decap", &[]),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimText<'a> {
    pub name: &'a str,
    pub name_at: Range<usize>,
    pub args: Vec<(&'a str, Range<usize>)>,
    /// Range of the whole text without surrounding whitespace.
    pub all: Range<usize>,
}

/// A malformed primitive: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimSyntaxError {
    pub at: Range<usize>,
    pub message: String,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn split(text: &str) -> Result<PrimText<'_>, PrimSyntaxError> {
    let start = text.len() - text.trim_start().len();
    let end = text.trim_end().len();
    if start >= end {
        return Err(PrimSyntaxError {
            at: 0..text.len(),
            message: "empty primitive".into(),
        });
    }
    let body = &text[start..end];
    let name_len = body.find(|c: char| !is_ident_char(c)).unwrap_or(body.len());
    if name_len == 0 {
        return Err(PrimSyntaxError {
            at: start..end,
            message: format!("`{body}` does not start with a primitive name"),
        });
    }
    let name_at = start..start + name_len;
    let name = &text[name_at.clone()];
    let rest = &text[name_at.end..end];
    let rest_trim = rest.trim_start();
    let open = name_at.end + (rest.len() - rest_trim.len());
    if rest_trim.is_empty() {
        return Ok(PrimText {
            name,
            name_at,
            args: Vec::new(),
            all: start..end,
        });
    }
    if !rest_trim.starts_with('(') {
        return Err(PrimSyntaxError {
            at: open..end,
            message: format!(
                "unexpected `{rest_trim}` after `{name}`; arguments go in parentheses"
            ),
        });
    }
    if !rest_trim.ends_with(')') || rest_trim.len() < 2 {
        return Err(PrimSyntaxError {
            at: open..end,
            message: "missing `)` at the end".into(),
        });
    }
    let inner_start = open + 1;
    let inner = &text[inner_start..end - 1];
    if let Some(i) = inner.find(['(', ')']) {
        return Err(PrimSyntaxError {
            at: inner_start + i..inner_start + i + 1,
            message: "unexpected parenthesis inside the arguments".into(),
        });
    }
    let mut args = Vec::new();
    if !inner.trim().is_empty() {
        let mut pos = inner_start;
        for part in inner.split(',') {
            let lead = part.len() - part.trim_start().len();
            let t = part.trim();
            if t.is_empty() {
                return Err(PrimSyntaxError {
                    at: pos..pos + part.len().max(1),
                    message: "empty argument".into(),
                });
            }
            args.push((t, pos + lead..pos + lead + t.len()));
            pos += part.len() + 1;
        }
    }
    Ok(PrimText {
        name,
        name_at,
        args,
        all: start..end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_and_args() {
        let p = split(" set( eth.dst , dmac) ").unwrap();
        assert_eq!(p.name, "set");
        assert_eq!(p.name_at, 1..4);
        assert_eq!(p.args, vec![("eth.dst", 6..13), ("dmac", 16..20)]);
        assert_eq!(split("drop").unwrap().args, vec![]);
        assert_eq!(split("drop()").unwrap().args, vec![]);
        assert!(split("").is_err());
        assert!(split("set(a,,b)").is_err());
        assert!(split("set(a").is_err());
        assert!(split("set a").is_err());
        assert!(split("(a)").is_err());
        assert!(split("f(g(x))").is_err());
        let e = split("forward(p) x").unwrap_err();
        assert_eq!(e.at.end, 12);
    }
}
