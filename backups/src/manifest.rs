//! Manifests: what one backup of a user holds, and the proof of what it must restore to.
//!
//! A manifest names every object the backup needs (segments from seq 1 to the head, and the
//! packs holding every content any version up to the head had) with its size and blake3, the
//! chain head the segments must lead to, and the digest of the notes at that head
//! ([`engine::files::FileIndex::digest`]). Manifests form a chain of their own: each names the
//! blake3 of the one before it.
//!
//! Byte layouts (frozen by `tests/golden/manifest-v1.cbor` and `manifest-v2.cbor`; described
//! in `docs/backup-format.md`):
//! - version 1: a CBOR map with the fields of [`Manifest`] under their Rust names;
//! - version 2: a CBOR map `{format: 2, body, signature}` where `body` is the bytes of that map
//!   (with `format` 2 and, for sealed backups, `encryption`) and `signature` is null or
//!   `{key, sig}`: an ed25519 signature of `body` ([`crate::sign`]).
//!
//! A manifest's name is the blake3 of its bytes. Readers read both versions.

use engine::Hash;
use engine::envelope::ChainHead;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::layout::UserLayout;
use crate::seal::{self, Recipient};
use crate::sign::{PublicKey, SigningKey};

/// The manifest format this code writes.
pub const MANIFEST_FORMAT_VERSION: u32 = 2;
/// The oldest manifest format this code reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// One backup of one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT_VERSION`] when written by this code.
    pub format: u32,
    /// The user (as the Worker names them: the GitHub user id).
    pub user: String,
    /// When the export that wrote it finished (unix milliseconds).
    pub created_ms: u64,
    /// The log head this backup restores to.
    pub head: ChainHead,
    /// The digest of the notes at `head` ([`engine::files::FileIndex::digest`]).
    pub state_digest: Hash,
    /// How many notes exist at `head`.
    pub notes: u64,
    /// Their total size in bytes.
    pub note_bytes: u64,
    /// The times of the first and the last event (unix milliseconds; 0 when empty).
    pub events: TimeRange,
    /// The segments, in log order, covering seqs `1..=head.seq` without a gap.
    pub segments: Vec<SegmentRef>,
    /// The packs, holding every content that a version up to `head` names.
    pub packs: Vec<PackRef>,
    /// The blake3 of the previous manifest of this user, if any.
    pub previous: Option<Hash>,
    /// What wrote it (crate name, version and commit).
    pub build: String,
    /// How the objects are sealed; `None`: they are plain (version 2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

/// How a backup's objects are sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// [`seal::SCHEME`]: age with one X25519 recipient.
    pub scheme: String,
    /// The recipient (`age1...`) every object is sealed to.
    pub recipient: String,
}

impl Encryption {
    /// Objects sealed to `recipient` with [`seal`].
    pub fn age(recipient: &Recipient) -> Encryption {
        Encryption {
            scheme: seal::SCHEME.to_owned(),
            recipient: recipient.to_string(),
        }
    }
}

/// A span of event times, unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeRange {
    /// The first event's time.
    pub first_ms: u64,
    /// The last event's time.
    pub last_ms: u64,
}

/// A segment object of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRef {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The blake3 of its bytes.
    pub blake3: Hash,
    /// Its first seq.
    pub first_seq: u64,
    /// Its last seq.
    pub last_seq: u64,
    /// Its events' times.
    pub events: TimeRange,
}

/// A pack object of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRef {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The blake3 of its bytes.
    pub blake3: Hash,
    /// How many contents it holds.
    pub contents: u64,
}

/// Why manifest bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The bytes are not a manifest.
    #[error("not a manifest: {0}")]
    Cbor(String),
    /// A manifest of a format this code does not know.
    #[error("manifest format version {0} is not supported (this build reads versions 1 and 2)")]
    UnsupportedVersion(u32),
    /// Its signature does not verify under the key it names: the body was altered.
    #[error("its signature does not verify under the key it names (altered)")]
    BadSignature,
    /// The manifest contradicts itself.
    #[error("the manifest is inconsistent: {0}")]
    Inconsistent(String),
}

/// An encoded manifest and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedManifest {
    /// blake3 of `bytes`.
    pub digest: Hash,
    /// Its key in the bucket.
    pub key: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Why a manifest is not trusted under a given public key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TrustError {
    /// It carries no signature, but one by `expected` is required.
    #[error("the manifest is not signed, and a signature by {expected} is required")]
    Unsigned {
        /// The key required.
        expected: PublicKey,
    },
    /// It is signed by another key.
    #[error("the manifest is signed by {found}, not by the required key {expected}")]
    OtherKey {
        /// The key required.
        expected: PublicKey,
        /// The key that signed it.
        found: PublicKey,
    },
}

/// A decoded manifest and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The manifest.
    pub manifest: Manifest,
    /// The key whose valid signature it carries (`None`: unsigned).
    pub signer: Option<PublicKey>,
}

impl Opened {
    /// The manifest, if it is signed by `key` (`None`: no key required, any manifest does).
    pub fn trusted(self, key: Option<&PublicKey>) -> Result<Manifest, TrustError> {
        match (key, self.signer) {
            (None, _) => Ok(self.manifest),
            (Some(expected), None) => Err(TrustError::Unsigned {
                expected: *expected,
            }),
            (Some(expected), Some(found)) if found != *expected => Err(TrustError::OtherKey {
                expected: *expected,
                found,
            }),
            (Some(_), Some(_)) => Ok(self.manifest),
        }
    }
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

/// Version 2 on the wire.
#[derive(Serialize, Deserialize)]
struct WireV2 {
    format: u32,
    body: serde_bytes::ByteBuf,
    signature: Option<WireSignature>,
}

#[derive(Serialize, Deserialize)]
struct WireSignature {
    key: serde_bytes::ByteBuf,
    sig: serde_bytes::ByteBuf,
}

impl Manifest {
    /// Encodes the manifest, unsigned, and names it.
    pub fn encode(&self) -> EncodedManifest {
        self.encode_with(None)
    }

    /// Encodes the manifest, signed with `key` if given, and names it. A manifest of
    /// `format` 1 is written as version 1, which has no place for a signature.
    pub fn encode_with(&self, key: Option<&SigningKey>) -> EncodedManifest {
        let mut body = Vec::new();
        // Writing to a Vec does not fail.
        let _ = ciborium::into_writer(self, &mut body);
        let bytes = if self.format == 1 {
            body
        } else {
            let signature = key.map(|key| WireSignature {
                key: serde_bytes::ByteBuf::from(key.public_key().to_bytes().to_vec()),
                sig: serde_bytes::ByteBuf::from(key.sign(&body).to_vec()),
            });
            let wire = WireV2 {
                format: self.format,
                body: serde_bytes::ByteBuf::from(body),
                signature,
            };
            let mut bytes = Vec::new();
            let _ = ciborium::into_writer(&wire, &mut bytes);
            bytes
        };
        let digest = Hash::of(&bytes);
        EncodedManifest {
            key: UserLayout::new(&self.user).manifest_key(self.head.seq, self.created_ms, &digest),
            digest,
            bytes,
        }
    }

    /// Reads manifest bytes and checks that they agree with themselves: segments in order from
    /// seq 1 to the head without gaps or overlaps, every key under the user's prefix, and a
    /// signature, if any, valid under the key it names. Who signed is dropped: see
    /// [`Manifest::open`].
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        Manifest::open(bytes).map(|opened| opened.manifest)
    }

    /// [`Manifest::decode`], keeping who signed it ([`Opened::trusted`] checks the key).
    pub fn open(bytes: &[u8]) -> Result<Opened, ManifestError> {
        let cbor = |e: ciborium::de::Error<std::io::Error>| ManifestError::Cbor(e.to_string());
        let FormatOnly { format } = ciborium::from_reader(bytes).map_err(cbor)?;
        let (manifest, signer) = match format {
            1 => {
                let manifest: Manifest = ciborium::from_reader(bytes).map_err(cbor)?;
                if manifest.encryption.is_some() {
                    return Err(ManifestError::Inconsistent(
                        "a version 1 manifest names an encryption".into(),
                    ));
                }
                (manifest, None)
            }
            2 => {
                let wire: WireV2 = ciborium::from_reader(bytes).map_err(cbor)?;
                let manifest: Manifest =
                    ciborium::from_reader(wire.body.as_slice()).map_err(cbor)?;
                if manifest.format != 2 {
                    return Err(ManifestError::Inconsistent(format!(
                        "a version 2 manifest's body says format {}",
                        manifest.format
                    )));
                }
                let signer = match wire.signature {
                    None => None,
                    Some(signature) => {
                        let key = <[u8; 32]>::try_from(signature.key.as_slice())
                            .ok()
                            .and_then(|key| PublicKey::from_bytes(key).ok());
                        let sig = <[u8; 64]>::try_from(signature.sig.as_slice()).ok();
                        match (key, sig) {
                            (Some(key), Some(sig)) if key.verifies(&wire.body, &sig) => Some(key),
                            _ => return Err(ManifestError::BadSignature),
                        }
                    }
                };
                (manifest, signer)
            }
            other => return Err(ManifestError::UnsupportedVersion(other)),
        };
        manifest.check()?;
        Ok(Opened { manifest, signer })
    }

    fn check(&self) -> Result<(), ManifestError> {
        let bad = |what: String| Err(ManifestError::Inconsistent(what));
        let layout = UserLayout::new(&self.user);
        let mut next = 1u64;
        for segment in &self.segments {
            if segment.first_seq != next || segment.last_seq < segment.first_seq {
                return bad(format!(
                    "segment {} covers seqs {}..={} where seq {next} comes next",
                    segment.key, segment.first_seq, segment.last_seq
                ));
            }
            if segment.key
                != layout.segment_key(segment.first_seq, segment.last_seq, &segment.blake3)
            {
                return bad(format!(
                    "segment key {} does not name its content",
                    segment.key
                ));
            }
            next = segment.last_seq + 1;
        }
        if next != self.head.seq + 1 {
            return bad(format!(
                "the segments end at seq {} but the head is seq {}",
                next - 1,
                self.head.seq
            ));
        }
        for pack in &self.packs {
            if pack.key != layout.pack_key(&pack.blake3) {
                return bad(format!("pack key {} does not name its content", pack.key));
            }
        }
        if let Some(encryption) = &self.encryption
            && (encryption.scheme != seal::SCHEME
                || encryption.recipient.parse::<Recipient>().is_err())
        {
            return bad(format!(
                "encryption {:?} to {:?} is not {} to an age1 recipient",
                encryption.scheme,
                encryption.recipient,
                seal::SCHEME
            ));
        }
        Ok(())
    }

    /// Every object the manifest needs: key, size and blake3.
    pub fn objects(&self) -> impl Iterator<Item = (&str, u64, &Hash)> {
        let segments = self
            .segments
            .iter()
            .map(|s| (s.key.as_str(), s.size, &s.blake3));
        let packs = self
            .packs
            .iter()
            .map(|p| (p.key.as_str(), p.size, &p.blake3));
        segments.chain(packs)
    }

    /// The total size of the objects it needs.
    pub fn object_bytes(&self) -> u64 {
        self.objects().map(|(_, size, _)| size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let layout = UserLayout::new("1001");
        let s1 = Hash::of(b"segment 1");
        let s2 = Hash::of(b"segment 2");
        let p1 = Hash::of(b"pack 1");
        Manifest {
            format: 1,
            user: "1001".into(),
            created_ms: 1_796_515_200_000,
            head: ChainHead {
                seq: 7,
                hash: Hash::of(b"head"),
            },
            state_digest: Hash::of(b"notes"),
            notes: 2,
            note_bytes: 11,
            events: TimeRange {
                first_ms: 1_796_500_000_000,
                last_ms: 1_796_510_000_000,
            },
            segments: vec![
                SegmentRef {
                    key: layout.segment_key(1, 4, &s1),
                    size: 400,
                    blake3: s1,
                    first_seq: 1,
                    last_seq: 4,
                    events: TimeRange {
                        first_ms: 1_796_500_000_000,
                        last_ms: 1_796_505_000_000,
                    },
                },
                SegmentRef {
                    key: layout.segment_key(5, 7, &s2),
                    size: 300,
                    blake3: s2,
                    first_seq: 5,
                    last_seq: 7,
                    events: TimeRange {
                        first_ms: 1_796_506_000_000,
                        last_ms: 1_796_510_000_000,
                    },
                },
            ],
            packs: vec![PackRef {
                key: layout.pack_key(&p1),
                size: 120,
                blake3: p1,
                contents: 2,
            }],
            previous: Some(Hash::of(b"previous manifest")),
            build: "second-brain-worker 0.1.0".into(),
            encryption: None,
        }
    }

    /// The signing key of the version 2 golden file (a test key).
    fn golden_signing_key() -> SigningKey {
        SigningKey::from_seed(Hash::of(b"golden signing key").0)
    }

    /// A sealed version 2 manifest (a test recipient).
    fn sample_v2() -> Manifest {
        let identity = seal::Identity::from_secret_bytes(Hash::of(b"golden identity").0);
        Manifest {
            format: 2,
            encryption: Some(Encryption::age(&identity.recipient())),
            ..sample()
        }
    }

    /// The frozen bytes of a version 1 manifest (`GOLDEN_WRITE=1` writes the file when a new
    /// version is created; never rewrite a published one).
    #[test]
    fn version_1_bytes_are_frozen() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/manifest-v1.cbor");
        let encoded = sample().encode();
        if std::env::var_os("GOLDEN_WRITE").is_some() && !path.exists() {
            std::fs::write(&path, &encoded.bytes).unwrap();
        }
        let golden = std::fs::read(&path)
            .expect("tests/golden/manifest-v1.cbor (GOLDEN_WRITE=1 creates it)");
        assert_eq!(Manifest::decode(&golden), Ok(sample()));
        assert_eq!(
            encoded.bytes, golden,
            "the encoder changed the version 1 bytes"
        );
    }

    /// The frozen bytes of a signed, sealed version 2 manifest.
    #[test]
    fn version_2_bytes_are_frozen() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/manifest-v2.cbor");
        let encoded = sample_v2().encode_with(Some(&golden_signing_key()));
        if std::env::var_os("GOLDEN_WRITE").is_some() && !path.exists() {
            std::fs::write(&path, &encoded.bytes).unwrap();
        }
        let golden = std::fs::read(&path)
            .expect("tests/golden/manifest-v2.cbor (GOLDEN_WRITE=1 creates it)");
        let opened = Manifest::open(&golden).unwrap();
        assert_eq!(opened.manifest, sample_v2());
        assert_eq!(opened.signer, Some(golden_signing_key().public_key()));
        assert_eq!(
            encoded.bytes, golden,
            "the encoder changed the version 2 bytes"
        );
    }

    #[test]
    fn signatures_are_checked_and_a_required_key_must_have_signed() {
        let key = golden_signing_key();
        let other = SigningKey::from_seed([9; 32]);
        let manifest = sample_v2();
        let signed = manifest.encode_with(Some(&key));
        let unsigned = manifest.encode();
        assert_ne!(signed.key, unsigned.key, "the name covers the signature");
        let public = key.public_key();
        assert_eq!(
            Manifest::open(&signed.bytes)
                .unwrap()
                .trusted(Some(&public)),
            Ok(manifest.clone())
        );
        assert_eq!(
            Manifest::open(&unsigned.bytes)
                .unwrap()
                .trusted(Some(&public)),
            Err(TrustError::Unsigned { expected: public })
        );
        assert_eq!(
            Manifest::open(&unsigned.bytes).unwrap().trusted(None),
            Ok(manifest.clone())
        );
        let by_other = manifest.encode_with(Some(&other));
        assert_eq!(
            Manifest::open(&by_other.bytes)
                .unwrap()
                .trusted(Some(&public)),
            Err(TrustError::OtherKey {
                expected: public,
                found: other.public_key()
            })
        );
        // A changed body no longer verifies under the key it names.
        let mut altered = signed.bytes.clone();
        let at = altered
            .windows(6)
            .position(|w| w == b"worker")
            .expect("the build string");
        altered[at] = b'W';
        assert_eq!(Manifest::decode(&altered), Err(ManifestError::BadSignature));
        // Version 1 is read as it always was: unsigned.
        let v1 = Manifest::open(&sample().encode().bytes).unwrap();
        assert_eq!(v1.signer, None);
        assert_eq!(v1.manifest.format, 1);
    }

    #[test]
    fn a_manifest_round_trips_and_is_named_by_its_bytes() {
        let manifest = sample_v2();
        let encoded = manifest.encode();
        assert_eq!(encoded.digest, Hash::of(&encoded.bytes));
        assert_eq!(
            encoded.key,
            UserLayout::new("1001").manifest_key(7, manifest.created_ms, &encoded.digest)
        );
        assert_eq!(Manifest::decode(&encoded.bytes), Ok(manifest.clone()));
        assert_eq!(manifest.object_bytes(), 820);
        assert_eq!(manifest.objects().count(), 3);
    }

    #[test]
    fn inconsistent_manifests_are_refused_naming_the_fault() {
        type Damage = fn(&mut Manifest);
        let cases: [(Damage, &str); 5] = [
            (
                |m| {
                    m.segments.remove(0);
                },
                "covers seqs 5..=7 where seq 1",
            ),
            (|m| m.head.seq = 8, "end at seq 7 but the head is seq 8"),
            (
                |m| m.segments[1].first_seq = 4,
                "covers seqs 4..=7 where seq 5",
            ),
            (
                |m| m.segments[0].blake3 = Hash::ZERO,
                "does not name its content",
            ),
            (
                |m| m.packs[0].key = "users/1002/packs/x.pack".into(),
                "pack key",
            ),
        ];
        for (damage, expected) in cases {
            let mut manifest = sample();
            damage(&mut manifest);
            match Manifest::decode(&manifest.encode().bytes) {
                Err(ManifestError::Inconsistent(why)) => {
                    assert!(why.contains(expected), "{why} lacks {expected}")
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
        let mut future = sample();
        future.format = 3;
        assert_eq!(
            Manifest::decode(&future.encode().bytes),
            Err(ManifestError::UnsupportedVersion(3))
        );
        let mut bad_recipient = sample_v2();
        bad_recipient.encryption = Some(Encryption {
            scheme: "age-x25519".into(),
            recipient: "age1nothing".into(),
        });
        assert!(matches!(
            Manifest::decode(&bad_recipient.encode().bytes),
            Err(ManifestError::Inconsistent(why)) if why.contains("age1nothing")
        ));
        assert!(matches!(
            Manifest::decode(b"\xa0"),
            Err(ManifestError::Cbor(_))
        ));
        assert!(matches!(Manifest::decode(b""), Err(ManifestError::Cbor(_))));
    }
}
