//! Frames: a header plus exactly `size` payload bytes, and the sans-IO decoder that cuts
//! them out of a byte stream (check the header is complete, check the declared size
//! against a cap *before* reserving memory, then split).

use bytes::{Buf, Bytes, BytesMut};

use super::codec::{Codec, DecodeError, Reader};
use super::header::{CmdFlags, Header};

/// One protocol message.
///
/// Outgoing frames may carry their payload in two parts — a structured `payload` and a
/// bulk `data` tail (WRITE bodies, READ data) — so large bodies are never copied into one
/// buffer. Decoded frames always have everything in `payload` and an empty `data`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// Header; `size` equals `payload.len() + data.len()`.
    pub header: Header,
    /// Structured payload.
    pub payload: Bytes,
    /// Bulk data following the payload.
    pub data: Bytes,
}

impl Frame {
    /// A frame with `header.size` set from the parts.
    pub fn new(mut header: Header, payload: Bytes, data: Bytes) -> Frame {
        header.size = (payload.len() + data.len()) as u64;
        Frame {
            header,
            payload,
            data,
        }
    }

    /// A frame whose payload is the encoding of `body`.
    pub fn with_body(header: Header, body: &impl Codec) -> Frame {
        Frame::new(header, Bytes::from(body.to_vec()), Bytes::new())
    }

    /// A header-only frame.
    pub fn bare(header: Header) -> Frame {
        Frame::new(header, Bytes::new(), Bytes::new())
    }

    /// All bytes of the frame, contiguous.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Header::SIZE + self.payload.len() + self.data.len());
        self.header.encode(&mut v);
        v.extend_from_slice(&self.payload);
        v.extend_from_slice(&self.data);
        v
    }

    /// Decodes one whole frame from `bytes` (header + exactly `size` bytes).
    pub fn decode_exact(bytes: &[u8]) -> Result<Frame, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = Header::decode(&mut r)?;
        let len = usize::try_from(header.size).map_err(|_| DecodeError::TooLarge {
            what: "dnet_cmd.size",
            size: header.size,
            max: usize::MAX as u64,
        })?;
        let payload = Bytes::copy_from_slice(r.take(len, "frame payload")?);
        r.finish("frame")?;
        Ok(Frame {
            header,
            payload,
            data: Bytes::new(),
        })
    }

    /// Decodes the payload as `T`, requiring it to fill the payload exactly.
    pub fn body<T: Codec>(&self) -> Result<T, DecodeError> {
        T::decode_all(&self.payload)
    }

    /// The reply header for this request: the request header with `NEED_ACK` cleared,
    /// `REPLY` set, `MORE` set when `more`, the given status and backend.
    pub fn reply_header(&self, status: i32, more: bool) -> Header {
        let mut h = self.header;
        h.flags = h.flags.without(CmdFlags::NEED_ACK).with(CmdFlags::REPLY);
        h.flags = if more {
            h.flags.with(CmdFlags::MORE)
        } else {
            h.flags.without(CmdFlags::MORE)
        };
        h.status = status;
        h.size = 0;
        h
    }
}

/// Cuts frames out of a byte stream, refusing any frame whose declared payload exceeds
/// `max_payload` before buffering it.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_payload: u64,
    pending: Option<Header>,
}

impl FrameDecoder {
    /// A decoder accepting payloads up to `max_payload` bytes.
    pub fn new(max_payload: u64) -> Self {
        Self {
            max_payload,
            pending: None,
        }
    }

    /// The accepted maximum payload size.
    pub fn max_payload(&self) -> u64 {
        self.max_payload
    }

    /// Takes the next complete frame from `buf`, if there is one. Reserves room in `buf`
    /// for the rest of a frame whose header has arrived. An error means the stream is
    /// unusable and the connection must be dropped.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let header = match self.pending {
            Some(h) => h,
            None => {
                if buf.len() < Header::SIZE {
                    buf.reserve(Header::SIZE - buf.len());
                    return Ok(None);
                }
                let h = Header::decode(&mut Reader::new(&buf[..Header::SIZE]))?;
                if h.size > self.max_payload {
                    return Err(DecodeError::TooLarge {
                        what: "dnet_cmd.size",
                        size: h.size,
                        max: self.max_payload,
                    });
                }
                buf.advance(Header::SIZE);
                self.pending = Some(h);
                h
            }
        };
        // Bounded by max_payload above, which is a usize-sized configuration value.
        let len = header.size as usize;
        if buf.len() < len {
            buf.reserve(len - buf.len());
            return Ok(None);
        }
        self.pending = None;
        let payload = buf.split_to(len).freeze();
        Ok(Some(Frame {
            header,
            payload,
            data: Bytes::new(),
        }))
    }
}
