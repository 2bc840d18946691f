//! The one error type of the library: a gRPC status code, its message and the decoded
//! `google.rpc` details, plus whether a resume may retry it.

use std::error::Error as _;
use std::fmt;

use tonic::{Code, Status, TimeoutExpired};
use tonic_types::{BadRequest, ErrorDetails, ErrorInfo, QuotaFailure, StatusExt};

/// A failed call (or a client that could not be set up): the status code, the message and the
/// `google.rpc` details the server sent in `grpc-status-details-bin`.
///
/// `Display` is `CODE_NAME: message`, e.g. `NOT_FOUND: session "x" does not exist`. Details are
/// decoded with `tonic_types::StatusExt` (the standard `google.rpc.Status` encoding); undecodable
/// details are left out. A setting the builder refuses (bad target, PEM, token) is
/// `INVALID_ARGUMENT` before anything is sent; a client-side deadline that ran out is
/// `DEADLINE_EXCEEDED`; a connection that broke under the call (refused by a TLS-only port,
/// closed by a server that died), which tonic calls `UNKNOWN`, is `UNAVAILABLE`, as every
/// other gRPC library calls it. `source()` is the `tonic::Status` the call ended with, if any,
/// with tonic's own code.
#[derive(Debug)]
pub struct Error(Box<Inner>); // boxed: a `Result` stays small on the happy path

#[derive(Debug)]
struct Inner {
    code: Code,
    message: String,
    details: ErrorDetails,
    status: Option<Status>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", code_name(self.0.code), self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.status.as_ref().map(|status| status as _)
    }
}

impl Error {
    fn new(code: Code, message: String, details: ErrorDetails, status: Option<Status>) -> Self {
        Error(Box::new(Inner {
            code,
            message,
            details,
            status,
        }))
    }

    /// The gRPC status code, e.g. `Code::NotFound`.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The message: the server's, or what went wrong on the client's side.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Every decoded `google.rpc` detail (empty when the server sent none).
    pub fn details(&self) -> &ErrorDetails {
        &self.0.details
    }

    /// The `google.rpc.BadRequest` detail: one field violation per refused field.
    pub fn bad_request(&self) -> Option<&BadRequest> {
        self.0.details.bad_request()
    }

    /// The `google.rpc.QuotaFailure` detail: which limit was hit.
    pub fn quota_failure(&self) -> Option<&QuotaFailure> {
        self.0.details.quota_failure()
    }

    /// The `google.rpc.ErrorInfo` detail: a machine-readable reason and its domain.
    pub fn error_info(&self) -> Option<&ErrorInfo> {
        self.0.details.error_info()
    }

    /// The status the call ended with, when there was a call (`None` for a refused setting).
    pub fn status(&self) -> Option<&Status> {
        self.0.status.as_ref()
    }

    /// The status code's name as gRPC spells it everywhere: `INVALID_ARGUMENT`, `NOT_FOUND`...
    pub fn code_name(&self) -> &'static str {
        code_name(self.0.code)
    }

    /// One line per detail, in the command-line clients' form: `BadRequest <field>:
    /// <description>`, `QuotaFailure <subject>: <description>`, `ErrorInfo <reason> <domain>`.
    pub fn detail_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(bad_request) = self.bad_request() {
            for violation in &bad_request.field_violations {
                let (field, description) = (&violation.field, &violation.description);
                lines.push(format!("BadRequest {field}: {description}"));
            }
        }
        if let Some(quota_failure) = self.quota_failure() {
            for violation in &quota_failure.violations {
                let (subject, description) = (&violation.subject, &violation.description);
                lines.push(format!("QuotaFailure {subject}: {description}"));
            }
        }
        if let Some(info) = self.error_info() {
            lines.push(format!("ErrorInfo {} {}", info.reason, info.domain));
        }
        lines
    }

    /// A setting the client refuses before sending anything (`INVALID_ARGUMENT`).
    pub(crate) fn invalid_setting(message: impl Into<String>) -> Self {
        Error::local(Code::InvalidArgument, message)
    }

    /// An error found on the client's side, without a call or details.
    pub(crate) fn local(code: Code, message: impl Into<String>) -> Self {
        Error::new(code, message.into(), ErrorDetails::new(), None)
    }

    /// The client gave up resuming because the call's deadline would pass first.
    pub(crate) fn deadline_while_resuming(last: &Status) -> Self {
        let last = Error::from(last.clone());
        let message = format!("the call's deadline ran out while resuming after {last}");
        Error::local(Code::DeadlineExceeded, message)
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        // tonic reports its own client-side deadline as CANCELLED caused by `TimeoutExpired`,
        // and a broken connection (a plaintext client at a TLS-only port, a server killed
        // mid-stream) as UNKNOWN; every other gRPC library calls those DEADLINE_EXCEEDED and
        // UNAVAILABLE. A stream the peer reset keeps tonic's code: the others take theirs from
        // the RST_STREAM reason (INTERNAL for a proxy's INTERNAL_ERROR), not UNAVAILABLE.
        let (code, message) = if caused_by::<TimeoutExpired>(&status) {
            let message = "the call's deadline ran out before the server answered".to_string();
            (Code::DeadlineExceeded, message)
        } else if status.code() == Code::Unknown
            && broke_under_the_call(&status)
            && !reset_by_peer(&status)
        {
            (Code::Unavailable, transport_message(&status))
        } else {
            (status.code(), transport_message(&status))
        };
        Error::new(code, message, status.get_error_details(), Some(status))
    }
}

/// Whether a failed stream may be resumed: `UNAVAILABLE` (a server that is down, draining or
/// restarting), or a connection or stream broken under the call. tonic reports the latter as a
/// status made on the client (it has a `source`: hyper's, h2's or an I/O error) with
/// `UNKNOWN`, `INTERNAL` or `CANCELLED`. A status the server sent has no source: it is a
/// refusal and is never retried; neither is a client-side deadline, nor a failed TLS handshake
/// (tonic says `UNAVAILABLE`, but a certificate that does not verify stays so).
pub(crate) fn is_retryable(status: &Status) -> bool {
    if tls_handshake_failed(status) {
        return false;
    }
    match status.code() {
        Code::Unavailable => true,
        Code::Unknown | Code::Internal | Code::Cancelled => broke_under_the_call(status),
        _ => false,
    }
}

/// Whether tonic made the status on the client for a connection or stream that broke under
/// the call: it has a local cause, and that cause is neither a client-side deadline nor a
/// failed TLS handshake. Says nothing of the code; the callers check that.
fn broke_under_the_call(status: &Status) -> bool {
    status.source().is_some()
        && !caused_by::<TimeoutExpired>(status)
        && !tls_handshake_failed(status)
}

/// Whether the peer ended the stream with RST_STREAM (a proxy whose backend died, say), as
/// opposed to a connection that closed or broke under it.
fn reset_by_peer(status: &Status) -> bool {
    causes(status)
        .find_map(|error| error.downcast_ref::<h2::Error>())
        .is_some_and(|error| error.is_reset() && error.is_remote())
}

/// Whether rustls refused the handshake (or the peer's TLS): tokio-rustls reports that as an
/// I/O error wrapping a `rustls::Error`, which `source()` skips over, hence `get_ref`.
fn tls_handshake_failed(status: &Status) -> bool {
    causes(status).any(|error| {
        let wrapped = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        error.is::<rustls::Error>() || wrapped.is_some_and(|inner| inner.is::<rustls::Error>())
    })
}

fn caused_by<E: std::error::Error + 'static>(status: &Status) -> bool {
    causes(status).any(|error| error.is::<E>())
}

/// The errors under a status, the nearest first: none for a status the server sent.
fn causes(status: &Status) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(status.source(), |&error| error.source())
}

/// The status's message, followed by its causes when the status was made on the client (a
/// connection error's own message is often just "transport error").
fn transport_message(status: &Status) -> String {
    let mut message = status.message().replace(['\r', '\n'], " ");
    for part in causes(status).map(ToString::to_string) {
        // Some wrappers repeat their source's text; say each part once.
        if !message.contains(&part) {
            message = format!("{message}: {part}");
        }
    }
    message
}

/// The code's name as gRPC spells it everywhere (`Code`'s Debug form is `InvalidArgument`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    #[test]
    fn code_names_are_grpc_spellings() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::Unavailable), "UNAVAILABLE");
    }

    #[test]
    fn details_are_decoded_from_the_status_and_printed_one_per_line() {
        let mut details = ErrorDetails::with_bad_request_violation("numbers[1]", "NaN");
        details.add_quota_failure_violation("--max-sessions", "limit 3");
        details.set_error_info("MAX_SESSIONS", "median.v1", []);
        let status = Status::with_error_details(Code::InvalidArgument, "bad", details);
        let error = Error::from(status);
        assert_eq!(error.to_string(), "INVALID_ARGUMENT: bad");
        assert_eq!(
            error.detail_lines(),
            [
                "BadRequest numbers[1]: NaN",
                "QuotaFailure --max-sessions: limit 3",
                "ErrorInfo MAX_SESSIONS median.v1",
            ]
        );
    }

    #[test]
    fn statuses_sent_by_a_server_are_never_retried_except_unavailable() {
        assert!(is_retryable(&Status::unavailable("draining")));
        for code in [
            Code::Unknown,
            Code::Internal,
            Code::Cancelled,
            Code::InvalidArgument,
            Code::NotFound,
            Code::ResourceExhausted,
            Code::Unauthenticated,
            Code::DeadlineExceeded,
        ] {
            assert!(
                !is_retryable(&Status::new(code, "from the server")),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_broken_connection_is_retried_but_a_failed_handshake_or_a_deadline_is_not() {
        let broken = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let status = Status::from_error(Box::new(broken));
        assert_eq!(status.code(), Code::Unknown);
        assert!(is_retryable(&status));

        let unknown_issuer =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let handshake = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown_issuer);
        let status = Status::from_error(Box::new(tonic::ConnectError(Box::new(handshake))));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            !is_retryable(&status),
            "a certificate that does not verify stays so"
        );

        let timeout = Status::from_error(Box::new(TimeoutExpired(())));
        assert!(!is_retryable(&timeout));
        assert_eq!(Error::from(timeout).code(), Code::DeadlineExceeded);
    }

    #[test]
    fn a_broken_connection_is_reported_unavailable_and_retried_as_before() {
        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        let status = Status::from_error(Box::new(broken));
        assert_eq!(status.code(), Code::Unknown);
        let error = Error::from(status.clone());
        assert_eq!(error.code(), Code::Unavailable);
        assert_eq!(error.message(), transport_message(&status));
        assert_eq!(error.to_string(), "UNAVAILABLE: broken pipe");
        assert_eq!(error.status().map(Status::code), Some(Code::Unknown));
        assert!(is_retryable(error.status().unwrap()));

        // The same cause under INTERNAL or CANCELLED keeps its code; so does a server's UNKNOWN.
        for code in [Code::Internal, Code::Cancelled] {
            let mut status = Status::new(code, "made on the client");
            let cause = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
            status.set_source(std::sync::Arc::new(cause));
            assert!(is_retryable(&status), "{code:?}");
            assert_eq!(Error::from(status).code(), code);
        }
        let from_the_server = Status::unknown("the handler raised");
        assert_eq!(Error::from(from_the_server).code(), Code::Unknown);
    }

    #[test]
    fn a_failed_tls_handshake_keeps_its_code() {
        let tls = || {
            let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
            std::io::Error::new(std::io::ErrorKind::InvalidData, alert)
        };
        let during_the_call = Status::from_error(Box::new(tls()));
        assert_eq!(during_the_call.code(), Code::Unknown);
        assert_eq!(Error::from(during_the_call).code(), Code::Unknown);
        let connecting = Status::from_error(Box::new(tonic::ConnectError(Box::new(tls()))));
        assert_eq!(Error::from(connecting).code(), Code::Unavailable);
    }

    /// How a RunningMedian stream ends on a real HTTP/2 connection whose peer (a loopback h2
    /// server playing Envoy) answers once and then either resets the stream with
    /// RST_STREAM(INTERNAL_ERROR), as Envoy does when the shard behind it dies, or ends it
    /// with `grpc-status: 13` in its trailers, a server's own INTERNAL.
    async fn status_after_one_answer(reset: bool) -> Status {
        use crate::proto::{RunningMedianRequest, median_service_client::MedianServiceClient};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // The peer ends the stream only once the client has read the answer: a reset that
        // comes with the headers fails the call itself (also UNKNOWN with a source).
        let (answered, answer_read) = tokio::sync::oneshot::channel::<()>();
        let peer = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut connection = h2::server::handshake(socket).await.unwrap();
            let (_request, mut respond) = connection.accept().await.unwrap().unwrap();
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            let mut stream = respond.send_response(response, false).unwrap();
            // One gRPC message: not compressed, 0 bytes long (a default RunningMedianResponse).
            let answer = bytes::Bytes::from_static(&[0, 0, 0, 0, 0]);
            stream.send_data(answer, false).unwrap();
            let drive = async { while connection.accept().await.is_some() {} };
            tokio::select! {
                _ = answer_read => {}
                _ = drive => panic!("the client went away before reading the answer"),
            }
            if reset {
                stream.send_reset(h2::Reason::INTERNAL_ERROR);
            } else {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", "13".parse().unwrap());
                trailers.insert("grpc-message", "a bug".parse().unwrap());
                stream.send_trailers(trailers).unwrap();
            }
            // Drive the connection until the client closes it, so the frames go out.
            while connection.accept().await.is_some() {}
        });

        let mut client = MedianServiceClient::connect(format!("http://{address}"))
            .await
            .unwrap();
        let request = RunningMedianRequest {
            session_id: "s".into(),
            ..Default::default()
        };
        let mut answers = client
            .running_median(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        assert!(answers.message().await.unwrap().is_some(), "the one answer");
        answered.send(()).unwrap();
        let status = answers.message().await.unwrap_err();
        drop((answers, client));
        peer.await.unwrap();
        status
    }

    #[tokio::test]
    async fn a_stream_reset_by_a_proxy_is_retried_but_an_internal_in_trailers_is_not() {
        // tonic (with its `server` feature off, as here) maps hyper's body error to UNKNOWN and
        // keeps it as the source; the h2 error under it is the peer's RST_STREAM.
        let reset = status_after_one_answer(true).await;
        assert_eq!(reset.code(), Code::Unknown, "{reset:?}");
        let h2_error = causes(&reset)
            .find_map(|error| error.downcast_ref::<h2::Error>())
            .unwrap_or_else(|| panic!("no h2::Error under {reset:?}"));
        assert!(h2_error.is_reset() && h2_error.is_remote(), "{h2_error:?}");
        assert_eq!(h2_error.reason(), Some(h2::Reason::INTERNAL_ERROR));
        assert!(is_retryable(&reset));
        // Not a broken connection: tonic's code stays (the others map RST_STREAM's reason).
        assert_eq!(Error::from(reset.clone()).code(), Code::Unknown);

        let internal = status_after_one_answer(false).await;
        assert_eq!(internal.code(), Code::Internal, "{internal:?}");
        assert_eq!(internal.message(), "a bug");
        assert!(internal.source().is_none());
        assert!(!is_retryable(&internal));
    }
}
