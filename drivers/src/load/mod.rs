//! Loading compiled objects into the kernel and attaching them to interfaces.
//!
//! - [`program`]: an object (bytes from `offload-ebpf`) loaded with aya 0.14 →
//!   a [`program::Loaded`] program with its maps, not yet attached; the
//!   hardware-offload variant goes through [`offload`] (raw `bpf(2)`).
//! - [`attach`]: XDP (driver/SKB mode) and tc (tcx, or clsact + cls_bpf before
//!   6.6) through BPF links, pinned; atomic replacement of a link's program.
//! - [`observe`]: what the kernel says runs on an interface (never what we
//!   believe we did).
//! - [`bpffs`]: the BPF filesystem and the pin layout.
//! - [`linked`]: a chain linked by tail calls (dispatcher, one program per
//!   module, the shared PROG_ARRAY) and its slots.

pub mod attach;
pub mod bpffs;
pub mod linked;
pub mod observe;
pub mod offload;
pub mod program;

use std::fmt;

/// Where a program runs, from most to least offloaded.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// In the NIC (XDP hardware offload).
    Offload,
    /// XDP in the driver.
    Native,
    /// XDP in the stack (SKB mode), works on every interface.
    Generic,
    /// tc ingress (tcx link, or clsact + cls_bpf on kernels before 6.6).
    Tc,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Offload, Mode::Native, Mode::Generic, Mode::Tc];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Offload => "offload",
            Mode::Native => "native",
            Mode::Generic => "generic",
            Mode::Tc => "tc",
        }
    }

    pub fn from_name(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }

    pub fn is_xdp(self) -> bool {
        self != Mode::Tc
    }

    /// The planner's name for this target (`xdp-native`, …).
    pub fn target_name(self) -> &'static str {
        match self {
            Mode::Offload => "xdp-offload",
            Mode::Native => "xdp-native",
            Mode::Generic => "xdp-generic",
            Mode::Tc => "tc",
        }
    }

    pub fn from_target_name(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.target_name() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
