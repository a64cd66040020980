//! The eBPF backend on the running kernel: every example, compiled for XDP and
//! tc, loads through aya 0.14 and passes the verifier; then a differential
//! test runs each program under BPF_PROG_TEST_RUN on generated packets (with
//! the example's entries written into the maps through the public layout) and
//! compares verdict, output bytes and counters with the reference interpreter.
//!
//! Needs root; skips with a reason otherwise (a failure with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1).
//!
//! Egress port: under BPF_PROG_TEST_RUN (without live frames) a redirect is
//! only visible as XDP_REDIRECT / TC_ACT_REDIRECT; the port it goes to is
//! checked separately by reading back the map slot the generated code would
//! use — not yet observed on a wire (see the report).

use aya::maps::{Map, MapData};
use aya::programs::{SchedClassifier, Xdp};
use aya::{Ebpf, EbpfLoader, TestRun, TestRunOptions};
use offload_core::ir::{Field, Header, KeyMatch, Module, PortId};
use offload_core::semantics::{self, CounterSlot, Verdict};
use offload_drivers::sys::{self, Kernel};
use offload_drivers::testenv::require_root;
use offload_ebpf::codegen::{compile, CompileError, Compiled, Target};
use offload_ebpf::layout::{Hook, MapRole};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::PathBuf;

fn examples() -> Vec<(String, Module)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut v: Vec<(String, Module)> = std::fs::read_dir(&dir)
        .expect("examples/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let src = std::fs::read_to_string(&p).unwrap();
            let m = offload_core::spec::compile(&src)
                .unwrap_or_else(|d| panic!("{}: {d:?}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), m)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn map_data(map: &Map) -> &MapData {
    match map {
        Map::Array(m)
        | Map::HashMap(m)
        | Map::PerCpuArray(m)
        | Map::LpmTrie(m)
        | Map::DevMap(m) => m,
        other => panic!("unexpected map kind {other:?}"),
    }
}

/// The verifier log's last lines, with the module node behind the last
/// instruction it mentions.
fn explain_refusal(c: &Compiled, log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(25)..];
    let last_insn = tail.iter().rev().find_map(|l| {
        let (n, _) = l.split_once(':')?;
        n.trim().parse::<usize>().ok()
    });
    let node = last_insn
        .and_then(|i| c.node_at(i))
        .map(|s| s.describe())
        .unwrap_or_else(|| "unknown".into());
    format!(
        "verifier refused the program at instruction {last_insn:?} ({node}):\n{}",
        tail.join("\n")
    )
}

/// Loads `c` with aya and runs it through the verifier; a refusal comes
/// back explained in the module's terms.
fn try_load(c: &Compiled, hook: Hook) -> Result<Ebpf, String> {
    let mut ebpf = EbpfLoader::new()
        .load(&c.object)
        .map_err(|e| format!("aya refused the object: {e:?}"))?;
    let prog = ebpf
        .program_mut(&c.program_name)
        .expect("program in object");
    let res = match hook {
        Hook::Xdp => {
            let p: &mut Xdp = prog.try_into().expect("xdp");
            p.load()
        }
        Hook::Tc => {
            let p: &mut SchedClassifier = prog.try_into().expect("classifier");
            p.load()
        }
    };
    match res {
        Ok(()) => Ok(ebpf),
        Err(e) => Err(format!(
            "{}\n{}",
            explain_refusal(c, &format!("{e}")),
            c.explain_verifier_log(&format!("{e}"), None)
        )),
    }
}

fn load(c: &Compiled, hook: Hook) -> Ebpf {
    try_load(c, hook).unwrap_or_else(|e| panic!("{e}"))
}

fn update(ebpf: &Ebpf, name: &str, key: &[u8], value: &[u8]) {
    let m = ebpf.map(name).unwrap_or_else(|| panic!("map {name}"));
    sys::map_update(&Kernel, map_data(m).fd().as_fd(), key, value, 0)
        .unwrap_or_else(|e| panic!("writing map {name}: {e}"));
}

/// Writes the module's entries, defaults and ports through the layout.
fn fill(ebpf: &Ebpf, module: &Module, c: &Compiled) {
    for t in &module.tables {
        let tl = c.layout.table(t.id);
        let entries: Vec<_> = t
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e, i as u32))
            .collect();
        let image = tl.encode_entries(t, &entries).expect("entries encode");
        for (k, v) in &image.entries {
            update(ebpf, &tl.entries_map, k, v);
        }
        if let Some(m) = &tl.masks_map {
            for (k, v) in &image.masks {
                update(ebpf, m, k, v);
            }
        }
        let (k, v) = tl.encode_default(t);
        update(ebpf, &tl.default_map, &k, &v);
    }
    if let Some(crc32) = &c.layout.crc32_map {
        update(
            ebpf,
            crc32,
            &0u32.to_ne_bytes(),
            &offload_ebpf::layout::crc32_table_value(),
        );
    }
    if let Some(ports) = &c.layout.ports_map {
        for p in &module.ports {
            // lo (ifindex 1) is the one device every namespace has; the
            // redirect itself is not performed under BPF_PROG_TEST_RUN.
            let mut v = 1u32.to_ne_bytes().to_vec();
            let spec = c.layout.map(ports).unwrap();
            v.resize(spec.value_size as usize, 0);
            update(ebpf, ports, &u32::from(p.id.0).to_ne_bytes(), &v);
        }
    }
}

/// Packets and bytes per (counters map, slot), summed over CPUs.
fn read_counters(ebpf: &Ebpf, c: &Compiled) -> BTreeMap<(String, u32), (u64, u64)> {
    let ncpu = sys::possible_cpus();
    let mut out = BTreeMap::new();
    for spec in &c.layout.maps {
        if !matches!(spec.role, MapRole::Counters(_)) {
            continue;
        }
        let fd = map_data(ebpf.map(&spec.name).unwrap())
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .unwrap();
        // Per-CPU arrays give one value per possible CPU; shared arrays one.
        let copies = if spec.map_type == offload_ebpf::elf::map_type::PERCPU_ARRAY {
            ncpu
        } else {
            1
        };
        for slot in 0..spec.max_entries {
            let mut buf = vec![0u8; 16 * copies];
            sys::map_lookup(&Kernel, fd.as_fd(), &slot.to_ne_bytes(), &mut buf).unwrap();
            let (mut p, mut b) = (0u64, 0u64);
            for cpu in buf.chunks(16) {
                p += u64::from_ne_bytes(cpu[0..8].try_into().unwrap());
                b += u64::from_ne_bytes(cpu[8..16].try_into().unwrap());
            }
            if p != 0 || b != 0 {
                out.insert((spec.name.clone(), slot), (p, b));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Packet generation: random structure, fields set to values the entries use.

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Values worth putting in each field: what the entries match on, around it.
fn candidates(module: &Module) -> BTreeMap<Field, Vec<u128>> {
    let mut c: BTreeMap<Field, Vec<u128>> = BTreeMap::new();
    for t in &module.tables {
        for e in &t.entries {
            for (k, m) in t.keys.iter().zip(&e.matches) {
                let max = k.field.max_value();
                let v = c.entry(k.field).or_default();
                match *m {
                    KeyMatch::Exact(x) => v.push(x),
                    KeyMatch::Lpm { value, prefix_len } => {
                        // A /128 (or /32) has no host bits: the shift would overflow.
                        let host = max
                            .checked_shr(prefix_len.min(k.field.width()))
                            .unwrap_or(0);
                        v.extend([value, value | (host & 0x5a5a_5a5a), value | host]);
                    }
                    KeyMatch::Ternary { value, mask } => {
                        v.extend([
                            value,
                            value | (!mask & max & 0x0f0f_0f0f),
                            value ^ (mask & max),
                        ]);
                    }
                    KeyMatch::Range { lo, hi } => {
                        v.extend([lo, hi, lo.saturating_sub(1), (hi + 1) & max, (lo + hi) / 2]);
                    }
                }
            }
        }
    }
    c
}

fn put_bits(packet: &mut [u8], start_bit: usize, width: u32, value: u128) {
    for i in 0..width as usize {
        let bit = (value >> (width as usize - 1 - i)) & 1;
        let pos = start_bit + i;
        let (byte, sh) = (pos / 8, 7 - pos % 8);
        if byte < packet.len() {
            packet[byte] = (packet[byte] & !(1 << sh)) | ((bit as u8) << sh);
        }
    }
}

fn gen_packet(rng: &mut Rng, cands: &BTreeMap<Field, Vec<u128>>) -> Vec<u8> {
    let mut p = rng.bytes(12);
    p[0] &= 0xfe;
    let tags = *rng.pick(&[0usize, 0, 0, 1, 1, 2, 3]);
    for _ in 0..tags {
        let tpid: [u8; 2] = if rng.below(3) == 0 {
            [0x88, 0xa8]
        } else {
            [0x81, 0x00]
        };
        p.extend(tpid);
        p.extend(rng.bytes(2));
    }
    let l3 = *rng.pick(&[4u8, 4, 4, 4, 6, 6, 0]);
    match l3 {
        4 => {
            p.extend([0x08, 0x00]);
            let opts = *rng.pick(&[0usize, 0, 0, 1, 2, 10]);
            let ihl = if rng.below(20) == 0 {
                rng.below(5) as u8
            } else {
                5 + opts as u8
            };
            let version = if rng.below(30) == 0 { 6 } else { 4 };
            let proto = *rng.pick(&[6u8, 6, 17, 17, 1, 47]);
            let mut h = vec![(version << 4) | ihl, rng.next() as u8];
            h.extend(rng.bytes(2)); // total length (not checked)
            h.extend(rng.bytes(2)); // id
            let frag: u16 = if rng.below(8) == 0 {
                rng.below(0x2000) as u16
            } else {
                (rng.below(2) as u16) << 14
            };
            h.extend(frag.to_be_bytes());
            h.push(*rng.pick(&[0u8, 1, 2, 64, 255]));
            h.push(proto);
            h.extend(rng.bytes(2 + 8));
            h.extend(rng.bytes(4 * opts));
            p.extend(h);
            push_l4(rng, &mut p, proto);
        }
        6 => {
            p.extend([0x86, 0xdd]);
            let nh = *rng.pick(&[6u8, 17, 58, 0, 44]);
            let mut h = vec![0x60 | (rng.next() as u8 & 0x0f)];
            h.extend(rng.bytes(5));
            h.push(nh);
            h.push(*rng.pick(&[0u8, 1, 2, 64]));
            h.extend(rng.bytes(32));
            p.extend(h);
            push_l4(rng, &mut p, nh);
        }
        _ => {
            p.extend([0x08, 0x06]);
            p.extend(rng.bytes(28));
        }
    }
    // Put entry values into the fields (where the header is valid now).
    let parsed = semantics::parse(&p);
    for (field, values) in cands {
        if rng.below(4) == 0 || *field == Field::MetaInPort {
            continue;
        }
        let info = field.info();
        let base = if *field == Field::EthType {
            parsed.is_valid(Header::Eth).then(|| parsed.l3_offset() - 2)
        } else {
            parsed.offset(info.header)
        };
        let off_bits = if *field == Field::EthType {
            0
        } else {
            info.bit_offset
        };
        if let Some(base) = base {
            put_bits(
                &mut p,
                base * 8 + off_bits as usize,
                info.width,
                *rng.pick(values),
            );
        }
    }
    if rng.below(6) == 0 {
        let cut = rng.below(p.len() as u64 + 1) as usize;
        p.truncate(cut.max(if rng.below(2) == 0 { 14 } else { 0 }));
    }
    p
}

fn push_l4(rng: &mut Rng, p: &mut Vec<u8>, proto: u8) {
    match proto {
        6 => {
            let mut h = rng.bytes(20);
            h[12] = (*rng.pick(&[5u8, 5, 6, 8, 4]) << 4) | (h[12] & 0x0f);
            if rng.below(4) == 0 {
                h[16] = 0;
                h[17] = 0;
            }
            p.extend(h);
        }
        17 => {
            let mut h = rng.bytes(8);
            match rng.below(4) {
                0 => h[6..8].copy_from_slice(&[0, 0]),
                1 => h[6..8].copy_from_slice(&[0xff, 0xff]),
                _ => {}
            }
            p.extend(h);
        }
        _ => p.extend(rng.bytes(8)),
    }
    let n = rng.below(24) as usize;
    p.extend(rng.bytes(n));
}

// ---------------------------------------------------------------------------

fn xdp_code(v: &Verdict) -> u32 {
    match v {
        Verdict::Drop => 1,
        Verdict::Pass => 2,
        Verdict::Tx => 3,
        Verdict::Forward(_) => 4,
    }
}
fn tc_code(v: &Verdict) -> u32 {
    match v {
        Verdict::Drop => 2,
        Verdict::Pass => 0,
        Verdict::Tx | Verdict::Forward(_) => 7,
    }
}

/// `xdp_md` / `__sk_buff` with the ingress ifindex set to lo (1). The kernel
/// wants `xdp_md.data_end` = the frame length.
fn ctx_in(hook: Hook, len: usize) -> Vec<u8> {
    match hook {
        Hook::Xdp => {
            let mut c = vec![0u8; 24];
            c[4..8].copy_from_slice(&(len as u32).to_ne_bytes());
            c[12..16].copy_from_slice(&1u32.to_ne_bytes());
            c
        }
        Hook::Tc => {
            let mut c = vec![0u8; 192];
            c[36..40].copy_from_slice(&1u32.to_ne_bytes());
            c
        }
    }
}

struct Totals {
    packets: usize,
    mismatches: Vec<String>,
    /// The backend refused the module for this hook (documented limit).
    refused: Option<String>,
}

fn differential(name: &str, module: &Module, hook: Hook, packets: usize, seed: u64) -> Totals {
    let target = match hook {
        Hook::Xdp => Target::xdp(),
        Hook::Tc => Target::tc(),
    };
    differential_for(name, module, target, packets, seed)
}

fn differential_for(
    name: &str,
    module: &Module,
    target: Target,
    packets: usize,
    seed: u64,
) -> Totals {
    let hook = target.hook;
    let c = match compile(module, &target) {
        Ok(c) => c,
        // A documented refusal (e.g. tc and a second VLAN change), not a result.
        Err(e @ CompileError::Unsupported { .. }) => {
            return Totals {
                packets: 0,
                mismatches: Vec::new(),
                refused: Some(e.to_string()),
            }
        }
        Err(e) if refused_by_name(name, &e.to_string()) => {
            return Totals {
                packets: 0,
                mismatches: Vec::new(),
                refused: Some(e.to_string()),
            }
        }
        Err(e) => {
            return Totals {
                packets: 0,
                mismatches: vec![format!("{name}/{hook:?}: does not compile: {e}")],
                refused: None,
            }
        }
    };
    let mut ebpf = match try_load(&c, hook) {
        Ok(e) => e,
        Err(e) => {
            return Totals {
                packets: 0,
                mismatches: vec![format!("{name}/{hook:?}: {e}")],
                refused: None,
            }
        }
    };
    fill(&ebpf, module, &c);
    let cands = candidates(module);
    let mut rng = Rng(seed);
    let mut expected: BTreeMap<(String, u32), (u64, u64)> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut run_count = 0;
    let mut refused = 0;
    for i in 0..packets {
        let pkt = gen_packet(&mut rng, &cands);
        // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.
        if pkt.len() < 14 {
            continue;
        }
        let in_port = if let (Some(m), Some(p)) = (
            &c.layout.in_ports_map,
            module
                .ports
                .get(rng.below(module.ports.len() as u64 + 1) as usize),
        ) {
            update(
                &ebpf,
                m,
                &1u32.to_ne_bytes(),
                &u32::from(p.id.0).to_ne_bytes(),
            );
            p.id
        } else {
            if let Some(m) = &c.layout.in_ports_map {
                update(&ebpf, m, &1u32.to_ne_bytes(), &0xffffu32.to_ne_bytes());
            }
            PortId(0xffff)
        };
        let want = semantics::run(module, in_port, &pkt);
        let mut out = vec![0u8; pkt.len() + 64];
        let ctx = ctx_in(hook, pkt.len());
        let prog = ebpf.program_mut(&c.program_name).unwrap();
        let opts = TestRunOptions {
            data_in: Some(&pkt),
            data_out: Some(&mut out),
            ctx_in: Some(&ctx),
            repeat: 1,
            ..Default::default()
        };
        let r = match hook {
            Hook::Xdp => {
                let p: &mut Xdp = prog.try_into().unwrap();
                p.test_run(opts)
            }
            Hook::Tc => {
                let p: &mut SchedClassifier = prog.try_into().unwrap();
                p.test_run(opts)
            }
        };
        let r = match r {
            Ok(r) => r,
            // The kernel's skb test run refuses some malformed frames (e.g. an
            // IPv4 EtherType with fewer than 20 header bytes) before the
            // program runs; count them, they are not a backend result.
            Err(_) if hook == Hook::Tc => {
                refused += 1;
                continue;
            }
            Err(e) => panic!(
                "{name}/{hook:?} packet {i}: test run failed: {e:?} (input {} bytes: {})",
                pkt.len(),
                hex(&pkt)
            ),
        };
        run_count += 1;
        for hit in &want.counters {
            let tl = c.layout.table(hit.table);
            let slot = match hit.slot {
                CounterSlot::Entry(e) => e as u32,
                CounterSlot::Default => tl.default_slot,
            };
            let e = expected
                .entry((tl.counters_map.clone().unwrap(), slot))
                .or_default();
            e.0 += 1;
            e.1 += hit.bytes;
        }
        let code = match hook {
            Hook::Xdp => xdp_code(&want.verdict),
            Hook::Tc => tc_code(&want.verdict),
        };
        let got = &out[..r.data_size_out as usize];
        if r.return_value != code || got != want.packet.as_slice() {
            mismatches.push(format!(
                "{name}/{hook:?} packet {i} (in_port {}): want {:?} (code {code}), got code {}\n  in   {}\n  want {}\n  got  {}",
                in_port.0,
                want.verdict,
                r.return_value,
                hex(&pkt),
                hex(&want.packet),
                hex(got)
            ));
        }
    }
    let got = read_counters(&ebpf, &c);
    if got != expected {
        eprintln!("{name}/{hook:?}: counters differ\n  want {expected:?}\n  got  {got:?}");
        mismatches.push(format!(
            "{name}/{hook:?}: counters differ\n  want {expected:?}\n  got  {got:?}"
        ));
    }
    if refused > 0 {
        eprintln!(
            "{name}/{hook:?}: {refused} frames refused by the kernel's skb test run (not run)"
        );
    }
    Totals {
        packets: run_count,
        mismatches,
        refused: None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_example_passes_the_verifier_for_xdp_and_tc() {
    if !require_root("every_example_passes_the_verifier_for_xdp_and_tc") {
        return;
    }
    for (name, module) in examples() {
        for (hook, target) in [(Hook::Xdp, Target::xdp()), (Hook::Tc, Target::tc())] {
            let c = match compile(&module, &target) {
                Ok(c) => c,
                Err(e @ CompileError::Unsupported { .. })
                    if name == "l2-switch" && hook == Hook::Tc =>
                {
                    eprintln!("{name}/{hook:?}: refused as documented: {e}");
                    continue;
                }
                Err(e) if refused_by_name(&name, &e.to_string()) => {
                    eprintln!("{name}/{hook:?}: refused by name, as documented: {e}");
                    continue;
                }
                Err(e) => panic!("{name}/{hook:?}: {e}"),
            };
            let _ebpf = load(&c, hook);
            eprintln!(
                "{name}/{hook:?}: {} instructions, {} stack bytes: verified",
                c.program.insns.len(),
                c.stack_bytes
            );
        }
    }
}

#[test]
fn examples_agree_with_the_reference_interpreter() {
    if !require_root("examples_agree_with_the_reference_interpreter") {
        return;
    }
    let n: usize = std::env::var("OFFLOAD_DIFF_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut total = 0;
    let mut mismatches = Vec::new();
    for (idx, (name, module)) in examples().into_iter().enumerate() {
        for hook in [Hook::Xdp, Hook::Tc] {
            let t = differential(
                &name,
                &module,
                hook,
                n,
                0x9e37_79b9_7f4a_7c15 ^ (idx as u64 + 1),
            );
            if let Some(why) = &t.refused {
                assert!(
                    (name == "l2-switch" && hook == Hook::Tc) || refused_by_name(&name, why),
                    "{name}/{hook:?} refused: {why}"
                );
            }
            total += t.packets;
            mismatches.extend(t.mismatches);
        }
        // The NFP variant (shared atomic counters, unrolled mask probes),
        // where the module fits the profile, run on the host's verifier.
        let nfp = Target::xdp_offload(offload_core::plan::Profile::nfp());
        if compile(&module, &nfp).is_ok() {
            let t = differential_for(
                &format!("{name}[nfp]"),
                &module,
                nfp,
                n / 2,
                0x1234 ^ idx as u64,
            );
            eprintln!("{name}[nfp]: {} packets on the host verifier", t.packets);
            total += t.packets;
            mismatches.extend(t.mismatches);
        }
    }
    eprintln!(
        "differential: {total} packets, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches over {total} packets; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------
// Random modules: random headers, match kinds, actions and sizes, built as
// IR that keeps every invariant `offload_core::ir` documents.

mod random_module {
    use super::Rng;
    use offload_core::ir::*;
    use offload_core::Span;
    use std::collections::BTreeSet;

    const WRITABLE: [Field; 13] = [
        Field::EthDst,
        Field::EthSrc,
        Field::VlanVid,
        Field::VlanPcp,
        Field::Ipv4Src,
        Field::Ipv4Dst,
        Field::Ipv4Ttl,
        Field::Ipv4Dscp,
        Field::Ipv6Src,
        Field::Ipv6Dst,
        Field::Ipv6HopLimit,
        Field::L4SrcPort,
        Field::L4DstPort,
    ];

    fn param_type(f: Field) -> ParamType {
        match f.kind() {
            FieldKind::Mac => ParamType::Mac,
            FieldKind::Ipv4 => ParamType::Ipv4,
            FieldKind::Ipv6 => ParamType::Ipv6,
            _ => ParamType::Uint(f.width()),
        }
    }

    fn rand_value(rng: &mut Rng, width: u32) -> u128 {
        let v = (u128::from(rng.next()) << 64) | u128::from(rng.next());
        v & mask_of_width(width)
    }

    /// A few values per field, so entries and packets meet.
    fn pool(rng: &mut Rng, f: Field) -> Vec<u128> {
        (0..3).map(|_| rand_value(rng, f.width())).collect()
    }

    fn arg(rng: &mut Rng, ty: ParamType, ports: &[Port]) -> u128 {
        match ty {
            ParamType::Port => u128::from(ports[rng.below(ports.len() as u64) as usize].id.0),
            other => rand_value(rng, other.width()),
        }
    }

    pub fn generate(rng: &mut Rng, idx: usize) -> Module {
        let nports = 1 + rng.below(4) as usize;
        let mut ids: Vec<u16> = (1..=8).collect();
        let ports: Vec<Port> = (0..nports)
            .map(|i| {
                let id = ids.remove(rng.below(ids.len() as u64) as usize);
                Port {
                    name: format!("p{i}"),
                    id: PortId(id),
                    span: Span::default(),
                }
            })
            .collect();

        // Actions.
        let nactions = 2 + rng.below(4) as usize;
        let mut actions = Vec::new();
        for a in 0..nactions {
            let mut params: Vec<Param> = Vec::new();
            let mut body = Vec::new();
            let operand = |rng: &mut Rng, ty: ParamType, params: &mut Vec<Param>| {
                if rng.below(2) == 0 {
                    params.push(Param {
                        name: format!("a{}", params.len()),
                        ty,
                    });
                    Operand::Param(params.len() - 1)
                } else {
                    Operand::Const(match ty {
                        ParamType::Port => {
                            u128::from(ports[rng.below(ports.len() as u64) as usize].id.0)
                        }
                        other => rand_value(rng, other.width()),
                    })
                }
            };
            for _ in 0..rng.below(4) {
                let prim = match rng.below(6) {
                    0..=2 => {
                        let field = *rng.pick(&WRITABLE);
                        Primitive::Set {
                            field,
                            value: operand(rng, param_type(field), &mut params),
                        }
                    }
                    3 => Primitive::DecTtl,
                    4 => Primitive::PushVlan(operand(rng, ParamType::Uint(12), &mut params)),
                    _ => Primitive::PopVlan,
                };
                body.push(prim);
            }
            match rng.below(6) {
                0 => body.push(Primitive::Drop),
                1 => body.push(Primitive::Pass),
                2 => body.push(Primitive::Tx),
                3 => body.push(Primitive::Forward(operand(
                    rng,
                    ParamType::Port,
                    &mut params,
                ))),
                _ => {}
            }
            actions.push(Action {
                id: ActionId(a as u32),
                name: format!("act{a}"),
                params,
                body,
                span: Span::default(),
            });
        }

        // Tables.
        let ntables = 1 + rng.below(3) as usize;
        let mut tables = Vec::new();
        for t in 0..ntables {
            let nkeys = 1 + rng.below(3) as usize;
            let mut fields: BTreeSet<Field> = BTreeSet::new();
            let mut keys = Vec::new();
            let mut has_lpm = false;
            while keys.len() < nkeys {
                // Tunnel fields: every backend refuses them (Need::Vxlan).
                let f = *rng.pick(Field::ALL);
                if f.is_tunnel() {
                    continue;
                }
                if !fields.insert(f) {
                    continue;
                }
                let kinds: Vec<MatchKind> = [
                    MatchKind::Exact,
                    MatchKind::Lpm,
                    MatchKind::Ternary,
                    MatchKind::Range,
                ]
                .into_iter()
                .filter(|k| f.allows(*k) && !(has_lpm && *k == MatchKind::Lpm))
                .collect();
                let kind = *rng.pick(&kinds);
                has_lpm |= kind == MatchKind::Lpm;
                keys.push(Key {
                    field: f,
                    kind,
                    span: Span::default(),
                    hash: None,
                });
            }
            let mut table_actions: Vec<ActionId> = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let a = ActionId(rng.below(nactions as u64) as u32);
                if !table_actions.contains(&a) {
                    table_actions.push(a);
                }
            }
            let call = |rng: &mut Rng, a: ActionId| ActionCall {
                action: a,
                args: actions[a.0 as usize]
                    .params
                    .iter()
                    .map(|p| arg(rng, p.ty, &ports))
                    .collect(),
            };
            let da = *rng.pick(&table_actions);
            let default_action = call(rng, da);
            let mut table = Table {
                meter: None,
                id: TableId(t as u32),
                name: format!("tab{t}"),
                keys,
                actions: table_actions.clone(),
                default_action,
                size: 16 + rng.below(200) as u32,
                counters: rng.below(3) != 0,
                entries: Vec::new(),
                span: Span::default(),
            };
            let pools: Vec<Vec<u128>> = table.keys.iter().map(|k| pool(rng, k.field)).collect();
            let needs_prio = table.needs_priority();
            let mut prios: Vec<u32> = (1..100).collect();
            let mut seen = BTreeSet::new();
            for _ in 0..rng.below(10) {
                let matches: Vec<KeyMatch> = table
                    .keys
                    .iter()
                    .zip(&pools)
                    .map(|(k, pool)| {
                        let w = k.field.width();
                        let v = *rng.pick(pool);
                        match k.kind {
                            MatchKind::Exact => KeyMatch::Exact(v),
                            MatchKind::Lpm => {
                                let len = rng.below(u64::from(w) + 1) as u32;
                                KeyMatch::Lpm {
                                    value: v & prefix_mask(w, len),
                                    prefix_len: len,
                                }
                            }
                            MatchKind::Ternary => {
                                let mask = match rng.below(4) {
                                    0 => 0,
                                    1 => mask_of_width(w),
                                    2 => prefix_mask(w, rng.below(u64::from(w) + 1) as u32),
                                    _ => rand_value(rng, w),
                                };
                                KeyMatch::Ternary {
                                    value: v & mask,
                                    mask,
                                }
                            }
                            _ => {
                                let a = v;
                                let b = (v + u128::from(rng.below(40))).min(mask_of_width(w));
                                match rng.below(4) {
                                    0 => KeyMatch::Range {
                                        lo: 0,
                                        hi: mask_of_width(w),
                                    },
                                    _ => KeyMatch::Range {
                                        lo: a.min(b),
                                        hi: a.max(b),
                                    },
                                }
                            }
                        }
                    })
                    .collect();
                // Exact/LPM tables: one entry per key.
                if !needs_prio && !seen.insert(format!("{matches:?}")) {
                    continue;
                }
                let priority =
                    needs_prio.then(|| prios.remove(rng.below(prios.len() as u64) as usize));
                let a = *rng.pick(&table_actions);
                table.entries.push(Entry {
                    meter: None,
                    matches,
                    priority,
                    action: call(rng, a),
                    span: Span::default(),
                });
            }
            tables.push(table);
        }
        Module {
            name: format!("random{idx}"),
            default_verdict: if rng.below(2) == 0 {
                DefaultVerdict::Pass
            } else {
                DefaultVerdict::Drop
            },
            ports,
            tables,
            actions,
        }
    }
}

#[test]
fn random_modules_pass_the_verifier_and_agree_with_the_reference() {
    if !require_root("random_modules_pass_the_verifier_and_agree_with_the_reference") {
        return;
    }
    let modules: usize = std::env::var("OFFLOAD_RANDOM_MODULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let packets: usize = std::env::var("OFFLOAD_RANDOM_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let seed: u64 = std::env::var("OFFLOAD_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(seed | 1);
    let mut total = 0;
    let mut mismatches = Vec::new();
    let mut skipped_masks = 0;
    let mut refused = 0;
    for i in 0..modules {
        let module = random_module::generate(&mut rng, i);
        // A table whose entries need more masks than the layout holds is a
        // compile-time refusal by design; those modules are counted apart.
        let layout = offload_ebpf::layout::for_module(
            &module,
            Hook::Xdp,
            offload_ebpf::layout::DEFAULT_MAX_MASKS,
        );
        if module.tables.iter().any(|t| {
            let e: Vec<_> = t.entries.iter().map(|e| (e, 0)).collect();
            layout.table(t.id).encode_entries(t, &e).is_err()
        }) {
            skipped_masks += 1;
            continue;
        }
        for hook in [Hook::Xdp, Hook::Tc] {
            let t = differential(&module.name, &module, hook, packets, rng.next() | 1);
            refused += usize::from(t.refused.is_some());
            total += t.packets;
            if !t.mismatches.is_empty() {
                eprintln!("module {i}: {module:#?}");
            }
            mismatches.extend(t.mismatches);
        }
    }
    eprintln!(
        "random: {modules} modules ({skipped_masks} over the mask bound, {refused} module/hook pairs refused by documented limits), {total} packets, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches over {total} packets; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(6)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------
// Egress observed on a wire: BPF_F_TEST_XDP_LIVE_FRAMES runs the program on
// a real frame with the redirect performed, into a DEVMAP of veths in a lab;
// the frame is captured in the namespace of the host behind each port.

/// The frame a host captures: AF_PACKET without auxdata shows a received
/// frame with its outer VLAN tag moved to skb metadata by the receive path.
fn same_on_wire(want: &[u8], got: &[u8]) -> bool {
    if want == got {
        return true;
    }
    let tagged = want.len() >= 18 && matches!(&want[12..14], [0x81, 0x00] | [0x88, 0xa8]);
    tagged && got.len() + 4 == want.len() && got[..12] == want[..12] && got[12..] == want[16..]
}

/// Examples the eBPF backend refuses by name on every hook: VXLAN is
/// defined in the reference only (README "VXLAN"). The refusal must name it.
fn refused_by_name(name: &str, why: &str) -> bool {
    name == "vxlan-gateway"
        && why.contains("does not generate VXLAN")
        && why.contains("vxlan_encap")
}

fn live_egress(name: &str, module: &Module, packets: usize, seed: u64) -> (usize, Vec<String>) {
    use offload_drivers::lab::packet::PacketSocket;
    use offload_drivers::lab::Lab;
    use std::time::Duration;

    let c = match compile(module, &Target::xdp()) {
        Ok(c) => c,
        Err(e) if refused_by_name(name, &e.to_string()) => {
            eprintln!("{name}: refused by name, as documented: {e}");
            return (0, Vec::new());
        }
        Err(e) => panic!("{name}: {e}"),
    };
    let mut ebpf = load(&c, Hook::Xdp);
    fill(&ebpf, module, &c);
    let mut lab = Lab::new("eg");
    let mut hosts = Vec::new();
    // A module without ports still needs an ingress wire for `tx`.
    let mut ids: Vec<PortId> = module.ports.iter().map(|p| p.id).collect();
    if ids.is_empty() {
        ids.push(PortId(0xffff));
    }
    for (i, id) in ids.iter().enumerate() {
        let ip = std::net::Ipv4Addr::new(10, 77, i as u8, 2);
        let p = Port { id: *id };
        let h = lab
            .add_host(&format!("p{}", p.id.0), ip, 24)
            .expect("lab host");
        let sock = PacketSocket::open_in(&h.netns, &h.iface).expect("capture socket");
        hosts.push((p.id, h, sock));
    }
    if let Some(ports) = &c.layout.ports_map {
        for (id, h, _) in &hosts {
            let mut v = h.outer_ifindex.to_ne_bytes().to_vec();
            v.extend(0u32.to_ne_bytes());
            update(&ebpf, ports, &u32::from(id.0).to_ne_bytes(), &v);
        }
    }
    if let Some(m) = &c.layout.in_ports_map {
        for (id, h, _) in &hosts {
            update(
                &ebpf,
                m,
                &h.outer_ifindex.to_ne_bytes(),
                &u32::from(id.0).to_ne_bytes(),
            );
        }
    }
    // Some kernels refuse BPF_F_TEST_XDP_LIVE_FRAMES even to root (EPERM,
    // seen on a 6.18 Firecracker build): then the program is attached to
    // every host's outer veth (SKB mode) and each frame is sent from the
    // ingress host's side of the wire — the same frame into the same
    // program on the same interface, the verdict carried out by the kernel.
    let live = {
        let prog: &mut Xdp = ebpf
            .program_mut(&c.program_name)
            .unwrap()
            .try_into()
            .unwrap();
        let mut ctx = vec![0u8; 24];
        ctx[4..8].copy_from_slice(&60u32.to_ne_bytes());
        ctx[12..16].copy_from_slice(&hosts[0].1.outer_ifindex.to_ne_bytes());
        // An all-zero frame: no table matches it as a real frame would
        // (EtherType 0), and wherever its verdict sends it no capture
        // compares it with anything.
        let probe = [0u8; 60];
        match prog.test_run(TestRunOptions {
            data_in: Some(&probe),
            ctx_in: Some(&ctx),
            repeat: 1,
            attrs: aya::TestRunAttrs::new().xdp_live_frames(1),
            ..Default::default()
        }) {
            Ok(_) => true,
            Err(e) if format!("{e:?}").contains("PermissionDenied") => {
                eprintln!("{name}: the kernel refuses XDP live frames ({e:?}): frames are sent from the ingress host into the attached program");
                false
            }
            Err(e) => panic!("{name}: live test run probe: {e:?}"),
        }
    };
    if !live {
        let prog: &mut Xdp = ebpf
            .program_mut(&c.program_name)
            .unwrap()
            .try_into()
            .unwrap();
        for (_, h, _) in &hosts {
            prog.attach(&h.outer, aya::programs::xdp::XdpMode::Skb)
                .expect("attach for the sent-frames fallback");
        }
        // Let the links settle before the first frame.
        std::thread::sleep(Duration::from_millis(50));
        for (_, _, s) in &hosts {
            let _ = s.drain(Duration::from_millis(5));
        }
    }
    let cands = candidates(module);
    let mut rng = Rng(seed);
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let mut egress = 0;
    let mut unobservable = 0;
    for i in 0..packets {
        let pkt = gen_packet(&mut rng, &cands);
        if pkt.len() < 14 {
            continue;
        }
        let in_ix = rng.below(hosts.len() as u64) as usize;
        let (in_port, in_host) = {
            let (id, h, _) = &hosts[in_ix];
            (*id, h.clone())
        };
        let want = semantics::run(module, in_port, &pkt);
        let expect_at = match want.verdict {
            Verdict::Forward(p) => Some(p),
            Verdict::Tx => Some(in_port),
            _ => None,
        };
        // A frame out of the program that the peer's receive path frees
        // (a VLAN tag cut short) reaches no capture; its meaning is checked
        // by the test-run differential, not here.
        if expect_at.is_some() && !offload_drivers::validate::live::observable(&want.packet) {
            unobservable += 1;
            continue;
        }
        for (_, _, s) in &hosts {
            let _ = s.drain(Duration::from_millis(1));
        }
        if !live {
            if let Err(e) = hosts[in_ix].2.send(&pkt) {
                mismatches.push(format!(
                    "{name} packet {i}: sending it from the ingress host failed: {e}"
                ));
                continue;
            }
        }
        let mut ctx = vec![0u8; 24];
        ctx[4..8].copy_from_slice(&(pkt.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&in_host.outer_ifindex.to_ne_bytes());
        let prog: &mut Xdp = ebpf
            .program_mut(&c.program_name)
            .unwrap()
            .try_into()
            .unwrap();
        let opts = TestRunOptions {
            data_in: Some(&pkt),
            ctx_in: Some(&ctx),
            repeat: 1,
            attrs: aya::TestRunAttrs::new().xdp_live_frames(1),
            ..Default::default()
        };
        if live {
            if let Err(e) = prog.test_run(opts) {
                mismatches.push(format!("{name} packet {i}: live test run failed: {e:?}"));
                continue;
            }
        }
        checked += 1;
        egress += usize::from(expect_at.is_some());
        for (id, _, s) in &hosts {
            let wait = if Some(*id) == expect_at { 300 } else { 5 };
            let got = s.drain(Duration::from_millis(wait)).unwrap_or_default();
            let arrived: Vec<&Vec<u8>> = got
                .iter()
                .filter(|f| same_on_wire(&want.packet, f))
                .collect();
            let n = arrived.len();
            if Some(*id) == expect_at && n != 1 {
                mismatches.push(format!(
                    "{name} packet {i}: {:?} expected once at port {}, seen {n} times ({} other frames)\n  want {}",
                    want.verdict,
                    id.0,
                    got.len() - n,
                    hex(&want.packet)
                ));
            } else if Some(*id) != expect_at && n != 0 {
                mismatches.push(format!(
                    "{name} packet {i}: {:?} but seen at port {}",
                    want.verdict, id.0
                ));
            }
        }
    }
    eprintln!(
        "{name}: {egress} of {checked} live frames expected on a wire (forward/tx); \
         {unobservable} not run: their output is a VLAN tag cut short, which Linux frees on receive"
    );
    (checked, mismatches)
}

/// Just the port id (the lab names hosts after it).
struct Port {
    id: PortId,
}

#[test]
fn redirects_and_tx_leave_through_the_right_port_on_a_wire() {
    if !require_root("redirects_and_tx_leave_through_the_right_port_on_a_wire") {
        return;
    }
    let n: usize = std::env::var("OFFLOAD_LIVE_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let mut total = 0;
    let mut mismatches = Vec::new();
    for (idx, (name, module)) in examples().into_iter().enumerate() {
        let (k, m) = live_egress(&name, &module, n, 0xabcdef ^ idx as u64);
        eprintln!("{name}: {k} frames run live, {} mismatches", m.len());
        total += k;
        mismatches.extend(m);
    }
    assert!(total > 0);
    assert!(
        mismatches.is_empty(),
        "{} mismatches over {total} live frames:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
