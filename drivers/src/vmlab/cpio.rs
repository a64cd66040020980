//! A writer for the "newc" cpio format, the one the kernel unpacks as an initramfs
//! (`init/initramfs.c`). Only what the lab needs: directories, regular files, symlinks and
//! character devices, owned by root.
//!
//! Layout of one entry: a 110-byte ASCII header (`070701` then 13 fields of 8 hex digits), the
//! NUL-terminated name padded to 4 bytes, the data padded to 4 bytes. The archive ends with the
//! entry `TRAILER!!!`. The kernel does not create missing parent directories, so callers add
//! directories before their contents ([`CpioWriter::dir_all`] does it for a path).

use std::collections::BTreeSet;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Builds a newc archive in memory.
#[derive(Debug, Default)]
pub struct CpioWriter {
    out: Vec<u8>,
    next_ino: u32,
    dirs: BTreeSet<String>,
    names: BTreeSet<String>,
}

/// A path given to the writer was added twice or is not a clean relative path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpioError {
    #[error("initramfs path `{path}` is added twice")]
    Duplicate { path: String },
    #[error(
        "initramfs path `{path}` must be relative, without `.`/`..` components or a trailing `/`"
    )]
    BadPath { path: String },
}

impl CpioWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates directory `path` and every missing parent (mode 0755).
    pub fn dir_all(&mut self, path: &str) -> Result<(), CpioError> {
        check_path(path)?;
        let mut cur = String::new();
        for part in path.split('/') {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(part);
            if self.dirs.insert(cur.clone()) {
                let name = cur.clone();
                self.entry(&name, S_IFDIR | 0o755, &[])?;
            }
        }
        Ok(())
    }

    /// Adds a regular file (parents created as needed).
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), CpioError> {
        self.parents(path)?;
        self.entry(path, S_IFREG | (mode & 0o7777), data)
    }

    /// Adds a symbolic link `path` → `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        self.parents(path)?;
        self.entry(path, S_IFLNK | 0o777, target.as_bytes())
    }

    /// Adds a character device node.
    pub fn char_dev(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.parents(path)?;
        self.entry_dev(path, S_IFCHR | (mode & 0o7777), (major, minor), &[])
    }

    /// `true` when `path` was already added (as anything).
    pub fn contains(&self, path: &str) -> bool {
        self.names.contains(path) || self.dirs.contains(path)
    }

    /// Appends the trailer and returns the archive, padded to 512 bytes so that another archive
    /// may follow it (the kernel reads concatenated archives; it needs 4-byte alignment).
    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 0, (0, 0), 0);
        pad_to(&mut self.out, 512);
        self.out
    }

    fn parents(&mut self, path: &str) -> Result<(), CpioError> {
        check_path(path)?;
        match path.rsplit_once('/') {
            Some((parent, _)) => self.dir_all(parent),
            None => Ok(()),
        }
    }

    fn entry(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), CpioError> {
        self.entry_dev(path, mode, (0, 0), data)
    }

    fn entry_dev(
        &mut self,
        path: &str,
        mode: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Result<(), CpioError> {
        if !self.names.insert(path.to_string()) {
            return Err(CpioError::Duplicate {
                path: path.to_string(),
            });
        }
        self.next_ino += 1;
        let ino = self.next_ino;
        self.header(path, ino, mode, rdev, data.len());
        self.out.extend_from_slice(data);
        pad_to(&mut self.out, 4);
        Ok(())
    }

    fn header(&mut self, name: &str, ino: u32, mode: u32, rdev: (u32, u32), size: usize) {
        let nlink = if mode & 0o170000 == S_IFDIR { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            if name == "TRAILER!!!" { 1 } else { nlink },
            0, // mtime: fixed, so the same inputs give the same bytes
            size as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        pad_to(&mut self.out, 4);
    }
}

fn check_path(path: &str) -> Result<(), CpioError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.ends_with('/')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(CpioError::BadPath {
            path: path.to_string(),
        });
    }
    Ok(())
}

fn pad_to(out: &mut Vec<u8>, align: usize) {
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back (name, mode, data) of each entry, following the newc layout independently.
    fn parse(buf: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            assert_eq!(&buf[at..at + 6], b"070701", "magic at {at}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&buf[at + 6 + i * 8..at + 14 + i * 8]).unwrap();
                u32::from_str_radix(s, 16).unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name_at = at + 110;
            let name = std::str::from_utf8(&buf[name_at..name_at + namesize - 1])
                .unwrap()
                .to_string();
            assert_eq!(buf[name_at + namesize - 1], 0);
            let data_at = (name_at + namesize).div_ceil(4) * 4;
            let data = buf[data_at..data_at + size].to_vec();
            at = (data_at + size).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                return out;
            }
            out.push((name, mode, data));
        }
    }

    #[test]
    fn entries_round_trip_with_parents_first() {
        let mut w = CpioWriter::new();
        w.file("usr/sbin/ip", 0o755, b"ELF...").unwrap();
        w.symlink("bin/sh", "busybox").unwrap();
        w.char_dev("dev/console", 0o600, 5, 1).unwrap();
        w.file("init", 0o755, b"#!/bin/sh\n").unwrap();
        let buf = w.finish();
        assert!(buf.len().is_multiple_of(512));
        let names: Vec<_> = parse(&buf)
            .into_iter()
            .map(|(n, m, d)| (n, m, d.len()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("usr".into(), S_IFDIR | 0o755, 0),
                ("usr/sbin".into(), S_IFDIR | 0o755, 0),
                ("usr/sbin/ip".into(), S_IFREG | 0o755, 6),
                ("bin".into(), S_IFDIR | 0o755, 0),
                ("bin/sh".into(), S_IFLNK | 0o777, 7),
                ("dev".into(), S_IFDIR | 0o755, 0),
                ("dev/console".into(), S_IFCHR | 0o600, 0),
                ("init".into(), S_IFREG | 0o755, 10),
            ]
        );
    }

    #[test]
    fn duplicates_and_bad_paths_are_refused() {
        let mut w = CpioWriter::new();
        w.file("a/b", 0o644, b"x").unwrap();
        assert_eq!(
            w.file("a/b", 0o644, b"y"),
            Err(CpioError::Duplicate { path: "a/b".into() })
        );
        for bad in ["/abs", "a/../b", "a//b", "", "dir/"] {
            assert!(
                matches!(w.file(bad, 0o644, b""), Err(CpioError::BadPath { .. })),
                "{bad}"
            );
        }
        assert!(w.contains("a") && w.contains("a/b") && !w.contains("b"));
    }
}
