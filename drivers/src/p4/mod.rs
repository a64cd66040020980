//! P4 targets: the BMv2 `simple_switch` driver and a differential harness
//! that runs the same packets through BMv2 and the reference interpreter.
//!
//! BMv2 (p4c's `p4c-bm2-ss`, `simple_switch`, `simple_switch_CLI`) is found on
//! `PATH` or under `OFFLOAD_BMV2_DIR`; where it is missing, [`bmv2::Tools::find`]
//! says which tool and where it looked, and the tests print that as their
//! skip reason (BMv2 is not part of the CI machines, so this is not a failure
//! even with `OFFLOAD_REQUIRE_KERNEL_TESTS=1`).

pub mod bmv2;
pub mod diff;
