//! A Tofino placement: compile only. offload cannot load a Tofino here (that
//! is the SDE's `bf_switchd` and BF Runtime); it writes the bundle a lab
//! loads — the TNA program, its naming map, the entries — into a folder,
//! atomically (a new folder renamed into place), with a `version.json` that
//! a later read-back checks. Said plainly in every report: "written, not
//! loaded".

use offload_core::ir::Module;
use offload_core::state::{
    desired::digest, Desired, EntryOp, Observed, PlacementId, ProgramState, TableObserved, Target,
    TargetError,
};
use offload_p4::{Arch, Options};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct BundleTarget {
    pub name: String,
    pub arch: Arch,
    pub out: PathBuf,
    staged: Option<PathBuf>,
    committed: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VersionFile {
    module: String,
    version: u64,
    digest: String,
    /// Digest of the entry files as written: a read-back that finds other
    /// entry files reports drift.
    entries_digest: String,
    note: String,
}

impl BundleTarget {
    pub fn new(name: &str, arch: Arch, out: PathBuf) -> BundleTarget {
        BundleTarget {
            name: name.into(),
            arch,
            out,
            staged: None,
            committed: false,
        }
    }
    fn id(&self) -> PlacementId {
        PlacementId(format!("bundle:{}", self.name))
    }
    fn err(&self, e: impl std::fmt::Display) -> TargetError {
        TargetError::new(&self.id(), e.to_string())
    }
    fn old_dir(&self) -> PathBuf {
        with_suffix(&self.out, ".old")
    }
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    let mut o = p.as_os_str().to_owned();
    o.push(s);
    PathBuf::from(o)
}

/// The P4 program of `d` with `m`'s entries: one module, or a chain's one
/// pipeline (`offload_p4::compile_chain`) when `d` is a chain.
pub fn p4_compile(
    d: &Desired,
    m: &offload_core::ir::Module,
    opts: &Options,
) -> Result<offload_p4::Output, String> {
    match crate::deploy::chain_of(&d.source, m).map_err(|e| e.to_string())? {
        Some(f) => offload_p4::compile_chain(&f, opts),
        None => offload_p4::compile(m, opts),
    }
    .map_err(|e| e.to_string())
}

/// The module with the desired entries in place of its file's.
pub fn module_with_entries(d: &Desired) -> Module {
    let mut m = d.module.clone();
    for t in &mut m.tables {
        if let Some(td) = d.tables.get(&t.name) {
            t.entries = td.entries.clone();
            t.default_action = td.default.clone();
        }
    }
    m
}

fn entries_digest(dir: &Path, module: &str) -> String {
    let read = |ext: &str| {
        std::fs::read_to_string(dir.join(format!("{module}.{ext}"))).unwrap_or_default()
    };
    digest(&(read("entries.txt") + &read("p4rt.json")))
}

impl Target for BundleTarget {
    fn placements(&self) -> Vec<PlacementId> {
        vec![self.id()]
    }

    fn prepare(&mut self, d: &Desired) -> Result<(), TargetError> {
        let m = module_with_entries(d);
        let out = p4_compile(d, &m, &Options::new(self.arch)).map_err(|e| {
            self.err(format!(
                "the P4 backend refused the module for {}: {e}",
                self.arch.target_name()
            ))
        })?;
        let dir = with_suffix(&self.out, &format!(".new-{}", d.version.number));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| self.err(format!("creating {}: {e}", dir.display())))?;
        let files = [
            (format!("{}.p4", m.name), out.source),
            (format!("{}.names.json", m.name), out.names.to_json() + "\n"),
            (format!("{}.entries.txt", m.name), out.cli),
            (format!("{}.p4rt.json", m.name), out.p4runtime),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(&name), text)
                .map_err(|e| self.err(format!("writing {name}: {e}")))?;
        }
        let v = VersionFile {
            module: m.name.clone(),
            version: d.version.number,
            digest: d.version.digest.clone(),
            entries_digest: entries_digest(&dir, &m.name),
            note: "written by offload, not loaded: load it with the Tofino SDE (bf-p4c, bf_switchd, BF Runtime)".into(),
        };
        let json = serde_json::to_string_pretty(&v).map_err(|e| self.err(e))?;
        std::fs::write(dir.join("version.json"), json + "\n")
            .map_err(|e| self.err(format!("writing version.json: {e}")))?;
        self.staged = Some(dir);
        self.committed = false;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), TargetError> {
        let dir = self
            .staged
            .clone()
            .ok_or_else(|| self.err("commit without a prepared bundle"))?;
        let old = self.old_dir();
        let _ = std::fs::remove_dir_all(&old);
        if self.out.exists() {
            std::fs::rename(&self.out, &old)
                .map_err(|e| self.err(format!("moving the previous bundle aside: {e}")))?;
        }
        if let Some(parent) = self.out.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::rename(&dir, &self.out) {
            let _ = std::fs::rename(&old, &self.out);
            return Err(self.err(format!(
                "moving the bundle into {}: {e}",
                self.out.display()
            )));
        }
        self.committed = true;
        Ok(())
    }

    fn rollback(&mut self) {
        if self.committed {
            let _ = std::fs::remove_dir_all(&self.out);
            if self.old_dir().exists() {
                let _ = std::fs::rename(self.old_dir(), &self.out);
            }
            self.committed = false;
        } else if let Some(dir) = self.staged.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.staged = None;
    }

    fn finish(&mut self) -> Result<(), TargetError> {
        let _ = std::fs::remove_dir_all(self.old_dir());
        self.staged = None;
        self.committed = false;
        Ok(())
    }

    fn observe(&mut self, d: &Desired) -> Result<Vec<Observed>, TargetError> {
        let text = std::fs::read_to_string(self.out.join("version.json")).ok();
        let v: Option<VersionFile> = text.and_then(|t| serde_json::from_str(&t).ok());
        let (program, tables) = match v {
            None => (ProgramState::Absent, BTreeMap::new()),
            Some(v) if v.module != d.module.name => (
                ProgramState::Foreign {
                    identity: format!("bundle of module {}", v.module),
                },
                BTreeMap::new(),
            ),
            Some(v) => {
                // A bundle is files, not a device: its tables are what its
                // entry files hold; unchanged files hold what was written.
                let intact = entries_digest(&self.out, &d.module.name) == v.entries_digest;
                let tables = if intact && v.digest == d.version.digest {
                    d.tables
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
                        .collect()
                } else {
                    BTreeMap::new()
                };
                (
                    ProgramState::Ours {
                        digest: v.digest,
                        identity: format!(
                            "bundle {} version {} (written, not loaded)",
                            self.out.display(),
                            v.version
                        ),
                    },
                    tables,
                )
            }
        };
        Ok(vec![Observed {
            placement: self.id(),
            program,
            tables,
        }])
    }

    fn write_entries(&mut self, d: &Desired, _ops: &[EntryOp]) -> Result<(), TargetError> {
        // Entries are files of the bundle: write the bundle again.
        self.prepare(d)?;
        if let Err(e) = self.commit() {
            self.rollback();
            return Err(e);
        }
        self.finish()
    }
}
