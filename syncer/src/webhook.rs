//! LaunchDarkly webhook signatures: `X-LD-Signature` is the lowercase hex HMAC-SHA256 of the raw
//! body, keyed by the webhook secret.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secrets::{Secret, SecretError};

/// How a webhook is authenticated.
#[derive(Debug)]
pub enum WebhookAuth {
    /// Check `X-LD-Signature` with this secret.
    Verify(Secret),
    /// No secret is configured and the operator allowed unsigned webhooks.
    Unsigned,
    /// Every webhook is refused (401) until the operator fixes this (the message says how).
    Refused(String),
    /// The configured secret could not be read now (permissions, SSM throttling).
    Unreadable(SecretError),
}

/// Why a webhook was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-LD-Signature header is missing")]
    Missing,
    #[error(
        "the X-LD-Signature header does not match the body (wrong secret, or the body was altered)"
    )]
    Mismatch,
}

/// Checks `signature` (the header value) against `body`, in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
    let signature = signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::Missing)?;
    let expected = hex::decode(signature).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature LaunchDarkly sends for `body`.
    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn accepts_only_the_right_signature() {
        let body = br#"{"kind":"flag","name":"x"}"#;
        let good = sign(b"secret", body);
        assert_eq!(verify(b"secret", body, Some(&good)), Ok(()));
        assert_eq!(verify(b"secret", body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(b"secret", body, Some("")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(b"other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", b"{}", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", body, Some("not-hex")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", body, Some(&good[..10])),
            Err(SignatureError::Mismatch)
        );
    }
}
