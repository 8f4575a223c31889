//! The cron's backup audit (`backups::audit`): a bounded page of users per run, each nudged
//! (its object exports if one is due, and says whether one is overdue), drilled (its newest
//! backup fetched, checked and replayed in memory) and pruned (`prune`: what the retention
//! policy lets go). A run stays within [`RUN_REQUESTS`]; the rest waits for the next. The
//! status goes to R2 under [`STATUS_KEY`], where `/health` reads it.
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
    /// An export run is unfinished or failing: leave the user's objects alone.
    exporting: bool,
}

/// The requests one run may make (older Workers plans allow 1,000 subrequests per
/// invocation; a run stays below and the next run goes on).
const RUN_REQUESTS: u32 = 900;
/// How long a run holds the audit: past it, a run that died no longer blocks the next.
const LEASE_MS: u64 = 15 * 60 * 1_000;

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
    let (mut status, etag) = read_status_and_etag(&bucket).await?;
    // One audit (and so one pruner) at a time: the lease goes into the status, written only
    // if nobody wrote it since it was read (R2 is strongly consistent).
    status
        .take_lease(Date::now().as_millis(), LEASE_MS)
        .map_err(|e| e.to_string())?;
    let etag = write_status(&bucket, &status, etag)
        .await?
        .ok_or("another audit run took the lease first")?;
    let configured = env
        .var("BACKUP_AUDIT_USERS_PER_RUN")
        .ok()
        .and_then(|v| v.to_string().parse::<u32>().ok())
        .filter(|n| (1..=1_000).contains(n))
        .unwrap_or(USERS_PER_RUN);
    // More per run when there are so many users that a pass would take over a week (the
    // request budget below still bounds the run; the status warns when passes run long).
    let per_run = status.users_per_run(configured, 1_000);
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
    let mut budget = RUN_REQUESTS - 1;
    let mut stopped_early = false;
    for prefix in &page.common_prefixes {
        let Some(user) = layout::user_of_prefix(prefix) else {
            continue;
        };
        if budget < RUN_REQUESTS / 4 {
            // The rest of the page waits for the next run (the cursor stays at the last
            // user visited).
            stopped_early = true;
            break;
        }
        visits.push(visit(env, settings, &user, prefix, &mut budget).await);
    }
    let pass_complete = !page.is_truncated && !stopped_early;
    status.record_run(&visits, pass_complete, Date::now().as_millis());
    write_status(&bucket, &status, Some(etag))
        .await?
        .ok_or("the lease was lost: another audit run wrote the status; this run's is dropped")?;
    Ok(status)
}

/// Reads the audit's status (a missing one is a fresh start).
pub(crate) async fn read_status(bucket: &worker::Bucket) -> Result<AuditStatus, String> {
    read_status_and_etag(bucket).await.map(|(status, _)| status)
}

/// Reads the audit's status and the etag of the object holding it (none: no object yet).
async fn read_status_and_etag(
    bucket: &worker::Bucket,
) -> Result<(AuditStatus, Option<String>), String> {
    let object = bucket
        .get(STATUS_KEY)
        .execute()
        .await
        .map_err(|e| format!("reading {STATUS_KEY} failed: {e}"))?;
    let Some(object) = object else {
        return Ok((AuditStatus::default(), None));
    };
    let etag = object.etag();
    let Some(body) = object.body() else {
        return Ok((AuditStatus::default(), None));
    };
    let text = body.text().await.map_err(|e| e.to_string())?;
    let status =
        serde_json::from_str(&text).map_err(|e| format!("{STATUS_KEY} is unreadable: {e}"))?;
    Ok((status, Some(etag)))
}

/// Writes the status if the object still has `etag` (none: unconditionally, the first
/// time); the new etag, or `None` when someone wrote it meanwhile.
async fn write_status(
    bucket: &worker::Bucket,
    status: &AuditStatus,
    etag: Option<String>,
) -> Result<Option<String>, String> {
    let text = serde_json::to_string(status).map_err(|e| e.to_string())?;
    let mut put = bucket.put(STATUS_KEY, text);
    if let Some(etag) = etag {
        put = put.only_if(worker::Conditional {
            etag_matches: Some(etag),
            ..worker::Conditional::default()
        });
    }
    let written = put
        .execute()
        .await
        .map_err(|e| format!("writing {STATUS_KEY} failed: {e}"))?;
    Ok(written.map(|object| object.etag()))
}

async fn visit(
    env: &Env,
    settings: &BackupSettings,
    user: &str,
    prefix: &str,
    budget: &mut u32,
) -> Visit {
    let nudged = match nudge(env, user, &[]).await {
        Ok(nudged) => nudged,
        Err(error) => {
            worker::console_error!("{}", json!({"msg": "backup_nudge_failed", "error": error}));
            Nudged {
                overdue: false,
                exporting: true,
            }
        }
    };
    *budget = budget.saturating_sub(1);
    let trusted = settings.signing.as_ref().map(|key| key.public_key());
    let mut objects_only = false;
    let (newest_manifest_ms, drill) =
        match newest_manifest(&settings.s3, user, trusted.as_ref()).await {
            Ok(Some(manifest)) => {
                objects_only = manifest.encryption.is_some();
                *budget = budget.saturating_sub(2 + manifest.objects().count() as u32);
                let started = Date::now().as_millis();
                let outcome = drill(&settings.s3, &manifest).await;
                let repaired = match &outcome {
                    Err(DrillFailure {
                        object: Some(key), ..
                    }) => repair(env, &settings.s3, user, key).await,
                    _ => false,
                };
                let outcome = outcome.map_err(|failure| failure.message);
                let tag = crate::telemetry::user_tag(env, user);
                let error = outcome
                    .as_ref()
                    .err()
                    .map(|e| e.replace(UserLayout::new(user).prefix(), &format!("users/<{tag}>/")));
                worker::console_log!(
                    "{}",
                    json!({
                        "msg": "backup_drill",
                        "user_tag": tag,
                        "outcome": if outcome.is_ok() { "passed" } else { "failed" },
                        "head_seq": manifest.head.seq,
                        "objects": manifest.objects().count(),
                        "bytes": manifest.object_bytes(),
                        "duration_ms": Date::now().as_millis().saturating_sub(started),
                        "error": error,
                        "repaired": repaired,
                    })
                );
                let point = crate::telemetry::backup_point(&crate::telemetry::BackupFacts {
                    kind: "backup_drill",
                    environment: &crate::telemetry::environment(env),
                    outcome: if outcome.is_ok() { "passed" } else { "failed" },
                    user_tag: &tag,
                    duration_ms: Date::now().as_millis().saturating_sub(started),
                    bytes: manifest.object_bytes(),
                    objects: manifest.objects().count() as u64,
                    head_seq: manifest.head.seq,
                });
                crate::telemetry::write(env, &point);
                (Some(manifest.created_ms), Some(outcome))
            }
            Ok(None) => (None, None),
            Err(error) => (None, Some(Err(error))),
        };
    if !nudged.exporting && newest_manifest_ms.is_some() {
        match super::prune::prune_user(&settings.s3, user, &settings.retention, *budget).await {
            Ok(pruned) => {
                *budget = budget.saturating_sub(pruned.requests);
                worker::console_log!("{}", json!({"msg": "backup_pruned", "pruned": pruned}));
            }
            Err(error) => {
                worker::console_error!("{}", json!({"msg": "backup_prune_failed", "error": error}));
            }
        }
    }
    Visit {
        user: user.to_owned(),
        prefix: prefix.to_owned(),
        newest_manifest_ms,
        overdue: nudged.overdue,
        drill,
        objects_only,
    }
}

/// Repairs `user`'s backup whose drill found `key` missing or damaged: deletes what is under
/// the key (a damaged object would otherwise stand, as keys are written once) and has the
/// user's object forget it and export again at once. Whether the new export was started.
async fn repair(env: &Env, s3: &S3Config, user: &str, key: &str) -> bool {
    let deleted = match s3.delete_object(key, Date::now().as_millis()) {
        Ok(request) => match super::send(request).await {
            Ok(response) => matches!(
                s3::check(&response, Operation::DeleteObject, key),
                Ok(()) | Err(S3Error::NotFound { .. })
            ),
            Err(_) => false,
        },
        Err(_) => false,
    };
    deleted && nudge(env, user, &[key.to_owned()]).await.is_ok()
}

/// Asks the user's object to export if one is due, and whether one is overdue; `forget`: see
/// [`repair`].
async fn nudge(env: &Env, user: &str, forget: &[String]) -> Result<Nudged, String> {
    let mut response = crate::session_object::nudge_backup(env, user, forget)
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
async fn drill(s3: &S3Config, manifest: &Manifest) -> Result<(), DrillFailure> {
    let plan = restore::plan(manifest, Target::Head).map_err(DrillFailure::of)?;
    if manifest.encryption.is_some() {
        for (key, size, blake3) in manifest.objects() {
            let bytes = get(s3, key).await.map_err(DrillFailure::io)?;
            restore::check_object(bytes.as_deref(), key, size, blake3).map_err(DrillFailure::of)?;
        }
        return Ok(());
    }
    let mut assembler = Assembler::new(manifest, &[], plan, false).map_err(DrillFailure::of)?;
    while let Some(key) = assembler.next_key().map(str::to_owned) {
        let bytes = get(s3, &key).await.map_err(DrillFailure::io)?;
        assembler.feed(bytes.as_deref()).map_err(DrillFailure::of)?;
    }
    let assembled = assembler.finish().map_err(DrillFailure::of)?;
    restore::rebuild(
        manifest,
        &assembled,
        MemoryStorage::default(),
        Config::default(),
    )
    .map(drop)
    .map_err(DrillFailure::of)
}

/// Why a drill failed, and the object at fault when one is (the backup is repaired by
/// uploading it again).
#[derive(Debug)]
struct DrillFailure {
    message: String,
    object: Option<String>,
}

impl DrillFailure {
    fn of(error: restore::RestoreError) -> Self {
        DrillFailure {
            object: error.object().map(str::to_owned),
            message: error.to_string(),
        }
    }

    fn io(message: String) -> Self {
        DrillFailure {
            message,
            object: None,
        }
    }
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
