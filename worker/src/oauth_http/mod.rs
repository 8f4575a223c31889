//! The OAuth routes in the front Worker: the glue between [`crate::oauth`]'s pure functions and
//! `worker`'s KV, fetch, clock and randomness.
//!
//! Every handler follows the sequence the pure module documents for its endpoint: read the KV
//! records it names, call it with `now` (`Date::now()`) and random bytes (`getrandom`, Web
//! Crypto on wasm32), apply its [`KvWrite`]s in order, then send its [`Reply`]. Every endpoint
//! except the metadata documents first passes the per-address limit in `RATE_LIMIT_KV`
//! (approximate: see [`crate::oauth::ratelimit`]); a failing `RATE_LIMIT_KV` lets requests
//! through rather than locking everyone out.
//!
//! # Layout
//! - `settings`: vars and secrets, checked (503 `misconfigured` names the bad one).
//! - `sign_in`: `GET`/`POST /authorize` and `GET /oauth/callback` (with the GitHub leg).
//! - `clients`: `POST /register`, `POST /token`, `POST /revoke`.

mod clients;
pub(crate) mod settings;
mod sign_in;

use std::cell::{Cell, RefCell};

use serde::de::DeserializeOwned;
use worker::{Date, Env, Headers, Request, Response, Result, kv::KvStore};

use crate::config::Config;
use crate::oauth::endpoints::{Endpoint, Resolution};
use crate::oauth::metadata;
use crate::oauth::params::Params;
use crate::oauth::ratelimit::{EndpointClass, IpWindowCount, ip_decide, ip_key, ip_limited_reply};
use crate::oauth::response::{Reply, preflight};
use crate::oauth::storage::KvWrite;
use crate::oauth::token_failures::TokenFailures;
use crate::reply;
use crate::request_body::{BodyError, read_capped};

pub(crate) use settings::Settings;

/// The KV namespace of clients, codes, tokens and grants.
pub(crate) const OAUTH_KV: &str = "OAUTH_KV";
/// The KV namespace of per-address counters.
const RATE_LIMIT_KV: &str = "RATE_LIMIT_KV";
/// The largest form or JSON body the OAuth endpoints read.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the request's one log line says about auth and limits: short fixed names, never
/// tokens, codes, cookies or user data.
#[derive(Debug, Default)]
pub(crate) struct Decisions {
    pub(crate) auth: Cell<Option<&'static str>>,
    pub(crate) rate_limit: Cell<Option<&'static str>>,
}

impl Decisions {
    pub(crate) fn auth(&self, decision: &'static str) {
        self.auth.set(Some(decision));
    }

    pub(crate) fn rate_limit(&self, decision: &'static str) {
        self.rate_limit.set(Some(decision));
    }
}

thread_local! {
    /// Refused bearer tokens per address, in this isolate (see [`TokenFailures`]).
    static TOKEN_FAILURES: RefCell<TokenFailures> = RefCell::new(TokenFailures::default());
}

/// Runs `f` on this isolate's count of refused bearer tokens.
pub(crate) fn token_failures<T>(f: impl FnOnce(&mut TokenFailures) -> T) -> T {
    TOKEN_FAILURES.with(|failures| f(&mut failures.borrow_mut()))
}

/// Reads the sign-in settings for a request (the request's origin is the base URL only in
/// local development without `PUBLIC_BASE_URL`).
pub(crate) fn settings(
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<std::result::Result<Settings, settings::SettingsError>> {
    let origin = req.url()?.origin().ascii_serialization();
    let lookup = |name: &str| {
        env.secret(name)
            .map(|value| value.to_string())
            .or_else(|_| env.var(name).map(|value| value.to_string()))
            .ok()
    };
    Ok(Settings::read(lookup, config.local_dev, &origin))
}

/// The 503 for a configuration we cannot sign in with.
pub(crate) fn misconfigured(err: &settings::SettingsError) -> Result<Response> {
    reply::error(503, "misconfigured", &err.to_string())
}

/// Serves an OAuth route.
pub(crate) async fn serve(
    resolution: Resolution,
    req: Request,
    env: &Env,
    config: &Config,
    decisions: &Decisions,
) -> Result<Response> {
    let endpoint = match resolution {
        Resolution::Preflight => return to_response(preflight("GET, POST, OPTIONS")),
        Resolution::MethodNotAllowed(allow) => {
            let response = reply::error(
                405,
                "method_not_allowed",
                "method not allowed on this route",
            )?;
            let headers = response.headers().clone();
            headers.set("allow", allow)?;
            return Ok(response.with_headers(headers));
        }
        Resolution::Endpoint(endpoint) => endpoint,
    };
    let settings = match settings(&req, env, config)? {
        Ok(settings) => settings,
        Err(err) => return misconfigured(&err),
    };
    let now = now_ms();
    if let Some(reply) = metadata::document_reply(endpoint, &settings.urls) {
        return to_response(reply);
    }
    let class = match endpoint {
        Endpoint::Register => EndpointClass::Register,
        Endpoint::Token | Endpoint::Revoke => EndpointClass::Token,
        _ => EndpointClass::SignIn,
    };
    if let Some(refused) = per_address_limit(&req, env, &settings, class, now, decisions).await {
        return to_response(refused);
    }
    let reply = match endpoint {
        Endpoint::Register => clients::register(req, env, &settings, now, decisions).await?,
        Endpoint::Token => clients::token(req, env, &settings, now, decisions).await?,
        Endpoint::Revoke => clients::revoke(req, env, &settings, now, decisions).await?,
        Endpoint::Authorize => sign_in::authorize(req, env, &settings, now, decisions).await?,
        Endpoint::Consent => sign_in::consent(req, &settings, now, decisions).await?,
        Endpoint::Callback => sign_in::callback(req, env, &settings, now, decisions).await?,
        Endpoint::ProtectedResourceMetadata | Endpoint::AuthorizationServerMetadata => {
            return reply::error(404, "not_found", "no such route");
        }
    };
    to_response(reply)
}

/// The per-address budget of `class`: `Some(429 reply)` when spent.
async fn per_address_limit(
    req: &Request,
    env: &Env,
    settings: &Settings,
    class: EndpointClass,
    now: u64,
    decisions: &Decisions,
) -> Option<Reply> {
    let Ok(kv) = env.kv(RATE_LIMIT_KV) else {
        decisions.rate_limit("ip_unavailable");
        return None;
    };
    let address = req.headers().get("cf-connecting-ip").ok().flatten();
    let key = ip_key(class, &settings.ip_limits, address.as_deref(), now);
    let current: Option<IpWindowCount> = match get_json(&kv, &key).await {
        Ok(current) => current,
        Err(_) => {
            decisions.rate_limit("ip_unavailable");
            return None;
        }
    };
    let decision = ip_decide(class, &settings.ip_limits, &key, current, now);
    if let Some(write) = decision.write {
        // KV takes about one write per second per key: a lost increment is acceptable.
        let _ = apply(&kv, std::slice::from_ref(&write)).await;
    }
    if decision.allowed {
        decisions.rate_limit("ip_admitted");
        None
    } else {
        decisions.rate_limit("ip_limited");
        Some(ip_limited_reply(class, decision.retry_after_secs))
    }
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// `N` bytes from the CSPRNG (Web Crypto on wasm32).
pub(crate) fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|err| worker::Error::RustError(format!("no randomness: {err}")))?;
    Ok(bytes)
}

/// Reads a JSON record; a value that does not parse counts as absent.
pub(crate) async fn get_json<T: DeserializeOwned>(kv: &KvStore, key: &str) -> Result<Option<T>> {
    let text = kv
        .get(key)
        .text()
        .await
        .map_err(|err| worker::Error::RustError(format!("KV read failed: {err}")))?;
    Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
}

/// Whether a key is present.
pub(crate) async fn exists(kv: &KvStore, key: &str) -> Result<bool> {
    let text = kv
        .get(key)
        .text()
        .await
        .map_err(|err| worker::Error::RustError(format!("KV read failed: {err}")))?;
    Ok(text.is_some())
}

/// Applies writes in order.
pub(crate) async fn apply(kv: &KvStore, writes: &[KvWrite]) -> Result<()> {
    for write in writes {
        match write {
            KvWrite::Put {
                key,
                value,
                ttl_secs,
            } => kv
                .put(key, value.as_str())
                .map_err(|err| worker::Error::RustError(format!("KV put failed: {err}")))?
                .expiration_ttl(*ttl_secs)
                .execute()
                .await
                .map_err(|err| worker::Error::RustError(format!("KV put failed: {err}")))?,
            KvWrite::Delete { key } => kv
                .delete(key)
                .await
                .map_err(|err| worker::Error::RustError(format!("KV delete failed: {err}")))?,
        }
    }
    Ok(())
}

/// A request's form body (at most [`MAX_BODY_BYTES`]); `None` when larger (refused before
/// reading when `Content-Length` says so, and as soon as a body of unknown length passes it).
pub(crate) async fn form(req: &mut Request) -> Result<Option<Params>> {
    match read_capped(req, MAX_BODY_BYTES).await {
        Ok(body) => Ok(Some(Params::parse(&String::from_utf8_lossy(&body)))),
        Err(BodyError::TooLarge { .. }) => Ok(None),
        Err(BodyError::Failed(err)) => Err(err),
    }
}

/// The pure layer's reply as a `worker::Response`.
pub(crate) fn to_response(reply: Reply) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    let response = if reply.body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(reply.body.into_bytes())?
    };
    Ok(response.with_status(reply.status).with_headers(headers))
}
