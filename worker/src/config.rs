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
    /// in production.
    pub local_dev: bool,
    /// How long `/mcp`'s SSE connections stay open.
    pub streams: StreamTimes,
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
    /// Local development mode was switched on in production.
    #[error("LOCAL_DEV is enabled in the production environment; refusing to serve")]
    LocalDevInProduction,
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
    /// Reads and checks the configuration from the Worker's vars.
    pub fn from_env(env: &worker::Env) -> Result<Self, ConfigError> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        Self::from_vars(var("ENVIRONMENT").as_deref(), var("LOCAL_DEV").as_deref())?
            .with_stream_vars(
                var(POLL_AFTER_VAR).as_deref(),
                var(STREAM_MAX_VAR).as_deref(),
            )
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
            streams: StreamTimes::default(),
        })
    }
}

/// The var that sets [`StreamTimes::poll_after_ms`].
const POLL_AFTER_VAR: &str = "MCP_SSE_POLL_AFTER_MS";
/// The var that sets [`StreamTimes::stream_max_ms`].
const STREAM_MAX_VAR: &str = "MCP_SSE_STREAM_MAX_MS";

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
    fn dev_and_production_are_accepted() {
        let dev = Config::from_vars(Some("dev"), Some("1")).unwrap();
        assert_eq!(
            dev,
            Config {
                environment: Environment::Dev,
                local_dev: true,
                streams: StreamTimes::default(),
            }
        );
        let prod = Config::from_vars(Some("production"), None).unwrap();
        assert_eq!(
            prod,
            Config {
                environment: Environment::Production,
                local_dev: false,
                streams: StreamTimes::default(),
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
