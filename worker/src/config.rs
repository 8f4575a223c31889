//! The Worker's configuration, read from its vars, and the checks it must pass at startup.

use thiserror::Error;

/// Which deployment this Worker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// `second-brain-mcp-dev`, and local runs.
    Dev,
    /// `second-brain-mcp`.
    Production,
}

impl Environment {
    /// The name used in `wrangler.toml` and in `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Production => "production",
        }
    }
}

/// The configuration every request is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Which deployment this is (var `ENVIRONMENT`).
    pub environment: Environment,
    /// Local development mode (var `LOCAL_DEV=1`): dev-only routes and sign-in. Never allowed
    /// in production, and honoured only for requests from a loopback client
    /// ([`Config::for_request`]).
    pub local_dev: bool,
    /// Local development serves a `/mcp` request without a token as the dev user (var
    /// `DEV_WITHOUT_TOKEN=1`, only with `LOCAL_DEV=1`). Off, such a request gets the 401 that
    /// starts sign-in, as everywhere else.
    pub dev_without_token: bool,
    /// How long `/health` serves its last probe results from the isolate's memory (ms; 0:
    /// never). [`Config::DEFAULT_HEALTH_CACHE_MS`]; local development may change it (var
    /// `DEV_HEALTH_CACHE_MS`, 0 to 3,600,000) so tests see fresh or surely cached results.
    pub health_cache_ms: u64,
    /// How long an MCP session may stay unused before the user's object expires it from its
    /// alarm (var `MCP_SESSION_IDLE_TIMEOUT_MS`, whole milliseconds from 1,000 to 86,400,000;
    /// default [`Config::DEFAULT_SESSION_IDLE_TIMEOUT_MS`]). It applies to sessions opened
    /// after it is set.
    pub session_idle_timeout_ms: u64,
    /// How long `/mcp`'s SSE connections stay open.
    pub streams: StreamTimes,
    /// The archive's settings (local development may change them).
    pub archive: ArchiveSettings,
    /// Whether objects store lean snapshots (format 2, without the notes, which their SQLite
    /// tables hold) or full ones (format 1) locally: var `SNAPSHOT_LOCAL_FORMAT`, `lean` (the
    /// default) or `full`. `full` is for rolling back past the release that introduced format
    /// 2: builds before it read only full snapshots (`docs/runbooks/rollback.md`).
    pub lean_local_snapshots: bool,
}

/// The snapshot cycle's and the archive listing's settings. Outside local development they
/// are the product's; in local development (`LOCAL_DEV=1`) the vars `DEV_ARCHIVE_RETRY_MS`,
/// `DEV_R2_LIST_PAGE` and `DEV_FAIL_SNAPSHOT_UPLOADS` change them so that end-to-end tests
/// see the runtime retry a cycle and page through R2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSettings {
    /// How long after an unfinished snapshot cycle the alarm runs it again.
    pub retry_delay_ms: u64,
    /// How many keys one R2 list call asks for (`None`: R2's default, 1,000).
    pub list_page: Option<u32>,
    /// How many snapshot uploads fail on purpose (so a test sees the alarm retry them).
    pub fail_snapshot_uploads: u64,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        ArchiveSettings {
            retry_delay_ms: backups::snapshot_cycle::RETRY_DELAY_MS,
            list_page: None,
            fail_snapshot_uploads: 0,
        }
    }
}

/// How long `/mcp`'s SSE connections stay open (vars `MCP_SSE_POLL_AFTER_MS` and
/// `MCP_SSE_STREAM_MAX_MS`, whole milliseconds from 1 to [`StreamTimes::MAX_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTimes {
    /// In 2025-11-25 sessions, a POST's SSE reply still running after this long sends
    /// `retry` and closes its connection; the client resumes it with GET and `Last-Event-ID`
    /// (SSE polling). `None` (unset): the connection stays open until the response.
    pub poll_after_ms: Option<u64>,
    /// A GET stream closes after this long (with `retry` in 2025-11-25), so clients
    /// reconnect and no connection is held forever. Default [`StreamTimes::DEFAULT_STREAM_MAX_MS`].
    pub stream_max_ms: u64,
}

impl StreamTimes {
    /// The default lifetime of a GET stream: one minute.
    pub const DEFAULT_STREAM_MAX_MS: u64 = 60_000;
    /// The largest value either var takes: one hour.
    pub const MAX_MS: u64 = 3_600_000;
}

impl Default for StreamTimes {
    fn default() -> Self {
        StreamTimes {
            poll_after_ms: None,
            stream_max_ms: Self::DEFAULT_STREAM_MAX_MS,
        }
    }
}

/// Why the Worker refuses to serve with its configuration.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `ENVIRONMENT` is not set.
    #[error("the ENVIRONMENT var is not set (expected \"dev\" or \"production\")")]
    MissingEnvironment,
    /// `ENVIRONMENT` has a value we do not know.
    #[error("the ENVIRONMENT var is {0:?} (expected \"dev\" or \"production\")")]
    UnknownEnvironment(String),
    /// `LOCAL_DEV` has a value other than `0` or `1`.
    #[error("the LOCAL_DEV var is {0:?} (expected \"0\" or \"1\")")]
    InvalidLocalDev(String),
    /// `DEV_WITHOUT_TOKEN` has a value other than `0` or `1`.
    #[error("the DEV_WITHOUT_TOKEN var is {0:?} (expected \"0\" or \"1\")")]
    InvalidDevWithoutToken(String),
    /// Local development mode was switched on in production.
    #[error("LOCAL_DEV is enabled in the production environment; refusing to serve")]
    LocalDevInProduction,
    /// A local-development archive var is not a whole number in its range.
    #[error("the {name} var is {value:?} (expected a whole number from 1 to {max})")]
    InvalidDevVar {
        /// The var.
        name: &'static str,
        /// Its value.
        value: String,
        /// The largest value it takes.
        max: u64,
    },
    /// `MCP_SESSION_IDLE_TIMEOUT_MS` is not a whole number of milliseconds in range.
    #[error(
        "the MCP_SESSION_IDLE_TIMEOUT_MS var is {0:?} (expected whole milliseconds from {min} to {max})",
        min = Config::MIN_SESSION_IDLE_TIMEOUT_MS,
        max = Config::MAX_SESSION_IDLE_TIMEOUT_MS
    )]
    InvalidSessionIdleTimeout(String),
    /// `DEV_HEALTH_CACHE_MS` is not a whole number of milliseconds in range.
    #[error(
        "the DEV_HEALTH_CACHE_MS var is {0:?} (expected whole milliseconds from 0 to {max})",
        max = StreamTimes::MAX_MS
    )]
    InvalidHealthCache(String),
    /// `SNAPSHOT_LOCAL_FORMAT` is neither `lean` nor `full`.
    #[error("the SNAPSHOT_LOCAL_FORMAT var is {0:?} (expected \"lean\" or \"full\")")]
    InvalidSnapshotFormat(String),
    /// A stream time var is not a whole number of milliseconds in range.
    #[error(
        "the {name} var is {value:?} (expected whole milliseconds from 1 to {max})",
        max = StreamTimes::MAX_MS
    )]
    InvalidStreamTime {
        /// The var.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

impl Config {
    /// How long `/health` serves its last results by default: a flood of probes then costs
    /// one round of storage work per isolate every five seconds.
    pub const DEFAULT_HEALTH_CACHE_MS: u64 = 5_000;

    /// The product's idle session timeout: 30 minutes.
    pub const DEFAULT_SESSION_IDLE_TIMEOUT_MS: u64 = 30 * 60 * 1000;
    /// The shortest idle timeout `MCP_SESSION_IDLE_TIMEOUT_MS` takes: one second.
    pub const MIN_SESSION_IDLE_TIMEOUT_MS: u64 = 1_000;
    /// The longest: one day.
    pub const MAX_SESSION_IDLE_TIMEOUT_MS: u64 = 86_400_000;

    /// Reads and checks the configuration from the Worker's vars.
    pub fn from_env(env: &worker::Env) -> Result<Self, ConfigError> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        Self::from_vars(var("ENVIRONMENT").as_deref(), var("LOCAL_DEV").as_deref())?
            .with_without_token_var(var(WITHOUT_TOKEN_VAR).as_deref())?
            .with_health_cache_var(var(HEALTH_CACHE_VAR).as_deref())?
            .with_session_idle_var(var(SESSION_IDLE_VAR).as_deref())?
            .with_snapshot_format_var(var(SNAPSHOT_FORMAT_VAR).as_deref())?
            .with_stream_vars(
                var(POLL_AFTER_VAR).as_deref(),
                var(STREAM_MAX_VAR).as_deref(),
            )?
            .with_archive_vars(
                var(RETRY_VAR).as_deref(),
                var(LIST_PAGE_VAR).as_deref(),
                var(FAIL_UPLOADS_VAR).as_deref(),
            )
    }

    /// The same configuration as it applies to one request: local development only when the
    /// request comes from a loopback client (`from_loopback`, see `crate::loopback`), whatever
    /// the vars say, so a deployment that has `LOCAL_DEV=1` by mistake still serves nobody
    /// on the internet a dev route, a dev user or a stand-in sign-in.
    pub fn for_request(mut self, from_loopback: bool) -> Self {
        if !from_loopback {
            self.local_dev = false;
            self.dev_without_token = false;
        }
        self
    }

    /// The same configuration with `DEV_WITHOUT_TOKEN`'s raw value (unset, empty or `0`: off).
    /// Outside local development it is ignored.
    pub fn with_without_token_var(mut self, value: Option<&str>) -> Result<Self, ConfigError> {
        let on = match value {
            None | Some("") | Some("0") => false,
            Some("1") => true,
            Some(other) => return Err(ConfigError::InvalidDevWithoutToken(other.to_owned())),
        };
        self.dev_without_token = on && self.local_dev;
        Ok(self)
    }

    /// The same configuration with `MCP_SESSION_IDLE_TIMEOUT_MS`'s raw value (unset or empty:
    /// the default).
    pub fn with_session_idle_var(mut self, value: Option<&str>) -> Result<Self, ConfigError> {
        self.session_idle_timeout_ms = match value {
            None | Some("") => Self::DEFAULT_SESSION_IDLE_TIMEOUT_MS,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|ms| {
                    (Self::MIN_SESSION_IDLE_TIMEOUT_MS..=Self::MAX_SESSION_IDLE_TIMEOUT_MS)
                        .contains(ms)
                        && !text.starts_with('+')
                })
                .ok_or_else(|| {
                    ConfigError::InvalidSessionIdleTimeout(text.chars().take(64).collect())
                })?,
        };
        Ok(self)
    }

    /// The same configuration with `SNAPSHOT_LOCAL_FORMAT`'s raw value (unset or empty:
    /// `lean`).
    pub fn with_snapshot_format_var(mut self, value: Option<&str>) -> Result<Self, ConfigError> {
        self.lean_local_snapshots = match value {
            None | Some("") | Some("lean") => true,
            Some("full") => false,
            Some(other) => {
                return Err(ConfigError::InvalidSnapshotFormat(
                    other.chars().take(64).collect(),
                ));
            }
        };
        Ok(self)
    }

    /// The same configuration with `DEV_HEALTH_CACHE_MS`'s raw value (unset or empty: the
    /// default). Outside local development it is ignored.
    pub fn with_health_cache_var(mut self, value: Option<&str>) -> Result<Self, ConfigError> {
        self.health_cache_ms = match value {
            Some(text) if self.local_dev && !text.is_empty() => text
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= StreamTimes::MAX_MS && !text.starts_with('+'))
                .ok_or_else(|| ConfigError::InvalidHealthCache(text.chars().take(64).collect()))?,
            _ => Self::DEFAULT_HEALTH_CACHE_MS,
        };
        Ok(self)
    }

    /// The same configuration with the archive settings from the raw values of
    /// `DEV_ARCHIVE_RETRY_MS`, `DEV_R2_LIST_PAGE` and `DEV_FAIL_SNAPSHOT_UPLOADS` (unset or
    /// empty: the default). Outside local development they are ignored.
    pub fn with_archive_vars(
        mut self,
        retry_ms: Option<&str>,
        list_page: Option<&str>,
        fail_uploads: Option<&str>,
    ) -> Result<Self, ConfigError> {
        if !self.local_dev {
            self.archive = ArchiveSettings::default();
            return Ok(self);
        }
        let defaults = ArchiveSettings::default();
        self.archive = ArchiveSettings {
            retry_delay_ms: whole(RETRY_VAR, retry_ms, StreamTimes::MAX_MS)?
                .unwrap_or(defaults.retry_delay_ms),
            list_page: whole(LIST_PAGE_VAR, list_page, 1_000)?
                .map(|n| u32::try_from(n).unwrap_or(1_000)),
            fail_snapshot_uploads: whole(FAIL_UPLOADS_VAR, fail_uploads, 1_000)?.unwrap_or(0),
        };
        Ok(self)
    }

    /// The same configuration with the stream times from the raw values of
    /// `MCP_SSE_POLL_AFTER_MS` and `MCP_SSE_STREAM_MAX_MS` (unset or empty: the default).
    pub fn with_stream_vars(
        mut self,
        poll_after: Option<&str>,
        stream_max: Option<&str>,
    ) -> Result<Self, ConfigError> {
        self.streams = StreamTimes {
            poll_after_ms: millis(POLL_AFTER_VAR, poll_after)?,
            stream_max_ms: millis(STREAM_MAX_VAR, stream_max)?
                .unwrap_or(StreamTimes::DEFAULT_STREAM_MAX_MS),
        };
        Ok(self)
    }

    /// Checks the configuration given the raw values of `ENVIRONMENT` and `LOCAL_DEV`.
    pub fn from_vars(
        environment: Option<&str>,
        local_dev: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let environment = match environment {
            None | Some("") => return Err(ConfigError::MissingEnvironment),
            Some("dev") => Environment::Dev,
            Some("production") => Environment::Production,
            Some(other) => return Err(ConfigError::UnknownEnvironment(other.to_owned())),
        };
        let local_dev = match local_dev {
            None | Some("") | Some("0") => false,
            Some("1") => true,
            Some(other) => return Err(ConfigError::InvalidLocalDev(other.to_owned())),
        };
        if local_dev && environment == Environment::Production {
            return Err(ConfigError::LocalDevInProduction);
        }
        Ok(Config {
            environment,
            local_dev,
            dev_without_token: false,
            health_cache_ms: Self::DEFAULT_HEALTH_CACHE_MS,
            session_idle_timeout_ms: Self::DEFAULT_SESSION_IDLE_TIMEOUT_MS,
            streams: StreamTimes::default(),
            archive: ArchiveSettings::default(),
            lean_local_snapshots: true,
        })
    }
}

/// The var that sets [`StreamTimes::poll_after_ms`].
const POLL_AFTER_VAR: &str = "MCP_SSE_POLL_AFTER_MS";
/// The var that sets [`StreamTimes::stream_max_ms`].
const STREAM_MAX_VAR: &str = "MCP_SSE_STREAM_MAX_MS";
/// The var that sets [`Config::session_idle_timeout_ms`].
const SESSION_IDLE_VAR: &str = "MCP_SESSION_IDLE_TIMEOUT_MS";
/// The var that sets [`Config::lean_local_snapshots`].
const SNAPSHOT_FORMAT_VAR: &str = "SNAPSHOT_LOCAL_FORMAT";
/// The var that sets [`Config::health_cache_ms`] in local development.
const HEALTH_CACHE_VAR: &str = "DEV_HEALTH_CACHE_MS";
/// The var that sets [`Config::dev_without_token`].
const WITHOUT_TOKEN_VAR: &str = "DEV_WITHOUT_TOKEN";
/// The var that sets [`ArchiveSettings::retry_delay_ms`] in local development.
const RETRY_VAR: &str = "DEV_ARCHIVE_RETRY_MS";
/// The var that sets [`ArchiveSettings::list_page`] in local development.
const LIST_PAGE_VAR: &str = "DEV_R2_LIST_PAGE";
/// The var that sets [`ArchiveSettings::fail_snapshot_uploads`] in local development.
const FAIL_UPLOADS_VAR: &str = "DEV_FAIL_SNAPSHOT_UPLOADS";

/// A whole number from 1 to `max`; unset or empty: `None`.
fn whole(name: &'static str, value: Option<&str>, max: u64) -> Result<Option<u64>, ConfigError> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n) && !text.starts_with('+'))
            .map(Some)
            .ok_or_else(|| ConfigError::InvalidDevVar {
                name,
                value: text.chars().take(64).collect(),
                max,
            }),
    }
}

fn millis(name: &'static str, value: Option<&str>) -> Result<Option<u64>, ConfigError> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|ms| (1..=StreamTimes::MAX_MS).contains(ms) && !text.starts_with('+'))
            .map(Some)
            .ok_or_else(|| ConfigError::InvalidStreamTime {
                name,
                value: text.chars().take(64).collect(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_snapshot_format_is_lean_unless_full_is_asked_for() {
        let base = || Config::from_vars(Some("production"), None).unwrap();
        assert!(base().lean_local_snapshots);
        for lean in [None, Some(""), Some("lean")] {
            assert!(
                base()
                    .with_snapshot_format_var(lean)
                    .unwrap()
                    .lean_local_snapshots
            );
        }
        assert!(
            !base()
                .with_snapshot_format_var(Some("full"))
                .unwrap()
                .lean_local_snapshots
        );
        assert_eq!(
            base().with_snapshot_format_var(Some("FULL")),
            Err(ConfigError::InvalidSnapshotFormat("FULL".into()))
        );
    }

    #[test]
    fn dev_and_production_are_accepted() {
        let dev = Config::from_vars(Some("dev"), Some("1")).unwrap();
        assert_eq!(
            dev,
            Config {
                environment: Environment::Dev,
                local_dev: true,
                dev_without_token: false,
                health_cache_ms: Config::DEFAULT_HEALTH_CACHE_MS,
                session_idle_timeout_ms: Config::DEFAULT_SESSION_IDLE_TIMEOUT_MS,
                streams: StreamTimes::default(),
                archive: ArchiveSettings::default(),
                lean_local_snapshots: true,
            }
        );
        let prod = Config::from_vars(Some("production"), None).unwrap();
        assert_eq!(
            prod,
            Config {
                environment: Environment::Production,
                local_dev: false,
                dev_without_token: false,
                health_cache_ms: Config::DEFAULT_HEALTH_CACHE_MS,
                session_idle_timeout_ms: Config::DEFAULT_SESSION_IDLE_TIMEOUT_MS,
                streams: StreamTimes::default(),
                archive: ArchiveSettings::default(),
                lean_local_snapshots: true,
            }
        );
    }

    #[test]
    fn local_dev_is_refused_in_production() {
        assert_eq!(
            Config::from_vars(Some("production"), Some("1")),
            Err(ConfigError::LocalDevInProduction)
        );
    }

    #[test]
    fn unknown_values_are_named_in_the_error() {
        assert_eq!(
            Config::from_vars(None, None),
            Err(ConfigError::MissingEnvironment)
        );
        let err = Config::from_vars(Some("staging"), None).unwrap_err();
        assert!(err.to_string().contains("staging"));
        let err = Config::from_vars(Some("dev"), Some("yes")).unwrap_err();
        assert_eq!(err, ConfigError::InvalidLocalDev("yes".into()));
    }

    #[test]
    fn requests_from_elsewhere_get_no_local_development() {
        let local = Config::from_vars(Some("dev"), Some("1"))
            .unwrap()
            .with_without_token_var(Some("1"))
            .unwrap();
        assert!(local.local_dev && local.dev_without_token);
        assert_eq!(local.clone().for_request(true), local);
        let remote = local.for_request(false);
        assert!(!remote.local_dev && !remote.dev_without_token);
        assert_eq!(remote.environment, Environment::Dev);
    }

    #[test]
    fn serving_without_a_token_needs_local_development_and_a_plain_flag() {
        let deployed = Config::from_vars(Some("dev"), None).unwrap();
        assert!(
            !deployed
                .clone()
                .with_without_token_var(Some("1"))
                .unwrap()
                .dev_without_token
        );
        let local = Config::from_vars(Some("dev"), Some("1")).unwrap();
        for off in [None, Some(""), Some("0")] {
            let config = local.clone().with_without_token_var(off).unwrap();
            assert!(!config.dev_without_token, "{off:?}");
        }
        assert_eq!(
            local.with_without_token_var(Some("yes")),
            Err(ConfigError::InvalidDevWithoutToken("yes".into()))
        );
    }

    #[test]
    fn the_health_cache_is_five_seconds_unless_local_development_says_otherwise() {
        let cache = |local: Option<&str>, value: Option<&str>| {
            Config::from_vars(Some("dev"), local)
                .unwrap()
                .with_health_cache_var(value)
                .map(|config| config.health_cache_ms)
        };
        assert_eq!(cache(None, None), Ok(5_000));
        assert_eq!(cache(None, Some("0")), Ok(5_000));
        assert_eq!(cache(Some("1"), Some("0")), Ok(0));
        assert_eq!(cache(Some("1"), Some("")), Ok(5_000));
        assert_eq!(cache(Some("1"), Some("3600000")), Ok(3_600_000));
        for bad in ["-1", "+5", "3600001", "5s"] {
            assert_eq!(
                cache(Some("1"), Some(bad)),
                Err(ConfigError::InvalidHealthCache(bad.into()))
            );
        }
    }

    #[test]
    fn the_idle_timeout_is_thirty_minutes_unless_set() {
        let idle = |value: Option<&str>| {
            Config::from_vars(Some("production"), None)
                .unwrap()
                .with_session_idle_var(value)
                .map(|config| config.session_idle_timeout_ms)
        };
        assert_eq!(idle(None), Ok(1_800_000));
        assert_eq!(idle(Some("")), Ok(1_800_000));
        assert_eq!(idle(Some("1000")), Ok(1_000));
        assert_eq!(idle(Some("86400000")), Ok(86_400_000));
        for bad in ["999", "86400001", "+5000", "30m", "-1"] {
            assert_eq!(
                idle(Some(bad)),
                Err(ConfigError::InvalidSessionIdleTimeout(bad.into()))
            );
        }
    }

    #[test]
    fn archive_vars_apply_in_local_development_only() {
        let vars = |config: Config| config.with_archive_vars(Some("500"), Some("2"), Some("5"));
        let dev = vars(Config::from_vars(Some("dev"), Some("1")).unwrap()).unwrap();
        assert_eq!(
            dev.archive,
            ArchiveSettings {
                retry_delay_ms: 500,
                list_page: Some(2),
                fail_snapshot_uploads: 5,
            }
        );
        let deployed = vars(Config::from_vars(Some("dev"), None).unwrap()).unwrap();
        assert_eq!(deployed.archive, ArchiveSettings::default());
        assert_eq!(deployed.archive.retry_delay_ms, 30_000);
        let unset = Config::from_vars(Some("dev"), Some("1"))
            .unwrap()
            .with_archive_vars(None, Some(""), None)
            .unwrap();
        assert_eq!(unset.archive, ArchiveSettings::default());
        for (retry, page) in [(Some("0"), None), (None, Some("1001")), (Some("x"), None)] {
            let err = Config::from_vars(Some("dev"), Some("1"))
                .unwrap()
                .with_archive_vars(retry, page, None)
                .unwrap_err();
            assert!(matches!(err, ConfigError::InvalidDevVar { .. }), "{err}");
        }
    }

    #[test]
    fn stream_times_default_and_parse() {
        let base = Config::from_vars(Some("dev"), None).unwrap();
        let times = |poll: Option<&str>, max: Option<&str>| {
            base.clone().with_stream_vars(poll, max).map(|c| c.streams)
        };
        assert_eq!(times(None, None), Ok(StreamTimes::default()));
        assert_eq!(times(Some(""), Some("")), Ok(StreamTimes::default()));
        assert_eq!(
            times(Some("300"), Some("2000")),
            Ok(StreamTimes {
                poll_after_ms: Some(300),
                stream_max_ms: 2000
            })
        );
        assert_eq!(
            times(Some("3600000"), None).map(|t| t.poll_after_ms),
            Ok(Some(3_600_000))
        );
    }

    #[test]
    fn stream_times_out_of_range_are_refused_by_name() {
        for bad in [
            "0",
            "-1",
            "+5",
            "1.5",
            "10s",
            "3600001",
            " 5",
            "99999999999999999999",
        ] {
            let err = Config::from_vars(Some("dev"), None)
                .unwrap()
                .with_stream_vars(Some(bad), None)
                .unwrap_err();
            assert!(
                matches!(
                    &err,
                    ConfigError::InvalidStreamTime {
                        name: "MCP_SSE_POLL_AFTER_MS",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
            let err = Config::from_vars(Some("dev"), None)
                .unwrap()
                .with_stream_vars(None, Some(bad))
                .unwrap_err();
            assert!(err.to_string().contains("MCP_SSE_STREAM_MAX_MS"), "{err}");
        }
    }
}
