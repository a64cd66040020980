//! `offloadctl run`: hex and pcap/pcapng input, text and JSON output, and the
//! errors a user gets for bad input.

use etherparse::PacketBuilder;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn offloadctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offloadctl"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A unique scratch file path, removed on drop.
struct Scratch(PathBuf);
impl Scratch {
    fn new(name: &str) -> Scratch {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Scratch(std::env::temp_dir().join(format!("offload-run-{}-{n}-{name}", std::process::id())))
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn ssh_syn(src: [u8; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 1])
        .ipv4(src, [192, 168, 1, 20], 64)
        .tcp(40000, 22, 1, 1024)
        .syn()
        .write(&mut v, b"x")
        .unwrap();
    v
}

#[test]
fn hex_text_output() {
    let o = offloadctl(&[
        "run",
        "examples/edge-router.toml",
        "--in-port",
        "uplink",
        "--hex",
        &hex(&ssh_syn([10, 0, 0, 5])),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("in on uplink (1)"), "{out}");
    assert!(out.contains("table acl: hit entry 0"), "{out}");
    assert!(
        out.contains("eth.dst 02:00:00:00:00:01 -> 02:00:00:00:00:02"),
        "{out}"
    );
    assert!(out.contains("ipv4.ttl 64 -> 63"), "{out}");
    assert!(out.contains("verdict: forward to servers (2)"), "{out}");
    assert!(out.contains("counter: routes entry 0 +1 packet"), "{out}");
}

#[test]
fn json_output_by_port_number() {
    let pkts = [ssh_syn([10, 0, 0, 5]), ssh_syn([172, 16, 0, 1])];
    let o = offloadctl(&[
        "run",
        "examples/edge-router.toml",
        "--in-port",
        "1",
        "--json",
        "--hex",
        &hex(&pkts[0]),
        "--hex",
        &hex(&pkts[1]),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let p = &doc["packets"];
    assert_eq!(p[0]["verdict"], "forward");
    assert_eq!(p[0]["egress_port"]["name"], "servers");
    assert_eq!(p[0]["changed"], true);
    assert_eq!(p[0]["effects"][2]["field"], "ipv4.ttl");
    assert_eq!(p[0]["effects"][2]["old"], "64");
    assert_eq!(p[0]["effects"][2]["new"], "63");
    assert_eq!(p[1]["verdict"], "drop");
    assert_eq!(p[1]["steps"][0]["result"], "hit");
    assert_eq!(p[1]["steps"][0]["action"], "deny");
    assert_eq!(doc["in_port"]["name"], "uplink");
    // Totals over both packets.
    let acl: Vec<&Value> = doc["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["table"] == "acl")
        .collect();
    assert_eq!(acl.len(), 2);
    assert_eq!(acl[0]["packets"], 1);
}

fn write_pcap(path: &str, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::with_header(
        f,
        PcapHeader {
            datalink: pcap_file::DataLink::ETHERNET,
            ..Default::default()
        },
    )
    .unwrap();
    for (i, fr) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_secs(i as u64),
            fr.len() as u32,
            fr,
        ))
        .unwrap();
    }
}

fn write_pcapng(path: &str, frames: &[Vec<u8>]) {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapNgWriter::new(f).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock::new(
        pcap_file::DataLink::ETHERNET,
        0xffff,
    ))
    .unwrap();
    for fr in frames {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: std::time::Duration::from_secs(1),
            original_len: fr.len() as u32,
            data: std::borrow::Cow::Borrowed(fr),
            options: vec![],
        })
        .unwrap();
    }
}

#[test]
fn pcap_and_pcapng_input() {
    let frames = vec![
        ssh_syn([10, 0, 0, 5]),
        ssh_syn([172, 16, 0, 1]),
        ssh_syn([172, 16, 0, 2]),
    ];
    for ng in [false, true] {
        let s = Scratch::new(if ng { "x.pcapng" } else { "x.pcap" });
        if ng {
            write_pcapng(s.path(), &frames);
        } else {
            write_pcap(s.path(), &frames);
        }
        let o = offloadctl(&[
            "run",
            "examples/edge-router.toml",
            "--in-port",
            "uplink",
            "--pcap",
            s.path(),
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let verdicts: Vec<&str> = doc["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["verdict"].as_str().unwrap())
            .collect();
        assert_eq!(verdicts, ["forward", "drop", "drop"], "pcapng: {ng}");
        let denied = doc["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["table"] == "acl" && c["slot"] == "entry 1")
            .unwrap();
        assert_eq!(denied["packets"], 2);
        // Text mode prints the totals too.
        let o = offloadctl(&[
            "run",
            "examples/edge-router.toml",
            "--in-port",
            "uplink",
            "--pcap",
            s.path(),
        ]);
        assert!(
            stdout(&o).contains("counters after 3 packets:"),
            "{}",
            stdout(&o)
        );
        assert!(
            stdout(&o).contains("acl entry 1: 2 packets"),
            "{}",
            stdout(&o)
        );
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let m = "examples/edge-router.toml";
    let o = offloadctl(&["run", m, "--in-port", "uplnk", "--hex", "00"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `uplink`?"),
        "{}",
        stderr(&o)
    );
    let o = offloadctl(&["run", m, "--in-port", "1", "--hex", "0g"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`g` is not a hex digit"),
        "{}",
        stderr(&o)
    );
    let o = offloadctl(&["run", m, "--in-port", "1", "--hex", "abc"]);
    assert!(
        stderr(&o).contains("odd number of hex digits"),
        "{}",
        stderr(&o)
    );
    // Neither --hex nor --pcap: clap refuses.
    let o = offloadctl(&["run", m, "--in-port", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--hex"), "{}", stderr(&o));
    // Not a capture.
    let o = offloadctl(&["run", m, "--in-port", "1", "--pcap", m]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("neither pcap nor pcapng"),
        "{}",
        stderr(&o)
    );
    let o = offloadctl(&["run", m, "--in-port", "1", "--pcap", "/nonexistent/x.pcap"]);
    assert!(stderr(&o).contains("cannot open capture"), "{}", stderr(&o));
    // A truncated pcap: the header is fine, the packet record is cut.
    let s = Scratch::new("cut.pcap");
    write_pcap(s.path(), &[ssh_syn([1, 1, 1, 1])]);
    let bytes = std::fs::read(s.path()).unwrap();
    std::fs::write(s.path(), &bytes[..bytes.len() - 10]).unwrap();
    let o = offloadctl(&["run", m, "--in-port", "1", "--pcap", s.path()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("packet 1 is corrupt"), "{}", stderr(&o));
    // A bad module: exit 1 with diagnostics.
    let bad = Scratch::new("bad.toml");
    std::fs::write(bad.path(), "[module]\nname = 3\n").unwrap();
    let o = offloadctl(&["run", bad.path(), "--in-port", "1", "--hex", "00"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn malformed_frames_run_fine() {
    // A 3-byte frame and a truncated IPv4 header: no header valid, default verdict.
    let syn = ssh_syn([10, 0, 0, 5]);
    let o = offloadctl(&[
        "run",
        "examples/edge-router.toml",
        "--in-port",
        "1",
        "--hex",
        "010203",
        "--hex",
        &hex(&syn[..30]),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("headers: meta\n"), "{out}");
    assert!(out.contains("headers: meta eth\n"), "{out}");
    assert!(
        out.contains("table acl: skipped (no valid ipv4 header)"),
        "{out}"
    );
    assert!(out.contains("verdict: pass"), "{out}");
}

#[test]
fn run_shows_what_a_hash_key_hashed_and_its_bucket() {
    // UDP 10.0.1.2:3333 -> 10.1.1.1:53: the 5-tuple bytes, zlib.crc32 of
    // them is 0x3b6d1d6f (computed with Python's zlib), bucket 15 of 16.
    let frame = "02000000000002000000000a08004500002800000000401100000a0001020a0101010d05003500140000000000000000000000";
    let o = offloadctl(&[
        "run",
        "examples/l3-router-ecmp.toml",
        "--in-port",
        "host",
        "--hex",
        frame,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("hash: crc32(0a0001020a010101110d050035) = 0x3b6d1d6f, bucket 15"),
        "{text}"
    );
    assert!(text.contains("hash=15 -> set_nhop"), "{text}");
    let o = offloadctl(&[
        "run",
        "examples/l3-router-ecmp.toml",
        "--in-port",
        "host",
        "--json",
        "--hex",
        frame,
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let step = &v["packets"][0]["steps"][1];
    assert_eq!(step["hash"]["bucket"], 15, "{v:#}");
    assert_eq!(step["hash"]["crc32"], 0x3b6d_1d6f_u32, "{v:#}");
}
