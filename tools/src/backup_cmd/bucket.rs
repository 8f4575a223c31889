//! The backup bucket, read with blocking requests: listing a user's manifests, reading and
//! checking one, getting and heading objects. Each failure becomes a [`Failure`] with the exit
//! code the operator needs: a missing object is `None` (the caller knows whether that is
//! damage), S3 refusing or not answering is [`Failure::S3`].

use std::time::{SystemTime, UNIX_EPOCH};

use backups::layout::UserLayout;
use backups::manifest::{Manifest, Opened};
use backups::s3::{self, BlockingHttp, ListAllError, Operation, S3Config, S3Error};
use backups::sign::PublicKey;
use engine::Hash;
use second_brain_tools::s3_http::S3Http;

use super::Failure;

/// A bucket and a client for it.
#[derive(Debug)]
pub(crate) struct Bucket {
    http: S3Http,
    config: S3Config,
}

/// A manifest as listed: its key and what the key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedManifest {
    /// The key.
    pub(crate) key: String,
    /// The head seq its name carries.
    pub(crate) head_seq: u64,
    /// The blake3 its name carries: the digest of its bytes.
    pub(crate) digest: Hash,
}

/// The time to sign with: the CLI runs natively, so the system clock.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Bucket {
    /// A client for the bucket in `config`.
    pub(crate) fn new(config: S3Config) -> anyhow::Result<Bucket> {
        Ok(Bucket {
            http: S3Http::new()?,
            config,
        })
    }

    fn unreachable(&self, what: &str, error: &dyn std::fmt::Display) -> Failure {
        Failure::S3(format!(
            "{what}: S3 at {} did not answer: {error}",
            self.config.endpoint
        ))
    }

    /// Every manifest of `layout`'s user, newest first (the order of their names).
    pub(crate) fn manifests(
        &mut self,
        layout: &UserLayout,
    ) -> Result<Vec<ListedManifest>, Failure> {
        let prefix = layout.manifests();
        let listed = s3::list_all(&mut self.http, &self.config, &prefix, now_ms).map_err(
            |error| match error {
                ListAllError::Transport(e) => self.unreachable("listing the manifests", &e),
                other => Failure::S3(format!(
                    "listing {prefix} in bucket {}: {other}",
                    self.config.bucket
                )),
            },
        )?;
        let mut manifests: Vec<ListedManifest> = listed
            .iter()
            .filter_map(|object| {
                let (head_seq, digest) = layout.parse_manifest_key(&object.key)?;
                Some(ListedManifest {
                    key: object.key.clone(),
                    head_seq,
                    digest,
                })
            })
            .collect();
        manifests.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(manifests)
    }

    /// Reads a listed manifest and checks that its bytes are the ones its name promises and,
    /// with `trusted`, that this key signed it ([`Failure::Keys`] otherwise).
    pub(crate) fn manifest(
        &mut self,
        listed: &ListedManifest,
        trusted: Option<&PublicKey>,
    ) -> Result<Manifest, Failure> {
        self.opened(listed)?
            .trusted(trusted)
            .map_err(|e| Failure::Keys(format!("manifest {}: {e}", listed.key)))
    }

    /// Reads a listed manifest and checks that its bytes are the ones its name promises;
    /// says who signed it, without requiring anyone.
    pub(crate) fn opened(&mut self, listed: &ListedManifest) -> Result<Opened, Failure> {
        let Some(bytes) = self.get(&listed.key)? else {
            return Err(Failure::Damaged(format!(
                "manifest {} vanished after it was listed",
                listed.key
            )));
        };
        let actual = Hash::of(&bytes);
        if actual != listed.digest {
            return Err(Failure::Damaged(format!(
                "manifest {} is altered: its bytes hash to {actual}",
                listed.key
            )));
        }
        Manifest::open(&bytes)
            .map_err(|e| Failure::Damaged(format!("manifest {} is unreadable: {e}", listed.key)))
    }

    /// The bytes of `key`, or `None` when there is no such object.
    pub(crate) fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, Failure> {
        let request = self
            .config
            .get_object(key, now_ms())
            .map_err(|e| Failure::Settings(format!("cannot sign a request for {key}: {e}")))?;
        let response = self
            .http
            .send(request)
            .map_err(|e| self.unreachable(&format!("GetObject of {key}"), &e))?;
        match s3::check(&response, Operation::GetObject, key) {
            Ok(()) => Ok(Some(response.body)),
            Err(S3Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(Failure::S3(other.to_string())),
        }
    }

    /// The size of `key`, or `None` when there is no such object.
    pub(crate) fn head(&mut self, key: &str) -> Result<Option<u64>, Failure> {
        let request = self
            .config
            .head_object(key, now_ms())
            .map_err(|e| Failure::Settings(format!("cannot sign a request for {key}: {e}")))?;
        let response = self
            .http
            .send(request)
            .map_err(|e| self.unreachable(&format!("HeadObject of {key}"), &e))?;
        match s3::check(&response, Operation::HeadObject, key) {
            Ok(()) => {
                let length = response
                    .header("content-length")
                    .and_then(|v| v.parse().ok());
                length.map(Some).ok_or_else(|| {
                    Failure::S3(format!(
                        "HeadObject of {key}: no Content-Length in the answer"
                    ))
                })
            }
            Err(S3Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(Failure::S3(other.to_string())),
        }
    }
}
