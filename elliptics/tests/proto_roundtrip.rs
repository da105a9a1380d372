//! Round trips (encode → decode = identity, and decode → encode = the same bytes) of
//! every wire structure of the protocol module, plus the worked byte example of §15 of
//! the protocol reference decoded and re-encoded byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use elliptics::proto::{
    AddrContainer, AuthRequest, BackendControl, BackendIds, BackendStatus, BackendStatusList,
    CmdFlags, Codec, DnetTime, FileInfo, FileInfoReply, Frame, GroupId, Header, Id, IdContainer,
    IoAttr, IoFlags, IteratorAction, IteratorFlags, IteratorRange, IteratorRequest,
    IteratorResponse, IteratorType, MonitorStatRequest, NodeAddr, NodeAnnouncement, NodeStatus,
    ProtocolVersion,
};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = Id> {
    any::<[u8; 64]>().prop_map(Id)
}

fn time() -> impl Strategy<Value = DnetTime> {
    (any::<u64>(), any::<u64>()).prop_map(|(tsec, tnsec)| DnetTime { tsec, tnsec })
}

fn group_id() -> impl Strategy<Value = GroupId> {
    (id(), any::<u32>(), any::<u64>()).prop_map(|(id, group_id, reserved)| GroupId {
        id,
        group_id,
        reserved,
    })
}

fn header() -> impl Strategy<Value = Header> {
    (
        group_id(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(id, status, cmd, backend_id, trace_id, flags, trans, size)| Header {
                id,
                status,
                cmd,
                backend_id,
                trace_id,
                flags: CmdFlags(flags),
                trans,
                size,
            },
        )
}

fn node_addr() -> impl Strategy<Value = NodeAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| NodeAddr(SocketAddr::V4(
            SocketAddrV4::new(Ipv4Addr::from(ip), port)
        ))),
        (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(
            |(ip, port, flow, scope)| {
                NodeAddr(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(ip),
                    port,
                    flow,
                    scope,
                )))
            }
        ),
    ]
}

fn addr_container() -> impl Strategy<Value = AddrContainer> {
    (any::<i32>(), prop::collection::vec(node_addr(), 0..8)).prop_map(|(node_addr_num, addrs)| {
        AddrContainer {
            node_addr_num,
            addrs,
        }
    })
}

fn backend_ids() -> impl Strategy<Value = BackendIds> {
    (
        any::<i32>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(id(), 0..4),
    )
        .prop_map(|(backend_id, group_id, flags, ids)| BackendIds {
            backend_id,
            group_id,
            flags,
            ids,
        })
}

fn id_container() -> impl Strategy<Value = IdContainer> {
    prop::collection::vec(backend_ids(), 0..5).prop_map(|backends| IdContainer { backends })
}

fn io_attr() -> impl Strategy<Value = IoAttr> {
    (
        (id(), id(), any::<u64>(), any::<u64>(), time()),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (parent, id, start, num, timestamp),
                (user_flags, total_size, record_flags, reserved2, flags, offset, size),
            )| IoAttr {
                parent,
                id,
                start,
                num,
                timestamp,
                user_flags,
                total_size,
                record_flags,
                reserved2,
                flags: IoFlags(flags),
                offset,
                size,
            },
        )
}

fn file_info() -> impl Strategy<Value = FileInfo> {
    (
        any::<i32>(),
        id(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        time(),
    )
        .prop_map(
            |(flen, checksum, record_flags, size, offset, mtime)| FileInfo {
                flen,
                checksum,
                record_flags,
                size,
                offset,
                mtime,
            },
        )
}

fn backend_status() -> impl Strategy<Value = BackendStatus> {
    (
        any::<u32>(),
        any::<i32>(),
        any::<u32>(),
        time(),
        any::<i32>(),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(
            |(backend_id, state, defrag_state, last_start, last_start_err, read_only, delay)| {
                BackendStatus {
                    backend_id,
                    state,
                    defrag_state,
                    last_start,
                    last_start_err,
                    read_only,
                    delay,
                }
            },
        )
}

fn iterator_request() -> impl Strategy<Value = IteratorRequest> {
    (
        (any::<u64>(), any::<u32>(), time(), time(), any::<u32>()),
        (any::<u64>(), any::<u32>()),
        prop::collection::vec((id(), id()), 0..4),
        prop::collection::vec(any::<u32>(), 0..4),
    )
        .prop_map(
            |((id, action, time_begin, time_end, itype), (flags, timeout), ranges, groups)| {
                IteratorRequest {
                    id,
                    action: IteratorAction::from_u32(action),
                    time_begin,
                    time_end,
                    itype: IteratorType::from_u32(itype),
                    flags: IteratorFlags(flags),
                    timeout,
                    ranges: ranges
                        .into_iter()
                        .map(|(b, e)| IteratorRange::new(b, e))
                        .collect(),
                    groups,
                }
            },
        )
}

fn iterator_response() -> impl Strategy<Value = IteratorResponse> {
    (
        (any::<u64>(), id(), any::<i32>(), time(), any::<u64>()),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (id, key, status, timestamp, user_flags),
                (size, iterated_keys, total_keys, flags, reserved),
            )| IteratorResponse {
                id,
                key,
                status,
                timestamp,
                user_flags,
                size,
                iterated_keys,
                total_keys,
                flags,
                reserved,
            },
        )
}

/// `v` survives encode → decode, and its bytes survive decode → encode.
fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
    let bytes = v.to_vec();
    let back = T::decode_all(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, v);
    prop_assert_eq!(back.to_vec(), bytes);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_rt(h in header()) {
        round_trip(&h)?;
        prop_assert_eq!(h.to_vec().len(), Header::SIZE);
    }
    #[test]
    fn group_id_rt(g in group_id()) { round_trip(&g)?; }
    #[test]
    fn time_rt(t in time()) { round_trip(&t)?; }
    #[test]
    fn node_addr_rt(a in node_addr()) {
        round_trip(&a)?;
        prop_assert_eq!(a.to_vec().len(), NodeAddr::SIZE);
    }
    #[test]
    fn addr_container_rt(c in addr_container()) { round_trip(&c)?; }
    #[test]
    fn backend_ids_rt(b in backend_ids()) { round_trip(&b)?; }
    #[test]
    fn id_container_rt(c in id_container()) { round_trip(&c)?; }
    #[test]
    fn announcement_rt(addrs in addr_container(), ids in id_container()) {
        round_trip(&NodeAnnouncement { addrs, ids })?;
    }
    #[test]
    fn io_attr_rt(io in io_attr()) {
        round_trip(&io)?;
        prop_assert_eq!(io.to_vec().len(), IoAttr::SIZE);
    }
    #[test]
    fn file_info_rt(f in file_info()) { round_trip(&f)?; }
    #[test]
    fn file_info_reply_rt(a in node_addr(), f in file_info(), path in "[^\u{0}]{0,200}") {
        round_trip(&FileInfoReply::new(a, f, path))?;
    }
    #[test]
    fn backend_control_rt(
        backend_id in any::<u32>(), command in any::<u32>(), defrag_level in any::<u32>(),
        delay in any::<u32>(), ids in prop::collection::vec(id(), 0..4),
    ) {
        round_trip(&BackendControl { backend_id, command, defrag_level, delay, ids })?;
    }
    #[test]
    fn backend_status_rt(b in backend_status()) {
        round_trip(&b)?;
        prop_assert_eq!(b.to_vec().len(), BackendStatus::SIZE);
    }
    #[test]
    fn backend_status_list_rt(backends in prop::collection::vec(backend_status(), 0..5), pad in 0usize..4) {
        let list = BackendStatusList { backends };
        round_trip(&list)?;
        // As real servers send it: slots for max backend id + 1, zeroed tail.
        let mut padded = Vec::new();
        list.encode_with_slots(list.backends.len() + pad, &mut padded);
        prop_assert_eq!(padded.len(), 4 + 96 * (list.backends.len() + pad));
        prop_assert_eq!(BackendStatusList::decode_all(&padded).unwrap(), list);
    }
    #[test]
    fn monitor_stat_request_rt(categories in any::<u64>()) {
        let r = MonitorStatRequest { categories };
        round_trip(&r)?;
        prop_assert_eq!(r.to_vec().len(), MonitorStatRequest::SIZE);
    }
    #[test]
    fn node_status_rt(nflags in any::<i32>(), status_flags in any::<i32>(), log_level in any::<u32>()) {
        round_trip(&NodeStatus { nflags, status_flags, log_level })?;
    }
    #[test]
    fn auth_rt(cookie in any::<[u8; 32]>(), flags in any::<u64>()) {
        round_trip(&AuthRequest { cookie, flags })?;
    }
    #[test]
    fn iterator_request_rt(r in iterator_request()) {
        round_trip(&r)?;
        prop_assert_eq!(r.to_vec().len(), r.encoded_len());
        // Any shorter payload is refused (cmd.size must match exactly).
        let bytes = r.to_vec();
        prop_assert!(IteratorRequest::decode_all(&bytes[..bytes.len() - 1]).is_err());
    }
    #[test]
    fn iterator_response_rt(r in iterator_response()) {
        round_trip(&r)?;
        prop_assert_eq!(r.to_vec().len(), IteratorResponse::SIZE);
    }
    #[test]
    fn frame_rt(h in header(), payload in prop::collection::vec(any::<u8>(), 0..300)) {
        let f = Frame::new(h, payload.into(), Default::default());
        let back = Frame::decode_exact(&f.to_bytes()).unwrap();
        prop_assert_eq!(back, f);
    }
}

/// §15: REVERSE_LOOKUP reply from a node with one IPv4 address 10.0.0.1:1025 and one
/// backend (id 1, group 2, one ring id R), server version 2.26.10.1.
#[test]
fn worked_example_section_15() {
    let r = Id([0xa5; 64]);
    let mut hex_text = String::new();
    // Header.
    hex_text += "020000001a0000000a00000001000000";
    hex_text += &"00".repeat(48); // id bytes 16-63
    hex_text += "00000000"; // group
    hex_text += "0000000000000000"; // reserved
    hex_text += "00000000"; // status
    hex_text += "02000000"; // cmd
    hex_text += "00000000"; // backend
    hex_text += "0000000000000000"; // trace
    hex_text += "1002000000000000"; // flags 0x210
    hex_text += "0000000000000000"; // trans
    hex_text += "7c00000000000000"; // size 124
    // Payload.
    hex_text += "0100000001000000";
    hex_text += "020004010a0000010000000000000000";
    hex_text += &"00".repeat(12);
    hex_text += "10000200";
    hex_text += "01000000";
    hex_text += "01000000020000000000000001000000";
    hex_text += &r.to_hex();
    let bytes = hex::decode(hex_text).unwrap();
    assert_eq!(bytes.len(), 120 + 124);

    let f = Frame::decode_exact(&bytes).unwrap();
    assert_eq!(f.header.cmd, 2);
    assert_eq!(f.header.flags, CmdFlags::NOLOCK | CmdFlags::REPLY);
    assert_eq!(
        (f.header.status, f.header.trans, f.header.size),
        (0, 0, 124)
    );
    assert_eq!(
        ProtocolVersion::from_id(&f.header.id.id),
        ProtocolVersion::V2_26
    );
    let ann: NodeAnnouncement = f.body().unwrap();
    assert_eq!(ann.addrs.node_addr_num, 1);
    assert_eq!(
        ann.addrs.addrs,
        vec![NodeAddr::parse("10.0.0.1:1025:2").unwrap()]
    );
    assert_eq!(
        ann.ids.backends,
        vec![BackendIds {
            backend_id: 1,
            group_id: 2,
            flags: 0,
            ids: vec![r]
        }]
    );
    // Re-encoded byte for byte, as a frame and from the decoded structures.
    assert_eq!(f.to_bytes(), bytes);
    let mut h = Header::new(elliptics::proto::Command::ReverseLookup);
    h.id.id = ProtocolVersion::V2_26.to_id();
    h.flags = CmdFlags::NOLOCK | CmdFlags::REPLY;
    assert_eq!(Frame::with_body(h, &ann).to_bytes(), bytes);
}
