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
//! - [`endpoints`]: our URLs (from one base URL) and which endpoint a method and path name.
//! - [`metadata`]: RFC 8414 and RFC 9728 documents, the `WWW-Authenticate` challenge.
//! - [`scope`]: `notes:read` and `notes:write`.
//! - [`authorize`]: `GET /authorize` checks and the pending authorization.
//! - [`consent`]: the consent page and its CSRF-checked answer.
//! - [`cookie`]: the encrypted, single-use sign-in cookie.
//! - [`github`]: the GitHub web flow as request builders and parsers; the allowlist.
//! - [`callback`]: GitHub's callback, and our authorization code.
//! - [`params`]: query and form parameters, redirect URLs.
//! - [`pkce`]: S256 only.
//! - [`registration`]: RFC 7591 dynamic client registration and the client record.
//! - [`response`]: replies as plain values, the OAuth error body, HTML escaping.
//! - [`storage`]: KV key names, TTLs and the writes the adapter performs.
//! - [`tokens`]: opaque tokens, their hashes, and the code, access, refresh and grant records.
//! - [`client_auth`]: client authentication at the token and revocation endpoints.
//! - [`token_endpoint`]: `POST /token`: code redemption and refresh-token rotation.
//! - [`revocation`]: `POST /revoke` (RFC 7009).
//! - [`access`]: the resource server's bearer-token check for `/mcp`.
//! - [`ratelimit`]: per-user limits (exact, in the Durable Object) and per-address limits
//!   (approximate, in KV); the 429 replies.

pub mod access;
pub mod authorize;
pub mod callback;
pub mod client_auth;
pub mod consent;
pub mod cookie;
pub mod endpoints;
pub mod github;
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
pub mod tokens;

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod memory_kv;
