//! The ingress control: one P4 action per module action (per table on TNA),
//! one table per stage, and the apply block that runs the stages in order
//! with the skip rule and turns the verdict into a forwarding decision.

use super::prims::{deferred_params, param_width, Lowerer, Place};
use super::{field_expr, valid_expr, Ctx};
use crate::ast::*;
use crate::error::P4Error;
use offload_core::ir::{Action, ActionCall, DefaultVerdict, Operand, ParamType, Primitive, Table};

/// `set(eth.dst, dmac)`, as written in the module.
pub(super) fn describe(action: &Action, p: &Primitive) -> String {
    let op = |o: &Operand| match o {
        Operand::Param(i) => action
            .params
            .get(*i)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("#{i}")),
        Operand::Const(c) => c.to_string(),
    };
    match p {
        Primitive::Drop => "drop".into(),
        Primitive::Pass => "pass".into(),
        Primitive::Tx => "tx".into(),
        Primitive::Forward(o) => format!("forward({})", op(o)),
        Primitive::Set { field, value } => format!("set({}, {})", field.name(), op(value)),
        Primitive::Copy { field, from } => format!("set({}, {})", field.name(), from.name()),
        Primitive::DecTtl => "dec_ttl".into(),
        Primitive::PushVlan(o) => format!("push_vlan({})", op(o)),
        Primitive::PopVlan => "pop_vlan".into(),
        Primitive::VxlanEncap(v) => format!(
            "vxlan_encap({}, {}, {}, {}, {})",
            op(&v.dmac),
            op(&v.smac),
            op(&v.src),
            op(&v.dst),
            op(&v.vni)
        ),
        Primitive::VxlanDecap => "vxlan_decap".into(),
    }
}

fn describe_all(action: &Action) -> String {
    if action.body.is_empty() {
        return "(nothing: continue with the next stage)".into();
    }
    action
        .body
        .iter()
        .map(|p| describe(action, p))
        .collect::<Vec<_>>()
        .join(", ")
}

fn p4_action(
    ctx: &Ctx,
    table: &Table,
    action: &Action,
    name: &str,
) -> Result<crate::ast::Action, P4Error> {
    let split = ctx.split_point(action);
    let l = Lowerer {
        ctx,
        action,
        place: Place::Action,
    };
    let mut body = l.lower(&action.body[..split])?;
    if split < action.body.len() {
        body.push(Stmt::Comment(format!(
            "{} and what follows run after the table (they need conditions)",
            describe(action, &action.body[split])
        )));
        for i in deferred_params(action, split) {
            let pn = &ctx.names.params[&action.id][i];
            body.push(Stmt::Assign(
                e::path(format!("meta.arg_{}_{}", ctx.names.actions[&action.id], pn)),
                e::path(pn.clone()),
            ));
        }
        body.push(Stmt::Assign(
            e::path("meta.run"),
            e::path(ctx.run_const(action.id)),
        ));
    }
    if table.counters {
        if let Some(s) = ctx
            .arch
            .direct_count_in_action(&format!("{}_counter", ctx.names.tables[&table.id]))
        {
            body.push(s);
        }
    }
    let params = action
        .params
        .iter()
        .zip(&ctx.names.params[&action.id])
        .map(|(p, n)| Param::new("", super::prims::param_type(ctx, p.ty), n))
        .collect();
    Ok(crate::ast::Action {
        name: name.to_string(),
        doc: Some(format!(
            "Module action `{}`: {}",
            action.name,
            describe_all(action)
        )),
        params,
        body,
    })
}

/// The actions a table can run, its default included.
fn table_action_ids(t: &Table) -> Vec<offload_core::ir::ActionId> {
    let mut ids = t.actions.clone();
    if !ids.contains(&t.default_action.action) {
        ids.push(t.default_action.action);
    }
    ids
}

fn default_args(ctx: &Ctx, call: &ActionCall) -> Result<Vec<Expr>, P4Error> {
    let action = ctx.module.action(call.action);
    let mut out = Vec::new();
    for (p, v) in action.params.iter().zip(&call.args) {
        let w = param_width(ctx, p.ty);
        let v = if p.ty == ParamType::Port {
            let sp = u16::try_from(*v)
                .map(|l| u128::from(ctx.switch_port(l)))
                .unwrap_or(*v);
            let what = || format!("default action argument `{}` of `{}`", p.name, action.name);
            u128::from(ctx.arch.check_port(ctx.cpu_port, sp, what)?)
        } else {
            *v
        };
        out.push(e::int(w, v));
    }
    Ok(out)
}

pub(super) fn ingress(ctx: &Ctx) -> Result<Item, P4Error> {
    let module = ctx.module;
    let mut locals = Vec::new();
    let mut actions = Vec::new();
    let mut tables = Vec::new();
    let mut done_shared = std::collections::BTreeSet::new();

    for t in &module.tables {
        let tn = ctx.names.tables[&t.id].clone();
        if t.counters {
            let mut c = ctx.arch.direct_counter(&format!("{tn}_counter"));
            if let Local::Instance { comment, .. } = &mut c {
                *comment = Some(format!(
                    "Table `{}`: packets and bytes per entry; misses below.",
                    t.name
                ));
            }
            locals.push(c);
            locals.push(ctx.arch.miss_counter(&format!("{tn}_miss_counter")));
        }
        for a in table_action_ids(t) {
            let name = ctx.names.table_actions[&(t.id, a)].clone();
            if !ctx.arch.per_table_actions() && !done_shared.insert(a) {
                continue;
            }
            actions.push(p4_action(ctx, t, module.action(a), &name)?);
        }
        if let Some(h) = t.hash_key() {
            let (_, leaves) = super::hash_leaves(h);
            for (i, (_, list)) in leaves.iter().enumerate() {
                if list.is_empty() {
                    continue;
                }
                if let Some(l) = ctx.arch.hash_local(&format!("{tn}_hash_{i}")) {
                    locals.push(l);
                }
            }
        }
        let dname = ctx.names.table_actions[&(t.id, t.default_action.action)].clone();
        let keys_doc: Vec<String> = t
            .keys
            .iter()
            .map(|k| match &k.hash {
                Some(h) => format!(
                    "hash of {} into {} buckets {}",
                    h.fields
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    h.buckets,
                    k.kind.name()
                ),
                None => format!("{} {}", k.field.name(), k.kind.name()),
            })
            .collect();
        tables.push(TableDecl {
            name: tn.clone(),
            doc: Some(format!(
                "Stage {} `{}`: {}.{}",
                t.id.0 + 1,
                t.name,
                if keys_doc.is_empty() {
                    "no keys".to_string()
                } else {
                    keys_doc.join(", ")
                },
                if t.needs_priority() {
                    " Entries carry priorities (higher wins)."
                } else {
                    ""
                }
            )),
            keys: t
                .keys
                .iter()
                .map(|k| {
                    (
                        field_expr(k.field),
                        k.kind.name().to_string(),
                        Some(k.field.name().to_string()),
                    )
                })
                .collect(),
            actions: t
                .actions
                .iter()
                .map(|a| ctx.names.table_actions[&(t.id, *a)].clone())
                .chain((!t.actions.contains(&t.default_action.action)).then(|| dname.clone()))
                .collect(),
            default_action: (dname, default_args(ctx, &t.default_action)?),
            // A table without keys holds no entries: p4c warns that a size
            // means nothing there ([--Wwarn=mismatch]), so none is given.
            size: (!t.keys.is_empty()).then(|| t.size.max(1)),
            properties: if t.counters {
                vec![("counters".into(), e::path(format!("{tn}_counter")))]
            } else {
                vec![]
            },
        });
    }

    let apply = apply_block(ctx)?;
    Ok(Item::Control(Control {
        name: "IngressImpl".into(),
        params: ctx.arch.ingress_params(),
        locals,
        actions,
        tables,
        apply,
    }))
}

/// The hash key's bucket into `meta.hash`: a tree of validity tests with
/// one hash per leaf over exactly the valid headers' fields (see
/// [`super::hash_leaves`]).
fn hash_tree(ctx: &Ctx, tn: &str, h: &offload_core::ir::HashKey) -> Vec<Stmt> {
    let (atoms, leaves) = super::hash_leaves(h);
    let leaf = |i: usize| -> Vec<Stmt> {
        let list = &leaves[i].1;
        if list.is_empty() {
            vec![Stmt::Assign(e::path("meta.hash"), e::int(16, 0))]
        } else {
            vec![ctx.arch.hash_stmt(
                "meta.hash",
                &format!("{tn}_hash_{i}"),
                list.clone(),
                h.buckets,
            )]
        }
    };
    // Leaves are in the order the combinations were built: per header,
    // "valid" before "not valid"; walk the same order as nested ifs.
    fn node(
        atoms: &[&'static str],
        depth: usize,
        valid: Vec<&'static str>,
        leaves: &[super::HashLeaf],
        leaf: &dyn Fn(usize) -> Vec<Stmt>,
    ) -> Vec<Stmt> {
        if depth == atoms.len() {
            let i = leaves
                .iter()
                .position(|(v, _)| {
                    let mut a = v.clone();
                    let mut b = valid.clone();
                    a.sort();
                    b.sort();
                    a == b
                })
                .expect("every reachable combination is a leaf");
            return leaf(i);
        }
        let a = atoms[depth];
        let with: Vec<&'static str> = valid.iter().copied().chain([a]).collect();
        let possible = leaves
            .iter()
            .any(|(v, _)| with.iter().all(|x| v.contains(x)));
        let without = node(atoms, depth + 1, valid.clone(), leaves, leaf);
        if !possible {
            return without;
        }
        vec![Stmt::If {
            cond: e::valid(&format!("hdr.{a}")),
            then: node(atoms, depth + 1, with, leaves, leaf),
            otherwise: without,
        }]
    }
    node(&atoms, 0, Vec::new(), &leaves, &leaf)
}

fn apply_block(ctx: &Ctx) -> Result<Vec<Stmt>, P4Error> {
    let module = ctx.module;
    let mut out = Vec::new();
    let port = ctx.arch.ingress_port();
    let identity = module
        .ports
        .iter()
        .all(|p| ctx.switch_port(p.id.0) == u32::from(p.id.0));
    out.push(Stmt::Comment(if identity {
        "meta.in_port: logical port ids equal switch port numbers".to_string()
    } else {
        "meta.in_port: switch port → logical port (the module's port map)".to_string()
    }));
    out.push(Stmt::Assign(
        e::path("meta.in_port"),
        e::cast(16, port.clone()),
    ));
    for p in &module.ports {
        let sp = ctx.switch_port(p.id.0);
        if sp != u32::from(p.id.0) {
            out.push(Stmt::If {
                cond: e::eq(port.clone(), e::path(ctx.names.ports[&p.id.0].clone())),
                then: vec![Stmt::Assign(
                    e::path("meta.in_port"),
                    e::int(16, u128::from(p.id.0)),
                )],
                otherwise: vec![],
            });
        }
    }
    out.push(Stmt::Assign(
        e::path("meta.verdict"),
        e::path("VERDICT_CONTINUE"),
    ));

    let chained = ctx.segments.len() > 1;
    for (k, seg) in ctx.segments.iter().enumerate() {
        let last = k + 1 == ctx.segments.len();
        if chained {
            out.push(Stmt::Comment(format!(
                "Module {} of the chain: `{}`.",
                k + 1,
                seg.module
            )));
            // Each module of a chain starts with meta.group = 0
            // (semantics::chain), though one pipeline holds them all.
            if k > 0 && super::uses_group(module) {
                out.push(Stmt::Assign(e::path("meta.group"), e::int(16, 0)));
            }
        }
        for t in &module.tables[seg.tables.clone()] {
            let tn = &ctx.names.tables[&t.id];
            let req = t.required_headers();
            let mut cond = e::eq(e::path("meta.verdict"), e::path("VERDICT_CONTINUE"));
            for h in &req {
                cond = e::and(cond, valid_expr(*h));
            }
            let mut body = Vec::new();
            if let Some(h) = t.hash_key() {
                body.push(Stmt::Comment(format!(
                    "hash key: crc32({}) & {}, over the fields of valid headers only",
                    h.fields
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    h.buckets - 1,
                )));
                body.extend(hash_tree(ctx, tn, h));
            }
            let deferred: Vec<&Action> = table_action_ids(t)
                .into_iter()
                .map(|a| module.action(a))
                .filter(|a| ctx.has_deferred(a))
                .collect();
            if !deferred.is_empty() {
                body.push(Stmt::Assign(e::path("meta.run"), e::path("RUN_NONE")));
            }
            if t.counters {
                body.push(Stmt::If {
                    cond: e::not(e::path(format!("{tn}.apply().hit"))),
                    then: vec![ctx.arch.miss_count(&format!("{tn}_miss_counter"))],
                    otherwise: vec![],
                });
            } else {
                body.push(Stmt::Call(e::call(format!("{tn}.apply"), vec![])));
            }
            // The second halves of actions, chained as else-ifs.
            let mut chain: Vec<Stmt> = Vec::new();
            for a in deferred.iter().rev() {
                let l = Lowerer {
                    ctx,
                    action: a,
                    place: Place::Deferred,
                };
                let mut then = vec![Stmt::Comment(format!("rest of `{}`", a.name))];
                then.extend(l.lower(&a.body[ctx.split_point(a)..])?);
                chain = vec![Stmt::If {
                    cond: e::eq(e::path("meta.run"), e::path(ctx.run_const(a.id))),
                    then,
                    otherwise: chain,
                }];
            }
            body.extend(chain);
            let skip = if req.is_empty() {
                String::new()
            } else {
                format!(
                    "; skipped unless {} valid",
                    req.iter()
                        .map(|h| h.name())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ) + if req.len() == 1 { " is" } else { " are" }
            };
            let skip = skip
                .replace(" valid is", " is valid")
                .replace(" valid are", " are valid");
            out.push(Stmt::Comment(format!(
                "Stage {}: `{}`{skip}.",
                t.id.0 + 1,
                t.name
            )));
            out.push(Stmt::If {
                cond,
                then: body,
                otherwise: vec![],
            });
        }
        let (default, word) = match seg.default_verdict {
            DefaultVerdict::Pass => ("VERDICT_PASS", "pass"),
            DefaultVerdict::Drop => ("VERDICT_DROP", "drop"),
        };
        out.push(Stmt::Comment(if chained {
            format!(
                "No stage of `{}` decided: its default verdict ({word}).",
                seg.module
            )
        } else {
            format!("No stage decided: the module's default verdict ({word}).")
        }));
        out.push(Stmt::If {
            cond: e::eq(e::path("meta.verdict"), e::path("VERDICT_CONTINUE")),
            then: vec![Stmt::Assign(e::path("meta.verdict"), e::path(default))],
            otherwise: vec![],
        });
        if !last {
            out.push(Stmt::Comment(format!(
                "A pass of `{}` goes on to the next module of the chain.",
                seg.module
            )));
            out.push(Stmt::If {
                cond: e::eq(e::path("meta.verdict"), e::path("VERDICT_PASS")),
                then: vec![Stmt::Assign(
                    e::path("meta.verdict"),
                    e::path("VERDICT_CONTINUE"),
                )],
                otherwise: vec![],
            });
        }
    }
    out.extend(ctx.arch.checksum_flags(&ctx.csum));
    out.extend(ctx.arch.commit_verdict());
    Ok(out)
}
