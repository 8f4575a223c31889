//! `/mcp` in the front Worker: admission, identity, and forwarding to the user's object.
//!
//! The head of the request is checked here ([`admit`]: origin, method, headers, declared size)
//! so refusals never wake a Durable Object. Then the user is identified and the request,
//! body still streaming, goes to the user's `MCPSessionDurableObject`, which reads the body and
//! serves it. Its response comes back unbuffered: only its headers are copied (to drop an
//! internal one and add the correlation id), so SSE streams flow event by event.
//!
//! Identity: a bearer access token (OAuth 2.1, [`crate::oauth::access`]): its GitHub user id
//! selects the object, and the object counts the request against the user's rate limits
//! (the front Worker sends them in [`LIMITS_HEADER`]; see `user_limits`). Missing or invalid
//! tokens get 401 with `WWW-Authenticate: Bearer resource_metadata=...`, a token without the
//! scopes gets 403. Scopes: every `/mcp` request needs `notes:read` (initialize, lists, reads,
//! searches, resources, prompts); tools that change notes (`write`, `edit`, `revert`) also
//! need `notes:write`, which the object checks per call, since only it reads the body: a
//! read-only token's write calls get an `isError` result saying so. The token's scopes travel
//! to the object in [`SCOPE_HEADER`].
//!
//! Local development can keep a shortcut, where the operator asked for it (`LOCAL_DEV=1` and
//! `DEV_WITHOUT_TOKEN=1`, as `scripts/dev.sh` runs, for a request from this machine only): a
//! request with no `Authorization` header is served as the `X-Dev-User` header's user, else
//! the `DEV_USER` var's, else `local-dev`, with no rate limit. Without it, such a request gets
//! the 401 that starts sign-in. Where sign-in is configured too, a token-less request naming
//! a session the dev user does not have gets 401, not 404: it is most likely a signed-in
//! client that lost its token, which must sign in again rather than start over, silently, as
//! the dev user.

use worker::{Env, Headers, Request, RequestInit, Response, Result};

use crate::config::Config;
use crate::loopback::CONNECTING_IP_HEADER;
use crate::mcp::headers::SESSION_ID;
use crate::mcp::transport::admit;
use crate::mcp_http;
use crate::oauth::access::{AccessError, bearer_token, check_access, lookup_key};
use crate::oauth::scope::{Scope, ScopeSet};
use crate::oauth::token_failures;
use crate::oauth::tokens::AccessRecord;
use crate::oauth_http::settings::limits_header;
use crate::oauth_http::{self, Decisions, OAUTH_KV, get_json, to_response};
use crate::reply;
use crate::session_object::{MCP_URL, SCOPE_HEADER, USER_HEADER, object_name};
use crate::user_limits::{DECISION_HEADER, LIMITS_HEADER};

/// The local-development header that names the user.
const DEV_USER_HEADER: &str = "x-dev-user";
/// The user when neither the header nor `DEV_USER` names one.
const DEFAULT_DEV_USER: &str = "local-dev";
/// The longest user id accepted.
const MAX_USER_LEN: usize = 64;

/// Serves `/mcp`.
pub(crate) async fn serve(
    req: Request,
    env: &Env,
    config: &Config,
    decisions: &Decisions,
) -> Result<Response> {
    let transport = mcp_http::transport_config(config);
    let method = req.method().to_string();
    let length = mcp_http::content_length(req.headers());
    if let Err(rejection) = admit(&method, req.headers(), length, &transport) {
        return mcp_http::rejection(&rejection);
    }
    let authorization = req.headers().get("authorization")?;
    if authorization.is_none() && config.dev_without_token {
        let dev_var = env.var("DEV_USER").ok().map(|v| v.to_string());
        let header = req.headers().get(DEV_USER_HEADER)?;
        let Some(user) = dev_user(header.as_deref(), dev_var.as_deref()) else {
            return reply::error(
                400,
                "invalid_user",
                "X-Dev-User must be 1 to 64 letters, digits, '.', '_' or '-'",
            );
        };
        decisions.auth("dev_user");
        let names_session = req.headers().has(SESSION_ID)?;
        let settings = oauth_http::settings(&req, env, config)?;
        let response = forward(req, env, &user, None, decisions).await?;
        return match settings {
            Ok(settings) if names_session && response.status_code() == 404 => {
                decisions.auth("session_needs_token");
                to_response(AccessError::Missing.reply(&settings.urls))
            }
            _ => Ok(response),
        };
    }
    let settings = match oauth_http::settings(&req, env, config)? {
        Ok(settings) => settings,
        Err(err) => return oauth_http::misconfigured(&err),
    };
    // Made-up tokens are counted per address and, past the limit, refused before any lookup.
    let address = req.headers().get(CONNECTING_IP_HEADER)?;
    let now = oauth_http::now_ms();
    if authorization.is_some()
        && let Err(retry_after) =
            oauth_http::token_failures(|failures| failures.check(address.as_deref(), now))
    {
        decisions.auth("token_limited");
        return to_response(token_failures::limited_reply(retry_after));
    }
    let refused = |err: AccessError| {
        if !matches!(
            err,
            AccessError::Missing | AccessError::InsufficientScope { .. }
        ) {
            oauth_http::token_failures(|failures| failures.record(address.as_deref(), now));
        }
        decisions.auth(err.kind());
        to_response(err.reply(&settings.urls))
    };
    let token = match bearer_token(authorization.as_deref()) {
        Ok(token) => token,
        Err(err) => return refused(err),
    };
    let record: Option<AccessRecord> = get_json(&env.kv(OAUTH_KV)?, &lookup_key(token)).await?;
    let principal = match check_access(
        record.as_ref(),
        ScopeSet::only(Scope::NotesRead),
        &settings.urls,
        &settings.allowlist,
        now,
    ) {
        Ok(principal) => principal,
        Err(err) => return refused(err),
    };
    decisions.auth("bearer_ok");
    let user = principal.user_id.to_string();
    let limits = limits_header(&settings.rate_limits);
    let forwarding = Forwarding {
        limits: &limits,
        scope: &principal.scope.to_string(),
    };
    forward(req, env, &user, Some(forwarding), decisions).await
}

/// What the object is told about a signed-in request.
struct Forwarding<'a> {
    /// [`LIMITS_HEADER`]'s value.
    limits: &'a str,
    /// The token's scopes, for [`SCOPE_HEADER`].
    scope: &'a str,
}

/// Sends the request to `user`'s object; records the object's rate-limit decision and keeps
/// that internal header from the client.
async fn forward(
    req: Request,
    env: &Env,
    user: &str,
    signed_in: Option<Forwarding<'_>>,
    decisions: &Decisions,
) -> Result<Response> {
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&object_name(user))?;
    let response = stub
        .fetch_with_request(forwarded(req, user, signed_in)?)
        .await?;
    let Some(decision) = response.headers().get(DECISION_HEADER)? else {
        return Ok(response);
    };
    decisions.rate_limit(match decision.as_str() {
        "admitted" => "admitted",
        "not_counted" => "not_counted",
        "limited_minute" => "limited_minute",
        "limited_hour" => "limited_hour",
        "limited_day" => "limited_day",
        _ => "unknown",
    });
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        if !name.eq_ignore_ascii_case(DECISION_HEADER) {
            headers.append(&name, &value)?;
        }
    }
    Ok(response.with_headers(headers))
}

/// The user in local development: the header, else the var, else [`DEFAULT_DEV_USER`];
/// `None` when the one given is not a plain id.
fn dev_user(header: Option<&str>, var: Option<&str>) -> Option<String> {
    let user = header
        .or(var.filter(|v| !v.is_empty()))
        .unwrap_or(DEFAULT_DEV_USER);
    is_user_id(user).then(|| user.to_owned())
}

fn is_user_id(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= MAX_USER_LEN
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The request for the object: same method, headers and body stream, with [`USER_HEADER`],
/// [`LIMITS_HEADER`] and [`SCOPE_HEADER`] set by us (whatever the client sent under those
/// names is dropped), and without the `Authorization` header (the object never sees tokens).
fn forwarded(req: Request, user: &str, signed_in: Option<Forwarding<'_>>) -> Result<Request> {
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if ["authorization", LIMITS_HEADER, SCOPE_HEADER, USER_HEADER]
            .iter()
            .any(|internal| name.eq_ignore_ascii_case(internal))
        {
            continue;
        }
        headers.append(&name, &value)?;
    }
    headers.set(USER_HEADER, user)?;
    if let Some(signed_in) = signed_in {
        headers.set(LIMITS_HEADER, signed_in.limits)?;
        headers.set(SCOPE_HEADER, signed_in.scope)?;
    }
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_body(req.inner().body().map(Into::into));
    Request::new_with_init(MCP_URL, &init)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_user_comes_from_the_header_then_the_var() {
        assert_eq!(
            dev_user(Some("alice"), Some("bob")).as_deref(),
            Some("alice")
        );
        assert_eq!(dev_user(None, Some("bob")).as_deref(), Some("bob"));
        assert_eq!(dev_user(None, Some("")).as_deref(), Some("local-dev"));
        assert_eq!(dev_user(None, None).as_deref(), Some("local-dev"));
    }

    #[test]
    fn user_ids_are_plain_tokens() {
        assert!(is_user_id("user_1.test-2"));
        for bad in ["", "a b", "a/b", "ü", "x:y"] {
            assert!(!is_user_id(bad), "{bad:?}");
        }
        assert!(!is_user_id(&"a".repeat(MAX_USER_LEN + 1)));
        assert_eq!(dev_user(Some("../x"), None), None);
    }
}
