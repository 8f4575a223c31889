//! Backups end to end: notes written through MCP (the rmcp client), exported by the user's
//! object into S3 (s3s-fs beside the Worker, which checks every signature), read back from the
//! bucket, restored with the engine and compared with what MCP serves.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backups::layout::UserLayout;
use backups::manifest::Manifest;
use backups::restore::{self, RestoreError, Target};
use backups::s3::{self, BlockingHttp, Operation, S3Config};
use engine::{Config, MemoryStorage, Store};
use second_brain_tools::s3_http::S3Http;
use serde_json::{Value, json};

use crate::local_worker::{
    LOCAL_BACKUP_VARS, LOCAL_DEV_VARS, LocalWorker, Options, client, local_backup_bucket,
};
use crate::mcp::{Client, connect, ok, run, wait_for_log};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The backup bucket beside `worker`.
fn bucket(worker: &LocalWorker) -> S3Config {
    S3Config {
        endpoint: worker.s3_url().expect("the worker has a backup bucket"),
        region: LOCAL_BACKUP_VARS[3].1.into(),
        bucket: local_backup_bucket().into(),
        access_key: LOCAL_BACKUP_VARS[0].1.into(),
        secret_key: LOCAL_BACKUP_VARS[1].1.into(),
    }
}

/// Every manifest of `user`, newest first.
fn manifests(worker: &LocalWorker, user: &str) -> Vec<Manifest> {
    let s3 = bucket(worker);
    let mut http = S3Http::new().expect("an HTTP client");
    let layout = UserLayout::new(user);
    let listed = s3::list_all(&mut http, &s3, &layout.manifests(), now_ms).expect("listing");
    listed
        .iter()
        .map(|object| Manifest::decode(&get(&s3, &mut http, &object.key).unwrap()).unwrap())
        .collect()
}

fn get(s3: &S3Config, http: &mut S3Http, key: &str) -> Result<Vec<u8>, s3::S3Error> {
    let response = http
        .send(s3.get_object(key, now_ms()).expect("signed"))
        .expect("an answer");
    s3::check(&response, Operation::GetObject, key)?;
    Ok(response.body)
}

/// Note contents by hash.
type Contents = BTreeMap<engine::Hash, Vec<u8>>;

/// Restores `manifest` to `target` from the bucket, as the operator's restore does.
fn restore_from(
    worker: &LocalWorker,
    manifest: &Manifest,
    target: Target,
) -> Result<(Store<MemoryStorage>, Contents), RestoreError> {
    let s3 = bucket(worker);
    let mut http = S3Http::new().expect("an HTTP client");
    let plan = restore::plan(manifest, target)?;
    let fetched: BTreeMap<String, Vec<u8>> = plan
        .keys()
        .filter_map(|key| Some((key.to_owned(), get(&s3, &mut http, key).ok()?)))
        .collect();
    let assembled = restore::assemble(manifest, &[], &plan, &fetched)?;
    let store = restore::rebuild(
        manifest,
        &assembled,
        MemoryStorage::default(),
        Config::default(),
    )?;
    Ok((store, assembled.contents))
}

/// Every note a restored store holds: path -> text.
fn restored_notes(store: &Store<MemoryStorage>, contents: &Contents) -> BTreeMap<String, String> {
    store
        .notes()
        .collect()
        .unwrap()
        .files()
        .iter()
        .map(|(path, entry)| {
            let bytes = &contents[&entry.hash];
            (
                path.as_str().to_owned(),
                String::from_utf8(bytes.clone()).unwrap(),
            )
        })
        .collect()
}

/// Every note as MCP serves it: path -> text (glob pages, then read).
async fn served_notes(client: &Client) -> BTreeMap<String, String> {
    let mut notes = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"pattern": "**", "limit": 100});
        if let Some(cursor) = &cursor {
            args["cursor"] = json!(cursor);
        }
        let page = ok(client, "glob", args).await;
        for file in page["files"].as_array().unwrap() {
            let path = file["path"].as_str().unwrap().to_owned();
            let read = ok(client, "read", json!({"path": path})).await;
            notes.insert(path, read["content"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return notes,
        }
    }
}

/// The operator CLI, built once (a workspace test run has built it already).
pub(crate) fn cli() -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let root = crate::local_worker::repo_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    BUILT.call_once(|| {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "second-brain-tools",
                "--bin",
                "second-brain",
            ])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the CLI builds");
    });
    target.join("debug/second-brain")
}

/// `second-brain restore --user U ARGS --to DIR` against the worker's bucket: its exit code
/// and stderr.
fn cli_restore(
    worker: &LocalWorker,
    user: &str,
    args: &[&str],
    dir: &std::path::Path,
) -> (i32, String) {
    let output = std::process::Command::new(cli())
        .args(["restore", "--user", user, "--to"])
        .arg(dir)
        .args(args)
        .env("S3_BACKUP_ENDPOINT", worker.s3_url().unwrap())
        .env("S3_BACKUP_REGION", LOCAL_BACKUP_VARS[3].1)
        .env("S3_BACKUP_BUCKET", local_backup_bucket())
        .env("S3_BACKUP_ACCESS_KEY", LOCAL_BACKUP_VARS[0].1)
        .env("S3_BACKUP_SECRET_KEY", LOCAL_BACKUP_VARS[1].1)
        .output()
        .expect("the CLI runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The plain files a restore wrote (everything outside `.second-brain/`): path -> text.
fn files_in(dir: &std::path::Path) -> BTreeMap<String, String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if relative == ".second-brain" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs an export now through the local-development route; its report.
fn export_now(worker: &LocalWorker, user: &str) -> Value {
    let response = client()
        .post(worker.url(&format!("/__dev/archive/{user}?export=1")))
        .send()
        .expect("the export route answers");
    assert_eq!(response.status(), 200);
    response.json().expect("a JSON report")
}

#[test]
fn notes_written_over_mcp_are_exported_and_restore_exactly_at_each_point() {
    let worker = LocalWorker::start(Options::default());
    let user = "backup-e2e";
    let first_state = run_and_return(async {
        let client = connect(&worker, user).await;
        for i in 0..12 {
            let note = json!({"path": format!("garden/{i:02}.md"), "content": format!("# Bed {i}\n\nTomatoes {i}.\n")});
            ok(&client, "write", note).await;
        }
        ok(
            &client,
            "edit",
            json!({"path": "garden/00.md", "old_str": "Tomatoes 0.", "new_str": "Beans."}),
        )
        .await;
        ok(
            &client,
            "edit",
            json!({"path": "garden/01.md", "new_path": "archive/01.md"}),
        )
        .await;
        ok(
            &client,
            "edit",
            json!({"path": "garden/02.md", "delete": true}),
        )
        .await;
        served_notes(&client).await
    });
    // The object exports from its own alarm: the first export is due as soon as there is
    // anything to back up.
    let automatic = wait_for_log(&worker, "backup_export", 0);
    assert!(
        automatic
            .iter()
            .any(|l| l["report"]["outcome"] == "complete"),
        "no automatic export completed:\n{}",
        worker.log()
    );
    let report = export_now(&worker, user);
    assert_eq!(report["outcome"], "complete", "{report:#}");
    let first = manifests(&worker, user).remove(0);
    assert_eq!(first.head.seq, report["head_seq"].as_u64().unwrap());
    assert_eq!(first.notes as usize, first_state.len());
    let (store, contents) = restore_from(&worker, &first, Target::Head).unwrap();
    assert_eq!(restored_notes(&store, &contents), first_state);
    // Every version is there: the moved note's history and the deleted note's.
    assert!(store.notes().last_version("garden/01.md").unwrap() >= 2);
    assert!(store.notes().last_version("garden/02.md").unwrap() >= 2);

    std::thread::sleep(Duration::from_millis(5));
    let second_state = run_and_return(async {
        let client = connect(&worker, user).await;
        ok(
            &client,
            "write",
            json!({"path": "garden/03.md", "content": "replaced\n"}),
        )
        .await;
        ok(
            &client,
            "write",
            json!({"path": "new.md", "content": "after the first backup\n"}),
        )
        .await;
        served_notes(&client).await
    });
    let report = export_now(&worker, user);
    assert_eq!(report["outcome"], "complete", "{report:#}");
    let all = manifests(&worker, user);
    assert!(all.len() >= 2);
    let second = &all[0];
    assert_eq!(second.previous, Some(all[1].encode().digest));
    let (store, contents) = restore_from(&worker, second, Target::Head).unwrap();
    assert_eq!(restored_notes(&store, &contents), second_state);
    // The operator's restore gives the notes back as plain files, byte for byte, and the
    // earlier state at the first backup's seq and time.
    let scratch = tempfile::tempdir().unwrap();
    let at_head = scratch.path().join("head");
    let (code, stderr) = cli_restore(&worker, user, &[], &at_head);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(files_in(&at_head), second_state);
    let report: Value = serde_json::from_slice(
        &std::fs::read(at_head.join(".second-brain/restore-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        report["head_seq"].as_u64(),
        Some(second.head.seq),
        "{report:#}"
    );
    let seq = first.head.seq.to_string();
    let at_seq = scratch.path().join("seq");
    let (code, stderr) = cli_restore(&worker, user, &["--at", &seq], &at_seq);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(files_in(&at_seq), first_state);
    let time =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(first.created_ms) * 1_000_000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
    let at_time = scratch.path().join("time");
    let (code, stderr) = cli_restore(&worker, user, &["--time", &time], &at_time);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(files_in(&at_time), first_state);

    // The newest backup restores the earlier state too, by seq and by time.
    let (store, contents) = restore_from(&worker, second, Target::Seq(first.head.seq)).unwrap();
    assert_eq!(restored_notes(&store, &contents), first_state);
    let (store, contents) = restore_from(&worker, second, Target::Time(first.created_ms)).unwrap();
    assert_eq!(restored_notes(&store, &contents), first_state);
    // The second export uploaded only what changed: far fewer bytes than the first.
    assert!(second.object_bytes() > first.object_bytes());

    // A deleted object fails the restore, naming it.
    let pack = second.packs[0].key.clone();
    let s3 = bucket(&worker);
    let mut http = S3Http::new().unwrap();
    let response = http
        .send(s3.delete_object(&pack, now_ms()).unwrap())
        .unwrap();
    s3::check(&response, Operation::DeleteObject, &pack).unwrap();
    assert_eq!(
        restore_from(&worker, second, Target::Head).unwrap_err(),
        RestoreError::Missing { key: pack.clone() }
    );
    let (code, stderr) = cli_restore(&worker, user, &[], &scratch.path().join("damaged"));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains(&pack), "{stderr}");
    assert!(!scratch.path().join("damaged").join("new.md").exists());
}

#[test]
fn wrong_keys_fail_the_export_and_the_health_check_and_leave_no_manifest() {
    let mut vars = LOCAL_DEV_VARS.to_vec();
    for (name, value) in LOCAL_BACKUP_VARS {
        let value = if name == "S3_BACKUP_SECRET_KEY" {
            "not-the-secret"
        } else {
            value
        };
        vars.push((name, value));
    }
    let worker = LocalWorker::start(Options {
        vars,
        ..Options::default()
    });
    let user = "backup-wrong-key";
    run(async {
        let client = connect(&worker, user).await;
        ok(&client, "write", json!({"path": "a.md", "content": "a"})).await;
    });
    let report = export_now(&worker, user);
    assert_eq!(report["outcome"], "failed", "{report:#}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("SignatureDoesNotMatch"), "{error}");
    let health: Value = client()
        .get(worker.url("/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "degraded", "{health:#}");
    let probe = &health["bindings"]["S3_BACKUP"];
    assert_eq!(probe["ok"], false);
    assert!(probe["error"].as_str().unwrap().contains("403"), "{probe}");
    assert!(manifests(&worker, user).is_empty());
}

/// Runs `test` like [`run`] and returns its value.
fn run_and_return<T>(test: impl Future<Output = T>) -> T {
    let mut out = None;
    run(async {
        out = Some(test.await);
    });
    out.expect("the test finished")
}

/// Fires the cron trigger (wrangler's local route) and waits until it has run.
fn fire_cron(worker: &LocalWorker) {
    let response = client()
        .get(worker.url("/cdn-cgi/local/scheduled?cron=17+*+*+*+*"))
        .send()
        .expect("the scheduled route answers");
    assert_eq!(response.status(), 200, "{}", worker.log());
}

/// `/health` once the audit has run `runs` times (bounded wait).
fn health_after_audits(worker: &LocalWorker, runs: usize) -> Value {
    wait_for_log(worker, "backup_audit", runs - 1);
    client()
        .get(worker.url("/health"))
        .send()
        .expect("/health answers")
        .json()
        .expect("JSON")
}

#[test]
fn the_cron_drills_each_users_newest_backup_and_health_reports_a_failed_drill() {
    let worker = LocalWorker::start(Options::default());
    let users = ["drill-a", "drill-b"];
    run(async {
        for user in users {
            let client = connect(&worker, user).await;
            for i in 0..3 {
                let note = json!({"path": format!("{i}.md"), "content": format!("{user} {i}")});
                ok(&client, "write", note).await;
            }
        }
    });
    for user in users {
        assert_eq!(export_now(&worker, user)["outcome"], "complete");
    }
    fire_cron(&worker);
    let health = health_after_audits(&worker, 1);
    assert_eq!(wait_for_log(&worker, "backup_drill", 1).len(), 2);
    let drill = &health["backups"]["last_drill"];
    assert_eq!(
        (drill["users"].as_u64(), drill["passed"].as_u64()),
        (Some(2), Some(2)),
        "{health:#}"
    );
    assert!(
        health["backups"]["newest_export_age_s"].is_u64(),
        "{health:#}"
    );
    assert_eq!(health["status"], "healthy", "{health:#}");

    // Damage one user's newest backup: the next pass's drill fails, naming the object.
    let manifest = manifests(&worker, "drill-a").remove(0);
    let segment = manifest.segments[0].key.clone();
    let s3 = bucket(&worker);
    let mut http = S3Http::new().unwrap();
    let put = s3
        .put_object(
            &segment,
            b"not a segment".to_vec(),
            Default::default(),
            now_ms(),
        )
        .unwrap();
    s3::check(&http.send(put).unwrap(), Operation::PutObject, &segment).unwrap();
    fire_cron(&worker);
    let health = health_after_audits(&worker, 2);
    let drill = &health["backups"]["last_drill"];
    assert_eq!(
        (drill["users"].as_u64(), drill["passed"].as_u64()),
        (Some(2), Some(1)),
        "{health:#}"
    );
    assert_eq!(health["status"], "degraded", "{health:#}");
    let warnings = health["warnings"].to_string();
    assert!(warnings.contains("failed for 1 of 2 users"), "{warnings}");
    // /health is public: it names neither the user nor the object; the log line names the
    // object under the user's keyed tag.
    assert!(!warnings.contains("drill-a"), "{warnings}");
    let lines = wait_for_log(&worker, "backup_drill", 3);
    let failure = lines
        .iter()
        .find(|l| l["outcome"] == "failed")
        .unwrap_or_else(|| panic!("no failed drill line:\n{}", worker.log()));
    let error = failure["error"].as_str().unwrap();
    assert!(
        error.contains(&segment[segment.find("/segments/").unwrap()..]),
        "{error}"
    );
    assert!(!error.contains("drill-a"), "{error}");
    // The audit repaired the backup: the damaged object went, the user's object uploaded it
    // again, and the next pass's drill passes.
    assert_eq!(failure["repaired"], true, "{failure}");
    fire_cron(&worker);
    let health = health_after_audits(&worker, 3);
    let drill = &health["backups"]["last_drill"];
    assert_eq!(
        (drill["users"].as_u64(), drill["passed"].as_u64()),
        (Some(2), Some(2)),
        "{health:#}"
    );
    assert_eq!(health["status"], "healthy", "{health:#}");
}

#[test]
fn the_cron_prunes_what_retention_lets_go_and_the_newest_backup_still_restores() {
    // Keep only the newest backup, with no grace: everything it does not name can go.
    let mut options = Options::default();
    options.vars.push((
        "BACKUP_RETENTION",
        "all:0h daily:0h weekly:0h monthly:0h grace:0h",
    ));
    let worker = LocalWorker::start(options);
    let user = "prune-e2e";
    for round in 0..2 {
        run(async {
            let client = connect(&worker, user).await;
            let note = json!({"path": format!("{round}.md"), "content": format!("round {round}")});
            ok(&client, "write", note).await;
        });
        assert_eq!(export_now(&worker, user)["outcome"], "complete");
    }
    let before = manifests(&worker, user);
    assert!(before.len() >= 2, "{} manifests", before.len());
    let newest = before[0].clone();
    let superseded: Vec<String> = before[1]
        .segments
        .iter()
        .map(|s| s.key.clone())
        .filter(|k| !newest.segments.iter().any(|s| s.key == *k))
        .collect();
    assert!(
        !superseded.is_empty(),
        "the older backup's tail is superseded"
    );
    std::thread::sleep(Duration::from_millis(20));
    fire_cron(&worker);
    let health = health_after_audits(&worker, 1);
    assert_eq!(health["status"], "healthy", "{health:#}");
    let pruned = wait_for_log(&worker, "backup_pruned", 0);
    assert!(!pruned.is_empty(), "{}", worker.log());
    let after = manifests(&worker, user);
    assert_eq!(after, vec![newest.clone()]);
    let s3 = bucket(&worker);
    let mut http = S3Http::new().unwrap();
    for key in &superseded {
        assert!(
            matches!(get(&s3, &mut http, key), Err(s3::S3Error::NotFound { .. })),
            "{key} survived the prune"
        );
    }
    let (store, contents) = restore_from(&worker, &newest, Target::Head).unwrap();
    assert_eq!(restored_notes(&store, &contents).len(), 2);
}

#[test]
fn the_operator_rebuilds_a_users_object_from_its_archive_behind_the_admin_token() {
    const TOKEN: &str = "admin-token-for-local-tests-only-0123456789";
    let mut options = Options::default();
    // The session's opening and the eight writes (nine events) make a snapshot cycle due
    // that archives them all; the late session and write below (two events) stay short of
    // the next, so they are not archived before the rebuild.
    options.vars.push(("DEV_SNAPSHOT_EVERY_EVENTS", "9"));
    options.vars.push(("ADMIN_TOKEN", TOKEN));
    let worker = LocalWorker::start(options);
    let user = "rebuild-e2e";
    let before = run_and_return(async {
        let client = connect(&worker, user).await;
        for i in 0..8 {
            let note = json!({"path": format!("n/{i}.md"), "content": format!("note {i}")});
            ok(&client, "write", note).await;
        }
        served_notes(&client).await
    });
    wait_for_log(&worker, "snapshot_uploaded", 0);
    let rebuild = |query: &str, token: Option<&str>| {
        let mut request = client().post(worker.url(&format!("/admin/rebuild/{user}{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().expect("an answer");
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    assert_eq!(rebuild("", None).0, 401);
    assert_eq!(
        rebuild("", Some("not-the-admin-token-but-long-enough-0000")).0,
        401
    );
    let (status, plan) = rebuild("?dry_run=1", Some(TOKEN));
    assert_eq!(status, 200, "{plan:#}");
    assert!(
        plan["archive_through_seq"].as_u64().unwrap() > 0,
        "{plan:#}"
    );
    assert_eq!(
        plan["would_lose_events"], 0,
        "every note is archived: {plan:#}"
    );
    // A write after the archive would be lost: refused without force.
    run(async {
        let client = connect(&worker, user).await;
        ok(
            &client,
            "write",
            json!({"path": "late.md", "content": "not archived"}),
        )
        .await;
    });
    let (_, plan) = rebuild("?dry_run=1", Some(TOKEN));
    assert!(plan["would_lose_events"].as_u64() > Some(0), "{plan:#}");
    let (status, refused) = rebuild("", Some(TOKEN));
    assert_eq!(status, 409, "{refused:#}");
    assert_eq!(refused["error"]["code"], "would_lose_events", "{refused:#}");
    let (status, done) = rebuild("?force=1", Some(TOKEN));
    assert_eq!(status, 200, "{done:#}");
    assert_eq!(done["rebuilt"], true);
    let after = run_and_return(async {
        let client = connect(&worker, user).await;
        served_notes(&client).await
    });
    // The archived notes are back; the forced rebuild dropped the unarchived one.
    assert_eq!(after, before);
}

#[test]
fn admin_routes_do_not_exist_without_an_admin_token() {
    let worker = crate::local_worker::shared();
    let response = client()
        .post(worker.url("/admin/rebuild/someone?dry_run=1"))
        .bearer_auth("x".repeat(40))
        .send()
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn sealed_and_signed_backups_restore_only_with_the_identity_and_the_public_key() {
    let scratch = tempfile::tempdir().unwrap();
    let keys = scratch.path().join("keys.txt");
    let status = std::process::Command::new(cli())
        .args(["backup", "keygen", "--out"])
        .arg(&keys)
        .output()
        .expect("keygen runs");
    assert!(status.status.success());
    let text = std::fs::read_to_string(&keys).unwrap();
    let field = |label: &str| -> &'static str {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("# {label}")))
            .unwrap_or_else(|| panic!("no {label} in {text}"));
        Box::leak(line.rsplit(' ').next().unwrap().to_owned().into_boxed_str())
    };
    let (recipient, public_key, signing_key) = (
        field("recipient"),
        field("signing public key"),
        field("signing key"),
    );
    let mut options = Options::default();
    options.vars.push(("BACKUP_AGE_RECIPIENT", recipient));
    options.vars.push(("BACKUP_SIGNING_KEY", signing_key));
    let worker = LocalWorker::start(options);
    let user = "sealed-e2e";
    let served = run_and_return(async {
        let client = connect(&worker, user).await;
        for i in 0..5 {
            let note =
                json!({"path": format!("secret/{i}.md"), "content": format!("private {i}\n")});
            ok(&client, "write", note).await;
        }
        served_notes(&client).await
    });
    assert_eq!(export_now(&worker, user)["outcome"], "complete");
    let identity = keys.to_str().unwrap();
    let restored = scratch.path().join("restored");
    let (code, stderr) = cli_restore(
        &worker,
        user,
        &["--identity", identity, "--signing-public-key", public_key],
        &restored,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(files_in(&restored), served);
    // Without the identity the notes stay sealed: exit 6, nothing written.
    let (code, stderr) = cli_restore(&worker, user, &[], &scratch.path().join("without"));
    assert_eq!(code, 6, "{stderr}");
    assert!(!scratch.path().join("without/secret").exists());
    // The cron's drill checks a sealed backup's objects as stored (the Worker has no identity).
    fire_cron(&worker);
    let health = health_after_audits(&worker, 1);
    let drill = &health["backups"]["last_drill"];
    assert_eq!(
        (drill["users"].as_u64(), drill["passed"].as_u64()),
        (Some(1), Some(1)),
        "{health:#}"
    );
}
