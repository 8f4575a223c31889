//! The scopes a token can carry: `notes:read` and `notes:write`.
//!
//! Both are in `scopes_supported`, so a client that follows the MCP scope-selection strategy
//! (no `scope` in the challenge: request everything in `scopes_supported`) asks for both; a
//! request without `scope` gets both too. Unknown scopes are refused with `invalid_scope`
//! rather than silently dropped, so a client never believes it holds a scope it does not.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read notes, history and search.
    NotesRead,
    /// Create, edit, revert and delete notes.
    NotesWrite,
}

impl Scope {
    /// Every scope, in the order they are written.
    pub const ALL: [Scope; 2] = [Scope::NotesRead, Scope::NotesWrite];

    /// The scope token.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::NotesRead => "notes:read",
            Scope::NotesWrite => "notes:write",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::NotesRead => 1,
            Scope::NotesWrite => 2,
        }
    }
}

/// A set of scopes; written as space-separated tokens (RFC 6749 section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u8);

/// A `scope` value we cannot grant.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

impl ScopeSet {
    /// No scope.
    pub const EMPTY: ScopeSet = ScopeSet(0);
    /// Every scope we support.
    pub const ALL: ScopeSet = ScopeSet(3);

    /// The set holding exactly `scope`.
    pub fn only(scope: Scope) -> Self {
        ScopeSet(scope.bit())
    }

    /// Parses a space-separated `scope` value. Repeated tokens are fine; an empty value is the
    /// empty set; any unknown token is an error.
    pub fn parse(value: &str) -> Result<Self, UnknownScope> {
        let mut set = ScopeSet::EMPTY;
        for token in value.split(' ').filter(|token| !token.is_empty()) {
            let scope = Scope::ALL
                .into_iter()
                .find(|scope| scope.as_str() == token)
                .ok_or_else(|| UnknownScope(token.chars().take(64).collect()))?;
            set.0 |= scope.bit();
        }
        Ok(set)
    }

    /// The scope a request asked for: `None` or empty means everything we support.
    pub fn requested(value: Option<&str>) -> Result<Self, UnknownScope> {
        match value.map(ScopeSet::parse).transpose()? {
            None | Some(ScopeSet::EMPTY) => Ok(ScopeSet::ALL),
            Some(set) => Ok(set),
        }
    }

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes, in order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.contains(*scope))
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ScopeSet::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write() {
        let both = ScopeSet::parse("notes:write  notes:read notes:read").unwrap();
        assert_eq!(both, ScopeSet::ALL);
        assert_eq!(both.to_string(), "notes:read notes:write");
        assert_eq!(ScopeSet::parse("").unwrap(), ScopeSet::EMPTY);
        assert_eq!(
            ScopeSet::parse("notes:read openid"),
            Err(UnknownScope("openid".into()))
        );
        let read = ScopeSet::only(Scope::NotesRead);
        assert!(read.is_subset_of(ScopeSet::ALL));
        assert!(!ScopeSet::ALL.is_subset_of(read));
        assert!(read.contains(Scope::NotesRead) && !read.contains(Scope::NotesWrite));
        assert!(ScopeSet::EMPTY.is_empty());
    }

    #[test]
    fn absent_or_empty_request_means_everything() {
        assert_eq!(ScopeSet::requested(None).unwrap(), ScopeSet::ALL);
        assert_eq!(ScopeSet::requested(Some(" ")).unwrap(), ScopeSet::ALL);
        assert_eq!(
            ScopeSet::requested(Some("notes:read")).unwrap(),
            ScopeSet::only(Scope::NotesRead)
        );
    }

    #[test]
    fn serde_round_trip_as_a_string() {
        let json = serde_json::to_string(&ScopeSet::ALL).unwrap();
        assert_eq!(json, "\"notes:read notes:write\"");
        assert_eq!(
            serde_json::from_str::<ScopeSet>(&json).unwrap(),
            ScopeSet::ALL
        );
        assert!(serde_json::from_str::<ScopeSet>("\"admin\"").is_err());
    }
}
