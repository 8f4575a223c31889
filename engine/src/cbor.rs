//! Strict CBOR reading for the frozen formats.
//!
//! `ciborium` alone accepts an array header that claims more items than a tuple reads, and
//! ignores bytes after the value. Our formats are arrays of a fixed length with nothing after
//! them, so every top-level decode goes through [`from_slice_exact`], which refuses both.

use serde::de::DeserializeOwned;

/// Decodes `bytes` as one `T` that is a CBOR array of `items` items (fewer than 24) and
/// nothing after it.
pub(crate) fn from_slice_exact<T: DeserializeOwned>(bytes: &[u8], items: u8) -> Result<T, String> {
    debug_assert!(items < 24);
    match bytes.first() {
        Some(&head) if head == 0x80 | items => {}
        Some(&head) => {
            return Err(format!(
                "expected an array of {items} items, found byte {head:#04x}"
            ));
        }
        None => return Err("no bytes".to_owned()),
    }
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} unexpected bytes after the value", rest.len()));
    }
    Ok(value)
}
