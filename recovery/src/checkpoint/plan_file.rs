//! The plan file of a checkpoint (`<checkpoint>.plan`): the decisions of a scan, written
//! once before the first copy, so a resumed run needs no new scan. Its SHA-256 is kept in
//! the cursor file, which therefore never applies to another plan.
//!
//! ```text
//! "BRRPLAN1"                      8 bytes
//! header length                   u32 LE
//! header                          JSON: PlanHeader (groups, report, decisions, created)
//! decisions, ascending by id:
//!   id                            64 bytes
//!   newest                        tsec u64, tnsec u64, size u64, user_flags u64 (LE)
//!   holders                       u16 count, u32 group each
//!   targets                       u16 count, each: u32 group, u8 0 = missing / 1 = older
//!                                 (+ the older version, 32 bytes as above)
//! "END!"                          4 bytes
//! ```
//! About 120 bytes per decision with two groups.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use elliptics::proto::{DnetTime, Id};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::atomic::{AtomicFile, sync_parent};
use crate::plan::{Decision, Report, Target};
use crate::version::Version;

const MAGIC: &[u8; 8] = b"BRRPLAN1";
const END: &[u8; 4] = b"END!";
/// Largest header accepted (the report: a few hundred bytes per group).
const MAX_HEADER: u32 = 16 << 20;

/// What the plan file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHeader {
    /// Groups, in the order given.
    pub groups: Vec<u32>,
    /// The scan's report.
    pub report: Report,
    /// Decisions that follow.
    pub decisions: u64,
    /// When the scan ended (seconds since the epoch).
    pub created_unix: u64,
}

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The bytes are not a plan file of this format.
    #[error("{0}")]
    Format(String),
}

fn bad(msg: impl Into<String>) -> PlanFileError {
    PlanFileError::Format(msg.into())
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the plan file at `path` atomically (temporary file, fsync, rename) and returns
/// its SHA-256 in hex.
pub fn write(
    path: &Path,
    header: &PlanHeader,
    decisions: impl Iterator<Item = Decision>,
) -> Result<String, PlanFileError> {
    let (file, handle) = AtomicFile::create(path)?;
    let mut out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, handle),
        hash: Sha256::new(),
    };
    out.write_all(MAGIC)?;
    let json = serde_json::to_vec(header).map_err(|e| bad(e.to_string()))?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|l| *l <= MAX_HEADER)
        .ok_or_else(|| bad("plan header too large"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&json)?;
    let mut n = 0u64;
    let mut buf = Vec::with_capacity(256);
    for d in decisions {
        buf.clear();
        encode(&d, &mut buf)?;
        out.write_all(&buf)?;
        n += 1;
    }
    if n != header.decisions {
        return Err(bad(format!(
            "{n} decisions written, the header says {}",
            header.decisions
        )));
    }
    out.write_all(END)?;
    out.flush()?;
    let digest = hex::encode(out.hash.finalize());
    let inner = out.inner.into_inner().map_err(|e| e.into_error())?;
    inner.sync_all()?;
    drop(inner);
    file.commit()?;
    Ok(digest)
}

fn put_version(v: &Version, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.timestamp.tsec.to_le_bytes());
    out.extend_from_slice(&v.timestamp.tnsec.to_le_bytes());
    out.extend_from_slice(&v.size.to_le_bytes());
    out.extend_from_slice(&v.user_flags.to_le_bytes());
}

fn count(n: usize) -> Result<[u8; 2], PlanFileError> {
    u16::try_from(n)
        .map(u16::to_le_bytes)
        .map_err(|_| bad(format!("{n} groups in one decision")))
}

fn encode(d: &Decision, out: &mut Vec<u8>) -> Result<(), PlanFileError> {
    out.extend_from_slice(&d.id.0);
    put_version(&d.newest, out);
    out.extend_from_slice(&count(d.holders.len())?);
    for g in &d.holders {
        out.extend_from_slice(&g.to_le_bytes());
    }
    out.extend_from_slice(&count(d.targets.len())?);
    for t in &d.targets {
        out.extend_from_slice(&t.group.to_le_bytes());
        match &t.have {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                put_version(v, out);
            }
        }
    }
    Ok(())
}

/// SHA-256 (hex) of the file at `path`.
pub fn digest(path: &Path) -> Result<String, PlanFileError> {
    let mut f = File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Reads a plan file's decisions one at a time.
#[derive(Debug)]
pub struct PlanReader {
    input: BufReader<File>,
    header: PlanHeader,
    left: u64,
}

impl PlanReader {
    /// Opens `path` and reads its header. Check [`digest`] first: this only checks the
    /// structure.
    pub fn open(path: &Path) -> Result<PlanReader, PlanFileError> {
        let mut input = BufReader::with_capacity(1 << 20, File::open(path)?);
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("not a plan file (bad magic)"));
        }
        let len = u32::from_le_bytes(array(&mut input)?);
        if len > MAX_HEADER {
            return Err(bad(format!("header of {len} bytes")));
        }
        let mut json = vec![0u8; len as usize];
        input.read_exact(&mut json)?;
        let header: PlanHeader =
            serde_json::from_slice(&json).map_err(|e| bad(format!("header: {e}")))?;
        let left = header.decisions;
        Ok(PlanReader {
            input,
            header,
            left,
        })
    }

    /// The header.
    pub fn header(&self) -> &PlanHeader {
        &self.header
    }

    fn decode(&mut self) -> Result<Decision, PlanFileError> {
        let id = Id(array(&mut self.input)?);
        let newest = version(&mut self.input)?;
        let holders = (0..u16::from_le_bytes(array(&mut self.input)?))
            .map(|_| array(&mut self.input).map(u32::from_le_bytes))
            .collect::<Result<Vec<u32>, _>>()?;
        let n = u16::from_le_bytes(array(&mut self.input)?);
        let mut targets = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let group = u32::from_le_bytes(array(&mut self.input)?);
            let have = match array::<1>(&mut self.input)? {
                [0] => None,
                [1] => Some(version(&mut self.input)?),
                [k] => return Err(bad(format!("target kind {k}"))),
            };
            targets.push(Target { group, have });
        }
        if holders.is_empty() || targets.is_empty() {
            return Err(bad(format!("decision for {id} without holders or targets")));
        }
        Ok(Decision {
            id,
            newest,
            holders,
            targets,
        })
    }
}

impl Iterator for PlanReader {
    type Item = Result<Decision, PlanFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let d = self.decode();
        if d.is_err() {
            self.left = 0;
            return Some(d);
        }
        if self.left == 0 {
            match array::<4>(&mut self.input) {
                Ok(end) if &end == END => {}
                Ok(_) => return Some(Err(bad("no end marker after the last decision"))),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(d)
    }
}

fn array<const N: usize>(r: &mut impl Read) -> Result<[u8; N], PlanFileError> {
    let mut a = [0u8; N];
    r.read_exact(&mut a).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => bad("truncated"),
        _ => PlanFileError::Io(e),
    })?;
    Ok(a)
}

fn version(r: &mut impl Read) -> Result<Version, PlanFileError> {
    let mut u = || array::<8>(r).map(u64::from_le_bytes);
    Ok(Version {
        timestamp: DnetTime {
            tsec: u()?,
            tnsec: u()?,
        },
        size: u()?,
        user_flags: u()?,
    })
}

/// Removes the plan file at `path` (absent is fine).
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tsec: u64, size: u64) -> Version {
        Version {
            timestamp: DnetTime { tsec, tnsec: 3 },
            size,
            user_flags: 9,
        }
    }

    fn decisions() -> Vec<Decision> {
        vec![
            Decision {
                id: Id([1; 64]),
                newest: v(5, 10),
                holders: vec![1],
                targets: vec![Target {
                    group: 2,
                    have: None,
                }],
            },
            Decision {
                id: Id([2; 64]),
                newest: v(6, 11),
                holders: vec![2, 3],
                targets: vec![Target {
                    group: 1,
                    have: Some(v(5, 1)),
                }],
            },
        ]
    }

    #[test]
    fn round_trip_digest_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.plan");
        let header = PlanHeader {
            groups: vec![1, 2, 3],
            report: Report::default(),
            decisions: 2,
            created_unix: 7,
        };
        let digest_written = write(&path, &header, decisions().into_iter()).unwrap();
        assert_eq!(digest(&path).unwrap(), digest_written);
        let r = PlanReader::open(&path).unwrap();
        assert_eq!(r.header(), &header);
        let back: Vec<Decision> = r.collect::<Result<_, _>>().unwrap();
        assert_eq!(back, decisions());

        // Truncated: the reader says so instead of inventing decisions.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
        let r = PlanReader::open(&path).unwrap();
        let all: Vec<_> = r.collect();
        assert!(all.last().unwrap().is_err());
        assert_ne!(digest(&path).unwrap(), digest_written);
    }

    #[test]
    fn a_wrong_count_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let header = PlanHeader {
            groups: vec![1, 2],
            report: Report::default(),
            decisions: 5,
            created_unix: 0,
        };
        assert!(write(&dir.path().join("p"), &header, decisions().into_iter()).is_err());
        assert!(!dir.path().join("p").exists());
    }
}
