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
#[derive(Clone, Default)]
pub(crate) struct LazyIndex {
    /// The decoded index; empty (and unused) while `encoded` is set.
    index: SearchIndex,
    /// The index as stored, while it is not decoded.
    encoded: Option<Encoded>,
}

/// The serialized index and the changes since, oldest first.
#[derive(Clone)]
struct Encoded {
    bytes: Vec<u8>,
    pending: Vec<PendingOp>,
    /// Sum of the pending ops' path and text bytes.
    pending_bytes: usize,
}

/// What [`LazyIndex::build`] made of the bytes.
pub(crate) struct Built {
    /// The index with every pending op applied.
    pub(crate) index: SearchIndex,
    /// The bytes did not decode (a format this build does not read): `index` started empty.
    pub(crate) fell_back: bool,
}

impl LazyIndex {
    /// The index stored as `bytes`, not decoded yet.
    pub(crate) fn encoded(bytes: Vec<u8>) -> Self {
        LazyIndex {
            index: SearchIndex::new(),
            encoded: Some(Encoded {
                bytes,
                pending: Vec::new(),
                pending_bytes: 0,
            }),
        }
    }

    /// The decoded index, if it is.
    pub(crate) fn ready(&self) -> Option<&SearchIndex> {
        match self.encoded {
            None => Some(&self.index),
            Some(_) => None,
        }
    }

    /// The decoded index if it is, else what loading would make (leaving `self` as it is).
    pub(crate) fn ready_or_build(&self) -> Result<&SearchIndex, Box<Built>> {
        match &self.encoded {
            None => Ok(&self.index),
            Some(e) => Err(Box::new(LazyIndex::build(&e.bytes, &e.pending))),
        }
    }

    /// The stored bytes when nothing changed since they were read: they still serialize the
    /// index exactly (the serialized form is canonical).
    pub(crate) fn untouched_bytes(&self) -> Option<&[u8]> {
        match &self.encoded {
            Some(e) if e.pending.is_empty() => Some(&e.bytes),
            _ => None,
        }
    }

    /// Bytes of paths and text held by pending ops (0 when decoded).
    pub(crate) fn pending_bytes(&self) -> usize {
        self.encoded.as_ref().map_or(0, |e| e.pending_bytes)
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
        match &mut self.encoded {
            None => now(&mut self.index),
            Some(e) => {
                let op = later();
                e.pending_bytes += op.bytes();
                e.pending.push(op);
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
        let e = self.encoded.take()?;
        let Built { index, fell_back } = LazyIndex::build(&e.bytes, &e.pending);
        self.index = index;
        Some(fell_back)
    }

    /// The index, decoded first if need be.
    pub(crate) fn loaded_mut(&mut self) -> &mut SearchIndex {
        self.load();
        &mut self.index
    }
}

impl fmt::Debug for LazyIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.encoded {
            None => self.index.fmt(f),
            Some(e) => f
                .debug_struct("Encoded")
                .field("bytes", &e.bytes.len())
                .field("pending", &e.pending.len())
                .field("pending_bytes", &e.pending_bytes)
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
        let mut eager = LazyIndex::default();
        *eager.loaded_mut() = base;
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
