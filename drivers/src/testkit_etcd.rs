//! Test and lab helper, not product code: etcd members on loopback (Debian's
//! `etcd-server`, `/usr/bin/etcd`), each on its own ports and data dir under
//! the temporary directory, killed when dropped (also while unwinding from a
//! failed test).
//!
//! ```text
//!   cluster(base, tag)   3 members m0..m2: clients on base+0..2, peers on
//!                        base+10..12 (a member killed is started again on its
//!                        data dir with member())
//!   single(tag)          1 member on free ports
//! ```

use crate::etcd::{Client, ConnectOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EtcdTestkitError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("etcd at {endpoint} did not serve a read within {within:?}: {last}")]
    NotReady {
        endpoint: String,
        within: Duration,
        last: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EtcdTestkitError {
    let what = what.into();
    move |source| EtcdTestkitError::Io { what, source }
}

/// A child process killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// etcd members; killed and their data removed on drop.
#[derive(Debug)]
pub struct Cluster {
    /// `None`: killed by the test.
    pub members: Vec<Option<Proc>>,
    /// Client URLs, one per member, `http://127.0.0.1:<port>`.
    pub clients: Vec<String>,
    /// Data dirs and logs (`m<i>.log`).
    pub dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.members.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fresh_dir(tag: &str) -> Result<PathBuf, EtcdTestkitError> {
    let dir = std::env::temp_dir().join(format!("offload-etcd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// `--initial-cluster` of [`cluster`]`(base, _)`.
pub fn initial(base: u16) -> Vec<String> {
    (0..3)
        .map(|i| format!("m{i}=http://127.0.0.1:{}", base + 10 + i))
        .collect()
}

/// A 3-member cluster: clients on `base..base+3`, peers on `base+10..base+13`.
pub fn cluster(base: u16, tag: &str) -> Result<Cluster, EtcdTestkitError> {
    let dir = fresh_dir(tag)?;
    let mut c = Cluster {
        members: Vec::new(),
        clients: (0..3)
            .map(|i| format!("http://127.0.0.1:{}", base + i))
            .collect(),
        dir,
    };
    for i in 0..3 {
        c.members
            .push(Some(member(&c.dir, base, i, &initial(base))?));
    }
    Ok(c)
}

/// Member `i` of [`cluster`]`(base, _)` (also: started again on its data
/// dir after a kill).
pub fn member(dir: &Path, base: u16, i: u16, initial: &[String]) -> Result<Proc, EtcdTestkitError> {
    spawn(
        dir,
        &format!("m{i}"),
        &format!("http://127.0.0.1:{}", base + i),
        &format!("http://127.0.0.1:{}", base + 10 + i),
        initial,
    )
}

/// A port nobody listens on right now (the kernel's pick; free again once
/// the probe socket is closed, so another process could take it first).
pub fn free_port() -> Result<u16, EtcdTestkitError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("binding 127.0.0.1:0"))?;
    Ok(l.local_addr().map_err(io("local address"))?.port())
}

/// A single-member cluster on free ports.
pub fn single(tag: &str) -> Result<Cluster, EtcdTestkitError> {
    let dir = fresh_dir(tag)?;
    let client = format!("http://127.0.0.1:{}", free_port()?);
    let peer = format!("http://127.0.0.1:{}", free_port()?);
    let mut c = Cluster {
        members: Vec::new(),
        clients: vec![client.clone()],
        dir,
    };
    let m = spawn(&c.dir, "m0", &client, &peer, &[format!("m0={peer}")])?;
    c.members.push(Some(m));
    Ok(c)
}

fn spawn(
    dir: &Path,
    name: &str,
    client: &str,
    peer: &str,
    initial: &[String],
) -> Result<Proc, EtcdTestkitError> {
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(format!("opening {}", log_path.display())))?;
    let data = dir.join(name);
    let c = Command::new("etcd")
        .arg("--name")
        .arg(name)
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen-client-urls", client])
        .args(["--advertise-client-urls", client])
        .args(["--listen-peer-urls", peer])
        .args(["--initial-advertise-peer-urls", peer])
        .args(["--initial-cluster", &initial.join(",")])
        .args(["--initial-cluster-state", "new"])
        .arg("--initial-cluster-token")
        .arg(format!("offload-test-{}", std::process::id()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(io("starting etcd (apt-get install etcd-server)"))?;
    Ok(Proc(c))
}

/// Waits until `endpoint` serves a linearizable read (the cluster has a
/// leader), trying every 100 ms.
pub fn wait_ready(endpoint: &str, within: Duration) -> Result<(), EtcdTestkitError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("starting a tokio runtime"))?;
    let opts = ConnectOptions {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        keep_alive: None,
    };
    let t0 = Instant::now();
    rt.block_on(async {
        loop {
            let last = match Client::connect(endpoint, &opts).await {
                Ok(c) => match c.get("/offload-testkit-ready").await {
                    Ok(_) => return Ok(()),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if t0.elapsed() > within {
                return Err(EtcdTestkitError::NotReady {
                    endpoint: endpoint.to_string(),
                    within,
                    last,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}
