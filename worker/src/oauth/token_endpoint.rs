//! `POST /token`: the `authorization_code` and `refresh_token` grants, as pure functions over
//! the form and the records the adapter read.
//!
//! The adapter's sequence:
//! 1. [`TokenRequest::parse`] the form (and `Authorization`); on error send
//!    [`TokenError::reply`];
//! 2. read [`client_key`](super::storage::client_key) for [`TokenRequest::client_id`];
//! 3. for a code: read [`CodeExchange::code_key`], and if that record was already redeemed,
//!    the grant it names ([`CodeRecord::redeemed_grant`]); call [`CodeExchange::redeem`];
//! 4. for a refresh token: read [`RefreshExchange::refresh_key`], then the grant its record
//!    names; call [`RefreshExchange::rotate`];
//! 5. when the outcome names a [`LedgerCheck`], send its request to the user's Durable Object
//!    first ([`ledger`](super::ledger)); if the object refuses what the KV records allowed,
//!    send [`ledger_refusal`] instead (reading the replayed code's grant for it);
//! 6. apply the outcome's writes in order, then send its reply.
//!
//! Rules enforced: the client authenticates as registered; a code is redeemable once, within
//! its 60 s, by the client it was issued to, with the same redirect URI and a matching PKCE
//! verifier, and a second use revokes what the first produced (OAuth 2.1 section 4.1.3); a
//! code that fails these checks after it was found is deleted. Refresh tokens rotate: each use
//! returns a new one and retires the old; presenting a retired one revokes the whole grant
//! (RFC 9700 section 4.14.2). The allowlist is checked again at every issue, so removing a user
//! stops their refreshes at once. Single use is exact everywhere because the user's object
//! decides it (step 5); the KV checks before it catch the common, sequential cases.

use super::client_auth::{Credentials, TokenError};
use super::endpoints::ServerUrls;
use super::github::Allowlist;
use super::ledger::{LedgerAnswer, LedgerRequest};
use super::params::Params;
use super::registration::{ClientRecord, RegistrationPolicy};
use super::response::{ErrorCode, Reply};
use super::scope::ScopeSet;
use super::storage::{KvWrite, access_key, code_key, grant_key, refresh_key, ttl_until};
use super::tokens::{
    CodeRecord, Grant, GrantTerms, IssueRandom, Lifetimes, RefreshRecord, TokenHash, hash_token,
    issue_tokens, revoke_grant,
};

/// What the token endpoint needs besides the request.
#[derive(Debug, Clone)]
pub struct TokenContext<'a> {
    /// Our URLs (the resource).
    pub urls: &'a ServerUrls,
    /// Who may hold tokens.
    pub allowlist: &'a Allowlist,
    /// Token lifetimes.
    pub lifetimes: Lifetimes,
    /// Client lifetimes (clients are renewed when they get tokens).
    pub registration: &'a RegistrationPolicy,
}

/// A parsed token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// `grant_type=authorization_code`.
    Code(CodeExchange),
    /// `grant_type=refresh_token`.
    Refresh(RefreshExchange),
}

/// An `authorization_code` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeExchange {
    credentials: Credentials,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    resource: Option<String>,
}

/// A `refresh_token` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshExchange {
    credentials: Credentials,
    refresh_token: String,
    scope: Option<String>,
    resource: Option<String>,
}

/// What to do: ask the user's object (if [`TokenOutcome::ledger`] says so), apply the writes
/// (in order), then send the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOutcome {
    /// The reply.
    pub reply: Reply,
    /// KV writes.
    pub writes: Vec<KvWrite>,
    /// What the user's object must decide (or be told) before the writes are applied.
    pub ledger: Option<LedgerCheck>,
}

/// A question for the user's object: for a success, whether it stands; for a refusal that
/// revokes a grant, a notice (its answer changes nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCheck {
    /// Whose object decides.
    pub user_id: u64,
    /// What it decides.
    pub request: LedgerRequest,
    /// The grant as KV has it, for the refusal's writes (refresh rotation only).
    pub grant: Option<Grant>,
}

impl TokenOutcome {
    fn error(error: TokenError, writes: Vec<KvWrite>) -> Self {
        TokenOutcome {
            reply: error.reply(),
            writes,
            ledger: None,
        }
    }

    /// An error that also revokes `grant`, in KV (the writes) and in the user's object.
    fn revoking(error: TokenError, grant: &Grant) -> Self {
        TokenOutcome {
            reply: error.reply(),
            writes: revoke_grant(grant),
            ledger: Some(LedgerCheck {
                user_id: grant.user_id,
                request: LedgerRequest::RevokeGrant {
                    grant_id: grant.grant_id.clone(),
                },
                grant: None,
            }),
        }
    }
}

/// The outcome when the user's object refused a success the KV records allowed: `invalid_grant`,
/// and the grant it names (`grant`, as KV has it, if found) revoked in KV too.
pub fn ledger_refusal(answer: &LedgerAnswer, grant: Option<&Grant>) -> TokenOutcome {
    let why = match answer {
        LedgerAnswer::CodeReplayed { .. } => "the code was already used",
        LedgerAnswer::RefreshReused => "the refresh token was already used",
        LedgerAnswer::GrantRevoked | LedgerAnswer::Granted => {
            "the refresh token is unknown, expired or revoked"
        }
    };
    TokenOutcome::error(
        TokenError::invalid_grant(why),
        grant.map(revoke_grant).unwrap_or_default(),
    )
}

impl TokenRequest {
    /// Parses the form and the `Authorization` header.
    pub fn parse(params: &Params, authorization: Option<&str>) -> Result<Self, TokenError> {
        let get = |name| params.get(name).map_err(TokenError::invalid_request);
        let require = |name| {
            params
                .require(name)
                .map(str::to_owned)
                .map_err(TokenError::invalid_request)
        };
        // The request's own fields first, then who is asking.
        match require("grant_type")?.as_str() {
            "authorization_code" => {
                let code = require("code")?;
                let redirect_uri = get("redirect_uri")?.map(str::to_owned);
                let code_verifier = get("code_verifier")?.map(str::to_owned);
                let resource = get("resource")?.map(str::to_owned);
                Ok(TokenRequest::Code(CodeExchange {
                    credentials: Credentials::from_request(params, authorization)?,
                    code,
                    redirect_uri,
                    code_verifier,
                    resource,
                }))
            }
            "refresh_token" => {
                let refresh_token = require("refresh_token")?;
                let scope = get("scope")?.map(str::to_owned);
                let resource = get("resource")?.map(str::to_owned);
                Ok(TokenRequest::Refresh(RefreshExchange {
                    credentials: Credentials::from_request(params, authorization)?,
                    refresh_token,
                    scope,
                    resource,
                }))
            }
            _ => Err(TokenError::new(
                ErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code or refresh_token",
            )),
        }
    }

    /// The client id to load the client record for.
    pub fn client_id(&self) -> &str {
        match self {
            TokenRequest::Code(exchange) => exchange.credentials.client_id(),
            TokenRequest::Refresh(exchange) => exchange.credentials.client_id(),
        }
    }
}

fn check_resource(given: Option<&str>, bound: &str, urls: &ServerUrls) -> Result<(), TokenError> {
    match given {
        Some(resource) if !urls.is_our_resource(resource) || bound != urls.resource() => {
            Err(TokenError::new(
                ErrorCode::InvalidTarget,
                format!("resource must be {}", urls.resource()),
            ))
        }
        _ => Ok(()),
    }
}

impl CodeExchange {
    /// The KV key of the code's record.
    pub fn code_key(&self) -> String {
        code_key(&hash_token(&self.code))
    }

    /// Redeems the code. `code` is the record under [`Self::code_key`]; `prior_grant` is the
    /// grant named by its `redeemed_grant`, when it has one.
    pub fn redeem(
        self,
        code: Option<CodeRecord>,
        client: Option<&ClientRecord>,
        prior_grant: Option<&Grant>,
        context: &TokenContext<'_>,
        now_ms: u64,
        random: &IssueRandom,
    ) -> TokenOutcome {
        let client = match self.credentials.authenticate(client, now_ms) {
            Ok(client) => client,
            Err(err) => return TokenOutcome::error(err, Vec::new()),
        };
        let Some(mut record) = code else {
            return TokenOutcome::error(
                TokenError::invalid_grant("the code is unknown or expired"),
                Vec::new(),
            );
        };
        if let Some(grant_id) = &record.redeemed_grant {
            // A second use: whoever holds the code, what the first use produced is suspect.
            let error = TokenError::invalid_grant("the code was already used");
            return match prior_grant.filter(|grant| &grant.grant_id == grant_id) {
                Some(grant) => TokenOutcome::revoking(error, grant),
                None => TokenOutcome::error(error, Vec::new()),
            };
        }
        let burn = vec![KvWrite::delete(self.code_key())];
        let refuse = |why: &str| TokenOutcome::error(TokenError::invalid_grant(why), burn.clone());
        if record.client_id != client.client_id {
            return refuse("the code was issued to another client");
        }
        if now_ms >= record.expires_at_ms {
            return refuse("the code is unknown or expired");
        }
        let redirect_ok = match (&self.redirect_uri, record.redirect_uri_given) {
            (Some(given), _) => given == &record.redirect_uri,
            (None, given_before) => !given_before,
        };
        if !redirect_ok {
            return refuse("redirect_uri does not match the authorization request");
        }
        if let Err(err) = record.code_challenge.verify(self.code_verifier.as_deref()) {
            return refuse(&err.to_string());
        }
        if let Err(err) = check_resource(self.resource.as_deref(), &record.resource, context.urls) {
            return TokenOutcome::error(err, burn);
        }
        if !context.allowlist.allows(record.user_id) {
            return refuse("this account is no longer allowed");
        }
        let terms = GrantTerms {
            user_id: record.user_id,
            client_id: client.client_id.clone(),
            scope: record.scope,
            resource: record.resource.clone(),
        };
        let issued = issue_tokens(
            &terms,
            None,
            client.refresh_allowed,
            now_ms,
            &context.lifetimes,
            random,
        );
        record.redeemed_grant = Some(issued.grant.grant_id.clone());
        let ledger = LedgerCheck {
            user_id: record.user_id,
            request: LedgerRequest::RedeemCode {
                code_hash: hash_token(&self.code).as_hex().to_owned(),
                code_expires_at_ms: record.expires_at_ms,
                grant_id: issued.grant.grant_id.clone(),
                refresh_hash: issued.grant.refresh_hash.clone(),
                grant_expires_at_ms: issued.grant.expires_at_ms,
            },
            grant: None,
        };
        let mut writes = issued.writes;
        writes.push(KvWrite::put_json(
            self.code_key(),
            &record,
            ttl_until(record.expires_at_ms, now_ms),
        ));
        writes.push(client.renewal(context.registration, now_ms));
        TokenOutcome {
            reply: Reply::json_no_store(200, &issued.response).with_public_cors(),
            writes,
            ledger: Some(ledger),
        }
    }
}

impl RefreshExchange {
    /// The KV key of the refresh token's record.
    pub fn refresh_key(&self) -> String {
        refresh_key(&hash_token(&self.refresh_token))
    }

    /// The KV key of the grant a refresh record belongs to.
    pub fn grant_key(record: &RefreshRecord) -> String {
        grant_key(&record.grant_id)
    }

    /// Rotates the refresh token. `record` is under [`Self::refresh_key`]; `grant` under
    /// [`Self::grant_key`] of that record.
    pub fn rotate(
        self,
        record: Option<RefreshRecord>,
        grant: Option<Grant>,
        client: Option<&ClientRecord>,
        context: &TokenContext<'_>,
        now_ms: u64,
        random: &IssueRandom,
    ) -> TokenOutcome {
        let client = match self.credentials.authenticate(client, now_ms) {
            Ok(client) => client,
            Err(err) => return TokenOutcome::error(err, Vec::new()),
        };
        if !client.refresh_allowed {
            return TokenOutcome::error(
                TokenError::new(
                    ErrorCode::UnauthorizedClient,
                    "this client did not register the refresh_token grant",
                ),
                Vec::new(),
            );
        }
        let invalid =
            |why: &str, writes| TokenOutcome::error(TokenError::invalid_grant(why), writes);
        let (Some(mut record), Some(grant)) = (record, grant) else {
            return invalid(
                "the refresh token is unknown, expired or revoked",
                Vec::new(),
            );
        };
        if record.grant_id != grant.grant_id {
            return invalid(
                "the refresh token is unknown, expired or revoked",
                Vec::new(),
            );
        }
        let hash = hash_token(&self.refresh_token);
        if record.client_id != client.client_id || grant.client_id != client.client_id {
            // Another client holding this token means it leaked: end the grant.
            return TokenOutcome::revoking(
                TokenError::invalid_grant("the refresh token was issued to another client"),
                &grant,
            );
        }
        if record.rotated || grant.refresh_hash.as_deref() != Some(hash.as_hex()) {
            // A retired token came back: someone kept a copy. End the whole family.
            return TokenOutcome::revoking(
                TokenError::invalid_grant("the refresh token was already used"),
                &grant,
            );
        }
        if now_ms >= record.expires_at_ms {
            return invalid("the refresh token expired", Vec::new());
        }
        if !context.allowlist.allows(grant.user_id) {
            return TokenOutcome::revoking(
                TokenError::invalid_grant("this account is no longer allowed"),
                &grant,
            );
        }
        let scope = match self.scope.as_deref().map(ScopeSet::parse).transpose() {
            Err(err) => {
                return TokenOutcome::error(
                    TokenError::new(ErrorCode::InvalidScope, err),
                    Vec::new(),
                );
            }
            Ok(None) => grant.scope,
            Ok(Some(asked)) if !asked.is_empty() && asked.is_subset_of(grant.scope) => asked,
            Ok(Some(_)) => {
                return TokenOutcome::error(
                    TokenError::new(ErrorCode::InvalidScope, "scope must be within the grant's"),
                    Vec::new(),
                );
            }
        };
        if let Err(err) = check_resource(self.resource.as_deref(), &grant.resource, context.urls) {
            return TokenOutcome::error(err, Vec::new());
        }
        let terms = GrantTerms {
            user_id: grant.user_id,
            client_id: client.client_id.clone(),
            scope,
            resource: grant.resource.clone(),
        };
        let issued = issue_tokens(
            &terms,
            Some(&grant),
            true,
            now_ms,
            &context.lifetimes,
            random,
        );
        record.rotated = true;
        let ledger = LedgerCheck {
            user_id: grant.user_id,
            request: LedgerRequest::RotateRefresh {
                grant_id: grant.grant_id.clone(),
                presented_hash: hash.as_hex().to_owned(),
                new_hash: issued.grant.refresh_hash.clone().unwrap_or_default(),
                grant_expires_at_ms: issued.grant.expires_at_ms,
            },
            grant: Some(grant.clone()),
        };
        let mut writes = issued.writes;
        // Keep the retired token until it would have expired, to recognize a replay.
        writes.push(KvWrite::put_json(
            self.refresh_key(),
            &record,
            ttl_until(record.expires_at_ms, now_ms),
        ));
        writes.push(KvWrite::delete(access_key(&TokenHash::from_hex(
            &grant.access_hash,
        ))));
        writes.push(client.renewal(context.registration, now_ms));
        TokenOutcome {
            reply: Reply::json_no_store(200, &issued.response).with_public_cors(),
            writes,
            ledger: Some(ledger),
        }
    }
}

#[cfg(test)]
mod tests;
