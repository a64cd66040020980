//! `offloadctl lab up|down NAME`: a named veth/netns topology for tests, CI and
//! trying things by hand. Each host is a network namespace `offload-NAME-HOST`
//! with `eth0`, wired to an interface in this namespace (printed) to which
//! modules are applied (`offloadctl apply … --on IFACE --port P=IFACE`).

use super::deployed::missing_root;
use anyhow::Context as _;
use offload_drivers::lab::{format_mac, Lab};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Lab name (letters and digits; used in namespace and interface names)
    pub name: String,
    /// HOST=ADDR/LEN, repeatable; default: the edge-router example's hosts
    /// (uplink=10.0.1.2/24, servers=192.168.1.2/24, backup=192.168.2.2/16)
    #[arg(long = "host", value_name = "HOST=ADDR/LEN")]
    pub hosts: Vec<String>,
    /// Print the lab as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DownArgs {
    pub name: String,
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.len() > 9 || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        anyhow::bail!(
            "lab name {name:?}: use 1 to 9 letters or digits (it becomes part of interface names)"
        );
    }
    Ok(())
}

pub fn up(args: &UpArgs) -> anyhow::Result<i32> {
    if let Some(line) = missing_root("lab up") {
        eprintln!("{line}");
        return Ok(2);
    }
    check_name(&args.name)?;
    let specs: Vec<String> = if args.hosts.is_empty() {
        vec![
            "uplink=10.0.1.2/24".into(),
            "servers=192.168.1.2/24".into(),
            "backup=192.168.2.2/16".into(),
        ]
    } else {
        args.hosts.clone()
    };
    let mut lab = Lab::named(&args.name);
    if offload_drivers::lab::netns_exists(&format!(
        "{}-{}",
        lab.name(),
        specs[0].split('=').next().unwrap_or("")
    )) {
        anyhow::bail!(
            "lab {} is already up; `offloadctl lab down {}` first",
            args.name,
            args.name
        );
    }
    for s in &specs {
        let (host, cidr) = s
            .split_once('=')
            .with_context(|| format!("--host {s}: write HOST=ADDR/LEN"))?;
        let (addr, len) = cidr
            .split_once('/')
            .with_context(|| format!("--host {s}: the address needs /LEN"))?;
        let ip: Ipv4Addr = addr
            .parse()
            .with_context(|| format!("--host {s}: {addr} is not an IPv4 address"))?;
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .with_context(|| format!("--host {s}: /{len} is not a prefix length"))?;
        lab.add_host(host, ip, len)?;
    }
    // Up and stays up: `lab down` removes it.
    lab.keep();
    if args.json {
        let hosts: Vec<serde_json::Value> = lab
            .hosts()
            .iter()
            .map(|h| {
                serde_json::json!({
                    "host": h.name, "netns": h.netns, "iface": h.iface, "ip": h.ip.to_string(),
                    "prefix_len": h.prefix_len, "mac": format_mac(&h.mac), "outer": h.outer,
                    "outer_mac": format_mac(&h.outer_mac),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"lab": args.name, "hosts": hosts}))?
        );
    } else {
        println!("lab {} is up:", args.name);
        for h in lab.hosts() {
            println!(
                "  {:<10} {}/{} in netns {} (mac {}), wired to {} here",
                h.name,
                h.ip,
                h.prefix_len,
                h.netns,
                format_mac(&h.mac),
                h.outer
            );
        }
    }
    Ok(0)
}

pub fn down(args: &DownArgs) -> anyhow::Result<i32> {
    if let Some(line) = missing_root("lab down") {
        eprintln!("{line}");
        return Ok(2);
    }
    check_name(&args.name)?;
    let n = Lab::down_named(&args.name)?;
    if n == 0 {
        println!("lab {} was not up", args.name);
    } else {
        println!("lab {} removed ({n} namespaces and interfaces)", args.name);
    }
    Ok(0)
}
