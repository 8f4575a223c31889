//! An in-memory KV for tests: applies [`KvWrite`]s with their TTLs against a fake clock.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use super::storage::KvWrite;

/// Keys to (value, expiry in ms).
#[derive(Debug, Default)]
pub(crate) struct MemoryKv {
    entries: HashMap<String, (String, u64)>,
}

impl MemoryKv {
    /// Applies writes in order at `now_ms`.
    pub(crate) fn apply(&mut self, writes: &[KvWrite], now_ms: u64) {
        for write in writes {
            match write {
                KvWrite::Put {
                    key,
                    value,
                    ttl_secs,
                } => {
                    self.entries
                        .insert(key.clone(), (value.clone(), now_ms + ttl_secs * 1000));
                }
                KvWrite::Delete { key } => {
                    self.entries.remove(key);
                }
            }
        }
    }

    /// The raw value under `key`, unless expired.
    pub(crate) fn get(&self, key: &str, now_ms: u64) -> Option<&str> {
        self.entries
            .get(key)
            .filter(|(_, expires)| now_ms < *expires)
            .map(|(value, _)| value.as_str())
    }

    /// The JSON value under `key`, unless expired.
    pub(crate) fn get_json<T: DeserializeOwned>(&self, key: &str, now_ms: u64) -> Option<T> {
        self.get(key, now_ms)
            .map(|value| serde_json::from_str(value).expect("stored JSON reads back"))
    }

    /// How many live keys start with `prefix`.
    pub(crate) fn count(&self, prefix: &str, now_ms: u64) -> usize {
        self.entries
            .iter()
            .filter(|(key, (_, expires))| key.starts_with(prefix) && now_ms < *expires)
            .count()
    }
}
