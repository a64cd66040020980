//! A service chain as one program per module, linked by tail calls.
//!
//! ```text
//!  hook ──► chain_entry ──tail call slot 0──► module 0 ──pass: slot 1──► module 1 … ──► module n-1 ──pass──► host
//!                                                │ drop/forward/tx: the hook's verdict, the chain ends
//! ```
//!
//! - `chain_entry` (the dispatcher, attached to the hook) only tail-calls
//!   slot 0 of the `chain_progs` PROG_ARRAY. Replacing a module is then one
//!   slot update: the other programs, their ids and their maps stay.
//! - Module k is compiled alone, from its own IR, with its own maps (named
//!   as for a single module); every way its pipeline reaches `pass` (the
//!   primitive, `dec_ttl` expiry, a `pass` default: the pass exit) tail-calls
//!   slot k + 1. The last module's pass is the hook's pass. `drop`,
//!   `forward` and `tx` return the hook's verdict at once, as `run_chain`
//!   says.
//! - **An empty slot drops** (`XDP_DROP` / `TC_ACT_SHOT`): `bpf_tail_call`
//!   returns only when the slot is empty (or the kernel's limit of 33 tail
//!   calls is reached), and a chain with a module missing must not let
//!   frames skip it — a filter left out would let through what it blocks.
//!   Fail closed.
//! - The meaning is the reference's without extra work: each program reads
//!   the packet pointers and length afresh (counter bytes are the length as
//!   the frame reached that module) and parses the frame as the previous
//!   module left it; its stack starts empty, so `meta.group` is 0 in each
//!   module; `meta.in_port` is looked up from the context's ingress ifindex
//!   (the same context crosses tail calls) in the module's own `in_ports`
//!   map, which the loader fills alike for every module.
//! - tc's VLAN rule holds across the chain as for the fused program: it is
//!   checked on the fused module (a `pop_vlan` after an earlier module's VLAN
//!   change is refused, naming both).
//! - Only the host kernel: NIC offload profiles are refused by name.

use super::{compile_segments, flavor, tc_vlan_check, CompileError, Compiled, Target};
use crate::asm::{Helper, MapRef, Program, Reg::*};
use crate::elf::{map_type, MapDef};
use crate::layout::Hook;
use offload_core::ir::chain::{fuse, ChainError, Segment};
use offload_core::ir::Module;

/// The PROG_ARRAY of a linked chain (slot k = module k).
pub const PROG_ARRAY: &str = "chain_progs";
/// The dispatcher's symbol.
pub const ENTRY_NAME: &str = "chain_entry";
/// The kernel's `MAX_TAIL_CALL_CNT`: a chain of n modules makes n tail calls
/// (the dispatcher's and one per module but the last).
pub const MAX_TAIL_CALLS: usize = 33;
/// Slots of `chain_progs`: fixed, so a chain can grow or shrink without a
/// new array (every program of a chain must reference the same one).
pub const SLOTS: u32 = MAX_TAIL_CALLS as u32;

/// Where a module program's pass goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailCall {
    /// The PROG_ARRAY's object name ([`PROG_ARRAY`]).
    pub map: String,
    pub slot: u32,
}

/// The dispatcher: attached to the hook, tail-calls slot 0.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    pub object: Vec<u8>,
    pub program_name: String,
    pub hook: Hook,
    pub insns: usize,
}

/// A chain compiled as linked programs.
#[derive(Debug, Clone)]
pub struct Linked {
    pub entry: Dispatcher,
    /// Module k's program (for slot k), compiled from the module's own IR:
    /// its layout names the module's own tables.
    pub modules: Vec<Compiled>,
}

/// Why a chain cannot be linked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Refused(CompileError),
    #[error("module {} of the chain (`{module}`) does not compile: {source}", index + 1)]
    Module {
        index: usize,
        module: String,
        #[source]
        source: CompileError,
    },
}

impl LinkError {
    /// The backend's refusal behind this error, if any.
    pub fn compile_error(&self) -> Option<&CompileError> {
        match self {
            LinkError::Chain(_) => None,
            LinkError::Refused(e) | LinkError::Module { source: e, .. } => Some(e),
        }
    }
}

/// The map definition of `chain_progs` (u32 slot → u32 program fd).
pub fn prog_array_def(name: &str) -> MapDef {
    MapDef::sized(name, map_type::PROG_ARRAY, 4, 4, SLOTS)
}

/// `bpf_tail_call(ctx, &map, slot)`, then `r0 = fallback; exit` for an empty slot.
pub(super) fn emit_tail_call(p: &mut Program, tc: &TailCall, fallback: i32) {
    p.mov64_reg(R1, flavor::CTX);
    p.ld_map(R2, &MapRef::new(tc.map.clone()));
    p.mov64_imm(R3, tc.slot as i32);
    p.call(Helper::TailCall);
    p.mov64_imm(R0, fallback).exit();
}

/// Compiles the dispatcher for `target`'s hook.
pub fn compile_entry(target: &Target) -> Result<Dispatcher, CompileError> {
    refuse_non_kernel(target)?;
    let f = flavor::for_hook(target.hook);
    let mut p = Program::new();
    p.mov64_reg(flavor::CTX, R1);
    emit_tail_call(
        &mut p,
        &TailCall {
            map: PROG_ARRAY.into(),
            slot: 0,
        },
        f.ret_drop(),
    );
    let program = p.finish().map_err(|source| CompileError::Asm { source })?;
    let spec = crate::elf::ObjectSpec {
        program_section: f.section(),
        program_name: ENTRY_NAME,
        insns: &program.bytes,
        map_relocs: program
            .map_relocs
            .iter()
            .map(|r| crate::elf::MapReloc {
                insn_index: r.insn_index,
                map: r.map.clone(),
            })
            .collect(),
        maps: vec![prog_array_def(PROG_ARRAY)],
        license: "GPL",
    };
    let object = crate::elf::write_object(&spec).map_err(|source| CompileError::Elf { source })?;
    Ok(Dispatcher {
        object,
        program_name: ENTRY_NAME.into(),
        hook: target.hook,
        insns: program.insns.len(),
    })
}

/// Compiles module `index` of a chain of `len` modules: its own program,
/// whose pass tail-calls slot `index + 1` (the last one's pass is the hook's).
/// The chain-wide checks ([`compile_linked`]) are the caller's.
pub fn compile_module(
    module: &Module,
    index: usize,
    len: usize,
    target: &Target,
) -> Result<Compiled, CompileError> {
    refuse_non_kernel(target)?;
    let whole = Segment {
        module: String::new(),
        tables: 0..module.tables.len(),
        actions: 0..module.actions.len(),
        default_verdict: module.default_verdict,
    };
    let tail = (index + 1 < len).then(|| TailCall {
        map: PROG_ARRAY.into(),
        slot: index as u32 + 1,
    });
    compile_segments(module, std::slice::from_ref(&whole), target, tail.as_ref())
}

/// Compiles a chain as linked programs: the dispatcher and one program per
/// module. Refuses what the fused program refuses for the chain as a whole
/// (ports that disagree, repeated names, tc's VLAN rule across modules) and
/// chains over the kernel's tail-call limit; the 64-map limit is per
/// module here.
pub fn compile_linked(modules: &[Module], target: &Target) -> Result<Linked, LinkError> {
    let fused = fuse(modules)?;
    if modules.len() > MAX_TAIL_CALLS {
        return Err(LinkError::Refused(CompileError::TooManyTailCalls {
            modules: modules.len(),
            limit: MAX_TAIL_CALLS,
        }));
    }
    if target.hook == Hook::Tc {
        tc_vlan_check(&fused.module).map_err(LinkError::Refused)?;
    }
    let entry = compile_entry(target).map_err(LinkError::Refused)?;
    let mut out = Vec::with_capacity(modules.len());
    for (index, m) in modules.iter().enumerate() {
        let c = compile_module(m, index, modules.len(), target).map_err(|source| {
            LinkError::Module {
                index,
                module: m.name.clone(),
                source,
            }
        })?;
        out.push(c);
    }
    Ok(Linked {
        entry,
        modules: out,
    })
}

fn refuse_non_kernel(target: &Target) -> Result<(), CompileError> {
    if target.profile.name != "kernel" {
        return Err(CompileError::LinkedNeedsKernel {
            profile: target.profile.title.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::format_at;

    fn module(src: &str) -> Module {
        offload_core::spec::compile(src).unwrap()
    }

    const PASSER: &str = r#"
[module]
name = "a"
default = "pass"

[[table]]
name = "t"
keys = [{ field = "ipv4.dst", match = "exact" }]
actions = ["deny", "allow"]
default_action = "allow"

[action.deny]
do = ["drop"]

[action.allow]
do = []
"#;

    #[test]
    fn a_module_s_pass_tail_calls_the_next_slot_and_an_empty_slot_drops() {
        let m = module(PASSER);
        let c = compile_module(&m, 0, 2, &Target::xdp()).unwrap();
        let text: Vec<String> = {
            let insns = &c.program.insns;
            let mut at = 0;
            let mut v = Vec::new();
            while at < insns.len() {
                let (t, used) = format_at(insns, at, &c.program.map_relocs);
                v.push(t);
                at += used;
            }
            v
        };
        let joined = text.join("\n");
        assert!(joined.contains("bpf_tail_call"), "{joined}");
        assert!(joined.contains("chain_progs"), "{joined}");
        assert_eq!(
            c.tail_call,
            Some(TailCall {
                map: PROG_ARRAY.into(),
                slot: 1
            })
        );
        // After the call (empty slot): XDP_DROP, never XDP_PASS.
        assert!(!c.uses.pass && c.uses.drop, "{:?}", c.uses);
        // The last module passes to the host and has no prog array.
        let last = compile_module(&m, 1, 2, &Target::xdp()).unwrap();
        assert!(last.tail_call.is_none() && last.uses.pass);
    }

    #[test]
    fn the_dispatcher_tail_calls_slot_0_on_both_hooks() {
        for t in [Target::xdp(), Target::tc()] {
            let d = compile_entry(&t).unwrap();
            assert_eq!(d.program_name, ENTRY_NAME);
            // mov r6 = r1; r1 = r6; ld_map (2 slots); r3 = 0; call; r0 = drop; exit
            assert_eq!(d.insns, 8);
        }
    }

    #[test]
    fn nic_profiles_and_long_chains_are_refused_by_name() {
        let m = module(PASSER);
        let e = compile_module(
            &m,
            0,
            2,
            &Target::xdp_offload(offload_core::plan::Profile::nfp()),
        )
        .unwrap_err();
        assert!(matches!(e, CompileError::LinkedNeedsKernel { .. }), "{e}");
        let many: Vec<Module> = (0..34)
            .map(|i| module(&PASSER.replace("\"a\"", &format!("\"m{i}\""))))
            .collect();
        let e = compile_linked(&many, &Target::xdp()).unwrap_err();
        assert!(e.to_string().contains("34 tail calls"), "{e}");
        assert!(compile_linked(&many[..33], &Target::xdp()).is_ok());
    }
}
