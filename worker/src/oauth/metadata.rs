//! The discovery documents (RFC 8414 authorization-server metadata, RFC 9728 protected-resource
//! metadata) and the `WWW-Authenticate` challenge that points clients at them.
//!
//! Discovery as an MCP client does it (2025-06-18 and 2025-11-25): `/mcp` answers 401 with
//! `WWW-Authenticate: Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"`;
//! that document names us (the base URL) as the authorization server; the client then fetches
//! `{base}/.well-known/oauth-authorization-server`. Clients that ignore the header try the
//! path-suffixed resource document, then the root one; both are served, with the same content.

use serde::Serialize;

use super::endpoints::{Endpoint, ServerUrls, WellKnownDocument};
use super::pkce::S256;
use super::response::Reply;
use super::scope::{Scope, ScopeSet};

/// RFC 8414 authorization-server metadata (with RFC 9207's `iss` flag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationServerMetadata {
    /// Our issuer: the base URL.
    pub issuer: String,
    /// `GET /authorize`.
    pub authorization_endpoint: String,
    /// `POST /token`.
    pub token_endpoint: String,
    /// `POST /register` (RFC 7591).
    pub registration_endpoint: String,
    /// `POST /revoke` (RFC 7009).
    pub revocation_endpoint: String,
    /// `["code"]`: the authorization code flow only.
    pub response_types_supported: Vec<&'static str>,
    /// `["query"]`: the code comes back in the redirect's query.
    pub response_modes_supported: Vec<&'static str>,
    /// `["authorization_code", "refresh_token"]`.
    pub grant_types_supported: Vec<&'static str>,
    /// `["S256"]`: MCP clients refuse to proceed without this field.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// `none` for public clients, and the two client-secret methods for confidential ones.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Same as the token endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Our scopes.
    pub scopes_supported: Vec<&'static str>,
    /// RFC 9207: authorization responses carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
}

/// RFC 9728 protected-resource metadata for `/mcp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    /// `{base}/mcp`: the audience our tokens are bound to.
    pub resource: String,
    /// `[base]`: we are our own authorization server.
    pub authorization_servers: Vec<String>,
    /// Our scopes.
    pub scopes_supported: Vec<&'static str>,
    /// `["header"]`: tokens only in `Authorization: Bearer` (never in the query).
    pub bearer_methods_supported: Vec<&'static str>,
    /// A name for people.
    pub resource_name: &'static str,
}

/// The client authentication methods of the token and revocation endpoints.
pub const TOKEN_ENDPOINT_AUTH_METHODS: [&str; 3] =
    ["none", "client_secret_post", "client_secret_basic"];

fn scope_names() -> Vec<&'static str> {
    Scope::ALL.iter().map(|scope| scope.as_str()).collect()
}

/// Our authorization-server metadata.
pub fn authorization_server_metadata(urls: &ServerUrls) -> AuthorizationServerMetadata {
    AuthorizationServerMetadata {
        issuer: urls.issuer().to_owned(),
        authorization_endpoint: urls.authorization_endpoint(),
        token_endpoint: urls.token_endpoint(),
        registration_endpoint: urls.registration_endpoint(),
        revocation_endpoint: urls.revocation_endpoint(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token"],
        code_challenge_methods_supported: vec![S256],
        token_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS.to_vec(),
        revocation_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS.to_vec(),
        scopes_supported: scope_names(),
        authorization_response_iss_parameter_supported: true,
    }
}

/// Our protected-resource metadata.
pub fn protected_resource_metadata(urls: &ServerUrls) -> ProtectedResourceMetadata {
    ProtectedResourceMetadata {
        resource: urls.resource(),
        authorization_servers: vec![urls.issuer().to_owned()],
        scopes_supported: scope_names(),
        bearer_methods_supported: vec!["header"],
        resource_name: "Second Brain",
    }
}

/// The reply for a discovery endpoint: the JSON document, cacheable for an hour, readable
/// cross-origin.
pub fn document_reply(endpoint: Endpoint, urls: &ServerUrls) -> Option<Reply> {
    let reply = match WellKnownDocument::of(endpoint)? {
        WellKnownDocument::ProtectedResource => {
            Reply::json(200, &protected_resource_metadata(urls))
        }
        WellKnownDocument::AuthorizationServer => {
            Reply::json(200, &authorization_server_metadata(urls))
        }
    };
    Some(
        reply
            .with_header("cache-control", "public, max-age=3600")
            .with_public_cors(),
    )
}

/// Why a request to the protected resource carries no usable token, for the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No credentials at all (RFC 6750 section 3.1: no error code then).
    Missing,
    /// A token that is malformed, unknown, expired, revoked or for another audience: 401.
    InvalidToken {
        /// A short reason for the client's developer.
        description: &'static str,
    },
    /// A valid token without the scopes this request needs: 403.
    InsufficientScope {
        /// The scopes to ask for (all the client needs, not just the missing one).
        needed: ScopeSet,
    },
    /// A request with an `Authorization` header we cannot parse: 400 (RFC 6750 section 3.1).
    InvalidRequest {
        /// A short reason.
        description: &'static str,
    },
}

impl Challenge {
    /// The HTTP status for this challenge.
    pub fn status(&self) -> u16 {
        match self {
            Challenge::Missing | Challenge::InvalidToken { .. } => 401,
            Challenge::InsufficientScope { .. } => 403,
            Challenge::InvalidRequest { .. } => 400,
        }
    }

    /// The `WWW-Authenticate` value: `Bearer` with `resource_metadata` always (RFC 9728
    /// section 5.1), `scope` when we know what to ask for, and `error` /
    /// `error_description` per RFC 6750 section 3.
    pub fn www_authenticate(&self, urls: &ServerUrls) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        match self {
            Challenge::Missing => {}
            Challenge::InvalidToken { description } => {
                params.push(("error", "invalid_token".into()));
                params.push(("error_description", (*description).into()));
            }
            Challenge::InvalidRequest { description } => {
                params.push(("error", "invalid_request".into()));
                params.push(("error_description", (*description).into()));
            }
            Challenge::InsufficientScope { .. } => {
                params.push(("error", "insufficient_scope".into()));
            }
        }
        let scope = match self {
            Challenge::InsufficientScope { needed } => *needed,
            _ => ScopeSet::ALL,
        };
        params.push(("scope", scope.to_string()));
        params.push(("resource_metadata", urls.protected_resource_metadata()));
        let rendered: Vec<String> = params
            .into_iter()
            .map(|(name, value)| format!("{name}=\"{}\"", quote(&value)))
            .collect();
        format!("Bearer {}", rendered.join(", "))
    }
}

/// Escapes a value for an RFC 9110 quoted-string.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oauth::endpoints::Resolution;

    fn urls() -> ServerUrls {
        ServerUrls::new("https://brain.example.com").unwrap()
    }

    #[test]
    fn authorization_server_metadata_has_what_mcp_clients_check() {
        let doc = serde_json::to_value(authorization_server_metadata(&urls())).unwrap();
        assert_eq!(
            doc,
            json!({
                "issuer": "https://brain.example.com",
                "authorization_endpoint": "https://brain.example.com/authorize",
                "token_endpoint": "https://brain.example.com/token",
                "registration_endpoint": "https://brain.example.com/register",
                "revocation_endpoint": "https://brain.example.com/revoke",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported":
                    ["none", "client_secret_post", "client_secret_basic"],
                "revocation_endpoint_auth_methods_supported":
                    ["none", "client_secret_post", "client_secret_basic"],
                "scopes_supported": ["notes:read", "notes:write"],
                "authorization_response_iss_parameter_supported": true
            })
        );
    }

    #[test]
    fn protected_resource_metadata_names_mcp_and_us() {
        let doc = serde_json::to_value(protected_resource_metadata(&urls())).unwrap();
        assert_eq!(
            doc,
            json!({
                "resource": "https://brain.example.com/mcp",
                "authorization_servers": ["https://brain.example.com"],
                "scopes_supported": ["notes:read", "notes:write"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Second Brain"
            })
        );
    }

    #[test]
    fn every_well_known_path_serves_its_document() {
        for (path, field) in [
            ("/.well-known/oauth-protected-resource/mcp", "resource"),
            ("/.well-known/oauth-protected-resource", "resource"),
            ("/.well-known/oauth-authorization-server", "issuer"),
            ("/.well-known/oauth-authorization-server/mcp", "issuer"),
        ] {
            let Some(Resolution::Endpoint(endpoint)) = Endpoint::resolve("GET", path) else {
                panic!("{path} is not served");
            };
            let reply = document_reply(endpoint, &urls()).unwrap();
            assert_eq!(reply.status, 200);
            assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
            let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            assert!(body.get(field).is_some(), "{path}");
        }
        assert!(document_reply(Endpoint::Token, &urls()).is_none());
    }

    #[test]
    fn challenges_follow_rfc_6750_and_9728() {
        let urls = urls();
        let meta = "resource_metadata=\"https://brain.example.com/.well-known/oauth-protected-resource/mcp\"";
        let missing = Challenge::Missing;
        assert_eq!(missing.status(), 401);
        assert_eq!(
            missing.www_authenticate(&urls),
            format!("Bearer scope=\"notes:read notes:write\", {meta}")
        );
        let expired = Challenge::InvalidToken {
            description: "the access token expired",
        };
        assert_eq!(expired.status(), 401);
        assert_eq!(
            expired.www_authenticate(&urls),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"the access token expired\", \
                 scope=\"notes:read notes:write\", {meta}"
            )
        );
        let scope = Challenge::InsufficientScope {
            needed: ScopeSet::ALL,
        };
        assert_eq!(scope.status(), 403);
        assert_eq!(
            scope.www_authenticate(&urls),
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"notes:read notes:write\", {meta}"
            )
        );
        let bad = Challenge::InvalidRequest {
            description: "say \"Bearer\"",
        };
        assert_eq!(bad.status(), 400);
        assert!(
            bad.www_authenticate(&urls)
                .contains("error_description=\"say \\\"Bearer\\\"\"")
        );
    }
}
