//! `second-brain restore --to-archive`: a user's log and note contents from a backup, written
//! as the R2 archive layout (`backups::archive`: `segments/<user>/...` and
//! `blobs/<user>/<hash>`) into a bucket reached through its S3 API (R2's is `https://<account>.r2.cloudflarestorage.com`).
//! An empty Durable Object rebuilds from that archive (every hash checked); the operator's
//! `POST /admin/rebuild/{user}` makes a user's object do so. This is the path back after
//! losing the account or the bucket that served the notes.
//!
//! The contents go first and the segments last, so an object that rebuilds while the restore
//! runs never finds a log without its contents. Contents are content-addressed under the user's
//! prefix: one that is there already is left alone (`If-None-Match: *`). Existing archive
//! objects of the user (segments, snapshots) are refused unless `--replace` deletes them
//! first: a rebuild must not mix two logs.

use backups::archive;
use backups::restore::Assembled;
use backups::s3::{self, BlockingHttp, Operation, PutOptions, S3Config, S3Error};
use engine::envelope::{ChainHead, Envelope, StoredEvent};
use engine::event::Event;
use engine::{Hash, MemoryStorage, Store};
use serde::Serialize;

use super::Failure;
use second_brain_tools::s3_http::S3Http;

/// The most events one archive segment holds (as the Worker's snapshot cycle).
const SEGMENT_EVENTS: usize = 10_000;

const ENDPOINT_ENV: &str = "R2_ARCHIVE_ENDPOINT";
const REGION_ENV: &str = "R2_ARCHIVE_REGION";
const BUCKET_ENV: &str = "R2_ARCHIVE_BUCKET";
const ACCESS_KEY_ENV: &str = "R2_ARCHIVE_ACCESS_KEY";
const SECRET_KEY_ENV: &str = "R2_ARCHIVE_SECRET_KEY";

/// Where the archive goes (the Worker's `STORAGE` bucket, through its S3 API).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ArchiveArgs {
    /// Write the R2 archive layout into the archive bucket instead of files into `--to`.
    #[arg(long, conflicts_with = "to")]
    to_archive: bool,
    /// The archive bucket's S3 endpoint.
    #[arg(long, env = ENDPOINT_ENV, requires = "to_archive")]
    archive_endpoint: Option<String>,
    /// Its signing region (`auto` for R2).
    #[arg(long, env = REGION_ENV, default_value = "auto")]
    archive_region: String,
    /// The archive bucket (the Worker's `STORAGE` bucket).
    #[arg(long, env = BUCKET_ENV, requires = "to_archive")]
    archive_bucket: Option<String>,
    /// The environment variable holding the archive bucket's access key id.
    #[arg(long, value_name = "NAME", default_value = ACCESS_KEY_ENV)]
    archive_access_key_env: String,
    /// The environment variable holding its secret key.
    #[arg(long, value_name = "NAME", default_value = SECRET_KEY_ENV)]
    archive_secret_key_env: String,
    /// Delete the user's archive objects (segments, snapshots) before writing.
    #[arg(long, requires = "to_archive")]
    replace: bool,
}

/// What an archive restore wrote.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ArchiveWritten {
    pub(crate) segments: usize,
    pub(crate) contents_written: usize,
    pub(crate) contents_present: usize,
    pub(crate) replaced: usize,
    pub(crate) bytes: u64,
}

impl ArchiveArgs {
    /// Whether an archive restore was asked for.
    pub(crate) fn wanted(&self) -> bool {
        self.to_archive
    }

    /// The archive bucket's settings; a missing one is named.
    fn config(&self) -> Result<S3Config, Failure> {
        let missing = |what: &str| Failure::Settings(format!("--to-archive needs {what}"));
        let secret = |var: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing(&format!("the environment variable {var}")))
        };
        Ok(S3Config {
            endpoint: self
                .archive_endpoint
                .clone()
                .ok_or_else(|| missing(&format!("--archive-endpoint or {ENDPOINT_ENV}")))?,
            region: self.archive_region.clone(),
            bucket: self
                .archive_bucket
                .clone()
                .ok_or_else(|| missing(&format!("--archive-bucket or {BUCKET_ENV}")))?,
            access_key: secret(&self.archive_access_key_env)?,
            secret_key: secret(&self.archive_secret_key_env)?,
        })
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes `assembled` (checked, replayed into `store`) as `user`'s archive.
pub(crate) fn write(
    args: &ArchiveArgs,
    user: &str,
    assembled: &Assembled,
    store: &Store<MemoryStorage>,
) -> Result<ArchiveWritten, Failure> {
    let config = args.config()?;
    let mut http = S3Http::new().map_err(|e| Failure::S3(e.to_string()))?;
    let unreachable = |e: &dyn std::fmt::Display| Failure::S3(e.to_string());
    let mut written = ArchiveWritten::default();
    let mut existing = Vec::new();
    for prefix in [
        archive::segment_prefix(user),
        archive::snapshot_prefix(user),
    ] {
        let listed =
            s3::list_all(&mut http, &config, &prefix, now_ms).map_err(|e| unreachable(&e))?;
        existing.extend(listed.into_iter().map(|o| o.key));
    }
    if !existing.is_empty() && !args.replace {
        return Err(Failure::Settings(format!(
            "the archive bucket already holds {} archive object(s) of user {user}; pass \
             --replace to delete them first",
            existing.len()
        )));
    }
    for key in &existing {
        let request = config
            .delete_object(key, now_ms())
            .map_err(|e| unreachable(&e))?;
        let response = http.send(request).map_err(|e| unreachable(&e))?;
        match s3::check(&response, Operation::DeleteObject, key) {
            Ok(()) | Err(S3Error::NotFound { .. }) => written.replaced += 1,
            Err(e) => return Err(unreachable(&e)),
        }
    }
    // Every content any version up to the restored head names.
    let notes = store
        .notes()
        .collect()
        .map_err(|e| Failure::Damaged(e.to_string()))?;
    let mut needed: Vec<Hash> = notes
        .history()
        .iter()
        .flat_map(|(_, versions)| versions.iter().filter_map(|v| v.content.as_ref()))
        .map(|c| c.hash)
        .collect();
    needed.sort();
    needed.dedup();
    for hash in needed {
        let Some(bytes) = assembled.contents.get(&hash) else {
            return Err(Failure::Damaged(format!(
                "the content {hash} is in no pack"
            )));
        };
        let key = archive::blob_key(user, &hash);
        match put(&mut http, &config, &key, bytes.clone(), true)? {
            true => {
                written.contents_written += 1;
                written.bytes += bytes.len() as u64;
            }
            false => written.contents_present += 1,
        }
    }
    let mut prev = ChainHead::default();
    for range in segment_ranges(&assembled.events)? {
        let chunk = &assembled.events[range];
        let segment = engine::segment::encode(prev, chunk)
            .map_err(|e| Failure::Damaged(format!("re-encoding the log failed: {e}")))?;
        prev = ChainHead {
            seq: segment.last_seq,
            hash: segment.last_hash,
        };
        let key = archive::segment_key(user, &segment);
        written.bytes += segment.bytes.len() as u64;
        put(&mut http, &config, &key, segment.bytes, false)?;
        written.segments += 1;
    }
    Ok(written)
}

/// Where the archive's segments start and end (indexes into `events`, which run from seq 1):
/// exactly the ranges the log records as archived (`segment.archived`: the rebuilt object
/// goes on from what its log says, and these encode to the very segments archived before),
/// then the rest in runs of at most [`SEGMENT_EVENTS`] (the object records them when it
/// rebuilds).
fn segment_ranges(events: &[StoredEvent]) -> Result<Vec<std::ops::Range<usize>>, Failure> {
    let mut ranges = Vec::new();
    let mut start = 0usize;
    for event in events {
        let envelope = Envelope::decode(&event.bytes)
            .map_err(|e| Failure::Damaged(format!("event {} is unreadable: {e}", event.seq)))?;
        if let Event::SegmentArchived(archived) = envelope.event {
            let (first, last) = (archived.first_seq as usize, archived.last_seq as usize);
            if first != start + 1 || last > events.len() || last < first {
                return Err(Failure::Damaged(format!(
                    "the log records segment {first}..={last} as archived, out of order"
                )));
            }
            ranges.push(start..last);
            start = last;
        }
    }
    while start < events.len() {
        let end = (start + SEGMENT_EVENTS).min(events.len());
        ranges.push(start..end);
        start = end;
    }
    Ok(ranges)
}

/// Puts `bytes` under `key`; with `once`, a key that exists is left alone (`false`).
fn put(
    http: &mut S3Http,
    config: &S3Config,
    key: &str,
    bytes: Vec<u8>,
    once: bool,
) -> Result<bool, Failure> {
    let options = PutOptions {
        if_none_match: once,
        content_type: None,
    };
    let request = config
        .put_object(key, bytes, options, now_ms())
        .map_err(|e| Failure::S3(e.to_string()))?;
    let response = http.send(request).map_err(|e| Failure::S3(e.to_string()))?;
    match s3::check(&response, Operation::PutObject, key) {
        Ok(()) => Ok(true),
        Err(S3Error::PreconditionFailed { .. }) if once => Ok(false),
        Err(e) => Err(Failure::S3(e.to_string())),
    }
}
