//! Encode + decode cost per operation of the Elliptics codec: the frames a client sends
//! and receives for one WRITE, READ and LOOKUP, and the stream decoder cutting them out
//! of a byte buffer.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use elliptics::proto::{
    Codec, DnetTime, FileInfo, FileInfoReply, Frame, FrameDecoder, GroupId, Id, IoAttr, NodeAddr,
    request,
};

fn write_request(len: usize) -> Frame {
    let id = Id::from_key(b"bench", b"key");
    let io = IoAttr {
        id,
        timestamp: DnetTime::now(),
        ..IoAttr::default()
    };
    request::write(
        GroupId::new(id, 1),
        1,
        Default::default(),
        &io,
        Bytes::from(vec![7u8; len]),
    )
}

fn file_info_reply() -> Frame {
    let reply = FileInfoReply::new(
        NodeAddr::parse("127.0.0.1:1025:2").unwrap_or(NodeAddr(([127, 0, 0, 1], 1025).into())),
        FileInfo {
            size: 4096,
            offset: 1234,
            record_flags: 0x140,
            ..FileInfo::default()
        },
        "/var/lib/backrunner/b1/data/data-000001.blob".into(),
    );
    let mut f = Frame::with_body(write_request(0).header, &reply);
    f.header.flags = elliptics::proto::CmdFlags::REPLY;
    f
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("key_transform", |b| {
        b.iter(|| Id::from_key(black_box(b"bucket"), black_box(b"some/object/key.mp4")))
    });
    g.bench_function("write_4k_request_encode", |b| {
        let data = Bytes::from(vec![7u8; 4096]);
        let id = Id::from_key(b"bench", b"key");
        b.iter(|| {
            let io = IoAttr {
                id,
                timestamp: DnetTime::now(),
                ..IoAttr::default()
            };
            let f = request::write(
                GroupId::new(id, 1),
                1,
                Default::default(),
                &io,
                data.clone(),
            );
            let mut h = [0u8; 120];
            f.header.encode(&mut &mut h[..]);
            black_box((h, f.payload))
        })
    });
    g.bench_function("file_info_reply_decode", |b| {
        let raw = file_info_reply().to_bytes();
        b.iter(|| {
            let f = Frame::decode_exact(black_box(&raw)).unwrap_or_default();
            black_box(f.body::<FileInfoReply>().ok())
        })
    });
    g.bench_function("read_request_roundtrip", |b| {
        let id = Id::from_key(b"bench", b"key");
        b.iter(|| {
            let f = request::read(
                GroupId::new(id, 1),
                1,
                Default::default(),
                &request::io_for(id),
            );
            let raw = f.to_bytes();
            black_box(
                Frame::decode_exact(&raw)
                    .ok()
                    .and_then(|f| f.body::<IoAttr>().ok()),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("stream_decoder");
    for size in [4096usize, 1 << 20] {
        let raw = write_request(size).to_bytes();
        let mut stream = BytesMut::new();
        for _ in 0..16 {
            stream.extend_from_slice(&raw);
        }
        let stream = stream.freeze();
        g.throughput(Throughput::Bytes(stream.len() as u64));
        g.bench_function(format!("16_frames_of_{size}"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(&stream[..]);
                let mut dec = FrameDecoder::new(64 << 20);
                let mut n = 0;
                while let Ok(Some(f)) = dec.decode(&mut buf) {
                    n += f.payload.len();
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
