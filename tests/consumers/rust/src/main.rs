//! One create-add-get-delete against a live server through the `median_client` library, as a
//! project that depends on it would: `median-consumer HOST:PORT`.
//!
//! Prints `count=4 median=2.5` and `deleted: NOT_FOUND` and exits 0; on any failure, the error
//! on standard error and exit status 1.

use std::process::ExitCode;

use median_client::{Client, Code, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(target) = std::env::args().nth(1) else {
        eprintln!("usage: median-consumer HOST:PORT");
        return ExitCode::from(2);
    };
    match run(&target).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("error: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run(target: &str) -> Result<(), String> {
    let client = Client::builder(target)
        .connect()
        .await
        .map_err(|error| error.to_string())?;
    let session = client.create_session().await.map_err(show)?;
    client
        .add_numbers(&session, [3.0, 1.0, 2.0, 10.0])
        .await
        .map_err(show)?;
    let median = client.get_median(&session).await.map_err(show)?;
    println!("count={} median={:?}", median.number_count, median.median);
    client.delete_session(&session).await.map_err(show)?;
    match client.get_median(&session).await {
        Err(error) if error.code() == Code::NotFound => {
            println!("deleted: {}", error.code_name());
            Ok(())
        }
        Err(error) => Err(format!("after the delete, expected NOT_FOUND, got {error}")),
        Ok(median) => Err(format!("the deleted session still answers: {median:?}")),
    }
}

fn show(error: Error) -> String {
    let mut shown = error.to_string();
    for line in error.detail_lines() {
        shown.push_str(&format!("\ndetail: {line}"));
    }
    shown
}
