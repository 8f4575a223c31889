//! `GET /authorize`: checking an authorization request, and the pending authorization that
//! travels in the sign-in cookie until GitHub sends the user back.
//!
//! Errors come in two kinds (RFC 6749 section 4.1.2.1): when the client or the redirect URI
//! cannot be trusted (unknown client, redirect URI not registered exactly) we must not
//! redirect, and show a page instead; every later error redirects back to the client with
//! `error`, `state` and `iss` (RFC 9207). Registration is open to anyone, so an exact match
//! with a registered URI proves nothing about it until a user has approved the client: until
//! the client has a consent on record, those later errors are shown as a page too
//! ([`AuthorizeError::unless_consented`]), or `/authorize` would be an open redirect anyone
//! could set up (RFC 9700 section 4.11.2).
//!
//! The adapter's sequence: read `client_id` with [`requested_client_id`], load
//! [`client_key`](super::storage::client_key), call [`validate`]; on a redirect error, read
//! [`consent_key`](super::storage::consent_key) and apply
//! [`AuthorizeError::unless_consented`]; on success make the
//! [`PendingAuthorization`] with [`AuthorizationRequest::begin`], seal it into the cookie
//! ([`cookie::seal`](super::cookie::seal)) and answer with the consent page
//! ([`consent::page`](super::consent::page)).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::endpoints::ServerUrls;
use super::params::{ParamError, Params, with_query};
use super::pkce::CodeChallenge;
use super::registration::{ClientRecord, looks_like_client_id};
use super::response::{ErrorCode, Reply, message_page};
use super::scope::ScopeSet;

/// The longest `state` we carry, in bytes (it rides in the cookie).
pub const MAX_STATE_LEN: usize = 512;

/// How long a sign-in may take from `/authorize` to the callback, in milliseconds.
pub const SIGN_IN_TTL_MS: u64 = 10 * 60 * 1000;

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Where the answer goes (one of the client's registered URIs, exactly).
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request (then the token request must repeat it).
    pub redirect_uri_given: bool,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// The client's `state`, returned as is.
    pub state: Option<String>,
    /// The audience: always our `/mcp` resource.
    pub resource: String,
    /// The scopes requested (all of ours when none were named).
    pub scope: ScopeSet,
}

/// A sign-in in flight: what the sign-in cookie carries (encrypted and authenticated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// Random id of this sign-in; marked used in KV when GitHub's callback arrives.
    pub flow_id: String,
    /// The client.
    pub client_id: String,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// Whether the client sent `redirect_uri`.
    pub redirect_uri_given: bool,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// The client's `state`.
    pub state: Option<String>,
    /// The audience.
    pub resource: String,
    /// The scopes.
    pub scope: ScopeSet,
    /// The consent form must echo this (CSRF).
    pub csrf_token: String,
    /// The `state` we sent GitHub; set only once the user approved on the consent page.
    pub upstream_state: Option<String>,
    /// When the sign-in started (ms since the epoch).
    pub created_at_ms: u64,
    /// When it stops being valid (ms since the epoch).
    pub expires_at_ms: u64,
}

/// Random bytes for a new sign-in, from the caller's CSPRNG.
#[derive(Clone)]
pub struct FlowRandom {
    /// For the flow id.
    pub flow_id: [u8; 16],
    /// For the consent form's CSRF token.
    pub csrf_token: [u8; 32],
}

impl std::fmt::Debug for FlowRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowRandom(..)")
    }
}

impl AuthorizationRequest {
    /// Starts the sign-in: the pending authorization to seal into the cookie.
    pub fn begin(self, now_ms: u64, random: &FlowRandom) -> PendingAuthorization {
        PendingAuthorization {
            flow_id: URL_SAFE_NO_PAD.encode(random.flow_id),
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            redirect_uri_given: self.redirect_uri_given,
            code_challenge: self.code_challenge,
            state: self.state,
            resource: self.resource,
            scope: self.scope,
            csrf_token: URL_SAFE_NO_PAD.encode(random.csrf_token),
            upstream_state: None,
            created_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(SIGN_IN_TTL_MS),
        }
    }
}

impl PendingAuthorization {
    /// A redirect back to the client with an error (and `state`, `iss`).
    pub fn error_redirect(&self, error: ErrorCode, description: &str) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description: description.to_owned(),
        }
    }
}

/// An error we must not redirect: shown to the user as a page.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NotRedirectable {
    /// `client_id` missing.
    #[error("the request does not name a client (client_id is missing)")]
    MissingClientId,
    /// `client_id` or `redirect_uri` repeated.
    #[error("the {0} parameter is repeated")]
    RepeatedParameter(&'static str),
    /// No such client (never registered, or expired).
    #[error(
        "this app is not registered with this server (or its registration expired); reconnect it from the app"
    )]
    UnknownClient,
    /// No `redirect_uri`, and the client registered several.
    #[error("the request must include redirect_uri")]
    MissingRedirectUri,
    /// `redirect_uri` is not exactly one of the client's registered URIs.
    #[error("the redirect_uri is not registered for this app")]
    RedirectUriNotRegistered,
    /// An error that would go back to the client, for a client nobody has approved yet.
    #[error(
        "{description} ({}). This app has not been approved on this server yet, so the error \
         is shown here rather than sent back to it.",
        .error.as_str()
    )]
    NotYetConsented {
        /// The error code the redirect would have carried.
        error: ErrorCode,
        /// Its description.
        description: String,
    },
}

/// An error to send back to the client by redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    /// The client's registered redirect URI.
    pub redirect_uri: String,
    /// The client's `state`, if any.
    pub state: Option<String>,
    /// The error code.
    pub error: ErrorCode,
    /// A short description.
    pub description: String,
}

impl ErrorRedirect {
    /// The redirect's URL: `redirect_uri` plus `error`, `error_description`, `state`, `iss`.
    pub fn location(&self, urls: &ServerUrls) -> String {
        with_query(
            &self.redirect_uri,
            &[
                ("error", Some(self.error.as_str())),
                ("error_description", Some(&self.description)),
                ("state", self.state.as_deref()),
                ("iss", Some(urls.issuer())),
            ],
        )
    }

    /// The `302` reply.
    pub fn reply(&self, urls: &ServerUrls) -> Reply {
        Reply::redirect(self.location(urls))
    }
}

/// Why an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthorizeError {
    /// Show a page; do not redirect.
    #[error("{0}")]
    NotRedirectable(NotRedirectable),
    /// Redirect back to the client with the error.
    #[error("{}: {}", .0.error.as_str(), .0.description)]
    Redirect(ErrorRedirect),
}

impl AuthorizeError {
    /// The error as it may be answered: a redirect only when the client has a consent on
    /// record (`consented`), else the same error as a page.
    pub fn unless_consented(self, consented: bool) -> Self {
        match self {
            AuthorizeError::Redirect(redirect) if !consented => {
                AuthorizeError::NotRedirectable(NotRedirectable::NotYetConsented {
                    error: redirect.error,
                    description: redirect.description,
                })
            }
            other => other,
        }
    }

    /// The reply: a 400 page, or a 302 to the client.
    pub fn reply(&self, urls: &ServerUrls) -> Reply {
        match self {
            AuthorizeError::NotRedirectable(reason) => message_page(
                400,
                "This sign-in request is not valid",
                &reason.to_string(),
            ),
            AuthorizeError::Redirect(redirect) => redirect.reply(urls),
        }
    }
}

/// The `client_id` to look up before calling [`validate`] (`None` if absent, repeated or not
/// shaped like one of ours: there is nothing to look up, and [`validate`] reports it).
pub fn requested_client_id(params: &Params) -> Option<&str> {
    params
        .get("client_id")
        .ok()
        .flatten()
        .filter(|id| looks_like_client_id(id))
}

/// Checks an authorization request against the client record the adapter loaded for
/// [`requested_client_id`] (`None` if there is none).
pub fn validate(
    params: &Params,
    client: Option<&ClientRecord>,
    urls: &ServerUrls,
    now_ms: u64,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let stop = AuthorizeError::NotRedirectable;
    let client_id = match params.get("client_id") {
        Err(_) => return Err(stop(NotRedirectable::RepeatedParameter("client_id"))),
        Ok(None) => return Err(stop(NotRedirectable::MissingClientId)),
        Ok(Some(id)) => id,
    };
    let client = client
        .filter(|client| client.client_id == client_id && !client.is_expired(now_ms))
        .ok_or(stop(NotRedirectable::UnknownClient))?;
    let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
        Err(_) => return Err(stop(NotRedirectable::RepeatedParameter("redirect_uri"))),
        Ok(Some(uri)) if client.has_redirect_uri(uri) => (uri.to_owned(), true),
        Ok(Some(_)) => return Err(stop(NotRedirectable::RedirectUriNotRegistered)),
        // OAuth 2.1: optional when exactly one redirect URI is registered.
        Ok(None) => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            _ => return Err(stop(NotRedirectable::MissingRedirectUri)),
        },
    };

    // From here on the redirect URI is trusted: errors go back to the client.
    let state = params.get("state");
    let redirect = |state: Option<&str>, error: ErrorCode, description: String| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            state: state.map(str::to_owned),
            error,
            description,
        })
    };
    let state = match state {
        Err(err) => return Err(redirect(None, ErrorCode::InvalidRequest, err.to_string())),
        Ok(Some(state)) if state.len() > MAX_STATE_LEN => {
            return Err(redirect(
                None,
                ErrorCode::InvalidRequest,
                format!("state must be at most {MAX_STATE_LEN} bytes"),
            ));
        }
        Ok(state) => state,
    };
    let invalid = |err: ParamError| redirect(state, ErrorCode::InvalidRequest, err.to_string());

    match params.require("response_type").map_err(invalid)? {
        "code" => {}
        _ => {
            return Err(redirect(
                state,
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported".into(),
            ));
        }
    }
    let code_challenge = CodeChallenge::parse(
        params.get("code_challenge").map_err(invalid)?,
        params.get("code_challenge_method").map_err(invalid)?,
    )
    .map_err(|err| redirect(state, ErrorCode::InvalidRequest, err.to_string()))?;
    match params.get("resource").map_err(invalid)? {
        Some(resource) if !urls.is_our_resource(resource) => {
            return Err(redirect(
                state,
                ErrorCode::InvalidTarget,
                format!("resource must be {}", urls.resource()),
            ));
        }
        _ => {}
    }
    let scope = ScopeSet::requested(params.get("scope").map_err(invalid)?)
        .map_err(|err| redirect(state, ErrorCode::InvalidScope, err.to_string()))?;
    if !scope.is_subset_of(client.scope) {
        return Err(redirect(
            state,
            ErrorCode::InvalidScope,
            format!("this app may only request: {}", client.scope),
        ));
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_given,
        code_challenge,
        state: state.map(str::to_owned),
        resource: urls.resource(),
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::pkce::s256;
    use crate::oauth::registration::AuthMethod;
    use crate::oauth::scope::Scope;

    const NOW: u64 = 1_750_000_000_000;
    const REDIRECT: &str = "http://127.0.0.1:33418/callback";
    const CLIENT: &str = "sbc_AAAAAAAAAAAAAAAAAAAAAA";

    fn urls() -> ServerUrls {
        ServerUrls::new("https://brain.example.com").unwrap()
    }

    fn client(uris: &[&str]) -> ClientRecord {
        ClientRecord {
            client_id: CLIENT.into(),
            client_name: Some("Test client".into()),
            redirect_uris: uris.iter().map(|uri| (*uri).to_owned()).collect(),
            auth_method: AuthMethod::None,
            secret_hash: None,
            refresh_allowed: true,
            scope: ScopeSet::ALL,
            created_at_ms: NOW - 1000,
            expires_at_ms: NOW + 1_000_000,
        }
    }

    fn challenge() -> String {
        s256(&"v".repeat(43))
    }

    fn query(extra: &[(&str, &str)]) -> Params {
        let mut pairs = vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".to_owned(), CLIENT.to_owned()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("code_challenge".to_owned(), challenge()),
            ("code_challenge_method".to_owned(), "S256".to_owned()),
            ("state".to_owned(), "client-state".to_owned()),
            (
                "resource".to_owned(),
                "https://brain.example.com/mcp".to_owned(),
            ),
        ];
        for (name, value) in extra {
            pairs.retain(|(key, _)| key != name);
            if !value.is_empty() {
                pairs.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        Params::from_pairs(pairs)
    }

    fn check(params: &Params) -> Result<AuthorizationRequest, AuthorizeError> {
        validate(params, Some(&client(&[REDIRECT])), &urls(), NOW)
    }

    fn redirect_error(result: Result<AuthorizationRequest, AuthorizeError>) -> ErrorRedirect {
        match result {
            Err(AuthorizeError::Redirect(redirect)) => redirect,
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_starts_a_sign_in() {
        let request = check(&query(&[("scope", "notes:read")])).unwrap();
        assert_eq!(request.redirect_uri, REDIRECT);
        assert!(request.redirect_uri_given);
        assert_eq!(request.state.as_deref(), Some("client-state"));
        assert_eq!(request.resource, "https://brain.example.com/mcp");
        assert_eq!(request.scope, ScopeSet::only(Scope::NotesRead));
        let pending = request.begin(
            NOW,
            &FlowRandom {
                flow_id: [1; 16],
                csrf_token: [2; 32],
            },
        );
        assert_eq!(pending.expires_at_ms, NOW + SIGN_IN_TTL_MS);
        assert_eq!(pending.upstream_state, None);
        assert_eq!(pending.csrf_token.len(), 43);
        assert_eq!(pending.flow_id.len(), 22);
    }

    #[test]
    fn resource_and_scope_default_to_ours() {
        let request = check(&query(&[("resource", ""), ("state", "")])).unwrap();
        assert_eq!(request.resource, "https://brain.example.com/mcp");
        assert_eq!(request.scope, ScopeSet::ALL);
        assert_eq!(request.state, None);
    }

    #[test]
    fn redirect_uri_may_be_omitted_only_with_a_single_registration() {
        let params = query(&[("redirect_uri", "")]);
        let request = validate(&params, Some(&client(&[REDIRECT])), &urls(), NOW).unwrap();
        assert_eq!(request.redirect_uri, REDIRECT);
        assert!(!request.redirect_uri_given);
        let two = client(&[REDIRECT, "https://app.example/cb"]);
        assert_eq!(
            validate(&params, Some(&two), &urls(), NOW),
            Err(AuthorizeError::NotRedirectable(
                NotRedirectable::MissingRedirectUri
            ))
        );
    }

    #[test]
    fn mismatched_redirect_uris_are_never_redirected_to() {
        for uri in [
            "http://127.0.0.1:33419/callback",
            "http://127.0.0.1:33418/callback/",
            "http://localhost:33418/callback",
            "http://127.0.0.1:33418/callback?x=1",
            "https://evil.example/callback",
        ] {
            let err = check(&query(&[("redirect_uri", uri)])).unwrap_err();
            assert_eq!(
                err,
                AuthorizeError::NotRedirectable(NotRedirectable::RedirectUriNotRegistered),
                "{uri}"
            );
            let reply = err.reply(&urls());
            assert_eq!(reply.status, 400);
            assert_eq!(reply.header("location"), None);
        }
    }

    #[test]
    fn unknown_or_expired_clients_are_not_redirected() {
        let params = query(&[]);
        let stop = |reason| Err(AuthorizeError::NotRedirectable(reason));
        assert_eq!(
            validate(&params, None, &urls(), NOW),
            stop(NotRedirectable::UnknownClient)
        );
        let mut expired = client(&[REDIRECT]);
        expired.expires_at_ms = NOW;
        assert_eq!(
            validate(&params, Some(&expired), &urls(), NOW),
            stop(NotRedirectable::UnknownClient)
        );
        let mut other = client(&[REDIRECT]);
        other.client_id = "sbc_other".into();
        assert_eq!(
            validate(&params, Some(&other), &urls(), NOW),
            stop(NotRedirectable::UnknownClient)
        );
        assert_eq!(
            check(&query(&[("client_id", "")])),
            stop(NotRedirectable::MissingClientId)
        );
        let repeated = Params::from_pairs([
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("client_id", "sbc_x"),
            ("redirect_uri", REDIRECT),
        ]);
        assert_eq!(
            check(&repeated),
            stop(NotRedirectable::RepeatedParameter("client_id"))
        );
        assert_eq!(requested_client_id(&repeated), None);
        assert_eq!(requested_client_id(&query(&[])), Some(CLIENT));
        assert_eq!(
            requested_client_id(&query(&[("client_id", "sbc_client")])),
            None
        );
    }

    #[test]
    fn later_errors_redirect_with_error_state_and_iss() {
        let cases = [
            (
                vec![("response_type", "token")],
                ErrorCode::UnsupportedResponseType,
            ),
            (vec![("response_type", "")], ErrorCode::InvalidRequest),
            (vec![("code_challenge", "")], ErrorCode::InvalidRequest),
            (
                vec![("code_challenge_method", "plain")],
                ErrorCode::InvalidRequest,
            ),
            (
                vec![("code_challenge_method", "")],
                ErrorCode::InvalidRequest,
            ),
            (
                vec![("resource", "https://other.example/mcp")],
                ErrorCode::InvalidTarget,
            ),
            (
                vec![("resource", "https://brain.example.com/")],
                ErrorCode::InvalidTarget,
            ),
            (vec![("scope", "notes:read admin")], ErrorCode::InvalidScope),
        ];
        for (extra, code) in cases {
            let redirect = redirect_error(check(&query(&extra)));
            assert_eq!(redirect.error, code, "{extra:?}");
            assert_eq!(redirect.state.as_deref(), Some("client-state"));
            let location = redirect.location(&urls());
            assert!(
                location.starts_with("http://127.0.0.1:33418/callback?error="),
                "{location}"
            );
            assert!(location.contains("&state=client-state"));
            assert!(location.ends_with("&iss=https%3A%2F%2Fbrain.example.com"));
            assert_eq!(redirect.reply(&urls()).status, 302);
        }
    }

    #[test]
    fn later_errors_for_a_client_nobody_approved_are_pages() {
        let err = check(&query(&[("resource", "https://other.example/mcp")])).unwrap_err();
        assert!(matches!(err, AuthorizeError::Redirect(_)));
        let kept = err.clone().unless_consented(true);
        assert_eq!(kept, err);
        assert_eq!(kept.reply(&urls()).status, 302);
        let page = err.unless_consented(false);
        assert!(
            matches!(
                &page,
                AuthorizeError::NotRedirectable(NotRedirectable::NotYetConsented {
                    error: ErrorCode::InvalidTarget,
                    ..
                })
            ),
            "{page:?}"
        );
        let reply = page.reply(&urls());
        assert_eq!(reply.status, 400);
        assert_eq!(reply.header("location"), None);
        assert!(page.to_string().contains("invalid_target"), "{page}");
        assert!(
            !reply.body.contains("33418"),
            "the page does not link the redirect URI"
        );
        // Errors that never redirect stay as they are.
        let stop = AuthorizeError::NotRedirectable(NotRedirectable::UnknownClient);
        assert_eq!(stop.clone().unless_consented(false), stop);
    }

    #[test]
    fn scope_beyond_the_clients_registration_is_refused() {
        let mut narrow = client(&[REDIRECT]);
        narrow.scope = ScopeSet::only(Scope::NotesRead);
        let redirect = redirect_error(validate(&query(&[]), Some(&narrow), &urls(), NOW));
        assert_eq!(redirect.error, ErrorCode::InvalidScope);
    }

    #[test]
    fn oversized_or_repeated_state_is_refused_without_echoing_it() {
        let long = "s".repeat(MAX_STATE_LEN + 1);
        let redirect = redirect_error(check(&query(&[("state", &long)])));
        assert_eq!(redirect.error, ErrorCode::InvalidRequest);
        assert_eq!(redirect.state, None);
        let mut pairs: Vec<(String, String)> = vec![
            ("client_id".into(), CLIENT.into()),
            ("state".into(), "a".into()),
            ("state".into(), "b".into()),
        ];
        pairs.push(("response_type".into(), "code".into()));
        let redirect = redirect_error(check(&Params::from_pairs(pairs)));
        assert_eq!(redirect.error, ErrorCode::InvalidRequest);
        assert_eq!(redirect.state, None);
    }
}
