//! offload-ebpf
pub mod asm;
pub mod btf;
pub mod elf;
pub mod layout;
pub mod codegen;
