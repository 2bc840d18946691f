//! The numbers on standard input, and how a median is printed.

use std::fmt;

/// A token of the input that is not a number; nothing may be sent then.
#[derive(Debug, PartialEq)]
pub struct NotANumber(pub String);

impl fmt::Display for NotANumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a number", self.0)
    }
}

/// Parses whitespace-separated tokens into doubles, stopping at the first bad token.
///
/// `NaN`, `Infinity` and `-Infinity` pass through so that the server's validation is exercised.
pub fn parse_all(input: &str) -> Result<Vec<f64>, NotANumber> {
    input.split_whitespace().map(parse_token).collect()
}

fn parse_token(token: &str) -> Result<f64, NotANumber> {
    match token {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        // Rust's parser rounds correctly but also takes "inf", "nan" and friends: check the
        // grammar first.
        _ if is_decimal(token) => token.parse().map_err(|_| NotANumber(token.to_string())),
        _ => Err(NotANumber(token.to_string())),
    }
}

/// Whether `token` matches `^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`.
fn is_decimal(token: &str) -> bool {
    let bytes = token.as_bytes();
    let digits_from = |start: usize| {
        bytes[start.min(bytes.len())..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count()
    };

    let mut at = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let integer_digits = digits_from(at);
    at += integer_digits;
    let mut fraction_digits = 0;
    if bytes.get(at) == Some(&b'.') {
        fraction_digits = digits_from(at + 1);
        at += 1 + fraction_digits;
    }
    if integer_digits == 0 && fraction_digits == 0 {
        return false;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        at += usize::from(matches!(bytes.get(at), Some(b'+' | b'-')));
        let exponent_digits = digits_from(at);
        if exponent_digits == 0 {
            return false;
        }
        at += exponent_digits;
    }
    at == bytes.len()
}

/// The shortest decimal that parses back to the same double, with an exponent for very large
/// or very small magnitudes (`1.5`, `2.0`, `1e-323`, `1.7976931348623157e308`, `-0.0`).
pub fn format_median(median: f64) -> String {
    format!("{median:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decimal_spelling_of_the_grammar_is_a_number() {
        let tokens = "1e-07 1.0E-7 0.0000001 2.5 .5 5. +3 1E+2 -4e0 7 -0 5.e3 \
                      1.7976931348623157e+308 5e-324 1e999 00012";
        let parsed = parse_all(tokens).unwrap();
        assert_eq!(parsed[..4], [1e-7, 1e-7, 1e-7, 2.5]);
        assert_eq!(parsed[4..10], [0.5, 5.0, 3.0, 100.0, -4.0, 7.0]);
        assert!(parsed[10] == 0.0 && parsed[10].is_sign_negative());
        assert_eq!(parsed[11..15], [5000.0, f64::MAX, 5e-324, f64::INFINITY]);
        assert_eq!(parsed[15], 12.0);
    }

    #[test]
    fn the_special_values_are_spelled_exactly() {
        let parsed = parse_all("NaN\tInfinity\n-Infinity").unwrap();
        assert!(parsed[0].is_nan());
        assert_eq!(parsed[1..], [f64::INFINITY, f64::NEG_INFINITY]);
    }

    #[test]
    fn the_first_bad_token_is_named() {
        for token in [
            "abc",
            "0x10",
            "inf",
            "nan",
            "1,5",
            "+Infinity",
            "infinity",
            "NAN",
            ".",
            "+",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "--1",
            "1_000",
            "١",
        ] {
            let input = format!("1 {token} 2 zzz");
            assert_eq!(
                parse_all(&input),
                Err(NotANumber(token.to_string())),
                "{token}"
            );
        }
        assert_eq!(
            NotANumber("abc".into()).to_string(),
            r#""abc" is not a number"#
        );
    }

    #[test]
    fn no_tokens_is_no_numbers() {
        assert_eq!(parse_all(" \n\t "), Ok(vec![]));
    }

    #[test]
    fn medians_print_in_a_form_that_parses_back_to_the_same_bits() {
        for value in [
            2.0,
            1.5,
            0.1 + 0.2,
            1e-7,
            1e-323,
            5e-324,
            f64::MAX,
            -f64::MAX,
            1e16,
            0.0,
        ] {
            let printed = format_median(value);
            assert_eq!(
                printed.parse::<f64>().unwrap().to_bits(),
                value.to_bits(),
                "{printed}"
            );
        }
        assert_eq!(format_median(-0.0), "-0.0");
        assert_eq!(format_median(1e-323), "1e-323");
        assert_eq!(format_median(1.5), "1.5");
    }
}
