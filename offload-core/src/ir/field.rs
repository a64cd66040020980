//! The header and field catalogue every module is written against.
//!
//! Names (`ipv4.src`) are the module language's; bit offsets and widths are
//! relative to the start of the header that holds the field, in network order.

use std::fmt;

/// A protocol header the parser can recognise. `Meta` is always valid and
/// carries packet metadata (the ingress logical port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Header {
    Meta = 0,
    Eth = 1,
    /// The outer 802.1Q/802.1ad tag (valid when at least one tag is present).
    Vlan = 2,
    Ipv4 = 3,
    Ipv6 = 4,
    /// TCP or UDP: the transport ports, whichever carries them.
    L4 = 5,
    Tcp = 6,
    Udp = 7,
    Icmp = 8,
    Icmpv6 = 9,
    /// The VXLAN header (RFC 7348): after a valid UDP with destination port
    /// 4789 whose 8 bytes follow and whose flags have the I bit (0x08).
    Vxlan = 10,
    /// The Ethernet header inside a VXLAN tunnel (no VLAN tags are parsed
    /// inside; `inner_eth.type` is the EtherType right after the MACs).
    InnerEth = 11,
    InnerIpv4 = 12,
    InnerIpv6 = 13,
    /// The inner TCP or UDP ports.
    InnerL4 = 14,
}

impl Header {
    pub const ALL: [Header; 15] = [
        Header::Meta,
        Header::Eth,
        Header::Vlan,
        Header::Ipv4,
        Header::Ipv6,
        Header::L4,
        Header::Tcp,
        Header::Udp,
        Header::Icmp,
        Header::Icmpv6,
        Header::Vxlan,
        Header::InnerEth,
        Header::InnerIpv4,
        Header::InnerIpv6,
        Header::InnerL4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Header::Meta => "meta",
            Header::Eth => "eth",
            Header::Vlan => "vlan",
            Header::Ipv4 => "ipv4",
            Header::Ipv6 => "ipv6",
            Header::L4 => "l4",
            Header::Tcp => "tcp",
            Header::Udp => "udp",
            Header::Icmp => "icmp",
            Header::Icmpv6 => "icmpv6",
            Header::Vxlan => "vxlan",
            Header::InnerEth => "inner_eth",
            Header::InnerIpv4 => "inner_ipv4",
            Header::InnerIpv6 => "inner_ipv6",
            Header::InnerL4 => "inner_l4",
        }
    }

    pub fn from_name(name: &str) -> Option<Header> {
        Header::ALL.into_iter().find(|h| h.name() == name)
    }

    /// `vxlan` and the `inner_*` headers: only a VXLAN tunnel makes them
    /// valid (see `semantics`, "VXLAN").
    pub fn is_tunnel(self) -> bool {
        matches!(
            self,
            Header::Vxlan
                | Header::InnerEth
                | Header::InnerIpv4
                | Header::InnerIpv6
                | Header::InnerL4
        )
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a field's values are written and which parameter types fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// 48-bit MAC address, written `02:00:00:00:00:01`.
    Mac,
    /// IPv4 address, written `10.0.0.1`.
    Ipv4,
    /// IPv6 address, written `2001:db8::1`.
    Ipv6,
    /// An unsigned integer of the field's width, decimal or `0x` hex.
    Int,
    /// A logical port: a name from `[ports]` or its number.
    Port,
}

impl FieldKind {
    /// "a MAC address", "an integer", … (for diagnostics).
    pub fn describe(self) -> &'static str {
        match self {
            FieldKind::Mac => "a MAC address",
            FieldKind::Ipv4 => "an IPv4 address",
            FieldKind::Ipv6 => "an IPv6 address",
            FieldKind::Int => "an integer",
            FieldKind::Port => "a logical port",
        }
    }
}

/// Every field a module may match on or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Field {
    /// Ingress logical port (`meta.in_port`), 16 bits.
    MetaInPort = 0,
    EthDst = 1,
    EthSrc = 2,
    /// The EtherType after any VLAN tags (the payload's type). Read-only.
    EthType = 3,
    /// Outer VLAN tag's VLAN id (12 bits).
    VlanVid = 4,
    /// Outer VLAN tag's priority code point (3 bits).
    VlanPcp = 5,
    Ipv4Src = 6,
    Ipv4Dst = 7,
    Ipv4Protocol = 8,
    Ipv4Ttl = 9,
    /// DSCP (upper 6 bits of the TOS byte).
    Ipv4Dscp = 10,
    Ipv6Src = 11,
    Ipv6Dst = 12,
    /// The fixed header's Next Header (extension headers are not walked).
    Ipv6NextHeader = 13,
    Ipv6HopLimit = 14,
    L4SrcPort = 15,
    L4DstPort = 16,
    /// TCP flags: the low 8 bits of the flags field (CWR..FIN).
    TcpFlags = 17,
    IcmpType = 18,
    IcmpCode = 19,
    Icmpv6Type = 20,
    Icmpv6Code = 21,
    /// `meta.group` (16 bits): pipeline state for the module's own use (e.g.
    /// which ECMP group a route chose), zero when a packet arrives, written
    /// by `set`, read by keys and copies. Never on the wire.
    MetaGroup = 22,
    /// The value of a table's hash key ([`super::HashKey`]): `crc32(bytes) &
    /// (buckets - 1)`, computed when the table applies. Named `hash` in
    /// entries; not in [`Field::ALL`] (nothing else can name it).
    Hash = 23,
    /// The VXLAN Network Identifier (24 bits). Read-only.
    VxlanVni = 24,
    InnerEthDst = 25,
    InnerEthSrc = 26,
    /// The inner EtherType (right after the inner MACs). Read-only.
    InnerEthType = 27,
    InnerIpv4Src = 28,
    InnerIpv4Dst = 29,
    InnerIpv4Protocol = 30,
    InnerIpv4Ttl = 31,
    InnerIpv6Src = 32,
    InnerIpv6Dst = 33,
    InnerIpv6NextHeader = 34,
    InnerIpv6HopLimit = 35,
    InnerL4SrcPort = 36,
    InnerL4DstPort = 37,
}

/// Static facts about a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    pub field: Field,
    pub name: &'static str,
    pub header: Header,
    pub kind: FieldKind,
    /// Width in bits (1..=128).
    pub width: u32,
    /// Bit offset from the start of the header on the wire (meta: 0).
    pub bit_offset: u32,
    /// `set(field, …)` allowed.
    pub writable: bool,
}

macro_rules! fields {
    ({ $( $f:ident => $name:literal, $h:ident, $k:ident, $w:literal, $off:literal, $wr:literal; )* }
     hidden { $( $hf:ident => $hname:literal, $hh:ident, $hk:ident, $hw:literal, $hoff:literal, $hwr:literal; )* }) => {
        impl Field {
            /// The catalogue: every field a module can name.
            pub const ALL: &'static [Field] = &[$(Field::$f),*];

            pub fn info(self) -> FieldInfo {
                match self {
                    $(Field::$hf => FieldInfo {
                        field: Field::$hf,
                        name: $hname,
                        header: Header::$hh,
                        kind: FieldKind::$hk,
                        width: $hw,
                        bit_offset: $hoff,
                        writable: $hwr,
                    },)*
                    $(Field::$f => FieldInfo {
                        field: Field::$f,
                        name: $name,
                        header: Header::$h,
                        kind: FieldKind::$k,
                        width: $w,
                        bit_offset: $off,
                        writable: $wr,
                    },)*
                }
            }
        }
    };
}

fields! {
  {
    MetaInPort     => "meta.in_port",      Meta,   Port, 16, 0,   false;
    EthDst         => "eth.dst",           Eth,    Mac,  48, 0,   true;
    EthSrc         => "eth.src",           Eth,    Mac,  48, 48,  true;
    EthType        => "eth.type",          Eth,    Int,  16, 96,  false;
    VlanVid        => "vlan.vid",          Vlan,   Int,  12, 20,  true;
    VlanPcp        => "vlan.pcp",          Vlan,   Int,  3,  16,  true;
    Ipv4Src        => "ipv4.src",          Ipv4,   Ipv4, 32, 96,  true;
    Ipv4Dst        => "ipv4.dst",          Ipv4,   Ipv4, 32, 128, true;
    Ipv4Protocol   => "ipv4.protocol",     Ipv4,   Int,  8,  72,  false;
    Ipv4Ttl        => "ipv4.ttl",          Ipv4,   Int,  8,  64,  true;
    Ipv4Dscp       => "ipv4.dscp",         Ipv4,   Int,  6,  8,   true;
    Ipv6Src        => "ipv6.src",          Ipv6,   Ipv6, 128, 64, true;
    Ipv6Dst        => "ipv6.dst",          Ipv6,   Ipv6, 128, 192, true;
    Ipv6NextHeader => "ipv6.next_header",  Ipv6,   Int,  8,  48,  false;
    Ipv6HopLimit   => "ipv6.hop_limit",    Ipv6,   Int,  8,  56,  true;
    L4SrcPort      => "l4.src_port",       L4,     Int,  16, 0,   true;
    L4DstPort      => "l4.dst_port",       L4,     Int,  16, 16,  true;
    TcpFlags       => "tcp.flags",         Tcp,    Int,  8,  104, false;
    IcmpType       => "icmp.type",         Icmp,   Int,  8,  0,   false;
    IcmpCode       => "icmp.code",         Icmp,   Int,  8,  8,   false;
    Icmpv6Type     => "icmpv6.type",       Icmpv6, Int,  8,  0,   false;
    Icmpv6Code     => "icmpv6.code",       Icmpv6, Int,  8,  8,   false;
    MetaGroup      => "meta.group",        Meta,   Int,  16, 0,   true;
    VxlanVni       => "vxlan.vni",         Vxlan,  Int,  24, 32,  false;
    InnerEthDst    => "inner_eth.dst",     InnerEth,  Mac,  48, 0,   false;
    InnerEthSrc    => "inner_eth.src",     InnerEth,  Mac,  48, 48,  false;
    InnerEthType   => "inner_eth.type",    InnerEth,  Int,  16, 96,  false;
    InnerIpv4Src   => "inner_ipv4.src",    InnerIpv4, Ipv4, 32, 96,  false;
    InnerIpv4Dst   => "inner_ipv4.dst",    InnerIpv4, Ipv4, 32, 128, false;
    InnerIpv4Protocol => "inner_ipv4.protocol", InnerIpv4, Int, 8, 72, false;
    InnerIpv4Ttl   => "inner_ipv4.ttl",    InnerIpv4, Int,  8,  64,  false;
    InnerIpv6Src   => "inner_ipv6.src",    InnerIpv6, Ipv6, 128, 64, false;
    InnerIpv6Dst   => "inner_ipv6.dst",    InnerIpv6, Ipv6, 128, 192, false;
    InnerIpv6NextHeader => "inner_ipv6.next_header", InnerIpv6, Int, 8, 48, false;
    InnerIpv6HopLimit => "inner_ipv6.hop_limit", InnerIpv6, Int, 8, 56, false;
    InnerL4SrcPort => "inner_l4.src_port", InnerL4,   Int,  16, 0,   false;
    InnerL4DstPort => "inner_l4.dst_port", InnerL4,   Int,  16, 16,  false;
  }
  hidden {
    Hash           => "hash",              Meta,   Int,  16, 0,   false;
  }
}

impl Field {
    pub fn name(self) -> &'static str {
        self.info().name
    }
    pub fn header(self) -> Header {
        self.info().header
    }
    pub fn width(self) -> u32 {
        self.info().width
    }
    pub fn kind(self) -> FieldKind {
        self.info().kind
    }
    /// All ones in the field's width.
    pub fn max_value(self) -> u128 {
        super::value::mask_of_width(self.width())
    }
    /// Whether `set(self, from)` keeps the meaning of both fields: MAC ↔ MAC,
    /// IPv4 ↔ IPv4, IPv6 ↔ IPv6 addresses, and integers into integers at
    /// least as wide (zero-extended; a narrower destination would silently
    /// drop bits). `Err` says why not, for the diagnostic.
    pub fn copy_fits(self, from: Field) -> Result<(), String> {
        use FieldKind::*;
        match (self.kind(), from.kind()) {
            (Mac, Mac) | (Ipv4, Ipv4) | (Ipv6, Ipv6) => Ok(()),
            (Int, Int) if from.width() <= self.width() => Ok(()),
            (Int, Int) => Err(format!(
                "`{}` has {} bits and `{}` only {}: the copy would drop bits",
                from.name(),
                from.width(),
                self.name(),
                self.width()
            )),
            (_, Port) => Err(format!(
                "`{}` is a logical port of this module, not a value on the wire",
                from.name()
            )),
            (to, fr) => Err(format!(
                "`{}` is {} and `{}` is {}",
                from.name(),
                fr.describe(),
                self.name(),
                to.describe()
            )),
        }
    }
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
    /// `vxlan.vni` and the `inner_*` fields (valid only inside a tunnel).
    pub fn is_tunnel(self) -> bool {
        self.header().is_tunnel()
    }
    /// Whether a hash key may name this field: a header field (not `meta.*`,
    /// which is not packet bytes) of whole bytes at a byte offset, read the
    /// same way on every target. `Err` says why not, for the diagnostic.
    pub fn hashable(self) -> Result<(), String> {
        let info = self.info();
        if info.header == Header::Meta {
            return Err(format!(
                "`{}` is pipeline metadata, not packet bytes; hash header fields",
                info.name
            ));
        }
        if self == Field::EthType {
            return Err(
                "`eth.type` is the EtherType after the VLAN tags, which the P4 targets keep \
                 in metadata rather than a header; hash the L3/L4 fields that follow it"
                    .into(),
            );
        }
        if !info.width.is_multiple_of(8) || !info.bit_offset.is_multiple_of(8) {
            return Err(format!(
                "`{}` is {} bits, not whole bytes: only fields of 8, 16, 32, 48 or 128 bits can be hashed",
                info.name, info.width
            ));
        }
        Ok(())
    }
    /// Match kinds this field accepts (see the module language reference).
    pub fn allows(self, kind: super::MatchKind) -> bool {
        use super::MatchKind::*;
        match kind {
            Exact | Ternary => true,
            // Longest-prefix match only makes sense on addresses.
            Lpm => matches!(self.kind(), FieldKind::Ipv4 | FieldKind::Ipv6),
            // Ranges on integers up to 16 bits (ports, ttl, vid, ...).
            Range => matches!(self.kind(), FieldKind::Int | FieldKind::Port) && self.width() <= 16,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
