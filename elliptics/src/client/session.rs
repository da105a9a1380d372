//! Sessions: per-operation settings (groups, namespace, flags, timeout, trace id, ...)
//! with builder-style setters, and the key operations that are not streams — lookups and
//! removals — with the multi-group semantics of the C++ binding (§7.2).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::{StreamExt, stream};
use tracing::Instrument;

use super::Client;
use super::result::{GroupResult, at_least_one};
use crate::error::Error;
use crate::proto::codec::Reader;
use crate::proto::{CmdFlags, Codec, DnetTime, FileInfoReply, Frame, Id, IoFlags, NodeAddr};

/// The settings of a session, separate from the client so request frames can be built
/// (and tested) without a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// Replica groups, in the order reads try them.
    pub groups: Vec<u32>,
    /// Key namespace (`SHA-512(namespace 0x00 key)`); empty = plain `SHA-512(key)`.
    pub namespace: Vec<u8>,
    /// IO flags added to every READ/WRITE/DEL.
    pub ioflags: IoFlags,
    /// Command flags added to every request.
    pub cflags: CmdFlags,
    /// Inactivity timeout; `None` = the client's `wait_timeout`.
    pub timeout: Option<Duration>,
    /// Trace id put in every request header.
    pub trace_id: u64,
    /// `io.user_flags` of writes.
    pub user_flags: u64,
    /// `io.timestamp` of writes; `None` = the current time.
    pub timestamp: Option<DnetTime>,
}

/// A client plus operation settings. Cheap to clone; setters consume and return it.
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) client: Client,
    pub(crate) opts: SessionOptions,
}

impl Session {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            opts: SessionOptions::default(),
        }
    }

    /// Sets the replica groups.
    pub fn groups(mut self, groups: Vec<u32>) -> Self {
        self.opts.groups = groups;
        self
    }
    /// Sets the namespace.
    pub fn namespace(mut self, namespace: impl Into<Vec<u8>>) -> Self {
        self.opts.namespace = namespace.into();
        self
    }
    /// Sets the io flags.
    pub fn ioflags(mut self, ioflags: IoFlags) -> Self {
        self.opts.ioflags = ioflags;
        self
    }
    /// Sets the command flags.
    pub fn cflags(mut self, cflags: CmdFlags) -> Self {
        self.opts.cflags = cflags;
        self
    }
    /// Sets the per-request inactivity timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }
    /// Sets the trace id.
    pub fn trace_id(mut self, trace_id: u64) -> Self {
        self.opts.trace_id = trace_id;
        self
    }
    /// Sets the user flags stored with written records.
    pub fn user_flags(mut self, user_flags: u64) -> Self {
        self.opts.user_flags = user_flags;
        self
    }
    /// Sets (or clears) the timestamp stored with written records.
    pub fn timestamp(mut self, timestamp: Option<DnetTime>) -> Self {
        self.opts.timestamp = timestamp;
        self
    }

    /// The settings.
    pub fn options(&self) -> &SessionOptions {
        &self.opts
    }
    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
    /// The id of `key` in this session's namespace.
    pub fn id(&self, key: &[u8]) -> Id {
        Id::from_key(&self.opts.namespace, key)
    }
    /// The effective inactivity timeout.
    pub fn effective_timeout(&self) -> Duration {
        self.opts
            .timeout
            .unwrap_or(self.client.inner().config.wait_timeout)
    }

    pub(crate) fn span(&self, op: &'static str, id: &Id) -> tracing::Span {
        tracing::debug_span!("elliptics", op, trace_id = self.opts.trace_id, key = ?id)
    }

    /// Sends one request to the owner of `id` in `group` and reads it to the end.
    /// `build` gets the routed backend; `parse` the final reply packet.
    pub(crate) async fn group_request<T>(
        &self,
        id: &Id,
        group: u32,
        build: impl FnOnce(i32) -> Frame,
        parse: impl FnOnce(&Frame, NodeAddr) -> Result<T, Error>,
    ) -> GroupResult<T> {
        let start = Instant::now();
        let inner = self.client.inner();
        let (addr, backend) = match inner.route(id, group) {
            Ok(r) => r,
            Err(e) => return failed(group, None, -1, start, e),
        };
        let conn = match inner.conn(&addr) {
            Ok(c) => c,
            Err(e) => return failed(group, Some(addr), backend, start, e),
        };
        let reply = async {
            conn.request(build(backend), self.effective_timeout())
                .await?
                .final_reply()
                .await
        };
        match reply.await {
            Err(e) => failed(group, Some(addr), backend, start, e),
            Ok(frame) => GroupResult {
                group,
                addr: Some(addr),
                backend_id: frame.header.backend_id,
                elapsed: start.elapsed(),
                result: parse(&frame, addr),
            },
        }
    }

    /// LOOKUP in every group in parallel. Fails only when every group failed.
    pub async fn lookup(&self, key: &[u8]) -> Result<Vec<GroupResult<FileInfoReply>>, Error> {
        self.lookup_id(self.id(key)).await
    }

    /// [`Session::lookup`] by id.
    pub async fn lookup_id(&self, id: Id) -> Result<Vec<GroupResult<FileInfoReply>>, Error> {
        let span = self.span("lookup", &id);
        let all = join_all(self.opts.groups.iter().map(|g| self.lookup_group(&id, *g)));
        at_least_one(all.instrument(span).await)
    }

    /// LOOKUP group by group in session order until one succeeds.
    pub async fn lookup_first(&self, key: &[u8]) -> Result<GroupResult<FileInfoReply>, Error> {
        self.lookup_first_id(self.id(key)).await
    }

    /// [`Session::lookup_first`] by id.
    pub async fn lookup_first_id(&self, id: Id) -> Result<GroupResult<FileInfoReply>, Error> {
        let span = self.span("lookup_first", &id);
        async {
            let mut errors = Vec::new();
            for g in &self.opts.groups {
                let r = self.lookup_group(&id, *g).await;
                match r.result {
                    Ok(_) => return Ok(r),
                    Err(e) => errors.push((*g, e)),
                }
            }
            Err(match errors.is_empty() {
                true => Error::InvalidArgument("session has no groups".into()),
                false => Error::from_group_errors(errors),
            })
        }
        .instrument(span)
        .await
    }

    async fn lookup_group(&self, id: &Id, group: u32) -> GroupResult<FileInfoReply> {
        self.group_request(
            id,
            group,
            |_| self.opts.lookup_frame(*id, group),
            |f, _| parse_file_info(f),
        )
        .await
    }

    /// DEL in every group in parallel. Fails only when every group failed.
    pub async fn remove(&self, key: &[u8]) -> Result<Vec<GroupResult<()>>, Error> {
        self.remove_id(self.id(key)).await
    }

    /// [`Session::remove`] by id.
    pub async fn remove_id(&self, id: Id) -> Result<Vec<GroupResult<()>>, Error> {
        let span = self.span("remove", &id);
        let all = join_all(self.opts.groups.iter().map(|g| {
            self.group_request(
                &id,
                *g,
                |backend| self.opts.remove_frame(id, *g, backend),
                |_, _| Ok(()),
            )
        }));
        at_least_one(all.instrument(span).await)
    }

    /// [`Session::remove`] for many keys, at most `concurrency` at a time; results in
    /// input order.
    pub async fn bulk_remove<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        concurrency: usize,
    ) -> Vec<(K, Result<(), Error>)> {
        stream::iter(keys)
            .map(|k| async move {
                let r = self.remove(k.as_ref()).await.map(|_| ());
                (k, r)
            })
            .buffered(concurrency.max(1))
            .collect()
            .await
    }
}

fn failed<T>(
    group: u32,
    addr: Option<NodeAddr>,
    backend_id: i32,
    start: Instant,
    e: Error,
) -> GroupResult<T> {
    GroupResult {
        group,
        addr,
        backend_id,
        elapsed: start.elapsed(),
        result: Err(e),
    }
}

/// Decodes a LOOKUP/WRITE reply payload (trailing bytes tolerated).
pub(crate) fn parse_file_info(f: &Frame) -> Result<FileInfoReply, Error> {
    let min = crate::proto::NodeAddr::SIZE + crate::proto::FileInfo::SIZE + 1;
    if f.payload.len() < min {
        return Err(Error::Protocol(format!(
            "file info reply of {} bytes, need at least {min}",
            f.payload.len()
        )));
    }
    Ok(FileInfoReply::decode(&mut Reader::new(&f.payload))?)
}
