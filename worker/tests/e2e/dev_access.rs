//! Local development's shortcuts (the dev user, `X-Dev-User`, the `/__dev/` routes) serve
//! requests from this machine only, whatever the vars say; a token-less request naming a
//! session the dev user does not have is sent to sign in, never started over as the dev user;
//! made-up tokens from one address are refused, past a limit, before any lookup.
//!
//! The Worker runs with `scripts/dev.sh`'s vars plus sign-in settings, as a deployment that got
//! `LOCAL_DEV=1` by mistake would. "Another machine" is a request whose `CF-Connecting-IP`
//! (set by Cloudflare's edge to the client's address) or `Host` is not loopback.

use std::sync::OnceLock;

use serde_json::Value;

use crate::local_worker::{LocalWorker, Options, client, shared_in};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;

static WORKER: OnceLock<LocalWorker> = OnceLock::new();

fn worker() -> &'static LocalWorker {
    shared_in(&WORKER, || {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("randomness");
        let key: &'static str = Box::leak(hex::encode(key).into_boxed_str());
        let mut options = Options::default();
        options.vars.extend([
            ("PUBLIC_BASE_URL", "https://brain.example.com"),
            ("COOKIE_ENCRYPTION_KEY", key),
            ("GITHUB_CLIENT_ID", "test-client-id"),
            ("GITHUB_CLIENT_SECRET", "test-client-secret"),
            ("GITHUB_ALLOWED_USER_ID", "1001"),
        ]);
        options
    })
}

/// A token-less POST to `/mcp` as `user` (`X-Dev-User`), with extra headers.
fn post(
    session: Option<&str>,
    body: &str,
    user: &str,
    headers: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut request = client()
        .post(worker().url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-dev-user", user)
        .body(body.to_owned());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().expect("answered")
}

fn dev_user_lines(worker: &LocalWorker) -> usize {
    worker
        .json_log_lines()
        .iter()
        .filter(|line| line["route"] == "/mcp" && line["auth"] == "dev_user")
        .count()
}

#[test]
fn x_dev_user_from_another_machine_is_ignored() {
    let worker = worker();
    // From this machine: the dev user, named by the header.
    let served = post(None, INITIALIZE, "dev-access", &[]);
    assert_eq!(served.status(), 200);
    assert!(served.headers().get("mcp-session-id").is_some());
    let before = dev_user_lines(worker);

    // The same request from elsewhere, by address or by host: sign in first.
    for elsewhere in [
        [("cf-connecting-ip", "203.0.113.7")],
        [("cf-connecting-ip", "2001:db8::7")],
        [("host", "brain.example.com")],
    ] {
        let refused = post(None, INITIALIZE, "dev-access", &elsewhere);
        assert_eq!(refused.status(), 401, "{elsewhere:?}");
        assert!(refused.headers().get("mcp-session-id").is_none());
        let challenge = refused.headers()["www-authenticate"]
            .to_str()
            .expect("ascii");
        assert!(challenge.contains("resource_metadata="), "{challenge}");
    }
    assert_eq!(
        dev_user_lines(worker),
        before,
        "none served as the dev user"
    );
    // A loopback address is this machine.
    let served = post(
        None,
        INITIALIZE,
        "dev-access",
        &[("cf-connecting-ip", "::1")],
    );
    assert_eq!(served.status(), 200);
}

#[test]
fn dev_routes_answer_this_machine_only() {
    let worker = worker();
    let alarm = |headers: &[(&str, &str)]| {
        let mut request = client().get(worker.url("/__dev/alarm/dev-access"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().expect("answered")
    };
    assert_eq!(alarm(&[]).status(), 200);
    assert_eq!(alarm(&[("cf-connecting-ip", "127.0.0.1")]).status(), 200);
    let refused = alarm(&[("cf-connecting-ip", "198.51.100.1")]);
    assert_eq!(refused.status(), 404);
    let body: Value = refused.json().expect("JSON");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(alarm(&[("host", "brain.example.com")]).status(), 404);
}

#[test]
fn a_token_less_request_naming_an_unknown_session_is_sent_to_sign_in() {
    let served = post(None, INITIALIZE, "dev-access-session", &[]);
    assert_eq!(served.status(), 200);
    let session = served.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    // The dev user's own session goes on without a token...
    let ping = post(Some(&session), PING, "dev-access-session", &[]);
    assert_eq!(ping.status(), 200);
    // ... but a session it does not have (a signed-in client that lost its token) gets 401,
    // not the 404 that would have it start over as the dev user.
    let unknown = "ab".repeat(32);
    let refused = post(Some(&unknown), PING, "dev-access-session", &[]);
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("resource_metadata=")
    );
    let other_users = post(Some(&session), PING, "dev-access-other", &[]);
    assert_eq!(other_users.status(), 401);
}

#[test]
fn made_up_tokens_from_one_address_are_refused_before_any_lookup_past_the_limit() {
    let worker = worker();
    let attempt = |address: &str, n: usize| {
        client()
            .post(worker.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("cf-connecting-ip", address)
            .header("authorization", format!("Bearer sb_at_{n:0>43}"))
            .body(INITIALIZE)
            .send()
            .expect("answered")
    };
    // 30 refused tokens a minute are answered 401; then 429 until the window ends. A window
    // may end during the run, so the first 429 comes after 31 to 61 attempts.
    let mut first_limited = None;
    for n in 1..=61 {
        let response = attempt("198.51.100.23", n);
        match response.status().as_u16() {
            401 => {}
            429 => {
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .expect("ascii")
                    .parse()
                    .expect("seconds");
                assert!((1..=60).contains(&retry), "{retry}");
                let body: Value = response.json().expect("JSON");
                assert_eq!(body["error"], "temporarily_unavailable");
                first_limited = Some(n);
                break;
            }
            other => panic!("attempt {n}: {other}"),
        }
    }
    let first_limited = first_limited.expect("the address is limited");
    assert!((31..=61).contains(&first_limited), "{first_limited}");
    assert!(
        worker
            .json_log_lines()
            .iter()
            .any(|line| line["auth"] == "token_limited")
    );
    // Another address still gets the 401 that starts sign-in.
    assert_eq!(attempt("198.51.100.24", 0).status(), 401);
}
