//! The TOML module language: source text → typed spec with spans → validated IR.
//!
//! [`compile`] is the one entry point: it returns the IR or every diagnostic
//! found (collected, not fail-fast), each with a stable code
//! ([`crate::diag::codes`]), a labelled span and a note saying how to fix it.
//!
//! Stages: [`tree`] (serde + toml → value tree with spans), [`read`] (tree →
//! [`ast`], shape errors), [`lower`] (ast → [`crate::ir::Module`], names,
//! types, literals, canonical entries). [`literal`] and [`prim`] parse the
//! small languages inside strings; [`print`] writes IR back in module syntax.
//!
//! # Language reference
//!
//! A module file has five top-level sections; any other top-level key is an
//! error (E0101, with "did you mean"). Unknown keys inside a section are
//! errors too.
//!
//! ## `[module]`
//! - `name` (required): letters, digits, `_`, `-`; starts with a letter or `_`; ≤ 64 chars.
//! - `default` (optional, `"pass"` or `"drop"`, default `"pass"`): the verdict
//!   when no stage decides.
//!
//! ## `[ports]`
//! `name = number`, one per logical port, in the order they are declared.
//! Numbers are 1..=65535 and unique; names are identifiers
//! (`[A-Za-z_][A-Za-z0-9_]*`, ≤ 64 chars; the same rule holds for table,
//! action and parameter names).
//!
//! ## `[[table]]` (at least one)
//! Stages run in file order. Keys:
//! - `name` (required, unique);
//! - `keys` (optional, default `[]`): `[{ field = "ipv4.dst", match = "lpm" }, ...]`.
//!   `match` is `exact`, `lpm`, `ternary` or `range`; `lpm` only on IPv4/IPv6
//!   address fields and at most one per table; `range` only on integer fields of
//!   ≤ 16 bits; a field appears at most once. A table with no keys always
//!   applies and runs its default action (it cannot hold entries).
//! - `actions` (required, non-empty, no repeats): the actions entries may use;
//! - `default_action` (required): `"name"` or `{ name = { param = value } }`;
//!   it must be one of `actions`;
//! - `size` (optional, 1..=1_000_000, default 1024): most entries the table holds;
//! - `counters` (optional bool, default false): per-entry and default-action
//!   packet/byte counters.
//!
//! ## `[action.NAME]`
//! - `params` (optional): `{ p = "type" }` with types `port`, `mac`, `ipv4`,
//!   `ipv6`, `u8`, `u16`, `u32` or any `uN` (N 1..=32). Parameter order is the
//!   order written.
//! - `do` (required, may be `[]`): primitives run in order:
//!   `drop`, `pass`, `tx`, `forward(P)`, `set(FIELD, V)`, `dec_ttl`,
//!   `push_vlan(V)`, `pop_vlan` (`drop()` with empty parentheses is accepted).
//!   `forward` takes a `port` parameter, a declared port name, or a declared
//!   port number (a name that is both a parameter and a port is an error).
//!   `set` writes a writable field with a parameter whose type fits it (mac →
//!   MAC fields, ipv4/ipv6 → addresses, uN with N ≤ the field width → integer
//!   fields) or a literal of the field's type. `push_vlan` takes a parameter of
//!   at most 12 bits or a literal 0..=4095. `drop`, `pass`, `tx` and `forward`
//!   end the pipeline, so nothing may follow them. Diagnostics inside a `do`
//!   string point at the offending part of the string when it is written
//!   without escapes.
//!
//! ## `[[entry.TABLE]]`
//! - `match` (optional): `{ "field" = value }`; unquoted dotted keys
//!   (`ipv4.src = ...`) work too. Values are TOML strings or integers, read by
//!   the key's match kind (see [`literal`]): exact = a literal of the field's
//!   type (ports by name or number); lpm = `addr/len` or a bare address;
//!   ternary = `value &&& mask`, `value/len`, a bare value or `"*"`; range =
//!   `lo..hi` (inclusive), a single value or `"*"`. `"*"` also works for lpm.
//!   A TOML integer is an exact value, a full-mask ternary value or a
//!   one-value range; lpm keys (addresses) take strings. Port fields
//!   (`meta.in_port`) take port names or declared numbers in every form.
//!   An omitted ternary/lpm/range key is a wildcard; an omitted exact key is an
//!   error. Host bits after an lpm prefix, ternary value bits outside the mask,
//!   and `lo > hi` are errors (nothing is silently masked).
//! - `priority` (u32): required on tables with a ternary or range key and
//!   unique within the table (higher wins); refused on other tables.
//! - `action` (required): `"name"` or `{ name = { param = value } }`; the action
//!   must be listed in the table's `actions`, and every parameter gets exactly
//!   one value (ports by name or number, addresses as strings, integers as
//!   TOML integers or decimal/hex strings).
//! - Two entries of a table with the same canonical match are an error, as is
//!   having more entries than `size`.
//!
//! ## Limits
//! - Sources over [`MAX_SOURCE_BYTES`] (4 MiB) are refused before parsing;
//!   non-UTF-8 input is refused at its first bad byte ([`compile_bytes`]).
//! - Arrays, tables and dotted keys nest at most [`tree::MAX_NESTING`] (16)
//!   levels, checked before toml recurses (toml's own limit of 80 levels
//!   needs 1–2 MiB of stack in a debug build).
//! - At most 256 tables, 1024 actions, 16 keys and 256 actions per table,
//!   32 parameters and 256 primitives per action (see [`lower`]); names are at
//!   most 64 characters.
//! - At most [`MAX_DIAGNOSTICS`] diagnostics are reported, in source order;
//!   checking stops early once twice as many were found.
//!
//! ## Diagnostics
//! Codes are listed in [`crate::diag::codes`]: E00xx file, E01xx structure
//! and names, E02xx ports, E03xx tables and keys, E04xx actions, E05xx entries.

pub mod ast;
pub mod chain;
pub mod literal;
pub mod lower;
pub mod prim;
pub mod print;
pub mod read;
pub mod suggest;
pub mod tree;

use crate::diag::{codes, Diagnostic, Diagnostics, Span};
use crate::ir;

/// Largest module source accepted (bytes). Large entry sets belong in
/// runtime entry files, not in the module; this bound keeps `check` fast on
/// any input.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;
/// Diagnostics reported at most; more would bury the first (usually the cause).
pub const MAX_DIAGNOSTICS: usize = 100;

/// Compiles module source text into the validated IR.
pub fn compile(source: &str) -> Result<ir::Module, Diagnostics> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostics(vec![too_large(source.len() as u64)]));
    }
    let root = tree::parse(source).map_err(|d| Diagnostics(vec![d]))?;
    let mut reader = read::Reader::new();
    let ast = reader.module(&root);
    let is_empty = ast.module_span.is_none()
        && ast.tables.is_empty()
        && ast.actions.is_empty()
        && ast.ports.is_empty()
        && ast.entries.is_empty();
    if is_empty && reader.diags.is_empty() {
        return Err(Diagnostics(vec![Diagnostic::new(codes::EMPTY, "the module is empty")
            .with_label(Span::new(0, 0), "nothing here")
            .with_note(
                "a module needs at least `[module]` with a `name`, one `[[table]]` and the actions it uses; see examples/",
            )]));
    }
    lower::Lowerer::new(source, reader.diags)
        .lower(&ast)
        .map_err(|ds| Diagnostics(finish(ds)))
}

/// Where the `[module]` name is in `source` (for diagnostics about a module
/// as a whole, such as a chain with two modules of one name).
pub fn module_name_span(source: &str) -> Option<Span> {
    let root = tree::parse(source).ok()?;
    let mut reader = read::Reader::new();
    let ast = reader.module(&root);
    ast.name.map(|n| n.span).or(ast.module_span)
}

/// Compiles raw bytes: refuses oversized input and non-UTF-8 text with a
/// located diagnostic (the span of a non-UTF-8 error is the first bad byte,
/// which is also a valid offset into `String::from_utf8_lossy(bytes)`).
pub fn compile_bytes(bytes: &[u8]) -> Result<ir::Module, Diagnostics> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostics(vec![too_large(bytes.len() as u64)]));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => compile(s),
        Err(e) => {
            let at = e.valid_up_to();
            Err(Diagnostics(vec![Diagnostic::new(
                codes::NOT_UTF8,
                format!("the file is not UTF-8 text (invalid byte at offset {at})"),
            )
            .with_label(Span::new(at, at + 1), "not UTF-8")
            .with_note(
                "a module is a UTF-8 TOML text file; is this the right file?",
            )]))
        }
    }
}

/// The diagnostic for a source of `len` bytes, over [`MAX_SOURCE_BYTES`]
/// (for callers that see the size before reading the file).
pub fn too_large(len: u64) -> Diagnostic {
    Diagnostic::new(
        codes::TOO_LARGE,
        format!("the module is {len} bytes, more than the limit of {MAX_SOURCE_BYTES}"),
    )
    .with_label(Span::new(0, 0), "file starts here")
    .with_note(
        "a module holds the pipeline and a few entries; load large entry sets at run time instead",
    )
}

/// Orders diagnostics by position (stable, so related ones stay in order) and caps their number.
fn finish(mut ds: Vec<Diagnostic>) -> Vec<Diagnostic> {
    ds.sort_by_key(|d| d.primary_span().map(|s| s.start).unwrap_or(0));
    if ds.len() > MAX_DIAGNOSTICS {
        let dropped = ds.len() - MAX_DIAGNOSTICS;
        let at = ds[MAX_DIAGNOSTICS].primary_span().unwrap_or_default();
        ds.truncate(MAX_DIAGNOSTICS);
        ds.push(
            Diagnostic::new(
                codes::TOO_MANY,
                format!("{dropped} more error(s) not shown"),
            )
            .with_label(at, "first error not shown")
            .with_note("fix the errors above and check again"),
        );
    }
    ds
}

#[cfg(test)]
mod tests;
