//! Node-level commands sent DIRECT to one address (or to every connected node):
//! MONITOR_STAT statistics, BACKEND_STATUS, BACKEND_CONTROL and the ping.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::future::join_all;
use rand::Rng;

use super::Client;
use super::conn::Conn;
use crate::error::Error;
use crate::proto::{
    BackendControl, BackendStatus, BackendStatusList, Codec, Frame, NodeAddr, request,
};
use crate::stats::{DEFAULT_MAX_INFLATED, MonitorReport, decode_monitor_payload};

impl Client {
    fn direct(&self, addr: NodeAddr) -> Result<Conn, Error> {
        self.inner().conn(&addr)
    }

    async fn direct_request(&self, conn: &Conn, frame: Frame) -> Result<Vec<Frame>, Error> {
        conn.request(frame, self.config().wait_timeout)
            .await?
            .finish()
            .await
    }

    /// MONITOR_STAT with `categories` (e.g. `MonitorCategories::BACKRUNNER.0`) to every
    /// connected node in parallel: the zlib JSON reply (data with `MORE`, then the final
    /// ACK) inflated and parsed per node. Results by address, ascending.
    pub async fn monitor_stat(
        &self,
        categories: u64,
    ) -> Vec<(NodeAddr, Result<MonitorReport, Error>)> {
        let conns = self.inner().live_conns();
        join_all(conns.iter().map(|c| async move {
            let r = async {
                let frames = self
                    .direct_request(c, request::monitor_stat(categories))
                    .await?;
                let mut parts = frames.iter().filter(|f| !f.payload.is_empty());
                let payload = match (parts.next(), parts.next()) {
                    (None, _) => {
                        return Err(Error::Protocol("MONITOR_STAT reply without data".into()));
                    }
                    (Some(one), None) => one.payload.clone(),
                    (Some(_), Some(_)) => {
                        let mut all = BytesMut::new();
                        for f in frames.iter() {
                            all.extend_from_slice(&f.payload);
                        }
                        all.freeze()
                    }
                };
                decode_monitor_payload(&payload, DEFAULT_MAX_INFLATED)
                    .map_err(|e| Error::Protocol(format!("MONITOR_STAT from {}: {e}", c.addr())))
            };
            (c.addr(), r.await)
        }))
        .await
    }

    /// BACKEND_STATUS of the node at `addr`: every initialised backend.
    pub async fn backend_status(&self, addr: NodeAddr) -> Result<Vec<BackendStatus>, Error> {
        let conn = self.direct(addr)?;
        let frames = self
            .direct_request(&conn, request::backend_status())
            .await?;
        let last = frames
            .last()
            .ok_or_else(|| Error::Protocol("BACKEND_STATUS without reply".into()))?;
        Ok(BackendStatusList::decode_all(&last.payload)?.backends)
    }

    /// BACKEND_CONTROL to the node at `addr` (the id carries the backend id and 60
    /// random bytes, as the C client sends it). Returns the backend's status after the
    /// action; a refused action (status list with `MORE`, then an error ACK) is
    /// [`Error::Remote`] with the node's status, e.g. -114 when already read-only.
    pub async fn backend_control(
        &self,
        addr: NodeAddr,
        ctl: BackendControl,
    ) -> Result<BackendStatus, Error> {
        let conn = self.direct(addr)?;
        let mut spread = [0u8; 60];
        rand::thread_rng().fill(&mut spread[..]);
        let frames = self
            .direct_request(&conn, request::backend_control(&ctl, spread))
            .await?;
        let list = frames
            .iter()
            .rev()
            .find(|f| !f.payload.is_empty())
            .ok_or_else(|| Error::Protocol("BACKEND_CONTROL reply without status".into()))?;
        BackendStatusList::decode_all(&list.payload)?
            .backends
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol("BACKEND_CONTROL reply with no backend".into()))
    }

    /// The C client's ping (BACKEND_STATUS carrying a "change nothing" node status) to
    /// the node at `addr`; returns the round-trip time.
    pub async fn ping(&self, addr: NodeAddr) -> Result<Duration, Error> {
        let conn = self.direct(addr)?;
        let start = Instant::now();
        self.direct_request(&conn, request::ping()).await?;
        Ok(start.elapsed())
    }
}
