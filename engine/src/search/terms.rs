//! The term dictionary: interns term text as compact [`TermId`]s, and the hasher its maps use.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A term's index in [`TermTable`]; also the index of its postings list.
pub(crate) type TermId = u32;

/// A hash map with [`WordHasher`]: deterministic (no random seed, which the engine may not draw)
/// and fast on short keys.
pub(crate) type WordMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// A small multiplicative hasher (the shape of rustc's `FxHasher`) for short string and integer
/// keys. It makes no attempt to resist collision attacks: the only keys are one user's own words,
/// paths and ids, in that user's own index.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WordHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Term text <-> [`TermId`].
///
/// Invariants: `ids[texts[id]] == id` for every id not in `free`; a freed id has empty text and
/// is reused by the next new term.
#[derive(Debug, Clone, Default)]
pub(crate) struct TermTable {
    ids: WordMap<Box<str>, TermId>,
    texts: Vec<Box<str>>,
    free: Vec<TermId>,
}

impl TermTable {
    /// The id of `text`, if it is interned.
    #[inline]
    pub(crate) fn get(&self, text: &str) -> Option<TermId> {
        self.ids.get(text).copied()
    }

    /// The id of `text`, interning it if new. `None` only once `u32::MAX` terms are live.
    pub(crate) fn intern(&mut self, text: &str) -> Option<TermId> {
        if let Some(&id) = self.ids.get(text) {
            return Some(id);
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id = TermId::try_from(self.texts.len()).ok()?;
                self.texts.push(Box::default());
                id
            }
        };
        let text: Box<str> = text.into();
        if let Some(slot) = self.texts.get_mut(id as usize) {
            slot.clone_from(&text);
        }
        self.ids.insert(text, id);
        Some(id)
    }

    /// Forgets `id` (its last posting is gone) so its slot can be reused.
    pub(crate) fn release(&mut self, id: TermId) {
        if let Some(text) = self.texts.get_mut(id as usize)
            && !text.is_empty()
        {
            self.ids.remove(&**text);
            *text = Box::default();
            self.free.push(id);
        }
    }

    /// The text of `id` (empty for a freed or unknown id).
    pub(crate) fn text(&self, id: TermId) -> &str {
        self.texts.get(id as usize).map_or("", |t| t)
    }

    /// Every live term and its id, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, TermId)> + '_ {
        self.ids.iter().map(|(text, &id)| (&**text, id))
    }

    /// Number of live terms.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Rebuilds a table from the texts of ids `0..texts.len()`, all live. The caller has checked
    /// that they are distinct and non-empty.
    pub(crate) fn from_texts(texts: Vec<Box<str>>) -> Self {
        let mut ids = WordMap::default();
        ids.reserve(texts.len());
        for (id, text) in texts.iter().enumerate() {
            // `texts.len()` fits in u32: the caller decoded it from u32 ids.
            ids.insert(text.clone(), id as TermId);
        }
        Self {
            ids,
            texts,
            free: Vec::new(),
        }
    }

    /// Approximate heap bytes: the map's table, both copies of every text and the slot vectors.
    pub(crate) fn heap_bytes(&self) -> usize {
        let text_bytes: usize = self.texts.iter().map(|t| t.len()).sum();
        let map_entry = size_of::<Box<str>>() + size_of::<TermId>() + 1;
        self.ids.capacity() * map_entry
            + 2 * text_bytes
            + self.texts.capacity() * size_of::<Box<str>>()
            + self.free.capacity() * size_of::<TermId>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn hasher_is_deterministic_and_spreads_short_keys() {
        let build = BuildHasherDefault::<WordHasher>::default();
        assert_eq!(build.hash_one("rust"), build.hash_one("rust"));
        let mut seen = std::collections::BTreeSet::new();
        for key in [
            "a",
            "b",
            "ab",
            "ba",
            "abcdefgh",
            "abcdefghi",
            "",
            "rust",
            "rusty",
        ] {
            assert!(seen.insert(build.hash_one(key)), "{key}");
        }
    }

    #[test]
    fn intern_release_reuses_slots() {
        let mut table = TermTable::default();
        let a = table.intern("alpha").unwrap();
        let b = table.intern("beta").unwrap();
        assert_eq!(table.intern("alpha"), Some(a));
        assert_ne!(a, b);
        assert_eq!(table.text(b), "beta");
        table.release(a);
        table.release(a); // twice is harmless
        assert_eq!(table.get("alpha"), None);
        assert_eq!(table.len(), 1);
        let c = table.intern("gamma").unwrap();
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(table.text(c), "gamma");
        assert_eq!(table.texts.len(), 2);
        assert_eq!(table.text(99), "");
    }
}
