//! P4Runtime messages (package `p4.v1`) and the two Google ones they embed,
//! written by hand with `prost` — only the fields offload uses.
//!
//! Field numbers are those of p4runtime.proto / google/rpc/status.proto as
//! pinned by PI 0.1.2 (the revision simple_switch_grpc is built with; PI
//! reports P4Runtime API version 1.3.0). Fields left out are skipped as
//! unknown fields when decoding, which protobuf allows, so a read answer with
//! e.g. meter data still decodes. Numbers are pinned by byte-level tests at
//! the end of this file.
//!
//! One deliberate deviation: `ForwardingPipelineConfig.p4info` is declared as
//! `bytes` instead of the `p4.config.v1.P4Info` message. An embedded message
//! and a byte string have the same wire encoding (length-delimited, wire type
//! 2), so the switch sees exactly the P4Info that p4c wrote, with nothing we
//! do not model dropped on the way ([`super::p4info`] decodes the part we need).

/// `p4.v1.Uint128`: election ids.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Uint128 {
    #[prost(uint64, tag = "1")]
    pub high: u64,
    #[prost(uint64, tag = "2")]
    pub low: u64,
}

impl From<u128> for Uint128 {
    fn from(v: u128) -> Self {
        Uint128 {
            high: (v >> 64) as u64,
            low: v as u64,
        }
    }
}

impl From<Uint128> for u128 {
    fn from(v: Uint128) -> Self {
        (u128::from(v.high) << 64) | u128::from(v.low)
    }
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.Status`: what a failed RPC carries in its
/// `grpc-status-details-bin` trailer, and the status of an arbitration.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// The `type_url` of a packed [`Error`].
pub const ERROR_TYPE_URL: &str = "type.googleapis.com/p4.v1.Error";

/// `p4.v1.Error`: one per update of a failed `Write`, in update order
/// (`canonical_code` 0 for the updates that succeeded).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    #[prost(int32, tag = "1")]
    pub canonical_code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(string, tag = "3")]
    pub space: String,
    #[prost(int32, tag = "4")]
    pub code: i32,
    #[prost(message, optional, tag = "5")]
    pub details: Option<Any>,
}

/// `p4.v1.Role`. The default role (no `Role` at all) is what offload uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Role {
    /// Deprecated in P4Runtime 1.4 in favour of `name`; PI 0.1.2 still has it.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "3")]
    pub name: String,
}

/// `p4.v1.MasterArbitrationUpdate`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MasterArbitrationUpdate {
    #[prost(uint64, tag = "1")]
    pub device_id: u64,
    #[prost(message, optional, tag = "2")]
    pub role: Option<Role>,
    #[prost(message, optional, tag = "3")]
    pub election_id: Option<Uint128>,
    #[prost(message, optional, tag = "4")]
    pub status: Option<RpcStatus>,
}

/// `p4.v1.StreamMessageRequest` (arbitration only; no packet-out).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamMessageRequest {
    #[prost(oneof = "stream_message_request::Update", tags = "1")]
    pub update: Option<stream_message_request::Update>,
}

pub mod stream_message_request {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Update {
        #[prost(message, tag = "1")]
        Arbitration(super::MasterArbitrationUpdate),
    }
}

/// `p4.v1.StreamMessageResponse` (arbitration and stream errors; packet-in,
/// digests and idle-timeouts decode as `update: None`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamMessageResponse {
    #[prost(oneof = "stream_message_response::Update", tags = "1, 6")]
    pub update: Option<stream_message_response::Update>,
}

pub mod stream_message_response {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Update {
        #[prost(message, tag = "1")]
        Arbitration(super::MasterArbitrationUpdate),
        #[prost(message, tag = "6")]
        Error(super::StreamError),
    }
}

/// `p4.v1.StreamError` (without its details).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamError {
    #[prost(int32, tag = "1")]
    pub canonical_code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(string, tag = "3")]
    pub space: String,
    #[prost(int32, tag = "4")]
    pub code: i32,
}

/// `SetForwardingPipelineConfigRequest.Action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PipelineAction {
    Unspecified = 0,
    /// Check the config; change nothing.
    Verify = 1,
    /// Check and store it; the running pipeline keeps forwarding until COMMIT.
    VerifyAndSave = 2,
    /// Check, store and switch to it (table state is lost).
    VerifyAndCommit = 3,
    /// Switch to the config stored by VERIFY_AND_SAVE.
    Commit = 4,
    /// Switch to it keeping the forwarding state where the new program allows.
    ReconcileAndCommit = 5,
}

/// `p4.v1.SetForwardingPipelineConfigRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetForwardingPipelineConfigRequest {
    #[prost(uint64, tag = "1")]
    pub device_id: u64,
    #[prost(string, tag = "6")]
    pub role: String,
    #[prost(message, optional, tag = "3")]
    pub election_id: Option<Uint128>,
    #[prost(enumeration = "PipelineAction", tag = "4")]
    pub action: i32,
    #[prost(message, optional, tag = "5")]
    pub config: Option<ForwardingPipelineConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SetForwardingPipelineConfigResponse {}

/// `p4.v1.ForwardingPipelineConfig`, with `p4info` kept as raw bytes (see
/// the module documentation).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ForwardingPipelineConfig {
    #[prost(bytes = "vec", tag = "1")]
    pub p4info: Vec<u8>,
    /// For BMv2: the JSON p4c-bm2-ss wrote.
    #[prost(bytes = "vec", tag = "2")]
    pub p4_device_config: Vec<u8>,
    #[prost(message, optional, tag = "3")]
    pub cookie: Option<Cookie>,
}

/// `ForwardingPipelineConfig.Cookie`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Cookie {
    #[prost(uint64, tag = "1")]
    pub cookie: u64,
}

/// `GetForwardingPipelineConfigRequest.ResponseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    All = 0,
    CookieOnly = 1,
    P4infoAndCookie = 2,
    DeviceConfigAndCookie = 3,
}

/// `p4.v1.GetForwardingPipelineConfigRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetForwardingPipelineConfigRequest {
    #[prost(uint64, tag = "1")]
    pub device_id: u64,
    #[prost(enumeration = "ResponseType", tag = "2")]
    pub response_type: i32,
}

/// `p4.v1.GetForwardingPipelineConfigResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetForwardingPipelineConfigResponse {
    #[prost(message, optional, tag = "1")]
    pub config: Option<ForwardingPipelineConfig>,
}

/// `WriteRequest.Atomicity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Atomicity {
    /// Each update on its own; failures are reported per update.
    ContinueOnError = 0,
    /// All updates or none (as seen by the control plane).
    RollbackOnError = 1,
    /// All or none, also as seen by packets.
    DataplaneAtomic = 2,
}

/// `p4.v1.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(uint64, tag = "1")]
    pub device_id: u64,
    #[prost(string, tag = "6")]
    pub role: String,
    #[prost(message, optional, tag = "3")]
    pub election_id: Option<Uint128>,
    #[prost(message, repeated, tag = "4")]
    pub updates: Vec<Update>,
    #[prost(enumeration = "Atomicity", tag = "5")]
    pub atomicity: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteResponse {}

/// `p4.v1.ReadRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    #[prost(uint64, tag = "1")]
    pub device_id: u64,
    #[prost(string, tag = "3")]
    pub role: String,
    #[prost(message, repeated, tag = "2")]
    pub entities: Vec<Entity>,
}

/// `p4.v1.ReadResponse` (the server streams one or more).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    #[prost(message, repeated, tag = "1")]
    pub entities: Vec<Entity>,
}

/// `Update.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum UpdateType {
    Unspecified = 0,
    Insert = 1,
    Modify = 2,
    Delete = 3,
}

/// `p4.v1.Update`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Update {
    #[prost(enumeration = "UpdateType", tag = "1")]
    pub r#type: i32,
    #[prost(message, optional, tag = "2")]
    pub entity: Option<Entity>,
}

impl Update {
    /// An update of a table entry.
    pub fn table(kind: UpdateType, entry: TableEntry) -> Update {
        Update {
            r#type: kind as i32,
            entity: Some(Entity::table(entry)),
        }
    }
    pub fn insert(entry: TableEntry) -> Update {
        Update::table(UpdateType::Insert, entry)
    }
    pub fn modify(entry: TableEntry) -> Update {
        Update::table(UpdateType::Modify, entry)
    }
    pub fn delete(entry: TableEntry) -> Update {
        Update::table(UpdateType::Delete, entry)
    }
}

/// `p4.v1.Entity` (the kinds offload uses; others decode as `entity: None`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entity {
    #[prost(oneof = "entity::Entity", tags = "2, 7, 8")]
    pub entity: Option<entity::Entity>,
}

pub mod entity {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Entity {
        #[prost(message, tag = "2")]
        TableEntry(super::TableEntry),
        #[prost(message, tag = "7")]
        CounterEntry(super::CounterEntry),
        #[prost(message, tag = "8")]
        DirectCounterEntry(super::DirectCounterEntry),
    }
}

impl Entity {
    pub fn table(entry: TableEntry) -> Entity {
        Entity {
            entity: Some(entity::Entity::TableEntry(entry)),
        }
    }
}

/// `p4.v1.TableEntry`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TableEntry {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(message, repeated, tag = "2")]
    pub r#match: Vec<FieldMatch>,
    #[prost(message, optional, tag = "3")]
    pub action: Option<TableAction>,
    /// Higher wins; must be > 0 exactly for tables with ternary/range/optional keys.
    #[prost(int32, tag = "4")]
    pub priority: i32,
    /// In a read request: present = "send the direct counter values too".
    #[prost(message, optional, tag = "7")]
    pub counter_data: Option<CounterData>,
    #[prost(bool, tag = "8")]
    pub is_default_action: bool,
    #[prost(bytes = "vec", tag = "11")]
    pub metadata: Vec<u8>,
    #[prost(bool, tag = "13")]
    pub is_const: bool,
}

/// `p4.v1.FieldMatch`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldMatch {
    #[prost(uint32, tag = "1")]
    pub field_id: u32,
    #[prost(oneof = "field_match::FieldMatchType", tags = "2, 3, 4, 6, 7")]
    pub field_match_type: Option<field_match::FieldMatchType>,
}

pub mod field_match {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exact {
        #[prost(bytes = "vec", tag = "1")]
        pub value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ternary {
        #[prost(bytes = "vec", tag = "1")]
        pub value: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub mask: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Lpm {
        #[prost(bytes = "vec", tag = "1")]
        pub value: Vec<u8>,
        #[prost(int32, tag = "2")]
        pub prefix_len: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Range {
        #[prost(bytes = "vec", tag = "1")]
        pub low: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub high: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Optional {
        #[prost(bytes = "vec", tag = "1")]
        pub value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum FieldMatchType {
        #[prost(message, tag = "2")]
        Exact(Exact),
        #[prost(message, tag = "3")]
        Ternary(Ternary),
        #[prost(message, tag = "4")]
        Lpm(Lpm),
        /// Tag 5 is unused in p4runtime.proto (range is 6).
        #[prost(message, tag = "6")]
        Range(Range),
        #[prost(message, tag = "7")]
        Optional(Optional),
    }
}

/// `p4.v1.TableAction`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TableAction {
    #[prost(oneof = "table_action::Type", tags = "1, 2, 3")]
    pub r#type: Option<table_action::Type>,
}

pub mod table_action {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Type {
        #[prost(message, tag = "1")]
        Action(super::Action),
        #[prost(uint32, tag = "2")]
        ActionProfileMemberId(u32),
        #[prost(uint32, tag = "3")]
        ActionProfileGroupId(u32),
    }
}

impl TableAction {
    pub fn action(a: Action) -> TableAction {
        TableAction {
            r#type: Some(table_action::Type::Action(a)),
        }
    }
}

/// `p4.v1.Action`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Action {
    #[prost(uint32, tag = "1")]
    pub action_id: u32,
    #[prost(message, repeated, tag = "4")]
    pub params: Vec<action::Param>,
}

pub mod action {
    /// `Action.Param` (tag 1 is unused in p4runtime.proto).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Param {
        #[prost(uint32, tag = "2")]
        pub param_id: u32,
        #[prost(bytes = "vec", tag = "3")]
        pub value: Vec<u8>,
    }
}

/// `p4.v1.Index`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Index {
    #[prost(int64, tag = "1")]
    pub index: i64,
}

/// `p4.v1.CounterEntry`: one cell of an indexed counter.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CounterEntry {
    #[prost(uint32, tag = "1")]
    pub counter_id: u32,
    #[prost(message, optional, tag = "2")]
    pub index: Option<Index>,
    #[prost(message, optional, tag = "3")]
    pub data: Option<CounterData>,
}

/// `p4.v1.DirectCounterEntry`: the direct counter of one table entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DirectCounterEntry {
    #[prost(message, optional, tag = "1")]
    pub table_entry: Option<TableEntry>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<CounterData>,
}

/// `p4.v1.CounterData`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CounterData {
    #[prost(int64, tag = "1")]
    pub byte_count: i64,
    #[prost(int64, tag = "2")]
    pub packet_count: i64,
}

/// `p4.v1.CapabilitiesRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CapabilitiesRequest {}

/// `p4.v1.CapabilitiesResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CapabilitiesResponse {
    #[prost(string, tag = "1")]
    pub p4runtime_api_version: String,
}

#[cfg(test)]
mod tests {
    //! Encodings computed by hand from the .proto field numbers: a key byte
    //! is `(field << 3) | wire_type` (0 varint, 2 length-delimited).
    use super::*;
    use prost::Message;

    #[test]
    fn arbitration_request_bytes() {
        let m = StreamMessageRequest {
            update: Some(stream_message_request::Update::Arbitration(
                MasterArbitrationUpdate {
                    device_id: 1,
                    role: None,
                    election_id: Some(Uint128::from((1u128 << 64) | 5)),
                    status: None,
                },
            )),
        };
        let bytes = m.encode_to_vec();
        #[rustfmt::skip]
        let expected = [
            0x0a, 0x08,             // 1: arbitration, 8 bytes
              0x08, 0x01,           //   1: device_id = 1
              0x1a, 0x04,           //   3: election_id, 4 bytes
                0x08, 0x01,         //     1: high = 1
                0x10, 0x05,         //     2: low = 5
        ];
        assert_eq!(bytes, expected);
        assert_eq!(StreamMessageRequest::decode(&bytes[..]).unwrap(), m);
    }

    #[test]
    fn arbitration_response_with_status() {
        #[rustfmt::skip]
        let bytes = [
            0x0a, 0x13,                  // 1: arbitration, 19 bytes
              0x08, 0x07,                //   1: device_id = 7
              0x1a, 0x02, 0x10, 0x09,    //   3: election_id { low = 9 }
              0x22, 0x0b,                //   4: status, 11 bytes
                0x08, 0x06,              //     1: code = 6 (ALREADY_EXISTS)
                0x12, 0x07, b'I', b's', b' ', b'b', b'a', b'c', b'k', // 2: message
        ];
        let m = StreamMessageResponse::decode(&bytes[..]).unwrap();
        let Some(stream_message_response::Update::Arbitration(a)) = m.update else {
            panic!("not an arbitration: {m:?}");
        };
        assert_eq!(a.device_id, 7);
        assert_eq!(u128::from(a.election_id.unwrap()), 9);
        let st = a.status.unwrap();
        assert_eq!((st.code, st.message.as_str()), (6, "Is back"));
        assert_eq!(m_roundtrip(&bytes), bytes.to_vec());
    }

    fn m_roundtrip(b: &[u8]) -> Vec<u8> {
        StreamMessageResponse::decode(b).unwrap().encode_to_vec()
    }

    #[test]
    fn write_request_bytes() {
        let entry = TableEntry {
            table_id: 0x0200_0001,
            r#match: vec![
                FieldMatch {
                    field_id: 1,
                    field_match_type: Some(field_match::FieldMatchType::Lpm(field_match::Lpm {
                        value: vec![10],
                        prefix_len: 8,
                    })),
                },
                FieldMatch {
                    field_id: 2,
                    field_match_type: Some(field_match::FieldMatchType::Range(
                        field_match::Range {
                            low: vec![1],
                            high: vec![2],
                        },
                    )),
                },
            ],
            action: Some(TableAction::action(Action {
                action_id: 0x0100_0002,
                params: vec![action::Param {
                    param_id: 1,
                    value: vec![3],
                }],
            })),
            priority: 5,
            ..Default::default()
        };
        let req = WriteRequest {
            device_id: 1,
            role: String::new(),
            election_id: Some(Uint128::from(1)),
            updates: vec![Update::insert(entry)],
            atomicity: Atomicity::RollbackOnError as i32,
        };
        let bytes = req.encode_to_vec();
        #[rustfmt::skip]
        let expected = [
            0x08, 0x01,                          // 1: device_id = 1
            0x1a, 0x02, 0x10, 0x01,              // 3: election_id { low = 1 }
            0x22, 0x34,                          // 4: updates[0], 52 bytes
              0x08, 0x01,                        //   1: type = INSERT
              0x12, 0x30,                        //   2: entity, 48 bytes
                0x12, 0x2e,                      //     2: table_entry, 46 bytes
                  0x08, 0x81, 0x80, 0x80, 0x10,  //       1: table_id = 0x02000001
                  0x12, 0x09,                    //       2: match[0], 9 bytes
                    0x08, 0x01,                  //         1: field_id = 1
                    0x22, 0x05,                  //         4: lpm, 5 bytes
                      0x0a, 0x01, 0x0a,          //           1: value = 0a
                      0x10, 0x08,                //           2: prefix_len = 8
                  0x12, 0x0a,                    //       2: match[1], 10 bytes
                    0x08, 0x02,                  //         1: field_id = 2
                    0x32, 0x06,                  //         6: range, 6 bytes
                      0x0a, 0x01, 0x01,          //           1: low = 01
                      0x12, 0x01, 0x02,          //           2: high = 02
                  0x1a, 0x0e,                    //       3: action, 14 bytes
                    0x0a, 0x0c,                  //         1: action, 12 bytes
                      0x08, 0x82, 0x80, 0x80, 0x08, //       1: action_id = 0x01000002
                      0x22, 0x05,                //           4: params[0], 5 bytes
                        0x10, 0x01,              //             2: param_id = 1
                        0x1a, 0x01, 0x03,        //             3: value = 03
                  0x20, 0x05,                    //       4: priority = 5
            0x28, 0x01,                          // 5: atomicity = ROLLBACK_ON_ERROR
        ];
        assert_eq!(bytes, expected);
        assert_eq!(WriteRequest::decode(&bytes[..]).unwrap(), req);
    }

    #[test]
    fn pipeline_config_p4info_is_raw_bytes() {
        let req = SetForwardingPipelineConfigRequest {
            device_id: 2,
            role: String::new(),
            election_id: Some(Uint128::from(3)),
            action: PipelineAction::VerifyAndCommit as i32,
            config: Some(ForwardingPipelineConfig {
                // An embedded P4Info { pkg_info (1) { name (1) = "x" } }.
                p4info: vec![0x0a, 0x03, 0x0a, 0x01, b'x'],
                p4_device_config: b"{}".to_vec(),
                cookie: Some(Cookie { cookie: 0x42 }),
            }),
        };
        #[rustfmt::skip]
        let expected = [
            0x08, 0x02,                               // 1: device_id = 2
            0x1a, 0x02, 0x10, 0x03,                   // 3: election_id { low = 3 }
            0x20, 0x03,                               // 4: action = VERIFY_AND_COMMIT
            0x2a, 0x0f,                               // 5: config, 15 bytes
              0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, b'x', //  1: p4info (verbatim)
              0x12, 0x02, b'{', b'}',                 //   2: p4_device_config
              0x1a, 0x02, 0x08, 0x42,                 //   3: cookie { cookie = 0x42 }
        ];
        assert_eq!(req.encode_to_vec(), expected);
        let get = GetForwardingPipelineConfigRequest {
            device_id: 2,
            response_type: ResponseType::CookieOnly as i32,
        };
        assert_eq!(get.encode_to_vec(), [0x08, 0x02, 0x10, 0x01]);
    }

    #[test]
    fn read_request_and_counter_entities() {
        let req = ReadRequest {
            device_id: 1,
            role: String::new(),
            entities: vec![
                Entity::table(TableEntry {
                    table_id: 0,
                    counter_data: Some(CounterData::default()),
                    ..Default::default()
                }),
                Entity {
                    entity: Some(entity::Entity::CounterEntry(CounterEntry {
                        counter_id: 7,
                        index: Some(Index { index: 0 }),
                        data: None,
                    })),
                },
            ],
        };
        #[rustfmt::skip]
        let expected = [
            0x08, 0x01,               // 1: device_id = 1
            0x12, 0x04,               // 2: entities[0], 4 bytes
              0x12, 0x02,             //   2: table_entry, 2 bytes
                0x3a, 0x00,           //     7: counter_data {} (present: read counters)
            0x12, 0x06,               // 2: entities[1], 6 bytes
              0x3a, 0x04,             //   7: counter_entry, 4 bytes
                0x08, 0x07,           //     1: counter_id = 7
                0x12, 0x00,           //     2: index {} (index 0)
        ];
        assert_eq!(req.encode_to_vec(), expected);
        #[rustfmt::skip]
        let resp = [
            0x0a, 0x0f,               // 1: entities[0], 15 bytes
              0x42, 0x0d,             //   8: direct_counter_entry, 13 bytes
                0x0a, 0x04, 0x08, 0x05, 0x20, 0x01, // 1: table_entry { table_id 5, priority 1 }
                0x12, 0x05, 0x08, 0x80, 0x01, 0x10, 0x02, // 2: data { bytes 128, packets 2 }
        ];
        // A truncated answer is an error, not a panic.
        assert!(ReadResponse::decode(&resp[..resp.len() - 1]).is_err());
        let r = ReadResponse::decode(&resp[..]).unwrap();
        let Some(entity::Entity::DirectCounterEntry(d)) = &r.entities[0].entity else {
            panic!("{r:?}");
        };
        assert_eq!(d.table_entry.as_ref().unwrap().table_id, 5);
        assert_eq!(
            d.data,
            Some(CounterData {
                byte_count: 128,
                packet_count: 2
            })
        );
    }

    #[test]
    fn write_error_details() {
        // google.rpc.Status { code 2, details [Any(Error OK), Any(Error {3, "bad"})] }
        let ok = Error {
            canonical_code: 0,
            message: String::new(),
            space: String::new(),
            code: 0,
            details: None,
        };
        let bad = Error {
            canonical_code: 3,
            message: "bad".into(),
            space: "ALL-sswitch-p4org".into(),
            code: 0,
            details: None,
        };
        assert_eq!(
            bad.encode_to_vec()[..7],
            [0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd']
        );
        let st = RpcStatus {
            code: 2,
            message: String::new(),
            details: [ok, bad]
                .iter()
                .map(|e| Any {
                    type_url: ERROR_TYPE_URL.into(),
                    value: e.encode_to_vec(),
                })
                .collect(),
        };
        let b = st.encode_to_vec();
        assert_eq!(&b[..4], &[0x08, 0x02, 0x1a, 0x21]);
        assert_eq!(RpcStatus::decode(&b[..]).unwrap(), st);
    }

    #[test]
    fn election_ids_split_into_high_and_low() {
        let v = (7u128 << 64) | 9;
        let u = Uint128::from(v);
        assert_eq!((u.high, u.low), (7, 9));
        assert_eq!(u128::from(u), v);
    }
}
