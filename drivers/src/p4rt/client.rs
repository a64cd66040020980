//! The blocking P4Runtime client.
//!
//! One [`Client`] is one controller connection to one device: it opens the
//! `StreamChannel`, sends a `MasterArbitrationUpdate` with its election id and
//! keeps the stream open for its whole life (the switch forgets a controller
//! whose stream ends, and a backup may then become primary). Every call runs
//! on a tokio current-thread runtime owned by the client, so the HTTP/2
//! connection only makes progress while a call is in flight; that is enough,
//! since the switch sends nothing we must answer in time.
//!
//! Sockets belong to the network namespace of the thread that creates them:
//! to reach a switch listening on a namespace's loopback, call
//! [`Client::connect`] on a thread inside that namespace (see
//! `testkit_bmv2`); the client can then be used from any thread.
//!
//! # What simple_switch_grpc does with each pipeline action
//!
//! simple_switch_grpc's P4Runtime server is PI's (`DeviceMgr::pipeline_config_set`
//! in PI 0.1.2); checked against that server (with PI's dummy target) and,
//! for what BMv2 itself does, by `drivers/tests/p4rt_bmv2.rs`:
//! - `VERIFY`: parses the P4Info only (the device config is not looked at);
//!   nothing changes, cookie and P4Info stay.
//! - `VERIFY_AND_COMMIT`: loads the program; the cookie and P4Info are the
//!   new ones at once.
//! - `VERIFY_AND_SAVE` then `COMMIT`: `VERIFY_AND_SAVE` already makes the new
//!   P4Info and cookie the ones `GetForwardingPipelineConfig` answers; the
//!   config and cookie of the `COMMIT` request are ignored (the saved cookie
//!   stays), and a `COMMIT` with nothing saved is accepted.
//! - `RECONCILE_AND_COMMIT`: PI reads every entry first, loads the program,
//!   and writes the entries back; if one is refused the RPC fails with
//!   `UNKNOWN` ("Error when reconciling config").
//!
//! A P4Info that is not a valid message is refused with `INTERNAL` (the
//! request itself does not parse).

use super::proto::{
    self, entity, stream_message_request, stream_message_response, Atomicity, CounterData,
    CounterEntry, DirectCounterEntry, Entity, ForwardingPipelineConfig,
    GetForwardingPipelineConfigRequest, GetForwardingPipelineConfigResponse, Index,
    MasterArbitrationUpdate, PipelineAction, ReadRequest, ReadResponse, ResponseType,
    SetForwardingPipelineConfigRequest, SetForwardingPipelineConfigResponse, StreamMessageRequest,
    StreamMessageResponse, TableEntry, Update, UpdateType, WriteRequest, WriteResponse,
};
use http::uri::PathAndQuery;
use prost::Message;
use std::fmt;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_prost::ProstCodec;

/// Largest message accepted or sent (a BMv2 JSON of a big program is a few MB;
/// tonic's default limit of 4 MiB is too tight for `GetForwardingPipelineConfig`).
const MAX_MESSAGE: usize = 256 << 20;

/// One update of a batch that the switch refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateError {
    /// Position of the update in the batch.
    pub index: usize,
    pub code: Code,
    pub message: String,
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "update {}: {:?}: {}",
            self.index, self.code, self.message
        )
    }
}

/// The whole batch's status, then each failed update; PI's status for a
/// batch with failed updates is a bare `UNKNOWN`, which says nothing itself.
fn summary(code: Code, message: &str, failures: &[UpdateError]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if failures.is_empty() || !(code == Code::Unknown && message.is_empty()) {
        parts.push(if message.is_empty() {
            format!("{code:?}")
        } else {
            format!("{code:?}: {message}")
        });
    }
    parts.extend(failures.iter().map(|u| u.to_string()));
    parts.join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum P4rtError {
    #[error("{addr}: cannot start the client's tokio runtime: {source}")]
    Runtime {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr}: not a usable gRPC address: {source}")]
    BadAddress {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{addr}: cannot connect: {source}")]
    Connect {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{addr}: {rpc} got no answer within {timeout:?}")]
    Timeout {
        addr: String,
        rpc: &'static str,
        timeout: Duration,
    },
    #[error("{addr}: {rpc} failed: {code:?}: {message}")]
    Rpc {
        addr: String,
        rpc: &'static str,
        code: Code,
        message: String,
    },
    #[error("{addr}: arbitration for device {device_id} failed: {message}")]
    Arbitration {
        addr: String,
        device_id: u64,
        message: String,
    },
    #[error("{addr}: device {device_id}: election id {election_id} is not primary; the primary's election id is {primary}")]
    NotPrimary {
        addr: String,
        device_id: u64,
        election_id: u128,
        primary: u128,
    },
    #[error(
        "{addr}: write of {updates} update(s) failed: {}",
        summary(*code, message, per_update)
    )]
    Write {
        addr: String,
        updates: usize,
        /// The status of the RPC as a whole.
        code: Code,
        message: String,
        /// The updates that failed (empty when the batch was refused as a whole).
        per_update: Vec<UpdateError>,
    },
    #[error("{addr}: all-or-none write of {updates} update(s) failed and undoing the {undone} that succeeded failed too: {undo}; the original failure: {original}")]
    RollbackFailed {
        addr: String,
        updates: usize,
        undone: usize,
        original: Box<P4rtError>,
        undo: Box<P4rtError>,
    },
    #[error("{addr}: {rpc}: unexpected answer: {what}")]
    Protocol {
        addr: String,
        rpc: &'static str,
        what: String,
    },
}

impl P4rtError {
    /// The gRPC code of an RPC failure, if this is one.
    pub fn code(&self) -> Option<Code> {
        match self {
            P4rtError::Rpc { code, .. } | P4rtError::Write { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// How an RPC ended when it did not succeed.
enum CallError {
    Timeout,
    Status(tonic::Status),
}

/// The per-update failures in the `grpc-status-details-bin` of a failed
/// `Write`: a `google.rpc.Status` whose details are one `Any(p4.v1.Error)`
/// per update, in order, `canonical_code` 0 for those that succeeded.
/// Details that are not `p4.v1.Error` are skipped (and do not count).
pub fn decode_write_details(details: &[u8]) -> Vec<UpdateError> {
    let Ok(st) = proto::RpcStatus::decode(details) else {
        return Vec::new();
    };
    st.details
        .iter()
        .filter(|a| a.type_url.ends_with("/p4.v1.Error") || a.type_url == "p4.v1.Error")
        .enumerate()
        .filter_map(|(index, a)| {
            let e = proto::Error::decode(a.value.as_slice()).ok()?;
            (e.canonical_code != 0).then(|| UpdateError {
                index,
                code: Code::from_i32(e.canonical_code),
                message: e.message,
            })
        })
        .collect()
}

/// A connection to one P4Runtime device as its primary controller.
pub struct Client {
    addr: String,
    device_id: u64,
    election_id: u128,
    timeout: Duration,
    rt: tokio::runtime::Runtime,
    grpc: Grpc<Channel>,
    /// Sending side of the StreamChannel; dropping it ends the arbitration.
    _stream_tx: mpsc::Sender<StreamMessageRequest>,
    stream_rx: tonic::Streaming<StreamMessageResponse>,
    /// The primary's election id as last announced on the stream.
    primary: u128,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("device_id", &self.device_id)
            .field("election_id", &self.election_id)
            .field("primary", &self.primary)
            .finish_non_exhaustive()
    }
}

fn runtime(addr: &str) -> Result<tokio::runtime::Runtime, P4rtError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| P4rtError::Runtime {
            addr: addr.to_string(),
            source,
        })
}

async fn open_channel(addr: &str, timeout: Duration) -> Result<Channel, P4rtError> {
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let ep = Endpoint::from_shared(uri)
        .map_err(|source| P4rtError::BadAddress {
            addr: addr.to_string(),
            source,
        })?
        .connect_timeout(timeout)
        .tcp_nodelay(true);
    ep.connect().await.map_err(|source| P4rtError::Connect {
        addr: addr.to_string(),
        source,
    })
}

fn grpc(channel: Channel) -> Grpc<Channel> {
    Grpc::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// The P4Runtime API version a server reports (`Capabilities`), without
/// arbitration: a readiness probe.
pub fn api_version(addr: &str, timeout: Duration) -> Result<String, P4rtError> {
    let rt = runtime(addr)?;
    rt.block_on(async {
        let r = tokio::time::timeout(timeout, async {
            let ch = open_channel(addr, timeout).await?;
            let mut g = grpc(ch);
            g.ready().await.map_err(|source| P4rtError::Connect {
                addr: addr.to_string(),
                source,
            })?;
            let codec =
                ProstCodec::<proto::CapabilitiesRequest, proto::CapabilitiesResponse>::default();
            g.unary(
                tonic::Request::new(proto::CapabilitiesRequest {}),
                PathAndQuery::from_static("/p4.v1.P4Runtime/Capabilities"),
                codec,
            )
            .await
            .map(|r| r.into_inner().p4runtime_api_version)
            .map_err(|st| P4rtError::Rpc {
                addr: addr.to_string(),
                rpc: "Capabilities",
                code: st.code(),
                message: st.message().to_string(),
            })
        })
        .await;
        r.unwrap_or_else(|_| {
            Err(P4rtError::Timeout {
                addr: addr.to_string(),
                rpc: "Capabilities",
                timeout,
            })
        })
    })
}

impl Client {
    /// Connects to `addr` (`host:port`), opens the StreamChannel and
    /// arbitrates for `device_id` with `election_id`. Fails unless this
    /// client became primary; the error names the current primary's id.
    /// `timeout` bounds the connection and, later, every call.
    pub fn connect(
        addr: &str,
        device_id: u64,
        election_id: u128,
        timeout: Duration,
    ) -> Result<Client, P4rtError> {
        let rt = runtime(addr)?;
        let timed_out = || P4rtError::Timeout {
            addr: addr.to_string(),
            rpc: "StreamChannel arbitration",
            timeout,
        };
        let (g, tx, rx, arb) = rt.block_on(async {
            tokio::time::timeout(timeout, async {
                let ch = open_channel(addr, timeout).await?;
                let mut g = grpc(ch);
                g.ready().await.map_err(|source| P4rtError::Connect {
                    addr: addr.to_string(),
                    source,
                })?;
                let (tx, rx) = mpsc::channel(8);
                // Queued before the call: the server answers the stream's
                // headers only once it has a message to answer.
                let arbitration = StreamMessageRequest {
                    update: Some(stream_message_request::Update::Arbitration(
                        MasterArbitrationUpdate {
                            device_id,
                            role: None,
                            election_id: Some(election_id.into()),
                            status: None,
                        },
                    )),
                };
                tx.send(arbitration)
                    .await
                    .map_err(|_| P4rtError::Arbitration {
                        addr: addr.to_string(),
                        device_id,
                        message: "request stream closed before the first message".into(),
                    })?;
                let arb_err = |st: tonic::Status| P4rtError::Arbitration {
                    addr: addr.to_string(),
                    device_id,
                    message: format!("{:?}: {}", st.code(), st.message()),
                };
                let codec = ProstCodec::<StreamMessageRequest, StreamMessageResponse>::default();
                let mut rx = g
                    .streaming(
                        tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
                        PathAndQuery::from_static("/p4.v1.P4Runtime/StreamChannel"),
                        codec,
                    )
                    .await
                    .map_err(arb_err)?
                    .into_inner();
                loop {
                    match rx.message().await.map_err(arb_err)? {
                        None => {
                            return Err(P4rtError::Arbitration {
                                addr: addr.to_string(),
                                device_id,
                                message: "the switch closed the stream without answering".into(),
                            })
                        }
                        Some(StreamMessageResponse {
                            update: Some(stream_message_response::Update::Arbitration(a)),
                        }) => return Ok((g, tx, rx, a)),
                        // Packet-ins or stream errors before the answer: not ours to handle.
                        Some(_) => continue,
                    }
                }
            })
            .await
            .unwrap_or_else(|_| Err(timed_out()))
        })?;
        let primary = arb.election_id.map(u128::from).unwrap_or(0);
        let code = arb.status.as_ref().map(|s| s.code).unwrap_or(0);
        if arb.device_id != device_id {
            return Err(P4rtError::Arbitration {
                addr: addr.to_string(),
                device_id,
                message: format!("the answer is for device {}", arb.device_id),
            });
        }
        if code != 0 || primary != election_id {
            return Err(P4rtError::NotPrimary {
                addr: addr.to_string(),
                device_id,
                election_id,
                primary,
            });
        }
        Ok(Client {
            addr: addr.to_string(),
            device_id,
            election_id,
            timeout,
            rt,
            grpc: g,
            _stream_tx: tx,
            stream_rx: rx,
            primary,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }
    pub fn device_id(&self) -> u64 {
        self.device_id
    }
    pub fn election_id(&self) -> u128 {
        self.election_id
    }

    /// Whether this client is still primary, as far as the arbitration
    /// updates received so far tell (reads what the stream has buffered).
    pub fn is_primary(&mut self) -> bool {
        self.drain_stream();
        self.primary == self.election_id
    }

    /// Takes what the switch sent on the stream since the last call, without
    /// waiting: arbitration updates (another controller took over), and
    /// anything else, which is dropped so that the stream's buffer stays empty.
    fn drain_stream(&mut self) {
        let Client {
            rt,
            stream_rx,
            primary,
            ..
        } = self;
        rt.block_on(async {
            // A zero timeout still polls the stream once before it expires.
            while let Ok(Ok(Some(m))) =
                tokio::time::timeout(Duration::ZERO, stream_rx.message()).await
            {
                if let Some(stream_message_response::Update::Arbitration(a)) = m.update {
                    *primary = a.election_id.map(u128::from).unwrap_or(0);
                }
            }
        });
    }

    fn unary<Req, Resp>(&mut self, path: &'static str, req: Req) -> Result<Resp, CallError>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let Client {
            rt, grpc, timeout, ..
        } = self;
        rt.block_on(async {
            tokio::time::timeout(*timeout, async {
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                grpc.unary(
                    tonic::Request::new(req),
                    PathAndQuery::from_static(path),
                    ProstCodec::<Req, Resp>::default(),
                )
                .await
                .map(tonic::Response::into_inner)
            })
            .await
            .map_err(|_| CallError::Timeout)?
            .map_err(CallError::Status)
        })
    }

    fn rpc_error(&mut self, rpc: &'static str, e: CallError) -> P4rtError {
        match e {
            CallError::Timeout => P4rtError::Timeout {
                addr: self.addr.clone(),
                rpc,
                timeout: self.timeout,
            },
            CallError::Status(st) if st.code() == Code::PermissionDenied => {
                // PI answers "Not primary": say who is, if the stream told us.
                self.drain_stream();
                if self.primary != self.election_id {
                    P4rtError::NotPrimary {
                        addr: self.addr.clone(),
                        device_id: self.device_id,
                        election_id: self.election_id,
                        primary: self.primary,
                    }
                } else {
                    self.status_error(rpc, &st)
                }
            }
            CallError::Status(st) => self.status_error(rpc, &st),
        }
    }

    fn status_error(&self, rpc: &'static str, st: &tonic::Status) -> P4rtError {
        P4rtError::Rpc {
            addr: self.addr.clone(),
            rpc,
            code: st.code(),
            message: st.message().to_string(),
        }
    }

    /// `SetForwardingPipelineConfig`: `p4info` is the binary P4Info exactly
    /// as p4c wrote it, `device_config` the target's program (BMv2: its JSON).
    pub fn set_pipeline(
        &mut self,
        action: PipelineAction,
        p4info: &[u8],
        device_config: &[u8],
        cookie: u64,
    ) -> Result<(), P4rtError> {
        let req = SetForwardingPipelineConfigRequest {
            device_id: self.device_id,
            role: String::new(),
            election_id: Some(self.election_id.into()),
            action: action as i32,
            config: Some(ForwardingPipelineConfig {
                p4info: p4info.to_vec(),
                p4_device_config: device_config.to_vec(),
                cookie: Some(proto::Cookie { cookie }),
            }),
        };
        self.unary::<_, SetForwardingPipelineConfigResponse>(
            "/p4.v1.P4Runtime/SetForwardingPipelineConfig",
            req,
        )
        .map(drop)
        .map_err(|e| self.rpc_error("SetForwardingPipelineConfig", e))
    }

    fn get_pipeline(
        &mut self,
        response_type: ResponseType,
    ) -> Result<Option<ForwardingPipelineConfig>, P4rtError> {
        let req = GetForwardingPipelineConfigRequest {
            device_id: self.device_id,
            response_type: response_type as i32,
        };
        match self.unary::<_, GetForwardingPipelineConfigResponse>(
            "/p4.v1.P4Runtime/GetForwardingPipelineConfig",
            req,
        ) {
            Ok(r) => Ok(r.config),
            // PI: "No forwarding pipeline config set for this device".
            Err(CallError::Status(st)) if st.code() == Code::FailedPrecondition => Ok(None),
            Err(e) => Err(self.rpc_error("GetForwardingPipelineConfig", e)),
        }
    }

    /// The cookie of the pipeline the device runs; `None` when no pipeline
    /// is set (or it was set without a cookie).
    pub fn pipeline_cookie(&mut self) -> Result<Option<u64>, P4rtError> {
        Ok(self
            .get_pipeline(ResponseType::CookieOnly)?
            .and_then(|c| c.cookie)
            .map(|c| c.cookie))
    }

    /// The P4Info (binary, as the switch re-encodes it) and cookie (0 when
    /// none was given) of the pipeline; `None` when no pipeline is set.
    pub fn pipeline(&mut self) -> Result<Option<(Vec<u8>, u64)>, P4rtError> {
        Ok(self
            .get_pipeline(ResponseType::P4infoAndCookie)?
            .filter(|c| !c.p4info.is_empty() || c.cookie.is_some())
            .map(|c| (c.p4info, c.cookie.map(|c| c.cookie).unwrap_or(0))))
    }

    /// `Write`: one batch. A refused batch is [`P4rtError::Write`], naming
    /// each update that failed and why.
    pub fn write(&mut self, updates: Vec<Update>, atomicity: Atomicity) -> Result<(), P4rtError> {
        let n = updates.len();
        let req = WriteRequest {
            device_id: self.device_id,
            role: String::new(),
            election_id: Some(self.election_id.into()),
            updates,
            atomicity: atomicity as i32,
        };
        match self.unary::<_, WriteResponse>("/p4.v1.P4Runtime/Write", req) {
            Ok(_) => Ok(()),
            Err(CallError::Status(st)) if st.code() != Code::PermissionDenied => {
                Err(P4rtError::Write {
                    addr: self.addr.clone(),
                    updates: n,
                    code: st.code(),
                    message: st.message().to_string(),
                    per_update: decode_write_details(st.details()),
                })
            }
            Err(e) => Err(self.rpc_error("Write", e)),
        }
    }

    /// All updates or none, on any server: `ROLLBACK_ON_ERROR` where the
    /// server implements it; where it answers `UNIMPLEMENTED` (BMv2), the
    /// batch is written with `CONTINUE_ON_ERROR` and the updates that
    /// succeeded are undone when any failed (table entries only: what a
    /// MODIFY or DELETE replaces is read first). Readers may see the batch
    /// half written for a moment in the fallback; packets may too, in both.
    /// The error is the original write failure, or
    /// [`P4rtError::RollbackFailed`] if the undo failed as well.
    pub fn write_all_or_none(&mut self, updates: Vec<Update>) -> Result<(), P4rtError> {
        match self.write(updates.clone(), Atomicity::RollbackOnError) {
            Err(P4rtError::Write {
                code: Code::Unimplemented,
                ref per_update,
                ..
            }) if per_update.is_empty() => {}
            other => return other,
        }
        let n = updates.len();
        // What each MODIFY/DELETE overwrites, to put it back.
        let mut before: Vec<Option<TableEntry>> = Vec::with_capacity(n);
        for u in &updates {
            let prev = match (u.r#type(), table_entry_of(u)) {
                (UpdateType::Modify | UpdateType::Delete, Some(te)) => self.read_one(te)?,
                _ => None,
            };
            before.push(prev);
        }
        let original = match self.write(updates.clone(), Atomicity::ContinueOnError) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let P4rtError::Write { per_update, .. } = &original else {
            return Err(original);
        };
        if per_update.is_empty() {
            // Refused as a whole: nothing was applied.
            return Err(original);
        }
        let failed: std::collections::BTreeSet<usize> =
            per_update.iter().map(|u| u.index).collect();
        let undo = undo_plan(&updates, before, &failed);
        let undone = undo.len();
        if undone > 0 {
            if let Err(e) = self.write(undo, Atomicity::ContinueOnError) {
                return Err(P4rtError::RollbackFailed {
                    addr: self.addr.clone(),
                    updates: n,
                    undone,
                    original: Box::new(original),
                    undo: Box::new(e),
                });
            }
        }
        Err(original)
    }

    fn read_one(&mut self, te: &TableEntry) -> Result<Option<TableEntry>, P4rtError> {
        let mut q = key_of(te);
        q.is_default_action = te.is_default_action;
        let found = self.read(vec![Entity::table(q)])?;
        Ok(found.into_iter().find_map(|e| match e.entity {
            Some(entity::Entity::TableEntry(t)) => Some(TableEntry {
                counter_data: None,
                is_const: false,
                ..t
            }),
            _ => None,
        }))
    }

    /// `Read`: every entity the server streams back for these queries.
    pub fn read(&mut self, entities: Vec<Entity>) -> Result<Vec<Entity>, P4rtError> {
        let req = ReadRequest {
            device_id: self.device_id,
            role: String::new(),
            entities,
        };
        let Client {
            rt, grpc, timeout, ..
        } = self;
        let r = rt.block_on(async {
            tokio::time::timeout(*timeout, async {
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                let mut s = grpc
                    .server_streaming(
                        tonic::Request::new(req),
                        PathAndQuery::from_static("/p4.v1.P4Runtime/Read"),
                        ProstCodec::<ReadRequest, ReadResponse>::default(),
                    )
                    .await?
                    .into_inner();
                let mut out = Vec::new();
                while let Some(r) = s.message().await? {
                    out.extend(r.entities);
                }
                Ok::<_, tonic::Status>(out)
            })
            .await
            .map_err(|_| CallError::Timeout)?
            .map_err(CallError::Status)
        });
        r.map_err(|e| self.rpc_error("Read", e))
    }

    /// The entries of table `table_id` (0: of every table), without default
    /// entries; with their direct counter values if `with_counters`.
    pub fn read_table_entries(
        &mut self,
        table_id: u32,
        with_counters: bool,
    ) -> Result<Vec<TableEntry>, P4rtError> {
        let q = TableEntry {
            table_id,
            counter_data: with_counters.then(CounterData::default),
            ..Default::default()
        };
        Ok(self
            .read(vec![Entity::table(q)])?
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(entity::Entity::TableEntry(t)) => Some(t),
                _ => None,
            })
            .collect())
    }

    /// The default entry of a table (the action run on a miss).
    pub fn read_default_entry(&mut self, table_id: u32) -> Result<Option<TableEntry>, P4rtError> {
        let q = TableEntry {
            table_id,
            is_default_action: true,
            ..Default::default()
        };
        Ok(self
            .read(vec![Entity::table(q)])?
            .into_iter()
            .find_map(|e| match e.entity {
                Some(entity::Entity::TableEntry(t)) if t.is_default_action => Some(t),
                _ => None,
            }))
    }

    /// `(bytes, packets)` of cell `index` of the indexed counter `counter_id`.
    pub fn read_counter(&mut self, counter_id: u32, index: i64) -> Result<(u64, u64), P4rtError> {
        let q = Entity {
            entity: Some(entity::Entity::CounterEntry(CounterEntry {
                counter_id,
                index: Some(Index { index }),
                data: None,
            })),
        };
        let found = self
            .read(vec![q])?
            .into_iter()
            .find_map(|e| match e.entity {
                Some(entity::Entity::CounterEntry(c))
                    if c.counter_id == counter_id && c.index.map(|i| i.index) == Some(index) =>
                {
                    Some(c.data.unwrap_or_default())
                }
                _ => None,
            });
        let data = found.ok_or_else(|| P4rtError::Protocol {
            addr: self.addr.clone(),
            rpc: "Read",
            what: format!("no value for counter {counter_id} index {index}"),
        })?;
        self.counts(data)
    }

    /// `(bytes, packets)` of the direct counter of one table entry (match
    /// key and priority identify it; the action is ignored).
    pub fn read_direct_counter(&mut self, entry: &TableEntry) -> Result<(u64, u64), P4rtError> {
        let q = Entity {
            entity: Some(entity::Entity::DirectCounterEntry(DirectCounterEntry {
                table_entry: Some(key_of(entry)),
                data: None,
            })),
        };
        // PI answers a query without match fields (an all-wildcard entry)
        // with the counters of every entry: pick ours by key.
        let found = self
            .read(vec![q])?
            .into_iter()
            .find_map(|e| match e.entity {
                Some(entity::Entity::DirectCounterEntry(d))
                    if d.table_entry.as_ref().is_none_or(|t| same_key(t, entry)) =>
                {
                    Some(d.data.unwrap_or_default())
                }
                _ => None,
            });
        let data = found.ok_or_else(|| P4rtError::Protocol {
            addr: self.addr.clone(),
            rpc: "Read",
            what: format!(
                "no direct counter value for an entry of table {}",
                entry.table_id
            ),
        })?;
        self.counts(data)
    }

    fn counts(&self, d: CounterData) -> Result<(u64, u64), P4rtError> {
        match (u64::try_from(d.byte_count), u64::try_from(d.packet_count)) {
            (Ok(b), Ok(p)) => Ok((b, p)),
            _ => Err(P4rtError::Protocol {
                addr: self.addr.clone(),
                rpc: "Read",
                what: format!("negative counter value {d:?}"),
            }),
        }
    }
}

/// The updates that take back those of `updates` that succeeded (not in
/// `failed`), last first: an INSERT by a DELETE of its key, a MODIFY or
/// DELETE by putting back `before[i]`, what the entry was.
fn undo_plan(
    updates: &[Update],
    before: Vec<Option<TableEntry>>,
    failed: &std::collections::BTreeSet<usize>,
) -> Vec<Update> {
    let mut undo = Vec::new();
    for (i, (u, prev)) in updates.iter().zip(before).enumerate().rev() {
        if failed.contains(&i) {
            continue;
        }
        let Some(te) = table_entry_of(u) else {
            continue;
        };
        match (u.r#type(), prev) {
            (UpdateType::Insert, _) => undo.push(Update::delete(key_of(te))),
            (UpdateType::Modify, Some(p)) => undo.push(Update::modify(p)),
            (UpdateType::Delete, Some(p)) => undo.push(Update::insert(p)),
            _ => {}
        }
    }
    undo
}

fn table_entry_of(u: &Update) -> Option<&TableEntry> {
    match u.entity.as_ref()?.entity.as_ref()? {
        entity::Entity::TableEntry(t) => Some(t),
        _ => None,
    }
}

/// Whether two entries have the same match key and priority (field order aside).
fn same_key(a: &TableEntry, b: &TableEntry) -> bool {
    let sorted = |t: &TableEntry| {
        let mut m = t.r#match.clone();
        m.sort_by_key(|f| f.field_id);
        m
    };
    a.priority == b.priority && sorted(a) == sorted(b)
}

/// What identifies an entry: table, match key, priority.
fn key_of(te: &TableEntry) -> TableEntry {
    TableEntry {
        table_id: te.table_id,
        r#match: te.r#match.clone(),
        priority: te.priority,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_details_name_the_failed_updates() {
        let ok = proto::Error {
            canonical_code: 0,
            message: String::new(),
            space: String::new(),
            code: 0,
            details: None,
        };
        let dup = proto::Error {
            canonical_code: Code::AlreadyExists as i32,
            message: "Match entry exists, use MODIFY if you wish to change action".into(),
            space: "ALL-sswitch-p4org".into(),
            code: 0,
            details: None,
        };
        let pack = |e: &proto::Error| proto::Any {
            type_url: proto::ERROR_TYPE_URL.into(),
            value: e.encode_to_vec(),
        };
        let st = proto::RpcStatus {
            code: Code::Unknown as i32,
            message: String::new(),
            details: vec![pack(&ok), pack(&dup), pack(&ok)],
        };
        let failures = decode_write_details(&st.encode_to_vec());
        assert_eq!(
            failures,
            vec![UpdateError {
                index: 1,
                code: Code::AlreadyExists,
                message: dup.message.clone(),
            }]
        );
        let e = P4rtError::Write {
            addr: "127.0.0.1:9559".into(),
            updates: 3,
            code: Code::Unknown,
            message: String::new(),
            per_update: failures,
        };
        assert!(
            e.to_string()
                .contains("update 1: AlreadyExists: Match entry exists"),
            "{e}"
        );
        assert!(decode_write_details(b"\xff\xff").is_empty());
        assert!(decode_write_details(&[]).is_empty());
    }

    #[test]
    fn undo_takes_back_what_succeeded_last_first() {
        let te = |id: u32, action: u32| TableEntry {
            table_id: id,
            action: Some(proto::TableAction::action(proto::Action {
                action_id: action,
                params: vec![],
            })),
            ..Default::default()
        };
        let updates = vec![
            Update::insert(te(1, 10)),
            Update::modify(te(2, 20)),
            Update::delete(te(3, 0)),
            Update::insert(te(4, 40)),
        ];
        let before = vec![None, Some(te(2, 21)), Some(te(3, 31)), None];
        let failed = [3].into_iter().collect();
        let plan = undo_plan(&updates, before, &failed);
        let expected = vec![
            Update::insert(te(3, 31)),
            Update::modify(te(2, 21)),
            // The key only: a DELETE needs no action.
            Update::delete(TableEntry {
                table_id: 1,
                ..Default::default()
            }),
        ];
        assert_eq!(plan, expected);
        let all_failed = (0..4).collect();
        assert!(undo_plan(&updates, vec![None; 4], &all_failed).is_empty());
    }

    #[test]
    fn connecting_to_nothing_fails_with_the_address() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let e = Client::connect(&addr, 1, 1, Duration::from_secs(2)).unwrap_err();
        assert!(
            matches!(&e, P4rtError::Connect { addr: a, .. } | P4rtError::Timeout { addr: a, .. } if *a == addr),
            "{e}"
        );
        assert!(api_version(&addr, Duration::from_secs(2)).is_err());
    }
}
