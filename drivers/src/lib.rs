//! offload-drivers
