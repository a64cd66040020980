//! P4Runtime bytestrings (spec §8.4 "Bytestrings"): unsigned integers as
//! big-endian bytes. The canonical form is the shortest string that holds
//! the value — no leading zero bytes, and zero itself is one `0x00` byte
//! (an empty string is never valid). Servers must accept padded strings up
//! to the field's byte width, and answer reads in canonical form (PI does).

/// The canonical bytestring of `v`.
pub fn encode(v: u128) -> Vec<u8> {
    let b = v.to_be_bytes();
    let first = b.iter().position(|x| *x != 0).unwrap_or(15);
    b[first..].to_vec()
}

/// Why a bytestring is not a value of a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BytestrError {
    #[error("empty bytestring")]
    Empty,
    #[error("value 0x{hex} needs more than {width} bits")]
    TooWide { hex: String, width: u32 },
}

/// The value of a bytestring (canonical or padded) of a `width`-bit field.
pub fn decode(b: &[u8], width: u32) -> Result<u128, BytestrError> {
    if b.is_empty() {
        return Err(BytestrError::Empty);
    }
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    let sig = &b[first..];
    let too_wide = || BytestrError::TooWide {
        hex: b.iter().map(|x| format!("{x:02x}")).collect(),
        width,
    };
    if sig.len() > 16 {
        return Err(too_wide());
    }
    let v = sig.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x));
    if width < 128 && v >> width != 0 {
        return Err(too_wide());
    }
    Ok(v)
}

/// `encode(v)`, refusing values wider than `width` bits.
pub fn encode_checked(v: u128, width: u32) -> Result<Vec<u8>, BytestrError> {
    if width < 128 && v >> width != 0 {
        return Err(BytestrError::TooWide {
            hex: format!("{v:x}"),
            width,
        });
    }
    Ok(encode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_the_shortest_string() {
        assert_eq!(encode(0), [0]);
        assert_eq!(encode(1), [1]);
        assert_eq!(encode(0x0a00_0000), [0x0a, 0, 0, 0]);
        assert_eq!(encode(0x0100), [1, 0]);
        assert_eq!(encode(u128::MAX), [0xff; 16]);
        assert_eq!(encode(0x0200_0000_0001), [2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn decoding_accepts_padding_and_checks_the_width() {
        assert_eq!(decode(&[0, 0, 0x0a], 16), Ok(10));
        assert_eq!(decode(&[0], 1), Ok(0));
        assert_eq!(decode(&[0x01, 0xff], 9), Ok(0x1ff));
        assert!(matches!(
            decode(&[0x02, 0x00], 9),
            Err(BytestrError::TooWide { width: 9, .. })
        ));
        assert_eq!(decode(&[], 8), Err(BytestrError::Empty));
        assert_eq!(decode(&[0xff; 16], 128), Ok(u128::MAX));
        let mut long = vec![0u8; 4];
        long.extend([0xff; 16]);
        assert_eq!(decode(&long, 128), Ok(u128::MAX));
        long[3] = 1;
        assert!(decode(&long, 128).is_err());
        assert!(encode_checked(512, 9).is_err());
        assert_eq!(encode_checked(511, 9), Ok(vec![1, 0xff]));
    }
}
