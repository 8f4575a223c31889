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
}

impl Config {
    /// Reads and checks the configuration from the Worker's vars.
    pub fn from_env(env: &worker::Env) -> Result<Self, ConfigError> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        Self::from_vars(var("ENVIRONMENT").as_deref(), var("LOCAL_DEV").as_deref())
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
        })
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
                local_dev: true
            }
        );
        let prod = Config::from_vars(Some("production"), None).unwrap();
        assert_eq!(
            prod,
            Config {
                environment: Environment::Production,
                local_dev: false
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
}
