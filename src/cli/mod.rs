//! Command-line interface: the parsed flags ([`args`]) and process-wide set-up.

pub mod args;

use tracing_subscriber::EnvFilter;

/// Logs go to stderr. `RUST_LOG` (e.g. `offload_core=trace`) wins; otherwise
/// `-v` shows debug and `-vv` trace for offload's crates, warnings for the rest.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,offload=debug,offload_core=debug,offload_ebpf=debug,offload_p4=debug,offload_hwdb=debug,offload_drivers=debug,offloadctl=debug",
        _ => "debug,offload=trace,offload_core=trace,offload_ebpf=trace,offload_p4=trace,offload_hwdb=trace,offload_drivers=trace,offloadctl=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second initialisation (tests) is harmless; ignore its error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose > 1)
        .try_init();
}
