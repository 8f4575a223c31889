//! Sign-in end to end: OAuth 2.1 against the real Worker in workerd, with the GitHub stand-in
//! (`second_brain_tools::github_standin`) running in-process, driven over loopback with plain
//! HTTP (redirects off, the sign-in cookie carried by hand, as a browser would).
//!
//! The Worker runs as the README's local sign-in recipe runs it: local development
//! (`LOCAL_DEV=1`: the stand-in and plain http are allowed only there) without
//! `DEV_WITHOUT_TOKEN`, so a request to `/mcp` with no `Authorization` header gets the 401 that
//! starts sign-in, as it does for mcp-remote.
//!
//! Users: 1001 and 1002 are allowlisted, 1003 exists at the stand-in but is not allowlisted.
//!
//! The official Rust SDK (rmcp with its `auth` feature) also signs in: it discovers the
//! metadata, registers, builds the authorization URL and redeems the code with PKCE; the test
//! plays the browser in between.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;
use second_brain_tools::github_standin::{Config as StandInConfig, StandIn};
use second_brain_worker::oauth::pkce::s256;
use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, Options, shared_in};

/// The client's loopback redirect URI (nothing listens: the test reads the `Location`).
const REDIRECT: &str = "http://127.0.0.1:33418/callback";
const ALLOWED: u64 = 1001;
const ALLOWED_FOR_LIMITS: u64 = 1002;
const NOT_ALLOWED: u64 = 1003;
/// Allowlisted users of `signed_in.rs`, one per test there.
pub(crate) const FOR_BATCHES: u64 = 1004;
pub(crate) const FOR_TOOL_CALLS: u64 = 1005;
pub(crate) const FOR_READ_ONLY: u64 = 1006;

static STANDIN: OnceLock<StandIn> = OnceLock::new();
static WORKER: OnceLock<LocalWorker> = OnceLock::new();

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The Worker with sign-in configured against the stand-in; keys generated now. Shared by
/// the tests of this file (they share its per-address sign-in limits too).
pub(crate) fn worker() -> &'static LocalWorker {
    shared_in(&WORKER, sign_in_options)
}

/// A Worker of its own with the same settings, for a test that must not spend the shared
/// one's per-address sign-in budget.
fn own_worker() -> LocalWorker {
    LocalWorker::start(sign_in_options())
}

/// Sign-in configured against the GitHub stand-in (started once), no dev user.
fn sign_in_options() -> Options {
    let standin = STANDIN.get_or_init(|| {
        StandIn::start(
            0,
            StandInConfig {
                users: vec![
                    ALLOWED,
                    ALLOWED_FOR_LIMITS,
                    NOT_ALLOWED,
                    FOR_BATCHES,
                    FOR_TOOL_CALLS,
                    FOR_READ_ONLY,
                ],
                client_id: "standin-client-id".into(),
                client_secret: "standin-client-secret".into(),
            },
        )
        .expect("the GitHub stand-in starts")
    });
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("randomness");
    let mut options = Options::default();
    options
        .vars
        .retain(|(name, _)| *name != "DEV_WITHOUT_TOKEN");
    options.vars.extend([
        ("COOKIE_ENCRYPTION_KEY", leak(hex::encode(key))),
        ("GITHUB_CLIENT_ID", "standin-client-id"),
        ("GITHUB_CLIENT_SECRET", "standin-client-secret"),
        (
            "GITHUB_ALLOWED_USER_ID",
            leak(format!(
                "{ALLOWED},{ALLOWED_FOR_LIMITS},{FOR_BATCHES},{FOR_TOOL_CALLS},{FOR_READ_ONLY}"
            )),
        ),
        ("GITHUB_BASE_URL", leak(standin.url())),
    ]);
    options
}

/// A browser-like client: no redirects followed, no cookie store (one pool for every test).
pub(crate) fn http() -> Client {
    static HTTP: OnceLock<Client> = OnceLock::new();
    HTTP.get_or_init(|| {
        Client::builder()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    })
    .clone()
}

/// Counts requests and their time, for the flow's figures.
#[derive(Default)]
pub(crate) struct Meter {
    requests: u32,
    elapsed: Duration,
}

impl Meter {
    pub(crate) fn send(&mut self, request: reqwest::blocking::RequestBuilder) -> Response {
        let started = Instant::now();
        let response = request.send().expect("the request is answered");
        self.elapsed += started.elapsed();
        self.requests += 1;
        response
    }
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect, got {}", response.status()))
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// The `name=value` pair of the response's sign-in cookie.
fn cookie_of(response: &Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("__Host-sb_signin=") && !value.contains("Max-Age=0"))
        .and_then(|value| value.split(';').next())
        .expect("a sign-in cookie")
        .to_owned()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).expect("a URL");
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// One sign-in's choices.
pub(crate) struct SignIn<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) verifier: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) resource: String,
    /// The stand-in's `login` (which GitHub user signs in).
    pub(crate) login: u64,
}

impl<'a> SignIn<'a> {
    pub(crate) fn new(worker: &LocalWorker, client_id: &'a str, verifier: &'a str) -> Self {
        SignIn {
            client_id,
            verifier,
            scope: "notes:read notes:write",
            resource: worker.url("/mcp"),
            login: ALLOWED,
        }
    }
}

/// Registers a public client with refresh tokens.
pub(crate) fn register(meter: &mut Meter, worker: &LocalWorker) -> String {
    register_at(meter, &worker.url("/register"))
}

/// Registers a public client with refresh tokens at `endpoint`.
fn register_at(meter: &mut Meter, endpoint: &str) -> String {
    let response = meter.send(http().post(endpoint).json(&json!({
        "redirect_uris": [REDIRECT],
        "client_name": "e2e client",
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none"
    })));
    assert_eq!(response.status(), 201);
    let body: Value = response.json().expect("JSON");
    body["client_id"].as_str().expect("client_id").to_owned()
}

/// The browser's part: `/authorize` to the client's redirect URI. Returns that final URL.
fn browser_sign_in(meter: &mut Meter, worker: &LocalWorker, sign_in: &SignIn<'_>) -> String {
    let mut authorize = reqwest::Url::parse(&worker.url("/authorize")).expect("url");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", sign_in.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &s256(sign_in.verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "client-state")
        .append_pair("scope", sign_in.scope)
        .append_pair("resource", &sign_in.resource);
    browser_from(meter, worker, authorize.as_str(), sign_in.login)
}

/// The browser from our `/authorize` URL to the client's redirect URI, signing in at the
/// stand-in as `login`. Returns that final URL.
fn browser_from(meter: &mut Meter, worker: &LocalWorker, authorize: &str, login: u64) -> String {
    let client = http();
    let page = meter.send(client.get(authorize));
    assert_eq!(page.status(), 200);
    let cookie = cookie_of(&page);
    let html = page.text().expect("the consent page");
    assert!(html.contains("e2e client"), "{html}");
    assert!(html.contains("has not verified it"), "{html}");
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the form")
        .to_owned();
    let approved = meter.send(
        client
            .post(worker.url("/authorize"))
            .header("cookie", &cookie)
            .form(&[("csrf_token", csrf.as_str()), ("decision", "approve")]),
    );
    assert_eq!(approved.status(), 302);
    let cookie = cookie_of(&approved);
    let github = format!("{}&login={login}", location(&approved));
    let at_github = meter.send(client.get(github));
    assert_eq!(at_github.status(), 302);
    let back = location(&at_github);
    assert!(back.starts_with(&worker.url("/oauth/callback")), "{back}");
    let done = meter.send(client.get(back).header("cookie", &cookie));
    assert_eq!(done.status(), 302);
    location(&done)
}

/// Redeems a code; returns the status and body.
fn redeem(
    meter: &mut Meter,
    worker: &LocalWorker,
    sign_in: &SignIn<'_>,
    code: &str,
    redirect: &str,
) -> (u16, Value) {
    let response = meter.send(http().post(worker.url("/token")).form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", sign_in.verifier),
        ("client_id", sign_in.client_id),
        ("resource", sign_in.resource.as_str()),
    ]));
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// The whole sign-in to tokens.
pub(crate) fn tokens(meter: &mut Meter, worker: &LocalWorker, sign_in: &SignIn<'_>) -> Value {
    let back = browser_sign_in(meter, worker, sign_in);
    let code = query_param(&back, "code").expect("a code");
    let (status, tokens) = redeem(meter, worker, sign_in, &code, REDIRECT);
    assert_eq!(status, 200, "{tokens}");
    tokens
}

fn refresh(worker: &LocalWorker, client_id: &str, token: &str) -> (u16, Value) {
    let response = http()
        .post(worker.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ])
        .send()
        .expect("POST /token");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;

/// A POST to `/mcp` with `token` (and a session, if any).
fn mcp(token: &str, session: Option<&str>, body: &str) -> reqwest::blocking::RequestBuilder {
    let mut request = http()
        .post(worker().url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_owned());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    request
}

/// Initializes a session with `token`; returns its id.
fn initialize(meter: &mut Meter, token: &str) -> String {
    let response = meter.send(mcp(token, None, INITIALIZE));
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let initialized = meter.send(mcp(
        token,
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    ));
    assert_eq!(initialized.status(), 202);
    session
}

fn status_of(request: reqwest::blocking::RequestBuilder) -> u16 {
    request.send().expect("answered").status().as_u16()
}

#[test]
fn discovery_sign_in_tool_call_refresh_replay_and_revocation() {
    let worker = worker();
    let mut meter = Meter::default();

    // Discovery: 401 with the resource metadata's URL, then both documents.
    let refused = meter.send(mcp("not-a-token", None, INITIALIZE));
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("resource_metadata in the challenge")
        .to_owned();
    assert_eq!(
        metadata_url,
        worker.url("/.well-known/oauth-protected-resource/mcp")
    );
    let resource: Value = meter.send(http().get(&metadata_url)).json().expect("JSON");
    assert_eq!(resource["resource"], worker.url("/mcp"));
    let issuer = resource["authorization_servers"][0]
        .as_str()
        .expect("an authorization server")
        .to_owned();
    let server: Value = meter
        .send(http().get(format!("{issuer}/.well-known/oauth-authorization-server")))
        .json()
        .expect("JSON");
    assert_eq!(server["issuer"], issuer);
    assert_eq!(server["token_endpoint"], worker.url("/token"));
    assert_eq!(server["code_challenge_methods_supported"], json!(["S256"]));

    // Registration, consent, GitHub (stand-in), code, tokens.
    let client_id = register(&mut meter, worker);
    let verifier = "e2e-verifier-0123456789-0123456789-0123456789";
    let sign_in = SignIn::new(worker, &client_id, verifier);
    let first = tokens(&mut meter, worker, &sign_in);
    let access = first["access_token"].as_str().expect("access token");
    assert_eq!(first["token_type"], "Bearer");

    // MCP with the token: initialize and a tool call.
    let session = initialize(&mut meter, access);
    let call = meter.send(mcp(
        access,
        Some(&session),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"write","arguments":{"path":"signed-in.md","content":"hello"}}}"#,
    ));
    assert_eq!(call.status(), 200);
    let text = call.text().expect("a body");
    assert!(text.contains("signed-in.md"), "{text}");
    assert!(!text.contains("\"isError\":true"), "{text}");
    println!(
        "local sign-in flow (discovery to first tool call): {} requests, {} ms in total",
        meter.requests,
        meter.elapsed.as_millis()
    );

    // Refresh rotation: the new pair works, the old access token is retired.
    let old_refresh = first["refresh_token"].as_str().expect("refresh token");
    let (status, second) = refresh(worker, &client_id, old_refresh);
    assert_eq!(status, 200, "{second}");
    let new_access = second["access_token"].as_str().expect("access token");
    let new_refresh = second["refresh_token"].as_str().expect("refresh token");
    assert_eq!(status_of(mcp(new_access, Some(&session), PING)), 200);
    assert_eq!(status_of(mcp(access, Some(&session), PING)), 401);

    // Replaying the retired refresh token revokes the whole family.
    let (status, body) = refresh(worker, &client_id, old_refresh);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(status_of(mcp(new_access, Some(&session), PING)), 401);
    let (status, _) = refresh(worker, &client_id, new_refresh);
    assert_eq!(status, 400);

    // Revocation (RFC 7009) of a fresh sign-in's refresh token takes its access token too.
    let third = tokens(&mut Meter::default(), worker, &sign_in);
    let access = third["access_token"].as_str().expect("access token");
    assert_eq!(status_of(mcp(access, None, INITIALIZE)), 200);
    let revoked = http()
        .post(worker.url("/revoke"))
        .form(&[
            ("token", third["refresh_token"].as_str().expect("refresh")),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .expect("POST /revoke");
    assert_eq!(revoked.status(), 200);
    assert_eq!(status_of(mcp(access, None, INITIALIZE)), 401);

    // The log lines name decisions, never tokens or codes.
    let lines = worker.json_log_lines();
    assert!(
        lines
            .iter()
            .any(|line| line["auth"] == "bearer_ok" && line["rate_limit"] == "admitted")
    );
    assert!(lines.iter().any(|line| line["auth"] == "tokens_rotated"));
    let log = worker.log();
    for secret in [access, new_access, new_refresh, old_refresh] {
        assert!(!log.contains(secret), "a token reached the log");
    }
}

/// A POST to `/mcp` with no `Authorization` header (and a session, if any).
fn mcp_without_token(session: Option<&str>, body: &str) -> reqwest::blocking::RequestBuilder {
    let mut request = http()
        .post(worker().url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    request
}

/// The `resource_metadata` URL of a 401's challenge.
fn resource_metadata_of(refused: &Response) -> String {
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii");
    challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("resource_metadata in the challenge")
        .to_owned()
}

#[test]
fn a_client_without_a_token_gets_the_401_that_starts_sign_in_as_mcp_remote_does() {
    let worker = worker();
    let mut meter = Meter::default();

    // mcp-remote's first request carries no token: 401, never the local-dev user.
    let refused = meter.send(mcp_without_token(None, INITIALIZE));
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("mcp-session-id").is_none());
    let metadata_url = resource_metadata_of(&refused);
    // X-Dev-User changes nothing without DEV_WITHOUT_TOKEN.
    let named = mcp_without_token(None, INITIALIZE).header("x-dev-user", "local-dev");
    assert_eq!(status_of(named), 401);

    // From the challenge alone: the metadata, registration, consent, GitHub, tokens.
    let resource: Value = meter.send(http().get(&metadata_url)).json().expect("JSON");
    let issuer = resource["authorization_servers"][0]
        .as_str()
        .expect("an authorization server")
        .to_owned();
    let server: Value = meter
        .send(http().get(format!("{issuer}/.well-known/oauth-authorization-server")))
        .json()
        .expect("JSON");
    let registration = server["registration_endpoint"]
        .as_str()
        .expect("dynamic registration");
    let client_id = register_at(&mut meter, registration);
    let verifier = "e2e-verifier-no-token-first-0123456789-01234";
    let sign_in = SignIn::new(worker, &client_id, verifier);
    let tokens = tokens(&mut meter, worker, &sign_in);
    let access = tokens["access_token"].as_str().expect("access token");
    let session = initialize(&mut meter, access);
    let call = meter.send(mcp(
        access,
        Some(&session),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"write","arguments":{"path":"no-token-first.md","content":"hello"}}}"#,
    ));
    assert_eq!(call.status(), 200);
    assert!(!call.text().expect("a body").contains("\"isError\":true"));

    // The client drops its token mid-session: 401 again, not someone else's notes.
    let dropped = meter.send(mcp_without_token(Some(&session), PING));
    assert_eq!(dropped.status(), 401);
    assert_eq!(resource_metadata_of(&dropped), metadata_url);
    assert!(
        !worker
            .json_log_lines()
            .iter()
            .any(|line| line["auth"] == "dev_user"),
        "no request was served as the dev user"
    );
}

/// `/authorize` for `client_id` asking for another resource (an error that is not about the
/// client or its redirect URI).
fn authorize_another_resource(worker: &LocalWorker, client_id: &str) -> Response {
    let mut authorize = reqwest::Url::parse(&worker.url("/authorize")).expect("url");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &s256(&"v".repeat(43)))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "client-state")
        .append_pair("resource", "https://other.example/mcp");
    http().get(authorize).send().expect("GET /authorize")
}

#[test]
fn authorize_redirects_no_error_to_a_client_nobody_approved() {
    let worker = worker();
    let meter = &mut Meter::default();
    // Anyone can register any redirect URI: until a user approved the client, an error is a
    // page, never a redirect (RFC 9700 section 4.11.2).
    let client_id = register(meter, worker);
    let refused = authorize_another_resource(worker, &client_id);
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
    let page = refused.text().expect("a page");
    assert!(page.contains("invalid_target"), "{page}");
    assert!(page.contains("not been approved"), "{page}");

    // Once a user approved it and signed in, its errors go back to it.
    let verifier = "e2e-verifier-consent-record-0123456789-0123";
    tokens(meter, worker, &SignIn::new(worker, &client_id, verifier));
    let redirected = authorize_another_resource(worker, &client_id);
    assert_eq!(redirected.status(), 302);
    let back = location(&redirected);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_target")
    );
}

#[test]
fn refused_sign_ins_grant_nothing() {
    let worker = worker();
    let meter = &mut Meter::default();
    let client_id = register(meter, worker);
    let verifier = "e2e-verifier-refusals-0123456789-0123456789";

    // A wrong PKCE verifier: 400, and the code is gone even for the right one.
    let sign_in = SignIn::new(worker, &client_id, verifier);
    let code = query_param(&browser_sign_in(meter, worker, &sign_in), "code").expect("code");
    let wrong = SignIn::new(
        worker,
        &client_id,
        "another-verifier-0123456789-0123456789-0123",
    );
    let (status, body) = redeem(meter, worker, &wrong, &code, REDIRECT);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = redeem(meter, worker, &sign_in, &code, REDIRECT);
    assert_eq!(status, 400);

    // A mismatched redirect_uri at /token: 400.
    let code = query_param(&browser_sign_in(meter, worker, &sign_in), "code").expect("code");
    let (status, _) = redeem(meter, worker, &sign_in, &code, "http://127.0.0.1:1/other");
    assert_eq!(status, 400);

    // A reused code: 400, and what the first use issued is revoked.
    let code = query_param(&browser_sign_in(meter, worker, &sign_in), "code").expect("code");
    let (status, first) = redeem(meter, worker, &sign_in, &code, REDIRECT);
    assert_eq!(status, 200);
    let access = first["access_token"].as_str().expect("access token");
    assert_eq!(status_of(mcp(access, None, INITIALIZE)), 200);
    let (status, _) = redeem(meter, worker, &sign_in, &code, REDIRECT);
    assert_eq!(status, 400);
    assert_eq!(status_of(mcp(access, None, INITIALIZE)), 401);

    // A token for another audience (RFC 8707 resource): 400 invalid_target, no token.
    let code = query_param(&browser_sign_in(meter, worker, &sign_in), "code").expect("code");
    let other = SignIn {
        resource: "http://127.0.0.1:1/mcp".into(),
        ..SignIn::new(worker, &client_id, verifier)
    };
    let (status, body) = redeem(meter, worker, &other, &code, REDIRECT);
    assert_eq!(status, 400, "{body}");
    assert!(body.get("access_token").is_none());
    // ... and /authorize refuses another resource, back to the client with invalid_target.
    let mut authorize = reqwest::Url::parse(&worker.url("/authorize")).expect("url");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &s256(verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", "https://other.example/mcp");
    let refused = http()
        .get(authorize.clone())
        .send()
        .expect("GET /authorize");
    assert_eq!(refused.status(), 302);
    assert_eq!(
        query_param(&location(&refused), "error").as_deref(),
        Some("invalid_target")
    );

    // An unregistered redirect URI at /authorize: a 400 page, never a redirect.
    let mut unregistered = authorize.clone();
    unregistered.query_pairs_mut().clear();
    unregistered
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", "http://127.0.0.1:33418/elsewhere")
        .append_pair("code_challenge", &s256(verifier))
        .append_pair("code_challenge_method", "S256");
    let refused = http().get(unregistered).send().expect("GET /authorize");
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());

    // A tampered cookie: 400 page, no redirect to GitHub.
    let mut good = authorize.clone();
    good.query_pairs_mut().clear();
    good.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &s256(verifier))
        .append_pair("code_challenge_method", "S256");
    let page = http().get(good).send().expect("GET /authorize");
    assert_eq!(page.status(), 200);
    let cookie = cookie_of(&page);
    let html = page.text().expect("page");
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf")
        .to_owned();
    let mut tampered = cookie.into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let refused = http()
        .post(worker.url("/authorize"))
        .header("cookie", tampered)
        .form(&[("csrf_token", csrf.as_str()), ("decision", "approve")])
        .send()
        .expect("POST /authorize");
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());

    // A GitHub user who is not on the allowlist: access_denied, no code.
    let outsider = SignIn {
        login: NOT_ALLOWED,
        ..SignIn::new(worker, &client_id, verifier)
    };
    let back = browser_sign_in(meter, worker, &outsider);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&back, "code"), None);

    // A registration with a redirect URI that is neither https nor loopback: 400.
    let refused = http()
        .post(worker.url("/register"))
        .json(&json!({"redirect_uris": ["http://evil.example/callback"]}))
        .send()
        .expect("POST /register");
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().expect("JSON");
    assert_eq!(body["error"], "invalid_redirect_uri");

    // An oversized form or registration: 413, before anything is read into a record.
    let huge = format!(
        "grant_type=authorization_code&code={}",
        "a".repeat(70 * 1024)
    );
    let refused = http()
        .post(worker.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge.clone())
        .send()
        .expect("POST /token");
    assert_eq!(refused.status(), 413);
    let refused = http()
        .post(worker.url("/register"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .expect("POST /register");
    assert_eq!(refused.status(), 413);

    // Garbage and unknown tokens: 401 with the challenge; a token without notes:read: 403
    // (a read-only token is served: `signed_in.rs`).
    for token in ["garbage", &format!("sb_at_{}", "A".repeat(43))] {
        let refused = mcp(token, None, INITIALIZE).send().expect("POST /mcp");
        assert_eq!(refused.status(), 401, "{token}");
        let challenge = refused.headers()["www-authenticate"]
            .to_str()
            .expect("ascii");
        assert!(challenge.contains("resource_metadata="), "{challenge}");
    }
    let write_only = SignIn {
        scope: "notes:write",
        ..SignIn::new(worker, &client_id, verifier)
    };
    let tokens = tokens(meter, worker, &write_only);
    let access = tokens["access_token"].as_str().expect("access token");
    let refused = mcp(access, None, INITIALIZE).send().expect("POST /mcp");
    assert_eq!(refused.status(), 403);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("notes:read"), "{challenge}");
}

#[test]
fn the_per_user_limit_admits_exactly_the_limit_under_concurrency() {
    let worker = worker();
    let meter = &mut Meter::default();
    let client_id = register(meter, worker);
    let verifier = "e2e-verifier-limits-0123456789-0123456789-01";
    let sign_in = SignIn {
        login: ALLOWED_FOR_LIMITS,
        ..SignIn::new(worker, &client_id, verifier)
    };
    let tokens = tokens(meter, worker, &sign_in);
    let access = tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    // This user's initialize counts too (its notification does not).
    let session = initialize(meter, &access);

    let started = Instant::now();
    let statuses: Vec<(u16, Option<String>, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..150)
            .map(|_| {
                let (access, session) = (&access, &session);
                scope.spawn(move || {
                    let response = mcp(access, Some(session), PING).send().expect("answered");
                    let status = response.status().as_u16();
                    let retry = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    (status, retry, response.json().unwrap_or(Value::Null))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a request thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let admitted = statuses
        .iter()
        .filter(|(status, ..)| *status == 200)
        .count();
    let limited: Vec<_> = statuses
        .iter()
        .filter(|(status, ..)| *status == 429)
        .collect();
    println!(
        "per-user limit: 150 parallel pings after 1 counted request: {admitted} admitted, {} refused with 429, in {} ms",
        limited.len(),
        elapsed.as_millis()
    );
    assert!(
        elapsed < Duration::from_secs(50),
        "the burst must fit in one minute"
    );
    assert_eq!(admitted, 119, "120 a minute, 1 used before the burst");
    assert_eq!(limited.len(), 31);
    let (_, retry, body) = limited[0];
    let retry: u64 = retry
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    // A minute, plus up to one 1 s bucket (the limiter's documented granularity).
    assert!((1..=61).contains(&retry), "{retry}");
    assert_eq!(body["error"]["code"], -32000);
    assert_eq!(body["id"], 2);
    assert_eq!(body["error"]["data"]["retryAfterSeconds"], retry);
    assert!(
        worker
            .json_log_lines()
            .iter()
            .any(|line| line["rate_limit"] == "limited_minute")
    );
}

#[test]
fn the_official_rmcp_client_signs_in_with_its_oauth_support() {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ClientConfig};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::auth::{AuthorizationRequest, OAuthState};
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let worker = worker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        // Discovery, registration and the authorization URL, by the SDK.
        let mut state = OAuthState::new(worker.url("/mcp"), None)
            .await
            .expect("the SDK discovers the authorization server");
        state
            .start_authorization(
                AuthorizationRequest::new(REDIRECT)
                    .with_scopes(["notes:read", "notes:write"])
                    .with_client_name("e2e client (rmcp)"),
            )
            .await
            .expect("the SDK registers and starts authorization");
        let url = state
            .get_authorization_url()
            .await
            .expect("an authorization URL");
        // The browser's part (consent, GitHub stand-in, callback), as a user would.
        let back = tokio::task::spawn_blocking(move || {
            browser_from(&mut Meter::default(), worker, &url, ALLOWED)
        })
        .await
        .expect("the browser part");
        state
            .handle_callback_url(&back)
            .await
            .expect("the SDK redeems the code with PKCE");
        let manager = state
            .into_authorization_manager()
            .expect("the SDK is authorized");
        let token = manager.get_access_token().await.expect("an access token");

        // MCP with the SDK's token.
        let config =
            StreamableHttpClientTransportConfig::with_uri(worker.url("/mcp")).auth_header(token);
        let client = ClientConfig::default()
            .serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("initialize with the bearer token");
        let Some(arguments) = json!({"path": "rmcp.md", "content": "signed in"})
            .as_object()
            .cloned()
        else {
            panic!("an object");
        };
        let result = client
            .call_tool(CallToolRequestParams::new("write").with_arguments(arguments))
            .await
            .expect("a tool call");
        assert_ne!(result.is_error, Some(true), "{result:?}");
        client.cancel().await.expect("the client closes");
    });
}

/// Sends `requests` at once (they start together behind a barrier); returns each
/// `(status, body)`.
fn all_at_once(requests: Vec<reqwest::blocking::RequestBuilder>) -> Vec<(u16, Value)> {
    let barrier = std::sync::Barrier::new(requests.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .into_iter()
            .map(|request| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let response = request.send().expect("answered");
                    let status = response.status().as_u16();
                    (status, response.json().unwrap_or(Value::Null))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a request thread"))
            .collect()
    })
}

/// The one success among `answers`, after checking every other is `invalid_grant`.
fn the_only_success(answers: &[(u16, Value)]) -> Value {
    let successes: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(successes.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
    successes[0].clone()
}

#[test]
fn a_code_redeemed_many_times_at_once_succeeds_once() {
    let worker = worker();
    let meter = &mut Meter::default();
    let client_id = register(meter, worker);
    let verifier = "e2e-verifier-concurrent-code-0123456789-0123";
    let sign_in = SignIn::new(worker, &client_id, verifier);
    let code = query_param(&browser_sign_in(meter, worker, &sign_in), "code").expect("code");
    let redemptions = (0..8)
        .map(|_| {
            http().post(worker.url("/token")).form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
                ("client_id", client_id.as_str()),
                ("resource", sign_in.resource.as_str()),
            ])
        })
        .collect();
    let winner = the_only_success(&all_at_once(redemptions));
    // The replays revoked what the one success got: its refresh token is refused.
    let (status, body) = refresh(
        worker,
        &client_id,
        winner["refresh_token"].as_str().expect("a refresh token"),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[test]
fn a_refresh_token_used_many_times_at_once_rotates_once_and_the_reuse_ends_the_grant() {
    let worker = worker();
    let meter = &mut Meter::default();
    let client_id = register(meter, worker);
    let verifier = "e2e-verifier-concurrent-refresh-0123456789-0";
    let first = tokens(meter, worker, &SignIn::new(worker, &client_id, verifier));
    let old_refresh = first["refresh_token"].as_str().expect("a refresh token");
    let rotations = (0..8)
        .map(|_| {
            http().post(worker.url("/token")).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", old_refresh),
                ("client_id", client_id.as_str()),
            ])
        })
        .collect();
    let winner = the_only_success(&all_at_once(rotations));
    // The reuse was detected: the whole family ends, the one rotation's tokens included.
    let (status, body) = refresh(
        worker,
        &client_id,
        winner["refresh_token"].as_str().expect("a refresh token"),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let lines = worker.json_log_lines();
    assert!(lines.iter().any(|line| line["auth"] == "refresh_refused"));
}

/// `second-brain smoke` against the Worker as users meet it, with an access token from a real
/// sign-in: every check passes, and the probe note it wrote is gone afterwards.
#[test]
fn smoke_passes_every_check_with_a_token_from_sign_in() {
    let worker = &own_worker();
    let meter = &mut Meter::default();
    let client_id = register(meter, worker);
    let verifier = "e2e-verifier-smoke-gate-0123456789-0123456789";
    let tokens = tokens(meter, worker, &SignIn::new(worker, &client_id, verifier));
    let token = tokens["access_token"].as_str().expect("an access token");
    let output = std::process::Command::new(crate::backup::cli())
        .args([
            "smoke",
            "--url",
            worker.base_url(),
            "--token-env",
            "SMOKE_E2E_TOKEN",
        ])
        .arg("--json")
        .env("SMOKE_E2E_TOKEN", token)
        .output()
        .expect("the CLI runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(token), "the token is never printed");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["passed"], true, "{report:#}");
    let checks: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "health",
            "unauthorized",
            "resource_metadata",
            "auth_server_metadata",
            "initialize",
            "initialized",
            "write",
            "read",
            "search",
            "delete",
            "gone",
            "end_session"
        ]
    );
    assert_eq!(report["health"]["environment"], "dev");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(token));
}
