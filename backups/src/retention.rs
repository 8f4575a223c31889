//! Retention: which of a user's backups are kept, and which objects may then be deleted.
//!
//! Kept ([`RetentionPolicy`], defaults in brackets): every manifest younger than `keep_all`
//! [7 days]; the newest of each UTC day younger than `daily` [30 days]; of each week
//! (Monday to Sunday) younger than `weekly` [12 weeks]; of each month younger than `monthly`
//! [12 months]; and always the newest manifest. An object (segment or pack) may be deleted when
//! no kept manifest names it and it was written more than `grace` [48 hours] ago. The grace
//! protects what an export in progress has uploaded but not yet named in a manifest; the
//! caller also skips users whose export is unfinished or failing, and the cron is the only
//! pruner. Nothing here deletes anything: [`prune_plan`] says what may go.

use std::collections::BTreeSet;

use crate::manifest::Manifest;

const DAY_MS: u64 = 86_400_000;

/// How long backups are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Every manifest younger than this is kept.
    pub keep_all_ms: u64,
    /// The newest of each day younger than this is kept.
    pub daily_ms: u64,
    /// The newest of each week younger than this is kept.
    pub weekly_ms: u64,
    /// The newest of each month younger than this is kept.
    pub monthly_ms: u64,
    /// Unreferenced objects younger than this are never deleted.
    pub grace_ms: u64,
}

impl RetentionPolicy {
    /// The default grace period: 48 hours.
    pub const DEFAULT_GRACE_MS: u64 = 2 * DAY_MS;
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            keep_all_ms: 7 * DAY_MS,
            daily_ms: 30 * DAY_MS,
            weekly_ms: 84 * DAY_MS,
            monthly_ms: 365 * DAY_MS,
            grace_ms: Self::DEFAULT_GRACE_MS,
        }
    }
}

/// Why a retention setting could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "retention {0:?}: expected space-separated NAME:DURATION with names all, daily, weekly, monthly, grace and durations like 48h, 30d, 12w"
)]
pub struct RetentionParseError(pub String);

impl RetentionPolicy {
    /// Reads a policy written as `all:7d daily:30d weekly:12w monthly:365d grace:48h` (the
    /// defaults); names left out keep their default. Units: `h`, `d`, `w`.
    pub fn parse(text: &str) -> Result<RetentionPolicy, RetentionParseError> {
        let bad = || RetentionParseError(text.to_owned());
        let mut policy = RetentionPolicy::default();
        for item in text.split_whitespace() {
            let (name, duration) = item.split_once(':').ok_or_else(bad)?;
            let (number, unit) = duration.split_at(duration.len().saturating_sub(1));
            let number: u64 = number.parse().map_err(|_| bad())?;
            let unit_ms = match unit {
                "h" => 3_600_000,
                "d" => DAY_MS,
                "w" => 7 * DAY_MS,
                _ => return Err(bad()),
            };
            let ms = number.checked_mul(unit_ms).ok_or_else(bad)?;
            match name {
                "all" => policy.keep_all_ms = ms,
                "daily" => policy.daily_ms = ms,
                "weekly" => policy.weekly_ms = ms,
                "monthly" => policy.monthly_ms = ms,
                "grace" => policy.grace_ms = ms,
                _ => return Err(bad()),
            }
        }
        Ok(policy)
    }
}

/// A manifest as the pruner knows it before reading it: its key and creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedManifest {
    /// Its key.
    pub key: String,
    /// When it was written (unix milliseconds; the listing's `LastModified`, or the
    /// manifest's `created_ms`).
    pub created_ms: u64,
}

/// An object in the user's prefix as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key.
    pub key: String,
    /// When it was written (unix milliseconds); unknown counts as just now.
    pub written_ms: Option<u64>,
}

/// What may be deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePlan {
    /// Manifests the policy no longer keeps.
    pub manifests: Vec<String>,
    /// Objects no kept manifest names, past the grace period.
    pub objects: Vec<String>,
}

/// The keys of the manifests `policy` keeps at `now_ms`.
pub fn manifests_to_keep(
    manifests: &[ListedManifest],
    policy: &RetentionPolicy,
    now_ms: u64,
) -> BTreeSet<String> {
    let mut newest_first: Vec<&ListedManifest> = manifests.iter().collect();
    newest_first.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.key.cmp(&a.key)));
    let mut kept = BTreeSet::new();
    let mut buckets = BTreeSet::new();
    for (i, manifest) in newest_first.iter().enumerate() {
        let age = now_ms.saturating_sub(manifest.created_ms);
        let day = manifest.created_ms / DAY_MS;
        let bucket = if age <= policy.keep_all_ms {
            None
        } else if age <= policy.daily_ms {
            Some((0u8, day))
        } else if age <= policy.weekly_ms {
            // 1970-01-01 was a Thursday: shifting by 3 days starts weeks on Mondays.
            Some((1, (day + 3) / 7))
        } else if age <= policy.monthly_ms {
            Some((2, month_of(day)))
        } else if i == 0 {
            None
        } else {
            continue;
        };
        // The newest manifest of each bucket is the first one seen; the newest of all is
        // always kept.
        let first_of_bucket = bucket.is_none_or(|b| buckets.insert(b));
        if first_of_bucket || i == 0 {
            kept.insert(manifest.key.clone());
        }
    }
    kept
}

/// The keys of every object the `manifests` name.
pub fn named_by(manifests: &[Manifest]) -> BTreeSet<String> {
    manifests
        .iter()
        .flat_map(|m| m.objects().map(|(key, _, _)| key.to_owned()))
        .collect()
}

/// What may be deleted from a user's prefix: the manifests the policy does not keep, and the
/// objects that no kept manifest names (`named`: [`named_by`] the kept manifests, read),
/// written more than the grace ago.
pub fn prune_plan(
    manifests: &[ListedManifest],
    named: &BTreeSet<String>,
    objects: &[ListedObject],
    policy: &RetentionPolicy,
    now_ms: u64,
) -> PrunePlan {
    let kept = manifests_to_keep(manifests, policy, now_ms);
    PrunePlan {
        manifests: manifests
            .iter()
            .filter(|m| !kept.contains(&m.key))
            .map(|m| m.key.clone())
            .collect(),
        objects: objects
            .iter()
            .filter(|o| !named.contains(&o.key))
            .filter(|o| {
                o.written_ms
                    .is_some_and(|w| now_ms.saturating_sub(w) > policy.grace_ms)
            })
            .map(|o| o.key.clone())
            .collect(),
    }
}

/// The month (years * 12 + month) of a day since the epoch.
fn month_of(day: u64) -> u64 {
    // Howard Hinnant's civil-from-days, for days after the epoch.
    let z = day + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    year * 12 + month
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;
    /// 2026-12-06T00:00:00Z, a Sunday.
    const NOW: u64 = 1_796_515_200_000;

    fn listed(ages_hours: &[u64]) -> Vec<ListedManifest> {
        ages_hours
            .iter()
            .map(|age| ListedManifest {
                key: format!("m-{age}"),
                created_ms: NOW - age * HOUR,
            })
            .collect()
    }

    #[test]
    fn a_policy_reads_from_text_and_defaults_fill_the_rest() {
        assert_eq!(RetentionPolicy::parse(""), Ok(RetentionPolicy::default()));
        let policy = RetentionPolicy::parse("all:2d grace:12h weekly:4w").unwrap();
        assert_eq!(policy.keep_all_ms, 2 * DAY_MS);
        assert_eq!(policy.grace_ms, 12 * HOUR);
        assert_eq!(policy.weekly_ms, 28 * DAY_MS);
        assert_eq!(policy.daily_ms, 30 * DAY_MS);
        for bad in [
            "all",
            "all:7",
            "all:7y",
            "every:1d",
            "all:xd",
            "all:99999999999999999w",
        ] {
            assert!(RetentionPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_follow_the_calendar() {
        // 2026-01-31 and 2026-02-01.
        let jan31 = 1_769_817_600_000 / DAY_MS;
        assert_eq!(month_of(jan31), 2026 * 12 + 1);
        assert_eq!(month_of(jan31 + 1), 2026 * 12 + 2);
        assert_eq!(month_of(0), 1970 * 12 + 1);
    }

    #[test]
    fn the_policy_keeps_all_then_one_a_day_a_week_a_month_and_always_the_newest() {
        let policy = RetentionPolicy::default();
        // Hourly for the last 10 days.
        let ages: Vec<u64> = (0..240).collect();
        let kept = manifests_to_keep(&listed(&ages), &policy, NOW);
        // 7 days of every hour (0..=168), then one a day for days 8, 9 and the part of 7.
        assert!(kept.contains("m-0") && kept.contains("m-168"));
        let older: Vec<u64> = (169..240)
            .filter(|a| kept.contains(&format!("m-{a}")))
            .collect();
        assert_eq!(older.len(), 3, "{older:?}");
        // One a week past 30 days, one a month past 12 weeks, nothing past a year.
        let sparse = listed(&[24 * 40, 24 * 41, 24 * 100, 24 * 101, 24 * 400]);
        let kept = manifests_to_keep(&sparse, &policy, NOW);
        assert!(kept.contains("m-960"), "day 40 is the newest of its week");
        assert!(
            !kept.contains("m-984"),
            "day 41 is in the same week (a Tuesday and a Monday)"
        );
        assert!(kept.contains("m-2400"));
        assert!(!kept.contains("m-9600"));
        // The newest is kept however old.
        let ancient = listed(&[24 * 500, 24 * 600]);
        assert_eq!(
            manifests_to_keep(&ancient, &policy, NOW),
            BTreeSet::from(["m-12000".to_owned()])
        );
    }
}
