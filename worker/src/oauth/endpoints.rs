//! Our public URLs, and which OAuth endpoint a method and path name.
//!
//! Everything is derived from one base URL (scheme, host and port, no path): the issuer is the
//! base URL itself, the protected resource is `{base}/mcp`, and the endpoints hang off the base.
//! An issuer without a path keeps metadata discovery simple: RFC 8414 puts the document at
//! `/.well-known/oauth-authorization-server`, which is the first URL MCP clients try.

use thiserror::Error;

/// `GET` the RFC 9728 document for `/mcp` (path-suffixed form: the one we advertise).
pub const PROTECTED_RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource/mcp";
/// `GET` the RFC 9728 document at the root (clients fall back to it).
pub const PROTECTED_RESOURCE_METADATA_ROOT: &str = "/.well-known/oauth-protected-resource";
/// `GET` the RFC 8414 document (our issuer has no path, so this is its only RFC 8414 URL).
pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
/// `GET` the RFC 8414 document under the resource's path: not required by RFC 8414 for an
/// issuer without a path, but some clients build it from the `/mcp` URL; serving it is free.
pub const AUTHORIZATION_SERVER_METADATA_MCP: &str = "/.well-known/oauth-authorization-server/mcp";
/// `GET` the authorization endpoint (shows consent); `POST` submits the consent form.
pub const AUTHORIZE: &str = "/authorize";
/// `POST` the token endpoint.
pub const TOKEN: &str = "/token";
/// `POST` the RFC 7591 registration endpoint.
pub const REGISTER: &str = "/register";
/// `POST` the RFC 7009 revocation endpoint.
pub const REVOKE: &str = "/revoke";
/// `GET` where GitHub sends the browser back (the GitHub OAuth app's callback URL).
pub const CALLBACK: &str = "/oauth/callback";
/// The protected resource: the MCP endpoint.
pub const MCP: &str = "/mcp";

/// Our base URL and every URL derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrls {
    /// `scheme://host[:port]`, lower-case, no trailing slash.
    base: String,
}

/// A base URL we refuse to serve under.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BaseUrlError {
    /// Not an absolute URL.
    #[error("the base URL is not an absolute URL: {0}")]
    NotAUrl(String),
    /// Not `https`, and not `http` on a loopback host.
    #[error("the base URL must use https (http is allowed only on 127.0.0.1, [::1] or localhost)")]
    NotHttps,
    /// Has a path, query, fragment or credentials.
    #[error("the base URL must be scheme://host[:port] with no path, query, fragment or user")]
    NotAnOrigin,
}

impl ServerUrls {
    /// Checks and normalizes a base URL such as `https://brain.example.com`. `http` is accepted
    /// only for loopback hosts (local development).
    pub fn new(base: &str) -> Result<Self, BaseUrlError> {
        let url =
            url::Url::parse(base.trim()).map_err(|_| BaseUrlError::NotAUrl(base.to_owned()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            _ => return Err(BaseUrlError::NotHttps),
        }
        if url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.host_str().is_none()
        {
            return Err(BaseUrlError::NotAnOrigin);
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(ServerUrls { base })
    }

    /// The issuer identifier (RFC 8414 `issuer`, RFC 9207 `iss`): the base URL.
    pub fn issuer(&self) -> &str {
        &self.base
    }

    /// The protected resource's identifier (RFC 9728 `resource`, RFC 8707 audience).
    pub fn resource(&self) -> String {
        format!("{}{MCP}", self.base)
    }

    /// The authorization endpoint.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}{AUTHORIZE}", self.base)
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> String {
        format!("{}{TOKEN}", self.base)
    }

    /// The registration endpoint.
    pub fn registration_endpoint(&self) -> String {
        format!("{}{REGISTER}", self.base)
    }

    /// The revocation endpoint.
    pub fn revocation_endpoint(&self) -> String {
        format!("{}{REVOKE}", self.base)
    }

    /// Our callback for GitHub (register exactly this URL in the GitHub OAuth app).
    pub fn callback(&self) -> String {
        format!("{}{CALLBACK}", self.base)
    }

    /// The URL of the protected-resource metadata we point clients at.
    pub fn protected_resource_metadata(&self) -> String {
        format!("{}{PROTECTED_RESOURCE_METADATA}", self.base)
    }

    /// Whether `value` (an RFC 8707 `resource` parameter) names our protected resource. Scheme
    /// and host compare case-insensitively, as the MCP spec asks; the rest must be identical.
    pub fn is_our_resource(&self, value: &str) -> bool {
        let Ok(url) = url::Url::parse(value) else {
            return false;
        };
        // The parser lower-cases scheme and host; a fragment or query is never ours.
        url.fragment().is_none()
            && url.query().is_none()
            && url.as_str() == self.resource()
            && value.len() == url.as_str().len()
    }

    /// Whether the base is served over plain HTTP (local development only).
    pub fn is_local_http(&self) -> bool {
        self.base.starts_with("http://")
    }
}

/// Whether a URL's host is `127.0.0.1`, `[::1]` or `localhost` (RFC 8252 loopback).
pub(crate) fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A discovery document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnownDocument {
    /// RFC 9728 protected-resource metadata.
    ProtectedResource,
    /// RFC 8414 authorization-server metadata.
    AuthorizationServer,
}

impl WellKnownDocument {
    /// Which document a request path asks for, if any: both the path-suffixed and the root
    /// forms of each.
    pub fn for_path(path: &str) -> Option<Self> {
        match path {
            PROTECTED_RESOURCE_METADATA | PROTECTED_RESOURCE_METADATA_ROOT => {
                Some(WellKnownDocument::ProtectedResource)
            }
            AUTHORIZATION_SERVER_METADATA | AUTHORIZATION_SERVER_METADATA_MCP => {
                Some(WellKnownDocument::AuthorizationServer)
            }
            _ => None,
        }
    }

    /// The document an endpoint serves, if it is a discovery endpoint.
    pub fn of(endpoint: Endpoint) -> Option<Self> {
        match endpoint {
            Endpoint::ProtectedResourceMetadata => Some(WellKnownDocument::ProtectedResource),
            Endpoint::AuthorizationServerMetadata => Some(WellKnownDocument::AuthorizationServer),
            _ => None,
        }
    }
}

/// An OAuth endpoint, as named by a method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET` the RFC 9728 protected-resource metadata (either form).
    ProtectedResourceMetadata,
    /// `GET` the RFC 8414 authorization-server metadata (either form).
    AuthorizationServerMetadata,
    /// `POST /register`.
    Register,
    /// `GET /authorize`: validate and show the consent page.
    Authorize,
    /// `POST /authorize`: the consent form's answer.
    Consent,
    /// `GET /oauth/callback`: GitHub sends the browser back.
    Callback,
    /// `POST /token`.
    Token,
    /// `POST /revoke`.
    Revoke,
}

/// What a method and path mean for the OAuth layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Served by this endpoint.
    Endpoint(Endpoint),
    /// Preflight (`OPTIONS`) for an endpoint browsers may call cross-origin.
    Preflight,
    /// The path is ours but not with this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
}

impl Endpoint {
    /// Which OAuth endpoint, if any, serves `method` on `path`. `None` means the path is not
    /// an OAuth path at all (route it elsewhere).
    pub fn resolve(method: &str, path: &str) -> Option<Resolution> {
        let (endpoint, allow, cors) = match path {
            PROTECTED_RESOURCE_METADATA | PROTECTED_RESOURCE_METADATA_ROOT => {
                (Endpoint::ProtectedResourceMetadata, "GET, OPTIONS", true)
            }
            AUTHORIZATION_SERVER_METADATA | AUTHORIZATION_SERVER_METADATA_MCP => {
                (Endpoint::AuthorizationServerMetadata, "GET, OPTIONS", true)
            }
            AUTHORIZE => {
                return Some(match method {
                    "GET" => Resolution::Endpoint(Endpoint::Authorize),
                    "POST" => Resolution::Endpoint(Endpoint::Consent),
                    _ => Resolution::MethodNotAllowed("GET, POST"),
                });
            }
            CALLBACK => (Endpoint::Callback, "GET", false),
            REGISTER => (Endpoint::Register, "POST, OPTIONS", true),
            TOKEN => (Endpoint::Token, "POST, OPTIONS", true),
            REVOKE => (Endpoint::Revoke, "POST, OPTIONS", true),
            _ => return None,
        };
        let wanted = match endpoint {
            Endpoint::ProtectedResourceMetadata
            | Endpoint::AuthorizationServerMetadata
            | Endpoint::Callback => "GET",
            _ => "POST",
        };
        Some(if method == wanted {
            Resolution::Endpoint(endpoint)
        } else if cors && method == "OPTIONS" {
            Resolution::Preflight
        } else {
            Resolution::MethodNotAllowed(allow)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalized() {
        let urls = ServerUrls::new("https://Brain.Example.com/").unwrap();
        assert_eq!(urls.issuer(), "https://brain.example.com");
        assert_eq!(urls.resource(), "https://brain.example.com/mcp");
        assert_eq!(urls.token_endpoint(), "https://brain.example.com/token");
        assert_eq!(
            urls.protected_resource_metadata(),
            "https://brain.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            ServerUrls::new("https://brain.example.com:8443")
                .unwrap()
                .callback(),
            "https://brain.example.com:8443/oauth/callback"
        );
        assert!(
            ServerUrls::new("http://127.0.0.1:8787")
                .unwrap()
                .is_local_http()
        );
        assert!(ServerUrls::new("http://localhost:8787").is_ok());
        assert_eq!(
            ServerUrls::new("http://brain.example.com"),
            Err(BaseUrlError::NotHttps)
        );
        for bad in [
            "https://brain.example.com/app",
            "https://brain.example.com/?x=1",
            "https://user@brain.example.com",
        ] {
            assert_eq!(
                ServerUrls::new(bad),
                Err(BaseUrlError::NotAnOrigin),
                "{bad}"
            );
        }
        assert!(matches!(
            ServerUrls::new("brain.example.com"),
            Err(BaseUrlError::NotAUrl(_))
        ));
    }

    #[test]
    fn our_resource_matches_with_case_insensitive_scheme_and_host_only() {
        let urls = ServerUrls::new("https://brain.example.com").unwrap();
        assert!(urls.is_our_resource("https://brain.example.com/mcp"));
        assert!(urls.is_our_resource("HTTPS://BRAIN.example.com/mcp"));
        for other in [
            "https://brain.example.com/MCP",
            "https://brain.example.com/mcp/",
            "https://brain.example.com",
            "https://brain.example.com/mcp#x",
            "https://brain.example.com/mcp?x",
            "https://brain.example.com:443/mcp/../mcp",
            "https://other.example.com/mcp",
            "http://brain.example.com/mcp",
            "",
        ] {
            assert!(!urls.is_our_resource(other), "{other}");
        }
    }

    #[test]
    fn endpoints_resolve_by_method_and_path() {
        use Endpoint as E;
        use Resolution as R;
        let cases = [
            (
                "GET",
                PROTECTED_RESOURCE_METADATA,
                R::Endpoint(E::ProtectedResourceMetadata),
            ),
            (
                "GET",
                PROTECTED_RESOURCE_METADATA_ROOT,
                R::Endpoint(E::ProtectedResourceMetadata),
            ),
            (
                "GET",
                AUTHORIZATION_SERVER_METADATA,
                R::Endpoint(E::AuthorizationServerMetadata),
            ),
            (
                "GET",
                AUTHORIZATION_SERVER_METADATA_MCP,
                R::Endpoint(E::AuthorizationServerMetadata),
            ),
            ("OPTIONS", AUTHORIZATION_SERVER_METADATA, R::Preflight),
            ("GET", AUTHORIZE, R::Endpoint(E::Authorize)),
            ("POST", AUTHORIZE, R::Endpoint(E::Consent)),
            ("PUT", AUTHORIZE, R::MethodNotAllowed("GET, POST")),
            ("GET", CALLBACK, R::Endpoint(E::Callback)),
            ("OPTIONS", CALLBACK, R::MethodNotAllowed("GET")),
            ("POST", REGISTER, R::Endpoint(E::Register)),
            ("POST", TOKEN, R::Endpoint(E::Token)),
            ("OPTIONS", TOKEN, R::Preflight),
            ("GET", TOKEN, R::MethodNotAllowed("POST, OPTIONS")),
            ("POST", REVOKE, R::Endpoint(E::Revoke)),
        ];
        for (method, path, want) in cases {
            assert_eq!(
                Endpoint::resolve(method, path),
                Some(want),
                "{method} {path}"
            );
        }
        assert_eq!(Endpoint::resolve("GET", "/mcp"), None);
        assert_eq!(
            WellKnownDocument::for_path("/.well-known/oauth-protected-resource"),
            Some(WellKnownDocument::ProtectedResource)
        );
        assert_eq!(
            WellKnownDocument::for_path("/.well-known/oauth-authorization-server/mcp"),
            Some(WellKnownDocument::AuthorizationServer)
        );
        assert_eq!(
            WellKnownDocument::for_path("/.well-known/oauth-protected-resource/x"),
            None
        );
        assert_eq!(
            Endpoint::resolve("GET", "/.well-known/openid-configuration"),
            None
        );
    }
}
