//! Rate limits: per user for `/mcp` (exact), per client address for the sign-in endpoints
//! (approximate).
//!
//! # Per user: [`RateLimiter`]
//! By default 120 requests a minute, 2,400 an hour and 10,000 a day ([`RateLimits`]): room
//! for 100 tool calls a minute plus the session's own requests (`initialize`, list calls,
//! pings), and for 20 minutes at that pace in any hour. What counts is JSON-RPC requests (each
//! entry of a batch), never notifications, responses or stream reconnects. Exact
//! under concurrency because counting happens in one place that serializes requests: the
//! adapter keeps the limiter's state in the user's Durable Object (single-threaded; persist it
//! with the object's storage, or keep it in memory and accept a reset when the object is
//! evicted) and calls [`RateLimiter::check_and_count`] once per POST there, with the number of
//! requests it carries.
//!
//! Each window is a sliding window over 60 buckets (1 s for the minute, 1 min for the hour,
//! 24 min for the day). A request is counted in the bucket of its arrival and stays counted
//! until that bucket's end is a whole window in the past. So no window-length interval ever
//! admits more than the limit (a fixed window would admit twice the limit across a boundary),
//! and the cost of buckets is only that a request can keep counting up to one bucket longer
//! than an exact log would: at most 1 s on the minute, 24 min on the day. Only admitted
//! requests count; a refused one does not push the wait further out. State is at most 180
//! small numbers.
//!
//! # Per client address: [`IpLimits`]
//! For `/register`, the sign-in pages and `/token` + `/revoke`, before anyone is known. A
//! fixed-window counter in `RATE_LIMIT_KV` under [`ip_key`] with a TTL just past the window.
//! Approximate, and documented as such: KV's read-modify-write can lose increments under
//! concurrency, each location counts mostly on its own (KV is eventually consistent), and a
//! key takes about one write per second (the adapter should ignore a failed put). Good enough
//! to blunt floods of registrations and code guessing; the per-user limit is the exact one.
//! The key holds a hash of the address (IPv6 by /64), not the address.
//!
//! # 429
//! [`rate_limited_reply`]: HTTP 429 with `Retry-After` (seconds) and a JSON-RPC error body with
//! code -32000 (JSON-RPC's implementation-defined server-error range; MCP reserves -32020 and
//! up for the protocol and defines no rate-limit code yet) and `data.retryAfterSeconds`, so a
//! client whose SDK hides HTTP headers from the model still learns how long to wait.

use std::collections::VecDeque;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::response::{ErrorBody, ErrorCode, Reply, message_page};
use super::storage::{KvWrite, MIN_TTL_SECS};
use crate::mcp::jsonrpc::{ErrorCode as RpcCode, ErrorObject, RequestId, Response};

/// The JSON-RPC error code of a rate-limited `/mcp` request.
pub const RATE_LIMITED: RpcCode = RpcCode(-32000);

const MINUTE_MS: u64 = 60 * 1000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;
const BUCKETS_PER_WINDOW: u64 = 60;

/// The three windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// The last minute.
    Minute,
    /// The last hour.
    Hour,
    /// The last day.
    Day,
}

impl Window {
    /// All windows, shortest first.
    pub const ALL: [Window; 3] = [Window::Minute, Window::Hour, Window::Day];

    /// The window's length in ms.
    pub fn length_ms(self) -> u64 {
        match self {
            Window::Minute => MINUTE_MS,
            Window::Hour => HOUR_MS,
            Window::Day => DAY_MS,
        }
    }

    fn bucket_ms(self) -> u64 {
        self.length_ms() / BUCKETS_PER_WINDOW
    }

    fn index(self) -> usize {
        match self {
            Window::Minute => 0,
            Window::Hour => 1,
            Window::Day => 2,
        }
    }
}

/// Per-user limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per minute.
    pub per_minute: u32,
    /// Requests per hour.
    pub per_hour: u32,
    /// Requests per day.
    pub per_day: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_minute: 120,
            per_hour: 2_400,
            per_day: 10_000,
        }
    }
}

impl RateLimits {
    /// The limit of `window`.
    pub fn limit(&self, window: Window) -> u32 {
        match window {
            Window::Minute => self.per_minute,
            Window::Hour => self.per_hour,
            Window::Day => self.per_day,
        }
    }
}

/// One window's counts: (bucket start in ms, admitted requests), oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Buckets(VecDeque<(u64, u32)>);

impl Buckets {
    fn prune(&mut self, window: Window, now_ms: u64) {
        let horizon = now_ms.saturating_sub(window.length_ms());
        while let Some(&(start, _)) = self.0.front() {
            if start + window.bucket_ms() <= horizon {
                self.0.pop_front();
            } else {
                break;
            }
        }
    }

    fn count(&self) -> u64 {
        self.0.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    fn add(&mut self, window: Window, now_ms: u64, requests: u32) {
        let start = now_ms - now_ms % window.bucket_ms();
        match self.0.back_mut() {
            // Same bucket, or a clock that stepped back: count in the newest bucket.
            Some((last, n)) if *last >= start => *n = n.saturating_add(requests),
            _ => self.0.push_back((start, requests)),
        }
    }

    /// When enough requests will have left the window for `requests` more to fit under
    /// `limit`.
    fn release_at(&self, window: Window, limit: u64, requests: u64) -> u64 {
        let mut must_leave = (self.count() + requests).saturating_sub(limit);
        for &(start, n) in &self.0 {
            must_leave = must_leave.saturating_sub(u64::from(n));
            if must_leave == 0 {
                return start + window.bucket_ms() + window.length_ms();
            }
        }
        // Only reachable when `requests` alone exceed the limit: they will never fit.
        u64::MAX
    }
}

/// A user's counters. Serialize it to keep it across Durable Object restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimiter {
    windows: [Buckets; 3],
}

/// What is left in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Remaining {
    /// The window.
    pub window: Window,
    /// Its limit.
    pub limit: u32,
    /// Requests still admitted in it now.
    pub remaining: u32,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed (it was counted if so).
    pub allowed: bool,
    /// When refused: seconds until a retry can succeed (at least 1). 0 when allowed.
    pub retry_after_secs: u64,
    /// When refused: the (longest-waiting) window that refused it.
    pub limited_by: Option<Window>,
    /// What is left per window, after counting this request.
    pub remaining: [Remaining; 3],
}

impl RateLimiter {
    /// Decides on `requests` requests arriving together at `now_ms` (one POST: a single
    /// request, or a batch's entries) and counts them all if they all fit; if not, none is
    /// counted. Call it from one place that serializes a user's requests (the user's Durable
    /// Object). Zero requests are always admitted.
    pub fn check_and_count(&mut self, limits: &RateLimits, now_ms: u64, requests: u32) -> Decision {
        self.decide(limits, now_ms, requests, true)
    }

    /// Whether `requests` more would be admitted now, counting nothing.
    pub fn check(&mut self, limits: &RateLimits, now_ms: u64, requests: u32) -> Decision {
        self.decide(limits, now_ms, requests, false)
    }

    fn decide(&mut self, limits: &RateLimits, now_ms: u64, requests: u32, count: bool) -> Decision {
        let mut release: Option<(u64, Window)> = None;
        for window in Window::ALL {
            let buckets = &mut self.windows[window.index()];
            buckets.prune(window, now_ms);
            let limit = u64::from(limits.limit(window));
            if requests > 0 && buckets.count() + u64::from(requests) > limit {
                let at = buckets.release_at(window, limit, u64::from(requests));
                if release.is_none_or(|(latest, _)| at > latest) {
                    release = Some((at, window));
                }
            }
        }
        let allowed = release.is_none();
        if allowed && count && requests > 0 {
            for window in Window::ALL {
                self.windows[window.index()].add(window, now_ms, requests);
            }
        }
        let remaining = Window::ALL.map(|window| {
            let limit = limits.limit(window);
            let used = self.windows[window.index()].count();
            Remaining {
                window,
                limit,
                remaining: u64::from(limit).saturating_sub(used) as u32,
            }
        });
        let (retry_after_secs, limited_by) = match release {
            None => (0, None),
            // Requests that can never fit are told to wait a whole window.
            Some((at, window)) => (
                at.min(now_ms + window.length_ms() + window.bucket_ms())
                    .saturating_sub(now_ms)
                    .div_ceil(1000)
                    .max(1),
                Some(window),
            ),
        };
        Decision {
            allowed,
            retry_after_secs,
            limited_by,
            remaining,
        }
    }
}

/// The 429 reply for `/mcp`: `Retry-After` and a JSON-RPC error (with the request's id when
/// it is known).
pub fn rate_limited_reply(decision: &Decision, id: Option<RequestId>) -> Reply {
    let window = decision.limited_by.unwrap_or(Window::Minute);
    let limit = decision.remaining[window.index()].limit;
    let window_name = match window {
        Window::Minute => "minute",
        Window::Hour => "hour",
        Window::Day => "day",
    };
    let error = ErrorObject::new(
        RATE_LIMITED,
        format!(
            "Rate limit exceeded: at most {limit} requests per {window_name}. Retry after {} seconds.",
            decision.retry_after_secs
        ),
    )
    .with_data(json!({
        "retryAfterSeconds": decision.retry_after_secs,
        "limit": limit,
        "window": window,
    }));
    Reply::json(429, &Response::error(id, error))
        .with_header("retry-after", decision.retry_after_secs.to_string())
}

/// Which unauthenticated endpoints share a per-address budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointClass {
    /// `POST /register`.
    Register,
    /// `GET`/`POST /authorize` and `GET /oauth/callback` (browser pages).
    SignIn,
    /// `POST /token` and `POST /revoke`.
    Token,
}

impl EndpointClass {
    fn as_str(self) -> &'static str {
        match self {
            EndpointClass::Register => "register",
            EndpointClass::SignIn => "signin",
            EndpointClass::Token => "token",
        }
    }
}

/// One fixed-window budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLimit {
    /// Requests per window.
    pub limit: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

/// Per-address budgets of the unauthenticated endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLimits {
    /// `/register`: 20 an hour (clients register once per install).
    pub register: IpLimit,
    /// Sign-in pages: 60 per 10 minutes.
    pub sign_in: IpLimit,
    /// `/token` and `/revoke`: 120 a minute.
    pub token: IpLimit,
}

impl Default for IpLimits {
    fn default() -> Self {
        IpLimits {
            register: IpLimit {
                limit: 20,
                window_secs: 3600,
            },
            sign_in: IpLimit {
                limit: 60,
                window_secs: 600,
            },
            token: IpLimit {
                limit: 120,
                window_secs: 60,
            },
        }
    }
}

impl IpLimits {
    /// The budget of `class`.
    pub fn of(&self, class: EndpointClass) -> IpLimit {
        match class {
            EndpointClass::Register => self.register,
            EndpointClass::SignIn => self.sign_in,
            EndpointClass::Token => self.token,
        }
    }
}

/// The value under an [`ip_key`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpWindowCount {
    /// Requests counted in the window so far.
    pub count: u32,
}

/// Whom a per-address limit counts: an IPv4 address, an IPv6 /64 (one site's addresses), or
/// `unknown` when there is no readable address (local runs without `CF-Connecting-IP`).
pub fn address_subject(address: Option<&str>) -> String {
    match address.and_then(|text| text.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => {
            let mut octets = ip.octets();
            octets[8..].fill(0);
            format!("{}/64", std::net::Ipv6Addr::from(octets))
        }
        None => "unknown".to_owned(),
    }
}

/// The `RATE_LIMIT_KV` key for `address` (the `CF-Connecting-IP` value) in the current window:
/// `ip:{class}:{hash}:{window start}`. IPv6 addresses count per /64; an address that does not
/// parse counts in one shared `unknown` budget.
pub fn ip_key(
    class: EndpointClass,
    limits: &IpLimits,
    address: Option<&str>,
    now_ms: u64,
) -> String {
    let window_secs = limits.of(class).window_secs.max(1);
    let start = (now_ms / 1000) / window_secs * window_secs;
    let subject = address_subject(address);
    let mut hasher = Sha256::new();
    hasher.update(b"second-brain rate limit\0");
    hasher.update(subject.as_bytes());
    let hash = hex::encode(&hasher.finalize()[..12]);
    format!("ip:{}:{hash}:{start}", class.as_str())
}

/// A per-address decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// When refused: seconds until the window ends.
    pub retry_after_secs: u64,
    /// The counter update to put (under the same [`ip_key`]), when allowed.
    pub write: Option<KvWrite>,
}

/// Decides on a request given the counter read under `key` (its [`ip_key`]).
pub fn ip_decide(
    class: EndpointClass,
    limits: &IpLimits,
    key: &str,
    current: Option<IpWindowCount>,
    now_ms: u64,
) -> IpDecision {
    let budget = limits.of(class);
    let window_secs = budget.window_secs.max(1);
    let now_secs = now_ms / 1000;
    let window_end = (now_secs / window_secs + 1) * window_secs;
    let count = current.unwrap_or_default().count;
    if count >= budget.limit {
        return IpDecision {
            allowed: false,
            retry_after_secs: window_end.saturating_sub(now_secs).max(1),
            write: None,
        };
    }
    IpDecision {
        allowed: true,
        retry_after_secs: 0,
        write: Some(KvWrite::put_json(
            key.to_owned(),
            &IpWindowCount { count: count + 1 },
            (window_end - now_secs) + MIN_TTL_SECS,
        )),
    }
}

/// The 429 reply for an unauthenticated endpoint: a page for the sign-in pages, an OAuth-style
/// JSON error for the APIs; both with `Retry-After`.
pub fn ip_limited_reply(class: EndpointClass, retry_after_secs: u64) -> Reply {
    let reply = match class {
        EndpointClass::SignIn => message_page(
            429,
            "Too many sign-in attempts",
            &format!("Wait {retry_after_secs} seconds, then start again from your app."),
        ),
        EndpointClass::Register | EndpointClass::Token => ErrorBody::new(
            ErrorCode::TemporarilyUnavailable,
            format!("too many requests; retry after {retry_after_secs} seconds"),
        )
        .reply(429)
        .with_public_cors(),
    };
    reply.with_header("retry-after", retry_after_secs.to_string())
}

#[cfg(test)]
mod tests;
