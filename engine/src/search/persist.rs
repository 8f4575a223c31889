//! The serialized form of [`SearchIndex`] (described at [`FORMAT_VERSION`]) and its validation.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::index::{Doc, DocTerm, SearchIndex};
use super::postings::{DocId, MAX_DOCS, Postings};
use super::terms::{TermId, TermTable, WordMap};

/// Version of [`SearchIndex`]'s serialized form and of the tokenizer rules it was built with.
/// Bump it when either changes: an index built by other rules would not match today's query
/// terms. A snapshot written under another version fails to load (a serde error naming the
/// version); the caller then rebuilds the index from the notes.
///
/// The serialized form (version 1) is a map:
///
/// ```text
/// v:        u32       FORMAT_VERSION
/// paths:    [text]    every document's path, strictly ascending: document n is paths[n]
/// terms:    [text]    every term some document has, non-empty, strictly ascending
/// postings: bytes     for each term, in the order of `terms`:
///                       varint(df - 1), then df times: varint(doc gap), varint(tf - 1)
/// ```
///
/// Varints are unsigned LEB128 holding a `u32`. Within a term documents ascend; the first gap
/// is the document number itself and each later one is `doc - previous - 1`, so every decoded
/// list is strictly ascending by construction. Document lengths, the path and term maps and
/// the per-document back-references are derived data, rebuilt on load in one pass over the
/// postings. In CBOR a posting takes about two bytes.
///
/// The form is canonical: two indexes holding the same documents serialize to the same bytes,
/// whatever sequence of operations built them. Loading checks every invariant the index relies
/// on (sorted distinct paths and terms, non-empty terms, document numbers in range, well-formed
/// varints, no trailing bytes) and fails with a serde error rather than build an index that
/// could misbehave later.
pub const FORMAT_VERSION: u32 = 1;

/// Why a serialized index was refused.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("search index format version {0} is not {FORMAT_VERSION}; rebuild the index")]
    Version(u32),
    #[error("search index paths are not strictly ascending at {0}")]
    PathOrder(usize),
    #[error("search index terms are not non-empty and strictly ascending at {0}")]
    TermOrder(usize),
    #[error("search index has too many documents or terms")]
    TooMany,
    #[error("search index postings are truncated or malformed")]
    Postings,
    #[error("search index term {term} claims {df} documents of {docs}")]
    DocFrequency { term: usize, df: u64, docs: usize },
    #[error("search index postings name document {doc} of {docs}")]
    DocOutOfRange { doc: u64, docs: usize },
    #[error("search index postings have {0} trailing bytes")]
    Trailing(usize),
}

#[derive(Serialize)]
struct PersistedRef<'a> {
    v: u32,
    paths: Vec<&'a str>,
    terms: Vec<&'a str>,
    postings: Blob,
}

#[derive(Deserialize)]
struct Persisted {
    v: u32,
    paths: Vec<String>,
    terms: Vec<String>,
    postings: Blob,
}

/// A byte string: CBOR's major type 2 rather than an array of integers.
struct Blob(Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BlobVisitor;
        impl<'de> Visitor<'de> for BlobVisitor {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
            // Formats without byte strings (JSON) write a sequence of numbers.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Ok(Blob(bytes))
            }
        }
        deserializer.deserialize_byte_buf(BlobVisitor)
    }
}

impl Serialize for SearchIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_persisted().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SearchIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let persisted = Persisted::deserialize(deserializer)?;
        Self::from_persisted(persisted).map_err(de::Error::custom)
    }
}

impl SearchIndex {
    fn to_persisted(&self) -> PersistedRef<'_> {
        // Canonical document numbers: by path.
        let mut docs: Vec<(&str, DocId)> = self.paths.iter().map(|(p, &d)| (&**p, d)).collect();
        docs.sort_unstable();
        let mut number = vec![u32::MAX; self.docs.len()];
        for (n, &(_, doc)) in docs.iter().enumerate() {
            if let Some(slot) = number.get_mut(doc as usize) {
                // Fewer than MAX_DOCS documents are live, so `n` fits.
                *slot = n as u32;
            }
        }
        // Canonical term numbers: by text.
        let mut terms: Vec<(&str, TermId)> = self
            .postings
            .live_terms()
            .map(|id| (self.terms.text(id), id))
            .collect();
        terms.sort_unstable();

        let mut bytes = Vec::new();
        let mut list: Vec<(u32, u32)> = Vec::new();
        for &(_, term) in &terms {
            list.clear();
            list.extend(self.postings.list(term).iter().map(|&p| {
                let doc = number.get(p.doc() as usize).copied().unwrap_or(u32::MAX);
                (doc, self.postings.tf(term, p))
            }));
            list.sort_unstable();
            write_varint(&mut bytes, list.len().saturating_sub(1) as u32);
            let mut next = 0u32;
            for &(doc, tf) in &list {
                write_varint(&mut bytes, doc.wrapping_sub(next));
                write_varint(&mut bytes, tf.saturating_sub(1));
                next = doc.wrapping_add(1);
            }
        }
        PersistedRef {
            v: FORMAT_VERSION,
            paths: docs.into_iter().map(|(p, _)| p).collect(),
            terms: terms.into_iter().map(|(t, _)| t).collect(),
            postings: Blob(bytes),
        }
    }

    fn from_persisted(p: Persisted) -> Result<Self, LoadError> {
        if p.v != FORMAT_VERSION {
            return Err(LoadError::Version(p.v));
        }
        if let Some(i) = p.paths.windows(2).position(|w| w[0] >= w[1]) {
            return Err(LoadError::PathOrder(i + 1));
        }
        if let Some(i) = p.terms.iter().position(String::is_empty) {
            return Err(LoadError::TermOrder(i));
        }
        if let Some(i) = p.terms.windows(2).position(|w| w[0] >= w[1]) {
            return Err(LoadError::TermOrder(i + 1));
        }
        if p.paths.len() > MAX_DOCS || u32::try_from(p.terms.len()).is_err() {
            return Err(LoadError::TooMany);
        }
        let doc_count = p.paths.len();
        let mut docs: Vec<Option<Doc>> = p
            .paths
            .into_iter()
            .map(|path| {
                Some(Doc {
                    path: path.into_boxed_str(),
                    terms: Vec::new(),
                })
            })
            .collect();
        let mut doc_lens = vec![0u32; doc_count];
        let mut lists: Vec<Vec<(DocId, u32)>> = Vec::with_capacity(p.terms.len());
        let mut reader = Reader {
            bytes: &p.postings.0,
            at: 0,
        };
        for term in 0..p.terms.len() {
            let df = u64::from(reader.varint()?) + 1;
            if df > doc_count as u64 {
                return Err(LoadError::DocFrequency {
                    term,
                    df,
                    docs: doc_count,
                });
            }
            let mut list = Vec::with_capacity(df as usize);
            let mut next = 0u64;
            for _ in 0..df {
                let doc = next + u64::from(reader.varint()?);
                let tf = reader.varint()?.checked_add(1).ok_or(LoadError::Postings)?;
                let (Some(Some(entry)), Some(len)) =
                    (docs.get_mut(doc as usize), doc_lens.get_mut(doc as usize))
                else {
                    return Err(LoadError::DocOutOfRange {
                        doc,
                        docs: doc_count,
                    });
                };
                // Both fit: `list.len() < df <= doc_count <= MAX_DOCS`, and `term` is below
                // `terms.len()`, checked against u32 above.
                entry.terms.push(DocTerm {
                    term: term as TermId,
                    pos: list.len() as u32,
                });
                *len = len.saturating_add(tf);
                list.push((doc as DocId, tf));
                next = doc + 1;
            }
            lists.push(list);
        }
        if reader.at != reader.bytes.len() {
            return Err(LoadError::Trailing(reader.bytes.len() - reader.at));
        }

        let mut paths = WordMap::default();
        paths.reserve(doc_count);
        for (doc, entry) in docs.iter_mut().enumerate() {
            if let Some(entry) = entry {
                entry.terms.shrink_to_fit();
                paths.insert(entry.path.clone(), doc as DocId);
            }
        }
        let terms =
            TermTable::from_texts(p.terms.into_iter().map(String::into_boxed_str).collect());
        let total_len = doc_lens.iter().map(|&len| u64::from(len)).sum();
        Ok(Self {
            terms,
            postings: Postings::from_lists(lists),
            docs,
            doc_lens,
            free_docs: Vec::new(),
            paths,
            total_len,
        })
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// One LEB128 `u32`: at most 5 bytes, no bits beyond 32.
    fn varint(&mut self) -> Result<u32, LoadError> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let &byte = self.bytes.get(self.at).ok_or(LoadError::Postings)?;
            self.at += 1;
            let bits = u32::from(byte & 0x7f);
            if shift == 28 && bits > 0x0f {
                return Err(LoadError::Postings);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(LoadError::Postings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX - 1, u32::MAX] {
            let mut bytes = Vec::new();
            write_varint(&mut bytes, value);
            let mut reader = Reader {
                bytes: &bytes,
                at: 0,
            };
            assert_eq!(reader.varint().unwrap(), value);
            assert_eq!(reader.at, bytes.len());
        }
        for bad in [
            &[0x80][..],
            &[0xff, 0xff, 0xff, 0xff, 0x1f],
            &[0x80; 6],
            &[],
        ] {
            assert!(Reader { bytes: bad, at: 0 }.varint().is_err(), "{bad:?}");
        }
    }
}
