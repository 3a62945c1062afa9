//! The transport under rmcp on a server's pipes: mcp-cli's own JSON-lines
//! framing, with request ids a server cannot guess.
//!
//! Ids. rmcp numbers requests 0, 1, 2... and takes a response for the
//! pending request of the same id. So a server could write an answer for
//! an id it has not been sent yet (right after `initialize`, say), to be
//! taken for the answer to the call that follows. Here each request goes
//! out under an id made from rmcp's with a keyed hash (SipHash, a random
//! key per connection), below 2^53 so that JavaScript servers keep it
//! exact; an answer is handed to rmcp under its own id only when it names
//! one that was sent, and dropped otherwise. `notifications/cancelled`
//! names the request by the id that went out.
//!
//! Lines. rmcp's own transport skips a line it cannot parse, and the
//! request it answered waits for the deadline. Here a line that does not
//! parse fails at once the request it answers (its id read leniently), or
//! every pending request when no id can be read, with the parser's error:
//! `PROTOCOL_ERROR`. An answer that parses as JSON but not as a JSON-RPC
//! message rmcp knows (an error without `message`) is passed on as the
//! error it means.
//!
//! Memory. Parsed, JSON takes more room than its text: a node of a tree is
//! 80 bytes, so `[0,0,...]` grows fiftyfold. While a line is read, what its
//! tree would cost is counted from its structure (outside strings), and a
//! message that would not fit in [`MEMORY_FACTOR`] times its size plus
//! [`MEMORY_BASE`] fails the request it answers with `MESSAGE_TOO_LARGE`,
//! unparsed. The answer to `tools/call`, the one that is large in
//! practice, is parsed straight into its type, without the copies a generic
//! JSON-RPC message takes, but for its `structuredContent`, and the whole
//! is kept as text ([`RawResults`]): a result of any shape is read within
//! the bound, and printed as it came.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{
    CallToolResult, ClientNotification, ClientRequest, ContentBlock, CustomResult, ErrorCode,
    ErrorData, GetMeta, JsonRpcError, JsonRpcMessage, JsonRpcResponse, MetaObject, NumberOrString,
    ProgressToken, RequestId, ResultType, ServerNotification, ServerResult,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;

use super::process::WatchedStdout;

/// The largest integer JavaScript's numbers hold exactly.
const SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The `data` of an error mcp-cli makes for an answer it could not read:
/// the session turns it into `PROTOCOL_ERROR`.
pub const UNREADABLE: &str = "mcp-cli/unreadable";

/// The `data` of an error mcp-cli makes for an answer too large to parse
/// within the memory bound: the session turns it into `MESSAGE_TOO_LARGE`.
pub const TOO_LARGE: &str = "mcp-cli/too-large";

/// Reading a message of n bytes takes at most `MEMORY_FACTOR` × n +
/// [`MEMORY_BASE`] of memory, whatever its shape; one that would take more
/// is refused unparsed.
pub const MEMORY_FACTOR: usize = 4;
/// See [`MEMORY_FACTOR`]: room for the process itself and for small
/// messages dense with structure (a listing of thousands of small tools
/// takes some thirty times its size).
pub const MEMORY_BASE: usize = 64 << 20;

/// Where messages are read from: a server's stdout, or the daemon's socket.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// Where messages are written: a server's stdin, or the daemon's socket.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;
/// What is done with a line that is not JSON-RPC (the daemon's reports).
pub type OtherLines = Box<dyn FnMut(&[u8]) + Send>;

/// A server's stdin and stdout as an rmcp transport (or the daemon's
/// socket, which relays them).
pub struct StdioTransport {
    reader: BufReader<Reader>,
    /// The line being read; kept across a cancelled read.
    line: Vec<u8>,
    writer: Arc<tokio::sync::Mutex<Option<Writer>>>,
    /// Lines that are not JSON-RPC go here (a server's were noted by its
    /// watched stdout already).
    other: Option<OtherLines>,
    key: RandomState,
    /// The requests sent and not answered yet: wire id → rmcp's id.
    pending: HashMap<i64, Pending>,
    /// The structure of the line being read.
    structure: Structure,
    /// Where results go as they came.
    raw: RawResults,
    /// Whether results are kept whole, or only their `structuredContent`.
    whole: bool,
    /// Messages ready for rmcp: the rest of a batch, and errors made for
    /// answers that could not be read.
    queued: VecDeque<RxJsonRpcMessage<RoleClient>>,
    server: String,
}

impl StdioTransport {
    /// The transport of the server called `server`, over its pipes.
    pub fn new(
        stdout: WatchedStdout,
        stdin: pipe::Sender,
        server: &str,
        raw: RawResults,
        whole: bool,
    ) -> Self {
        Self::over(Box::new(stdout), Box::new(stdin), None, server, raw, whole)
    }

    /// The transport over any pair of byte streams; lines that are not
    /// JSON-RPC go to `other`.
    pub fn over(
        reader: Reader,
        writer: Writer,
        other: Option<OtherLines>,
        server: &str,
        raw: RawResults,
        whole: bool,
    ) -> Self {
        StdioTransport {
            reader: BufReader::with_capacity(64 * 1024, reader),
            line: Vec::new(),
            writer: Arc::new(tokio::sync::Mutex::new(Some(writer))),
            other,
            key: RandomState::new(),
            pending: HashMap::new(),
            structure: Structure::default(),
            raw,
            whole,
            queued: VecDeque::new(),
            server: server.to_owned(),
        }
    }

    /// The id request `id` goes out under.
    fn wire_id(&self, id: &RequestId) -> i64 {
        // Below 2^53: the cast is exact.
        (self.key.hash_one(id) & SAFE_INTEGER) as i64
    }

    /// An error for the pending request `wire` (all of them when `None`):
    /// the answer to it could not be read.
    fn fail(&mut self, wire: Option<i64>, error: ErrorData) {
        let ids: Vec<RequestId> = match wire {
            Some(wire) => self
                .pending
                .remove(&wire)
                .map(|p| p.id)
                .into_iter()
                .collect(),
            None => self
                .pending
                .drain()
                .map(|(_, pending)| pending.id)
                .collect(),
        };
        for id in ids {
            self.queued.push_back(JsonRpcMessage::Error(JsonRpcError {
                jsonrpc: Default::default(),
                id: Some(id),
                error: error.clone(),
            }));
        }
    }

    /// Reads one line: the message it holds is queued for rmcp, under
    /// rmcp's id; an answer to a request never sent is dropped; a line
    /// that cannot be read fails the requests it may answer. A batch is
    /// read one level deep (`batch` false inside one).
    fn take(&mut self, line: &[u8], cost: usize, batch: bool) {
        if self.take_call_result(line, cost) {
            return;
        }
        // A lone UTF-16 surrogate (Node cuts a string mid-emoji) is read as
        // U+FFFD, as a browser would, whatever else is wrong with the line.
        let repaired = repair_surrogates(line);
        if let Some(fixed) = &repaired
            && self.take_call_result(fixed, cost)
        {
            return;
        }
        let line = repaired.as_deref().unwrap_or(line);
        // A batch (JSON-RPC allows one; MCP no longer sends them): each
        // message in it as if on a line of its own, read in place, one
        // level deep.
        if batch
            && line.starts_with(b"[")
            && let Ok(messages) = serde_json::from_slice::<Vec<&RawValue>>(line)
        {
            for message in messages {
                let text = message.get().as_bytes();
                if text.starts_with(b"{") {
                    let mut structure = Structure::default();
                    structure.scan(text);
                    self.take(text, structure.cost, false);
                }
            }
            return;
        }
        if parsed_size(line.len(), cost) > memory_bound(line.len()) {
            return self.too_large(line, cost);
        }
        let mut message = match serde_json::from_slice::<RxJsonRpcMessage<RoleClient>>(line) {
            Ok(message) => message,
            Err(error) => return self.unreadable(line, &error),
        };
        let id = match &mut message {
            JsonRpcMessage::Response(response) => Some(&mut response.id),
            JsonRpcMessage::Error(error) => match error.id.as_mut() {
                Some(id) => Some(id),
                // An error that names no request (`"id": null`, a parse
                // error): every request waiting fails with it.
                None => {
                    let error = error.error.clone();
                    return self.fail(None, error);
                }
            },
            JsonRpcMessage::Notification(notification) => {
                if let ServerNotification::ProgressNotification(progress) =
                    &mut notification.notification
                    && let Some(ours) = wire_of_token(&progress.params.progress_token)
                        .and_then(|wire| self.pending.get(&wire))
                        .and_then(|pending| pending.progress.clone())
                {
                    progress.params.progress_token = ours;
                }
                None
            }
            JsonRpcMessage::Request(_) => None,
        };
        if let Some(id) = id {
            // A numeric string is the number it spells (rmcp matches them).
            let wire = match id {
                NumberOrString::Number(wire) => Some(*wire),
                NumberOrString::String(text) => text.parse::<i64>().ok(),
            };
            let Some(Pending { id: ours, .. }) = wire.and_then(|wire| self.pending.remove(&wire))
            else {
                crate::debug!(
                    "{}: dropped an answer to request {id}, which was never sent",
                    self.server
                );
                return;
            };
            *id = ours;
        }
        self.queued.push_back(message);
    }

    /// Takes `line` when it is the answer to a pending `tools/call`, parsed
    /// straight into `CallToolResult` but for its `structuredContent`, and
    /// kept as it came (see [`RawResults`]), or refused when the rest would not
    /// fit the memory bound. A line that is not such an answer, or not one
    /// rmcp's type holds, is left to the general path (which keeps an odd
    /// result whole).
    fn take_call_result(&mut self, line: &[u8], cost: usize) -> bool {
        // An object only: serde would read an array's items as the fields.
        if !line.starts_with(b"{") || !self.pending.values().any(|pending| pending.call) {
            return false;
        }
        // Read without building anything, whatever the line holds.
        let Ok(answer) = serde_json::from_slice::<CallAnswer<'_>>(line) else {
            return false;
        };
        let Some(wire) =
            wire_of(answer.id).filter(|wire| self.pending.get(wire).is_some_and(|p| p.call))
        else {
            return false;
        };
        // The structure of `structuredContent` costs no tree: only the rest's
        // counts (skimmed for only when the whole would not fit).
        let mut cost = cost;
        if parsed_size(line.len(), cost) > memory_bound(line.len()) {
            let skimmed = serde_json::from_str::<Skim<'_>>(answer.result.get());
            if let Ok(Skim {
                structured_content: Some(structured),
            }) = skimmed
            {
                let mut inside = Structure::default();
                inside.scan(structured.get().as_bytes());
                cost = cost.saturating_sub(inside.cost);
            }
            if parsed_size(line.len(), cost) > memory_bound(line.len()) {
                self.too_large(line, cost);
                return true;
            }
        }
        let Ok(parts) = serde_json::from_str::<CallParts<'_>>(answer.result.get()) else {
            // A part rmcp's type does not hold (a content block of an
            // unknown type, `isError: "yes"`): the result as plain JSON.
            return self.take_lenient_call(wire, answer.result);
        };
        let complete = parts
            .result_type
            .as_ref()
            .is_none_or(ResultType::is_complete);
        let known = parts.content.is_some()
            || parts.structured_content.is_some()
            || parts.is_error.is_some();
        if !complete || !known {
            return false;
        }
        let Some(Pending { id, .. }) = self.pending.remove(&wire) else {
            return false;
        };
        let mut result = CallToolResult::default();
        result.result_type = parts.result_type;
        result.content = parts.content.unwrap_or_default();
        result.is_error = parts.is_error;
        result.meta = parts.meta;
        let read = ServerResult::CallToolResult(result);
        self.answer_call(id, read, answer.result, parts.structured_content);
        true
    }

    /// Queues the answer to call `id`, `read` as rmcp will hand it on, and
    /// keeps what `result` came as: all of it under `--json`, else its
    /// `structuredContent`.
    fn answer_call(
        &mut self,
        id: RequestId,
        read: ServerResult,
        result: &RawValue,
        structured: Option<&RawValue>,
    ) {
        let kept = if self.whole {
            Some(Kept::Whole(result.to_owned()))
        } else {
            structured.map(|structured| Kept::Structured(structured.to_owned()))
        };
        if let Some(kept) = kept {
            self.raw.put(id.clone(), kept);
        }
        self.queued
            .push_back(JsonRpcMessage::Response(JsonRpcResponse {
                jsonrpc: Default::default(),
                id,
                result: read,
            }));
    }

    /// Queues the result of call `wire` as plain JSON (for the session to
    /// read leniently), its `structuredContent` kept as text all the same
    /// (a `null` stands in its place), with the result as it came. A result
    /// that is not even that (fields nested past serde_json's limits) is
    /// left to the general path.
    fn take_lenient_call(&mut self, wire: i64, result: &RawValue) -> bool {
        let Ok(fields) =
            serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(result.get())
        else {
            return false;
        };
        let mut value = serde_json::Map::new();
        let mut structured = None;
        for (key, raw) in fields {
            let field = if key == "structuredContent" {
                structured = Some(raw);
                Value::Null
            } else {
                match serde_json::from_str(raw.get()) {
                    Ok(field) => field,
                    Err(_) => return false,
                }
            };
            value.insert(key, field);
        }
        let Some(Pending { id, .. }) = self.pending.remove(&wire) else {
            return false;
        };
        let read = ServerResult::CustomResult(CustomResult(Value::Object(value)));
        self.answer_call(id, read, result, structured);
        true
    }

    /// What `line`, not read whole, answers.
    fn answers(&self, line: &[u8]) -> Answers {
        match top_level(line) {
            (_, true) => Answers::Nothing,
            (Id::Wire(wire), false) if self.pending.contains_key(&wire) => Answers::Request(wire),
            (Id::Wire(_) | Id::Other, false) => Answers::Nothing,
            (Id::Absent, false) => Answers::Unknown,
        }
    }

    /// Fails the request `line` answers (every pending one when it names
    /// none), unparsed: its tree would take more memory than allowed.
    fn too_large(&mut self, line: &[u8], cost: usize) {
        let (needed, bound) = (parsed_size(line.len(), cost), memory_bound(line.len()));
        let error = ErrorData::new(
            ErrorCode(-32603),
            format!(
                "the message is {} of JSON whose parsed form would take about {}, \
                 past mcp-cli's bound of {} ({MEMORY_FACTOR} × its size + {})",
                mebibytes(line.len()),
                mebibytes(needed),
                mebibytes(bound),
                mebibytes(MEMORY_BASE),
            ),
            Some(json!(TOO_LARGE)),
        );
        // As for a line that does not parse: a `method`, or an id none of
        // ours, means it answers nothing sent, and it is skipped.
        match self.answers(line) {
            Answers::Nothing => crate::debug!(
                "{}: skipped a message too large to read that answers nothing sent",
                self.server
            ),
            Answers::Request(wire) => self.fail(Some(wire), error),
            Answers::Unknown => self.fail(None, error),
        }
    }

    /// A line that did not parse as a message rmcp knows. It fails a
    /// request only when it surely answers one: an id that names a pending
    /// request, or no id at all on a line that is no message from the
    /// server (no `method`) and not even JSON.
    fn unreadable(&mut self, line: &[u8], error: &serde_json::Error) {
        let unreadable = |what: String| {
            ErrorData::new(
                ErrorCode(-32700),
                format!("the server's answer cannot be read: {what}"),
                Some(json!(UNREADABLE)),
            )
        };
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            // Not JSON (NaN, a bad byte, a line of pretty-printed JSON). Its
            // top-level `id` and `method`, read leniently: a pending id is
            // the request it answers; another id, or a `method`, means it
            // answers nothing sent (a forgery, a notification): skipped.
            match self.answers(line) {
                Answers::Nothing => crate::debug!(
                    "{}: skipped a line that cannot be read: {error}",
                    self.server
                ),
                Answers::Request(wire) => self.fail(Some(wire), unreadable(error.to_string())),
                Answers::Unknown => self.fail(None, unreadable(error.to_string())),
            }
            return;
        };
        // A batch inside a batch: not read.
        if value.is_array() {
            return;
        }
        // JSON that is no JSON-RPC 2.0 answer to a pending request (a log
        // line, a message rmcp cannot read) is skipped.
        let wire = match value.get("id") {
            Some(Value::Number(number)) => number.as_i64(),
            Some(Value::String(text)) => text.parse().ok(),
            _ => None,
        }
        .filter(|wire| self.pending.contains_key(wire));
        let jsonrpc = value.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
        let null_id = value.get("id") == Some(&Value::Null);
        if !jsonrpc || value.get("method").is_some() || (wire.is_none() && !null_id) {
            crate::debug!(
                "{}: skipped a message that answers nothing: {error}",
                self.server
            );
            return;
        }
        // An error rmcp cannot read (no `message`): the error it means, for
        // its request, or for all of them when its id is null.
        let error = match value.get("error").filter(|error| error.is_object()) {
            Some(answer) => {
                let code = answer.get("code").and_then(Value::as_i64).unwrap_or(-32603);
                let message = answer
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(the server's error has no message)")
                    .to_owned();
                let code = i32::try_from(code).unwrap_or(-32603);
                ErrorData::new(ErrorCode(code), message, answer.get("data").cloned())
            }
            None => unreadable(error.to_string()),
        };
        self.fail(wire, error);
    }
}

/// A request sent and not answered yet.
struct Pending {
    /// rmcp's id for it.
    id: RequestId,
    /// Whether it is `tools/call`.
    call: bool,
    /// rmcp's progress token for it, which went out as the wire id.
    progress: Option<ProgressToken>,
}

/// The structure of a line of JSON, counted as it is read: what its
/// parsed tree would cost beyond its text, from the bytes that open a node
/// outside strings (see [`NODE_COST`]).
#[derive(Debug, Default)]
struct Structure {
    in_string: bool,
    escaped: bool,
    cost: usize,
}

/// What a byte outside strings adds to a parsed tree, in bytes: `,` and `:`
/// a value (a 80-byte node, with `preserve_order`, and the text of a number
/// or key, 32 with the allocator's rounding); `[` an array (its first value,
/// and room for 4, which is what a vector first takes); `{` an object (the
/// same in map entries, and their index). Upper bounds of what
/// bench/memory.py measures: 104 bytes a value for `[0,0,...]`, 290 for
/// arrays nested one in one, 178 for `[{"a":0},...]`.
const NODE_COST: [usize; 256] = {
    let mut cost = [0; 256];
    cost[b',' as usize] = 112;
    cost[b':' as usize] = 112;
    cost[b'[' as usize] = 352;
    cost[b'{' as usize] = 608;
    cost
};

impl Structure {
    fn scan(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            if self.escaped {
                self.escaped = false;
                at += 1;
            } else if self.in_string {
                // Strings are most of a large message: skip to their end.
                match memchr::memchr2(b'"', b'\\', &bytes[at..]) {
                    None => return,
                    Some(found) => {
                        at += found;
                        if bytes[at] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escaped = true;
                        }
                        at += 1;
                    }
                }
            } else {
                let byte = bytes[at];
                if byte == b'"' {
                    self.in_string = true;
                } else {
                    self.cost = self.cost.saturating_add(NODE_COST[usize::from(byte)]);
                }
                at += 1;
            }
        }
    }
}

/// The answer to a `tools/call`, its result unparsed.
#[derive(serde::Deserialize)]
struct CallAnswer<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    result: &'a RawValue,
}

/// The wire id an `id` names: a number, or a numeric string.
pub(super) fn wire_of(id: &RawValue) -> Option<i64> {
    let text = id.get();
    text.strip_prefix('"')
        .and_then(|quoted| quoted.strip_suffix('"'))
        .unwrap_or(text)
        .parse()
        .ok()
}

/// The wire id a progress token names (the token of a request is its wire
/// id; a numeric string is the number it spells).
fn wire_of_token(token: &ProgressToken) -> Option<i64> {
    match &token.0 {
        NumberOrString::Number(wire) => Some(*wire),
        NumberOrString::String(text) => text.parse().ok(),
    }
}

/// Just the `structuredContent` of a result.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Skim<'a> {
    #[serde(borrow)]
    structured_content: Option<&'a RawValue>,
}

/// A `tools/call` result as rmcp's type holds it, but `structuredContent`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallParts<'a> {
    result_type: Option<ResultType>,
    content: Option<Vec<ContentBlock>>,
    #[serde(borrow)]
    structured_content: Option<&'a RawValue>,
    is_error: Option<bool>,
    #[serde(rename = "_meta")]
    meta: Option<MetaObject>,
}

/// `tools/call` results as the server wrote them, by rmcp's request id:
/// a result is data to print, and as text it keeps all its fields, its
/// numbers exact and its keys in order, and its `structuredContent` builds
/// no tree (a table of numbers would take fifty times its size as one).
#[derive(Debug, Clone, Default)]
pub struct RawResults(Arc<std::sync::Mutex<HashMap<RequestId, Kept>>>);

/// What is kept of a result as it came.
#[derive(Debug)]
pub enum Kept {
    /// All of it, to print it whole (`--json`).
    Whole(Box<RawValue>),
    /// Its `structuredContent` (which rmcp's type then lacks).
    Structured(Box<RawValue>),
}

impl Kept {
    /// The `structuredContent` as it came, if there was one.
    pub fn structured(&self) -> Option<&str> {
        match self {
            Kept::Whole(whole) => serde_json::from_str::<Skim<'_>>(whole.get())
                .ok()?
                .structured_content
                .map(RawValue::get),
            Kept::Structured(structured) => Some(structured.get()),
        }
    }
}

impl RawResults {
    fn put(&self, id: RequestId, kept: Kept) {
        self.0.lock().expect("results lock").insert(id, kept);
    }

    /// What was kept of the result of request `id`, if it was read so.
    pub fn take(&self, id: &RequestId) -> Option<Kept> {
        self.0.lock().expect("results lock").remove(id)
    }
}

/// What reading a message of `len` bytes whose tree costs `cost` takes, at
/// most: the line, the strings parsed out of it, a copy on the way out, and
/// the tree.
fn parsed_size(len: usize, cost: usize) -> usize {
    len.saturating_mul(3).saturating_add(cost)
}

/// The memory a message of `len` bytes may take to read.
fn memory_bound(len: usize) -> usize {
    MEMORY_FACTOR
        .saturating_mul(len)
        .saturating_add(MEMORY_BASE)
}

/// `bytes` in mebibytes, for messages.
fn mebibytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// `line` with every lone UTF-16 surrogate escape (`\ud83d` without its
/// pair) replaced by `\ufffd`; `None` when it has none.
fn repair_surrogates(line: &[u8]) -> Option<Vec<u8>> {
    let hex = |at: usize| -> Option<u16> {
        let digits = line.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let escape_at = |at: usize| -> Option<u16> {
        (line.get(at..at + 2)? == b"\\u").then_some(())?;
        hex(at + 2)
    };
    // Most lines hold no surrogate escape at all: they are not copied.
    let surrogate = memchr::memmem::find_iter(line, b"\\u")
        .any(|at| matches!(line.get(at + 2), Some(b'd' | b'D')));
    if !surrogate {
        return None;
    }
    let mut out = Vec::with_capacity(line.len());
    let mut repaired = false;
    let mut index = 0;
    while index < line.len() {
        if line[index] == b'\\' {
            match escape_at(index) {
                Some(0xd800..=0xdbff) => {
                    if matches!(escape_at(index + 6), Some(0xdc00..=0xdfff)) {
                        out.extend_from_slice(&line[index..index + 12]);
                        index += 12;
                    } else {
                        out.extend_from_slice(b"\\ufffd");
                        repaired = true;
                        index += 6;
                    }
                    continue;
                }
                Some(0xdc00..=0xdfff) => {
                    out.extend_from_slice(b"\\ufffd");
                    repaired = true;
                    index += 6;
                    continue;
                }
                // Any other escape, `\\` included, is copied whole so that
                // its second character is not taken for an escape.
                _ => {
                    out.extend_from_slice(&line[index..(index + 2).min(line.len())]);
                    index += 2;
                    continue;
                }
            }
        }
        out.push(line[index]);
        index += 1;
    }
    repaired.then_some(out)
}

/// What a line that is not read whole answers, from its top level.
enum Answers {
    /// The pending request of this wire id.
    Request(i64),
    /// Nothing sent: it has a `method` (a request or notification from the
    /// server), or an id that is none of ours.
    Nothing,
    /// No top-level `id` or `method` could be read.
    Unknown,
}

/// A top-level `id`, read leniently.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Id {
    /// None, or `null` (a request the server could not tell).
    Absent,
    /// A number, or a numeric string.
    Wire(i64),
    /// Something no request of ours is called.
    Other,
}

/// The top-level `id` and whether there is a top-level `method`, read
/// leniently from a line that may not parse: strings and nesting are
/// skipped, so an `"id"` inside a result or a log record is not taken for
/// the message's.
pub(super) fn top_level(line: &[u8]) -> (Id, bool) {
    let (mut id, mut method) = (Id::Absent, false);
    let mut depth = 0usize;
    let mut at = 0;
    while at < line.len() {
        match line[at] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let mut end = at + 1;
                while end < line.len() && line[end] != b'"' {
                    end += if line[end] == b'\\' { 2 } else { 1 };
                }
                let key = &line[at + 1..end.min(line.len())];
                let after = line.get(end + 1..).unwrap_or_default().trim_ascii_start();
                if depth == 1
                    && let Some(value) = after.strip_prefix(b":")
                {
                    match key {
                        b"method" => method = true,
                        b"id" => {
                            let value = value.trim_ascii_start();
                            let unquoted = value.strip_prefix(b"\"").unwrap_or(value);
                            let digits = unquoted
                                .iter()
                                .position(|b| !(b.is_ascii_digit() || *b == b'-'))
                                .unwrap_or(unquoted.len());
                            id = match std::str::from_utf8(&unquoted[..digits])
                                .ok()
                                .and_then(|digits| digits.parse().ok())
                            {
                                Some(wire) => Id::Wire(wire),
                                None if value.starts_with(b"null") => Id::Absent,
                                None => Id::Other,
                            };
                        }
                        _ => {}
                    }
                }
                at = end + 1;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    (id, method)
}

impl Transport<RoleClient> for StdioTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        mut item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        match &mut item {
            JsonRpcMessage::Request(request) => {
                let wire = self.wire_id(&request.id);
                let id = std::mem::replace(&mut request.id, NumberOrString::Number(wire));
                let call = matches!(request.request, ClientRequest::CallToolRequest(_));
                // The progress token goes out as the wire id too: as hard to
                // guess, and unique among the daemon's clients, which tells
                // whose progress a notification is by it.
                let meta = request.request.get_meta_mut();
                let progress = meta.get_progress_token();
                if progress.is_some() {
                    meta.set_progress_token(ProgressToken(NumberOrString::Number(wire)));
                }
                self.pending.insert(wire, Pending { id, call, progress });
            }
            JsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &mut notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    let wire = self.wire_id(id);
                    cancelled.params.request_id = Some(NumberOrString::Number(wire));
                }
            }
            // Answers to the server's own requests keep the server's ids.
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {}
        }
        let writer = self.writer.clone();
        let line = serde_json::to_vec(&item).map(|mut line| {
            line.push(b'\n');
            line
        });
        async move {
            let line = line.map_err(std::io::Error::other)?;
            let mut writer = writer.lock().await;
            let Some(pipe) = writer.as_mut() else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the server's stdin is closed",
                ));
            };
            pipe.write_all(&line).await?;
            pipe.flush().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            if let Some(message) = self.queued.pop_front() {
                return Some(message);
            }
            // Cancel-safe: a read cut short leaves its bytes in `line` (and
            // their count in `structure`), and the next call goes on from there.
            let ended = loop {
                let Ok(buffer) = self.reader.fill_buf().await else {
                    break false;
                };
                if buffer.is_empty() {
                    break false;
                }
                let (piece, ended) = match memchr::memchr(b'\n', buffer) {
                    Some(at) => (&buffer[..=at], true),
                    None => (buffer, false),
                };
                self.structure.scan(piece);
                self.line.extend_from_slice(piece);
                let used = piece.len();
                self.reader.consume(used);
                if ended {
                    break true;
                }
            };
            let cost = std::mem::take(&mut self.structure).cost;
            if !ended {
                // The last line, cut off by the server's exit.
                self.line.clear();
                return None;
            }
            // Taken out to parse, and put back empty: its capacity serves
            // the next line.
            let mut line = std::mem::take(&mut self.line);
            // A byte-order mark, as some Windows programs write, is not JSON.
            let text = line.trim_ascii();
            let text = text
                .strip_prefix(b"\xef\xbb\xbf")
                .unwrap_or(text)
                .trim_ascii();
            // Lines that are not JSON-RPC were noted by the watched stdout.
            if text.starts_with(b"{") || text.starts_with(b"[") {
                self.take(text, cost, true);
            } else if let Some(other) = self.other.as_mut() {
                other(text);
            }
            line.clear();
            self.line = line;
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let writer = self.writer.clone();
        async move {
            // Dropping the pipe closes the server's stdin.
            writer.lock().await.take();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let repaired = repair_surrogates(
            br#"{"t":"cut \ud83d","u":"\\ud83d","ok":"\ud83d\ude00","low":"\ude00x"}"#,
        );
        assert_eq!(
            String::from_utf8(repaired.unwrap()).unwrap(),
            r#"{"t":"cut \ufffd","u":"\\ud83d","ok":"\ud83d\ude00","low":"\ufffdx"}"#
        );
        assert_eq!(repair_surrogates(br#"{"t":"fine \u00e9"}"#), None);
    }

    #[test]
    fn the_top_level_id_and_method_are_read_from_a_line_that_does_not_parse() {
        assert_eq!(
            top_level(br#"{"jsonrpc":"2.0","id":17,"result":NaN}"#),
            (Id::Wire(17), false)
        );
        assert_eq!(
            top_level(br#"{"id" : 5, "x": 1e999}"#),
            (Id::Wire(5), false)
        );
        // The TypeScript SDK writes `result` first; ids inside it are not
        // the message's, nor is a key's text inside a string.
        assert_eq!(
            top_level(br#"{"result":{"id":3,"n":NaN,"s":""id":4"},"jsonrpc":"2.0","id":"42"}"#),
            (Id::Wire(42), false)
        );
        assert_eq!(
            top_level(br#"{"method":"notifications/message","params":{"data":{"id":7}}}"#),
            (Id::Absent, true)
        );
        assert_eq!(top_level(br#"{"id":null,"error":{}}"#), (Id::Absent, false));
        assert_eq!(top_level(br#"{"id":[0,0],"x":NaN}"#), (Id::Other, false));
        assert_eq!(top_level(br#"[{"id":3}]"#), (Id::Absent, false));
        assert_eq!(top_level(b"{"), (Id::Absent, false));
    }

    /// Lines of any shape, answering requests sent or not: reading them
    /// never panics, never answers a request twice nor one never sent, and
    /// takes at most the memory bound to hold them (their cost is counted).
    #[test]
    fn any_line_is_read_without_panic_or_a_forged_answer() {
        use proptest::prelude::*;
        use rmcp::model::{
            CallToolRequestParams, JsonRpcRequest, PaginatedRequestParams, Request,
            RequestOptionalParam,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        const PIECES: &[&str] = &[
            r#"{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"ok"}]}}"#,
            r#"{"jsonrpc":"2.0","id":ID,"result":{"content":[],"structuredContent":[1,2,{"a":18446744073709551616}]}}"#,
            r#"{"jsonrpc":"2.0","id":ID,"result":{"tools":[]}}"#,
            r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-1}}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":"ID","result":NaN}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":ID,"progress":1}}"#,
            r#"[{"jsonrpc":"2.0","id":ID,"result":{}},[{"id":ID}]]"#,
            r#"{"id":ID,"result":{"isError":"yes","content":[{"type":"hologram"}]}}"#,
            r#""text \ud83d"#,
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            "{",
            "}",
            "ID",
            ",",
            ":",
            "\"",
            "\\",
            "1e999",
            "-0",
            "\u{feff}",
            "\u{202e}",
            "\u{fffd}",
        ];
        let config = ProptestConfig {
            cases: 3_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let lines = proptest::collection::vec(
            proptest::collection::vec((0..PIECES.len(), 0usize..4), 1..4),
            1..6,
        );
        proptest!(config, |(lines in lines, garbage in proptest::collection::vec(any::<u8>(), 0..40))| {
            let (_stdout_in, stdout) = pipe::pipe().unwrap();
            let (stdin, _stdin_out) = pipe::pipe().unwrap();
            let mut transport = StdioTransport::new(
                WatchedStdout::for_test(stdout),
                stdin,
                "test",
                RawResults::default(),
                true,
            );
            // Three requests sent: two calls and a listing.
            let mut sent = Vec::new();
            for number in 0..3 {
                let id = NumberOrString::Number(number);
                let request = if number == 2 {
                    ClientRequest::ListToolsRequest(RequestOptionalParam::with_param(
                        PaginatedRequestParams::default(),
                    ))
                } else {
                    ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("t")))
                };
                sent.push((id.clone(), transport.wire_id(&id)));
                // Not awaited: the write does not matter, the record does.
                drop(transport.send(JsonRpcMessage::Request(JsonRpcRequest {
                    jsonrpc: Default::default(),
                    id,
                    request,
                })));
            }
            let mut answered = std::collections::HashSet::new();
            let ids = [sent[0].1, sent[1].1, sent[2].1, 7];
            for pieces in lines.iter().chain(std::iter::once(&vec![])) {
                let mut line: Vec<u8> = pieces
                    .iter()
                    .map(|&(piece, id)| PIECES[piece].replace("ID", &ids[id].to_string()))
                    .collect::<String>()
                    .into_bytes();
                if pieces.is_empty() {
                    line = garbage.clone();
                }
                let mut structure = Structure::default();
                structure.scan(&line);
                transport.take(&line, structure.cost, true);
                while let Some(message) = transport.queued.pop_front() {
                    let id = match &message {
                        JsonRpcMessage::Response(response) => Some(response.id.clone()),
                        JsonRpcMessage::Error(error) => error.id.clone(),
                        _ => None,
                    };
                    if let Some(id) = id {
                        prop_assert!(sent.iter().any(|(ours, _)| *ours == id), "{id:?}");
                        prop_assert!(answered.insert(id.clone()), "{id:?} twice");
                    }
                }
            }
        });
    }
}
