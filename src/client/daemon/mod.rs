//! The connection daemon: warm servers shared by every command.
//!
//! The daemon is this binary run as `mcp-cli __daemon <dir>`, started by
//! the first command that needs a server, detached in a session of its own.
//! It listens on a socket in a directory only the user can enter
//! ([`place`]) and keeps one connection per server *key*: the resolved
//! entry, the caller's environment (less the variables in [`VOLATILE`]) and
//! working directory. A changed config or an exported variable is a new
//! key, so a stale connection is never served.
//!
//! The wire, one line at a time. A command sends a hello ([`Hello`]) naming
//! the server as it would start it; the daemon answers with a [`Reply`]
//! and then relays MCP: the command's JSON-RPC lines go to the server as
//! they are, the server's come back as they are, each to the command whose
//! request it answers. Commands' request ids (and progress tokens, which
//! are the same) are random below 2^53 (see `guard`), so the daemon routes
//! by them without rewriting anything. The daemon answers `initialize`
//! itself after the first (the server is initialized once) and adds lines
//! of its own, each starting with `#`, which no JSON-RPC line does: the
//! server's stderr, and how it ended ([`Event`]). So the command's side is
//! the same as over a child's pipes: the same transport, the same errors.

mod place;
pub(crate) mod serve;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

pub use place::Place;

use super::guard;
use super::process::StderrTail;
use crate::config::{HttpKind, ServerConfig, ServerEntry};
use crate::error::McpError;

/// The version of the wire between a command and the daemon.
const PROTOCOL: u32 = 1;

/// How long a command waits to reach the daemon (starting it included)
/// before it connects directly.
const REACH: Duration = Duration::from_secs(3);

/// Variables left out of the key: they change with every shell and mean
/// nothing to a server, or they are mcp-cli's own settings. (A server the
/// daemon starts still gets them, from the first caller.) Not `MCP_DEBUG`:
/// debugging gets a server of its own, whose start is seen.
pub const VOLATILE: &[&str] = &[
    "_",
    "SHLVL",
    "OLDPWD",
    "PWD",
    "COLUMNS",
    "LINES",
    "TERM_SESSION_ID",
    "WINDOWID",
    "MCP_CONFIG_PATH",
    "MCP_TIMEOUT",
    "MCP_REQUEST_TIMEOUT",
    "MCP_LIST_TIMEOUT",
    "MCP_CONCURRENCY",
    "MCP_MAX_RETRIES",
    "MCP_RETRY_DELAY",
    "MCP_STRICT_ENV",
    "MCP_NO_DAEMON",
    "MCP_DAEMON_TIMEOUT",
];

/// What a command asks the daemon, on the first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Hello {
    /// A connection to this server, relayed.
    Connect(Box<Connect>),
    /// What the daemon holds.
    Status,
    /// Stop every server and exit.
    Stop,
}

/// A server as the command would start it itself.
#[derive(Debug, Serialize, Deserialize)]
struct Connect {
    /// [`PROTOCOL`].
    v: u32,
    /// Its name in the caller's config, for the log and `daemon status`.
    server: String,
    command: String,
    args: Vec<String>,
    /// The entry's variables, substituted.
    env: Vec<(String, String)>,
    /// The entry's working directory.
    cwd: Option<String>,
    /// The caller's working directory.
    dir: String,
    /// The caller's environment.
    inherit: Vec<(String, String)>,
    /// How long the connection may stay unused, in milliseconds.
    idle_ms: u64,
    /// The caller's file mode creation mask.
    #[serde(default)]
    umask: u32,
    /// A remote server: then `command` and the rest of a child's are empty.
    #[serde(default)]
    http: Option<Http>,
}

/// A remote server as the command would reach it itself.
#[derive(Debug, Serialize, Deserialize)]
struct Http {
    url: String,
    /// The URL as written, secrets masked.
    shown: String,
    /// Its headers, substituted.
    headers: Vec<(String, String)>,
    /// `auto`, `streamable` or `sse`.
    kind: String,
    /// Its `oauth` settings.
    #[serde(default)]
    oauth: Option<crate::config::OAuth>,
    /// Where the command keeps OAuth tokens: the daemon uses (and
    /// refreshes) the same, under the same lock.
    #[serde(default)]
    tokens: Option<std::path::PathBuf>,
}

/// The variables that change how a remote server is reached (proxies, the
/// certificates trusted): the daemon relays to a remote server only for a
/// command that has the same as it has, and it connects directly otherwise.
pub const NETWORK: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A failure of a remote server's, as it crosses the daemon's socket: the
/// command makes the same error of it as it would have met itself (the
/// server and the method are its own).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Failure {
    HttpStatus {
        status: u16,
        retry_after_ms: Option<u64>,
        challenge: Option<String>,
        body: Option<String>,
    },
    Unreachable {
        url: String,
        reason: String,
        causes: Vec<String>,
        transient: bool,
        fix: String,
    },
    NotJsonRpc {
        found: String,
        body: Option<String>,
    },
    ConnectionClosed {
        request_sent: bool,
        exit_status: Option<String>,
    },
    MessageTooLarge {
        why: String,
    },
    Timeout {
        duration_ms: u64,
    },
    Server {
        code: i32,
        message: String,
        data: Option<String>,
    },
    InvalidSetting {
        var: String,
        value: String,
        expected: String,
    },
    Auth {
        message: String,
        suggestion: String,
    },
    Other {
        message: String,
    },
}

/// The key of the `data` of a JSON-RPC error that carries a [`Failure`].
pub const RELAYED: &str = "mcp-cli/relayed";

impl Failure {
    fn of(error: &McpError) -> Failure {
        match error.clone_relayable() {
            Some(failure) => failure,
            None => Failure::Other {
                message: error.to_string(),
            },
        }
    }

    fn into_error(self, server: String, method: String) -> McpError {
        match self {
            Failure::HttpStatus {
                status,
                retry_after_ms,
                challenge,
                body,
            } => McpError::HttpStatus {
                server,
                method,
                status,
                retry_after: retry_after_ms.map(Duration::from_millis),
                challenge,
                body,
            },
            Failure::Unreachable {
                url,
                reason,
                causes,
                transient,
                fix,
            } => McpError::Unreachable {
                server,
                url,
                reason,
                causes,
                transient,
                fix,
            },
            Failure::NotJsonRpc { found, body } => McpError::NotJsonRpc {
                server,
                method,
                found,
                body,
            },
            Failure::ConnectionClosed {
                request_sent,
                exit_status,
            } => McpError::ConnectionClosed {
                server,
                method,
                request_sent,
                exit_status,
                stderr: Vec::new(),
            },
            Failure::MessageTooLarge { why } => McpError::MessageTooLarge {
                server,
                method,
                why,
            },
            Failure::Timeout { duration_ms } => McpError::Timeout {
                server,
                method,
                duration: Duration::from_millis(duration_ms),
                stderr: Vec::new(),
            },
            Failure::Server {
                code,
                message,
                data,
            } => McpError::ServerError {
                server,
                method,
                code,
                message,
                data,
            },
            Failure::InvalidSetting {
                var,
                value,
                expected,
            } => McpError::InvalidSetting {
                var: var.into(),
                value,
                expected: expected.into(),
            },
            Failure::Auth {
                message,
                suggestion,
            } => McpError::AuthFailed {
                server,
                message,
                suggestion,
            },
            Failure::Other { message } => McpError::Protocol {
                server,
                method,
                message,
                stderr: Vec::new(),
            },
        }
    }
}

impl McpError {
    /// The failure as it crosses the daemon's socket, for the errors a
    /// remote server's connection makes.
    fn clone_relayable(&self) -> Option<Failure> {
        Some(match self {
            McpError::HttpStatus {
                status,
                retry_after,
                challenge,
                body,
                ..
            } => Failure::HttpStatus {
                status: *status,
                retry_after_ms: retry_after
                    .map(|after| u64::try_from(after.as_millis()).unwrap_or(u64::MAX)),
                challenge: challenge.clone(),
                body: body.clone(),
            },
            McpError::Unreachable {
                url,
                reason,
                causes,
                transient,
                fix,
                ..
            } => Failure::Unreachable {
                url: url.clone(),
                reason: reason.clone(),
                causes: causes.clone(),
                transient: *transient,
                fix: fix.clone(),
            },
            McpError::NotJsonRpc { found, body, .. } => Failure::NotJsonRpc {
                found: found.clone(),
                body: body.clone(),
            },
            McpError::ConnectionClosed {
                request_sent,
                exit_status,
                ..
            } => Failure::ConnectionClosed {
                request_sent: *request_sent,
                exit_status: exit_status.clone(),
            },
            McpError::MessageTooLarge { why, .. } => Failure::MessageTooLarge { why: why.clone() },
            McpError::Timeout { duration, .. } => Failure::Timeout {
                duration_ms: millis(*duration),
            },
            McpError::ServerError {
                code,
                message,
                data,
                ..
            } => Failure::Server {
                code: *code,
                message: message.clone(),
                data: data.clone(),
            },
            McpError::InvalidSetting {
                var,
                value,
                expected,
            } => Failure::InvalidSetting {
                var: var.to_string(),
                value: value.clone(),
                expected: expected.to_string(),
            },
            McpError::Protocol { message, .. } => Failure::Other {
                message: message.clone(),
            },
            McpError::AuthFailed {
                message,
                suggestion,
                ..
            } => Failure::Auth {
                message: message.clone(),
                suggestion: suggestion.clone(),
            },
            _ => return None,
        })
    }
}

/// The error a JSON-RPC error's `data` carries across the daemon's socket,
/// if it carries one.
pub fn relayed_error(
    data: Option<&serde_json::Value>,
    server: &str,
    method: &str,
) -> Option<McpError> {
    let failure = data?.get(RELAYED)?;
    let failure: Failure = serde_json::from_value(failure.clone()).ok()?;
    Some(failure.into_error(server.to_owned(), method.to_owned()))
}

/// The daemon's answer to a hello other than `connect` (whose answer is
/// an [`Event`], so that the command need not wait for it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    /// `daemon status`.
    Status(Status),
    /// `daemon stop`: how many servers were stopped.
    Stopped { servers: usize },
}

/// What `daemon status` shows.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's process id.
    pub pid: u32,
    /// Seconds since it started.
    pub uptime_secs: f64,
    /// Its socket.
    pub socket: String,
    /// The commands connected now.
    pub clients: usize,
    /// Each pooled server.
    pub servers: Vec<Pooled>,
}

/// One pooled server, for `daemon status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pooled {
    /// Its name in the config of the command that started it.
    pub server: String,
    /// Its process id (none for a remote server).
    pub pid: Option<u32>,
    /// `starting`, `ready`, `stopping` or `exited`.
    pub state: String,
    /// Seconds since it was last used.
    pub idle_secs: f64,
    /// Requests relayed to it.
    pub requests: u64,
    /// Of which `tools/call`.
    pub calls: u64,
    /// The commands attached now.
    pub clients: usize,
    /// The last thing that went wrong, if anything.
    pub last_error: Option<String>,
}

/// A line of the daemon's own in the relay (after `#`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Event {
    /// The first line: relaying the server's lines from now on.
    Ready {
        /// The server's process id.
        pid: u32,
    },
    /// The first and last line: the server could not be started.
    SpawnFailed {
        command: String,
        os: Option<i32>,
        message: String,
        fix: Option<String>,
    },
    /// The first and last line: the daemon will not do it.
    Refused { reason: String },
    /// The first and last line: the command is to connect itself (a remote
    /// server, with other proxies than the daemon's).
    Direct { reason: String },
    /// The first and last line: the remote server could not be reached.
    Failed(Failure),
    /// A line the server wrote to stderr (or stdout, not JSON-RPC).
    Stderr(String),
    /// The server wrote what is not JSON-RPC to stdout.
    Garbage,
    /// It did so, and then nothing at all for a long time: it will not answer.
    Stuck,
    /// The server is gone: how it ended (its last lines came before).
    Gone {
        ended: Option<String>,
        garbage: bool,
        overflowed: bool,
    },
}

/// How a command uses the daemon.
#[derive(Debug, Clone)]
pub struct Use {
    place: Place,
    idle: Duration,
}

impl Use {
    /// The daemon for this command, unless turned off; the error says why
    /// it cannot be used (the directory is not the user's alone).
    pub fn find(idle: Duration) -> Result<Use, String> {
        Ok(Use {
            place: Place::find()?,
            idle,
        })
    }
}

/// What the command's side knows of the relayed server.
#[derive(Default)]
struct Known {
    /// The daemon took the command in (its first line).
    ready: bool,
    garbage: bool,
    stuck: bool,
    gone: Option<Gone>,
    /// The daemon closed the socket without saying the server was gone.
    lost: bool,
    /// Why the daemon did not start the server, when it did not.
    not_started: Option<Event>,
}

struct Gone {
    ended: Option<String>,
    garbage: bool,
    overflowed: bool,
}

/// The command's side of a relayed connection: what the daemon said of its
/// server, for the link to explain failures as for a child process.
pub struct Relayed {
    tail: StderrTail,
    known: tokio::sync::watch::Sender<Known>,
}

impl Relayed {
    /// The server's last lines as the daemon relayed them.
    pub fn lines(&self) -> Vec<String> {
        self.tail.lines()
    }

    /// Whether the server wrote a message too large.
    pub fn overflowed(&self) -> bool {
        self.known
            .borrow()
            .gone
            .as_ref()
            .is_some_and(|gone| gone.overflowed)
    }

    /// Resolves when the daemon says the server will not answer.
    pub async fn stuck(&self) {
        let mut known = self.known.subscribe();
        let _ = known.wait_for(|known| known.stuck).await;
        // The sender lives as long as `self`.
    }

    /// Resolves when the daemon has said nothing at all for [`REACH`]
    /// (stopped with SIGSTOP, say): the command then connects itself.
    pub async fn silent(&self) {
        let mut known = self.known.subscribe();
        let answered =
            known.wait_for(|known| known.ready || known.lost || known.not_started.is_some());
        if tokio::time::timeout(REACH, answered).await.is_err() {
            return;
        }
        std::future::pending().await
    }

    /// Resolves when the server (or the daemon) is gone.
    pub async fn gone(&self) {
        let mut known = self.known.subscribe();
        let _ = known
            .wait_for(|known| known.gone.is_some() || known.lost)
            .await;
    }

    /// Why the daemon did not relay to the server, when it did not: the
    /// error the command would have met itself, or that it is to connect
    /// itself.
    pub fn not_relayed(&self, entry: &ServerEntry) -> Option<NotRelayed> {
        let known = self.known.borrow();
        let error = match known.not_started.as_ref()? {
            Event::SpawnFailed {
                command,
                os,
                message,
                fix,
            } => {
                let source = match *os {
                    Some(os) if std::io::Error::from_raw_os_error(os).to_string() == *message => {
                        std::io::Error::from_raw_os_error(os)
                    }
                    Some(os) => std::io::Error::new(
                        std::io::Error::from_raw_os_error(os).kind(),
                        message.clone(),
                    ),
                    None => std::io::Error::other(message.clone()),
                };
                super::as_written(
                    McpError::Spawn {
                        server: entry.name.clone(),
                        command: command.clone(),
                        source,
                        fix: fix.clone(),
                    },
                    &entry.substituted,
                )
            }
            Event::Refused { reason } => McpError::ConnectionClosed {
                server: entry.name.clone(),
                method: "initialize".to_owned(),
                request_sent: false,
                exit_status: Some(format!("the mcp-cli daemon refused it: {reason}")),
                stderr: Vec::new(),
            },
            Event::Failed(failure) => failure
                .clone()
                .into_error(entry.name.clone(), "initialize".to_owned()),
            Event::Direct { reason } => return Some(NotRelayed::Direct(reason.clone())),
            _ => return None,
        };
        Some(NotRelayed::Error(error))
    }

    /// Its last lines, how it ended, whether it wrote garbage.
    pub fn explain(&self) -> (Vec<String>, Option<String>, bool) {
        let known = self.known.borrow();
        match &known.gone {
            Some(gone) => (self.tail.lines(), gone.ended.clone(), gone.garbage),
            None => (
                self.tail.lines(),
                known.lost.then(|| "the mcp-cli daemon stopped".to_owned()),
                known.garbage,
            ),
        }
    }
}

/// Why the daemon did not relay to a server.
pub enum NotRelayed {
    /// The error the command would have met itself.
    Error(McpError),
    /// The command is to connect itself, for this reason.
    Direct(String),
}

/// A reader that notes the end of the daemon's stream.
struct Watched {
    inner: BufReader<tokio::net::unix::OwnedReadHalf>,
    known: tokio::sync::watch::Sender<Known>,
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(context, buffer);
        let ended = match &poll {
            std::task::Poll::Ready(Ok(())) => buffer.filled().len() == before,
            std::task::Poll::Ready(Err(_)) => true,
            std::task::Poll::Pending => false,
        };
        if ended {
            self.known.send_modify(|known| known.lost = true);
        }
        poll
    }
}

/// A relayed connection, ready for the MCP handshake.
pub struct Attached {
    /// What the daemon says of the server.
    pub relayed: Relayed,
    /// The transport over the daemon's socket.
    pub transport: guard::StdioTransport,
}

/// Attaches to `entry`'s server through the daemon, starting the daemon if
/// none runs. `None`: the daemon cannot be used (the reason is logged under
/// `MCP_DEBUG`) and the command connects directly. When the daemon cannot
/// start the server, the handshake fails and [`Relayed::not_started`] says
/// why, as the command would have found starting it itself.
pub async fn attach(
    daemon: &Use,
    entry: &ServerEntry,
    raw: guard::RawResults,
    whole: bool,
    debug: bool,
) -> Option<Attached> {
    let fallback = |why: String| {
        crate::debug!(
            "{}: not through the daemon ({why}); connecting directly",
            entry.name
        );
        None
    };
    // The caller's environment and directory, which must be text to travel.
    let inherit: Option<Vec<(String, String)>> = std::env::vars_os()
        .map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let Some(inherit) = inherit else {
        return fallback("a variable of the environment is not UTF-8".to_owned());
    };
    let dir = match std::env::current_dir().map(|dir| dir.into_os_string().into_string()) {
        Ok(Ok(dir)) => dir,
        _ => return fallback("the working directory is not UTF-8 or is gone".to_owned()),
    };
    let hello = match &entry.transport {
        ServerConfig::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let cwd = match cwd
                .as_ref()
                .map(|cwd| cwd.clone().into_os_string().into_string())
            {
                Some(Err(_)) => return fallback("the server's `cwd` is not UTF-8".to_owned()),
                Some(Ok(cwd)) => Some(cwd),
                None => None,
            };
            Connect {
                v: PROTOCOL,
                server: entry.name.clone(),
                command: command.clone(),
                args: args.clone(),
                env: pairs(env),
                cwd,
                dir,
                inherit,
                idle_ms: millis(daemon.idle),
                umask: umask(),
                http: None,
            }
        }
        ServerConfig::Http {
            url,
            headers,
            kind,
            oauth,
        } => Connect {
            v: PROTOCOL,
            server: entry.name.clone(),
            command: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            dir,
            inherit,
            idle_ms: millis(daemon.idle),
            umask: umask(),
            http: Some(Http {
                url: url.clone(),
                shown: entry.shown.clone(),
                headers: pairs(headers),
                kind: match kind {
                    HttpKind::Auto => "auto",
                    HttpKind::Streamable => "streamable",
                    HttpKind::LegacySse => "sse",
                }
                .to_owned(),
                oauth: oauth.as_deref().cloned(),
                tokens: crate::client::oauth::dir(),
            }),
        },
    };
    let hello = Hello::Connect(Box::new(hello));
    // The hello, and at once the MCP handshake behind it: the daemon's
    // answer comes first on the way back, as a line of its own.
    let reached = tokio::time::timeout(REACH, async {
        let stream = reach(&daemon.place, true).await?;
        let (reader, mut writer) = stream.into_split();
        writer
            .write_all(&hello_line(&hello)?)
            .await
            .map_err(|error| format!("cannot write to it: {error}"))?;
        Ok::<_, String>((reader, writer))
    })
    .await;
    let (reader, writer) = match reached {
        Ok(Ok(reached)) => reached,
        Ok(Err(why)) => return fallback(why),
        Err(_) => {
            return fallback(format!(
                "it was not reached within {}",
                crate::error::format_duration(REACH)
            ));
        }
    };
    let (known, _) = tokio::sync::watch::channel(Known::default());
    let tail = StderrTail::default();
    let on_line = {
        let known = known.clone();
        let tail = tail.clone();
        let server = entry.name.clone();
        move |line: &[u8]| {
            let Some(event) = line
                .strip_prefix(b"#")
                .and_then(|event| serde_json::from_slice::<Event>(event).ok())
            else {
                return;
            };
            match event {
                Event::Ready { pid } => {
                    if pid == 0 {
                        crate::debug!("{server}: through the daemon (a session it holds)");
                    } else {
                        crate::debug!("{server}: through the daemon (server pid {pid})");
                    }
                    known.send_modify(|known| known.ready = true);
                }
                not_started @ (Event::SpawnFailed { .. }
                | Event::Refused { .. }
                | Event::Direct { .. }
                | Event::Failed(_)) => {
                    known.send_modify(|known| known.not_started = Some(not_started));
                }
                Event::Stderr(text) => {
                    if debug {
                        crate::printer::to_stderr(&format!(
                            "[{server}] {}\n",
                            crate::printer::one_line(&text)
                        ));
                    }
                    tail.push(text);
                }
                Event::Garbage => known.send_modify(|known| known.garbage = true),
                Event::Stuck => known.send_modify(|known| known.stuck = true),
                Event::Gone {
                    ended,
                    garbage,
                    overflowed,
                } => known.send_modify(|known| {
                    known.gone = Some(Gone {
                        ended,
                        garbage,
                        overflowed,
                    });
                }),
            }
        }
    };
    let reader = Watched {
        inner: BufReader::new(reader),
        known: known.clone(),
    };
    let transport = guard::StdioTransport::over(
        Box::new(reader),
        Box::new(writer),
        Some(Box::new(on_line)),
        &entry.name,
        raw,
        whole,
    );
    Some(Attached {
        relayed: Relayed { tail, known },
        transport,
    })
}

/// Settings as name and value.
fn pairs(settings: &[crate::config::Setting]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|setting| (setting.name.clone(), setting.value.clone()))
        .collect()
}

/// This process's file mode creation mask, which a server it starts
/// inherits: set and put back at once (this thread creates no file
/// meanwhile, and no other runs).
fn umask() -> u32 {
    // SAFETY: umask has no memory-safety preconditions; the mask is put
    // back at once.
    unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        #[allow(clippy::useless_conversion, reason = "mode_t is u16 on macOS")]
        u32::from(mask)
    }
}

/// A duration in whole milliseconds.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The hello as a line.
fn hello_line(hello: &Hello) -> Result<Vec<u8>, String> {
    let mut line = serde_json::to_vec(hello).map_err(|error| error.to_string())?;
    line.push(b'\n');
    Ok(line)
}

/// A connection to the daemon, started first when `start` and none runs;
/// the error says why it cannot be reached.
async fn reach(place: &Place, start: bool) -> Result<UnixStream, String> {
    match UnixStream::connect(&place.socket).await {
        Ok(stream) => Ok(stream),
        Err(error) if start && is_absent(&error) => start_daemon(place).await,
        Err(error) => Err(format!("cannot reach it: {error}")),
    }
}

/// Sends `hello` (`status`, `stop`) to a running daemon and reads its reply.
async fn exchange(place: &Place, hello: &Hello) -> Result<Reply, String> {
    let stream = reach(place, false).await?;
    let (reader, mut writer) = stream.into_split();
    writer
        .write_all(&hello_line(hello)?)
        .await
        .map_err(|error| format!("cannot write to it: {error}"))?;
    let mut reader = BufReader::new(reader);
    let mut answer = Vec::new();
    reader
        .read_until(b'\n', &mut answer)
        .await
        .map_err(|error| format!("cannot read from it: {error}"))?;
    serde_json::from_slice::<Reply>(&answer)
        .map_err(|_| "it closed the connection without answering".to_owned())
}

/// Whether connecting failed because no daemon listens.
fn is_absent(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}

/// Starts the daemon, under a lock so that parallel commands start one,
/// and connects to it once it listens.
async fn start_daemon(place: &Place) -> Result<UnixStream, String> {
    let lock_path = place.file("start.lock");
    let _lock = loop {
        match place::try_lock(&lock_path) {
            Ok(Some(lock)) => break lock,
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(error) => return Err(format!("cannot lock `{}`: {error}", lock_path.display())),
        }
        // Another command is starting it: it may be up by now.
        if let Ok(stream) = UnixStream::connect(&place.socket).await {
            return Ok(stream);
        }
    };
    if let Ok(stream) = UnixStream::connect(&place.socket).await {
        return Ok(stream);
    }
    let exe = std::env::current_exe().map_err(|error| format!("cannot find mcp-cli: {error}"))?;
    // Spawned plainly (posix_spawn: no copy of this process), it leaves
    // this session itself, and says on its stdout when it listens.
    let mut child = std::process::Command::new(exe)
        .arg(serve::VERB)
        .arg(&place.dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start it: {error}"))?;
    super::process::spare(child.id());
    crate::debug!("started the daemon, pid {}", child.id());
    if let Some(stdout) = child.stdout.take()
        && let Ok(stdout) = tokio::net::unix::pipe::Receiver::from_owned_fd(stdout.into())
    {
        // A line when it listens; the end of the stream if it exits first
        // (another daemon won the race: it may be listening).
        let mut ready = Vec::new();
        let _ = BufReader::new(stdout).read_until(b'\n', &mut ready).await;
    }
    match UnixStream::connect(&place.socket).await {
        Ok(stream) => Ok(stream),
        Err(error) => match child.try_wait() {
            Ok(Some(status)) => Err(format!("it exited at start ({status})")),
            _ => Err(format!("cannot reach it: {error}")),
        },
    }
}

/// `mcp-cli daemon status`: what the daemon holds, if one runs.
pub async fn status(place: &Place) -> Option<Status> {
    match exchange(place, &Hello::Status).await {
        Ok(Reply::Status(status)) => Some(status),
        _ => None,
    }
}

/// `mcp-cli daemon stop`: stops the daemon and its servers; how many
/// servers it held, if one ran.
pub async fn stop(place: &Place) -> Option<usize> {
    match exchange(place, &Hello::Stop).await {
        Ok(Reply::Stopped { servers }) => Some(servers),
        _ => None,
    }
}
