//! What the adapter sends back: a status, headers and a body, described as plain values; and
//! the OAuth error object every endpoint uses.

use serde::Serialize;

/// An HTTP response to send, as plain values. The adapter copies it into a `worker::Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header names (lower-case) and values, in order; a name may repeat (`set-cookie`).
    pub headers: Vec<(&'static str, String)>,
    /// The body (empty for redirects).
    pub body: String,
}

/// `Content-Security-Policy` for our HTML pages: no scripts, no framing (clickjacking on the
/// consent page), inline styles only. `form-action` is deliberately absent: browsers apply it
/// to the redirects that follow a form post, which go to GitHub and to the client.
pub const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

impl Reply {
    /// A JSON reply. Serializing our own types cannot fail; if it ever did, the reply is a 500.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Self {
        match serde_json::to_string(body) {
            Ok(body) => Reply {
                status,
                headers: vec![("content-type", "application/json".to_owned())],
                body,
            },
            Err(_) => Reply {
                status: 500,
                headers: vec![("content-type", "application/json".to_owned())],
                body: r#"{"error":"server_error"}"#.to_owned(),
            },
        }
    }

    /// A JSON reply that must not be cached (tokens, credentials, errors about them: RFC 6749
    /// section 5.1).
    pub fn json_no_store<T: Serialize>(status: u16, body: &T) -> Self {
        Reply::json(status, body)
            .with_header("cache-control", "no-store")
            .with_header("pragma", "no-cache")
    }

    /// An HTML page with our page security headers.
    pub fn html(status: u16, html: String) -> Self {
        Reply {
            status,
            headers: vec![("content-type", "text/html; charset=utf-8".to_owned())],
            body: html,
        }
        .with_page_headers()
    }

    /// A `302 Found` to `location`, with our page security headers (no referrer leaks the
    /// authorization request to GitHub or the code to anyone else).
    pub fn redirect(location: String) -> Self {
        Reply {
            status: 302,
            headers: vec![("location", location)],
            body: String::new(),
        }
        .with_page_headers()
    }

    /// The same reply with one more header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The same reply readable by any web origin (`Access-Control-Allow-Origin: *`). For the
    /// metadata documents and the registration, token and revocation endpoints, which browser
    /// based MCP clients call cross-origin; none of them use cookies, so `*` exposes nothing.
    pub fn with_public_cors(self) -> Self {
        self.with_header("access-control-allow-origin", "*")
            .with_header("access-control-expose-headers", "www-authenticate")
    }

    /// The value of header `name`, if set (first occurrence).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn with_page_headers(self) -> Self {
        self.with_header("cache-control", "no-store")
            .with_header("content-security-policy", PAGE_CSP)
            .with_header("x-frame-options", "DENY")
            .with_header("referrer-policy", "no-referrer")
            .with_header("x-content-type-options", "nosniff")
    }
}

/// The answer to a CORS preflight for the public endpoints.
pub fn preflight(allow: &str) -> Reply {
    Reply {
        status: 204,
        headers: Vec::new(),
        body: String::new(),
    }
    .with_header("access-control-allow-origin", "*")
    .with_header("access-control-allow-methods", allow.to_owned())
    .with_header(
        "access-control-allow-headers",
        "authorization, content-type, mcp-protocol-version",
    )
    .with_header("access-control-max-age", "86400")
}

/// An OAuth error code (RFC 6749 sections 4.1.2.1 and 5.2, RFC 7591 section 3.2.2, RFC 8707
/// section 2, RFC 6750 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request.
    InvalidRequest,
    /// Client authentication failed or the client is unknown.
    InvalidClient,
    /// The code or refresh token is invalid, expired, used, or bound to something else.
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// We do not support this grant type.
    UnsupportedGrantType,
    /// We do not support this response type.
    UnsupportedResponseType,
    /// The scope is unknown or larger than allowed.
    InvalidScope,
    /// The `resource` is not ours (RFC 8707).
    InvalidTarget,
    /// The user (or the allowlist) said no.
    AccessDenied,
    /// We failed.
    ServerError,
    /// Try again later (rate limits).
    TemporarilyUnavailable,
    /// A redirect URI is not acceptable (RFC 7591).
    InvalidRedirectUri,
    /// Client metadata is not acceptable (RFC 7591).
    InvalidClientMetadata,
    /// The access token is missing its mark (RFC 6750).
    InvalidToken,
    /// The access token lacks a scope (RFC 6750).
    InsufficientScope,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
        }
    }
}

/// The JSON error body: `{"error": ..., "error_description": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// The code.
    pub error: ErrorCode,
    /// One sentence for the developer of the client; never user data or secrets.
    pub error_description: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        ErrorBody {
            error,
            error_description: description.into(),
        }
    }

    /// The body as a no-store JSON reply with `status`.
    pub fn reply(&self, status: u16) -> Reply {
        Reply::json_no_store(status, self)
    }
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A small HTML page: a title and one paragraph (both escaped here). For errors shown in the
/// browser when we cannot (or must not) redirect back to the client.
pub fn message_page(status: u16, title: &str, message: &str) -> Reply {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{style}</style></head><body><main>\
         <h1>{title}</h1><p>{message}</p></main></body></html>",
        title = escape_html(title),
        message = escape_html(message),
        style = PAGE_STYLE,
    );
    Reply::html(status, html)
}

/// The inline stylesheet of our pages.
pub(crate) const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f6f6f4;\
color:#222;margin:0}main{max-width:32rem;margin:4rem auto;padding:2rem;background:#fff;\
border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.1)}code{word-break:break-all}\
.warn{color:#8a4b00}button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_oauth_json_and_not_cached() {
        let reply = ErrorBody::new(ErrorCode::InvalidGrant, "the code expired").reply(400);
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.body,
            r#"{"error":"invalid_grant","error_description":"the code expired"}"#
        );
        assert_eq!(reply.header("Cache-Control"), Some("no-store"));
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }

    #[test]
    fn every_code_serializes_as_its_wire_name() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidClient,
            ErrorCode::InvalidGrant,
            ErrorCode::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::UnsupportedResponseType,
            ErrorCode::InvalidScope,
            ErrorCode::InvalidTarget,
            ErrorCode::AccessDenied,
            ErrorCode::ServerError,
            ErrorCode::TemporarilyUnavailable,
            ErrorCode::InvalidRedirectUri,
            ErrorCode::InvalidClientMetadata,
            ErrorCode::InvalidToken,
            ErrorCode::InsufficientScope,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().into())
            );
        }
    }

    #[test]
    fn pages_escape_and_forbid_framing() {
        let reply = message_page(400, "<b>", "a \"quoted\" & 'single' <script>");
        assert!(reply.body.contains("&lt;b&gt;"));
        assert!(
            reply
                .body
                .contains("a &quot;quoted&quot; &amp; &#39;single&#39; &lt;script&gt;")
        );
        assert!(!reply.body.contains("<script>"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert!(
            reply
                .header("content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let redirect = Reply::redirect("https://client.example/cb?code=x".into());
        assert_eq!(redirect.status, 302);
        assert_eq!(redirect.header("referrer-policy"), Some("no-referrer"));
        let cors = Reply::json(200, &serde_json::json!({})).with_public_cors();
        assert_eq!(cors.header("access-control-allow-origin"), Some("*"));
        assert_eq!(preflight("POST, OPTIONS").status, 204);
    }
}
