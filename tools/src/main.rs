//! `second-brain`: the operator CLI.
//!
//! One binary, one subcommand per job (`--help` lists them):
//! - operations: `deploy` and `rollback` (with health and smoke gates), `smoke`, `drift`,
//!   `secrets`, `report`, `validate-config` (exit codes in `deploy_cmd`);
//! - backups: `backup list`, `backup verify`, `backup keygen` and `restore`, reading a user's
//!   backup from S3 (exit codes in [`backup_cmd`]);
//! - benchmarks: `bench-http`, `bench-mcp`, `bench-scale`, `bench-backup` against a local
//!   Worker;
//! - local stand-ins for tests and development: `cf-standin` (the Cloudflare API),
//!   `github-standin` (GitHub's OAuth flow), `s3-local` (an S3 server on a directory).

mod backup_cmd;
mod bench_backup;
mod bench_http;
mod bench_mcp;
mod bench_scale;
mod config_check;
mod deploy_cmd;
mod smoke_cmd;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use second_brain_tools::{cf_standin, github_standin, s3_local};

/// The Second Brain operator CLI.
#[derive(Debug, Parser)]
#[command(name = "second-brain", version, about, after_help = backup_cmd::BACKUPS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists or verifies a user's backups in the S3 backup bucket (read only).
    #[command(subcommand, after_help = backup_cmd::BACKUPS_HELP)]
    Backup(BackupCommand),
    /// Restores a user's notes from the newest backup (at its head, --at SEQ or --time) into
    /// a new directory: the notes as files, the log, every version's content and a report
    /// under DIR/.second-brain.
    #[command(after_help = backup_cmd::BACKUPS_HELP)]
    Restore(backup_cmd::restore::Args),
    /// Times the backup path against a local Worker (scripts/dev.sh): the first export of
    /// 10,000 notes of 4 KiB, the incremental export after 1% changed, restore, verify and a
    /// cron run's drill.
    BenchBackup(bench_backup::Args),
    /// Sends a bounded number of GET requests to a URL and reports latency percentiles.
    BenchHttp(bench_http::Args),
    /// Times MCP tool calls (read, write, search, glob) and cold starts against a local Worker,
    /// on a seeded corpus of 10,000 notes; p50/p90/p99/max and throughput, 1 and N clients.
    BenchMcp(bench_mcp::Args),
    /// Grows one user to N generated notes (local dev's /__dev/grow) and measures the object
    /// at that size: memory (/__dev/memory) after a cold open and after mixed calls, store
    /// open time, write/search/read/grep p50/p99, glob paging.
    BenchScale(bench_scale::Args),
    /// Serves a local stand-in for the Cloudflare API (versions, deployments, secrets,
    /// schedules) on 127.0.0.1; with --serve-dir, each deployed version runs in wrangler dev
    /// on a stable local URL (tests, local dev).
    CfStandin(cf_standin::Args),
    /// Serves a local stand-in for GitHub's OAuth web flow on 127.0.0.1 (tests, local dev).
    GithubStandin(github_standin::Args),
    /// Serves a directory as S3 (s3s-fs, SigV4 checked) on 127.0.0.1 (tests, local dev).
    S3Local(s3_local::Args),
    /// Deploys the working tree to an environment: validate (strict for production), build,
    /// upload a version, switch traffic, then the health and smoke gates; on a failed gate,
    /// rolls back to the version that served before and checks it again. Exit 0 deployed,
    /// 1 nothing changed, 2 settings, 7 rolled back, 8 nothing healthy serves.
    Deploy(deploy_cmd::DeployArgs),
    /// Makes an earlier version serve again (default: the one before the current deployment),
    /// with the same health and smoke gates as deploy.
    Rollback(deploy_cmd::RollbackArgs),
    /// Compares what serves (version, commit, bindings and vars, crons, compatibility date and
    /// flags, secrets' names) with wrangler.toml and the repository; exit 9 on a difference
    /// not --allow'ed.
    Drift(deploy_cmd::DriftArgs),
    /// Runs the monitoring queries (docs/monitoring.md) against the environment's Analytics
    /// Engine dataset: p50/p95 and error rates per tool, 5xx and rate-limit refusals per route,
    /// backup runs; prints a table and the alerts the thresholds raise.
    Report(deploy_cmd::ReportArgs),
    /// Sets the Worker's secrets from a NAME=VALUE file (see .env.example) with `wrangler
    /// secret put`, values on stdin; reports what it added, replaced and what is still
    /// missing (exit 2). --dry-run sets nothing.
    Secrets(deploy_cmd::SecretsArgs),
    /// Checks a running Worker as users meet it: /health (schema, status, build), /mcp asks
    /// for sign-in, the OAuth metadata agree; with --token-env, a probe note is written, read,
    /// found, deleted. Exit 7 when a check fails.
    Smoke(smoke_cmd::Args),
    /// Checks wrangler.toml: bindings, environment parity, no secrets in vars, no local-dev
    /// settings in any deployed environment, placeholders (errors with --strict).
    ValidateConfig(config_check::Args),
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Every backup (manifest) of a user, newest first: created, head seq, notes, size, key.
    /// Exit 3 when the user has none.
    #[command(after_help = backup_cmd::BACKUPS_HELP)]
    List(backup_cmd::list::Args),
    /// Checks the newest backup (or --all): manifest chain, every object present with its
    /// size, a sample read back (--read-data PERCENT; 100 also replays the log and checks the
    /// notes digest). Exit 4 naming each damaged object.
    #[command(after_help = backup_cmd::BACKUPS_HELP)]
    Verify(backup_cmd::verify::Args),
    /// Makes a new age identity (opens sealed backups; its recipient is the Worker's
    /// BACKUP_AGE_RECIPIENT) and a new ed25519 signing key (the Worker's BACKUP_SIGNING_KEY;
    /// its public key checks manifests). Secrets go to --out FILE, or to stdout without it.
    #[command(after_help = backup_cmd::BACKUPS_HELP)]
    Keygen(backup_cmd::keys::KeygenArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            backup_cmd::exit_code(&error)
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Backup(BackupCommand::List(args)) => backup_cmd::list::run(&args),
        Command::Backup(BackupCommand::Verify(args)) => backup_cmd::verify::run(&args),
        Command::Backup(BackupCommand::Keygen(args)) => backup_cmd::keys::keygen(&args),
        Command::Restore(args) => backup_cmd::restore::run(&args),
        Command::BenchBackup(args) => bench_backup::run(&args),
        Command::BenchHttp(args) => bench_http::run(&args),
        Command::BenchMcp(args) => bench_mcp::run(&args),
        Command::BenchScale(args) => bench_scale::run(&args),
        Command::CfStandin(args) => cf_standin::run(&args),
        Command::GithubStandin(args) => github_standin::run(&args),
        Command::S3Local(args) => s3_local::run(&args),
        Command::Smoke(args) => smoke_cmd::run(&args),
        Command::Deploy(args) => deploy_cmd::deploy(&args),
        Command::Rollback(args) => deploy_cmd::rollback(&args),
        Command::Secrets(args) => deploy_cmd::secrets(&args),
        Command::Drift(args) => deploy_cmd::drift(&args),
        Command::Report(args) => deploy_cmd::report(&args),
        Command::ValidateConfig(args) => config_check::run(&args),
    }
}
