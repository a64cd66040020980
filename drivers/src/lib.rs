//! offload-drivers: everything that touches a live system. The pure crates
//! decide; this crate acts and reads back.
//!
//! Product drivers:
//!
//! | module | job |
//! |---|---|
//! | [`target`] | one [`offload_core::state::Target`] per kind of target: host kernel / offloaded NIC, BMv2 switch, Tofino bundle |
//! | [`deployment`] | a deployment file's placements as targets, and its record (the last desired state committed everywhere) |
//! | [`deploy`] | the host kernel's deploy: apply in phases (prepare, commit, rollback, finish), status, runtime entries, detach; split placement (`deploy::split`: NIC half offloaded, host half beside it) |
//! | [`load`] | loading and attaching programs (aya; our bpf(2) path for hardware offload), bpffs pins, what the kernel reports attached |
//! | [`entries`] | table entries ↔ map elements, batch writes, read-back |
//! | [`sys`] | the sole bpf(2) path, behind a trait tests can fake |
//! | [`netlink`] | read-only netlink (XDP features, links) |
//! | [`probe`] | what each device and the kernel can do |
//! | [`p4rt`] | our P4Runtime client (tonic + hand-written prost messages) |
//! | [`etcd`] | our etcd v3 client for the fleet (async; tonic + hand-written prost messages) |
//! | [`p4`] | the P4 toolchain: p4c-bm2-ss compile, simple_switch processes; the BMv2 differential (`p4::diff`, validate's BMv2 target) |
//! | [`host`] | interface index, iproute2 commands |
//! | [`validate`] | `offloadctl validate`: the same frames through test runs and live veth labs, per-frame results against the reference (builds on `lab` and `testrun`) |
//!
//! Test infrastructure (never used by the product drivers above):
//!
//! | module | job |
//! |---|---|
//! | [`lab`] | veth/netns labs, traffic, comparison with the reference |
//! | [`testrun`] | BPF_PROG_TEST_RUN, live frames, captures |
//! | [`vmlab`] | the offload lab VM (netdevsim in QEMU) |
//! | [`testenv`] | skip rules for kernel and P4 tests |
//! | [`testkit_bmv2`] | `simple_switch_grpc` in a lab for the switch tests: start, compile, connect, clean up |
//! | [`testkit_etcd`] | etcd members on loopback for the fleet tests |
pub mod deploy;
pub mod deployment;
pub mod entries;
pub mod etcd;
pub mod host;
pub mod lab;
pub mod load;
pub mod netlink;
pub mod p4;
pub mod p4rt;
pub mod probe;
pub mod sys;
pub mod target;
pub mod testenv;
pub mod testkit_bmv2;
pub mod testkit_etcd;
pub mod testrun;
pub mod validate;
pub mod vmlab;
