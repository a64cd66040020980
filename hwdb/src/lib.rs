//! offload-hwdb
