//! The search index as a snapshot hands it over: its bytes, decoded on first need.
//!
//! Decoding the index is most of the cost of opening a snapshot, and most opens answer a
//! request that never searches. So a decoded snapshot keeps the index's bytes (the snapshot's
//! digest vouches for them) and records the changes made since as [`PendingOp`]s, oldest
//! first; the first search (or snapshot, or an explicit load) decodes the bytes and applies
//! them in order. Invariant: the logical index is always `decode(bytes)` followed by `pending`.

use std::fmt;

use super::SearchIndex;

/// Pending changes may hold this many bytes of paths and text before the owner should decode
/// (see [`LazyIndex::pending_bytes`]), so a long tail of writes cannot grow memory unbounded.
pub(crate) const MAX_PENDING_BYTES: usize = 4 << 20;

/// A change recorded while the index is still bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PendingOp {
    /// [`SearchIndex::upsert`].
    Upsert { path: Box<str>, text: Box<str> },
    /// [`SearchIndex::remove`].
    Remove(Box<str>),
    /// [`SearchIndex::rename`].
    Rename { from: Box<str>, to: Box<str> },
}

impl PendingOp {
    fn apply(&self, index: &mut SearchIndex) {
        match self {
            PendingOp::Upsert { path, text } => index.upsert(path, text),
            PendingOp::Remove(path) => index.remove(path),
            PendingOp::Rename { from, to } => index.rename(from, to),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            PendingOp::Upsert { path, text } => path.len() + text.len(),
            PendingOp::Remove(path) => path.len(),
            PendingOp::Rename { from, to } => from.len() + to.len(),
        }
    }
}

/// A search index that is either decoded or still the bytes a snapshot stored.
#[derive(Clone)]
pub(crate) enum LazyIndex {
    /// The serialized index and the changes since, oldest first.
    Encoded {
        bytes: Vec<u8>,
        pending: Vec<PendingOp>,
        /// Sum of the pending ops' path and text bytes.
        pending_bytes: usize,
    },
    /// The decoded index.
    Ready(SearchIndex),
}

/// What [`LazyIndex::build`] made of the bytes.
pub(crate) struct Built {
    /// The index with every pending op applied.
    pub(crate) index: SearchIndex,
    /// The bytes did not decode (a format this build does not read): `index` started empty.
    pub(crate) fell_back: bool,
}

impl Default for LazyIndex {
    fn default() -> Self {
        LazyIndex::Ready(SearchIndex::new())
    }
}

impl LazyIndex {
    /// The index stored as `bytes`, not decoded yet.
    pub(crate) fn encoded(bytes: Vec<u8>) -> Self {
        LazyIndex::Encoded {
            bytes,
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// The decoded index, if it is.
    pub(crate) fn ready(&self) -> Option<&SearchIndex> {
        match self {
            LazyIndex::Ready(index) => Some(index),
            LazyIndex::Encoded { .. } => None,
        }
    }

    /// The stored bytes when nothing changed since they were read: they still serialize the
    /// index exactly (the serialized form is canonical).
    pub(crate) fn untouched_bytes(&self) -> Option<&[u8]> {
        match self {
            LazyIndex::Encoded { bytes, pending, .. } if pending.is_empty() => Some(bytes),
            _ => None,
        }
    }

    /// Bytes of paths and text held by pending ops (0 when decoded).
    pub(crate) fn pending_bytes(&self) -> usize {
        match self {
            LazyIndex::Encoded { pending_bytes, .. } => *pending_bytes,
            LazyIndex::Ready(_) => 0,
        }
    }

    /// See [`SearchIndex::upsert`].
    pub(crate) fn upsert(&mut self, path: &str, text: &str) {
        self.change(
            |index| index.upsert(path, text),
            || PendingOp::Upsert {
                path: path.into(),
                text: text.into(),
            },
        );
    }

    /// See [`SearchIndex::remove`].
    pub(crate) fn remove(&mut self, path: &str) {
        self.change(
            |index| index.remove(path),
            || PendingOp::Remove(path.into()),
        );
    }

    /// See [`SearchIndex::rename`].
    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        self.change(
            |index| index.rename(from, to),
            || PendingOp::Rename {
                from: from.into(),
                to: to.into(),
            },
        );
    }

    fn change(&mut self, now: impl FnOnce(&mut SearchIndex), later: impl FnOnce() -> PendingOp) {
        match self {
            LazyIndex::Ready(index) => now(index),
            LazyIndex::Encoded {
                pending,
                pending_bytes,
                ..
            } => {
                let op = later();
                *pending_bytes += op.bytes();
                pending.push(op);
            }
        }
    }

    /// Decodes `bytes` (or starts empty when they do not decode) and applies `pending` in order.
    pub(crate) fn build(bytes: &[u8], pending: &[PendingOp]) -> Built {
        let (mut index, fell_back) = match crate::cbor::from_slice::<SearchIndex>(bytes) {
            Ok(index) => (index, false),
            Err(_) => (SearchIndex::new(), true),
        };
        for op in pending {
            op.apply(&mut index);
        }
        Built { index, fell_back }
    }

    /// Decodes in place. `None` when already decoded; else what [`LazyIndex::build`] reported
    /// (the index is then ready).
    pub(crate) fn load(&mut self) -> Option<bool> {
        let LazyIndex::Encoded { bytes, pending, .. } = self else {
            return None;
        };
        let Built { index, fell_back } = LazyIndex::build(bytes, pending);
        *self = LazyIndex::Ready(index);
        Some(fell_back)
    }
}

impl fmt::Debug for LazyIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LazyIndex::Ready(index) => index.fmt(f),
            LazyIndex::Encoded {
                bytes,
                pending,
                pending_bytes,
            } => f
                .debug_struct("Encoded")
                .field("bytes", &bytes.len())
                .field("pending", &pending.len())
                .field("pending_bytes", pending_bytes)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(index: &SearchIndex) -> Vec<u8> {
        let mut bytes = Vec::new();
        ciborium::into_writer(index, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn pending_ops_apply_in_order() {
        let mut base = SearchIndex::new();
        base.upsert("a.md", "apples and pears");
        base.upsert("b.md", "basil");
        let mut lazy = LazyIndex::encoded(bytes_of(&base));
        let mut eager = LazyIndex::Ready(base);
        for target in [&mut lazy, &mut eager] {
            target.upsert("c.md", "cherries");
            target.rename("a.md", "d.md");
            target.upsert("d.md", "dates, not apples");
            target.remove("b.md");
            target.rename("c.md", "b.md");
            target.upsert("e.md", "elderberries");
            target.remove("e.md");
        }
        assert!(lazy.ready().is_none());
        assert_eq!(lazy.untouched_bytes(), None);
        assert!(lazy.pending_bytes() > 0);
        assert_eq!(lazy.load(), Some(false));
        assert_eq!(lazy.load(), None);
        let (lazy, eager) = (lazy.ready().unwrap(), eager.ready().unwrap());
        assert_eq!(lazy, eager);
        lazy.check_invariants();
        let paths: Vec<_> = ["a.md", "b.md", "c.md", "d.md", "e.md"]
            .into_iter()
            .filter(|p| lazy.contains(p))
            .collect();
        assert_eq!(paths, ["b.md", "d.md"]);
        assert_eq!(lazy.search("apples", 10, None).hits[0].path, "d.md");
    }

    #[test]
    fn bytes_that_do_not_decode_start_empty_then_apply_the_ops() {
        let mut lazy = LazyIndex::encoded(vec![0xa1, 0x61, b'v', 0x18, 99]);
        lazy.upsert("a.md", "apples");
        lazy.upsert("b.md", "basil");
        lazy.remove("b.md");
        let Built { index, fell_back } = LazyIndex::build(&[0xff], &[]);
        assert!(fell_back && index.is_empty());
        assert_eq!(lazy.load(), Some(true));
        let index = lazy.ready().unwrap();
        assert_eq!(index.len(), 1);
        assert!(index.contains("a.md"));
    }
}
