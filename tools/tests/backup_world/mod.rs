//! A user's world for the CLI tests: the store (the engine over memory), its R2 archive as a
//! map, and a real S3 bucket (s3-local on a temporary directory) that exports upload to, with
//! the export driven step by step as the Durable Object drives it.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use backups::archive::{self, ArchivedSegment};
use backups::export::{
    Budget, ExportInputs, ExportRun, ExportStep, Exported, FromStore, RunState, StepResult,
};
use backups::layout::UserLayout;
use backups::manifest::Manifest;
use backups::s3::{self, BlockingHttp, LargePut, Operation, PutOptions, S3Config};
use backups::seal::{Entropy, Recipient};
use backups::sign::SigningKey;
use engine::store::WriteRequest;
use engine::{Config, EventId, Hash, MemoryStorage, Store, Timestamp};
use second_brain_tools::s3_http::S3Http;
use second_brain_tools::s3_local::{self, S3Local};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) const USER: &str = "1001";
pub(crate) const ACCESS_KEY: &str = "local-access";
pub(crate) const SECRET_KEY: &str = "local-secret-for-tests";
pub(crate) const BUCKET: &str = "backups";
/// The bucket `restore --to-archive` writes the R2 archive layout into.
pub(crate) const ARCHIVE_BUCKET: &str = "archive";
const PLENTY: Budget = Budget {
    requests: u64::MAX,
    bytes: u64::MAX,
};

pub(crate) fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since_epoch.as_millis()).unwrap()
}

pub(crate) fn rfc3339(ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// A user's store, its R2 archive, and the S3 bucket its backups go to.
pub(crate) struct World {
    _dir: tempfile::TempDir,
    _server: S3Local,
    config: S3Config,
    http: S3Http,
    pub(crate) store: Store<MemoryStorage>,
    pub(crate) blobs: BTreeMap<Hash, Vec<u8>>,
    r2: BTreeMap<String, Vec<u8>>,
    exported: Exported,
    pub(crate) clock: u64,
    ids: u64,
    /// Exports seal to this recipient and sign with this key.
    pub(crate) sealing: Option<Recipient>,
    pub(crate) signing: Option<SigningKey>,
    draws: u64,
}

impl World {
    pub(crate) fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        // s3s-fs buckets are directories.
        std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
        let server = s3_local::spawn(dir.path(), ACCESS_KEY, SECRET_KEY).unwrap();
        let config = S3Config {
            endpoint: server.url(),
            region: "us-east-1".into(),
            bucket: BUCKET.into(),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
        };
        World {
            _dir: dir,
            _server: server,
            config,
            http: S3Http::new().unwrap(),
            store: Store::open(MemoryStorage::default(), Config::default())
                .unwrap()
                .0,
            blobs: BTreeMap::new(),
            r2: BTreeMap::new(),
            exported: Exported::default(),
            clock: 1_796_515_200_000,
            ids: 0,
            sealing: None,
            signing: None,
            draws: 0,
        }
    }

    fn entropy(&mut self) -> Entropy {
        self.draws += 1;
        let mut bytes = [0u8; 64];
        for (half, out) in bytes.chunks_mut(32).enumerate() {
            out.copy_from_slice(&Hash::of(format!("{} {half}", self.draws).as_bytes()).0);
        }
        Entropy::from_bytes(bytes)
    }

    fn tick(&mut self) -> Timestamp {
        self.clock += 1_000;
        Timestamp(self.clock)
    }

    fn id(&mut self) -> EventId {
        self.ids += 1;
        EventId::derive(&self.ids.to_le_bytes())
    }

    pub(crate) fn write(&mut self, path: &str, content: &[u8]) {
        let id = self.id();
        let now = self.tick();
        let req = WriteRequest {
            id,
            path,
            content,
            media_type: "text/markdown",
            expected_version: None,
            edit: false,
        };
        let plan = self.store.plan_write(&req).unwrap();
        self.blobs.insert(plan.hash(), content.to_vec());
        self.store.write(&req, &plan, now).unwrap();
    }

    pub(crate) fn delete(&mut self, path: &str) {
        let (id, now) = (self.id(), self.tick());
        self.store.delete(id, path, None, now).unwrap();
    }

    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        let (id, now) = (self.id(), self.tick());
        self.store.move_note(id, from, to, None, now).unwrap();
    }

    /// The Durable Object's snapshot cycle: snapshot, archive each planned range, compact.
    pub(crate) fn archive_cycle(&mut self) {
        self.store.take_snapshot().unwrap();
        for range in self.store.compaction_plan().segments {
            let segment = self
                .store
                .encode_segment(*range.start(), *range.end())
                .unwrap();
            self.r2
                .insert(archive::segment_key(USER, &segment), segment.bytes.clone());
            let now = self.tick();
            self.store.record_archived(&segment, now).unwrap();
        }
        self.store.compact().unwrap();
    }

    fn put(&mut self, key: &str, bytes: &[u8]) {
        s3::put_large(
            &mut self.http,
            &self.config,
            key,
            bytes,
            LargePut::default(),
            now_ms,
        )
        .unwrap();
    }

    fn keys(&mut self, prefix: &str) -> Vec<String> {
        s3::list_all(&mut self.http, &self.config, prefix, now_ms)
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// One complete export, as the Durable Object drives it; returns the manifest.
    pub(crate) fn export(&mut self) -> Manifest {
        let layout = UserLayout::new(USER);
        let listed: Vec<ArchivedSegment> = self
            .r2
            .keys()
            .filter_map(|k| archive::parse_segment_key(&archive::segment_prefix(USER), k))
            .collect();
        let from_store = FromStore::of(&self.store);
        let previous = self
            .keys(&layout.manifests())
            .iter()
            .find_map(|k| layout.parse_manifest_key(k))
            .map(|(_, digest)| digest);
        let exported = self.exported.clone();
        let (sealing, signing) = (self.sealing.clone(), self.signing.clone());
        let inputs = ExportInputs {
            user: USER,
            build: "backup_cli test",
            head: from_store.head,
            archived: from_store.archived,
            archive: &listed,
            state: from_store.state,
            contents: &from_store.contents,
            exported: &exported,
            previous,
            now_ms: self.clock,
            sealing: sealing.as_ref(),
            signing: signing.as_ref(),
        };
        let mut run = ExportRun::new(&inputs, PLENTY).unwrap();
        while let Some(step) = run.next_step() {
            let entropy = self.entropy();
            let prepared = match step {
                ExportStep::CopySegment(listed) => {
                    let bytes = self.r2[&listed.key].clone();
                    run.prepare_segment(bytes, &entropy).unwrap()
                }
                ExportStep::PutTail { first, last } => {
                    let segment = self.store.encode_range(first, last).unwrap();
                    run.prepare_segment(segment.bytes, &entropy).unwrap()
                }
                ExportStep::PutPack(hashes) => {
                    let held: Vec<(Hash, &[u8])> = hashes
                        .iter()
                        .map(|h| (*h, self.blobs[h].as_slice()))
                        .collect();
                    run.prepare_pack(&held, &entropy)
                }
                ExportStep::PutManifest(manifest) => {
                    self.put(&manifest.key, &manifest.bytes);
                    run.complete(StepResult::Manifest).unwrap();
                    continue;
                }
            };
            self.put(&prepared.key, &prepared.bytes);
            self.exported.record(&prepared.result);
            run.complete(prepared.result).unwrap();
        }
        match run.state() {
            RunState::Complete(manifest) => *manifest,
            other => panic!("the export did not complete: {other:?}"),
        }
    }

    /// Replaces the object at `key` (an operator's mistake, or rot).
    pub(crate) fn overwrite(&mut self, key: &str, bytes: &[u8]) {
        let request = self
            .config
            .put_object(key, bytes.to_vec(), PutOptions::default(), now_ms())
            .unwrap();
        s3::check(&self.http.send(request).unwrap(), Operation::PutObject, key).unwrap();
    }

    pub(crate) fn remove(&mut self, key: &str) {
        let request = self.config.delete_object(key, now_ms()).unwrap();
        s3::check(
            &self.http.send(request).unwrap(),
            Operation::DeleteObject,
            key,
        )
        .unwrap();
    }

    pub(crate) fn get(&mut self, key: &str) -> Vec<u8> {
        let request = self.config.get_object(key, now_ms()).unwrap();
        let response = self.http.send(request).unwrap();
        s3::check(&response, Operation::GetObject, key).unwrap();
        response.body
    }

    /// Runs the CLI with this world's S3 settings in the environment.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_secret(args, SECRET_KEY)
    }

    pub(crate) fn cli_with_secret(&self, args: &[&str], secret: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_second-brain"))
            .args(args)
            .env("S3_BACKUP_ENDPOINT", &self.config.endpoint)
            .env("S3_BACKUP_REGION", &self.config.region)
            .env("S3_BACKUP_BUCKET", &self.config.bucket)
            .env("S3_BACKUP_ACCESS_KEY", ACCESS_KEY)
            .env("S3_BACKUP_SECRET_KEY", secret)
            .output()
            .unwrap()
    }

    /// The archive bucket (`restore --to-archive`'s target) on the same server: created on
    /// first use.
    pub(crate) fn archive_config(&self) -> S3Config {
        let _ = std::fs::create_dir(self._dir.path().join(ARCHIVE_BUCKET));
        S3Config {
            bucket: ARCHIVE_BUCKET.into(),
            ..self.config.clone()
        }
    }

    /// Runs the CLI with this world's S3 settings and the archive bucket's in the environment.
    pub(crate) fn cli_with_archive(&self, args: &[&str]) -> Output {
        let archive = self.archive_config();
        Command::new(env!("CARGO_BIN_EXE_second-brain"))
            .args(args)
            .env("S3_BACKUP_ENDPOINT", &self.config.endpoint)
            .env("S3_BACKUP_REGION", &self.config.region)
            .env("S3_BACKUP_BUCKET", &self.config.bucket)
            .env("S3_BACKUP_ACCESS_KEY", ACCESS_KEY)
            .env("S3_BACKUP_SECRET_KEY", SECRET_KEY)
            .env("R2_ARCHIVE_ENDPOINT", &archive.endpoint)
            .env("R2_ARCHIVE_REGION", &archive.region)
            .env("R2_ARCHIVE_BUCKET", &archive.bucket)
            .env("R2_ARCHIVE_ACCESS_KEY", ACCESS_KEY)
            .env("R2_ARCHIVE_SECRET_KEY", SECRET_KEY)
            .output()
            .unwrap()
    }

    /// The current notes: path and bytes.
    pub(crate) fn notes(&self) -> BTreeMap<String, Vec<u8>> {
        self.store
            .files()
            .iter()
            .map(|(path, entry)| (path.as_str().to_owned(), self.blobs[&entry.hash].clone()))
            .collect()
    }
}

/// A user with archived and unarchived history: writes, edits, moves, deletes.
pub(crate) fn busy_world() -> World {
    let mut w = World::new();
    for i in 0..30 {
        w.write(
            &format!("notes/{i:02}.md"),
            format!("note {i}\n").as_bytes(),
        );
    }
    w.archive_cycle();
    w.write("notes/00.md", b"note 0, edited\n");
    w.rename("notes/01.md", "archive/01.md");
    w.delete("notes/02.md");
    w.write(
        "deep/er/still deeper/\u{e9}t\u{e9}.md",
        "caf\u{e9}\n".as_bytes(),
    );
    w.archive_cycle();
    w.write("notes/03.md", b"note 3, after the archive\n");
    w.write("binary.bin", &[0, 159, 146, 150, 255, b'\n', b'\r']);
    w
}
