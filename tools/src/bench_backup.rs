//! `second-brain bench-backup`: the backup path's figures against a local Worker
//! (`scripts/dev.sh`, which runs the backup bucket beside it): the first export of a user's
//! notes (time, runs, requests, bytes), the incremental export after a share of them changed,
//! `restore --to DIR`, `backup verify --read-data 100`, and a cron run's drill.
//!
//! Exports run through the local-development route (`POST /__dev/archive/{user}?export=1`),
//! one bounded run per call, as the object's alarm would run them back to back. Everything is
//! on loopback and bounded: at most 1,000 export runs per export, every HTTP call with a
//! timeout.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::bench_mcp::corpus::Corpus;

/// The most export runs one export may take before the bench gives up.
const MAX_RUNS: u32 = 1_000;

/// Times the backup path against a local Worker.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Base URL of the Worker (scripts/dev.sh); must be loopback.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    url: String,
    /// The backup bucket's endpoint (scripts/dev.sh: PORT + 1).
    #[arg(long, default_value = "http://127.0.0.1:8788")]
    s3_url: String,
    /// The user (X-Dev-User); a new name starts from an empty object.
    #[arg(long, default_value = "bench-backup")]
    user: String,
    /// Notes of 4 KiB to write (skipped for notes already there).
    #[arg(long, default_value_t = 10_000)]
    notes: u32,
    /// Percent of the notes changed before the incremental export.
    #[arg(long, default_value_t = 1)]
    change_percent: u32,
    /// Concurrent writers.
    #[arg(long, default_value_t = 4)]
    writers: u32,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// What one export took.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct ExportFigures {
    runs: u32,
    wall_ms: u64,
    requests: u64,
    bytes: u64,
    segments: u64,
    packs: u64,
    /// The longest run, as the object measured it (wall time inside workerd).
    max_run_ms: u64,
    mean_run_ms: u64,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let base = reqwest::Url::parse(&args.url).context("parsing --url")?;
    ensure!(
        matches!(base.host_str(), Some("127.0.0.1" | "localhost")),
        "--url must be loopback"
    );
    ensure!(
        args.change_percent <= 100,
        "--change-percent is at most 100"
    );
    let endpoint = base.join("/mcp")?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let corpus = Corpus::new(7);
    write_notes(args, &endpoint, &corpus, 0..args.notes, 0)?;
    eprintln!("first export");
    let first = export(&http, &base, &args.user)?;
    let changed = (args.notes * args.change_percent).div_ceil(100);
    eprintln!("changing {changed} notes");
    write_notes(args, &endpoint, &corpus, 0..changed, 1)?;
    eprintln!("incremental export");
    let second = export(&http, &base, &args.user)?;
    let scratch = std::env::temp_dir().join(format!("bench-backup-{}", std::process::id()));
    let restore_ms = cli(
        args,
        &["restore", "--user", &args.user, "--to"],
        Some(&scratch),
    )?;
    let _ = std::fs::remove_dir_all(&scratch);
    let verify_ms = cli(
        args,
        &[
            "backup",
            "verify",
            "--user",
            &args.user,
            "--read-data",
            "100",
        ],
        None,
    )?;
    eprintln!("cron run (nudge, drill, prune of every user in the bucket)");
    let started = Instant::now();
    let response = http
        .get(base.join("/cdn-cgi/local/scheduled?cron=17+*+*+*+*")?)
        .send()?;
    ensure!(
        response.status().is_success(),
        "the cron trigger answered {}",
        response.status()
    );
    let cron_ms = started.elapsed().as_millis() as u64;
    let health: Value = http.get(base.join("/health")?).send()?.json()?;
    let figures = json!({
        "user": args.user,
        "notes": args.notes,
        "changed": changed,
        "first_export": first,
        "incremental_export": second,
        "incremental_share_of_bytes": second.bytes as f64 / first.bytes.max(1) as f64,
        "restore_ms": restore_ms,
        "verify_read_data_100_ms": verify_ms,
        "cron_run_ms": cron_ms,
        "last_drill": health["backups"]["last_drill"],
    });
    if args.json {
        println!("{figures:#}");
    } else {
        println!(
            "bench-backup: {} notes of 4 KiB, user {}",
            args.notes, args.user
        );
        for (label, e) in [("first export", &first), ("incremental export", &second)] {
            println!(
                "{label}: {} ms wall, {} runs (longest {} ms, mean {} ms in the object), {} requests, {} bytes, {} segments, {} packs",
                e.wall_ms,
                e.runs,
                e.max_run_ms,
                e.mean_run_ms,
                e.requests,
                e.bytes,
                e.segments,
                e.packs
            );
        }
        println!(
            "incremental after {changed} changed notes: {:.2}% of the first export's bytes",
            100.0 * second.bytes as f64 / first.bytes.max(1) as f64
        );
        println!("restore --to DIR: {restore_ms} ms; verify --read-data 100: {verify_ms} ms");
        println!(
            "cron run: {cron_ms} ms; last drill: {}",
            health["backups"]["last_drill"]
        );
    }
    Ok(())
}

/// Writes notes `range` (4 KiB each, generation `round`), with progress.
fn write_notes(
    args: &Args,
    endpoint: &reqwest::Url,
    corpus: &Corpus,
    range: std::ops::Range<u32>,
    round: u64,
) -> Result<()> {
    crate::bench_mcp::write_notes(endpoint, &args.user, args.writers, range.len(), |at| {
        let i = range.start + at as u32;
        let content = corpus.sized((round << 32) | u64::from(i), 4096);
        (format!("bench/{:02}/{i:05}.md", i % 100), content)
    })
}

/// Runs export runs until one completes.
fn export(
    http: &reqwest::blocking::Client,
    base: &reqwest::Url,
    user: &str,
) -> Result<ExportFigures> {
    let url = base.join(&format!("/__dev/archive/{user}?export=1"))?;
    let started = Instant::now();
    let mut figures = ExportFigures::default();
    let mut total_run_ms = 0;
    loop {
        ensure!(
            figures.runs < MAX_RUNS,
            "the export did not complete in {MAX_RUNS} runs"
        );
        let response = http.post(url.clone()).send()?;
        ensure!(
            response.status().is_success(),
            "the export route answered {}",
            response.status()
        );
        let report: Value = response.json()?;
        figures.runs += 1;
        let number = |name: &str| report[name].as_u64().unwrap_or(0);
        figures.requests += number("requests");
        figures.bytes += number("bytes");
        figures.segments += number("segments");
        figures.packs += number("packs");
        figures.max_run_ms = figures.max_run_ms.max(number("duration_ms"));
        total_run_ms += number("duration_ms");
        match report["outcome"].as_str() {
            Some("complete") => break,
            Some("paused") => eprintln!(
                "export run {}: paused at its budget, going on",
                figures.runs
            ),
            _ => bail!("an export run failed: {report}"),
        }
    }
    figures.wall_ms = started.elapsed().as_millis() as u64;
    figures.mean_run_ms = total_run_ms / u64::from(figures.runs);
    Ok(figures)
}

/// Runs this binary with `args` (and `--to dir`) against the local bucket; its wall time.
fn cli(bench: &Args, args: &[&str], to: Option<&Path>) -> Result<u64> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(args);
    if let Some(dir) = to {
        command.arg(dir);
    }
    command
        .env("S3_BACKUP_ENDPOINT", &bench.s3_url)
        .env("S3_BACKUP_REGION", "us-east-1")
        .env("S3_BACKUP_BUCKET", "second-brain-backups-dev")
        .env("S3_BACKUP_ACCESS_KEY", "local-dev-access-key")
        .env("S3_BACKUP_SECRET_KEY", "local-dev-secret-key");
    let started = Instant::now();
    let output = command.output()?;
    let ms = started.elapsed().as_millis() as u64;
    if !output.status.success() {
        bail!(
            "second-brain {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    eprintln!("second-brain {}: {ms} ms", args[..2].join(" "));
    Ok(ms)
}
