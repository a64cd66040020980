//! A deployment: a `deploy.toml` (core's [`DeploymentSpec`]), the targets its
//! placements become, and its record — the last desired state committed on
//! every placement (`<state dir>/deployments/<module>.json`), which `status`,
//! `entries` and `reconcile` start from.
//!
//! The record is written only after every placement committed, so it always
//! names a version that ran everywhere; a process killed mid-transaction
//! leaves the previous record, and the next `reconcile` brings every
//! placement back to it (the host's journal, `deploy::state::Pending`, lets
//! the read-back recognise the interrupted version as offload's own).

use crate::deploy::Roots;
use crate::entries::record::EntryRecord;
use crate::load::Mode;
use crate::target::bundle::BundleTarget;
use crate::target::host::HostTarget;
use offload_core::ir::{ActionCall, ActionId, Module};
use offload_core::state::{DeploymentSpec, Desired, HostMode, TableDesired, Target, Version};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is damaged ({detail}); remove it and apply the deployment again")]
    Damaged { path: String, detail: String },
    #[error("{0}")]
    Spec(#[from] offload_core::state::DeploymentError),
    #[error("{placement}: {message}")]
    Placement { placement: String, message: String },
}

/// One table of the record: entries and the default action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordTable {
    pub entries: Vec<EntryRecord>,
    pub default_action: u32,
    pub default_args: Vec<String>,
}

/// The deployment as last committed everywhere.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The deployment file (absolute), and its text as applied.
    pub file: String,
    pub spec_text: String,
    pub module: String,
    pub source: String,
    pub version: u64,
    pub tables: BTreeMap<String, RecordTable>,
}

pub fn record_path(roots: &Roots, module: &str) -> PathBuf {
    roots
        .state
        .join("deployments")
        .join(format!("{module}.json"))
}

impl Record {
    pub fn load(roots: &Roots, module: &str) -> Result<Option<Record>, DeploymentError> {
        let path = record_path(roots, module);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(DeploymentError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| DeploymentError::Damaged {
                path: path.display().to_string(),
                detail: e.to_string(),
            })
    }

    /// Every deployment recorded under `roots`.
    pub fn all(roots: &Roots) -> Result<Vec<Record>, DeploymentError> {
        let dir = roots.state.join("deployments");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                if p.extension()? != "json" {
                    return None;
                }
                Some(p.file_stem()?.to_string_lossy().into_owned())
            })
            .collect();
        names.sort();
        let mut out = Vec::new();
        for n in names {
            if let Some(r) = Record::load(roots, &n)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Written atomically (temp file + rename).
    pub fn save(&self, roots: &Roots) -> Result<(), DeploymentError> {
        let path = record_path(roots, &self.module);
        let err = |source| DeploymentError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(err)?;
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        // Compact (as the host state): a record of 10^6 entries pretty-printed
        // took seconds and twice the bytes.
        let text = serde_json::to_vec(self).expect("record serialises");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }

    pub fn remove(roots: &Roots, module: &str) {
        let _ = std::fs::remove_file(record_path(roots, module));
    }

    pub fn from_desired(file: &str, spec_text: &str, d: &Desired) -> Record {
        Record {
            file: file.into(),
            spec_text: spec_text.into(),
            module: d.module.name.clone(),
            source: d.source.clone(),
            version: d.version.number,
            tables: d
                .tables
                .iter()
                .map(|(k, t)| {
                    (
                        k.clone(),
                        RecordTable {
                            entries: t
                                .entries
                                .iter()
                                .enumerate()
                                .map(|(i, e)| EntryRecord::from_entry(e, i as u32))
                                .collect(),
                            default_action: t.default.action.0,
                            default_args: t
                                .default
                                .args
                                .iter()
                                .map(|a| format!("{a:#x}"))
                                .collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The desired state this record holds (module compiled from its source).
    pub fn desired(&self) -> Result<(DeploymentSpec, Desired), DeploymentError> {
        let spec = DeploymentSpec::parse(&self.file, &self.spec_text)?;
        let module = offload_core::spec::chain::module_of(&self.source).map_err(|e| {
            DeploymentError::Damaged {
                path: self.file.clone(),
                detail: format!("recorded module source no longer compiles: {e}"),
            }
        })?;
        let placements = spec.placements().iter().map(|p| p.id()).collect();
        let mut d = Desired::from_module(module, &self.source, self.version, placements);
        d.version = Version::of(&self.source, self.version);
        for (name, rt) in &self.tables {
            let entries = rt
                .entries
                .iter()
                .filter_map(|r| r.to_entry().map(|(e, _)| e))
                .collect();
            let args = rt
                .default_args
                .iter()
                .filter_map(|a| u128::from_str_radix(a.trim_start_matches("0x"), 16).ok())
                .collect();
            d.tables.insert(
                name.clone(),
                TableDesired {
                    entries,
                    default: ActionCall {
                        action: ActionId(rt.default_action),
                        args,
                    },
                },
            );
        }
        Ok((spec, d))
    }
}

/// How the host modes of a deployment file are resolved (`auto` needs the
/// planner, which the binary runs).
pub type HostModes = BTreeMap<String, (Vec<Mode>, Option<offload_core::plan::Profile>)>;

pub fn fixed_modes(mode: HostMode) -> Option<Vec<Mode>> {
    match mode {
        HostMode::Auto => None,
        HostMode::Offload => Some(vec![Mode::Offload]),
        HostMode::Native => Some(vec![Mode::Native]),
        HostMode::Generic => Some(vec![Mode::Generic]),
        HostMode::Tc => Some(vec![Mode::Tc]),
    }
}

/// What the targets need besides the spec.
pub struct Context<'a> {
    pub roots: Roots,
    /// The folder of the deployment file (relative paths start there).
    pub base: &'a Path,
    pub host_modes: HostModes,
    pub batch: bool,
    pub replace_foreign: bool,
    pub module: &'a Module,
}

/// The targets of a deployment: one host target for all its interfaces, one
/// per switch, one per bundle.
pub fn targets(
    spec: &DeploymentSpec,
    cx: &Context<'_>,
) -> Result<Vec<Box<dyn Target>>, DeploymentError> {
    let mut out: Vec<Box<dyn Target>> = Vec::new();
    if !spec.host.is_empty() {
        let mut ifaces = Vec::new();
        let mut profile = None;
        for h in &spec.host {
            let (modes, p) = match fixed_modes(h.mode) {
                Some(m) => (m, None),
                None => cx.host_modes.get(&h.iface).cloned().unwrap_or_else(|| {
                    (
                        vec![Mode::Offload, Mode::Native, Mode::Generic, Mode::Tc],
                        None,
                    )
                }),
            };
            profile = profile.or(p);
            ifaces.push((h.iface.clone(), modes));
        }
        let mut t = HostTarget::new(cx.roots.clone(), ifaces, spec.ports.clone());
        t.batch = cx.batch;
        t.replace_foreign = cx.replace_foreign;
        t.offload_profile = profile;
        out.push(Box::new(t));
    }
    for s in &spec.switch {
        out.push(Box::new(crate::target::switch::SwitchTarget::new(
            s,
            cx.roots.clone(),
        )));
    }
    for b in &spec.bundle {
        let arch = if b.arch == "v1model" {
            offload_p4::Arch::V1model
        } else {
            offload_p4::Arch::Tna
        };
        let out_dir = cx.base.join(&b.out);
        out.push(Box::new(BundleTarget::new(&b.name, arch, out_dir)));
    }
    Ok(out)
}
