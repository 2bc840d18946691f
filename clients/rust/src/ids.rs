//! Ids the client picks itself: session ids and writer ids, 128 random bits, URL-safe.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A new id: 16 bytes from the operating system's secure generator, base64url without padding
/// (22 characters of `[A-Za-z0-9_-]`). As a session id, a proxy can route on it before the
/// server has seen it; as a writer id, it makes request ids `<writer>:<seq>` no other writer
/// uses.
///
/// # Errors
/// `UNAVAILABLE` (nothing was sent) when the operating system has no random bytes to give.
pub fn new_id() -> Result<String, crate::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(no_randomness)?;
    Ok(base64url(&bytes))
}

/// A uniformly random fraction in [0, 1), for backoff jitter; 0.5 if the system has no random
/// bytes (jitter only spreads retries out, it guards nothing).
pub(crate) fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

fn no_randomness(error: getrandom::Error) -> crate::Error {
    crate::Error::local(
        tonic::Code::Unavailable,
        format!("the operating system gave no secure random bytes: {error}"),
    )
}

fn base64url(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .fold(0u32, |group, &byte| group << 8 | u32::from(byte));
        let group = group << (8 * (3 - chunk.len()));
        for sextet in 0..=chunk.len() {
            let index = (group >> (18 - 6 * sextet)) & 0x3f;
            encoded.push(char::from(ALPHABET[index as usize]));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_without_padding() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff, 0xbf]), "-_-_");
    }

    #[test]
    fn new_ids_are_22_url_safe_characters_and_differ() {
        let first = new_id().unwrap();
        assert_eq!(first.len(), 22);
        assert!(first.bytes().all(|byte| ALPHABET.contains(&byte)));
        assert_ne!(first, new_id().unwrap());
    }

    #[test]
    fn random_fractions_stay_in_the_unit_interval() {
        for _ in 0..100 {
            let fraction = random_fraction();
            assert!((0.0..1.0).contains(&fraction), "{fraction}");
        }
    }
}
