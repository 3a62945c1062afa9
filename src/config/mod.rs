//! The config file: where it is found, how it is parsed, what it may hold.
//!
//! The format is Claude Desktop's `mcp_servers.json` (`mcpServers`), or VS
//! Code's (`servers`), with comments and trailing commas allowed. Each entry
//! is validated into a [`ServerConfig`] with errors that name the file, line
//! and column, or the key path. `${VAR}` and `${VAR:-default}` are replaced
//! in every string of a server entry.

mod glob;
pub mod trust;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

pub use glob::Glob;

use crate::env_vars;
use crate::error::McpError;
use crate::settings::Settings;

/// The resolved configuration: the servers, and the settings from `MCP_*`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the servers came from.
    pub path: PathBuf,
    /// The servers, in file order.
    pub servers: Vec<ServerEntry>,
    /// Overall deadline of one command (`MCP_TIMEOUT`).
    pub timeout: Duration,
    /// Per-request timeout (`MCP_REQUEST_TIMEOUT`), `None` for the overall deadline.
    pub request_timeout: Option<Duration>,
    /// Per-server bound of a listing (`MCP_LIST_TIMEOUT`).
    pub list_timeout: Duration,
    /// Servers contacted at once (`MCP_CONCURRENCY`).
    pub concurrency: usize,
    /// Retries after the first attempt (`MCP_MAX_RETRIES`).
    pub retry_max: u32,
    /// Base retry delay in milliseconds (`MCP_RETRY_DELAY`).
    pub retry_delay_ms: u64,
    /// Debug output (`MCP_DEBUG`).
    pub debug: bool,
    /// Warnings found while loading (unknown keys, unset variables).
    pub warnings: Vec<String>,
    /// The servers marked `"disabled": true`, left out of `servers`.
    pub disabled: Vec<String>,
}

impl Config {
    /// `MISSING_ENV_VAR` when the server's entry uses an unset `${VAR}`.
    pub fn check(&self, entry: &ServerEntry) -> Result<(), McpError> {
        match &entry.unresolved {
            Some(var) => Err(McpError::MissingEnvVar {
                var: var.clone(),
                server: entry.name.clone(),
                path: self.path.clone(),
            }),
            None => Ok(()),
        }
    }

    /// This (the user's) config with `project`'s servers: added after its
    /// own, or in place of one of the same name, with a warning.
    pub fn merge(mut self, project: Config) -> Config {
        self.warnings.extend(project.warnings);
        for entry in project.servers {
            match self.servers.iter_mut().find(|own| own.name == entry.name) {
                Some(own) => {
                    self.warnings.push(format!(
                        "server `{}` of `{}` replaces the one of `{}`",
                        entry.name,
                        entry.source.display(),
                        own.source.display()
                    ));
                    *own = entry;
                }
                None => self.servers.push(entry),
            }
        }
        self.disabled
            .retain(|name| !self.servers.iter().any(|entry| entry.name == *name));
        self.disabled.extend(project.disabled);
        self.path = project.path;
        self
    }

    /// The server called `name`, or `SERVER_NOT_FOUND` listing the others.
    pub fn server(&self, name: &str) -> Result<&ServerEntry, McpError> {
        self.servers
            .iter()
            .find(|entry| entry.name == name)
            .ok_or_else(|| McpError::ServerNotFound {
                server: name.to_owned(),
                disabled: self.disabled.iter().any(|disabled| disabled == name),
                available: self
                    .servers
                    .iter()
                    .map(|entry| entry.name.clone())
                    .collect(),
            })
    }
}

/// One configured server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEntry {
    /// Its key in the config.
    pub name: String,
    /// How to reach it.
    pub transport: ServerConfig,
    /// The command line or URL as written, before `${VAR}` substitution,
    /// with secrets masked ([`crate::redact`]): what may be shown of it.
    pub shown: String,
    /// What it runs or reaches, as written, for the user to judge before
    /// trusting a config: the command line with the literal defaults of
    /// `${VAR:-default}` (they may be the code that runs), the working
    /// directory and the environment it adds; only credentials and values
    /// of secret-named variables and flags are masked.
    pub runs: String,
    /// The command and working directory where `${VAR}` was substituted:
    /// (as substituted, as written with secrets masked), so that errors
    /// about them show what the config says, never a variable's value.
    pub substituted: Vec<(String, String)>,
    /// A `${VAR}` the entry uses that is not set (under `MCP_STRICT_ENV`):
    /// the server cannot be used, but the others can.
    pub unresolved: Option<String>,
    /// Which of its tools are visible.
    pub filter: ToolFilter,
    /// Its own per-request timeout (`timeout`, in seconds), over
    /// `MCP_REQUEST_TIMEOUT`.
    pub timeout: Option<Duration>,
    /// The config file it comes from.
    pub source: PathBuf,
}

/// How to reach a server, after `${VAR}` substitution.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerConfig {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Variables added to the inherited environment.
        env: Vec<Setting>,
        /// Working directory.
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP (or legacy SSE) endpoint.
    Http {
        /// The endpoint.
        url: String,
        /// Extra request headers.
        headers: Vec<Setting>,
        /// Which transport: the config's `type`.
        kind: HttpKind,
        /// Its `oauth` settings, when the entry has them.
        oauth: Option<Box<OAuth>>,
    },
}

/// `oauth` of a remote server: who mcp-cli is to the server's
/// authorization server, and how it obtains tokens. Without it, a server
/// that asks for OAuth is still logged in to: by dynamic registration.
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth {
    /// `clientId`: a client registered with the authorization server.
    pub client_id: Option<String>,
    /// `clientSecret`, `${VAR}` substituted.
    pub client_secret: Option<String>,
    /// `clientMetadataUrl`: an https URL of a client ID metadata document.
    pub client_metadata_url: Option<String>,
    /// `scopes`: asked for instead of those the server suggests.
    pub scopes: Vec<String>,
    /// `grant`: `client_credentials` for machines (no browser).
    pub client_credentials: bool,
    /// `privateKey` (PEM): the client authenticates with a signed JWT
    /// (client credentials).
    pub private_key: Option<String>,
    /// `privateKeyFile`, relative to the config's folder: the same, from
    /// a file.
    pub private_key_file: Option<PathBuf>,
    /// `signingAlgorithm` of that JWT (RS256 unless said).
    pub signing_algorithm: Option<String>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("OAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &hidden(&self.client_secret))
            .field("client_metadata_url", &self.client_metadata_url)
            .field("scopes", &self.scopes)
            .field("client_credentials", &self.client_credentials)
            .field("private_key", &hidden(&self.private_key))
            .field("private_key_file", &self.private_key_file)
            .field("signing_algorithm", &self.signing_algorithm)
            .finish()
    }
}

/// Which HTTP transport a remote server is reached with (its `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpKind {
    /// No `type`: Streamable HTTP, falling back to legacy SSE when the
    /// server refuses it.
    Auto,
    /// `http` or `streamable-http`: Streamable HTTP alone.
    Streamable,
    /// `sse`: the legacy HTTP+SSE transport (2024-11-05).
    LegacySse,
}

/// A name and value from `env` or `headers`, with what may be shown of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The name.
    pub name: String,
    /// The value after substitution.
    pub value: String,
    /// The value as `info` shows it: as written, with secrets masked
    /// ([`crate::redact::setting`]).
    pub display: String,
}

/// `allowedTools` / `disabledTools` of one server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolFilter {
    allowed: Option<Vec<Glob>>,
    disabled: Vec<Glob>,
}

impl ToolFilter {
    /// Whether the tool is visible: allowed (or no allow list) and not disabled.
    pub fn allows(&self, tool: &str) -> bool {
        let allowed = self
            .allowed
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|glob| glob.is_match(tool)));
        allowed && !self.disabled.iter().any(|glob| glob.is_match(tool))
    }
}

/// The user's own config files, in the order they are looked for (the
/// first that exists is used).
pub fn user_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(home) = std::env::var_os(env_vars::HOME).filter(|home| !home.is_empty()) {
        let home = PathBuf::from(home);
        paths.push(home.join(".mcp_servers.json"));
        paths.push(home.join(".config/mcp/mcp_servers.json"));
    }
    paths
}

/// A project's config: `mcp_servers.json` in the current folder.
pub const PROJECT_FILE: &str = "mcp_servers.json";

/// Finds, reads and validates the config: the file `-c` names, else the
/// one `MCP_CONFIG_PATH` names (either is the user's consent to run it);
/// else the user's own config, merged with the current folder's
/// `mcp_servers.json` once that one is trusted ([`trust`]). A server both
/// define is the project's, with a warning.
/// A config that is a pipe is read by `deadline`, the command's.
pub fn load(
    explicit: Option<&Path>,
    settings: &Settings,
    deadline: std::time::Instant,
) -> Result<Config, McpError> {
    let named = explicit
        .map(Path::to_owned)
        .or_else(|| env_vars::get(env_vars::MCP_CONFIG_PATH).map(PathBuf::from));
    if let Some(path) = named {
        return from_text(&path, &trust::read(&path, deadline)?, settings);
    }
    let user_paths = user_paths();
    let user = user_paths.iter().find(|path| path.is_file());
    let project = Path::new(PROJECT_FILE);
    let project_is_own =
        |user: &Path| std::fs::canonicalize(user).ok() == std::fs::canonicalize(project).ok();
    let project = project
        .is_file()
        .then_some(project)
        .filter(|_| !user.is_some_and(|user| project_is_own(user)));
    let Some(project) = project else {
        return match user {
            Some(user) => from_text(user, &trust::read(user, deadline)?, settings),
            None => Err(McpError::ConfigNotFound {
                explicit: None,
                searched: std::iter::once(PathBuf::from(PROJECT_FILE))
                    .chain(user_paths)
                    .collect(),
            }),
        };
    };
    let text = trust::read(project, deadline)?;
    let canonical = trust::key(project).map_err(|source| McpError::ConfigRead {
        path: project.to_owned(),
        source,
    })?;
    let status = trust::check(&canonical, &trust::digest(text.as_bytes()));
    if status != trust::Trust::Trusted {
        // What it would run, as written and redacted, for the user to judge.
        let reaches = from_text(project, &text, settings)
            .map(|config| {
                config
                    .servers
                    .iter()
                    .map(|entry| format!("{}: {}", entry.name, entry.runs))
                    .collect()
            })
            .unwrap_or_else(|_| vec!["(it does not parse)".to_owned()]);
        return Err(McpError::ConfigUntrusted {
            path: project.to_owned(),
            changed: status == trust::Trust::Changed,
            reaches,
        });
    }
    let project_config = from_text(project, &text, settings)?;
    match user {
        Some(user) => {
            Ok(from_text(user, &trust::read(user, deadline)?, settings)?.merge(project_config))
        }
        None => Ok(project_config),
    }
}

/// Parses and validates config `text` read from `path`.
pub fn from_text(path: &Path, text: &str, settings: &Settings) -> Result<Config, McpError> {
    let mut loader = Loader {
        path,
        strict_env: settings.strict_env,
        warnings: Vec::new(),
        missing: None,
        disabled: Vec::new(),
    };
    let servers = loader.parse(text)?;
    if servers.is_empty() {
        loader
            .warnings
            .push(format!("`{}` defines no server", path.display()));
    }
    Ok(Config {
        path: path.to_owned(),
        servers,
        timeout: settings.timeout,
        request_timeout: settings.request_timeout,
        list_timeout: settings.list_timeout,
        concurrency: settings.concurrency,
        retry_max: settings.retry_max,
        retry_delay_ms: settings.retry_delay_ms,
        debug: settings.debug,
        warnings: loader.warnings,
        disabled: loader.disabled,
    })
}

/// The name of the server `--stdio` starts.
pub const STDIO_NAME: &str = "stdio";

/// A config of the one server the command line names, instead of a file:
/// a URL target (with `--header`s), or `--stdio COMMAND`. The values are
/// taken as they are (the shell has expanded its variables): no `${VAR}`.
pub fn ad_hoc(
    url: Option<&str>,
    stdio: Option<&str>,
    headers: &[String],
    settings: &Settings,
) -> Result<Config, McpError> {
    // `$${` is the loader's literal `${`.
    let literal = |text: &str| Value::String(text.replace("${", "$${"));
    let usage = |message: String, suggestion: &str| McpError::Usage {
        message,
        suggestion: Some(suggestion.to_owned()),
    };
    let mut header_map = Map::new();
    for header in headers {
        let as_curl = "write it as curl does: --header 'Authorization: Bearer TOKEN'";
        // Its value may be a secret: only the first word is ever shown.
        let first_word = || {
            crate::printer::one_line(header.split_whitespace().next().unwrap_or_default())
                .into_owned()
        };
        let Some((name, value)) = header.split_once(':') else {
            return Err(usage(
                format!("--header `{} ...` has no `:`", first_word()),
                as_curl,
            ));
        };
        let name = name.trim();
        if !is_header_name(name) {
            return Err(usage(
                format!(
                    "--header `{} ...` does not start with a header name",
                    first_word()
                ),
                as_curl,
            ));
        }
        if let Some(why) = header_refused(name) {
            return Err(usage(format!("--header: {why}"), "leave it out"));
        }
        if !is_header_value(value) {
            return Err(usage(
                format!(
                    "--header `{name}` has a value with a line break or another control character"
                ),
                "give the value on one line",
            ));
        }
        header_map.insert(name.to_owned(), literal(value.trim()));
    }
    if let Some(url) = url
        && let Err(why) = check_url(url)
    {
        return Err(usage(
            format!("`{}` is not a valid URL: {why}", crate::redact::value(url)),
            "check the URL; quote it for the shell when it holds `?` or `&`",
        ));
    }
    let (name, entry) = match (url, stdio) {
        // Known by its URL as shown: credentials and secret parameters masked.
        (Some(url), _) => (
            crate::redact::value(url),
            serde_json::json!({"url": literal(url), "headers": header_map}),
        ),
        (None, Some(command)) => {
            if !headers.is_empty() {
                return Err(usage(
                    "--header goes with a URL target, not --stdio".to_owned(),
                    "give the server its settings in its own command line or environment",
                ));
            }
            let words = split_command(command).map_err(|why| {
                usage(
                    format!("--stdio: {why}"),
                    "quote the command line as a shell would: --stdio 'npx -y @scope/server --flag'",
                )
            })?;
            let Some((program, args)) = words.split_first() else {
                return Err(usage(
                    "--stdio needs a command line".to_owned(),
                    "for example --stdio 'npx -y @modelcontextprotocol/server-everything'",
                ));
            };
            let args: Vec<Value> = args.iter().map(|arg| literal(arg)).collect();
            (
                STDIO_NAME.to_owned(),
                serde_json::json!({"command": literal(program), "args": args}),
            )
        }
        (None, None) => unreachable!("an ad-hoc server is named"),
    };
    let mut servers = Map::new();
    servers.insert(name, entry);
    let text = serde_json::json!({ "mcpServers": servers }).to_string();
    from_text(Path::new("(command line)"), &text, settings)
}

/// Splits a command line as a POSIX shell would, without running one:
/// words apart on blanks, `'...'` taken as it is, `"..."` with `\\`
/// escapes, `\\` outside quotes escaping the next character, and a
/// backslash-newline dropped. What only a shell would do (pipes,
/// redirections, `;`, `&`, `$` expansions, backquotes, `~`, comments, a
/// leading `NAME=value`) is refused rather than passed on as text.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let needs_shell = |what: &str| {
        format!(
            "{what} needs a shell; run one: --stdio \"sh -c '...'\" (or use a config entry, with `env`)"
        )
    };
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("a ' is not closed".to_owned()),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(c @ ('"' | '\\' | '$' | '`')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err("a \" is not closed".to_owned()),
                        },
                        Some(c @ ('$' | '`')) => return Err(needs_shell(&format!("`{c}`"))),
                        Some(c) => current.push(c),
                        None => return Err("a \" is not closed".to_owned()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("it ends with a lone \\".to_owned()),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' => {
                return Err(needs_shell(&format!("`{c}`")));
            }
            '#' | '~' if word.is_none() => {
                return Err(needs_shell(&format!("a word starting with `{c}`")));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    // `NAME=value cmd`: an assignment to a shell, not a program.
    if let Some(first) = words.first()
        && let Some((name, _)) = first.split_once('=')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !text.trim_start().starts_with(['\'', '"'])
    {
        return Err(needs_shell("`NAME=value` before the command"));
    }
    Ok(words)
}

/// Whether `name` is an HTTP header name (a token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The headers mcp-cli sets itself: HTTP's framing and MCP's session.
const OWN_HEADERS: &[&str] = &[
    "accept",
    "connection",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "last-event-id",
    "mcp-protocol-version",
    "mcp-session-id",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why a header may not be given, if it may not.
fn header_refused(name: &str) -> Option<String> {
    if !is_header_name(name) {
        return Some(format!(
            "`{}` is not a header name: use letters, digits and `-`",
            crate::printer::one_line(name)
        ));
    }
    OWN_HEADERS
        .iter()
        .any(|own| own.eq_ignore_ascii_case(name))
        .then(|| format!("`{name}` is a header mcp-cli sets itself"))
}

/// Whether `value` may be a header's value: no control characters but tab
/// (a line break would forge headers).
fn is_header_value(value: &str) -> bool {
    !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Why `url` cannot be reached as written, if it cannot: it does not parse,
/// or names no host.
pub fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.host_str().is_some_and(|host| !host.is_empty()) => Ok(()),
        Ok(_) => Err("it names no host".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

/// Whether a target is a URL (an ad-hoc remote server).
pub fn is_url(target: &str) -> bool {
    target.starts_with("http://") || target.starts_with("https://")
}

/// Whether a parsed config holds a number that is not an integer.
fn has_fraction(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_fraction),
        Value::Object(entries) => entries.values().any(has_fraction),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

/// Repeated keys warned about one by one; the rest are counted.
const MAX_REPEATED_SHOWN: usize = 10;

/// The keys repeated within one object of a JSON or JSONC text (escapes
/// read, as the parsers read them), with the line of each repetition. The
/// text has parsed.
fn repeated_keys(text: &str) -> Vec<(String, usize)> {
    let bytes = text.as_bytes();
    let mut repeated = Vec::new();
    // The keys of each object open around the current position; `None` for
    // an array.
    let mut open: Vec<Option<std::collections::HashSet<Cow<'_, str>>>> = Vec::new();
    let mut line = 1;
    let mut at = 0;
    // Past whitespace and comments, from `at`; counts lines.
    let skip = |mut at: usize, line: &mut usize| {
        loop {
            match (bytes.get(at), bytes.get(at + 1)) {
                (Some(b'\n'), _) => {
                    *line += 1;
                    at += 1;
                }
                (Some(b' ' | b'\t' | b'\r'), _) => at += 1,
                (Some(b'/'), Some(b'/')) => {
                    at = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |end| at + end);
                }
                (Some(b'/'), Some(b'*')) => {
                    let end = memchr::memmem::find(&bytes[at + 2..], b"*/")
                        .map_or(bytes.len(), |end| at + 2 + end + 2);
                    *line += bytes[at..end].iter().filter(|&&b| b == b'\n').count();
                    at = end;
                }
                _ => return at,
            }
        }
    };
    while at < bytes.len() {
        at = skip(at, &mut line);
        let Some(&byte) = bytes.get(at) else { break };
        match byte {
            b'{' => open.push(Some(std::collections::HashSet::new())),
            b'[' => open.push(None),
            b'}' | b']' => {
                open.pop();
            }
            b'"' => {
                let mut end = at + 1;
                while end < bytes.len() && bytes[end] != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                let end = end.min(bytes.len());
                let raw = &text[at + 1..end];
                let after = skip(end + 1, &mut line.clone());
                if bytes.get(after) == Some(&b':')
                    && let Some(Some(keys)) = open.last_mut()
                {
                    // `"\u0061"` is the key `"a"`.
                    let key = if raw.contains('\\') {
                        serde_json::from_str::<String>(&text[at..=end.min(bytes.len() - 1)])
                            .map_or(Cow::Borrowed(raw), Cow::Owned)
                    } else {
                        Cow::Borrowed(raw)
                    };
                    if let Some(key) = keys.replace(key) {
                        repeated.push((key.into_owned(), line));
                    }
                }
                // A JSONC string may go on past a line's end (`\` newline).
                line += raw.bytes().filter(|&b| b == b'\n').count();
                at = end + 1;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    repeated
}

/// The keys a server entry may have; others are warned about.
const SERVER_KEYS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "type",
    "timeout",
    "oauth",
    "allowedTools",
    "disabledTools",
    "disabled",
    "description",
];

struct Loader<'a> {
    path: &'a Path,
    strict_env: bool,
    warnings: Vec<String>,
    /// The first unset variable of the entry being read.
    missing: Option<String>,
    /// The servers marked `"disabled": true`.
    disabled: Vec<String>,
}

impl Loader<'_> {
    fn parse(&mut self, text: &str) -> Result<Vec<ServerEntry>, McpError> {
        let options = jsonc_parser::ParseOptions {
            allow_comments: true,
            allow_trailing_commas: true,
            allow_loose_object_property_names: false,
            allow_missing_commas: false,
            allow_single_quoted_strings: false,
            allow_hexadecimal_numbers: false,
            allow_unary_plus_numbers: false,
            ..Default::default()
        };
        // Windows editors write a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Most configs are plain JSON: serde_json reads them in a fraction of
        // the time (its parser runs anyway, for the servers' messages).
        // Comments, trailing commas and errors go through jsonc-parser, which
        // accepts what VS Code does and says where a config goes wrong; so do
        // fractional numbers, which the two read differently (`-0`, long
        // mantissas), so that a config means the same with or without a
        // comment.
        let parsed = serde_json::from_str(text)
            .ok()
            .filter(|value| !has_fraction(value))
            .map_or_else(|| jsonc_parser::parse_to_serde_value(text, &options), Ok);
        let root: Value = parsed.map_err(|error| {
            let line = error.line_display();
            McpError::ConfigSyntax {
                path: self.path.to_owned(),
                line,
                column: error.column_display(),
                message: error.kind().to_string(),
                snippet: crate::redact::config_line(
                    text.lines()
                        .nth(line.saturating_sub(1))
                        .unwrap_or("")
                        .trim_end(),
                ),
            }
        })?;
        // Both parsers keep the last of a repeated key, silently.
        let repeated = repeated_keys(text);
        for (key, line) in repeated.iter().take(MAX_REPEATED_SHOWN) {
            self.warnings.push(format!(
                "`{}` line {line}: `{key}` is repeated in its object; the last one counts",
                self.path.display(),
            ));
        }
        if repeated.len() > MAX_REPEATED_SHOWN {
            self.warnings.push(format!(
                "`{}`: {} more repeated keys",
                self.path.display(),
                repeated.len() - MAX_REPEATED_SHOWN
            ));
        }
        let Value::Object(root) = root else {
            return Err(self.invalid("(root)", "expected an object with `mcpServers`"));
        };
        let (key, servers) = match (root.get("mcpServers"), root.get("servers")) {
            (Some(servers), other) => {
                if other.is_some() {
                    self.warnings.push(format!(
                        "`{}` has both `mcpServers` and `servers`: `servers` is ignored",
                        self.path.display()
                    ));
                }
                ("mcpServers", servers)
            }
            (None, Some(servers)) => ("servers", servers),
            (None, None) => {
                return Err(self.invalid(
                    "(root)",
                    "missing `mcpServers` (or VS Code's `servers`) object",
                ));
            }
        };
        for other in root.keys() {
            if !matches!(
                other.as_str(),
                "mcpServers" | "servers" | "$schema" | "inputs"
            ) {
                self.warnings.push(format!(
                    "`{}`: unknown top-level key `{other}` ignored",
                    self.path.display()
                ));
            }
        }
        let Value::Object(servers) = servers else {
            return Err(self.invalid(key, "expected an object of servers"));
        };
        let mut entries = Vec::with_capacity(servers.len());
        for (name, entry) in servers {
            let at = format!("{key}.{name}");
            let Value::Object(entry) = entry else {
                return Err(self.invalid(&at, "expected an object"));
            };
            if name.trim().is_empty() {
                return Err(self.invalid(&at, "a server needs a name"));
            }
            match entry.get("disabled") {
                None | Some(Value::Null | Value::Bool(_)) => {}
                Some(other) => {
                    return Err(self.invalid(
                        &format!("{at}.disabled"),
                        &format!("expected true or false, found {}", type_name(other)),
                    ));
                }
            }
            if entry.get("disabled") == Some(&Value::Bool(true)) {
                self.disabled.push(name.clone());
                continue;
            }
            self.missing = None;
            let mut server = self.server(name, &at, entry)?;
            server.unresolved = self.missing.take();
            entries.push(server);
        }
        Ok(entries)
    }

    fn server(
        &mut self,
        name: &str,
        at: &str,
        entry: &Map<String, Value>,
    ) -> Result<ServerEntry, McpError> {
        for key in entry.keys() {
            if !SERVER_KEYS.contains(&key.as_str()) {
                self.warnings.push(format!(
                    "`{}`: unknown key `{at}.{key}` ignored",
                    self.path.display()
                ));
            }
        }
        let kind = self.opt_string(name, at, entry, "type")?;
        let command = self.opt_string(name, at, entry, "command")?;
        let url = self.opt_string(name, at, entry, "url")?;
        let transport = match (command, url) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(at, "has both `command` and `url`; keep one"));
            }
            (None, None) => {
                return Err(self.invalid(
                    at,
                    "needs `command` (a stdio server) or `url` (an HTTP server)",
                ));
            }
            (Some((command, _)), None) => {
                if let Some((kind, _)) = &kind
                    && kind != "stdio"
                {
                    return Err(self.invalid(
                        &format!("{at}.type"),
                        &format!("`{kind}` does not go with `command`; use \"stdio\""),
                    ));
                }
                // With an unset variable in it, the value says nothing yet;
                // the server reports the variable when it is used.
                if command.trim().is_empty() && self.missing.is_none() {
                    return Err(self.invalid(&format!("{at}.command"), "is empty"));
                }
                ServerConfig::Stdio {
                    command,
                    args: self.string_list(name, at, entry, "args")?,
                    env: self.settings(name, at, entry, "env")?,
                    cwd: self
                        .opt_string(name, at, entry, "cwd")?
                        .map(|(cwd, _)| PathBuf::from(cwd)),
                }
            }
            (None, Some((url, _))) => {
                let kind = match kind.as_ref().map(|(kind, _)| kind.as_str()) {
                    None => HttpKind::Auto,
                    Some("http" | "streamable-http" | "streamableHttp") => HttpKind::Streamable,
                    Some("sse") => HttpKind::LegacySse,
                    Some(other) => {
                        return Err(self.invalid(
                            &format!("{at}.type"),
                            &format!("`{other}` does not go with `url`; use \"http\" or \"sse\""),
                        ));
                    }
                };
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    && self.missing.is_none()
                {
                    let written = entry.get("url").and_then(Value::as_str).unwrap_or_default();
                    return Err(self.invalid(
                        &format!("{at}.url"),
                        &format!(
                            "`{}` is not an http:// or https:// URL",
                            crate::redact::value(written)
                        ),
                    ));
                }
                // A URL that does not parse would fail every connection
                // the same way: said now, where it is written.
                if self.missing.is_none()
                    && let Err(why) = check_url(&url)
                {
                    let written = entry.get("url").and_then(Value::as_str).unwrap_or_default();
                    return Err(self.invalid(
                        &format!("{at}.url"),
                        &format!(
                            "`{}` is not a valid URL: {why}",
                            crate::redact::value(written)
                        ),
                    ));
                }
                ServerConfig::Http {
                    url,
                    headers: self.settings(name, at, entry, "headers")?,
                    kind,
                    oauth: self.oauth(name, at, entry)?.map(Box::new),
                }
            }
        };
        let allowed = match entry.get("allowedTools") {
            None | Some(Value::Null) => None,
            Some(_) => Some(self.string_list(name, at, entry, "allowedTools")?),
        };
        let disabled = self.string_list(name, at, entry, "disabledTools")?;
        let raw = |key| entry.get(key).and_then(Value::as_str).unwrap_or("");
        let shown = match &transport {
            ServerConfig::Stdio { .. } => {
                let args: Vec<&str> = entry
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|args| args.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                shell_words(
                    &crate::redact::value(raw("command")),
                    &crate::redact::args(&args),
                )
            }
            ServerConfig::Http { .. } => crate::redact::value(raw("url")),
        };
        let runs = consent_text(entry);
        let mut substituted = Vec::new();
        if let ServerConfig::Stdio { command, cwd, .. } = &transport {
            let written = [
                (Some(command.clone()), raw("command")),
                (
                    cwd.as_ref().map(|cwd| cwd.display().to_string()),
                    raw("cwd"),
                ),
            ];
            for (value, written) in written {
                if let Some(value) = value
                    && written.contains("${")
                    && !value.is_empty()
                {
                    substituted.push((value, crate::redact::value(written)));
                }
            }
        }
        let timeout = match entry.get("timeout") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_f64()
                    .and_then(crate::settings::seconds)
                    .ok_or_else(|| {
                        self.invalid(
                            &format!("{at}.timeout"),
                            &format!(
                                "expected {}, found {}",
                                crate::settings::SECONDS,
                                crate::error::error_data(Some(value)).unwrap_or_default()
                            ),
                        )
                    })?,
            ),
        };
        Ok(ServerEntry {
            timeout,
            substituted,
            name: name.to_owned(),
            source: self.path.to_owned(),
            transport,
            shown,
            runs,
            unresolved: None,
            filter: ToolFilter {
                allowed: allowed.map(|list| list.iter().map(|glob| Glob::new(glob)).collect()),
                disabled: disabled.iter().map(|glob| Glob::new(glob)).collect(),
            },
        })
    }

    /// A string value, substituted; also returns whether `${...}` occurred.
    fn opt_string(
        &mut self,
        server: &str,
        at: &str,
        entry: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<(String, bool)>, McpError> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(raw)) => {
                let at = format!("{at}.{key}");
                Ok(Some((
                    self.substitute(server, &at, raw)?,
                    raw.contains("${"),
                )))
            }
            Some(other) => Err(self.invalid(
                &format!("{at}.{key}"),
                &format!("expected a string, found {}", type_name(other)),
            )),
        }
    }

    /// The `oauth` object of a remote server's entry.
    fn oauth(
        &mut self,
        server: &str,
        at: &str,
        entry: &Map<String, Value>,
    ) -> Result<Option<OAuth>, McpError> {
        const KEYS: &[&str] = &[
            "clientId",
            "clientSecret",
            "clientMetadataUrl",
            "scopes",
            "grant",
            "privateKey",
            "privateKeyFile",
            "signingAlgorithm",
        ];
        let object = match entry.get("oauth") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(object)) => object,
            Some(other) => {
                return Err(self.invalid(
                    &format!("{at}.oauth"),
                    &format!("expected an object, found {}", type_name(other)),
                ));
            }
        };
        let at = format!("{at}.oauth");
        for key in object.keys() {
            if !KEYS.contains(&key.as_str()) {
                self.warnings.push(format!(
                    "`{}`: unknown key `{at}.{key}` ignored (known: {})",
                    self.path.display(),
                    KEYS.join(", ")
                ));
            }
        }
        macro_rules! text {
            ($key:literal) => {
                self.opt_string(server, &at, object, $key)?
                    .map(|(value, _)| value)
                    .filter(|value| !value.is_empty())
            };
        }
        let client_id = text!("clientId");
        let client_secret = text!("clientSecret");
        let client_metadata_url = text!("clientMetadataUrl");
        let grant = text!("grant");
        let private_key = text!("privateKey");
        let private_key_file = text!("privateKeyFile");
        let signing_algorithm = text!("signingAlgorithm");
        let scopes = match object.get("scopes") {
            // One string of scopes, as OAuth writes them, or a list.
            Some(Value::String(_)) => text!("scopes")
                .map(|scopes| scopes.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            _ => self.string_list(server, &at, object, "scopes")?,
        };
        let client_credentials = match grant.as_deref() {
            None | Some("authorization_code") => false,
            Some("client_credentials") => true,
            Some(other) => {
                return Err(self.invalid(
                    &format!("{at}.grant"),
                    &format!(
                        "`{}` is not a grant mcp-cli uses: \"authorization_code\" (the default, a person logs in) or \"client_credentials\" (a machine)",
                        crate::printer::one_line(other)
                    ),
                ));
            }
        };
        if client_secret.is_some() && client_id.is_none() {
            return Err(self.invalid(
                &at,
                "has `clientSecret` without `clientId`: a secret goes with the client it was issued to",
            ));
        }
        if client_credentials && client_id.is_none() {
            return Err(self.invalid(
                &at,
                "`grant: client_credentials` needs `clientId` (and `clientSecret` or `privateKey`)",
            ));
        }
        if let Some(url) = &client_metadata_url
            && !url.starts_with("https://")
        {
            return Err(self.invalid(
                &format!("{at}.clientMetadataUrl"),
                "must be an https:// URL (a client ID metadata document)",
            ));
        }
        if let Some(algorithm) = &signing_algorithm
            && !crate::client::oauth::SIGNING_ALGORITHMS.contains(&algorithm.as_str())
        {
            return Err(self.invalid(
                &format!("{at}.signingAlgorithm"),
                &format!(
                    "`{}` is not one of {}",
                    crate::printer::one_line(algorithm),
                    crate::client::oauth::SIGNING_ALGORITHMS.join(", ")
                ),
            ));
        }
        if private_key.is_some() && private_key_file.is_some() {
            return Err(self.invalid(&at, "has both `privateKey` and `privateKeyFile`; keep one"));
        }
        Ok(Some(OAuth {
            client_id,
            client_secret,
            client_metadata_url,
            scopes,
            client_credentials,
            private_key,
            // Read when used, not here: loading a config reads no other file.
            private_key_file: private_key_file.map(|file| self.relative(&file)),
            signing_algorithm,
        }))
    }

    /// A path the config names, relative to the config's folder.
    fn relative(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
    }

    fn string_list(
        &mut self,
        server: &str,
        at: &str,
        entry: &Map<String, Value>,
        key: &str,
    ) -> Result<Vec<String>, McpError> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(raw) => {
                        self.substitute(server, &format!("{at}.{key}[{index}]"), raw)
                    }
                    other => Err(self.invalid(
                        &format!("{at}.{key}[{index}]"),
                        &format!("expected a string, found {}", type_name(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(self.invalid(
                &format!("{at}.{key}"),
                &format!("expected an array of strings, found {}", type_name(other)),
            )),
        }
    }

    fn settings(
        &mut self,
        server: &str,
        at: &str,
        entry: &Map<String, Value>,
        key: &str,
    ) -> Result<Vec<Setting>, McpError> {
        let object = match entry.get(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(object)) => object,
            Some(other) => {
                return Err(self.invalid(
                    &format!("{at}.{key}"),
                    &format!("expected an object of strings, found {}", type_name(other)),
                ));
            }
        };
        object
            .iter()
            .map(|(name, value)| {
                if name.is_empty() || name.contains(['=', '\0']) {
                    return Err(self.invalid(
                        &format!("{at}.{key}"),
                        &format!("`{name}` cannot be a name: it is empty or holds `=` or NUL"),
                    ));
                }
                let raw = match value {
                    Value::String(raw) => raw.clone(),
                    // Numbers and booleans are what people write for `PORT: 8080`.
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    other => {
                        return Err(self.invalid(
                            &format!("{at}.{key}.{name}"),
                            &format!("expected a string, found {}", type_name(other)),
                        ));
                    }
                };
                let value = self.substitute(server, &format!("{at}.{key}.{name}"), &raw)?;
                if key == "headers" {
                    if let Some(why) = header_refused(name) {
                        return Err(self.invalid(&format!("{at}.{key}"), &why));
                    }
                    if !is_header_value(&value) {
                        return Err(self.invalid(
                            &format!("{at}.{key}.{name}"),
                            "a header value cannot hold line breaks or other control characters (after `${VAR}` substitution)",
                        ));
                    }
                }
                Ok(Setting {
                    name: name.clone(),
                    value,
                    display: crate::redact::setting(name, &raw),
                })
            })
            .collect()
    }

    /// Replaces `${VAR}` and `${VAR:-default}` in `raw` (the default may
    /// itself hold `${...}`); `$${` is a literal `${`. Other shell forms
    /// (`${X:=v}`, `${X?}`, `${#X}`) are refused, naming the one to use.
    fn substitute(&mut self, server: &str, at: &str, raw: &str) -> Result<String, McpError> {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(start) = rest.find('$') {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            if let Some(literal) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let Some(body) = after.strip_prefix("${") else {
                out.push('$');
                rest = &after[1..];
                continue;
            };
            // The matching `}`, counting the braces of nested `${...}`.
            let mut depth = 1;
            let end = body.char_indices().find_map(|(index, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(index)
            });
            let Some(end) = end else {
                // Unclosed: kept as written.
                out.push_str(after);
                return Ok(out);
            };
            let inner = &body[..end];
            rest = &body[end + 1..];
            let name_end = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            let (var, tail) = inner.split_at(name_end);
            let default = match tail {
                "" => None,
                _ if tail.starts_with(":-") => Some(&tail[2..]),
                _ => {
                    let form = format!("${{{inner}}}");
                    return Err(self.invalid(
                        at,
                        &format!(
                            "`{}` is not a form mcp-cli reads: write `${{NAME}}` or `${{NAME:-default}}` (and `$${{` for a literal `${{`)",
                            crate::redact::value(&form)
                        ),
                    ));
                }
            };
            if var.is_empty() || var.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(self.invalid(at, &format!("`${{{var}}}` does not name a variable")));
            }
            match (std::env::var(var).ok(), default) {
                (Some(value), _) if !(value.is_empty() && default.is_some()) => {
                    out.push_str(&value)
                }
                (_, Some(default)) => {
                    let default = self.substitute(server, at, default)?;
                    out.push_str(&default);
                }
                (None, None) if self.strict_env => {
                    self.missing.get_or_insert_with(|| var.to_owned());
                }
                (_, None) => self.warnings.push(format!(
                    "environment variable `{var}` used by server `{server}` is not set; using an empty value"
                )),
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn invalid(&self, key: &str, message: &str) -> McpError {
        McpError::ConfigInvalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// What a server entry runs or reaches, as written (see [`ServerEntry::runs`]).
fn consent_text(entry: &Map<String, Value>) -> String {
    let raw = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
    let words = |key: &str| -> Vec<&str> {
        entry
            .get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let settings = |key: &str| -> Vec<String> {
        entry
            .get(key)
            .and_then(Value::as_object)
            .map(|object| {
                object
                    .iter()
                    .map(|(name, value)| {
                        let value = value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned);
                        format!("{name}={}", crate::redact::consent_setting(name, &value))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = if entry.contains_key("url") {
        crate::redact::consent_value(raw("url"))
    } else {
        shell_words(
            &crate::redact::consent_value(raw("command")),
            &crate::redact::consent_args(&words("args")),
        )
    };
    if !raw("cwd").is_empty() {
        text.push_str(&format!(
            " (in {})",
            crate::redact::consent_value(raw("cwd"))
        ));
    }
    for (key, label) in [("env", "env"), ("headers", "headers")] {
        let settings = settings(key);
        if !settings.is_empty() {
            text.push_str(&format!(" ({label}: {})", settings.join(" ")));
        }
    }
    text
}

/// A command line as a shell would read it back, `${VAR}` as written.
pub fn shell_words<S: AsRef<str>>(command: &str, args: &[S]) -> String {
    std::iter::once(command)
        .chain(args.iter().map(AsRef::as_ref))
        .map(|word| crate::cli::quote_allowing(word, "${}*"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Vec<ServerEntry>, Vec<String>), McpError> {
        let mut loader = Loader {
            path: Path::new("test.json"),
            strict_env: true,
            warnings: Vec::new(),
            missing: None,
            disabled: Vec::new(),
        };
        let servers = loader.parse(text)?;
        Ok((servers, loader.warnings))
    }

    #[test]
    fn command_lines_split_as_a_shell_would() {
        assert_eq!(
            split_command(r#"npx -y  'a b' "c \"d\" \x" e\ f '' 'x|y' "a;b" "~" a#b"#).unwrap(),
            [
                "npx",
                "-y",
                "a b",
                r#"c "d" \x"#,
                "e f",
                "",
                "x|y",
                "a;b",
                "~",
                "a#b"
            ]
        );
        assert_eq!(
            split_command("srv \\\n --flag \"a\\\nb\"").unwrap(),
            ["srv", "--flag", "ab"]
        );
        assert_eq!(split_command("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_command("'A=1' cmd").unwrap(), ["A=1", "cmd"]);
        for bad in [
            "a 'b",
            "a \\",
            "a \"b",
            "a | b",
            "a; b",
            "a && b",
            "a > f",
            "a < f",
            "a $HOME",
            "a \"$HOME\"",
            "a `x`",
            "a ~/x",
            "a # comment",
            "FOO=1 cmd",
            "(a)",
        ] {
            assert!(split_command(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_comments_trailing_commas_and_keeps_order() {
        let (servers, warnings) = parse(
            r#"{
              // a comment
              "mcpServers": {
                "zeta": { "command": "z", "args": ["1", "2",], },
                "alpha": { "url": "https://example.com/mcp", "headers": {"Authorization": "Bearer x"} },
              },
            }"#,
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        let ServerConfig::Http { headers, .. } = &servers[1].transport else {
            panic!("expected http");
        };
        assert_eq!(headers[0].display, "***");
    }

    #[test]
    fn plain_json_reads_as_its_jsonc_twin() {
        // The same config through serde_json (plain) and jsonc-parser (a
        // comment makes serde_json refuse it): a repeated name keeps its
        // first place and its last value either way, and numbers, which
        // serde_json alone would read as `-0.0` and `8706519410717.255`,
        // come out the same.
        let plain = r#"{"mcpServers": {"b": {"command": "1"}, "a": {"command": "x", "args": ["-v"], "env": {"K": "v", "N": -0, "F": 8706519410717.254214, "I": 42}}, "b": {"command": "2"}}}"#;
        let jsonc = format!("// a comment\n{plain}");
        let (plain, _) = parse(plain).unwrap();
        let (jsonc, _) = parse(&jsonc).unwrap();
        assert_eq!(format!("{plain:?}"), format!("{jsonc:?}"));
        let names: Vec<_> = plain.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        let ServerConfig::Stdio { command, .. } = &plain[0].transport else {
            panic!("expected stdio");
        };
        assert_eq!(command, "2");
    }

    #[test]
    fn repeated_keys_are_found_with_their_lines() {
        let text = "{\"mcpServers\": {\n  \"a\": {\"command\": \"x\", /* \"command\": */\n  \"command\": \"y\"},\n  // \"a\": \n  \"b\": {\"env\": {\"K\": \"1\"}, \"args\": [\"a\", \"a\"]},\n  \"b\": {\"command\": \"z\", \"env\": {\"k\": \"\\\"K\\\"\", \"K\": \"2\"}}\n}}";
        assert_eq!(
            repeated_keys(text),
            [("command".to_owned(), 3), ("b".to_owned(), 6)]
        );
        let (_, warnings) = parse(text).unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("line 6: `b` is repeated in its object; the last one counts")),
            "{warnings:?}"
        );
        // Escapes are read; a string's own line breaks are counted.
        assert_eq!(
            repeated_keys("{\"a\": 1,\n\"\\u0061\": \"x\\\ny\", \"k\": 1, \"k\": 2}"),
            [("a".to_owned(), 2), ("k".to_owned(), 3)]
        );
        // Past ten, they are counted.
        let many = format!(
            "{{\"mcpServers\": {{}}, {}\"x\": 0}}",
            "\"x\": 0, ".repeat(30)
        );
        let (_, warnings) = parse(&many).unwrap();
        assert_eq!(warnings.len(), 12, "{warnings:?}");
        assert!(
            warnings[10].ends_with(": 20 more repeated keys"),
            "{warnings:?}"
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let error =
            parse("{\n  \"mcpServers\": {\n    \"a\": { \"command\": }\n  }\n}").unwrap_err();
        let McpError::ConfigSyntax { line, snippet, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(*line, 3);
        assert!(snippet.contains("\"command\": }"));
    }

    #[test]
    fn shape_errors_name_the_key_path() {
        let cases = [
            (r#"{"other": {}}"#, "(root)"),
            (r#"{"mcpServers": {"a": {}}}"#, "mcpServers.a"),
            (
                r#"{"mcpServers": {"a": {"command": "x", "url": "http://h"}}}"#,
                "mcpServers.a",
            ),
            (
                r#"{"mcpServers": {"a": {"command": "x", "args": [1]}}}"#,
                "mcpServers.a.args[0]",
            ),
            (r#"{"servers": {"a": {"command": 3}}}"#, "servers.a.command"),
            (
                r#"{"mcpServers": {"a": {"url": "ftp://h"}}}"#,
                "mcpServers.a.url",
            ),
        ];
        for (text, expected) in cases {
            match parse(text) {
                Err(McpError::ConfigInvalid { key, .. }) => assert_eq!(key, expected, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_keys_warn() {
        let (_, warnings) =
            parse(r#"{"mcpServers": {"a": {"command": "x", "colour": "red"}}}"#).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("mcpServers.a.colour"));
    }

    #[test]
    fn substitutes_variables_with_defaults() {
        // SAFETY: tests in this module set distinct variable names.
        unsafe { std::env::set_var("MCP_CLI_TEST_SUBST", "value") };
        let (servers, _) = parse(
            r#"{"mcpServers": {"a": {"command": "${MCP_CLI_TEST_SUBST}", "args": ["${MCP_CLI_TEST_UNSET_X:-fallback}", "pre-${MCP_CLI_TEST_SUBST}-post"], "env": {"TOKEN": "${MCP_CLI_TEST_SUBST}"}}}}"#,
        )
        .unwrap();
        let ServerConfig::Stdio {
            command, args, env, ..
        } = &servers[0].transport
        else {
            panic!()
        };
        assert_eq!(command, "value");
        assert_eq!(args, &["fallback", "pre-value-post"]);
        assert_eq!(env[0].value, "value");
        assert_eq!(env[0].display, "${MCP_CLI_TEST_SUBST}");
        // An unset variable makes its own server unusable, not the file.
        let (servers, _) = parse(
            r#"{"mcpServers": {"srv": {"command": "${MCP_CLI_TEST_UNSET_Y}x"}, "ok": {"command": "y"}}}"#,
        )
        .unwrap();
        assert_eq!(
            servers[0].unresolved.as_deref(),
            Some("MCP_CLI_TEST_UNSET_Y")
        );
        assert_eq!(servers[1].unresolved, None);
        let bom = parse("\u{feff}{\"mcpServers\": {}}").unwrap();
        assert!(bom.0.is_empty());
    }

    #[test]
    fn wrong_types_and_names_are_refused() {
        for (text, key) in [
            (
                r#"{"mcpServers": {"a": {"command": "x", "disabled": "true"}}}"#,
                "mcpServers.a.disabled",
            ),
            (r#"{"mcpServers": {"": {"command": "x"}}}"#, "mcpServers."),
            (
                r#"{"mcpServers": {"a": {"command": "x", "env": {"A=B": "1"}}}}"#,
                "mcpServers.a.env",
            ),
        ] {
            let Err(McpError::ConfigInvalid { key: found, .. }) = parse(text) else {
                panic!("{text}")
            };
            assert_eq!(found, key, "{text}");
        }
        let (_, warnings) =
            parse(r#"{"mcpServers": {}, "servers": {"a": {"command": "x"}}}"#).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("`servers` is ignored")),
            "{warnings:?}"
        );
    }

    #[test]
    fn nested_defaults_literals_and_refused_forms() {
        // SAFETY: tests in this module set distinct variable names.
        unsafe { std::env::set_var("MCP_CLI_TEST_NESTED", "xval") };
        let (servers, _) = parse(
            r#"{"mcpServers": {"a": {"command": "c", "args": ["${MCP_CLI_TEST_UNSET_A:-${MCP_CLI_TEST_NESTED}}", "${MCP_CLI_TEST_NESTED:-${MCP_CLI_TEST_UNSET_Z}}", "$${HOME}", "${MCP_CLI_TEST_UNSET_B:-a${MCP_CLI_TEST_UNSET_C:-b}c}", "cost: $5", "${unclosed"]}}}"#,
        )
        .unwrap();
        let ServerConfig::Stdio { args, .. } = &servers[0].transport else {
            panic!()
        };
        assert_eq!(
            args,
            &["xval", "xval", "${HOME}", "abc", "cost: $5", "${unclosed"]
        );
        for form in ["${X:=v}", "${X?}", "${#X}", "${X-v}", "${}"] {
            let text = format!(r#"{{"mcpServers": {{"a": {{"command": "{form}"}}}}}}"#);
            let Err(McpError::ConfigInvalid { key, message, .. }) = parse(&text) else {
                panic!("{form}")
            };
            assert_eq!(key, "mcpServers.a.command", "{form}");
            assert!(
                message.contains("${NAME:-default}") || message.contains("does not name"),
                "{form}: {message}"
            );
        }
    }

    #[test]
    fn filters_disabled_wins() {
        let (servers, _) = parse(
            r#"{"mcpServers": {"a": {"command": "x", "allowedTools": ["read_*", "list*"], "disabledTools": ["*secret*"]}}}"#,
        )
        .unwrap();
        let filter = &servers[0].filter;
        assert!(filter.allows("READ_file"));
        assert!(filter.allows("list_dir"));
        assert!(!filter.allows("write_file"));
        assert!(!filter.allows("read_secret"));
    }

    /// Configs of any shape and any `${...}` text, and text that is not
    /// JSON at all: the loader never panics, never hangs, and what it
    /// accepts is sound; text without `$` is taken as it is.
    #[test]
    fn any_config_loads_or_is_refused_without_panicking() {
        use proptest::prelude::*;
        // SAFETY: tests in this module set distinct variable names.
        unsafe { std::env::set_var("MCP_CLI_PT_SET", "set${X}") };
        const PIECES: &[&str] = &[
            "$",
            "{",
            "}",
            "${",
            "$${",
            ":-",
            ":=",
            "-",
            "?",
            "#",
            "A",
            "MCP_CLI_PT_SET",
            "MCP_CLI_PT_UNSET",
            "x",
            " ",
            "\\",
            "é",
            "\u{202e}",
        ];
        let text = proptest::collection::vec(0..PIECES.len(), 0..10)
            .prop_map(|pieces| pieces.into_iter().map(|at| PIECES[at]).collect::<String>());
        let leaf = prop_oneof![
            text.clone().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            Just(Value::Null),
        ];
        let value = leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just("command".to_owned()),
                            Just("args".to_owned()),
                            Just("env".to_owned()),
                            Just("url".to_owned()),
                            Just("disabled".to_owned()),
                            Just("allowedTools".to_owned()),
                            "[a-zA-Z=]{0,4}",
                        ],
                        inner,
                    ),
                    0..4
                )
                .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        });
        let servers = proptest::collection::vec(("[a-z =]{0,3}", value), 0..4)
            .prop_map(|servers| Value::Object(servers.into_iter().collect()));
        let config = ProptestConfig {
            cases: 4_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config.clone(), |(servers in servers, key in prop_oneof![Just("mcpServers"), Just("servers")])| {
            let text = serde_json::json!({ key: servers }).to_string();
            if let Ok((entries, _)) = parse(&text) {
                for entry in entries {
                    prop_assert!(!entry.name.trim().is_empty(), "{text}");
                }
            }
        });
        proptest!(config.clone(), |(command in text)| {
            let config = serde_json::json!({"mcpServers": {"a": {"command": command}}}).to_string();
            match parse(&config) {
                Ok((entries, _)) if !command.contains('$') => {
                    let ServerConfig::Stdio { command: taken, .. } = &entries[0].transport else {
                        panic!("stdio");
                    };
                    prop_assert_eq!(taken, &command);
                }
                Ok(_) => {}
                Err(error) => prop_assert!(!error.error_type().is_empty()),
            }
        });
        proptest!(config, |(text in "[{}\\[\\]\":,/* \n$a-z0-9-]{0,80}")| {
            let _ = parse(&text);
        });
    }
}
