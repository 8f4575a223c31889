//! Our prompts: their definitions (`prompts/list`), parsing `prompts/get` into a typed
//! [`PromptRequest`], and the messages of each prompt, built from data the caller gathered.
//!
//! - `capture-note` (`text`, optional `topic`): file the text as a note, looking for an
//!   existing one first.
//! - `weekly-review` (optional `days`, default 7): review the notes changed in that window,
//!   listed with their versions and times.
//! - `research-summary` (`topic`): summarise what the notes say about a topic, from the top
//!   search hits, citing paths.
//!
//! Per version: prompts and their arguments have `title` from 2025-06-18, and hits are
//! attached as `resource_link` blocks from 2025-06-18 (before that they are listed in the
//! text only). In 2026-07-28 `prompts/list` carries `ttlMs` and `cacheScope: public`.
//! Errors follow the prompts pages: an unknown prompt or a missing required argument is
//! -32602. Unknown arguments are ignored, as for tools.
//!
//! Specification: `server/prompts` of each revision,
//! <https://modelcontextprotocol.io/specification/2024-11-05/server/prompts>,
//! <https://modelcontextprotocol.io/specification/2025-06-18/server/prompts>,
//! <https://modelcontextprotocol.io/specification/2025-11-25/server/prompts>,
//! <https://modelcontextprotocol.io/specification/2026-07-28/server/prompts>.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value, json};
use thiserror::Error;

use super::jsonrpc::ErrorObject;
use super::lifecycle::LIST_TTL_MS;
use super::pagination::{self, CursorError};
use super::resources::{NoteSummary, Resource};
use super::version::ProtocolVersion;

/// The default window of `weekly-review`, in days.
pub const REVIEW_DEFAULT_DAYS: u32 = 7;
/// The longest window of `weekly-review`, in days.
pub const REVIEW_MAX_DAYS: u32 = 366;

/// Our prompts, in `prompts/list` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptName {
    /// File a piece of text as a note.
    CaptureNote,
    /// Review recently changed notes.
    WeeklyReview,
    /// Summarise the notes on a topic.
    ResearchSummary,
}

impl PromptName {
    /// Every prompt, in `prompts/list` order.
    pub const ALL: [PromptName; 3] = [
        PromptName::CaptureNote,
        PromptName::WeeklyReview,
        PromptName::ResearchSummary,
    ];

    /// The prompt's `name`.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptName::CaptureNote => "capture-note",
            PromptName::WeeklyReview => "weekly-review",
            PromptName::ResearchSummary => "research-summary",
        }
    }

    /// The prompt called `name` (exact).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|prompt| prompt.as_str() == name)
    }

    fn title(self) -> &'static str {
        match self {
            PromptName::CaptureNote => "Capture a note",
            PromptName::WeeklyReview => "Weekly review",
            PromptName::ResearchSummary => "Research summary",
        }
    }

    fn description(self) -> &'static str {
        match self {
            PromptName::CaptureNote => {
                "File a piece of text in your notes: find the note it belongs to, or create \
                 one at a fitting path."
            }
            PromptName::WeeklyReview => {
                "Review the notes that changed recently: what you worked on, loose ends and \
                 what to follow up."
            }
            PromptName::ResearchSummary => {
                "Summarise what your notes say about a topic, citing the notes, from a search \
                 of your notes."
            }
        }
    }

    fn arguments(self) -> &'static [ArgumentSpec] {
        match self {
            PromptName::CaptureNote => &[
                ArgumentSpec {
                    name: "text",
                    title: "Text",
                    description: "The text to capture.",
                    required: true,
                },
                ArgumentSpec {
                    name: "topic",
                    title: "Topic",
                    description: "What the text is about, to help choose where it goes.",
                    required: false,
                },
            ],
            PromptName::WeeklyReview => &[ArgumentSpec {
                name: "days",
                title: "Days",
                description: "How many days back to look (1 to 366; default 7).",
                required: false,
            }],
            PromptName::ResearchSummary => &[ArgumentSpec {
                name: "topic",
                title: "Topic",
                description: "What to summarise, in a few words; the notes are searched for it.",
                required: true,
            }],
        }
    }
}

/// A prompt argument as our code knows it.
#[derive(Debug)]
struct ArgumentSpec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    required: bool,
}

/// A `PromptArgument`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptArgument {
    /// Its name in `prompts/get` arguments.
    pub name: &'static str,
    /// Display name (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'static str>,
    /// What to give.
    pub description: &'static str,
    /// Whether it must be given.
    pub required: bool,
}

/// A `Prompt` as `prompts/list` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    /// Programmatic name.
    pub name: &'static str,
    /// Display name (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'static str>,
    /// What it does.
    pub description: &'static str,
    /// Its arguments.
    pub arguments: Vec<PromptArgument>,
}

/// Every prompt's definition as `version` shapes it, in `prompts/list` order.
pub fn prompt_definitions(version: ProtocolVersion) -> Vec<Prompt> {
    let titled = |title| version.has_titles().then_some(title);
    PromptName::ALL
        .into_iter()
        .map(|prompt| Prompt {
            name: prompt.as_str(),
            title: titled(prompt.title()),
            description: prompt.description(),
            arguments: prompt
                .arguments()
                .iter()
                .map(|arg| PromptArgument {
                    name: arg.name,
                    title: titled(arg.title),
                    description: arg.description,
                    required: arg.required,
                })
                .collect(),
        })
        .collect()
}

/// The result of `prompts/list`: every prompt on one page (public and cacheable in
/// 2026-07-28).
pub fn list_result(
    version: ProtocolVersion,
    params: Option<&Map<String, Value>>,
) -> Result<Value, CursorError> {
    pagination::single_page("prompts/list", params)?;
    let result = json!({ "prompts": prompt_definitions(version) });
    Ok(super::resources::cacheable(
        version,
        result,
        LIST_TTL_MS,
        "public",
    ))
}

/// A parsed `prompts/get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptRequest {
    /// `capture-note`.
    CaptureNote {
        /// The text to file.
        text: String,
        /// What it is about.
        topic: Option<String>,
    },
    /// `weekly-review`.
    WeeklyReview {
        /// The window, in days (1 to [`REVIEW_MAX_DAYS`]).
        days: u32,
    },
    /// `research-summary`.
    ResearchSummary {
        /// What to search for and summarise.
        topic: String,
    },
}

/// Why a `prompts/get` cannot be served. Every case is -32602.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GetPromptError {
    /// No `name`, or not a string.
    #[error("prompts/get: \"name\" is required and must be a string")]
    NoName,
    /// A name we do not serve.
    #[error(
        "unknown prompt {name:?}; the prompts are capture-note, weekly-review and research-summary"
    )]
    UnknownPrompt {
        /// The name as sent.
        name: String,
    },
    /// `arguments` is not an object.
    #[error("prompts/get: \"arguments\" must be an object of strings")]
    ArgumentsNotObject,
    /// An argument is not a string.
    #[error("{prompt}: argument {argument:?} must be a string")]
    NotAString {
        /// The prompt.
        prompt: &'static str,
        /// The argument.
        argument: String,
    },
    /// A required argument is missing or blank.
    #[error("{prompt}: the argument {argument:?} is required")]
    Missing {
        /// The prompt.
        prompt: &'static str,
        /// The argument.
        argument: &'static str,
    },
    /// `days` is not a whole number in range.
    #[error("weekly-review: days must be a whole number from 1 to {REVIEW_MAX_DAYS}, not {0:?}")]
    Days(String),
}

impl GetPromptError {
    /// The JSON-RPC error: -32602.
    pub fn to_error(&self) -> ErrorObject {
        ErrorObject::invalid_params(self)
    }
}

impl PromptRequest {
    /// Reads `prompts/get` params.
    pub fn parse(params: Option<&Map<String, Value>>) -> Result<Self, GetPromptError> {
        let name = params
            .and_then(|params| params.get("name"))
            .and_then(Value::as_str)
            .ok_or(GetPromptError::NoName)?;
        let prompt = PromptName::parse(name).ok_or_else(|| GetPromptError::UnknownPrompt {
            name: name.to_owned(),
        })?;
        let empty = Map::new();
        let arguments = match params.and_then(|params| params.get("arguments")) {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(arguments)) => arguments,
            Some(_) => return Err(GetPromptError::ArgumentsNotObject),
        };
        let prompt_name = prompt.as_str();
        for (argument, value) in arguments {
            if !matches!(value, Value::String(_) | Value::Null) {
                return Err(GetPromptError::NotAString {
                    prompt: prompt_name,
                    argument: argument.clone(),
                });
            }
        }
        // Blank counts as absent: a form left empty.
        let optional = |argument: &str| {
            arguments
                .get(argument)
                .and_then(Value::as_str)
                .filter(|value| !value.trim().is_empty())
                .map(str::to_owned)
        };
        let required = |argument: &'static str| {
            optional(argument).ok_or(GetPromptError::Missing {
                prompt: prompt_name,
                argument,
            })
        };
        Ok(match prompt {
            PromptName::CaptureNote => PromptRequest::CaptureNote {
                text: required("text")?,
                topic: optional("topic").map(|topic| topic.trim().to_owned()),
            },
            PromptName::WeeklyReview => PromptRequest::WeeklyReview {
                days: match optional("days") {
                    None => REVIEW_DEFAULT_DAYS,
                    Some(days) => parse_days(&days)?,
                },
            },
            PromptName::ResearchSummary => PromptRequest::ResearchSummary {
                topic: required("topic")?.trim().to_owned(),
            },
        })
    }
}

fn parse_days(text: &str) -> Result<u32, GetPromptError> {
    let trimmed = text.trim();
    trimmed
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| trimmed.parse::<u32>().ok())
        .flatten()
        .filter(|days| (1..=REVIEW_MAX_DAYS).contains(days))
        .ok_or_else(|| GetPromptError::Days(text.to_owned()))
}

/// One message of a prompt: from the user, one content block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct PromptMessage {
    role: &'static str,
    content: Content,
}

/// The content blocks our prompts use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Content {
    Text { text: String },
    ResourceLink(Resource),
}

fn user(content: Content) -> PromptMessage {
    PromptMessage {
        role: "user",
        content,
    }
}

fn get_result(prompt: PromptName, messages: Vec<PromptMessage>) -> Value {
    json!({ "description": prompt.description(), "messages": messages })
}

/// The result of `capture-note`.
pub fn capture_note(text: &str, topic: Option<&str>) -> Value {
    let mut ask = String::from("Please file the text below in my notes (my Second Brain).\n\n");
    if let Some(topic) = topic {
        let _ = writeln!(ask, "Topic: {topic}\n");
    }
    let _ = write!(
        ask,
        "<text>\n{text}\n</text>\n\n\
         1. First look for a note it belongs in: `search` for its key words, and `glob` (for \
         example `**/*.md`) to see how my notes are organised.\n\
         2. If a note fits, `read` it and add the text with `edit`, keeping what is there.\n\
         3. Otherwise choose a short, descriptive path that fits my folders (for example \
         `topic/subject.md`) and create the note with `write`, passing `expected_version: 0` \
         so that no existing note is replaced.\n\
         4. Keep my wording; add a heading or a date only if my notes use them.\n\n\
         Then tell me the path and version you wrote."
    );
    get_result(
        PromptName::CaptureNote,
        vec![user(Content::Text { text: ask })],
    )
}

/// A note that changed in the review window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedNote {
    /// The note as it is now.
    pub note: NoteSummary,
    /// Its current version.
    pub version: u64,
}

/// The result of `weekly-review`: `changed` is newest first; `more` counts changed notes left
/// out of the list.
pub fn weekly_review(days: u32, changed: &[ChangedNote], more: usize) -> Value {
    let window = if days == 1 {
        "day".to_owned()
    } else {
        format!("{days} days")
    };
    let mut ask = String::new();
    if changed.is_empty() {
        let _ = write!(
            ask,
            "None of my notes changed in the last {window}. Tell me so, and suggest how I \
             could use my notes this week (use `recent` to see what I worked on before)."
        );
    } else {
        let _ = writeln!(
            ask,
            "These notes changed in the last {window}, newest first ({} notes):\n",
            changed.len() + more
        );
        for change in changed {
            let _ = writeln!(
                ask,
                "- {} (version {}, changed {}, {} bytes)",
                change.note.path, change.version, change.note.modified, change.note.size
            );
        }
        if more > 0 {
            let _ = writeln!(
                ask,
                "- … and {more} more (use `recent` with a larger limit to list them)"
            );
        }
        let _ = write!(
            ask,
            "\nPlease review my week: `read` these notes (and `history` where a note changed \
             a lot), then summarise what I worked on, grouped by theme; list open questions, \
             loose ends and TODOs; and suggest follow-ups, and notes to merge, split or tidy. \
             Cite each note by its path."
        );
    }
    get_result(
        PromptName::WeeklyReview,
        vec![user(Content::Text { text: ask })],
    )
}

/// A search hit to embed in `research-summary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The note.
    pub note: NoteSummary,
    /// Its current version.
    pub version: u64,
    /// Text around the first match.
    pub snippet: String,
}

/// The result of `research-summary`: the hits, best first, listed in the text and, where the
/// version has them, attached as resource links.
pub fn research_summary(version: ProtocolVersion, topic: &str, hits: &[Hit]) -> Value {
    let mut ask = String::new();
    if hits.is_empty() {
        let _ = write!(
            ask,
            "I asked for a summary of what my notes say about \"{topic}\", but a search of my \
             notes found nothing. Tell me so; suggest other words to `search` for, and offer to \
             capture what I know about it as a new note."
        );
    } else {
        let _ = writeln!(
            ask,
            "Summarise what my notes say about \"{topic}\". A search of my notes found these, \
             best match first:\n"
        );
        for (rank, hit) in (1..).zip(hits) {
            let _ = writeln!(
                ask,
                "{rank}. {} (version {}): {}",
                hit.note.path, hit.version, hit.snippet
            );
        }
        let attached = if version.has_resource_links() {
            " (they are also attached below as resources)"
        } else {
            ""
        };
        let _ = write!(
            ask,
            "\n`read` the notes you need{attached}, and `search` again if the topic has other \
             names. Then write a summary that cites the note path for each point, says where \
             notes disagree or are out of date, and names what is missing and worth \
             researching next."
        );
    }
    let mut messages = vec![user(Content::Text { text: ask })];
    if version.has_resource_links() {
        messages.extend(
            hits.iter()
                .map(|hit| user(Content::ResourceLink(Resource::note(version, &hit.note)))),
        );
    }
    get_result(PromptName::ResearchSummary, messages)
}

#[cfg(test)]
mod tests;
