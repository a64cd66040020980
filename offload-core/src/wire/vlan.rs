//! 802.1Q / 802.1ad VLAN tags.
//!
//! A tag here is the 4 bytes inserted after the MAC addresses: the TPID
//! (0x8100 or 0x88a8, in the place of an EtherType) and the TCI (PCP, DEI, VID).
//! The EtherType that follows a tag belongs to the next layer (another tag or
//! the payload's type), which is the layout the IR's `vlan.*` bit offsets use.

use super::{be, need, EtherType, Layer, WireError};

mod field {
    pub const TPID: usize = 0;
    pub const TCI: usize = 2;
}

/// Length of one tag.
pub const TAG_LEN: usize = 4;

/// A view over one tag (TPID + TCI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tag<T> {
    pub fn new_unchecked(buffer: T) -> Tag<T> {
        Tag { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Tag<T>, WireError> {
        let t = Self::new_unchecked(buffer);
        t.check_len()?;
        Ok(t)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        need(Layer::Vlan, self.buffer.as_ref().len(), TAG_LEN)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn tpid(&self) -> EtherType {
        EtherType::from(be::u16_at(self.buffer.as_ref(), field::TPID))
    }
    pub fn tci(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::TCI)
    }
    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }
    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }
    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    pub fn set_tpid(&mut self, t: EtherType) {
        be::put_u16(self.buffer.as_mut(), field::TPID, t.into());
    }
    pub fn set_tci(&mut self, tci: u16) {
        be::put_u16(self.buffer.as_mut(), field::TCI, tci);
    }
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 7) << 13);
        self.set_tci(tci);
    }
    pub fn set_dei(&mut self, dei: bool) {
        let tci = (self.tci() & !0x1000) | if dei { 0x1000 } else { 0 };
        self.set_tci(tci);
    }
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci);
    }
}

/// One tag as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub tpid: EtherType,
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(tag: &Tag<T>) -> Result<Repr, WireError> {
        tag.check_len()?;
        if !tag.tpid().is_vlan_tpid() {
            return Err(WireError::Malformed {
                layer: Layer::Vlan,
                field: "tpid",
                value: u16::from(tag.tpid()).into(),
                expected: "0x8100 or 0x88a8",
            });
        }
        Ok(Repr {
            tpid: tag.tpid(),
            pcp: tag.pcp(),
            dei: tag.dei(),
            vid: tag.vid(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        TAG_LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, tag: &mut Tag<T>) {
        tag.set_tpid(self.tpid);
        tag.set_tci(
            (u16::from(self.pcp & 7) << 13)
                | if self.dei { 0x1000 } else { 0 }
                | (self.vid & 0xfff),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // TPID 0x8100, PCP 5, DEI 1, VID 0x123.
    static TAG_BYTES: [u8; 4] = [0x81, 0x00, 0xb1, 0x23];

    fn repr() -> Repr {
        Repr {
            tpid: EtherType::Vlan,
            pcp: 5,
            dei: true,
            vid: 0x123,
        }
    }

    #[test]
    fn deconstruct() {
        let t = Tag::new_checked(&TAG_BYTES[..]).unwrap();
        assert_eq!(t.tpid(), EtherType::Vlan);
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 0x123);
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 4];
        let mut t = Tag::new_unchecked(&mut bytes[..]);
        t.set_tpid(EtherType::Vlan);
        t.set_vid(0x123);
        t.set_pcp(5);
        t.set_dei(true);
        assert_eq!(bytes, TAG_BYTES);
    }

    #[test]
    fn parse_and_emit() {
        assert_eq!(
            Repr::parse(&Tag::new_checked(&TAG_BYTES[..]).unwrap()).unwrap(),
            repr()
        );
        let mut bytes = [0u8; 4];
        repr().emit(&mut Tag::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, TAG_BYTES);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            Tag::new_checked(&TAG_BYTES[..3]),
            Err(WireError::Truncated {
                layer: Layer::Vlan,
                len: 3,
                need: 4
            })
        ));
        let not_a_tag = [0x08, 0x00, 0, 1];
        assert!(matches!(
            Repr::parse(&Tag::new_checked(&not_a_tag[..]).unwrap()),
            Err(WireError::Malformed {
                field: "tpid",
                value: 0x0800,
                ..
            })
        ));
    }
}
