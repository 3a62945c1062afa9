//! mcp-cli: discover, inspect and call the tools of MCP servers from a shell.
//!
//! `main` parses argv ([`cli`]), resolves settings from `MCP_*` variables
//! ([`settings`]) and the config file ([`config`]), runs one verb
//! ([`commands`]) over connections from [`client`], with retries and one
//! deadline from [`retry`], and prints through [`printer`]. Every failure is
//! an [`error::McpError`], which decides the exit code.
//!
//! Unix only (Linux and macOS): process groups, signals and pipes are used
//! as POSIX has them, with Linux's extras behind `cfg(target_os = "linux")`.

#![warn(missing_docs)]

#[cfg(not(unix))]
compile_error!("mcp-cli runs on Unix (Linux and macOS) only");

pub mod cli;
mod client;
mod commands;
mod config;
mod env_vars;
pub mod error;
mod printer;
mod redact;
pub mod retry;
mod settings;
mod signals;

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Args, Command, Parsed};
use crate::commands::{Context, Signals};
use crate::error::{McpError, exit};
use crate::printer::Printer;
use crate::settings::Settings;

/// Runs mcp-cli with these arguments (the program's name left out) and
/// returns its exit code.
pub fn main(argv: Vec<std::ffi::OsString>) -> u8 {
    // The daemon itself, started by a command (see `client::daemon`).
    if argv
        .first()
        .is_some_and(|verb| verb == client::daemon::serve::VERB)
    {
        return match argv.get(1) {
            Some(dir) => client::daemon::serve::run(std::path::Path::new(dir)),
            None => exit::CLIENT,
        };
    }
    // Only a command line that does not parse is scanned for `--json` by
    // hand (up to `--`, after which it is a word).
    let json_asked = argv
        .iter()
        .take_while(|arg| *arg != "--")
        .any(|arg| arg == "--json");
    let printer = Arc::new(Printer::new(json_asked));
    match cli::parse_command_line(argv) {
        // Needs no server, and must not load the config it is to trust.
        Ok(Parsed::Run(Args {
            command: Some(Command::Trust { path }),
            ..
        })) => match commands::trust(path.as_deref(), &printer) {
            Ok(()) => exit::SUCCESS,
            Err(error) => report(&printer, &error),
        },
        // Needs no config: what is kept.
        Ok(Parsed::Run(Args {
            command:
                Some(Command::Auth {
                    target: None,
                    action: cli::AuthAction::Status,
                }),
            json,
            ..
        })) => match commands::auth_status(&Printer::new(json), None) {
            Ok(()) => exit::SUCCESS,
            Err(error) => report(&printer, &error),
        },
        // Needs no config either.
        Ok(Parsed::Run(Args {
            command: Some(Command::Daemon { action }),
            json,
            ..
        })) => {
            let printer = Printer::new(json);
            match commands::daemon(action, &printer) {
                Ok(()) => exit::SUCCESS,
                Err(error) => report(&printer, &error),
            }
        }
        Ok(Parsed::Run(args)) => {
            run_in_runtime(Arc::new(Printer::new(args.json).with_raw(args.raw)), args)
        }
        Ok(Parsed::Print(text)) => match printer.out(&text) {
            Ok(()) => exit::SUCCESS,
            Err(error) => report(&printer, &error),
        },
        Err(error) => report(&printer, &error),
    }
}

fn run_in_runtime(printer: Arc<Printer>, args: Args) -> u8 {
    // A login starts a browser and no server: nothing of it is stopped at
    // the end (a browser the opener left running is the user's).
    let reaps = !matches!(args.command, Some(Command::Auth { .. }));
    if reaps {
        client::become_subreaper();
    }
    // Every server this command starts is stopped by it: at the end, from
    // the signal handler, or from the panic hook.
    let supervisor = client::Supervisor::new();
    // A bug must not leave a server behind: whether the panic then aborts
    // (release) or unwinds, every server is stopped first.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report_panic(info);
        supervisor.stop_all(Duration::from_millis(100));
    }));
    let (signals, watch_signals) = signals::watch(printer.json(), supervisor);
    let (context, command) = match prepare(args, printer.clone(), Signals(signals), supervisor) {
        Ok(prepared) => prepared,
        Err(error) => return report(&printer, &error),
    };
    // The servers boot while the runtime is built and the command set up.
    context.start_early(&command);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return report(&printer, &McpError::Output(error)),
    };
    let code = runtime.block_on(async {
        watch_signals();
        match run(&context, command).await {
            // A signal while the servers were being stopped (the result was
            // out already): it cut their waits short, and the exit says so.
            Ok(()) => match signals::received() {
                Some(signal) => report(&printer, &McpError::Interrupted { signal }),
                None => exit::SUCCESS,
            },
            Err(error) => report(&printer, &error),
        }
    });
    // No task owns a server by now (each command closes or drops its
    // sessions itself), and the process exits next: the runtime's tasks,
    // pipes and timers go with it, where tearing them down one by one would
    // only delay the exit, and a blocked stdin reader cannot hold it. (A
    // server some task still held would be stopped by `stop_all` below.)
    std::mem::forget(runtime);
    // Servers started early and never used go first, while they are
    // surely not reaped yet.
    drop(context);
    supervisor.stop_all(Duration::from_millis(500));
    if reaps {
        client::stop_orphans(Duration::from_millis(500), None);
    }
    code
}

/// Prints the error (unless stdout's reader went away) and returns its exit code.
fn report(printer: &Printer, error: &McpError) -> u8 {
    if let McpError::Output(io) = error
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return exit::SUCCESS;
    }
    printer.error(error);
    error.exit_code()
}

/// Everything a command needs before it runs: settings, the config, the
/// verb. Nothing here waits, so it runs before the async runtime exists.
fn prepare(
    args: Args,
    printer: Arc<Printer>,
    signals: Signals,
    supervisor: &'static client::Supervisor,
) -> Result<(Context, Command), McpError> {
    let Args {
        config: config_flag,
        with_descriptions,
        json: _,
        raw: _,
        headers,
        stdio,
        no_daemon,
        status: _,
        logout: _,
        command,
    } = args;
    // The deadline counts from here: reading a config that is a pipe is
    // part of the command.
    let started = tokio::time::Instant::now();
    let settings = Settings::from_env()?;
    printer::set_debug(settings.debug);
    // A URL target, or `--stdio`: the one server the command line names,
    // no config file read.
    let (command, loaded) = match ad_hoc(command, config_flag.is_some(), stdio.as_deref())? {
        AdHoc::None(command) => {
            if !headers.is_empty() {
                return Err(McpError::Usage {
                    message: "--header goes with a URL target".to_owned(),
                    suggestion: Some(
                        "for a configured server, put it in the `headers` of its entry; for a URL: mcp-cli call https://host/mcp TOOL --header 'Name: value'".to_owned(),
                    ),
                });
            }
            let loaded = config::load(
                config_flag.as_deref(),
                &settings,
                started.into_std() + settings.timeout,
            );
            (command, loaded)
        }
        AdHoc::Url(mut command, url) => {
            let loaded = config::ad_hoc(Some(&url), None, &headers, &settings);
            // The server is known by its URL as shown, secrets masked.
            if let (
                Ok(config),
                Some(
                    Command::Call { target, .. }
                    | Command::Info {
                        target: Some(target),
                        ..
                    }
                    | Command::Auth {
                        target: Some(target),
                        ..
                    },
                ),
            ) = (&loaded, command.as_mut())
                && let Some(entry) = config.servers.first()
            {
                target.clone_from(&entry.name);
            }
            (command, loaded)
        }
        AdHoc::Stdio(command, line) => (
            command,
            config::ad_hoc(None, Some(&line), &headers, &settings),
        ),
    };
    // Words without a verb are explained even without a config.
    let command = match command.unwrap_or(Command::List) {
        Command::Bare(words) => bare(words, loaded.as_ref().ok())?,
        command => command,
    };
    let config = loaded?;
    if !matches!(command, Command::Servers) {
        for warning in &config.warnings {
            printer.warn(warning);
        }
    }
    // Servers are reached through the daemon unless it is turned off, or
    // its directory is not the user's alone (said once, then direct).
    let connects = matches!(
        command,
        Command::List | Command::Info { .. } | Command::Grep { .. } | Command::Call { .. }
    );
    let daemon = if no_daemon || settings.no_daemon || !connects {
        None
    } else {
        match client::daemon::Use::find(settings.daemon_timeout) {
            Ok(daemon) => Some(daemon),
            Err(why) => {
                printer.warn(&format!(
                    "not using the connection daemon: {why}; connecting to servers directly"
                ));
                None
            }
        }
    };
    let context = Context {
        daemon,
        deadline: started + config.timeout,
        config,
        printer,
        with_descriptions,
        signals,
        early: Default::default(),
        warned: Default::default(),
        supervisor,
    };
    Ok((context, command))
}

/// Whether the command line names its server itself.
enum AdHoc {
    /// No: the config's servers.
    None(Option<Command>),
    /// A URL target (the URL as typed).
    Url(Option<Command>, String),
    /// `--stdio` (the command line).
    Stdio(Option<Command>, String),
}

/// Sorts out a server named on the command line: a URL target (`call
/// <url> <tool>`, `info <url>`, or `<url>` alone, as `info`) or `--stdio`,
/// refusing what contradicts it.
fn ad_hoc(
    command: Option<Command>,
    config_flag: bool,
    stdio: Option<&str>,
) -> Result<AdHoc, McpError> {
    let usage = |message: &str, suggestion: &str| McpError::Usage {
        message: message.to_owned(),
        suggestion: Some(suggestion.to_owned()),
    };
    // `mcp-cli <url>`: its info, as for a server's name.
    let command = match command {
        Some(Command::Bare(words)) if words.len() == 1 && config::is_url(&words[0]) => {
            Some(Command::Info {
                target: words.into_iter().next(),
                tool: None,
            })
        }
        other => other,
    };
    let url = match &command {
        Some(
            Command::Call { target, .. }
            | Command::Info {
                target: Some(target),
                ..
            }
            | Command::Auth {
                target: Some(target),
                ..
            },
        ) if config::is_url(target) => Some(target.clone()),
        _ => None,
    };
    if url.is_none() && stdio.is_none() {
        return Ok(AdHoc::None(command));
    }
    if config_flag {
        return Err(usage(
            "-c names a config file, and a URL target or --stdio needs none",
            "give the server in the config, or on the command line, not both",
        ));
    }
    if url.is_some() && stdio.is_some() {
        return Err(usage(
            "a URL target and --stdio both name the server",
            "give one of them",
        ));
    }
    if let Some(Command::Call { rest, .. }) = &command
        && let Some(tool) = rest.first()
        && (tool.starts_with('{') || tool.starts_with('['))
    {
        return Err(usage(
            "the tool's name comes after the URL, as its own word",
            "mcp-cli call https://host/mcp TOOL '{\"arg\": 1}' (the URL is used whole, so `<url>/<tool>` does not name a tool)",
        ));
    }
    Ok(match (url, stdio) {
        (Some(url), _) => AdHoc::Url(command, url),
        (None, Some(line)) => AdHoc::Stdio(command, line.to_owned()),
        (None, None) => AdHoc::None(command),
    })
}

async fn run(context: &Context, command: Command) -> Result<(), McpError> {
    match command {
        Command::List => commands::list(context).await,
        Command::Info { target, tool } => {
            commands::info(context, target.as_deref(), tool.as_deref()).await
        }
        Command::Grep { pattern } => commands::grep(context, &pattern).await,
        Command::Call { target, rest } => commands::call(context, &target, &rest).await,
        Command::Servers => commands::servers(context),
        Command::Auth { target, action } => {
            commands::auth(context, target.as_deref(), action).await
        }
        Command::Trust { .. } | Command::Daemon { .. } => unreachable!("main runs it"),
        Command::Bare(_) => unreachable!("prepare resolves it"),
    }
}

/// `mcp-cli foo ...`, words without a verb: `mcp-cli <server>` is its
/// info (as in philschmid/mcp-cli); a word people type for a verb (`run`,
/// `get`) or a typo of one is `UNKNOWN_SUBCOMMAND`; `<server> <tool>` and
/// `<server>/<tool>` are `AMBIGUOUS_COMMAND`, naming the server the first
/// word is a typo of. A configured server's name always wins.
fn bare(words: Vec<String>, config: Option<&config::Config>) -> Result<Command, McpError> {
    let first = words[0].as_str();
    let names: Vec<String> = config
        .map(|config| {
            config
                .servers
                .iter()
                .map(|entry| entry.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let is_server = |name: &str| config.is_some_and(|config| config.server(name).is_ok());
    if words.len() == 1 && is_server(first) {
        return Ok(Command::Info {
            target: Some(words[0].clone()),
            tool: None,
        });
    }
    let (server, slash_tool) = match config {
        Some(config) => commands::split_target(config, first, None),
        None => match first.split_once('/') {
            Some((server, tool)) => (server, Some(tool).filter(|tool| !tool.is_empty())),
            None => (first, None),
        },
    };
    let known = is_server(server);
    let close_server = error::closest_name(server, &names).filter(|_| !known);
    if !known
        && close_server.is_none()
        && let Some(verb) = cli::spec::did_you_mean(first)
    {
        return Err(McpError::UnknownSubcommand {
            verb: first.to_owned(),
            did_you_mean: Some(verb),
            rest: words[1..].to_vec(),
            for_help: false,
        });
    }
    if words.len() == 1 && slash_tool.is_none() {
        // `server/`, or not a server: `info` says so, with the close names.
        return Ok(Command::Info {
            target: Some(server.to_owned()),
            tool: None,
        });
    }
    // The tool: after the slash, or the next word unless that is the JSON.
    let mut rest = &words[1..];
    let tool = match slash_tool {
        Some(tool) => Some(tool.to_owned()),
        None => match rest.split_first() {
            Some((word, after)) if !word.starts_with(['{', '[']) && word != "-" => {
                rest = after;
                Some(word.clone())
            }
            _ => None,
        },
    };
    Err(McpError::AmbiguousCommand {
        server: close_server.unwrap_or(server).to_owned(),
        typo: close_server.is_some(),
        tool,
        json: (!rest.is_empty()).then(|| rest.join(" ")),
        words,
    })
}
