//! UDP headers (RFC 768).

use super::{be, checksum, need, IpProtocol, Layer, WireError};
use std::net::IpAddr;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write view over a UDP datagram.
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
    /// The 8-byte header is present (the length field is not checked).
    pub fn check_len(&self) -> Result<(), WireError> {
        need(Layer::Udp, self.buffer.as_ref().len(), HEADER_LEN)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn src_port(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    pub fn dst_port(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::DST_PORT.start)
    }
    pub fn len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }
    /// 0 means "no checksum" (allowed over IPv4).
    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// Whether the checksum over the pseudo-header and the whole buffer is
    /// correct; a zero checksum (none) counts as correct.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Udp.into(), data.len() as u32);
        checksum::combine(&[ph, checksum::sum(data)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }
    pub fn set_len(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
    /// Computes the checksum over the pseudo-header and the whole buffer
    /// (a computed 0 is sent as 0xffff, RFC 768).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Udp.into(), data.len() as u32);
        let c = match !checksum::combine(&[ph, checksum::sum(data)]) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(c);
    }
}

/// A UDP header as plain values (length and checksum are computed on emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        if usize::from(p.len()) < HEADER_LEN {
            return Err(WireError::Malformed {
                layer: Layer::Udp,
                field: "length",
                value: p.len().into(),
                expected: "at least 8",
            });
        }
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header over a buffer holding the whole datagram (header +
    /// payload): sets the length from the buffer and fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        let len = p.buffer.as_ref().len() as u16;
        p.set_len(len);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 49152 → 53, length 12, payload "abcd", 192.168.0.1 → 192.168.0.2.
    static DATAGRAM_BYTES: [u8; 12] = [
        0xc0, 0x00, 0x00, 0x35, 0x00, 0x0c, 0xf9, 0x85, b'a', b'b', b'c', b'd',
    ];

    fn addrs() -> (IpAddr, IpAddr) {
        (
            "192.168.0.1".parse().unwrap(),
            "192.168.0.2".parse().unwrap(),
        )
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&DATAGRAM_BYTES[..]).unwrap();
        let (s, d) = addrs();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (49152, 53, 12));
        assert_eq!(p.checksum(), 0xf985);
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum(&s, &d));
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 12];
        let (s, d) = addrs();
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_src_port(49152);
        p.set_dst_port(53);
        p.set_len(12);
        p.payload_mut().copy_from_slice(b"abcd");
        p.fill_checksum(&s, &d);
        assert_eq!(bytes, DATAGRAM_BYTES);
    }

    #[test]
    fn parse_and_emit() {
        let (s, d) = addrs();
        let r = Repr::parse(&Packet::new_checked(&DATAGRAM_BYTES[..]).unwrap()).unwrap();
        assert_eq!(
            r,
            Repr {
                src_port: 49152,
                dst_port: 53
            }
        );
        let mut bytes = [0u8; 12];
        bytes[8..].copy_from_slice(b"abcd");
        r.emit(&mut Packet::new_unchecked(&mut bytes[..]), &s, &d);
        assert_eq!(bytes, DATAGRAM_BYTES);
    }

    #[test]
    fn errors_and_zero_checksum() {
        assert_eq!(
            Packet::new_checked(&DATAGRAM_BYTES[..7]).unwrap_err(),
            WireError::Truncated {
                layer: Layer::Udp,
                len: 7,
                need: 8
            }
        );
        let mut b = DATAGRAM_BYTES;
        b[5] = 4;
        assert!(matches!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(WireError::Malformed {
                field: "length",
                value: 4,
                ..
            })
        ));
        b[6] = 0;
        b[7] = 0;
        let (s, d) = addrs();
        assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum(&s, &d));
    }
}
