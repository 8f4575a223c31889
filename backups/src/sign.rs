//! Manifest signatures: ed25519 (RFC 8032) keys as the operator handles them.
//!
//! The Worker signs each manifest with a [`SigningKey`] (the secret `BACKUP_SIGNING_KEY`,
//! 64 hex characters: the 32-byte seed); `backup verify` and `restore` check the signature
//! with the [`PublicKey`] (64 hex characters). Signing is deterministic: no randomness.

use ed25519_dalek::Signer;
use thiserror::Error;
use zeroize::Zeroizing;

/// What a signature of this crate covers: this context, then the signed bytes. A key used
/// here cannot be made to sign anything else of ours by accident.
const CONTEXT: &[u8] = b"second-brain backup manifest v2\n";

/// An ed25519 signing key (secret). `Debug` shows only its public key.
#[derive(Clone)]
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

/// An ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey {
    bytes: [u8; 32],
}

/// Why a key could not be read. Never includes the key text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignKeyError {
    /// Not 64 hex characters.
    #[error("expected 64 hexadecimal characters (32 bytes)")]
    Hex,
    /// 32 bytes that are not an ed25519 public key.
    #[error("not an ed25519 public key")]
    NotAKey,
}

impl SigningKey {
    /// The key of a 32-byte seed (from a CSPRNG: `keygen`).
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        let seed = Zeroizing::new(seed);
        SigningKey {
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    /// Reads the seed as 64 hex characters.
    pub fn from_hex(text: &str) -> Result<SigningKey, SignKeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), seed.as_mut_slice()).map_err(|_| SignKeyError::Hex)?;
        Ok(SigningKey::from_seed(*seed))
    }

    /// The seed as 64 hex characters: secret, for the operator's secret store only.
    pub fn to_secret_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.key.to_bytes()))
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            bytes: self.key.verifying_key().to_bytes(),
        }
    }

    /// Signs `message` (under this crate's context).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(&contextual(message)).to_bytes()
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &SigningKey) -> bool {
        self.public_key() == other.public_key()
    }
}

impl Eq for SigningKey {}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key())
    }
}

impl PublicKey {
    /// A public key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<PublicKey, SignKeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| SignKeyError::NotAKey)?;
        Ok(PublicKey { bytes })
    }

    /// Reads 64 hex characters.
    pub fn from_hex(text: &str) -> Result<PublicKey, SignKeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| SignKeyError::Hex)?;
        PublicKey::from_bytes(bytes)
    }

    /// Its 32 bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        self.bytes
    }

    /// Whether `signature` is this key's signature of `message` (strict RFC 8032 checks).
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.bytes) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(&contextual(message), &signature).is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.bytes))
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

fn contextual(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CONTEXT.len() + message.len());
    out.extend_from_slice(CONTEXT);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_public_key_only() {
        let key = SigningKey::from_seed([7; 32]);
        let other = SigningKey::from_seed([8; 32]);
        let signature = key.sign(b"manifest");
        assert!(key.public_key().verifies(b"manifest", &signature));
        assert!(!key.public_key().verifies(b"manifest!", &signature));
        assert!(!other.public_key().verifies(b"manifest", &signature));
        // Deterministic.
        assert_eq!(signature, key.sign(b"manifest"));
        // Keys read back from their hex.
        let again = SigningKey::from_hex(&key.to_secret_hex()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = PublicKey::from_hex(&key.public_key().to_string()).unwrap();
        assert_eq!(public, key.public_key());
        assert!(!format!("{key:?}").contains(key.to_secret_hex().as_str()));
        assert_eq!(SigningKey::from_hex("abc").unwrap_err(), SignKeyError::Hex);
        assert_eq!(
            PublicKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            SignKeyError::Hex
        );
    }
}
