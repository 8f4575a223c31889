//! Sends the `backups` crate's S3 requests with a blocking reqwest client.
//!
//! Requests go out exactly as built (the signature covers method, URL and headers): no
//! redirects followed, no headers added beyond what reqwest needs (`Host`, `Content-Length`,
//! `Accept`), which are either signed from the URL or left out of the signature.

use std::time::Duration;

use backups::s3::{BlockingHttp, HttpRequest, HttpResponse, Method};

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all (a part is at most tens of MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A blocking S3 sender over [`reqwest::blocking::Client`].
#[derive(Debug, Clone)]
pub struct S3Http {
    client: reqwest::blocking::Client,
}

impl S3Http {
    /// A client that follows no redirects, with a 10 s connect and a 300 s request timeout.
    pub fn new() -> reqwest::Result<Self> {
        Self::with_timeouts(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// The same with other timeouts.
    pub fn with_timeouts(connect: Duration, request: Duration) -> reqwest::Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect)
            .timeout(request)
            .build()?;
        Ok(S3Http { client })
    }
}

impl BlockingHttp for S3Http {
    type Error = reqwest::Error;

    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Put => reqwest::Method::PUT,
            Method::Post => reqwest::Method::POST,
            Method::Head => reqwest::Method::HEAD,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.body(request.body).send()?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes()?.to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}
