//! The guest's initramfs, assembled fresh for every run (it takes well under a second):
//!
//! | guest path            | from the host                                                  |
//! |-----------------------|----------------------------------------------------------------|
//! | `/init`               | `lab/vm/init.sh`                                               |
//! | `/bin/busybox`, `/bin/sh` | busybox-static (`/bin/busybox`, refused if dynamically linked) |
//! | `/usr/sbin/ip`, `/usr/sbin/bpftool` | iproute2 and bpftool (busybox's own `ip` would shadow iproute2: init puts `/usr/sbin` first in PATH) |
//! | `/lab/bin/offloadctl` | the offloadctl binary under test, debug info stripped          |
//! | `/lab/bin/offload-smoke` | `lab/vm/offload-smoke.c`, compiled static with `cc`         |
//! | `/lab/scenarios/*.sh`, `/lab/modules/*` | `lab/vm/scenarios/`, `lab/vm/modules/`       |
//! | `/lab/tests/NAME`, `NAME.args` | guest test executables (stripped) and their arguments   |
//! | mirrored directories  | copied to the same absolute path (data that tests find by compiled-in paths) |
//! | shared libraries      | what `ldd` lists for each dynamic binary, incl. the loader and `libgcc_s.so.1` |
//!
//! The archive is written uncompressed: under TCG the guest unpacks it faster than it inflates
//! gzip, and there is no alignment trap when archives are concatenated.

use super::cpio::{CpioError, CpioWriter};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the guest's files come from.
#[derive(Debug, Clone)]
pub struct GuestInputs {
    /// The repo's `lab/vm` directory.
    pub lab_dir: PathBuf,
    /// The offloadctl binary to run inside the VM.
    pub offloadctl: PathBuf,
    /// Cache directory (compiled helpers, stripped binaries).
    pub cache: PathBuf,
    /// Test executables, at `/lab/tests/NAME` with their arguments in `/lab/tests/NAME.args`.
    pub guest_tests: Vec<super::GuestTest>,
    /// Host directories copied to the same absolute path in the guest (regular files, recursive).
    pub mirror: Vec<PathBuf>,
    /// Shell variables for the scenarios, written to `/lab/env` (names `[A-Z_]+`, values
    /// single-quoted).
    pub env: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error("{what} not found ({looked}); install it with `apt-get install {package}`")]
    Missing {
        what: &'static str,
        looked: String,
        package: &'static str,
    },
    #[error("{path} is dynamically linked; the guest needs a static busybox: `apt-get install busybox-static`")]
    NotStatic { path: PathBuf },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{cmd}` failed: {detail}")]
    Tool { cmd: String, detail: String },
    #[error(transparent)]
    Cpio(#[from] CpioError),
}

/// Builds the initramfs and returns its bytes.
pub fn build(inputs: &GuestInputs) -> Result<Vec<u8>, InitramfsError> {
    let mut w = CpioWriter::new();
    for d in [
        "proc", "sys", "dev", "tmp", "run", "root", "etc", "usr/bin", "sbin",
    ] {
        w.dir_all(d)?;
    }
    // The kernel opens /dev/console for init's stdio before init runs (devtmpfs is not mounted
    // yet); without the node init has no output at all.
    w.char_dev("dev/console", 0o600, 5, 1)?;
    w.char_dev("dev/null", 0o666, 1, 3)?;
    // iproute2 keeps named netns under /var/run/netns; on Debian /var/run is /run.
    w.symlink("var/run", "../run")?;

    let busybox = find_tool(
        "busybox",
        &["/bin/busybox", "/usr/bin/busybox"],
        "busybox-static",
    )?;
    let bytes = read(&busybox)?;
    if elf_interp(&bytes).is_some() {
        return Err(InitramfsError::NotStatic { path: busybox });
    }
    w.file("bin/busybox", 0o755, &bytes)?;
    w.symlink("bin/sh", "busybox")?;

    let ip = find_tool(
        "iproute2's ip",
        &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"],
        "iproute2",
    )?;
    add_dynamic(&mut w, &ip, "usr/sbin/ip")?;
    let bpftool = find_tool(
        "bpftool",
        &["/usr/sbin/bpftool", "/sbin/bpftool", "/usr/bin/bpftool"],
        "bpftool",
    )?;
    add_dynamic(&mut w, &bpftool, "usr/sbin/bpftool")?;

    if let Some(tc) = ["/usr/sbin/tc", "/sbin/tc"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
    {
        add_dynamic(&mut w, tc, "usr/sbin/tc")?;
    }

    add_stripped(
        &mut w,
        &inputs.offloadctl,
        "lab/bin/offloadctl",
        &inputs.cache,
    )?;
    w.dir_all("lab/tests")?;
    for t in &inputs.guest_tests {
        add_stripped(
            &mut w,
            &t.path,
            &format!("lab/tests/{}", t.name),
            &inputs.cache,
        )?;
        w.file(
            &format!("lab/tests/{}.args", t.name),
            0o644,
            t.args.join(" ").as_bytes(),
        )?;
    }
    for d in &inputs.mirror {
        add_tree(&mut w, d)?;
    }
    let smoke = compile_smoke(&inputs.lab_dir.join("offload-smoke.c"), &inputs.cache)?;
    w.file("lab/bin/offload-smoke", 0o755, &read(&smoke)?)?;

    w.file("init", 0o755, &read(&inputs.lab_dir.join("init.sh"))?)?;
    w.file("lab/env", 0o644, env_file(&inputs.env).as_bytes())?;
    add_dir_files(
        &mut w,
        &inputs.lab_dir.join("scenarios"),
        "lab/scenarios",
        0o644,
    )?;
    add_dir_files(
        &mut w,
        &inputs.lab_dir.join("modules"),
        "lab/modules",
        0o644,
    )?;
    Ok(w.finish())
}

/// `NAME='value'` lines; names outside `[A-Z_]` and quotes in values are dropped, so the file
/// is always valid shell.
fn env_file(vars: &[(String, String)]) -> String {
    vars.iter()
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(|(k, v)| format!("{k}='{}'\n", v.replace('\'', "")))
        .collect()
}

fn read(p: &Path) -> Result<Vec<u8>, InitramfsError> {
    fs::read(p).map_err(|source| InitramfsError::Io {
        what: "reading",
        path: p.to_path_buf(),
        source,
    })
}

fn find_tool(
    what: &'static str,
    candidates: &[&str],
    package: &'static str,
) -> Result<PathBuf, InitramfsError> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| InitramfsError::Missing {
            what,
            looked: candidates.join(", "),
            package,
        })
}

/// Adds every regular file of `dir` (not recursive) under `guest_dir`, in name order; a missing
/// directory adds nothing.
fn add_dir_files(
    w: &mut CpioWriter,
    dir: &Path,
    guest_dir: &str,
    mode: u32,
) -> Result<(), InitramfsError> {
    w.dir_all(guest_dir)?;
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        w.file(&format!("{guest_dir}/{name}"), mode, &read(&f)?)?;
    }
    Ok(())
}

/// Adds a stripped copy of `bin` (and its libraries) at `guest`.
fn add_stripped(
    w: &mut CpioWriter,
    bin: &Path,
    guest: &str,
    cache: &Path,
) -> Result<(), InitramfsError> {
    let copy = stripped_copy(bin, cache)?;
    let added = add_dynamic_as(w, &copy, bin, guest);
    if copy != bin {
        let _ = fs::remove_file(&copy);
    }
    added
}

/// Adds the regular files under absolute directory `dir`, recursively, at the same path.
fn add_tree(w: &mut CpioWriter, dir: &Path) -> Result<(), InitramfsError> {
    let guest = dir
        .to_string_lossy()
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string();
    w.dir_all(&guest)?;
    let entries = fs::read_dir(dir).map_err(|source| InitramfsError::Io {
        what: "reading",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let meta = fs::symlink_metadata(&p).map_err(|source| InitramfsError::Io {
            what: "reading",
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            add_tree(w, &p)?;
        } else if meta.is_file() {
            let g = p.to_string_lossy().trim_start_matches('/').to_string();
            w.file(&g, 0o644, &read(&p)?)?;
        }
    }
    Ok(())
}

fn add_dynamic(w: &mut CpioWriter, host: &Path, guest: &str) -> Result<(), InitramfsError> {
    add_dynamic_as(w, host, host, guest)
}

/// Adds binary `host` at `guest` and the shared libraries `ldd` lists for `libs_of`
/// (the same binary, or the original of a stripped copy), each at the path ldd names.
fn add_dynamic_as(
    w: &mut CpioWriter,
    host: &Path,
    libs_of: &Path,
    guest: &str,
) -> Result<(), InitramfsError> {
    w.file(guest, 0o755, &read(host)?)?;
    for lib in shared_libs(libs_of)? {
        let guest_lib = lib.to_string_lossy().trim_start_matches('/').to_string();
        if !w.contains(&guest_lib) {
            w.file(&guest_lib, 0o755, &read(&lib)?)?;
        }
    }
    Ok(())
}

/// The shared libraries (and the loader) `ldd` resolves for `bin`; empty for a static binary.
pub fn shared_libs(bin: &Path) -> Result<Vec<PathBuf>, InitramfsError> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| InitramfsError::Tool {
            cmd: format!("ldd {}", bin.display()),
            detail: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if text.contains("not a dynamic executable")
            || String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        return Err(InitramfsError::Tool {
            cmd: format!("ldd {}", bin.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    parse_ldd(&text).map_err(|line| InitramfsError::Tool {
        cmd: format!("ldd {}", bin.display()),
        detail: format!("unresolved: {line}"),
    })
}

/// Parses ldd's output: `name => /path (addr)`, `/path (addr)` (the loader), `linux-vdso…`
/// (in the kernel, skipped). A library ldd could not find is an error (`Err(line)`).
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.split_once("=>") {
            Some((_, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(line.to_string());
                }
                rest.split_whitespace().next().unwrap_or("")
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// The ELF program interpreter (PT_INTERP) of a 64-bit little-endian ELF, `None` for a static
/// binary or anything that is not such an ELF.
pub fn elf_interp(b: &[u8]) -> Option<String> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap()) as usize)
    };
    let (phoff, phentsize, phnum) = (u64_at(32)?, u16_at(54), u16_at(56));
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let ty = u32::from_le_bytes(b.get(ph..ph + 4)?.try_into().ok()?);
        if ty == 3 {
            let (off, size) = (u64_at(ph + 8)?, u64_at(ph + 32)?);
            let s = b.get(off..off + size)?;
            return Some(
                String::from_utf8_lossy(s)
                    .trim_end_matches('\0')
                    .to_string(),
            );
        }
    }
    None
}

/// A copy of `bin` without debug info, in the cache (a debug build of offloadctl is mostly
/// DWARF; the guest unpacks every byte under TCG). Falls back to the original without `strip`.
fn stripped_copy(bin: &Path, cache: &Path) -> Result<PathBuf, InitramfsError> {
    let dir = cache.join("guest");
    fs::create_dir_all(&dir).map_err(|source| InitramfsError::Io {
        what: "creating",
        path: dir.clone(),
        source,
    })?;
    let name = bin.file_name().and_then(|n| n.to_str()).unwrap_or("bin");
    let out = dir.join(format!("{name}.stripped-{}", std::process::id()));
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&out)
        .arg(bin)
        .status()
        .is_ok_and(|s| s.success());
    Ok(if ok { out } else { bin.to_path_buf() })
}

/// Compiles the offload-smoke helper statically, cached by the source's content.
fn compile_smoke(src: &Path, cache: &Path) -> Result<PathBuf, InitramfsError> {
    let code = read(src)?;
    let key = fnv64(&code);
    let dir = cache.join("guest");
    fs::create_dir_all(&dir).map_err(|source| InitramfsError::Io {
        what: "creating",
        path: dir.clone(),
        source,
    })?;
    let out = dir.join(format!("offload-smoke-{key:016x}"));
    if out.is_file() {
        return Ok(out);
    }
    let tmp = dir.join(format!("offload-smoke.{}", std::process::id()));
    let res = Command::new("cc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&tmp)
        .arg(src)
        .output()
        .map_err(|e| InitramfsError::Tool {
            cmd: "cc (apt-get install build-essential)".into(),
            detail: e.to_string(),
        })?;
    if !res.status.success() {
        return Err(InitramfsError::Tool {
            cmd: format!("cc -static {}", src.display()),
            detail: String::from_utf8_lossy(&res.stderr).trim().to_string(),
        });
    }
    fs::rename(&tmp, &out).map_err(|source| InitramfsError::Io {
        what: "renaming",
        path: tmp,
        source,
    })?;
    Ok(out)
}

/// FNV-1a: a content key for cached helpers (not a security boundary).
fn fnv64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed_and_missing_libraries_refused() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x7f)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert_eq!(
            parse_ldd("\tlibfoo.so.1 => not found\n"),
            Err("libfoo.so.1 => not found".to_string())
        );
    }

    #[test]
    fn interpreter_of_this_test_binary_is_found() {
        // The test binary itself is a dynamic glibc executable here.
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        let interp = elf_interp(&me).expect("test binary is dynamically linked");
        assert!(interp.contains("ld-linux"), "{interp}");
        assert_eq!(elf_interp(b"#!/bin/sh\n"), None);
    }
}
