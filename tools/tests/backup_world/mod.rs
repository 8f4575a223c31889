//! A user's world for the CLI tests: a simulated user (`backups::sim`: the store, its R2
//! archive and contents) whose exports go to a real S3 bucket (s3-local on a temporary
//! directory), driven step by step as the Durable Object drives them.

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use backups::export::{Budget, RunState};
use backups::manifest::Manifest;
use backups::s3::{self, BlockingHttp, LargePut, Operation, PutOptions, S3Config};
use backups::sim::{SimBucket, SimUser};
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
    sim: SimUser,
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

/// The real bucket as an export sees it.
struct S3Bucket<'a> {
    config: &'a S3Config,
    http: &'a mut S3Http,
}

impl SimBucket for S3Bucket<'_> {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<(), String> {
        s3::put_large(
            self.http,
            self.config,
            key,
            bytes,
            LargePut::default(),
            now_ms,
        )
        .map_err(|e| e.to_string())
    }

    fn keys(&mut self, prefix: &str) -> Vec<String> {
        s3::list_all(self.http, self.config, prefix, now_ms)
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }
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
            sim: SimUser::new(USER),
        }
    }

    /// One complete export, as the Durable Object drives it; returns the manifest.
    pub(crate) fn export(&mut self) -> Manifest {
        let mut bucket = S3Bucket {
            config: &self.config,
            http: &mut self.http,
        };
        match self
            .sim
            .export_run(&mut bucket, PLENTY, "backup_cli test")
            .unwrap()
        {
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
    w.write("binary.bin", [0, 159, 146, 150, 255, b'\n', b'\r']);
    w
}
