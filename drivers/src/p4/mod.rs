//! P4 targets: the BMv2 `simple_switch` driver.
//!
//! BMv2 (p4c's `p4c-bm2-ss`, `simple_switch`, `simple_switch_CLI`) is found on
//! `PATH` or under `OFFLOAD_BMV2_DIR`; where it is missing, [`bmv2::Tools::find`]
//! says which tool and where it looked. [`diff`] runs frames through a
//! module's v1model program on `simple_switch` (on a veth lab) against the
//! reference: `offloadctl validate`'s BMv2 target and the P4 differential
//! tests.

pub mod bmv2;
pub mod diff;
