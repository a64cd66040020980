//! Actions: parameters and the primitives of `do`, with their operands.

use super::*;

impl Lowerer<'_> {
    pub(super) fn actions(&mut self, ast: &ModuleAst) {
        // Register names first so primitives and tables can refer to any action.
        if ast.actions.len() > MAX_ACTIONS {
            self.limit(
                "actions",
                MAX_ACTIONS,
                ast.actions.len(),
                ast.actions[MAX_ACTIONS].name.span,
            );
        }
        let ast_actions = &ast.actions[..ast.actions.len().min(MAX_ACTIONS)];
        for a in ast_actions {
            self.action_ids
                .insert(a.name.value.clone(), ActionId(self.actions.len() as u32));
            self.actions.push(ActionInfo {
                name: a.name.value.clone(),
                params: Vec::new(),
                params_broken: a.params_broken,
                body: Vec::new(),
                span: a.name.span,
            });
        }
        for (i, a) in ast_actions.iter().enumerate() {
            if self.saturated() {
                break;
            }
            self.check_name(&a.name, "action", false);
            if a.params.len() > MAX_PARAMS {
                self.limit(
                    "parameters in one action",
                    MAX_PARAMS,
                    a.params.len(),
                    a.params[MAX_PARAMS].0.span,
                );
                self.actions[i].params_broken = true;
                continue;
            }
            if a.body.len() > MAX_PRIMITIVES {
                self.limit(
                    "primitives in one action",
                    MAX_PRIMITIVES,
                    a.body.len(),
                    a.body[MAX_PRIMITIVES].span,
                );
                continue;
            }
            let mut params = Vec::new();
            let mut broken = a.params_broken;
            for (pname, pty) in &a.params {
                let ok_name = self.check_name(pname, "parameter", false);
                match parse_param_type(&pty.value) {
                    Some(ty) if ok_name => params.push(Param {
                        name: pname.value.clone(),
                        ty,
                    }),
                    Some(_) => broken = true,
                    None => {
                        broken = true;
                        let mut d = Diagnostic::new(
                            codes::BAD_PARAM_TYPE,
                            format!("`{}` is not a parameter type", pty.value),
                        )
                        .with_label(pty.span, "unknown type");
                        if let Some(best) = did_you_mean(
                            &pty.value,
                            ["port", "mac", "ipv4", "ipv6", "u8", "u16", "u32"],
                        ) {
                            d = d.with_note(format!("did you mean `{best}`?"));
                        }
                        self.push(d.with_note(
                            "parameter types: port, mac, ipv4, ipv6, or uN for an N-bit unsigned integer (N 1..=32)",
                        ));
                    }
                }
            }
            let body = self.body(a, &params, broken);
            let info = &mut self.actions[i];
            info.params = params;
            info.params_broken = broken;
            info.body = body;
        }
    }

    pub(super) fn body(
        &mut self,
        a: &ActionAst,
        params: &[Param],
        params_broken: bool,
    ) -> Vec<Primitive> {
        let mut out = Vec::new();
        let mut terminator: Option<(Span, String)> = None;
        let mut reported_after = false;
        // Where this action's first `vxlan_decap` was (a second one never
        // finds a tunnel: the decap reparses nothing), unless an encap came between.
        let mut decapped: Option<Span> = None;
        for text in &a.body {
            if self.saturated() {
                break;
            }
            let span_of =
                |s: &Self, r: std::ops::Range<usize>| s.sub_span(text.span, &text.value, r);
            let p = match prim::split(&text.value) {
                Ok(p) => p,
                Err(e) => {
                    let at = span_of(self, e.at);
                    self.push(
                        Diagnostic::new(codes::BAD_PRIMITIVE, format!("malformed primitive: {}", e.message))
                            .with_label(at, "here")
                            .with_note("write a primitive as `name` or `name(arg, ...)`, e.g. `set(eth.dst, dmac)`"),
                    );
                    continue;
                }
            };
            if let Some((tspan, tname)) = &terminator {
                if !reported_after {
                    reported_after = true;
                    let at = span_of(self, p.all.clone());
                    self.push(
                        Diagnostic::new(
                            codes::AFTER_TERMINATOR,
                            format!(
                                "`{}` can never run: `{tname}` ends the pipeline before it",
                                p.name
                            ),
                        )
                        .with_label(at, "unreachable")
                        .with_label(*tspan, format!("`{tname}` ends the pipeline here"))
                        .with_note(format!(
                            "move `{tname}` to the end of `do`, or remove what follows it"
                        )),
                    );
                }
                continue;
            }
            let name_at = span_of(self, p.name_at.clone());
            let Some((_, arg_names)) = PRIMITIVES.iter().find(|(n, _)| *n == p.name) else {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_PRIMITIVE,
                    format!("unknown primitive `{}`", p.name),
                )
                .with_label(name_at, "unknown primitive");
                if let Some(best) = did_you_mean(p.name, PRIMITIVES.iter().map(|(n, _)| *n)) {
                    d = d.with_note(format!("did you mean `{best}`?"));
                }
                self.push(d.with_note(
                    "primitives: drop, pass, tx, forward(port), set(field, value), dec_ttl, push_vlan(vid), pop_vlan, vxlan_encap(dmac, smac, src, dst, vni), vxlan_decap",
                ));
                continue;
            };
            if p.args.len() != arg_names.len() {
                let usage = if arg_names.is_empty() {
                    p.name.to_string()
                } else {
                    format!("{}({})", p.name, arg_names.join(", "))
                };
                let at = span_of(self, p.all.clone());
                self.push(
                    Diagnostic::new(
                        codes::BAD_PRIMITIVE,
                        format!(
                            "`{}` takes {} argument(s), found {}",
                            p.name,
                            arg_names.len(),
                            p.args.len()
                        ),
                    )
                    .with_label(at, "wrong number of arguments")
                    .with_note(format!("write `{usage}`")),
                );
                continue;
            }
            let arg = |i: usize| (p.args[i].0, span_of(self, p.args[i].1.clone()));
            let prim = match p.name {
                "drop" => Some(Primitive::Drop),
                "pass" => Some(Primitive::Pass),
                "tx" => Some(Primitive::Tx),
                "dec_ttl" => Some(Primitive::DecTtl),
                "pop_vlan" => Some(Primitive::PopVlan),
                "vxlan_decap" => {
                    if let Some(first) = decapped {
                        self.push(
                            Diagnostic::new(
                                codes::VXLAN_DECAP_NEVER,
                                "this `vxlan_decap` can never find a VXLAN header",
                            )
                            .with_label(name_at, "always a no-op")
                            .with_label(first, "the first `vxlan_decap` removed the only tunnel the parser knows")
                            .with_note(
                                "after a decap the inner headers are the headers and no further VXLAN \
                                 header is parsed; remove the second `vxlan_decap`",
                            ),
                        );
                        None
                    } else {
                        decapped = Some(name_at);
                        Some(Primitive::VxlanDecap)
                    }
                }
                "vxlan_encap" => {
                    decapped = None;
                    let slots = [
                        ("dmac", Field::EthDst),
                        ("smac", Field::EthSrc),
                        ("src", Field::Ipv4Src),
                        ("dst", Field::Ipv4Dst),
                        ("vni", Field::VxlanVni),
                    ];
                    let texts: Vec<(&str, Span)> = (0..slots.len()).map(arg).collect();
                    let ops: Vec<Option<Operand>> = slots
                        .iter()
                        .zip(texts)
                        .map(|((slot, field), (t, at))| {
                            self.encap_operand(slot, *field, t, at, params, params_broken)
                        })
                        .collect();
                    match ops[..] {
                        [Some(dmac), Some(smac), Some(src), Some(dst), Some(vni)] => {
                            Some(Primitive::VxlanEncap(crate::ir::VxlanEncap {
                                dmac,
                                smac,
                                src,
                                dst,
                                vni,
                            }))
                        }
                        _ => None,
                    }
                }
                "forward" => {
                    let (t, at) = arg(0);
                    self.forward_operand(t, at, params, params_broken)
                        .map(Primitive::Forward)
                }
                "set" => {
                    let (ft, fat) = arg(0);
                    let (vt, vat) = arg(1);
                    match self.field(ft, fat) {
                        Some(field) if !field.info().writable => {
                            let writable: Vec<&str> = Field::ALL
                                .iter()
                                .filter(|f| f.info().writable)
                                .map(|f| f.name())
                                .collect();
                            self.push(
                                Diagnostic::new(
                                    codes::NOT_WRITABLE,
                                    format!("`{ft}` cannot be written"),
                                )
                                .with_label(fat, "read-only field")
                                .with_note(format!("writable fields: {}", writable.join(", "))),
                            );
                            None
                        }
                        // `set(eth.src, eth.dst)`: a header-qualified name is
                        // a field (parameter names have no dot; literals do
                        // not start with a letter and a dot-separated word).
                        Some(field) if names_a_field(vt) => {
                            match self
                                .field(vt, vat)
                                .map(|from| (from, field.copy_fits(from)))
                            {
                                None => None,
                                Some((from, Ok(()))) => Some(Primitive::Copy { field, from }),
                                Some((_, Err(why))) => {
                                    self.push(
                                        Diagnostic::new(
                                            codes::COPY_MISMATCH,
                                            format!("`{vt}` cannot be copied into `{ft}`"),
                                        )
                                        .with_label(vat, why)
                                        .with_note(
                                            "a field copies into a field of the same kind: MAC ↔ MAC, \
                                             IPv4 ↔ IPv4, IPv6 ↔ IPv6, or an integer into an integer \
                                             field at least as wide",
                                        ),
                                    );
                                    None
                                }
                            }
                        }
                        Some(field) => self
                            .value_operand(vt, vat, field, params, params_broken)
                            .map(|value| Primitive::Set { field, value }),
                        None => None,
                    }
                }
                "push_vlan" => {
                    let (t, at) = arg(0);
                    self.value_operand(t, at, Field::VlanVid, params, params_broken)
                        .map(Primitive::PushVlan)
                }
                _ => unreachable!("PRIMITIVES lists only names handled above"),
            };
            if let Some(prim) = prim {
                if prim.terminates() {
                    terminator = Some((name_at, p.name.to_string()));
                }
                out.push(prim);
            } else if matches!(p.name, "forward") {
                // Still ends the pipeline even though its argument was wrong.
                terminator = Some((name_at, p.name.to_string()));
            }
        }
        out
    }

    /// One `vxlan_encap` argument: a parameter of the slot's type or a
    /// literal (read as the field `like` is: MAC, IPv4 address, 24-bit VNI).
    fn encap_operand(
        &mut self,
        slot: &str,
        like: Field,
        t: &str,
        at: Span,
        params: &[Param],
        params_broken: bool,
    ) -> Option<Operand> {
        let want = match slot {
            "dmac" | "smac" => "a MAC address (`mac`)",
            "src" | "dst" => "an IPv4 address (`ipv4`; the outer header is IPv4)",
            _ => "a VNI, an integer of at most 24 bits (`u24` or narrower)",
        };
        if let Some(i) = Self::param_index(params, t) {
            let ty = params[i].ty;
            if !ty.fits(like) {
                self.push(
                    Diagnostic::new(
                        codes::VXLAN_ENCAP_ARG,
                        format!(
                            "`vxlan_encap`'s `{slot}` takes {want}; parameter `{t}` has type {ty}"
                        ),
                    )
                    .with_label(at, format!("this is {ty}"))
                    .with_note(
                        "write `vxlan_encap(dmac, smac, src, dst, vni)`: MAC, MAC, IPv4, IPv4, VNI",
                    ),
                );
                return None;
            }
            return Some(Operand::Param(i));
        }
        self.value_operand(t, at, like, params, params_broken)
    }

    pub(super) fn param_index(params: &[Param], name: &str) -> Option<usize> {
        params.iter().position(|p| p.name == name)
    }

    pub(super) fn unknown_name(
        &mut self,
        t: &str,
        at: Span,
        params: &[Param],
        what: &str,
        also_ports: bool,
    ) {
        let mut candidates: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
        if also_ports {
            candidates.extend(self.ports.names());
        }
        let mut d = Diagnostic::new(codes::UNKNOWN_PARAM, format!("`{t}` is not {what}"))
            .with_label(at, "unknown name");
        if let Some(best) = did_you_mean(t, candidates.iter().map(String::as_str)) {
            d = d.with_note(format!("did you mean `{best}`?"));
        }
        let params_list: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        d = d.with_note(if params_list.is_empty() {
            "this action has no parameters; declare one with `params = { name = \"type\" }`"
                .to_string()
        } else {
            format!("parameters of this action: {}", params_list.join(", "))
        });
        self.push(d);
    }

    pub(super) fn forward_operand(
        &mut self,
        t: &str,
        at: Span,
        params: &[Param],
        params_broken: bool,
    ) -> Option<Operand> {
        let param = Self::param_index(params, t);
        let port = self.ports.by_name(t);
        match (param, port) {
            (Some(_), Some(_)) => {
                self.push(
                    Diagnostic::new(
                        codes::AMBIGUOUS_NAME,
                        format!("`{t}` is both a parameter and a port"),
                    )
                    .with_label(at, "ambiguous")
                    .with_note("rename the parameter or the port so `forward` has one meaning"),
                );
                None
            }
            (Some(i), None) => {
                let ty = params[i].ty;
                if ty != ParamType::Port {
                    self.push(
                        Diagnostic::new(
                            codes::PARAM_TYPE_MISMATCH,
                            format!("`forward` needs a port, but parameter `{t}` has type {ty}"),
                        )
                        .with_label(at, format!("this is {ty}"))
                        .with_note(format!("declare it as `{t} = \"port\"`")),
                    );
                    return None;
                }
                Some(Operand::Param(i))
            }
            (None, Some(n)) => Some(Operand::Const(u128::from(n))),
            (None, None) if t.starts_with(|c: char| c.is_ascii_digit()) => {
                match literal::parse_scalar(t, LitType::Port, &self.ports) {
                    Ok(v) => Some(Operand::Const(v)),
                    Err(e) => {
                        let d = Diagnostic::new(e.code, e.message)
                            .with_label(at, e.label)
                            .with_note(e.note);
                        self.push(d);
                        None
                    }
                }
            }
            (None, None) => {
                if !params_broken {
                    self.unknown_name(
                        t,
                        at,
                        params,
                        "a parameter of this action or a declared port",
                        true,
                    );
                }
                None
            }
        }
    }

    /// A `set`/`push_vlan` value: a parameter that fits `field`, or a literal of its type.
    pub(super) fn value_operand(
        &mut self,
        t: &str,
        at: Span,
        field: Field,
        params: &[Param],
        params_broken: bool,
    ) -> Option<Operand> {
        let looks_like_name = t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if let Some(i) = Self::param_index(params, t) {
            let ty = params[i].ty;
            if !ty.fits(field) {
                self.push(
                    Diagnostic::new(
                        codes::PARAM_TYPE_MISMATCH,
                        format!(
                            "parameter `{t}` has type {ty}, which does not fit `{}`",
                            field.name()
                        ),
                    )
                    .with_label(at, format!("this is {ty}"))
                    .with_note(format!(
                        "`{}` takes {}; declare the parameter as `{t} = \"{}\"`",
                        field.name(),
                        param_type_for(field),
                        param_type_for(field)
                    )),
                );
                return None;
            }
            return Some(Operand::Param(i));
        }
        if looks_like_name {
            if !params_broken {
                self.unknown_name(t, at, params, "a parameter of this action", false);
            }
            return None;
        }
        match literal::parse_scalar(t, LitType::of_field(field), &self.ports) {
            Ok(v) => Some(Operand::Const(v)),
            Err(e) => {
                let d = Diagnostic::new(e.code, format!("{} (for `{}`)", e.message, field.name()))
                    .with_label(at, e.label)
                    .with_note(e.note);
                self.push(d);
                None
            }
        }
    }
}

/// `header.field` (or a misspelt one): a word, one dot, a word — what a
/// field name looks like, and what no literal or parameter name does
/// (`10.0.0.1` starts with a digit, parameters have no dot).
fn names_a_field(t: &str) -> bool {
    let word = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    matches!(t.split_once('.'), Some((h, f)) if word(h) && word(f))
}
