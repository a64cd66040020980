//! The BTF string section: NUL-terminated names, offset 0 is the empty string,
//! each distinct name stored once.

use std::collections::HashMap;

#[derive(Debug)]
pub(crate) struct StringTable {
    bytes: Vec<u8>,
    offsets: HashMap<String, u32>,
}

impl StringTable {
    pub(crate) fn new() -> Self {
        Self {
            bytes: vec![0],
            offsets: HashMap::from([(String::new(), 0)]),
        }
    }

    /// Offset of `s`, appending it on first use.
    pub(crate) fn add(&mut self, s: &str) -> u32 {
        if let Some(off) = self.offsets.get(s) {
            return *off;
        }
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.offsets.insert(s.to_owned(), off);
        off
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_string_is_offset_zero_and_names_are_stored_once() {
        let mut t = StringTable::new();
        assert_eq!(t.add(""), 0);
        assert_eq!(t.add("type"), 1);
        assert_eq!(t.add("max_entries"), 6);
        assert_eq!(t.add("type"), 1);
        assert_eq!(t.into_bytes(), b"\0type\0max_entries\0");
    }
}
