//! The user's OAuth ledger (see [`crate::oauth::ledger`]): which code redemptions happened and
//! each grant's current refresh-token hash, in this object's SQLite storage, so single use is
//! decided in one place, one request at a time.
//!
//! Each request reads and writes its rows with no `.await` in between, so no other request of
//! this object runs inside a decision. Rows go when they expire (swept on every request: the
//! tables hold a handful of rows per client).

use serde::Deserialize;
use worker::{Request, Response, Result};

use super::{USER_HEADER, UserObject, now};
use crate::oauth::ledger::{
    GrantRow, LedgerAnswer, LedgerRequest, decide_redemption, decide_rotation,
};
use crate::reply;

/// The ledger's tables.
pub(super) const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS oauth_codes (code_hash TEXT PRIMARY KEY, \
     grant_id TEXT NOT NULL, expires_at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS oauth_grants (grant_id TEXT PRIMARY KEY, \
     refresh_hash TEXT, revoked INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL)",
];

#[derive(Debug, Deserialize)]
struct CodeRow {
    grant_id: String,
}

#[derive(Debug, Deserialize)]
struct StoredGrant {
    refresh_hash: Option<String>,
    revoked: i64,
}

/// The largest ledger request read (the front Worker's own, a few hashes and ids).
const LEDGER_MAX_BODY_BYTES: usize = 16 * 1024;

impl UserObject {
    /// `POST /oauth-ledger`: one [`LedgerRequest`], answered with a [`LedgerAnswer`].
    pub(super) async fn serve_oauth_ledger(&self, mut req: Request) -> Result<Response> {
        let Some(user) = req.headers().get(USER_HEADER)? else {
            return reply::error(400, "no_user", "the user header is missing");
        };
        if !self.bind_user(&user)? {
            return reply::error(409, "wrong_object", "this object serves another user");
        }
        let request = crate::request_body::read_capped(&mut req, LEDGER_MAX_BODY_BYTES)
            .await
            .ok()
            .and_then(|body| serde_json::from_slice::<LedgerRequest>(&body).ok());
        let Some(request) = request else {
            return reply::error(400, "bad_request", "not a ledger request");
        };
        // From here to the reply: no `.await`, so the decision is this object's alone.
        let answer = self.decide(request, now().0)?;
        reply::json(200, &answer)
    }

    fn decide(&self, request: LedgerRequest, now_ms: u64) -> Result<LedgerAnswer> {
        let sql = self.sql();
        let now_ms = ms(now_ms);
        sql.exec(
            "DELETE FROM oauth_codes WHERE expires_at_ms <= ?",
            vec![now_ms.into()],
        )?;
        sql.exec(
            "DELETE FROM oauth_grants WHERE expires_at_ms <= ?",
            vec![now_ms.into()],
        )?;
        match request {
            LedgerRequest::RedeemCode {
                code_hash,
                code_expires_at_ms,
                grant_id,
                refresh_hash,
                grant_expires_at_ms,
            } => {
                let earlier: Vec<CodeRow> = sql
                    .exec(
                        "SELECT grant_id FROM oauth_codes WHERE code_hash = ?",
                        vec![code_hash.clone().into()],
                    )?
                    .to_array()?;
                let answer = decide_redemption(earlier.first().map(|row| row.grant_id.as_str()));
                match &answer {
                    LedgerAnswer::CodeReplayed { grant_id: first } => self.revoke(first)?,
                    _ => {
                        sql.exec(
                            "INSERT INTO oauth_codes (code_hash, grant_id, expires_at_ms) \
                             VALUES (?, ?, ?)",
                            vec![
                                code_hash.into(),
                                grant_id.clone().into(),
                                ms(code_expires_at_ms).into(),
                            ],
                        )?;
                        sql.exec(
                            "INSERT OR REPLACE INTO oauth_grants \
                             (grant_id, refresh_hash, revoked, expires_at_ms) VALUES (?, ?, 0, ?)",
                            vec![
                                grant_id.into(),
                                refresh_hash.into(),
                                ms(grant_expires_at_ms).into(),
                            ],
                        )?;
                    }
                }
                Ok(answer)
            }
            LedgerRequest::RotateRefresh {
                grant_id,
                presented_hash,
                new_hash,
                grant_expires_at_ms,
            } => {
                let rows: Vec<StoredGrant> = sql
                    .exec(
                        "SELECT refresh_hash, revoked FROM oauth_grants WHERE grant_id = ?",
                        vec![grant_id.clone().into()],
                    )?
                    .to_array()?;
                let row = rows.into_iter().next().map(|row| GrantRow {
                    refresh_hash: row.refresh_hash,
                    revoked: row.revoked != 0,
                });
                let answer = decide_rotation(row.as_ref(), &presented_hash);
                match answer {
                    LedgerAnswer::Granted => {
                        sql.exec(
                            "INSERT OR REPLACE INTO oauth_grants \
                             (grant_id, refresh_hash, revoked, expires_at_ms) VALUES (?, ?, 0, ?)",
                            vec![
                                grant_id.into(),
                                new_hash.into(),
                                ms(grant_expires_at_ms).into(),
                            ],
                        )?;
                    }
                    LedgerAnswer::RefreshReused => self.revoke(&grant_id)?,
                    LedgerAnswer::GrantRevoked | LedgerAnswer::CodeReplayed { .. } => {}
                }
                Ok(answer)
            }
            LedgerRequest::RevokeGrant { grant_id } => {
                self.revoke(&grant_id)?;
                Ok(LedgerAnswer::GrantRevoked)
            }
        }
    }

    /// Marks `grant_id` revoked, keeping its row (or making one) for a day past now at least,
    /// so a refresh of it is refused even where KV still has its records.
    fn revoke(&self, grant_id: &str) -> Result<()> {
        let keep_until = ms(now().0.saturating_add(REVOKED_KEPT_MS));
        self.sql().exec(
            "INSERT INTO oauth_grants (grant_id, refresh_hash, revoked, expires_at_ms) \
             VALUES (?, NULL, 1, ?) ON CONFLICT(grant_id) DO UPDATE SET revoked = 1, \
             expires_at_ms = MAX(expires_at_ms, excluded.expires_at_ms)",
            vec![grant_id.into(), keep_until.into()],
        )?;
        Ok(())
    }
}

/// How long a revoked grant's row stays at least: longer than KV takes to forget its records
/// everywhere.
const REVOKED_KEPT_MS: u64 = 24 * 3600 * 1000;

/// Milliseconds as SQLite's integer (they fit: the epoch in ms is far below `i64::MAX`).
fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
