//! Stable diagnostic codes. Scripts and docs refer to them; never renumber.
//!
//! E00xx: the file itself; E01xx: structure and names; E02xx: ports;
//! E03xx: tables and keys; E04xx: actions and primitives; E05xx: entries.

/// The source is not valid TOML (including nesting deeper than toml's limit).
pub const SYNTAX: &str = "E0001";
/// The source is larger than [`crate::spec::MAX_SOURCE_BYTES`].
pub const TOO_LARGE: &str = "E0002";
/// The source is not UTF-8 text.
pub const NOT_UTF8: &str = "E0003";
/// The module is empty (no `[module]` and no tables).
pub const EMPTY: &str = "E0004";
/// More diagnostics than are worth showing; the rest were dropped.
pub const TOO_MANY: &str = "E0005";
/// More tables, actions, keys, parameters or primitives than the language allows.
pub const LIMIT: &str = "E0006";

/// A key that the language does not know (top level or inside a section).
pub const UNKNOWN_KEY: &str = "E0101";
/// A value of the wrong TOML type (string where a table is expected, ...).
pub const WRONG_TYPE: &str = "E0102";
/// A required key is missing.
pub const MISSING_KEY: &str = "E0103";
/// A name that is not an identifier (`[A-Za-z_][A-Za-z0-9_]*`, ≤ 64 chars).
pub const BAD_NAME: &str = "E0104";
/// `[module]` is missing.
pub const NO_MODULE: &str = "E0105";
/// `default` is not `pass` or `drop`.
pub const BAD_DEFAULT: &str = "E0106";
/// Two tables with the same name.
pub const DUPLICATE_NAME: &str = "E0107";

/// A port number outside 1..=65535.
pub const PORT_RANGE: &str = "E0201";
/// Two ports with the same number.
pub const DUPLICATE_PORT: &str = "E0202";
/// A port name that `[ports]` does not declare.
pub const UNKNOWN_PORT: &str = "E0203";

/// The module has no `[[table]]`.
pub const NO_TABLES: &str = "E0301";
/// A header or field name that the catalogue does not have.
pub const UNKNOWN_FIELD: &str = "E0302";
/// A match kind other than exact, lpm, ternary, range.
pub const UNKNOWN_MATCH: &str = "E0303";
/// A match kind the field does not allow (`Field::allows`).
pub const MATCH_NOT_ALLOWED: &str = "E0304";
/// More than one `lpm` key in a table.
pub const TWO_LPM: &str = "E0305";
/// The same field twice among a table's keys.
pub const DUPLICATE_KEY: &str = "E0306";
/// `size` outside 1..=1_000_000.
pub const SIZE_RANGE: &str = "E0307";
/// An action name that no `[action.NAME]` defines.
pub const UNKNOWN_ACTION: &str = "E0308";
/// `default_action` is not among the table's `actions`.
pub const DEFAULT_NOT_LISTED: &str = "E0309";
/// The same action twice in a table's `actions`.
pub const DUPLICATE_ACTION: &str = "E0310";
/// A table without `actions`.
pub const NO_ACTIONS: &str = "E0311";
/// A hash key naming a field that cannot be hashed (`Field::hashable`), twice, or none.
pub const HASH_FIELD: &str = "E0312";
/// `buckets` that is not a power of two in 2..=4096.
pub const HASH_BUCKETS: &str = "E0313";
/// A malformed hash key: both `field` and `hash`, `buckets` without `hash`,
/// a match kind other than exact, or two hash keys in one table.
pub const HASH_KEY: &str = "E0314";
/// A meter `unit` other than `packets` / `bytes`, or a `red` other than `drop` / `pass` / `continue`.
pub const METER_KIND: &str = "E0315";
/// A meter `rate` of 0 or above u32::MAX, or one left out.
pub const METER_RATE: &str = "E0316";
/// A meter `burst` below one packet (bytes: one full-size frame), above u32::MAX, or left out.
pub const METER_BURST: &str = "E0317";
/// A meter on a table without keys (no entry could ever be metered).
pub const METER_KEYLESS: &str = "E0318";

/// A parameter type other than port, mac, ipv4, ipv6, uN (N 1..=32).
pub const BAD_PARAM_TYPE: &str = "E0401";
/// A primitive the language does not have.
pub const UNKNOWN_PRIMITIVE: &str = "E0402";
/// A primitive with the wrong number of arguments, or malformed syntax.
pub const BAD_PRIMITIVE: &str = "E0403";
/// A primitive after `drop`, `pass`, `forward` or `tx` (it could never run).
pub const AFTER_TERMINATOR: &str = "E0404";
/// A name in a primitive that is neither a parameter nor a literal.
pub const UNKNOWN_PARAM: &str = "E0405";
/// A parameter whose type does not fit where it is used (`ParamType::fits`).
pub const PARAM_TYPE_MISMATCH: &str = "E0406";
/// `set` on a read-only field.
pub const NOT_WRITABLE: &str = "E0407";
/// A name that is both a parameter and a port.
pub const AMBIGUOUS_NAME: &str = "E0408";
/// `set(FIELD, OTHER_FIELD)` between fields of kinds or widths that do not fit (`Field::copy_fits`).
pub const COPY_MISMATCH: &str = "E0409";
/// A `vxlan_encap` argument of the wrong type (a parameter that is not a
/// MAC / IPv4 address / integer of ≤ 24 bits where one is needed).
pub const VXLAN_ENCAP_ARG: &str = "E0410";
/// A `vxlan_decap` that can never find a VXLAN header (an earlier
/// `vxlan_decap` of the same action already removed the only one).
pub const VXLAN_DECAP_NEVER: &str = "E0411";

/// `[[entry.T]]` for a table T that does not exist.
pub const UNKNOWN_TABLE: &str = "E0501";
/// An entry that leaves out an exact key.
pub const MISSING_EXACT: &str = "E0502";
/// An entry matches on a field that is not one of the table's keys.
pub const NOT_A_KEY: &str = "E0503";
/// A literal that does not parse (MAC, IPv4, IPv6, integer, CIDR, range, mask).
pub const BAD_LITERAL: &str = "E0504";
/// A value too large for the field or parameter width.
pub const TOO_WIDE: &str = "E0505";
/// An lpm value with bits set after the prefix.
pub const HOST_BITS: &str = "E0506";
/// A ternary value with bits set outside its mask.
pub const BITS_OUTSIDE_MASK: &str = "E0507";
/// A range whose low end is above its high end.
pub const EMPTY_RANGE: &str = "E0508";
/// A ternary/range entry without `priority`.
pub const MISSING_PRIORITY: &str = "E0509";
/// Two entries of one table with the same priority.
pub const DUPLICATE_PRIORITY: &str = "E0510";
/// `priority` on a table without ternary/range keys.
pub const UNEXPECTED_PRIORITY: &str = "E0511";
/// Two entries with the same canonical match.
pub const DUPLICATE_ENTRY: &str = "E0512";
/// More entries than the table's `size`.
pub const TOO_MANY_ENTRIES: &str = "E0513";
/// An entry's action is not in its table's `actions`.
pub const ACTION_NOT_LISTED: &str = "E0514";
/// An action call without a value for some parameter.
pub const MISSING_ARG: &str = "E0515";
/// An action call with a value for a parameter the action does not have.
pub const EXTRA_ARG: &str = "E0516";
/// An entry for a table without keys (its default action always runs).
pub const KEYLESS_ENTRY: &str = "E0517";
/// A `hash` value in an entry that is not a bucket of the key (≥ `buckets`).
pub const BUCKET_RANGE: &str = "E0518";
/// `[[group.T]]` for a table without a hash key, or a group without members.
pub const BAD_GROUP: &str = "E0519";
/// An entry's `meter` on a table without one (unit and red action are the table's).
pub const METER_WITHOUT_TABLE: &str = "E0520";

/// E06xx: service chains (several modules run one after the other).
/// Two modules of a chain give the same port name different ids.
pub const CHAIN_PORT_ID: &str = "E0601";
/// A module of a chain declares a port another module with ports lacks.
pub const CHAIN_PORT_MISSING: &str = "E0602";
/// Two modules of a chain have the same name (their tables would clash).
pub const CHAIN_DUPLICATE_MODULE: &str = "E0603";
