//! The backup file: a gzip stream holding a magic line, named sections of raw bytes, and a
//! manifest that names each section's length and SHA-256 and what the snapshot holds.
//!
//! ```text
//! imgcloud-backup 1\n
//! section NAME LENGTH\n  LENGTH bytes  \n      (any number of sections)
//! manifest LENGTH\n  JSON  \n
//! ```
//!
//! A truncated file fails the gzip trailer or misses its manifest; a changed byte fails the
//! gzip CRC or a section's SHA-256. Readers stream sections to scratch files: a snapshot of a
//! large library never has to fit in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &str = "imgcloud-backup 1";
/// Longest header line (a section name is short): anything longer is not our file.
const MAX_LINE: usize = 256;
/// Largest manifest accepted (it lists a few tables).
const MAX_MANIFEST: u64 = 1 << 20;

/// What a backup holds, written last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest migration applied to the database when it was copied.
    pub schema_version: i64,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Rows of each table in the snapshot.
    pub tables: BTreeMap<String, u64>,
    /// Every section, in file order.
    pub sections: Vec<Section>,
    /// PostgreSQL: the columns of each table's section, in order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Writes a backup: sections, then the manifest.
pub struct Writer<W: Write> {
    out: GzEncoder<W>,
    sections: Vec<Section>,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> anyhow::Result<Self> {
        let mut out = GzEncoder::new(out, Compression::new(6));
        writeln!(out, "{MAGIC}")?;
        Ok(Self {
            out,
            sections: Vec::new(),
        })
    }

    /// Adds `bytes` bytes read from `from` as section `name`.
    pub fn section(&mut self, name: &str, bytes: u64, from: impl Read) -> anyhow::Result<()> {
        anyhow::ensure!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "invalid section name {name:?}"
        );
        writeln!(self.out, "section {name} {bytes}")?;
        let mut hashing = HashingWriter {
            inner: &mut self.out,
            hash: Sha256::new(),
        };
        let copied = std::io::copy(&mut from.take(bytes), &mut hashing)?;
        anyhow::ensure!(
            copied == bytes,
            "section {name}: {copied} bytes read, {bytes} expected"
        );
        let sha256 = hex::encode(hashing.hash.finalize());
        writeln!(self.out)?;
        self.sections.push(Section {
            name: name.to_string(),
            bytes,
            sha256,
        });
        Ok(())
    }

    /// Writes the manifest (its sections filled in) and ends the stream; returns the output
    /// and the manifest as written.
    pub fn finish(mut self, mut manifest: Manifest) -> anyhow::Result<(W, Manifest)> {
        manifest.sections = std::mem::take(&mut self.sections);
        let json = serde_json::to_vec(&manifest)?;
        writeln!(self.out, "manifest {}", json.len())?;
        self.out.write_all(&json)?;
        writeln!(self.out)?;
        Ok((self.out.finish()?, manifest))
    }
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A backup read back and checked: its manifest and its sections in scratch files.
#[derive(Debug)]
pub struct ReadBackup {
    pub manifest: Manifest,
    /// Section name → its bytes, in `scratch`.
    pub sections: BTreeMap<String, PathBuf>,
}

/// Reads `path` completely, writing each section into `scratch`, and checks the framing, every
/// section's length and SHA-256 against the manifest, and the gzip trailer. The error says
/// what is wrong with the file.
pub fn read(path: &Path, scratch: &Path) -> anyhow::Result<ReadBackup> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut input = BufReader::new(GzDecoder::new(BufReader::new(file)));
    let damaged = |what: String| {
        anyhow::anyhow!(
            "{} is damaged: {what}; it cannot be verified or restored (use another backup)",
            path.display()
        )
    };
    let magic = read_line(&mut input).map_err(|e| damaged(e.to_string()))?;
    if magic != MAGIC {
        bail!(
            "{} is not an imgcloud backup (it does not start with {MAGIC:?})",
            path.display()
        );
    }
    let mut sections = BTreeMap::new();
    let mut seen = Vec::new();
    let manifest = loop {
        let line = read_line(&mut input).map_err(|e| damaged(e.to_string()))?;
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["section", name, bytes] => {
                let bytes: u64 = bytes
                    .parse()
                    .map_err(|_| damaged(format!("bad section length in {line:?}")))?;
                let name = name.to_string();
                let target = scratch.join(format!("section-{}", seen.len()));
                let mut out = BufWriter::new(
                    File::create(&target)
                        .with_context(|| format!("cannot write {}", target.display()))?,
                );
                let mut hashing = HashingWriter {
                    inner: &mut out,
                    hash: Sha256::new(),
                };
                let copied = std::io::copy(&mut (&mut input).take(bytes), &mut hashing)
                    .map_err(|e| damaged(format!("section {name}: {e}")))?;
                if copied != bytes {
                    return Err(damaged(format!(
                        "section {name} ends after {copied} of {bytes} bytes (truncated)"
                    )));
                }
                let sha256 = hex::encode(hashing.hash.finalize());
                out.flush()?;
                expect_newline(&mut input).map_err(|e| damaged(e.to_string()))?;
                seen.push(Section {
                    name: name.clone(),
                    bytes,
                    sha256,
                });
                sections.insert(name, target);
            }
            ["manifest", bytes] => {
                let bytes: u64 = bytes
                    .parse()
                    .ok()
                    .filter(|b| *b <= MAX_MANIFEST)
                    .ok_or_else(|| damaged(format!("bad manifest length in {line:?}")))?;
                let mut json = Vec::new();
                (&mut input)
                    .take(bytes)
                    .read_to_end(&mut json)
                    .map_err(|e| damaged(format!("manifest: {e}")))?;
                let manifest: Manifest =
                    serde_json::from_slice(&json).map_err(|e| damaged(format!("manifest: {e}")))?;
                expect_newline(&mut input).map_err(|e| damaged(e.to_string()))?;
                break manifest;
            }
            _ => return Err(damaged(format!("unexpected line {line:?}"))),
        }
    };
    // The rest of the stream must be empty, and reading it checks the gzip trailer.
    let mut rest = Vec::new();
    input
        .read_to_end(&mut rest)
        .map_err(|e| damaged(format!("after the manifest: {e}")))?;
    if !rest.is_empty() {
        return Err(damaged(format!(
            "{} unexpected bytes after the manifest",
            rest.len()
        )));
    }
    if manifest.sections != seen {
        return Err(damaged(
            "the sections do not match the manifest (length or SHA-256)".into(),
        ));
    }
    Ok(ReadBackup { manifest, sections })
}

fn read_line(input: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    (&mut *input)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            if line.is_empty() {
                "it ends early (truncated)"
            } else {
                "a header line is cut off or too long"
            },
        ));
    }
    line.pop();
    String::from_utf8(line).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "a header line is not text")
    })
}

fn expect_newline(input: &mut impl Read) -> std::io::Result<()> {
    let mut byte = [0u8; 1];
    input.read_exact(&mut byte)?;
    if byte[0] != b'\n' {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a section does not end where its length says",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            backend: "sqlite".into(),
            schema_version: 4,
            created_at: "2026-12-03T10:00:00Z".into(),
            tables: BTreeMap::from([("images".to_string(), 2)]),
            sections: Vec::new(),
            columns: BTreeMap::new(),
        }
    }

    fn write(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = Writer::new(Vec::new()).unwrap();
        for (name, bytes) in sections {
            writer.section(name, bytes.len() as u64, *bytes).unwrap();
        }
        writer.finish(manifest()).unwrap().0
    }

    #[test]
    fn sections_and_manifest_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, write(&[("db", &big), ("empty", b"")])).unwrap();
        let read = read(&file, dir.path()).unwrap();
        assert_eq!(read.manifest.schema_version, 4);
        assert_eq!(read.manifest.sections.len(), 2);
        assert_eq!(std::fs::read(&read.sections["db"]).unwrap(), big);
        assert!(std::fs::read(&read.sections["empty"]).unwrap().is_empty());
    }

    #[test]
    fn truncated_corrupted_and_foreign_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(&[("db", &[7u8; 100_000])]);
        let check = |bytes: &[u8], expect: &str| {
            let file = dir.path().join("bad.backup");
            std::fs::write(&file, bytes).unwrap();
            let err = read(&file, dir.path()).unwrap_err().to_string();
            assert!(err.contains("bad.backup"), "{err}");
            assert!(err.contains(expect), "{expect:?} not in {err}");
        };
        for cut in [good.len() - 1, good.len() - 9, good.len() / 2, 12] {
            check(&good[..cut], "damaged");
        }
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        check(&flipped, "damaged");
        check(b"PGDMP not ours", "damaged");
        let mut foreign = GzEncoder::new(Vec::new(), Compression::fast());
        foreign.write_all(b"something else\n").unwrap();
        check(&foreign.finish().unwrap(), "not an imgcloud backup");
    }
}
