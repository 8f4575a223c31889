//! The exact half of single use: which redemption of an authorization code came first, and
//! which refresh token is a grant's current one, decided by the user's Durable Object.
//!
//! KV is eventually consistent: two redemptions of one code at two locations inside its
//! propagation window could both find it unused, and so could two uses of one refresh token.
//! So once [`token_endpoint`](super::token_endpoint) has checked a request against the KV
//! records (client, PKCE, redirect URI, expiry, allowlist) and would issue tokens, the
//! adapter asks the user's `MCPSessionDurableObject` (named by the user id every code and grant
//! carries) with a [`LedgerRequest`]. The object handles one request at a time and keeps a
//! small ledger in its SQLite storage (a row per code until it expires, a row per grant with
//! its current refresh-token hash until it expires), so its answer is the same wherever the
//! requests came from. Only when it answers [`LedgerAnswer::Granted`] are the KV writes
//! applied; KV keeps the records (what may be eventually consistent: lookups, revocation's
//! reach to other locations within a minute).
//!
//! Why the user's object rather than one per grant: it exists already, is named by the user
//! id that every code, grant and token record carries (no extra lookup to route), holds the
//! user's other exact state (the per-user rate limit), and needs no new object per sign-in
//! whose storage would have to be swept. Token requests are rare (one refresh an hour per
//! client), so they add nothing to the notes path.
//!
//! The decisions are pure functions of the ledger's row ([`decide_redemption`],
//! [`decide_rotation`]); the object only reads and writes the rows around them.

use serde::{Deserialize, Serialize};

/// What the token endpoint asks the user's object before issuing tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LedgerRequest {
    /// The first redemption of a code wins; it starts a grant.
    RedeemCode {
        /// The code's SHA-256 (hex).
        code_hash: String,
        /// When the code stops being redeemable (ms since the epoch): its row is kept until then.
        code_expires_at_ms: u64,
        /// The grant this redemption would start.
        grant_id: String,
        /// Its first refresh token's hash, if it has one.
        refresh_hash: Option<String>,
        /// When the grant ends (ms since the epoch).
        grant_expires_at_ms: u64,
    },
    /// The grant's current refresh token is traded for a new one; any other is a reuse.
    RotateRefresh {
        /// The grant.
        grant_id: String,
        /// The hash of the refresh token presented.
        presented_hash: String,
        /// The hash of the refresh token that would replace it.
        new_hash: String,
        /// When the grant ends after the rotation (ms since the epoch).
        grant_expires_at_ms: u64,
    },
    /// The grant is revoked (`/revoke`, or a reuse seen in KV): no refresh ever again.
    RevokeGrant {
        /// The grant.
        grant_id: String,
    },
}

impl LedgerRequest {
    /// Whether the object's answer decides the outcome (a redemption, a rotation) rather than
    /// only acknowledging a notice (a revocation).
    pub fn decides(&self) -> bool {
        !matches!(self, LedgerRequest::RevokeGrant { .. })
    }
}

/// The object's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LedgerAnswer {
    /// Go ahead: apply the writes and send the tokens.
    Granted,
    /// The code was redeemed before; the grant that redemption started is now revoked.
    CodeReplayed {
        /// The first redemption's grant.
        grant_id: String,
    },
    /// The refresh token presented is not the grant's current one: someone kept a copy. The
    /// grant is now revoked.
    RefreshReused,
    /// The grant was revoked before.
    GrantRevoked,
}

/// The ledger's row for a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRow {
    /// The current refresh token's hash (`None` for a grant without refresh tokens).
    pub refresh_hash: Option<String>,
    /// Whether the grant was revoked.
    pub revoked: bool,
}

/// A code's redemption, given the grant an earlier redemption recorded (`None`: none did).
pub fn decide_redemption(earlier_grant: Option<&str>) -> LedgerAnswer {
    match earlier_grant {
        None => LedgerAnswer::Granted,
        Some(grant_id) => LedgerAnswer::CodeReplayed {
            grant_id: grant_id.to_owned(),
        },
    }
}

/// A refresh rotation, given the grant's row (`None`: the ledger has none, a grant from
/// before the ledger existed, which is adopted with this rotation).
pub fn decide_rotation(row: Option<&GrantRow>, presented_hash: &str) -> LedgerAnswer {
    match row {
        None => LedgerAnswer::Granted,
        Some(row) if row.revoked => LedgerAnswer::GrantRevoked,
        Some(row) if row.refresh_hash.as_deref() == Some(presented_hash) => LedgerAnswer::Granted,
        Some(_) => LedgerAnswer::RefreshReused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_redemption_wins_and_a_second_names_the_first_grant() {
        assert_eq!(decide_redemption(None), LedgerAnswer::Granted);
        assert_eq!(
            decide_redemption(Some("g1")),
            LedgerAnswer::CodeReplayed {
                grant_id: "g1".into()
            }
        );
    }

    #[test]
    fn only_the_current_refresh_token_rotates() {
        let row = GrantRow {
            refresh_hash: Some("current".into()),
            revoked: false,
        };
        assert_eq!(
            decide_rotation(Some(&row), "current"),
            LedgerAnswer::Granted
        );
        assert_eq!(
            decide_rotation(Some(&row), "retired"),
            LedgerAnswer::RefreshReused
        );
        let revoked = GrantRow {
            revoked: true,
            ..row
        };
        assert_eq!(
            decide_rotation(Some(&revoked), "current"),
            LedgerAnswer::GrantRevoked
        );
        assert_eq!(decide_rotation(None, "any"), LedgerAnswer::Granted);
    }

    #[test]
    fn requests_and_answers_travel_as_tagged_json() {
        let request = LedgerRequest::RevokeGrant {
            grant_id: "g".into(),
        };
        assert!(!request.decides());
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(text, r#"{"op":"revoke_grant","grant_id":"g"}"#);
        assert_eq!(
            serde_json::from_str::<LedgerRequest>(&text).unwrap(),
            request
        );
        let answer = LedgerAnswer::CodeReplayed {
            grant_id: "g".into(),
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(text, r#"{"outcome":"code_replayed","grant_id":"g"}"#);
        assert_eq!(serde_json::from_str::<LedgerAnswer>(&text).unwrap(), answer);
    }
}
