//! Frames from the command line and from captures, shared by `offloadctl
//! run` and `offloadctl validate`: hex text ([`parse_hex`]), pcap and pcapng
//! files ([`read_capture`], Ethernet link type only), and the logical port a
//! frame arrives on ([`resolve_port`]: a port name or a number).

use anyhow::{bail, Context as _};
use offload_core::ir::{Module, PortId};
use offload_core::spec::suggest;
use std::io::{Read as _, Seek as _};
use std::path::Path;

/// One frame read from the command line or a capture, with where it came from.
#[derive(Debug, Clone)]
pub struct Input {
    /// `hex #1`, `pcap #12`.
    pub origin: String,
    pub bytes: Vec<u8>,
    /// Length on the wire when the capture truncated it (snaplen).
    pub orig_len: Option<usize>,
    /// pcapng only: the name of the interface the frame was captured on
    /// (the `if_name` option of its Interface Description Block), which
    /// `validate` reads as the logical port it arrives on.
    pub iface: Option<String>,
}

/// `--in-port`: a declared port name, or a number (declared or not: the
/// ingress port is just metadata to the interpreter).
pub fn resolve_port(m: &Module, s: &str) -> anyhow::Result<PortId> {
    let s = s.trim();
    if let Some(p) = m.port_by_name(s) {
        return Ok(p.id);
    }
    if let Ok(n) = s.parse::<u16>() {
        if m.port_by_id(PortId(n)).is_none() && !m.ports.is_empty() {
            tracing::warn!("in-port {n} is not declared in [ports] of {}", m.name);
        }
        return Ok(PortId(n));
    }
    let names: Vec<&str> = m.ports.iter().map(|p| p.name.as_str()).collect();
    let hint = match suggest::did_you_mean(s, names.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None if names.is_empty() => "the module declares no ports; give a number".into(),
        None => format!("the module's ports are: {}", names.join(", ")),
    };
    bail!(
        "--in-port `{s}` is neither a port of module {} nor a number 0..=65535; {hint}",
        m.name
    )
}

/// Hex digits, ignoring whitespace, `:`, `-`, `_` and `0x` prefixes.
pub fn parse_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut digits = Vec::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '_')) {
        let word = word
            .strip_prefix("0x")
            .or_else(|| word.strip_prefix("0X"))
            .unwrap_or(word);
        for (i, c) in word.char_indices() {
            match c.to_digit(16) {
                Some(d) => digits.push(d as u8),
                None => bail!(
                    "`{c}` is not a hex digit (in `{word}` at character {})",
                    i + 1
                ),
            }
        }
    }
    if digits.is_empty() {
        bail!("no bytes given; write the frame as hex, e.g. --hex 'ffffffffffff 020000000001 0800 ...'");
    }
    if digits.len() % 2 != 0 {
        bail!(
            "odd number of hex digits ({}): every byte needs two",
            digits.len()
        );
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

/// Reads every Ethernet frame of a pcap or pcapng file.
pub fn read_capture(path: &Path) -> anyhow::Result<Vec<Input>> {
    let name = path.display();
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open capture {name}"))?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic)
        .with_context(|| format!("{name} is too short to be a pcap or pcapng file"))?;
    f.rewind()?;
    let f = std::io::BufReader::new(f);
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        read_pcapng(f, &name.to_string())
    } else if matches!(
        u32::from_le_bytes(magic),
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1
    ) {
        read_pcap(f, &name.to_string())
    } else {
        bail!("{name} is neither pcap nor pcapng (magic bytes {magic:02x?}); capture with e.g. `tcpdump -w FILE`")
    }
}

fn read_pcap(f: impl std::io::Read, name: &str) -> anyhow::Result<Vec<Input>> {
    use pcap_file::pcap::PcapReader;
    let mut r = PcapReader::new(f).with_context(|| format!("{name}: bad pcap header"))?;
    let link = r.header().datalink;
    if link != pcap_file::DataLink::ETHERNET {
        bail!("{name}: link type {link:?}; only Ethernet captures can be run (capture on an Ethernet interface, not `any`)");
    }
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.with_context(|| format!("{name}: packet {} is corrupt", out.len() + 1))?;
        out.push(Input {
            origin: format!("pcap #{}", out.len() + 1),
            orig_len: truncated(p.orig_len as usize, p.data.len()),
            bytes: p.data.into_owned(),
            iface: None,
        });
    }
    Ok(out)
}

fn read_pcapng(f: impl std::io::Read, name: &str) -> anyhow::Result<Vec<Input>> {
    use pcap_file::pcapng::{Block, PcapNgReader};
    let mut r =
        PcapNgReader::new(f).with_context(|| format!("{name}: bad pcapng section header"))?;
    let mut out = Vec::new();
    let mut block_no = 0usize;
    while let Some(b) = r.next_block() {
        block_no += 1;
        let b = b.with_context(|| format!("{name}: block {block_no} is corrupt"))?;
        let (data, orig_len, iface) = match b {
            Block::EnhancedPacket(p) => (
                p.data.into_owned(),
                p.original_len as usize,
                Some(p.interface_id),
            ),
            Block::SimplePacket(p) => {
                let l = p.original_len as usize;
                (p.data.into_owned(), l, Some(0))
            }
            _ => continue,
        };
        let idb = iface.and_then(|i| r.interfaces().get(i as usize));
        let link = idb.map(|i| i.linktype);
        let if_name = idb.and_then(|i| {
            i.options.iter().find_map(|o| match o {
                pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption::IfName(n) => {
                    Some(n.to_string())
                }
                _ => None,
            })
        });
        if link != Some(pcap_file::DataLink::ETHERNET) {
            bail!(
                "{name}: packet {} has link type {link:?}; only Ethernet frames can be run",
                out.len() + 1
            );
        }
        out.push(Input {
            origin: format!("pcap #{}", out.len() + 1),
            orig_len: truncated(orig_len, data.len()),
            bytes: data,
            iface: if_name,
        });
    }
    Ok(out)
}

fn truncated(orig: usize, captured: usize) -> Option<usize> {
    (orig > captured).then_some(orig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(parse_hex("0a0B").unwrap(), vec![0x0a, 0x0b]);
        assert_eq!(
            parse_hex("0x0a 0b:0c-0d_0e\n0f").unwrap(),
            vec![10, 11, 12, 13, 14, 15]
        );
        assert!(parse_hex("abc")
            .unwrap_err()
            .to_string()
            .contains("odd number"));
        assert!(parse_hex("zz")
            .unwrap_err()
            .to_string()
            .contains("`z` is not a hex digit"));
        assert!(parse_hex("  ")
            .unwrap_err()
            .to_string()
            .contains("no bytes"));
    }
}
