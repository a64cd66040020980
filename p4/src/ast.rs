//! A small P4_16 syntax tree: just the constructs the backend emits.
//!
//! `lower` builds it, `print` turns it into text. Keeping the tree apart from
//! the text means every construct is printed by one function, so indentation,
//! literal formats and operator spelling are the same everywhere (p4c's
//! `toP4` plays the same role over its IR).

/// A whole program, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Program {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `// text` lines (each line prefixed); an empty string prints a blank line.
    Comment(Vec<String>),
    /// `#include <file>`.
    Include(String),
    /// `typedef bit<width> name;`
    Typedef {
        name: String,
        width: u32,
    },
    /// `const ty name = value;`
    Const {
        ty: Type,
        name: String,
        value: Expr,
        comment: Option<String>,
    },
    Header(HeaderType),
    Struct(StructType),
    Parser(Parser),
    Control(Control),
    /// The package instantiation, e.g. `V1Switch(P(), V(), ...) main;`
    Package {
        ty: String,
        args: Vec<Expr>,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bit(u32),
    Varbit(u32),
    Bool,
    /// A named type (typedef, header, struct, extern).
    Named(String),
    /// A header stack `name[size]`.
    Stack(String, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecl {
    pub ty: Type,
    pub name: String,
    /// Trailing `// comment`.
    pub comment: Option<String>,
}

impl FieldDecl {
    pub fn new(ty: Type, name: &str) -> Self {
        FieldDecl {
            ty,
            name: name.to_string(),
            comment: None,
        }
    }
    pub fn commented(ty: Type, name: &str, comment: &str) -> Self {
        FieldDecl {
            ty,
            name: name.to_string(),
            comment: Some(comment.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderType {
    pub name: String,
    pub doc: Option<String>,
    pub fields: Vec<FieldDecl>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructType {
    pub name: String,
    pub doc: Option<String>,
    pub fields: Vec<FieldDecl>,
}

/// A parameter of a parser, control or action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// `in`, `out`, `inout` or empty (action data / packet_in).
    pub dir: &'static str,
    pub ty: Type,
    pub name: String,
}

impl Param {
    pub fn new(dir: &'static str, ty: Type, name: &str) -> Self {
        Param {
            dir,
            ty,
            name: name.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parser {
    pub name: String,
    pub params: Vec<Param>,
    /// Extern instances and locals declared before the states.
    pub locals: Vec<Local>,
    pub states: Vec<State>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub name: String,
    pub doc: Option<String>,
    pub body: Vec<Stmt>,
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    To(String),
    Select {
        keys: Vec<Expr>,
        cases: Vec<SelectCase>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectCase {
    /// One pattern per key; empty = `default`.
    pub patterns: Vec<Pattern>,
    pub next: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Value(Expr),
    /// `value &&& mask`.
    Masked(Expr, Expr),
    /// `_`
    Any,
}

/// A local declaration in a parser or control: a variable or an extern instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// `ty name;` (`comment` printed above).
    Var {
        ty: Type,
        name: String,
        comment: Option<String>,
    },
    /// `Ctor<targs>(args) name;`
    Instance {
        ty: String,
        args: Vec<Expr>,
        name: String,
        comment: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub name: String,
    pub params: Vec<Param>,
    pub locals: Vec<Local>,
    pub actions: Vec<Action>,
    pub tables: Vec<TableDecl>,
    pub apply: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub name: String,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDecl {
    pub name: String,
    pub doc: Option<String>,
    /// (expression, match kind, comment naming the module field)
    pub keys: Vec<(Expr, String, Option<String>)>,
    pub actions: Vec<String>,
    /// `default_action = name(args);`
    pub default_action: (String, Vec<Expr>),
    /// `size = N;` (none for a keyless table).
    pub size: Option<u32>,
    /// Table properties printed verbatim as `name = value;` (counters, ...).
    pub properties: Vec<(String, Expr)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    Assign(Expr, Expr),
    /// A method call used as a statement.
    Call(Expr),
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    Comment(String),
    /// `{ ... }` keeps related statements together (and scopes nothing).
    Block(Vec<Stmt>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A (possibly dotted) name: `hdr.ipv4.ttl`, `VERDICT_DROP`.
    Path(String),
    /// A sized literal printed as `<width>w<value>` (hex when `hex`).
    Int {
        width: u32,
        value: u128,
        hex: bool,
    },
    /// An unsized literal (array sizes, constructor arguments).
    Num(u128),
    Bool(bool),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// `(bit<w>)e`
    Cast(u32, Box<Expr>),
    /// `e[hi:lo]`
    Slice(Box<Expr>, u32, u32),
    /// `callee(args)`; `callee` may be dotted (`pkt.extract`) and carry type
    /// arguments (`pkt.lookahead<bit<8>>`).
    Call(String, Vec<Expr>),
    /// `c ? a : b`
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `{a, b, c}` (a list expression, e.g. checksum data).
    List(Vec<Expr>),
    /// `Enum.Member` or another fixed spelling that is not a declared path.
    Raw(String),
}

/// Builders that keep `lower` readable.
pub mod e {
    use super::Expr;

    pub fn path(p: impl Into<String>) -> Expr {
        Expr::Path(p.into())
    }
    pub fn int(width: u32, value: u128) -> Expr {
        Expr::Int {
            width,
            value,
            hex: false,
        }
    }
    pub fn hex(width: u32, value: u128) -> Expr {
        Expr::Int {
            width,
            value,
            hex: true,
        }
    }
    pub fn num(v: u128) -> Expr {
        Expr::Num(v)
    }
    pub fn call(f: impl Into<String>, args: Vec<Expr>) -> Expr {
        Expr::Call(f.into(), args)
    }
    pub fn bin(op: &'static str, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }
    pub fn eq(a: Expr, b: Expr) -> Expr {
        bin("==", a, b)
    }
    pub fn ne(a: Expr, b: Expr) -> Expr {
        bin("!=", a, b)
    }
    pub fn and(a: Expr, b: Expr) -> Expr {
        bin("&&", a, b)
    }
    pub fn not(a: Expr) -> Expr {
        Expr::Unary("!", Box::new(a))
    }
    pub fn compl(a: Expr) -> Expr {
        Expr::Unary("~", Box::new(a))
    }
    pub fn cast(width: u32, a: Expr) -> Expr {
        Expr::Cast(width, Box::new(a))
    }
    pub fn slice(a: Expr, hi: u32, lo: u32) -> Expr {
        Expr::Slice(Box::new(a), hi, lo)
    }
    pub fn cond(c: Expr, a: Expr, b: Expr) -> Expr {
        Expr::Cond(Box::new(c), Box::new(a), Box::new(b))
    }
    pub fn valid(header: &str) -> Expr {
        call(format!("{header}.isValid"), vec![])
    }
}
