//! Reading S3's answers: status codes, error XML and the few result documents we use.
//!
//! XML is parsed with `roxmltree`: read-only, no dependencies, builds for wasm32, refuses DTDs
//! (so no entity expansion), and unescapes entities and CDATA in text, which keys need.

use super::{HttpResponse, Operation};

/// Why an S3 call failed, according to its response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// 404 for the key (`NoSuchKey`, or a `HEAD` without a body).
    #[error("{operation} of key {key:?}: not found")]
    NotFound {
        /// The call.
        operation: Operation,
        /// The missing key.
        key: String,
    },
    /// 412: a condition such as `If-None-Match: *` did not hold (the key already exists).
    #[error("{operation} of key {key:?}: precondition failed (the key already exists)")]
    PreconditionFailed {
        /// The call.
        operation: Operation,
        /// The key.
        key: String,
    },
    /// Any other error S3 reported: `AccessDenied`, `SignatureDoesNotMatch`,
    /// `RequestTimeTooSkewed`, `NoSuchBucket`, `SlowDown`, 5xx...
    #[error("{}: {status} {code}{}", target(*operation, key), message_suffix(message))]
    Service {
        /// The call.
        operation: Operation,
        /// The key, empty for bucket-level calls.
        key: String,
        /// The HTTP status (200 for a `CompleteMultipartUpload` that failed inside its body).
        status: u16,
        /// S3's `<Code>`, or a name for the status when the body has none (`Forbidden` for a
        /// 403 `HEAD`, `Http418`...).
        code: String,
        /// S3's `<Message>`, or the start of a body that is not S3 error XML; may be empty.
        message: String,
        /// S3's `<RequestId>`, for support requests.
        request_id: Option<String>,
    },
    /// A successful response whose body or headers are not what S3 sends.
    #[error("malformed S3 response: {what}")]
    Malformed {
        /// What was wrong.
        what: String,
    },
}

impl S3Error {
    /// Whether trying again (signed anew) may succeed: 5xx, 429, `SlowDown`, `RequestTimeout`
    /// and `RequestTimeTooSkewed` (the clock may have been read before a long wait).
    pub fn is_transient(&self) -> bool {
        match self {
            S3Error::Service { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(
                        code.as_str(),
                        "SlowDown" | "RequestTimeout" | "RequestTimeTooSkewed"
                    )
            }
            _ => false,
        }
    }
}

fn target(operation: Operation, key: &str) -> String {
    if key.is_empty() {
        operation.to_string()
    } else {
        format!("{operation} of key {key:?}")
    }
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// One key of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The key, unescaped.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag as listed (quotes included), if the server sent one.
    pub etag: Option<String>,
    /// When it was written (unix milliseconds), if the server said (`LastModified`).
    pub last_modified_ms: Option<u64>,
}

/// One page of `ListObjectsV2`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The keys of this page, in the server's (UTF-8 binary) order.
    pub objects: Vec<ListedObject>,
    /// Pass this as the next request's `continuation_token`; set when `is_truncated`.
    pub next_continuation_token: Option<String>,
    /// Whether more keys follow.
    pub is_truncated: bool,
    /// With a delimiter: the groups of keys of this page, each once, in order.
    pub common_prefixes: Vec<String>,
}

/// Maps a response to `Ok` (2xx) or to the [`S3Error`] it reports, naming `operation` and
/// `key` (empty for bucket-level calls).
pub fn check(response: &HttpResponse, operation: Operation, key: &str) -> Result<(), S3Error> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let parsed = parse_error_body(&response.body);
    let code = parsed.as_ref().map(|error| error.code.as_str());
    let status = response.status;
    if status == 404 && !key.is_empty() && matches!(code, None | Some("NoSuchKey" | "NotFound")) {
        return Err(S3Error::NotFound {
            operation,
            key: key.to_owned(),
        });
    }
    if status == 412 {
        return Err(S3Error::PreconditionFailed {
            operation,
            key: key.to_owned(),
        });
    }
    Err(match parsed {
        Some(error) => error.into_service(operation, key, status),
        None => S3Error::Service {
            operation,
            key: key.to_owned(),
            status,
            code: status_code_name(status),
            message: snippet(&response.body),
            request_id: None,
        },
    })
}

/// Parses a `ListObjectsV2` response (checking its status first).
pub fn parse_list(response: &HttpResponse) -> Result<ListPage, S3Error> {
    check(response, Operation::ListObjectsV2, "")?;
    let text = utf8(response, Operation::ListObjectsV2)?;
    let document = parse_xml(text, Operation::ListObjectsV2)?;
    let root = expect_root(&document, "ListBucketResult", Operation::ListObjectsV2)?;
    let mut page = ListPage::default();
    for node in root.children().filter(roxmltree::Node::is_element) {
        match node.tag_name().name() {
            "Contents" => page.objects.push(listed_object(node)?),
            "CommonPrefixes" => {
                let prefix = node
                    .children()
                    .find(|n| n.has_tag_name("Prefix"))
                    .map(|n| text_of(n).to_owned())
                    .ok_or_else(|| malformed("CommonPrefixes without a Prefix".to_owned()))?;
                page.common_prefixes.push(prefix);
            }
            "IsTruncated" => {
                page.is_truncated = match text_of(node).trim() {
                    "true" => true,
                    "false" => false,
                    other => return Err(malformed(format!("IsTruncated is {other:?}"))),
                };
            }
            "NextContinuationToken" => {
                page.next_continuation_token = Some(text_of(node).to_owned());
            }
            _ => {}
        }
    }
    if page.is_truncated
        && page
            .next_continuation_token
            .as_deref()
            .is_none_or(str::is_empty)
    {
        return Err(malformed(
            "ListObjectsV2 page is truncated but has no NextContinuationToken".to_owned(),
        ));
    }
    Ok(page)
}

/// Parses a `CreateMultipartUpload` response (checking its status first): the upload id.
pub fn parse_create_multipart(response: &HttpResponse, key: &str) -> Result<String, S3Error> {
    let operation = Operation::CreateMultipartUpload;
    check(response, operation, key)?;
    let text = utf8(response, operation)?;
    let document = parse_xml(text, operation)?;
    let root = expect_root(&document, "InitiateMultipartUploadResult", operation)?;
    let upload_id = child_text(root, "UploadId")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| malformed(format!("{operation} response has no UploadId")))?;
    Ok(upload_id.to_owned())
}

/// Checks a `CompleteMultipartUpload` response. S3 may answer 200 and still fail, with an
/// `<Error>` body: that is reported as [`S3Error::Service`] with status 200.
pub fn parse_complete_multipart(response: &HttpResponse, key: &str) -> Result<(), S3Error> {
    let operation = Operation::CompleteMultipartUpload;
    check(response, operation, key)?;
    if let Some(error) = parse_error_body(&response.body) {
        return Err(error.into_service(operation, key, response.status));
    }
    let text = utf8(response, operation)?;
    let document = parse_xml(text, operation)?;
    expect_root(&document, "CompleteMultipartUploadResult", operation)?;
    Ok(())
}

/// The `ETag` header of a `PutObject`, `UploadPart` or `HeadObject` response, quotes included.
pub fn etag(response: &HttpResponse) -> Result<String, S3Error> {
    response
        .header("etag")
        .filter(|etag| !etag.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| malformed(format!("a {} response has no ETag", response.status)))
}

/// The fields of an `<Error>` document.
struct ErrorBody {
    code: String,
    message: String,
    request_id: Option<String>,
}

impl ErrorBody {
    fn into_service(self, operation: Operation, key: &str, status: u16) -> S3Error {
        S3Error::Service {
            operation,
            key: key.to_owned(),
            status,
            code: self.code,
            message: self.message,
            request_id: self.request_id,
        }
    }
}

/// `Some` if the body is an S3 `<Error>` document with a `<Code>`.
fn parse_error_body(body: &[u8]) -> Option<ErrorBody> {
    let text = std::str::from_utf8(body).ok()?;
    let document = roxmltree::Document::parse(text).ok()?;
    let root = document.root_element();
    if root.tag_name().name() != "Error" {
        return None;
    }
    let code = child_text(root, "Code").filter(|code| !code.is_empty())?;
    Some(ErrorBody {
        code: code.to_owned(),
        message: child_text(root, "Message").unwrap_or_default().to_owned(),
        request_id: child_text(root, "RequestId").map(str::to_owned),
    })
}

fn listed_object(node: roxmltree::Node<'_, '_>) -> Result<ListedObject, S3Error> {
    let key = child_text(node, "Key")
        .filter(|key| !key.is_empty())
        .ok_or_else(|| malformed("a listed object has no Key".to_owned()))?;
    let size = child_text(node, "Size")
        .ok_or_else(|| malformed(format!("listed object {key:?} has no Size")))?;
    let size = size
        .trim()
        .parse::<u64>()
        .map_err(|_| malformed(format!("listed object {key:?} has Size {size:?}")))?;
    Ok(ListedObject {
        key: key.to_owned(),
        size,
        etag: child_text(node, "ETag").map(str::to_owned),
        last_modified_ms: child_text(node, "LastModified").and_then(parse_time),
    })
}

/// Reads an ISO 8601 UTC time as S3 writes it (`2026-12-06T09:41:13.539Z`, the fraction
/// optional) as unix milliseconds; `None` for anything else.
pub(crate) fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim().strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-');
    let (year, month, day): (i64, u32, u32) = (
        date.next()?.parse().ok()?,
        date.next()?.parse().ok()?,
        date.next()?.parse().ok()?,
    );
    if date.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, fraction),
        None => (time, ""),
    };
    let mut clock = clock.split(':');
    let (hour, minute, second): (u64, u64, u64) = (
        clock.next()?.parse().ok()?,
        clock.next()?.parse().ok()?,
        clock.next()?.parse().ok()?,
    );
    if clock.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis: u64 = if fraction.is_empty() {
        0
    } else {
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{fraction:0<3}");
        padded[..3].parse().ok()?
    };
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The text of the first child element named `name` (local name: S3 sets a namespace).
fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|child| child.is_element() && child.tag_name().name() == name)
        .map(text_of)
}

/// An element's text, entities unescaped; empty for an empty element.
fn text_of<'a>(node: roxmltree::Node<'a, '_>) -> &'a str {
    node.text().unwrap_or_default()
}

fn utf8(response: &HttpResponse, operation: Operation) -> Result<&str, S3Error> {
    std::str::from_utf8(&response.body)
        .map_err(|_| malformed(format!("{operation} response body is not UTF-8")))
}

fn parse_xml(text: &str, operation: Operation) -> Result<roxmltree::Document<'_>, S3Error> {
    roxmltree::Document::parse(text)
        .map_err(|error| malformed(format!("{operation} response is not XML: {error}")))
}

fn expect_root<'a, 'input>(
    document: &'a roxmltree::Document<'input>,
    name: &str,
    operation: Operation,
) -> Result<roxmltree::Node<'a, 'input>, S3Error> {
    let root = document.root_element();
    if root.tag_name().name() == name {
        Ok(root)
    } else {
        Err(malformed(format!(
            "{operation} response is <{}>, expected <{name}>",
            root.tag_name().name()
        )))
    }
}

fn malformed(what: String) -> S3Error {
    S3Error::Malformed { what }
}

/// A code for an error response without S3 error XML (`HEAD` responses have no body).
fn status_code_name(status: u16) -> String {
    let name = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        411 => "LengthRequired",
        412 => "PreconditionFailed",
        416 => "InvalidRange",
        429 => "TooManyRequests",
        500 => "InternalError",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => return format!("Http{status}"),
    };
    name.to_owned()
}

/// The start of a body that is not S3 error XML, for the message (a proxy's HTML page...).
fn snippet(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut snippet: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().count() > MAX_CHARS {
        snippet.push('…');
    }
    snippet
}

#[cfg(test)]
mod tests;
