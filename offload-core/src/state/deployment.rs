//! The deployment file: one module and every placement it should run on.
//!
//! ```toml
//! module = "edge-router.toml"          # relative to this file
//! # or a service chain, run in this order on every placement:
//! # modules = ["ddos-filter.toml", "edge-router.toml"]
//!
//! [ports]                              # host bindings: logical port → interface
//! uplink = "veth-up"
//! servers = "veth-srv"
//!
//! [[host]]                             # a host interface (XDP offload/native/generic, tc)
//! iface = "veth-up"
//! mode = "auto"                        # auto | offload | native | generic | tc
//!
//! [[switch]]                           # a running BMv2 simple_switch_grpc, over P4Runtime
//! name = "bmv2-1"
//! grpc = "127.0.0.1:50051"
//! device_id = 1
//! ports = { uplink = 1, servers = 2 }  # logical port → switch port
//!
//! [[bundle]]                           # Tofino: compile only; the lab loads it with the SDE
//! name = "tofino-lab"
//! arch = "tna"
//! out = "out/tofino"
//! ```
//!
//! Parsing is pure (text in, spec or located errors out); the binary reads
//! the files and resolves `auto` with the planner.

use super::desired::PlacementId;
use crate::ir::Module;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HostMode {
    #[default]
    Auto,
    Offload,
    Native,
    Generic,
    Tc,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub iface: String,
    #[serde(default)]
    pub mode: HostMode,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSpec {
    pub name: String,
    /// `host:port` of the switch's P4Runtime server.
    pub grpc: String,
    #[serde(default = "one")]
    pub device_id: u64,
    /// Election id this manager uses (higher wins primary).
    #[serde(default = "one")]
    pub election_id: u64,
    /// Logical port → switch port.
    #[serde(default)]
    pub ports: BTreeMap<String, u32>,
    /// The switch ports that exist (as the switch was started); a binding to
    /// another port is refused. Empty: any port the architecture allows.
    #[serde(default)]
    pub switch_ports: Vec<u32>,
    /// Take over a switch that runs a pipeline offload did not set.
    #[serde(default)]
    pub replace: bool,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSpec {
    pub name: String,
    #[serde(default = "tna")]
    pub arch: String,
    pub out: String,
}

fn tna() -> String {
    "tna".into()
}

/// How a chain's modules are put together on a host placement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainLink {
    /// One program for the whole chain (`codegen::compile_chain`): the
    /// fastest (see the README's chain_speed figures); a new version of one
    /// module reloads the whole program (hitless).
    #[default]
    Fused,
    /// One program per module, linked by tail calls (`codegen::linked`):
    /// a new version of one module is one slot update, the others untouched.
    TailCall,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    /// The module file, relative to the deployment file.
    #[serde(default)]
    pub module: Option<String>,
    /// Or a service chain: module files in chain order (relative to the
    /// deployment file), run as one fused program / pipeline on every
    /// placement (`offload_core::ir::chain`).
    #[serde(default)]
    pub modules: Vec<String>,
    /// A chain's own name (pins, state, `--module NAME`); default: its
    /// modules' names joined by `+`. Keeps the deployment's identity when a
    /// module is added to or taken out of the chain.
    #[serde(default)]
    pub name: Option<String>,
    /// How a chain runs on host placements: one fused program (the
    /// default), or one program per module linked by tail calls.
    #[serde(default)]
    pub link: ChainLink,
    /// Host bindings: logical port → interface.
    #[serde(default)]
    pub ports: BTreeMap<String, String>,
    #[serde(default)]
    pub host: Vec<HostSpec>,
    #[serde(default)]
    pub switch: Vec<SwitchSpec>,
    #[serde(default)]
    pub bundle: Vec<BundleSpec>,
}

/// One placement as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementSpec<'a> {
    Host(&'a HostSpec),
    Switch(&'a SwitchSpec),
    Bundle(&'a BundleSpec),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: placement {placement}: {message}")]
    Placement {
        file: String,
        placement: String,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

impl DeploymentSpec {
    pub fn parse(file: &str, text: &str) -> Result<DeploymentSpec, DeploymentError> {
        let spec: DeploymentSpec = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            DeploymentError::Syntax {
                file: file.into(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        match (&spec.module, spec.modules.is_empty()) {
            (Some(_), false) => {
                return Err(DeploymentError::File {
                    file: file.into(),
                    message: "both `module` and `modules`: name one module, or the chain's modules in order".into(),
                })
            }
            (None, true) => {
                return Err(DeploymentError::File {
                    file: file.into(),
                    message: "no module: add `module = \"FILE.toml\"` or a chain, `modules = [\"A.toml\", \"B.toml\"]`".into(),
                })
            }
            _ => {}
        }
        if let Some(n) = &spec.name {
            if spec.module.is_some() {
                return Err(DeploymentError::File {
                    file: file.into(),
                    message: "`name` names a chain (`modules = [...]`); a single module's deployment is named by its module".into(),
                });
            }
            let ok = !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
                && !n.starts_with('.');
            if !ok {
                return Err(DeploymentError::File {
                    file: file.into(),
                    message: format!("name {n:?}: use letters, digits and - _ . + (it names pin folders and state files)"),
                });
            }
        }
        let mut seen = BTreeMap::new();
        for p in spec.placements() {
            let id = p.id();
            if seen.insert(id.clone(), ()).is_some() {
                return Err(DeploymentError::Placement {
                    file: file.into(),
                    placement: id.0,
                    message: "named twice; every placement needs its own interface or name".into(),
                });
            }
        }
        if seen.is_empty() {
            return Err(DeploymentError::File {
                file: file.into(),
                message: "no placement: add a [[host]], [[switch]] or [[bundle]] section".into(),
            });
        }
        for b in &spec.bundle {
            if b.arch != "tna" && b.arch != "v1model" {
                return Err(DeploymentError::Placement {
                    file: file.into(),
                    placement: PlacementSpec::Bundle(b).id().0,
                    message: format!("arch {:?}: use \"tna\" or \"v1model\"", b.arch),
                });
            }
        }
        Ok(spec)
    }

    /// The module files, in chain order (one for a single module).
    pub fn module_files(&self) -> Vec<&str> {
        match &self.module {
            Some(m) => vec![m.as_str()],
            None => self.modules.iter().map(String::as_str).collect(),
        }
    }

    /// Does the deployment run a service chain (`modules = [...]`)?
    pub fn is_chain(&self) -> bool {
        self.module.is_none()
    }

    pub fn placements(&self) -> Vec<PlacementSpec<'_>> {
        self.host
            .iter()
            .map(PlacementSpec::Host)
            .chain(self.switch.iter().map(PlacementSpec::Switch))
            .chain(self.bundle.iter().map(PlacementSpec::Bundle))
            .collect()
    }

    /// Checks the bindings against the module: every port a placement binds
    /// exists in the module; every switch binding is a port the switch has.
    /// All problems at once, each naming its placement.
    pub fn check(&self, file: &str, module: &Module) -> Vec<DeploymentError> {
        let mut out = Vec::new();
        let names: Vec<&str> = module.ports.iter().map(|p| p.name.as_str()).collect();
        let err = |placement: String, message: String| DeploymentError::Placement {
            file: file.into(),
            placement,
            message,
        };
        for port in self.ports.keys() {
            if !names.contains(&port.as_str()) {
                out.push(err(
                    "host".into(),
                    format!(
                        "[ports] binds {port:?}, which module {} does not declare (its ports: {})",
                        module.name,
                        names.join(", ")
                    ),
                ));
            }
        }
        for s in &self.switch {
            let id = PlacementSpec::Switch(s).id().0;
            for (port, n) in &s.ports {
                if !names.contains(&port.as_str()) {
                    out.push(err(
                        id.clone(),
                        format!(
                            "binds {port:?}, which module {} does not declare (its ports: {})",
                            module.name,
                            names.join(", ")
                        ),
                    ));
                }
                if !s.switch_ports.is_empty() && !s.switch_ports.contains(n) {
                    out.push(err(
                        id.clone(),
                        format!(
                            "binds {port} to switch port {n}, which the switch does not have (it has {:?})",
                            s.switch_ports
                        ),
                    ));
                }
                if *n >= 511 {
                    out.push(err(
                        id.clone(),
                        format!("binds {port} to switch port {n}: v1model ports are 9 bits and 510/511 are the CPU and drop ports"),
                    ));
                }
            }
        }
        out
    }
}

impl PlacementSpec<'_> {
    pub fn id(&self) -> PlacementId {
        PlacementId(match self {
            PlacementSpec::Host(h) => format!("host:{}", h.iface),
            PlacementSpec::Switch(s) => format!("switch:{}", s.name),
            PlacementSpec::Bundle(b) => format!("bundle:{}", b.name),
        })
    }
}
