//! offload-ebpf
