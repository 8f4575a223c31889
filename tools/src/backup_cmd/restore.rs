//! `second-brain restore`: a user's notes from the newest backup, at its head or at an earlier
//! seq or time, into a new directory (layout in [`super::restore_dir`]).
//!
//! Steps: list the manifests and read the newest (its bytes must hash to its name; with
//! `--signing-public-key`, signed by that key), check that `--identity` opens it if it is
//! sealed, plan the
//! objects for the target, fetch them (progress on stderr), check them and their hash chain
//! (`backups::restore::assemble`), replay them with the engine into the directory's log and
//! check the notes digest (`rebuild`), then write the notes, the contents and the report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use backups::layout::UserLayout;
use backups::restore::{self, RestoreError, RestorePlan, Target};
use serde::Serialize;

use super::bucket::{Bucket, ListedManifest};
use super::keys::KeyArgs;
use super::restore_archive::{self, ArchiveArgs};
use super::restore_dir::{self, META_DIR, REPORT_FILE, Written};
use super::{Failure, S3Args, human_bytes, parse_rfc3339, rfc3339};

/// Arguments of `restore`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The user whose notes to restore.
    #[arg(long)]
    user: String,
    /// Restore the state right after this seq (default: the backup's head).
    #[arg(long, value_name = "SEQ", conflicts_with = "time")]
    at: Option<u64>,
    /// Restore the state at this RFC 3339 time (every event up to it).
    #[arg(long, value_name = "RFC3339")]
    time: Option<String>,
    /// Print what would be fetched and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the plan or the report as JSON.
    #[arg(long)]
    json: bool,
    /// The directory to restore into; it must not exist or be empty.
    #[arg(long, value_name = "DIR", required_unless_present = "to_archive")]
    to: Option<PathBuf>,
    #[command(flatten)]
    archive: ArchiveArgs,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    s3: S3Args,
}

/// The target as reports show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
enum TargetReport {
    Head,
    Seq(u64),
    Time(String),
}

impl From<Target> for TargetReport {
    fn from(target: Target) -> Self {
        match target {
            Target::Head => TargetReport::Head,
            Target::Seq(seq) => TargetReport::Seq(seq),
            Target::Time(ms) => TargetReport::Time(rfc3339(ms)),
        }
    }
}

/// What `--dry-run` prints.
#[derive(Debug, Serialize)]
struct PlanReport {
    user: String,
    manifest: String,
    target: TargetReport,
    segments: usize,
    packs: usize,
    objects: usize,
    bytes: u64,
}

/// `restore-report.json`, also printed with `--json`.
#[derive(Debug, Serialize)]
struct RestoreReport {
    user: String,
    manifest: String,
    manifest_blake3: String,
    manifest_created: String,
    target: TargetReport,
    head_seq: u64,
    head_hash: String,
    notes: u64,
    bytes: u64,
    versions: u64,
    contents: u64,
    objects_fetched: usize,
    bytes_fetched: u64,
    checks: Vec<&'static str>,
}

/// Restores, or with `--dry-run` prints the plan.
pub(crate) fn run(args: &Args) -> Result<()> {
    let config = args.s3.config()?;
    let identities = args.keys.identities()?;
    let trusted = args.keys.public_key()?;
    let target = match (args.at, &args.time) {
        (Some(seq), _) => Target::Seq(seq),
        (None, Some(time)) => Target::Time(parse_rfc3339(time)?),
        (None, None) => Target::Head,
    };
    if let Some(to) = &args.to {
        restore_dir::check_empty(to)?;
    }
    let mut bucket = Bucket::new(config)?;
    let layout = UserLayout::new(&args.user);
    let Some(newest) = bucket.manifests(&layout)?.into_iter().next() else {
        return Err(Failure::NothingFound(format!(
            "nothing to restore: no backups for user {}",
            args.user
        ))
        .into());
    };
    let manifest = bucket.manifest(&newest, trusted.as_ref())?;
    restore::check_identities(&manifest, &identities)
        .map_err(|e| Failure::Keys(format!("{e} (manifest {})", newest.key)))?;
    let plan = restore::plan(&manifest, target).map_err(|e| match e {
        RestoreError::BeforeFirst { .. } => Failure::NothingFound(format!(
            "nothing to restore: {e} ({})",
            rfc3339(manifest.events.first_ms)
        )),
        RestoreError::BeyondHead { .. } => Failure::Settings(e.to_string()),
        other => Failure::Damaged(other.to_string()),
    })?;

    if args.dry_run {
        let report = PlanReport {
            user: args.user.clone(),
            manifest: newest.key.clone(),
            target: target.into(),
            segments: plan.segments.len(),
            packs: plan.packs.len(),
            objects: plan.keys().count(),
            bytes: plan.bytes(),
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "would restore user {} to {:?} from {}: {} objects ({} segments, {} packs), {}; nothing written",
                report.user,
                report.target,
                report.manifest,
                report.objects,
                report.segments,
                report.packs,
                human_bytes(report.bytes)
            );
        }
        return Ok(());
    }

    let fetched = fetch(&mut bucket, &newest, &plan)?;
    let bytes_fetched = fetched.values().map(|b| b.len() as u64).sum();
    let assembled = restore::assemble(&manifest, &identities, &plan, &fetched)
        .map_err(|e| Failure::Damaged(format!("{e} (manifest {})", newest.key)))?;
    drop(fetched);
    if args.archive.wanted() {
        let store = restore::rebuild(
            &manifest,
            &assembled,
            engine::MemoryStorage::default(),
            engine::Config::default(),
        )
        .map_err(|e| Failure::Damaged(format!("{e} (manifest {})", newest.key)))?;
        let written = restore_archive::write(&args.archive, &args.user, &assembled, &store)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&written)?);
        } else {
            println!(
                "wrote user {}'s archive at seq {}: {} segments, {} contents ({} there already),                  {}; {} earlier archive objects deleted. Rebuild the user's object: POST                  /admin/rebuild/{}",
                args.user,
                assembled.head.seq,
                written.segments,
                written.contents_written,
                written.contents_present,
                human_bytes(written.bytes),
                written.replaced,
                args.user
            );
        }
        return Ok(());
    }
    let Some(to) = &args.to else {
        return Err(Failure::Settings("give --to DIR or --to-archive".into()).into());
    };
    let at_head = assembled.head == manifest.head;
    let make_report = |written: &Written| RestoreReport {
        user: args.user.clone(),
        manifest: newest.key.clone(),
        manifest_blake3: newest.digest.to_hex(),
        manifest_created: rfc3339(manifest.created_ms),
        target: target.into(),
        head_seq: written.head.seq,
        head_hash: written.head.hash.to_hex(),
        notes: written.notes,
        bytes: written.note_bytes,
        versions: written.versions,
        contents: written.blobs,
        objects_fetched: plan.keys().count(),
        bytes_fetched,
        checks: checks(at_head, manifest.encryption.is_some(), trusted.is_some()),
    };
    let written = restore_dir::write(to, &manifest, &assembled, |written| {
        Ok(serde_json::to_vec_pretty(&make_report(written))?)
    })?;
    let report = make_report(&written);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "restored user {} to seq {} into {}: {} notes ({}), {} versions, {} contents; report in {}/{}",
            report.user,
            report.head_seq,
            to.display(),
            report.notes,
            human_bytes(report.bytes),
            report.versions,
            report.contents,
            META_DIR,
            REPORT_FILE
        );
    }
    Ok(())
}

/// What a successful restore checked.
fn checks(at_head: bool, sealed: bool, signed: bool) -> Vec<&'static str> {
    let mut checks = vec!["the manifest's bytes hash to its name"];
    if signed {
        checks.push("the manifest is signed by the given public key");
    }
    if sealed {
        checks.push("every sealed object opens with the given identity (age, X25519)");
    }
    checks.extend([
        "every fetched object has the size and blake3 the manifest names",
        "the segments' hash chain runs unbroken from seq 1 to the restored head",
        "every version up to the restored head has its content",
    ]);
    if at_head {
        checks.push("the log ends at the manifest's head");
        checks.push("the restored notes hash to the manifest's state digest");
    }
    checks
}

/// Gets every object of `plan`; a missing one is damage, named with its manifest.
fn fetch(
    bucket: &mut Bucket,
    manifest: &ListedManifest,
    plan: &RestorePlan,
) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let mut progress = Progress::new(plan.keys().count(), plan.bytes(), Instant::now());
    let mut fetched = BTreeMap::new();
    for key in plan.keys() {
        let Some(bytes) = bucket.get(key)? else {
            return Err(Failure::Damaged(format!(
                "object {key} is missing (named by manifest {})",
                manifest.key
            )));
        };
        if let Some(line) = progress.advance(bytes.len() as u64, Instant::now()) {
            eprintln!("{line}");
        }
        fetched.insert(key.to_owned(), bytes);
    }
    Ok(fetched)
}

/// When to print a progress line: at each tenth of the bytes (or of the objects), at most
/// once a second in between, and at the end.
#[derive(Debug)]
struct Progress {
    objects: usize,
    bytes: u64,
    done_objects: usize,
    done_bytes: u64,
    tenth: u64,
    last: Instant,
}

impl Progress {
    fn new(objects: usize, bytes: u64, now: Instant) -> Progress {
        Progress {
            objects,
            bytes,
            done_objects: 0,
            done_bytes: 0,
            tenth: 0,
            last: now,
        }
    }

    /// Counts one fetched object of `bytes`; the line to print, if one is due.
    fn advance(&mut self, bytes: u64, now: Instant) -> Option<String> {
        self.done_objects += 1;
        self.done_bytes += bytes;
        let by_bytes = (self.done_bytes * 10).checked_div(self.bytes).unwrap_or(10);
        let by_objects = (self.done_objects as u64 * 10) / self.objects.max(1) as u64;
        let tenth = by_bytes.max(by_objects).min(10);
        let done = self.done_objects >= self.objects;
        let due = tenth > self.tenth || now.duration_since(self.last) >= Duration::from_secs(1);
        if !due && !done {
            return None;
        }
        self.tenth = tenth;
        self.last = now;
        Some(format!(
            "restore: fetched {}/{} objects, {} of {}",
            self.done_objects,
            self.objects,
            human_bytes(self.done_bytes),
            human_bytes(self.bytes)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_prints_at_each_tenth_each_second_and_at_the_end() {
        let start = Instant::now();
        let mut progress = Progress::new(100, 100, start);
        let lines: Vec<Option<String>> = (0..100).map(|_| progress.advance(1, start)).collect();
        assert_eq!(lines.iter().flatten().count(), 10, "one a tenth");
        assert_eq!(
            lines[99].as_deref(),
            Some("restore: fetched 100/100 objects, 100 B of 100 B")
        );
        let mut slow = Progress::new(1_000, 1_000, start);
        assert_eq!(slow.advance(1, start), None);
        assert!(slow.advance(1, start + Duration::from_secs(1)).is_some());
        assert_eq!(slow.advance(1, start + Duration::from_millis(1_500)), None);
    }

    #[test]
    fn checks_at_the_head_include_the_digest() {
        assert!(
            checks(true, false, false)
                .iter()
                .any(|c| c.contains("state digest"))
        );
        assert!(
            !checks(false, false, false)
                .iter()
                .any(|c| c.contains("state digest"))
        );
        assert!(
            checks(true, true, true)
                .iter()
                .any(|c| c.contains("identity"))
        );
        assert!(
            checks(true, true, true)
                .iter()
                .any(|c| c.contains("signed"))
        );
    }
}
