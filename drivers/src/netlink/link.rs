//! rtnetlink `RTM_GETLINK` dump: name, link kind and the current XDP attachment
//! (IFLA_XDP: attach mode and program ids per mode).

use super::{attr_str, attr_u32, attrs, NetlinkError, Socket, NLM_F_DUMP};

const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;

/// What is attached right now (`XDP_ATTACHED_*`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct XdpAttachment {
    /// none | driver | generic | offload | multi
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prog_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drv_prog_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skb_prog_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_prog_id: Option<u32>,
}

/// One link of the dump.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkMsg {
    pub ifindex: u32,
    pub name: String,
    /// IFLA_INFO_KIND (veth, bridge, ifb, netdevsim…); absent for hardware NICs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub xdp: XdpAttachment,
}

fn mode_name(m: u8) -> String {
    match m {
        0 => "none",
        1 => "driver",
        2 => "generic",
        3 => "offload",
        4 => "multi",
        _ => "unknown",
    }
    .to_string()
}

/// Every link in the current network namespace.
pub fn dump() -> Result<Vec<LinkMsg>, NetlinkError> {
    let mut sock = Socket::open(super::NETLINK_ROUTE, "route")?;
    // struct ifinfomsg: family, pad, type, index, flags, change (16 bytes).
    let ifinfo = [0u8; 16];
    let answers = sock.request("RTM_GETLINK dump", RTM_GETLINK, NLM_F_DUMP, &ifinfo)?;
    let mut out = Vec::new();
    for (_, body) in answers {
        if body.len() < 16 {
            return Err(NetlinkError::Malformed {
                request: "RTM_GETLINK dump",
                detail: format!("ifinfomsg of {} bytes", body.len()),
            });
        }
        let ifindex = i32::from_ne_bytes(body[4..8].try_into().unwrap()) as u32;
        let mut l = LinkMsg {
            ifindex,
            name: String::new(),
            kind: None,
            xdp: XdpAttachment {
                mode: "none".into(),
                ..XdpAttachment::default()
            },
        };
        for (ty, p) in attrs(&body[16..]) {
            match ty {
                IFLA_IFNAME => l.name = attr_str(p),
                IFLA_LINKINFO => {
                    for (t, q) in attrs(p) {
                        if t == IFLA_INFO_KIND {
                            l.kind = Some(attr_str(q));
                        }
                    }
                }
                IFLA_XDP => {
                    for (t, q) in attrs(p) {
                        match t {
                            IFLA_XDP_ATTACHED => {
                                l.xdp.mode = mode_name(q.first().copied().unwrap_or(0))
                            }
                            IFLA_XDP_PROG_ID => l.xdp.prog_id = attr_u32(q),
                            IFLA_XDP_DRV_PROG_ID => l.xdp.drv_prog_id = attr_u32(q),
                            IFLA_XDP_SKB_PROG_ID => l.xdp.skb_prog_id = attr_u32(q),
                            IFLA_XDP_HW_PROG_ID => l.xdp.hw_prog_id = attr_u32(q),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        out.push(l);
    }
    Ok(out)
}
