//! Decoder fuzzing: random byte strings and mutations of every captured frame (flipped
//! bytes, rewritten sizes and counts, truncations, appended garbage) are fed to the
//! streaming `FrameDecoder` (in random-sized pieces) and to every structure decoder.
//! Nothing may panic, and the decoder's buffer never grows beyond what `max_payload`
//! allows: a hostile declared size is refused before anything is reserved.
//!
//! `FUZZ_ITERATIONS` sets the number of inputs (default 1 000 000; `FUZZ_SEED` the
//! seed). Structure decoders have no allocation probe here (the workspace forbids the
//! `unsafe` a counting global allocator needs); that they never allocate for a lying
//! count is shown by the process surviving counts of up to 2^32 × 64 bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use bytes::BytesMut;
use elliptics::proto::capture;
use elliptics::proto::{
    AddrContainer, AuthRequest, BackendControl, BackendIds, BackendStatus, BackendStatusList,
    Codec, DecodeError, DnetTime, FileInfo, FileInfoReply, Frame, FrameDecoder, GroupId, Header,
    Id, IdContainer, IoAttr, MonitorStatRequest, NodeAddr, NodeAnnouncement, NodeStatus,
};

const MAX_PAYLOAD: u64 = 1 << 20;

/// xorshift64*: fast in unoptimised test builds, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Every frame of every capture.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(capture::vectors_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "hex") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            out.extend(common::load(&name).into_iter().map(|f| f.raw));
        }
    }
    assert!(out.len() > 100, "captures found: {}", out.len());
    out
}

const INTERESTING: [u64; 10] = [
    0,
    1,
    2,
    0x7f,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 40,
    u64::MAX,
    208,
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(7) {
            0 | 1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            3 if v.len() >= 4 => {
                // A count or size field: a 4-byte LE value at a random offset.
                let i = rng.below(v.len() - 3);
                let x = INTERESTING[rng.below(INTERESTING.len())] as u32;
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            4 if v.len() >= 120 => {
                // The header's size field.
                let x = match rng.below(3) {
                    0 => INTERESTING[rng.below(INTERESTING.len())],
                    _ => (v.len() as u64 - 120)
                        .wrapping_add(rng.below(5) as u64)
                        .wrapping_sub(2),
                };
                v[112..120].copy_from_slice(&x.to_le_bytes());
            }
            5 => v.truncate(rng.below(v.len() + 1)),
            _ => {
                let n = rng.below(64);
                v.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
    v
}

fn decode_all_structures(b: &[u8]) -> usize {
    fn ok<T>(r: Result<T, DecodeError>) -> usize {
        usize::from(r.is_ok())
    }
    ok(Header::decode_all(b))
        + ok(GroupId::decode_all(b))
        + ok(Id::decode_all(b))
        + ok(NodeAddr::decode_all(b))
        + ok(AddrContainer::decode_all(b))
        + ok(BackendIds::decode_all(b))
        + ok(IdContainer::decode_all(b))
        + ok(NodeAnnouncement::decode_all(b))
        + ok(IoAttr::decode_all(b))
        + ok(DnetTime::decode_all(b))
        + ok(FileInfo::decode_all(b))
        + ok(FileInfoReply::decode_all(b))
        + ok(BackendControl::decode_all(b))
        + ok(BackendStatus::decode_all(b))
        + ok(BackendStatusList::decode_all(b))
        + ok(MonitorStatRequest::decode_all(b))
        + ok(NodeStatus::decode_all(b))
        + ok(AuthRequest::decode_all(b))
        + ok(Frame::decode_exact(b))
}

/// Feeds `input` to a frame decoder in random pieces; returns the frames decoded.
fn feed(rng: &mut Rng, input: &[u8]) -> usize {
    let bound = 2 * (MAX_PAYLOAD as usize + Header::SIZE + input.len());
    let mut dec = FrameDecoder::new(MAX_PAYLOAD);
    let mut buf = BytesMut::new();
    let (mut pos, mut frames) = (0, 0);
    while pos < input.len() {
        let step = 1 + rng.below(input.len() - pos);
        buf.extend_from_slice(&input[pos..pos + step]);
        pos += step;
        loop {
            let r = dec.decode(&mut buf);
            assert!(
                buf.capacity() <= bound,
                "decoder reserved {} bytes",
                buf.capacity()
            );
            match r {
                Ok(Some(f)) => {
                    assert!(f.payload.len() as u64 <= MAX_PAYLOAD);
                    assert_eq!(f.payload.len() as u64, f.header.size);
                    decode_all_structures(&f.payload);
                    frames += 1;
                }
                Ok(None) => break,
                Err(_) => return frames,
            }
        }
    }
    frames
}

#[test]
fn hostile_sizes_are_refused_before_reserving() {
    for size in [MAX_PAYLOAD + 1, 1 << 40, u64::MAX] {
        let h = Header {
            size,
            ..Header::default()
        };
        let mut buf = BytesMut::from(&h.to_bytes()[..]);
        let cap = buf.capacity();
        let r = FrameDecoder::new(MAX_PAYLOAD).decode(&mut buf);
        assert!(matches!(r, Err(DecodeError::TooLarge { .. })), "{r:?}");
        assert_eq!(buf.capacity(), cap, "nothing reserved for size {size}");
    }
    let h = Header {
        size: MAX_PAYLOAD,
        ..Header::default()
    };
    let mut buf = BytesMut::from(&h.to_bytes()[..]);
    assert!(
        FrameDecoder::new(MAX_PAYLOAD)
            .decode(&mut buf)
            .unwrap()
            .is_none()
    );
    assert!(buf.capacity() >= MAX_PAYLOAD as usize);
    assert!(buf.capacity() <= 2 * (MAX_PAYLOAD as usize + Header::SIZE));
}

#[test]
fn fuzz_frames_and_structures() {
    let iterations = env_or("FUZZ_ITERATIONS", 1_000_000);
    let mut rng = Rng(env_or("FUZZ_SEED", 0x9E37_79B9_7F4A_7C15) | 1);
    let seeds = seeds();
    let start = std::time::Instant::now();
    let (mut frames, mut decoded) = (0usize, 0usize);
    for _ in 0..iterations {
        let input = match rng.below(8) {
            0 => (0..rng.below(400)).map(|_| rng.next() as u8).collect(),
            _ => {
                let seed = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, seed)
            }
        };
        frames += feed(&mut rng, &input);
        decoded += decode_all_structures(&input);
        if input.len() > Header::SIZE {
            decoded += decode_all_structures(&input[Header::SIZE..]);
        }
    }
    eprintln!(
        "{iterations} inputs in {:.1?}: {frames} frames cut, {decoded} structures decoded",
        start.elapsed()
    );
    assert!(frames > 0 && decoded > 0);
}
