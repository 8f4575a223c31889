//! Which handler serves a method and path.

use crate::oauth::endpoints::{Endpoint, Resolution};

/// A resolved route. Its [`Route::name`] is what the request log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `GET /health`.
    Health,
    /// `/mcp`, any method: the transport rules decide (405 with `Allow` for the others).
    Mcp,
    /// `/__dev/alarm/{object}`: drives a Durable Object's alarm; served only in local dev.
    DevAlarm { object: &'a str },
    /// `/__dev/storage/{object}`: runs the SQLite storage self-test on a scratch object;
    /// served only in local dev.
    DevStorage { object: &'a str },
    /// `/__dev/archive/{user}`: looks at and damages a user's archive, or wipes the user's
    /// object's local storage; served only in local dev.
    DevArchive { user: &'a str },
    /// `/__dev/memory/{user}`: what a user's object holds in memory (`GET`); served only in
    /// local dev.
    DevMemory { user: &'a str },
    /// `/__dev/grow/{user}`: makes a user's object write generated notes (`POST`); served
    /// only in local dev.
    DevGrow { user: &'a str },
    /// `POST /admin/rebuild/{user}`: the operator's rebuild of a user's object from its
    /// archive (behind `ADMIN_TOKEN`).
    AdminRebuild { user: &'a str },
    /// An OAuth endpoint (discovery, registration, sign-in, tokens), as the OAuth layer
    /// resolved it.
    OAuth(Resolution),
    /// A known path with a method it does not take.
    MethodNotAllowed { allow: &'static str },
    /// Anything else.
    NotFound,
}

impl<'a> Route<'a> {
    /// Resolves `method` and `path`.
    pub(crate) fn resolve(method: &str, path: &'a str) -> Self {
        match (method, path) {
            ("GET" | "HEAD", "/health") => Route::Health,
            (_, "/health") => Route::MethodNotAllowed { allow: "GET, HEAD" },
            (_, "/mcp") => Route::Mcp,
            (method, path) => {
                if let Some(resolution) = Endpoint::resolve(method, path) {
                    return Route::OAuth(resolution);
                }
                if let Some(user) = path.strip_prefix("/admin/rebuild/")
                    && is_object_name(user)
                {
                    return if method == "POST" {
                        Route::AdminRebuild { user }
                    } else {
                        Route::MethodNotAllowed { allow: "POST" }
                    };
                }
                if let Some(object) = path.strip_prefix("/__dev/alarm/") {
                    if is_object_name(object) {
                        return Route::DevAlarm { object };
                    }
                } else if let Some(object) = path.strip_prefix("/__dev/storage/") {
                    if is_object_name(object) {
                        return Route::DevStorage { object };
                    }
                } else if let Some(user) = path.strip_prefix("/__dev/archive/") {
                    if is_object_name(user) {
                        return Route::DevArchive { user };
                    }
                } else if let Some(user) = path.strip_prefix("/__dev/memory/") {
                    if is_object_name(user) {
                        return Route::DevMemory { user };
                    }
                } else if let Some(user) = path.strip_prefix("/__dev/grow/")
                    && is_object_name(user)
                {
                    return Route::DevGrow { user };
                }
                Route::NotFound
            }
        }
    }

    /// The route's name for logs: a pattern, never the raw path.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Route::Health => "/health",
            Route::Mcp => "/mcp",
            Route::DevAlarm { .. } => "/__dev/alarm/{object}",
            Route::DevStorage { .. } => "/__dev/storage/{object}",
            Route::DevArchive { .. } => "/__dev/archive/{user}",
            Route::DevMemory { .. } => "/__dev/memory/{user}",
            Route::DevGrow { .. } => "/__dev/grow/{user}",
            Route::AdminRebuild { .. } => "/admin/rebuild/{user}",
            Route::OAuth(Resolution::Endpoint(endpoint)) => match endpoint {
                Endpoint::ProtectedResourceMetadata => "/.well-known/oauth-protected-resource",
                Endpoint::AuthorizationServerMetadata => "/.well-known/oauth-authorization-server",
                Endpoint::Register => "/register",
                Endpoint::Authorize => "GET /authorize",
                Endpoint::Consent => "POST /authorize",
                Endpoint::Callback => "/oauth/callback",
                Endpoint::Token => "/token",
                Endpoint::Revoke => "/revoke",
            },
            Route::OAuth(Resolution::Preflight) => "oauth_preflight",
            Route::MethodNotAllowed { .. } | Route::OAuth(Resolution::MethodNotAllowed(_)) => {
                "method_not_allowed"
            }
            Route::NotFound => "not_found",
        }
    }
}

fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_rebuild_takes_post_and_a_plain_user_id() {
        assert_eq!(
            Route::resolve("POST", "/admin/rebuild/1001"),
            Route::AdminRebuild { user: "1001" }
        );
        assert_eq!(
            Route::resolve("GET", "/admin/rebuild/1001"),
            Route::MethodNotAllowed { allow: "POST" }
        );
        assert_eq!(
            Route::resolve("POST", "/admin/rebuild/a/b"),
            Route::NotFound
        );
        assert_eq!(Route::resolve("POST", "/admin/rebuild/"), Route::NotFound);
    }

    #[test]
    fn health_takes_get_and_head_only() {
        assert_eq!(Route::resolve("GET", "/health"), Route::Health);
        assert_eq!(Route::resolve("HEAD", "/health"), Route::Health);
        assert_eq!(
            Route::resolve("POST", "/health"),
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        );
    }

    #[test]
    fn unknown_paths_are_not_found_and_logged_without_the_path() {
        let route = Route::resolve("GET", "/secret/user@example.com");
        assert_eq!(route, Route::NotFound);
        assert_eq!(route.name(), "not_found");
    }

    #[test]
    fn mcp_takes_every_method() {
        for method in ["POST", "GET", "DELETE", "PUT"] {
            assert_eq!(Route::resolve(method, "/mcp"), Route::Mcp);
        }
        assert_eq!(Route::resolve("POST", "/mcp/x"), Route::NotFound);
        assert_eq!(Route::Mcp.name(), "/mcp");
    }

    #[test]
    fn oauth_paths_go_to_the_oauth_layer_and_log_as_patterns() {
        assert_eq!(
            Route::resolve("POST", "/token"),
            Route::OAuth(Resolution::Endpoint(Endpoint::Token))
        );
        assert_eq!(
            Route::resolve("GET", "/.well-known/oauth-protected-resource/mcp").name(),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            Route::resolve("POST", "/authorize").name(),
            "POST /authorize"
        );
        assert_eq!(
            Route::resolve("DELETE", "/authorize").name(),
            "method_not_allowed"
        );
    }

    #[test]
    fn dev_alarm_takes_plain_object_names() {
        assert_eq!(
            Route::resolve("PUT", "/__dev/alarm/a-1"),
            Route::DevAlarm { object: "a-1" }
        );
        assert_eq!(Route::resolve("PUT", "/__dev/alarm/"), Route::NotFound);
        assert_eq!(Route::resolve("PUT", "/__dev/alarm/a/b"), Route::NotFound);
        assert_eq!(
            Route::resolve("POST", "/__dev/storage/s-1"),
            Route::DevStorage { object: "s-1" }
        );
        assert_eq!(
            Route::resolve("POST", "/__dev/storage/a/b"),
            Route::NotFound
        );
    }

    #[test]
    fn dev_memory_and_grow_take_plain_user_ids_and_log_as_patterns() {
        assert_eq!(
            Route::resolve("GET", "/__dev/memory/bench-1"),
            Route::DevMemory { user: "bench-1" }
        );
        assert_eq!(
            Route::resolve("POST", "/__dev/grow/bench-1"),
            Route::DevGrow { user: "bench-1" }
        );
        // The object answers a wrong method (405), as it does for the archive route.
        assert_eq!(
            Route::resolve("DELETE", "/__dev/memory/u"),
            Route::DevMemory { user: "u" }
        );
        for path in [
            "/__dev/memory/",
            "/__dev/memory/a/b",
            "/__dev/grow/",
            "/__dev/grow/a@b",
            "/__dev/grow/a/b",
        ] {
            assert_eq!(Route::resolve("POST", path), Route::NotFound, "{path}");
        }
        assert_eq!(
            Route::resolve("GET", "/__dev/memory/secret-user").name(),
            "/__dev/memory/{user}"
        );
        assert_eq!(
            Route::resolve("POST", "/__dev/grow/secret-user").name(),
            "/__dev/grow/{user}"
        );
    }
}
