//! A P4Runtime client of our own, for BMv2's `simple_switch_grpc` (and any
//! P4Runtime 1.x server): arbitration, pipeline config, writes, reads.
//!
//! ```text
//! p4rt/
//!   proto.rs      p4.v1 + google.rpc messages, written by hand with prost
//!                 (field numbers of PI 0.1.2's p4runtime.proto, pinned by
//!                 byte-level tests); no .proto files, no protoc
//!   p4info.rs     the part of a P4Info needed for id lookups (tables, match
//!                 fields, actions, params, counters, direct counters)
//!   client.rs     Client: blocking API over tonic's generic gRPC client, a
//!                 tokio current-thread runtime inside; keeps the StreamChannel
//!                 (the arbitration) open for its whole life
//!   translate.rs  module entries (offload_core::ir::Entry) <-> TableEntry,
//!                 canonical both ways so that a read-back diffs cleanly
//!   bytestr.rs    P4Runtime canonical bytestrings (spec §8.4)
//!   tools.rs      finding simple_switch_grpc and p4c-bm2-ss
//! ```
//!
//! The rest of offload is synchronous, so [`Client`] is too: every call
//! blocks until the switch answered or the client's timeout passed.
//!
//! What BMv2 (`simple_switch_grpc` with PI 0.1.2) does, found by experiment
//! in `drivers/tests/p4rt_bmv2.rs` and in PI's `device_mgr.cpp`:
//! - `Write` with `ROLLBACK_ON_ERROR` or `DATAPLANE_ATOMIC` is refused as a
//!   whole with `UNIMPLEMENTED` ("Support for atomic write modes has not been
//!   implemented yet") and nothing is written; only `CONTINUE_ON_ERROR` works,
//!   and it reports one `p4.v1.Error` per update. [`Client::write_all_or_none`]
//!   gives the all-or-none promise on top of it by undoing what succeeded.
//! - The pipeline actions: see [`PipelineAction`] and the integration test's
//!   findings quoted in [`client`].

pub mod bytestr;
pub mod client;
pub mod p4info;
pub mod proto;
pub mod tools;
pub mod translate;

pub use client::{api_version, Client, P4rtError, UpdateError};
pub use p4info::P4Info;
pub use proto::{Atomicity, PipelineAction, TableEntry, Update, UpdateType};
