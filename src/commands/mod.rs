//! The verbs, one module each, and what they share: reaching a server with
//! retries under the overall deadline, and stopping on a signal.

mod auth;
mod call;
mod daemon;
mod grep;
mod info;
mod list;
mod trust;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use auth::{auth, status as auth_status};
pub use call::call;
pub use daemon::daemon;
pub use grep::grep;
pub use info::info;
pub use list::list;
pub use trust::trust;

/// `mcp-cli __servers`, for completions: the configured servers' names, one
/// per line, without starting any.
pub fn servers(context: &Context) -> Result<(), McpError> {
    let names: String = context
        .config
        .servers
        .iter()
        .map(|entry| format!("{}\n", entry.name))
        .collect();
    context.printer.out(&names)
}

use crate::cli::Command;
use crate::client::{ConnectOptions, Progress, ServerInfo, Session, Started, Tool};
use crate::config::{Config, ServerConfig, ServerEntry};
use crate::error::McpError;
use crate::printer::Printer;
use crate::retry::{self, RetryConfig};

/// What every command gets.
pub struct Context {
    /// The loaded config and settings.
    pub config: Config,
    /// Output.
    pub printer: Arc<Printer>,
    /// `-d`: show descriptions.
    pub with_descriptions: bool,
    /// Signals received (SIGINT, SIGTERM), as their exit codes.
    pub signals: Signals,
    /// When the command must be done (`MCP_TIMEOUT` after it started).
    pub deadline: tokio::time::Instant,
    /// Servers started ahead of their sessions, by name.
    pub early: std::sync::Mutex<Vec<(String, Started)>>,
    /// The servers warned about already (plain `http://` to another host).
    pub warned: std::sync::Mutex<Vec<String>>,
    /// Who stops every server the command started, whatever happens.
    pub supervisor: &'static crate::client::Supervisor,
    /// The daemon servers are reached through, unless turned off.
    pub daemon: Option<crate::client::daemon::Use>,
}

impl Context {
    /// Starts the servers `command` will connect to first (the one a `call`
    /// or `info` names; the first `MCP_CONCURRENCY` of a listing), without
    /// connecting. Called before the async runtime is built, so they boot
    /// while the rest is set up; a command that fails before connecting
    /// stops them unused.
    pub fn start_early(&self, command: &Command) {
        // The daemon starts them, or has them started already.
        if self.daemon.is_some() {
            return;
        }
        let config = &self.config;
        // What the command will connect to first, among the servers it can
        // start (a child process, its variables set).
        let startable = |entry: &&ServerEntry| {
            matches!(entry.transport, ServerConfig::Stdio { .. }) && config.check(entry).is_ok()
        };
        let entries: Vec<&ServerEntry> = match command {
            Command::Call { target, rest } => call::resolve(config, target, rest)
                .map(|target| target.entry)
                .into_iter()
                .filter(startable)
                .collect(),
            Command::Info {
                target: Some(target),
                tool,
            } => info::resolve(config, target, tool.as_deref())
                .map(|(entry, _)| entry)
                .into_iter()
                .filter(startable)
                .collect(),
            // The others fail at once and so do not hold back the rest.
            Command::List | Command::Grep { .. } | Command::Info { target: None, .. } => config
                .servers
                .iter()
                .filter(startable)
                .take(config.concurrency.max(1))
                .collect(),
            Command::Servers
            | Command::Trust { .. }
            | Command::Auth { .. }
            | Command::Daemon { .. }
            | Command::Bare(_) => Vec::new(),
        };
        let started = entries
            .into_iter()
            .map(|entry| {
                let started = Session::start(entry, config.debug, self.supervisor);
                (entry.name.clone(), started)
            })
            .collect();
        *self.early.lock().expect("early servers lock") = started;
    }

    /// Connects to `entry`, over the process started early for it if there
    /// is one.
    pub async fn connect(
        &self,
        entry: &ServerEntry,
        options: &ConnectOptions,
    ) -> Result<Session, McpError> {
        if let ServerConfig::Http { url, .. } = &entry.transport
            && crate::client::is_plain_remote(url)
        {
            let mut warned = self.warned.lock().expect("warned lock");
            if !warned.contains(&entry.name) {
                warned.push(entry.name.clone());
                self.printer.warn(&format!(
                    "server `{}` is reached over plain http:// at `{}`: what is sent, headers and tokens included, can be read and changed on the way; use https://",
                    entry.name,
                    crate::client::host_of(&entry.shown)
                ));
            }
        }
        let started = {
            let mut early = self.early.lock().expect("early servers lock");
            early
                .iter()
                .position(|(name, _)| *name == entry.name)
                .map(|index| early.swap_remove(index).1)
        };
        match entry.timeout {
            // The server's own timeout, from its entry.
            Some(timeout) => {
                let options = ConnectOptions {
                    request_timeout: Some(timeout),
                    ..options.clone()
                };
                Session::connect_started(entry, &options, started).await
            }
            None => Session::connect_started(entry, options, started).await,
        }
    }

    /// How sessions are opened; `progress` receives the call's progress.
    pub fn connect_options(
        &self,
        progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
    ) -> ConnectOptions {
        ConnectOptions {
            supervisor: self.supervisor,
            request_timeout: self.config.request_timeout,
            debug: self.config.debug,
            progress,
            deadline: Some(self.deadline),
            whole_results: self.printer.json(),
            daemon: self.daemon.clone(),
            all_progress: None,
            tokens: crate::client::oauth::dir(),
        }
    }

    /// Runs `operation` until the command's deadline; `doing` names what it
    /// was doing if the deadline passes.
    pub async fn until_deadline<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, McpError>>,
        doing: &Doing,
    ) -> Result<T, McpError> {
        let remaining = self
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        match retry::timeout_wrapper(operation, remaining).await {
            Err(McpError::OperationCancelled { .. }) => Err(McpError::OperationCancelled {
                timeout: self.config.timeout,
                during: Some(doing.0.lock().expect("doing lock").clone()),
            }),
            other => other,
        }
    }

    /// The retry policy from the config.
    pub fn retry(&self) -> RetryConfig {
        RetryConfig::from_config(&self.config)
    }
}

/// What a command is doing now (`connecting to `s``, `tools/call `s/t``),
/// for the error when the deadline passes.
pub struct Doing(std::sync::Mutex<String>);

impl Doing {
    /// Starts with `what`.
    pub fn new(what: String) -> Self {
        Doing(std::sync::Mutex::new(what))
    }

    /// Now doing `what`.
    pub fn set(&self, what: String) {
        *self.0.lock().expect("doing lock") = what;
    }
}

/// How long a command runs before a terminal shows what it waits for.
const STATUS_AFTER: Duration = Duration::from_secs(1);

/// Runs `work`; on a terminal, once it has taken [`STATUS_AFTER`], shows
/// `status()` and the time waited on stderr, refreshed each second, so a
/// slow server start or a long call never looks like a hang.
pub async fn with_status<T>(
    printer: &Printer,
    status: impl Fn() -> String,
    work: impl Future<Output = T>,
) -> T {
    if !printer.shows_progress() {
        return work.await;
    }
    let started = tokio::time::Instant::now();
    let ticker = async {
        let mut tick = tokio::time::interval_at(started + STATUS_AFTER, Duration::from_secs(1));
        loop {
            tick.tick().await;
            printer.status(&status(), started.elapsed());
        }
    };
    let value = tokio::select! {
        biased;
        value = work => value,
        never = ticker => never,
    };
    printer.clear_progress();
    value
}

/// The signals a command should stop for.
#[derive(Clone)]
pub struct Signals(pub watch::Receiver<Option<u8>>);

impl Signals {
    /// Resolves with `Interrupted` when a signal arrives.
    pub async fn interrupted(&mut self) -> McpError {
        loop {
            if let Some(signal) = *self.0.borrow_and_update() {
                return McpError::Interrupted { signal };
            }
            if self.0.changed().await.is_err() {
                // No sender: no signal will ever come.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A server's details and visible tools.
pub struct Listing {
    /// What the server said about itself.
    pub info: ServerInfo,
    /// Tools that pass the config's filters.
    pub tools: Vec<Tool>,
    /// How many tools the filters hide.
    pub hidden: usize,
}

/// Connects to `entry` and lists its tools: retried on transient errors,
/// all under the overall deadline. The session is returned open, so results
/// can be printed before servers are stopped.
pub async fn fetch(context: &Context, entry: &ServerEntry) -> Result<(Session, Listing), McpError> {
    context.config.check(entry)?;
    let options = context.connect_options(None);
    let retry = context.retry();
    let label = format!("connecting to `{}`", entry.name);
    let doing = Doing::new(label.clone());
    let operation = || async {
        doing.set(label.clone());
        let session = context.connect(entry, &options).await?;
        doing.set(format!("`tools/list` on `{}`", entry.name));
        let tools = session.list_tools().await?;
        Ok((session, tools))
    };
    let (session, tools) = context
        .until_deadline(
            retry::retry_with_backoff_if(operation, &retry, &label, retry::is_transient),
            &doing,
        )
        .await?;
    let total = tools.len();
    let tools: Vec<Tool> = tools
        .into_iter()
        .filter(|tool| entry.filter.allows(&tool.name))
        .collect();
    for tool in &tools {
        if !tool
            .raw
            .get("inputSchema")
            .is_some_and(|schema| schema.is_object())
        {
            context.printer.warn(&format!(
                "server `{}`: tool `{}` has no inputSchema object (listed anyway; the spec asks for one)",
                crate::printer::one_line(&entry.name),
                crate::printer::tool_name(&tool.name)
            ));
        }
    }
    let listing = Listing {
        info: session.info().clone(),
        hidden: total - tools.len(),
        tools,
    };
    Ok((session, listing))
}

/// Splits `server/tool` (or takes `server` and `next`). A name the config
/// has is never split, and the split falls after the longest configured
/// prefix, so server names may contain `/`.
pub fn split_target<'a>(
    config: &Config,
    target: &'a str,
    next: Option<&'a str>,
) -> (&'a str, Option<&'a str>) {
    if config.server(target).is_ok() {
        return (target, next);
    }
    // `server/` with nothing after the slash.
    if let Some(server) = target.strip_suffix('/')
        && config.server(server).is_ok()
    {
        return (server, next);
    }
    let known = target
        .match_indices('/')
        .rev()
        .map(|(index, _)| (&target[..index], &target[index + 1..]))
        .find(|(server, tool)| !tool.is_empty() && config.server(server).is_ok());
    match known.or_else(|| target.split_once('/')) {
        Some((server, tool)) if !server.is_empty() && !tool.is_empty() => (server, Some(tool)),
        _ => (target, next),
    }
}

/// Up to five tool names close to `wanted`, best first.
pub fn similar_names<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|name| {
            let lower = name.to_lowercase();
            let distance = edit_distance(&wanted_lower, &lower);
            let close = distance <= (wanted.len() / 3).max(2)
                || lower.contains(&wanted_lower)
                || wanted_lower.contains(&lower);
            close.then_some((distance, name))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(5)
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// Levenshtein distance, for did-you-mean suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// One parameter of a tool's input schema.
pub struct Parameter<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its type, as `string`, `string[]`, `string | null`, `enum`...
    pub kind: String,
    /// Whether the schema requires it.
    pub required: bool,
    /// Its description, if the schema gives one.
    pub description: Option<&'a str>,
}

/// The parameters of a schema, in its order.
pub fn parameters(schema: &serde_json::Value) -> Vec<Parameter<'_>> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(|required| required.as_array())
        .map(|items| items.iter().filter_map(|item| item.as_str()).collect())
        .unwrap_or_default();
    schema
        .get("properties")
        .and_then(|properties| properties.as_object())
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| Parameter {
                    name,
                    kind: type_of(property),
                    required: required.contains(&name.as_str()),
                    description: property.get("description").and_then(|d| d.as_str()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn type_of(property: &serde_json::Value) -> String {
    match property.get("type") {
        Some(serde_json::Value::String(kind)) if kind == "array" => {
            match property.get("items").map(type_of) {
                Some(items) if items != "any" => format!("{items}[]"),
                _ => "array".to_owned(),
            }
        }
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(serde_json::Value::Array(kinds)) => kinds
            .iter()
            .filter_map(|kind| kind.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        _ if property.get("enum").is_some() => "enum".to_owned(),
        _ if property.get("anyOf").is_some() || property.get("oneOf").is_some() => {
            "union".to_owned()
        }
        _ => "any".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_targets() {
        let config = crate::config::from_text(
            std::path::Path::new("test.json"),
            r#"{"mcpServers": {"a": {"command": "x"}, "org/srv": {"command": "y"}}}"#,
            &crate::settings::Settings::default(),
        )
        .unwrap();
        assert_eq!(split_target(&config, "a/b", None), ("a", Some("b")));
        assert_eq!(split_target(&config, "a", Some("b")), ("a", Some("b")));
        assert_eq!(split_target(&config, "a", None), ("a", None));
        assert_eq!(
            split_target(&config, "org/srv", Some("t")),
            ("org/srv", Some("t"))
        );
        assert_eq!(
            split_target(&config, "org/srv/t", None),
            ("org/srv", Some("t"))
        );
        assert_eq!(split_target(&config, "other/t", None), ("other", Some("t")));
        assert_eq!(split_target(&config, "a/", None), ("a", None));
        assert_eq!(split_target(&config, "org/srv/", None), ("org/srv", None));
    }

    /// A command's future is copied whole each time it is wrapped (deadline,
    /// status line, signals), and every page of stack those copies span is
    /// faulted in on each run. When `call`'s grew to 135 KB (a future held
    /// both by value and inside its wrapper, at each of several levels),
    /// that cost a cold call 0.1 ms; boxing the work keeps them small.
    #[test]
    fn command_futures_stay_small() {
        let config = crate::config::from_text(
            std::path::Path::new("test.json"),
            r#"{"mcpServers": {"a": {"command": "x"}}}"#,
            &crate::settings::Settings::default(),
        )
        .unwrap();
        let context = Context {
            config,
            printer: Arc::new(Printer::new(false)),
            with_descriptions: false,
            signals: Signals(watch::channel(None).1),
            deadline: tokio::time::Instant::now(),
            early: Default::default(),
            warned: Default::default(),
            supervisor: crate::client::Supervisor::new(),
            daemon: None,
        };
        let sizes = [
            ("list", std::mem::size_of_val(&list(&context))),
            ("info", std::mem::size_of_val(&info(&context, None, None))),
            ("grep", std::mem::size_of_val(&grep(&context, ""))),
            ("call", std::mem::size_of_val(&call(&context, "", &[]))),
        ];
        for (command, size) in sizes {
            assert!(size <= 16 * 1024, "`{command}`'s future takes {size} bytes");
        }
    }

    #[test]
    fn suggests_close_names() {
        let names = [
            "read_file",
            "write_file",
            "list_directory",
            "read_media_file",
        ];
        let similar = similar_names("read_fil", names.iter().copied());
        assert_eq!(similar[0], "read_file");
        assert!(similar_names("zzz", names.iter().copied()).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn describes_parameters() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "count": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["path"]
        });
        let shown: Vec<String> = parameters(&schema)
            .iter()
            .map(|param| format!("{} {} {}", param.name, param.kind, param.required))
            .collect();
        assert_eq!(
            shown,
            [
                "path string true",
                "count integer false",
                "tags string[] false"
            ]
        );
    }
}
