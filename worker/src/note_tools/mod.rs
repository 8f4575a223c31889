//! The MCP tools over the user's notes: one module per tool, one `match` that dispatches.
//! [`Notes`] and the search helpers are also what `note_resources` and `note_prompts` read
//! notes with.
//!
//! Each tool turns its parsed arguments ([`crate::mcp::tool_call`]) into engine calls and R2
//! effects and returns its structured result, shaped as the tool's output schema
//! ([`crate::mcp::tool_schemas`]) says. Everything a tool refuses comes back as an `isError`
//! result whose text is the engine's message (written for people); a server failure is logged
//! and the client gets a short `isError` text without internals.
//!
//! Borrowing rule: the store is borrowed only inside the synchronous closures passed to
//! [`Notes::with`], never across an `.await`, so requests that interleave at R2 calls never
//! meet a borrowed store; the engine checks a write again after its blob is stored.
//!
//! Long loops over R2 blobs (`grep`, and indexing before `search`) check
//! [`CallControl::cancelled`] between steps and stop when the client cancelled, and report
//! how far they got through [`CallControl::progress`]; what reaches the client, and how
//! often, is the caller's business.

mod edit;
mod event_ids;
mod glob;
mod grep;
mod history;
mod read;
mod recent;
mod render;
mod revert;
mod search;
mod write;

use std::cell::{Cell, RefCell};
use std::fmt;

use event_ids::EventIds;
pub(crate) use event_ids::RequestKey;
pub(crate) use render::rfc3339;
pub(crate) use search::{index_all, index_pending, ranked};

use engine::receipts::Receipt;
use engine::store::{AppendError, DeleteError, MoveError, RevertError, WriteError};
use engine::{Applied, EventId, Hash, Store, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::blobs::{self, GetBlobError};
use crate::do_storage::DoStorage;
use crate::mcp::jsonrpc::{ErrorCode, ErrorObject};
use crate::mcp::logging::LogMessage;
use crate::mcp::resources::mime_type as media_type;
use crate::mcp::tool_call::ToolCall;
use crate::mcp::tools::CallToolResult;
use crate::mcp::version::ProtocolVersion;
use crate::telemetry;

/// What a tool call works on: the user's store, their R2 bucket and the time of the call.
pub(crate) struct Notes<'a> {
    /// The opened store (`None` only if opening failed, which the caller reports first).
    pub(crate) store: &'a RefCell<Option<Store<DoStorage>>>,
    /// The user's note contents: R2 (`STORAGE`), the object's record of puts, its cache.
    pub(crate) blobs: blobs::BlobStore<'a>,
    /// When the call arrived.
    pub(crate) now: Timestamp,
    /// Whether the call was cancelled, and where its progress goes.
    pub(crate) control: &'a dyn CallControl,
    /// Local development only: a pause between the steps of long loops (var
    /// `DEV_STEP_PAUSE_MS`), so tests can act while a call runs.
    pub(crate) step_pause: Option<std::time::Duration>,
    /// Time spent inside the store so far ([`Notes::with`]: the engine and its SQLite,
    /// synchronous), in milliseconds: the `tool_call` line's `store_ms`.
    pub(crate) store_ms: Cell<f64>,
}

/// What a running call is told, and tells, while it runs.
pub(crate) trait CallControl {
    /// Whether the client cancelled the call; long loops check it between steps.
    fn cancelled(&self) -> bool;
    /// `done` of `total` steps are done. Called after every step; the implementation decides
    /// which reports reach the client.
    fn progress(&self, done: u64, total: u64, message: &str);
    /// A log message about this call for the client; the implementation sends it if the
    /// client's log level wants it (and can: a JSON reply has nowhere to put it).
    fn log(&self, _message: LogMessage) {}
}

/// A call that no one cancels or watches (background work).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unwatched;

impl CallControl for Unwatched {
    fn cancelled(&self) -> bool {
        false
    }

    fn progress(&self, _done: u64, _total: u64, _message: &str) {}
}

/// The call stopped because the client cancelled it; it has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallCancelled;

impl fmt::Debug for Notes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notes").field("now", &self.now).finish()
    }
}

/// Why a tool call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolFailure {
    /// The call cannot be done as asked; the text says why, for the model.
    Refused(String),
    /// The server failed; the text is for the log only.
    Internal(String),
    /// The client cancelled the call.
    Cancelled,
}

type ToolResult = Result<Value, ToolFailure>;

impl From<engine::StorageError> for ToolFailure {
    fn from(err: engine::StorageError) -> ToolFailure {
        ToolFailure::Internal(err.to_string())
    }
}

/// What a client sees when the server failed during a call.
const INTERNAL_MESSAGE: &str = "The server failed to complete this call. Try again; if it keeps \
failing, the problem is on the server's side.";

/// Runs one tool call and shapes its result for `version`; [`CallCancelled`] when the client
/// cancelled it before it finished. `key` identifies the request within its session (`None`
/// for a stateless request): a retry of a call that changed notes gets the first call's
/// answer and changes nothing more (see [`event_ids`]).
pub(crate) async fn call(
    notes: &Notes<'_>,
    version: ProtocolVersion,
    call: ToolCall,
    key: Option<RequestKey<'_>>,
) -> Result<CallToolResult, CallCancelled> {
    let call_tool = call.tool();
    let tool = call_tool.as_str();
    let started = worker::Date::now().as_millis();
    // Cheap for every call but a write's text, which is hashed once, streamed.
    let ids = EventIds::new(key, &call);
    let outcome = match call {
        ToolCall::Read(args) => read::run(notes, args).await,
        ToolCall::Write(args) => write::run(notes, args, &ids).await,
        ToolCall::Edit(args) => edit::run(notes, args, &ids).await,
        ToolCall::Glob(args) => glob::run(notes, args),
        ToolCall::Grep(args) => grep::run(notes, args).await,
        ToolCall::Search(args) => search::run(notes, args).await,
        ToolCall::History(args) => history::run(notes, args),
        ToolCall::Revert(args) => revert::run(notes, args, &ids),
        ToolCall::Recent(args) => recent::run(notes, args),
    };
    if let Ok(value) = &outcome
        && value.get("truncated") == Some(&Value::Bool(true))
    {
        notes.control.log(LogMessage::warning(format!(
            "{tool}: the result was cut short (`truncated` is true); narrow the call or raise \
             its limit to see the rest"
        )));
    }
    let (result, kind, error) = match outcome {
        Ok(value) => (
            Ok(CallToolResult::structured(version, call_tool, value)),
            "ok",
            None,
        ),
        Err(ToolFailure::Cancelled) => (Err(CallCancelled), "cancelled", None),
        Err(ToolFailure::Refused(message)) => (Ok(CallToolResult::error(message)), "refused", None),
        Err(ToolFailure::Internal(detail)) => (
            Ok(CallToolResult::error(INTERNAL_MESSAGE)),
            "failed",
            Some(detail),
        ),
    };
    let line = ToolLog {
        msg: "tool_call",
        tool,
        outcome: kind,
        duration_ms: worker::Date::now().as_millis().saturating_sub(started),
        store_ms: (notes.store_ms.get() * 100.0).round() / 100.0,
        error: error.as_deref(),
    };
    let line = serde_json::to_string(&line).unwrap_or_default();
    if error.is_some() {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
    result
}

/// Writes a note as a `write` call without a session does (the same checks, the content put
/// to R2, then the engine's write), with no log line: local development's bulk writes.
pub(crate) async fn write_unkeyed(
    notes: &Notes<'_>,
    args: crate::mcp::tool_call::WriteArgs,
) -> ToolResult {
    write::run(notes, args, &EventIds::Random).await
}

/// The log line of one tool call: no arguments, paths or contents.
///
/// `store_ms` is the part of `duration_ms` spent inside the store (the engine and its SQLite);
/// the rest is waiting on R2, the content cache and the event loop. Deployed, Workers' timers
/// advance only on I/O (a Spectre mitigation), so there it reads 0 and the store's time shows
/// in the next I/O's; locally (workerd through Wrangler) timers run and it is exact.
#[derive(Serialize)]
struct ToolLog<'a> {
    msg: &'static str,
    tool: &'a str,
    outcome: &'a str,
    duration_ms: u64,
    store_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Notes<'_> {
    /// Runs `f` on the store. Never hold what it returns across an `.await`.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut Store<DoStorage>) -> R,
    ) -> Result<R, ToolFailure> {
        let mut guard = self
            .store
            .try_borrow_mut()
            .map_err(|_| ToolFailure::Internal("the store is borrowed already".to_owned()))?;
        let store = guard
            .as_mut()
            .ok_or_else(|| ToolFailure::Internal("the store is not open".to_owned()))?;
        let started = telemetry::precise_now_ms();
        let result = f(store);
        let spent = telemetry::precise_now_ms() - started;
        self.store_ms.set(self.store_ms.get() + spent.max(0.0));
        Ok(result)
    }

    /// The first result of event `id` when this call is a retry of one that appended it.
    fn receipt(&self, id: EventId) -> Result<Option<Receipt>, ToolFailure> {
        self.with(|store| store.receipt(&id).cloned())
    }

    /// Ends one step of a long loop: pauses when local development asks for it.
    async fn step_done(&self) {
        if let Some(pause) = self.step_pause {
            worker::Delay::from(pause).await;
        }
    }

    /// `Err(Cancelled)` once the client cancelled the call.
    fn check_cancelled(&self) -> Result<(), ToolFailure> {
        if self.control.cancelled() {
            Err(ToolFailure::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Reads a blob (from the cache, else from R2, verified against its hash) and keeps it
    /// in the cache.
    pub(crate) async fn blob(&self, hash: Hash) -> Result<Vec<u8>, ToolFailure> {
        self.blobs.get(hash, true).await.map_err(|err| match err {
            GetBlobError::Storage { .. } => ToolFailure::Internal(err.to_string()),
            GetBlobError::Missing(_) | GetBlobError::Corrupt { .. } => ToolFailure::Refused(
                format!("the stored text of this note could not be read back: {err}"),
            ),
        })
    }

    /// Stores new content: checks it, puts its blob to R2, then appends the write.
    async fn store_content(
        &self,
        req: &engine::store::WriteRequest<'_>,
    ) -> Result<Applied, ToolFailure> {
        let plan = self
            .with(|store| store.plan_write(req))?
            .map_err(write_error)?;
        let hold = self
            .blobs
            .put(plan.hash(), req.content.to_vec(), self.now.0)
            .await
            .map_err(|err| ToolFailure::Internal(err.to_string()))?;
        // The engine hashed these bytes for the plan: they are the blob.
        self.blobs
            .cache
            .borrow_mut()
            .insert(plan.hash(), req.content);
        let applied = self
            .with(|store| store.write(req, &plan, self.now))?
            .map_err(write_error)?;
        self.blobs.confirm(plan.hash(), self.now.0);
        drop(hold);
        Ok(applied)
    }
}

/// A fresh random idempotency key: for session events, and for tool calls without a session.
pub(crate) fn event_id() -> Result<EventId, ToolFailure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| ToolFailure::Internal(format!("no random bytes: {err}")))?;
    Ok(EventId(bytes))
}

/// An append failure: a conflict the caller can retry, or a server failure.
fn append_error(err: AppendError) -> ToolFailure {
    match err {
        AppendError::SeqConflict { .. } => {
            ToolFailure::Refused(format!("{err}; another change landed first"))
        }
        other => ToolFailure::Internal(other.to_string()),
    }
}

fn write_error(err: WriteError) -> ToolFailure {
    match err {
        WriteError::Append(err) => append_error(err),
        WriteError::PlanMismatch(_) => ToolFailure::Internal(err.to_string()),
        other => ToolFailure::Refused(other.to_string()),
    }
}

fn delete_error(err: DeleteError) -> ToolFailure {
    match err {
        DeleteError::Append(err) => append_error(err),
        other => ToolFailure::Refused(other.to_string()),
    }
}

fn move_error(err: MoveError) -> ToolFailure {
    match err {
        MoveError::Append(err) => append_error(err),
        other => ToolFailure::Refused(other.to_string()),
    }
}

fn revert_error(err: RevertError) -> ToolFailure {
    match err {
        RevertError::Append(err) => append_error(err),
        other => ToolFailure::Refused(other.to_string()),
    }
}

impl ToolFailure {
    /// The JSON-RPC error for a failure outside a tool call (`method` is a resources or
    /// prompts method): -32603 with the refusal's text, -32800 when the client cancelled, or,
    /// for a server failure, which is logged, a short text without internals.
    pub(crate) fn into_protocol_error(self, method: &str) -> ErrorObject {
        match self {
            ToolFailure::Refused(message) => ErrorObject::new(ErrorCode::INTERNAL_ERROR, message),
            ToolFailure::Cancelled => crate::mcp::progress::request_cancelled(),
            ToolFailure::Internal(detail) => {
                worker::console_error!(
                    "{}",
                    serde_json::json!({"msg": "request_failed", "method": method, "error": detail})
                );
                ErrorObject::internal("the server failed; try again")
            }
        }
    }
}

/// The text of a note's bytes (they are UTF-8 when written through MCP).
pub(crate) fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_refusals_and_storage_failures_are_internal() {
        let conflict = append_error(AppendError::SeqConflict {
            expected: 1,
            actual: 2,
        });
        assert!(matches!(conflict, ToolFailure::Refused(_)));
        let failed = append_error(AppendError::Storage(engine::StorageError::new("disk")));
        assert!(matches!(failed, ToolFailure::Internal(_)));
        let quota = write_error(WriteError::QuotaFiles { max: 3 });
        assert_eq!(
            quota,
            ToolFailure::Refused("you have 3 notes, the most allowed; delete some first".into())
        );
    }
}
