//! MCP protocol revisions: which ones we speak, how one is chosen, and what each one has.
//!
//! Every difference between revisions that the rest of [`crate::mcp`] depends on is a method on
//! [`ProtocolVersion`], so correcting our reading of a revision means changing one match arm.
//!
//! # Choosing a version
//! - Handshake era (2024-11-05 to 2025-11-25): the client names a version in `initialize`. If
//!   we speak it we answer with the same one; otherwise we answer with the newest version that
//!   has a handshake, [`ProtocolVersion::LATEST_HANDSHAKE`] (lifecycle pages, "Version
//!   Negotiation": reply with the same version when supported, else another supported version,
//!   preferably the latest). See [`ProtocolVersion::negotiate`].
//! - Stateless era (2026-07-28): there is no handshake; each request names its version and an
//!   unsupported one is refused with `UnsupportedProtocolVersion` (-32022) listing
//!   [`ProtocolVersion::ALL`] (2026-07-28 versioning page). See
//!   [`ProtocolVersion::unsupported_error`].
//! - Over HTTP, a request without `MCP-Protocol-Version` whose version cannot be learned
//!   otherwise (no session) is taken as [`ProtocolVersion::ASSUMED_WITHOUT_HEADER`], 2025-03-26
//!   (2025-06-18 transports page; the 2026-07-28 page allows the same for servers that keep
//!   serving older clients, which we do).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use super::jsonrpc::{ErrorCode, ErrorObject};

/// A revision of the Model Context Protocol that this server speaks. Ordered by date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 2024-11-05: first revision. Its own HTTP transport was HTTP+SSE; we serve its clients
    /// through Streamable HTTP, with the 2025-03-26 transport rules.
    V2024_11_05,
    /// 2025-03-26: Streamable HTTP, sessions, JSON-RPC batches, tool annotations.
    V2025_03_26,
    /// 2025-06-18: no batches, `MCP-Protocol-Version` header, structured tool output, titles.
    V2025_06_18,
    /// 2025-11-25: SSE priming and polling, 403 for bad origins, input errors as tool results.
    V2025_11_25,
    /// 2026-07-28: stateless. No handshake, no sessions, no GET stream, no resumption;
    /// version and client capabilities travel in every request's `_meta`.
    V2026_07_28,
}

/// Which lifecycle a revision follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` handshake, then a session (`MCP-Session-Id` over HTTP).
    Handshake,
    /// Every request stands alone and carries its own version and capabilities.
    Stateless,
}

/// A version string we do not speak.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unsupported MCP protocol version {0:?}")]
pub struct UnsupportedVersion(pub String);

impl ProtocolVersion {
    /// Every version we speak, newest first (the order `supported` lists use).
    pub const ALL: [ProtocolVersion; 5] = [
        ProtocolVersion::V2026_07_28,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2024_11_05,
    ];
    /// The newest version we speak.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2026_07_28;
    /// The newest version with an `initialize` handshake: the answer to an `initialize` that
    /// asks for a version we do not speak (or for a stateless one, which has no handshake).
    pub const LATEST_HANDSHAKE: ProtocolVersion = ProtocolVersion::V2025_11_25;
    /// The version assumed for an HTTP request without `MCP-Protocol-Version` when nothing
    /// else (such as its session) tells us its version.
    pub const ASSUMED_WITHOUT_HEADER: ProtocolVersion = ProtocolVersion::V2025_03_26;

    /// The version's wire form, e.g. `"2025-06-18"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// Parses an exact version string (no trimming, no other spellings).
    pub fn parse(value: &str) -> Result<Self, UnsupportedVersion> {
        Self::ALL
            .into_iter()
            .find(|version| version.as_str() == value)
            .ok_or_else(|| UnsupportedVersion(value.to_owned()))
    }

    /// The version to answer an `initialize` that asks for `requested`: the same version when
    /// we speak it and it has a handshake, else [`Self::LATEST_HANDSHAKE`].
    pub fn negotiate(requested: &str) -> Self {
        match Self::parse(requested) {
            Ok(version) if version.era() == Era::Handshake => version,
            _ => Self::LATEST_HANDSHAKE,
        }
    }

    /// The JSON-RPC error for a request naming a version we do not speak: code -32022 with
    /// `data: {supported, requested}` (2026-07-28 schema, `UnsupportedProtocolVersionError`).
    /// Older revisions define no body for this 400, so the same one is used for every era.
    pub fn unsupported_error(requested: &str) -> ErrorObject {
        let supported: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        ErrorObject::new(
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            format!(
                "Unsupported protocol version {requested:?}; supported: {}",
                supported.join(", ")
            ),
        )
        .with_data(serde_json::json!({ "supported": supported, "requested": requested }))
    }

    /// Whether the version has a handshake and sessions, or is stateless.
    pub fn era(self) -> Era {
        if self >= ProtocolVersion::V2026_07_28 {
            Era::Stateless
        } else {
            Era::Handshake
        }
    }

    /// Sessions (`MCP-Session-Id`, 404 for unknown ones, DELETE to end one) exist.
    pub fn has_sessions(self) -> bool {
        self.era() == Era::Handshake
    }

    /// JSON-RPC batches (arrays) may be posted: from JSON-RPC 2.0 itself up to 2025-03-26,
    /// removed in 2025-06-18.
    pub fn allows_batches(self) -> bool {
        self <= ProtocolVersion::V2025_03_26
    }

    /// Clients must send `MCP-Protocol-Version` on requests after `initialize` (2025-06-18 on;
    /// in 2026-07-28 on every POST).
    pub fn requires_version_header(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }

    /// A GET on the MCP endpoint may open a server-to-client SSE stream (gone in 2026-07-28).
    pub fn has_get_stream(self) -> bool {
        self.era() == Era::Handshake
    }

    /// SSE events carry ids and streams resume with `Last-Event-ID` (gone in 2026-07-28).
    pub fn has_resumable_streams(self) -> bool {
        self.era() == Era::Handshake
    }

    /// An SSE stream should open with an event that has an id and empty data, and a server that
    /// closes the connection early sends `retry` first (2025-11-25 only: 2026-07-28 dropped ids).
    pub fn primes_sse_streams(self) -> bool {
        self == ProtocolVersion::V2025_11_25
    }

    /// Tools carry `annotations` (2025-03-26 on).
    pub fn has_tool_annotations(self) -> bool {
        self >= ProtocolVersion::V2025_03_26
    }

    /// `title` on tools and on `Implementation` (2025-06-18 on); before that a tool's display
    /// name goes in `annotations.title`.
    pub fn has_titles(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }

    /// Tools may declare `outputSchema` and results carry `structuredContent` (2025-06-18 on).
    pub fn has_structured_output(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }

    /// `Implementation` has `description`, `websiteUrl` and `icons` (2025-11-25 on).
    pub fn has_implementation_details(self) -> bool {
        self >= ProtocolVersion::V2025_11_25
    }

    /// Bad tool arguments are reported as a tool result with `isError: true` rather than a
    /// JSON-RPC error, so the model can correct itself (2025-11-25 on; before, "invalid
    /// arguments" was listed among protocol errors).
    pub fn reports_argument_errors_in_result(self) -> bool {
        self >= ProtocolVersion::V2025_11_25
    }

    /// Prompt messages (and tool results) may carry `resource_link` content blocks, and
    /// annotations have `lastModified` (2025-06-18 on).
    pub fn has_resource_links(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }

    /// The error code of `resources/read` for a resource that does not exist: -32002 up to
    /// 2025-11-25 (resources pages, "Error Handling"); -32602 in 2026-07-28, whose schema
    /// keeps -32002 reserved and whose clients should accept both.
    pub fn resource_not_found_code(self) -> ErrorCode {
        if self >= ProtocolVersion::V2026_07_28 {
            ErrorCode::INVALID_PARAMS
        } else {
            ErrorCode::RESOURCE_NOT_FOUND
        }
    }

    /// Every result carries `resultType` (2026-07-28).
    pub fn has_result_type(self) -> bool {
        self >= ProtocolVersion::V2026_07_28
    }

    /// List results carry `ttlMs` and `cacheScope` (2026-07-28).
    pub fn has_cacheable_lists(self) -> bool {
        self >= ProtocolVersion::V2026_07_28
    }

    /// HTTP headers mirror body fields (`Mcp-Method`, `Mcp-Name`) and must match them; a
    /// mismatch is `HeaderMismatch` (-32020) with 400 (2026-07-28).
    pub fn validates_mirrored_headers(self) -> bool {
        self >= ProtocolVersion::V2026_07_28
    }

    /// An unknown method over HTTP is answered with status 404 (2026-07-28); before, a
    /// JSON-RPC error travels with 200 like any other response.
    pub fn method_not_found_is_http_404(self) -> bool {
        self >= ProtocolVersion::V2026_07_28
    }

    /// The `logging` capability may be offered (deprecated in 2026-07-28, where the log level
    /// moved into each request's `_meta`; we do not offer it there).
    pub fn offers_logging_capability(self) -> bool {
        self.era() == Era::Handshake
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolVersion {
    type Err = UnsupportedVersion;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::parse(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ProtocolVersion as V;

    #[test]
    fn parses_and_formats_every_version_exactly() {
        for version in V::ALL {
            assert_eq!(V::parse(version.as_str()), Ok(version));
            assert_eq!(version.to_string(), version.as_str());
            let json = serde_json::to_string(&version).unwrap();
            assert_eq!(serde_json::from_str::<V>(&json).unwrap(), version);
        }
        for odd in [
            "",
            "2025-06-18 ",
            "2025-6-18",
            "2024-10-07",
            "latest",
            "2025-06-18\n",
        ] {
            assert_eq!(V::parse(odd), Err(UnsupportedVersion(odd.to_owned())));
        }
        assert!(serde_json::from_str::<V>("\"1900-01-01\"").is_err());
    }

    #[test]
    fn all_is_newest_first_and_ordering_follows_dates() {
        assert_eq!(V::ALL[0], V::LATEST);
        assert!(V::ALL.windows(2).all(|pair| pair[0] > pair[1]));
        assert!(
            V::ALL
                .windows(2)
                .all(|pair| pair[0].as_str() > pair[1].as_str())
        );
    }

    #[test]
    fn negotiation_echoes_handshake_versions_and_falls_back_to_the_latest_one() {
        for version in [
            V::V2024_11_05,
            V::V2025_03_26,
            V::V2025_06_18,
            V::V2025_11_25,
        ] {
            assert_eq!(V::negotiate(version.as_str()), version);
        }
        // 2026-07-28 has no handshake: an `initialize` asking for it gets the newest that has.
        assert_eq!(V::negotiate("2026-07-28"), V::V2025_11_25);
        assert_eq!(V::negotiate("2099-01-01"), V::LATEST_HANDSHAKE);
        assert_eq!(V::negotiate("2024-10-07"), V::LATEST_HANDSHAKE);
        assert_eq!(V::negotiate(""), V::LATEST_HANDSHAKE);
    }

    #[test]
    fn unsupported_error_lists_what_we_speak() {
        let error = V::unsupported_error("1900-01-01");
        assert_eq!(error.code, ErrorCode::UNSUPPORTED_PROTOCOL_VERSION);
        assert_eq!(error.code.0, -32022);
        let data = error.data.unwrap();
        assert_eq!(data["requested"], "1900-01-01");
        assert_eq!(
            data["supported"],
            serde_json::json!([
                "2026-07-28",
                "2025-11-25",
                "2025-06-18",
                "2025-03-26",
                "2024-11-05"
            ])
        );
    }

    #[test]
    fn feature_flags_per_version() {
        // (version, batches, header required, sessions, structured output, annotations)
        let table = [
            (V::V2024_11_05, true, false, true, false, false),
            (V::V2025_03_26, true, false, true, false, true),
            (V::V2025_06_18, false, true, true, true, true),
            (V::V2025_11_25, false, true, true, true, true),
            (V::V2026_07_28, false, true, false, true, true),
        ];
        for (version, batches, header, sessions, structured, annotations) in table {
            assert_eq!(version.allows_batches(), batches, "{version} batches");
            assert_eq!(
                version.requires_version_header(),
                header,
                "{version} header"
            );
            assert_eq!(version.has_sessions(), sessions, "{version} sessions");
            assert_eq!(
                version.has_structured_output(),
                structured,
                "{version} structured"
            );
            assert_eq!(
                version.has_tool_annotations(),
                annotations,
                "{version} annotations"
            );
            assert_eq!(version.has_titles(), structured, "{version} titles");
            assert_eq!(version.has_get_stream(), sessions, "{version} GET stream");
            assert_eq!(
                version.has_resumable_streams(),
                sessions,
                "{version} resume"
            );
        }
    }

    #[test]
    fn stateless_only_flags_belong_to_2026_07_28() {
        for version in V::ALL {
            let stateless = version == V::V2026_07_28;
            assert_eq!(version.era() == Era::Stateless, stateless);
            assert_eq!(version.has_result_type(), stateless);
            assert_eq!(version.has_cacheable_lists(), stateless);
            assert_eq!(version.validates_mirrored_headers(), stateless);
            assert_eq!(version.method_not_found_is_http_404(), stateless);
            assert_eq!(version.offers_logging_capability(), !stateless);
        }
        assert!(V::V2025_11_25.primes_sse_streams());
        assert!(!V::V2025_06_18.primes_sse_streams());
        assert!(!V::V2026_07_28.primes_sse_streams());
        assert_eq!(
            V::V2026_07_28.resource_not_found_code(),
            ErrorCode::INVALID_PARAMS
        );
        assert_eq!(V::V2025_11_25.resource_not_found_code().0, -32002);
        assert_eq!(V::V2024_11_05.resource_not_found_code().0, -32002);
        assert!(V::V2025_06_18.has_resource_links());
        assert!(!V::V2025_03_26.has_resource_links());
        assert!(V::V2025_11_25.reports_argument_errors_in_result());
        assert!(!V::V2025_06_18.reports_argument_errors_in_result());
        assert!(V::V2025_11_25.has_implementation_details());
        assert!(!V::V2025_06_18.has_implementation_details());
    }

    #[test]
    fn the_assumed_version_is_2025_03_26() {
        assert_eq!(V::ASSUMED_WITHOUT_HEADER.as_str(), "2025-03-26");
        assert_eq!(V::LATEST_HANDSHAKE.as_str(), "2025-11-25");
        assert_eq!(V::LATEST.as_str(), "2026-07-28");
    }
}
