//! A small `multipart/form-data` reader (RFC 7578) for version uploads: the boundary from the
//! content type, then each part's name, content type and bytes. Bodies are whole in memory
//! (the API's body limit bounds them).

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// `name` from `Content-Disposition`.
    pub(crate) name: String,
    /// `Content-Type`, or `text/plain` when absent (RFC 7578 4.4).
    pub(crate) content_type: String,
    pub(crate) bytes: Vec<u8>,
}

/// The boundary named by a `multipart/form-data` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Splits `body` into its parts; `None` when it is not a well-formed form with this boundary.
pub(crate) fn parse(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let mut rest = skip_past(body, delimiter.as_bytes())?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).ok()?;
        let content = &rest[head_end + 4..];
        let next = find(content, format!("\r\n{delimiter}").as_bytes())?;
        parts.push(part(head, content[..next].to_vec())?);
        rest = &content[next + 2 + delimiter.len()..];
    }
}

fn part(head: &str, bytes: Vec<u8>) -> Option<Part> {
    let mut name = None;
    let mut content_type = "text/plain".to_owned();
    for line in head.split("\r\n") {
        let (key, value) = line.split_once(':')?;
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            name = value.split(';').find_map(|param| {
                let (key, value) = param.split_once('=')?;
                (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
            });
        } else if key.trim().eq_ignore_ascii_case("content-type") {
            content_type = value.trim().to_owned();
        }
    }
    Some(Part {
        name: name?,
        content_type,
        bytes,
    })
}

fn skip_past<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    find(haystack, needle).map(|at| &haystack[at + needle.len()..])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parts_of_a_form() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"a\":1}\r\n--XY\r\nContent-Disposition: form-data; name=\"shim.js\"; filename=\"shim.js\"\r\nContent-Type: application/javascript+module\r\n\r\nexport default {}\r\n\r\n--XY--\r\n";
        let boundary = boundary("multipart/form-data; boundary=XY").unwrap();
        let parts = parse(body, &boundary).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "metadata");
        assert_eq!(parts[0].content_type, "text/plain");
        assert_eq!(parts[0].bytes, b"{\"a\":1}");
        assert_eq!(parts[1].name, "shim.js");
        assert_eq!(parts[1].content_type, "application/javascript+module");
        assert_eq!(parts[1].bytes, b"export default {}\r\n");
    }

    #[test]
    fn refuses_a_truncated_form() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}";
        assert_eq!(parse(body, "XY"), None);
        assert_eq!(boundary("application/json"), None);
    }
}
