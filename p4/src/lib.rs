//! offload-p4
