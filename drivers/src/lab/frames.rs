//! Test frames: Ethernet + IPv4 + UDP/TCP/ICMP with correct checksums and a
//! payload marker, so a capture can tell which probe a frame belongs to.

use std::net::Ipv4Addr;

/// IP protocol numbers.
pub const ICMP: u8 = 1;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut i = 0;
    while i + 1 < data.len() {
        sum += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
        i += 2;
    }
    if i < data.len() {
        sum += u32::from(data[i]) << 8;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What to put in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Frame {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub proto: u8,
    /// UDP/TCP ports (ICMP: ignored; echo request id/seq come from them).
    pub sport: u16,
    pub dport: u16,
    pub payload: Vec<u8>,
}

impl Ipv4Frame {
    pub fn emit(&self) -> Vec<u8> {
        let l4 = match self.proto {
            UDP => {
                let len = 8 + self.payload.len();
                let mut h = Vec::with_capacity(len);
                h.extend_from_slice(&self.sport.to_be_bytes());
                h.extend_from_slice(&self.dport.to_be_bytes());
                h.extend_from_slice(&(len as u16).to_be_bytes());
                h.extend_from_slice(&[0, 0]);
                h.extend_from_slice(&self.payload);
                let c = self.l4_checksum(&h);
                // UDP: a computed 0 is sent as 0xffff.
                let c = if c == 0 { 0xffff } else { c };
                h[6..8].copy_from_slice(&c.to_be_bytes());
                h
            }
            TCP => {
                let mut h = Vec::with_capacity(20 + self.payload.len());
                h.extend_from_slice(&self.sport.to_be_bytes());
                h.extend_from_slice(&self.dport.to_be_bytes());
                h.extend_from_slice(&1u32.to_be_bytes()); // seq
                h.extend_from_slice(&0u32.to_be_bytes()); // ack
                h.extend_from_slice(&[0x50, 0x02]); // 5 words, SYN
                h.extend_from_slice(&64240u16.to_be_bytes());
                h.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
                h.extend_from_slice(&self.payload);
                let c = self.l4_checksum(&h);
                h[16..18].copy_from_slice(&c.to_be_bytes());
                h
            }
            _ => {
                // ICMP echo request.
                let mut h = vec![8, 0, 0, 0];
                h.extend_from_slice(&self.sport.to_be_bytes());
                h.extend_from_slice(&self.dport.to_be_bytes());
                h.extend_from_slice(&self.payload);
                let c = csum_fold(csum_add(0, &h));
                h[2..4].copy_from_slice(&c.to_be_bytes());
                h
            }
        };
        let total = 20 + l4.len();
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00]); // id, DF
        ip.push(self.ttl);
        ip.push(self.proto);
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&self.src.octets());
        ip.extend_from_slice(&self.dst.octets());
        let c = csum_fold(csum_add(0, &ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = Vec::with_capacity(14 + total);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&l4);
        f
    }

    fn l4_checksum(&self, seg: &[u8]) -> u16 {
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&self.src.octets());
        pseudo.extend_from_slice(&self.dst.octets());
        pseudo.push(0);
        pseudo.push(self.proto);
        pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        csum_fold(csum_add(csum_add(0, &pseudo), seg))
    }
}

/// Whether `frame` carries `marker` anywhere.
pub fn has_marker(frame: &[u8], marker: &[u8]) -> bool {
    !marker.is_empty() && frame.windows(marker.len()).any(|w| w == marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_ipv4(f: &[u8]) {
        assert_eq!(csum_fold(csum_add(0, &f[14..34])), 0, "ip checksum");
    }

    #[test]
    fn checksums_verify() {
        for proto in [UDP, TCP, ICMP] {
            let fr = Ipv4Frame {
                dst_mac: [2, 0, 0, 0, 0, 1],
                src_mac: [2, 0, 0, 0, 0, 2],
                src: Ipv4Addr::new(10, 0, 1, 2),
                dst: Ipv4Addr::new(192, 168, 1, 2),
                ttl: 64,
                proto,
                sport: 40000,
                dport: 53,
                payload: b"offload-probe-1".to_vec(),
            };
            let f = fr.emit();
            check_ipv4(&f);
            let seg = &f[34..];
            if proto == ICMP {
                assert_eq!(csum_fold(csum_add(0, seg)), 0);
            } else {
                let mut pseudo = Vec::new();
                pseudo.extend_from_slice(&fr.src.octets());
                pseudo.extend_from_slice(&fr.dst.octets());
                pseudo.extend_from_slice(&[0, proto]);
                pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
                assert_eq!(
                    csum_fold(csum_add(csum_add(0, &pseudo), seg)),
                    0,
                    "proto {proto}"
                );
            }
            assert!(has_marker(&f, b"probe-1"));
        }
    }
}
