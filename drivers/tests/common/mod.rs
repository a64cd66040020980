//! Small hand-made BPF objects for loader tests, written with the project's
//! own ELF writer (no codegen needed): a forwarder that redirects every frame
//! through DEVMAP slot 0, and pass-everything programs.
#![allow(dead_code)]

use offload_ebpf::elf::{map_type, write_object, MapDef, MapReloc, ObjectSpec, ProgramSection};

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | dst;
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

/// XDP: `return bpf_redirect_map(&ports, 0, XDP_PASS)`.
/// `name` changes the program name (and nothing else).
pub fn xdp_forwarder(name: &str) -> Vec<u8> {
    let mut code = Vec::new();
    code.extend(insn(0x18, 1, 0, 0, 0)); // r1 = &ports (ld_imm64, relocated)
    code.extend(insn(0x00, 0, 0, 0, 0));
    code.extend(insn(0xb7, 2, 0, 0, 0)); // r2 = 0
    code.extend(insn(0xb7, 3, 0, 0, 2)); // r3 = XDP_PASS (on a miss)
    code.extend(insn(0x85, 0, 0, 0, 51)); // call bpf_redirect_map
    code.extend(insn(0x95, 0, 0, 0, 0)); // exit
    write_object(&ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: name,
        insns: &code,
        map_relocs: vec![MapReloc {
            insn_index: 0,
            map: "ports".into(),
        }],
        maps: vec![MapDef {
            name: "ports".into(),
            map_type: map_type::DEVMAP,
            key_size: 4,
            value_size: 4,
            max_entries: 4,
            map_flags: 0,
            key_type: None,
            value_type: None,
        }],
        license: "GPL",
    })
    .expect("forwarder object")
}

/// tc: `return bpf_redirect(ifindex, 0)`, ifindex from an ARRAY slot 0.
pub fn tc_forwarder(name: &str) -> Vec<u8> {
    let mut code = Vec::new();
    // key = 0 on the stack at r10-4
    code.extend(insn(0x62, 10, 0, -4, 0)); // *(u32 *)(r10 - 4) = 0
    code.extend(insn(0x18, 1, 0, 0, 0)); // r1 = &ports
    code.extend(insn(0x00, 0, 0, 0, 0));
    code.extend(insn(0xbf, 2, 10, 0, 0)); // r2 = r10
    code.extend(insn(0x07, 2, 0, 0, -4)); // r2 += -4
    code.extend(insn(0x85, 0, 0, 0, 1)); // call bpf_map_lookup_elem
    code.extend(insn(0x55, 0, 0, 2, 0)); // if r0 != 0 goto +2
    code.extend(insn(0xb7, 0, 0, 0, 0)); // r0 = TC_ACT_OK
    code.extend(insn(0x95, 0, 0, 0, 0)); // exit
    code.extend(insn(0x61, 1, 0, 0, 0)); // r1 = *(u32 *)(r0 + 0)
    code.extend(insn(0xb7, 2, 0, 0, 0)); // r2 = 0
    code.extend(insn(0x85, 0, 0, 0, 23)); // call bpf_redirect
    code.extend(insn(0x95, 0, 0, 0, 0)); // exit
    write_object(&ObjectSpec {
        program_section: ProgramSection::Classifier,
        program_name: name,
        insns: &code,
        map_relocs: vec![MapReloc {
            insn_index: 1,
            map: "ports".into(),
        }],
        maps: vec![MapDef {
            name: "ports".into(),
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 4,
            map_flags: 0,
            key_type: None,
            value_type: None,
        }],
        license: "GPL",
    })
    .expect("tc forwarder object")
}

/// XDP: `return XDP_PASS`.
pub fn xdp_pass(name: &str) -> Vec<u8> {
    let mut code = Vec::new();
    code.extend(insn(0xb7, 0, 0, 0, 2));
    code.extend(insn(0x95, 0, 0, 0, 0));
    write_object(&ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: name,
        insns: &code,
        map_relocs: vec![],
        maps: vec![],
        license: "GPL",
    })
    .expect("pass object")
}

/// An Ethernet frame from `src` to `dst` with an unused EtherType and a
/// sequence number, so no stack reacts to it and each one is recognisable.
pub fn test_frame(dst: &[u8; 6], src: &[u8; 6], seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(dst);
    f.extend_from_slice(src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(b"offload-seq:");
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(64, 0);
    f
}

pub fn frame_seq(f: &[u8]) -> Option<u32> {
    if f.len() >= 30 && f[12..14] == [0x88, 0xb5] && &f[14..26] == b"offload-seq:" {
        Some(u32::from_be_bytes([f[26], f[27], f[28], f[29]]))
    } else {
        None
    }
}
