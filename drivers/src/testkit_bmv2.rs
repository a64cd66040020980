//! Test and lab helper, not product code: `simple_switch_grpc` in a network
//! namespace of its own, with veth pairs to bind, and P4Runtime clients that
//! reach its gRPC server on that namespace's loopback.
//!
//! ```text
//!   netns ofp4-<pid>-<n>        (lo up; removed on drop, with its veths)
//!     simple_switch_grpc --no-p4 --device-id N -i 1@<a0> -i 2@<a1> ...
//!                        -- --grpc-server-addr 127.0.0.1:<port>
//!     <a0> ─veth─ <b0>   <a1> ─veth─ <b1>   (the b ends are for traffic)
//! ```
//!
//! The switch runs inside the namespace so that nothing it opens (gRPC,
//! Thrift on its default port 9090, its ports) is visible outside or
//! collides with another test. [`GrpcSwitch::connect`] creates the
//! client's socket on a thread inside the namespace.

use crate::lab::netns::in_netns;
use crate::lab::LabError;
use crate::p4rt::tools::GrpcTools;
use crate::p4rt::{Client, P4rtError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("simple_switch_grpc exited during start-up ({status}); the end of {log}:\n{tail}")]
    SwitchDied {
        status: String,
        log: String,
        tail: String,
    },
    #[error("p4c-bm2-ss rejected {program}:\n{stderr}")]
    Compile { program: String, stderr: String },
    #[error("simple_switch_grpc did not answer P4Runtime on {addr} within {secs} s: {last}")]
    NotReady {
        addr: String,
        secs: u64,
        last: String,
    },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(argv: &[&str]) -> Result<String, LabError> {
    crate::lab::run(argv)
}

/// A network namespace with `pairs` veth pairs inside it; removed, with the
/// veths, when dropped (also while unwinding from a failed test).
#[derive(Debug)]
pub struct SwitchNetns {
    name: String,
    veths: Vec<(String, String)>,
}

impl SwitchNetns {
    pub fn new(pairs: usize) -> Result<SwitchNetns, TestkitError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("ofp4-{pid}-{n}");
        run(&["ip", "netns", "add", &name])?;
        // From here on, drop removes what exists.
        let mut ns = SwitchNetns {
            name,
            veths: Vec::new(),
        };
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"])?;
        for i in 0..pairs {
            // ≤ 15 bytes: "p" + pid (≤ 7) + n + "x" + i + a/b
            let a = format!("p{pid}x{n}x{i}a");
            let b = format!("p{pid}x{n}x{i}b");
            run(&[
                "ip", "-n", &ns.name, "link", "add", &a, "type", "veth", "peer", "name", &b,
            ])?;
            for v in [&a, &b] {
                run(&["ip", "-n", &ns.name, "link", "set", v, "up"])?;
                // No IPv6 neighbour discovery noise through the switch.
                let _ = run(&[
                    "ip",
                    "netns",
                    "exec",
                    &ns.name,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{v}.disable_ipv6=1"),
                ]);
            }
            ns.veths.push((a, b));
        }
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// (switch side, traffic side) of each pair.
    pub fn veths(&self) -> &[(String, String)] {
        &self.veths
    }
}

impl Drop for SwitchNetns {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}

/// A running `simple_switch_grpc`; killed and reaped when dropped.
#[derive(Debug)]
pub struct GrpcSwitch {
    child: Option<Child>,
    netns: Option<String>,
    /// `127.0.0.1:<port>`, in [`GrpcSwitch::netns`] if there is one.
    pub addr: String,
    pub device_id: u64,
    pub log: PathBuf,
}

/// A TCP port free on the loopback of `netns` (bound, then released).
fn free_port(netns: Option<&str>) -> Result<u16, TestkitError> {
    let pick = || -> std::io::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    let r = match netns {
        Some(ns) => in_netns(ns, pick)?,
        None => pick(),
    };
    r.map_err(|source| TestkitError::Io {
        what: "find a free port".into(),
        source,
    })
}

impl GrpcSwitch {
    /// Starts `simple_switch_grpc --no-p4` with `ports` (switch port,
    /// interface) in `netns` (or the current namespace) and waits until its
    /// P4Runtime server answers `Capabilities`. Its output goes to
    /// `dir/simple_switch_grpc.log`.
    pub fn start(
        tools: &GrpcTools,
        netns: Option<&str>,
        ports: &[(u32, String)],
        device_id: u64,
        dir: &Path,
    ) -> Result<GrpcSwitch, TestkitError> {
        std::fs::create_dir_all(dir).map_err(|source| TestkitError::Io {
            what: format!("create {}", dir.display()),
            source,
        })?;
        let grpc_port = free_port(netns)?;
        let thrift_port = free_port(netns)?;
        let log = dir.join("simple_switch_grpc.log");
        let logf = std::fs::File::create(&log).map_err(|source| TestkitError::Io {
            what: format!("create {}", log.display()),
            source,
        })?;
        let errf = logf.try_clone().map_err(|source| TestkitError::Io {
            what: "duplicate the log file".into(),
            source,
        })?;
        // `ip netns exec` execs the switch: the child's pid is the switch's.
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&tools.switch);
                c
            }
            None => Command::new(&tools.switch),
        };
        cmd.arg("--no-p4")
            .arg("--device-id")
            .arg(device_id.to_string())
            .arg("--thrift-port")
            .arg(thrift_port.to_string())
            // Its own notifications socket: the default one is named after
            // the device id only, so two processes would collide.
            .arg("--notifications-addr")
            .arg(format!("ipc://{}", dir.join("notifications.ipc").display()));
        for (port, iface) in ports {
            cmd.arg("-i").arg(format!("{port}@{iface}"));
        }
        let addr = format!("127.0.0.1:{grpc_port}");
        cmd.arg("--").arg("--grpc-server-addr").arg(&addr);
        cmd.stdin(Stdio::null()).stdout(logf).stderr(errf);
        let child = cmd.spawn().map_err(|source| TestkitError::Io {
            what: format!("start {}", tools.switch.display()),
            source,
        })?;
        let mut sw = GrpcSwitch {
            child: Some(child),
            netns: netns.map(String::from),
            addr,
            device_id,
            log,
        };
        sw.wait_ready(Duration::from_secs(30))?;
        Ok(sw)
    }

    /// The switch's process id (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    fn tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), TestkitError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(TestkitError::SwitchDied {
                        status: status.to_string(),
                        log: self.log.display().to_string(),
                        tail: self.tail(),
                    });
                }
            }
            let addr = self.addr.clone();
            let probe = move || crate::p4rt::api_version(&addr, Duration::from_secs(1));
            let r = match &self.netns {
                Some(ns) => in_netns(ns, probe)?,
                None => probe(),
            };
            let last = match r {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(TestkitError::NotReady {
                    addr: self.addr.clone(),
                    secs: timeout.as_secs(),
                    last,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A P4Runtime client of this switch (socket made inside its namespace).
    pub fn connect(&self, election_id: u128, timeout: Duration) -> Result<Client, P4rtError> {
        let addr = self.addr.clone();
        let device_id = self.device_id;
        let go = move || Client::connect(&addr, device_id, election_id, timeout);
        match &self.netns {
            Some(ns) => in_netns(ns, go).map_err(|e| P4rtError::Arbitration {
                addr: self.addr.clone(),
                device_id,
                message: format!("cannot enter the switch's namespace: {e}"),
            })?,
            None => go(),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the switch (SIGTERM, then SIGKILL after 5 s) and reaps it.
    pub fn stop(mut self) -> Result<(), TestkitError> {
        self.kill()
    }

    fn kill(&mut self) -> Result<(), TestkitError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let io = |what: &str| {
            let what = what.to_string();
            move |source| TestkitError::Io { what, source }
        };
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child
                .try_wait()
                .map_err(io("wait for simple_switch_grpc"))?
                .is_some()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().map_err(io("kill simple_switch_grpc"))?;
        child.wait().map_err(io("reap simple_switch_grpc"))?;
        Ok(())
    }
}

impl Drop for GrpcSwitch {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Compiles a v1model program with `p4c-bm2-ss` into `dir`: the BMv2 JSON
/// and the binary P4Info (`.bin`: p4c picks the format by extension).
pub fn compile(
    tools: &GrpcTools,
    source: &str,
    dir: &Path,
) -> Result<(Vec<u8>, Vec<u8>), TestkitError> {
    let io = |what: String| move |source| TestkitError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    let p4 = dir.join("program.p4");
    let json = dir.join("program.json");
    let info = dir.join("program.p4info.bin");
    std::fs::write(&p4, source).map_err(io(format!("write {}", p4.display())))?;
    let out = Command::new(&tools.p4c)
        .arg("--std")
        .arg("p4-16")
        .arg("-o")
        .arg(&json)
        .arg("--p4runtime-files")
        .arg(&info)
        .arg(&p4)
        .output()
        .map_err(io(format!("run {}", tools.p4c.display())))?;
    if !out.status.success() {
        return Err(TestkitError::Compile {
            program: p4.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let read = |p: &Path| std::fs::read(p).map_err(io(format!("read {}", p.display())));
    Ok((read(&json)?, read(&info)?))
}
