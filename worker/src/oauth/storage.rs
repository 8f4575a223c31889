//! What the OAuth layer keeps in KV: key names, time-to-live, and the writes it asks for.
//!
//! The layer never touches KV. It names the keys the adapter must read, takes the records it
//! read as arguments, and returns [`KvWrite`]s for the adapter to apply in order. Values are
//! JSON. Every key expires by itself (KV's `expirationTtl`), so nothing needs sweeping.
//!
//! # `OAUTH_KV`
//! | key | value | TTL |
//! | --- | --- | --- |
//! | `client:{client_id}` | [`ClientRecord`](super::registration::ClientRecord) | client TTL (90 days), renewed on each token issued |
//! | `code:{sha256 hex}` | [`CodeRecord`](super::tokens::CodeRecord) | 60 s (KV's minimum), kept after use to detect replays |
//! | `access:{sha256 hex}` | [`AccessRecord`](super::tokens::AccessRecord) | access-token lifetime (1 h) |
//! | `refresh:{sha256 hex}` | [`RefreshRecord`](super::tokens::RefreshRecord) | refresh-token lifetime (30 days), kept after rotation |
//! | `grant:{grant_id}` | [`Grant`](super::tokens::Grant) | until its refresh token expires |
//! | `flow:{flow_id}` | `"used"` | the sign-in cookie's lifetime (10 min) |
//! | `consent:{client_id}` | `"given"`: an allowlisted user approved this client and signed in | the client TTL (90 days) |
//!
//! # `RATE_LIMIT_KV`
//! | key | value | TTL |
//! | --- | --- | --- |
//! | `ip:{class}:{address hash}:{window start}` | [`IpWindowCount`](super::ratelimit::IpWindowCount) | window + 60 s |
//!
//! # Consistency
//! KV is eventually consistent: a write is visible at once where it was made and within about
//! 60 s elsewhere. So KV keeps what may lag: the records (looked up by hash), and revocation's
//! reach to access-token lookups at other locations (up to a minute). What must be exact is
//! decided by the user's Durable Object before any of these writes ([`super::ledger`]): a
//! code's single use, which refresh token is a grant's current one (a reuse ends the grant),
//! and that a revoked grant never refreshes again. Sign-in flows (`flow:`) stay single use per
//! location only: their cookie is bound to one browser and expires in 10 minutes.

use serde::Serialize;

use super::tokens::TokenHash;

/// The smallest TTL KV accepts for `expirationTtl`, in seconds.
pub const MIN_TTL_SECS: u64 = 60;

/// KV key of a registered client.
pub fn client_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// KV key of an authorization code, by the code's hash.
pub fn code_key(hash: &TokenHash) -> String {
    format!("code:{}", hash.as_hex())
}

/// KV key of an access token, by the token's hash.
pub fn access_key(hash: &TokenHash) -> String {
    format!("access:{}", hash.as_hex())
}

/// KV key of a refresh token, by the token's hash.
pub fn refresh_key(hash: &TokenHash) -> String {
    format!("refresh:{}", hash.as_hex())
}

/// KV key of a grant (one sign-in of one user for one client: a refresh-token family).
pub fn grant_key(grant_id: &str) -> String {
    format!("grant:{grant_id}")
}

/// KV key marking a sign-in flow (its cookie) as used.
pub fn flow_key(flow_id: &str) -> String {
    format!("flow:{flow_id}")
}

/// The value stored under a [`flow_key`].
pub const FLOW_USED: &str = "used";

/// KV key marking that a client has a consent on record: an allowlisted user approved it on
/// the consent page and signed in. Until then `/authorize` redirects no error to it.
pub fn consent_key(client_id: &str) -> String {
    format!("consent:{client_id}")
}

/// The value stored under a [`consent_key`].
pub const CONSENT_GIVEN: &str = "given";

/// Seconds from `now_ms` until `expires_at_ms`, rounded up, and at least [`MIN_TTL_SECS`].
pub fn ttl_until(expires_at_ms: u64, now_ms: u64) -> u64 {
    expires_at_ms
        .saturating_sub(now_ms)
        .div_ceil(1000)
        .max(MIN_TTL_SECS)
}

/// One write the adapter performs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvWrite {
    /// `put(key, value, { expirationTtl: ttl_secs })`.
    Put {
        /// The key.
        key: String,
        /// The JSON value.
        value: String,
        /// Seconds to live; never below [`MIN_TTL_SECS`].
        ttl_secs: u64,
    },
    /// `delete(key)`.
    Delete {
        /// The key.
        key: String,
    },
}

impl KvWrite {
    /// A put of `value` as JSON, living `ttl_secs` (raised to [`MIN_TTL_SECS`] if lower).
    pub fn put_json<T: Serialize>(key: String, value: &T, ttl_secs: u64) -> Self {
        KvWrite::Put {
            key,
            // Our records are plain structs of strings and numbers: serializing cannot fail.
            value: serde_json::to_string(value).unwrap_or_default(),
            ttl_secs: ttl_secs.max(MIN_TTL_SECS),
        }
    }

    /// A put of a plain string value.
    pub fn put_text(key: String, value: &str, ttl_secs: u64) -> Self {
        KvWrite::Put {
            key,
            value: value.to_owned(),
            ttl_secs: ttl_secs.max(MIN_TTL_SECS),
        }
    }

    /// A delete.
    pub fn delete(key: String) -> Self {
        KvWrite::Delete { key }
    }

    /// The key written or deleted.
    pub fn key(&self) -> &str {
        match self {
            KvWrite::Put { key, .. } | KvWrite::Delete { key } => key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::tokens::hash_token;

    #[test]
    fn keys_are_prefixed_and_hold_hashes_not_tokens() {
        let hash = hash_token("sb_at_secret");
        let key = access_key(&hash);
        assert!(key.starts_with("access:"));
        assert!(!key.contains("secret"));
        assert_eq!(key.len(), "access:".len() + 64);
        assert_eq!(client_key("c1"), "client:c1");
        assert_eq!(grant_key("g1"), "grant:g1");
        assert_eq!(flow_key("f1"), "flow:f1");
        assert_eq!(consent_key("c1"), "consent:c1");
        assert!(code_key(&hash).starts_with("code:"));
        assert!(refresh_key(&hash).starts_with("refresh:"));
    }

    #[test]
    fn ttls_round_up_and_respect_the_kv_minimum() {
        assert_eq!(ttl_until(10_000, 0), MIN_TTL_SECS);
        assert_eq!(ttl_until(3_600_001, 0), 3601);
        assert_eq!(ttl_until(0, 5_000), MIN_TTL_SECS);
        let put = KvWrite::put_json("k".into(), &serde_json::json!({"a": 1}), 5);
        assert_eq!(
            put,
            KvWrite::Put {
                key: "k".into(),
                value: r#"{"a":1}"#.into(),
                ttl_secs: MIN_TTL_SECS
            }
        );
        assert_eq!(KvWrite::delete("d".into()).key(), "d");
        assert_eq!(KvWrite::put_text("f".into(), FLOW_USED, 600).key(), "f");
    }
}
