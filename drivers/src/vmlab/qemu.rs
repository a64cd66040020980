//! Boots the guest under QEMU with TCG (`/dev/kvm` may exist but is not relied on: no KVM and
//! no root are needed) and collects its serial console.
//!
//! The guest's `/init` ends with `reboot -f`; with `-no-reboot` that ends QEMU. A guest that
//! hangs is killed after the timeout and the run reports what it printed so far.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How to boot.
#[derive(Debug, Clone)]
pub struct BootSpec {
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Everything the guest prints is also written here.
    pub serial_log: PathBuf,
}

/// What the guest printed and how QEMU ended.
#[derive(Debug, Clone)]
pub struct BootOutput {
    pub serial: String,
    pub timed_out: bool,
    pub exit: Option<i32>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error(
        "`{qemu}` could not start: {source}; install it with `apt-get install qemu-system-x86`"
    )]
    Spawn {
        qemu: PathBuf,
        source: std::io::Error,
    },
    #[error("serial log {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The QEMU command line (kept in one place so the docs and the run agree).
pub fn command(spec: &BootSpec) -> Command {
    let mut c = Command::new(&spec.qemu);
    c.args(["-accel", "tcg", "-m"])
        .arg(spec.memory_mb.to_string())
        .args([
            "-smp",
            "1",
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(&spec.kernel)
        .arg("-initrd")
        .arg(&spec.initrd)
        // panic=-1: a guest kernel panic reboots at once, which -no-reboot turns into an exit.
        // loglevel=5: kernel warnings and worse reach the console (a netdevsim WARN is a finding),
        // the boot chatter does not.
        .args(["-append", "console=ttyS0 panic=-1 loglevel=5"]);
    c
}

/// Finds `qemu-system-x86_64` on PATH.
pub fn find_qemu() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("qemu-system-x86_64"))
        .find(|p| p.is_file())
}

/// Boots, streams the console to `serial_log` (and to `echo` line by line when given), and
/// returns when QEMU exits or the timeout passes.
pub fn boot(
    spec: &BootSpec,
    mut echo: Option<&mut dyn FnMut(&str)>,
) -> Result<BootOutput, QemuError> {
    let start = Instant::now();
    let mut log = std::fs::File::create(&spec.serial_log).map_err(|source| QemuError::Log {
        path: spec.serial_log.clone(),
        source,
    })?;
    let mut child = command(spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| QemuError::Spawn {
            qemu: spec.qemu.clone(),
            source,
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            if tx.send(text).is_err() {
                break;
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx2.send(format!("[qemu] {line}")).is_err() {
                break;
            }
        }
    });

    let mut serial = String::new();
    let mut timed_out = false;
    let deadline = start + spec.timeout;
    loop {
        // Checked on every line too: a guest that never stops printing still ends.
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let _ = writeln!(log, "{line}");
                if let Some(f) = echo.as_mut() {
                    f(&line);
                }
                serial.push_str(&line);
                serial.push('\n');
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let status = child.wait().ok();
    let _ = reader.join();
    let _ = err_reader.join();
    // Lines that arrived between the kill and the readers' end.
    for line in rx.try_iter() {
        let _ = writeln!(log, "{line}");
        serial.push_str(&line);
        serial.push('\n');
    }
    Ok(BootOutput {
        serial,
        timed_out,
        exit: status.and_then(|s| s.code()),
        elapsed: start.elapsed(),
    })
}
