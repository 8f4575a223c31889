//! `second-brain backup verify`: is a user's backup whole?
//!
//! For the newest manifest (every one with `--all`): its bytes hash to its name, the manifest
//! it names as previous exists, every object it names is present with the size it says
//! (`HEAD`), a deterministic sample of `--read-data` percent of the objects hash to what it
//! says (`GET`), and with `--read-data 100` the log replays with the engine to the manifest's
//! head and notes digest. Every problem is reported with the object at fault; any problem is
//! exit 4, or 6 when a problem is with the keys.
//!
//! With `--signing-public-key` every manifest checked must be signed by that key. A sealed
//! backup is checked as stored (sizes, blake3 of the sealed bytes) without the identity; its
//! replay needs `--identity FILE`, and is reported as not replayed without it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use backups::layout::UserLayout;
use backups::manifest::Manifest;
use backups::restore::{self, Target};
use backups::seal::Identity;
use engine::{Config, Hash, MemoryStorage};
use serde::Serialize;

use super::bucket::Bucket;
use super::keys::KeyArgs;
use super::{Failure, S3Args, human_bytes, rfc3339};

/// Arguments of `backup verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The user whose backup to verify.
    #[arg(long)]
    user: String,
    /// Verify every manifest of the user, not only the newest.
    #[arg(long)]
    all: bool,
    /// Read this percentage of the objects back and check their blake3 (a deterministic
    /// sample, at least one object when above 0); 100 also replays the log and checks the
    /// notes digest.
    #[arg(long, value_name = "PERCENT", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    read_data: u8,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    s3: S3Args,
}

/// What was checked and what failed.
#[derive(Debug, Default, Serialize)]
struct Report {
    user: String,
    manifests: Vec<ManifestSummary>,
    /// Objects whose presence and size were checked.
    objects_headed: usize,
    /// Objects read back and hash-checked.
    objects_read: usize,
    bytes_read: u64,
    /// Manifests whose log was replayed and whose notes digest matched.
    replayed: Vec<String>,
    /// Manifests not replayed, and why (a sealed backup without `--identity`).
    not_replayed: Vec<Problem>,
    problems: Vec<Problem>,
    /// How many of the problems are with the keys (exit 6).
    key_problems: usize,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct ManifestSummary {
    key: String,
    created: String,
    head_seq: u64,
    notes: u64,
    objects: usize,
    bytes: u64,
    previous: Option<String>,
    /// The recipient its objects are sealed to, if they are.
    sealed_to: Option<String>,
}

/// One thing wrong, and the object (or manifest) at fault.
#[derive(Debug, Serialize)]
struct Problem {
    object: String,
    problem: String,
}

/// Runs the checks; prints the report; any problem is [`Failure::Damaged`].
pub(crate) fn run(args: &Args) -> Result<()> {
    let mut bucket = Bucket::new(args.s3.config()?)?;
    let identities = args.keys.identities()?;
    let trusted = args.keys.public_key()?;
    let layout = UserLayout::new(&args.user);
    let listed = bucket.manifests(&layout)?;
    if listed.is_empty() {
        return Err(Failure::NothingFound(format!("no backups for user {}", args.user)).into());
    }
    let known: BTreeSet<Hash> = listed.iter().map(|m| m.digest).collect();
    let chosen = if args.all { &listed[..] } else { &listed[..1] };
    let mut report = Report {
        user: args.user.clone(),
        ..Report::default()
    };
    let mut manifests: Vec<(String, Manifest)> = Vec::new();
    for entry in chosen {
        let manifest = match bucket.manifest(entry, trusted.as_ref()) {
            Ok(manifest) => manifest,
            Err(Failure::Damaged(problem)) => {
                report.problem(&entry.key, problem);
                continue;
            }
            Err(Failure::Keys(problem)) => {
                report.key_problem(&entry.key, problem);
                continue;
            }
            Err(other) => return Err(other.into()),
        };
        if let Some(previous) = manifest.previous
            && !known.contains(&previous)
        {
            report.problem(
                &entry.key,
                format!("broken chain: its previous manifest {previous} is not in the bucket"),
            );
        }
        report.manifests.push(ManifestSummary {
            key: entry.key.clone(),
            created: rfc3339(manifest.created_ms),
            head_seq: manifest.head.seq,
            notes: manifest.notes,
            objects: manifest.objects().count(),
            bytes: manifest.object_bytes(),
            previous: manifest.previous.map(|p| p.to_hex()),
            sealed_to: manifest.encryption.as_ref().map(|e| e.recipient.clone()),
        });
        manifests.push((entry.key.clone(), manifest));
    }

    let mut objects: BTreeMap<String, (u64, Hash)> = BTreeMap::new();
    for (_, manifest) in &manifests {
        for (key, size, blake3) in manifest.objects() {
            objects.insert(key.to_owned(), (size, *blake3));
        }
    }
    let mut bad: BTreeSet<String> = BTreeSet::new();
    for (key, (size, _)) in &objects {
        report.objects_headed += 1;
        match bucket.head(key)? {
            None => {
                report.problem(key, "missing: no such object in the bucket".into());
                bad.insert(key.clone());
            }
            Some(actual) if actual != *size => {
                report.problem(
                    key,
                    format!("altered: it is {actual} bytes, the manifest says {size}"),
                );
                bad.insert(key.clone());
            }
            Some(_) => {}
        }
    }

    let mut fetched: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for key in sample(objects.keys().map(String::as_str), args.read_data) {
        if bad.contains(key) {
            continue;
        }
        let (size, blake3) = objects[key];
        let Some(bytes) = bucket.get(key)? else {
            report.problem(key, "missing: it vanished between HEAD and GET".into());
            bad.insert(key.to_owned());
            continue;
        };
        report.objects_read += 1;
        report.bytes_read += bytes.len() as u64;
        let actual = Hash::of(&bytes);
        if actual != blake3 || bytes.len() as u64 != size {
            report.problem(
                key,
                format!("altered: its bytes hash to {actual}, the manifest says {blake3}"),
            );
            bad.insert(key.to_owned());
        } else if args.read_data == 100 {
            fetched.insert(key.to_owned(), bytes);
        }
    }

    if args.read_data == 100 {
        for (key, manifest) in &manifests {
            if manifest
                .objects()
                .any(|(object, _, _)| bad.contains(object))
            {
                continue; // Already reported; a replay would only repeat it.
            }
            if manifest.encryption.is_some() && identities.is_empty() {
                report.not_replayed.push(Problem {
                    object: key.clone(),
                    problem: "sealed: the replay needs --identity FILE (objects were checked \
                              as stored)"
                        .into(),
                });
                continue;
            }
            if let Err(e) = restore::check_identities(manifest, &identities) {
                report.key_problem(key, e.to_string());
                continue;
            }
            match replay(manifest, &identities, &fetched) {
                Ok(()) => report.replayed.push(key.clone()),
                Err(problem) => report.problem(key, problem),
            }
        }
    }

    report.ok = report.problems.is_empty();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report, args.read_data);
    }
    if report.ok {
        return Ok(());
    }
    let first = &report.problems[0];
    let message = format!(
        "the backup of user {} {} ({} problem(s)); first: {}: {}",
        args.user,
        if report.key_problems > 0 {
            "does not fit the keys given"
        } else {
            "is damaged"
        },
        report.problems.len(),
        first.object,
        first.problem
    );
    Err(if report.key_problems > 0 {
        Failure::Keys(message)
    } else {
        Failure::Damaged(message)
    }
    .into())
}

/// Replays the manifest's log from the fetched objects and checks its head and digest.
fn replay(
    manifest: &Manifest,
    identities: &[Identity],
    fetched: &BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    let plan = restore::plan(manifest, Target::Head).map_err(|e| e.to_string())?;
    let assembled =
        restore::assemble(manifest, identities, &plan, fetched).map_err(|e| e.to_string())?;
    restore::rebuild(
        manifest,
        &assembled,
        MemoryStorage::default(),
        Config::default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

impl Report {
    fn problem(&mut self, object: &str, problem: String) {
        self.problems.push(Problem {
            object: object.to_owned(),
            problem,
        });
    }

    fn key_problem(&mut self, object: &str, problem: String) {
        self.key_problems += 1;
        self.problem(object, problem);
    }
}

fn print_text(report: &Report, percent: u8) {
    println!(
        "user {}: {} manifest(s) checked",
        report.user,
        report.manifests.len()
    );
    for m in &report.manifests {
        println!(
            "  {}  created {}, head seq {}, {} notes, {} objects, {}",
            m.key,
            m.created,
            m.head_seq,
            m.notes,
            m.objects,
            human_bytes(m.bytes)
        );
    }
    println!(
        "objects: {} checked for presence and size; {} read back and hash-checked ({}, --read-data {percent})",
        report.objects_headed,
        report.objects_read,
        human_bytes(report.bytes_read)
    );
    for key in &report.replayed {
        println!("replayed: {key}: head and notes digest match");
    }
    for p in &report.not_replayed {
        println!("not replayed: {}: {}", p.object, p.problem);
    }
    for p in &report.problems {
        println!("PROBLEM {}: {}", p.object, p.problem);
    }
    if report.ok {
        println!("verify: ok");
    } else {
        println!("verify: {} problem(s)", report.problems.len());
    }
}

/// The keys to read back: `percent` of them rounded up (at least one when `percent` > 0),
/// chosen by the blake3 of the key, so the same bucket gives the same sample and a larger
/// percentage reads a superset.
pub(crate) fn sample<'a>(keys: impl IntoIterator<Item = &'a str>, percent: u8) -> Vec<&'a str> {
    let mut ranked: Vec<(Hash, &str)> = keys
        .into_iter()
        .map(|key| (Hash::of(key.as_bytes()), key))
        .collect();
    ranked.sort();
    let count = (ranked.len() * usize::from(percent.min(100))).div_ceil(100);
    let mut chosen: Vec<&str> = ranked.into_iter().take(count).map(|(_, k)| k).collect();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_deterministic_rounds_up_and_grows_with_the_percentage() {
        let keys: Vec<String> = (0..10).map(|i| format!("users/1/packs/{i}.pack")).collect();
        let all = || keys.iter().map(String::as_str);
        assert!(sample(all(), 0).is_empty());
        assert_eq!(sample(all(), 1).len(), 1, "at least one above 0");
        assert_eq!(sample(all(), 25).len(), 3, "rounded up");
        assert_eq!(sample(all(), 100).len(), 10);
        assert_eq!(
            sample(all(), 40),
            sample(all().rev(), 40),
            "order does not matter"
        );
        let small = sample(all(), 30);
        let large = sample(all(), 70);
        assert!(
            small.iter().all(|k| large.contains(k)),
            "{small:?} within {large:?}"
        );
        assert!(sample(std::iter::empty(), 50).is_empty());
    }
}
