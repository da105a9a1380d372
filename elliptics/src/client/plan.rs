//! What a session plans to send: the request frames of its operations, built from its
//! options (flags, ids, groups) with the per-command builders of [`crate::proto::request`],
//! exactly as the stock C++ client builds them (checked against the captures), and the
//! chunk plan of writes (plain, or prepare / plain / commit, §6.2 and §14.2).

use bytes::Bytes;

use super::session::SessionOptions;
use crate::proto::{DnetTime, Frame, GroupId, Id, IoAttr, IoFlags, request};

/// How one WRITE request of an upload is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// The whole object in one request: no extra flags, `io.num = 0`.
    Plain,
    /// First chunk: `PREPARE|PLAIN_WRITE`, `io.num` = bytes to reserve.
    Prepare,
    /// Middle chunk: `PLAIN_WRITE`, `io.num` = chunk offset + length.
    Middle,
    /// Last chunk: `COMMIT|PLAIN_WRITE`, `io.num` = final object size.
    Commit,
}

impl WriteKind {
    /// The io flags this kind adds.
    pub fn flags(self) -> IoFlags {
        match self {
            WriteKind::Plain => IoFlags::default(),
            WriteKind::Prepare => IoFlags::PREPARE | IoFlags::PLAIN_WRITE,
            WriteKind::Middle => IoFlags::PLAIN_WRITE,
            WriteKind::Commit => IoFlags::COMMIT | IoFlags::PLAIN_WRITE,
        }
    }
}

/// One WRITE of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteChunk {
    /// Flags variant.
    pub kind: WriteKind,
    /// Remote offset of this chunk (`io.offset`).
    pub offset: u64,
    /// Bytes in this chunk (`io.size`).
    pub len: u64,
    /// `io.num`.
    pub num: u64,
}

/// The WRITE requests uploading `size` bytes at remote `offset`: one [`WriteKind::Plain`]
/// when `size <= chunk_size`, else a prepare, middle chunks and a commit, each at most
/// `chunk_size` bytes. The reserve and the committed size are `offset + size`.
pub fn write_plan(offset: u64, size: u64, chunk_size: usize) -> Vec<WriteChunk> {
    let chunk = (chunk_size as u64).max(1);
    if size <= chunk {
        return vec![WriteChunk {
            kind: WriteKind::Plain,
            offset,
            len: size,
            num: 0,
        }];
    }
    let total = offset.saturating_add(size);
    let mut out = Vec::with_capacity(size.div_ceil(chunk) as usize);
    let mut done = 0u64;
    while done < size {
        let len = chunk.min(size - done);
        let off = offset.saturating_add(done);
        let (kind, num) = if done == 0 {
            (WriteKind::Prepare, total)
        } else if done + len == size {
            (WriteKind::Commit, total)
        } else {
            (WriteKind::Middle, off.saturating_add(len))
        };
        out.push(WriteChunk {
            kind,
            offset: off,
            len,
            num,
        });
        done += len;
    }
    out
}

impl SessionOptions {
    fn stamp(&self, mut f: Frame) -> Frame {
        f.header.trace_id = self.trace_id;
        f
    }

    /// WRITE of `data` (one chunk of an upload) to `group`, routed to `backend`.
    /// `io.parent` is zero, `io.id` the key, `io.timestamp` = `timestamp`,
    /// `io.user_flags` the session's, `io.flags` = session ioflags | chunk flags.
    pub fn write_frame(
        &self,
        id: Id,
        group: u32,
        backend: i32,
        chunk: &WriteChunk,
        data: Bytes,
        timestamp: DnetTime,
    ) -> Frame {
        let io = IoAttr {
            id,
            num: chunk.num,
            timestamp,
            user_flags: self.user_flags,
            flags: self.ioflags | chunk.kind.flags(),
            offset: chunk.offset,
            ..IoAttr::default()
        };
        self.stamp(request::write(
            GroupId::new(id, group),
            backend,
            self.cflags,
            &io,
            data,
        ))
    }

    /// Compare-and-swap WRITE of the whole record `data` to `group` (§6.2 `write_cas`):
    /// `io.flags` = session ioflags | `COMPARE_AND_SWAP`, `io.parent` = `expected` (the
    /// SHA-512 of the data the record must hold for the write to apply; a missing record
    /// always matches), offset 0, `io.num` = offset + length.
    pub fn write_cas_frame(
        &self,
        id: Id,
        group: u32,
        backend: i32,
        data: Bytes,
        expected: Id,
        timestamp: DnetTime,
    ) -> Frame {
        let io = IoAttr {
            id,
            parent: expected,
            num: data.len() as u64,
            timestamp,
            user_flags: self.user_flags,
            flags: self.ioflags | IoFlags::COMPARE_AND_SWAP,
            ..IoAttr::default()
        };
        self.stamp(request::write(
            GroupId::new(id, group),
            backend,
            self.cflags,
            &io,
            data,
        ))
    }

    /// READ of `size` bytes (0 = to the end) at `offset` from `group`; `extra` io flags
    /// are added to the session's (NOCSUM for later chunks).
    pub fn read_frame(
        &self,
        id: Id,
        group: u32,
        backend: i32,
        offset: u64,
        size: u64,
        extra: IoFlags,
    ) -> Frame {
        let mut io = request::io_for(id);
        io.flags = self.ioflags | extra;
        io.offset = offset;
        io.size = size;
        self.stamp(request::read(
            GroupId::new(id, group),
            backend,
            self.cflags,
            &io,
        ))
    }

    /// LOOKUP in `group` (the C++ client sends backend 0).
    pub fn lookup_frame(&self, id: Id, group: u32) -> Frame {
        self.stamp(request::lookup(GroupId::new(id, group), self.cflags))
    }

    /// DEL in `group`, routed to `backend`.
    pub fn remove_frame(&self, id: Id, group: u32, backend: i32) -> Frame {
        let mut io = request::io_for(id);
        io.flags = self.ioflags;
        self.stamp(request::del(
            GroupId::new(id, group),
            backend,
            self.cflags,
            &io,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        assert_eq!(
            write_plan(0, 36, 4 << 20),
            vec![WriteChunk {
                kind: WriteKind::Plain,
                offset: 0,
                len: 36,
                num: 0
            }]
        );
        let p = write_plan(5, 25, 10);
        let want = [
            (WriteKind::Prepare, 5, 10, 30),
            (WriteKind::Middle, 15, 10, 25),
            (WriteKind::Commit, 25, 5, 30),
        ];
        assert_eq!(p.len(), 3);
        for (c, (k, o, l, n)) in p.iter().zip(want) {
            assert_eq!((c.kind, c.offset, c.len, c.num), (k, o, l, n));
        }
        let two = write_plan(0, 20, 10);
        assert_eq!(two[0].kind, WriteKind::Prepare);
        assert_eq!(two[1].kind, WriteKind::Commit);
        assert_eq!(two[1].num, 20);
        assert_eq!(write_plan(0, 0, 10)[0].kind, WriteKind::Plain);
    }

    #[test]
    fn cas_write_carries_the_expected_checksum_as_parent() {
        use crate::proto::Codec;
        use crate::proto::codec::Reader;
        let opts = SessionOptions {
            ioflags: IoFlags::NOCSUM,
            user_flags: 9,
            ..SessionOptions::default()
        };
        let id = Id::from_key(b"ns", b"k");
        let expected = Id::checksum(b"old");
        let ts = DnetTime { tsec: 5, tnsec: 6 };
        let f = opts.write_cas_frame(id, 2, 3, Bytes::from_static(b"new!"), expected, ts);
        let io = IoAttr::decode(&mut Reader::new(&f.payload)).unwrap();
        assert_eq!(io.parent, expected);
        assert_eq!(io.id, id);
        assert_eq!(io.flags, IoFlags::NOCSUM | IoFlags::COMPARE_AND_SWAP);
        assert_eq!((io.offset, io.size, io.num), (0, 4, 4));
        assert_eq!((io.timestamp, io.user_flags), (ts, 9));
        assert_eq!(f.header.backend_id, 3);
        assert_eq!(&f.data[..], b"new!");
    }
}
