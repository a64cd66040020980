//! What offload deployed, kept beside the pins so that a later run (another
//! process) can find, check and change it: `/run/offload/<module>.json`.
//!
//! The kernel stays the authority for what runs: `status` compares this with
//! what the kernel reports and calls any difference drift. The state holds
//! what the kernel cannot: the module source (to validate entries), port
//! bindings, entries with their counter slots, and counter totals carried over
//! from replaced versions.

use crate::entries::record::EntryRecord;
use crate::load::Mode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const STATE_DIR: &str = "/run/offload";

/// Where the deployment's files live (overridable for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// bpffs root (`/sys/fs/bpf`).
    pub bpffs: PathBuf,
    /// State files (`/run/offload`).
    pub state: PathBuf,
}

impl Default for Roots {
    fn default() -> Roots {
        Roots {
            bpffs: PathBuf::from(crate::load::bpffs::BPFFS_ROOT),
            state: PathBuf::from(STATE_DIR),
        }
    }
}

impl Roots {
    pub fn state_file(&self, module: &str) -> PathBuf {
        self.state.join(format!("{module}.json"))
    }
    /// `/sys/fs/bpf/offload/<module>/<iface>/`.
    pub fn iface_dir(&self, module: &str, iface: &str) -> PathBuf {
        crate::load::bpffs::pin_dir(&self.bpffs, module, iface)
    }
    pub fn module_dir(&self, module: &str) -> PathBuf {
        self.bpffs
            .join(crate::load::bpffs::OFFLOAD_DIR)
            .join(module)
    }
    pub fn link_pin(&self, module: &str, iface: &str) -> PathBuf {
        self.iface_dir(module, iface).join("link")
    }
    /// Program and maps of one generation: `<iface dir>/g<gen>/`.
    pub fn gen_dir(&self, module: &str, iface: &str, gen: u64) -> PathBuf {
        self.iface_dir(module, iface).join(format!("g{gen}"))
    }
}

/// One interface the module runs on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Placement {
    pub iface: String,
    pub ifindex: u32,
    pub mode: Mode,
    /// Generation of the program and maps now attached.
    pub gen: u64,
    pub prog_id: u32,
    pub prog_tag: String,
    pub link_id: u32,
    /// Targets tried before this one, and why each was not taken.
    #[serde(default)]
    pub fallbacks: Vec<(String, String)>,
    /// The target profile compiled for (`kernel`, `nfp`, `netdevsim`): the
    /// layout of the maps follows from it.
    #[serde(default = "kernel_profile")]
    pub profile: String,
    /// The room the program was built with, per table, where less than
    /// the table's size / the profile's mask bound (sized to the entries,
    /// see `offload_ebpf::layout::Capacity`); absent in states written
    /// before sizing existed: the full room.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub room: BTreeMap<String, Room>,
}

/// One table's room in a placement's program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Room {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masks: Option<u32>,
}

impl Placement {
    /// The room as the layout takes it.
    pub fn capacities(&self) -> offload_ebpf::layout::Capacities {
        self.room
            .iter()
            .map(|(t, r)| {
                (
                    t.clone(),
                    offload_ebpf::layout::Capacity {
                        counters: r.counters,
                        masks: r.masks,
                    },
                )
            })
            .collect()
    }
}

/// The room of each table of `layout` (what [`Placement::room`] records).
pub fn room_of(
    module: &offload_core::ir::Module,
    layout: &offload_ebpf::layout::ModuleLayout,
) -> BTreeMap<String, Room> {
    layout
        .tables
        .iter()
        .map(|tl| {
            let t = module.table(tl.table);
            (
                t.name.clone(),
                Room {
                    counters: t.counters.then_some(tl.counter_room()),
                    masks: (tl.mask_room() > 0).then_some(tl.mask_room()),
                },
            )
        })
        .collect()
}

fn kernel_profile() -> String {
    "kernel".into()
}

/// Entries of one table, each with its counter slot; `base` holds counter
/// totals carried over from replaced versions, by slot.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableState {
    pub entries: Vec<EntryRecord>,
    #[serde(default)]
    pub base: BTreeMap<u32, (u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub module: String,
    /// The module's TOML text (entries are validated against it).
    pub source: String,
    pub source_path: Option<String>,
    /// Version: counts successful applies.
    pub version: u64,
    /// Logical port name → interface.
    pub ports: BTreeMap<String, String>,
    pub placements: Vec<Placement>,
    pub tables: BTreeMap<String, TableState>,
    /// A version being committed: written before the first link switches
    /// and gone once the commit finished (or was rolled back). A process
    /// killed in between leaves it, so a later read-back still knows the
    /// programs it finds as offload's own (and of which version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The new version's module source.
    pub source: String,
    /// Interface → program id of the new version.
    pub progs: BTreeMap<String, u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is damaged ({detail}); `offloadctl detach --module NAME --force` removes the deployment")]
    Parse { path: String, detail: String },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl State {
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Parse {
                path: path.display().to_string(),
                detail: e.to_string(),
            })
    }

    /// Writes atomically (temp file + rename): a crash never leaves half a state.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        // Compact and streamed: with 10^6 entries the pretty form took 1.5 s
        // and twice the bytes (`jq . FILE` reads it pretty).
        let f = std::fs::File::create(&tmp).map_err(err)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        serde_json::to_writer(&mut w, self).expect("state serialises");
        use std::io::Write as _;
        w.flush().map_err(err)?;
        drop(w);
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// Every deployed module's state under `roots`.
    pub fn all(roots: &Roots) -> Result<Vec<State>, StateError> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&roots.state) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(StateError::Read {
                    path: roots.state.display().to_string(),
                    source,
                })
            }
        };
        let mut paths: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for p in paths {
            if let Some(s) = State::load(&p)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    pub fn placement(&self, iface: &str) -> Option<&Placement> {
        self.placements.iter().find(|p| p.iface == iface)
    }
}
