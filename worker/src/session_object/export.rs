//! The user's backup export: the object drives `backups::export::ExportRun` (plan, perform a
//! step, hand the result back) from its alarm.
//!
//! An export is due while the log has moved past the last completed export
//! (`backups::schedule`); one run does at most [`BUDGET`] of requests, records every object
//! it put into the bucket in SQLite as soon as the bucket has it (`backup_segments`,
//! `backup_packs`, `backup_contents`), and writes the manifest last. Which contents a run
//! still has to pack is asked of SQLite (`backups::export::sql`, the history joined with
//! `backup_contents`), at most [`BUDGET`]'s requests of them, so planning holds neither every
//! version nor every record in memory. A run that stops (its
//! budget, a failed request, an eviction) leaves those records, so the next run uploads only
//! what is still missing. Only this object writes under its user's prefix.
//!
//! With `BACKUP_AGE_RECIPIENT` every object is sealed before it is put (64 bytes of Web Crypto
//! randomness each) and named by its sealed bytes; `backup_sealed` remembers each sealed
//! object's recipient and plaintext blake3, so it is reused only under the same recipient.
//! With `BACKUP_SIGNING_KEY` the manifest is signed.

use backups::archive::{self, ArchivedSegment};
use backups::export::sql as export_sql;
use backups::export::{
    Budget, ExportInputs, ExportPlanError, ExportRun, ExportStep, Exported, FromStore, RunState,
    SealedObject, StepResult,
};
use backups::layout::UserLayout;
use backups::manifest::{PackRef, SegmentRef, TimeRange};
use backups::s3::{self, ListRequest, Operation, PutOptions, S3Config, S3Error, SignError};
use backups::schedule::{self, ExportRecord};
use backups::seal::Entropy;
use engine::Hash;
use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use super::restore::list_all;
use super::upkeep::{log, log_error};
use super::{MetaValue, UserObject};
use crate::backup::{self, BackupSettings, SendError};
use crate::blobs::{self, GetBlobError};
use crate::telemetry;

/// The tables of what the bucket holds.
pub(super) use backups::export::sql::SCHEMA;

/// The `object_meta` key of the [`ExportRecord`] (JSON).
const RECORD_KEY: &str = "export_record";

/// What one run may do. Workers allow 1,000 subrequests per invocation on older plans and
/// six connections at a time; a run stays well inside.
const BUDGET: Budget = Budget {
    requests: 500,
    bytes: 64 * 1024 * 1024,
};

/// Why an export run stopped.
#[derive(Debug, Error)]
pub(super) enum ExportError {
    /// The object does not know its user yet.
    #[error("no MCP request has named this object's user")]
    NoUser,
    /// The store is not open.
    #[error("the store is not available: {0}")]
    Store(String),
    /// The export cannot be planned from what the archive and the log hold.
    #[error(transparent)]
    Plan(#[from] ExportPlanError),
    /// R2 failed.
    #[error("R2: {0}")]
    R2(String),
    /// An archived segment does not match its key.
    #[error("archived segment {0} is corrupt or unreadable")]
    ArchivedSegment(String),
    /// A note's content could not be read.
    #[error(transparent)]
    Content(#[from] GetBlobError),
    /// No randomness for sealing (Web Crypto failed).
    #[error("no randomness to seal with: {0}")]
    Entropy(String),
    /// A request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The bucket did not answer.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The bucket refused.
    #[error(transparent)]
    S3(#[from] S3Error),
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sql(String),
}

impl From<worker::Error> for ExportError {
    fn from(e: worker::Error) -> Self {
        ExportError::Sql(e.to_string())
    }
}

/// What a run did: the JSON log line, and the dev route's answer.
#[derive(Debug, Default, Serialize)]
pub(super) struct ExportReport {
    /// `complete`, `paused` (budget spent, goes on soon) or `failed`.
    pub(super) outcome: &'static str,
    /// The head seq it exported.
    pub(super) head_seq: u64,
    /// The manifest's key, when complete.
    pub(super) manifest: Option<String>,
    /// Objects put: segments and packs.
    pub(super) segments: u32,
    pub(super) packs: u32,
    /// Contents packed.
    pub(super) contents: u32,
    /// Bytes put into the bucket.
    pub(super) bytes: u64,
    /// Requests made (R2 and S3).
    pub(super) requests: u32,
    pub(super) duration_ms: u64,
    pub(super) error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SegmentRow {
    key: String,
    size: i64,
    blake3: String,
    first_seq: i64,
    last_seq: i64,
    first_ms: i64,
    last_ms: i64,
}

#[derive(Debug, Deserialize)]
struct PackRow {
    key: String,
    size: i64,
    blake3: String,
    contents: i64,
}

#[derive(Debug, Deserialize)]
struct SealedRow {
    key: String,
    recipient: String,
    plain: String,
}

/// 64 fresh random bytes for one seal.
fn entropy() -> Result<Entropy, ExportError> {
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).map_err(|e| ExportError::Entropy(e.to_string()))?;
    Ok(Entropy::from_bytes(bytes))
}

impl UserObject {
    /// The backup settings; `None` when backups are off or misconfigured (logged).
    pub(super) fn backup_settings(&self) -> Option<BackupSettings> {
        match BackupSettings::from_env(&self.env) {
            Ok(settings) => settings,
            Err(err) => {
                log_error(json!({"msg": "backup_misconfigured", "error": err.to_string()}));
                None
            }
        }
    }

    /// What this object remembers of its exports.
    pub(super) fn export_record(&self) -> ExportRecord {
        let rows: Vec<MetaValue> = self
            .sql()
            .exec(
                "SELECT value FROM object_meta WHERE key = ?",
                vec![RECORD_KEY.into()],
            )
            .and_then(|cursor| cursor.to_array())
            .unwrap_or_default();
        rows.first()
            .and_then(|row| serde_json::from_str(&row.value).ok())
            .unwrap_or_default()
    }

    fn save_export_record(&self, record: &ExportRecord) -> Result<(), ExportError> {
        let value = serde_json::to_string(record).map_err(|e| ExportError::Sql(e.to_string()))?;
        self.sql().exec(
            "INSERT INTO object_meta (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            vec![RECORD_KEY.into(), value.into()],
        )?;
        Ok(())
    }

    /// When the next export is due (unix ms), if backups are on and there is something new.
    pub(super) fn export_due(&self) -> Option<u64> {
        let settings = self.backup_settings()?;
        let user = self.user().ok().flatten()?;
        let head = self.store.try_borrow().ok()?.as_ref()?.head().seq;
        let jitter = schedule::jitter_ms(&user, settings.interval_ms);
        self.export_record()
            .next_due(head, settings.interval_ms, jitter)
    }

    /// Runs an export if one is due (the alarm's part).
    pub(super) async fn export_if_due(&self, now_ms: u64) {
        if self.export_due().is_some_and(|due| due <= now_ms)
            && let Some(settings) = self.backup_settings()
        {
            self.export_now(&settings).await;
        }
    }

    /// Serves the cron's nudge: exports if due, then answers `{"overdue": bool, "exporting":
    /// bool}`. `exporting`: a run is unfinished or failing, so the bucket may hold objects
    /// that no manifest names yet and the pruner must leave this user alone.
    pub(super) async fn serve_backup_nudge(
        &self,
        forget: &[String],
    ) -> worker::Result<worker::Response> {
        let Some(settings) = self.backup_settings() else {
            return crate::reply::json(200, &json!({"overdue": false, "exporting": false}));
        };
        if self.ensure_store().await.is_err() {
            // No user yet, or the store cannot open (its own log line says why).
            return crate::reply::json(200, &json!({"overdue": false, "exporting": true}));
        }
        if !forget.is_empty() {
            self.forget_exported(forget)?;
        }
        let now = worker::Date::now().as_millis();
        self.export_if_due(now).await;
        self.reschedule().await;
        let head = self.with_open_store(|store| store.head().seq).unwrap_or(0);
        let record = self.export_record();
        let overdue = record.overdue(head, settings.interval_ms, worker::Date::now().as_millis());
        let exporting = record.unfinished || record.failures > 0;
        crate::reply::json(200, &json!({"overdue": overdue, "exporting": exporting}))
    }

    /// Forgets that the bucket holds `keys` (found missing or damaged) and marks the backup
    /// for repair: the next run, due at once, uploads what they held again (packs under new
    /// names, segments under theirs) and writes a new manifest.
    fn forget_exported(&self, keys: &[String]) -> worker::Result<()> {
        let sql = self.sql();
        for key in keys {
            let key: worker::SqlStorageValue = key.as_str().into();
            sql.exec(
                "DELETE FROM backup_segments WHERE key = ?",
                vec![key.clone()],
            )?;
            sql.exec(
                "DELETE FROM backup_contents WHERE pack = ?",
                vec![key.clone()],
            )?;
            sql.exec("DELETE FROM backup_packs WHERE key = ?", vec![key])?;
        }
        let mut record = self.export_record();
        record.repair = true;
        self.save_export_record(&record)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        log(json!({"msg": "backup_repair", "forgotten": keys.len()}));
        Ok(())
    }

    /// Runs one export run now, records its outcome and logs it.
    pub(super) async fn export_now(&self, settings: &BackupSettings) -> ExportReport {
        let started = worker::Date::now().as_millis();
        let mut report = ExportReport::default();
        let outcome = self.export_run(settings, &mut report).await;
        let now = worker::Date::now().as_millis();
        report.duration_ms = now.saturating_sub(started);
        let mut record = self.export_record();
        match outcome {
            Ok(RunState::Complete(manifest)) => {
                report.outcome = "complete";
                // Signing is deterministic: the same key the run put.
                let key = manifest.encode_with(settings.signing.as_ref()).key;
                report.manifest = Some(key.clone());
                record.completed(manifest.head.seq, key, now);
            }
            Ok(_) => {
                report.outcome = "paused";
                record.paused(now);
            }
            Err(err) => {
                report.outcome = "failed";
                // Logs name the user only by its keyed tag.
                let error = match self.user() {
                    Ok(Some(user)) => err.to_string().replace(
                        UserLayout::new(&user).prefix(),
                        &format!("users/<{}>/", telemetry::user_tag(&self.env, &user)),
                    ),
                    _ => err.to_string(),
                };
                report.error = Some(error.clone());
                record.failed(error, now);
            }
        }
        if let Err(err) = self.save_export_record(&record) {
            log_error(json!({"msg": "export_record_failed", "error": err.to_string()}));
        }
        if let Ok(Some(user)) = self.user() {
            let point = telemetry::backup_point(&telemetry::BackupFacts {
                kind: "backup_export",
                environment: &telemetry::environment(&self.env),
                outcome: report.outcome,
                user_tag: &telemetry::user_tag(&self.env, &user),
                duration_ms: report.duration_ms,
                bytes: report.bytes,
                objects: u64::from(report.segments + report.packs),
                head_seq: report.head_seq,
            });
            telemetry::write(&self.env, &point);
        }
        let line = json!({"msg": "backup_export", "report": &report});
        if report.error.is_some() {
            log_error(line);
        } else {
            log(line);
        }
        report
    }

    async fn export_run(
        &self,
        settings: &BackupSettings,
        report: &mut ExportReport,
    ) -> Result<RunState, ExportError> {
        let user = self.user()?.ok_or(ExportError::NoUser)?;
        let layout = UserLayout::new(&user);
        let bucket = self.env.bucket("STORAGE")?;
        let prefix = archive::segment_prefix(&user);
        let listed: Vec<ArchivedSegment> = list_all(&bucket, &prefix, self.list_page())
            .await
            .map_err(ExportError::R2)?
            .iter()
            .filter_map(|key| archive::parse_segment_key(&prefix, key))
            .collect();
        report.requests += 1;
        let previous = newest_manifest(&settings.s3, &layout).await?;
        report.requests += 1;
        let exported = self.exported()?;
        // A run packs at most one content a request.
        let limit = usize::try_from(BUDGET.requests).unwrap_or(usize::MAX);
        // In one turn: the contents asked of the tables are those up to the head read.
        let (
            FromStore {
                head,
                archived,
                state,
            },
            contents,
        ) = self
            .with_open_store(|store| {
                let from = FromStore::of(store)?;
                let reader = store.storage().reader();
                let contents =
                    export_sql::contents_to_export(&reader, settings.sealing.as_ref(), limit)?;
                Ok::<_, engine::StorageError>((from, contents))
            })
            .map_err(ExportError::Store)?
            .map_err(|e| ExportError::Store(e.to_string()))?;
        report.head_seq = head.seq;
        let build = concat!("second-brain-worker ", env!("CARGO_PKG_VERSION"));
        let inputs = ExportInputs {
            user: &user,
            build,
            head,
            archived,
            archive: &listed,
            state,
            contents: &contents,
            exported: &exported,
            previous,
            now_ms: worker::Date::now().as_millis(),
            sealing: settings.sealing.as_ref(),
            signing: settings.signing.as_ref(),
        };
        let mut run = ExportRun::new(&inputs, BUDGET)?;
        let blobs = self.blob_store(&user, bucket.clone());
        while let Some(step) = run.next_step() {
            let result = self
                .perform(&settings.s3, &run, &blobs, step, report)
                .await?;
            self.record_step(&result)?;
            run.complete(result)
                .map_err(|e| ExportError::Store(e.to_string()))?;
        }
        Ok(run.state())
    }

    /// Performs one step; the bucket has its object when this returns `Ok`.
    async fn perform(
        &self,
        s3: &S3Config,
        run: &ExportRun,
        blobs: &blobs::BlobStore<'_>,
        step: ExportStep,
        report: &mut ExportReport,
    ) -> Result<StepResult, ExportError> {
        Ok(match step {
            ExportStep::CopySegment(listed) => {
                let bytes = r2_get(&blobs.bucket, &listed.key).await?;
                report.requests += 1;
                if Hash::of(&bytes) != listed.digest {
                    return Err(ExportError::ArchivedSegment(listed.key));
                }
                let prepared = run
                    .prepare_segment(bytes, &entropy()?)
                    .map_err(|_| ExportError::ArchivedSegment(listed.key.clone()))?;
                put(s3, &prepared.key, prepared.bytes, report).await?;
                report.segments += 1;
                prepared.result
            }
            ExportStep::PutTail { first, last } => {
                let segment = self
                    .with_open_store(|store| store.encode_range(first, last))
                    .map_err(ExportError::Store)?
                    .map_err(|e| ExportError::Store(e.to_string()))?;
                let prepared = run
                    .prepare_segment(segment.bytes, &entropy()?)
                    .map_err(|e| ExportError::Store(e.to_string()))?;
                put(s3, &prepared.key, prepared.bytes, report).await?;
                report.segments += 1;
                prepared.result
            }
            ExportStep::PutPack(hashes) => {
                let mut held = Vec::with_capacity(hashes.len());
                for hash in &hashes {
                    held.push((*hash, blobs.get(*hash, false).await?));
                    report.requests += 1;
                }
                let borrowed: Vec<(Hash, &[u8])> =
                    held.iter().map(|(h, b)| (*h, b.as_slice())).collect();
                let prepared = run.prepare_pack(&borrowed, &entropy()?);
                put(s3, &prepared.key, prepared.bytes, report).await?;
                report.packs += 1;
                report.contents += u32::try_from(held.len()).unwrap_or(u32::MAX);
                prepared.result
            }
            ExportStep::PutManifest(manifest) => {
                put(s3, &manifest.key, manifest.bytes, report).await?;
                StepResult::Manifest
            }
        })
    }

    /// Records what a step put into the bucket.
    fn record_step(&self, result: &StepResult) -> Result<(), ExportError> {
        let sql = self.sql();
        let sealed = match result {
            StepResult::Segment {
                segment,
                sealed: Some(sealed),
            } => Some((&segment.key, sealed)),
            StepResult::Pack {
                pack,
                sealed: Some(sealed),
                ..
            } => Some((&pack.key, sealed)),
            _ => None,
        };
        // Before the object's own row: a row without it would read as a plain object.
        if let Some((key, sealed)) = sealed {
            sql.exec(
                "INSERT OR REPLACE INTO backup_sealed (key, recipient, plain) VALUES (?, ?, ?)",
                vec![
                    key.as_str().into(),
                    sealed.recipient.as_str().into(),
                    sealed.plain.to_hex().into(),
                ],
            )?;
        }
        match result {
            StepResult::Segment { segment: s, .. } => {
                sql.exec(
                    "INSERT OR REPLACE INTO backup_segments \
                     (key, size, blake3, first_seq, last_seq, first_ms, last_ms) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                    vec![
                        s.key.as_str().into(),
                        (s.size as i64).into(),
                        s.blake3.to_hex().into(),
                        (s.first_seq as i64).into(),
                        (s.last_seq as i64).into(),
                        (s.events.first_ms as i64).into(),
                        (s.events.last_ms as i64).into(),
                    ],
                )?;
            }
            StepResult::Pack { pack, contents, .. } => {
                sql.exec(
                    "INSERT OR REPLACE INTO backup_packs (key, size, blake3, contents) \
                     VALUES (?, ?, ?, ?)",
                    vec![
                        pack.key.as_str().into(),
                        (pack.size as i64).into(),
                        pack.blake3.to_hex().into(),
                        (pack.contents as i64).into(),
                    ],
                )?;
                for hash in contents {
                    sql.exec(
                        "INSERT OR REPLACE INTO backup_contents (hash, pack) VALUES (?, ?)",
                        vec![hash.to_hex().into(), pack.key.as_str().into()],
                    )?;
                }
            }
            StepResult::Manifest => {}
        }
        Ok(())
    }

    /// What the bucket holds, as recorded: its segments, packs and sealed objects (which
    /// pack holds each content stays in SQLite: [`export_sql::contents_to_export`] asks it).
    fn exported(&self) -> Result<Exported, ExportError> {
        let sql = self.sql();
        let hash = |text: &str| Hash::from_hex(text).map_err(|e| ExportError::Sql(e.to_string()));
        let mut exported = Exported::default();
        let rows: Vec<SegmentRow> = sql
            .exec("SELECT * FROM backup_segments", None)?
            .to_array()?;
        for row in rows {
            let segment = SegmentRef {
                key: row.key.clone(),
                size: row.size as u64,
                blake3: hash(&row.blake3)?,
                first_seq: row.first_seq as u64,
                last_seq: row.last_seq as u64,
                events: TimeRange {
                    first_ms: row.first_ms as u64,
                    last_ms: row.last_ms as u64,
                },
            };
            exported.segments.insert(row.key, segment);
        }
        let rows: Vec<PackRow> = sql.exec("SELECT * FROM backup_packs", None)?.to_array()?;
        for row in rows {
            let pack = PackRef {
                key: row.key.clone(),
                size: row.size as u64,
                blake3: hash(&row.blake3)?,
                contents: row.contents as u64,
            };
            exported.packs.insert(row.key, pack);
        }
        let rows: Vec<SealedRow> = sql.exec("SELECT * FROM backup_sealed", None)?.to_array()?;
        for row in rows {
            let sealed = SealedObject {
                recipient: row.recipient,
                plain: hash(&row.plain)?,
            };
            exported.sealed.insert(row.key, sealed);
        }
        Ok(exported)
    }
}

/// The digest of the newest manifest in the bucket (one list request: names count down).
async fn newest_manifest(s3: &S3Config, layout: &UserLayout) -> Result<Option<Hash>, ExportError> {
    let list = ListRequest {
        prefix: layout.manifests(),
        max_keys: Some(1),
        ..ListRequest::default()
    };
    let request = s3.list_objects_v2(&list, worker::Date::now().as_millis())?;
    let page = s3::parse_list(&backup::send(request).await?)?;
    Ok(page
        .objects
        .iter()
        .find_map(|o| layout.parse_manifest_key(&o.key))
        .map(|(_, digest)| digest))
}

/// Puts `bytes` under `key` once: a key that exists holds these bytes already (keys name
/// their content), so 412 is success.
async fn put(
    s3: &S3Config,
    key: &str,
    bytes: Vec<u8>,
    report: &mut ExportReport,
) -> Result<(), ExportError> {
    let len = bytes.len() as u64;
    let options = PutOptions {
        if_none_match: true,
        content_type: None,
    };
    let request = s3.put_object(key, bytes, options, worker::Date::now().as_millis())?;
    let response = backup::send(request).await?;
    report.requests += 1;
    match s3::check(&response, Operation::PutObject, key) {
        Ok(()) => {
            report.bytes += len;
            Ok(())
        }
        Err(S3Error::PreconditionFailed { .. }) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// The bytes under an archive key in R2.
async fn r2_get(bucket: &worker::Bucket, key: &str) -> Result<Vec<u8>, ExportError> {
    let failed = |e: worker::Error| ExportError::R2(format!("reading {key} failed: {e}"));
    let object = bucket.get(key).execute().await.map_err(failed)?;
    let Some(body) = object.as_ref().and_then(|o| o.body()) else {
        return Err(ExportError::R2(format!(
            "{key} is missing from the archive"
        )));
    };
    body.bytes().await.map_err(failed)
}
