//! offload-ebpf
pub mod asm;
pub mod btf;
pub mod codegen;
pub mod elf;
pub mod layout;
