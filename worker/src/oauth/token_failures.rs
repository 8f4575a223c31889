//! Refused bearer tokens, counted per address, so a flood of made-up tokens at `/mcp` stops
//! costing a KV read each (and, on a small plan, the day's KV quota the owner needs).
//!
//! The count lives in the front Worker's memory (one [`TokenFailures`] per isolate), in fixed
//! windows: checking and counting cost nothing but a map lookup, before any KV or Durable
//! Object work. It is approximate by design: each isolate counts on its own and forgets on
//! eviction, so one address spread over many isolates gets the limit in each; it bounds what
//! one client at one location can spend, which is the cost that matters. Memory is bounded
//! ([`TokenFailures::MAX_ADDRESSES`]): when full, finished windows go first, then the oldest.
//!
//! The adapter's sequence for a request with an `Authorization` header: [`TokenFailures::check`]
//! (a refusal is answered with [`limited_reply`], no lookup); after a refused token (malformed,
//! unknown, expired, wrong audience, user no longer allowed), [`TokenFailures::record`]. A
//! valid token never counts, and neither does a missing one (it costs no lookup).

use std::collections::HashMap;

use super::ratelimit::address_subject;
use super::response::{ErrorBody, ErrorCode, Reply};

/// The per-isolate count of refused bearer tokens per address.
#[derive(Debug)]
pub struct TokenFailures {
    limit: u32,
    window_ms: u64,
    /// Address subject -> (window start in ms, refusals in that window).
    windows: HashMap<String, (u64, u32)>,
}

impl Default for TokenFailures {
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT, Self::DEFAULT_WINDOW_MS)
    }
}

impl TokenFailures {
    /// Refused tokens an address may send per window before it is refused without a lookup.
    pub const DEFAULT_LIMIT: u32 = 30;
    /// The window: one minute.
    pub const DEFAULT_WINDOW_MS: u64 = 60_000;
    /// The most addresses remembered at once.
    pub const MAX_ADDRESSES: usize = 1_000;

    /// A counter allowing `limit` refused tokens per `window_ms` per address.
    pub fn new(limit: u32, window_ms: u64) -> Self {
        TokenFailures {
            limit,
            window_ms: window_ms.max(1),
            windows: HashMap::new(),
        }
    }

    fn window_start(&self, now_ms: u64) -> u64 {
        now_ms / self.window_ms * self.window_ms
    }

    /// `Err(seconds to wait)` when `address` (the `CF-Connecting-IP` value) has spent its
    /// refused tokens for the current window.
    pub fn check(&self, address: Option<&str>, now_ms: u64) -> Result<(), u64> {
        let start = self.window_start(now_ms);
        match self.windows.get(&address_subject(address)) {
            Some(&(window, count)) if window == start && count >= self.limit => {
                let ends = start.saturating_add(self.window_ms);
                Err(ends.saturating_sub(now_ms).div_ceil(1000).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one refused token from `address`.
    pub fn record(&mut self, address: Option<&str>, now_ms: u64) {
        let start = self.window_start(now_ms);
        let subject = address_subject(address);
        if !self.windows.contains_key(&subject) && self.windows.len() >= Self::MAX_ADDRESSES {
            self.windows.retain(|_, (window, _)| *window == start);
            if self.windows.len() >= Self::MAX_ADDRESSES
                && let Some(oldest) = self
                    .windows
                    .iter()
                    .min_by_key(|(_, (window, _))| *window)
                    .map(|(key, _)| key.clone())
            {
                self.windows.remove(&oldest);
            }
        }
        let entry = self.windows.entry(subject).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// How many addresses are remembered.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// The 429 for an address that sent too many refused tokens: an OAuth error body with
/// `Retry-After`.
pub fn limited_reply(retry_after_secs: u64) -> Reply {
    ErrorBody::new(
        ErrorCode::TemporarilyUnavailable,
        format!(
            "too many invalid access tokens from this address; retry after {retry_after_secs} seconds"
        ),
    )
    .reply(429)
    .with_public_cors()
    .with_header("retry-after", retry_after_secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;

    #[test]
    fn an_address_is_refused_after_the_limit_until_its_window_ends() {
        let mut failures = TokenFailures::new(3, 60_000);
        let start = NOW / 60_000 * 60_000;
        for _ in 0..3 {
            assert_eq!(failures.check(Some("203.0.113.7"), start), Ok(()));
            failures.record(Some("203.0.113.7"), start);
        }
        assert_eq!(failures.check(Some("203.0.113.7"), start), Err(60));
        assert_eq!(failures.check(Some("203.0.113.7"), start + 59_500), Err(1));
        // Other addresses are not affected; the next window starts afresh.
        assert_eq!(failures.check(Some("203.0.113.8"), start), Ok(()));
        assert_eq!(failures.check(Some("203.0.113.7"), start + 60_000), Ok(()));
        failures.record(Some("203.0.113.7"), start + 60_000);
        assert_eq!(failures.check(Some("203.0.113.7"), start + 60_000), Ok(()));
    }

    #[test]
    fn ipv6_counts_per_64_and_no_address_shares_one_budget() {
        let mut failures = TokenFailures::new(2, 60_000);
        failures.record(Some("2001:db8:1:2::1"), NOW);
        failures.record(Some("2001:db8:1:2::ffff"), NOW);
        assert!(failures.check(Some("2001:db8:1:2::99"), NOW).is_err());
        assert!(failures.check(Some("2001:db8:1:3::1"), NOW).is_ok());
        failures.record(None, NOW);
        failures.record(Some("not an address"), NOW);
        assert!(failures.check(None, NOW).is_err());
    }

    #[test]
    fn memory_stays_bounded() {
        let mut failures = TokenFailures::new(1, 60_000);
        for i in 0..(TokenFailures::MAX_ADDRESSES as u32 + 50) {
            let address = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            failures.record(Some(&address), NOW);
        }
        assert_eq!(failures.len(), TokenFailures::MAX_ADDRESSES);
        // The newest address is remembered and refused.
        let newest =
            std::net::Ipv4Addr::from(0x0a00_0000 + TokenFailures::MAX_ADDRESSES as u32 + 49);
        assert!(failures.check(Some(&newest.to_string()), NOW).is_err());
    }

    #[test]
    fn the_reply_is_429_with_retry_after() {
        let reply = limited_reply(42);
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("retry-after"), Some("42"));
        assert!(
            reply.body.contains("temporarily_unavailable"),
            "{}",
            reply.body
        );
    }
}
