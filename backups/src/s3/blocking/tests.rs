use std::collections::VecDeque;
use std::fmt;

use super::*;
use crate::s3::{MIN_PART_SIZE, Method};

/// A sender that answers from a script and keeps what it was sent.
#[derive(Debug, Default)]
struct Scripted {
    answers: VecDeque<Result<HttpResponse, Unreachable>>,
    sent: Vec<HttpRequest>,
}

#[derive(Debug)]
struct Unreachable;

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Unreachable {}

impl Scripted {
    fn answer(mut self, status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        self.answers.push_back(Ok(HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }));
        self
    }

    fn fail(mut self) -> Self {
        self.answers.push_back(Err(Unreachable));
        self
    }

    fn urls(&self) -> Vec<(Method, String)> {
        self.sent
            .iter()
            .map(|request| (request.method, request.url.clone()))
            .collect()
    }
}

impl BlockingHttp for Scripted {
    type Error = Unreachable;

    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, Unreachable> {
        self.sent.push(request);
        self.answers.pop_front().expect("a scripted answer")
    }
}

fn config() -> S3Config {
    S3Config {
        endpoint: "http://s3.test".into(),
        region: "auto".into(),
        bucket: "bkt".into(),
        access_key: "AKID".into(),
        secret_key: "secret".into(),
    }
}

fn page(keys: &[&str], next: Option<&str>) -> String {
    let contents: String = keys
        .iter()
        .map(|key| format!("<Contents><Key>{key}</Key><Size>1</Size></Contents>"))
        .collect();
    let truncated = match next {
        Some(token) => {
            format!(
                "<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
            )
        }
        None => "<IsTruncated>false</IsTruncated>".to_owned(),
    };
    format!("<ListBucketResult>{contents}{truncated}</ListBucketResult>")
}

fn clock() -> impl FnMut() -> u64 {
    let mut now = 1_764_999_200_000;
    move || {
        now += 1;
        now
    }
}

#[test]
fn list_all_follows_tokens_to_the_last_page() {
    let mut http = Scripted::default()
        .answer(200, &[], &page(&["p/a", "p/b"], Some("t1")))
        .answer(200, &[], &page(&["p/c"], Some("t2")))
        .answer(200, &[], &page(&[], None));
    let objects = list_all(&mut http, &config(), "p/", clock()).unwrap();
    let keys: Vec<&str> = objects.iter().map(|object| object.key.as_str()).collect();
    assert_eq!(keys, ["p/a", "p/b", "p/c"]);
    let urls: Vec<String> = http.urls().into_iter().map(|(_, url)| url).collect();
    assert_eq!(
        urls,
        [
            "http://s3.test/bkt/?list-type=2&prefix=p%2F",
            "http://s3.test/bkt/?continuation-token=t1&list-type=2&prefix=p%2F",
            "http://s3.test/bkt/?continuation-token=t2&list-type=2&prefix=p%2F",
        ]
    );
    // Each page is signed at its own time.
    assert_ne!(http.sent[0].header("x-amz-date"), None, "pages are signed");
}

#[test]
fn list_all_refuses_a_repeated_token() {
    let mut http = Scripted::default()
        .answer(200, &[], &page(&["a"], Some("same")))
        .answer(200, &[], &page(&["b"], Some("same")));
    let error = list_all(&mut http, &config(), "", clock()).unwrap_err();
    assert!(
        matches!(error, ListAllError::S3(S3Error::Malformed { .. })),
        "{error:?}"
    );
}

#[test]
fn list_all_reports_transport_and_service_errors() {
    let mut http = Scripted::default().fail();
    let error = list_all(&mut http, &config(), "", clock()).unwrap_err();
    assert!(matches!(error, ListAllError::Transport(Unreachable)));
    let mut http = Scripted::default().answer(
        403,
        &[],
        "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
    );
    let error = list_all(&mut http, &config(), "", clock()).unwrap_err();
    assert!(
        matches!(&error, ListAllError::S3(S3Error::Service { code, .. }) if code == "AccessDenied"),
        "{error:?}"
    );
}

#[test]
fn small_objects_go_up_in_one_put() {
    let mut http = Scripted::default().answer(200, &[("ETag", "\"e\"")], "");
    put_large(
        &mut http,
        &config(),
        "k",
        b"small",
        LargePut::default(),
        clock(),
    )
    .unwrap();
    assert_eq!(
        http.urls(),
        [(Method::Put, "http://s3.test/bkt/k".to_owned())]
    );
    assert_eq!(http.sent[0].body, b"small");
}

const CREATED: &str =
    "<InitiateMultipartUploadResult><UploadId>up1</UploadId></InitiateMultipartUploadResult>";

fn options() -> LargePut {
    LargePut {
        threshold: MIN_PART_SIZE,
        part_size: MIN_PART_SIZE,
    }
}

#[test]
fn large_objects_go_up_in_parts_and_complete_in_order() {
    let bytes: Vec<u8> = (0..MIN_PART_SIZE * 2 + 3).map(|i| i as u8).collect();
    let mut http = Scripted::default()
        .answer(200, &[], CREATED)
        .answer(200, &[("ETag", "\"p1\"")], "")
        .answer(200, &[("ETag", "\"p2\"")], "")
        .answer(200, &[("ETag", "\"p3\"")], "")
        .answer(200, &[], "<CompleteMultipartUploadResult/>");
    put_large(&mut http, &config(), "big", &bytes, options(), clock()).unwrap();
    assert_eq!(
        http.urls(),
        [
            (Method::Post, "http://s3.test/bkt/big?uploads=".to_owned()),
            (
                Method::Put,
                "http://s3.test/bkt/big?partNumber=1&uploadId=up1".to_owned()
            ),
            (
                Method::Put,
                "http://s3.test/bkt/big?partNumber=2&uploadId=up1".to_owned()
            ),
            (
                Method::Put,
                "http://s3.test/bkt/big?partNumber=3&uploadId=up1".to_owned()
            ),
            (
                Method::Post,
                "http://s3.test/bkt/big?uploadId=up1".to_owned()
            ),
        ]
    );
    let joined: Vec<u8> = http.sent[1..4]
        .iter()
        .flat_map(|request| request.body.iter().copied())
        .collect();
    assert_eq!(joined, bytes);
    let completion = String::from_utf8(http.sent[4].body.clone()).unwrap();
    assert!(
        completion.contains("<PartNumber>3</PartNumber><ETag>&quot;p3&quot;</ETag>"),
        "{completion}"
    );
}

#[test]
fn a_failed_part_aborts_the_upload_and_reports_the_failure() {
    let bytes = vec![7u8; (MIN_PART_SIZE * 2) as usize];
    let mut http = Scripted::default()
        .answer(200, &[], CREATED)
        .answer(200, &[("ETag", "\"p1\"")], "")
        .answer(
            503,
            &[],
            "<Error><Code>SlowDown</Code><Message>later</Message></Error>",
        )
        .answer(204, &[], "");
    let error = put_large(&mut http, &config(), "big", &bytes, options(), clock()).unwrap_err();
    assert!(
        matches!(&error, PutLargeError::S3(S3Error::Service { code, .. }) if code == "SlowDown"),
        "{error:?}"
    );
    assert_eq!(
        http.urls().last().unwrap(),
        &(
            Method::Delete,
            "http://s3.test/bkt/big?uploadId=up1".to_owned()
        )
    );
}

#[test]
fn a_lost_connection_mid_upload_also_aborts() {
    let bytes = vec![7u8; (MIN_PART_SIZE + 1) as usize];
    let mut http = Scripted::default()
        .answer(200, &[], CREATED)
        .fail()
        .answer(204, &[], "");
    let error = put_large(&mut http, &config(), "big", &bytes, options(), clock()).unwrap_err();
    assert!(
        matches!(
            error,
            PutLargeError::Transport {
                operation: Operation::UploadPart,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(http.sent.last().unwrap().method, Method::Delete);
}

#[test]
fn a_part_size_below_the_minimum_is_refused_before_sending() {
    let mut http = Scripted::default();
    let options = LargePut {
        threshold: 0,
        part_size: 1024,
    };
    let error = put_large(&mut http, &config(), "k", b"abc", options, clock()).unwrap_err();
    assert!(matches!(
        error,
        PutLargeError::Plan(PlanError::PartSize { .. })
    ));
    assert!(http.sent.is_empty());
}
