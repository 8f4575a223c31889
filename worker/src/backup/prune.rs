//! The cron's pruner: deletes what the retention policy (`backups::retention`) lets go, for
//! one user at a time. The cron is the only pruner, and it skips a user whose export is
//! unfinished or failing (objects such an export uploaded are named by no manifest yet). It
//! deletes the manifests the policy no longer keeps first, then the objects no kept manifest
//! names that are older than the grace period, so no remaining manifest ever names a deleted
//! object.

use std::collections::BTreeSet;

use backups::layout::UserLayout;
use backups::manifest::Manifest;
use backups::retention::{self, ListedManifest, ListedObject, RetentionPolicy};
use backups::s3::{self, ListRequest, Operation, S3Config, S3Error};
use serde::Serialize;
use worker::Date;

/// What one user's prune did.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Pruned {
    /// Manifests kept and deleted.
    pub(crate) kept: usize,
    pub(crate) manifests: usize,
    /// Objects deleted.
    pub(crate) objects: usize,
    /// Requests made.
    pub(crate) requests: u32,
}

/// Prunes `user`'s backup, spending at most `budget` requests (none are spent past it; a
/// prune that would need more stops early and the next pass goes on).
pub(crate) async fn prune_user(
    s3: &S3Config,
    user: &str,
    policy: &RetentionPolicy,
    budget: u32,
) -> Result<Pruned, String> {
    let layout = UserLayout::new(user);
    let mut pruned = Pruned::default();
    let listed = list(s3, &layout.manifests(), &mut pruned).await?;
    let manifests: Vec<ListedManifest> = listed
        .iter()
        .filter_map(|o| {
            layout.parse_manifest_key(&o.key)?;
            Some(ListedManifest {
                key: o.key.clone(),
                created_ms: o
                    .last_modified_ms
                    .unwrap_or_else(|| Date::now().as_millis()),
            })
        })
        .collect();
    let now = Date::now().as_millis();
    let kept = retention::manifests_to_keep(&manifests, policy, now);
    pruned.kept = kept.len();
    if pruned.requests + kept.len() as u32 + 2 > budget {
        return Err(format!(
            "pruning needs more than the {budget} requests left in this run ({} kept manifests)",
            kept.len()
        ));
    }
    let mut read = Vec::with_capacity(kept.len());
    for key in &kept {
        let bytes = get(s3, key, &mut pruned)
            .await?
            .ok_or_else(|| format!("manifest {key} vanished while it was read"))?;
        read.push(Manifest::decode(&bytes).map_err(|e| format!("manifest {key}: {e}"))?);
    }
    let named: BTreeSet<String> = retention::named_by(&read);
    let mut objects = Vec::new();
    for prefix in [layout.segments(), layout.packs()] {
        for listed in list(s3, &prefix, &mut pruned).await? {
            objects.push(ListedObject {
                key: listed.key,
                written_ms: listed.last_modified_ms,
            });
        }
    }
    let plan = retention::prune_plan(&manifests, &named, &objects, policy, now);
    for key in plan.manifests.iter().chain(&plan.objects) {
        if pruned.requests >= budget {
            break;
        }
        delete(s3, key, &mut pruned).await?;
        if plan.manifests.contains(key) {
            pruned.manifests += 1;
        } else {
            pruned.objects += 1;
        }
    }
    Ok(pruned)
}

async fn list(
    s3: &S3Config,
    prefix: &str,
    pruned: &mut Pruned,
) -> Result<Vec<s3::ListedObject>, String> {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let request = ListRequest {
            prefix: prefix.to_owned(),
            continuation_token: token.take(),
            ..ListRequest::default()
        };
        let signed = s3
            .list_objects_v2(&request, Date::now().as_millis())
            .map_err(|e| e.to_string())?;
        let response = super::send(signed).await.map_err(|e| e.to_string())?;
        pruned.requests += 1;
        let page = s3::parse_list(&response).map_err(|e| e.to_string())?;
        objects.extend(page.objects);
        match page.next_continuation_token {
            Some(next) if page.is_truncated => token = Some(next),
            _ => return Ok(objects),
        }
    }
}

async fn get(s3: &S3Config, key: &str, pruned: &mut Pruned) -> Result<Option<Vec<u8>>, String> {
    let request = s3
        .get_object(key, Date::now().as_millis())
        .map_err(|e| e.to_string())?;
    let response = super::send(request).await.map_err(|e| e.to_string())?;
    pruned.requests += 1;
    match s3::check(&response, Operation::GetObject, key) {
        Ok(()) => Ok(Some(response.body)),
        Err(S3Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err.to_string()),
    }
}

async fn delete(s3: &S3Config, key: &str, pruned: &mut Pruned) -> Result<(), String> {
    let request = s3
        .delete_object(key, Date::now().as_millis())
        .map_err(|e| e.to_string())?;
    let response = super::send(request).await.map_err(|e| e.to_string())?;
    pruned.requests += 1;
    match s3::check(&response, Operation::DeleteObject, key) {
        Ok(()) | Err(S3Error::NotFound { .. }) => Ok(()),
        Err(err) => Err(err.to_string()),
    }
}
