//! Hash keys: CRC-32 over packet fields (the rule in [`super`]).

use super::parse::{locate, Parsed};
use crate::ir::HashKey;

/// zlib's CRC-32 (ISO-HDLC): reflected polynomial 0xEDB88320, initial value
/// 0xFFFFFFFF, final xor 0xFFFFFFFF. `crc32(b"123456789") == 0xCBF43926`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let lsb = crc & 1;
            crc >>= 1;
            if lsb != 0 {
                crc ^= 0xEDB8_8320;
            }
        }
    }
    !crc
}

/// The bytes a hash key hashes in `packet` as it is now: each field's bytes
/// in network order, in the key's order; a field whose header is not valid
/// (or is cut by the frame's end) adds none.
pub fn hash_input(parsed: &Parsed, packet: &[u8], key: &HashKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.max_bytes() as usize);
    for &f in &key.fields {
        if !parsed.is_valid(f.header()) {
            continue;
        }
        // Hashable fields are whole bytes at byte offsets: no tail bits.
        if let Some(loc) = locate(parsed, packet.len(), f) {
            out.extend_from_slice(&packet[loc.start..loc.start + loc.len]);
        }
    }
    out
}

/// The bucket a packet falls in: `crc32(hash_input) & (buckets - 1)`.
pub fn bucket(parsed: &Parsed, packet: &[u8], key: &HashKey) -> u32 {
    crc32(&hash_input(parsed, packet, key)) & (key.buckets - 1)
}
