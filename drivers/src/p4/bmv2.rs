//! BMv2 `simple_switch`: compile a generated v1model program with
//! `p4c-bm2-ss`, run the switch bound to interfaces, load entries with
//! `simple_switch_CLI`, read counters back, stop.
//!
//! The CLI is driven by writing commands to its stdin, one per line, and
//! reading what it prints (BMv2 tools/runtime_CLI.py): `table_add` answers
//! `Entry has been added with handle N`, `table_set_default` answers
//! `Setting default action of ...`, `counter_read NAME I` answers
//! `NAME[I]=  BmCounterValue(packets=P, bytes=B)`; failures print lines with
//! `Error` or `Invalid ...`. A direct counter is read at the entry's handle.

use offload_core::ir::{Module, TableId};
use offload_core::semantics::CounterSlot;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming a BMv2/p4c install prefix (or its `bin/`).
pub const BMV2_DIR_ENV: &str = "OFFLOAD_BMV2_DIR";

pub const P4C: &str = "p4c-bm2-ss";
pub const SWITCH: &str = "simple_switch";
pub const CLI: &str = "simple_switch_CLI";

#[derive(Debug, thiserror::Error)]
pub enum Bmv2Error {
    #[error("{tool} not found (looked in {searched}); install p4c and BMv2 or set {BMV2_DIR_ENV}")]
    ToolMissing {
        tool: &'static str,
        searched: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("p4c-bm2-ss rejected {program}:\n{stderr}")]
    Compile { program: String, stderr: String },
    #[error("simple_switch exited during start-up ({status}); its log {log}:\n{tail}")]
    SwitchDied {
        status: String,
        log: String,
        tail: String,
    },
    #[error("simple_switch did not answer on thrift port {port} within {secs} s")]
    NotReady { port: u16, secs: u64 },
    #[error("simple_switch_CLI: `{command}` failed: {message}")]
    Cli { command: String, message: String },
    #[error("simple_switch_CLI printed no counter value for `{command}`: {output}")]
    CounterParse { command: String, output: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Bmv2Error {
    let what = what.into();
    move |source| Bmv2Error::Io { what, source }
}

/// Where the three tools are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub p4c: PathBuf,
    pub switch: PathBuf,
    pub cli: PathBuf,
}

impl Tools {
    /// Looks on `PATH` and under `OFFLOAD_BMV2_DIR` (its `bin/` too).
    pub fn find() -> Result<Tools, Bmv2Error> {
        Tools::find_in(
            std::env::var_os("PATH").as_deref(),
            std::env::var_os(BMV2_DIR_ENV).as_deref(),
        )
    }

    /// [`Tools::find`] with the search path given (for tests).
    pub fn find_in(
        path: Option<&std::ffi::OsStr>,
        bmv2_dir: Option<&std::ffi::OsStr>,
    ) -> Result<Tools, Bmv2Error> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(d) = bmv2_dir {
            let d = PathBuf::from(d);
            dirs.push(d.join("bin"));
            dirs.push(d);
        }
        if let Some(p) = path {
            dirs.extend(std::env::split_paths(p));
        }
        let searched = || {
            let mut s: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            if s.is_empty() {
                s.push("(no PATH)".into());
            }
            s.join(":")
        };
        let find = |tool: &'static str| {
            dirs.iter()
                .map(|d| d.join(tool))
                .find(|p| is_executable(p))
                .ok_or_else(|| Bmv2Error::ToolMissing {
                    tool,
                    searched: searched(),
                })
        };
        Ok(Tools {
            p4c: find(P4C)?,
            switch: find(SWITCH)?,
            cli: find(CLI)?,
        })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Compiles `source` (a v1model program) into BMv2 JSON in `dir`.
pub fn compile(tools: &Tools, source: &str, dir: &Path) -> Result<PathBuf, Bmv2Error> {
    std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    let p4 = dir.join("program.p4");
    let json = dir.join("program.json");
    std::fs::write(&p4, source).map_err(io(format!("write {}", p4.display())))?;
    let out = Command::new(&tools.p4c)
        .arg("--std")
        .arg("p4-16")
        .arg("-o")
        .arg(&json)
        .arg(&p4)
        .output()
        .map_err(io(format!("run {}", tools.p4c.display())))?;
    if !out.status.success() {
        return Err(Bmv2Error::Compile {
            program: p4.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(json)
}

/// A free TCP port for the switch's thrift server (bound, then released).
fn free_port() -> Result<u16, Bmv2Error> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("find a free thrift port"))?;
    Ok(l.local_addr()
        .map_err(io("find a free thrift port"))?
        .port())
}

/// A running `simple_switch`; stopped (killed and reaped) on [`Switch::stop`] or drop.
#[derive(Debug)]
pub struct Switch {
    child: Option<Child>,
    cli: PathBuf,
    pub thrift_port: u16,
    pub log: PathBuf,
}

impl Switch {
    /// Starts `simple_switch` on `json` with `ports` (switch port number,
    /// interface) bound, and waits until its thrift server answers.
    pub fn start(
        tools: &Tools,
        json: &Path,
        ports: &[(u32, String)],
        dir: &Path,
    ) -> Result<Switch, Bmv2Error> {
        let thrift_port = free_port()?;
        let log = dir.join("simple_switch.log");
        let logf = std::fs::File::create(&log).map_err(io(format!("create {}", log.display())))?;
        let mut cmd = Command::new(&tools.switch);
        for (port, iface) in ports {
            cmd.arg("-i").arg(format!("{port}@{iface}"));
        }
        cmd.arg("--thrift-port").arg(thrift_port.to_string());
        cmd.arg("--log-console");
        cmd.arg(json);
        let err = logf.try_clone().map_err(io("duplicate log file"))?;
        cmd.stdin(Stdio::null()).stdout(logf).stderr(err);
        let child = cmd
            .spawn()
            .map_err(io(format!("start {}", tools.switch.display())))?;
        let mut sw = Switch {
            child: Some(child),
            cli: tools.cli.clone(),
            thrift_port,
            log,
        };
        sw.wait_ready(Duration::from_secs(20))?;
        Ok(sw)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Bmv2Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
                    let tail: String = tail
                        .lines()
                        .rev()
                        .take(20)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    self.child = None;
                    return Err(Bmv2Error::SwitchDied {
                        status: status.to_string(),
                        log: self.log.display().to_string(),
                        tail,
                    });
                }
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.thrift_port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Bmv2Error::NotReady {
                    port: self.thrift_port,
                    secs: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs CLI commands (one per line) and returns everything it printed.
    pub fn cli(&self, commands: &str) -> Result<String, Bmv2Error> {
        let mut child = Command::new(&self.cli)
            .arg("--thrift-port")
            .arg(self.thrift_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io(format!("run {}", self.cli.display())))?;
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(commands.as_bytes())
            .map_err(io("write to simple_switch_CLI"))?;
        let out = child
            .wait_with_output()
            .map_err(io("wait for simple_switch_CLI"))?;
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&out.stderr));
        if let Some(message) = cli_errors(&s).into_iter().next() {
            return Err(Bmv2Error::Cli {
                command: commands.lines().next().unwrap_or("").to_string(),
                message,
            });
        }
        Ok(s)
    }

    /// Loads an entry script (offload-p4's `entries.txt`): every command must
    /// succeed. Returns the handle of each `table_add`, in order.
    pub fn load_entries(&self, script: &str) -> Result<Vec<u64>, Bmv2Error> {
        let mut handles = Vec::new();
        for line in script.lines().filter(|l| !l.trim().is_empty()) {
            let out = self.cli(&format!("{line}\n"))?;
            if line.starts_with("table_add ") {
                match parse_handles(&out).first() {
                    Some(h) => handles.push(*h),
                    None => {
                        return Err(Bmv2Error::Cli {
                            command: line.to_string(),
                            message: out.trim().to_string(),
                        })
                    }
                }
            } else if line.starts_with("table_set_default ")
                && !out.contains("Setting default action of")
            {
                return Err(Bmv2Error::Cli {
                    command: line.to_string(),
                    message: out.trim().to_string(),
                });
            }
        }
        Ok(handles)
    }

    /// (packets, bytes) of counter `name` at `index` (a direct counter: the entry handle).
    pub fn counter(&self, name: &str, index: u64) -> Result<(u64, u64), Bmv2Error> {
        let command = format!("counter_read {name} {index}");
        let out = self.cli(&format!("{command}\n"))?;
        parse_counter(&out).ok_or(Bmv2Error::CounterParse {
            command,
            output: out.trim().to_string(),
        })
    }

    /// Stops the switch and waits for it to exit.
    pub fn stop(mut self) -> Result<(), Bmv2Error> {
        self.kill()
    }

    fn kill(&mut self) -> Result<(), Bmv2Error> {
        if let Some(mut child) = self.child.take() {
            // SIGTERM first so simple_switch can close its interfaces.
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if child
                    .try_wait()
                    .map_err(io("wait for simple_switch"))?
                    .is_some()
                {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            child.kill().map_err(io("kill simple_switch"))?;
            child.wait().map_err(io("reap simple_switch"))?;
        }
        Ok(())
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// (packets, bytes) per table entry and per table default, as the reference counts them.
pub type CounterValues = BTreeMap<(TableId, CounterSlot), (u64, u64)>;

/// A module deployed on a running BMv2: program compiled, switch started on
/// its interfaces, default actions and entries loaded.
#[derive(Debug)]
pub struct Deployment {
    pub switch: Switch,
    pub names: offload_p4::NamingMap,
    /// Handle of each module entry, per table (in entry order).
    pub handles: BTreeMap<TableId, Vec<u64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Bmv2(#[from] Bmv2Error),
    #[error(transparent)]
    P4(#[from] offload_p4::P4Error),
}

impl Deployment {
    /// Generates the v1model program for `module`, compiles it in `dir`,
    /// starts simple_switch with `ports` (switch port, interface) and loads
    /// the module's entries.
    pub fn start(
        tools: &Tools,
        module: &Module,
        options: &offload_p4::Options,
        ports: &[(u32, String)],
        dir: &Path,
    ) -> Result<Deployment, DeployError> {
        let out = offload_p4::compile(module, options)?;
        let json = compile(tools, &out.source, dir)?;
        let switch = Switch::start(tools, &json, ports, dir)?;
        let flat = switch.load_entries(&out.cli)?;
        let mut it = flat.into_iter();
        let handles = module
            .tables
            .iter()
            .map(|t| (t.id, it.by_ref().take(t.entries.len()).collect()))
            .collect();
        Ok(Deployment {
            switch,
            names: out.names,
            handles,
        })
    }

    /// Packets and bytes per table entry and per table default (miss), for
    /// tables with counters, in the reference interpreter's terms.
    pub fn counters(&self, module: &Module) -> Result<CounterValues, Bmv2Error> {
        let mut out = BTreeMap::new();
        for t in module.tables.iter().filter(|t| t.counters) {
            let Some(tn) = self.names.table(&t.name) else {
                continue;
            };
            if let Some(direct) = &tn.direct_counter {
                for (i, h) in self.handles.get(&t.id).into_iter().flatten().enumerate() {
                    out.insert(
                        (t.id, CounterSlot::Entry(i)),
                        self.switch.counter(direct, *h)?,
                    );
                }
            }
            if let Some(miss) = &tn.miss_counter {
                out.insert((t.id, CounterSlot::Default), self.switch.counter(miss, 0)?);
            }
        }
        Ok(out)
    }

    pub fn stop(self) -> Result<(), Bmv2Error> {
        self.switch.stop()
    }
}

/// Lines of CLI output that report a failure.
pub fn cli_errors(output: &str) -> Vec<String> {
    output
        .lines()
        .map(|l| l.trim().trim_start_matches("RuntimeCmd:").trim())
        .filter(|l| {
            l.starts_with("Error")
                || l.starts_with("Invalid")
                || l.contains("Traceback")
                || l.starts_with("***")
        })
        .map(String::from)
        .collect()
}

/// Entry handles printed by `table_add`.
pub fn parse_handles(output: &str) -> Vec<u64> {
    output
        .lines()
        .filter_map(|l| l.split("Entry has been added with handle").nth(1))
        .filter_map(|rest| rest.trim().parse().ok())
        .collect()
}

/// `(packets, bytes)` from `counter_read` output.
pub fn parse_counter(output: &str) -> Option<(u64, u64)> {
    let l = output.lines().find(|l| l.contains("BmCounterValue("))?;
    let num = |key: &str| -> Option<u64> {
        let rest = l.split(key).nth(1)?;
        rest.chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .ok()
    };
    Some((num("packets=")?, num("bytes=")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_cli_prints() {
        let add = "Obtaining JSON from switch...\nDone\nControl utility for runtime P4 table manipulation\nRuntimeCmd: Adding entry to ternary match table IngressImpl.acl\nmatch key:           TERNARY-0a:00:00:00 &&& ff:00:00:00\naction:              IngressImpl.allow\nruntime data:        \nEntry has been added with handle 3\nRuntimeCmd: \n";
        assert_eq!(parse_handles(add), vec![3]);
        assert!(cli_errors(add).is_empty());
        let ctr = "RuntimeCmd: this is the direct counter for table IngressImpl.acl\nIngressImpl.acl_counter[3]=  BmCounterValue(packets=2, bytes=128)\nRuntimeCmd: ";
        assert_eq!(parse_counter(ctr), Some((2, 128)));
        assert_eq!(parse_counter("RuntimeCmd: "), None);
        let bad = "RuntimeCmd: Invalid table operation (DUPLICATE_ENTRY)\n";
        assert_eq!(
            cli_errors(bad),
            vec!["Invalid table operation (DUPLICATE_ENTRY)".to_string()]
        );
        assert_eq!(
            cli_errors("RuntimeCmd: Error: Invalid action name\n").len(),
            1
        );
    }

    #[test]
    fn finds_tools_in_the_bmv2_dir_or_says_where_it_looked() {
        let dir = std::env::temp_dir().join(format!("offload-bmv2-find-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let err = Tools::find_in(None, Some(dir.as_os_str())).unwrap_err();
        assert!(
            matches!(err, Bmv2Error::ToolMissing { tool: P4C, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains(&bin.display().to_string()),
            "{err}"
        );
        for t in [P4C, SWITCH, CLI] {
            let p = bin.join(t);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let tools = Tools::find_in(
            Some(std::ffi::OsStr::new("/nonexistent")),
            Some(dir.as_os_str()),
        )
        .unwrap();
        assert_eq!(tools.cli, bin.join(CLI));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
