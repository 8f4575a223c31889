//! Sealing: backup objects encrypted to one X25519 public key in the age format
//! (`age-encryption.org/v1`), and opened with its identity.
//!
//! The Worker holds only the [`Recipient`] (`age1...`); the [`Identity`]
//! (`AGE-SECRET-KEY-1...`) stays with the operator, so what is in the bucket can be read only
//! where the identity is. Any age implementation opens a sealed object (`age -d -i FILE`).
//!
//! Only what this product writes is implemented: one X25519 recipient stanza per file, the
//! header MAC, and the STREAM payload in 64 KiB chunks. Opening ignores stanzas of other types,
//! as the format asks. Randomness is an input ([`Entropy`]): this module never reads a random
//! source, so tests are deterministic and the caller picks the source (Web Crypto in the
//! Worker, the OS in the CLI).

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// The scheme a manifest names for objects sealed by this module.
pub const SCHEME: &str = "age-x25519";

const VERSION_LINE: &str = "age-encryption.org/v1";
const X25519_LABEL: &[u8] = b"age-encryption.org/v1/X25519";
const RECIPIENT_HRP: &str = "age";
const IDENTITY_HRP: &str = "age-secret-key-";
/// Plaintext bytes per payload chunk.
const CHUNK: usize = 64 * 1024;
/// ChaCha20-Poly1305's tag.
const TAG: usize = 16;
/// The longest header [`open`] reads before giving up (one stanza is about 110 bytes).
const MAX_HEADER: usize = 64 * 1024;

/// An X25519 public key objects are sealed to (`age1...`).
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    public: PublicKey,
}

/// An X25519 secret key that opens what was sealed to its [`Recipient`]
/// (`AGE-SECRET-KEY-1...`). Its bytes are wiped when it is dropped; `Debug` shows only the
/// recipient.
#[derive(Clone)]
pub struct Identity {
    secret: StaticSecret,
}

/// The random bytes one seal uses: 64 bytes from a cryptographically secure source, never
/// reused (an ephemeral X25519 secret, the file key and the payload nonce). Wiped on drop.
pub struct Entropy {
    bytes: Zeroizing<[u8; 64]>,
}

/// Why a key could not be read. Never includes the key text: an identity is a secret.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not Bech32, or its checksum is wrong.
    #[error("not a Bech32 string with a valid checksum")]
    Bech32,
    /// Bech32, but of another kind.
    #[error("expected a key starting with {expected}")]
    Kind {
        /// The prefix expected.
        expected: &'static str,
    },
    /// Not 32 bytes long.
    #[error("the key is {0} bytes long, not 32")]
    Length(usize),
    /// An identity file line that is not an identity (line numbers start at 1).
    #[error("line {0} of the identity file is not an AGE-SECRET-KEY-1 identity")]
    Line(usize),
    /// An identity file without any identity.
    #[error("the identity file holds no AGE-SECRET-KEY-1 identity")]
    Empty,
}

/// Why sealed bytes could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The bytes are not an age v1 file.
    #[error("not an age-encryption.org/v1 file")]
    NotAge,
    /// The header does not parse.
    #[error("its age header is malformed: {0}")]
    Header(&'static str),
    /// No identity given opens any of its stanzas: sealed to another recipient.
    #[error("none of the given identities can open it (it was sealed to another recipient)")]
    NoMatchingIdentity,
    /// The header was changed after it was written.
    #[error("its age header fails its MAC (altered)")]
    HeaderMac,
    /// The payload is cut short, altered, or has data after its final chunk.
    #[error("its payload does not decrypt at chunk {0} (truncated or altered)")]
    Payload(u64),
}

impl Recipient {
    /// The recipient of `identity`.
    pub fn of(identity: &Identity) -> Recipient {
        Recipient {
            public: PublicKey::from(&identity.secret),
        }
    }

    /// Its 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.public.as_bytes()
    }
}

impl std::str::FromStr for Recipient {
    type Err = KeyError;

    /// Reads `age1...` (Bech32, lowercase).
    fn from_str(text: &str) -> Result<Recipient, KeyError> {
        let bytes = decode_key(text.trim(), RECIPIENT_HRP, "age1")?;
        Ok(Recipient {
            public: PublicKey::from(bytes),
        })
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&encode_key(RECIPIENT_HRP, self.public.as_bytes()))
    }
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl Identity {
    /// An identity from 32 secret bytes (from a CSPRNG: `keygen`).
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Identity {
        let bytes = Zeroizing::new(bytes);
        Identity {
            secret: StaticSecret::from(*bytes),
        }
    }

    /// Reads one `AGE-SECRET-KEY-1...` (Bech32, uppercase or lowercase).
    pub fn parse(text: &str) -> Result<Identity, KeyError> {
        let bytes = Zeroizing::new(decode_key(text.trim(), IDENTITY_HRP, "AGE-SECRET-KEY-1")?);
        Ok(Identity::from_secret_bytes(*bytes))
    }

    /// Reads an identity file: one identity a line; empty lines and `#` comments are skipped
    /// (the format `age-keygen` writes).
    pub fn parse_file(text: &str) -> Result<Vec<Identity>, KeyError> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(Identity::parse(line).map_err(|_| KeyError::Line(n + 1))?);
        }
        if out.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(out)
    }

    /// The identity as `AGE-SECRET-KEY-1...`: secret, for the operator's identity file only.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.secret.to_bytes());
        Zeroizing::new(encode_key(IDENTITY_HRP, &bytes).to_uppercase())
    }

    /// Its recipient.
    pub fn recipient(&self) -> Recipient {
        Recipient::of(self)
    }

    /// The file key of an X25519 stanza, if this identity opens it.
    fn unwrap(&self, share: &[u8; 32], body: &[u8]) -> Option<Zeroizing<[u8; 16]>> {
        let share = PublicKey::from(*share);
        let shared = self.secret.diffie_hellman(&share);
        if !shared.was_contributory() {
            return None;
        }
        let recipient = PublicKey::from(&self.secret);
        let key = wrap_key(shared.as_bytes(), share.as_bytes(), recipient.as_bytes());
        let opened = ChaCha20Poly1305::new_from_slice(key.as_slice())
            .ok()?
            .decrypt(&Nonce::default(), body)
            .ok()?;
        let opened = Zeroizing::new(opened);
        let mut file_key = Zeroizing::new([0u8; 16]);
        file_key.copy_from_slice(opened.get(..16)?);
        Some(file_key)
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity(for {})", self.recipient())
    }
}

impl Entropy {
    /// Entropy from 64 bytes of a CSPRNG.
    pub fn from_bytes(bytes: [u8; 64]) -> Entropy {
        Entropy {
            bytes: Zeroizing::new(bytes),
        }
    }

    fn ephemeral(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.bytes[..32]);
        out
    }

    fn file_key(&self) -> &[u8] {
        &self.bytes[32..48]
    }

    fn nonce(&self) -> &[u8] {
        &self.bytes[48..64]
    }
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entropy(..)")
    }
}

/// Seals `plaintext` to `recipient`: an age v1 file with one X25519 stanza.
pub fn seal(recipient: &Recipient, plaintext: &[u8], entropy: &Entropy) -> Vec<u8> {
    let ephemeral = StaticSecret::from(entropy.ephemeral());
    let share = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(&recipient.public);
    let key = wrap_key(
        shared.as_bytes(),
        share.as_bytes(),
        recipient.public.as_bytes(),
    );
    // A 32-byte key always makes a cipher, and 16 bytes always encrypt.
    let body = ChaCha20Poly1305::new_from_slice(key.as_slice())
        .map(|cipher| cipher.encrypt(&Nonce::default(), entropy.file_key()))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();

    let mut header = format!(
        "{VERSION_LINE}\n-> X25519 {}\n{}\n---",
        BASE64.encode(share.as_bytes()),
        BASE64.encode(&body)
    );
    let mac = header_mac(entropy.file_key(), header.as_bytes());
    header.push(' ');
    header.push_str(&BASE64.encode(mac));
    header.push('\n');

    let payload_key = hkdf(entropy.file_key(), entropy.nonce(), b"payload");
    let cipher = ChaCha20Poly1305::new_from_slice(payload_key.as_slice());
    let chunks = plaintext.len().div_ceil(CHUNK).max(1);
    let mut out = Vec::with_capacity(header.len() + 16 + plaintext.len() + chunks * TAG);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(entropy.nonce());
    for index in 0..chunks {
        let start = index * CHUNK;
        let chunk = &plaintext[start..plaintext.len().min(start + CHUNK)];
        let nonce = chunk_nonce(index as u64, index + 1 == chunks);
        // Chunks of 64 KiB always encrypt.
        let sealed = cipher
            .as_ref()
            .ok()
            .and_then(|c| c.encrypt(&nonce, chunk).ok())
            .unwrap_or_default();
        out.extend_from_slice(&sealed);
    }
    out
}

/// Opens an age v1 file with whichever of `identities` it was sealed to.
pub fn open(sealed: &[u8], identities: &[Identity]) -> Result<Vec<u8>, OpenError> {
    if !sealed.starts_with(VERSION_LINE.as_bytes()) {
        return Err(OpenError::NotAge);
    }
    let (stanzas, mac_input, mac, payload) = parse_header(sealed)?;
    let mut file_key = None;
    'stanzas: for (share, body) in &stanzas {
        for identity in identities {
            if let Some(key) = identity.unwrap(share, body) {
                file_key = Some(key);
                break 'stanzas;
            }
        }
    }
    let file_key = file_key.ok_or(OpenError::NoMatchingIdentity)?;
    let mut check = <Hmac<Sha256> as KeyInit>::new_from_slice(
        hkdf(file_key.as_slice(), &[], b"header").as_slice(),
    )
    .map_err(|_| OpenError::HeaderMac)?;
    check.update(mac_input);
    check.verify_slice(&mac).map_err(|_| OpenError::HeaderMac)?;

    let (nonce, chunks) = payload.split_at_checked(16).ok_or(OpenError::Payload(0))?;
    let payload_key = hkdf(file_key.as_slice(), nonce, b"payload");
    let cipher = ChaCha20Poly1305::new_from_slice(payload_key.as_slice())
        .map_err(|_| OpenError::Payload(0))?;
    if chunks.is_empty() {
        return Err(OpenError::Payload(0));
    }
    let count = chunks.len().div_ceil(CHUNK + TAG);
    let mut out = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.chunks(CHUNK + TAG).enumerate() {
        let last = index + 1 == count;
        let nonce = chunk_nonce(index as u64, last);
        let plain = cipher
            .decrypt(&nonce, chunk)
            .map_err(|_| OpenError::Payload(index as u64))?;
        // Only a wholly empty payload ends with an empty chunk.
        if last && plain.is_empty() && index > 0 {
            return Err(OpenError::Payload(index as u64));
        }
        out.extend_from_slice(&plain);
    }
    Ok(out)
}

/// The X25519 stanzas (ephemeral share, body), the bytes the MAC covers, the MAC and the
/// payload of an age v1 file.
#[allow(clippy::type_complexity)]
fn parse_header(
    bytes: &[u8],
) -> Result<(Vec<([u8; 32], Vec<u8>)>, &[u8], Vec<u8>, &[u8]), OpenError> {
    let mut lines = Lines { bytes, at: 0 };
    let version = lines.next().ok_or(OpenError::NotAge)?;
    if version != VERSION_LINE.as_bytes() {
        return Err(OpenError::NotAge);
    }
    let mut stanzas = Vec::new();
    loop {
        let start = lines.at;
        let line = lines
            .next()
            .ok_or(OpenError::Header("it ends before its MAC"))?;
        if let Some(mac) = line.strip_prefix(b"--- ") {
            let mac_input = &bytes[..start + 3];
            let mac = BASE64
                .decode(mac)
                .ok()
                .filter(|m| m.len() == 32)
                .ok_or(OpenError::Header("its MAC is not 32 bytes of base64"))?;
            if stanzas.is_empty() {
                return Err(OpenError::Header("it has no recipient stanza"));
            }
            return Ok((stanzas, mac_input, mac, &bytes[lines.at..]));
        }
        let args = line
            .strip_prefix(b"-> ")
            .ok_or(OpenError::Header("a line is neither a stanza nor the MAC"))?;
        let args: Vec<&[u8]> = args.split(|b| *b == b' ').collect();
        if args.iter().any(|a| a.is_empty()) {
            return Err(OpenError::Header("a stanza has an empty argument"));
        }
        let mut body = Vec::new();
        loop {
            let line = lines
                .next()
                .ok_or(OpenError::Header("a stanza body is cut short"))?;
            if line.len() > 64 {
                return Err(OpenError::Header(
                    "a stanza body line is longer than 64 columns",
                ));
            }
            body.extend_from_slice(line);
            if line.len() < 64 {
                break;
            }
        }
        if args[0] != b"X25519" {
            continue; // Another recipient type: ignored, as the format asks.
        }
        let share = match args[..] {
            [_, share] => BASE64.decode(share).ok(),
            _ => None,
        }
        .and_then(|s| <[u8; 32]>::try_from(s).ok())
        .ok_or(OpenError::Header(
            "an X25519 stanza's share is not 32 bytes of base64",
        ))?;
        let body = BASE64
            .decode(&body)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or(OpenError::Header("an X25519 stanza's body is not 32 bytes"))?;
        stanzas.push((share, body));
    }
}

/// Lines of the header, each without its line feed.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= MAX_HEADER {
            return None;
        }
        let rest = &self.bytes[self.at..];
        let end = rest.iter().position(|b| *b == b'\n')?;
        self.at += end + 1;
        Some(&rest[..end])
    }
}

/// HKDF-SHA-256 to 32 bytes.
fn hkdf(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA-256 output length.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, okm.as_mut_slice());
    okm
}

/// The key that wraps the file key for an X25519 recipient.
fn wrap_key(shared: &[u8; 32], share: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(share);
    salt[32..].copy_from_slice(recipient);
    hkdf(shared, &salt, X25519_LABEL)
}

fn header_mac(file_key: &[u8], header: &[u8]) -> [u8; 32] {
    let key = hkdf(file_key, &[], b"header");
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_slice())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(header);
    mac.finalize().into_bytes().into()
}

/// The STREAM nonce: an 11-byte big-endian counter and the last-chunk flag.
fn chunk_nonce(index: u64, last: bool) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    Nonce::from(nonce)
}

fn encode_key(hrp: &str, bytes: &[u8; 32]) -> String {
    // Both prefixes are valid human-readable parts, and 32 bytes are within any length limit.
    Hrp::parse(hrp)
        .ok()
        .and_then(|hrp| bech32::encode::<Bech32>(hrp, bytes).ok())
        .unwrap_or_default()
}

fn decode_key(text: &str, hrp: &str, shown: &'static str) -> Result<[u8; 32], KeyError> {
    let checked = CheckedHrpstring::new::<Bech32>(text).map_err(|_| KeyError::Bech32)?;
    if checked.hrp().to_lowercase() != hrp {
        return Err(KeyError::Kind { expected: shown });
    }
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(checked.byte_iter().collect());
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entropy(seed: u8) -> Entropy {
        let mut bytes = [0u8; 64];
        let mut xof = blake3::Hasher::new().update(&[seed]).finalize_xof();
        xof.fill(&mut bytes);
        Entropy::from_bytes(bytes)
    }

    fn identity(seed: u8) -> Identity {
        Identity::from_secret_bytes(*blake3::hash(&[b'k', seed]).as_bytes())
    }

    /// The example keys of the format's specification (c2sp.org/age, "The X25519 recipient
    /// type"): the identity's recipient is the one printed there.
    #[test]
    fn keys_read_and_write_as_the_age_specification_prints_them() {
        let text = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
        let identity = Identity::parse(text).unwrap();
        assert_eq!(
            identity.recipient().to_string(),
            "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
        );
        assert_eq!(identity.to_secret_string().as_str(), text);
        let recipient: Recipient = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
            .parse()
            .unwrap();
        assert_eq!(recipient, identity.recipient());
        assert!(
            !format!("{identity:?}").contains("GFPYY"),
            "Debug hides the secret"
        );
        assert_eq!(
            "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwx".parse::<Recipient>(),
            Err(KeyError::Bech32)
        );
        assert_eq!(
            Identity::parse("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
                .unwrap_err(),
            KeyError::Kind {
                expected: "AGE-SECRET-KEY-1"
            }
        );
        let file = format!("# created: today\n# public key: {recipient}\n{text}\n\n");
        assert_eq!(Identity::parse_file(&file).unwrap().len(), 1);
        assert_eq!(
            Identity::parse_file("# nothing\n").unwrap_err(),
            KeyError::Empty
        );
        let error = Identity::parse_file(&format!("{text}\nAGE-SECRET-KEY-1XYZ\n")).unwrap_err();
        assert_eq!(error, KeyError::Line(2));
    }

    #[test]
    fn sealed_bytes_open_with_the_identity_for_every_size() {
        let me = identity(1);
        for size in [0, 1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&me.recipient(), &plain, &entropy(size as u8));
            assert!(sealed.starts_with(b"age-encryption.org/v1\n-> X25519 "));
            let chunks = size.div_ceil(CHUNK).max(1);
            let header = sealed.len() - 16 - size - chunks * TAG;
            assert!(header < 200, "{header}");
            assert_eq!(
                open(&sealed, &[identity(9), me.clone()]).unwrap(),
                plain,
                "{size}"
            );
            if size > 0 {
                assert!(
                    !sealed
                        .windows(size.min(32))
                        .any(|w| w == &plain[..size.min(32)]),
                    "no plaintext in the sealed bytes"
                );
            }
        }
        // The same entropy gives the same bytes; other entropy others.
        let a = seal(&me.recipient(), b"x", &entropy(1));
        assert_eq!(a, seal(&me.recipient(), b"x", &entropy(1)));
        assert_ne!(a, seal(&me.recipient(), b"x", &entropy(2)));
    }

    #[test]
    fn a_wrong_identity_or_altered_bytes_do_not_open() {
        let me = identity(1);
        let mine = std::slice::from_ref(&me);
        let plain = vec![7u8; CHUNK + 10];
        let sealed = seal(&me.recipient(), &plain, &entropy(3));
        assert_eq!(
            open(&sealed, &[identity(2)]),
            Err(OpenError::NoMatchingIdentity)
        );
        assert_eq!(open(&sealed, &[]), Err(OpenError::NoMatchingIdentity));
        assert_eq!(open(b"hello", mine), Err(OpenError::NotAge));
        // The header's MAC covers the header.
        let mut header = sealed.clone();
        let at = header.iter().position(|b| *b == b'\n').unwrap() + 4;
        header[at] = if header[at] == b'A' { b'B' } else { b'A' };
        assert!(open(&header, mine).is_err());
        // The payload: a flipped bit, a cut final chunk, a dropped final chunk, extra data.
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(&flipped, mine), Err(OpenError::Payload(1)));
        assert_eq!(
            open(&sealed[..sealed.len() - 1], mine),
            Err(OpenError::Payload(1))
        );
        assert_eq!(
            open(&sealed[..sealed.len() - 26], mine),
            Err(OpenError::Payload(0)),
            "the first chunk is not a final one"
        );
        let mut longer = sealed.clone();
        longer.extend_from_slice(&[0; 5]);
        assert!(open(&longer, mine).is_err());
    }
}
