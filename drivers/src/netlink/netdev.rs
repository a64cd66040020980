//! The netdev generic-netlink family (`Documentation/netlink/specs/netdev.yaml`,
//! kernel ≥ 6.3): per device, `xdp-features`, `xdp-rx-metadata-features`,
//! `xsk-features`. These are facts of the moment: a veth's `ndo-xmit` bit
//! follows its peer's XDP state.

use super::{attr_str, attr_u32, attr_u64, attrs, put_attr, NetlinkError, Socket, NLM_F_DUMP};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NETDEV_A_DEV_XDP_ZC_MAX_SEGS: u16 = 4;
const NETDEV_A_DEV_XDP_RX_METADATA_FEATURES: u16 = 5;
const NETDEV_A_DEV_XSK_FEATURES: u16 = 6;

/// `enum netdev_xdp_act` bit names, as the YAML spec spells them.
pub const XDP_ACT: [&str; 8] = [
    "basic",
    "redirect",
    "ndo-xmit",
    "xsk-zerocopy",
    "hw-offload",
    "rx-sg",
    "ndo-xmit-sg",
    "xsk-zerocopy-sg",
];
/// `enum netdev_xdp_rx_metadata`.
pub const XDP_RX_METADATA: [&str; 3] = ["timestamp", "hash", "vlan-tag"];
/// `enum netdev_xsk_flags`.
pub const XSK_FLAGS: [&str; 3] = ["tx-timestamp", "tx-checksum", "tx-launch-time-fifo"];

/// One device's answer to `dev-get`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetdevDev {
    pub ifindex: u32,
    pub xdp_features: Vec<String>,
    #[serde(default)]
    pub xdp_rx_metadata_features: Vec<String>,
    #[serde(default)]
    pub xsk_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdp_zc_max_segs: Option<u32>,
}

/// Bit names of a mask; unknown bits as `bit-N` so nothing is lost.
pub fn bit_names(mask: u64, names: &[&str]) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            names
                .get(b as usize)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("bit-{b}"))
        })
        .collect()
}

fn genl_header(cmd: u8, version: u8) -> Vec<u8> {
    vec![cmd, version, 0, 0]
}

/// The family id of `netdev`, or `None` when the kernel has no such family (< 6.3).
pub fn family_id(sock: &mut Socket) -> Result<Option<u16>, NetlinkError> {
    let mut p = genl_header(CTRL_CMD_GETFAMILY, 1);
    put_attr(&mut p, CTRL_ATTR_FAMILY_NAME, b"netdev\0");
    let answers = match sock.request("CTRL_CMD_GETFAMILY netdev", GENL_ID_CTRL, 0, &p) {
        Ok(a) => a,
        Err(NetlinkError::Kernel { errno, .. }) if errno == libc::ENOENT => return Ok(None),
        Err(e) => return Err(e),
    };
    for (_, body) in answers {
        for (ty, payload) in attrs(body.get(4..).unwrap_or(&[])) {
            if ty == CTRL_ATTR_FAMILY_ID {
                if let Some(b) = payload.get(0..2) {
                    return Ok(Some(u16::from_ne_bytes([b[0], b[1]])));
                }
            }
        }
    }
    Err(NetlinkError::Malformed {
        request: "CTRL_CMD_GETFAMILY netdev",
        detail: "no CTRL_ATTR_FAMILY_ID in the answer".into(),
    })
}

/// Every device's XDP features, or `None` when the netdev family is missing.
pub fn dump() -> Result<Option<Vec<NetdevDev>>, NetlinkError> {
    let mut sock = Socket::open(super::NETLINK_GENERIC, "generic")?;
    let Some(id) = family_id(&mut sock)? else {
        return Ok(None);
    };
    let p = genl_header(NETDEV_CMD_DEV_GET, 1);
    let answers = sock.request("netdev dev-get dump", id, NLM_F_DUMP, &p)?;
    let mut out = Vec::new();
    for (_, body) in answers {
        let mut d = NetdevDev {
            ifindex: 0,
            xdp_features: Vec::new(),
            xdp_rx_metadata_features: Vec::new(),
            xsk_features: Vec::new(),
            xdp_zc_max_segs: None,
        };
        for (ty, payload) in attrs(body.get(4..).unwrap_or(&[])) {
            match ty {
                NETDEV_A_DEV_IFINDEX => d.ifindex = attr_u32(payload).unwrap_or(0),
                NETDEV_A_DEV_XDP_FEATURES => {
                    d.xdp_features = bit_names(attr_u64(payload).unwrap_or(0), &XDP_ACT)
                }
                NETDEV_A_DEV_XDP_RX_METADATA_FEATURES => {
                    d.xdp_rx_metadata_features =
                        bit_names(attr_u64(payload).unwrap_or(0), &XDP_RX_METADATA)
                }
                NETDEV_A_DEV_XSK_FEATURES => {
                    d.xsk_features = bit_names(attr_u64(payload).unwrap_or(0), &XSK_FLAGS)
                }
                NETDEV_A_DEV_XDP_ZC_MAX_SEGS => d.xdp_zc_max_segs = attr_u32(payload),
                _ => {}
            }
        }
        if d.ifindex == 0 {
            return Err(NetlinkError::Malformed {
                request: "netdev dev-get dump",
                detail: "a device without ifindex".into(),
            });
        }
        out.push(d);
    }
    let _ = attr_str; // names are not part of dev-get answers
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_named_and_unknown_bits_kept() {
        assert_eq!(
            bit_names(1 | 2 | 16, &XDP_ACT),
            ["basic", "redirect", "hw-offload"]
        );
        assert_eq!(bit_names(1 << 40, &XDP_ACT), ["bit-40"]);
    }
}
