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
    /// it follows the current tag stack, see [`Parsed::is_valid`]; the
    /// tunnel headers follow [`Parsed::tunnel`]).
    valid: u16,
    /// The VXLAN tunnel, when `vxlan` is valid: what the inner parse found.
    pub tunnel: Option<Tunnel>,
    /// VLAN tags currently in the stack (0..=2).
    pub vlan_tags: usize,
    /// Length of the L3 header (IPv4: IHL × 4, IPv6: 40), 0 without one.
    pub l3_len: usize,
    /// IPv4 with a non-zero fragment offset: no L4 header is valid and no L4
    /// checksum is ever updated.
    pub non_first_fragment: bool,
}

/// The inside of a VXLAN tunnel: the inner frame's headers, found by the
/// inner parse rules (those of the outer parse without VLAN tags and
/// without VXLAN: see `semantics`, "VXLAN").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tunnel {
    /// Where the VXLAN header starts (outer L4 offset + 8).
    pub vxlan_offset: usize,
    /// The inner frame, parsed as if it started the packet: `eth`, `ipv4`,
    /// … here mean `inner_eth`, `inner_ipv4`, … (`vlan_tags` is always 0).
    pub inner: InnerParse,
}

/// The validity and layout of an inner frame (as [`Parsed`] without
/// tags or tunnel), with offsets relative to the inner frame's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InnerParse {
    valid: u16,
    pub l3_len: usize,
    pub non_first_fragment: bool,
}

impl InnerParse {
    /// `h` is an outer header name (`Eth`, `Ipv4`, …, `L4`, `Tcp`, …).
    pub fn is_valid(&self, h: Header) -> bool {
        self.valid & (1 << h as u16) != 0
    }
}

impl Tunnel {
    /// Where the inner frame (inner Ethernet header) starts.
    pub fn inner_offset(&self) -> usize {
        self.vxlan_offset + VXLAN_LEN
    }
}

/// UDP destination port of VXLAN (RFC 7348, IANA).
pub const VXLAN_PORT: u16 = 4789;
/// Bytes of the VXLAN header.
pub const VXLAN_LEN: usize = 8;
/// The I flag (a valid VNI), bit 3 of the flags byte.
pub const VXLAN_FLAG_I: u8 = 0x08;

impl Parsed {
    pub fn is_valid(&self, h: Header) -> bool {
        match h {
            Header::Meta => true,
            Header::Vlan => self.vlan_tags > 0,
            Header::Vxlan => self.tunnel.is_some(),
            Header::InnerEth | Header::InnerIpv4 | Header::InnerIpv6 | Header::InnerL4 => {
                self.tunnel.is_some_and(|t| t.inner.is_valid(outer_of(h)))
            }
            _ => self.valid & (1 << h as u16) != 0,
        }
    }
    /// What the packet's headers are after `vxlan_decap`: the inner ones
    /// (no tags, no tunnel); `None` without a tunnel.
    pub fn decapsulated(&self) -> Option<Parsed> {
        let t = self.tunnel?;
        Some(Parsed {
            valid: t.inner.valid,
            tunnel: None,
            vlan_tags: 0,
            l3_len: t.inner.l3_len,
            non_first_fragment: t.inner.non_first_fragment,
        })
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
            Header::Vxlan => self.tunnel?.vxlan_offset,
            Header::InnerEth => self.tunnel?.inner_offset(),
            Header::InnerIpv4 | Header::InnerIpv6 => {
                self.tunnel?.inner_offset() + ethernet::HEADER_LEN
            }
            Header::InnerL4 => {
                let t = self.tunnel?;
                t.inner_offset() + ethernet::HEADER_LEN + t.inner.l3_len
            }
        })
    }
}

/// The outer header whose rules an inner header follows.
fn outer_of(h: Header) -> Header {
    match h {
        Header::InnerEth => Header::Eth,
        Header::InnerIpv4 => Header::Ipv4,
        Header::InnerIpv6 => Header::Ipv6,
        Header::InnerL4 => Header::L4,
        other => other,
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
    let l3 = p.l3_offset();
    let (valid, l3_len, nff) = parse_l3_l4(packet, l3, ethertype);
    p.valid |= valid;
    p.l3_len = l3_len;
    p.non_first_fragment = nff;
    if p.is_valid(Header::Udp) {
        p.tunnel = parse_vxlan(packet, p.l4_offset());
    }
    p
}

/// VXLAN after a valid UDP header at `l4`: destination port 4789, the 8
/// VXLAN bytes present and the I flag set (a frame without it is not a
/// VXLAN frame here: its headers stay plain UDP payload). The inner frame
/// is parsed by the inner rules.
fn parse_vxlan(packet: &[u8], l4: usize) -> Option<Tunnel> {
    let dport = u16::from_be_bytes([*packet.get(l4 + 2)?, *packet.get(l4 + 3)?]);
    let vxlan_offset = l4 + udp::HEADER_LEN;
    if dport != VXLAN_PORT
        || packet.len() < vxlan_offset + VXLAN_LEN
        || packet[vxlan_offset] & VXLAN_FLAG_I == 0
    {
        return None;
    }
    let mut t = Tunnel {
        vxlan_offset,
        inner: InnerParse::default(),
    };
    let inner = t.inner_offset();
    if packet.len() >= inner + ethernet::HEADER_LEN {
        t.inner.valid |= 1 << Header::Eth as u16;
        let ty = EtherType::from(u16::from_be_bytes([packet[inner + 12], packet[inner + 13]]));
        let (valid, l3_len, nff) = parse_l3_l4(packet, inner + ethernet::HEADER_LEN, ty);
        t.inner.valid |= valid;
        t.inner.l3_len = l3_len;
        t.inner.non_first_fragment = nff;
    }
    Some(t)
}

/// The L3 and L4 rules from `l3` on, for `ethertype`: the validity bits
/// found, the L3 header length and whether it is a non-first fragment.
fn parse_l3_l4(packet: &[u8], l3_at: usize, ethertype: EtherType) -> (u16, usize, bool) {
    let mut valid = 0u16;
    let set = |v: &mut u16, h: Header| *v |= 1 << h as u16;
    let l3 = &packet[l3_at.min(packet.len())..];
    let (l3_len, l4_proto) = match ethertype {
        EtherType::Ipv4 => {
            // ≥ 20 bytes, version 4, IHL ≥ 5, IHL × 4 bytes present.
            let Ok(ip) = ipv4::Packet::new_checked(l3) else {
                return (valid, 0, false);
            };
            if ip.version() != 4 {
                return (valid, 0, false);
            }
            set(&mut valid, Header::Ipv4);
            let len = ip.header_len();
            if ip.frag_offset() != 0 {
                return (valid, len, true);
            }
            match ip.protocol() {
                IpProtocol::Icmp => (len, IpProtocol::Icmp),
                IpProtocol::Tcp => (len, IpProtocol::Tcp),
                IpProtocol::Udp => (len, IpProtocol::Udp),
                _ => return (valid, len, false),
            }
        }
        EtherType::Ipv6 => {
            let Ok(ip) = ipv6::Packet::new_checked(l3) else {
                return (valid, 0, false);
            };
            if ip.version() != 6 {
                return (valid, 0, false);
            }
            set(&mut valid, Header::Ipv6);
            let len = ipv6::HEADER_LEN;
            // Extension headers are not walked: only a direct TCP/UDP/ICMPv6.
            match ip.next_header() {
                IpProtocol::Icmpv6 => (len, IpProtocol::Icmpv6),
                IpProtocol::Tcp => (len, IpProtocol::Tcp),
                IpProtocol::Udp => (len, IpProtocol::Udp),
                _ => return (valid, len, false),
            }
        }
        _ => return (valid, 0, false),
    };

    let l4 = &packet[(l3_at + l3_len).min(packet.len())..];
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
        set(&mut valid, h);
        if matches!(h, Header::Tcp | Header::Udp) {
            set(&mut valid, Header::L4);
        }
    }
    (valid, l3_len, false)
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
