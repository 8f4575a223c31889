//! SQL history against the in-memory one, on real SQLite.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::history::History;
use crate::sql::native::NativeDb;

const PATHS: &[&str] = &["a.md", "b/c.md", "b/東京.md", "d.md"];

fn change(kind: u8, n: u64) -> Change {
    match kind % 6 {
        0 => Change::Written,
        1 => Change::Edited,
        2 => Change::Reverted { source_version: n },
        3 => Change::Deleted,
        4 => Change::MovedFrom {
            from: NotePath::new(PATHS[n as usize % 4]).unwrap(),
        },
        _ => Change::MovedTo {
            to: NotePath::new(PATHS[n as usize % 4]).unwrap(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sql_history_answers_like_history(
        ops in proptest::collection::vec((0..PATHS.len(), any::<u8>(), 0u64..4, any::<bool>()), 0..40),
        asked in proptest::collection::btree_set(0u64..60, 0..8),
    ) {
        let mut db = NativeDb::new(&SCHEMA);
        let mut model = History::default();
        let mut time = 0;
        for (seq, (i, kind, step, content)) in ops.into_iter().enumerate() {
            let path = NotePath::new(PATHS[i]).unwrap();
            time += step;
            let version = Version {
                version: model.last_version(path.as_str()) + 1,
                seq: seq as u64 + 1,
                time: Timestamp(time),
                change: change(kind, seq as u64),
                content: content.then(|| Content {
                    hash: Hash::of(&(seq as u64 % 7).to_le_bytes()),
                    size: seq as u64 * 10,
                    media_type: "text/markdown".into(),
                }),
            };
            db.write(&[push(&path, &version)]).unwrap();
            model.push(&path, version);
        }
        prop_assert_eq!(paths(&db).unwrap(), model.paths() as u64);
        for path in PATHS {
            let all = model.versions(path);
            prop_assert_eq!(last_version(&db, path).unwrap(), model.last_version(path));
            // Paged two at a time, the pages put together are the whole history.
            let mut paged = Vec::new();
            let mut after = 0;
            loop {
                let page = versions(&db, path, after, 2).unwrap();
                match page.last() {
                    Some(last) => after = last.version,
                    None => break,
                }
                paged.extend(page);
            }
            prop_assert_eq!(paged.as_slice(), all);
            for v in 0..=all.len() as u64 + 1 {
                let got = version(&db, path, v).unwrap();
                prop_assert_eq!(got.as_ref(), model.version(path, v));
            }
            for t in 0..=time + 1 {
                let got = at_time(&db, path, Timestamp(t)).unwrap();
                prop_assert_eq!(got.as_ref(), model.at_time(path, Timestamp(t)));
            }
        }
        let hashes: BTreeSet<Hash> = asked.iter().map(|n| Hash::of(&n.to_le_bytes())).collect();
        prop_assert_eq!(referenced(&db, &hashes).unwrap(), model.referenced(&hashes));
    }
}

#[test]
fn a_row_that_is_not_a_version_is_an_error() {
    let mut db = NativeDb::new(&SCHEMA);
    db.write(&[Statement::new(
        "INSERT INTO history (path, version, seq, time, change) VALUES ('a.md', 1, 1, 1, 9)",
        vec![],
    )])
    .unwrap();
    assert!(version(&db, "a.md", 1).is_err(), "an unknown change kind");
    assert_eq!(last_version(&db, "a.md").unwrap(), 1);
    assert_eq!(last_version(&db, "b.md").unwrap(), 0);
}
