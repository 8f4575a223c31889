//! Hostile glob and grep patterns (the catalogue in `engine::hostile`): what one tool call
//! costs with each.
//!
//! `cargo bench -p engine --bench hostile` first prints a report, then runs the criterion
//! benchmarks. The report, per glob: the time to compile it, to match it against one short
//! path (issue 11's case: a user holding one note) and against the longest path, and one call
//! over 10,000 paths as `FileIndex::glob` makes it (stopping when the call's work budget is
//! spent: how many paths it looked at). Per grep pattern: the time to compile, its size
//! class, the bytes one call may search, the measured speed over hostile text, and from those
//! the longest one call can take. Then the cost of narrowing (`Narrowing::of`) for plain
//! patterns and the hostile ones, with the fragments each gives. Pass a criterion filter
//! after `--` to run only some.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use engine::glob::{Glob, WorkBudget};
use engine::grep::GrepPattern;
use engine::grep::narrow::Narrowing;
use engine::hostile;

const PATHS: usize = 10_000;

/// Paths a user might hold: folders and file names of mixed depth and length.
fn paths() -> Vec<String> {
    (0..PATHS)
        .map(|i| match i % 4 {
            0 => format!("notes/{i:05}.md"),
            1 => format!("projects/p{}/meeting-notes-{i}.md", i % 50),
            2 => format!("a/{}/{i}.txt", "aaaa/".repeat(i % 20)),
            _ => format!(
                "journal/2026/{:02}/{:02}/entry {i}.md",
                i % 12 + 1,
                i % 28 + 1
            ),
        })
        .collect()
}

/// One glob call over `paths`, as the file index makes it: paths are matched until the
/// page is full or the budget is spent. Returns (paths looked at, matches).
fn glob_call(glob: &Glob, paths: &[String]) -> (usize, usize) {
    let mut budget = WorkBudget::per_call();
    let mut matcher = glob.matcher();
    let mut matched = 0;
    for (looked, path) in paths.iter().enumerate() {
        if budget.is_spent() {
            return (looked, matched);
        }
        if matcher.matches(path, &mut budget) {
            matched += 1;
            if matched == 1_000 {
                return (looked + 1, matched);
            }
        }
    }
    (paths.len(), matched)
}

/// Text that keeps many regex states alive: long runs of `a`, some `x`, `=` and words.
fn hostile_text(bytes: usize) -> String {
    let line = format!("{} x=1 w7 {}\n", "a".repeat(60), "a".repeat(30));
    line.repeat(bytes / line.len() + 1)[..bytes].to_owned()
}

fn time<T>(rounds: u32, mut f: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(f());
    }
    start.elapsed() / rounds
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn report() {
    let paths = paths();
    let short = "notes/garden.md".to_owned();
    let longest = format!("{}/x", "a/".repeat(511));
    println!("hostile globs ({PATHS} paths for one call; budget per call as in FileIndex::glob)");
    println!(
        "| pattern | bytes | compile | one short path | longest path | one call: time | paths looked at |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let plain = [
        ("**/*.md (plain)", "**/*.md"),
        ("notes/*.md (plain)", "notes/*.md"),
    ]
    .map(|(name, pattern)| (name, pattern.to_owned()));
    for (name, pattern) in plain.into_iter().chain(hostile::globs()) {
        let compile = time(20, || Glob::new(&pattern).unwrap());
        let glob = Glob::new(&pattern).unwrap();
        let one = time(20, || glob.is_match(&short));
        let long = time(5, || glob.is_match(&longest));
        let (looked, _) = glob_call(&glob, &paths);
        let call = time(3, || glob_call(&glob, &paths));
        println!(
            "| {name} | {} | {} | {} | {} | {} | {looked} |",
            pattern.len(),
            ms(compile),
            ms(one),
            ms(long),
            ms(call),
        );
    }
    for (name, pattern) in hostile::refused_globs() {
        let err = Glob::new(&pattern).unwrap_err();
        println!("refused: {name}: {err}");
    }
    println!();
    println!("hostile grep patterns (speed over 256 KiB of hostile text)");
    println!("| pattern | compile | size class | bytes per call | speed | longest call |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let text = hostile_text(256 * 1024);
    let plain = [("TODO", "TODO"), ("(?i)todo|fixme", "(?i)todo|fixme")]
        .map(|(name, pattern)| (name, pattern.to_owned()));
    for (name, pattern) in plain.into_iter().chain(hostile::regexes()) {
        let compile = time(5, || GrepPattern::new(&pattern).unwrap());
        let grep = GrepPattern::new(&pattern).unwrap();
        let search = time(2, || text.lines().filter(|l| grep.is_match(l)).count());
        let per_byte = search.as_secs_f64() / text.len() as f64;
        let longest = Duration::from_secs_f64(per_byte * grep.byte_budget() as f64);
        println!(
            "| {name} | {} | {} KiB | {} KiB | {:.1} MB/s | {} |",
            ms(compile),
            grep.size_class() / 1024,
            grep.byte_budget() / 1024,
            1.0 / per_byte / 1e6,
            ms(longest),
        );
    }
    for (name, pattern) in hostile::refused_regexes() {
        let compile = time(5, || GrepPattern::new(&pattern).unwrap_err());
        let err = GrepPattern::new(&pattern).unwrap_err();
        println!("refused in {}: {name}: {err}", ms(compile));
    }
    println!();
    println!("grep narrowing (Narrowing::of)");
    println!("| pattern | narrowing | fragments | time |");
    println!("| --- | --- | --- | --- |");
    for (name, pattern) in narrowed_patterns() {
        let took = time(200, || Narrowing::of(&pattern));
        let narrowing = Narrowing::of(&pattern);
        let shown = format!("{narrowing:?}");
        let shown = match shown.char_indices().nth(60) {
            Some((cut, _)) => format!("{}...", &shown[..cut]),
            None => shown,
        };
        println!(
            "| {name} | `{shown}` | {} | {:.1} µs |",
            narrowing.fragments().len(),
            took.as_secs_f64() * 1e6
        );
    }
    println!();
}

/// Plain patterns, then the hostile catalogue: what narrowing costs before a grep.
fn narrowed_patterns() -> Vec<(&'static str, String)> {
    let plain = [
        ("TODO", "TODO"),
        ("(?i)todo|fixme", "(?i)todo|fixme"),
        (r"^\s*- \[ \]", r"^\s*- \[ \]"),
        (r"deploy(ed|ing)? v\d+\.\d+", r"deploy(ed|ing)? v\d+\.\d+"),
        ("(?i)colou?r gr[ae]y", "(?i)colou?r gr[ae]y"),
    ];
    // Words none of which contains another: about the most fragments a 1,000-byte pattern
    // can hold.
    let words = (0..200).map(|i| format!("x{i:03}")).collect::<Vec<_>>();
    plain
        .map(|(name, pattern)| (name, pattern.to_owned()))
        .into_iter()
        .chain(hostile::regexes())
        .chain([("200 words alternation", words.join("|"))])
        .chain([("150 words, .* between", words[..150].join(".*"))])
        .collect()
}

fn globs(c: &mut Criterion) {
    let paths = paths();
    let mut group = c.benchmark_group("hostile_glob_call");
    group.sample_size(10);
    for (name, pattern) in hostile::globs() {
        let glob = Glob::new(&pattern).unwrap();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| glob_call(&glob, &paths))
        });
    }
    group.finish();
}

fn regexes(c: &mut Criterion) {
    let text = hostile_text(64 * 1024);
    let mut group = c.benchmark_group("hostile_grep_64KiB");
    group.sample_size(10);
    for (name, pattern) in hostile::regexes() {
        let grep = GrepPattern::new(&pattern).unwrap();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| text.lines().filter(|l| grep.is_match(l)).count())
        });
    }
    group.finish();
}

fn narrowings(c: &mut Criterion) {
    let mut group = c.benchmark_group("grep_narrow");
    for (name, pattern) in narrowed_patterns() {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| Narrowing::of(black_box(&pattern)))
        });
    }
    group.finish();
}

criterion_group!(benches, globs, regexes, narrowings);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listing_or_testing = args.iter().any(|a| a == "--list" || a == "--test");
    if !listing_or_testing {
        report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
