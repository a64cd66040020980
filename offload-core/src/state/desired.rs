//! What should run: a module version, its entries per table, its placements.

use crate::ir::{ActionCall, Entry, Module};
use std::collections::BTreeMap;

/// A placement's name, unique in a deployment: `host:<iface>`,
/// `switch:<name>`, `bundle:<name>`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PlacementId(pub String);

impl std::fmt::Display for PlacementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A module version: the digest of its source (what every target records as
/// its program identity, so a read-back can tell versions apart) and the
/// deployment's counter of applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Version {
    pub number: u64,
    /// 16 hex digits of FNV-1a 64 over the module source.
    pub digest: String,
}

impl Version {
    pub fn of(source: &str, number: u64) -> Version {
        Version {
            number,
            digest: digest(source),
        }
    }
    /// The digest as a number (P4Runtime's pipeline cookie holds it).
    pub fn cookie(&self) -> u64 {
        u64::from_str_radix(&self.digest, 16).unwrap_or(0)
    }
}

/// FNV-1a 64: stable across runs, platforms and Rust versions (std's
/// hashers promise none of that).
pub fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Entries and default action of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDesired {
    pub entries: Vec<Entry>,
    pub default: ActionCall,
}

/// The desired state of one deployment.
#[derive(Debug, Clone)]
pub struct Desired {
    pub module: Module,
    pub source: String,
    pub version: Version,
    /// By table name, in module order.
    pub tables: BTreeMap<String, TableDesired>,
    pub placements: Vec<PlacementId>,
}

impl Desired {
    /// The module's own entries and defaults.
    pub fn from_module(
        module: Module,
        source: &str,
        number: u64,
        placements: Vec<PlacementId>,
    ) -> Desired {
        let tables = module
            .tables
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    TableDesired {
                        entries: t.entries.clone(),
                        default: t.default_action.clone(),
                    },
                )
            })
            .collect();
        Desired {
            version: Version::of(source, number),
            source: source.to_string(),
            module,
            tables,
            placements,
        }
    }

    /// The same desired state with other entries (a runtime change).
    pub fn with_tables(&self, tables: BTreeMap<String, TableDesired>) -> Desired {
        Desired {
            tables,
            ..self.clone()
        }
    }
}
