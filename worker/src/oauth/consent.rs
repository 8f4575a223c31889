//! The consent page (`GET /authorize` answers with it) and its answer (`POST /authorize`).
//!
//! The page names the client, saying that the name is the client's own unverified claim (any
//! program can register as "Claude"), and the exact redirect URI its sign-in goes back to,
//! with the host set apart and a warning for loopback URIs (any local program can claim a
//! loopback port), and lists what access is asked for. Its form carries the CSRF token from the sealed
//! cookie; the answer is accepted only when the two match. The GitHub `state` is minted only
//! once the user approved, and only then is it put in the cookie, as MCP's security guidance
//! asks: a crafted link can show the page but cannot skip it.
//!
//! The page's reply forbids framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::authorize::{ErrorRedirect, PendingAuthorization};
use super::cookie;
use super::endpoints::{AUTHORIZE, ServerUrls};
use super::params::Params;
use super::registration::ClientRecord;
use super::response::{ErrorCode, PAGE_STYLE, Reply, escape_html, message_page};
use super::scope::Scope;

/// The consent form's CSRF field.
pub const CSRF_FIELD: &str = "csrf_token";
/// The consent form's decision field: `approve` or `deny`.
pub const DECISION_FIELD: &str = "decision";

/// The consent page's HTML.
pub fn page(pending: &PendingAuthorization, client: &ClientRecord, urls: &ServerUrls) -> String {
    let name = escape_html(client.display_name());
    let redirect_uri = escape_html(&pending.redirect_uri);
    let parsed = url::Url::parse(&pending.redirect_uri).ok();
    let host = parsed
        .as_ref()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let loopback = parsed
        .as_ref()
        .is_some_and(super::endpoints::is_loopback_host);
    let warning = if loopback {
        "<p class=\"warn\">This address is on your own computer. Any program running on it \
         could be receiving this sign-in: continue only if you just started connecting an app \
         yourself.</p>"
    } else {
        ""
    };
    let scopes: String = pending
        .scope
        .iter()
        .map(|scope| {
            let what = match scope {
                Scope::NotesRead => "read your notes, their history and search results",
                Scope::NotesWrite => "create, change, revert and delete your notes",
            };
            format!("<li>{} <code>{}</code></li>", what, scope.as_str())
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Allow access to Second Brain?</title><style>{style}</style></head><body><main>\
         <h1>Allow <strong>{name}</strong> to use your Second Brain?</h1>\
         <p class=\"warn\">&ldquo;{name}&rdquo; is the name the app gave itself when it \
         registered; this server has not verified it. Go on only if you just started \
         connecting this app yourself.</p>\
         <p>It will be able to:</p><ul>{scopes}</ul>\
         <p>After you sign in with GitHub, you will be sent back to <strong>{host}</strong>:<br>\
         <code>{redirect_uri}</code></p>{warning}\
         <p>Access is for <code>{resource}</code>. You can revoke it at any time.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"{csrf_field}\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"{decision}\" value=\"approve\">Allow</button>\
         <button type=\"submit\" name=\"{decision}\" value=\"deny\">Deny</button>\
         </form></main></body></html>",
        style = PAGE_STYLE,
        host = escape_html(&host),
        resource = escape_html(urls.resource().as_str()),
        action = AUTHORIZE,
        csrf_field = CSRF_FIELD,
        csrf = escape_html(&pending.csrf_token),
        decision = DECISION_FIELD,
    )
}

/// The `GET /authorize` reply: the page, and the cookie (`cookie_value` is
/// [`cookie::seal`] of `pending`).
pub fn show(
    pending: &PendingAuthorization,
    client: &ClientRecord,
    urls: &ServerUrls,
    cookie_value: &str,
    now_ms: u64,
) -> Reply {
    Reply::html(200, page(pending, client, urls)).with_header(
        "set-cookie",
        cookie::set_cookie(cookie_value, pending, now_ms),
    )
}

/// What the user answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    /// Approved: the pending authorization now carries the GitHub `state`. Seal it into the
    /// cookie again and send the browser to GitHub ([`to_github`]).
    Approved(PendingAuthorization),
    /// Denied: send the browser back to the client with `access_denied` ([`denied`]).
    Denied(ErrorRedirect),
}

/// A consent answer we refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// The form's CSRF token is missing or is not the cookie's.
    #[error("the consent form does not belong to this sign-in")]
    CsrfMismatch,
    /// No (or an unknown) decision.
    #[error("the consent form has no decision")]
    MissingDecision,
}

impl ConsentError {
    /// A page (never a redirect).
    pub fn reply(&self) -> Reply {
        let status = match self {
            ConsentError::CsrfMismatch => 403,
            ConsentError::MissingDecision => 400,
        };
        message_page(
            status,
            "Sign-in could not continue",
            &format!("{self}. Start the connection again from your app."),
        )
    }
}

/// Checks the consent form against the sealed cookie's pending authorization.
/// `upstream_state` is fresh randomness for the GitHub `state`.
pub fn decide(
    pending: PendingAuthorization,
    form: &Params,
    upstream_state: &[u8; 32],
) -> Result<Consent, ConsentError> {
    let token = form.get(CSRF_FIELD).ok().flatten().unwrap_or("");
    if !bool::from(token.as_bytes().ct_eq(pending.csrf_token.as_bytes())) {
        return Err(ConsentError::CsrfMismatch);
    }
    match form.get(DECISION_FIELD) {
        Ok(Some("approve")) => Ok(Consent::Approved(PendingAuthorization {
            upstream_state: Some(URL_SAFE_NO_PAD.encode(upstream_state)),
            ..pending
        })),
        Ok(Some("deny")) => Ok(Consent::Denied(
            pending.error_redirect(ErrorCode::AccessDenied, "the user denied access"),
        )),
        _ => Err(ConsentError::MissingDecision),
    }
}

/// The reply after approval: the re-sealed cookie (`cookie_value` is [`cookie::seal`] of the
/// approved pending authorization) and a redirect to `github_authorize_url`.
pub fn to_github(
    approved: &PendingAuthorization,
    cookie_value: &str,
    github_authorize_url: String,
    now_ms: u64,
) -> Reply {
    Reply::redirect(github_authorize_url).with_header(
        "set-cookie",
        cookie::set_cookie(cookie_value, approved, now_ms),
    )
}

/// The reply after denial: back to the client with `access_denied`; the cookie is cleared.
pub fn denied(redirect: &ErrorRedirect, urls: &ServerUrls) -> Reply {
    redirect
        .reply(urls)
        .with_header("set-cookie", cookie::clear_cookie())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::SIGN_IN_TTL_MS;
    use crate::oauth::pkce::{CodeChallenge, s256};
    use crate::oauth::registration::AuthMethod;
    use crate::oauth::scope::ScopeSet;

    const NOW: u64 = 1_750_000_000_000;

    fn urls() -> ServerUrls {
        ServerUrls::new("https://brain.example.com").unwrap()
    }

    fn pending(redirect_uri: &str) -> PendingAuthorization {
        PendingAuthorization {
            flow_id: "flow".into(),
            client_id: "sbc_client".into(),
            redirect_uri: redirect_uri.into(),
            redirect_uri_given: true,
            code_challenge: CodeChallenge::parse(Some(&s256(&"v".repeat(43))), Some("S256"))
                .unwrap(),
            state: Some("client-state".into()),
            resource: "https://brain.example.com/mcp".into(),
            scope: ScopeSet::ALL,
            csrf_token: "csrf-token-value".into(),
            upstream_state: None,
            created_at_ms: NOW,
            expires_at_ms: NOW + SIGN_IN_TTL_MS,
        }
    }

    fn client(name: &str, redirect_uri: &str) -> ClientRecord {
        ClientRecord {
            client_id: "sbc_client".into(),
            client_name: Some(name.into()),
            redirect_uris: vec![redirect_uri.into()],
            auth_method: AuthMethod::None,
            secret_hash: None,
            refresh_allowed: true,
            scope: ScopeSet::ALL,
            created_at_ms: NOW,
            expires_at_ms: NOW + 1_000_000,
        }
    }

    #[test]
    fn the_page_names_the_client_and_redirect_escaped() {
        let uri = "https://app.example/cb?a=1&b=\"2\"";
        let html = page(
            &pending(uri),
            &client("<script>alert('x')</script> & Co", uri),
            &urls(),
        );
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"));
        assert!(html.contains("the name the app gave itself"));
        assert!(html.contains("has not verified it"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("https://app.example/cb?a=1&amp;b=&quot;2&quot;"));
        assert!(html.contains("<strong>app.example</strong>"));
        assert!(html.contains("name=\"csrf_token\" value=\"csrf-token-value\""));
        assert!(html.contains("action=\"/authorize\""));
        assert!(html.contains("notes:read") && html.contains("notes:write"));
        assert!(!html.contains("own computer"));
    }

    #[test]
    fn loopback_redirects_get_a_warning() {
        let uri = "http://127.0.0.1:33418/callback";
        let html = page(&pending(uri), &client("CLI", uri), &urls());
        assert!(html.contains("own computer"));
        assert!(html.contains("<strong>127.0.0.1</strong>"));
    }

    #[test]
    fn showing_sets_the_cookie_and_forbids_framing() {
        let uri = "https://app.example/cb";
        let reply = show(&pending(uri), &client("A", uri), &urls(), "v1.a.b", NOW);
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .header("set-cookie")
                .unwrap()
                .starts_with("__Host-sb_signin=v1.a.b;")
        );
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    }

    #[test]
    fn approval_requires_the_cookies_csrf_token() {
        let p = pending("https://app.example/cb");
        let approve =
            |csrf: &str| Params::from_pairs([(CSRF_FIELD, csrf), (DECISION_FIELD, "approve")]);
        assert_eq!(
            decide(p.clone(), &approve("forged"), &[3; 32]),
            Err(ConsentError::CsrfMismatch)
        );
        assert_eq!(
            decide(p.clone(), &approve(""), &[3; 32]),
            Err(ConsentError::CsrfMismatch)
        );
        assert_eq!(
            decide(
                p.clone(),
                &Params::from_pairs([(DECISION_FIELD, "approve")]),
                &[3; 32]
            ),
            Err(ConsentError::CsrfMismatch)
        );
        assert_eq!(ConsentError::CsrfMismatch.reply().status, 403);
        let Ok(Consent::Approved(approved)) =
            decide(p.clone(), &approve("csrf-token-value"), &[3; 32])
        else {
            panic!("not approved")
        };
        assert_eq!(approved.upstream_state.as_deref().map(str::len), Some(43));
        assert_eq!(approved.expires_at_ms, p.expires_at_ms);
        let reply = to_github(&approved, "v1.c.d", "https://github.com/login".into(), NOW);
        assert_eq!(reply.status, 302);
        assert_eq!(reply.header("location"), Some("https://github.com/login"));
        assert!(reply.header("set-cookie").unwrap().contains("v1.c.d"));
    }

    #[test]
    fn denial_goes_back_with_access_denied() {
        let p = pending("https://app.example/cb");
        let form = Params::from_pairs([(CSRF_FIELD, "csrf-token-value"), (DECISION_FIELD, "deny")]);
        let Ok(Consent::Denied(redirect)) = decide(p, &form, &[3; 32]) else {
            panic!("not denied")
        };
        let reply = denied(&redirect, &urls());
        let location = reply.header("location").unwrap();
        assert!(location.starts_with("https://app.example/cb?error=access_denied"));
        assert!(location.contains("state=client-state"));
        assert!(location.contains("iss=https%3A%2F%2Fbrain.example.com"));
        assert!(reply.header("set-cookie").unwrap().contains("Max-Age=0"));
        let odd = Params::from_pairs([(CSRF_FIELD, "csrf-token-value"), (DECISION_FIELD, "maybe")]);
        assert_eq!(
            decide(pending("https://app.example/cb"), &odd, &[3; 32]),
            Err(ConsentError::MissingDecision)
        );
    }
}
