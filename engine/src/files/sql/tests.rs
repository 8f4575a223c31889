//! The SQL file index against the in-memory one, on real SQLite, with batches that fail.

use proptest::prelude::*;

use super::*;
use crate::files::FileIndex;
use crate::sql::native::NativeDb;

fn db() -> NativeDb {
    NativeDb::new(&SCHEMA)
}

fn dump(db: &NativeDb) -> Vec<Vec<Value>> {
    let mut rows = db.query("SELECT * FROM files ORDER BY path", &[]).unwrap();
    rows.extend(db.query("SELECT * FROM files_meta", &[]).unwrap());
    rows
}

const PATHS: &[&str] = &[
    "a.md",
    "a/b.md",
    "a/b/c.md",
    "a/c.txt",
    "a-b.md",
    "ab.md",
    "b/a.md",
    "b/ü.md",
    "b/東京.md",
    "notes/2024/x.md",
    "notes/2025/y.md",
    "z.md",
];

fn entry(seq: u64, size: u64, version: u64) -> FileEntry {
    FileEntry {
        version,
        hash: Hash::of(&seq.to_le_bytes()),
        size,
        media_type: if seq.is_multiple_of(2) {
            "text/markdown"
        } else {
            "text/plain"
        }
        .into(),
        created: Timestamp(1_000 + seq / 2),
        modified: Timestamp(1_000 + seq),
        seq,
    }
}

/// Every answer the two indexes give, compared.
fn same_answers(db: &NativeDb, model: &FileIndex) {
    let stats = stats(db).unwrap();
    assert_eq!(
        (stats.count, stats.total_bytes),
        (model.len() as u64, model.total_bytes())
    );
    for path in PATHS {
        assert_eq!(get(db, path).unwrap().as_ref(), model.get(path), "{path}");
    }
    for limit in [1, 3, 1_000] {
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let ours = list(db, after.as_deref(), limit).unwrap();
            let theirs = model.list(after.as_deref(), limit);
            let theirs_owned: Vec<(NotePath, FileEntry)> = theirs
                .items
                .iter()
                .map(|(p, e)| ((*p).clone(), (*e).clone()))
                .collect();
            assert_eq!(ours.items, theirs_owned);
            assert_eq!(ours.next, theirs.next);
            match ours.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    for limit in [1, 3, 1_000] {
        // Paths alone, paged by the last one, as a full snapshot reads them.
        let mut ours: Vec<NotePath> = Vec::new();
        for _ in 0..100 {
            let page = paths(db, ours.last().map(NotePath::as_str), limit).unwrap();
            assert!(page.len() <= limit);
            let last = page.len() < limit;
            ours.extend(page);
            if last {
                break;
            }
        }
        let theirs: Vec<NotePath> = model
            .list(None, 1_000)
            .items
            .into_iter()
            .map(|(p, _)| p.clone())
            .collect();
        assert_eq!(ours, theirs, "pages of {limit}");
    }
    for pattern in [
        "**",
        "a/*",
        "a/**/*.md",
        "{a,b}/*.md",
        "*",
        "notes/*/[xy].md",
        "b/*",
    ] {
        let glob_pattern = Glob::new(pattern).unwrap();
        for (limit, steps) in [(2, 5), (1_000, 1_000_000)] {
            let mut after: Option<String> = None;
            for _ in 0..100 {
                let (mut b1, mut b2) = (WorkBudget::new(steps), WorkBudget::new(steps));
                let ours = glob(db, &glob_pattern, after.as_deref(), limit, &mut b1).unwrap();
                let theirs = model.glob(&glob_pattern, after.as_deref(), limit, &mut b2);
                let theirs_owned: Vec<(NotePath, FileEntry)> = theirs
                    .items
                    .iter()
                    .map(|(p, e)| ((*p).clone(), (*e).clone()))
                    .collect();
                assert_eq!(ours.items, theirs_owned, "{pattern}");
                assert_eq!(ours.next, theirs.next, "{pattern}");
                assert_eq!(b1.is_spent(), b2.is_spent());
                match ours.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    for before in [None, Some(3), Some(40)] {
        for limit in [1, 4, 1_000] {
            let theirs: Vec<(NotePath, FileEntry)> = model
                .recent(before, limit)
                .into_iter()
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect();
            assert_eq!(recent(db, before, limit).unwrap(), theirs);
        }
    }
    assert_eq!(digest(db).unwrap(), model.digest());
}

#[test]
fn an_empty_index_answers_like_an_empty_one_and_bad_rows_are_errors() {
    let mut db = db();
    same_answers(&db, &FileIndex::default());
    let batch = plan(
        &db,
        &[FileChange::Put(
            NotePath::new("a.md").unwrap(),
            entry(1, 5, 1),
        )],
    )
    .unwrap();
    db.write(&batch).unwrap();
    db.write(&[Statement::new("UPDATE files SET hash = x'00'", vec![])])
        .unwrap();
    assert!(get(&db, "a.md").is_err(), "a short hash is a malformed row");
    assert!(list(&db, None, 10).is_err());
    db.write(&[Statement::new("UPDATE files_meta SET count = 7", vec![])])
        .unwrap();
    assert!(digest(&db).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sql_files_answer_like_the_file_index(
        batches in proptest::collection::vec(
            (proptest::collection::vec((0..PATHS.len(), any::<bool>(), 0u64..5_000), 1..5), any::<Option<u8>>()),
            1..12,
        ),
    ) {
        let mut db = db();
        let mut model = FileIndex::default();
        let mut seq = 0;
        for (ops, fail) in batches {
            let mut changes = Vec::new();
            let mut next = model.clone();
            for (i, put, size) in ops {
                let path = NotePath::new(PATHS[i]).unwrap();
                if put || next.get(path.as_str()).is_none() {
                    seq += 1;
                    let version = next.get(path.as_str()).map_or(1, |e| e.version + 1);
                    let e = entry(seq, size, version);
                    next.put(path.clone(), e.clone());
                    changes.push(FileChange::Put(path, e));
                } else {
                    next.remove(path.as_str());
                    changes.push(FileChange::Remove(path));
                }
            }
            let before = dump(&db);
            let batch = plan(&db, &changes).unwrap();
            if let Some(k) = fail {
                db.fail_after(u64::from(k) % (batch.len() as u64 + 2));
            }
            match db.write(&batch) {
                Ok(()) => model = next,
                Err(_) => prop_assert_eq!(dump(&db), before),
            }
            db.fail_after(u64::MAX);
            same_answers(&db, &model);
        }
    }
}
