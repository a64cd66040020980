//! Helpers for tests that need the real kernel (root, CAP_BPF, netns).
//!
//! Kernel tests call [`require_root`] first: without privileges they print why
//! they skip and return early, unless `OFFLOAD_REQUIRE_KERNEL_TESTS=1`, where a
//! skip is a failure (CI sets it so that a silently skipped suite cannot pass).

/// The environment variable that turns a skip into a failure.
pub const REQUIRE_ENV: &str = "OFFLOAD_REQUIRE_KERNEL_TESTS";

/// Why kernel tests cannot run here, or `None` when they can.
pub fn missing_privilege() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some(format!(
            "kernel test needs root (CAP_BPF + CAP_NET_ADMIN), running as uid {euid}"
        ));
    }
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        return Some("kernel test needs network namespaces (/proc/self/ns/net missing)".into());
    }
    None
}

/// `true` when a kernel test may run. Otherwise prints the reason and returns
/// `false`, or panics when [`REQUIRE_ENV`] is `1`.
///
/// ```ignore
/// if !offload_drivers::testenv::require_root("veth lab") { return; }
/// ```
pub fn require_root(test: &str) -> bool {
    match missing_privilege() {
        None => true,
        Some(reason) => {
            if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
                panic!("{test}: {reason}, and {REQUIRE_ENV}=1 forbids skipping");
            }
            eprintln!("skipped {test}: {reason} (set {REQUIRE_ENV}=1 to make this a failure)");
            false
        }
    }
}
