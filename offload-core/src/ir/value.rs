//! Field values: every value is a `u128` holding the field's bits right-aligned.

/// All ones in the low `width` bits.
pub fn mask_of_width(width: u32) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

/// The mask of a prefix of `len` bits in a field of `width` bits.
pub fn prefix_mask(width: u32, len: u32) -> u128 {
    let len = len.min(width);
    if len == 0 {
        0
    } else {
        mask_of_width(width) & !mask_of_width(width - len)
    }
}

/// Splits the inclusive range `lo..=hi` of a `width`-bit field into the fewest
/// value/mask prefixes that cover it exactly (the classic range expansion that
/// tuple-space search and TCAMs use). Returns `(value, mask)` pairs in ascending order.
pub fn range_to_prefixes(lo: u128, hi: u128, width: u32) -> Vec<(u128, u128)> {
    let full = mask_of_width(width);
    let mut out = Vec::new();
    if lo > hi || hi > full {
        return out;
    }
    let mut cur = lo;
    loop {
        // Largest aligned block starting at `cur` that stays within `hi`.
        let mut size_bits = if cur == 0 {
            width
        } else {
            cur.trailing_zeros().min(width)
        };
        while size_bits > 0 {
            let last = cur + (mask_of_width(size_bits));
            if last <= hi {
                break;
            }
            size_bits -= 1;
        }
        let mask = full & !mask_of_width(size_bits);
        out.push((cur, mask));
        let last = cur + mask_of_width(size_bits);
        if last >= hi {
            break;
        }
        cur = last + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_range_exactly() {
        for (lo, hi) in [
            (0u128, 65535u128),
            (22, 22),
            (1, 65534),
            (1024, 2047),
            (5, 9),
            (0, 0),
        ] {
            let ps = range_to_prefixes(lo, hi, 16);
            for v in 0..=65535u128 {
                let inside = ps.iter().any(|(p, m)| v & m == *p);
                assert_eq!(inside, (lo..=hi).contains(&v), "{lo}..{hi} at {v}");
            }
        }
        assert_eq!(range_to_prefixes(0, 65535, 16), vec![(0, 0)]);
        assert_eq!(range_to_prefixes(1, 65534, 16).len(), 30);
    }

    #[test]
    fn masks() {
        assert_eq!(prefix_mask(32, 8), 0xff00_0000);
        assert_eq!(prefix_mask(32, 0), 0);
        assert_eq!(prefix_mask(128, 128), u128::MAX);
        assert_eq!(mask_of_width(12), 0xfff);
    }
}
