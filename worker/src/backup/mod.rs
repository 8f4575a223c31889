//! Backups from the Worker: the S3 settings, sending the `backups` crate's signed requests
//! with fetch, and the cron's audit (`cron`). Planning lives in `backups`; the user's Durable
//! Object drives the export (`session_object::export`).

pub(crate) mod cron;
mod prune;
mod settings;

pub(crate) use settings::{BackupSettings, SECRETS};

use backups::s3::{HttpRequest, HttpResponse, Method as S3Method};
use thiserror::Error;
use worker::{Fetch, Headers, Method, Request, RequestInit};

/// Why a request to the backup bucket got no answer.
#[derive(Debug, Error)]
#[error("{method} {url} got no answer: {message}")]
pub(crate) struct SendError {
    method: &'static str,
    /// The URL without its query (which may carry an upload id).
    url: String,
    message: String,
}

/// Sends one signed request with fetch and reads the whole answer.
pub(crate) async fn send(request: HttpRequest) -> Result<HttpResponse, SendError> {
    let url_only = request.url.split('?').next().unwrap_or_default().to_owned();
    let failed = |e: worker::Error| SendError {
        method: request.method.as_str(),
        url: url_only.clone(),
        message: e.to_string(),
    };
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(failed)?;
    }
    let method = match request.method {
        S3Method::Get => Method::Get,
        S3Method::Put => Method::Put,
        S3Method::Post => Method::Post,
        S3Method::Head => Method::Head,
        S3Method::Delete => Method::Delete,
    };
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if !request.body.is_empty() {
        let body = worker::js_sys::Uint8Array::from(request.body.as_slice());
        init.with_body(Some(body.into()));
    }
    let outgoing = Request::new_with_init(&request.url, &init).map_err(failed)?;
    let mut response = Fetch::Request(outgoing).send().await.map_err(failed)?;
    let status = response.status_code();
    let headers = response
        .headers()
        .entries()
        .collect::<Vec<(String, String)>>();
    let body = if request.method == S3Method::Head {
        Vec::new()
    } else {
        response.bytes().await.map_err(failed)?
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
