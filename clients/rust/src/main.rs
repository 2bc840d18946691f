//! median-client: streams the numbers on standard input into a median.v1 session and prints the
//! session's count and median, with the command line every language's client shares. A small
//! program on top of the `median_client` library, which does the resuming.

mod cli;
mod numbers;

use std::io::{self, Read};
use std::process::ExitCode;
use std::time::Duration;

use median_client::{Client, Error};
use tokio_stream::StreamExt;

use cli::{Options, ParseError, USAGE};

/// The token's environment variable: unlike a flag, it does not show in `ps`.
const TOKEN_VARIABLE: &str = "MEDIAN_TOKEN";

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
    let client = match client(&options) {
        Ok(client) => client,
        Err(problem) => return usage_error(&problem),
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

    match run(&options, &client, numbers).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let message = error.message().replace(['\r', '\n'], " ");
            eprintln!("error: {}: {message}", error.code_name());
            for line in error.detail_lines() {
                eprintln!("detail: {}", line.replace(['\r', '\n'], " "));
            }
            ExitCode::from(1)
        }
    }
}

fn usage_error(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n{USAGE}");
    ExitCode::from(2)
}

/// The library's client for the command line's settings; a problem with them is a usage error.
fn client(options: &Options) -> Result<Client, String> {
    let mut builder = Client::builder(options.target.as_str())
        .batch_size(options.batch)
        .retry_for(Duration::from_secs_f64(options.retry_for));
    if let Some(ca) = &options.tls_ca {
        builder = builder.tls_ca_pem(read_pem("--tls-ca", ca)?);
    }
    if let Some((cert, key)) = &options.tls_identity {
        builder =
            builder.tls_client_identity(read_pem("--tls-cert", cert)?, read_pem("--tls-key", key)?);
    }
    let token = options
        .token
        .clone()
        .or_else(|| std::env::var(TOKEN_VARIABLE).ok());
    if let Some(token) = token {
        builder = builder.token(token);
    }
    builder
        .connect_lazy()
        .map_err(|error| error.message().to_string())
}

fn read_pem(flag: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{flag} {path:?} cannot be read: {error}"))
}

async fn run(options: &Options, client: &Client, numbers: Vec<f64>) -> Result<(), Error> {
    let session = match &options.session {
        Some(session) => session.clone(),
        None => {
            let session = client.create_session().await?;
            // Standard output is line buffered: this line is out before the numbers are sent.
            println!("session={session}");
            session
        }
    };

    if options.running {
        let mut answers = client.running_medians(&session, batches(numbers, options.batch));
        while let Some(answer) = answers.next().await {
            println!("{}", answer?);
        }
    } else {
        let added = client.add_numbers(&session, numbers).await?;
        if added.number_count == 0 {
            println!("count=0");
        } else {
            let current = client.get_median(&session).await?;
            println!(
                "count={} median={}",
                current.number_count,
                numbers::format_median(current.median)
            );
        }
    }

    if options.delete {
        client.delete_session(&session).await?;
    }
    Ok(())
}

/// The numbers in input order, at most `size` per request; no numbers is one empty request, so
/// that `--running` still prints the session's count.
fn batches(numbers: Vec<f64>, size: usize) -> Vec<Vec<f64>> {
    if numbers.is_empty() {
        return vec![Vec::new()];
    }
    numbers.chunks(size).map(<[f64]>::to_vec).collect()
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
}
