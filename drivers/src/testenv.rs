//! Helpers for tests that need the real kernel (root, CAP_BPF, netns).
//!
//! Kernel tests call [`require_root`] first: without privileges they print why
//! they skip and return early, unless `OFFLOAD_REQUIRE_KERNEL_TESTS=1`, where a
//! skip is a failure (CI sets it so that a silently skipped suite cannot pass).

/// The environment variable that turns a skip into a failure.
pub const REQUIRE_ENV: &str = "OFFLOAD_REQUIRE_KERNEL_TESTS";

/// The environment variable that turns a skip for lack of the P4 toolchain
/// (p4c, BMv2) into a failure. CI machines may lack the toolchain, so
/// [`REQUIRE_ENV`] alone does not require it.
pub const REQUIRE_P4_ENV: &str = "OFFLOAD_REQUIRE_P4";

/// Where every skip is also recorded, one line each, so that a runner (`.ci/run`)
/// can print the list after `cargo test`: `$OFFLOAD_SKIP_LOG`, else
/// `offload-skipped-tests.txt` in the temporary directory.
pub fn skip_log() -> std::path::PathBuf {
    std::env::var_os("OFFLOAD_SKIP_LOG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("offload-skipped-tests.txt"))
}

/// Says, where nobody can miss it, that `test` did not run and why.
///
/// libtest captures `eprintln!` of passing tests, so a skip printed that way is
/// invisible in a plain `cargo test`; this writes to file descriptor 2 itself,
/// which the capture does not intercept, and appends the line to [`skip_log`].
pub fn announce_skip(test: &str, reason: &str) {
    use std::io::Write;
    let line = format!("SKIPPED (not run, not passed) {test}: {reason}\n");
    // SAFETY: fd 2 is open for the whole life of a test process; write(2)
    // with a valid buffer has no other precondition.
    unsafe {
        libc::write(2, line.as_ptr().cast(), line.len());
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skip_log())
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The tool lookup of a test that needs the P4 toolchain: `Some(tools)` when
/// found; otherwise the skip is announced and `None` returned, or — under
/// `OFFLOAD_REQUIRE_P4=1` — the test fails.
pub fn require_p4<T, E: std::fmt::Display>(test: &str, found: Result<T, E>) -> Option<T> {
    match found {
        Ok(t) => Some(t),
        Err(e) => {
            if std::env::var(REQUIRE_P4_ENV).as_deref() == Ok("1") {
                panic!("{test}: {e}, and {REQUIRE_P4_ENV}=1 forbids skipping");
            }
            announce_skip(
                test,
                &format!("{e} (install the P4 toolchain, see README \"P4 toolchain\"; {REQUIRE_P4_ENV}=1 makes this a failure)"),
            );
            None
        }
    }
}

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
            announce_skip(
                test,
                &format!("{reason} (set {REQUIRE_ENV}=1 to make this a failure)"),
            );
            false
        }
    }
}
