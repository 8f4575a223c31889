//! The `cursor` param of list requests (`resources/list`, `resources/templates/list`,
//! `prompts/list`).
//!
//! Cursors are opaque to clients, and an empty string is a valid cursor (pagination pages,
//! "Implementation Guidelines"), so ours are never empty. A cursor we did not issue is -32602
//! ("Error Handling": invalid cursors should be Invalid params).

use serde_json::{Map, Value};
use thiserror::Error;

use super::jsonrpc::ErrorObject;

/// Why a list request's `cursor` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CursorError {
    /// `cursor` is present but not a string.
    #[error("{method}: \"cursor\" must be a string")]
    NotAString {
        /// The list method.
        method: &'static str,
    },
    /// The cursor is not one this server issued for this list.
    #[error(
        "{method}: cursor {cursor:?} is not a nextCursor this server returned; list again \
         without a cursor"
    )]
    NotIssued {
        /// The list method.
        method: &'static str,
        /// The cursor as sent.
        cursor: String,
    },
}

impl CursorError {
    /// The JSON-RPC error: -32602.
    pub fn to_error(&self) -> ErrorObject {
        ErrorObject::invalid_params(self)
    }
}

/// The `cursor` of a list request to `method`; `None` when absent or `null`.
pub fn cursor<'a>(
    method: &'static str,
    params: Option<&'a Map<String, Value>>,
) -> Result<Option<&'a str>, CursorError> {
    match params.and_then(|params| params.get("cursor")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(cursor)) => Ok(Some(cursor)),
        Some(_) => Err(CursorError::NotAString { method }),
    }
}

/// Checks a request for a list that always fits on one page: any cursor is one we never
/// issued.
pub fn single_page(
    method: &'static str,
    params: Option<&Map<String, Value>>,
) -> Result<(), CursorError> {
    match cursor(method, params)? {
        None => Ok(()),
        Some(cursor) => Err(CursorError::NotIssued {
            method,
            cursor: cursor.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn cursors_are_read_when_they_are_strings() {
        assert_eq!(cursor("prompts/list", None), Ok(None));
        let null = params(json!({"cursor": null}));
        assert_eq!(cursor("prompts/list", Some(&null)), Ok(None));
        let empty = params(json!({"cursor": ""}));
        assert_eq!(cursor("prompts/list", Some(&empty)), Ok(Some("")));
        let number = params(json!({"cursor": 3}));
        let err = cursor("prompts/list", Some(&number)).unwrap_err();
        assert_eq!(err.to_error().code.0, -32602);
        assert!(err.to_string().contains("must be a string"), "{err}");
    }

    #[test]
    fn a_single_page_list_refuses_every_cursor_even_an_empty_one() {
        assert_eq!(single_page("prompts/list", None), Ok(()));
        let empty = params(json!({"cursor": ""}));
        let err = single_page("prompts/list", Some(&empty)).unwrap_err();
        assert!(matches!(err, CursorError::NotIssued { .. }));
        let error = err.to_error();
        assert_eq!(error.code.0, -32602);
        assert!(error.message.contains("prompts/list"), "{}", error.message);
    }
}
