//! The upstream leg: GitHub's OAuth web flow as request builders and response parsers, and
//! the allowlist of GitHub user ids.
//!
//! The adapter sends the [`UpstreamRequest`]s with `fetch` and hands the status and body back.
//! GitHub's token endpoint reports most failures as `200 OK` with an `error` member (for
//! example `bad_verification_code`), so a 200 is not success until the body says so. The
//! GitHub token is used once, to read the user's numeric id, and then dropped: it is never
//! stored, logged or passed on.
//!
//! Endpoints are configurable so local development and tests can use the stand-in
//! (`second-brain github-standin`); [`GitHubEndpoints::local_standin`] accepts loopback URLs
//! only, so a misconfigured production Worker cannot be pointed at some other server.

use serde::Deserialize;
use thiserror::Error;

use super::params::with_query;

/// The `User-Agent` GitHub's API requires.
pub const USER_AGENT: &str = "second-brain-mcp";
/// The only GitHub scope we ask for: read-only profile (we need the id).
pub const GITHUB_SCOPE: &str = "read:user";

/// Where GitHub's web flow and API live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubEndpoints {
    web_base: String,
    api_base: String,
}

/// A stand-in URL that is not on loopback.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the GitHub stand-in must be an http(s) URL on 127.0.0.1, [::1] or localhost")]
pub struct NotLoopback;

impl GitHubEndpoints {
    /// The real GitHub: `https://github.com` and `https://api.github.com`.
    pub fn github() -> Self {
        GitHubEndpoints {
            web_base: "https://github.com".into(),
            api_base: "https://api.github.com".into(),
        }
    }

    /// A local stand-in serving both the web flow and `/user` at `base` (loopback only).
    pub fn local_standin(base: &str) -> Result<Self, NotLoopback> {
        let url = url::Url::parse(base).map_err(|_| NotLoopback)?;
        if !matches!(url.scheme(), "http" | "https")
            || !super::endpoints::is_loopback_host(&url)
            || url.path() != "/"
        {
            return Err(NotLoopback);
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(GitHubEndpoints {
            web_base: base.clone(),
            api_base: base,
        })
    }
}

/// Our GitHub OAuth app (`GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET`). `Debug` hides the secret.
#[derive(Clone)]
pub struct GitHubApp {
    client_id: String,
    client_secret: String,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitHubApp {{ client_id: {:?}, .. }}", self.client_id)
    }
}

impl GitHubApp {
    /// The app's credentials.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        GitHubApp {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

/// An HTTP request to make upstream. `Debug` hides the body and `Authorization`.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The URL.
    pub url: String,
    /// Headers (lower-case names).
    pub headers: Vec<(&'static str, String)>,
    /// The form body, for `POST`.
    pub body: Option<String>,
}

impl std::fmt::Debug for UpstreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Where to send the browser after consent: GitHub's authorize page. `state` is the pending
/// authorization's `upstream_state`; `callback` is [`ServerUrls::callback`].
///
/// [`ServerUrls::callback`]: super::endpoints::ServerUrls::callback
pub fn authorize_url(
    endpoints: &GitHubEndpoints,
    app: &GitHubApp,
    callback: &str,
    state: &str,
) -> String {
    with_query(
        &format!("{}/login/oauth/authorize", endpoints.web_base),
        &[
            ("client_id", Some(&app.client_id)),
            ("redirect_uri", Some(callback)),
            ("scope", Some(GITHUB_SCOPE)),
            ("state", Some(state)),
            ("allow_signup", Some("false")),
        ],
    )
}

/// Exchanging GitHub's code: `POST {web}/login/oauth/access_token`, form-encoded, asking for
/// JSON.
pub fn token_request(
    endpoints: &GitHubEndpoints,
    app: &GitHubApp,
    code: &str,
    callback: &str,
) -> UpstreamRequest {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &app.client_id)
        .append_pair("client_secret", &app.client_secret)
        .append_pair("code", code)
        .append_pair("redirect_uri", callback)
        .finish();
    UpstreamRequest {
        method: "POST",
        url: format!("{}/login/oauth/access_token", endpoints.web_base),
        headers: vec![
            ("accept", "application/json".into()),
            ("content-type", "application/x-www-form-urlencoded".into()),
            ("user-agent", USER_AGENT.into()),
        ],
        body: Some(body),
    }
}

/// A GitHub access token. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct GitHubToken(String);

impl std::fmt::Debug for GitHubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitHubToken(..)")
    }
}

/// What went wrong upstream. Messages never include tokens.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GitHubError {
    /// An unexpected HTTP status.
    #[error("GitHub answered with HTTP status {0}")]
    Status(u16),
    /// GitHub refused (its `error` member, for example `bad_verification_code`).
    #[error("GitHub refused the sign-in: {error}")]
    Refused {
        /// GitHub's error code.
        error: String,
    },
    /// `/user` said the token is not valid.
    #[error("GitHub did not accept the access token")]
    BadCredentials,
    /// A body we cannot read.
    #[error("GitHub's answer could not be read: {0}")]
    Malformed(&'static str),
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    error: Option<String>,
}

/// Reads the token endpoint's answer (including GitHub's errors inside a 200).
pub fn parse_token_response(status: u16, body: &str) -> Result<GitHubToken, GitHubError> {
    if status != 200 {
        return Err(GitHubError::Status(status));
    }
    let parsed: TokenBody =
        serde_json::from_str(body).map_err(|_| GitHubError::Malformed("not a JSON object"))?;
    if let Some(error) = parsed.error {
        return Err(GitHubError::Refused {
            error: error.chars().take(64).collect(),
        });
    }
    match parsed.access_token {
        Some(token) if !token.is_empty() => Ok(GitHubToken(token)),
        _ => Err(GitHubError::Malformed("no access_token")),
    }
}

/// Reading the signed-in user: `GET {api}/user`.
pub fn user_request(endpoints: &GitHubEndpoints, token: &GitHubToken) -> UpstreamRequest {
    UpstreamRequest {
        method: "GET",
        url: format!("{}/user", endpoints.api_base),
        headers: vec![
            ("authorization", format!("Bearer {}", token.0)),
            ("accept", "application/vnd.github+json".into()),
            ("user-agent", USER_AGENT.into()),
            ("x-github-api-version", "2022-11-28".into()),
        ],
        body: None,
    }
}

/// The GitHub user who signed in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitHubUser {
    /// The numeric id: stable for the account's life (logins can be renamed).
    pub id: u64,
    /// The login, for display only (never an authorization input).
    pub login: String,
}

/// Reads `/user`'s answer.
pub fn parse_user_response(status: u16, body: &str) -> Result<GitHubUser, GitHubError> {
    match status {
        200 => {}
        401 => return Err(GitHubError::BadCredentials),
        other => return Err(GitHubError::Status(other)),
    }
    let user: GitHubUser = serde_json::from_str(body)
        .map_err(|_| GitHubError::Malformed("no numeric id and login"))?;
    if user.id == 0 {
        return Err(GitHubError::Malformed("the id is zero"));
    }
    Ok(user)
}

/// Who may sign in: `GITHUB_ALLOWED_USER_ID`, a comma-separated list of GitHub user ids.
/// Whitespace and empty entries are ignored; an empty list lets nobody in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowlist(Vec<u64>);

/// A `GITHUB_ALLOWED_USER_ID` entry that is not a GitHub user id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "GITHUB_ALLOWED_USER_ID entry {position} ({entry:?}) is not a GitHub user id (a positive integer)"
)]
pub struct AllowlistError {
    /// The entry's position (1-based).
    pub position: usize,
    /// The entry (shortened).
    pub entry: String,
}

impl Allowlist {
    /// Parses the var.
    pub fn parse(var: &str) -> Result<Self, AllowlistError> {
        let mut ids = Vec::new();
        for (index, entry) in var.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            match entry.parse::<u64>() {
                Ok(id) if id > 0 && entry.bytes().all(|b| b.is_ascii_digit()) => ids.push(id),
                _ => {
                    return Err(AllowlistError {
                        position: index + 1,
                        entry: entry.chars().take(32).collect(),
                    });
                }
            }
        }
        Ok(Allowlist(ids))
    }

    /// Whether `user_id` may sign in (and keep using its tokens).
    pub fn allows(&self, user_id: u64) -> bool {
        self.0.contains(&user_id)
    }

    /// Whether nobody may sign in.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::params::Params;

    fn app() -> GitHubApp {
        GitHubApp::new("gh-client", "gh-secret")
    }

    #[test]
    fn authorize_url_asks_for_read_user_with_our_state() {
        let url = authorize_url(
            &GitHubEndpoints::github(),
            &app(),
            "https://brain.example.com/oauth/callback",
            "up-state",
        );
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://github.com/login/oauth/authorize");
        let params = Params::parse(query);
        assert_eq!(params.get("client_id"), Ok(Some("gh-client")));
        assert_eq!(
            params.get("redirect_uri"),
            Ok(Some("https://brain.example.com/oauth/callback"))
        );
        assert_eq!(params.get("scope"), Ok(Some("read:user")));
        assert_eq!(params.get("state"), Ok(Some("up-state")));
        assert_eq!(params.get("allow_signup"), Ok(Some("false")));
    }

    #[test]
    fn token_request_is_a_form_post_asking_for_json() {
        let request = token_request(&GitHubEndpoints::github(), &app(), "c0de", "https://cb");
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "https://github.com/login/oauth/access_token");
        assert!(
            request
                .headers
                .contains(&("accept", "application/json".into()))
        );
        let body = Params::parse(request.body.as_deref().unwrap());
        assert_eq!(body.get("client_secret"), Ok(Some("gh-secret")));
        assert_eq!(body.get("code"), Ok(Some("c0de")));
        assert_eq!(body.get("redirect_uri"), Ok(Some("https://cb")));
        let debug = format!("{request:?} {:?}", app());
        assert!(!debug.contains("gh-secret"));
    }

    #[test]
    fn token_responses_including_errors_inside_200() {
        let token = parse_token_response(
            200,
            r#"{"access_token":"gho_x","token_type":"bearer","scope":"read:user"}"#,
        )
        .unwrap();
        assert_eq!(format!("{token:?}"), "GitHubToken(..)");
        assert_eq!(
            parse_token_response(
                200,
                r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"/x"}"#
            ),
            Err(GitHubError::Refused {
                error: "bad_verification_code".into()
            })
        );
        assert_eq!(
            parse_token_response(200, r#"{"error":"incorrect_client_credentials"}"#),
            Err(GitHubError::Refused {
                error: "incorrect_client_credentials".into()
            })
        );
        assert_eq!(
            parse_token_response(200, "access_token=x&scope=read%3Auser"),
            Err(GitHubError::Malformed("not a JSON object"))
        );
        assert_eq!(
            parse_token_response(200, r#"{"access_token":""}"#),
            Err(GitHubError::Malformed("no access_token"))
        );
        assert_eq!(parse_token_response(502, ""), Err(GitHubError::Status(502)));
    }

    #[test]
    fn user_request_and_response() {
        let token = GitHubToken("gho_secret".into());
        let request = user_request(&GitHubEndpoints::github(), &token);
        assert_eq!(request.method, "GET");
        assert_eq!(request.url, "https://api.github.com/user");
        assert!(
            request
                .headers
                .contains(&("authorization", "Bearer gho_secret".into()))
        );
        assert!(request.headers.contains(&("user-agent", USER_AGENT.into())));
        assert!(
            request
                .headers
                .contains(&("accept", "application/vnd.github+json".into()))
        );
        assert!(!format!("{request:?}").contains("gho_secret"));
        assert_eq!(
            parse_user_response(
                200,
                r#"{"id":583231,"login":"octocat","name":"The Octocat"}"#
            ),
            Ok(GitHubUser {
                id: 583231,
                login: "octocat".into()
            })
        );
        assert_eq!(
            parse_user_response(401, r#"{"message":"Bad credentials"}"#),
            Err(GitHubError::BadCredentials)
        );
        assert_eq!(parse_user_response(403, ""), Err(GitHubError::Status(403)));
        for bad in [
            r#"{"id":"583231","login":"x"}"#,
            r#"{"login":"x"}"#,
            r#"{"id":0,"login":"x"}"#,
            r#"{"id":-1,"login":"x"}"#,
        ] {
            assert!(
                matches!(
                    parse_user_response(200, bad),
                    Err(GitHubError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn local_standin_must_be_loopback() {
        let local = GitHubEndpoints::local_standin("http://127.0.0.1:9876/").unwrap();
        assert_eq!(
            authorize_url(&local, &app(), "cb", "s").split('?').next(),
            Some("http://127.0.0.1:9876/login/oauth/authorize")
        );
        assert_eq!(
            user_request(&local, &GitHubToken("t".into())).url,
            "http://127.0.0.1:9876/user"
        );
        assert!(GitHubEndpoints::local_standin("http://localhost:1").is_ok());
        for bad in [
            "https://github.com",
            "http://10.0.0.2:1",
            "http://127.0.0.1:1/x",
            "file:///x",
            "nope",
        ] {
            assert_eq!(
                GitHubEndpoints::local_standin(bad),
                Err(NotLoopback),
                "{bad}"
            );
        }
    }

    #[test]
    fn allowlists() {
        let list = Allowlist::parse(" 583231 , 42,,\n7 ,").unwrap();
        assert!(list.allows(583231) && list.allows(42) && list.allows(7));
        assert!(!list.allows(1));
        let nobody = Allowlist::parse("  ").unwrap();
        assert!(nobody.is_empty() && !nobody.allows(0) && !nobody.allows(583231));
        assert!(Allowlist::default().is_empty());
        for (bad, position) in [
            ("12,abc", 2),
            ("0", 1),
            ("-5", 1),
            ("+5", 1),
            ("1 2", 1),
            ("99999999999999999999", 1),
        ] {
            let err = Allowlist::parse(bad).unwrap_err();
            assert_eq!(err.position, position, "{bad}");
        }
    }
}
