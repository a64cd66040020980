//! Generators for differential testing: random valid modules, entries and
//! frames, deterministic from a seed (same seed, same case, everywhere).
//!
//! Pure like the rest of the crate. Used by the differential tests that run
//! compiled programs on the kernel against [`crate::semantics::run`]; kept
//! here (not in a test) so every backend's tests draw from the same cases.
//!
//! A [`Case`] is generated as IR, written out as module source with
//! [`render`], and compiled back with [`crate::spec::compile`]: the source is
//! the reproduction file of a failing case, and the front end, not the
//! generator, has the last word on validity.

pub mod build;
pub mod entries;
pub mod module;
pub mod packet;
pub mod render;
pub mod rng;
pub mod vectors;

pub use entries::EntryConfig;
pub use module::ModuleConfig;
pub use packet::{Candidates, Frame};
pub use render::render;
pub use rng::Rng;

use crate::ir::Module;

/// One generated module with its entries.
#[derive(Debug, Clone)]
pub struct Case {
    pub seed: u64,
    /// The module source (entries included), as compiled.
    pub source: String,
    pub module: Module,
}

/// The generator produced something the front end refuses: a generator bug,
/// reported with the source so it can be reproduced.
#[derive(Debug, Clone, thiserror::Error)]
#[error("generated module (seed {seed:#x}) does not compile: {message}\n--- module ---\n{text}")]
pub struct InvalidCase {
    pub seed: u64,
    pub message: String,
    /// The generated module source.
    pub text: String,
}

/// The case of `seed` with the default configuration.
pub fn case(seed: u64) -> Result<Case, InvalidCase> {
    case_with(seed, &ModuleConfig::default(), &EntryConfig::default())
}

pub fn case_with(seed: u64, mc: &ModuleConfig, ec: &EntryConfig) -> Result<Case, InvalidCase> {
    let mut rng = Rng::new(seed);
    let mut m = module::module(&mut rng.fork(), mc, &format!("gen_{seed:x}"));
    entries::fill(&mut rng.fork(), &mut m, ec);
    let source = render(&m);
    match crate::spec::compile(&source) {
        Ok(module) => Ok(Case {
            seed,
            source,
            module,
        }),
        Err(d) => Err(InvalidCase {
            seed,
            message: d.render_plain("generated.toml", &source),
            text: source,
        }),
    }
}

/// A random service chain of 1..=`max_len` modules (`gen_<seed>_<k>`) that
/// [`crate::ir::chain::fuse`] accepts: one set of ports drawn for the chain,
/// and each module uses it or (one in four) declares none.
pub fn chain(seed: u64, max_len: usize) -> Result<Vec<Case>, InvalidCase> {
    let mc = ModuleConfig::default();
    let ec = EntryConfig::default();
    let mut rng = Rng::new(seed);
    let ports = module::ports(&mut rng, &mc);
    let len = rng.range(1, max_len.max(1) as u64) as usize;
    (0..len)
        .map(|k| {
            let mut r = rng.fork();
            let own = if r.chance(1, 4) {
                Vec::new()
            } else {
                ports.clone()
            };
            let mut m = module::module_with_ports(&mut r, &mc, &format!("gen_{seed:x}_{k}"), own);
            entries::fill(&mut r, &mut m, &ec);
            let source = render(&m);
            match crate::spec::compile(&source) {
                Ok(module) => Ok(Case {
                    seed,
                    source,
                    module,
                }),
                Err(d) => Err(InvalidCase {
                    seed,
                    message: d.render_plain("generated.toml", &source),
                    text: source,
                }),
            }
        })
        .collect()
}

/// A random module with a cut point for split placement
/// (`crate::ir::split`): a module of [`case_with`]'s kind, cut at a stage
/// `at` whose prefix a NIC profile can hold — no LPM or hash key before
/// `at` — with the actions the NIC stages run made free of carries
/// (`ir::split::carries`: `pass` becomes `drop`, `dec_ttl`, VLAN pushes and
/// pops and `meta.group` writes are left out) and of `forward` (an
/// offloaded program cannot redirect; it becomes `tx`). The host stages
/// keep everything else the generator makes. `Ok(None)`: the module has no
/// such cut point (one stage, or an LPM/hash key in the first).
pub fn split_case(seed: u64) -> Result<Option<(Case, usize)>, InvalidCase> {
    use crate::ir::{MatchKind, Primitive};
    let mut rng = Rng::new(seed ^ 0x5b11_7000);
    let mc = ModuleConfig {
        max_tables: 5,
        ..ModuleConfig::default()
    };
    let mut m = module::module(&mut rng.fork(), &mc, &format!("split_{seed:x}"));
    let cuts: Vec<usize> = (1..m.tables.len())
        .take_while(|&at| {
            let t = &m.tables[at - 1];
            t.hash_key().is_none() && t.keys.iter().all(|k| k.kind != MatchKind::Lpm)
        })
        .collect();
    if cuts.is_empty() {
        return Ok(None);
    }
    let at = *rng.pick(&cuts);
    let nic_actions: std::collections::BTreeSet<crate::ir::ActionId> = m.tables[..at]
        .iter()
        .flat_map(|t| t.actions.iter().copied().chain([t.default_action.action]))
        .collect();
    for a in nic_actions {
        let act = &mut m.actions[a.0 as usize];
        act.body.retain(|p| match p {
            Primitive::DecTtl | Primitive::PushVlan(_) | Primitive::PopVlan => false,
            Primitive::Set { field, .. } | Primitive::Copy { field, .. } => {
                *field != crate::ir::Field::MetaGroup
            }
            _ => true,
        });
        for p in &mut act.body {
            match p {
                Primitive::Pass => *p = Primitive::Drop,
                Primitive::Forward(_) => *p = Primitive::Tx,
                _ => {}
            }
        }
    }
    entries::fill(&mut rng.fork(), &mut m, &EntryConfig::default());
    let source = render(&m);
    match crate::spec::compile(&source) {
        Ok(module) => Ok(Some((
            Case {
                seed,
                source,
                module,
            },
            at,
        ))),
        Err(d) => Err(InvalidCase {
            seed,
            message: d.render_plain("generated.toml", &source),
            text: source,
        }),
    }
}

/// `n` frames for `module`, deterministic from `seed`.
pub fn frames(seed: u64, module: &Module, n: usize) -> Vec<Frame> {
    let mut rng = Rng::new(seed);
    let cands = Candidates::new(module);
    (0..n)
        .map(|_| packet::frame(&mut rng, module, &cands))
        .collect()
}

/// `n` arrival times in nanoseconds for timed runs (meters), deterministic
/// from `seed`: from 1 µs on, mostly increasing by 1 µs – 10 ms (a bucket
/// refills partly or fully), sometimes the same time again, and about one
/// in 50 a step back (a clock that goes back refills nothing). Never 0:
/// a BPF `clock` map holding 0 means "use the kernel's clock".
pub fn timestamps(seed: u64, n: usize) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    let mut t = 1_000u64;
    (0..n)
        .map(|_| {
            match rng.below(50) {
                0 => t = t.saturating_sub(rng.range(1, 1_000_000)).max(1),
                1..=9 => {}
                _ => {
                    let scale = *rng.pick(&[1_000u64, 10_000, 100_000, 1_000_000, 10_000_000]);
                    t += rng.range(1, scale);
                }
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests;
