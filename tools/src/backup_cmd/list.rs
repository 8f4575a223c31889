//! `second-brain backup list`: every backup (manifest) of a user, newest first.

use anyhow::Result;
use backups::layout::UserLayout;
use serde::Serialize;

use super::bucket::Bucket;
use super::{Failure, S3Args, human_bytes, rfc3339};

/// Arguments of `backup list`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The user whose backups to list (the GitHub user id the Worker names them by).
    #[arg(long)]
    user: String,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    s3: S3Args,
}

/// One backup as listed.
#[derive(Debug, Serialize)]
struct Row {
    /// When the export finished, RFC 3339 UTC.
    created: String,
    head_seq: u64,
    notes: u64,
    /// The size of the objects the manifest names.
    bytes: u64,
    /// The age recipient its objects are sealed to (`None`: plain).
    sealed_to: Option<String>,
    /// The ed25519 key (hex) whose valid signature it carries (`None`: unsigned). Listing
    /// checks the signature, not whom it is from: `backup verify --signing-public-key` does.
    signed_by: Option<String>,
    key: String,
}

/// Lists the manifests; none is [`Failure::NothingFound`] (exit 3).
pub(crate) fn run(args: &Args) -> Result<()> {
    let mut bucket = Bucket::new(args.s3.config()?)?;
    let layout = UserLayout::new(&args.user);
    let listed = bucket.manifests(&layout)?;
    if listed.is_empty() {
        return Err(Failure::NothingFound(format!(
            "no backups for user {} (nothing under {})",
            args.user,
            layout.manifests()
        ))
        .into());
    }
    let mut rows = Vec::with_capacity(listed.len());
    for entry in &listed {
        let opened = bucket.opened(entry)?;
        let manifest = &opened.manifest;
        rows.push(Row {
            created: rfc3339(manifest.created_ms),
            head_seq: manifest.head.seq,
            notes: manifest.notes,
            bytes: manifest.object_bytes(),
            sealed_to: manifest.encryption.as_ref().map(|e| e.recipient.clone()),
            signed_by: opened.signer.map(|key| key.to_string()),
            key: entry.key.clone(),
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<24} {:>10} {:>8} {:>10}  {:<6} {:<6}  key",
        "created", "head seq", "notes", "size", "sealed", "signed"
    );
    let yes_no = |set: bool| if set { "yes" } else { "no" };
    for row in &rows {
        println!(
            "{:<24} {:>10} {:>8} {:>10}  {:<6} {:<6}  {}",
            row.created,
            row.head_seq,
            row.notes,
            human_bytes(row.bytes),
            yes_no(row.sealed_to.is_some()),
            yes_no(row.signed_by.is_some()),
            row.key
        );
    }
    Ok(())
}
