//! The one error type of mcp-cli, its exit codes, and how it is shown.
//!
//! Every failure a command can meet is a variant of [`McpError`] with
//! structured fields (server, method, duration, path), never a
//! pre-formatted string. Three things are derived from a variant:
//! its `TYPE` (the stable name agents match on), its exit code (one of
//! the classes in [`exit`]) and a suggestion: the next step for the user.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

/// The documented exit codes, one per class of failure.
pub mod exit {
    /// Everything worked.
    pub const SUCCESS: u8 = 0;
    /// The caller's mistake: usage, config, arguments, unknown names.
    pub const CLIENT: u8 = 1;
    /// The server's answer was an error: `isError`, JSON-RPC error, protocol violation.
    pub const SERVER: u8 = 2;
    /// The server could not be reached or kept: spawn, connection, timeout.
    pub const NETWORK: u8 = 3;
    /// Authentication or authorization failed.
    pub const AUTH: u8 = 4;
    /// Interrupted by SIGINT (Ctrl-C).
    pub const SIGINT: u8 = 130;
    /// Terminated by SIGTERM.
    pub const SIGTERM: u8 = 143;
}

/// Everything that can go wrong in mcp-cli.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// A command-line usage error (from the argument parser or a verb).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to type instead.
        suggestion: Option<String>,
    },

    /// A verb or flag is missing an argument it needs.
    #[error("Missing required argument for {command}: {argument}")]
    MissingArgument {
        /// The verb or flag (`call`, `-c/--config`).
        command: String,
        /// What is missing (`server and tool`, `path`).
        argument: String,
        /// A command line that has it.
        suggestion: String,
    },

    /// More words than the verb takes.
    #[error("Too many arguments for {command}")]
    TooManyArguments {
        /// The verb.
        command: String,
        /// How many words it got.
        received: usize,
        /// How many it takes.
        max: usize,
        /// The verb's usage line.
        usage: String,
    },

    /// A flag mcp-cli does not have (or not for this verb).
    #[error("Unknown option: {option}")]
    UnknownOption {
        /// The flag as typed.
        option: String,
        /// Why it is not known here, when it exists for other verbs.
        detail: Option<String>,
        /// What to type instead.
        suggestion: String,
    },

    /// The first word is not a verb mcp-cli knows.
    #[error("Unknown subcommand: \"{verb}\"")]
    UnknownSubcommand {
        /// What the user typed.
        verb: String,
        /// The closest verb, if one is close.
        did_you_mean: Option<&'static str>,
        /// The words after it, to suggest the whole corrected command.
        rest: Vec<String>,
        /// It was the topic of `help`.
        for_help: bool,
    },

    /// `mcp-cli <server> <tool>` without a verb: call or info?
    #[error("Ambiguous command: did you mean to call a tool or view info?")]
    AmbiguousCommand {
        /// The words given.
        words: Vec<String>,
        /// The server they name (a configured one when the first word is
        /// a typo of one).
        server: String,
        /// The tool they name, if any.
        tool: Option<String>,
        /// The JSON arguments after them, joined, if any.
        json: Option<String>,
        /// Whether the first word is a typo of `server`.
        typo: bool,
    },

    /// No config file at the place named (`-c`, `MCP_CONFIG_PATH`), or at
    /// any of the searched places.
    #[error("{}", match explicit {
        Some(path) => format!("Config file not found: {}", path.display()),
        None => "No mcp_servers.json found in search paths".to_owned(),
    })]
    ConfigNotFound {
        /// The file named by `-c` or `MCP_CONFIG_PATH`.
        explicit: Option<PathBuf>,
        /// Every path that was tried, in order.
        searched: Vec<PathBuf>,
    },

    /// A config file (or the file named explicitly) could not be read.
    #[error("cannot read config `{}`", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The config file is not valid JSON (comments and trailing commas allowed).
    #[error("Invalid JSON in config file: {}", path.display())]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
        /// The offending line of the file.
        snippet: String,
    },

    /// A project's config (not the user's own) that the user has not
    /// trusted, or that changed since.
    #[error("{}", if *changed {
        format!("Config file `{}` has changed since it was trusted", path.display())
    } else {
        format!("Config file `{}` is not trusted", path.display())
    })]
    ConfigUntrusted {
        /// The file.
        path: PathBuf,
        /// Trusted once, with other content.
        changed: bool,
        /// What it would run or reach, one server each, redacted.
        reaches: Vec<String>,
    },

    /// A config file that someone else could have written.
    #[error("Config file `{}` is not safe to use: {reason}", path.display())]
    ConfigInsecure {
        /// The file.
        path: PathBuf,
        /// Who else may write it.
        reason: String,
    },

    /// Logging in to a server (OAuth) failed, or its kept tokens cannot be
    /// used.
    #[error("OAuth for `{server}` failed: {message}")]
    AuthFailed {
        /// The server.
        server: String,
        /// What failed.
        message: String,
        /// What to do about it.
        suggestion: String,
    },

    /// mcp-cli's own state (the trusted configs) could not be written.
    #[error("cannot write `{}`", path.display())]
    StateWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The config file parses but does not have the expected shape.
    #[error("invalid config `{}` at `{key}`: {message}", path.display())]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// The key path, for example `mcpServers.fs.args[1]`.
        key: String,
        /// What is wrong there.
        message: String,
    },

    /// `${VAR}` names a variable that is not set.
    #[error("Missing environment variable: ${{{var}}} (used by server `{server}`)")]
    MissingEnvVar {
        /// The variable.
        var: String,
        /// The server whose entry uses it.
        server: String,
        /// The config file.
        path: PathBuf,
    },

    /// An `MCP_*` setting has a value that cannot be used.
    #[error("invalid value `{value}` for `{var}`: expected {expected}")]
    InvalidSetting {
        /// The variable (or the setting, such as a server's header).
        var: std::borrow::Cow<'static, str>,
        /// Its value.
        value: String,
        /// What it should be.
        expected: std::borrow::Cow<'static, str>,
    },

    /// No server of that name in the config (or it is disabled there).
    #[error("Server \"{server}\" {}", if *disabled { "is disabled in config (`\"disabled\": true`)" } else { "not found in config" })]
    ServerNotFound {
        /// The name asked for.
        server: String,
        /// The config has it, with `"disabled": true`.
        disabled: bool,
        /// The configured names.
        available: Vec<String>,
    },

    /// The server has no tool of that name (after filters).
    #[error("Tool \"{tool}\" not found in server \"{server}\"")]
    ToolNotFound {
        /// The server.
        server: String,
        /// The tool asked for.
        tool: String,
        /// Up to five close names.
        similar: Vec<String>,
        /// How many tools the server has.
        total: usize,
    },

    /// `allowedTools`/`disabledTools` hide the tool (whether or not the server has it).
    #[error("Tool \"{tool}\" is disabled by configuration")]
    ToolDisabled {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
    },

    /// The tool arguments are not a JSON object.
    #[error("Invalid JSON in tool arguments")]
    InvalidJsonArguments {
        /// What the parser said, with line and column.
        message: String,
        /// Where the arguments came from (`argument` or `stdin`).
        origin: &'static str,
    },

    /// `grep` found nothing.
    #[error("no tool matches `{pattern}`")]
    NoMatch {
        /// The glob.
        pattern: String,
        /// How many servers were searched.
        servers: usize,
    },

    /// The tool ran and reported an error (`isError: true`).
    #[error("tool `{tool}` on server `{server}` returned an error: {message}")]
    ToolError {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// The text the tool returned.
        message: String,
    },

    /// The server answered a request with a JSON-RPC error.
    #[error("server `{server}` answered `{method}` with error {code}: {message}")]
    ServerError {
        /// The server.
        server: String,
        /// The request method.
        method: String,
        /// The JSON-RPC error code.
        code: i32,
        /// The error message.
        message: String,
        /// Its `data`, as compact JSON cut to a few hundred characters.
        data: Option<String>,
    },

    /// The server answered a `tools/call` with a JSON-RPC error (not an
    /// unknown tool: that is [`McpError::ToolNotFound`]).
    #[error("Tool \"{tool}\" execution failed")]
    ToolExecutionFailed {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// The JSON-RPC error code.
        code: i32,
        /// The error message.
        message: String,
        /// Its `data`, as compact JSON cut to a few hundred characters.
        data: Option<String>,
    },

    /// The server broke the protocol (garbage, unexpected answer).
    #[error("server `{server}` broke the protocol during `{method}`: {message}")]
    Protocol {
        /// The server.
        server: String,
        /// The request method.
        method: String,
        /// What went wrong.
        message: String,
        /// The last lines the server wrote to stderr.
        stderr: Vec<String>,
    },

    /// A `tools/call` result that breaks the spec (`content` not an array,
    /// `isError` not a boolean): the tool ran, but its answer is not read.
    /// Under `--json`, what arrived goes to stdout all the same.
    #[error("server `{server}` broke the protocol during `tools/call`: {message}")]
    BadResult {
        /// The server.
        server: String,
        /// What is wrong, naming the field.
        message: String,
        /// The result as it came, when it was kept (`--json`).
        arrived: Option<String>,
    },

    /// The server wrote a message past what mcp-cli reads: past
    /// 256 MiB, or one whose
    /// parsed form would not fit the memory bound.
    #[error("server `{server}` sent a message too large to read during `{method}`")]
    MessageTooLarge {
        /// The server.
        server: String,
        /// The request method.
        method: String,
        /// What made it too large.
        why: String,
    },

    /// The server process could not be started.
    #[error("cannot start server `{server}` (`{command}`)")]
    Spawn {
        /// The server.
        server: String,
        /// The program.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
        /// What to do, when the cause is known better than "not found".
        fix: Option<String>,
    },

    /// The connection ended before the answer arrived.
    #[error("server `{server}` closed the connection during `{method}`{}", exit_status.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    ConnectionClosed {
        /// The server.
        server: String,
        /// The request method.
        method: String,
        /// Whether the request had been sent: if so, it may have run.
        request_sent: bool,
        /// How the process ended, when known.
        exit_status: Option<String>,
        /// The last lines the server wrote to stderr.
        stderr: Vec<String>,
    },

    /// An HTTP server answered with an error status (the HTTP transport
    /// produces it; 429, 502, 503 and 504 come before the server processes
    /// the request, so even a `tools/call` may be sent again).
    #[error("server `{server}` answered `{method}` with HTTP {status}")]
    HttpStatus {
        /// The server.
        server: String,
        /// The request method.
        method: String,
        /// The status code.
        status: u16,
        /// How long the server asked to wait (`Retry-After`), when it did.
        retry_after: Option<Duration>,
        /// Its `WWW-Authenticate` challenge, on 401 and 403.
        challenge: Option<String>,
        /// The first bytes of its body, when they say something.
        body: Option<String>,
    },

    /// A remote server could not be reached: its name did not resolve, the
    /// connection was refused or reset, or TLS failed.
    #[error("cannot reach server `{server}`{}: {reason}", if server == url { String::new() } else { format!(" at {url}") })]
    Unreachable {
        /// The server.
        server: String,
        /// Its URL as written, secrets masked.
        url: String,
        /// What failed, in a few words.
        reason: String,
        /// The chain of causes, outermost first.
        causes: Vec<String>,
        /// Whether trying again may help (a refused connection, a failed
        /// lookup) or not (a certificate that is not trusted).
        transient: bool,
        /// What to do about it.
        fix: String,
    },

    /// A remote endpoint answered with something that is not MCP: a login
    /// page, a captive portal, a proxy's error page.
    #[error("server `{server}` answered `{method}` with {found}, not JSON-RPC")]
    NotJsonRpc {
        /// The server.
        server: String,
        /// The request method.
        method: String,
        /// What came instead (a content type, a status).
        found: String,
        /// The first bytes of what came, when known.
        body: Option<String>,
    },

    /// One request took longer than its per-request timeout.
    #[error("timed out awaiting `{method}` from server `{server}` after {}", format_duration(*duration))]
    Timeout {
        /// The server.
        server: String,
        /// The request method.
        method: String,
        /// The timeout.
        duration: Duration,
        /// The last lines the server wrote to stderr.
        stderr: Vec<String>,
    },

    /// The overall deadline (`MCP_TIMEOUT`) passed; in-flight requests were cancelled.
    #[error("operation cancelled: the deadline of {} (MCP_TIMEOUT) passed", format_duration(*timeout))]
    OperationCancelled {
        /// The deadline that passed.
        timeout: Duration,
        /// What was running when it passed, if known.
        during: Option<String>,
    },

    /// Every attempt failed with a transient error.
    #[error("failed after {attempts} attempts in {}: {source}", format_duration(*elapsed))]
    MaxRetriesExceeded {
        /// How many attempts were made.
        attempts: u32,
        /// How long they took, sleeps included.
        elapsed: Duration,
        /// The error of the last attempt.
        #[source]
        source: Box<McpError>,
    },

    /// The user interrupted the command.
    #[error("interrupted by {}", crate::signals::name(*signal))]
    Interrupted {
        /// The exit code of the signal: 128 + its number.
        signal: u8,
    },

    /// Writing the output failed.
    #[error("cannot write output")]
    Output(#[source] std::io::Error),

    /// Several servers failed: the first (whose class is the exit code),
    /// and the others, which `--json` reports in the same one object.
    #[error("{0}")]
    Several(Box<McpError>, Vec<McpError>),
}

impl McpError {
    /// The error raised when the overall deadline passes.
    pub fn operation_cancelled(timeout: Duration) -> Self {
        McpError::OperationCancelled {
            timeout,
            during: None,
        }
    }

    /// The error raised when every attempt failed, keeping the last cause.
    pub fn max_retries_exceeded(attempts: u32, elapsed: Duration, source: McpError) -> Self {
        McpError::MaxRetriesExceeded {
            attempts,
            elapsed,
            source: Box::new(source),
        }
    }

    /// A usage error without a suggestion.
    pub fn usage(message: impl Into<String>) -> Self {
        McpError::Usage {
            message: message.into(),
            suggestion: None,
        }
    }

    /// The stable name of the error, shown as `Error [TYPE]`.
    pub fn error_type(&self) -> &'static str {
        match self {
            McpError::Several(first, _) => first.error_type(),
            McpError::Usage { .. } => "USAGE_ERROR",
            McpError::MissingArgument { .. } => "MISSING_ARGUMENT",
            McpError::TooManyArguments { .. } => "TOO_MANY_ARGUMENTS",
            McpError::UnknownOption { .. } => "UNKNOWN_OPTION",
            McpError::UnknownSubcommand { .. } => "UNKNOWN_SUBCOMMAND",
            McpError::AmbiguousCommand { .. } => "AMBIGUOUS_COMMAND",
            McpError::ConfigNotFound { .. } => "CONFIG_NOT_FOUND",
            McpError::ConfigRead { .. } => "CONFIG_READ_FAILED",
            McpError::ConfigSyntax { .. } => "CONFIG_INVALID_JSON",
            McpError::ConfigInvalid { .. } => "CONFIG_INVALID",
            McpError::ConfigUntrusted { .. } => "CONFIG_UNTRUSTED",
            McpError::ConfigInsecure { .. } => "CONFIG_INSECURE",
            McpError::StateWrite { .. } => "STATE_WRITE_FAILED",
            McpError::AuthFailed { .. } => "AUTH_FAILED",
            McpError::MissingEnvVar { .. } => "MISSING_ENV_VAR",
            McpError::InvalidSetting { .. } => "INVALID_SETTING",
            McpError::ServerNotFound { .. } => "SERVER_NOT_FOUND",
            McpError::ToolNotFound { .. } => "TOOL_NOT_FOUND",
            McpError::ToolDisabled { .. } => "TOOL_DISABLED",
            McpError::InvalidJsonArguments { .. } => "INVALID_JSON_ARGUMENTS",
            McpError::NoMatch { .. } => "NO_MATCH",
            McpError::ToolError { .. } => "TOOL_ERROR",
            McpError::ServerError { .. } => "SERVER_ERROR",
            McpError::ToolExecutionFailed { .. } => "TOOL_EXECUTION_FAILED",
            McpError::Protocol { .. } | McpError::BadResult { .. } => "PROTOCOL_ERROR",
            McpError::MessageTooLarge { .. } => "MESSAGE_TOO_LARGE",
            McpError::Spawn { .. } => "SERVER_SPAWN_FAILED",
            McpError::ConnectionClosed { .. } => "CONNECTION_CLOSED",
            McpError::HttpStatus {
                status: 401 | 403, ..
            } => "AUTH_REQUIRED",
            McpError::HttpStatus { .. } => "HTTP_ERROR",
            McpError::Unreachable { .. } => "CONNECTION_FAILED",
            McpError::NotJsonRpc { .. } => "PROTOCOL_ERROR",
            McpError::Timeout { .. } => "TIMEOUT",
            McpError::OperationCancelled { .. } => "OPERATION_CANCELLED",
            McpError::MaxRetriesExceeded { .. } => "MAX_RETRIES_EXCEEDED",
            McpError::Interrupted { .. } => "INTERRUPTED",
            McpError::Output(_) => "OUTPUT_ERROR",
        }
    }

    /// The exit code of the error's class (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            McpError::Several(first, _) => first.exit_code(),
            McpError::Usage { .. }
            | McpError::MissingArgument { .. }
            | McpError::TooManyArguments { .. }
            | McpError::UnknownOption { .. }
            | McpError::UnknownSubcommand { .. }
            | McpError::AmbiguousCommand { .. }
            | McpError::ConfigNotFound { .. }
            | McpError::ConfigRead { .. }
            | McpError::ConfigSyntax { .. }
            | McpError::ConfigInvalid { .. }
            | McpError::ConfigUntrusted { .. }
            | McpError::ConfigInsecure { .. }
            | McpError::StateWrite { .. }
            | McpError::MissingEnvVar { .. }
            | McpError::InvalidSetting { .. }
            | McpError::ServerNotFound { .. }
            | McpError::ToolNotFound { .. }
            | McpError::ToolDisabled { .. }
            | McpError::InvalidJsonArguments { .. }
            | McpError::NoMatch { .. }
            | McpError::Output(_) => exit::CLIENT,
            McpError::ToolError { .. }
            | McpError::ServerError { .. }
            | McpError::ToolExecutionFailed { .. }
            | McpError::Protocol { .. }
            | McpError::BadResult { .. }
            | McpError::MessageTooLarge { .. }
            | McpError::NotJsonRpc { .. } => exit::SERVER,
            McpError::HttpStatus {
                status: 401 | 403, ..
            }
            | McpError::AuthFailed { .. } => exit::AUTH,
            McpError::HttpStatus { status, .. } if *status >= 500 || *status == 429 => {
                exit::NETWORK
            }
            McpError::HttpStatus { .. } => exit::SERVER,
            McpError::Spawn { .. }
            | McpError::Unreachable { .. }
            | McpError::ConnectionClosed { .. }
            | McpError::Timeout { .. }
            | McpError::OperationCancelled { .. } => exit::NETWORK,
            McpError::MaxRetriesExceeded { source, .. } => source.exit_code(),
            McpError::Interrupted { signal } => *signal,
        }
    }

    /// Facts that help to understand the error, one per line.
    pub fn details(&self) -> Vec<String> {
        match self {
            McpError::Several(first, _) => first.details(),
            McpError::TooManyArguments { received, max, .. } => {
                vec![format!("Received {received} arguments, maximum is {max}")]
            }
            McpError::UnknownOption {
                detail: Some(detail),
                ..
            } => vec![detail.clone()],
            McpError::UnknownSubcommand { .. } => vec![format!(
                "Valid subcommands: {}",
                crate::cli::spec::verb_names().join(", ")
            )],
            McpError::AmbiguousCommand {
                words,
                server,
                typo,
                ..
            } => {
                let received: Vec<String> = words
                    .iter()
                    .map(|word| crate::cli::quote(&crate::printer::one_line(word)))
                    .collect();
                let mut lines = vec![format!("Received: mcp-cli {}", received.join(" "))];
                if *typo {
                    lines.push(format!(
                        "no such server in the config; did you mean `{server}`?"
                    ));
                }
                lines
            }
            McpError::ConfigNotFound {
                explicit: Some(_), ..
            } => Vec::new(),
            McpError::ConfigNotFound { searched, .. } => searched
                .iter()
                .map(|p| format!("searched `{}`", p.display()))
                .collect(),
            McpError::ConfigUntrusted { reaches, .. } => reaches
                .iter()
                .map(|reach| format!("it would run {reach}"))
                .collect(),
            McpError::ConfigRead { source, .. }
            | McpError::Spawn { source, .. }
            | McpError::StateWrite { source, .. } => {
                vec![source.to_string()]
            }
            McpError::ConfigSyntax {
                line,
                column,
                message,
                snippet,
                ..
            } => vec![
                format!("line {line}, column {column}: {message}"),
                format!("{line} | {snippet}"),
            ],
            McpError::MessageTooLarge { why, .. } => vec![why.clone()],
            McpError::InvalidJsonArguments { message, .. } => {
                vec![format!("Parse error: {message}")]
            }
            McpError::ToolDisabled { server, .. } => vec![format!(
                "server `{server}` has allowedTools/disabledTools filtering configured"
            )],
            McpError::ToolExecutionFailed {
                server,
                code,
                message,
                data,
                ..
            } => std::iter::once(format!(
                "server `{server}` answered error {code}: {message}"
            ))
            .chain(data.iter().map(|data| format!("data: {data}")))
            .collect(),
            McpError::ServerError {
                data: Some(data), ..
            } => vec![format!("data: {data}")],
            McpError::ServerNotFound { available, .. } if available.is_empty() => {
                vec!["the config defines no server".to_owned()]
            }
            McpError::ServerNotFound { available, .. } => {
                let names: Vec<String> = available
                    .iter()
                    .map(|name| crate::printer::one_line(name).into_owned())
                    .collect();
                vec![format!("Available servers: {}", names.join(", "))]
            }
            McpError::ToolNotFound { similar, total, .. } if similar.is_empty() => {
                vec![format!(
                    "the server has {total} tools, none with a similar name"
                )]
            }
            McpError::ToolNotFound { similar, total, .. } => vec![format!(
                "similar tools: {} (of {total} tools)",
                similar
                    .iter()
                    .map(|name| crate::printer::tool_name(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            McpError::Protocol { stderr, .. }
            | McpError::ConnectionClosed { stderr, .. }
            | McpError::Timeout { stderr, .. }
                if !stderr.is_empty() =>
            {
                let mut lines = vec![
                    "what the server wrote (stderr, and stdout that is not JSON-RPC):".to_owned(),
                ];
                lines.extend(stderr.iter().map(|line| format!("  {line}")));
                lines
            }
            McpError::OperationCancelled {
                during: Some(during),
                ..
            } => vec![format!("was running: {during}")],
            McpError::MaxRetriesExceeded { source, .. } => source.details(),
            McpError::HttpStatus {
                challenge, body, ..
            } => challenge
                .iter()
                .map(|challenge| format!("WWW-Authenticate: {challenge}"))
                .chain(body.iter().map(|body| format!("body: {body}")))
                .collect(),
            McpError::NotJsonRpc {
                body: Some(body), ..
            } => vec![format!("it began: {body}")],
            McpError::Unreachable { causes, .. } => causes.clone(),
            _ => Vec::new(),
        }
    }

    /// The next step for the user, when there is one.
    pub fn suggestion(&self) -> Option<String> {
        Some(match self {
            McpError::Several(first, _) => return first.suggestion(),
            McpError::Usage { suggestion, .. } => suggestion.clone()?,
            McpError::MissingArgument { suggestion, .. }
            | McpError::UnknownOption { suggestion, .. }
            | McpError::AuthFailed { suggestion, .. } => suggestion.clone(),
            McpError::TooManyArguments { usage, .. } => {
                format!("Usage: {usage}; see `mcp-cli --help`")
            }
            McpError::UnknownSubcommand {
                did_you_mean: Some(verb),
                for_help: true,
                ..
            } => format!("Did you mean `{}`?", crate::cli::suggest("help", &[verb])),
            McpError::UnknownSubcommand {
                did_you_mean, rest, ..
            } => match did_you_mean {
                // The whole command again, with the verb put right, when
                // it then has its arguments.
                Some(verb) => match crate::cli::spec::verb(verb) {
                    Some(spec) if crate::cli::check_arity(spec, rest).is_ok() => {
                        let words: Vec<&str> = rest.iter().map(String::as_str).collect();
                        format!("Did you mean `{}`?", crate::cli::suggest(verb, &words))
                    }
                    _ => format!(
                        "Did you mean {verb}? Usage: {}; see `mcp-cli help {verb}`",
                        crate::cli::spec::verb(verb).map(|spec| spec.usage()).unwrap_or_default()
                    ),
                },
                None => "see `mcp-cli --help` for the verbs".to_owned(),
            },
            McpError::AmbiguousCommand {
                server, tool, json, ..
            } => {
                let tool = tool.as_deref().unwrap_or("<tool>");
                let mut call = vec![server.as_str(), tool];
                call.extend(json.as_deref());
                format!(
                    "Use `{}` to execute, or `{}` to view schema",
                    crate::cli::suggest("call", &call),
                    crate::cli::suggest("info", &[server, tool])
                )
            }
            McpError::ConfigNotFound {
                explicit: Some(_), ..
            } => "check the path, or create the file holding {\"mcpServers\": {...}}".to_owned(),
            McpError::ConfigNotFound { .. } => {
                "create one of those files, for example `~/.config/mcp/mcp_servers.json` holding {\"mcpServers\": {\"fs\": {\"command\": \"npx\", \"args\": [\"-y\", \"@modelcontextprotocol/server-filesystem\", \".\"]}}}, or point to one with `-c <path>` or MCP_CONFIG_PATH".to_owned()
            }
            McpError::ConfigRead { source, .. }
                if source.kind() == std::io::ErrorKind::TimedOut =>
            {
                "start what writes the config before mcp-cli, or save it to a file and pass that with -c".to_owned()
            }
            McpError::ConfigRead { source, .. }
                if source.kind() == std::io::ErrorKind::InvalidData =>
            {
                "save the config as UTF-8".to_owned()
            }
            McpError::ConfigRead { .. } => "check the path and its permissions".to_owned(),
            McpError::ConfigUntrusted { path, .. } => {
                let path = crate::cli::quote(&path.display().to_string());
                format!(
                    "read it; if you want it to run, `mcp-cli trust {path}` (or name it once with `-c {path}`)"
                )
            }
            McpError::ConfigInsecure { path, .. } => format!(
                "make it yours and writable by you alone: `chmod go-w {}`",
                crate::cli::quote(&path.display().to_string())
            ),
            McpError::StateWrite { .. } => {
                "check that your state directory (XDG_STATE_HOME, or ~/.local/state) is yours and writable".to_owned()
            }
            McpError::ConfigSyntax { .. } | McpError::ConfigInvalid { .. } => {
                "fix the config file; the README's config reference shows the format".to_owned()
            }
            McpError::MissingEnvVar { var, .. } => format!(
                "export {var}=..., use `${{{var}:-default}}` in the config, or set MCP_STRICT_ENV=false to substitute an empty value"
            ),
            McpError::InvalidSetting { var, .. } => {
                format!("unset {var} or give it a valid value; see `mcp-cli --help`")
            }
            McpError::ServerNotFound { disabled: true, .. } => {
                "remove `\"disabled\": true` from its entry to use it".to_owned()
            }
            McpError::ServerNotFound {
                server, available, ..
            } => match closest_name(server, available) {
                Some(close) => format!(
                    "did you mean `{close}`? `{}` shows it",
                    crate::cli::suggest("info", &[close])
                ),
                None => "run `mcp-cli` to list the configured servers".to_owned(),
            },
            McpError::ToolNotFound { server, .. } => {
                format!("run `{}` to list its tools", crate::cli::suggest("info", &[server]))
            }
            McpError::ToolDisabled { server, .. } => format!(
                "run `{}` for the tools you may call (the name may be misspelt); to allow this one, remove it from `disabledTools` or add it to `allowedTools` in the config",
                crate::cli::suggest("info", &[server])
            ),
            McpError::InvalidJsonArguments { .. } => {
                "pass one JSON object, for example '{\"key\": \"value\"}'; quote it for your shell"
                    .to_owned()
            }
            McpError::NoMatch { .. } => {
                "use wildcards, for example `mcp-cli grep '*file*'`; matching ignores case"
                    .to_owned()
            }
            McpError::ToolError { server, tool, .. } => format!(
                "check the arguments against `{}`",
                crate::cli::suggest("info", &[server, tool])
            ),
            McpError::ToolExecutionFailed { server, tool, .. } => format!(
                "check the arguments against `{}`; the server refused the call",
                crate::cli::suggest("info", &[server, tool])
            ),
            McpError::ServerError { server, .. } => format!(
                "check the request against `{}`; the server refused it",
                crate::cli::suggest("info", &[server])
            ),
            McpError::MessageTooLarge { method, .. } if method == "tools/call" => {
                "the tool ran, but its result cannot be read whole; ask it for less (a narrower query, a page or a range) rather than calling it again as is".to_owned()
            }
            McpError::MessageTooLarge { .. } => {
                "nothing on this side changes the size of that answer; report it to the server's authors".to_owned()
            }
            McpError::BadResult { server, .. } => format!(
                "the tool ran, but its result breaks the MCP spec; do not call it again as is, and report it to the authors of `{server}` (--json prints what arrived)"
            ),
            McpError::Protocol { server, .. } => format!(
                "the server `{server}` does not speak MCP as expected; run it with MCP_DEBUG=1 to see all it writes"
            ),
            McpError::Spawn { fix: Some(fix), .. } => fix.clone(),
            McpError::Spawn { command, .. } => {
                format!("check that `{command}` is installed and on PATH")
            }
            McpError::ConnectionClosed {
                request_sent: true,
                method,
                server,
                ..
            } if method == "tools/call" => format!(
                "the call may have run on `{server}` before the connection was lost and was not retried; check the server's state before calling again"
            ),
            // No process exited, and none wrote anything: a remote server.
            McpError::ConnectionClosed {
                server,
                exit_status: None,
                stderr,
                ..
            } if stderr.is_empty() => format!(
                "the connection to `{server}` was lost; check that it is up and reachable, then try again"
            ),
            McpError::ConnectionClosed { server, .. } => format!(
                "the server `{server}` exited; run it by hand or with MCP_DEBUG=1 to see why"
            ),
            McpError::HttpStatus { status: 401 | 403, server, challenge, .. }
                if challenge.as_deref().is_some_and(|challenge| {
                    challenge.trim_start().to_ascii_lowercase().starts_with("bearer")
                }) =>
            {
                format!(
                    "log in with `mcp-cli auth {server}` (OAuth: a browser, or `oauth.grant: client_credentials` in its config for a machine); or give a token in the `headers` of `{server}` (`\"Authorization\": \"Bearer ${{TOKEN}}\"`), or with --header for a URL"
                )
            }
            McpError::HttpStatus { status: 401 | 403, server, .. } => format!(
                "the server wants credentials: give them in the `headers` of `{server}` in the config (for example `\"Authorization\": \"Bearer ${{TOKEN}}\"`), or with --header for a URL; for OAuth, `mcp-cli auth {server}`"
            ),
            McpError::HttpStatus { status: 300..=399, .. } => {
                "the server redirects elsewhere; mcp-cli follows redirects only within the URL's origin, so that headers never go to another host: use the URL it points to (`curl -sI <url>` shows it)".to_owned()
            }
            McpError::HttpStatus { status: 404 | 405, .. } => {
                "check the `url`: the path may be wrong (MCP endpoints often end in /mcp, legacy ones in /sse)".to_owned()
            }
            McpError::HttpStatus { status, server, .. } if *status < 500 && *status != 429 => format!(
                "the server `{server}` refused the request; check the `url` and `headers`"
            ),
            McpError::Unreachable { fix, .. } => fix.clone(),
            McpError::NotJsonRpc { .. } => {
                "something other than an MCP server answered (a login page, a captive portal, a proxy): check the `url`, the network, and HTTPS_PROXY/NO_PROXY".to_owned()
            }
            McpError::HttpStatus { server, .. } => format!(
                "the server `{server}` is failing or overloaded; try again later"
            ),
            McpError::Timeout { method, server, .. } if method == "tools/call" => format!(
                "the call may still have run on `{server}`; check its state before calling again, or raise MCP_REQUEST_TIMEOUT (or the server's own `timeout` in the config)"
            ),
            McpError::Timeout { method, .. } if method == "tools/list" => {
                "raise MCP_LIST_TIMEOUT or MCP_REQUEST_TIMEOUT (or the server's own `timeout` in the config), in seconds; or check that the server is healthy".to_owned()
            }
            McpError::Timeout { .. } => {
                "raise MCP_REQUEST_TIMEOUT (or the server's own `timeout` in the config), or check that the server is healthy".to_owned()
            }
            McpError::OperationCancelled {
                during: Some(during),
                ..
            } if during.contains("from stdin") => {
                "stdin never ended: close it (end the pipe, or Ctrl-D), or pass the JSON as an argument".to_owned()
            }
            McpError::OperationCancelled { .. } => {
                "raise MCP_TIMEOUT (seconds), or check that the server is healthy".to_owned()
            }
            McpError::MaxRetriesExceeded {
                attempts, source, ..
            } if matches!(**source, McpError::Timeout { .. }) => format!(
                "the last of {attempts} attempts timed out: raise MCP_REQUEST_TIMEOUT (seconds) if the server is only slow, or run it with MCP_DEBUG=1 to see where it stops"
            ),
            McpError::MaxRetriesExceeded { attempts, .. } => format!(
                "the failure lasted through {attempts} attempts: check that the server starts and stays up (run it by hand, or with MCP_DEBUG=1 to see each attempt), or raise MCP_MAX_RETRIES"
            ),
            McpError::Interrupted { .. } | McpError::Output(_) => return None,
        })
    }

    /// The error as one JSON object, the `--json` form.
    pub fn to_json(&self) -> serde_json::Value {
        if let McpError::Several(first, others) = self {
            let mut value = first.to_json();
            value["others"] = others.iter().map(McpError::to_json).collect();
            return value;
        }
        let mut value = json!({
            "error": self.error_type(),
            "message": self.to_string(),
            "exitCode": self.exit_code(),
        });
        let details = self.details();
        if !details.is_empty() {
            value["details"] = json!(details);
        }
        if let Some(suggestion) = self.suggestion() {
            value["suggestion"] = json!(suggestion);
        }
        value
    }

    /// The error in the human three-line form.
    pub fn render(&self) -> String {
        if let McpError::Several(first, others) = self {
            return std::iter::once(first.as_ref())
                .chain(others)
                .map(McpError::render)
                .collect();
        }
        // A tool's error text keeps its lines, indented under the first,
        // apart from Details and Suggestion. Everything else is one line
        // per item: a name with a newline in it (from a config or a server)
        // cannot forge a line of its own.
        use crate::printer::{lines as keep_lines, one_line};
        let message = self.to_string();
        let message = match self {
            McpError::ToolError { .. } => keep_lines(&message),
            _ => one_line(&message),
        };
        let mut lines = message.trim_end().lines();
        let mut out = format!(
            "Error [{}]: {}\n",
            self.error_type(),
            lines.next().unwrap_or_default()
        );
        for line in lines {
            out.push_str(&format!("    {line}\n"));
        }
        for line in self.details() {
            // Indented detail lines continue the one before.
            match line.strip_prefix("  ") {
                Some(continued) => out.push_str(&format!("    {}\n", one_line(continued))),
                None => out.push_str(&format!("  Details: {}\n", one_line(&line))),
            }
        }
        if let Some(suggestion) = self.suggestion() {
            out.push_str(&format!("  Suggestion: {}\n", one_line(&suggestion)));
        }
        out
    }
}

/// The name in `names` closest to `wanted` (ignoring case), within a third
/// of its length in edits (at least two).
pub fn closest_name<'a>(wanted: &str, names: &'a [String]) -> Option<&'a str> {
    let wanted = wanted.to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    names
        .iter()
        .map(|name| {
            (
                crate::commands::edit_distance(&wanted, &name.to_lowercase()),
                name.as_str(),
            )
        })
        // Within a third of the length in edits (at least two), and never
        // a whole other name.
        .filter(|(distance, name)| {
            *distance <= (wanted.chars().count() / 3).max(2)
                && *distance < name.chars().count().min(wanted.chars().count())
        })
        .min()
        .map(|(_, name)| name)
}

/// A JSON-RPC error's `data` as details show it: compact JSON, cut.
pub fn error_data(data: Option<&serde_json::Value>) -> Option<String> {
    let text = serde_json::to_string(data?).ok()?;
    if text.chars().count() > 500 {
        let cut: String = text.chars().take(497).collect();
        Some(format!("{cut}..."))
    } else {
        Some(text)
    }
}

/// Formats a duration for humans: `250ms`, `2.5s`, `3m 20s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        let seconds = duration.as_secs_f64();
        if millis.is_multiple_of(1000) {
            format!("{}s", millis / 1000)
        } else {
            format!("{seconds:.1}s")
        }
    } else {
        let seconds = duration.as_secs();
        format!("{}m {}s", seconds / 60, seconds % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_retries_takes_the_class_of_its_cause() {
        let cause = McpError::ConnectionClosed {
            server: "s".into(),
            method: "initialize".into(),
            request_sent: false,
            exit_status: None,
            stderr: vec![],
        };
        let error = McpError::max_retries_exceeded(3, Duration::from_millis(1500), cause);
        assert_eq!(error.exit_code(), exit::NETWORK);
        assert_eq!(error.error_type(), "MAX_RETRIES_EXCEEDED");
        assert!(
            error
                .to_string()
                .starts_with("failed after 3 attempts in 1.5s")
        );
        let tool = McpError::ToolError {
            server: "s".into(),
            tool: "t".into(),
            message: "m".into(),
        };
        let error = McpError::max_retries_exceeded(2, Duration::ZERO, tool);
        assert_eq!(error.exit_code(), exit::SERVER);
    }

    #[test]
    fn operation_cancelled_is_a_network_failure() {
        let error = McpError::operation_cancelled(Duration::from_secs(2));
        assert_eq!(error.exit_code(), exit::NETWORK);
        assert_eq!(error.error_type(), "OPERATION_CANCELLED");
        assert!(error.render().contains("Suggestion: raise MCP_TIMEOUT"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(format_duration(Duration::from_secs(200)), "3m 20s");
    }
}
