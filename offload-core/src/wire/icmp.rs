//! ICMP (RFC 792) and ICMPv6 (RFC 4443) message headers: type, code,
//! checksum and the 4-byte rest of header. ICMPv4's checksum covers the
//! message only; ICMPv6's also covers the IPv6 pseudo-header.

use super::{be, checksum, need, IpProtocol, Layer, WireError};
use std::net::Ipv6Addr;

mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
}

pub const HEADER_LEN: usize = field::REST.end;

/// A read/write view over an ICMP or ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        need(Layer::Icmp, self.buffer.as_ref().len(), HEADER_LEN)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// The 4 bytes after the checksum (identifier + sequence for echo).
    pub fn rest_of_header(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::REST.start)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// ICMPv4: the checksum over the whole buffer is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }
    /// ICMPv6: the checksum over the pseudo-header and the buffer is correct.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header(
            &(*src).into(),
            &(*dst).into(),
            IpProtocol::Icmpv6.into(),
            data.len() as u32,
        );
        checksum::combine(&[ph, checksum::sum(data)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn set_rest_of_header(&mut self, v: u32) {
        be::put_u32(self.buffer.as_mut(), field::REST.start, v);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
    /// ICMPv4 checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = !checksum::sum(self.buffer.as_ref());
        self.set_checksum(c);
    }
    /// ICMPv6 checksum over the pseudo-header and the whole buffer.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header(
            &(*src).into(),
            &(*dst).into(),
            IpProtocol::Icmpv6.into(),
            data.len() as u32,
        );
        let c = !checksum::combine(&[ph, checksum::sum(data)]);
        self.set_checksum(c);
    }
}

/// An ICMP/ICMPv6 header as plain values (the checksum is computed on emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    pub rest_of_header: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        Ok(Repr {
            msg_type: p.msg_type(),
            code: p.msg_code(),
            rest_of_header: p.rest_of_header(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header over a buffer holding the whole message and fills the
    /// ICMPv4 checksum (use `fill_checksum_v6` afterwards for ICMPv6).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_msg_type(self.msg_type);
        p.set_msg_code(self.code);
        p.set_rest_of_header(self.rest_of_header);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request, id 0x1234, seq 1, payload "ping".
    static ECHO_BYTES: [u8; 12] = [
        0x08, 0x00, 0x06, 0xfa, 0x12, 0x34, 0x00, 0x01, b'p', b'i', b'n', b'g',
    ];

    fn repr() -> Repr {
        Repr {
            msg_type: 8,
            code: 0,
            rest_of_header: 0x1234_0001,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code(), p.checksum()), (8, 0, 0x06fa));
        assert_eq!(p.rest_of_header(), 0x1234_0001);
        assert_eq!(p.payload(), b"ping");
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 12];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_msg_type(8);
        p.set_rest_of_header(0x1234_0001);
        p.payload_mut().copy_from_slice(b"ping");
        p.fill_checksum();
        assert_eq!(bytes, ECHO_BYTES);
    }

    #[test]
    fn parse_and_emit() {
        assert_eq!(
            Repr::parse(&Packet::new_checked(&ECHO_BYTES[..]).unwrap()).unwrap(),
            repr()
        );
        let mut bytes = [0u8; 12];
        bytes[8..].copy_from_slice(b"ping");
        repr().emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, ECHO_BYTES);
    }

    #[test]
    fn icmpv6_checksum_round_trip() {
        let (s, d): (Ipv6Addr, Ipv6Addr) = ("fe80::1".parse().unwrap(), "fe80::2".parse().unwrap());
        let mut bytes = [0u8; 12];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_msg_type(128);
        p.fill_checksum_v6(&s, &d);
        assert!(p.verify_checksum_v6(&s, &d));
        assert!(!p.verify_checksum_v6(&d, &"fe80::3".parse().unwrap()));
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Packet::new_checked(&ECHO_BYTES[..7]).unwrap_err(),
            WireError::Truncated {
                layer: Layer::Icmp,
                len: 7,
                need: 8
            }
        );
    }
}
