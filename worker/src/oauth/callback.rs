//! `GET /oauth/callback`: GitHub sends the browser back; we finish the sign-in.
//!
//! The adapter's sequence:
//! 1. open the sign-in cookie ([`cookie::open_from_header`]); on error answer
//!    [`CookieError::reply`](super::cookie::CookieError::reply);
//! 2. read [`flow_key`] (`flow:{flow_id}`) from `OAUTH_KV`, then [`check`] the query; on
//!    success apply its writes (the flow is marked used before anything else happens);
//! 3. exchange GitHub's code ([`github::token_request`](super::github::token_request)), read
//!    the user ([`github::user_request`](super::github::user_request)); on failure answer
//!    [`refuse`] with [`Refusal::Upstream`];
//! 4. if the allowlist does not hold the user id, answer [`refuse`] with
//!    [`Refusal::NotAllowed`];
//! 5. otherwise [`complete`]: apply its write (the code record) and send its reply.
//!
//! Every reply after step 2 clears the cookie and goes back to the client's redirect URI.

use subtle::ConstantTimeEq;
use thiserror::Error;

use super::authorize::PendingAuthorization;
use super::cookie;
use super::endpoints::ServerUrls;
use super::params::{Params, with_query};
use super::response::{ErrorCode, Reply, message_page};
use super::storage::{FLOW_USED, KvWrite, flow_key, ttl_until};
use super::tokens::{CodeRecord, Lifetimes};

/// GitHub's code, to exchange. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamCode(String);

impl UpstreamCode {
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for UpstreamCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamCode(..)")
    }
}

/// A callback that may proceed to GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// GitHub's code.
    pub code: UpstreamCode,
    /// Mark the flow used (apply before calling GitHub).
    pub writes: Vec<KvWrite>,
}

/// Why a callback is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The cookie is from before consent (no GitHub `state` was ever issued for it).
    #[error("this sign-in was not approved on the consent page")]
    NotApproved,
    /// The callback has no `state` (or repeats it).
    #[error("the callback has no state")]
    MissingState,
    /// The `state` is not the one we sent GitHub for this browser's sign-in (CSRF).
    #[error("the callback does not belong to this browser's sign-in")]
    StateMismatch,
    /// This sign-in already came back once.
    #[error("this sign-in was already used")]
    Replayed,
    /// The user declined at GitHub (`error=access_denied`) or GitHub reported another error.
    #[error("GitHub did not sign the user in ({0})")]
    Upstream(String),
    /// A matching `state` but no `code`.
    #[error("the callback has no code")]
    MissingCode,
}

impl CallbackError {
    /// The reply. Upstream errors go back to the client (the cookie is authentic and the state
    /// matched, so the redirect URI is trusted); the rest show a page and keep the cookie, so
    /// a forged callback cannot cancel a real sign-in in progress.
    pub fn reply(&self, pending: &PendingAuthorization, urls: &ServerUrls) -> Reply {
        match self {
            CallbackError::Upstream(error) if error == "access_denied" => {
                refuse(pending, Refusal::Declined, urls)
            }
            CallbackError::Upstream(_) => refuse(pending, Refusal::Upstream, urls),
            other => message_page(
                400,
                "Sign-in could not continue",
                &format!("{other}. Start the connection again from your app."),
            ),
        }
    }
}

/// Checks GitHub's callback query against the cookie's pending authorization. `flow_used` is
/// whether [`flow_key`] was found in KV.
pub fn check(
    pending: &PendingAuthorization,
    query: &Params,
    flow_used: bool,
) -> Result<Accepted, CallbackError> {
    let expected = pending
        .upstream_state
        .as_deref()
        .ok_or(CallbackError::NotApproved)?;
    let state = query
        .get("state")
        .ok()
        .flatten()
        .ok_or(CallbackError::MissingState)?;
    if !bool::from(state.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(CallbackError::StateMismatch);
    }
    if flow_used {
        return Err(CallbackError::Replayed);
    }
    if let Ok(Some(error)) = query.get("error") {
        return Err(CallbackError::Upstream(
            error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect(),
        ));
    }
    let code = query
        .get("code")
        .ok()
        .flatten()
        .ok_or(CallbackError::MissingCode)?;
    Ok(Accepted {
        code: UpstreamCode(code.to_owned()),
        writes: vec![mark_used(pending)],
    })
}

/// The write marking this sign-in used, living as long as its cookie could.
pub fn mark_used(pending: &PendingAuthorization) -> KvWrite {
    KvWrite::put_text(
        flow_key(&pending.flow_id),
        FLOW_USED,
        ttl_until(pending.expires_at_ms, pending.created_at_ms),
    )
}

/// Why a sign-in ends without a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user declined at GitHub: `access_denied`.
    Declined,
    /// The GitHub user is not on the allowlist: `access_denied`.
    NotAllowed,
    /// GitHub failed or refused the exchange: `server_error`.
    Upstream,
}

/// Back to the client with an error (`state`, `iss` included); the cookie is cleared.
pub fn refuse(pending: &PendingAuthorization, refusal: Refusal, urls: &ServerUrls) -> Reply {
    let (code, description) = match refusal {
        Refusal::Declined => (ErrorCode::AccessDenied, "the user declined at GitHub"),
        Refusal::NotAllowed => (
            ErrorCode::AccessDenied,
            "this GitHub account is not allowed to use this server",
        ),
        Refusal::Upstream => (ErrorCode::ServerError, "signing in with GitHub failed"),
    };
    pending
        .error_redirect(code, description)
        .reply(urls)
        .with_header("set-cookie", cookie::clear_cookie())
}

/// A finished sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `302` to the client with `code`, `state` and `iss`; clears the cookie.
    pub reply: Reply,
    /// Store the code record.
    pub write: KvWrite,
}

/// Issues our authorization code for `user_id` (already checked against the allowlist).
pub fn complete(
    pending: &PendingAuthorization,
    user_id: u64,
    urls: &ServerUrls,
    now_ms: u64,
    lifetimes: &Lifetimes,
    code_random: &[u8; 32],
) -> Completion {
    let issued = CodeRecord::issue(pending, user_id, now_ms, lifetimes, code_random);
    let location = with_query(
        &pending.redirect_uri,
        &[
            ("code", Some(&issued.code)),
            ("state", pending.state.as_deref()),
            ("iss", Some(urls.issuer())),
        ],
    );
    Completion {
        reply: Reply::redirect(location).with_header("set-cookie", cookie::clear_cookie()),
        write: issued.write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::SIGN_IN_TTL_MS;
    use crate::oauth::pkce::{CodeChallenge, s256};
    use crate::oauth::scope::ScopeSet;
    use crate::oauth::storage::code_key;
    use crate::oauth::tokens::hash_token;

    const NOW: u64 = 1_750_000_000_000;

    fn urls() -> ServerUrls {
        ServerUrls::new("https://brain.example.com").unwrap()
    }

    fn approved() -> PendingAuthorization {
        PendingAuthorization {
            flow_id: "flow1".into(),
            client_id: "sbc_client".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_given: true,
            code_challenge: CodeChallenge::parse(Some(&s256(&"v".repeat(43))), Some("S256"))
                .unwrap(),
            state: Some("client-state".into()),
            resource: "https://brain.example.com/mcp".into(),
            scope: ScopeSet::ALL,
            csrf_token: "csrf".into(),
            upstream_state: Some("upstream-state".into()),
            created_at_ms: NOW,
            expires_at_ms: NOW + SIGN_IN_TTL_MS,
        }
    }

    fn query(state: &str, code: &str) -> Params {
        Params::from_pairs([("state", state), ("code", code)])
    }

    #[test]
    fn a_matching_state_is_accepted_and_marks_the_flow_used() {
        let accepted = check(&approved(), &query("upstream-state", "gh-code"), false).unwrap();
        assert_eq!(accepted.code.as_str(), "gh-code");
        assert_eq!(format!("{:?}", accepted.code), "UpstreamCode(..)");
        assert_eq!(
            accepted.writes,
            vec![KvWrite::Put {
                key: "flow:flow1".into(),
                value: "used".into(),
                ttl_secs: 600
            }]
        );
    }

    #[test]
    fn foreign_or_missing_state_is_refused_without_redirect() {
        let pending = approved();
        assert_eq!(
            check(&pending, &query("attacker-state", "gh-code"), false),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            check(&pending, &Params::from_pairs([("code", "gh-code")]), false),
            Err(CallbackError::MissingState)
        );
        let repeated = Params::from_pairs([
            ("state", "upstream-state"),
            ("state", "upstream-state"),
            ("code", "c"),
        ]);
        assert_eq!(
            check(&pending, &repeated, false),
            Err(CallbackError::MissingState)
        );
        let reply = CallbackError::StateMismatch.reply(&pending, &urls());
        assert_eq!(reply.status, 400);
        assert_eq!(reply.header("location"), None);
        assert_eq!(
            reply.header("set-cookie"),
            None,
            "a forged callback keeps the cookie"
        );
    }

    #[test]
    fn a_cookie_from_before_consent_cannot_complete() {
        let mut pending = approved();
        pending.upstream_state = None;
        assert_eq!(
            check(&pending, &query("upstream-state", "gh-code"), false),
            Err(CallbackError::NotApproved)
        );
    }

    #[test]
    fn a_used_flow_is_replayed() {
        assert_eq!(
            check(&approved(), &query("upstream-state", "gh-code"), true),
            Err(CallbackError::Replayed)
        );
    }

    #[test]
    fn github_errors_go_back_to_the_client() {
        let denied = Params::from_pairs([("state", "upstream-state"), ("error", "access_denied")]);
        let err = check(&approved(), &denied, false).unwrap_err();
        assert_eq!(err, CallbackError::Upstream("access_denied".into()));
        let reply = err.reply(&approved(), &urls());
        let location = reply.header("location").unwrap();
        assert!(location.starts_with("https://app.example/cb?error=access_denied"));
        assert!(location.contains("state=client-state"));
        assert!(reply.header("set-cookie").unwrap().contains("Max-Age=0"));
        let suspended = Params::from_pairs([
            ("state", "upstream-state"),
            ("error", "application_suspended"),
        ]);
        let err = check(&approved(), &suspended, false).unwrap_err();
        let location = err
            .reply(&approved(), &urls())
            .header("location")
            .unwrap()
            .to_owned();
        assert!(location.contains("error=server_error"));
        assert_eq!(
            check(
                &approved(),
                &Params::from_pairs([("state", "upstream-state")]),
                false
            ),
            Err(CallbackError::MissingCode)
        );
    }

    #[test]
    fn non_allowlisted_users_are_sent_back_with_access_denied() {
        let reply = refuse(&approved(), Refusal::NotAllowed, &urls());
        let location = reply.header("location").unwrap();
        assert!(location.starts_with("https://app.example/cb?error=access_denied"));
        assert!(location.ends_with("&iss=https%3A%2F%2Fbrain.example.com"));
        let upstream = refuse(&approved(), Refusal::Upstream, &urls());
        assert!(
            upstream
                .header("location")
                .unwrap()
                .contains("error=server_error")
        );
    }

    #[test]
    fn completion_redirects_with_code_state_and_iss() {
        let done = complete(
            &approved(),
            42,
            &urls(),
            NOW,
            &Lifetimes::default(),
            &[8; 32],
        );
        let location = done.reply.header("location").unwrap();
        let (base, query) = location.split_once('?').unwrap();
        assert_eq!(base, "https://app.example/cb");
        let params = Params::parse(query);
        let code = params.require("code").unwrap();
        assert!(code.starts_with("sb_ac_"));
        assert_eq!(params.get("state"), Ok(Some("client-state")));
        assert_eq!(params.get("iss"), Ok(Some("https://brain.example.com")));
        let KvWrite::Put {
            key,
            value,
            ttl_secs,
        } = &done.write
        else {
            panic!("not a put")
        };
        assert_eq!(key, &code_key(&hash_token(code)));
        assert_eq!(*ttl_secs, 60);
        let record: CodeRecord = serde_json::from_str(value).unwrap();
        assert_eq!(record.user_id, 42);
        assert_eq!(record.client_id, "sbc_client");
        assert_eq!(record.expires_at_ms, NOW + 60_000);
        assert!(
            done.reply
                .header("set-cookie")
                .unwrap()
                .contains("Max-Age=0")
        );
    }
}
