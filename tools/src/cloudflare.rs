//! The parts of the Cloudflare API the operator commands read and change: a script's
//! deployments and versions (deploy, rollback), its secrets' names and cron schedules (drift).
//!
//! Every answer comes in the API's envelope (`{"success", "errors": [{"code", "message"}],
//! "result"}`); [`parse`] turns one into a typed result or an [`ApiError`] that says what the
//! operator should do (a bad token, something missing, rate limited, refused). [`Api`] sends
//! requests with a blocking client and retries a rate-limited one a bounded number of times.
//! The base URL is `CLOUDFLARE_API_BASE_URL` when set (the variable wrangler reads too), so
//! tests point both at a local stand-in.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The API's base URL unless `CLOUDFLARE_API_BASE_URL` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";
/// Attempts of one request that the API keeps rate-limiting.
const ATTEMPTS: u32 = 3;
/// The longest wait between two attempts, whatever `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The token is missing, wrong, expired or lacks a permission (401, 403).
    #[error(
        "the Cloudflare API refused the token ({status}): {message}; check CLOUDFLARE_API_TOKEN \
         and its permissions (Workers Scripts: Edit)"
    )]
    Auth {
        /// The HTTP status.
        status: u16,
        /// The API's messages.
        message: String,
    },
    /// The script, version or account does not exist (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// Still rate limited after every attempt (429).
    #[error("the Cloudflare API is rate limiting this token; try again in a minute: {0}")]
    RateLimited(String),
    /// Any other refusal.
    #[error("the Cloudflare API refused the request ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's messages.
        message: String,
    },
    /// No answer.
    #[error("the Cloudflare API could not be reached: {0}")]
    Transport(String),
    /// An answer that is not the API's envelope, or a result of another shape.
    #[error("the Cloudflare API answered something unexpected: {0}")]
    Malformed(String),
    /// A setting is missing.
    #[error("{0}")]
    Settings(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    result: Value,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// The result of an answer with `status` and `body`, as `T`.
pub fn parse<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, ApiError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        ApiError::Malformed(format!("status {status}, not the API's JSON ({e}): {text}"))
    })?;
    let message = envelope
        .errors
        .iter()
        .map(|e| format!("{} (code {})", e.message, e.code))
        .collect::<Vec<_>>()
        .join("; ");
    match status {
        200..=299 if envelope.success => serde_json::from_value(envelope.result)
            .map_err(|e| ApiError::Malformed(format!("the result has another shape: {e}"))),
        401 | 403 => Err(ApiError::Auth { status, message }),
        404 => Err(ApiError::NotFound(message)),
        429 => Err(ApiError::RateLimited(message)),
        _ => Err(ApiError::Refused { status, message }),
    }
}

/// One deployment: which versions serve, newest deployment first in lists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deployment {
    /// Its id.
    pub id: String,
    /// When it was made (RFC 3339).
    #[serde(default)]
    pub created_on: String,
    /// The versions and their share of traffic.
    pub versions: Vec<DeployedVersion>,
}

impl Deployment {
    /// The version that takes all (or the largest share of) the traffic.
    pub fn main_version(&self) -> Option<&str> {
        self.versions
            .iter()
            .max_by_key(|v| v.percentage_hundredths())
            .map(|v| v.version_id.as_str())
    }
}

/// A version's share of a deployment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeployedVersion {
    /// The version.
    pub version_id: String,
    /// Its share, 0 to 100.
    pub percentage: f64,
}

impl Eq for DeployedVersion {}

impl DeployedVersion {
    fn percentage_hundredths(&self) -> u64 {
        // Shares are 0..=100 with at most two decimals; the cast cannot overflow.
        (self.percentage.clamp(0.0, 100.0) * 100.0).round() as u64
    }
}

#[derive(Debug, Deserialize)]
struct Deployments {
    deployments: Vec<Deployment>,
}

/// One version of a script.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Version {
    /// Its id.
    pub id: String,
    /// Its number (1, 2, ...).
    #[serde(default)]
    pub number: u64,
    /// `workers/tag` and `workers/message` as set at upload (the deploy tags the commit).
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// What it runs with (bindings, compatibility), when the API gives it.
    #[serde(default)]
    pub resources: Value,
}

impl Version {
    /// The commit its upload was tagged with (`workers/tag`).
    pub fn commit(&self) -> Option<&str> {
        self.annotations.get("workers/tag").map(String::as_str)
    }
}

#[derive(Deserialize)]
struct NamedItem {
    name: String,
}

#[derive(Deserialize)]
struct Schedules {
    schedules: Vec<Schedule>,
}

#[derive(Deserialize)]
struct Schedule {
    cron: String,
}

/// A client for one account.
#[derive(Debug)]
pub struct Api {
    base: String,
    token: String,
    account: String,
    http: reqwest::blocking::Client,
}

impl Api {
    /// A client for `account` at `base` with `token`.
    pub fn new(base: &str, token: &str, account: &str) -> Result<Api, ApiError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(Api {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            account: account.to_owned(),
            http,
        })
    }

    /// A client from `CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_ACCOUNT_ID` and (optionally)
    /// `CLOUDFLARE_API_BASE_URL`, the variables wrangler reads.
    pub fn from_env() -> Result<Api, ApiError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let token = var("CLOUDFLARE_API_TOKEN")
            .ok_or_else(|| ApiError::Settings("CLOUDFLARE_API_TOKEN is not set".into()))?;
        let account = var("CLOUDFLARE_ACCOUNT_ID")
            .ok_or_else(|| ApiError::Settings("CLOUDFLARE_ACCOUNT_ID is not set".into()))?;
        let base = var("CLOUDFLARE_API_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into());
        Api::new(&base, &token, &account)
    }

    fn script_url(&self, script: &str, rest: &str) -> String {
        format!(
            "{}/accounts/{}/workers/scripts/{script}{rest}",
            self.base, self.account
        )
    }

    /// Sends a request (again while rate limited, at most [`ATTEMPTS`] times) and parses it.
    fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&self.token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .map_err(|e| ApiError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs)
                .min(MAX_RETRY_WAIT);
            let bytes = response
                .bytes()
                .map_err(|e| ApiError::Transport(e.to_string()))?;
            match parse(status, &bytes) {
                Err(ApiError::RateLimited(_)) if attempt < ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(wait);
                }
                other => return other,
            }
        }
    }

    /// The script's deployments, newest first.
    pub fn deployments(&self, script: &str) -> Result<Vec<Deployment>, ApiError> {
        let url = self.script_url(script, "/deployments");
        let mut list: Deployments = self.call(reqwest::Method::GET, &url, None)?;
        list.deployments
            .sort_by(|a, b| b.created_on.cmp(&a.created_on));
        Ok(list.deployments)
    }

    /// The version that serves now (`None`: nothing was ever deployed).
    pub fn current_version(&self, script: &str) -> Result<Option<String>, ApiError> {
        Ok(self
            .deployments(script)?
            .first()
            .and_then(Deployment::main_version)
            .map(str::to_owned))
    }

    /// One version.
    pub fn version(&self, script: &str, id: &str) -> Result<Version, ApiError> {
        let url = self.script_url(script, &format!("/versions/{id}"));
        self.call(reqwest::Method::GET, &url, None)
    }

    /// One version as the API answers it (bindings and runtime under `resources`).
    pub fn version_json(&self, script: &str, id: &str) -> Result<Value, ApiError> {
        let url = self.script_url(script, &format!("/versions/{id}"));
        self.call(reqwest::Method::GET, &url, None)
    }

    /// Makes `version` take all traffic; the new deployment.
    pub fn deploy(
        &self,
        script: &str,
        version: &str,
        message: &str,
    ) -> Result<Deployment, ApiError> {
        let url = self.script_url(script, "/deployments");
        let body = json!({
            "strategy": "percentage",
            "versions": [{"version_id": version, "percentage": 100}],
            "annotations": {"workers/message": message},
        });
        self.call(reqwest::Method::POST, &url, Some(&body))
    }

    /// Runs `query` with the Analytics Engine SQL API; the answer's bytes (its own JSON, not
    /// the v4 envelope). Retried while rate limited, like every call.
    pub fn sql(&self, query: &str) -> Result<Vec<u8>, ApiError> {
        let url = format!(
            "{}/accounts/{}/analytics_engine/sql",
            self.base, self.account
        );
        let mut attempt = 1;
        loop {
            let response = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .body(query.to_owned())
                .send()
                .map_err(|e| ApiError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .map_err(|e| ApiError::Transport(e.to_string()))?
                .to_vec();
            let message = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            match status {
                200..=299 => return Ok(body),
                429 if attempt < ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_secs(1));
                }
                401 | 403 => {
                    return Err(ApiError::Auth {
                        status,
                        message: message(),
                    });
                }
                404 => return Err(ApiError::NotFound(message())),
                429 => return Err(ApiError::RateLimited(message())),
                _ => {
                    return Err(ApiError::Refused {
                        status,
                        message: message(),
                    });
                }
            }
        }
    }

    /// The names of the script's secrets.
    pub fn secret_names(&self, script: &str) -> Result<Vec<String>, ApiError> {
        let url = self.script_url(script, "/secrets");
        let items: Vec<NamedItem> = self.call(reqwest::Method::GET, &url, None)?;
        Ok(items.into_iter().map(|i| i.name).collect())
    }

    /// The script's cron schedules.
    pub fn schedules(&self, script: &str) -> Result<Vec<String>, ApiError> {
        let url = self.script_url(script, "/schedules");
        let list: Schedules = self.call(reqwest::Method::GET, &url, None)?;
        Ok(list.schedules.into_iter().map(|s| s.cron).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    #[test]
    fn a_successful_envelope_gives_its_result() {
        let answer = body(
            json!({"success": true, "errors": [], "messages": [], "result": {
            "deployments": [
                {"id": "d1", "created_on": "2026-12-01T00:00:00Z",
                 "versions": [{"version_id": "old", "percentage": 100}]},
                {"id": "d2", "created_on": "2026-12-02T00:00:00Z",
                 "versions": [{"version_id": "a", "percentage": 10.5},
                              {"version_id": "b", "percentage": 89.5}]},
            ]}}),
        );
        let list: Deployments = parse(200, &answer).unwrap();
        assert_eq!(list.deployments.len(), 2);
        assert_eq!(list.deployments[1].main_version(), Some("b"));
    }

    #[test]
    fn refusals_are_typed_by_what_to_do() {
        let refusal = |status, code, message: &str| {
            parse::<Value>(
                status,
                &body(
                    json!({"success": false, "errors": [{"code": code, "message": message}],
                             "result": null}),
                ),
            )
            .unwrap_err()
        };
        assert!(matches!(
            refusal(401, 10000, "Authentication error"),
            ApiError::Auth { status: 401, ref message } if message.contains("code 10000")
        ));
        assert!(
            matches!(refusal(404, 10007, "no such version"), ApiError::NotFound(m) if m.contains("no such version"))
        );
        assert!(matches!(
            refusal(429, 971, "slow down"),
            ApiError::RateLimited(_)
        ));
        assert!(matches!(
            refusal(400, 10021, "bad"),
            ApiError::Refused { status: 400, .. }
        ));
        // success false with a 200 is a refusal too.
        assert!(matches!(
            refusal(200, 1, "odd"),
            ApiError::Refused { status: 200, .. }
        ));
    }

    #[test]
    fn answers_that_are_not_the_envelope_or_of_another_shape_are_malformed() {
        let err = parse::<Value>(502, b"<html>bad gateway</html>").unwrap_err();
        assert!(
            matches!(err, ApiError::Malformed(ref m) if m.contains("502")),
            "{err}"
        );
        let err =
            parse::<Deployments>(200, &body(json!({"success": true, "result": [1]}))).unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err}");
    }

    #[test]
    fn a_version_names_the_commit_it_was_tagged_with() {
        let version: Version = parse(
            200,
            &body(json!({"success": true, "result": {"id": "v1", "number": 3,
                "annotations": {"workers/tag": "abc123", "workers/message": "deploy"}}})),
        )
        .unwrap();
        assert_eq!(version.commit(), Some("abc123"));
    }
}
