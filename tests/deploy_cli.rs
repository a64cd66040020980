//! `offloadctl` deployment commands end to end, as a user runs them:
//! `lab up`, `apply`, `status`, `entries`, `detach`, `lab down`, and `demo`
//! (also interrupted with Ctrl-C, and without root).

use offload_drivers::testenv::require_root;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_offloadctl");

fn run(args: &[&str], state: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env("OFFLOAD_STATE_DIR", state)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn ok(o: &Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{what}: {:?}\nstdout:\n{out}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn demo_passes() {
    if !require_root("demo_passes") {
        return;
    }
    let child = Command::new(BIN)
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    let out = ok(&o, "offloadctl demo");
    assert!(out.contains("demo passed"), "{out}");
    // The chain step: the filter drops what it should, the router the rest.
    assert!(out.contains("[8/8] a service chain"), "{out}");
    assert!(
        out.contains("dropped by ddos-filter — as the reference says")
            && out.contains("forwarded to servers by edge-router — as the reference says"),
        "{out}"
    );
    assert!(out.contains("0 not"), "{out}");
    assert!(
        out.contains("every counter equals the reference's"),
        "{out}"
    );
    // Nothing of this demo left behind (other tests may run demos meanwhile).
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&ns.stdout).contains(&format!("offload-demo-{pid}-")),
        "demo left namespaces"
    );
    assert!(
        !std::path::Path::new(&format!("/sys/fs/bpf/offload-demo-{pid}")).exists(),
        "demo left pins"
    );
}

#[test]
fn demo_without_root_says_so_and_exits_2() {
    if !require_root("demo_without_root_says_so_and_exits_2") {
        return;
    }
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "demo",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn demo_interrupted_still_tears_down() {
    if !require_root("demo_interrupted_still_tears_down") {
        return;
    }
    let mut child = Command::new(BIN)
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the lab is built and the module deployed.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut all = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let t0 = Instant::now();
    let prefix = format!("offload-demo-{pid}-");
    loop {
        let ns = String::from_utf8_lossy(
            &Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        let pins = std::path::Path::new(&format!("/sys/fs/bpf/offload-demo-{pid}")).exists();
        if ns.contains(&prefix) && pins {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "demo never got going"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Ctrl-C, as a terminal sends it.
    assert!(Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let _ = reader.join();
    assert_eq!(status.code(), Some(130));
    let ns = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(!ns.contains(&prefix), "namespaces left after Ctrl-C:\n{ns}");
    assert!(
        !std::path::Path::new(&format!("/sys/fs/bpf/offload-demo-{pid}")).exists(),
        "pins left after Ctrl-C"
    );
    assert!(
        !std::path::Path::new(&format!("/run/offload-demo-{pid}")).exists(),
        "state left after Ctrl-C"
    );
}

#[test]
fn lab_apply_status_entries_detach() {
    if !require_root("lab_apply_status_entries_detach") {
        return;
    }
    let name = format!("c{}", std::process::id() % 100_000_000);
    let state = std::env::temp_dir().join(format!("offload-cli-{name}"));
    let state = state.to_str().unwrap();
    let up = ok(&run(&["lab", "up", &name, "--json"], state), "lab up");
    let lab: serde_json::Value = serde_json::from_str(&up).unwrap();
    let outer = |h: &str| {
        lab["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["host"] == h)
            .unwrap()["outer"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (u, s, b) = (outer("uplink"), outer("servers"), outer("backup"));
    // A second `lab up` of the same name is refused.
    assert!(!run(&["lab", "up", &name], state).status.success());

    let guard = Teardown {
        name: name.clone(),
        state: state.to_string(),
    };
    let p = |k: &str, v: &str| format!("{k}={v}");
    // A port used by entries must be bound.
    let o = run(
        &[
            "apply",
            "examples/edge-router.toml",
            "--on",
            &u,
            "--mode",
            "generic",
            "--port",
            &p("uplink", &u),
        ],
        state,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("port servers is used by"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let out = ok(
        &run(
            &[
                "apply",
                "examples/edge-router.toml",
                "--on",
                &u,
                "--mode",
                "generic",
                "--port",
                &p("uplink", &u),
                "--port",
                &p("servers", &s),
                "--port",
                &p("backup", &b),
            ],
            state,
        ),
        "apply",
    );
    assert!(out.contains("running in generic mode"), "{out}");
    let st = ok(&run(&["status", "--json"], state), "status");
    let v: serde_json::Value = serde_json::from_str(&st).unwrap();
    let pl = &v[0]["placements"][0];
    assert_eq!(pl["iface"], u.as_str());
    assert_eq!(pl["observed"][0], "generic");
    assert_eq!(pl["observed"][1]["id"], pl["expected_prog_id"]);

    // Entries: add, a refusal (exit 1, nothing changed), load a file, delete.
    ok(
        &run(
            &[
                "entries",
                "add",
                "--table",
                "routes",
                "--match",
                "ipv4.dst=10.50.0.0/16",
                "--action",
                "route",
                "--arg",
                "port=backup",
                "--arg",
                "dmac=02:00:00:00:00:03",
                "--arg",
                "smac=02:00:00:00:00:01",
            ],
            state,
        ),
        "entries add",
    );
    let o = run(
        &[
            "entries",
            "add",
            "--table",
            "routes",
            "--match",
            "ipv4.dst=10.50.0.1/16",
            "--action",
            "deny",
        ],
        state,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let file = std::env::temp_dir().join(format!("offload-cli-{name}.toml"));
    std::fs::write(&file, "[[entry.acl]]\nmatch = { \"ipv4.protocol\" = 17, \"l4.dst_port\" = \"7000..7999\" }\npriority = 9\naction = \"deny\"\n").unwrap();
    let out = ok(
        &run(&["entries", "load", file.to_str().unwrap()], state),
        "entries load",
    );
    assert!(out.contains("loaded 1 entries"), "{out}");
    let list = ok(&run(&["entries", "list"], state), "entries list");
    assert!(
        list.contains("ipv4.dst=10.50.0.0/16")
            && list.contains("7000..7999")
            && list.contains("(runtime)"),
        "{list}"
    );
    ok(
        &run(
            &[
                "entries",
                "del",
                "--table",
                "routes",
                "--match",
                "ipv4.dst=10.50.0.0/16",
            ],
            state,
        ),
        "entries del",
    );
    let list = ok(&run(&["entries", "list"], state), "entries list");
    assert!(!list.contains("10.50.0.0/16"), "{list}");
    // Re-apply: hitless, the runtime ACL entry stays.
    let out = ok(
        &run(
            &[
                "apply",
                "examples/edge-router.toml",
                "--on",
                &u,
                "--mode",
                "generic",
                "--port",
                &p("uplink", &u),
                "--port",
                &p("servers", &s),
                "--port",
                &p("backup", &b),
            ],
            state,
        ),
        "re-apply",
    );
    assert!(
        out.contains("replaced the previous version atomically"),
        "{out}"
    );
    assert!(ok(&run(&["entries", "list"], state), "list").contains("7000..7999"));
    let out = ok(&run(&["detach"], state), "detach");
    assert!(
        out.contains(&format!("detached edge-router from {u}")),
        "{out}"
    );
    assert_eq!(
        ok(&run(&["status"], state), "status").trim(),
        "nothing deployed"
    );
    drop(guard);
    assert!(!offload_drivers::lab::link_exists(&u));
}

/// Removes the named lab and state even when the test fails.
struct Teardown {
    name: String,
    state: String,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let _ = run(&["detach"], &self.state);
        let _ = run(&["lab", "down", &self.name], &self.state);
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
