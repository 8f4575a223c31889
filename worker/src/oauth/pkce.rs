//! PKCE (RFC 7636) with the `S256` method only.
//!
//! OAuth 2.1 and the MCP spec require PKCE; `plain` protects nothing against an attacker who
//! sees the authorization request, so we refuse it (and a missing method, which RFC 7636
//! defaults to `plain`). A challenge is the 43-character base64url (no padding) SHA-256 of the
//! verifier; a verifier is 43 to 128 characters of `[A-Z] [a-z] [0-9] - . _ ~`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The only method we accept.
pub const S256: &str = "S256";

/// A checked `S256` code challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

/// Why PKCE failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PkceError {
    /// No `code_challenge` in the authorization request.
    #[error("code_challenge is required (PKCE with S256)")]
    MissingChallenge,
    /// `code_challenge_method` absent (which means `plain`) or not `S256`.
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    /// The challenge is not 43 base64url characters.
    #[error("code_challenge must be 43 base64url characters (the S256 of the verifier)")]
    MalformedChallenge,
    /// The verifier is missing, too short, too long, or has other characters.
    #[error("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    MalformedVerifier,
    /// The verifier does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

impl CodeChallenge {
    /// Checks the `code_challenge` and `code_challenge_method` of an authorization request.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, PkceError> {
        let challenge = challenge.ok_or(PkceError::MissingChallenge)?;
        if method != Some(S256) {
            return Err(PkceError::UnsupportedMethod);
        }
        let decoded = URL_SAFE_NO_PAD
            .decode(challenge)
            .map_err(|_| PkceError::MalformedChallenge)?;
        if challenge.len() != 43 || decoded.len() != 32 {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }

    /// Checks a token request's `code_verifier` against this challenge, in constant time.
    pub fn verify(&self, verifier: Option<&str>) -> Result<(), PkceError> {
        let verifier = verifier.ok_or(PkceError::MalformedVerifier)?;
        if !is_valid_verifier(verifier) {
            return Err(PkceError::MalformedVerifier);
        }
        let computed = s256(verifier);
        if bool::from(computed.as_bytes().ct_eq(self.0.as_bytes())) {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `BASE64URL-ENCODE(SHA256(ASCII(verifier)))`: the S256 challenge of a verifier.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_example_verifies() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
        let challenge = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert_eq!(challenge.verify(Some(VERIFIER)), Ok(()));
        assert_eq!(challenge.as_str(), CHALLENGE);
    }

    #[test]
    fn wrong_verifier_is_a_mismatch() {
        let challenge = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
        assert_eq!(challenge.verify(Some(other)), Err(PkceError::Mismatch));
        // The challenge itself is a well-formed verifier, and still wrong.
        assert_eq!(challenge.verify(Some(CHALLENGE)), Err(PkceError::Mismatch));
    }

    #[test]
    fn malformed_verifiers_are_refused_before_hashing() {
        let challenge = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        for bad in [
            None,
            Some(""),
            Some(&"a".repeat(42)[..]),
            Some(&"a".repeat(129)[..]),
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+"),
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX="),
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXé"),
        ] {
            assert_eq!(
                challenge.verify(bad),
                Err(PkceError::MalformedVerifier),
                "{bad:?}"
            );
        }
        assert!(challenge.verify(Some(&"~".repeat(128))).is_err());
        assert_eq!(
            challenge.verify(Some(&"a".repeat(128))),
            Err(PkceError::Mismatch)
        );
    }

    #[test]
    fn plain_and_missing_methods_are_refused() {
        assert_eq!(
            CodeChallenge::parse(Some(CHALLENGE), None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(Some(VERIFIER), Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(Some(CHALLENGE), Some("s256")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(None, Some("S256")),
            Err(PkceError::MissingChallenge)
        );
    }

    #[test]
    fn challenges_must_be_a_sha256_in_base64url() {
        for bad in [
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMAA",
        ] {
            assert_eq!(
                CodeChallenge::parse(Some(bad), Some("S256")),
                Err(PkceError::MalformedChallenge),
                "{bad}"
            );
        }
    }
}
