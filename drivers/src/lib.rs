//! offload-drivers
pub mod deploy;
pub mod entries;
pub mod lab;
pub mod load;
pub mod netlink;
pub mod p4;
pub mod p4rt;
pub mod probe;
pub mod sys;
pub mod testenv;
pub mod testkit_bmv2;
pub mod testrun;
pub mod vmlab;
