//! Operator actions behind their own secret, `ADMIN_TOKEN` (at least 32 characters; unset:
//! every admin route answers 404, as if it did not exist).
//!
//! - `POST /admin/rebuild/{user}[?dry_run=1][&force=1]`: the user's object drops its local
//!   state and rebuilds from its archive in R2 (`session_object::rebuild`). `dry_run=1` says
//!   what it would load and lose, and changes nothing.
//!
//! Every call is logged (the user by its keyed tag), refused or not.

use serde_json::json;
use subtle::ConstantTimeEq;
use worker::{Env, Request, Response, Result};

use crate::reply;

/// The shortest `ADMIN_TOKEN` accepted.
const MIN_TOKEN_LEN: usize = 32;

/// Whether `presented` (the `Authorization` header) carries `token`.
fn authorized(token: &str, presented: Option<&str>) -> bool {
    let Some(given) = presented.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    token.len() >= MIN_TOKEN_LEN && bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// Serves `POST /admin/rebuild/{user}`.
pub(crate) async fn rebuild(req: Request, env: &Env, user: &str) -> Result<Response> {
    let token = env
        .secret("ADMIN_TOKEN")
        .ok()
        .map(|s| s.to_string())
        .filter(|t| t.len() >= MIN_TOKEN_LEN);
    let Some(token) = token else {
        return reply::error(404, "not_found", "no such route");
    };
    let tag = crate::telemetry::user_tag(env, user);
    let presented = req.headers().get("authorization")?;
    if !authorized(&token, presented.as_deref()) {
        worker::console_error!(
            "{}",
            json!({"msg": "admin_rebuild", "user_tag": tag, "outcome": "unauthorized"})
        );
        return reply::error(401, "unauthorized", "an admin token is required");
    }
    let url = req.url()?;
    let flag = |name: &str| url.query_pairs().any(|(k, v)| k == name && v == "1");
    let (dry_run, force) = (flag("dry_run"), flag("force"));
    worker::console_log!(
        "{}",
        json!({"msg": "admin_rebuild", "user_tag": tag, "outcome": "accepted", "dry_run": dry_run, "force": force})
    );
    crate::session_object::forward_rebuild(env, user, dry_run, force).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_of_a_long_enough_secret_is_accepted() {
        let token = "t".repeat(32);
        assert!(authorized(&token, Some(&format!("Bearer {token}"))));
        assert!(!authorized(&token, Some(&format!("Bearer {token}x"))));
        assert!(!authorized(&token, Some(&format!("bearer {token}"))));
        assert!(!authorized(&token, Some(&token)));
        assert!(!authorized(&token, None));
        let short = "s".repeat(31);
        assert!(!authorized(&short, Some(&format!("Bearer {short}"))));
    }
}
