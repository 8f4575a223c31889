//! What MCP clients call directly: `POST /register`, `POST /token`, `POST /revoke`.
//!
//! `/token` and `/revoke` check the request against the KV records, then have the user's
//! Durable Object decide (or record) what must be exact (single use of codes and refresh
//! tokens, revocation: [`crate::oauth::ledger`]) before anything is written.

use worker::{Env, Request, Result, kv::KvStore};

use super::sign_in::too_large;
use super::{Decisions, OAUTH_KV, Settings, apply, form, get_json, random};
use crate::oauth::ledger::LedgerAnswer;
use crate::oauth::params::Params;
use crate::oauth::registration::{self, ClientRecord, RegistrationRandom};
use crate::oauth::response::Reply;
use crate::oauth::revocation::{RevocationRequest, TokenOwner};
use crate::oauth::storage::{client_key, grant_key};
use crate::oauth::token_endpoint::{
    RefreshExchange, TokenContext, TokenOutcome, TokenRequest, ledger_refusal,
};
use crate::oauth::tokens::{CodeRecord, Grant, IssueRandom, RefreshRecord};
use crate::request_body::{BodyError, read_capped};
use crate::session_object::ask_oauth_ledger;

/// `POST /register` (RFC 7591).
pub(super) async fn register(
    mut req: Request,
    env: &Env,
    settings: &Settings,
    now: u64,
    decisions: &Decisions,
) -> Result<Reply> {
    let body = match read_capped(&mut req, settings.registration.max_body_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { .. }) => return Ok(too_large()),
        Err(BodyError::Failed(err)) => return Err(err),
    };
    let random = RegistrationRandom {
        client_id: random()?,
        client_secret: random()?,
    };
    match registration::register(&body, &settings.registration, now, &random) {
        Ok(done) => {
            let kv = env.kv(OAUTH_KV)?;
            apply(&kv, &[done.record.write(now)]).await?;
            decisions.auth("client_registered");
            Ok(done.reply)
        }
        Err(err) => {
            decisions.auth("registration_refused");
            Ok(err.reply())
        }
    }
}

/// Reads a client's form (refusing an oversized one) and parses it with its `Authorization`
/// header; a parse failure is logged as `refused` and becomes the reply to send.
async fn client_request<T>(
    req: &mut Request,
    decisions: &Decisions,
    refused: &'static str,
    parse: impl FnOnce(&Params, Option<&str>) -> std::result::Result<T, Reply>,
) -> Result<std::result::Result<T, Reply>> {
    let authorization = req.headers().get("authorization")?;
    let Some(form) = form(req).await? else {
        return Ok(Err(too_large()));
    };
    Ok(parse(&form, authorization.as_deref()).inspect_err(|_| decisions.auth(refused)))
}

/// `POST /token`: code redemption or refresh rotation.
pub(super) async fn token(
    mut req: Request,
    env: &Env,
    settings: &Settings,
    now: u64,
    decisions: &Decisions,
) -> Result<Reply> {
    let parsed = client_request(
        &mut req,
        decisions,
        "token_refused",
        |form, authorization| TokenRequest::parse(form, authorization).map_err(|err| err.reply()),
    )
    .await?;
    let request = match parsed {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal),
    };
    let kv = env.kv(OAUTH_KV)?;
    let client: Option<ClientRecord> = get_json(&kv, &client_key(request.client_id())).await?;
    let random = IssueRandom {
        access: random()?,
        refresh: random()?,
        grant_id: random()?,
    };
    let context = TokenContext {
        urls: &settings.urls,
        allowlist: &settings.allowlist,
        lifetimes: settings.lifetimes,
        registration: &settings.registration,
    };
    let (outcome, kind) = match request {
        TokenRequest::Code(exchange) => {
            let code: Option<CodeRecord> = get_json(&kv, &exchange.code_key()).await?;
            let prior: Option<Grant> = match code
                .as_ref()
                .and_then(|code| code.redeemed_grant.as_deref())
            {
                Some(id) => get_json(&kv, &grant_key(id)).await?,
                None => None,
            };
            let outcome = exchange.redeem(
                code,
                client.as_ref(),
                prior.as_ref(),
                &context,
                now,
                &random,
            );
            (outcome, "code")
        }
        TokenRequest::Refresh(exchange) => {
            let record: Option<RefreshRecord> = get_json(&kv, &exchange.refresh_key()).await?;
            let grant: Option<Grant> = match &record {
                Some(record) => get_json(&kv, &RefreshExchange::grant_key(record)).await?,
                None => None,
            };
            let outcome = exchange.rotate(record, grant, client.as_ref(), &context, now, &random);
            (outcome, "refresh")
        }
    };
    let outcome = settle_with_ledger(env, &kv, outcome).await?;
    apply(&kv, &outcome.writes).await?;
    decisions.auth(match (kind, outcome.reply.status == 200) {
        ("code", true) => "tokens_issued",
        ("code", false) => "code_refused",
        (_, true) => "tokens_rotated",
        (_, false) => "refresh_refused",
    });
    Ok(outcome.reply)
}

/// `POST /revoke` (RFC 7009).
pub(super) async fn revoke(
    mut req: Request,
    env: &Env,
    _settings: &Settings,
    now: u64,
    decisions: &Decisions,
) -> Result<Reply> {
    let parsed = client_request(
        &mut req,
        decisions,
        "revocation_refused",
        |form, authorization| {
            RevocationRequest::parse(form, authorization).map_err(|err| err.reply())
        },
    )
    .await?;
    let request = match parsed {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal),
    };
    let kv = env.kv(OAUTH_KV)?;
    let client: Option<ClientRecord> = get_json(&kv, &client_key(request.client_id())).await?;
    let owner: Option<TokenOwner> = match request.lookup_key() {
        Some(key) => get_json(&kv, &key).await?,
        None => None,
    };
    let grant: Option<Grant> = match &owner {
        Some(owner) => get_json(&kv, &RevocationRequest::grant_key(owner)).await?,
        None => None,
    };
    let outcome = request.revoke(owner, grant, client.as_ref(), now);
    let outcome = settle_with_ledger(env, &kv, outcome).await?;
    apply(&kv, &outcome.writes).await?;
    decisions.auth(if outcome.reply.status == 200 {
        "revoked"
    } else {
        "revocation_refused"
    });
    Ok(outcome.reply)
}

/// Asks the user's object what `outcome` names ([`crate::oauth::ledger`]) before anything is
/// written: a success stands only if the object grants it, else it becomes the refusal the
/// object's answer calls for; a refusal stays as it is (the object was only told).
async fn settle_with_ledger(
    env: &Env,
    kv: &KvStore,
    outcome: TokenOutcome,
) -> Result<TokenOutcome> {
    let Some(check) = &outcome.ledger else {
        return Ok(outcome);
    };
    let answer = ask_oauth_ledger(env, &check.user_id.to_string(), &check.request).await?;
    if outcome.reply.status != 200 || !check.request.decides() || answer == LedgerAnswer::Granted {
        return Ok(outcome);
    }
    let grant: Option<Grant> = match &answer {
        LedgerAnswer::CodeReplayed { grant_id } => get_json(kv, &grant_key(grant_id)).await?,
        _ => check.grant.clone(),
    };
    Ok(ledger_refusal(&answer, grant.as_ref()))
}
