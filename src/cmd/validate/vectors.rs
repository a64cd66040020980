//! Test vectors for `offloadctl validate`: read from a text file or a
//! capture, or generated from the module's own tables.
//!
//! The text format, one vector a line (`#` starts a comment):
//!
//! ```text
//! # PORT  FRAME-HEX                     [-> VERDICT [PORT] [OUTPUT-HEX | same]]  [class=CLASS]
//! uplink  0200000000010200 0000000a 0800 4500...  -> forward servers 02000000000202...
//! uplink  ffffffffffff...                         -> drop                          class=miss
//! 3       0200...                                 -> pass same
//! ```
//!
//! PORT is a port name or number (`none` for an interface that is no
//! port); the frame is hex (spaces allowed inside it); after `->` comes the
//! expected verdict (`drop`, `pass`, `tx`, `forward PORT`) and optionally
//! the expected output bytes (`same`: unchanged). Without `->` the reference
//! is the only judge. `class=` overrides the class the reference gives
//! (`hit`, `miss`, `edge`, `malformed`).
//!
//! Captures: pcap or pcapng. In a pcapng file the ingress port of a frame is
//! the name of the interface it was captured on (the `if_name` option of its
//! Interface Description Block), a port name or number; frames of a classic
//! pcap (which has no interface names) arrive on `--in-port`, else the
//! module's first port.

use crate::frames::{self, parse_hex, resolve_port};
use anyhow::{bail, Context as _};
use offload_core::ir::{Module, PortId};
use offload_core::semantics::Verdict;
use offload_core::testgen::vectors::{self, Class};
use std::path::Path;

/// What a vectors file says the module must do with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub verdict: Verdict,
    /// `None`: any output bytes.
    pub bytes: Option<Vec<u8>>,
}

/// One vector with where it came from.
#[derive(Debug, Clone)]
pub struct Vector {
    pub class: Class,
    pub in_port: PortId,
    pub bytes: Vec<u8>,
    /// `vectors.txt:12`, `capture.pcapng #3`, `hits routes entry 2`.
    pub origin: String,
    pub expect: Option<Expect>,
}

pub const NO_PORT: PortId = PortId(0xffff);

fn port_of(m: &Module, s: &str) -> anyhow::Result<PortId> {
    if s == "none" {
        return Ok(NO_PORT);
    }
    resolve_port(m, s)
}

/// Reads a vectors file: text (`.txt`, or anything not a capture) or a capture.
pub fn read(m: &Module, path: &Path, in_port: Option<&str>) -> anyhow::Result<Vec<Vector>> {
    let mut head = [0u8; 4];
    let is_capture = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && (head == [0x0a, 0x0d, 0x0d, 0x0a]
            || matches!(
                u32::from_le_bytes(head),
                0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1
            ));
    if is_capture {
        return read_capture(m, path, in_port);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read vectors file {}", path.display()))?;
    parse_text(m, &path.display().to_string(), &text)
}

fn read_capture(m: &Module, path: &Path, in_port: Option<&str>) -> anyhow::Result<Vec<Vector>> {
    let default = match in_port {
        Some(p) => port_of(m, p).context("--in-port")?,
        None => m.ports.first().map_or(NO_PORT, |p| p.id),
    };
    let name = path.display().to_string();
    let mut out = Vec::new();
    for input in frames::read_capture(path)? {
        let port = match &input.iface {
            Some(i) => port_of(m, i).with_context(|| {
                format!(
                    "{name}: {} was captured on interface `{i}`, which names the ingress port",
                    input.origin
                )
            })?,
            None => default,
        };
        if let Some(l) = input.orig_len {
            bail!(
                "{name}: {} was captured in part ({} of {l} bytes); capture whole frames (tcpdump -s 0)",
                input.origin,
                input.bytes.len()
            );
        }
        out.push(Vector {
            class: vectors::classify(m, port, &input.bytes),
            in_port: port,
            origin: format!("{name} {}", input.origin.replace("pcap ", "")),
            bytes: input.bytes,
            expect: None,
        });
    }
    if out.is_empty() {
        bail!("{name} holds no frames");
    }
    Ok(out)
}

/// Parses the text format; errors name `file:line:column`.
pub fn parse_text(m: &Module, file: &str, text: &str) -> anyhow::Result<Vec<Vector>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.split('#').next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        let at = |col: usize, msg: String| anyhow::anyhow!("{file}:{line_no}:{col}: {msg}");
        let col_of = |word: &str| word.as_ptr() as usize - raw.as_ptr() as usize + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        let port_word = words[0];
        let in_port = port_of(m, port_word).map_err(|e| at(col_of(port_word), format!("{e:#}")))?;
        let mut class = None;
        let mut rest: Vec<&str> = Vec::new();
        for w in &words[1..] {
            if let Some(c) = w.strip_prefix("class=") {
                class = Some(Class::parse(c).ok_or_else(|| {
                    at(
                        col_of(w),
                        format!("unknown class `{c}`; use hit, miss, edge or malformed"),
                    )
                })?);
            } else {
                rest.push(w);
            }
        }
        let arrow = rest.iter().position(|w| *w == "->");
        let (frame_words, expect_words) = match arrow {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (&rest[..], None),
        };
        let Some(first) = frame_words.first() else {
            return Err(at(
                col_of(port_word) + port_word.len(),
                "no frame after the port; write `PORT HEX [-> VERDICT ...]`".into(),
            ));
        };
        let bytes =
            parse_hex(&frame_words.join(" ")).map_err(|e| at(col_of(first), format!("{e:#}")))?;
        let expect = match expect_words {
            None => None,
            Some(ws) => Some(
                parse_expect(m, ws).map_err(|(w, msg)| at(w.map_or(raw.len() + 1, col_of), msg))?,
            ),
        };
        out.push(Vector {
            class: class.unwrap_or_else(|| vectors::classify(m, in_port, &bytes)),
            in_port,
            bytes,
            origin: format!("{file}:{line_no}"),
            expect,
        });
    }
    if out.is_empty() {
        bail!("{file} holds no vectors (one a line: `PORT HEX [-> VERDICT [PORT] [HEX]]`)");
    }
    Ok(out)
}

type ExpectError<'a> = (Option<&'a str>, String);

fn parse_expect<'a>(m: &Module, ws: &[&'a str]) -> Result<Expect, ExpectError<'a>> {
    let Some(v) = ws.first() else {
        return Err((
            None,
            "nothing after `->`: give drop, pass, tx or forward PORT".into(),
        ));
    };
    let (verdict, used) = match *v {
        "drop" => (Verdict::Drop, 1),
        "pass" => (Verdict::Pass, 1),
        "tx" => (Verdict::Tx, 1),
        "forward" => {
            let Some(p) = ws.get(1) else {
                return Err((Some(v), "`forward` needs a port".into()));
            };
            let port = port_of(m, p).map_err(|e| (Some(*p), format!("{e:#}")))?;
            (Verdict::Forward(port), 2)
        }
        other => {
            return Err((
                Some(v),
                format!("unknown verdict `{other}`; use drop, pass, tx or forward PORT"),
            ))
        }
    };
    let out = &ws[used..];
    let bytes = match out {
        [] => None,
        ["same"] => Some(Vec::new()),
        hex => Some(
            parse_hex(&hex.join(" "))
                .map_err(|e| (Some(hex[0]), format!("expected output: {e:#}")))?,
        ),
    };
    Ok(Expect { verdict, bytes })
}

/// `same` is stored as an empty vector; this resolves it against the input.
pub fn expected_bytes<'a>(e: &'a Expect, input: &'a [u8]) -> Option<&'a [u8]> {
    e.bytes
        .as_deref()
        .map(|b| if b.is_empty() { input } else { b })
}

/// `n` vectors generated from the module's own tables.
pub fn generate(m: &Module, n: usize, seed: u64) -> Vec<Vector> {
    vectors::generate(m, n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| Vector {
            class: v.class,
            in_port: v.in_port,
            bytes: v.bytes,
            origin: format!("generated #{}: {}", i + 1, v.why),
            expect: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Module {
        let src = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/edge-router.toml"
        ))
        .unwrap();
        offload_core::spec::compile(&src).unwrap()
    }

    #[test]
    fn text_lines_with_and_without_expectations() {
        let m = router();
        let v = parse_text(
            &m,
            "v.txt",
            "# comment\n\nuplink 0200 0000 0001 0200 0000 000a 0800 -> drop class=malformed\n2 ffffffffffff020000000001 0806 0000 -> forward uplink same\nnone 00112233445566778899aabbccdd\n",
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].origin, "v.txt:3");
        assert_eq!(v[0].class, Class::Malformed);
        assert_eq!(v[0].expect.as_ref().unwrap().verdict, Verdict::Drop);
        assert_eq!(v[1].in_port, PortId(2));
        let e = v[1].expect.as_ref().unwrap();
        assert_eq!(e.verdict, Verdict::Forward(PortId(1)));
        assert_eq!(expected_bytes(e, &v[1].bytes), Some(&v[1].bytes[..]));
        assert_eq!(v[2].in_port, NO_PORT);
        assert!(v[2].expect.is_none());
    }

    #[test]
    fn errors_say_where() {
        let m = router();
        let e = parse_text(&m, "v.txt", "uplink 0200zz\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("v.txt:1:8: "), "{e}");
        let e = parse_text(&m, "v.txt", "\nuplnk 00\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("v.txt:2:1: ") && e.contains("did you mean `uplink`"),
            "{e}"
        );
        let e = parse_text(&m, "v.txt", "uplink 0011 -> bounce\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("v.txt:1:16: ") && e.contains("unknown verdict"),
            "{e}"
        );
        let e = parse_text(&m, "v.txt", "uplink 0011 class=odd\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown class `odd`"), "{e}");
        let e = parse_text(&m, "v.txt", "uplink\n").unwrap_err().to_string();
        assert!(e.contains("no frame after the port"), "{e}");
    }
}
