//! Exactly-once ingest: request ids `<writer>:<seq>`, the requests not yet acknowledged, and
//! resuming a broken stream by resending exactly those, in order, with the same ids.
//!
//! gRPC's own retry policy (and tonic, which has none for streams) cannot do this: it replays
//! a call only before any answer arrived and knows nothing of request ids. So the resume is
//! written here, after the convention every client of this repository follows (a new writer
//! id per call, `seq` from 1, backoff from about 100 ms to about 2 s with jitter).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use crate::client::{Added, Routing, RunningMedian, Settings, Stub};
use crate::error::{Error, is_retryable};
use crate::ids::{new_id, random_fraction};
use crate::proto::{AddNumbersRequest, AddNumbersResponse, RunningMedianRequest};

/// Requests a stream may have queued towards the transport ahead of the network.
const QUEUE_DEPTH: usize = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Numbers cut into batches of at most `size`, in order; a stream of no numbers is one empty
/// batch, so that a call with nothing to add still names its session and learns its count.
pub(crate) struct Batched<S> {
    numbers: Pin<Box<S>>,
    size: usize,
    batch: Vec<f64>,
    done: bool,
    yielded: bool,
}

impl<S> Batched<S> {
    pub(crate) fn new(numbers: Pin<Box<S>>, size: usize) -> Self {
        Batched {
            numbers,
            size,
            batch: Vec::new(),
            done: false,
            yielded: false,
        }
    }
}

impl<S: Stream<Item = f64>> Stream for Batched<S> {
    type Item = Vec<f64>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<f64>>> {
        let this = self.get_mut();
        while !this.done {
            match this.numbers.as_mut().poll_next(cx) {
                Poll::Ready(Some(number)) => {
                    this.batch.push(number);
                    if this.batch.len() == this.size {
                        this.yielded = true;
                        return Poll::Ready(Some(std::mem::take(&mut this.batch)));
                    }
                }
                Poll::Ready(None) => {
                    this.done = true;
                    if !this.batch.is_empty() || !this.yielded {
                        this.yielded = true;
                        return Poll::Ready(Some(std::mem::take(&mut this.batch)));
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(None)
    }
}

/// One request not yet acknowledged.
struct Pending {
    seq: u64,
    numbers: Vec<f64>,
    /// How many streams this request has been handed to; more than 1 makes it a resend.
    sendings: u32,
}

/// The requests of one ingest call: where they come from, which the server has not
/// acknowledged yet, and how many of those the current stream has carried.
struct Outbox<B> {
    writer: String,
    session_id: String,
    batches: B,
    batches_done: bool,
    next_seq: u64,
    unacked: VecDeque<Pending>,
    /// How many of `unacked` (from the front) the current stream has been given.
    sent: usize,
    /// How many requests the current stream has been given in all.
    carried: usize,
}

impl<B: Stream<Item = Vec<f64>> + Unpin> Outbox<B> {
    fn new(session_id: &str, batches: B) -> Result<Self, Error> {
        Ok(Outbox {
            writer: new_id()?,
            session_id: session_id.to_string(),
            batches,
            batches_done: false,
            next_seq: 1,
            unacked: VecDeque::new(),
            sent: 0,
            carried: 0,
        })
    }

    fn request_id(&self, seq: u64) -> String {
        format!("{}:{seq}", self.writer)
    }

    /// Takes the next batch from the source, or notes that there is none. Cancel-safe.
    async fn pull(&mut self) {
        match self.batches.next().await {
            Some(numbers) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.unacked.push_back(Pending {
                    seq,
                    numbers,
                    sendings: 0,
                });
            }
            None => self.batches_done = true,
        }
    }

    /// Starts over for a new stream: every unacknowledged request is to be sent again.
    fn new_stream(&mut self) {
        self.sent = 0;
        self.carried = 0;
    }

    /// The next request for the current stream, as its request id and numbers: the oldest one
    /// it has not carried yet (the caller has checked [`Self::has_unsent`]). Once the stream
    /// has carried more than its queue holds, the transport is taking its requests, which it
    /// does only once a connection is up and the stream open: the server is back, and that is
    /// progress.
    fn next_to_send(&mut self, resumer: &mut Resumer) -> (String, Vec<f64>) {
        self.unacked[self.sent].sendings += 1;
        let pending = &self.unacked[self.sent];
        let request = (self.request_id(pending.seq), pending.numbers.clone());
        self.sent += 1;
        self.carried += 1;
        if self.carried > QUEUE_DEPTH {
            resumer.progress();
        }
        request
    }

    fn has_unsent(&self) -> bool {
        self.sent < self.unacked.len()
    }
}

/// Whether a call may resume, and waiting before it does: exponential backoff with jitter,
/// bounded by the retry window (from the first failure since the server last acknowledged a
/// request or took a stream's requests) and by the call's deadline.
pub(crate) struct Resumer {
    retry_for: Duration,
    deadline: Option<Instant>,
    failing_since: Option<Instant>,
    failures: u32,
    resumes: u32,
}

impl Resumer {
    pub(crate) fn new(retry_for: Duration, deadline: Option<Instant>) -> Self {
        Resumer {
            retry_for,
            deadline,
            failing_since: None,
            failures: 0,
            resumes: 0,
        }
    }

    /// For an ingest call that starts now: the client's retry window, and the deadline of the
    /// whole call, resumes included.
    fn for_ingest(settings: &Settings) -> Self {
        let deadline = settings
            .stream_timeout
            .map(|timeout| Instant::now() + timeout);
        Resumer::new(settings.retry_for, deadline)
    }

    /// The server acknowledged something, or took a stream's requests: the next failure starts
    /// a new retry window.
    fn progress(&mut self) {
        self.failing_since = None;
        self.failures = 0;
    }

    /// After a failed attempt: `Ok` once it is time to try again, or the error to give up with
    /// (a refusal at once; the last status when the retry window is spent;
    /// `DEADLINE_EXCEEDED` when the deadline would pass first).
    pub(crate) async fn pause_after(&mut self, status: Status) -> Result<(), Error> {
        if !is_retryable(&status) || self.retry_for.is_zero() {
            return Err(status.into());
        }
        let now = Instant::now();
        let window_end = *self.failing_since.get_or_insert(now) + self.retry_for;
        if now >= window_end {
            return Err(status.into());
        }
        let delay = backoff(self.failures).min(window_end - now);
        if self
            .deadline
            .is_some_and(|deadline| now + delay >= deadline)
        {
            return Err(Error::deadline_while_resuming(&status));
        }
        self.failures += 1;
        self.resumes += 1;
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// What is left of the call's deadline, as the next attempt's timeout.
    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }
}

/// The wait before the attempt after `failures` failures in a row: 100 ms doubling up to 2 s,
/// each drawn uniformly from its upper half ("equal jitter").
fn backoff(failures: u32) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.min(5))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + random_fraction() / 2.0)
}

/// A queue the current stream's requests go through; `None` once the stream is half-closed.
type Queue<T> = Option<mpsc::Sender<T>>;

/// Room for one more request on the queue; never ready when the stream is half-closed, `None`
/// when the transport dropped the stream (the call then says why).
async fn reserve<T>(queue: &Queue<T>) -> Option<mpsc::Permit<'_, T>> {
    match queue {
        Some(queue) => queue.reserve().await.ok(),
        None => std::future::pending().await,
    }
}

/// The body of [`crate::Client::add_numbers`]: `AddNumbers` streams of at most
/// `max_stream_requests` requests, each resumed until the server answers it.
pub(crate) async fn add_numbers<B>(
    mut stub: Stub,
    routing: &Routing,
    settings: &Settings,
    batches: B,
) -> Result<Added, Error>
where
    B: Stream<Item = Vec<f64>> + Unpin,
{
    let mut outbox = Outbox::new(&routing.session_id, batches)?;
    let mut resumer = Resumer::for_ingest(settings);
    let mut added_count = 0i64;
    let mut last: Option<AddNumbersResponse> = None;
    loop {
        if outbox.unacked.is_empty() {
            // Starts a stream only for a request that exists: after the last stream, the
            // source may turn out to be empty.
            outbox.pull().await;
            if outbox.unacked.is_empty() {
                let last = last.expect("the first batch always exists");
                return Ok(Added {
                    added_count,
                    number_count: last.number_count,
                    median: last.median,
                    requests: outbox.next_seq - 1,
                    resumes: resumer.resumes,
                });
            }
        }
        let attempt = add_stream(&mut stub, routing, &mut outbox, &mut resumer, settings);
        match attempt.await {
            Ok(answer) => {
                resumer.progress();
                let numbers: usize = outbox.unacked.iter().map(|p| p.numbers.len()).sum();
                added_count += numbers as i64;
                outbox.unacked.clear();
                last = Some(answer);
            }
            Err(status) => resumer.pause_after(status).await?,
        }
    }
}

/// One `AddNumbers` stream: the unacknowledged requests again, then new ones until the stream
/// is full or the source ends; then half-close and wait for the one answer.
async fn add_stream<B>(
    stub: &mut Stub,
    routing: &Routing,
    outbox: &mut Outbox<B>,
    resumer: &mut Resumer,
    settings: &Settings,
) -> Result<AddNumbersResponse, Status>
where
    B: Stream<Item = Vec<f64>> + Unpin,
{
    let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
    let mut queue = Some(queue);
    outbox.new_stream();
    let timeout = resumer.remaining();
    let call = stub.add_numbers(routing.request(ReceiverStream::new(requests), timeout));
    tokio::pin!(call);
    let mut dropped = false;
    loop {
        let full = outbox.unacked.len() >= settings.max_stream_requests;
        if dropped || (!outbox.has_unsent() && (full || outbox.batches_done)) {
            queue = None; // half-close
        }
        let can_pull = queue.is_some() && !outbox.has_unsent() && !full && !outbox.batches_done;
        let can_send = queue.is_some() && outbox.has_unsent();
        tokio::select! {
            answer = &mut call => {
                let answer = answer?.into_inner();
                if queue.is_some() || outbox.has_unsent() {
                    return Err(Status::internal(
                        "the server answered AddNumbers before the stream ended",
                    ));
                }
                return Ok(answer);
            }
            () = outbox.pull(), if can_pull => {}
            permit = reserve(&queue), if can_send => match permit {
                Some(permit) => {
                    let (request_id, numbers) = outbox.next_to_send(resumer);
                    permit.send(AddNumbersRequest {
                        session_id: outbox.session_id.clone(),
                        numbers,
                        request_id,
                    });
                }
                // The transport dropped the stream; the call's answer says why.
                None => dropped = true,
            },
        }
    }
}

/// What ended a `RunningMedian` attempt without an error.
enum Ended {
    /// Every request was answered.
    Finished,
    /// Whoever reads the answers dropped them: stop, which cancels the call.
    Abandoned,
}

/// The body of [`crate::Client::running_medians`], on a task of its own: answers (and at most
/// one error, last) go to `answers`.
pub(crate) async fn running_medians<B>(
    mut stub: Stub,
    routing: Routing,
    settings: Arc<Settings>,
    batches: B,
    answers: mpsc::Sender<Result<RunningMedian, Error>>,
) where
    B: Stream<Item = Vec<f64>> + Unpin,
{
    let mut outbox = match Outbox::new(&routing.session_id, batches) {
        Ok(outbox) => outbox,
        Err(error) => {
            let _ = answers.send(Err(error)).await;
            return;
        }
    };
    let mut resumer = Resumer::for_ingest(&settings);
    loop {
        let attempt = running_stream(
            &mut stub,
            &routing,
            &mut outbox,
            &mut resumer,
            &settings,
            &answers,
        );
        let status = match attempt.await {
            Ok(Ended::Finished | Ended::Abandoned) => return,
            Err(status) => status,
        };
        tokio::select! {
            paused = resumer.pause_after(status) => if let Err(error) = paused {
                let _ = answers.send(Err(error)).await;
                return;
            },
            () = answers.closed() => return,
        }
    }
}

/// One `RunningMedian` stream: the unanswered requests again, then new ones (at most
/// `max_stream_requests` unanswered at a time), each answer passed on as it comes.
async fn running_stream<B>(
    stub: &mut Stub,
    routing: &Routing,
    outbox: &mut Outbox<B>,
    resumer: &mut Resumer,
    settings: &Settings,
    answers: &mpsc::Sender<Result<RunningMedian, Error>>,
) -> Result<Ended, Status>
where
    B: Stream<Item = Vec<f64>> + Unpin,
{
    let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
    let mut queue = Some(queue);
    outbox.new_stream();
    let timeout = resumer.remaining();
    let call = stub.running_median(routing.request(ReceiverStream::new(requests), timeout));
    tokio::pin!(call);
    let mut inbound = None;
    let mut dropped = false;
    loop {
        if dropped || (!outbox.has_unsent() && outbox.batches_done) {
            queue = None; // half-close
        }
        let full = outbox.unacked.len() >= settings.max_stream_requests;
        let can_pull = queue.is_some() && !outbox.has_unsent() && !full && !outbox.batches_done;
        let can_send = queue.is_some() && outbox.has_unsent();
        tokio::select! {
            response = &mut call, if inbound.is_none() => {
                inbound = Some(response?.into_inner());
            }
            message = next_message(&mut inbound), if inbound.is_some() => {
                let Some(answer) = message? else {
                    if outbox.unacked.is_empty() && outbox.batches_done {
                        return Ok(Ended::Finished);
                    }
                    return Err(Status::internal(format!(
                        "the server ended RunningMedian with {} requests unanswered",
                        outbox.unacked.len()
                    )));
                };
                if outbox.sent == 0 {
                    return Err(Status::internal("the server answered a request it was not sent"));
                }
                let pending = outbox.unacked.pop_front().expect("sent > 0");
                outbox.sent -= 1;
                resumer.progress();
                let answer = RunningMedian {
                    request_id: outbox.request_id(pending.seq),
                    added_count: answer.added_count,
                    number_count: answer.number_count,
                    median: answer.median,
                    resent: pending.sendings > 1,
                };
                if answers.send(Ok(answer)).await.is_err() {
                    return Ok(Ended::Abandoned);
                }
            }
            () = answers.closed() => return Ok(Ended::Abandoned),
            () = outbox.pull(), if can_pull => {}
            permit = reserve(&queue), if can_send => match permit {
                Some(permit) => {
                    let (request_id, numbers) = outbox.next_to_send(resumer);
                    permit.send(RunningMedianRequest {
                        session_id: outbox.session_id.clone(),
                        numbers,
                        request_id,
                    });
                }
                // The transport dropped the stream; the call's answer says why.
                None => dropped = true,
            },
        }
    }
}

/// The next answer of a stream whose headers have arrived; never ready before.
async fn next_message<T>(inbound: &mut Option<tonic::Streaming<T>>) -> Result<Option<T>, Status> {
    match inbound {
        Some(inbound) => inbound.message().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn batches_of(numbers: Vec<f64>, size: usize) -> Vec<Vec<f64>> {
        Batched::new(Box::pin(tokio_stream::iter(numbers)), size)
            .collect()
            .await
    }

    #[tokio::test]
    async fn batches_keep_input_order_and_no_numbers_is_one_empty_batch() {
        assert_eq!(batches_of(vec![], 3).await, vec![Vec::<f64>::new()]);
        assert_eq!(
            batches_of(vec![1.0, 2.0, 3.0, 4.0], 3).await,
            vec![vec![1.0, 2.0, 3.0], vec![4.0]]
        );
        assert_eq!(
            batches_of(vec![1.0, 2.0, 3.0], 3).await,
            vec![vec![1.0, 2.0, 3.0]]
        );
    }

    #[tokio::test]
    async fn a_request_is_a_resend_only_once_a_stream_has_carried_it_before() {
        let batches = tokio_stream::iter(vec![vec![1.0], vec![2.0]]);
        let mut outbox = Outbox::new("s", batches).unwrap();
        let mut resumer = Resumer::new(Duration::from_secs(30), None);
        outbox.pull().await;
        outbox.pull().await;
        outbox.next_to_send(&mut resumer); // the first stream carries request 1, then breaks
        outbox.new_stream();
        outbox.next_to_send(&mut resumer);
        outbox.next_to_send(&mut resumer);
        let sendings: Vec<u32> = outbox.unacked.iter().map(|p| p.sendings).collect();
        assert_eq!(
            sendings,
            vec![2, 1],
            "request 2 was pulled but never sent before"
        );
    }

    #[test]
    fn backoff_doubles_from_about_100_ms_up_to_about_2_s() {
        for failures in 0..40 {
            let ceiling = Duration::from_millis(100 << failures.min(5)).min(MAX_BACKOFF);
            let wait = backoff(failures);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{failures}: {wait:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_refusal_is_never_retried_and_the_window_ends_with_the_last_error() {
        let mut resumer = Resumer::new(Duration::from_secs(1), None);
        let refusal = resumer.pause_after(Status::invalid_argument("NaN")).await;
        assert_eq!(refusal.unwrap_err().code(), tonic::Code::InvalidArgument);

        let started = Instant::now();
        let mut tries = 0;
        let last = loop {
            match resumer
                .pause_after(Status::unavailable(format!("down {tries}")))
                .await
            {
                Ok(()) => tries += 1,
                Err(error) => break error,
            }
        };
        assert_eq!(last.code(), tonic::Code::Unavailable);
        assert_eq!(last.message(), format!("down {tries}"));
        // 50-100, 100-200, 200-400, 400-800 ms, then whatever is left of the second.
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!((3..=6).contains(&tries), "{tries}");

        // An acknowledgement opens a new window.
        resumer.progress();
        assert!(
            resumer
                .pause_after(Status::unavailable("again"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn resuming_stops_with_deadline_exceeded_when_the_deadline_comes_first() {
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut resumer = Resumer::new(Duration::from_secs(30), Some(deadline));
        let error = loop {
            if let Err(error) = resumer.pause_after(Status::unavailable("down")).await {
                break error;
            }
        };
        assert_eq!(error.code(), tonic::Code::DeadlineExceeded);
        assert!(error.message().contains("UNAVAILABLE: down"), "{error}");
        assert!(Instant::now() <= deadline);
    }

    #[tokio::test]
    async fn zero_retry_time_turns_resuming_off() {
        let mut resumer = Resumer::new(Duration::ZERO, None);
        let error = resumer
            .pause_after(Status::unavailable("down"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), tonic::Code::Unavailable);
    }
}
