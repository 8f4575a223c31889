//! Opaque tokens: how they are minted and hashed.
//!
//! Tokens are random (32 bytes from the caller), base64url, with a prefix that says what they
//! are (`sb_at_` access, `sb_rt_` refresh, `sb_ac_` authorization code) so a leaked one is
//! recognizable by secret scanners. Only SHA-256 hashes are stored: SHA-256 because PKCE
//! needs it anyway and anyone can recompute a key with standard tools; no salt or slow hash is
//! needed for 256-bit random secrets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix of access tokens.
pub const ACCESS_PREFIX: &str = "sb_at_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "sb_rt_";
/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "sb_ac_";

/// The SHA-256 of a token, in lower-case hex: what KV keys hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hex digits.
    pub fn as_hex(&self) -> &str {
        &self.0
    }
}

/// The hash of `token` (the whole string, prefix included).
pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
}

/// A token string: `prefix` then the base64url of `random`.
pub fn mint(prefix: &str, random: &[u8; 32]) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_prefixed_and_hashes_are_hex_sha256() {
        let token = mint(ACCESS_PREFIX, &[0u8; 32]);
        assert_eq!(token, "sb_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            hash_token("abc").as_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
