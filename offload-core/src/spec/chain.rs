//! What one placement runs, as one text: a module's own TOML, or a service
//! chain's modules framed in one text (a *chain source*).
//!
//! Everything that stores, digests and compares "the source of what runs"
//! (the host state and its commit journal, the deployment record, the
//! version digest every target reports back) holds one string. A chain keeps
//! that shape: its modules' texts, in chain order, each after a header line
//! giving its byte length and the file it came from:
//!
//! ```text
//! #offload-chain v1
//! #name edge                     (optional: the deployment's own name)
//! #module 2210 ddos-filter.toml
//! <2210 bytes of ddos-filter.toml>
//! #module 1630 edge-router.toml
//! <1630 bytes of edge-router.toml>
//! ```
//!
//! (a newline follows each module's bytes). The name, when given, names the
//! fused module (pins, state, record: `offloadctl --module NAME`) instead of
//! the modules' names joined by `+`, so a chain keeps its identity when a
//! module is added or taken out. Lengths, not separators, so any
//! module text frames unchanged. The chain's version digest is the digest of
//! this text, so changing one module is a new version of the chain; each
//! module's own digest ([`Member::digest`]) says which one changed.
//!
//! [`compile_program`] turns either kind of text into the module the
//! control plane addresses (for a chain, the fused module with tables named
//! `module.table`) and, for a chain, the [`Fused`] pipeline the backends
//! compile. Pure: text in, values out.

use crate::diag::Diagnostics;
use crate::ir::chain::{ChainError, Fused};
use crate::ir::Module;
use crate::state::desired::digest;

/// The first line of every chain source.
pub const MAGIC: &str = "#offload-chain v1\n";

/// One module of a chain source: the file it was read from (as the
/// deployment names it) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSource {
    pub file: String,
    pub source: String,
}

/// One module of a compiled program, for status and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The module's own name (`[module] name`).
    pub name: String,
    /// The file as the deployment names it (empty for a single module).
    pub file: String,
    /// FNV-1a digest of the module's own text (see [`digest`]).
    pub digest: String,
    /// Its tables, as the program's module names them (`name.table` in a chain).
    pub tables: Vec<String>,
}

/// A source that compiled.
#[derive(Debug, Clone)]
pub struct Program {
    /// The module the control plane addresses: the module itself, or the
    /// chain's fused module (tables `module.table`).
    pub module: Module,
    /// `Some` for a chain: what the backends compile (`compile_chain`).
    pub fused: Option<Fused>,
    /// One per module, in chain order (one for a single module).
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error("damaged chain source: {detail}")]
    Frame { detail: String },
    #[error("module {} ({file}) of the chain: {} error(s), first: {}", index + 1, diagnostics.len(), diagnostics.0.first().map(|d| d.message.as_str()).unwrap_or(""))]
    Member {
        index: usize,
        file: String,
        diagnostics: Diagnostics,
    },
    #[error("{} error(s), first: {}", .0.len(), .0.0.first().map(|d| d.message.as_str()).unwrap_or(""))]
    Module(Diagnostics),
    #[error("the modules cannot form a chain: {0}")]
    Chain(#[from] ChainError),
}

/// Is `text` a chain source (rather than one module's TOML)?
pub fn is_chain(text: &str) -> bool {
    text.starts_with(MAGIC)
}

/// Frames the modules of a chain into one text (see the module doc);
/// `name` names the fused module (default: the modules' names joined by `+`).
pub fn frame(name: Option<&str>, members: &[MemberSource]) -> String {
    let mut out = String::from(MAGIC);
    if let Some(n) = name {
        out.push_str(&format!("#name {}\n", n.replace('\n', " ")));
    }
    for m in members {
        // A file name is one line; anything else would break the framing.
        let file: String = m
            .file
            .chars()
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        out.push_str(&format!("#module {} {file}\n", m.source.len()));
        out.push_str(&m.source);
        out.push('\n');
    }
    out
}

/// A chain source taken apart: its name (if it has its own) and modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSource {
    pub name: Option<String>,
    pub members: Vec<MemberSource>,
}

/// The modules of a chain source, in order; `None` when `text` is not one.
pub fn split(text: &str) -> Option<Result<ChainSource, ProgramError>> {
    let mut rest = text.strip_prefix(MAGIC)?;
    let bad = |detail: String| Some(Err(ProgramError::Frame { detail }));
    let mut name = None;
    if let Some(r) = rest.strip_prefix("#name ") {
        let Some(nl) = r.find('\n') else {
            return bad("name line without an end".into());
        };
        name = Some(r[..nl].to_string());
        rest = &r[nl + 1..];
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let Some(nl) = rest.find('\n') else {
            return bad(format!("module {}: header without an end", out.len() + 1));
        };
        let header = &rest[..nl];
        let Some(h) = header.strip_prefix("#module ") else {
            return bad(format!(
                "module {}: expected `#module LEN FILE`, found {header:?}",
                out.len() + 1
            ));
        };
        let (len, file) = h.split_once(' ').unwrap_or((h, ""));
        let Ok(len) = len.parse::<usize>() else {
            return bad(format!("module {}: length {len:?}", out.len() + 1));
        };
        let body = &rest[nl + 1..];
        if body.len() < len + 1 || !body.is_char_boundary(len) || &body[len..len + 1] != "\n" {
            return bad(format!(
                "module {} ({file}): {len} bytes announced, the text is cut short",
                out.len() + 1
            ));
        }
        out.push(MemberSource {
            file: file.to_string(),
            source: body[..len].to_string(),
        });
        rest = &body[len + 1..];
    }
    if out.is_empty() {
        return bad("no module".into());
    }
    Some(Ok(ChainSource { name, members: out }))
}

/// Compiles a module's TOML or a chain source (see the module doc).
pub fn compile_program(text: &str) -> Result<Program, ProgramError> {
    let Some(parts) = split(text) else {
        let module = super::compile(text).map_err(ProgramError::Module)?;
        let member = Member {
            name: module.name.clone(),
            file: String::new(),
            digest: digest(text),
            tables: module.tables.iter().map(|t| t.name.clone()).collect(),
        };
        return Ok(Program {
            module,
            fused: None,
            members: vec![member],
        });
    };
    let ChainSource { name, members } = parts?;
    let mut modules = Vec::with_capacity(members.len());
    for (index, m) in members.iter().enumerate() {
        modules.push(
            super::compile(&m.source).map_err(|diagnostics| ProgramError::Member {
                index,
                file: m.file.clone(),
                diagnostics,
            })?,
        );
    }
    let mut fused = crate::ir::chain::fuse(&modules)?;
    if let Some(n) = name {
        fused.module.name = n;
    }
    let out = members
        .iter()
        .zip(&modules)
        .zip(&fused.segments)
        .map(|((src, m), seg)| Member {
            name: m.name.clone(),
            file: src.file.clone(),
            digest: digest(&src.source),
            tables: fused.module.tables[seg.tables.clone()]
                .iter()
                .map(|t| t.name.clone())
                .collect(),
        })
        .collect();
    Ok(Program {
        module: fused.module.clone(),
        fused: Some(fused),
        members: out,
    })
}

/// The module [`compile_program`] gives, for callers that only address tables.
pub fn module_of(text: &str) -> Result<Module, ProgramError> {
    compile_program(text).map(|p| p.module)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DDOS: &str = include_str!("../../../examples/ddos-filter.toml");
    const ROUTER: &str = include_str!("../../../examples/edge-router.toml");

    fn chain() -> String {
        frame(
            None,
            &[
                MemberSource {
                    file: "ddos-filter.toml".into(),
                    source: DDOS.into(),
                },
                MemberSource {
                    file: "edge-router.toml".into(),
                    source: ROUTER.into(),
                },
            ],
        )
    }

    #[test]
    fn frame_and_split_round_trip() {
        let text = chain();
        assert!(is_chain(&text));
        let parts = split(&text).unwrap().unwrap().members;
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].source, DDOS);
        assert_eq!(parts[1].file, "edge-router.toml");
        assert_eq!(parts[1].source, ROUTER);
        // A module text that looks like a header inside frames unchanged.
        let odd = "#module 3 x\nabc";
        let t = frame(
            Some("edge"),
            &[MemberSource {
                file: "odd.toml".into(),
                source: odd.into(),
            }],
        );
        let parts = split(&t).unwrap().unwrap();
        assert_eq!(parts.name.as_deref(), Some("edge"));
        assert_eq!(parts.members[0].source, odd);
        // Its own name names the fused module, whatever its modules.
        let named = frame(
            Some("edge"),
            &[MemberSource {
                file: "edge-router.toml".into(),
                source: ROUTER.into(),
            }],
        );
        let p = compile_program(&named).unwrap();
        assert_eq!(p.module.name, "edge");
        assert!(p.module.table_by_name("edge-router.routes").is_some());
        assert!(split(ROUTER).is_none());
    }

    #[test]
    fn a_chain_compiles_to_the_fused_module_with_members() {
        let p = compile_program(&chain()).unwrap();
        let fused = p.fused.as_ref().unwrap();
        assert_eq!(fused.segments.len(), 2);
        assert_eq!(p.module.name, "ddos-filter+edge-router");
        assert!(p.module.table_by_name("edge-router.routes").is_some());
        assert_eq!(p.members[0].name, "ddos-filter");
        assert_eq!(p.members[0].digest, digest(DDOS));
        assert_eq!(
            p.members[0].tables,
            [
                "ddos-filter.blocklist",
                "ddos-filter.syn_guard",
                "ddos-filter.honeypot"
            ]
        );
        assert_eq!(
            p.members[1].tables,
            ["edge-router.acl", "edge-router.routes"]
        );
        // A single module is itself.
        let one = compile_program(ROUTER).unwrap();
        assert!(one.fused.is_none());
        assert_eq!(one.module.name, "edge-router");
        assert_eq!(one.members[0].digest, digest(ROUTER));
    }

    #[test]
    fn a_chain_is_one_desired_state_and_one_module_change_is_a_new_version() {
        use crate::state::{diff, Desired, Drift, Observed, ProgramState, TableObserved};
        let text = chain();
        let p = compile_program(&text).unwrap();
        let d = Desired::from_module(p.module.clone(), &text, 1, vec![]);
        let names: Vec<&str> = d.tables.keys().map(String::as_str).collect();
        assert!(names.contains(&"ddos-filter.blocklist") && names.contains(&"edge-router.routes"));
        // Another version of the second module: another chain version, the
        // first module's own digest unchanged.
        let v2 = frame(
            None,
            &[
                MemberSource {
                    file: "ddos-filter.toml".into(),
                    source: DDOS.into(),
                },
                MemberSource {
                    file: "edge-router.toml".into(),
                    source: ROUTER.replace("198.51.100.7", "198.51.100.8"),
                },
            ],
        );
        let p2 = compile_program(&v2).unwrap();
        let d2 = Desired::from_module(p2.module.clone(), &v2, 2, vec![]);
        assert_ne!(d.version.digest, d2.version.digest);
        assert_eq!(p.members[0].digest, p2.members[0].digest);
        assert_ne!(p.members[1].digest, p2.members[1].digest);
        // A placement still running v1 is outdated against v2; an entry
        // missing in a fused table is drift by its `module.table` name.
        let mut tables: std::collections::BTreeMap<String, TableObserved> = d
            .tables
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    TableObserved {
                        entries: t.entries.clone(),
                        default: Some(t.default.clone()),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let obs = |tables, digest: &str| Observed {
            placement: crate::state::PlacementId("host:veth0".into()),
            program: ProgramState::Ours {
                digest: digest.into(),
                identity: "xdp program id 1".into(),
            },
            tables,
        };
        assert!(diff(&d, &obs(tables.clone(), &d.version.digest)).is_empty());
        assert!(matches!(
            diff(&d2, &obs(tables.clone(), &d.version.digest))[..],
            [Drift::ProgramOutdated { .. }]
        ));
        tables
            .get_mut("ddos-filter.honeypot")
            .unwrap()
            .entries
            .pop();
        assert!(matches!(
            &diff(&d, &obs(tables, &d.version.digest))[..],
            [Drift::EntryMissing { table, .. }] if table == "ddos-filter.honeypot"
        ));
    }

    #[test]
    fn damaged_or_refused_chains_say_which_module() {
        let text = chain();
        // Cut short.
        let cut = &text[..text.len() - 20];
        let e = compile_program(cut).unwrap_err();
        assert!(
            matches!(e, ProgramError::Frame { .. }) && e.to_string().contains("edge-router.toml"),
            "{e}"
        );
        // A length that is not a number.
        let e = compile_program(&text.replacen("#module 2", "#module x2", 1)).unwrap_err();
        assert!(matches!(e, ProgramError::Frame { .. }), "{e}");
        // A module with a mistake: named by position and file.
        let broken = frame(
            None,
            &[
                MemberSource {
                    file: "ddos-filter.toml".into(),
                    source: DDOS.into(),
                },
                MemberSource {
                    file: "bad.toml".into(),
                    source: ROUTER
                        .replace("default_action = \"to_host\"", "default_action = \"nope\""),
                },
            ],
        );
        let e = compile_program(&broken).unwrap_err();
        assert!(
            matches!(e, ProgramError::Member { index: 1, .. })
                && e.to_string().contains("bad.toml"),
            "{e}"
        );
        // Twice the same module: the chain's own refusal.
        let twice = frame(
            None,
            &[
                MemberSource {
                    file: "a.toml".into(),
                    source: ROUTER.into(),
                },
                MemberSource {
                    file: "b.toml".into(),
                    source: ROUTER.into(),
                },
            ],
        );
        assert!(matches!(
            compile_program(&twice).unwrap_err(),
            ProgramError::Chain(ChainError::DuplicateModule { .. })
        ));
        // Empty chain.
        assert!(matches!(
            compile_program(MAGIC).unwrap_err(),
            ProgramError::Frame { .. }
        ));
    }
}
