//! The glue between [`crate::mcp`]'s pure decisions and `worker`'s HTTP types: header lookup,
//! the transport configuration, refusals and JSON-RPC replies as responses, and reading a
//! body without going past the size limit.

use std::borrow::Cow;

use serde::Serialize;
use worker::{Headers, Request, Response, Result};

use crate::config::Config;
use crate::mcp::headers::{self, HeaderLookup};
use crate::mcp::origin::OriginPolicy;
use crate::mcp::rejection::Rejection;
use crate::mcp::transport::{MAX_BODY_BYTES, TransportConfig};
use crate::request_body::{BodyError, read_capped};

/// `worker`'s request headers, for [`crate::mcp::transport::admit`].
impl HeaderLookup for Headers {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).ok().flatten().map(Cow::Owned)
    }
}

/// How `/mcp` is configured for `config`: browser origins are refused (clients that speak
/// MCP over HTTP send none), except local ones in local development; GET opens a session's
/// stream (handshake-era versions; 2026-07-28 refuses GET with 405 in `admit`).
pub(crate) fn transport_config(config: &Config) -> TransportConfig {
    let origins = OriginPolicy::new(Vec::<String>::new());
    TransportConfig {
        origins: if config.local_dev {
            origins.with_localhost()
        } else {
            origins
        },
        get_stream: true,
    }
}

/// The request's `Content-Length`, when it sent one that parses.
pub(crate) fn content_length(headers: &Headers) -> Option<u64> {
    headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|value| value.trim().parse().ok())
}

/// A refusal as its HTTP status, JSON-RPC error body and, for 405, `Allow`.
pub(crate) fn rejection(rejection: &Rejection) -> Result<Response> {
    let response = json(rejection.status(), &rejection.response())?;
    if let Some(allow) = rejection.allow() {
        response.headers().set(headers::ALLOW, allow)?;
    }
    Ok(response)
}

/// A JSON reply (`application/json`).
pub(crate) fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// 202 Accepted with no body: the answer to notifications and responses.
pub(crate) fn accepted() -> Result<Response> {
    Ok(Response::empty()?.with_status(202))
}

/// Reads the request body, stopping as soon as it passes [`MAX_BODY_BYTES`] (a body sent
/// without `Content-Length` is never buffered past the limit).
pub(crate) async fn read_body(req: &mut Request) -> std::result::Result<Vec<u8>, BodyError> {
    read_capped(req, usize::try_from(MAX_BODY_BYTES).unwrap_or(usize::MAX)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_origins_are_allowed_only_in_local_development() {
        let local = Config::from_vars(Some("dev"), Some("1")).unwrap();
        let deployed = Config::from_vars(Some("dev"), None).unwrap();
        let origin = Some("http://localhost:6274");
        assert!(transport_config(&local).origins.allows(origin));
        assert!(!transport_config(&deployed).origins.allows(origin));
        for config in [&local, &deployed] {
            let transport = transport_config(config);
            assert!(
                transport.origins.allows(None),
                "non-browser clients send no Origin"
            );
            assert!(!transport.origins.allows(Some("https://evil.example")));
            assert!(transport.get_stream);
        }
    }
}
