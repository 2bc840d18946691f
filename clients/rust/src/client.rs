//! `Client` and its builder: the connection (plaintext, TLS, mutual TLS), the bearer token,
//! deadlines, and one method per RPC of `median.v1.MedianService`.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::{InterceptedService, Interceptor};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};

use crate::error::Error;
use crate::ids::new_id;
use crate::ingest::{self, Batched, Resumer};
use crate::proto::median_service_client::MedianServiceClient;
use crate::proto::{
    CreateSessionRequest, DeleteSessionRequest, GetMedianRequest, ListSessionsRequest,
};

/// The request metadata a proxy routes on; every call that names a session carries it.
pub const SESSION_HEADER: &str = "median-session-id";
/// Deadline of each unary call unless [`ClientBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of a whole ingest call (every resume included) unless
/// [`ClientBuilder::stream_timeout`] says otherwise.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a call keeps resuming after retryable failures unless [`ClientBuilder::retry_for`]
/// says otherwise.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(30);
/// Numbers per request unless [`ClientBuilder::batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// Requests of one `AddNumbers` stream unless [`ClientBuilder::max_stream_requests`] says
/// otherwise.
pub const DEFAULT_MAX_STREAM_REQUESTS: usize = 1000;
/// Sessions per `ListSessions` page unless the caller says otherwise (the server's default).
pub const DEFAULT_PAGE_SIZE: i32 = 100;

pub(crate) type Stub = MedianServiceClient<InterceptedService<Channel, BearerToken>>;

/// Adds `authorization: Bearer <token>` to every call (tonic's interceptor, the way its own
/// authentication example does it); does nothing without a token.
#[derive(Clone)]
pub(crate) struct BearerToken(Option<AsciiMetadataValue>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// Settings of a [`Client`]; made by [`Client::builder`].
///
/// ```no_run
/// # async fn example() -> Result<(), median_client::Error> {
/// let ca = std::fs::read("ca.pem").expect("the CA certificate");
/// let client = median_client::Client::builder("localhost:50051")
///     .tls_ca_pem(ca)
///     .token("0123456789abcdef0123456789abcdef")
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientBuilder {
    target: String,
    tls: Option<TlsSettings>,
    token: Option<String>,
    connect_timeout: Duration,
    settings: Settings,
}

#[derive(Clone, Default)]
struct TlsSettings {
    ca_pem: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    domain_name: Option<String>,
}

/// Written by hand so that `{:?}` never shows the bearer token or the client's private key:
/// only whether each is set.
impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("target", &self.target)
            .field("tls", &self.tls)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("settings", &self.settings)
            .finish()
    }
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<set>"))
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .field("domain_name", &self.domain_name)
            .finish()
    }
}

impl ClientBuilder {
    /// Connect over TLS, trusting the CA certificates in `pem` (PEM, one or more) and no others.
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(TlsSettings::default).ca_pem = Some(pem.into());
        self
    }

    /// Connect over TLS, trusting the operating system's root certificates (what a public
    /// certificate needs). The default when TLS is asked for without [`Self::tls_ca_pem`].
    pub fn tls_system_roots(mut self) -> Self {
        self.tls.get_or_insert_with(TlsSettings::default);
        self
    }

    /// Present a client certificate (mutual TLS): the certificate chain and its unencrypted
    /// private key, both PEM. Turns TLS on (trusting the system's roots unless a CA is given).
    pub fn tls_client_identity(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.get_or_insert_with(TlsSettings::default).identity =
            Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The name the server's certificate must carry; by default the host of the target.
    pub fn tls_domain_name(mut self, name: impl Into<String>) -> Self {
        self.tls
            .get_or_insert_with(TlsSettings::default)
            .domain_name = Some(name.into());
        self
    }

    /// Send `authorization: Bearer <token>` on every call (the server's `--auth-tokens`).
    /// The token must be printable ASCII without spaces; it is marked sensitive so that tonic
    /// never logs it.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Deadline of each unary call (create, get, delete, list); default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Deadline of a whole ingest call, resumes included; default 600 s; `None`: no deadline
    /// (resuming is still bounded by [`Self::retry_for`]).
    pub fn stream_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.stream_timeout = timeout;
        self
    }

    /// How long to wait for a TCP (and TLS) connection; default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a call keeps resuming after retryable failures (`UNAVAILABLE`, a broken
    /// connection or stream), counted from the first failure since the server last answered a
    /// request or took a stream's requests (so each outage has the whole time); default 30 s.
    /// `Duration::ZERO` turns resuming off.
    pub fn retry_for(mut self, retry_for: Duration) -> Self {
        self.settings.retry_for = retry_for;
        self
    }

    /// The most numbers in one request of [`Client::add_numbers`]; default 1000, at least 1.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.settings.batch_size = batch_size;
        self
    }

    /// The most requests one `AddNumbers` stream carries before the client half-closes it and
    /// opens the next (default 1000, at least 1). An `AddNumbers` stream acknowledges nothing
    /// until it ends, so this bounds what the client holds for a resend: at most this many
    /// requests of [`Self::batch_size`] numbers.
    pub fn max_stream_requests(mut self, requests: usize) -> Self {
        self.settings.max_stream_requests = requests;
        self
    }

    /// A client whose channel connects on first use (and reconnects after a failure).
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a setting that cannot work: a target that is not `HOST:PORT` or
    /// an `http://`/`https://` URI, a PEM that rustls cannot read, a token that cannot be a
    /// header value, a zero batch size.
    pub fn connect_lazy(self) -> Result<Client, Error> {
        let (endpoint, client) = self.prepare()?;
        Ok(client(endpoint.connect_lazy()))
    }

    /// A client whose channel is connected now.
    ///
    /// # Errors
    /// As [`Self::connect_lazy`], and `UNAVAILABLE` when the server cannot be reached (or the
    /// TLS handshake fails).
    pub async fn connect(self) -> Result<Client, Error> {
        let (endpoint, client) = self.prepare()?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|error| Error::from(Status::from_error(Box::new(error))))?;
        Ok(client(channel))
    }

    fn prepare(self) -> Result<(Endpoint, impl FnOnce(Channel) -> Client), Error> {
        if self.settings.batch_size == 0 || self.settings.max_stream_requests == 0 {
            return Err(Error::invalid_setting(
                "batch_size and max_stream_requests must be at least 1",
            ));
        }
        let token = self.token.as_deref().map(token_header).transpose()?;
        let endpoint =
            endpoint(&self.target, self.tls.as_ref())?.connect_timeout(self.connect_timeout);
        let settings = Arc::new(self.settings);
        let client = move |channel: Channel| Client {
            stub: MedianServiceClient::with_interceptor(channel, BearerToken(token)),
            settings,
        };
        Ok((endpoint, client))
    }
}

/// The endpoint of `target`: `HOST:PORT` (plaintext, or TLS when any TLS setting is given) or a
/// URI whose scheme says which.
fn endpoint(target: &str, tls: Option<&TlsSettings>) -> Result<Endpoint, Error> {
    let uri = match target.split_once("://") {
        Some(("http", _)) if tls.is_some() => {
            return Err(Error::invalid_setting(format!(
                "target {target:?} says http:// but TLS settings are given; use https:// or HOST:PORT"
            )));
        }
        Some(("http" | "https", _)) => target.to_string(),
        Some(_) => {
            return Err(Error::invalid_setting(format!(
                "target {target:?} must be HOST:PORT, http://HOST:PORT or https://HOST:PORT"
            )));
        }
        None if tls.is_some() => format!("https://{target}"),
        None => format!("http://{target}"),
    };
    let not_host_port = || Error::invalid_setting(format!("target {target:?} is not HOST:PORT"));
    let endpoint = Endpoint::from_shared(uri).map_err(|_| not_host_port())?;
    if !target.contains("://") && endpoint.uri().port().is_none() {
        return Err(not_host_port());
    }
    let tls = match (tls, endpoint.uri().scheme_str()) {
        (Some(tls), _) => tls.clone(),
        (None, Some("https")) => TlsSettings::default(),
        (None, _) => return Ok(endpoint),
    };
    if let Some(pem) = &tls.ca_pem {
        require_pem(pem, "CERTIFICATE", "the CA certificates")?;
    }
    if let Some((cert, key)) = &tls.identity {
        require_pem(cert, "CERTIFICATE", "the client certificate")?;
        require_pem(key, "PRIVATE KEY", "the client certificate's key")?;
    }
    let mut config = ClientTlsConfig::new();
    config = match tls.ca_pem {
        Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
        None => config.with_native_roots(),
    };
    if let Some((cert, key)) = tls.identity {
        config = config.identity(Identity::from_pem(cert, key));
    }
    if let Some(name) = tls.domain_name {
        config = config.domain_name(name);
    }
    endpoint
        .tls_config(config)
        .map_err(|error| Error::invalid_setting(format!("TLS settings refused: {error}")))
}

/// Refuses a PEM without a `-----BEGIN ...<label>-----` block. tonic takes any bytes here and
/// finds nothing in them, so a wrong file would only show as a failed handshake much later.
fn require_pem(pem: &[u8], label: &str, what: &str) -> Result<(), Error> {
    let end = format!("{label}-----");
    let text = String::from_utf8_lossy(pem);
    let found = text
        .lines()
        .any(|line| line.starts_with("-----BEGIN ") && line.trim_end().ends_with(&end));
    if found {
        return Ok(());
    }
    Err(Error::invalid_setting(format!(
        "{what} must be PEM with a \"-----BEGIN ...{label}-----\" block, and the bytes given \
         have none: check which file was given"
    )))
}

fn token_header(token: &str) -> Result<AsciiMetadataValue, Error> {
    let printable = !token.is_empty() && token.bytes().all(|byte| byte.is_ascii_graphic());
    let value = printable
        .then(|| AsciiMetadataValue::try_from(format!("Bearer {token}")).ok())
        .flatten();
    // The message never shows the token.
    let mut value = value.ok_or_else(|| {
        Error::invalid_setting(
            "the token must be one or more printable ASCII characters without spaces \
             (check for a stray newline or quote around it)",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// What every call of a [`Client`] follows, as its builder set it.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) timeout: Duration,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) retry_for: Duration,
    pub(crate) batch_size: usize,
    pub(crate) max_stream_requests: usize,
}

/// A client of `median.v1.MedianService` (async, on tonic).
///
/// Cloning is cheap and shares the channel: clone it into each task. Every call that names a
/// session sends the `median-session-id` routing header, has a deadline, and fails with
/// [`Error`]. Ingest calls ([`Self::add_numbers`], [`Self::running_medians`]) resume by
/// themselves after a broken stream, exactly once: see the crate's documentation.
///
/// ```no_run
/// # async fn example() -> Result<(), median_client::Error> {
/// let client = median_client::Client::builder("127.0.0.1:50051").connect().await?;
/// let session = client.create_session().await?;
/// client.add_numbers(&session, [3.0, 1.0, 2.0]).await?;
/// assert_eq!(client.get_median(&session).await?.median, 2.0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    stub: Stub,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What an [`Client::add_numbers`] call did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Added {
    /// Numbers this call added to the session: every number given, each exactly once, across
    /// resumes.
    pub added_count: i64,
    /// Numbers in the session after the call's last request.
    pub number_count: i64,
    /// The session's median then; `None` exactly when `number_count` is 0.
    pub median: Option<f64>,
    /// Requests the call sent (each with its own request id; resends not counted again).
    pub requests: u64,
    /// How many times the call resumed after a retryable failure.
    pub resumes: u32,
}

/// One answer of [`Client::running_medians`]: the session right after one request.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningMedian {
    /// The request this answers: `<writer>:<seq>`, seq counting from 1 in the order given.
    pub request_id: String,
    /// Numbers this request added; 0 when the server had already applied it before a resume.
    pub added_count: i64,
    /// Numbers in the session after this request.
    pub number_count: i64,
    /// The session's median then; `None` exactly when `number_count` is 0.
    pub median: Option<f64>,
    /// Whether this answer is to a resend (the first sending broke before its answer came).
    pub resent: bool,
}

impl std::fmt::Display for RunningMedian {
    /// `count=<n> median=<m>`, or `count=<n>` while the session is empty; `<m>` in the shortest
    /// form that parses back to the same double (Rust's `{:?}` of `f64`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.median {
            Some(median) => write!(f, "count={} median={median:?}", self.number_count),
            None => write!(f, "count={}", self.number_count),
        }
    }
}

/// A session's count and median, from [`Client::get_median`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Median {
    /// Numbers in the session, at least 1.
    pub number_count: i64,
    /// The median: the middle number, or the mean of the two middle numbers.
    pub median: f64,
}

/// One session of [`Client::list_sessions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub session_id: String,
    pub number_count: i64,
}

/// One page of [`Client::list_sessions_page`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPage {
    /// Sessions ordered by id.
    pub sessions: Vec<SessionSummary>,
    /// The token of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A session id checked to travel as metadata, and the routing header made of it.
pub(crate) struct Routing {
    pub(crate) session_id: String,
    header: AsciiMetadataValue,
}

impl Routing {
    fn new(session_id: &str) -> Result<Self, Error> {
        let header = session_id.parse().map_err(|_| {
            Error::invalid_setting(format!(
                "session id {session_id:?} cannot be sent as metadata; use 1 to 128 characters of [A-Za-z0-9._-]"
            ))
        })?;
        Ok(Routing {
            session_id: session_id.to_string(),
            header,
        })
    }

    /// A request carrying the routing header and, if given, a deadline.
    pub(crate) fn request<T>(&self, message: T, timeout: Option<Duration>) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert(SESSION_HEADER, self.header.clone());
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        request
    }
}

impl Client {
    /// Settings for a client of the server at `target`: `HOST:PORT` (plaintext unless a TLS
    /// setting is given), or `http://HOST:PORT` / `https://HOST:PORT`.
    pub fn builder(target: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            target: target.into(),
            tls: None,
            token: None,
            connect_timeout: DEFAULT_TIMEOUT,
            settings: Settings {
                timeout: DEFAULT_TIMEOUT,
                stream_timeout: Some(DEFAULT_STREAM_TIMEOUT),
                retry_for: DEFAULT_RETRY_FOR,
                batch_size: DEFAULT_BATCH_SIZE,
                max_stream_requests: DEFAULT_MAX_STREAM_REQUESTS,
            },
        }
    }

    /// Makes a new, empty session with an id the client picks (128 random bits, URL-safe), so
    /// that the routing header names the session on this first call too; returns the id.
    /// Retried after a retryable failure for up to the client's `retry_for`, like
    /// [`Self::get_median`]; `ALREADY_EXISTS` on a retry means an earlier attempt made the
    /// session (nobody else can hold a 128-bit random id), so it counts as success.
    ///
    /// # Errors
    /// `RESOURCE_EXHAUSTED` when the server holds its most sessions; `UNAUTHENTICATED` without
    /// a valid token; the last retryable error when `retry_for` runs out.
    pub async fn create_session(&self) -> Result<String, Error> {
        self.create(&new_id()?, true).await
    }

    /// Makes a new, empty session named `session_id` (1 to 128 characters of
    /// `[A-Za-z0-9._-]`); returns the id. Retried like [`Self::create_session`], except that
    /// `ALREADY_EXISTS` is always an error, on a retry too: the client cannot tell whether an
    /// earlier attempt or someone else made a session of the caller's id.
    ///
    /// # Errors
    /// `ALREADY_EXISTS` if the id is taken, `INVALID_ARGUMENT` for a malformed id, and as
    /// [`Self::create_session`].
    pub async fn create_session_with_id(&self, session_id: &str) -> Result<String, Error> {
        self.create(session_id, false).await
    }

    /// `CreateSession` of `session_id`; `ours`: the client picked the id, so `ALREADY_EXISTS`
    /// on a retry is the session an earlier attempt made.
    async fn create(&self, session_id: &str, ours: bool) -> Result<String, Error> {
        let routing = Routing::new(session_id)?;
        let timeout = Some(self.settings.timeout);
        self.retrying(|mut stub, retry| {
            let message = CreateSessionRequest {
                session_id: routing.session_id.clone(),
            };
            let request = routing.request(message, timeout);
            let id = &routing.session_id;
            async move {
                match stub.create_session(request).await {
                    Ok(response) => Ok(response.into_inner().session_id),
                    Err(status) if retry && ours && status.code() == tonic::Code::AlreadyExists => {
                        Ok(id.clone())
                    }
                    Err(status) => Err(status),
                }
            }
        })
        .await
    }

    /// The session's count and median. A read: retried after a retryable failure for up to
    /// the client's `retry_for`.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown session, `FAILED_PRECONDITION` while it holds no numbers.
    pub async fn get_median(&self, session_id: &str) -> Result<Median, Error> {
        let routing = Routing::new(session_id)?;
        let timeout = Some(self.settings.timeout);
        let response = self
            .retrying(|mut stub, _| {
                let message = GetMedianRequest {
                    session_id: routing.session_id.clone(),
                };
                let request = routing.request(message, timeout);
                async move { stub.get_median(request).await }
            })
            .await?
            .into_inner();
        Ok(Median {
            number_count: response.number_count,
            median: response.median,
        })
    }

    /// Removes the session and its numbers. Not retried (a resend after a lost answer would
    /// say `NOT_FOUND`).
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown session.
    pub async fn delete_session(&self, session_id: &str) -> Result<(), Error> {
        let routing = Routing::new(session_id)?;
        let message = DeleteSessionRequest {
            session_id: routing.session_id.clone(),
        };
        self.stub()
            .delete_session(routing.request(message, Some(self.settings.timeout)))
            .await?;
        Ok(())
    }

    /// One page of the caller's sessions: `page_size` 0 is the server's default (100), at most
    /// 1,000; `page_token` is "" for the first page, then the previous page's
    /// `next_page_token`. Retried like [`Self::get_median`].
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a negative size or a token the server did not issue.
    pub async fn list_sessions_page(
        &self,
        page_size: i32,
        page_token: &str,
    ) -> Result<SessionPage, Error> {
        let timeout = self.settings.timeout;
        let page = self
            .retrying(|mut stub, _| {
                let mut request = Request::new(ListSessionsRequest {
                    page_size,
                    page_token: page_token.to_string(),
                });
                request.set_timeout(timeout);
                async move { stub.list_sessions(request).await }
            })
            .await?
            .into_inner();
        let sessions = page.sessions.into_iter().map(|session| SessionSummary {
            session_id: session.session_id,
            number_count: session.number_count,
        });
        Ok(SessionPage {
            sessions: sessions.collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// Every session of the caller, ordered by id, fetched `page_size` at a time as the stream
    /// is read. The stream ends after the last page, or after its first error.
    pub fn list_sessions(
        &self,
        page_size: i32,
    ) -> impl Stream<Item = Result<SessionSummary, Error>> + Send + 'static {
        struct Pages {
            client: Client,
            buffered: VecDeque<SessionSummary>,
            next_token: Option<String>,
        }
        let start = Pages {
            client: self.clone(),
            buffered: VecDeque::new(),
            next_token: Some(String::new()),
        };
        futures_util::stream::unfold(start, move |mut pages| async move {
            loop {
                if let Some(session) = pages.buffered.pop_front() {
                    return Some((Ok(session), pages));
                }
                let token = pages.next_token.take()?;
                match pages.client.list_sessions_page(page_size, &token).await {
                    Ok(page) => {
                        pages.buffered.extend(page.sessions);
                        pages.next_token =
                            Some(page.next_page_token).filter(|token| !token.is_empty());
                    }
                    Err(error) => return Some((Err(error), pages)),
                }
            }
        })
    }

    /// Adds `numbers` to the session, read lazily in requests of the client's `batch_size`
    /// (no numbers: one empty request), on `AddNumbers` streams of at most
    /// `max_stream_requests` requests each. Resumes by itself, exactly once (see the crate's
    /// documentation).
    ///
    /// # Errors
    /// A refusal ends the call at once (`INVALID_ARGUMENT` for a NaN or infinity, with a
    /// `BadRequest` naming `numbers[<i>]`; `NOT_FOUND`; `RESOURCE_EXHAUSTED`...): the requests
    /// before the refused one stay applied, the refused one and those after it are not.
    /// `DEADLINE_EXCEEDED` when the call's deadline runs out; the last retryable error when
    /// `retry_for` runs out.
    pub async fn add_numbers<I>(&self, session_id: &str, numbers: I) -> Result<Added, Error>
    where
        I: IntoIterator<Item = f64>,
    {
        self.add_numbers_stream(session_id, tokio_stream::iter(numbers))
            .await
    }

    /// [`Self::add_numbers`] for numbers that arrive as a [`Stream`]: a request is sent when it
    /// holds `batch_size` numbers or the stream ends.
    pub async fn add_numbers_stream<S>(&self, session_id: &str, numbers: S) -> Result<Added, Error>
    where
        S: Stream<Item = f64>,
    {
        let routing = Routing::new(session_id)?;
        let batches = Batched::new(Box::pin(numbers), self.settings.batch_size);
        ingest::add_numbers(self.stub(), &routing, &self.settings, batches).await
    }

    /// Sends each batch as one `RunningMedian` request and yields one answer per request, in
    /// order, each exactly once across resumes. The call runs on a task of its own (spawned on
    /// the current Tokio runtime) as the stream is read; dropping the stream cancels it (what
    /// the server had applied stays applied).
    ///
    /// The stream ends after the last answer, or after an error, as [`Self::add_numbers`]
    /// describes. At most `max_stream_requests` requests are outstanding at a time.
    pub fn running_medians<I>(
        &self,
        session_id: &str,
        batches: I,
    ) -> impl Stream<Item = Result<RunningMedian, Error>> + Send + Unpin + 'static
    where
        I: IntoIterator<Item = Vec<f64>>,
        I::IntoIter: Send + 'static,
    {
        self.running_medians_stream(session_id, tokio_stream::iter(batches))
    }

    /// [`Self::running_medians`] for batches that arrive as a [`Stream`].
    pub fn running_medians_stream<S>(
        &self,
        session_id: &str,
        batches: S,
    ) -> impl Stream<Item = Result<RunningMedian, Error>> + Send + Unpin + 'static
    where
        S: Stream<Item = Vec<f64>> + Send + 'static,
    {
        let (answers, receiver) = mpsc::channel(16);
        match Routing::new(session_id) {
            Err(error) => {
                // Capacity 16: the one error always fits.
                let _ = answers.try_send(Err(error));
            }
            Ok(routing) => {
                let stub = self.stub();
                let settings = self.settings.clone();
                tokio::spawn(async move {
                    let batches = Box::pin(batches);
                    ingest::running_medians(stub, routing, settings, batches, answers).await;
                });
            }
        }
        ReceiverStream::new(receiver)
    }

    fn stub(&self) -> Stub {
        self.stub.clone()
    }

    /// Runs one unary call, `attempt(stub, is_retry)`, again after each retryable failure, as
    /// the ingest calls resume: [`Resumer`]'s backoff, for up to the client's `retry_for`;
    /// a refusal, or the last retryable error once `retry_for` is spent, ends it.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut(Stub, bool) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut resumer = Resumer::new(self.settings.retry_for, None);
        let mut retry = false;
        loop {
            match attempt(self.stub(), retry).await {
                Ok(value) => return Ok(value),
                Err(status) => resumer.pause_after(status).await?,
            }
            retry = true;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_shows_neither_the_token_nor_the_private_key() {
        let builder = Client::builder("127.0.0.1:50051")
            .token("secret-token-0123")
            .tls_client_identity("CERT-PEM", "KEY-PEM-SECRET");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("secret-token-0123"), "{shown}");
        assert!(!shown.contains("KEY-PEM-SECRET"), "{shown}");
        assert!(shown.contains("127.0.0.1:50051"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    use super::*;

    #[test]
    fn targets_take_a_scheme_from_the_tls_settings() {
        let plain = endpoint("127.0.0.1:1", None).unwrap();
        assert_eq!(plain.uri().to_string(), "http://127.0.0.1:1/");
        let tls = TlsSettings::default();
        let secure = endpoint("localhost:1", Some(&tls)).unwrap();
        assert_eq!(secure.uri().to_string(), "https://localhost:1/");
        for bad in ["ftp://h:1", "h:1 x", "", "127.0.0.1"] {
            let error = endpoint(bad, None).unwrap_err();
            assert_eq!(error.code(), tonic::Code::InvalidArgument, "{bad}");
        }
        let error = endpoint("http://h:1", Some(&tls)).unwrap_err();
        assert!(error.message().contains("https://"), "{error}");
    }

    #[test]
    fn tls_files_that_are_not_pem_are_refused_before_connecting() {
        let certificate = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let key = b"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n";
        let settings = |ca: &[u8], cert: &[u8], key: &[u8]| TlsSettings {
            ca_pem: Some(ca.to_vec()),
            identity: Some((cert.to_vec(), key.to_vec())),
            domain_name: None,
        };
        // (Well-formed files pass this check: the live TLS tests use real ones.)
        for (ca, cert, key, what) in [
            (
                &b"localhost\n"[..],
                &certificate[..],
                &key[..],
                "the CA certificates",
            ),
            (certificate, key, key, "the client certificate"),
            (
                certificate,
                certificate,
                certificate,
                "the client certificate's key",
            ),
        ] {
            let error = endpoint("h:1", Some(&settings(ca, cert, key))).unwrap_err();
            assert_eq!(error.code(), tonic::Code::InvalidArgument);
            assert!(error.message().starts_with(what), "{error}");
        }
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
        assert!(token_header("0123456789abcdef").is_ok());
        for bad in ["", "two words", "secret\n", "é"] {
            let error = token_header(bad).unwrap_err();
            assert_eq!(error.code(), tonic::Code::InvalidArgument);
            assert!(bad.is_empty() || !error.message().contains(bad));
        }
    }

    #[test]
    fn running_medians_print_as_the_command_line_does() {
        let mut answer = RunningMedian {
            request_id: "w:1".into(),
            added_count: 2,
            number_count: 2,
            median: Some(1.5),
            resent: false,
        };
        assert_eq!(answer.to_string(), "count=2 median=1.5");
        answer.median = Some(2.0);
        assert_eq!(answer.to_string(), "count=2 median=2.0");
        answer.number_count = 0;
        answer.median = None;
        assert_eq!(answer.to_string(), "count=0");
    }
}
