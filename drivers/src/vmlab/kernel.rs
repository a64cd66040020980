//! The guest kernel: built once from Debian's `linux-source-*` tarball with the repo's config
//! fragment (`lab/vm/kernel.config`), cached outside the repo under
//! `<cache>/kernel-<key>/bzImage`, where the key hashes the fragment and the tarball's identity,
//! so an edited fragment or an upgraded source package builds a new kernel and an unchanged one
//! starts in seconds.
//!
//! Steps (the same as `lab/vm/build-kernel.sh`): unpack the tarball once under `<cache>/src/`,
//! `make tinyconfig` in a separate output directory, merge the fragment, `make olddefconfig`,
//! check that every `CONFIG_X=y` of the fragment survived (Kconfig silently drops an option whose
//! dependencies are missing — a lab that boots without netdevsim would prove nothing), then
//! `nice make bzImage`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What to build and where.
#[derive(Debug, Clone)]
pub struct KernelSpec {
    /// The config fragment (`lab/vm/kernel.config`).
    pub fragment: PathBuf,
    /// The kernel source tarball; `None` picks the newest `/usr/src/linux-source-*.tar.xz`.
    pub tarball: Option<PathBuf>,
    /// The cache directory (outside the repo).
    pub cache: PathBuf,
    /// `make -j` jobs.
    pub jobs: u32,
}

/// A bootable kernel image.
#[derive(Debug, Clone)]
pub struct KernelImage {
    pub bzimage: PathBuf,
    /// The cache key (`kernel-<key>`).
    pub key: String,
    /// The source tarball it was built from.
    pub tarball: PathBuf,
    /// `Some(time)` when this call built it, `None` when it came from the cache.
    pub built_in: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("no kernel source tarball in /usr/src (looked for linux-source-*.tar.xz); install it with `apt-get install linux-source-6.1`")]
    NoTarball,
    #[error("kernel config fragment {path}: {source}")]
    Fragment {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("kernel config fragment {path}:{line}: `{text}` is not `CONFIG_NAME=y|n|m|value` or a comment")]
    FragmentSyntax {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("{what} in {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{cmd}` could not start: {source} (install build-essential bc flex bison libelf-dev libssl-dev xz-utils)")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed ({status}); log: {log}\n{tail}")]
    Step {
        cmd: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("kernel config: {missing} requested by {fragment} did not end up in the built .config ({config}); a dependency is missing from the fragment — run `make menuconfig` in that build directory and search for the option to see what it depends on")]
    OptionDropped {
        missing: String,
        fragment: PathBuf,
        config: PathBuf,
    },
}

/// Returns the cached kernel for `spec`, building it first when it is not there.
/// `progress` receives one line per step (the build takes minutes on 2 cores).
pub fn ensure_kernel(
    spec: &KernelSpec,
    progress: &mut dyn FnMut(&str),
) -> Result<KernelImage, KernelError> {
    let tarball = match &spec.tarball {
        Some(t) => t.clone(),
        None => find_tarball(Path::new("/usr/src")).ok_or(KernelError::NoTarball)?,
    };
    let fragment = fs::read(&spec.fragment).map_err(|source| KernelError::Fragment {
        path: spec.fragment.clone(),
        source,
    })?;
    let wanted = parse_fragment(&spec.fragment, &String::from_utf8_lossy(&fragment))?;
    let key = cache_key(&fragment, &tarball)?;
    let out = spec.cache.join(format!("kernel-{key}"));
    let bzimage = out.join("bzImage");
    let image = |built_in| KernelImage {
        bzimage: bzimage.clone(),
        key: key.clone(),
        tarball: tarball.clone(),
        built_in,
    };
    if bzimage.is_file() {
        return Ok(image(None));
    }
    mkdir(&out)?;
    // Two runs at once (a test and a command) must not build into the same directory.
    let _lock = Lock::take(&spec.cache.join(format!("kernel-{key}.lock")))?;
    if bzimage.is_file() {
        return Ok(image(None));
    }
    let start = Instant::now();
    let src = unpack(&tarball, &spec.cache, progress)?;
    let build = out.join("build");
    mkdir(&build)?;
    let log = out.join("build.log");
    let o = format!("O={}", build.display());
    progress(&format!(
        "configuring the guest kernel (tinyconfig + {})",
        spec.fragment.display()
    ));
    run(
        Command::new("make")
            .arg("-C")
            .arg(&src)
            .arg(&o)
            .arg("tinyconfig"),
        &log,
    )?;
    run(
        Command::new(src.join("scripts/kconfig/merge_config.sh"))
            .arg("-m")
            .arg("-O")
            .arg(&build)
            .arg(build.join(".config"))
            .arg(&spec.fragment),
        &log,
    )?;
    run(
        Command::new("make")
            .arg("-C")
            .arg(&src)
            .arg(&o)
            .arg("olddefconfig"),
        &log,
    )?;
    let config_path = build.join(".config");
    let config = fs::read_to_string(&config_path).map_err(|source| KernelError::Io {
        what: "reading the merged config",
        path: config_path.clone(),
        source,
    })?;
    let missing = missing_options(&wanted, &config);
    if !missing.is_empty() {
        return Err(KernelError::OptionDropped {
            missing: missing.join(", "),
            fragment: spec.fragment.clone(),
            config: config_path,
        });
    }
    progress(&format!(
        "building the guest kernel with make -j{} (5-15 minutes on 2 cores; log: {})",
        spec.jobs,
        log.display()
    ));
    run(
        Command::new("nice")
            .args(["-n", "10", "make"])
            .arg("-C")
            .arg(&src)
            .arg(&o)
            .arg(format!("-j{}", spec.jobs.max(1)))
            .arg("bzImage"),
        &log,
    )?;
    let tmp = out.join("bzImage.tmp");
    let built = build.join("arch/x86/boot/bzImage");
    fs::copy(&built, &tmp).map_err(|source| KernelError::Io {
        what: "copying bzImage",
        path: built,
        source,
    })?;
    fs::rename(&tmp, &bzimage).map_err(|source| KernelError::Io {
        what: "renaming bzImage",
        path: tmp,
        source,
    })?;
    Ok(image(Some(start.elapsed())))
}

/// The newest `linux-source-*.tar.xz` in `dir` (by version order of the file names).
pub fn find_tarball(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with("linux-source-") && n.ends_with(".tar.xz")
        })
        .collect();
    found.sort_by_key(|p| version_key(p));
    found.pop()
}

fn version_key(p: &Path) -> Vec<u64> {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    n.trim_start_matches("linux-source-")
        .trim_end_matches(".tar.xz")
        .split('.')
        .map(|x| x.parse().unwrap_or(0))
        .collect()
}

/// The `CONFIG_X=y` lines the fragment asks for (checked after olddefconfig).
pub fn parse_fragment(path: &Path, text: &str) -> Result<Vec<String>, KernelError> {
    let mut wanted = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ok = t.starts_with("CONFIG_")
            && t.split_once('=')
                .is_some_and(|(k, v)| k.len() > 7 && !v.is_empty());
        if !ok {
            return Err(KernelError::FragmentSyntax {
                path: path.to_path_buf(),
                line: i + 1,
                text: t.to_string(),
            });
        }
        if t.ends_with("=y") {
            wanted.push(t.to_string());
        }
    }
    Ok(wanted)
}

/// The requested `=y` lines absent from a `.config`.
pub fn missing_options(wanted: &[String], config: &str) -> Vec<String> {
    wanted
        .iter()
        .filter(|w| !config.lines().any(|l| l.trim() == w.as_str()))
        .cloned()
        .collect()
}

/// 12 hex digits of sha256(fragment ‖ tarball name ‖ size ‖ mtime): the tarball's name does not
/// change across Debian updates of the package, its size and mtime do.
fn cache_key(fragment: &[u8], tarball: &Path) -> Result<String, KernelError> {
    let meta = fs::metadata(tarball).map_err(|source| KernelError::Io {
        what: "reading the source tarball",
        path: tarball.to_path_buf(),
        source,
    })?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut input = fragment.to_vec();
    input.extend_from_slice(
        format!("\n{}\n{}\n{}\n", tarball.display(), meta.len(), mtime).as_bytes(),
    );
    let hex = sha256_hex(&input)?;
    Ok(hex[..12].to_string())
}

/// sha256 through coreutils' `sha256sum` (present wherever a kernel can be built).
fn sha256_hex(input: &[u8]) -> Result<String, KernelError> {
    let cmd = "sha256sum";
    let mut child = Command::new(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| KernelError::Spawn {
            cmd: cmd.into(),
            source,
        })?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .map_err(|source| KernelError::Spawn {
            cmd: cmd.into(),
            source,
        })?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut out)
        .map_err(|source| KernelError::Spawn {
            cmd: cmd.into(),
            source,
        })?;
    let _ = child.wait();
    let hex: String = out.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() != 64 {
        return Err(KernelError::Step {
            cmd: cmd.into(),
            status: "unexpected output".into(),
            log: PathBuf::new(),
            tail: out,
        });
    }
    Ok(hex)
}

/// Unpacks the tarball once into `<cache>/src/<name>` (via a temporary directory and a rename,
/// so an interrupted unpack is never mistaken for a complete tree).
fn unpack(
    tarball: &Path,
    cache: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, KernelError> {
    let name = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("linux-source.tar.xz")
        .trim_end_matches(".tar.xz")
        .to_string();
    let srcdir = cache.join("src");
    let dest = srcdir.join(&name);
    if dest.join("Makefile").is_file() {
        return Ok(dest);
    }
    progress(&format!("unpacking {}", tarball.display()));
    let tmp = srcdir.join(format!(".unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    mkdir(&tmp)?;
    let log = srcdir.join("unpack.log");
    run(
        Command::new("tar")
            .arg("-C")
            .arg(&tmp)
            .arg("-xf")
            .arg(tarball),
        &log,
    )?;
    // The Debian tarball holds one top directory, `linux-source-6.1/`.
    let top = tmp.join(&name);
    let from = if top.join("Makefile").is_file() {
        top
    } else {
        tmp.clone()
    };
    let _ = fs::remove_dir_all(&dest);
    fs::rename(&from, &dest).map_err(|source| KernelError::Io {
        what: "moving the unpacked source",
        path: from,
        source,
    })?;
    let _ = fs::remove_dir_all(&tmp);
    Ok(dest)
}

/// Runs one build step with its output appended to `log`; on failure the error carries the
/// log's last lines.
fn run(cmd: &mut Command, log: &Path) -> Result<(), KernelError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|source| KernelError::Io {
            what: "opening the build log",
            path: log.to_path_buf(),
            source,
        })?;
    let err_file = file.try_clone().map_err(|source| KernelError::Io {
        what: "opening the build log",
        path: log.to_path_buf(),
        source,
    })?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err_file)
        .status()
        .map_err(|source| KernelError::Spawn {
            cmd: shown.clone(),
            source,
        })?;
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    Err(KernelError::Step {
        cmd: shown,
        status: status.to_string(),
        log: log.to_path_buf(),
        tail,
    })
}

fn mkdir(p: &Path) -> Result<(), KernelError> {
    fs::create_dir_all(p).map_err(|source| KernelError::Io {
        what: "creating a cache directory",
        path: p.to_path_buf(),
        source,
    })
}

/// An exclusive `flock` held until dropped.
struct Lock(fs::File);

impl Lock {
    fn take(path: &Path) -> Result<Self, KernelError> {
        use std::os::fd::AsRawFd;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| KernelError::Io {
                what: "opening the build lock",
                path: path.to_path_buf(),
                source,
            })?;
        // SAFETY: flock on a file descriptor we own; blocks until the other build finishes.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(KernelError::Io {
                what: "locking",
                path: path.to_path_buf(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(Lock(f))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking our own descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_lines_are_checked_and_y_options_collected() {
        let p = Path::new("kernel.config");
        let wanted = parse_fragment(
            p,
            "# c\n\nCONFIG_NET=y\nCONFIG_FOO=n\nCONFIG_LOG_BUF_SHIFT=14\n",
        )
        .unwrap();
        assert_eq!(wanted, vec!["CONFIG_NET=y".to_string()]);
        let err = parse_fragment(p, "CONFIG_NET=y\nNET=y\n").unwrap_err();
        assert!(
            matches!(err, KernelError::FragmentSyntax { line: 2, .. }),
            "{err}"
        );
        assert!(parse_fragment(p, "CONFIG_=y").is_err());
        assert!(parse_fragment(p, "CONFIG_NET=").is_err());
    }

    #[test]
    fn dropped_options_are_reported() {
        let wanted = vec!["CONFIG_NET=y".to_string(), "CONFIG_NETDEVSIM=y".to_string()];
        let config = "CONFIG_NET=y\n# CONFIG_NETDEVSIM is not set\nCONFIG_NETDEVSIM_X=y\n";
        assert_eq!(
            missing_options(&wanted, config),
            vec!["CONFIG_NETDEVSIM=y".to_string()]
        );
    }

    #[test]
    fn newest_tarball_wins() {
        let dir = std::env::temp_dir().join(format!("vmlab-tarballs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for n in [
            "linux-source-6.1.tar.xz",
            "linux-source-6.12.tar.xz",
            "linux-source-6.9.tar.xz",
            "other.tar.xz",
        ] {
            fs::write(dir.join(n), b"").unwrap();
        }
        let found = find_tarball(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found.unwrap().file_name().unwrap(),
            "linux-source-6.12.tar.xz"
        );
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b"abc").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
