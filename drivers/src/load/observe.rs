//! What the kernel says is attached to an interface: the XDP program with its
//! attach mode, and the tcx ingress programs, each with id, name and tag.
//!
//! XDP comes from rtnetlink's IFLA_XDP (read with iproute2's `ip -j -d link`,
//! which reports the mode the kernel uses), tcx from BPF_PROG_QUERY via aya.

use super::Mode;
use crate::sys::{self, Bpf};
use std::os::fd::AsFd;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgRef {
    pub id: u32,
    pub name: String,
    pub tag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Observed {
    pub iface: String,
    pub ifindex: u32,
    /// XDP programs by mode (an interface may carry one per mode).
    pub xdp: Vec<(Mode, ProgRef)>,
    /// tcx ingress programs, in run order.
    pub tc: Vec<ProgRef>,
}

impl Observed {
    pub fn in_mode(&self, mode: Mode) -> Vec<&ProgRef> {
        if mode == Mode::Tc {
            self.tc.iter().collect()
        } else {
            self.xdp
                .iter()
                .filter(|(m, _)| *m == mode)
                .map(|(_, p)| p)
                .collect()
        }
    }
    pub fn all(&self) -> impl Iterator<Item = (Mode, &ProgRef)> {
        self.xdp
            .iter()
            .map(|(m, p)| (*m, p))
            .chain(self.tc.iter().map(|p| (Mode::Tc, p)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("interface {iface} does not exist")]
    NoInterface { iface: String },
    #[error("reading XDP state of {iface}: {detail}")]
    Xdp { iface: String, detail: String },
}

/// The programs attached to `iface` right now.
pub fn observe(iface: &str) -> Result<Observed, ObserveError> {
    let ifindex = crate::host::ifindex(iface);
    if ifindex == 0 {
        return Err(ObserveError::NoInterface {
            iface: iface.into(),
        });
    }
    let xdp = xdp_progs(iface)?;
    let k = sys::Kernel;
    let mut tc = Vec::new();
    if let Ok((_, progs)) =
        aya::programs::SchedClassifier::query_tcx(iface, aya::programs::TcAttachType::Ingress)
    {
        for p in progs {
            tc.push(prog_ref(&k, p.id()));
        }
    }
    // cls_bpf filters on clsact (kernels before 6.6, or other tools).
    for f in cls_bpf_filters(iface) {
        if !tc.iter().any(|p| p.id == f.prog.id) {
            tc.push(f.prog);
        }
    }
    Ok(Observed {
        iface: iface.into(),
        ifindex,
        xdp,
        tc,
    })
}

/// Name and tag of a program id, from the kernel.
pub fn prog_ref(sys: &dyn Bpf, id: u32) -> ProgRef {
    match sys::prog_fd_by_id(sys, id).and_then(|fd| sys::prog_info(sys, fd.as_fd())) {
        Ok(i) => ProgRef {
            id,
            name: i.name,
            tag: i.tag,
        },
        // Gone between the query and now: report what we know.
        Err(_) => ProgRef {
            id,
            name: String::new(),
            tag: String::new(),
        },
    }
}

fn xdp_progs(iface: &str) -> Result<Vec<(Mode, ProgRef)>, ObserveError> {
    let err = |detail: String| ObserveError::Xdp {
        iface: iface.into(),
        detail,
    };
    let out = crate::host::run(&["ip", "-j", "-d", "link", "show", "dev", iface])
        .map_err(|e| err(e.to_string()))?;
    parse_ip_link_xdp(&out).map_err(err)
}

/// Parses the `xdp` object of `ip -j -d link show` (iproute2 ≥ 5): either one
/// program (`mode` 1 = driver, 2 = generic, 3 = hardware, with `prog`), or
/// `mode` 4 (multi) with `attached: [{mode, prog}, …]`.
pub fn parse_ip_link_xdp(json: &str) -> Result<Vec<(Mode, ProgRef)>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("unexpected `ip -j` output: {e}"))?;
    let Some(link) = v.as_array().and_then(|a| a.first()) else {
        return Err("empty `ip -j` output".into());
    };
    let Some(xdp) = link.get("xdp") else {
        return Ok(Vec::new());
    };
    let mode_of = |m: u64| match m {
        1 => Some(Mode::Native),
        2 => Some(Mode::Generic),
        3 => Some(Mode::Offload),
        _ => None,
    };
    let prog_of = |p: &serde_json::Value| ProgRef {
        id: p.get("id").and_then(|x| x.as_u64()).unwrap_or(0) as u32,
        name: p
            .get("name")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string(),
        tag: p
            .get("tag")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string(),
    };
    let mut out = Vec::new();
    let top = xdp.get("mode").and_then(|m| m.as_u64()).unwrap_or(0);
    if let Some(att) = xdp.get("attached").and_then(|a| a.as_array()) {
        for a in att {
            if let (Some(m), Some(p)) = (
                a.get("mode").and_then(|m| m.as_u64()).and_then(mode_of),
                a.get("prog"),
            ) {
                out.push((m, prog_of(p)));
            }
        }
    } else if let (Some(m), Some(p)) = (mode_of(top), xdp.get("prog")) {
        out.push((m, prog_of(p)));
    }
    Ok(out)
}

/// A cls_bpf filter on the ingress hook of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClsBpf {
    pub pref: u32,
    pub handle: String,
    pub prog: ProgRef,
}

/// The bpf filters on `iface` ingress, from `tc -j filter show` (empty when
/// there is no clsact qdisc or no tc binary).
pub fn cls_bpf_filters(iface: &str) -> Vec<ClsBpf> {
    match crate::host::run(&["tc", "-j", "filter", "show", "dev", iface, "ingress"]) {
        Ok(out) => parse_tc_filters(&out),
        Err(_) => Vec::new(),
    }
}

/// Parses `tc -j filter show` output: entries with `options.prog`.
pub fn parse_tc_filters(json: &str) -> Vec<ClsBpf> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in v.as_array().into_iter().flatten() {
        if f.get("kind").and_then(|k| k.as_str()) != Some("bpf") {
            continue;
        }
        let (Some(opts), Some(pref)) = (f.get("options"), f.get("pref").and_then(|p| p.as_u64()))
        else {
            continue;
        };
        let Some(prog) = opts.get("prog") else {
            continue;
        };
        out.push(ClsBpf {
            pref: pref as u32,
            handle: opts
                .get("handle")
                .and_then(|h| h.as_str())
                .unwrap_or("")
                .to_string(),
            prog: ProgRef {
                id: prog.get("id").and_then(|x| x.as_u64()).unwrap_or(0) as u32,
                name: prog
                    .get("name")
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_string(),
                tag: prog
                    .get("tag")
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_string(),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_filter_json() {
        let j = r#"[{"protocol":"all","pref":49152,"kind":"bpf","chain":0},{"protocol":"all","pref":49152,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"er_tc.o:[classifier]","direct-action":true,"not_in_hw":true,"prog":{"id":6831,"name":"edge_router","tag":"24e38fbfeee419b6","jited":1}}}]"#;
        let f = parse_tc_filters(j);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (
                f[0].pref,
                f[0].handle.as_str(),
                f[0].prog.id,
                f[0].prog.name.as_str()
            ),
            (49152, "0x1", 6831, "edge_router")
        );
        assert!(parse_tc_filters("garbage").is_empty());
    }

    #[test]
    fn ip_link_xdp_json() {
        let one =
            r#"[{"ifname":"v0","xdp":{"mode":2,"prog":{"id":7,"name":"edge_router","tag":"ab"}}}]"#;
        assert_eq!(
            parse_ip_link_xdp(one).unwrap(),
            vec![(
                Mode::Generic,
                ProgRef {
                    id: 7,
                    name: "edge_router".into(),
                    tag: "ab".into()
                }
            )]
        );
        let none = r#"[{"ifname":"v0"}]"#;
        assert!(parse_ip_link_xdp(none).unwrap().is_empty());
        assert!(parse_ip_link_xdp("[]").is_err());
    }
}
