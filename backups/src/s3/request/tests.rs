use super::*;
use crate::s3::ListRequest;

/// 2025-12-06T05:33:20Z.
const NOW_MS: u64 = 1_764_999_200_000;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn config() -> S3Config {
    S3Config {
        endpoint: "http://127.0.0.1:9000".into(),
        region: "us-east-1".into(),
        bucket: "backups".into(),
        access_key: "AKIDEXAMPLE".into(),
        secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
    }
}

/// The `SignedHeaders=` list of an Authorization header.
fn signed_headers(request: &HttpRequest) -> Vec<String> {
    let authorization = request.header("authorization").expect("signed");
    let list = authorization
        .split(", ")
        .find_map(|part| part.strip_prefix("SignedHeaders="))
        .expect("SignedHeaders in Authorization");
    list.split(';').map(str::to_owned).collect()
}

#[test]
fn object_urls_are_path_style_with_encoded_keys() {
    let request = config().get_object("notes/a b+c.md", NOW_MS).unwrap();
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        "http://127.0.0.1:9000/backups/notes/a%20b%2Bc.md"
    );
}

#[test]
fn a_trailing_slash_on_the_endpoint_is_ignored() {
    let mut config = config();
    config.endpoint.push('/');
    let request = config.head_object("k", NOW_MS).unwrap();
    assert_eq!(request.method, Method::Head);
    assert_eq!(request.url, "http://127.0.0.1:9000/backups/k");
}

#[test]
fn signed_requests_carry_date_payload_hash_and_authorization() {
    let request = config().get_object("k", NOW_MS).unwrap();
    assert_eq!(request.header("x-amz-date"), Some("20251206T053320Z"));
    assert_eq!(request.header("x-amz-content-sha256"), Some(EMPTY_SHA256));
    let authorization = request.header("authorization").unwrap();
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251206/us-east-1/s3/aws4_request, "
        ),
        "{authorization}"
    );
    assert_eq!(
        signed_headers(&request),
        ["host", "x-amz-content-sha256", "x-amz-date"]
    );
    assert!(!authorization.contains(&config().secret_key));
}

#[test]
fn the_payload_hash_is_the_sha256_of_the_body() {
    let request = config()
        .put_object("k", b"hello".to_vec(), PutOptions::default(), NOW_MS)
        .unwrap();
    assert_eq!(
        request.header("x-amz-content-sha256"),
        Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(request.body, b"hello");
}

#[test]
fn every_header_sent_is_signed() {
    let options = PutOptions {
        if_none_match: true,
        content_type: Some("application/octet-stream"),
    };
    let request = config()
        .put_object("k", b"x".to_vec(), options, NOW_MS)
        .unwrap();
    assert_eq!(request.method, Method::Put);
    assert_eq!(request.header("if-none-match"), Some("*"));
    assert_eq!(
        request.header("content-type"),
        Some("application/octet-stream")
    );
    let signed = signed_headers(&request);
    for (name, _) in &request.headers {
        assert!(
            name == "authorization" || signed.contains(name),
            "{name} is sent but not signed: {signed:?}"
        );
    }
    assert!(signed.contains(&"host".to_owned()));
}

#[test]
fn signing_is_deterministic_for_a_fixed_time() {
    let once = config().get_object("k", NOW_MS).unwrap();
    let again = config().get_object("k", NOW_MS).unwrap();
    assert_eq!(once, again);
    let later = config().get_object("k", NOW_MS + 1_000).unwrap();
    assert_ne!(once.header("authorization"), later.header("authorization"));
}

#[test]
fn the_signature_depends_on_the_secret_key() {
    let mut other = config();
    other.secret_key = "another-secret".into();
    let mine = config().get_object("k", NOW_MS).unwrap();
    let theirs = other.get_object("k", NOW_MS).unwrap();
    assert_ne!(mine.header("authorization"), theirs.header("authorization"));
}

#[test]
fn list_queries_are_canonical() {
    let list = ListRequest {
        prefix: "logs/".into(),
        continuation_token: Some("t+/=".into()),
        start_after: Some("logs/a".into()),
        max_keys: Some(2),
        delimiter: Some("/".into()),
    };
    let request = config().list_objects_v2(&list, NOW_MS).unwrap();
    assert_eq!(
        request.url,
        "http://127.0.0.1:9000/backups/?continuation-token=t%2B%2F%3D&delimiter=%2F\
         &list-type=2&max-keys=2&prefix=logs%2F&start-after=logs%2Fa"
    );
    let all = config()
        .list_objects_v2(&ListRequest::default(), NOW_MS)
        .unwrap();
    assert_eq!(
        all.url,
        "http://127.0.0.1:9000/backups/?list-type=2&prefix="
    );
}

#[test]
fn bucket_and_multipart_urls() {
    let config = config();
    assert_eq!(
        config.head_bucket(NOW_MS).unwrap().url,
        "http://127.0.0.1:9000/backups"
    );
    let create = config.create_multipart_upload("big/x", NOW_MS).unwrap();
    assert_eq!(create.method, Method::Post);
    assert_eq!(create.url, "http://127.0.0.1:9000/backups/big/x?uploads=");
    let part = config
        .upload_part("big/x", "id/1", 3, vec![1, 2], NOW_MS)
        .unwrap();
    assert_eq!(part.method, Method::Put);
    assert_eq!(
        part.url,
        "http://127.0.0.1:9000/backups/big/x?partNumber=3&uploadId=id%2F1"
    );
    let abort = config.abort_multipart_upload("big/x", "u", NOW_MS).unwrap();
    assert_eq!(abort.method, Method::Delete);
    assert_eq!(abort.url, "http://127.0.0.1:9000/backups/big/x?uploadId=u");
    let delete = config.delete_object("big/x", NOW_MS).unwrap();
    assert_eq!(delete.method, Method::Delete);
    assert_eq!(delete.url, "http://127.0.0.1:9000/backups/big/x");
}

#[test]
fn completion_lists_parts_in_order_with_escaped_etags() {
    let parts = [
        CompletedPart {
            part_number: 1,
            etag: "\"a1\"".into(),
        },
        CompletedPart {
            part_number: 2,
            etag: "\"b<2>&\"".into(),
        },
    ];
    let request = config()
        .complete_multipart_upload("k", "u", &parts, NOW_MS)
        .unwrap();
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, "http://127.0.0.1:9000/backups/k?uploadId=u");
    assert_eq!(
        String::from_utf8(request.body).unwrap(),
        "<CompleteMultipartUpload>\
         <Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>&quot;b&lt;2&gt;&amp;&quot;</ETag></Part>\
         </CompleteMultipartUpload>"
    );
}

#[test]
fn completion_refuses_empty_unordered_or_out_of_range_parts() {
    let part = |part_number| CompletedPart {
        part_number,
        etag: "e".into(),
    };
    let config = config();
    for parts in [
        vec![],
        vec![part(2), part(1)],
        vec![part(1), part(1)],
        vec![part(0)],
    ] {
        let error = config
            .complete_multipart_upload("k", "u", &parts, NOW_MS)
            .unwrap_err();
        assert!(matches!(error, SignError::InvalidParts { .. }), "{error}");
    }
    let error = config
        .upload_part("k", "u", 10_001, vec![], NOW_MS)
        .unwrap_err();
    assert!(matches!(error, SignError::InvalidParts { .. }), "{error}");
}

#[test]
fn bad_keys_are_refused_before_signing() {
    let config = config();
    let long = "k".repeat(1025);
    for key in ["", "a/../b", "./a", "a/.", long.as_str()] {
        let error = config.get_object(key, NOW_MS).unwrap_err();
        assert!(
            matches!(&error, SignError::InvalidKey { operation: Operation::GetObject, key: k, .. } if k == key),
            "{key:?}: {error}"
        );
    }
    // Dots inside a segment are ordinary characters.
    assert!(config.get_object("a/..b/.c", NOW_MS).is_ok());
}

#[test]
fn bad_endpoints_and_buckets_are_refused() {
    for endpoint in [
        "127.0.0.1:9000",
        "ftp://h",
        "http://",
        "http://h/path",
        "http://a b",
    ] {
        let mut config = config();
        config.endpoint = endpoint.into();
        let error = config.get_object("k", NOW_MS).unwrap_err();
        assert!(
            matches!(error, SignError::InvalidEndpoint { .. }),
            "{endpoint}: {error}"
        );
    }
    for bucket in ["", "ab", "Upper", "with/slash", "sp ace"] {
        let mut config = config();
        config.bucket = bucket.into();
        let error = config.head_bucket(NOW_MS).unwrap_err();
        assert!(
            matches!(error, SignError::InvalidBucket { .. }),
            "{bucket}: {error}"
        );
    }
}

#[test]
fn header_values_the_signer_refuses_are_a_signing_error() {
    let options = PutOptions {
        if_none_match: false,
        content_type: Some("text/plain\nx-injected: 1"),
    };
    let error = config()
        .put_object("k", vec![], options, NOW_MS)
        .unwrap_err();
    assert!(matches!(error, SignError::Signing { .. }), "{error}");
}

#[test]
fn debug_of_a_request_shows_the_body_size_not_the_bytes() {
    let request = config()
        .put_object("k", b"secret-bytes".to_vec(), PutOptions::default(), NOW_MS)
        .unwrap();
    let printed = format!("{request:?}");
    assert!(printed.contains("body_len: 12"), "{printed}");
    assert!(!printed.contains("115, 101"), "{printed}");
}
