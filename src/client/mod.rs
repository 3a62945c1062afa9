//! The only module that knows how MCP travels: connections to servers.
//!
//! A [`Session`] is one initialized connection. It hides the transport (a
//! child process over stdio, Streamable HTTP or legacy SSE, or the
//! daemon's socket, see [`daemon`]) and rmcp's types: commands see plain
//! JSON values and [`McpError`]s that name the server, the method and the
//! duration.

pub mod daemon;
mod guard;
mod http;
mod link;
pub(crate) mod oauth;
mod process;
mod spawn;
mod sse;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CancelledNotificationParam, ClientCapabilities, ClientNotification,
    ClientRequest, ErrorData, Implementation, InitializeRequestParams, Notification,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, Request, RequestId,
    RequestOptionalParam, ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService, ServiceError};
use rmcp::{ClientHandler, Peer, RoleClient, ServiceExt};
use serde_json::{Map, Value};

pub use http::{host_of, is_plain_remote};
use process::MAX_MESSAGE_BYTES;
use process::{EOF_GRACE, SIGNALLED_GRACE};
pub use process::{Supervisor, become_subreaper, stop_orphans};

/// How long a server that wrote something other than JSON-RPC to stdout
/// during the handshake may then stay silent (stdout and stderr) before it
/// counts as broken. Long, so that a server that prints a banner and then
/// starts slowly, saying nothing, is still waited for.
pub const GARBAGE_QUIET: Duration = Duration::from_secs(30);

/// The most pages of a listing followed, and the most tools taken: past
/// them, a server that hands out cursors without end is a protocol error.
const MAX_PAGES: usize = 1000;
/// See [`MAX_PAGES`].
const MAX_TOOLS: usize = 50_000;

use crate::config::{HttpKind, ServerConfig, ServerEntry};
use crate::error::McpError;

/// How sessions are opened.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Who stops the servers started, whatever happens.
    pub supervisor: &'static Supervisor,
    /// Per-request timeout; `None` leaves only the overall deadline.
    pub request_timeout: Option<Duration>,
    /// Stream server stderr.
    pub debug: bool,
    /// Where progress notifications go, if anywhere.
    pub progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
    /// The command's deadline: stopping the server takes no longer.
    pub deadline: Option<tokio::time::Instant>,
    /// Keep each tool result whole as it came, to print it (`--json`);
    /// otherwise only its `structuredContent` is kept so.
    pub whole_results: bool,
    /// The daemon to reach servers through, unless turned off.
    pub daemon: Option<daemon::Use>,
    /// Every progress notification, whichever request it is for (the
    /// daemon routes them by token); `progress` is then unused.
    pub all_progress: Option<Arc<dyn Fn(ProgressNotificationParam) + Send + Sync>>,
    /// Where OAuth tokens are kept ([`oauth::dir`]); `None`: no OAuth
    /// (requests go without a token).
    pub tokens: Option<std::path::PathBuf>,
}

/// One progress notification of the call in flight.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Progress so far.
    pub progress: f64,
    /// Total, when known.
    pub total: Option<f64>,
    /// The server's message.
    pub message: Option<String>,
}

/// What the server said about itself in `initialize`.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// Its name.
    pub name: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// The negotiated protocol revision.
    pub protocol_version: String,
    /// Its instructions for the client.
    pub instructions: Option<String>,
}

/// A tool as listed by the server.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// The listing entry as the server sent it (name, description, schemas, annotations).
    pub raw: Value,
}

impl Tool {
    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.raw.get("description").and_then(Value::as_str)
    }

    /// Whether the tool says that calling it twice is harmless
    /// (`readOnlyHint` or `idempotentHint`).
    pub fn is_repeatable(&self) -> bool {
        let hint = |name| {
            self.raw
                .get("annotations")
                .and_then(|annotations| annotations.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        hint("readOnlyHint") || hint("idempotentHint")
    }
}

/// A tool's result, read in place: a result of many megabytes is not copied.
#[derive(Debug)]
pub enum CallResult {
    /// As rmcp reads it, and as it came.
    Typed {
        /// The result, to read (`structuredContent` left out when `raw`
        /// has it).
        result: rmcp::model::CallToolResult,
        /// The result as the server wrote it, whole or its
        /// `structuredContent` alone (see [`guard::Kept`]).
        raw: Option<guard::Kept>,
    },
    /// One rmcp refuses whole for one odd part (a content block of a type
    /// it does not know): read leniently as plain JSON, and as it came.
    Lenient {
        /// The result, to read (`structuredContent` a `null` when `raw`
        /// has it).
        value: Value,
        /// As for [`CallResult::Typed`].
        raw: Option<guard::Kept>,
    },
}

/// One content block of a result.
#[derive(Debug, PartialEq, Eq)]
pub enum Block<'a> {
    /// Text.
    Text(&'a str),
    /// An image or audio clip: its kind, MIME type and decoded size.
    Media {
        /// `image` or `audio`.
        kind: &'static str,
        /// The MIME type.
        mime_type: &'a str,
        /// Size in bytes after base64 decoding.
        bytes: usize,
    },
    /// An embedded resource.
    Resource {
        /// Its URI.
        uri: &'a str,
        /// Its MIME type, when given.
        mime_type: Option<&'a str>,
        /// Size in bytes (text, or blob after base64 decoding).
        bytes: usize,
    },
    /// A link to a resource.
    ResourceLink {
        /// Its URI.
        uri: &'a str,
        /// Its name.
        name: &'a str,
    },
    /// A block of a kind this version does not know, with its type.
    Other(Option<&'a str>),
}

impl CallResult {
    /// Whether the tool reported an error (`isError: true`).
    pub fn is_error(&self) -> bool {
        match self {
            CallResult::Typed { result, .. } => result.is_error == Some(true),
            CallResult::Lenient { value, .. } => value.get("isError") == Some(&Value::Bool(true)),
        }
    }

    /// The content blocks, in order.
    pub fn blocks(&self) -> Box<dyn Iterator<Item = Block<'_>> + '_> {
        use rmcp::model::{ContentBlock, ResourceContents};
        let CallResult::Typed { result, .. } = self else {
            return Box::new(self.lenient_blocks());
        };
        Box::new(result.content.iter().map(|block| match block {
            ContentBlock::Text(text) => Block::Text(&text.text),
            ContentBlock::Image(image) => Block::Media {
                kind: "image",
                mime_type: &image.mime_type,
                bytes: base64_len(&image.data),
            },
            ContentBlock::Audio(audio) => Block::Media {
                kind: "audio",
                mime_type: &audio.mime_type,
                bytes: base64_len(&audio.data),
            },
            ContentBlock::Resource(embedded) => match &embedded.resource {
                ResourceContents::TextResourceContents {
                    uri,
                    mime_type,
                    text,
                    ..
                } => Block::Resource {
                    uri,
                    mime_type: mime_type.as_deref(),
                    bytes: text.len(),
                },
                ResourceContents::BlobResourceContents {
                    uri,
                    mime_type,
                    blob,
                    ..
                } => Block::Resource {
                    uri,
                    mime_type: mime_type.as_deref(),
                    bytes: base64_len(blob),
                },
                _ => Block::Other(Some("resource")),
            },
            ContentBlock::ResourceLink(link) => Block::ResourceLink {
                uri: &link.uri,
                name: &link.name,
            },
            _ => Block::Other(None),
        }))
    }

    /// The blocks of a result kept as it came.
    fn lenient_blocks(&self) -> impl Iterator<Item = Block<'_>> {
        let blocks = match self {
            CallResult::Lenient { value, .. } => value.get("content").and_then(Value::as_array),
            CallResult::Typed { .. } => None,
        };
        blocks.into_iter().flatten().map(|block| {
            let text = |key: &str| block.get(key).and_then(Value::as_str);
            match text("type") {
                Some("text") => Block::Text(text("text").unwrap_or_default()),
                Some(kind @ ("image" | "audio")) => Block::Media {
                    kind: if kind == "image" { "image" } else { "audio" },
                    mime_type: text("mimeType").unwrap_or("unknown type"),
                    bytes: base64_len(text("data").unwrap_or_default()),
                },
                Some("resource_link") => Block::ResourceLink {
                    uri: text("uri").unwrap_or_default(),
                    name: text("name").unwrap_or_default(),
                },
                Some("resource") => {
                    let resource = block.get("resource");
                    let field =
                        |key: &str| resource.and_then(|r| r.get(key)).and_then(Value::as_str);
                    Block::Resource {
                        uri: field("uri").unwrap_or_default(),
                        mime_type: field("mimeType"),
                        bytes: field("text")
                            .map(str::len)
                            .or_else(|| field("blob").map(base64_len))
                            .unwrap_or(0),
                    }
                }
                other => Block::Other(other),
            }
        })
    }

    /// `structuredContent` as JSON text, when the tool sent it.
    pub fn structured_json(&self) -> Option<Cow<'_, str>> {
        let (raw, read) = match self {
            CallResult::Typed { result, raw } => (raw, result.structured_content.as_ref()),
            CallResult::Lenient { value, raw } => (raw, value.get("structuredContent")),
        };
        match raw {
            Some(kept) => kept.structured().map(Cow::Borrowed),
            None => read.map(|value| Cow::Owned(value.to_string())),
        }
    }

    /// The whole result as JSON text: as the server wrote it (all its
    /// fields, in its order, numbers exact) when it was kept whole.
    pub fn to_json(&self) -> Cow<'_, str> {
        let (raw, mut value) = match self {
            CallResult::Typed {
                raw: Some(guard::Kept::Whole(whole)),
                ..
            }
            | CallResult::Lenient {
                raw: Some(guard::Kept::Whole(whole)),
                ..
            } => return Cow::Borrowed(whole.get()),
            CallResult::Typed { result, raw } => {
                (raw, serde_json::to_value(result).unwrap_or(Value::Null))
            }
            CallResult::Lenient { value, raw } => (raw, value.clone()),
        };
        if let (Some(fields), Some(guard::Kept::Structured(structured))) =
            (value.as_object_mut(), raw)
        {
            let parsed = serde_json::from_str(structured.get()).unwrap_or(Value::Null);
            fields.insert("structuredContent".to_owned(), parsed);
        }
        Cow::Owned(value.to_string())
    }
}

/// Why a message past [`MAX_MESSAGE_BYTES`] is refused.
fn past_the_limit() -> String {
    format!(
        "mcp-cli reads messages of up to {} MiB; this one was cut off there",
        MAX_MESSAGE_BYTES >> 20
    )
}

/// Decoded size of base64 data.
fn base64_len(data: &str) -> usize {
    data.trim_end_matches('=').len() * 3 / 4
}

/// A spawn error with the config's `${VAR}` put back where a variable's
/// value was substituted into the command or the working directory.
fn as_written(error: McpError, substituted: &[(String, String)]) -> McpError {
    let undo = |text: &str| {
        substituted
            .iter()
            .fold(text.to_owned(), |text, (value, written)| {
                text.replace(value, written)
            })
    };
    match error {
        McpError::Spawn {
            server,
            command,
            source,
            fix,
        } if !substituted.is_empty() => McpError::Spawn {
            server,
            command: undo(&command),
            // Rebuilt only when it names a substituted value (the OS error
            // number, which tells a transient failure, stays otherwise).
            source: if undo(&source.to_string()) == source.to_string() {
                source
            } else {
                std::io::Error::new(source.kind(), undo(&source.to_string()))
            },
            fix: fix.map(|fix| undo(&fix)),
        },
        other => other,
    }
}

/// Starts a stdio server's process.
fn launch(
    entry: &ServerEntry,
    debug: bool,
    supervisor: &'static Supervisor,
) -> Result<process::Started, McpError> {
    let ServerConfig::Stdio {
        command,
        args,
        env,
        cwd,
    } = &entry.transport
    else {
        unreachable!("only stdio servers are launched");
    };
    process::start(&process::Launch {
        server: &entry.name,
        command,
        args,
        env,
        cwd: cwd.as_deref(),
        base_env: None,
        dir: None,
        debug,
        supervisor,
    })
    .map_err(|error| as_written(error, &entry.substituted))
}

/// The client side of the connection: answers the server and forwards progress.
#[derive(Clone)]
struct Handler {
    progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
    /// See [`ConnectOptions::all_progress`].
    all_progress: Option<Arc<dyn Fn(ProgressNotificationParam) + Send + Sync>>,
    /// The progress token of the call in flight; notifications for any other
    /// token (late ones, after a timeout) are dropped.
    active: Arc<Mutex<Option<ProgressToken>>>,
}

impl ClientHandler for Handler {
    fn get_info(&self) -> InitializeRequestParams {
        let mut client = Implementation::default();
        client.name = "mcp-cli".to_owned();
        client.version = env!("CARGO_PKG_VERSION").to_owned();
        InitializeRequestParams::new(ClientCapabilities::default(), client)
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(route) = &self.all_progress {
            return route(params);
        }
        let Some(progress) = &self.progress else {
            return;
        };
        let active = self.active.lock().expect("progress lock").clone();
        if active.as_ref() == Some(&params.progress_token) {
            progress(Progress {
                progress: params.progress,
                total: params.total,
                message: params.message,
            });
        }
    }
}

/// A server process started ahead of its session, by [`Session::start`]
/// (or the error that kept it from starting). Dropped unused, it is stopped.
pub struct Started(Result<Option<process::Started>, McpError>);

/// One initialized connection to a server.
pub struct Session {
    server: String,
    service: RunningService<RoleClient, Handler>,
    /// What carries the messages, and explains a failure.
    link: link::Link,
    request_timeout: Option<Duration>,
    active: Arc<Mutex<Option<ProgressToken>>>,
    info: ServerInfo,
    /// Set once a request was cancelled: the server is then given a moment
    /// to read `notifications/cancelled` before it is stopped.
    abandoned: Arc<AtomicBool>,
    /// The command's deadline, which bounds the stopping too.
    deadline: Option<tokio::time::Instant>,
    /// Call results as the server wrote them.
    raw: guard::RawResults,
}

impl Session {
    /// Starts a child-process server without connecting to it. This needs
    /// no async runtime, so a command can start its server first thing and
    /// let it boot while the rest is set up; [`Session::connect_started`]
    /// then connects to it.
    pub fn start(entry: &ServerEntry, debug: bool, supervisor: &'static Supervisor) -> Started {
        Started(match &entry.transport {
            ServerConfig::Stdio { .. } => launch(entry, debug, supervisor).map(Some),
            // Nothing to start: the connection opens with the session.
            ServerConfig::Http { .. } => Ok(None),
        })
    }

    /// Starts or reaches the server and performs the MCP handshake, over a
    /// process already started with [`Session::start`] when there is one.
    pub async fn connect_started(
        entry: &ServerEntry,
        options: &ConnectOptions,
        started: Option<Started>,
    ) -> Result<Self, McpError> {
        let active = Arc::new(Mutex::new(None));
        let handler = Handler {
            progress: options.progress.clone(),
            all_progress: options.all_progress.clone(),
            active: active.clone(),
        };
        let raw = guard::RawResults::default();
        // Through the daemon, unless the server was started already, or
        // the daemon says to connect directly.
        let mut relayed_to = None;
        if started.is_none()
            && let Some(daemon) = &options.daemon
            && let Some(attached) = daemon::attach(
                daemon,
                entry,
                raw.clone(),
                options.whole_results,
                options.debug,
            )
            .await
        {
            let link = link::Link::Daemon(attached.relayed);
            let link::Link::Daemon(relayed) = &link else {
                unreachable!("a relayed link")
            };
            // A daemon that takes a command in but then says nothing (it is
            // stopped) is given up on.
            let result = tokio::select! {
                result = handshake(handler.clone().serve(attached.transport), options, &link) => {
                    Some(result)
                }
                () = relayed.silent() => None,
            };
            let not_relayed = match &result {
                Some(Ok(Ok(_))) => None,
                Some(_) => relayed.not_relayed(entry),
                None => Some(daemon::NotRelayed::Direct(
                    "it did not answer within 3 s".to_owned(),
                )),
            };
            match not_relayed {
                Some(daemon::NotRelayed::Error(error)) => return Err(error),
                Some(daemon::NotRelayed::Direct(why)) => {
                    crate::debug!(
                        "{}: not through the daemon ({why}); connecting directly",
                        entry.name
                    );
                }
                None => relayed_to = result.map(|result| (link, result)),
            }
        }
        let (link, result) = match (relayed_to, &entry.transport) {
            (Some(relayed), _) => relayed,
            (None, ServerConfig::Stdio { .. }) => {
                let started = match started.and_then(|Started(started)| started.transpose()) {
                    Some(started) => started?,
                    None => launch(entry, options.debug, options.supervisor)?,
                };
                let (child, stdout, stdin) = started.attach()?;
                let link = link::Link::child(child, stdout.activity());
                // The size limit is the watched stdout's (MAX_MESSAGE_BYTES):
                // past it the connection ends with an error, where rmcp would
                // drop the line and leave its request waiting.
                let transport = guard::StdioTransport::new(
                    stdout,
                    stdin,
                    &entry.name,
                    raw.clone(),
                    options.whole_results,
                );
                let result = handshake(handler.serve(transport), options, &link).await;
                (link, result)
            }
            (None, ServerConfig::Http { kind, .. }) => {
                let link = link::Link::remote(&entry.name, &entry.shown);
                let endpoint = http::Endpoint::of(entry, options.tokens.as_deref())
                    .expect("a remote server's endpoint");
                let result = remote(&endpoint, *kind, handler, options, &link).await?;
                (link, result)
            }
        };
        let mut service = match result {
            Ok(Ok(service)) => service,
            Ok(Err(_)) if link.overflowed() => {
                return Err(McpError::MessageTooLarge {
                    server: entry.name.clone(),
                    method: "initialize".to_owned(),
                    why: past_the_limit(),
                });
            }
            Ok(Err(error)) => return Err(initialize_error(&entry.name, error, &link).await),
            Err(Some(duration)) => {
                return Err(McpError::Timeout {
                    server: entry.name.clone(),
                    method: "initialize".to_owned(),
                    duration,
                    stderr: link.explain().await.lines,
                });
            }
            Err(None) => {
                let stderr = link.explain().await.lines;
                return Err(McpError::Protocol {
                    server: entry.name.clone(),
                    method: "initialize".to_owned(),
                    message: format!(
                        "the server wrote to stdout only lines that are not JSON-RPC, then nothing for {}; it must write only JSON-RPC there (logs go to stderr)",
                        crate::error::format_duration(GARBAGE_QUIET)
                    ),
                    stderr,
                });
            }
        };
        let info = service
            .peer_info()
            .map(|peer| ServerInfo {
                name: peer.server_info.as_ref().map(|info| info.name.clone()),
                version: peer.server_info.as_ref().map(|info| info.version.clone()),
                protocol_version: peer.protocol_version.to_string(),
                instructions: peer.instructions.clone(),
            })
            .unwrap_or_default();
        // The version the server chose must be one mcp-cli speaks (the
        // spec: the client should then disconnect).
        let known = rmcp::model::ProtocolVersion::KNOWN_VERSIONS;
        if !known
            .iter()
            .any(|version| version.to_string() == info.protocol_version)
        {
            let _ = tokio::time::timeout(Duration::from_millis(100), service.close()).await;
            // Refused: no long wait for it to exit by itself.
            link.stop(process::Stop {
                eof: SIGNALLED_GRACE,
                at_least: Duration::ZERO,
                deadline: options.deadline,
            })
            .await;
            return Err(McpError::Protocol {
                server: entry.name.clone(),
                method: "initialize".to_owned(),
                message: format!(
                    "the server chose protocol version `{}`, which mcp-cli does not speak ({})",
                    crate::printer::one_line(&info.protocol_version),
                    known
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                stderr: Vec::new(),
            });
        }
        Ok(Session {
            server: entry.name.clone(),
            service,
            link,
            request_timeout: options.request_timeout,
            active,
            info,
            abandoned: Arc::new(AtomicBool::new(false)),
            deadline: options.deadline,
            raw,
        })
    }

    /// The server's name in the config.
    pub fn name(&self) -> &str {
        &self.server
    }

    /// What the server said about itself.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// Every tool, following `nextCursor` to the end.
    pub async fn list_tools(&self) -> Result<Vec<Tool>, McpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen_cursors = std::collections::HashSet::new();
        let mut pages = 0;
        loop {
            let params = PaginatedRequestParams::default().with_cursor(cursor.take());
            let request = ClientRequest::ListToolsRequest(RequestOptionalParam::with_param(params));
            let page = match self.request("tools/list", request, false).await?.0 {
                ServerResult::ListToolsResult(page) => {
                    let entries = page
                        .tools
                        .iter()
                        .map(|tool| serde_json::to_value(tool).unwrap_or(Value::Null))
                        .collect();
                    (entries, page.next_cursor)
                }
                // rmcp refuses a whole page for one odd tool (no
                // `inputSchema`, say): read it leniently instead.
                other => self.lenient_page(&other)?,
            };
            pages += 1;
            // An empty page ends the list, whatever cursor it gives.
            let empty = page.0.is_empty();
            for raw in page.0 {
                let Some(name) = raw.get("name").and_then(Value::as_str) else {
                    crate::debug!(
                        "{}: a tool without a name left out of the listing",
                        self.server
                    );
                    continue;
                };
                tools.push(Tool {
                    name: name.to_owned(),
                    raw,
                });
            }
            if pages > MAX_PAGES || tools.len() > MAX_TOOLS {
                return Err(McpError::Protocol {
                    server: self.server.clone(),
                    method: "tools/list".to_owned(),
                    message: format!(
                        "the listing runs past {MAX_PAGES} pages or {MAX_TOOLS} tools ({pages} pages, {} tools so far)",
                        tools.len()
                    ),
                    stderr: Vec::new(),
                });
            }
            match page.1 {
                Some(next) if !next.is_empty() && !empty => {
                    if !seen_cursors.insert(next.clone()) {
                        return Err(McpError::Protocol {
                            server: self.server.clone(),
                            method: "tools/list".to_owned(),
                            message: format!("the server repeated the cursor `{next}`"),
                            stderr: Vec::new(),
                        });
                    }
                    cursor = Some(next);
                }
                _ => return Ok(tools),
            }
        }
    }

    /// Calls a tool.
    ///
    /// A server's progress notifications restart the per-request timeout.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Result<CallResult, McpError> {
        let mut params = CallToolRequestParams::new(Cow::Owned(name.to_owned()));
        params.arguments = arguments;
        let request = ClientRequest::CallToolRequest(Request::new(params));
        match self.request("tools/call", request, true).await? {
            (ServerResult::CallToolResult(result), id) => Ok(CallResult::Typed {
                result,
                // Absent when rmcp read it, not mcp-cli (see `guard`).
                raw: self.raw.take(&id),
            }),
            (other, id) => self.lenient_result(&other, self.raw.take(&id)),
        }
    }

    /// Sends one request under the per-request timeout, and returns its
    /// answer and id. Dropping the returned future (the overall deadline,
    /// Ctrl-C) sends `notifications/cancelled`.
    async fn request(
        &self,
        method: &'static str,
        request: ClientRequest,
        track_progress: bool,
    ) -> Result<(ServerResult, RequestId), McpError> {
        self.request_telling(method, request, track_progress, |_| {})
            .await
    }

    /// [`Session::request`], telling `sent` the progress token the request
    /// went out with.
    async fn request_telling(
        &self,
        method: &'static str,
        request: ClientRequest,
        track_progress: bool,
        sent: impl FnOnce(&ProgressToken),
    ) -> Result<(ServerResult, RequestId), McpError> {
        let mut options = PeerRequestOptions::default();
        options.timeout = self.request_timeout;
        options.reset_timeout_on_progress = track_progress;
        let peer = self.service.peer().clone();
        let handle = match peer.send_request_with_option(request, options).await {
            Ok(handle) => handle,
            Err(error) => return Err(self.request_error(method, error, false).await),
        };
        let id = handle.id.clone();
        sent(&handle.progress_token);
        let mut guard = CancelOnDrop {
            peer,
            id: Some(id.clone()),
            abandoned: self.abandoned.clone(),
        };
        if track_progress {
            *self.active.lock().expect("progress lock") = Some(handle.progress_token.clone());
        }
        // The far end's going ends the wait, even when no end of file
        // comes (a process the server started holds its stdout).
        let result = tokio::select! {
            biased;
            result = handle.await_response() => result,
            () = self.link.gone() => Err(ServiceError::TransportClosed),
        };
        guard.id = None;
        if track_progress {
            *self.active.lock().expect("progress lock") = None;
        }
        match result {
            Ok(result) => Ok((result, id)),
            Err(error) => Err(self.request_error(method, error, true).await),
        }
    }

    async fn request_error(&self, method: &str, error: ServiceError, sent: bool) -> McpError {
        let server = self.server.clone();
        let method = method.to_owned();
        match error {
            ServiceError::McpError(error) => answer_error(server, method, error, self.stderr_now()),
            ServiceError::Timeout { timeout } => {
                // rmcp has sent `notifications/cancelled`.
                self.abandoned.store(true, Ordering::SeqCst);
                let stderr = self.stderr_now();
                McpError::Timeout {
                    server,
                    method,
                    duration: timeout,
                    stderr,
                }
            }
            ServiceError::TransportClosed if self.link.overflowed() => McpError::MessageTooLarge {
                server,
                method,
                why: past_the_limit(),
            },
            ServiceError::TransportSend(error)
                if let Some(failure) = self.link.failure(&method, &error, sent) =>
            {
                failure
            }
            ServiceError::TransportSend(_) | ServiceError::TransportClosed => {
                let explained = self.link.explain().await;
                McpError::ConnectionClosed {
                    server,
                    method,
                    request_sent: sent && !matches!(error, ServiceError::TransportSend(_)),
                    exit_status: explained.ended,
                    stderr: explained.lines,
                }
            }
            other => McpError::Protocol {
                server,
                method,
                message: other.to_string(),
                stderr: self.stderr_now(),
            },
        }
    }

    fn stderr_now(&self) -> Vec<String> {
        self.link.lines()
    }

    /// A `tools/list` page rmcp could not read as one: its tools as sent,
    /// each an object (those without a schema included), and its cursor.
    fn lenient_page(
        &self,
        result: &ServerResult,
    ) -> Result<(Vec<Value>, Option<String>), McpError> {
        let value = serde_json::to_value(result).unwrap_or(Value::Null);
        let Some(entries) = value.get("tools").and_then(Value::as_array) else {
            return Err(self.unexpected("tools/list", result));
        };
        let cursor = value
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Each tool rmcp can read is shown as rmcp writes it, as it is on a
        // page rmcp read whole: a listing does not change with the page a
        // tool came on, nor with the transport.
        let tools = entries
            .iter()
            .filter(|entry| entry.is_object())
            .map(|entry| {
                serde_json::from_value::<rmcp::model::Tool>(entry.clone())
                    .ok()
                    .and_then(|tool| serde_json::to_value(tool).ok())
                    .unwrap_or_else(|| entry.clone())
            })
            .collect();
        Ok((tools, cursor))
    }

    /// A `tools/call` result rmcp could not read as one: kept as it came
    /// when it is one all the same (`content` or `structuredContent`), with
    /// an `isError` that is true or false. A block of a type mcp-cli does
    /// not know is shown by its type (and whole under `--json`).
    fn lenient_result(
        &self,
        result: &ServerResult,
        raw: Option<guard::Kept>,
    ) -> Result<CallResult, McpError> {
        let value = serde_json::to_value(result).unwrap_or(Value::Null);
        let content = value.get("content");
        let structured = value.get("structuredContent");
        if content.is_none() && structured.is_none() && value.get("resultType").is_some() {
            return Err(self.unexpected("tools/call", result));
        }
        let bad = |message: String| McpError::BadResult {
            server: self.server.clone(),
            message,
            arrived: match &raw {
                Some(guard::Kept::Whole(whole)) => Some(whole.get().to_owned()),
                Some(guard::Kept::Structured(_)) => None,
                // Read by rmcp (a remote server): as parsed, which keeps
                // every field, in order, numbers exact.
                None => Some(value.to_string()),
            },
        };
        let shown = |field: &Value| crate::error::error_data(Some(field)).unwrap_or_default();
        match content {
            Some(content) if !content.is_array() => {
                return Err(bad(format!(
                    "`content` must be an array of content blocks, found {}",
                    shown(content)
                )));
            }
            None if structured.is_none() => {
                let fields: Vec<&str> = value
                    .as_object()
                    .map(|fields| fields.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err(bad(format!(
                    "a result needs `content` or `structuredContent` (it has: {})",
                    fields.join(", ")
                )));
            }
            _ => {}
        }
        if let Some(flag) = value.get("isError")
            && !flag.is_boolean()
            && !flag.is_null()
        {
            return Err(bad(format!(
                "`isError` must be true or false, found {}",
                shown(flag)
            )));
        }
        Ok(CallResult::Lenient { value, raw })
    }

    fn unexpected(&self, method: &str, result: &ServerResult) -> McpError {
        let kind = serde_json::to_value(result)
            .ok()
            .and_then(|value| {
                value
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
            })
            .unwrap_or_default();
        McpError::Protocol {
            server: self.server.clone(),
            method: method.to_owned(),
            message: format!(
                "unexpected result (fields: {}); mcp-cli does not drive input-required or task results yet",
                kind.join(", ")
            ),
            stderr: self.stderr_now(),
        }
    }

    /// Sends a request as a command the daemon relays for sent it, telling
    /// `sent` its progress token; the result as the server's JSON. Dropped,
    /// the request is cancelled (`notifications/cancelled`).
    pub(crate) async fn forward(
        &self,
        request: ClientRequest,
        sent: impl FnOnce(&ProgressToken),
    ) -> Result<Value, McpError> {
        let (result, _) = self
            .request_telling("request", request, false, sent)
            .await?;
        Ok(serde_json::to_value(&result).unwrap_or(Value::Null))
    }

    /// Whether the connection is gone for good (its transport closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.service.peer().is_transport_closed()
    }

    /// The server's answer to `initialize`, as JSON (the daemon answers
    /// every command with it).
    pub(crate) fn initialize_result(&self) -> Value {
        self.service
            .peer_info()
            .and_then(|info| serde_json::to_value(&*info).ok())
            .unwrap_or(Value::Null)
    }

    /// Closes the connection and stops the server (see [`process::Stop`]).
    pub async fn close(mut self) {
        // Let a pending `notifications/cancelled` go out first.
        tokio::task::yield_now().await;
        let stop = process::Stop {
            eof: EOF_GRACE,
            // After a request was abandoned, the server's chance to read the
            // cancellation is not cut by the deadline.
            at_least: if self.abandoned.load(Ordering::SeqCst) {
                SIGNALLED_GRACE
            } else {
                Duration::ZERO
            },
            deadline: self.deadline,
        };
        let close_wait = stop.bound(self.link.close_wait());
        let _ = tokio::time::timeout(close_wait, self.service.close()).await;
        self.link.stop(stop).await;
    }
}

/// What [`handshake`] gives.
type Handshake = Result<
    Result<RunningService<RoleClient, Handler>, rmcp::service::ClientInitializeError>,
    Option<Duration>,
>;

/// Logs in to the remote server of `entry` (OAuth): first, without a token,
/// what a verb would do (`initialize`, then `tools/list`), for the 401's
/// challenge; then [`oauth::login`].
pub async fn login(
    entry: &ServerEntry,
    options: &ConnectOptions,
    prompt: &oauth::Prompt<'_>,
) -> Result<(oauth::LoggedIn, std::path::PathBuf), McpError> {
    let access = oauth_access(entry, options)?;
    let anonymous = ConnectOptions {
        tokens: None,
        daemon: None,
        ..options.clone()
    };
    let probed = match Session::connect_started(entry, &anonymous, None).await {
        Ok(session) => {
            let listed = session.list_tools().await;
            session.close().await;
            listed.map(|_| ())
        }
        Err(error) => Err(error),
    };
    let (asked, challenge) = match probed {
        Ok(()) => (false, None),
        Err(McpError::HttpStatus {
            status: 401 | 403,
            challenge,
            ..
        }) => (true, challenge),
        // Not reached: no login either.
        Err(error @ (McpError::Unreachable { .. } | McpError::Timeout { .. })) => {
            return Err(error);
        }
        Err(error) => {
            crate::debug!(
                "{}: without a token: {} (logging in anyway)",
                entry.name,
                error.error_type()
            );
            (false, None)
        }
    };
    let logged_in = oauth::login(&access, asked, challenge.as_deref(), prompt).await?;
    Ok((logged_in, access.store.path().to_owned()))
}

/// Forgets the OAuth tokens kept for the remote server of `entry`; returns
/// the file, if there was one.
pub async fn logout(
    entry: &ServerEntry,
    options: &ConnectOptions,
) -> Result<Option<std::path::PathBuf>, McpError> {
    let access = oauth_access(entry, options)?;
    let failed = |why| McpError::AuthFailed {
        server: entry.name.clone(),
        message: why,
        suggestion: "remove the file by hand".to_owned(),
    };
    // Not in the middle of a refresh, which would write it back.
    let _lock = access.store.lock().await.map_err(failed)?;
    let removed = access.store.remove().map_err(failed)?;
    Ok(removed.then(|| access.store.path().to_owned()))
}

/// OAuth for the remote server of `entry`, or why there is none.
fn oauth_access(
    entry: &ServerEntry,
    options: &ConnectOptions,
) -> Result<Arc<oauth::Access>, McpError> {
    let Some(endpoint) = http::Endpoint::of(entry, options.tokens.as_deref()) else {
        return Err(McpError::Usage {
            message: format!(
                "`{}` is a stdio server: OAuth is for remote servers",
                entry.name
            ),
            suggestion: Some(
                "give a stdio server its credentials in the `env` of its entry".to_owned(),
            ),
        });
    };
    if endpoint.tokens.is_none() {
        return Err(McpError::usage(
            "cannot tell where to keep OAuth tokens: set HOME or XDG_STATE_HOME",
        ));
    }
    http::oauth_access(&endpoint)?.ok_or_else(|| McpError::Usage {
        message: format!(
            "`{}` sends an Authorization header of its own (its `headers`): OAuth is not used for it",
            entry.name
        ),
        suggestion: Some(
            "remove that header from its entry to log in with OAuth instead".to_owned(),
        ),
    })
}

/// The handshake with a remote server: over Streamable HTTP, then, with no
/// `type` in the config, when the server refuses that POST (400, 404, 405,
/// as a server of the 2024-11-05 revision does), over its legacy event
/// stream; over the legacy transport alone for `"type": "sse"`. When the
/// fallback fails too, the first failure is the one reported: it says more.
async fn remote(
    endpoint: &http::Endpoint<'_>,
    kind: HttpKind,
    handler: Handler,
    options: &ConnectOptions,
    link: &link::Link,
) -> Result<Handshake, McpError> {
    use rmcp::service::ClientInitializeError;
    let legacy = |handler: Handler| async move {
        let (client, headers) = http::legacy(endpoint).await?;
        let connect = async {
            match sse::LegacySse::connect(client, endpoint.url, headers).await {
                Ok(transport) => handler.serve(transport).await,
                Err(error) => Err(ClientInitializeError::TransportError {
                    error: rmcp::transport::DynamicTransportError::new::<sse::LegacySse, RoleClient>(
                        error,
                    ),
                    context: "opening the event stream".into(),
                }),
            }
        };
        Ok::<_, McpError>(handshake(connect, options, link).await)
    };
    crate::debug!(
        "{}: connecting to {} ({})",
        endpoint.server,
        endpoint.shown,
        if kind == HttpKind::LegacySse {
            "legacy HTTP+SSE"
        } else {
            "Streamable HTTP"
        }
    );
    if kind == HttpKind::LegacySse {
        return legacy(handler).await;
    }
    let transport = http::transport(endpoint)?;
    let modern = handshake(handler.clone().serve(transport), options, link).await;
    let refused = kind == HttpKind::Auto
        && match &modern {
            Ok(Err(ClientInitializeError::TransportError { error, .. })) => matches!(
                link.failure("initialize", error, true),
                Some(McpError::HttpStatus {
                    status: 400 | 404 | 405,
                    ..
                })
            ),
            _ => false,
        };
    if !refused {
        return Ok(modern);
    }
    crate::debug!(
        "{}: the Streamable HTTP POST was refused; trying the legacy HTTP+SSE transport (GET with an event stream)",
        endpoint.server
    );
    match legacy(handler).await? {
        Ok(Ok(service)) => Ok(Ok(Ok(service))),
        _ => {
            crate::debug!(
                "{}: the legacy transport failed too; reporting the Streamable HTTP failure",
                endpoint.server
            );
            Ok(modern)
        }
    }
}

/// The MCP handshake under the per-request timeout; `Err(None)` when a
/// server that wrote what is not JSON-RPC then fell silent (it will not
/// answer: say so now, not at the deadline).
async fn handshake(
    handshake: impl Future<
        Output = Result<RunningService<RoleClient, Handler>, rmcp::service::ClientInitializeError>,
    >,
    options: &ConnectOptions,
    link: &link::Link,
) -> Handshake {
    let timed = async {
        match options.request_timeout {
            Some(timeout) => tokio::time::timeout(timeout, handshake)
                .await
                .map_err(|_| Some(timeout)),
            None => Ok(handshake.await),
        }
    };
    tokio::select! {
        biased;
        result = timed => result,
        () = link.stuck(GARBAGE_QUIET) => Err(None),
    }
}

/// Sends `notifications/cancelled` for a request whose caller stopped waiting.
struct CancelOnDrop {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
    abandoned: Arc<AtomicBool>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        self.abandoned.store(true, Ordering::SeqCst);
        let peer = self.peer.clone();
        let notification = ClientNotification::CancelledNotification(Notification::new(
            CancelledNotificationParam::new(Some(id), Some("cancelled by mcp-cli".to_owned())),
        ));
        tokio::spawn(async move {
            let _ = peer.send_notification(notification).await;
        });
    }
}

/// The error a JSON-RPC error answer means: one mcp-cli made for an answer
/// too large to parse or that it could not read (see `guard`), or the
/// server's own.
fn answer_error(server: String, method: String, error: ErrorData, stderr: Vec<String>) -> McpError {
    // A remote server's failure, relayed by the daemon as it met it.
    if let Some(relayed) = daemon::relayed_error(error.data.as_ref(), &server, &method) {
        return relayed;
    }
    let ErrorData {
        code,
        message,
        data,
    } = error;
    match data.as_ref().and_then(Value::as_str) {
        Some(guard::TOO_LARGE) => McpError::MessageTooLarge {
            server,
            method,
            why: message.into_owned(),
        },
        Some(guard::UNREADABLE) => McpError::Protocol {
            server,
            method,
            message: message.into_owned(),
            stderr,
        },
        _ => McpError::ServerError {
            server,
            method,
            code: code.0,
            message: message.into_owned(),
            data: crate::error::error_data(data.as_ref()),
        },
    }
}

async fn initialize_error(
    server: &str,
    error: rmcp::service::ClientInitializeError,
    link: &link::Link,
) -> McpError {
    use rmcp::service::ClientInitializeError as E;
    if let E::TransportError { error, .. } = &error
        && let Some(failure) = link.failure("initialize", error, true)
    {
        return failure;
    }
    let link::Explanation {
        lines: stderr,
        ended: exit_status,
        wrote_garbage,
    } = link.explain().await;
    let server = server.to_owned();
    let method = "initialize".to_owned();
    match error {
        E::JsonRpcError(error) => answer_error(server, method, error, stderr),
        E::ConnectionClosed(_) | E::TransportError { .. } if exit_status.is_some() => {
            McpError::ConnectionClosed {
                server,
                method,
                request_sent: true,
                exit_status,
                stderr,
            }
        }
        E::ConnectionClosed(_) => McpError::Protocol {
            server,
            method,
            message: if wrote_garbage {
                "the server closed its stdout after lines that are not JSON-RPC, without answering, and had not exited 0.3 s later"
            } else {
                "the server closed its stdout without answering, and had not exited 0.3 s later"
            }
            .to_owned(),
            stderr,
        },
        other => McpError::Protocol {
            server,
            method,
            message: other.to_string(),
            stderr,
        },
    }
}
