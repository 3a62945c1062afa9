//! `mcp-cli call <server> <tool> [json]`: call a tool.
//!
//! Safety rule: a `tools/call` that may have reached the server is never sent
//! again unless the tool declares `readOnlyHint` or `idempotentHint`.
//! Connecting and listing retry freely.

use std::borrow::Cow;
use std::io::{IsTerminal, Read};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::{Context, Doing, similar_names, split_target};
use crate::client::{Block, CallResult, ConnectOptions, Progress, Session};
use crate::config::{Config, ServerEntry};
use crate::error::McpError;
use crate::retry;

/// How long to wait for the first byte of arguments on a non-terminal stdin.
pub const STDIN_WAIT: Duration = Duration::from_millis(1000);

/// How long a refused call waits for the listing that explains it.
const LISTING_GRACE: Duration = Duration::from_secs(2);

/// How long a call that died in flight may spend learning, from a fresh
/// connection, whether it may run again.
const ANNOTATIONS_GRACE: Duration = Duration::from_secs(10);

/// Time kept before the deadline to report a failure as itself.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// What a `call` names, checked: the server's entry, the tool, its arguments.
pub(super) struct Target<'c> {
    pub entry: &'c ServerEntry,
    pub tool: String,
    arguments: Arguments,
}

/// Reads `call`'s words: `server tool [json]` or `server/tool [json]`, for
/// a known server whose filters allow the tool, with arguments that parse.
pub(super) fn resolve<'c>(
    config: &'c Config,
    target: &str,
    rest: &[String],
) -> Result<Target<'c>, McpError> {
    let split = split_target(config, target, None);
    // The words after the tool are the JSON, split by the shell when it was
    // not quoted (`call s t {"path": "x"}`): joined again.
    let (server, tool, json) = match split {
        (server, Some(tool)) => (server, tool.to_owned(), rest),
        (server, None) => match rest.split_first() {
            Some((tool, json)) => (server, tool.clone(), json),
            None => return Err(crate::cli::missing_tool(server)),
        },
    };
    let json = (!json.is_empty()).then(|| json.join(" "));
    let entry = config.server(server)?;
    config.check(entry)?;
    if !entry.filter.allows(&tool) {
        return Err(McpError::ToolDisabled {
            server: server.to_owned(),
            tool,
        });
    }
    let arguments = match json.as_deref() {
        Some("-") => Arguments::Stdin { wait: None },
        // `call s t "$ARGS"` with ARGS unset: not a call with no arguments.
        Some(text) if text.trim().is_empty() => {
            return Err(McpError::InvalidJsonArguments {
                message: "the JSON argument is empty (an unset shell variable?); pass '{}' for no arguments".to_owned(),
                origin: "argument",
            });
        }
        Some(text) => Arguments::Given(parse_arguments(text, "argument")?),
        None if std::io::stdin().is_terminal() => Arguments::Given(None),
        None => Arguments::Stdin {
            wait: Some(STDIN_WAIT),
        },
    };
    Ok(Target {
        entry,
        tool,
        arguments,
    })
}

/// Calls the tool and prints its result.
pub async fn call(context: &Context, target: &str, rest: &[String]) -> Result<(), McpError> {
    let Target {
        entry,
        tool,
        arguments,
    } = resolve(&context.config, target, rest)?;
    let server = entry.name.as_str();
    // Someone typing the arguments: no status line over what they type.
    let typing = matches!(arguments, Arguments::Stdin { .. }) && std::io::stdin().is_terminal();

    let printer = context.printer.clone();
    let label = format!("{server}/{tool}");
    let progress_label = label.clone();
    let progress = Arc::new(move |update: Progress| {
        let amount = match update.total {
            Some(total) => format!("{}/{}", update.progress, total),
            None => format!("{}", update.progress),
        };
        let line = match update.message.as_deref().map(str::trim) {
            Some(message) if !message.is_empty() => {
                format!("{progress_label}: {message} ({amount})")
            }
            _ => format!("{progress_label}: {amount}"),
        };
        printer.progress(&line);
    });
    let options = context.connect_options(Some(progress));
    let slot: Mutex<Option<Session>> = Mutex::new(None);
    // Whether the tool may run twice: learned only when a call that may have
    // run died with its connection, and a retry could follow.
    let repeatable: OnceLock<bool> = OnceLock::new();
    let attempts = AtomicU32::new(0);
    let retry_config = context.retry();

    let connecting = format!("connecting to `{server}`");
    let calling = format!("tools/call `{label}`");
    let doing = Doing::new(connecting.clone());
    // Set when nothing came on stdin within its wait.
    let waited_out = AtomicBool::new(false);
    let work = Box::pin(async {
        // Read stdin while the server starts; a failed start counts as the
        // first attempt.
        let read_done = AtomicBool::new(false);
        let connect = async {
            let connected = context.connect(entry, &options).await;
            if !read_done.load(Ordering::SeqCst) {
                doing.set("reading the arguments from stdin".to_owned());
            }
            connected
        };
        let read = async {
            let arguments = read_arguments(arguments, &waited_out).await;
            read_done.store(true, Ordering::SeqCst);
            doing.set(connecting.clone());
            arguments
        };
        let (arguments, first) = tokio::join!(read, connect);
        let mut first_error = match first {
            Ok(session) => {
                *slot.lock().await = Some(session);
                None
            }
            Err(error) => Some(error),
        };
        let arguments = arguments?;
        let attempt = || {
            let first_error = first_error.take();
            async {
                let number = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                let mut slot = slot.lock().await;
                let session = match (slot.take(), first_error) {
                    (_, Some(error)) => return Err(error),
                    (Some(session), None) => slot.insert(session),
                    (None, None) => {
                        doing.set(connecting.clone());
                        slot.insert(context.connect(entry, &options).await?)
                    }
                };
                doing.set(calling.clone());
                let result = call_once(session, &tool, &arguments).await;
                if let Err(error) = &result
                    && retry::is_transient(error)
                {
                    // The connection is suspect: the next attempt starts afresh.
                    if let Some(session) = slot.take() {
                        session.close().await;
                    }
                    // Only when a retry could follow: one is left, and its
                    // shortest backoff ends before the deadline.
                    let retry_fits = number < retry_config.max_attempts
                        && tokio::time::Instant::now() + retry_config.delay(number, 0.0)
                            < context.deadline;
                    if reached_tool(error)
                        && !timed_out(error)
                        && repeatable.get().is_none()
                        && retry_fits
                    {
                        *slot = ask_annotations(context, entry, &options, &tool, &repeatable).await;
                    }
                }
                result
            }
        };
        let may_retry = |error: &McpError| {
            retry::is_transient(error)
                && !timed_out(error)
                && (!reached_tool(error) || repeatable.get() == Some(&true))
        };
        retry::retry_with_backoff_if(attempt, &retry_config, &label, may_retry).await
    });
    let mut signals = context.signals.clone();
    let result = tokio::select! {
        biased;
        error = signals.interrupted() => Err(error),
        result = async {
            let work = context.until_deadline(work, &doing);
            if typing {
                work.await
            } else {
                let status = || format!("{label}: waiting for `{server}`");
                super::with_status(&context.printer, status, work).await
            }
        } => result,
    };
    let printed = match result {
        Ok(value) => print_result(context, server, &tool, &value),
        Err(error) => {
            // Data all the same: what the tool answered, under `--json`
            // (the error, which follows on stderr, is what counts).
            if let McpError::BadResult {
                arrived: Some(arrived),
                ..
            } = &error
                && context.printer.json()
            {
                let _ = context.printer.out_json_text(arrived);
            }
            Err(error)
        }
    };
    if waited_out.load(Ordering::SeqCst) && stdin_came_late() {
        context.printer.warn(&format!(
            "input came on stdin after mcp-cli stopped waiting for it ({}): `{label}` was called with no arguments; pass them as the JSON argument, or `-` to wait for stdin without a limit",
            crate::error::format_duration(STDIN_WAIT)
        ));
    }
    if let Some(session) = slot.lock().await.take() {
        session.close().await;
    }
    printed
}

/// One attempt. A call that succeeds costs one request: the listing is
/// asked for only when the tool or the server refuses the call, to tell an
/// unknown tool from a failing one.
async fn call_once(
    session: &Session,
    tool: &str,
    arguments: &Option<Map<String, Value>>,
) -> Result<CallResult, McpError> {
    let result = session.call_tool(tool, arguments.clone()).await;
    let refused = match &result {
        Ok(value) => value.is_error(),
        Err(error) => matches!(error, McpError::ServerError { .. }),
    };
    if !refused {
        return result;
    }
    let Ok(Ok(tools)) = tokio::time::timeout(LISTING_GRACE, session.list_tools()).await else {
        return result.map_err(|error| execution_failed(error, tool));
    };
    if !tools.is_empty() && !tools.iter().any(|candidate| candidate.name == tool) {
        return Err(McpError::ToolNotFound {
            server: session.name().to_owned(),
            tool: tool.to_owned(),
            similar: similar_names(tool, tools.iter().map(|t| t.name.as_str())),
            total: tools.len(),
        });
    }
    result.map_err(|error| execution_failed(error, tool))
}

/// A JSON-RPC error answering the call, for a tool the server has:
/// `TOOL_EXECUTION_FAILED`, as philschmid/mcp-cli names it.
fn execution_failed(error: McpError, tool: &str) -> McpError {
    match error {
        McpError::ServerError {
            server,
            code,
            message,
            data,
            ..
        } => McpError::ToolExecutionFailed {
            server,
            tool: tool.to_owned(),
            code,
            message,
            data,
        },
        other => other,
    }
}

/// After a call that may have run died with its connection: a fresh
/// connection's listing tells whether the tool may run again (its
/// `readOnlyHint` or `idempotentHint`). Returns that connection for the
/// retry when it may; when the annotations cannot be had in time, the call
/// counts as not repeatable.
async fn ask_annotations(
    context: &Context,
    entry: &ServerEntry,
    options: &ConnectOptions,
    tool: &str,
    repeatable: &OnceLock<bool>,
) -> Option<Session> {
    crate::debug!(
        "{}: the call may have run; asking a fresh connection whether `{tool}` may run again",
        entry.name
    );
    // Leave time to report the original error before the deadline.
    let now = tokio::time::Instant::now();
    let until =
        (now + ANNOTATIONS_GRACE).min(context.deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(now));
    if until <= now {
        return None;
    }
    let lookup = async {
        let session = context.connect(entry, options).await.ok()?;
        let Ok(tools) = session.list_tools().await else {
            session.close().await;
            return None;
        };
        let may = tools
            .iter()
            .any(|candidate| candidate.name == tool && candidate.is_repeatable());
        let _ = repeatable.set(may);
        if may {
            Some(session)
        } else {
            session.close().await;
            None
        }
    };
    tokio::time::timeout_at(until, lookup).await.ok().flatten()
}

/// Whether the call itself timed out: the tool is slower than
/// `MCP_REQUEST_TIMEOUT`, and would be as slow again, so it is not retried
/// even when repeatable.
fn timed_out(error: &McpError) -> bool {
    matches!(error, McpError::Timeout { method, .. } if method == "tools/call")
}

/// Whether the failed call may have reached the tool: the request was sent
/// and the connection died or timed out before the answer.
fn reached_tool(error: &McpError) -> bool {
    match error {
        McpError::ConnectionClosed {
            method,
            request_sent,
            ..
        } => method == "tools/call" && *request_sent,
        McpError::Timeout { method, .. } => method == "tools/call",
        // A gateway's 502 or 504 can come after the server got the request;
        // only 429 and 503 say it was turned away.
        McpError::HttpStatus { method, status, .. } => {
            method == "tools/call" && matches!(status, 502 | 504)
        }
        _ => false,
    }
}

enum Arguments {
    Given(Option<Map<String, Value>>),
    Stdin { wait: Option<Duration> },
}

/// The arguments, given or read from stdin; `waited_out` is set when
/// nothing came on stdin within its wait.
async fn read_arguments(
    arguments: Arguments,
    waited_out: &AtomicBool,
) -> Result<Option<Map<String, Value>>, McpError> {
    let wait = match arguments {
        Arguments::Given(arguments) => return Ok(arguments),
        Arguments::Stdin { wait } => wait,
    };
    // The reader thread starts with the handled signals blocked (it inherits
    // the mask), so they all reach the main thread: a forced exit must not
    // run beside a main thread that is still starting servers.
    let reader = crate::signals::blocked(|| tokio::task::spawn_blocking(move || read_stdin(wait)));
    let text = reader
        .await
        .map_err(|error| McpError::usage(format!("cannot read stdin: {error}")))?
        .map_err(|error| McpError::usage(format!("cannot read stdin: {error}")))?;
    let Some(bytes) = text else {
        waited_out.store(true, Ordering::SeqCst);
        return Ok(None);
    };
    match String::from_utf8(bytes) {
        Ok(text) => parse_arguments(&text, "stdin"),
        Err(error) => Err(McpError::InvalidJsonArguments {
            message: format!(
                "not UTF-8 (an invalid byte at offset {}) in the stdin",
                error.utf8_error().valid_up_to()
            ),
            origin: "stdin",
        }),
    }
}

/// Reads stdin to its end; with `wait`, gives up (returns `None`) when no
/// byte arrives within it.
fn read_stdin(wait: Option<Duration>) -> std::io::Result<Option<Vec<u8>>> {
    if let Some(wait) = wait {
        let mut poll = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        let ready = loop {
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, millis) };
            if ready >= 0
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                break ready;
            }
        };
        if ready == 0 {
            crate::debug!(
                "no arguments on stdin within {}; calling with none",
                crate::error::format_duration(wait)
            );
            return Ok(None);
        }
    }
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Whether stdin, given up on after its wait, has had bytes since (a
/// producer slower than the wait): they would otherwise go unsaid.
fn stdin_came_late() -> bool {
    let mut poll = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    if ready <= 0 || poll.revents & libc::POLLIN == 0 {
        return false;
    }
    // Readable: bytes, or the end of the input (which is no news). They
    // are counted, not read: they may be someone else's (`producer |
    // { mcp-cli call ...; read line; }`).
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let asked = unsafe { libc::ioctl(0, libc::FIONREAD, &mut waiting) };
    asked == 0 && waiting > 0
}

/// Parses tool arguments: one JSON object (empty input means none).
fn parse_arguments(
    text: &str,
    origin: &'static str,
) -> Result<Option<Map<String, Value>>, McpError> {
    // A byte-order mark, as some Windows editors write, is not JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(McpError::InvalidJsonArguments {
            message: format!(
                "expected a JSON object, found {}",
                match other {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ),
            origin,
        }),
        Err(error) => Err(McpError::InvalidJsonArguments {
            message: format!(
                "{} at line {}, column {} of the {origin}",
                error_kind(&error),
                error.line(),
                error.column()
            ),
            origin,
        }),
    }
}

fn error_kind(error: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; the position is added by the caller.
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

fn print_result(
    context: &Context,
    server: &str,
    tool: &str,
    result: &CallResult,
) -> Result<(), McpError> {
    if context.printer.json() {
        // The whole result is data, a tool error's included; TOOL_ERROR then
        // also goes to stderr, and sets the exit code even when stdout's
        // reader went away.
        let printed = context.printer.out_json_text(&result.to_json());
        if !result.is_error() {
            return printed;
        }
    }
    if result.is_error() {
        let message = content_text(result).concat();
        return Err(McpError::ToolError {
            server: server.to_owned(),
            tool: tool.to_owned(),
            message: if message.trim().is_empty() {
                "(no message)".to_owned()
            } else {
                message.trim_end().to_owned()
            },
        });
    }
    let mut pieces = content_text(result);
    if pieces.iter().all(|piece| piece.trim().is_empty())
        && let Some(structured) = result.structured_json()
    {
        // JSON, whose output is terminal-safe as it is.
        return context.printer.out_json_text(&structured);
    }
    if pieces.last().is_some_and(|last| !last.ends_with('\n')) {
        pieces.push(Cow::Borrowed("\n"));
    }
    // Data, written as it is, unless stdout is a terminal (and no `--raw`).
    context.printer.out_result(&pieces)
}

/// The result's content as pieces of text, borrowed where they can be:
/// text blocks as they are, other blocks summarised by type and size, one
/// block a line.
fn content_text(result: &CallResult) -> Vec<Cow<'_, str>> {
    let mut pieces = Vec::new();
    for (index, block) in result.blocks().enumerate() {
        if index > 0 {
            pieces.push(Cow::Borrowed("\n"));
        }
        pieces.push(match block {
            Block::Text(text) => Cow::Borrowed(text),
            Block::Media {
                kind,
                mime_type,
                bytes,
            } => Cow::Owned(format!("[{kind}: {mime_type}, {}]", size(bytes))),
            Block::Resource {
                uri,
                mime_type,
                bytes,
            } => Cow::Owned(format!(
                "[resource: {uri}, {}, {}]",
                mime_type.unwrap_or("unknown type"),
                size(bytes)
            )),
            Block::ResourceLink { uri, name } => {
                Cow::Owned(format!("[resource link: {uri} ({name})]"))
            }
            Block::Other(None) => Cow::Borrowed("[content of an unknown type]"),
            Block::Other(Some(kind)) => Cow::Owned(format!(
                "[content of type `{}`, which mcp-cli does not show; --json has it whole]",
                crate::printer::one_line(kind)
            )),
        });
    }
    pieces
}

fn size(bytes: usize) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} bytes")
    } else if bytes < 10 * 1024 * 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{} MiB", bytes / (1024 * 1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object_and_errors_have_positions() {
        assert_eq!(parse_arguments("  ", "argument").unwrap(), None);
        assert!(
            parse_arguments(r#"{"a": 1}"#, "argument")
                .unwrap()
                .is_some()
        );
        let error = parse_arguments("{\"a\": }", "argument").unwrap_err();
        assert_eq!(error.to_string(), "Invalid JSON in tool arguments");
        assert!(error.details()[0].contains("line 1, column 7"), "{error:?}");
        let error = parse_arguments("[1]", "stdin").unwrap_err();
        assert!(error.details()[0].contains("found an array"), "{error:?}");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(70), "70 bytes");
        assert_eq!(size(20 * 1024), "20 KiB");
        assert_eq!(size(30 * 1024 * 1024), "30 MiB");
    }
}
