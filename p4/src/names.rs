//! P4 identifiers for the module's names, and the naming map that records them.
//!
//! Module names are kept as they are when they are valid P4 identifiers;
//! other characters become `_`, and a name that is a P4 keyword or one of the
//! generator's own identifiers gets a trailing `_`. Two module names that end
//! up the same are refused ([`P4Error::NameCollision`]), never renamed silently.

use crate::arch::Arch;
use crate::error::P4Error;
use std::collections::BTreeMap;

/// Keywords of P4_16 and names core.p4 / the architectures declare, plus the
/// identifiers this generator uses itself.
const RESERVED: &[&str] = &[
    // P4_16 keywords
    "abstract",
    "action",
    "actions",
    "apply",
    "bool",
    "bit",
    "break",
    "const",
    "continue",
    "control",
    "default",
    "else",
    "entries",
    "enum",
    "error",
    "exit",
    "extern",
    "false",
    "for",
    "header",
    "header_union",
    "if",
    "in",
    "inout",
    "int",
    "key",
    "list",
    "match_kind",
    "out",
    "package",
    "parser",
    "priority",
    "return",
    "select",
    "size",
    "state",
    "string",
    "struct",
    "switch",
    "table",
    "this",
    "transition",
    "true",
    "tuple",
    "type",
    "typedef",
    "value_set",
    "varbit",
    "void",
    "verify",
    "accept",
    "reject",
    "exact",
    "lpm",
    "ternary",
    "range",
    "optional",
    "selector",
    "default_action",
    "counters",
    "NoAction",
    "main",
    "packet_in",
    "packet_out",
    // generator identifiers
    "hdr",
    "meta",
    "pkt",
    "standard_metadata",
    "ig_intr_md",
    "ig_prsr_md",
    "ig_dprsr_md",
    "ig_tm_md",
    "eg_intr_md",
    "eg_prsr_md",
    "eg_dprsr_md",
    "eg_oport_md",
    "headers_t",
    "metadata_t",
    "egress_headers_t",
    "egress_metadata_t",
    "port_t",
    "CPU_PORT",
    "pipe",
    "ethernet_t",
    "vlan_t",
    "ipv4_t",
    "ipv4_option_word_t",
    "ipv6_t",
    "tcp_t",
    "udp_t",
    "icmp_t",
    "IngressParserImpl",
    "VerifyChecksumImpl",
    "IngressImpl",
    "EgressImpl",
    "ComputeChecksumImpl",
    "DeparserImpl",
    "IngressDeparserImpl",
    "EgressParserImpl",
    "EgressDeparserImpl",
    "ipv4_checksum",
    "l4_checksum",
    // types and externs of v1model.p4 and tna.p4 (a table named `counter`
    // would hide the extern the program instantiates)
    "counter",
    "direct_counter",
    "meter",
    "direct_meter",
    "register",
    "action_profile",
    "action_selector",
    "random",
    "digest",
    "hash",
    "mark_to_drop",
    "verify_checksum",
    "update_checksum",
    "verify_checksum_with_payload",
    "update_checksum_with_payload",
    "resubmit",
    "resubmit_preserving_field_list",
    "recirculate",
    "clone",
    "clone3",
    "truncate",
    "log_msg",
    "assert",
    "assume",
    "HashAlgorithm",
    "CloneType",
    "MeterType",
    "CounterType",
    "V1Switch",
    "Parser",
    "VerifyChecksum",
    "Ingress",
    "Egress",
    "ComputeChecksum",
    "Deparser",
    "standard_metadata_t",
    "Checksum",
    "ParserCounter",
    "ParserPriority",
    "Hash",
    "Random",
    "Counter",
    "DirectCounter",
    "Meter",
    "DirectMeter",
    "Lpf",
    "DirectLpf",
    "Wred",
    "DirectWred",
    "Register",
    "DirectRegister",
    "RegisterAction",
    "DirectRegisterAction",
    "RegisterParam",
    "MathUnit",
    "ActionProfile",
    "ActionSelector",
    "SelectorAction",
    "Mirror",
    "Resubmit",
    "Digest",
    "Atcam",
    "Alpm",
    "Pipeline",
    "Switch",
    "IngressParsers",
    "EgressParsers",
    "MultiParserPipeline",
    "MultiParserSwitch",
    "PortId_t",
    "MulticastGroupId_t",
    "QueueId_t",
    "MirrorType_t",
    "MirrorId_t",
    "ResubmitType_t",
    "DigestType_t",
    "ReplicationId_t",
    "ParserError_t",
    "CounterType_t",
    "MeterType_t",
    "MeterColor_t",
    "HashAlgorithm_t",
    "SelectorMode_t",
    "CRCPolynomial",
    "PORT_METADATA_SIZE",
    "max",
    "min",
    "invalidate",
    "port_metadata_unpack",
    "sizeInBits",
    "sizeInBytes",
    "funnel_shift_right",
    "static_assert",
];

/// A valid P4 identifier for a module name.
pub fn ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if RESERVED.contains(&s.as_str())
        || s.starts_with("VERDICT_")
        || s.starts_with("PORT_")
        || s.starts_with("RUN_")
        || s.starts_with("arg_")
    {
        s.push('_');
    }
    s
}

/// Records which module name produced which identifier in one namespace and
/// refuses collisions.
#[derive(Default)]
pub(crate) struct Namespace {
    taken: BTreeMap<String, String>,
}

impl Namespace {
    pub fn is_taken(&self, p4: &str) -> bool {
        self.taken.contains_key(p4)
    }

    pub fn claim(&mut self, module_name: &str, p4: String) -> Result<String, P4Error> {
        if let Some(first) = self.taken.get(&p4) {
            if first != module_name {
                return Err(P4Error::NameCollision {
                    first: first.clone(),
                    second: module_name.to_string(),
                    p4,
                });
            }
            return Ok(p4);
        }
        self.taken.insert(p4.clone(), module_name.to_string());
        Ok(p4)
    }
}

/// The naming map: how to find the module's objects in the generated program
/// and in the target's runtime (written as `names.json` next to the source).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamingMap {
    pub module: String,
    pub arch: Arch,
    /// The P4 control that holds the tables.
    pub control: String,
    /// Switch port that `pass` sends packets to.
    pub cpu_port: u32,
    pub ports: Vec<PortName>,
    pub fields: Vec<FieldName>,
    pub tables: Vec<TableName>,
    pub actions: Vec<ActionName>,
    /// Where this target differs from the reference semantics, in words.
    pub deviations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortName {
    pub module: String,
    pub id: u16,
    /// The `const` declared for it in the program.
    pub p4_const: String,
    /// The switch port number the logical port maps to.
    pub switch_port: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldName {
    pub module: String,
    pub p4: String,
    pub width: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableName {
    pub module: String,
    /// The P4 name in the source (`IngressImpl.acl`).
    pub p4: String,
    /// The name the runtime uses (simple_switch_CLI, P4Info, BF Runtime).
    pub runtime: String,
    pub keys: Vec<KeyName>,
    /// Module action → P4 action for this table (TNA copies actions per table).
    pub actions: Vec<TableActionName>,
    pub direct_counter: Option<String>,
    /// One-slot counter of the table's misses (its default action).
    pub miss_counter: Option<String>,
    /// Entries given in the module file need a runtime priority.
    pub needs_priority: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyName {
    pub field: String,
    pub p4: String,
    #[serde(rename = "match")]
    pub kind: String,
    pub width: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableActionName {
    pub module: String,
    pub p4: String,
    pub runtime: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActionName {
    pub module: String,
    pub params: Vec<ParamName>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParamName {
    pub module: String,
    pub p4: String,
    pub width: u32,
}

impl NamingMap {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("naming map serialises")
    }
    pub fn table(&self, module_name: &str) -> Option<&TableName> {
        self.tables.iter().find(|t| t.module == module_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(ident("acl"), "acl");
        assert_eq!(ident("to-host"), "to_host");
        assert_eq!(ident("table"), "table_");
        assert_eq!(ident("hdr"), "hdr_");
        assert_eq!(ident("1st"), "_1st");
        assert_eq!(ident("VERDICT_X"), "VERDICT_X_");
        assert_eq!(ident("counter"), "counter_");
        assert_eq!(ident("Pipeline"), "Pipeline_");
        assert_eq!(ident("ipv4_t"), "ipv4_t_");
    }

    #[test]
    fn collisions_are_refused() {
        let mut ns = Namespace::default();
        ns.claim("a-b", ident("a-b")).unwrap();
        let err = ns.claim("a_b", ident("a_b")).unwrap_err();
        assert!(
            matches!(err, P4Error::NameCollision { ref p4, .. } if p4 == "a_b"),
            "{err}"
        );
    }
}
