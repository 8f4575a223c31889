//! OAuth 2.1 for MCP clients, with GitHub as the identity provider, and rate limits: the pure
//! core that the Worker's routes call.
//!
//! # What this module never does
//! - No I/O, no JS calls, no clock, no randomness: request parts, the records the adapter read
//!   from KV, `now` in milliseconds and random bytes come in as arguments; decisions, records,
//!   [`storage::KvWrite`]s and [`response::Reply`]s come out. Everything is tested natively.
//! - It never stores a token, code or client secret, only their SHA-256; it never passes a
//!   GitHub token on to anyone (the upstream token is used once, to read the user id).
//! - It never panics on input.
//!
//! # Layout
//! Discovery and plumbing:
//! - [`endpoints`]: our URLs (from one base URL) and which endpoint a method and path name.
//! - [`metadata`]: RFC 8414 and RFC 9728 documents, the `WWW-Authenticate` challenge.
//! - [`scope`]: `notes:read` and `notes:write`.
//! - [`params`]: query and form parameters, redirect URLs.
//! - [`response`]: replies as plain values, the OAuth error body, HTML escaping.
//! - [`storage`]: KV key names, TTLs and the writes the adapter performs.
//!
//! Signing in (authorization server):
//! - [`registration`]: RFC 7591 dynamic client registration and the client record.
//! - [`authorize`]: `GET /authorize` checks and the pending authorization.
//! - [`pkce`]: S256 only.
//! - [`consent`]: the consent page and its CSRF-checked answer.
//! - [`cookie`]: the encrypted, single-use sign-in cookie.
//! - [`github`]: the GitHub web flow as request builders and parsers; the allowlist.
//! - [`callback`]: GitHub's callback, and our authorization code.
//! - [`tokens`]: opaque tokens, their hashes, and the code, access, refresh and grant records.
//! - [`client_auth`]: client authentication at the token and revocation endpoints.
//! - [`token_endpoint`]: `POST /token`: code redemption and refresh-token rotation.
//! - [`ledger`]: single use made exact: the user's Durable Object decides which redemption or
//!   rotation wins.
//! - [`revocation`]: `POST /revoke` (RFC 7009).
//!
//! Using tokens (resource server) and limits:
//! - [`access`]: the bearer-token check for `/mcp`.
//! - [`ratelimit`]: per-user limits (exact, in the Durable Object) and per-address limits
//!   (approximate, in KV); the 429 replies.
//! - [`token_failures`]: refused bearer tokens per address, counted in the isolate's memory
//!   before any lookup.
//!
//! # How the adapter calls it
//! [`endpoints::Endpoint::resolve`] names the endpoint; every endpoint but the metadata first
//! passes the per-address limit ([`ratelimit::ip_key`], [`ratelimit::ip_decide`]). Each module
//! that serves an endpoint documents its sequence of KV reads, calls and writes:
//! [`metadata::document_reply`], [`registration::register`], [`authorize`] (then
//! [`consent::show`]), [`consent::decide`], [`callback`], [`token_endpoint`], [`revocation`],
//! and [`access`] plus [`ratelimit::RateLimiter`] for `/mcp`. Writes are applied in order,
//! before the reply is sent.
//!
//! # Example
//! The check in front of `/mcp`:
//! ```
//! use second_brain_worker::oauth::access::{bearer_token, check_access, AccessError};
//! use second_brain_worker::oauth::endpoints::ServerUrls;
//! use second_brain_worker::oauth::github::Allowlist;
//! use second_brain_worker::oauth::scope::ScopeSet;
//!
//! let urls = ServerUrls::new("https://brain.example.com").unwrap();
//! let allowlist = Allowlist::parse("583231").unwrap();
//! // No Authorization header: 401 pointing at the protected-resource metadata.
//! let refused = bearer_token(None).unwrap_err();
//! assert_eq!(refused, AccessError::Missing);
//! let reply = refused.reply(&urls);
//! assert_eq!(reply.status, 401);
//! assert_eq!(
//!     reply.header("www-authenticate"),
//!     Some("Bearer scope=\"notes:read notes:write\", resource_metadata=\"https://brain.example.com/.well-known/oauth-protected-resource/mcp\"")
//! );
//! // A token we never issued: the KV read found nothing.
//! let unknown = check_access(None, ScopeSet::ALL, &urls, &allowlist, 0).unwrap_err();
//! assert_eq!(unknown.reply(&urls).status, 401);
//! ```

pub mod access;
pub mod authorize;
pub mod callback;
pub mod client_auth;
pub mod consent;
pub mod cookie;
pub mod endpoints;
pub mod github;
pub mod ledger;
pub mod metadata;
pub mod params;
pub mod pkce;
pub mod ratelimit;
pub mod registration;
pub mod response;
pub mod revocation;
pub mod scope;
pub mod storage;
pub mod token_endpoint;
pub mod token_failures;
pub mod tokens;

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod memory_kv;
