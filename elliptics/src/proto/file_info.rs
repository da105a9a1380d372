//! `dnet_file_info` and the file-info reply of LOOKUP and WRITE
//! (`[dnet_addr][dnet_file_info][path + NUL]`).
//!
//! ```text
//! dnet_file_info (112 bytes, natural alignment)
//!   0  flen          i32   path length including the NUL
//!   4  checksum[64]        SHA-512 when requested, else zero
//!  68  (padding)     4
//!  72  record_flags  u64
//!  80  size          u64   object data size
//!  88  offset        u64   data offset inside the blob file
//!  96  mtime         dnet_time
//! ```

use bytes::BufMut;

use super::addr::NodeAddr;
use super::codec::{Codec, DecodeError, Reader};
use super::id::Id;
use super::io_attr::DnetTime;

/// Longest path accepted in a file-info reply.
pub const MAX_PATH: usize = 4096;

/// `dnet_file_info`, without the path that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileInfo {
    /// Path length including NUL.
    pub flen: i32,
    /// SHA-512 of the data, or zeros.
    pub checksum: Id,
    /// Stored record flags.
    pub record_flags: u64,
    /// Data size.
    pub size: u64,
    /// Data offset inside the blob file.
    pub offset: u64,
    /// Record timestamp.
    pub mtime: DnetTime,
}

impl FileInfo {
    /// Encoded size.
    pub const SIZE: usize = 112;
}

impl Codec for FileInfo {
    fn encode(&self, out: &mut impl BufMut) {
        out.put_i32_le(self.flen);
        self.checksum.encode(out);
        out.put_u32_le(0);
        out.put_u64_le(self.record_flags);
        out.put_u64_le(self.size);
        out.put_u64_le(self.offset);
        self.mtime.encode(out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let flen = r.i32("file_info.flen")?;
        let checksum = Id::decode(r)?;
        r.u32("file_info.padding")?;
        Ok(FileInfo {
            flen,
            checksum,
            record_flags: r.u64("file_info.record_flags")?,
            size: r.u64("file_info.size")?,
            offset: r.u64("file_info.offset")?,
            mtime: DnetTime::decode(r)?,
        })
    }
}

/// The reply payload of a successful LOOKUP or WRITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfoReply {
    /// The storage node's first listening address.
    pub addr: NodeAddr,
    /// Object information.
    pub info: FileInfo,
    /// Blob file holding the object (without the terminating NUL).
    pub path: String,
}

impl FileInfoReply {
    /// Builds a reply, setting `flen` from the path.
    pub fn new(addr: NodeAddr, mut info: FileInfo, path: String) -> Self {
        info.flen = path.len() as i32 + 1;
        Self { addr, info, path }
    }
}

impl Codec for FileInfoReply {
    fn encode(&self, out: &mut impl BufMut) {
        self.addr.encode(out);
        let mut info = self.info;
        info.flen = self.path.len() as i32 + 1;
        info.encode(out);
        out.put_slice(self.path.as_bytes());
        out.put_u8(0);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let addr = NodeAddr::decode(r)?;
        let info = FileInfo::decode(r)?;
        if info.flen < 1 || info.flen as usize > MAX_PATH {
            return Err(DecodeError::Invalid("file_info.flen"));
        }
        let raw = r.take(info.flen as usize, "file_info path")?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let path = String::from_utf8_lossy(&raw[..end]).into_owned();
        Ok(FileInfoReply { addr, info, path })
    }
}
