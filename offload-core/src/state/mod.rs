//! The state model: one desired state for every kind of target, and the
//! decisions over it (DESIGN §7). Pure: the effects live in `drivers::target`,
//! one implementation of [`Target`] per kind of target.
//!
//! | module | job |
//! |---|---|
//! | [`desired`] | what should run: module version, entries, placements |
//! | [`observed`] | what a placement reports it runs, read back from the device |
//! | [`diff`] | desired vs observed → drift (level-triggered, idempotent) |
//! | [`ops`] | entry operations between two entry sets, and their inverse |
//! | [`target`] | the trait a kind of target implements |
//! | [`transaction`] | prepare all → commit all, or roll every placement back |
//! | [`reconcile`] | drift → repairs, only for what offload owns |
//! | [`deployment`] | the deployment file (`deploy.toml`): a module and its placements |
//!
//! The shape follows a Kubernetes controller: `reconcile(desired, observed)`
//! reads both afresh each time and decides; nothing depends on having seen
//! the events that led there.

pub mod deployment;
pub mod desired;
pub mod diff;
pub mod observed;
pub mod ops;
pub mod reconcile;
pub mod target;
pub mod transaction;

pub use deployment::{ChainLink, DeploymentError, DeploymentSpec, HostMode, PlacementSpec};
pub use desired::{Desired, PlacementId, TableDesired, Version};
pub use diff::{diff, Drift};
pub use observed::{Observed, ProgramState, TableObserved};
pub use ops::{entry_ops, inverse, EntryOp};
pub use reconcile::{plan_repairs, reconcile, Repair, RepairReport};
pub use target::{Target, TargetError};
pub use transaction::{apply, change_entries, ApplyOutcome, TxError};

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
