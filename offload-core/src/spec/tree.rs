//! TOML text → a generic value tree where every value and key carries a span.
//!
//! We deserialize with serde + toml into our own tree instead of into typed
//! structs: serde's derive stops at the first error, while a module author
//! wants every mistake at once. The typed view is built from this tree by
//! [`super::read`], which collects diagnostics as it goes.
//!
//! Spans come from toml's span protocol (`serde_spanned`): we ask for a
//! spanned value at every level. toml gives spans for every value and key it
//! parsed, but not for implicit tables (`entry` in `[[entry.acl]]`); those
//! fall back to their key's span, so every node ends up with a location.

use crate::diag::{codes, Diagnostic, Span};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_spanned::__unstable as spanned;
use std::fmt;

/// A key of a TOML table with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// A TOML value with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Value>),
    /// Entries in document order (toml keeps insertion order).
    Table(Vec<(Key, Value)>),
}

impl Kind {
    /// How this kind is named in "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Datetime(_) => "a date-time",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

/// Deepest nesting accepted: brackets/braces plus the dots of a dotted key.
/// toml's own limit (80) would be reached only after using 1–2 MiB of stack
/// in a debug build (measured), too close to a 2 MiB thread stack; a module
/// never needs more than 4 levels.
pub const MAX_NESTING: usize = 16;

/// Parses `source` as TOML. The root is always a table spanning the whole text.
pub fn parse(source: &str) -> Result<Value, Diagnostic> {
    check_nesting(source)?;
    let raw: Located = toml::from_str(source).map_err(|e| syntax_error(source, &e))?;
    let root_span = Span::new(0, source.len());
    Ok(resolve(raw, root_span, source.len()))
}

/// Refuses nesting deeper than [`MAX_NESTING`] before toml recurses into it.
/// A light scan: skips comments and all four string forms, counts `[`/`{`
/// depth and dots between separators. It only needs to be exact for valid
/// TOML; on anything else toml reports the real error.
fn check_nesting(source: &str) -> Result<(), Diagnostic> {
    let b = source.as_bytes();
    let (mut i, mut depth, mut dots) = (0usize, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') => {
                let triple = b[i..].starts_with(if q == b'"' { b"\"\"\"" } else { b"'''" });
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if !triple && b[i] == b'\n' {
                        break;
                    }
                    if b[i] == q && (!triple || b[i..].starts_with(&[q, q, q])) {
                        i += if triple { 3 } else { 1 };
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                dots = 0;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                dots = 0;
            }
            b'.' => dots += 1,
            b'=' | b',' | b'\n' => dots = 0,
            _ => {}
        }
        if depth + dots > MAX_NESTING {
            let at = Span::new(i, i + 1);
            return Err(Diagnostic::new(
                codes::SYNTAX,
                format!("nesting deeper than {MAX_NESTING} levels"),
            )
            .with_label(at, "too deep")
            .with_note(format!(
                "arrays, tables and dotted keys may nest at most {MAX_NESTING} levels; a module never needs more than 4"
            )));
        }
        i += 1;
    }
    Ok(())
}

fn syntax_error(source: &str, e: &toml::de::Error) -> Diagnostic {
    let span = e
        .span()
        .map(|r| clamp(Span::from(r), source.len()))
        .unwrap_or_default();
    // toml's message is the reason, then what it expected, on separate lines.
    let lines: Vec<&str> = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = lines.first().copied().unwrap_or("invalid TOML");
    let label = lines
        .get(1..)
        .filter(|r| !r.is_empty())
        .map_or(message.to_string(), |r| r.join("; "));
    let mut d =
        Diagnostic::new(codes::SYNTAX, format!("invalid TOML: {message}")).with_label(span, label);
    d = if message.contains("recursion limit") {
        d.with_note("arrays and tables may nest at most about 80 levels deep; a module never needs more than 4")
    } else {
        d.with_note("fix the TOML syntax here; see https://toml.io/en/v1.0.0 for the format")
    };
    d
}

fn clamp(s: Span, len: usize) -> Span {
    let start = s.start.min(len);
    Span::new(start, s.end.clamp(start, len))
}

/// Turns the optional spans of the raw tree into definite ones.
fn resolve(raw: Located, fallback: Span, len: usize) -> Value {
    let span = raw.span.map(|s| clamp(s, len)).unwrap_or(fallback);
    let kind = match raw.node {
        Node::Str(s) => Kind::Str(s),
        Node::Int(i) => Kind::Int(i),
        Node::Float(f) => Kind::Float(f),
        Node::Bool(b) => Kind::Bool(b),
        Node::Datetime(d) => Kind::Datetime(d),
        Node::Array(items) => {
            Kind::Array(items.into_iter().map(|v| resolve(v, span, len)).collect())
        }
        Node::Table(entries) => Kind::Table(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let kspan = k.span.map(|s| clamp(s, len)).unwrap_or(span);
                    let value = resolve(v, kspan, len);
                    (
                        Key {
                            name: k.name,
                            span: kspan,
                        },
                        value,
                    )
                })
                .collect(),
        ),
    };
    Value { kind, span }
}

// ---- raw tree, as serde hands it to us -------------------------------------

struct Located {
    node: Node,
    span: Option<Span>,
}

struct RawKey {
    name: String,
    span: Option<Span>,
}

enum Node {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Located>),
    Table(Vec<(RawKey, Located)>),
}

const SPANNED_FIELDS: &[&str] = &[
    spanned::START_FIELD,
    spanned::END_FIELD,
    spanned::VALUE_FIELD,
];
/// toml hands date-times over as a one-field table with this key.
const DATETIME_FIELD: &str = "$__toml_private_datetime";

impl<'de> de::Deserialize<'de> for Located {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Asking for the magic struct makes toml wrap the value with its span
        // when it has one; otherwise it hands the plain value to the visitor.
        d.deserialize_struct(spanned::NAME, SPANNED_FIELDS, NodeVisitor)
    }
}

/// Deserializes a value without asking for a span (the inside of a spanned wrapper).
struct PlainNode;

impl<'de> DeserializeSeed<'de> for PlainNode {
    type Value = Located;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Located, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl NodeVisitor {
    fn plain(node: Node) -> Located {
        Located { node, span: None }
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Located;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Located, E> {
        Ok(Self::plain(Node::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Located, E> {
        Ok(Self::plain(Node::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Located, E> {
        // TOML integers are i64; saturate rather than fail if a deserializer widens.
        Ok(Self::plain(Node::Int(i64::try_from(v).unwrap_or(i64::MAX))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Located, E> {
        Ok(Self::plain(Node::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Located, E> {
        Ok(Self::plain(Node::Str(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Located, E> {
        Ok(Self::plain(Node::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Located, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Located>()? {
            items.push(item);
        }
        Ok(Self::plain(Node::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Located, A::Error> {
        // Either toml's span wrapper (first key is the magic start field) or a
        // real table whose own span toml does not know.
        let first = match map.next_key_seed(KeySeed)? {
            None => return Ok(Self::plain(Node::Table(Vec::new()))),
            Some(k) => k,
        };
        if first.span.is_none() && first.name == spanned::START_FIELD {
            let start: usize = map.next_value()?;
            let mut end = start;
            let mut inner = None;
            while let Some(k) = map.next_key_seed(KeySeed)? {
                if k.name == spanned::END_FIELD {
                    end = map.next_value()?;
                } else if k.name == spanned::VALUE_FIELD {
                    inner = Some(map.next_value_seed(PlainNode)?);
                } else {
                    return Err(de::Error::custom("malformed spanned value"));
                }
            }
            let mut v = inner.ok_or_else(|| de::Error::custom("spanned value without value"))?;
            v.span = Some(Span::new(start, end.max(start)));
            return Ok(v);
        }
        if first.span.is_none() && first.name == DATETIME_FIELD {
            let s: String = map.next_value()?;
            return Ok(Self::plain(Node::Datetime(s)));
        }
        let mut entries = Vec::new();
        let v = map.next_value::<Located>()?;
        entries.push((first, v));
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value::<Located>()?;
            entries.push((k, v));
        }
        Ok(Self::plain(Node::Table(entries)))
    }
}

/// A table key, with its span when toml has one.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = RawKey;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawKey, D::Error> {
        d.deserialize_struct(spanned::NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = RawKey;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKey, E> {
        Ok(RawKey {
            name: v.to_string(),
            span: None,
        })
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawKey, E> {
        Ok(RawKey {
            name: v,
            span: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKey, A::Error> {
        let (mut start, mut end, mut name) = (0usize, 0usize, None);
        while let Some(k) = map.next_key::<String>()? {
            if k == spanned::START_FIELD {
                start = map.next_value()?;
            } else if k == spanned::END_FIELD {
                end = map.next_value()?;
            } else if k == spanned::VALUE_FIELD {
                name = Some(map.next_value::<String>()?);
            } else {
                return Err(de::Error::custom("malformed spanned key"));
            }
        }
        let name = name.ok_or_else(|| de::Error::custom("spanned key without value"))?;
        Ok(RawKey {
            name,
            span: Some(Span::new(start, end.max(start))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(v: &Value) -> &[(Key, Value)] {
        match &v.kind {
            Kind::Table(t) => t,
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn spans_cover_keys_and_values() {
        let src = "[module]\nname = \"x\"\n[[table]]\nname = \"t\"\nkeys = [{ field = \"eth.dst\", match = \"exact\" }]\n[action.a]\ndo = [\"drop\"]\n[[entry.t]]\nmatch = { \"eth.dst\" = \"02:00:00:00:00:01\" }\nwhen = 1979-05-27T07:32:00Z\n";
        let root = parse(src).unwrap();
        let top = table(&root);
        let names: Vec<&str> = top.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["module", "table", "action", "entry"]);
        for (k, v) in top {
            assert_eq!(&src[k.span.start..k.span.end], k.name);
            assert!(v.span.end <= src.len());
        }
        let module = table(&top[0].1);
        assert_eq!(&src[module[0].1.span.start..module[0].1.span.end], "\"x\"");
        // Implicit table `entry` falls back to its key's span.
        let entry = &top[3];
        assert_eq!(&src[entry.1.span.start..entry.1.span.end], "entry");
        let Kind::Table(t) = &entry.1.kind else {
            panic!()
        };
        let Kind::Array(es) = &t[0].1.kind else {
            panic!()
        };
        let e = table(&es[0]);
        assert!(matches!(e[1].1.kind, Kind::Datetime(_)));
    }

    #[test]
    fn syntax_error_has_span() {
        let src = "[module]\nname = \n";
        let d = parse(src).unwrap_err();
        assert_eq!(d.code, codes::SYNTAX);
        let s = d.primary_span().unwrap();
        assert!(s.end <= src.len());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let src = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let d = parse(&src).unwrap_err();
        assert!(d.message.contains("nesting"), "{}", d.message);
        assert_eq!(
            d.primary_span(),
            Some(Span::new(4 + MAX_NESTING, 5 + MAX_NESTING))
        );
        let src = format!("x = {}1{}", "{a=".repeat(5000), "}".repeat(5000));
        assert!(parse(&src).is_err());
        let src = format!("[{}]", vec!["a"; 5000].join("."));
        assert!(parse(&src).is_err());
        // Brackets, braces and dots inside strings and comments do not count.
        let deep = "[".repeat(100);
        let src = format!("a = \"{deep}\"\nb = '{deep}'\nc = \"\"\"\n{deep}\n\"\"\"\nd = '''{deep}'''\n# {deep}\ne = \"\\\"{deep}\"\nf = \"{}\"\n", ".".repeat(100));
        assert!(parse(&src).is_ok(), "{:?}", parse(&src).err());
        // Exactly at the limit is fine.
        let src = format!("x = {}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(parse(&src).is_ok());
    }
}
