//! median-client: streams the numbers on standard input into a median.v1 session and prints the
//! session's count and median, with the command line every language's client shares.

mod cli;
mod numbers;
mod session_id;

use std::error::Error;
use std::io::{self, Read};
use std::process::ExitCode;
use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use cli::{Options, ParseError, USAGE};
use median::median_service_client::MedianServiceClient;
use median::{
    AddNumbersRequest, CreateSessionRequest, DeleteSessionRequest, GetMedianRequest,
    RunningMedianRequest,
};

pub mod median {
    tonic::include_proto!("median.v1");
}

/// The request metadata a proxy routes on; every call carries it.
const SESSION_HEADER: &str = "median-session-id";
const UNARY_DEADLINE: Duration = Duration::from_secs(10);
const STREAM_DEADLINE: Duration = Duration::from_secs(600);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(ParseError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ParseError::Invalid(problem)) => return usage_error(&problem),
    };
    let Ok(endpoint) = Endpoint::from_shared(format!("http://{}", options.target)) else {
        return usage_error(&format!("--target {:?} is not HOST:PORT", options.target));
    };

    // All of the input is checked before anything is sent.
    let mut input = Vec::new();
    if let Err(error) = io::stdin().read_to_end(&mut input) {
        eprintln!("error: cannot read standard input: {error}");
        return ExitCode::from(2);
    }
    let numbers = match numbers::parse_all(&String::from_utf8_lossy(&input)) {
        Ok(numbers) => numbers,
        Err(bad_token) => {
            eprintln!("error: {bad_token}");
            return ExitCode::from(2);
        }
    };

    match run(&options, endpoint, numbers).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => {
            let message = status.message().replace(['\r', '\n'], " ");
            eprintln!("error: {}: {message}", code_name(status.code()));
            ExitCode::from(1)
        }
    }
}

fn usage_error(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n{USAGE}");
    ExitCode::from(2)
}

async fn run(options: &Options, endpoint: Endpoint, numbers: Vec<f64>) -> Result<(), Status> {
    let given = options.session.clone().map(Session::new).transpose()?;
    let mut client = MedianServiceClient::connect(endpoint)
        .await
        .map_err(unreachable)?;

    let session = match given {
        Some(session) => session,
        None => {
            let id = session_id::new_session_id()
                .map_err(|error| Status::internal(format!("no secure random bytes: {error}")))?;
            let session = Session::new(id)?;
            let request = CreateSessionRequest {
                session_id: session.id.clone(),
            };
            let created = client
                .create_session(session.request(request, UNARY_DEADLINE))
                .await?
                .into_inner();
            // Standard output is line buffered: this line is out before the numbers are sent.
            println!("session={}", created.session_id);
            session
        }
    };

    let batches = batches(numbers, options.batch);
    if options.running {
        running_median(&mut client, &session, batches).await?;
    } else {
        add_numbers(&mut client, &session, batches).await?;
    }

    if options.delete {
        let request = DeleteSessionRequest {
            session_id: session.id.clone(),
        };
        client
            .delete_session(session.request(request, UNARY_DEADLINE))
            .await?;
    }
    Ok(())
}

/// One `AddNumbers` stream with every batch, then `GetMedian` unless the session is empty.
async fn add_numbers(
    client: &mut MedianServiceClient<Channel>,
    session: &Session,
    batches: Vec<Vec<f64>>,
) -> Result<(), Status> {
    let requests = batches.into_iter().map(|numbers| AddNumbersRequest {
        session_id: session.id.clone(),
        numbers,
        ..Default::default()
    });
    let outbound = tokio_stream::iter(requests.collect::<Vec<_>>());
    let summary = client
        .add_numbers(session.request(outbound, STREAM_DEADLINE))
        .await?
        .into_inner();
    if summary.number_count == 0 {
        println!("count=0");
        return Ok(());
    }

    let request = GetMedianRequest {
        session_id: session.id.clone(),
    };
    let current = client
        .get_median(session.request(request, UNARY_DEADLINE))
        .await?
        .into_inner();
    println!(
        "count={} median={}",
        current.number_count,
        numbers::format_median(current.median)
    );
    Ok(())
}

/// One `RunningMedian` stream; every answer is printed as it arrives.
async fn running_median(
    client: &mut MedianServiceClient<Channel>,
    session: &Session,
    batches: Vec<Vec<f64>>,
) -> Result<(), Status> {
    let requests = batches.into_iter().map(|numbers| RunningMedianRequest {
        session_id: session.id.clone(),
        numbers,
        ..Default::default()
    });
    let outbound = tokio_stream::iter(requests.collect::<Vec<_>>());
    let mut inbound = client
        .running_median(session.request(outbound, STREAM_DEADLINE))
        .await?
        .into_inner();
    while let Some(answer) = inbound.message().await? {
        match answer.median {
            Some(median) => println!(
                "count={} median={}",
                answer.number_count,
                numbers::format_median(median)
            ),
            None => println!("count={}", answer.number_count),
        }
    }
    Ok(())
}

/// The session every call works on, and its routing metadata.
struct Session {
    id: String,
    header: AsciiMetadataValue,
}

impl Session {
    fn new(id: String) -> Result<Self, Status> {
        let header = id.parse().map_err(|_| {
            Status::invalid_argument(format!(
                "session id {id:?} cannot be sent as metadata; use 1 to 128 characters of [A-Za-z0-9._-]"
            ))
        })?;
        Ok(Session { id, header })
    }

    /// A request carrying the session's metadata and a deadline.
    fn request<T>(&self, message: T, deadline: Duration) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert(SESSION_HEADER, self.header.clone());
        request.set_timeout(deadline);
        request
    }
}

/// The numbers in input order, at most `size` per request; no numbers is one empty request.
fn batches(numbers: Vec<f64>, size: usize) -> Vec<Vec<f64>> {
    if numbers.is_empty() {
        return vec![Vec::new()];
    }
    numbers.chunks(size).map(<[f64]>::to_vec).collect()
}

/// A server that cannot be reached is UNAVAILABLE, as for any other gRPC client.
fn unreachable(error: tonic::transport::Error) -> Status {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        // Some wrappers repeat their source's text; say each part once.
        let part = error.to_string();
        if !message.ends_with(&part) {
            message = format!("{message}: {part}");
        }
        cause = error.source();
    }
    Status::unavailable(message)
}

/// The code's name as gRPC spells it everywhere (`Code`'s Debug form is `InvalidArgument`).
fn code_name(code: Code) -> &'static str {
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

    #[test]
    fn batches_keep_input_order_and_an_empty_input_is_one_empty_request() {
        assert_eq!(batches(vec![], 3), vec![Vec::<f64>::new()]);
        assert_eq!(
            batches(vec![1.0, 2.0, 3.0, 4.0], 3),
            vec![vec![1.0, 2.0, 3.0], vec![4.0]]
        );
    }

    #[test]
    fn code_names_are_grpc_spellings() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::Unavailable), "UNAVAILABLE");
    }
}
