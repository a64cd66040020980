//! `offloadctl hwdb VENDOR:DEVICE | DRIVER` prints one hardware-database entry
//! with the source of every claim; `offloadctl hwdb --list` lists them all.

use offload_hwdb::{pci_names, Entry, Hwdb, Key};
use std::fmt::Write as _;

/// Options of `offloadctl hwdb`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// PCI id (`19ee:4000`, `15b3:1017:15b3:0007`) or a driver name (`netdevsim`)
    pub query: Option<String>,
    /// List every entry
    #[arg(long, conflicts_with = "query")]
    pub list: bool,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let db = Hwdb::builtin()?;
    if args.list {
        if args.json {
            println!("{}", serde_json::to_string_pretty(db.entries())?);
        } else {
            print!("{}", list_text(&db));
        }
        return Ok(0);
    }
    let Some(q) = &args.query else {
        anyhow::bail!("give a PCI id (e.g. `offloadctl hwdb 19ee:4000`), a driver name, or --list");
    };
    let entry = db.lookup_str(q).map_err(|e| anyhow::anyhow!(e))?;
    match entry {
        Some(e) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(e)?);
            } else {
                print!("{}", entry_text(e));
            }
            Ok(0)
        }
        None => {
            eprintln!("no hwdb entry for {q} (`offloadctl hwdb --list` shows what is known)");
            Ok(1)
        }
    }
}

fn list_text(db: &Hwdb) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<22} {:<8} {:<10} {:<6} {:<6} {:<8} {:<9} FAMILY",
        "KEY", "KIND", "DRIVER", "NATIVE", "ZC", "OFFLOAD", "PROFILE"
    );
    let b = |c: &Option<offload_hwdb::Claim<bool>>| match c {
        Some(c) if c.value => "yes",
        Some(_) => "no",
        None => "-",
    };
    for e in db.entries() {
        let _ = writeln!(
            s,
            "{:<22} {:<8} {:<10} {:<6} {:<6} {:<8} {:<9} {}",
            e.key.to_string(),
            format!("{:?}", e.kind).to_lowercase(),
            e.driver.as_ref().map(|d| d.value.as_str()).unwrap_or("-"),
            b(&e.xdp_native),
            b(&e.xdp_zero_copy),
            b(&e.xdp_hw_offload),
            e.offload_profile
                .as_ref()
                .map(|p| p.value.as_str())
                .or(e.switch_arch.as_ref().map(|a| a.value.as_str()))
                .unwrap_or("-"),
            e.family
        );
    }
    let _ = writeln!(
        s,
        "{} entries; `offloadctl hwdb KEY` shows the sources",
        db.entries().len()
    );
    s
}

fn entry_text(e: &Entry) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} ({})", e.family, e.key);
    if let Key::Pci {
        vendor,
        device: Some(device),
        subsystem,
    } = e.key
    {
        let n = pci_names(vendor, device, subsystem, None);
        let _ = writeln!(
            s,
            "  pci.ids: {} / {}",
            n.vendor.unwrap_or("(unknown vendor)"),
            n.device.unwrap_or("(device not in pci.ids)")
        );
    }
    let _ = writeln!(s, "  kind: {:?}, data file: hwdb/data/{}", e.kind, e.file);
    for (name, value, source) in e.claims() {
        let _ = writeln!(s, "  {name}: {value}\n      source: {source}");
    }
    s
}
