//! `second-brain bench-mcp`: MCP tool-call latency and throughput against a local Worker.
//!
//! Against a running Worker in local development (`scripts/dev.sh`: `LOCAL_DEV=1` and
//! `DEV_WITHOUT_TOKEN=1`, so `X-Dev-User` picks the user without sign-in), it seeds the user's corpus once (10,000
//! notes of generated text by default; resumable, reused by later runs), then times
//! `tools/call` for each measure with 1 client and with `--clients` clients, each loop bounded
//! in count and time. With `--serve` it starts the Worker itself and can time cold starts:
//! stop the process, start it again on the same state, and time the first tool call.
//!
//! Raw JSON-RPC over HTTP, not an MCP client library, so the figure is the HTTP round trip
//! and nothing else (see [`session`]). Loopback only.
//!
//! # Layout
//! - [`corpus`]: the seeded text generator (paths, notes, queries).
//! - [`session`]: one MCP session over raw HTTP.
//! - [`serve`]: the Worker as a child process, for cold starts.
//! - here: arguments, seeding, the measure loops, the report.

pub(crate) mod corpus;
pub(crate) mod serve;
pub(crate) mod session;

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::ValueEnum;
use serde_json::{Value, json};

use crate::bench_http::is_loopback;
use corpus::Corpus;
use serve::Server;
use session::Session;

/// Notes of 4 KiB that the read measure reads, round robin.
const READ_NOTES: u32 = 16;
/// Notes each client of the write measure overwrites, round robin.
const WRITE_NOTES: u64 = 16;
/// The size of the read and written notes.
const NOTE_BYTES: usize = 4096;

/// Arguments of `bench-mcp`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  scripts/dev.sh &                     # a local Worker on :8787 (LOCAL_DEV=1, DEV_WITHOUT_TOKEN=1)
  second-brain bench-mcp               # seed bench-mcp's 10,000 notes once, then measure
  second-brain bench-mcp --measures read,write --requests 500 --clients 8 --json
  second-brain bench-mcp --serve scripts/dev.sh --cold-starts 5   # starts the Worker itself

Cold start (--cold-starts N, needs --serve): the Worker process is stopped and started again
on the same local state; reported are the time from the start to /health answering (workerd
and wrangler starting), the first initialize (the user's object opening its store from
SQLite), the first tools/call read, their sum, and the store-open time the object itself
measured (header x-dev-store-open-ms, sent in local development only). Restarts set
DEV_NO_BUILD=1, which scripts/dev.sh reads as: the bundle is built, start at once.")]
pub(crate) struct Args {
    /// Base URL of the Worker; must be loopback.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    url: String,
    /// The user (X-Dev-User) whose notes are used. Its corpus is seeded on first use and
    /// reused; name a new user for a fresh object.
    #[arg(long, default_value = "bench-mcp")]
    user: String,
    /// Notes in the corpus that search and glob run over.
    #[arg(long, default_value_t = 10_000)]
    notes: u32,
    /// Seed of the text generator (applies when the corpus is first written).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Measures to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "read,write,search,glob,glob-folder,glob-sparse"
    )]
    measures: Vec<Measure>,
    /// Timed calls per client for each measure (after the warm-up).
    #[arg(long, default_value_t = 200)]
    requests: u32,
    /// Untimed calls per client first.
    #[arg(long, default_value_t = 10)]
    warmup: u32,
    /// Concurrent clients (sessions) for the second run of each measure; the first has one.
    #[arg(long, default_value_t = 4)]
    clients: u32,
    /// Time bound of each run, in seconds: a run stops there even with calls left.
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
    /// Concurrent writers while seeding.
    #[arg(long, default_value_t = 4)]
    seed_clients: u32,
    /// Start the Worker with this shell command (PORT is set from --url) and stop it at the
    /// end, e.g. `scripts/dev.sh`. Needed for --cold-starts.
    #[arg(long)]
    serve: Option<String>,
    /// Cold starts to time (stop the Worker, start it, first call); needs --serve.
    #[arg(long, default_value_t = 0)]
    cold_starts: u32,
    /// Print the results as JSON instead of a table (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

/// What one run times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Measure {
    /// `read` of a 4 KiB note.
    Read,
    /// `write` of a 4 KiB note (each client overwrites its own 16 notes).
    Write,
    /// `search` of one or two words over the corpus, first page of 10.
    Search,
    /// `glob` `**/*.md`, first page of 100.
    Glob,
    /// `glob` of one corpus folder (`corpus/42/*.md`): the literal prefix narrows the scan.
    GlobFolder,
    /// `glob` `corpus/*/note-00*.md`: few matches spread over every folder, so the whole
    /// corpus is scanned.
    GlobSparse,
}

impl Measure {
    fn label(self) -> &'static str {
        match self {
            Measure::Read => "read 4 KiB",
            Measure::Write => "write 4 KiB",
            Measure::Search => "search",
            Measure::Glob => "glob **/*.md",
            Measure::GlobFolder => "glob corpus/42/*.md",
            Measure::GlobSparse => "glob corpus/*/note-00*.md",
        }
    }

    /// The tool and arguments of call `i` of client `client`.
    fn call(self, corpus: &Corpus, client: u32, i: u64) -> (&'static str, Value) {
        match self {
            Measure::Read => ("read", json!({"path": read_path(i as u32 % READ_NOTES)})),
            Measure::Write => {
                let slot = i % WRITE_NOTES;
                let content = corpus.sized((u64::from(client) << 32) | i, NOTE_BYTES);
                let path = format!("bench/write/{client}-{slot}.md");
                ("write", json!({"path": path, "content": content}))
            }
            Measure::Search => {
                let query = corpus.query((u64::from(client) << 32) | i);
                ("search", json!({"query": query}))
            }
            Measure::Glob => ("glob", json!({"pattern": "**/*.md"})),
            Measure::GlobFolder => ("glob", json!({"pattern": "corpus/42/*.md"})),
            Measure::GlobSparse => ("glob", json!({"pattern": "corpus/*/note-00*.md"})),
        }
    }
}

fn read_path(k: u32) -> String {
    format!("bench/read/{k:02}.md")
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let base = reqwest::Url::parse(&args.url).context("parsing --url")?;
    ensure!(
        is_loopback(&base),
        "{base} is not a loopback address: load runs stay on this machine"
    );
    ensure!(
        (1..=64).contains(&args.clients) && (1..=16).contains(&args.seed_clients),
        "--clients must be from 1 to 64 and --seed-clients from 1 to 16"
    );
    ensure!(
        args.cold_starts == 0 || args.serve.is_some(),
        "--cold-starts needs --serve: the bench must restart the Worker itself"
    );
    let endpoint = base.join("/mcp")?;
    let mut server = match &args.serve {
        Some(command) => {
            let mut server = Server::new(command, &base)?;
            let took = server.start(false)?;
            eprintln!("started the Worker in {:.1} s", took.as_secs_f64());
            Some(server)
        }
        None => None,
    };
    let corpus = Corpus::new(args.seed);
    seed(args, &endpoint, &corpus)?;

    let mut rows = Vec::new();
    let mut counts = vec![1];
    if args.clients > 1 {
        counts.push(args.clients);
    }
    for measure in &args.measures {
        for &clients in &counts {
            let row = run_measure(args, &endpoint, &corpus, *measure, clients)?;
            eprintln!("{}", row.line());
            rows.push(row);
        }
    }
    let mut cold = Vec::new();
    if let Some(server) = server.as_mut() {
        for run in 1..=args.cold_starts {
            let start = cold_start(server, &endpoint, &args.user)?;
            eprintln!("cold start {run}: {}", start.line());
            cold.push(start);
        }
    }
    if args.json {
        println!("{:#}", report_json(args, &rows, &cold));
    } else {
        print_table(args, &rows, &cold);
    }
    Ok(())
}

/// Writes the corpus notes and read notes the user lacks, with progress on stderr.
fn seed(args: &Args, endpoint: &reqwest::Url, corpus: &Corpus) -> Result<()> {
    let mut session = Session::open(endpoint, &args.user)?;
    let present = list(&mut session, "corpus/**")?;
    let read_present = list(&mut session, "bench/read/*.md")?;
    let missing: Vec<Seed> = (0..args.notes)
        .map(Seed::Corpus)
        .chain((0..READ_NOTES).map(Seed::Read))
        .filter(|seed| {
            let path = seed.path();
            !present.contains(&path) && !read_present.contains(&path)
        })
        .collect();
    session.close();
    eprintln!(
        "user {}: {} of {} corpus notes present; writing {}",
        args.user,
        present.len().min(args.notes as usize),
        args.notes,
        missing.len()
    );
    if missing.is_empty() {
        return Ok(());
    }
    write_notes(
        endpoint,
        &args.user,
        args.seed_clients,
        missing.len(),
        |at| (missing[at].path(), missing[at].text(corpus)),
    )
}

/// Writes `count` notes (`note(i)`: path and content) as `user` with `writers` concurrent
/// sessions, with progress on stderr every 500 notes.
pub(crate) fn write_notes(
    endpoint: &reqwest::Url,
    user: &str,
    writers: u32,
    count: usize,
    note: impl Fn(usize) -> (String, String) + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let writers: Vec<_> = (0..writers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let mut session = Session::open(endpoint, user)?;
                    loop {
                        let at = next.fetch_add(1, Ordering::Relaxed);
                        if at >= count {
                            break;
                        }
                        let (path, content) = note(at);
                        session
                            .ok("write", json!({"path": path, "content": content}))
                            .with_context(|| format!("writing {path}"))?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    session.close();
                    Ok(())
                })
            })
            .collect();
        let mut last = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            let now = done.load(Ordering::Relaxed);
            if now >= last + 500 || (now > last && now == count) {
                let rate = now as f64 / started.elapsed().as_secs_f64();
                eprintln!("writing: {now}/{count} notes ({rate:.0} notes/s)");
                last = now;
            }
        }
        for writer in writers {
            writer
                .join()
                .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
        }
        Ok(())
    })?;
    eprintln!(
        "wrote {count} notes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A note the benchmark needs.
#[derive(Debug, Clone, Copy)]
enum Seed {
    /// Corpus note `i`, 1-2 KB.
    Corpus(u32),
    /// Read note `k`, 4 KiB.
    Read(u32),
}

impl Seed {
    fn path(self) -> String {
        match self {
            Seed::Corpus(i) => Corpus::path(i),
            Seed::Read(k) => read_path(k),
        }
    }

    fn text(self, corpus: &Corpus) -> String {
        match self {
            Seed::Corpus(i) => corpus.note(i),
            Seed::Read(k) => corpus.sized(u64::from(k), NOTE_BYTES),
        }
    }
}

/// Every path matching `pattern`, following cursors (pages of 1,000; at most 200 pages).
fn list(session: &mut Session, pattern: &str) -> Result<BTreeSet<String>> {
    let mut paths = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let mut arguments = json!({"pattern": pattern, "limit": 1000});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = session.ok("glob", arguments)?;
        for file in page["files"].as_array().into_iter().flatten() {
            if let Some(path) = file["path"].as_str() {
                paths.insert(path.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(paths),
        }
    }
    bail!("listing {pattern} took more than 200 pages")
}

/// One measure with `clients` concurrent sessions.
#[derive(Debug)]
struct Row {
    measure: Measure,
    clients: u32,
    samples: Vec<Duration>,
    errors: u32,
    first_error: Option<String>,
    wall: Duration,
}

/// What one client of a run did.
struct ClientRun {
    samples: Vec<Duration>,
    errors: u32,
    first_error: Option<String>,
    started: Instant,
    finished: Instant,
}

fn run_measure(
    args: &Args,
    endpoint: &reqwest::Url,
    corpus: &Corpus,
    measure: Measure,
    clients: u32,
) -> Result<Row> {
    // Sessions open before any thread starts, so a failure cannot strand the others at the
    // barrier.
    let sessions = (0..clients)
        .map(|_| Session::open(endpoint, &args.user))
        .collect::<Result<Vec<_>>>()?;
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let barrier = Barrier::new(sessions.len());
    let runs = std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .into_iter()
            .zip(0u32..)
            .map(|(mut session, client)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    for i in 0..u64::from(args.warmup) {
                        let (tool, arguments) = measure.call(corpus, client, i);
                        let _ = session.call(tool, arguments);
                    }
                    barrier.wait();
                    let started = Instant::now();
                    let mut run = ClientRun {
                        samples: Vec::with_capacity(args.requests as usize),
                        errors: 0,
                        first_error: None,
                        started,
                        finished: started,
                    };
                    for n in 0..u64::from(args.requests) {
                        if Instant::now() > deadline {
                            break;
                        }
                        let i = u64::from(args.warmup) + n;
                        let (tool, arguments) = measure.call(corpus, client, i);
                        let sent = Instant::now();
                        let outcome = session.call(tool, arguments);
                        let took = sent.elapsed();
                        let failure = match outcome {
                            Ok(reply) if !reply.is_error => None,
                            Ok(reply) => Some(reply.text),
                            Err(err) => Some(format!("{err:#}")),
                        };
                        match failure {
                            None => run.samples.push(took),
                            Some(why) => {
                                run.errors += 1;
                                run.first_error.get_or_insert(why);
                            }
                        }
                    }
                    run.finished = Instant::now();
                    session.close();
                    run
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a client panicked")))
            .collect::<Result<Vec<ClientRun>>>()
    })?;
    let started = runs
        .iter()
        .map(|r| r.started)
        .min()
        .unwrap_or_else(Instant::now);
    let finished = runs.iter().map(|r| r.finished).max().unwrap_or(started);
    let mut samples: Vec<Duration> = runs
        .iter()
        .flat_map(|r| r.samples.iter().copied())
        .collect();
    samples.sort_unstable();
    Ok(Row {
        measure,
        clients,
        samples,
        errors: runs.iter().map(|r| r.errors).sum(),
        first_error: runs.into_iter().find_map(|r| r.first_error),
        wall: finished.duration_since(started),
    })
}

impl Row {
    /// The `p` quantile (nearest rank), in ms; 0 without samples.
    fn pct(&self, p: f64) -> f64 {
        nearest_rank(&self.samples, p)
    }

    fn per_second(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 {
            self.samples.len() as f64 / wall
        } else {
            0.0
        }
    }

    fn line(&self) -> String {
        let mut line = format!(
            "{:<27} {:>3} {:>6} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1}",
            self.measure.label(),
            self.clients,
            self.samples.len(),
            self.errors,
            self.pct(0.50),
            self.pct(0.90),
            self.pct(0.99),
            self.pct(1.0),
            self.per_second()
        );
        if let Some(error) = &self.first_error {
            line.push_str(&format!("\n    first error: {error}"));
        }
        line
    }

    fn to_json(&self) -> Value {
        json!({
            "measure": self.measure.to_possible_value().map(|v| v.get_name().to_owned()),
            "what": self.measure.label(),
            "clients": self.clients,
            "ok": self.samples.len(),
            "errors": self.errors,
            "first_error": self.first_error,
            "p50_ms": self.pct(0.50),
            "p90_ms": self.pct(0.90),
            "p99_ms": self.pct(0.99),
            "max_ms": self.pct(1.0),
            "calls_per_s": self.per_second(),
        })
    }
}

/// One cold start.
#[derive(Debug)]
struct ColdStart {
    /// Start of the command to `/health` answering.
    to_health: Duration,
    /// The first `initialize` (opens the user's store).
    initialize: Duration,
    /// The first `tools/call` read.
    first_call: Duration,
    /// What the object measured for opening its store, if this initialize opened it.
    store_open_ms: Option<f64>,
}

impl ColdStart {
    fn total(&self) -> Duration {
        self.to_health + self.initialize + self.first_call
    }

    fn line(&self) -> String {
        format!(
            "start to /health {:.0} ms, initialize {:.1} ms, first read {:.1} ms; start to first answer {:.0} ms; store open in the object {}",
            ms(self.to_health),
            ms(self.initialize),
            ms(self.first_call),
            ms(self.total()),
            self.store_open_ms
                .map_or("not reported".to_owned(), |v| format!("{v:.1} ms"))
        )
    }
}

fn cold_start(server: &mut Server, endpoint: &reqwest::Url, user: &str) -> Result<ColdStart> {
    server.stop()?;
    let to_health = server.start(true)?;
    let sent = Instant::now();
    let mut session = Session::open(endpoint, user)?;
    let initialize = sent.elapsed();
    let sent = Instant::now();
    let read = session.ok("read", json!({"path": read_path(0)}))?;
    let first_call = sent.elapsed();
    ensure!(
        read["content"].as_str().map(str::len) == Some(NOTE_BYTES),
        "the first read did not return the 4 KiB note"
    );
    let store_open_ms = session.store_open_ms;
    session.close();
    Ok(ColdStart {
        to_health,
        initialize,
        first_call,
        store_open_ms,
    })
}

fn print_table(args: &Args, rows: &[Row], cold: &[ColdStart]) {
    println!(
        "bench-mcp {} user {} ({} corpus notes, seed {}); {} calls per client after {} warm-up, at most {} s per run",
        args.url, args.user, args.notes, args.seed, args.requests, args.warmup, args.max_seconds
    );
    println!(
        "{:<27} {:>3} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "measure", "cl", "ok", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "calls/s"
    );
    for row in rows {
        println!("{}", row.line());
    }
    for (n, start) in cold.iter().enumerate() {
        println!("cold start {}: {}", n + 1, start.line());
    }
}

fn report_json(args: &Args, rows: &[Row], cold: &[ColdStart]) -> Value {
    json!({
        "url": args.url,
        "user": args.user,
        "notes": args.notes,
        "seed": args.seed,
        "requests": args.requests,
        "warmup": args.warmup,
        "max_seconds": args.max_seconds,
        "results": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "cold_starts": cold.iter().map(|c| json!({
            "start_to_health_ms": ms(c.to_health),
            "initialize_ms": ms(c.initialize),
            "first_call_ms": ms(c.first_call),
            "start_to_first_answer_ms": ms(c.total()),
            "store_open_ms": c.store_open_ms,
        })).collect::<Vec<_>>(),
    })
}

/// The `p` quantile of sorted `samples` (nearest rank), in ms; 0 without samples.
pub(crate) fn nearest_rank(samples: &[Duration], p: f64) -> f64 {
    let at = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
    samples.get(at).map_or(0.0, |d| ms(*d))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ms: &[u64]) -> Row {
        Row {
            measure: Measure::Read,
            clients: 1,
            samples: ms.iter().map(|m| Duration::from_millis(*m)).collect(),
            errors: 0,
            first_error: None,
            wall: Duration::from_secs(2),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let r = row(&(1..=100).collect::<Vec<_>>());
        assert_eq!(
            (r.pct(0.5), r.pct(0.9), r.pct(0.99), r.pct(1.0)),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(r.per_second(), 50.0);
        assert_eq!(row(&[]).pct(0.5), 0.0);
    }

    #[test]
    fn each_measure_calls_its_tool() {
        let corpus = Corpus::new(1);
        let (tool, arguments) = Measure::Write.call(&corpus, 2, 17);
        assert_eq!(
            (tool, arguments["path"].as_str()),
            ("write", Some("bench/write/2-1.md"))
        );
        assert_eq!(
            arguments["content"].as_str().map(str::len),
            Some(NOTE_BYTES)
        );
        assert_eq!(
            Measure::Read.call(&corpus, 0, 17).1["path"],
            "bench/read/01.md"
        );
        assert_eq!(Measure::GlobSparse.call(&corpus, 0, 0).0, "glob");
        assert!(
            !Measure::Search.call(&corpus, 0, 0).1["query"]
                .as_str()
                .unwrap()
                .is_empty()
        );
    }
}
