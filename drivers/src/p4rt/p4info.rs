//! The part of a P4Info (`p4.config.v1.P4Info`) offload needs to find ids:
//! tables with their match fields, action refs, size and direct resources;
//! actions with their parameters; counters; direct counters.
//!
//! Only for lookups: the P4Info sent to the switch is the file p4c wrote,
//! byte for byte (see [`super::proto`]). Field numbers are those of
//! p4info.proto at PI 0.1.2's pinned P4Runtime; the rest is skipped.

use prost::Message;

/// `p4.config.v1.P4Info`, partially.
#[derive(Clone, PartialEq, prost::Message)]
pub struct P4Info {
    #[prost(message, repeated, tag = "2")]
    pub tables: Vec<Table>,
    #[prost(message, repeated, tag = "3")]
    pub actions: Vec<Action>,
    #[prost(message, repeated, tag = "5")]
    pub counters: Vec<Counter>,
    #[prost(message, repeated, tag = "6")]
    pub direct_counters: Vec<DirectCounter>,
}

/// `p4.config.v1.Preamble`: id, fully qualified name (`IngressImpl.acl`), alias.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Preamble {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub alias: String,
}

/// `p4.config.v1.Table`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Table {
    #[prost(message, optional, tag = "1")]
    pub preamble: Option<Preamble>,
    #[prost(message, repeated, tag = "2")]
    pub match_fields: Vec<MatchField>,
    #[prost(message, repeated, tag = "3")]
    pub action_refs: Vec<ActionRef>,
    /// Ids of the direct counters/meters attached to the table.
    #[prost(uint32, repeated, tag = "7")]
    pub direct_resource_ids: Vec<u32>,
    #[prost(int64, tag = "8")]
    pub size: i64,
}

/// `MatchField.MatchType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchType {
    Unspecified = 0,
    Exact = 2,
    Lpm = 3,
    Ternary = 4,
    Range = 5,
    Optional = 6,
}

/// `p4.config.v1.MatchField`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MatchField {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    /// The key expression as written in the program (`hdr.ipv4.dst`).
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(int32, tag = "4")]
    pub bitwidth: i32,
    /// Member of the `match` oneof (tag 7, `other_match_type`, is skipped).
    #[prost(enumeration = "MatchType", tag = "5")]
    pub match_type: i32,
}

/// `p4.config.v1.ActionRef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActionRef {
    #[prost(uint32, tag = "1")]
    pub id: u32,
}

/// `p4.config.v1.Action`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Action {
    #[prost(message, optional, tag = "1")]
    pub preamble: Option<Preamble>,
    #[prost(message, repeated, tag = "2")]
    pub params: Vec<Param>,
}

/// `p4.config.v1.Action.Param`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Param {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(int32, tag = "4")]
    pub bitwidth: i32,
}

/// `p4.config.v1.CounterSpec` (unit: 1 bytes, 2 packets, 3 both).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CounterSpec {
    #[prost(int32, tag = "1")]
    pub unit: i32,
}

/// `p4.config.v1.Counter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    #[prost(message, optional, tag = "1")]
    pub preamble: Option<Preamble>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<CounterSpec>,
    #[prost(int64, tag = "3")]
    pub size: i64,
}

/// `p4.config.v1.DirectCounter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DirectCounter {
    #[prost(message, optional, tag = "1")]
    pub preamble: Option<Preamble>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<CounterSpec>,
    #[prost(uint32, tag = "3")]
    pub direct_table_id: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum P4InfoError {
    #[error("P4Info is not a valid binary protobuf message: {source}")]
    Decode {
        #[source]
        source: prost::DecodeError,
    },
}

fn preamble_name(p: &Option<Preamble>) -> &str {
    p.as_ref().map(|p| p.name.as_str()).unwrap_or("")
}
fn preamble_id(p: &Option<Preamble>) -> u32 {
    p.as_ref().map(|p| p.id).unwrap_or(0)
}

impl P4Info {
    /// Decodes a binary P4Info (`p4c --p4runtime-files x.p4info.bin`).
    pub fn parse(bytes: &[u8]) -> Result<P4Info, P4InfoError> {
        P4Info::decode(bytes).map_err(|source| P4InfoError::Decode { source })
    }

    /// A table by its fully qualified name or its alias.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| {
            t.preamble
                .as_ref()
                .is_some_and(|p| p.name == name || p.alias == name)
        })
    }
    pub fn table_by_id(&self, id: u32) -> Option<&Table> {
        self.tables.iter().find(|t| preamble_id(&t.preamble) == id)
    }
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| {
            a.preamble
                .as_ref()
                .is_some_and(|p| p.name == name || p.alias == name)
        })
    }
    pub fn action_by_id(&self, id: u32) -> Option<&Action> {
        self.actions.iter().find(|a| preamble_id(&a.preamble) == id)
    }
    pub fn counter(&self, name: &str) -> Option<&Counter> {
        self.counters.iter().find(|c| {
            c.preamble
                .as_ref()
                .is_some_and(|p| p.name == name || p.alias == name)
        })
    }
    pub fn direct_counter(&self, name: &str) -> Option<&DirectCounter> {
        self.direct_counters.iter().find(|c| {
            c.preamble
                .as_ref()
                .is_some_and(|p| p.name == name || p.alias == name)
        })
    }
}

impl Table {
    pub fn id(&self) -> u32 {
        preamble_id(&self.preamble)
    }
    pub fn name(&self) -> &str {
        preamble_name(&self.preamble)
    }
    pub fn match_field(&self, name: &str) -> Option<&MatchField> {
        self.match_fields.iter().find(|m| m.name == name)
    }
    pub fn match_field_by_id(&self, id: u32) -> Option<&MatchField> {
        self.match_fields.iter().find(|m| m.id == id)
    }
    /// Whether `action_id` may be used by this table's entries.
    pub fn allows_action(&self, action_id: u32) -> bool {
        self.action_refs.iter().any(|r| r.id == action_id)
    }
}

impl MatchField {
    pub fn kind(&self) -> Option<MatchType> {
        MatchType::try_from(self.match_type).ok()
    }
}

impl Action {
    pub fn id(&self) -> u32 {
        preamble_id(&self.preamble)
    }
    pub fn name(&self) -> &str {
        preamble_name(&self.preamble)
    }
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }
    pub fn param_by_id(&self, id: u32) -> Option<&Param> {
        self.params.iter().find(|p| p.id == id)
    }
}

impl Counter {
    pub fn id(&self) -> u32 {
        preamble_id(&self.preamble)
    }
    pub fn name(&self) -> &str {
        preamble_name(&self.preamble)
    }
}

impl DirectCounter {
    pub fn id(&self) -> u32 {
        preamble_id(&self.preamble)
    }
    pub fn name(&self) -> &str {
        preamble_name(&self.preamble)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_written_p4info_and_skips_what_it_does_not_model() {
        #[rustfmt::skip]
        let bytes = [
            0x0a, 0x02, 0x0a, 0x00,             // 1: pkg_info { name = "" } (skipped)
            0x12, 0x1d,                         // 2: tables[0], 29 bytes
              0x0a, 0x08,                       //   1: preamble, 8 bytes
                0x08, 0x01,                     //     1: id = 1
                0x12, 0x04, b'I', b'.', b't', b'1', // 2: name = "I.t1"
              0x12, 0x0a,                       //   2: match_fields[0], 10 bytes
                0x08, 0x01,                     //     1: id = 1
                0x12, 0x02, b'h', b'.',         //     2: name = "h."
                0x20, 0x20,                     //     4: bitwidth = 32
                0x28, 0x03,                     //     5: match_type = LPM
              0x1a, 0x02, 0x08, 0x05,           //   3: action_refs[0] { id = 5 }
              0x40, 0x80, 0x08,                 //   8: size = 1024 (skipping 4..7)
            0x1a, 0x0e,                         // 3: actions[0], 14 bytes
              0x0a, 0x02, 0x08, 0x05,           //   1: preamble { id = 5 }
              0x12, 0x08,                       //   2: params[0], 8 bytes
                0x08, 0x01,                     //     1: id = 1
                0x12, 0x02, b'p', b'x',         //     2: name = "px"
                0x20, 0x09,                     //     4: bitwidth = 9
            0xc2, 0x0c, 0x00,                   // 200: type_info {} (skipped)
        ];
        let p = P4Info::parse(&bytes).unwrap();
        let t = p.table("I.t1").unwrap();
        assert_eq!((t.id(), t.size), (1, 1024));
        let mf = t.match_field("h.").unwrap();
        assert_eq!(
            (mf.id, mf.bitwidth, mf.kind()),
            (1, 32, Some(MatchType::Lpm))
        );
        assert!(t.allows_action(5));
        let a = p.action_by_id(5).unwrap();
        assert_eq!(a.param("px").map(|p| (p.id, p.bitwidth)), Some((1, 9)));
        assert!(P4Info::parse(&bytes[..bytes.len() - 2]).is_err());
    }
}
