//! A client library of `median.v1.MedianService`, the running-median service, on tonic.
//!
//! ```no_run
//! use median_client::{Client, Code};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), median_client::Error> {
//!     let client = Client::builder("127.0.0.1:50051").connect().await?;
//!     let session = client.create_session().await?;
//!     client.add_numbers(&session, [3.0, 1.0, 2.0, 10.0]).await?;
//!     let median = client.get_median(&session).await?;
//!     println!("count={} median={:?}", median.number_count, median.median);
//!     client.delete_session(&session).await?;
//!     let gone = client.get_median(&session).await.unwrap_err();
//!     assert_eq!(gone.code(), Code::NotFound);
//!     Ok(())
//! }
//! ```
//!
//! # Exactly-once ingest
//! [`Client::add_numbers`] and [`Client::running_medians`] never lose an acknowledged number and
//! never count one twice, across a broken stream, a server restarted on its data folder, or a
//! shard briefly `UNAVAILABLE` behind a proxy:
//! - each call is a *writer* with a new id (128 random bits, base64url), and its requests carry
//!   the request ids `<writer>:1`, `<writer>:2`, ... in the order sent;
//! - a `RunningMedian` answer acknowledges its request; an `AddNumbers` stream acknowledges
//!   nothing until its one answer, so the client closes such a stream every
//!   [`ClientBuilder::max_stream_requests`] requests to bound what it keeps for a resend;
//! - after a retryable failure (`UNAVAILABLE`, or a connection or stream broken under the call,
//!   which tonic reports as a transport error) the client waits (exponential backoff with
//!   jitter, about 100 ms doubling to about 2 s), opens a new stream of the same kind and
//!   resends, in order and with the same ids, exactly the requests it has no answer for; the
//!   server answers an id it has applied without applying it again;
//! - a refusal (`INVALID_ARGUMENT`, `NOT_FOUND`, `RESOURCE_EXHAUSTED`, `UNAUTHENTICATED`,
//!   `PERMISSION_DENIED`, `FAILED_PRECONDITION`, ...) is never retried: the call fails with it,
//!   the requests before the refused one stay applied;
//! - resuming goes on for [`ClientBuilder::retry_for`] (default 30 s) from the first failure
//!   since the last acknowledgement, then the call fails with the last error (`UNAVAILABLE` or
//!   the broken stream's); the whole call, resumes included, has the deadline
//!   [`ClientBuilder::stream_timeout`] (default 600 s), after which it fails with
//!   `DEADLINE_EXCEEDED`. A call that failed may have applied some of its requests (those
//!   acknowledged, and perhaps some not yet acknowledged): [`Client::get_median`] tells.
//!
//! Only the ingest calls resume. [`Client::get_median`] and [`Client::list_sessions_page`] are
//! reads and are simply retried the same way; `CreateSession` and `DeleteSession` are not
//! retried, since a resend after a lost answer would report `ALREADY_EXISTS` or `NOT_FOUND`.

mod client;
mod error;
mod ids;
mod ingest;

/// The messages and the generated tonic client of `median.v1`, from
/// `protos/median/v1/median.proto`, for what the [`Client`] does not wrap.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("median.v1");
}

pub use client::{
    Added, Client, ClientBuilder, DEFAULT_BATCH_SIZE, DEFAULT_MAX_STREAM_REQUESTS,
    DEFAULT_PAGE_SIZE, DEFAULT_RETRY_FOR, DEFAULT_STREAM_TIMEOUT, DEFAULT_TIMEOUT, Median,
    RunningMedian, SESSION_HEADER, SessionPage, SessionSummary,
};
pub use error::{Error, code_name};
pub use ids::new_id;
/// The gRPC status codes, as [`Error::code`] gives them.
pub use tonic::Code;
/// The `google.rpc` detail types that [`Error`] decodes.
pub use tonic_types::{BadRequest, ErrorDetails, ErrorInfo, FieldViolation, QuotaFailure, QuotaViolation};
