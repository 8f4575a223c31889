//! `second-brain backup list|verify` and `second-brain restore`: reading a user's backup in an
//! S3 bucket (as the Worker's export writes it; layout in `backups::layout`).
//!
//! Every command reads the bucket only: nothing here writes, overwrites or deletes an object.
//! The S3 settings are shared ([`S3Args`]); the secret key is read from the environment only.
//!
//! Exit codes (also in `--help` and `docs/runbooks/restore.md`), from [`Failure::exit_code`]:
//! 0 ok, 1 any other error (local I/O...), 2 usage or settings, 3 nothing found (no manifest,
//! or nothing written by the asked time), 4 the backup is damaged, 5 S3 unreachable or refused,
//! 6 the keys do not fit: the backup is sealed and no identity or a wrong one was given, or
//! the manifest is unsigned or signed by another key than `--signing-public-key`.
//!
//! Layout: [`bucket`] (the blocking S3 reads and how their failures map to exit codes),
//! [`list`], [`verify`], [`restore`] (planning and fetching) and [`restore_dir`] (what a
//! restore writes into its directory).

pub(crate) mod bucket;
pub(crate) mod keys;
pub(crate) mod list;
pub(crate) mod restore;
pub(crate) mod restore_archive;
pub(crate) mod restore_dir;
pub(crate) mod verify;

use std::process::ExitCode;

use backups::s3::S3Config;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The text printed after `second-brain --help`: what the backup commands need and return.
pub(crate) const BACKUPS_HELP: &str = "\
Backups:
  backup list, backup verify and restore read a user's backup from an S3 bucket (read only).
  Settings: --endpoint, --region, --bucket, or S3_BACKUP_ENDPOINT, S3_BACKUP_REGION,
  S3_BACKUP_BUCKET; the keys are read from the environment only, from S3_BACKUP_ACCESS_KEY
  and S3_BACKUP_SECRET_KEY (other names with --access-key-env / --secret-key-env).
  Sealed backups need --identity FILE; signed ones are checked with --signing-public-key HEX
  (or BACKUP_SIGNING_PUBLIC_KEY). backup keygen makes both pairs.
  Exit codes: 0 ok, 1 other error, 2 usage or settings, 3 nothing found,
  4 backup damaged (the object at fault is named), 5 S3 unreachable or refused,
  6 keys do not fit (no or wrong identity; manifest unsigned or signed by another key).
  Runbook: docs/runbooks/restore.md";

/// Environment variables the Worker reads its backup settings from; the CLI's defaults.
const ENDPOINT_ENV: &str = "S3_BACKUP_ENDPOINT";
const REGION_ENV: &str = "S3_BACKUP_REGION";
const BUCKET_ENV: &str = "S3_BACKUP_BUCKET";
const ACCESS_KEY_ENV: &str = "S3_BACKUP_ACCESS_KEY";
const SECRET_KEY_ENV: &str = "S3_BACKUP_SECRET_KEY";

/// Where the backup bucket is and as whom to read it.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct S3Args {
    /// The S3 endpoint, scheme and host (`https://ACCOUNT.r2.cloudflarestorage.com`).
    #[arg(long, env = ENDPOINT_ENV)]
    endpoint: Option<String>,
    /// The signing region (`auto` for R2).
    #[arg(long, env = REGION_ENV)]
    region: Option<String>,
    /// The backup bucket.
    #[arg(long, env = BUCKET_ENV)]
    bucket: Option<String>,
    /// The environment variable holding the access key id (never given on the command line).
    #[arg(long, value_name = "NAME", default_value = ACCESS_KEY_ENV)]
    access_key_env: String,
    /// The environment variable holding the secret key (never given on the command line).
    #[arg(long, value_name = "NAME", default_value = SECRET_KEY_ENV)]
    secret_key_env: String,
}

impl S3Args {
    /// The S3 settings, with the keys looked up by `env`; a missing one is named.
    pub(crate) fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Config, Failure> {
        let given = |value: &Option<String>, flag: &str, var: &str| {
            value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                Failure::Settings(format!("no S3 {flag}: pass --{flag} or set {var}"))
            })
        };
        let secret = |var: &str, what: &str| {
            env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                Failure::Settings(format!(
                    "no S3 {what}: set the environment variable {var} (keys are never read from \
                     the command line)"
                ))
            })
        };
        Ok(S3Config {
            endpoint: given(&self.endpoint, "endpoint", ENDPOINT_ENV)?
                .trim_end_matches('/')
                .to_owned(),
            region: given(&self.region, "region", REGION_ENV)?,
            bucket: given(&self.bucket, "bucket", BUCKET_ENV)?,
            access_key: secret(&self.access_key_env, "access key")?,
            secret_key: secret(&self.secret_key_env, "secret key")?,
        })
    }

    /// [`S3Args::resolve`] from the process environment.
    pub(crate) fn config(&self) -> Result<S3Config, Failure> {
        self.resolve(|name| std::env::var(name).ok())
    }
}

/// Why a backup command failed, by what the operator should do about it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// A flag or setting is missing or wrong (exit 2).
    #[error("{0}")]
    Settings(String),
    /// There is nothing to list or restore (exit 3).
    #[error("{0}")]
    NothingFound(String),
    /// The backup is damaged: a missing or altered object, a broken chain, a wrong digest (exit 4).
    #[error("{0}")]
    Damaged(String),
    /// S3 could not be reached, or refused the request (exit 5).
    #[error("{0}")]
    S3(String),
    /// The keys do not fit the backup: no or a wrong identity, an unsigned manifest or one
    /// signed by another key (exit 6).
    #[error("{0}")]
    Keys(String),
    /// A check of a deployed Worker failed (`smoke`; exit 7).
    #[error("{0}")]
    Check(String),
    /// A deploy or rollback did not end with a healthy new version (`code`: 1 nothing
    /// changed, 7 rolled back, 8 nothing healthy serves; see `deploy_cmd`).
    #[error("{message}")]
    Gate {
        /// The exit code.
        code: u8,
        /// What happened.
        message: String,
    },
}

impl Failure {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Settings(_) => 2,
            Failure::NothingFound(_) => 3,
            Failure::Damaged(_) => 4,
            Failure::S3(_) => 5,
            Failure::Keys(_) => 6,
            Failure::Check(_) => 7,
            Failure::Gate { code, .. } => *code,
        }
    }
}

/// The exit code for an error of any command: a [`Failure`]'s own, 1 otherwise.
pub(crate) fn exit_code(error: &anyhow::Error) -> ExitCode {
    ExitCode::from(
        error
            .downcast_ref::<Failure>()
            .map_or(1, Failure::exit_code),
    )
}

/// Unix milliseconds as RFC 3339 in UTC, with a fraction only when there is one
/// (`2026-12-06T00:00:01Z`, `2026-12-06T00:00:01.25Z`).
pub(crate) fn rfc3339(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// An RFC 3339 time (any offset) as unix milliseconds; fractions below a millisecond are cut.
pub(crate) fn parse_rfc3339(text: &str) -> Result<u64, Failure> {
    let bad = |why: String| {
        Failure::Settings(format!(
            "--time {text:?} is not an RFC 3339 time such as 2026-12-04T08:00:00Z: {why}"
        ))
    };
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| bad(e.to_string()))?;
    let ms = time.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).map_err(|_| bad("it is before 1970".into()))
}

/// A byte count for people: `912 B`, `4.0 KiB`, `1.2 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> S3Args {
        S3Args {
            endpoint: Some("http://127.0.0.1:9000/".into()),
            region: Some("auto".into()),
            bucket: Some("b".into()),
            access_key_env: "MY_ACCESS".into(),
            secret_key_env: "MY_SECRET".into(),
        }
    }

    #[test]
    fn settings_come_from_flags_and_keys_from_the_named_variables() {
        let env = |name: &str| match name {
            "MY_ACCESS" => Some("AK".to_owned()),
            "MY_SECRET" => Some("SK".to_owned()),
            _ => None,
        };
        let config = args().resolve(env).unwrap();
        assert_eq!(config.endpoint, "http://127.0.0.1:9000");
        assert_eq!(
            (config.access_key.as_str(), config.secret_key.as_str()),
            ("AK", "SK")
        );
        assert_eq!(config.bucket, "b");
    }

    #[test]
    fn a_missing_setting_is_named_with_its_exit_code() {
        let only_access = |name: &str| (name == "MY_ACCESS").then(|| "AK".to_owned());
        let error = args().resolve(only_access).unwrap_err();
        assert!(error.to_string().contains("MY_SECRET"), "{error}");
        assert_eq!(error.exit_code(), 2);
        let mut no_bucket = args();
        no_bucket.bucket = None;
        let error = no_bucket.resolve(|_| Some("k".into())).unwrap_err();
        assert!(error.to_string().contains("S3_BACKUP_BUCKET"), "{error}");
    }

    #[test]
    fn times_round_trip_through_rfc3339() {
        let ms = 1_796_515_201_000;
        assert_eq!(rfc3339(ms), "2026-12-06T00:00:01Z");
        assert_eq!(parse_rfc3339(&rfc3339(ms)).unwrap(), ms);
        assert_eq!(rfc3339(ms + 250), "2026-12-06T00:00:01.25Z");
        assert_eq!(
            parse_rfc3339("2026-12-06T01:00:01.250+01:00").unwrap(),
            ms + 250
        );
        for bad in ["2026-12-04", "yesterday", "1969-12-31T23:59:59Z"] {
            assert_eq!(parse_rfc3339(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn exit_codes_follow_the_failure_kind() {
        let codes: Vec<u8> = [
            Failure::Settings(String::new()),
            Failure::NothingFound(String::new()),
            Failure::Damaged(String::new()),
            Failure::S3(String::new()),
            Failure::Keys(String::new()),
        ]
        .iter()
        .map(Failure::exit_code)
        .collect();
        assert_eq!(codes, [2, 3, 4, 5, 6]);
        let wrapped = anyhow::Error::new(Failure::Damaged("x".into())).context("verifying");
        assert_eq!(exit_code(&wrapped), ExitCode::from(4));
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), ExitCode::from(1));
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(human_bytes(912), "912 B");
        assert_eq!(human_bytes(4096), "4.0 KiB");
        assert_eq!(human_bytes(1_258_291), "1.2 MiB");
    }
}
