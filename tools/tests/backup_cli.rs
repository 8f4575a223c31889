//! `second-brain backup list|verify` and `restore`, run as the real binary against a real S3
//! server (s3-local on a temporary directory). Backups are made natively: a user's store (the
//! engine over memory) exported with `backups::export::ExportRun`, driven step by step as the
//! Durable Object drives it, its objects uploaded with the blocking sender.

mod backup_world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use engine::file_storage::FileStorage;
use engine::{Config, Store};
use second_brain_tools::file_disk::FileDisk;
use serde_json::Value;

use backup_world::{ACCESS_KEY, BUCKET, SECRET_KEY, USER, World, busy_world, rfc3339};

/// A store's notes, read into memory.
fn memory<S: engine::Storage>(store: &Store<S>) -> engine::notes::MemoryNotes {
    store.notes().collect().expect("notes")
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    })
}

/// Every file under `dir` outside `.second-brain`, by `/`-separated relative path.
fn files_outside_meta(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap();
            if relative == Path::new(".second-brain") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = relative
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn open_restored_log(dir: &Path) -> Store<FileStorage<FileDisk>> {
    let disk = FileDisk::open(dir.join(".second-brain")).unwrap();
    Store::open(FileStorage::open(disk).unwrap(), Config::default())
        .unwrap()
        .0
}

fn restore_dir() -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("restored");
    (parent, dir)
}

#[test]
fn restore_writes_every_note_exactly_and_a_log_the_engine_opens() {
    let mut w = busy_world();
    let manifest = w.export();
    let (_parent, dir) = restore_dir();
    let started = Instant::now();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    let elapsed = started.elapsed();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    eprintln!(
        "restore --to DIR of {} notes, {} objects, {} bytes: {elapsed:?}",
        manifest.notes,
        manifest.objects().count(),
        manifest.object_bytes()
    );
    assert!(stderr(&out).contains("fetched"), "progress on stderr");

    assert_eq!(files_outside_meta(&dir), w.notes());
    // Each file carries its note's modification time.
    for (path, entry) in memory(&w.store).files().iter() {
        let file = dir.join(path.as_str());
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        let ms = modified
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert_eq!(ms, u128::from(entry.modified.0), "{}", file.display());
    }
    let log = open_restored_log(&dir);
    assert_eq!(log.head(), w.store.head());
    assert_eq!(
        log.notes().digest().unwrap(),
        w.store.notes().digest().unwrap()
    );
    // Every version of every path can be read from blobs/.
    let mut versions = 0;
    for (_, history) in memory(&w.store).history().iter() {
        for content in history.iter().filter_map(|v| v.content.as_ref()) {
            let blob = dir.join(".second-brain/blobs").join(content.hash.to_hex());
            assert_eq!(std::fs::read(blob).unwrap(), w.blobs[&content.hash]);
        }
        versions += history.len() as u64;
    }
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.join(".second-brain/restore-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["user"], USER);
    assert_eq!(report["manifest"], manifest.encode().key);
    assert_eq!(report["manifest_blake3"], manifest.encode().digest.to_hex());
    assert_eq!(report["target"], "head");
    assert_eq!(report["head_seq"], w.store.head().seq);
    assert_eq!(report["head_hash"], w.store.head().hash.to_hex());
    assert_eq!(report["notes"], manifest.notes);
    assert_eq!(report["bytes"], manifest.note_bytes);
    assert_eq!(report["versions"], versions);
    assert_eq!(report["objects_fetched"], manifest.objects().count());
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c.as_str().unwrap().contains("state digest"))
    );
}

#[test]
fn restore_at_an_earlier_seq_or_time_gives_that_state_exactly() {
    let mut w = World::new();
    w.write("a.md", b"one\n");
    w.write("b.md", b"two\n");
    let (seq, time, before) = (w.store.head().seq, w.clock, w.notes());
    w.archive_cycle();
    w.write("a.md", b"one, changed\n");
    w.delete("b.md");
    w.write("c.md", b"three\n");
    w.export();
    assert_ne!(w.notes(), before);

    let (_p1, at_seq) = restore_dir();
    let out = w.cli(&[
        "restore",
        "--user",
        USER,
        "--at",
        &seq.to_string(),
        "--to",
        at_seq.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(files_outside_meta(&at_seq), before);
    assert_eq!(open_restored_log(&at_seq).head().seq, seq);

    let (_p2, at_time) = restore_dir();
    let out = w.cli(&[
        "restore",
        "--user",
        USER,
        "--time",
        &rfc3339(time),
        "--json",
        "--to",
        at_time.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(files_outside_meta(&at_time), before);
    assert_eq!(json(&out)["target"]["time"], rfc3339(time));
    assert_eq!(json(&out)["head_seq"], seq);

    // Before the first event: nothing to restore (3); past the head: a usage error (2).
    let (_p3, early) = restore_dir();
    let out = w.cli(&[
        "restore",
        "--user",
        USER,
        "--time",
        "2001-01-01T00:00:00Z",
        "--to",
        early.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let out = w.cli(&[
        "restore",
        "--user",
        USER,
        "--at",
        "999",
        "--to",
        early.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(!early.exists());
}

#[test]
fn list_shows_every_backup_newest_first_and_says_when_there_is_none() {
    let mut w = busy_world();
    let first = w.export();
    w.write("notes/40.md", b"after the first backup\n");
    let second = w.export();
    assert_eq!(second.previous, Some(first.encode().digest));

    let out = w.cli(&["backup", "list", "--user", USER, "--json"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let rows = json(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["key"], second.encode().key);
    assert_eq!(rows[1]["key"], first.encode().key);
    assert_eq!(rows[0]["head_seq"], second.head.seq);
    assert_eq!(rows[0]["notes"], second.notes);
    assert_eq!(rows[0]["bytes"], second.object_bytes());
    assert_eq!(rows[0]["created"], rfc3339(second.created_ms));
    assert_eq!(rows[0]["sealed_to"], Value::Null);
    assert_eq!(rows[0]["signed_by"], Value::Null);

    let out = w.cli(&["backup", "list", "--user", USER]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (at_second, at_first) = (
        text.find(&second.encode().key).unwrap(),
        text.find(&first.encode().key).unwrap(),
    );
    assert!(at_second < at_first, "{text}");

    let out = w.cli(&["backup", "list", "--user", "nobody"]);
    assert_eq!(code(&out), Some(3));
    assert!(
        stderr(&out).contains("no backups for user nobody"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_passes_on_a_good_backup_and_reports_what_it_checked() {
    let mut w = busy_world();
    w.export();
    w.write("notes/41.md", b"more\n");
    let newest = w.export();
    let out = w.cli(&[
        "backup",
        "verify",
        "--user",
        USER,
        "--read-data",
        "100",
        "--json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(report["objects_headed"], newest.objects().count());
    assert_eq!(report["objects_read"], newest.objects().count());
    assert_eq!(report["replayed"][0], newest.encode().key);

    let out = w.cli(&[
        "backup",
        "verify",
        "--user",
        USER,
        "--all",
        "--read-data",
        "10",
        "--json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(report["objects_read"], 1, "10% of a few objects is one");
}

#[test]
fn a_deleted_object_fails_verify_and_restore_naming_it() {
    let mut w = busy_world();
    let manifest = w.export();
    let pack = manifest.packs[0].key.clone();
    w.remove(&pack);

    let out = w.cli(&["backup", "verify", "--user", USER]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains(&pack), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("PROBLEM {pack}: missing")));

    let (_parent, dir) = restore_dir();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains(&pack), "{}", stderr(&out));
    assert!(!dir.exists(), "a failed restore leaves nothing");
}

#[test]
fn an_altered_object_fails_verify_and_restore_naming_it() {
    let mut w = busy_world();
    let manifest = w.export();
    let segment = manifest.segments[1].key.clone();
    let mut bytes = w.get(&segment);
    bytes[10] ^= 1;
    w.overwrite(&segment, &bytes);

    // Same size: only reading it back finds it.
    let out = w.cli(&["backup", "verify", "--user", USER]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = w.cli(&["backup", "verify", "--user", USER, "--read-data", "100"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains(&segment), "{}", stderr(&out));
    assert!(stderr(&out).contains("altered"), "{}", stderr(&out));

    let (parent, dir) = restore_dir();
    std::fs::create_dir(&dir).unwrap();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains(&segment), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "the empty DIR is left empty"
    );

    // Another size: HEAD alone finds it.
    let pack = manifest.packs[0].key.clone();
    w.overwrite(&pack, b"short");
    let out = w.cli(&["backup", "verify", "--user", USER]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("PROBLEM {pack}: altered")));
    drop(parent);
}

#[test]
fn a_wrong_secret_key_is_exit_5_with_s3s_reason() {
    let mut w = busy_world();
    w.export();
    let (_parent, dir) = restore_dir();
    for args in [
        vec!["backup", "list", "--user", USER],
        vec!["backup", "verify", "--user", USER],
        vec!["restore", "--user", USER, "--to", dir.to_str().unwrap()],
    ] {
        let out = w.cli_with_secret(&args, "not-the-secret");
        assert_eq!(code(&out), Some(5), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("SignatureDoesNotMatch"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("not-the-secret"),
            "the secret is never printed"
        );
    }
    assert!(!dir.exists());
}

#[test]
fn restore_refuses_a_non_empty_directory_and_dry_run_writes_nothing() {
    let mut w = busy_world();
    let manifest = w.export();
    let (_parent, dir) = restore_dir();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep.md"), b"mine").unwrap();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert_eq!(files_outside_meta(&dir).len(), 1);
    assert!(!dir.join(".second-brain").exists());

    let (_parent2, fresh) = restore_dir();
    let out = w.cli(&[
        "restore",
        "--user",
        USER,
        "--dry-run",
        "--json",
        "--to",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let plan = json(&out);
    assert_eq!(plan["objects"], manifest.objects().count());
    assert_eq!(plan["bytes"], manifest.object_bytes());
    assert_eq!(plan["target"], "head");
    assert!(!fresh.exists(), "--dry-run wrote nothing");
}

#[test]
fn missing_settings_and_no_backup_have_their_exit_codes() {
    let w = World::new();
    let out = Command::new(env!("CARGO_BIN_EXE_second-brain"))
        .args(["backup", "list", "--user", USER])
        .env_remove("S3_BACKUP_ENDPOINT")
        .env("S3_BACKUP_REGION", "auto")
        .env("S3_BACKUP_BUCKET", BUCKET)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("S3_BACKUP_ENDPOINT"),
        "{}",
        stderr(&out)
    );

    let (_parent, dir) = restore_dir();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to restore"),
        "{}",
        stderr(&out)
    );

    // Nothing listening: unreachable is 5.
    let out = Command::new(env!("CARGO_BIN_EXE_second-brain"))
        .args([
            "backup",
            "list",
            "--user",
            USER,
            "--endpoint",
            "http://127.0.0.1:9",
        ])
        .env("S3_BACKUP_REGION", "auto")
        .env("S3_BACKUP_BUCKET", BUCKET)
        .env("S3_BACKUP_ACCESS_KEY", ACCESS_KEY)
        .env("S3_BACKUP_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}

/// 10,000 notes of 4 KiB: export, then time `restore --to DIR` and check it. Run with
/// `cargo test -p second-brain-tools --profile bench --test backup_cli -- --ignored --nocapture`
/// (or without `--profile bench` for a debug build).
#[test]
#[ignore = "slow: builds and restores a 40 MB backup"]
fn restore_of_10000_notes_of_4_kib() {
    let mut w = World::new();
    for i in 0..10_000u32 {
        let mut content = format!("# note {i}\n").into_bytes();
        content.resize(4096, b'a' + (i % 26) as u8);
        w.write(&format!("notes/{:02}/{i:05}.md", i % 100), &content);
    }
    w.archive_cycle();
    let manifest = w.export();
    let (_parent, dir) = restore_dir();
    let started = Instant::now();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    let elapsed = started.elapsed();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    eprintln!(
        "restore --to DIR: {} notes, {} objects, {} bytes in {elapsed:?}",
        manifest.notes,
        manifest.objects().count(),
        manifest.object_bytes()
    );
    assert_eq!(files_outside_meta(&dir), w.notes());
    assert_eq!(open_restored_log(&dir).head(), w.store.head());
}

#[test]
fn a_missing_previous_manifest_is_a_broken_chain_but_the_newest_still_restores() {
    let mut w = busy_world();
    let first = w.export();
    w.write("notes/42.md", b"later\n");
    let second = w.export();
    w.remove(&first.encode().key);

    let out = w.cli(&["backup", "verify", "--user", USER]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&second.encode().key),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("broken chain"), "{}", stderr(&out));

    let (_parent, dir) = restore_dir();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(files_outside_meta(&dir), w.notes());
}

#[test]
fn a_note_under_the_restore_metadata_directory_stops_the_restore_before_writing() {
    let mut w = World::new();
    w.write("a.md", b"a\n");
    w.write(
        ".second-brain/events.log",
        b"a note that would overwrite the log\n",
    );
    w.export();
    let (_parent, dir) = restore_dir();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(".second-brain/events.log"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.exists(), "nothing is left behind");
}

/// A world whose exports are sealed to a new identity and signed; the identity file and the
/// public key the operator would pass.
fn sealed_world() -> (World, tempfile::TempDir, PathBuf, String) {
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("backup-keys.txt");
    let out = Command::new(env!("CARGO_BIN_EXE_second-brain"))
        .args(["backup", "keygen", "--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let printed = String::from_utf8(out.stdout).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !printed.contains("AGE-SECRET-KEY-1"),
        "no secret on stdout with --out"
    );
    let field = |text: &str, label: &str| -> String {
        let line = text.lines().find(|l| l.contains(label)).unwrap();
        line.rsplit(' ').next().unwrap().to_owned()
    };
    let recipient: backups::seal::Recipient =
        field(&printed, "BACKUP_AGE_RECIPIENT").parse().unwrap();
    let public = field(&printed, "BACKUP_SIGNING_PUBLIC_KEY");
    let signing = backups::sign::SigningKey::from_hex(&field(&text, "BACKUP_SIGNING_KEY")).unwrap();
    assert_eq!(signing.public_key().to_string(), public);
    let mut w = busy_world();
    w.sealing = Some(recipient);
    w.signing = Some(signing);
    (w, keys, file, public)
}

#[test]
fn a_sealed_signed_backup_restores_byte_for_byte_with_the_identity_and_public_key() {
    let (mut w, _keys, identity, public) = sealed_world();
    let manifest = w.export();
    assert!(manifest.encryption.is_some());
    // The listing says how it is protected, without any key.
    let out = w.cli(&["backup", "list", "--user", USER, "--json"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let rows = json(&out);
    let recipient = manifest.encryption.as_ref().unwrap().recipient.clone();
    assert_eq!(rows[0]["sealed_to"], recipient.as_str());
    assert_eq!(rows[0]["signed_by"], public.as_str());
    let (_parent, dir) = restore_dir();
    let out = w.cli(&[
        "restore",
        "--user",
        USER,
        "--identity",
        identity.to_str().unwrap(),
        "--signing-public-key",
        &public,
        "--to",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(files_outside_meta(&dir), w.notes());
    assert_eq!(open_restored_log(&dir).head(), w.store.head());

    // verify: without the identity the objects are checked as stored and the replay is
    // reported as needing it; with it the log replays.
    let out = w.cli(&[
        "backup",
        "verify",
        "--user",
        USER,
        "--read-data",
        "100",
        "--json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["objects_read"], manifest.objects().count());
    assert_eq!(report["replayed"].as_array().unwrap().len(), 0);
    assert_eq!(report["not_replayed"].as_array().unwrap().len(), 1);
    let out = w.cli(&[
        "backup",
        "verify",
        "--user",
        USER,
        "--read-data",
        "100",
        "--identity",
        identity.to_str().unwrap(),
        "--signing-public-key",
        &public,
        "--json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&out)["replayed"][0],
        manifest.encode_with(w.signing.as_ref()).key
    );
}

#[test]
fn no_identity_or_a_wrong_one_is_exit_6_naming_the_recipient() {
    let (mut w, keys, _identity, _public) = sealed_world();
    let manifest = w.export();
    let recipient = manifest.encryption.unwrap().recipient;
    let (_parent, dir) = restore_dir();
    let out = w.cli(&["restore", "--user", USER, "--to", dir.to_str().unwrap()]);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains(&recipient), "{}", stderr(&out));
    assert!(stderr(&out).contains("identity"), "{}", stderr(&out));

    let other = keys.path().join("other.txt");
    let stranger = backups::seal::Identity::from_secret_bytes([4; 32]);
    std::fs::write(
        &other,
        format!("{}\n", stranger.to_secret_string().as_str()),
    )
    .unwrap();
    for args in [
        vec!["restore", "--user", USER, "--to", dir.to_str().unwrap()],
        vec!["backup", "verify", "--user", USER, "--read-data", "100"],
    ] {
        let mut args = args.clone();
        args.extend(["--identity", other.to_str().unwrap()]);
        let out = w.cli(&args);
        assert_eq!(code(&out), Some(6), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&recipient), "{}", stderr(&out));
        assert!(
            !stderr(&out).contains(stranger.to_secret_string().as_str()),
            "the identity is never printed"
        );
    }
    assert!(!dir.exists());
}

#[test]
fn a_manifest_signed_by_another_key_or_unsigned_is_refused_when_a_key_is_required() {
    let (mut w, _keys, identity, public) = sealed_world();
    // Signed by another key.
    w.signing = Some(backups::sign::SigningKey::from_seed([1; 32]));
    w.export();
    let (_parent, dir) = restore_dir();
    let restore = |w: &World| {
        w.cli(&[
            "restore",
            "--user",
            USER,
            "--identity",
            identity.to_str().unwrap(),
            "--signing-public-key",
            &public,
            "--to",
            dir.to_str().unwrap(),
        ])
    };
    let out = restore(&w);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("signed by"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&public), "{}", stderr(&out));
    let out = w.cli(&[
        "backup",
        "verify",
        "--user",
        USER,
        "--signing-public-key",
        &public,
    ]);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));

    // Unsigned: a newer manifest written without a key.
    w.signing = None;
    w.write("notes/60.md", b"unsigned\n");
    w.export();
    let out = restore(&w);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("not signed"), "{}", stderr(&out));
    // Without a required key, the same backup restores.
    let out = w.cli(&[
        "restore",
        "--user",
        USER,
        "--identity",
        identity.to_str().unwrap(),
        "--to",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(files_outside_meta(&dir), w.notes());
}

#[test]
fn keygen_prints_a_usable_identity_file_on_stdout_without_out() {
    let out = Command::new(env!("CARGO_BIN_EXE_second-brain"))
        .args(["backup", "keygen"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let identities = backups::seal::Identity::parse_file(&text).unwrap();
    assert_eq!(identities.len(), 1);
    assert!(text.contains(&identities[0].recipient().to_string()));
    assert!(
        stderr(&out).is_empty(),
        "nothing on stderr: {}",
        stderr(&out)
    );
}

/// Rebuilds `user`'s store from the archive bucket as an empty Durable Object does
/// (`backups::archive_restore`, pages of 2 keys).
fn rebuild_from_archive(
    config: &backups::s3::S3Config,
    user: &str,
) -> Store<engine::MemoryStorage> {
    use backups::archive_restore::{ArchiveRestore, RestoreAnswer, RestoreStep};
    use backups::s3::{self, BlockingHttp, ListRequest, Operation};
    let mut http = second_brain_tools::s3_http::S3Http::new().unwrap();
    let mut machine = ArchiveRestore::new(user, Some(2));
    let mut steps = 0;
    while let Some(step) = machine.poll() {
        steps += 1;
        assert!(steps < 10_000, "the restore does not end");
        let answer = match step {
            RestoreStep::List {
                prefix,
                cursor,
                limit,
            } => {
                let list = ListRequest {
                    prefix,
                    continuation_token: cursor,
                    max_keys: limit,
                    ..ListRequest::default()
                };
                let request = config
                    .list_objects_v2(&list, backup_world::now_ms())
                    .unwrap();
                let page = s3::parse_list(&http.send(request).unwrap()).unwrap();
                RestoreAnswer::Listed {
                    keys: page.objects.into_iter().map(|o| o.key).collect(),
                    cursor: page.next_continuation_token.filter(|_| page.is_truncated),
                }
            }
            RestoreStep::Get { key } => {
                let request = config.get_object(&key, backup_world::now_ms()).unwrap();
                let response = http.send(request).unwrap();
                match s3::check(&response, Operation::GetObject, &key) {
                    Ok(()) => RestoreAnswer::Object(Some(response.body)),
                    Err(_) => RestoreAnswer::Object(None),
                }
            }
        };
        machine.handle(answer).unwrap();
    }
    let (store, _) = machine
        .rebuild(
            engine::MemoryStorage::default(),
            Config::default(),
            engine::Timestamp(backup_world::now_ms()),
        )
        .unwrap()
        .expect("the archive holds the user's log");
    store
}

#[test]
fn restore_to_archive_writes_what_an_empty_object_rebuilds_from() {
    let mut w = busy_world();
    w.export();
    let out = w.cli_with_archive(&["restore", "--user", USER, "--to-archive"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let rebuilt = rebuild_from_archive(&w.archive_config(), USER);
    assert_eq!(
        rebuilt.notes().digest().unwrap(),
        w.store.notes().digest().unwrap()
    );
    for (path, versions) in memory(&w.store).history().iter() {
        assert_eq!(memory(&rebuilt).history().versions(path.as_str()), versions);
    }
    // Every version's content is in the archive, under the key the Worker reads.
    let archive = w.archive_config();
    let mut http = second_brain_tools::s3_http::S3Http::new().unwrap();
    for (_, versions) in memory(&w.store).history().iter() {
        for content in versions.iter().filter_map(|v| v.content.as_ref()) {
            let key = backups::archive::blob_key(USER, &content.hash);
            let request = archive.get_object(&key, backup_world::now_ms()).unwrap();
            use backups::s3::BlockingHttp;
            let response = http.send(request).unwrap();
            assert_eq!(response.status, 200, "{key}");
            assert_eq!(response.body, w.blobs[&content.hash]);
        }
    }
    // A second restore would mix two logs: refused, unless --replace.
    let out = w.cli_with_archive(&["restore", "--user", USER, "--to-archive"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    let out = w.cli_with_archive(&["restore", "--user", USER, "--to-archive", "--replace"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        rebuild_from_archive(&w.archive_config(), USER)
            .notes()
            .digest()
            .unwrap(),
        w.store.notes().digest().unwrap()
    );
    // Without the archive bucket's settings: exit 2, naming what is missing.
    let out = w.cli(&["restore", "--user", USER, "--to-archive"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("R2_ARCHIVE"), "{}", stderr(&out));
}
