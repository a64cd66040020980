//! The objects `offload_ebpf::elf::write_object` produces, loaded by the real
//! loaders on the running kernel: aya 0.14 (maps created with the declared sizes,
//! program accepted by the verifier, run under BPF_PROG_TEST_RUN), the kernel's BTF
//! checker (BPF_BTF_LOAD of the `.BTF` section), and libbpf 1.1 through bpftool,
//! `ip link … xdp obj` and `tc filter … bpf obj`.
//!
//! Needs root. The libbpf-based tools are looked up on PATH; when one is missing the
//! test says so and skips, unless OFFLOAD_REQUIRE_KERNEL_TESTS=1 (CI installs them:
//! `apt-get install -y bpftool iproute2`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use aya::maps::{HashMap, Map, MapData, PerCpuArray};
use aya::programs::{SchedClassifier, Xdp};
use aya::{EbpfLoader, TestRun, TestRunOptions};
use offload_drivers::testenv::{require_root, REQUIRE_ENV};
use offload_ebpf::elf::{
    map_type, write_object, DataType, Field, MapDef, MapReloc, ObjectSpec, ProgramSection,
    BPF_F_NO_PREALLOC,
};

// ---------------------------------------------------------------------------------
// The sample program, assembled by hand (independent of the instruction builder).

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | dst;
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

const XDP_PASS: u32 = 2;
const TC_ACT_OK: u32 = 0;
const COUNTER_KEY: u32 = 7;

/// Increments `counters[7]` (HASH u32 → u64, created on the fly is not possible from
/// BPF without update, so the test seeds it) and `stats[0].packets` (PERCPU_ARRAY with
/// a BTF-described value), then returns `ret`. `routes` (LPM_TRIE, BTF key struct)
/// and `ports` (DEVMAP) are defined but not referenced: loaders create them anyway.
fn sample_spec(section: ProgramSection, ret: u32, insns: &mut Vec<u8>) -> ObjectSpec<'_> {
    let mut p: Vec<[u8; 8]> = vec![
        insn(0x62, 10, 0, -4, COUNTER_KEY as i32), // *(u32 *)(r10 - 4) = 7
        insn(0xbf, 2, 10, 0, 0),                   // r2 = r10
        insn(0x07, 2, 0, 0, -4),                   // r2 += -4
    ];
    let counters_at = p.len();
    p.push(insn(0x18, 1, 0, 0, 0)); // r1 = map counters (ld_imm64)
    p.push(insn(0, 0, 0, 0, 0));
    p.extend([
        insn(0x85, 0, 0, 0, 1),   // call bpf_map_lookup_elem
        insn(0x15, 0, 0, 2, 0),   // if r0 == 0 goto +2
        insn(0xb7, 1, 0, 0, 1),   // r1 = 1
        insn(0xdb, 0, 1, 0, 0),   // lock *(u64 *)(r0 + 0) += r1
        insn(0x62, 10, 0, -8, 0), // *(u32 *)(r10 - 8) = 0
        insn(0xbf, 2, 10, 0, 0),  // r2 = r10
        insn(0x07, 2, 0, 0, -8),  // r2 += -8
    ]);
    let stats_at = p.len();
    p.push(insn(0x18, 1, 1, 0, 0)); // r1 = map stats (src_reg = BPF_PSEUDO_MAP_FD)
    p.push(insn(0, 0, 0, 0, 0));
    p.extend([
        insn(0x85, 0, 0, 0, 1),          // call bpf_map_lookup_elem
        insn(0x15, 0, 0, 3, 0),          // if r0 == 0 goto +3
        insn(0x79, 1, 0, 0, 0),          // r1 = *(u64 *)(r0 + 0)
        insn(0x07, 1, 0, 0, 1),          // r1 += 1
        insn(0x7b, 0, 1, 0, 0),          // *(u64 *)(r0 + 0) = r1
        insn(0xb7, 0, 0, 0, ret as i32), // r0 = ret
        insn(0x95, 0, 0, 0, 0),          // exit
    ]);
    *insns = p.concat();

    let u64_field = |name: &str, offset| Field {
        name: name.into(),
        offset,
        ty: DataType::Uint { bytes: 8 },
    };
    let stats = MapDef {
        key_type: Some(DataType::Uint { bytes: 4 }),
        value_type: Some(DataType::Struct {
            name: Some("stats_value".into()),
            size: 16,
            fields: vec![u64_field("packets", 0), u64_field("bytes", 8)],
        }),
        ..MapDef::sized("stats", map_type::PERCPU_ARRAY, 4, 16, 4)
    };
    let routes = MapDef {
        map_flags: BPF_F_NO_PREALLOC,
        key_type: Some(DataType::Struct {
            name: Some("route_key".into()),
            size: 8,
            fields: vec![
                Field {
                    name: "prefixlen".into(),
                    offset: 0,
                    ty: DataType::Uint { bytes: 4 },
                },
                Field {
                    name: "addr".into(),
                    offset: 4,
                    ty: DataType::Bytes { len: 4 },
                },
            ],
        }),
        value_type: Some(DataType::Uint { bytes: 4 }),
        ..MapDef::sized("routes", map_type::LPM_TRIE, 8, 4, 64)
    };
    ObjectSpec {
        program_section: section,
        program_name: "offload_prog",
        insns,
        map_relocs: vec![
            MapReloc {
                insn_index: counters_at,
                map: "counters".into(),
            },
            MapReloc {
                insn_index: stats_at,
                map: "stats".into(),
            },
        ],
        maps: vec![
            MapDef::sized("counters", map_type::HASH, 4, 8, 16),
            stats,
            routes,
            // `struct bpf_devmap_val` (ifindex + program fd): the value size aya
            // forces for DEVMAPs on kernels that support it, so declare it ourselves.
            MapDef::sized("ports", map_type::DEVMAP, 4, 8, 8),
        ],
        license: "GPL",
    }
}

fn sample_object(section: ProgramSection, ret: u32) -> Vec<u8> {
    let mut insns = Vec::new();
    let spec = sample_spec(section, ret, &mut insns);
    write_object(&spec).expect("sample spec is valid")
}

/// `BPF_F_RDONLY_PROG`: the kernel adds it to every DEVMAP (`dev_map_alloc_check`).
const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// (name, type, key size, value size, max entries, flags) the kernel must report
/// for maps aya created.
const EXPECTED_MAPS: [(&str, u32, u32, u32, u32, u32); 4] = [
    ("counters", map_type::HASH, 4, 8, 16, 0),
    ("stats", map_type::PERCPU_ARRAY, 4, 16, 4, 0),
    ("routes", map_type::LPM_TRIE, 8, 4, 64, BPF_F_NO_PREALLOC),
    ("ports", map_type::DEVMAP, 4, 8, 8, BPF_F_RDONLY_PROG),
];

fn map_data(map: &Map) -> &MapData {
    match map {
        Map::HashMap(m) | Map::PerCpuArray(m) | Map::LpmTrie(m) | Map::DevMap(m) => m,
        other => panic!("unexpected map kind {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// aya

/// Loads the object with aya, checks the maps the kernel created, then runs the
/// program `RUNS` times under BPF_PROG_TEST_RUN and reads the counters back.
fn load_and_run_with_aya(section: ProgramSection, ret: u32) {
    const RUNS: u32 = 5;
    let bytes = sample_object(section, ret);
    let mut ebpf = EbpfLoader::new()
        .load(&bytes)
        .unwrap_or_else(|e| panic!("aya refused the {section:?} object: {e:?}"));

    for (name, ty, key, value, max, flags) in EXPECTED_MAPS {
        let map = ebpf
            .map(name)
            .unwrap_or_else(|| panic!("aya created no map `{name}`"));
        let info = map_data(map)
            .info()
            .expect("BPF_OBJ_GET_INFO_BY_FD on a map");
        assert_eq!(
            (
                info.key_size(),
                info.value_size(),
                info.max_entries(),
                info.map_flags()
            ),
            (key, value, max, flags),
            "map `{name}` sizes/flags"
        );
        assert_eq!(
            info.map_type().ok().map(|t| t as u32),
            Some(ty),
            "map `{name}` type"
        );
    }

    // Seed counters[7] = 100 so the increment is observable.
    {
        let mut counters: HashMap<_, u32, u64> =
            HashMap::try_from(ebpf.map_mut("counters").unwrap()).unwrap();
        counters.insert(COUNTER_KEY, 100, 0).unwrap();
    }

    let packet = sample_packet();
    let run = |result: Result<aya::TestRunResult, aya::programs::ProgramError>| {
        let r = result.expect("BPF_PROG_TEST_RUN");
        assert_eq!(r.return_value, ret, "program return code");
    };
    let opts = || TestRunOptions {
        data_in: Some(&packet),
        // One run per call: with repeat > 1 the kernel stops with EINTR when a
        // signal is pending between repetitions (seen under a loaded test run).
        repeat: 1,
        ..Default::default()
    };
    match section {
        ProgramSection::Xdp => {
            let prog: &mut Xdp = ebpf
                .program_mut("offload_prog")
                .expect("program offload_prog")
                .try_into()
                .expect("an XDP program");
            prog.load()
                .unwrap_or_else(|e| panic!("verifier refused the XDP program: {e:?}"));
            for _ in 0..RUNS {
                run(prog.test_run(opts()));
            }
        }
        ProgramSection::Classifier => {
            let prog: &mut SchedClassifier = ebpf
                .program_mut("offload_prog")
                .expect("program offload_prog")
                .try_into()
                .expect("a classifier program");
            prog.load()
                .unwrap_or_else(|e| panic!("verifier refused the tc program: {e:?}"));
            for _ in 0..RUNS {
                run(prog.test_run(opts()));
            }
        }
    }

    let counters: HashMap<_, u32, u64> = HashMap::try_from(ebpf.map("counters").unwrap()).unwrap();
    assert_eq!(
        counters.get(&COUNTER_KEY, 0).unwrap(),
        100 + u64::from(RUNS)
    );
    let stats: PerCpuArray<_, [u64; 2]> =
        PerCpuArray::try_from(ebpf.map("stats").unwrap()).unwrap();
    let packets: u64 = stats.get(&0, 0).unwrap().iter().map(|v| v[0]).sum();
    assert_eq!(
        packets,
        u64::from(RUNS),
        "stats[0].packets summed over CPUs"
    );
}

/// An Ethernet + IPv4 + UDP frame; the program does not parse it, but tc's test run
/// needs at least an Ethernet header.
fn sample_packet() -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    p[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[23] = 17;
    p
}

#[test]
fn aya_loads_and_runs_xdp_object() {
    if !require_root("aya_loads_and_runs_xdp_object") {
        return;
    }
    load_and_run_with_aya(ProgramSection::Xdp, XDP_PASS);
}

#[test]
fn aya_loads_and_runs_classifier_object() {
    if !require_root("aya_loads_and_runs_classifier_object") {
        return;
    }
    load_and_run_with_aya(ProgramSection::Classifier, TC_ACT_OK);
}

// ---------------------------------------------------------------------------------
// The kernel's BTF checker, directly

/// Bytes of section `name` of a little-endian ELF64 file (enough of a reader for
/// our own objects, so the test does not depend on the writer's crate to read back).
fn elf_section<'a>(elf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |i: usize| shoff + i * shentsize;
    let names = u64_at(header(shstrndx) + 24);
    (0..shnum).find_map(|i| {
        let h = header(i);
        let n = names + u32_at(h);
        let end = n + elf[n..].iter().position(|b| *b == 0)?;
        (&elf[n..end] == name.as_bytes()).then(|| {
            let (off, size) = (u64_at(h + 24), u64_at(h + 32));
            &elf[off..off + size]
        })
    })
}

/// BPF_BTF_LOAD; on refusal, the kernel's BTF log.
fn kernel_btf_load(btf: &[u8]) -> Result<(), String> {
    #[repr(C)]
    struct BtfLoadAttr {
        btf: u64,
        btf_log_buf: u64,
        btf_size: u32,
        btf_log_size: u32,
        btf_log_level: u32,
    }
    const BPF_BTF_LOAD: libc::c_long = 18;
    let mut log = vec![0u8; 64 * 1024];
    let attr = BtfLoadAttr {
        btf: btf.as_ptr() as u64,
        btf_log_buf: log.as_mut_ptr() as u64,
        btf_size: btf.len() as u32,
        btf_log_size: log.len() as u32,
        btf_log_level: 1,
    };
    // SAFETY: attr points at live buffers of the sizes given, for the call's duration.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_BTF_LOAD,
            &attr as *const BtfLoadAttr,
            std::mem::size_of::<BtfLoadAttr>(),
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        return Err(format!("{err}: {}", String::from_utf8_lossy(&log[..end])));
    }
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

#[test]
fn kernel_accepts_object_btf() {
    if !require_root("kernel_accepts_object_btf") {
        return;
    }
    for section in [ProgramSection::Xdp, ProgramSection::Classifier] {
        let bytes = sample_object(section, 0);
        let btf = elf_section(&bytes, ".BTF").expect("object has .BTF");
        kernel_btf_load(btf).unwrap_or_else(|log| panic!("kernel refused {section:?} BTF: {log}"));
    }
}

// ---------------------------------------------------------------------------------
// libbpf-based tools

/// `true` when `tool` runs; otherwise prints why the test skips (or panics when
/// kernel tests are mandatory).
fn require_tool(test: &str, tool: &str, package: &str) -> bool {
    let found = Command::new(tool)
        .arg(if tool == "bpftool" { "version" } else { "-V" })
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let reason = format!("`{tool}` is not installed (apt-get install -y {package})");
        if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
            panic!("{test}: {reason}, and {REQUIRE_ENV}=1 forbids skipping");
        }
        offload_drivers::testenv::announce_skip(test, &reason);
    }
    found
}

static UNIQUE: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}_{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch file, a bpffs pin and a netns, all removed on drop (also on panic).
#[derive(Default)]
struct Cleanup {
    files: Vec<PathBuf>,
    netns: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn write_temp_object(cleanup: &mut Cleanup, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.o", unique("offload_elf_")));
    std::fs::write(&path, bytes).unwrap();
    cleanup.files.push(path.clone());
    path
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ensure_bpffs() {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if !mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf "))
    {
        run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]));
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bpftool JSON: {e}: {text}"))
}

fn bpftool_loads(section: ProgramSection, ret: u32, prog_type: &str) {
    let mut cleanup = Cleanup::default();
    let obj = write_temp_object(&mut cleanup, &sample_object(section, ret));
    ensure_bpffs();
    let pin = Path::new("/sys/fs/bpf").join(unique("offload_elf_"));
    cleanup.files.push(pin.clone());
    run(Command::new("bpftool")
        .arg("prog")
        .arg("load")
        .arg(&obj)
        .arg(&pin));

    let prog = json(&run(Command::new("bpftool")
        .args(["-j", "prog", "show", "pinned"])
        .arg(&pin)));
    assert_eq!(prog["type"], prog_type, "{prog}");
    assert_eq!(prog["name"], "offload_prog", "{prog}");
    assert_eq!(prog["gpl_compatible"], true, "{prog}");
    let map_ids = prog["map_ids"].as_array().expect("map_ids").clone();
    assert_eq!(
        map_ids.len(),
        2,
        "the program uses counters and stats: {prog}"
    );

    let mut seen = Vec::new();
    for id in map_ids {
        let map = json(&run(Command::new("bpftool")
            .args(["-j", "map", "show", "id"])
            .arg(id.to_string())));
        let name = map["name"].as_str().unwrap().to_owned();
        let (_, _, key, value, max, _) = EXPECTED_MAPS
            .iter()
            .find(|m| m.0 == name)
            .unwrap_or_else(|| panic!("unexpected map {map}"));
        assert_eq!(
            (&map["bytes_key"], &map["bytes_value"], &map["max_entries"]),
            (&(*key).into(), &(*value).into(), &(*max).into()),
            "{map}"
        );
        // `stats` describes key and value in BTF: libbpf must have loaded the
        // object's BTF into the kernel and created the map with it.
        if name == "stats" {
            assert!(
                map["btf_id"].as_u64().is_some_and(|id| id > 0),
                "stats has no BTF: {map}"
            );
        }
        seen.push(name);
    }
    seen.sort();
    assert_eq!(seen, ["counters", "stats"]);
}

#[test]
fn bpftool_loads_xdp_object() {
    if !require_root("bpftool_loads_xdp_object")
        || !require_tool("bpftool_loads_xdp_object", "bpftool", "bpftool")
    {
        return;
    }
    bpftool_loads(ProgramSection::Xdp, XDP_PASS, "xdp");
}

#[test]
fn bpftool_loads_classifier_object() {
    if !require_root("bpftool_loads_classifier_object")
        || !require_tool("bpftool_loads_classifier_object", "bpftool", "bpftool")
    {
        return;
    }
    bpftool_loads(ProgramSection::Classifier, TC_ACT_OK, "sched_cls");
}

/// A fresh netns holding a veth pair `veth0`/`veth1`.
fn veth_netns(cleanup: &mut Cleanup) -> String {
    let ns = unique("offelf");
    run(Command::new("ip").args(["netns", "add", &ns]));
    cleanup.netns.push(ns.clone());
    run(Command::new("ip").args([
        "-n", &ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]));
    run(Command::new("ip").args(["-n", &ns, "link", "set", "veth0", "up"]));
    run(Command::new("ip").args(["-n", &ns, "link", "set", "veth1", "up"]));
    ns
}

#[test]
fn iproute2_attaches_xdp_and_tc_objects() {
    let test = "iproute2_attaches_xdp_and_tc_objects";
    if !require_root(test)
        || !require_tool(test, "ip", "iproute2")
        || !require_tool(test, "tc", "iproute2")
    {
        return;
    }
    let mut cleanup = Cleanup::default();
    let xdp = write_temp_object(&mut cleanup, &sample_object(ProgramSection::Xdp, XDP_PASS));
    let cls = write_temp_object(
        &mut cleanup,
        &sample_object(ProgramSection::Classifier, TC_ACT_OK),
    );
    let ns = veth_netns(&mut cleanup);

    run(Command::new("ip")
        .args([
            "-n",
            &ns,
            "link",
            "set",
            "dev",
            "veth0",
            "xdpgeneric",
            "obj",
        ])
        .arg(&xdp)
        .args(["sec", "xdp"]));
    let link =
        json(&run(Command::new("ip").args([
            "-n", &ns, "-j", "-d", "link", "show", "dev", "veth0",
        ])));
    let prog_name = &link[0]["xdp"]["prog"]["name"];
    assert_eq!(prog_name, "offload_prog", "xdp not attached: {link}");

    run(Command::new("tc").args(["-n", &ns, "qdisc", "add", "dev", "veth0", "clsact"]));
    run(Command::new("tc")
        .args([
            "-n", &ns, "filter", "add", "dev", "veth0", "ingress", "bpf", "da", "obj",
        ])
        .arg(&cls)
        .args(["sec", "classifier"]));
    let filters =
        run(Command::new("tc").args(["-n", &ns, "filter", "show", "dev", "veth0", "ingress"]));
    assert!(
        filters.contains("offload_prog") && filters.contains("direct-action"),
        "tc filter not attached:\n{filters}"
    );
}
