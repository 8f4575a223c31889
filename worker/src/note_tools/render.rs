//! Shapes shared by several tools' results: file entries and timestamps.

use engine::Timestamp;
use engine::files::FileEntry;
use serde_json::{Value, json};

/// A `file_entry` of the glob and recent output schemas.
pub(super) fn file_entry(path: &str, entry: &FileEntry) -> Value {
    json!({
        "path": path,
        "version": entry.version,
        "size": entry.size,
        "modified": rfc3339(entry.modified),
    })
}

/// `time` as an RFC 3339 UTC timestamp with milliseconds, e.g. `2026-08-01T10:00:00.000Z`.
pub(crate) fn rfc3339(time: Timestamp) -> String {
    let ms = time.0;
    let secs = ms / 1000;
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`
/// algorithm, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Timestamp(951_782_400_000 + 1)),
            "2000-02-29T00:00:00.001Z"
        );
        assert_eq!(
            rfc3339(Timestamp(1_785_578_400_123)),
            "2026-08-01T10:00:00.123Z"
        );
        assert_eq!(
            rfc3339(Timestamp(4_102_444_799_999)),
            "2099-12-31T23:59:59.999Z"
        );
    }
}
