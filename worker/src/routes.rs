//! Which handler serves a method and path.

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
            (_, path) => {
                if let Some(object) = path.strip_prefix("/__dev/alarm/") {
                    if is_object_name(object) {
                        return Route::DevAlarm { object };
                    }
                } else if let Some(object) = path.strip_prefix("/__dev/storage/") {
                    if is_object_name(object) {
                        return Route::DevStorage { object };
                    }
                } else if let Some(user) = path.strip_prefix("/__dev/archive/")
                    && is_object_name(user)
                {
                    return Route::DevArchive { user };
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
            Route::MethodNotAllowed { .. } => "method_not_allowed",
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
}
