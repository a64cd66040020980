//! Shared by the commands that act on deployments (apply, status, entries,
//! detach, demo): privileges, state roots, and printing a status.

use offload_drivers::deploy::status::ModuleStatus;
use offload_drivers::deploy::Roots;
use std::fmt::Write as _;

/// `Some(line)` when this process cannot touch BPF/netns: the one line to print.
pub fn missing_root(verb: &str) -> Option<String> {
    offload_drivers::testenv::missing_privilege()
        .map(|why| format!("offloadctl {verb} needs root: {why}; run it with sudo"))
}

/// Where deployments are recorded. `OFFLOAD_STATE_DIR` moves the state files
/// (tests run several at once); pins always live on the real bpffs.
pub fn roots() -> Roots {
    let mut r = Roots::default();
    if let Some(d) = std::env::var_os("OFFLOAD_STATE_DIR") {
        r.state = d.into();
    }
    r
}

fn count(n: Option<u64>, unit: &str) -> String {
    n.map_or_else(String::new, |n| format!("{n} {unit}"))
}

/// Status as text, the way `offloadctl status` prints it.
pub fn status_text(st: &ModuleStatus) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  version {}{}",
        st.module,
        st.version,
        st.source_path
            .as_deref()
            .map(|p| format!("  ({p})"))
            .unwrap_or_default()
    );
    let ports: Vec<String> = st.ports.iter().map(|(p, i)| format!("{p}={i}")).collect();
    let _ = writeln!(
        s,
        "  ports: {}",
        if ports.is_empty() {
            "-".into()
        } else {
            ports.join(" ")
        }
    );
    for p in &st.placements {
        let seen = match &p.observed {
            Some((m, prog)) => format!("{m}  prog {} {} tag {}", prog.id, prog.name, prog.tag),
            None => "nothing attached".into(),
        };
        let link = p.link_id.map(|l| format!("  link {l}")).unwrap_or_default();
        let verdict = if p.drift.is_empty() {
            "ok".to_string()
        } else {
            "DRIFT".to_string()
        };
        let _ = writeln!(s, "  {}  {seen}{link}  [{verdict}]", p.iface);
        for d in &p.drift {
            let _ = writeln!(s, "    drift: {d}");
        }
    }
    for t in &st.tables {
        let elems: Vec<String> = t
            .elements
            .iter()
            .map(|(i, n)| format!("{n} on {i}"))
            .collect();
        let _ = writeln!(
            s,
            "  table {}: {} entries ({} map elements)",
            t.name,
            t.entries.len(),
            if elems.is_empty() {
                "?".into()
            } else {
                elems.join(", ")
            }
        );
        for e in &t.entries {
            let _ = writeln!(
                s,
                "    {:<70} {:>10} {:>12}{}",
                e.text,
                count(e.packets, "pkts"),
                count(e.bytes, "bytes"),
                if e.runtime { "  (runtime)" } else { "" }
            );
        }
        let _ = writeln!(
            s,
            "    {:<70} {:>10} {:>12}",
            format!("(default) {}", t.default_action),
            count(t.default_packets, "pkts"),
            count(t.default_bytes, "bytes")
        );
        for d in &t.drift {
            let _ = writeln!(s, "    drift: {d}");
        }
    }
    s
}
