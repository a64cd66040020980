//! An etcd v3 client of our own, for the fleet (`offloadd`'s desired state
//! and status, `offloadctl fleet`): reads, puts, compare-and-swap
//! transactions, leases and watches over etcd's gRPC API.
//!
//! ```text
//! etcd/
//!   proto.rs    etcdserverpb + mvccpb messages, written by hand with prost
//!               (field numbers of etcd's rpc.proto and kv.proto, pinned by
//!               byte-level tests); no .proto files, no protoc; the prefix
//!               rule (range_end)
//!   client.rs   Client: async API over tonic's generic gRPC client (one
//!               member per client), LeaseKeeper, Watcher; errors that name
//!               the endpoint and the RPC
//! ```
//!
//! It lives in `drivers` because it talks to the network, as [`crate::p4rt`]
//! does, and is built the same way. Unlike [`crate::p4rt::Client`] it is
//! async: its users are the agent's fleet task, which runs on the agent's
//! tokio runtime beside the metrics and control servers, and `offloadctl
//! fleet`, which waits on several things at once (a rollout's convergence);
//! neither wants a runtime per client.
//!
//! A client talks to one member (the first of a list that answers, with
//! [`Client::connect_any`]); on any error its user reconnects, possibly to
//! another member. There is no load balancing across members (a balanced
//! channel keeps sending some requests to a dead member), no TLS and no
//! authentication: offload's fleet reaches etcd over plain HTTP/2.

pub mod client;
pub mod proto;

pub use client::{Client, ConnectOptions, EtcdError, KeepAlive, LeaseKeeper, Watcher};
pub use proto::{
    prefix_range_end, Compare, Event, EventType, KeyValue, PutRequest, RequestOp, TxnRequest,
};
