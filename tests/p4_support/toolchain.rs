//! Finding and running the P4 toolchain for the tests: `p4c-bm2-ss` and BMv2
//! come from `offload_drivers::p4::bmv2::Tools`; `p4test` with Tofino's
//! architecture headers (`tna.p4` and what it includes) checks TNA programs
//! through p4c's front and mid end (bf-p4c, the Tofino back end, is not open).
//!
//! None of the toolchain is part of the repository: it is found on `PATH` or
//! under `OFFLOAD_BMV2_DIR` (its `bin/`), and the TNA headers under
//! `OFFLOAD_TNA_INCLUDE` or `<prefix>/share/tna` next to `p4test`'s `bin/`.

#![allow(dead_code)] // each including test uses a part

use offload_drivers::p4::bmv2::{self, Measured};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TNA_INCLUDE_ENV: &str = "OFFLOAD_TNA_INCLUDE";

/// `p4test` and the directory holding `tna.p4`.
#[derive(Debug, Clone)]
pub struct P4test {
    pub p4test: PathBuf,
    pub tna_include: PathBuf,
}

impl P4test {
    pub fn find() -> Result<P4test, String> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(d) = std::env::var_os(bmv2::BMV2_DIR_ENV) {
            let d = PathBuf::from(d);
            dirs.push(d.join("bin"));
            dirs.push(d);
        }
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        let p4test = dirs
            .iter()
            .map(|d| d.join("p4test"))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "p4test not found (looked in {})",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":")
                )
            })?;
        let tna_include = match std::env::var_os(TNA_INCLUDE_ENV) {
            Some(d) => PathBuf::from(d),
            None => p4test
                .parent()
                .and_then(Path::parent)
                .map(|prefix| prefix.join("share/tna"))
                .unwrap_or_default(),
        };
        if !tna_include.join("tna.p4").is_file() {
            return Err(format!(
                "tna.p4 not found in {} (set {TNA_INCLUDE_ENV} to the directory of Tofino's architecture headers)",
                tna_include.display()
            ));
        }
        Ok(P4test {
            p4test,
            tna_include,
        })
    }

    /// Checks a TNA program with p4test (front and mid end) in `dir`.
    pub fn check_tna(&self, source: &str, dir: &Path) -> Result<Measured, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let p4 = dir.join("program.p4");
        std::fs::write(&p4, source).map_err(|e| format!("write {}: {e}", p4.display()))?;
        let mut cmd = Command::new(&self.p4test);
        cmd.arg("--std")
            .arg("p4-16")
            .arg("-D__TARGET_TOFINO__=1")
            .arg("-I")
            .arg(&self.tna_include)
            .arg(&p4);
        let m = bmv2::run_measured(&mut cmd, bmv2::COMPILE_LIMIT).map_err(|e| e.to_string())?;
        if !m.success {
            return Err(format!(
                "p4test rejected {} ({}{}):\n{}{}",
                p4.display(),
                m.status,
                if m.timed_out { ", time limit" } else { "" },
                m.stdout,
                m.stderr
            ));
        }
        Ok(m)
    }
}

/// A line for the person running the tests, past libtest's capture (which
/// takes `eprintln!` of passing tests): the figures a run measured.
pub fn say(line: &str) {
    use std::io::Write;
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}

/// p4c warnings that generated code may carry, each for a reason that is
/// the module's own meaning, not a generator fault (issue 11: every warning
/// is looked at and either fixed or documented):
/// - `[--Wwarn=invalid_header]`: a `set` after `pop_vlan` (or on a header
///   the packet lacks) writes into an invalid header; the module language
///   defines that as a no-op on the wire, which is what BMv2 does (the
///   differential compares it);
/// - `[--Wwarn=unused] ... Unused action parameter`: p4c's dead-code
///   elimination found that the parameter's only use is such a write, or a
///   write that a later primitive of the same action overwrites.
pub const DOCUMENTED_WARNINGS: &[&str] = &[
    "[--Wwarn=invalid_header] warning: accessing a field of an invalid header",
    "[--Wwarn=invalid_header] warning: accessing a field of a potentially invalid header",
    "[--Wwarn=unused] warning: Unused action parameter",
];

/// The warning lines of p4c's output that [`DOCUMENTED_WARNINGS`] does not explain.
pub fn undocumented_warnings(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.contains("warning:") || l.contains("error:"))
        .filter(|l| !DOCUMENTED_WARNINGS.iter().any(|d| l.contains(d)))
        .map(String::from)
        .collect()
}
