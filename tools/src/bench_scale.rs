//! `second-brain bench-scale`: one user's object at scale, against a local Worker.
//!
//! It grows the user to `--notes` generated notes ([`engine::scale_notes`], `--size` bytes
//! each) with local development's `POST /__dev/grow/{user}` (1,000 a request; resumable: it
//! asks `GET /__dev/memory/{user}` how many notes there are first), then measures with one
//! client over MCP (raw JSON-RPC, as `bench-mcp` does), once the search index's upkeep has
//! merged what growing wrote (it waits, reporting how long: growing writes faster than any
//! client and searches read what is not merged yet):
//! - cold starts (`--serve CMD --cold-starts K`): the Worker stopped and started on the same
//!   state, then the memory route, which opens the store: the object's own open time and the
//!   wasm memory right after it;
//! - `--calls` mixed calls, round robin: `write` of a 4 KiB note, `search` of 1-3 words twice,
//!   `read`, and one page of `grep` for a needle word (`\bneedleK\b`, a word ten notes hold),
//!   going on from its cursor until the grep is done, then the next needle; p50/p99 per tool,
//!   and per finished grep how many calls and how long it took;
//! - `glob` paging over `scale/**` (pages of 1,000, the largest): pages and time;
//! - the memory report after all that.
//!
//! Loopback only; percentiles are nearest rank, as `bench-mcp` computes them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use engine::scale_notes;
use serde_json::{Value, json};

use crate::bench_http::is_loopback;
use crate::bench_mcp::nearest_rank;
use crate::bench_mcp::serve::Server;
use crate::bench_mcp::session::Session;

/// Notes the grow route writes per request (its largest batch).
const GROW_BATCH: u64 = 1_000;
/// Notes the write measure overwrites, round robin (outside `scale/`).
const WRITE_NOTES: u64 = 16;
/// The size of written notes.
const WRITE_BYTES: usize = 4096;
/// The largest glob page.
const GLOB_PAGE: u64 = 1_000;

/// Arguments of `bench-scale`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  scripts/dev.sh &                          # a local Worker on :8787 (LOCAL_DEV=1)
  second-brain bench-scale --notes 10000    # grow bench-scale to 10,000 notes of 4 KiB, measure
  second-brain bench-scale --url http://127.0.0.1:8797 --serve 'DEV_NO_BUILD=1 scripts/dev.sh' \\
      --notes 20000 --cold-starts 3 --calls 10000 --json

The memory figure is the object's wasm linear memory (pages x 64 KiB; it never shrinks) as
GET /__dev/memory/{user} reports it, with the store's counts. The write measure overwrites 16
notes under bench-scale/ (outside scale/).")]
pub(crate) struct Args {
    /// Base URL of the Worker; must be loopback.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    url: String,
    /// The user (X-Dev-User) to grow and measure.
    #[arg(long, default_value = "bench-scale")]
    user: String,
    /// Generated notes the user is grown to (`scale/0000000.md` on).
    #[arg(long, default_value_t = 10_000)]
    notes: u64,
    /// Size of each generated note, in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Seed of the generated text.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mixed tool calls before the last memory report (the issue's figure is after 10,000).
    #[arg(long, default_value_t = 2_000)]
    calls: u64,
    /// Start the Worker with this shell command (PORT is set from --url) and stop it at the
    /// end, e.g. `scripts/dev.sh`. Needed for --cold-starts.
    #[arg(long)]
    serve: Option<String>,
    /// Cold starts to time (stop the Worker, start it, open the user's store); needs --serve.
    #[arg(long, default_value_t = 0)]
    cold_starts: u32,
    /// With --serve: where to keep the Worker's output (appended). Its `tool_call` log lines
    /// give each call's time inside the object, reported beside the client's.
    /// Default: bench-scale-PORT.log in the system's temporary directory.
    #[arg(long)]
    worker_log: Option<std::path::PathBuf>,
    /// Print the results as JSON instead of text (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let base = reqwest::Url::parse(&args.url).context("parsing --url")?;
    ensure!(
        is_loopback(&base),
        "{base} is not a loopback address: load runs stay on this machine"
    );
    ensure!(
        args.cold_starts == 0 || args.serve.is_some(),
        "--cold-starts needs --serve: the bench must restart the Worker itself"
    );
    ensure!(
        args.notes <= scale_notes::MAX_NUMBER + 1,
        "--notes is at most {}",
        scale_notes::MAX_NUMBER + 1
    );
    let routes = DevRoutes::new(&base, &args.user)?;
    let endpoint = base.join("/mcp")?;
    let worker_log = args.serve.as_ref().map(|_| {
        args.worker_log.clone().unwrap_or_else(|| {
            let port = base.port_or_known_default().unwrap_or(0);
            std::env::temp_dir().join(format!("bench-scale-{port}.log"))
        })
    });
    let mut server = match &args.serve {
        Some(command) => {
            let mut server = Server::new(command, &base)?;
            if let Some(log) = &worker_log {
                server = server.with_log(log);
                eprintln!("the Worker's output goes to {}", log.display());
            }
            let took = server.start(false)?;
            eprintln!("started the Worker in {:.1} s", took.as_secs_f64());
            Some(server)
        }
        None => None,
    };
    let grown = grow(args, &routes)?;
    let settled = settle(&routes)?;

    let mut cold = Vec::new();
    if let Some(server) = server.as_mut() {
        for run in 1..=args.cold_starts {
            server.stop()?;
            let to_health = server.start(true)?;
            let sent = Instant::now();
            let memory = routes.memory()?;
            let first = sent.elapsed();
            let start = ColdStart {
                to_health,
                first_request: first,
                memory,
            };
            eprintln!("cold start {run}: {}", start.line());
            cold.push(start);
        }
    }
    let before = routes.memory()?;
    eprintln!("before the calls: {}", memory_line(&before));
    let log_from = worker_log
        .as_ref()
        .and_then(|log| std::fs::metadata(log).ok())
        .map_or(0, |m| m.len());

    let mut session = Session::open(&endpoint, &args.user)?;
    let mixed = mixed_calls(args, &mut session)?;
    for row in &mixed.rows {
        eprintln!("{}", row.line());
    }
    let glob = glob_pages(&mut session)?;
    eprintln!("{}", glob.line());
    session.close();
    let after = routes.memory()?;
    eprintln!("after {} calls: {}", args.calls, memory_line(&after));

    let logged = match &worker_log {
        Some(log) => std::fs::read(log).unwrap_or_default()[log_from as usize..].to_vec(),
        None => Vec::new(),
    };
    let in_object = in_object_times(&logged, "duration_ms");
    let in_store = in_object_times(&logged, "store_ms");
    let report = Report {
        args,
        grown,
        settled,
        in_object,
        in_store,
        cold,
        before,
        mixed,
        glob,
        after,
    };
    if args.json {
        println!("{:#}", report.to_json());
    } else {
        report.print();
    }
    Ok(())
}

/// The local-development routes of one user.
struct DevRoutes {
    http: reqwest::blocking::Client,
    memory: reqwest::Url,
    grow: reqwest::Url,
}

impl DevRoutes {
    fn new(base: &reqwest::Url, user: &str) -> Result<DevRoutes> {
        Ok(DevRoutes {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()?,
            memory: base.join(&format!("/__dev/memory/{user}"))?,
            grow: base.join(&format!("/__dev/grow/{user}"))?,
        })
    }

    /// `GET /__dev/memory/{user}`.
    fn memory(&self) -> Result<Value> {
        let response = self
            .http
            .get(self.memory.clone())
            .send()
            .context("GET /__dev/memory")?;
        let status = response.status();
        let body: Value = response.json().context("the memory report is not JSON")?;
        ensure!(
            status.is_success(),
            "GET /__dev/memory: {status}: {body} (is this a local Worker with LOCAL_DEV=1?)"
        );
        Ok(body)
    }

    /// `POST /__dev/grow/{user}?from&count&size&seed`.
    fn grow(&self, from: u64, count: u64, size: usize, seed: u64) -> Result<Value> {
        let mut url = self.grow.clone();
        url.query_pairs_mut()
            .append_pair("from", &from.to_string())
            .append_pair("count", &count.to_string())
            .append_pair("size", &size.to_string())
            .append_pair("seed", &seed.to_string());
        let response = self.http.post(url).send().context("POST /__dev/grow")?;
        let status = response.status();
        let body: Value = response.json().context("the grow answer is not JSON")?;
        ensure!(status.is_success(), "POST /__dev/grow: {status}: {body}");
        Ok(body)
    }
}

/// Changes the search index's upkeep may leave waiting in steady use (the alarm merges once
/// 32 wait).
const SETTLED_BACKLOG: u64 = 64;
/// How long [`settle`] waits at most.
const SETTLE_LIMIT: Duration = Duration::from_secs(60 * 60);

/// Waits (bounded by [`SETTLE_LIMIT`]) until the search index's upkeep has caught up with the
/// growth: growing writes far faster than anyone writes by hand, and searches read every
/// change not merged yet, so measuring before then would measure the growth. Returns how
/// long it took and the backlog it ended at.
fn settle(routes: &DevRoutes) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let mut last_print = Instant::now();
    loop {
        let memory = routes.memory()?;
        let backlog = memory["store"]["search"]["backlog"].as_u64().unwrap_or(0);
        // Notes waiting for their text (a rebuilt object re-reads every note's).
        let unindexed = memory["store"]["unindexed"].as_u64().unwrap_or(0);
        if (backlog < SETTLED_BACKLOG && unindexed == 0) || started.elapsed() > SETTLE_LIMIT {
            eprintln!(
                "search index upkeep: {backlog} changes left to merge, {unindexed} notes \
                 waiting for their text after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok((started.elapsed(), backlog));
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            eprintln!("search index upkeep: {backlog} changes to merge, {unindexed} notes waiting");
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// What growing did.
#[derive(Debug)]
struct Grown {
    /// Notes the user had before.
    files_before: u64,
    written: u64,
    took: Duration,
}

/// Grows the user to `--notes` generated notes, from where it is (each request's notes that
/// already hold their text are left alone, so a start a little early costs little).
fn grow(args: &Args, routes: &DevRoutes) -> Result<Grown> {
    let files_before = files(&routes.memory()?)?;
    // The user's other notes are the write measure's (16): start where the generated ones end.
    let start = files_before.saturating_sub(WRITE_NOTES).min(args.notes);
    let start = start - start % GROW_BATCH;
    eprintln!(
        "user {}: {files_before} notes; growing scale/ from {start} to {}",
        args.user, args.notes
    );
    let started = Instant::now();
    let mut written = 0;
    let mut from = start;
    while from < args.notes {
        let count = GROW_BATCH.min(args.notes - from);
        let answer = routes.grow(from, count, args.size, args.seed)?;
        written += answer["written"].as_u64().unwrap_or(0);
        from += count;
        let rate = written as f64 / started.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "growing: {from}/{} notes ({written} written, {rate:.0} notes/s; the object took {} ms)",
            args.notes, answer["elapsed_ms"]
        );
    }
    Ok(Grown {
        files_before,
        written,
        took: started.elapsed(),
    })
}

fn files(memory: &Value) -> Result<u64> {
    memory["store"]["files"]
        .as_u64()
        .with_context(|| format!("the memory report has no file count: {memory}"))
}

/// One cold start: the Worker started again, then the memory route (which opens the store).
#[derive(Debug)]
struct ColdStart {
    to_health: Duration,
    /// The memory request that opened the store, at the client.
    first_request: Duration,
    memory: Value,
}

impl ColdStart {
    fn line(&self) -> String {
        format!(
            "start to /health {:.0} ms, memory route {:.1} ms (opened the store: {}, open {} ms); {}",
            ms(self.to_health),
            ms(self.first_request),
            self.memory["opened_now"],
            self.memory["open_ms"],
            memory_line(&self.memory)
        )
    }

    fn to_json(&self) -> Value {
        json!({
            "start_to_health_ms": ms(self.to_health),
            "memory_route_ms": ms(self.first_request),
            "opened_now": self.memory["opened_now"],
            "store_open_ms": self.memory["open_ms"],
            "wasm_memory_bytes": self.memory["wasm_memory_bytes"],
            "memory": self.memory,
        })
    }
}

/// Per tool, the durations (`field`, milliseconds) the object logged in its `tool_call` lines
/// (JSON embedded in the Worker's output, one a call), in the order of `MIX`'s tools:
/// `duration_ms`, the whole call, or `store_ms`, its time inside the store (the engine and
/// its SQLite; the rest is R2 and the cache).
fn in_object_times(output: &[u8], field: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = ["write", "search", "read", "grep"]
        .into_iter()
        .map(Row::new)
        .collect();
    for line in String::from_utf8_lossy(output).lines() {
        let Some(at) = line.find(r#"{"msg":"tool_call""#) else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&line[at..]) else {
            continue;
        };
        let (Some(tool), Some(ms)) = (value["tool"].as_str(), value[field].as_f64()) else {
            continue;
        };
        if let Some(row) = rows.iter_mut().find(|r| r.tool == tool) {
            row.samples
                .push(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
            if value["outcome"] != "ok" {
                row.errors += 1;
            }
        }
    }
    rows.retain(|r| !r.samples.is_empty());
    for row in &mut rows {
        row.samples.sort();
    }
    rows
}

/// The memory report in one line.
fn memory_line(memory: &Value) -> String {
    let store = &memory["store"];
    format!(
        "wasm memory {} MiB; {} notes, {} versions, {} sessions; search index (in SQLite) {} notes, {} to merge, {} unindexed; blob cache {} MiB; head {}, snapshot {}",
        mib(&memory["wasm_memory_bytes"]),
        store["files"],
        store["versions"],
        store["sessions"],
        store["search"]["indexed"],
        store["search"]["backlog"],
        store["unindexed"],
        mib(&memory["blob_cache_bytes"]),
        store["head_seq"],
        store["snapshot_seq"],
    )
}

fn mib(bytes: &Value) -> String {
    bytes
        .as_u64()
        .map_or("-".to_owned(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

/// What one tool did in the mixed calls.
#[derive(Debug)]
struct Row {
    tool: &'static str,
    samples: Vec<Duration>,
    errors: u32,
    first_error: Option<String>,
}

impl Row {
    fn new(tool: &'static str) -> Row {
        Row {
            tool,
            samples: Vec::new(),
            errors: 0,
            first_error: None,
        }
    }

    fn line(&self) -> String {
        let mut line = format!(
            "{:<7} {:>6} calls {:>4} errors  p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
            self.tool,
            self.samples.len(),
            self.errors,
            nearest_rank(&self.samples, 0.50),
            nearest_rank(&self.samples, 0.99),
            nearest_rank(&self.samples, 1.0),
        );
        if let Some(error) = &self.first_error {
            line.push_str(&format!("\n    first error: {error}"));
        }
        line
    }

    fn to_json(&self) -> Value {
        json!({
            "tool": self.tool,
            "ok": self.samples.len(),
            "errors": self.errors,
            "first_error": self.first_error,
            "p50_ms": nearest_rank(&self.samples, 0.50),
            "p90_ms": nearest_rank(&self.samples, 0.90),
            "p99_ms": nearest_rank(&self.samples, 0.99),
            "max_ms": nearest_rank(&self.samples, 1.0),
        })
    }
}

/// One grep for a needle, followed to its end.
#[derive(Debug)]
struct GrepRun {
    needle: String,
    calls: u32,
    took: Duration,
    matched_notes: usize,
}

#[derive(Debug)]
struct Mixed {
    rows: Vec<Row>,
    greps: Vec<GrepRun>,
    wall: Duration,
}

/// The tools of the mix, in turn.
const MIX: [&str; 5] = ["write", "search", "read", "search", "grep"];

/// `--calls` calls, round robin over [`MIX`], each timed.
fn mixed_calls(args: &Args, session: &mut Session) -> Result<Mixed> {
    let mut rows: Vec<Row> = ["write", "search", "read", "grep"]
        .into_iter()
        .map(Row::new)
        .collect();
    let mut greps = Vec::new();
    // The grep in progress: its needle number, cursor, calls, time, notes matched so far.
    let needles = args.notes.div_ceil(scale_notes::NOTES_PER_NEEDLE).max(1);
    let mut grep_at: (u64, Option<String>, u32, Duration, Vec<String>) =
        (7 % needles, None, 0, Duration::ZERO, Vec::new());
    let started = Instant::now();
    for i in 0..args.calls {
        let tool = MIX[(i % MIX.len() as u64) as usize];
        let arguments = match tool {
            "write" => json!({
                "path": format!("bench-scale/write-{:02}.md", i % WRITE_NOTES),
                "content": scale_notes::text(args.seed ^ 0x77, i, WRITE_BYTES),
            }),
            "search" => json!({"query": scale_notes::query(args.seed, i)}),
            "read" => json!({"path": scale_notes::path((i * 7_919) % args.notes.max(1))}),
            _ => {
                let mut arguments = json!({"pattern": format!(r"\bneedle{}\b", grep_at.0)});
                if let Some(cursor) = &grep_at.1 {
                    arguments["cursor"] = json!(cursor);
                }
                arguments
            }
        };
        let sent = Instant::now();
        let outcome = session.call(tool, arguments);
        let took = sent.elapsed();
        let row = rows
            .iter_mut()
            .find(|row| row.tool == tool)
            .context("a row per tool")?;
        let reply = match outcome {
            Ok(reply) if !reply.is_error => reply,
            Ok(reply) => {
                row.errors += 1;
                row.first_error.get_or_insert(reply.text);
                continue;
            }
            Err(err) => {
                row.errors += 1;
                row.first_error.get_or_insert(format!("{err:#}"));
                continue;
            }
        };
        row.samples.push(took);
        if tool == "grep" {
            grep_at.2 += 1;
            grep_at.3 += took;
            for found in reply.structured["matches"].as_array().into_iter().flatten() {
                if let Some(path) = found["path"].as_str() {
                    grep_at.4.push(path.to_owned());
                }
            }
            grep_at.1 = reply.structured["next_cursor"].as_str().map(str::to_owned);
            if grep_at.1.is_none() {
                let mut notes = std::mem::take(&mut grep_at.4);
                notes.dedup();
                greps.push(GrepRun {
                    needle: format!("needle{}", grep_at.0),
                    calls: grep_at.2,
                    took: grep_at.3,
                    matched_notes: notes.len(),
                });
                eprintln!("{}", greps.last().map(GrepRun::line).unwrap_or_default());
                grep_at = ((grep_at.0 + 101) % needles, None, 0, Duration::ZERO, notes);
                grep_at.4.clear();
            }
        }
        if (i + 1) % 500 == 0 {
            eprintln!("calls: {}/{}", i + 1, args.calls);
        }
    }
    for row in &mut rows {
        row.samples.sort_unstable();
    }
    Ok(Mixed {
        rows,
        greps,
        wall: started.elapsed(),
    })
}

impl GrepRun {
    fn line(&self) -> String {
        format!(
            "grep \\b{}\\b: {} notes matched in {} calls, {:.0} ms{}",
            self.needle,
            self.matched_notes,
            self.calls,
            ms(self.took),
            if self.calls == 1 {
                " (one call answered)"
            } else {
                ""
            }
        )
    }

    fn to_json(&self) -> Value {
        json!({
            "needle": self.needle,
            "calls": self.calls,
            "one_call_answered": self.calls == 1,
            "ms": ms(self.took),
            "matched_notes": self.matched_notes,
        })
    }
}

/// `glob` over `scale/**` page by page.
#[derive(Debug)]
struct GlobPaging {
    pages: u32,
    files: u64,
    took: Duration,
    samples: Vec<Duration>,
}

impl GlobPaging {
    fn line(&self) -> String {
        format!(
            "glob scale/** (pages of {GLOB_PAGE}): {} files in {} pages, {:.0} ms; a page p50 {:.2} ms, max {:.2} ms",
            self.files,
            self.pages,
            ms(self.took),
            nearest_rank(&self.samples, 0.5),
            nearest_rank(&self.samples, 1.0)
        )
    }
}

fn glob_pages(session: &mut Session) -> Result<GlobPaging> {
    let mut paging = GlobPaging {
        pages: 0,
        files: 0,
        took: Duration::ZERO,
        samples: Vec::new(),
    };
    let mut cursor: Option<String> = None;
    for _ in 0..=(scale_notes::MAX_NUMBER / GLOB_PAGE + 1) {
        let mut arguments = json!({"pattern": "scale/**", "limit": GLOB_PAGE});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let sent = Instant::now();
        let page = session.ok("glob", arguments)?;
        let took = sent.elapsed();
        paging.took += took;
        paging.samples.push(took);
        paging.pages += 1;
        paging.files += page["files"].as_array().map_or(0, |f| f.len() as u64);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            paging.samples.sort_unstable();
            return Ok(paging);
        }
    }
    bail!("glob scale/** did not end")
}

struct Report<'a> {
    args: &'a Args,
    grown: Grown,
    /// How long the search index's upkeep took to catch up after growing, and what it left.
    settled: (Duration, u64),
    /// Per tool, the times the object logged for the calls (`tool_call` lines).
    in_object: Vec<Row>,
    /// Per tool, the part of those inside the store (`store_ms`).
    in_store: Vec<Row>,
    cold: Vec<ColdStart>,
    before: Value,
    mixed: Mixed,
    glob: GlobPaging,
    after: Value,
}

impl Report<'_> {
    fn print(&self) {
        let args = self.args;
        println!(
            "bench-scale {} user {}: {} notes of {} B (seed {}); grew from {} notes, wrote {} in {:.1} s",
            args.url,
            args.user,
            args.notes,
            args.size,
            args.seed,
            self.grown.files_before,
            self.grown.written,
            self.grown.took.as_secs_f64()
        );
        println!(
            "search index upkeep caught up in {:.1} s ({} changes left to merge)",
            self.settled.0.as_secs_f64(),
            self.settled.1
        );
        for (n, start) in self.cold.iter().enumerate() {
            println!("cold start {}: {}", n + 1, start.line());
        }
        println!("memory before the calls: {}", memory_line(&self.before));
        println!(
            "{} mixed calls ({}) in {:.1} s:",
            args.calls,
            MIX.join(", "),
            self.mixed.wall.as_secs_f64()
        );
        for row in &self.mixed.rows {
            println!("  {}", row.line());
        }
        for grep in &self.mixed.greps {
            println!("  {}", grep.line());
        }
        if !self.in_object.is_empty() {
            println!("  the same calls inside the object (its tool_call log lines, whole ms):");
            for row in &self.in_object {
                println!("  {}", row.line());
            }
        }
        if !self.in_store.is_empty() {
            println!("  of which inside the store (engine and SQLite; the rest is R2 and cache):");
            for row in &self.in_store {
                println!("  {}", row.line());
            }
        }
        println!("{}", self.glob.line());
        println!(
            "memory after {} calls: {}",
            args.calls,
            memory_line(&self.after)
        );
    }

    fn to_json(&self) -> Value {
        let args = self.args;
        json!({
            "url": args.url,
            "user": args.user,
            "notes": args.notes,
            "size": args.size,
            "seed": args.seed,
            "calls": args.calls,
            "grow": {
                "files_before": self.grown.files_before,
                "written": self.grown.written,
                "seconds": self.grown.took.as_secs_f64(),
            },
            "in_object": self.in_object.iter().map(Row::to_json).collect::<Vec<_>>(),
            "in_store": self.in_store.iter().map(Row::to_json).collect::<Vec<_>>(),
            "settle": {
                "seconds": self.settled.0.as_secs_f64(),
                "backlog_left": self.settled.1,
            },
            "cold_starts": self.cold.iter().map(ColdStart::to_json).collect::<Vec<_>>(),
            "memory_before_calls": self.before,
            "mixed": {
                "seconds": self.mixed.wall.as_secs_f64(),
                "tools": self.mixed.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
                "greps": self.mixed.greps.iter().map(GrepRun::to_json).collect::<Vec<_>>(),
            },
            "glob": {
                "pattern": "scale/**",
                "page": GLOB_PAGE,
                "pages": self.glob.pages,
                "files": self.glob.files,
                "ms": ms(self.glob.took),
                "page_p50_ms": nearest_rank(&self.glob.samples, 0.5),
                "page_p99_ms": nearest_rank(&self.glob.samples, 0.99),
            },
            "memory_after_calls": self.after,
        })
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_line_reads_the_report_and_tolerates_gaps() {
        let report = json!({
            "wasm_memory_bytes": 3 * 1048576,
            "blob_cache_bytes": 1048576,
            "store": {"files": 10, "versions": 12, "sessions": 1, "unindexed": 0,
                      "head_seq": 40, "snapshot_seq": 30,
                      "search": {"indexed": 9, "backlog": null}},
        });
        let line = memory_line(&report);
        assert!(
            line.starts_with("wasm memory 3.0 MiB; 10 notes, 12 versions"),
            "{line}"
        );
        assert!(
            line.contains("(in SQLite) 9 notes, null to merge, 0 unindexed"),
            "{line}"
        );
        assert_eq!(files(&report).unwrap(), 10);
        assert!(files(&json!({})).is_err());
    }

    #[test]
    fn the_objects_tool_call_lines_give_its_own_times() {
        let output = concat!(
            "[wrangler:info] GET /health 200 OK (3ms)\n",
            r#"{"msg":"tool_call","tool":"search","outcome":"ok","duration_ms":12,"store_ms":4.25}"#,
            "\n",
            r#"  (log) {"msg":"tool_call","tool":"search","outcome":"refused","duration_ms":3}"#,
            "\n",
            r#"{"msg":"tool_call","tool":"write","outcome":"ok","duration_ms":7}"#,
            "\n",
            r#"{"msg":"tool_call","tool":"glob","outcome":"ok","duration_ms":9}"#,
            "\n",
            r#"{"msg":"tool_call","tool":"read","outcome":"ok"}"#,
            "\nnot json {\"msg\":\"tool_call\"\n",
        );
        let rows = in_object_times(output.as_bytes(), "duration_ms");
        let summary: Vec<(&str, usize, u32)> = rows
            .iter()
            .map(|r| (r.tool, r.samples.len(), r.errors))
            .collect();
        assert_eq!(summary, [("write", 1, 0), ("search", 2, 1)]);
        assert_eq!(
            rows[1].samples,
            [Duration::from_millis(3), Duration::from_millis(12)]
        );
        // The store's share: only the lines that carry it.
        let store = in_object_times(output.as_bytes(), "store_ms");
        assert_eq!(store.len(), 1);
        assert_eq!(store[0].tool, "search");
        assert_eq!(store[0].samples, [Duration::from_micros(4_250)]);
    }

    #[test]
    fn the_mix_has_each_measured_tool() {
        for tool in ["write", "search", "read", "grep"] {
            assert!(MIX.contains(&tool), "{tool}");
        }
    }
}
