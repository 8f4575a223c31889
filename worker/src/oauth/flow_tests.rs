//! The whole sign-in composed from the pure pieces, as the adapter will run it: register,
//! authorize, consent, the GitHub leg against canned upstream answers, callback, code, token,
//! access check, refresh, revoke. KV is in memory; time and randomness are explicit.

use serde_json::Value;

use super::access::{AccessError, bearer_token, check_access, lookup_key};
use super::authorize::{self, FlowRandom};
use super::callback::{self, Refusal};
use super::consent::{self, CSRF_FIELD, Consent, DECISION_FIELD};
use super::cookie::{self, CookieError, CookieKey};
use super::endpoints::ServerUrls;
use super::github::{self, Allowlist, GitHubApp, GitHubEndpoints};
use super::memory_kv::MemoryKv;
use super::params::Params;
use super::pkce::s256;
use super::registration::{ClientRecord, RegistrationPolicy, RegistrationRandom, register};
use super::response::Reply;
use super::revocation::{RevocationRequest, TokenOwner};
use super::scope::ScopeSet;
use super::storage::{client_key, flow_key};
use super::token_endpoint::{RefreshExchange, TokenContext, TokenRequest};
use super::tokens::{AccessRecord, CodeRecord, Grant, IssueRandom, Lifetimes, RefreshRecord};

const T0: u64 = 1_750_000_000_000;
const USER: u64 = 583_231;
const REDIRECT: &str = "http://127.0.0.1:33418/callback";
const KEY_HEX: &str = "8f1e0c2b7a6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f3021120304050607";

/// The server's configuration and state.
struct Server {
    urls: ServerUrls,
    key: CookieKey,
    allowlist: Allowlist,
    github: GitHubEndpoints,
    app: GitHubApp,
    registration: RegistrationPolicy,
    kv: MemoryKv,
    seed: u8,
}

/// A browser: one cookie jar slot for our cookie.
#[derive(Default)]
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    fn receive(&mut self, reply: &Reply) {
        for (name, value) in &reply.headers {
            if *name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (_, v) = pair.split_once('=').unwrap();
                self.cookie = (!v.is_empty()).then(|| pair.to_owned());
            }
        }
    }

    fn header(&self) -> Option<&str> {
        self.cookie.as_deref()
    }
}

fn query_of(location: &str) -> Params {
    Params::parse(location.split_once('?').map_or("", |(_, q)| q))
}

impl Server {
    fn new() -> Self {
        Server {
            urls: ServerUrls::new("https://brain.example.com").unwrap(),
            key: CookieKey::from_hex(KEY_HEX).unwrap(),
            allowlist: Allowlist::parse(&format!("7, {USER}")).unwrap(),
            github: GitHubEndpoints::github(),
            app: GitHubApp::new("gh-app", "gh-secret"),
            registration: RegistrationPolicy::default(),
            kv: MemoryKv::default(),
            seed: 0,
        }
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        self.seed = self.seed.wrapping_add(1);
        [self.seed; N]
    }

    fn register(&mut self, now: u64) -> ClientRecord {
        let body = serde_json::json!({
            "redirect_uris": [REDIRECT],
            "client_name": "Claude Code",
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none"
        });
        let random = RegistrationRandom {
            client_id: self.bytes(),
            client_secret: self.bytes(),
        };
        let reg = register(
            body.to_string().as_bytes(),
            &self.registration,
            now,
            &random,
        )
        .unwrap();
        self.kv.apply(&[reg.record.write(now)], now);
        reg.record
    }

    /// `GET /authorize`.
    fn authorize(&mut self, query: &Params, now: u64) -> Reply {
        let client: Option<ClientRecord> = authorize::requested_client_id(query)
            .and_then(|id| self.kv.get_json(&client_key(id), now));
        match authorize::validate(query, client.as_ref(), &self.urls, now) {
            Err(err) => err.reply(&self.urls),
            Ok(request) => {
                let random = FlowRandom {
                    flow_id: self.bytes(),
                    csrf_token: self.bytes(),
                };
                let pending = request.begin(now, &random);
                let nonce = self.bytes();
                let sealed = cookie::seal(&pending, &self.key, &nonce);
                consent::show(&pending, client.as_ref().unwrap(), &self.urls, &sealed, now)
            }
        }
    }

    /// `POST /authorize`.
    fn consent(&mut self, cookie_header: Option<&str>, form: &Params, now: u64) -> Reply {
        let pending = match cookie::open_from_header(cookie_header, &self.key, now) {
            Ok(pending) => pending,
            Err(err) => return err.reply(),
        };
        match consent::decide(pending, form, &self.bytes()) {
            Err(err) => err.reply(),
            Ok(Consent::Denied(redirect)) => consent::denied(&redirect, &self.urls),
            Ok(Consent::Approved(approved)) => {
                let nonce = self.bytes();
                let sealed = cookie::seal(&approved, &self.key, &nonce);
                let url = github::authorize_url(
                    &self.github,
                    &self.app,
                    &self.urls.callback(),
                    approved.upstream_state.as_deref().unwrap(),
                );
                consent::to_github(&approved, &sealed, url, now)
            }
        }
    }

    /// `GET /oauth/callback`, with GitHub answering `token_answer` and `user_answer`.
    fn callback(
        &mut self,
        cookie_header: Option<&str>,
        query: &Params,
        token_answer: (u16, &str),
        user_answer: (u16, &str),
        now: u64,
    ) -> Reply {
        let pending = match cookie::open_from_header(cookie_header, &self.key, now) {
            Ok(pending) => pending,
            Err(err) => return err.reply(),
        };
        let used = self.kv.get(&flow_key(&pending.flow_id), now).is_some();
        let accepted = match callback::check(&pending, query, used) {
            Ok(accepted) => accepted,
            Err(err) => return err.reply(&pending, &self.urls),
        };
        self.kv.apply(&accepted.writes, now);
        let request = github::token_request(
            &self.github,
            &self.app,
            accepted.code.as_str(),
            &self.urls.callback(),
        );
        assert_eq!(request.url, "https://github.com/login/oauth/access_token");
        let Ok(token) = github::parse_token_response(token_answer.0, token_answer.1) else {
            return callback::refuse(&pending, Refusal::Upstream, &self.urls);
        };
        let _user_request = github::user_request(&self.github, &token);
        let Ok(user) = github::parse_user_response(user_answer.0, user_answer.1) else {
            return callback::refuse(&pending, Refusal::Upstream, &self.urls);
        };
        if !self.allowlist.allows(user.id) {
            return callback::refuse(&pending, Refusal::NotAllowed, &self.urls);
        }
        let code_random = self.bytes();
        let done = callback::complete(
            &pending,
            user.id,
            &self.urls,
            now,
            &Lifetimes::default(),
            &code_random,
        );
        self.kv.apply(&[done.write], now);
        done.reply
    }

    /// `POST /token`.
    fn token(&mut self, form: &Params, now: u64) -> (u16, Value) {
        let request = match TokenRequest::parse(form, None) {
            Ok(request) => request,
            Err(err) => {
                return (
                    err.status(),
                    serde_json::from_str(&err.reply().body).unwrap(),
                );
            }
        };
        let client: Option<ClientRecord> = self.kv.get_json(&client_key(request.client_id()), now);
        let random = IssueRandom {
            access: self.bytes(),
            refresh: self.bytes(),
            grant_id: self.bytes(),
        };
        let context = TokenContext {
            urls: &self.urls,
            allowlist: &self.allowlist,
            lifetimes: Lifetimes::default(),
            registration: &self.registration,
        };
        let outcome = match request {
            TokenRequest::Code(exchange) => {
                let code: Option<CodeRecord> = self.kv.get_json(&exchange.code_key(), now);
                let prior: Option<Grant> = code
                    .as_ref()
                    .and_then(|code| code.redeemed_grant.as_deref())
                    .and_then(|id| self.kv.get_json(&super::storage::grant_key(id), now));
                exchange.redeem(
                    code,
                    client.as_ref(),
                    prior.as_ref(),
                    &context,
                    now,
                    &random,
                )
            }
            TokenRequest::Refresh(exchange) => {
                let record: Option<RefreshRecord> = self.kv.get_json(&exchange.refresh_key(), now);
                let grant: Option<Grant> = record
                    .as_ref()
                    .and_then(|record| self.kv.get_json(&RefreshExchange::grant_key(record), now));
                exchange.rotate(record, grant, client.as_ref(), &context, now, &random)
            }
        };
        self.kv.apply(&outcome.writes, now);
        (
            outcome.reply.status,
            serde_json::from_str(&outcome.reply.body).unwrap(),
        )
    }

    /// A `/mcp` request's auth check.
    fn access(&self, token: &str, needed: ScopeSet, now: u64) -> Result<u64, AccessError> {
        let header = format!("Bearer {token}");
        let token = bearer_token(Some(&header))?;
        let record: Option<AccessRecord> = self.kv.get_json(&lookup_key(token), now);
        check_access(record.as_ref(), needed, &self.urls, &self.allowlist, now)
            .map(|principal| principal.user_id)
    }

    /// `POST /revoke`.
    fn revoke(&mut self, form: &Params, now: u64) -> u16 {
        let request = RevocationRequest::parse(form, None).unwrap();
        let client: Option<ClientRecord> = self.kv.get_json(&client_key(request.client_id()), now);
        let owner: Option<TokenOwner> = request
            .lookup_key()
            .and_then(|key| self.kv.get_json(&key, now));
        let grant: Option<Grant> = owner
            .as_ref()
            .and_then(|owner| self.kv.get_json(&RevocationRequest::grant_key(owner), now));
        let outcome = request.revoke(owner, grant, client.as_ref(), now);
        self.kv.apply(&outcome.writes, now);
        outcome.reply.status
    }
}

const GH_TOKEN: (u16, &str) = (
    200,
    r#"{"access_token":"gho_upstream","token_type":"bearer","scope":"read:user"}"#,
);

fn gh_user(id: u64) -> String {
    format!(r#"{{"id":{id},"login":"someone"}}"#)
}

fn verifier() -> String {
    "a-verifier-that-is-long-enough-for-pkce-rules-1234".to_owned()
}

fn authorize_query(client: &ClientRecord, state: &str) -> Params {
    Params::from_pairs([
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &s256(&verifier())),
        ("code_challenge_method", "S256"),
        ("state", state),
        ("resource", "https://brain.example.com/mcp"),
        ("scope", "notes:read notes:write"),
    ])
}

/// Runs the browser part up to GitHub's callback; returns the callback's query.
fn sign_in_to_github(
    server: &mut Server,
    browser: &mut Browser,
    client: &ClientRecord,
    now: u64,
) -> Params {
    let page = server.authorize(&authorize_query(client, "client-state-1"), now);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Claude Code"));
    browser.receive(&page);
    let csrf = page
        .body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let form = Params::from_pairs([(CSRF_FIELD, csrf.as_str()), (DECISION_FIELD, "approve")]);
    let to_github = server.consent(browser.header(), &form, now + 5_000);
    assert_eq!(to_github.status, 302, "{}", to_github.body);
    browser.receive(&to_github);
    let github_url = to_github.header("location").unwrap();
    assert!(github_url.starts_with("https://github.com/login/oauth/authorize?"));
    let upstream = query_of(github_url);
    // GitHub redirects back to our callback with its code and our state.
    Params::from_pairs([
        ("code", "gh-code-123"),
        ("state", upstream.require("state").unwrap()),
    ])
}

/// The whole sign-in through to tokens; returns the token response.
fn sign_in(server: &mut Server, client: &ClientRecord, now: u64) -> Value {
    let mut browser = Browser::default();
    let callback_query = sign_in_to_github(server, &mut browser, client, now);
    let back = server.callback(
        browser.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(USER)),
        now + 9_000,
    );
    assert_eq!(back.status, 302);
    let location = back.header("location").unwrap();
    assert!(location.starts_with(REDIRECT));
    let answer = query_of(location);
    assert_eq!(answer.get("state"), Ok(Some("client-state-1")));
    assert_eq!(answer.get("iss"), Ok(Some("https://brain.example.com")));
    let code = answer.require("code").unwrap();
    let (status, tokens) = server.token(
        &Params::from_pairs([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier()),
            ("client_id", &client.client_id),
            ("resource", "https://brain.example.com/mcp"),
        ]),
        now + 10_000,
    );
    assert_eq!(status, 200, "{tokens}");
    tokens
}

#[test]
fn the_whole_flow_from_registration_to_revocation() {
    let mut server = Server::new();
    let client = server.register(T0);
    let tokens = sign_in(&mut server, &client, T0);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(server.access(access, ScopeSet::ALL, T0 + 11_000), Ok(USER));

    // Refresh: new tokens work, the old access token is retired.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) = server.token(
        &Params::from_pairs([
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client.client_id),
        ]),
        T0 + 1_800_000,
    );
    assert_eq!(status, 200, "{refreshed}");
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        server.access(new_access, ScopeSet::ALL, T0 + 1_800_001),
        Ok(USER)
    );
    assert_eq!(
        server.access(access, ScopeSet::ALL, T0 + 1_800_001),
        Err(AccessError::Unknown)
    );

    // Access tokens expire on time.
    assert_eq!(
        server.access(new_access, ScopeSet::ALL, T0 + 1_800_000 + 3_600_000),
        Err(AccessError::Unknown),
        "KV dropped it at its TTL"
    );

    // Revoke: the grant is gone.
    let status = server.revoke(
        &Params::from_pairs([
            ("token", new_access),
            ("client_id", client.client_id.as_str()),
        ]),
        T0 + 1_900_000,
    );
    assert_eq!(status, 200);
    assert_eq!(
        server.access(new_access, ScopeSet::ALL, T0 + 1_900_001),
        Err(AccessError::Unknown)
    );
    let (status, body) = server.token(
        &Params::from_pairs([
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
            ("client_id", &client.client_id),
        ]),
        T0 + 1_900_002,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[test]
fn a_reused_code_and_a_replayed_refresh_token_fail() {
    let mut server = Server::new();
    let client = server.register(T0);
    let mut browser = Browser::default();
    let callback_query = sign_in_to_github(&mut server, &mut browser, &client, T0);
    let back = server.callback(
        browser.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(USER)),
        T0 + 9_000,
    );
    let code = query_of(back.header("location").unwrap())
        .require("code")
        .unwrap()
        .to_owned();
    let form = Params::from_pairs([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier()),
        ("client_id", &client.client_id),
    ]);
    let (status, tokens) = server.token(&form, T0 + 10_000);
    assert_eq!(status, 200);
    let (status, body) = server.token(&form, T0 + 11_000);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        server.access(access, ScopeSet::ALL, T0 + 11_001),
        Err(AccessError::Unknown)
    );

    // A replayed refresh token revokes the family.
    let tokens = sign_in(&mut server, &client, T0 + 100_000);
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: &str| {
        Params::from_pairs([
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client.client_id.as_str()),
        ])
    };
    let (_, second) = server.token(&refresh(&first), T0 + 200_000);
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    let (status, _) = server.token(&refresh(&first), T0 + 300_000);
    assert_eq!(status, 400);
    assert_eq!(
        server.access(&second_access, ScopeSet::ALL, T0 + 300_001),
        Err(AccessError::Unknown)
    );
    let (status, _) = server.token(
        &refresh(second["refresh_token"].as_str().unwrap()),
        T0 + 300_002,
    );
    assert_eq!(status, 400);
}

#[test]
fn a_non_allowlisted_github_user_is_sent_back_with_access_denied() {
    let mut server = Server::new();
    let client = server.register(T0);
    let mut browser = Browser::default();
    let callback_query = sign_in_to_github(&mut server, &mut browser, &client, T0);
    let back = server.callback(
        browser.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(999)),
        T0 + 9_000,
    );
    let answer = query_of(back.header("location").unwrap());
    assert_eq!(answer.get("error"), Ok(Some("access_denied")));
    assert_eq!(answer.get("state"), Ok(Some("client-state-1")));
    assert!(answer.get("code").unwrap().is_none());
    assert_eq!(server.kv.count("code:", T0 + 9_000), 0);
    // The flow is spent: the same callback cannot be replayed.
    let again = server.callback(
        browser.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(USER)),
        T0 + 9_500,
    );
    assert_eq!(again.status, 400);
}

#[test]
fn github_errors_inside_200_end_the_sign_in() {
    let mut server = Server::new();
    let client = server.register(T0);
    let mut browser = Browser::default();
    let callback_query = sign_in_to_github(&mut server, &mut browser, &client, T0);
    let bad_code = (
        200,
        r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#,
    );
    let back = server.callback(
        browser.header(),
        &callback_query,
        bad_code,
        (200, &gh_user(USER)),
        T0 + 9_000,
    );
    assert_eq!(
        query_of(back.header("location").unwrap()).get("error"),
        Ok(Some("server_error"))
    );
}

#[test]
fn foreign_state_csrf_and_tampered_cookies_are_refused() {
    let mut server = Server::new();
    let client = server.register(T0);

    // Consent without the cookie's CSRF token (a cross-site post would not even carry it).
    let mut browser = Browser::default();
    let page = server.authorize(&authorize_query(&client, "s"), T0);
    browser.receive(&page);
    let forged = Params::from_pairs([(CSRF_FIELD, "guess"), (DECISION_FIELD, "approve")]);
    assert_eq!(
        server.consent(browser.header(), &forged, T0 + 1).status,
        403
    );
    assert_eq!(server.consent(None, &forged, T0 + 1).status, 400);

    // A tampered cookie.
    let cookie = browser.cookie.clone().unwrap();
    let middle = cookie.len() - 20;
    let flipped = if &cookie[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{flipped}{}", &cookie[..middle], &cookie[middle + 1..]);
    let reply = server.consent(Some(&tampered), &forged, T0 + 1);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains(&CookieError::Tampered.to_string()));

    // A callback with someone else's state (login CSRF), and one before consent.
    let callback_query = sign_in_to_github(&mut server, &mut browser, &client, T0);
    let foreign = Params::from_pairs([("code", "attacker-code"), ("state", "attacker-state")]);
    let reply = server.callback(
        browser.header(),
        &foreign,
        GH_TOKEN,
        (200, &gh_user(USER)),
        T0 + 6_000,
    );
    assert_eq!((reply.status, reply.header("location")), (400, None));
    let mut fresh = Browser::default();
    fresh.receive(&server.authorize(&authorize_query(&client, "s"), T0));
    let reply = server.callback(
        fresh.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(USER)),
        T0 + 6_000,
    );
    assert_eq!(
        reply.status, 400,
        "a cookie from before consent cannot complete"
    );
    // The real callback still works after the forged one.
    let back = server.callback(
        browser.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(USER)),
        T0 + 7_000,
    );
    assert!(
        query_of(back.header("location").unwrap())
            .get("code")
            .unwrap()
            .is_some()
    );

    // An expired sign-in.
    let mut slow = Browser::default();
    let callback_query = sign_in_to_github(&mut server, &mut slow, &client, T0);
    let reply = server.callback(
        slow.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(USER)),
        T0 + 600_000,
    );
    assert!(reply.body.contains(&CookieError::Expired.to_string()));
}

#[test]
fn rotating_the_cookie_key_only_invalidates_sign_ins_in_flight() {
    let mut server = Server::new();
    let client = server.register(T0);
    let tokens = sign_in(&mut server, &client, T0);
    let mut browser = Browser::default();
    let callback_query = sign_in_to_github(&mut server, &mut browser, &client, T0 + 20_000);

    server.key = CookieKey::from_bytes(&[0x5A; 32]);
    let reply = server.callback(
        browser.header(),
        &callback_query,
        GH_TOKEN,
        (200, &gh_user(USER)),
        T0 + 30_000,
    );
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains(&CookieError::WrongKey.to_string()));

    // Issued tokens are untouched by the rotation: they validate and refresh.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(server.access(access, ScopeSet::ALL, T0 + 30_000), Ok(USER));
    let (status, _) = server.token(
        &Params::from_pairs([
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", client.client_id.as_str()),
        ]),
        T0 + 31_000,
    );
    assert_eq!(status, 200);
    // And new sign-ins work under the new key.
    let fresh = sign_in(&mut server, &client, T0 + 40_000);
    assert!(fresh["access_token"].is_string());
}

#[test]
fn a_mismatched_redirect_uri_never_leaves_our_origin() {
    let mut server = Server::new();
    let client = server.register(T0);
    let mut query = authorize_query(&client, "s");
    query = Params::from_pairs(
        [
            "response_type",
            "client_id",
            "code_challenge",
            "code_challenge_method",
            "state",
        ]
        .into_iter()
        .map(|name| (name.to_owned(), query.require(name).unwrap().to_owned()))
        .chain([(
            "redirect_uri".to_owned(),
            "https://evil.example/steal".to_owned(),
        )]),
    );
    let reply = server.authorize(&query, T0);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("location"), None);
    assert_eq!(reply.header("set-cookie"), None);
}

#[test]
fn denying_consent_sends_access_denied() {
    let mut server = Server::new();
    let client = server.register(T0);
    let mut browser = Browser::default();
    let page = server.authorize(&authorize_query(&client, "st"), T0);
    browser.receive(&page);
    let csrf = page
        .body
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let form = Params::from_pairs([(CSRF_FIELD, csrf.as_str()), (DECISION_FIELD, "deny")]);
    let reply = server.consent(browser.header(), &form, T0 + 1);
    let answer = query_of(reply.header("location").unwrap());
    assert_eq!(answer.get("error"), Ok(Some("access_denied")));
    assert_eq!(answer.get("state"), Ok(Some("st")));
    browser.receive(&reply);
    assert_eq!(browser.cookie, None, "the cookie is cleared");
}
