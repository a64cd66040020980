//! IR → eBPF: one pipeline for XDP and tc, differing only through [`Flavor`].
//!
//! Program shape: prologue (ctx, frame length, `meta.in_port`), the parser
//! ([`parse`]), one stage per table in file order ([`table`]), the module's
//! default verdict, then the shared verdict exits. Register convention and
//! stack frame: [`frame`]. Output is deterministic: same module, same bytes.
//!
//! A service chain ([`compile_chain`]) is the same program over the fused
//! module (`offload_core::ir::chain`), one segment per module: within a
//! segment every `pass` (the primitive, `dec_ttl` expiry, a `pass` default)
//! jumps to the next segment instead of the pass exit; a segment starts by
//! re-reading the packet pointers and frame length (counter bytes are the
//! length as the frame reached that module) and parsing afresh, as the
//! reference says (`semantics::run_chain`). `meta.in_port` is looked up
//! once. Before that parse every other stack slot is zeroed: the paths out
//! of a module then reach the next in one verifier state, so the verifier's
//! work adds up per module instead of multiplying (without it a chain of
//! three generated modules went over the 10^6-instruction limit while each
//! pair loaded). The last segment's pass is the program's pass. Maps are the fused
//! module's: `t{N}_*` with N the table's fused id, one `ports` map for all.
//!
//! The other way to run a chain ([`linked`]): one program per module, each
//! compiled alone with its own maps, whose pass exit tail-calls the next
//! module's slot of a shared `chain_progs` PROG_ARRAY, plus a dispatcher
//! (`chain_entry`) that tail-calls slot 0.

mod action;
mod explain;
pub mod flavor;
pub mod frame;
pub mod linked;
mod meter;
mod parse;
pub mod profile;
mod table;

pub use flavor::{Flavor, Tc, Xdp};

use crate::asm::{self, AsmError, Assembled, Label, Program, Reg::*, Size};
use crate::layout::{self, Hook, LayoutOptions, ModuleLayout, DEFAULT_MAX_MASKS};
use offload_core::ir::chain::{Fused, Segment};
use offload_core::ir::{DefaultVerdict, Module, Table};
use offload_core::plan::{MapType, Profile};
use offload_core::Span;
use std::fmt::Write;
use thiserror::Error;

/// What to compile for: the hook and the target profile (what the kernel
/// or the NIC accepts), from which the layout bounds follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub hook: Hook,
    pub profile: Profile,
    /// Masks a tuple-space table can hold.
    pub max_masks: u32,
    /// Instruction budget (the verifier's or the device's).
    pub max_insns: u32,
    /// Probe tuple-space masks with straight-line code instead of a loop
    /// (offload JITs predate bounded loops).
    pub unroll_masks: bool,
    /// Counters in per-CPU arrays (else a shared array with atomic adds).
    pub percpu_counters: bool,
    /// Room per table where a deployment builds with less than the full
    /// room (counters and masks sized to its entries; empty: full room).
    pub capacities: layout::Capacities,
    /// TEST ONLY: a deliberate generator bug. When set, every `set` of an
    /// Ethernet address writes its last byte with the lowest bit flipped, so
    /// that differential tools (`offloadctl validate`) can be shown to catch
    /// a wrong rewrite. Never set by the product; the drivers set it only
    /// from `OFFLOAD_TEST_CORRUPT_REWRITE=1`.
    pub test_corrupt_rewrite: bool,
}

impl Target {
    /// A target for `hook` under `profile`, with the profile's limits.
    pub fn new(hook: Hook, profile: Profile) -> Target {
        let max_masks = profile
            .limits
            .max_ternary_masks
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(DEFAULT_MAX_MASKS);
        let max_insns = profile
            .limits
            .max_insns
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(1_000_000);
        let percpu_counters = profile
            .ebpf()
            .is_none_or(|e| e.counter_map() == MapType::PercpuArray);
        let unroll_masks = profile.name != "kernel";
        Target {
            hook,
            profile,
            max_masks,
            max_insns,
            unroll_masks,
            percpu_counters,
            capacities: layout::Capacities::new(),
            test_corrupt_rewrite: false,
        }
    }
    /// The host kernel: XDP (native or generic).
    pub fn xdp() -> Target {
        Target::new(Hook::Xdp, Profile::kernel())
    }
    /// The host kernel: tc (cls_bpf, direct action).
    pub fn tc() -> Target {
        Target::new(Hook::Tc, Profile::kernel())
    }
    /// XDP hardware offload under a NIC profile (e.g. `Profile::nfp()`).
    pub fn xdp_offload(profile: Profile) -> Target {
        Target::new(Hook::Xdp, profile)
    }
}

/// Which verdicts the program can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Uses {
    pub drop: bool,
    pub pass: bool,
    pub tx: bool,
    pub redirect: bool,
}

/// A range of instructions and the module node it was generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsnSpan {
    /// First slot (inclusive) and end slot (exclusive).
    pub start: usize,
    pub end: usize,
    pub table: Option<String>,
    pub action: Option<String>,
    /// Where in the module source.
    pub span: Span,
}

impl InsnSpan {
    pub fn describe(&self) -> String {
        match (&self.table, &self.action) {
            (Some(t), Some(a)) => format!("table {t}, action {a}"),
            (Some(t), None) => format!("table {t}"),
            (None, Some(a)) => format!("action {a}"),
            (None, None) => "prologue".to_string(),
        }
    }
}

/// The compiled program.
///
/// The annotated listing is built on demand ([`Compiled::listing`]): it costs
/// more than code generation itself, and loading never needs it.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The relocatable BPF ELF object.
    pub object: Vec<u8>,
    pub program: Assembled,
    pub layout: ModuleLayout,
    /// Innermost first: action ranges lie inside their table's range.
    pub insn_spans: Vec<InsnSpan>,
    /// Stack bytes used.
    pub stack_bytes: u32,
    /// The ELF program section (`xdp` / `classifier`).
    pub section: &'static str,
    /// The program's symbol name.
    pub program_name: String,
    pub uses: Uses,
    /// Tables of a chain's modules that can never run because an earlier
    /// module never passes: not in the program, their maps not in the
    /// object (loaders skip them; their counters stay 0, as in the reference).
    pub dead_tables: Vec<offload_core::ir::TableId>,
    /// A linked chain's module program: the PROG_ARRAY its pass tail-calls
    /// into and the slot (see [`linked`]); `None` for a program whose pass
    /// is the hook's pass.
    pub tail_call: Option<linked::TailCall>,
}

impl Compiled {
    /// Disassembly annotated with the module's table/action names.
    pub fn listing(&self) -> String {
        annotated_listing(&self.program, &self.insn_spans)
    }
    /// The innermost module node behind instruction `insn`.
    pub fn node_at(&self, insn: usize) -> Option<&InsnSpan> {
        self.insn_spans
            .iter()
            .filter(|s| s.start <= insn && insn < s.end)
            .min_by_key(|s| s.end - s.start)
    }
}

#[derive(Debug, Error)]
pub enum CompileError {
    #[error("table `{table}`, action `{action}`: {reason}")]
    Unsupported {
        table: String,
        action: String,
        reason: String,
        span: Span,
    },
    #[error("table `{table}`: a hash key needs a loop over the hashed bytes, which this target (unrolled code, no loops) does not allow")]
    HashKeyNeedsLoops { table: String, span: Span },
    #[error("{profile} cannot run this module:\n  - {}", .reasons.join("\n  - "))]
    Profile {
        profile: String,
        reasons: Vec<String>,
    },
    #[error(
        "table `{table}`: its keys need {bytes} bytes of stack, the program has {limit} in total"
    )]
    StackTooLarge {
        table: String,
        bytes: u32,
        limit: u32,
    },
    #[error("program is {insns} instructions, over the target's {limit}")]
    TooLong { insns: usize, limit: u32 },
    #[error("the program needs {maps} maps, the kernel allows {limit} per program (each table takes 2-4); split the chain or merge tables")]
    TooManyMaps { maps: usize, limit: usize },
    #[error("a linked chain of {modules} modules needs {modules} tail calls, the kernel allows {limit} (MAX_TAIL_CALL_CNT); use link = \"fused\" or a shorter chain")]
    TooManyTailCalls { modules: usize, limit: usize },
    #[error("{profile} cannot run a chain linked by tail calls (the offload JIT and its profile have no bpf_tail_call); use link = \"fused\"")]
    LinkedNeedsKernel { profile: String },
    #[error("assembling the program")]
    Asm {
        #[source]
        source: AsmError,
    },
    #[error("writing the BPF object")]
    Elf {
        #[source]
        source: crate::elf::ElfError,
    },
}

/// Maps one program may use (the kernel's `MAX_USED_MAPS`).
pub const MAX_MAPS: usize = 64;

/// Verdict exit blocks shared by every action.
#[derive(Clone, Copy)]
pub(crate) struct Exits {
    pub drop: Label,
    pub pass: Label,
    pub tx: Label,
}

pub(crate) struct Gen<'a> {
    pub p: Program,
    pub module: &'a Module,
    pub layout: &'a ModuleLayout,
    pub flavor: &'static dyn Flavor,
    pub exits: Exits,
    pub keys_base: i16,
    /// 16 bytes (8-aligned) where an address copy stages its source.
    pub copy_buf: i16,
    pub spans: Vec<InsnSpan>,
    pub unroll_masks: bool,
    /// See [`Target::test_corrupt_rewrite`].
    pub corrupt_rewrite: bool,
}

impl Gen<'_> {
    pub(crate) fn mark(
        &mut self,
        start: usize,
        table: Option<&Table>,
        action: Option<String>,
        span: Span,
    ) {
        self.spans.push(InsnSpan {
            start,
            end: self.p.len(),
            table: table.map(|t| t.name.clone()),
            action,
            span,
        });
    }
}

/// The program's symbol: the module name as a C identifier.
pub fn program_name(module: &Module) -> String {
    let mut s: String = module
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'm');
    }
    s
}

/// The map layout `compile` uses for `module` on `target` (what a loader
/// must create and fill; identical to `Compiled::layout`).
pub fn layout_for(module: &Module, target: &Target) -> ModuleLayout {
    layout::for_module_with(
        module,
        &LayoutOptions {
            hook: target.hook,
            max_masks: target.max_masks,
            percpu_counters: target.percpu_counters,
            mask_loop: !target.unroll_masks,
            capacities: target.capacities.clone(),
        },
    )
}

/// Whether some action copies an address field into another (see `copy_buf`).
fn module_copies_addresses(module: &Module) -> bool {
    use offload_core::ir::{FieldKind, Primitive};
    module.actions.iter().flat_map(|a| &a.body).any(|p| {
        matches!(p, Primitive::Copy { from, .. }
            if matches!(from.kind(), FieldKind::Mac | FieldKind::Ipv4 | FieldKind::Ipv6))
    })
}

/// Whether some key or action reads or writes `meta.group` (its stack slot
/// is zeroed only then).
fn module_uses_group(module: &Module) -> bool {
    use offload_core::ir::{Field, Primitive};
    module
        .tables
        .iter()
        .any(|t| t.keys.iter().any(|k| k.field == Field::MetaGroup))
        || module
            .actions
            .iter()
            .flat_map(|a| &a.body)
            .any(|p| match p {
                Primitive::Set { field, .. } => *field == Field::MetaGroup,
                Primitive::Copy { field, from } => {
                    *field == Field::MetaGroup || *from == Field::MetaGroup
                }
                _ => false,
            })
}

/// Compiles `module` for `target`: program, layout, listing and object.
pub fn compile(module: &Module, target: &Target) -> Result<Compiled, CompileError> {
    let whole = Segment {
        module: String::new(),
        tables: 0..module.tables.len(),
        actions: 0..module.actions.len(),
        default_verdict: module.default_verdict,
    };
    compile_segments(module, std::slice::from_ref(&whole), target, None)
}

/// Compiles a fused service chain into one program (see the module doc).
/// Its layout is the fused module's: fill `fused.module`'s tables.
pub fn compile_chain(fused: &Fused, target: &Target) -> Result<Compiled, CompileError> {
    compile_segments(&fused.module, &fused.segments, target, None)
}

/// `tail_call`: the program's pass tail-calls this slot instead (a linked
/// chain's module, see [`linked`]).
fn compile_segments(
    module: &Module,
    segments: &[Segment],
    target: &Target,
    tail_call: Option<&linked::TailCall>,
) -> Result<Compiled, CompileError> {
    let reasons = profile::check_module(module, &target.profile);
    if !reasons.is_empty() {
        return Err(CompileError::Profile {
            profile: target.profile.title.clone(),
            reasons,
        });
    }
    if target.hook == Hook::Tc {
        tc_vlan_check(module)?;
    }
    let layout = layout_for(module, target);
    if layout.maps.len() > MAX_MAPS {
        return Err(CompileError::TooManyMaps {
            maps: layout.maps.len(),
            limit: MAX_MAPS,
        });
    }
    // Hash keys run as a loop with the parse state parked (codegen::table):
    // a target without loops has no scratch map and cannot compute them.
    if layout.crc32_map.is_none() {
        if let Some(t) = module.tables.iter().find(|t| t.hash_key().is_some()) {
            return Err(CompileError::HashKeyNeedsLoops {
                table: t.name.clone(),
                span: t.span,
            });
        }
    }
    let key_bytes = layout
        .tables
        .iter()
        .map(table::key_stack_bytes)
        .max()
        .unwrap_or(0);
    // Address copies (`set(eth.src, eth.dst)`) stage the source bytes in a
    // 16-byte buffer below the keys; modules without them do not pay for it.
    let copy_bytes = if module_copies_addresses(module) {
        16
    } else {
        0
    };
    let stack_bytes = (-frame::KEYS_TOP) as u32 + key_bytes + copy_bytes;
    if stack_bytes > frame::STACK_LIMIT {
        let worst = layout
            .tables
            .iter()
            .max_by_key(|t| table::key_stack_bytes(t))
            .map(|t| t.name.clone())
            .unwrap_or_default();
        return Err(CompileError::StackTooLarge {
            table: worst,
            bytes: key_bytes,
            limit: frame::STACK_LIMIT,
        });
    }
    let mut p = Program::new();
    let exits = Exits {
        drop: p.label(),
        pass: p.label(),
        tx: p.label(),
    };
    let mut g = Gen {
        p,
        module,
        layout: &layout,
        flavor: flavor::for_hook(target.hook),
        exits,
        keys_base: frame::KEYS_TOP - key_bytes as i16,
        copy_buf: frame::KEYS_TOP - (key_bytes + copy_bytes) as i16,
        spans: Vec::new(),
        unroll_masks: target.unroll_masks,
        corrupt_rewrite: target.test_corrupt_rewrite,
    };
    g.emit_prologue_and_parse();
    if module_uses_group(module) {
        g.p.st(Size::W, R10, frame::GROUP, 0);
    }
    g.mark(0, None, None, Span::default());
    let pass = g.exits.pass;
    let mut live_tables = module.tables.len();
    for (k, seg) in segments.iter().enumerate() {
        let last = k + 1 == segments.len();
        // Within a segment, pass means: on to the next module.
        let next = if last { pass } else { g.p.label() };
        g.exits.pass = next;
        if k > 0 {
            let start = g.p.len();
            g.emit_boundary_reset();
            g.emit_reparse();
            g.mark(start, None, None, Span::default());
        }
        for table in &module.tables[seg.tables.clone()] {
            let start = g.p.len();
            let end = g.p.label();
            g.emit_table(table, end);
            g.p.bind(end);
            g.mark(start, Some(table), None, table.span);
        }
        let end_verdict = match seg.default_verdict {
            DefaultVerdict::Pass => next,
            DefaultVerdict::Drop => g.exits.drop,
        };
        g.p.ja(end_verdict);
        if last {
            break;
        }
        if !g.p.is_used(next) {
            // No path of this module passes: the later modules never run,
            // and the kernel refuses unreachable code.
            live_tables = seg.tables.end;
            break;
        }
        g.p.bind(next);
    }
    g.exits.pass = pass;
    let mut uses = Uses {
        // A linked module's pass is a tail call; its failure drops.
        drop: g.p.is_used(g.exits.drop) || (tail_call.is_some() && g.p.is_used(g.exits.pass)),
        pass: g.p.is_used(g.exits.pass) && tail_call.is_none(),
        tx: g.p.is_used(g.exits.tx),
        redirect: target.hook == Hook::Xdp && layout.ports_map.is_some(),
    };
    g.emit_exits(tail_call);
    let Gen { p, spans, .. } = g;
    let dead_tables: Vec<offload_core::ir::TableId> =
        module.tables[live_tables..].iter().map(|t| t.id).collect();
    let program = p.finish().map_err(|source| CompileError::Asm { source })?;
    if program.insns.len() > target.max_insns as usize {
        return Err(CompileError::TooLong {
            insns: program.insns.len(),
            limit: target.max_insns,
        });
    }
    let mut layout = layout;
    if segments.len() > 1 {
        // Modules after one that never passes are not in the program: their
        // maps (and a port or in-port map only they used) are not either.
        let used: std::collections::BTreeSet<&str> =
            program.map_relocs.iter().map(|r| r.map.as_str()).collect();
        layout.maps.retain(|m| used.contains(m.name.as_str()));
        for m in [
            &mut layout.ports_map,
            &mut layout.in_ports_map,
            &mut layout.scratch_map,
        ] {
            if m.as_deref().is_some_and(|n| !used.contains(n)) {
                *m = None;
            }
        }
        uses.redirect = target.hook == Hook::Xdp && layout.ports_map.is_some();
    }
    let flavor = flavor::for_hook(target.hook);
    let name = program_name(module);
    let mut maps = layout.map_defs();
    if let Some(tc) = tail_call {
        maps.push(linked::prog_array_def(&tc.map));
    }
    let spec = crate::elf::ObjectSpec {
        program_section: flavor.section(),
        program_name: &name,
        insns: &program.bytes,
        map_relocs: program
            .map_relocs
            .iter()
            .map(|r| crate::elf::MapReloc {
                insn_index: r.insn_index,
                map: r.map.clone(),
            })
            .collect(),
        maps,
        license: "GPL",
    };
    let object = crate::elf::write_object(&spec).map_err(|source| CompileError::Elf { source })?;
    let compiled = Compiled {
        object,
        program,
        layout,
        insn_spans: spans,
        stack_bytes,
        section: flavor.section().section_name(),
        program_name: name,
        uses,
        dead_tables,
        tail_call: tail_call.cloned(),
    };
    let reasons = profile::check_compiled(module, &compiled, &target.profile);
    if !reasons.is_empty() {
        return Err(CompileError::Profile {
            profile: target.profile.title.clone(),
            reasons,
        });
    }
    Ok(compiled)
}

/// tc can pop a tag only while skb->protocol still names it: the kernel's
/// `skb_vlan_pop` does nothing otherwise, and after it the next EtherType
/// becomes the protocol. So on tc a `pop_vlan` must not follow another
/// `pop_vlan` or a `push_vlan` on any path (XDP has no such limit).
fn tc_vlan_check(module: &Module) -> Result<(), CompileError> {
    use offload_core::ir::Primitive;
    let mut earlier: Option<(String, String)> = None;
    for t in &module.tables {
        let mut ids = t.actions.clone();
        ids.push(t.default_action.action);
        let mut touched_here = None;
        for id in ids {
            let a = module.action(id);
            let mut before = earlier.clone();
            for prim in &a.body {
                match prim {
                    Primitive::PopVlan => {
                        if let Some((et, ea)) = &before {
                            return Err(CompileError::Unsupported {
                                table: t.name.clone(),
                                action: a.name.clone(),
                                reason: format!(
                                    "pop_vlan after a VLAN change by table `{et}`, action `{ea}` cannot keep the reference's bytes on tc \
                                     (bpf_skb_vlan_pop only pops while skb->protocol is a VLAN TPID); compile for XDP instead"
                                ),
                                span: a.span,
                            });
                        }
                        before = Some((t.name.clone(), a.name.clone()));
                        touched_here = before.clone();
                    }
                    Primitive::PushVlan(_) => {
                        before = Some((t.name.clone(), a.name.clone()));
                        touched_here = before.clone();
                    }
                    _ => {}
                }
            }
        }
        if touched_here.is_some() {
            earlier = touched_here;
        }
    }
    Ok(())
}

impl Gen<'_> {
    fn emit_exits(&mut self, tail_call: Option<&linked::TailCall>) {
        let start = self.p.len();
        let f = self.flavor;
        if self.p.is_used(self.exits.drop) {
            self.p.bind(self.exits.drop);
            self.p.mov64_imm(R0, f.ret_drop()).exit();
        }
        if self.p.is_used(self.exits.pass) {
            self.p.bind(self.exits.pass);
            match tail_call {
                // On to the next module: bpf_tail_call does not return
                // when the slot holds a program; an empty slot (or the
                // kernel's 33-call limit) falls through to drop.
                Some(tc) => linked::emit_tail_call(&mut self.p, tc, f.ret_drop()),
                None => {
                    self.p.mov64_imm(R0, f.ret_pass()).exit();
                }
            }
        }
        if !self.p.is_used(self.exits.tx) {
            self.mark(start, None, Some("verdicts".into()), Span::default());
            return;
        }
        self.p.bind(self.exits.tx);
        match f.hook() {
            Hook::Xdp => {
                self.p.mov64_imm(R0, flavor::XDP_TX).exit();
            }
            Hook::Tc => {
                self.p.ldx(Size::W, R1, R6, flavor::SKB_IFINDEX);
                self.p.mov64_imm(R2, 0);
                self.p.call(asm::Helper::Redirect).exit();
            }
        }
        self.mark(start, None, Some("verdicts".into()), Span::default());
    }
}

/// The listing with a `; table X, action Y` line where each node starts.
pub fn annotated_listing(program: &Assembled, spans: &[InsnSpan]) -> String {
    let mut out = String::new();
    let mut at = 0;
    let mut starts: Vec<&InsnSpan> = spans.iter().filter(|s| s.end > s.start).collect();
    starts.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut next = 0;
    while at < program.insns.len() {
        while next < starts.len() && starts[next].start <= at {
            let _ = writeln!(out, "; {}", starts[next].describe());
            next += 1;
        }
        let (text, used) = asm::format_at(&program.insns, at, &program.map_relocs);
        let _ = writeln!(out, "{at:5}: {text}");
        at += used;
    }
    out
}
