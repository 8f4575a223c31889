//! Client authentication at the token and revocation endpoints, and their error replies.
//!
//! Public clients (`none`) send `client_id` in the form. Confidential clients use what they
//! registered: `client_secret_post` (form) or `client_secret_basic` (HTTP Basic, id and
//! secret form-urlencoded first, RFC 6749 section 2.3.1). Using two methods at once, or another
//! method than the registered one, fails. Failures are `invalid_client` with 401, and with
//! `WWW-Authenticate: Basic` when the client tried Basic (RFC 6749 section 5.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use super::params::Params;
use super::registration::{AuthMethod, ClientRecord, looks_like_client_id};
use super::response::{ErrorBody, ErrorCode, Reply};

/// The credentials a request presents.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `client_id` only (a public client).
    Public {
        /// The client id.
        client_id: String,
    },
    /// `client_id` and `client_secret` in the form.
    Post {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: String,
    },
    /// HTTP Basic.
    Basic {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, id) = match self {
            Credentials::Public { client_id } => ("Public", client_id),
            Credentials::Post { client_id, .. } => ("Post", client_id),
            Credentials::Basic { client_id, .. } => ("Basic", client_id),
        };
        write!(f, "Credentials::{kind}({id:?}, ..)")
    }
}

impl Credentials {
    /// The client id presented (look up [`client_key`](super::storage::client_key) with it).
    pub fn client_id(&self) -> &str {
        match self {
            Credentials::Public { client_id }
            | Credentials::Post { client_id, .. }
            | Credentials::Basic { client_id, .. } => client_id,
        }
    }

    /// Reads the credentials of a token or revocation request.
    pub fn from_request(params: &Params, authorization: Option<&str>) -> Result<Self, TokenError> {
        let form_id = params
            .get("client_id")
            .map_err(TokenError::invalid_request)?;
        let form_secret = params
            .get("client_secret")
            .map_err(TokenError::invalid_request)?;
        if let Some(header) = authorization {
            let Some(encoded) = strip_scheme(header, "basic") else {
                return Err(TokenError::invalid_client(
                    "unsupported Authorization scheme",
                ));
            };
            if form_secret.is_some() {
                return Err(TokenError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let basic = || TokenError::invalid_client("malformed Basic credentials").with_basic();
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| basic())?;
            let decoded = String::from_utf8(decoded).map_err(|_| basic())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(basic)?;
            let id = form_decode(id);
            if !looks_like_client_id(&id) {
                return Err(basic());
            }
            if form_id.is_some_and(|form_id| form_id != id) {
                return Err(
                    TokenError::invalid_client("client_id differs from the Basic user")
                        .with_basic(),
                );
            }
            return Ok(Credentials::Basic {
                client_id: id,
                secret: form_decode(secret),
            });
        }
        let client_id = form_id
            .ok_or_else(|| TokenError::invalid_client("client_id is required"))?
            .to_owned();
        if !looks_like_client_id(&client_id) {
            return Err(TokenError::invalid_client("unknown client"));
        }
        Ok(match form_secret {
            Some(secret) => Credentials::Post {
                client_id,
                secret: secret.to_owned(),
            },
            None => Credentials::Public { client_id },
        })
    }

    /// Checks the credentials against the client record the adapter loaded (`None` if none).
    pub fn authenticate<'a>(
        &self,
        client: Option<&'a ClientRecord>,
        now_ms: u64,
    ) -> Result<&'a ClientRecord, TokenError> {
        let basic = matches!(self, Credentials::Basic { .. });
        let fail = |why: &str| {
            let err = TokenError::invalid_client(why);
            if basic { err.with_basic() } else { err }
        };
        let client = client
            .filter(|client| client.client_id == self.client_id() && !client.is_expired(now_ms))
            .ok_or_else(|| fail("unknown client"))?;
        let ok = match (client.auth_method, self) {
            (AuthMethod::None, Credentials::Public { .. }) => true,
            (AuthMethod::ClientSecretPost, Credentials::Post { secret, .. })
            | (AuthMethod::ClientSecretBasic, Credentials::Basic { secret, .. }) => {
                client.secret_matches(secret)
            }
            _ => false,
        };
        if ok {
            Ok(client)
        } else {
            Err(fail("client authentication failed"))
        }
    }
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = header.trim().split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// An error from the token or revocation endpoint (RFC 6749 section 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}: {}", .code.as_str(), .description)]
pub struct TokenError {
    /// The code.
    pub code: ErrorCode,
    /// A short description.
    pub description: String,
    /// Whether to send `WWW-Authenticate: Basic` (the client tried Basic).
    pub basic_challenge: bool,
}

impl TokenError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, description: impl std::fmt::Display) -> Self {
        TokenError {
            code,
            description: description.to_string(),
            basic_challenge: false,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`.
    pub fn invalid_client(description: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    fn with_basic(mut self) -> Self {
        self.basic_challenge = true;
        self
    }

    /// 401 for `invalid_client`, else 400.
    pub fn status(&self) -> u16 {
        match self.code {
            ErrorCode::InvalidClient => 401,
            _ => 400,
        }
    }

    /// The JSON error reply (no-store, readable cross-origin).
    pub fn reply(&self) -> Reply {
        let reply = ErrorBody::new(self.code, self.description.clone())
            .reply(self.status())
            .with_public_cors();
        if self.basic_challenge {
            reply.with_header("www-authenticate", "Basic realm=\"second-brain\"")
        } else {
            reply
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::registration::{RegistrationPolicy, RegistrationRandom, register};

    const NOW: u64 = 1_750_000_000_000;

    fn client(method: &str) -> (ClientRecord, Option<String>) {
        let body = serde_json::json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": method
        });
        let reg = register(
            body.to_string().as_bytes(),
            &RegistrationPolicy::default(),
            NOW,
            &RegistrationRandom {
                client_id: [1; 16],
                client_secret: [2; 32],
            },
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&reg.reply.body).unwrap();
        let secret = json["client_secret"].as_str().map(str::to_owned);
        (reg.record, secret)
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn public_clients_send_their_id() {
        let (record, _) = client("none");
        let form = Params::from_pairs([("client_id", record.client_id.as_str())]);
        let creds = Credentials::from_request(&form, None).unwrap();
        assert_eq!(creds.client_id(), record.client_id);
        assert!(creds.authenticate(Some(&record), NOW).is_ok());
        let err = creds.authenticate(None, NOW).unwrap_err();
        assert_eq!((err.code, err.status()), (ErrorCode::InvalidClient, 401));
        assert!(!err.basic_challenge);
        let missing = Credentials::from_request(&Params::default(), None).unwrap_err();
        assert_eq!(missing.code, ErrorCode::InvalidClient);
    }

    #[test]
    fn post_and_basic_secrets_are_checked() {
        let (post, secret) = client("client_secret_post");
        let secret = secret.unwrap();
        let form = Params::from_pairs([
            ("client_id", post.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ]);
        let creds = Credentials::from_request(&form, None).unwrap();
        assert!(creds.authenticate(Some(&post), NOW).is_ok());
        let wrong = Params::from_pairs([
            ("client_id", post.client_id.as_str()),
            ("client_secret", "sb_cs_nope"),
        ]);
        let creds = Credentials::from_request(&wrong, None).unwrap();
        assert_eq!(
            creds.authenticate(Some(&post), NOW).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        assert!(!format!("{creds:?}").contains("nope"));

        let (basic_client, secret) = client("client_secret_basic");
        let secret = secret.unwrap();
        let header = basic(&basic_client.client_id, &secret);
        let creds = Credentials::from_request(&Params::default(), Some(&header)).unwrap();
        assert!(creds.authenticate(Some(&basic_client), NOW).is_ok());
        let bad = basic(&basic_client.client_id, "wrong");
        let err = Credentials::from_request(&Params::default(), Some(&bad))
            .unwrap()
            .authenticate(Some(&basic_client), NOW)
            .unwrap_err();
        assert!(err.basic_challenge);
        assert_eq!(
            err.reply().header("www-authenticate"),
            Some("Basic realm=\"second-brain\"")
        );
        // A secret client may not fall back to public, nor switch methods.
        let public = Params::from_pairs([("client_id", basic_client.client_id.as_str())]);
        let creds = Credentials::from_request(&public, None).unwrap();
        assert!(creds.authenticate(Some(&basic_client), NOW).is_err());
        let switched = Params::from_pairs([
            ("client_id", basic_client.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ]);
        let creds = Credentials::from_request(&switched, None).unwrap();
        assert!(creds.authenticate(Some(&basic_client), NOW).is_err());
    }

    #[test]
    fn malformed_or_doubled_credentials() {
        let both = Params::from_pairs([("client_secret", "x")]);
        let err = Credentials::from_request(&both, Some(&basic("a", "b"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        for header in ["Basic !!!", "Basic bm9jb2xvbg==", "Bearer abc", "Basic"] {
            let err = Credentials::from_request(&Params::default(), Some(header)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClient, "{header}");
        }
        let other_id = Params::from_pairs([("client_id", "b")]);
        assert!(Credentials::from_request(&other_id, Some(&basic("a", "s"))).is_err());
        let encoded = basic("sbc%5FAAAAAAAAAAAAAAAAAAAAAA", "s%3Ac");
        let creds = Credentials::from_request(&Params::default(), Some(&encoded)).unwrap();
        assert_eq!(
            creds,
            Credentials::Basic {
                client_id: "sbc_AAAAAAAAAAAAAAAAAAAAAA".into(),
                secret: "s:c".into()
            }
        );
        // Ids we could not have issued are refused before any lookup.
        let long = format!("sbc_{}", "A".repeat(600));
        let hostile = Params::from_pairs([("client_id", long.as_str())]);
        assert_eq!(
            Credentials::from_request(&hostile, None).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        let repeated = Params::from_pairs([("client_id", "a"), ("client_id", "a")]);
        assert_eq!(
            Credentials::from_request(&repeated, None).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}
