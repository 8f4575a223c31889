//! The idempotency window: which event ids were appended recently, and what each produced.
//!
//! An event id seen in the window is answered with its first receipt instead of appending
//! again. The window holds the ids of the last `capacity` events and lives in snapshots, and
//! replay rebuilds it, so it survives restarts.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::ids::EventId;
use crate::path::NotePath;

/// What an appended event produced: enough to answer a retry with the first result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The event's seq.
    pub seq: u64,
    /// The note it changed, if any (for a move, the destination).
    pub path: Option<NotePath>,
    /// The version it made there, if any.
    pub version: Option<u64>,
}

/// The last `capacity` event ids and their receipts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipts {
    order: VecDeque<EventId>,
    by_id: HashMap<EventId, Receipt, BuildHasherDefault<IdHasher>>,
    capacity: usize,
}

impl Receipts {
    /// An empty window of `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Receipts {
        Receipts {
            capacity: capacity.max(1),
            ..Receipts::default()
        }
    }

    /// The receipt of `id`, if it is in the window.
    pub fn get(&self, id: &EventId) -> Option<&Receipt> {
        self.by_id.get(id)
    }

    /// How many ids the window holds.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Records `id`, forgetting the oldest id when full. An id already present keeps its first
    /// receipt.
    pub(crate) fn record(&mut self, id: EventId, receipt: Receipt) {
        if self.by_id.contains_key(&id) {
            return;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.by_id.remove(&old);
        }
        self.order.push_back(id);
        self.by_id.insert(id, receipt);
    }

    /// The window in append order, for snapshots.
    pub(crate) fn entries(&self) -> Vec<(EventId, Receipt)> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id).map(|r| (*id, r.clone())))
            .collect()
    }

    /// A window holding `entries` (oldest first), trimmed to `capacity`.
    pub(crate) fn from_entries(capacity: usize, entries: Vec<(EventId, Receipt)>) -> Receipts {
        let mut window = Receipts::new(capacity);
        for (id, receipt) in entries {
            window.record(id, receipt);
        }
        window
    }
}

/// Event ids are blake3 output (or random): their first eight bytes are already a good hash.
/// Deterministic, unlike std's seeded default, and cheaper.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `EventId` hashes as its 16 bytes (plus, for arrays, nothing else); fold them in.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(seq: u64) -> Receipt {
        Receipt {
            seq,
            path: None,
            version: None,
        }
    }

    #[test]
    fn keeps_the_first_receipt_and_forgets_the_oldest() {
        let mut w = Receipts::new(2);
        let (a, b, c) = (EventId([1; 16]), EventId([2; 16]), EventId([3; 16]));
        w.record(a, receipt(1));
        w.record(a, receipt(9));
        assert_eq!(w.get(&a), Some(&receipt(1)));
        w.record(b, receipt(2));
        w.record(c, receipt(3));
        assert_eq!((w.get(&a), w.len()), (None, 2));
        let again = Receipts::from_entries(2, w.entries());
        assert_eq!(again, w);
    }
}
