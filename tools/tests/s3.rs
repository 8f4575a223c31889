//! The `backups` crate's S3 requests against a real S3 server (s3s-fs, in-process), sent with
//! the CLI's blocking sender.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use backups::s3::{
    self, BlockingHttp, HttpRequest, HttpResponse, LargePut, ListRequest, MIN_PART_SIZE, Operation,
    PutOptions, S3Config, S3Error,
};
use second_brain_tools::s3_http::S3Http;
use second_brain_tools::s3_local::{self, S3Local};

const ACCESS_KEY: &str = "local-access";
const SECRET_KEY: &str = "local-secret-for-tests";
const BUCKET: &str = "backups";

/// A server on a fresh directory with one bucket, and a client for it.
struct Fixture {
    _dir: tempfile::TempDir,
    _server: S3Local,
    config: S3Config,
    http: S3Http,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    // s3s-fs buckets are directories.
    std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
    let server = s3_local::spawn(dir.path(), ACCESS_KEY, SECRET_KEY).unwrap();
    let config = S3Config {
        endpoint: server.url(),
        region: "us-east-1".into(),
        bucket: BUCKET.into(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    };
    Fixture {
        _dir: dir,
        _server: server,
        config,
        http: S3Http::new().unwrap(),
    }
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since_epoch.as_millis()).unwrap()
}

impl Fixture {
    fn send(&mut self, request: HttpRequest) -> HttpResponse {
        self.http.send(request).unwrap()
    }

    fn put(&mut self, key: &str, body: &[u8], options: PutOptions<'_>) -> Result<(), S3Error> {
        let request = self
            .config
            .put_object(key, body.to_vec(), options, now_ms())
            .unwrap();
        s3::check(&self.send(request), Operation::PutObject, key)
    }

    fn get(&mut self, key: &str) -> Result<Vec<u8>, S3Error> {
        let request = self.config.get_object(key, now_ms()).unwrap();
        let response = self.send(request);
        s3::check(&response, Operation::GetObject, key)?;
        Ok(response.body)
    }
}

#[test]
fn put_get_head_delete_round_trip_with_awkward_keys() {
    let mut s3 = fixture();
    let head_bucket = s3.config.head_bucket(now_ms()).unwrap();
    s3::check(&s3.send(head_bucket), Operation::HeadBucket, "").unwrap();

    for key in [
        "plain",
        "notes/a b+c&d=é (1).md",
        "deep/er/~tilde_and-dash.bin",
    ] {
        let options = PutOptions {
            if_none_match: false,
            content_type: Some("application/octet-stream"),
        };
        let body = format!("bytes of {key}").into_bytes();
        s3.put(key, &body, options).unwrap();
        assert_eq!(s3.get(key).unwrap(), body, "{key}");

        let head = s3.config.head_object(key, now_ms()).unwrap();
        let response = s3.send(head);
        s3::check(&response, Operation::HeadObject, key).unwrap();
        assert_eq!(
            response.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert!(s3::etag(&response).unwrap().starts_with('"'));

        let delete = s3.config.delete_object(key, now_ms()).unwrap();
        s3::check(&s3.send(delete), Operation::DeleteObject, key).unwrap();
        assert_eq!(
            s3.get(key),
            Err(S3Error::NotFound {
                operation: Operation::GetObject,
                key: key.to_owned()
            })
        );
        let head = s3.config.head_object(key, now_ms()).unwrap();
        let error = s3::check(&s3.send(head), Operation::HeadObject, key).unwrap_err();
        assert!(
            matches!(&error, S3Error::NotFound { key: k, .. } if k == key),
            "{error:?}"
        );
    }
}

#[test]
fn get_of_a_missing_key_is_not_found_naming_the_key() {
    let mut s3 = fixture();
    let error = s3.get("never/written").unwrap_err();
    assert_eq!(
        error,
        S3Error::NotFound {
            operation: Operation::GetObject,
            key: "never/written".into()
        }
    );
    assert!(error.to_string().contains("never/written"), "{error}");
}

#[test]
fn if_none_match_refuses_to_overwrite() {
    let mut s3 = fixture();
    let once = PutOptions {
        if_none_match: true,
        content_type: None,
    };
    s3.put("once", b"first", once).unwrap();
    assert_eq!(
        s3.put("once", b"second", once),
        Err(S3Error::PreconditionFailed {
            operation: Operation::PutObject,
            key: "once".into()
        })
    );
    assert_eq!(s3.get("once").unwrap(), b"first");
}

#[test]
fn listing_pages_return_every_key_once_in_order() {
    let mut s3 = fixture();
    let keys = ["page/a", "page/b", "page/c d", "page/e", "page/f"];
    for key in keys {
        s3.put(key, key.as_bytes(), PutOptions::default()).unwrap();
    }
    s3.put("other/x", b"x", PutOptions::default()).unwrap();

    let mut request = ListRequest {
        prefix: "page/".into(),
        max_keys: Some(2),
        ..ListRequest::default()
    };
    let mut listed = Vec::new();
    let mut pages = 0;
    loop {
        let response = s3.send(s3.config.list_objects_v2(&request, now_ms()).unwrap());
        let page = s3::parse_list(&response).unwrap();
        pages += 1;
        assert!(page.objects.len() <= 2);
        listed.extend(page.objects);
        if !page.is_truncated {
            break;
        }
        request.continuation_token = page.next_continuation_token;
    }
    assert_eq!(pages, 3);
    let listed_keys: Vec<&str> = listed.iter().map(|object| object.key.as_str()).collect();
    assert_eq!(listed_keys, keys);
    assert_eq!(listed[2].size, "page/c d".len() as u64);

    let all = s3::list_all(&mut s3.http, &s3.config, "page/", now_ms).unwrap();
    assert_eq!(all, listed);
    let none = s3::list_all(&mut s3.http, &s3.config, "nothing/", now_ms).unwrap();
    assert!(none.is_empty());
}

#[test]
fn a_multipart_upload_round_trips_byte_for_byte() {
    let mut s3 = fixture();
    let len = 12 * 1024 * 1024;
    let bytes: Vec<u8> = (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let options = LargePut {
        threshold: MIN_PART_SIZE,
        part_size: MIN_PART_SIZE,
    };
    s3::put_large(
        &mut s3.http,
        &s3.config,
        "big/blob",
        &bytes,
        options,
        now_ms,
    )
    .unwrap();
    let back = s3.get("big/blob").unwrap();
    assert_eq!(back.len(), bytes.len());
    assert!(back == bytes, "the object differs from what was uploaded");
}

#[test]
fn an_aborted_upload_leaves_no_object() {
    let mut s3 = fixture();
    let create = s3.config.create_multipart_upload("gone", now_ms()).unwrap();
    let upload_id = s3::parse_create_multipart(&s3.send(create), "gone").unwrap();
    let part = s3
        .config
        .upload_part("gone", &upload_id, 1, vec![1; 1024], now_ms())
        .unwrap();
    s3::check(&s3.send(part), Operation::UploadPart, "gone").unwrap();
    let abort = s3
        .config
        .abort_multipart_upload("gone", &upload_id, now_ms())
        .unwrap();
    s3::check(&s3.send(abort), Operation::AbortMultipartUpload, "gone").unwrap();
    assert!(matches!(s3.get("gone"), Err(S3Error::NotFound { .. })));
}

#[test]
fn a_wrong_secret_is_refused() {
    let mut s3 = fixture();
    let mut wrong = s3.config.clone();
    wrong.secret_key = "not-the-secret".into();
    let request = wrong.get_object("any", now_ms()).unwrap();
    let error = s3::check(&s3.send(request), Operation::GetObject, "any").unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { status: 403, code, .. } if code == "SignatureDoesNotMatch"),
        "{error:?}"
    );
}

#[test]
fn a_clock_twenty_minutes_off_is_refused() {
    let mut s3 = fixture();
    let skewed = now_ms() - 20 * 60 * 1000;
    let request = s3.config.get_object("any", skewed).unwrap();
    let error = s3::check(&s3.send(request), Operation::GetObject, "any").unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { status: 403, code, .. } if code == "RequestTimeTooSkewed"),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[test]
fn an_unsigned_request_is_refused() {
    let mut s3 = fixture();
    s3.put("k", b"v", PutOptions::default()).unwrap();
    let mut request = s3.config.get_object("k", now_ms()).unwrap();
    request
        .headers
        .retain(|(name, _)| !name.starts_with("x-amz-") && name != "authorization");
    let error = s3::check(&s3.send(request), Operation::GetObject, "k").unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { status: 403, .. }),
        "{error:?}"
    );
}

#[test]
fn the_cli_subcommand_prints_its_url_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_second-brain"))
        .arg("s3-local")
        .arg("--dir")
        .arg(dir.path())
        .args([
            "--port",
            "0",
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .map(str::to_owned);
    let outcome = url.as_ref().map(|url| {
        let config = S3Config {
            endpoint: url.clone(),
            region: "us-east-1".into(),
            bucket: BUCKET.into(),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
        };
        let response = S3Http::new()
            .unwrap()
            .send(config.head_bucket(now_ms()).unwrap())
            .unwrap();
        s3::check(&response, Operation::HeadBucket, "")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let url = url.unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(outcome, Some(Ok(())));
}
