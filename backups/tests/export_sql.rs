//! The export's planning asked of SQL tables (`export::sql`, as a Durable Object asks them)
//! against the in-memory reference (`ContentsToExport::from_memory`): generated histories,
//! records of packs (some forgotten, some sealed to one recipient or another) and limits must
//! give the same contents to pack and the same packs for the manifest.

use std::borrow::Cow;
use std::collections::BTreeMap;

use backups::export::sql::{SCHEMA, contents_to_export};
use backups::export::{ContentsToExport, Exported, SealedObject};
use backups::manifest::PackRef;
use backups::seal::{Identity, Recipient};
use engine::Hash;
use engine::sql::native::NativeDb;
use engine::sql::{Statement, Value};
use proptest::prelude::*;

const CONTENTS: usize = 12;
const PACKS: usize = 5;

/// A generated case.
#[derive(Debug, Clone)]
struct Case {
    /// Versions: the content each names (`None`: a deletion, no content).
    versions: Vec<Option<usize>>,
    /// Each content's recorded pack, if any.
    recorded: Vec<Option<usize>>,
    /// Each pack: whether its row is there, and how it is sealed (0 plain, 1 or 2 recipients).
    packs: Vec<(bool, u8)>,
    /// How the run writes (0 plain, 1 or 2 recipients).
    sealing: u8,
    limit: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop::option::weighted(0.8, 0..CONTENTS), 0..30),
        prop::collection::vec(prop::option::of(0..PACKS), CONTENTS),
        prop::collection::vec((any::<bool>(), 0..3u8), PACKS),
        0..3u8,
        0..15usize,
    )
        .prop_map(|(versions, recorded, packs, sealing, limit)| Case {
            versions,
            recorded,
            packs,
            sealing,
            limit,
        })
}

fn content(i: usize) -> (Hash, u64) {
    (
        Hash::of(format!("content {i}").as_bytes()),
        10 * i as u64 + 1,
    )
}

fn pack_key(i: usize) -> String {
    format!("users/u/packs/{i}.pack")
}

fn recipient(n: u8) -> Option<Recipient> {
    (n > 0).then(|| Identity::from_secret_bytes([n; 32]).recipient())
}

fn statement(sql: &str, params: Vec<Value>) -> Statement {
    Statement {
        sql: Cow::Owned(sql.to_owned()),
        params,
    }
}

/// The case in memory: every needed content, and the records.
fn in_memory(case: &Case) -> (BTreeMap<Hash, u64>, Exported) {
    let contents = case
        .versions
        .iter()
        .flatten()
        .map(|&i| content(i))
        .collect();
    let mut exported = Exported::default();
    for (i, &(present, sealed)) in case.packs.iter().enumerate() {
        if present {
            let pack = PackRef {
                key: pack_key(i),
                size: 100,
                blake3: Hash::of(pack_key(i).as_bytes()),
                contents: 1,
            };
            exported.packs.insert(pack_key(i), pack);
        }
        if let Some(r) = recipient(sealed) {
            let object = SealedObject {
                recipient: r.to_string(),
                plain: Hash::of(b"plain"),
            };
            exported.sealed.insert(pack_key(i), object);
        }
    }
    for (i, pack) in case.recorded.iter().enumerate() {
        if let Some(p) = pack {
            exported.contents.insert(content(i).0, pack_key(*p));
        }
    }
    (contents, exported)
}

/// The same case in the tables a Durable Object keeps.
fn in_sql(case: &Case, exported: &Exported) -> NativeDb {
    let schema: Vec<&str> = engine::history::sql::SCHEMA
        .iter()
        .chain(SCHEMA.iter())
        .copied()
        .collect();
    let mut db = NativeDb::new(&schema);
    let mut batch = Vec::new();
    for (n, version) in case.versions.iter().enumerate() {
        let (hash, size) = match version {
            Some(i) => {
                let (hash, size) = content(*i);
                (Value::Blob(hash.0.to_vec()), Value::int(size))
            }
            None => (Value::Null, Value::Null),
        };
        batch.push(statement(
            "INSERT INTO history (path, version, seq, time, change, hash, size, media_type) \
             VALUES (?, 1, ?, 0, 0, ?, ?, 'text/markdown')",
            vec![
                Value::Text(format!("n{n}.md")),
                Value::int(n as u64 + 1),
                hash,
                size,
            ],
        ));
    }
    for pack in exported.packs.values() {
        batch.push(statement(
            "INSERT INTO backup_packs (key, size, blake3, contents) VALUES (?, ?, ?, ?)",
            vec![
                Value::Text(pack.key.clone()),
                Value::int(pack.size),
                Value::Text(pack.blake3.to_hex()),
                Value::int(pack.contents),
            ],
        ));
    }
    for (key, sealed) in &exported.sealed {
        batch.push(statement(
            "INSERT INTO backup_sealed (key, recipient, plain) VALUES (?, ?, ?)",
            vec![
                Value::Text(key.clone()),
                Value::Text(sealed.recipient.clone()),
                Value::Text(sealed.plain.to_hex()),
            ],
        ));
    }
    for (hash, key) in &exported.contents {
        // As the object records them.
        batch.push(statement(
            "INSERT OR REPLACE INTO backup_contents (hash, pack) VALUES (?, ?)",
            vec![Value::Text(hash.to_hex()), Value::Text(key.clone())],
        ));
    }
    db.write(&batch).expect("the case is stored");
    db
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn the_tables_answer_as_the_records_in_memory(case in case()) {
        let (contents, exported) = in_memory(&case);
        let db = in_sql(&case, &exported);
        let sealing = recipient(case.sealing);
        let expected =
            ContentsToExport::from_memory(&contents, &exported, sealing.as_ref(), case.limit);
        let asked = contents_to_export(&db, sealing.as_ref(), case.limit).unwrap();
        prop_assert_eq!(&asked, &expected);
        // Bounded by the limit, and `more` exactly when some were left out.
        prop_assert!(asked.missing.len() <= case.limit);
        let all_missing = ContentsToExport::from_memory(&contents, &exported, sealing.as_ref(), usize::MAX);
        prop_assert_eq!(asked.more, all_missing.missing.len() > case.limit);
    }
}

#[test]
fn a_content_is_missing_until_a_usable_pack_holds_it() {
    let case = Case {
        versions: vec![Some(0), Some(1), Some(1), None, Some(2)],
        recorded: vec![Some(0), Some(1), Some(2)]
            .into_iter()
            .chain(std::iter::repeat_n(None, CONTENTS - 3))
            .collect(),
        // Pack 0 plain, pack 1 sealed to recipient 1, pack 2's row forgotten (a repair).
        packs: vec![(true, 0), (true, 1), (false, 0), (false, 0), (false, 0)],
        sealing: 0,
        limit: 10,
    };
    let (_, exported) = in_memory(&case);
    let db = in_sql(&case, &exported);
    // Written plain: content 0 is held by pack 0; 1 (sealed pack) and 2 (forgotten) are not.
    let plain = contents_to_export(&db, None, 10).unwrap();
    let mut expected = vec![content(1), content(2)];
    expected.sort();
    assert_eq!(plain.missing, expected);
    assert_eq!(plain.held.iter().collect::<Vec<_>>(), [&pack_key(0)]);
    assert!(!plain.more);
    // Sealed to recipient 1: the sealed pack holds content 1; the plain one is not usable.
    let sealed = contents_to_export(&db, recipient(1).as_ref(), 1).unwrap();
    assert_eq!(sealed.missing.len(), 1);
    assert!(sealed.more, "contents 0 and 2 are missing, one was asked");
    assert_eq!(sealed.held.iter().collect::<Vec<_>>(), [&pack_key(1)]);
}
