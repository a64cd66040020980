//! IP protocol numbers (IPv4 `protocol`, IPv6 `next_header`).

use super::enum_with_unknown;

enum_with_unknown! {
    /// An IP protocol / IPv6 next-header number.
    pub enum IpProtocol(u8) {
        HopByHop = 0,
        Icmp = 1,
        Tcp = 6,
        Udp = 17,
        Ipv6Route = 43,
        Ipv6Frag = 44,
        Icmpv6 = 58,
        Ipv6NoNxt = 59,
        Ipv6Opts = 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_both_ways() {
        for raw in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(raw)), raw);
        }
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(200), IpProtocol::Unknown(200));
    }
}
