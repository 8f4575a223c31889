//! The user's archive in R2 (binding `STORAGE`): what the keys of snapshots and segments are,
//! which archived objects a rebuild needs, and which segments continue the log. Pure: the
//! Durable Object performs the R2 calls that [`crate::snapshot_cycle`] (writes) and
//! [`crate::archive_restore`] (reads) ask for, and the export reads the same segments to copy
//! them into a backup.
//!
//! # Layout
//! - `snapshots/<user>/<seq>-<digest hex>.cbor`: a snapshot at `seq`; the digest is the
//!   snapshot's own (blake3 of its body).
//! - `segments/<user>/<first seq:020>-<last seq:020>-<digest hex>.cbor`: the events
//!   `first..=last` as an engine segment; the digest is blake3 of the segment's bytes.
//! - `blobs/<user>/<blake3 hex>`: a note content (its bytes as written).
//!   Contents written before per-user prefixes are under `blobs/<blake3 hex>`
//!   ([`legacy_blob_key`]).
//!
//! Every key names its content, so an object is written once and never overwritten: a put
//! whose key exists already is skipped. Seqs in segment keys are zero-padded so that keys
//! sort in log order; snapshot keys keep the unpadded form of the first release.

use engine::Hash;
use engine::envelope::ChainHead;
use engine::segment::{self, Segment, SegmentError};
use thiserror::Error;

/// The prefix of `user`'s snapshots.
pub fn snapshot_prefix(user: &str) -> String {
    format!("snapshots/{user}/")
}

/// The prefix of `user`'s note contents.
pub fn blob_prefix(user: &str) -> String {
    format!("blobs/{user}/")
}

/// The R2 key of `user`'s note content with this hash. Each user's contents live under their
/// own prefix, so that one user's contents can be listed, erased or collected alone (see
/// [`crate::blob_gc`]): a content no event of *this* user names is garbage, whatever other
/// users hold.
pub fn blob_key(user: &str, hash: &Hash) -> String {
    format!("{}{}", blob_prefix(user), hash.to_hex())
}

/// The key under which the first releases stored a content, shared by every user
/// (`blobs/<hash>`). Still read, never written and never deleted: another user may need it.
pub fn legacy_blob_key(hash: &Hash) -> String {
    format!("blobs/{}", hash.to_hex())
}

/// The prefix of `user`'s segments.
pub fn segment_prefix(user: &str) -> String {
    format!("segments/{user}/")
}

/// The R2 key of the snapshot at `seq` with `digest`.
pub fn snapshot_key(user: &str, seq: u64, digest: &Hash) -> String {
    format!("{}{seq}-{}.cbor", snapshot_prefix(user), digest.to_hex())
}

/// The R2 key of `segment`.
pub fn segment_key(user: &str, segment: &Segment) -> String {
    format!(
        "{}{:020}-{:020}-{}.cbor",
        segment_prefix(user),
        segment.first_seq,
        segment.last_seq,
        segment.digest.to_hex()
    )
}

/// A snapshot found in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedSnapshot {
    /// The seq it covers.
    pub seq: u64,
    /// Its R2 key.
    pub key: String,
}

/// A segment found in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedSegment {
    /// Its first seq.
    pub first: u64,
    /// Its last seq.
    pub last: u64,
    /// The blake3 of its bytes, as its key says.
    pub digest: Hash,
    /// Its R2 key.
    pub key: String,
}

/// Reads a snapshot key listed under `prefix`; `None` for anything else.
pub fn parse_snapshot_key(prefix: &str, key: &str) -> Option<ArchivedSnapshot> {
    let name = key.strip_prefix(prefix)?.strip_suffix(".cbor")?;
    let (seq, digest) = name.split_once('-')?;
    let seq = parse_seq(seq)?;
    is_digest(digest).then(|| ArchivedSnapshot {
        seq,
        key: key.to_owned(),
    })
}

/// Reads a segment key listed under `prefix`; `None` for anything else.
pub fn parse_segment_key(prefix: &str, key: &str) -> Option<ArchivedSegment> {
    let name = key.strip_prefix(prefix)?.strip_suffix(".cbor")?;
    let mut parts = name.split('-');
    let first = parse_seq(parts.next()?)?;
    let last = parse_seq(parts.next()?)?;
    let digest = parts.next()?;
    if parts.next().is_some() || !is_digest(digest) || first > last {
        return None;
    }
    Some(ArchivedSegment {
        first,
        last,
        digest: Hash::from_hex(digest).ok()?,
        key: key.to_owned(),
    })
}

fn parse_seq(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u64 = text.parse().ok()?;
    (seq > 0).then_some(seq)
}

fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What a rebuild reads from the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    /// The newest snapshot (none: the log is rebuilt from its first event).
    pub snapshot: Option<ArchivedSnapshot>,
    /// Every archived segment, in log order (a rebuild reads those past what the snapshot
    /// records as archived).
    pub segments: Vec<ArchivedSegment>,
    /// The archived segments cover every seq from 1 to this one without a gap.
    pub covered_through: u64,
}

/// Why the archive cannot be rebuilt from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestorePlanError {
    /// Segments are missing: no archived segment holds these seqs.
    #[error("the archive lacks the segment(s) holding seqs {from}..={to}")]
    MissingSegments {
        /// The first missing seq.
        from: u64,
        /// The last missing seq.
        to: u64,
    },
}

/// Chooses what to rebuild from: the newest snapshot and the segments.
/// The segments must cover the log from seq 1 without a gap (overlaps are fine: an interrupted
/// cycle may have left a segment that the next cycle archived again in a longer one), else the
/// archive is damaged and nothing is chosen. `None` when the archive holds nothing.
pub fn restore_plan(
    snapshots: &[ArchivedSnapshot],
    segments: &[ArchivedSegment],
) -> Result<Option<RestorePlan>, RestorePlanError> {
    let snapshot = snapshots.iter().max_by_key(|s| s.seq).cloned();
    if snapshot.is_none() && segments.is_empty() {
        return Ok(None);
    }
    let mut sorted: Vec<&ArchivedSegment> = segments.iter().collect();
    sorted.sort_by_key(|s| (s.first, s.last));
    let mut covered = 0u64;
    for segment in &sorted {
        if segment.first > covered.saturating_add(1) {
            return Err(RestorePlanError::MissingSegments {
                from: covered + 1,
                to: segment.first - 1,
            });
        }
        covered = covered.max(segment.last);
    }
    let segments = sorted.into_iter().cloned().collect();
    Ok(Some(RestorePlan {
        snapshot,
        segments,
        covered_through: covered,
    }))
}

/// Picks the archived segments that tile seqs `1..=through` (listing keys only): from seq 1,
/// at each step the longest segment that starts at the next seq and ends by `through`.
/// Segments past `through` (uploaded by a snapshot cycle that has not recorded them yet) and
/// shorter duplicates of a range are left out.
pub fn tiling(
    segments: &[ArchivedSegment],
    through: u64,
) -> Result<Vec<ArchivedSegment>, RestorePlanError> {
    let mut chosen = Vec::new();
    let mut covered = 0u64;
    while covered < through {
        let next = covered + 1;
        let Some(best) = segments
            .iter()
            .filter(|s| s.first == next && s.last <= through)
            .max_by_key(|s| s.last)
        else {
            let to = segments
                .iter()
                .filter(|s| s.first > next)
                .map(|s| s.first - 1)
                .min()
                .unwrap_or(through)
                .min(through);
            return Err(RestorePlanError::MissingSegments { from: next, to });
        };
        covered = best.last;
        chosen.push(best.clone());
    }
    Ok(chosen)
}

/// Why downloaded segments do not continue the archived log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChainError {
    /// No downloaded segment starts at this seq.
    #[error("the archive lacks the segment starting at seq {0}")]
    Missing(u64),
    /// A segment's bytes do not hash to the digest its key names.
    #[error("segment {key} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        /// The segment's key.
        key: String,
        /// What its bytes hash to.
        actual: Hash,
    },
    /// A segment's bytes are not a segment, or its events do not chain.
    #[error("segment {key} is unreadable: {source}")]
    Unreadable {
        /// The segment's key.
        key: String,
        /// Why.
        source: SegmentError,
    },
    /// A segment does not start where the log before it ends, or ends elsewhere than its key
    /// says.
    #[error("segment {key} does not continue the archived log at seq {at}")]
    Discontinuous {
        /// The segment's key.
        key: String,
        /// The seq it should follow.
        at: u64,
    },
    /// A segment passes the snapshot's seq with another hash there.
    #[error("segment {key} does not lead to the snapshot's chain head")]
    NotToSnapshot {
        /// The segment's key.
        key: String,
    },
}

/// Checks that the downloaded segments continue the archived log from `archived` up to
/// `covered_through` (every byte against its key's digest, every hash chain, the link at the
/// snapshot's head) and returns them in chain order.
pub fn verify_chain(
    segments: &[(ArchivedSegment, Vec<u8>)],
    archived: ChainHead,
    snapshot_head: ChainHead,
    covered_through: u64,
) -> Result<Vec<Segment>, ChainError> {
    let mut chain = Vec::new();
    let mut head = archived;
    while head.seq < covered_through {
        let next = head.seq + 1;
        // Overlapping segments may start at the same seq: take the longest.
        let Some((listed, bytes)) = segments
            .iter()
            .filter(|(s, _)| s.first == next)
            .max_by_key(|(s, _)| s.last)
        else {
            return Err(ChainError::Missing(next));
        };
        let digest = Hash::of(bytes);
        if listed.digest != digest {
            return Err(ChainError::Corrupt {
                key: listed.key.clone(),
                actual: digest,
            });
        }
        let decoded = segment::decode(bytes).map_err(|source| ChainError::Unreadable {
            key: listed.key.clone(),
            source,
        })?;
        let discontinuous = || ChainError::Discontinuous {
            key: listed.key.clone(),
            at: head.seq,
        };
        let last = decoded.events.last().ok_or_else(discontinuous)?;
        if decoded.prev != head || last.seq != listed.last {
            return Err(discontinuous());
        }
        if let Some(at_snapshot) = decoded.events.iter().find(|e| e.seq == snapshot_head.seq)
            && at_snapshot.hash != snapshot_head.hash
        {
            return Err(ChainError::NotToSnapshot {
                key: listed.key.clone(),
            });
        }
        chain.push(Segment {
            first_seq: next,
            last_seq: last.seq,
            last_hash: last.hash,
            digest,
            bytes: Vec::new(),
        });
        head = ChainHead {
            seq: last.seq,
            hash: last.hash,
        };
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_per_user_and_never_meet_the_legacy_shared_keys() {
        let hash = Hash::of(b"hello");
        let hex = hash.to_hex();
        assert_eq!(blob_key("u1", &hash), format!("blobs/u1/{hex}"));
        assert!(blob_key("u1", &hash).starts_with(&blob_prefix("u1")));
        assert_ne!(blob_key("u1", &hash), blob_key("u2", &hash));
        assert_ne!(blob_key("u1", &hash), blob_key("u1", &Hash::of(b"hello!")));
        assert_eq!(legacy_blob_key(&hash), format!("blobs/{hex}"));
        // A legacy key has no second slash, so no user's prefix can hold it.
        assert_eq!(legacy_blob_key(&hash).matches('/').count(), 1);
    }

    fn digest() -> Hash {
        Hash::of(b"x")
    }

    fn snap(seq: u64) -> ArchivedSnapshot {
        ArchivedSnapshot {
            seq,
            key: snapshot_key("u", seq, &digest()),
        }
    }

    fn seg(first: u64, last: u64) -> ArchivedSegment {
        ArchivedSegment {
            first,
            last,
            digest: digest(),
            key: format!(
                "segments/u/{first:020}-{last:020}-{}.cbor",
                digest().to_hex()
            ),
        }
    }

    #[test]
    fn keys_round_trip_and_name_the_user_the_range_and_the_content() {
        let segment = Segment {
            first_seq: 3,
            last_seq: 17,
            last_hash: Hash::ZERO,
            digest: digest(),
            bytes: Vec::new(),
        };
        let key = segment_key("u-1", &segment);
        assert_eq!(
            key,
            format!(
                "segments/u-1/00000000000000000003-00000000000000000017-{}.cbor",
                digest().to_hex()
            )
        );
        let parsed = parse_segment_key(&segment_prefix("u-1"), &key).unwrap();
        assert_eq!((parsed.first, parsed.last), (3, 17));
        let key = snapshot_key("u-1", 42, &digest());
        assert_eq!(key, format!("snapshots/u-1/42-{}.cbor", digest().to_hex()));
        assert_eq!(
            parse_snapshot_key(&snapshot_prefix("u-1"), &key)
                .unwrap()
                .seq,
            42
        );
    }

    #[test]
    fn stray_keys_are_not_read_as_archive_objects() {
        let prefix = segment_prefix("u");
        let hex = digest().to_hex();
        for key in [
            format!("segments/u/1-2-{hex}.txt"),
            format!("segments/u/2-1-{hex}.cbor"),
            format!("segments/u/0-1-{hex}.cbor"),
            format!("segments/u/1-2-{hex}-3.cbor"),
            format!("segments/u/x/1-2-{hex}.cbor"),
            "segments/u/1-2-abc.cbor".to_owned(),
            format!("segments/v/1-2-{hex}.cbor"),
        ] {
            assert_eq!(parse_segment_key(&prefix, &key), None, "{key}");
        }
        let prefix = snapshot_prefix("u");
        assert_eq!(parse_snapshot_key(&prefix, "snapshots/u/+5-aa.cbor"), None);
        assert_eq!(
            parse_snapshot_key(&prefix, &format!("snapshots/u/b/5-{hex}.cbor")),
            None
        );
    }

    #[test]
    fn an_empty_archive_plans_nothing() {
        assert_eq!(restore_plan(&[], &[]), Ok(None));
    }

    #[test]
    fn the_newest_snapshot_is_chosen_and_segments_come_in_log_order() {
        let plan = restore_plan(
            &[snap(5), snap(12), snap(9)],
            &[seg(6, 12), seg(1, 5), seg(13, 20)],
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.snapshot, Some(snap(12)));
        assert_eq!(plan.segments, vec![seg(1, 5), seg(6, 12), seg(13, 20)]);
        assert_eq!(plan.covered_through, 20);
    }

    #[test]
    fn without_a_snapshot_every_segment_is_read() {
        let plan = restore_plan(&[], &[seg(4, 9), seg(1, 3)]).unwrap().unwrap();
        assert_eq!(plan.snapshot, None);
        assert_eq!(plan.segments, vec![seg(1, 3), seg(4, 9)]);
    }

    #[test]
    fn overlapping_segments_are_fine_and_gaps_are_errors() {
        let plan = restore_plan(&[snap(9)], &[seg(1, 5), seg(1, 9)])
            .unwrap()
            .unwrap();
        assert_eq!(plan.covered_through, 9);
        assert_eq!(
            restore_plan(&[snap(20)], &[seg(1, 5), seg(13, 20)]),
            Err(RestorePlanError::MissingSegments { from: 6, to: 12 })
        );
        assert_eq!(
            restore_plan(&[snap(20)], &[seg(6, 12)]),
            Err(RestorePlanError::MissingSegments { from: 1, to: 5 })
        );
    }

    #[test]
    fn tiling_takes_the_longest_run_and_leaves_unrecorded_tails_out() {
        let all = [seg(1, 5), seg(6, 12), seg(6, 9), seg(13, 20), seg(21, 30)];
        let chosen = tiling(&all, 20).unwrap();
        assert_eq!(chosen, vec![seg(1, 5), seg(6, 12), seg(13, 20)]);
        assert_eq!(tiling(&all, 0).unwrap(), Vec::new());
        assert_eq!(
            tiling(&[seg(1, 5), seg(9, 12)], 12),
            Err(RestorePlanError::MissingSegments { from: 6, to: 8 })
        );
        // A chain that cannot end exactly at `through` is missing the rest.
        assert_eq!(
            tiling(&[seg(1, 5), seg(6, 12)], 9),
            Err(RestorePlanError::MissingSegments { from: 6, to: 9 })
        );
    }
}

#[cfg(test)]
mod chain_tests {
    use engine::store::OpenSession;
    use engine::{Config, EventId, MemoryStorage, SessionId, Store, Timestamp};

    use super::*;

    /// Segments 1..=3 and 4..=6 of a real log, as the archive would list them, and the chain
    /// head at seq 6.
    fn archive() -> (Vec<(ArchivedSegment, Vec<u8>)>, ChainHead) {
        let (mut store, _) = Store::open(MemoryStorage::default(), Config::default()).unwrap();
        for i in 0..6u8 {
            let open = OpenSession {
                session: SessionId::new(format!("{i:064x}")).unwrap(),
                user: "u".into(),
                protocol_version: "2025-11-25".into(),
                client_name: String::new(),
                client_version: String::new(),
            };
            store
                .open_session(EventId::derive(&[i]), open, Timestamp(1_000))
                .unwrap();
        }
        let head = store.head();
        let mut segments = Vec::new();
        for (first, last) in [(1, 3), (4, 6)] {
            let segment = store.encode_segment(first, last).unwrap();
            store.record_archived(&segment, Timestamp(2_000)).unwrap();
            let listed = ArchivedSegment {
                first,
                last,
                digest: segment.digest,
                key: segment_key("u", &segment),
            };
            segments.push((listed, segment.bytes));
        }
        (segments, head)
    }

    #[test]
    fn segments_that_continue_the_log_are_chained_in_order() {
        let (mut segments, head) = archive();
        segments.reverse();
        let chain = verify_chain(&segments, ChainHead::default(), head, 6).unwrap();
        let ranges: Vec<_> = chain.iter().map(|s| (s.first_seq, s.last_seq)).collect();
        assert_eq!(ranges, [(1, 3), (4, 6)]);
        assert_eq!(chain[1].last_hash, head.hash);
        // From a snapshot that had archived the first one, only the second is chained.
        let after_first = ChainHead {
            seq: 3,
            hash: chain[0].last_hash,
        };
        assert_eq!(chain_len(&segments, after_first, head), Ok(1));
    }

    fn chain_len(
        segments: &[(ArchivedSegment, Vec<u8>)],
        from: ChainHead,
        head: ChainHead,
    ) -> Result<usize, ChainError> {
        verify_chain(segments, from, head, 6).map(|c| c.len())
    }

    #[test]
    fn a_missing_segment_is_an_error() {
        let (segments, head) = archive();
        let error = chain_len(&segments[1..], ChainHead::default(), head).unwrap_err();
        assert_eq!(error, ChainError::Missing(1));
    }

    #[test]
    fn bytes_that_do_not_match_their_key_are_corrupt() {
        let (mut segments, head) = archive();
        let last = segments[1].1.len() - 1;
        segments[1].1[last] ^= 1;
        let error = chain_len(&segments, ChainHead::default(), head).unwrap_err();
        assert!(matches!(error, ChainError::Corrupt { ref key, .. } if *key == segments[1].0.key));
        // The same damage under a key that names the damaged bytes fails the hash chain.
        segments[1].0.digest = Hash::of(&segments[1].1);
        let error = chain_len(&segments, ChainHead::default(), head).unwrap_err();
        assert!(matches!(error, ChainError::Unreadable { .. }), "{error}");
    }

    #[test]
    fn segments_must_lead_to_the_snapshot() {
        let (segments, head) = archive();
        let other = ChainHead {
            seq: head.seq,
            hash: Hash::of(b"another log"),
        };
        let error = chain_len(&segments, ChainHead::default(), other).unwrap_err();
        assert!(matches!(error, ChainError::NotToSnapshot { .. }), "{error}");
        let elsewhere = ChainHead {
            seq: 0,
            hash: Hash::of(b"another start"),
        };
        let error = chain_len(&segments, elsewhere, head).unwrap_err();
        assert!(
            matches!(error, ChainError::Discontinuous { at: 0, .. }),
            "{error}"
        );
    }
}
