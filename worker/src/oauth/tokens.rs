//! Opaque tokens and the records kept for them.
//!
//! Tokens are random (32 bytes from the caller), base64url, with a prefix that says what they
//! are (`sb_at_` access, `sb_rt_` refresh, `sb_ac_` authorization code) so a leaked one is
//! recognizable by secret scanners and a wrong kind is refused before any lookup. Only SHA-256
//! hashes are stored: SHA-256 because PKCE needs it anyway and an operator can recompute a key
//! with standard tools; no salt or slow hash is needed for 256-bit random secrets.
//!
//! A [`Grant`] is one sign-in of one user for one client: the family of refresh tokens
//! rotated from the first one. It names the current access and refresh token, so revoking the
//! grant (on revocation, on a replayed refresh token, on a reused code) removes both, and any
//! older refresh token of the family then finds no grant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::authorize::PendingAuthorization;
use super::pkce::CodeChallenge;
use super::scope::ScopeSet;
use super::storage::{KvWrite, access_key, code_key, grant_key, refresh_key, ttl_until};

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

    /// A hash read back from a record (as written by [`TokenHash::as_hex`]).
    pub fn from_hex(hex: &str) -> Self {
        TokenHash(hex.to_owned())
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

/// How long things live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Access tokens (short: a leaked one is useful briefly), in ms.
    pub access_ms: u64,
    /// Refresh tokens, from their issue (each rotation starts a new one), in ms.
    pub refresh_ms: u64,
    /// Authorization codes, in ms (OAuth 2.1 asks for short; KV's minimum TTL is 60 s).
    pub code_ms: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_ms: 3600 * 1000,
            refresh_ms: 30 * 24 * 3600 * 1000,
            code_ms: 60 * 1000,
        }
    }
}

/// An authorization code, stored under its hash ([`code_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// Whether that request carried `redirect_uri` (the token request must then repeat it).
    pub redirect_uri_given: bool,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// The audience.
    pub resource: String,
    /// The scopes.
    pub scope: ScopeSet,
    /// The GitHub user id of the person who signed in.
    pub user_id: u64,
    /// When issued (ms since the epoch).
    pub issued_at_ms: u64,
    /// When it stops being redeemable (ms since the epoch).
    pub expires_at_ms: u64,
    /// Once redeemed, the grant it produced (kept so a second use revokes that grant).
    pub redeemed_grant: Option<String>,
}

/// A freshly issued code: the string for the client, its record and the write storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    /// The code, for the redirect.
    pub code: String,
    /// The record.
    pub record: CodeRecord,
    /// Store the record.
    pub write: KvWrite,
}

impl CodeRecord {
    /// Issues a code for a completed sign-in of `user_id`.
    pub fn issue(
        pending: &PendingAuthorization,
        user_id: u64,
        now_ms: u64,
        lifetimes: &Lifetimes,
        random: &[u8; 32],
    ) -> IssuedCode {
        let code = mint(CODE_PREFIX, random);
        let record = CodeRecord {
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            redirect_uri_given: pending.redirect_uri_given,
            code_challenge: pending.code_challenge.clone(),
            resource: pending.resource.clone(),
            scope: pending.scope,
            user_id,
            issued_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(lifetimes.code_ms),
            redeemed_grant: None,
        };
        let write = KvWrite::put_json(
            code_key(&hash_token(&code)),
            &record,
            ttl_until(record.expires_at_ms, now_ms),
        );
        IssuedCode {
            code,
            record,
            write,
        }
    }
}

/// One sign-in of one user for one client, stored under [`grant_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Random id.
    pub grant_id: String,
    /// The GitHub user id.
    pub user_id: u64,
    /// The client.
    pub client_id: String,
    /// The scopes granted.
    pub scope: ScopeSet,
    /// The audience.
    pub resource: String,
    /// When the user signed in (ms since the epoch).
    pub created_at_ms: u64,
    /// Hash of the current access token.
    pub access_hash: String,
    /// Hash of the current refresh token, if the client gets refresh tokens.
    pub refresh_hash: Option<String>,
    /// When the last token of the grant expires (ms since the epoch).
    pub expires_at_ms: u64,
    /// How many times the refresh token was rotated.
    pub rotations: u32,
}

/// An access token, stored under its hash ([`access_key`]). Everything the resource server
/// needs is here: validating a request is one KV read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Its grant.
    pub grant_id: String,
    /// The GitHub user id.
    pub user_id: u64,
    /// The client.
    pub client_id: String,
    /// The scopes.
    pub scope: ScopeSet,
    /// The audience.
    pub resource: String,
    /// When issued (ms since the epoch).
    pub issued_at_ms: u64,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: u64,
}

/// A refresh token, stored under its hash ([`refresh_key`]); kept after rotation so that a
/// replay is recognized (and revokes the grant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// Its grant.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// When issued (ms since the epoch).
    pub issued_at_ms: u64,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: u64,
    /// Whether it was already exchanged for a newer one.
    pub rotated: bool,
}

/// Random bytes for issuing tokens, from the caller's CSPRNG.
#[derive(Clone)]
pub struct IssueRandom {
    /// For the access token.
    pub access: [u8; 32],
    /// For the refresh token.
    pub refresh: [u8; 32],
    /// For a new grant's id.
    pub grant_id: [u8; 16],
}

impl std::fmt::Debug for IssueRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssueRandom(..)")
    }
}

/// The token endpoint's success body (RFC 6749 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token, for clients that registered the `refresh_token` grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The scopes granted.
    pub scope: String,
}

/// What a grant is for (the parts that do not change when tokens rotate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTerms {
    /// The GitHub user id.
    pub user_id: u64,
    /// The client.
    pub client_id: String,
    /// The scopes.
    pub scope: ScopeSet,
    /// The audience.
    pub resource: String,
}

/// Tokens just issued: the response for the client and the writes storing their records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The token response.
    pub response: TokenResponse,
    /// The grant as it now stands.
    pub grant: Grant,
    /// Writes: access record, refresh record (if any), grant.
    pub writes: Vec<KvWrite>,
}

/// Issues an access token (and a refresh token when `with_refresh`) under a grant: a new one
/// (`previous` is `None`) or an existing one being rotated.
pub fn issue_tokens(
    terms: &GrantTerms,
    previous: Option<&Grant>,
    with_refresh: bool,
    now_ms: u64,
    lifetimes: &Lifetimes,
    random: &IssueRandom,
) -> IssuedTokens {
    let access_token = mint(ACCESS_PREFIX, &random.access);
    let access_hash = hash_token(&access_token);
    let refresh_token = with_refresh.then(|| mint(REFRESH_PREFIX, &random.refresh));
    let refresh_hash = refresh_token.as_deref().map(hash_token);
    let grant_id = previous.map_or_else(
        || URL_SAFE_NO_PAD.encode(random.grant_id),
        |grant| grant.grant_id.clone(),
    );
    let access_expires = now_ms.saturating_add(lifetimes.access_ms);
    let refresh_expires = now_ms.saturating_add(lifetimes.refresh_ms);
    let grant = Grant {
        grant_id: grant_id.clone(),
        user_id: terms.user_id,
        client_id: terms.client_id.clone(),
        scope: terms.scope,
        resource: terms.resource.clone(),
        created_at_ms: previous.map_or(now_ms, |grant| grant.created_at_ms),
        access_hash: access_hash.as_hex().to_owned(),
        refresh_hash: refresh_hash.as_ref().map(|hash| hash.as_hex().to_owned()),
        expires_at_ms: if with_refresh {
            refresh_expires.max(access_expires)
        } else {
            access_expires
        },
        rotations: previous.map_or(0, |grant| grant.rotations.saturating_add(1)),
    };
    let access = AccessRecord {
        grant_id: grant_id.clone(),
        user_id: terms.user_id,
        client_id: terms.client_id.clone(),
        scope: terms.scope,
        resource: terms.resource.clone(),
        issued_at_ms: now_ms,
        expires_at_ms: access_expires,
    };
    let mut writes = vec![KvWrite::put_json(
        access_key(&access_hash),
        &access,
        ttl_until(access_expires, now_ms),
    )];
    if let Some(hash) = &refresh_hash {
        let refresh = RefreshRecord {
            grant_id: grant_id.clone(),
            client_id: terms.client_id.clone(),
            issued_at_ms: now_ms,
            expires_at_ms: refresh_expires,
            rotated: false,
        };
        writes.push(KvWrite::put_json(
            refresh_key(hash),
            &refresh,
            ttl_until(refresh_expires, now_ms),
        ));
    }
    writes.push(KvWrite::put_json(
        grant_key(&grant_id),
        &grant,
        ttl_until(grant.expires_at_ms, now_ms),
    ));
    IssuedTokens {
        response: TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetimes.access_ms / 1000,
            refresh_token,
            scope: terms.scope.to_string(),
        },
        grant,
        writes,
    }
}

/// The writes that revoke a grant: its current access and refresh tokens and the grant itself
/// (older refresh tokens of the family then lead nowhere).
pub fn revoke_grant(grant: &Grant) -> Vec<KvWrite> {
    let mut writes = vec![KvWrite::delete(access_key(&TokenHash::from_hex(
        &grant.access_hash,
    )))];
    if let Some(refresh) = &grant.refresh_hash {
        writes.push(KvWrite::delete(refresh_key(&TokenHash::from_hex(refresh))));
    }
    writes.push(KvWrite::delete(grant_key(&grant.grant_id)));
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;

    fn terms() -> GrantTerms {
        GrantTerms {
            user_id: 42,
            client_id: "sbc_client".into(),
            scope: ScopeSet::ALL,
            resource: "https://brain.example.com/mcp".into(),
        }
    }

    fn random(seed: u8) -> IssueRandom {
        IssueRandom {
            access: [seed; 32],
            refresh: [seed.wrapping_add(1); 32],
            grant_id: [seed; 16],
        }
    }

    #[test]
    fn minted_tokens_are_prefixed_and_hashes_are_hex_sha256() {
        let token = mint(ACCESS_PREFIX, &[0u8; 32]);
        assert_eq!(token, "sb_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            hash_token("abc").as_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn issuing_stores_only_hashes() {
        let issued = issue_tokens(&terms(), None, true, NOW, &Lifetimes::default(), &random(1));
        let response = &issued.response;
        assert!(response.access_token.starts_with(ACCESS_PREFIX));
        let refresh = response.refresh_token.as_deref().unwrap();
        assert!(refresh.starts_with(REFRESH_PREFIX));
        assert_eq!(response.expires_in, 3600);
        assert_eq!(response.token_type, "Bearer");
        assert_eq!(response.scope, "notes:read notes:write");
        let keys: Vec<&str> = issued.writes.iter().map(KvWrite::key).collect();
        assert_eq!(
            keys,
            [
                access_key(&hash_token(&response.access_token)).as_str(),
                refresh_key(&hash_token(refresh)).as_str(),
                grant_key(&issued.grant.grant_id).as_str(),
            ]
        );
        for write in &issued.writes {
            let KvWrite::Put { value, .. } = write else {
                panic!("not a put")
            };
            assert!(!value.contains(&response.access_token));
            assert!(!value.contains(refresh));
        }
        assert_eq!(issued.grant.rotations, 0);
        assert_eq!(issued.grant.expires_at_ms, NOW + 30 * 24 * 3600 * 1000);
    }

    #[test]
    fn rotation_keeps_the_grant_and_counts() {
        let first = issue_tokens(&terms(), None, true, NOW, &Lifetimes::default(), &random(1));
        let second = issue_tokens(
            &terms(),
            Some(&first.grant),
            true,
            NOW + 5000,
            &Lifetimes::default(),
            &random(9),
        );
        assert_eq!(second.grant.grant_id, first.grant.grant_id);
        assert_eq!(second.grant.created_at_ms, NOW);
        assert_eq!(second.grant.rotations, 1);
        assert_ne!(second.grant.access_hash, first.grant.access_hash);
    }

    #[test]
    fn without_refresh_the_grant_lives_as_long_as_the_access_token() {
        let issued = issue_tokens(
            &terms(),
            None,
            false,
            NOW,
            &Lifetimes::default(),
            &random(1),
        );
        assert_eq!(issued.response.refresh_token, None);
        assert_eq!(issued.grant.refresh_hash, None);
        assert_eq!(issued.grant.expires_at_ms, NOW + 3600 * 1000);
        assert_eq!(issued.writes.len(), 2);
        let json = serde_json::to_value(&issued.response).unwrap();
        assert!(json.get("refresh_token").is_none());
    }

    #[test]
    fn revoking_deletes_current_tokens_and_the_grant() {
        let issued = issue_tokens(&terms(), None, true, NOW, &Lifetimes::default(), &random(1));
        let writes = revoke_grant(&issued.grant);
        let refresh = issued.response.refresh_token.unwrap();
        assert_eq!(
            writes,
            vec![
                KvWrite::delete(access_key(&hash_token(&issued.response.access_token))),
                KvWrite::delete(refresh_key(&hash_token(&refresh))),
                KvWrite::delete(grant_key(&issued.grant.grant_id)),
            ]
        );
    }
}
