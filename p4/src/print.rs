//! The one printer: [`Program`] → P4_16 text.
//!
//! Four-space indentation, one declaration per line, nested binary
//! expressions always parenthesised (P4 inherits C's surprising precedence of
//! `&` versus `==`, and p4c warns about it), sized literals as `8w6`.

use crate::ast::*;
use std::fmt::Write;

pub fn print(program: &Program) -> String {
    let mut p = Printer {
        out: String::new(),
        indent: 0,
    };
    let mut prev_kind = None;
    for item in &program.items {
        let kind = std::mem::discriminant(item);
        // Blank line between groups, and around every block-shaped item.
        let block = matches!(
            item,
            Item::Header(_)
                | Item::Struct(_)
                | Item::Parser(_)
                | Item::Control(_)
                | Item::Package { .. }
        );
        // A comment sticks to the item after it.
        let after_comment =
            matches!(prev_kind, Some(k) if k == std::mem::discriminant(&Item::Comment(vec![])));
        if prev_kind.is_some() && !after_comment && (block || prev_kind != Some(kind)) {
            p.out.push('\n');
        }
        p.item(item);
        prev_kind = Some(kind);
    }
    p.out
}

struct Printer {
    out: String,
    indent: usize,
}

impl Printer {
    fn line(&mut self, s: &str) {
        if s.is_empty() {
            self.out.push('\n');
            return;
        }
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn open(&mut self, s: &str) {
        self.line(&format!("{s} {{"));
        self.indent += 1;
    }

    fn close(&mut self, suffix: &str) {
        self.indent -= 1;
        self.line(&format!("}}{suffix}"));
    }

    fn doc(&mut self, doc: &Option<String>) {
        if let Some(d) = doc {
            for l in d.lines() {
                self.line(&format!("// {l}"));
            }
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Comment(lines) => {
                for l in lines {
                    if l.is_empty() {
                        self.line("//");
                    } else {
                        self.line(&format!("// {l}"));
                    }
                }
            }
            Item::Include(f) => self.line(&format!("#include <{f}>")),
            Item::Typedef { name, width } => self.line(&format!("typedef bit<{width}> {name};")),
            Item::Const {
                ty,
                name,
                value,
                comment,
            } => {
                let c = comment
                    .as_ref()
                    .map(|c| format!("  // {c}"))
                    .unwrap_or_default();
                self.line(&format!(
                    "const {} {name} = {};{c}",
                    ty_str(ty),
                    expr(value)
                ));
            }
            Item::Header(h) => {
                self.doc(&h.doc);
                self.open(&format!("header {}", h.name));
                self.fields(&h.fields);
                self.close("");
            }
            Item::Struct(s) => {
                self.doc(&s.doc);
                self.open(&format!("struct {}", s.name));
                self.fields(&s.fields);
                self.close("");
            }
            Item::Parser(parser) => self.parser(parser),
            Item::Control(c) => self.control(c),
            Item::Package { ty, args, name } => {
                let args: Vec<String> = args.iter().map(expr).collect();
                if args.len() <= 2 {
                    self.line(&format!("{ty}({}) {name};", args.join(", ")));
                } else {
                    self.line(&format!("{ty}("));
                    self.indent += 1;
                    let n = args.len();
                    for (i, a) in args.iter().enumerate() {
                        let sep = if i + 1 < n { "," } else { "" };
                        self.line(&format!("{a}{sep}"));
                    }
                    self.indent -= 1;
                    self.line(&format!(") {name};"));
                }
            }
        }
    }

    fn fields(&mut self, fields: &[FieldDecl]) {
        for f in fields {
            let c = f
                .comment
                .as_ref()
                .map(|c| format!("  // {c}"))
                .unwrap_or_default();
            self.line(&format!("{} {};{c}", ty_str(&f.ty), f.name));
        }
    }

    fn params(params: &[Param]) -> String {
        params
            .iter()
            .map(|p| {
                if p.dir.is_empty() {
                    format!("{} {}", ty_str(&p.ty), p.name)
                } else {
                    format!("{} {} {}", p.dir, ty_str(&p.ty), p.name)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn signature(&mut self, kw: &str, name: &str, params: &[Param]) {
        // One parameter per line: architecture signatures are long.
        self.line(&format!("{kw} {name}("));
        self.indent += 2;
        let n = params.len();
        for (i, p) in params.iter().enumerate() {
            let sep = if i + 1 < n { "," } else { ")" };
            let s = Self::params(std::slice::from_ref(p));
            self.line(&format!("{s}{sep}"));
        }
        self.indent -= 2;
        self.line("{");
        self.indent += 1;
    }

    fn locals(&mut self, locals: &[Local]) {
        for l in locals {
            match l {
                Local::Var { ty, name, comment } => {
                    self.doc(comment);
                    self.line(&format!("{} {name};", ty_str(ty)));
                }
                Local::Instance {
                    ty,
                    args,
                    name,
                    comment,
                } => {
                    self.doc(comment);
                    let args: Vec<String> = args.iter().map(expr).collect();
                    self.line(&format!("{ty}({}) {name};", args.join(", ")));
                }
            }
        }
    }

    fn parser(&mut self, parser: &Parser) {
        self.signature("parser", &parser.name, &parser.params);
        self.locals(&parser.locals);
        for (i, s) in parser.states.iter().enumerate() {
            if i > 0 || !parser.locals.is_empty() {
                self.line("");
            }
            self.doc(&s.doc);
            self.open(&format!("state {}", s.name));
            self.stmts(&s.body);
            match &s.transition {
                Transition::To(n) => self.line(&format!("transition {n};")),
                Transition::Select { keys, cases } => {
                    let ks: Vec<String> = keys.iter().map(expr).collect();
                    self.open(&format!("transition select({})", ks.join(", ")));
                    for c in cases {
                        let pat = if c.patterns.is_empty() {
                            "default".to_string()
                        } else {
                            let ps: Vec<String> = c.patterns.iter().map(pattern).collect();
                            if ps.len() == 1 {
                                ps[0].clone()
                            } else {
                                format!("({})", ps.join(", "))
                            }
                        };
                        let cm = c
                            .comment
                            .as_ref()
                            .map(|c| format!("  // {c}"))
                            .unwrap_or_default();
                        self.line(&format!("{pat}: {};{cm}", c.next));
                    }
                    self.close("");
                }
            }
            self.close("");
        }
        self.close("");
    }

    fn control(&mut self, c: &Control) {
        self.signature("control", &c.name, &c.params);
        self.locals(&c.locals);
        for a in &c.actions {
            self.line("");
            self.doc(&a.doc);
            self.open(&format!("action {}({})", a.name, Self::params(&a.params)));
            self.stmts(&a.body);
            self.close("");
        }
        for t in &c.tables {
            self.line("");
            self.doc(&t.doc);
            self.open(&format!("table {}", t.name));
            if !t.keys.is_empty() {
                self.open("key =");
                for (k, kind, cm) in &t.keys {
                    let cm = cm.as_ref().map(|c| format!("  // {c}")).unwrap_or_default();
                    self.line(&format!("{}: {kind};{cm}", expr(k)));
                }
                self.close("");
            }
            self.open("actions =");
            for a in &t.actions {
                self.line(&format!("{a};"));
            }
            self.close("");
            let args: Vec<String> = t.default_action.1.iter().map(expr).collect();
            self.line(&format!(
                "default_action = {}({});",
                t.default_action.0,
                args.join(", ")
            ));
            if let Some(size) = t.size {
                self.line(&format!("size = {size};"));
            }
            for (k, v) in &t.properties {
                self.line(&format!("{k} = {};", expr(v)));
            }
            self.close("");
        }
        if !(c.locals.is_empty() && c.actions.is_empty() && c.tables.is_empty()) {
            self.line("");
        }
        self.open("apply");
        self.stmts(&c.apply);
        self.close("");
        self.close("");
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Assign(l, r) => self.line(&format!("{} = {};", expr(l), expr_top(r))),
            Stmt::Call(c) => self.line(&format!("{};", expr(c))),
            Stmt::Comment(c) => {
                for l in c.lines() {
                    self.line(&format!("// {l}"));
                }
            }
            Stmt::Block(b) => {
                self.open("");
                self.stmts(b);
                self.close("");
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                self.open(&format!("if ({})", expr_top(cond)));
                self.stmts(then);
                let mut rest = otherwise;
                loop {
                    if rest.is_empty() {
                        self.close("");
                        break;
                    }
                    // `else if` chains print flat.
                    if let [Stmt::If {
                        cond,
                        then,
                        otherwise,
                    }] = rest.as_slice()
                    {
                        self.indent -= 1;
                        self.line(&format!("}} else if ({}) {{", expr_top(cond)));
                        self.indent += 1;
                        self.stmts(then);
                        rest = otherwise;
                        continue;
                    }
                    self.indent -= 1;
                    self.line("} else {");
                    self.indent += 1;
                    self.stmts(rest);
                    self.close("");
                    break;
                }
            }
        }
    }
}

pub fn ty_str(t: &Type) -> String {
    match t {
        Type::Bit(w) => format!("bit<{w}>"),
        Type::Varbit(w) => format!("varbit<{w}>"),
        Type::Bool => "bool".into(),
        Type::Named(n) => n.clone(),
        Type::Stack(n, s) => format!("{n}[{s}]"),
    }
}

fn pattern(p: &Pattern) -> String {
    match p {
        Pattern::Value(v) => expr(v),
        Pattern::Masked(v, m) => format!("{} &&& {}", expr(v), expr(m)),
        Pattern::Any => "_".into(),
    }
}

/// An expression at the top of a statement or condition: no outer parentheses.
fn expr_top(e: &Expr) -> String {
    match e {
        Expr::Binary(op, a, b) => binary(op, a, b),
        Expr::Cond(c, a, b) => format!("{} ? {} : {}", expr(c), expr(a), expr(b)),
        _ => expr(e),
    }
}

/// `a op b` without outer parentheses; a left operand with the same
/// associative operator is not parenthesised (`a && b && c`).
fn binary(op: &str, a: &Expr, b: &Expr) -> String {
    let left = match a {
        Expr::Binary(inner, x, y) if *inner == op && matches!(op, "&&" | "||" | "+" | "++") => {
            binary(op, x, y)
        }
        _ => expr(a),
    };
    format!("{left} {op} {}", expr(b))
}

pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Path(p) => p.clone(),
        Expr::Int { width, value, hex } => {
            if *hex {
                format!("{width}w0x{value:x}")
            } else {
                format!("{width}w{value}")
            }
        }
        Expr::Num(v) => v.to_string(),
        Expr::Bool(b) => b.to_string(),
        Expr::Raw(s) => s.clone(),
        Expr::Unary(op, a) => match **a {
            Expr::Binary(..) | Expr::Cond(..) => format!("{op}({})", expr_top(a)),
            _ => format!("{op}{}", expr(a)),
        },
        Expr::Binary(op, a, b) => format!("({})", binary(op, a, b)),
        Expr::Cast(w, a) => format!("(bit<{w}>){}", expr(a)),
        Expr::Slice(a, hi, lo) => format!("{}[{hi}:{lo}]", expr(a)),
        Expr::Call(f, args) => {
            let a: Vec<String> = args.iter().map(expr).collect();
            format!("{f}({})", a.join(", "))
        }
        Expr::Cond(c, a, b) => format!("({} ? {} : {})", expr(c), expr(a), expr(b)),
        Expr::List(items) => {
            let a: Vec<String> = items.iter().map(expr).collect();
            let mut s = String::from("{ ");
            let _ = write!(s, "{}", a.join(", "));
            s.push_str(" }");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::e;

    #[test]
    fn expressions_print_with_sized_literals_and_parentheses() {
        let x = e::eq(e::bin("&", e::path("a.b"), e::hex(8, 0xf0)), e::int(8, 64));
        assert_eq!(expr(&x), "((a.b & 8w0xf0) == 8w64)");
        assert_eq!(expr_top(&x), "(a.b & 8w0xf0) == 8w64");
        assert_eq!(expr(&e::compl(e::cast(16, e::path("x")))), "~(bit<16>)x");
        assert_eq!(expr(&e::not(e::valid("hdr.ipv4"))), "!hdr.ipv4.isValid()");
    }

    #[test]
    fn else_if_chains_print_flat() {
        let s = Stmt::If {
            cond: e::path("a"),
            then: vec![Stmt::Call(e::call("f", vec![]))],
            otherwise: vec![Stmt::If {
                cond: e::path("b"),
                then: vec![Stmt::Call(e::call("g", vec![]))],
                otherwise: vec![Stmt::Call(e::call("h", vec![]))],
            }],
        };
        let mut p = Printer {
            out: String::new(),
            indent: 0,
        };
        p.stmt(&s);
        assert_eq!(
            p.out,
            "if (a) {\n    f();\n} else if (b) {\n    g();\n} else {\n    h();\n}\n"
        );
    }
}
