//! The sign-in cookie: the [`PendingAuthorization`] sealed with `COOKIE_ENCRYPTION_KEY`.
//!
//! - Sealing: XChaCha20-Poly1305 (RustCrypto, pure Rust) under the 32-byte key, with a 24-byte
//!   random nonce from the caller (random nonces are safe at this size) and the cookie name
//!   and format version as associated data. The value is
//!   `v1.{key id}.{base64url(nonce || ciphertext || tag)}`, where the key id is 4 bytes of
//!   SHA-256 over the key: it tells "sealed under another key" apart from "tampered with"
//!   without revealing anything useful about the key.
//! - Attributes: `__Host-` prefix (so `Secure`, `Path=/`, no `Domain`: no subdomain can set
//!   or read it), `HttpOnly`, `SameSite=Lax` (sent on GitHub's top-level redirect back, not
//!   on cross-site posts), `Max-Age` = the sign-in's remaining life (at most 10 minutes).
//! - Single use: the record's `flow_id` is marked used in KV ([`flow_key`]) when GitHub's
//!   callback arrives; the callback also clears the cookie.
//! - Key rotation: changing `COOKIE_ENCRYPTION_KEY` turns every cookie in flight into
//!   [`CookieError::WrongKey`] (those users start again); nothing else depends on the key.
//!
//! [`flow_key`]: super::storage::flow_key

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::authorize::PendingAuthorization;
use super::response::{Reply, message_page};

/// The cookie's name.
pub const NAME: &str = "__Host-sb_signin";
/// The format version at the start of every value.
const VERSION: &str = "v1";
/// Associated data: binds a value to this cookie and format.
const AAD: &[u8] = b"second-brain __Host-sb_signin v1";
/// Longest cookie value we try to open (browsers keep about 4 KB per cookie).
const MAX_VALUE_LEN: usize = 4096;

/// The cookie key, from `COOKIE_ENCRYPTION_KEY`. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct CookieKey {
    cipher: XChaCha20Poly1305,
    id: [u8; 4],
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CookieKey(id={})", hex::encode(self.id))
    }
}

/// A `COOKIE_ENCRYPTION_KEY` we cannot use. The message never includes the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("COOKIE_ENCRYPTION_KEY must be 64 hex digits (32 bytes)")]
pub struct CookieKeyError;

impl CookieKey {
    /// Reads the key from its hex form (64 digits, surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, CookieKeyError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|_| CookieKeyError)?;
        Ok(Self::from_bytes(&key))
    }

    /// The key from raw bytes.
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"second-brain cookie key id\0");
        hasher.update(key);
        let digest = hasher.finalize();
        CookieKey {
            cipher: XChaCha20Poly1305::new(&(*key).into()),
            id: [digest[0], digest[1], digest[2], digest[3]],
        }
    }
}

/// Why a sign-in cookie cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CookieError {
    /// No sign-in cookie in the request.
    #[error("no sign-in is in progress in this browser")]
    Missing,
    /// Not a value we could have made.
    #[error("the sign-in cookie is malformed")]
    Malformed,
    /// Sealed under a different key (the key was rotated since).
    #[error("the sign-in cookie was sealed with a different key")]
    WrongKey,
    /// Our key id, but the contents do not authenticate.
    #[error("the sign-in cookie was tampered with")]
    Tampered,
    /// Authentic but past its expiry.
    #[error("the sign-in took too long and expired")]
    Expired,
}

impl CookieError {
    /// A 400 page telling the user to start again (never a redirect: without a valid cookie we
    /// do not know where to), clearing the cookie.
    pub fn reply(&self) -> Reply {
        message_page(
            400,
            "Sign-in could not continue",
            &format!("{self}. Start the connection again from your app."),
        )
        .with_header("set-cookie", clear_cookie())
    }
}

/// Seals `pending` into a cookie value with a fresh random `nonce`.
pub fn seal(pending: &PendingAuthorization, key: &CookieKey, nonce: &[u8; 24]) -> String {
    // A plain struct of strings and numbers always serializes.
    let plaintext = serde_json::to_vec(pending).unwrap_or_default();
    let nonce = XNonce::from(*nonce);
    let sealed = key
        .cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &plaintext,
                aad: AAD,
            },
        )
        // Encryption fails only for inputs of gigabytes.
        .unwrap_or_default();
    let mut bytes = Vec::with_capacity(nonce.len() + sealed.len());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    format!(
        "{VERSION}.{}.{}",
        URL_SAFE_NO_PAD.encode(key.id),
        URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Opens a cookie value: authentic, made under `key`, and not expired at `now_ms`.
pub fn open(
    value: &str,
    key: &CookieKey,
    now_ms: u64,
) -> Result<PendingAuthorization, CookieError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(CookieError::Malformed);
    }
    let mut parts = value.split('.');
    let (Some(VERSION), Some(id), Some(body), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CookieError::Malformed);
    };
    let id = URL_SAFE_NO_PAD
        .decode(id)
        .map_err(|_| CookieError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| CookieError::Malformed)?;
    if id.len() != 4 || bytes.len() < 24 + 16 {
        return Err(CookieError::Malformed);
    }
    if id != key.id {
        return Err(CookieError::WrongKey);
    }
    let (nonce, sealed) = bytes.split_at(24);
    let nonce = XNonce::try_from(nonce).map_err(|_| CookieError::Malformed)?;
    let plaintext = key
        .cipher
        .decrypt(
            &nonce,
            Payload {
                msg: sealed,
                aad: AAD,
            },
        )
        .map_err(|_| CookieError::Tampered)?;
    let pending: PendingAuthorization =
        serde_json::from_slice(&plaintext).map_err(|_| CookieError::Malformed)?;
    if now_ms >= pending.expires_at_ms {
        return Err(CookieError::Expired);
    }
    Ok(pending)
}

/// The value of our cookie in a request's `Cookie` header, if present.
pub fn find(cookie_header: Option<&str>) -> Option<&str> {
    cookie_header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Opens the cookie found in a `Cookie` header ([`find`] then [`open`]).
pub fn open_from_header(
    cookie_header: Option<&str>,
    key: &CookieKey,
    now_ms: u64,
) -> Result<PendingAuthorization, CookieError> {
    let value = find(cookie_header).ok_or(CookieError::Missing)?;
    open(value, key, now_ms)
}

/// The `Set-Cookie` value carrying `value` for the rest of the sign-in's life.
pub fn set_cookie(value: &str, pending: &PendingAuthorization, now_ms: u64) -> String {
    let max_age = pending.expires_at_ms.saturating_sub(now_ms).div_ceil(1000);
    format!("{NAME}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{NAME}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::{MAX_STATE_LEN, SIGN_IN_TTL_MS};
    use crate::oauth::pkce::{CodeChallenge, s256};
    use crate::oauth::scope::ScopeSet;

    const NOW: u64 = 1_750_000_000_000;
    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn pending() -> PendingAuthorization {
        PendingAuthorization {
            flow_id: "flow".into(),
            client_id: "sbc_client".into(),
            redirect_uri: "http://127.0.0.1:1/cb".into(),
            redirect_uri_given: true,
            code_challenge: CodeChallenge::parse(Some(&s256(&"v".repeat(43))), Some("S256"))
                .unwrap(),
            state: Some("st".into()),
            resource: "https://brain.example.com/mcp".into(),
            scope: ScopeSet::ALL,
            csrf_token: "csrf".into(),
            upstream_state: None,
            created_at_ms: NOW,
            expires_at_ms: NOW + SIGN_IN_TTL_MS,
        }
    }

    fn key() -> CookieKey {
        CookieKey::from_hex(KEY_HEX).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips() {
        let value = seal(&pending(), &key(), &[5; 24]);
        assert!(value.starts_with("v1."));
        assert!(!value.contains("sbc_client"), "the contents are encrypted");
        assert_eq!(open(&value, &key(), NOW + 1000), Ok(pending()));
        let other_nonce = seal(&pending(), &key(), &[6; 24]);
        assert_ne!(value, other_nonce);
    }

    #[test]
    fn tampering_anywhere_is_detected() {
        let value = seal(&pending(), &key(), &[5; 24]);
        let (head, body) = value.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for index in [0, 24, bytes.len() / 2, bytes.len() - 1] {
            bytes[index] ^= 1;
            let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert_eq!(
                open(&forged, &key(), NOW),
                Err(CookieError::Tampered),
                "{index}"
            );
            bytes[index] ^= 1;
        }
        let truncated = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes[..30]));
        assert_eq!(open(&truncated, &key(), NOW), Err(CookieError::Malformed));
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "v1",
            "v1.x",
            "v2.AAAAAA.AAAA",
            "v1.!!!.AAAA",
            "v1.AAAAAA.AAAA.extra",
            "v1.AAAAAA.AAAA",
        ] {
            assert_eq!(open(bad, &key(), NOW), Err(CookieError::Malformed), "{bad}");
        }
        let huge = format!("v1.AAAAAA.{}", "A".repeat(5000));
        assert_eq!(open(&huge, &key(), NOW), Err(CookieError::Malformed));
    }

    #[test]
    fn expired_cookies_are_refused() {
        let value = seal(&pending(), &key(), &[5; 24]);
        assert!(open(&value, &key(), NOW + SIGN_IN_TTL_MS - 1).is_ok());
        assert_eq!(
            open(&value, &key(), NOW + SIGN_IN_TTL_MS),
            Err(CookieError::Expired)
        );
    }

    #[test]
    fn rotating_the_key_invalidates_cookies_in_flight_only() {
        let old = key();
        let in_flight = seal(&pending(), &old, &[5; 24]);
        let new = CookieKey::from_bytes(&[0xAB; 32]);
        assert_eq!(open(&in_flight, &new, NOW), Err(CookieError::WrongKey));
        // New sign-ins work under the new key; the old key no longer opens them.
        let fresh = seal(&pending(), &new, &[7; 24]);
        assert_eq!(open(&fresh, &new, NOW), Ok(pending()));
        assert_eq!(open(&fresh, &old, NOW), Err(CookieError::WrongKey));
        // Tokens, codes and clients never touch the cookie key: see the flow tests, where a
        // grant issued before a rotation keeps validating and refreshing after it.
    }

    #[test]
    fn key_parsing_never_echoes_the_value() {
        assert!(CookieKey::from_hex(&format!("  {KEY_HEX}\n")).is_ok());
        for bad in [
            "",
            "00",
            &KEY_HEX[..62],
            &format!("{KEY_HEX}00"),
            &"zz".repeat(32),
        ] {
            let err = CookieKey::from_hex(bad).unwrap_err();
            assert!(!err.to_string().contains("0001"));
        }
        let debug = format!("{:?}", key());
        assert!(debug.starts_with("CookieKey(id=") && !debug.contains("0102"));
    }

    #[test]
    fn the_largest_pending_authorization_fits_in_a_cookie() {
        let mut big = pending();
        big.redirect_uri = format!("https://app.example/{}", "r".repeat(492));
        big.state = Some("s".repeat(MAX_STATE_LEN));
        big.client_id = format!("sbc_{}", "c".repeat(22));
        big.upstream_state = Some("u".repeat(43));
        big.csrf_token = "c".repeat(43);
        big.flow_id = "f".repeat(22);
        let value = seal(&big, &key(), &[5; 24]);
        let header = set_cookie(&value, &big, NOW);
        assert!(header.len() < 4000, "{} bytes", header.len());
    }

    #[test]
    fn set_cookie_attributes_and_lookup() {
        let header = set_cookie("v1.x.y", &pending(), NOW + 1);
        assert_eq!(
            header,
            "__Host-sb_signin=v1.x.y; Path=/; Max-Age=600; Secure; HttpOnly; SameSite=Lax"
        );
        assert!(clear_cookie().contains("Max-Age=0"));
        assert_eq!(
            find(Some("a=1; __Host-sb_signin=v1.x.y; b=2")),
            Some("v1.x.y")
        );
        assert_eq!(find(Some("sb_signin=v1.x.y")), None);
        assert_eq!(find(Some("__Host-sb_signin=")), None);
        assert_eq!(find(None), None);
        assert_eq!(
            open_from_header(Some("other=1"), &key(), NOW),
            Err(CookieError::Missing)
        );
        let value = seal(&pending(), &key(), &[5; 24]);
        let header = format!("theme=dark; {NAME}={value}");
        assert_eq!(open_from_header(Some(&header), &key(), NOW), Ok(pending()));
        let reply = CookieError::Expired.reply();
        assert_eq!(reply.status, 400);
        assert!(reply.header("set-cookie").unwrap().contains("Max-Age=0"));
    }
}
