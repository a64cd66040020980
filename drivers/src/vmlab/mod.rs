//! The offload lab VM: proves the XDP hardware-offload control path against the kernel's own
//! offload device, netdevsim, in a QEMU guest whose kernel is built from Debian's
//! `linux-source` package (this host's kernel has no netdevsim).
//!
//! One run: [`kernel::ensure_kernel`] (cached build), [`initramfs::build`] (busybox, iproute2,
//! bpftool, the offloadctl under test, `lab/vm/init.sh`, the scenario scripts and modules),
//! [`qemu::boot`] (TCG, serial console), [`report::Report::parse`] (check × outcome).
//!
//! netdevsim never runs an offloaded program on packets: the lab proves the control path
//! (verify, load with `prog_ifindex`, maps with `map_ifindex`, HW attach, entries, replace,
//! detach, refusals), not packet behaviour. The same guest is also a real 6.1 kernel, without
//! the netdev `xdp-features` attribute, for the "older kernel" checks.

pub mod cpio;
pub mod initramfs;
pub mod kernel;
pub mod qemu;
pub mod report;

pub use report::{CheckResult, Outcome, Report};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The repo's `lab/vm` directory (fragment, init script, scenarios, modules).
    pub lab_dir: PathBuf,
    /// Cache for the kernel build and helpers (outside the repo).
    pub cache: PathBuf,
    /// The offloadctl binary to test inside the guest.
    pub offloadctl: PathBuf,
    /// Kill the guest after this long.
    pub timeout: Duration,
    pub memory_mb: u32,
    /// `make -j` for a kernel build.
    pub jobs: u32,
    /// Kernel source tarball; `None`: the newest `/usr/src/linux-source-*.tar.xz`.
    pub tarball: Option<PathBuf>,
    /// Test executables (libtest) to run inside the guest: the "older kernel" measurements.
    pub guest_tests: Vec<GuestTest>,
    /// Each guest test executable is killed after this long (a hang costs one check, not the
    /// run).
    pub guest_test_timeout: Duration,
    /// Host directories copied into the guest at the same absolute path (test binaries find
    /// their data through paths compiled in, e.g. `CARGO_MANIFEST_DIR/../examples`).
    pub mirror: Vec<PathBuf>,
}

/// A test executable run inside the guest by `lab/vm/scenarios/90-guest-tests.sh`
/// (`NAME --test-threads=1 ARGS…`, with OFFLOAD_REQUIRE_KERNEL_TESTS=1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestTest {
    /// Name in the guest and in the results (`kt.NAME`).
    pub name: String,
    pub path: PathBuf,
    /// Extra libtest arguments (a filter, `--skip X`…).
    pub args: Vec<String>,
}

impl GuestTest {
    /// Parses `PATH` or `PATH::ARGS` (ARGS split on whitespace); the name is the file name
    /// without Cargo's `-<hash>` suffix.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (path, args) = match spec.split_once("::") {
            Some((p, a)) => (p, a.split_whitespace().map(String::from).collect()),
            None => (spec, Vec::new()),
        };
        let path = PathBuf::from(path);
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("guest test `{spec}`: no file name"))?;
        let name = match file.rsplit_once('-') {
            Some((stem, hash))
                if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                stem
            }
            _ => file,
        };
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(format!(
                "guest test `{spec}`: name `{name}` must be letters, digits, `_` or `-`"
            ));
        }
        Ok(GuestTest {
            name: name.to_string(),
            path,
            args,
        })
    }
}

impl LabOptions {
    /// Defaults: the repo's `lab/vm`, [`default_cache`], 240 s, 1 GiB, `-j2`.
    pub fn new(offloadctl: PathBuf) -> Self {
        LabOptions {
            lab_dir: default_lab_dir(),
            cache: default_cache(),
            offloadctl,
            timeout: Duration::from_secs(240),
            memory_mb: 1024,
            jobs: 2,
            tarball: None,
            guest_tests: Vec::new(),
            guest_test_timeout: Duration::from_secs(300),
            mirror: Vec::new(),
        }
    }
}

/// `$OFFLOAD_LAB_CACHE`, else `$HOME/.cache/offload-lab`, else `/tmp/offload-lab`.
pub fn default_cache() -> PathBuf {
    if let Some(p) = std::env::var_os("OFFLOAD_LAB_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache/offload-lab"),
        None => PathBuf::from("/tmp/offload-lab"),
    }
}

/// `lab/vm` of the source tree this crate was built from.
pub fn default_lab_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/vm");
    p.canonicalize().unwrap_or(p)
}

/// What this machine lacks to run the lab, one line each with the package that provides it
/// (empty when everything is there). Tests skip — or fail under OFFLOAD_REQUIRE_KERNEL_TESTS=1
/// — with these lines.
pub fn missing_pieces(opts: &LabOptions) -> Vec<String> {
    let mut missing = Vec::new();
    if qemu::find_qemu().is_none() {
        missing.push("qemu-system-x86_64 (apt-get install qemu-system-x86)".to_string());
    }
    if opts.tarball.as_ref().map_or_else(
        || kernel::find_tarball(Path::new("/usr/src")).is_none(),
        |t| !t.is_file(),
    ) {
        missing.push("a kernel source tarball /usr/src/linux-source-*.tar.xz (apt-get install linux-source-6.1)".into());
    }
    let tools = [
        ("busybox", "busybox-static"),
        ("make", "build-essential"),
        ("cc", "build-essential"),
        ("flex", "flex"),
        ("bison", "bison"),
        ("bc", "bc"),
        ("bpftool", "bpftool"),
        ("ip", "iproute2"),
        ("ldd", "libc-bin"),
    ];
    for (tool, pkg) in tools {
        if !on_path(tool) {
            missing.push(format!("{tool} (apt-get install {pkg})"));
        }
    }
    if !opts.lab_dir.join("kernel.config").is_file() {
        missing.push(format!(
            "the lab files: {} has no kernel.config (pass --lab-dir)",
            opts.lab_dir.display()
        ));
    }
    missing
}

fn on_path(tool: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(tool).is_file())
}

#[derive(Debug, thiserror::Error)]
pub enum VmLabError {
    #[error("the lab cannot run here, missing: {}", missing.join("; "))]
    Missing { missing: Vec<String> },
    #[error("guest kernel: {0}")]
    Kernel(#[from] kernel::KernelError),
    #[error("initramfs: {0}")]
    Initramfs(#[from] initramfs::InitramfsError),
    #[error("qemu: {0}")]
    Qemu(#[from] qemu::QemuError),
    #[error("{path}: {detail}")]
    Known { path: PathBuf, detail: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The outcome of one lab run, with its figures.
#[derive(Debug, Clone)]
pub struct LabRun {
    pub report: Report,
    pub kernel: kernel::KernelImage,
    pub initramfs_bytes: usize,
    /// QEMU's wall time, start to power-off.
    pub vm_wall: Duration,
    pub timed_out: bool,
    /// The guest's uptime when `/init` started, and when the scenarios ended (seconds).
    pub uptime_at_init: Option<f64>,
    pub uptime_at_end: Option<f64>,
    pub serial_log: PathBuf,
}

/// Builds what is missing, boots the guest once, runs every scenario, reads the results.
/// `progress` gets one line per step; `console` (when given) every guest console line.
pub fn run(
    opts: &LabOptions,
    progress: &mut dyn FnMut(&str),
    console: Option<&mut dyn FnMut(&str)>,
) -> Result<LabRun, VmLabError> {
    let mut missing = missing_pieces(opts);
    for t in &opts.guest_tests {
        if !t.path.is_file() {
            missing.push(format!(
                "guest test {} ({} does not exist)",
                t.name,
                t.path.display()
            ));
        }
    }
    for d in &opts.mirror {
        if !d.is_absolute() || !d.is_dir() {
            missing.push(format!(
                "mirrored directory {} (must be an existing absolute path)",
                d.display()
            ));
        }
    }
    if !missing.is_empty() {
        return Err(VmLabError::Missing { missing });
    }
    let qemu_bin = qemu::find_qemu().expect("checked by missing_pieces");
    std::fs::create_dir_all(&opts.cache).map_err(|source| VmLabError::Io {
        what: "creating the cache",
        path: opts.cache.clone(),
        source,
    })?;
    let kernel = kernel::ensure_kernel(
        &kernel::KernelSpec {
            fragment: opts.lab_dir.join("kernel.config"),
            tarball: opts.tarball.clone(),
            cache: opts.cache.clone(),
            jobs: opts.jobs,
        },
        progress,
    )?;
    if let Some(t) = kernel.built_in {
        progress(&format!(
            "guest kernel built in {:.0} s: {}",
            t.as_secs_f64(),
            kernel.bzimage.display()
        ));
    }

    let bytes = initramfs::build(&initramfs::GuestInputs {
        lab_dir: opts.lab_dir.clone(),
        offloadctl: opts.offloadctl.clone(),
        cache: opts.cache.clone(),
        guest_tests: opts.guest_tests.clone(),
        mirror: opts.mirror.clone(),
        env: vec![(
            "LAB_GUEST_TEST_TIMEOUT".to_string(),
            opts.guest_test_timeout.as_secs().max(1).to_string(),
        )],
    })?;
    let runs = opts.cache.join("runs");
    std::fs::create_dir_all(&runs).map_err(|source| VmLabError::Io {
        what: "creating",
        path: runs.clone(),
        source,
    })?;
    prune_runs(&runs, 20);
    let id = std::process::id();
    let initrd = runs.join(format!("initrd-{id}.cpio"));
    std::fs::write(&initrd, &bytes).map_err(|source| VmLabError::Io {
        what: "writing",
        path: initrd.clone(),
        source,
    })?;
    let serial_log = runs.join(format!("serial-{id}.log"));
    progress(&format!(
        "booting the guest (initramfs {:.1} MB; console: {})",
        bytes.len() as f64 / 1e6,
        serial_log.display()
    ));
    let boot = qemu::boot(
        &qemu::BootSpec {
            qemu: qemu_bin,
            kernel: kernel.bzimage.clone(),
            initrd: initrd.clone(),
            memory_mb: opts.memory_mb,
            timeout: opts.timeout,
            serial_log: serial_log.clone(),
        },
        console,
    );
    let _ = std::fs::remove_file(&initrd);
    let boot = boot?;
    let mut report = Report::parse(&boot.serial, boot.timed_out);
    let known_path = opts.lab_dir.join("known-failures.txt");
    if let Ok(text) = std::fs::read_to_string(&known_path) {
        let known = report::parse_known(&text).map_err(|detail| VmLabError::Known {
            path: known_path.clone(),
            detail,
        })?;
        report.apply_known(&known);
    }
    let uptime = |k| report.info(k).and_then(|v: &str| v.parse::<f64>().ok());
    Ok(LabRun {
        uptime_at_init: uptime("uptime_at_init"),
        uptime_at_end: uptime("uptime_at_end"),
        report,
        kernel,
        initramfs_bytes: bytes.len(),
        vm_wall: boot.elapsed,
        timed_out: boot.timed_out,
        serial_log,
    })
}

/// Keeps the `keep` newest console logs in `runs` (every run leaves one for reading afterwards).
fn prune_runs(runs: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("serial-"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    logs.sort();
    let excess = logs.len().saturating_sub(keep);
    for (_, p) in logs.into_iter().take(excess) {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_test_specs_are_parsed() {
        let t = GuestTest::parse(
            "/t/target/debug/deps/codegen_verifier-0123456789abcdef::examples --skip slow",
        )
        .unwrap();
        assert_eq!(t.name, "codegen_verifier");
        assert_eq!(
            t.path,
            PathBuf::from("/t/target/debug/deps/codegen_verifier-0123456789abcdef")
        );
        assert_eq!(t.args, vec!["examples", "--skip", "slow"]);
        let t = GuestTest::parse("./my-tests").unwrap();
        assert_eq!((t.name.as_str(), t.args.len()), ("my-tests", 0));
        assert!(GuestTest::parse("/").is_err());
        assert!(GuestTest::parse("a/..").is_err());
        assert!(GuestTest::parse("/x/a b").is_err());
    }
}
