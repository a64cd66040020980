//! The async etcd v3 client: one HTTP/2 connection to one member.
//!
//! Every unary call and every stream's set-up is bounded by the client's
//! request timeout (a member without quorum does not answer a linearizable
//! read or a write; it does not fail it either); a watch then waits as long
//! as it takes for the next event. Errors name the endpoint and the RPC.

use super::proto::{
    watch_request, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
    LeaseKeepAliveResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, StatusRequest,
    StatusResponse, TxnRequest, TxnResponse, WatchCreateRequest, WatchRequest, WatchResponse,
};
use http::uri::PathAndQuery;
use prost::Message;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_prost::ProstCodec;

/// Largest answer accepted: a prefix read of a large fleet's status keys may
/// pass tonic's default of 4 MiB (etcd itself sends up to 2 GiB).
const MAX_DECODE: usize = 64 << 20;

/// How to reach a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// TCP connect and HTTP/2 handshake.
    pub connect_timeout: Duration,
    /// Each unary call, and the set-up of each stream (until its first answer).
    pub request_timeout: Duration,
    /// HTTP/2 pings (also while idle): a member that vanished without closing
    /// the connection is noticed after `interval + timeout`.
    pub keep_alive: Option<KeepAlive>,
}

/// HTTP/2 keep-alive pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            keep_alive: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("no etcd endpoint given")]
    NoEndpoint,
    #[error("{endpoint}: not a usable etcd address: {reason}")]
    BadAddress { endpoint: String, reason: String },
    /// `reason` is the transport error with its causes ("tcp connect error:
    /// Connection refused (os error 111)").
    #[error("{endpoint}: cannot connect: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("{endpoint}: {rpc} got no answer within {timeout:?}")]
    Timeout {
        endpoint: String,
        rpc: &'static str,
        timeout: Duration,
    },
    #[error("{endpoint}: {rpc} failed: {code:?}: {message}")]
    Rpc {
        endpoint: String,
        rpc: &'static str,
        code: Code,
        message: String,
    },
    #[error("{endpoint}: {rpc}: the server ended the stream")]
    StreamEnded { endpoint: String, rpc: &'static str },
    #[error("{endpoint}: watch canceled by the server{}", canceled_why(*compact_revision, reason))]
    WatchCanceled {
        endpoint: String,
        /// The oldest revision still available when the start revision was
        /// compacted away (0 otherwise).
        compact_revision: i64,
        reason: String,
    },
    #[error("{endpoint}: lease {id:#x} is gone (expired or revoked)")]
    LeaseGone { endpoint: String, id: i64 },
    #[error("{endpoint}: {rpc} refused: {message}")]
    Refused {
        endpoint: String,
        rpc: &'static str,
        message: String,
    },
    #[error("{endpoint}: {rpc}: unexpected answer: {what}")]
    Protocol {
        endpoint: String,
        rpc: &'static str,
        what: String,
    },
    /// Every endpoint of [`Client::connect_any`] failed; one error each, in order.
    #[error("no etcd endpoint answered: {}", join(attempts))]
    Unreachable { attempts: Vec<EtcdError> },
}

fn canceled_why(compact_revision: i64, reason: &str) -> String {
    match (compact_revision, reason.is_empty()) {
        (0, true) => String::new(),
        (0, false) => format!(": {reason}"),
        (c, true) => format!(" (compacted at {c})"),
        (c, false) => format!(" (compacted at {c}): {reason}"),
    }
}

fn join(errors: &[EtcdError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// An error with its causes, `a: b: c`: what tonic's transport errors need
/// to say anything (their own text is only "transport error", which is
/// left out when a cause follows).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    if parts.len() > 1 {
        parts.retain(|p| p != "transport error");
    }
    parts.join(": ")
}

/// A gRPC status's message, with the causes of a status tonic made from a
/// transport failure (its message alone is e.g. "tcp connect error"; its
/// source chain repeats that and adds "Connection refused").
fn status_message(st: &tonic::Status) -> String {
    let mut parts = vec![st.message().to_string()];
    let mut cause = std::error::Error::source(st);
    while let Some(c) = cause {
        let text = c.to_string();
        if text != "transport error" && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.retain(|p| !p.is_empty());
    parts.join(": ")
}

/// How a call ended when it did not succeed (the endpoint and RPC are added
/// by [`Client::error`]).
enum CallError {
    Timeout,
    Status(tonic::Status),
}

/// A client of one etcd member (`http://host:port`).
#[derive(Clone)]
pub struct Client {
    endpoint: String,
    timeout: Duration,
    grpc: Grpc<Channel>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `http://host:port` from an endpoint as users write it (`host:port` too).
fn uri(endpoint: &str) -> Result<String, EtcdError> {
    let bad = |reason: &str| EtcdError::BadAddress {
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    };
    if endpoint.starts_with("https://") {
        return Err(bad(
            "TLS is not supported (offload's etcd client speaks plain HTTP/2: use http://)",
        ));
    }
    if endpoint.starts_with("http://") {
        Ok(endpoint.to_string())
    } else if endpoint.contains("://") {
        Err(bad("only http:// endpoints are supported"))
    } else if endpoint.is_empty() {
        Err(bad("empty"))
    } else {
        Ok(format!("http://{endpoint}"))
    }
}

impl Client {
    /// Connects to one member and checks that it answers (`Status`, which a
    /// member answers with or without quorum). `opts.connect_timeout` bounds
    /// the connection, `opts.request_timeout` the `Status` call and, later,
    /// every call.
    pub async fn connect(endpoint: &str, opts: &ConnectOptions) -> Result<Client, EtcdError> {
        let mut ep = Endpoint::from_shared(uri(endpoint)?)
            .map_err(|e| EtcdError::BadAddress {
                endpoint: endpoint.to_string(),
                reason: with_causes(&e),
            })?
            .connect_timeout(opts.connect_timeout)
            .tcp_nodelay(true);
        if let Some(k) = opts.keep_alive {
            ep = ep
                .http2_keep_alive_interval(k.interval)
                .keep_alive_timeout(k.timeout)
                .keep_alive_while_idle(true);
        }
        let channel = match tokio::time::timeout(opts.connect_timeout, ep.connect()).await {
            Ok(Ok(ch)) => ch,
            Ok(Err(e)) => {
                return Err(EtcdError::Connect {
                    endpoint: endpoint.to_string(),
                    reason: with_causes(&e),
                })
            }
            Err(_) => {
                return Err(EtcdError::Connect {
                    endpoint: endpoint.to_string(),
                    reason: format!("no connection within {:?}", opts.connect_timeout),
                })
            }
        };
        let c = Client {
            endpoint: endpoint.to_string(),
            timeout: opts.request_timeout,
            grpc: Grpc::new(channel).max_decoding_message_size(MAX_DECODE),
        };
        c.status().await?;
        Ok(c)
    }

    /// The first of `endpoints`, in order, that answers (see
    /// [`Client::connect`]); one live member of a cluster with quorum is all
    /// a client needs. Fails with every endpoint's error.
    pub async fn connect_any(
        endpoints: &[impl AsRef<str>],
        opts: &ConnectOptions,
    ) -> Result<Client, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::NoEndpoint);
        }
        let mut attempts = Vec::new();
        for e in endpoints {
            match Client::connect(e.as_ref(), opts).await {
                Ok(c) => return Ok(c),
                Err(err) => {
                    tracing::debug!(error = %err, "etcd endpoint unusable");
                    attempts.push(err);
                }
            }
        }
        Err(EtcdError::Unreachable { attempts })
    }

    /// The endpoint this client talks to, as given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn error(&self, rpc: &'static str, e: CallError) -> EtcdError {
        match e {
            CallError::Timeout => EtcdError::Timeout {
                endpoint: self.endpoint.clone(),
                rpc,
                timeout: self.timeout,
            },
            CallError::Status(st) => self.status_error(rpc, &st),
        }
    }

    fn status_error(&self, rpc: &'static str, st: &tonic::Status) -> EtcdError {
        EtcdError::Rpc {
            endpoint: self.endpoint.clone(),
            rpc,
            code: st.code(),
            message: status_message(st),
        }
    }

    /// Runs `f` within the request timeout.
    async fn timed<T>(
        &self,
        f: impl Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, CallError> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| CallError::Timeout)?
            .map_err(CallError::Status)
    }

    async fn unary<Req, Resp>(
        &self,
        rpc: &'static str,
        path: &'static str,
        req: Req,
    ) -> Result<Resp, EtcdError>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc.clone();
        let r = self
            .timed(async move {
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unavailable(with_causes(&e)))?;
                grpc.unary(
                    tonic::Request::new(req),
                    PathAndQuery::from_static(path),
                    ProstCodec::<Req, Resp>::default(),
                )
                .await
                .map(tonic::Response::into_inner)
            })
            .await;
        r.map_err(|e| self.error(rpc, e))
    }

    /// Opens a bidirectional stream with `first` queued (etcd answers a
    /// stream's headers only once it has a request to answer) and waits for
    /// the first answer.
    async fn stream<Req, Resp>(
        &self,
        rpc: &'static str,
        path: &'static str,
        first: Req,
    ) -> Result<(mpsc::Sender<Req>, tonic::Streaming<Resp>, Resp), EtcdError>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::channel(16);
        tx.try_send(first)
            .expect("a new channel has room for one message");
        let mut grpc = self.grpc.clone();
        let opened = self
            .timed(async move {
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unavailable(with_causes(&e)))?;
                let mut s = grpc
                    .streaming(
                        tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
                        PathAndQuery::from_static(path),
                        ProstCodec::<Req, Resp>::default(),
                    )
                    .await?
                    .into_inner();
                let first = s.message().await?;
                Ok((s, first))
            })
            .await;
        match opened {
            Ok((s, Some(first))) => Ok((tx, s, first)),
            Ok((_, None)) => Err(EtcdError::StreamEnded {
                endpoint: self.endpoint.clone(),
                rpc,
            }),
            Err(e) => Err(self.error(rpc, e)),
        }
    }

    /// `Maintenance.Status` of the member.
    pub async fn status(&self) -> Result<StatusResponse, EtcdError> {
        self.unary(
            "Status",
            "/etcdserverpb.Maintenance/Status",
            StatusRequest {},
        )
        .await
    }

    /// `KV.Range`, as given.
    pub async fn range(&self, req: RangeRequest) -> Result<RangeResponse, EtcdError> {
        self.unary("Range", "/etcdserverpb.KV/Range", req).await
    }

    /// One key (`kvs` empty when there is none).
    pub async fn get(&self, key: impl Into<Vec<u8>>) -> Result<RangeResponse, EtcdError> {
        self.range(RangeRequest::key(key)).await
    }

    /// Every key starting with `prefix`, in key order.
    pub async fn get_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<RangeResponse, EtcdError> {
        self.range(RangeRequest::prefix(prefix)).await
    }

    /// `KV.Put`; `lease` 0 for none (etcd's convention), else the key goes
    /// when the lease does.
    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        lease: i64,
    ) -> Result<PutResponse, EtcdError> {
        let req = PutRequest {
            key: key.into(),
            value: value.into(),
            lease,
        };
        self.unary("Put", "/etcdserverpb.KV/Put", req).await
    }

    /// `KV.Txn`: `succeeded` says which branch ran.
    pub async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, EtcdError> {
        self.unary("Txn", "/etcdserverpb.KV/Txn", req).await
    }

    /// `Lease.LeaseGrant` of `ttl` seconds (the server may raise it to its
    /// minimum; the answer has the TTL granted).
    pub async fn lease_grant(&self, ttl: i64) -> Result<LeaseGrantResponse, EtcdError> {
        let r: LeaseGrantResponse = self
            .unary(
                "LeaseGrant",
                "/etcdserverpb.Lease/LeaseGrant",
                LeaseGrantRequest { ttl, id: 0 },
            )
            .await?;
        if !r.error.is_empty() {
            return Err(EtcdError::Refused {
                endpoint: self.endpoint.clone(),
                rpc: "LeaseGrant",
                message: r.error,
            });
        }
        Ok(r)
    }

    /// A `Lease.LeaseKeepAlive` stream for `id`, refreshed once already (so
    /// a lease that is gone fails here).
    pub async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeeper, EtcdError> {
        let (tx, rx, first) = self
            .stream::<_, LeaseKeepAliveResponse>(
                "LeaseKeepAlive",
                "/etcdserverpb.Lease/LeaseKeepAlive",
                LeaseKeepAliveRequest { id },
            )
            .await?;
        let mut k = LeaseKeeper {
            endpoint: self.endpoint.clone(),
            timeout: self.timeout,
            id,
            tx,
            rx,
            ttl: 0,
        };
        k.ttl = k.check(first)?;
        Ok(k)
    }

    /// A `Watch` of every key starting with `prefix`, from `start_revision`
    /// (0: from now on); returns once the server created it.
    pub async fn watch_prefix(
        &self,
        prefix: impl AsRef<[u8]>,
        start_revision: i64,
    ) -> Result<Watcher, EtcdError> {
        self.watch(WatchCreateRequest::prefix(prefix, start_revision))
            .await
    }

    /// A `Watch` as given; returns once the server created it.
    pub async fn watch(&self, create: WatchCreateRequest) -> Result<Watcher, EtcdError> {
        let req = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(create)),
        };
        let (tx, rx, first) = self
            .stream::<_, WatchResponse>("Watch", "/etcdserverpb.Watch/Watch", req)
            .await?;
        let first = check_watch_response(&self.endpoint, first)?;
        if !first.created {
            return Err(EtcdError::Protocol {
                endpoint: self.endpoint.clone(),
                rpc: "Watch",
                what: format!("the first answer is not the watch's creation: {:?}", first),
            });
        }
        Ok(Watcher {
            endpoint: self.endpoint.clone(),
            watch_id: first.watch_id,
            _tx: tx,
            rx,
            pending: (!first.events.is_empty()).then_some(first),
        })
    }
}

/// A watch answer checked: a canceled watch is an error (nothing follows it).
fn check_watch_response(endpoint: &str, r: WatchResponse) -> Result<WatchResponse, EtcdError> {
    if r.canceled {
        return Err(EtcdError::WatchCanceled {
            endpoint: endpoint.to_string(),
            compact_revision: r.compact_revision,
            reason: r.cancel_reason,
        });
    }
    Ok(r)
}

/// The keep-alive stream of one lease (dropping it ends the stream; the lease
/// then lives out its TTL).
pub struct LeaseKeeper {
    endpoint: String,
    timeout: Duration,
    id: i64,
    tx: mpsc::Sender<LeaseKeepAliveRequest>,
    rx: tonic::Streaming<LeaseKeepAliveResponse>,
    ttl: i64,
}

impl fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("endpoint", &self.endpoint)
            .field("id", &self.id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl LeaseKeeper {
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The TTL the last refresh answered, seconds.
    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    fn check(&self, r: LeaseKeepAliveResponse) -> Result<i64, EtcdError> {
        if r.ttl <= 0 {
            return Err(EtcdError::LeaseGone {
                endpoint: self.endpoint.clone(),
                id: self.id,
            });
        }
        if r.id != self.id {
            return Err(EtcdError::Protocol {
                endpoint: self.endpoint.clone(),
                rpc: "LeaseKeepAlive",
                what: format!("an answer for lease {:#x}, not {:#x}", r.id, self.id),
            });
        }
        Ok(r.ttl)
    }

    /// Refreshes the lease and waits for the answer (within the request
    /// timeout): the TTL it runs for again.
    pub async fn keep_alive(&mut self) -> Result<i64, EtcdError> {
        const RPC: &str = "LeaseKeepAlive";
        let ended = || EtcdError::StreamEnded {
            endpoint: self.endpoint.clone(),
            rpc: RPC,
        };
        self.tx
            .send(LeaseKeepAliveRequest { id: self.id })
            .await
            .map_err(|_| ended())?;
        let got = tokio::time::timeout(self.timeout, self.rx.message()).await;
        let r = match got {
            Err(_) => {
                return Err(EtcdError::Timeout {
                    endpoint: self.endpoint.clone(),
                    rpc: RPC,
                    timeout: self.timeout,
                })
            }
            Ok(Err(st)) => {
                return Err(EtcdError::Rpc {
                    endpoint: self.endpoint.clone(),
                    rpc: RPC,
                    code: st.code(),
                    message: status_message(&st),
                })
            }
            Ok(Ok(None)) => return Err(ended()),
            Ok(Ok(Some(r))) => r,
        };
        self.ttl = self.check(r)?;
        Ok(self.ttl)
    }
}

/// One watch on its own stream (dropping it ends the stream, and the watch).
pub struct Watcher {
    endpoint: String,
    watch_id: i64,
    /// Kept open: the server ends the watch when the request side closes.
    _tx: mpsc::Sender<WatchRequest>,
    rx: tonic::Streaming<WatchResponse>,
    /// Events that came with the creation, handed out first.
    pending: Option<WatchResponse>,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("endpoint", &self.endpoint)
            .field("watch_id", &self.watch_id)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    pub fn watch_id(&self) -> i64 {
        self.watch_id
    }

    /// The next answer (events, in revision order; or none: a progress
    /// report), waiting as long as it takes. A canceled watch or an ended
    /// stream is an error. Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Result<WatchResponse, EtcdError> {
        if let Some(r) = self.pending.take() {
            return Ok(r);
        }
        match self.rx.message().await {
            Ok(Some(r)) => check_watch_response(&self.endpoint, r),
            Ok(None) => Err(EtcdError::StreamEnded {
                endpoint: self.endpoint.clone(),
                rpc: "Watch",
            }),
            Err(st) => Err(EtcdError::Rpc {
                endpoint: self.endpoint.clone(),
                rpc: "Watch",
                code: st.code(),
                message: status_message(&st),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_as_users_write_them() {
        assert_eq!(
            uri("http://127.0.0.1:2379").unwrap(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(uri("10.0.0.1:2379").unwrap(), "http://10.0.0.1:2379");
        let e = uri("https://etcd:2379").unwrap_err().to_string();
        assert!(
            e.starts_with("https://etcd:2379: not a usable etcd address: TLS"),
            "{e}"
        );
        assert!(uri("unix:///run/etcd.sock").is_err());
        assert!(uri("").is_err());
    }

    #[test]
    fn canceled_watch_is_an_error_naming_the_compaction() {
        let r = WatchResponse {
            watch_id: 3,
            canceled: true,
            compact_revision: 100,
            ..Default::default()
        };
        let e = check_watch_response("http://m0:2379", r).unwrap_err();
        assert_eq!(
            e.to_string(),
            "http://m0:2379: watch canceled by the server (compacted at 100)"
        );
        let r = WatchResponse {
            canceled: true,
            cancel_reason: "etcdserver: mvcc: required revision is a future revision".into(),
            ..Default::default()
        };
        assert_eq!(
            check_watch_response("e", r).unwrap_err().to_string(),
            "e: watch canceled by the server: etcdserver: mvcc: required revision is a future revision"
        );
        let ok = WatchResponse {
            created: true,
            ..Default::default()
        };
        assert!(check_watch_response("e", ok).is_ok());
    }

    #[test]
    fn unreachable_lists_every_endpoint() {
        let e = EtcdError::Unreachable {
            attempts: vec![
                EtcdError::Connect {
                    endpoint: "http://a:1".into(),
                    reason: "tcp connect error: Connection refused (os error 111)".into(),
                },
                EtcdError::Timeout {
                    endpoint: "http://b:2".into(),
                    rpc: "Status",
                    timeout: Duration::from_secs(5),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "no etcd endpoint answered: http://a:1: cannot connect: tcp connect error: \
             Connection refused (os error 111); http://b:2: Status got no answer within 5s"
        );
    }
}
