//! Search and grep's narrowing over a database file grown elsewhere: the engine's share of a
//! search on exactly the tables an object holds, without growing them again natively (which
//! takes the `store_sql` bench some 20 minutes at 100,000 notes).
//!
//! `cargo bench -p engine --features native-sqlite --bench search_db -- FILE [QUERIES]` opens
//! `FILE` (a copy of a Durable Object's SQLite file: `wrangler dev` keeps each object's under
//! `.wrangler/state/v3/do/`; give an absolute path, benches run in the crate's folder) and
//! times, on one thread and without workerd:
//! - `QUERIES` (default 2,000) searches of 1-3 words, first pages of 10, the words
//!   `bench-scale` asks for (`engine::scale_notes::query`, seed 1);
//! - 400 lookups of the notes holding `\bneedleK\b` (grep's narrowing of a word ten notes
//!   hold), for notes grown by `bench-scale` (`engine::scale_notes`).
//!
//! With `--upkeep`, it then rewrites notes as `bench-scale`'s writes do (16 at a time, new
//! text for existing paths: each leaves a dead note and a fresh one) and times the index's
//! upkeep step that merges and purges them (the object's alarm work), 40 times. That writes to
//! `FILE`: give it a copy.
//!
//! With `--snapshot`, it also times encoding the full snapshot an archive cycle uploads, from
//! the notes' tables (`engine::snapshot::encode`; read only), 5 times.
//!
//! It prints a report and asserts nothing.

use std::time::{Duration, Instant};

use engine::Hash;
use engine::grep::narrow::Fragment;
use engine::scale_notes;
use engine::search::sql::{self, SearchChange};
use engine::sql::native::NativeDb;

fn percentiles(samples: &mut [Duration]) -> String {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        samples.len()
    )
}

fn main() {
    let upkeep = std::env::args().any(|a| a == "--upkeep");
    let snapshot = std::env::args().any(|a| a == "--snapshot");
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let Some(path) = args.next() else {
        eprintln!("usage: search_db FILE [QUERIES] (FILE: an object's SQLite file, absolute)");
        std::process::exit(2);
    };
    let queries: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let db = NativeDb::open(std::path::Path::new(&path)).expect("the database opens");
    let stats = sql::stats(&db).expect("the index's counts");
    let notes = db
        .query_count("SELECT COUNT(*) FROM search_docs")
        .expect("count");
    println!(
        "search_db: {notes} notes, {} indexed; {queries} searches",
        stats.docs
    );

    let mut searches = Vec::with_capacity(queries as usize);
    let mut slowest = (Duration::ZERO, String::new());
    for i in 0..queries {
        let query = scale_notes::query(1, i);
        let started = Instant::now();
        let page = sql::search(&db, &query, 10, None).expect("search");
        let took = started.elapsed();
        std::hint::black_box(page);
        if took > slowest.0 {
            slowest = (took, query);
        }
        searches.push(took);
    }
    println!("search, first page of 10: {}", percentiles(&mut searches));
    println!(
        "  slowest: {:?} ({:.2} ms)",
        slowest.1,
        slowest.0.as_secs_f64() * 1e3
    );

    let mut lookups = Vec::new();
    let mut found = 0usize;
    let needles = (notes / scale_notes::NOTES_PER_NEEDLE).max(1);
    for k in 0..400u64 {
        let word = scale_notes::needle((k * 7_919 % needles) * scale_notes::NOTES_PER_NEEDLE);
        let fragment = Fragment {
            text: word,
            start: true,
            end: true,
        };
        let started = Instant::now();
        let notes = sql::notes_with_fragment(&db, &fragment, 1_000).expect("lookup");
        lookups.push(started.elapsed());
        found += notes.map_or(0, |n| n.len());
    }
    println!(
        "notes holding \\bneedleK\\b: {} ({found} notes in all)",
        percentiles(&mut lookups)
    );
    if snapshot {
        encode_snapshots(&db);
    }
    if upkeep {
        upkeep_steps(db, notes);
    }
}

/// Notes rewritten before each upkeep step (as many as the object's alarm merges in one).
const REWRITES: u64 = 16;

fn upkeep_steps(mut db: NativeDb, notes: u64) {
    let mut steps = Vec::new();
    let mut statements = 0usize;
    let before = (db.statements.get(), db.queries.get());
    for round in 0..40u64 {
        let changes: Vec<SearchChange> = (0..REWRITES)
            .map(|k| {
                let i = (round * REWRITES + k) * 6_151 % notes.max(1);
                let text = scale_notes::text(0x5eed ^ round, i, 4_096);
                SearchChange::Index {
                    path: scale_notes::path(i),
                    hash: Hash::of(text.as_bytes()),
                    text,
                }
            })
            .collect();
        let seq = sql::stats(&db).expect("counts").seq + 1;
        let batch = sql::plan(&db, &changes, Some(seq)).expect("plan");
        db.write(&batch).expect("write");
        let started = Instant::now();
        loop {
            let (batch, report) = sql::maintain(&db, 32).expect("maintain");
            statements += batch.len();
            db.write(&batch).expect("merge");
            if !report.more {
                break;
            }
        }
        steps.push(started.elapsed());
    }
    let written = db.statements.get() - before.0;
    let queries = db.queries.get() - before.1;
    println!(
        "upkeep after {REWRITES} rewrites (merge {REWRITES}, purge {REWRITES}): {}; a step writes {:.0} statements; {:.0} statements and {:.0} queries a round, the rewrites' included",
        percentiles(&mut steps),
        statements as f64 / 40.0,
        written as f64 / 40.0,
        queries as f64 / 40.0,
    );
}

fn encode_snapshots(db: &NativeDb) {
    let state = engine::state::State::new(10_000);
    let view = engine::notes::NotesView::Sql(Box::new(db));
    let mut took = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let snap = engine::snapshot::encode(&state, &view).expect("encodes");
        took.push(started.elapsed());
        bytes = snap.bytes.len();
    }
    println!("full snapshot, {bytes} B: {}", percentiles(&mut took));
    let started = Instant::now();
    let versions: usize = view
        .history_by_path()
        .map(|item| item.expect("history").1.len())
        .sum();
    println!(
        "  of which reading the history ({versions} versions): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let current = view.current_paths().count();
    println!(
        "  and reading the current paths ({current}): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
}
