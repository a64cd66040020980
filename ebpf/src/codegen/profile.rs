//! Target profiles: the planner's [`offload_core::plan::Profile`] applied to
//! compiled programs. Before generating code the module's requirements are
//! checked ([`offload_core::plan::check`], the planner's own test); after,
//! the program's real facts (instructions, stack, maps, helpers, return
//! codes) are ([`offload_core::plan::check_program`]). Anything unmet is a
//! [`super::CompileError::Profile`] naming the table/action and the reason —
//! never a silently different program.

use super::Compiled;
use crate::asm::{Class, JmpOp};
use crate::layout::{Hook, MapRole as OurRole, ModuleLayout};
use offload_core::ir::Module;
use offload_core::plan::{
    self, Helper, MapRole, MapSpec, MapType, Profile, ProgramFacts, XdpAction,
};

fn map_type(id: u32) -> Option<MapType> {
    MapType::ALL.into_iter().find(|m| m.kernel_id() == id)
}

fn helper(id: i32) -> Option<Helper> {
    Helper::ALL.into_iter().find(|h| h.kernel_id() as i32 == id)
}

/// The maps as the planner describes them.
pub fn plan_maps(module: &Module, layout: &ModuleLayout) -> Vec<MapSpec> {
    let tname = |id: offload_core::ir::TableId| module.table(id).name.clone();
    layout
        .maps
        .iter()
        .filter_map(|m| {
            let role = match &m.role {
                OurRole::Entries(t) | OurRole::Default(t) => MapRole::Entries(tname(*t)),
                OurRole::Masks(t) => MapRole::Masks(tname(*t)),
                // Per-entry state, sized like the counters.
                OurRole::Counters(t) | OurRole::Meters(t) => MapRole::Counters(tname(*t)),
                OurRole::Ports | OurRole::InPorts => MapRole::Ports,
                OurRole::Scratch | OurRole::Crc32Table | OurRole::Clock => return None,
            };
            Some(MapSpec {
                role,
                map_type: map_type(m.map_type)?,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
            })
        })
        .collect()
}

/// What the compiled program uses, for [`plan::check_program`]. Helpers the
/// planner's model does not know are returned separately.
pub fn facts(module: &Module, c: &Compiled) -> (ProgramFacts, Vec<i32>) {
    let mut helpers = Vec::new();
    let mut unknown = Vec::new();
    for i in &c.program.insns {
        if i.class() == Class::Jmp && JmpOp::of(i.code) == JmpOp::Call {
            match helper(i.imm) {
                Some(h) if !helpers.contains(&h) => helpers.push(h),
                Some(_) => {}
                None if !unknown.contains(&i.imm) => unknown.push(i.imm),
                None => {}
            }
        }
    }
    let mut actions = Vec::new();
    if c.layout.hook == Hook::Xdp {
        for (used, a) in [
            (c.uses.drop, XdpAction::Drop),
            (c.uses.pass, XdpAction::Pass),
            (c.uses.tx, XdpAction::Tx),
            (c.uses.redirect, XdpAction::Redirect),
        ] {
            if used {
                actions.push(a);
            }
        }
    }
    (
        ProgramFacts {
            insns: c.program.insns.len() as u32,
            stack_bytes: c.stack_bytes,
            maps: plan_maps(module, &c.layout),
            helpers,
            actions,
            map_flags: c.layout.maps.iter().any(|m| m.map_flags != 0),
            map_btf: false,
            global_data: false,
        },
        unknown,
    )
}

/// Every reason `profile` refuses the module before code generation.
pub fn check_module(module: &Module, profile: &Profile) -> Vec<String> {
    plan::check(&module.requirements(), profile)
        .into_iter()
        .map(|u| u.to_string())
        .collect()
}

/// Every reason `profile` refuses the compiled program.
pub fn check_compiled(module: &Module, c: &Compiled, profile: &Profile) -> Vec<String> {
    let (f, unknown) = facts(module, c);
    let mut out: Vec<String> = plan::check_program(&f, profile)
        .into_iter()
        .map(|u| u.to_string())
        .collect();
    if profile.name != "kernel" {
        for id in unknown {
            out.push(format!(
                "the program calls helper #{id}, which {} does not list",
                profile.title
            ));
        }
    }
    out
}
