//! The resource server's side: is this `/mcp` request's bearer token good, and for whom?
//!
//! The adapter's sequence for every `/mcp` request:
//! 1. [`bearer_token`] from the `Authorization` header (tokens in the query are never read);
//!    on error answer [`AccessError::reply`];
//! 2. read [`access_key`] of [`hash_token`] of the token from `OAUTH_KV` (one read);
//! 3. [`check_access`] with the record, the scopes this request needs and the allowlist;
//!    `Ok` gives the [`Principal`] (the GitHub user id selects the Durable Object).
//!
//! Failures are typed: 401 `invalid_token` (unknown, expired, revoked, another audience, user
//! no longer allowed), 401 without error code for a missing token, 403 `insufficient_scope`.
//! Every challenge carries `resource_metadata` so clients can (re)discover how to sign in.

use thiserror::Error;

use super::endpoints::ServerUrls;
use super::github::Allowlist;
use super::metadata::Challenge;
use super::response::{ErrorBody, ErrorCode, Reply};
use super::scope::ScopeSet;
use super::storage::access_key;
use super::tokens::{ACCESS_PREFIX, AccessRecord, hash_token};

/// Who a valid access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The GitHub user id (our user id).
    pub user_id: u64,
    /// The client the token was issued to.
    pub client_id: String,
    /// The scopes it carries.
    pub scope: ScopeSet,
    /// Its grant.
    pub grant_id: String,
}

/// Why a request to the protected resource is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AccessError {
    /// No `Authorization` header (or another scheme than `Bearer`).
    #[error("no access token")]
    Missing,
    /// `Bearer` without a well-formed token of ours.
    #[error("the access token is malformed")]
    Malformed,
    /// Not found: never issued, revoked, or expired and removed by KV.
    #[error("the access token is unknown or revoked")]
    Unknown,
    /// Found but past its expiry.
    #[error("the access token expired")]
    Expired,
    /// Issued for another resource (RFC 8707 audience).
    #[error("the access token is for another resource")]
    WrongAudience,
    /// The user was removed from the allowlist after the token was issued.
    #[error("this account is no longer allowed")]
    NotAllowed,
    /// Valid, but without the scopes this request needs.
    #[error("the access token lacks the scope {needed}")]
    InsufficientScope {
        /// What the request needs.
        needed: ScopeSet,
    },
}

impl AccessError {
    /// The challenge (status and `WWW-Authenticate`).
    pub fn challenge(&self) -> Challenge {
        match self {
            AccessError::Missing => Challenge::Missing,
            AccessError::InsufficientScope { needed } => {
                Challenge::InsufficientScope { needed: *needed }
            }
            AccessError::Malformed => Challenge::InvalidToken {
                description: "the access token is malformed",
            },
            AccessError::Unknown => Challenge::InvalidToken {
                description: "the access token is unknown or revoked",
            },
            AccessError::Expired => Challenge::InvalidToken {
                description: "the access token expired",
            },
            AccessError::WrongAudience => Challenge::InvalidToken {
                description: "the access token is for another resource",
            },
            AccessError::NotAllowed => Challenge::InvalidToken {
                description: "this account is no longer allowed",
            },
        }
    }

    /// A short stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AccessError::Missing => "missing_token",
            AccessError::Malformed => "malformed_token",
            AccessError::Unknown => "unknown_token",
            AccessError::Expired => "expired_token",
            AccessError::WrongAudience => "wrong_audience",
            AccessError::NotAllowed => "user_not_allowed",
            AccessError::InsufficientScope { .. } => "insufficient_scope",
        }
    }

    /// The reply: 401 or 403 with `WWW-Authenticate` and an OAuth error body.
    pub fn reply(&self, urls: &ServerUrls) -> Reply {
        let challenge = self.challenge();
        let code = match self {
            AccessError::Missing => ErrorCode::InvalidRequest,
            AccessError::InsufficientScope { .. } => ErrorCode::InsufficientScope,
            _ => ErrorCode::InvalidToken,
        };
        ErrorBody::new(code, self.to_string())
            .reply(challenge.status())
            .with_header("www-authenticate", challenge.www_authenticate(urls))
            .with_public_cors()
    }
}

/// The bearer token of an `Authorization` header. Only our access tokens pass, so a GitHub
/// token or any other credential is refused without a lookup.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AccessError> {
    let header = authorization.ok_or(AccessError::Missing)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(AccessError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AccessError::Missing);
    }
    let token = token.trim();
    let random = token
        .strip_prefix(ACCESS_PREFIX)
        .ok_or(AccessError::Malformed)?;
    if random.len() != 43
        || !random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AccessError::Malformed);
    }
    Ok(token)
}

/// The KV key to read for a bearer token.
pub fn lookup_key(token: &str) -> String {
    access_key(&hash_token(token))
}

/// Checks the record found for the token.
pub fn check_access(
    record: Option<&AccessRecord>,
    needed: ScopeSet,
    urls: &ServerUrls,
    allowlist: &Allowlist,
    now_ms: u64,
) -> Result<Principal, AccessError> {
    let record = record.ok_or(AccessError::Unknown)?;
    if now_ms >= record.expires_at_ms {
        return Err(AccessError::Expired);
    }
    if record.resource != urls.resource() {
        return Err(AccessError::WrongAudience);
    }
    if !allowlist.allows(record.user_id) {
        return Err(AccessError::NotAllowed);
    }
    if !needed.is_subset_of(record.scope) {
        return Err(AccessError::InsufficientScope { needed });
    }
    Ok(Principal {
        user_id: record.user_id,
        client_id: record.client_id.clone(),
        scope: record.scope,
        grant_id: record.grant_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::scope::Scope;
    use crate::oauth::tokens::mint;

    const NOW: u64 = 1_750_000_000_000;

    fn urls() -> ServerUrls {
        ServerUrls::new("https://brain.example.com").unwrap()
    }

    fn record() -> AccessRecord {
        AccessRecord {
            grant_id: "g".into(),
            user_id: 42,
            client_id: "sbc_client".into(),
            scope: ScopeSet::only(Scope::NotesRead),
            resource: "https://brain.example.com/mcp".into(),
            issued_at_ms: NOW,
            expires_at_ms: NOW + 3_600_000,
        }
    }

    fn allow() -> Allowlist {
        Allowlist::parse("42").unwrap()
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header_only() {
        let token = mint(ACCESS_PREFIX, &[1; 32]);
        assert_eq!(
            bearer_token(Some(&format!("Bearer {token}"))),
            Ok(token.as_str())
        );
        assert_eq!(
            bearer_token(Some(&format!("bearer  {token} "))),
            Ok(token.as_str())
        );
        assert_eq!(bearer_token(None), Err(AccessError::Missing));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AccessError::Missing));
        assert_eq!(bearer_token(Some("Bearer")), Err(AccessError::Missing));
        for bad in [
            "Bearer gho_githubtoken".to_owned(),
            format!("Bearer {}", mint("sb_rt_", &[1; 32])),
            format!("Bearer {token}x"),
            format!("Bearer {}", &token[..token.len() - 1]),
            format!("Bearer {}!", &token[..token.len() - 1]),
        ] {
            assert_eq!(
                bearer_token(Some(&bad)),
                Err(AccessError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(lookup_key(&token), access_key(&hash_token(&token)));
    }

    #[test]
    fn a_good_token_names_its_user() {
        let principal = check_access(
            Some(&record()),
            ScopeSet::only(Scope::NotesRead),
            &urls(),
            &allow(),
            NOW,
        )
        .unwrap();
        assert_eq!(principal.user_id, 42);
        assert_eq!(principal.client_id, "sbc_client");
    }

    #[test]
    fn expired_foreign_unknown_and_disallowed_tokens_are_401() {
        let needed = ScopeSet::only(Scope::NotesRead);
        let expired = check_access(Some(&record()), needed, &urls(), &allow(), NOW + 3_600_000);
        assert_eq!(expired, Err(AccessError::Expired));
        let mut foreign = record();
        foreign.resource = "https://other.example/mcp".into();
        assert_eq!(
            check_access(Some(&foreign), needed, &urls(), &allow(), NOW),
            Err(AccessError::WrongAudience)
        );
        assert_eq!(
            check_access(None, needed, &urls(), &allow(), NOW),
            Err(AccessError::Unknown)
        );
        assert_eq!(
            check_access(Some(&record()), needed, &urls(), &Allowlist::default(), NOW),
            Err(AccessError::NotAllowed)
        );
        for err in [
            AccessError::Expired,
            AccessError::WrongAudience,
            AccessError::Unknown,
            AccessError::NotAllowed,
            AccessError::Malformed,
        ] {
            let reply = err.reply(&urls());
            assert_eq!(reply.status, 401, "{err:?}");
            let challenge = reply.header("www-authenticate").unwrap();
            assert!(challenge.starts_with("Bearer error=\"invalid_token\""));
            assert!(challenge.contains("resource_metadata="));
        }
        let missing = AccessError::Missing.reply(&urls());
        assert_eq!(missing.status, 401);
        assert!(
            !missing
                .header("www-authenticate")
                .unwrap()
                .contains("error=")
        );
    }

    #[test]
    fn missing_scope_is_403() {
        let err = check_access(Some(&record()), ScopeSet::ALL, &urls(), &allow(), NOW).unwrap_err();
        assert_eq!(
            err,
            AccessError::InsufficientScope {
                needed: ScopeSet::ALL
            }
        );
        assert_eq!(err.kind(), "insufficient_scope");
        let reply = err.reply(&urls());
        assert_eq!(reply.status, 403);
        assert!(
            reply.header("www-authenticate").unwrap().starts_with(
                "Bearer error=\"insufficient_scope\", scope=\"notes:read notes:write\""
            )
        );
    }
}
