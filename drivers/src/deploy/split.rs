//! Split placement on one interface: the module's first stages offloaded to
//! the NIC (XDP hardware mode), the rest on the host (XDP driver or SKB
//! mode, or tc) — two programs on two hooks of the same interface, which
//! the kernel keeps side by side (`XDP_FLAGS_HW_MODE` beside `DRV_MODE` or
//! `SKB_MODE`).
//!
//! Each half is an ordinary deployment of its own (`<module>-nic`,
//! `<module>-host`: pins, state, hitless replacement, entries, read-back
//! as for any module, through [`super::apply()`]); its source is the half
//! module printed in the module language (`ir::split`, `testgen::render`),
//! so a later process rebuilds exactly that half. A split record
//! (`<state dir>/splits/<module>.json`) ties them together: the whole
//! module's source, the cut point, the interface, so that `status` merges
//! the halves' counters into the module's tables and `detach` removes both.
//!
//! Order: the NIC half is applied first, then the host half; a failure of
//! the host half on a first apply detaches the NIC half again (nothing is
//! left). Not atomic across the two hooks: between the two attaches of a
//! first apply, packets the NIC hands off reach the host stack; on a
//! re-apply the halves switch one after the other (each hitless), so for
//! that moment one half runs the new version and the other the old.

use super::state::Roots;
use super::status::ModuleStatus;
use super::{ApplyReport, ApplyRequest, DeployError};
use crate::load::Mode;
use offload_core::ir::split::{half_name, split, Half};
use offload_core::ir::Module;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What ties the two halves of a split together.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitRecord {
    pub module: String,
    /// The whole module's TOML text.
    pub source: String,
    pub source_path: Option<String>,
    /// The first host stage.
    pub at: usize,
    pub iface: String,
    pub host_mode: Mode,
    /// The NIC profile the NIC half was compiled for.
    pub nic_profile: String,
}

impl SplitRecord {
    pub fn path(roots: &Roots, module: &str) -> PathBuf {
        roots.state.join("splits").join(format!("{module}.json"))
    }
    pub fn load(roots: &Roots, module: &str) -> Result<Option<SplitRecord>, DeployError> {
        let p = Self::path(roots, module);
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
                DeployError::State(super::state::StateError::Parse {
                    path: p.display().to_string(),
                    detail: e.to_string(),
                })
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DeployError::State(super::state::StateError::Read {
                path: p.display().to_string(),
                source,
            })),
        }
    }
    fn save(&self, roots: &Roots) -> Result<(), DeployError> {
        let p = Self::path(roots, &self.module);
        let err = |source| {
            DeployError::State(super::state::StateError::Write {
                path: p.display().to_string(),
                source,
            })
        };
        std::fs::create_dir_all(p.parent().expect("splits dir")).map_err(err)?;
        let tmp = p.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).expect("record serialises"),
        )
        .map_err(err)?;
        std::fs::rename(&tmp, &p).map_err(err)
    }
    /// Every split deployed under `roots`.
    pub fn all(roots: &Roots) -> Vec<SplitRecord> {
        let Ok(rd) = std::fs::read_dir(roots.state.join("splits")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".json").map(str::to_string)
            })
            .collect();
        names.sort();
        names
            .iter()
            .filter_map(|n| Self::load(roots, n).ok().flatten())
            .collect()
    }
    /// The whole module, from the stored source.
    pub fn module(&self) -> Result<Module, DeployError> {
        offload_core::spec::compile(&self.source).map_err(|d| DeployError::Source {
            module: self.module.clone(),
            detail: d.0.first().map(|x| x.message.clone()).unwrap_or_default(),
        })
    }
    /// The deployment name of a half.
    pub fn half(&self, half: Half) -> String {
        half_name(&self.module, half)
    }
}

/// What `apply --mode split` was asked to do.
#[derive(Debug, Clone)]
pub struct SplitRequest<'a> {
    pub module: &'a Module,
    pub source: &'a str,
    pub source_path: Option<String>,
    pub iface: String,
    pub ports: BTreeMap<String, String>,
    /// The planner's cut point (`plan::split::propose`).
    pub at: usize,
    /// The planner's host target for the rest.
    pub host_mode: Mode,
    pub nic_profile: offload_core::plan::Profile,
    pub replace_foreign: bool,
    pub batch: bool,
    pub roots: Roots,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitReport {
    pub module: String,
    pub at: usize,
    pub nic_stages: Vec<String>,
    pub host_stages: Vec<String>,
    pub nic: ApplyReport,
    pub host: ApplyReport,
}

/// The source and module of a half, as deployed: printed in the module
/// language and compiled back (what later commands will rebuild).
fn half_source(m: &Module) -> Result<(String, Module), DeployError> {
    let text = offload_core::testgen::render(m);
    let back = offload_core::spec::compile(&text).map_err(|d| DeployError::Source {
        module: m.name.clone(),
        detail: d.0.first().map(|x| x.message.clone()).unwrap_or_default(),
    })?;
    Ok((text, back))
}

/// Applies the two halves (see the module doc) and records the split.
pub fn apply_split(req: &SplitRequest<'_>) -> Result<SplitReport, DeployError> {
    let s = split(req.module, req.at).map_err(|e| DeployError::Source {
        module: req.module.name.clone(),
        detail: e.to_string(),
    })?;
    let had = SplitRecord::load(&req.roots, &req.module.name)?;
    let (nic_src, nic_mod) = half_source(&s.nic)?;
    let (host_src, host_mod) = half_source(&s.host)?;
    let base = |module, source, modes: Vec<Mode>| ApplyRequest {
        module,
        source,
        source_path: req.source_path.clone(),
        on: vec![req.iface.clone()],
        ports: req.ports.clone(),
        modes,
        replace_foreign: req.replace_foreign,
        batch: req.batch,
        roots: req.roots.clone(),
        offload_profile: Some(req.nic_profile.clone()),
    };
    let nic = super::apply(&base(&nic_mod, &nic_src, vec![Mode::Offload]))?;
    let host = match super::apply(&base(&host_mod, &host_src, vec![req.host_mode])) {
        Ok(h) => h,
        Err(e) => {
            if had.is_none() {
                // A first apply leaves nothing behind.
                let _ = super::detach(&req.roots, Some(&nic_mod.name));
            }
            return Err(e);
        }
    };
    SplitRecord {
        module: req.module.name.clone(),
        source: req.source.to_string(),
        source_path: req.source_path.clone(),
        at: req.at,
        iface: req.iface.clone(),
        host_mode: req.host_mode,
        nic_profile: req.nic_profile.name.clone(),
    }
    .save(&req.roots)?;
    Ok(SplitReport {
        module: req.module.name.clone(),
        at: req.at,
        nic_stages: s.nic.tables.iter().map(|t| t.name.clone()).collect(),
        host_stages: s.host.tables.iter().map(|t| t.name.clone()).collect(),
        nic,
        host,
    })
}

/// One of the module's tables, counted where it runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergedTable {
    pub name: String,
    pub half: Half,
    pub entries: usize,
    /// Packets and bytes over every entry and the default action, read
    /// from the maps of the half that holds the table.
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitStatus {
    pub module: String,
    pub at: usize,
    pub iface: String,
    /// The module's tables in stage order, each from its half.
    pub tables: Vec<MergedTable>,
    /// Each half's own read-back (placement, entries, drift).
    pub nic: ModuleStatus,
    pub host: ModuleStatus,
}

impl SplitStatus {
    pub fn has_drift(&self) -> bool {
        self.nic.has_drift() || self.host.has_drift()
    }
}

/// Both halves read back from the kernel, counters merged per table.
pub fn status_split(roots: &Roots, rec: &SplitRecord) -> Result<SplitStatus, DeployError> {
    let whole = rec.module()?;
    let read = |half| -> Result<ModuleStatus, DeployError> {
        super::status::status(roots, Some(&rec.half(half)))?
            .into_iter()
            .next()
            .ok_or_else(|| DeployError::NotDeployed {
                module: rec.half(half),
                path: roots.state_file(&rec.half(half)).display().to_string(),
            })
    };
    let nic = read(Half::Nic)?;
    let host = read(Half::Host)?;
    let tables = whole
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let half = if i < rec.at { Half::Nic } else { Half::Host };
            let st = match half {
                Half::Nic => &nic,
                Half::Host => &host,
            };
            let ts = st.tables.iter().find(|x| x.name == t.name);
            let (mut packets, mut bytes) = (0, 0);
            if let Some(ts) = ts {
                for e in &ts.entries {
                    packets += e.packets.unwrap_or(0);
                    bytes += e.bytes.unwrap_or(0);
                }
                packets += ts.default_packets.unwrap_or(0);
                bytes += ts.default_bytes.unwrap_or(0);
            }
            MergedTable {
                name: t.name.clone(),
                half,
                entries: ts.map_or(0, |x| x.entries.len()),
                packets,
                bytes,
            }
        })
        .collect();
    Ok(SplitStatus {
        module: rec.module.clone(),
        at: rec.at,
        iface: rec.iface.clone(),
        tables,
        nic,
        host,
    })
}

/// Detaches both halves (host first: the NIC's hand-offs then go to the
/// host stack, never to a host half without its NIC half) and the record.
pub fn detach_split(roots: &Roots, module: &str) -> Result<SplitRecord, DeployError> {
    let rec = SplitRecord::load(roots, module)?.ok_or_else(|| DeployError::NotDeployed {
        module: module.into(),
        path: SplitRecord::path(roots, module).display().to_string(),
    })?;
    for half in [Half::Host, Half::Nic] {
        match super::detach(roots, Some(&rec.half(half))) {
            Ok(_) | Err(DeployError::NotDeployed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let _ = std::fs::remove_file(SplitRecord::path(roots, module));
    Ok(rec)
}
