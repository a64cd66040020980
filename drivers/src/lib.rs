//! offload-drivers
pub mod lab;
pub mod load;
pub mod netlink;
pub mod probe;
pub mod sys;
pub mod testenv;
pub mod vmlab;
pub mod entries;
pub mod p4;
pub mod deploy;
pub mod testrun;
