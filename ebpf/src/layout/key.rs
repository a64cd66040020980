//! Key bytes: fields in network order, each right-aligned in whole bytes.

use super::TableKind;
use offload_core::ir::{Field, MatchKind, Table};

/// Where one key field sits in the key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPart {
    /// Index of the key in `table.keys`.
    pub key_index: usize,
    pub field: Field,
    /// Byte offset in the key data (after the LPM prefix length, if any).
    pub offset: u32,
    /// `ceil(width / 8)` bytes.
    pub len: u32,
}

impl KeyPart {
    /// Writes `value` big-endian into `buf[offset..offset+len]`.
    pub fn write(&self, buf: &mut [u8], value: u128) {
        let (o, n) = (self.offset as usize, self.len as usize);
        for i in 0..n {
            buf[o + i] = (value >> (8 * (n - 1 - i))) as u8;
        }
    }
    /// Reads the big-endian value at `buf[offset..offset+len]`.
    pub fn read(&self, buf: &[u8]) -> u128 {
        let (o, n) = (self.offset as usize, self.len as usize);
        buf[o..o + n]
            .iter()
            .fold(0u128, |a, b| (a << 8) | u128::from(*b))
    }
}

/// The key data of a table (without the LPM prefix length or TSS mask).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyShape {
    /// In key-byte order (lpm tables: exact parts first, lpm field last).
    pub parts: Vec<KeyPart>,
    /// Sum of the parts' lengths.
    pub bytes: u32,
    /// `bytes` rounded up to 4 (hash keys are zero-padded to this).
    pub padded: u32,
}

impl KeyShape {
    pub fn new(table: &Table, kind: TableKind) -> KeyShape {
        let mut order: Vec<usize> = (0..table.keys.len()).collect();
        if kind == TableKind::Lpm {
            // Stable: exact parts keep their order, the lpm key goes last.
            order.sort_by_key(|&i| table.keys[i].kind == MatchKind::Lpm);
        }
        let mut parts = Vec::new();
        let mut offset = 0;
        for i in order {
            let field = table.keys[i].field;
            let len = field.width().div_ceil(8);
            parts.push(KeyPart {
                key_index: i,
                field,
                offset,
                len,
            });
            offset += len;
        }
        KeyShape {
            parts,
            bytes: offset,
            padded: offset.div_ceil(4).max(1) * 4,
        }
    }
}
