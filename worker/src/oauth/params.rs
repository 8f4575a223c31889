//! Request parameters (query strings and `application/x-www-form-urlencoded` bodies) and
//! redirect URLs built from them.
//!
//! OAuth rules applied here (RFC 6749 section 3.1, OAuth 2.1 section 1.4.2 ff.): a parameter
//! sent without a value is treated as omitted, and a parameter must not be sent more than once.

use thiserror::Error;

/// Decoded name/value pairs, in the order they were sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

/// A parameter that is missing or repeated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParamError {
    /// Required and absent (or empty).
    #[error("the {0} parameter is required")]
    Missing(&'static str),
    /// Sent more than once.
    #[error("the {0} parameter must not be repeated")]
    Repeated(&'static str),
}

impl Params {
    /// The largest encoded input we decode (query or form body), in bytes. OAuth requests are
    /// small; anything larger is refused before decoding.
    pub const MAX_ENCODED_LEN: usize = 16 * 1024;

    /// Decodes a query string (without `?`) or a form body. `+` is a space.
    pub fn parse(encoded: &str) -> Self {
        Params(
            url::form_urlencoded::parse(encoded.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Params from pairs (tests, or an adapter that already decoded them).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Params(
            pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        )
    }

    /// The value of `name`: `Ok(None)` when absent or empty, an error when repeated.
    pub fn get(&self, name: &'static str) -> Result<Option<&str>, ParamError> {
        let mut values = self
            .0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ParamError::Repeated(name));
        }
        Ok(first.filter(|value| !value.is_empty()))
    }

    /// The value of `name`, which must be present once and non-empty.
    pub fn require(&self, name: &'static str) -> Result<&str, ParamError> {
        self.get(name)?.ok_or(ParamError::Missing(name))
    }

    /// Whether `name` appears at all (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(key, _)| key == name)
    }
}

/// `base` with `pairs` appended to its query (existing query parameters are kept, RFC 6749
/// section 3.1.2). Pairs with a `None` value are left out. `base` must be an absolute URL; it
/// always is here, since it is one of our own URLs or a validated, registered redirect URI.
pub fn with_query(base: &str, pairs: &[(&str, Option<&str>)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in pairs {
                    if let Some(value) = value {
                        query.append_pair(name, value);
                    }
                }
            }
            url.into()
        }
        // Unreachable for validated URLs; still never panic on input.
        Err(_) => {
            let mut out = base.to_owned();
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in pairs {
                if let Some(value) = value {
                    serializer.append_pair(name, value);
                }
            }
            out.push(if base.contains('?') { '&' } else { '?' });
            out.push_str(&serializer.finish());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_and_queries() {
        let params = Params::parse("a=1&b=hello+world&c=%2Fx%3Fy&empty=&d=%E2%9C%93");
        assert_eq!(params.get("a"), Ok(Some("1")));
        assert_eq!(params.get("b"), Ok(Some("hello world")));
        assert_eq!(params.get("c"), Ok(Some("/x?y")));
        assert_eq!(params.get("d"), Ok(Some("✓")));
        assert_eq!(params.get("empty"), Ok(None));
        assert!(params.has("empty"));
        assert_eq!(params.get("nope"), Ok(None));
        assert_eq!(params.require("empty"), Err(ParamError::Missing("empty")));
        assert_eq!(params.require("a"), Ok("1"));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let params = Params::parse("state=a&state=b");
        assert_eq!(params.get("state"), Err(ParamError::Repeated("state")));
        assert_eq!(params.require("state"), Err(ParamError::Repeated("state")));
        let pairs = Params::from_pairs([("x", "1"), ("x", "")]);
        assert_eq!(pairs.get("x"), Err(ParamError::Repeated("x")));
    }

    #[test]
    fn redirects_keep_the_existing_query_and_encode_values() {
        assert_eq!(
            with_query(
                "https://client.example/cb?keep=1",
                &[
                    ("code", Some("a b&c")),
                    ("state", None),
                    ("iss", Some("https://x"))
                ]
            ),
            "https://client.example/cb?keep=1&code=a+b%26c&iss=https%3A%2F%2Fx"
        );
        assert_eq!(
            with_query("http://127.0.0.1:9/cb", &[("error", Some("access_denied"))]),
            "http://127.0.0.1:9/cb?error=access_denied"
        );
        assert_eq!(
            with_query("not a url", &[("a", Some("b c"))]),
            "not a url?a=b+c"
        );
    }
}
