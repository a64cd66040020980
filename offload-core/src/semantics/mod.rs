//! The reference interpreter: the definition of what a module does to a packet.
//!
//! `run(module, in_port, packet)` parses the packet, runs the tables in file
//! order with the skip rule, executes actions, and reports the verdict, the
//! output bytes and which counters were hit. Every backend must agree with it
//! packet for packet. The rules below are the whole definition.
//!
//! # Parsing (once, at ingress)
//! - `eth` is valid iff the frame has ≥ 14 bytes. `meta` is always valid;
//!   `meta.in_port` is the ingress logical port.
//! - VLAN: while the EtherType is 0x8100 or 0x88a8 and fewer than two tags were
//!   parsed, a tag is parsed if its 4 bytes after the TPID (TCI + next EtherType)
//!   are complete; otherwise parsing stops there. `vlan` is the outer tag, valid
//!   iff ≥ 1 tag. `eth.type` is the EtherType after the parsed tags (with a third
//!   tag it is 0x8100/0x88a8, and no L3 header is parsed).
//! - IPv4 (`eth.type` 0x0800): valid iff ≥ 20 bytes, version 4, IHL ≥ 5 and
//!   IHL × 4 bytes present. Total length and header checksum are not checked.
//!   If the fragment offset ≠ 0 no L4 header is valid (first fragments parse
//!   L4 normally). L4 starts after IHL × 4 bytes (options skipped).
//! - IPv6 (0x86DD): valid iff ≥ 40 bytes and version 6. L4 is parsed only when
//!   the fixed header's next header is 6, 17 or 58: extension headers are not
//!   walked, so behind one no L4 header is valid.
//! - TCP (protocol 6) valid iff ≥ 20 bytes at the L4 offset and data offset ≥ 5
//!   (options need not be complete); UDP (17) iff ≥ 8 bytes; ICMP (1, over IPv4)
//!   and ICMPv6 (58, over IPv6) iff ≥ 8 bytes. `l4` is valid iff TCP or UDP is.
//! - VXLAN (RFC 7348): `vxlan` is valid iff UDP is valid, its destination
//!   port is 4789, the 8 VXLAN bytes follow it and their flags byte has the I
//!   bit (0x08; the other bits are ignored, as the RFC says for receivers).
//!   A frame without the I flag is not VXLAN here: plain UDP. `vxlan.vni` is
//!   bits 32..56 of the header. The inner frame starts right after it and is
//!   parsed by the inner rules — the ones above without VLAN tags (the
//!   `inner_eth.type` is the EtherType right after the inner MACs; a tagged
//!   inner frame has no inner L3) and without VXLAN: `inner_eth` (≥ 14
//!   bytes), `inner_ipv4`/`inner_ipv6`, `inner_l4` (TCP or UDP ports), with
//!   the same IPv4, IPv6, fragment and L4 rules.
//!
//! # Pipeline
//! - Tables run in file order. A table applies only when every header its keys
//!   name is valid ([`crate::ir::Table::required_headers`]); otherwise it is
//!   skipped (so a table keyed on `l4.*` never sees ICMP packets). A table
//!   keyed only on `meta.*`, or with no keys, always applies.
//! - Hash keys (`{ hash = [fields], buckets = N }`): the key's value is
//!   `crc32(bytes) & (N - 1)`, computed when the table applies (after earlier
//!   tables' rewrites). CRC-32 is zlib's: reflected polynomial 0xEDB88320,
//!   initial value 0xFFFFFFFF, final xor 0xFFFFFFFF. `bytes` is each listed
//!   field in order, its full width in network order; a field whose header
//!   is not valid contributes no bytes (as BMv2 builds a hash's input:
//!   invalid headers are skipped). `l4.*` are the TCP or UDP ports. A hash
//!   key names no header the table needs: the table applies on every packet.
//! - `meta.group` is 0 when a packet arrives; `set` writes it (masked to 16
//!   bits) and keys and copies read it, like any field.
//! - Entry selection within one table (the rule every backend implements):
//!   - a table with any `ternary`/`range` key: among matching entries the highest
//!     priority wins (priorities are unique);
//!   - otherwise, with an `lpm` key: the matching entry with the longest prefix
//!     wins (exact parts must all be equal);
//!   - otherwise (all `exact`): the one entry whose values are all equal.
//!
//!   A miss runs the table's default action.
//! - Counters (tables with `counters = true`) count packets and bytes for the
//!   entry hit or the default action, where bytes is the length of the frame as
//!   it arrived (before any rewrite, push or pop).
//! - Meters (tables with `meter = {...}`): a hit entry offers the packet to
//!   its token bucket ([`crate::ir::Bucket::offer`]: exact integer
//!   nano-token arithmetic, cost 10^9 per packet or per ingress byte) at the
//!   frame's arrival time ([`run_timed`]; [`run`] is time 0 with every
//!   bucket full). Green runs the entry's action; red runs the table's red
//!   action instead: `drop`, `pass`, or `continue` (on to the next table).
//!   The counter counts the hit either way; a miss is never metered.
//! - `drop`, `pass`, `forward(port)`, `tx` end the pipeline with that verdict; if
//!   no stage decides, the module's default verdict applies.
//!
//! # Primitives
//! - `set(field, v)`: no-op if the field's header is not valid. Otherwise writes
//!   `v` (masked to the field's width) and updates checksums by RFC 1624
//!   (`HC' = ~(~HC + ~m + m')`) over the 16-bit words holding the change, so a
//!   wrong checksum stays exactly as wrong (a word whose value does not change
//!   is not applied, so writing a field's current value changes no byte): the
//!   IPv4 header checksum for
//!   `ipv4.src/dst/ttl/dscp`; the TCP or UDP checksum for `ipv4.src/dst`,
//!   `ipv6.src/dst` and `l4.src_port/dst_port`, only when TCP/UDP is valid (never
//!   for a non-first fragment). A UDP checksum of 0 (IPv4 or IPv6) stays 0; a
//!   UDP result of 0 is written as 0xFFFF. ICMP/ICMPv6 checksums are never
//!   touched. `vlan.vid`/`vlan.pcp` write the outer tag.
//! - `dec_ttl`: if IPv4 is valid: TTL ≤ 1 → verdict `pass`, pipeline ends
//!   (rewrites made before it in the pipeline stay; `dec_ttl` itself changes
//!   nothing); else TTL − 1 with the IPv4 checksum updated.
//!   Else if IPv6 is valid: hop limit ≤ 1 → `pass`, else − 1. Else no-op.
//! - `push_vlan(vid)`: with fewer than 2 tags (and a valid `eth`), inserts
//!   TPID 0x8100 + TCI (PCP 0, DEI 0, VID = vid & 0xfff) after the MACs as the
//!   new outer tag; its inner EtherType is the old outer EtherType/TPID. With 2
//!   tags: no-op. `pop_vlan`: removes the outer tag (no-op without one).
//! - `vxlan_encap(dmac, smac, src, dst, vni)`: no-op without a valid `eth`.
//!   Else prepends 50 bytes: Ethernet (dmac, smac, 0x0800); IPv4 (0x45, TOS
//!   0, total length = 36 + frame length, ID 0, flags DF, fragment offset
//!   0, TTL 64, protocol 17, header checksum computed, src, dst); UDP
//!   (source port `0xC000 | (crc32(flow) & 0x3FFF)`, destination 4789,
//!   length = 16 + frame length, checksum 0); VXLAN (flags 0x08, 3 zero
//!   bytes, the VNI's 24 bits, 1 zero byte). `flow` is the bytes of
//!   `ipv4.src, ipv4.dst, ipv4.protocol, ipv6.src, ipv6.dst,
//!   ipv6.next_header, l4.src_port, l4.dst_port` of the frame before the
//!   encap, by the hash-key rule (an invalid header's fields add none; CRC-32
//!   as for hash keys). Then the headers are those of the new frame parsed
//!   afresh: `eth/ipv4/udp/l4/vxlan` are the outer ones, `inner_*` what the
//!   inner rules find in the old frame (`vlan` is not valid).
//! - `vxlan_decap`: no-op without a valid `vxlan`. Else removes every byte
//!   before the inner Ethernet header (outer Ethernet, tags, IP, UDP,
//!   VXLAN). The inner headers become the headers — `eth`, `ipv4`, `ipv6`,
//!   `l4`, `tcp`, `udp`, `icmp`, `icmpv6` are what `inner_*` were (their
//!   validity as the inner parse found it), `vlan`, `vxlan` and `inner_*`
//!   are not valid — and nothing is parsed again (a VXLAN frame inside is
//!   not found).
//! - Validity is decided once at ingress (and after an encap or a decap, as
//!   they say); push/pop only change the tag stack
//!   (`vlan` is valid iff the stack is non-empty, every other header keeps its
//!   validity and shifts by ±4 bytes).
//!
//! # Output
//! The verdict, the packet after all rewrites (for `drop`: as it was when
//! dropped), counter hits, and per table whether it was skipped, hit or missed.
//!
//! # Chains
//! Several modules on one placement run as a chain ([`run_chain`]): a `pass`
//! continues with the next module, which parses the frame as the previous
//! one left it; the rules are in the `chain` module's doc (README: "Service
//! chains").
//!
//! # Split placement
//! A module can run cut in two ([`run_split`]): stages `0..at` in the NIC,
//! the rest on the host, with only the packet bytes between them; it means
//! the same as [`run`] exactly when `ir::split::carries` is empty (the
//! rules are in the `split` module's doc; README: "Split placement").

mod chain;
mod exec;
mod hash;
mod meter;
mod parse;
mod rewrite;
mod select;
mod split;

pub use chain::{run_chain, run_chain_traced, ChainOutcome};
pub use exec::{run, run_timed, run_timed_traced, run_traced, Event, Trace};
pub use hash::{bucket, crc32, hash_input};
pub use meter::MeterState;
pub use parse::{field_value, parse, Parsed, MAX_VLAN_TAGS};
pub use rewrite::Effect;
pub use select::select;
pub use split::{run_split, SplitOutcome};

use crate::ir::{PortId, TableId};

/// What happened to the packet in the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "verdict", content = "port")]
pub enum Verdict {
    Drop,
    /// To the host stack (XDP_PASS / TC_ACT_OK) or the switch's CPU port.
    Pass,
    /// Out of this logical port.
    Forward(PortId),
    /// Back out of the ingress port.
    Tx,
}

/// Which counter of a table a packet hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CounterSlot {
    /// Index into `table.entries`.
    Entry(usize),
    /// The table's default action (a miss).
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct CounterHit {
    pub table: TableId,
    pub slot: CounterSlot,
    /// Bytes added to the counter (the ingress frame length); packets add 1.
    pub bytes: u64,
}

/// One table's part in a packet's journey, for `offloadctl run` and debugging.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Step {
    /// The table did not apply: this header (one its keys need) was not valid.
    Skipped {
        table: TableId,
        missing: crate::ir::Header,
    },
    Hit {
        table: TableId,
        entry: usize,
    },
    Miss {
        table: TableId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The packet as it leaves, after all rewrites (for `Drop`: the bytes as
    /// they were when dropped, i.e. with the rewrites that ran before `drop`).
    pub packet: Vec<u8>,
    /// Counters hit, in pipeline order (only tables with `counters = true`).
    pub counters: Vec<CounterHit>,
    pub steps: Vec<Step>,
}

#[cfg(test)]
mod tests;
