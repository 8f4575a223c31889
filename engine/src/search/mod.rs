//! Placeholder until the BM25 index lands (same API).
#![allow(missing_docs)]
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchIndex {
    docs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub path: String,
    pub score: f32,
    pub matched_terms: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchCursor(usize);

#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next: Option<SearchCursor>,
}

impl SearchIndex {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn upsert(&mut self, path: &str, text: &str) {
        self.docs.insert(path.into(), text.to_lowercase());
    }
    pub fn remove(&mut self, path: &str) {
        self.docs.remove(path);
    }
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(t) = self.docs.remove(from) {
            self.docs.insert(to.into(), t);
        }
    }
    pub fn contains(&self, path: &str) -> bool {
        self.docs.contains_key(path)
    }
    pub fn len(&self) -> usize {
        self.docs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
    pub fn search(&self, query: &str, limit: usize, _after: Option<&SearchCursor>) -> SearchPage {
        let q = query.to_lowercase();
        let hits = self
            .docs
            .iter()
            .filter(|(_, t)| t.contains(&q))
            .take(limit)
            .map(|(p, _)| SearchHit {
                path: p.clone(),
                score: 1.0,
                matched_terms: 1,
            })
            .collect();
        SearchPage { hits, next: None }
    }
    pub fn heap_bytes(&self) -> usize {
        0
    }
}
