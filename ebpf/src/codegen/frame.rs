//! The register convention and stack frame, written once.
//!
//! Registers (fixed for the whole program):
//! - `R6`  the context (`xdp_md` / `__sk_buff`), saved at entry;
//! - `R7`  start of the packet (Ethernet header);
//! - `R8`  start of the L3 header (after the parsed VLAN tags; `eth.type`
//!   is the two bytes before it) — meaningful when `eth` is valid;
//! - `R9`  start of the L4 header — meaningful when tcp/udp/icmp/icmpv6 is valid;
//! - `R0`–`R5` scratch and helper arguments (clobbered by every call).
//!
//! Verification cost: the parser's outcome (validity bits, tag count,
//! offsets) is a constant on each parse path, so the verifier checks every
//! later instruction once per path. Around a tuple-space mask loop the
//! program parks that state in a per-CPU scratch map (so all paths share one
//! loop state) and splits it back into constant paths after the loop.
//!
//! Packet pointers survive map lookups (those do not change packet data) and
//! are re-derived from the saved offsets after anything that moves the packet
//! (`push_vlan`, `pop_vlan`), with the same bounds checks as the parser, so
//! every header is bounds-checked once per derivation and then read through
//! its register at constant offsets.
//!
//! Stack (offsets from `R10`, all 8-byte slots unless noted):
//! the header-validity bit set (bit = `Header as u8`), the L3/L4 offsets and
//! VLAN tag count (constants per parse path, so the verifier keeps them
//! exact), the ingress frame length (counter bytes), the current action's
//! map value pointer, the tuple-space search state, a u32 scratch for map
//! keys, `meta.in_port` and `meta.group`, and then the key buffers.

/// Header-validity bits (one u64 on the stack).
pub const FLAGS: i16 = -8;
/// L3 offset from the packet start (14 + 4 × tags).
pub const L3OFF: i16 = -16;
/// L4 offset from the packet start (L3 offset + IHL × 4 or + 40).
pub const L4OFF: i16 = -24;
/// Ingress frame length in bytes (what counters add).
pub const LEN: i16 = -32;
/// VLAN tags currently in the packet (0..=2).
pub const TAGS: i16 = -40;
/// The map value (action id, slot, priority, params) being executed.
pub const VAL: i16 = -48;
/// Tuple-space search: best value pointer so far (0 = none).
pub const BEST: i16 = -56;
/// Tuple-space search: its priority.
pub const BEST_PRIO: i16 = -64;
/// Tuple-space search: mask index.
pub const IDX: i16 = -72;
/// u32 scratch for map keys (counter slot, port, mask index, 0).
pub const SCRATCH: i16 = -80;
/// `meta.in_port` (u32).
pub const IN_PORT: i16 = -88;
/// `meta.group` (u32, the upper half of `IN_PORT`'s slot): zeroed after the
/// parser in modules that use it.
pub const GROUP: i16 = -84;
/// A saved u16 (tc `pop_vlan`) or the operand of a computed write.
pub const TMP: i16 = -96;
/// Mirror of the 16-bit words a checksummed `set` rewrites (up to 16 bytes).
pub const MIRROR: i16 = -112;
/// Key buffers start here and grow down (8-aligned).
pub const KEYS_TOP: i16 = -112;
/// The verifier's stack limit.
pub const STACK_LIMIT: u32 = 512;
