//! The parser: which headers are valid and where they are.
//!
//! Validity is decided once, at ingress (see the rules in [`super`]). Offsets
//! are derived from the VLAN tag stack depth, so `push_vlan`/`pop_vlan` only
//! change [`Parsed::vlan_tags`] and every later header shifts by ±4 bytes.

use crate::ir::{mask_of_width, Field, Header, PortId};
use crate::wire::{ethernet, ipv4, ipv6, tcp, udp, vlan, EtherType, IpProtocol};

/// At most this many VLAN tags are parsed (and pushed).
pub const MAX_VLAN_TAGS: usize = 2;

/// The parser's view of one packet: header validity and layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Bit `h as u16` set ⇔ header `h` was valid at ingress (`vlan` excepted:
    /// it follows the current tag stack, see [`Parsed::is_valid`]).
    valid: u16,
    /// VLAN tags currently in the stack (0..=2).
    pub vlan_tags: usize,
    /// Length of the L3 header (IPv4: IHL × 4, IPv6: 40), 0 without one.
    pub l3_len: usize,
    /// IPv4 with a non-zero fragment offset: no L4 header is valid and no L4
    /// checksum is ever updated.
    pub non_first_fragment: bool,
}

impl Parsed {
    pub fn is_valid(&self, h: Header) -> bool {
        match h {
            Header::Meta => true,
            Header::Vlan => self.vlan_tags > 0,
            _ => self.valid & (1 << h as u16) != 0,
        }
    }
    fn set_valid(&mut self, h: Header) {
        self.valid |= 1 << h as u16;
    }
    /// Valid headers, in catalogue order.
    pub fn valid_headers(&self) -> Vec<Header> {
        Header::ALL
            .into_iter()
            .filter(|h| self.is_valid(*h))
            .collect()
    }
    /// Offset of the EtherType that follows the tags (the `eth.type` field).
    pub fn ethertype_offset(&self) -> usize {
        12 + vlan::TAG_LEN * self.vlan_tags
    }
    pub fn l3_offset(&self) -> usize {
        ethernet::HEADER_LEN + vlan::TAG_LEN * self.vlan_tags
    }
    pub fn l4_offset(&self) -> usize {
        self.l3_offset() + self.l3_len
    }
    /// Where a valid header starts in the packet (`None` if it is not valid
    /// or is `meta`). The `vlan` header is the outer tag (TPID + TCI).
    pub fn offset(&self, h: Header) -> Option<usize> {
        if h == Header::Meta || !self.is_valid(h) {
            return None;
        }
        Some(match h {
            Header::Meta => unreachable!("meta has no bytes"),
            Header::Eth => 0,
            Header::Vlan => 12,
            Header::Ipv4 | Header::Ipv6 => self.l3_offset(),
            Header::L4 | Header::Tcp | Header::Udp | Header::Icmp | Header::Icmpv6 => {
                self.l4_offset()
            }
        })
    }
}

/// Parses a frame per the rules in [`super`]. Never fails: what is not valid
/// is simply marked so.
pub fn parse(packet: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    let Ok(frame) = ethernet::Frame::new_checked(packet) else {
        return p;
    };
    p.set_valid(Header::Eth);

    let mut ethertype = frame.ethertype();
    while ethertype.is_vlan_tpid() && p.vlan_tags < MAX_VLAN_TAGS {
        // A tag must be complete (TPID + TCI + the next EtherType), else stop.
        let next = p.ethertype_offset() + vlan::TAG_LEN;
        if packet.len() < next + 2 {
            break;
        }
        p.vlan_tags += 1;
        ethertype = EtherType::from(u16::from_be_bytes([packet[next], packet[next + 1]]));
    }

    let l3 = &packet[p.l3_offset().min(packet.len())..];
    let l4_proto = match ethertype {
        EtherType::Ipv4 => {
            // ≥ 20 bytes, version 4, IHL ≥ 5, IHL × 4 bytes present.
            let Ok(ip) = ipv4::Packet::new_checked(l3) else {
                return p;
            };
            if ip.version() != 4 {
                return p;
            }
            p.set_valid(Header::Ipv4);
            p.l3_len = ip.header_len();
            if ip.frag_offset() != 0 {
                p.non_first_fragment = true;
                return p;
            }
            match ip.protocol() {
                IpProtocol::Icmp => IpProtocol::Icmp,
                IpProtocol::Tcp => IpProtocol::Tcp,
                IpProtocol::Udp => IpProtocol::Udp,
                _ => return p,
            }
        }
        EtherType::Ipv6 => {
            let Ok(ip) = ipv6::Packet::new_checked(l3) else {
                return p;
            };
            if ip.version() != 6 {
                return p;
            }
            p.set_valid(Header::Ipv6);
            p.l3_len = ipv6::HEADER_LEN;
            // Extension headers are not walked: only a direct TCP/UDP/ICMPv6.
            match ip.next_header() {
                IpProtocol::Icmpv6 => IpProtocol::Icmpv6,
                IpProtocol::Tcp => IpProtocol::Tcp,
                IpProtocol::Udp => IpProtocol::Udp,
                _ => return p,
            }
        }
        _ => return p,
    };

    let l4 = &packet[p.l4_offset().min(packet.len())..];
    let valid_l4 = match l4_proto {
        // ≥ 20 bytes and data offset ≥ 5; options need not be complete.
        IpProtocol::Tcp => (l4.len() >= tcp::HEADER_LEN
            && tcp::Packet::new_unchecked(l4).header_len() >= tcp::HEADER_LEN)
            .then_some(Header::Tcp),
        IpProtocol::Udp => udp::Packet::new_checked(l4).is_ok().then_some(Header::Udp),
        IpProtocol::Icmp => (l4.len() >= 8).then_some(Header::Icmp),
        IpProtocol::Icmpv6 => (l4.len() >= 8).then_some(Header::Icmpv6),
        _ => None,
    };
    if let Some(h) = valid_l4 {
        p.set_valid(h);
        if matches!(h, Header::Tcp | Header::Udp) {
            p.set_valid(Header::L4);
        }
    }
    p
}

/// Byte position and bit shift of a field in the packet, if its header is
/// valid and the bytes are present.
pub(crate) struct FieldLoc {
    /// First byte holding the field.
    pub start: usize,
    /// Number of bytes spanned.
    pub len: usize,
    /// Bits after the field in its last byte.
    pub tail: u32,
    pub width: u32,
}

pub(crate) fn locate(parsed: &Parsed, packet_len: usize, field: Field) -> Option<FieldLoc> {
    let info = field.info();
    let (start_bit, base) = match field {
        Field::MetaInPort | Field::MetaGroup | Field::Hash => return None,
        // The EtherType after the tags, wherever the tag stack ends.
        Field::EthType if parsed.is_valid(Header::Eth) => (0, parsed.ethertype_offset()),
        _ => (info.bit_offset, parsed.offset(info.header)?),
    };
    let skip = start_bit % 8;
    let len = (skip + info.width).div_ceil(8) as usize;
    let start = base + (start_bit / 8) as usize;
    if start + len > packet_len || len > 16 {
        return None;
    }
    Some(FieldLoc {
        start,
        len,
        tail: len as u32 * 8 - skip - info.width,
        width: info.width,
    })
}

pub(crate) fn read_loc(packet: &[u8], loc: &FieldLoc) -> u128 {
    let acc = packet[loc.start..loc.start + loc.len]
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    (acc >> loc.tail) & mask_of_width(loc.width)
}

pub(crate) fn write_loc(packet: &mut [u8], loc: &FieldLoc, value: u128) {
    let bytes = &mut packet[loc.start..loc.start + loc.len];
    let acc = bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mask = mask_of_width(loc.width) << loc.tail;
    let acc = (acc & !mask) | ((value << loc.tail) & mask);
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (acc >> (8 * (loc.len - 1 - i))) as u8;
    }
}

/// The value of `field` in `packet` (right-aligned), or `None` when its
/// header is not valid. `meta.in_port` is the ingress logical port;
/// `meta.group` and hash keys are pipeline state, not in the packet: `None`
/// here (the pipeline reads them, see `exec`).
pub fn field_value(parsed: &Parsed, packet: &[u8], in_port: PortId, field: Field) -> Option<u128> {
    if field == Field::MetaInPort {
        return Some(u128::from(in_port.0));
    }
    if !parsed.is_valid(field.header()) {
        return None;
    }
    locate(parsed, packet.len(), field).map(|loc| read_loc(packet, &loc))
}
