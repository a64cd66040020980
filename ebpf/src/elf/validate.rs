//! Checks an [`ObjectSpec`] before anything is written, so a mistake is reported
//! with the map or instruction it concerns instead of as a loader error later.

use std::collections::HashSet;

use super::{ElfError, ObjectSpec, INSN_SIZE};
use crate::btf::is_identifier;

/// `BPF_LD | BPF_IMM | BPF_DW`: first slot of a 64-bit immediate load.
const LD_IMM64: u8 = 0x18;
/// `BPF_PSEUDO_MAP_FD`: src_reg of an ld_imm64 that loads a map by fd.
const PSEUDO_MAP_FD: u8 = 1;

pub(crate) fn check(spec: &ObjectSpec) -> Result<(), ElfError> {
    let program = spec.program_name;
    if !is_identifier(program) {
        return Err(ElfError::InvalidName {
            what: "program",
            name: program.to_owned(),
        });
    }
    if spec.insns.is_empty() {
        return Err(ElfError::EmptyProgram {
            program: program.to_owned(),
        });
    }
    if !spec.insns.len().is_multiple_of(INSN_SIZE) {
        return Err(ElfError::RaggedProgram {
            program: program.to_owned(),
            len: spec.insns.len(),
        });
    }
    if spec.license.is_empty() || spec.license.contains('\0') {
        return Err(ElfError::BadLicense {
            license: spec.license.to_owned(),
        });
    }

    let mut names = HashSet::new();
    for map in &spec.maps {
        if !is_identifier(&map.name) {
            return Err(ElfError::InvalidName {
                what: "map",
                name: map.name.clone(),
            });
        }
        // The program's FUNC and the maps' VARs share no namespace in BTF, but they
        // do in the ELF symbol table.
        if !names.insert(map.name.as_str()) || map.name == program || map.name == "_license" {
            return Err(ElfError::DuplicateMap {
                name: map.name.clone(),
            });
        }
    }

    let count = spec.insns.len() / INSN_SIZE;
    let mut seen = HashSet::new();
    for r in &spec.map_relocs {
        let i = r.insn_index;
        if !names.contains(r.map.as_str()) {
            return Err(ElfError::UnknownMap {
                insn_index: i,
                map: r.map.clone(),
            });
        }
        if i.checked_add(1).is_none_or(|next| next >= count) {
            return Err(ElfError::RelocOutOfRange {
                insn_index: i,
                count,
            });
        }
        if !seen.insert(i) {
            return Err(ElfError::DuplicateReloc { insn_index: i });
        }
        let slot = &spec.insns[i * INSN_SIZE..(i + 2) * INSN_SIZE];
        let bad = |reason: String| ElfError::BadMapLoad {
            insn_index: i,
            reason,
        };
        if slot[0] != LD_IMM64 {
            return Err(bad(format!(
                "opcode is {:#04x}, expected ld_imm64 (0x18)",
                slot[0]
            )));
        }
        let src = slot[1] >> 4;
        if src != 0 && src != PSEUDO_MAP_FD {
            return Err(bad(format!(
                "src_reg is {src}, expected 0 or BPF_PSEUDO_MAP_FD (1)"
            )));
        }
        // Second slot: opcode 0, registers 0, offset 0; both immediates are filled in
        // by the loader, so anything already there is a mistake.
        if slot[4..8] != [0; 4] || slot[8..12] != [0; 4] || slot[12..16] != [0; 4] {
            return Err(bad(
                "immediates must be 0 and the second slot empty (the loader writes the map fd)"
                    .into(),
            ));
        }
    }
    Ok(())
}
