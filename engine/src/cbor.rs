//! Strict CBOR reading for the frozen formats.
//!
//! Our formats are CBOR arrays of a fixed length with nothing after them. Decoding goes
//! through [`from_slice_exact`], which refuses a wrong top-level header and trailing bytes,
//! and reads with `cbor4ii`, whose tuple reading also refuses arrays of the wrong length at
//! every depth and which decodes several times faster than `ciborium` (see
//! docs/benchmarks.md). Writing stays with `ciborium`; both speak plain CBOR, and the golden
//! files pin the bytes.

use cbor4ii::core::dec::{Read, Reference};
use serde::Deserialize;
use serde::de::DeserializeSeed;

/// The deepest nesting accepted, against stack exhaustion on hostile input.
const MAX_DEPTH: usize = 64;

/// Reads from a byte slice and remembers how much is left.
struct Exact<'a> {
    rest: &'a [u8],
    depth_left: usize,
}

impl<'de> Read<'de> for Exact<'de> {
    type Error = std::convert::Infallible;

    fn fill<'short>(&'short mut self, want: usize) -> Result<Reference<'de, 'short>, Self::Error> {
        let len = want.min(self.rest.len());
        Ok(Reference::Long(&self.rest[..len]))
    }

    fn advance(&mut self, n: usize) {
        let n = n.min(self.rest.len());
        self.rest = &self.rest[n..];
    }

    fn step_in(&mut self) -> bool {
        match self.depth_left.checked_sub(1) {
            Some(left) => {
                self.depth_left = left;
                true
            }
            None => false,
        }
    }

    fn step_out(&mut self) {
        self.depth_left += 1;
    }
}

/// Decodes `bytes` as one `T` that is a CBOR array of `items` items (fewer than 24) and
/// nothing after it. `T` may borrow from `bytes` (byte strings are not copied).
pub(crate) fn from_slice_exact<'de, T: Deserialize<'de>>(
    bytes: &'de [u8],
    items: u8,
) -> Result<T, String> {
    from_slice_exact_seed(bytes, items, std::marker::PhantomData::<T>)
}

/// As [`from_slice_exact`], read through `seed` (which may hand the array's items on as it
/// reads them rather than collect them).
pub(crate) fn from_slice_exact_seed<'de, S: DeserializeSeed<'de>>(
    bytes: &'de [u8],
    items: u8,
    seed: S,
) -> Result<S::Value, String> {
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
    from_slice_seed(bytes, seed)
}

/// Decodes `bytes` as one `T` with nothing after it.
#[cfg(test)]
pub(crate) fn from_slice<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, String> {
    from_slice_seed(bytes, std::marker::PhantomData::<T>)
}

/// Decodes `bytes` through `seed`, with nothing after the value.
fn from_slice_seed<'de, S: DeserializeSeed<'de>>(
    bytes: &'de [u8],
    seed: S,
) -> Result<S::Value, String> {
    let reader = Exact {
        rest: bytes,
        depth_left: MAX_DEPTH,
    };
    let mut de = cbor4ii::serde::Deserializer::new(reader);
    let value = seed.deserialize(&mut de).map_err(|e| e.to_string())?;
    let rest = de.into_inner().rest.len();
    if rest != 0 {
        return Err(format!("{rest} unexpected bytes after the value"));
    }
    Ok(value)
}
