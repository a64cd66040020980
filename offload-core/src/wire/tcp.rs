//! TCP headers (RFC 9293).

use super::{be, checksum, need, IpProtocol, Layer, WireError};
use std::net::IpAddr;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of the header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// TCP flag bits (the low 8 bits of the flags field).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// A read/write view over a TCP segment.
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
    /// The fixed header and all options are present, and data offset ≥ 5.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        need(Layer::Tcp, len, HEADER_LEN)?;
        if self.header_len() < HEADER_LEN {
            return Err(WireError::Malformed {
                layer: Layer::Tcp,
                field: "data offset",
                value: (self.header_len() / 4) as u32,
                expected: "at least 5",
            });
        }
        need(Layer::Tcp, len, self.header_len())
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
    pub fn seq_number(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::SEQ_NUM.start)
    }
    pub fn ack_number(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::ACK_NUM.start)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }
    /// CWR..FIN (the low 8 flag bits).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS.start + 1]
    }
    pub fn window_len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::WIN_SIZE.start)
    }
    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn urgent_at(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::URGENT.start)
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// Whether the checksum over the pseudo-header and the whole buffer is correct.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Tcp.into(), data.len() as u32);
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
    pub fn set_seq_number(&mut self, v: u32) {
        be::put_u32(self.buffer.as_mut(), field::SEQ_NUM.start, v);
    }
    pub fn set_ack_number(&mut self, v: u32) {
        be::put_u32(self.buffer.as_mut(), field::ACK_NUM.start, v);
    }
    /// Sets the data offset from a length in bytes (a multiple of 4, ≤ 60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::FLAGS.start];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }
    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS.start + 1] = f;
    }
    pub fn set_window_len(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::WIN_SIZE.start, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn set_urgent_at(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::URGENT.start, v);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
    /// Computes the checksum over the pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Tcp.into(), data.len() as u32);
        let c = !checksum::combine(&[ph, checksum::sum(data)]);
        self.set_checksum(c);
    }
}

/// An option-less TCP header as plain values (the checksum is computed on emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: u8,
    pub window_len: u16,
    pub urgent_at: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq_number: p.seq_number(),
            ack_number: p.ack_number(),
            flags: p.flags(),
            window_len: p.window_len(),
            urgent_at: p.urgent_at(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header; the buffer's rest is the payload the checksum covers.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.set_header_len(HEADER_LEN);
        p.buffer.as_mut()[field::FLAGS.start] &= 0xf0;
        p.set_flags(self.flags);
        p.set_window_len(self.window_len);
        p.set_urgent_at(self.urgent_at);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 49152 → 80, PSH|ACK, window 65535, payload "abc", 192.168.0.1 → 192.168.0.2.
    static SEGMENT_BYTES: [u8; 23] = [
        0xc0, 0x00, 0x00, 0x50, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x50, 0x18, 0xff,
        0xff, 0x0b, 0x9d, 0x00, 0x00, b'a', b'b', b'c',
    ];

    fn addrs() -> (IpAddr, IpAddr) {
        (
            "192.168.0.1".parse().unwrap(),
            "192.168.0.2".parse().unwrap(),
        )
    }

    fn repr() -> Repr {
        Repr {
            src_port: 49152,
            dst_port: 80,
            seq_number: 0x0123_4567,
            ack_number: 0x89ab_cdef,
            flags: flags::PSH | flags::ACK,
            window_len: 0xffff,
            urgent_at: 0,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&SEGMENT_BYTES[..]).unwrap();
        let (s, d) = addrs();
        assert_eq!((p.src_port(), p.dst_port()), (49152, 80));
        assert_eq!(p.seq_number(), 0x0123_4567);
        assert_eq!(p.ack_number(), 0x89ab_cdef);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.flags(), flags::PSH | flags::ACK);
        assert_eq!(p.window_len(), 0xffff);
        assert_eq!(p.checksum(), 0x0b9d);
        assert_eq!(p.payload(), b"abc");
        assert!(p.verify_checksum(&s, &d));
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 23];
        let (s, d) = addrs();
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_src_port(49152);
        p.set_dst_port(80);
        p.set_seq_number(0x0123_4567);
        p.set_ack_number(0x89ab_cdef);
        p.set_header_len(20);
        p.set_flags(flags::PSH | flags::ACK);
        p.set_window_len(0xffff);
        p.payload_mut().copy_from_slice(b"abc");
        p.fill_checksum(&s, &d);
        assert_eq!(bytes, SEGMENT_BYTES);
    }

    #[test]
    fn parse_and_emit() {
        let (s, d) = addrs();
        assert_eq!(
            Repr::parse(&Packet::new_checked(&SEGMENT_BYTES[..]).unwrap()).unwrap(),
            repr()
        );
        let mut bytes = [0u8; 23];
        bytes[20..].copy_from_slice(b"abc");
        repr().emit(&mut Packet::new_unchecked(&mut bytes[..]), &s, &d);
        assert_eq!(bytes, SEGMENT_BYTES);
    }

    #[test]
    fn errors() {
        assert_eq!(
            Packet::new_checked(&SEGMENT_BYTES[..19]).unwrap_err(),
            WireError::Truncated {
                layer: Layer::Tcp,
                len: 19,
                need: 20
            }
        );
        let mut b = SEGMENT_BYTES;
        b[12] = 0x40;
        assert!(matches!(
            Packet::new_checked(&b[..]),
            Err(WireError::Malformed {
                field: "data offset",
                value: 4,
                ..
            })
        ));
        b[12] = 0x60;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            WireError::Truncated {
                layer: Layer::Tcp,
                len: 23,
                need: 24
            }
        );
    }
}
