//! `multipart/byteranges` body framing (RFC 9110 §14.6) with the length known up front, so a
//! multi-range reply can carry `Content-Length` and be streamed part by part.
//!
//! Layout, for parts `P1..Pn` of an object of `size` bytes:
//!
//! ```text
//! --B\r\nContent-Type: T\r\nContent-Range: bytes s1-e1/size\r\n\r\n<P1 bytes>
//! \r\n--B\r\nContent-Type: T\r\nContent-Range: bytes s2-e2/size\r\n\r\n<P2 bytes>
//! ...
//! \r\n--B--\r\n
//! ```

use rand::Rng;

use super::spec::ByteRange;

/// Length of generated boundaries.
pub const BOUNDARY_LEN: usize = 32;

/// A random boundary of [`BOUNDARY_LEN`] alphanumeric characters. Parts are raw object
/// bytes, so a collision is possible in principle; 190 random bits make it negligible.
pub fn generate_boundary(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..BOUNDARY_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// One part: the header bytes sent before the range's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyPart {
    /// Delimiter and part headers, sent right before the data.
    pub header: String,
    /// The object bytes of this part.
    pub range: ByteRange,
}

/// The framing of a `multipart/byteranges` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByterangesBody {
    boundary: String,
    parts: Vec<BodyPart>,
    trailer: String,
    content_length: u64,
}

impl ByterangesBody {
    /// Frames `ranges` of an object of `size` bytes whose type is `content_type`.
    pub fn new(ranges: &[ByteRange], content_type: &str, size: u64, boundary: String) -> Self {
        let parts: Vec<BodyPart> = ranges
            .iter()
            .enumerate()
            .map(|(i, range)| BodyPart {
                header: format!(
                    "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
                    if i == 0 { "" } else { "\r\n" },
                    range.content_range(size),
                ),
                range: *range,
            })
            .collect();
        let trailer = format!("\r\n--{boundary}--\r\n");
        let content_length = parts
            .iter()
            .map(|p| p.header.len() as u64 + p.range.length())
            .fold(trailer.len() as u64, u64::saturating_add);
        ByterangesBody {
            boundary,
            parts,
            trailer,
            content_length,
        }
    }

    /// The reply's `Content-Type`: `multipart/byteranges; boundary=B`.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    /// The boundary.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[BodyPart] {
        &self.parts
    }

    /// The closing delimiter sent after the last part.
    pub fn trailer(&self) -> &str {
        &self.trailer
    }

    /// Exact body length in bytes.
    pub fn content_length(&self) -> u64 {
        self.content_length
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn assemble(body: &ByterangesBody, object: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in body.parts() {
            out.extend_from_slice(part.header.as_bytes());
            out.extend_from_slice(&object[part.range.start as usize..=part.range.end as usize]);
        }
        out.extend_from_slice(body.trailer().as_bytes());
        out
    }

    #[test]
    fn frames_parts_with_exact_length() {
        let object: Vec<u8> = (0..100u8).collect();
        let ranges = [
            ByteRange::new(0, 1).unwrap(),
            ByteRange::new(90, 99).unwrap(),
        ];
        let body = ByterangesBody::new(&ranges, "video/mp4", 100, "BND".into());
        let bytes = assemble(&body, &object);
        assert_eq!(bytes.len() as u64, body.content_length());
        let mut expected =
            b"--BND\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/100\r\n\r\n".to_vec();
        expected.extend_from_slice(&[0, 1]);
        expected.extend_from_slice(
            b"\r\n--BND\r\nContent-Type: video/mp4\r\nContent-Range: bytes 90-99/100\r\n\r\n",
        );
        expected.extend_from_slice(&object[90..]);
        expected.extend_from_slice(b"\r\n--BND--\r\n");
        assert_eq!(bytes, expected);
        assert_eq!(body.content_type(), "multipart/byteranges; boundary=BND");
    }

    #[test]
    fn boundaries_are_random_alphanumeric() {
        let mut rng = StdRng::seed_from_u64(7);
        let a = generate_boundary(&mut rng);
        let b = generate_boundary(&mut rng);
        assert_eq!(a.len(), BOUNDARY_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
