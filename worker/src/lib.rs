//! The Cloudflare adapter of Second Brain: the front Worker and the `MCPSessionDurableObject`.
//!
//! The front Worker gives every request a correlation id, routes it, and writes exactly one
//! JSON log line for it. It serves `/health` itself; MCP work goes to the user's Durable Object.
//!
//! # What this crate never does
//! - It holds no product logic that could live in `engine` or `backups`: it decodes requests,
//!   calls those crates, performs their effects and encodes replies.
//! - It never logs bodies, tokens or anything that identifies a person.
//! - It never panics on input: a panic in a Durable Object resets all of its in-memory state.
//!
//! # Layout
//! - [`config`]: the configuration read from bindings and vars, and its startup checks.
//! - `correlation`: correlation ids (from `cf-ray`, or generated).
//! - `request_log`: the one JSON log line per request.
//! - `request_body`: the capped body reader every handler buffers a body with.
//! - `routes`: which handler serves a method and path.
//! - `loopback`: whether a request comes from this machine (local development needs it).
//! - `health`: `/health`, its probes and the report they make.
//! - `session_object`: the `MCPSessionDurableObject` class: the user's store, MCP sessions,
//!   tool calls and their SSE streams, subscriptions, alarms and snapshots.
//! - `do_storage`: the engine's `Storage` on the object's SQLite database.
//! - `blobs`: note contents in R2, content-addressed and verified.
//! - `mcp_endpoint`: `/mcp` in the front Worker: admission, identity, forwarding.
//! - `mcp_http`: the glue between [`mcp`]'s pure rules and `worker`'s HTTP types.
//! - `note_tools`: the MCP tools over the user's notes, one module per tool.
//! - `note_resources`, `note_prompts`: the user's notes as MCP resources, and the prompts
//!   that embed them.
//! - `reply`: JSON replies and errors.
//! - [`mcp`]: the pure MCP protocol layer: wire types, versions and Streamable HTTP rules.
//! - [`oauth`]: the pure OAuth 2.1 layer: metadata, registration, sign-in, tokens, rate limits.
//! - `oauth_http`: the OAuth routes: [`oauth`]'s functions over KV, fetch, clock and randomness.
//! - `user_limits`: the per-user `/mcp` rate limiter inside the user's object.
//!
//! The pure parts (config, correlation, routes, the health report, log lines) are unit-tested
//! natively; everything that touches a binding is tested end to end in workerd (`tests/`).

mod admin;
mod backup;
mod blobs;
pub mod config;
mod correlation;
mod do_storage;
mod health;
mod loopback;
pub mod mcp;
mod mcp_endpoint;
mod mcp_http;
mod note_prompts;
mod note_resources;
mod note_tools;
pub mod oauth;
mod oauth_http;
mod reply;
mod request_body;
mod request_log;
mod routes;
mod session_object;
mod telemetry;
mod user_limits;

pub use session_object::MCPSessionDurableObject;

use worker::{
    Context, Date, Env, Headers, Request, Response, Result, ScheduleContext, ScheduledEvent, event,
};

use crate::config::Config;
use crate::request_log::RequestLog;
use crate::routes::Route;

/// The front Worker's entry point.
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = Date::now().as_millis();
    let correlation_id =
        correlation::for_request(req.headers().get("cf-ray").ok().flatten().as_deref());
    let method = req.method().to_string();
    let path = req.path();
    let route = Route::resolve(&method, &path);
    let bytes_in = content_length(req.headers());

    let decisions = oauth_http::Decisions::default();
    let response = match Config::from_env(&env) {
        Ok(config) => {
            let config = config.for_request(from_loopback(&req));
            serve(route, req, &env, &config, &decisions).await
        }
        Err(err) => reply::error(503, "misconfigured", &err.to_string()),
    };
    let response = match response {
        Ok(response) => response,
        Err(err) => {
            worker::console_error!(
                "{}",
                request_log::internal_error(&correlation_id, &err.to_string())
            );
            reply::error(500, "internal", "the server failed to handle this request")?
        }
    };
    let response = with_header(response, correlation::HEADER, &correlation_id)?;

    let line = RequestLog {
        correlation_id: &correlation_id,
        method: &method,
        route: route.name(),
        status: response.status_code(),
        duration_ms: Date::now().as_millis().saturating_sub(started),
        auth: decisions.auth.get(),
        rate_limit: decisions.rate_limit.get(),
    };
    worker::console_log!("{}", line.to_json());
    let point = telemetry::request_point(&telemetry::RequestFacts {
        environment: &telemetry::environment(&env),
        route: route.name(),
        status: line.status,
        duration_ms: line.duration_ms,
        bytes_in,
        bytes_out: content_length(response.headers()),
        auth: line.auth,
        rate_limit: line.rate_limit,
    });
    telemetry::write(&env, &point);
    Ok(response)
}

/// A message's `Content-Length` (0 when absent: a stream, or no body).
fn content_length(headers: &Headers) -> u64 {
    headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The cron trigger's entry point.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // Exports run in each user's object; the cron audits them (nudges, restore drills).
    backup::cron::run(&env, &event.cron()).await;
}

async fn serve(
    route: Route<'_>,
    req: Request,
    env: &Env,
    config: &Config,
    decisions: &oauth_http::Decisions,
) -> Result<Response> {
    match route {
        Route::Health => health::serve(env, config).await,
        Route::Mcp => mcp_endpoint::serve(req, env, config, decisions).await,
        Route::OAuth(resolution) => {
            oauth_http::serve(resolution, req, env, config, decisions).await
        }
        Route::AdminRebuild { user } => admin::rebuild(req, env, user).await,
        Route::DevArchive { user } if config.local_dev => {
            session_object::forward_dev_user_route(req, env, user, "archive").await
        }
        Route::DevMemory { user } if config.local_dev => {
            session_object::forward_dev_user_route(req, env, user, "memory").await
        }
        Route::DevGrow { user } if config.local_dev => {
            session_object::forward_dev_user_route(req, env, user, "grow").await
        }
        Route::DevAlarm { object } if config.local_dev => {
            session_object::forward_dev_alarm(req, env, object).await
        }
        Route::DevStorage { object } if config.local_dev => {
            session_object::forward_dev_storage_test(env, object).await
        }
        Route::DevAlarm { .. }
        | Route::DevStorage { .. }
        | Route::DevArchive { .. }
        | Route::DevMemory { .. }
        | Route::DevGrow { .. }
        | Route::NotFound => reply::error(404, "not_found", "no such route"),
        Route::MethodNotAllowed { allow } => {
            let response = reply::error(
                405,
                "method_not_allowed",
                "method not allowed on this route",
            )?;
            with_header(response, "allow", allow)
        }
    }
}

/// Whether `req` comes from this machine (see [`loopback`]); a request whose URL cannot be
/// read does not.
fn from_loopback(req: &Request) -> bool {
    let address = req
        .headers()
        .get(loopback::CONNECTING_IP_HEADER)
        .ok()
        .flatten();
    req.url()
        .is_ok_and(|url| loopback::is_loopback_request(&url, address.as_deref()))
}

/// Returns `response` with one header set. Headers of a response that came from `fetch` are
/// immutable, so they are copied first.
fn with_header(response: Response, name: &str, value: &str) -> Result<Response> {
    let headers = Headers::new();
    for (key, existing) in response.headers().entries() {
        headers.append(&key, &existing)?;
    }
    headers.set(name, value)?;
    Ok(response.with_headers(headers))
}
