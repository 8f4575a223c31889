//! `second-brain smoke --url URL [--token-env NAME]`: drives [`second_brain_tools::smoke`]
//! against a running Worker with a blocking HTTP client, printing one line per check.
//! Exit 0 when every check passed, 7 when one failed, 2 for bad flags or a missing token.

use std::time::{Duration, Instant};

use anyhow::Result;
use second_brain_tools::smoke::{Outcome, Probe, Reply, SmokeRun};
use serde::Serialize;

use crate::backup_cmd::Failure;

/// Arguments of `smoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The Worker's base URL (`https://second-brain-mcp.example.workers.dev`).
    #[arg(long)]
    url: String,
    /// The environment variable that holds a bearer token for the MCP checks (write, read,
    /// search and delete a probe note under `_smoke/`). Without it only the anonymous checks
    /// run. The token is never printed.
    #[arg(long)]
    token_env: Option<String>,
    /// Seconds each request may take.
    #[arg(long, default_value_t = 15)]
    timeout_secs: u64,
    /// Print the outcomes as JSON instead of lines.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    url: &'a str,
    passed: bool,
    checks: &'a [Outcome],
    health: Option<&'a second_brain_tools::smoke::Health>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let token = match &args.token_env {
        None => None,
        Some(name) => Some(std::env::var(name).map_err(|_| {
            Failure::Settings(format!("--token-env {name}: the variable is not set"))
        })?),
    };
    let smoke = run_checks(&args.url, token, args.timeout_secs, !args.json)?;
    if args.json {
        let report = Report {
            url: &args.url,
            passed: smoke.passed(),
            checks: smoke.outcomes(),
            health: smoke.health(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if smoke.passed() {
        Ok(())
    } else {
        Err(Failure::Check(format!("smoke failed: {}", failures(&smoke))).into())
    }
}

/// Runs every check against `url` (with `token`, the MCP checks too), printing a line per
/// check on stderr when `progress`.
pub(crate) fn run_checks(
    url: &str,
    token: Option<String>,
    timeout_secs: u64,
    progress: bool,
) -> Result<SmokeRun> {
    let mut smoke =
        SmokeRun::new(url, token, &nonce()?).map_err(|e| Failure::Settings(e.to_string()))?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // At most one request per check; the machine ends on its own.
    while let Some((check, probe)) = smoke.next_probe() {
        let started = Instant::now();
        smoke.handle(send(&http, &probe));
        if progress {
            let outcome = smoke.outcomes().last().expect("handled");
            eprintln!(
                "  {} {:<22} {:>5} ms  {}",
                if outcome.passed { "ok  " } else { "FAIL" },
                format!("{check:?}"),
                started.elapsed().as_millis(),
                outcome.detail
            );
        }
    }
    Ok(smoke)
}

/// The failed checks of `smoke`, in one line.
pub(crate) fn failures(smoke: &SmokeRun) -> String {
    smoke
        .outcomes()
        .iter()
        .filter(|o| !o.passed)
        .map(|o| format!("{:?}: {}", o.check, o.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sends `probe`; the reply, or why there is none.
fn send(http: &reqwest::blocking::Client, probe: &Probe) -> Result<Reply, String> {
    let method = reqwest::Method::from_bytes(probe.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = http.request(method, &probe.url);
    for (name, value) in &probe.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &probe.body {
        request = request.body(body.clone());
    }
    let response = request.send().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = response.bytes().map_err(|e| e.to_string())?.to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// 20 random lowercase letters: the probe's name and the word search must find.
fn nonce() -> Result<String> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random bytes: {e}"))?;
    Ok(bytes.iter().map(|b| char::from(b'a' + b % 26)).collect())
}
