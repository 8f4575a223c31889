//! Correlation ids: one per request, returned in a header and written in its log line.
//!
//! Cloudflare's `cf-ray` is used when present, so our logs join Cloudflare's; otherwise a
//! random id is generated. A `cf-ray` that is not a plain token is ignored rather than logged.

/// The response header that carries the correlation id.
pub(crate) const HEADER: &str = "x-correlation-id";

const MAX_LEN: usize = 64;

/// The correlation id for a request with the given `cf-ray` header value.
pub(crate) fn for_request(cf_ray: Option<&str>) -> String {
    match cf_ray {
        Some(ray) if is_plain_token(ray) => ray.to_owned(),
        _ => generate(),
    }
}

fn is_plain_token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn generate() -> String {
    let mut bytes = [0u8; 16];
    // Web Crypto does not fail for 16 bytes; if it ever did, a fixed id still lets the log
    // line be written, and the failure is visible as a run of identical ids.
    if getrandom::fill(&mut bytes).is_err() {
        return "unavailable".to_owned();
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_cf_ray_when_it_is_a_plain_token() {
        assert_eq!(
            for_request(Some("8f1c2a3b4c5d6e7f-AMS")),
            "8f1c2a3b4c5d6e7f-AMS"
        );
    }

    #[test]
    fn generates_when_cf_ray_is_missing_or_odd() {
        for ray in [
            None,
            Some(""),
            Some("a b"),
            Some("x\"}{"),
            Some(&"a".repeat(65)[..]),
        ] {
            let id = for_request(ray);
            assert_eq!(id.len(), 32, "{ray:?} gave {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(for_request(None), for_request(None));
    }
}
