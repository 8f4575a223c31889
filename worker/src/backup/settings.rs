//! The backup settings: where the S3 bucket is, as whom to sign, how often to export.
//!
//! Secrets `S3_BACKUP_ACCESS_KEY`, `S3_BACKUP_SECRET_KEY`, `S3_BACKUP_BUCKET`,
//! `S3_BACKUP_REGION`; vars `S3_BACKUP_ENDPOINT` (default `https://s3.<region>.amazonaws.com`;
//! R2's is `https://<account>.r2.cloudflarestorage.com`), `BACKUP_INTERVAL_MINUTES` (default
//! 60) and `BACKUP_RETENTION` (`backups::retention::RetentionPolicy::parse`; default
//! `all:7d daily:30d weekly:12w monthly:365d grace:48h`). None of the four secrets set:
//! backups are off. Some but not all: an error naming the missing ones.
//!
//! Authenticity and secrecy, both optional: var `BACKUP_AGE_RECIPIENT` (an age X25519 public
//! key, `age1...`: every object is sealed to it; the identity never reaches the Worker) and
//! secret `BACKUP_SIGNING_KEY` (an ed25519 seed, 64 hex characters: every manifest is signed).
//! `second-brain backup keygen` makes both.

use backups::retention::{RetentionParseError, RetentionPolicy};
use backups::s3::S3Config;
use backups::seal::Recipient;
use backups::sign::SigningKey;
use thiserror::Error;

/// The secrets backups need.
pub(crate) const SECRETS: [&str; 4] = [
    "S3_BACKUP_ACCESS_KEY",
    "S3_BACKUP_SECRET_KEY",
    "S3_BACKUP_BUCKET",
    "S3_BACKUP_REGION",
];
const ENDPOINT: &str = "S3_BACKUP_ENDPOINT";
const INTERVAL: &str = "BACKUP_INTERVAL_MINUTES";
const RETENTION: &str = "BACKUP_RETENTION";
const RECIPIENT: &str = "BACKUP_AGE_RECIPIENT";
const SIGNING_KEY: &str = "BACKUP_SIGNING_KEY";
/// The default time between a user's exports.
const DEFAULT_INTERVAL_MINUTES: u64 = 60;
/// The longest interval accepted: a week.
const MAX_INTERVAL_MINUTES: u64 = 7 * 24 * 60;

/// Backups as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupSettings {
    /// The bucket and credentials.
    pub(crate) s3: S3Config,
    /// How long after a user's last export the next one is due (while they have changes).
    pub(crate) interval_ms: u64,
    /// Which backups the cron's pruner keeps (var `BACKUP_RETENTION`).
    pub(crate) retention: RetentionPolicy,
    /// Seal every object to this recipient.
    pub(crate) sealing: Option<Recipient>,
    /// Sign every manifest with this key.
    pub(crate) signing: Option<SigningKey>,
}

/// Why the backup settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum BackupSettingsError {
    /// Some secrets are set, others not.
    #[error("backups are half configured: {} not set", .0.join(", "))]
    Missing(Vec<&'static str>),
    /// The interval is not a whole number of minutes in range.
    #[error("{INTERVAL} is {0:?} (expected whole minutes from 1 to {MAX_INTERVAL_MINUTES})")]
    Interval(String),
    /// `BACKUP_RETENTION` is unreadable.
    #[error("{RETENTION}: {0}")]
    Retention(#[from] RetentionParseError),
    /// The endpoint is not an http(s) origin.
    #[error("{ENDPOINT} is {0:?} (expected http:// or https:// and a host, no path)")]
    Endpoint(String),
    /// The recipient is not an age X25519 public key.
    #[error("{RECIPIENT} is {0:?}, not an age X25519 recipient (age1...): {1}")]
    Recipient(String, backups::seal::KeyError),
    /// The signing key is not an ed25519 seed (its value is never shown).
    #[error("{SIGNING_KEY} is not an ed25519 signing key: {0}")]
    SigningKey(backups::sign::SignKeyError),
}

impl BackupSettings {
    /// Reads the settings from the Worker's environment; `Ok(None)`: backups are off.
    pub(crate) fn from_env(
        env: &worker::Env,
    ) -> Result<Option<BackupSettings>, BackupSettingsError> {
        Self::from_values(|name| {
            env.secret(name)
                .ok()
                .or_else(|| env.var(name).ok())
                .map(|v| v.to_string())
                .filter(|v| !v.is_empty())
        })
    }

    /// Reads the settings through `value` (a name to its non-empty value).
    pub(crate) fn from_values(
        value: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<BackupSettings>, BackupSettingsError> {
        let [access, secret, bucket, region] = SECRETS.map(&value);
        let missing: Vec<&'static str> = SECRETS
            .iter()
            .zip([&access, &secret, &bucket, &region])
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| *name)
            .collect();
        let (Some(access_key), Some(secret_key), Some(bucket), Some(region)) =
            (access, secret, bucket, region)
        else {
            return if missing.len() == SECRETS.len() {
                Ok(None)
            } else {
                Err(BackupSettingsError::Missing(missing))
            };
        };
        let endpoint = match value(ENDPOINT) {
            Some(endpoint) => {
                let origin = endpoint.trim_end_matches('/');
                let host = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                if host.is_none_or(|h| h.is_empty() || h.contains('/')) {
                    return Err(BackupSettingsError::Endpoint(endpoint));
                }
                origin.to_owned()
            }
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let interval_ms = match value(INTERVAL) {
            None => DEFAULT_INTERVAL_MINUTES * 60_000,
            Some(text) => match text.parse::<u64>() {
                Ok(m) if (1..=MAX_INTERVAL_MINUTES).contains(&m) => m * 60_000,
                _ => return Err(BackupSettingsError::Interval(text)),
            },
        };
        let retention = match value(RETENTION) {
            Some(text) => RetentionPolicy::parse(&text)?,
            None => RetentionPolicy::default(),
        };
        let sealing = match value(RECIPIENT) {
            None => None,
            Some(text) => Some(
                text.parse::<Recipient>()
                    .map_err(|e| BackupSettingsError::Recipient(text, e))?,
            ),
        };
        let signing = match value(SIGNING_KEY) {
            None => None,
            Some(text) => {
                Some(SigningKey::from_hex(&text).map_err(BackupSettingsError::SigningKey)?)
            }
        };
        Ok(Some(BackupSettings {
            s3: S3Config {
                endpoint,
                region,
                bucket,
                access_key,
                secret_key,
            },
            interval_ms,
            retention,
            sealing,
            signing,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<BackupSettings>, BackupSettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BackupSettings::from_values(|name| map.get(name).cloned())
    }

    const ALL: [(&str, &str); 4] = [
        ("S3_BACKUP_ACCESS_KEY", "ak"),
        ("S3_BACKUP_SECRET_KEY", "sk"),
        ("S3_BACKUP_BUCKET", "b"),
        ("S3_BACKUP_REGION", "eu-west-1"),
    ];

    #[test]
    fn nothing_set_means_backups_are_off_and_half_set_names_what_is_missing() {
        assert_eq!(read(&[]), Ok(None));
        assert_eq!(
            read(&ALL[..2]),
            Err(BackupSettingsError::Missing(vec![
                "S3_BACKUP_BUCKET",
                "S3_BACKUP_REGION"
            ]))
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let s = read(&ALL).unwrap().unwrap();
        assert_eq!(s.s3.endpoint, "https://s3.eu-west-1.amazonaws.com");
        assert_eq!(s.interval_ms, 3_600_000);
        let mut pairs = ALL.to_vec();
        pairs.push(("S3_BACKUP_ENDPOINT", "http://127.0.0.1:9000/"));
        pairs.push(("BACKUP_INTERVAL_MINUTES", "5"));
        let s = read(&pairs).unwrap().unwrap();
        assert_eq!(s.s3.endpoint, "http://127.0.0.1:9000");
        assert_eq!(s.interval_ms, 300_000);
        for (name, bad) in [
            ("BACKUP_INTERVAL_MINUTES", "0"),
            ("BACKUP_INTERVAL_MINUTES", "1.5"),
            ("BACKUP_INTERVAL_MINUTES", "10081"),
            ("S3_BACKUP_ENDPOINT", "ftp://host"),
            ("S3_BACKUP_ENDPOINT", "https://host/path"),
            ("S3_BACKUP_ENDPOINT", "https://"),
            ("BACKUP_RETENTION", "forever:1d"),
        ] {
            let mut pairs = ALL.to_vec();
            pairs.push((name, bad));
            assert!(read(&pairs).is_err(), "{name}={bad}");
        }
    }

    #[test]
    fn a_recipient_seals_and_a_signing_key_signs_and_bad_ones_are_named() {
        let s = read(&ALL).unwrap().unwrap();
        assert_eq!((s.sealing, s.signing), (None, None));
        let recipient = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
        let seed = "11".repeat(32);
        let mut pairs = ALL.to_vec();
        pairs.push(("BACKUP_AGE_RECIPIENT", recipient));
        pairs.push(("BACKUP_SIGNING_KEY", &seed));
        let s = read(&pairs).unwrap().unwrap();
        assert_eq!(s.sealing.unwrap().to_string(), recipient);
        assert_eq!(
            s.signing.unwrap().public_key(),
            SigningKey::from_seed([0x11; 32]).public_key()
        );
        let mut bad = ALL.to_vec();
        bad.push(("BACKUP_AGE_RECIPIENT", "age1oops"));
        let error = read(&bad).unwrap_err();
        assert!(matches!(error, BackupSettingsError::Recipient(..)));
        assert!(
            error.to_string().contains("BACKUP_AGE_RECIPIENT"),
            "{error}"
        );
        let secret = "zz".repeat(32);
        let mut bad = ALL.to_vec();
        bad.push(("BACKUP_SIGNING_KEY", &secret));
        let error = read(&bad).unwrap_err();
        assert!(error.to_string().contains("BACKUP_SIGNING_KEY"), "{error}");
        assert!(
            !error.to_string().contains(&secret),
            "the secret is never shown"
        );
    }
}
