//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! [`sum`] gives the ones-complement sum of 16-bit big-endian words, not yet
//! complemented; a checksum field holds `!sum(...)`. [`update`] patches a
//! checksum after one 16-bit word changed, without touching the rest of the
//! data — so a checksum that was wrong before stays exactly as wrong after.

use std::net::IpAddr;

/// Ones-complement sum of `data` as 16-bit big-endian words (an odd trailing
/// byte is padded with zero), folded to 16 bits.
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

/// Folds a wide accumulator into 16 bits with end-around carry.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Ones-complement sum of already-summed parts.
pub fn combine(parts: &[u16]) -> u16 {
    fold(parts.iter().map(|&p| u64::from(p)).sum())
}

/// Ones-complement sum of the TCP/UDP/ICMPv6 pseudo-header. `length` is the
/// upper-layer length (header + payload). Mixed address families sum only
/// the addresses given, so callers must pass a matching pair.
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u16 {
    let addr = |a: &IpAddr| match a {
        IpAddr::V4(a) => sum(&a.octets()),
        IpAddr::V6(a) => sum(&a.octets()),
    };
    let len = match src {
        // IPv4 pseudo-header: 16-bit length; IPv6: 32-bit length.
        IpAddr::V4(_) => (length & 0xffff) as u16,
        IpAddr::V6(_) => fold(u64::from(length)),
    };
    combine(&[addr(src), addr(dst), u16::from(protocol), len])
}

/// RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the
/// covered data changed from `old` to `new`: `HC' = ~(~HC + ~m + m')`.
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(&[!checksum, !old, new])
}

/// [`update`] for every 16-bit word of two equally long, even-length byte
/// strings (the old and new contents of a word-aligned region).
pub fn update_words(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    debug_assert_eq!(old.len() % 2, 0);
    old.chunks_exact(2)
        .zip(new.chunks_exact(2))
        .fold(checksum, |hc, (o, n)| {
            let (o, n) = (
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([n[0], n[1]]),
            );
            if o == n {
                hc
            } else {
                update(hc, o, n)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2.
    static RFC1071: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

    #[test]
    fn rfc1071_example() {
        assert_eq!(sum(&RFC1071), 0xddf2);
        assert_eq!(!sum(&RFC1071), 0x220d);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_matches_full_recompute() {
        let mut data = RFC1071;
        let hc = !sum(&data);
        let old = [data[2], data[3]];
        data[2] = 0x12;
        data[3] = 0x34;
        assert_eq!(update_words(hc, &old, &data[2..4]), !sum(&data));
    }

    #[test]
    fn incremental_keeps_a_wrong_checksum_equally_wrong() {
        let mut data = RFC1071;
        let wrong = (!sum(&data)).wrapping_add(5);
        let old = [data[0], data[1]];
        data[0] = 0xab;
        let new = update_words(wrong, &old, &data[0..2]);
        assert_eq!(new, (!sum(&data)).wrapping_add(5));
    }

    #[test]
    fn pseudo_header_v4() {
        let src: IpAddr = "192.168.0.1".parse().unwrap();
        let dst: IpAddr = "192.168.0.2".parse().unwrap();
        let expect = sum(&[192, 168, 0, 1, 192, 168, 0, 2, 0, 17, 0, 8]);
        assert_eq!(pseudo_header(&src, &dst, 17, 8), expect);
    }
}
