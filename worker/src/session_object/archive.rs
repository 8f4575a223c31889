//! The user's archive in R2: what the keys of snapshots and segments are, and which archived
//! objects a rebuild needs. Pure: the R2 calls are in `upkeep` (writing) and `restore`
//! (reading).
//!
//! # Layout
//! - `snapshots/<user>/<seq>-<digest hex>.cbor`: a snapshot at `seq`; the digest is the
//!   snapshot's own (blake3 of its body).
//! - `segments/<user>/<first seq:020>-<last seq:020>-<digest hex>.cbor`: the events
//!   `first..=last` as an engine segment; the digest is blake3 of the segment's bytes.
//!
//! Every key names its content, so an object is written once and never overwritten: a put
//! whose key exists already is skipped. Seqs in segment keys are zero-padded so that keys
//! sort in log order; snapshot keys keep the unpadded form of the first release.

use engine::Hash;
use engine::segment::Segment;
use thiserror::Error;

/// The prefix of `user`'s snapshots.
pub(super) fn snapshot_prefix(user: &str) -> String {
    format!("snapshots/{user}/")
}

/// The prefix of `user`'s segments.
pub(super) fn segment_prefix(user: &str) -> String {
    format!("segments/{user}/")
}

/// The R2 key of the snapshot at `seq` with `digest`.
pub(super) fn snapshot_key(user: &str, seq: u64, digest: &Hash) -> String {
    format!("{}{seq}-{}.cbor", snapshot_prefix(user), digest.to_hex())
}

/// The R2 key of `segment`.
pub(super) fn segment_key(user: &str, segment: &Segment) -> String {
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
pub(super) struct ArchivedSnapshot {
    /// The seq it covers.
    pub(super) seq: u64,
    /// Its R2 key.
    pub(super) key: String,
}

/// A segment found in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ArchivedSegment {
    /// Its first seq.
    pub(super) first: u64,
    /// Its last seq.
    pub(super) last: u64,
    /// The blake3 of its bytes, as its key says.
    pub(super) digest: Hash,
    /// Its R2 key.
    pub(super) key: String,
}

/// Reads a snapshot key listed under `prefix`; `None` for anything else.
pub(super) fn parse_snapshot_key(prefix: &str, key: &str) -> Option<ArchivedSnapshot> {
    let name = key.strip_prefix(prefix)?.strip_suffix(".cbor")?;
    let (seq, digest) = name.split_once('-')?;
    let seq = parse_seq(seq)?;
    is_digest(digest).then(|| ArchivedSnapshot {
        seq,
        key: key.to_owned(),
    })
}

/// Reads a segment key listed under `prefix`; `None` for anything else.
pub(super) fn parse_segment_key(prefix: &str, key: &str) -> Option<ArchivedSegment> {
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
pub(super) struct RestorePlan {
    /// The newest snapshot (none: the log is rebuilt from its first event).
    pub(super) snapshot: Option<ArchivedSnapshot>,
    /// Every archived segment, in log order (a rebuild reads those past what the snapshot
    /// records as archived).
    pub(super) segments: Vec<ArchivedSegment>,
    /// The archived segments cover every seq from 1 to this one without a gap.
    pub(super) covered_through: u64,
}

/// Why the archive cannot be rebuilt from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(super) enum RestorePlanError {
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
pub(super) fn restore_plan(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
