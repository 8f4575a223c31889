//! The request builders: one method on [`S3Config`] per S3 call, each signed with SigV4.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use sha2::{Digest, Sha256};

use super::encode;
use super::multipart::MAX_PARTS;
use super::{HttpRequest, Method, Operation, S3Config};

/// The longest key S3 takes, in bytes.
const MAX_KEY_LEN: usize = 1024;

/// Why a request could not be built. Nothing was sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The endpoint is not `http(s)://host[:port]`.
    #[error("endpoint {endpoint:?} is not an http(s) URL without a path: {reason}")]
    InvalidEndpoint {
        /// The configured endpoint.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The bucket name cannot be used path-style.
    #[error("bucket name {bucket:?} is not valid: {reason}")]
    InvalidBucket {
        /// The configured bucket.
        bucket: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key cannot be stored or addressed.
    #[error("{operation}: key {key:?} is not valid: {reason}")]
    InvalidKey {
        /// The call.
        operation: Operation,
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A part number outside 1..=10,000, or a completion list that is empty or out of order.
    #[error("{operation} {key}: {reason}")]
    InvalidParts {
        /// The call.
        operation: Operation,
        /// The key.
        key: String,
        /// What is wrong with the parts.
        reason: String,
    },
    /// The signer refused the request (for instance a header value with a line break).
    #[error("{operation} {key}: signing failed: {source}")]
    Signing {
        /// The call.
        operation: Operation,
        /// The key, empty for bucket-level calls.
        key: String,
        /// The signer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Options of [`S3Config::put_object`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutOptions<'a> {
    /// Send `If-None-Match: *`: the put fails with 412 if the key exists (write once).
    pub if_none_match: bool,
    /// The `Content-Type` to store.
    pub content_type: Option<&'a str>,
}

/// One `ListObjectsV2` page request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Only keys starting with this (empty: all keys).
    pub prefix: String,
    /// The previous page's `NextContinuationToken`.
    pub continuation_token: Option<String>,
    /// Only keys after this one.
    pub start_after: Option<String>,
    /// At most this many keys (the server caps it at 1,000).
    pub max_keys: Option<u32>,
    /// Group keys that share a prefix up to this text (`/`): each group comes back once as a
    /// common prefix (a "folder") instead of its keys.
    pub delimiter: Option<String>,
}

/// A part of a multipart upload, for [`S3Config::complete_multipart_upload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based part number.
    pub part_number: u32,
    /// The part's ETag, exactly as `UploadPart` returned it (quotes included).
    pub etag: String,
}

impl S3Config {
    /// `PutObject`: stores `body` under `key`.
    pub fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        options: PutOptions<'_>,
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        let op = Operation::PutObject;
        let mut headers = Vec::new();
        if let Some(content_type) = options.content_type {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        if options.if_none_match {
            headers.push(("if-none-match".to_owned(), "*".to_owned()));
        }
        self.object_request(op, Method::Put, key, &[], headers, body, now_ms)
    }

    /// `GetObject`: the whole object.
    pub fn get_object(&self, key: &str, now_ms: u64) -> Result<HttpRequest, SignError> {
        let op = Operation::GetObject;
        self.object_request(op, Method::Get, key, &[], Vec::new(), Vec::new(), now_ms)
    }

    /// `HeadObject`: the object's metadata (size, ETag) without its bytes.
    pub fn head_object(&self, key: &str, now_ms: u64) -> Result<HttpRequest, SignError> {
        let op = Operation::HeadObject;
        self.object_request(op, Method::Head, key, &[], Vec::new(), Vec::new(), now_ms)
    }

    /// `DeleteObject`. S3 answers 204 whether or not the key existed.
    pub fn delete_object(&self, key: &str, now_ms: u64) -> Result<HttpRequest, SignError> {
        let op = Operation::DeleteObject;
        self.object_request(op, Method::Delete, key, &[], Vec::new(), Vec::new(), now_ms)
    }

    /// `ListObjectsV2`: one page of keys; parse it with [`super::parse_list`].
    pub fn list_objects_v2(
        &self,
        list: &ListRequest,
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        let max_keys = list.max_keys.map(|max| max.to_string());
        let mut query = vec![
            ("list-type", Some("2")),
            ("prefix", Some(list.prefix.as_str())),
        ];
        if let Some(token) = &list.continuation_token {
            query.push(("continuation-token", Some(token.as_str())));
        }
        if let Some(after) = &list.start_after {
            query.push(("start-after", Some(after.as_str())));
        }
        if let Some(max) = &max_keys {
            query.push(("max-keys", Some(max.as_str())));
        }
        if let Some(delimiter) = &list.delimiter {
            query.push(("delimiter", Some(delimiter.as_str())));
        }
        let path = format!("{}/", self.bucket_path()?);
        let op = Operation::ListObjectsV2;
        self.signed(
            op,
            "",
            Method::Get,
            &path,
            &query,
            Vec::new(),
            Vec::new(),
            now_ms,
        )
    }

    /// `HeadBucket`: 200 if the bucket exists and these credentials may use it.
    pub fn head_bucket(&self, now_ms: u64) -> Result<HttpRequest, SignError> {
        let path = self.bucket_path()?;
        let op = Operation::HeadBucket;
        self.signed(
            op,
            "",
            Method::Head,
            &path,
            &[],
            Vec::new(),
            Vec::new(),
            now_ms,
        )
    }

    /// `CreateMultipartUpload`; its answer gives the upload id
    /// ([`super::parse_create_multipart`]).
    pub fn create_multipart_upload(
        &self,
        key: &str,
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        let op = Operation::CreateMultipartUpload;
        let query = [("uploads", None)];
        self.object_request(
            op,
            Method::Post,
            key,
            &query,
            Vec::new(),
            Vec::new(),
            now_ms,
        )
    }

    /// `UploadPart`: part `part_number` (1..=10,000) of an upload; keep the answer's ETag
    /// ([`super::etag`]).
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Vec<u8>,
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        let op = Operation::UploadPart;
        check_part_number(op, key, part_number)?;
        let number = part_number.to_string();
        let query = [
            ("partNumber", Some(number.as_str())),
            ("uploadId", Some(upload_id)),
        ];
        self.object_request(op, Method::Put, key, &query, Vec::new(), body, now_ms)
    }

    /// `CompleteMultipartUpload`: joins the parts, which must be listed in ascending order.
    /// Check the answer with [`super::parse_complete_multipart`]: S3 can report a failure
    /// inside a 200.
    pub fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        let op = Operation::CompleteMultipartUpload;
        let invalid = |reason: String| SignError::InvalidParts {
            operation: op,
            key: key.to_owned(),
            reason,
        };
        if parts.is_empty() {
            return Err(invalid("no parts to complete".to_owned()));
        }
        for part in parts {
            check_part_number(op, key, part.part_number)?;
        }
        if let Some(pair) = parts
            .windows(2)
            .find(|pair| pair[0].part_number >= pair[1].part_number)
        {
            return Err(invalid(format!(
                "parts must be in ascending order: {} comes before {}",
                pair[0].part_number, pair[1].part_number
            )));
        }
        let mut body = String::from("<CompleteMultipartUpload>");
        for part in parts {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                part.part_number,
                xml_escape(&part.etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let headers = vec![("content-type".to_owned(), "application/xml".to_owned())];
        let query = [("uploadId", Some(upload_id))];
        let body = body.into_bytes();
        self.object_request(op, Method::Post, key, &query, headers, body, now_ms)
    }

    /// `AbortMultipartUpload`: drops an upload and the parts stored so far.
    pub fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        let op = Operation::AbortMultipartUpload;
        let query = [("uploadId", Some(upload_id))];
        self.object_request(
            op,
            Method::Delete,
            key,
            &query,
            Vec::new(),
            Vec::new(),
            now_ms,
        )
    }

    /// `/{bucket}`, once the endpoint and bucket are known to be usable.
    fn bucket_path(&self) -> Result<String, SignError> {
        check_endpoint(&self.endpoint)?;
        check_bucket(&self.bucket)?;
        Ok(format!("/{}", self.bucket))
    }

    #[allow(clippy::too_many_arguments)] // One private funnel for the ten public builders.
    fn object_request(
        &self,
        operation: Operation,
        method: Method,
        key: &str,
        query: &[(&str, Option<&str>)],
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        check_key(operation, key)?;
        let path = format!("{}/{}", self.bucket_path()?, encode::key_path(key));
        self.signed(operation, key, method, &path, query, headers, body, now_ms)
    }

    #[allow(clippy::too_many_arguments)]
    fn signed(
        &self,
        operation: Operation,
        key: &str,
        method: Method,
        path: &str,
        query: &[(&str, Option<&str>)],
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
        now_ms: u64,
    ) -> Result<HttpRequest, SignError> {
        let signing_failed =
            |source: Box<dyn std::error::Error + Send + Sync>| SignError::Signing {
                operation,
                key: key.to_owned(),
                source,
            };
        let url = format!(
            "{}{path}{}",
            self.endpoint.trim_end_matches('/'),
            encode::query(query)
        );
        let payload_hash = hex::encode(Sha256::digest(&body));

        let mut settings = SigningSettings::default();
        // S3 signs the path exactly as sent: no `..` resolution, no second encoding pass.
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;

        let identity: Identity = Credentials::new(
            self.access_key.as_str(),
            self.secret_key.as_str(),
            None,
            None,
            "second-brain-backups",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(signing_time(now_ms))
            .settings(settings)
            .build()
            .map_err(|error| signing_failed(Box::new(error)))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            Cow::Borrowed(url.as_str()),
            headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
            SignableBody::Precomputed(payload_hash),
        )
        .map_err(|error| signing_failed(Box::new(error)))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|error| signing_failed(Box::new(error)))?
            .into_parts();
        for (name, value) in instructions.headers() {
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        Ok(HttpRequest {
            method,
            url,
            headers,
            body,
        })
    }
}

/// `now_ms` as the signer's time. Never reads a clock (there is none on wasm32).
fn signing_time(now_ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(now_ms)
}

fn check_endpoint(endpoint: &str) -> Result<(), SignError> {
    let invalid = |reason| SignError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .ok_or_else(|| invalid("it must start with http:// or https://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(invalid("it has no host"));
    }
    if authority.contains(['/', '?', '#', '@']) || authority.chars().any(char::is_whitespace) {
        return Err(invalid(
            "it must be scheme://host[:port] with nothing after",
        ));
    }
    // The signer reads the host from the parsed URL; refuse what it could not parse.
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| invalid("it does not parse as a URL"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    Ok(())
}

fn check_bucket(bucket: &str) -> Result<(), SignError> {
    let invalid = |reason| SignError::InvalidBucket {
        bucket: bucket.to_owned(),
        reason,
    };
    if !(3..=63).contains(&bucket.len()) {
        return Err(invalid("it must be 3 to 63 characters long"));
    }
    if !bucket
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b".-".contains(&byte))
    {
        return Err(invalid(
            "it may hold only lowercase letters, digits, '.' and '-'",
        ));
    }
    Ok(())
}

fn check_key(operation: Operation, key: &str) -> Result<(), SignError> {
    let invalid = |reason| SignError::InvalidKey {
        operation,
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("it is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(invalid("it is longer than 1,024 bytes"));
    }
    // HTTP clients resolve `.` and `..` path segments (encoded or not) before sending, so such
    // a key would address another object than the one signed.
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(invalid("it has a '.' or '..' segment"));
    }
    Ok(())
}

fn check_part_number(operation: Operation, key: &str, part_number: u32) -> Result<(), SignError> {
    if part_number == 0 || part_number > MAX_PARTS {
        return Err(SignError::InvalidParts {
            operation,
            key: key.to_owned(),
            reason: format!("part number {part_number} is outside 1..={MAX_PARTS}"),
        });
    }
    Ok(())
}

/// Escapes text for an XML element.
fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests;
