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
    /// Also start a BMv2 switch (simple_switch_grpc, P4Runtime on 127.0.0.1)
    /// whose ports 1..N are the hosts' interfaces, for a `[[switch]]` placement
    #[arg(long)]
    pub bmv2: bool,
}

/// Where `lab up --bmv2` records the switch it started.
fn bmv2_record(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from("/run/offload-lab").join(format!("{name}.bmv2.json"))
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
    let mut switch = None;
    if args.bmv2 {
        let tools = offload_drivers::p4rt::tools::GrpcTools::find()?;
        let ports: Vec<(u32, String)> = lab
            .hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| (i as u32 + 1, h.outer.clone()))
            .collect();
        let dir = std::path::PathBuf::from("/run/offload-lab").join(&args.name);
        let sw = offload_drivers::testkit_bmv2::GrpcSwitch::start(&tools, None, &ports, 1, &dir)?;
        let rec = serde_json::json!({"pid": sw.pid(), "grpc": sw.addr, "device_id": 1,
            "ports": ports.iter().map(|(n, i)| serde_json::json!({"port": n, "iface": i})).collect::<Vec<_>>(),
            "log": sw.log.display().to_string()});
        std::fs::write(bmv2_record(&args.name), serde_json::to_string_pretty(&rec)?)?;
        switch = Some(rec);
        // It keeps running after this command: `lab down` stops it.
        std::mem::forget(sw);
    }
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
            serde_json::to_string_pretty(
                &serde_json::json!({"lab": args.name, "hosts": hosts, "bmv2": switch})
            )?
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
        if let Some(sw) = &switch {
            println!(
                "  BMv2 simple_switch_grpc (pid {}) with ports 1..{} = the interfaces above, P4Runtime at {}",
                sw["pid"],
                lab.hosts().len(),
                sw["grpc"].as_str().unwrap_or("?")
            );
            println!(
                "  for deploy.toml:  [[switch]]  name = \"{}\"  grpc = \"{}\"  device_id = 1",
                args.name,
                sw["grpc"].as_str().unwrap_or("?")
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
    if let Ok(text) = std::fs::read_to_string(bmv2_record(&args.name)) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if let Some(pid) = v["pid"].as_u64().filter(|p| *p > 0) {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            println!("stopped the lab's BMv2 switch (pid {pid})");
        }
        let _ = std::fs::remove_file(bmv2_record(&args.name));
        let _ =
            std::fs::remove_dir_all(std::path::PathBuf::from("/run/offload-lab").join(&args.name));
    }
    let n = Lab::down_named(&args.name)?;
    if n == 0 {
        println!("lab {} was not up", args.name);
    } else {
        println!("lab {} removed ({n} namespaces and interfaces)", args.name);
    }
    Ok(0)
}
