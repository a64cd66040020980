//! The TOML module language: source text → typed spec with spans → validated IR.
//!
//! `compile(source)` is the one entry point: it returns the IR or every
//! diagnostic found (collected, not fail-fast).
