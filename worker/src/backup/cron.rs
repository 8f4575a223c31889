//! The cron's backup audit (`backups::audit`): a bounded page of users per run, each nudged
//! (its object exports if one is due, and says whether one is overdue) and drilled (its newest
//! backup fetched, checked and replayed in memory). The status goes to R2 under
//! [`STATUS_KEY`], where `/health` reads it.
//!
//! With `BACKUP_SIGNING_KEY` the drill refuses a manifest that its public key did not sign.
//! A sealed backup cannot be opened here (the Worker never holds the identity): its drill
//! checks every object as stored (present, size and blake3 the manifest names) and says that
//! the replay needs the identity.

use backups::audit::{AuditStatus, Visit};
use backups::layout::{self, UserLayout};
use backups::manifest::Manifest;
use backups::restore::{self, Assembler, Target};
use backups::s3::{self, ListRequest, Operation, S3Config, S3Error};
use backups::sign::PublicKey;
use engine::{Config, MemoryStorage};
use serde::Deserialize;
use serde_json::json;
use worker::{Date, Env};

use super::BackupSettings;

/// The R2 key of the audit's status (one write per cron run).
pub(crate) const STATUS_KEY: &str = "backups/audit-status.json";
/// How many users one run visits by default (var `BACKUP_AUDIT_USERS_PER_RUN`, 1 to 1,000).
const USERS_PER_RUN: u32 = 25;

/// What the user's object answers to a nudge.
#[derive(Debug, Deserialize)]
struct Nudged {
    overdue: bool,
}

/// Runs one audit. Failures are logged; nothing is returned to the runtime.
pub(crate) async fn run(env: &Env, cron: &str) {
    let settings = match BackupSettings::from_env(env) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            return worker::console_log!(
                "{}",
                json!({"msg": "scheduled", "cron": cron, "outcome": "skipped: backups are not configured"})
            );
        }
        Err(err) => {
            return worker::console_error!(
                "{}",
                json!({"msg": "scheduled", "cron": cron, "outcome": "failed", "error": err.to_string()})
            );
        }
    };
    let started = Date::now().as_millis();
    match audit(env, &settings).await {
        Ok(status) => {
            let drill = status.last_drill.as_ref().filter(|d| d.at_ms >= started);
            worker::console_log!(
                "{}",
                json!({
                    "msg": "backup_audit",
                    "cron": cron,
                    "users": status.last_run.as_ref().map_or(0, |r| r.users),
                    "drilled": drill.map_or(0, |d| d.users),
                    "drill_failures": drill.map_or(0, |d| d.users - d.passed),
                    // Sealed backups: objects checked as stored; the replay needs the identity.
                    "drilled_objects_only": drill.map_or(0, |d| d.objects_only),
                    "overdue": status.overdue.len(),
                    "duration_ms": Date::now().as_millis().saturating_sub(started),
                })
            );
        }
        Err(error) => worker::console_error!(
            "{}",
            json!({"msg": "backup_audit", "cron": cron, "outcome": "failed", "error": error})
        ),
    }
}

async fn audit(env: &Env, settings: &BackupSettings) -> Result<AuditStatus, String> {
    let bucket = env.bucket("STORAGE").map_err(|e| e.to_string())?;
    let mut status = read_status(&bucket).await?;
    let per_run = env
        .var("BACKUP_AUDIT_USERS_PER_RUN")
        .ok()
        .and_then(|v| v.to_string().parse::<u32>().ok())
        .filter(|n| (1..=1_000).contains(n))
        .unwrap_or(USERS_PER_RUN);
    let list = ListRequest {
        prefix: "users/".into(),
        start_after: status.cursor.clone(),
        max_keys: Some(per_run),
        delimiter: Some("/".into()),
        ..ListRequest::default()
    };
    let request = settings
        .s3
        .list_objects_v2(&list, Date::now().as_millis())
        .map_err(|e| e.to_string())?;
    let response = super::send(request).await.map_err(|e| e.to_string())?;
    let page = s3::parse_list(&response).map_err(|e| e.to_string())?;
    let mut visits = Vec::new();
    for prefix in &page.common_prefixes {
        let Some(user) = layout::user_of_prefix(prefix) else {
            continue;
        };
        visits.push(visit(env, settings, &user, prefix).await);
    }
    status.record_run(&visits, !page.is_truncated, Date::now().as_millis());
    let text = serde_json::to_string(&status).map_err(|e| e.to_string())?;
    bucket
        .put(STATUS_KEY, text)
        .execute()
        .await
        .map_err(|e| format!("writing {STATUS_KEY} failed: {e}"))?;
    Ok(status)
}

/// Reads the audit's status (a missing one is a fresh start).
pub(crate) async fn read_status(bucket: &worker::Bucket) -> Result<AuditStatus, String> {
    let object = bucket
        .get(STATUS_KEY)
        .execute()
        .await
        .map_err(|e| format!("reading {STATUS_KEY} failed: {e}"))?;
    let Some(body) = object.as_ref().and_then(|o| o.body()) else {
        return Ok(AuditStatus::default());
    };
    let text = body.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{STATUS_KEY} is unreadable: {e}"))
}

async fn visit(env: &Env, settings: &BackupSettings, user: &str, prefix: &str) -> Visit {
    let overdue = match nudge(env, user).await {
        Ok(nudged) => nudged.overdue,
        Err(error) => {
            worker::console_error!("{}", json!({"msg": "backup_nudge_failed", "error": error}));
            false
        }
    };
    let trusted = settings.signing.as_ref().map(|key| key.public_key());
    let (newest_manifest_ms, drill, objects_only) =
        match newest_manifest(&settings.s3, user, trusted.as_ref()).await {
            Ok(Some(manifest)) => {
                let sealed = manifest.encryption.is_some();
                (
                    Some(manifest.created_ms),
                    Some(drill(&settings.s3, &manifest).await),
                    sealed,
                )
            }
            Ok(None) => (None, None, false),
            Err(error) => (None, Some(Err(error)), false),
        };
    Visit {
        user: user.to_owned(),
        prefix: prefix.to_owned(),
        newest_manifest_ms,
        overdue,
        drill,
        objects_only,
    }
}

/// Asks the user's object to export if one is due, and whether one is overdue.
async fn nudge(env: &Env, user: &str) -> Result<Nudged, String> {
    let mut response = crate::session_object::nudge_backup(env, user)
        .await
        .map_err(|e| e.to_string())?;
    if response.status_code() != 200 {
        return Err(format!("the object answered {}", response.status_code()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// The user's newest manifest (one list request: names count down), if any; signed by
/// `trusted` when a key is given.
async fn newest_manifest(
    s3: &S3Config,
    user: &str,
    trusted: Option<&PublicKey>,
) -> Result<Option<Manifest>, String> {
    let layout = UserLayout::new(user);
    let list = ListRequest {
        prefix: layout.manifests(),
        max_keys: Some(1),
        ..ListRequest::default()
    };
    let request = s3
        .list_objects_v2(&list, Date::now().as_millis())
        .map_err(|e| e.to_string())?;
    let response = super::send(request).await.map_err(|e| e.to_string())?;
    let page = s3::parse_list(&response).map_err(|e| e.to_string())?;
    let Some(key) = page.objects.first().map(|o| o.key.clone()) else {
        return Ok(None);
    };
    let bytes = get(s3, &key)
        .await?
        .ok_or_else(|| format!("manifest {key} vanished while it was read"))?;
    Manifest::open(&bytes)
        .map_err(|e| format!("manifest {key}: {e}"))?
        .trusted(trusted)
        .map(Some)
        .map_err(|e| format!("manifest {key}: {e}"))
}

/// Fetches every object of `manifest`, checks it, replays the log in memory and compares the
/// notes' digest and the chain head with the manifest. A sealed backup's objects are checked
/// as stored only.
async fn drill(s3: &S3Config, manifest: &Manifest) -> Result<(), String> {
    let plan = restore::plan(manifest, Target::Head).map_err(|e| e.to_string())?;
    if manifest.encryption.is_some() {
        for (key, size, blake3) in manifest.objects() {
            let bytes = get(s3, key).await?;
            restore::check_object(bytes.as_deref(), key, size, blake3)
                .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let mut assembler = Assembler::new(manifest, &[], plan, false).map_err(|e| e.to_string())?;
    while let Some(key) = assembler.next_key().map(str::to_owned) {
        let bytes = get(s3, &key).await?;
        assembler
            .feed(bytes.as_deref())
            .map_err(|e| e.to_string())?;
    }
    let assembled = assembler.finish().map_err(|e| e.to_string())?;
    restore::rebuild(
        manifest,
        &assembled,
        MemoryStorage::default(),
        Config::default(),
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

/// The bytes under `key`; `None` when the bucket does not have it.
async fn get(s3: &S3Config, key: &str) -> Result<Option<Vec<u8>>, String> {
    let request = s3
        .get_object(key, Date::now().as_millis())
        .map_err(|e| e.to_string())?;
    let response = super::send(request).await.map_err(|e| e.to_string())?;
    match s3::check(&response, Operation::GetObject, key) {
        Ok(()) => Ok(Some(response.body)),
        Err(S3Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err.to_string()),
    }
}
