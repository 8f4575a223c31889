//! Calls that take several requests, over a blocking sender the caller provides.
//!
//! The Worker cannot block; it runs the same steps in its own async loop with the builders
//! and parsers. These loops are for the CLI and for tests.

use super::multipart::{DEFAULT_PART_SIZE, MULTIPART_THRESHOLD, MultipartPlan, PlanError};
use super::request::{CompletedPart, ListRequest, PutOptions, SignError};
use super::response::{
    ListedObject, S3Error, check, etag, parse_complete_multipart, parse_create_multipart,
    parse_list,
};
use super::{HttpRequest, HttpResponse, Operation, S3Config};

/// Sends one request and waits for its whole response.
///
/// Implementations send the request as built (method, URL, headers, body) and follow no
/// redirects; any status is a response, only a failure to get one is an error.
pub trait BlockingHttp {
    /// Why no response arrived.
    type Error;

    /// Sends `request`.
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, Self::Error>;
}

/// Why [`list_all`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListAllError<E> {
    /// A page request could not be built.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A page request got no response.
    #[error("ListObjectsV2: no response: {0}")]
    Transport(#[source] E),
    /// A page was refused or unreadable.
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// Lists every key under `prefix`, following continuation tokens until the last page.
///
/// `now_ms` is called before signing each page (unix milliseconds).
pub fn list_all<H: BlockingHttp>(
    http: &mut H,
    config: &S3Config,
    prefix: &str,
    mut now_ms: impl FnMut() -> u64,
) -> Result<Vec<ListedObject>, ListAllError<H::Error>> {
    let mut request = ListRequest {
        prefix: prefix.to_owned(),
        ..ListRequest::default()
    };
    let mut objects = Vec::new();
    loop {
        let response = http
            .send(config.list_objects_v2(&request, now_ms())?)
            .map_err(ListAllError::Transport)?;
        let page = parse_list(&response)?;
        objects.extend(page.objects);
        let Some(token) = page.next_continuation_token.filter(|_| page.is_truncated) else {
            return Ok(objects);
        };
        // A server that hands back the token it was given would loop forever.
        if request.continuation_token.as_ref() == Some(&token) {
            return Err(S3Error::Malformed {
                what: format!("ListObjectsV2 returned the same continuation token {token:?}"),
            }
            .into());
        }
        request.continuation_token = Some(token);
    }
}

/// How [`put_large`] splits an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargePut {
    /// Objects longer than this go up in parts.
    pub threshold: u64,
    /// The size of each part but the last.
    pub part_size: u64,
}

impl Default for LargePut {
    fn default() -> Self {
        LargePut {
            threshold: MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
        }
    }
}

/// Why [`put_large`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PutLargeError<E> {
    /// The object cannot be split with these options.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A request could not be built.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A request got no response.
    #[error("{operation} of key {key:?}: no response: {source}")]
    Transport {
        /// The call that got no response.
        operation: Operation,
        /// The key.
        key: String,
        /// The sender's error.
        #[source]
        source: E,
    },
    /// S3 refused a call or answered something unreadable.
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// Stores `bytes` under `key`: one `PutObject` up to `options.threshold`, a multipart upload
/// above it. A multipart upload that fails is aborted (best effort; R2 also drops incomplete
/// uploads after 7 days) and the first error is returned.
///
/// `now_ms` is called before signing each request (unix milliseconds).
pub fn put_large<H: BlockingHttp>(
    http: &mut H,
    config: &S3Config,
    key: &str,
    bytes: &[u8],
    options: LargePut,
    mut now_ms: impl FnMut() -> u64,
) -> Result<(), PutLargeError<H::Error>> {
    let len = bytes.len() as u64;
    if len <= options.threshold {
        let request = config.put_object(key, bytes.to_vec(), PutOptions::default(), now_ms())?;
        let response = send(http, request, Operation::PutObject, key)?;
        check(&response, Operation::PutObject, key)?;
        return Ok(());
    }
    let plan = MultipartPlan::new(len, options.part_size)?;
    let request = config.create_multipart_upload(key, now_ms())?;
    let response = send(http, request, Operation::CreateMultipartUpload, key)?;
    let upload_id = parse_create_multipart(&response, key)?;
    let uploaded = upload_parts(http, config, key, bytes, &plan, &upload_id, &mut now_ms);
    if uploaded.is_err()
        && let Ok(abort) = config.abort_multipart_upload(key, &upload_id, now_ms())
    {
        // Best effort: the upload's own error is the one to report.
        let _ = http.send(abort);
    }
    uploaded
}

fn upload_parts<H: BlockingHttp>(
    http: &mut H,
    config: &S3Config,
    key: &str,
    bytes: &[u8],
    plan: &MultipartPlan,
    upload_id: &str,
    now_ms: &mut impl FnMut() -> u64,
) -> Result<(), PutLargeError<H::Error>> {
    let mut completed = Vec::with_capacity(plan.part_count() as usize);
    for part in plan.parts() {
        // The plan's ranges lie within `bytes`, so they fit in usize.
        let body = bytes[part.range.start as usize..part.range.end as usize].to_vec();
        let request = config.upload_part(key, upload_id, part.number, body, now_ms())?;
        let response = send(http, request, Operation::UploadPart, key)?;
        check(&response, Operation::UploadPart, key)?;
        completed.push(CompletedPart {
            part_number: part.number,
            etag: etag(&response)?,
        });
    }
    let request = config.complete_multipart_upload(key, upload_id, &completed, now_ms())?;
    let response = send(http, request, Operation::CompleteMultipartUpload, key)?;
    parse_complete_multipart(&response, key)?;
    Ok(())
}

fn send<H: BlockingHttp>(
    http: &mut H,
    request: HttpRequest,
    operation: Operation,
    key: &str,
) -> Result<HttpResponse, PutLargeError<H::Error>> {
    http.send(request)
        .map_err(|source| PutLargeError::Transport {
            operation,
            key: key.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests;
