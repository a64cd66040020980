//! Packet rewrites: `set` (of a value, or of another field's value) with
//! incremental checksum updates, `dec_ttl`, `push_vlan`, `pop_vlan`. Each returns what it did as an [`Effect`].

use super::parse::{locate, read_loc, write_loc, Parsed, MAX_VLAN_TAGS};
use crate::ir::{Field, Header};
use crate::wire::{checksum, vlan};

/// What one rewriting primitive did (for `offloadctl run` and debugging).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// A field was written (`set` or `dec_ttl`).
    Set {
        field: Field,
        old: u128,
        new: u128,
    },
    /// A `set` whose field's header is not valid: nothing happened.
    SetIgnored {
        field: Field,
    },
    /// A copy whose source field's header is not valid: nothing happened.
    CopyIgnored {
        field: Field,
        from: Field,
    },
    /// `dec_ttl` found TTL / hop limit ≤ 1: the packet goes to the host.
    TtlExpired {
        field: Field,
        value: u8,
    },
    /// `dec_ttl` without a valid IPv4 or IPv6 header: nothing happened.
    DecTtlIgnored,
    PushVlan {
        vid: u16,
    },
    /// `push_vlan` with two tags already (or no valid Ethernet header).
    PushVlanIgnored {
        vid: u16,
    },
    PopVlan {
        vid: u16,
    },
    /// `pop_vlan` without a tag.
    PopVlanIgnored,
    /// `vxlan_encap`: the frame now travels in a tunnel with this VNI and
    /// outer UDP source port.
    VxlanEncap {
        vni: u32,
        src_port: u16,
    },
    /// `vxlan_encap` without a valid Ethernet header: nothing happened.
    VxlanEncapIgnored,
    /// `vxlan_decap`: this many outer bytes were removed.
    VxlanDecap {
        vni: u32,
        removed: usize,
    },
    /// `vxlan_decap` without a valid `vxlan` header: nothing happened.
    VxlanDecapIgnored,
}

/// Byte offsets of the checksums a field write must patch.
struct ChecksumSites {
    ipv4: Option<usize>,
    /// (offset, is_udp)
    l4: Option<(usize, bool)>,
}

fn checksum_sites(parsed: &Parsed, field: Field) -> ChecksumSites {
    let in_ipv4_header = matches!(
        field,
        Field::Ipv4Src | Field::Ipv4Dst | Field::Ipv4Ttl | Field::Ipv4Dscp
    );
    let in_pseudo_header_or_ports = matches!(
        field,
        Field::Ipv4Src
            | Field::Ipv4Dst
            | Field::Ipv6Src
            | Field::Ipv6Dst
            | Field::L4SrcPort
            | Field::L4DstPort
    );
    let ipv4 = (in_ipv4_header && parsed.is_valid(Header::Ipv4)).then(|| parsed.l3_offset() + 10);
    // Non-first fragments never have a valid L4 header, so this also covers them.
    let l4 = if !in_pseudo_header_or_ports || parsed.non_first_fragment {
        None
    } else if parsed.is_valid(Header::Tcp) {
        Some((parsed.l4_offset() + 16, false))
    } else if parsed.is_valid(Header::Udp) {
        Some((parsed.l4_offset() + 6, true))
    } else {
        None
    };
    ChecksumSites { ipv4, l4 }
}

fn get16(packet: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([packet[at], packet[at + 1]])
}

fn put16(packet: &mut [u8], at: usize, v: u16) {
    packet[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// `set(field, value)`: writes the field (masked to its width) and patches the
/// IPv4 header checksum and the TCP/UDP checksum by RFC 1624 over the 16-bit
/// words that hold the change.
pub fn set(parsed: &Parsed, packet: &mut [u8], field: Field, value: u128) -> Effect {
    let Some(loc) = locate(parsed, packet.len(), field) else {
        return Effect::SetIgnored { field };
    };
    let value = value & field.max_value();
    let old = read_loc(packet, &loc);
    // Every header starts at an even offset, so aligning to the packet is
    // aligning to the header (and to the pseudo-header for addresses).
    let w_start = loc.start & !1;
    let w_end = (loc.start + loc.len + 1) & !1;
    if w_end > packet.len() {
        // Only possible for a field ending on the last, odd byte of a frame;
        // no checksummed field does (they all end on even offsets).
        write_loc(packet, &loc, value);
        return Effect::Set {
            field,
            old,
            new: value,
        };
    }
    let before: Vec<u8> = packet[w_start..w_end].to_vec();
    write_loc(packet, &loc, value);
    let sites = checksum_sites(parsed, field);
    if let Some(at) = sites.ipv4 {
        let hc = get16(packet, at);
        let new = checksum::update_words(hc, &before, &packet[w_start..w_end]);
        put16(packet, at, new);
    }
    if let Some((at, is_udp)) = sites.l4 {
        let hc = get16(packet, at);
        // UDP checksum 0 means "none": it stays 0.
        if !(is_udp && hc == 0) {
            let mut new = checksum::update_words(hc, &before, &packet[w_start..w_end]);
            if is_udp && new == 0 {
                new = 0xffff;
            }
            put16(packet, at, new);
        }
    }
    Effect::Set {
        field,
        old,
        new: value,
    }
}

/// Outcome of `dec_ttl`: continue, or the packet goes to the host.
pub enum DecTtl {
    Continue(Effect),
    Expired(Effect),
}

/// `dec_ttl`: IPv4 TTL, else IPv6 hop limit; ≤ 1 → to the host, unchanged.
pub fn dec_ttl(parsed: &Parsed, packet: &mut [u8]) -> DecTtl {
    let field = if parsed.is_valid(Header::Ipv4) {
        Field::Ipv4Ttl
    } else if parsed.is_valid(Header::Ipv6) {
        Field::Ipv6HopLimit
    } else {
        return DecTtl::Continue(Effect::DecTtlIgnored);
    };
    let Some(loc) = locate(parsed, packet.len(), field) else {
        return DecTtl::Continue(Effect::DecTtlIgnored);
    };
    let ttl = read_loc(packet, &loc);
    if ttl <= 1 {
        return DecTtl::Expired(Effect::TtlExpired {
            field,
            value: ttl as u8,
        });
    }
    DecTtl::Continue(set(parsed, packet, field, ttl - 1))
}

/// `push_vlan(vid)`: inserts TPID 0x8100 + TCI (PCP 0, DEI 0, VID) after the
/// MACs as the new outer tag; the old EtherType/TPID at offset 12 becomes the
/// tag's inner EtherType. No-op with two tags or without Ethernet.
pub fn push_vlan(parsed: &mut Parsed, packet: &mut Vec<u8>, vid: u128) -> Effect {
    let vid = (vid & 0x0fff) as u16;
    if !parsed.is_valid(Header::Eth) || parsed.vlan_tags >= MAX_VLAN_TAGS {
        return Effect::PushVlanIgnored { vid };
    }
    let mut tag = [0u8; vlan::TAG_LEN];
    vlan::Repr {
        tpid: crate::wire::EtherType::Vlan,
        pcp: 0,
        dei: false,
        vid,
    }
    .emit(&mut vlan::Tag::new_unchecked(&mut tag[..]));
    packet.splice(12..12, tag);
    parsed.vlan_tags += 1;
    if let Some(t) = &mut parsed.tunnel {
        t.vxlan_offset += vlan::TAG_LEN;
    }
    Effect::PushVlan { vid }
}

/// `pop_vlan`: removes the outer tag's 4 bytes (TPID + TCI); no-op without one.
pub fn pop_vlan(parsed: &mut Parsed, packet: &mut Vec<u8>) -> Effect {
    if parsed.vlan_tags == 0 {
        return Effect::PopVlanIgnored;
    }
    let vid = vlan::Tag::new_unchecked(&packet[12..16]).vid();
    packet.drain(12..16);
    parsed.vlan_tags -= 1;
    if let Some(t) = &mut parsed.tunnel {
        t.vxlan_offset -= vlan::TAG_LEN;
    }
    Effect::PopVlan { vid }
}

/// The operands of `vxlan_encap`, resolved to values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapArgs {
    pub dmac: u64,
    pub smac: u64,
    pub src: u32,
    pub dst: u32,
    pub vni: u32,
}

/// Outer headers `vxlan_encap` adds: Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
pub const VXLAN_ENCAP_LEN: usize = 50;
/// The outer IPv4 TTL.
pub const VXLAN_OUTER_TTL: u8 = 64;

/// The fields whose bytes the outer UDP source port hashes (the inner
/// flow's 5-tuple as the frame is before the encap; an invalid header's
/// fields add nothing, as for hash keys).
pub const VXLAN_FLOW_FIELDS: [Field; 8] = [
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::Ipv4Protocol,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::Ipv6NextHeader,
    Field::L4SrcPort,
    Field::L4DstPort,
];

/// The outer UDP source port: `0xC000 | (crc32(flow bytes) & 0x3FFF)`, in
/// the dynamic range (RFC 7348 §5 recommends 49152–65535).
pub fn vxlan_src_port(parsed: &Parsed, packet: &[u8]) -> u16 {
    let key = crate::ir::HashKey {
        fields: VXLAN_FLOW_FIELDS.to_vec(),
        buckets: 1 << 14,
    };
    let bytes = super::hash::hash_input(parsed, packet, &key);
    0xC000 | (super::hash::crc32(&bytes) & 0x3FFF) as u16
}

/// `vxlan_encap`: prepends outer Ethernet (dmac, smac, 0x0800), IPv4
/// (version 4, IHL 5, TOS 0, total length, ID 0, DF, TTL 64, UDP, header
/// checksum computed, src, dst), UDP (source port [`vxlan_src_port`], 4789,
/// length, checksum 0) and VXLAN (flags 0x08, VNI, reserved 0). The headers
/// are then the new frame parsed afresh: `eth/ipv4/udp/l4/vxlan` the outer
/// ones, `inner_*` what the inner rules find in the old frame. No-op
/// without a valid Ethernet header.
pub fn vxlan_encap(parsed: &mut Parsed, packet: &mut Vec<u8>, a: EncapArgs) -> Effect {
    if !parsed.is_valid(Header::Eth) {
        return Effect::VxlanEncapIgnored;
    }
    let src_port = vxlan_src_port(parsed, packet);
    let vni = a.vni & 0x00ff_ffff;
    let inner_len = packet.len();
    let mut outer = [0u8; VXLAN_ENCAP_LEN];
    outer[0..6].copy_from_slice(&a.dmac.to_be_bytes()[2..]);
    outer[6..12].copy_from_slice(&a.smac.to_be_bytes()[2..]);
    outer[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut outer[14..34];
    ip[0] = 0x45;
    let total = (20 + 8 + 8 + inner_len) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    ip[8] = VXLAN_OUTER_TTL;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&a.src.to_be_bytes());
    ip[16..20].copy_from_slice(&a.dst.to_be_bytes());
    let csum = !checksum::sum(ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    let udp = &mut outer[34..42];
    udp[0..2].copy_from_slice(&src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&super::parse::VXLAN_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + 8 + inner_len) as u16).to_be_bytes());
    let vx = &mut outer[42..50];
    vx[0] = super::parse::VXLAN_FLAG_I;
    vx[4..7].copy_from_slice(&vni.to_be_bytes()[1..]);
    packet.splice(0..0, outer);
    *parsed = super::parse::parse(packet);
    Effect::VxlanEncap { vni, src_port }
}

/// `vxlan_decap`: removes everything before the inner Ethernet header; the
/// headers are then the inner ones ([`Parsed::decapsulated`]). No-op
/// without a valid `vxlan` header.
pub fn vxlan_decap(parsed: &mut Parsed, packet: &mut Vec<u8>) -> Effect {
    let (Some(t), Some(inner)) = (parsed.tunnel, parsed.decapsulated()) else {
        return Effect::VxlanDecapIgnored;
    };
    let at = t.vxlan_offset;
    let vni = u32::from_be_bytes([0, packet[at + 4], packet[at + 5], packet[at + 6]]);
    let removed = t.inner_offset().min(packet.len());
    packet.drain(..removed);
    *parsed = inner;
    Effect::VxlanDecap { vni, removed }
}
