//! etcd v3 messages (packages `etcdserverpb` and `mvccpb`), written by hand
//! with `prost` — only the fields offload uses.
//!
//! Field numbers are those of etcd's `api/etcdserverpb/rpc.proto` and
//! `api/mvccpb/kv.proto`; they have not changed since v3.0 (protobuf
//! compatibility), so the same messages talk to Debian's etcd 3.4 and to
//! 3.5/3.6. Fields left out are skipped as unknown fields when decoding, which
//! protobuf allows (a `RangeResponse`'s `count`, a newer server's additions).
//! Numbers are pinned by byte-level tests at the end of this file.
//!
//! Proto3 rules that matter here: a scalar at its default (0, empty, false)
//! is not sent, so `PutRequest { lease: 0 }` is a put without a lease; a
//! `oneof` member is always sent once set, so `Compare`'s `mod_revision = 0`
//! ("the key does not exist") is on the wire.

/// `etcdserverpb.ResponseHeader`: the revision is the store's revision when
/// the request was served.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseHeader {
    #[prost(uint64, tag = "1")]
    pub cluster_id: u64,
    #[prost(uint64, tag = "2")]
    pub member_id: u64,
    #[prost(int64, tag = "3")]
    pub revision: i64,
    #[prost(uint64, tag = "4")]
    pub raft_term: u64,
}

/// `mvccpb.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    /// The revision of the key's last write: what a compare-and-swap checks.
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    #[prost(int64, tag = "4")]
    pub version: i64,
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
    /// The lease the key is attached to (0: none).
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

impl KeyValue {
    /// The key as text, if it is UTF-8 (offload's keys always are).
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// `mvccpb.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EventType {
    Put = 0,
    /// A delete, or the expiry of the key's lease.
    Delete = 1,
}

/// `mvccpb.Event` (no `prev_kv`: offload never asks for it).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(enumeration = "EventType", tag = "1")]
    pub r#type: i32,
    /// A put: the new key-value; a delete: the key, `mod_revision` the
    /// revision of the delete.
    #[prost(message, optional, tag = "2")]
    pub kv: Option<KeyValue>,
}

impl Event {
    /// The kind of event; `Err(raw)` for a kind this client does not know.
    pub fn kind(&self) -> Result<EventType, i32> {
        EventType::try_from(self.r#type).map_err(|_| self.r#type)
    }
}

/// The `range_end` that makes a request cover every key starting with
/// `prefix` (etcd's rule, clientv3's `getPrefix`): the prefix with its last
/// byte below 0xff incremented and what follows it dropped. A prefix of only
/// 0xff bytes has no such key; etcd's answer is `[0]`, "to the end of the
/// keyspace".
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    match prefix.iter().rposition(|&b| b < 0xff) {
        Some(i) => {
            let mut end = prefix[..=i].to_vec();
            end[i] += 1;
            end
        }
        None => vec![0],
    }
}

/// `(key, range_end)` of every key starting with `prefix`. An empty prefix
/// is the whole keyspace, which etcd spells `key = [0], range_end = [0]` (an
/// empty key alone would be refused as "key not provided").
pub fn prefix_range(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        (vec![0], vec![0])
    } else {
        (prefix.to_vec(), prefix_range_end(prefix))
    }
}

/// `etcdserverpb.RangeRequest`: one key (`range_end` empty) or the keys in
/// `[key, range_end)`. Linearizable (no `serializable`): what a read returns
/// went through the leader.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
}

impl RangeRequest {
    pub fn key(key: impl Into<Vec<u8>>) -> Self {
        RangeRequest {
            key: key.into(),
            range_end: Vec::new(),
        }
    }
    pub fn prefix(prefix: impl AsRef<[u8]>) -> Self {
        let (key, range_end) = prefix_range(prefix.as_ref());
        RangeRequest { key, range_end }
    }
}

/// `etcdserverpb.RangeResponse` (no `count`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// In key order.
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
    /// Only with a `limit`, which offload does not set.
    #[prost(bool, tag = "3")]
    pub more: bool,
}

/// `etcdserverpb.PutRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    /// 0: no lease; otherwise the key is deleted when the lease expires.
    #[prost(int64, tag = "3")]
    pub lease: i64,
}

/// `etcdserverpb.PutResponse` (no `prev_kv`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// `etcdserverpb.Compare.CompareResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CompareResult {
    Equal = 0,
    Greater = 1,
    Less = 2,
    NotEqual = 3,
}

/// `etcdserverpb.Compare.CompareTarget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CompareTarget {
    Version = 0,
    Create = 1,
    Mod = 2,
    Value = 3,
    Lease = 4,
}

/// `etcdserverpb.Compare`: one condition of a [`TxnRequest`] (no
/// `range_end`: offload compares single keys).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compare {
    #[prost(enumeration = "CompareResult", tag = "1")]
    pub result: i32,
    #[prost(enumeration = "CompareTarget", tag = "2")]
    pub target: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    /// The value compared with; its member must match `target`.
    #[prost(oneof = "compare::TargetUnion", tags = "6")]
    pub target_union: Option<compare::TargetUnion>,
}

pub mod compare {
    /// The members of `Compare.target_union` offload uses (`version = 4`,
    /// `create_revision = 5`, `value = 7`, `lease = 8` left out).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum TargetUnion {
        #[prost(int64, tag = "6")]
        ModRevision(i64),
    }
}

impl Compare {
    /// `key`'s `mod_revision` is `revision`; 0 means "the key does not exist"
    /// (etcd compares a missing key's revisions as 0).
    pub fn mod_revision_equal(key: impl Into<Vec<u8>>, revision: i64) -> Self {
        Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Mod as i32,
            key: key.into(),
            target_union: Some(compare::TargetUnion::ModRevision(revision)),
        }
    }
}

/// `etcdserverpb.RequestOp`: one operation of a [`TxnRequest`] branch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    /// `request_range = 1`, `request_delete_range = 3`, `request_txn = 4`
    /// left out.
    #[prost(oneof = "request_op::Request", tags = "2")]
    pub request: Option<request_op::Request>,
}

pub mod request_op {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Request {
        #[prost(message, tag = "2")]
        Put(super::PutRequest),
    }
}

impl RequestOp {
    pub fn put(req: PutRequest) -> Self {
        RequestOp {
            request: Some(request_op::Request::Put(req)),
        }
    }
}

/// `etcdserverpb.ResponseOp`: the answer of one [`RequestOp`], in order.
/// The kinds offload does not send decode as `response: None`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseOp {
    #[prost(oneof = "response_op::Response", tags = "2")]
    pub response: Option<response_op::Response>,
}

pub mod response_op {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Response {
        #[prost(message, tag = "2")]
        Put(super::PutResponse),
    }
}

/// `etcdserverpb.TxnRequest`: if every `compare` holds, `success` runs,
/// otherwise `failure` — atomically, in one revision.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

/// `etcdserverpb.TxnResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// Whether the compares held (the `success` branch ran).
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
    #[prost(message, repeated, tag = "3")]
    pub responses: Vec<ResponseOp>,
}

/// `etcdserverpb.LeaseGrantRequest` (`TTL`, `ID` in the .proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseGrantRequest {
    /// Seconds; the server raises it to its minimum (about 3 election
    /// timeouts, 2 s by default).
    #[prost(int64, tag = "1")]
    pub ttl: i64,
    /// 0: the server picks the id.
    #[prost(int64, tag = "2")]
    pub id: i64,
}

/// `etcdserverpb.LeaseGrantResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseGrantResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(int64, tag = "2")]
    pub id: i64,
    /// Seconds, as granted.
    #[prost(int64, tag = "3")]
    pub ttl: i64,
    #[prost(string, tag = "4")]
    pub error: String,
}

/// `etcdserverpb.LeaseKeepAliveRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseKeepAliveRequest {
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// `etcdserverpb.LeaseKeepAliveResponse`: `ttl <= 0` when the lease is gone
/// (expired or revoked).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseKeepAliveResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(int64, tag = "2")]
    pub id: i64,
    #[prost(int64, tag = "3")]
    pub ttl: i64,
}

/// `etcdserverpb.WatchCreateRequest` (no filters, `prev_kv`, progress
/// notifications or fragments).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchCreateRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    /// The first revision to report (0: from now on). Events since then are
    /// replayed, unless compacted away (the watch is then canceled).
    #[prost(int64, tag = "3")]
    pub start_revision: i64,
}

impl WatchCreateRequest {
    pub fn prefix(prefix: impl AsRef<[u8]>, start_revision: i64) -> Self {
        let (key, range_end) = prefix_range(prefix.as_ref());
        WatchCreateRequest {
            key,
            range_end,
            start_revision,
        }
    }
}

/// `etcdserverpb.WatchRequest` (`cancel_request = 2`, `progress_request = 3`
/// left out: a watch ends with its stream).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchRequest {
    #[prost(oneof = "watch_request::RequestUnion", tags = "1")]
    pub request_union: Option<watch_request::RequestUnion>,
}

pub mod watch_request {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum RequestUnion {
        #[prost(message, tag = "1")]
        CreateRequest(super::WatchCreateRequest),
    }
}

/// `etcdserverpb.WatchResponse` (no `fragment`: never asked for).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(int64, tag = "2")]
    pub watch_id: i64,
    /// The answer to a create request (no events in it).
    #[prost(bool, tag = "3")]
    pub created: bool,
    /// The watch ended on the server's side; no more events follow.
    #[prost(bool, tag = "4")]
    pub canceled: bool,
    /// Set with `canceled` when the start revision was compacted away: the
    /// oldest revision still available.
    #[prost(int64, tag = "5")]
    pub compact_revision: i64,
    #[prost(string, tag = "6")]
    pub cancel_reason: String,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
}

/// `etcdserverpb.StatusRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {}

/// `etcdserverpb.StatusResponse`: answered by the member itself, with or
/// without a leader (no quorum needed).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// The server's version, e.g. "3.4.23".
    #[prost(string, tag = "2")]
    pub version: String,
    /// The leader's member id; 0 when the member knows no leader.
    #[prost(uint64, tag = "4")]
    pub leader: u64,
    /// E.g. "etcdserver: no leader" (etcd 3.4 and later).
    #[prost(string, repeated, tag = "8")]
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    //! Encodings computed by hand from the .proto field numbers: a key byte
    //! is `(field << 3) | wire_type` (0 varint, 2 length-delimited).
    use super::*;
    use prost::Message;

    #[test]
    fn prefix_range_end_increments_the_last_byte() {
        assert_eq!(
            prefix_range_end(b"/offload/desired/g/"),
            b"/offload/desired/g0"
        );
        assert_eq!(prefix_range_end(b"a"), b"b");
        assert_eq!(prefix_range_end(&[0x00]), [0x01]);
        assert_eq!(prefix_range_end(&[0x61, 0xfe]), [0x61, 0xff]);
    }

    #[test]
    fn prefix_range_end_carries_over_0xff() {
        // Trailing 0xff bytes cannot be incremented: they are dropped and the
        // byte before them is (no key starting with a\xff\xff sorts after "b").
        assert_eq!(prefix_range_end(&[0x61, 0xff]), [0x62]);
        assert_eq!(prefix_range_end(&[0x61, 0xff, 0xff]), [0x62]);
        assert_eq!(prefix_range_end(&[0x01, 0xfe, 0xff]), [0x01, 0xff]);
        // Only 0xff: no end key exists; etcd reads [0] as "to the end".
        assert_eq!(prefix_range_end(&[0xff]), [0x00]);
        assert_eq!(prefix_range_end(&[0xff, 0xff]), [0x00]);
        assert_eq!(prefix_range_end(&[]), [0x00]);
    }

    #[test]
    fn prefix_range_of_the_empty_prefix_is_the_keyspace() {
        assert_eq!(prefix_range(b""), (vec![0], vec![0]));
        assert_eq!(prefix_range(b"/p/"), (b"/p/".to_vec(), b"/p0".to_vec()));
    }

    #[test]
    fn range_prefix_request_bytes() {
        let req = RangeRequest::prefix("/a/");
        let bytes = req.encode_to_vec();
        #[rustfmt::skip]
        let expected = [
            0x0a, 0x03, b'/', b'a', b'/',   // 1: key = "/a/"
            0x12, 0x03, b'/', b'a', b'0',   // 2: range_end = "/a0"
        ];
        assert_eq!(bytes, expected);
        assert_eq!(RangeRequest::decode(&bytes[..]).unwrap(), req);
        // One key: no range_end on the wire.
        assert_eq!(RangeRequest::key("k").encode_to_vec(), [0x0a, 0x01, b'k']);
    }

    #[test]
    fn range_response_parse_skips_unknown_fields() {
        #[rustfmt::skip]
        let bytes = [
            0x0a, 0x06,                   // 1: header, 6 bytes
              0x08, 0x01,                 //   1: cluster_id = 1
              0x18, 0x2a,                 //   3: revision = 42
              0x20, 0x02,                 //   4: raft_term = 2
            0x12, 0x0c,                   // 2: kvs[0], 12 bytes
              0x0a, 0x01, b'k',           //   1: key = "k"
              0x10, 0x05,                 //   2: create_revision = 5
              0x18, 0x07,                 //   3: mod_revision = 7
              0x20, 0x02,                 //   4: version = 2
              0x2a, 0x01, b'v',           //   5: value = "v"
            0x20, 0x01,                   // 4: count = 1 (not modelled)
        ];
        let r = RangeResponse::decode(&bytes[..]).unwrap();
        assert_eq!(r.header.as_ref().unwrap().revision, 42);
        assert_eq!(r.header.as_ref().unwrap().raft_term, 2);
        let kv = &r.kvs[0];
        assert_eq!(
            (
                kv.key_str(),
                kv.create_revision,
                kv.mod_revision,
                kv.version
            ),
            (Some("k"), 5, 7, 2)
        );
        assert_eq!((kv.value.as_slice(), kv.lease), (&b"v"[..], 0));
        assert!(!r.more);
        // Emitted again without the unknown `count`.
        assert_eq!(r.encode_to_vec(), bytes[..bytes.len() - 2]);
    }

    #[test]
    fn txn_compare_and_swap_bytes() {
        let req = TxnRequest {
            compare: vec![Compare::mod_revision_equal("k", 7)],
            success: vec![RequestOp::put(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                lease: 0,
            })],
            failure: vec![],
        };
        let bytes = req.encode_to_vec();
        #[rustfmt::skip]
        let expected = [
            0x0a, 0x07,                   // 1: compare[0], 7 bytes
              // 1: result = EQUAL (0, the default: not sent)
              0x10, 0x02,                 //   2: target = MOD
              0x1a, 0x01, b'k',           //   3: key = "k"
              0x30, 0x07,                 //   6: mod_revision = 7
            0x12, 0x08,                   // 2: success[0], 8 bytes
              0x12, 0x06,                 //   2: request_put, 6 bytes
                0x0a, 0x01, b'k',         //     1: key = "k"
                0x12, 0x01, b'v',         //     2: value = "v" (lease 0: not sent)
        ];
        assert_eq!(bytes, expected);
        assert_eq!(TxnRequest::decode(&bytes[..]).unwrap(), req);
    }

    #[test]
    fn compare_with_revision_zero_is_on_the_wire() {
        // "The key does not exist": a oneof member at 0 is still sent.
        let c = Compare::mod_revision_equal("k", 0);
        assert_eq!(
            c.encode_to_vec(),
            [0x10, 0x02, 0x1a, 0x01, b'k', 0x30, 0x00]
        );
    }

    #[test]
    fn txn_response_parse() {
        #[rustfmt::skip]
        let bytes = [
            0x0a, 0x02, 0x18, 0x09,       // 1: header { revision = 9 }
            0x10, 0x01,                   // 2: succeeded = true
            0x1a, 0x06,                   // 3: responses[0], 6 bytes
              0x12, 0x04,                 //   2: response_put, 4 bytes
                0x0a, 0x02, 0x18, 0x09,   //     1: header { revision = 9 }
            0x1a, 0x04,                   // 3: responses[1], 4 bytes
              0x0a, 0x02, 0x0a, 0x00,     //   1: response_range {header {}} (not modelled)
        ];
        let r = TxnResponse::decode(&bytes[..]).unwrap();
        assert!(r.succeeded);
        assert_eq!(r.header.unwrap().revision, 9);
        assert_eq!(r.responses.len(), 2);
        let Some(response_op::Response::Put(p)) = &r.responses[0].response else {
            panic!("not a put: {:?}", r.responses[0]);
        };
        assert_eq!(p.header.as_ref().unwrap().revision, 9);
        assert_eq!(r.responses[1].response, None);
    }

    #[test]
    fn put_with_lease_bytes() {
        let req = PutRequest {
            key: b"s".to_vec(),
            value: b"{}".to_vec(),
            lease: 0x1234,
        };
        #[rustfmt::skip]
        let expected = [
            0x0a, 0x01, b's',             // 1: key = "s"
            0x12, 0x02, b'{', b'}',       // 2: value = "{}"
            0x18, 0xb4, 0x24,             // 3: lease = 0x1234 (varint 0x34|0x80, 0x24)
        ];
        assert_eq!(req.encode_to_vec(), expected);
        assert_eq!(PutRequest::decode(&expected[..]).unwrap(), req);
    }

    #[test]
    fn lease_messages_bytes() {
        let grant = LeaseGrantRequest { ttl: 5, id: 0 };
        assert_eq!(grant.encode_to_vec(), [0x08, 0x05]); // 1: TTL = 5
        #[rustfmt::skip]
        let granted = [
            0x0a, 0x02, 0x18, 0x03,       // 1: header { revision = 3 }
            0x10, 0x2a,                   // 2: ID = 42
            0x18, 0x05,                   // 3: TTL = 5
            0x22, 0x02, b'n', b'o',       // 4: error = "no"
        ];
        let r = LeaseGrantResponse::decode(&granted[..]).unwrap();
        assert_eq!((r.id, r.ttl, r.error.as_str()), (42, 5, "no"));
        assert_eq!(r.encode_to_vec(), granted);

        let keep = LeaseKeepAliveRequest { id: 42 };
        assert_eq!(keep.encode_to_vec(), [0x08, 0x2a]); // 1: ID = 42
        let alive = [0x10, 0x2a, 0x18, 0x04]; // 2: ID = 42, 3: TTL = 4
        let r = LeaseKeepAliveResponse::decode(&alive[..]).unwrap();
        assert_eq!((r.id, r.ttl, r.header), (42, 4, None));
    }

    #[test]
    fn watch_create_request_bytes() {
        let req = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest::prefix("/w/", 300),
            )),
        };
        let bytes = req.encode_to_vec();
        #[rustfmt::skip]
        let expected = [
            0x0a, 0x0d,                   // 1: create_request, 13 bytes
              0x0a, 0x03, b'/', b'w', b'/', //   1: key = "/w/"
              0x12, 0x03, b'/', b'w', b'0', //   2: range_end = "/w0"
              0x18, 0xac, 0x02,           //   3: start_revision = 300
        ];
        assert_eq!(bytes, expected);
        assert_eq!(WatchRequest::decode(&bytes[..]).unwrap(), req);
    }

    #[test]
    fn watch_response_with_events() {
        #[rustfmt::skip]
        let bytes = [
            0x0a, 0x02, 0x18, 0x0b,       // 1: header { revision = 11 }
            0x10, 0x01,                   // 2: watch_id = 1
            0x5a, 0x0a,                   // 11: events[0], 10 bytes
              // 1: type = PUT (0: not sent)
              0x12, 0x08,                 //   2: kv, 8 bytes
                0x0a, 0x01, b'a',         //     1: key = "a"
                0x18, 0x0b,               //     3: mod_revision = 11
                0x2a, 0x01, b'1',         //     5: value = "1"
            0x5a, 0x09,                   // 11: events[1], 9 bytes
              0x08, 0x01,                 //   1: type = DELETE
              0x12, 0x05,                 //   2: kv, 5 bytes
                0x0a, 0x01, b'b',         //     1: key = "b"
                0x18, 0x0b,               //     3: mod_revision = 11
        ];
        let r = WatchResponse::decode(&bytes[..]).unwrap();
        assert_eq!((r.watch_id, r.created, r.canceled), (1, false, false));
        assert_eq!(r.events.len(), 2);
        assert_eq!(r.events[0].kind(), Ok(EventType::Put));
        assert_eq!(r.events[1].kind(), Ok(EventType::Delete));
        let kv = r.events[0].kv.as_ref().unwrap();
        assert_eq!((kv.key_str(), kv.mod_revision), (Some("a"), 11));
        assert_eq!(kv.value, b"1");
        assert_eq!(r.encode_to_vec(), bytes);
        // A kind this client does not know is reported as such.
        let odd = Event::decode(&[0x08, 0x07][..]).unwrap();
        assert_eq!(odd.kind(), Err(7));
    }

    #[test]
    fn watch_response_canceled_after_compaction() {
        #[rustfmt::skip]
        let bytes = [
            0x10, 0x03,                   // 2: watch_id = 3
            0x20, 0x01,                   // 4: canceled = true
            0x28, 0x64,                   // 5: compact_revision = 100
            0x32, 0x04, b'g', b'o', b'n', b'e', // 6: cancel_reason = "gone"
        ];
        let r = WatchResponse::decode(&bytes[..]).unwrap();
        assert!(r.canceled && !r.created);
        assert_eq!(
            (r.compact_revision, r.cancel_reason.as_str()),
            (100, "gone")
        );
        assert_eq!(r.encode_to_vec(), bytes);
    }

    #[test]
    fn status_response_parse() {
        #[rustfmt::skip]
        let bytes = [
            0x12, 0x06, b'3', b'.', b'4', b'.', b'2', b'3', // 2: version = "3.4.23"
            0x18, 0x80, 0x20,             // 3: dbSize = 4096 (not modelled)
            0x20, 0x00,                   // 4: leader = 0
            0x42, 0x03, b'n', b'o', b'l', // 8: errors[0] = "nol"
        ];
        let r = StatusResponse::decode(&bytes[..]).unwrap();
        assert_eq!(r.version, "3.4.23");
        assert_eq!(r.leader, 0);
        assert_eq!(r.errors, ["nol"]);
    }
}
