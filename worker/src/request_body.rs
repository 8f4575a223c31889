//! Reading a request body with a cap: the one way this crate buffers a client's body.
//!
//! A declared `Content-Length` past the cap is refused before a byte is read; a body of unknown
//! length (chunked) is read chunk by chunk and reading stops at the first chunk that would take
//! it past the cap, so nothing past the cap plus one chunk is ever held. Callers answer
//! [`BodyError::TooLarge`] with 413.
//!
//! The counting is [`CappedBody`], pure and tested natively; [`read_capped`] feeds it from
//! `worker`'s body stream.

use futures::StreamExt;
use thiserror::Error;
use worker::Request;

/// Why a body was not read.
#[derive(Debug, Error)]
pub(crate) enum BodyError {
    /// It is (or declares to be) longer than the cap: answer 413.
    #[error("the request body is longer than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The stream failed.
    #[error("the request body could not be read: {0}")]
    Failed(worker::Error),
}

/// A body being buffered under a cap.
#[derive(Debug)]
pub(crate) struct CappedBody {
    limit: usize,
    bytes: Vec<u8>,
}

impl CappedBody {
    /// An empty body that may grow to `limit` bytes; `declared` is the `Content-Length`, if
    /// any: past the limit it is refused at once.
    pub(crate) fn new(limit: usize, declared: Option<u64>) -> Result<Self, BodyError> {
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(BodyError::TooLarge { limit });
        }
        Ok(CappedBody {
            limit,
            bytes: Vec::new(),
        })
    }

    /// Appends one chunk, or refuses it when the body would pass the cap (the chunk is not
    /// kept).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if chunk.len() > self.limit - self.bytes.len() {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The whole body.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The request's `Content-Length`, when it sent one that parses.
pub(crate) fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|value| value.trim().parse().ok())
}

/// Reads `req`'s body, at most `limit` bytes (see the module docs). A request without a body
/// reads as empty.
pub(crate) async fn read_capped(req: &mut Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = CappedBody::new(limit, declared_length(req))?;
    let mut stream = match req.stream() {
        Ok(stream) => stream,
        // No body at all.
        Err(_) => return Ok(Vec::new()),
    };
    while let Some(chunk) = stream.next().await {
        body.push(&chunk.map_err(BodyError::Failed)?)?;
    }
    Ok(body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_past_the_cap_is_refused_before_reading() {
        assert!(matches!(
            CappedBody::new(10, Some(11)),
            Err(BodyError::TooLarge { limit: 10 })
        ));
        assert!(CappedBody::new(10, Some(10)).is_ok());
        assert!(CappedBody::new(10, None).is_ok());
    }

    #[test]
    fn chunks_are_kept_up_to_the_cap_and_the_one_past_it_is_refused() {
        let mut body = CappedBody::new(10, None).unwrap();
        body.push(b"12345").unwrap();
        body.push(b"").unwrap();
        body.push(b"67890").unwrap();
        assert!(matches!(
            body.push(b"x"),
            Err(BodyError::TooLarge { limit: 10 })
        ));
        assert_eq!(body.into_bytes(), b"1234567890");
    }

    #[test]
    fn a_lying_content_length_does_not_lift_the_cap() {
        let mut body = CappedBody::new(4, Some(2)).unwrap();
        assert!(body.push(&[0; 5]).is_err());
    }
}
