//! JSON replies and errors.

use serde::Serialize;
use worker::{Response, Result};

/// A JSON reply with `status`.
pub(crate) fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// A JSON error reply: `{"error": {"code": ..., "message": ...}}`.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    json(status, &error_body(code, message))
}

fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_code_and_message() {
        let body = error_body("not_found", "no such route");
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], "no such route");
    }
}
