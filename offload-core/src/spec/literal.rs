//! Literals of the module language and entry match values.
//!
//! Scalars (by the type of the field or parameter they are for):
//! - MAC: six groups of two hex digits separated by `:` (`02:00:00:00:00:01`);
//! - IPv4: dotted quad (`10.0.0.1`); IPv6: RFC 4291 text (`2001:db8::1`);
//! - unsigned integers: decimal (`443`) or hex (`0x1bb`), at most the field's width;
//! - ports: a name declared in `[ports]`, or the number of one.
//!
//! Match values (by match kind):
//! - exact: a scalar;
//! - lpm: `addr/len` or a bare address (full length); `*` = `/0`;
//! - ternary: `value &&& mask`, `value/len` (a prefix mask), a bare value
//!   (all bits), or `*` (no bits);
//! - range: `lo..hi` (inclusive), a single value, or `*` (the whole range).
//!
//! Canonical forms are checked, not repaired: an lpm value with bits set after
//! the prefix, a ternary value with bits outside its mask, or a range with
//! `lo > hi` is an error, because silently masking would hide a typo.

use crate::diag::codes;
use crate::ir::{mask_of_width, prefix_mask, Field, FieldKind, KeyMatch, MatchKind, ParamType};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// What a literal is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LitType {
    Mac,
    Ipv4,
    Ipv6,
    /// Unsigned integer of this many bits.
    Uint(u32),
    /// A logical port: name or number of a declared port.
    Port,
}

impl LitType {
    pub fn of_field(f: Field) -> LitType {
        match f.kind() {
            FieldKind::Mac => LitType::Mac,
            FieldKind::Ipv4 => LitType::Ipv4,
            FieldKind::Ipv6 => LitType::Ipv6,
            FieldKind::Int => LitType::Uint(f.width()),
            FieldKind::Port => LitType::Port,
        }
    }
    pub fn of_param(p: ParamType) -> LitType {
        match p {
            ParamType::Port => LitType::Port,
            ParamType::Mac => LitType::Mac,
            ParamType::Ipv4 => LitType::Ipv4,
            ParamType::Ipv6 => LitType::Ipv6,
            ParamType::Uint(n) => LitType::Uint(n),
        }
    }
    pub fn width(self) -> u32 {
        match self {
            LitType::Mac => 48,
            LitType::Ipv4 => 32,
            LitType::Ipv6 => 128,
            LitType::Uint(n) => n,
            LitType::Port => 16,
        }
    }
    fn describe(self) -> String {
        match self {
            LitType::Mac => "a MAC address".into(),
            LitType::Ipv4 => "an IPv4 address".into(),
            LitType::Ipv6 => "an IPv6 address".into(),
            LitType::Uint(n) => format!("a {n}-bit unsigned integer"),
            LitType::Port => "a port".into(),
        }
    }
    fn example(self) -> &'static str {
        match self {
            LitType::Mac => "write six two-digit hex groups, e.g. 02:00:00:00:00:01",
            LitType::Ipv4 => "write four decimal octets, e.g. 10.0.0.1",
            LitType::Ipv6 => "write an IPv6 address, e.g. 2001:db8::1",
            LitType::Uint(_) => "write a decimal number (443) or hex with 0x (0x1bb)",
            LitType::Port => "write a port name from [ports] or its number",
        }
    }
}

/// Formats a value the way a user would write it for this type.
pub fn format_value(v: u128, ty: LitType) -> String {
    match ty {
        LitType::Mac => {
            let b = (v as u64).to_be_bytes();
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[2], b[3], b[4], b[5], b[6], b[7]
            )
        }
        LitType::Ipv4 => Ipv4Addr::from(v as u32).to_string(),
        LitType::Ipv6 => Ipv6Addr::from(v).to_string(),
        LitType::Uint(n) if n > 16 => format!("{v:#x}"),
        LitType::Uint(_) | LitType::Port => v.to_string(),
    }
}

/// Declared ports, as literals see them.
pub trait Ports {
    fn by_name(&self, name: &str) -> Option<u16>;
    fn has_number(&self, n: u16) -> bool;
    fn names(&self) -> Vec<String>;
}

/// Why a literal was refused; `at` is a byte range within the literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LitError {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub note: String,
    pub at: Range<usize>,
}

impl LitError {
    fn new(
        code: &'static str,
        at: Range<usize>,
        message: String,
        label: &str,
        note: String,
    ) -> Self {
        LitError {
            code,
            message,
            label: label.to_string(),
            note,
            at,
        }
    }
    fn shifted(mut self, by: usize) -> Self {
        self.at = self.at.start + by..self.at.end + by;
        self
    }
}

/// `s` without surrounding whitespace, and where it starts within `s`.
fn trim(s: &str) -> (&str, usize) {
    let t = s.trim_start();
    let off = s.len() - t.len();
    (t.trim_end(), off)
}

fn bad(ty: LitType, text: &str, at: Range<usize>) -> LitError {
    LitError::new(
        codes::BAD_LITERAL,
        at,
        format!("`{text}` is not {}", ty.describe()),
        "does not parse",
        ty.example().to_string(),
    )
}

/// Parses one scalar of type `ty`.
pub fn parse_scalar(text: &str, ty: LitType, ports: &dyn Ports) -> Result<u128, LitError> {
    let (s, off) = trim(text);
    let at = off..off + s.len();
    match ty {
        LitType::Mac => parse_mac(s).ok_or_else(|| bad(ty, s, at)),
        LitType::Ipv4 => s
            .parse::<Ipv4Addr>()
            .map(|a| u128::from(u32::from(a)))
            .map_err(|_| bad(ty, s, at)),
        LitType::Ipv6 => s
            .parse::<Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| bad(ty, s, at)),
        LitType::Uint(n) => {
            let v = parse_uint(s).map_err(|_| bad(ty, s, at.clone()))?;
            check_width(v, n, s, at)
        }
        LitType::Port => {
            if let Some(n) = ports.by_name(s) {
                return Ok(u128::from(n));
            }
            if s.starts_with(|c: char| c.is_ascii_digit()) {
                let v = parse_uint(s).map_err(|_| bad(ty, s, at.clone()))?;
                return port_number(v, s, at, ports);
            }
            Err(unknown_port(s, at, ports))
        }
    }
}

/// Turns a TOML integer into a scalar of type `ty` (only integers and ports take them).
pub fn scalar_from_int(
    i: i64,
    ty: LitType,
    ports: &dyn Ports,
    len: usize,
) -> Result<u128, LitError> {
    let at = 0..len;
    if i < 0 {
        return Err(LitError::new(
            codes::BAD_LITERAL,
            at,
            format!("`{i}` is negative"),
            "negative",
            "values are unsigned".into(),
        ));
    }
    let v = i as u128;
    match ty {
        LitType::Uint(n) => check_width(v, n, &i.to_string(), at),
        LitType::Port => port_number(v, &i.to_string(), at, ports),
        _ => Err(LitError::new(
            codes::BAD_LITERAL,
            at,
            format!(
                "expected {} as a string, found the integer {i}",
                ty.describe()
            ),
            "not a string",
            format!("{}, in quotes", ty.example()),
        )),
    }
}

fn port_number(v: u128, s: &str, at: Range<usize>, ports: &dyn Ports) -> Result<u128, LitError> {
    match u16::try_from(v) {
        Ok(n) if ports.has_number(n) => Ok(v),
        _ => Err(LitError::new(
            codes::UNKNOWN_PORT,
            at,
            format!("port number {s} is not declared in [ports]"),
            "undeclared port",
            declared_ports(ports),
        )),
    }
}

fn unknown_port(s: &str, at: Range<usize>, ports: &dyn Ports) -> LitError {
    let names = ports.names();
    let mut note = declared_ports(ports);
    if let Some(best) = super::suggest::did_you_mean(s, names.iter().map(String::as_str)) {
        note = format!("did you mean `{best}`? {note}");
    }
    LitError::new(
        codes::UNKNOWN_PORT,
        at,
        format!("unknown port `{s}`"),
        "not declared in [ports]",
        note,
    )
}

fn declared_ports(ports: &dyn Ports) -> String {
    let names = ports.names();
    if names.is_empty() {
        "declare it in a [ports] section, e.g. `uplink = 1`".into()
    } else {
        format!("declared ports: {}", names.join(", "))
    }
}

fn check_width(v: u128, width: u32, s: &str, at: Range<usize>) -> Result<u128, LitError> {
    if v > mask_of_width(width) {
        return Err(LitError::new(
            codes::TOO_WIDE,
            at,
            format!("`{s}` does not fit in {width} bits"),
            "too large",
            format!("the largest {width}-bit value is {}", mask_of_width(width)),
        ));
    }
    Ok(v)
}

/// Decimal or `0x` hex, without sign; `Err` on anything else or overflow of u128.
fn parse_uint(s: &str) -> Result<u128, ()> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(());
    }
    u128::from_str_radix(digits, radix).map_err(|_| ())
}

fn parse_mac(s: &str) -> Option<u128> {
    let groups: Vec<&str> = s.split(':').collect();
    if groups.len() != 6 {
        return None;
    }
    let mut v = 0u128;
    for g in groups {
        if g.len() != 2 || !g.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        v = (v << 8) | u128::from(u8::from_str_radix(g, 16).ok()?);
    }
    Some(v)
}

/// Parses the text of one entry match value for a key of `kind` on a field of type `ty`.
pub fn parse_match(
    text: &str,
    kind: MatchKind,
    ty: LitType,
    ports: &dyn Ports,
) -> Result<KeyMatch, LitError> {
    let width = ty.width();
    let (s, off) = trim(text);
    parse_match_trimmed(s, kind, ty, width, ports).map_err(|e| e.shifted(off))
}

fn parse_match_trimmed(
    s: &str,
    kind: MatchKind,
    ty: LitType,
    width: u32,
    ports: &dyn Ports,
) -> Result<KeyMatch, LitError> {
    let wildcard = s == "*";
    match kind {
        MatchKind::Exact => {
            if wildcard {
                return Err(LitError::new(
                    codes::BAD_LITERAL,
                    0..s.len(),
                    "an exact key cannot be a wildcard".into(),
                    "wildcard",
                    "give a value; use a ternary key if the field may be left out".into(),
                ));
            }
            parse_scalar(s, ty, ports).map(KeyMatch::Exact)
        }
        MatchKind::Lpm => {
            if wildcard {
                return Ok(KeyMatch::Lpm {
                    value: 0,
                    prefix_len: 0,
                });
            }
            let (v, len) = match s.split_once('/') {
                Some((a, l)) => {
                    let v = parse_scalar(a, ty, ports)?;
                    (v, parse_prefix_len(l, width, a.len() + 1)?)
                }
                None => (parse_scalar(s, ty, ports)?, width),
            };
            let host = v & !prefix_mask(width, len);
            if host != 0 {
                let net = v & prefix_mask(width, len);
                return Err(LitError::new(
                    codes::HOST_BITS,
                    0..s.len(),
                    format!(
                        "`{s}` has bits set after its /{len} prefix ({})",
                        format_value(host, ty)
                    ),
                    "host bits set",
                    format!("did you mean `{}/{len}`?", format_value(net, ty)),
                ));
            }
            Ok(KeyMatch::Lpm {
                value: v,
                prefix_len: len,
            })
        }
        MatchKind::Ternary => {
            if wildcard {
                return Ok(KeyMatch::Ternary { value: 0, mask: 0 });
            }
            let (v, mask, shown) = if let Some(i) = s.find("&&&") {
                let v = parse_scalar(&s[..i], ty, ports)?;
                let m = parse_scalar(&s[i + 3..], ty, ports).map_err(|e| e.shifted(i + 3))?;
                (v, m, "mask")
            } else if let Some((a, l)) = s.split_once('/') {
                let v = parse_scalar(a, ty, ports)?;
                (
                    v,
                    prefix_mask(width, parse_prefix_len(l, width, a.len() + 1)?),
                    "prefix",
                )
            } else {
                (parse_scalar(s, ty, ports)?, mask_of_width(width), "mask")
            };
            let outside = v & !mask;
            if outside != 0 {
                return Err(LitError::new(
                    codes::BITS_OUTSIDE_MASK,
                    0..s.len(),
                    format!(
                        "`{s}` has value bits outside its {shown} ({})",
                        format_value(outside, ty)
                    ),
                    "bits outside the mask",
                    format!(
                        "did you mean `{} &&& {}`?",
                        format_value(v & mask, ty),
                        format_value(mask, ty)
                    ),
                ));
            }
            Ok(KeyMatch::Ternary { value: v, mask })
        }
        MatchKind::Range => {
            if wildcard {
                return Ok(KeyMatch::Range {
                    lo: 0,
                    hi: mask_of_width(width),
                });
            }
            let (lo, hi) = match s.find("..") {
                Some(i) => {
                    let lo = parse_scalar(&s[..i], ty, ports)?;
                    let hi = parse_scalar(&s[i + 2..], ty, ports).map_err(|e| e.shifted(i + 2))?;
                    (lo, hi)
                }
                None => {
                    let v = parse_scalar(s, ty, ports)?;
                    (v, v)
                }
            };
            if lo > hi {
                return Err(LitError::new(
                    codes::EMPTY_RANGE,
                    0..s.len(),
                    format!("range `{s}` is empty: its low end is above its high end"),
                    "lo > hi",
                    format!(
                        "write it as `{}..{}`",
                        format_value(hi, ty),
                        format_value(lo, ty)
                    ),
                ));
            }
            Ok(KeyMatch::Range { lo, hi })
        }
    }
}

/// The match a TOML integer stands for (exact value, single-value range, full-mask ternary).
pub fn match_from_int(
    i: i64,
    kind: MatchKind,
    ty: LitType,
    ports: &dyn Ports,
    len: usize,
) -> Result<KeyMatch, LitError> {
    let v = scalar_from_int(i, ty, ports, len)?;
    Ok(match kind {
        MatchKind::Exact => KeyMatch::Exact(v),
        MatchKind::Lpm => KeyMatch::Lpm {
            value: v,
            prefix_len: ty.width(),
        },
        MatchKind::Ternary => KeyMatch::Ternary {
            value: v,
            mask: mask_of_width(ty.width()),
        },
        MatchKind::Range => KeyMatch::Range { lo: v, hi: v },
    })
}

fn parse_prefix_len(l: &str, width: u32, base: usize) -> Result<u32, LitError> {
    let (t, off) = trim(l);
    let at = base + off..base + off + t.len();
    match t.parse::<u32>() {
        Ok(n) if n <= width && !t.starts_with('+') => Ok(n),
        _ => Err(LitError::new(
            codes::BAD_LITERAL,
            at,
            format!("`{t}` is not a prefix length for a {width}-bit field"),
            "bad prefix length",
            format!("write a number from 0 to {width} after the `/`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P;
    impl Ports for P {
        fn by_name(&self, name: &str) -> Option<u16> {
            (name == "uplink").then_some(1)
        }
        fn has_number(&self, n: u16) -> bool {
            n == 1
        }
        fn names(&self) -> Vec<String> {
            vec!["uplink".into()]
        }
    }

    fn m(s: &str, k: MatchKind, t: LitType) -> Result<KeyMatch, LitError> {
        parse_match(s, k, t, &P)
    }

    #[test]
    fn scalars() {
        assert_eq!(
            parse_scalar("02:00:00:00:00:0a", LitType::Mac, &P),
            Ok(0x0200_0000_000a)
        );
        assert_eq!(
            parse_scalar(" 10.0.0.1 ", LitType::Ipv4, &P),
            Ok(0x0a00_0001)
        );
        assert_eq!(parse_scalar("::1", LitType::Ipv6, &P), Ok(1));
        assert_eq!(parse_scalar("0x1bb", LitType::Uint(16), &P), Ok(443));
        assert_eq!(parse_scalar("uplink", LitType::Port, &P), Ok(1));
        assert_eq!(parse_scalar("1", LitType::Port, &P), Ok(1));
        assert_eq!(
            parse_scalar("2", LitType::Port, &P).unwrap_err().code,
            codes::UNKNOWN_PORT
        );
        let e = parse_scalar("uplnk", LitType::Port, &P).unwrap_err();
        assert!(e.note.contains("did you mean `uplink`"), "{}", e.note);
        assert_eq!(
            parse_scalar("256", LitType::Uint(8), &P).unwrap_err().code,
            codes::TOO_WIDE
        );
        for bad in [
            "02:00:00:00:00",
            "02:00:00:00:00:0g",
            "2:0:0:0:0:1",
            "02-00-00-00-00-01",
        ] {
            assert_eq!(
                parse_scalar(bad, LitType::Mac, &P).unwrap_err().code,
                codes::BAD_LITERAL,
                "{bad}"
            );
        }
        for bad in ["10.0.0.256", "10.0.0", "010.0.0.1", "a.b.c.d"] {
            assert!(parse_scalar(bad, LitType::Ipv4, &P).is_err(), "{bad}");
        }
        assert!(parse_scalar("2001:db8:::1", LitType::Ipv6, &P).is_err());
        assert!(parse_scalar("-1", LitType::Uint(8), &P).is_err());
        assert!(parse_scalar("0x", LitType::Uint(8), &P).is_err());
        let huge = "9".repeat(100);
        assert_eq!(
            parse_scalar(&huge, LitType::Uint(32), &P).unwrap_err().code,
            codes::BAD_LITERAL
        );
        assert_eq!(
            parse_scalar(
                "340282366920938463463374607431768211455",
                LitType::Uint(32),
                &P
            )
            .unwrap_err()
            .code,
            codes::TOO_WIDE
        );
        assert_eq!(
            scalar_from_int(-5, LitType::Uint(8), &P, 2)
                .unwrap_err()
                .code,
            codes::BAD_LITERAL
        );
        assert_eq!(
            scalar_from_int(i64::MAX, LitType::Uint(32), &P, 2)
                .unwrap_err()
                .code,
            codes::TOO_WIDE
        );
    }

    #[test]
    fn matches_in_canonical_form() {
        use MatchKind::*;
        let v4 = LitType::Ipv4;
        assert_eq!(
            m("10.0.0.0/8", Lpm, v4),
            Ok(KeyMatch::Lpm {
                value: 0x0a00_0000,
                prefix_len: 8
            })
        );
        assert_eq!(
            m("10.0.0.1", Lpm, v4),
            Ok(KeyMatch::Lpm {
                value: 0x0a00_0001,
                prefix_len: 32
            })
        );
        assert_eq!(
            m("*", Lpm, v4),
            Ok(KeyMatch::Lpm {
                value: 0,
                prefix_len: 0
            })
        );
        let e = m("10.0.0.1/8", Lpm, v4).unwrap_err();
        assert_eq!(e.code, codes::HOST_BITS);
        assert!(
            e.message.contains("0.0.0.1") && e.note.contains("10.0.0.0/8"),
            "{e:?}"
        );
        assert_eq!(m("10.0.0.0/33", Lpm, v4).unwrap_err().at, 9..11);
        assert_eq!(
            m("10.0.0.0/8", Ternary, v4),
            Ok(KeyMatch::Ternary {
                value: 0x0a00_0000,
                mask: 0xff00_0000
            })
        );
        assert_eq!(
            m("0x10 &&& 0xf0", Ternary, LitType::Uint(8)),
            Ok(KeyMatch::Ternary {
                value: 0x10,
                mask: 0xf0
            })
        );
        assert_eq!(
            m("6", Ternary, LitType::Uint(8)),
            Ok(KeyMatch::Ternary {
                value: 6,
                mask: 0xff
            })
        );
        let e = m("0x13 &&& 0xf0", Ternary, LitType::Uint(8)).unwrap_err();
        assert_eq!(e.code, codes::BITS_OUTSIDE_MASK);
        let e = m("0x10 &&& 0xfg", Ternary, LitType::Uint(8)).unwrap_err();
        assert_eq!(e.at, 9..13);
        assert_eq!(
            m("1024..2047", Range, LitType::Uint(16)),
            Ok(KeyMatch::Range { lo: 1024, hi: 2047 })
        );
        assert_eq!(
            m("22", Range, LitType::Uint(16)),
            Ok(KeyMatch::Range { lo: 22, hi: 22 })
        );
        assert_eq!(
            m("*", Range, LitType::Uint(16)),
            Ok(KeyMatch::Range { lo: 0, hi: 65535 })
        );
        assert_eq!(
            m("9..5", Range, LitType::Uint(16)).unwrap_err().code,
            codes::EMPTY_RANGE
        );
        assert_eq!(
            m("1..70000", Range, LitType::Uint(16)).unwrap_err().at,
            3..8
        );
        assert_eq!(
            m("*", Exact, LitType::Uint(16)).unwrap_err().code,
            codes::BAD_LITERAL
        );
        assert_eq!(
            match_from_int(7, Range, LitType::Uint(16), &P, 1),
            Ok(KeyMatch::Range { lo: 7, hi: 7 })
        );
        assert!(match_from_int(7, Lpm, v4, &P, 1).is_err());
    }

    #[test]
    fn formats_values() {
        assert_eq!(
            format_value(0x0200_0000_000a, LitType::Mac),
            "02:00:00:00:00:0a"
        );
        assert_eq!(format_value(0x0a00_0001, LitType::Ipv4), "10.0.0.1");
        assert_eq!(format_value(1, LitType::Ipv6), "::1");
        assert_eq!(format_value(443, LitType::Uint(16)), "443");
    }
}
