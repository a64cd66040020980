//! Kernel facts: release, BTF, bpffs, JIT, and what bpf(2) accepts.

use super::view::{BpfSupport, SystemView, TrialLoad};
use super::{Fact, ProbeError};
use offload_core::plan::{Helper, MapType};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KernelFacts {
    pub release: Fact<String>,
    /// (major, minor) parsed from the release.
    pub version: Option<(u32, u32)>,
    pub btf: Fact<bool>,
    /// Mount points of bpffs.
    pub bpffs: Fact<Vec<String>>,
    /// `net.core.bpf_jit_enable`: 0 off, 1 on, 2 on with debug; `None` unknown.
    pub jit: Fact<Option<u8>>,
    pub bpf: Fact<BpfSupport>,
    /// The netdev genetlink family answered (kernel ≥ 6.3).
    pub netdev_family: Fact<bool>,
}

impl KernelFacts {
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version.is_some_and(|v| v >= (major, minor))
    }
    pub fn map_supported(&self, m: MapType) -> Option<bool> {
        self.bpf.value.map_types.get(m.name()).copied()
    }
    pub fn program_supported(&self, name: &str) -> Option<bool> {
        self.bpf.value.program_types.get(name).copied()
    }
}

/// "6.18.0-1-amd64" → (6, 18).
pub fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

pub fn probe_kernel(view: &dyn SystemView, netdev_family: bool) -> Result<KernelFacts, ProbeError> {
    let release = view
        .read("/proc/sys/kernel/osrelease")?
        .map(|s| s.trim().to_string())
        .ok_or_else(|| ProbeError::Missing {
            what: "kernel release".into(),
            path: "/proc/sys/kernel/osrelease".into(),
            view: view.describe(),
        })?;
    let btf = view
        .list("/sys/kernel/btf")?
        .is_some_and(|e| e.iter().any(|n| n == "vmlinux"));
    let mounts = view.read("/proc/mounts")?.unwrap_or_default();
    let bpffs: Vec<String> = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[2] == "bpf").then(|| f[1].to_string())
        })
        .collect();
    let jit = view
        .read("/proc/sys/net/core/bpf_jit_enable")?
        .and_then(|s| s.trim().parse().ok());
    let bpf = view.bpf_support()?;
    Ok(KernelFacts {
        version: parse_version(&release),
        release: Fact::new(release, "/proc/sys/kernel/osrelease"),
        btf: Fact::new(btf, "/sys/kernel/btf/vmlinux"),
        bpffs: Fact::new(bpffs, "/proc/mounts"),
        jit: Fact::new(jit, "/proc/sys/net/core/bpf_jit_enable"),
        bpf: Fact::new(bpf, "bpf(2) feature probes (aya 0.14 is_program_supported / is_map_supported / is_helper_supported)"),
        netdev_family: Fact::new(netdev_family, "genetlink CTRL_CMD_GETFAMILY netdev"),
    })
}

fn aya_map(m: MapType) -> aya::maps::MapType {
    use aya::maps::MapType as A;
    match m {
        MapType::Hash => A::Hash,
        MapType::Array => A::Array,
        MapType::PercpuHash => A::PerCpuHash,
        MapType::PercpuArray => A::PerCpuArray,
        MapType::LpmTrie => A::LpmTrie,
        MapType::Devmap => A::DevMap,
    }
}

fn aya_helper(h: Helper) -> aya::sys::BpfHelper {
    use aya::sys::BpfHelper as B;
    match h {
        Helper::MapLookupElem => B::BPF_FUNC_map_lookup_elem,
        Helper::MapUpdateElem => B::BPF_FUNC_map_update_elem,
        Helper::MapDeleteElem => B::BPF_FUNC_map_delete_elem,
        Helper::GetPrandomU32 => B::BPF_FUNC_get_prandom_u32,
        Helper::SkbVlanPush => B::BPF_FUNC_skb_vlan_push,
        Helper::SkbVlanPop => B::BPF_FUNC_skb_vlan_pop,
        Helper::Redirect => B::BPF_FUNC_redirect,
        Helper::PerfEventOutput => B::BPF_FUNC_perf_event_output,
        Helper::CsumDiff => B::BPF_FUNC_csum_diff,
        Helper::XdpAdjustHead => B::BPF_FUNC_xdp_adjust_head,
        Helper::RedirectMap => B::BPF_FUNC_redirect_map,
        Helper::XdpAdjustTail => B::BPF_FUNC_xdp_adjust_tail,
    }
}

/// Runs aya's feature probes (each loads and frees a tiny program or map;
/// nothing is attached).
pub fn live_bpf_support() -> BpfSupport {
    use aya::programs::ProgramType;
    let mut s = BpfSupport::default();
    let mut errors: Vec<String> = Vec::new();
    for (name, t) in [
        ("xdp", ProgramType::Xdp),
        ("sched_cls", ProgramType::SchedClassifier),
    ] {
        match aya::sys::is_program_supported(t) {
            Ok(b) => {
                s.program_types.insert(name.into(), b);
            }
            Err(e) => errors.push(format!("program type {name}: {e}")),
        }
    }
    for m in MapType::ALL {
        match aya::sys::is_map_supported(aya_map(m)) {
            Ok(b) => {
                s.map_types.insert(m.name().into(), b);
            }
            Err(e) => errors.push(format!("map type {}: {e}", m.name())),
        }
    }
    for h in Helper::ALL {
        // skb helpers are tc-only; ask about them in the program type they live in.
        let t = match h {
            Helper::SkbVlanPush | Helper::SkbVlanPop => ProgramType::SchedClassifier,
            _ => ProgramType::Xdp,
        };
        match aya::sys::is_helper_supported(t, aya_helper(h)) {
            Ok(b) => {
                s.helpers.insert(h.name().into(), b);
            }
            Err(e) => errors.push(format!("helper {}: {e}", h.name())),
        }
    }
    if !errors.is_empty() {
        errors.dedup();
        s.error = Some(format!(
            "some feature probes failed (is this run without CAP_BPF?): {}",
            errors.into_iter().take(3).collect::<Vec<_>>().join("; ")
        ));
    }
    s
}

/// Loads `r0 = XDP_PASS; exit` bound to `ifindex` (BPF_PROG_LOAD with
/// `prog_ifindex`), then closes it. Never attached: the device's datapath is
/// untouched; the load only runs the device's verifier/translator.
pub fn trial_load(ifindex: u32) -> TrialLoad {
    use crate::sys::{prog_load, prog_type, Kernel, ProgSpec};
    // mov64 r0, 2 ; exit  (opcode in the low byte, imm in the high 32 bits)
    let insns: [u64; 2] = [0x0000_0002_0000_00b7, 0x0000_0000_0000_0095];
    let spec = ProgSpec {
        name: "offload_probe",
        prog_type: prog_type::XDP,
        insns: &insns,
        license: "GPL",
        ifindex,
        expected_attach_type: 0,
    };
    match prog_load(&Kernel, &spec) {
        Ok(fd) => {
            drop(fd);
            TrialLoad {
                loaded: true,
                detail: format!("a trivial XDP program loaded bound to ifindex {ifindex} (not attached, closed)"),
            }
        }
        Err(e) => TrialLoad {
            loaded: false,
            detail: e.to_string(),
        },
    }
}

/// Program-type names the probe asks about.
pub fn known_program_types() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("xdp", "XDP (native, generic, offload)"),
        ("sched_cls", "tc classifier"),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse() {
        assert_eq!(super::parse_version("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(super::parse_version("5.15.0-91-generic"), Some((5, 15)));
        assert_eq!(super::parse_version("garbage"), None);
    }
}
