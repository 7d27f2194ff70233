//! The webhook signature: `Consort-Signature: t=UNIX_SECONDS,v1=HEX`, where HEX is the
//! HMAC-SHA256, keyed with the channel's shared secret, of `UNIX_SECONDS` `.` body. The
//! timestamp is signed so a receiver can refuse a replayed delivery; see `docs/alerts.md`.

use ring::hmac;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "consort-signature";
/// The header carrying the alert's id (the same on every retry).
pub const ALERT_ID_HEADER: &str = "consort-alert-id";

fn mac(secret: &[u8], timestamp_s: i64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp_s.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    context.sign()
}

/// The header's value for `body` sent at `timestamp_s`.
pub fn signature(secret: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp_s, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp_s},v1={hex}")
}

/// Why a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `t=…,v1=…`.
    #[error("the signature header is not t=UNIX_SECONDS,v1=HEX")]
    Malformed,
    /// Older or newer than the tolerance allows.
    #[error("the signature's timestamp is {0} s away from now")]
    Stale(i64),
    /// The MAC does not match: another secret, or another body.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks `header` against `body` at `now_s`, accepting timestamps up to `tolerance_s` away
/// (in constant time for the MAC).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_s: i64, tolerance_s: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut given = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => given = decode_hex(v),
            _ => {}
        }
    }
    let (Some(timestamp), Some(given)) = (timestamp, given) else { return Err(SignatureError::Malformed) };
    let skew = (now_s - timestamp).abs();
    if skew > tolerance_s {
        return Err(SignatureError::Stale(skew));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut signed = timestamp.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &given).map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac() {
        // HMAC-SHA256("key", "1700000000.{}"), computed with Python's hmac module.
        let header = signature(b"key", 1_700_000_000, b"{}");
        assert_eq!(header, "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
    }

    #[test]
    fn verifies_and_refuses() {
        let body = br#"{"event":"failure"}"#;
        let header = signature(b"s3cret", 1_700_000_000, body);
        assert_eq!(verify(b"s3cret", &header, body, 1_700_000_100, 300), Ok(()));
        assert_eq!(verify(b"other", &header, body, 1_700_000_100, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"s3cret", &header, b"{}", 1_700_000_100, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"s3cret", &header, body, 1_700_001_000, 300), Err(SignatureError::Stale(1000)));
        assert_eq!(verify(b"s3cret", "v1=00", body, 0, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(b"s3cret", "t=1,v1=zz", body, 1, 300), Err(SignatureError::Malformed));
    }
}
