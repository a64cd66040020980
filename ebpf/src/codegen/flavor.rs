//! Per-hook differences (bpfilter style): context layout, return codes,
//! redirects and head adjustment. Everything else is shared.
//!
//! | | XDP | tc (cls_bpf, direct action) |
//! |---|---|---|
//! | drop / pass | `XDP_DROP` / `XDP_PASS` | `TC_ACT_SHOT` / `TC_ACT_OK` |
//! | tx | `XDP_TX` | `bpf_redirect(skb->ifindex, 0)` |
//! | forward(p) | `bpf_redirect_map(&ports, p, XDP_DROP)` on a DEVMAP | `ports[p]` (ARRAY of ifindex) → `bpf_redirect(ifindex, 0)`; missing → `TC_ACT_SHOT` |
//! | push_vlan | `bpf_xdp_adjust_head(-4)`, MACs moved down, tag written | `bpf_skb_change_head(4)`, same byte moves |
//! | pop_vlan | MACs moved up, `bpf_xdp_adjust_head(+4)` | `bpf_skb_vlan_pop` (see below) |
//!
//! tc and VLAN tags: a live interface's receive path moves the outer tag into
//! skb metadata (`skb->vlan_tci`) before tc runs; this program reads tags from
//! the packet bytes only, as `BPF_PROG_TEST_RUN` and XDP present them. All
//! rewrites keep tags in the bytes (`bpf_skb_vlan_push` would put the new tag
//! in metadata), so output bytes equal the reference's. For `pop_vlan` the
//! kernel's `skb_vlan_pop` removes the outer tag from the bytes but, if the
//! next EtherType is a TPID, would move that inner tag to metadata too; the
//! program hides the inner TPID (writes 0x0800) for the call and restores it
//! after, so the inner tag stays in the bytes.

use crate::asm::{Helper, Reg};
use crate::elf::ProgramSection;
use crate::layout::Hook;

pub trait Flavor {
    fn hook(&self) -> Hook;
    fn section(&self) -> ProgramSection;
    /// Offsets of `data` / `data_end` in the context (u32 loads).
    fn data_off(&self) -> i16;
    fn data_end_off(&self) -> i16;
    /// Offset of the ingress ifindex in the context.
    fn ingress_ifindex_off(&self) -> i16;
    fn ret_drop(&self) -> i32;
    fn ret_pass(&self) -> i32;
    /// Whether the frame length must be computed from the packet pointers
    /// (XDP) or can be read from the context at this offset (tc: `skb->len`).
    fn len_off(&self) -> Option<i16>;
    /// Helper that grows the packet by 4 bytes at the front (args: ctx, then flavor-specific).
    fn grow_head(&self) -> (Helper, i32, i32);
}

pub struct Xdp;
pub struct Tc;

/// `enum xdp_action`.
pub const XDP_ABORTED: i32 = 0;
pub const XDP_DROP: i32 = 1;
pub const XDP_PASS: i32 = 2;
pub const XDP_TX: i32 = 3;
pub const XDP_REDIRECT: i32 = 4;
/// `TC_ACT_*`.
pub const TC_ACT_OK: i32 = 0;
pub const TC_ACT_SHOT: i32 = 2;
pub const TC_ACT_REDIRECT: i32 = 7;

/// `__sk_buff` offsets.
pub const SKB_LEN: i16 = 0;
pub const SKB_INGRESS_IFINDEX: i16 = 36;
pub const SKB_IFINDEX: i16 = 40;
pub const SKB_DATA: i16 = 76;
pub const SKB_DATA_END: i16 = 80;

impl Flavor for Xdp {
    fn hook(&self) -> Hook {
        Hook::Xdp
    }
    fn section(&self) -> ProgramSection {
        ProgramSection::Xdp
    }
    fn data_off(&self) -> i16 {
        0
    }
    fn data_end_off(&self) -> i16 {
        4
    }
    fn ingress_ifindex_off(&self) -> i16 {
        12
    }
    fn ret_drop(&self) -> i32 {
        XDP_DROP
    }
    fn ret_pass(&self) -> i32 {
        XDP_PASS
    }
    fn len_off(&self) -> Option<i16> {
        None
    }
    fn grow_head(&self) -> (Helper, i32, i32) {
        // bpf_xdp_adjust_head(ctx, -4)
        (Helper::XdpAdjustHead, -4, 0)
    }
}

impl Flavor for Tc {
    fn hook(&self) -> Hook {
        Hook::Tc
    }
    fn section(&self) -> ProgramSection {
        ProgramSection::Classifier
    }
    fn data_off(&self) -> i16 {
        SKB_DATA
    }
    fn data_end_off(&self) -> i16 {
        SKB_DATA_END
    }
    fn ingress_ifindex_off(&self) -> i16 {
        SKB_INGRESS_IFINDEX
    }
    fn ret_drop(&self) -> i32 {
        TC_ACT_SHOT
    }
    fn ret_pass(&self) -> i32 {
        TC_ACT_OK
    }
    fn len_off(&self) -> Option<i16> {
        Some(SKB_LEN)
    }
    fn grow_head(&self) -> (Helper, i32, i32) {
        // bpf_skb_change_head(skb, 4, 0)
        (Helper::SkbChangeHead, 4, 0)
    }
}

/// The flavor object for a hook.
pub fn for_hook(h: Hook) -> &'static dyn Flavor {
    match h {
        Hook::Xdp => &Xdp,
        Hook::Tc => &Tc,
    }
}

/// Register holding the context.
pub const CTX: Reg = Reg::R6;
