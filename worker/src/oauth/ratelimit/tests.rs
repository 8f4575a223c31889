use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::*;
use crate::oauth::memory_kv::MemoryKv;

// A time on a day boundary, so bucket arithmetic in the tests is easy to follow.
const T0: u64 = 1_750_032_000_000;

/// The limits these tests were written for (the defaults until batches were counted).
const HUNDRED: RateLimits = RateLimits {
    per_minute: 100,
    per_hour: 1_000,
    per_day: 10_000,
};

#[test]
fn the_defaults_leave_room_for_100_tool_calls_a_minute_and_their_session() {
    let limits = RateLimits::default();
    let mut limiter = RateLimiter::default();
    // initialize, tools/list, resources/list, prompts/list, then 100 tool calls and pings.
    assert_eq!(admitted(&mut limiter, &limits, T0, 4), 4);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 1_000, 100), 100);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 50_000, 16), 16);
    assert!(!limiter.check_and_count(&limits, T0 + 50_000, 1).allowed);
    assert!(limits.per_hour >= 20 * limits.per_minute);
}

#[test]
fn a_batch_counts_every_request_and_is_admitted_whole_or_not_at_all() {
    let limits = HUNDRED;
    let mut limiter = RateLimiter::default();
    let batch = limiter.check_and_count(&limits, T0, 50);
    assert!(batch.allowed);
    assert_eq!(batch.remaining[0].remaining, 50);
    assert!(limiter.check_and_count(&limits, T0, 40).allowed);
    // 10 left: a batch of 11 is refused and counts nothing; 10 fit.
    let refused = limiter.check_and_count(&limits, T0 + 1_000, 11);
    assert!(!refused.allowed);
    assert_eq!(refused.remaining[0].remaining, 10);
    assert_eq!(refused.retry_after_secs, 60);
    assert!(limiter.check(&limits, T0 + 1_000, 10).allowed);
    assert!(limiter.check_and_count(&limits, T0 + 1_000, 10).allowed);
    // `check` counts nothing; zero requests (notifications) always pass and count nothing.
    assert!(!limiter.check(&limits, T0 + 1_000, 1).allowed);
    assert!(limiter.check_and_count(&limits, T0 + 1_000, 0).allowed);
    // A batch bigger than the limit never fits: it is told to wait a whole window.
    let small = RateLimits {
        per_minute: 5,
        ..HUNDRED
    };
    let never = RateLimiter::default().check_and_count(&small, T0, 6);
    assert!(!never.allowed);
    assert_eq!(never.retry_after_secs, 61);
}

fn admitted(limiter: &mut RateLimiter, limits: &RateLimits, now: u64, n: usize) -> usize {
    (0..n)
        .filter(|_| limiter.check_and_count(limits, now, 1).allowed)
        .count()
}

#[test]
fn a_burst_of_150_parallel_calls_admits_exactly_100() {
    // The Durable Object serializes a user's requests; a mutex stands in for it here, with 150
    // threads arriving at once.
    let limiter = Arc::new(Mutex::new(RateLimiter::default()));
    let limits = HUNDRED;
    let threads: Vec<_> = (0..150)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            std::thread::spawn(move || limiter.lock().unwrap().check_and_count(&limits, T0 + 5, 1))
        })
        .collect();
    let decisions: Vec<Decision> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 100);
    for refused in decisions.iter().filter(|d| !d.allowed) {
        assert_eq!(refused.limited_by, Some(Window::Minute));
        assert_eq!(refused.retry_after_secs, 61);
        assert_eq!(refused.remaining[0].remaining, 0);
    }
}

#[test]
fn remaining_counts_down_per_window() {
    let mut limiter = RateLimiter::default();
    let limits = HUNDRED;
    let first = limiter.check_and_count(&limits, T0, 1);
    assert!(first.allowed);
    assert_eq!(first.retry_after_secs, 0);
    assert_eq!(first.limited_by, None);
    let left: Vec<u32> = first.remaining.iter().map(|r| r.remaining).collect();
    assert_eq!(left, [99, 999, 9_999]);
}

#[test]
fn the_minute_window_slides_and_retry_after_is_right() {
    let mut limiter = RateLimiter::default();
    let limits = HUNDRED;
    // 50 at t=0.2 s and 50 at t=30.5 s fill the minute.
    assert_eq!(admitted(&mut limiter, &limits, T0 + 200, 50), 50);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 30_500, 50), 50);
    // At 40 s: full. The first 50 (bucket 0..1 s) leave the window at 61 s: 21 s to wait.
    let refused = limiter.check_and_count(&limits, T0 + 40_000, 1);
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after_secs, 21);
    // Still refused one millisecond early, admitted exactly when Retry-After says.
    assert!(!limiter.check_and_count(&limits, T0 + 60_999, 1).allowed);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 61_000, 60), 50);
    // No 60-second interval ever held more than 100: the second 50 are still counted.
    let refused = limiter.check_and_count(&limits, T0 + 61_000, 1);
    assert_eq!(
        refused.retry_after_secs, 30,
        "the 30.5 s bucket leaves at 91 s"
    );
}

#[test]
fn refused_requests_do_not_count() {
    let mut limiter = RateLimiter::default();
    let limits = HUNDRED;
    assert_eq!(admitted(&mut limiter, &limits, T0, 100), 100);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 30_000, 500), 0);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 61_000, 100), 100);
}

#[test]
fn the_hour_and_day_windows_roll_over() {
    let limits = RateLimits {
        per_minute: 10,
        per_hour: 25,
        per_day: 40,
    };
    let mut limiter = RateLimiter::default();
    // 10 in each of three consecutive minute windows: the hour stops the third at 5.
    assert_eq!(admitted(&mut limiter, &limits, T0, 10), 10);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 61_000, 10), 10);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 122_000, 10), 5);
    let refused = limiter.check_and_count(&limits, T0 + 180_000, 1);
    assert_eq!(refused.limited_by, Some(Window::Hour));
    // Only 5 more may go through when the first minute's 10 leave: at 61 minutes.
    assert_eq!(refused.retry_after_secs, 3600 + 60 - 180);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 3_660_000 - 1, 1), 0);
    assert_eq!(admitted(&mut limiter, &limits, T0 + 3_660_000, 10), 10);
    // Day: 35 admitted so far; 5 more fill it.
    assert_eq!(admitted(&mut limiter, &limits, T0 + 2 * 3_600_000, 10), 5);
    let refused = limiter.check_and_count(&limits, T0 + 3 * 3_600_000, 1);
    assert_eq!(refused.limited_by, Some(Window::Day));
    // The first 10 of the day (bucket 0..24 min) leave 24 h 24 min after T0.
    let day_release = 24 * 3_600_000 + 24 * 60_000;
    assert_eq!(
        refused.retry_after_secs,
        (day_release - 3 * 3_600_000) / 1000
    );
    assert!(
        !limiter
            .check_and_count(&limits, T0 + day_release - 1, 1)
            .allowed
    );
    assert!(
        limiter
            .check_and_count(&limits, T0 + day_release, 1)
            .allowed
    );
}

#[test]
fn state_survives_serialization_and_clock_steps_back() {
    let limits = HUNDRED;
    let mut limiter = RateLimiter::default();
    assert_eq!(admitted(&mut limiter, &limits, T0 + 10_000, 60), 60);
    let json = serde_json::to_string(&limiter).unwrap();
    let mut restored: RateLimiter = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, limiter);
    // A clock that stepped back still counts (in the newest bucket).
    assert_eq!(admitted(&mut restored, &limits, T0 + 9_000, 60), 40);
    assert!(json.len() < 2_000, "{} bytes", json.len());
}

#[test]
fn the_429_reply_has_retry_after_and_a_json_rpc_error() {
    let mut limiter = RateLimiter::default();
    let limits = HUNDRED;
    admitted(&mut limiter, &limits, T0, 100);
    let refused = limiter.check_and_count(&limits, T0 + 1_000, 1);
    let reply = rate_limited_reply(&refused, Some(RequestId::Number(7)));
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("60"));
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32000);
    assert_eq!(body["error"]["data"]["retryAfterSeconds"], 60);
    assert_eq!(body["error"]["data"]["window"], "minute");
    assert_eq!(body["error"]["data"]["limit"], 100);
    let anonymous = rate_limited_reply(&refused, None);
    let body: Value = serde_json::from_str(&anonymous.body).unwrap();
    assert!(body.get("id").is_none() || body["id"].is_null());
}

#[test]
fn ip_keys_hash_the_address_and_group_ipv6_by_64() {
    let limits = IpLimits::default();
    let key = ip_key(EndpointClass::Register, &limits, Some("203.0.113.9"), T0);
    assert!(key.starts_with("ip:register:"));
    assert!(!key.contains("203.0.113.9"));
    assert!(key.ends_with(&format!(":{}", (T0 / 1000) / 3600 * 3600)));
    let a = ip_key(
        EndpointClass::Token,
        &limits,
        Some("2001:db8:1:2:aaaa::1"),
        T0,
    );
    let b = ip_key(
        EndpointClass::Token,
        &limits,
        Some("2001:db8:1:2:bbbb::9"),
        T0,
    );
    let c = ip_key(EndpointClass::Token, &limits, Some("2001:db8:1:3::1"), T0);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let unknown = ip_key(EndpointClass::SignIn, &limits, None, T0);
    assert_eq!(
        unknown,
        ip_key(EndpointClass::SignIn, &limits, Some("garbage"), T0)
    );
    assert_ne!(
        ip_key(EndpointClass::Token, &limits, Some("203.0.113.9"), T0),
        ip_key(
            EndpointClass::Token,
            &limits,
            Some("203.0.113.9"),
            T0 + 60_000
        )
    );
}

#[test]
fn ip_budgets_count_in_kv_and_refuse_with_retry_after() {
    let limits = IpLimits {
        register: IpLimit {
            limit: 3,
            window_secs: 3600,
        },
        ..IpLimits::default()
    };
    let mut kv = MemoryKv::default();
    let now = T0 + 600_000; // ten minutes into the hour
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let key = ip_key(EndpointClass::Register, &limits, Some("198.51.100.7"), now);
        let current: Option<IpWindowCount> = kv.get_json(&key, now);
        let decision = ip_decide(EndpointClass::Register, &limits, &key, current, now);
        if let Some(write) = &decision.write {
            let KvWrite::Put { ttl_secs, .. } = write else {
                panic!("not a put")
            };
            assert_eq!(*ttl_secs, 3000 + MIN_TTL_SECS);
            kv.apply(std::slice::from_ref(write), now);
        }
        outcomes.push((decision.allowed, decision.retry_after_secs));
    }
    assert_eq!(
        outcomes,
        [
            (true, 0),
            (true, 0),
            (true, 0),
            (false, 3000),
            (false, 3000)
        ]
    );
    // Another address has its own budget; the next window starts afresh.
    let other = ip_key(EndpointClass::Register, &limits, Some("198.51.100.8"), now);
    assert!(ip_decide(EndpointClass::Register, &limits, &other, None, now).allowed);
    let later = T0 + 3_600_000;
    let key = ip_key(
        EndpointClass::Register,
        &limits,
        Some("198.51.100.7"),
        later,
    );
    let current: Option<IpWindowCount> = kv.get_json(&key, later);
    assert!(ip_decide(EndpointClass::Register, &limits, &key, current, later).allowed);
}

#[test]
fn ip_limited_replies() {
    let page = ip_limited_reply(EndpointClass::SignIn, 42);
    assert_eq!(page.status, 429);
    assert_eq!(page.header("retry-after"), Some("42"));
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let api = ip_limited_reply(EndpointClass::Token, 5);
    let body: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(api.header("retry-after"), Some("5"));
}
