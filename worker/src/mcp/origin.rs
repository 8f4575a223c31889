//! Which browser origins may call `/mcp`.
//!
//! Every Streamable HTTP revision says servers must validate `Origin` to stop DNS rebinding;
//! 2025-11-25 adds that a present, invalid `Origin` gets 403. A request without `Origin` comes
//! from a non-browser client (Claude Desktop, Claude Code, SDKs) and is allowed: browsers always
//! send it on cross-origin POSTs, so its absence cannot be forged by a web page.

/// The origins allowed to call `/mcp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Vec<String>,
    allow_localhost: bool,
}

impl OriginPolicy {
    /// A policy allowing exactly `origins` (serialized origins such as `https://claude.ai`;
    /// scheme and host compare case-insensitively, a trailing `/` is ignored).
    pub fn new<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        OriginPolicy {
            allowed: origins
                .into_iter()
                .map(|origin| normalize(origin.as_ref()))
                .collect(),
            allow_localhost: false,
        }
    }

    /// Also allows `http`/`https` origins on `localhost`, `127.0.0.1` and `[::1]`, any port.
    /// For local development only: in production these are exactly what DNS rebinding forges.
    pub fn with_localhost(mut self) -> Self {
        self.allow_localhost = true;
        self
    }

    /// Whether a request with this `Origin` header (or none) may proceed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = normalize(origin);
        if self.allowed.contains(&origin) {
            return true;
        }
        self.allow_localhost && is_localhost(&origin)
    }
}

fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn is_localhost(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(bracketed) => {
            return bracketed.split_once(']').is_some_and(|(host, after)| {
                host == "::1" && (after.is_empty() || after.strip_prefix(':').is_some_and(is_port))
            });
        }
        None => match rest.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => rest,
        },
    };
    host == "localhost" || host == "127.0.0.1"
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_origin_is_allowed() {
        assert!(OriginPolicy::default().allows(None));
    }

    #[test]
    fn listed_origins_only() {
        let policy = OriginPolicy::new(["https://claude.ai", "https://Example.com/"]);
        assert!(policy.allows(Some("https://claude.ai")));
        assert!(policy.allows(Some("HTTPS://CLAUDE.AI")));
        assert!(policy.allows(Some("https://example.com")));
        assert!(!policy.allows(Some("https://evil.example")));
        assert!(!policy.allows(Some("http://claude.ai")));
        assert!(!policy.allows(Some("https://claude.ai:8443")));
        assert!(!policy.allows(Some("null")));
        assert!(!policy.allows(Some("")));
    }

    #[test]
    fn localhost_only_when_configured() {
        let strict = OriginPolicy::new(["https://claude.ai"]);
        let dev = strict.clone().with_localhost();
        for origin in [
            "http://localhost",
            "http://localhost:6274",
            "https://127.0.0.1:8787",
            "http://[::1]:3000",
            "http://[::1]",
        ] {
            assert!(!strict.allows(Some(origin)), "{origin}");
            assert!(dev.allows(Some(origin)), "{origin}");
        }
        for origin in [
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://localhost:notaport",
            "http://localhost:+80",
            "http://[::2]:80",
            "ftp://localhost",
            "localhost",
            "http://[::1]x",
        ] {
            assert!(!dev.allows(Some(origin)), "{origin}");
        }
    }
}
