//! The per-user `/mcp` rate limit, counted inside the user's `MCPSessionDurableObject`.
//!
//! What counts is JSON-RPC requests: a POST counts the requests it carries (one, or each entry
//! of a batch that gets an answer), never notifications, responses, GET streams or DELETE. A
//! POST is admitted whole or refused whole: a batch that does not fit runs none of its calls.
//!
//! Two steps, so a user already at the limit costs at most a small body read:
//! 1. [`UserLimit::refuse_if_full`] before the body is read: 429 when not even one request
//!    would be admitted and the body is not declared small (at most [`SMALL_BODY_BYTES`]).
//!    The reply then has no JSON-RPC id: the body was not read. A small body is read, so a
//!    notification (a cancellation, say) still gets through at the limit.
//! 2. [`UserLimit::count`] once the body is parsed, with the number of requests it carries:
//!    429 (with the request's id, for a single request) when they do not all fit.
//!
//! Exact under concurrency: the object is single-threaded and each step's load, decision
//! ([`RateLimiter::check_and_count`]) and save run with no `.await` between them, so no two
//! requests interleave. The limiter's state (at most 180 small numbers) is kept in the
//! object's SQLite database (table `user_rate_limiter`), so it survives eviction and restarts.
//!
//! The front Worker sends the limits in [`LIMITS_HEADER`] (for signed-in requests only; the
//! local-development user is not limited); the object answers the decision in
//! [`DECISION_HEADER`], which the front Worker logs and removes. A refused request gets 429
//! with `Retry-After` and a JSON-RPC error ([`rate_limited_reply`]).

use serde::Deserialize;
use worker::{Headers, Response, Result, SqlStorage};

use crate::mcp::jsonrpc::RequestId;
use crate::oauth::ratelimit::{Decision, RateLimiter, RateLimits, Window, rate_limited_reply};
use crate::oauth_http::settings::parse_limits_header;
use crate::oauth_http::to_response;

/// Front Worker to object: `minute,hour,day` limits for this request's user.
pub(crate) const LIMITS_HEADER: &str = "x-second-brain-rate-limits";
/// Object to front Worker: `admitted`, `not_counted` or `limited_{window}`.
pub(crate) const DECISION_HEADER: &str = "x-second-brain-rate-limit";
/// A body declared at most this long is read even when the user is at the limit: it may hold
/// only notifications, which do not count.
pub(crate) const SMALL_BODY_BYTES: u64 = 8 * 1024;

#[derive(Debug, Deserialize)]
struct Row {
    state: String,
}

/// The limit of one request's user, in the object that counts it.
pub(crate) struct UserLimit<'a> {
    sql: &'a SqlStorage,
    limits: RateLimits,
}

impl<'a> UserLimit<'a> {
    /// The limit the front Worker sent for this request; `None` when it sent none (the
    /// request is not limited).
    pub(crate) fn of(sql: &'a SqlStorage, headers: &Headers) -> Option<Self> {
        let limits = headers
            .get(LIMITS_HEADER)
            .ok()
            .flatten()
            .as_deref()
            .and_then(parse_limits_header)?;
        Some(UserLimit { sql, limits })
    }

    /// The 429 to send before reading a body of `declared` length when the user has no
    /// request left now (see the module docs).
    pub(crate) fn refuse_if_full(&self, declared: Option<u64>) -> Result<Option<Response>> {
        if declared.is_some_and(|length| length <= SMALL_BODY_BYTES) {
            return Ok(None);
        }
        let decision = self.decide(1, false)?;
        refusal(&decision, None)
    }

    /// Counts `requests` (a POST's requests) and returns the 429 to send when they do not all
    /// fit (`id`: the single request's id, for the reply); `None` when admitted.
    pub(crate) fn count(&self, requests: u32, id: Option<RequestId>) -> Result<Option<Response>> {
        let decision = self.decide(requests, true)?;
        refusal(&decision, id)
    }

    fn decide(&self, requests: u32, count: bool) -> Result<Decision> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS user_rate_limiter \
             (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
            None,
        )?;
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT state FROM user_rate_limiter WHERE id = 1", None)?
            .to_array()?;
        // A state that does not parse (never expected) starts afresh rather than failing.
        let mut limiter: RateLimiter = rows
            .first()
            .and_then(|row| serde_json::from_str(&row.state).ok())
            .unwrap_or_default();
        let now = worker::Date::now().as_millis();
        let decision = if count {
            limiter.check_and_count(&self.limits, now, requests)
        } else {
            limiter.check(&self.limits, now, requests)
        };
        if decision.allowed && count && requests > 0 {
            let state = serde_json::to_string(&limiter).unwrap_or_default();
            self.sql.exec(
                "INSERT INTO user_rate_limiter (id, state) VALUES (1, ?) \
                 ON CONFLICT(id) DO UPDATE SET state = excluded.state",
                vec![state.into()],
            )?;
        }
        Ok(decision)
    }
}

/// The 429 for a refused decision, with [`DECISION_HEADER`] naming the window.
fn refusal(decision: &Decision, id: Option<RequestId>) -> Result<Option<Response>> {
    if decision.allowed {
        return Ok(None);
    }
    let mut response = to_response(rate_limited_reply(decision, id))?;
    let name = match decision.limited_by {
        Some(Window::Hour) => "limited_hour",
        Some(Window::Day) => "limited_day",
        _ => "limited_minute",
    };
    response.headers_mut().set(DECISION_HEADER, name)?;
    Ok(Some(response))
}
