//! Collecting note contents that no event references.
//!
//! A write puts its content to R2 (`blobs/<user>/<hash>`, [`crate::archive::blob_key`]) before
//! the event that names it is appended, so a crash or a refused append between the two leaves
//! a content nothing names. The Durable Object records every put before it starts (hash and
//! time) and marks the record confirmed once an event names the content. A record still
//! unconfirmed after the grace period (the retention policy's, 48 hours by default) is a
//! candidate; [`plan`] decides, for a pass over the candidates, which the log names after all
//! (confirm them), which may be deleted, and when the next pass is due.
//!
//! Why this is safe:
//! - Contents are per user, so "no event of this user names it" is the whole question; no
//!   other user's log can need `blobs/<user>/<hash>`.
//! - History keeps every version, so a content an event once named stays named: only contents
//!   no event ever named are deleted.
//! - A write in progress refreshes its record's time before its put, and the object holds a
//!   content it is deleting as busy, so a write of the same bytes waits for the delete and
//!   then puts them again ([`plan`] never picks a busy content, and the adapter checks the
//!   record again just before each delete).
//! - Contents under the legacy shared key ([`crate::archive::legacy_blob_key`]) are never
//!   deleted: another user may name them.

use std::collections::BTreeSet;

use engine::Hash;

/// The grace period when the retention policy does not set one: 48 hours.
pub const DEFAULT_GRACE_MS: u64 = crate::retention::RetentionPolicy::DEFAULT_GRACE_MS;

/// How many contents one pass deletes at most; more wait for the next pass, due at once.
pub const MAX_DELETES_PER_PASS: usize = 100;

/// A put the object recorded and no event is known to name yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unconfirmed {
    /// The content's hash.
    pub hash: Hash,
    /// When its latest put started (unix milliseconds).
    pub put_ms: u64,
}

/// What one pass does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Contents the log names: their records become confirmed, nothing is deleted.
    pub confirm: Vec<Hash>,
    /// Contents past the grace period that nothing names: delete the object, then the record.
    pub delete: Vec<Hash>,
    /// When the next pass is due (unix milliseconds): the first unconfirmed put that comes of
    /// age, or `now` when this pass left deletions for the next; `None` when nothing waits.
    pub next_due_ms: Option<u64>,
}

/// Plans a pass over `unconfirmed` at `now_ms`. `named` is what the log names among those
/// hashes (the engine's [`engine::history::History::referenced`]); `busy` are contents a
/// request is writing or deleting right now.
pub fn plan(
    unconfirmed: &[Unconfirmed],
    named: &BTreeSet<Hash>,
    busy: &BTreeSet<Hash>,
    now_ms: u64,
    grace_ms: u64,
) -> Pass {
    let mut pass = Pass::default();
    let mut due = |at: u64| {
        pass.next_due_ms = Some(pass.next_due_ms.map_or(at, |d: u64| d.min(at)));
    };
    let mut delete = Vec::new();
    for record in unconfirmed {
        if named.contains(&record.hash) {
            pass.confirm.push(record.hash);
            continue;
        }
        let of_age = record.put_ms.saturating_add(grace_ms);
        if busy.contains(&record.hash) {
            // Its write (or delete) is still running; look again once the grace has passed
            // since now, the latest its put can have started.
            due(now_ms.saturating_add(grace_ms));
        } else if now_ms > of_age {
            if delete.len() < MAX_DELETES_PER_PASS {
                delete.push(record.hash);
            } else {
                due(now_ms);
            }
        } else {
            due(of_age.saturating_add(1));
        }
    }
    pass.delete = delete;
    pass
}

/// When the first of `unconfirmed` comes of age, for the alarm (`None` when none waits).
pub fn next_due(unconfirmed: impl IntoIterator<Item = u64>, grace_ms: u64) -> Option<u64> {
    unconfirmed
        .into_iter()
        .map(|put_ms| put_ms.saturating_add(grace_ms).saturating_add(1))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GRACE: u64 = 1_000;

    fn hash(n: u8) -> Hash {
        Hash::of(&[n])
    }

    fn record(n: u8, put_ms: u64) -> Unconfirmed {
        Unconfirmed {
            hash: hash(n),
            put_ms,
        }
    }

    #[test]
    fn named_contents_are_confirmed_at_any_age_and_never_deleted() {
        let named = [hash(1), hash(2)].into_iter().collect();
        let pass = plan(
            &[record(1, 0), record(2, 9_999)],
            &named,
            &BTreeSet::new(),
            10_000,
            GRACE,
        );
        assert_eq!(pass.confirm, vec![hash(1), hash(2)]);
        assert!(pass.delete.is_empty());
        assert_eq!(pass.next_due_ms, None);
    }

    #[test]
    fn unnamed_contents_are_deleted_only_after_the_grace_period() {
        let none = BTreeSet::new();
        let records = [record(1, 1_000), record(2, 1_500)];
        // At exactly the grace, nothing yet; the alarm comes back just after.
        let pass = plan(&records, &none, &none, 2_000, GRACE);
        assert!(pass.delete.is_empty() && pass.confirm.is_empty());
        assert_eq!(pass.next_due_ms, Some(2_001));
        let pass = plan(&records, &none, &none, 2_001, GRACE);
        assert_eq!(pass.delete, vec![hash(1)]);
        assert_eq!(pass.next_due_ms, Some(2_501));
        assert_eq!(next_due([1_500, 1_000], GRACE), Some(2_001));
        assert_eq!(next_due([], GRACE), None);
    }

    #[test]
    fn busy_contents_wait_and_large_passes_continue_at_once() {
        let none = BTreeSet::new();
        let busy = [hash(1)].into_iter().collect();
        let pass = plan(&[record(1, 0)], &none, &busy, 5_000, GRACE);
        assert!(pass.delete.is_empty());
        assert_eq!(pass.next_due_ms, Some(6_000));

        let many: Vec<Unconfirmed> = (0..=u8::try_from(MAX_DELETES_PER_PASS).unwrap())
            .map(|n| record(n, 0))
            .collect();
        let pass = plan(&many, &none, &none, 5_000, GRACE);
        assert_eq!(pass.delete.len(), MAX_DELETES_PER_PASS);
        assert_eq!(pass.next_due_ms, Some(5_000));
    }

    proptest! {
        /// Whatever the records, names and busy set: a named or busy content is never
        /// deleted, nothing younger than the grace is deleted, and every record is either
        /// confirmed, deleted or covered by the next due time.
        #[test]
        fn never_deletes_what_is_named_busy_or_young(
            records in proptest::collection::vec((0u8..40, 0u64..5_000), 0..60),
            named in proptest::collection::btree_set(0u8..40, 0..20),
            busy in proptest::collection::btree_set(0u8..40, 0..5),
            now in 0u64..6_000,
        ) {
            // One record per content, as the object keeps them.
            let records: Vec<Unconfirmed> = records
                .into_iter()
                .collect::<std::collections::BTreeMap<u8, u64>>()
                .into_iter()
                .map(|(n, at)| record(n, at))
                .collect();
            let named: BTreeSet<Hash> = named.into_iter().map(hash).collect();
            let busy: BTreeSet<Hash> = busy.into_iter().map(hash).collect();
            let pass = plan(&records, &named, &busy, now, GRACE);
            for deleted in &pass.delete {
                prop_assert!(!named.contains(deleted) && !busy.contains(deleted));
                let record = records.iter().find(|r| r.hash == *deleted).unwrap();
                prop_assert!(now > record.put_ms + GRACE);
            }
            for record in &records {
                let handled = pass.confirm.contains(&record.hash)
                    || pass.delete.contains(&record.hash);
                prop_assert!(handled || pass.next_due_ms.is_some());
            }
        }
    }
}
