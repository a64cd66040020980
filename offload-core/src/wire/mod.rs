//! Packet wire formats, smoltcp style: zero-copy views over bytes (`Packet<T>`)
//! apart from typed representations (`Repr`).
//!
//! The contract every protocol module follows:
//! - `Packet::new_unchecked(buf)` wraps any buffer; accessors may panic if the
//!   buffer is too short.
//! - `Packet::new_checked(buf)` = `new_unchecked` + `check_len`: after it
//!   succeeds, no accessor panics (on untrusted input, always use this).
//! - getters need `T: AsRef<[u8]>`, setters `T: AsMut<[u8]>`.
//! - `Repr::parse(&packet)` turns a checked view into plain values (it does not
//!   verify checksums; `Packet::verify_checksum` does); `Repr::emit(&mut packet)`
//!   writes the header into a buffer of at least `Repr::buffer_len()` bytes.
//!
//! Protocol numbers are enums with an `Unknown(raw)` variant, lossless both ways.
//!
//! Note: the reference interpreter ([`crate::semantics`]) decides header validity
//! by its own documented rules (e.g. a TCP header is valid with a data offset
//! pointing past the end of the buffer); it uses these views for field access.

pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vlan;

#[cfg(test)]
mod proptests;

pub use ethernet::{
    Address as EthernetAddress, EtherType, Frame as EthernetFrame, Repr as EthernetRepr,
};
pub use icmp::{Packet as IcmpPacket, Repr as IcmpRepr};
pub use ip::IpProtocol;
pub use ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
pub use ipv6::{Packet as Ipv6Packet, Repr as Ipv6Repr};
pub use tcp::{Packet as TcpPacket, Repr as TcpRepr};
pub use udp::{Packet as UdpPacket, Repr as UdpRepr};
pub use vlan::{Repr as VlanRepr, Tag as VlanTag};

use std::fmt;

/// Which protocol layer a [`WireError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    Ipv4,
    Ipv6,
    Tcp,
    Udp,
    Icmp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmp => "icmp",
        })
    }
}

/// Why bytes could not be read as a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header does.
    #[error("{layer} header truncated: buffer has {len} bytes, the header needs {need}")]
    Truncated {
        layer: Layer,
        len: usize,
        need: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{layer} {field} is {value}, expected {expected}")]
    Malformed {
        layer: Layer,
        field: &'static str,
        value: u32,
        expected: &'static str,
    },
}

/// Checks that `len` ≥ `need`, naming the layer otherwise.
pub(crate) fn need(layer: Layer, len: usize, need: usize) -> Result<(), WireError> {
    if len < need {
        Err(WireError::Truncated { layer, len, need })
    } else {
        Ok(())
    }
}

/// Declares a protocol-number enum with an `Unknown(raw)` variant, convertible
/// both ways without loss (smoltcp's `enum_with_unknown!`).
macro_rules! enum_with_unknown {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vattr])* $variant ),+,
            Unknown($ty),
        }

        impl ::core::convert::From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( v if v == $value => $name::$variant ),+,
                    other => $name::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),+,
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
pub(crate) use enum_with_unknown;

/// Big-endian helpers over byte slices (the views' building blocks).
pub(crate) mod be {
    pub fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }
    pub fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}
