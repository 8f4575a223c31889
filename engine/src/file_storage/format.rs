//! The bytes of the log and snapshot files, and the recovery scan, on byte slices.
//! The layouts are described in the parent module's docs; keep the two in step.

use thiserror::Error;

use super::OpenError;
use crate::envelope::StoredEvent;
use crate::ids::Hash;
use crate::storage::StoredSnapshot;

/// The first 8 bytes of a log file.
pub(super) const LOG_MAGIC: [u8; 8] = *b"SBRNLOG\n";
/// The first 8 bytes of a snapshot file.
pub(super) const SNAPSHOT_MAGIC: [u8; 8] = *b"SBRNSNP\n";
/// The file format version this code writes and reads.
pub(super) const FILE_VERSION: u32 = 1;
/// Magic, version, flags.
pub(super) const FILE_HEADER_LEN: usize = 16;
/// The first 4 bytes of every frame.
const FRAME_MAGIC: [u8; 4] = *b"SBev";
/// Magic, body length, seq, batch index, batch length, chain hash, header checksum.
pub(super) const FRAME_HEADER_LEN: usize = 64;
/// The checksum after a frame's body: the first 16 bytes of blake3 over everything before it.
const BODY_CHECKSUM_LEN: usize = 16;
/// The longest envelope a frame holds.
pub(super) const MAX_BODY_LEN: usize = 16 << 20;
/// Snapshot file: file header, seq, length; the bytes and a checksum follow.
const SNAPSHOT_HEAD_LEN: usize = FILE_HEADER_LEN + 16;

/// What is wrong with the bytes where a frame should start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameDamage {
    /// The file ends inside the frame's 64-byte header.
    #[error("the file ends inside the frame header")]
    ShortHeader,
    /// The frame magic or the header checksum does not match.
    #[error("bad frame header")]
    BadHeader,
    /// The header is intact but the file ends before the frame does.
    #[error("the file ends inside the frame")]
    ShortBody,
    /// The header is intact but the body checksum does not match.
    #[error("bad frame body")]
    BadBody,
}

/// Log bytes that a torn write cannot explain: damage, not a crash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Corruption {
    /// A frame is damaged and an intact frame follows it, so it was once whole and durable.
    #[error(
        "the frame at byte {offset} is damaged ({damage}) and an intact frame follows at byte {next_intact}"
    )]
    DamagedFrame {
        /// Where the damaged frame starts.
        offset: u64,
        /// What is wrong with it.
        damage: FrameDamage,
        /// Where the next intact frame starts.
        next_intact: u64,
    },
    /// A frame that was intact when the log was opened no longer is.
    #[error(
        "the frame at byte {offset} was intact when the log was opened and now is not ({damage})"
    )]
    ChangedSinceOpen {
        /// Where the frame starts.
        offset: u64,
        /// What is wrong with it.
        damage: FrameDamage,
    },
    /// An intact frame header declares a body longer than any writer writes.
    #[error("the frame at byte {offset} declares a {len}-byte body, over the limit")]
    OversizedFrame {
        /// Where the frame starts.
        offset: u64,
        /// The declared body length.
        len: u32,
    },
    /// An intact frame does not carry the next seq.
    #[error("the frame at byte {offset} has seq {found} where {expected} was expected")]
    OutOfOrder {
        /// Where the frame starts.
        offset: u64,
        /// The seq that should be there.
        expected: u64,
        /// The seq that is there.
        found: u64,
    },
    /// An intact frame does not continue the batch before it, or starts one mid-way.
    #[error("the frame at byte {offset} does not continue its batch")]
    BrokenBatch {
        /// Where the frame starts.
        offset: u64,
    },
}

/// An intact frame, borrowed from the bytes it was parsed from.
#[derive(Debug)]
pub(super) struct Frame<'a> {
    pub(super) seq: u64,
    pub(super) batch_index: u32,
    pub(super) batch_len: u32,
    pub(super) hash: Hash,
    pub(super) body: &'a [u8],
    /// Bytes the whole frame takes.
    pub(super) len: usize,
}

impl Frame<'_> {
    pub(super) fn to_event(&self) -> StoredEvent {
        StoredEvent {
            seq: self.seq,
            hash: self.hash,
            bytes: self.body.to_vec(),
        }
    }
}

/// The 16-byte header of a log or snapshot file.
pub(super) fn file_header(magic: [u8; 8]) -> [u8; FILE_HEADER_LEN] {
    let mut out = [0u8; FILE_HEADER_LEN];
    out[..8].copy_from_slice(&magic);
    out[8..12].copy_from_slice(&FILE_VERSION.to_le_bytes());
    // Bytes 12..16: flags, none defined.
    out
}

/// Checks a file header: `Ok` if this build reads it, else the version and flags it claims
/// (`None`: not ours at all).
fn check_file_header(buf: &[u8], magic: [u8; 8]) -> Result<(), Option<(u32, u32)>> {
    if buf.len() < FILE_HEADER_LEN || buf[..8] != magic {
        return Err(None);
    }
    let (version, flags) = (u32_at(buf, 8), u32_at(buf, 12));
    if version != FILE_VERSION || flags != 0 {
        return Err(Some((version, flags)));
    }
    Ok(())
}

/// Appends the frame of `event` at `batch_index` in a batch of `batch_len` to `out`.
/// The caller has checked that the body fits ([`MAX_BODY_LEN`]).
pub(super) fn encode_frame(
    out: &mut Vec<u8>,
    event: &StoredEvent,
    batch_index: u32,
    batch_len: u32,
) {
    let start = out.len();
    out.extend_from_slice(&FRAME_MAGIC);
    out.extend_from_slice(&(event.bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&event.seq.to_le_bytes());
    out.extend_from_slice(&batch_index.to_le_bytes());
    out.extend_from_slice(&batch_len.to_le_bytes());
    out.extend_from_slice(&event.hash.0);
    let header_sum = checksum::<8>(&out[start..]);
    out.extend_from_slice(&header_sum);
    out.extend_from_slice(&event.bytes);
    let body_sum = checksum::<BODY_CHECKSUM_LEN>(&out[start..]);
    out.extend_from_slice(&body_sum);
}

/// Parses the frame at the start of `buf` (which may hold more after it).
/// `Err(Ok(damage))` is damage; `Err(Err(len))` an intact header declaring an oversized body.
pub(super) fn parse_frame(buf: &[u8]) -> Result<Frame<'_>, Result<FrameDamage, u32>> {
    if buf.len() < FRAME_HEADER_LEN {
        return Err(Ok(FrameDamage::ShortHeader));
    }
    let header = &buf[..FRAME_HEADER_LEN];
    if header[..4] != FRAME_MAGIC || header[56..] != checksum::<8>(&header[..56]) {
        return Err(Ok(FrameDamage::BadHeader));
    }
    let body_len = u32_at(header, 4);
    if body_len as usize > MAX_BODY_LEN {
        return Err(Err(body_len));
    }
    let len = FRAME_HEADER_LEN + body_len as usize + BODY_CHECKSUM_LEN;
    if buf.len() < len {
        return Err(Ok(FrameDamage::ShortBody));
    }
    let (covered, sum) = buf[..len].split_at(len - BODY_CHECKSUM_LEN);
    if sum != checksum::<BODY_CHECKSUM_LEN>(covered) {
        return Err(Ok(FrameDamage::BadBody));
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&header[24..56]);
    Ok(Frame {
        seq: u64_at(header, 8),
        batch_index: u32_at(header, 16),
        batch_len: u32_at(header, 20),
        hash: Hash(hash),
        body: &covered[FRAME_HEADER_LEN..],
        len,
    })
}

/// What the recovery scan found in a log file.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// The seq of the first committed frame (0 if there is none).
    pub(super) first_seq: u64,
    /// Where each committed frame starts.
    pub(super) starts: Vec<u64>,
    /// Where the last committed batch ends: the length the file should have.
    pub(super) end: u64,
    /// Intact frames after `end` that belong to a batch whose last frame is missing.
    pub(super) discarded_frames: usize,
}

/// The recovery scan (rules in the parent module's docs): finds the committed frames, and
/// where the torn tail starts, or why the bytes are corrupt.
pub(super) fn scan(buf: &[u8]) -> Result<Scan, OpenError> {
    check_file_header(buf, LOG_MAGIC).map_err(|found| match found {
        None => OpenError::NotALog,
        Some((version, flags)) => OpenError::UnsupportedVersion { version, flags },
    })?;
    let mut scan = Scan {
        end: FILE_HEADER_LEN as u64,
        ..Scan::default()
    };
    let mut pos = FILE_HEADER_LEN;
    // The seq the next frame must carry (`None` before the first frame) and, inside a batch,
    // the (index, length) the next frame must carry.
    let mut expected: Option<u64> = None;
    let mut batch: Option<(u32, u32)> = None;
    let mut committed = 0;
    while pos < buf.len() {
        let offset = pos as u64;
        match parse_frame(&buf[pos..]) {
            Ok(frame) => {
                if let Some(e) = expected.filter(|&e| e != frame.seq) {
                    return Err(Corruption::OutOfOrder {
                        offset,
                        expected: e,
                        found: frame.seq,
                    }
                    .into());
                }
                let (want_index, want_len) = batch.unwrap_or((0, frame.batch_len));
                if frame.batch_index != want_index || frame.batch_len != want_len || want_len == 0 {
                    return Err(Corruption::BrokenBatch { offset }.into());
                }
                let Some(next) = frame.seq.checked_add(1) else {
                    return Err(Corruption::OutOfOrder {
                        offset,
                        expected: 0,
                        found: frame.seq,
                    }
                    .into());
                };
                if scan.starts.is_empty() {
                    scan.first_seq = frame.seq;
                }
                scan.starts.push(offset);
                pos += frame.len;
                expected = Some(next);
                batch = if frame.batch_index + 1 == frame.batch_len {
                    committed = scan.starts.len();
                    scan.end = pos as u64;
                    None
                } else {
                    Some((frame.batch_index + 1, frame.batch_len))
                };
            }
            Err(Err(len)) => return Err(Corruption::OversizedFrame { offset, len }.into()),
            Err(Ok(damage)) => {
                // Only a damaged header leaves the frame's length unknown; search after it.
                let resume = match damage {
                    FrameDamage::BadHeader => Some(pos + 1),
                    FrameDamage::BadBody => Some(pos + frame_len(&buf[pos..])),
                    FrameDamage::ShortHeader | FrameDamage::ShortBody => None,
                };
                if let Some(next_intact) = resume.and_then(|from| find_intact_frame(buf, from)) {
                    return Err(Corruption::DamagedFrame {
                        offset,
                        damage,
                        next_intact: next_intact as u64,
                    }
                    .into());
                }
                break;
            }
        }
    }
    scan.discarded_frames = scan.starts.len() - committed;
    scan.starts.truncate(committed);
    Ok(scan)
}

/// The length an intact frame header declares for its frame.
fn frame_len(buf: &[u8]) -> usize {
    FRAME_HEADER_LEN + u32_at(buf, 4) as usize + BODY_CHECKSUM_LEN
}

/// Where the first intact frame at or after `from` starts.
fn find_intact_frame(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.windows(FRAME_MAGIC.len())
        .enumerate()
        .filter(|(_, w)| *w == FRAME_MAGIC)
        .map(|(i, _)| from + i)
        .find(|&at| parse_frame(&buf[at..]).is_ok())
}

/// The bytes of a snapshot file.
pub(super) fn encode_snapshot(snapshot: &StoredSnapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPSHOT_HEAD_LEN + snapshot.bytes.len() + 16);
    out.extend_from_slice(&file_header(SNAPSHOT_MAGIC));
    out.extend_from_slice(&snapshot.seq.to_le_bytes());
    out.extend_from_slice(&(snapshot.bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&snapshot.bytes);
    let sum = checksum::<16>(&out);
    out.extend_from_slice(&sum);
    out
}

/// Why a snapshot file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotDamage {
    /// The file does not start with the snapshot magic.
    #[error("not a Second Brain snapshot file")]
    NotASnapshot,
    /// Written in a format version, or with flags, this build does not read.
    #[error(
        "snapshot file format version {version} (flags {flags:#x}) is not supported; this build reads version 1 without flags"
    )]
    UnsupportedVersion {
        /// The version in the file.
        version: u32,
        /// The flags in the file.
        flags: u32,
    },
    /// The length or checksum does not match the bytes.
    #[error("the snapshot file is damaged ({0})")]
    Damaged(&'static str),
}

/// Reads and verifies a snapshot file.
pub(super) fn decode_snapshot(buf: &[u8]) -> Result<StoredSnapshot, SnapshotDamage> {
    check_file_header(buf, SNAPSHOT_MAGIC).map_err(|found| match found {
        None => SnapshotDamage::NotASnapshot,
        Some((version, flags)) => SnapshotDamage::UnsupportedVersion { version, flags },
    })?;
    if buf.len() < SNAPSHOT_HEAD_LEN + 16 {
        return Err(SnapshotDamage::Damaged("shorter than its header"));
    }
    let len = u64_at(buf, FILE_HEADER_LEN + 8);
    if len != (buf.len() - SNAPSHOT_HEAD_LEN - 16) as u64 {
        return Err(SnapshotDamage::Damaged("length does not match the file"));
    }
    let (covered, sum) = buf.split_at(buf.len() - 16);
    if sum != checksum::<16>(covered) {
        return Err(SnapshotDamage::Damaged("checksum mismatch"));
    }
    Ok(StoredSnapshot {
        seq: u64_at(buf, FILE_HEADER_LEN),
        bytes: covered[SNAPSHOT_HEAD_LEN..].to_vec(),
    })
}

/// The first `N` bytes of the blake3 hash of `bytes`.
fn checksum<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&blake3::hash(bytes).as_bytes()[..N]);
    out
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, len: usize) -> StoredEvent {
        StoredEvent {
            seq,
            hash: Hash::of(&seq.to_le_bytes()),
            bytes: vec![seq as u8; len],
        }
    }

    #[test]
    fn frames_round_trip_and_every_prefix_is_short() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, &event(9, 5), 1, 3);
        assert_eq!(buf.len(), FRAME_HEADER_LEN + 5 + BODY_CHECKSUM_LEN);
        let frame = parse_frame(&buf).unwrap();
        assert_eq!(
            (frame.seq, frame.batch_index, frame.batch_len, frame.len),
            (9, 1, 3, buf.len())
        );
        assert_eq!(frame.to_event(), event(9, 5));
        for cut in 0..buf.len() {
            let want = if cut < FRAME_HEADER_LEN {
                FrameDamage::ShortHeader
            } else {
                FrameDamage::ShortBody
            };
            assert_eq!(parse_frame(&buf[..cut]).unwrap_err(), Ok(want));
        }
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, &event(1, 3), 0, 1);
        for at in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[at] ^= 1 << bit;
                let want = if at < FRAME_HEADER_LEN {
                    FrameDamage::BadHeader
                } else {
                    FrameDamage::BadBody
                };
                assert_eq!(
                    parse_frame(&bad).unwrap_err(),
                    Ok(want),
                    "byte {at} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn snapshots_round_trip_and_reject_damage() {
        let snap = StoredSnapshot {
            seq: 4,
            bytes: b"state".to_vec(),
        };
        let buf = encode_snapshot(&snap);
        assert_eq!(decode_snapshot(&buf), Ok(snap));
        for cut in 0..buf.len() {
            assert!(decode_snapshot(&buf[..cut]).is_err());
        }
        let mut bad = buf.clone();
        bad[SNAPSHOT_HEAD_LEN] ^= 1;
        assert_eq!(
            decode_snapshot(&bad),
            Err(SnapshotDamage::Damaged("checksum mismatch"))
        );
        let mut future = buf.clone();
        future[8] = 2;
        assert_eq!(
            decode_snapshot(&future),
            Err(SnapshotDamage::UnsupportedVersion {
                version: 2,
                flags: 0
            })
        );
        assert_eq!(
            decode_snapshot(b"garbage garbage garbage garbage garbage"),
            Err(SnapshotDamage::NotASnapshot)
        );
    }
}
