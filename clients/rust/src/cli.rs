//! The command line shared by every language's client.

pub const USAGE: &str = "usage: median-client --target HOST:PORT [--session ID] [--batch N] \
[--running] [--delete]
                     [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] \
[--retry-for SECONDS]
  --token        sent as `authorization: Bearer <token>` (default: $MEDIAN_TOKEN)
  --tls-ca       TLS, trusting the CA certificates in FILE (PEM)
  --tls-cert/key a client certificate and its key (PEM) for mutual TLS
  --retry-for    seconds to keep resuming after retryable failures (default 30; 0: never)";

const DEFAULT_BATCH: usize = 1000;
const DEFAULT_RETRY_FOR: f64 = 30.0;

/// What the user asked for.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// `HOST:PORT` of the server, plaintext.
    pub target: String,
    /// An existing session to use; `None` makes a new one.
    pub session: Option<String>,
    /// The most numbers in one request, at least 1.
    pub batch: usize,
    /// One `RunningMedian` stream instead of `AddNumbers` and `GetMedian`.
    pub running: bool,
    /// Delete the session at the end.
    pub delete: bool,
    /// The bearer token given with `--token` (the caller falls back to `MEDIAN_TOKEN`).
    pub token: Option<String>,
    /// PEM file of the CA certificates to trust; TLS when given.
    pub tls_ca: Option<String>,
    /// PEM files of a client certificate and its key (mutual TLS); both or neither.
    pub tls_identity: Option<(String, String)>,
    /// Seconds to keep resuming after retryable failures; 0 turns resuming off.
    pub retry_for: f64,
}

/// Why the command line could not be used; `Help` is not an error but stops all the same.
#[derive(Debug, PartialEq)]
pub enum ParseError {
    Help,
    Invalid(String),
}

impl Options {
    /// Parses the arguments after the program name: `--flag value` or `--flag=value`.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, ParseError> {
        let mut target = None;
        let mut session = None;
        let mut batch = DEFAULT_BATCH;
        let mut running = false;
        let mut delete = false;
        let mut token = None;
        let mut tls_ca = None;
        let mut tls_cert = None;
        let mut tls_key = None;
        let mut retry_for = DEFAULT_RETRY_FOR;

        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline_value) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
                _ => (arg.clone(), None),
            };
            let mut value = || match inline_value {
                Some(value) => Ok(value.to_string()),
                None => args
                    .next()
                    .ok_or_else(|| ParseError::Invalid(format!("{flag} needs a value"))),
            };
            match flag.as_str() {
                "--target" => target = Some(value()?),
                "--session" => session = Some(value()?),
                "--batch" => batch = parse_batch(&value()?)?,
                "--token" => token = Some(value()?),
                "--tls-ca" => tls_ca = Some(value()?),
                "--tls-cert" => tls_cert = Some(value()?),
                "--tls-key" => tls_key = Some(value()?),
                "--retry-for" => retry_for = parse_retry_for(&value()?)?,
                "--running" | "--delete" if inline_value.is_some() => {
                    return Err(ParseError::Invalid(format!("{flag} takes no value")));
                }
                "--running" => running = true,
                "--delete" => delete = true,
                "-h" | "--help" => return Err(ParseError::Help),
                _ => return Err(ParseError::Invalid(format!("unknown argument {arg:?}"))),
            }
        }

        let target = target.ok_or_else(|| ParseError::Invalid("--target is required".into()))?;
        let tls_identity = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(ParseError::Invalid(
                    "--tls-cert and --tls-key go together: the client certificate and its key"
                        .into(),
                ));
            }
        };
        Ok(Options {
            target,
            session,
            batch,
            running,
            delete,
            token,
            tls_ca,
            tls_identity,
            retry_for,
        })
    }
}

fn parse_batch(value: &str) -> Result<usize, ParseError> {
    let invalid =
        || ParseError::Invalid(format!("--batch must be a positive integer, not {value:?}"));
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    match value.parse::<usize>() {
        Ok(batch) if batch > 0 => Ok(batch),
        _ => Err(invalid()),
    }
}

fn parse_retry_for(value: &str) -> Result<f64, ParseError> {
    match value.parse::<f64>() {
        Ok(seconds) if (0.0..1e9).contains(&seconds) => Ok(seconds),
        _ => Err(ParseError::Invalid(format!(
            "--retry-for must be a number of seconds, 0 or more, not {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, ParseError> {
        Options::parse(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn defaults_apply_when_only_the_target_is_given() {
        let options = parse(&["--target", "127.0.0.1:50051"]).unwrap();
        assert_eq!(
            options,
            Options {
                target: "127.0.0.1:50051".into(),
                session: None,
                batch: 1000,
                running: false,
                delete: false,
                token: None,
                tls_ca: None,
                tls_identity: None,
                retry_for: 30.0,
            }
        );
    }

    #[test]
    fn every_flag_is_read_in_both_spellings() {
        let options = parse(&[
            "--target=h:1",
            "--session",
            "s",
            "--batch=7",
            "--running",
            "--delete",
            "--token=t0k",
            "--tls-ca",
            "ca.pem",
            "--tls-cert=c.pem",
            "--tls-key",
            "c.key",
            "--retry-for",
            "2.5",
        ])
        .unwrap();
        assert_eq!(options.token.as_deref(), Some("t0k"));
        assert_eq!(options.tls_ca.as_deref(), Some("ca.pem"));
        assert_eq!(
            options.tls_identity,
            Some(("c.pem".to_string(), "c.key".to_string()))
        );
        assert_eq!(options.retry_for, 2.5);
        assert_eq!(options.target, "h:1");
        assert_eq!(options.session.as_deref(), Some("s"));
        assert_eq!(options.batch, 7);
        assert!(options.running && options.delete);
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for args in [
            &[][..],
            &["--session", "s"],
            &["--target"],
            &["--target", "h:1", "--batch", "0"],
            &["--target", "h:1", "--batch", "-3"],
            &["--target", "h:1", "--batch", "+3"],
            &["--target", "h:1", "--batch", "2.5"],
            &["--target", "h:1", "--batch", "99999999999999999999999"],
            &["--target", "h:1", "--verbose"],
            &["--target", "h:1", "extra"],
            &["--target", "h:1", "--running=yes"],
            &["--target", "h:1", "--tls-cert", "c.pem"],
            &["--target", "h:1", "--tls-key", "c.key"],
            &["--target", "h:1", "--retry-for", "-1"],
            &["--target", "h:1", "--retry-for", "soon"],
            &["--target", "h:1", "--retry-for", "inf"],
            &["--target", "h:1", "--token"],
        ] {
            assert!(
                matches!(parse(args), Err(ParseError::Invalid(_))),
                "{args:?}"
            );
        }
    }
}
