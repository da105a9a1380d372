//! BACKEND_CONTROL: enable or disable a backend (pushing the route change to
//! subscribers), start or stop its defragmentation, make it read-only or writeable, set
//! its artificial delay. The reply carries the backend's status after the command.

use std::sync::Arc;

use bytes::Bytes;
use elliptics::proto::errno::code;
use elliptics::proto::{BackendCommand, BackendControl, BackendStatusList, Frame};

use super::{NODE_LEVEL, ack, reply};
use crate::backend::Backend;
use crate::server::NodeState;

/// Runs the command; on success one reply with the status, on failure the status (MORE)
/// then an ACK with the errno (EALREADY when the backend is already in that state).
pub(super) async fn handle(state: &NodeState, req: &Frame) -> Vec<Frame> {
    let Ok(ctl) = req.body::<BackendControl>() else {
        return vec![ack(req, code::EINVAL, NODE_LEVEL)];
    };
    let Some(backend) = state.backends.get(&ctl.backend_id) else {
        return vec![ack(req, code::EINVAL, NODE_LEVEL)];
    };
    let result = match BackendCommand::from_u32(ctl.command) {
        Some(BackendCommand::Enable) => toggle_enabled(state, backend, true),
        Some(BackendCommand::Disable) => toggle_enabled(state, backend, false),
        Some(BackendCommand::StartDefrag) => backend.start_defrag(),
        Some(BackendCommand::StopDefrag) => backend.stop_defrag(),
        Some(BackendCommand::ReadOnly) => set_read_only(backend, true).await,
        Some(BackendCommand::Writeable) => set_read_only(backend, false).await,
        Some(BackendCommand::Ctl) => {
            backend.set_delay_ms(ctl.delay);
            Ok(())
        }
        Some(BackendCommand::SetIds) | None => Err(code::EOPNOTSUPP),
    };
    tracing::info!(
        backend = backend.id,
        command = ctl.command,
        ?result,
        "backend control"
    );
    let mut body = Vec::new();
    BackendStatusList {
        backends: vec![backend.status()],
    }
    .encode_with_slots(1, &mut body);
    match result {
        Ok(()) => vec![reply(
            req,
            false,
            NODE_LEVEL,
            Bytes::from(body),
            Bytes::new(),
        )],
        Err(status) => vec![
            reply(req, true, NODE_LEVEL, Bytes::from(body), Bytes::new()),
            ack(req, status, NODE_LEVEL),
        ],
    }
}

/// Enables or disables `backend` and tells subscribers its ids changed.
fn toggle_enabled(state: &NodeState, backend: &Arc<Backend>, on: bool) -> Result<(), i32> {
    if backend.set_enabled(on) == on {
        return Err(code::EALREADY);
    }
    state.push_route_update(backend);
    Ok(())
}

/// Makes the store of `backend` read-only or writeable.
async fn set_read_only(backend: &Arc<Backend>, ro: bool) -> Result<(), i32> {
    if backend.store.is_read_only() == ro {
        return Err(code::EALREADY);
    }
    backend.store.set_read_only(ro).map_err(|e| e.errno())
}
