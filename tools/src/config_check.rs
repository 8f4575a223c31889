//! `second-brain validate-config`: checks `wrangler.toml` before anything is deployed.
//!
//! What it checks, per environment (`dev` and `production`, which must both exist):
//! - the bindings the Worker needs are there with their fixed names (`STORAGE`, `OAUTH_KV`,
//!   `RATE_LIMIT_KV`, `MCP_SESSION` -> class `MCPSessionDurableObject`, `ANALYTICS`), plus a
//!   cron trigger and the `GITHUB_ALLOWED_USER_ID` var;
//! - the two environments share nothing: Worker name, bucket, KV namespace ids, dataset;
//! - the Worker names are the fixed ones (`second-brain-mcp`, `second-brain-mcp-dev`);
//! - no secret is set as a var;
//! - no deployed environment (dev and production alike: both are on the internet) selects
//!   local-development mode: no `LOCAL_DEV` other than `"0"`, no `DEV_*` var (such as
//!   `DEV_WITHOUT_TOKEN` or `DEV_USER`), no GitHub stand-in (`GITHUB_BASE_URL`), no loopback URL
//!   in any var;
//! - placeholders: KV ids that are not 32 hex characters, an empty allowlist and a missing
//!   `PUBLIC_BASE_URL` in production are warnings, and errors with `--strict` (what a deploy
//!   runs).
//!
//! Errors make the command exit non-zero. It reads the file only; it never calls Cloudflare.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use toml::Value;

/// Arguments of `validate-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The wrangler configuration to check.
    #[arg(long, default_value = "wrangler.toml")]
    file: PathBuf,
    /// Treat placeholders (local KV ids, an empty allowlist) as errors, as a deploy must.
    #[arg(long)]
    strict: bool,
}

/// Secrets: set with `wrangler secret put`, never as vars.
const SECRETS: [&str; 8] = [
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    "COOKIE_ENCRYPTION_KEY",
    "S3_BACKUP_ACCESS_KEY",
    "S3_BACKUP_SECRET_KEY",
    "S3_BACKUP_BUCKET",
    "S3_BACKUP_REGION",
    "ADMIN_TOKEN",
];

/// The environments and their fixed Worker names.
const ENVIRONMENTS: [(&str, &str); 2] = [
    ("dev", "second-brain-mcp-dev"),
    ("production", "second-brain-mcp"),
];

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Blocks a deploy.
    Error,
    /// Worth fixing; blocks a deploy only with `--strict`.
    Warning,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    /// The environment it concerns, or `None` for the file as a whole.
    pub(crate) env: Option<&'static str>,
    pub(crate) message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.env {
            Some(env) => write!(f, "{level} [{env}]: {}", self.message),
            None => write!(f, "{level}: {}", self.message),
        }
    }
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let findings = check(&text, args.strict);
    for finding in &findings {
        println!("{finding}");
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if errors > 0 {
        bail!("{} has {errors} error(s)", args.file.display());
    }
    println!(
        "{}: ok ({} warning(s))",
        args.file.display(),
        findings.len()
    );
    Ok(())
}

/// Every finding for the configuration `text`. With `strict`, placeholders are errors.
pub(crate) fn check(text: &str, strict: bool) -> Vec<Finding> {
    let mut out = Findings {
        list: Vec::new(),
        strict,
    };
    let root: Value = match toml::from_str::<toml::Table>(text) {
        Ok(root) => Value::Table(root),
        Err(err) => {
            out.error(None, format!("not valid TOML: {err}"));
            return out.list;
        }
    };
    let mut seen: Vec<(&'static str, Vec<(&'static str, String)>)> = Vec::new();
    for (env, worker_name) in ENVIRONMENTS {
        let Some(table) = root.get("env").and_then(|e| e.get(env)) else {
            out.error(None, format!("no [env.{env}] section"));
            continue;
        };
        let names = check_env(&mut out, env, worker_name, table);
        seen.push((env, names));
    }
    // Nothing may be shared between environments.
    if let [(a, names_a), (b, names_b)] = seen.as_slice() {
        for (what, value) in names_a {
            if names_b.iter().any(|(w, v)| w == what && v == value) {
                out.error(
                    None,
                    format!("{a} and {b} share the {what} {value:?}; environments share nothing"),
                );
            }
        }
    }
    out.list
}

struct Findings {
    list: Vec<Finding>,
    strict: bool,
}

impl Findings {
    fn error(&mut self, env: Option<&'static str>, message: String) {
        self.list.push(Finding {
            severity: Severity::Error,
            env,
            message,
        });
    }

    fn placeholder(&mut self, env: &'static str, message: String) {
        let severity = if self.strict {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.list.push(Finding {
            severity,
            env: Some(env),
            message,
        });
    }
}

/// Checks one environment; returns the names it uses that must be unique to it.
fn check_env(
    out: &mut Findings,
    env: &'static str,
    worker_name: &str,
    table: &Value,
) -> Vec<(&'static str, String)> {
    let mut names = Vec::new();
    let str_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);

    match str_of(table, "name") {
        Some(name) if name == worker_name => names.push(("Worker name", name)),
        Some(name) => out.error(
            Some(env),
            format!("the Worker is named {name:?}; it must be {worker_name:?}"),
        ),
        None => out.error(Some(env), format!("no name (expected {worker_name:?})")),
    }

    let array = |key: &str| -> Vec<Value> {
        table
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let binding = |list: &[Value], name: &str| -> Option<Value> {
        list.iter()
            .find(|b| b.get("binding").and_then(Value::as_str) == Some(name))
            .cloned()
    };

    let r2 = array("r2_buckets");
    match binding(&r2, "STORAGE").and_then(|b| str_of(&b, "bucket_name")) {
        Some(bucket) => names.push(("R2 bucket", bucket)),
        None => out.error(Some(env), "no R2 binding STORAGE with a bucket_name".into()),
    }

    let kv = array("kv_namespaces");
    for name in ["OAUTH_KV", "RATE_LIMIT_KV"] {
        match binding(&kv, name).and_then(|b| str_of(&b, "id")) {
            Some(id) => {
                let real = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
                if !real {
                    out.placeholder(
                        env,
                        format!(
                            "{name} has id {id:?}, not a namespace id; put the id \
                             `wrangler kv namespace create` printed"
                        ),
                    );
                }
                names.push(("KV namespace id", id));
            }
            None => out.error(Some(env), format!("no KV binding {name} with an id")),
        }
    }

    let durable = table
        .get("durable_objects")
        .and_then(|d| d.get("bindings"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let session = durable
        .iter()
        .find(|b| b.get("name").and_then(Value::as_str) == Some("MCP_SESSION"));
    match session.and_then(|b| str_of(b, "class_name")) {
        Some(class) if class == "MCPSessionDurableObject" => {}
        Some(class) => out.error(
            Some(env),
            format!("MCP_SESSION binds class {class:?}; it must be MCPSessionDurableObject"),
        ),
        None => out.error(Some(env), "no Durable Object binding MCP_SESSION".into()),
    }

    let analytics = array("analytics_engine_datasets");
    match binding(&analytics, "ANALYTICS").and_then(|b| str_of(&b, "dataset")) {
        Some(dataset) => names.push(("Analytics Engine dataset", dataset)),
        None => out.error(Some(env), "no Analytics Engine binding ANALYTICS".into()),
    }

    let crons = table
        .get("triggers")
        .and_then(|t| t.get("crons"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if crons == 0 {
        out.error(
            Some(env),
            "no cron trigger (backups and restore drills run from it)".into(),
        );
    }

    let vars = table
        .get("vars")
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    for secret in SECRETS {
        if vars.contains_key(secret) {
            out.error(
                Some(env),
                format!("{secret} is a secret: set it with `wrangler secret put`, not in vars"),
            );
        }
    }
    match vars.get("GITHUB_ALLOWED_USER_ID").map(Value::as_str) {
        None => out.error(Some(env), "no GITHUB_ALLOWED_USER_ID var".into()),
        Some(None) => out.error(
            Some(env),
            "GITHUB_ALLOWED_USER_ID must be a string of comma-separated ids".into(),
        ),
        Some(Some(list)) if list.trim().is_empty() => out.placeholder(
            env,
            "GITHUB_ALLOWED_USER_ID is empty: nobody can sign in".into(),
        ),
        Some(Some(list)) => {
            let bad: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
                .collect();
            if !bad.is_empty() {
                out.error(
                    Some(env),
                    format!("GITHUB_ALLOWED_USER_ID has entries that are not numeric ids: {bad:?}"),
                );
            }
        }
    }

    if env == "production" {
        match vars.get("PUBLIC_BASE_URL").and_then(Value::as_str) {
            None => out.placeholder(
                env,
                "PUBLIC_BASE_URL is not set: sign-in and /mcp answer 503 until it names the \
                 Worker's https origin"
                    .into(),
            ),
            Some(url) if !url.starts_with("https://") => out.error(
                Some(env),
                format!("PUBLIC_BASE_URL {url:?} must be an https origin"),
            ),
            Some(_) => {}
        }
    }
    // Local development belongs to `wrangler dev` on this machine, never to a deployment
    // (the Worker also ignores it for requests that are not from loopback).
    for (key, value) in &vars {
        let text = value.as_str().unwrap_or_default();
        if key == "LOCAL_DEV" && text != "0" {
            out.error(
                Some(env),
                "LOCAL_DEV is set: local-development mode must never reach a deployment (it \
                 is for `wrangler dev` on your own machine)"
                    .into(),
            );
        } else if key.starts_with("DEV_") {
            out.error(Some(env), format!("{key} is a local-development var"));
        } else if key == "GITHUB_BASE_URL" {
            out.error(
                Some(env),
                "GITHUB_BASE_URL selects a GitHub stand-in; a deployment signs in with GitHub"
                    .into(),
            );
        }
        if is_loopback_url(text) {
            out.error(
                Some(env),
                format!("{key} points at a loopback address ({text})"),
            );
        }
    }
    names
}

fn is_loopback_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| {
        matches!(
            url.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
        ) || url.host_str().is_some_and(|h| h.starts_with("127."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = include_str!("../../wrangler.toml");

    fn errors(text: &str, strict: bool) -> Vec<String> {
        check(text, strict)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn the_committed_configuration_has_no_errors() {
        assert_eq!(errors(COMMITTED, false), Vec::<String>::new());
    }

    #[test]
    fn strict_mode_refuses_the_committed_placeholders() {
        let strict = errors(COMMITTED, true);
        assert!(
            strict.iter().any(|e| e.contains("not a namespace id")),
            "{strict:?}"
        );
        assert!(
            strict.iter().any(|e| e.contains("nobody can sign in")),
            "{strict:?}"
        );
    }

    fn production_with(line: &str) -> String {
        COMMITTED.replacen(
            "[env.production]\n",
            &format!("[env.production]\n{line}\n"),
            1,
        )
    }

    #[test]
    fn local_development_mode_is_refused_in_production() {
        let text = COMMITTED.replace(
            "vars = { ENVIRONMENT = \"production\"",
            "vars = { LOCAL_DEV = \"1\", GITHUB_BASE_URL = \"http://127.0.0.1:9000\", ENVIRONMENT = \"production\"",
        );
        assert_ne!(text, COMMITTED, "the test must change the production vars");
        let found = errors(&text, false);
        assert!(
            found.iter().any(|e| e.contains("LOCAL_DEV is set")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|e| e.contains("GitHub stand-in")),
            "{found:?}"
        );
        assert!(found.iter().any(|e| e.contains("loopback")), "{found:?}");
        assert!(
            found.iter().all(|e| e.contains("[production]")),
            "{found:?}"
        );
    }

    #[test]
    fn local_development_mode_is_refused_in_the_deployed_dev_environment_too() {
        let text = COMMITTED.replace(
            "vars = { ENVIRONMENT = \"dev\"",
            "vars = { LOCAL_DEV = \"1\", DEV_WITHOUT_TOKEN = \"1\", ENVIRONMENT = \"dev\"",
        );
        assert_ne!(text, COMMITTED, "the test must change the dev vars");
        let found = errors(&text, false);
        assert!(
            found
                .iter()
                .any(|e| e.contains("[dev]") && e.contains("LOCAL_DEV is set")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|e| e.contains("[dev]") && e.contains("DEV_WITHOUT_TOKEN")),
            "{found:?}"
        );
        let switched_off = COMMITTED.replace(
            "vars = { ENVIRONMENT = \"dev\"",
            "vars = { LOCAL_DEV = \"0\", ENVIRONMENT = \"dev\"",
        );
        assert_eq!(errors(&switched_off, false), Vec::<String>::new());
    }

    #[test]
    fn secrets_in_vars_and_shared_names_are_errors() {
        let text = COMMITTED
            .replace(
                "vars = { ENVIRONMENT = \"dev\"",
                "vars = { COOKIE_ENCRYPTION_KEY = \"00\", ENVIRONMENT = \"dev\"",
            )
            .replace(
                "bucket_name = \"second-brain-dev\"",
                "bucket_name = \"second-brain\"",
            );
        let found = errors(&text, false);
        assert!(
            found
                .iter()
                .any(|e| e.contains("COOKIE_ENCRYPTION_KEY is a secret")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|e| e.contains("share the R2 bucket")),
            "{found:?}"
        );
    }

    #[test]
    fn missing_bindings_and_bad_toml_are_errors() {
        let text =
            production_with("").replace("binding = \"RATE_LIMIT_KV\"", "binding = \"OTHER\"");
        let found = errors(&text, false);
        assert!(
            found.iter().any(|e| e.contains("RATE_LIMIT_KV")),
            "{found:?}"
        );
        let found = errors("name = ", false);
        assert!(found[0].contains("not valid TOML"), "{found:?}");
        let found = errors(&COMMITTED.replace("[env.dev]", "[env.staging]"), false);
        assert!(
            found.iter().any(|e| e.contains("no [env.dev]")),
            "{found:?}"
        );
    }

    #[test]
    fn allowlists_must_be_numeric_ids() {
        let text = COMMITTED.replace(
            "ENVIRONMENT = \"dev\", GITHUB_ALLOWED_USER_ID = \"\"",
            "ENVIRONMENT = \"dev\", GITHUB_ALLOWED_USER_ID = \"123, octocat\"",
        );
        assert_ne!(text, COMMITTED);
        let found = errors(&text, false);
        assert!(found.iter().any(|e| e.contains("octocat")), "{found:?}");
    }
}
