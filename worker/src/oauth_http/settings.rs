//! The sign-in settings, read from the Worker's vars and secrets, checked before use.
//!
//! | name | kind | what |
//! | --- | --- | --- |
//! | `PUBLIC_BASE_URL` | var | our origin (`https://host`), the OAuth issuer; in local development it defaults to the request's origin |
//! | `COOKIE_ENCRYPTION_KEY` | secret | 32 bytes as 64 hex digits: seals the sign-in cookie |
//! | `GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET` | secrets | the GitHub OAuth app |
//! | `GITHUB_ALLOWED_USER_ID` | var | comma-separated GitHub user ids that may sign in (must not be empty) |
//! | `GITHUB_BASE_URL` | var | a loopback GitHub stand-in; accepted only with `LOCAL_DEV=1` |
//! | `RATE_LIMIT_PER_MINUTE`, `_PER_HOUR`, `_PER_DAY` | vars | per-user `/mcp` limits in JSON-RPC requests (default 120, 2,400, 10,000) |
//!
//! Errors name the variable and what is wrong with it, never its value when it is a secret.

use thiserror::Error;

use crate::oauth::cookie::CookieKey;
use crate::oauth::endpoints::ServerUrls;
use crate::oauth::github::{Allowlist, GitHubApp, GitHubEndpoints};
use crate::oauth::ratelimit::{IpLimits, RateLimits};
use crate::oauth::registration::RegistrationPolicy;
use crate::oauth::tokens::Lifetimes;

/// Everything the OAuth routes and the `/mcp` check need.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) urls: ServerUrls,
    pub(crate) cookie_key: CookieKey,
    pub(crate) app: GitHubApp,
    pub(crate) github: GitHubEndpoints,
    pub(crate) allowlist: Allowlist,
    pub(crate) rate_limits: RateLimits,
    pub(crate) ip_limits: IpLimits,
    pub(crate) registration: RegistrationPolicy,
    pub(crate) lifetimes: Lifetimes,
}

/// A setting we cannot serve sign-in with. Shown to callers (503 `misconfigured`): it names
/// the variable, never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum SettingsError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

impl Settings {
    /// Reads the settings through `lookup` (vars and secrets by name). `request_origin` is the
    /// origin the request came to, used as the base URL only in local development.
    pub(crate) fn read(
        lookup: impl Fn(&str) -> Option<String>,
        local_dev: bool,
        request_origin: &str,
    ) -> Result<Self, SettingsError> {
        let get = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let require = |name: &'static str| get(name).ok_or(SettingsError::Missing(name));
        let invalid = |name: &'static str, why: String| SettingsError::Invalid { name, why };

        let base = match get("PUBLIC_BASE_URL") {
            Some(base) => base,
            None if local_dev => request_origin.to_owned(),
            None => return Err(SettingsError::Missing("PUBLIC_BASE_URL")),
        };
        let urls =
            ServerUrls::new(&base).map_err(|err| invalid("PUBLIC_BASE_URL", err.to_string()))?;
        if urls.is_local_http() && !local_dev {
            return Err(invalid(
                "PUBLIC_BASE_URL",
                "plain http is allowed only with LOCAL_DEV=1".into(),
            ));
        }
        let cookie_key =
            CookieKey::from_hex(require("COOKIE_ENCRYPTION_KEY")?.trim()).map_err(|_| {
                invalid(
                    "COOKIE_ENCRYPTION_KEY",
                    "expected 64 hex digits (32 bytes: `openssl rand -hex 32`)".into(),
                )
            })?;
        let app = GitHubApp::new(
            require("GITHUB_CLIENT_ID")?.trim(),
            require("GITHUB_CLIENT_SECRET")?.trim(),
        );
        let github = match get("GITHUB_BASE_URL") {
            None => GitHubEndpoints::github(),
            Some(_) if !local_dev => {
                return Err(invalid(
                    "GITHUB_BASE_URL",
                    "a GitHub stand-in is allowed only with LOCAL_DEV=1".into(),
                ));
            }
            Some(base) => GitHubEndpoints::local_standin(base.trim())
                .map_err(|err| invalid("GITHUB_BASE_URL", err.to_string()))?,
        };
        let allowlist = Allowlist::parse(&require("GITHUB_ALLOWED_USER_ID")?)
            .map_err(|err| invalid("GITHUB_ALLOWED_USER_ID", err.to_string()))?;
        if allowlist.is_empty() {
            return Err(invalid(
                "GITHUB_ALLOWED_USER_ID",
                "it lists no user id, so nobody could sign in".into(),
            ));
        }
        let defaults = RateLimits::default();
        let limit = |name: &'static str, default: u32| match get(name) {
            None => Ok(default),
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(invalid(name, "expected a whole number above 0".into())),
            },
        };
        let rate_limits = RateLimits {
            per_minute: limit("RATE_LIMIT_PER_MINUTE", defaults.per_minute)?,
            per_hour: limit("RATE_LIMIT_PER_HOUR", defaults.per_hour)?,
            per_day: limit("RATE_LIMIT_PER_DAY", defaults.per_day)?,
        };
        Ok(Settings {
            urls,
            cookie_key,
            app,
            github,
            allowlist,
            rate_limits,
            ip_limits: IpLimits::default(),
            registration: RegistrationPolicy::default(),
            lifetimes: Lifetimes::default(),
        })
    }
}

/// The per-user limits as the header value the front Worker sends to the user's object:
/// `minute,hour,day`.
pub(crate) fn limits_header(limits: &RateLimits) -> String {
    format!(
        "{},{},{}",
        limits.per_minute, limits.per_hour, limits.per_day
    )
}

/// Parses [`limits_header`]'s value.
pub(crate) fn parse_limits_header(value: &str) -> Option<RateLimits> {
    let mut parts = value.split(',').map(|part| part.trim().parse::<u32>().ok());
    let limits = RateLimits {
        per_minute: parts.next()??,
        per_hour: parts.next()??,
        per_day: parts.next()??,
    };
    parts.next().is_none().then_some(limits)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn production() -> Vec<(&'static str, &'static str)> {
        vec![
            ("PUBLIC_BASE_URL", "https://brain.example.com"),
            ("COOKIE_ENCRYPTION_KEY", KEY),
            ("GITHUB_CLIENT_ID", "gh-id"),
            ("GITHUB_CLIENT_SECRET", "gh-secret-value"),
            ("GITHUB_ALLOWED_USER_ID", "583231"),
        ]
    }

    #[test]
    fn a_complete_production_set_is_accepted_with_default_limits() {
        let settings = Settings::read(vars(&production()), false, "https://x.example").unwrap();
        assert_eq!(settings.urls.issuer(), "https://brain.example.com");
        assert_eq!(settings.rate_limits, RateLimits::default());
        assert!(settings.allowlist.allows(583_231));
        assert_eq!(settings.github, GitHubEndpoints::github());
    }

    #[test]
    fn each_missing_or_bad_value_is_named_without_secrets() {
        for name in [
            "PUBLIC_BASE_URL",
            "COOKIE_ENCRYPTION_KEY",
            "GITHUB_CLIENT_ID",
            "GITHUB_CLIENT_SECRET",
            "GITHUB_ALLOWED_USER_ID",
        ] {
            let set: Vec<_> = production()
                .into_iter()
                .filter(|(n, _)| *n != name)
                .collect();
            let err = Settings::read(vars(&set), false, "https://x.example").unwrap_err();
            assert_eq!(err, SettingsError::Missing(name));
        }
        let mut set = production();
        set[1] = ("COOKIE_ENCRYPTION_KEY", "not-hex-secret");
        let err = Settings::read(vars(&set), false, "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("COOKIE_ENCRYPTION_KEY") && !err.contains("not-hex-secret"));
        let mut set = production();
        set[4] = ("GITHUB_ALLOWED_USER_ID", " , ");
        let err = Settings::read(vars(&set), false, "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nobody could sign in"), "{err}");
        let mut set = production();
        set.push(("RATE_LIMIT_PER_HOUR", "0"));
        let err = Settings::read(vars(&set), false, "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RATE_LIMIT_PER_HOUR"), "{err}");
    }

    #[test]
    fn the_standin_and_plain_http_need_local_dev() {
        let mut set = production();
        set.push(("GITHUB_BASE_URL", "http://127.0.0.1:9999"));
        let err = Settings::read(vars(&set), false, "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("GITHUB_BASE_URL"), "{err}");
        let local = Settings::read(vars(&set), true, "").unwrap();
        assert_eq!(
            local.github,
            GitHubEndpoints::local_standin("http://127.0.0.1:9999").unwrap()
        );
        let mut set = production();
        set[0] = ("PUBLIC_BASE_URL", "http://127.0.0.1:8787");
        assert!(Settings::read(vars(&set), false, "").is_err());
        // Local development without PUBLIC_BASE_URL uses the request's origin.
        let set: Vec<_> = production()
            .into_iter()
            .filter(|(n, _)| *n != "PUBLIC_BASE_URL")
            .collect();
        let local = Settings::read(vars(&set), true, "http://127.0.0.1:4000").unwrap();
        assert_eq!(local.urls.issuer(), "http://127.0.0.1:4000");
        let mut set = production();
        set.push(("GITHUB_BASE_URL", "https://evil.example.com"));
        assert!(Settings::read(vars(&set), true, "").is_err());
    }

    #[test]
    fn limits_travel_in_a_header() {
        let limits = RateLimits {
            per_minute: 5,
            per_hour: 50,
            per_day: 500,
        };
        assert_eq!(parse_limits_header(&limits_header(&limits)), Some(limits));
        for bad in ["", "1,2", "1,2,3,4", "a,b,c", "-1,2,3"] {
            assert_eq!(parse_limits_header(bad), None, "{bad}");
        }
    }
}
