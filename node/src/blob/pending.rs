//! Prepared, not yet committed records and the chunk checksums learnt from their writes.
//!
//! A chunked upload (PREPARE, PLAIN chunks, COMMIT) writes data in place. To commit without
//! reading the whole object back, every chunk write folds its bytes into a per-chunk
//! `(crc, known prefix length)` pair: a write starting at a chunk boundary restarts the chunk,
//! a write continuing exactly where the known prefix ends extends it (crc32 is streamable),
//! anything else forgets what it cannot prove. At commit only the chunk bytes not covered by a
//! known prefix are read back.

use std::time::Instant;

use super::error::StoreError;
use super::types::Timestamp;

/// A prepared record waiting for its commit.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Blob holding the PREPARE record.
    pub blob: u32,
    /// Offset of the PREPARE record.
    pub offset: u64,
    /// Reserved data bytes.
    pub reserved: u64,
    /// Sequence number of the PREPARE record.
    pub seq: u64,
    /// Timestamp of the PREPARE request.
    pub timestamp: Timestamp,
    /// User flags of the PREPARE request.
    pub user_flags: u64,
    /// Last time a request touched it.
    pub last_used: Instant,
    /// End of the highest write (data past it is still a hole).
    pub high_water: u64,
    known: Vec<(u32, u32)>,
}

impl Pending {
    /// A new pending record.
    pub fn new(
        blob: u32,
        offset: u64,
        reserved: u64,
        seq: u64,
        timestamp: Timestamp,
        user_flags: u64,
    ) -> Pending {
        Pending {
            blob,
            offset,
            reserved,
            seq,
            timestamp,
            user_flags,
            last_used: Instant::now(),
            high_water: 0,
            known: Vec::new(),
        }
    }

    /// A pending record found on disk at open (nothing known about its chunks).
    pub fn recovered(
        blob: u32,
        offset: u64,
        reserved: u64,
        seq: u64,
        ts: Timestamp,
        uf: u64,
    ) -> Pending {
        let mut p = Pending::new(blob, offset, reserved, seq, ts, uf);
        p.high_water = reserved;
        p
    }

    /// Records that `data` was written at `offset`.
    pub fn note_write(&mut self, chunk: u32, offset: u64, data: &[u8]) {
        self.last_used = Instant::now();
        if data.is_empty() {
            return;
        }
        let c = u64::from(chunk);
        let end = offset + data.len() as u64;
        self.high_water = self.high_water.max(end);
        let last = ((end - 1) / c) as usize;
        if self.known.len() <= last {
            self.known.resize(last + 1, (0, 0));
        }
        for i in (offset / c) as usize..=last {
            let cs = i as u64 * c;
            let ws = offset.max(cs);
            let we = end.min(cs + c);
            let slice = &data[(ws - offset) as usize..(we - offset) as usize];
            let (crc, known) = self.known[i];
            let known = u64::from(known);
            self.known[i] = if ws == cs {
                (crc32fast::hash(slice), (we - cs) as u32)
            } else if known == ws - cs {
                let mut h = crc32fast::Hasher::new_with_initial(crc);
                h.update(slice);
                (h.finalize(), (we - cs) as u32)
            } else if known > ws - cs {
                (0, 0)
            } else {
                (crc, known as u32)
            };
        }
    }

    /// Takes the learnt chunk checksums (for the commit).
    pub fn take_known(&mut self) -> Vec<(u32, u32)> {
        std::mem::take(&mut self.known)
    }
}

/// Checksums of chunks `first..last` of an object of `size` bytes. `known[i]` is a checksum of
/// the first `len` bytes of chunk `i` (`len` 0 = nothing known); missing bytes are read with
/// `read_back(data_offset, buf)`.
pub fn chunk_crcs(
    first: u64,
    last: u64,
    known: &[(u32, u32)],
    size: u64,
    chunk: u32,
    mut read_back: impl FnMut(u64, &mut [u8]) -> Result<(), StoreError>,
) -> Result<Vec<u32>, StoreError> {
    let c = u64::from(chunk);
    let mut out = Vec::with_capacity(last.saturating_sub(first) as usize);
    let mut buf = Vec::new();
    for i in first..last {
        let cs = i * c;
        let need = c.min(size.saturating_sub(cs));
        let (crc, have) = known
            .get(i as usize)
            .map_or((0, 0), |&(crc, len)| (crc, u64::from(len)));
        let (mut h, from) = if have > 0 && have <= need {
            (crc32fast::Hasher::new_with_initial(crc), have)
        } else {
            (crc32fast::Hasher::new(), 0)
        };
        if from < need {
            buf.resize((need - from) as usize, 0);
            read_back(cs + from, &mut buf)?;
            h.update(&buf);
        }
        out.push(h.finalize());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crcs_of(data: &[u8], chunk: u32) -> Vec<u32> {
        data.chunks(chunk as usize).map(crc32fast::hash).collect()
    }

    /// Applies writes to a buffer and the pending cache, then checks the commit checksums and
    /// how many bytes had to be read back.
    fn check(writes: &[(u64, usize)], size: u64, chunk: u32) -> usize {
        let mut area = vec![0u8; 1000];
        let mut p = Pending::new(1, 0, 1000, 1, Timestamp::default(), 0);
        for (n, &(off, len)) in writes.iter().enumerate() {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + n * 13) as u8).collect();
            area[off as usize..off as usize + len].copy_from_slice(&data);
            p.note_write(chunk, off, &data);
        }
        let mut read = 0;
        let known = p.take_known();
        let n = size.div_ceil(u64::from(chunk));
        let got = chunk_crcs(0, n, &known, size, chunk, |at, buf| {
            read += buf.len();
            buf.copy_from_slice(&area[at as usize..at as usize + buf.len()]);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            crcs_of(&area[..size as usize], chunk),
            "{writes:?} size {size}"
        );
        read
    }

    #[test]
    fn sequential_writes_need_no_read_back() {
        assert_eq!(check(&[(0, 100), (100, 100), (200, 37)], 237, 64), 0);
        assert_eq!(check(&[(0, 64), (64, 64)], 128, 64), 0);
    }

    #[test]
    fn other_patterns_are_still_correct() {
        check(&[(10, 100)], 200, 64);
        check(&[(0, 100), (50, 10)], 100, 64);
        check(&[(100, 100), (0, 100)], 200, 64);
        check(&[(0, 300)], 150, 64);
        check(&[(0, 30), (40, 10), (30, 10)], 64, 64);
        check(&[], 130, 64);
        check(&[(0, 999)], 999, 16);
    }
}
