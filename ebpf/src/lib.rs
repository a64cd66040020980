//! offload-ebpf
pub mod asm;
