//! Where the probe reads from: the live system, or a recorded host.
//!
//! A recorded host is a directory holding the sysfs/procfs files the probe
//! reads (symlinks kept, relative, as sysfs has them) and `answers.json` with
//! what the kernel said over netlink, ethtool and bpf(2). `offloadctl probe
//! --record DIR` writes one from the live system ([`Recorder`]), so a lab can
//! send us theirs.

use super::ProbeError;
use crate::netlink::{link::LinkMsg, netdev::NetdevDev};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// ethtool ETHTOOL_GDRVINFO.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DrvInfo {
    pub driver: String,
    pub version: String,
    pub fw_version: String,
    pub bus_info: String,
}

/// What bpf(2) feature probes answered (aya's `is_*_supported`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BpfSupport {
    /// Program type name (`xdp`, `sched_cls`) → supported.
    pub program_types: BTreeMap<String, bool>,
    /// Map type name (`hash`, `lpm_trie`, …) → supported.
    pub map_types: BTreeMap<String, bool>,
    /// Helper name (`bpf_redirect_map`) → supported in XDP programs.
    pub helpers: BTreeMap<String, bool>,
    /// Why the probes could not run (no CAP_BPF…), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of loading a trivial XDP program bound to a device
/// (`prog_ifindex`), never attached, closed at once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrialLoad {
    pub loaded: bool,
    pub detail: String,
}

/// The recorded kernel answers of a fixture (`answers.json`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// Where these answers come from (recorded on…, or built from documents…).
    pub source: String,
    /// Interface → GDRVINFO answer (`null`: the driver has no ethtool ops).
    pub ethtool: BTreeMap<String, Option<DrvInfo>>,
    /// `null`: the kernel has no netdev genetlink family (< 6.3).
    pub netdev: Option<Vec<NetdevDev>>,
    pub links: Vec<LinkMsg>,
    pub bpf: BpfSupport,
    /// Binary name → path, for the switch targets we look for.
    #[serde(default)]
    pub binaries: BTreeMap<String, String>,
    /// Interface → trial load outcome (only for devices claiming HW offload).
    #[serde(default)]
    pub offload_trials: BTreeMap<String, TrialLoad>,
}

/// The probe's only way to look at a host.
pub trait SystemView {
    /// "the live system" or "fixture DIR".
    fn describe(&self) -> String;
    /// A file's text; `None` when it does not exist.
    fn read(&self, path: &str) -> Result<Option<String>, ProbeError>;
    /// A directory's entries, sorted; `None` when it does not exist.
    fn list(&self, path: &str) -> Result<Option<Vec<String>>, ProbeError>;
    /// The path with every symlink resolved, as an absolute host path.
    fn resolve(&self, path: &str) -> Result<Option<String>, ProbeError>;
    /// A symlink's target text; `None` when not a symlink / missing.
    fn read_link(&self, path: &str) -> Result<Option<String>, ProbeError>;
    fn drvinfo(&self, iface: &str) -> Result<Option<DrvInfo>, ProbeError>;
    fn netdev(&self) -> Result<Option<Vec<NetdevDev>>, ProbeError>;
    fn links(&self) -> Result<Vec<LinkMsg>, ProbeError>;
    fn bpf_support(&self) -> Result<BpfSupport, ProbeError>;
    /// Path of an executable found on `PATH`.
    fn find_binary(&self, name: &str) -> Result<Option<String>, ProbeError>;
    /// Load (never attach) a trivial program bound to the device.
    fn offload_trial(&self, iface: &str, ifindex: u32) -> Result<TrialLoad, ProbeError>;
}

fn io_err(path: &str, source: io::Error) -> ProbeError {
    ProbeError::Io {
        path: path.to_string(),
        source,
    }
}

/// The running system.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveSystem;

impl SystemView for LiveSystem {
    fn describe(&self) -> String {
        "the live system".into()
    }
    fn read(&self, path: &str) -> Result<Option<String>, ProbeError> {
        match fs::read(path) {
            Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            // Some sysfs attributes refuse reads on some drivers (EINVAL/EOPNOTSUPP).
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENODEV)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(io_err(path, e)),
        }
    }
    fn list(&self, path: &str) -> Result<Option<Vec<String>>, ProbeError> {
        list_dir(Path::new(path), path)
    }
    fn resolve(&self, path: &str) -> Result<Option<String>, ProbeError> {
        match fs::canonicalize(path) {
            Ok(p) => Ok(Some(p.to_string_lossy().into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(path, e)),
        }
    }
    fn read_link(&self, path: &str) -> Result<Option<String>, ProbeError> {
        read_link(Path::new(path), path)
    }
    fn drvinfo(&self, iface: &str) -> Result<Option<DrvInfo>, ProbeError> {
        super::ethtool::drvinfo(iface)
    }
    fn netdev(&self) -> Result<Option<Vec<NetdevDev>>, ProbeError> {
        Ok(crate::netlink::netdev::dump()?)
    }
    fn links(&self) -> Result<Vec<LinkMsg>, ProbeError> {
        Ok(crate::netlink::link::dump()?)
    }
    fn bpf_support(&self) -> Result<BpfSupport, ProbeError> {
        Ok(super::kernel::live_bpf_support())
    }
    fn find_binary(&self, name: &str) -> Result<Option<String>, ProbeError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if let Ok(m) = fs::metadata(&p) {
                use std::os::unix::fs::PermissionsExt;
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return Ok(Some(p.to_string_lossy().into_owned()));
                }
            }
        }
        Ok(None)
    }
    fn offload_trial(&self, _iface: &str, ifindex: u32) -> Result<TrialLoad, ProbeError> {
        Ok(super::kernel::trial_load(ifindex))
    }
}

fn list_dir(p: &Path, shown: &str) -> Result<Option<Vec<String>>, ProbeError> {
    match fs::read_dir(p) {
        Ok(rd) => {
            let mut v = Vec::new();
            for e in rd {
                let e = e.map_err(|e| io_err(shown, e))?;
                v.push(e.file_name().to_string_lossy().into_owned());
            }
            v.sort();
            Ok(Some(v))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(shown, e)),
    }
}

fn read_link(p: &Path, shown: &str) -> Result<Option<String>, ProbeError> {
    match fs::read_link(p) {
        Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None), // not a symlink
        Err(e) => Err(io_err(shown, e)),
    }
}

/// A recorded host.
#[derive(Debug, Clone)]
pub struct FixtureSystem {
    dir: PathBuf,
    answers: Answers,
}

impl FixtureSystem {
    pub const ANSWERS: &'static str = "answers.json";

    /// Opens a fixture directory; a missing or malformed `answers.json` is an error
    /// that says which file and what to do.
    pub fn open(dir: &Path) -> Result<FixtureSystem, ProbeError> {
        let dir = fs::canonicalize(dir).map_err(|source| ProbeError::Fixture {
            dir: dir.display().to_string(),
            detail: format!("cannot open the directory: {source}"),
        })?;
        if !dir.is_dir() {
            return Err(ProbeError::Fixture {
                dir: dir.display().to_string(),
                detail: "not a directory (give the directory written by `offloadctl probe --record DIR`)".into(),
            });
        }
        let path = dir.join(Self::ANSWERS);
        let text = fs::read_to_string(&path).map_err(|e| ProbeError::Fixture {
            dir: dir.display().to_string(),
            detail: format!(
                "cannot read {} ({e}); a recorded host needs it (record one with `offloadctl probe --record DIR`)",
                Self::ANSWERS
            ),
        })?;
        let answers: Answers = serde_json::from_str(&text).map_err(|e| ProbeError::Fixture {
            dir: dir.display().to_string(),
            detail: format!(
                "{} line {} column {}: {e}",
                Self::ANSWERS,
                e.line(),
                e.column()
            ),
        })?;
        if !dir.join("sys/class/net").is_dir() {
            return Err(ProbeError::Fixture {
                dir: dir.display().to_string(),
                detail: "no sys/class/net directory: not a recorded host".into(),
            });
        }
        Ok(FixtureSystem { dir, answers })
    }

    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    fn host_path(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }

    /// `path` inside the fixture with symlinks resolved; `None` when missing.
    /// A symlink leading out of the fixture is an error: replaying a recording
    /// must never read the machine it runs on.
    fn contained(&self, path: &str) -> Result<Option<PathBuf>, ProbeError> {
        let p = self.host_path(path);
        match fs::canonicalize(&p) {
            Ok(real) if real.starts_with(&self.dir) => Ok(Some(real)),
            Ok(real) => Err(ProbeError::Fixture {
                dir: self.dir.display().to_string(),
                detail: format!(
                    "{} points outside the fixture ({})",
                    p.display(),
                    real.display()
                ),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&p.display().to_string(), e)),
        }
    }
}

impl SystemView for FixtureSystem {
    fn describe(&self) -> String {
        format!("fixture {}", self.dir.display())
    }
    fn read(&self, path: &str) -> Result<Option<String>, ProbeError> {
        let Some(p) = self.contained(path)? else {
            return Ok(None);
        };
        match fs::read(&p) {
            Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(e) => Err(io_err(&p.display().to_string(), e)),
        }
    }
    fn list(&self, path: &str) -> Result<Option<Vec<String>>, ProbeError> {
        let Some(p) = self.contained(path)? else {
            return Ok(None);
        };
        list_dir(&p, &p.display().to_string())
    }
    fn resolve(&self, path: &str) -> Result<Option<String>, ProbeError> {
        Ok(self.contained(path)?.map(|real| {
            format!(
                "/{}",
                real.strip_prefix(&self.dir).unwrap_or(&real).display()
            )
        }))
    }
    fn read_link(&self, path: &str) -> Result<Option<String>, ProbeError> {
        // The link itself may dangle (a driver directory not recorded); its
        // directory must be inside the fixture.
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(d) = self.contained(if dir.is_empty() { "/" } else { dir })? else {
            return Ok(None);
        };
        let p = d.join(name);
        read_link(&p, &p.display().to_string())
    }
    fn drvinfo(&self, iface: &str) -> Result<Option<DrvInfo>, ProbeError> {
        match self.answers.ethtool.get(iface) {
            Some(a) => Ok(a.clone()),
            None => Err(ProbeError::Fixture {
                dir: self.dir.display().to_string(),
                detail: format!(
                    "{} has no ethtool answer for {iface} (add \"{iface}\": null if the driver has none)",
                    Self::ANSWERS
                ),
            }),
        }
    }
    fn netdev(&self) -> Result<Option<Vec<NetdevDev>>, ProbeError> {
        Ok(self.answers.netdev.clone())
    }
    fn links(&self) -> Result<Vec<LinkMsg>, ProbeError> {
        Ok(self.answers.links.clone())
    }
    fn bpf_support(&self) -> Result<BpfSupport, ProbeError> {
        Ok(self.answers.bpf.clone())
    }
    fn find_binary(&self, name: &str) -> Result<Option<String>, ProbeError> {
        Ok(self.answers.binaries.get(name).cloned())
    }
    fn offload_trial(&self, iface: &str, _ifindex: u32) -> Result<TrialLoad, ProbeError> {
        self.answers
            .offload_trials
            .get(iface)
            .cloned()
            .ok_or_else(|| ProbeError::Fixture {
                dir: self.dir.display().to_string(),
                detail: format!("{} has no offload_trials entry for {iface}", Self::ANSWERS),
            })
    }
}

/// Wraps a view and copies every file the probe reads into a directory the
/// moment it is read (so the recording is what the probe saw, even while
/// devices come and go), plus the kernel's answers; [`Recorder::write`]
/// finishes it so the same probe can be replayed with [`FixtureSystem`].
pub struct Recorder<V: SystemView> {
    inner: V,
    out: PathBuf,
    copied: std::cell::RefCell<std::collections::BTreeSet<String>>,
    listed: std::cell::RefCell<Vec<(String, Vec<String>)>>,
    error: std::cell::RefCell<Option<ProbeError>>,
    answers: std::cell::RefCell<Answers>,
}

impl<V: SystemView> Recorder<V> {
    /// Records into `out` (created if needed; existing files are overwritten).
    pub fn new(inner: V, out: &Path) -> Self {
        Recorder {
            inner,
            out: out.to_path_buf(),
            copied: Default::default(),
            listed: Default::default(),
            error: Default::default(),
            answers: Default::default(),
        }
    }

    fn note(&self, path: &str) {
        if !self.copied.borrow_mut().insert(path.to_string()) {
            return;
        }
        let r = if path == "/proc/mounts" {
            copy_mounts(&self.out)
        } else {
            copy_path(Path::new(path), &self.out)
        };
        if let Err(e) = r {
            self.error.borrow_mut().get_or_insert(io_err(path, e));
        }
    }

    /// Finishes the recording: placeholders for listed entries and `answers.json`.
    pub fn write(&self, source: &str) -> Result<(), ProbeError> {
        let out = &self.out;
        if let Some(e) = self.error.borrow_mut().take() {
            return Err(e);
        }
        // Listed entries nobody read (e.g. /sys/kernel/btf/vmlinux, megabytes)
        // become empty files: their presence is the fact.
        for (dir, entries) in self.listed.borrow().iter() {
            let d = out.join(dir.trim_start_matches('/'));
            for e in entries {
                let p = d.join(e);
                if fs::symlink_metadata(&p).is_err() {
                    fs::create_dir_all(&d).map_err(|e| io_err(dir, e))?;
                    fs::write(&p, b"").map_err(|e| io_err(dir, e))?;
                }
            }
        }
        fs::create_dir_all(out.join("sys/class/net")).map_err(|e| io_err("sys/class/net", e))?;
        let mut answers = self.answers.borrow().clone();
        answers.source = source.to_string();
        let text = serde_json::to_string_pretty(&answers).expect("answers serialize");
        let path = out.join(FixtureSystem::ANSWERS);
        fs::write(&path, text + "\n").map_err(|e| io_err(&path.display().to_string(), e))
    }
}

/// Only the mount types the probe looks at: the rest of a mount table says
/// things about the host nobody asked to share.
fn copy_mounts(out: &Path) -> io::Result<()> {
    let text = fs::read_to_string("/proc/mounts")?;
    let kept: String = text
        .lines()
        .filter(|l| matches!(l.split_whitespace().nth(2), Some("bpf" | "sysfs" | "proc")))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::create_dir_all(out.join("proc"))?;
    fs::write(out.join("proc/mounts"), kept)
}

/// Copies `path` from the live filesystem into `out`, recreating every symlink
/// met on the way (with its original, relative text) and the directories they
/// point to.
fn copy_path(path: &Path, out: &Path) -> io::Result<()> {
    let mut cur = PathBuf::from("/");
    let comps: Vec<_> = path.components().skip(1).collect();
    for (i, comp) in comps.iter().enumerate() {
        cur.push(comp);
        let meta = match fs::symlink_metadata(&cur) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let dst = out.join(cur.strip_prefix("/").unwrap());
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&cur)?;
            if fs::symlink_metadata(&dst).is_err() {
                fs::create_dir_all(dst.parent().unwrap())?;
                std::os::unix::fs::symlink(&target, &dst)?;
            }
            let real = match fs::canonicalize(&cur) {
                Ok(r) => r,
                Err(_) => return Ok(()), // dangling: the link text is the fact
            };
            let real_dst = out.join(real.strip_prefix("/").unwrap());
            if fs::metadata(&real).map(|m| m.is_dir()).unwrap_or(false) {
                fs::create_dir_all(&real_dst)?;
            }
            cur = real;
        } else if meta.is_dir() {
            fs::create_dir_all(&dst)?;
        }
        // The last component (or what its symlinks lead to) is the file itself.
        if i == comps.len() - 1 && fs::metadata(&cur).map(|m| m.is_file()).unwrap_or(false) {
            let dst = out.join(cur.strip_prefix("/").unwrap());
            fs::create_dir_all(dst.parent().unwrap())?;
            // An unreadable attribute is left out, as the probe saw `None`.
            if let Ok(b) = fs::read(&cur) {
                fs::write(&dst, b)?;
            }
        }
    }
    Ok(())
}

impl<V: SystemView> SystemView for Recorder<V> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn read(&self, path: &str) -> Result<Option<String>, ProbeError> {
        self.note(path);
        self.inner.read(path)
    }
    fn list(&self, path: &str) -> Result<Option<Vec<String>>, ProbeError> {
        self.note(path);
        let a = self.inner.list(path)?;
        if let Some(entries) = &a {
            if path != "/sys/class/net" {
                self.listed
                    .borrow_mut()
                    .push((path.to_string(), entries.clone()));
            }
        }
        Ok(a)
    }
    fn resolve(&self, path: &str) -> Result<Option<String>, ProbeError> {
        self.note(path);
        self.inner.resolve(path)
    }
    fn read_link(&self, path: &str) -> Result<Option<String>, ProbeError> {
        self.note(path);
        self.inner.read_link(path)
    }
    fn drvinfo(&self, iface: &str) -> Result<Option<DrvInfo>, ProbeError> {
        let a = self.inner.drvinfo(iface)?;
        self.answers
            .borrow_mut()
            .ethtool
            .insert(iface.to_string(), a.clone());
        Ok(a)
    }
    fn netdev(&self) -> Result<Option<Vec<NetdevDev>>, ProbeError> {
        let a = self.inner.netdev()?;
        self.answers.borrow_mut().netdev = a.clone();
        Ok(a)
    }
    fn links(&self) -> Result<Vec<LinkMsg>, ProbeError> {
        let a = self.inner.links()?;
        self.answers.borrow_mut().links = a.clone();
        Ok(a)
    }
    fn bpf_support(&self) -> Result<BpfSupport, ProbeError> {
        let a = self.inner.bpf_support()?;
        self.answers.borrow_mut().bpf = a.clone();
        Ok(a)
    }
    fn find_binary(&self, name: &str) -> Result<Option<String>, ProbeError> {
        let a = self.inner.find_binary(name)?;
        if let Some(p) = &a {
            self.answers
                .borrow_mut()
                .binaries
                .insert(name.to_string(), p.clone());
        }
        Ok(a)
    }
    fn offload_trial(&self, iface: &str, ifindex: u32) -> Result<TrialLoad, ProbeError> {
        let a = self.inner.offload_trial(iface, ifindex)?;
        self.answers
            .borrow_mut()
            .offload_trials
            .insert(iface.to_string(), a.clone());
        Ok(a)
    }
}
