//! `GET /health`: probes every binding for real, in parallel, each under a short timeout.
//!
//! No auth. The last answer is kept in the isolate's memory for a few seconds
//! ([`Config::health_cache_ms`]) and served again with an `Age` header, so a flood of
//! `/health` requests costs no R2, KV or Durable Object work beyond one round per isolate per
//! period. See [`report`] for how results become a verdict.

mod report;

use std::cell::RefCell;
use std::time::Duration;

use futures::future::{self, Either, LocalBoxFuture};
use worker::{Date, Delay, Env, Response, Result};

use crate::backup::BackupSettings;
use crate::config::Config;
use report::{BackupsReport, Build, Criticality, HealthReport, ProbeResult};

/// How long one probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// The R2 key and KV key that probes read; they need not exist.
const SENTINEL_KEY: &str = "health/sentinel";
/// The name of the Durable Object instance that answers health pings. It is never a user's.
pub(crate) const HEALTH_OBJECT: &str = "__health";

/// The last answer, while it may be served again.
struct CachedAnswer {
    /// When its probes ran (ms since the epoch).
    at_ms: u64,
    status: u16,
    body: String,
}

thread_local! {
    static LAST_ANSWER: RefCell<Option<CachedAnswer>> = const { RefCell::new(None) };
}

/// Serves `/health`: the cached answer while it is fresh, else a new round of probes.
pub(crate) async fn serve(env: &Env, config: &Config) -> Result<Response> {
    let now = Date::now().as_millis();
    let fresh = LAST_ANSWER.with(|slot| {
        slot.borrow().as_ref().and_then(|cached| {
            let age_ms = now.saturating_sub(cached.at_ms);
            (age_ms < config.health_cache_ms)
                .then(|| (cached.status, cached.body.clone(), age_ms / 1000))
        })
    });
    if let Some((status, body, age_secs)) = fresh {
        let response = answer(status, body)?;
        response.headers().set("age", &age_secs.to_string())?;
        return Ok(response);
    }
    let (status, body) = probe_all(env, config).await?;
    if config.health_cache_ms > 0 {
        LAST_ANSWER.with(|slot| {
            *slot.borrow_mut() = Some(CachedAnswer {
                at_ms: now,
                status,
                body: body.clone(),
            });
        });
    }
    answer(status, body)
}

/// A `/health` response of `status` with the JSON `body`.
fn answer(status: u16, body: String) -> Result<Response> {
    let response = Response::from_bytes(body.into_bytes())?.with_status(status);
    response.headers().set("content-type", "application/json")?;
    response.headers().set("cache-control", "no-store")?;
    Ok(response)
}

/// Runs every probe and reads the backup status: the answer's status and JSON body.
async fn probe_all(env: &Env, config: &Config) -> Result<(u16, String)> {
    let probes: Vec<LocalBoxFuture<'_, ProbeResult>> = vec![
        Box::pin(probe("STORAGE", Criticality::Critical, r2(env))),
        Box::pin(probe(
            "OAUTH_KV",
            Criticality::Critical,
            kv(env, "OAUTH_KV"),
        )),
        Box::pin(probe(
            "RATE_LIMIT_KV",
            Criticality::Critical,
            kv(env, "RATE_LIMIT_KV"),
        )),
        Box::pin(probe(
            "MCP_SESSION",
            Criticality::Critical,
            durable_object(env),
        )),
        Box::pin(probe("ANALYTICS", Criticality::Optional, analytics(env))),
        Box::pin(probe(
            "S3_BACKUP",
            Criticality::Optional,
            backup_bucket(env),
        )),
    ];
    let results = future::join_all(probes).await;
    let build = Build {
        commit: option_env!("SECOND_BRAIN_COMMIT").unwrap_or("unknown"),
        environment: config.environment.as_str(),
    };
    let mut report = HealthReport::assess(results, env!("CARGO_PKG_VERSION"), build);
    if let Ok(Some(_)) = BackupSettings::from_env(env) {
        let now = Date::now().as_millis();
        let status = match env.bucket("STORAGE") {
            Ok(bucket) => crate::backup::cron::read_status(&bucket).await,
            Err(err) => Err(err.to_string()),
        };
        let (backups, warnings) = match status {
            Ok(status) => (BackupsReport::of(&status, now), status.warnings()),
            Err(error) => (
                BackupsReport::of(&Default::default(), now),
                vec![format!("the backup audit's status is unreadable: {error}")],
            ),
        };
        report = report.with_backups(backups, warnings);
    }
    let body = serde_json::to_string(&report)
        .map_err(|err| worker::Error::RustError(format!("the health report: {err}")))?;
    Ok((report.http_status(), body))
}

/// Runs one probe under [`PROBE_TIMEOUT`] and times it.
async fn probe(
    name: &'static str,
    criticality: Criticality,
    check: impl Future<Output = std::result::Result<(), String>>,
) -> ProbeResult {
    let started = Date::now().as_millis();
    let timeout = Delay::from(PROBE_TIMEOUT);
    let outcome = match future::select(std::pin::pin!(check), timeout).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => Err(format!("timed out after {} ms", PROBE_TIMEOUT.as_millis())),
    };
    let latency_ms = Date::now().as_millis().saturating_sub(started);
    ProbeResult {
        name,
        criticality,
        latency_ms,
        outcome,
    }
}

async fn r2(env: &Env) -> std::result::Result<(), String> {
    let bucket = env.bucket("STORAGE").map_err(|e| e.to_string())?;
    bucket
        .head(SENTINEL_KEY)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

async fn kv(env: &Env, binding: &str) -> std::result::Result<(), String> {
    let store = env.kv(binding).map_err(|e| e.to_string())?;
    store
        .get(SENTINEL_KEY)
        .text()
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

async fn durable_object(env: &Env) -> std::result::Result<(), String> {
    let namespace = env
        .durable_object("MCP_SESSION")
        .map_err(|e| e.to_string())?;
    let stub = namespace
        .get_by_name(HEALTH_OBJECT)
        .map_err(|e| e.to_string())?;
    let response = stub
        .fetch_with_str(crate::session_object::PING_URL)
        .await
        .map_err(|e| e.to_string())?;
    match response.status_code() {
        200 => Ok(()),
        status => Err(format!("ping answered HTTP {status}")),
    }
}

async fn analytics(env: &Env) -> std::result::Result<(), String> {
    env.analytics_engine("ANALYTICS")
        .map(drop)
        .map_err(|_| "binding ANALYTICS is not configured".to_owned())
}

/// The backup bucket, for real: a SigV4-signed `HeadBucket` with the configured keys.
async fn backup_bucket(env: &Env) -> std::result::Result<(), String> {
    let settings = match BackupSettings::from_env(env) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            return Err(format!(
                "backups are not configured (secrets {})",
                crate::backup::SECRETS.join(", ")
            ));
        }
        Err(err) => return Err(err.to_string()),
    };
    let request = settings
        .s3
        .head_bucket(Date::now().as_millis())
        .map_err(|e| e.to_string())?;
    let response = crate::backup::send(request)
        .await
        .map_err(|e| e.to_string())?;
    backups::s3::check(&response, backups::s3::Operation::HeadBucket, "").map_err(|e| e.to_string())
}
