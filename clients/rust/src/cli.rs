//! The command line shared by every language's client.

pub const USAGE: &str =
    "usage: median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]";

const DEFAULT_BATCH: usize = 1000;

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
        Ok(Options {
            target,
            session,
            batch,
            running,
            delete,
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
        ])
        .unwrap();
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
        ] {
            assert!(
                matches!(parse(args), Err(ParseError::Invalid(_))),
                "{args:?}"
            );
        }
    }
}
