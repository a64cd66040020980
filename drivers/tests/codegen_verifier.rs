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
use offload_ebpf::codegen::{compile, Compiled, Target};
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

/// Loads `c` with aya and runs it through the verifier.
fn load(c: &Compiled, hook: Hook) -> Ebpf {
    let mut ebpf = EbpfLoader::new()
        .load(&c.object)
        .unwrap_or_else(|e| panic!("aya refused the object: {e:?}"));
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
    if let Err(e) = res {
        let text = format!("{e}");
        panic!("{}", explain_refusal(c, &text));
    }
    ebpf
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
        for slot in 0..spec.max_entries {
            let mut buf = vec![0u8; 16 * ncpu];
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
                        let host = max >> prefix_len.min(k.field.width());
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
}

fn differential(name: &str, module: &Module, hook: Hook, packets: usize, seed: u64) -> Totals {
    let target = match hook {
        Hook::Xdp => Target::xdp(),
        Hook::Tc => Target::tc(),
    };
    let c = compile(module, &target).unwrap();
    let mut ebpf = load(&c, hook);
    fill(&ebpf, module, &c);
    let cands = candidates(module);
    let mut rng = Rng(seed);
    let mut expected: BTreeMap<(String, u32), (u64, u64)> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut run_count = 0;
    let mut refused = 0;
    let mut known_gap = 0;
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
        let trace = semantics::run_traced(module, in_port, &pkt);
        // Known tc gap: `pop_vlan` uses the kernel's skb_vlan_pop, which only
        // pops when skb->protocol is a VLAN TPID — not after our own
        // push_vlan in the same run (bpf_skb_change_head keeps the protocol).
        let push_then_pop = hook == Hook::Tc
            && trace
                .events
                .iter()
                .skip_while(|e| !matches!(e.effect, semantics::Effect::PushVlan { .. }))
                .any(|e| matches!(e.effect, semantics::Effect::PopVlan { .. }));
        if push_then_pop {
            known_gap += 1;
            continue;
        }
        let want = trace.outcome;
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
    if known_gap > 0 {
        eprintln!("{name}/{hook:?}: {known_gap} frames pushed then popped a tag: known tc gap, not compared");
    }
    if refused > 0 {
        eprintln!(
            "{name}/{hook:?}: {refused} frames refused by the kernel's skb test run (not run)"
        );
    }
    Totals {
        packets: run_count,
        mismatches,
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
            let c = compile(&module, &target).unwrap();
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
