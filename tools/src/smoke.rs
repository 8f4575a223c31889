//! `second-brain smoke`: what a deployed Worker must answer before users reach it, as a step
//! machine. [`SmokeRun::next_probe`] says which HTTP request to send; the driver sends it and
//! hands the reply (or why there is none) to [`SmokeRun::handle`], which checks it and
//! records the outcome. Nothing here opens a connection or reads a clock, so every check and
//! every failure path is tested natively with replies written by hand.
//!
//! The checks, in order:
//! 1. `GET /health` answers 200, matches its JSON Schema, and says `healthy` or `degraded`;
//!    the commit and environment it reports are kept for the deploy gate.
//! 2. `POST /mcp` without a token answers 401 with a `WWW-Authenticate` header naming the
//!    protected resource metadata (RFC 9728).
//! 3. That document resolves (same origin) and names this server's `/mcp` as its resource and
//!    an authorization server.
//! 4. The authorization server's metadata (RFC 8414) resolves, names the same issuer, and
//!    offers PKCE with S256.
//!
//! With a token, then: initialize a session, write a probe note under [`PROBE_FOLDER`], read
//! it back, find it by search, delete it, check it is gone, and end the session. Once a note
//! was written or a session opened, a failure still runs the clean-up steps (delete, end), so
//! a failed smoke leaves nothing behind that it can remove.

use serde_json::{Value, json};

/// The folder the probe note is written in (and deleted from).
pub const PROBE_FOLDER: &str = "_smoke";
/// The protocol revision the smoke session asks for.
const PROTOCOL: &str = "2025-11-25";

/// One check of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// `/health`.
    Health,
    /// `/mcp` without a token.
    Unauthorized,
    /// The protected resource metadata.
    ResourceMetadata,
    /// The authorization server metadata.
    AuthServerMetadata,
    /// `initialize` with the token.
    Initialize,
    /// `notifications/initialized`.
    Initialized,
    /// `write` of the probe note.
    Write,
    /// `read` of it.
    Read,
    /// `search` for it.
    Search,
    /// `edit` with `delete`.
    Delete,
    /// `read` after the delete: refused.
    Gone,
    /// `DELETE /mcp`: the session ends.
    EndSession,
}

/// An HTTP request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The absolute URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// A JSON body, if any.
    pub body: Option<String>,
}

/// What came back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Which.
    pub check: Check,
    /// Whether it passed.
    pub passed: bool,
    /// What was seen (why it failed, or a short confirmation).
    pub detail: String,
}

/// What `/health` reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// `healthy` or `degraded`.
    pub status: String,
    /// The commit the Worker was built from.
    pub commit: String,
    /// `dev` or `production`.
    pub environment: String,
}

/// A smoke run against one base URL.
#[derive(Debug)]
pub struct SmokeRun {
    base: String,
    token: Option<String>,
    nonce: String,
    queue: Vec<Check>,
    outcomes: Vec<Outcome>,
    health: Option<Health>,
    resource_metadata: Option<String>,
    issuer: Option<String>,
    session: Option<String>,
    /// The probe note may exist: clean-up deletes it.
    written: bool,
    /// Set once a check failed: only clean-up runs from then on.
    failed: bool,
    next_id: u64,
}

/// A run's words and paths use `nonce`, which must be 16 or more lowercase letters (a word the
/// search index keeps whole).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmokeSetupError {
    /// The base URL is not `http(s)://host[:port]`.
    #[error("the URL {0:?} must be http(s)://HOST[:PORT] with no path")]
    Url(String),
    /// The nonce is not a word of lowercase letters.
    #[error("the probe nonce must be 16 or more lowercase letters")]
    Nonce,
}

impl SmokeRun {
    /// A run against `base` (`https://host`), with a bearer `token` for the MCP checks (none:
    /// the anonymous checks only), naming its probe with `nonce`.
    pub fn new(base: &str, token: Option<String>, nonce: &str) -> Result<Self, SmokeSetupError> {
        let base = base.trim_end_matches('/');
        let origin_only = (base.starts_with("https://") || base.starts_with("http://"))
            && base
                .split("://")
                .nth(1)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', '@', ' ']));
        if !origin_only {
            return Err(SmokeSetupError::Url(base.to_owned()));
        }
        if nonce.len() < 16 || !nonce.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(SmokeSetupError::Nonce);
        }
        let mut queue = vec![
            Check::Health,
            Check::Unauthorized,
            Check::ResourceMetadata,
            Check::AuthServerMetadata,
        ];
        if token.is_some() {
            queue.extend([
                Check::Initialize,
                Check::Initialized,
                Check::Write,
                Check::Read,
                Check::Search,
                Check::Delete,
                Check::Gone,
                Check::EndSession,
            ]);
        }
        queue.reverse();
        Ok(SmokeRun {
            base: base.to_owned(),
            token,
            nonce: nonce.to_owned(),
            queue,
            outcomes: Vec::new(),
            health: None,
            resource_metadata: None,
            issuer: None,
            session: None,
            written: false,
            failed: false,
            next_id: 0,
        })
    }

    /// The probe note's path.
    pub fn probe_path(&self) -> String {
        format!("{PROBE_FOLDER}/probe-{}.md", self.nonce)
    }

    fn probe_text(&self) -> String {
        format!("second-brain smoke probe {}\n", self.nonce)
    }

    /// The next check and its request; `None` when the run is over.
    pub fn next_probe(&mut self) -> Option<(Check, Probe)> {
        loop {
            let check = *self.queue.last()?;
            if self.failed && !self.is_cleanup(check) {
                self.queue.pop();
                continue;
            }
            return Some((check, self.probe(check)));
        }
    }

    /// Whether `check` still runs after a failure: it removes what the run made.
    fn is_cleanup(&self, check: Check) -> bool {
        match check {
            Check::Delete => self.written && self.session.is_some(),
            Check::EndSession => self.session.is_some(),
            _ => false,
        }
    }

    fn probe(&mut self, check: Check) -> Probe {
        let get = |url: String| Probe {
            method: "GET",
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
        };
        match check {
            Check::Health => get(format!("{}/health", self.base)),
            Check::Unauthorized => Probe {
                method: "POST",
                url: self.mcp_url(),
                headers: mcp_headers(None, None),
                body: Some(self.initialize_body(0)),
            },
            Check::ResourceMetadata => get(self.resource_metadata.clone().unwrap_or_default()),
            Check::AuthServerMetadata => get(format!(
                "{}/.well-known/oauth-authorization-server",
                self.issuer
                    .as_deref()
                    .unwrap_or_default()
                    .trim_end_matches('/')
            )),
            Check::Initialize => {
                let id = self.id();
                Probe {
                    method: "POST",
                    url: self.mcp_url(),
                    headers: mcp_headers(self.token.as_deref(), None),
                    body: Some(self.initialize_body(id)),
                }
            }
            Check::Initialized => self.rpc(json!({
                "jsonrpc": "2.0",
                "method": "notifications/initialized",
            })),
            Check::Write => {
                let args = json!({"path": self.probe_path(), "content": self.probe_text()});
                self.tool("write", args)
            }
            Check::Read | Check::Gone => self.tool("read", json!({"path": self.probe_path()})),
            Check::Search => self.tool("search", json!({"query": self.nonce})),
            Check::Delete => self.tool("edit", json!({"path": self.probe_path(), "delete": true})),
            Check::EndSession => Probe {
                method: "DELETE",
                url: self.mcp_url(),
                headers: mcp_headers(self.token.as_deref(), self.session.as_deref()),
                body: None,
            },
        }
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn initialize_body(&self, id: u64) -> String {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "second-brain-smoke", "version": env!("CARGO_PKG_VERSION")},
            },
        })
        .to_string()
    }

    fn rpc(&self, body: Value) -> Probe {
        let mut headers = mcp_headers(self.token.as_deref(), self.session.as_deref());
        headers.push(("mcp-protocol-version".into(), PROTOCOL.into()));
        Probe {
            method: "POST",
            url: self.mcp_url(),
            headers,
            body: Some(body.to_string()),
        }
    }

    fn tool(&mut self, name: &str, arguments: Value) -> Probe {
        let id = self.id();
        self.rpc(json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }))
    }

    /// Checks the reply to the probe [`SmokeRun::next_probe`] gave last (`Err`: it could not
    /// be sent or read; the text says why).
    pub fn handle(&mut self, reply: Result<Reply, String>) {
        let Some(check) = self.queue.pop() else {
            return;
        };
        let verdict = match reply {
            Ok(reply) => self.check(check, &reply),
            Err(why) => Err(format!("no answer: {why}")),
        };
        let (passed, detail) = match verdict {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        if !passed {
            self.failed = true;
        }
        self.outcomes.push(Outcome {
            check,
            passed,
            detail,
        });
    }

    fn check(&mut self, check: Check, reply: &Reply) -> Result<String, String> {
        match check {
            Check::Health => self.check_health(reply),
            Check::Unauthorized => self.check_unauthorized(reply),
            Check::ResourceMetadata => self.check_resource_metadata(reply),
            Check::AuthServerMetadata => self.check_auth_server(reply),
            Check::Initialize => {
                let result = rpc_result(reply)?;
                let session = reply
                    .header("mcp-session-id")
                    .ok_or("initialize answered without an MCP-Session-Id")?;
                self.session = Some(session.to_owned());
                let version = result["protocolVersion"].as_str().unwrap_or("?");
                Ok(format!("session open, protocol {version}"))
            }
            Check::Initialized => match reply.status {
                202 | 200 | 204 => Ok(format!("{}", reply.status)),
                other => Err(format!("notifications/initialized answered {other}")),
            },
            Check::Write => {
                // Set before the check: a write that failed late may still have stored it.
                self.written = true;
                let out = tool_result(reply)?;
                Ok(format!("version {}", out["version"]))
            }
            Check::Read => {
                let out = tool_result(reply)?;
                if out["content"].as_str() == Some(self.probe_text().as_str()) {
                    Ok("the probe reads back byte for byte".into())
                } else {
                    Err(format!("read back {:?}", out["content"]))
                }
            }
            Check::Search => {
                let out = tool_result(reply)?;
                let path = self.probe_path();
                let found = out["results"]
                    .as_array()
                    .is_some_and(|hits| hits.iter().any(|hit| hit["path"] == path.as_str()));
                if found {
                    Ok("search finds the probe".into())
                } else {
                    Err(format!(
                        "search for the probe's word did not find it: {out}"
                    ))
                }
            }
            Check::Delete => {
                let out = tool_result(reply)?;
                if out["deleted"] == true {
                    self.written = false;
                    Ok("deleted".into())
                } else {
                    Err(format!("the delete answered {out}"))
                }
            }
            Check::Gone => match tool_result(reply) {
                Err(why) if why.starts_with("tool error") => Ok("gone".into()),
                Err(why) => Err(why),
                Ok(out) => Err(format!("the deleted probe still reads: {out}")),
            },
            Check::EndSession => match reply.status {
                200 | 202 | 204 => {
                    self.session = None;
                    Ok("session ended".into())
                }
                other => Err(format!("DELETE /mcp answered {other}")),
            },
        }
    }

    fn check_health(&mut self, reply: &Reply) -> Result<String, String> {
        let body: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("{} with a body that is not JSON: {e}", reply.status))?;
        if reply.status != 200 {
            return Err(format!(
                "status {} (health says {})",
                reply.status, body["status"]
            ));
        }
        schemas::validate(schemas::Schema::Health, &body)
            .map_err(|errors| format!("does not match its schema: {}", errors.join("; ")))?;
        let status = body["status"].as_str().unwrap_or_default().to_owned();
        if status != "healthy" && status != "degraded" {
            return Err(format!("status {status}"));
        }
        let health = Health {
            status,
            commit: body["build"]["commit"].as_str().unwrap_or_default().into(),
            environment: body["build"]["environment"]
                .as_str()
                .unwrap_or_default()
                .into(),
        };
        let detail = format!(
            "{}, commit {}, environment {}",
            health.status, health.commit, health.environment
        );
        self.health = Some(health);
        Ok(detail)
    }

    fn check_unauthorized(&mut self, reply: &Reply) -> Result<String, String> {
        if reply.status != 401 {
            return Err(format!(
                "/mcp without a token answered {}, not 401",
                reply.status
            ));
        }
        let challenge = reply
            .header("www-authenticate")
            .ok_or("401 without WWW-Authenticate")?;
        let url = challenge
            .split("resource_metadata=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| format!("WWW-Authenticate names no resource_metadata: {challenge}"))?;
        if !self.same_origin(url) {
            return Err(format!(
                "resource_metadata points away from {}: {url}",
                self.base
            ));
        }
        self.resource_metadata = Some(url.to_owned());
        Ok(format!("401, resource metadata at {url}"))
    }

    fn check_resource_metadata(&mut self, reply: &Reply) -> Result<String, String> {
        let doc = json_ok(reply)?;
        let resource = doc["resource"].as_str().unwrap_or_default();
        let mcp = self.mcp_url();
        if resource != mcp && resource != self.base {
            return Err(format!("its resource is {resource:?}, not {mcp}"));
        }
        let issuer = doc["authorization_servers"]
            .as_array()
            .and_then(|servers| servers.first())
            .and_then(Value::as_str)
            .ok_or("it names no authorization server")?;
        if !self.same_origin(issuer) {
            return Err(format!("its authorization server is elsewhere: {issuer}"));
        }
        self.issuer = Some(issuer.to_owned());
        Ok(format!(
            "resource {resource}, authorization server {issuer}"
        ))
    }

    fn check_auth_server(&mut self, reply: &Reply) -> Result<String, String> {
        let doc = json_ok(reply)?;
        let issuer = self.issuer.as_deref().unwrap_or_default();
        if doc["issuer"].as_str() != Some(issuer) {
            return Err(format!(
                "its issuer is {}, the resource names {issuer}",
                doc["issuer"]
            ));
        }
        for field in ["authorization_endpoint", "token_endpoint"] {
            if !doc[field].as_str().is_some_and(|url| self.same_origin(url)) {
                return Err(format!("{field} is missing or elsewhere: {}", doc[field]));
            }
        }
        let s256 = doc["code_challenge_methods_supported"]
            .as_array()
            .is_some_and(|methods| methods.iter().any(|m| m == "S256"));
        if !s256 {
            return Err("it does not offer PKCE with S256".into());
        }
        Ok("issuer agrees, PKCE S256".into())
    }

    fn same_origin(&self, url: &str) -> bool {
        url == self.base
            || url
                .strip_prefix(&self.base)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Every outcome so far, in order.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// Whether every check that ran passed (and at least one ran).
    pub fn passed(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.passed)
    }

    /// What `/health` reported, once it passed.
    pub fn health(&self) -> Option<&Health> {
        self.health.as_ref()
    }
}

fn mcp_headers(token: Option<&str>, session: Option<&str>) -> Vec<(String, String)> {
    let mut headers = vec![
        ("content-type".into(), "application/json".into()),
        (
            "accept".into(),
            "application/json, text/event-stream".into(),
        ),
    ];
    if let Some(token) = token {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    if let Some(session) = session {
        headers.push(("mcp-session-id".into(), session.into()));
    }
    headers
}

/// A 200 JSON document.
fn json_ok(reply: &Reply) -> Result<Value, String> {
    if reply.status != 200 {
        return Err(format!("status {}", reply.status));
    }
    serde_json::from_slice(&reply.body).map_err(|e| format!("not JSON: {e}"))
}

/// The JSON-RPC message of a reply: the body, or the last `data:` event of an SSE stream
/// that carries a response.
fn rpc_message(reply: &Reply) -> Result<Value, String> {
    if reply.status != 200 {
        return Err(format!(
            "status {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    let sse = reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if !sse {
        return serde_json::from_slice(&reply.body).map_err(|e| format!("not JSON: {e}"));
    }
    let text = String::from_utf8_lossy(&reply.body);
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            serde_json::from_str::<Value>(&data.join("\n")).ok()
        })
        .filter(|message| message.get("result").is_some() || message.get("error").is_some())
        .last()
        .ok_or_else(|| "the event stream carried no response".into())
}

fn rpc_result(reply: &Reply) -> Result<Value, String> {
    let message = rpc_message(reply)?;
    if let Some(error) = message.get("error") {
        return Err(format!("JSON-RPC error {error}"));
    }
    Ok(message["result"].clone())
}

/// A tool call's structured result; a tool error is `Err("tool error: ...")`.
fn tool_result(reply: &Reply) -> Result<Value, String> {
    let result = rpc_result(reply)?;
    if result["isError"] == true {
        return Err(format!("tool error: {}", result["content"][0]["text"]));
    }
    Ok(result["structuredContent"].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://brain.example";
    const NONCE: &str = "abcdefghijklmnop";

    fn reply(status: u16, headers: &[(&str, &str)], body: Value) -> Reply {
        Reply {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    fn health(status: &str) -> Value {
        json!({
            "status": status,
            "version": "1.0.0",
            "build": {"commit": "abc123", "environment": "dev"},
            "bindings": {
                "STORAGE": {"ok": true, "latency_ms": 3},
                "OAUTH_KV": {"ok": true, "latency_ms": 1},
                "RATE_LIMIT_KV": {"ok": true, "latency_ms": 1},
                "MCP_SESSION": {"ok": true, "latency_ms": 5},
                "ANALYTICS": {"ok": true, "latency_ms": 0},
                "S3_BACKUP": {"ok": false, "latency_ms": 0, "error": "not configured"},
            },
            "warnings": [],
        })
    }

    /// Answers every probe as a healthy Worker would.
    fn good(run: &SmokeRun, check: Check, probe: &Probe) -> Reply {
        let tool = |structured: Value| {
            reply(
                200,
                &[("content-type", "application/json")],
                json!({"jsonrpc": "2.0", "id": 1, "result": {
                    "content": [{"type": "text", "text": "x"}],
                    "structuredContent": structured,
                }}),
            )
        };
        match check {
            Check::Health => reply(200, &[], health("healthy")),
            Check::Unauthorized => reply(
                401,
                &[(
                    "WWW-Authenticate",
                    r#"Bearer resource_metadata="https://brain.example/.well-known/oauth-protected-resource/mcp""#,
                )],
                json!({}),
            ),
            Check::ResourceMetadata => reply(
                200,
                &[],
                json!({"resource": "https://brain.example/mcp",
                       "authorization_servers": ["https://brain.example"]}),
            ),
            Check::AuthServerMetadata => reply(
                200,
                &[],
                json!({"issuer": "https://brain.example",
                       "authorization_endpoint": "https://brain.example/authorize",
                       "token_endpoint": "https://brain.example/token",
                       "code_challenge_methods_supported": ["S256"]}),
            ),
            Check::Initialize => {
                assert!(
                    probe
                        .headers
                        .iter()
                        .any(|(n, v)| n == "authorization" && v == "Bearer token")
                );
                reply(
                    200,
                    &[("mcp-session-id", "s1")],
                    json!({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": PROTOCOL}}),
                )
            }
            Check::Initialized => reply(202, &[], json!({})),
            Check::Write => tool(json!({"version": 1})),
            Check::Read => tool(json!({"content": run.probe_text()})),
            Check::Search => tool(json!({"results": [{"path": run.probe_path()}]})),
            Check::Delete => tool(json!({"deleted": true})),
            Check::Gone => reply(200, &[("content-type", "text/event-stream")], json!(null))
                .with_sse(json!({"jsonrpc": "2.0", "id": 9, "result": {
                "isError": true, "content": [{"type": "text", "text": "no such note"}]}})),
            Check::EndSession => reply(204, &[], json!(null)),
        }
    }

    impl Reply {
        fn with_sse(mut self, message: Value) -> Reply {
            self.body = format!("event: message\ndata: {message}\n\n").into_bytes();
            self
        }
    }

    /// Runs `run` to the end with `answer`; the checks that ran.
    fn drive(
        run: &mut SmokeRun,
        mut answer: impl FnMut(&SmokeRun, Check, &Probe) -> Result<Reply, String>,
    ) -> Vec<Check> {
        let mut ran = Vec::new();
        for _ in 0..50 {
            let Some((check, probe)) = run.next_probe() else {
                return ran;
            };
            ran.push(check);
            let answered = answer(run, check, &probe);
            run.handle(answered);
        }
        panic!("the run did not end");
    }

    #[test]
    fn a_healthy_worker_passes_every_check_and_reports_its_build() {
        let mut run = SmokeRun::new(BASE, Some("token".into()), NONCE).unwrap();
        let ran = drive(&mut run, |run, check, probe| Ok(good(run, check, probe)));
        assert_eq!(ran.len(), 12);
        assert!(run.passed(), "{:#?}", run.outcomes());
        let health = run.health().unwrap();
        assert_eq!(
            (health.commit.as_str(), health.environment.as_str()),
            ("abc123", "dev")
        );
        assert_eq!(run.probe_path(), "_smoke/probe-abcdefghijklmnop.md");
    }

    #[test]
    fn without_a_token_only_the_anonymous_checks_run() {
        let mut run = SmokeRun::new(BASE, None, NONCE).unwrap();
        let ran = drive(&mut run, |run, check, probe| Ok(good(run, check, probe)));
        assert_eq!(
            ran,
            [
                Check::Health,
                Check::Unauthorized,
                Check::ResourceMetadata,
                Check::AuthServerMetadata
            ]
        );
        assert!(run.passed());
    }

    fn failing_at(at: Check, bad: Reply) -> (SmokeRun, Vec<Check>) {
        let mut run = SmokeRun::new(BASE, Some("token".into()), NONCE).unwrap();
        let ran = drive(&mut run, |run, check, probe| {
            Ok(if check == at {
                bad.clone()
            } else {
                good(run, check, probe)
            })
        });
        assert!(!run.passed());
        (run, ran)
    }

    #[test]
    fn an_unhealthy_worker_fails_at_once_and_runs_nothing_else() {
        let (run, ran) = failing_at(Check::Health, reply(503, &[], health("unhealthy")));
        assert_eq!(ran, [Check::Health]);
        assert!(
            run.outcomes()[0].detail.contains("503"),
            "{:?}",
            run.outcomes()
        );
        // A body that breaks the schema fails too.
        let (run, _) = failing_at(Check::Health, reply(200, &[], json!({"status": "healthy"})));
        assert!(run.outcomes()[0].detail.contains("schema"));
    }

    #[test]
    fn an_mcp_endpoint_that_does_not_ask_for_sign_in_fails() {
        let (run, ran) = failing_at(Check::Unauthorized, reply(200, &[], json!({})));
        assert_eq!(ran, [Check::Health, Check::Unauthorized]);
        assert!(run.outcomes()[1].detail.contains("not 401"));
        let (run, _) = failing_at(
            Check::Unauthorized,
            reply(
                401,
                &[(
                    "www-authenticate",
                    r#"Bearer resource_metadata="https://evil.example/x""#,
                )],
                json!({}),
            ),
        );
        assert!(run.outcomes()[1].detail.contains("points away"));
    }

    #[test]
    fn metadata_that_disagrees_fails() {
        let (run, _) = failing_at(
            Check::AuthServerMetadata,
            reply(
                200,
                &[],
                json!({"issuer": "https://other.example", "code_challenge_methods_supported": ["S256"]}),
            ),
        );
        assert!(run.outcomes()[3].detail.contains("issuer"));
        let (run, _) = failing_at(
            Check::AuthServerMetadata,
            reply(
                200,
                &[],
                json!({"issuer": "https://brain.example",
                       "authorization_endpoint": "https://brain.example/authorize",
                       "token_endpoint": "https://brain.example/token",
                       "code_challenge_methods_supported": ["plain"]}),
            ),
        );
        assert!(run.outcomes()[3].detail.contains("S256"));
    }

    #[test]
    fn a_failure_after_the_write_still_deletes_the_probe_and_ends_the_session() {
        let bad_read = reply(
            200,
            &[],
            json!({"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": {"content": "other"}}}),
        );
        let (run, ran) = failing_at(Check::Read, bad_read);
        assert_eq!(
            ran,
            [
                Check::Health,
                Check::Unauthorized,
                Check::ResourceMetadata,
                Check::AuthServerMetadata,
                Check::Initialize,
                Check::Initialized,
                Check::Write,
                Check::Read,
                Check::Delete,
                Check::EndSession
            ]
        );
        let failed: Vec<Check> = run
            .outcomes()
            .iter()
            .filter(|o| !o.passed)
            .map(|o| o.check)
            .collect();
        assert_eq!(failed, [Check::Read]);
    }

    #[test]
    fn no_answer_is_a_failure_that_names_why() {
        let mut run = SmokeRun::new(BASE, None, NONCE).unwrap();
        let ran = drive(&mut run, |_, _, _| Err("connection refused".into()));
        assert_eq!(ran, [Check::Health]);
        assert!(run.outcomes()[0].detail.contains("connection refused"));
    }

    #[test]
    fn a_probe_that_is_still_there_after_the_delete_fails() {
        let (run, _) = failing_at(
            Check::Gone,
            reply(
                200,
                &[],
                json!({"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": {"content": "x"}}}),
            ),
        );
        let gone = run
            .outcomes()
            .iter()
            .find(|o| o.check == Check::Gone)
            .unwrap();
        assert!(!gone.passed && gone.detail.contains("still reads"));
    }

    #[test]
    fn bad_urls_and_nonces_are_refused() {
        for url in [
            "ftp://x",
            "https://",
            "https://x/path",
            "brain.example",
            "https://u@x",
        ] {
            assert!(
                matches!(
                    SmokeRun::new(url, None, NONCE),
                    Err(SmokeSetupError::Url(_))
                ),
                "{url}"
            );
        }
        assert_eq!(
            SmokeRun::new(BASE, None, "short").unwrap_err(),
            SmokeSetupError::Nonce
        );
        assert_eq!(
            SmokeRun::new(BASE, None, "ABCDEFGHIJKLMNOPQ").unwrap_err(),
            SmokeSetupError::Nonce
        );
        assert!(SmokeRun::new("http://127.0.0.1:8787/", None, NONCE).is_ok());
    }
}
