//! Writes one record with a data area at a given offset: header and checksum table first,
//! then the data (streamed, checksummed chunk by chunk), then the table.
//!
//! Records up to [`SMALL_RECORD`] bytes are assembled in memory and written with a single
//! `pwrite`. Larger ones are written in pieces; their header goes first so that a record cut
//! short by a crash ends past the end of the file and is recognised as a torn tail, and the
//! table goes last so that a record whose data did not fully land fails its checksums.

use super::error::StoreError;
use super::file::BlobFile;
use super::format::{self, HEADER_LEN, RecordHeader};

/// Records up to this size are written with one `pwrite`.
pub const SMALL_RECORD: u64 = 256 * 1024;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// An in-progress record write.
pub struct RecordWriter<'a> {
    blob: &'a BlobFile,
    record: u64,
    data: u64,
    area_len: u64,
    table_len: u64,
    rec_len: u64,
    chunk: u64,
    pos: u64,
    compute: bool,
    crcs: Vec<u32>,
    cur: crc32fast::Hasher,
    cur_len: u64,
    buf: Option<Vec<u8>>,
}

impl<'a> RecordWriter<'a> {
    /// Starts a record at `record` whose data area receives `area_len` bytes (the object size
    /// for DATA, up to the reservation for PREPARE copies). With `compute`, chunk checksums of
    /// the pushed bytes form the table; otherwise [`finish`](Self::finish) gets one.
    pub fn begin(
        blob: &'a BlobFile,
        record: u64,
        header: &RecordHeader,
        area_len: u64,
        chunk: u32,
        compute: bool,
    ) -> Result<RecordWriter<'a>, StoreError> {
        let table_len = format::table_len(header.reserved, chunk);
        let rec_len = header.record_len(chunk);
        let mut head = Vec::with_capacity(if rec_len <= SMALL_RECORD {
            rec_len as usize
        } else {
            (HEADER_LEN + table_len) as usize
        });
        head.extend_from_slice(&header.encode());
        head.resize((HEADER_LEN + table_len) as usize, 0);
        let buf = if rec_len <= SMALL_RECORD {
            Some(head)
        } else {
            blob.write_all_at(&head, record)?;
            None
        };
        Ok(RecordWriter {
            blob,
            record,
            data: record + HEADER_LEN + table_len,
            area_len,
            table_len,
            rec_len,
            chunk: u64::from(chunk),
            pos: 0,
            compute,
            crcs: Vec::new(),
            cur: crc32fast::Hasher::new(),
            cur_len: 0,
            buf,
        })
    }

    /// Appends data bytes.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        if self.pos + bytes.len() as u64 > self.area_len {
            return Err(StoreError::InvalidArgument(
                "record data longer than declared",
            ));
        }
        match &mut self.buf {
            Some(buf) => buf.extend_from_slice(bytes),
            None => self.blob.write_all_at(bytes, self.data + self.pos)?,
        }
        self.pos += bytes.len() as u64;
        while self.compute && !bytes.is_empty() {
            let n = ((self.chunk - self.cur_len) as usize).min(bytes.len());
            self.cur.update(&bytes[..n]);
            self.cur_len += n as u64;
            bytes = &bytes[n..];
            if self.cur_len == self.chunk {
                let h = std::mem::replace(&mut self.cur, crc32fast::Hasher::new());
                self.crcs.push(h.finalize());
                self.cur_len = 0;
            }
        }
        Ok(())
    }

    /// Appends `n` zero bytes.
    pub fn push_zeros(&mut self, mut n: u64) -> Result<(), StoreError> {
        while n > 0 {
            let k = n.min(ZEROS.len() as u64);
            self.push(&ZEROS[..k as usize])?;
            n -= k;
        }
        Ok(())
    }

    /// Completes the record: writes the checksum table (computed, or `table`) and makes the
    /// file cover the whole record.
    pub fn finish(mut self, table: Option<Vec<u32>>) -> Result<(), StoreError> {
        if self.pos != self.area_len {
            return Err(StoreError::InvalidArgument(
                "record data shorter than declared",
            ));
        }
        if self.compute && self.cur_len > 0 {
            let h = std::mem::replace(&mut self.cur, crc32fast::Hasher::new());
            self.crcs.push(h.finalize());
        }
        let crcs = table.unwrap_or(std::mem::take(&mut self.crcs));
        let table = format::encode_table(&crcs, self.table_len as usize);
        let end = self.record + self.rec_len;
        let written = self.data + self.pos;
        match self.buf.take() {
            Some(mut buf) => {
                buf[HEADER_LEN as usize..(HEADER_LEN + self.table_len) as usize]
                    .copy_from_slice(&table[..self.table_len as usize]);
                buf.resize(self.rec_len as usize, 0);
                self.blob.write_all_at(&buf, self.record)
            }
            None => {
                if end > written && end - written <= ZEROS.len() as u64 {
                    self.blob
                        .write_all_at(&ZEROS[..(end - written) as usize], written)?;
                } else if end > written {
                    self.blob.set_file_len(end)?;
                }
                self.blob
                    .write_all_at(&table[..self.table_len as usize], self.record + HEADER_LEN)
            }
        }
    }
}
