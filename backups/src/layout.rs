//! Where a user's backup lives in the bucket: the keys of manifests, segments and packs.
//!
//! ```text
//! users/<user>/manifests/<u64::MAX - head seq, 20 digits>-<u64::MAX - created ms, 20 digits>-<manifest blake3>.cbor
//! users/<user>/segments/<first seq, 20 digits>-<last seq, 20 digits>-<blake3>.cbor
//! users/<user>/packs/<blake3>.pack
//! ```
//!
//! Every object is named by its content, written once and never overwritten; there is no
//! mutable "latest" key. Manifest names count down (by head seq, then by creation time), so
//! listing `manifests/` returns the newest first (one request with `max-keys=1` finds it), also
//! when a repaired backup is written again at the same head. Everything of one user is under
//! one prefix, so a user's backup can be listed, restored or erased alone. The user id is
//! kept as it is when it is made of `A-Z a-z 0-9 . _ -` (GitHub ids are digits) and
//! percent-encoded otherwise.

use engine::Hash;

/// The keys of one user's backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLayout {
    prefix: String,
}

/// The kind of an object in a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A run of log events, the engine's segment bytes.
    Segment,
    /// Note contents packed together.
    Pack,
}

impl UserLayout {
    /// The layout of `user`'s backup.
    pub fn new(user: &str) -> UserLayout {
        UserLayout {
            prefix: format!("users/{}/", encode_user(user)),
        }
    }

    /// Everything of this user: `users/<user>/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The prefix of the user's manifests.
    pub fn manifests(&self) -> String {
        format!("{}manifests/", self.prefix)
    }

    /// The prefix of the user's segments.
    pub fn segments(&self) -> String {
        format!("{}segments/", self.prefix)
    }

    /// The prefix of the user's packs.
    pub fn packs(&self) -> String {
        format!("{}packs/", self.prefix)
    }

    /// The key of the manifest at `head_seq`, written at `created_ms`, whose bytes hash to
    /// `digest`.
    pub fn manifest_key(&self, head_seq: u64, created_ms: u64, digest: &Hash) -> String {
        format!(
            "{}{:020}-{:020}-{}.cbor",
            self.manifests(),
            u64::MAX - head_seq,
            u64::MAX - created_ms,
            digest.to_hex()
        )
    }

    /// Reads a key listed under [`UserLayout::manifests`]: the head seq and digest it names.
    pub fn parse_manifest_key(&self, key: &str) -> Option<(u64, Hash)> {
        let name = key.strip_prefix(&self.manifests())?.strip_suffix(".cbor")?;
        let mut parts = name.split('-');
        let (seq, created, digest) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let inverted = |text: &str| -> Option<u64> {
            if text.len() != 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse::<u64>().ok().map(|n| u64::MAX - n)
        };
        inverted(created)?;
        Some((inverted(seq)?, parse_digest(digest)?))
    }

    /// The key of the segment `first..=last` whose bytes hash to `digest`.
    pub fn segment_key(&self, first: u64, last: u64, digest: &Hash) -> String {
        format!(
            "{}{first:020}-{last:020}-{}.cbor",
            self.segments(),
            digest.to_hex()
        )
    }

    /// The key of the pack whose bytes hash to `digest`.
    pub fn pack_key(&self, digest: &Hash) -> String {
        format!("{}{}.pack", self.packs(), digest.to_hex())
    }

    /// Whether `key` belongs to this user's backup.
    pub fn owns(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }
}

/// The user whose prefix (`users/<user>/`, as a listing with delimiter `/` returns it) this
/// is; `None` for anything else.
pub fn user_of_prefix(prefix: &str) -> Option<String> {
    let segment = prefix.strip_prefix("users/")?.strip_suffix('/')?;
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    if segment == "%" {
        return Some(String::new());
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let user = String::from_utf8(out).ok()?;
    (UserLayout::new(&user).prefix() == prefix).then_some(user)
}

/// Lowercase hex of 64 characters as a hash.
fn parse_digest(text: &str) -> Option<Hash> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Hash::from_hex(text).ok()
}

/// The user id as one key segment: kept when it is made of `A-Z a-z 0-9 . _ -` (and is not
/// `.` or `..`), percent-encoded otherwise.
fn encode_user(user: &str) -> String {
    let plain = !user.is_empty()
        && user != "."
        && user != ".."
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        return user.to_owned();
    }
    let mut out = String::with_capacity(user.len() * 3);
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        // The empty user id still gets a segment of its own.
        out.push('%');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_user_the_content_and_sort_newest_manifest_first() {
        let layout = UserLayout::new("1001");
        let d = Hash::of(b"x");
        assert_eq!(layout.prefix(), "users/1001/");
        assert_eq!(
            layout.segment_key(3, 17, &d),
            format!(
                "users/1001/segments/00000000000000000003-00000000000000000017-{}.cbor",
                d.to_hex()
            )
        );
        assert_eq!(
            layout.pack_key(&d),
            format!("users/1001/packs/{}.pack", d.to_hex())
        );
        let older = layout.manifest_key(9, 5_000, &d);
        let newer = layout.manifest_key(10, 4_000, &d);
        let repaired = layout.manifest_key(10, 6_000, &Hash::of(b"y"));
        assert!(newer < older, "listing order is newest first");
        assert!(repaired < newer, "at one head, the later one first");
        assert_eq!(layout.parse_manifest_key(&newer), Some((10, d)));
        assert_eq!(
            layout.parse_manifest_key(&layout.manifest_key(0, 0, &d)),
            Some((0, d))
        );
        for stray in [
            "users/1001/manifests/x.cbor".to_owned(),
            format!(
                "users/1002/manifests/{:020}-{:020}-{}.cbor",
                1,
                2,
                d.to_hex()
            ),
            format!("users/1001/manifests/{}-{:020}-{}.cbor", 1, 2, d.to_hex()),
            format!("users/1001/manifests/{:020}-{}-{}.cbor", 1, 2, d.to_hex()),
            format!("users/1001/manifests/{:020}-{}.cbor", 1, d.to_hex()),
            format!(
                "users/1001/manifests/{:020}-{:020}-{:020}-{}.cbor",
                1,
                2,
                3,
                d.to_hex()
            ),
            format!(
                "users/1001/manifests/{:020}-{:020}-{}.txt",
                1,
                2,
                d.to_hex()
            ),
            format!(
                "users/1001/manifests/{:020}-{:020}-{}.cbor",
                1,
                2,
                d.to_hex().to_uppercase()
            ),
        ] {
            assert_eq!(layout.parse_manifest_key(&stray), None, "{stray}");
        }
    }

    #[test]
    fn user_ids_become_one_safe_key_segment() {
        assert_eq!(UserLayout::new("local-dev").prefix(), "users/local-dev/");
        assert_eq!(UserLayout::new("a/b").prefix(), "users/a%2Fb/");
        assert_eq!(UserLayout::new("..").prefix(), "users/%2E%2E/");
        assert_eq!(UserLayout::new("").prefix(), "users/%/");
        assert_eq!(UserLayout::new("é").prefix(), "users/%C3%A9/");
        for user in ["1001", "local-dev", "a/b", "..", "", "é", "50%"] {
            let layout = UserLayout::new(user);
            assert_eq!(user_of_prefix(layout.prefix()).as_deref(), Some(user));
        }
        for stray in [
            "users/",
            "users//",
            "users/a/b/",
            "other/a/",
            "users/%ZZ/",
            "users/%2/",
        ] {
            assert_eq!(user_of_prefix(stray), None, "{stray}");
        }
        // Distinct users never share a prefix, and no prefix contains another's.
        let a = UserLayout::new("a");
        assert!(!a.owns("users/ab/x") && a.owns("users/a/x"));
    }
}
