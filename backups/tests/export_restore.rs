//! Export and restore, natively: a user's store (the engine over memory), an R2 archive and a
//! backup bucket as maps, the export driven step by step as the Durable Object drives it, with
//! uploads that fail on a countdown and budgets that stop runs midway; then restores checked
//! against the live store.

use std::collections::BTreeMap;

use backups::archive;
use backups::export::{Budget, RunState};
use backups::layout::UserLayout;
use backups::manifest::Manifest;
use backups::restore::{self, RestoreError, Target};
use backups::seal::Identity;
use backups::sign::SigningKey;
use backups::sim::{SimBucket, SimUser};
use engine::{Config, Hash, MemoryStorage, Store};

const USER: &str = "1001";

/// A user's world: the simulated user (store, R2, contents) and the backup bucket, a map
/// whose puts can fail on a countdown.
struct World {
    sim: SimUser,
    bucket: BTreeMap<String, Vec<u8>>,
    /// Bucket puts that succeed before one fails (None: none fails).
    puts_before_failure: Option<u32>,
    /// Bytes and requests put into the bucket.
    put_bytes: u64,
    puts: u64,
    /// The identity restores open sealed backups with.
    identities: Vec<Identity>,
}

impl std::ops::Deref for World {
    type Target = SimUser;

    fn deref(&self) -> &SimUser {
        &self.sim
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut SimUser {
        &mut self.sim
    }
}

/// The bucket as an export sees it: the map, counting puts and failing on the countdown.
struct MapBucket<'a> {
    objects: &'a mut BTreeMap<String, Vec<u8>>,
    puts_before_failure: &'a mut Option<u32>,
    put_bytes: &'a mut u64,
    puts: &'a mut u64,
}

impl SimBucket for MapBucket<'_> {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<(), String> {
        if let Some(left) = self.puts_before_failure.as_mut() {
            if *left == 0 {
                return Err(format!("put {key}: the bucket refuses writes"));
            }
            *left -= 1;
        }
        *self.puts += 1;
        *self.put_bytes += bytes.len() as u64;
        self.objects.insert(key.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn keys(&mut self, prefix: &str) -> Vec<String> {
        self.objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl World {
    fn new() -> World {
        World {
            sim: SimUser::new(USER),
            bucket: BTreeMap::new(),
            puts_before_failure: None,
            put_bytes: 0,
            puts: 0,
            identities: Vec::new(),
        }
    }

    /// A world whose exports are sealed and signed.
    fn sealed() -> World {
        let identity = Identity::from_secret_bytes(Hash::of(b"test identity").0);
        let mut world = World::new();
        world.sim.sealing = Some(identity.recipient());
        world.sim.signing = Some(SigningKey::from_seed(Hash::of(b"test signing key").0));
        world.identities = vec![identity];
        world
    }

    /// One export run as the Durable Object drives it.
    fn export(&mut self, budget: Budget) -> Result<RunState, String> {
        let mut bucket = MapBucket {
            objects: &mut self.bucket,
            puts_before_failure: &mut self.puts_before_failure,
            put_bytes: &mut self.put_bytes,
            puts: &mut self.puts,
        };
        self.sim.export_run(&mut bucket, budget, "test")
    }

    /// Runs exports until one completes, at most `runs`.
    fn export_fully(&mut self, budget: Budget, runs: usize) -> Manifest {
        for _ in 0..runs {
            if let RunState::Complete(manifest) = self.export(budget).unwrap() {
                return *manifest;
            }
        }
        panic!("the export did not complete in {runs} runs");
    }

    fn newest_manifest(&self) -> Manifest {
        let layout = UserLayout::new(USER);
        let key = self
            .bucket
            .keys()
            .find(|k| layout.parse_manifest_key(k).is_some())
            .expect("a manifest");
        Manifest::decode(&self.bucket[key]).unwrap()
    }

    fn restore(
        &self,
        manifest: &Manifest,
        target: Target,
    ) -> Result<Store<MemoryStorage>, RestoreError> {
        let plan = restore::plan(manifest, target)?;
        let fetched: BTreeMap<String, Vec<u8>> = plan
            .keys()
            .filter_map(|k| self.bucket.get(k).map(|b| (k.to_owned(), b.clone())))
            .collect();
        let assembled = restore::assemble(manifest, &self.identities, &plan, &fetched)?;
        restore::rebuild(
            manifest,
            &assembled,
            MemoryStorage::default(),
            Config::default(),
        )
    }
}

const PLENTY: Budget = Budget {
    requests: u64::MAX,
    bytes: u64::MAX,
};

fn notes(store: &Store<MemoryStorage>) -> Vec<(String, u64, Hash)> {
    memory(store)
        .files()
        .iter()
        .map(|(p, e)| (p.as_str().to_owned(), e.version, e.hash))
        .collect()
}

/// The store's notes, read into memory.
fn memory(store: &Store<MemoryStorage>) -> engine::notes::MemoryNotes {
    store.notes().collect().expect("notes")
}

/// A user with archived and unarchived history: writes, edits, moves, deletes.
fn busy_world() -> World {
    busy(World::new())
}

fn busy(mut w: World) -> World {
    for i in 0..30 {
        w.write(&format!("notes/{i:02}.md"), format!("note {i}\n"));
    }
    w.archive_cycle();
    w.write("notes/00.md", "note 0, edited\n");
    w.rename("notes/01.md", "archive/01.md");
    w.delete("notes/02.md");
    w.archive_cycle();
    w.write("notes/03.md", "note 3, after the archive\n");
    w.write("notes/31.md", "a new note\n");
    w
}

#[test]
fn an_export_restores_every_note_and_version_exactly() {
    let mut w = busy_world();
    let manifest = w.export_fully(PLENTY, 1);
    assert_eq!(manifest.head, w.store.head());
    assert_eq!(manifest.notes, w.store.notes().stats().unwrap().count);
    assert!(manifest.previous.is_none());
    let restored = w.restore(&manifest, Target::Head).unwrap();
    assert_eq!(notes(&restored), notes(&w.store));
    assert_eq!(restored.head(), w.store.head());
    // Every version of every path, with its content.
    let mut versions = 0;
    for (path, live) in memory(&w.store).history().iter() {
        assert_eq!(memory(&restored).history().versions(path.as_str()), live);
        versions += live.len();
    }
    assert!(versions > 30);
}

#[test]
fn a_restore_to_an_earlier_seq_or_time_gives_that_state_exactly() {
    let mut w = World::new();
    w.write("a.md", "one\n");
    w.write("b.md", "two\n");
    let (seq, time, before) = (w.store.head().seq, w.clock, notes(&w.store));
    w.archive_cycle();
    w.write("a.md", "one, changed\n");
    w.delete("b.md");
    let manifest = w.export_fully(PLENTY, 1);
    assert_eq!(
        notes(&w.restore(&manifest, Target::Seq(seq)).unwrap()),
        before
    );
    assert_eq!(
        notes(&w.restore(&manifest, Target::Time(time)).unwrap()),
        before
    );
    assert_eq!(
        w.restore(&manifest, Target::Seq(manifest.head.seq + 1))
            .unwrap_err(),
        RestoreError::BeyondHead {
            target: manifest.head.seq + 1,
            head: manifest.head.seq
        }
    );
    assert!(matches!(
        w.restore(&manifest, Target::Time(manifest.events.first_ms - 1)),
        Err(RestoreError::BeforeFirst { .. })
    ));
}

#[test]
fn a_failed_upload_never_leaves_a_manifest_and_the_next_run_completes_uploading_nothing_twice() {
    let total = {
        let mut w = busy_world();
        w.export_fully(PLENTY, 1);
        u32::try_from(w.puts).unwrap()
    };
    assert!(total >= 5, "{total} puts");
    for fail_after in 0..total {
        let mut w = busy_world();
        w.puts_before_failure = Some(fail_after);
        assert!(w.export(PLENTY).is_err(), "put {fail_after} fails");
        let layout = UserLayout::new(USER);
        assert!(
            !w.bucket
                .keys()
                .any(|k| layout.parse_manifest_key(k).is_some()),
            "a manifest after a failure at put {fail_after}"
        );
        let uploaded: Vec<String> = w.bucket.keys().cloned().collect();
        w.puts_before_failure = None;
        let manifest = w.export_fully(PLENTY, 1);
        // Nothing that went up before the failure went up again.
        assert_eq!(
            w.puts as usize,
            manifest.objects().count() + 1,
            "after failing at put {fail_after}"
        );
        assert!(uploaded.iter().all(|k| w.bucket.contains_key(k)));
        assert_eq!(
            notes(&w.restore(&manifest, Target::Head).unwrap()),
            notes(&w.store)
        );
    }
}

#[test]
fn small_budgets_spread_an_export_over_runs_that_each_stop_within_budget() {
    let mut w = World::new();
    for i in 0..450 {
        w.write(&format!("n/{i:03}.md"), format!("note {i}\n"));
    }
    w.archive_cycle();
    let budget = Budget {
        requests: 120,
        bytes: u64::MAX,
    };
    let mut runs = 0;
    let manifest = loop {
        runs += 1;
        let before = w.puts;
        match w.export(budget).unwrap() {
            RunState::Complete(manifest) => break *manifest,
            RunState::OutOfBudget => assert!(w.puts > before, "a run made no progress"),
            RunState::Working => panic!("a run stopped while working"),
        }
        assert!(runs < 20);
    };
    // 450 contents in packs of at most 200 would need 201 requests a pack: the budget splits
    // them, so every run makes progress and none goes over.
    assert!(runs >= 4, "{runs} runs");
    assert_eq!(
        notes(&w.restore(&manifest, Target::Head).unwrap()),
        notes(&w.store)
    );
}

#[test]
fn exports_are_incremental_and_manifests_chain() {
    // 10,000 notes of 4 KiB, then 1% of them changed: the second export uploads at most 2% of
    // the first one's bytes (the figure is printed; docs/benchmarks.md has it).
    let mut w = World::new();
    for i in 0..10_000 {
        w.write(&format!("n/{:02}/{i:05}.md", i % 100), note(i, 0));
    }
    w.archive_cycle();
    let first = w.export_fully(PLENTY, 1);
    let full_bytes = w.put_bytes;
    for i in (0..10_000).step_by(100) {
        w.write(&format!("n/{:02}/{i:05}.md", i % 100), note(i, 1));
    }
    w.archive_cycle();
    w.put_bytes = 0;
    let second = w.export_fully(PLENTY, 1);
    println!(
        "incremental export after 1% of 10,000 notes of 4 KiB changed: {} of {} bytes ({:.2}%)",
        w.put_bytes,
        full_bytes,
        100.0 * w.put_bytes as f64 / full_bytes as f64
    );
    assert!(
        w.put_bytes * 100 <= full_bytes * 2,
        "incremental {} bytes against {} for the first export",
        w.put_bytes,
        full_bytes
    );
    assert_eq!(second.previous, Some(first.encode().digest));
    assert_eq!(w.newest_manifest(), second);
    assert_eq!(
        notes(&w.restore(&second, Target::Head).unwrap()),
        notes(&w.store)
    );
    // The older backup still restores its own state.
    assert_eq!(w.restore(&first, Target::Head).unwrap().head(), first.head);
}

/// A 4 KiB note text, different for each `i` and `round`.
fn note(i: usize, round: usize) -> String {
    let line = format!("note {i} round {round}: the quick brown fox jumps over the lazy dog\n");
    line.repeat(4096 / line.len() + 1)[..4096].to_owned()
}

#[test]
fn damaged_backups_fail_naming_the_object() {
    let mut w = busy_world();
    let manifest = w.export_fully(PLENTY, 1);
    let segment = manifest.segments[1].key.clone();
    let pack = manifest.packs[0].key.clone();

    let mut altered = w.bucket.clone();
    altered.get_mut(&segment).unwrap()[10] ^= 1;
    let deleted = {
        let mut b = w.bucket.clone();
        b.remove(&pack);
        b
    };
    std::mem::swap(&mut w.bucket, &mut altered);
    assert!(matches!(
        w.restore(&manifest, Target::Head),
        Err(RestoreError::Altered { key, .. }) if key == segment
    ));
    w.bucket = deleted;
    assert!(matches!(
        w.restore(&manifest, Target::Head),
        Err(RestoreError::Missing { key }) if key == pack
    ));
    // A manifest whose digest does not match the log's notes.
    w.bucket = altered;
    let mut wrong = manifest.clone();
    wrong.state_digest = Hash::ZERO;
    assert!(matches!(
        w.restore(&wrong, Target::Head),
        Err(RestoreError::StateMismatch { .. })
    ));
}

#[test]
fn an_archive_with_a_gap_is_refused_before_anything_is_uploaded() {
    let mut w = busy_world();
    let first = w.r2.keys().next().unwrap().clone();
    w.r2.remove(&first);
    let error = w.export(PLENTY).unwrap_err();
    assert!(error.contains("seqs 1..="), "{error}");
    assert!(w.bucket.is_empty());
}

#[test]
fn a_sealed_signed_export_restores_exactly_with_the_identity_and_names_no_plaintext_hash() {
    let mut w = busy(World::sealed());
    let manifest = w.export_fully(PLENTY, 1);
    let recipient = w.sealing.clone().unwrap();
    assert_eq!(
        manifest.encryption.as_ref().map(|e| e.recipient.clone()),
        Some(recipient.to_string())
    );
    let restored = w.restore(&manifest, Target::Head).unwrap();
    assert_eq!(notes(&restored), notes(&w.store));
    for (path, live) in memory(&w.store).history().iter() {
        assert_eq!(memory(&restored).history().versions(path.as_str()), live);
    }

    // The manifest in the bucket is signed by the world's key.
    let layout = UserLayout::new(USER);
    let (key, bytes) = w
        .bucket
        .iter()
        .find(|(k, _)| layout.parse_manifest_key(k).is_some())
        .unwrap();
    let opened = Manifest::open(bytes).unwrap();
    assert_eq!(
        opened.signer,
        w.signing.as_ref().map(SigningKey::public_key)
    );
    assert_eq!(*key, manifest.encode_with(w.signing.as_ref()).key);

    // No key and no manifest byte names a plaintext: contents, segments, packs.
    let mut plain: Vec<Hash> = w.blobs.keys().copied().collect();
    plain.extend(w.exported.sealed.values().map(|s| s.plain));
    plain.extend(
        w.r2.keys()
            .filter_map(|k| archive::parse_segment_key(&archive::segment_prefix(USER), k))
            .map(|s| s.digest),
    );
    assert!(plain.len() > 35, "{} plaintext hashes", plain.len());
    let manifest_text = String::from_utf8_lossy(bytes).into_owned();
    for hash in &plain {
        let hex = hash.to_hex();
        assert!(
            w.bucket.keys().all(|k| !k.contains(&hex)),
            "a key names {hex}"
        );
        assert!(!manifest_text.contains(&hex));
        assert!(
            !bytes.windows(32).any(|win| win == hash.0),
            "the manifest holds {hex}"
        );
    }
    // And no object holds a note's text.
    for object in w.bucket.values() {
        assert!(!object.windows(14).any(|win| win == b"note 0, edited"));
    }
    assert_eq!(w.exported.sealed.len(), manifest.objects().count());
}

#[test]
fn a_sealed_backup_needs_the_recipients_identity() {
    let mut w = busy(World::sealed());
    let manifest = w.export_fully(PLENTY, 1);
    let recipient = manifest.encryption.clone().unwrap().recipient;
    w.identities = Vec::new();
    assert_eq!(
        w.restore(&manifest, Target::Head).unwrap_err(),
        RestoreError::NeedsIdentity {
            recipient: recipient.clone()
        }
    );
    let stranger = Identity::from_secret_bytes([5; 32]);
    w.identities = vec![stranger.clone()];
    assert_eq!(
        w.restore(&manifest, Target::Head).unwrap_err(),
        RestoreError::WrongIdentity {
            recipient,
            given: stranger.recipient().to_string()
        }
    );
    // Objects can still be checked as stored without it (what the cron's drill does).
    let key = &manifest.packs[0].key;
    let stored = restore::check_object(
        w.bucket.get(key).map(Vec::as_slice),
        key,
        manifest.packs[0].size,
        &manifest.packs[0].blake3,
    )
    .unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
}

#[test]
fn a_sealed_export_interrupted_anywhere_uploads_each_object_once() {
    let total = {
        let mut w = busy(World::sealed());
        w.export_fully(PLENTY, 1);
        u32::try_from(w.puts).unwrap()
    };
    for fail_after in 0..total {
        let mut w = busy(World::sealed());
        w.puts_before_failure = Some(fail_after);
        assert!(w.export(PLENTY).is_err(), "put {fail_after} fails");
        w.puts_before_failure = None;
        let manifest = w.export_fully(PLENTY, 1);
        assert_eq!(
            w.puts as usize,
            manifest.objects().count() + 1,
            "after failing at put {fail_after}"
        );
        assert_eq!(
            notes(&w.restore(&manifest, Target::Head).unwrap()),
            notes(&w.store)
        );
    }
    // Later exports upload only what is new, sealed exports too.
    let mut w = busy(World::sealed());
    w.export_fully(PLENTY, 1);
    let before = w.puts;
    w.write("notes/50.md", "one more\n");
    w.export_fully(PLENTY, 1);
    assert_eq!(
        w.puts - before,
        3,
        "a tail segment, a pack and the manifest"
    );
}

#[test]
fn a_new_recipient_or_turning_sealing_on_reuses_nothing_written_otherwise() {
    let mut w = busy_world();
    let plain = w.export_fully(PLENTY, 1);
    assert!(plain.encryption.is_none());
    let sealed = World::sealed();
    w.sealing = sealed.sealing.clone();
    w.identities = sealed.identities.clone();
    let first = w.export_fully(PLENTY, 1);
    assert!(
        first
            .objects()
            .all(|(k, _, _)| w.exported.sealed.contains_key(k))
    );
    assert!(
        first
            .objects()
            .all(|(k, _, _)| plain.objects().all(|(p, _, _)| p != k))
    );
    assert_eq!(
        notes(&w.restore(&first, Target::Head).unwrap()),
        notes(&w.store)
    );
    // Another recipient: everything is sealed again, to it.
    let other = Identity::from_secret_bytes([6; 32]);
    w.sealing = Some(other.recipient());
    w.identities = vec![other];
    let second = w.export_fully(PLENTY, 1);
    assert!(
        second
            .objects()
            .all(|(k, _, _)| first.objects().all(|(p, _, _)| p != k))
    );
    assert_eq!(
        notes(&w.restore(&second, Target::Head).unwrap()),
        notes(&w.store)
    );
}
