//! Dynamic client registration (RFC 7591): checking a request, the client record, the reply.
//!
//! What we accept:
//! - `redirect_uris`: required, 1 to [`RegistrationPolicy::max_redirect_uris`]; each an
//!   absolute `https` URL, or `http` on a loopback host (`127.0.0.1`, `[::1]`, `localhost`:
//!   RFC 8252 section 7.3 and the MCP rule "localhost or HTTPS"); no fragment, no user info,
//!   printable ASCII only, at most [`RegistrationPolicy::max_redirect_uri_len`] bytes (it
//!   travels in the sign-in cookie). Matching at `/authorize` is exact, port included: MCP's
//!   security guidance asks for exact string matching, which is stricter than RFC 8252's
//!   any-port rule for loopback; clients register the port they listen on.
//! - `token_endpoint_auth_method`: `none` (the default here: MCP clients are public clients),
//!   `client_secret_post` or `client_secret_basic` (we then issue a secret and store its hash).
//! - `grant_types` within `authorization_code` and `refresh_token`, including
//!   `authorization_code` (default: just that, as RFC 7591 says); `response_types` exactly
//!   `code` (the default). Refresh tokens are issued only to clients that registered
//!   `refresh_token`.
//! - `client_name`: optional, at most [`RegistrationPolicy::max_client_name_chars`] characters,
//!   no control characters, no bidirectional controls or zero-width characters
//!   ([`engine::path::Invisible`]: they can make one name look like another). Shown on the
//!   consent page, escaped.
//! - `scope`: optional, within our scopes (default: all).
//!
//! Other metadata (`client_uri`, `logo_uri`, `contacts`, ...) is ignored and not echoed: the
//! consent page shows nothing a client asserts about itself except its name and redirect URI.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use engine::path::Invisible;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::endpoints::is_loopback_host;
use super::response::{ErrorBody, ErrorCode, Reply};
use super::scope::ScopeSet;
use super::storage::{KvWrite, client_key, ttl_until};
use super::tokens::hash_token;

/// Limits and lifetimes for registered clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationPolicy {
    /// How long a client record lives without being used, in milliseconds (renewed whenever a
    /// token is issued to the client).
    pub client_ttl_ms: u64,
    /// The most redirect URIs per client.
    pub max_redirect_uris: usize,
    /// The longest redirect URI, in bytes.
    pub max_redirect_uri_len: usize,
    /// The longest client name, in characters.
    pub max_client_name_chars: usize,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        RegistrationPolicy {
            client_ttl_ms: 90 * 24 * 3600 * 1000,
            max_redirect_uris: 10,
            max_redirect_uri_len: 512,
            max_client_name_chars: 100,
            max_body_bytes: 16 * 1024,
        }
    }
}

/// How a client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: no secret, `client_id` in the form.
    None,
    /// `client_id` and `client_secret` in the form.
    ClientSecretPost,
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
        }
    }
}

/// A registered client, as stored under [`client_key`] in `OAUTH_KV`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Our id for it.
    pub client_id: String,
    /// The name it gave, if any.
    pub client_name: Option<String>,
    /// Its redirect URIs, exactly as registered.
    pub redirect_uris: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub auth_method: AuthMethod,
    /// SHA-256 (hex) of its secret, for confidential clients.
    pub secret_hash: Option<String>,
    /// Whether it registered the `refresh_token` grant.
    pub refresh_allowed: bool,
    /// The scopes it may ask for.
    pub scope: ScopeSet,
    /// When it registered (ms since the epoch).
    pub created_at_ms: u64,
    /// When the record expires unless renewed (ms since the epoch).
    pub expires_at_ms: u64,
}

impl ClientRecord {
    /// The name to show people: the client name, or its id.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }

    /// Whether `uri` is one of the registered redirect URIs (exact string comparison).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    /// Whether the record has expired (KV removes it soon after; this covers the gap).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }

    /// Whether `secret` is this client's secret (constant-time over the hashes).
    pub fn secret_matches(&self, secret: &str) -> bool {
        let Some(stored) = &self.secret_hash else {
            return false;
        };
        let given = hash_token(secret);
        bool::from(given.as_hex().as_bytes().ct_eq(stored.as_bytes()))
    }

    /// The write that keeps this client alive for another `policy.client_ttl_ms` from now.
    pub fn renewal(&self, policy: &RegistrationPolicy, now_ms: u64) -> KvWrite {
        let mut renewed = self.clone();
        renewed.expires_at_ms = now_ms.saturating_add(policy.client_ttl_ms);
        renewed.write(now_ms)
    }

    /// The write that stores this record until it expires.
    pub fn write(&self, now_ms: u64) -> KvWrite {
        KvWrite::put_json(
            client_key(&self.client_id),
            self,
            ttl_until(self.expires_at_ms, now_ms),
        )
    }
}

/// Random bytes for one registration, from the caller's CSPRNG.
#[derive(Clone)]
pub struct RegistrationRandom {
    /// For the client id.
    pub client_id: [u8; 16],
    /// For the client secret (used only for confidential clients).
    pub client_secret: [u8; 32],
}

impl std::fmt::Debug for RegistrationRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistrationRandom(..)")
    }
}

/// A successful registration: the record to store and the reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The record; store it with [`ClientRecord::write`].
    pub record: ClientRecord,
    /// `201 Created` with the RFC 7591 client information response (including the secret, the
    /// only time it is ever shown).
    pub reply: Reply,
}

/// The RFC 7591 section 3.2.1 response body.
#[derive(Debug, Serialize)]
struct InformationResponse<'a> {
    client_id: &'a str,
    client_id_issued_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<u64>,
    redirect_uris: &'a [String],
    token_endpoint_auth_method: &'static str,
    grant_types: Vec<&'static str>,
    response_types: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<&'a str>,
    scope: String,
}

/// The registration request fields we read; the rest are ignored.
#[derive(Debug, Deserialize)]
struct Request {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
}

/// Why a redirect URI is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RedirectUriError {
    /// Not an absolute URL.
    #[error("is not an absolute URL")]
    NotAbsolute,
    /// `http` on a host that is not loopback.
    #[error("must use https (http only on 127.0.0.1, [::1] or localhost)")]
    NotHttps,
    /// Any other scheme.
    #[error("uses a scheme other than https or loopback http")]
    UnsupportedScheme,
    /// Has a `#` fragment.
    #[error("must not have a fragment")]
    Fragment,
    /// Has `user:password@`.
    #[error("must not contain user information")]
    UserInfo,
    /// Has spaces, control or non-ASCII characters.
    #[error("must be printable ASCII")]
    NotPrintableAscii,
    /// Longer than the policy allows.
    #[error("is longer than {0} bytes")]
    TooLong(usize),
}

/// Why a registration is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The body is larger than the policy allows.
    #[error("the registration request is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a JSON object with the expected field types.
    #[error("the registration request is not valid client metadata JSON: {0}")]
    NotJson(String),
    /// A redirect URI is refused.
    #[error("redirect URI {index} {reason}")]
    InvalidRedirectUri {
        /// Its position in `redirect_uris` (0-based).
        index: usize,
        /// Why.
        reason: RedirectUriError,
    },
    /// `client_name` holds a bidirectional control or zero-width character.
    #[error(
        "client_name contains U+{code:04X} ({kind}) at byte {at}; bidirectional controls and zero-width characters are not allowed in a client name, as they make it look like another",
        code = u32::from(*found)
    )]
    InvisibleInClientName {
        /// The offending character.
        found: char,
        /// Which kind it is.
        kind: Invisible,
        /// Its byte offset in the name (after trimming).
        at: usize,
    },
    /// Some other metadata value is refused.
    #[error("{0}")]
    InvalidMetadata(String),
}

impl RegistrationError {
    /// The RFC 7591 error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistrationError::InvalidRedirectUri { .. } => ErrorCode::InvalidRedirectUri,
            _ => ErrorCode::InvalidClientMetadata,
        }
    }

    /// `400` with the RFC 7591 error body (`413` for an oversized body).
    pub fn reply(&self) -> Reply {
        let status = match self {
            RegistrationError::TooLarge(_) => 413,
            _ => 400,
        };
        ErrorBody::new(self.code(), self.to_string())
            .reply(status)
            .with_public_cors()
    }
}

/// The prefix of the client ids we issue.
pub const CLIENT_ID_PREFIX: &str = "sbc_";

/// Whether `id` has the shape of a client id we issue (`sbc_` and 22 base64url characters).
/// Checked before any lookup, so a hostile `client_id` never becomes a KV key.
pub fn looks_like_client_id(id: &str) -> bool {
    id.strip_prefix(CLIENT_ID_PREFIX).is_some_and(|rest| {
        rest.len() == 22
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Checks one redirect URI.
pub fn check_redirect_uri(uri: &str, max_len: usize) -> Result<(), RedirectUriError> {
    if uri.len() > max_len {
        return Err(RedirectUriError::TooLong(max_len));
    }
    // The URL parser silently drops tabs and newlines; refuse them (and anything outside
    // printable ASCII) so the string we compare is the string we redirect to.
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RedirectUriError::NotPrintableAscii);
    }
    let url = url::Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute)?;
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "https" => return Err(RedirectUriError::NotAbsolute),
        "http" if is_loopback_host(&url) => {}
        "http" => return Err(RedirectUriError::NotHttps),
        _ => return Err(RedirectUriError::UnsupportedScheme),
    }
    if uri.contains('#') {
        return Err(RedirectUriError::Fragment);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUriError::UserInfo);
    }
    Ok(())
}

/// Checks a registration request body and makes the client.
pub fn register(
    body: &[u8],
    policy: &RegistrationPolicy,
    now_ms: u64,
    random: &RegistrationRandom,
) -> Result<Registration, RegistrationError> {
    if body.len() > policy.max_body_bytes {
        return Err(RegistrationError::TooLarge(policy.max_body_bytes));
    }
    let request: Request = serde_json::from_slice(body)
        .map_err(|err| RegistrationError::NotJson(err.to_string().chars().take(200).collect()))?;
    let invalid = |message: &str| RegistrationError::InvalidMetadata(message.to_owned());

    let uris = request
        .redirect_uris
        .filter(|uris| !uris.is_empty())
        .ok_or_else(|| invalid("redirect_uris is required and must not be empty"))?;
    if uris.len() > policy.max_redirect_uris {
        return Err(RegistrationError::InvalidMetadata(format!(
            "at most {} redirect_uris are allowed",
            policy.max_redirect_uris
        )));
    }
    let mut redirect_uris: Vec<String> = Vec::with_capacity(uris.len());
    for (index, uri) in uris.into_iter().enumerate() {
        check_redirect_uri(&uri, policy.max_redirect_uri_len)
            .map_err(|reason| RegistrationError::InvalidRedirectUri { index, reason })?;
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }

    let auth_method = match request.token_endpoint_auth_method.as_deref() {
        None | Some("none") => AuthMethod::None,
        Some("client_secret_post") => AuthMethod::ClientSecretPost,
        Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
        Some(_) => {
            return Err(invalid(
                "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic",
            ));
        }
    };

    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if grant_types
        .iter()
        .any(|grant| grant != "authorization_code" && grant != "refresh_token")
    {
        return Err(invalid(
            "grant_types may only contain authorization_code and refresh_token",
        ));
    }
    if !grant_types
        .iter()
        .any(|grant| grant == "authorization_code")
    {
        return Err(invalid("grant_types must include authorization_code"));
    }
    let refresh_allowed = grant_types.iter().any(|grant| grant == "refresh_token");
    let response_types = request
        .response_types
        .unwrap_or_else(|| vec!["code".to_owned()]);
    if response_types.is_empty() || response_types.iter().any(|kind| kind != "code") {
        return Err(invalid(
            "response_types must be [\"code\"] (authorization_code)",
        ));
    }

    let client_name = match request.client_name {
        None => None,
        Some(name) => {
            let name = name.trim().to_owned();
            if name.chars().count() > policy.max_client_name_chars {
                return Err(RegistrationError::InvalidMetadata(format!(
                    "client_name must be at most {} characters",
                    policy.max_client_name_chars
                )));
            }
            if name.chars().any(char::is_control) {
                return Err(invalid("client_name must not contain control characters"));
            }
            if let Some((at, found, kind)) = Invisible::find(&name) {
                return Err(RegistrationError::InvisibleInClientName { found, kind, at });
            }
            Some(name).filter(|name| !name.is_empty())
        }
    };

    let scope = match request.scope.as_deref() {
        None => ScopeSet::ALL,
        Some(value) => match ScopeSet::parse(value) {
            Ok(set) if !set.is_empty() => set,
            Ok(_) => ScopeSet::ALL,
            Err(err) => return Err(RegistrationError::InvalidMetadata(err.to_string())),
        },
    };

    let client_id = format!(
        "{CLIENT_ID_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random.client_id)
    );
    let secret = (auth_method != AuthMethod::None)
        .then(|| format!("sb_cs_{}", URL_SAFE_NO_PAD.encode(random.client_secret)));
    let record = ClientRecord {
        client_id,
        client_name,
        redirect_uris,
        auth_method,
        secret_hash: secret
            .as_deref()
            .map(|secret| hash_token(secret).as_hex().to_owned()),
        refresh_allowed,
        scope,
        created_at_ms: now_ms,
        expires_at_ms: now_ms.saturating_add(policy.client_ttl_ms),
    };
    let response = InformationResponse {
        client_id: &record.client_id,
        client_id_issued_at: now_ms / 1000,
        client_secret: secret.as_deref(),
        // RFC 7591: required when a secret is issued; the secret lives as long as the record.
        client_secret_expires_at: secret.as_ref().map(|_| record.expires_at_ms / 1000),
        redirect_uris: &record.redirect_uris,
        token_endpoint_auth_method: record.auth_method.as_str(),
        grant_types: if refresh_allowed {
            vec!["authorization_code", "refresh_token"]
        } else {
            vec!["authorization_code"]
        },
        response_types: ["code"],
        client_name: record.client_name.as_deref(),
        scope: record.scope.to_string(),
    };
    let reply = Reply::json_no_store(201, &response).with_public_cors();
    Ok(Registration { record, reply })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const NOW: u64 = 1_750_000_000_000;

    fn random() -> RegistrationRandom {
        RegistrationRandom {
            client_id: [7; 16],
            client_secret: [9; 32],
        }
    }

    fn register_json(body: Value) -> Result<Registration, RegistrationError> {
        register(
            body.to_string().as_bytes(),
            &RegistrationPolicy::default(),
            NOW,
            &random(),
        )
    }

    #[test]
    fn a_public_client_registers_with_defaults() {
        let reg = register_json(json!({
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            "client_name": "  Claude  ",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "logo_uri": "https://evil.example/logo.png"
        }))
        .unwrap();
        assert_eq!(reg.reply.status, 201);
        assert_eq!(reg.reply.header("cache-control"), Some("no-store"));
        let body: Value = serde_json::from_str(&reg.reply.body).unwrap();
        assert_eq!(
            body,
            json!({
                "client_id": reg.record.client_id,
                "client_id_issued_at": NOW / 1000,
                "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "client_name": "Claude",
                "scope": "notes:read notes:write"
            })
        );
        let record = &reg.record;
        assert!(looks_like_client_id(&record.client_id));
        for bad in [
            "",
            "sbc_",
            "sbc_short",
            "other_AAAAAAAAAAAAAAAAAAAAAA",
            &format!("sbc_{}", "A".repeat(500)),
        ] {
            assert!(!looks_like_client_id(bad), "{bad}");
        }
        assert_eq!(record.display_name(), "Claude");
        assert!(record.refresh_allowed);
        assert_eq!(record.secret_hash, None);
        assert!(!record.secret_matches(""));
        assert_eq!(record.expires_at_ms, NOW + 90 * 24 * 3600 * 1000);
        assert!(record.has_redirect_uri("https://claude.ai/api/mcp/auth_callback"));
        assert!(!record.has_redirect_uri("https://claude.ai/api/mcp/auth_callback/"));
        let KvWrite::Put { key, ttl_secs, .. } = record.write(NOW) else {
            panic!("not a put")
        };
        assert_eq!(key, format!("client:{}", record.client_id));
        assert_eq!(ttl_secs, 90 * 24 * 3600);
    }

    #[test]
    fn minimal_registration_gets_rfc_7591_defaults() {
        let reg =
            register_json(json!({"redirect_uris": ["http://127.0.0.1:33418/callback"]})).unwrap();
        let record = reg.record;
        assert_eq!(record.auth_method, AuthMethod::None);
        assert!(
            !record.refresh_allowed,
            "default grant_types is authorization_code only"
        );
        assert_eq!(record.scope, ScopeSet::ALL);
        assert_eq!(record.display_name(), record.client_id);
    }

    #[test]
    fn confidential_clients_get_a_secret_stored_only_as_a_hash() {
        let reg = register_json(json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "client_secret_basic"
        }))
        .unwrap();
        let body: Value = serde_json::from_str(&reg.reply.body).unwrap();
        let secret = body["client_secret"].as_str().unwrap();
        assert!(secret.starts_with("sb_cs_"));
        assert_eq!(
            body["client_secret_expires_at"],
            json!(reg.record.expires_at_ms / 1000)
        );
        let stored = serde_json::to_string(&reg.record).unwrap();
        assert!(!stored.contains(secret));
        assert!(reg.record.secret_matches(secret));
        assert!(!reg.record.secret_matches("sb_cs_wrong"));
    }

    #[test]
    fn good_redirect_uris() {
        for uri in [
            "https://claude.ai/api/mcp/auth_callback",
            "https://app.example:8443/cb?tenant=1",
            "http://127.0.0.1:33418/callback",
            "http://[::1]:8080/cb",
            "http://localhost:6274/oauth/callback",
            "http://localhost/cb",
        ] {
            assert_eq!(check_redirect_uri(uri, 512), Ok(()), "{uri}");
        }
    }

    #[test]
    fn bad_redirect_uris() {
        let cases = [
            ("http://app.example/cb", RedirectUriError::NotHttps),
            ("http://127.0.0.1.nip.io/cb", RedirectUriError::NotHttps),
            (
                "http://localhost.evil.example/cb",
                RedirectUriError::NotHttps,
            ),
            ("http://10.0.0.1/cb", RedirectUriError::NotHttps),
            ("https://app.example/cb#frag", RedirectUriError::Fragment),
            ("https://app.example/cb#", RedirectUriError::Fragment),
            ("https://user:pw@app.example/cb", RedirectUriError::UserInfo),
            ("/relative/cb", RedirectUriError::NotAbsolute),
            ("app.example/cb", RedirectUriError::NotAbsolute),
            ("javascript:alert(1)", RedirectUriError::UnsupportedScheme),
            ("com.example.app:/cb", RedirectUriError::UnsupportedScheme),
            ("ftp://app.example/cb", RedirectUriError::UnsupportedScheme),
            (
                "https://app.example/c\nb",
                RedirectUriError::NotPrintableAscii,
            ),
            (
                "https://app.example/c b",
                RedirectUriError::NotPrintableAscii,
            ),
            ("https://app.example/é", RedirectUriError::NotPrintableAscii),
        ];
        for (uri, want) in cases {
            assert_eq!(check_redirect_uri(uri, 512), Err(want), "{uri}");
        }
        let long = format!("https://app.example/{}", "a".repeat(600));
        assert_eq!(
            check_redirect_uri(&long, 512),
            Err(RedirectUriError::TooLong(512))
        );
    }

    #[test]
    fn a_bad_redirect_uri_is_invalid_redirect_uri() {
        let err = register_json(json!({
            "redirect_uris": ["https://ok.example/cb", "http://evil.example/cb"]
        }))
        .unwrap_err();
        assert_eq!(
            err,
            RegistrationError::InvalidRedirectUri {
                index: 1,
                reason: RedirectUriError::NotHttps
            }
        );
        let reply = err.reply();
        assert_eq!(reply.status, 400);
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri");
    }

    #[test]
    fn bad_metadata_is_invalid_client_metadata() {
        let bad = [
            json!({}),
            json!({"redirect_uris": []}),
            json!({"redirect_uris": "https://a.example/cb"}),
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["refresh_token"]}),
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": []}),
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(101)}),
            json!({"redirect_uris": ["https://a.example/cb"], "client_name": "a\u{7}b"}),
            json!({"redirect_uris": ["https://a.example/cb"], "scope": "admin"}),
            json!({"redirect_uris": (0..11).map(|i| format!("https://a.example/{i}")).collect::<Vec<_>>()}),
            json!([1, 2]),
        ];
        for body in bad {
            let err = register_json(body.clone()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidClientMetadata, "{body}");
            assert_eq!(err.reply().status, 400);
        }
        let err =
            register(b"not json", &RegistrationPolicy::default(), NOW, &random()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClientMetadata);
        let huge = vec![b' '; 20 * 1024];
        let err = register(&huge, &RegistrationPolicy::default(), NOW, &random()).unwrap_err();
        assert_eq!(err.reply().status, 413);
    }

    #[test]
    fn client_names_with_bidirectional_or_zero_width_characters_are_refused() {
        let cases = [
            ('\u{202A}', Invisible::Bidirectional),
            ('\u{202E}', Invisible::Bidirectional),
            ('\u{2066}', Invisible::Bidirectional),
            ('\u{2069}', Invisible::Bidirectional),
            ('\u{200E}', Invisible::Bidirectional),
            ('\u{200F}', Invisible::Bidirectional),
            ('\u{061C}', Invisible::Bidirectional),
            ('\u{200B}', Invisible::ZeroWidth),
            ('\u{200D}', Invisible::ZeroWidth),
            ('\u{2060}', Invisible::ZeroWidth),
            ('\u{FEFF}', Invisible::ZeroWidth),
        ];
        for (c, kind) in cases {
            let name = format!("Claude{c} Desktop");
            let body = json!({"redirect_uris": ["https://a.example/cb"], "client_name": name});
            let err = register_json(body).unwrap_err();
            assert_eq!(
                err,
                RegistrationError::InvisibleInClientName {
                    found: c,
                    kind,
                    at: 6
                },
                "U+{:04X}",
                u32::from(c)
            );
            assert_eq!(err.code(), ErrorCode::InvalidClientMetadata);
            assert_eq!(err.reply().status, 400);
            let message = err.to_string();
            assert!(
                message.contains(&format!("U+{:04X}", u32::from(c))),
                "{message}"
            );
            assert!(
                message.contains("not allowed in a client name"),
                "{message}"
            );
        }
        // Visible non-Latin names are fine.
        let body = json!({"redirect_uris": ["https://a.example/cb"], "client_name": "מסוף ملاحظات"});
        assert!(register_json(body).is_ok());
    }

    #[test]
    fn duplicates_collapse_and_the_client_ttl_is_configurable() {
        let policy = RegistrationPolicy {
            client_ttl_ms: 3_600_000,
            ..RegistrationPolicy::default()
        };
        let body = json!({"redirect_uris": ["https://a.example/cb", "https://a.example/cb"]});
        let reg = register(body.to_string().as_bytes(), &policy, NOW, &random()).unwrap();
        assert_eq!(reg.record.redirect_uris.len(), 1);
        assert_eq!(reg.record.expires_at_ms, NOW + 3_600_000);
        assert!(!reg.record.is_expired(NOW + 3_599_999));
        assert!(reg.record.is_expired(NOW + 3_600_000));
        let KvWrite::Put {
            value, ttl_secs, ..
        } = reg.record.renewal(&policy, NOW + 1_000_000)
        else {
            panic!("not a put")
        };
        assert_eq!(ttl_secs, 3600);
        let renewed: ClientRecord = serde_json::from_str(&value).unwrap();
        assert_eq!(renewed.expires_at_ms, NOW + 4_600_000);
    }
}
