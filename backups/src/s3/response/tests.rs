use super::*;

fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }
}

fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>req-1</RequestId></Error>"
    )
}

#[test]
fn success_statuses_pass() {
    for status in [200, 204, 206] {
        assert_eq!(
            check(&response(status, ""), Operation::GetObject, "k"),
            Ok(())
        );
    }
}

#[test]
fn no_such_key_is_not_found_naming_the_key() {
    let error = check(
        &response(
            404,
            &error_xml("NoSuchKey", "The specified key does not exist."),
        ),
        Operation::GetObject,
        "logs/1",
    )
    .unwrap_err();
    assert_eq!(
        error,
        S3Error::NotFound {
            operation: Operation::GetObject,
            key: "logs/1".into()
        }
    );
    assert_eq!(error.to_string(), "GetObject of key \"logs/1\": not found");
}

#[test]
fn a_bodiless_404_on_head_is_not_found() {
    let error = check(&response(404, ""), Operation::HeadObject, "k").unwrap_err();
    assert!(matches!(error, S3Error::NotFound { key, .. } if key == "k"));
}

#[test]
fn a_missing_bucket_is_not_a_missing_key() {
    let error = check(
        &response(404, &error_xml("NoSuchBucket", "no bucket")),
        Operation::GetObject,
        "k",
    )
    .unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { status: 404, code, .. } if code == "NoSuchBucket"),
        "{error:?}"
    );
}

#[test]
fn status_412_is_precondition_failed() {
    let error = check(
        &response(412, &error_xml("PreconditionFailed", "At least one...")),
        Operation::PutObject,
        "once",
    )
    .unwrap_err();
    assert_eq!(
        error,
        S3Error::PreconditionFailed {
            operation: Operation::PutObject,
            key: "once".into()
        }
    );
}

#[test]
fn other_errors_keep_code_message_and_request_id() {
    for code in [
        "AccessDenied",
        "SignatureDoesNotMatch",
        "RequestTimeTooSkewed",
    ] {
        let error = check(
            &response(403, &error_xml(code, "details &amp; more")),
            Operation::PutObject,
            "a/b",
        )
        .unwrap_err();
        assert_eq!(
            error,
            S3Error::Service {
                operation: Operation::PutObject,
                key: "a/b".into(),
                status: 403,
                code: code.into(),
                message: "details & more".into(),
                request_id: Some("req-1".into()),
            }
        );
        assert_eq!(
            error.to_string(),
            format!("PutObject of key \"a/b\": 403 {code}: details & more")
        );
    }
}

#[test]
fn bucket_level_errors_name_the_operation_only() {
    let error = check(
        &response(403, &error_xml("AccessDenied", "no")),
        Operation::ListObjectsV2,
        "",
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "ListObjectsV2: 403 AccessDenied: no");
}

#[test]
fn errors_without_xml_get_a_code_from_the_status() {
    let error = check(&response(403, ""), Operation::HeadObject, "k").unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { code, message, .. } if code == "Forbidden" && message.is_empty()),
        "{error:?}"
    );
    let error = check(
        &response(502, "<html>bad gateway</html>"),
        Operation::GetObject,
        "k",
    )
    .unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { status: 502, code, message, .. }
            if code == "BadGateway" && message == "<html>bad gateway</html>"),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[test]
fn transient_errors() {
    let service = |status, code: &str| S3Error::Service {
        operation: Operation::PutObject,
        key: "k".into(),
        status,
        code: code.into(),
        message: String::new(),
        request_id: None,
    };
    assert!(service(503, "SlowDown").is_transient());
    assert!(service(429, "TooManyRequests").is_transient());
    assert!(service(403, "RequestTimeTooSkewed").is_transient());
    assert!(!service(403, "SignatureDoesNotMatch").is_transient());
    assert!(!service(403, "AccessDenied").is_transient());
}

const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>backups</Name><Prefix>logs/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>logs/a &amp; b &lt;1&gt;</Key><LastModified>2025-12-06T05:33:20.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>12</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key> spaced &#x263A; </Key><Size>0</Size></Contents>
  <NextContinuationToken>token+/=</NextContinuationToken>
</ListBucketResult>"#;

#[test]
fn listed_times_are_read_as_unix_milliseconds() {
    use super::parse_time;
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_time("2026-12-06T09:41:13.539Z"),
        Some(1_796_550_073_539)
    );
    assert_eq!(
        parse_time("2024-02-29T23:59:59.5Z"),
        Some(1_709_251_199_500)
    );
    for bad in [
        "2026-12-06T09:41:13",
        "2026-13-01T00:00:00Z",
        "x",
        "2026-12-06T25:00:00Z",
        "2026-12-06T09:41:13.5aZ",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

#[test]
fn a_truncated_page_unescapes_keys_and_etags() {
    let page = parse_list(&response(200, PAGE)).unwrap();
    assert_eq!(
        page,
        ListPage {
            objects: vec![
                ListedObject {
                    key: "logs/a & b <1>".into(),
                    size: 12,
                    etag: Some("\"9b2cf535f27731c974343645a3985328\"".into()),
                    last_modified_ms: Some(1_764_999_200_000),
                },
                ListedObject {
                    key: " spaced \u{263A} ".into(),
                    size: 0,
                    etag: None,
                    last_modified_ms: None,
                },
            ],
            next_continuation_token: Some("token+/=".into()),
            is_truncated: true,
            common_prefixes: Vec::new(),
        }
    );
}

#[test]
fn common_prefixes_come_back_once_each_in_order() {
    let body = "<ListBucketResult><Prefix>users/</Prefix><Delimiter>/</Delimiter>\
                <CommonPrefixes><Prefix>users/1001/</Prefix></CommonPrefixes>\
                <CommonPrefixes><Prefix>users/a&amp;b/</Prefix></CommonPrefixes>\
                <IsTruncated>false</IsTruncated></ListBucketResult>";
    let page = parse_list(&response(200, body)).unwrap();
    assert_eq!(page.common_prefixes, ["users/1001/", "users/a&b/"]);
    assert!(page.objects.is_empty());
    let broken = "<ListBucketResult><CommonPrefixes></CommonPrefixes>\
                  <IsTruncated>false</IsTruncated></ListBucketResult>";
    assert!(matches!(
        parse_list(&response(200, broken)),
        Err(S3Error::Malformed { .. })
    ));
}

#[test]
fn an_empty_listing_is_an_empty_last_page() {
    let body = "<ListBucketResult><Name>b</Name><Prefix>none/</Prefix><KeyCount>0</KeyCount>\
                <IsTruncated>false</IsTruncated></ListBucketResult>";
    assert_eq!(
        parse_list(&response(200, body)).unwrap(),
        ListPage::default()
    );
}

#[test]
fn broken_listings_are_malformed() {
    let bodies = [
        "not xml",
        "<Other/>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        // No DTDs: no entity expansion.
        "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult><Prefix>&a;</Prefix></ListBucketResult>",
    ];
    for body in bodies {
        let error = parse_list(&response(200, body)).unwrap_err();
        assert!(
            matches!(error, S3Error::Malformed { .. }),
            "{body}: {error:?}"
        );
    }
    let error = parse_list(&HttpResponse {
        status: 200,
        headers: vec![],
        body: vec![0xff, 0xfe],
    })
    .unwrap_err();
    assert!(matches!(error, S3Error::Malformed { .. }), "{error:?}");
}

#[test]
fn a_listing_error_status_is_checked_first() {
    let error = parse_list(&response(403, &error_xml("AccessDenied", "no"))).unwrap_err();
    assert!(
        matches!(error, S3Error::Service { status: 403, .. }),
        "{error:?}"
    );
}

#[test]
fn create_multipart_gives_the_upload_id() {
    let body = "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                <Bucket>b</Bucket><Key>k</Key><UploadId>abc&amp;def</UploadId>\
                </InitiateMultipartUploadResult>";
    assert_eq!(
        parse_create_multipart(&response(200, body), "k").unwrap(),
        "abc&def"
    );
    let error = parse_create_multipart(&response(200, "<InitiateMultipartUploadResult/>"), "k")
        .unwrap_err();
    assert!(matches!(error, S3Error::Malformed { .. }), "{error:?}");
}

#[test]
fn complete_multipart_reports_errors_hidden_in_a_200() {
    let ok = "<CompleteMultipartUploadResult><Key>k</Key><ETag>\"x-2\"</ETag>\
              </CompleteMultipartUploadResult>";
    assert_eq!(parse_complete_multipart(&response(200, ok), "k"), Ok(()));
    let error = parse_complete_multipart(
        &response(200, &error_xml("InternalError", "try again")),
        "k",
    )
    .unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { status: 200, code, .. } if code == "InternalError"),
        "{error:?}"
    );
    let error =
        parse_complete_multipart(&response(400, &error_xml("InvalidPart", "bad etag")), "k")
            .unwrap_err();
    assert!(
        matches!(&error, S3Error::Service { status: 400, code, .. } if code == "InvalidPart"),
        "{error:?}"
    );
}

#[test]
fn etag_reads_the_header_with_its_quotes() {
    let with = HttpResponse {
        status: 200,
        headers: vec![("ETag".into(), "\"abc\"".into())],
        body: vec![],
    };
    assert_eq!(etag(&with).unwrap(), "\"abc\"");
    assert!(matches!(
        etag(&response(200, "")),
        Err(S3Error::Malformed { .. })
    ));
}
