//! `second-brain`: the operator CLI.
//!
//! One binary, one subcommand per job. Today: `bench-http`, a bounded load driver for a
//! running Worker on loopback; `bench-mcp`, MCP tool-call latency, throughput and cold start
//! against a local Worker; `github-standin`, a local stand-in for GitHub's OAuth flow; and
//! `s3-local`, a local S3 server on a directory.
//! `validate-config` checks wrangler.toml. Restore, verify, inspect and deploy arrive with the issues that need them.

mod bench_http;
mod bench_mcp;
mod config_check;
mod file_disk;

use anyhow::Result;
use clap::{Parser, Subcommand};
use second_brain_tools::{github_standin, s3_local};

/// The Second Brain operator CLI.
#[derive(Debug, Parser)]
#[command(name = "second-brain", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sends a bounded number of GET requests to a URL and reports latency percentiles.
    BenchHttp(bench_http::Args),
    /// Times MCP tool calls (read, write, search, glob) and cold starts against a local Worker,
    /// on a seeded corpus of 10,000 notes; p50/p90/p99/max and throughput, 1 and N clients.
    BenchMcp(bench_mcp::Args),
    /// Serves a local stand-in for GitHub's OAuth web flow on 127.0.0.1 (tests, local dev).
    GithubStandin(github_standin::Args),
    /// Serves a directory as S3 (s3s-fs, SigV4 checked) on 127.0.0.1 (tests, local dev).
    S3Local(s3_local::Args),
    /// Checks wrangler.toml: bindings, environment parity, no secrets in vars, no local-dev
    /// settings in production, placeholders (errors with --strict).
    ValidateConfig(config_check::Args),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::BenchHttp(args) => bench_http::run(&args),
        Command::BenchMcp(args) => bench_mcp::run(&args),
        Command::GithubStandin(args) => github_standin::run(&args),
        Command::S3Local(args) => s3_local::run(&args),
        Command::ValidateConfig(args) => config_check::run(&args),
    }
}
