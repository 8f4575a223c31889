//! `/mcp` in the front Worker: admission, identity, and forwarding to the user's object.
//!
//! The head of the request is checked here ([`admit`]: origin, method, headers, declared size)
//! so refusals never wake a Durable Object. Then the user is identified and the request,
//! body still streaming, goes to the user's `MCPSessionDurableObject`, which reads the body and
//! serves it.
//!
//! Identity: sign-in (OAuth 2.1) is not built yet. Until it is, `/mcp` is served only in local
//! development (`LOCAL_DEV=1`, which the configuration check refuses in production), where the
//! user is the `X-Dev-User` header, else the `DEV_USER` var, else `local-dev`. Elsewhere every
//! request gets 401.

use worker::{Env, Headers, Request, RequestInit, Response, Result};

use crate::config::Config;
use crate::mcp::transport::admit;
use crate::mcp_http;
use crate::reply;
use crate::session_object::{MCP_URL, USER_HEADER, object_name};

/// The local-development header that names the user.
const DEV_USER_HEADER: &str = "x-dev-user";
/// The user when neither the header nor `DEV_USER` names one.
const DEFAULT_DEV_USER: &str = "local-dev";
/// The longest user id accepted.
const MAX_USER_LEN: usize = 64;

/// Serves `/mcp`.
pub(crate) async fn serve(req: Request, env: &Env, config: &Config) -> Result<Response> {
    let transport = mcp_http::transport_config(config);
    let method = req.method().to_string();
    let length = mcp_http::content_length(req.headers());
    if let Err(rejection) = admit(&method, req.headers(), length, &transport) {
        return mcp_http::rejection(&rejection);
    }
    if !config.local_dev {
        return reply::error(
            401,
            "unauthorized",
            "sign-in is not available yet: /mcp is served only in local development",
        );
    }
    let dev_var = env.var("DEV_USER").ok().map(|v| v.to_string());
    let header = req.headers().get(DEV_USER_HEADER)?;
    let Some(user) = dev_user(header.as_deref(), dev_var.as_deref()) else {
        return reply::error(
            400,
            "invalid_user",
            "X-Dev-User must be 1 to 64 letters, digits, '.', '_' or '-'",
        );
    };
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&object_name(&user))?;
    stub.fetch_with_request(forwarded(req, &user)?).await
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

/// The request for the object: same method, headers and body stream, with [`USER_HEADER`]
/// set by us (whatever the client sent under that name is replaced).
fn forwarded(req: Request, user: &str) -> Result<Request> {
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        headers.append(&name, &value)?;
    }
    headers.set(USER_HEADER, user)?;
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
