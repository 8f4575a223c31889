//! The whole store on SQL tables, natively (`engine::sql::native::SqlStorage`, laid out as a
//! Durable Object's): the engine's own cost of the object's paths at the sizes issue 13 names,
//! without workerd, R2 or the network.
//!
//! `cargo bench -p engine --features native-sqlite --bench store_sql -- [NOTES]` (default
//! 10,000) writes `engine::scale_notes` notes of 4 KiB through `Store::plan_write` and
//! `Store::write` (the notes' and the search index's statements in one transaction with the
//! event), running the index's upkeep as the object's alarm does (a step of 32 notes whenever
//! 32 wait), then reports: write latency, the archive snapshot (full, format 1) and the local
//! one (lean, format 2) with their sizes, a reopen, and listing, glob, recent, history and
//! search latencies. It prints a report; it asserts nothing.

use std::time::{Duration, Instant};

use engine::glob::{Glob, WorkBudget};
use engine::sql::native::SqlStorage;
use engine::store::WriteRequest;
use engine::{Config, EventId, Storage, Store, Timestamp, scale_notes};

const NOTE_BYTES: usize = 4_096;
/// Fresh notes that make the bench run the index's upkeep (the alarm's threshold), in steps
/// of as many notes.
const MAINTAIN_AT: usize = 32;

fn summary(what: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{what}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        samples.len()
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

fn main() {
    let notes: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let config = Config::default();
    let mut store = Store::open(SqlStorage::new(), config.clone())
        .expect("opens")
        .0;
    let mut writes = Vec::with_capacity(notes as usize);
    let mut maintain = Duration::ZERO;
    let started = Instant::now();
    for i in 0..notes {
        let path = scale_notes::path(i);
        let text = scale_notes::text(1, i, NOTE_BYTES);
        let req = WriteRequest {
            id: EventId::derive(&i.to_be_bytes()),
            path: &path,
            content: text.as_bytes(),
            media_type: "text/markdown",
            expected_version: None,
            edit: false,
        };
        let (_, took) = timed(|| {
            let plan = store.plan_write(&req).expect("plan");
            store.write(&req, &plan, Timestamp(i)).expect("write");
        });
        writes.push(took);
        if (i as usize + 1).is_multiple_of(MAINTAIN_AT) {
            let (_, took) = timed(|| store.maintain_search(MAINTAIN_AT).expect("maintain"));
            maintain += took;
        }
    }
    println!(
        "{notes} notes of {NOTE_BYTES} B written in {:.1} s; upkeep {:.2} ms a note",
        started.elapsed().as_secs_f64(),
        maintain.as_secs_f64() * 1e3 / notes as f64
    );
    summary("write (plan + check + one transaction)", &mut writes);

    let (snapshot, took) = timed(|| store.take_snapshot().expect("snapshot"));
    let local = store
        .storage()
        .snapshot()
        .expect("read")
        .expect("stored")
        .bytes
        .len();
    println!(
        "snapshot: {:.1} ms; archived (full) {} B ({:.0} B a note), local (lean) {local} B",
        took.as_secs_f64() * 1e3,
        snapshot.bytes.len(),
        snapshot.bytes.len() as f64 / notes as f64
    );
    let (reopened, took) = timed(|| Store::open(store.into_storage(), config).expect("reopens"));
    let (store, report) = reopened;
    println!(
        "reopen: {:.2} ms (snapshot seq {}, {} events replayed)",
        took.as_secs_f64() * 1e3,
        report.snapshot_seq,
        report.replayed
    );

    let n = notes.max(1);
    let mut lists = Vec::new();
    let mut globs = Vec::new();
    let mut recents = Vec::new();
    let mut histories = Vec::new();
    let mut searches = Vec::new();
    let glob = Glob::new("scale/000*/**").expect("glob");
    for k in 0..500u64 {
        let after = scale_notes::path((k * 7_919) % n);
        let notes_view = store.notes();
        let (_, took) = timed(|| notes_view.list(Some(&after), 100).expect("list"));
        lists.push(took);
        let (_, took) = timed(|| {
            notes_view
                .glob(&glob, Some(&after), 100, &mut WorkBudget::per_call())
                .expect("glob")
        });
        globs.push(took);
        let (_, took) = timed(|| notes_view.recent(None, 20).expect("recent"));
        recents.push(took);
        let (_, took) = timed(|| {
            let path = scale_notes::path((k * 31) % n);
            let last = notes_view.last_version(&path).expect("last");
            notes_view
                .versions(&path, last.saturating_sub(20), 20)
                .expect("versions")
        });
        histories.push(took);
        let (_, took) = timed(|| {
            store
                .search(&scale_notes::query(1, k), 10, None)
                .expect("search")
        });
        searches.push(took);
    }
    summary("list, a page of 100", &mut lists);
    summary("glob scale/000*/**, a page of 100", &mut globs);
    summary("recent, 20", &mut recents);
    summary("history of a note, a page of 20", &mut histories);
    summary("search, 1-3 words, first page of 10", &mut searches);
    let stats = store.notes().stats().expect("stats");
    println!(
        "database: {:.1} MB ({:.0} B a note) for {} notes",
        store.storage().db().size_bytes() as f64 / 1e6,
        store.storage().db().size_bytes() as f64 / stats.count.max(1) as f64,
        stats.count
    );
}
