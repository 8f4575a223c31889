//! The browser's part of signing in: `GET /authorize` (the consent page), `POST /authorize`
//! (the answer, then off to GitHub) and `GET /oauth/callback` (GitHub's leg, then our code).

use worker::{Env, Fetch, Headers, Method, Request, RequestInit, Result};

use super::{Decisions, OAUTH_KV, Settings, apply, exists, form, get_json, random};
use crate::oauth::authorize::{self, AuthorizeError, FlowRandom, PendingAuthorization};
use crate::oauth::callback::{self, Refusal};
use crate::oauth::consent::{self, Consent};
use crate::oauth::cookie;
use crate::oauth::github::{self, UpstreamRequest};
use crate::oauth::params::Params;
use crate::oauth::registration::ClientRecord;
use crate::oauth::response::{ErrorBody, ErrorCode, Reply};
use crate::oauth::storage::{CONSENT_GIVEN, KvWrite, client_key, consent_key, flow_key};

/// `GET /authorize`: checks the request and shows the consent page with a fresh sealed cookie.
pub(super) async fn authorize(
    req: Request,
    env: &Env,
    settings: &Settings,
    now: u64,
    decisions: &Decisions,
) -> Result<Reply> {
    let url = req.url()?;
    let query = Params::parse(url.query().unwrap_or(""));
    let kv = env.kv(OAUTH_KV)?;
    let client: Option<ClientRecord> = match authorize::requested_client_id(&query) {
        Some(id) => get_json(&kv, &client_key(id)).await?,
        None => None,
    };
    let request = match authorize::validate(&query, client.as_ref(), &settings.urls, now) {
        Ok(request) => request,
        Err(err) => {
            decisions.auth("authorize_refused");
            let err = match (&err, authorize::requested_client_id(&query)) {
                (AuthorizeError::Redirect(_), Some(id)) => {
                    err.unless_consented(exists(&kv, &consent_key(id)).await?)
                }
                _ => err,
            };
            return Ok(err.reply(&settings.urls));
        }
    };
    let Some(client) = client else {
        // `validate` accepts only a known client; this is unreachable in practice.
        decisions.auth("authorize_refused");
        return Ok(ErrorBody::new(ErrorCode::InvalidClient, "unknown client").reply(400));
    };
    let flow = FlowRandom {
        flow_id: random()?,
        csrf_token: random()?,
    };
    let pending = request.begin(now, &flow);
    let sealed = cookie::seal(&pending, &settings.cookie_key, &random()?);
    decisions.auth("consent_shown");
    Ok(consent::show(
        &pending,
        &client,
        &settings.urls,
        &sealed,
        now,
    ))
}

/// The sign-in in flight, opened from the request's sealed cookie; or the refusal to send
/// (logged as `refused`) when the cookie is missing, tampered with, expired or under an old key.
fn pending_sign_in(
    req: &Request,
    settings: &Settings,
    now: u64,
    decisions: &Decisions,
    refused: &'static str,
) -> Result<std::result::Result<PendingAuthorization, Reply>> {
    let header = req.headers().get("cookie")?;
    Ok(
        cookie::open_from_header(header.as_deref(), &settings.cookie_key, now).map_err(|err| {
            decisions.auth(refused);
            err.reply()
        }),
    )
}

/// `POST /authorize`: the consent form's answer.
pub(super) async fn consent(
    mut req: Request,
    settings: &Settings,
    now: u64,
    decisions: &Decisions,
) -> Result<Reply> {
    let pending = match pending_sign_in(&req, settings, now, decisions, "consent_bad_cookie")? {
        Ok(pending) => pending,
        Err(refusal) => return Ok(refusal),
    };
    let Some(form) = form(&mut req).await? else {
        return Ok(too_large());
    };
    match consent::decide(pending, &form, &random()?) {
        Err(err) => {
            decisions.auth("consent_refused");
            Ok(err.reply())
        }
        Ok(Consent::Denied(redirect)) => {
            decisions.auth("consent_denied");
            Ok(consent::denied(&redirect, &settings.urls))
        }
        Ok(Consent::Approved(approved)) => {
            let Some(state) = approved.upstream_state.as_deref() else {
                return Ok(ErrorBody::new(ErrorCode::ServerError, "no upstream state").reply(500));
            };
            let sealed = cookie::seal(&approved, &settings.cookie_key, &random()?);
            let github_url = github::authorize_url(
                &settings.github,
                &settings.app,
                &settings.urls.callback(),
                state,
            );
            decisions.auth("consent_approved");
            Ok(consent::to_github(&approved, &sealed, github_url, now))
        }
    }
}

/// `GET /oauth/callback`: GitHub sent the browser back.
pub(super) async fn callback(
    req: Request,
    env: &Env,
    settings: &Settings,
    now: u64,
    decisions: &Decisions,
) -> Result<Reply> {
    let pending = match pending_sign_in(&req, settings, now, decisions, "callback_bad_cookie")? {
        Ok(pending) => pending,
        Err(refusal) => return Ok(refusal),
    };
    let url = req.url()?;
    let query = Params::parse(url.query().unwrap_or(""));
    let kv = env.kv(OAUTH_KV)?;
    let used = exists(&kv, &flow_key(&pending.flow_id)).await?;
    let accepted = match callback::check(&pending, &query, used) {
        Ok(accepted) => accepted,
        Err(err) => {
            decisions.auth("callback_refused");
            return Ok(err.reply(&pending, &settings.urls));
        }
    };
    apply(&kv, &accepted.writes).await?;

    let token_request = github::token_request(
        &settings.github,
        &settings.app,
        accepted.code.as_str(),
        &settings.urls.callback(),
    );
    let token = match upstream(token_request).await {
        Ok((status, body)) => github::parse_token_response(status, &body).ok(),
        Err(_) => None,
    };
    let Some(token) = token else {
        decisions.auth("upstream_failed");
        return Ok(callback::refuse(
            &pending,
            Refusal::Upstream,
            &settings.urls,
        ));
    };
    let user = match upstream(github::user_request(&settings.github, &token)).await {
        Ok((status, body)) => github::parse_user_response(status, &body).ok(),
        Err(_) => None,
    };
    // The GitHub token is dropped here: never stored, logged or passed on.
    drop(token);
    let Some(user) = user else {
        decisions.auth("upstream_failed");
        return Ok(callback::refuse(
            &pending,
            Refusal::Upstream,
            &settings.urls,
        ));
    };
    if !settings.allowlist.allows(user.id) {
        decisions.auth("user_not_allowed");
        return Ok(callback::refuse(
            &pending,
            Refusal::NotAllowed,
            &settings.urls,
        ));
    }
    let done = callback::complete(
        &pending,
        user.id,
        &settings.urls,
        now,
        &settings.lifetimes,
        &random()?,
    );
    // The client now has a consent on record: /authorize may redirect its errors to it.
    let consent = KvWrite::put_text(
        consent_key(&pending.client_id),
        CONSENT_GIVEN,
        settings.registration.client_ttl_ms / 1000,
    );
    apply(&kv, &[done.write, consent]).await?;
    decisions.auth("code_issued");
    Ok(done.reply)
}

/// Sends one upstream request; returns its status and body.
async fn upstream(request: UpstreamRequest) -> Result<(u16, String)> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    let method = if request.method == "POST" {
        Method::Post
    } else {
        Method::Get
    };
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(body) = request.body {
        init.with_body(Some(body.into()));
    }
    let outgoing = Request::new_with_init(&request.url, &init)?;
    let mut response = Fetch::Request(outgoing).send().await?;
    let status = response.status_code();
    Ok((status, response.text().await?))
}

/// 413 for a body past the limit.
pub(super) fn too_large() -> Reply {
    ErrorBody::new(ErrorCode::InvalidRequest, "the request body is too large").reply(413)
}
