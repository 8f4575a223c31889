//! The keys of sealed and signed backups: `--identity FILE` and `--signing-public-key HEX`
//! for `backup verify` and `restore`, and `backup keygen`, which makes a new pair of each.
//!
//! Secret material is written only where the operator says: to the file of `keygen --out`
//! (created new, readable by its owner only) or, without it, to stdout. It is never logged
//! and never part of an error message.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use backups::seal::Identity;
use backups::sign::{PublicKey, SigningKey};

use super::Failure;

/// Where the signing public key is read from when no flag gives it.
const PUBLIC_KEY_ENV: &str = "BACKUP_SIGNING_PUBLIC_KEY";

/// The keys a reader of sealed or signed backups may need.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct KeyArgs {
    /// An age identity file (`AGE-SECRET-KEY-1...` lines, as `backup keygen` or `age-keygen`
    /// write it): opens a sealed backup.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The ed25519 public key (64 hex characters) that must have signed the manifest; an
    /// unsigned manifest, or one signed by another key, is refused (exit 6).
    #[arg(long, value_name = "HEX", env = PUBLIC_KEY_ENV)]
    signing_public_key: Option<String>,
}

impl KeyArgs {
    /// The identities of `--identity` (none without it).
    pub(crate) fn identities(&self) -> Result<Vec<Identity>, Failure> {
        let Some(path) = &self.identity else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::Settings(format!(
                "--identity {}: cannot read it: {e}",
                path.display()
            ))
        })?;
        Identity::parse_file(&text)
            .map_err(|e| Failure::Settings(format!("--identity {}: {e}", path.display())))
    }

    /// The public key of `--signing-public-key` (or its variable), if given.
    pub(crate) fn public_key(&self) -> Result<Option<PublicKey>, Failure> {
        let Some(text) = self.signing_public_key.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        PublicKey::from_hex(text).map(Some).map_err(|e| {
            Failure::Settings(format!(
                "--signing-public-key (or {PUBLIC_KEY_ENV}) {text:?}: {e}"
            ))
        })
    }
}

/// Arguments of `backup keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Write the new keys, secrets included, to this file (created new, mode 0600) and print
    /// only the public keys. Without it everything is printed to stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Makes a new age identity and a new ed25519 signing key.
pub(crate) fn keygen(args: &KeygenArgs) -> Result<()> {
    let mut secret = [0u8; 64];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut identity_bytes = [0u8; 32];
    let mut seed = [0u8; 32];
    identity_bytes.copy_from_slice(&secret[..32]);
    seed.copy_from_slice(&secret[32..]);
    secret.fill(0);
    let identity = Identity::from_secret_bytes(identity_bytes);
    let signing = SigningKey::from_seed(seed);
    identity_bytes.fill(0);
    seed.fill(0);
    let public = format!(
        "# recipient (Worker var BACKUP_AGE_RECIPIENT): {}\n\
         # signing public key (--signing-public-key, BACKUP_SIGNING_PUBLIC_KEY): {}\n",
        identity.recipient(),
        signing.public_key()
    );
    // An age identity file: the comments are ignored by age and by --identity.
    let secrets = format!(
        "{public}# signing key (Worker secret BACKUP_SIGNING_KEY; keep it out of this file \
         once stored): {}\n{}\n",
        signing.to_secret_hex().as_str(),
        identity.to_secret_string().as_str()
    );
    let secrets = zeroize::Zeroizing::new(secrets);
    match &args.out {
        None => print!("{}", secrets.as_str()),
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
            file.write_all(secrets.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            print!("{public}");
            println!("# secrets written to {}", path.display());
        }
    }
    Ok(())
}
