//! The S3 protocol, as values: signed requests out, typed results in.
//!
//! Nothing here opens a socket or reads a clock. A builder on [`S3Config`] turns one S3 call
//! into an [`HttpRequest`] signed with SigV4 for the time the caller passes in (`now_ms`, unix
//! milliseconds); the caller sends it however it can (the Worker with `fetch`, the CLI with a
//! blocking client) and hands the [`HttpResponse`] to a parser ([`check`], [`parse_list`],
//! [`parse_create_multipart`], [`parse_complete_multipart`], [`etag`]).
//!
//! Requests are path-style (`{endpoint}/{bucket}/{key}`), so one config serves R2
//! (`https://ACCOUNT.r2.cloudflarestorage.com`, region `auto`) and a local server
//! (`http://127.0.0.1:9000`). A request is valid for about 15 minutes around its signing time:
//! take the time right before sending and sign again for every retry.
//!
//! ```
//! use backups::s3::{HttpResponse, Method, S3Config, check};
//!
//! let config = S3Config {
//!     endpoint: "http://127.0.0.1:9000".into(),
//!     region: "auto".into(),
//!     bucket: "notes-backup".into(),
//!     access_key: "AKIDEXAMPLE".into(),
//!     secret_key: "not-a-real-secret".into(),
//! };
//! let request = config.get_object("logs/0001 final.bin", 1_765_000_000_000)?;
//! assert_eq!(request.method, Method::Get);
//! assert_eq!(request.url, "http://127.0.0.1:9000/notes-backup/logs/0001%20final.bin");
//! assert!(request.header("authorization").is_some());
//!
//! // ... send it, then:
//! let response = HttpResponse { status: 200, headers: vec![], body: b"bytes".to_vec() };
//! check(&response, backups::s3::Operation::GetObject, "logs/0001 final.bin")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout: `encode` (URL paths and queries), `request` (the builders and signing), `response`
//! (status and XML parsing, [`S3Error`]), `multipart` ([`MultipartPlan`]), `blocking`
//! ([`BlockingHttp`] and the loops that drive several calls: [`list_all`], [`put_large`]).

mod blocking;
mod encode;
mod multipart;
mod request;
mod response;

use std::fmt;

pub use blocking::{BlockingHttp, LargePut, ListAllError, PutLargeError, list_all, put_large};
pub use multipart::{
    DEFAULT_PART_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, MULTIPART_THRESHOLD, MultipartPlan,
    Part, PlanError,
};
pub use request::{CompletedPart, ListRequest, PutOptions, SignError};
pub use response::{
    ListPage, ListedObject, S3Error, check, etag, parse_complete_multipart, parse_create_multipart,
    parse_list,
};

/// Where and as whom to talk S3. Path-style addressing; see the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Scheme and host, optionally a port, no path: `https://ACCOUNT.r2.cloudflarestorage.com`.
    pub endpoint: String,
    /// The signing region (`auto` for R2, `us-east-1` for most local servers).
    pub region: String,
    /// The bucket every request addresses.
    pub bucket: String,
    /// The access key id.
    pub access_key: String,
    /// The secret access key. Never printed by `Debug`.
    pub secret_key: String,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// The HTTP methods S3 calls use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `POST`
    Post,
    /// `HEAD`
    Head,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Head => "HEAD",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to send exactly as built.
///
/// Every header in `headers` is signed. The `Host` header is signed from `url` and is not in
/// the list: senders derive it from the URL (as `fetch` and reqwest do) and must not change it.
/// Senders may add `Content-Length` (unsigned).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL, already percent-encoded.
    pub url: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body (empty for most calls).
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may be megabytes of backup data: print its size only.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A response as received, for the parsers.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, any case.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The S3 call a request or response belongs to; errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `PutObject`
    PutObject,
    /// `GetObject`
    GetObject,
    /// `HeadObject`
    HeadObject,
    /// `DeleteObject`
    DeleteObject,
    /// `ListObjectsV2`
    ListObjectsV2,
    /// `HeadBucket`
    HeadBucket,
    /// `CreateMultipartUpload`
    CreateMultipartUpload,
    /// `UploadPart`
    UploadPart,
    /// `CompleteMultipartUpload`
    CompleteMultipartUpload,
    /// `AbortMultipartUpload`
    AbortMultipartUpload,
}

impl Operation {
    /// S3's name for the call.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::PutObject => "PutObject",
            Operation::GetObject => "GetObject",
            Operation::HeadObject => "HeadObject",
            Operation::DeleteObject => "DeleteObject",
            Operation::ListObjectsV2 => "ListObjectsV2",
            Operation::HeadBucket => "HeadBucket",
            Operation::CreateMultipartUpload => "CreateMultipartUpload",
            Operation::UploadPart => "UploadPart",
            Operation::CompleteMultipartUpload => "CompleteMultipartUpload",
            Operation::AbortMultipartUpload => "AbortMultipartUpload",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_config_hides_the_secret() {
        let config = S3Config {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "auto".into(),
            bucket: "b".into(),
            access_key: "AKID".into(),
            secret_key: "super-secret-value".into(),
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("super-secret-value"), "{printed}");
        assert!(printed.contains("AKID"), "{printed}");
    }

    #[test]
    fn header_lookup_ignores_case() {
        let response = HttpResponse {
            status: 200,
            headers: vec![("ETag".into(), "\"abc\"".into())],
            body: vec![],
        };
        assert_eq!(response.header("etag"), Some("\"abc\""));
        assert_eq!(response.header("x-missing"), None);
    }
}
