//! The per-user `/mcp` rate limit, counted inside the user's `MCPSessionDurableObject`.
//!
//! Exact under concurrency: the object is single-threaded and the load, the decision
//! ([`RateLimiter::check_and_count`]) and the save run with no `.await` between them, so no
//! two requests interleave. The limiter's state (at most 180 small numbers) is kept in the
//! object's SQLite database (table `user_rate_limiter`), so it survives eviction and restarts.
//!
//! The front Worker sends the limits in [`LIMITS_HEADER`] (for signed-in requests only; the
//! local-development user is not limited); the object answers the decision in
//! [`DECISION_HEADER`], which the front Worker logs and removes. A refused request gets 429
//! with `Retry-After` and a JSON-RPC error ([`rate_limited_reply`]) and never reaches the
//! MCP handler.

use std::future::Future;

use serde::Deserialize;
use worker::{Request, Response, Result, SqlStorage};

use crate::mcp::jsonrpc::RequestId;
use crate::oauth::ratelimit::{RateLimiter, Window, rate_limited_reply};
use crate::oauth_http::settings::parse_limits_header;
use crate::oauth_http::to_response;

/// Front Worker to object: `minute,hour,day` limits for this request's user.
pub(crate) const LIMITS_HEADER: &str = "x-second-brain-rate-limits";
/// Object to front Worker: `admitted` or `limited_{window}`.
pub(crate) const DECISION_HEADER: &str = "x-second-brain-rate-limit";

#[derive(Debug, Deserialize)]
struct Row {
    state: String,
}

/// Counts the request against the limits in its [`LIMITS_HEADER`] and serves it with `serve`
/// if admitted. Without the header the request is served unlimited.
pub(crate) async fn serve<F, Fut>(sql: &SqlStorage, req: Request, serve: F) -> Result<Response>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let Some(limits) = req
        .headers()
        .get(LIMITS_HEADER)?
        .as_deref()
        .and_then(parse_limits_header)
    else {
        return serve(req).await;
    };
    let decision = {
        sql.exec(
            "CREATE TABLE IF NOT EXISTS user_rate_limiter \
             (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
            None,
        )?;
        let rows: Vec<Row> = sql
            .exec("SELECT state FROM user_rate_limiter WHERE id = 1", None)?
            .to_array()?;
        // A state that does not parse (never expected) starts afresh rather than failing.
        let mut limiter: RateLimiter = rows
            .first()
            .and_then(|row| serde_json::from_str(&row.state).ok())
            .unwrap_or_default();
        let decision = limiter.check_and_count(&limits, worker::Date::now().as_millis());
        if decision.allowed {
            let state = serde_json::to_string(&limiter).unwrap_or_default();
            sql.exec(
                "INSERT INTO user_rate_limiter (id, state) VALUES (1, ?) \
                 ON CONFLICT(id) DO UPDATE SET state = excluded.state",
                vec![state.into()],
            )?;
        }
        decision
    };
    if decision.allowed {
        let mut response = serve(req).await?;
        // Responses made in Rust have mutable headers; if not, the log just lacks the field.
        let _ = response.headers_mut().set(DECISION_HEADER, "admitted");
        return Ok(response);
    }
    let id = request_id(req).await;
    let mut response = to_response(rate_limited_reply(&decision, id))?;
    let name = match decision.limited_by {
        Some(Window::Hour) => "limited_hour",
        Some(Window::Day) => "limited_day",
        _ => "limited_minute",
    };
    response.headers_mut().set(DECISION_HEADER, name)?;
    Ok(response)
}

/// The JSON-RPC id of a single request, for the 429 body; `None` for anything else.
async fn request_id(mut req: Request) -> Option<RequestId> {
    let body = req.text().await.ok()?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    RequestId::from_value(value.get("id")?)
}
