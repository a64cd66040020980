//! P4 targets: the BMv2 `simple_switch` driver.
//!
//! BMv2 (p4c's `p4c-bm2-ss`, `simple_switch`, `simple_switch_CLI`) is found on
//! `PATH` or under `OFFLOAD_BMV2_DIR`; where it is missing, [`bmv2::Tools::find`]
//! says which tool and where it looked. The differential harness that runs
//! generated programs on BMv2 against the reference is test infrastructure
//! and lives with the tests (`tests/p4_support/bmv2_diff.rs`).

pub mod bmv2;
