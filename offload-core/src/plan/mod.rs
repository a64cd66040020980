//! Capabilities × requirements → placement, with a reason for every rejected target.
//!
//! - [`profile`]: what each target accepts (kernel, NFP, netdevsim, v1model, TNA),
//!   as data with a source for every limit;
//! - [`check`]: the one fit test shared by the planner and the backends;
//! - [`layout`]: the eBPF maps a module implies (what the budgets count);
//! - [`planner`]: per device, the most offloaded target that fits;
//! - [`split`]: a prefix of the stages in the NIC, the rest on the host.

pub mod check;
pub mod layout;
pub mod planner;
pub mod profile;
pub mod split;

pub use check::{advise, check, check_program, Need, ProgramFacts, Unmet};
pub use layout::{MapRole, MapSpec};
pub use planner::{
    plan, plan_device, plan_device_with, plan_with, Availability, DeviceCaps, DevicePlan, Offer,
    Options, Plan, Refusal, Rejection, Target,
};
pub use profile::{
    EbpfProfile, Family, Helper, Limits, MapType, P4Profile, Profile, Sourced, XdpAction,
};
pub use split::{propose as propose_split, HostStage, SplitPlan, SplitProposal};

#[cfg(test)]
mod tests;
