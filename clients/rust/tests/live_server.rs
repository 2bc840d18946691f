//! The library against a real `median-server` on a loopback port: every RPC, the routing
//! header, error details, tokens, TLS and mutual TLS, and exactly-once resume across a server
//! that is SIGKILLed and restarted on its `--data-dir`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use median_client::{Client, Code, Error};
use support::{Certificates, Server, TOKEN, TempDir, free_port, numbers, reference_median};
use tokio_stream::StreamExt;

fn plain(server: &Server) -> Client {
    Client::builder(server.target()).connect_lazy().unwrap()
}

/// The one `BadRequest` field violation of an error, as `(field, description)`.
fn violation(error: &Error) -> (String, String) {
    let bad_request = error.bad_request().expect("a BadRequest detail");
    assert_eq!(bad_request.field_violations.len(), 1, "{error}");
    let violation = &bad_request.field_violations[0];
    (violation.field.clone(), violation.description.clone())
}

#[tokio::test]
async fn every_call_works_and_names_its_session_in_the_routing_header() {
    let server = Server::start(&["--log-level", "debug"]);
    let client = plain(&server);

    let session = client.create_session().await.unwrap();
    assert_eq!(session.len(), 22, "{session}");
    let added = client
        .add_numbers(&session, [3.0, 1.0, 2.0, 10.0])
        .await
        .unwrap();
    assert_eq!((added.added_count, added.number_count), (4, 4));
    assert_eq!(
        (added.median, added.requests, added.resumes),
        (Some(2.5), 1, 0)
    );

    let answers: Vec<_> = client
        .running_medians(&session, vec![vec![7.0], vec![], vec![-1.0, 0.5]])
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    let shown: Vec<String> = answers.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "count=5 median=3.0",
            "count=5 median=3.0",
            "count=7 median=2.0"
        ]
    );
    let added: Vec<i64> = answers.iter().map(|answer| answer.added_count).collect();
    assert_eq!(added, [1, 0, 2]);
    let writer = answers[0].request_id.split(':').next().unwrap().to_string();
    let ids: Vec<&str> = answers
        .iter()
        .map(|answer| answer.request_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            format!("{writer}:1"),
            format!("{writer}:2"),
            format!("{writer}:3")
        ]
    );

    let median = client.get_median(&session).await.unwrap();
    assert_eq!((median.number_count, median.median), (7, 2.0));
    client.delete_session(&session).await.unwrap();
    let gone = client.get_median(&session).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone}");

    let header = format!("median-session-id={session}");
    for method in [
        "CreateSession",
        "AddNumbers",
        "RunningMedian",
        "GetMedian",
        "DeleteSession",
    ] {
        let call = format!("/median.v1.MedianService/{method} ");
        assert!(
            server.logged(&[&call, &header]),
            "no {method} call with {header} in the server's log: {:#?}",
            server.log()
        );
    }
}

#[tokio::test]
async fn sessions_are_listed_across_pages_and_a_chosen_id_is_kept() {
    let server = Server::start(&[]);
    let client = plain(&server);
    let mut made = Vec::new();
    for name in ["list-a", "list-b", "list-c"] {
        made.push(client.create_session_with_id(name).await.unwrap());
    }
    assert_eq!(made, ["list-a", "list-b", "list-c"]);
    client.add_numbers("list-b", [1.0, 2.0]).await.unwrap();

    let first = client.list_sessions_page(2, "").await.unwrap();
    assert_eq!(first.sessions.len(), 2);
    assert!(!first.next_page_token.is_empty());

    let listed: Vec<_> = client
        .list_sessions(1)
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let listed: Vec<(String, i64)> = listed
        .into_iter()
        .map(|summary| (summary.session_id, summary.number_count))
        .collect();
    assert_eq!(
        listed,
        [
            ("list-a".into(), 0),
            ("list-b".into(), 2),
            ("list-c".into(), 0)
        ]
    );

    let taken = client.create_session_with_id("list-a").await.unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken}");
    let bad_token = client
        .list_sessions_page(1, "not-a-token")
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument, "{bad_token}");
}

#[tokio::test]
async fn a_nan_is_refused_with_its_field_and_the_requests_before_it_stay_applied_once() {
    let server = Server::start(&[]);
    let client = Client::builder(server.target())
        .batch_size(2)
        .connect_lazy()
        .unwrap();

    // In the first request.
    let session = client.create_session().await.unwrap();
    let error = client
        .add_numbers(&session, [1.0, f64::NAN])
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error}");
    let (field, _) = violation(&error);
    assert_eq!(field, "numbers[1]");
    assert_eq!(
        error.detail_lines()[0],
        format!("BadRequest numbers[1]: {}", violation(&error).1)
    );
    let empty = client.get_median(&session).await.unwrap_err();
    assert_eq!(empty.code(), Code::FailedPrecondition, "{empty}");

    // After two answered requests of a running stream: two answers, then the error, and the
    // refusal is not retried (the first two requests are in the session once).
    let batches = vec![vec![1.0], vec![2.0], vec![f64::NAN], vec![4.0]];
    let mut answers = client.running_medians(&session, batches);
    assert_eq!(
        answers.next().await.unwrap().unwrap().to_string(),
        "count=1 median=1.0"
    );
    assert_eq!(
        answers.next().await.unwrap().unwrap().to_string(),
        "count=2 median=1.5"
    );
    let error = answers.next().await.unwrap().unwrap_err();
    assert_eq!(
        (error.code(), violation(&error).0.as_str()),
        (Code::InvalidArgument, "numbers[0]")
    );
    assert!(
        answers.next().await.is_none(),
        "the stream ends after its error"
    );
    let median = client.get_median(&session).await.unwrap();
    assert_eq!((median.number_count, median.median), (2, 1.5));
}

#[tokio::test]
async fn a_limit_is_reported_with_quota_failure_and_error_info() {
    let server = Server::start(&["--max-sessions", "1"]);
    let client = plain(&server);
    client.create_session().await.unwrap();
    let error = client.create_session().await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted, "{error}");
    let quota = error.quota_failure().expect("a QuotaFailure detail");
    assert_eq!(quota.violations[0].subject, "--max-sessions");
    let info = error.error_info().expect("an ErrorInfo detail");
    assert_eq!(info.reason, "MAX_SESSIONS");
    assert!(!info.domain.is_empty());
    let lines = error.detail_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("QuotaFailure --max-sessions: "),
        "{lines:?}"
    );
    assert_eq!(lines[1], format!("ErrorInfo MAX_SESSIONS {}", info.domain));
}

#[tokio::test]
async fn tls_with_a_token_and_mutual_tls_work_and_refuse_what_they_should() {
    let certs = Certificates::make();
    let tls_flags = certs.tls_server_flags();
    let tls_args: Vec<&str> = tls_flags.iter().map(String::as_str).collect();
    let server = Server::start(&tls_args);

    for target in [server.tls_target(), server.target()] {
        let client = Client::builder(target.as_str())
            .tls_ca_pem(certs.read("ca.pem"))
            .token(TOKEN)
            .connect()
            .await
            .unwrap();
        let session = client.create_session().await.unwrap();
        client.add_numbers(&session, [5.0, 1.0]).await.unwrap();
        assert_eq!(
            client.get_median(&session).await.unwrap().median,
            3.0,
            "{target}"
        );
    }

    let no_token = Client::builder(server.tls_target())
        .tls_ca_pem(certs.read("ca.pem"))
        .connect_lazy()
        .unwrap();
    let error = no_token.create_session().await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error}");
    assert!(
        error.error_info().is_some(),
        "{error}: an ErrorInfo says why"
    );
    let wrong_token = Client::builder(server.tls_target())
        .tls_ca_pem(certs.read("ca.pem"))
        .token("fedcba9876543210fedcba9876543210")
        .connect_lazy()
        .unwrap();
    let error = wrong_token.create_session().await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error}");

    // A CA that did not sign the server's certificate: the handshake fails, nothing is sent.
    let wrong_ca = Client::builder(server.tls_target())
        .tls_ca_pem(certs.read("other-ca.pem"))
        .token(TOKEN)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(wrong_ca.code(), Code::Unavailable, "{wrong_ca}");
    // ... and is not resumed: with time to resume past the deadline, the call still ends with
    // the handshake's UNAVAILABLE, not with DEADLINE_EXCEEDED.
    let session = Client::builder(server.tls_target())
        .tls_ca_pem(certs.read("ca.pem"))
        .token(TOKEN)
        .connect_lazy()
        .unwrap()
        .create_session()
        .await
        .unwrap();
    let wrong_ca = Client::builder(server.tls_target())
        .tls_ca_pem(certs.read("other-ca.pem"))
        .token(TOKEN)
        .retry_for(Duration::from_secs(60))
        .stream_timeout(Some(Duration::from_secs(5)))
        .connect_lazy()
        .unwrap();
    let error = wrong_ca.add_numbers(&session, [1.0]).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(error.message().contains("certificate"), "{error}");
    // Plaintext to a TLS server fails too, with UNAVAILABLE as in every gRPC library (tonic
    // says UNKNOWN: the server closes the connection on the first bytes).
    let plaintext = Client::builder(server.target())
        .retry_for(Duration::ZERO)
        .connect_lazy()
        .unwrap()
        .create_session()
        .await
        .unwrap_err();
    assert_eq!(plaintext.code(), Code::Unavailable, "{plaintext}");
    drop(server);

    let mut mtls_args = tls_args.clone();
    let client_ca = certs.path("ca.pem");
    mtls_args.extend(["--tls-client-ca", &client_ca]);
    let server = Server::start(&mtls_args);
    let with_certificate = Client::builder(server.tls_target())
        .tls_ca_pem(certs.read("ca.pem"))
        .tls_client_identity(certs.read("client.pem"), certs.read("client.key"))
        .token(TOKEN)
        .connect_lazy()
        .unwrap();
    let session = with_certificate.create_session().await.unwrap();
    with_certificate.add_numbers(&session, [2.0]).await.unwrap();
    assert_eq!(
        with_certificate.get_median(&session).await.unwrap().median,
        2.0
    );

    let without_certificate = Client::builder(server.tls_target())
        .tls_ca_pem(certs.read("ca.pem"))
        .token(TOKEN)
        .retry_for(Duration::ZERO)
        .connect_lazy()
        .unwrap();
    // The server ends the handshake; tonic reports the closed connection as a transport error
    // (UNAVAILABLE, UNKNOWN or CANCELLED, depending on when it notices), never as a status the
    // server sent.
    let error = without_certificate.create_session().await.unwrap_err();
    let code = error.code();
    assert!(
        matches!(code, Code::Unavailable | Code::Unknown | Code::Cancelled),
        "{error}"
    );
    assert!(error.message().contains("connection"), "{error}");
}

/// The `items` as a stream that SIGKILLs the server when it reaches each index in `kill_at`
/// and restarts it on the same port and folder a little later, on another thread: the kill
/// comes while the client has sent requests that the server has not answered.
fn killing_stream<T: Send + 'static>(
    items: Vec<T>,
    kill_at: Vec<usize>,
    server: Arc<Mutex<Server>>,
) -> impl tokio_stream::Stream<Item = T> + Send + 'static {
    tokio_stream::iter(items.into_iter().enumerate()).map(move |(index, item)| {
        if kill_at.contains(&index) {
            server.lock().unwrap().kill();
            let server = server.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(700));
                server.lock().unwrap().restart();
            });
        }
        item
    })
}

#[tokio::test]
async fn add_numbers_resumes_exactly_once_across_two_server_kills() {
    let data = TempDir::new("add-data");
    let server = Server::start(&["--data-dir", &data.path("")]);
    let target = server.target();
    let server = Arc::new(Mutex::new(server));
    // 20,000 numbers in 1,000 requests of 20, 250 per AddNumbers stream: killed inside the
    // second stream and inside the fourth.
    let client = Client::builder(target)
        .batch_size(20)
        .max_stream_requests(250)
        .connect_lazy()
        .unwrap();
    let session = client.create_session().await.unwrap();
    let sent = numbers(20_000, 11);
    let stream = killing_stream(sent.clone(), vec![7_000, 16_000], server.clone());
    let added = client.add_numbers_stream(&session, stream).await.unwrap();

    assert!(added.resumes >= 2, "{added:?}");
    assert_eq!(
        (added.added_count, added.number_count, added.requests),
        (20_000, 20_000, 1_000)
    );
    assert_eq!(added.median, Some(reference_median(&sent)));
    let median = client.get_median(&session).await.unwrap();
    assert_eq!(
        (median.number_count, median.median),
        (20_000, reference_median(&sent))
    );
}

#[tokio::test]
async fn running_medians_answer_every_request_once_across_two_server_kills() {
    let data = TempDir::new("running-data");
    let server = Server::start(&["--data-dir", &data.path("")]);
    let target = server.target();
    let server = Arc::new(Mutex::new(server));
    let client = Client::builder(target).connect_lazy().unwrap();
    let session = client.create_session().await.unwrap();

    let sent = numbers(10_000, 23);
    let batches: Vec<Vec<f64>> = sent.chunks(10).map(<[f64]>::to_vec).collect();
    let stream = killing_stream(batches, vec![300, 700], server.clone());
    let answers: Vec<_> = client
        .running_medians_stream(&session, stream)
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();

    assert_eq!(answers.len(), 1_000);
    let writer = answers[0].request_id.split(':').next().unwrap();
    for (index, answer) in answers.iter().enumerate() {
        assert_eq!(answer.request_id, format!("{writer}:{}", index + 1));
        if !answer.resent {
            // Answered on first sending: applied right then, so the count is exact.
            assert_eq!(answer.number_count, 10 * (index as i64 + 1), "{answer:?}");
        }
    }
    assert!(
        answers.iter().any(|answer| answer.resent),
        "no request was resent"
    );
    let last = answers.last().unwrap();
    assert_eq!(
        (last.number_count, last.median),
        (10_000, Some(reference_median(&sent)))
    );
}

#[tokio::test]
async fn resuming_gives_up_with_the_last_error_or_at_the_deadline() {
    let mut server = Server::start(&[]);
    let target = server.target();
    let client = Client::builder(target.as_str())
        .retry_for(Duration::from_millis(800))
        .connect_lazy()
        .unwrap();
    let session = client.create_session().await.unwrap();
    server.kill();

    let started = tokio::time::Instant::now();
    let error = client.add_numbers(&session, [1.0]).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "it kept trying for retry_for"
    );

    let error = client
        .running_medians(&session, vec![vec![1.0]])
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error}");

    let short_deadline = Client::builder(target.as_str())
        .stream_timeout(Some(Duration::from_millis(500)))
        .connect_lazy()
        .unwrap();
    let error = short_deadline
        .add_numbers(&session, [1.0])
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");

    let no_resume = Client::builder(target.as_str())
        .retry_for(Duration::ZERO)
        .connect_lazy()
        .unwrap();
    let error = no_resume.add_numbers(&session, [1.0]).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error}");
}

#[tokio::test]
async fn create_session_waits_within_retry_for_for_a_server_that_starts_late() {
    let port = free_port();
    let client = Client::builder(format!("127.0.0.1:{port}"))
        .retry_for(Duration::from_secs(120))
        .connect_lazy()
        .unwrap();
    let creating = tokio::spawn({
        let client = client.clone();
        async move { client.create_session().await }
    });
    // Nothing listens yet: the first attempts fail with UNAVAILABLE and the call keeps trying.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!creating.is_finished(), "{:?}", creating.await);

    let server = tokio::task::spawn_blocking(move || Server::start_at(port, &[]))
        .await
        .unwrap();
    let session = creating.await.unwrap().unwrap();
    assert_eq!(session.len(), 22, "{session}");
    let empty = client.get_median(&session).await.unwrap_err();
    assert_eq!(
        empty.code(),
        Code::FailedPrecondition,
        "the session exists: {empty}"
    );
    let listed: Vec<_> = client
        .list_sessions(0)
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].session_id, session);

    // A caller's id is retried the same way, but the id taken on the first attempt stays an
    // error.
    let error = client.create_session_with_id(&session).await.unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists, "{error}");
    drop(server);
}
