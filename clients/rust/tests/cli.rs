//! The command-line client (`median-client`, the library's first user) against a real server:
//! its output and exit codes, and `--running` over TLS with a token across a server SIGKILL.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use support::{Certificates, Server, TOKEN, TempDir, free_port, numbers, reference_median};

fn cli(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_median-client"))
        .args(args)
        .env_remove("MEDIAN_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A usage error exits before reading its input: a broken pipe here is no failure.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn prints_the_median_the_running_medians_and_errors_with_their_details() {
    let server = Server::start(&[]);
    let target = server.target();

    let output = cli(&["--target", &target, "--delete"], "3 1 2 10");
    assert!(output.status.success(), "{output:?}");
    let shown = lines(&output.stdout);
    assert!(
        shown[0].starts_with("session=") && shown[0].len() == 30,
        "{shown:?}"
    );
    assert_eq!(shown[1..], ["count=4 median=2.5"]);

    let output = cli(&["--target", &target, "--running", "--batch", "2"], "3 1 2");
    assert_eq!(
        lines(&output.stdout)[1..],
        ["count=2 median=2.0", "count=3 median=2.0"]
    );

    let output = cli(
        &["--target", &target, "--running", "--batch", "1"],
        "1 2 NaN 4",
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        lines(&output.stdout)[1..],
        ["count=1 median=1.0", "count=2 median=1.5"]
    );
    let errors = lines(&output.stderr);
    assert!(
        errors[0].starts_with("error: INVALID_ARGUMENT: numbers[0]"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("detail: BadRequest numbers[0]: "),
        "{errors:?}"
    );

    let output = cli(&["--target", &target, "--session", "nope"], "1");
    assert_eq!(output.status.code(), Some(1));
    assert!(lines(&output.stderr)[0].starts_with("error: NOT_FOUND: "));

    for (args, input) in [
        (&["--target", &target, "--tls-cert", "c.pem"][..], "1"),
        (&["--target", &target, "--retry-for", "-1"][..], "1"),
        (&["--target", &target][..], "1 x"),
    ] {
        let output = cli(args, input);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "nothing was sent: {output:?}");
    }
}

#[test]
fn running_over_tls_with_a_token_prints_each_request_once_across_a_server_kill() {
    let certs = Certificates::make();
    let data = TempDir::new("cli-data");
    let mut args = certs.tls_server_flags();
    args.extend(["--data-dir".to_string(), data.path("")]);
    let mut server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let sent = numbers(50_000, 5);
    let input: Vec<String> = sent.iter().map(|number| format!("{number:?}")).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_median-client"))
        .args([
            "--target",
            &server.tls_target(),
            "--running",
            "--batch",
            "10",
        ])
        .args(["--tls-ca", &certs.path("ca.pem")])
        .env("MEDIAN_TOKEN", TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.join(" ").as_bytes()).unwrap();
    drop(stdin);

    // Kill the server once the client has printed 500 of its 5,000 lines: the rest of its
    // requests are in flight or not yet sent. Restart it on its port and folder.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut shown: Vec<String> = Vec::new();
    for line in stdout.by_ref().take(501) {
        shown.push(line.unwrap());
    }
    server.restart();
    // The restarted server read back fewer numbers than were sent: the kill was mid-stream.
    assert!(server.logged(&["read back 1 sessions with "]));
    let read_back: i64 = server
        .log()
        .iter()
        .find_map(|line| line.split("read back 1 sessions with ").nth(1))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap();
    assert!(read_back < 50_000, "{read_back}");
    shown.extend(stdout.map(Result::unwrap));
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");

    assert!(shown[0].starts_with("session="), "{:?}", shown[0]);
    assert_eq!(shown.len(), 1 + 5_000, "one line per request, each once");
    let counts: Vec<i64> = shown[1..]
        .iter()
        .map(|line| line.split(['=', ' ']).nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|pair| pair[0] <= pair[1]),
        "counts only grow"
    );
    let last = format!("count=50000 median={:?}", reference_median(&sent));
    assert_eq!(shown.last().unwrap(), &last);
}

#[test]
fn creating_the_session_keeps_trying_for_retry_for_then_reports_unavailable() {
    let target = format!("127.0.0.1:{}", free_port());
    let started = std::time::Instant::now();
    let output = cli(&["--target", &target, "--retry-for", "2"], "1");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "no session was made: {output:?}");
    let errors = lines(&output.stderr);
    assert!(errors[0].starts_with("error: UNAVAILABLE: "), "{errors:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it kept trying for --retry-for"
    );
}
