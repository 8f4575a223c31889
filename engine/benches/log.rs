//! Log benchmarks: append, replay, snapshot encode/decode, cold open, memory per file.
//!
//! `cargo bench -p engine --bench log` prints criterion's timings, then a figures block
//! (sizes, memory, cold open) that docs/benchmarks.md records. `LOG_BENCH_QUICK=1` shrinks the
//! 100,000-file cases to 20,000 for a fast look.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use engine::envelope::{Envelope, StoredEvent, chain_hash};
use engine::event::{Event, NoteContent};
use engine::snapshot;
use engine::state::Replica;
use engine::store::WriteRequest;
use engine::{Config, EventId, Hash, MemoryStorage, NotePath, Storage, Store, Timestamp};

/// Counts live heap bytes, for the memory-per-file figure.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as requested.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: ptr came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded as given.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A `note.written` event for the `n`th write: the metadata of a 4 KiB note.
fn written(n: u64, files: u64) -> Event {
    let path = NotePath::new(format!(
        "notes/{:03}/note-{:06}.md",
        (n % files) % 997,
        n % files
    ))
    .expect("valid path");
    Event::NoteWritten(NoteContent {
        path,
        version: n / files + 1,
        hash: Hash::of(&n.to_le_bytes()),
        size: 4_096,
        media_type: "text/markdown".to_owned(),
    })
}

/// A log of `events` writes over `files` paths, as stored events.
fn log(events: u64, files: u64) -> Vec<StoredEvent> {
    let mut head = Hash::ZERO;
    (1..=events)
        .map(|seq| {
            let env = Envelope::new(
                seq,
                EventId::derive(&seq.to_le_bytes()),
                Timestamp(seq),
                written(seq - 1, files),
            );
            let bytes = env.encode();
            head = chain_hash(&head, &bytes);
            StoredEvent {
                seq,
                hash: head,
                bytes,
            }
        })
        .collect()
}

fn storage_with(events: &[StoredEvent]) -> MemoryStorage {
    let mut storage = MemoryStorage::new();
    for chunk in events.chunks(4_096) {
        storage.append(chunk).expect("memory append");
    }
    storage
}

/// The state and notes of `files` notes (one version each).
fn state_with(files: u64) -> Replica {
    let storage = storage_with(&log(files, files));
    let (store, _) = Store::open(storage, Config::default()).expect("open");
    replica_of(&store)
}

fn replica_of(store: &Store<MemoryStorage>) -> Replica {
    Replica {
        state: store.state().clone(),
        notes: store.notes().collect().expect("notes"),
    }
}

fn quick() -> bool {
    std::env::var_os("LOG_BENCH_QUICK").is_some()
}

fn big() -> u64 {
    if quick() { 20_000 } else { 100_000 }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    let batch = 10_000u64;
    group.throughput(Throughput::Elements(batch));
    group.bench_function("note.written metadata (encode, chain, store, apply)", |b| {
        b.iter_batched(
            || (Replica::new(10_000), MemoryStorage::new()),
            |(mut state, mut storage)| {
                for n in 0..batch {
                    let head = state.state.head();
                    let env = Envelope::new(
                        head.seq + 1,
                        EventId::derive(&n.to_le_bytes()),
                        Timestamp(n),
                        written(n, 1_000),
                    );
                    let bytes = env.encode();
                    let hash = chain_hash(&head.hash, &bytes);
                    storage
                        .append(&[StoredEvent {
                            seq: env.seq,
                            hash,
                            bytes,
                        }])
                        .expect("append");
                    state.apply(&env, hash).expect("apply");
                }
                black_box((state, storage))
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();

    let mut group = c.benchmark_group("write");
    let text = note_text(7, 1_200);
    let content = &text.as_bytes()[..4_096];
    group.throughput(Throughput::Elements(1_000));
    group.bench_function(
        "4 KiB note through Store (hash, check, append, index)",
        |b| {
            b.iter_batched(
                || {
                    Store::open(MemoryStorage::new(), Config::default())
                        .expect("open")
                        .0
                },
                |mut store| {
                    for n in 0..1_000u64 {
                        let path = format!("notes/{n}.md");
                        let req = WriteRequest {
                            id: EventId::derive(&n.to_le_bytes()),
                            path: &path,
                            content,
                            media_type: "text/markdown",
                            expected_version: None,
                            edit: false,
                        };
                        let plan = store.plan_write(&req).expect("plan");
                        store.write(&req, &plan, Timestamp(n)).expect("write");
                    }
                    black_box(store)
                },
                BatchSize::PerIteration,
            );
        },
    );
    group.finish();
}

fn replay(c: &mut Criterion) {
    let events = log(100_000, 10_000);
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("100,000 events over 10,000 files", |b| {
        b.iter_batched(
            || storage_with(&events),
            |storage| black_box(Store::open(storage, Config::default()).expect("open")),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn snapshots(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    for files in [10_000, big()] {
        let state = state_with(files);
        let encoded = state.snapshot();
        group.bench_function(format!("encode {files} files"), |b| {
            b.iter(|| black_box(state.snapshot()));
        });
        group.bench_function(format!("decode {files} files"), |b| {
            b.iter(|| black_box(snapshot::decode(&encoded.bytes, 10_000).expect("decode")));
        });
    }
    group.finish();
}

criterion_group!(benches, append, replay, snapshots);

/// Figures criterion does not print: sizes, memory, and the cold open.
fn figures() {
    println!("\n── figures");
    for files in [10_000, big()] {
        let before = LIVE.load(Ordering::Relaxed);
        let state = state_with(files);
        let heap = LIVE.load(Ordering::Relaxed) - before;
        let encoded = state.snapshot();
        println!(
            "state of {files} files (no text indexed): {:.0} heap bytes per file; snapshot {} bytes ({:.0} per file)",
            heap as f64 / files as f64,
            encoded.bytes.len(),
            encoded.bytes.len() as f64 / files as f64,
        );
    }

    indexed_figures();

    // Cold open: the snapshot of `big()` files plus a 1,000-event tail.
    let files = big();
    let mut events = log(files + 1_000, files);
    let state = {
        let storage = storage_with(&events[..files as usize]);
        replica_of(&Store::open(storage, Config::default()).expect("open").0)
    };
    let snap = state.snapshot();
    let tail = events.split_off(files as usize);
    let mut samples = Vec::new();
    for _ in 0..10 {
        let mut storage = MemoryStorage::new();
        storage
            .put_snapshot(&engine::storage::StoredSnapshot {
                seq: snap.seq,
                bytes: snap.bytes.clone(),
            })
            .expect("snapshot");
        storage.append(&tail).expect("tail");
        let started = Instant::now();
        let (store, report) = Store::open(storage, Config::default()).expect("open");
        samples.push(started.elapsed());
        assert_eq!(report.replayed, 1_000);
        black_box(store);
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "cold open, {files} files (snapshot {} bytes) + 1,000-event tail: median {:.1} ms, max {:.1} ms (10 runs)",
        snap.bytes.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
    );
}

/// Deterministic note text: `words` words from a 50,000-word vocabulary with a Zipf-like
/// (log-uniform rank) distribution.
fn note_text(seed: u64, words: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::with_capacity(words * 7);
    for _ in 0..words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        let rank = (u * 50_000f64.ln()).exp() as u64;
        out.push_str(&format!("w{rank} "));
    }
    out
}

/// Memory, snapshot size and cold open of a store whose notes' texts are indexed.
fn indexed_figures() {
    let files = 10_000u64;
    let before = LIVE.load(Ordering::Relaxed);
    let mut store = Store::open(MemoryStorage::new(), Config::default())
        .expect("open")
        .0;
    let mut text_bytes = 0;
    for n in 0..files {
        let text = note_text(n, 300);
        text_bytes += text.len();
        let path = format!("notes/{:03}/note-{n:06}.md", n % 997);
        let req = WriteRequest {
            id: EventId::derive(&n.to_le_bytes()),
            path: &path,
            content: text.as_bytes(),
            media_type: "text/markdown",
            expected_version: None,
            edit: false,
        };
        let plan = store.plan_write(&req).expect("plan");
        store.write(&req, &plan, Timestamp(n)).expect("write");
    }
    let storage_bytes: usize = store
        .storage()
        .read(0, usize::MAX)
        .expect("read")
        .iter()
        .map(|e| e.bytes.len() + 40)
        .sum();
    let heap = LIVE.load(Ordering::Relaxed) - before - storage_bytes as isize;
    let snap = store.take_snapshot().expect("snapshot");
    let storage = store.into_storage();
    // The search index is the storage's: opening reads the snapshot and the tail only.
    let mut open = Vec::new();
    for _ in 0..10 {
        let storage = storage.clone();
        let started = Instant::now();
        let (store, _) = Store::open(storage, Config::default()).expect("open");
        open.push(started.elapsed());
        black_box(store);
    }
    let median = |mut d: Vec<Duration>| {
        d.sort();
        d[d.len() / 2].as_secs_f64() * 1e3
    };
    println!(
        "state of {files} notes with text indexed ({:.0} bytes of text each): {:.0} heap bytes per note (the in-memory search index of MemoryStorage included); snapshot {} bytes; cold open from it {:.1} ms (median of 10)",
        text_bytes as f64 / files as f64,
        heap as f64 / files as f64,
        snap.bytes.len(),
        median(open),
    );
}

fn main() {
    benches();
    figures();
    Criterion::default().configure_from_args().final_summary();
}
